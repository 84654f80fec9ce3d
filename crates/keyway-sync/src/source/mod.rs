//! Where secret values come from: the `SecretSource` seam. [`KeyVaultSource`] wraps the official
//! `SecretClient`; [`MemorySource`] serves tests and embedding.

mod budget;
mod keyvault;
mod memory;
mod paging;
mod shared;
mod upload;
mod vault_error;

use std::collections::BTreeMap;
use std::fmt;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::Result;

pub use budget::{BUDGET_WINDOW, BudgetStats, MAX_RETRY_AFTER, RECOVERY_PER_WINDOW, RequestBudget};
pub use keyvault::{KeyVaultSource, KeyVaultSourceOptions};
pub use memory::MemorySource;
pub use paging::{MAX_PAGES, NextLink, PageGuard};
pub use shared::SharedSource;
pub use upload::{FILE_ENCODING_TAG, MAX_SECRET_VALUE_BYTES, SecretUpload, check_secret_name};
pub use vault_error::{VaultOperation, describe_body, source_error};

/// What a listing says about a secret: enough to tell whether it changed, never its value.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct SecretProperties {
    /// The secret's name.
    pub name: String,
    /// The version, when the answer names one (version listings and GETs do; `GET /secrets`
    /// does not).
    pub version: Option<String>,
    /// Last update of the newest version.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated: Option<OffsetDateTime>,
    /// When the version was created.
    #[serde(with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
    /// Content type.
    pub content_type: Option<String>,
    /// Tags (e.g. `file-encoding`).
    pub tags: BTreeMap<String, String>,
    /// Enabled.
    pub enabled: bool,
    /// Whether the secret backs a Key Vault certificate (`managed`).
    pub managed: bool,
    /// The key id, set when the secret backs a certificate.
    pub kid: Option<String>,
}

/// A fetched secret: its properties and its value (wiped on drop, never in `Debug`).
#[derive(Clone)]
pub struct SecretValue {
    /// Properties of the version fetched.
    pub properties: SecretProperties,
    /// The value.
    pub value: Zeroizing<String>,
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValue")
            .field("properties", &self.properties)
            .field(
                "value",
                &format_args!("<{} bytes redacted>", self.value.len()),
            )
            .finish()
    }
}

/// A key's public half, as the keys API returns it (objectType key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Properties of the key version.
    pub properties: SecretProperties,
    /// The public key.
    pub public_key: keyway_cert::PublicKeyComponents,
}

/// Counts of the calls a source made, for reports and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallCounts {
    /// List pages (`GET /secrets`, and `GET /keys` for key objects).
    pub list: u64,
    /// Version list pages (`GET /secrets/{name}/versions`).
    pub versions: u64,
    /// Value reads (`GET /secrets/{name}[/{version}]`, and `GET /keys/{name}` for key objects).
    pub get: u64,
}

/// A source of secrets.
#[async_trait::async_trait]
pub trait SecretSource: Send + Sync + fmt::Debug {
    /// Properties of every secret (all pages). A [`crate::SourceFailure::Forbidden`] error means
    /// listing is not allowed, and callers fall back to reading each object.
    async fn list(&self) -> Result<Vec<SecretProperties>>;

    /// The same listing, shared: a source that keeps its listing for many callers
    /// ([`SharedSource`]) hands out the one copy instead of cloning it for each (a syncer keeps
    /// only its own objects' entries). The default wraps [`SecretSource::list`].
    async fn list_shared(&self) -> Result<std::sync::Arc<Vec<SecretProperties>>> {
        self.list().await.map(std::sync::Arc::new)
    }

    /// Properties of every version of `name`, newest first.
    async fn versions(&self, name: &str) -> Result<Vec<SecretProperties>>;

    /// The value of `name` (newest version when `version` is `None`).
    async fn get(&self, name: &str, version: Option<&str>) -> Result<SecretValue>;

    /// Properties of every key (all pages), for key objects.
    async fn list_keys(&self) -> Result<Vec<SecretProperties>>;

    /// The public half of key `name` (newest version when `version` is `None`).
    async fn get_key(&self, name: &str, version: Option<&str>) -> Result<KeyValue>;

    /// The calls made so far.
    fn calls(&self) -> CallCounts;
}
