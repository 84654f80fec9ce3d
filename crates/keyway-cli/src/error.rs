//! The CLI's one error type and its exit codes: 1 checked and found invalid, or refused by the
//! service that answered; 2 usage or input errors; 3 remote services unreachable or failing.

use std::process::ExitCode;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The input could not be read, decoded or parsed, or the arguments do not fit together.
    #[error("{0}")]
    Input(String),
    /// A certificate operation failed on the input.
    #[error(transparent)]
    Cert(#[from] keyway_cert::CertError),
    /// A service (the emulator, Entra ID, Key Vault, Kubernetes) failed or is unreachable.
    #[error("{0}")]
    Remote(String),
    /// A service answered and refused what was asked (no permission, no such object).
    #[error("{0}")]
    Refused(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Library errors by kind, in this one place: a bad field, file or local credential is input
/// (exit 2); a service that answered and refused is a refusal (exit 1); a service that failed
/// or could not be reached is remote (exit 3).
impl From<keyway_sync::SyncError> for CliError {
    fn from(error: keyway_sync::SyncError) -> CliError {
        use keyway_sync::SyncError;
        match &error {
            SyncError::Source { failure, .. } => match failure_exit_code(*failure) {
                2 => CliError::Input(with_loopback_hint(error.to_string())),
                3 => CliError::Remote(error.to_string()),
                _ => CliError::Refused(error.to_string()),
            },
            SyncError::Sink { .. } => CliError::Remote(error.to_string()),
            _ => CliError::Input(error.to_string()),
        }
    }
}

/// The exit code a source failure stands for: the local credential is input (2); nothing
/// answered, or the service was failing or overloaded (3); the service answered and refused —
/// 403, 404, a disabled secret, Entra's AADSTS (1).
pub fn failure_exit_code(failure: keyway_sync::SourceFailure) -> u8 {
    use keyway_sync::SourceFailure;
    match failure {
        SourceFailure::Credential => 2,
        SourceFailure::Unavailable | SourceFailure::Throttled => 3,
        _ => 1,
    }
}

impl From<keyway_identity::IdentityError> for CliError {
    fn from(error: keyway_identity::IdentityError) -> CliError {
        use keyway_identity::{IdentityError, InsecureReason};
        match &error {
            IdentityError::Entra(_) => CliError::Refused(error.to_string()),
            IdentityError::Insecure {
                reason: InsecureReason::LoopbackNeedsOptIn,
                ..
            } => CliError::Input(format!(
                "{error}; on the command line set {}=1 (plain http on this machine only)",
                crate::azure::ALLOW_INSECURE_LOOPBACK
            )),
            _ if error.is_remote() => CliError::Remote(error.to_string()),
            _ => CliError::Input(error.to_string()),
        }
    }
}

/// The library asks for its `allow_insecure_loopback` option; on the command line that is
/// `KEYWAY_ALLOW_INSECURE_LOOPBACK=1`. A [`keyway_sync::SyncError`] holds the credential's
/// failure as text, so it is recognised by the option's name.
fn with_loopback_hint(text: String) -> String {
    if text.contains("allow_insecure_loopback") {
        format!(
            "{text}; on the command line set {}=1 (plain http on this machine only)",
            crate::azure::ALLOW_INSECURE_LOOPBACK
        )
    } else {
        text
    }
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Input(_) | CliError::Cert(_) | CliError::Io { .. } => ExitCode::from(2),
            CliError::Refused(_) => ExitCode::from(1),
            CliError::Remote(_) => ExitCode::from(3),
        }
    }

    /// A remote or service failure.
    pub fn remote(error: impl std::fmt::Display) -> CliError {
        CliError::Remote(error.to_string())
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<String>, source: std::io::Error) -> CliError {
        CliError::Io {
            path: path.into(),
            source,
        }
    }
}
