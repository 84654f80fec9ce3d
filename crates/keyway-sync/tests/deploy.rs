//! deploy/controller loads into the Kubernetes types, and its RBAC grants what the controller
//! calls — and nothing on Secrets beyond get/list/watch/create/patch. The Helm chart, by real
//! Helm (support/helm.rs): `helm lint` finds no error or warning, `helm template` renders
//! exactly deploy/controller's objects (in any namespace) and every value reaches the
//! manifests, and `--include-crds` installs exactly deploy/crds.

mod support;

use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use keyway_sync::controller::ControllerOptions;
use serde_json::{Value, json};
use support::helm::{Helm, assert_same_objects, chart, documents as yaml_documents, documents_in};

fn documents(file: &str) -> Vec<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/controller")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    keyway_sync::yaml::documents(&text)
        .unwrap()
        .into_iter()
        .collect()
}

fn of_kind<T: serde::de::DeserializeOwned>(file: &str, kind: &str) -> T {
    let doc = documents(file)
        .into_iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} in {file}"));
    serde_json::from_value(doc).unwrap()
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
    // No get: the controller compares with its watch-fed cache of the Secrets it manages.
    assert_eq!(
        verbs(&rules, "secrets"),
        ["list", "watch", "create", "patch"]
    );
    assert_eq!(verbs(&rules, "serviceaccounts/token"), ["create"]);
    assert_eq!(verbs(&rules, "secretsyncs/status"), ["patch"]);
    // Nor here: SecretProviderClasses come from a watch-fed store as well.
    assert_eq!(verbs(&rules, "secretproviderclasses"), ["list", "watch"]);
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

/// `doc` without what the chart states and deploy/controller leaves unsaid, none of which
/// changes what runs, applied to both sides (so a plain manifest that states it too still
/// compares equal):
/// - the objects' own `app.kubernetes.io/*` labels, which the chart puts on what it owns
///   (`name`, and `instance` and `version`: the release's name and the chart's appVersion,
///   which a `kubectl apply -f deploy/controller` has no value for) and the plain manifests
///   put on some objects only; they select nothing;
/// - `app.kubernetes.io/instance` in the Deployment's selector and pod labels: the release's
///   name, which tells two releases' pods apart; `app.kubernetes.io/name` there is compared;
/// - three settings the chart spells out at their defaults: `imagePullPolicy: IfNotPresent`
///   (the API server's default for an image tagged other than `latest`),
///   `--requests-per-10s=` the controller's default, and `KEYWAY_LOG=info` (the CLI's level
///   when it is unset).
fn without_stated_defaults(mut doc: Value) -> Value {
    if let Some(Value::Object(labels)) = doc.pointer_mut("/metadata/labels") {
        labels.retain(|label, _| !label.starts_with("app.kubernetes.io/"));
        if labels.is_empty() {
            doc["metadata"].as_object_mut().unwrap().remove("labels");
        }
    }
    for labels in [
        "/spec/selector/matchLabels",
        "/spec/template/metadata/labels",
    ] {
        if let Some(Value::Object(labels)) = doc.pointer_mut(labels) {
            labels.remove("app.kubernetes.io/instance");
        }
    }
    let default_rate = format!(
        "--requests-per-10s={}",
        ControllerOptions::default().requests_per_10s
    );
    if let Some(Value::Array(containers)) = doc.pointer_mut("/spec/template/spec/containers") {
        for container in containers.iter_mut().filter_map(Value::as_object_mut) {
            let tagged = container
                .get("image")
                .and_then(Value::as_str)
                .and_then(|image| image.rsplit_once(':'))
                .is_some_and(|(_, tag)| tag != "latest" && !tag.contains('/'));
            if tagged && container.get("imagePullPolicy") == Some(&json!("IfNotPresent")) {
                container.remove("imagePullPolicy");
            }
            if let Some(Value::Array(args)) = container.get_mut("args") {
                args.retain(|a| *a != default_rate);
            }
            if let Some(Value::Array(env)) = container.get_mut("env") {
                env.retain(|e| *e != json!({"name": "KEYWAY_LOG", "value": "info"}));
            }
        }
    }
    doc
}

fn is_admission_policy(doc: &Value) -> bool {
    doc["apiVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("admissionregistration.k8s.io/"))
}

/// The chart's documents for a release in `namespace`, without its admission policies (tests/
/// admission.rs compares those) and without what [`without_stated_defaults`] removes.
fn controller_objects(helm: &Helm, namespace: &str, set: &[&str]) -> Vec<Value> {
    helm.render(namespace, set)
        .into_iter()
        .filter(|d| !is_admission_policy(d))
        .map(without_stated_defaults)
        .collect()
}

/// deploy/controller's documents, moved to `namespace`.
fn plain_controller_objects(namespace: &str) -> Vec<Value> {
    documents_in("deploy/controller")
        .into_iter()
        .map(|doc| {
            let text = serde_json::to_string(&doc)
                .unwrap()
                .replace("\"keyway-system\"", &format!("\"{namespace}\""));
            without_stated_defaults(serde_json::from_str(&text).unwrap())
        })
        .collect()
}

#[test]
fn helm_lints_the_chart_without_errors_or_warnings() {
    let Some(helm) = Helm::find("helm lint") else {
        return;
    };
    let report = helm.lint(&chart()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        report.contains("1 chart(s) linted, 0 chart(s) failed")
            && !report.contains("[ERROR]")
            && !report.contains("[WARNING]"),
        "{report}"
    );

    // The linter fails a chart a template of which does not execute: a copy with one that
    // reads below a value values.yaml does not define.
    let copy = std::env::temp_dir().join(format!("keyway-helm-lint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    copy_dir(&chart(), &copy.join("keyway"));
    std::fs::write(
        copy.join("keyway/templates/broken.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  port: {{ .Values.controller.missing.port | quote }}\n",
    )
    .unwrap();
    let failed = helm.lint(&copy.join("keyway"));
    std::fs::remove_dir_all(&copy).unwrap();
    let failed = failed.expect_err("lint passed a template that does not execute");
    assert!(
        failed.contains("[ERROR]") && failed.contains("templates/broken.yaml"),
        "{failed}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn helm_renders_deploy_controller_in_any_namespace() {
    let Some(helm) = Helm::find("helm template") else {
        return;
    };
    let plain = plain_controller_objects("keyway-system");
    assert_eq!(plain.len(), 6, "deploy/controller's objects");
    assert_same_objects(
        "default values",
        &controller_objects(&helm, "keyway-system", &[]),
        &plain,
    );
    // A release in another namespace: the same objects there, bound to that namespace's account.
    assert_same_objects(
        "--namespace tenant-a",
        &controller_objects(&helm, "tenant-a", &[]),
        &plain_controller_objects("tenant-a"),
    );
    // Without the admission policies, the chart is exactly deploy/controller.
    let off: Vec<Value> = helm
        .render("keyway-system", &["admissionPolicies.enabled=false"])
        .into_iter()
        .map(without_stated_defaults)
        .collect();
    assert_same_objects("admissionPolicies.enabled=false", &off, &plain);
}

#[test]
fn helm_renders_every_value_into_the_manifests() {
    let Some(helm) = Helm::find("helm template") else {
        return;
    };
    let vault = "https://myvault.privatelink.vaultcore.azure.net";
    let terms =
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
    let docs = helm.render(
        "keyway-system",
        &[
            "replicaCount=1",
            "image.repository=registry.example/keyway",
            "image.tag=1.2.3",
            "image.pullPolicy=Always",
            "controller.pollInterval=5m",
            "controller.jitter=20%",
            "controller.namespaces={team-a,team-b}",
            "controller.selector=app=edge",
            "controller.requestsPer10s=500",
            &format!("controller.vaultUrls.myvault={vault}"),
            "controller.logLevel=debug",
            "metrics.port=9100",
            "health.port=8181",
            "resources.limits.memory=256Mi",
            r"nodeSelector.kubernetes\.io/os=linux",
            "tolerations[0].key=edge",
            "tolerations[0].operator=Exists",
            &format!("{terms}[0].matchExpressions[0].key=edge"),
            &format!("{terms}[0].matchExpressions[0].operator=Exists"),
        ],
    );
    let of = |kind: &str| -> Vec<&Value> { docs.iter().filter(|d| d["kind"] == kind).collect() };
    let [deployment] = of("Deployment")[..] else {
        panic!("one Deployment");
    };
    let deployment: Deployment = serde_json::from_value(deployment.clone()).unwrap();
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(1));
    let pod = spec.template.spec.unwrap();
    assert_eq!(
        pod.node_selector,
        Some([("kubernetes.io/os".to_string(), "linux".to_string())].into())
    );
    let tolerations = pod.tolerations.as_ref().unwrap();
    assert_eq!(tolerations[0].key.as_deref(), Some("edge"));
    let node_affinity = pod
        .affinity
        .as_ref()
        .unwrap()
        .node_affinity
        .as_ref()
        .unwrap();
    let required = node_affinity
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap();
    let expressions = required.node_selector_terms[0].match_expressions.as_ref();
    assert_eq!(expressions.unwrap()[0].key, "edge");
    let container = &pod.containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("registry.example/keyway:1.2.3")
    );
    assert_eq!(container.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(
        container.args.as_deref().unwrap(),
        [
            "controller".to_string(),
            "--namespaces=team-a,team-b".into(),
            "--selector=app=edge".into(),
            "--poll-interval=5m".into(),
            "--jitter=20%".into(),
            "--requests-per-10s=500".into(),
            format!("--vault-url=myvault={vault}"),
            "--metrics-addr=:9100".into(),
            "--health-addr=:8181".into(),
        ],
        "one replica: no --leader-elect"
    );
    let env = container.env.as_ref().unwrap();
    assert_eq!(env[0].name, "KEYWAY_LOG");
    assert_eq!(env[0].value.as_deref(), Some("debug"));
    let ports: Vec<i32> = container
        .ports
        .iter()
        .flatten()
        .map(|p| p.container_port)
        .collect();
    assert_eq!(ports, [9100, 8181]);
    let limits = container
        .resources
        .as_ref()
        .unwrap()
        .limits
        .as_ref()
        .unwrap();
    assert_eq!(limits["memory"].0, "256Mi");

    // Listed namespaces: a Role and its binding in each, with the ClusterRole's rules, and no
    // cluster-wide grant.
    let cluster_role: ClusterRole = of_kind("rbac.yaml", "ClusterRole");
    assert!(of("ClusterRole").is_empty() && of("ClusterRoleBinding").is_empty());
    for namespace in ["team-a", "team-b"] {
        let role = of("Role")
            .into_iter()
            .find(|d| d["metadata"]["namespace"] == namespace)
            .unwrap_or_else(|| panic!("no Role in {namespace}"));
        let role: Role = serde_json::from_value(role.clone()).unwrap();
        assert_eq!(role.metadata.name.as_deref(), Some("keyway-controller"));
        assert_eq!(role.rules, cluster_role.rules);
        let binding = of("RoleBinding")
            .into_iter()
            .find(|d| d["metadata"]["namespace"] == namespace)
            .unwrap_or_else(|| panic!("no RoleBinding in {namespace}"));
        assert_eq!(binding["roleRef"]["name"], "keyway-controller");
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "keyway-controller", "namespace": "keyway-system"}])
        );
    }
}

#[test]
fn helm_installs_exactly_deploy_crds() {
    let Some(helm) = Helm::find("helm template --include-crds") else {
        return;
    };
    let rendered = helm
        .template(&chart(), "keyway-system", &[], true)
        .unwrap_or_else(|e| panic!("{e}"));
    let crds: Vec<Value> = yaml_documents(&rendered)
        .into_iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect();
    let plain = documents_in("deploy/crds");
    assert!(plain.len() >= 2, "deploy/crds holds the CRDs");
    assert_same_objects("--include-crds", &crds, &plain);
    // They are the chart's crds/ (installed only when absent, never upgraded or deleted), not
    // templates: without the flag none renders.
    assert!(
        helm.render("keyway-system", &[])
            .iter()
            .all(|d| d["kind"] != "CustomResourceDefinition")
    );
}
