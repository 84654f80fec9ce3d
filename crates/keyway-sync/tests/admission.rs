//! The ValidatingAdmissionPolicies of deploy/admission and the Helm chart: what keyway's
//! controller service account may do on a cluster, whatever the controller itself checks — the
//! Secret types it writes (never a service-account token), one SecretSync owner per Secret,
//! TokenRequests only for `api://AzureADTokenExchange` and 10 min to 1 h, no deletes.
//!
//! Everywhere: the manifests load as the Kubernetes types with no unknown field and target the
//! service account deploy/controller runs as; and real Helm (support/helm.rs) renders exactly
//! them from the chart — for that namespace's account in another namespace, with the Secret
//! types a release narrows them to, and none when they are disabled.
//! On a real API server (`KEYWAY_TEST_KUBECONFIG`; the stand-in has no admission control): the
//! chart's policies, applied for a controller account in the test namespace, deny what they
//! must (with their messages) and allow what keyway's own sink and TokenRequest send.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use keyway_emulator::testing::TestCluster;
use keyway_identity::{AssertionSource, TOKEN_EXCHANGE_AUDIENCE, TokenRequest};
use keyway_sync::{
    Applied, FileSet, KubernetesSecretSink, MANAGED_LABEL, SecretObject, SecretObjectData,
    SecretSink, SecretSync, SecretSyncSpec, SyncedFile,
};
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, ResourceExt};
use serde_json::Value;
use support::helm::{Helm, assert_same_objects, documents, documents_in, key, repo};

/// The Secret types keyway's controller may write (issue 20: the library's allow-list).
const ALLOWED_TYPES: [&str; 5] = [
    "Opaque",
    "kubernetes.io/tls",
    "kubernetes.io/dockerconfigjson",
    "kubernetes.io/basic-auth",
    "kubernetes.io/ssh-auth",
];

/// Every document of deploy/admission/*.yaml, by file name order.
fn plain_documents() -> Vec<Value> {
    let docs = documents_in("deploy/admission");
    assert!(
        docs.len() >= 8,
        "deploy/admission holds the policies and their bindings"
    );
    docs
}

/// `doc` as `T`, and `T` written back is `doc` again: a misspelt or unknown field (which the
/// API server would drop or refuse) fails here.
fn typed<T>(doc: &Value) -> T
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let value: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{:?} does not load: {e}", key(doc)));
    let back = serde_json::to_value(&value).unwrap();
    assert_eq!(&back, doc, "{:?} has fields the type lacks", key(doc));
    value
}

fn is_admission_policy(doc: &Value) -> bool {
    doc["apiVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("admissionregistration.k8s.io/"))
}

/// The chart's admission policies and bindings for a release in `namespace` with `set`.
fn rendered_policies(helm: &Helm, namespace: &str, set: &[&str]) -> Vec<Value> {
    helm.render(namespace, set)
        .into_iter()
        .filter(is_admission_policy)
        .collect()
}

fn load_policies(docs: &[Value]) -> Vec<ValidatingAdmissionPolicy> {
    docs.iter()
        .filter(|d| d["kind"] == "ValidatingAdmissionPolicy")
        .map(typed)
        .collect()
}

/// The policy whose rules cover `operation` on `resource`.
fn policy_for<'a>(
    policies: &'a [ValidatingAdmissionPolicy],
    operation: &str,
    resource: &str,
) -> Vec<&'a ValidatingAdmissionPolicy> {
    policies
        .iter()
        .filter(|p| {
            let rules = p.spec.as_ref().unwrap().match_constraints.as_ref().unwrap();
            rules.resource_rules.iter().flatten().any(|r| {
                r.resources.iter().flatten().any(|x| x == resource)
                    && r.operations.iter().flatten().any(|o| o == operation)
            })
        })
        .collect()
}

fn expressions(policy: &ValidatingAdmissionPolicy) -> Vec<String> {
    let spec = policy.spec.as_ref().unwrap();
    spec.validations
        .iter()
        .flatten()
        .map(|v| v.expression.clone())
        .chain(
            spec.variables
                .iter()
                .flatten()
                .map(|v| v.expression.clone()),
        )
        .collect()
}

fn allowed_types(policies: &[ValidatingAdmissionPolicy]) -> Vec<String> {
    let [types] = policy_for(policies, "CREATE", "secrets")
        .iter()
        .flat_map(|p| p.spec.as_ref().unwrap().variables.iter().flatten())
        .filter(|v| v.name == "allowedTypes")
        .collect::<Vec<_>>()[..]
    else {
        panic!("one allowedTypes variable");
    };
    serde_json::from_str(&types.expression).expect("allowedTypes is a CEL list of strings")
}

#[test]
fn the_policies_load_and_cover_the_controllers_requests() {
    let docs = plain_documents();
    let policies = load_policies(&docs);
    let bindings: Vec<ValidatingAdmissionPolicyBinding> = docs
        .iter()
        .filter(|d| d["kind"] == "ValidatingAdmissionPolicyBinding")
        .map(typed)
        .collect();
    assert_eq!(docs.len(), policies.len() + bindings.len());

    // The account deploy/controller runs the controller as is the one every policy matches.
    let rbac = std::fs::read_to_string(repo().join("deploy/controller/rbac.yaml")).unwrap();
    let account: ServiceAccount = documents(&rbac)
        .into_iter()
        .find(|d| d["kind"] == "ServiceAccount")
        .map(|d| serde_json::from_value(d).unwrap())
        .unwrap();
    let username = format!(
        "system:serviceaccount:{}:{}",
        account.namespace().unwrap(),
        account.name_any()
    );
    for policy in &policies {
        let spec = policy.spec.as_ref().unwrap();
        assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
        let conditions = spec.match_conditions.as_ref().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(
            conditions[0].expression,
            format!("request.userInfo.username == '{username}'"),
            "{} matches only the controller's requests",
            policy.name_any()
        );
        assert!(!spec.validations.as_ref().unwrap().is_empty());
        let bound: Vec<_> = bindings
            .iter()
            .filter(|b| b.spec.as_ref().unwrap().policy_name.as_deref() == Some(&policy.name_any()))
            .collect();
        assert_eq!(bound.len(), 1, "{} has one binding", policy.name_any());
        assert_eq!(
            bound[0].spec.as_ref().unwrap().validation_actions,
            Some(vec!["Deny".to_string()])
        );
    }

    // Every request the controller's RBAC allows on Secrets and tokens is under a policy.
    for (operation, resource) in [
        ("CREATE", "secrets"),
        ("UPDATE", "secrets"),
        ("DELETE", "secrets"),
        ("CREATE", "serviceaccounts/token"),
    ] {
        assert!(
            !policy_for(&policies, operation, resource).is_empty(),
            "no policy on {operation} {resource}"
        );
    }
    assert_eq!(allowed_types(&policies), ALLOWED_TYPES);
    let secret_rules: String = policy_for(&policies, "CREATE", "secrets")
        .into_iter()
        .flat_map(expressions)
        .collect();
    assert!(secret_rules.contains("kubernetes.io/service-account."));
    assert!(secret_rules.contains("size(object.metadata.ownerReferences) == 1"));
    assert!(secret_rules.contains(MANAGED_LABEL));
    let token_rules: String = policy_for(&policies, "CREATE", "serviceaccounts/token")
        .into_iter()
        .flat_map(expressions)
        .collect();
    assert!(token_rules.contains(&format!("['{TOKEN_EXCHANGE_AUDIENCE}']")));
    assert!(token_rules.contains("expirationSeconds <= 3600"));
    let deletes = policy_for(&policies, "DELETE", "secrets");
    assert_eq!(expressions(deletes[0]), ["request.operation != 'DELETE'"]);
}

#[test]
fn helm_renders_the_policies_for_the_releases_account_and_values() {
    let Some(helm) = Helm::find("helm template") else {
        return;
    };
    // A release in keyway-system with the default values: exactly deploy/admission.
    let plain = plain_documents();
    let rendered = rendered_policies(&helm, "keyway-system", &[]);
    assert_same_objects("default values", &rendered, &plain);
    assert_eq!(allowed_types(&load_policies(&rendered)), ALLOWED_TYPES);

    // In another namespace, with narrower Secret types: the same policies for that namespace's
    // controller account, allowing only those types.
    let account = |ns: &str| format!("'system:serviceaccount:{ns}:keyway-controller'");
    let expected: Vec<Value> = plain
        .iter()
        .map(|doc| {
            let mut doc = doc.clone();
            // (pointer_mut: indexing a missing field mutably would add it as null.)
            for condition in doc
                .pointer_mut("/spec/matchConditions")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let expression = condition["expression"].as_str().unwrap();
                assert!(expression.contains(&account("keyway-system")));
                condition["expression"] = expression
                    .replace(&account("keyway-system"), &account("tenant-a"))
                    .into();
            }
            for variable in doc
                .pointer_mut("/spec/variables")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if variable["name"] == "allowedTypes" {
                    variable["expression"] = r#"["Opaque"]"#.into();
                }
            }
            doc
        })
        .collect();
    let elsewhere = rendered_policies(
        &helm,
        "tenant-a",
        &["admissionPolicies.allowedSecretTypes={Opaque}"],
    );
    assert_same_objects(
        "--namespace tenant-a, allowedSecretTypes={Opaque}",
        &elsewhere,
        &expected,
    );
    assert_eq!(allowed_types(&load_policies(&elsewhere)), ["Opaque"]);

    // Disabled: none at all (the controller's objects are tests/deploy.rs's).
    let off = rendered_policies(&helm, "keyway-system", &["admissionPolicies.enabled=false"]);
    assert!(off.is_empty(), "{off:?}");
}

/// Runs kubectl on `kubeconfig`, optionally as `user`, with `stdin`.
fn kubectl(kubeconfig: &Path, user: Option<&str>, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new("kubectl");
    command.arg("--kubeconfig").arg(kubeconfig);
    if let Some(user) = user {
        command.arg(format!("--as={user}"));
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl on PATH (needed with KEYWAY_TEST_KUBECONFIG)");
    let mut input = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, stdin.unwrap_or_default().as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Deletes the cluster-scoped policies a test applied, and its private folder, however the
/// test ends.
struct PolicyGuard {
    kubeconfig: PathBuf,
    file: PathBuf,
}

impl Drop for PolicyGuard {
    fn drop(&mut self) {
        let file = self.file.to_string_lossy().to_string();
        if self.file.exists() {
            let _ = kubectl(
                &self.kubeconfig,
                None,
                &["delete", "--ignore-not-found", "-f", &file],
                None,
            );
        }
        let _ = std::fs::remove_dir_all(self.file.parent().unwrap());
    }
}

fn secret_yaml(
    name: &str,
    secret_type: &str,
    annotations: &str,
    owners: &[(&str, &str)],
) -> String {
    let owners: Vec<String> = owners
        .iter()
        .map(|(n, uid)| format!("    - {{apiVersion: secret-sync.x-k8s.io/v1alpha1, kind: SecretSync, name: {n}, uid: {uid}, controller: false}}"))
        .collect();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  labels: {{{MANAGED_LABEL}: \"\"}}\n  annotations: {{{annotations}}}\n  ownerReferences:\n{}\ntype: {secret_type}\ndata: {{a: Yg==}}\n",
        owners.join("\n")
    )
}

fn secret_sync(name: &str) -> SecretSync {
    SecretSync::new(
        name,
        SecretSyncSpec {
            secret_provider_class_name: "app".into(),
            service_account_name: "workload".into(),
            secret_object: SecretObject {
                type_: "Opaque".into(),
                data: vec![SecretObjectData {
                    source_path: "a".into(),
                    target_key: "a".into(),
                }],
                labels: None,
                annotations: None,
            },
            force_synchronization: None,
            secret_sync_controller_name: None,
        },
    )
}

fn file_set(value: &str) -> FileSet {
    FileSet {
        files: BTreeMap::from([(
            "a".to_string(),
            SyncedFile {
                contents: zeroize::Zeroizing::new(value.as_bytes().to_vec()),
                mode: None,
            },
        )]),
    }
}

fn denied(output: &Output, policy: &str, message: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "allowed, expected {policy} to deny"
    );
    assert!(
        stderr.contains(&format!("ValidatingAdmissionPolicy '{policy}'"))
            && stderr.contains(message),
        "expected {policy}: {message}; got {stderr}"
    );
}

fn allowed(output: &Output) {
    assert!(
        output.status.success(),
        "denied: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_api_server_enforces_the_policies_on_the_controllers_requests() {
    let cluster = TestCluster::start("admission").await.unwrap();
    if !cluster.is_real() {
        println!(
            "admission: the stand-in has no admission control, so only the policies' objects and \
             the chart's rendering were checked; the enforcement half runs on a real API server \
             (KEYWAY_TEST_KUBECONFIG, Kubernetes 1.30+)"
        );
        cluster.cleanup().await;
        return;
    }
    let Some(helm) = Helm::find("admission on a real API server") else {
        cluster.cleanup().await;
        return;
    };
    let (admin, ns) = (cluster.client(), cluster.namespace().to_string());
    cluster
        .install_crds_from(&repo().join("deploy/crds"))
        .await
        .unwrap();
    // A fresh private folder: the kubeconfig holds the cluster's admin credentials.
    let work = std::env::temp_dir().join(format!("keyway-admission-{ns}"));
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&work)
        .unwrap_or_else(|e| panic!("{}: {e}", work.display()));
    let kubeconfig = work.join("kubeconfig");
    let file = work.join("policies.yaml");
    let _guard = PolicyGuard {
        kubeconfig: kubeconfig.clone(),
        file: file.clone(),
    };
    cluster.write_kubeconfig(&kubeconfig).unwrap();

    // The chart's policies as a release in the test namespace renders them: they match the
    // controller account `<ns>:keyway-controller`. Names get the namespace appended, since
    // policies are cluster objects and other runs may share the cluster.
    let controller = format!("system:serviceaccount:{ns}:keyway-controller");
    let mut docs = rendered_policies(&helm, &ns, &[]);
    for doc in &mut docs {
        let name = format!("{}-{ns}", doc["metadata"]["name"].as_str().unwrap());
        doc["metadata"]["name"] = name.into();
        if doc["kind"] == "ValidatingAdmissionPolicyBinding" {
            let policy = format!("{}-{ns}", doc["spec"]["policyName"].as_str().unwrap());
            doc["spec"]["policyName"] = policy.into();
        }
    }
    let policy = |suffix: &str| format!("keyway-controller-{suffix}-{ns}");
    let text: Vec<String> = docs
        .iter()
        .map(|d| keyway_sync::yaml::to_string(d).unwrap())
        .collect();
    std::fs::write(&file, text.join("---\n")).unwrap();
    let applied = kubectl(
        &kubeconfig,
        None,
        &["apply", "-f", &file.to_string_lossy()],
        None,
    );
    allowed(&applied);

    // The API server type-checks every expression against the Secret and TokenRequest schemas.
    let vaps: Api<ValidatingAdmissionPolicy> = Api::all(admin.clone());
    for name in [
        "secret-types",
        "secret-owner",
        "token-requests",
        "no-secret-deletes",
    ] {
        let mut checked = None;
        for _ in 0..100 {
            let vap = vaps.get(&policy(name)).await.unwrap();
            let status = vap.status.clone().unwrap_or_default();
            if status.observed_generation.is_some() && status.type_checking.is_some() {
                checked = Some(status);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let status = checked.unwrap_or_else(|| panic!("{name} was never type-checked"));
        let warnings = status.type_checking.unwrap().expression_warnings;
        assert!(
            warnings.as_ref().is_none_or(|w| w.is_empty()),
            "{name}: {warnings:?}"
        );
    }

    // The controller account with the controller's rules here, and `delete` and `get` on
    // Secrets besides — a wider grant than the chart's, so that the policy, not RBAC, is what
    // refuses deletes, and kubectl (which reads an object before it patches) can ask.
    let rbac = std::fs::read_to_string(repo().join("deploy/controller/rbac.yaml")).unwrap();
    let cluster_role: ClusterRole = documents(&rbac)
        .into_iter()
        .find(|d| d["kind"] == "ClusterRole")
        .map(|d| serde_json::from_value(d).unwrap())
        .unwrap();
    let mut rules = cluster_role.rules.unwrap();
    rules.push(PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec!["secrets".into()]),
        verbs: vec!["delete".into(), "get".into()],
        ..Default::default()
    });
    let mut role = Role::default();
    role.metadata.name = Some("keyway-controller".into());
    role.rules = Some(rules);
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let mut binding = RoleBinding {
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "keyway-controller".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "keyway-controller".into(),
            namespace: Some(ns.clone()),
            ..Default::default()
        }]),
        ..Default::default()
    };
    binding.metadata.name = Some("keyway-controller".into());
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let mut workload = ServiceAccount::default();
    workload.metadata.name = Some("workload".into());
    Api::<ServiceAccount>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &workload)
        .await
        .unwrap();
    let syncs: Api<SecretSync> = Api::namespaced(admin.clone(), &ns);
    let mut uids = BTreeMap::new();
    for name in ["app", "other", "sink"] {
        let created = syncs
            .create(&PostParams::default(), &secret_sync(name))
            .await
            .unwrap();
        uids.insert(name, created.uid().unwrap());
    }
    let (app, other) = (uids["app"].as_str(), uids["other"].as_str());

    let as_controller = |args: &[&str], stdin: Option<&str>| {
        let mut all = vec!["-n", ns.as_str()];
        all.extend_from_slice(args);
        kubectl(&kubeconfig, Some(&controller), &all, stdin)
    };
    let token_secret = secret_yaml(
        "app",
        "kubernetes.io/service-account-token",
        "kubernetes.io/service-account.name: workload",
        &[("app", app)],
    );

    // RBAC and the policies reach the server's caches a moment after they are created: a server
    // dry run of the service-account-token Secret is refused by the policy once both are there.
    let mut probe = as_controller(
        &["create", "--dry-run=server", "-f", "-"],
        Some(&token_secret),
    );
    for _ in 0..100 {
        if String::from_utf8_lossy(&probe.stderr).contains("ValidatingAdmissionPolicy") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        probe = as_controller(
            &["create", "--dry-run=server", "-f", "-"],
            Some(&token_secret),
        );
    }

    // 1. Types: a service-account token Secret (the issue's attack) and the annotation that
    //    would make the API server fill one are refused; nothing is created.
    denied(
        &as_controller(&["create", "-f", "-"], Some(&token_secret)),
        &policy("secret-types"),
        "may not write a Secret of type kubernetes.io/service-account-token (allowed: Opaque, kubernetes.io/tls",
    );
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    assert!(secrets.get_opt("app").await.unwrap().is_none());
    denied(
        &as_controller(
            &["create", "-f", "-"],
            Some(&secret_yaml(
                "app",
                "Opaque",
                "kubernetes.io/service-account.name: workload",
                &[("app", app)],
            )),
        ),
        &policy("secret-types"),
        "may not write a Secret annotated kubernetes.io/service-account.*",
    );

    // 2. Owners: an Opaque Secret owned by its one SecretSync is allowed; two owners, or an
    //    owner of another name, are refused; so is adding a second owner, or taking over a
    //    Secret keyway did not make.
    allowed(&as_controller(
        &["create", "-f", "-"],
        Some(&secret_yaml("app", "Opaque", "", &[("app", app)])),
    ));
    let one_owner =
        "exactly one ownerReference, to the SecretSync (secret-sync.x-k8s.io) of the same name";
    denied(
        &as_controller(
            &["create", "-f", "-"],
            Some(&secret_yaml(
                "other",
                "Opaque",
                "",
                &[("app", app), ("other", other)],
            )),
        ),
        &policy("secret-owner"),
        one_owner,
    );
    denied(
        &as_controller(
            &["create", "-f", "-"],
            Some(&secret_yaml("other", "Opaque", "", &[("app", app)])),
        ),
        &policy("secret-owner"),
        one_owner,
    );
    let second_owner = format!(
        r#"{{"metadata":{{"ownerReferences":[{{"apiVersion":"secret-sync.x-k8s.io/v1alpha1","kind":"SecretSync","name":"app","uid":"{app}"}},{{"apiVersion":"secret-sync.x-k8s.io/v1alpha1","kind":"SecretSync","name":"other","uid":"{other}"}}]}}}}"#
    );
    denied(
        &as_controller(
            &[
                "patch",
                "secret",
                "app",
                "--type=merge",
                "-p",
                &second_owner,
            ],
            None,
        ),
        &policy("secret-owner"),
        one_owner,
    );
    allowed(&kubectl(
        &kubeconfig,
        None,
        &[
            "-n",
            &ns,
            "create",
            "secret",
            "generic",
            "other",
            "--from-literal=a=b",
        ],
        None,
    ));
    let take_over = format!(
        r#"{{"metadata":{{"labels":{{"{MANAGED_LABEL}":""}},"ownerReferences":[{{"apiVersion":"secret-sync.x-k8s.io/v1alpha1","kind":"SecretSync","name":"other","uid":"{other}"}}]}}}}"#
    );
    denied(
        &as_controller(
            &["patch", "secret", "other", "--type=merge", "-p", &take_over],
            None,
        ),
        &policy("secret-owner"),
        "never takes over another Secret",
    );

    // 4. No deletes, though this RBAC would allow them.
    denied(
        &as_controller(&["delete", "secret", "app"], None),
        &policy("no-secret-deletes"),
        "never deletes Secrets",
    );
    assert!(secrets.get_opt("app").await.unwrap().is_some());

    // 3. TokenRequests: another audience, a second audience or a day-long token are refused;
    //    the exchange audience for an hour is what the controller gets.
    let token = |args: &[&str]| {
        let mut all = vec!["create", "token", "workload"];
        all.extend_from_slice(args);
        as_controller(&all, None)
    };
    denied(
        &token(&["--audience=https://kubernetes.default.svc"]),
        &policy("token-requests"),
        "only for the audience api://AzureADTokenExchange",
    );
    denied(
        &token(&[
            "--audience=api://AzureADTokenExchange",
            "--audience=https://other.example",
        ]),
        &policy("token-requests"),
        "only for the audience api://AzureADTokenExchange",
    );
    denied(
        &token(&["--audience=api://AzureADTokenExchange", "--duration=24h"]),
        &policy("token-requests"),
        "living 600 to 3600 seconds",
    );
    allowed(&token(&[
        "--audience=api://AzureADTokenExchange",
        "--duration=1h",
    ]));

    // What keyway itself sends as the controller account passes: the sink's server-side apply
    // (create, then update) of a SecretSync's Secret, and its TokenRequest.
    let mut config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(&kubeconfig).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    config.auth_info.impersonate = Some(controller.clone());
    let as_keyway = kube::Client::try_from(config).unwrap();
    let sink_sync = syncs.get("sink").await.unwrap();
    let sink = KubernetesSecretSink::for_secret_sync(as_keyway.clone(), &sink_sync).unwrap();
    assert_eq!(
        sink.apply(&file_set("one")).await.unwrap(),
        Applied::Written
    );
    let sink = KubernetesSecretSink::for_secret_sync(as_keyway.clone(), &sink_sync).unwrap();
    assert_eq!(
        sink.apply(&file_set("two")).await.unwrap(),
        Applied::Written
    );
    let written = secrets.get("sink").await.unwrap();
    assert_eq!(written.data.unwrap()["a"].0, b"two");
    let source = TokenRequest::new(as_keyway, &ns, "workload");
    assert!(source.assertion().await.is_ok());

    drop(_guard);
    cluster.cleanup().await;
}
