//! `keyway cluster k3s-config` as an operator runs it: a dry run prints the diff and leaves the
//! file alone, `--write` applies it with a backup, a second run has nothing to do, and bad
//! arguments exit 2 naming what was given. `keyway cluster check` against the Kubernetes
//! stand-in (or `KEYWAY_TEST_KUBECONFIG`'s cluster): the issuer compared across the connected
//! cluster's profile, the K3s config, a minted token and the discovery document.

mod support;

use std::process::{Command, Output};
use support::assert_exit;

fn keyway(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn k3s_config_dry_run_write_and_rerun() {
    let dir = std::env::temp_dir().join(format!("keyway-k3s-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.yaml");
    let original = "# edge node\nnode-name: edge-1\nkube-apiserver-arg:\n  - v=2\n";
    std::fs::write(&file, original).unwrap();
    let path = file.to_str().unwrap();
    let issuer = "https://issuer.example/edge-1/";

    let dry = keyway(&["cluster", "k3s-config", "--issuer", issuer, "--file", path]);
    assert_exit(&dry, 0);
    let out = text(&dry.stdout);
    assert!(
        out.contains(&format!("+  - service-account-issuer={issuer}")),
        "{out}"
    );
    assert!(
        out.contains("+  - service-account-max-token-expiration=24h"),
        "{out}"
    );
    assert!(out.contains("--write"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        original,
        "a dry run writes nothing"
    );

    let write_config = || {
        keyway(&[
            "cluster",
            "k3s-config",
            "--issuer",
            issuer,
            "--file",
            path,
            "--write",
        ])
    };
    let write = write_config();
    assert_exit(&write, 0);
    assert!(text(&write.stdout).contains("systemctl restart k3s"));
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.starts_with("# edge node\nnode-name: edge-1\nkube-apiserver-arg:\n  - v=2\n"));
    assert!(written.contains(&format!("  - service-account-issuer={issuer}\n")));
    let backup = std::fs::read_to_string(dir.join("config.yaml.keyway.bak")).unwrap();
    assert_eq!(backup, original);

    let again = write_config();
    assert_eq!(again.status.code(), Some(0));
    assert!(
        text(&again.stdout).contains("nothing to do"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);

    let bad = keyway(&[
        "cluster",
        "k3s-config",
        "--issuer",
        "http://issuer.example/",
        "--file",
        path,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("\"http://issuer.example/\" must be an https URL"));
    let bad = keyway(&[
        "cluster",
        "k3s-config",
        "--issuer",
        issuer,
        "--max-token-expiration",
        "1d",
        "--file",
        path,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("\"1d\""),
        "{}",
        text(&bad.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_compares_the_issuer_everywhere() {
    let cluster = keyway_emulator::testing::TestCluster::start("cluster-check")
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("keyway-check-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    cluster.write_kubeconfig(&kubeconfig).unwrap();
    // The issuer the cluster really uses, as its discovery document says.
    let issuer = cluster.trust_service_account_issuer().await.unwrap();
    let account = format!("{}/sync", cluster.namespace());
    let mut sa = k8s_openapi::api::core::v1::ServiceAccount::default();
    sa.metadata.name = Some("sync".into());
    kube::Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(
        cluster.client(),
        cluster.namespace(),
    )
    .create(&Default::default(), &sa)
    .await
    .unwrap();
    let show = |issuer: &str| {
        format!(
            "{{\"oidcIssuerProfile\": {{\"enabled\": true, \"issuerUrl\": \"{issuer}\"}}, \"securityProfile\": {{\"workloadIdentity\": {{\"enabled\": true}}}}}}"
        )
    };
    std::fs::write(dir.join("show.json"), show(&issuer)).unwrap();
    std::fs::write(
        dir.join("k3s.yaml"),
        format!("kube-apiserver-arg:\n  - service-account-issuer={issuer}\n"),
    )
    .unwrap();
    let args = |show_file: &str| -> Vec<String> {
        [
            "cluster",
            "check",
            "--connected-cluster",
            dir.join(show_file).to_str().unwrap(),
            "--k3s-config",
            dir.join("k3s.yaml").to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--service-account",
            &account,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_keyway"))
                .args(&args)
                .output()
                .unwrap()
        })
    };
    let ready = run(args("show.json")).await.unwrap();
    let out = text(&ready.stdout);
    assert_eq!(ready.status.code(), Some(0), "{out}{}", text(&ready.stderr));
    assert!(out.contains("a token the cluster mints"), "{out}");
    assert!(out.contains("the cluster's discovery document"), "{out}");
    assert!(out.contains("ready for workload identity"), "{out}");

    // The connected cluster reports the issuer with another trailing slash: named, with the fix.
    let other = if issuer.ends_with('/') {
        issuer.trim_end_matches('/').to_string()
    } else {
        format!("{issuer}/")
    };
    std::fs::write(dir.join("slash.json"), show(&other)).unwrap();
    let mut json = args("slash.json");
    json.push("--json".into());
    let not_ready = run(json).await.unwrap();
    assert_eq!(not_ready.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&not_ready.stdout).unwrap();
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["issuer_trailing_slash"; 3], "{report}");
    let _ = std::fs::remove_dir_all(&dir);
    cluster.cleanup().await;
}

#[test]
fn render_prints_manifests_that_load_back() {
    let out = render_objects(&["db-password", "opcua-cert:server.der:secret:hex"]);
    assert_exit(&out, 0);
    let yaml = text(&out.stdout);
    let kinds: Vec<String> = yaml
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .map(str::to_string)
        .collect();
    assert_eq!(
        kinds,
        ["ServiceAccount", "SecretProviderClass", "SecretSync"],
        "{yaml}"
    );
    // --keyvault as everywhere else; --vault, the earlier spelling, still works.
    for flag in ["--keyvault", "--vault"] {
        let dapr = keyway(&[
            "cluster",
            "render",
            "dapr-component",
            flag,
            "edge-vault",
            "--client-id",
            "c",
        ]);
        assert_exit(&dapr, 0);
        assert!(text(&dapr.stdout).contains("type: secretstores.azure.keyvault"));
        assert!(text(&dapr.stdout).contains("value: edge-vault"));
    }
    let help = keyway(&["cluster", "render", "dapr-component", "--help"]);
    assert!(text(&help.stdout).contains("--keyvault"));
    let bad = keyway(&[
        "cluster",
        "render",
        "secret-sync",
        "--keyvault",
        "v",
        "--tenant-id",
        "t",
        "--client-id",
        "c",
        "--namespace",
        "n",
        "--object",
        "name=x,type=blob",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("\"blob\""),
        "{}",
        text(&bad.stderr)
    );
}

/// `render secret-sync` with the identity flags of a valid request and these objects.
fn render_objects(objects: &[&str]) -> Output {
    let mut args = vec![
        "cluster",
        "render",
        "secret-sync",
        "--keyvault",
        "edge-vault",
        "--tenant-id",
        "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "--client-id",
        "00000000-1111-2222-3333-444444444444",
        "--namespace",
        "azure-iot-operations",
    ];
    for object in objects {
        args.extend(["--object", object]);
    }
    keyway(&args)
}

#[test]
fn render_objects_by_named_parts_and_ambiguous_ones_refused() {
    let named = render_objects(&["name=opcua-cert,type=cert,alias=server.der"]);
    assert_exit(&named, 0);
    let yaml = text(&named.stdout);
    assert!(
        yaml.contains("objectName: opcua-cert") && yaml.contains("objectType: cert"),
        "{yaml}"
    );
    // `opcua-cert:cert` once rendered a secret with the alias `cert`.
    let ambiguous = render_objects(&["opcua-cert:cert"]);
    assert_eq!(ambiguous.status.code(), Some(2));
    let stderr = text(&ambiguous.stderr);
    assert!(
        stderr.contains("ambiguous") && stderr.contains("--object name=opcua-cert,type=cert"),
        "{stderr}"
    );
    assert!(ambiguous.stdout.is_empty());
    let help = keyway(&["cluster", "render", "secret-sync", "--help"]);
    assert!(
        text(&help.stdout).contains("name=NAME[,alias=FILE]"),
        "{}",
        text(&help.stdout)
    );
}

/// `render trust-list` for the vault `edge-vault` in `namespace`, with these further arguments.
fn render_trust_list(namespace: &str, rest: &[&str]) -> Output {
    let mut args = vec![
        "cluster",
        "render",
        "trust-list",
        "--keyvault",
        "edge-vault",
        "--tenant-id",
        "t",
        "--client-id",
        "c",
        "--namespace",
        namespace,
    ];
    args.extend(rest);
    keyway(&args)
}

#[test]
fn render_trust_list_defaults_to_the_opc_ua_connector() {
    let out = render_trust_list(
        "azure-iot-operations",
        &[
            "--trust",
            "partner-server",
            "--issuer",
            "name=contoso-ca-der,stem=contoso-ca",
            "--crl",
            "name=contoso-ca-crl,stem=contoso-ca",
        ],
    );
    assert_exit(&out, 0);
    let yaml = text(&out.stdout);
    let names: Vec<&str> = yaml
        .lines()
        .filter_map(|l| l.strip_prefix("  name: "))
        .collect();
    assert_eq!(
        names,
        [
            "aio-ssc-sa",
            "opc-ua-connector",
            "aio-opc-ua-broker-trust-list",
            "aio-opc-ua-broker-issuer-list"
        ],
        "{yaml}"
    );
    assert!(
        yaml.contains("targetKey: contoso-ca.crl") && yaml.contains("targetKey: contoso-ca.der")
    );
    // The earlier form still works, with the new names.
    let earlier = render_trust_list("aio", &["--cert", "ca", "--store", "issuer-list"]);
    assert_exit(&earlier, 0);
    assert!(text(&earlier.stdout).contains("name: aio-opc-ua-broker-issuer-list"));
    let orphan = render_trust_list("aio", &["--trust", "a", "--crl", "a-crl"]);
    assert_eq!(orphan.status.code(), Some(2));
    assert!(
        text(&orphan.stderr).contains("--crl"),
        "{}",
        text(&orphan.stderr)
    );
}

/// `cluster plan secretsync` for the identity `aio-secretsync` in `edge-rg` of `subscription`,
/// the vault `edge-vault`, `issuer` and the namespace `azure-iot-operations`; each value
/// stands at an even index, from 4 (subscription) to 14 (namespace), where a test may patch it.
fn plan_secretsync_args<'a>(subscription: &'a str, issuer: &'a str) -> Vec<&'a str> {
    vec![
        "cluster",
        "plan",
        "secretsync",
        "--subscription",
        subscription,
        "--resource-group",
        "edge-rg",
        "--identity",
        "aio-secretsync",
        "--keyvault",
        "edge-vault",
        "--issuer",
        issuer,
        "--namespace",
        "azure-iot-operations",
    ]
}

#[test]
fn plan_prints_a_script_the_requests_or_the_plan() {
    let base = plan_secretsync_args(
        "11111111-2222-3333-4444-555555555555",
        "https://issuer.example/edge-1/",
    );
    let az = keyway(&base);
    assert_exit(&az, 0);
    assert!(text(&az.stdout).contains("az identity federated-credential create"));
    let mut arm_args = base.to_vec();
    arm_args.extend(["--output", "arm"]);
    let arm = keyway(&arm_args);
    let requests: serde_json::Value = serde_json::from_slice(&arm.stdout).unwrap();
    assert_eq!(requests.as_array().unwrap().len(), 5);
    let mut bad = base.to_vec();
    bad[12] = "http://issuer.example/";
    let refused = keyway(&bad);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("--issuer"));
    // Names that cannot exist are refused before anything is planned.
    for (index, value, flag) in [
        (10, "edge_vault", "--keyvault"),
        (14, "Azure_IoT", "--namespace"),
    ] {
        let mut bad = base.to_vec();
        bad[index] = value;
        let refused = keyway(&bad);
        assert_eq!(refused.status.code(), Some(2), "{value}");
        assert!(
            text(&refused.stderr).contains(&format!("{flag}: \"{value}\"")),
            "{}",
            text(&refused.stderr)
        );
        assert!(refused.stdout.is_empty());
    }
}

#[test]
fn migrate_pod_identity_prints_manifests_and_what_is_left() {
    let dir = std::env::temp_dir().join(format!("keyway-migrate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pod-identity.yaml");
    std::fs::write(
        &file,
        "kind: AzureIdentity\nmetadata: {name: mi, namespace: edge}\nspec: {type: 0, resourceID: /subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi, clientID: c}\n---\nkind: AzureIdentityBinding\nmetadata: {name: b, namespace: edge}\nspec: {azureIdentity: mi, selector: app}\n",
    )
    .unwrap();
    let out = keyway(&[
        "cluster",
        "migrate-pod-identity",
        file.to_str().unwrap(),
        "--issuer",
        "https://issuer.example/",
    ]);
    assert_exit(&out, 0);
    let printed = text(&out.stdout);
    assert!(
        printed.contains("set serviceAccountName: app-workload-identity"),
        "{printed}"
    );
    assert!(
        printed.contains("subject system:serviceaccount:edge:app-workload-identity"),
        "{printed}"
    );
    assert!(printed.contains("kind: ServiceAccount"), "{printed}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn migrate_pod_identity_reads_the_dapr_guide_as_written() {
    let fixtures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../keyway-cluster/tests/fixtures/dapr-guide"
    );
    let guide = format!(
        "{}---\n{}",
        std::fs::read_to_string(format!("{fixtures}/azure-identity-config.yaml")).unwrap(),
        std::fs::read_to_string(format!("{fixtures}/component.yaml")).unwrap()
    );
    let dir = std::env::temp_dir().join(format!("keyway-migrate-guide-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("guide.yaml");
    std::fs::write(&file, &guide).unwrap();
    let path = file.to_str().unwrap();
    let migrate = || {
        keyway(&[
            "cluster",
            "migrate-pod-identity",
            path,
            "--issuer",
            "https://issuer.example/",
            "--json",
        ])
    };
    let out = migrate();
    assert_exit(&out, 0);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["service_accounts"][0]["metadata"]["annotations"]["azure.workload.identity/client-id"],
        "2c9d6e1f-7a8b-4c3d-9e0f-1a2b3c4d5e6f"
    );
    assert!(
        json["federated_credentials"][0]["identity_id"]
            .as_str()
            .unwrap()
            .ends_with("/userAssignedIdentities/dapr-kv-identity"),
        "{json}"
    );
    assert_eq!(
        json["dapr_components"][0]["spec"]["metadata"][1]["name"],
        "azureClientId"
    );
    assert_eq!(json["unconvertible"], serde_json::json!([]));

    // An empty client id: exit 2 naming the field, and no plan at all.
    std::fs::write(
        &file,
        guide.replace(
            "ClientID: 2c9d6e1f-7a8b-4c3d-9e0f-1a2b3c4d5e6f",
            "ClientID: \"\"",
        ),
    )
    .unwrap();
    let empty = migrate();
    assert_eq!(empty.status.code(), Some(2));
    assert!(
        text(&empty.stderr).contains("spec.clientID: is missing or empty"),
        "{}",
        text(&empty.stderr)
    );
    assert!(empty.stdout.is_empty(), "{}", text(&empty.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn k3s_config_edits_the_append_form() {
    let dir = std::env::temp_dir().join(format!("keyway-k3s-append-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.yaml");
    std::fs::write(&file, "kube-apiserver-arg+:\n  - v=2\n").unwrap();
    let out = keyway(&[
        "cluster",
        "k3s-config",
        "--issuer",
        "https://issuer.example/",
        "--file",
        file.to_str().unwrap(),
        "--write",
    ]);
    assert_exit(&out, 0);
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        written,
        "kube-apiserver-arg+:\n  - v=2\n  - service-account-issuer=https://issuer.example/\n  - service-account-max-token-expiration=24h\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_apply_runs_the_arm_steps_as_the_environment_identity() {
    use keyway_emulator::{Emulator, ServiceAccountToken};
    let emulator = Emulator::start().await.unwrap();
    let tenant = emulator.add_tenant(None);
    let sync_identity = emulator.add_identity(&tenant, "aio-secretsync").unwrap();
    emulator.add_arm_identity("sub-1", "edge-rg", &sync_identity);
    emulator.add_vault(&tenant, "edge-vault").await.unwrap();
    let operator = emulator
        .add_workload_identity(&tenant, "operator", "ops", "operator")
        .unwrap();
    let dir = std::env::temp_dir().join(format!("keyway-apply-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("token"),
        emulator.mint_service_account_token(&ServiceAccountToken::new("ops", "operator")),
    )
    .unwrap();
    emulator.write_ca(&dir.join("ca.pem")).unwrap();
    let (issuer, arm_url) = (emulator.issuer_url(), emulator.arm_url());
    let mut args = plan_secretsync_args("sub-1", &issuer);
    args.extend(["--apply", "--arm-endpoint", &arm_url]);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let envs = [
        ("AZURE_CLIENT_ID", operator.client_id.clone()),
        ("AZURE_TENANT_ID", tenant.clone()),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            dir.join("token").display().to_string(),
        ),
        ("AZURE_AUTHORITY_HOST", emulator.authority_host()),
        ("SSL_CERT_FILE", dir.join("ca.pem").display().to_string()),
    ];
    let run = || {
        let (args, envs) = (args.clone(), envs.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_keyway"))
                .args(&args)
                .envs(envs)
                .output()
                .unwrap()
        })
    };
    let first = run().await.unwrap();
    assert_exit(&first, 0);
    assert_eq!(
        text(&first.stdout).matches("Created").count(),
        3,
        "{}",
        text(&first.stdout)
    );
    let again = run().await.unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        text(&again.stdout).matches("Exists").count(),
        3,
        "{}",
        text(&again.stdout)
    );
    assert_eq!(emulator.role_assignments().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
