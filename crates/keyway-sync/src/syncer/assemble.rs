//! Stage 3, assemble: each value read converted as its object asks (the provider's bytes, with
//! keyway-cert's findings), compared with what its output holds, and the whole set put
//! together — new content where read, previous content everywhere else that is still wanted.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::convert::{Converted, convert};
use crate::error::{Result, SyncError};
use crate::model::objects::KeyVaultObject;
use crate::sink::{FileSet, SyncedFile};
use crate::source::SecretProperties;

use super::Syncer;
use super::fetch::{Fetched, Reads};
use super::report::{ObjectReport, Outcome, failed, report};
use super::state::{ChangeKey, Outputs, State, Synced, owned};

/// What the assemble stage put together, not yet published.
pub(super) struct Assembled {
    /// One per output: the plan's decisions, then the reads' outcomes.
    pub(super) reports: Vec<ObjectReport>,
    /// The whole set to publish.
    pub(super) set: FileSet,
    /// What was read this cycle, by output path: what the syncer remembers once it is
    /// committed.
    pub(super) updates: BTreeMap<String, Synced>,
    /// Why the set must not be published: an object failed that this syncer never read, and
    /// what the sink holds for it could not be read to keep it.
    pub(super) unreadable: Option<SyncError>,
}

/// A value read, converted as `object` asks: the properties of the version read and the bytes
/// its output holds (a key object: the public key as PEM).
fn convert_read(
    object: &KeyVaultObject,
    fetched: Fetched,
    now: OffsetDateTime,
) -> Result<(SecretProperties, Converted)> {
    match fetched {
        Fetched::Secret(value) => {
            let converted = convert(object, &value, now)?;
            Ok((value.properties, converted))
        }
        Fetched::Key(key) => {
            let pem = key
                .public_key
                .to_pem()
                .map_err(|e| SyncError::convert(&object.name, e.to_string()).with_cause(e))?;
            let converted = Converted {
                contents: zeroize::Zeroizing::new(pem.into_bytes()),
                findings: Vec::new(),
            };
            Ok((key.properties, converted))
        }
    }
}

impl Syncer {
    /// Stage 3: the reads converted and reported, and the whole set assembled. `now` is when
    /// the cycle started (certificate validity is judged at it).
    pub(super) async fn assemble(
        &self,
        state: &mut State,
        decided: Vec<ObjectReport>,
        reads: Reads<'_>,
        now: OffsetDateTime,
    ) -> Assembled {
        let mut reports = decided;
        let mut updates = BTreeMap::new();
        for (want, result) in reads.reads {
            let (properties, converted) =
                match result.and_then(|fetched| convert_read(want.object, fetched, now)) {
                    Ok(read) => read,
                    Err(e) => {
                        reports.push(failed(want.object, &want.output, &e, state));
                        continue;
                    }
                };
            let file = SyncedFile {
                contents: converted.contents,
                mode: want.object.file_permission,
            };
            let outcome = if self.already_there(state, &want.output, &file).await {
                Outcome::Unchanged
            } else {
                Outcome::Updated
            };
            let version = properties.version.clone();
            reports.push(ObjectReport {
                findings: converted.findings.clone(),
                ..report(want.object, &want.output, outcome, version)
            });
            let synced = Synced {
                key: ChangeKey::of(&properties, reads.fetched_at),
                file,
                findings: converted.findings.into(),
            };
            updates.insert(want.output, synced);
        }
        let (set, unreadable) = self.whole_set(state, &mut reports, &updates).await;
        Assembled {
            reports,
            set,
            updates,
            unreadable,
        }
    }

    /// Whether `output` holds `file` already: what this syncer last synced there or, for an
    /// output it never synced (a new process, a restart), what the sink holds — the same bytes
    /// there are no update.
    async fn already_there(&self, state: &mut State, output: &str, file: &SyncedFile) -> bool {
        if let Some(synced) = state.synced(output) {
            return synced.file == *file;
        }
        self.held(state)
            .await
            .is_ok_and(|held| held.files.get(output) == Some(file))
    }

    /// What the sink held when this syncer first asked (read once, kept while it reads).
    async fn held<'s>(&self, state: &'s mut State) -> Result<&'s FileSet> {
        let held = match state.held.take() {
            Some(held) => held,
            None => self.sink.current().await?,
        };
        Ok(state.held.insert(held))
    }

    /// The whole set: new content where read, previous content everywhere else that is still
    /// wanted (a failure never removes or blanks anything). An object that failed before this
    /// syncer ever read it (a restart during an outage) keeps what the sink holds for it, and
    /// its report says so; when that cannot be read, the reason is returned and the set must not
    /// be published (it would drop the object).
    async fn whole_set(
        &self,
        state: &mut State,
        reports: &mut [ObjectReport],
        updates: &BTreeMap<String, Synced>,
    ) -> (FileSet, Option<SyncError>) {
        let outputs = Outputs::of(&self.spec.objects);
        let mut set = FileSet::default();
        let mut unreadable = None;
        for r in reports.iter_mut() {
            let output = r.output.as_str();
            let history = outputs.has_history(output);
            if let Some(synced) = updates.get(output) {
                set.files.insert(output.to_string(), synced.file.clone());
                continue;
            }
            if r.outcome != Outcome::Failed || state.holds(output, history) {
                let previous = owned(&state.synced, output, history);
                set.files
                    .extend(previous.map(|(path, synced)| (path.to_string(), synced.file.clone())));
                continue;
            }
            let held = match self.held(state).await {
                Ok(held) => held,
                Err(e) => {
                    let reason = format!(
                        "it failed and what the sink holds for it could not be read to keep it, \
                         so nothing was written ({e})"
                    );
                    unreadable = Some(SyncError::sink(output, reason).with_cause(e));
                    continue;
                }
            };
            for (path, file) in owned(&held.files, output, history) {
                set.files.insert(path.clone(), file.clone());
                r.kept_previous = true;
            }
        }
        (set, unreadable)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::spec::SyncSpec;
    use crate::sink::{MemorySink, SecretSink};
    use crate::source::MemorySource;
    use crate::syncer::state::Findings;

    fn file(text: &str) -> SyncedFile {
        SyncedFile::new(text)
    }

    /// Assemble keeps every output's previous data: a failed object the syncer read before
    /// keeps its own, one it never read keeps what the sink holds (and says so), an unchanged
    /// history keeps all its entries; nothing not wanted (another output's `/0`) slips in.
    #[tokio::test]
    async fn assemble_keeps_previous_data_for_every_failure() {
        let mut hist = KeyVaultObject::secret("hist");
        hist.version_history = Some(2);
        let objects = vec![
            KeyVaultObject::secret("fresh"),
            KeyVaultObject::secret("known"),
            KeyVaultObject::secret("restarted"),
            hist.clone(),
        ];
        let spec = SyncSpec::new("https://v.vault.azure.net", objects.clone()).unwrap();
        let sink = Arc::new(MemorySink::new());
        sink.apply(&FileSet {
            files: BTreeMap::from([
                ("restarted".into(), file("held")),
                ("restarted/0".into(), file("not an entry of a plain object")),
            ]),
        })
        .await
        .unwrap();
        let source = Arc::new(MemorySource::new());
        source.set("fresh", "new", None, &[]);
        let syncer = Syncer::new(spec, source.clone(), sink);

        let mut state = State::default();
        let remembered = |text: &str| Synced {
            key: ChangeKey::of(&SecretProperties::default(), OffsetDateTime::now_utc()),
            file: file(text),
            findings: Findings::default(),
        };
        for (path, text) in [("known", "k"), ("hist/0", "h0"), ("hist/1", "h1")] {
            state.synced.insert(path.into(), remembered(text));
        }
        let down = SyncError::source_failure("x", crate::SourceFailure::Unavailable, None, "down");
        let decided = vec![
            failed(&objects[1], "known", &down, &state),
            failed(&objects[2], "restarted", &down, &state),
            report(&hist, "hist", Outcome::Unchanged, None),
        ];
        let reads = syncer
            .fetch(vec![super::super::plan::Want {
                object: &objects[0],
                output: "fresh".into(),
                version: None,
            }])
            .await;

        let assembled = syncer
            .assemble(&mut state, decided, reads, OffsetDateTime::now_utc())
            .await;

        let set: Vec<(&str, &[u8])> = assembled
            .set
            .files
            .iter()
            .map(|(p, f)| (p.as_str(), &f.contents[..]))
            .collect();
        assert_eq!(
            set,
            [
                ("fresh", &b"new"[..]),
                ("hist/0", b"h0"),
                ("hist/1", b"h1"),
                ("known", b"k"),
                ("restarted", b"held"),
            ]
        );
        assert_eq!(assembled.unreadable, None);
        let kept: Vec<(&str, bool)> = assembled
            .reports
            .iter()
            .map(|r| (r.output.as_str(), r.kept_previous))
            .collect();
        assert_eq!(
            kept,
            [
                ("known", true),
                ("restarted", true),
                ("hist", false),
                ("fresh", false)
            ]
        );
        assert_eq!(
            assembled.reports[3].outcome,
            Outcome::Updated,
            "new content is an update"
        );
        assert_eq!(
            assembled.updates.keys().collect::<Vec<_>>(),
            ["fresh"],
            "only what was read is remembered"
        );
    }
}
