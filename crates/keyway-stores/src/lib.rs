//! # keyway-stores
//!
//! An Azure IoT Operations OPC UA connector's certificate stores — the **trust list**, the
//! **issuer list** and the **client certificate** — and the instance's **synced secrets**,
//! managed end to end: add, list, remove.
//!
//! Every add is first a [`Plan`] ([`Stores::plan_add`], [`Stores::plan_secret`]): all checks
//! are made before the first write, and a refused plan writes nothing. A plan prints (`Display`)
//! and serialises (`serde`, for `--json`), then [`Stores::apply`] carries it out: the Key Vault
//! secrets (the lowercase hex of each file, tagged `file-encoding: hex`, as `az keyvault secret
//! set --encoding hex` stores it; a secret that already holds the bytes so gets no new
//! version), the connector's SecretProviderClass objects (`objectType: secret`,
//! `objectEncoding: hex`, never duplicated) and the store's SecretSync (`sourcePath: <secret>`,
//! `targetKey: <file name>`).
//!
//! For a page such as `keyway ui`: [`Stores::vault_certificates`] offers the vault's
//! certificates and CRLs (any encoding) with their details, [`Stores::input_from_vault`] makes
//! the file that adds one as it is, and [`Stores::sync_overview`] shows every SecretSync with
//! its conditions and the synced Secret's key names and sizes — never a value.
//!
//! The vault side is the [`VaultSecrets`] trait ([`KeyVaultSecrets`] on the official SDK); the
//! cluster side is the [`StoreTarget`] trait ([`KubernetesTarget`]: server-side apply with field
//! manager `keyway`; [`ArmTarget`]: the `Microsoft.SecretSyncController` resources on the IoT
//! Operations instance's custom location through Azure Resource Manager, and the client
//! certificate's connector settings applied to the IoT Operations extension). Nothing here ever prints, logs or serialises a secret value.

mod arm;
mod candidates;
mod check;
mod config;
mod error;
mod overview;
mod plan;
mod secrets;
mod state;
mod stores;
mod target;
mod vault;

/// The README's example, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use arm::{ArmTarget, IOT_OPERATIONS_EXTENSION_TYPE, SECRET_SYNC_API_VERSION};
pub use candidates::{MAX_VAULT_SECRETS_READ, VaultCandidate};
pub use check::{
    CertificateSummary, CrlSummary, FileKind, FileReport, Finding, InputFile, Level,
    MAX_INPUT_FILE_BYTES, read_bounded, secret_name_for,
};
pub use config::{Instance, Store, StoreConfig};
pub use error::{Result, StoreError, VaultFailure};
pub use overview::{SyncCondition, SyncMapping, SyncOverview};
pub use plan::{
    Applied, ChangeAction, ConnectorSettings, Plan, ResourceChange, SecretAction, SecretWrite,
};
pub use secrets::{SecretAdd, SecretValue};
pub use state::SyncState;
pub use stores::{AddOptions, Entry, Removal, RemoveOptions, StoreListing, Stores};
pub use target::{Digest, FIELD_MANAGER, KubernetesTarget, StoreTarget, digest};
pub use vault::{KeyVaultSecrets, SecretListItem, StoredSecret, VaultSecrets};
