//! One sync cycle and the loop around it: list once, fetch only what changed, convert, and
//! write the sink only when the content changed. A failing object keeps its previous data, and
//! nothing is published until some object has data (never an empty set).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyway_cert::Finding;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::convert::{Converted, convert};
use crate::error::{SourceFailure, SyncError};
use crate::model::objects::{KeyVaultObject, ObjectType};
use crate::model::spec::SyncSpec;
use crate::sink::{Applied, FileSet, SecretSink, SyncedFile};
use crate::source::{CallCounts, KeyValue, SecretProperties, SecretSource, SecretValue};

/// What happened to one object in a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing changed; nothing was fetched or the content was identical.
    Unchanged,
    /// New content was fetched and synced.
    Updated,
    /// The object failed this cycle; its previous data (if any) was kept.
    Failed,
}

/// One object's part of a [`SyncReport`].
#[derive(Debug, Clone, Serialize)]
pub struct ObjectReport {
    /// The Key Vault object.
    pub name: String,
    /// Where it lands (alias or name; `name/i` for history).
    pub output: String,
    /// What happened.
    pub outcome: Outcome,
    /// The version synced, when known.
    pub version: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// The kind of source failure, when that is why.
    pub failure: Option<SourceFailure>,
    /// Whether previous data was kept in place of this object after a failure.
    pub kept_previous: bool,
    /// Certificate findings.
    pub findings: Vec<Finding>,
}

/// What one cycle did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    /// Per object, in spec order.
    pub objects: Vec<ObjectReport>,
    /// Calls made to the source this cycle.
    pub calls: CallCounts,
    /// Bytes in the synced set.
    pub bytes: usize,
    /// Whether the sink was written.
    pub written: bool,
    /// The sink could not be written (the previous set stays).
    pub sink_error: Option<String>,
    /// Listing was forbidden, so every object was read.
    pub listing_fallback: bool,
    /// Wall time of the cycle, in milliseconds.
    pub duration_ms: u64,
}

impl SyncReport {
    /// Objects that failed.
    pub fn failed(&self) -> usize {
        self.objects
            .iter()
            .filter(|o| o.outcome == Outcome::Failed)
            .count()
    }

    /// Everything synced and written as needed.
    pub fn all_synced(&self) -> bool {
        self.failed() == 0 && self.sink_error.is_none()
    }
}

/// What identifies the content of a synced object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChangeKey {
    version: Option<String>,
    updated: Option<OffsetDateTime>,
    enabled: bool,
    content_type: Option<String>,
    /// When the value was fetched.
    fetched_at: OffsetDateTime,
}

impl ChangeKey {
    fn of(p: &SecretProperties, fetched_at: OffsetDateTime) -> ChangeKey {
        ChangeKey {
            version: p.version.clone(),
            updated: p.updated,
            enabled: p.enabled,
            content_type: p.content_type.clone(),
            fetched_at,
        }
    }

    /// Listings carry no version, and `updated` has one-second resolution: the listing proves
    /// nothing changed only when it shows the same `updated` as the fetched version and that
    /// second had passed before the fetch (a later write in the same second would look the
    /// same). Otherwise the object is read again; identical content is not rewritten.
    fn same_listing(&self, listed: &SecretProperties) -> bool {
        let settled = self
            .updated
            .is_some_and(|u| u.unix_timestamp() < self.fetched_at.unix_timestamp());
        settled
            && self.updated == listed.updated
            && self.enabled == listed.enabled
            && self.content_type == listed.content_type
    }
}

#[derive(Debug, Clone)]
struct Synced {
    key: ChangeKey,
    file: SyncedFile,
    /// What validation found when it was fetched, reported again while it stays unchanged.
    findings: Vec<keyway_cert::Finding>,
}

impl State {
    /// The findings last reported for `path`.
    fn findings(&self, path: &str) -> Vec<keyway_cert::Finding> {
        self.synced
            .get(path)
            .map(|s| s.findings.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug, Default)]
struct State {
    /// output path → what was last synced there
    synced: HashMap<String, Synced>,
    /// What the sink held when this syncer first needed it: read once, when an object fails
    /// that the syncer never fetched (after a restart), and kept for such objects.
    held: Option<FileSet>,
    fallback_reported: bool,
}

/// A unit of work: one output path of one object.
struct Want<'a> {
    object: &'a KeyVaultObject,
    output: String,
    version: Option<String>,
}

/// A value read this cycle.
enum Fetched {
    Secret(SecretValue),
    Key(KeyValue),
}

impl Fetched {
    fn into_properties(self) -> SecretProperties {
        match self {
            Fetched::Secret(v) => v.properties,
            Fetched::Key(k) => k.properties,
        }
    }
}

/// One kind's listing this cycle.
#[derive(Default)]
struct Listing {
    map: Option<HashMap<String, SecretProperties>>,
    error: Option<SyncError>,
    /// Listing is forbidden: objects of this kind are read every cycle.
    fallback: bool,
}

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

impl Syncer {
    /// Whether `output` is an object's output with version history (`output/<i>` entries).
    /// What the sink held when this syncer first asked (read once; `None` when unreadable).
    async fn held<'s>(&self, state: &'s mut State) -> Option<&'s FileSet> {
        if state.held.is_none()
            && let Ok(held) = self.sink.current().await
        {
            state.held = Some(held);
        }
        state.held.as_ref()
    }

    fn has_history(&self, output: &str) -> bool {
        self.spec
            .objects
            .iter()
            .any(|o| o.history().is_some() && o.output_name() == output)
    }

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
        let started = Instant::now();
        let calls_before = self.source.calls();
        let now = OffsetDateTime::now_utc();
        let mut state = self.state.lock().await;

        // 1. One listing per kind (secrets; keys, for key objects), when some object of that
        //    kind follows the newest version.
        let follows_newest = |o: &&KeyVaultObject| o.version.is_none() && o.history().is_none();
        let wants = |kind: ObjectType| {
            self.spec
                .objects
                .iter()
                .filter(follows_newest)
                .any(|o| (o.object_type == ObjectType::Key) == (kind == ObjectType::Key))
        };
        let secrets = self
            .listing(ObjectType::Secret, wants(ObjectType::Secret), &mut state)
            .await;
        let keys = self
            .listing(ObjectType::Key, wants(ObjectType::Key), &mut state)
            .await;
        let listing_fallback = secrets.fallback || keys.fallback;

        // 2. What each object needs: nothing, or a GET of a given version.
        let mut reports: Vec<ObjectReport> = Vec::new();
        let mut fetch: Vec<Want<'_>> = Vec::new();
        for object in &self.spec.objects {
            let output = object.output_name().to_string();
            let listed_kind = if object.object_type == ObjectType::Key {
                &keys
            } else {
                &secrets
            };
            if object.object_type == ObjectType::Key && object.history().is_some() {
                let e = SyncError::invalid(
                    format!("objects[{}].objectVersionHistory", object.name),
                    "is not supported for objectType key yet",
                );
                reports.push(failed(object, &output, &e, &state));
                continue;
            }
            if let Some(n) = object.history() {
                match self.source.versions(&object.name).await {
                    Ok(versions) => {
                        // Newest first, disabled versions skipped; from the pinned version
                        // when there is one, the older ones following. N files, where the
                        // provider writes N+1 (an off-by-one in its loop; see the docs).
                        let enabled = versions.iter().filter(|v| v.enabled);
                        let enabled: Vec<&SecretProperties> = match &object.version {
                            None => enabled.take(n as usize).collect(),
                            Some(pinned) => enabled
                                .skip_while(|v| v.version.as_deref() != Some(pinned.as_str()))
                                .take(n as usize)
                                .collect(),
                        };
                        if enabled.is_empty() && object.version.is_some() {
                            let e = SyncError::Source {
                                object: object.name.clone(),
                                failure: SourceFailure::NotFound,
                                status: None,
                                message: "the pinned objectVersion is not among the enabled \
                                          versions, so there is no history to start from"
                                    .into(),
                            };
                            reports.push(failed(object, &output, &e, &state));
                            continue;
                        }
                        for (i, v) in enabled.iter().enumerate() {
                            let path = format!("{output}/{i}");
                            let same = state.synced.get(&path).is_some_and(|s| {
                                s.key.version.is_some() && s.key.version == v.version
                            });
                            if same {
                                let mut r =
                                    report(object, &path, Outcome::Unchanged, v.version.clone());
                                r.findings = state.findings(&path);
                                reports.push(r);
                            } else {
                                fetch.push(Want {
                                    object,
                                    output: path,
                                    version: v.version.clone(),
                                });
                            }
                        }
                    }
                    Err(e) => reports.push(failed(object, &output, &e, &state)),
                }
                continue;
            }
            if let Some(pinned) = &object.version {
                let same = state
                    .synced
                    .get(&output)
                    .is_some_and(|s| s.key.version.as_deref() == Some(pinned.as_str()));
                if same {
                    let mut r = report(object, &output, Outcome::Unchanged, Some(pinned.clone()));
                    r.findings = state.findings(&output);
                    reports.push(r);
                } else {
                    fetch.push(Want {
                        object,
                        output,
                        version: Some(pinned.clone()),
                    });
                }
                continue;
            }
            if let Some(e) = &listed_kind.error {
                reports.push(failed(object, &output, e, &state));
                continue;
            }
            match listed_kind
                .map
                .as_ref()
                .map(|l| l.get(&object.name.to_ascii_lowercase()))
            {
                Some(None) => {
                    let e = SyncError::Source {
                        object: object.name.clone(),
                        failure: SourceFailure::NotFound,
                        status: None,
                        message: "not in the vault's listing".into(),
                    };
                    reports.push(failed(object, &output, &e, &state));
                }
                Some(Some(listed)) if !listed.enabled => {
                    let e = SyncError::Source {
                        object: object.name.clone(),
                        failure: SourceFailure::Disabled,
                        status: None,
                        message: "the newest version is disabled".into(),
                    };
                    reports.push(failed(object, &output, &e, &state));
                }
                Some(Some(listed))
                    if state
                        .synced
                        .get(&output)
                        .is_some_and(|s| s.key.same_listing(listed)) =>
                {
                    let version = state
                        .synced
                        .get(&output)
                        .and_then(|s| s.key.version.clone());
                    let mut r = report(object, &output, Outcome::Unchanged, version);
                    r.findings = state.findings(&output);
                    reports.push(r);
                }
                _ => fetch.push(Want {
                    object,
                    output,
                    version: None,
                }),
            }
        }

        // 3. Fetch what changed (the source bounds concurrency and rate), then convert.
        // Recorded before the reads start: a write in an earlier second is certainly seen.
        let fetched_at = OffsetDateTime::now_utc();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let total = fetch.len();
        let fetched = futures::future::join_all(fetch.iter().map(|w| async {
            let result = if w.object.object_type == ObjectType::Key {
                self.source
                    .get_key(&w.object.name, w.version.as_deref())
                    .await
                    .map(Fetched::Key)
            } else {
                self.source
                    .get(&w.object.name, w.version.as_deref())
                    .await
                    .map(Fetched::Secret)
            };
            if let Some(progress) = &self.progress {
                progress(
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
                    total,
                );
            }
            result
        }))
        .await;
        let mut updates: Vec<(String, Synced)> = Vec::new();
        for (want, result) in fetch.iter().zip(fetched) {
            let converted = result.and_then(|fetched| {
                let converted = match &fetched {
                    Fetched::Secret(value) => convert(want.object, value, now),
                    Fetched::Key(key) => key
                        .public_key
                        .to_pem()
                        .map(|pem| Converted {
                            contents: zeroize::Zeroizing::new(pem.into_bytes()),
                            findings: Vec::new(),
                        })
                        .map_err(|e| SyncError::Convert {
                            object: want.object.name.clone(),
                            reason: e.to_string(),
                        }),
                }?;
                Ok((fetched.into_properties(), converted))
            });
            match converted {
                Ok((properties, converted)) => {
                    let file = SyncedFile {
                        contents: converted.contents,
                        mode: want.object.file_permission,
                    };
                    let unchanged = match state.synced.get(&want.output) {
                        Some(synced) => synced.file == file,
                        // Not fetched by this syncer before (a new process, a restart): the
                        // same bytes as the sink holds are no update.
                        None => self.held(&mut state).await.is_some_and(|held| {
                            held.files
                                .get(&want.output)
                                .is_some_and(|h| h.contents == file.contents && h.mode == file.mode)
                        }),
                    };
                    let mut r = report(
                        want.object,
                        &want.output,
                        if unchanged {
                            Outcome::Unchanged
                        } else {
                            Outcome::Updated
                        },
                        properties.version.clone(),
                    );
                    r.findings = converted.findings.clone();
                    reports.push(r);
                    updates.push((
                        want.output.clone(),
                        Synced {
                            key: ChangeKey::of(&properties, fetched_at),
                            file,
                            findings: converted.findings,
                        },
                    ));
                }
                Err(e) => reports.push(failed(want.object, &want.output, &e, &state)),
            }
        }

        // 4. The whole set: new content where fetched, previous content everywhere else that
        //    is still wanted (a failure never removes or blanks anything). An object that
        //    failed before this syncer ever fetched it (a restart during an outage) keeps what
        //    the sink holds for it.
        let mut set = FileSet::default();
        let mut unreadable = None;
        for r in &mut reports {
            let output = r.output.as_str();
            let history = self.has_history(output);
            if let Some((_, synced)) = updates.iter().find(|(o, _)| o == output) {
                set.files.insert(output.to_string(), synced.file.clone());
                continue;
            }
            let previous: Vec<(&String, &Synced)> = state
                .synced
                .iter()
                .filter(|(path, _)| owned_by(path, output, history))
                .collect();
            if !previous.is_empty() || r.outcome != Outcome::Failed {
                for (path, synced) in previous {
                    set.files.insert(path.clone(), synced.file.clone());
                }
                continue;
            }
            if state.held.is_none() {
                match self.sink.current().await {
                    Ok(held) => state.held = Some(held),
                    Err(e) => {
                        unreadable = Some(format!(
                            "not written: {output} failed and what the sink holds could not be \
                             read to keep it ({e})"
                        ));
                        continue;
                    }
                }
            }
            let held = state.held.as_ref().map(|h| &h.files).into_iter().flatten();
            for (path, file) in held.filter(|(p, _)| owned_by(p, output, history)) {
                set.files.insert(path.clone(), file.clone());
                r.kept_previous = true;
            }
        }
        let wanted: Vec<(String, bool)> = reports
            .iter()
            .map(|r| (r.output.clone(), self.has_history(&r.output)))
            .collect();
        let (written, sink_error) = match unreadable {
            Some(reason) => (false, Some(reason)),
            // Nothing has data yet (a first sync where every object failed): publishing an
            // empty set would let consumers start without their secrets instead of waiting.
            None if set.is_empty() => (false, None),
            None => match self.sink.apply(&set).await {
                Ok(applied) => (applied == Applied::Written, None),
                Err(e) => (false, Some(e.to_string())),
            },
        };
        if sink_error.is_none() && !written {
            // The sink already held exactly this set (a restarted process, another `keyway
            // sync` of the same vault): what was fetched changed nothing at the target.
            for r in reports.iter_mut().filter(|r| r.outcome == Outcome::Updated) {
                r.outcome = Outcome::Unchanged;
            }
        }
        if sink_error.is_none() {
            for (output, synced) in updates {
                state.synced.insert(output, synced);
            }
            let still_wanted =
                |path: &String| wanted.iter().any(|(output, h)| owned_by(path, output, *h));
            state.synced.retain(|path, _| still_wanted(path));
            if let Some(held) = &mut state.held {
                held.files.retain(|path, _| still_wanted(path));
            }
        } else {
            for r in reports.iter_mut().filter(|r| r.outcome == Outcome::Updated) {
                r.outcome = Outcome::Failed;
                r.error = sink_error.clone();
                r.kept_previous = true;
            }
        }

        let after = self.source.calls();
        let report = SyncReport {
            bytes: set.bytes(),
            objects: order(&self.spec.objects, reports),
            calls: CallCounts {
                list: after.list - calls_before.list,
                versions: after.versions - calls_before.versions,
                get: after.get - calls_before.get,
            },
            written,
            sink_error,
            listing_fallback,
            duration_ms: started.elapsed().as_millis() as u64,
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

    async fn listing(&self, kind: ObjectType, wanted: bool, state: &mut State) -> Listing {
        if !wanted {
            return Listing::default();
        }
        let listed = if kind == ObjectType::Key {
            self.source.list_keys().await
        } else {
            self.source.list().await
        };
        match listed {
            Ok(all) => {
                // Only this spec's objects are kept: a listing can hold thousands of secrets
                // that many syncers share.
                let names: std::collections::HashSet<String> = self
                    .spec
                    .objects
                    .iter()
                    .filter(|o| (o.object_type == ObjectType::Key) == (kind == ObjectType::Key))
                    .map(|o| o.name.to_ascii_lowercase())
                    .collect();
                Listing {
                    map: Some(
                        all.into_iter()
                            .map(|p| (p.name.to_ascii_lowercase(), p))
                            .filter(|(name, _)| names.contains(name))
                            .collect(),
                    ),
                    ..Listing::default()
                }
            }
            Err(SyncError::Source {
                failure: SourceFailure::Forbidden,
                ..
            }) => {
                if !state.fallback_reported {
                    tracing::warn!(vault = %self.spec.vault_url, %kind, "listing is forbidden; every object is read each cycle (grant Key Vault Secrets User or Reader to list)");
                    state.fallback_reported = true;
                }
                Listing {
                    fallback: true,
                    ..Listing::default()
                }
            }
            Err(e) => Listing {
                error: Some(e),
                ..Listing::default()
            },
        }
    }

    /// Runs a cycle every `interval` (± up to `jitter`) until `shutdown` completes.
    pub async fn run(
        &self,
        interval: Duration,
        jitter: Duration,
        shutdown: impl std::future::Future<Output = ()>,
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
}

fn random_below(limit: Duration) -> Duration {
    if limit.is_zero() {
        return Duration::ZERO;
    }
    let mut bytes = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    Duration::from_nanos(u64::from_le_bytes(bytes) % limit.as_nanos().max(1) as u64)
}

fn report(
    object: &KeyVaultObject,
    output: &str,
    outcome: Outcome,
    version: Option<String>,
) -> ObjectReport {
    ObjectReport {
        name: object.name.clone(),
        output: output.to_string(),
        outcome,
        version,
        error: None,
        failure: None,
        kept_previous: false,
        findings: Vec::new(),
    }
}

fn failed(object: &KeyVaultObject, output: &str, error: &SyncError, state: &State) -> ObjectReport {
    let failure = match error {
        SyncError::Source { failure, .. } => Some(*failure),
        _ => None,
    };
    let history = object.history().is_some();
    let kept_previous = state.synced.keys().any(|k| owned_by(k, output, history));
    ObjectReport {
        error: Some(error.to_string()),
        failure,
        kept_previous,
        ..report(object, output, Outcome::Failed, None)
    }
}

/// Whether a synced path belongs to an object's output: the output itself, or, for an object
/// with version history, one of its `output/<i>` entries.
fn owned_by(path: &str, output: &str, history: bool) -> bool {
    path == output
        || history
            && path
                .strip_prefix(output)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// Reports in spec order (history entries in index order), whatever order work finished in.
fn order(objects: &[KeyVaultObject], reports: Vec<ObjectReport>) -> Vec<ObjectReport> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        index.entry(o.output_name()).or_insert(i);
    }
    // A history entry `alias/i` ranks with the object whose output is `alias`.
    let rank = |r: &ObjectReport| {
        let output = r.output.as_str();
        index
            .get(output)
            .or_else(|| {
                output
                    .rsplit_once('/')
                    .and_then(|(base, _)| index.get(base))
            })
            .copied()
            .filter(|&i| objects[i].name == r.name)
            .unwrap_or(usize::MAX)
    };
    let mut ranked: Vec<(usize, ObjectReport)> =
        reports.into_iter().map(|r| (rank(&r), r)).collect();
    ranked.sort_by(|(ra, a), (rb, b)| ra.cmp(rb).then_with(|| a.output.cmp(&b.output)));
    ranked.into_iter().map(|(_, r)| r).collect()
}
