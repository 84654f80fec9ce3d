//! One sync cycle and the loop around it, in four stages:
//!
//! 1. [plan](plan): one listing per kind (and a version listing per history object) tells
//!    which objects can have changed since they were last read; the rest are decided —
//!    unchanged, or failed (missing, disabled) — without reading a value.
//! 2. [fetch](fetch): what can have changed is read, all at once (the source bounds
//!    concurrency and rate).
//! 3. [assemble](assemble): each value is converted as its object asks and compared with what
//!    its output holds; the whole set is put together from new content where read and previous
//!    content everywhere else.
//! 4. [commit](commit): the set goes to the sink in one atomic `apply` — never an empty set,
//!    never one that would drop a failed object's data — and only when the sink took it does
//!    what was read become the syncer's memory.
//!
//! A failing object keeps its previous data, and nothing is published until some object has
//! data. Stages 1 to 3 change nothing anyone sees, so a cycle can be abandoned until its commit
//! starts ([`Syncer::run_once_until`]).

mod assemble;
mod commit;
mod fetch;
mod plan;
mod report;
mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::model::spec::SyncSpec;
use crate::sink::SecretSink;
use crate::source::{CallCounts, SecretSource};

use assemble::Assembled;
pub use report::{ObjectReport, Outcome, SyncReport};
use state::State;

/// Runs syncs of one [`SyncSpec`] from a source into a sink.
pub struct Syncer {
    spec: Arc<SyncSpec>,
    source: Arc<dyn SecretSource>,
    sink: Arc<dyn SecretSink>,
    state: Mutex<State>,
    progress: Option<Progress>,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer")
            .field("vault_url", &self.spec.vault_url)
            .field("objects", &self.spec.objects.len())
            .field("source", &self.source)
            .field("sink", &self.sink)
            .finish_non_exhaustive()
    }
}

/// Called as reads complete: (done, total) of this cycle's reads.
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// How [`Syncer::run`] ended when its shutdown completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Between cycles: every cycle that started was reported.
    BetweenCycles,
    /// During a cycle, before it started writing: that cycle was abandoned unreported, and the
    /// sink holds what it held before it.
    MidCycle,
}

/// A cycle's start: its clocks and the source's call counts then.
struct Cycle {
    started: Instant,
    /// Certificate validity is judged at this time.
    now: OffsetDateTime,
    calls: CallCounts,
}

/// Stages 1 to 3 done: nothing published yet.
struct Prepared {
    assembled: Assembled,
    listing_fallback: bool,
}

impl Syncer {
    /// A syncer. `spec` may be shared (an `Arc<SyncSpec>`): syncers of the same objects need
    /// not each keep a copy.
    pub fn new(
        spec: impl Into<Arc<SyncSpec>>,
        source: Arc<dyn SecretSource>,
        sink: Arc<dyn SecretSink>,
    ) -> Syncer {
        Syncer {
            spec: spec.into(),
            source,
            sink,
            state: Mutex::new(State::default()),
            progress: None,
        }
    }

    /// Reports progress of each cycle's reads (for a progress bar on large first syncs).
    pub fn with_progress(mut self, progress: Progress) -> Syncer {
        self.progress = Some(progress);
        self
    }

    /// The spec.
    pub fn spec(&self) -> &SyncSpec {
        &self.spec
    }

    /// One cycle.
    pub async fn run_once(&self) -> SyncReport {
        let cycle = self.start();
        let mut state = self.state.lock().await;
        let prepared = self.prepare(&mut state, cycle.now).await;
        self.finish(&mut state, cycle, prepared).await
    }

    /// One cycle, abandoned if `shutdown` completes before the cycle starts writing the sink:
    /// `None` then, and the sink holds what it held. Once the write has started, the cycle
    /// finishes and is reported (a sink's write is one atomic step, never left half done).
    pub async fn run_once_until(&self, shutdown: impl Future<Output = ()>) -> Option<SyncReport> {
        let cycle = self.start();
        let prepare = async {
            let mut state = self.state.lock().await;
            let prepared = self.prepare(&mut state, cycle.now).await;
            (state, prepared)
        };
        let (mut state, prepared) = tokio::select! {
            prepared = prepare => prepared,
            () = shutdown => return None,
        };
        Some(self.finish(&mut state, cycle, prepared).await)
    }

    /// Runs a cycle every `interval` (± up to `jitter`) until `shutdown` completes, handing each
    /// cycle's report to `on_report`. A cycle under way when `shutdown` completes is abandoned
    /// unless it has started writing ([`Syncer::run_once_until`]); the result says which.
    pub async fn run(
        &self,
        interval: Duration,
        jitter: Duration,
        shutdown: impl Future<Output = ()>,
        mut on_report: impl FnMut(SyncReport),
    ) -> Stopped {
        tokio::pin!(shutdown);
        loop {
            let Some(report) = self.run_once_until(&mut shutdown).await else {
                return Stopped::MidCycle;
            };
            on_report(report);
            let wait = interval + random_below(jitter);
            tokio::select! {
                () = &mut shutdown => return Stopped::BetweenCycles,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn start(&self) -> Cycle {
        Cycle {
            started: Instant::now(),
            now: OffsetDateTime::now_utc(),
            calls: self.source.calls(),
        }
    }

    /// Stages 1 to 3: plan, fetch, assemble. Nothing outside the syncer changes.
    async fn prepare(&self, state: &mut State, now: OffsetDateTime) -> Prepared {
        let plan = self.plan(state).await;
        let reads = self.fetch(plan.fetch).await;
        let assembled = self.assemble(state, plan.decided, reads, now).await;
        Prepared {
            assembled,
            listing_fallback: plan.listing_fallback,
        }
    }

    /// Stage 4, then the cycle's report.
    async fn finish(&self, state: &mut State, cycle: Cycle, prepared: Prepared) -> SyncReport {
        let committed = self.commit(state, prepared.assembled).await;
        let after = self.source.calls();
        let report = SyncReport {
            bytes: committed.bytes,
            objects: report::order(&self.spec.objects, committed.reports),
            calls: CallCounts {
                list: after.list - cycle.calls.list,
                versions: after.versions - cycle.calls.versions,
                get: after.get - cycle.calls.get,
            },
            written: committed.written,
            sink_error: committed.sink_error,
            listing_fallback: prepared.listing_fallback,
            duration_ms: cycle.started.elapsed().as_millis() as u64,
        };
        tracing::info!(
            vault = %self.spec.vault_url,
            updated = report.objects.iter().filter(|o| o.outcome == Outcome::Updated).count(),
            failed = report.failed(),
            gets = report.calls.get,
            lists = report.calls.list,
            written = report.written,
            "sync cycle"
        );
        report
    }
}

fn random_below(limit: Duration) -> Duration {
    if limit.is_zero() {
        return Duration::ZERO;
    }
    let mut bytes = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    Duration::from_nanos(u64::from_le_bytes(bytes) % limit.as_nanos().max(1) as u64)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use tokio::sync::oneshot;

    use super::*;
    use crate::error::Result;
    use crate::model::objects::KeyVaultObject;
    use crate::sink::MemorySink;
    use crate::source::{KeyValue, MemorySource, SecretProperties, SecretValue};

    fn spec() -> SyncSpec {
        SyncSpec::new(
            "https://v.vault.azure.net",
            vec![KeyVaultObject::secret("a")],
        )
        .unwrap()
    }

    /// A vault that hangs: its listing says it was asked, then never answers.
    #[derive(Debug)]
    struct Hanging {
        asked: StdMutex<Option<oneshot::Sender<()>>>,
    }

    #[async_trait::async_trait]
    impl SecretSource for Hanging {
        async fn list(&self) -> Result<Vec<SecretProperties>> {
            if let Some(asked) = self.asked.lock().unwrap().take() {
                let _ = asked.send(());
            }
            std::future::pending().await
        }
        async fn versions(&self, _: &str) -> Result<Vec<SecretProperties>> {
            std::future::pending().await
        }
        async fn get(&self, _: &str, _: Option<&str>) -> Result<SecretValue> {
            std::future::pending().await
        }
        async fn list_keys(&self) -> Result<Vec<SecretProperties>> {
            std::future::pending().await
        }
        async fn get_key(&self, _: &str, _: Option<&str>) -> Result<KeyValue> {
            std::future::pending().await
        }
        fn calls(&self) -> CallCounts {
            CallCounts::default()
        }
    }

    /// `run` hands each cycle's report to its callback, and a shutdown while it waits for the
    /// next cycle ends it between cycles.
    #[tokio::test]
    async fn run_reports_each_cycle_and_stops_between_cycles() {
        let source = Arc::new(MemorySource::new());
        source.set("a", "1", None, &[]);
        let sink = Arc::new(MemorySink::new());
        let syncer = Syncer::new(spec(), source, sink.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let mut stop = Some(stop);
        let mut reports = Vec::new();
        let how = syncer
            .run(
                Duration::from_secs(3600),
                Duration::ZERO,
                async {
                    let _ = stopped.await;
                },
                |report| {
                    reports.push(report);
                    if let Some(stop) = stop.take() {
                        let _ = stop.send(());
                    }
                },
            )
            .await;
        assert_eq!(how, Stopped::BetweenCycles);
        assert_eq!(reports.len(), 1);
        assert!(reports[0].written && reports[0].all_synced());
        assert_eq!(sink.writes(), 1);
    }

    /// A shutdown during a cycle abandons it before anything is written: no report, and
    /// `run` says it stopped mid-cycle.
    #[tokio::test]
    async fn run_abandons_a_cycle_that_has_not_started_writing() {
        let (asked, on_asked) = oneshot::channel();
        let source = Arc::new(Hanging {
            asked: StdMutex::new(Some(asked)),
        });
        let sink = Arc::new(MemorySink::new());
        let syncer = Syncer::new(spec(), source, sink.clone());
        let mut reports = 0;
        let how = syncer
            .run(
                Duration::from_secs(3600),
                Duration::ZERO,
                async {
                    let _ = on_asked.await;
                },
                |_| reports += 1,
            )
            .await;
        assert_eq!(how, Stopped::MidCycle);
        assert_eq!(reports, 0);
        assert_eq!(sink.writes(), 0);
        assert!(syncer.state.lock().await.synced.is_empty());
    }
}
