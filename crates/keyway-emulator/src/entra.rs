//! Microsoft Entra ID's token endpoint for the client-credentials grant with a federated
//! (jwt-bearer) client assertion: the identity and its federated identity credentials looked up
//! in the [`crate::directory`], real verification of the assertion, and failures answered exactly
//! as Entra answers them.
//! The discovery documents MSAL-based clients read first live in [`discovery`].

mod discovery;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::counters::Service;
use crate::directory::AccessTokenClaims;
use crate::server::ServiceSpec;
use crate::state::Shared;
use keyway_identity::{AssertionClaims, IdentityError, IssuerDiscovery, Jwks};

/// An Entra failure: status, OAuth error, AADSTS code, message.
struct Failure {
    status: StatusCode,
    error: &'static str,
    code: u32,
    message: String,
}

fn fail(error: &'static str, code: u32, message: impl Into<String>) -> Failure {
    Failure {
        status: StatusCode::BAD_REQUEST,
        error,
        code,
        message: message.into(),
    }
}

/// Entra's error body: `error_description` starts with the AADSTS code and carries the
/// `\r\n` Trace ID / Correlation ID / Timestamp lines real Entra appends.
pub(crate) fn error_response(
    status: StatusCode,
    error: &str,
    code: u32,
    message: &str,
    now: OffsetDateTime,
) -> Response {
    let trace_id = uuid::Uuid::new_v4().to_string();
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let timestamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let body = serde_json::json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, Json(body)).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    /// The OIDC `claims` request parameter (JSON), which MSAL sends with client
    /// capabilities or a claims challenge. Other MSAL fields (`client_info=1`, ...) are
    /// accepted and ignored, as Entra ignores them for this grant.
    claims: Option<String>,
}

/// The client capabilities (`access_token.xms_cc.values`) a `claims` parameter declares;
/// `None` when it declares none or is not a JSON object (other claims requests are accepted
/// and ignored, as Entra ignores what does not apply to an app-only token).
fn client_capabilities(claims: Option<&str>) -> Option<Vec<String>> {
    let value: serde_json::Value = serde_json::from_str(claims?).ok()?;
    let values = value
        .get("access_token")?
        .get("xms_cc")?
        .get("values")?
        .as_array()?;
    let capabilities: Vec<String> = values
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    (!capabilities.is_empty()).then_some(capabilities)
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Assertion time checks allow this much clock skew, as Entra does.
const SKEW_SECONDS: i64 = 300;

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    match exchange(&shared, &tenant, &body).await {
        Ok(response) => response,
        Err(f) => error_response(f.status, f.error, f.code, &f.message, shared.clock.now()),
    }
}

/// AADSTS90002's message, as Entra words it.
pub(crate) fn tenant_not_found(tenant: &str) -> String {
    format!(
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
    )
}

async fn exchange(shared: &Shared, tenant: &str, body: &[u8]) -> Result<Response, Failure> {
    let form: TokenForm = serde_urlencoded::from_bytes(body).map_err(|e| {
        fail(
            "invalid_request",
            900144,
            format!("The request body is not a valid form: {e}"),
        )
    })?;
    // Look the identity and its credentials up, then release the directory.
    let (tenant, identity, fics) = {
        let directory = shared.directory();
        let resolved = directory.resolve_tenant(tenant);
        let Some((tenant, identities)) =
            resolved.and_then(|id| directory.identities(&id).map(|identities| (id, identities)))
        else {
            return Err(fail("invalid_request", 90002, tenant_not_found(tenant)));
        };
        if form.grant_type.as_deref() != Some("client_credentials") {
            return Err(fail(
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type; this endpoint expects client_credentials.",
            ));
        }
        let client_id = form.client_id.clone().unwrap_or_default();
        let Some((identity, fics)) = identities.get(&client_id) else {
            return Err(fail(
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
                ),
            ));
        };
        (tenant, identity.clone(), fics.clone())
    };
    let tenant = tenant.as_str();

    let scope = form.scope.clone().unwrap_or_default();
    let resource = match scope.split_whitespace().collect::<Vec<_>>().as_slice() {
        [one] if one.ends_with("/.default") && one.len() > "/.default".len() => {
            one.trim_end_matches("/.default").to_string()
        }
        _ => {
            return Err(fail(
                "invalid_scope",
                70011,
                format!(
                    "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            ));
        }
    };
    if form.client_assertion_type.as_deref() != Some(JWT_BEARER) || form.client_assertion.is_none()
    {
        return Err(Failure {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            code: 7000218,
            message: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
        });
    }
    let assertion = form.client_assertion.unwrap_or_default();
    let claims = AssertionClaims::peek(&assertion).map_err(|e| {
        fail(
            "invalid_request",
            50027,
            format!("JWT token is invalid or malformed ({e})."),
        )
    })?;
    let issuer = claims.iss.clone();
    let subject = claims.sub.clone();
    let audiences = claims.aud.values();

    if !fics.iter().any(|f| f.issuer == issuer) {
        return Err(fail(
            "invalid_request",
            700211,
            format!(
                "No matching federated identity record found for presented assertion issuer '{issuer}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
            ),
        ));
    }
    let inline_keys = shared.directory().inline_issuer(&issuer);
    let keys = match inline_keys {
        Some(keys) => keys,
        None => fetch_issuer_keys(shared, &issuer).await.map_err(|detail| {
            tracing::debug!(issuer = %issuer, %detail, "issuer discovery failed");
            fail(
                "invalid_request",
                90061,
                "Request to External OIDC endpoint failed.",
            )
        })?,
    };
    keys.verify_signature::<serde_json::Value>(&assertion)
        .map_err(|e| Failure {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            code: 700027,
            message: format!(
                "Client assertion failed signature validation ({}).",
                describe(&e)
            ),
        })?;

    let now = shared.clock.unix();
    let (exp, nbf) = (claims.exp.unwrap_or(0), claims.nbf.unwrap_or(0));
    if now > exp + SKEW_SECONDS || now + SKEW_SECONDS < nbf {
        let show = |t: i64| {
            OffsetDateTime::from_unix_timestamp(t)
                .map(|t| format!("{:?}", t))
                .unwrap_or_else(|_| t.to_string())
        };
        return Err(fail(
            "invalid_client",
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
                show(now),
                show(nbf),
                show(exp)
            ),
        ));
    }
    let matched = fics.iter().any(|f| {
        f.issuer == issuer
            && f.subject == subject
            && f.audiences.iter().any(|a| audiences.contains(&a.as_str()))
    });
    if !matched {
        return Err(fail(
            "invalid_request",
            70021,
            format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
                audiences.join(",")
            ),
        ));
    }

    let lifetime = shared.token_lifetime.as_secs() as i64;
    let token_claims = AccessTokenClaims {
        aud: resource,
        iss: format!("https://sts.windows.net/{tenant}/"),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        appid: identity.client_id.clone(),
        oid: identity.object_id.clone(),
        sub: identity.object_id.clone(),
        tid: tenant.to_string(),
        ver: "1.0".into(),
        xms_cc: client_capabilities(form.claims.as_deref()),
    };
    let access_token = shared.entra_key.sign(&token_claims);
    Ok(Json(serde_json::json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }))
    .into_response())
}

fn describe(e: &IdentityError) -> String {
    match e {
        IdentityError::Token { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// Discovery document, then JWKS, over HTTPS, as Entra fetches them.
async fn fetch_issuer_keys(shared: &Shared, issuer: &str) -> Result<Jwks, String> {
    IssuerDiscovery::fetch(issuer, &shared.http)
        .await
        .map(|discovery| discovery.jwks)
        .map_err(|e| e.to_string())
}

fn operation(method: &Method, path: &str) -> &'static str {
    match (method, path) {
        (&Method::POST, p) if p.ends_with("/oauth2/v2.0/token") => "Token",
        (&Method::GET, p) if p.ends_with("/discovery/v2.0/keys") => "Keys",
        (&Method::GET, p) if p.ends_with("/discovery/keys") => "Keys",
        (&Method::GET, p) if p.ends_with("/discovery/instance") => "InstanceDiscovery",
        (&Method::GET, p) if p.ends_with("/.well-known/openid-configuration") => {
            "OpenIdConfiguration"
        }
        _ => "Unknown",
    }
}

fn fault_response(status: u16, retry_after: Option<u32>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (error, code) = if status.is_server_error() {
        ("temporarily_unavailable", 50049)
    } else {
        ("invalid_request", 90000)
    };
    let mut response = error_response(
        status,
        error,
        code,
        "Injected fault.",
        OffsetDateTime::now_utc(),
    );
    if let Some(seconds) =
        retry_after.and_then(|s| axum::http::HeaderValue::from_str(&s.to_string()).ok())
    {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds);
    }
    response
}

/// The service as a listener serves it: its routes, the operation names it counts and faults
/// under, and its answer to an injected fault.
pub(crate) fn service(shared: Arc<Shared>) -> ServiceSpec {
    ServiceSpec {
        service: Service::Entra,
        router: router(shared),
        operation,
        fault_response,
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys))
        // `/{tenant}/discovery/keys` (the v1.0 document's jwks_uri) and
        // `/common/discovery/instance` (instance discovery).
        .route("/{tenant}/discovery/{leaf}", get(discovery::discovery_leaf))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_configuration_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::openid_configuration_v1),
        )
        .with_state(shared)
}
