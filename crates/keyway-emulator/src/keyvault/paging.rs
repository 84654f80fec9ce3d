//! Key Vault's paged lists: at most `maxresults` entries (1–25, default 25) after the
//! `$skiptoken`, and a `nextLink` back to the same vault while more remain.

use std::collections::BTreeMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::wire;

/// One page of a list: entries after `$skiptoken` (by key), at most `maxresults` (1–25,
/// default 25), and a `nextLink` back to this vault when more remain. Only the page's entries
/// are rendered. A `forced` link (a fault: [`crate::Faults::force_next_link`]) replaces the
/// `nextLink` of every page, as a broken or hostile vault would answer.
pub(crate) fn list<'a, T: 'a>(
    url: &str,
    forced: Option<&str>,
    query: &BTreeMap<String, String>,
    path: &str,
    entries: impl Iterator<Item = (&'a String, &'a T)>,
    render: impl Fn(&'a T) -> Option<serde_json::Value>,
) -> Response {
    let max = match query.get("maxresults").map(|m| m.parse::<usize>()) {
        None => 25,
        Some(Ok(n)) if (1..=25).contains(&n) => n,
        Some(_) => {
            return wire::bad_parameter("Invalid maxresults: it must be an integer from 1 to 25.");
        }
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
    let next_link = match (forced, more, last_key) {
        (Some(link), _, _) => json!(link),
        (None, true, Some(key)) => json!(format!(
            "{url}/{path}?api-version={api_version}&$skiptoken={}&maxresults={max}",
            URL_SAFE_NO_PAD.encode(key)
        )),
        _ => serde_json::Value::Null,
    };
    Json(json!({ "value": page, "nextLink": next_link })).into_response()
}
