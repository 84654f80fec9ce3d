//! `FederatedCredential`: the exchange of a service-account assertion for an Azure token, as an
//! `azure_core` `TokenCredential` that every official SDK client accepts — cached per scope
//! set, refreshed ahead of expiry, one request for any number of concurrent callers.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::{
    ClientOptions, Context, Method, Pipeline, PipelineSendOptions, Request, Url, headers,
};
use time::OffsetDateTime;

use crate::assertion::{AssertionSource, ProjectedTokenFile};
use crate::claims::AssertionClaims;
use crate::config::{WorkloadIdentityConfig, check_authority, check_guid, check_tenant};
use crate::diagnostics::entra_error;
use crate::error::{IdentityError, Result};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How a [`FederatedCredential`] talks to Entra and manages its cache.
#[derive(Debug, Clone)]
pub struct FederatedCredentialOptions {
    /// Transport, retry and the rest of the Azure SDK pipeline.
    pub client_options: ClientOptions,
    /// Allow `http://` for a loopback authority host (never for anything else).
    pub allow_insecure_loopback: bool,
    /// Refresh a cached token when less than this is left (default 10 minutes).
    pub refresh_ahead: Duration,
    /// Never hand out a token with less than this left (default 5 minutes).
    pub min_validity: Duration,
}

impl Default for FederatedCredentialOptions {
    fn default() -> Self {
        FederatedCredentialOptions {
            client_options: ClientOptions::default(),
            allow_insecure_loopback: false,
            refresh_ahead: Duration::from_secs(600),
            min_validity: Duration::from_secs(300),
        }
    }
}

/// One cache entry per scope set: the token, and the lock that makes refreshes single-flight.
#[derive(Default)]
struct Slot {
    token: RwLock<Option<AccessToken>>,
    refresh: tokio::sync::Mutex<()>,
}

impl Slot {
    fn current(&self) -> Option<AccessToken> {
        self.token.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Workload identity federation as a `TokenCredential`.
pub struct FederatedCredential {
    client_id: String,
    tenant_id: String,
    endpoint: Url,
    source: Arc<dyn AssertionSource>,
    pipeline: Pipeline,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    refresh_ahead: time::Duration,
    min_validity: time::Duration,
    exchanges: AtomicU64,
}

impl fmt::Debug for FederatedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederatedCredential")
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .field("endpoint", &self.endpoint.as_str())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl FederatedCredential {
    /// A credential for `client_id` in `tenant_id` at `authority_host`, presenting assertions
    /// from `source`.
    pub fn new(
        tenant_id: &str,
        client_id: &str,
        authority_host: &str,
        source: Arc<dyn AssertionSource>,
        options: FederatedCredentialOptions,
    ) -> Result<Arc<FederatedCredential>> {
        check_guid("client id", client_id)?;
        check_tenant(tenant_id)?;
        check_authority(authority_host)?;
        let endpoint_text = format!(
            "{}/{tenant_id}/oauth2/v2.0/token",
            authority_host.trim_end_matches('/')
        );
        let endpoint = Url::parse(&endpoint_text).map_err(|e| IdentityError::Config {
            variable: "AZURE_AUTHORITY_HOST",
            problem: format!("makes the token endpoint {endpoint_text}, which is not a URL ({e})"),
            fix: "use a URL such as https://login.microsoftonline.com".into(),
        })?;
        crate::http::check_https(endpoint.as_str(), options.allow_insecure_loopback).map_err(
            |reason| IdentityError::Insecure {
                url: endpoint_text,
                reason,
            },
        )?;
        let pipeline = Pipeline::new(
            Some(env!("CARGO_PKG_NAME")),
            Some(env!("CARGO_PKG_VERSION")),
            options.client_options,
            Vec::new(),
            Vec::new(),
            None,
        );
        let duration = |d: Duration| time::Duration::try_from(d).unwrap_or(time::Duration::MAX);
        Ok(Arc::new(FederatedCredential {
            client_id: client_id.to_string(),
            tenant_id: tenant_id.to_string(),
            endpoint,
            source,
            pipeline,
            slots: Mutex::new(HashMap::new()),
            refresh_ahead: duration(options.refresh_ahead),
            min_validity: duration(options.min_validity),
            exchanges: AtomicU64::new(0),
        }))
    }

    /// A credential from the pod's workload identity configuration, reading the projected
    /// token file afresh for every exchange.
    pub fn from_config(
        config: &WorkloadIdentityConfig,
        options: FederatedCredentialOptions,
    ) -> Result<Arc<FederatedCredential>> {
        Self::new(
            &config.tenant_id,
            &config.client_id,
            &config.authority_host,
            Arc::new(ProjectedTokenFile::new(&config.token_file)),
            options,
        )
    }

    /// [`FederatedCredential::from_config`] with [`WorkloadIdentityConfig::from_env`].
    pub fn from_env(options: FederatedCredentialOptions) -> Result<Arc<FederatedCredential>> {
        Self::from_config(&WorkloadIdentityConfig::from_env()?, options)
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// How many token requests this credential has sent to Entra.
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    /// A token for `scopes`: from the cache while it has more than `refresh_ahead` left;
    /// otherwise one exchange, shared by every concurrent caller. If that exchange fails while
    /// the cached token still has more than `min_validity` left, the cached token is returned
    /// and the failure logged.
    pub async fn token(&self, scopes: &[&str]) -> Result<AccessToken> {
        let slot = self.slot(scopes);
        let fresh = |token: &AccessToken, margin: time::Duration| {
            token.expires_on - OffsetDateTime::now_utc() > margin
        };
        if let Some(token) = slot.current().filter(|t| fresh(t, self.refresh_ahead)) {
            return Ok(token);
        }
        let _single_flight = slot.refresh.lock().await;
        if let Some(token) = slot.current().filter(|t| fresh(t, self.refresh_ahead)) {
            return Ok(token);
        }
        match self.exchange(scopes).await {
            Ok(token) => {
                *slot.token.write().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
                Ok(token)
            }
            Err(error) => match slot.current().filter(|t| fresh(t, self.min_validity)) {
                Some(cached) => {
                    tracing::warn!(client_id = %self.client_id, %error, "token refresh failed; the cached token is still valid and is used");
                    Ok(cached)
                }
                None => Err(error),
            },
        }
    }

    fn slot(&self, scopes: &[&str]) -> Arc<Slot> {
        let mut sorted: Vec<&str> = scopes.to_vec();
        sorted.sort_unstable();
        let key = sorted.join(" ");
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(key).or_default().clone()
    }

    /// One exchange at Entra ID, bypassing the cache.
    pub async fn exchange(&self, scopes: &[&str]) -> Result<AccessToken> {
        self.exchange_in(scopes, &Context::new()).await
    }

    async fn exchange_in(&self, scopes: &[&str], context: &Context<'_>) -> Result<AccessToken> {
        if scopes.is_empty() {
            return Err(IdentityError::Config {
                variable: "scopes",
                problem: "are empty".into(),
                fix: "ask for a resource's /.default scope, e.g. https://vault.azure.net/.default"
                    .into(),
            });
        }
        let assertion = self.source.assertion().await?;
        let claims = AssertionClaims::peek(assertion.secret()).ok();
        let body = serde_urlencoded::to_string([
            ("client_id", self.client_id.as_str()),
            ("scope", &scopes.join(" ")),
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion.secret()),
        ])
        .map_err(|e| IdentityError::Token {
            what: "request",
            reason: e.to_string(),
        })?;
        let mut request = Request::new(self.endpoint.clone(), Method::Post);
        request.insert_header(headers::CONTENT_TYPE, "application/x-www-form-urlencoded");
        request.set_body(body);
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        let response = self
            .pipeline
            .send(
                context,
                &mut request,
                Some(PipelineSendOptions {
                    skip_checks: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| IdentityError::Remote {
                url: self.endpoint.to_string(),
                reason: format!("unreachable: {}", crate::error::transport_failure(&e)),
            })?;
        let status = u16::from(response.status());
        let now = OffsetDateTime::now_utc();
        let body: &[u8] = response.body().as_ref();
        if !(200..300).contains(&status) {
            return Err(entra_error(status, body, claims.as_ref(), now));
        }
        let parsed: TokenResponse =
            serde_json::from_slice(body).map_err(|e| IdentityError::Remote {
                url: self.endpoint.to_string(),
                reason: format!("the token response is not the expected JSON ({e})"),
            })?;
        let expires_in = parsed.expires_in.seconds();
        tracing::debug!(client_id = %self.client_id, scope = %scopes.join(" "), expires_in, "exchanged a workload identity assertion");
        Ok(AccessToken::new(
            parsed.access_token,
            now + time::Duration::seconds(expires_in),
        ))
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Seconds,
}

/// `expires_in`: a JSON integer from v2 endpoints, a string from some older ones.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Seconds {
    Number(i64),
    Text(String),
}

impl Seconds {
    fn seconds(&self) -> i64 {
        match self {
            Seconds::Number(n) => *n,
            Seconds::Text(t) => t.trim().parse().unwrap_or(0),
        }
    }
}

#[async_trait::async_trait]
impl TokenCredential for FederatedCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.token(scopes).await.map_err(Into::into)
    }
}
