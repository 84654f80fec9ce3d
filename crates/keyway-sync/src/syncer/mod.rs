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
//! data. Stages 1 to 3 change nothing anyone sees.

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
    spec: SyncSpec,
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
    /// A syncer.
    pub fn new(spec: SyncSpec, source: Arc<dyn SecretSource>, sink: Arc<dyn SecretSink>) -> Syncer {
        Syncer {
            spec,
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

    /// Runs a cycle every `interval` (± up to `jitter`) until `shutdown` completes.
    pub async fn run(
        &self,
        interval: Duration,
        jitter: Duration,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            self.run_once().await;
            let wait = interval + random_below(jitter);
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(wait) => {}
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

