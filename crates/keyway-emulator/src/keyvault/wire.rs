//! Key Vault's JSON: secret bundles and items as REST api-version 2025-07-01 spells them, and
//! its error body `{"error":{"code","message","innererror"}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::store::{Deleted, Key, KeyVersion, RECOVERABLE_DAYS, Secret, StoreError, Version};

fn attributes(v: &Version) -> Value {
    let mut a = Map::new();
    a.insert("enabled".into(), json!(v.enabled));
    if let Some(nbf) = v.nbf {
        a.insert("nbf".into(), json!(nbf));
    }
    if let Some(exp) = v.exp {
        a.insert("exp".into(), json!(exp));
    }
    a.insert("created".into(), json!(v.created));
    a.insert("updated".into(), json!(v.updated));
    a.insert("recoveryLevel".into(), json!("Recoverable+Purgeable"));
    a.insert("recoverableDays".into(), json!(RECOVERABLE_DAYS));
    Value::Object(a)
}

fn common(id: String, v: &Version) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert("attributes".into(), attributes(v));
    if let Some(ct) = &v.content_type {
        m.insert("contentType".into(), json!(ct));
    }
    if let Some(tags) = &v.tags {
        m.insert("tags".into(), json!(tags));
    }
    if v.managed {
        m.insert("managed".into(), json!(true));
    }
    m
}

/// A `SecretBundle`; the value only when `with_value`.
pub(crate) fn bundle(
    vault_url: &str,
    s: &Secret,
    v: &Version,
    with_value: bool,
) -> Map<String, Value> {
    let mut m = common(format!("{vault_url}/secrets/{}/{}", s.name, v.version), v);
    if with_value {
        m.insert("value".into(), json!(v.value));
    }
    if let Some(kid) = &v.kid {
        m.insert("kid".into(), json!(kid));
    }
    m
}

/// A `SecretItem` of `GET /secrets` (no version in the id) or of `GET /secrets/{name}/versions`.
pub(crate) fn item(vault_url: &str, s: &Secret, v: &Version, with_version: bool) -> Value {
    let id = if with_version {
        format!("{vault_url}/secrets/{}/{}", s.name, v.version)
    } else {
        format!("{vault_url}/secrets/{}", s.name)
    };
    Value::Object(common(id, v))
}

/// A `DeletedSecretBundle` or `DeletedSecretItem`.
pub(crate) fn deleted(vault_url: &str, d: &Deleted, as_item: bool) -> Value {
    let Some(latest) = d.secret.latest() else {
        return json!({});
    };
    let mut m = if as_item {
        match item(vault_url, &d.secret, latest, false) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    } else {
        bundle(vault_url, &d.secret, latest, false)
    };
    m.insert(
        "recoveryId".into(),
        json!(format!("{vault_url}/deletedsecrets/{}", d.secret.name)),
    );
    m.insert("deletedDate".into(), json!(d.deleted));
    m.insert("scheduledPurgeDate".into(), json!(d.scheduled_purge));
    Value::Object(m)
}

fn key_attributes(v: &KeyVersion) -> Value {
    json!({
        "enabled": v.enabled,
        "created": v.created,
        "updated": v.updated,
        "recoveryLevel": "Recoverable+Purgeable",
        "recoverableDays": RECOVERABLE_DAYS,
    })
}

/// A `KeyBundle`: the public key as a JSON Web Key, with the key id.
pub(crate) fn key_bundle(vault_url: &str, k: &Key, v: &KeyVersion) -> Value {
    let mut key = Map::new();
    key.insert(
        "kid".into(),
        json!(format!("{vault_url}/keys/{}/{}", k.name, v.version)),
    );
    for (field, value) in &v.public {
        key.insert(field.clone(), json!(value));
    }
    key.insert("key_ops".into(), json!(["verify", "encrypt", "wrapKey"]));
    let mut m = Map::new();
    m.insert("key".into(), Value::Object(key));
    m.insert("attributes".into(), key_attributes(v));
    if v.managed {
        m.insert("managed".into(), json!(true));
    }
    Value::Object(m)
}

/// A `KeyItem` of `GET /keys`.
pub(crate) fn key_item(vault_url: &str, k: &Key, v: &KeyVersion) -> Value {
    let mut m = Map::new();
    m.insert("kid".into(), json!(format!("{vault_url}/keys/{}", k.name)));
    m.insert("attributes".into(), key_attributes(v));
    if v.managed {
        m.insert("managed".into(), json!(true));
    }
    Value::Object(m)
}

/// A Key Vault error answer.
pub(crate) fn error(
    status: StatusCode,
    code: &str,
    message: &str,
    inner: Option<&str>,
) -> Response {
    let mut error = json!({ "code": code, "message": message });
    if let Some(inner) = inner {
        error["innererror"] = json!({ "code": inner });
    }
    (status, Json(json!({ "error": error }))).into_response()
}

/// A 400 `BadParameter` answer.
pub(crate) fn bad_parameter(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "BadParameter", message, None)
}

/// The answer for a refused store operation.
pub(crate) fn store_error(e: &StoreError) -> Response {
    match e {
        StoreError::BadName(name) => error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            &format!(
                "The request URI contains an invalid name: {name}. Names are 1-127 characters of 0-9, a-z, A-Z and -."
            ),
            None,
        ),
        StoreError::TooLarge(n) => error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            &format!("Secret value of {n} bytes exceeds the maximum of 25,600 bytes."),
            None,
        ),
        StoreError::NotFound(name) => error(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            &format!(
                "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command."
            ),
            None,
        ),
        StoreError::VersionNotFound(name, version) => error(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            &format!("A secret with (name/id) {name}/{version} was not found in this key vault."),
            None,
        ),
        StoreError::DeletedNotFound(name) => error(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            &format!("Deleted Secret not found: {name}"),
            None,
        ),
        StoreError::DeletedButRecoverable(name) => error(
            StatusCode::CONFLICT,
            "Conflict",
            &format!(
                "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
            ),
            Some("ObjectIsDeletedButRecoverable"),
        ),
        StoreError::KeyNotFound(name) => error(
            StatusCode::NOT_FOUND,
            "KeyNotFound",
            &format!("A key with (name/id) {name} was not found in this key vault."),
            None,
        ),
        StoreError::Disabled(_) => error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Operation get is not allowed on a disabled secret.",
            Some("SecretDisabled"),
        ),
    }
}

/// Adds `Retry-After` (seconds) to a response.
pub(crate) fn with_retry_after(mut response: Response, seconds: u32) -> Response {
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}
