//! Off AAD Pod Identity: `AzureIdentity` / `AzureIdentityBinding` objects (and Dapr components
//! using `spnClientId`) become their workload identity equivalents — a ServiceAccount with the
//! client-id annotation, the pod label to add, a federated credential per service account, and
//! the Dapr component with `azureClientId`. What cannot be converted is listed with the reason.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use serde::{Deserialize, Serialize};

use crate::error::{ClusterError, Field, Result};
use crate::go_json;
use crate::plan::Step;
use crate::render::{CLIENT_ID_ANNOTATION, DaprComponent};

/// The label a pod needs for the workload identity webhook to project the token.
pub const USE_LABEL: &str = "azure.workload.identity/use";

/// A pod-template change to make by hand (keyway cannot see the Deployments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodChange {
    /// The namespace of the pods.
    pub namespace: String,
    /// Pods now labelled `aadpodidbinding: <selector>`.
    pub selector: String,
    /// Set `serviceAccountName` to this.
    pub service_account: String,
    /// Add these labels (and remove `aadpodidbinding`).
    pub add_labels: BTreeMap<String, String>,
}

/// Something that has no workload identity equivalent here, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unconvertible {
    /// `kind/namespace/name`.
    pub object: String,
    /// Why, and what to do instead.
    pub reason: String,
}

/// The converted objects and what is left to do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Migration {
    /// One per binding of a user-assigned identity.
    pub service_accounts: Vec<ServiceAccount>,
    /// The pod changes.
    pub pod_changes: Vec<PodChange>,
    /// Federated credentials to create (plan steps; present when an issuer was given).
    pub federated_credentials: Vec<Step>,
    /// Dapr components with `azureClientId`.
    pub dapr_components: Vec<DaprComponent>,
    /// What was not converted.
    pub unconvertible: Vec<Unconvertible>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

/// An `AzureIdentity`'s spec. Read with [`go_json::from_value`]: AAD Pod Identity decodes it
/// with Go's `encoding/json`, so `ClientID:` and `clientID:` are the same field.
#[derive(Debug, Deserialize)]
struct Identity {
    #[serde(rename = "type", default)]
    type_: i64,
    #[serde(rename = "resourceID", default)]
    resource_id: String,
    #[serde(rename = "clientID", default)]
    client_id: String,
}

/// An `AzureIdentityBinding`'s spec, read the same way.
#[derive(Debug, Deserialize)]
struct Binding {
    #[serde(rename = "azureIdentity", default)]
    azure_identity: String,
    #[serde(default)]
    selector: String,
}

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}`,
/// segments compared ignoring case as ARM does (`az identity show` prints `resourcegroups`).
fn check_identity_id(field: &str, id: &str) -> Result<()> {
    let segments: Vec<&str> = id.split('/').collect();
    let fixed = [
        (1, "subscriptions"),
        (3, "resourcegroups"),
        (5, "providers"),
        (6, "microsoft.managedidentity"),
        (7, "userassignedidentities"),
    ];
    let safe = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
    };
    let shaped = segments.len() == 9
        && segments[0].is_empty()
        && fixed
            .iter()
            .all(|(i, word)| segments[*i].eq_ignore_ascii_case(word))
        && [2, 4, 8].iter().all(|i| safe(segments[*i]));
    if !shaped {
        return Err(ClusterError::invalid(
            Field::Manifest(field.to_string()),
            format!(
                "{id:?} is not a user-assigned managed identity's resource id; give the output of `az identity show -g <group> -n <name> --query id -o tsv` (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)"
            ),
        ));
    }
    Ok(())
}

impl Migration {
    /// Converts the objects in a YAML stream. Objects of other kinds are ignored. `issuer`
    /// (the cluster's service-account issuer) makes the federated credential steps.
    pub fn from_yaml(yaml: &str, issuer: Option<&str>) -> Result<Migration> {
        let mut identities: BTreeMap<(String, String), (Identity, String)> = BTreeMap::new();
        let mut bindings = Vec::new();
        let mut migration = Migration::default();
        let documents = keyway_sync::yaml::documents(yaml)
            .map_err(|e| ClusterError::invalid(Field::MigrationInput, format!("not YAML: {e}")))?;
        for (index, value) in documents.into_iter().enumerate() {
            let kind = value["kind"].as_str().unwrap_or_default().to_string();
            let document = index + 1;
            let metadata: Metadata =
                serde_json::from_value(value["metadata"].clone()).map_err(|e| {
                    ClusterError::invalid(
                        Field::Manifest(format!("document {document} ({kind}) metadata")),
                        e.to_string(),
                    )
                })?;
            let namespace = metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            // `document 1 (AzureIdentity default/dapr-kv) spec.clientID`.
            let field = |what: &str| {
                format!(
                    "document {document} ({kind} {namespace}/{}) {what}",
                    metadata.name
                )
            };
            match kind.as_str() {
                "AzureIdentity" => {
                    let identity: Identity = go_json::from_value(&value["spec"], &field("spec"))?;
                    // The fields a workload identity needs; AAD Pod Identity itself cannot use
                    // a user-assigned identity without them either.
                    if identity.type_ == 0 {
                        if identity.client_id.trim().is_empty() {
                            return Err(ClusterError::invalid(
                                Field::Manifest(field("spec.clientID")),
                                "is missing or empty: give the managed identity's client id (az identity show --query clientId -o tsv)",
                            ));
                        }
                        if identity.resource_id.trim().is_empty() {
                            return Err(ClusterError::invalid(
                                Field::Manifest(field("spec.resourceID")),
                                "is missing or empty: give the managed identity's resource id (az identity show --query id -o tsv)",
                            ));
                        }
                        check_identity_id(&field("spec.resourceID"), &identity.resource_id)?;
                    }
                    identities.insert(
                        (namespace, metadata.name.clone()),
                        (identity, metadata.name),
                    );
                }
                "AzureIdentityBinding" => {
                    let binding: Binding = go_json::from_value(&value["spec"], &field("spec"))?;
                    for (name, given) in [
                        ("spec.azureIdentity", &binding.azure_identity),
                        ("spec.selector", &binding.selector),
                    ] {
                        if given.trim().is_empty() {
                            return Err(ClusterError::invalid(
                                Field::Manifest(field(name)),
                                "is missing or empty: a binding names its AzureIdentity and the aadpodidbinding label value of its pods",
                            ));
                        }
                    }
                    bindings.push((namespace, metadata.name, binding));
                }
                "Component"
                    if value["spec"]["type"].as_str() == Some("secretstores.azure.keyvault") =>
                {
                    migration.dapr_component(&value, &metadata, &namespace);
                }
                _ => {}
            }
        }
        for (namespace, name, binding) in bindings {
            let object = format!("AzureIdentityBinding/{namespace}/{name}");
            let Some((identity, _)) =
                identities.get(&(namespace.clone(), binding.azure_identity.clone()))
            else {
                migration.unconvertible.push(Unconvertible {
                    object,
                    reason: format!(
                        "names AzureIdentity {:?}, which is not in the input (it must be in the same namespace)",
                        binding.azure_identity
                    ),
                });
                continue;
            };
            if identity.type_ != 0 {
                migration.unconvertible.push(Unconvertible {
                    object,
                    reason: format!(
                        "its AzureIdentity is type {} (a service principal with a secret or certificate); workload identity federates a user-assigned managed identity or an app registration instead — create one, then rerun with it",
                        identity.type_
                    ),
                });
                continue;
            }
            let service_account = format!("{}-workload-identity", binding.selector);
            // A label value may hold capitals and `_`; a ServiceAccount's name may not.
            if crate::names::check_object_name(Field::Name, &service_account).is_err() {
                migration.unconvertible.push(Unconvertible {
                    object,
                    reason: format!(
                        "selector {:?} does not make a ServiceAccount name ({service_account:?}: lower-case letters, digits, - and . only); create a ServiceAccount under a valid name with the annotation {CLIENT_ID_ANNOTATION}: {}, and federate it by hand",
                        binding.selector, identity.client_id
                    ),
                });
                continue;
            }
            let taken = migration
                .pod_changes
                .iter()
                .any(|c| c.namespace == namespace && c.service_account == service_account);
            if taken {
                migration.unconvertible.push(Unconvertible {
                    object,
                    reason: format!(
                        "selector {:?} is already bound to another identity; a pod gets one service account, so one identity: merge the bindings",
                        binding.selector
                    ),
                });
                continue;
            }
            let mut account = ServiceAccount::default();
            account.metadata.name = Some(service_account.clone());
            account.metadata.namespace = Some(namespace.clone());
            account.metadata.annotations = Some(BTreeMap::from([(
                CLIENT_ID_ANNOTATION.to_string(),
                identity.client_id.clone(),
            )]));
            migration.service_accounts.push(account);
            migration.pod_changes.push(PodChange {
                namespace: namespace.clone(),
                selector: binding.selector.clone(),
                service_account: service_account.clone(),
                add_labels: BTreeMap::from([(USE_LABEL.to_string(), "true".to_string())]),
            });
            if let Some(issuer) = issuer {
                migration.federated_credentials.push(Step::federate(
                    &identity.resource_id,
                    issuer,
                    &namespace,
                    &service_account,
                ));
            }
        }
        Ok(migration)
    }

    fn dapr_component(&mut self, value: &serde_json::Value, metadata: &Metadata, namespace: &str) {
        let settings: Vec<(String, String)> = value["spec"]["metadata"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                Some((
                    m["name"].as_str()?.to_string(),
                    m["value"].as_str().unwrap_or_default().to_string(),
                ))
            })
            .collect();
        let get = |name: &str| {
            settings
                .iter()
                // Dapr matches metadata names ignoring case.
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let object = format!("Component/{namespace}/{}", metadata.name);
        let client = get("azureClientId").or_else(|| get("spnClientId"));
        match (get("vaultName"), client) {
            (Some(vault), Some(client)) => match DaprComponent::azure_keyvault(
                &metadata.name,
                metadata.namespace.as_deref(),
                &vault,
                &client,
                get("azureTenantId").or_else(|| get("spnTenantId")).as_deref(),
                get("azureEnvironment").as_deref(),
            ) {
                Ok(component) => self.dapr_components.push(component),
                Err(e) => self.unconvertible.push(Unconvertible { object, reason: e.to_string() }),
            },
            (None, _) => self.unconvertible.push(Unconvertible {
                object,
                reason: "has no vaultName".into(),
            }),
            (Some(_), None) => self.unconvertible.push(Unconvertible {
                object,
                reason: "names no client id (spnClientId or azureClientId); with AAD Pod Identity it used the pod's binding — give it the identity's client id as azureClientId".into(),
            }),
        }
    }

    /// The converted ServiceAccounts and Dapr components as one YAML stream.
    pub fn manifests_yaml(&self) -> Result<String> {
        let render = |v: Result<serde_json::Value, serde_json::Error>| -> Result<String> {
            let v = v.map_err(|e| ClusterError::invalid(Field::Render, e.to_string()))?;
            keyway_sync::yaml::to_string(&v)
                .map_err(|e| ClusterError::invalid(Field::Render, e.to_string()))
        };
        let mut documents = Vec::new();
        for account in &self.service_accounts {
            let mut value = serde_json::to_value(account);
            if let Ok(v) = value.as_mut() {
                v["apiVersion"] = "v1".into();
                v["kind"] = "ServiceAccount".into();
            }
            documents.push(render(value)?);
        }
        for component in &self.dapr_components {
            documents.push(render(serde_json::to_value(component))?);
        }
        Ok(documents.join("---\n"))
    }
}
