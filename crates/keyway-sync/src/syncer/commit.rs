//! Stage 4, commit: the assembled set handed to the sink in one `apply` (never an empty set,
//! never one that would drop a failed object's data), the outcomes made to say what the sink
//! did, and — only when the sink took the set — what was read becomes the syncer's memory.

use std::collections::BTreeMap;

use crate::error::SyncError;
use crate::sink::Applied;

use super::Syncer;
use super::assemble::Assembled;
use super::report::{ObjectReport, Outcome};
use super::state::{Outputs, State, Synced};

/// What the commit stage did.
pub(super) struct Committed {
    /// One per output, their outcomes final.
    pub(super) reports: Vec<ObjectReport>,
    /// Bytes in the set.
    pub(super) bytes: usize,
    /// Whether the sink was written.
    pub(super) written: bool,
    /// Why the set was not published, when it should have been.
    pub(super) sink_error: Option<SyncError>,
}

impl Syncer {
    /// Stage 4: publishes the assembled set.
    pub(super) async fn commit(&self, state: &mut State, assembled: Assembled) -> Committed {
        let Assembled {
            mut reports,
            set,
            updates,
            unreadable,
        } = assembled;
        let (written, sink_error) = match unreadable {
            Some(reason) => (false, Some(reason)),
            // Nothing has data yet (a first sync where every object failed): publishing an
            // empty set would let consumers start without their secrets instead of waiting.
            None if set.is_empty() => (false, None),
            None => match self.sink.apply(&set).await {
                Ok(applied) => (applied == Applied::Written, None),
                Err(e) => (false, Some(e)),
            },
        };
        let updated = |r: &&mut ObjectReport| r.outcome == Outcome::Updated;
        match &sink_error {
            None => {
                if !written {
                    // The sink already held exactly this set (a restarted process, another
                    // `keyway sync` of the same vault): what was read changed nothing there.
                    for r in reports.iter_mut().filter(updated) {
                        r.outcome = Outcome::Unchanged;
                    }
                }
                self.remember(state, &reports, updates);
            }
            Some(error) => {
                // Not published: the sink keeps its previous set, and so does the syncer.
                for r in reports.iter_mut().filter(updated) {
                    r.outcome = Outcome::Failed;
                    r.error = Some(error.to_string());
                    r.kept_previous = true;
                }
            }
        }
        Committed {
            reports,
            bytes: set.bytes(),
            written,
            sink_error,
        }
    }

    /// After a commit the sink took: what was read becomes what is synced, and paths no object
    /// reported on this cycle (an object dropped from the spec, a history grown shorter) are
    /// forgotten, in the syncer's memory and in what it read from the sink.
    fn remember(
        &self,
        state: &mut State,
        reports: &[ObjectReport],
        updates: BTreeMap<String, Synced>,
    ) {
        let spec = Outputs::of(&self.spec.objects);
        let mut wanted = Outputs::default();
        for r in reports {
            wanted.add(&r.output, spec.has_history(&r.output));
        }
        state.synced.extend(
            updates
                .into_iter()
                .map(|(path, synced)| (path.into_boxed_str(), synced)),
        );
        state.synced.retain(|path, _| wanted.own(path));
        if let Some(held) = &mut state.held {
            held.files.retain(|path, _| wanted.own(path));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use time::OffsetDateTime;

    use super::*;
    use crate::error::Result;
    use crate::model::objects::KeyVaultObject;
    use crate::model::spec::SyncSpec;
    use crate::sink::{FileSet, MemorySink, SecretSink, SyncedFile};
    use crate::source::{MemorySource, SecretProperties};
    use crate::syncer::report::report;
    use crate::syncer::state::{ChangeKey, Findings};

    /// A sink that refuses every write.
    #[derive(Debug)]
    struct Refusing;

    #[async_trait::async_trait]
    impl SecretSink for Refusing {
        async fn apply(&self, _: &FileSet) -> Result<Applied> {
            Err(SyncError::sink("t", "full"))
        }
        async fn current(&self) -> Result<FileSet> {
            Ok(FileSet::default())
        }
    }

    fn assembled(syncer: &Syncer, outputs: &[&str]) -> Assembled {
        let object = &syncer.spec.objects[0];
        let synced = |text: &str| Synced {
            key: ChangeKey::of(&SecretProperties::default(), OffsetDateTime::now_utc()),
            file: SyncedFile::new(text),
            findings: Findings::default(),
        };
        let updates: BTreeMap<String, Synced> =
            outputs.iter().map(|o| (o.to_string(), synced(o))).collect();
        Assembled {
            reports: outputs
                .iter()
                .map(|o| report(object, o, Outcome::Updated, None))
                .collect(),
            set: FileSet {
                files: updates
                    .iter()
                    .map(|(p, s)| (p.clone(), s.file.clone()))
                    .collect(),
            },
            updates,
            unreadable: None,
        }
    }

    fn syncer(sink: Arc<dyn SecretSink>) -> Syncer {
        let spec = SyncSpec::new(
            "https://v.vault.azure.net",
            vec![KeyVaultObject::secret("a"), KeyVaultObject::secret("b")],
        )
        .unwrap();
        Syncer::new(spec, Arc::new(MemorySource::new()), sink)
    }

    /// Commit changes the syncer's memory only when the sink took the set: a refused write
    /// turns updates into failures that kept the previous data, and remembers nothing; a
    /// taken one remembers what was read and forgets outputs no longer reported; the same set
    /// again is unchanged, not updated.
    #[tokio::test]
    async fn commit_remembers_only_what_the_sink_took() {
        let refusing = syncer(Arc::new(Refusing));
        let mut state = State::default();
        let committed = refusing
            .commit(&mut state, assembled(&refusing, &["a"]))
            .await;
        assert!(!committed.written);
        assert_eq!(
            committed
                .sink_error
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("writing t: full")
        );
        assert_eq!(committed.reports[0].outcome, Outcome::Failed);
        assert!(committed.reports[0].kept_previous);
        assert!(state.synced.is_empty(), "nothing remembered");

        let sink = Arc::new(MemorySink::new());
        let taking = syncer(sink.clone());
        let committed = taking
            .commit(&mut state, assembled(&taking, &["a", "b"]))
            .await;
        assert!(committed.written && committed.sink_error.is_none());
        assert_eq!(committed.reports[0].outcome, Outcome::Updated);
        assert_eq!(
            state.synced.keys().map(|k| &**k).collect::<Vec<_>>(),
            ["a", "b"]
        );

        let committed = taking.commit(&mut state, assembled(&taking, &["a"])).await;
        assert!(committed.written, "b left the set");
        assert_eq!(
            state.synced.keys().map(|k| &**k).collect::<Vec<_>>(),
            ["a"],
            "b forgotten"
        );
        let again = taking.commit(&mut state, assembled(&taking, &["a"])).await;
        assert!(!again.written);
        assert_eq!(again.reports[0].outcome, Outcome::Unchanged);
        assert_eq!(sink.writes(), 2);
    }

    /// An empty set is never published, and one that would drop a failed object's data is not
    /// either.
    #[tokio::test]
    async fn commit_publishes_no_empty_set_and_nothing_when_unreadable() {
        let sink = Arc::new(MemorySink::new());
        let syncer = syncer(sink.clone());
        let mut state = State::default();
        let committed = syncer.commit(&mut state, assembled(&syncer, &[])).await;
        assert!(!committed.written && committed.sink_error.is_none());
        let mut unreadable = assembled(&syncer, &["a"]);
        unreadable.unreadable = Some(SyncError::sink("b", "it failed"));
        let committed = syncer.commit(&mut state, unreadable).await;
        assert_eq!(
            committed
                .sink_error
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("writing b: it failed")
        );
        assert_eq!(committed.reports[0].outcome, Outcome::Failed);
        assert_eq!(sink.writes(), 0);
        assert!(state.synced.is_empty());
    }
}
