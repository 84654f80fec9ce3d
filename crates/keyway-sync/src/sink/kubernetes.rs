//! A Kubernetes Secret as a sink (feature `kubernetes`): written by server-side apply with the
//! field manager `keyway`, labelled `secrets-store.sync.x-k8s.io`, owned by its SecretSync, and
//! never taking over a Secret keyway does not manage.

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use crate::error::{Result, SyncError};
use crate::model::secret_sync::SecretSync;
use crate::sink::{Applied, FileSet, SecretSink};

/// The label every Secret keyway writes carries (the Secret Store extension's).
pub const MANAGED_LABEL: &str = "secrets-store.sync.x-k8s.io";
/// The field manager of keyway's server-side applies.
pub const FIELD_MANAGER: &str = "keyway";
const HASH_ANNOTATION: &str = "keyway.io/content-hash";
const TLS_KEYS: [&str; 2] = ["tls.crt", "tls.key"];

/// Writes synced data into one Kubernetes Secret.
pub struct KubernetesSecretSink {
    api: Api<Secret>,
    namespace: String,
    name: String,
    secret_type: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    owner: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
    adopt: bool,
    last_hash: Mutex<Option<String>>,
}

impl std::fmt::Debug for KubernetesSecretSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesSecretSink")
            .field("secret", &format_args!("{}/{}", self.namespace, self.name))
            .field("type", &self.secret_type)
            .finish_non_exhaustive()
    }
}

impl KubernetesSecretSink {
    /// A sink for the Opaque Secret `namespace/name`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> KubernetesSecretSink {
        KubernetesSecretSink {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name: name.to_string(),
            secret_type: "Opaque".into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            owner: None,
            adopt: false,
            last_hash: Mutex::new(None),
        }
    }

    /// The sink a SecretSync describes: its name and namespace, type, labels and annotations
    /// (keys under `secrets-store.sync.x-k8s.io` refused), and one ownerReference to it.
    pub fn for_secret_sync(
        client: kube::Client,
        secret_sync: &SecretSync,
    ) -> Result<KubernetesSecretSink> {
        let namespace = secret_sync.namespace().ok_or_else(|| {
            SyncError::invalid("metadata.namespace", "is required for a SecretSync")
        })?;
        let name = secret_sync.name_any();
        let object = &secret_sync.spec.secret_object;
        for (field, map) in [
            ("labels", &object.labels),
            ("annotations", &object.annotations),
        ] {
            if let Some(key) = map
                .iter()
                .flatten()
                .map(|(k, _)| k)
                .find(|k| k.starts_with(MANAGED_LABEL))
            {
                return Err(SyncError::invalid(
                    format!("spec.secretObject.{field}"),
                    format!("{key:?}: keys under {MANAGED_LABEL} are reserved for the controller"),
                ));
            }
        }
        let owner = secret_sync.controller_owner_ref(&()).ok_or_else(|| {
            SyncError::invalid(
                "metadata.uid",
                "the SecretSync must exist in the cluster (it has no uid) to own its Secret",
            )
        })?;
        let mut sink = KubernetesSecretSink::new(client, &namespace, &name);
        sink.secret_type = object.type_.clone();
        sink.labels = object.labels.clone().unwrap_or_default();
        sink.annotations = object.annotations.clone().unwrap_or_default();
        sink.owner = Some(owner);
        Ok(sink)
    }

    /// Take over an existing Secret keyway does not manage (off by default).
    pub fn adopt(mut self, adopt: bool) -> KubernetesSecretSink {
        self.adopt = adopt;
        self
    }

    /// Whether keyway manages `existing` for this owner: the managed label, and (when the sink
    /// has an owner) its ownerReference.
    fn is_ours(&self, existing: &Secret) -> bool {
        existing.labels().contains_key(MANAGED_LABEL)
            && self.owner.as_ref().is_none_or(|owner| {
                existing
                    .owner_references()
                    .iter()
                    .any(|r| r.uid == owner.uid)
            })
    }

    fn failure(&self, reason: impl Into<String>) -> SyncError {
        SyncError::Sink {
            target: format!("Secret {}/{}", self.namespace, self.name),
            reason: reason.into(),
        }
    }
}

#[async_trait::async_trait]
impl SecretSink for KubernetesSecretSink {
    async fn apply(&self, set: &FileSet) -> Result<Applied> {
        if self.secret_type == "kubernetes.io/tls"
            && let Some(key) = set.files.keys().find(|k| !TLS_KEYS.contains(&k.as_str()))
        {
            return Err(SyncError::invalid(
                "spec.secretObject.data",
                format!("a kubernetes.io/tls Secret holds only tls.crt and tls.key, not {key:?}"),
            ));
        }
        let hash = set.content_hash();
        if self
            .last_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_deref()
            == Some(hash.as_str())
        {
            return Ok(Applied::Unchanged);
        }
        let existing = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.failure(e.to_string()))?;
        if let Some(existing) = &existing {
            if !self.is_ours(existing) && !self.adopt {
                return Err(self.failure("it exists and keyway does not manage it (no secrets-store.sync.x-k8s.io label or another owner); delete it or allow adoption"));
            }
            if existing.annotations().get(HASH_ANNOTATION) == Some(&hash) {
                *self.last_hash.lock().unwrap_or_else(|p| p.into_inner()) = Some(hash);
                return Ok(Applied::Unchanged);
            }
        }
        let mut labels = self.labels.clone();
        labels.insert(MANAGED_LABEL.into(), String::new());
        let mut annotations = self.annotations.clone();
        annotations.insert(HASH_ANNOTATION.into(), hash.clone());
        let data: BTreeMap<&String, String> = set
            .files
            .iter()
            .map(|(key, file)| {
                (
                    key,
                    base64::engine::general_purpose::STANDARD.encode(&*file.contents),
                )
            })
            .collect();
        let mut metadata = json!({"name": self.name, "namespace": self.namespace, "labels": labels, "annotations": annotations});
        if let Some(owner) = &self.owner {
            metadata["ownerReferences"] = json!([owner]);
        }
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": self.secret_type, "data": data});
        self.api
            .patch(
                &self.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&secret),
            )
            .await
            .map_err(|e| self.failure(e.to_string()))?;
        *self.last_hash.lock().unwrap_or_else(|p| p.into_inner()) = Some(hash);
        Ok(Applied::Written)
    }

    /// The Secret's data, when it exists and keyway manages it (a foreign Secret holds nothing
    /// of ours).
    async fn current(&self) -> Result<FileSet> {
        let existing = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.failure(e.to_string()))?;
        let Some(existing) = existing else {
            return Ok(FileSet::default());
        };
        if !self.is_ours(&existing) && !self.adopt {
            return Ok(FileSet::default());
        }
        let files = existing
            .data
            .into_iter()
            .flatten()
            .map(|(key, value)| {
                (
                    key,
                    crate::sink::SyncedFile {
                        contents: zeroize::Zeroizing::new(value.0),
                        mode: None,
                    },
                )
            })
            .collect();
        Ok(FileSet { files })
    }
}
