//! The one error type of keyway-cluster.

use std::sync::Arc;

/// What can go wrong configuring a cluster. Messages say what was given and, where known, the
/// fix.
#[derive(Debug, thiserror::Error, Clone)]
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
    /// Reading or writing a file failed, or a file cannot be used as it is (a link where a
    /// file must be, not UTF-8 text).
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What the system said, or what is wrong with the file.
        reason: String,
        /// The operating system's error, when there was one: its [`std::io::Error::kind`]
        /// tells a missing file from a refused permission ([`ClusterError::io_kind`]).
        source: Option<Arc<std::io::Error>>,
    },
}

/// Equality by value; two I/O errors are equal when their kind and text are.
impl PartialEq for ClusterError {
    fn eq(&self, other: &ClusterError) -> bool {
        use ClusterError::*;
        match (self, other) {
            (
                Invalid { field, problem },
                Invalid {
                    field: f,
                    problem: p,
                },
            ) => field == f && problem == p,
            (
                Unsupported {
                    path,
                    line,
                    problem,
                },
                Unsupported {
                    path: p,
                    line: l,
                    problem: q,
                },
            ) => path == p && line == l && problem == q,
            (
                Arm {
                    request,
                    status,
                    message,
                },
                Arm {
                    request: r,
                    status: s,
                    message: m,
                },
            ) => request == r && status == s && message == m,
            (
                Io { path, reason, .. },
                Io {
                    path: p, reason: r, ..
                },
            ) => path == p && reason == r && self.io_kind() == other.io_kind(),
            _ => false,
        }
    }
}

impl Eq for ClusterError {}

impl ClusterError {
    /// An I/O error on `path`, keeping the operating system's error as the source.
    pub fn io(path: impl Into<String>, error: std::io::Error) -> ClusterError {
        ClusterError::Io {
            path: path.into(),
            reason: error.to_string(),
            source: Some(Arc::new(error)),
        }
    }

    /// A file at `path` that cannot be used as it is (no operating system error).
    pub fn unusable_file(path: impl Into<String>, reason: impl Into<String>) -> ClusterError {
        ClusterError::Io {
            path: path.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// The kind of the operating system's error, for an [`ClusterError::Io`] that had one.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            ClusterError::Io {
                source: Some(error),
                ..
            } => Some(error.kind()),
            _ => None,
        }
    }

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
