//! The three certificate stores, their configuration (Azure IoT Operations' names as
//! defaults) and the instance's vault, read from the SecretProviderClass secret-sync
//! enablement made.

use std::collections::BTreeMap;
use std::fmt;

use keyway_sync::{SecretProviderClass, SyncSpec};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::target::StoreTarget;

/// One of an OPC UA connector's certificate stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    /// The trust list: certificates of the OPC UA servers the connector trusts.
    Trust,
    /// The issuer list: CA certificates and their CRLs.
    Issuer,
    /// The connector's own application instance certificate and its private key.
    Client,
}

impl Store {
    /// Every store, in display order.
    pub const ALL: [Store; 3] = [Store::Trust, Store::Issuer, Store::Client];

    /// `trust`, `issuer`, `client`.
    pub fn as_str(self) -> &'static str {
        match self {
            Store::Trust => "trust",
            Store::Issuer => "issuer",
            Store::Client => "client",
        }
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Store::Trust => "trust list",
            Store::Issuer => "issuer list",
            Store::Client => "client certificate",
        })
    }
}

impl std::str::FromStr for Store {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Store> {
        match s.to_ascii_lowercase().as_str() {
            "trust" | "trust-list" => Ok(Store::Trust),
            "issuer" | "issuer-list" => Ok(Store::Issuer),
            "client" | "client-certificate" => Ok(Store::Client),
            _ => Err(StoreError::invalid(
                "store",
                format!("{s:?} is not one of trust, issuer, client"),
            )),
        }
    }
}

/// Where the stores live. The defaults are the names Azure IoT Operations and `az iot ops
/// connector opcua` use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreConfig {
    /// The instance's namespace (`azure-iot-operations`).
    pub namespace: String,
    /// The connector's SecretProviderClass (`opc-ua-connector`).
    pub provider_class: String,
    /// The trust list's SecretSync (`aio-opc-ua-broker-trust-list`).
    pub trust_list: String,
    /// The issuer list's SecretSync (`aio-opc-ua-broker-issuer-list`).
    pub issuer_list: String,
    /// The client certificate's SecretSync (`aio-opc-ua-broker-client-certificate`).
    pub client_certificate: String,
    /// The service account SecretSyncs use (`aio-ssc-sa`).
    pub service_account: String,
    /// The Kubernetes Secret type the SecretSyncs write (`Opaque`).
    pub secret_type: String,
    /// The instance's default SecretProviderClass (the one secret-sync enablement made);
    /// `None`: the one SecretProviderClass in the namespace, other than the connector's, that
    /// names a Key Vault.
    pub default_provider_class: Option<String>,
    /// Certificates ending within this window get a warning (30 days).
    pub expiry_warning: time::Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            namespace: "azure-iot-operations".into(),
            provider_class: "opc-ua-connector".into(),
            trust_list: "aio-opc-ua-broker-trust-list".into(),
            issuer_list: "aio-opc-ua-broker-issuer-list".into(),
            client_certificate: "aio-opc-ua-broker-client-certificate".into(),
            service_account: "aio-ssc-sa".into(),
            secret_type: "Opaque".into(),
            default_provider_class: None,
            expiry_warning: time::Duration::days(30),
        }
    }
}

impl StoreConfig {
    /// The defaults in `namespace`.
    pub fn in_namespace(namespace: impl Into<String>) -> StoreConfig {
        StoreConfig {
            namespace: namespace.into(),
            ..Default::default()
        }
    }

    /// Checks the configuration before it names anything in a request: `namespace` must be a
    /// Kubernetes namespace name (an RFC 1123 label, keyway-cluster's
    /// [`check_namespace`](keyway_cluster::names::check_namespace)); else
    /// [`StoreError::Invalid`] for `namespace`, the value shown escaped. [`Instance::discover`]
    /// calls it first, so an empty name, `../x` or `a/` is never put in a request path.
    pub fn check(&self) -> Result<()> {
        keyway_cluster::names::check_namespace(keyway_cluster::Field::Namespace, &self.namespace)
            .map_err(|e| match e {
                keyway_cluster::ClusterError::Invalid { problem, .. } => {
                    StoreError::invalid("namespace", problem)
                }
                other => StoreError::invalid("namespace", other.to_string()),
            })
    }

    /// The SecretSync (and Kubernetes Secret) name of `store`.
    pub fn secret_sync(&self, store: Store) -> &str {
        match store {
            Store::Trust => &self.trust_list,
            Store::Issuer => &self.issuer_list,
            Store::Client => &self.client_certificate,
        }
    }

    /// The store whose SecretSync is `name`, if any.
    pub fn store_of(&self, name: &str) -> Option<Store> {
        Store::ALL
            .into_iter()
            .find(|s| self.secret_sync(*s) == name)
    }
}

/// The instance's vault, as its default SecretProviderClass names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// The default SecretProviderClass's name.
    pub provider_class: String,
    /// `keyvaultName`.
    pub vault_name: String,
    /// The vault's URL (`https://<name>.vault.azure.net/` in the public cloud).
    pub vault_url: String,
    /// `tenantId`.
    pub tenant_id: Option<String>,
    /// `clientId`: the identity the SecretSyncs sync with.
    pub client_id: Option<String>,
    /// Its `spec.parameters` without `objects`: what the connector's SecretProviderClass
    /// copies when it is created.
    pub parameters: BTreeMap<String, String>,
}

impl Instance {
    /// Reads the instance's default SecretProviderClass from `target`: `config`'s
    /// `default_provider_class` when named, else the one SecretProviderClass in the namespace
    /// that names a Key Vault and is not the connector's. None →
    /// [`StoreError::NamespaceNotFound`] when the target says the namespace does not exist,
    /// else [`StoreError::SecretSyncNotEnabled`]. A configuration [`StoreConfig::check`] refuses
    /// is refused before any request.
    pub async fn discover(target: &dyn StoreTarget, config: &StoreConfig) -> Result<Instance> {
        config.check()?;
        let not_enabled = || async {
            if target.namespace_exists().await == Some(false) {
                return StoreError::NamespaceNotFound {
                    namespace: config.namespace.clone(),
                };
            }
            StoreError::SecretSyncNotEnabled {
                namespace: config.namespace.clone(),
                connector: config.provider_class.clone(),
            }
        };
        let spc = match &config.default_provider_class {
            Some(name) => match target.provider_class(name).await? {
                Some(spc) => spc,
                None => return Err(not_enabled().await),
            },
            None => {
                let mut candidates: Vec<SecretProviderClass> = target
                    .provider_classes()
                    .await?
                    .into_iter()
                    .filter(|spc| {
                        spc.metadata.name.as_deref() != Some(config.provider_class.as_str())
                            && spc.spec.provider.as_deref().is_none_or(|p| p == "azure")
                            && spc.spec.parameters.contains_key("keyvaultName")
                    })
                    .collect();
                if candidates.len() > 1 {
                    // Secret-sync enablement names its class spc-ops-<hash>.
                    let ops: Vec<_> = candidates
                        .iter()
                        .filter(|c| {
                            c.metadata
                                .name
                                .as_deref()
                                .unwrap_or("")
                                .starts_with("spc-ops-")
                        })
                        .cloned()
                        .collect();
                    if ops.len() == 1 {
                        candidates = ops;
                    }
                }
                match candidates.len() {
                    0 => return Err(not_enabled().await),
                    1 => candidates.remove(0),
                    _ => {
                        return Err(StoreError::AmbiguousInstance {
                            namespace: config.namespace.clone(),
                            candidates: candidates
                                .iter()
                                .filter_map(|c| c.metadata.name.clone())
                                .collect(),
                        });
                    }
                }
            }
        };
        Instance::from_provider_class(&spc, &config.namespace)
    }

    /// The instance's vault as `spc` names it.
    pub fn from_provider_class(spc: &SecretProviderClass, namespace: &str) -> Result<Instance> {
        let name = spc.metadata.name.clone().unwrap_or_default();
        let mut bare = spc.clone();
        bare.spec.parameters.remove("objects");
        // keyway-sync's rules read the vault (keyvaultName, cloud, tenant, client); they also
        // want an object, which the class secret-sync enablement makes does not have yet.
        let mut probe = bare.clone();
        probe.spec.parameters.insert(
            "objects".into(),
            "array:\n  - |\n    objectName: probe\n    objectType: secret\n".into(),
        );
        let spec = SyncSpec::from_provider_class(&probe).map_err(|e| {
            let (field, reason) = match &e {
                keyway_sync::SyncError::Invalid { path, problem, .. } => {
                    (path.clone(), problem.to_string())
                }
                other => (String::new(), other.to_string()),
            };
            StoreError::ClusterData {
                resource: format!("SecretProviderClass {namespace}/{name}"),
                field,
                reason,
            }
        })?;
        Ok(Instance {
            provider_class: name,
            vault_name: spec.vault_name.clone().unwrap_or_default(),
            vault_url: spec.vault_url.clone(),
            tenant_id: spec.tenant_id.clone(),
            client_id: spec.client_id.clone(),
            parameters: bare.spec.parameters,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_azure_iot_operations_names() {
        let config = StoreConfig::default();
        assert_eq!(config.namespace, "azure-iot-operations");
        assert_eq!(config.provider_class, "opc-ua-connector");
        assert_eq!(
            config.secret_sync(Store::Trust),
            "aio-opc-ua-broker-trust-list"
        );
        assert_eq!(
            config.secret_sync(Store::Issuer),
            "aio-opc-ua-broker-issuer-list"
        );
        assert_eq!(
            config.secret_sync(Store::Client),
            "aio-opc-ua-broker-client-certificate"
        );
        assert_eq!(config.service_account, "aio-ssc-sa");
        assert_eq!(config.secret_type, "Opaque");
        assert_eq!(config.expiry_warning, time::Duration::days(30));
        assert_eq!(
            config.store_of("aio-opc-ua-broker-issuer-list"),
            Some(Store::Issuer)
        );
        assert!("TRUST".parse::<Store>().is_ok() && "x".parse::<Store>().is_err());
    }
}
