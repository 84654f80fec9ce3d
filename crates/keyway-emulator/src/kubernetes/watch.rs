//! Watches: a stream of `{"type", "object"}` lines — the events after a resourceVersion (or the
//! current objects as ADDED when none is given), then live changes, bookmarks when asked for,
//! and `ERROR` with a 410 `Expired` Status when the version has been compacted away.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use futures::channel::mpsc;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::resources::ResourceType;
use super::store::{Selector, Store, WatchEvent};

/// What the watch asked for.
pub(crate) struct Options {
    /// Resume after this resourceVersion; `None`: start with the current objects.
    pub since: Option<u64>,
    /// Send BOOKMARK events.
    pub bookmarks: bool,
    /// Close the stream after this long (the client then watches again).
    pub timeout: Duration,
}

/// How often a bookmark is sent when asked for.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);

fn line(kind: &str, object: &Value) -> String {
    json!({"type": kind, "object": object}).to_string() + "\n"
}

fn gone(since: u64) -> String {
    line(
        "ERROR",
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("too old resource version: {since}"), "reason": "Expired", "code": 410
        }),
    )
}

/// Starts a watch over `t` (in `namespace`, or all) for objects matching `selector`.
pub(crate) fn watch(
    store: &Store,
    t: ResourceType,
    namespace: Option<String>,
    selector: Selector,
    options: Options,
) -> Response {
    let initial_objects = match options.since {
        None => store.list(&t, namespace.as_deref(), &selector),
        Some(_) => Vec::new(),
    };
    let resource = t.key();
    let viewed = t.also_serves();
    // Events carry objects as stored; each is served in the watched version (or, for a type
    // that serves another's objects too, converted), and the selector sees what is served.
    let served = t.clone();
    let view = move |e: &WatchEvent| -> Option<Value> {
        if namespace.as_deref().is_some_and(|ns| e.namespace != ns) {
            return None;
        }
        let object = if e.resource == resource {
            served.present(e.object.clone())
        } else if viewed == Some(e.resource.as_str()) {
            served.present_viewed(&e.object)
        } else {
            return None;
        };
        selector.matches(&object).then_some(object)
    };
    let mut initial = Vec::new();
    let mut expired = false;
    let mut last = store.resource_version();
    match options.since {
        None => {
            // The listing is served (converted, selected) as this type serves it.
            for object in initial_objects {
                initial.push(line("ADDED", &object));
            }
        }
        Some(since) => match store.history_since(since) {
            Some(events) => {
                initial.extend(
                    events
                        .iter()
                        .filter_map(|e| view(e).map(|object| line(e.kind, &object))),
                );
            }
            None => {
                initial.push(gone(since));
                expired = true;
            }
        },
    }
    let mut live = store.subscribe();
    let (sender, receiver) = mpsc::unbounded::<Result<String, Infallible>>();
    let bookmark_kind = t.kind.clone();
    let bookmark_api = t.api_version();
    tokio::spawn(async move {
        for l in initial {
            if sender.unbounded_send(Ok(l)).is_err() {
                return;
            }
        }
        if expired {
            return;
        }
        let deadline = tokio::time::sleep(options.timeout);
        tokio::pin!(deadline);
        let mut bookmark = tokio::time::interval(BOOKMARK_EVERY);
        bookmark.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = bookmark.tick(), if options.bookmarks => {
                    let object = json!({"kind": bookmark_kind, "apiVersion": bookmark_api, "metadata": {"resourceVersion": last.to_string()}});
                    if sender.unbounded_send(Ok(line("BOOKMARK", &object))).is_err() {
                        return;
                    }
                }
                received = live.recv() => match received {
                    Ok(event) => {
                        last = last.max(event.resource_version);
                        if let Some(object) = view(&event)
                            && sender.unbounded_send(Ok(line(event.kind, &object))).is_err()
                        {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let _ = sender.unbounded_send(Ok(gone(last)));
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(receiver))
        .unwrap_or_default()
}
