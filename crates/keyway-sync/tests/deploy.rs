//! deploy/controller loads into the Kubernetes types, and its RBAC grants what the controller
//! calls — and nothing on Secrets beyond get/list/watch/create/patch. The Helm chart's templates
//! use only values its values.yaml defines, and grant the same rules.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use serde::Deserialize;

fn documents(file: &str) -> Vec<serde_yaml_ng::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/controller")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde_yaml_ng::Value::deserialize(d).unwrap())
        .collect()
}

fn of_kind<T: serde::de::DeserializeOwned>(file: &str, kind: &str) -> T {
    let doc = documents(file)
        .into_iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} in {file}"));
    serde_yaml_ng::from_value(doc).unwrap()
}

fn verbs(rules: &[k8s_openapi::api::rbac::v1::PolicyRule], resource: &str) -> Vec<String> {
    rules
        .iter()
        .filter(|r| r.resources.iter().flatten().any(|x| x == resource))
        .flat_map(|r| r.verbs.clone())
        .collect()
}

#[test]
fn the_deployment_and_least_privilege_rbac_load() {
    let role: ClusterRole = of_kind("rbac.yaml", "ClusterRole");
    let rules = role.rules.unwrap();
    assert_eq!(
        verbs(&rules, "secrets"),
        ["get", "list", "watch", "create", "patch"]
    );
    assert_eq!(verbs(&rules, "serviceaccounts/token"), ["create"]);
    assert_eq!(verbs(&rules, "secretsyncs/status"), ["patch"]);
    assert_eq!(
        verbs(&rules, "secretproviderclasses"),
        ["get", "list", "watch"]
    );
    assert!(
        rules
            .iter()
            .all(|r| !r.verbs.iter().any(|v| v == "*" || v == "delete"))
    );
    let leases: Role = of_kind("rbac.yaml", "Role");
    assert_eq!(
        verbs(&leases.rules.unwrap(), "leases"),
        ["get", "create", "update"]
    );

    let deployment: Deployment = of_kind("deployment.yaml", "Deployment");
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.security_context.unwrap().run_as_non_root, Some(true));
    let container = &pod.containers[0];
    assert!(
        container
            .args
            .iter()
            .flatten()
            .any(|a| a == "--leader-elect")
    );
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert!(container.resources.as_ref().unwrap().requests.is_some());
}

#[test]
fn the_helm_chart_uses_only_values_it_defines_and_the_same_rules() {
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/keyway");
    let values: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart.join("values.yaml")).unwrap())
            .unwrap();
    let mut templates = String::new();
    for entry in std::fs::read_dir(chart.join("templates")).unwrap() {
        templates.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let mut used = 0;
    for reference in templates.split(".Values.").skip(1) {
        let path: String = reference
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
            .collect();
        let path = path.trim_end_matches('.');
        let mut node = &values;
        for key in path.split('.') {
            node = node
                .get(key)
                .unwrap_or_else(|| panic!(".Values.{path} is not in values.yaml"));
        }
        used += 1;
    }
    assert!(
        used >= 10,
        "the templates read the values ({used} references)"
    );
    for key in ["replicaCount", "image", "controller"] {
        assert!(values.get(key).is_some(), "values.yaml defines {key}");
    }
    assert!(values["controller"].get("pollInterval").is_some());
    assert!(values["controller"].get("namespaces").is_some());
    // The chart's rules are the plain manifests' rules.
    let role: ClusterRole = of_kind("rbac.yaml", "ClusterRole");
    let helpers = std::fs::read_to_string(chart.join("templates/_helpers.tpl")).unwrap();
    let start = helpers.find("define \"keyway.rules\"").unwrap();
    let block = &helpers[start..];
    let block = &block[block.find('\n').unwrap() + 1..block.find("{{- end").unwrap()];
    let rules: Vec<k8s_openapi::api::rbac::v1::PolicyRule> =
        serde_yaml_ng::from_str(block).unwrap();
    assert_eq!(Some(rules), role.rules);
}
