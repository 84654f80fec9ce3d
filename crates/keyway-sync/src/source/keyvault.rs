//! Azure Key Vault through the official `SecretClient`, with bounded concurrency, a vault-wide
//! adaptive request budget that admits every try (the SDK's retries included) and steps back
//! when the vault throttles, and the SDK's retry (which honours `Retry-After`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use azure_core::credentials::TokenCredential;
use azure_core::http::ClientOptions;
use azure_security_keyvault_secrets::models::{
    SecretClientGetSecretOptions, SecretClientListSecretPropertiesOptions,
    SecretClientListSecretPropertiesVersionsOptions,
};
use azure_security_keyvault_secrets::{ResourceExt, SecretClient, SecretClientOptions};
use futures::TryStreamExt;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::error::{Result, SyncError};
use crate::source::budget::RequestBudget;
use crate::source::paging::{NextLink, PageGuard};
use crate::source::vault_error::{VaultOperation, source_error};
use crate::source::{CallCounts, KeyValue, SecretProperties, SecretSource, SecretValue};

/// How a [`KeyVaultSource`] talks to the vault.
#[derive(Debug, Clone)]
pub struct KeyVaultSourceOptions {
    /// Transport, retry (the SDK's retry honours `Retry-After` on 429 and 503).
    pub client_options: ClientOptions,
    /// Verify that the challenge's resource matches the vault's domain (turn off only for a
    /// vault on a loopback address, such as the emulator).
    pub verify_challenge_resource: bool,
    /// Requests in flight at once; [`KeyVaultSourceOptions::concurrency_for`] the budget by
    /// default, so the bound on requests in flight never caps the rate below the budget.
    pub max_concurrency: usize,
    /// Requests started per 10 seconds, at most (every try: the SDK's retries and Key Vault's
    /// authentication challenge count); the default 2,000 stays at half the real per-vault
    /// budget of 4,000, leaving room for other clients. The rate in force halves when the vault
    /// answers 429 or 503 and recovers to this ceiling (see [`RequestBudget`]).
    pub requests_per_10s: u32,
    /// A budget shared with other sources of the same vault (other identities); when set it
    /// is used instead of `requests_per_10s`.
    pub budget: Option<Arc<RequestBudget>>,
}

impl Default for KeyVaultSourceOptions {
    fn default() -> Self {
        KeyVaultSourceOptions {
            client_options: ClientOptions::default(),
            verify_challenge_resource: true,
            max_concurrency: KeyVaultSourceOptions::concurrency_for(2000),
            requests_per_10s: 2000,
            budget: None,
        }
    }
}

impl KeyVaultSourceOptions {
    /// The requests in flight a budget of `requests_per_10s` needs (Little's law: rate ×
    /// latency): enough to spend the whole budget while each request takes up to 100 ms, and
    /// 8 to 64. Fewer would cap the rate below the budget: with 8 in flight and 35 ms a
    /// request, at most 2,300 requests per 10 s go out whatever the budget allows.
    pub fn concurrency_for(requests_per_10s: u32) -> usize {
        (requests_per_10s as usize / 100).clamp(8, 64)
    }
}

/// Azure Key Vault as a [`SecretSource`].
pub struct KeyVaultSource {
    vault_url: String,
    client: SecretClient,
    keys: azure_security_keyvault_keys::KeyClient,
    permits: Semaphore,
    rate: Arc<RequestBudget>,
    list_calls: AtomicU64,
    version_calls: AtomicU64,
    get_calls: AtomicU64,
}

impl fmt::Debug for KeyVaultSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyVaultSource")
            .field("vault_url", &self.vault_url)
            .finish_non_exhaustive()
    }
}

impl KeyVaultSource {
    /// A source for the vault at `vault_url`, authenticating with `credential`.
    pub fn new(
        vault_url: &str,
        credential: Arc<dyn TokenCredential>,
        options: KeyVaultSourceOptions,
    ) -> Result<KeyVaultSource> {
        // Bearer tokens and secret values never travel in clear text (the emulator is HTTPS).
        if !vault_url.starts_with("https://") {
            return Err(SyncError::invalid(
                "vault_url",
                format!(
                    "{vault_url} is not https; Key Vault is only reached over TLS \
                     (https://<name>.vault.azure.net)"
                ),
            ));
        }
        let rate = options
            .budget
            .unwrap_or_else(|| Arc::new(RequestBudget::new(options.requests_per_10s)));
        // First of the caller's per-try policies: every try either client sends, retries
        // included, waits for the budget, and its answer adapts it.
        let mut client_options = options.client_options;
        client_options.per_try_policies.insert(0, rate.policy());
        let keys = azure_security_keyvault_keys::KeyClient::new(
            vault_url,
            credential.clone(),
            Some(azure_security_keyvault_keys::KeyClientOptions {
                client_options: client_options.clone(),
                verify_challenge_resource: Some(options.verify_challenge_resource),
                ..Default::default()
            }),
        )
        .map_err(|e| SyncError::invalid("vault_url", e.to_string()))?;
        let client = SecretClient::new(
            vault_url,
            credential,
            Some(SecretClientOptions {
                client_options,
                verify_challenge_resource: Some(options.verify_challenge_resource),
                ..Default::default()
            }),
        )
        .map_err(|e| SyncError::invalid("vault_url", e.to_string()))?;
        Ok(KeyVaultSource {
            vault_url: vault_url.to_string(),
            client,
            keys,
            permits: Semaphore::new(options.max_concurrency.max(1)),
            rate,
            list_calls: AtomicU64::new(0),
            version_calls: AtomicU64::new(0),
            get_calls: AtomicU64::new(0),
        })
    }

    /// The vault URL.
    pub fn vault_url(&self) -> &str {
        &self.vault_url
    }

    /// The vault's request budget (shared when [`KeyVaultSourceOptions::budget`] was given).
    pub fn budget(&self) -> &Arc<RequestBudget> {
        &self.rate
    }

    /// Every page of a list, each page within the concurrency bound (each try admitted by the
    /// budget's policy) and counted in `counter`, handed to `each` as it arrives: the SDK's
    /// models of a page are dropped before the next is read (holding every page of a
    /// 10,000-secret listing until the end was 3 MiB at the controller's peak).
    async fn all_pages<P>(
        &self,
        object: &str,
        operation: VaultOperation,
        pager: azure_core::Result<azure_core::http::Pager<P>>,
        counter: &AtomicU64,
        mut each: impl FnMut(P) + Send,
    ) -> Result<()>
    where
        P: azure_core::http::pager::Page + serde::de::DeserializeOwned + Send + 'static,
        P: NextLink,
    {
        let mut guard = PageGuard::new(&self.vault_url)?;
        let mut pages = pager
            .map_err(|e| source_error(&self.vault_url, object, operation, e))?
            .into_pages();
        loop {
            let permit = self.admit().await;
            let page = pages
                .try_next()
                .await
                .map_err(|e| source_error(&self.vault_url, object, operation, e))?;
            drop(permit);
            let Some(page) = page else { break };
            counter.fetch_add(1, Ordering::Relaxed);
            let page = page
                .into_model()
                .map_err(|e| source_error(&self.vault_url, object, operation, e))?;
            // Checked before the pager follows the link on the next turn.
            guard.accept(object, &page)?;
            each(page);
        }
        Ok(())
    }

    /// A place among the calls in flight; the budget admits each try of the call itself.
    async fn admit(&self) -> tokio::sync::SemaphorePermit<'_> {
        // The semaphore is never closed.
        self.permits.acquire().await.expect("semaphore open")
    }
}

/// One item of a listing: named by its id (`fallback` when the id names none), with the version
/// its id names when `versioned` (a version listing's items name theirs).
fn listed(
    item: azure_security_keyvault_secrets::models::SecretProperties,
    fallback: &str,
    versioned: bool,
) -> SecretProperties {
    let id = item.resource_id().ok();
    let version = id
        .as_ref()
        .and_then(|id| id.version.clone())
        .filter(|_| versioned);
    let name = id.map_or_else(|| fallback.to_string(), |id| id.name);
    properties(
        name,
        version,
        item.attributes.as_ref(),
        item.content_type,
        item.tags,
        item.managed,
        None,
    )
}

fn properties(
    name: String,
    version: Option<String>,
    attributes: Option<&azure_security_keyvault_secrets::models::SecretAttributes>,
    content_type: Option<String>,
    tags: Option<std::collections::HashMap<String, String>>,
    managed: Option<bool>,
    kid: Option<String>,
) -> SecretProperties {
    SecretProperties {
        name,
        version,
        updated: attributes.and_then(|a| a.updated),
        created: attributes.and_then(|a| a.created),
        content_type,
        tags: tags
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        enabled: attributes.and_then(|a| a.enabled).unwrap_or(true),
        managed: managed.unwrap_or(false),
        kid,
    }
}

#[async_trait::async_trait]
impl SecretSource for KeyVaultSource {
    async fn list(&self) -> Result<Vec<SecretProperties>> {
        let options = SecretClientListSecretPropertiesOptions {
            maxresults: Some(25),
            ..Default::default()
        };
        let pager = self.client.list_secret_properties(Some(options));
        let mut all = Vec::new();
        self.all_pages(
            "*",
            VaultOperation::ListSecrets,
            pager,
            &self.list_calls,
            |page| all.extend(page.value.into_iter().map(|item| listed(item, "", false))),
        )
        .await?;
        // The listing is kept for a whole cycle (shared by every syncer), and a vector grown by
        // doubling keeps up to twice its length: 2 MiB of slack at 10,000 secrets.
        all.shrink_to_fit();
        Ok(all)
    }

    async fn versions(&self, name: &str) -> Result<Vec<SecretProperties>> {
        let options = SecretClientListSecretPropertiesVersionsOptions {
            maxresults: Some(25),
            ..Default::default()
        };
        let pager = self
            .client
            .list_secret_properties_versions(name, Some(options));
        let mut all = Vec::new();
        self.all_pages(
            name,
            VaultOperation::ListSecrets,
            pager,
            &self.version_calls,
            |page| all.extend(page.value.into_iter().map(|item| listed(item, name, true))),
        )
        .await?;
        // Newest first. `created` has one-second resolution; versions created in the same second
        // keep the reverse of the listing order (Key Vault lists older versions first).
        all.reverse();
        all.sort_by_key(|p| std::cmp::Reverse(p.created));
        Ok(all)
    }

    async fn get(&self, name: &str, version: Option<&str>) -> Result<SecretValue> {
        let _permit = self.admit().await;
        self.get_calls.fetch_add(1, Ordering::Relaxed);
        let options = SecretClientGetSecretOptions {
            secret_version: version.map(str::to_string),
            ..Default::default()
        };
        let secret = self
            .client
            .get_secret(name, Some(options))
            .await
            .map_err(|e| source_error(&self.vault_url, name, VaultOperation::ReadSecret, e))?
            .into_model()
            .map_err(|e| source_error(&self.vault_url, name, VaultOperation::ReadSecret, e))?;
        let version = secret.resource_id().ok().and_then(|id| id.version);
        let value = Zeroizing::new(secret.value.clone().unwrap_or_default());
        Ok(SecretValue {
            properties: properties(
                name.to_string(),
                version,
                secret.attributes.as_ref(),
                secret.content_type.clone(),
                secret.tags.clone(),
                secret.managed,
                secret.kid.clone(),
            ),
            value,
        })
    }

    async fn list_keys(&self) -> Result<Vec<SecretProperties>> {
        use azure_security_keyvault_keys::ResourceExt as _;
        let options = azure_security_keyvault_keys::models::KeyClientListKeyPropertiesOptions {
            maxresults: Some(25),
            ..Default::default()
        };
        let pager = self.keys.list_key_properties(Some(options));
        let mut all = Vec::new();
        self.all_pages(
            "*",
            VaultOperation::ReadKeys,
            pager,
            &self.list_calls,
            |page| {
                all.extend(page.value.into_iter().map(|item| {
                    let name = item.resource_id().map(|id| id.name).unwrap_or_default();
                    let a = item.attributes.as_ref();
                    SecretProperties {
                        name,
                        version: None,
                        updated: a.and_then(|a| a.updated),
                        created: a.and_then(|a| a.created),
                        enabled: a.and_then(|a| a.enabled).unwrap_or(true),
                        managed: item.managed.unwrap_or(false),
                        ..SecretProperties::default()
                    }
                }));
            },
        )
        .await?;
        Ok(all)
    }

    async fn get_key(&self, name: &str, version: Option<&str>) -> Result<KeyValue> {
        use azure_security_keyvault_keys::ResourceExt as _;
        use azure_security_keyvault_keys::models::{CurveName, KeyClientGetKeyOptions, KeyType};
        use keyway_cert::PublicKeyComponents;
        let _permit = self.admit().await;
        self.get_calls.fetch_add(1, Ordering::Relaxed);
        let options = KeyClientGetKeyOptions {
            key_version: version.map(str::to_string),
            ..Default::default()
        };
        let key = self
            .keys
            .get_key(name, Some(options))
            .await
            .map_err(|e| source_error(&self.vault_url, name, VaultOperation::ReadKeys, e))?
            .into_model()
            .map_err(|e| source_error(&self.vault_url, name, VaultOperation::ReadKeys, e))?;
        let unsupported = |what: String| {
            SyncError::convert(
                name,
                format!("{what}; objectType key supports RSA and EC (P-256, P-384, P-521) keys"),
            )
        };
        let jwk = key
            .key
            .clone()
            .ok_or_else(|| unsupported("the key has no public material".into()))?;
        let public_key = match jwk.kty {
            Some(KeyType::Rsa | KeyType::RsaHsm) => PublicKeyComponents::Rsa {
                modulus: jwk.n.clone().unwrap_or_default(),
                exponent: jwk.e.clone().unwrap_or_default(),
            },
            Some(KeyType::Ec | KeyType::EcHsm) => PublicKeyComponents::Ec {
                curve: match jwk.crv {
                    Some(CurveName::P256) => "P-256".into(),
                    Some(CurveName::P384) => "P-384".into(),
                    Some(CurveName::P521) => "P-521".into(),
                    other => return Err(unsupported(format!("curve {other:?}"))),
                },
                x: jwk.x.clone().unwrap_or_default(),
                y: jwk.y.clone().unwrap_or_default(),
            },
            other => return Err(unsupported(format!("key type {other:?}"))),
        };
        let a = key.attributes.as_ref();
        Ok(KeyValue {
            properties: SecretProperties {
                name: name.to_string(),
                version: key.resource_id().ok().and_then(|id| id.version),
                updated: a.and_then(|a| a.updated),
                created: a.and_then(|a| a.created),
                enabled: a.and_then(|a| a.enabled).unwrap_or(true),
                managed: key.managed.unwrap_or(false),
                ..SecretProperties::default()
            },
            public_key,
        })
    }

    fn calls(&self) -> CallCounts {
        CallCounts {
            list: self.list_calls.load(Ordering::Relaxed),
            versions: self.version_calls.load(Ordering::Relaxed),
            get: self.get_calls.load(Ordering::Relaxed),
        }
    }
}
