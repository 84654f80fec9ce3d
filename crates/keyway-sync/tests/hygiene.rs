//! The secret-hygiene canary: planted secret values and every token of the run (service-account
//! tokens, Entra access tokens, the Kubernetes bearer token) must not appear in anything an
//! operator can see — TRACE-level logs of every crate, `Debug` renderings, error messages,
//! Events, SecretSync status and metrics — through a controller run with a failing vault, a
//! directory sync, and a refused token exchange.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use keyway_emulator::{Service, ServiceAccountToken};
use keyway_identity::{FederatedCredential, FederatedCredentialOptions, StaticAssertion};
use keyway_sync::controller::Controller;
use keyway_sync::{DirectorySink, KeyVaultObject, SecretSync, SyncSpec, Syncer};
use kube::Api;
use kube::api::{ListParams, PostParams};
use support::{Fixture, eventually, fixture, spawn};

/// Every log line of the process, at TRACE, from every crate.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The ways a planted value could show: as is, base64 (Secret data) and hex.
fn forms(value: &str) -> Vec<String> {
    use base64::Engine as _;
    vec![
        value.to_string(),
        base64::engine::general_purpose::STANDARD.encode(value),
        keyway_cert::encode_for_upload(value.as_bytes(), keyway_cert::Encoding::Hex).unwrap(),
    ]
}

/// A JWT anywhere in `text` (a header and a payload, both base64url JSON objects).
fn contains_jwt(text: &str) -> Option<String> {
    text.match_indices("eyJ").find_map(|(at, _)| {
        let rest = &text[at..];
        let token: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        let parts: Vec<&str> = token.split('.').collect();
        (parts.len() >= 2 && parts[1].starts_with("eyJ") && parts[1].len() > 10)
            .then(|| token.chars().take(40).collect())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_reaches_logs_debug_errors_events_status_or_metrics() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let canary = format!("canary-{}", uuid_like());
    let canary_key = format!("canary-key-{}", uuid_like());

    let Fixture {
        cluster,
        tenant,
        app,
        vault,
        options,
        ..
    } = fixture("hygiene").await;
    let (emulator, client, ns) = (cluster.emulator(), cluster.client(), cluster.namespace());
    vault.set_secret("db-password", &canary).unwrap();
    vault.set_secret("api-key", &canary_key).unwrap();
    let mut seen: Vec<(String, String)> = Vec::new();

    // 1. The controller: a sync, a failing vault (status, Event, metrics), recovery.
    let controller = Controller::new(client.clone(), options.clone());
    seen.push(("controller Debug".into(), format!("{controller:?}")));
    let running = spawn(controller, None);
    let metrics = running.metrics.clone();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    eventually("the canary synced", || async {
        let secret = secrets.get_opt("app").await.unwrap()?;
        (secret.data?.get("password")?.0 == canary.as_bytes()).then_some(())
    })
    .await;
    vault
        .set_secret("db-password", &format!("{canary}-2"))
        .unwrap();
    emulator
        .faults()
        .fail_next(Service::KeyVault, None, 500, 1_000_000);
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    support::event_with_reason(&events, "ProviderError").await;
    emulator.faults().clear();
    eventually("recovery", || async {
        let secret = secrets.get_opt("app").await.unwrap()?;
        (secret.data?.get("password")?.0 == format!("{canary}-2").as_bytes()).then_some(())
    })
    .await;
    running.stop().await;
    let syncs: Api<SecretSync> = Api::namespaced(client.clone(), ns);
    let status = syncs.get("app").await.unwrap().status;
    seen.push(("status".into(), serde_json::to_string(&status).unwrap()));
    seen.push(("status Debug".into(), format!("{status:?}")));
    let listed = events.list(&ListParams::default()).await.unwrap();
    seen.push((
        "events".into(),
        serde_json::to_string(&listed.items).unwrap(),
    ));
    seen.push(("metrics".into(), metrics.render()));
    let secret = secrets.get("app").await.unwrap();
    // The Secret itself holds the value; its Debug rendering is k8s-openapi's, not ours, so
    // only our own renderings are checked below.
    assert!(secret.data.is_some());

    // 2. A directory sync with a failing object: reports, errors, Debug of every part. The
    // assertion is the cluster's own service-account token (TokenRequest), whose issuer the
    // fixture made Entra trust — on a real cluster the emulated issuer's tokens are refused.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec!["api://AzureADTokenExchange".into()],
            expiration_seconds: Some(3600),
            bound_object_ref: None,
        },
        ..Default::default()
    };
    let service_account_token = accounts
        .create_token_request("sync", &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    // The app's credential over the emulator's TLS, presenting `assertion`.
    let federated = |assertion: String| {
        FederatedCredential::new(
            &tenant,
            &app.client_id,
            &emulator.authority_host(),
            Arc::new(StaticAssertion::new(assertion)),
            FederatedCredentialOptions {
                client_options: emulator.client_options().unwrap(),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let credential = federated(service_account_token.clone());
    let token = credential
        .token(&["https://vault.azure.net/.default"])
        .await
        .unwrap();
    let access_token = token.token.secret().to_string();
    let source = Arc::new(support::vault::source(emulator, &vault, credential.clone()));
    let dir = std::env::temp_dir().join(format!("keyway-hygiene-{}", std::process::id()));
    let sink = Arc::new(DirectorySink::new(&dir).unwrap());
    let syncer = Syncer::new(
        SyncSpec::new(
            vault.url(),
            vec![
                KeyVaultObject::secret("db-password"),
                KeyVaultObject::secret("api-key"),
                KeyVaultObject::secret("missing"),
            ],
        )
        .unwrap(),
        source.clone(),
        sink.clone(),
    );
    let report = syncer.run_once().await;
    assert_eq!(report.failed(), 1, "{report:?}");
    seen.push(("report Debug".into(), format!("{report:?}")));
    seen.push((
        "report errors".into(),
        report
            .objects
            .iter()
            .filter_map(|o| o.error.clone())
            .collect::<Vec<_>>()
            .join("\n"),
    ));
    seen.push((
        "parts Debug".into(),
        format!("{credential:?} {source:?} {sink:?} {syncer:?} {token:?}"),
    ));
    let _ = std::fs::remove_dir_all(&dir);

    // 3. A refused exchange: the error names the token's claims, never the token.
    let assertion =
        emulator.mint_service_account_token(&ServiceAccountToken::new(ns, "not-trusted"));
    let refused = federated(assertion.clone());
    let error = refused
        .token(&["https://vault.azure.net/.default"])
        .await
        .unwrap_err();
    seen.push((
        "refusal".into(),
        format!("{error} / {error:?} / {refused:?}"),
    ));

    // What every part showed, and the logs of the whole run.
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.lines().count() > 100,
        "TRACE logging captured only {} lines",
        logs.lines().count()
    );
    seen.push(("logs".into(), logs));
    let mut planted: Vec<(String, String)> = Vec::new();
    for value in [canary.as_str(), canary_key.as_str()] {
        for form in forms(value) {
            planted.push(("a secret value".into(), form));
        }
    }
    planted.push(("the Entra access token".into(), access_token));
    planted.push(("a service-account token".into(), assertion));
    planted.push((
        "the cluster's service-account token".into(),
        service_account_token,
    ));
    if !cluster.is_real() {
        planted.push((
            "the Kubernetes bearer token".into(),
            emulator.kubernetes_token().to_string(),
        ));
    }
    for (place, text) in &seen {
        for (what, value) in &planted {
            assert!(
                !text.contains(value.as_str()),
                "{what} appears in the {place}"
            );
        }
        if let Some(jwt) = contains_jwt(text) {
            panic!("a JWT ({jwt}…) appears in the {place}");
        }
    }
    cluster.cleanup().await;
}

/// A random hex string (process id and time), different in every run.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", std::process::id(), nanos)
}
