//! The API server's `Status` answers: the same shape, reason and code as the real server.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A failure `Status`.
pub(crate) fn failure(
    code: StatusCode,
    reason: &str,
    message: &str,
    kind: Option<&str>,
    name: Option<&str>,
) -> Response {
    let mut details = serde_json::Map::new();
    if let Some(name) = name {
        details.insert("name".into(), json!(name));
    }
    if let Some(kind) = kind {
        details.insert("kind".into(), json!(kind));
    }
    failure_with(code, reason, message, details)
}

/// A failure `Status` with its `details` as given.
fn failure_with(
    code: StatusCode,
    reason: &str,
    message: &str,
    details: serde_json::Map<String, serde_json::Value>,
) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details,
        "code": code.as_u16(),
    });
    (code, Json(body)).into_response()
}

pub(crate) fn not_found(plural: &str, name: &str) -> Response {
    failure(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{plural} \"{name}\" not found"),
        Some(plural),
        Some(name),
    )
}

pub(crate) fn already_exists(plural: &str, name: &str) -> Response {
    failure(
        StatusCode::CONFLICT,
        "AlreadyExists",
        &format!("{plural} \"{name}\" already exists"),
        Some(plural),
        Some(name),
    )
}

pub(crate) fn conflict(plural: &str, name: &str) -> Response {
    failure(
        StatusCode::CONFLICT,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
        ),
        Some(plural),
        Some(name),
    )
}

pub(crate) fn bad_request(message: &str) -> Response {
    failure(StatusCode::BAD_REQUEST, "BadRequest", message, None, None)
}

pub(crate) fn unauthorized() -> Response {
    failure(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Unauthorized",
        None,
        None,
    )
}

/// 422 `Invalid`, as the server refuses an object its validation rejects:
/// `Kind.group "name" is invalid: <errors>`, one `cause` per field error.
pub(crate) fn invalid(
    kind: &str,
    group: &str,
    name: &str,
    errors: &[super::field::FieldError],
) -> Response {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let causes: Vec<serde_json::Value> = errors
        .iter()
        .map(|e| json!({"reason": e.kind.reason(), "message": e.body(), "field": e.field}))
        .collect();
    let mut details = serde_json::Map::new();
    details.insert("name".into(), json!(name));
    if !group.is_empty() {
        details.insert("group".into(), json!(group));
    }
    details.insert("kind".into(), json!(kind));
    details.insert("causes".into(), json!(causes));
    failure_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        &format!(
            "{qualified} \"{name}\" is invalid: {}",
            super::field::aggregate(errors)
        ),
        details,
    )
}
