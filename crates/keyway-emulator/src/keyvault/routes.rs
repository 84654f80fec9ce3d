//! A Key Vault request from the wire to its answer, in the real service's order: the bearer
//! token (before anything else), the api-version, the operation, the throttling budget, the
//! caller's roles, and only then the operation itself against the vault's store — a write saved
//! to the state file once it has succeeded.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::op::Op;
use super::state::VaultState;
use super::store::{Changes, NewVersion, Secret, Store, StoreError, Version};
use super::{API_VERSIONS, auth, paging, throttle, wire};
use crate::state::Shared;

/// The service's one handler: every path goes through the same checks.
pub(crate) async fn handle(
    State((shared, vault)): State<(Arc<Shared>, Arc<VaultState>)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = Op::parse(&method, uri.path());
    // 1. Authentication comes first: no token, no look at anything else.
    let claims = match auth::authenticate(&shared, &vault, &headers) {
        Ok(claims) => claims,
        Err(message) => return auth::challenge(&shared, &vault, &message),
    };
    // 2. api-version.
    let query: BTreeMap<String, String> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    match query.get("api-version") {
        None => return wire::bad_parameter("The 'api-version' query parameter is missing."),
        Some(v) if !API_VERSIONS.contains(&v.as_str()) => {
            return wire::bad_parameter(&format!(
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
    if let Err(retry_after) = vault.admit(matches!(op, Op::Set(_))) {
        return throttle::throttled(retry_after);
    }
    // 4. RBAC.
    if let Some(forbidden) = auth::refusal(&vault, &claims, op) {
        return forbidden;
    }
    // 5. The operation.
    execute(&shared, &vault, op, &query, &body)
}

/// Runs an operation the checks let through against the vault's store.
fn execute(
    shared: &Shared,
    vault: &VaultState,
    op: Op<'_>,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> Response {
    let url = vault.url();
    let forced = shared.faults.forced_next_link();
    let forced = forced.as_deref();
    let now = shared.clock.unix();
    let mut store = vault.store();
    let result = match op {
        Op::Set(name) => {
            let new = match new_version(body) {
                Ok(new) => new,
                Err(message) => return wire::bad_parameter(&message),
            };
            if let Err(e) = store.set(name, new, now, url) {
                return wire::store_error(&e);
            }
            vault.persist(&store);
            store.secret(name).map(|s| latest(url, s, true))
        }
        Op::Get(name, version) => store
            .get(name, version)
            .map(|(s, v)| bundle(url, s, v, true)),
        Op::List => {
            return paging::list(url, forced, query, "secrets", store.secrets.iter(), |s| {
                s.latest().map(|v| wire::item(url, s, v, false))
            });
        }
        Op::Versions(name) => match store.secret(name) {
            Ok(s) => {
                let keys: Vec<String> = (0..s.versions.len()).map(|i| format!("{i:08}")).collect();
                let items = keys.iter().zip(&s.versions);
                return paging::list(
                    url,
                    forced,
                    query,
                    &format!("secrets/{}/versions", s.name),
                    items,
                    |v| Some(wire::item(url, s, v, true)),
                );
            }
            Err(e) => Err(e),
        },
        Op::Update(name, version) => {
            let changes = match changes(body) {
                Ok(changes) => changes,
                Err(message) => return wire::bad_parameter(&message),
            };
            let result = store
                .update(name, version, changes, now)
                .map(|(s, v)| bundle(url, s, v, false));
            persisted(vault, &store, result)
        }
        Op::Delete(name) => {
            let result = store
                .delete(name, now)
                .map(|d| Json(wire::deleted(url, d, false)).into_response());
            persisted(vault, &store, result)
        }
        Op::ListDeleted => {
            return paging::list(
                url,
                forced,
                query,
                "deletedsecrets",
                store.deleted.iter(),
                |d| Some(wire::deleted(url, d, true)),
            );
        }
        Op::GetDeleted(name) => store
            .deleted(name)
            .map(|d| Json(wire::deleted(url, d, false)).into_response()),
        Op::Recover(name) => {
            let result = store.recover(name).map(|s| latest(url, s, false));
            persisted(vault, &store, result)
        }
        Op::Purge(name) => {
            let result = store
                .purge(name)
                .map(|()| StatusCode::NO_CONTENT.into_response());
            persisted(vault, &store, result)
        }
        Op::ListKeys => {
            return paging::list(url, forced, query, "keys", store.keys.iter(), |k| {
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

/// Saves the store when a write succeeded; the write's result either way.
fn persisted(
    vault: &VaultState,
    store: &Store,
    result: Result<Response, StoreError>,
) -> Result<Response, StoreError> {
    if result.is_ok() {
        vault.persist(store);
    }
    result
}

/// A secret bundle answer (`with_value`: the value is included).
fn bundle(url: &str, s: &Secret, v: &Version, with_value: bool) -> Response {
    Json(wire::bundle(url, s, v, with_value)).into_response()
}

/// The bundle of a secret's latest version, or a bare 200 when it has none.
fn latest(url: &str, s: &Secret, with_value: bool) -> Response {
    match s.latest() {
        Some(v) => bundle(url, s, v, with_value),
        None => StatusCode::OK.into_response(),
    }
}

/// The body of `SetSecret` and `UpdateSecret`.
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

/// The body, or the `BadParameter` message refusing it.
fn set_body(body: &[u8]) -> Result<SetBody, String> {
    serde_json::from_slice(body).map_err(|e| format!("The request body is not valid JSON: {e}"))
}

/// A `SetSecret` body as the version to add (`value` is required), or the `BadParameter`
/// message refusing it.
fn new_version(body: &[u8]) -> Result<NewVersion, String> {
    let parsed = set_body(body)?;
    let Some(value) = parsed.value else {
        return Err("Property 'value' is required.".into());
    };
    let attributes = parsed.attributes.unwrap_or_default();
    Ok(NewVersion {
        value,
        content_type: parsed.content_type,
        tags: parsed.tags,
        enabled: attributes.enabled,
        nbf: attributes.nbf,
        exp: attributes.exp,
        certificate: false,
    })
}

/// An `UpdateSecret` body as the changes to make, or the `BadParameter` message refusing it.
fn changes(body: &[u8]) -> Result<Changes, String> {
    let parsed = set_body(body)?;
    let attributes = parsed.attributes.unwrap_or_default();
    Ok(Changes {
        content_type: parsed.content_type,
        tags: parsed.tags,
        enabled: attributes.enabled,
        nbf: attributes.nbf,
        exp: attributes.exp,
    })
}
