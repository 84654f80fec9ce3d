//! One vault, one budget: a [`SharedSource`] sits in front of a source that many syncers read
//! (every SecretSync on one vault and identity). Syncers asking within the freshness window share
//! one listing — so M syncers cost ⌈N/25⌉ list calls, not M times that — and share each value
//! read, with one call in flight per name. A value stays shared across listings while the
//! listing proves it current (same `updated`, read after that second), so syncers of one
//! vault reconciled minutes apart still read each secret once.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OnceCell};

use crate::error::Result;
use crate::source::{CallCounts, KeyValue, SecretProperties, SecretSource, SecretValue};

/// The listing shared by every syncer of the current epoch.
struct Listing {
    taken: Instant,
    secrets: Arc<Vec<SecretProperties>>,
}

/// A value and when it was read.
#[derive(Clone)]
struct Fetched {
    value: SecretValue,
    at: time::OffsetDateTime,
}

impl Fetched {
    /// Whether `listed` (the newest version, as a listing shows it) proves this is still the
    /// newest value: the same update time, read in a later second than that update (`updated`
    /// has one-second resolution), and the same attributes.
    fn current(&self, listed: &SecretProperties) -> bool {
        let read = &self.value.properties;
        listed.updated.is_some()
            && listed.updated == read.updated
            && listed
                .updated
                .is_some_and(|u| self.at.unix_timestamp() > u.unix_timestamp())
            && listed.enabled == read.enabled
            && listed.content_type == read.content_type
            && listed.tags == read.tags
    }
}

/// How many times its window a listing stays fresh while reads are under way.
const MAX_BUSY_FRESHNESS: u32 = 20;

/// One value read under way, counted until dropped (completed, failed or cancelled).
struct Reading<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Reading<'a> {
    fn start(count: &'a std::sync::atomic::AtomicUsize) -> Reading<'a> {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Reading(count)
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Values read, one slot per name and version (`None`: the newest).
type Values = HashMap<(Box<str>, Option<Box<str>>), Slot>;

/// A value being read — one call in flight, which every caller of the same name and version
/// waits for — or read. A read value leaves its cell behind: it is kept while listings prove it
/// current (10,000 of them at 5,000 SecretSyncs), and the cell's wait list is a third of it.
#[derive(Clone)]
enum Slot {
    Reading(Arc<OnceCell<Arc<Fetched>>>),
    Read(Arc<Fetched>),
}

impl Slot {
    /// The value, when it has been read.
    fn read(&self) -> Option<&Fetched> {
        match self {
            Slot::Reading(cell) => cell.get().map(AsRef::as_ref),
            Slot::Read(fetched) => Some(fetched),
        }
    }
}

/// A source whose listing and values are shared by all its callers for a while.
pub struct SharedSource {
    inner: Arc<dyn SecretSource>,
    fresh_for: Duration,
    listing: Mutex<Option<Listing>>,
    values: std::sync::Mutex<Values>,
    stale: std::sync::atomic::AtomicBool,
    /// A new poll cycle began: the listing goes once no read it led to is under way.
    cycle_ended: std::sync::atomic::AtomicBool,
    /// Value reads under way (waiting for the budget or the vault), on this listing's word.
    reading: std::sync::atomic::AtomicUsize,
    /// When the last value read ended: a listing whose reads come one after another (a
    /// first sync, between reconciles) is still in use in the gaps.
    last_read: std::sync::Mutex<Option<Instant>>,
    outcomes: std::sync::Mutex<std::collections::BTreeMap<(&'static str, u16), u64>>,
}

/// Shows the wrapped source and the freshness window, never a value.
impl fmt::Debug for SharedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSource")
            .field("inner", &self.inner)
            .field("fresh_for", &self.fresh_for)
            .finish_non_exhaustive()
    }
}

impl SharedSource {
    /// Shares `inner`'s listing for `fresh_for` after it is taken (and the values read in that
    /// time) — longer while reads it led to are still under way or ended within `fresh_for`
    /// (reads coming one after another), up to 20 times
    /// `fresh_for`: a budget-bound first sync that lasts minutes is served by one listing
    /// instead of one per window (a quiet cycle reads nothing, so its listing expires on time).
    /// Keep `fresh_for` well under the poll interval and over the time a cycle of all
    /// syncers takes.
    pub fn new(inner: Arc<dyn SecretSource>, fresh_for: Duration) -> SharedSource {
        SharedSource {
            inner,
            fresh_for,
            listing: Mutex::new(None),
            values: std::sync::Mutex::new(HashMap::new()),
            stale: std::sync::atomic::AtomicBool::new(false),
            cycle_ended: std::sync::atomic::AtomicBool::new(false),
            reading: std::sync::atomic::AtomicUsize::new(0),
            last_read: std::sync::Mutex::new(None),
            outcomes: std::sync::Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// Forgets the listing and the values: the next caller lists again.
    pub async fn expire(&self) {
        *self.listing.lock().await = None;
        self.values_guard().clear();
    }

    /// How long ago the listing now shared was taken (`None`: there is none).
    pub async fn listing_age(&self) -> Option<Duration> {
        self.listing
            .lock()
            .await
            .as_ref()
            .map(|listing| listing.taken.elapsed())
    }

    /// Like [`SharedSource::expire`], from synchronous code: the listing is dropped at the next
    /// opportunity (a listing under way completes first).
    pub fn expire_now(&self) {
        self.stale.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// A new poll cycle: the listing is dropped at the next opportunity when no read it led to
    /// is under way, else once they are done (within 20 windows, as
    /// [`SharedSource::new`] says). A first sync longer than the poll interval is then served
    /// by one listing, not one per cycle it spans; its reads are of the newest versions anyway.
    pub fn new_cycle(&self) {
        self.cycle_ended
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Drops the values read in this cycle at once, and the listing at the next opportunity:
    /// for a source nobody reads any more, so no secret lingers in memory.
    pub fn forget_values(&self) {
        self.expire_now();
        self.values_guard().clear();
    }

    /// Operations that reached the wrapped source, by operation (`list`, `get`, `versions`,
    /// `list_keys`, `get_key`) and HTTP status (200 for success, 0 when there was no answer).
    /// Shared answers are not counted again.
    pub fn outcomes(&self) -> Vec<(&'static str, u16, u64)> {
        self.outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|((operation, status), count)| (*operation, *status, *count))
            .collect()
    }

    fn record<T>(&self, operation: &'static str, result: &Result<T>) {
        let status = match result {
            Ok(_) => 200,
            Err(crate::error::SyncError::Source { status, .. }) => status.unwrap_or(0),
            Err(_) => 0,
        };
        *self
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((operation, status))
            .or_default() += 1;
    }

    /// A value read ended now (answered from the vault or from the values kept).
    fn read_ended(&self) {
        *self.last_read.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    fn values_guard(&self) -> std::sync::MutexGuard<'_, Values> {
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl SecretSource for SharedSource {
    async fn list(&self) -> Result<Vec<SecretProperties>> {
        self.list_shared()
            .await
            .map(|shared| shared.as_ref().clone())
    }

    async fn list_shared(&self) -> Result<Arc<Vec<SecretProperties>>> {
        // Holding the lock across the call makes concurrent callers wait for one listing.
        let mut listing = self.listing.lock().await;
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        if self.stale.swap(false, relaxed) {
            *listing = None;
        }
        // Reads this listing led to are under way or ended within a window (a first sync):
        // it stays, up to 20 windows.
        let last_read = *self.last_read.lock().unwrap_or_else(|p| p.into_inner());
        let reads_going = self.reading.load(relaxed) > 0
            || last_read.is_some_and(|at| at.elapsed() < self.fresh_for);
        let busy =
            |l: &Listing| reads_going && l.taken.elapsed() < self.fresh_for * MAX_BUSY_FRESHNESS;
        if listing.as_ref().is_some_and(|l| !busy(l)) && self.cycle_ended.swap(false, relaxed) {
            *listing = None;
        }
        if let Some(current) = listing
            .as_ref()
            .filter(|l| l.taken.elapsed() < self.fresh_for || busy(l))
        {
            return Ok(current.secrets.clone());
        }
        // This listing is the new cycle's.
        self.cycle_ended.store(false, relaxed);
        let taken = Instant::now();
        let listed = self.inner.list().await;
        self.record("list", &listed);
        let secrets = Arc::new(listed?);
        // A new listing starts a new epoch: only the newest values it proves current stay.
        let newest: HashMap<&str, &SecretProperties> =
            secrets.iter().map(|p| (p.name.as_str(), p)).collect();
        self.values_guard().retain(|(name, version), slot| {
            version.is_none()
                && slot.read().is_some_and(|fetched| {
                    newest
                        .get(&**name)
                        .is_some_and(|listed| fetched.current(listed))
                })
        });
        *listing = Some(Listing {
            taken,
            secrets: secrets.clone(),
        });
        Ok(secrets)
    }

    async fn versions(&self, name: &str) -> Result<Vec<SecretProperties>> {
        let result = self.inner.versions(name).await;
        self.record("versions", &result);
        result
    }

    async fn get(&self, name: &str, version: Option<&str>) -> Result<SecretValue> {
        let key = (Box::from(name), version.map(Box::from));
        let slot = self
            .values_guard()
            .entry(key.clone())
            .or_insert_with(|| Slot::Reading(Arc::default()))
            .clone();
        let cell = match slot {
            Slot::Read(fetched) => {
                self.read_ended();
                return Ok(fetched.value.clone());
            }
            Slot::Reading(cell) => cell,
        };
        // Counted while under way: the listing that led to it stays fresh meanwhile.
        let _reading = Reading::start(&self.reading);
        // A failure is not kept: the next caller tries again.
        let read = cell
            .get_or_try_init(|| async {
                let at = time::OffsetDateTime::now_utc();
                let result = self.inner.get(name, version).await;
                self.record("get", &result);
                result.map(|value| Arc::new(Fetched { value, at }))
            })
            .await
            .cloned();
        self.read_ended();
        let fetched = read?;
        // The cell is no longer needed once read (unless the values were forgotten or read
        // anew meanwhile: then the slot is another's).
        if let Some(slot) = self.values_guard().get_mut(&key)
            && matches!(slot, Slot::Reading(own) if Arc::ptr_eq(own, &cell))
        {
            *slot = Slot::Read(fetched.clone());
        }
        Ok(fetched.value.clone())
    }

    async fn list_keys(&self) -> Result<Vec<SecretProperties>> {
        let result = self.inner.list_keys().await;
        self.record("list_keys", &result);
        result
    }

    async fn get_key(&self, name: &str, version: Option<&str>) -> Result<KeyValue> {
        let result = self.inner.get_key(name, version).await;
        self.record("get_key", &result);
        result
    }

    fn calls(&self) -> CallCounts {
        self.inner.calls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemorySource;

    /// A source whose value reads wait until released: a read held up by the budget.
    #[derive(Debug)]
    struct Held {
        inner: Arc<MemorySource>,
        release: tokio::sync::Semaphore,
        /// Each permit lets one read through (else a read gives its permit back).
        one_read_per_permit: bool,
    }

    #[async_trait::async_trait]
    impl SecretSource for Held {
        async fn list(&self) -> Result<Vec<SecretProperties>> {
            self.inner.list().await
        }
        async fn versions(&self, name: &str) -> Result<Vec<SecretProperties>> {
            self.inner.versions(name).await
        }
        async fn get(&self, name: &str, version: Option<&str>) -> Result<SecretValue> {
            let permit = self.release.acquire().await.expect("open");
            if self.one_read_per_permit {
                permit.forget();
            }
            self.inner.get(name, version).await
        }
        async fn list_keys(&self) -> Result<Vec<SecretProperties>> {
            self.inner.list_keys().await
        }
        async fn get_key(&self, name: &str, version: Option<&str>) -> Result<KeyValue> {
            self.inner.get_key(name, version).await
        }
        fn calls(&self) -> CallCounts {
            self.inner.calls()
        }
    }

    /// A shared source over the one secret `a`, whose reads wait for `held.release`, listed once.
    async fn listed_held(window: Duration) -> (Arc<MemorySource>, Arc<Held>, Arc<SharedSource>) {
        listed_gated(window, false).await
    }

    /// [`listed_held`], each permit letting one read through when `one_read_per_permit`.
    async fn listed_gated(
        window: Duration,
        one_read_per_permit: bool,
    ) -> (Arc<MemorySource>, Arc<Held>, Arc<SharedSource>) {
        let memory = Arc::new(MemorySource::new());
        memory.set("a", "1", None, &[]);
        let held = Arc::new(Held {
            inner: memory.clone(),
            release: tokio::sync::Semaphore::new(0),
            one_read_per_permit,
        });
        let shared = Arc::new(SharedSource::new(held.clone(), window));
        shared.list_shared().await.unwrap();
        (memory, held, shared)
    }

    /// A read of `a` at `version`, returned once it is under way (waiting for a release).
    async fn read_under_way(
        shared: &Arc<SharedSource>,
        version: Option<&'static str>,
    ) -> tokio::task::JoinHandle<Result<SecretValue>> {
        let reader = {
            let shared = shared.clone();
            tokio::spawn(async move { shared.get("a", version).await })
        };
        while shared.reading.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        reader
    }

    /// A new poll cycle drops the listing only once the reads it led to are done (a first
    /// sync spanning cycles lists once); `expire_now` drops it at once, busy or not.
    #[tokio::test]
    async fn a_new_cycle_waits_for_the_reads_of_a_busy_listing() {
        // Long enough that a loaded machine never takes it between two statements: the
        // "within a window" and "once per cycle" checks must not see it pass.
        let window = Duration::from_secs(2);
        let (memory, held, shared) = listed_held(window).await;
        let reader = read_under_way(&shared, None).await;
        shared.new_cycle();
        shared.list_shared().await.unwrap();
        assert_eq!(
            memory.calls().list,
            1,
            "a read is under way: the listing serves"
        );
        held.release.add_permits(1);
        reader.await.unwrap().unwrap();
        shared.list_shared().await.unwrap();
        assert_eq!(
            memory.calls().list,
            1,
            "a read ended within a window: it serves"
        );
        tokio::time::sleep(window).await;
        shared.list_shared().await.unwrap();
        assert_eq!(
            memory.calls().list,
            2,
            "the reads are done: the new cycle lists"
        );
        shared.list_shared().await.unwrap();
        assert_eq!(memory.calls().list, 2, "once per cycle");

        // The permit the first read returned is taken back: the next read waits.
        held.release.acquire().await.unwrap().forget();
        let reader = read_under_way(&shared, Some("v")).await;
        shared.expire_now();
        shared.list_shared().await.unwrap();
        assert_eq!(memory.calls().list, 3, "expire_now does not wait");
        held.release.add_permits(1);
        let _ = reader.await.unwrap();
    }

    /// A listing stays fresh past its window while reads it led to are under way (a long,
    /// budget-bound first sync lists once), and expires once they are done.
    #[tokio::test]
    async fn a_busy_listing_outlives_its_window_until_its_reads_are_done() {
        // A busy listing serves up to 20 windows: 10 s here, so a loaded machine's stall between
        // the listing and the first check cannot expire it (at 50 ms that was 1 s).
        let window = Duration::from_millis(500);
        let (memory, held, shared) = listed_held(window).await;
        let reader = read_under_way(&shared, None).await;
        tokio::time::sleep(window * 2).await;
        shared.list_shared().await.unwrap();
        assert_eq!(
            memory.calls().list,
            1,
            "a read is under way: the listing serves"
        );
        held.release.add_permits(1);
        reader.await.unwrap().unwrap();
        tokio::time::sleep(window).await;
        shared.list_shared().await.unwrap();
        assert_eq!(
            memory.calls().list,
            2,
            "no read under way or within a window: past its window, listed again"
        );
    }

    /// Callers within the window get the one listing, not copies of it: memory does not grow
    /// with the number of syncers reading a vault.
    #[tokio::test]
    async fn callers_share_the_listing_itself() {
        let memory = Arc::new(MemorySource::new());
        memory.set("a", "1", None, &[]);
        let shared = SharedSource::new(memory.clone(), Duration::from_secs(60));
        let first = shared.list_shared().await.unwrap();
        let second = shared.list_shared().await.unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(memory.calls().list, 1);
    }

    #[tokio::test]
    async fn callers_share_one_listing_and_one_read_per_name() {
        let memory = Arc::new(MemorySource::new());
        memory.set("a", "1", None, &[]);
        let shared = Arc::new(SharedSource::new(memory.clone(), Duration::from_secs(60)));
        let mut readers = Vec::new();
        for _ in 0..10 {
            let shared = shared.clone();
            readers.push(tokio::spawn(async move {
                shared.list().await.unwrap();
                shared.get("a", None).await.unwrap().value.to_string()
            }));
        }
        for reader in readers {
            assert_eq!(reader.await.unwrap(), "1");
        }
        assert_eq!(memory.calls().list, 1);
        assert_eq!(memory.calls().get, 1);

        // After expiry the next caller lists again and sees the new value.
        memory.set("a", "2", None, &[]);
        shared.expire().await;
        shared.list().await.unwrap();
        assert_eq!(*shared.get("a", None).await.unwrap().value, "2");
        assert_eq!(memory.calls().list, 2);
        assert_eq!(memory.calls().get, 2);
        // A failed read is not remembered.
        assert!(shared.get("missing", None).await.is_err());
        memory.set("missing", "3", None, &[]);
        assert_eq!(*shared.get("missing", None).await.unwrap().value, "3");
        let outcomes = shared.outcomes();
        assert!(outcomes.contains(&("list", 200, 2)), "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .any(|(op, status, n)| *op == "get" && *status != 200 && *n == 1)
        );
    }

    /// Values forgotten while a read is under way stay forgotten: the read's answer goes to its
    /// readers, not back into the cache — where a newer read of the same name may be under
    /// way, whose answer is the one kept.
    #[tokio::test]
    async fn a_read_finishing_after_its_values_were_forgotten_is_not_kept() {
        let (memory, held, shared) = listed_gated(Duration::from_secs(60), true).await;
        let older = read_under_way(&shared, None).await;
        shared.forget_values();
        let newer = {
            let shared = shared.clone();
            tokio::spawn(async move { shared.get("a", None).await })
        };
        while shared.reading.load(std::sync::atomic::Ordering::Relaxed) < 2 {
            tokio::task::yield_now().await;
        }
        // The older read is answered first (the source's queue is first come, first served),
        // then the secret changes, then the newer read is answered.
        held.release.add_permits(1);
        assert_eq!(&*older.await.unwrap().unwrap().value, "1");
        memory.set("a", "2", None, &[]);
        held.release.add_permits(1);
        assert_eq!(&*newer.await.unwrap().unwrap().value, "2");
        assert_eq!(memory.calls().get, 2);
        held.release.add_permits(1);
        let kept = shared.get("a", None).await.unwrap();
        assert_eq!(
            (kept.value.as_str(), memory.calls().get),
            ("2", 2),
            "the newer read is kept"
        );
    }

    /// A value read a second after its update stays shared across listings while the listing
    /// shows the same update; a newer write is read again.
    #[tokio::test]
    async fn values_outlive_a_listing_that_proves_them_current() {
        let memory = Arc::new(MemorySource::new());
        memory.set("a", "1", None, &[]);
        let shared = SharedSource::new(memory.clone(), Duration::from_millis(1));
        // Key Vault's `updated` has one-second resolution: read in a later second.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        shared.list().await.unwrap();
        assert_eq!(*shared.get("a", None).await.unwrap().value, "1");
        tokio::time::sleep(Duration::from_millis(5)).await;
        shared.list().await.unwrap();
        assert_eq!(*shared.get("a", None).await.unwrap().value, "1");
        assert_eq!(
            (memory.calls().list, memory.calls().get),
            (2, 1),
            "one read, two listings"
        );

        memory.set("a", "2", None, &[]);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        shared.list().await.unwrap();
        assert_eq!(*shared.get("a", None).await.unwrap().value, "2");
        assert_eq!(memory.calls().get, 2, "a newer write is read again");
    }
}
