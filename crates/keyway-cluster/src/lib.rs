//! # keyway-cluster
//!
//! Cluster configuration for workload identity at the edge — the "enable secure settings"
//! procedure of Azure IoT Operations as a library: the K3s service-account issuer settings,
//! edited line by line ([`k3s`]); the connected cluster's workload identity profile
//! ([`connected`]); the readiness check that the issuer is the same everywhere
//! ([`readiness`]); manifests rendered from typed values ([`render`]); and provisioning plans
//! as data ([`plan`]); the way off AAD Pod Identity ([`migrate`]); and the checks of Key Vault
//! and Kubernetes names they all use ([`names`]); and files written where other users may have
//! planted links or files first ([`safe_file`]).
//!
//! ```
//! use keyway_cluster::k3s::{IssuerSettings, ensure_issuer};
//!
//! let settings = IssuerSettings::new("https://issuer.example/cluster-1/", "24h")?;
//! let config = "write-kubeconfig-mode: \"0644\"\n# other settings\n";
//! let edit = ensure_issuer("/etc/rancher/k3s/config.yaml", config, &settings)?;
//! assert!(edit.after().contains("  - service-account-issuer=https://issuer.example/cluster-1/\n"));
//! // A second run changes nothing.
//! assert!(!ensure_issuer("config.yaml", edit.after(), &settings)?.changed());
//! # Ok::<(), keyway_cluster::ClusterError>(())
//! ```
//!
//! ## Features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod apply;
pub mod arm;
pub mod connected;
mod error;
mod go_json;
pub mod k3s;
pub mod migrate;
pub mod names;
pub mod plan;
pub mod readiness;
pub mod render;
pub mod safe_file;

pub use error::{ClusterError, Field, Result};

/// The README's example, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
