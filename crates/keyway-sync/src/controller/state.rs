//! What the controller keeps between reconciles: credentials per identity, one shared source per
//! vault and identity, one request budget and one poll cycle per vault, one syncer per SecretSync,
//! and the counters `/metrics` shows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use keyway_identity::{FederatedCredential, FederatedCredentialOptions, TokenRequest};
use kube::{Client, ResourceExt};

use super::ControllerOptions;
use super::status::Reason;
use crate::error::{Result, SyncError};
use crate::model::secret_sync::SecretSync;
use crate::model::spec::SyncSpec;
use crate::source::{
    BudgetStats, CallCounts, KeyVaultSource, KeyVaultSourceOptions, RequestBudget, SecretSource,
    SharedSource,
};
use crate::syncer::{SyncReport, Syncer};

/// Who a credential acts for: SecretSyncs with the same key share one credential (one token
/// exchange per token lifetime).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CredentialKey {
    pub namespace: String,
    pub service_account: String,
    pub client_id: String,
    pub tenant_id: String,
    /// The cloud's Entra authority: the same ids in two clouds are two identities.
    pub authority_host: String,
}

/// One vault's poll cycle: when the next one starts, so every SecretSync on the vault is
/// requeued to the same instant and shares one listing.
struct Cycle {
    next: Instant,
}

/// A source's vault URL and identity.
pub(crate) type SourceKey = (String, CredentialKey);

struct SyncerEntry {
    /// The vault URL and identity of its source (its namespace is the SecretSync's): the
    /// sources map's own key, shared by every SecretSync reading that source rather than seven
    /// strings copied into each entry.
    source: Arc<SourceKey>,
    fingerprint: String,
    syncer: Arc<Syncer>,
}

#[derive(Default)]
struct Maps {
    credentials: HashMap<CredentialKey, Arc<FederatedCredential>>,
    sources: HashMap<Arc<SourceKey>, Arc<SharedSource>>,
    budgets: HashMap<String, Arc<RequestBudget>>,
    cycles: HashMap<String, Cycle>,
    syncers: HashMap<String, SyncerEntry>,
}

/// A SecretProviderClass's namespace and name.
type ClassKey = (String, String);

/// The controller's shared state.
pub(crate) struct Registry {
    maps: Mutex<Maps>,
    /// Per SecretProviderClass, the spec its SecretSyncs' syncers share while they live, with
    /// the class's resourceVersion it was read from (a lock of its own: specs are made while
    /// `maps` is held).
    specs: Mutex<HashMap<ClassKey, (String, Weak<SyncSpec>)>>,
    options: ControllerOptions,
    pub metrics: Arc<ControllerMetrics>,
}

impl Registry {
    pub fn new(options: &ControllerOptions) -> Registry {
        Registry {
            maps: Mutex::new(Maps::default()),
            specs: Mutex::new(HashMap::new()),
            options: options.clone(),
            metrics: Arc::new(ControllerMetrics::default()),
        }
    }

    fn maps(&self) -> MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shared source for `vault_url` read as `key`, and how long until the vault's next
    /// cycle. Starting a new cycle expires the vault's listings (once no read they led to is under
    /// way), so its first reader lists again.
    pub fn source(
        &self,
        client: &Client,
        key: &CredentialKey,
        authority_host: &str,
        vault_url: &str,
    ) -> Result<(Arc<SharedSource>, Duration)> {
        let mut maps = self.maps();
        let now = Instant::now();
        let poll = self.options.poll_interval;
        let jittered = |base: Duration| {
            let spread = self.options.jitter.clamp(0.0, 1.0) * (jitter_unit() * 2.0 - 1.0);
            base.mul_f64((1.0 + spread).max(0.01))
        };
        let mut expired = false;
        let cycle = maps
            .cycles
            .entry(vault_url.to_string())
            .or_insert_with(|| Cycle {
                next: now + jittered(poll),
            });
        if cycle.next <= now {
            cycle.next = now + jittered(poll);
            expired = true;
        }
        let wait = cycle.next.saturating_duration_since(now);
        let credential = match maps.credentials.get(key) {
            Some(found) => found.clone(),
            None => {
                let source = Arc::new(TokenRequest::new(
                    client.clone(),
                    &key.namespace,
                    &key.service_account,
                ));
                let credential = FederatedCredential::new(
                    &key.tenant_id,
                    &key.client_id,
                    authority_host,
                    source,
                    FederatedCredentialOptions {
                        client_options: self.options.client_options.clone(),
                        ..Default::default()
                    },
                )
                .map_err(|e| SyncError::invalid("spec.parameters", e.to_string()))?;
                maps.credentials.insert(key.clone(), credential.clone());
                self.metrics.watch_credential(credential.clone());
                credential
            }
        };
        let budget = match maps.budgets.get(vault_url) {
            Some(found) => found.clone(),
            None => {
                let budget = Arc::new(RequestBudget::new(self.options.requests_per_10s));
                maps.budgets.insert(vault_url.to_string(), budget.clone());
                self.metrics.watch_budget(vault_url, budget.clone());
                budget
            }
        };
        let source_key = (vault_url.to_string(), key.clone());
        let source = match maps.sources.get(&source_key) {
            Some(found) => found.clone(),
            None => {
                let vault = KeyVaultSource::new(
                    vault_url,
                    credential,
                    KeyVaultSourceOptions {
                        client_options: self.options.client_options.clone(),
                        // Off for a loopback vault only (an emulator), never for the others
                        // the same controller reads.
                        verify_challenge_resource: self.options.verify_challenge_resource
                            || !keyway_identity::is_loopback(vault_url),
                        budget: Some(budget),
                        max_concurrency: KeyVaultSourceOptions::concurrency_for(
                            self.options.requests_per_10s,
                        ),
                        ..Default::default()
                    },
                )?;
                // Shared for half a cycle at most: a cycle's readers share one listing, the
                // next cycle lists again.
                let fresh_for = (poll / 2).min(Duration::from_secs(60));
                let shared = Arc::new(SharedSource::new(Arc::new(vault), fresh_for));
                maps.sources.insert(Arc::new(source_key), shared.clone());
                self.metrics.watch_source(shared.clone());
                shared
            }
        };
        if expired {
            let stale: Vec<Arc<SharedSource>> = maps
                .sources
                .iter()
                .filter(|(key, _)| key.0 == vault_url)
                .map(|(_, s)| s.clone())
                .collect();
            drop(maps);
            for source in stale {
                source.new_cycle();
            }
        }
        Ok((source, wait))
    }

    /// The SecretSync's syncer, made anew when `fingerprint` (its class's resourceVersion, its
    /// generation, its force token) changed — so a changed spec or a forced sync reads afresh.
    /// The second value says whether an earlier syncer with another fingerprint was replaced
    /// (a spec change or a forced sync).
    pub fn syncer(
        &self,
        sync: &SecretSync,
        source: SourceKey,
        fingerprint: &str,
        make: impl FnOnce() -> Syncer,
    ) -> (Arc<Syncer>, bool) {
        let uid = sync.uid().unwrap_or_else(|| sync.name_any());
        let mut maps = self.maps();
        match maps.syncers.get(&uid) {
            Some(entry) if entry.fingerprint == fingerprint => (entry.syncer.clone(), false),
            previous => {
                let replaced = previous.is_some();
                let syncer = Arc::new(make());
                let source = match maps.sources.get_key_value(&source) {
                    Some((shared, _)) => shared.clone(),
                    None => Arc::new(source),
                };
                maps.syncers.insert(
                    uid,
                    SyncerEntry {
                        source,
                        fingerprint: fingerprint.to_string(),
                        syncer: syncer.clone(),
                    },
                );
                self.metrics.set_managed(maps.syncers.len());
                (syncer, replaced)
            }
        }
    }

    /// `spec`, read from the SecretProviderClass `class` at `version`, as one `Arc` shared by
    /// every syncer given the same spec of that class version: the SecretSyncs of a class
    /// mapping all its objects keep one copy between them, not one each (at 5,000 SecretSyncs
    /// over 1,000 classes the copies were 4.6 MiB). A different spec (a SecretSync mapping
    /// fewer objects) gets its own.
    pub fn shared_spec(&self, class: ClassKey, version: &str, spec: SyncSpec) -> Arc<SyncSpec> {
        let mut specs = self.specs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((known, weak)) = specs.get(&class)
            && known == version
            && let Some(shared) = weak.upgrade()
            && *shared == spec
        {
            return shared;
        }
        let shared = Arc::new(spec);
        specs.insert(class, (version.to_string(), Arc::downgrade(&shared)));
        shared
    }

    /// Drops the syncers of SecretSyncs that are gone: those in `namespace` (all when `None`)
    /// whose uid is not in `live`.
    pub fn retain(&self, namespace: Option<&str>, live: &std::collections::HashSet<String>) {
        let mut maps = self.maps();
        maps.syncers.retain(|uid, entry| {
            live.contains(uid) || namespace.is_some_and(|ns| ns != entry.source.1.namespace)
        });
        self.metrics.set_managed(maps.syncers.len());
        self.sweep(&mut maps);
        drop(maps);
        // The specs no syncer holds any more (their classes changed or went).
        self.specs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (_, spec)| spec.strong_count() > 0);
    }

    /// Drops the sources and credentials no syncer uses any more; a dropped source forgets
    /// the values it read at once, and the metrics let go of both (their counts so far stay
    /// in the totals), so a deleted SecretSync's cached token leaves memory.
    fn sweep(&self, maps: &mut Maps) {
        let used: std::collections::HashSet<Arc<SourceKey>> =
            maps.syncers.values().map(|e| e.source.clone()).collect();
        let mut retired_sources = Vec::new();
        maps.sources.retain(|key, source| {
            let keep = used.contains(key.as_ref());
            if !keep {
                source.forget_values();
                retired_sources.push(source.clone());
            }
            keep
        });
        let identities: std::collections::HashSet<&CredentialKey> =
            used.iter().map(|key| &key.1).collect();
        let mut retired_credentials = Vec::new();
        maps.credentials.retain(|key, credential| {
            let keep = identities.contains(key);
            if !keep {
                retired_credentials.push(credential.clone());
            }
            keep
        });
        // A vault no source reads any more: its budget and its metric series go too.
        let vaults: std::collections::HashSet<&str> =
            used.iter().map(|key| key.0.as_str()).collect();
        let mut retired_budgets = Vec::new();
        maps.budgets.retain(|vault, budget| {
            let keep = vaults.contains(vault.as_str());
            if !keep {
                retired_budgets.push(budget.clone());
            }
            keep
        });
        self.metrics
            .retire(&retired_sources, &retired_credentials, &retired_budgets);
    }

    /// Drops a deleted SecretSync's syncer.
    pub fn forget(&self, sync: &SecretSync) {
        let uid = sync.uid().unwrap_or_else(|| sync.name_any());
        let mut maps = self.maps();
        maps.syncers.remove(&uid);
        self.metrics.set_managed(maps.syncers.len());
        self.sweep(&mut maps);
    }
}

/// The verbs `keyway_apiserver_requests_total` always shows (RBAC's).
const API_VERBS: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// A Prometheus label value: backslash, double quote and line feed escaped.
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A number in [0, 1) that differs between calls (the jitter's randomness; not for secrets).
fn jitter_unit() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// What the controller counts, for `/metrics`.
#[derive(Default)]
pub struct ControllerMetrics {
    reconciles: Mutex<HashMap<&'static str, u64>>,
    /// Reconcile durations: count per bucket of [`DURATION_BUCKETS`] (and one over), and the sum.
    durations: Mutex<(Vec<u64>, f64)>,
    /// The shared sources (their Key Vault calls) and credentials (their token exchanges).
    sources: Mutex<Vec<Arc<SharedSource>>>,
    credentials: Mutex<Vec<Arc<FederatedCredential>>>,
    /// Each vault's request budget (its tries on the wire, 429s, the rate in force), by vault URL.
    budgets: Mutex<Vec<(String, Arc<RequestBudget>)>>,
    /// What retired sources and credentials had counted when the registry dropped them
    /// (counters never go down).
    retired: Mutex<Retired>,
    /// SecretSyncs managed.
    managed: AtomicU64,
    /// Objects that failed because the vault throttled.
    throttled: AtomicU64,
    /// Secrets rewritten because someone deleted them or edited their data.
    restorations: Arc<AtomicU64>,
    /// API-server requests by verb (get, list, watch, create, update, patch, delete).
    api_requests: Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

/// The final counts of sources and credentials no SecretSync uses any more.
#[derive(Default)]
struct Retired {
    calls: CallCounts,
    outcomes: std::collections::BTreeMap<(&'static str, u16), u64>,
    exchanges: u64,
}

impl std::fmt::Debug for ControllerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerMetrics")
            .field("reconciles", &self.reconciles())
            .finish_non_exhaustive()
    }
}

/// The upper bounds of the reconcile-duration histogram, in seconds.
pub const DURATION_BUCKETS: [f64; 8] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl ControllerMetrics {
    pub(crate) fn reconciled(&self, reason: Reason, took: Duration) {
        *lock(&self.reconciles).entry(reason.as_str()).or_default() += 1;
        let mut durations = lock(&self.durations);
        if durations.0.is_empty() {
            durations.0 = vec![0; DURATION_BUCKETS.len() + 1];
        }
        let seconds = took.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        durations.0[bucket] += 1;
        durations.1 += seconds;
    }

    pub(crate) fn observe(&self, report: &SyncReport) {
        let throttled = report
            .objects
            .iter()
            .filter(|o| o.failure == Some(crate::error::SourceFailure::Throttled))
            .count();
        self.throttled
            .fetch_add(throttled as u64, Ordering::Relaxed);
    }

    /// The counter a SecretSync's sink adds its restorations to
    /// ([`crate::sink::KubernetesSecretSink::with_restoration_counter`]).
    pub(crate) fn restoration_counter(&self) -> Arc<AtomicU64> {
        self.restorations.clone()
    }

    /// Secrets restored so far: rewritten with unchanged content because someone deleted them
    /// or edited their data.
    pub fn restorations(&self) -> u64 {
        self.restorations.load(Ordering::Relaxed)
    }

    /// Counts one API-server request of `verb`.
    pub(crate) fn api_request(&self, verb: &'static str) {
        *lock(&self.api_requests).entry(verb).or_default() += 1;
    }

    /// API-server requests so far by verb (get, list, watch, create, update, patch, delete;
    /// `other` for anything else): every request of the controller's client, not the Lease's.
    pub fn api_requests(&self) -> Vec<(&'static str, u64)> {
        let counted = lock(&self.api_requests);
        // Every verb, 0 until used: a dashboard or alert on `get` finds a series, not no data.
        let verbs = API_VERBS
            .iter()
            .map(|verb| (*verb, counted.get(verb).copied().unwrap_or(0)));
        let others = counted
            .iter()
            .filter(|(verb, _)| !API_VERBS.contains(verb))
            .map(|(verb, n)| (*verb, *n));
        verbs.chain(others).collect()
    }

    fn set_managed(&self, count: usize) {
        self.managed.store(count as u64, Ordering::Relaxed);
    }

    fn watch_source(&self, source: Arc<SharedSource>) {
        lock(&self.sources).push(source);
    }

    fn watch_credential(&self, credential: Arc<FederatedCredential>) {
        lock(&self.credentials).push(credential);
    }

    fn watch_budget(&self, vault_url: &str, budget: Arc<RequestBudget>) {
        lock(&self.budgets).push((vault_url.to_string(), budget));
    }

    /// Stops tracking sources and credentials the registry dropped, keeping their counts in
    /// the totals: the metrics must not keep a deleted SecretSync's token (or its source's
    /// cache) alive. A retired vault's budget goes with its per-vault series.
    fn retire(
        &self,
        sources: &[Arc<SharedSource>],
        credentials: &[Arc<FederatedCredential>],
        budgets: &[Arc<RequestBudget>],
    ) {
        if sources.is_empty() && credentials.is_empty() && budgets.is_empty() {
            return;
        }
        lock(&self.budgets).retain(|(_, tracked)| !budgets.iter().any(|b| Arc::ptr_eq(b, tracked)));
        let mut retired = lock(&self.retired);
        lock(&self.sources).retain(|tracked| {
            if !sources.iter().any(|s| Arc::ptr_eq(s, tracked)) {
                return true;
            }
            let calls = tracked.calls();
            retired.calls.list += calls.list;
            retired.calls.versions += calls.versions;
            retired.calls.get += calls.get;
            for (operation, status, count) in tracked.outcomes() {
                *retired.outcomes.entry((operation, status)).or_default() += count;
            }
            false
        });
        lock(&self.credentials).retain(|tracked| {
            if !credentials.iter().any(|c| Arc::ptr_eq(c, tracked)) {
                return true;
            }
            retired.exchanges += tracked.exchanges();
            false
        });
    }

    /// How many sources and credentials the metrics still hold: those of live SecretSyncs.
    pub fn tracked(&self) -> (usize, usize) {
        (lock(&self.sources).len(), lock(&self.credentials).len())
    }

    /// Each vault's request budget as it stands, by vault URL (vaults some SecretSync reads).
    pub fn vault_budgets(&self) -> Vec<(String, BudgetStats)> {
        let mut all: Vec<(String, BudgetStats)> = lock(&self.budgets)
            .iter()
            .map(|(vault, budget)| (vault.clone(), budget.stats()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Reconciles so far, by outcome (condition reason).
    pub fn reconciles(&self) -> Vec<(&'static str, u64)> {
        let mut all: Vec<(&'static str, u64)> = lock(&self.reconciles)
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        all.sort();
        all
    }

    /// Key Vault requests so far (list pages, version pages, value reads), all vaults.
    pub fn vault_calls(&self) -> CallCounts {
        let retired = lock(&self.retired).calls;
        lock(&self.sources)
            .iter()
            .map(|s| s.calls())
            .fold(retired, |a, b| CallCounts {
                list: a.list + b.list,
                versions: a.versions + b.versions,
                get: a.get + b.get,
            })
    }

    /// Key Vault operations by operation and HTTP status (shared answers counted once).
    pub fn vault_outcomes(&self) -> Vec<(&'static str, u16, u64)> {
        let mut all = lock(&self.retired).outcomes.clone();
        for source in lock(&self.sources).iter() {
            for (operation, status, count) in source.outcomes() {
                *all.entry((operation, status)).or_default() += count;
            }
        }
        all.into_iter().map(|((o, s), n)| (o, s, n)).collect()
    }

    /// Token exchanges at Entra ID so far, all identities.
    pub fn token_exchanges(&self) -> u64 {
        let retired = lock(&self.retired).exchanges;
        retired
            + lock(&self.credentials)
                .iter()
                .map(|c| c.exchanges())
                .sum::<u64>()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        family(
            "keyway_reconciles_total",
            "counter",
            "SecretSync reconciles by outcome (condition reason).",
            self.reconciles()
                .into_iter()
                .map(|(reason, n)| (format!("{{reason=\"{reason}\"}}"), n.to_string()))
                .collect(),
        );
        let calls = self.vault_calls();
        family(
            "keyway_keyvault_requests_total",
            "counter",
            "Key Vault requests: list and version pages, value reads.",
            [
                ("list", calls.list),
                ("versions", calls.versions),
                ("get", calls.get),
            ]
            .into_iter()
            .map(|(kind, n)| (format!("{{kind=\"{kind}\"}}"), n.to_string()))
            .collect(),
        );
        family(
            "keyway_keyvault_operations_total",
            "counter",
            "Key Vault operations by operation and HTTP status (0: no answer).",
            self.vault_outcomes()
                .into_iter()
                .map(|(op, status, n)| {
                    (
                        format!("{{operation=\"{op}\",status=\"{status}\"}}"),
                        n.to_string(),
                    )
                })
                .collect(),
        );
        let budgets: Vec<(String, Arc<RequestBudget>)> = {
            let mut budgets = lock(&self.budgets).clone();
            budgets.sort_by(|a, b| a.0.cmp(&b.0));
            budgets
        };
        family(
            "keyway_keyvault_http_requests_total",
            "counter",
            "Key Vault requests on the wire (every try: SDK retries and authentication challenges included), by vault, operation and status class (none: no answer).",
            budgets
                .iter()
                .flat_map(|(vault, budget)| {
                    let vault = label_value(vault);
                    budget.tries().into_iter().map(move |(op, class, n)| {
                        (
                            format!(
                                "{{vault=\"{vault}\",operation=\"{op}\",status_class=\"{class}\"}}"
                            ),
                            n.to_string(),
                        )
                    })
                })
                .collect(),
        );
        let stats: Vec<(String, BudgetStats)> = budgets
            .iter()
            .map(|(vault, budget)| (label_value(vault), budget.stats()))
            .collect();
        family(
            "keyway_keyvault_throttled_total",
            "counter",
            "Key Vault answers 429 (too many requests), by vault.",
            stats
                .iter()
                .map(|(vault, s)| (format!("{{vault=\"{vault}\"}}"), s.throttled.to_string()))
                .collect(),
        );
        family(
            "keyway_keyvault_budget_requests_per_10s",
            "gauge",
            "The request budget in force per vault: requests per 10 s admitted now (halved on 429/503, recovering to the ceiling).",
            stats
                .iter()
                .map(|(vault, s)| (format!("{{vault=\"{vault}\"}}"), s.per_10s.to_string()))
                .collect(),
        );
        family(
            "keyway_keyvault_budget_ceiling_requests_per_10s",
            "gauge",
            "The configured request budget per vault (--requests-per-10s): the most the budget in force reaches.",
            stats
                .iter()
                .map(|(vault, s)| {
                    (
                        format!("{{vault=\"{vault}\"}}"),
                        s.ceiling_per_10s.to_string(),
                    )
                })
                .collect(),
        );
        family(
            "keyway_token_exchanges_total",
            "counter",
            "Token exchanges at Entra ID.",
            vec![(String::new(), self.token_exchanges().to_string())],
        );
        family(
            "keyway_throttled_objects_total",
            "counter",
            "Objects that failed because the vault throttled (429).",
            vec![(
                String::new(),
                self.throttled.load(Ordering::Relaxed).to_string(),
            )],
        );
        family(
            "keyway_secret_restorations_total",
            "counter",
            "Secrets rewritten with unchanged content because someone deleted them or edited their data.",
            vec![(String::new(), self.restorations().to_string())],
        );
        family(
            "keyway_apiserver_requests_total",
            "counter",
            "Kubernetes API-server requests by verb (the Lease's excluded).",
            self.api_requests()
                .into_iter()
                .map(|(verb, n)| (format!("{{verb=\"{verb}\"}}"), n.to_string()))
                .collect(),
        );
        family(
            "keyway_managed_secretsyncs",
            "gauge",
            "SecretSyncs managed.",
            vec![(
                String::new(),
                self.managed.load(Ordering::Relaxed).to_string(),
            )],
        );
        let durations = lock(&self.durations);
        let mut samples = Vec::new();
        let mut cumulative = 0;
        for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
            cumulative += durations.0.get(i).copied().unwrap_or(0);
            samples.push((format!("_bucket{{le=\"{bound}\"}}"), cumulative.to_string()));
        }
        cumulative += durations
            .0
            .get(DURATION_BUCKETS.len())
            .copied()
            .unwrap_or(0);
        samples.push(("_bucket{le=\"+Inf\"}".to_string(), cumulative.to_string()));
        samples.push(("_sum".to_string(), durations.1.to_string()));
        samples.push(("_count".to_string(), cumulative.to_string()));
        family(
            "keyway_reconcile_duration_seconds",
            "histogram",
            "Reconcile duration.",
            samples,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SecretSyncs of one class version share one spec; another version or a narrower
    /// spec gets its own, and a spec no syncer holds is forgotten at the next prune.
    /// Every verb has its series from the start, at 0 until used; a verb counted shows its count.
    #[test]
    fn every_api_verb_is_shown_from_the_start() {
        let metrics = ControllerMetrics::default();
        metrics.api_request("patch");
        let text = metrics.render();
        for verb in ["get", "list", "watch", "create", "update", "delete"] {
            let line = format!("keyway_apiserver_requests_total{{verb=\"{verb}\"}} 0\n");
            assert!(text.contains(&line), "{verb}: {text}");
        }
        assert!(text.contains("keyway_apiserver_requests_total{verb=\"patch\"} 1\n"));
    }

    #[test]
    fn syncers_of_one_class_version_share_its_spec() {
        let registry = Registry::new(&ControllerOptions::default());
        let objects = |names: &[&str]| {
            names
                .iter()
                .map(|n| crate::model::objects::KeyVaultObject::secret(*n))
                .collect::<Vec<_>>()
        };
        let spec =
            |names: &[&str]| SyncSpec::new("https://v.vault.azure.net", objects(names)).unwrap();
        let class = || ("team".to_string(), "spc".to_string());
        let first = registry.shared_spec(class(), "7", spec(&["a", "b"]));
        let second = registry.shared_spec(class(), "7", spec(&["a", "b"]));
        assert!(
            Arc::ptr_eq(&first, &second),
            "one copy for the same class version"
        );
        let narrower = registry.shared_spec(class(), "7", spec(&["a"]));
        assert_eq!(narrower.objects.len(), 1);
        let newer = registry.shared_spec(class(), "8", spec(&["a", "b"]));
        assert!(
            !Arc::ptr_eq(&first, &newer),
            "a new class version is read anew"
        );
        drop((first, second, narrower, newer));
        registry.retain(None, &Default::default());
        assert!(
            registry.specs.lock().unwrap().is_empty(),
            "unheld specs are forgotten"
        );
    }

    #[tokio::test]
    async fn a_retired_credential_source_and_budget_leave_the_metrics() {
        let registry = Registry::new(&ControllerOptions::default());
        // Never contacted: the registry only builds the credential and the source.
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let key = CredentialKey {
            namespace: "team".into(),
            service_account: "sync".into(),
            client_id: "00000000-0000-0000-0000-000000000001".into(),
            tenant_id: "00000000-0000-0000-0000-000000000002".into(),
            authority_host: "https://login.microsoftonline.com".into(),
        };
        let vault = "https://team.vault.azure.net";
        let (source, _) = registry
            .source(&client, &key, &key.authority_host, vault)
            .unwrap();
        let credential = registry.maps().credentials[&key].clone();
        let budget = registry.maps().budgets[vault].clone();
        assert_eq!(registry.metrics.tracked(), (1, 1));
        let rendered = registry.metrics.render();
        assert!(
            rendered.contains(
                "keyway_keyvault_budget_requests_per_10s{vault=\"https://team.vault.azure.net\"} 2000"
            ),
            "{rendered}"
        );
        assert!(
            rendered.contains(
                "keyway_keyvault_throttled_total{vault=\"https://team.vault.azure.net\"} 0"
            )
        );

        // No SecretSync uses them any more (the last one was deleted): the registry and the
        // metrics let go, so the cached token goes with the last user.
        registry.retain(None, &std::collections::HashSet::new());
        assert_eq!(registry.metrics.tracked(), (0, 0));
        assert!(registry.metrics.vault_budgets().is_empty());
        assert!(registry.maps().budgets.is_empty());
        assert!(!registry.metrics.render().contains("vault=\""));
        assert_eq!(
            Arc::strong_count(&source),
            1,
            "only this test holds the source"
        );
        drop(source);
        assert_eq!(
            Arc::strong_count(&credential),
            1,
            "only this test holds the credential (and its token)"
        );
        assert_eq!(
            Arc::strong_count(&budget),
            1,
            "only this test holds the retired vault's budget"
        );
        // The counters keep what the retired ones counted.
        assert!(
            registry
                .metrics
                .render()
                .contains("keyway_token_exchanges_total 0")
        );
    }
}
