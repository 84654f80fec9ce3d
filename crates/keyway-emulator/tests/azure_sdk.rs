//! The official Azure SDK for Rust clients, unchanged, against the emulator: only the
//! transport, the cloud (authority host), the retry policy and challenge-resource verification
//! are set.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::http::StatusCode;
use azure_identity::{
    ClientAssertionCredentialOptions, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_secrets::models::{
    SecretClientGetSecretOptions, SecretClientListSecretPropertiesOptions, SetSecretParameters,
};
use azure_security_keyvault_secrets::{ResourceExt, SecretClient, SecretClientOptions};
use futures::TryStreamExt;
use keyway_emulator::{
    Emulator, Identity, Role, Service, ServiceAccountToken, ThrottleLimits, Vault,
};

struct World {
    emulator: Emulator,
    tenant: String,
    app: Identity,
    vault: Vault,
    token_file: PathBuf,
}

async fn world(test: &str, role: Option<Role>) -> World {
    let emulator = Emulator::start().await.unwrap();
    let tenant = emulator.add_tenant(None);
    let app = emulator
        .add_workload_identity(&tenant, "app", "default", "workload")
        .unwrap();
    let vault = emulator.add_vault(&tenant, "test-vault").await.unwrap();
    if let Some(role) = role {
        vault.grant(&app, role);
    }
    let token_file =
        std::env::temp_dir().join(format!("keyway-emulator-{test}-{}.jwt", std::process::id()));
    let token =
        emulator.mint_service_account_token(&ServiceAccountToken::new("default", "workload"));
    std::fs::write(&token_file, token).unwrap();
    World {
        emulator,
        tenant,
        app,
        vault,
        token_file,
    }
}

impl World {
    /// How many of `service`'s `operation` requests the emulator counted with `status`.
    fn answered(&self, service: Service, operation: &str, status: u16) -> u64 {
        self.emulator
            .counters()
            .count_status(service, operation, status)
    }

    fn credential(&self) -> Arc<WorkloadIdentityCredential> {
        WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
            credential_options: ClientAssertionCredentialOptions {
                client_options: self.emulator.client_options().unwrap(),
            },
            client_id: Some(self.app.client_id.clone()),
            tenant_id: Some(self.tenant.clone()),
            token_file_path: Some(self.token_file.clone()),
        }))
        .unwrap()
    }

    fn client(&self) -> SecretClient {
        SecretClient::new(
            self.vault.url(),
            self.credential(),
            Some(SecretClientOptions {
                client_options: self.emulator.client_options().unwrap(),
                verify_challenge_resource: Some(false),
                ..Default::default()
            }),
        )
        .unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.token_file);
    }
}

fn set(value: &str) -> azure_core::http::RequestContent<SetSecretParameters> {
    SetSecretParameters {
        value: Some(value.into()),
        ..Default::default()
    }
    .try_into()
    .unwrap()
}

#[tokio::test]
async fn set_get_versions_list_delete_recover() {
    let w = world("crud", Some(Role::SecretsOfficer)).await;
    let client = w.client();

    let first = client
        .set_secret("db-password", set("one"), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let first_version = first.resource_id().unwrap().version.unwrap();
    client
        .set_secret("db-password", set("two"), None)
        .await
        .unwrap();
    let latest = client
        .get_secret("db-password", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(latest.value.as_deref(), Some("two"));
    let old = client
        .get_secret(
            "db-password",
            Some(SecretClientGetSecretOptions {
                secret_version: Some(first_version.clone()),
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(old.value.as_deref(), Some("one"));

    let versions: Vec<_> = client
        .list_secret_properties_versions("db-password", None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
    assert!(
        versions
            .iter()
            .any(|v| v.resource_id().unwrap().version.as_deref() == Some(first_version.as_str()))
    );

    for i in 0..59 {
        w.vault.set_secret(&format!("bulk-{i:02}"), "x").unwrap();
    }
    w.emulator.counters().reset();
    let listed: Vec<_> = client
        .list_secret_properties(Some(SecretClientListSecretPropertiesOptions {
            maxresults: Some(25),
            ..Default::default()
        }))
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 60);
    assert_eq!(
        w.answered(Service::KeyVault, "GetSecrets", 200),
        3,
        "60 secrets are 3 pages of 25"
    );

    client.delete_secret("db-password", None).await.unwrap();
    let gone = client.get_secret("db-password", None).await.unwrap_err();
    assert_eq!(gone.http_status(), Some(StatusCode::NotFound));
    client
        .get_deleted_secret("db-password", None)
        .await
        .unwrap();
    client
        .recover_deleted_secret("db-password", None)
        .await
        .unwrap();
    let back = client
        .get_secret("db-password", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(back.value.as_deref(), Some("two"));

    // The credential cached its token: one exchange for the whole session.
    assert_eq!(
        w.emulator.counters().count(Service::Entra, "Token"),
        0,
        "counters were reset after the first exchange"
    );
}

#[tokio::test]
async fn one_token_exchange_serves_many_calls() {
    let w = world("cache", Some(Role::SecretsUser)).await;
    w.vault.set_secret("a", "1").unwrap();
    let client = w.client();
    for _ in 0..5 {
        client.get_secret("a", None).await.unwrap();
    }
    assert_eq!(w.answered(Service::Entra, "Token", 200), 1);
    // Each new client's first call is challenged once (401) before it sends a token.
    assert_eq!(w.answered(Service::KeyVault, "GetSecret", 401), 1);
    assert_eq!(w.answered(Service::KeyVault, "GetSecret", 200), 5);
}

fn error_text(e: &azure_core::Error) -> String {
    format!("{e} {e:?}")
}

#[tokio::test]
async fn wrong_subject_reaches_the_caller_as_aadsts70021() {
    let w = world("subject", Some(Role::SecretsUser)).await;
    let other = w
        .emulator
        .mint_service_account_token(&ServiceAccountToken::new("default", "someone-else"));
    std::fs::write(&w.token_file, other).unwrap();
    let err = w.client().get_secret("a", None).await.unwrap_err();
    let text = error_text(&err);
    assert!(text.contains("AADSTS70021"), "{text}");
    assert!(
        text.contains("system:serviceaccount:default:someone-else"),
        "{text}"
    );
}

#[tokio::test]
async fn expired_assertion_is_aadsts700024() {
    let w = world("expired", Some(Role::SecretsUser)).await;
    let mut spec = ServiceAccountToken::new("default", "workload");
    spec.issued_at = Some(time::OffsetDateTime::now_utc() - time::Duration::hours(2));
    std::fs::write(&w.token_file, w.emulator.mint_service_account_token(&spec)).unwrap();
    let text = error_text(&w.client().get_secret("a", None).await.unwrap_err());
    assert!(text.contains("AADSTS700024"), "{text}");
}

#[tokio::test]
async fn unreachable_issuer_is_aadsts90061() {
    let w = world("issuer", Some(Role::SecretsUser)).await;
    w.emulator.faults().set_issuer_unreachable(true);
    let text = error_text(&w.client().get_secret("a", None).await.unwrap_err());
    assert!(text.contains("AADSTS90061"), "{text}");
    assert!(w.answered(Service::Issuer, "OpenIdConfiguration", 0) >= 1);
}

#[tokio::test]
async fn identity_without_a_role_is_forbidden() {
    let w = world("rbac", None).await;
    w.vault.set_secret("a", "1").unwrap();
    let err = w.client().get_secret("a", None).await.unwrap_err();
    assert_eq!(err.http_status(), Some(StatusCode::Forbidden));
    assert!(
        error_text(&err).contains("Forbidden"),
        "{}",
        error_text(&err)
    );

    // Reader sees metadata, never values.
    w.vault.grant(&w.app, Role::Reader);
    let client = w.client();
    let listed: Vec<_> = client
        .list_secret_properties(None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        client
            .get_secret("a", None)
            .await
            .unwrap_err()
            .http_status(),
        Some(StatusCode::Forbidden)
    );
}

#[tokio::test]
async fn throttling_answers_429_and_the_sdk_waits_for_retry_after() {
    let w = world("throttle", Some(Role::SecretsUser)).await;
    w.vault.set_secret("a", "1").unwrap();
    w.vault.set_throttle(ThrottleLimits {
        creates: 300,
        others: 2,
        window: Duration::from_secs(2),
    });
    let client = w.client();
    client.get_secret("a", None).await.unwrap(); // challenge (not counted against the budget), token, GET
    client.get_secret("a", None).await.unwrap();
    let started = Instant::now();
    client.get_secret("a", None).await.unwrap(); // over budget: 429 + Retry-After, then success
    assert_eq!(w.answered(Service::KeyVault, "GetSecret", 429), 1);
    assert_eq!(w.answered(Service::KeyVault, "GetSecret", 200), 3);
    // The SDK's own backoff starts at 100 ms; only Retry-After makes it wait a second or more.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "retried after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_fresh_credential_reads_the_rewritten_token_file() {
    let w = world("rotate", Some(Role::SecretsUser)).await;
    w.vault.set_secret("a", "1").unwrap();
    // The first credential reads a token for the wrong subject and fails...
    let wrong = w
        .emulator
        .mint_service_account_token(&ServiceAccountToken::new("default", "nobody"));
    std::fs::write(&w.token_file, wrong).unwrap();
    assert!(w.client().get_secret("a", None).await.is_err());
    // ...a fresh credential reads the fixed file.
    let right = w
        .emulator
        .mint_service_account_token(&ServiceAccountToken::new("default", "workload"));
    std::fs::write(&w.token_file, right).unwrap();
    assert!(w.client().get_secret("a", None).await.is_ok());
}
