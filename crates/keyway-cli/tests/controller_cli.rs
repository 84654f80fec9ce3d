//! `keyway controller` as an operator runs it: a process against the Kubernetes stand-in (or
//! `KEYWAY_TEST_KUBECONFIG`'s cluster) and the emulated Entra ID and Key Vault — it syncs a
//! SecretSync, serves `/metrics`, `/healthz` and `/readyz`, and stops cleanly on SIGTERM,
//! releasing its Lease.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use keyway_emulator::testing::{TestCluster, eventually};
use keyway_emulator::{Role, Service};
use keyway_sync::{
    SecretObject, SecretObjectData, SecretProviderClass, SecretProviderClassSpec, SecretSync,
    SecretSyncSpec,
};
use kube::Api;
use kube::api::PostParams;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh directory with the cluster's kubeconfig and the emulators' CA, for `keyway
/// controller` to run with.
fn controller_dir(cluster: &TestCluster, test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("keyway-controller-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    cluster.write_kubeconfig(&dir.join("kubeconfig")).unwrap();
    cluster.emulator().write_ca(&dir.join("ca.pem")).unwrap();
    dir
}

/// `keyway controller` with the kubeconfig and the CA of [`controller_dir`]'s `dir`.
fn controller(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyway"));
    command
        .arg("controller")
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("SSL_CERT_FILE", dir.join("ca.pem"));
    command
}

/// Who holds the controller's Lease.
async fn lease_holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get("keyway-controller")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_process_syncs_serves_metrics_and_stops_on_sigterm() {
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let cluster = TestCluster::start_with_crds("controller-cli", &crds)
        .await
        .unwrap();
    let (emulator, client, ns) = (cluster.emulator(), cluster.client(), cluster.namespace());
    let (app, vault) = cluster
        .workload_vault("cli-ctl-vault", "sync", Role::SecretsUser)
        .await
        .unwrap();
    let tenant = app.tenant_id.clone();
    vault.set_secret("token", "t0k3n").unwrap();
    let class = SecretProviderClass::new(
        "vault",
        SecretProviderClassSpec {
            provider: Some("azure".into()),
            parameters: BTreeMap::from([
                ("keyvaultName".to_string(), "cli-ctl-vault".to_string()),
                ("tenantID".to_string(), tenant.clone()),
                ("clientID".to_string(), app.client_id.clone()),
                (
                    "objects".to_string(),
                    "array:\n  - |\n    objectName: token\n    objectType: secret\n".to_string(),
                ),
            ]),
            secret_objects: None,
        },
    );
    Api::<SecretProviderClass>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &class)
        .await
        .unwrap();
    let sync = SecretSync::new(
        "app",
        SecretSyncSpec {
            secret_provider_class_name: "vault".into(),
            service_account_name: "sync".into(),
            secret_object: SecretObject {
                type_: "Opaque".into(),
                data: vec![SecretObjectData {
                    source_path: "token".into(),
                    target_key: "token".into(),
                }],
                labels: None,
                annotations: None,
            },
            force_synchronization: None,
            secret_sync_controller_name: None,
        },
    );
    Api::<SecretSync>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &sync)
        .await
        .unwrap();
    // A type keyway writes by default, but not with this controller's narrower
    // --allowed-secret-types.
    let mut basic_auth = sync.clone();
    basic_auth.metadata.name = Some("creds".into());
    basic_auth.spec.secret_object.type_ = "kubernetes.io/basic-auth".into();
    basic_auth.spec.secret_object.data[0].target_key = "password".into();
    Api::<SecretSync>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &basic_auth)
        .await
        .unwrap();

    let dir = controller_dir(&cluster, "cli");
    let (metrics_port, health_port) = (free_port(), free_port());
    let mut child = controller(&dir)
        .args([
            "--namespaces",
            ns,
            "--poll-interval",
            "60s",
            "--leader-elect",
            "--lease-namespace",
            ns,
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--health-addr",
            &format!("127.0.0.1:{health_port}"),
            "--vault-url",
            &format!("cli-ctl-vault={}", vault.url()),
            "--allowed-secret-types",
            // As a person types a list: spaces after the commas.
            "Opaque, kubernetes.io/tls",
        ])
        .env("AZURE_AUTHORITY_HOST", emulator.authority_host())
        .env("POD_NAME", "controller-0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let synced = eventually("the controller wrote the Secret", || async {
        secrets.get_opt("app").await.unwrap()
    })
    .await;
    assert_eq!(synced.data.unwrap()["token"].0, b"t0k3n");
    let syncs: Api<SecretSync> = Api::namespaced(client.clone(), ns);
    let refused = eventually("the basic-auth SecretSync refused", || async {
        let status = syncs.get("creds").await.unwrap().status?;
        status
            .conditions
            .into_iter()
            .flatten()
            .find(|c| c.message.contains("spec.secretObject.type"))
    })
    .await;
    assert!(
        refused.message.contains("kubernetes.io/basic-auth"),
        "{refused:?}"
    );
    assert!(
        secrets.get_opt("creds").await.unwrap().is_none(),
        "nothing written for a type this controller does not allow"
    );

    let http = reqwest::Client::new();
    let metrics = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The first reconciles (the SecretSync, then its new Secret) may both see no status yet.
    assert!(
        metrics.contains("keyway_reconciles_total{reason=\"CreateSucceeded\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("keyway_keyvault_requests_total{kind=\"list\"}"));
    assert!(
        metrics.contains("keyway_keyvault_operations_total{operation=\"get\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("keyway_token_exchanges_total 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("t0k3n"), "no secret in metrics");
    let probe = |path: &str| {
        http.get(format!("http://127.0.0.1:{health_port}/{path}"))
            .send()
    };
    for path in ["healthz", "readyz"] {
        let status = probe(path).await.unwrap().status();
        assert_eq!(status.as_u16(), 200, "/{path}");
    }
    // A probe storm is not API-server load: /readyz reuses its answer for a few seconds, so
    // twenty probes (ten at once) add at most one version request, not twenty.
    let asked = || emulator.counters().count(Service::Kubernetes, "discovery");
    let before = asked();
    for _ in 0..10 {
        let status = probe("readyz").await.unwrap().status();
        assert_eq!(status.as_u16(), 200);
    }
    let storm = (0..10).map(|_| probe("readyz"));
    for answer in futures::future::join_all(storm).await {
        assert_eq!(answer.unwrap().status().as_u16(), 200);
    }
    let during = asked() - before;
    assert!(during <= 1, "{during} API-server requests for 20 probes");
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    let holder = lease_holder(&leases).await;
    assert_eq!(holder.as_deref(), Some("controller-0"));

    // A second replica is a standby, and says so.
    let mut standby = controller(&dir)
        .args([
            "--namespaces",
            ns,
            "--leader-elect",
            "--lease-namespace",
            ns,
            "--metrics-addr",
            &format!("127.0.0.1:{}", free_port()),
            "--health-addr",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .env("POD_NAME", "controller-1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = standby.stderr.take().unwrap();
    let said = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find(|line| line.contains("standby"))
    });
    let said = tokio::time::timeout(Duration::from_secs(120), said)
        .await
        .expect("the standby logs within 120 s")
        .unwrap()
        .expect("the standby says it is one");
    assert!(said.contains("controller-0"), "names the holder: {said}");
    standby.kill().unwrap();
    standby.wait().unwrap();

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        (status, stderr)
    })
    .await
    .unwrap();
    assert_eq!(output.0.code(), Some(0), "{}", output.1);
    assert!(!output.1.contains("t0k3n"), "no secret in the logs");
    assert!(
        output
            .1
            .contains("allowed Secret types: Opaque, kubernetes.io/tls"),
        "the startup line says which types this controller writes: {}",
        output.1
    );
    let holder = lease_holder(&leases).await;
    assert_eq!(holder, None, "SIGTERM releases the Lease");
    let _ = std::fs::remove_dir_all(&dir);
    cluster.cleanup().await;
}

/// `--allowed-secret-types` only narrows the library's allow-list: a type outside it (a
/// service-account token, which the API server would fill with a non-expiring token) cannot be
/// allowed from the command line.
#[test]
fn a_type_outside_the_allow_list_cannot_be_allowed() {
    let out = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(["controller", "--all-namespaces", "--allowed-secret-types"])
        .arg("Opaque,kubernetes.io/service-account-token")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("kubernetes.io/service-account-token")
            && stderr.contains("is not a Secret type keyway writes"),
        "{stderr}"
    );
}

/// A namespace that cannot exist (empty, upper case) and a budget of 0 are usage errors naming
/// the flag, before any cluster is contacted (an empty namespace once started a controller that
/// watched nothing and never stopped).
#[test]
fn impossible_namespaces_and_a_zero_budget_are_refused() {
    for (args, names) in [
        (&["--namespaces", ""][..], "--namespaces"),
        (&["--namespaces", "team,Team"][..], "--namespaces"),
        (
            &["--all-namespaces", "--requests-per-10s", "0"][..],
            "--requests-per-10s",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_keyway"))
            .arg("controller")
            .args(args)
            .env("KUBECONFIG", "/nonexistent/keyway-test-kubeconfig")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("keyway-test-kubeconfig"),
            "{args:?}: {stderr}"
        );
    }
}

/// `--allowed-secret-types "Opaque, kubernetes.io/tls"`, spaces after the commas as a person
/// types a list, is read as the two types (the start then fails later, for want of a cluster).
#[test]
fn spaces_around_allowed_secret_types_are_ignored() {
    let out = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(["controller", "--all-namespaces", "--allowed-secret-types"])
        .arg(" Opaque , kubernetes.io/tls ")
        .env("KUBECONFIG", "/nonexistent/keyway-test-kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("is not a Secret type keyway writes") && !stderr.contains("--allowed"),
        "{stderr}"
    );
    assert_ne!(out.status.code(), Some(0), "{stderr}");
}

/// Without the CRDs the controller stops at once, naming the missing one and how to install
/// it, instead of logging a 404 dump per watch. (The stand-in only: on a real cluster the CRDs
/// are cluster-wide and other tests install them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_names_a_missing_crd() {
    let cluster = TestCluster::start("controller-no-crds").await.unwrap();
    if cluster.is_real() {
        eprintln!("CRDs are cluster-wide on a real cluster; nothing to check");
        cluster.cleanup().await;
        return;
    }
    let dir = controller_dir(&cluster, "crds");
    let out = controller(&dir)
        .args(["--all-namespaces"])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--health-addr", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("secretproviderclasses.secrets-store.csi.x-k8s.io")
            && stderr.contains("kubectl apply -f deploy/crds"),
        "{stderr}"
    );
    assert!(!stderr.contains("Status {"), "no Rust dump: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
    cluster.cleanup().await;
}
