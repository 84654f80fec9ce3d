//! `keyway certs` and `keyway secrets` as an operator runs them: processes against the emulated
//! Entra ID and Key Vault and a cluster (the stand-in, or `KEYWAY_TEST_KUBECONFIG`'s) where
//! secret sync is enabled, with the SecretSync controller syncing what they map.

#[path = "../../keyway-stores/tests/support/mod.rs"]
mod stores;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use k8s_openapi::api::core::v1::Secret;
use keyway_cert::testing::{CertSpec, Issued};
use keyway_sync::SecretSync;
use kube::Api;
use serde_json::Value;
use stores::eventually;
use time::OffsetDateTime;

/// keyway-stores' environment (a cluster with the CRDs, the SecretSync identity `aio-ssc-sa`
/// as Secrets User, a vault, the instance's default SecretProviderClass as `az iot ops
/// secretsync enable` makes it, an uploader identity as Secrets Officer, the controller's
/// options) and the CLI's files and environment for the uploader.
struct Setup {
    env: stores::Env,
    environment: Vec<(&'static str, std::ffi::OsString)>,
    dir: PathBuf,
}

impl std::ops::Deref for Setup {
    type Target = stores::Env;

    fn deref(&self) -> &stores::Env {
        &self.env
    }
}

async fn setup(test: &str) -> Setup {
    let env = stores::env(test).await;
    let dir = std::env::temp_dir().join(format!("keyway-certs-cli-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let environment = stores::process_environment(&env, &dir);
    Setup {
        env,
        environment,
        dir,
    }
}

impl Setup {
    /// `keyway ARGS --namespace NS` as the operator, stdin `stdin` (empty when `None`; never a
    /// terminal).
    fn keyway(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or_default()).unwrap();
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// `keyway ARGS --namespace NS` as the operator, not yet started.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyway"));
        command
            .args(args)
            .args(["--namespace", self.cluster.namespace()])
            .envs(self.environment.iter().map(|(k, v)| (k, v)));
        command
    }

    fn set_count(&self) -> u64 {
        stores::set_count(self)
    }

    /// The SecretSyncs and SecretProviderClasses as they are (names, versions, specs).
    async fn cluster_state(&self) -> Vec<(String, String)> {
        stores::cluster_state(self.target.as_ref()).await
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    }
}

impl Setup {
    /// Removes the files and the test namespace.
    async fn finish(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        self.env.cluster.cleanup().await;
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

fn server_certificate(name: &str) -> Issued {
    Issued::self_signed(&CertSpec {
        common_name: name.into(),
        san: vec![format!("urn:contoso:{name}")],
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certs_trust_add_list_remove_through_the_process() {
    let s = setup("certs-cli").await;
    let ns = s.cluster.namespace().to_string();
    let server = server_certificate("opcua-server");
    let file = s.write("opc_server.der", server.der());

    // --dry-run prints the plan and writes nothing.
    let before = s.cluster_state().await;
    let out = s.keyway(&["certs", "trust", "add", &file, "--dry-run"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("subject:   CN=opcua-server"), "{stdout}");
    assert!(stdout.contains("sha256:"), "{stdout}");
    assert!(stdout.contains("dry run: nothing written"), "{stdout}");
    assert_eq!(s.set_count(), 0);
    assert_eq!(s.cluster_state().await, before);

    // Added: the details first, then the secret (named from the file, `_` → `-`) and the
    // connector's SecretProviderClass and trust list SecretSync.
    let out = s.keyway(&["certs", "trust", "add", &file], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let details = stdout.find("sha1:").expect("details printed");
    let wrote = stdout
        .find("wrote Key Vault secret opc-server-der")
        .expect("secret written");
    assert!(details < wrote, "details before applying: {stdout}");
    assert_eq!(s.set_count(), 1);
    assert_eq!(
        s.vault.secret_value("opc-server-der").unwrap(),
        server
            .der()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );

    // Listed: the entry, pending until the controller syncs, then synced.
    let listing = json(&s.keyway(&["certs", "list", "trust", "--json"], None));
    let entry = &listing[0]["entries"][0];
    assert_eq!(listing[0]["secret_sync"], "aio-opc-ua-broker-trust-list");
    assert_eq!(entry["target_key"], "opc_server.der");
    assert_eq!(entry["secret_name"], "opc-server-der");
    let sha1 = entry["certificate"]["sha1"].as_str().unwrap().to_string();
    assert_eq!(entry["sync"]["state"], "pending", "{listing:#}");

    let running = stores::start_controller(&s);
    let secrets: Api<Secret> = Api::namespaced(s.cluster.client(), &ns);
    let synced = eventually("the controller synced the trust list", || async {
        secrets
            .get_opt("aio-opc-ua-broker-trust-list")
            .await
            .unwrap()
            .filter(|secret| {
                secret
                    .data
                    .as_ref()
                    .is_some_and(|d| d.contains_key("opc_server.der"))
            })
    })
    .await;
    assert_eq!(synced.data.unwrap()["opc_server.der"].0, server.der());
    let listing = json(&s.keyway(&["certs", "list", "--json"], None));
    let trust = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["store"] == "trust")
        .unwrap();
    assert_eq!(
        trust["entries"][0]["sync"]["state"], "synced",
        "{listing:#}"
    );
    assert_eq!(trust["entries"][0]["certificate"]["sha1"], sha1.as_str());
    let people = s.keyway(&["certs", "list"], None);
    assert_eq!(people.status.code(), Some(0), "{}", text(&people));
    assert!(
        String::from_utf8_lossy(&people.stdout).contains("opc_server.der ← opc-server-der"),
        "{}",
        text(&people)
    );

    // Re-adding the same file writes no new version.
    let out = s.keyway(&["certs", "trust", "add", &file], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing to do"),
        "{}",
        text(&out)
    );
    assert_eq!(s.set_count(), 1);

    // Removal without --yes on a non-terminal is refused (exit 2) and changes nothing.
    let before = s.cluster_state().await;
    let out = s.keyway(&["certs", "trust", "remove", "opc_server.der"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pass --yes"),
        "{}",
        text(&out)
    );
    assert_eq!(s.cluster_state().await, before);

    // With --yes: the SecretSync (now empty) goes, the Secret loses the key, Key Vault keeps
    // the secret.
    let out = s.keyway(
        &["certs", "trust", "remove", "opc_server.der", "--yes"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("would remove opc_server.der"),
        "what goes is shown first: {}",
        text(&out)
    );
    let listing = json(&s.keyway(&["certs", "list", "trust", "--json"], None));
    assert_eq!(listing[0]["exists"], false, "{listing:#}");
    assert!(s.vault.secret_value("opc-server-der").is_some());
    eventually("the synced Secret lost the key", || async {
        let secret = secrets
            .get_opt("aio-opc-ua-broker-trust-list")
            .await
            .unwrap();
        (!secret
            .and_then(|s| s.data)
            .is_some_and(|d| d.contains_key("opc_server.der")))
        .then_some(())
    })
    .await;
    running.stop().await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certs_bad_input_writes_nothing() {
    let s = setup("certs-cli-bad").await;
    let before = s.cluster_state().await;

    // A missing file: input (exit 2).
    let missing = s.dir.join("absent.der").display().to_string();
    let out = s.keyway(&["certs", "trust", "add", &missing], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("absent.der"),
        "{}",
        text(&out)
    );

    // An expired certificate: refused by a check (exit 1), the reason named, nothing written.
    let now = OffsetDateTime::now_utc();
    let expired = Issued::self_signed(&CertSpec {
        common_name: "old".into(),
        not_before: now - time::Duration::days(400),
        not_after: now - time::Duration::days(2),
        ..Default::default()
    });
    let file = s.write("old.der", expired.der());
    let out = s.keyway(&["certs", "trust", "add", &file], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing will be written"),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expired")
            && String::from_utf8_lossy(&out.stderr).contains("--allow-expired")
            && !text(&out).contains("`allow_expired`"),
        "{}",
        text(&out)
    );
    assert_eq!(s.set_count(), 0);
    assert_eq!(s.cluster_state().await, before);

    // The client certificate: --dry-run prints the connector settings to apply; a key of
    // another pair is refused (exit 1) before either secret is written.
    let client = server_certificate("opcua-connector");
    let der = s.write("connector.der", client.der());
    let pem = s.write("connector.pem", client.key_pem().as_bytes());
    let out = s.keyway(
        &[
            "certs",
            "client",
            "add",
            "--public-key-file",
            &der,
            "--private-key-file",
            &pem,
            "--dry-run",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .contains("connectors.values.securityPki.applicationUri = urn:contoso:opcua-connector")
            && stdout.contains("az k8s-extension update"),
        "{stdout}"
    );
    let other = server_certificate("someone-else");
    std::fs::create_dir_all(s.dir.join("mixed")).unwrap();
    let der = s.write("mixed/connector.der", client.der());
    let pem = s.write("mixed/connector.pem", other.key_pem().as_bytes());
    let out = s.keyway(
        &[
            "certs",
            "client",
            "add",
            "--public-key-file",
            &der,
            "--private-key-file",
            &pem,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not the private key of connector.der"),
        "{}",
        text(&out)
    );
    assert_eq!(s.set_count(), 0);
    assert_eq!(s.cluster_state().await, before);

    // A reader that goes away (`keyway certs list | head -1`) ends the output quietly: exit 0,
    // no panic.
    let mut child = s
        .command(&["certs", "list"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        text(&out)
    );

    // An unknown name to remove: nothing changed.
    let out = s.keyway(&["certs", "issuer", "remove", "nope.der", "--yes"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(s.cluster_state().await, before);

    // secrets add without a value source: usage (exit 2), nothing asked of the vault.
    let out = s.keyway(&["secrets", "add", "db-password"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--from-file"),
        "{}",
        text(&out)
    );
    // A value as an argument: refused (exit 2) without echoing it, nothing asked of the vault.
    let out = s.keyway(
        &[
            "secrets",
            "add",
            "db-password",
            "hunter2-on-the-command-line",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("hunter2") && stderr.contains("never taken from the command line"),
        "{}",
        text(&out)
    );
    let out = s.keyway(
        &[
            "secrets",
            "add",
            "db-password",
            "--from-stdin",
            "hunter2-again",
        ],
        Some(b"x"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("hunter2"),
        "{}",
        text(&out)
    );
    // Another value already in the vault, or no secret to sync: the flags that would do it.
    s.vault.set_secret("held-password", "old").unwrap();
    let out = s.keyway(
        &["secrets", "add", "held-password", "--from-stdin"],
        Some(b"new"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--overwrite-secret") && stderr.contains("--existing"),
        "{}",
        text(&out)
    );
    let out = s.keyway(&["secrets", "add", "absent-password", "--existing"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--from-file or --from-stdin"),
        "{}",
        text(&out)
    );
    // ... nor two.
    let out = s.keyway(
        &[
            "secrets",
            "add",
            "db-password",
            "--from-stdin",
            "--existing",
        ],
        Some(b"x"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // secrets remove without --yes on a non-terminal.
    let out = s.keyway(&["secrets", "remove", "db-password"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // --target arm names what it needs.
    let out = s.keyway(&["certs", "list", "--target", "arm"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(s.set_count(), 0);
    assert_eq!(s.cluster_state().await, before);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_add_list_remove_through_the_process() {
    let s = setup("secrets-cli").await;
    let ns = s.cluster.namespace().to_string();
    let value = b"correct horse battery staple";

    let out = s.keyway(
        &[
            "secrets",
            "add",
            "db-password",
            "--from-stdin",
            "--synced-name",
            "db",
            "--key",
            "password",
        ],
        Some(value),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("correct horse"), "never printed");
    assert_eq!(s.set_count(), 1);
    assert_eq!(
        s.vault.secret_value("db-password").as_deref(),
        Some("correct horse battery staple")
    );

    let running = stores::start_controller(&s);
    let secrets: Api<Secret> = Api::namespaced(s.cluster.client(), &ns);
    let synced = eventually("the controller synced db", || async {
        secrets.get_opt("db").await.unwrap()
    })
    .await;
    assert_eq!(synced.data.unwrap()["password"].0, value);
    let listing = json(&s.keyway(&["secrets", "list", "--json"], None));
    let db = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["secret_sync"] == "db")
        .unwrap_or_else(|| panic!("{listing:#}"));
    assert_eq!(db["entries"][0]["target_key"], "password");
    assert_eq!(db["entries"][0]["secret_name"], "db-password");
    assert_eq!(db["entries"][0]["sync"]["state"], "synced", "{listing:#}");
    assert!(!listing.to_string().contains("correct horse"));

    // The same value again: no new version.
    let out = s.keyway(
        &[
            "secrets",
            "add",
            "db-password",
            "--from-stdin",
            "--synced-name",
            "db",
            "--key",
            "password",
        ],
        Some(value),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s.set_count(), 1);

    // Removed from the edge only: the SecretSync goes, Key Vault keeps the secret.
    let out = s.keyway(&["secrets", "remove", "db", "--yes"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        Api::<SecretSync>::namespaced(s.cluster.client(), &ns)
            .get_opt("db")
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.vault.secret_value("db-password").is_some());
    let listing = json(&s.keyway(&["secrets", "list", "--json"], None));
    assert!(
        listing
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["secret_sync"] != "db"),
        "{listing:#}"
    );
    running.stop().await;
    s.finish().await;
}

/// An identity or credential failure names its cause and gets keyway-sync's exit code: an
/// unknown client ID is Entra's refusal (AADSTS, exit 1), a missing token file is this
/// machine's setup (exit 2, the path named), an unreachable authority host is exit 3 (the host
/// named). Nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certs_identity_failures_name_the_cause_and_exit_code() {
    let s = setup("certs-cli-identity").await;
    let file = s.write("srv3.der", server_certificate("srv3").der());
    let run = |env: (&str, String)| {
        let mut command = s.command(&["certs", "trust", "add", &file]);
        command.env(env.0, env.1);
        let out = command.stdin(Stdio::null()).output().unwrap();
        // The SDK's own words name no cause.
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("will not be retried"),
            "{}",
            text(&out)
        );
        out
    };

    let out = run((
        "AZURE_CLIENT_ID",
        "00000000-0000-0000-0000-00000000beef".into(),
    ));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AADSTS"),
        "{}",
        text(&out)
    );

    let missing = s.dir.join("no-such-token.jwt").display().to_string();
    let out = run(("AZURE_FEDERATED_TOKEN_FILE", missing.clone()));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&missing),
        "{}",
        text(&out)
    );

    let out = run((
        "AZURE_AUTHORITY_HOST",
        "https://login.keyway.invalid".into(),
    ));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("login.keyway.invalid"),
        "{}",
        text(&out)
    );
    assert_eq!(s.set_count(), 0);
    s.finish().await;
}

/// A listing with a failed entry exits 1 (a partial result, as `keyway sync` does); its output
/// is the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_entry_makes_the_listing_exit_1() {
    let s = setup("certs-cli-failed").await;
    let file = s.write("plc.der", server_certificate("plc").der());
    let out = s.keyway(&["certs", "trust", "add", &file], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = s.keyway(&["certs", "list"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "pending is not failed: {}",
        text(&out)
    );
    let syncs: Api<SecretSync> = Api::namespaced(s.cluster.client(), s.cluster.namespace());
    let body = serde_json::json!({
        "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
        "kind": "SecretSync",
        "metadata": {"name": "aio-opc-ua-broker-trust-list"},
        "status": {"conditions": [{
            "type": "SecretCreated",
            "status": "False",
            "reason": "ProviderError",
            "message": "the provider failed",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }]},
    });
    syncs
        .patch_status(
            "aio-opc-ua-broker-trust-list",
            &kube::api::PatchParams::apply("keyway-test").force(),
            &kube::api::Patch::Apply(&body),
        )
        .await
        .unwrap();
    for args in [&["certs", "list"][..], &["certs", "list", "--json"][..]] {
        let out = s.keyway(args, None);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("ProviderError"),
            "{}",
            text(&out)
        );
    }
    s.finish().await;
}

/// `keyway ui`: plain HTTP is refused off loopback before anything is reached (exit 2, naming
/// the flags); with a certificate it serves HTTPS, prints one tokened URL, sets a `Secure`
/// session cookie and shows the instance's certificates; a broken key is exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyway_ui_serves_https_with_a_certificate_and_refuses_plain_http_off_loopback() {
    let setup = setup("ui").await;
    let off_loopback = setup.keyway(&["ui", "--bind", "0.0.0.0:0"], None);
    assert_eq!(
        off_loopback.status.code(),
        Some(2),
        "{}",
        text(&off_loopback)
    );
    assert!(
        String::from_utf8_lossy(&off_loopback.stderr).contains("--tls-cert"),
        "{}",
        text(&off_loopback)
    );

    let page = Issued::self_signed(&CertSpec {
        common_name: "keyway ui".into(),
        san: vec!["127.0.0.1".into()],
        ..Default::default()
    });
    let cert = setup.write("ui.crt", page.pem().as_bytes());
    let key = setup.write("ui.key", page.key_pem().as_bytes());
    let broken = setup.write("broken.key", b"not a key");
    let bad = setup.keyway(
        &[
            "ui",
            "--bind",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &broken,
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains(&format!("--tls-key {broken}")),
        "the flag and file are named: {}",
        text(&bad)
    );
    // A port already taken: input (exit 2) with what to do.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let busy = setup.keyway(&["ui", "--bind", &format!("localhost:{port}")], None);
    assert_eq!(busy.status.code(), Some(2), "{}", text(&busy));
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("choose another port"),
        "{}",
        text(&busy)
    );
    drop(taken);

    let mut child = setup
        .command(&[
            "ui",
            "--bind",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("keyway ui: open ")
        .unwrap_or_else(|| panic!("the URL line: {line:?}"))
        .to_string();
    assert!(
        url.starts_with("https://127.0.0.1:") && url.contains("/?token="),
        "{url}"
    );
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(page.pem().as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = client.get(&url).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let base = url.split("/?token=").next().unwrap();
    let anonymous = client
        .get(format!("{base}/certificates"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let listed = client
        .get(format!("{base}/certificates"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let body = listed.text().await.unwrap();
    assert!(body.contains(setup.cluster.namespace()), "{body}");
    assert!(body.contains("Synced certificates"));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "stops cleanly on SIGTERM");
    setup.finish().await;
}

/// `--namespace` goes into request paths, so it must be a namespace name: `../NS`, `NS/`, an
/// empty name or a control character is refused (exit 2, naming --namespace, the value
/// escaped) before any request, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_that_is_not_a_namespace_name_is_refused() {
    let s = setup("certs-cli-namespace").await;
    let ns = s.cluster.namespace().to_string();
    let server = server_certificate("opcua-server");
    let file = s.write("opc_server.der", server.der());
    let before = s.cluster_state().await;
    let sets = s.set_count();
    for bad in [
        format!("../{ns}"),
        format!("{ns}/"),
        String::new(),
        format!("{ns}?x=1"),
        "a b".to_string(),
        "bell\u{7}".to_string(),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_keyway"))
            .args(["certs", "trust", "add", &file, "--namespace", &bad])
            .envs(s.environment.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
        assert!(
            stderr.contains("--namespace") && stderr.contains("is not a Kubernetes namespace name"),
            "{bad:?}: {stderr}"
        );
        assert!(
            !stderr.contains('\u{7}'),
            "no raw control character: {stderr:?}"
        );
    }
    assert_eq!(s.set_count(), sets, "nothing written to Key Vault");
    assert_eq!(
        s.cluster_state().await,
        before,
        "nothing written to the cluster"
    );
    s.finish().await;
}
