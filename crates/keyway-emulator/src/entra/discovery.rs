//! The documents MSAL-based clients (the Azure SDKs for JavaScript, .NET, Java and Go, Python's
//! `msal`) read before they ask for a token, served as Entra serves them:
//!
//! - `GET /{tenant}/v2.0/.well-known/openid-configuration` — the v2.0 OpenID metadata;
//! - `GET /{tenant}/.well-known/openid-configuration` — the v1.0 one;
//! - `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=...` — instance
//!   discovery: the tenant discovery endpoint and the cloud's host aliases;
//! - `GET /{tenant}/discovery/keys` — the v1.0 document's `jwks_uri` (the v2.0 one is
//!   `/{tenant}/discovery/v2.0/keys`).
//!
//! `{tenant}` is a tenant id (a GUID, any letter case), one of its verified domain names,
//! `common`, or (v2.0 only) `organizations`; anything else is answered with AADSTS90002 as
//! Entra answers it. Every URL in a document is on the emulator's authority, with the tenant
//! id in place of a domain name, as Entra puts it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{error_response, tenant_not_found};
use crate::state::Shared;

/// What a `{tenant}` path segment names.
enum Audience {
    /// One tenant, by id.
    Tenant(String),
    /// `common`: any organisation's or (on the real service) any Microsoft account.
    Common,
    /// `organizations`: any organisation (v2.0 only).
    Organizations,
}

impl Audience {
    /// The path segment the document's endpoints use.
    fn path(&self) -> &str {
        match self {
            Audience::Tenant(id) => id,
            Audience::Common => "common",
            Audience::Organizations => "organizations",
        }
    }

    /// The tenant part of the issuer: the id, or Entra's `{tenantid}` placeholder for the
    /// multi-tenant audiences (each token carries its own tenant).
    fn issuer_tenant(&self) -> &str {
        match self {
            Audience::Tenant(id) => id,
            Audience::Common | Audience::Organizations => "{tenantid}",
        }
    }

    fn region_scope(&self) -> Value {
        match self {
            // A tenant's region; the emulator's tenants are all worldwide.
            Audience::Tenant(_) => json!("WW"),
            Audience::Common | Audience::Organizations => Value::Null,
        }
    }
}

/// Resolves a `{tenant}` segment; the v1.0 endpoints know no `organizations`.
fn resolve(shared: &Shared, segment: &str, v2: bool) -> Option<Audience> {
    if segment.eq_ignore_ascii_case("common") {
        return Some(Audience::Common);
    }
    if v2 && segment.eq_ignore_ascii_case("organizations") {
        return Some(Audience::Organizations);
    }
    shared
        .directory()
        .resolve_tenant(segment)
        .map(Audience::Tenant)
}

/// AADSTS90002, as Entra's discovery endpoints answer it (400, `invalid_tenant`).
fn unknown_tenant(shared: &Shared, segment: &str) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "invalid_tenant",
        90002,
        &tenant_not_found(segment),
        shared.clock.now(),
    )
}

/// The claims Entra lists in `claims_supported`, shared by both documents.
const CLAIMS_COMMON: [&str; 10] = [
    "sub",
    "iss",
    "cloud_instance_name",
    "cloud_instance_host_name",
    "cloud_graph_host_name",
    "msgraph_host",
    "aud",
    "exp",
    "iat",
    "auth_time",
];

/// The part both documents share: the cloud's names and what the service supports.
fn common_fields(document: &mut serde_json::Map<String, Value>, audience: &Audience) {
    let fields = json!({
        "token_endpoint_auth_methods_supported": [
            "client_secret_post", "private_key_jwt", "client_secret_basic"
        ],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "tenant_region_scope": audience.region_scope(),
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    if let Value::Object(fields) = fields {
        document.extend(fields);
    }
}

/// The v2.0 OpenID metadata for `audience` on `authority`.
fn document_v2(authority: &str, audience: &Audience) -> Value {
    let tenant = audience.path();
    let mut claims: Vec<&str> = CLAIMS_COMMON.to_vec();
    claims.extend([
        "acr",
        "nonce",
        "preferred_username",
        "name",
        "tid",
        "ver",
        "at_hash",
        "c_hash",
        "email",
    ]);
    let mut document = serde_json::Map::new();
    if let Value::Object(fields) = json!({
        "issuer": format!("{authority}/{}/v2.0", audience.issuer_tenant()),
        "authorization_endpoint": format!("{authority}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{authority}/{tenant}/oauth2/v2.0/token"),
        "device_authorization_endpoint": format!("{authority}/{tenant}/oauth2/v2.0/devicecode"),
        "end_session_endpoint": format!("{authority}/{tenant}/oauth2/v2.0/logout"),
        "jwks_uri": format!("{authority}/{tenant}/discovery/v2.0/keys"),
        "kerberos_endpoint": format!("{authority}/{tenant}/kerberos"),
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": claims,
        "request_uri_parameter_supported": false,
    }) {
        document.extend(fields);
    }
    common_fields(&mut document, audience);
    Value::Object(document)
}

/// The v1.0 OpenID metadata for `audience` on `authority`: the `sts.windows.net` issuer the
/// emulated access tokens carry, the v1.0 endpoints, and the keys under `common`.
fn document_v1(authority: &str, audience: &Audience) -> Value {
    let tenant = audience.path();
    let mut claims: Vec<&str> = CLAIMS_COMMON.to_vec();
    claims.extend([
        "acr",
        "amr",
        "nonce",
        "email",
        "given_name",
        "family_name",
        "nickname",
    ]);
    let mut document = serde_json::Map::new();
    if let Value::Object(fields) = json!({
        "issuer": format!("https://sts.windows.net/{}/", audience.issuer_tenant()),
        "authorization_endpoint": format!("{authority}/{tenant}/oauth2/authorize"),
        "token_endpoint": format!("{authority}/{tenant}/oauth2/token"),
        "device_authorization_endpoint": format!("{authority}/{tenant}/oauth2/devicecode"),
        "end_session_endpoint": format!("{authority}/{tenant}/oauth2/logout"),
        "check_session_iframe": format!("{authority}/{tenant}/oauth2/checksession"),
        "userinfo_endpoint": format!("{authority}/{tenant}/openid/userinfo"),
        "jwks_uri": format!("{authority}/common/discovery/keys"),
        "kerberos_endpoint": format!("{authority}/{tenant}/kerberos"),
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "claims_supported": claims,
        "microsoft_multi_refresh_token": true,
    }) {
        document.extend(fields);
    }
    common_fields(&mut document, audience);
    Value::Object(document)
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`
pub(super) async fn openid_configuration_v2(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
) -> Response {
    match resolve(&shared, &tenant, true) {
        Some(audience) => Json(document_v2(&shared.authority_url(), &audience)).into_response(),
        None => unknown_tenant(&shared, &tenant),
    }
}

/// `GET /{tenant}/.well-known/openid-configuration`
pub(super) async fn openid_configuration_v1(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
) -> Response {
    match resolve(&shared, &tenant, false) {
        Some(audience) => Json(document_v1(&shared.authority_url(), &audience)).into_response(),
        None => unknown_tenant(&shared, &tenant),
    }
}

/// `GET /{tenant}/discovery/v2.0/keys` (and the v1.0 `/{tenant}/discovery/keys`): the keys
/// that sign the emulated access tokens. Like Entra's, the same keys for every tenant.
pub(super) async fn keys(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.entra_jwks.clone()).into_response()
}

/// `GET /{tenant}/discovery/{leaf}`: `keys` (v1.0) or `instance` (instance discovery).
pub(super) async fn discovery_leaf(
    State(shared): State<Arc<Shared>>,
    Path((_tenant, leaf)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    match leaf.as_str() {
        "keys" => keys(State(shared)).await,
        "instance" => instance_discovery(&shared, query.as_deref().unwrap_or_default()),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The emulator's own instance: its authority's host and port, and the host names that reach
/// the same listener under its certificate (`localhost` for a loopback address).
struct Instance {
    hosts: Vec<String>,
    port: u16,
}

impl Instance {
    /// `host:port` of each host name, the authority's first: what the metadata lists.
    fn aliases(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|host| format!("{host}:{}", self.port))
            .collect()
    }

    /// Whether an authorization endpoint on `host` (with an explicit `port`, or none) is on
    /// this instance. Entra names instances by host alone, and msal for Python sends the
    /// host without the port, so a port-less endpoint matches on the host.
    fn is(&self, host: &str, port: Option<u16>) -> bool {
        self.hosts.iter().any(|h| h == host) && port.is_none_or(|p| p == self.port)
    }
}

fn instance_of(authority: &str) -> Option<Instance> {
    let url = reqwest::Url::parse(authority).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    let port = url.port_or_known_default()?;
    let loopback = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    let mut hosts = vec![host];
    if loopback {
        hosts.push("localhost".into());
    }
    Some(Instance { hosts, port })
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=...`: for an
/// authorization endpoint on this emulator, the tenant discovery endpoint (v2.0 for a v2.0
/// authorization endpoint, else v1.0) and the metadata (`preferred_network`,
/// `preferred_cache`, `aliases`) of the one cloud the emulator is; for any other host,
/// Entra's `invalid_instance` (AADSTS50049). The tenant is not checked here — the tenant
/// discovery document is where an unknown tenant fails, as on Entra.
fn instance_discovery(shared: &Shared, query: &str) -> Response {
    let now = shared.clock.now();
    let params: BTreeMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let missing = |name: &str| {
        error_response(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: '{name}'."),
            now,
        )
    };
    if !params.contains_key("api-version") {
        return missing("api-version");
    }
    let Some(endpoint) = params.get("authorization_endpoint") else {
        return missing("authorization_endpoint");
    };
    let invalid_instance = || {
        error_response(
            StatusCode::BAD_REQUEST,
            "invalid_instance",
            50049,
            "Unknown or invalid instance.",
            now,
        )
    };
    let authority = shared.authority_url();
    let Some(instance) = instance_of(&authority) else {
        return invalid_instance();
    };
    let Some(AuthorizeEndpoint {
        host,
        port,
        tenant,
        v2,
    }) = authorize_endpoint(endpoint)
    else {
        return invalid_instance();
    };
    if !instance.is(&host, port) {
        return invalid_instance();
    }
    let version = if v2 { "/v2.0" } else { "" };
    let aliases = instance.aliases();
    Json(json!({
        "tenant_discovery_endpoint":
            format!("{authority}/{tenant}{version}/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": aliases[0],
            "preferred_cache": aliases[0],
            "aliases": aliases,
        }],
    }))
    .into_response()
}

/// An authorization endpoint, `https://host[:port]/{tenant}/oauth2[/v2.0]/authorize`.
#[derive(Debug, PartialEq, Eq)]
struct AuthorizeEndpoint {
    /// In lower case.
    host: String,
    /// The port, when the URL names one.
    port: Option<u16>,
    /// A plain path segment (letters, digits, `.`, `-`, `_`), as tenant ids and domain names
    /// are.
    tenant: String,
    /// Whether it is the v2.0 endpoint.
    v2: bool,
}

fn authorize_endpoint(endpoint: &str) -> Option<AuthorizeEndpoint> {
    let url = reqwest::Url::parse(endpoint).ok()?;
    if url.scheme() != "https" {
        return None;
    }
    let segments: Vec<&str> = url.path_segments()?.collect();
    let (tenant, v2) = match segments.as_slice() {
        [tenant, "oauth2", "v2.0", "authorize"] => (*tenant, true),
        [tenant, "oauth2", "authorize"] => (*tenant, false),
        _ => return None,
    };
    let plain = !tenant.is_empty()
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    plain.then(|| AuthorizeEndpoint {
        host: url.host_str().unwrap_or_default().to_ascii_lowercase(),
        port: url.port(),
        tenant: tenant.to_string(),
        v2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_endpoints_are_split_or_refused() {
        let endpoint = |host: &str, port, tenant: &str, v2| AuthorizeEndpoint {
            host: host.into(),
            port,
            tenant: tenant.into(),
            v2,
        };
        assert_eq!(
            authorize_endpoint("https://127.0.0.1:8443/abc/oauth2/v2.0/authorize"),
            Some(endpoint("127.0.0.1", Some(8443), "abc", true))
        );
        assert_eq!(
            authorize_endpoint("https://LOCALHOST/contoso.com/oauth2/authorize"),
            Some(endpoint("localhost", None, "contoso.com", false))
        );
        for refused in [
            "http://127.0.0.1:8443/abc/oauth2/v2.0/authorize",
            "https://127.0.0.1:8443/abc/oauth2/v2.0/token",
            "https://127.0.0.1:8443//oauth2/v2.0/authorize",
            "https://127.0.0.1:8443/a%2Fb/oauth2/v2.0/authorize",
            "https://127.0.0.1:8443/abc/def/oauth2/v2.0/authorize",
            "not a url",
        ] {
            assert_eq!(authorize_endpoint(refused), None, "{refused}");
        }
    }

    #[test]
    fn the_instance_of_a_loopback_authority_includes_localhost() {
        let instance = instance_of("https://127.0.0.1:4443").unwrap();
        assert_eq!(instance.aliases(), ["127.0.0.1:4443", "localhost:4443"]);
        assert!(instance.is("127.0.0.1", Some(4443)));
        assert!(instance.is("localhost", None));
        assert!(!instance.is("localhost", Some(443)));
        assert!(!instance.is("login.microsoftonline.com", None));
        let instance = instance_of("https://[::1]:4443").unwrap();
        assert_eq!(instance.aliases(), ["[::1]:4443", "localhost:4443"]);
    }
}
