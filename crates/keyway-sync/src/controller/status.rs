//! A SecretSync's status in the Secret Store extension's vocabulary: condition types `Create`
//! and `Update`, the extension's reasons, `syncHash` and `lastSuccessfulSyncTime`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde::Serialize;

use crate::error::SyncError;
use crate::model::secret_sync::SecretSyncStatus;
use crate::syncer::{Outcome, SyncReport};

/// The condition type of the first sync, until it succeeds.
pub const CREATE: &str = "Create";
/// The condition type of every later sync.
pub const UPDATE: &str = "Update";

/// The reasons a sync's condition carries (the Secret Store extension's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The Secret was created.
    CreateSucceeded,
    /// A later sync found nothing new.
    UpdateNoValueChangeSucceeded,
    /// A later sync wrote new values (or was forced).
    UpdateValueChangeOrForceUpdateSucceeded,
    /// Some objects failed; they kept their previous values.
    PartialSync,
    /// Key Vault or Entra failed every object.
    ProviderError,
    /// The SecretSync or its SecretProviderClass is invalid.
    UserInputValidationFailed,
    /// The SecretProviderClass could not be read.
    ControllerSpcError,
    /// A label under the reserved prefix.
    InvalidClusterSecretLabelError,
    /// An annotation under the reserved prefix.
    InvalidClusterSecretAnnotationError,
    /// Writing the Secret or the status failed.
    ControllerInternalError,
}

impl Reason {
    /// The reason as the condition spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::CreateSucceeded => "CreateSucceeded",
            Reason::UpdateNoValueChangeSucceeded => "UpdateNoValueChangeSucceeded",
            Reason::UpdateValueChangeOrForceUpdateSucceeded => {
                "UpdateValueChangeOrForceUpdateSucceeded"
            }
            Reason::PartialSync => "PartialSync",
            Reason::ProviderError => "ProviderError",
            Reason::UserInputValidationFailed => "UserInputValidationFailed",
            Reason::ControllerSpcError => "ControllerSpcError",
            Reason::InvalidClusterSecretLabelError => "InvalidClusterSecretLabelError",
            Reason::InvalidClusterSecretAnnotationError => "InvalidClusterSecretAnnotationError",
            Reason::ControllerInternalError => "ControllerInternalError",
        }
    }

    /// Whether this reason reports success.
    pub fn succeeded(self) -> bool {
        matches!(
            self,
            Reason::CreateSucceeded
                | Reason::UpdateNoValueChangeSucceeded
                | Reason::UpdateValueChangeOrForceUpdateSucceeded
        )
    }
}

/// The outcome of one reconcile, before it becomes a status.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Why.
    pub reason: Reason,
    /// For people: what happened and, on failure, the fix. Never a secret value.
    pub message: String,
    /// Whether the Secret was written.
    pub written: bool,
    /// `syncHash` when the sync succeeded (wholly or partly).
    pub sync_hash: Option<String>,
}

/// One object's line in a `PartialSync` message.
#[derive(Serialize)]
struct ItemSummary<'a> {
    name: &'a str,
    output: &'a str,
    outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// The verdict on a cycle's report. `created` says whether the Secret existed before
/// (a `Create` condition already true); `forced`, that the spec changed or a sync was forced
/// (`forceSynchronization`), which counts as an update even when no value changed.
pub fn verdict(report: &SyncReport, created: bool, forced: bool, force_hash: &str) -> Verdict {
    let failed = report.failed();
    let hash = || Some(sync_hash(report, force_hash));
    if let Some(error) = &report.sink_error {
        // The objects cannot give what the Secret needs (a tls Secret's key): the user's input,
        // not the controller's fault.
        let reason = match error {
            SyncError::Invalid { .. } => Reason::UserInputValidationFailed,
            _ => Reason::ControllerInternalError,
        };
        return Verdict {
            reason,
            message: error.to_string(),
            written: false,
            sync_hash: None,
        };
    }
    if failed == report.objects.len() && failed > 0 {
        let first = report.objects.iter().find_map(|o| o.error.as_deref());
        return Verdict {
            reason: Reason::ProviderError,
            message: format!(
                "every object failed; the Secret keeps its previous data: {}",
                first.unwrap_or("unknown error")
            ),
            written: false,
            sync_hash: None,
        };
    }
    if failed > 0 {
        let items: Vec<ItemSummary<'_>> = report
            .objects
            .iter()
            .map(|o| ItemSummary {
                name: &o.name,
                output: &o.output,
                outcome: o.outcome,
                error: o.error.as_deref(),
            })
            .collect();
        return Verdict {
            reason: Reason::PartialSync,
            message: serde_json::to_string(&items).unwrap_or_default(),
            written: report.written,
            sync_hash: hash(),
        };
    }
    let (reason, message) = match (created, report.written || forced) {
        (false, _) => (Reason::CreateSucceeded, "Secret created successfully."),
        (true, true) => (
            Reason::UpdateValueChangeOrForceUpdateSucceeded,
            "Secret updated: new values, a changed spec or a forced sync.",
        ),
        (true, false) => (
            Reason::UpdateNoValueChangeSucceeded,
            "Secret is up to date; no value changed.",
        ),
    };
    Verdict {
        reason,
        message: message.into(),
        written: report.written,
        sync_hash: hash(),
    }
}

/// A hash of what was synced: each object's output and version, and the force token. Built
/// from versions, never from values, so it says nothing about a secret.
pub fn sync_hash(report: &SyncReport, force_hash: &str) -> String {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for object in &report.objects {
        for part in [
            object.output.as_str(),
            object.version.as_deref().unwrap_or(""),
        ] {
            context.update(part.as_bytes());
            context.update(&[0]);
        }
    }
    context.update(force_hash.as_bytes());
    hex::encode(context.finish().as_ref())
}

/// Whether the status says the Secret was created.
pub fn created(status: Option<&SecretSyncStatus>) -> bool {
    status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| (c.type_ == CREATE || c.type_ == "SecretCreated") && c.status == "True")
}

/// The new status: the verdict's condition replaces the one of its type (its transition time
/// kept when the status did not change), `syncHash` and `lastSuccessfulSyncTime` move on
/// success only — and `lastSuccessfulSyncTime` only when the sync wrote, the synced versions
/// moved or the outcome changed, so a quiet poll leaves the status (and the watch) alone.
pub fn next_status(
    current: Option<&SecretSyncStatus>,
    verdict: &Verdict,
    created_before: bool,
    generation: Option<i64>,
    now: Time,
) -> SecretSyncStatus {
    let mut status = current.cloned().unwrap_or_default();
    let kind = if created_before && verdict.reason != Reason::CreateSucceeded {
        UPDATE
    } else {
        CREATE
    };
    let value = if verdict.reason.succeeded() {
        "True"
    } else {
        "False"
    };
    let mut conditions = status.conditions.take().unwrap_or_default();
    let previous = conditions.iter().find(|c| c.type_ == kind);
    // Unchanged when the same outcome repeats: the controller watches SecretSyncs, and a status
    // that moved on every sync would trigger the next one.
    let same_outcome = previous.is_some_and(|c| {
        c.status == value && c.reason == verdict.reason.as_str() && c.message == verdict.message
    });
    let transition = previous
        .filter(|c| c.status == value)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    conditions.retain(|c| c.type_ != kind);
    conditions.push(Condition {
        type_: kind.into(),
        status: value.into(),
        reason: verdict.reason.as_str().into(),
        message: verdict.message.chars().take(32 * 1024).collect(),
        last_transition_time: transition,
        observed_generation: generation,
    });
    conditions.truncate(16);
    status.conditions = Some(conditions);
    if let Some(hash) = &verdict.sync_hash {
        let moved = status.sync_hash.as_deref() != Some(hash.as_str());
        status.sync_hash = Some(hash.clone());
        let first = status.last_successful_sync_time.is_none();
        if verdict.reason != Reason::PartialSync
            && (moved || first || verdict.written || !same_outcome)
        {
            status.last_successful_sync_time = Some(now);
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn verdict(reason: Reason, written: bool, hash: &str) -> Verdict {
        Verdict {
            reason,
            message: "m".into(),
            written,
            sync_hash: reason.succeeded().then(|| hash.to_string()),
        }
    }

    /// A set the sink refuses because the objects cannot give what the Secret needs (a tls
    /// Secret's key) is the user's input to fix; a write that failed is the controller's.
    #[test]
    fn a_sink_refusal_of_the_input_is_a_user_input_failure() {
        let report = |error: SyncError| SyncReport {
            objects: Vec::new(),
            calls: Default::default(),
            bytes: 0,
            written: false,
            sink_error: Some(error),
            listing_fallback: false,
            duration_ms: 0,
        };
        let keyless = report(SyncError::invalid(
            "spec.secretObject.data[1].sourcePath",
            "\"chain\" cannot give tls.key: the value holds no private key",
        ));
        let judged = super::verdict(&keyless, true, false, "");
        assert_eq!(judged.reason, Reason::UserInputValidationFailed);
        assert!(
            judged.message.contains("cannot give tls.key"),
            "{}",
            judged.message
        );
        let full = super::verdict(
            &report(SyncError::sink("Secret a/b", "full")),
            true,
            false,
            "",
        );
        assert_eq!(full.reason, Reason::ControllerInternalError);
        assert_eq!(full.message, "writing Secret a/b: full");
    }

    #[test]
    fn a_quiet_poll_leaves_the_status_alone() {
        let created = next_status(
            None,
            &verdict(Reason::CreateSucceeded, true, "h1"),
            false,
            Some(1),
            at(10),
        );
        let quiet = verdict(Reason::UpdateNoValueChangeSucceeded, false, "h1");
        let first_update = next_status(Some(&created), &quiet, true, Some(1), at(20));
        // The same outcome again, later: nothing moves (no watch event, no reconcile loop).
        let again = next_status(Some(&first_update), &quiet, true, Some(1), at(30));
        assert_eq!(again, first_update);
        // New values move the hash and the time; a failure keeps both and flips the condition.
        let rotated = next_status(
            Some(&again),
            &verdict(Reason::UpdateValueChangeOrForceUpdateSucceeded, true, "h2"),
            true,
            Some(1),
            at(40),
        );
        assert_eq!(rotated.last_successful_sync_time, Some(at(40)));
        let failed = next_status(
            Some(&rotated),
            &verdict(Reason::ProviderError, false, ""),
            true,
            Some(1),
            at(50),
        );
        assert_eq!(failed.sync_hash.as_deref(), Some("h2"));
        assert_eq!(failed.last_successful_sync_time, Some(at(40)));
        let update = failed
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == UPDATE)
            .unwrap();
        assert_eq!(
            (update.status.as_str(), update.reason.as_str()),
            ("False", "ProviderError")
        );
    }
}
