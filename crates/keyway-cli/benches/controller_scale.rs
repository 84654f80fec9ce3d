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
//!
//! The sharded variant, `KEYWAY_BENCH_CONTROLLERS=2` (default 1): the SecretSyncs and their
//! SecretProviderClasses are split over that many namespaces (the cluster's test namespace and
//! more, each with its own service account `sync` federated to its own identity, all holding
//! Secrets User on the one vault), and as many `keyway controller` processes run, each watching
//! one namespace (`--namespaces`) at the full budget (`KEYWAY_BENCH_BUDGET`, default 2,000 per
//! 10 s, so two of them together reach the vault's 4,000). Per controller (from its own
//! `/metrics`, as the vault cannot tell them apart): its first sync, its Key Vault requests and
//! 429s in it, the budget in force at the end, its peak RSS; together: the busiest 10-second
//! window at the vault, the 429s as a share of all keyway requests (target ≤ 1 %), the time
//! after which no 429 was answered, and the steady-state poll summed over the controllers (its
//! API-server figures by verb from each controller's `keyway_apiserver_requests_total`).
//!
//! `KEYWAY_BENCH_TIMELINE=1` also prints the vault's requests in each second of the run (how the
//! budget spreads them), and `KEYWAY_BENCH_BINARY=<path>` runs the controller from another
//! keyway binary, such as the image's (`cargo build --profile image -p keyway-cli
//! --no-default-features`, then `KEYWAY_BENCH_BINARY=$PWD/target/image/keyway`).
//!
//! Every run also prints the CPU time (user + system, `/proc/<pid>/stat`) used during the first
//! sync by the controller process(es) and by this bench process, which hosts the emulators and
//! the Kubernetes stand-in, and their sum over the first sync's wall time in cores: whether the
//! machine was saturated, so a slow first sync can be told from a starved one.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use keyway_emulator::testing::TestCluster;
use keyway_emulator::{FederatedIdentityCredential, Role, Service};
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

/// The keyway binary the controller runs from: `KEYWAY_BENCH_BINARY`, or this build's (which has
/// the `dev` feature and the release profile). The image's is built with `cargo build --profile
/// image -p keyway-cli --no-default-features` (see the Dockerfile) into `target/image/keyway`.
/// Resolved, as `/proc/<pid>/exe` is, so the controller under a wrapper is found by it.
fn keyway_binary() -> std::path::PathBuf {
    let binary = std::env::var_os("KEYWAY_BENCH_BINARY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_keyway").into());
    std::fs::canonicalize(&binary)
        .unwrap_or_else(|e| panic!("KEYWAY_BENCH_BINARY {}: {e}", binary.display()))
}

/// The controller process a wrapper (`KEYWAY_BENCH_WRAP`) started: the first descendant of
/// `wrapper` running the keyway binary.
async fn controller_pid(wrapper: u32) -> u32 {
    let binary = keyway_binary();
    for _ in 0..600 {
        let mut pending = vec![wrapper];
        while let Some(pid) = pending.pop() {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
            if pid != wrapper && exe.as_deref() == Some(binary.as_path()) {
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

/// CPU time used so far (user + system) by the process `pid` (`self` for this one), in clock
/// ticks: fields 14 and 15 of `/proc/<pid>/stat`, counted after the command's closing `)`.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(field(14)? + field(15)?)
}

/// Clock ticks per second (`getconf CLK_TCK`, else Linux's usual 100).
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|ticks| *ticks > 0.0)
        .unwrap_or(100.0)
}

/// A controller's `/metrics`: every series (name and labels) and its value.
async fn scrape(http: &reqwest::Client, addr: &str) -> BTreeMap<String, f64> {
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of every series of the metric `name`.
fn total(metrics: &BTreeMap<String, f64>, name: &str) -> f64 {
    let labelled = format!("{name}{{");
    metrics
        .iter()
        .filter(|(series, _)| *series == name || series.starts_with(&labelled))
        .map(|(_, value)| value)
        .sum()
}

/// The values of the metric `name`'s series, as the N=1 output shows them ("2000, 1000").
fn values(metrics: &BTreeMap<String, f64>, name: &str) -> String {
    let labelled = format!("{name}{{");
    metrics
        .iter()
        .filter(|(series, _)| series.starts_with(&labelled))
        .map(|(_, value)| value.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a poll is measured by on a controller's `/metrics`: its Key Vault list pages and
/// reads, and its API-server requests by verb (watches apart).
#[derive(Clone, Debug, Default)]
struct PollCounts {
    lists: f64,
    gets: f64,
    api: BTreeMap<String, f64>,
}

impl PollCounts {
    fn of(metrics: &BTreeMap<String, f64>) -> PollCounts {
        let api = metrics
            .iter()
            .filter_map(|(series, value)| {
                let verb = series
                    .strip_prefix("keyway_apiserver_requests_total{verb=\"")?
                    .strip_suffix("\"}")?;
                (verb != "watch").then(|| (verb.to_string(), *value))
            })
            .collect();
        PollCounts {
            lists: metrics
                .get("keyway_keyvault_requests_total{kind=\"list\"}")
                .copied()
                .unwrap_or(0.0),
            gets: metrics
                .get("keyway_keyvault_requests_total{kind=\"get\"}")
                .copied()
                .unwrap_or(0.0),
            api,
        }
    }

    /// API-server reads (get, list) and writes (the other verbs) since `before`, and the
    /// writes by verb.
    fn api_since(&self, before: &PollCounts) -> (u64, u64, Vec<(String, u64)>) {
        let mut reads = 0;
        let mut writes = Vec::new();
        for (verb, value) in &self.api {
            let delta = (value - before.api.get(verb).copied().unwrap_or(0.0)) as u64;
            if matches!(verb.as_str(), "get" | "list") {
                reads += delta;
            } else if delta > 0 {
                writes.push((verb.clone(), delta));
            }
        }
        let written = writes.iter().map(|(_, n)| n).sum();
        (reads, written, writes)
    }
}

/// The next poll of every controller, each measured on its own `/metrics`: it starts when the
/// controller's list pages pass `before` (so each controller's window follows its own cycle,
/// however far apart their polls are) and is read half an interval later, settled.
async fn next_polls(
    http: &reqwest::Client,
    addrs: &[String],
    before: &[PollCounts],
    deadline: Instant,
    what: &str,
) -> Vec<PollCounts> {
    let mut started: Vec<Option<Instant>> = vec![None; addrs.len()];
    let mut after: Vec<Option<PollCounts>> = vec![None; addrs.len()];
    while after.iter().any(Option::is_none) {
        for (i, addr) in addrs.iter().enumerate() {
            match (started[i], &after[i]) {
                (_, Some(_)) => {}
                (None, None) => {
                    let now = PollCounts::of(&scrape(http, addr).await);
                    if now.lists > before[i].lists {
                        started[i] = Some(Instant::now());
                    }
                }
                (Some(at), None) => {
                    if at.elapsed() >= Duration::from_secs(POLL_SECONDS / 2) {
                        after[i] = Some(PollCounts::of(&scrape(http, addr).await));
                    }
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not every controller polled"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    after.into_iter().flatten().collect()
}

/// The arguments of one `keyway controller` of the bench.
struct ControllerArgs<'a> {
    namespace: &'a str,
    metrics_addr: &'a str,
    vault_url: &'a str,
    budget: u32,
}

impl ControllerArgs<'_> {
    fn args(&self) -> Vec<String> {
        [
            "controller",
            "--namespaces",
            self.namespace,
            "--poll-interval",
            &format!("{POLL_SECONDS}s"),
            "--jitter",
            "0%",
            "--metrics-addr",
            self.metrics_addr,
            "--health-addr",
            "127.0.0.1:0",
            "--vault-url",
            &format!("scale-vault={}", self.vault_url),
            "--requests-per-10s",
            &self.budget.to_string(),
        ]
        .into_iter()
        .map(str::to_string)
        .collect()
    }
}

/// The end of one controller's first sync, when every Secret of its namespace exists.
#[derive(Clone, Debug)]
struct FirstSync {
    /// Since the controllers were started.
    at: Duration,
    /// The controller's CPU time then, in clock ticks.
    cpu_ticks: Option<u64>,
    /// Its `/metrics` then (with more than one controller).
    metrics: BTreeMap<String, f64>,
}

/// A free local port, for a controller's `/metrics`.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let syncs: usize = std::env::var("KEYWAY_BENCH_SYNCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let classes = syncs.div_ceil(SYNCS_PER_CLASS);
    let distinct = classes * OBJECTS_PER_CLASS;
    // `KEYWAY_BENCH_CONTROLLERS`: controllers, one namespace each (class `c` lives in namespace
    // `c % controllers`, with the SecretSyncs that name it).
    let controllers: usize = std::env::var("KEYWAY_BENCH_CONTROLLERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .clamp(1, classes);

    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let cluster = TestCluster::start_with_crds("scale", &crds).await.unwrap();
    let (emulator, client, ns) = (cluster.emulator(), cluster.client(), cluster.namespace());
    let (app, vault) = cluster
        .workload_vault("scale-vault", "sync", Role::SecretsUser)
        .await
        .unwrap();
    let tenant = app.tenant_id.clone();
    // Each further namespace: its ServiceAccount `sync`, federated to an identity of its own
    // that holds Secrets User on the vault. (namespace, the identity's client id)
    let mut namespaces = vec![(ns.to_string(), app.client_id.clone())];
    for i in 1..controllers {
        let name = format!("{ns}-c{i}");
        let mut namespace = Namespace::default();
        namespace.metadata.name = Some(name.clone());
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap();
        let mut account = ServiceAccount::default();
        account.metadata.name = Some("sync".into());
        Api::<ServiceAccount>::namespaced(client.clone(), &name)
            .create(&PostParams::default(), &account)
            .await
            .unwrap();
        let issuer = cluster.trust_service_account_issuer().await.unwrap();
        let identity = emulator
            .add_identity(&tenant, &format!("sync-{i}"))
            .unwrap();
        emulator
            .add_federated_credential(
                &identity,
                FederatedIdentityCredential::for_service_account(&issuer, &name, "sync"),
            )
            .unwrap();
        vault.grant(&identity, Role::SecretsUser);
        namespaces.push((name, identity.client_id));
    }
    let namespace_of_class = |c: usize| &namespaces[c % controllers];
    // The SecretSyncs each namespace holds (each Secret is one SecretSync's).
    let expected: Vec<usize> = (0..controllers)
        .map(|n| {
            (0..syncs)
                .filter(|s| (s % classes) % controllers == n)
                .count()
        })
        .collect();
    for i in 0..distinct {
        vault
            .set_secret(&format!("s-{i:05}"), &format!("value-{i}"))
            .unwrap();
    }

    futures::stream::iter(0..classes)
        .map(|c| {
            let (class_ns, client_id) = namespace_of_class(c);
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
                        ("clientID".to_string(), client_id.clone()),
                        ("objects".to_string(), format!("array:\n{objects}")),
                    ]),
                    secret_objects: None,
                },
            );
            let api: Api<SecretProviderClass> = Api::namespaced(client.clone(), class_ns);
            async move { api.create(&PostParams::default(), &class).await.unwrap() }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    futures::stream::iter(0..syncs)
        .map(|s| {
            let c = s % classes;
            let (sync_ns, _) = namespace_of_class(c);
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
            let api: Api<SecretSync> = Api::namespaced(client.clone(), sync_ns);
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
    // One `/metrics` address per controller.
    let metrics_addrs: Vec<String> = (0..controllers)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let metrics_addr = metrics_addrs[0].clone();

    // `KEYWAY_BENCH_WRAP="heaptrack -o /tmp/ctl"` runs the controller under a profiler (its
    // figures are then of the profiled process; the wrapper's own memory is not counted).
    let wrap: Vec<String> = std::env::var("KEYWAY_BENCH_WRAP")
        .ok()
        .map(|w| w.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let command = || match wrap.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(keyway_binary());
            command
        }
        None => Command::new(keyway_binary()),
    };
    // `KEYWAY_BENCH_BUDGET`: each controller's `--requests-per-10s` (default 2,000).
    let budget: u32 = std::env::var("KEYWAY_BENCH_BUDGET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let ticks_per_second = clock_ticks_per_second();
    let bench_ticks_before = cpu_ticks("self");
    let started = Instant::now();
    let mut children = Vec::new();
    for ((namespace, _), metrics_addr) in namespaces.iter().zip(&metrics_addrs) {
        let args = ControllerArgs {
            namespace,
            metrics_addr,
            vault_url: vault.url(),
            budget,
        };
        let child = command()
            .args(args.args())
            .env("KUBECONFIG", dir.join("kubeconfig"))
            .env("SSL_CERT_FILE", dir.join("ca.pem"))
            .env("AZURE_AUTHORITY_HOST", emulator.authority_host())
            .env("KEYWAY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        children.push(child);
    }
    let mut pids = Vec::new();
    for child in &children {
        pids.push(if wrap.is_empty() {
            child.id()
        } else {
            controller_pid(child.id()).await
        });
    }

    // Each controller's first sync ends when every Secret of its namespace exists: when, its CPU
    // time then (clock ticks) and (with more than one controller) its `/metrics` then.
    let http = emulator.http_client().unwrap();
    let managed = ListParams::default().labels(MANAGED_LABEL);
    let mut first_syncs: Vec<Option<FirstSync>> = vec![None; controllers];
    while first_syncs.iter().any(Option::is_none) {
        let mut written_all = 0;
        for (i, (namespace, _)) in namespaces.iter().enumerate() {
            if first_syncs[i].is_some() {
                written_all += expected[i];
                continue;
            }
            let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
            let written = secrets.list_metadata(&managed).await.unwrap().items.len();
            written_all += written;
            if written >= expected[i] {
                let at = started.elapsed();
                let ticks = cpu_ticks(&pids[i].to_string());
                let metrics = if controllers > 1 {
                    scrape(&http, &metrics_addrs[i]).await
                } else {
                    BTreeMap::new()
                };
                first_syncs[i] = Some(FirstSync {
                    at,
                    cpu_ticks: ticks,
                    metrics,
                });
            }
        }
        if first_syncs.iter().all(Option::is_some) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1200),
            "only {written_all} of {syncs} Secrets after 20 minutes"
        );
        // Not too often: listing thousands of Secrets holds the stand-in's store lock.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let first_syncs: Vec<FirstSync> = first_syncs.into_iter().flatten().collect();
    let first_sync = started.elapsed();
    // CPU during the first sync: every controller and this process (emulators, stand-in).
    let controllers_ticks: Option<u64> = pids.iter().map(|pid| cpu_ticks(&pid.to_string())).sum();
    let bench_ticks = cpu_ticks("self")
        .zip(bench_ticks_before)
        .map(|(now, before)| now - before);
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
    // One steady-state poll, then the next (quiet) one: Key Vault list pages and reads, and
    // API-server reads and writes (and, with more than one controller, each one's list pages
    // and reads in the first).
    let mut poll_by_controller: Vec<(u64, u64)> = Vec::new();
    let (
        poll_lists,
        poll_gets,
        first_poll_reads,
        first_poll_writes,
        poll_api_reads,
        poll_api_writes,
        poll_writes,
    ) = if controllers == 1 {
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
        (
            poll_lists,
            poll_gets,
            first_poll_reads,
            first_poll_writes,
            poll_api_reads,
            poll_api_writes,
            poll_writes,
        )
    } else {
        // Each controller's polls on its own `/metrics`, from its first sync's end, summed.
        let at_first_sync: Vec<PollCounts> = first_syncs
            .iter()
            .map(|first| PollCounts::of(&first.metrics))
            .collect();
        let first_poll = next_polls(
            &http,
            &metrics_addrs,
            &at_first_sync,
            started + first_sync + Duration::from_secs(POLL_SECONDS * 3),
            "no poll within three intervals",
        )
        .await;
        let quiet_poll = next_polls(
            &http,
            &metrics_addrs,
            &first_poll,
            started + first_sync + Duration::from_secs(POLL_SECONDS * 5),
            "no second poll",
        )
        .await;
        let sum = |f: &dyn Fn(&PollCounts, &PollCounts) -> u64| -> u64 {
            at_first_sync
                .iter()
                .zip(&first_poll)
                .map(|(before, after)| f(before, after))
                .sum()
        };
        poll_by_controller = at_first_sync
            .iter()
            .zip(&first_poll)
            .map(|(before, after)| {
                (
                    (after.lists - before.lists) as u64,
                    (after.gets - before.gets) as u64,
                )
            })
            .collect();
        let poll_lists = poll_by_controller.iter().map(|(lists, _)| lists).sum();
        let poll_gets = poll_by_controller.iter().map(|(_, gets)| gets).sum();
        let first_poll_reads = sum(&|before, after| after.api_since(before).0);
        let first_poll_writes = sum(&|before, after| after.api_since(before).1);
        let mut quiet_writes = BTreeMap::<String, u64>::new();
        let (mut poll_api_reads, mut poll_api_writes) = (0, 0);
        for (before, after) in first_poll.iter().zip(&quiet_poll) {
            let (reads, writes, by_verb) = after.api_since(before);
            poll_api_reads += reads;
            poll_api_writes += writes;
            for (verb, n) in by_verb {
                *quiet_writes.entry(verb).or_default() += n;
            }
        }
        let poll_writes: Vec<String> = quiet_writes
            .into_iter()
            .map(|(verb, n)| format!("{verb}: {n}"))
            .collect();
        (
            poll_lists,
            poll_gets,
            first_poll_reads,
            first_poll_writes,
            poll_api_reads,
            poll_api_writes,
            poll_writes,
        )
    };
    let exchanges = count(Service::Entra, "Token");
    let token_requests = emulator
        .counters()
        .count_status(Service::Kubernetes, "create", 201);
    let rss: Vec<Option<u64>> = pids.iter().map(|pid| peak_rss_kib(*pid)).collect();
    // Each controller's `/metrics` at the end (the budget in force, its 429s over the run).
    let mut at_end = Vec::new();
    if controllers > 1 {
        for addr in &metrics_addrs {
            at_end.push(scrape(&http, addr).await);
        }
    }
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
    // `KEYWAY_BENCH_TIMELINE=1`: the vault's requests in each second of the run, to see how the
    // budget spreads them (bursts and idle gaps) and how long the tail after the last read is.
    if std::env::var_os("KEYWAY_BENCH_TIMELINE").is_some() {
        let samples = samples.lock().unwrap();
        if let Some(first) = samples.first() {
            // Every second from the first sample to the last, 0 where no request was counted.
            let seconds = samples
                .last()
                .map_or(0, |last| (last.0 - first.0).as_secs()) as usize;
            let mut per_second = vec![0u64; seconds + 1];
            for pair in samples.windows(2) {
                let second = (pair[1].0 - first.0).as_secs() as usize;
                per_second[second] += pair[1].1 - pair[0].1;
            }
            let line: Vec<String> = per_second.iter().map(u64::to_string).collect();
            println!("  vault requests per second: {}", line.join(" "));
        }
    }
    // Every Secret holds every key.
    let mut complete = 0;
    for (namespace, _) in &namespaces {
        complete += Api::<Secret>::namespaced(client.clone(), namespace)
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
    }
    for pid in &pids {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    for child in &mut children {
        let _ = child.wait();
    }

    if controllers == 1 {
        println!(
            "controller scale: {syncs} SecretSyncs x {OBJECTS_PER_CLASS} objects over {distinct} secrets, one vault, one service account"
        );
    } else {
        println!(
            "controller scale: {syncs} SecretSyncs x {OBJECTS_PER_CLASS} objects over {distinct} secrets, one vault, {controllers} controllers (one namespace, service account and identity each)"
        );
    }
    println!(
        "  first sync (all Secrets written): {:.1} s",
        first_sync.as_secs_f64()
    );
    println!("  first sync Key Vault calls: {first_lists} list, {first_gets} GET");
    if controllers == 1 {
        println!(
            "  one steady-state poll: {poll_lists} list calls, {poll_gets} GETs (target {} and 0)",
            distinct.div_ceil(25)
        );
    } else {
        // Each controller lists the whole vault: its SecretSyncs may name any secret.
        println!(
            "  one steady-state poll, all controllers: {poll_lists} list calls, {poll_gets} GETs (target {controllers} x {} and 0)",
            distinct.div_ceil(25)
        );
    }
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
    if controllers == 1 {
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
    } else {
        println!(
            "  vault: busiest 10-second window {busiest} requests (budgets {controllers} x {budget} of the vault's 4,000), {throttled} answered 429 over the run"
        );
        // The floor: one listing per controller and every distinct secret read once, at the
        // controllers' budgets together or the vault's 4,000, whichever is lower.
        let rate = (controllers as u32 * budget).min(4000);
        let lists = controllers * distinct.div_ceil(25);
        let floor = (lists + distinct) as f64 / f64::from(rate) * 10.0;
        println!(
            "  first sync against its floor ({controllers} x {} lists + {distinct} GETs at {rate} per 10 s = {floor:.1} s): {:.2}x",
            distinct.div_ceil(25),
            first_sync.as_secs_f64() / floor
        );
    }
    println!("  Secrets holding all {OBJECTS_PER_CLASS} keys: {complete} of {syncs}");
    let last_429 = {
        let samples = samples.lock().unwrap();
        samples
            .windows(2)
            .filter(|w| w[1].2 > w[0].2)
            .map(|w| w[1].0.saturating_duration_since(started))
            .next_back()
    };
    if let Some(per_10s) = neighbour_per_10s {
        println!(
            "  neighbour at {per_10s} requests per 10 s during the first sync: {neighbour_requests} sent, {neighbour_429} answered 429"
        );
    }
    if neighbour_per_10s.is_some() || controllers > 1 {
        let who = if controllers == 1 {
            "keyway".to_string()
        } else {
            format!("keyway ({controllers} controllers together, at the vault)")
        };
        println!(
            "  {who} during the first sync: {keyway_requests} Key Vault requests, {keyway_429} answered 429 ({:.2} %, target <= 1 %)",
            keyway_429 as f64 * 100.0 / keyway_requests.max(1) as f64
        );
        match last_429 {
            Some(at) => println!(
                "  converged: no 429 to keyway after {:.1} s",
                at.as_secs_f64()
            ),
            None => println!("  converged: keyway never answered 429"),
        }
    }
    if neighbour_per_10s.is_some() && controllers == 1 {
        println!(
            "  budget in force when the first sync ended: {budget_in_force} requests per 10 s (429s seen by the controller: {throttled_seen})"
        );
    }
    if controllers == 1 {
        match rss[0] {
            Some(kib) => println!("  controller peak RSS: {:.1} MiB", kib as f64 / 1024.0),
            None => println!("  controller peak RSS: unavailable"),
        }
    } else {
        // Per controller, from its own `/metrics`: requests on the wire (every try) and 429s
        // when its first sync ended, the budget in force at the end of the run.
        let (mut requests_all, mut throttled_all) = (0.0, 0.0);
        for (i, (namespace, _)) in namespaces.iter().enumerate() {
            let FirstSync {
                at,
                cpu_ticks: ticks,
                metrics,
            } = &first_syncs[i];
            let requests = total(metrics, "keyway_keyvault_http_requests_total");
            let throttled = total(metrics, "keyway_keyvault_throttled_total");
            requests_all += requests;
            throttled_all += throttled;
            println!(
                "  controller {} (namespace {namespace}, {} SecretSyncs): first sync {:.1} s, {requests} Key Vault requests and {throttled} answered 429 in it ({:.2} %), CPU in it {}, budget in force at the end {} requests per 10 s (429s over the run: {}), peak RSS {}; its first steady-state poll: {} list calls, {} GETs",
                i + 1,
                expected[i],
                at.as_secs_f64(),
                throttled * 100.0 / requests.max(1.0),
                ticks.map_or("unavailable".to_string(), |t| format!(
                    "{:.1} s",
                    t as f64 / ticks_per_second
                )),
                values(&at_end[i], "keyway_keyvault_budget_requests_per_10s"),
                values(&at_end[i], "keyway_keyvault_throttled_total"),
                rss[i].map_or("unavailable".to_string(), |kib| format!(
                    "{:.1} MiB",
                    kib as f64 / 1024.0
                )),
                poll_by_controller[i].0,
                poll_by_controller[i].1,
            );
        }
        println!(
            "  the controllers' own count of their first syncs: {requests_all} Key Vault requests, {throttled_all} answered 429 ({:.2} %)",
            throttled_all * 100.0 / f64::max(requests_all, 1.0)
        );
    }
    // Whether the machine was saturated: CPU time of the controllers and of this process
    // (the emulators and the stand-in) over the first sync's wall time.
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    match (controllers_ticks, bench_ticks) {
        (Some(controller), Some(bench)) => {
            let (controller, bench) = (
                controller as f64 / ticks_per_second,
                bench as f64 / ticks_per_second,
            );
            println!(
                "  CPU during the first sync: {} {controller:.1} s, emulators (the bench process) {bench:.1} s: {:.2} of {cores} cores",
                if controllers == 1 {
                    "controller"
                } else {
                    "controllers"
                },
                (controller + bench) / first_sync.as_secs_f64()
            );
        }
        _ => println!("  CPU during the first sync: unavailable"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (namespace, _) in namespaces.iter().skip(1) {
        let _ = Api::<Namespace>::all(client.clone())
            .delete(namespace, &Default::default())
            .await;
    }
    cluster.cleanup().await;
}
