//! Request counters by service, operation and status, so tests and benchmarks count calls
//! instead of timing them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use serde::Serialize;

/// An emulated service.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// Microsoft Entra ID's token endpoint.
    Entra,
    /// The OIDC issuer (discovery document and JWKS).
    Issuer,
    /// Azure Key Vault.
    KeyVault,
    /// The Kubernetes API server stand-in.
    Kubernetes,
    /// The Azure Resource Manager stand-in.
    Arm,
}

impl Service {
    /// The name used in counters and fault rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Entra => "entra",
            Service::Issuer => "issuer",
            Service::KeyVault => "keyvault",
            Service::Kubernetes => "kubernetes",
            Service::Arm => "arm",
        }
    }
}

impl std::str::FromStr for Service {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "entra" => Ok(Service::Entra),
            "issuer" => Ok(Service::Issuer),
            "keyvault" => Ok(Service::KeyVault),
            "kubernetes" => Ok(Service::Kubernetes),
            "arm" => Ok(Service::Arm),
            other => Err(format!(
                "unknown service {other:?}: expected entra, issuer, keyvault, kubernetes or arm"
            )),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many requests one (service, operation, status) saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RequestCount {
    /// The service.
    pub service: Service,
    /// The operation, named as in the REST specification (`GetSecret`, `Token`, ...).
    pub operation: String,
    /// The HTTP status answered (0 for a dropped connection).
    pub status: u16,
    /// How many.
    pub count: u64,
}

/// How many requests of one verb on one resource the Kubernetes stand-in answered with one
/// status: what [`RequestCount`]'s operation (`get`, `list`, ...) does not tell — a watch from a
/// list, or which resource was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KubernetesRequestCount {
    /// The verb as RBAC names it: get, list, watch, create, update, patch, delete or
    /// deletecollection.
    pub verb: String,
    /// The API group (`""` for the core group).
    pub group: String,
    /// The resource with its subresource: `secrets`, `secretsyncs/status`.
    pub resource: String,
    /// The HTTP status answered.
    pub status: u16,
    /// How many.
    pub count: u64,
}

/// The counters.
#[derive(Debug, Default)]
pub struct Counters {
    counts: Mutex<BTreeMap<(Service, String, u16), u64>>,
    /// The Kubernetes stand-in's requests by (verb, group, resource, status); injected faults
    /// never reach the stand-in, so they are counted by operation only.
    kubernetes: Mutex<BTreeMap<(String, String, String, u16), u64>>,
}

impl Counters {
    pub(crate) fn record(&self, service: Service, operation: &str, status: u16) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts
            .entry((service, operation.to_string(), status))
            .or_default() += 1;
    }

    /// Every counter, sorted by service, operation and status.
    pub fn snapshot(&self) -> Vec<RequestCount> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .iter()
            .map(|((service, operation, status), count)| RequestCount {
                service: *service,
                operation: operation.clone(),
                status: *status,
                count: *count,
            })
            .collect()
    }

    /// Requests of `service` and `operation`, whatever their status.
    pub fn count(&self, service: Service, operation: &str) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .iter()
            .filter(|((s, o, _), _)| *s == service && o == operation)
            .map(|(_, c)| *c)
            .sum()
    }

    /// Requests of `service`, `operation` and `status`.
    pub fn count_status(&self, service: Service, operation: &str, status: u16) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .get(&(service, operation.to_string(), status))
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn record_kubernetes(&self, verb: &str, group: &str, resource: &str, status: u16) {
        let mut counts = self.kubernetes.lock().unwrap_or_else(|p| p.into_inner());
        *counts
            .entry((verb.into(), group.into(), resource.into(), status))
            .or_default() += 1;
    }

    /// The Kubernetes stand-in's requests by verb, group, resource and status, sorted.
    pub fn kubernetes_requests(&self) -> Vec<KubernetesRequestCount> {
        let counts = self.kubernetes.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .iter()
            .map(
                |((verb, group, resource, status), count)| KubernetesRequestCount {
                    verb: verb.clone(),
                    group: group.clone(),
                    resource: resource.clone(),
                    status: *status,
                    count: *count,
                },
            )
            .collect()
    }

    /// The Kubernetes stand-in's requests of `verb` (`get`, `list`, `watch`, `patch`, ...) on
    /// `resource` (`secrets`, `secretsyncs/status`), in any group, whatever their status.
    pub fn kubernetes_count(&self, verb: &str, resource: &str) -> u64 {
        let counts = self.kubernetes.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .iter()
            .filter(|((v, _, r, _), _)| v == verb && r == resource)
            .map(|(_, c)| *c)
            .sum()
    }

    /// Sets every counter back to zero.
    pub fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.kubernetes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
