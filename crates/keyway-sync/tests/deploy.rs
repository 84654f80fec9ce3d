//! deploy/controller loads into the Kubernetes types, and its RBAC grants what the controller
//! calls — and nothing on Secrets beyond get/list/watch/create/patch.

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
