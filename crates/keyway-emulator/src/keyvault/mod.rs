//! Azure Key Vault's secrets REST API (api-version 2025-07-01; the older versions are accepted),
//! authorised as the real service does: a bearer challenge before anything else, tokens from
//! the emulated Entra verified for real, per-identity RBAC roles, and per-vault throttling.

mod store;
mod vault;
mod wire;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::json;

use crate::counters::Service;
use crate::server::ServiceSpec;
use crate::state::Shared;
use crate::directory::AccessTokenClaims;
use crate::error::{EmulatorError, Result};
pub(crate) use store::{Changes, NewVersion, Store};
pub use vault::{SecretSpec, Vault};

/// The resource (token audience) of Azure Key Vault.
pub const KEY_VAULT_RESOURCE: &str = "https://vault.azure.net";

/// The api-versions the real service accepts.
pub const API_VERSIONS: &[&str] = &[
    "2016-10-01",
    "7.0",
    "7.1",
    "7.2",
    "7.3",
    "7.4",
    "7.5",
    "7.6",
    "2025-07-01",
    "2026-04-01",
];

/// A Key Vault data-plane role, by the built-in role it stands for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Role {
    /// Key Vault Secrets User (`4633458b-17de-408a-b874-0445c86b69e6`): read secret values and
    /// list secrets.
    SecretsUser,
    /// Key Vault Secrets Officer (`b86a8fe4-44ce-4948-aee5-eccb2c155cd7`): everything on secrets.
    SecretsOfficer,
    /// Key Vault Reader (`21090545-7ca7-4776-b22c-e363652d74d2`): metadata only, never secret
    /// values; keys' public halves.
    Reader,
    /// Key Vault Crypto User (`12338af0-0e69-4776-bea7-57ae8d297424`): keys.
    CryptoUser,
}

/// The throttling budget of a vault. `Default` is the real service's: per 10 seconds, 300
/// secret creates and 4,000 other operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// `SetSecret` calls per window.
    pub creates: u32,
    /// Every other call per window.
    pub others: u32,
    /// The window.
    pub window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            creates: 300,
            others: 4000,
            window: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Default)]
struct Throttle {
    creates: VecDeque<Instant>,
    others: VecDeque<Instant>,
}

impl Throttle {
    /// Admits a request, or says how many seconds until one would be admitted.
    fn admit(
        &mut self,
        create: bool,
        limits: ThrottleLimits,
        now: Instant,
    ) -> std::result::Result<(), u32> {
        let (queue, limit) = if create {
            (&mut self.creates, limits.creates)
        } else {
            (&mut self.others, limits.others)
        };
        while queue
            .front()
            .is_some_and(|t| now.duration_since(*t) >= limits.window)
        {
            queue.pop_front();
        }
        if queue.len() as u32 >= limit {
            let oldest = queue.front().copied().unwrap_or(now);
            let wait = limits.window.saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs_f64().ceil().max(1.0) as u32);
        }
        queue.push_back(now);
        Ok(())
    }
}

/// One emulated vault's state.
#[derive(Debug)]
pub(crate) struct VaultState {
    pub name: String,
    pub tenant_id: String,
    pub url: OnceLock<String>,
    pub store: Mutex<Store>,
    roles: Mutex<BTreeMap<String, BTreeSet<Role>>>,
    throttle: Mutex<Throttle>,
    pub limits: Mutex<ThrottleLimits>,
    state_file: Option<PathBuf>,
}

impl VaultState {
    pub fn new(name: &str, tenant_id: &str, state_file: Option<PathBuf>) -> Result<VaultState> {
        let store = match &state_file {
            Some(path) if path.exists() => {
                let text = std::fs::read(path).map_err(|e| EmulatorError::State {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                serde_json::from_slice(&text).map_err(|e| EmulatorError::State {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?
            }
            _ => Store::default(),
        };
        Ok(VaultState {
            name: name.to_string(),
            tenant_id: tenant_id.to_string(),
            url: OnceLock::new(),
            store: Mutex::new(store),
            roles: Mutex::new(BTreeMap::new()),
            throttle: Mutex::new(Throttle::default()),
            limits: Mutex::new(ThrottleLimits::default()),
            state_file,
        })
    }

    pub fn url(&self) -> &str {
        self.url.get().map(String::as_str).unwrap_or_default()
    }

    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn grant(&self, object_id: &str, role: Role) {
        let mut roles = self.roles.lock().unwrap_or_else(|p| p.into_inner());
        roles.entry(object_id.to_string()).or_default().insert(role);
    }

    pub fn revoke(&self, object_id: &str, role: Role) {
        let mut roles = self.roles.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = roles.get_mut(object_id) {
            set.remove(&role);
        }
    }

    fn roles_of(&self, object_id: &str) -> BTreeSet<Role> {
        let roles = self.roles.lock().unwrap_or_else(|p| p.into_inner());
        roles.get(object_id).cloned().unwrap_or_default()
    }

    /// Writes the store to the state file, if there is one (atomically: temp file, rename).
    pub fn persist(&self, store: &Store) {
        let Some(path) = &self.state_file else { return };
        let tmp = path.with_extension("json.tmp");
        let written = serde_json::to_vec_pretty(store)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            tracing::warn!(vault = %self.name, path = %path.display(), error = %e, "cannot persist vault state");
        }
    }
}

/// What an operation needs from the caller's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Permission {
    ReadValue,
    ReadMetadata,
    Write,
    ReadKey,
}

/// A Key Vault request, parsed from method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op<'a> {
    Set(&'a str),
    Get(&'a str, Option<&'a str>),
    List,
    Versions(&'a str),
    Update(&'a str, Option<&'a str>),
    Delete(&'a str),
    ListDeleted,
    GetDeleted(&'a str),
    Recover(&'a str),
    Purge(&'a str),
    ListKeys,
    GetKey(&'a str, Option<&'a str>),
    Unknown,
}

impl<'a> Op<'a> {
    fn parse(method: &Method, path: &'a str) -> Op<'a> {
        let mut parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // A trailing slash (`/secrets/name/`) means "no version".
        if parts.len() > 1 && parts.last() == Some(&"") {
            parts.pop();
        }
        match (method, parts.as_slice()) {
            (&Method::PUT, ["secrets", name]) => Op::Set(name),
            (&Method::GET, ["secrets"]) => Op::List,
            (&Method::GET, ["secrets", name, "versions"]) => Op::Versions(name),
            (&Method::GET, ["secrets", name]) => Op::Get(name, None),
            (&Method::GET, ["secrets", name, version]) => Op::Get(name, Some(version)),
            (&Method::PATCH, ["secrets", name]) => Op::Update(name, None),
            (&Method::PATCH, ["secrets", name, version]) => Op::Update(name, Some(version)),
            (&Method::DELETE, ["secrets", name]) => Op::Delete(name),
            (&Method::GET, ["deletedsecrets"]) => Op::ListDeleted,
            (&Method::GET, ["deletedsecrets", name]) => Op::GetDeleted(name),
            (&Method::POST, ["deletedsecrets", name, "recover"]) => Op::Recover(name),
            (&Method::DELETE, ["deletedsecrets", name]) => Op::Purge(name),
            (&Method::GET, ["keys"]) => Op::ListKeys,
            (&Method::GET, ["keys", name]) => Op::GetKey(name, None),
            (&Method::GET, ["keys", name, version]) => Op::GetKey(name, Some(version)),
            _ => Op::Unknown,
        }
    }

    /// The operation name of the REST specification.
    fn name(self) -> &'static str {
        match self {
            Op::Set(_) => "SetSecret",
            Op::Get(..) => "GetSecret",
            Op::List => "GetSecrets",
            Op::Versions(_) => "GetSecretVersions",
            Op::Update(..) => "UpdateSecret",
            Op::Delete(_) => "DeleteSecret",
            Op::ListDeleted => "GetDeletedSecrets",
            Op::GetDeleted(_) => "GetDeletedSecret",
            Op::Recover(_) => "RecoverDeletedSecret",
            Op::Purge(_) => "PurgeDeletedSecret",
            Op::ListKeys => "GetKeys",
            Op::GetKey(..) => "GetKey",
            Op::Unknown => "Unknown",
        }
    }

    fn needs(self) -> (Permission, &'static str) {
        match self {
            Op::Get(..) => (Permission::ReadValue, "secrets/getSecret/action"),
            Op::List | Op::Versions(_) => (Permission::ReadMetadata, "secrets/readMetadata/action"),
            Op::Set(_) => (Permission::Write, "secrets/setSecret/action"),
            Op::Update(..) => (Permission::Write, "secrets/update/action"),
            Op::Delete(_) => (Permission::Write, "secrets/delete"),
            Op::ListDeleted | Op::GetDeleted(_) => {
                (Permission::ReadMetadata, "deletedsecrets/read")
            }
            Op::Recover(_) => (Permission::Write, "deletedsecrets/recover/action"),
            Op::Purge(_) => (Permission::Write, "deletedsecrets/delete"),
            Op::ListKeys | Op::GetKey(..) => (Permission::ReadKey, "keys/read"),
            Op::Unknown => (Permission::ReadMetadata, "secrets/readMetadata/action"),
        }
    }
}

fn allows(roles: &BTreeSet<Role>, permission: Permission, op: Op<'_>) -> bool {
    roles.iter().any(|role| match (role, permission) {
        (Role::SecretsOfficer, permission) => permission != Permission::ReadKey,
        (Role::Reader | Role::CryptoUser, Permission::ReadKey) => true,
        (Role::SecretsUser, Permission::ReadValue | Permission::ReadMetadata) => {
            !matches!(op, Op::ListDeleted | Op::GetDeleted(_))
        }
        (Role::Reader, Permission::ReadMetadata) => {
            !matches!(op, Op::ListDeleted | Op::GetDeleted(_))
        }
        _ => false,
    })
}

fn operation(method: &Method, path: &str) -> &'static str {
    Op::parse(method, path).name()
}

fn fault_response(status: u16, retry_after: Option<u32>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = match status.as_u16() {
        429 => "Throttled",
        503 => "ServiceUnavailable",
        500 => "InternalServerError",
        _ => "InjectedFault",
    };
    let response = wire::error(status, code, "Injected fault.", None);
    match retry_after {
        Some(seconds) => wire::with_retry_after(response, seconds),
        None => response,
    }
}

/// The service as a listener serves it: its routes, the operation names it counts and faults
/// under, and its answer to an injected fault.
pub(crate) fn service(shared: Arc<Shared>, vault: Arc<VaultState>) -> ServiceSpec {
    ServiceSpec {
        service: Service::KeyVault,
        router: Router::new().fallback(handle).with_state((shared, vault)),
        operation,
        fault_response,
    }
}

fn challenge(shared: &Shared, vault: &VaultState, message: &str) -> Response {
    let mut response = wire::error(StatusCode::UNAUTHORIZED, "Unauthorized", message, None);
    let value = format!(
        "Bearer authorization=\"{}/{}\", resource=\"{KEY_VAULT_RESOURCE}\"",
        shared.authority_url(),
        vault.tenant_id
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// Checks the bearer token; the error is the message of the 401 challenge to answer.
fn authenticate(
    shared: &Shared,
    vault: &VaultState,
    headers: &HeaderMap,
) -> std::result::Result<AccessTokenClaims, String> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = token else {
        return Err("AKV10000: Request is missing a Bearer or PoP token.".into());
    };
    let claims: AccessTokenClaims = shared.entra_jwks.verify_signature(token).map_err(|_| {
        "AKV10002: The token signature is invalid or was not issued by this tenant's authority."
            .to_string()
    })?;
    if claims.aud.trim_end_matches('/') != KEY_VAULT_RESOURCE {
        return Err(format!(
            "AKV10022: Invalid audience. Expected {KEY_VAULT_RESOURCE}, found: {}.",
            claims.aud
        ));
    }
    if claims.tid != vault.tenant_id {
        return Err(format!(
            "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{}/, found https://sts.windows.net/{}/.",
            vault.tenant_id, claims.tid
        ));
    }
    let now = shared.clock.unix();
    if now > claims.exp + 300 || now + 300 < claims.nbf {
        return Err("Token is expired or not yet valid.".into());
    }
    Ok(claims)
}

#[derive(Default, Deserialize)]
struct SetBody {
    value: Option<String>,
    #[serde(rename = "contentType")]
    content_type: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    attributes: Option<AttributesBody>,
}

#[derive(Debug, Default, Deserialize)]
struct AttributesBody {
    enabled: Option<bool>,
    nbf: Option<i64>,
    exp: Option<i64>,
}

fn bad_parameter(message: &str) -> Response {
    wire::error(StatusCode::BAD_REQUEST, "BadParameter", message, None)
}

async fn handle(
    State((shared, vault)): State<(Arc<Shared>, Arc<VaultState>)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = Op::parse(&method, uri.path());
    // 1. Authentication comes first: no token, no look at anything else.
    let claims = match authenticate(&shared, &vault, &headers) {
        Ok(claims) => claims,
        Err(message) => return challenge(&shared, &vault, &message),
    };
    // 2. api-version.
    let query: BTreeMap<String, String> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    match query.get("api-version") {
        None => return bad_parameter("The 'api-version' query parameter is missing."),
        Some(v) if !API_VERSIONS.contains(&v.as_str()) => {
            return bad_parameter(&format!(
                "The specified version ({v}) is not recognized. Consider using the latest supported version (2025-07-01)."
            ));
        }
        Some(_) => {}
    }
    if op == Op::Unknown {
        return wire::error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("{method} {} is not an operation of this API.", uri.path()),
            None,
        );
    }
    // 3. Throttling, per vault.
    let limits = *vault.limits.lock().unwrap_or_else(|p| p.into_inner());
    let admitted = vault
        .throttle
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .admit(matches!(op, Op::Set(_)), limits, Instant::now());
    if let Err(retry_after) = admitted {
        let response = wire::error(
            StatusCode::TOO_MANY_REQUESTS,
            "Throttled",
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
            None,
        );
        return wire::with_retry_after(response, retry_after);
    }
    // 4. RBAC.
    let (permission, action) = op.needs();
    if !allows(&vault.roles_of(&claims.oid), permission, op) {
        let message = format!(
            "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid={};oid={};iss=https://sts.windows.net/{}/\r\nAction: 'Microsoft.KeyVault/vaults/{action}'\r\nResource: '/vaults/{}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: {};location=local\r\n",
            claims.appid, claims.oid, claims.tid, vault.name, vault.name
        );
        return wire::error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &message,
            Some("ForbiddenByRbac"),
        );
    }
    // 5. The operation.
    execute(&shared, &vault, op, &query, &body)
}

fn execute(
    shared: &Shared,
    vault: &VaultState,
    op: Op<'_>,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> Response {
    let url = vault.url();
    let now = shared.clock.unix();
    let mut store = vault.store();
    let result = match op {
        Op::Set(name) => {
            let parsed: SetBody = match serde_json::from_slice(body) {
                Ok(b) => b,
                Err(e) => {
                    return bad_parameter(&format!("The request body is not valid JSON: {e}"));
                }
            };
            let Some(value) = parsed.value else {
                return bad_parameter("Property 'value' is required.");
            };
            let attributes = parsed.attributes.unwrap_or_default();
            let new = NewVersion {
                value,
                content_type: parsed.content_type,
                tags: parsed.tags,
                enabled: attributes.enabled,
                nbf: attributes.nbf,
                exp: attributes.exp,
                certificate: false,
            };
            if let Err(e) = store.set(name, new, now, url) {
                return wire::store_error(&e);
            }
            vault.persist(&store);
            store.secret(name).map(|s| match s.latest() {
                Some(v) => Json(wire::bundle(url, s, v, true)).into_response(),
                None => StatusCode::OK.into_response(),
            })
        }
        Op::Get(name, version) => store
            .get(name, version)
            .map(|(s, v)| Json(wire::bundle(url, s, v, true)).into_response()),
        Op::List => {
            return list(url, query, "secrets", store.secrets.iter(), |s| {
                s.latest().map(|v| wire::item(url, s, v, false))
            });
        }
        Op::Versions(name) => match store.secret(name) {
            Ok(s) => {
                let keys: Vec<String> = (0..s.versions.len()).map(|i| format!("{i:08}")).collect();
                let items = keys.iter().zip(&s.versions);
                return list(
                    url,
                    query,
                    &format!("secrets/{}/versions", s.name),
                    items,
                    |v| Some(wire::item(url, s, v, true)),
                );
            }
            Err(e) => Err(e),
        },
        Op::Update(name, version) => {
            let parsed: SetBody = match serde_json::from_slice(body) {
                Ok(b) => b,
                Err(e) => {
                    return bad_parameter(&format!("The request body is not valid JSON: {e}"));
                }
            };
            let attributes = parsed.attributes.unwrap_or_default();
            let changes = Changes {
                content_type: parsed.content_type,
                tags: parsed.tags,
                enabled: attributes.enabled,
                nbf: attributes.nbf,
                exp: attributes.exp,
            };
            let response = store
                .update(name, version, changes, now)
                .map(|(s, v)| Json(wire::bundle(url, s, v, false)).into_response());
            if response.is_ok() {
                vault.persist(&store);
            }
            response
        }
        Op::Delete(name) => {
            let response = store
                .delete(name, now)
                .map(|d| Json(wire::deleted(url, d, false)).into_response());
            if response.is_ok() {
                vault.persist(&store);
            }
            response
        }
        Op::ListDeleted => {
            return list(url, query, "deletedsecrets", store.deleted.iter(), |d| {
                Some(wire::deleted(url, d, true))
            });
        }
        Op::GetDeleted(name) => store
            .deleted(name)
            .map(|d| Json(wire::deleted(url, d, false)).into_response()),
        Op::Recover(name) => {
            let response = store.recover(name).map(|s| match s.latest() {
                Some(v) => Json(wire::bundle(url, s, v, false)).into_response(),
                None => StatusCode::OK.into_response(),
            });
            if response.is_ok() {
                vault.persist(&store);
            }
            response
        }
        Op::Purge(name) => {
            let response = store
                .purge(name)
                .map(|()| StatusCode::NO_CONTENT.into_response());
            if response.is_ok() {
                vault.persist(&store);
            }
            response
        }
        Op::ListKeys => {
            return list(url, query, "keys", store.keys.iter(), |k| {
                k.versions.last().map(|v| wire::key_item(url, k, v))
            });
        }
        Op::GetKey(name, version) => store
            .key(name, version)
            .map(|(k, v)| Json(wire::key_bundle(url, k, v)).into_response()),
        Op::Unknown => return StatusCode::NOT_FOUND.into_response(),
    };
    result.unwrap_or_else(|e| wire::store_error(&e))
}

/// One page of a list: entries after `$skiptoken` (by key), at most `maxresults` (1–25,
/// default 25), and a `nextLink` back to this vault when more remain. Only the page's entries
/// are rendered.
fn list<'a, T: 'a>(
    url: &str,
    query: &BTreeMap<String, String>,
    path: &str,
    entries: impl Iterator<Item = (&'a String, &'a T)>,
    render: impl Fn(&'a T) -> Option<serde_json::Value>,
) -> Response {
    let max = match query.get("maxresults").map(|m| m.parse::<usize>()) {
        None => 25,
        Some(Ok(n)) if (1..=25).contains(&n) => n,
        Some(_) => return bad_parameter("Invalid maxresults: it must be an integer from 1 to 25."),
    };
    let after = query
        .get("$skiptoken")
        .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let mut page = Vec::new();
    let mut last_key = None;
    let mut more = false;
    for (key, entry) in entries.filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a)) {
        let Some(item) = render(entry) else { continue };
        if page.len() == max {
            more = true;
            break;
        }
        page.push(item);
        last_key = Some(key.clone());
    }
    let api_version = query.get("api-version").cloned().unwrap_or_default();
    let next_link = match (more, last_key) {
        (true, Some(key)) => json!(format!(
            "{url}/{path}?api-version={api_version}&$skiptoken={}&maxresults={max}",
            URL_SAFE_NO_PAD.encode(key)
        )),
        _ => serde_json::Value::Null,
    };
    Json(json!({ "value": page, "nextLink": next_link })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_like_the_sdk_sends_them() {
        let get = Method::GET;
        assert_eq!(Op::parse(&get, "/secrets/a/"), Op::Get("a", None));
        assert_eq!(Op::parse(&get, "/secrets/a"), Op::Get("a", None));
        assert_eq!(
            Op::parse(&get, "/secrets/a/0123"),
            Op::Get("a", Some("0123"))
        );
        assert_eq!(Op::parse(&get, "/secrets/a/versions"), Op::Versions("a"));
        assert_eq!(Op::parse(&get, "/secrets"), Op::List);
        assert_eq!(
            Op::parse(&Method::PATCH, "/secrets/a/"),
            Op::Update("a", None)
        );
        assert_eq!(
            Op::parse(&Method::POST, "/deletedsecrets/a/recover"),
            Op::Recover("a")
        );
        assert_eq!(
            Op::parse(&Method::DELETE, "/deletedsecrets/a"),
            Op::Purge("a")
        );
        assert_eq!(Op::parse(&Method::POST, "/secrets/a"), Op::Unknown);
    }

    #[test]
    fn throttle_admits_the_budget_then_says_when() {
        let limits = ThrottleLimits {
            creates: 2,
            others: 3,
            window: Duration::from_secs(10),
        };
        let mut t = Throttle::default();
        let start = Instant::now();
        assert!(t.admit(true, limits, start).is_ok());
        assert!(t.admit(true, limits, start).is_ok());
        assert_eq!(
            t.admit(true, limits, start + Duration::from_secs(3)),
            Err(7)
        );
        assert!(t.admit(false, limits, start).is_ok());
        assert!(
            t.admit(true, limits, start + Duration::from_secs(10))
                .is_ok()
        );
    }

    #[test]
    fn roles_grant_what_the_built_in_roles_grant() {
        let user: BTreeSet<Role> = [Role::SecretsUser].into();
        let reader: BTreeSet<Role> = [Role::Reader].into();
        let officer: BTreeSet<Role> = [Role::SecretsOfficer].into();
        let get = Op::Get("a", None);
        assert!(allows(&user, Permission::ReadValue, get));
        assert!(!allows(&reader, Permission::ReadValue, get));
        assert!(allows(&reader, Permission::ReadMetadata, Op::List));
        assert!(!allows(&user, Permission::Write, Op::Set("a")));
        assert!(allows(&officer, Permission::Write, Op::Purge("a")));
        assert!(!allows(
            &BTreeSet::new(),
            Permission::ReadMetadata,
            Op::List
        ));
    }
}
