//! `SecretSync` (`secret-sync.x-k8s.io/v1alpha1`), the Secret Store extension's model: which
//! SecretProviderClass objects land in which keys of which Kubernetes Secret.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The spec of a SecretSync.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "secret-sync.x-k8s.io",
    version = "v1alpha1",
    kind = "SecretSync",
    plural = "secretsyncs",
    namespaced,
    status = "SecretSyncStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncSpec {
    /// The SecretProviderClass in the same namespace.
    pub secret_provider_class_name: String,
    /// The service account whose token is exchanged for Key Vault access.
    pub service_account_name: String,
    /// The Secret to write.
    pub secret_object: SecretObject,
    /// Any change of this value forces a resync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_synchronization: Option<String>,
    /// The controller meant to handle this SecretSync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sync_controller_name: Option<String>,
}

/// The Secret a SecretSync writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretObject {
    /// The Secret type (default `Opaque`).
    #[serde(rename = "type", default = "opaque")]
    pub type_: String,
    /// Which object goes to which key (at least one; target keys unique).
    pub data: Vec<SecretObjectData>,
    /// Labels for the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations for the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

fn opaque() -> String {
    "Opaque".into()
}

/// One key of the Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretObjectData {
    /// The object's output name in the SecretProviderClass (alias, else name; `name/0` for
    /// version history).
    pub source_path: String,
    /// The key in the Secret.
    pub target_key: String,
}

/// What the controller reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncStatus {
    /// A hash of what was last synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_hash: Option<String>,
    /// When the last successful sync finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_sync_time: Option<Time>,
    /// Conditions in the Secret Store extension's vocabulary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}
