//! [`StoreTarget`] on Azure Resource Manager: the stores' SecretProviderClass and SecretSyncs as
//! `Microsoft.SecretSyncController/azureKeyVaultSecretProviderClasses` and `.../secretSyncs`
//! (api-version 2024-08-21-preview) in the instance's resource group, each with the IoT
//! Operations instance's custom location as its `extendedLocation` — what `az iot ops` makes
//! and the secret sync extension turns into the custom resources on the cluster. The client
//! certificate's connector settings go to the IoT Operations extension's
//! `configurationSettings`, only the keys whose values differ.
//!
//! ARM goes through keyway-cluster's [`ArmClient`] (the azure_core pipeline `keyway cluster
//! plan --apply` uses), with any `TokenCredential`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::Method;
use keyway_cluster::ClusterError;
use keyway_cluster::apply::ApplyOptions;
use keyway_cluster::arm::ArmClient;
use keyway_sync::{
    SecretObject, SecretObjectData, SecretProviderClass, SecretProviderClassSpec, SecretSync,
    SecretSyncSpec, SecretSyncStatus,
};
use serde_json::{Value, json};

use crate::error::{Result, StoreError};
use crate::plan::ConnectorSettings;
use crate::target::{Digest, StoreTarget};

/// The api-version of the secret sync resource types.
pub const SECRET_SYNC_API_VERSION: &str = "2024-08-21-preview";
const INSTANCE_API_VERSION: &str = "2024-11-01";
const CUSTOM_LOCATION_API_VERSION: &str = "2021-08-31-preview";
const EXTENSION_API_VERSION: &str = "2023-05-01";
/// The IoT Operations extension's `extensionType`.
pub const IOT_OPERATIONS_EXTENSION_TYPE: &str = "microsoft.iotoperations";

const SPC_KIND: &str = "azureKeyVaultSecretProviderClasses";
const SYNC_KIND: &str = "secretSyncs";

/// [`StoreTarget`] on Azure Resource Manager for one Azure IoT Operations instance, addressed
/// by subscription, resource group and instance name ([`ArmTarget::connect`] reads the
/// instance's custom location, its namespace on the cluster and its extension).
#[derive(Debug, Clone)]
pub struct ArmTarget {
    client: ArmClient,
    resource_group: String,
    group_id: String,
    instance: String,
    location: String,
    custom_location_id: String,
    namespace: String,
    extension_id: Option<String>,
    /// Why the extensions could not be listed, if they could not (the stores still work; only
    /// the connector settings need the extension).
    extension_error: Option<String>,
}

fn check_segment(field: &str, value: &str) -> Result<()> {
    let bad = value.is_empty()
        || value.len() > 90
        || value
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "/?#%&".contains(c));
    if bad {
        return Err(StoreError::invalid(
            field,
            format!(
                "{value:?} is not a usable ARM name: 1 to 90 characters, no '/', '?', '#', '%', \
                 '&' or spaces"
            ),
        ));
    }
    Ok(())
}

fn cluster_error(operation: impl Into<String>, error: ClusterError) -> StoreError {
    match error {
        ClusterError::Arm {
            status, message, ..
        } => StoreError::Cluster {
            operation: operation.into(),
            status,
            message,
        },
        other => StoreError::Cluster {
            operation: operation.into(),
            status: None,
            message: other.to_string(),
        },
    }
}

fn arm_message(body: &Value) -> String {
    format!(
        "{}: {}",
        body["error"]["code"].as_str().unwrap_or("error"),
        body["error"]["message"].as_str().unwrap_or_default()
    )
}

impl ArmTarget {
    /// Reads the instance `instance` of `resource_group` in `subscription` through ARM
    /// (`options.endpoint`, tokens from `credential`): its custom location (the
    /// `extendedLocation` of every resource made), that location's namespace on the cluster,
    /// and the IoT Operations extension on the cluster it hosts.
    pub async fn connect(
        credential: Arc<dyn TokenCredential>,
        options: ApplyOptions,
        subscription: &str,
        resource_group: &str,
        instance: &str,
    ) -> Result<ArmTarget> {
        check_segment("subscription", subscription)?;
        check_segment("resource group", resource_group)?;
        check_segment("instance", instance)?;
        let client = ArmClient::new(credential, options);
        let group_id = format!("/subscriptions/{subscription}/resourceGroups/{resource_group}");
        let instance_id =
            format!("{group_id}/providers/Microsoft.IoTOperations/instances/{instance}");
        let what = format!(
            "reading IoT Operations instance {instance} in resource group {resource_group}"
        );
        let body = get(&client, &what, &instance_id, INSTANCE_API_VERSION)
            .await?
            .ok_or_else(|| StoreError::Cluster {
                operation: what.clone(),
                status: Some(404),
                message: format!(
                    "there is no IoT Operations instance {instance} in resource group \
                     {resource_group} of subscription {subscription}: check the names (`az iot \
                     ops list --resource-group {resource_group}`)"
                ),
            })?;
        let resource = format!("IoT Operations instance {instance}");
        let custom_location_id = body["extendedLocation"]["name"]
            .as_str()
            .ok_or_else(|| StoreError::ClusterData {
                resource: resource.clone(),
                field: "extendedLocation.name".into(),
                reason: "missing: the instance names no custom location".into(),
            })?
            .to_string();
        let location = body["location"].as_str().unwrap_or_default().to_string();
        let what = format!("reading custom location {custom_location_id}");
        let place = get(
            &client,
            &what,
            &custom_location_id,
            CUSTOM_LOCATION_API_VERSION,
        )
        .await?
        .ok_or_else(|| StoreError::Cluster {
            operation: what.clone(),
            status: Some(404),
            message: "the instance's custom location does not exist".into(),
        })?;
        let field = |name: &str| {
            place["properties"][name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| StoreError::ClusterData {
                    resource: format!("custom location {custom_location_id}"),
                    field: format!("properties.{name}"),
                    reason: "missing".into(),
                })
        };
        let namespace = field("namespace")?;
        let host = field("hostResourceId")?;
        let what = format!("listing the extensions of {host}");
        let path = format!(
            "{host}/providers/Microsoft.KubernetesConfiguration/extensions?api-version={EXTENSION_API_VERSION}"
        );
        // Listing extensions needs a right on the cluster that managing the stores does not:
        // a refusal here only matters to the connector settings.
        let (extensions, extension_error) = match list(&client, &what, &path).await {
            Ok(extensions) => (extensions, None),
            Err(e) if !e.is_unreachable() => (Vec::new(), Some(e.to_string())),
            Err(e) => return Err(e),
        };
        let extension_id = extensions
            .iter()
            .find(|e| {
                e["properties"]["extensionType"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(IOT_OPERATIONS_EXTENSION_TYPE))
            })
            .and_then(|e| e["id"].as_str())
            .map(str::to_string);
        Ok(ArmTarget {
            client,
            resource_group: resource_group.to_string(),
            group_id,
            instance: instance.to_string(),
            location,
            custom_location_id,
            namespace,
            extension_id,
            extension_error,
        })
    }

    /// The namespace the instance's custom location maps to on the cluster (the stores'
    /// `StoreConfig::in_namespace`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The instance's custom location, the `extendedLocation` of every resource written.
    pub fn custom_location_id(&self) -> &str {
        &self.custom_location_id
    }

    /// The IoT Operations extension the connector settings go to, if the cluster has one.
    pub fn extension_id(&self) -> Option<&str> {
        self.extension_id.as_deref()
    }

    fn no_extension(&self) -> String {
        self.extension_error.clone().unwrap_or_else(|| {
            format!(
                "the cluster of custom location {} has no IoT Operations extension \
                 (extensionType {IOT_OPERATIONS_EXTENSION_TYPE})",
                self.custom_location_id
            )
        })
    }

    fn path(&self, kind: &str, name: Option<&str>) -> String {
        let name = name.map(|n| format!("/{n}")).unwrap_or_default();
        format!(
            "{}/providers/Microsoft.SecretSyncController/{kind}{name}?api-version={SECRET_SYNC_API_VERSION}",
            self.group_id
        )
    }

    fn what(&self, kind: &str, name: &str) -> String {
        format!("{kind} {name} (resource group {})", self.resource_group)
    }

    fn ours(&self, resource: &Value) -> bool {
        resource["extendedLocation"]["name"]
            .as_str()
            .is_some_and(|l| l.eq_ignore_ascii_case(&self.custom_location_id))
    }

    /// Every resource of `kind` in the group on this instance's custom location.
    async fn list_kind(&self, kind: &str) -> Result<Vec<Value>> {
        let what = format!("listing {kind} in resource group {}", self.resource_group);
        Ok(list(&self.client, &what, &self.path(kind, None))
            .await?
            .into_iter()
            .filter(|r| self.ours(r))
            .collect())
    }

    /// The resource `kind`/`name`; one on another custom location is an error (writing it
    /// would move another cluster's resource).
    async fn read(&self, kind: &str, name: &str) -> Result<Option<Value>> {
        let what = format!("reading {}", self.what(kind, name));
        let path = self.path(kind, Some(name));
        let (status, body) = self
            .client
            .send(Method::Get, &path, None)
            .await
            .map_err(|e| cluster_error(&what, e))?;
        match status {
            200 => {
                if !self.ours(&body) {
                    return Err(StoreError::ClusterData {
                        resource: self.what(kind, name),
                        field: "extendedLocation.name".into(),
                        reason: format!(
                            "{} is not instance {}'s custom location {}: the name is taken by \
                             another cluster's resource; use other names \
                             (StoreConfig) or another resource group",
                            body["extendedLocation"]["name"]
                                .as_str()
                                .unwrap_or("(none)"),
                            self.instance,
                            self.custom_location_id
                        ),
                    });
                }
                Ok(Some(body))
            }
            404 => Ok(None),
            _ => Err(StoreError::Cluster {
                operation: what,
                status: Some(status),
                message: arm_message(&body),
            }),
        }
    }

    /// PUTs `properties` as `kind`/`name`, with `etag` as an If-Match precondition.
    async fn put(
        &self,
        kind: &str,
        name: &str,
        properties: Value,
        etag: Option<&str>,
    ) -> Result<()> {
        let what = format!("writing {}", self.what(kind, name));
        let body = json!({
            "location": self.location,
            "extendedLocation": {"name": self.custom_location_id, "type": "CustomLocation"},
            "properties": properties,
        });
        let (status, answer) = self
            .client
            .send_if_match(Method::Put, &self.path(kind, Some(name)), Some(&body), etag)
            .await
            .map_err(|e| cluster_error(&what, e))?;
        match status {
            200..=202 => Ok(()),
            // The trait's conflict: changed since read.
            409 | 412 => Err(StoreError::Cluster {
                operation: what,
                status: Some(409),
                message: format!(
                    "{} (HTTP {status}); it changed since it was read (another change at the \
                     same time): plan again (secrets already written are found unchanged and \
                     not written twice)",
                    arm_message(&answer)
                ),
            }),
            _ => Err(StoreError::Cluster {
                operation: what,
                status: Some(status),
                message: arm_message(&answer),
            }),
        }
    }
}

async fn get(client: &ArmClient, what: &str, id: &str, version: &str) -> Result<Option<Value>> {
    let (status, body) = client
        .send(Method::Get, &format!("{id}?api-version={version}"), None)
        .await
        .map_err(|e| cluster_error(what, e))?;
    match status {
        200 => Ok(Some(body)),
        404 => Ok(None),
        _ => Err(StoreError::Cluster {
            operation: what.to_string(),
            status: Some(status),
            message: arm_message(&body),
        }),
    }
}

/// Every item of an ARM list, following `nextLink`s (at most 100 pages).
async fn list(client: &ArmClient, what: &str, path: &str) -> Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut next = Some(path.to_string());
    let mut pages = 0;
    while let Some(path) = next.take() {
        pages += 1;
        let (status, body) = client
            .send(Method::Get, &path, None)
            .await
            .map_err(|e| cluster_error(what, e))?;
        if status != 200 {
            return Err(StoreError::Cluster {
                operation: what.to_string(),
                status: Some(status),
                message: arm_message(&body),
            });
        }
        items.extend(body["value"].as_array().cloned().unwrap_or_default());
        next = body["nextLink"]
            .as_str()
            .and_then(|link| azure_core::http::Url::parse(link).ok())
            .map(|url| match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            })
            .filter(|_| pages < 100);
    }
    Ok(items)
}

/// The SecretProviderClass the ARM resource stands for (`clientId` as the provider's
/// `clientID`), its etag as resourceVersion.
fn provider_class_of(resource: &Value) -> SecretProviderClass {
    let properties = &resource["properties"];
    let mut parameters = BTreeMap::new();
    for (arm, parameter) in [
        ("keyvaultName", "keyvaultName"),
        ("clientId", "clientID"),
        ("tenantId", "tenantId"),
        ("objects", "objects"),
    ] {
        if let Some(value) = properties[arm].as_str() {
            parameters.insert(parameter.to_string(), value.to_string());
        }
    }
    let mut class = SecretProviderClass::new(
        resource["name"].as_str().unwrap_or_default(),
        SecretProviderClassSpec {
            provider: Some("azure".into()),
            parameters,
            secret_objects: None,
        },
    );
    class.metadata.resource_version = resource["etag"].as_str().map(str::to_string);
    class
}

/// The ARM properties of `class`; a parameter ARM's resource cannot hold is refused.
fn provider_class_properties(class: &SecretProviderClass) -> Result<Value> {
    if let Some(provider) = class.spec.provider.as_deref()
        && provider != "azure"
    {
        return Err(StoreError::invalid(
            "spec.provider",
            format!("{provider:?}: Azure Resource Manager holds Azure Key Vault classes only"),
        ));
    }
    let mut properties = serde_json::Map::new();
    for (key, value) in &class.spec.parameters {
        let arm = match key.as_str() {
            "keyvaultName" | "tenantId" | "objects" => key.as_str(),
            "clientID" | "clientId" => "clientId",
            "usePodIdentity" if value == "false" => continue,
            "cloudName" if value.is_empty() || value.eq_ignore_ascii_case("AzurePublicCloud") => {
                continue;
            }
            _ => {
                return Err(StoreError::invalid(
                    format!("spec.parameters.{key}"),
                    "an Azure Resource Manager AzureKeyVaultSecretProviderClass has no such \
                     property (only keyvaultName, clientId, tenantId and objects): use the \
                     Kubernetes target for this class",
                ));
            }
        };
        properties.insert(arm.to_string(), Value::String(value.clone()));
    }
    Ok(Value::Object(properties))
}

/// The SecretSync the ARM resource stands for, with the status the extension reports.
fn secret_sync_of(resource: &Value) -> SecretSync {
    let properties = &resource["properties"];
    let text = |field: &str| properties[field].as_str().unwrap_or_default().to_string();
    let data = properties["objectSecretMapping"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| SecretObjectData {
            source_path: m["sourcePath"].as_str().unwrap_or_default().to_string(),
            target_key: m["targetKey"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    let mut sync = SecretSync::new(
        resource["name"].as_str().unwrap_or_default(),
        SecretSyncSpec {
            secret_provider_class_name: text("secretProviderClassName"),
            service_account_name: text("serviceAccountName"),
            secret_object: SecretObject {
                type_: text("kubernetesSecretType"),
                data,
                labels: None,
                annotations: None,
            },
            force_synchronization: properties["forceSynchronization"]
                .as_str()
                .map(str::to_string),
            secret_sync_controller_name: None,
        },
    );
    sync.metadata.resource_version = resource["etag"].as_str().map(str::to_string);
    sync.status = serde_json::from_value::<SecretSyncStatus>(properties["status"].clone()).ok();
    sync
}

/// The ARM properties of `sync`; what ARM's SecretSync cannot hold is refused.
fn secret_sync_properties(sync: &SecretSync) -> Result<Value> {
    let spec = &sync.spec;
    let object = &spec.secret_object;
    for (field, set) in [
        (
            "spec.secretObject.labels",
            object.labels.as_ref().is_some_and(|l| !l.is_empty()),
        ),
        (
            "spec.secretObject.annotations",
            object.annotations.as_ref().is_some_and(|a| !a.is_empty()),
        ),
        (
            "spec.secretSyncControllerName",
            spec.secret_sync_controller_name.is_some(),
        ),
    ] {
        if set {
            return Err(StoreError::invalid(
                field,
                "an Azure Resource Manager SecretSync has no such property: use the Kubernetes \
                 target for this SecretSync",
            ));
        }
    }
    let mapping: Vec<Value> = object
        .data
        .iter()
        .map(|d| json!({"sourcePath": d.source_path, "targetKey": d.target_key}))
        .collect();
    let mut properties = json!({
        "secretProviderClassName": spec.secret_provider_class_name,
        "serviceAccountName": spec.service_account_name,
        "kubernetesSecretType": object.type_,
        "objectSecretMapping": mapping,
    });
    if let Some(force) = &spec.force_synchronization {
        properties["forceSynchronization"] = Value::String(force.clone());
    }
    Ok(properties)
}

#[async_trait]
impl StoreTarget for ArmTarget {
    fn describe(&self) -> String {
        format!(
            "IoT Operations instance {} (resource group {}, namespace {})",
            self.instance, self.resource_group, self.namespace
        )
    }

    async fn provider_classes(&self) -> Result<Vec<SecretProviderClass>> {
        Ok(self
            .list_kind(SPC_KIND)
            .await?
            .iter()
            .map(provider_class_of)
            .collect())
    }

    async fn provider_class(&self, name: &str) -> Result<Option<SecretProviderClass>> {
        Ok(self
            .read(SPC_KIND, name)
            .await?
            .as_ref()
            .map(provider_class_of))
    }

    async fn apply_provider_class(&self, class: &SecretProviderClass) -> Result<()> {
        let name = class.metadata.name.clone().unwrap_or_default();
        let properties = provider_class_properties(class)?;
        self.put(
            SPC_KIND,
            &name,
            properties,
            class.metadata.resource_version.as_deref(),
        )
        .await
    }

    async fn secret_syncs(&self) -> Result<Vec<SecretSync>> {
        Ok(self
            .list_kind(SYNC_KIND)
            .await?
            .iter()
            .map(secret_sync_of)
            .collect())
    }

    async fn secret_sync(&self, name: &str) -> Result<Option<SecretSync>> {
        Ok(self
            .read(SYNC_KIND, name)
            .await?
            .as_ref()
            .map(secret_sync_of))
    }

    async fn apply_secret_sync(&self, sync: &SecretSync) -> Result<()> {
        let name = sync.metadata.name.clone().unwrap_or_default();
        let properties = secret_sync_properties(sync)?;
        self.put(
            SYNC_KIND,
            &name,
            properties,
            sync.metadata.resource_version.as_deref(),
        )
        .await
    }

    async fn delete_secret_sync(&self, name: &str) -> Result<()> {
        let what = format!("deleting {}", self.what(SYNC_KIND, name));
        // Never delete another cluster's resource of the same name.
        if self.read(SYNC_KIND, name).await?.is_none() {
            return Ok(());
        }
        let (status, body) = self
            .client
            .send(Method::Delete, &self.path(SYNC_KIND, Some(name)), None)
            .await
            .map_err(|e| cluster_error(&what, e))?;
        match status {
            200..=204 | 404 => Ok(()),
            _ => Err(StoreError::Cluster {
                operation: what,
                status: Some(status),
                message: arm_message(&body),
            }),
        }
    }

    fn check_connector_settings(&self) -> std::result::Result<(), String> {
        match &self.extension_id {
            Some(_) => Ok(()),
            None => Err(format!(
                "the connector settings cannot be applied: {} (grant the right to read the \
                 cluster's extensions, or use the Kubernetes target and run the az command the \
                 plan prints)",
                self.no_extension()
            )),
        }
    }

    /// ARM does not show the synced Secret: sync states come from the SecretSync's status.
    fn shows_secrets(&self) -> bool {
        false
    }

    /// ARM does not show the synced Secret: `None`.
    async fn synced_digests(&self, _name: &str) -> Result<Option<BTreeMap<String, Digest>>> {
        Ok(None)
    }

    async fn apply_connector_settings(
        &self,
        settings: &ConnectorSettings,
    ) -> Result<Option<Vec<String>>> {
        let Some(extension) = &self.extension_id else {
            return Err(StoreError::Cluster {
                operation: format!(
                    "applying the connector settings of instance {}",
                    self.instance
                ),
                status: Some(404),
                message: format!(
                    "{}; apply them by hand: {}",
                    self.no_extension(),
                    settings.az_command()
                ),
            });
        };
        let what = format!("reading extension {extension}");
        let current = get(&self.client, &what, extension, EXTENSION_API_VERSION)
            .await?
            .ok_or_else(|| StoreError::Cluster {
                operation: what.clone(),
                status: Some(404),
                message: "the IoT Operations extension no longer exists".into(),
            })?;
        let held = &current["properties"]["configurationSettings"];
        let changed: serde_json::Map<String, Value> = settings
            .config()
            .into_iter()
            .filter(|(key, value)| held[*key].as_str() != Some(*value))
            .map(|(key, value)| (key.to_string(), Value::String(value.to_string())))
            .collect();
        let keys: Vec<String> = changed.keys().cloned().collect();
        if changed.is_empty() {
            return Ok(Some(keys));
        }
        let what = format!("updating the configuration settings of extension {extension}");
        let body = json!({"properties": {"configurationSettings": changed}});
        let (status, answer) = self
            .client
            .send(
                Method::Patch,
                &format!("{extension}?api-version={EXTENSION_API_VERSION}"),
                Some(&body),
            )
            .await
            .map_err(|e| cluster_error(&what, e))?;
        if !(200..=202).contains(&status) {
            return Err(StoreError::Cluster {
                operation: what,
                status: Some(status),
                message: arm_message(&answer),
            });
        }
        Ok(Some(keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_syncs_round_trip_through_arm_properties() {
        let class = SecretProviderClass::new(
            "opc-ua-connector",
            SecretProviderClassSpec {
                provider: Some("azure".into()),
                parameters: BTreeMap::from([
                    ("keyvaultName".into(), "edge-vault".into()),
                    ("clientID".into(), "c".into()),
                    ("tenantId".into(), "t".into()),
                    ("usePodIdentity".into(), "false".into()),
                    ("objects".into(), "array: []\n".into()),
                ]),
                secret_objects: None,
            },
        );
        let properties = provider_class_properties(&class).unwrap();
        assert_eq!(properties["clientId"], "c");
        let back =
            provider_class_of(&json!({"name": "opc-ua-connector", "properties": properties}));
        let mut expected = class.spec.parameters.clone();
        expected.remove("usePodIdentity");
        assert_eq!(back.spec.parameters, expected);

        let mut odd = class.clone();
        odd.spec
            .parameters
            .insert("cloudEnvFileName".into(), "/etc/x".into());
        let refused = provider_class_properties(&odd).unwrap_err().to_string();
        assert!(
            refused.contains("spec.parameters.cloudEnvFileName"),
            "{refused}"
        );

        let sync = SecretSync::new(
            "aio-opc-ua-broker-trust-list",
            SecretSyncSpec {
                secret_provider_class_name: "opc-ua-connector".into(),
                service_account_name: "aio-ssc-sa".into(),
                secret_object: SecretObject {
                    type_: "Opaque".into(),
                    data: vec![SecretObjectData {
                        source_path: "plc-a-der".into(),
                        target_key: "plc-a.der".into(),
                    }],
                    labels: None,
                    annotations: None,
                },
                force_synchronization: None,
                secret_sync_controller_name: None,
            },
        );
        let properties = secret_sync_properties(&sync).unwrap();
        let back = secret_sync_of(
            &json!({"name": "aio-opc-ua-broker-trust-list", "properties": properties}),
        );
        assert_eq!(back.spec, sync.spec);
        let mut labelled = sync.clone();
        labelled.spec.secret_object.labels = Some(BTreeMap::from([("a".into(), "b".into())]));
        assert!(secret_sync_properties(&labelled).is_err());
    }

    #[test]
    fn names_that_would_change_the_path_are_refused() {
        for bad in ["", "a/b", "rg?x", "a b", "x#"] {
            assert!(check_segment("resource group", bad).is_err(), "{bad:?}");
        }
        assert!(check_segment("resource group", "edge-rg_1.(x)").is_ok());
    }
}
