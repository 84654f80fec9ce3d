//! The one error type of keyway-emulator.

/// What can go wrong while starting or driving the emulator. Service-level failures (an
/// AADSTS error, a 403 from the vault) are not errors of the emulator: they are its answers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Generating a key or certificate failed.
    #[error("cannot generate {what}: {reason}")]
    Crypto {
        /// What was being generated.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// Something named does not exist (a tenant, an identity, a vault).
    #[error("{kind} {name:?} is not registered with the emulator")]
    NotFound {
        /// What kind of thing.
        kind: &'static str,
        /// Its name or id.
        name: String,
    },
    /// An argument is not acceptable (a vault or secret name, an issuer URL).
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing persisted state failed.
    #[error("state file {path}: {reason}")]
    State {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// Building an HTTP client failed.
    #[error("cannot build an HTTP client: {0}")]
    Client(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = EmulatorError> = std::result::Result<T, E>;
