//! The cluster side behind a trait, [`StoreTarget`]: read and server-side apply the
//! SecretProviderClass and SecretSync custom resources, and tell what a synced Secret holds (as
//! digests, never values). [`KubernetesTarget`] implements it on the Kubernetes API,
//! [`crate::ArmTarget`] on Azure Resource Manager (`Microsoft.SecretSyncController/...`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use keyway_sync::{KeyVaultObject, SecretProviderClass, SecretSync};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};

use crate::error::{Result, StoreError};
use crate::plan::ConnectorSettings;

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "keyway";

/// A SHA-256 digest of one synced value.
pub type Digest = [u8; 32];

/// SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> Digest {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Where the stores' SecretProviderClass and SecretSyncs live: one namespace of a cluster,
/// reached through the Kubernetes API or Azure Resource Manager.
#[async_trait]
pub trait StoreTarget: Send + Sync {
    /// The namespace (Kubernetes) or custom location (ARM) served, for messages.
    fn describe(&self) -> String;

    /// Every SecretProviderClass.
    async fn provider_classes(&self) -> Result<Vec<SecretProviderClass>>;

    /// The SecretProviderClass `name`, if it exists.
    async fn provider_class(&self, name: &str) -> Result<Option<SecretProviderClass>>;

    /// Creates or updates `class` (by its name), owning the fields it sets. When `class`
    /// carries a `resourceVersion` (the one read), a class changed since is a conflict.
    async fn apply_provider_class(&self, class: &SecretProviderClass) -> Result<()>;

    /// Every SecretSync.
    async fn secret_syncs(&self) -> Result<Vec<SecretSync>>;

    /// The SecretSync `name` (with its status), if it exists.
    async fn secret_sync(&self, name: &str) -> Result<Option<SecretSync>>;

    /// Creates or updates `sync` (by its name), owning the fields it sets; a `resourceVersion`
    /// is a precondition as for [`StoreTarget::apply_provider_class`].
    async fn apply_secret_sync(&self, sync: &SecretSync) -> Result<()>;

    /// Deletes the SecretSync `name`; an absent one is not an error.
    async fn delete_secret_sync(&self, name: &str) -> Result<()>;

    /// What the synced Secret `name` holds, as a SHA-256 digest per key; `None` when there is
    /// no such Secret. A target that cannot see the Secret (ARM) answers `Ok(None)`, and sync
    /// states then come from the SecretSync's status alone.
    async fn synced_digests(&self, name: &str) -> Result<Option<BTreeMap<String, Digest>>>;

    /// The key names of the synced Secret `name` with the size of each value in bytes (never a
    /// value); `None` when there is no such Secret, or the target cannot see it (ARM, the
    /// default).
    async fn synced_key_sizes(&self, name: &str) -> Result<Option<BTreeMap<String, usize>>> {
        let _ = name;
        Ok(None)
    }

    /// Whether the namespace served exists: `Some(false)` only when the cluster says it does
    /// not. `None` when the target cannot tell (the default; ARM, whose namespace is the
    /// instance's own; a caller without the right to read namespaces). Asked only to explain
    /// a namespace without the instance's SecretProviderClass.
    async fn namespace_exists(&self) -> Option<bool> {
        None
    }

    /// Whether [`StoreTarget::synced_digests`] can see the synced Secrets. When not (ARM),
    /// sync states are what the SecretSync's status reports ([`crate::SyncState::reported`]).
    fn shows_secrets(&self) -> bool {
        true
    }

    /// Why [`StoreTarget::apply_connector_settings`] would fail, if it would: checked when a
    /// client certificate is planned, so such a plan is refused before any write.
    fn check_connector_settings(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    /// Applies the OPC UA connector's settings where this target can: on Azure Resource
    /// Manager, the IoT Operations extension's configuration settings, sending only the keys
    /// whose values differ. Returns the keys changed (empty: already so), or `None` when the
    /// target cannot apply them (Kubernetes: the operator runs
    /// [`ConnectorSettings::az_command`]).
    async fn apply_connector_settings(
        &self,
        settings: &ConnectorSettings,
    ) -> Result<Option<Vec<String>>> {
        let _ = settings;
        Ok(None)
    }
}

/// [`StoreTarget`] on the Kubernetes API: the custom resources in one namespace, server-side
/// apply with field manager [`FIELD_MANAGER`].
#[derive(Clone)]
pub struct KubernetesTarget {
    client: Client,
    namespace: String,
}

impl std::fmt::Debug for KubernetesTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesTarget")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl KubernetesTarget {
    /// The custom resources of `namespace` through `client`.
    pub fn new(client: Client, namespace: impl Into<String>) -> KubernetesTarget {
        KubernetesTarget {
            client,
            namespace: namespace.into(),
        }
    }

    fn what(&self, kind: &str, name: &str) -> String {
        format!("{kind} {}/{name}", self.namespace)
    }

    /// The Secret `name`, if it exists (read to digest or measure its values, never kept).
    async fn synced_secret(&self, name: &str) -> Result<Option<Secret>> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        api.get_opt(name)
            .await
            .map_err(|e| StoreError::kube(format!("reading {}", self.what("Secret", name)), e))
    }

    /// Server-side applies `body`, the `kind` resource `name` of the namespace.
    async fn apply<K>(&self, kind: &str, name: &str, body: &K) -> Result<()>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::Serialize
            + serde::de::DeserializeOwned,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.namespace);
        api.patch(name, &apply_params(), &Patch::Apply(body))
            .await
            .map_err(|e| StoreError::kube(format!("applying {}", self.what(kind, name)), e))?;
        Ok(())
    }
}

fn apply_params() -> PatchParams {
    // Forced: the connector's resources may have been made by another tool (az, kubectl); the
    // stores own the fields they set from here on.
    PatchParams::apply(FIELD_MANAGER).force()
}

#[async_trait]
impl StoreTarget for KubernetesTarget {
    fn describe(&self) -> String {
        format!("namespace {}", self.namespace)
    }

    async fn namespace_exists(&self) -> Option<bool> {
        // Any failure (a 403 for a caller who may not read namespaces, a network error) is
        // "cannot tell": the caller then says what it would have said without asking.
        Api::<Namespace>::all(self.client.clone())
            .get_opt(&self.namespace)
            .await
            .ok()
            .map(|namespace| namespace.is_some())
    }

    async fn provider_classes(&self) -> Result<Vec<SecretProviderClass>> {
        let api: Api<SecretProviderClass> = Api::namespaced(self.client.clone(), &self.namespace);
        Ok(api
            .list(&ListParams::default())
            .await
            .map_err(|e| {
                StoreError::kube(
                    format!("listing SecretProviderClasses in {}", self.namespace),
                    e,
                )
            })?
            .items)
    }

    async fn provider_class(&self, name: &str) -> Result<Option<SecretProviderClass>> {
        let api: Api<SecretProviderClass> = Api::namespaced(self.client.clone(), &self.namespace);
        api.get_opt(name).await.map_err(|e| {
            StoreError::kube(
                format!("reading {}", self.what("SecretProviderClass", name)),
                e,
            )
        })
    }

    async fn apply_provider_class(&self, class: &SecretProviderClass) -> Result<()> {
        let name = class.metadata.name.clone().unwrap_or_default();
        let mut body = SecretProviderClass::new(&name, class.spec.clone());
        body.metadata.resource_version = class.metadata.resource_version.clone();
        self.apply("SecretProviderClass", &name, &body).await
    }

    async fn secret_syncs(&self) -> Result<Vec<SecretSync>> {
        let api: Api<SecretSync> = Api::namespaced(self.client.clone(), &self.namespace);
        Ok(api
            .list(&ListParams::default())
            .await
            .map_err(|e| StoreError::kube(format!("listing SecretSyncs in {}", self.namespace), e))?
            .items)
    }

    async fn secret_sync(&self, name: &str) -> Result<Option<SecretSync>> {
        let api: Api<SecretSync> = Api::namespaced(self.client.clone(), &self.namespace);
        api.get_opt(name)
            .await
            .map_err(|e| StoreError::kube(format!("reading {}", self.what("SecretSync", name)), e))
    }

    async fn apply_secret_sync(&self, sync: &SecretSync) -> Result<()> {
        let name = sync.metadata.name.clone().unwrap_or_default();
        let mut body = SecretSync::new(&name, sync.spec.clone());
        body.metadata.resource_version = sync.metadata.resource_version.clone();
        self.apply("SecretSync", &name, &body).await
    }

    async fn delete_secret_sync(&self, name: &str) -> Result<()> {
        let api: Api<SecretSync> = Api::namespaced(self.client.clone(), &self.namespace);
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(StoreError::kube(
                format!("deleting {}", self.what("SecretSync", name)),
                e,
            )),
        }
    }

    async fn synced_digests(&self, name: &str) -> Result<Option<BTreeMap<String, Digest>>> {
        Ok(self.synced_secret(name).await?.map(|s| {
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, digest(&v.0)))
                .collect()
        }))
    }

    async fn synced_key_sizes(&self, name: &str) -> Result<Option<BTreeMap<String, usize>>> {
        Ok(self.synced_secret(name).await?.map(|s| {
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0.len()))
                .collect()
        }))
    }
}

/// The objects of a SecretProviderClass, parsed by keyway-sync's rules (errors name the field).
pub(crate) fn objects_of(
    class: &SecretProviderClass,
    namespace: &str,
) -> Result<Vec<KeyVaultObject>> {
    let Some(text) = class.spec.parameters.get("objects") else {
        return Ok(Vec::new());
    };
    keyway_sync::parse_objects(text, "spec.parameters.objects").map_err(|e| {
        let (field, reason) = match &e {
            keyway_sync::SyncError::Invalid { path, problem, .. } => {
                (path.clone(), problem.to_string())
            }
            other => ("spec.parameters.objects".to_string(), other.to_string()),
        };
        StoreError::ClusterData {
            resource: format!(
                "SecretProviderClass {namespace}/{}",
                class.metadata.name.as_deref().unwrap_or("")
            ),
            field,
            reason,
        }
    })
}

fn scalar(text: &str) -> String {
    let plain = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}

/// `spec.parameters.objects` as the provider and `az iot ops` write it: `array:` of YAML
/// strings, one object each.
pub(crate) fn render_objects(objects: &[KeyVaultObject]) -> String {
    if objects.is_empty() {
        return "array: []\n".into();
    }
    let mut out = String::from("array:\n");
    for o in objects {
        out.push_str("  - |\n");
        let mut line = |key: &str, value: String| {
            out.push_str(&format!("    {key}: {value}\n"));
        };
        line("objectName", scalar(&o.name));
        if let Some(alias) = &o.alias {
            line("objectAlias", scalar(alias));
        }
        line("objectType", o.object_type.to_string());
        if let Some(version) = &o.version {
            line(
                "objectVersion",
                serde_json::to_string(version).unwrap_or_default(),
            );
        }
        if let Some(history) = o.version_history {
            line("objectVersionHistory", history.to_string());
        }
        if let Some(format) = o.format {
            line(
                "objectFormat",
                match format {
                    keyway_sync::ObjectFormat::Pem => "pem".into(),
                    keyway_sync::ObjectFormat::Pfx => "pfx".into(),
                },
            );
        }
        if let Some(encoding) = o.encoding {
            line("objectEncoding", encoding.to_string());
        }
        if let Some(mode) = o.file_permission {
            line("filePermission", format!("\"{mode:04o}\""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_objects_parse_back_the_same() {
        let mut odd = KeyVaultObject::secret("db-password");
        odd.alias = Some("a b: c".into());
        odd.version = Some("0123".into());
        odd.encoding = Some(keyway_cert::Encoding::Base64);
        odd.file_permission = Some(0o644);
        let mut hex = KeyVaultObject::secret("server-der");
        hex.encoding = Some(keyway_cert::Encoding::Hex);
        assert!(
            keyway_sync::parse_objects(&render_objects(&[]), "objects")
                .unwrap()
                .is_empty()
        );
        let objects = vec![hex, odd, KeyVaultObject::secret("yes")];
        let text = render_objects(&objects);
        let back = keyway_sync::parse_objects(&text, "objects").unwrap();
        assert_eq!(back, objects, "{text}");
    }
}
