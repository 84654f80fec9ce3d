//! `diagnose` against the emulated Entra ID and issuer: each section judged, every problem
//! typed, the token never in the report.

use keyway_emulator::{Emulator, Service, ServiceAccountToken};
use keyway_identity::{
    DiagnoseOptions, Diagnosis, FederatedCredentialOptions, IdentityError, InsecureReason, Note,
    Problem, WorkloadIdentityConfig, diagnose,
};

struct World {
    emulator: Emulator,
    config: WorkloadIdentityConfig,
}

async fn world(test: &str) -> World {
    let emulator = Emulator::start().await.unwrap();
    let tenant = emulator.add_tenant(None);
    let app = emulator
        .add_workload_identity(&tenant, "app", "default", "app")
        .unwrap();
    let token_file = std::env::temp_dir().join(format!(
        "keyway-identity-diagnose-{test}-{}.jwt",
        std::process::id()
    ));
    let w = World {
        config: WorkloadIdentityConfig {
            client_id: app.client_id,
            tenant_id: tenant,
            token_file,
            authority_host: emulator.authority_host(),
        },
        emulator,
    };
    w.write_token(&ServiceAccountToken::new("default", "app"));
    w
}

impl World {
    fn write_token(&self, spec: &ServiceAccountToken) {
        let token = self.emulator.mint_service_account_token(spec);
        std::fs::write(&self.config.token_file, token).unwrap();
    }

    fn options(&self) -> DiagnoseOptions {
        let mut options = DiagnoseOptions::new("https://vault.azure.net/.default").unwrap();
        options.http = self.emulator.http_client().unwrap();
        options.credential = FederatedCredentialOptions {
            client_options: self.emulator.client_options().unwrap(),
            ..FederatedCredentialOptions::default()
        };
        options
    }

    async fn diagnose(&self, options: &DiagnoseOptions) -> Diagnosis {
        diagnose(&self.config, options).await.unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config.token_file);
    }
}

#[tokio::test]
async fn a_working_setup_has_every_section_and_no_problem() {
    let w = world("ok").await;
    let d = w.diagnose(&w.options()).await;
    assert!(d.works() && !d.unreachable(), "{:?}", d.problems);
    let assertion = d.assertion.as_ref().unwrap();
    assert_eq!(assertion.issuer, w.emulator.issuer_url());
    assert_eq!(assertion.subject, "system:serviceaccount:default:app");
    assert_eq!(assertion.audience, ["api://AzureADTokenExchange"]);
    let discovery = d.issuer_discovery.as_ref().unwrap();
    assert!(discovery.reachable && discovery.key_found && discovery.signature_valid);
    assert!(d.exchange.ok && d.exchange.aadsts.is_none());
    assert!(d.fic_match.is_none(), "nothing was expected");

    let token = std::fs::read_to_string(&w.config.token_file).unwrap();
    let json = serde_json::to_string(&d).unwrap();
    assert!(!json.contains(&token), "the token is never in the report");
    assert!(!format!("{d:?}").contains(&token), "nor in its Debug");
}

#[tokio::test]
async fn an_expected_credential_that_differs_is_a_note_when_the_exchange_works_and_a_problem_when_it_fails()
 {
    let w = world("expect").await;
    let mut options = w.options();
    options.expect_issuer = Some(format!("{}/", w.emulator.issuer_url()));
    let d = w.diagnose(&options).await;
    assert!(d.works(), "{:?}", d.problems);
    assert!(
        matches!(d.notes.as_slice(), [Note::ExpectationDiffers(m)] if m.field == "issuer"),
        "{:?}",
        d.notes
    );
    assert!(d.notes[0].to_string().contains("trailing slash"));

    w.write_token(&ServiceAccountToken::new("default", "other"));
    let d = w.diagnose(&options).await;
    assert!(!d.works() && !d.unreachable());
    assert!(d.notes.is_empty());
    assert!(
        d.problems
            .contains(&Problem::EntraRefused { aadsts: 70021 }),
        "{:?}",
        d.problems
    );
    assert!(
        d.problems
            .iter()
            .any(|p| matches!(p, Problem::FicMismatch(m) if m.field == "issuer")),
        "{:?}",
        d.problems
    );
    assert_eq!(d.exchange.aadsts, Some(70021));
    assert!(
        d.exchange
            .hint
            .as_deref()
            .unwrap()
            .contains("system:serviceaccount:default:other")
    );
    // The JSON form keeps each problem as its sentence.
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(
        json["problems"][0],
        "Entra ID refused the exchange: AADSTS70021"
    );
}

#[tokio::test]
async fn an_expired_token_is_one_problem_and_its_signature_still_verifies() {
    let w = world("expired").await;
    let mut spec = ServiceAccountToken::new("default", "app");
    spec.issued_at = Some(time::OffsetDateTime::now_utc() - time::Duration::hours(2));
    w.write_token(&spec);
    let d = w.diagnose(&w.options()).await;
    assert!(
        d.problems.contains(&Problem::TokenExpired),
        "{:?}",
        d.problems
    );
    assert!(
        !d.problems
            .iter()
            .any(|p| matches!(p, Problem::IssuerKeys(_) | Problem::IssuerDiscovery(_))),
        "{:?}",
        d.problems
    );
    assert!(d.issuer_discovery.unwrap().signature_valid);
    assert!(d.assertion.unwrap().expires_in_seconds.unwrap() <= 0);
}

#[tokio::test]
async fn entra_unreachable_makes_the_diagnosis_unreachable() {
    let w = world("unreachable").await;
    w.emulator
        .faults()
        .drop_next(Service::Entra, Some("Token"), 100);
    let d = w.diagnose(&w.options()).await;
    assert!(d.unreachable(), "{:?}", d.problems);
    assert!(
        d.problems
            .iter()
            .any(|p| matches!(p, Problem::ExchangeFailed(e) if e.is_remote())),
        "{:?}",
        d.problems
    );
}

#[tokio::test]
async fn a_setup_that_cannot_be_diagnosed_is_an_error() {
    let w = world("errors").await;
    let mut missing = w.config.clone();
    missing.token_file = missing.token_file.with_extension("missing");
    assert!(matches!(
        diagnose(&missing, &w.options()).await,
        Err(IdentityError::TokenFile { .. })
    ));

    std::fs::write(&w.config.token_file, "not a jwt").unwrap();
    assert!(matches!(
        diagnose(&w.config, &w.options()).await,
        Err(IdentityError::TokenFile { .. })
    ));

    w.write_token(&ServiceAccountToken::new("default", "app"));
    let mut plain = w.config.clone();
    plain.authority_host = "http://127.0.0.1:9".into();
    assert!(matches!(
        diagnose(&plain, &w.options()).await,
        Err(IdentityError::Insecure {
            reason: InsecureReason::LoopbackNeedsOptIn,
            ..
        })
    ));
}
