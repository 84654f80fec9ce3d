//! The controller at scale, against the emulators (a bench program that prints its figures):
//! 1,000 SecretSyncs × 10 objects over 2,000 distinct secrets in one vault (200
//! SecretProviderClasses of 10 objects, 5 SecretSyncs each, one service account). `keyway
//! controller` runs as its own process so its memory is its own. Measured: time until every
//! Secret exists, Key Vault calls in one steady-state poll (target ⌈2000/25⌉ = 80 lists and 0
//! GETs), token exchanges, the controller's peak RSS (target ≤ 64 MiB). The vault enforces Key
//! Vault's real throttle (4,000 requests per 10 s); the bench samples the vault's request
//! counters every 100 ms and reports the busiest 10-second window and every 429.
//!
//! `cargo bench -p keyway-cli --bench controller_scale` (`KEYWAY_BENCH_SYNCS` to change the
//! number of SecretSyncs; the load test is `KEYWAY_BENCH_SYNCS=5000`).
//!
//! The neighbour variant, `KEYWAY_BENCH_NEIGHBOUR=3000`: another client sends that many requests
//! per 10 s to the same vault during the first sync (version listings, which keyway does not
//! send, so the vault's counters tell the two apart). It reports keyway's 429s (target ≤ 1 % of
//! its requests), the neighbour's, the time after which keyway saw no more 429, and the budget in
//! force on the controller's `/metrics` when the first sync ends.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use keyway_emulator::testing::TestCluster;
use keyway_emulator::{Role, Service};
use keyway_sync::{
    MANAGED_LABEL, SecretObject, SecretObjectData, SecretProviderClass, SecretProviderClassSpec,
    SecretSync, SecretSyncSpec,
};
use kube::Api;
use kube::api::{ListParams, PostParams};

const OBJECTS_PER_CLASS: usize = 10;
const SYNCS_PER_CLASS: usize = 5;
const POLL_SECONDS: u64 = 30;

/// A neighbour client on the vault: `per_10s` version listings of one secret per 10 s
/// (`GetSecretVersions`), each on its own task and never retried, so its load stays what it
/// offers, until the task is aborted.
fn neighbour(
    emulator: &keyway_emulator::Emulator,
    vault: &keyway_emulator::Vault,
    tenant: &str,
    per_10s: u32,
) -> tokio::task::JoinHandle<()> {
    use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
    let identity = emulator
        .add_workload_identity(tenant, "neighbour", "default", "neighbour")
        .unwrap();
    vault.grant(&identity, Role::SecretsUser);
    let credential = emulator
        .workload_credential(&identity, "default", "neighbour")
        .unwrap();
    let mut client_options = emulator.client_options().unwrap();
    client_options.retry = azure_core::http::RetryOptions::none();
    let client = std::sync::Arc::new(
        SecretClient::new(
            vault.url(),
            credential,
            Some(SecretClientOptions {
                client_options,
                verify_challenge_resource: Some(false),
                ..Default::default()
            }),
        )
        .unwrap(),
    );
    let period = Duration::from_secs(10) / per_10s.max(1);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let client = client.clone();
            tokio::spawn(async move {
                if let Ok(pager) = client.list_secret_properties_versions("s-00000", None) {
                    let _ = pager.into_pages().next().await;
                }
            });
        }
    })
}

/// Whether a vault request was keyway's (the neighbour only lists versions).
fn keyways(operation: &str) -> bool {
    operation != "GetSecretVersions"
}

/// The controller process a wrapper (`KEYWAY_BENCH_WRAP`) started: the first descendant of
/// `wrapper` running the keyway binary.
async fn controller_pid(wrapper: u32) -> u32 {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_keyway"));
    for _ in 0..600 {
        let mut pending = vec![wrapper];
        while let Some(pid) = pending.pop() {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
            if pid != wrapper && exe.as_deref() == Some(binary) {
                return pid;
            }
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            pending.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no controller process under the wrapper {wrapper}");
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let syncs: usize = std::env::var("KEYWAY_BENCH_SYNCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let classes = syncs.div_ceil(SYNCS_PER_CLASS);
    let distinct = classes * OBJECTS_PER_CLASS;

    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let cluster = TestCluster::start_with_crds("scale", &crds).await.unwrap();
    let (emulator, client, ns) = (cluster.emulator(), cluster.client(), cluster.namespace());
    let (app, vault) = cluster
        .workload_vault("scale-vault", "sync", Role::SecretsUser)
        .await
        .unwrap();
    let tenant = app.tenant_id.clone();
    for i in 0..distinct {
        vault
            .set_secret(&format!("s-{i:05}"), &format!("value-{i}"))
            .unwrap();
    }

    let class_api: Api<SecretProviderClass> = Api::namespaced(client.clone(), ns);
    futures::stream::iter(0..classes)
        .map(|c| {
            let objects: String = (0..OBJECTS_PER_CLASS)
                .map(|o| {
                    format!(
                        "  - |\n    objectName: s-{:05}\n    objectType: secret\n",
                        c * OBJECTS_PER_CLASS + o
                    )
                })
                .collect();
            let class = SecretProviderClass::new(
                &format!("spc-{c:04}"),
                SecretProviderClassSpec {
                    provider: Some("azure".into()),
                    parameters: BTreeMap::from([
                        ("keyvaultName".to_string(), "scale-vault".to_string()),
                        ("tenantID".to_string(), tenant.clone()),
                        ("clientID".to_string(), app.client_id.clone()),
                        ("objects".to_string(), format!("array:\n{objects}")),
                    ]),
                    secret_objects: None,
                },
            );
            let api = class_api.clone();
            async move { api.create(&PostParams::default(), &class).await.unwrap() }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let sync_api: Api<SecretSync> = Api::namespaced(client.clone(), ns);
    futures::stream::iter(0..syncs)
        .map(|s| {
            let c = s % classes;
            let sync = SecretSync::new(
                &format!("sync-{s:05}"),
                SecretSyncSpec {
                    secret_provider_class_name: format!("spc-{c:04}"),
                    service_account_name: "sync".into(),
                    secret_object: SecretObject {
                        type_: "Opaque".into(),
                        data: (0..OBJECTS_PER_CLASS)
                            .map(|o| {
                                let name = format!("s-{:05}", c * OBJECTS_PER_CLASS + o);
                                SecretObjectData {
                                    source_path: name.clone(),
                                    target_key: name,
                                }
                            })
                            .collect(),
                        labels: None,
                        annotations: None,
                    },
                    force_synchronization: None,
                    secret_sync_controller_name: None,
                },
            );
            let api = sync_api.clone();
            async move { api.create(&PostParams::default(), &sync).await.unwrap() }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;

    // Secrets written in the same second as their first read are read again at the next poll
    // (`updated` has one-second resolution); in the field they are older than that.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let dir = std::env::temp_dir().join(format!("keyway-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    cluster.write_kubeconfig(&dir.join("kubeconfig")).unwrap();
    emulator.write_ca(&dir.join("ca.pem")).unwrap();
    emulator.counters().reset();
    let count = |service, operation| emulator.counters().count(service, operation);

    // The vault's requests over time, to find the busiest 10-second window.
    let vault_requests = |emulator: &keyway_emulator::Emulator| -> (u64, u64) {
        emulator
            .requests()
            .iter()
            .filter(|r| r.service == Service::KeyVault)
            .fold((0, 0), |(all, throttled), r| {
                (
                    all + r.count,
                    throttled + if r.status == 429 { r.count } else { 0 },
                )
            })
    };
    // (when, all vault requests, 429s answered to keyway)
    let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(Instant, u64, u64)>::new()));
    let sampling = {
        // Through the emulator's control endpoint (not counted, not throttled).
        let samples = samples.clone();
        let http = emulator.http_client().unwrap();
        let url = format!("{}/_emulator/requests", vault.url());
        tokio::spawn(async move {
            loop {
                #[derive(serde::Deserialize)]
                struct Counts {
                    requests: Vec<keyway_emulator::RequestCount>,
                }
                let counts: Counts = http.get(&url).send().await.unwrap().json().await.unwrap();
                let vault = counts
                    .requests
                    .iter()
                    .filter(|r| r.service == Service::KeyVault);
                let all = vault.clone().map(|r| r.count).sum();
                let keyway_429 = vault
                    .filter(|r| r.status == 429 && keyways(&r.operation))
                    .map(|r| r.count)
                    .sum();
                samples
                    .lock()
                    .unwrap()
                    .push((Instant::now(), all, keyway_429));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let neighbour_per_10s: Option<u32> = std::env::var("KEYWAY_BENCH_NEIGHBOUR")
        .ok()
        .and_then(|v| v.parse().ok());
    let neighbour_task =
        neighbour_per_10s.map(|per_10s| neighbour(emulator, &vault, &tenant, per_10s));
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");

    // `KEYWAY_BENCH_WRAP="heaptrack -o /tmp/ctl"` runs the controller under a profiler (its
    // figures are then of the profiled process; the wrapper's own memory is not counted).
    let wrap: Vec<String> = std::env::var("KEYWAY_BENCH_WRAP")
        .ok()
        .map(|w| w.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut command = match wrap.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(env!("CARGO_BIN_EXE_keyway"));
            command
        }
        None => Command::new(env!("CARGO_BIN_EXE_keyway")),
    };
    // `KEYWAY_BENCH_BUDGET`: the controller's `--requests-per-10s` (default 2,000).
    let budget: u32 = std::env::var("KEYWAY_BENCH_BUDGET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let started = Instant::now();
    let mut child = command
        .args([
            "controller",
            "--namespaces",
            ns,
            "--poll-interval",
            &format!("{POLL_SECONDS}s"),
            "--jitter",
            "0%",
            "--metrics-addr",
            &metrics_addr,
            "--health-addr",
            "127.0.0.1:0",
            "--vault-url",
            &format!("scale-vault={}", vault.url()),
            "--requests-per-10s",
            &budget.to_string(),
        ])
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("SSL_CERT_FILE", dir.join("ca.pem"))
        .env("AZURE_AUTHORITY_HOST", emulator.authority_host())
        .env("KEYWAY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = if wrap.is_empty() {
        child.id()
    } else {
        controller_pid(child.id()).await
    };

    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let managed = ListParams::default().labels(MANAGED_LABEL);
    loop {
        let written = secrets.list_metadata(&managed).await.unwrap().items.len();
        if written >= syncs {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1200),
            "only {written} of {syncs} Secrets after 20 minutes"
        );
        // Not too often: listing thousands of Secrets holds the stand-in's store lock.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let first_sync = started.elapsed();
    if let Some(task) = &neighbour_task {
        task.abort();
    }
    // The budget in force and keyway's 429s as the controller sees them.
    let metrics = emulator
        .http_client()
        .unwrap()
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metric = |name: &str| -> String {
        metrics
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .filter_map(|l| l.rsplit(' ').next())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let budget_in_force = metric("keyway_keyvault_budget_requests_per_10s");
    let throttled_seen = metric("keyway_keyvault_throttled_total");
    let (keyway_requests, keyway_429, neighbour_requests, neighbour_429) = emulator
        .requests()
        .iter()
        .filter(|r| r.service == Service::KeyVault)
        .fold((0, 0, 0, 0), |(k, k429, n, n429), r| {
            let throttled = if r.status == 429 { r.count } else { 0 };
            if keyways(&r.operation) {
                (k + r.count, k429 + throttled, n, n429)
            } else {
                (k, k429, n + r.count, n429 + throttled)
            }
        });
    let first_lists = count(Service::KeyVault, "GetSecrets");
    let first_gets = count(Service::KeyVault, "GetSecret");
    // API-server requests by kind, watches apart (a watch is one long request, not per poll).
    let api_server = || {
        emulator
            .counters()
            .kubernetes_requests()
            .iter()
            .filter(|r| r.verb != "watch")
            .fold((0u64, 0u64), |(reads, writes), r| match r.verb.as_str() {
                "get" | "list" => (reads + r.count, writes),
                _ => (reads, writes + r.count),
            })
    };
    let (reads_before, writes_before) = api_server();
    let writes_by_kind = || {
        emulator
            .counters()
            .kubernetes_requests()
            .into_iter()
            .filter(|r| !matches!(r.verb.as_str(), "watch" | "get" | "list"))
            .map(|r| ((r.verb, r.resource, r.status), r.count))
            .fold(std::collections::BTreeMap::new(), |mut m, (k, c)| {
                *m.entry(k).or_insert(0u64) += c;
                m
            })
    };

    // One steady-state poll: wait for its listing to start, then for it to settle.
    loop {
        if count(Service::KeyVault, "GetSecrets") > first_lists {
            break;
        }
        assert!(
            started.elapsed() < first_sync + Duration::from_secs(POLL_SECONDS * 3),
            "no poll within three intervals"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(POLL_SECONDS / 2)).await;
    let poll_lists = count(Service::KeyVault, "GetSecrets") - first_lists;
    let poll_gets = count(Service::KeyVault, "GetSecret") - first_gets;
    // The first poll after the first sync adds the Update condition to each status (as the
    // Secret Store extension does); the API-server figures are of the next poll, a quiet one.
    let (first_poll_reads, first_poll_writes) = api_server();
    let first_poll_writes = first_poll_writes - writes_before;
    let first_poll_reads = first_poll_reads - reads_before;
    let (reads_before, writes_before) = api_server();
    let writes_before_by_kind = writes_by_kind();
    let lists_now = count(Service::KeyVault, "GetSecrets");
    while count(Service::KeyVault, "GetSecrets") == lists_now {
        assert!(
            started.elapsed() < first_sync + Duration::from_secs(POLL_SECONDS * 5),
            "no second poll"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(POLL_SECONDS / 2)).await;
    let (reads_after, writes_after) = api_server();
    let (poll_api_reads, poll_api_writes) =
        (reads_after - reads_before, writes_after - writes_before);
    let poll_writes: Vec<String> = writes_by_kind()
        .into_iter()
        .filter_map(|(kind, count)| {
            let before = writes_before_by_kind.get(&kind).copied().unwrap_or(0);
            (count > before)
                .then(|| format!("{} {} {}: {}", kind.0, kind.1, kind.2, count - before))
        })
        .collect();
    let exchanges = count(Service::Entra, "Token");
    let token_requests = emulator
        .counters()
        .count_status(Service::Kubernetes, "create", 201);
    let rss = peak_rss_kib(pid);
    sampling.abort();
    let (_, throttled) = vault_requests(emulator);
    let busiest = {
        let samples = samples.lock().unwrap();
        let mut busiest = 0;
        let mut start = 0;
        for end in 0..samples.len() {
            while samples[end].0 - samples[start].0 > Duration::from_secs(10) {
                start += 1;
            }
            busiest = busiest.max(samples[end].1 - samples[start].1);
        }
        busiest
    };
    // Every Secret holds every key.
    let complete = secrets
        .list(&managed)
        .await
        .unwrap()
        .items
        .iter()
        .filter(|s| {
            s.data
                .as_ref()
                .is_some_and(|d| d.len() == OBJECTS_PER_CLASS)
        })
        .count();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();

    println!(
        "controller scale: {syncs} SecretSyncs x {OBJECTS_PER_CLASS} objects over {distinct} secrets, one vault, one service account"
    );
    println!(
        "  first sync (all Secrets written): {:.1} s",
        first_sync.as_secs_f64()
    );
    println!("  first sync Key Vault calls: {first_lists} list, {first_gets} GET");
    println!(
        "  one steady-state poll: {poll_lists} list calls, {poll_gets} GETs (target {} and 0)",
        distinct.div_ceil(25)
    );
    println!(
        "  API server, first poll after the first sync: {first_poll_reads} reads, {first_poll_writes} writes (the Update condition, once)"
    );
    println!(
        "  API server, the next (quiet) poll: {poll_api_reads} reads (get, list), {poll_api_writes} writes (target 0 and 0; watches apart){}",
        if poll_writes.is_empty() {
            String::new()
        } else {
            format!(": {}", poll_writes.join(", "))
        }
    );
    println!(
        "  token exchanges over the run: {exchanges} (TokenRequests and other creates: {token_requests})"
    );
    println!(
        "  vault: busiest 10-second window {busiest} requests (budget {budget} of the vault's 4,000), {throttled} answered 429"
    );
    // The floor: one listing and every distinct secret read once, at the budget.
    let floor = (distinct.div_ceil(25) + distinct) as f64 / f64::from(budget) * 10.0;
    println!(
        "  first sync against its floor ({} lists + {distinct} GETs at {budget} per 10 s = {floor:.1} s): {:.2}x",
        distinct.div_ceil(25),
        first_sync.as_secs_f64() / floor
    );
    println!("  Secrets holding all {OBJECTS_PER_CLASS} keys: {complete} of {syncs}");
    if let Some(per_10s) = neighbour_per_10s {
        let last_429 = {
            let samples = samples.lock().unwrap();
            samples
                .windows(2)
                .filter(|w| w[1].2 > w[0].2)
                .map(|w| w[1].0.saturating_duration_since(started))
                .next_back()
        };
        println!(
            "  neighbour at {per_10s} requests per 10 s during the first sync: {neighbour_requests} sent, {neighbour_429} answered 429"
        );
        println!(
            "  keyway during the first sync: {keyway_requests} Key Vault requests, {keyway_429} answered 429 ({:.2} %, target <= 1 %)",
            keyway_429 as f64 * 100.0 / keyway_requests.max(1) as f64
        );
        match last_429 {
            Some(at) => println!(
                "  converged: no 429 to keyway after {:.1} s",
                at.as_secs_f64()
            ),
            None => println!("  converged: keyway never answered 429"),
        }
        println!(
            "  budget in force when the first sync ended: {budget_in_force} requests per 10 s (429s seen by the controller: {throttled_seen})"
        );
    }
    match rss {
        Some(kib) => println!("  controller peak RSS: {:.1} MiB", kib as f64 / 1024.0),
        None => println!("  controller peak RSS: unavailable"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    cluster.cleanup().await;
}
