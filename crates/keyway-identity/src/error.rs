//! The one error type of keyway-identity.

use std::path::PathBuf;

/// What can go wrong getting an Azure token through workload identity federation. Every
/// variant says where and, where known, the fix. None carries a token or an assertion.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityError {
    /// A configuration value (an environment variable, an option) is missing or malformed.
    #[error("{variable} {problem}; {fix}")]
    Config {
        /// The variable or option.
        variable: &'static str,
        /// What is wrong with it.
        problem: String,
        /// How to fix it.
        fix: String,
    },

    /// The projected service-account token file cannot be used.
    #[error(
        "service-account token file {path}: {reason} (AZURE_FEDERATED_TOKEN_FILE names it; the azure-workload-identity webhook mounts it when the pod has the label azure.workload.identity/use: \"true\")"
    )]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// Entra ID refused the exchange.
    #[error("{0}")]
    Entra(Box<EntraError>),

    /// The service account a TokenRequest names does not exist.
    #[error("service account {namespace}/{name} not found; create it, or fix serviceAccountName")]
    ServiceAccountNotFound {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },

    /// The caller may not request tokens for the service account.
    #[error(
        "requesting a token for {namespace}/{name} is forbidden ({reason}); grant `create` on serviceaccounts/token in {namespace}"
    )]
    TokenRequestForbidden {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// What the API server said.
        reason: String,
    },

    /// An endpoint that would carry a token is not HTTPS (see [`crate::check_https`]).
    #[error("{url} is not HTTPS: {reason}")]
    Insecure {
        /// The URL.
        url: String,
        /// Which rule it broke; a caller names its own opt-in for
        /// [`InsecureReason::LoopbackNeedsOptIn`].
        reason: InsecureReason,
    },

    /// A service could not be reached, or answered something that is not what it should be.
    #[error("{url}: {reason}")]
    Remote {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },

    /// A token could not be decoded or verified.
    #[error("token {what}: {reason}")]
    Token {
        /// What was being checked (`claims`, `signature`, `issuer`, `time`).
        what: &'static str,
        /// Why it failed.
        reason: String,
    },

    /// An issuer's documents are wrong.
    #[error("issuer {issuer}: {reason}")]
    Issuer {
        /// The issuer URL.
        issuer: String,
        /// What is wrong, and the fix.
        reason: String,
    },

    /// A public key cannot be turned into a JWK.
    #[error("public key {index}: {reason}")]
    PublicKey {
        /// Its position in the input.
        index: usize,
        /// Why.
        reason: String,
    },
}

/// Why a URL was refused by the https policy ([`crate::check_https`]) or by an issuer rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsecureReason {
    /// Not `https`, and not plain `http` to this machine: never allowed.
    #[error("tokens are only exchanged over HTTPS")]
    NotHttps,
    /// Plain `http` to this machine, without the explicit opt-in
    /// (`FederatedCredentialOptions::allow_insecure_loopback`).
    #[error("plain http to a loopback host needs the explicit opt-in allow_insecure_loopback")]
    LoopbackNeedsOptIn,
    /// An OIDC issuer that is not `https`: Entra ID never fetches it, on any host.
    #[error("Entra ID only fetches issuers over HTTPS")]
    IssuerNotHttps,
}

/// Entra ID's refusal, parsed: status, AADSTS code, OAuth error, the description, and the hint.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("Entra ID refused the token exchange (HTTP {status}, AADSTS{aadsts} {error}): {summary}{}", hint_line(.hint))]
pub struct EntraError {
    /// HTTP status.
    pub status: u16,
    /// The AADSTS code (0 when the answer had none).
    pub aadsts: u32,
    /// The OAuth error (`invalid_request`, `invalid_client`, ...).
    pub error: String,
    /// The whole `error_description`, Trace ID and Correlation ID lines included.
    pub description: String,
    /// The first line of the description, without the code.
    pub summary: String,
    /// The correlation id, for a support request.
    pub correlation_id: Option<String>,
    /// The trace id.
    pub trace_id: Option<String>,
    /// Cause and fix, with what keyway saw in the assertion.
    pub hint: Option<String>,
}

fn hint_line(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!("\n  hint: {h}"))
        .unwrap_or_default()
}

impl IdentityError {
    /// Whether this is a failure of a remote service (rather than of configuration or input).
    pub fn is_remote(&self) -> bool {
        matches!(self, IdentityError::Entra(_) | IdentityError::Remote { .. })
    }
}

impl From<IdentityError> for azure_core::Error {
    fn from(e: IdentityError) -> Self {
        let message = e.to_string();
        azure_core::Error::with_error(azure_core::error::ErrorKind::Credential, e, message)
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = IdentityError> = std::result::Result<T, E>;

/// The innermost cause of an error chain, on one line: what an SDK error's own text ("the
/// request will no longer be retried") hides — a reset connection, a TLS failure, Entra's answer.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a request never got an answer, on one line, with the fix where it is known: the
/// innermost cause (a refused connection, a DNS failure, a reset, a TLS verification error)
/// rather than the transport's "error sending request" or the SDK's "will no longer be retried".
pub fn transport_failure(error: &(dyn std::error::Error + 'static)) -> String {
    let cause = root_cause(error);
    let lower = cause.to_ascii_lowercase();
    let hint = if lower.contains("unknownissuer") || lower.contains("certificate verify failed") {
        "; the server's certificate is not signed by a CA this machine trusts: set SSL_CERT_FILE \
         to a PEM file holding its CA (keyway dev prints one)"
    } else if lower.contains("notvalidforname") || lower.contains("certificate is not valid for") {
        "; the server's certificate does not name this host: check the URL"
    } else if lower.contains("dns") || lower.contains("lookup address") {
        "; the host name does not resolve: check the name, or the DNS of this machine"
    } else if lower.contains("connection refused") {
        "; nothing listens there: check the URL and port, and that the service runs"
    } else {
        ""
    };
    format!("{cause}{hint}")
}
