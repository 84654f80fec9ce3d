//! # keyway-sync
//!
//! Azure Key Vault → files and Kubernetes Secrets (feature `kubernetes`), driven by the Secrets
//! Store CSI Azure provider's SecretProviderClass and the Secret Store extension's SecretSync,
//! fetching only what changed and never losing what is already synced.
//!
//! ## Features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "controller")]
pub mod controller;
mod convert;
mod error;
#[cfg(feature = "kubernetes")]
mod installed;
pub mod model;
pub mod sink;
pub mod source;
mod syncer;
pub mod yaml;

pub use convert::{Converted, convert};
pub use error::{Cause, FieldProblem, MetadataMap, Result, SourceFailure, SyncError};
#[cfg(feature = "kubernetes")]
pub use installed::require_crds;
pub use model::crds;
pub use model::objects::{KeyVaultObject, ObjectFormat, ObjectType, parse_objects};
pub use model::secret_provider_class::{SecretProviderClass, SecretProviderClassSpec};
pub use model::secret_sync::{
    MAX_SECRET_KEY_LEN, SecretObject, SecretObjectData, SecretSync, SecretSyncSpec,
    SecretSyncStatus, SyncTarget, validate_secret_key,
};
pub use model::spec::{Cloud, SyncSpec};
pub use sink::{
    Applied, DirectorySink, FileSet, InvalidOutputName, MemorySink, Remap, SecretSink, Staged,
    SyncedFile,
};
#[cfg(feature = "kubernetes")]
pub use sink::{FIELD_MANAGER, KubernetesSecretSink, MANAGED_LABEL};
pub use source::{
    CallCounts, KeyValue, KeyVaultSource, KeyVaultSourceOptions, MemorySource, RequestBudget,
    SecretProperties, SecretSource, SecretValue, SharedSource,
};
pub use syncer::{ObjectReport, Outcome, Progress, Stopped, SyncReport, Syncer};

/// The README's example, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
