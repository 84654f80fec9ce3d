//! Events, as a real API server serves them: one resource with two views. An Event written
//! through `events.k8s.io/v1` (as the controller's recorder writes them) is also read through
//! core `v1` `events` (`kubectl get events`), its fields mapped as the API server converts them:
//! `note` → `message`, `regarding` → `involvedObject`, `reportingController` →
//! `reportingComponent`, `deprecatedSource` → `source`, `deprecatedCount` → `count`,
//! `deprecatedFirstTimestamp`/`deprecatedLastTimestamp` → `firstTimestamp`/`lastTimestamp`;
//! `eventTime`, `type`, `reason`, `action`, `related`, `series` and `reportingInstance` keep
//! their names.

use serde_json::{Map, Value};

/// The stored resource ([`super::resources::ResourceType::key`]) of `events.k8s.io` Events.
pub(crate) const EVENTS_K8S_IO: &str = "events.k8s.io/events";

/// An `events.k8s.io/v1` Event as core `v1` serves it.
pub(crate) fn to_core(event: &Value) -> Value {
    let mut core = Map::new();
    core.insert("apiVersion".into(), "v1".into());
    core.insert("kind".into(), "Event".into());
    const RENAMED: [(&str, &str); 8] = [
        ("metadata", "metadata"),
        ("note", "message"),
        ("regarding", "involvedObject"),
        ("reportingController", "reportingComponent"),
        ("deprecatedSource", "source"),
        ("deprecatedCount", "count"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
    ];
    const KEPT: [&str; 8] = [
        "eventTime",
        "type",
        "reason",
        "action",
        "related",
        "series",
        "reportingInstance",
        "reportingComponent",
    ];
    for (from, to) in RENAMED {
        if let Some(value) = event.get(from).filter(|v| !v.is_null()) {
            core.insert(to.into(), value.clone());
        }
    }
    for field in KEPT {
        if core.contains_key(field) {
            continue;
        }
        if let Some(value) = event.get(field).filter(|v| !v.is_null()) {
            core.insert(field.into(), value.clone());
        }
    }
    Value::Object(core)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_mapped_as_the_api_server_converts_them() {
        let event = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "ns"},
            "note": "synced", "reason": "Synced", "type": "Normal", "action": "Sync",
            "regarding": {"kind": "SecretSync", "name": "app"},
            "reportingController": "keyway", "reportingInstance": "keyway-0",
            "deprecatedSource": {"component": "keyway"}, "deprecatedCount": 2,
            "eventTime": "2026-01-01T00:00:00.000000Z",
        });
        assert_eq!(
            to_core(&event),
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "e", "namespace": "ns"},
                "message": "synced", "reason": "Synced", "type": "Normal", "action": "Sync",
                "involvedObject": {"kind": "SecretSync", "name": "app"},
                "reportingComponent": "keyway", "reportingInstance": "keyway-0",
                "source": {"component": "keyway"}, "count": 2,
                "eventTime": "2026-01-01T00:00:00.000000Z",
            })
        );
    }
}
