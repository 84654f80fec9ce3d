//! The OIDC issuer a cluster's service-account tokens name: its discovery document, its JWKS
//! (every key still in use, so rotation never breaks verification), and token minting with
//! Kubernetes' claims.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::Method;
use axum::routing::get;
use serde::Serialize;
use time::OffsetDateTime;

use keyway_identity::{Jwks, OpenIdConfiguration, TOKEN_EXCHANGE_AUDIENCE, subject_for};

use crate::counters::Service;
use crate::server::ServiceSpec;
use crate::state::Shared;

/// What a minted service-account token says. `new` gives Kubernetes' projected-token defaults:
/// audience `api://AzureADTokenExchange`, one hour, issued now.
#[derive(Debug, Clone)]
pub struct ServiceAccountToken {
    /// The namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: String,
    /// The audiences (`aud`).
    pub audiences: Vec<String>,
    /// Lifetime from `issued_at` to `exp`.
    pub lifetime: Duration,
    /// When it was issued; the emulated now when `None`.
    pub issued_at: Option<OffsetDateTime>,
    /// The `iss` claim; the emulator's issuer URL when `None` (set it to test mismatches).
    pub issuer: Option<String>,
}

impl ServiceAccountToken {
    /// A token for `system:serviceaccount:<namespace>:<service_account>`.
    pub fn new(namespace: impl Into<String>, service_account: impl Into<String>) -> Self {
        ServiceAccountToken {
            namespace: namespace.into(),
            service_account: service_account.into(),
            audiences: vec![TOKEN_EXCHANGE_AUDIENCE.into()],
            lifetime: Duration::from_secs(3600),
            issued_at: None,
            issuer: None,
        }
    }

    /// The `sub` claim.
    pub fn subject(&self) -> String {
        subject_for(&self.namespace, &self.service_account)
    }
}

#[derive(Serialize)]
struct KubernetesClaims<'a> {
    aud: &'a [String],
    exp: i64,
    iat: i64,
    nbf: i64,
    iss: &'a str,
    jti: String,
    sub: String,
    #[serde(rename = "kubernetes.io")]
    kubernetes: KubernetesIo<'a>,
}

#[derive(Serialize)]
struct KubernetesIo<'a> {
    namespace: &'a str,
    serviceaccount: NamedUid<'a>,
}

#[derive(Serialize)]
struct NamedUid<'a> {
    name: &'a str,
    uid: String,
}

/// Mints a service-account JWT signed with the issuer's current key.
pub(crate) fn mint(shared: &Shared, spec: &ServiceAccountToken) -> String {
    let issued = spec
        .issued_at
        .unwrap_or_else(|| shared.clock.now())
        .unix_timestamp();
    let issuer = spec.issuer.clone().unwrap_or_else(|| shared.issuer_url());
    let claims = KubernetesClaims {
        aud: &spec.audiences,
        exp: issued + spec.lifetime.as_secs() as i64,
        iat: issued,
        nbf: issued,
        iss: &issuer,
        jti: uuid::Uuid::new_v4().to_string(),
        sub: spec.subject(),
        kubernetes: KubernetesIo {
            namespace: &spec.namespace,
            serviceaccount: NamedUid {
                name: &spec.service_account,
                // Stable per service account, as a real one is for its lifetime.
                uid: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, spec.subject().as_bytes())
                    .to_string(),
            },
        },
    };
    shared
        .issuer_keys()
        .first()
        .map(|key| key.sign(&claims))
        .unwrap_or_default()
}

fn operation(method: &Method, path: &str) -> &'static str {
    match (method, path) {
        (&Method::GET, "/.well-known/openid-configuration") => "OpenIdConfiguration",
        (&Method::GET, "/openid/v1/jwks") => "Jwks",
        _ => "Unknown",
    }
}

fn fault_response(status: u16, _retry_after: Option<u32>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = axum::http::StatusCode::from_u16(status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (status, "injected fault").into_response()
}

/// The service as a listener serves it: its routes, the operation names it counts and faults
/// under, and its answer to an injected fault.
pub(crate) fn service(shared: Arc<Shared>) -> ServiceSpec {
    ServiceSpec {
        service: Service::Issuer,
        router: router(shared),
        operation,
        fault_response,
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(shared): State<Arc<Shared>>| async move {
                Json(OpenIdConfiguration::for_issuer(&shared.issuer_url()))
            }),
        )
        .route(
            "/openid/v1/jwks",
            get(|State(shared): State<Arc<Shared>>| async move {
                Json(Jwks {
                    keys: shared
                        .issuer_keys()
                        .iter()
                        .map(|k| k.jwk().clone())
                        .collect(),
                })
            }),
        )
        .with_state(shared)
}
