//! `keyway dev` as a user runs it: start, use the printed environment, stop with SIGTERM,
//! restart on the same state directory and find everything still there.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn start(state_dir: &std::path::Path) -> (Child, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(["dev", "--json", "--state-dir", state_dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let env: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    (child, env)
}

fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "keyway dev stops cleanly on SIGTERM");
}

fn client(env: &Value) -> reqwest::Client {
    let ca = std::fs::read(env["ca_file"].as_str().unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap()
}

/// The JSON body of the answer to `request`.
async fn json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// A Key Vault token for `identity` (an object of the printed environment with its
/// `client_id` and `federated_token_file`: the environment itself, or its `officer`).
async fn token(http: &reqwest::Client, env: &Value, identity: &Value) -> String {
    let client_id = identity["client_id"].as_str().unwrap();
    let assertion =
        std::fs::read_to_string(identity["federated_token_file"].as_str().unwrap()).unwrap();
    let body = json(
        http.post(format!(
            "{}/{}/oauth2/v2.0/token",
            env["authority_host"].as_str().unwrap(),
            env["tenant_id"].as_str().unwrap()
        ))
        .form(&[
            ("client_id", client_id),
            ("scope", "https://vault.azure.net/.default"),
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.trim()),
        ]),
    )
    .await;
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string()
}

/// `keyway` with the printed environment's Entra ID and CA, as `identity` (the environment
/// itself, or its `officer`).
fn keyway_as(env: &Value, identity: &Value) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyway"));
    command
        .env(
            "AZURE_AUTHORITY_HOST",
            env["authority_host"].as_str().unwrap(),
        )
        .env("AZURE_TENANT_ID", env["tenant_id"].as_str().unwrap())
        .env("AZURE_CLIENT_ID", identity["client_id"].as_str().unwrap())
        .env(
            "AZURE_FEDERATED_TOKEN_FILE",
            identity["federated_token_file"].as_str().unwrap(),
        )
        .env("SSL_CERT_FILE", env["ca_file"].as_str().unwrap());
    command
}

/// Sets the secret `greeting` of `vault` to `value` with the bearer token `token`.
async fn put_greeting(
    http: &reqwest::Client,
    vault: &str,
    token: &str,
    value: &str,
) -> reqwest::Response {
    http.put(format!("{vault}/secrets/greeting?api-version=2025-07-01"))
        .bearer_auth(token)
        .json(&serde_json::json!({"value": value}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn dev_serves_the_printed_environment_and_keeps_state() {
    let dir = std::env::temp_dir().join(format!("keyway-dev-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (child, env) = start(&dir);
    for key in [
        "authority_host",
        "tenant_id",
        "client_id",
        "federated_token_file",
        "vault_url",
        "ca_file",
        "issuer",
        "kubeconfig",
    ] {
        assert!(env[key].is_string(), "missing {key}: {env}");
    }
    let http = client(&env);
    let vault = env["vault_url"].as_str().unwrap().to_string();
    // The kubeconfig reaches the Kubernetes API stand-in.
    let kubeconfig = std::fs::read_to_string(env["kubeconfig"].as_str().unwrap()).unwrap();
    let server = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap()
        .to_string();
    let kube_token = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap()
        .to_string();
    let namespaces = http
        .get(format!("{server}/api/v1/namespaces"))
        .bearer_auth(kube_token)
        .send()
        .await
        .unwrap();
    assert_eq!(namespaces.status().as_u16(), 200);

    // The officer uploads; the workload identity reads.
    let officer = token(&http, &env, &env["officer"]).await;
    let put = put_greeting(&http, &vault, &officer, "hello").await;
    assert_eq!(put.status().as_u16(), 200);
    let reader = token(&http, &env, &env).await;
    let denied = put_greeting(&http, &vault, &reader, "nope").await;
    assert_eq!(
        denied.status().as_u16(),
        403,
        "the workload identity is only a Secrets User"
    );
    stop(child);

    // Same state directory: same identities, same secret (ports may differ).
    let (child, again) = start(&dir);
    assert_eq!(again["client_id"], env["client_id"]);
    assert_eq!(again["tenant_id"], env["tenant_id"]);
    let http = client(&again);
    let reader = token(&http, &again, &again).await;
    let got = json(
        http.get(format!(
            "{}/secrets/greeting?api-version=2025-07-01",
            again["vault_url"].as_str().unwrap()
        ))
        .bearer_auth(&reader),
    )
    .await;
    assert_eq!(got["value"], "hello");
    stop(child);
    let _ = std::fs::remove_dir_all(dir);
}

/// What a script needs: `DIR/env` appears once everything answers (never the last run's), the
/// CLI's `secret set` gets Key Vault's refusal with the missing role, and a state directory
/// others may write to is refused.
#[tokio::test]
async fn dev_writes_its_environment_when_ready_and_guards_its_state() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("keyway-dev-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("env"), "stale").unwrap();
    let (child, env) = start(&dir);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("env")).unwrap()).unwrap();
    assert_eq!(written, env, "DIR/env holds this run's environment");
    assert!(
        env["arm_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );

    let file = dir.join("value.txt");
    std::fs::write(&file, "v").unwrap();
    let set = |name: &str| {
        keyway_as(&env, &env)
            .args(["secret", "set", "--name", name, "--file"])
            .arg(&file)
            .env("KEYWAY_VAULT_URL", env["vault_url"].as_str().unwrap())
            .output()
            .unwrap()
    };
    let bad = set("server.der");
    assert_eq!(bad.status.code(), Some(2));
    let denied = set("greeting");
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert_eq!(
        denied.status.code(),
        Some(1),
        "a refusal, not unreachable: {stderr}"
    );
    assert!(
        stderr.contains("ForbiddenByRbac") && stderr.contains("Key Vault Secrets Officer"),
        "{stderr}"
    );
    assert!(!stderr.contains("\\r\\n"), "{stderr}");

    // A provisioning plan applies through the ARM stand-in, with what dev prints.
    let plan = keyway_as(&env, &env["officer"])
        .args([
            "cluster",
            "plan",
            "secretsync",
            "--apply",
            "--namespace",
            "aio",
        ])
        .args(["--issuer", "https://oidc.example/cluster-1/"])
        .args(["--subscription", env["arm_subscription"].as_str().unwrap()])
        .args([
            "--resource-group",
            env["arm_resource_group"].as_str().unwrap(),
        ])
        .args(["--identity", env["identity_name"].as_str().unwrap()])
        .args(["--keyvault", "keyway-dev"])
        .env("KEYWAY_ARM_ENDPOINT", env["arm_endpoint"].as_str().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&plan.stdout);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(
        stdout.contains("Created: federate system:serviceaccount:aio:aio-ssc-sa"),
        "{stdout}"
    );
    stop(child);

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(["dev", "--state-dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 700"));
    let _ = std::fs::remove_dir_all(dir);
}
