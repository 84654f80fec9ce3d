//! What can go wrong, typed so a CLI maps it to an exit code without reading text. No variant
//! ever carries a secret value.

/// What kind of Key Vault failure, so callers branch without reading text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum VaultFailure {
    /// The secret does not exist (or is deleted).
    NotFound,
    /// The caller lacks a right (HTTP 403); the message names it.
    Forbidden,
    /// A conflict, e.g. a deleted secret of that name still awaiting purge (HTTP 409).
    Conflict,
    /// The vault or Entra ID could not be reached, or failed (5xx).
    Unreachable,
    /// This machine's credential is unusable: its token file or configuration (exit code 2
    /// in a CLI); the message names the file or setting.
    Credential,
    /// Entra ID refused the identity (an `AADSTS` answer, exit code 1 in a CLI); the message
    /// carries Entra's code and its fix.
    Unauthenticated,
    /// Anything else Key Vault answered.
    Other,
}

/// The same failure in keyway-sync's terms, so a CLI gives it the exit code keyway-sync's
/// [`keyway_sync::SourceFailure`] gets (one rule for both).
impl From<VaultFailure> for keyway_sync::SourceFailure {
    fn from(failure: VaultFailure) -> keyway_sync::SourceFailure {
        use keyway_sync::SourceFailure;
        match failure {
            VaultFailure::NotFound => SourceFailure::NotFound,
            VaultFailure::Forbidden => SourceFailure::Forbidden,
            VaultFailure::Unreachable => SourceFailure::Unavailable,
            VaultFailure::Credential => SourceFailure::Credential,
            VaultFailure::Unauthenticated => SourceFailure::Unauthenticated,
            VaultFailure::Conflict | VaultFailure::Other => SourceFailure::Other,
        }
    }
}

/// An error of a store operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The namespace holds no SecretProviderClass made by secret-sync enablement, so there is
    /// no vault to store in.
    #[error(
        "secret sync is not enabled for the instance in namespace {namespace}: no \
         SecretProviderClass there names a Key Vault (other than {connector}); run `az iot ops \
         secretsync enable --instance <instance> --resource-group <group> --kv-resource-id \
         <vault resource id>` first"
    )]
    SecretSyncNotEnabled {
        /// The namespace searched.
        namespace: String,
        /// The connector's own SecretProviderClass, which does not count.
        connector: String,
    },

    /// The namespace the stores were asked to work in does not exist in the cluster (so
    /// neither does an instance there).
    #[error(
        "namespace {namespace} does not exist in this cluster: the stores work in the IoT \
         Operations instance's namespace (azure-iot-operations unless the instance was deployed \
         elsewhere); check the name, and that the kubeconfig's current context is the \
         instance's cluster"
    )]
    NamespaceNotFound {
        /// The namespace asked for.
        namespace: String,
    },

    /// Several SecretProviderClasses could be the instance's default.
    #[error(
        "several SecretProviderClasses in {namespace} name a Key Vault ({}); say which one \
         secret-sync enablement made (StoreConfig::default_provider_class)",
        candidates.join(", ")
    )]
    AmbiguousInstance {
        /// The namespace searched.
        namespace: String,
        /// The candidates' names.
        candidates: Vec<String>,
    },

    /// A check refused the operation; nothing was written. Each reason names the file or
    /// entry and the fix.
    #[error("refused, nothing written: {}", reasons.join("; "))]
    Refused {
        /// Why, one line per problem.
        reasons: Vec<String>,
    },

    /// An argument the caller gave is unusable.
    #[error("{field}: {reason}")]
    Invalid {
        /// The argument.
        field: String,
        /// Why, and the fix.
        reason: String,
    },

    /// A name given to remove matches no entry; nothing was changed.
    #[error("{store} has no entry {name:?} (as target key or secret name); it holds: {known}")]
    NotFound {
        /// The store or synced-secret list searched.
        store: String,
        /// The name given.
        name: String,
        /// What it holds, comma-separated (or `nothing`).
        known: String,
    },

    /// A resource read from the cluster is unusable: `field` is its path.
    #[error("{resource}: {field}: {reason}")]
    ClusterData {
        /// `SecretProviderClass ns/name`.
        resource: String,
        /// The field path, e.g. `spec.parameters.objects[1].objectType`.
        field: String,
        /// Why.
        reason: String,
    },

    /// Key Vault refused or failed a request.
    #[error("Key Vault {operation} {secret}: {message}")]
    Vault {
        /// `get`, `set`, `delete`, `purge`.
        operation: &'static str,
        /// The secret's name.
        secret: String,
        /// The kind of failure.
        failure: VaultFailure,
        /// HTTP status, when there was one.
        status: Option<u16>,
        /// Key Vault's code and message (for a 403 the missing right); never a value.
        message: String,
    },

    /// The cluster (Kubernetes API or Azure Resource Manager) refused or failed a request.
    #[error("{operation}: {message}")]
    Cluster {
        /// What was being done, e.g. `applying SecretSync ns/name`.
        operation: String,
        /// HTTP status, when there was one (`None`: unreachable).
        status: Option<u16>,
        /// What the server said.
        message: String,
    },
}

impl StoreError {
    /// Whether a remote end could not be reached (exit code 3 in a CLI).
    pub fn is_unreachable(&self) -> bool {
        match self {
            StoreError::Vault { failure, .. } => *failure == VaultFailure::Unreachable,
            StoreError::Cluster { status, .. } => status.is_none_or(|s| s >= 500),
            _ => false,
        }
    }

    /// The CLI exit code for this error: 1 refused by a check (or by the remote end, Entra
    /// ID included), 2 usage, input or setup (a local credential file or setting too), 3
    /// unreachable.
    pub fn exit_code(&self) -> u8 {
        if self.is_unreachable() {
            return 3;
        }
        match self {
            StoreError::Vault {
                failure: VaultFailure::Credential,
                ..
            } => 2,
            StoreError::Refused { .. } | StoreError::Vault { .. } | StoreError::Cluster { .. } => 1,
            _ => 2,
        }
    }

    pub(crate) fn refused(reasons: Vec<String>) -> StoreError {
        StoreError::Refused { reasons }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// keyway-sync's refusal of `field` (a secret name, a key), said once: its own text
    /// already starts with the path it was given.
    pub(crate) fn invalid_field(field: &str, error: keyway_sync::SyncError) -> StoreError {
        match error {
            keyway_sync::SyncError::Invalid { problem, .. } => {
                StoreError::invalid(field, problem.to_string())
            }
            other => StoreError::invalid(field, other.to_string()),
        }
    }

    pub(crate) fn kube(operation: impl Into<String>, error: kube::Error) -> StoreError {
        let (status, message) = match &error {
            kube::Error::Api(status) if status.code == 409 => (
                Some(409),
                format!(
                    "{}; it changed since it was read (another change at the same time): plan \
                     again (secrets already written are found unchanged and not written twice)",
                    status.message
                ),
            ),
            kube::Error::Api(status) => (Some(status.code), status.message.clone()),
            other => (None, first_line(&other.to_string())),
        };
        StoreError::Cluster {
            operation: operation.into(),
            status,
            message,
        }
    }
}

/// A `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(600)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// keyway-sync's refusal of a secret name already names its path: said once, not as
    /// "secret name: secret name: …" (found by a new-user trial).
    #[test]
    fn a_refused_secret_name_names_its_field_once() {
        let refusal = keyway_sync::source::check_secret_name("bad_name!").unwrap_err();
        let said = StoreError::invalid_field("secret name", refusal).to_string();
        assert_eq!(said.matches("secret name").count(), 1, "{said}");
        assert!(said.contains("offset 3"), "{said}");
    }
}
