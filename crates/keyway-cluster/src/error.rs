//! The one error type of keyway-cluster.

use std::fmt;
use std::sync::Arc;

/// What a [`ClusterError::Invalid`] is about: a field of a request or options struct, a value
/// in the command-line syntax keyway-cluster's parsers read, or a field inside a document the
/// caller gave. Its text ([`fmt::Display`]) is the field's name or path as keyway-cluster says
/// it (`keyvault_resource_group`, `--object`, `oidcIssuerProfile.issuerUrl`); a caller that
/// says fields in its own words (the CLI says a request field as the flag that sets it)
/// matches the variant, never the text.
///
/// Deliberately not `#[non_exhaustive]`: a caller that maps every field to its own words
/// matches without a wildcard, so a new field fails its build instead of being said wrongly.
/// A new variant is therefore a breaking change, released as one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// `issuer`: the service-account issuer URL.
    Issuer,
    /// `max_token_expiration`: the longest service-account token lifetime (a Go duration).
    MaxTokenExpiration,
    /// `subscription`: an Azure subscription id.
    Subscription,
    /// `resource_group`: the resource group of the workload identity.
    ResourceGroup,
    /// `identity`: a user-assigned managed identity's name.
    Identity,
    /// `keyvault`: a Key Vault's name.
    Keyvault,
    /// `keyvault_resource_group`: the vault's resource group.
    KeyvaultResourceGroup,
    /// `uploader_principal_id`: the principal granted to upload secrets.
    UploaderPrincipalId,
    /// `namespace`: a Kubernetes namespace.
    Namespace,
    /// `service_account`: a Kubernetes ServiceAccount's name.
    ServiceAccount,
    /// `secret_name`: the Kubernetes Secret a SecretSync writes.
    SecretName,
    /// `secret_type`: that Secret's type.
    SecretType,
    /// `client_id`: an identity's client id.
    ClientId,
    /// `environment`: the Azure cloud of a Dapr component.
    Environment,
    /// `name`: a Dapr component's name.
    Name,
    /// `provider_class_name`: the SecretProviderClass's name.
    ProviderClassName,
    /// `trust_list_name`: the trust list's SecretSync and Secret.
    TrustListName,
    /// `issuer_list_name`: the issuer list's SecretSync and Secret.
    IssuerListName,
    /// `endpoint`: the Azure Resource Manager endpoint.
    Endpoint,
    /// `objects`: the Key Vault objects to sync, as a whole.
    Objects,
    /// `--object`: one object in the syntax [`crate::render::ObjectSpec::parse`] reads.
    ObjectArgument,
    /// `--trust`: a trust-list certificate in the syntax
    /// [`crate::render::StoredCertificate::parse`] reads.
    TrustArgument,
    /// `--issuer`: an issuer-list certificate, in the same syntax.
    IssuerArgument,
    /// `--crl`: a CRL, in the same syntax.
    CrlArgument,
    /// A value the caller labelled itself (the `flag` given to
    /// [`crate::render::StoredCertificate::parse`]), said as given.
    Label(String),
    /// `connected_cluster`: the output of `az connectedk8s show` as a whole.
    ConnectedCluster,
    /// A field inside the output of `az connectedk8s show`, by its JSON path
    /// (`oidcIssuerProfile.issuerUrl`).
    ConnectedClusterField(&'static str),
    /// `input`: the AAD Pod Identity manifests to migrate, as a whole.
    MigrationInput,
    /// A field of one of the manifests to migrate, with the document that holds it
    /// (`document 1 (AzureIdentity default/dapr-kv) spec.clientID`).
    Manifest(String),
    /// `render`: a manifest keyway-cluster built could not be written as YAML or JSON.
    Render,
}

/// The field's name or path, as [`Field`] says.
impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Issuer => "issuer",
            Field::MaxTokenExpiration => "max_token_expiration",
            Field::Subscription => "subscription",
            Field::ResourceGroup => "resource_group",
            Field::Identity => "identity",
            Field::Keyvault => "keyvault",
            Field::KeyvaultResourceGroup => "keyvault_resource_group",
            Field::UploaderPrincipalId => "uploader_principal_id",
            Field::Namespace => "namespace",
            Field::ServiceAccount => "service_account",
            Field::SecretName => "secret_name",
            Field::SecretType => "secret_type",
            Field::ClientId => "client_id",
            Field::Environment => "environment",
            Field::Name => "name",
            Field::ProviderClassName => "provider_class_name",
            Field::TrustListName => "trust_list_name",
            Field::IssuerListName => "issuer_list_name",
            Field::Endpoint => "endpoint",
            Field::Objects => "objects",
            Field::ObjectArgument => "--object",
            Field::TrustArgument => "--trust",
            Field::IssuerArgument => "--issuer",
            Field::CrlArgument => "--crl",
            Field::Label(label) => label,
            Field::ConnectedCluster => "connected_cluster",
            Field::ConnectedClusterField(path) => path,
            Field::MigrationInput => "input",
            Field::Manifest(path) => path,
            Field::Render => "render",
        })
    }
}

/// What can go wrong configuring a cluster. Messages say what was given and, where known, the
/// fix.
#[derive(Debug, thiserror::Error, Clone)]
#[non_exhaustive]
pub enum ClusterError {
    /// An argument or a field is not acceptable.
    #[error("{field}: {problem}")]
    Invalid {
        /// The argument or field ([`Field::Issuer`],
        /// [`Field::ConnectedClusterField`]`("oidcIssuerProfile.issuerUrl")`).
        field: Field,
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
    pub fn invalid(field: Field, problem: impl Into<String>) -> ClusterError {
        ClusterError::Invalid {
            field,
            problem: problem.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
