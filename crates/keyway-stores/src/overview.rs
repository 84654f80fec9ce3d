//! Every SecretSync of the namespace at a glance ([`Stores::sync_overview`]): what it maps,
//! what its controller reports, and the synced Secret's key names and sizes — never a value.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use keyway_sync::SecretSync;
use serde::Serialize;
use time::OffsetDateTime;

use crate::config::Store;
use crate::error::Result;
use crate::stores::Stores;

/// One status condition of a SecretSync, as its controller wrote it (the controller never puts
/// a value in a message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncCondition {
    /// The condition's type (e.g. `SecretSynced`).
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Its reason, a CamelCase word (e.g. `UpdateNoValueChangeSucceeded`).
    pub reason: String,
    /// Its message.
    pub message: String,
    /// When its status last changed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_transition_time: Option<OffsetDateTime>,
}

/// One mapping of a SecretSync: the Secret key written from a SecretProviderClass object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncMapping {
    /// The key in the Secret (`targetKey`).
    pub target_key: String,
    /// The object output it is read from (`sourcePath`, the Key Vault secret's name or alias).
    pub source_path: String,
}

/// A SecretSync of the namespace at a glance: never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncOverview {
    /// The SecretSync's name (and its Secret's).
    pub name: String,
    /// The certificate store it is, if it is one of the configured stores.
    pub store: Option<Store>,
    /// The SecretProviderClass it reads.
    pub secret_provider_class: String,
    /// The type of the Secret it writes (`Opaque`, `kubernetes.io/tls`, ...).
    pub secret_type: String,
    /// Its mappings, in order.
    pub mappings: Vec<SyncMapping>,
    /// Its status conditions, as reported (empty before the first report).
    pub conditions: Vec<SyncCondition>,
    /// When it last synced successfully: the status's `lastSuccessfulSyncTime`, else the
    /// latest transition of a `True` condition; `None` when it never did (as far as the
    /// status tells).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_successful_sync: Option<OffsetDateTime>,
    /// The synced Secret's key names and the size of each value in bytes; `None` when there is
    /// no Secret yet, or the target cannot see Secrets (Azure Resource Manager).
    pub secret_keys: Option<BTreeMap<String, usize>>,
}

fn timestamp(time: &Time) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(time.0.as_nanosecond()).ok()
}

fn condition(c: &Condition) -> SyncCondition {
    SyncCondition {
        type_: c.type_.clone(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        last_transition_time: timestamp(&c.last_transition_time),
    }
}

/// `sync` at a glance, with its Secret's `secret_keys`.
fn overview_of(
    sync: &SecretSync,
    store: Option<Store>,
    secret_keys: Option<BTreeMap<String, usize>>,
) -> SyncOverview {
    let status = sync.status.as_ref();
    let conditions: Vec<SyncCondition> = status
        .and_then(|s| s.conditions.as_ref())
        .map(|c| c.iter().map(condition).collect())
        .unwrap_or_default();
    let last_successful_sync = status
        .and_then(|s| s.last_successful_sync_time.as_ref())
        .and_then(timestamp)
        .or_else(|| {
            conditions
                .iter()
                .filter(|c| c.status == "True")
                .filter_map(|c| c.last_transition_time)
                .max()
        });
    SyncOverview {
        name: sync.metadata.name.clone().unwrap_or_default(),
        store,
        secret_provider_class: sync.spec.secret_provider_class_name.clone(),
        secret_type: sync.spec.secret_object.type_.clone(),
        mappings: sync
            .spec
            .secret_object
            .data
            .iter()
            .map(|d| SyncMapping {
                target_key: d.target_key.clone(),
                source_path: d.source_path.clone(),
            })
            .collect(),
        conditions,
        last_successful_sync,
        secret_keys,
    }
}

impl Stores {
    /// Every SecretSync of the namespace (the stores' and any other), by name: its
    /// SecretProviderClass, Secret type, mappings, status conditions, last successful sync,
    /// and the synced Secret's key names and value sizes ([`crate::StoreTarget::synced_key_sizes`])
    /// — never a value. Reads only.
    pub async fn sync_overview(&self) -> Result<Vec<SyncOverview>> {
        let mut syncs = self.target.secret_syncs().await?;
        syncs.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let mut out = Vec::with_capacity(syncs.len());
        for sync in &syncs {
            let name = sync.metadata.name.clone().unwrap_or_default();
            let sizes = self.target.synced_key_sizes(&name).await?;
            out.push(overview_of(sync, self.config.store_of(&name), sizes));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use keyway_sync::{SecretObject, SecretObjectData, SecretSyncSpec, SecretSyncStatus};

    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn cond(status: &str, seconds: i64) -> Condition {
        Condition {
            type_: "SecretSynced".into(),
            status: status.into(),
            reason: "R".into(),
            message: "m".into(),
            last_transition_time: at(seconds),
            observed_generation: None,
        }
    }

    #[test]
    fn last_successful_sync_is_the_status_time_else_the_latest_true_condition() {
        let mut sync = SecretSync::new(
            "s",
            SecretSyncSpec {
                secret_provider_class_name: "spc".into(),
                secret_object: SecretObject {
                    type_: "Opaque".into(),
                    data: vec![SecretObjectData {
                        source_path: "a".into(),
                        target_key: "a.der".into(),
                    }],
                    ..SecretObject::default()
                },
                ..SecretSyncSpec::default()
            },
        );
        let none = overview_of(&sync, None, None);
        assert_eq!(none.last_successful_sync, None);
        assert!(none.conditions.is_empty());
        sync.status = Some(SecretSyncStatus {
            conditions: Some(vec![
                cond("True", 100),
                cond("True", 300),
                cond("False", 400),
            ]),
            ..Default::default()
        });
        let from_conditions = overview_of(&sync, None, None);
        assert_eq!(
            from_conditions.last_successful_sync,
            OffsetDateTime::from_unix_timestamp(300).ok()
        );
        assert_eq!(from_conditions.conditions.len(), 3);
        sync.status.as_mut().unwrap().last_successful_sync_time = Some(at(200));
        let json = serde_json::to_value(overview_of(&sync, None, None)).unwrap();
        assert_eq!(json["last_successful_sync"], "1970-01-01T00:03:20Z");
        assert_eq!(json["conditions"][2]["type"], "SecretSynced");
        assert_eq!(json["mappings"][0]["target_key"], "a.der");
    }
}
