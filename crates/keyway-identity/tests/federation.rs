//! FederatedCredential against the emulated Entra ID, issuer and Key Vault, over HTTPS.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use keyway_emulator::{
    Emulator, EmulatorOptions, FederatedIdentityCredential, Identity, Role, Service,
    ServiceAccountToken,
};
use keyway_identity::{
    AssertionSource, FederatedCredential, FederatedCredentialOptions, IdentityError,
    IssuerDiscovery, Jwks, ProjectedTokenFile, StaticAssertion,
};

const VAULT_SCOPE: &str = "https://vault.azure.net/.default";

struct World {
    emulator: Emulator,
    tenant: String,
    app: Identity,
    token_file: std::path::PathBuf,
}

async fn world(test: &str, options: EmulatorOptions) -> World {
    let emulator = Emulator::start_with(options).await.unwrap();
    let tenant = emulator.add_tenant(None);
    let app = emulator
        .add_workload_identity(&tenant, "app", "default", "workload")
        .unwrap();
    let token_file =
        std::env::temp_dir().join(format!("keyway-identity-{test}-{}.jwt", std::process::id()));
    let w = World {
        emulator,
        tenant,
        app,
        token_file,
    };
    w.write_token("workload");
    w
}

impl World {
    fn write_token(&self, service_account: &str) {
        let token = self
            .emulator
            .mint_service_account_token(&ServiceAccountToken::new("default", service_account));
        std::fs::write(&self.token_file, format!("{token}\n")).unwrap();
    }

    fn options(&self) -> FederatedCredentialOptions {
        FederatedCredentialOptions {
            client_options: self.emulator.client_options().unwrap(),
            ..FederatedCredentialOptions::default()
        }
    }

    fn credential_with(
        &self,
        source: Arc<dyn AssertionSource>,
        tenant: &str,
        client_id: &str,
    ) -> Arc<FederatedCredential> {
        FederatedCredential::new(
            tenant,
            client_id,
            &self.emulator.authority_host(),
            source,
            self.options(),
        )
        .unwrap()
    }

    fn credential(&self) -> Arc<FederatedCredential> {
        self.credential_with(
            Arc::new(ProjectedTokenFile::new(&self.token_file)),
            &self.tenant,
            &self.app.client_id,
        )
    }

    fn token_requests(&self) -> u64 {
        self.emulator.counters().count(Service::Entra, "Token")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.token_file);
    }
}

fn entra(e: IdentityError) -> (u32, String) {
    match e {
        IdentityError::Entra(e) => {
            let (aadsts, hint, correlation_id) = (e.aadsts, e.hint, e.correlation_id);
            assert!(
                correlation_id.is_some(),
                "the correlation id is kept for support requests"
            );
            (aadsts, hint.unwrap_or_default())
        }
        other => panic!("expected an Entra error, got {other}"),
    }
}

#[tokio::test]
async fn exchange_succeeds_and_drives_the_official_secret_client() {
    let w = world("ok", EmulatorOptions::default()).await;
    let vault = w
        .emulator
        .add_vault(&w.tenant, "identity-vault")
        .await
        .unwrap();
    vault.grant(&w.app, Role::SecretsUser);
    vault.set_secret("db-password", "s3cret").unwrap();
    let credential = w.credential();
    let token = credential.token(&[VAULT_SCOPE]).await.unwrap();
    assert!(token.expires_on > time::OffsetDateTime::now_utc() + time::Duration::minutes(55));

    use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
    let client = SecretClient::new(
        vault.url(),
        credential.clone(),
        Some(SecretClientOptions {
            client_options: w.emulator.client_options().unwrap(),
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )
    .unwrap();
    let secret = client
        .get_secret("db-password", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(secret.value.as_deref(), Some("s3cret"));
    assert_eq!(
        w.token_requests(),
        1,
        "the SecretClient got the cached token"
    );
    assert!(!format!("{credential:?}").contains(token.token.secret()));
}

#[tokio::test]
async fn every_aadsts_path_has_its_error_and_hint() {
    let w = world("errors", EmulatorOptions::default()).await;
    let file = || -> Arc<dyn AssertionSource> { Arc::new(ProjectedTokenFile::new(&w.token_file)) };

    let (code, hint) = entra(
        w.credential_with(file(), "contoso.example", &w.app.client_id)
            .exchange(&[VAULT_SCOPE])
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 90002);
    assert!(hint.contains("AZURE_TENANT_ID"), "{hint}");

    let stranger = "11111111-2222-3333-4444-555555555555";
    let (code, hint) = entra(
        w.credential_with(file(), &w.tenant, stranger)
            .exchange(&[VAULT_SCOPE])
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 700016);
    assert!(hint.contains("not its object"), "{hint}");

    let (code, _) = entra(
        w.credential()
            .exchange(&["https://vault.azure.net"])
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 70011);

    // The classic: the FIC's issuer lacks the trailing slash the token has.
    let mut slash = ServiceAccountToken::new("default", "workload");
    slash.issuer = Some(format!("{}/", w.emulator.issuer_url()));
    let token = w.emulator.mint_service_account_token(&slash);
    let (code, hint) = entra(
        w.credential_with(
            Arc::new(StaticAssertion::new(token)),
            &w.tenant,
            &w.app.client_id,
        )
        .exchange(&[VAULT_SCOPE])
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 700211);
    assert!(
        hint.contains(&format!("`{}/`", w.emulator.issuer_url()))
            && hint.contains("note the trailing slash"),
        "{hint}"
    );

    w.write_token("someone-else");
    let error = w.credential().exchange(&[VAULT_SCOPE]).await.unwrap_err();
    let text = error.to_string();
    let (code, hint) = entra(error);
    assert_eq!(code, 70021);
    assert!(
        hint.contains("subject `system:serviceaccount:default:someone-else`"),
        "{hint}"
    );
    assert!(
        text.contains("AADSTS70021") && text.contains("hint:"),
        "{text}"
    );
    assert!(!text.contains("Trace ID"), "{text}");

    let mut old = ServiceAccountToken::new("default", "workload");
    old.issued_at = Some(time::OffsetDateTime::now_utc() - time::Duration::hours(2));
    std::fs::write(&w.token_file, w.emulator.mint_service_account_token(&old)).unwrap();
    let (code, hint) = entra(w.credential().exchange(&[VAULT_SCOPE]).await.unwrap_err());
    assert_eq!(code, 700024);
    assert!(
        hint.contains("expired at") && hint.contains("s ago"),
        "{hint}"
    );

    w.write_token("workload");
    w.emulator.faults().set_issuer_unreachable(true);
    let (code, hint) = entra(w.credential().exchange(&[VAULT_SCOPE]).await.unwrap_err());
    assert_eq!(code, 90061);
    assert!(hint.contains("/.well-known/openid-configuration"), "{hint}");
}

#[tokio::test]
async fn the_token_file_is_read_for_every_exchange_and_never_cached() {
    let w = world("reread", EmulatorOptions::default()).await;
    let credential = w.credential();
    credential.exchange(&[VAULT_SCOPE]).await.unwrap();
    // Rewritten mid-run: the next exchange sends the new content.
    w.write_token("someone-else");
    assert_eq!(
        entra(credential.exchange(&[VAULT_SCOPE]).await.unwrap_err()).0,
        70021
    );
    w.write_token("workload");
    credential.exchange(&[VAULT_SCOPE]).await.unwrap();
    // Time moves on past the token's life (plus Entra's skew): the stale file is refused, and a
    // fresh one works at once — nothing kept the old assertion in memory.
    w.emulator.set_clock_skew(time::Duration::minutes(70));
    assert_eq!(
        entra(credential.exchange(&[VAULT_SCOPE]).await.unwrap_err()).0,
        700024
    );
    let mut fresh = ServiceAccountToken::new("default", "workload");
    fresh.issued_at = Some(time::OffsetDateTime::now_utc() + time::Duration::minutes(70));
    std::fs::write(&w.token_file, w.emulator.mint_service_account_token(&fresh)).unwrap();
    credential.exchange(&[VAULT_SCOPE]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_cause_one_request() {
    let w = world("flight", EmulatorOptions::default()).await;
    let credential = w.credential();
    let calls: Vec<_> = (0..1000)
        .map(|_| {
            let c = credential.clone();
            tokio::spawn(async move {
                c.get_token(&[VAULT_SCOPE], None)
                    .await
                    .map(|t| t.token.secret().to_string())
            })
        })
        .collect();
    let mut tokens = std::collections::BTreeSet::new();
    for call in calls {
        tokens.insert(call.await.unwrap().unwrap());
    }
    assert_eq!(tokens.len(), 1);
    assert_eq!(w.token_requests(), 1);
    assert_eq!(credential.exchanges(), 1);
    // Another scope set is another cache entry.
    credential
        .token(&["https://management.azure.com/.default"])
        .await
        .unwrap();
    credential.token(&[VAULT_SCOPE]).await.unwrap();
    assert_eq!(w.token_requests(), 2);
}

#[tokio::test]
async fn a_failed_refresh_falls_back_to_a_still_valid_token() {
    // Tokens live 8 minutes: inside the 10-minute refresh window from the start, outside the
    // 5-minute floor.
    let w = world(
        "fallback",
        EmulatorOptions {
            token_lifetime: Duration::from_secs(480),
            ..EmulatorOptions::default()
        },
    )
    .await;
    let credential = w.credential();
    let first = credential.token(&[VAULT_SCOPE]).await.unwrap();
    w.emulator
        .faults()
        .fail_next(Service::Entra, Some("Token"), 500, 100);
    let again = credential.token(&[VAULT_SCOPE]).await.unwrap();
    assert_eq!(again.token.secret(), first.token.secret());
    assert!(credential.exchanges() >= 2, "a refresh was attempted");

    // With less than the floor left, the failure is the answer.
    let strict = FederatedCredential::new(
        &w.tenant,
        &w.app.client_id,
        &w.emulator.authority_host(),
        Arc::new(ProjectedTokenFile::new(&w.token_file)),
        FederatedCredentialOptions {
            min_validity: Duration::from_secs(600),
            ..w.options()
        },
    )
    .unwrap();
    w.emulator.faults().clear();
    strict.token(&[VAULT_SCOPE]).await.unwrap();
    w.emulator
        .faults()
        .fail_next(Service::Entra, Some("Token"), 500, 100);
    assert!(strict.token(&[VAULT_SCOPE]).await.is_err());
}

#[tokio::test]
async fn plain_http_is_refused_unless_loopback_and_opted_in() {
    let source: Arc<dyn AssertionSource> = Arc::new(StaticAssertion::new("x.y.z"));
    let client = "11111111-2222-3333-4444-555555555555";
    let make = |host: &str, allow: bool| {
        FederatedCredential::new(
            "tenant",
            client,
            host,
            source.clone(),
            FederatedCredentialOptions {
                allow_insecure_loopback: allow,
                ..FederatedCredentialOptions::default()
            },
        )
    };
    assert!(matches!(
        make("http://login.example.com", true),
        Err(IdentityError::Insecure { .. })
    ));
    let err = make("http://127.0.0.1:8080", false).unwrap_err();
    assert!(err.to_string().contains("allow_insecure_loopback"), "{err}");
    assert!(make("http://127.0.0.1:8080", true).is_ok());
    assert!(make("https://login.microsoftonline.com", false).is_ok());
}

#[tokio::test]
async fn issuer_discovery_and_published_keys() {
    let w = world("issuer", EmulatorOptions::default()).await;
    let http = w.emulator.http_client().unwrap();
    let discovery = IssuerDiscovery::fetch(&w.emulator.issuer_url(), &http)
        .await
        .unwrap();
    assert_eq!(discovery.configuration.issuer, w.emulator.issuer_url());
    let token = w
        .emulator
        .mint_service_account_token(&ServiceAccountToken::new("default", "workload"));
    let claims = discovery
        .verify(&token, time::OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(claims.sub, "system:serviceaccount:default:workload");
    // Verifying later than its life fails; a token from another issuer's key fails.
    assert!(
        discovery
            .verify(
                &token,
                time::OffsetDateTime::now_utc() + time::Duration::hours(2)
            )
            .is_err()
    );
    let other = Emulator::start().await.unwrap();
    let mut foreign = ServiceAccountToken::new("default", "workload");
    foreign.issuer = Some(w.emulator.issuer_url());
    assert!(
        discovery
            .verify(
                &other.mint_service_account_token(&foreign),
                time::OffsetDateTime::now_utc()
            )
            .is_err()
    );

    // Asking for the issuer with a trailing slash names the mismatch.
    let err = IssuerDiscovery::fetch(&format!("{}/", w.emulator.issuer_url()), &http)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("character for character"), "{err}");

    // What azwi jwks would publish from the public keys equals what the issuer serves.
    let ours = Jwks::from_public_keys(&w.emulator.issuer_public_keys_pem()).unwrap();
    assert_eq!(ours, discovery.jwks);

    // The FIC match report names the mismatch the exchange would hit.
    let fic = FederatedIdentityCredential::for_service_account(
        &format!("{}/", w.emulator.issuer_url()),
        "default",
        "workload",
    );
    let report = fic.match_claims(&claims);
    assert_eq!(report.mismatches.len(), 1);
    assert!(report.mismatches[0].to_string().contains("trailing slash"));
}
