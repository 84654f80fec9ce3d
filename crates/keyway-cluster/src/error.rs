//! The one error type of keyway-cluster.

/// What can go wrong configuring a cluster. Messages say what was given and, where known, the
/// fix.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterError {
    /// An argument or a field is not acceptable.
    #[error("{field}: {problem}")]
    Invalid {
        /// The argument or field (`--issuer`, `oidcIssuerProfile.issuerUrl`).
        field: String,
        /// What is wrong, with what was given.
        problem: String,
    },
    /// A file cannot be edited safely; `line` is 1-based.
    #[error("{path}:{line}: {problem}")]
    Unsupported {
        /// The file.
        path: String,
        /// The line.
        line: usize,
        /// What could not be handled, and what to do.
        problem: String,
    },
    /// An Azure Resource Manager request failed.
    #[error("{request}: {}{message}", status.map(|s| format!("HTTP {s}: ")).unwrap_or_default())]
    Arm {
        /// The method and path.
        request: String,
        /// The HTTP status, when there was an answer.
        status: Option<u16>,
        /// What ARM said.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        reason: String,
    },
}

impl ClusterError {
    /// An invalid argument or field.
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ClusterError {
        ClusterError::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
