//! What a syncer remembers between cycles, and the indexes every stage looks things up in.
//!
//! Everything is keyed by output path in ordered maps, so an object's entries — its output,
//! or with a version history `output/0`, `output/1`, … — are one exact lookup plus one range,
//! never a scan of every path.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use keyway_cert::Finding;
use time::OffsetDateTime;

use crate::model::objects::KeyVaultObject;
use crate::sink::{FileSet, SyncedFile};
use crate::source::SecretProperties;

/// What identifies the content of a synced object without reading it. A syncer keeps one per
/// object it synced (50,000 at 5,000 SecretSyncs of 10 objects), so it holds only what the
/// comparison with a listing needs, in whole seconds (Key Vault's resolution), and a Key Vault
/// version as its 16 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ChangeKey {
    version: Option<Version>,
    /// `updated`, in Unix seconds (when `has_updated`).
    updated: i64,
    has_updated: bool,
    /// Whether the second of `updated` had passed when the value was fetched.
    settled: bool,
    enabled: bool,
    content_type: Option<Box<str>>,
}

impl ChangeKey {
    pub(super) fn of(p: &SecretProperties, fetched_at: OffsetDateTime) -> ChangeKey {
        let updated = p.updated.map(OffsetDateTime::unix_timestamp);
        ChangeKey {
            version: p.version.as_deref().map(Version::of),
            updated: updated.unwrap_or_default(),
            has_updated: updated.is_some(),
            settled: updated.is_some_and(|u| u < fetched_at.unix_timestamp()),
            enabled: p.enabled,
            content_type: p.content_type.as_deref().map(Box::from),
        }
    }

    /// The version fetched, when the answer named one.
    pub(super) fn version(&self) -> Option<String> {
        self.version.as_ref().map(Version::to_string)
    }

    /// Whether the version fetched is `version`.
    pub(super) fn is_version(&self, version: &str) -> bool {
        self.version.as_ref().is_some_and(|v| v.is(version))
    }

    fn updated(&self) -> Option<i64> {
        self.has_updated.then_some(self.updated)
    }

    /// Listings carry no version, and `updated` has one-second resolution: the listing proves
    /// nothing changed only when it shows the same `updated` as the fetched version and that
    /// second had passed before the fetch (a later write in the same second would look the
    /// same). Otherwise the object is read again; identical content is not rewritten.
    pub(super) fn same_listing(&self, listed: &SecretProperties) -> bool {
        self.settled
            && self.updated() == listed.updated.map(OffsetDateTime::unix_timestamp)
            && self.enabled == listed.enabled
            && self.content_type.as_deref() == listed.content_type.as_deref()
    }
}

/// A version id as a syncer remembers it: Key Vault's, 32 lowercase hex digits, as the 16 bytes
/// they spell (no allocation); any other exactly as given.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Version {
    Hex([u8; 16]),
    Text(Box<str>),
}

impl Version {
    fn of(text: &str) -> Version {
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        let mut bytes = [0u8; 16];
        let hex = text.len() == 32
            && text
                .as_bytes()
                .chunks(2)
                .zip(&mut bytes)
                .all(|(pair, byte)| match (digit(pair[0]), digit(pair[1])) {
                    (Some(high), Some(low)) => {
                        *byte = high << 4 | low;
                        true
                    }
                    _ => false,
                });
        if hex {
            Version::Hex(bytes)
        } else {
            Version::Text(text.into())
        }
    }

    /// Whether this is `text`, exactly.
    fn is(&self, text: &str) -> bool {
        match self {
            Version::Text(own) => **own == *text,
            Version::Hex(_) => *self == Version::of(text),
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Version::Hex(bytes) => bytes.iter().try_for_each(|b| write!(f, "{b:02x}")),
            Version::Text(text) => f.write_str(text),
        }
    }
}

/// What was last synced at one output path.
#[derive(Debug, Clone)]
pub(super) struct Synced {
    pub(super) key: ChangeKey,
    pub(super) file: SyncedFile,
    /// What validation found when it was fetched, reported again while it stays unchanged.
    pub(super) findings: Findings,
}

/// What validation found, as a record keeps it: one thin pointer (a record's size counts
/// 50,000 times), and no allocation when nothing was found (the usual case).
#[derive(Debug, Clone, Default)]
pub(super) struct Findings(Option<Box<Box<[Finding]>>>);

impl From<Vec<Finding>> for Findings {
    fn from(findings: Vec<Finding>) -> Findings {
        Findings((!findings.is_empty()).then(|| Box::new(findings.into_boxed_slice())))
    }
}

impl Findings {
    pub(super) fn to_vec(&self) -> Vec<Finding> {
        self.0.as_deref().map(|f| f.to_vec()).unwrap_or_default()
    }
}

/// A syncer's memory, changed only by a successful commit (and the two caches below).
#[derive(Debug, Default)]
pub(super) struct State {
    /// output path → what was last synced there
    pub(super) synced: BTreeMap<Box<str>, Synced>,
    /// What the sink held when this syncer first needed it: read once, when an object fails
    /// that the syncer never fetched (after a restart), and kept for such objects.
    pub(super) held: Option<FileSet>,
    /// The forbidden listing was logged once already.
    pub(super) fallback_reported: bool,
}

impl State {
    /// What was last synced at `path`.
    pub(super) fn synced(&self, path: &str) -> Option<&Synced> {
        self.synced.get(path)
    }

    /// The findings last reported for `path`.
    pub(super) fn findings(&self, path: &str) -> Vec<Finding> {
        self.synced(path)
            .map(|s| s.findings.to_vec())
            .unwrap_or_default()
    }

    /// Whether this syncer holds previous data for an object's `output` (or, with `history`,
    /// for any of its `output/<i>` entries).
    pub(super) fn holds(&self, output: &str, history: bool) -> bool {
        owned(&self.synced, output, history).next().is_some()
    }
}

/// The entries of `map` that belong to an object's `output`: the output itself and, for an
/// object with version history, its `output/<i>` entries — an exact lookup and one range.
pub(super) fn owned<'m, K: Borrow<str> + Ord, V>(
    map: &'m BTreeMap<K, V>,
    output: &str,
    history: bool,
) -> impl Iterator<Item = (&'m K, &'m V)> {
    let exact = map.get_key_value(output);
    // Every path starting with `output/` sorts between `output/` and `output0` ('0' follows '/').
    let entries = history.then(|| {
        let (from, to) = (format!("{output}/"), format!("{output}0"));
        let index_at = from.len();
        map.range::<str, _>((Bound::Excluded(from.as_str()), Bound::Excluded(to.as_str())))
            .filter(move |(path, _)| {
                let path: &str = (*path).borrow();
                path.as_bytes()[index_at..].iter().all(u8::is_ascii_digit)
            })
    });
    exact.into_iter().chain(entries.into_iter().flatten())
}

/// `(output, i)` when `path` is a history entry `output/<i>` (`i` all digits).
fn history_index(path: &str) -> Option<(&str, &str)> {
    path.rsplit_once('/')
        .filter(|(_, i)| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// Output names, indexed: which outputs there are and whether any object writing one keeps a
/// version history (so `output/<i>` paths belong to it).
#[derive(Debug, Default)]
pub(super) struct Outputs<'a> {
    history: HashMap<&'a str, bool>,
}

impl<'a> Outputs<'a> {
    /// The outputs of `objects`.
    pub(super) fn of(objects: &'a [KeyVaultObject]) -> Outputs<'a> {
        let mut outputs = Outputs::default();
        for o in objects {
            outputs.add(o.output_name(), o.history().is_some());
        }
        outputs
    }

    /// Adds `output`, with history when `history` (or already so).
    pub(super) fn add(&mut self, output: &'a str, history: bool) {
        *self.history.entry(output).or_default() |= history;
    }

    /// Whether `output` is an object's output with version history (`output/<i>` entries).
    pub(super) fn has_history(&self, output: &str) -> bool {
        self.history.get(output).copied().unwrap_or(false)
    }

    /// Whether `path` belongs to one of the outputs: it is one, or it is `output/<i>` of one
    /// with history.
    pub(super) fn own(&self, path: &str) -> bool {
        self.history.contains_key(path)
            || history_index(path).is_some_and(|(output, _)| self.has_history(output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A syncer keeps one record per synced object; at 5,000 SecretSyncs of 10 objects that is
    /// 50,000 records, so each byte of one is 50 KB of the controller's heap (with their map
    /// slots, versions and paths they were 8.3 MiB of a 55-MiB peak heap there, and 6.0 MiB at
    /// 96 bytes a record: docs/benchmarks.md, "Fleet scale, sixth pass").
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_synced_record_stays_small() {
        assert!(size_of::<ChangeKey>() <= 56, "{}", size_of::<ChangeKey>());
        assert!(size_of::<Synced>() <= 96, "{}", size_of::<Synced>());
    }

    /// A Key Vault version is kept as its bytes and given back as it was; anything else (an
    /// upper-case or shorter id) is kept as it is, and the two never compare equal.
    #[test]
    fn versions_come_back_exactly() {
        let vault = "0123456789abcdef0123456789abcdef";
        let upper = "0123456789ABCDEF0123456789ABCDEF";
        assert_eq!(
            Version::of(vault),
            Version::Hex(*b"\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef")
        );
        for text in [
            vault,
            upper,
            "v1",
            "",
            "0123456789abcdef0123456789abcdeg",
            "é",
        ] {
            let version = Version::of(text);
            assert_eq!(version.to_string(), text);
            assert!(version.is(text), "{text}");
        }
        assert!(matches!(Version::of(upper), Version::Text(_)));
        assert!(!Version::of(vault).is(upper) && !Version::of(upper).is(vault));
        assert!(!Version::of(vault).is("v1"));
    }

    /// A listing shows the same content only at the fetched `updated`, after its second had
    /// passed at the fetch, and with the same enabled flag and content type.
    #[test]
    fn a_listing_proves_nothing_changed_only_after_the_second_of_the_fetch() {
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let listed = SecretProperties {
            updated: Some(at),
            enabled: true,
            content_type: Some("application/x-pem-file".into()),
            ..SecretProperties::default()
        };
        let later = at + time::Duration::seconds(1);
        assert!(ChangeKey::of(&listed, later).same_listing(&listed));
        // Fetched within the second of the update: a second write in it would look the same.
        let within = at + time::Duration::milliseconds(900);
        assert!(!ChangeKey::of(&listed, within).same_listing(&listed));
        for other in [
            SecretProperties {
                updated: Some(later),
                ..listed.clone()
            },
            SecretProperties {
                enabled: false,
                ..listed.clone()
            },
            SecretProperties {
                content_type: None,
                ..listed.clone()
            },
            SecretProperties {
                updated: None,
                ..listed.clone()
            },
        ] {
            assert!(
                !ChangeKey::of(&listed, later).same_listing(&other),
                "{other:?}"
            );
        }
    }

    /// The range lookup finds exactly what a scan with the ownership rule finds: the output,
    /// and its numbered entries only with history, never a sibling that shares a prefix.
    #[test]
    fn owned_is_the_output_and_its_numbered_entries() {
        let map: BTreeMap<String, ()> = [
            "db", "db/0", "db/1", "db/10", "db/x", "db/0/1", "db-old", "db0", "dbx/0", "d",
        ]
        .into_iter()
        .map(|p| (p.to_string(), ()))
        .collect();
        let paths = |history| -> Vec<&str> {
            owned(&map, "db", history)
                .map(|(p, _)| p.as_str())
                .collect()
        };
        assert_eq!(paths(false), ["db"]);
        assert_eq!(paths(true), ["db", "db/0", "db/1", "db/10"]);
        assert_eq!(owned(&map, "nothing", true).count(), 0);
        // The same with the keys a syncer's state has.
        let boxed: BTreeMap<Box<str>, ()> = map.keys().map(|p| (p.as_str().into(), ())).collect();
        let boxed_paths: Vec<&str> = owned(&boxed, "db", true).map(|(p, _)| &**p).collect();
        assert_eq!(boxed_paths, paths(true));

        let mut outputs = Outputs::default();
        outputs.add("db", true);
        outputs.add("api", false);
        let owned_paths: Vec<&str> = map
            .keys()
            .map(String::as_str)
            .filter(|p| outputs.own(p))
            .collect();
        assert_eq!(owned_paths, ["db", "db/0", "db/1", "db/10"]);
        assert!(outputs.own("api") && !outputs.own("api/0"));
    }
}
