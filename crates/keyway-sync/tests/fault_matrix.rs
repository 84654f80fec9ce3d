//! The fault matrix: every fault the emulators can inject into Key Vault, Entra ID, the OIDC
//! issuer and the service-account token file, against a sync into a directory. For each:
//!
//! - no synced key is removed or blanked because of the fault (every file keeps its previous
//!   value, or has the new one when the fault did not stop the sync);
//! - the failure shows in the report (failed objects, kept previous data, an error naming it);
//! - retries are bounded: the faulted service sees at most a counted number of requests in the
//!   cycle (no hot loop);
//! - once the fault clears, the sync converges within two cycles.
//!
//! Kubernetes faults are in tests/controller.rs (`kubernetes_faults_keep_the_secret_and_converge`,
//! `a_controller_restarted_during_an_outage_keeps_the_secret`); a failure between any two steps
//! of a directory write is a unit test of `sink::directory`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keyway_emulator::{
    Emulator, FederatedIdentityCredential, Identity, Role, Service, ServiceAccountToken, Vault,
};
use keyway_identity::{FederatedCredential, FederatedCredentialOptions, ProjectedTokenFile};
use keyway_sync::{
    DirectorySink, KeyVaultObject, KeyVaultSource, KeyVaultSourceOptions, Outcome, SyncReport,
    SyncSpec, Syncer,
};

const OBJECTS: usize = 5;

/// One emulated world: an identity trusted for `default/sync`, a vault with five secrets at
/// their first value, a directory, and a projected token file.
struct World {
    emulator: Emulator,
    app: Identity,
    vault: Vault,
    dir: PathBuf,
    token_file: PathBuf,
}

impl World {
    async fn new(test: &str) -> World {
        let emulator = Emulator::start().await.unwrap();
        let (app, vault) = emulator
            .workload_vault("faults", "default", "sync", Role::SecretsUser)
            .await
            .unwrap();
        for i in 0..OBJECTS {
            vault
                .set_secret(&format!("s{i}"), &format!("v1-{i}"))
                .unwrap();
        }
        let dir = std::env::temp_dir().join(format!("keyway-faults-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let token_file = dir.with_extension("token");
        let world = World {
            emulator,
            app,
            vault,
            dir,
            token_file,
        };
        world.write_token(ServiceAccountToken::new("default", "sync"));
        world
    }

    fn write_token(&self, token: ServiceAccountToken) {
        let minted = self.emulator.mint_service_account_token(&token);
        std::fs::write(&self.token_file, minted).unwrap();
    }

    /// A syncer whose credential reads the token file for every exchange, with the emulator's
    /// client options (the SDK's retry policy: three retries from 100 ms).
    fn syncer(&self) -> Syncer {
        let client_options = self.emulator.client_options().unwrap();
        let credential = FederatedCredential::new(
            &self.app.tenant_id,
            &self.app.client_id,
            &self.emulator.authority_host(),
            Arc::new(ProjectedTokenFile::new(&self.token_file)),
            FederatedCredentialOptions {
                client_options: client_options.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        let source = KeyVaultSource::new(
            self.vault.url(),
            credential,
            KeyVaultSourceOptions {
                client_options,
                verify_challenge_resource: false,
                ..Default::default()
            },
        )
        .unwrap();
        let objects = (0..OBJECTS)
            .map(|i| KeyVaultObject::secret(format!("s{i}")))
            .collect();
        Syncer::new(
            SyncSpec::new(self.vault.url(), objects).unwrap(),
            Arc::new(source),
            Arc::new(DirectorySink::new(&self.dir).unwrap()),
        )
    }

    /// Every synced file's value; panics when one is missing or empty.
    fn files(&self) -> Vec<String> {
        (0..OBJECTS)
            .map(|i| {
                let path = self.dir.join(format!("s{i}"));
                let value = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("s{i} was removed by the fault: {e}"));
                assert!(!value.is_empty(), "s{i} was blanked by the fault");
                value
            })
            .collect()
    }

    fn requests_to(&self, service: Service) -> u64 {
        self.emulator
            .requests()
            .iter()
            .filter(|r| r.service == service)
            .map(|r| r.count)
            .sum()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.token_file);
    }
}

/// Whether a fault stops the sync, or only slows or reroutes it.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Effect {
    /// Every changed object fails; the report says so.
    Fails,
    /// Some objects fail (the fault hits them only).
    FailsSome,
    /// The sync still succeeds.
    Survives,
}

/// One row of the matrix.
struct Fault {
    name: &'static str,
    /// Which service the fault is on, and how many requests to it one cycle may make at most.
    service: Service,
    max_requests: u64,
    effect: Effect,
    /// Whether each cycle starts from a fresh credential (a restart, or a token to refresh):
    /// needed for faults on the token exchange, which a cached token would hide.
    fresh_credential: bool,
    inject: fn(&World),
    clear: fn(&World),
    /// A word the report must carry for the failure, when it fails.
    reported: &'static str,
}

fn report_text(report: &SyncReport) -> String {
    report
        .objects
        .iter()
        .filter_map(|o| o.error.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn run(fault: Fault) {
    let w = World::new(fault.name).await;
    let mut syncer = w.syncer();
    let first = syncer.run_once().await;
    assert!(first.all_synced(), "{}: baseline {first:?}", fault.name);
    let before = w.files();
    assert!(before.iter().all(|v| v.starts_with("v1-")));

    // The vault moves on; then the fault hits.
    for i in 0..OBJECTS {
        w.vault
            .set_secret(&format!("s{i}"), &format!("v2-{i}"))
            .unwrap();
    }
    (fault.inject)(&w);
    if fault.fresh_credential {
        syncer = w.syncer();
    }
    w.emulator.counters().reset();
    let faulted = syncer.run_once().await;
    let requests = w.requests_to(fault.service);
    eprintln!(
        "{}: {} failed, {requests} requests to {}, {} ms",
        fault.name,
        faulted.failed(),
        fault.service,
        faulted.duration_ms
    );
    let files = w.files();
    for (i, value) in files.iter().enumerate() {
        assert!(
            *value == format!("v1-{i}") || *value == format!("v2-{i}"),
            "{}: s{i} holds {value:?}",
            fault.name
        );
    }
    assert!(
        requests <= fault.max_requests,
        "{}: {requests} requests to {} in one cycle (bound {})",
        fault.name,
        fault.service,
        fault.max_requests
    );
    match fault.effect {
        Effect::Fails | Effect::FailsSome => {
            assert!(
                faulted.failed() > 0,
                "{}: the report shows no failure: {faulted:?}",
                fault.name
            );
            if fault.effect == Effect::Fails {
                assert_eq!(faulted.failed(), OBJECTS, "{}: {faulted:?}", fault.name);
            }
            for object in faulted
                .objects
                .iter()
                .filter(|o| o.outcome == Outcome::Failed)
            {
                assert!(object.kept_previous, "{}: {object:?}", fault.name);
                let error = object.error.as_deref().unwrap_or_default();
                assert!(
                    !error.is_empty(),
                    "{}: a failure without an error",
                    fault.name
                );
            }
            let text = report_text(&faulted);
            assert!(
                text.contains(fault.reported),
                "{}: the report does not say {:?}: {text}",
                fault.name,
                fault.reported
            );
        }
        Effect::Survives => {
            assert!(faulted.all_synced(), "{}: {faulted:?}", fault.name);
        }
    }

    // The fault clears: converged within two cycles.
    (fault.clear)(&w);
    let mut cycles = 0;
    loop {
        cycles += 1;
        if fault.fresh_credential {
            syncer = w.syncer();
        }
        let report = syncer.run_once().await;
        if report.all_synced()
            && w.files()
                .iter()
                .enumerate()
                .all(|(i, v)| *v == format!("v2-{i}"))
        {
            break;
        }
        assert!(
            cycles < 2,
            "{}: not converged after two cycles: {report:?}",
            fault.name
        );
    }
}

/// Requests one cycle may make to Key Vault: a listing page and a read per object, each tried
/// at most four times (the first try and three retries).
const KEY_VAULT_BOUND: u64 = (1 + OBJECTS as u64) * 4;
/// Token requests one cycle may make: one exchange, tried at most four times.
const ENTRA_BOUND: u64 = 4;

macro_rules! fault_tests {
    ($($test:ident: $fault:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                run($fault).await;
            }
        )*
    };
}

fn nothing(_: &World) {}

fn clear_faults(w: &World) {
    w.emulator.faults().clear();
}

fn key_vault(
    name: &'static str,
    effect: Effect,
    inject: fn(&World),
    reported: &'static str,
) -> Fault {
    Fault {
        name,
        service: Service::KeyVault,
        max_requests: KEY_VAULT_BOUND,
        effect,
        fresh_credential: false,
        inject,
        clear: clear_faults,
        reported,
    }
}

/// The same fault, hitting a syncer that has just restarted (it has fetched nothing yet, so
/// only the sink knows the previous data).
fn after_restart(fault: Fault) -> Fault {
    Fault {
        fresh_credential: true,
        ..fault
    }
}

fn entra(
    name: &'static str,
    inject: fn(&World),
    clear: fn(&World),
    reported: &'static str,
) -> Fault {
    Fault {
        name,
        service: Service::Entra,
        max_requests: ENTRA_BOUND,
        effect: Effect::Fails,
        fresh_credential: true,
        inject,
        clear,
        reported,
    }
}

fault_tests! {
    key_vault_429_storm_with_retry_after: key_vault("kv-429", Effect::Fails, |w| {
        w.emulator.faults().fail_next_with_retry_after(Service::KeyVault, None, 429, 1_000_000, Some(1));
    }, "HTTP 429");
    key_vault_500s: key_vault("kv-500", Effect::Fails, |w| {
        w.emulator.faults().fail_next(Service::KeyVault, None, 500, 1_000_000);
    }, "HTTP 500");
    key_vault_503s: key_vault("kv-503", Effect::Fails, |w| {
        w.emulator.faults().fail_next(Service::KeyVault, None, 503, 1_000_000);
    }, "HTTP 503");
    key_vault_connection_resets: key_vault("kv-reset", Effect::Fails, |w| {
        w.emulator.faults().drop_next(Service::KeyVault, None, 1_000_000);
    }, "stream error");
    key_vault_reads_failing_while_listing_works: key_vault("kv-get-500", Effect::Fails, |w| {
        w.emulator.faults().fail_next(Service::KeyVault, Some("GetSecret"), 500, 1_000_000);
    }, "HTTP 500");
    key_vault_latency_spike: key_vault("kv-latency", Effect::Survives, |w| {
        w.emulator.faults().set_latency(Service::KeyVault, None, Duration::from_millis(700));
    }, "");
    a_secret_deleted_mid_run: Fault {
        clear: |w| w.vault.recover_secret("s1").unwrap(),
        ..key_vault("kv-deleted", Effect::FailsSome, |w| w.vault.delete_secret("s1").unwrap(), "s1: not found")
    };
    a_secret_disabled_mid_run: Fault {
        clear: |w| w.vault.set_enabled("s2", true).unwrap(),
        ..key_vault("kv-disabled", Effect::FailsSome, |w| w.vault.set_enabled("s2", false).unwrap(), "s2: disabled")
    };
    key_vault_500s_after_a_restart: after_restart(key_vault("kv-500-restart", Effect::Fails, |w| {
        w.emulator.faults().fail_next(Service::KeyVault, None, 500, 1_000_000);
    }, "HTTP 500"));
    entra_outage: entra("entra-503", |w| {
        w.emulator.faults().fail_next(Service::Entra, None, 503, 1_000_000);
    }, clear_faults, "503");
    entra_throttling: entra("entra-429", |w| {
        w.emulator.faults().fail_next_with_retry_after(Service::Entra, None, 429, 1_000_000, Some(1));
    }, clear_faults, "429");
    entra_unreachable: entra("entra-reset", |w| {
        w.emulator.faults().drop_next(Service::Entra, None, 1_000_000);
    }, clear_faults, "token: unreachable: stream error");
    aadsts70021_no_matching_federated_credential: entra("aadsts70021", |w| {
        let mut moved = FederatedIdentityCredential::for_service_account(&w.emulator.issuer_url(), "default", "sync");
        moved.subject = "system:serviceaccount:default:someone-else".into();
        w.emulator.add_federated_credential(&w.app, moved).unwrap();
    }, |w| {
        let restored = FederatedIdentityCredential::for_service_account(&w.emulator.issuer_url(), "default", "sync");
        w.emulator.add_federated_credential(&w.app, restored).unwrap();
    }, "AADSTS70021 ");
    aadsts700024_clock_skew_expires_the_assertion: entra("aadsts700024", |w| {
        w.emulator.set_clock_skew(time::Duration::hours(3));
    }, |w| {
        w.emulator.set_clock_skew(time::Duration::ZERO);
    }, "AADSTS700024");
    issuer_jwks_unreachable: entra("jwks-unreachable", |w| {
        w.emulator.faults().set_issuer_unreachable(true);
    }, clear_faults, "AADSTS");
    token_file_missing: entra("token-missing", |w| {
        std::fs::remove_file(&w.token_file).unwrap();
    }, |w| {
        w.write_token(ServiceAccountToken::new("default", "sync"));
    }, "token");
    token_file_expired: entra("token-expired", |w| {
        let mut expired = ServiceAccountToken::new("default", "sync");
        expired.issued_at = Some(time::OffsetDateTime::now_utc() - time::Duration::hours(3));
        expired.lifetime = Duration::from_secs(3600);
        w.write_token(expired);
    }, |w| {
        w.write_token(ServiceAccountToken::new("default", "sync"));
    }, "expired");
    token_file_rotated: Fault {
        name: "token-rotated",
        service: Service::Entra,
        max_requests: ENTRA_BOUND,
        effect: Effect::Survives,
        fresh_credential: true,
        inject: |w| w.write_token(ServiceAccountToken::new("default", "sync")),
        clear: nothing,
        reported: "",
    };
}
