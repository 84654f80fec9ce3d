//! Stage 1, plan: from one listing per kind (and a version listing per history object), what
//! can have changed since the last read. Every object ends here as decided — unchanged, with
//! the findings it was last read with, or failed (missing, disabled, not listable) — or as a
//! [`Want`]: one output path to read at one version.

use std::collections::HashMap;

use crate::error::{SourceFailure, SyncError};
use crate::model::objects::{KeyVaultObject, ObjectType};
use crate::source::SecretProperties;

use super::Syncer;
use super::report::{ObjectReport, failed, unchanged};
use super::state::State;

/// One output path of one object to read this cycle.
pub(super) struct Want<'a> {
    pub(super) object: &'a KeyVaultObject,
    pub(super) output: String,
    /// The version to read; the newest when `None`.
    pub(super) version: Option<String>,
}

/// What the plan stage decided.
pub(super) struct Plan<'a> {
    /// Outputs decided without reading a value: unchanged or failed.
    pub(super) decided: Vec<ObjectReport>,
    /// Outputs to read.
    pub(super) fetch: Vec<Want<'a>>,
    /// Listing was forbidden, so every object following the newest version is read.
    pub(super) listing_fallback: bool,
}

impl<'a> Plan<'a> {
    fn fetch(&mut self, object: &'a KeyVaultObject, output: String, version: Option<String>) {
        self.fetch.push(Want {
            object,
            output,
            version,
        });
    }
}

/// Secrets and keys are listed apart; certificates are read as secrets.
fn is_key(kind: ObjectType) -> bool {
    kind == ObjectType::Key
}

/// An object that follows its newest version: what a listing can tell about.
fn follows_newest(o: &KeyVaultObject) -> bool {
    o.version.is_none() && o.history().is_none()
}

/// A source failure found by planning, for `object`.
fn not_readable(object: &KeyVaultObject, failure: SourceFailure, message: &str) -> SyncError {
    SyncError::source_failure(&object.name, failure, None, message)
}

/// One kind's listing this cycle, reduced to the spec's objects of that kind.
#[derive(Default)]
struct Listing {
    /// Lowercase name → properties of the newest version.
    map: Option<HashMap<String, SecretProperties>>,
    error: Option<SyncError>,
    /// Listing is forbidden: objects of this kind are read every cycle.
    fallback: bool,
}

impl Syncer {
    /// Stage 1: every object decided or wanted, in spec order.
    pub(super) async fn plan(&self, state: &mut State) -> Plan<'_> {
        let secrets = self.listing(ObjectType::Secret, state).await;
        let keys = self.listing(ObjectType::Key, state).await;
        let mut plan = Plan {
            decided: Vec::new(),
            fetch: Vec::new(),
            listing_fallback: secrets.fallback || keys.fallback,
        };
        for object in &self.spec.objects {
            if let Some(n) = object.history() {
                self.plan_history(object, n, state, &mut plan).await;
            } else if let Some(pinned) = &object.version {
                plan_pinned(object, pinned, state, &mut plan);
            } else {
                let listing = if is_key(object.object_type) {
                    &keys
                } else {
                    &secrets
                };
                plan_newest(object, listing, state, &mut plan);
            }
        }
        plan
    }

    /// The listing of `kind` when some object of that kind follows the newest version; only
    /// the spec's objects are kept (a listing can hold thousands of secrets many syncers share).
    async fn listing(&self, kind: ObjectType, state: &mut State) -> Listing {
        let of_kind = || {
            self.spec
                .objects
                .iter()
                .filter(move |o| is_key(o.object_type) == is_key(kind))
        };
        if !of_kind().any(follows_newest) {
            return Listing::default();
        }
        // Secrets: the source's shared listing, not a copy of it (thousands of entries that
        // many syncers read); only this spec's entries are kept.
        let listed = if is_key(kind) {
            self.source.list_keys().await.map(std::sync::Arc::new)
        } else {
            self.source.list_shared().await
        };
        match listed {
            Ok(all) => {
                let names: Vec<&str> = of_kind().map(|o| o.name.as_str()).collect();
                let map = all
                    .iter()
                    .filter(|p| names.iter().any(|n| n.eq_ignore_ascii_case(&p.name)))
                    .map(|p| (p.name.to_ascii_lowercase(), p.clone()))
                    .collect();
                Listing {
                    map: Some(map),
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

    /// An object with version history: its versions listed, the N newest enabled ones (from
    /// the pinned version when there is one) at `output/<i>`, each read unless that path
    /// already holds that version.
    async fn plan_history<'a>(
        &self,
        object: &'a KeyVaultObject,
        n: u32,
        state: &State,
        plan: &mut Plan<'a>,
    ) {
        let output = object.output_name();
        if is_key(object.object_type) {
            let e = SyncError::invalid(
                format!("objects[{}].objectVersionHistory", object.name),
                "is not supported for objectType key yet",
            );
            plan.decided.push(failed(object, output, &e, state));
            return;
        }
        let versions = match self.source.versions(&object.name).await {
            Ok(versions) => versions,
            Err(e) => return plan.decided.push(failed(object, output, &e, state)),
        };
        let versions = history_versions(&versions, object.version.as_deref(), n as usize);
        if versions.is_empty() && object.version.is_some() {
            let e = not_readable(
                object,
                SourceFailure::NotFound,
                "the pinned objectVersion is not among the enabled versions, so there is no \
                 history to start from",
            );
            return plan.decided.push(failed(object, output, &e, state));
        }
        for (i, v) in versions.into_iter().enumerate() {
            let path = format!("{output}/{i}");
            let held = v
                .version
                .as_deref()
                .is_some_and(|v| state.synced(&path).is_some_and(|s| s.key.is_version(v)));
            if held {
                plan.decided
                    .push(unchanged(object, &path, v.version.clone(), state));
            } else {
                plan.fetch(object, path, v.version.clone());
            }
        }
    }
}

/// The versions a history writes: newest first, disabled versions skipped, from `pinned` when
/// there is one (the older ones following), at most `n`. N files, where the provider writes
/// N+1 (an off-by-one in its loop; see the docs).
fn history_versions<'v>(
    versions: &'v [SecretProperties],
    pinned: Option<&str>,
    n: usize,
) -> Vec<&'v SecretProperties> {
    let enabled = versions.iter().filter(|v| v.enabled);
    match pinned {
        None => enabled.take(n).collect(),
        Some(pinned) => enabled
            .skip_while(|v| v.version.as_deref() != Some(pinned))
            .take(n)
            .collect(),
    }
}

/// A pinned object: read unless its output already holds that version (a pinned version
/// never changes).
fn plan_pinned<'a>(object: &'a KeyVaultObject, pinned: &str, state: &State, plan: &mut Plan<'a>) {
    let output = object.output_name();
    let held = state
        .synced(output)
        .is_some_and(|s| s.key.is_version(pinned));
    if held {
        plan.decided
            .push(unchanged(object, output, Some(pinned.to_string()), state));
    } else {
        plan.fetch(object, output.to_string(), Some(pinned.to_string()));
    }
}

/// An object following its newest version, decided by its kind's listing: failed when the
/// listing failed or shows it missing or disabled, unchanged when the listing shows what was
/// last read, read otherwise (also when listing is forbidden).
fn plan_newest<'a>(
    object: &'a KeyVaultObject,
    listing: &Listing,
    state: &State,
    plan: &mut Plan<'a>,
) {
    let output = object.output_name();
    if let Some(e) = &listing.error {
        return plan.decided.push(failed(object, output, e, state));
    }
    let Some(map) = &listing.map else {
        return plan.fetch(object, output.to_string(), None);
    };
    match map.get(&object.name.to_ascii_lowercase()) {
        None => {
            let e = not_readable(
                object,
                SourceFailure::NotFound,
                "not in the vault's listing",
            );
            plan.decided.push(failed(object, output, &e, state));
        }
        Some(listed) if !listed.enabled => {
            let e = not_readable(
                object,
                SourceFailure::Disabled,
                "the newest version is disabled",
            );
            plan.decided.push(failed(object, output, &e, state));
        }
        Some(listed) => match state.synced(output) {
            Some(synced) if synced.key.same_listing(listed) => {
                let version = synced.key.version();
                plan.decided.push(unchanged(object, output, version, state));
            }
            _ => plan.fetch(object, output.to_string(), None),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use time::OffsetDateTime;

    use super::*;
    use crate::model::spec::SyncSpec;
    use crate::sink::{MemorySink, SyncedFile};
    use crate::source::{MemorySource, SecretSource};
    use crate::syncer::report::Outcome;
    use crate::syncer::state::{ChangeKey, Findings, Synced};

    fn remembered(properties: &SecretProperties, fetched_at: OffsetDateTime) -> Synced {
        Synced {
            key: ChangeKey::of(properties, fetched_at),
            file: SyncedFile::new(b"old"),
            findings: Findings::default(),
        }
    }

    /// Plan reads only what can have changed: of a newest-version object, one whose listing
    /// shows a newer `updated` than was read; of a pinned object, one not yet held at that
    /// version; of a history, the entries holding another version. Missing and disabled
    /// objects fail without a read, and only one listing call is made.
    #[tokio::test]
    async fn plan_picks_only_what_changed() {
        let source = Arc::new(MemorySource::new());
        for name in ["same", "rotated", "gone-disabled", "pinned", "hist"] {
            source.set(name, "v1", None, &[]);
        }
        let pinned = source.set("pinned", "v2", None, &[]);
        source.set("hist", "v2", None, &[]);
        source.set_enabled("gone-disabled", false);
        let mut objects: Vec<KeyVaultObject> = ["same", "rotated", "gone-disabled", "missing"]
            .into_iter()
            .map(KeyVaultObject::secret)
            .collect();
        objects.push(KeyVaultObject {
            version: Some(pinned.clone()),
            ..KeyVaultObject::secret("pinned")
        });
        objects.push(KeyVaultObject {
            version_history: Some(2),
            ..KeyVaultObject::secret("hist")
        });
        let spec = SyncSpec::new("https://v.vault.azure.net", objects).unwrap();
        let syncer = Syncer::new(spec, source.clone(), Arc::new(MemorySink::new()));

        // What a previous cycle read, a while after each version was written.
        let later = OffsetDateTime::now_utc() + time::Duration::hours(1);
        let listed = source.list().await.unwrap();
        let props = |name: &str| listed.iter().find(|p| p.name == name).unwrap().clone();
        let versions = source.versions("hist").await.unwrap();
        let mut state = State::default();
        state
            .synced
            .insert("same".into(), remembered(&props("same"), later));
        let mut stale = props("rotated");
        stale.updated = stale.updated.map(|u| u - time::Duration::minutes(5));
        state
            .synced
            .insert("rotated".into(), remembered(&stale, later));
        let pinned_props = SecretProperties {
            version: Some(pinned.clone()),
            ..props("pinned")
        };
        state
            .synced
            .insert("pinned".into(), remembered(&pinned_props, later));
        // hist/0 holds the newest version; hist/1 holds the newest too (it moved down).
        state
            .synced
            .insert("hist/0".into(), remembered(&versions[0], later));
        state
            .synced
            .insert("hist/1".into(), remembered(&versions[0], later));
        let before = source.calls();

        let plan = syncer.plan(&mut state).await;

        let wanted: Vec<(&str, Option<&str>)> = plan
            .fetch
            .iter()
            .map(|w| (w.output.as_str(), w.version.as_deref()))
            .collect();
        assert_eq!(
            wanted,
            [
                ("rotated", None),
                ("hist/1", versions[1].version.as_deref())
            ]
        );
        let decided: Vec<(&str, Outcome)> = plan
            .decided
            .iter()
            .map(|r| (r.output.as_str(), r.outcome))
            .collect();
        assert_eq!(
            decided,
            [
                ("same", Outcome::Unchanged),
                ("gone-disabled", Outcome::Failed),
                ("missing", Outcome::Failed),
                ("pinned", Outcome::Unchanged),
                ("hist/0", Outcome::Unchanged),
            ]
        );
        let failure = |output: &str| {
            plan.decided
                .iter()
                .find(|r| r.output == output)
                .and_then(|r| r.failure)
        };
        assert_eq!(failure("gone-disabled"), Some(SourceFailure::Disabled));
        assert_eq!(failure("missing"), Some(SourceFailure::NotFound));
        assert!(!plan.listing_fallback);
        let after = source.calls();
        assert_eq!(
            (after.list - before.list, after.get - before.get),
            (1, 0),
            "one listing, no read"
        );
    }

    /// History versions: newest first, disabled skipped, from the pinned version on.
    #[test]
    fn history_starts_at_the_pinned_version_and_skips_disabled_ones() {
        let v = |id: &str, enabled: bool| SecretProperties {
            version: Some(id.into()),
            enabled,
            ..SecretProperties::default()
        };
        let versions = [
            v("5", true),
            v("4", false),
            v("3", true),
            v("2", true),
            v("1", true),
        ];
        let ids = |pinned, n| -> Vec<String> {
            history_versions(&versions, pinned, n)
                .iter()
                .filter_map(|p| p.version.clone())
                .collect()
        };
        assert_eq!(ids(None, 3), ["5", "3", "2"]);
        assert_eq!(ids(Some("3"), 2), ["3", "2"]);
        assert_eq!(
            ids(Some("4"), 2),
            Vec::<String>::new(),
            "a disabled pin starts nothing"
        );
    }
}
