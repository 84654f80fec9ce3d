//! The resource types the stand-in serves: the built-in ones keyway needs, and those custom
//! resource definitions add.

use serde_json::{Value, json};

/// One served resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceType {
    pub group: String,
    pub version: String,
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

    /// The key objects of this type are stored under.
    pub fn key(&self) -> String {
        format!("{}/{}", self.api_version(), self.plural)
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
        spec["versions"]
            .as_array()
            .map(|versions| {
                versions
                    .iter()
                    .filter(|v| v["served"].as_bool().unwrap_or(true))
                    .map(|v| ResourceType {
                        group: group.into(),
                        version: v["name"].as_str().unwrap_or_default().into(),
                        plural: plural.into(),
                        kind: kind.into(),
                        namespaced,
                        status: v["subresources"]["status"].is_object(),
                        short_names: short_names.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
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
