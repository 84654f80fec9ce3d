//! What the controller keeps between reconciles: credentials per identity, one shared source per
//! vault and identity, one request budget and one poll cycle per vault, one syncer per SecretSync,
//! and the counters `/metrics` shows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use keyway_identity::{FederatedCredential, FederatedCredentialOptions, TokenRequest};
use kube::{Client, ResourceExt};

use super::ControllerOptions;
use super::status::Reason;
use crate::error::{Result, SyncError};
use crate::model::secret_sync::SecretSync;
use crate::source::{
    CallCounts, KeyVaultSource, KeyVaultSourceOptions, RequestBudget, SharedSource,
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
}

/// One vault's poll cycle: when the next one starts, so every SecretSync on the vault is
/// requeued to the same instant and shares one listing.
struct Cycle {
    next: Instant,
}

struct SyncerEntry {
    fingerprint: String,
    syncer: Arc<Syncer>,
}

#[derive(Default)]
struct Maps {
    credentials: HashMap<CredentialKey, Arc<FederatedCredential>>,
    sources: HashMap<(String, CredentialKey), Arc<SharedSource>>,
    budgets: HashMap<String, Arc<RequestBudget>>,
    cycles: HashMap<String, Cycle>,
    syncers: HashMap<String, SyncerEntry>,
}

/// The controller's shared state.
pub(crate) struct Registry {
    maps: Mutex<Maps>,
    options: ControllerOptions,
    pub metrics: Arc<ControllerMetrics>,
}

impl Registry {
    pub fn new(options: &ControllerOptions) -> Registry {
        Registry {
            maps: Mutex::new(Maps::default()),
            options: options.clone(),
            metrics: Arc::new(ControllerMetrics::default()),
        }
    }

    fn maps(&self) -> MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shared source for `vault_url` read as `key`, and how long until the vault's next
    /// cycle. Starting a new cycle expires the vault's listings, so its first reader lists again.
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
                self.metrics.credentials.fetch_add(1, Ordering::Relaxed);
                credential
            }
        };
        let budget = maps
            .budgets
            .entry(vault_url.to_string())
            .or_insert_with(|| Arc::new(RequestBudget::new(self.options.requests_per_10s)))
            .clone();
        let source_key = (vault_url.to_string(), key.clone());
        let source = match maps.sources.get(&source_key) {
            Some(found) => found.clone(),
            None => {
                let vault = KeyVaultSource::new(
                    vault_url,
                    credential,
                    KeyVaultSourceOptions {
                        client_options: self.options.client_options.clone(),
                        verify_challenge_resource: self.options.verify_challenge_resource,
                        budget: Some(budget),
                        ..Default::default()
                    },
                )?;
                // Shared for half a cycle at most: a cycle's readers share one listing, the
                // next cycle lists again.
                let fresh_for = (poll / 2).min(Duration::from_secs(60));
                let shared = Arc::new(SharedSource::new(Arc::new(vault), fresh_for));
                maps.sources.insert(source_key, shared.clone());
                shared
            }
        };
        if expired {
            let stale: Vec<Arc<SharedSource>> = maps
                .sources
                .iter()
                .filter(|((url, _), _)| url == vault_url)
                .map(|(_, s)| s.clone())
                .collect();
            drop(maps);
            for source in stale {
                source.expire_now();
            }
        }
        Ok((source, wait))
    }

    /// The SecretSync's syncer, made anew when `fingerprint` (its class's resourceVersion, its
    /// generation, its force token) changed — so a changed spec or a forced sync reads afresh.
    pub fn syncer(
        &self,
        sync: &SecretSync,
        fingerprint: &str,
        make: impl FnOnce() -> Syncer,
    ) -> Arc<Syncer> {
        let uid = sync.uid().unwrap_or_else(|| sync.name_any());
        let mut maps = self.maps();
        match maps.syncers.get(&uid) {
            Some(entry) if entry.fingerprint == fingerprint => entry.syncer.clone(),
            _ => {
                let syncer = Arc::new(make());
                maps.syncers.insert(
                    uid,
                    SyncerEntry {
                        fingerprint: fingerprint.to_string(),
                        syncer: syncer.clone(),
                    },
                );
                self.metrics
                    .managed
                    .store(maps.syncers.len() as u64, Ordering::Relaxed);
                syncer
            }
        }
    }

    /// Drops a deleted SecretSync's syncer.
    pub fn forget(&self, sync: &SecretSync) {
        let uid = sync.uid().unwrap_or_else(|| sync.name_any());
        let mut maps = self.maps();
        maps.syncers.remove(&uid);
        self.metrics
            .managed
            .store(maps.syncers.len() as u64, Ordering::Relaxed);
    }
}

/// A number in [0, 1) that differs between calls (the jitter's randomness; not for secrets).
fn jitter_unit() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// What the controller counts, for `/metrics`.
#[derive(Debug, Default)]
pub struct ControllerMetrics {
    reconciles: Mutex<HashMap<&'static str, u64>>,
    /// Reconcile durations: count per upper bound in seconds, and the sum.
    durations: Mutex<(Vec<u64>, f64)>,
    /// Key Vault list calls seen by reconciles.
    pub vault_list_calls: AtomicU64,
    /// Key Vault value reads seen by reconciles.
    pub vault_get_calls: AtomicU64,
    /// Credentials made (one per identity; each exchanges its token once per lifetime).
    pub credentials: AtomicU64,
    /// SecretSyncs managed.
    pub managed: AtomicU64,
    /// Objects that failed because the vault throttled.
    pub throttled: AtomicU64,
}

/// The upper bounds of the reconcile-duration histogram, in seconds.
pub const DURATION_BUCKETS: [f64; 8] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl ControllerMetrics {
    pub(crate) fn reconciled(&self, reason: Reason, took: Duration) {
        *self
            .reconciles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason.as_str())
            .or_default() += 1;
        let mut durations = self.durations.lock().unwrap_or_else(|p| p.into_inner());
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

    pub(crate) fn observe_calls(&self, report: &SyncReport) {
        let CallCounts { list, get, .. } = report.calls;
        self.vault_list_calls.fetch_add(list, Ordering::Relaxed);
        self.vault_get_calls.fetch_add(get, Ordering::Relaxed);
        let throttled = report
            .objects
            .iter()
            .filter(|o| o.failure == Some(crate::error::SourceFailure::Throttled))
            .count();
        self.throttled
            .fetch_add(throttled as u64, Ordering::Relaxed);
    }

    /// Reconciles so far, by outcome (condition reason).
    pub fn reconciles(&self) -> Vec<(&'static str, u64)> {
        let mut all: Vec<(&'static str, u64)> = self
            .reconciles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        all.sort();
        all
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP keyway_reconciles_total SecretSync reconciles by outcome."
        );
        let _ = writeln!(out, "# TYPE keyway_reconciles_total counter");
        for (reason, count) in self.reconciles() {
            let _ = writeln!(
                out,
                "keyway_reconciles_total{{reason=\"{reason}\"}} {count}"
            );
        }
        for (name, help, value) in [
            (
                "keyway_keyvault_list_calls_total",
                "Key Vault list calls.",
                &self.vault_list_calls,
            ),
            (
                "keyway_keyvault_get_calls_total",
                "Key Vault value reads.",
                &self.vault_get_calls,
            ),
            (
                "keyway_token_credentials_total",
                "Workload identity credentials made.",
                &self.credentials,
            ),
            (
                "keyway_throttled_objects_total",
                "Objects that failed because the vault throttled.",
                &self.throttled,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP keyway_managed_secretsyncs SecretSyncs managed.\n# TYPE keyway_managed_secretsyncs gauge\nkeyway_managed_secretsyncs {}",
            self.managed.load(Ordering::Relaxed)
        );
        let durations = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP keyway_reconcile_duration_seconds Reconcile duration.\n# TYPE keyway_reconcile_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
            cumulative += durations.0.get(i).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "keyway_reconcile_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += durations.0.last().copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "keyway_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(out, "keyway_reconcile_duration_seconds_sum {}", durations.1);
        let _ = writeln!(out, "keyway_reconcile_duration_seconds_count {cumulative}");
        out
    }
}
