//! What a cycle reports: one [`ObjectReport`] per output, gathered in a [`SyncReport`].

use std::collections::HashMap;

use keyway_cert::Finding;
use serde::Serialize;

use crate::error::{SourceFailure, SyncError};
use crate::model::objects::KeyVaultObject;
use crate::source::CallCounts;

use super::state::State;

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
    /// The sink could not be written (the previous set stays): a [`SyncError::Invalid`] when the
    /// objects cannot give what the target needs (a `kubernetes.io/tls` Secret's key), else why
    /// writing failed. Serialized as its text.
    #[serde(serialize_with = "as_text")]
    pub sink_error: Option<SyncError>,
    /// Listing was forbidden, so every object was read.
    pub listing_fallback: bool,
    /// Wall time of the cycle, in milliseconds.
    pub duration_ms: u64,
}

/// A sink error in a report as its text: reports are printed and sent as JSON.
fn as_text<S: serde::Serializer>(
    error: &Option<SyncError>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    match error {
        Some(e) => serializer.collect_str(e),
        None => serializer.serialize_none(),
    }
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

/// A report of `outcome` for `output` of `object`, without error or findings.
pub(super) fn report(
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

/// An unchanged `output`, with the findings it was last fetched with.
pub(super) fn unchanged(
    object: &KeyVaultObject,
    output: &str,
    version: Option<String>,
    state: &State,
) -> ObjectReport {
    ObjectReport {
        findings: state.findings(output),
        ..report(object, output, Outcome::Unchanged, version)
    }
}

/// A failed `output`: the error, its kind, and whether the syncer holds previous data for it.
pub(super) fn failed(
    object: &KeyVaultObject,
    output: &str,
    error: &SyncError,
    state: &State,
) -> ObjectReport {
    let failure = match error {
        SyncError::Source { failure, .. } => Some(*failure),
        _ => None,
    };
    ObjectReport {
        error: Some(error.to_string()),
        failure,
        kept_previous: state.holds(output, object.history().is_some()),
        ..report(object, output, Outcome::Failed, None)
    }
}

/// Reports in spec order (history entries in index order), whatever order work finished in.
pub(super) fn order(objects: &[KeyVaultObject], reports: Vec<ObjectReport>) -> Vec<ObjectReport> {
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
