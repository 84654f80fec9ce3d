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

use crate::error::{ClusterError, Field, Result};
use crate::names;

/// The workload identity annotation naming the identity's client id.
pub const CLIENT_ID_ANNOTATION: &str = "azure.workload.identity/client-id";
/// The workload identity annotation naming the tenant.
pub const TENANT_ID_ANNOTATION: &str = "azure.workload.identity/tenant-id";

/// One object to sync. On the command line ([`ObjectSpec::parse`]) as named parts,
/// `name=opcua-cert,alias=server.der,type=secret,encoding=hex`, or a bare `NAME`.
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

/// The object types the Azure provider knows.
pub const OBJECT_TYPES: [&str; 3] = ["secret", "cert", "key"];
/// The encodings a secret's value can be stored in (`az keyvault secret set --encoding`).
pub const OBJECT_ENCODINGS: [&str; 3] = ["utf-8", "hex", "base64"];

/// Splits `key=value,key=value` into its parts, each key one of `keys` and given once, no value
/// empty. `field` and `text` are for messages.
fn named_parts<'a>(
    field: &Field,
    text: &'a str,
    keys: &[&str],
) -> Result<BTreeMap<&'a str, &'a str>> {
    let bad =
        |problem: String| ClusterError::invalid(field.clone(), format!("{text:?}: {problem}"));
    let mut parts = BTreeMap::new();
    for part in text.split(',') {
        let Some((key, value)) = part.split_once('=') else {
            return Err(bad(format!(
                "{part:?} is not key=value (keys: {})",
                keys.join(", ")
            )));
        };
        if !keys.contains(&key) {
            return Err(bad(format!(
                "unknown part {key:?} (keys: {})",
                keys.join(", ")
            )));
        }
        if value.is_empty() {
            return Err(bad(format!(
                "{key}= is empty; leave the part out for its default"
            )));
        }
        if parts.insert(key, value).is_some() {
            return Err(bad(format!("{key}= is given twice")));
        }
    }
    Ok(parts)
}

impl ObjectSpec {
    /// Parses an object as given on the command line:
    ///
    /// - named parts, `name=NAME[,alias=FILE][,type=secret|cert|key][,encoding=utf-8|hex|base64]`
    ///   in any order (type `secret` by default);
    /// - a bare `NAME` (no `=` or `:`), the secret of that name;
    /// - the older positional form only with all four positions, `NAME:alias:type:encoding`
    ///   (empty positions take the default), where nothing can be taken for something else.
    ///   Fewer positions are refused with the named form to write: `opcua-cert:cert` once made
    ///   `cert` the alias when a type was meant.
    pub fn parse(text: &str) -> Result<ObjectSpec> {
        let bad = |problem: String| {
            ClusterError::invalid(Field::ObjectArgument, format!("{text:?}: {problem}"))
        };
        let (name, alias, object_type, encoding) = if text.contains('=') {
            let parts = named_parts(
                &Field::ObjectArgument,
                text,
                &["name", "alias", "type", "encoding"],
            )?;
            let Some(name) = parts.get("name") else {
                return Err(bad("name= is required (the Key Vault object's name)".into()));
            };
            (
                *name,
                parts.get("alias").copied(),
                parts.get("type").copied(),
                parts.get("encoding").copied(),
            )
        } else if text.contains(':') {
            let positions: Vec<&str> = text.split(':').collect();
            let [name, alias, object_type, encoding] = positions.as_slice() else {
                let name = positions[0];
                let mut readings: Vec<String> = positions[1..]
                    .iter()
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let key = if OBJECT_TYPES.contains(p) {
                            "type"
                        } else if OBJECT_ENCODINGS.contains(p) {
                            "encoding"
                        } else {
                            "alias"
                        };
                        format!("{key}={p}")
                    })
                    .collect();
                readings.insert(0, format!("name={name}"));
                return Err(bad(format!(
                    "ambiguous: write the parts by name, e.g. --object {} (keys: name, alias, type, encoding)",
                    readings.join(",")
                )));
            };
            fn given(position: &str) -> Option<&str> {
                (!position.is_empty()).then_some(position)
            }
            (*name, given(alias), given(object_type), given(encoding))
        } else {
            (text, None, None, None)
        };
        if name.is_empty() {
            return Err(bad("the object's name is empty".into()));
        }
        let object_type = object_type.unwrap_or("secret");
        if !OBJECT_TYPES.contains(&object_type) {
            return Err(bad(format!(
                "type {object_type:?} is not secret, cert or key"
            )));
        }
        if let Some(encoding) = encoding
            && !OBJECT_ENCODINGS.contains(&encoding)
        {
            return Err(bad(format!(
                "encoding {encoding:?} is not utf-8, hex or base64"
            )));
        }
        if encoding.is_some() && object_type != "secret" {
            return Err(bad(format!(
                "encoding applies to type secret only; a {object_type} is read as Key Vault returns it"
            )));
        }
        Ok(ObjectSpec {
            object_name: name.to_string(),
            object_alias: alias.map(str::to_string),
            object_type: object_type.to_string(),
            object_encoding: encoding.map(str::to_string),
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
            keyway_sync::yaml::to_string(o)
                .map_err(|e| ClusterError::invalid(Field::Objects, e.to_string()))
        })
        .collect::<Result<Vec<String>>>()?;
    keyway_sync::yaml::to_string(&Document { array })
        .map_err(|e| ClusterError::invalid(Field::Objects, e.to_string()))
}

/// Builds the ServiceAccount, SecretProviderClass and SecretSync, validated by keyway-sync's
/// own rules (the same ones the controller applies).
pub fn secret_sync(request: &SecretSyncRequest) -> Result<SecretSyncManifests> {
    if request.objects.is_empty() {
        return Err(ClusterError::invalid(
            Field::Objects,
            "give at least one object",
        ));
    }
    let tls = request.secret_type == "kubernetes.io/tls";
    if !tls && request.secret_type != "Opaque" {
        return Err(ClusterError::invalid(
            Field::SecretType,
            format!(
                "{:?} is not Opaque or kubernetes.io/tls",
                request.secret_type
            ),
        ));
    }
    names::check_keyvault_name(Field::Keyvault, &request.keyvault)?;
    names::check_namespace(Field::Namespace, &request.namespace)?;
    names::check_object_name(Field::ServiceAccount, &request.service_account)?;
    if let Some(name) = &request.secret_name {
        names::check_object_name(Field::SecretName, name)?;
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
        .map_err(|e| ClusterError::invalid(Field::Objects, e.to_string()))?;

    let data: Vec<SecretObjectData> = if tls {
        // One certificate object becomes tls.crt (the chain) and tls.key (its key).
        let [object] = request.objects.as_slice() else {
            return Err(ClusterError::invalid(
                Field::SecretType,
                "kubernetes.io/tls takes exactly one certificate object (its chain goes to tls.crt, its key to tls.key)",
            ));
        };
        if object.object_type != "secret" {
            // `cert` gives the leaf alone and `key` the public key: neither holds the private
            // key a tls Secret needs, so the controller would refuse every sync.
            return Err(ClusterError::invalid(
                Field::Objects,
                format!(
                    "type={} cannot fill a kubernetes.io/tls Secret (no private key); use \
                     type=secret: a Key Vault certificate's secret holds the key and the chain",
                    object.object_type
                ),
            ));
        }
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
                // A Secret key has no '/': `name/0` of a version history becomes `name-0`.
                target_key: o.output_name().replace('/', "-"),
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
    // The check the controller and `keyway sync` make (type, labels, mapping, the keys a
    // Secret's type requires), so what is rendered is what will sync.
    secret_sync
        .spec
        .validate(
            &spec,
            keyway_sync::SyncTarget::Secret {
                allowed_types: &keyway_sync::model::secret_sync::ALLOWED_SECRET_TYPES,
            },
        )
        .map_err(|e| ClusterError::invalid(Field::Objects, e.to_string()))?;
    Ok(SecretSyncManifests {
        service_account,
        provider_class,
        secret_sync,
    })
}

impl SecretSyncManifests {
    /// The three objects as one multi-document YAML stream.
    pub fn to_yaml(&self) -> Result<String> {
        Ok([
            service_account_yaml(&self.service_account)?,
            yaml(&self.provider_class)?,
            yaml(&self.secret_sync)?,
        ]
        .join("---\n"))
    }
}

/// An object as a YAML document.
fn yaml<T: Serialize>(object: &T) -> Result<String> {
    let value = serde_json::to_value(object)
        .map_err(|e| ClusterError::invalid(Field::Render, e.to_string()))?;
    keyway_sync::yaml::to_string(&value)
        .map_err(|e| ClusterError::invalid(Field::Render, e.to_string()))
}

/// A ServiceAccount as a YAML document, with the `apiVersion` and `kind` k8s-openapi leaves out.
fn service_account_yaml(account: &ServiceAccount) -> Result<String> {
    let mut value = serde_json::to_value(account)
        .map_err(|e| ClusterError::invalid(Field::Render, e.to_string()))?;
    value["apiVersion"] = "v1".into();
    value["kind"] = "ServiceAccount".into();
    keyway_sync::yaml::to_string(&value)
        .map_err(|e| ClusterError::invalid(Field::Render, e.to_string()))
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
        names::check_keyvault_name(Field::Keyvault, vault)?;
        names::check_object_name(Field::Name, name)?;
        if let Some(namespace) = namespace {
            names::check_namespace(Field::Namespace, namespace)?;
        }
        if client_id.trim().is_empty() {
            return Err(ClusterError::invalid(
                Field::ClientId,
                "is empty: give the identity's client id",
            ));
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
                    Field::Environment,
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
        keyway_sync::yaml::to_string(self)
            .map_err(|e| ClusterError::invalid(Field::Render, e.to_string()))
    }
}

/// The SecretProviderClass Azure IoT Operations' OPC UA connector tooling keeps its trust and
/// issuer list objects in (`az iot ops connector opcua trust|issuer add`).
pub const OPC_UA_PROVIDER_CLASS: &str = "opc-ua-connector";

/// Which OPC UA list a certificate goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStore {
    /// Certificates of trusted peers.
    TrustList,
    /// Certificates of trusted issuers (CAs) and their CRLs.
    IssuerList,
}

impl CertificateStore {
    /// The SecretSync (and Secret) the OPC UA connector reads the list from:
    /// `aio-opc-ua-broker-trust-list` or `aio-opc-ua-broker-issuer-list`.
    pub fn secret_name(self) -> &'static str {
        match self {
            CertificateStore::TrustList => "aio-opc-ua-broker-trust-list",
            CertificateStore::IssuerList => "aio-opc-ua-broker-issuer-list",
        }
    }
}

/// One certificate or CRL stored as a Key Vault secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCertificate {
    /// The secret's name.
    pub name: String,
    /// How the value is stored: `hex`, `base64`, or `utf-8` for PEM text.
    pub encoding: String,
    /// A CRL rather than a certificate.
    pub crl: bool,
    /// The file name without its extension (default: the secret's name). A CRL takes its CA's
    /// stem, so the connector pairs `ca.crl` with `ca.der`.
    pub stem: String,
    /// The list it goes to (CRLs: the issuer list).
    pub store: CertificateStore,
}

impl StoredCertificate {
    /// Parses a certificate (`crl` false) or CRL for `store`, as given to `flag`: named parts
    /// `name=NAME[,encoding=hex|base64|utf-8][,stem=STEM]` (encoding hex by default), or
    /// `NAME[:encoding]`.
    pub fn parse(
        flag: &str,
        text: &str,
        crl: bool,
        store: CertificateStore,
    ) -> Result<StoredCertificate> {
        let field = Field::Label(flag.to_string());
        let bad =
            |problem: String| ClusterError::invalid(field.clone(), format!("{text:?}: {problem}"));
        let (name, encoding, stem) = if text.contains('=') {
            let parts = named_parts(&field, text, &["name", "encoding", "stem"])?;
            let Some(name) = parts.get("name") else {
                return Err(bad("name= is required (the Key Vault secret's name)".into()));
            };
            (
                *name,
                parts.get("encoding").copied().unwrap_or("hex"),
                parts.get("stem").copied(),
            )
        } else {
            let (name, encoding) = text.split_once(':').unwrap_or((text, "hex"));
            (name, encoding, None)
        };
        if name.is_empty() {
            return Err(bad(
                "expected name=NAME[,encoding=E][,stem=S] or NAME[:encoding]".into(),
            ));
        }
        if !OBJECT_ENCODINGS.contains(&encoding) {
            return Err(bad(format!(
                "encoding {encoding:?} is not hex, base64 or utf-8"
            )));
        }
        let stem = stem.unwrap_or(name);
        if stem.contains(['/', '\\']) || stem.starts_with('.') {
            return Err(bad(format!(
                "stem {stem:?} must be a plain file name without a leading dot"
            )));
        }
        Ok(StoredCertificate {
            name: name.into(),
            encoding: encoding.into(),
            crl,
            stem: stem.into(),
            store: if crl {
                CertificateStore::IssuerList
            } else {
                store
            },
        })
    }

    /// The key in the Secret: `.der` for binary certificates, `.crt` for PEM, `.crl` for CRLs.
    pub fn file_name(&self) -> String {
        let extension = match (self.crl, self.encoding.as_str()) {
            (true, _) => "crl",
            (false, "utf-8") => "crt",
            (false, _) => "der",
        };
        format!("{}.{extension}", self.stem)
    }
}

/// What `render trust-list` needs: the vault and identity, the items of both lists, and the
/// names (by default those of Azure IoT Operations' OPC UA connector).
#[derive(Debug, Clone)]
pub struct TrustListRequest {
    /// The vault's name.
    pub keyvault: String,
    /// The Entra tenant.
    pub tenant_id: String,
    /// The identity's client id.
    pub client_id: String,
    /// The namespace of the objects.
    pub namespace: String,
    /// The service account the sync authenticates as.
    pub service_account: String,
    /// The certificates and CRLs, each with its list.
    pub items: Vec<StoredCertificate>,
    /// The SecretProviderClass (default [`OPC_UA_PROVIDER_CLASS`]).
    pub provider_class_name: Option<String>,
    /// The trust list's SecretSync and Secret (default `aio-opc-ua-broker-trust-list`).
    pub trust_list_name: Option<String>,
    /// The issuer list's SecretSync and Secret (default `aio-opc-ua-broker-issuer-list`).
    pub issuer_list_name: Option<String>,
}

/// The objects of the OPC UA lists: one SecretProviderClass holding every item (as the
/// connector's tooling keeps them, so applying it does not drop the other list's objects) and
/// a SecretSync per list that has items.
#[derive(Debug, Clone)]
pub struct TrustListManifests {
    /// The ServiceAccount, with the workload identity annotations.
    pub service_account: ServiceAccount,
    /// The SecretProviderClass.
    pub provider_class: SecretProviderClass,
    /// The trust list's and/or the issuer list's SecretSync.
    pub secret_syncs: Vec<SecretSync>,
}

impl TrustListManifests {
    /// All of them as one multi-document YAML stream.
    pub fn to_yaml(&self) -> Result<String> {
        let mut documents = vec![service_account_yaml(&self.service_account)?];
        documents.push(yaml(&self.provider_class)?);
        for sync in &self.secret_syncs {
            documents.push(yaml(sync)?);
        }
        Ok(documents.join("---\n"))
    }
}

/// The objects that sync certificates and CRLs stored as hex/base64/PEM secrets into the OPC UA
/// trust list and issuer list Secrets: one `.der`/`.crt`/`.crl` key per item. Every CRL must
/// share its file stem with a certificate of the issuer list (its CA).
pub fn trust_list(request: &TrustListRequest) -> Result<TrustListManifests> {
    if !request.items.iter().any(|i| !i.crl) {
        return Err(ClusterError::invalid(
            Field::TrustArgument,
            "give at least one certificate (--trust or --issuer)",
        ));
    }
    let mut files: Vec<(String, &StoredCertificate)> = Vec::new();
    for item in &request.items {
        let file = item.file_name();
        if let Some((_, earlier)) = files.iter().find(|(f, _)| *f == file) {
            return Err(ClusterError::invalid(
                field_of(item),
                format!(
                    "{:?} and {:?} would both be the file {file}; give one of them another stem= (a CRL takes its CA's stem, with the .crl extension)",
                    earlier.name, item.name
                ),
            ));
        }
        files.push((file, item));
    }
    for crl in request.items.iter().filter(|i| i.crl) {
        let paired = request
            .items
            .iter()
            .any(|i| !i.crl && i.store == CertificateStore::IssuerList && i.stem == crl.stem);
        if !paired {
            return Err(ClusterError::invalid(
                Field::CrlArgument,
                format!(
                    "{:?} (file {}) has no issuer certificate with the stem {:?}: the connector pairs a CRL with its CA by file name; give the CA with --issuer and the CRL stem=<the CA's stem>",
                    crl.name,
                    crl.file_name(),
                    crl.stem
                ),
            ));
        }
    }
    let objects = request
        .items
        .iter()
        .map(|item| ObjectSpec {
            object_name: item.name.clone(),
            object_alias: Some(item.file_name()),
            object_type: "secret".into(),
            // PEM text is written as stored; hex and base64 are decoded to their bytes.
            object_encoding: (item.encoding != "utf-8").then(|| item.encoding.clone()),
        })
        .collect();
    let provider_class_name = request
        .provider_class_name
        .clone()
        .unwrap_or_else(|| OPC_UA_PROVIDER_CLASS.to_string());
    names::check_object_name(Field::ProviderClassName, &provider_class_name)?;
    let mut secret_syncs = Vec::new();
    let mut service_account = None;
    let mut provider_class = None;
    for (store, name, field) in [
        (
            CertificateStore::TrustList,
            &request.trust_list_name,
            Field::TrustListName,
        ),
        (
            CertificateStore::IssuerList,
            &request.issuer_list_name,
            Field::IssuerListName,
        ),
    ] {
        let items: Vec<&StoredCertificate> =
            request.items.iter().filter(|i| i.store == store).collect();
        if items.is_empty() {
            continue;
        }
        let name = name.clone().unwrap_or_else(|| store.secret_name().into());
        names::check_object_name(field, &name)?;
        let mut manifests = secret_sync(&SecretSyncRequest {
            keyvault: request.keyvault.clone(),
            tenant_id: request.tenant_id.clone(),
            client_id: request.client_id.clone(),
            namespace: request.namespace.clone(),
            service_account: request.service_account.clone(),
            objects: Vec::clone(&objects),
            secret_type: "Opaque".into(),
            secret_name: Some(name),
        })?;
        // The shared class, and only this list's files in its Secret.
        manifests.secret_sync.spec.secret_provider_class_name = provider_class_name.clone();
        let files: Vec<String> = items.iter().map(|i| i.file_name()).collect();
        manifests
            .secret_sync
            .spec
            .secret_object
            .data
            .retain(|d| files.contains(&d.source_path));
        manifests.provider_class.metadata.name = Some(provider_class_name.clone());
        secret_syncs.push(manifests.secret_sync);
        service_account = Some(manifests.service_account);
        provider_class = Some(manifests.provider_class);
    }
    let (Some(service_account), Some(provider_class)) = (service_account, provider_class) else {
        return Err(ClusterError::invalid(
            Field::TrustArgument,
            "give at least one certificate (--trust or --issuer)",
        ));
    };
    Ok(TrustListManifests {
        service_account,
        provider_class,
        secret_syncs,
    })
}

/// The argument an item stands for, for messages.
fn field_of(item: &StoredCertificate) -> Field {
    match (item.crl, item.store) {
        (true, _) => Field::CrlArgument,
        (false, CertificateStore::TrustList) => Field::TrustArgument,
        (false, CertificateStore::IssuerList) => Field::IssuerArgument,
    }
}
