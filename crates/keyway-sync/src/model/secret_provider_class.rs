//! `SecretProviderClass` (`secrets-store.csi.x-k8s.io/v1`), as the Secrets Store CSI driver and
//! the Secret Store extension read it.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The spec of a SecretProviderClass. `parameters` are provider-specific strings; for the
/// `azure` provider see [`crate::SyncSpec::from_provider_class`].
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "secrets-store.csi.x-k8s.io",
    version = "v1",
    kind = "SecretProviderClass",
    plural = "secretproviderclasses",
    namespaced
)]
#[serde(rename_all = "camelCase")]
pub struct SecretProviderClassSpec {
    /// The provider, `azure` here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Provider parameters, all strings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// The CSI driver's own Secret mirroring; accepted and ignored by SecretSync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_objects: Option<Vec<serde_json::Value>>,
}
