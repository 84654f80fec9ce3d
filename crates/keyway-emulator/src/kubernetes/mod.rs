//! A Kubernetes API server stand-in, over HTTPS with bearer-token auth, for what keyway needs:
//! discovery, namespaces, Secrets, ServiceAccounts with the TokenRequest subresource (tokens
//! signed by the emulated OIDC issuer, so Entra accepts them; the issuer's discovery document and
//! JWKS at `/.well-known/openid-configuration` and `/openid/v1/jwks`, as the real API server
//! serves them), Events, Leases and custom
//! resources defined through CustomResourceDefinitions; create, get, list with label and field
//! selectors, replace with resourceVersion conflicts, JSON merge patch, JSON patch, apply, delete
//! with garbage collection through ownerReferences. Answers carry the real server's `Status`.
//!
//! Watches stream ADDED/MODIFIED/DELETED events from a resourceVersion (410 Gone once it has been
//! compacted away), with bookmarks and timeouts.
//!
//! Server-side apply and updates track field ownership per manager (see `apply.rs`). `kubectl`
//! works for the basics: bodies it sends as protobuf get 415 and it falls back to JSON; the
//! OpenAPI v3 documents tell it validation happens on the server.
//!
//! CustomResourceDefinitions are checked as the real server checks them (`schema.rs`:
//! structural schemas), and custom resources are defaulted, pruned and validated against their
//! version's schema (`validation.rs`), with the server's 422 wording; unknown fields are
//! reported as `Warning`s, or refused with `fieldValidation=Strict`. Every served version of a
//! CRD reads and writes the same objects (stored in the storage version). Not emulated
//! (docs/emulator.md): list items owned by key, CEL rules, admission.

mod apply;
mod events;
mod field;
mod openapi;
mod resources;
mod schema;
mod status;
mod store;
mod validation;
mod watch;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::counters::Service;
use crate::issuer::{self, ServiceAccountToken};
use crate::server::ServiceSpec;
use crate::state::Shared;
use resources::ResourceType;
use store::{Selector, Store, StoreError};

/// Longest TokenRequest lifetime, like `--service-account-max-token-expiration=24h`.
const MAX_TOKEN_SECONDS: u64 = 86_400;
/// Shortest TokenRequest lifetime the API server accepts.
const MIN_TOKEN_SECONDS: u64 = 600;

/// One kind of access a user made: what an RBAC rule would have to grant for it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ApiAccess {
    /// The user (see [`crate::Emulator::add_kubernetes_user`]; `admin` for the stand-in's own
    /// token).
    pub user: String,
    /// The RBAC verb: get, list, watch, create, update, patch, delete or deletecollection.
    pub verb: String,
    /// The API group (`""` for the core group).
    pub group: String,
    /// The resource as RBAC names it, with its subresource: `secrets`,
    /// `serviceaccounts/token`, `secretsyncs/status`.
    pub resource: String,
}

/// The stand-in's state.
pub(crate) struct KubeState {
    store: Mutex<Store>,
    /// The cluster-admin bearer token.
    pub token: String,
    /// Further users' tokens, by token.
    users: Mutex<std::collections::HashMap<String, String>>,
    /// Every kind of access each user made.
    access: Mutex<std::collections::BTreeSet<ApiAccess>>,
}

/// Neither the bearer token nor the stored objects (Secret data among them) are shown.
impl std::fmt::Debug for KubeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeState").finish_non_exhaustive()
    }
}

impl KubeState {
    pub fn new() -> KubeState {
        KubeState {
            store: Mutex::new(Store::default()),
            token: uuid::Uuid::new_v4().simple().to_string(),
            users: Mutex::new(std::collections::HashMap::new()),
            access: Mutex::new(std::collections::BTreeSet::new()),
        }
    }

    /// A new bearer token for `user`.
    pub fn add_user(&self, user: &str) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), user.to_string());
        token
    }

    /// The user a bearer token belongs to.
    fn user(&self, token: &str) -> Option<String> {
        if token == self.token {
            return Some("admin".into());
        }
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }

    /// Every kind of access made so far.
    pub fn access(&self) -> Vec<ApiAccess> {
        let access = self.access.lock().unwrap_or_else(|p| p.into_inner());
        access.iter().cloned().collect()
    }

    /// Records the access and returns it as (verb, group, resource), for the request counters.
    fn record_access(
        &self,
        user: &str,
        method: &Method,
        target: &Target,
        watch: bool,
    ) -> Option<(String, String, String)> {
        let Target::Object { t, name, sub, .. } = target else {
            return None;
        };
        let verb = match (method, name.is_some()) {
            (&Method::GET, true) => "get",
            (&Method::GET, false) if watch => "watch",
            (&Method::GET, false) => "list",
            (&Method::POST, _) => "create",
            (&Method::PUT, _) => "update",
            (&Method::PATCH, _) => "patch",
            (&Method::DELETE, true) => "delete",
            (&Method::DELETE, false) => "deletecollection",
            _ => return None,
        };
        let resource = match sub {
            Some(sub) => format!("{}/{sub}", t.plural),
            None => t.plural.clone(),
        };
        self.access
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ApiAccess {
                user: user.to_string(),
                verb: verb.to_string(),
                group: t.group.clone(),
                resource: resource.clone(),
            });
        Some((verb.to_string(), t.group.clone(), resource))
    }

    /// Forgets the watch history (etcd compaction): watches from older versions get 410 Gone.
    pub fn compact(&self) {
        self.store().compact();
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a request addresses.
enum Target {
    Version,
    Api,
    Apis,
    /// `/openapi/v3` (`None`) or one group-version's document under it.
    OpenApi(Option<String>),
    /// Service-account issuer discovery: `/.well-known/openid-configuration`.
    Discovery,
    /// The service-account signing keys: `/openid/v1/jwks`.
    Jwks,
    Resources {
        group: String,
        version: String,
    },
    Object {
        t: Box<ResourceType>,
        namespace: Option<String>,
        name: Option<String>,
        sub: Option<String>,
    },
    Unknown,
}

fn parse(path: &str, store: &Store) -> Target {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let (group, version, rest) = match parts.as_slice() {
        ["version"] => return Target::Version,
        [".well-known", "openid-configuration"] => return Target::Discovery,
        ["openid", "v1", "jwks"] => return Target::Jwks,
        ["openapi", "v3"] => return Target::OpenApi(None),
        ["openapi", "v3", rest @ ..] => return Target::OpenApi(Some(rest.join("/"))),
        ["api"] => return Target::Api,
        ["apis"] => return Target::Apis,
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Target::Unknown,
    };
    if rest.is_empty() {
        return Target::Resources {
            group: group.into(),
            version: version.into(),
        };
    }
    if let ["namespaces", namespace, plural, tail @ ..] = rest
        && let Some(t) = store
            .resource(group, version, plural)
            .filter(|t| t.namespaced)
    {
        return Target::Object {
            t: Box::new(t),
            namespace: Some((*namespace).into()),
            name: tail.first().map(|s| s.to_string()),
            sub: tail.get(1).map(|s| s.to_string()),
        };
    }
    match store.resource(group, version, rest[0]) {
        Some(t) => Target::Object {
            t: Box::new(t),
            namespace: None,
            name: rest.get(1).map(|s| s.to_string()),
            sub: rest.get(2).map(|s| s.to_string()),
        },
        None => Target::Unknown,
    }
}

/// The verb a request is counted and faulted under.
fn operation(method: &Method, path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let named = match parts.first() {
        Some(&"api") => parts.len() >= 4 && !(parts.len() == 5 && parts[2] == "namespaces"),
        Some(&"apis") => parts.len() >= 5 && !(parts.len() == 6 && parts[3] == "namespaces"),
        _ => return "discovery",
    };
    match (method, named) {
        (&Method::GET, true) => "get",
        (&Method::GET, false) if parts.len() <= 3 => "discovery",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, _) => "delete",
        _ => "unknown",
    }
}

fn fault_response(code: u16, retry_after: Option<u32>) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = status::failure(code, "InternalError", "injected fault", None, None);
    if let Some(seconds) =
        retry_after.and_then(|s| axum::http::HeaderValue::from_str(&s.to_string()).ok())
    {
        response.headers_mut().insert(header::RETRY_AFTER, seconds);
    }
    response
}

/// The service as a listener serves it: its routes, the operation names it counts and faults
/// under, and its answer to an injected fault.
pub(crate) fn service(shared: Arc<Shared>, state: Arc<KubeState>) -> ServiceSpec {
    ServiceSpec {
        service: Service::Kubernetes,
        router: Router::new().fallback(handle).with_state((shared, state)),
        operation,
        fault_response,
    }
}

fn store_error(t: &ResourceType, name: &str, e: StoreError) -> Response {
    match e {
        StoreError::NotFound => status::not_found(&t.plural, name),
        StoreError::AlreadyExists => status::already_exists(&t.plural, name),
        StoreError::Conflict => status::conflict(&t.plural, name),
        StoreError::Invalid(message) if message.starts_with("namespace ") => status::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            &message,
            Some("namespaces"),
            None,
        ),
        StoreError::Fields(errors) => status::invalid(&t.kind, &t.group, name, &errors),
        StoreError::Invalid(message) => status::failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            &message,
            Some(&t.kind),
            Some(name),
        ),
    }
}

/// `fieldValidation` for a write of `object`: unknown fields (those pruning would drop) refused
/// with `Strict` (the server's strict decoding error: 400 for a body, 422 naming `patch` for a
/// patched object), reported as warnings with `Warn` (the default), dropped silently with
/// `Ignore`.
fn field_validation(
    t: &ResourceType,
    object: &Value,
    directive: Option<&str>,
    patched: bool,
    warnings: &mut Vec<String>,
) -> Option<Response> {
    let schema = t.schema.as_ref()?;
    let unknown = validation::prepare(schema, &mut object.clone());
    if unknown.is_empty() {
        return None;
    }
    let named: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field {}", field::quote(f)))
        .collect();
    match directive.unwrap_or("Warn") {
        "Strict" if patched => Some(status::invalid(
            "",
            "",
            "",
            &[field::FieldError::invalid(
                "patch",
                Value::String(object.to_string()),
                format!("strict decoding error: {}", named.join(", ")),
            )],
        )),
        "Strict" => Some(status::bad_request(&format!(
            "{kind} in version {version} cannot be handled as a {kind}: strict decoding error: {}",
            named.join(", "),
            kind = t.kind,
            version = field::quote(&t.version),
        ))),
        "Ignore" => None,
        _ => {
            warnings.extend(named);
            None
        }
    }
}

async fn handle(
    state: State<(Arc<Shared>, Arc<KubeState>)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut warnings = Vec::new();
    let mut counted = None;
    let shared = state.0.0.clone();
    let mut response = respond(
        state,
        method,
        uri,
        headers,
        body,
        &mut warnings,
        &mut counted,
    )
    .await;
    // By verb and resource as well (the listener counts by operation, which cannot tell a watch
    // from a list nor say which resource was read).
    if let Some((verb, group, resource)) = counted {
        shared
            .counters
            .record_kubernetes(&verb, &group, &resource, response.status().as_u16());
    }
    for warning in warnings {
        // As the server sends them: `299 - "<text>"`.
        if let Ok(value) =
            axum::http::HeaderValue::from_str(&format!("299 - {}", field::quote(&warning)))
        {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

async fn respond(
    State((shared, state)): State<(Arc<Shared>, Arc<KubeState>)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    warnings: &mut Vec<String>,
    counted: &mut Option<(String, String, String)>,
) -> Response {
    let user = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| state.user(token.trim()));
    let Some(user) = user else {
        return status::unauthorized();
    };
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let param = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();

    // The manager updates are recorded under: `fieldManager`, else the user agent's product.
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|ua| !ua.is_empty())
        .unwrap_or("unknown")
        .to_string();
    let updater = param("fieldManager").unwrap_or(&user_agent).to_string();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if matches!(method, Method::POST | Method::PUT)
        && !body.is_empty()
        && media != "application/json"
    {
        // As the real server answers a type it cannot decode; clients then send JSON.
        return status::failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!("the body's media type {media} is not supported; send application/json"),
            None,
            None,
        );
    }

    let mut store = state.store();
    let target = parse(uri.path(), &store);
    let watching = param("watch").is_some_and(|w| w == "true" || w == "1");
    if let Target::Object { t, .. } = &target
        && let Some(deprecation) = &t.deprecation
    {
        warnings.push(deprecation.clone());
    }
    let directive = param("fieldValidation");
    *counted = state.record_access(&user, &method, &target, watching);
    // A server-side apply that creates is authorised as create as well, like the real server.
    if method == Method::PATCH
        && media == "application/apply-patch+yaml"
        && let Target::Object {
            t,
            namespace,
            name: Some(name),
            sub: None,
        } = &target
        && store
            .get(t, namespace.as_deref().unwrap_or_default(), name)
            .is_err()
    {
        state.record_access(&user, &Method::POST, &target, false);
    }
    match (target, &method) {
        (Target::Version, &Method::GET) => Json(json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0+keyway-emulator", "platform": "linux/amd64"
        }))
        .into_response(),
        (Target::Api, &Method::GET) => Json(json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})).into_response(),
        (Target::Apis, &Method::GET) => {
            let mut groups: Vec<(String, Vec<String>)> = Vec::new();
            for t in store.types().iter().filter(|t| !t.group.is_empty()) {
                match groups.iter_mut().find(|(g, _)| *g == t.group) {
                    Some((_, versions)) if !versions.contains(&t.version) => versions.push(t.version.clone()),
                    Some(_) => {}
                    None => groups.push((t.group.clone(), vec![t.version.clone()])),
                }
            }
            // The preferred (first) version is the highest by Kubernetes' version priority.
            for (_, versions) in &mut groups {
                versions.sort_by_key(|v| std::cmp::Reverse(ResourceType::priority(v)));
            }
            let groups: Vec<Value> = groups
                .into_iter()
                .map(|(name, versions)| {
                    let versions: Vec<Value> = versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
                    json!({"name": name, "versions": versions, "preferredVersion": versions[0]})
                })
                .collect();
            Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})).into_response()
        }
        (Target::Discovery, &Method::GET) => {
            Json(keyway_identity::OpenIdConfiguration::for_issuer(&shared.issuer_url())).into_response()
        }
        (Target::Jwks, &Method::GET) => Json(keyway_identity::Jwks {
            keys: shared.issuer_keys().iter().map(|k| k.jwk().clone()).collect(),
        })
        .into_response(),
        (Target::OpenApi(None), &Method::GET) => Json(openapi::root(store.types())).into_response(),
        (Target::OpenApi(Some(path)), &Method::GET) => match openapi::group_version(store.types(), &path) {
            Some(document) => Json(document).into_response(),
            None => status::failure(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource", None, None),
        },
        (Target::Resources { group, version }, &Method::GET) => {
            let resources: Vec<Value> = store
                .types()
                .iter()
                .filter(|t| t.group == group && t.version == version)
                .flat_map(ResourceType::discovery)
                .collect();
            if resources.is_empty() {
                return status::failure(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource", None, None);
            }
            let group_version = if group.is_empty() { version } else { format!("{group}/{version}") };
            Json(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})).into_response()
        }
        (Target::Object { t, namespace, name: None, .. }, &Method::GET) => {
            let selector = Selector::parse(param("labelSelector"), param("fieldSelector"));
            if param("watch").is_some_and(|w| w == "true" || w == "1") {
                let options = watch::Options {
                    since: param("resourceVersion").and_then(|v| v.parse().ok()).filter(|v| *v > 0),
                    bookmarks: param("allowWatchBookmarks") == Some("true"),
                    timeout: Duration::from_secs(param("timeoutSeconds").and_then(|v| v.parse().ok()).unwrap_or(1800).min(3600)),
                };
                return watch::watch(&store, *t, namespace, selector, options);
            }
            let items = store.list(&t, namespace.as_deref(), &selector);
            Json(json!({
                "kind": format!("{}List", t.kind),
                "apiVersion": t.api_version(),
                "metadata": {"resourceVersion": store.resource_version().to_string()},
                "items": items,
            }))
            .into_response()
        }
        (Target::Object { t, namespace, name: Some(name), sub }, &Method::GET) => {
            if sub.as_deref().is_some_and(|s| s != "status") {
                return status::bad_request("unknown subresource");
            }
            match store.get(&t, namespace.as_deref().unwrap_or_default(), &name) {
                Ok(object) => Json(object).into_response(),
                Err(e) => store_error(&t, &name, e),
            }
        }
        (Target::Object { t, namespace, name: None, .. }, &Method::POST) => {
            let object: Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return status::bad_request(&format!("the body is not JSON: {e}")),
            };
            let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
            if let Some(refused) = field_validation(&t, &object, directive, false, warnings) {
                return refused;
            }
            match store.create(&t, namespace.as_deref().unwrap_or_default(), object, Some(&updater)) {
                Ok(created) => (StatusCode::CREATED, Json(created)).into_response(),
                Err(e) => store_error(&t, &name, e),
            }
        }
        (Target::Object { t, namespace: Some(namespace), name: Some(name), sub: Some(sub) }, &Method::POST)
            if sub == "token" && t.plural == "serviceaccounts" && t.group.is_empty() =>
        {
            if store.get(&t, &namespace, &name).is_err() {
                return status::not_found("serviceaccounts", &name);
            }
            drop(store);
            token_request(&shared, &namespace, &name, &body)
        }
        (Target::Object { t, namespace, name: Some(name), sub }, &Method::PUT) => {
            let object: Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return status::bad_request(&format!("the body is not JSON: {e}")),
            };
            let status_only = sub.as_deref() == Some("status");
            if let Some(refused) = field_validation(&t, &object, directive, false, warnings) {
                return refused;
            }
            match store.replace(&t, namespace.as_deref().unwrap_or_default(), &name, object, status_only, Some(&updater)) {
                Ok(replaced) => Json(replaced).into_response(),
                Err(e) => store_error(&t, &name, e),
            }
        }
        (Target::Object { t, namespace, name: Some(name), sub }, &Method::PATCH) => {
            let namespace = namespace.unwrap_or_default();
            let status_only = sub.as_deref() == Some("status");
            let current = store.get(&t, &namespace, &name);
            let patched = match (content_type.split(';').next().unwrap_or_default(), current) {
                ("application/apply-patch+yaml", current) => {
                    let applied: Value = match yaml_body(&body) {
                        Ok(v) => v,
                        Err(e) => return status::bad_request(&format!("the apply body is not YAML/JSON: {e}")),
                    };
                    let manager = param("fieldManager").unwrap_or_default();
                    if manager.is_empty() {
                        return status::bad_request("fieldManager is required for apply patch");
                    }
                    let force = param("force").is_some_and(|f| f == "true");
                    let merged = match apply::apply(current.as_ref().ok(), &applied, manager, force, &t.api_version(), &rfc3339_now()) {
                        Ok(merged) => merged,
                        Err(conflicts) => {
                            let list: Vec<String> = conflicts.iter().map(|(m, f)| format!("conflict with \"{m}\": {f}")).collect();
                            return status::failure(
                                StatusCode::CONFLICT,
                                "Conflict",
                                &format!("Apply failed with {} conflict(s): {}", conflicts.len(), list.join("; ")),
                                Some(&t.plural),
                                Some(&name),
                            );
                        }
                    };
                    if let Some(refused) = field_validation(&t, &merged, directive, true, warnings) {
                        return refused;
                    }
                    if current.is_err() {
                        return match store.create(&t, &namespace, merged, None) {
                            Ok(created) => (StatusCode::CREATED, Json(created)).into_response(),
                            Err(e) => store_error(&t, &name, e),
                        };
                    }
                    Patched::Applied(merged)
                }
                (_, Err(e)) => return store_error(&t, &name, e),
                ("application/merge-patch+json" | "application/strategic-merge-patch+json", Ok(mut object)) => {
                    let patch: Value = match serde_json::from_slice(&body) {
                        Ok(v) => v,
                        Err(e) => return status::bad_request(&format!("the patch is not JSON: {e}")),
                    };
                    json_patch::merge(&mut object, &patch);
                    Patched::Updated(object)
                }
                ("application/json-patch+json", Ok(mut object)) => {
                    let patch: json_patch::Patch = match serde_json::from_slice(&body) {
                        Ok(v) => v,
                        Err(e) => return status::bad_request(&format!("the JSON patch is invalid: {e}")),
                    };
                    if let Err(e) = json_patch::patch(&mut object, &patch) {
                        return status::failure(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", &e.to_string(), Some(&t.kind), Some(&name));
                    }
                    Patched::Updated(object)
                }
                (other, _) => {
                    return status::failure(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType", &format!("the patch type {other} is not supported"), None, None);
                }
            };
            let (patched, updater) = match patched {
                Patched::Applied(object) => (object, None),
                Patched::Updated(object) => {
                    if let Some(refused) = field_validation(&t, &object, directive, true, warnings) {
                        return refused;
                    }
                    (object, Some(updater.as_str()))
                }
            };
            match store.replace(&t, &namespace, &name, patched, status_only, updater) {
                Ok(replaced) => Json(replaced).into_response(),
                Err(e) => store_error(&t, &name, e),
            }
        }
        (Target::Object { t, namespace, name: Some(name), .. }, &Method::DELETE) => {
            match store.delete(&t, namespace.as_deref().unwrap_or_default(), &name) {
                Ok(deleted) => Json(deleted).into_response(),
                Err(e) => store_error(&t, &name, e),
            }
        }
        _ => status::failure(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource", None, None),
    }
}

/// A patched object, and whether the patch was an apply (ownership already recorded) or an
/// update (recorded by the store).
enum Patched {
    Applied(Value),
    Updated(Value),
}

/// A server-side-apply body as the API server reads it (`sigs.k8s.io/yaml`, YAML 1.1: `0644`
/// is octal, duplicate keys refused), within parse budgets. Errors carry the line and column,
/// never the body.
fn yaml_body(body: &[u8]) -> Result<Value, serde_saphyr::Error> {
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    options.with_snippet = false;
    serde_saphyr::from_slice_with_options(body, options)
}

fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[derive(Default, serde::Deserialize)]
struct TokenRequestBody {
    #[serde(default)]
    spec: TokenRequestSpec,
}

#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequestSpec {
    #[serde(default)]
    audiences: Vec<String>,
    expiration_seconds: Option<u64>,
}

fn token_request(shared: &Shared, namespace: &str, service_account: &str, body: &[u8]) -> Response {
    let request: TokenRequestBody = serde_json::from_slice(body).unwrap_or_default();
    let seconds = request.spec.expiration_seconds.unwrap_or(3600);
    if seconds < MIN_TOKEN_SECONDS {
        return status::failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            &format!(
                "spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration less than 10 minutes"
            ),
            Some("TokenRequest"),
            Some(service_account),
        );
    }
    let seconds = seconds.min(MAX_TOKEN_SECONDS);
    let audiences = if request.spec.audiences.is_empty() {
        vec![shared.issuer_url()]
    } else {
        request.spec.audiences.clone()
    };
    let mut spec = ServiceAccountToken::new(namespace, service_account);
    spec.audiences = audiences.clone();
    spec.lifetime = Duration::from_secs(seconds);
    let token = issuer::mint(shared, &spec);
    let expires = (shared.clock.now() + time::Duration::seconds(seconds as i64))
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    (
        StatusCode::CREATED,
        Json(json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": service_account, "namespace": namespace},
            "spec": {"audiences": audiences, "expirationSeconds": seconds},
            "status": {"token": token, "expirationTimestamp": expires},
        })),
    )
        .into_response()
}
