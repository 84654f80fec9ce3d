//! The resource types the stand-in serves: the built-in ones keyway needs, and those custom
//! resource definitions add.

use std::sync::Arc;

use serde_json::{Value, json};

/// One served resource type (one version of it: a CRD's versions are separate types sharing
/// their objects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceType {
    pub group: String,
    pub version: String,
    /// The version objects are stored in (the CRD's `storage: true` one; `version` for
    /// built-ins).
    pub storage_version: String,
    /// This version's `openAPIV3Schema` (custom resources only).
    pub schema: Option<Arc<Value>>,
    /// The warning every request to a deprecated version gets.
    pub deprecation: Option<String>,
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
    /// Served with a `status` subresource.
    pub status: bool,
    /// Abbreviations `kubectl` accepts (`ns`, `sa`, `ssc`).
    pub short_names: Vec<String>,
}

impl ResourceType {
    fn builtin(
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
        short_names: &[&str],
    ) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: version.into(),
            storage_version: version.into(),
            schema: None,
            deprecation: None,
            plural: plural.into(),
            kind: kind.into(),
            namespaced,
            status: false,
            short_names: short_names.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The key objects of this type are stored under: group and plural, the same for every
    /// version (objects are stored once, in the storage version).
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// The stored resource whose objects this type serves as well, converted by
    /// [`ResourceType::present_viewed`]: core `v1` `events` also serves `events.k8s.io` Events, as
    /// a real API server serves one Event resource through both groups.
    pub fn also_serves(&self) -> Option<&'static str> {
        self.is("", "events")
            .then_some(super::events::EVENTS_K8S_IO)
    }

    /// An object of [`ResourceType::also_serves`] as this type serves it.
    pub fn present_viewed(&self, object: &Value) -> Value {
        super::events::to_core(object)
    }

    /// Whether this is `plural` in `group`.
    pub fn is(&self, group: &str, plural: &str) -> bool {
        self.group == group && self.plural == plural
    }

    /// The `apiVersion` objects are stored with.
    pub fn storage_api_version(&self) -> String {
        if self.group.is_empty() {
            self.storage_version.clone()
        } else {
            format!("{}/{}", self.group, self.storage_version)
        }
    }

    /// A stored object as this version serves it (conversion strategy `None`: only the
    /// `apiVersion` changes).
    pub fn present(&self, mut object: Value) -> Value {
        if object.is_object() {
            object["apiVersion"] = json!(self.api_version());
        }
        object
    }

    /// The type a CustomResourceDefinition object defines, for each served version.
    pub fn from_crd(crd: &Value) -> Vec<ResourceType> {
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        let plural = spec["names"]["plural"].as_str().unwrap_or_default();
        let kind = spec["names"]["kind"].as_str().unwrap_or_default();
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        let short_names: Vec<String> = spec["names"]["shortNames"]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let versions = spec["versions"].as_array().cloned().unwrap_or_default();
        let storage_version = versions
            .iter()
            .find(|v| v["storage"].as_bool() == Some(true))
            .and_then(|v| v["name"].as_str())
            .unwrap_or_default()
            .to_string();
        versions
            .iter()
            .filter(|v| v["served"].as_bool().unwrap_or(true))
            .map(|v| ResourceType {
                group: group.into(),
                version: v["name"].as_str().unwrap_or_default().into(),
                storage_version: storage_version.clone(),
                schema: v["schema"]["openAPIV3Schema"]
                    .is_object()
                    .then(|| Arc::new(v["schema"]["openAPIV3Schema"].clone())),
                deprecation: (v["deprecated"].as_bool() == Some(true)).then(|| {
                    v["deprecationWarning"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            format!(
                                "{group}/{} {kind} is deprecated",
                                v["name"].as_str().unwrap_or_default()
                            )
                        })
                }),
                plural: plural.into(),
                kind: kind.into(),
                namespaced,
                status: v["subresources"]["status"].is_object(),
                short_names: short_names.clone(),
            })
            .collect()
    }

    /// Kubernetes' version priority: GA before beta before alpha, higher numbers first, then
    /// anything else by name (`v1` > `v1beta2` > `v1beta1` > `v1alpha1` > `foo`).
    pub fn priority(version: &str) -> impl Ord + use<> {
        let parsed = version.strip_prefix('v').and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let major: u64 = digits.parse().ok()?;
            match &rest[digits.len()..] {
                "" => Some((3u8, major, 0u64)),
                tail => {
                    let (level, n) = if let Some(n) = tail.strip_prefix("beta") {
                        (2u8, n)
                    } else {
                        (1u8, tail.strip_prefix("alpha")?)
                    };
                    Some((level, major, n.parse().ok()?))
                }
            }
        });
        match parsed {
            Some((level, major, minor)) => (level, major, minor, std::cmp::Reverse(String::new())),
            None => (0, 0, 0, std::cmp::Reverse(version.to_string())),
        }
    }

    /// The entry of an `APIResourceList`.
    pub fn discovery(&self) -> Vec<Value> {
        let verbs = [
            "create", "delete", "get", "list", "patch", "update", "watch",
        ];
        let mut entries = vec![json!({
            "name": self.plural,
            "singularName": self.kind.to_ascii_lowercase(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": verbs,
            "shortNames": self.short_names,
        })];
        if self.status {
            entries.push(json!({"name": format!("{}/status", self.plural), "singularName": "", "namespaced": self.namespaced, "kind": self.kind, "verbs": ["get", "patch", "update"]}));
        }
        if self.plural == "serviceaccounts" && self.group.is_empty() {
            entries.push(json!({"name": "serviceaccounts/token", "singularName": "", "namespaced": true, "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}));
        }
        entries
    }
}

/// The built-in resource types.
pub(crate) fn builtins() -> Vec<ResourceType> {
    vec![
        ResourceType::builtin("", "v1", "namespaces", "Namespace", false, &["ns"]),
        ResourceType::builtin("", "v1", "secrets", "Secret", true, &[]),
        ResourceType::builtin("", "v1", "serviceaccounts", "ServiceAccount", true, &["sa"]),
        ResourceType::builtin("", "v1", "events", "Event", true, &["ev"]),
        ResourceType::builtin("events.k8s.io", "v1", "events", "Event", true, &["ev"]),
        ResourceType::builtin("coordination.k8s.io", "v1", "leases", "Lease", true, &[]),
        ResourceType::builtin(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
        ),
    ]
}
