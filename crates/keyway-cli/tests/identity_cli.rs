//! `keyway identity ...` run as a user runs it, against an in-process emulator.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use keyway_emulator::{Emulator, ServiceAccountToken};
use serde_json::Value;
use support::assert_exit;

struct Setup {
    emulator: Emulator,
    tenant: String,
    client_id: String,
    dir: PathBuf,
}

async fn setup(test: &str) -> Setup {
    let emulator = Emulator::start().await.unwrap();
    let tenant = emulator.add_tenant(None);
    let app = emulator
        .add_workload_identity(&tenant, "app", "default", "app")
        .unwrap();
    let dir =
        std::env::temp_dir().join(format!("keyway-identity-cli-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    emulator.write_ca(&dir.join("ca.pem")).unwrap();
    let s = Setup {
        emulator,
        tenant,
        client_id: app.client_id,
        dir,
    };
    s.write_token("app");
    s
}

impl Setup {
    fn write_token(&self, service_account: &str) {
        let token = self
            .emulator
            .mint_service_account_token(&ServiceAccountToken::new("default", service_account));
        std::fs::write(self.dir.join("token"), token).unwrap();
    }

    fn keyway(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_keyway"))
            .args(args)
            .env("AZURE_CLIENT_ID", &self.client_id)
            .env("AZURE_TENANT_ID", &self.tenant)
            .env("AZURE_FEDERATED_TOKEN_FILE", self.dir.join("token"))
            .env("AZURE_AUTHORITY_HOST", self.emulator.authority_host())
            .env("SSL_CERT_FILE", self.dir.join("ca.pem"))
            .output()
            .unwrap()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_and_reports_every_section() {
    let s = setup("ok").await;
    let out = s.keyway(&["identity", "check", "--json"]);
    assert_exit(&out, 0);
    let v = json(&out);
    assert_eq!(v["assertion"]["issuer"], s.emulator.issuer_url());
    assert_eq!(
        v["assertion"]["subject"],
        "system:serviceaccount:default:app"
    );
    assert_eq!(v["issuer_discovery"]["signature_valid"], true);
    assert_eq!(v["exchange"]["ok"], true);
    assert!(v["exchange"]["expires_in_seconds"].as_i64().unwrap() > 3000);
    let token = std::fs::read_to_string(s.dir.join("token")).unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(&token),
        "the token is never printed"
    );

    // An expectation that differs by a trailing slash, while the exchange works: Entra's
    // record matches the token, so the expectation is what is wrong — a note, not a problem.
    let expect = format!("{}/", s.emulator.issuer_url());
    let check_expecting_slash = |code: i32| {
        let out = s.keyway(&["identity", "check", "--expect-issuer", &expect]);
        assert_exit(&out, code);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stdout = check_expecting_slash(0);
    assert!(
        stdout.contains("note") && stdout.contains("trailing slash"),
        "{stdout}"
    );
    assert!(stdout.contains("workload identity works"), "{stdout}");

    // When the exchange fails, the same mismatch is the likely cause: a problem.
    s.write_token("other");
    let stdout = check_expecting_slash(1);
    assert!(
        stdout.contains("!! fic") && stdout.contains("trailing slash"),
        "{stdout}"
    );
}

/// Every problem counted is listed: the count and the list come from one vector.
fn assert_problems_listed(stdout: &str) {
    let count: usize = stdout
        .lines()
        .find_map(|l| l.strip_suffix(" problem(s) found:")?.parse().ok())
        .unwrap_or_else(|| panic!("no problem count: {stdout}"));
    let listed = stdout.lines().filter(|l| l.starts_with("  - ")).count();
    assert_eq!(count, listed, "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_one_problem_and_its_signature_still_verifies() {
    let s = setup("expired").await;
    let mut spec = ServiceAccountToken::new("default", "app");
    spec.issued_at = Some(time::OffsetDateTime::now_utc() - time::Duration::hours(2));
    let token = s.emulator.mint_service_account_token(&spec);
    std::fs::write(s.dir.join("token"), token).unwrap();

    let out = s.keyway(&["identity", "check", "--json"]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        v["issuer_discovery"]["signature_valid"], true,
        "the issuer's keys verify an expired token's signature: {v}"
    );
    let problems: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        problems.iter().any(|p| p.contains("expired")),
        "{problems:?}"
    );
    assert!(
        !problems.iter().any(|p| p.contains("published keys")),
        "{problems:?}"
    );

    let out = s.keyway(&["identity", "check"]);
    assert_problems_listed(&String::from_utf8_lossy(&out.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_local_error_has_one_exit_code_and_plain_http_names_the_opt_in() {
    let s = setup("local").await;
    let missing = s.dir.join("no-such-token");
    let out = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(["identity", "check"])
        .env("AZURE_CLIENT_ID", &s.client_id)
        .env("AZURE_TENANT_ID", &s.tenant)
        .env("AZURE_FEDERATED_TOKEN_FILE", &missing)
        .env("AZURE_AUTHORITY_HOST", s.emulator.authority_host())
        .env("SSL_CERT_FILE", s.dir.join("ca.pem"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a missing token file is input");

    let out = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(["identity", "check"])
        .env("AZURE_CLIENT_ID", &s.client_id)
        .env("AZURE_TENANT_ID", &s.tenant)
        .env("AZURE_FEDERATED_TOKEN_FILE", s.dir.join("token"))
        .env("AZURE_AUTHORITY_HOST", "http://127.0.0.1:9")
        .env_remove("KEYWAY_ALLOW_INSECURE_LOOPBACK")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("KEYWAY_ALLOW_INSECURE_LOOPBACK=1"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_names_the_aadsts_code_and_the_fix() {
    let s = setup("subject").await;
    s.write_token("other");
    let out = s.keyway(&["identity", "check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["exchange"]["ok"], false);
    assert_eq!(v["exchange"]["aadsts"], 70021);
    assert!(
        v["exchange"]["hint"]
            .as_str()
            .unwrap()
            .contains("system:serviceaccount:default:other")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_exit_codes_for_config_and_unreachable() {
    let s = setup("codes").await;
    let out = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(["identity", "check"])
        .env_remove("AZURE_CLIENT_ID")
        .env("AZURE_TENANT_ID", &s.tenant)
        .env("AZURE_FEDERATED_TOKEN_FILE", s.dir.join("token"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AZURE_CLIENT_ID is not set"));

    s.emulator
        .faults()
        .drop_next(keyway_emulator::Service::Entra, Some("Token"), 100);
    let out = s.keyway(&["identity", "check", "--json"]);
    assert_exit(&out, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn jwks_and_fic_commands() {
    let s = setup("jwks").await;
    let pem = s.dir.join("sa.pub");
    std::fs::write(&pem, &s.emulator.issuer_public_keys_pem()[0]).unwrap();
    let out_dir = s.dir.join("issuer");
    let issuer = s.emulator.issuer_url();
    let out = s.keyway(&[
        "identity",
        "jwks",
        "--public-key",
        pem.to_str().unwrap(),
        "--issuer",
        &issuer,
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_exit(&out, 0);
    let jwks: keyway_emulator::Jwks =
        serde_json::from_slice(&std::fs::read(out_dir.join("jwks")).unwrap()).unwrap();
    assert_eq!(
        jwks,
        s.emulator.issuer_jwks(),
        "the same document the issuer serves"
    );
    let config: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("openid-configuration")).unwrap())
            .unwrap();
    assert_eq!(config["issuer"], issuer);

    let out = s.keyway(&[
        "identity",
        "fic",
        "--issuer",
        "https://oidc.example/x/",
        "--namespace",
        "aio",
        "--service-account",
        "aio-ssc-sa",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"subject\": \"system:serviceaccount:aio:aio-ssc-sa\""),
        "{text}"
    );
    assert!(
        text.contains("az identity federated-credential create --name aio-aio-ssc-sa"),
        "{text}"
    );
    let out = s.keyway(&[
        "identity",
        "fic",
        "--issuer",
        "http://x",
        "--namespace",
        "a",
        "--service-account",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(2));
}
