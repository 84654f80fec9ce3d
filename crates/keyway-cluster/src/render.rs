//! Manifests from typed values, never string templates: the SecretProviderClass, SecretSync and
//! ServiceAccount that sync Key Vault objects by workload identity, and the Dapr Azure Key Vault
//! secret store component. Everything rendered loads back into keyway-sync's types.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use keyway_sync::{
    SecretObject, SecretObjectData, SecretProviderClass, SecretProviderClassSpec, SecretSync,
    SecretSyncSpec,
};
use serde::{Deserialize, Serialize};

use crate::error::{ClusterError, Result};

/// The workload identity annotation naming the identity's client id.
pub const CLIENT_ID_ANNOTATION: &str = "azure.workload.identity/client-id";
/// The workload identity annotation naming the tenant.
pub const TENANT_ID_ANNOTATION: &str = "azure.workload.identity/tenant-id";

/// One object to sync, as `NAME[:alias][:type][:encoding]` on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSpec {
    /// The Key Vault object's name.
    pub object_name: String,
    /// The key it lands under (default: the name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_alias: Option<String>,
    /// `secret`, `cert` or `key`.
    pub object_type: String,
    /// `utf-8`, `hex` or `base64`: how the secret's value is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_encoding: Option<String>,
}

impl ObjectSpec {
    /// Parses `NAME[:alias][:type][:encoding]` (empty parts take the default; type `secret`).
    pub fn parse(text: &str) -> Result<ObjectSpec> {
        let parts: Vec<&str> = text.split(':').collect();
        let bad =
            |problem: String| ClusterError::invalid("--object", format!("{text:?}: {problem}"));
        if parts.len() > 4 || parts[0].is_empty() {
            return Err(bad("expected NAME[:alias][:type][:encoding]".into()));
        }
        let part = |i: usize| parts.get(i).copied().filter(|p| !p.is_empty());
        let object_type = part(2).unwrap_or("secret").to_string();
        if !["secret", "cert", "key"].contains(&object_type.as_str()) {
            return Err(bad(format!(
                "type {object_type:?} is not secret, cert or key"
            )));
        }
        let object_encoding = part(3).map(str::to_string);
        if let Some(encoding) = &object_encoding
            && !["utf-8", "hex", "base64"].contains(&encoding.as_str())
        {
            return Err(bad(format!(
                "encoding {encoding:?} is not utf-8, hex or base64"
            )));
        }
        Ok(ObjectSpec {
            object_name: parts[0].to_string(),
            object_alias: part(1).map(str::to_string),
            object_type,
            object_encoding,
        })
    }

    /// Where the object lands: its alias, else its name.
    pub fn output(&self) -> &str {
        self.object_alias.as_deref().unwrap_or(&self.object_name)
    }
}

/// What `render secret-sync` needs.
#[derive(Debug, Clone)]
pub struct SecretSyncRequest {
    /// The vault's name.
    pub keyvault: String,
    /// The Entra tenant.
    pub tenant_id: String,
    /// The identity's client id.
    pub client_id: String,
    /// The namespace of all three objects.
    pub namespace: String,
    /// The service account the sync authenticates as.
    pub service_account: String,
    /// The objects, at least one.
    pub objects: Vec<ObjectSpec>,
    /// `Opaque` or `kubernetes.io/tls`.
    pub secret_type: String,
    /// The Secret's (and the SecretSync's) name; default: the vault's.
    pub secret_name: Option<String>,
}

/// The three objects of a secret sync.
#[derive(Debug, Clone)]
pub struct SecretSyncManifests {
    /// The ServiceAccount, with the workload identity annotations.
    pub service_account: ServiceAccount,
    /// The SecretProviderClass.
    pub provider_class: SecretProviderClass,
    /// The SecretSync.
    pub secret_sync: SecretSync,
}

/// The `objects` parameter: `array:` of YAML strings, each one object.
fn objects_parameter(objects: &[ObjectSpec]) -> Result<String> {
    #[derive(Serialize)]
    struct Document {
        array: Vec<String>,
    }
    let array = objects
        .iter()
        .map(|o| {
            serde_yaml_ng::to_string(o)
                .map_err(|e| ClusterError::invalid("--object", e.to_string()))
        })
        .collect::<Result<Vec<String>>>()?;
    serde_yaml_ng::to_string(&Document { array })
        .map_err(|e| ClusterError::invalid("--object", e.to_string()))
}

/// Builds the ServiceAccount, SecretProviderClass and SecretSync, validated by keyway-sync's
/// own rules (the same ones the controller applies).
pub fn secret_sync(request: &SecretSyncRequest) -> Result<SecretSyncManifests> {
    if request.objects.is_empty() {
        return Err(ClusterError::invalid(
            "--object",
            "give at least one object",
        ));
    }
    let tls = request.secret_type == "kubernetes.io/tls";
    if !tls && request.secret_type != "Opaque" {
        return Err(ClusterError::invalid(
            "--secret-type",
            format!(
                "{:?} is not Opaque or kubernetes.io/tls",
                request.secret_type
            ),
        ));
    }
    let name = request
        .secret_name
        .clone()
        .unwrap_or_else(|| request.keyvault.to_ascii_lowercase());
    let mut service_account = ServiceAccount::default();
    service_account.metadata.name = Some(request.service_account.clone());
    service_account.metadata.namespace = Some(request.namespace.clone());
    service_account.metadata.annotations = Some(BTreeMap::from([
        (CLIENT_ID_ANNOTATION.to_string(), request.client_id.clone()),
        (TENANT_ID_ANNOTATION.to_string(), request.tenant_id.clone()),
    ]));

    let mut provider_class = SecretProviderClass::new(
        &name,
        SecretProviderClassSpec {
            provider: Some("azure".into()),
            parameters: BTreeMap::from([
                ("clientID".to_string(), request.client_id.clone()),
                ("keyvaultName".to_string(), request.keyvault.clone()),
                ("tenantID".to_string(), request.tenant_id.clone()),
                ("objects".to_string(), objects_parameter(&request.objects)?),
            ]),
            secret_objects: None,
        },
    );
    provider_class.metadata.namespace = Some(request.namespace.clone());
    // The controller's rules, so what is rendered is what will sync.
    let spec = keyway_sync::SyncSpec::from_provider_class(&provider_class)
        .map_err(|e| ClusterError::invalid("--object", e.to_string()))?;

    let data: Vec<SecretObjectData> = if tls {
        // One certificate object becomes tls.crt (the chain) and tls.key (its key).
        let [object] = request.objects.as_slice() else {
            return Err(ClusterError::invalid(
                "--secret-type",
                "kubernetes.io/tls takes exactly one certificate object (its chain goes to tls.crt, its key to tls.key)",
            ));
        };
        vec![
            SecretObjectData {
                source_path: object.output().to_string(),
                target_key: "tls.crt".into(),
            },
            SecretObjectData {
                source_path: object.output().to_string(),
                target_key: "tls.key".into(),
            },
        ]
    } else {
        spec.objects
            .iter()
            .map(|o| SecretObjectData {
                source_path: o.output_name().to_string(),
                target_key: o.output_name().to_string(),
            })
            .collect()
    };
    let mut secret_sync = SecretSync::new(
        &name,
        SecretSyncSpec {
            secret_provider_class_name: name.clone(),
            service_account_name: request.service_account.clone(),
            secret_object: SecretObject {
                type_: request.secret_type.clone(),
                data,
                labels: None,
                annotations: None,
            },
            force_synchronization: None,
            secret_sync_controller_name: None,
        },
    );
    secret_sync.metadata.namespace = Some(request.namespace.clone());
    Ok(SecretSyncManifests {
        service_account,
        provider_class,
        secret_sync,
    })
}

impl SecretSyncManifests {
    /// The three objects as one multi-document YAML stream.
    pub fn to_yaml(&self) -> Result<String> {
        let render = |v: serde_json::Value| {
            serde_yaml_ng::to_string(&v).map_err(|e| ClusterError::invalid("render", e.to_string()))
        };
        let to_value = |v: serde_json::Result<serde_json::Value>| {
            v.map_err(|e| ClusterError::invalid("render", e.to_string()))
        };
        let mut service_account = to_value(serde_json::to_value(&self.service_account))?;
        service_account["apiVersion"] = "v1".into();
        service_account["kind"] = "ServiceAccount".into();
        Ok([
            render(service_account)?,
            render(to_value(serde_json::to_value(&self.provider_class))?)?,
            render(to_value(serde_json::to_value(&self.secret_sync))?)?,
        ]
        .join("---\n"))
    }
}

/// The Azure cloud a Dapr component targets.
pub const DAPR_ENVIRONMENTS: [&str; 3] = [
    "AzurePublicCloud",
    "AzureChinaCloud",
    "AzureUSGovernmentCloud",
];

/// A Dapr component (`dapr.io/v1alpha1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaprComponent {
    /// `dapr.io/v1alpha1`.
    pub api_version: String,
    /// `Component`.
    pub kind: String,
    /// Name and namespace.
    pub metadata: DaprMetadata,
    /// Type, version and settings.
    pub spec: DaprComponentSpec,
}

/// A Dapr component's name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaprMetadata {
    /// The component's name (what applications ask for).
    pub name: String,
    /// Its namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A Dapr component's spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaprComponentSpec {
    /// `secretstores.azure.keyvault`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `v1`.
    pub version: String,
    /// The settings, `name`/`value` pairs.
    pub metadata: Vec<DaprSetting>,
}

/// One Dapr component setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaprSetting {
    /// The setting's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

impl DaprComponent {
    /// The Azure Key Vault secret store for `vault`, authenticated by workload identity as
    /// `client_id` (`azureClientId`; the retired AAD Pod Identity's `spnClientId` is not used).
    pub fn azure_keyvault(
        name: &str,
        namespace: Option<&str>,
        vault: &str,
        client_id: &str,
        tenant_id: Option<&str>,
        environment: Option<&str>,
    ) -> Result<DaprComponent> {
        if vault.is_empty() {
            return Err(ClusterError::invalid("--vault", "is required"));
        }
        let mut metadata = vec![
            DaprSetting {
                name: "vaultName".into(),
                value: vault.into(),
            },
            DaprSetting {
                name: "azureClientId".into(),
                value: client_id.into(),
            },
        ];
        if let Some(tenant) = tenant_id {
            metadata.push(DaprSetting {
                name: "azureTenantId".into(),
                value: tenant.into(),
            });
        }
        if let Some(environment) = environment {
            if !DAPR_ENVIRONMENTS.contains(&environment) {
                return Err(ClusterError::invalid(
                    "--environment",
                    format!(
                        "{environment:?} is not one of {}",
                        DAPR_ENVIRONMENTS.join(", ")
                    ),
                ));
            }
            metadata.push(DaprSetting {
                name: "azureEnvironment".into(),
                value: environment.into(),
            });
        }
        Ok(DaprComponent {
            api_version: "dapr.io/v1alpha1".into(),
            kind: "Component".into(),
            metadata: DaprMetadata {
                name: name.into(),
                namespace: namespace.map(str::to_string),
            },
            spec: DaprComponentSpec {
                type_: "secretstores.azure.keyvault".into(),
                version: "v1".into(),
                metadata,
            },
        })
    }

    /// As YAML.
    pub fn to_yaml(&self) -> Result<String> {
        serde_yaml_ng::to_string(self).map_err(|e| ClusterError::invalid("render", e.to_string()))
    }
}

/// Which OPC UA-style list certificates go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStore {
    /// Certificates of trusted peers (`trust-list`).
    TrustList,
    /// Certificates of trusted issuers (CAs) and their CRLs (`issuer-list`).
    IssuerList,
}

impl CertificateStore {
    /// The Secret's default name.
    pub fn secret_name(self) -> &'static str {
        match self {
            CertificateStore::TrustList => "trust-list",
            CertificateStore::IssuerList => "issuer-list",
        }
    }
}

/// One certificate or CRL stored as a Key Vault secret, as `NAME[:encoding]` (`hex`, the
/// default, `base64`, or `utf-8` for PEM text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCertificate {
    /// The secret's name.
    pub name: String,
    /// How the value is stored.
    pub encoding: String,
    /// A CRL rather than a certificate.
    pub crl: bool,
}

impl StoredCertificate {
    /// Parses `NAME[:encoding]`.
    pub fn parse(text: &str, crl: bool) -> Result<StoredCertificate> {
        let flag = if crl { "--crl" } else { "--cert" };
        let (name, encoding) = text.split_once(':').unwrap_or((text, "hex"));
        if name.is_empty() {
            return Err(ClusterError::invalid(
                flag,
                format!("{text:?}: expected NAME[:encoding]"),
            ));
        }
        if !["hex", "base64", "utf-8"].contains(&encoding) {
            return Err(ClusterError::invalid(
                flag,
                format!("{text:?}: encoding {encoding:?} is not hex, base64 or utf-8"),
            ));
        }
        Ok(StoredCertificate {
            name: name.into(),
            encoding: encoding.into(),
            crl,
        })
    }

    /// The key in the Secret: `.der` for binary certificates, `.crt` for PEM, `.crl` for CRLs.
    pub fn file_name(&self) -> String {
        let extension = match (self.crl, self.encoding.as_str()) {
            (true, _) => "crl",
            (false, "utf-8") => "crt",
            (false, _) => "der",
        };
        format!("{}.{extension}", self.name)
    }
}

/// The objects that sync certificates (and CRLs) stored as hex/base64/PEM secrets into one
/// Secret holding a trust list or issuer list: one `.der`/`.crt`/`.crl` key per item.
pub fn trust_list(
    base: &SecretSyncRequest,
    items: &[StoredCertificate],
    store: CertificateStore,
) -> Result<SecretSyncManifests> {
    if items.is_empty() {
        return Err(ClusterError::invalid(
            "--cert",
            "give at least one certificate",
        ));
    }
    let objects = items
        .iter()
        .map(|item| ObjectSpec {
            object_name: item.name.clone(),
            object_alias: Some(item.file_name()),
            object_type: "secret".into(),
            // PEM text is written as stored; hex and base64 are decoded to their bytes.
            object_encoding: (item.encoding != "utf-8").then(|| item.encoding.clone()),
        })
        .collect();
    secret_sync(&SecretSyncRequest {
        objects,
        secret_type: "Opaque".into(),
        secret_name: Some(
            base.secret_name
                .clone()
                .unwrap_or_else(|| store.secret_name().to_string()),
        ),
        ..base.clone()
    })
}
