//! Sync states, read from the cluster: is what Key Vault holds what the Secret holds?

use std::collections::BTreeMap;
use std::fmt;

use keyway_sync::SecretSync;
use serde::Serialize;

use crate::target::Digest;

/// Whether an entry reached the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum SyncState {
    /// The Kubernetes Secret holds exactly these bytes under the entry's key.
    Synced,
    /// Not (yet) there; `reason` is the SecretSync's condition reason, or what is missing.
    Pending {
        /// Why.
        reason: String,
    },
    /// The SecretSync reports a failure.
    Failed {
        /// Its condition's reason and message.
        reason: String,
    },
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncState::Synced => f.write_str("synced"),
            SyncState::Pending { reason } => write!(f, "pending ({reason})"),
            SyncState::Failed { reason } => write!(f, "failed ({reason})"),
        }
    }
}

impl SyncState {
    /// The state `sync`'s status reports, for a target that cannot see the Secret (Azure
    /// Resource Manager, where the secret sync extension copies the cluster's status): failed
    /// when a condition is `False`; synced when the latest condition is `True` (the extension's
    /// word: the bytes are not compared); else pending with the latest condition's reason.
    pub fn reported(sync: &SecretSync) -> SyncState {
        let conditions = conditions(sync);
        if let Some(failed) = failed(&conditions) {
            return failed;
        }
        match conditions.iter().max_by_key(|c| c.last_transition_time.0) {
            Some(latest) if latest.status == "True" => SyncState::Synced,
            Some(latest) => SyncState::Pending {
                reason: format!(
                    "the extension reports {} ({})",
                    latest.reason, latest.status
                ),
            },
            None => SyncState::Pending {
                reason: "the secret sync extension has reported no sync yet".into(),
            },
        }
    }

    /// The state of `key` of `sync`: synced when `digests` (the Secret's) has `expected` under
    /// `key`; else failed when a condition of the SecretSync is `False`, else pending.
    pub fn of(
        sync: &SecretSync,
        digests: Option<&BTreeMap<String, Digest>>,
        key: &str,
        expected: Option<Digest>,
    ) -> SyncState {
        let held = digests.and_then(|d| d.get(key));
        if let (Some(held), Some(expected)) = (held, expected)
            && *held == expected
        {
            return SyncState::Synced;
        }
        let conditions = conditions(sync);
        if let Some(failed) = failed(&conditions) {
            return failed;
        }
        let reason = match (digests, held, expected) {
            (None, _, _) => "the Secret does not exist yet".to_string(),
            (Some(_), None, _) => format!("the Secret has no key {key} yet"),
            (Some(_), Some(_), None) => "the Key Vault secret could not be read".to_string(),
            (Some(_), Some(_), Some(_)) => "the Secret holds an older value".to_string(),
        };
        let last = conditions
            .iter()
            .max_by_key(|c| c.last_transition_time.0)
            .map(|c| format!("; last condition {}", c.reason))
            .unwrap_or_default();
        SyncState::Pending {
            reason: format!("{reason}{last}"),
        }
    }
}

/// The SecretSync's status conditions (none when it has no status yet).
fn conditions(sync: &SecretSync) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    sync.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
}

/// Failed, with the reason and message of the first `False` condition, if there is one.
fn failed(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Option<SyncState> {
    let failed = conditions.iter().find(|c| c.status == "False")?;
    Some(SyncState::Failed {
        reason: if failed.message.is_empty() {
            failed.reason.clone()
        } else {
            format!("{}: {}", failed.reason, failed.message)
        },
    })
}
