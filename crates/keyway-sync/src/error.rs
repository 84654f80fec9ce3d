//! The one error type of keyway-sync.

use std::fmt;
use std::sync::Arc;

/// What kind of failure a secret source reported, so callers can tell a missing secret from a
/// throttled vault from an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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

/// The error under a [`SyncError`] — the Azure SDK's, the API server's, the certificate
/// parser's — kept so a caller can walk [`std::error::Error::source`] down to it. Shared, so
/// [`SyncError`] stays `Clone`; two causes are equal when they read the same. A cause never
/// holds a secret value: keyway-sync keeps only errors about requests, names and formats.
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// Keeps `error` as a cause.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Cause {
        Cause(Arc::new(error))
    }

    /// The error itself, to downcast (`cause.get().downcast_ref::<azure_core::Error>()`).
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Transparent: the cause reads as the error it keeps, and its source is that error's.
impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Cause) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for Cause {}

/// Which map of a Secret's metadata a [`FieldProblem`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataMap {
    /// `labels`.
    Labels,
    /// `annotations`.
    Annotations,
}

/// The rule a field of a SecretSync, a SecretProviderClass or a [`crate::SyncSpec`] breaks: one
/// variant per rule, so callers choose by matching (the controller's condition reason, the
/// CLI's exit code), never by reading the text. The text is for people and never holds a secret
/// value: only names, keys and types from the manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldProblem {
    /// The field is missing or empty; `hint` says what it takes (may be empty).
    #[error("is required{hint}")]
    Required {
        /// What the field takes, as `: one of secret, key, cert` (or empty).
        hint: &'static str,
    },
    /// `spec.secretObject.data` has no item.
    #[error("at least one item is required ({{sourcePath, targetKey}})")]
    NoData,
    /// A `targetKey` longer than a Kubernetes Secret key may be.
    #[error(
        "is {length} characters long; a Secret key is at most {}",
        crate::model::secret_sync::MAX_SECRET_KEY_LEN
    )]
    SecretKeyTooLong {
        /// Its length in characters.
        length: usize,
    },
    /// A `targetKey` that is not a Kubernetes Secret key (`.`, `..`, or a character outside
    /// `a-z A-Z 0-9 - _ .`, such as the `/` of a path).
    #[error(
        "{key:?} is not a Secret key{}: use {}",
        character.map(|c| format!(" ({c:?} is not allowed)")).unwrap_or_default(),
        SECRET_KEY_SYNTAX
    )]
    NotASecretKey {
        /// The key.
        key: String,
        /// The first character not allowed, when that is why.
        character: Option<char>,
    },
    /// A `targetKey` an earlier item uses too.
    #[error("{key:?} is used by an earlier item too; each targetKey once")]
    DuplicateTargetKey {
        /// The key.
        key: String,
    },
    /// A `sourcePath` the SecretProviderClass does not write.
    #[error(
        "{source_path:?} is not an object of the SecretProviderClass (it has: {})",
        outputs.join(", ")
    )]
    UnknownSourcePath {
        /// The path.
        source_path: String,
        /// What the class writes ([`crate::SyncSpec::outputs`]).
        outputs: Vec<String>,
    },
    /// A Secret type outside the allow-list
    /// ([`crate::model::secret_sync::ALLOWED_SECRET_TYPES`], or a narrower one).
    #[error("{secret_type:?} is not a type this controller writes; allowed: {}", allowed.join(", "))]
    SecretTypeNotAllowed {
        /// The type asked for.
        secret_type: String,
        /// The types allowed.
        allowed: Vec<String>,
    },
    /// An annotation the API server acts on
    /// ([`crate::model::secret_sync::RESERVED_SECRET_ANNOTATIONS`]: service-account tokens).
    #[error("{key:?} is reserved: the API server acts on it (service-account tokens)")]
    ApiServerAnnotation {
        /// The annotation.
        key: String,
    },
    /// A label or annotation key under the prefix the controller keeps for itself
    /// ([`crate::model::secret_sync::MANAGED_LABEL`]).
    #[error(
        "{key:?}: keys under {} are reserved for the controller",
        crate::model::secret_sync::MANAGED_LABEL
    )]
    ReservedKey {
        /// Labels or annotations.
        map: MetadataMap,
        /// The key.
        key: String,
    },
    /// A `sourcePath` or `targetKey` the SecretSync CRD's pattern refuses
    /// ([`crate::model::secret_sync::SECRET_SYNC_DATA_PATTERN`]): the API server would not
    /// admit the SecretSync.
    #[error(
        "{value:?} is refused by the SecretSync CRD's pattern, which the API server enforces: \
         a letter, digit or '.', then letters, digits and '-', with '.' and '_' only between \
         letters or digits, and '/' only before a version number (name/0); at most 253"
    )]
    NotInCrdPattern {
        /// The value.
        value: String,
    },
    /// A `kubernetes.io/tls` SecretSync mapping a key other than `tls.crt` and `tls.key`.
    #[error(
        "{key:?}: a kubernetes.io/tls Secret holds only tls.crt and tls.key (use Opaque for \
         other keys)"
    )]
    TlsKeyNotAllowed {
        /// The key.
        key: String,
    },
    /// A `kubernetes.io/tls` SecretSync mapping only one of `tls.crt` and `tls.key`.
    #[error(
        "a kubernetes.io/tls Secret needs both tls.crt and tls.key; add an item with targetKey \
         {missing} (the same sourcePath as the other, when one object holds the certificate and \
         its key)"
    )]
    TlsKeyMissing {
        /// The key no item maps.
        missing: &'static str,
    },
    /// An output name (`objectAlias`, else `objectName`) or a target file name that is not a
    /// plain relative path inside the directory.
    #[error("must be a plain relative path without `..`: {0}")]
    NotARelativePath(crate::sink::InvalidOutputName),
    /// A `targetKey` the directory sink cannot write as a file name (`..data`, which kubelet
    /// reserves for the directory's own entries).
    #[error("{0}")]
    NotAFileName(crate::sink::InvalidOutputName),
    /// An output name with `..` inside a component (`a..b`), which the Secrets Store CSI Azure
    /// provider refuses anywhere in a file name.
    #[error(
        "must be a plain relative path without `..`: {0:?} contains `..`, which the Secrets \
         Store CSI Azure provider refuses anywhere in a file name"
    )]
    DotDotInName(String),
    /// `objectFormat: pfx` on an object that is not a secret.
    #[error("pfx is only allowed with objectType secret, not {object_type}")]
    PfxNeedsSecret {
        /// The object's type.
        object_type: crate::model::objects::ObjectType,
    },
    /// `objectEncoding` on an object that is not a secret.
    #[error("is only allowed with objectType secret, not {object_type}")]
    EncodingNeedsSecret {
        /// The object's type.
        object_type: crate::model::objects::ObjectType,
    },
    /// A file mode beyond `0777`.
    #[error("{mode:#o} is not a file mode (at most 0o777)")]
    FileModeTooLarge {
        /// The mode given.
        mode: u32,
    },
    /// A `keyvaultName` that cannot be a Key Vault's name
    /// ([`crate::model::vault_name::check_vault_name`]).
    #[error("{name:?} {problem}: {}", crate::model::vault_name::VAULT_NAME_RULE)]
    VaultName {
        /// The name given.
        name: String,
        /// Which part of the rule it breaks.
        problem: crate::model::vault_name::VaultNameProblem,
    },
    /// `spec.secretProviderClassName` naming a class other than the one given with the
    /// SecretSync (`keyway sync --provider-class`): in a cluster the SecretSync would read the
    /// class it names.
    #[error(
        "names the SecretProviderClass {named:?}, but the class given is {given:?}: set \
         spec.secretProviderClassName to {given:?}, or give the class named {named:?}"
    )]
    ProviderClassMismatch {
        /// The class the SecretSync names.
        named: String,
        /// The class given with it.
        given: String,
    },
    /// Anything else: what is wrong, and the fix when known.
    #[error("{0}")]
    Other(String),
}

/// What a Kubernetes Secret key may be, for [`FieldProblem::NotASecretKey`].
const SECRET_KEY_SYNTAX: &str = "1 to 253 of a-z, A-Z, 0-9, '-', '_' and '.' (not \".\" or \"..\"), \
                                 as a Kubernetes Secret key; a key is a file name, never a path";

impl From<String> for FieldProblem {
    fn from(text: String) -> FieldProblem {
        FieldProblem::Other(text)
    }
}

impl From<&str> for FieldProblem {
    fn from(text: &str) -> FieldProblem {
        FieldProblem::Other(text.to_string())
    }
}

/// Everything that can go wrong in keyway-sync. No variant carries a secret value. Variants
/// are built with [`SyncError::invalid`], [`SyncError::source_failure`], [`SyncError::convert`]
/// and [`SyncError::sink`] (their fields may grow), and matched with `..`.
///
/// [`std::error::Error::source`] is the error a [`Cause`] keeps, itself (not the [`Cause`]), so
/// walking the chain and downcasting finds the Azure SDK's, the operating system's or
/// keyway-cert's error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncError {
    /// A manifest or specification is invalid; `path` names the field
    /// (`spec.parameters.objects[2].objectEncoding`), `problem` the rule it breaks.
    #[non_exhaustive]
    Invalid {
        /// The field path.
        path: String,
        /// The rule the field breaks, and the fix when known.
        problem: FieldProblem,
    },

    /// The secret source failed.
    #[non_exhaustive]
    Source {
        /// The object (secret name), or `*` for a listing.
        object: String,
        /// The kind of failure.
        failure: SourceFailure,
        /// HTTP status, when there was one.
        status: Option<u16>,
        /// What the source said.
        message: String,
        /// The error it failed with (the SDK's), when there was one.
        source: Option<Cause>,
    },

    /// A fetched value could not be decoded or converted as the object asks.
    #[non_exhaustive]
    Convert {
        /// The object.
        object: String,
        /// Why.
        reason: String,
        /// The error it failed with (the certificate parser's), when there was one.
        source: Option<Cause>,
    },

    /// The cluster does not serve a custom resource keyway needs.
    MissingCrd {
        /// The CustomResourceDefinition's name (`secretsyncs.secret-sync.x-k8s.io`).
        name: String,
        /// The group and version asked for.
        version: String,
    },

    /// The sink could not be written.
    #[non_exhaustive]
    Sink {
        /// The file, directory or resource.
        target: String,
        /// Why.
        reason: String,
        /// The error it failed with (the operating system's, the API server's), when there
        /// was one.
        source: Option<Cause>,
    },
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Invalid { path, problem } => write!(f, "{path}: {problem}"),
            SyncError::Source {
                object,
                failure,
                status,
                message,
                ..
            } => write!(f, "{object}: {failure}{} ({message})", http_status(status)),
            SyncError::Convert { object, reason, .. } => write!(f, "{object}: {reason}"),
            SyncError::MissingCrd { name, version } => write!(
                f,
                "the cluster does not serve {version} {name}: install keyway's \
                 CustomResourceDefinitions (kubectl apply -f deploy/crds, or the Helm chart \
                 deploy/helm/keyway; where the Secrets Store CSI driver or the Secret Store \
                 extension is installed they are there already)"
            ),
            SyncError::Sink { target, reason, .. } => write!(f, "writing {target}: {reason}"),
        }
    }
}

/// The source is the kept error itself ([`Cause::get`]), so a walk of the chain that downcasts
/// finds it without knowing about [`Cause`].
impl std::error::Error for SyncError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SyncError::Source { source, .. }
            | SyncError::Convert { source, .. }
            | SyncError::Sink { source, .. } => source
                .as_ref()
                .map(|cause| cause.get() as &(dyn std::error::Error + 'static)),
            SyncError::Invalid { .. } | SyncError::MissingCrd { .. } => None,
        }
    }
}

impl SyncError {
    /// An invalid field: `problem` is a [`FieldProblem`], or text for [`FieldProblem::Other`].
    pub fn invalid(path: impl Into<String>, problem: impl Into<FieldProblem>) -> SyncError {
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
            source: None,
        }
    }

    /// A fetched value of `object` that could not be decoded or converted.
    pub fn convert(object: impl Into<String>, reason: impl Into<String>) -> SyncError {
        SyncError::Convert {
            object: object.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// This error with `cause` under it ([`std::error::Error::source`]), for the variants that
    /// keep one ([`SyncError::Source`], [`SyncError::Convert`], [`SyncError::Sink`]); others are
    /// returned as they are.
    pub fn with_cause(
        mut self,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> SyncError {
        match &mut self {
            SyncError::Source { source, .. }
            | SyncError::Convert { source, .. }
            | SyncError::Sink { source, .. } => {
                *source = Some(Cause::new(cause));
            }
            _ => {}
        }
        self
    }

    /// A sink that could not write `target` (a file, directory or resource).
    pub fn sink(target: impl Into<String>, reason: impl Into<String>) -> SyncError {
        SyncError::Sink {
            target: target.into(),
            reason: reason.into(),
            source: None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = SyncError> = std::result::Result<T, E>;

/// `, HTTP 503` when there was a status, for [`SyncError::Source`]'s message.
fn http_status(status: &Option<u16>) -> String {
    status.map(|s| format!(", HTTP {s}")).unwrap_or_default()
}
