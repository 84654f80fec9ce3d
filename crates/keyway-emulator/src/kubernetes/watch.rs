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
    let resource = t.key();
    let relevant = move |e: &WatchEvent| {
        e.resource == resource
            && namespace.as_deref().is_none_or(|ns| e.namespace == ns)
            && selector.matches(&e.object)
    };
    let mut initial = Vec::new();
    let mut expired = false;
    let mut last = store.resource_version();
    match options.since {
        None => {
            for object in store_objects(store, &t) {
                let candidate = WatchEvent {
                    resource_version: last,
                    kind: "ADDED",
                    resource: t.key(),
                    namespace: object["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    object,
                };
                if relevant(&candidate) {
                    initial.push(line("ADDED", &candidate.object));
                }
            }
        }
        Some(since) => match store.history_since(since) {
            Some(events) => {
                initial.extend(
                    events
                        .iter()
                        .filter(|e| relevant(e))
                        .map(|e| line(e.kind, &t.present(e.object.clone()))),
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
    // Events carry objects as stored; each is served in the watched version.
    let served = t.clone();
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
                        if relevant(&event) && sender.unbounded_send(Ok(line(event.kind, &served.present(event.object.clone())))).is_err() {
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

fn store_objects(store: &Store, t: &ResourceType) -> Vec<Value> {
    store.list(t, None, &Selector::default())
}
