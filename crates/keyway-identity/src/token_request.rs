//! Assertions from the Kubernetes TokenRequest API (feature `kube`): a token for a named
//! service account with audience `api://AzureADTokenExchange`, cached until 80 % of its life —
//! what a controller uses on behalf of the workloads it serves.

use std::fmt;
use std::time::Duration;

use azure_core::credentials::Secret;
use k8s_openapi::api::authentication::v1::{TokenRequest as K8sTokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use time::OffsetDateTime;

use crate::assertion::AssertionSource;
use crate::error::{IdentityError, Result};
use crate::fic::TOKEN_EXCHANGE_AUDIENCE;

/// The shortest lifetime the API server grants.
const MIN_EXPIRATION: Duration = Duration::from_secs(600);

/// Service-account tokens from the TokenRequest API.
pub struct TokenRequest {
    api: Api<ServiceAccount>,
    namespace: String,
    service_account: String,
    expiration: Duration,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    token: Secret,
    refresh_at: OffsetDateTime,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("namespace", &self.namespace)
            .field("service_account", &self.service_account)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

impl TokenRequest {
    /// Tokens for `namespace/service_account`, one hour each.
    pub fn new(client: kube::Client, namespace: &str, service_account: &str) -> TokenRequest {
        TokenRequest {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
            expiration: Duration::from_secs(3600),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// Asks for tokens living `expiration` (at least 10 minutes).
    pub fn with_expiration(mut self, expiration: Duration) -> Result<TokenRequest> {
        if expiration < MIN_EXPIRATION {
            return Err(IdentityError::Config {
                variable: "TokenRequest expiration",
                problem: format!("is {} s", expiration.as_secs()),
                fix: "the API server grants at least 600 s".into(),
            });
        }
        self.expiration = expiration;
        Ok(self)
    }

    async fn request(&self) -> Result<Cached> {
        let request = K8sTokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![TOKEN_EXCHANGE_AUDIENCE.to_string()],
                expiration_seconds: Some(self.expiration.as_secs() as i64),
                bound_object_ref: None,
            },
            ..Default::default()
        };
        let answer = self
            .api
            .create_token_request(&self.service_account, &PostParams::default(), &request)
            .await
            .map_err(|e| match e {
                kube::Error::Api(status) if status.code == 404 => {
                    IdentityError::ServiceAccountNotFound {
                        namespace: self.namespace.clone(),
                        name: self.service_account.clone(),
                    }
                }
                kube::Error::Api(status) if status.code == 403 => {
                    IdentityError::TokenRequestForbidden {
                        namespace: self.namespace.clone(),
                        name: self.service_account.clone(),
                        reason: status.message.clone(),
                    }
                }
                other => IdentityError::Remote {
                    url: format!(
                        "TokenRequest for {}/{}",
                        self.namespace, self.service_account
                    ),
                    reason: other.to_string(),
                },
            })?;
        let status = answer.status.ok_or_else(|| IdentityError::Remote {
            url: format!(
                "TokenRequest for {}/{}",
                self.namespace, self.service_account
            ),
            reason: "the answer has no status.token".into(),
        })?;
        let now = OffsetDateTime::now_utc();
        let expires =
            OffsetDateTime::from_unix_timestamp(status.expiration_timestamp.0.as_second())
                .unwrap_or(now + self.expiration);
        let life = (expires - now).max(time::Duration::ZERO);
        Ok(Cached {
            token: Secret::new(status.token),
            refresh_at: now + life * 0.8,
        })
    }
}

#[async_trait::async_trait]
impl AssertionSource for TokenRequest {
    async fn assertion(&self) -> Result<Secret> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached
            .as_ref()
            .filter(|c| OffsetDateTime::now_utc() < c.refresh_at)
        {
            return Ok(c.token.clone());
        }
        let fresh = self.request().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }
}
