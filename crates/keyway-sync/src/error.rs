//! The one error type of keyway-sync.

use std::fmt;

/// What kind of failure a secret source reported, so callers can tell a missing secret from a
/// throttled vault from an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFailure {
    /// The secret (or version) does not exist.
    NotFound,
    /// The secret is disabled.
    Disabled,
    /// The caller may not do this (RBAC, access policy).
    Forbidden,
    /// The vault throttled the caller and retries did not get through.
    Throttled,
    /// Authentication was refused (Entra ID's AADSTS answer, the vault's 401).
    Unauthenticated,
    /// The local credential cannot be used: the service-account token file is missing,
    /// unreadable or malformed, or the identity's configuration is. Nothing remote was asked.
    Credential,
    /// The vault, Entra ID or the network failed or could not be reached.
    Unavailable,
    /// Anything else.
    Other,
}

impl fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceFailure::NotFound => "not found",
            SourceFailure::Disabled => "disabled",
            SourceFailure::Forbidden => "forbidden",
            SourceFailure::Throttled => "throttled",
            SourceFailure::Unauthenticated => "unauthenticated",
            SourceFailure::Credential => "credential unusable",
            SourceFailure::Unavailable => "unavailable",
            SourceFailure::Other => "failed",
        })
    }
}

/// Everything that can go wrong in keyway-sync. No variant carries a secret value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncError {
    /// A manifest or specification is invalid; `path` names the field
    /// (`spec.parameters.objects[2].objectEncoding`).
    #[error("{path}: {problem}")]
    Invalid {
        /// The field path.
        path: String,
        /// What is wrong, and the fix when known.
        problem: String,
    },

    /// The secret source failed.
    #[error("{object}: {failure}{} ({message})", http_status(.status))]
    Source {
        /// The object (secret name), or `*` for a listing.
        object: String,
        /// The kind of failure.
        failure: SourceFailure,
        /// HTTP status, when there was one.
        status: Option<u16>,
        /// What the source said.
        message: String,
    },

    /// A fetched value could not be decoded or converted as the object asks.
    #[error("{object}: {reason}")]
    Convert {
        /// The object.
        object: String,
        /// Why.
        reason: String,
    },

    /// The cluster does not serve a custom resource keyway needs.
    #[error(
        "the cluster does not serve {version} {name}: install keyway's CustomResourceDefinitions \
         (kubectl apply -f deploy/crds, or the Helm chart deploy/helm/keyway; where the Secrets \
         Store CSI driver or the Secret Store extension is installed they are there already)"
    )]
    MissingCrd {
        /// The CustomResourceDefinition's name (`secretsyncs.secret-sync.x-k8s.io`).
        name: String,
        /// The group and version asked for.
        version: String,
    },

    /// The sink could not be written.
    #[error("writing {target}: {reason}")]
    Sink {
        /// The file, directory or resource.
        target: String,
        /// Why.
        reason: String,
    },
}

impl SyncError {
    /// An invalid field.
    pub fn invalid(path: impl Into<String>, problem: impl Into<String>) -> SyncError {
        SyncError::Invalid {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// A failure of the secret source on `object` (a secret name, `*` for a listing).
    pub fn source_failure(
        object: impl Into<String>,
        failure: SourceFailure,
        status: Option<u16>,
        message: impl Into<String>,
    ) -> SyncError {
        SyncError::Source {
            object: object.into(),
            failure,
            status,
            message: message.into(),
        }
    }

    /// A fetched value of `object` that could not be decoded or converted.
    pub fn convert(object: impl Into<String>, reason: impl Into<String>) -> SyncError {
        SyncError::Convert {
            object: object.into(),
            reason: reason.into(),
        }
    }

    /// A sink that could not write `target` (a file, directory or resource).
    pub fn sink(target: impl Into<String>, reason: impl Into<String>) -> SyncError {
        SyncError::Sink {
            target: target.into(),
            reason: reason.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = SyncError> = std::result::Result<T, E>;

/// `, HTTP 503` when there was a status, for [`SyncError::Source`]'s message.
fn http_status(status: &Option<u16>) -> String {
    status.map(|s| format!(", HTTP {s}")).unwrap_or_default()
}
