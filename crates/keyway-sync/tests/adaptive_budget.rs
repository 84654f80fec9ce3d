//! The adaptive request budget against the emulated Key Vault: every try on the wire — the
//! SDK's retries and the authentication challenge included — is admitted by the vault's budget,
//! a 429 halves the rate the budget admits, `Retry-After` holds every source of the vault, and the
//! controller's `/metrics` shows it per vault. Counted at the emulator, never timed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};
use keyway_emulator::testing::eventually;
use keyway_emulator::{Emulator, Role, Service};
use keyway_sync::source::RequestBudget;
use keyway_sync::{KeyVaultSource, KeyVaultSourceOptions, SecretSource};

mod support;

/// Every try that reached the transport: when it left, its status, when the answer came.
#[derive(Debug, Default)]
struct Recorder {
    tries: Mutex<Vec<(Instant, u16, Instant)>>,
}

#[async_trait::async_trait]
impl Policy for Recorder {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let sent = Instant::now();
        let result = next[0].send(ctx, request, &next[1..]).await;
        let status = result.as_ref().map(|r| u16::from(r.status())).unwrap_or(0);
        self.tries
            .lock()
            .unwrap()
            .push((sent, status, Instant::now()));
        result
    }
}

struct World {
    emulator: Emulator,
    vault: keyway_emulator::Vault,
    app: keyway_emulator::Identity,
}

async fn world(name: &str) -> World {
    let emulator = Emulator::start().await.unwrap();
    let (app, vault) = emulator
        .workload_vault(name, "default", "app", Role::SecretsUser)
        .await
        .unwrap();
    for secret in ["a", "b", "c", "d"] {
        vault.set_secret(secret, "value").unwrap();
    }
    World {
        emulator,
        vault,
        app,
    }
}

impl World {
    /// A source of the vault admitted by `budget`, with `recorder` after the budget.
    fn source(
        &self,
        budget: &Arc<RequestBudget>,
        recorder: Option<Arc<Recorder>>,
    ) -> KeyVaultSource {
        let mut client_options = self.emulator.client_options().unwrap();
        if let Some(recorder) = recorder {
            client_options.per_try_policies.push(recorder);
        }
        KeyVaultSource::new(
            self.vault.url(),
            self.emulator
                .workload_credential(&self.app, "default", "app")
                .unwrap(),
            KeyVaultSourceOptions {
                client_options,
                verify_challenge_resource: false,
                budget: Some(budget.clone()),
                ..Default::default()
            },
        )
        .unwrap()
    }

    /// Every Key Vault request the emulator answered (challenges included), any status.
    fn tries_at_the_vault(&self) -> u64 {
        self.emulator
            .requests()
            .iter()
            .filter(|r| r.service == Service::KeyVault)
            .map(|r| r.count)
            .sum()
    }
}

/// The budget admits 6 tries per window. Two sources of the vault share it: two challenges, a read
/// answered 500, 500, 200 (two SDK retries) and one more read are the 6; a fourth read waits for
/// the window instead of going out. Before, the budget admitted calls, not tries: all four reads
/// went out (8 tries at the vault). The window is an hour, not Key Vault's 10 s, so that a slow
/// machine (the SDK's retry backoff alone takes seconds) cannot let the first tries leave it and
/// the fourth read through.
#[tokio::test]
async fn no_try_goes_above_the_budget_retries_included() {
    let w = world("budget-cap").await;
    let budget = Arc::new(RequestBudget::with_window(6, Duration::from_secs(3600)));
    let (first, second) = (w.source(&budget, None), w.source(&budget, None));
    w.emulator
        .faults()
        .fail_next(Service::KeyVault, Some("GetSecret"), 500, 2);
    first.get("a", None).await.unwrap();
    second.get("b", None).await.unwrap();
    assert_eq!(w.tries_at_the_vault(), 6, "{:?}", w.emulator.requests());
    assert_eq!(budget.stats().admitted, 6);

    let blocked = tokio::spawn(async move {
        first.get("c", None).await.unwrap();
    });
    eventually("a read waiting for the budget, or done", || async {
        (budget.stats().waiting == 1 || blocked.is_finished()).then_some(())
    })
    .await;
    assert_eq!(w.tries_at_the_vault(), 6, "nothing sent above the budget");
    assert_eq!(budget.stats().waiting, 1);
    assert_eq!(budget.stats().admitted, 6);
    blocked.abort();
    let _ = blocked.await;
    // The tries by operation and status class: the challenges are 401s.
    assert_eq!(
        budget.tries(),
        vec![("get", "2xx", 2), ("get", "4xx", 2), ("get", "5xx", 2)]
    );
}

/// A 429 halves the rate in force once, and its `Retry-After` holds every source of the vault:
/// a read started by another source after the 429 leaves no earlier than the 429's answer plus
/// `Retry-After` (before, only the SDK's own retry of the throttled read waited).
#[tokio::test]
async fn a_429_halves_the_rate_and_retry_after_holds_the_whole_vault() {
    let w = world("budget-429").await;
    let budget = Arc::new(RequestBudget::new(40));
    let recorder = Arc::new(Recorder::default());
    let first = Arc::new(w.source(&budget, Some(recorder.clone())));
    let second = w.source(&budget, Some(recorder.clone()));
    // Both clients past their challenge.
    first.get("a", None).await.unwrap();
    second.get("a", None).await.unwrap();
    assert_eq!(budget.stats().per_10s, 40);

    w.emulator.faults().fail_next_with_retry_after(
        Service::KeyVault,
        Some("GetSecret"),
        429,
        1,
        Some(2),
    );
    let throttled = tokio::spawn({
        let first = first.clone();
        async move { first.get("b", None).await.unwrap() }
    });
    let answered_429 = eventually("the 429", || async {
        let tries = recorder.tries.lock().unwrap();
        tries.iter().find(|t| t.1 == 429).map(|t| t.2)
    })
    .await;
    second.get("c", None).await.unwrap();
    throttled.await.unwrap();

    let after: Vec<_> = recorder
        .tries
        .lock()
        .unwrap()
        .iter()
        .filter(|(sent, _, _)| *sent > answered_429)
        .copied()
        .collect();
    assert_eq!(
        after.len(),
        2,
        "the throttled read's retry and the other source's read"
    );
    for (sent, status, _) in &after {
        assert_eq!(*status, 200);
        assert!(
            sent.duration_since(answered_429) >= std::time::Duration::from_secs(2),
            "a try left {:?} after the 429, before its Retry-After (2 s) passed",
            sent.duration_since(answered_429)
        );
    }
    let stats = budget.stats();
    assert_eq!((stats.throttled, stats.cuts), (1, 1), "{stats:?}");
    assert!(stats.per_10s < 40, "{stats:?}");
    assert_eq!(
        w.emulator
            .counters()
            .count_status(Service::KeyVault, "GetSecret", 429),
        1
    );
}

/// The controller's `/metrics` shows each vault's tries by operation and status class, its 429s
/// and the budget in force, cut by a throttled listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_s_metrics_show_the_vault_s_budget_and_429s() {
    let support::Fixture {
        cluster,
        vault,
        mut options,
        ..
    } = support::fixture("budget-metrics").await;
    let (client, ns) = (cluster.client(), cluster.namespace());
    options.requests_per_10s = 1000;
    options.poll_interval = std::time::Duration::from_secs(120);
    cluster.emulator().faults().fail_next_with_retry_after(
        Service::KeyVault,
        Some("GetSecrets"),
        429,
        1,
        Some(1),
    );
    let running = support::spawn(
        keyway_sync::controller::Controller::new(client.clone(), options),
        None,
    );
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), ns);
    eventually("the first sync", || async {
        secrets.get_opt("app").await.unwrap()
    })
    .await;
    let rendered = running.metrics.render();
    let url = vault.url();
    assert!(
        rendered.contains(&format!(
            "keyway_keyvault_throttled_total{{vault=\"{url}\"}} 1"
        )),
        "{rendered}"
    );
    assert!(
        rendered.contains(&format!(
            "keyway_keyvault_http_requests_total{{vault=\"{url}\",operation=\"list\",status_class=\"4xx\"}}"
        )),
        "{rendered}"
    );
    assert!(rendered.contains(&format!(
        "keyway_keyvault_budget_ceiling_requests_per_10s{{vault=\"{url}\"}} 1000"
    )));
    let in_force: u32 = rendered
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!(
                "keyway_keyvault_budget_requests_per_10s{{vault=\"{url}\"}} "
            ))
        })
        .expect("the budget in force")
        .parse()
        .unwrap();
    assert!(in_force < 1000, "halved by the 429: {in_force}");
    let budgets = running.metrics.vault_budgets();
    assert_eq!(budgets.len(), 1);
    assert_eq!(budgets[0].1.throttled, 1);
    running.stop().await;
    cluster.cleanup().await;
}
