//! The Key Vault side behind a small trait, [`VaultSecrets`]: list the secrets (their
//! attributes, never values), read a secret by name, set one (through keyway-sync's
//! [`SecretUpload`], exactly as `az keyvault secret set --encoding` does), delete and purge.
//! [`KeyVaultSecrets`] implements it on the official `SecretClient`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use azure_security_keyvault_secrets::models::{
    SecretClientGetSecretOptions, SecretClientListSecretPropertiesOptions,
};
use azure_security_keyvault_secrets::{ResourceExt, SecretClient};
use futures::TryStreamExt;
use keyway_cert::{DecodeOptions, Encoding, decode_as, decode_value};
use keyway_sync::source::{
    FILE_ENCODING_TAG, SecretUpload, VaultOperation, describe_body, source_error,
};
use zeroize::Zeroizing;

use crate::error::{Result, StoreError, VaultFailure, first_line};

/// A secret as Key Vault returned it. `Debug` never shows the value.
#[derive(Clone)]
pub struct StoredSecret {
    /// The secret's name.
    pub name: String,
    /// The version returned (the newest).
    pub version: Option<String>,
    /// Its content type.
    pub content_type: Option<String>,
    /// Its tags (`file-encoding`).
    pub tags: BTreeMap<String, String>,
    value: Zeroizing<String>,
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecret")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("content_type", &self.content_type)
            .field("tags", &self.tags)
            .field(
                "value",
                &format_args!("<{} bytes redacted>", self.value.len()),
            )
            .finish()
    }
}

impl StoredSecret {
    /// A secret with `value` (for [`VaultSecrets`] implementations).
    pub fn new(
        name: impl Into<String>,
        version: Option<String>,
        content_type: Option<String>,
        tags: BTreeMap<String, String>,
        value: Zeroizing<String>,
    ) -> StoredSecret {
        StoredSecret {
            name: name.into(),
            version,
            content_type,
            tags,
            value,
        }
    }

    /// The value as stored.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The file bytes the value holds: decoded as its `file-encoding` tag says (what the
    /// provider writes with `objectEncoding` set to the same encoding), else the value's own
    /// bytes.
    pub fn file_bytes(&self) -> Zeroizing<Vec<u8>> {
        let tag = self.tags.get(FILE_ENCODING_TAG).map(String::as_str);
        if tag.is_some_and(|t| !t.eq_ignore_ascii_case("utf-8"))
            && let Ok(decoded) = decode_value(
                self.value.as_bytes(),
                DecodeOptions {
                    file_encoding_tag: tag,
                    ..Default::default()
                },
            )
        {
            return Zeroizing::new(decoded.bytes().to_vec());
        }
        Zeroizing::new(self.value.as_bytes().to_vec())
    }

    /// Whether the value is `bytes` as the stores keep files: hex, tagged `file-encoding: hex`
    /// (what the connector's objects decode with `objectEncoding: hex`, and what
    /// [`StoredSecret::file_bytes`] reads back). Only then is adding `bytes` under this name
    /// no new version.
    pub fn holds_hex_of(&self, bytes: &[u8]) -> bool {
        self.tags
            .get(FILE_ENCODING_TAG)
            .is_some_and(|t| t.eq_ignore_ascii_case("hex"))
            && decode_as(self.value.as_bytes(), Encoding::Hex)
                .is_ok_and(|decoded| decoded.as_slice() == bytes)
    }
}

/// A secret as Key Vault lists it: its name and attributes, never its value (a listing does
/// not carry values).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecretListItem {
    /// The secret's name.
    pub name: String,
    /// Its content type, if set.
    pub content_type: Option<String>,
    /// Its tags (e.g. `file-encoding`).
    pub tags: BTreeMap<String, String>,
    /// Whether its current version is enabled (a disabled secret cannot be read).
    pub enabled: bool,
    /// Whether Key Vault manages it: the backing secret of a Key Vault certificate (its value
    /// holds the private key too).
    pub managed: bool,
}

impl SecretListItem {
    /// An item named `name` with no content type and no tags, enabled and not managed (for
    /// [`VaultSecrets`] implementations; set the fields as needed).
    pub fn new(name: impl Into<String>) -> SecretListItem {
        SecretListItem {
            name: name.into(),
            content_type: None,
            tags: BTreeMap::new(),
            enabled: true,
            managed: false,
        }
    }
}

/// The Key Vault operations the stores use. Implemented by [`KeyVaultSecrets`]; tests and
/// other backends implement it too.
#[async_trait]
pub trait VaultSecrets: Send + Sync {
    /// The vault's URL, for messages.
    fn vault_url(&self) -> &str;

    /// Every (live) secret of the vault, by name, with its attributes: never a value.
    async fn list(&self) -> Result<Vec<SecretListItem>>;

    /// The newest version of `name`, or `None` when there is no such (live) secret.
    async fn get(&self, name: &str) -> Result<Option<StoredSecret>>;

    /// Sets `upload` as a new version; returns the version.
    async fn set(&self, upload: &SecretUpload) -> Result<String>;

    /// Deletes `name` (soft delete); an absent secret is not an error.
    async fn delete(&self, name: &str) -> Result<()>;

    /// Waits until the vault shows the deleted `name` among deleted secrets, then purges it.
    async fn purge(&self, name: &str) -> Result<()>;
}

/// [`VaultSecrets`] on the official Azure SDK's `SecretClient`.
pub struct KeyVaultSecrets {
    client: SecretClient,
    url: String,
}

impl fmt::Debug for KeyVaultSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyVaultSecrets")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl KeyVaultSecrets {
    /// Wraps `client` (built with the credential and options of the caller's choice).
    pub fn new(client: SecretClient) -> KeyVaultSecrets {
        let url = client.endpoint().to_string();
        KeyVaultSecrets { client, url }
    }
}

/// The right an operation needs, for a 403.
fn right(operation: &str) -> &'static str {
    match operation {
        "get" => "secrets/getSecret/action (Key Vault Secrets User)",
        "list" => "secrets/readMetadata/action (Key Vault Secrets User or Key Vault Reader)",
        "set" => "secrets/setSecret/action (Key Vault Secrets Officer)",
        "delete" => "secrets/delete (Key Vault Secrets Officer)",
        "purge" => {
            "Microsoft.KeyVault/vaults/deletedSecrets/delete, the purge right (Key Vault Secrets \
             Officer; a vault with purge protection never allows it)"
        }
        _ => "deletedsecrets/read (Key Vault Secrets Officer)",
    }
}

/// Maps an SDK error of `operation` on `secret` at `vault` (its URL) to a
/// [`StoreError::Vault`]: Key Vault's code and message, and for a 403 the missing right. A
/// credential or transport failure is classified and told by keyway-sync's
/// [`source_error`] (one rule for both): Entra's refusal with its AADSTS code and fix, the
/// local token file or configuration, or the unreachable host.
pub(crate) fn vault_error(
    vault: &str,
    operation: &'static str,
    secret: &str,
    error: azure_core::Error,
) -> StoreError {
    use azure_core::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::Credential | ErrorKind::Io | ErrorKind::Connection
    ) && error.http_status().is_none()
    {
        let sync_operation = match operation {
            "get" => VaultOperation::ReadSecret,
            "list" => VaultOperation::ListSecrets,
            _ => VaultOperation::WriteSecret,
        };
        return from_sync_error(
            operation,
            secret,
            source_error(vault, secret, sync_operation, error),
        );
    }
    let status = error.http_status().map(u16::from);
    let body = match error.kind() {
        ErrorKind::HttpResponse {
            raw_response: Some(raw),
            ..
        } => raw.body().as_ref().to_vec().into(),
        _ => None,
    };
    let failure = match (status, error.kind()) {
        (Some(404), _) => VaultFailure::NotFound,
        (Some(403), _) => VaultFailure::Forbidden,
        (Some(409), _) => VaultFailure::Conflict,
        (Some(s), _) if s >= 500 || s == 429 => VaultFailure::Unreachable,
        _ => VaultFailure::Other,
    };
    let mut message = body
        .as_deref()
        .and_then(describe_body)
        .unwrap_or_else(|| first_line(&error.to_string()));
    if failure == VaultFailure::Forbidden {
        message = format!(
            "{message}; the caller lacks the right {} on the vault",
            right(operation)
        );
    }
    StoreError::Vault {
        operation,
        secret: secret.to_string(),
        failure,
        status,
        message,
    }
}

fn from_sync_error(
    operation: &'static str,
    secret: &str,
    error: keyway_sync::SyncError,
) -> StoreError {
    use keyway_sync::{SourceFailure, SyncError};
    match error {
        SyncError::Source {
            failure,
            status,
            message,
            ..
        } => StoreError::Vault {
            operation,
            secret: secret.to_string(),
            failure: match failure {
                SourceFailure::NotFound => VaultFailure::NotFound,
                SourceFailure::Forbidden | SourceFailure::Disabled => VaultFailure::Forbidden,
                SourceFailure::Unavailable | SourceFailure::Throttled => VaultFailure::Unreachable,
                SourceFailure::Credential => VaultFailure::Credential,
                SourceFailure::Unauthenticated => VaultFailure::Unauthenticated,
                _ => VaultFailure::Other,
            },
            status,
            message,
        },
        other => StoreError::invalid(secret.to_string(), other.to_string()),
    }
}

#[async_trait]
impl VaultSecrets for KeyVaultSecrets {
    fn vault_url(&self) -> &str {
        &self.url
    }

    async fn list(&self) -> Result<Vec<SecretListItem>> {
        let options = SecretClientListSecretPropertiesOptions {
            maxresults: Some(25),
            ..Default::default()
        };
        let failed = |e| vault_error(&self.url, "list", "*", e);
        let mut pages = self
            .client
            .list_secret_properties(Some(options))
            .map_err(failed)?
            .into_pages();
        // keyway-sync's rule for following a vault's nextLink: on the vault's origin only,
        // never twice, at most MAX_PAGES pages.
        let mut guard = keyway_sync::source::PageGuard::new(&self.url)
            .map_err(|e| StoreError::invalid("vault URL", e.to_string()))?;
        let mut items = Vec::new();
        while let Some(page) = pages.try_next().await.map_err(failed)? {
            let page = page.into_model().map_err(failed)?;
            // Checked before the pager follows the link on the next turn.
            guard.accept("*", &page).map_err(|e| StoreError::Vault {
                operation: "list",
                secret: "*".into(),
                failure: VaultFailure::Other,
                status: None,
                message: e.to_string(),
            })?;
            for item in page.value {
                let Ok(id) = item.resource_id() else { continue };
                items.push(SecretListItem {
                    name: id.name,
                    content_type: item.content_type,
                    tags: item.tags.unwrap_or_default().into_iter().collect(),
                    enabled: item
                        .attributes
                        .as_ref()
                        .and_then(|a| a.enabled)
                        .unwrap_or(true),
                    managed: item.managed.unwrap_or(false),
                });
            }
        }
        items.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(items)
    }

    async fn get(&self, name: &str) -> Result<Option<StoredSecret>> {
        let answer = self
            .client
            .get_secret(name, Some(SecretClientGetSecretOptions::default()))
            .await;
        let secret = match answer {
            Ok(response) => response
                .into_model()
                .map_err(|e| vault_error(&self.url, "get", name, e))?,
            Err(e) if e.http_status().map(u16::from) == Some(404) => return Ok(None),
            Err(e) => return Err(vault_error(&self.url, "get", name, e)),
        };
        let version = secret.resource_id().ok().and_then(|id| id.version);
        Ok(Some(StoredSecret {
            name: name.to_string(),
            version,
            content_type: secret.content_type.clone(),
            tags: secret
                .tags
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            value: Zeroizing::new(secret.value.clone().unwrap_or_default()),
        }))
    }

    async fn set(&self, upload: &SecretUpload) -> Result<String> {
        upload
            .send(&self.client)
            .await
            .map_err(|e| from_sync_error("set", upload.name(), e))
    }

    async fn delete(&self, name: &str) -> Result<()> {
        match self.client.delete_secret(name, None).await {
            Ok(_) => Ok(()),
            // Already deleted: purge what is left.
            Err(e) if e.http_status().map(u16::from) == Some(404) => Ok(()),
            Err(e) => Err(vault_error(&self.url, "delete", name, e)),
        }
    }

    async fn purge(&self, name: &str) -> Result<()> {
        // Deletion is asynchronous: the deleted secret appears after a moment.
        let mut seen = false;
        for attempt in 0..60u32 {
            match self.client.get_deleted_secret(name, None).await {
                Ok(_) => {
                    seen = true;
                    break;
                }
                Err(e) if e.http_status().map(u16::from) == Some(404) => {
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt.min(8) + 1)))
                        .await;
                }
                Err(e) => return Err(vault_error(&self.url, "get-deleted", name, e)),
            }
        }
        if !seen {
            return Err(StoreError::Vault {
                operation: "purge",
                secret: name.to_string(),
                failure: VaultFailure::Other,
                status: None,
                message: "the deleted secret did not appear among deleted secrets; it may \
                          already be purged, or the vault has soft delete off"
                    .into(),
            });
        }
        self.client
            .purge_deleted_secret(name, None)
            .await
            .map_err(|e| vault_error(&self.url, "purge", name, e))?;
        Ok(())
    }
}
