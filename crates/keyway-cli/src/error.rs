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
            // A parameter set from the command line (`vault_url`) is said as its flag.
            SyncError::Invalid { path, problem, .. } if flag_for(path) != path.as_str() => {
                CliError::Input(format!("{}: {problem}", flag_for(path)))
            }
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

/// keyway-stores' errors keep the library's own classification ([`keyway_stores::StoreError::exit_code`]):
/// refused by a check, Key Vault or the cluster (1), usage, input or setup (2), unreachable (3).
/// An argument the library names (`secret_name`, `namespace`) is said as its flag.
impl From<keyway_stores::StoreError> for CliError {
    fn from(error: keyway_stores::StoreError) -> CliError {
        use keyway_stores::StoreError;
        let text = match &error {
            StoreError::Invalid { field, reason } => {
                store_flags(&format!("{}: {reason}", flag_for(field)))
            }
            other => store_flags(&other.to_string()),
        };
        // A Key Vault failure gets the exit code keyway-sync's failures get (one rule).
        let code = match &error {
            StoreError::Vault { failure, .. } => failure_exit_code((*failure).into()),
            other => other.exit_code(),
        };
        match code {
            1 => CliError::Refused(text),
            3 => CliError::Remote(text),
            _ => CliError::Input(text),
        }
    }
}

/// keyway-cluster's errors: a bad argument, field or file is input (exit 2), with the field a
/// request struct names said as the flag that set it ([`cluster_flag`]); an ARM request that
/// failed is remote (exit 3); an I/O error keeps the operating system's error.
impl From<keyway_cluster::ClusterError> for CliError {
    fn from(error: keyway_cluster::ClusterError) -> CliError {
        use keyway_cluster::ClusterError;
        match error {
            ClusterError::Invalid { field, problem } => match cluster_flag(&field) {
                Some(flag) => CliError::Input(format!("{flag}: {problem}")),
                None => CliError::Input(format!("{field}: {problem}")),
            },
            ClusterError::Io {
                path,
                source: Some(source),
                ..
            } => CliError::Io {
                path,
                source: std::io::Error::new(source.kind(), source),
            },
            ClusterError::Arm { .. } => CliError::Remote(error.to_string()),
            _ => CliError::Input(error.to_string()),
        }
    }
}

/// keyway-stores' refusals name the option that would allow what was refused by its field in
/// backticks (`` `allow_expired` ``); said here as the flag that sets it.
const STORE_OPTION_FLAGS: &[(&str, &str)] = &[
    ("`allow_expired`", "--allow-expired"),
    ("`overwrite_secret`", "--overwrite-secret"),
    ("`with_crl`", "--with-crl"),
    ("`SecretValue::Existing`", "--existing"),
    ("`SecretValue::Bytes`", "--from-file or --from-stdin"),
];

/// `text` (a keyway-stores plan or refusal) with each option field it names said as the flag
/// that sets it (`` `allow_expired` `` → `--allow-expired`).
pub fn store_flags(text: &str) -> String {
    STORE_OPTION_FLAGS
        .iter()
        .fold(text.to_string(), |text, (field, flag)| {
            text.replace(field, flag)
        })
}

/// The command-line flag that sets a keyway-cluster field ([`keyway_cluster::Field`]), or
/// `None` for one no flag sets — a field inside a document the user gave, a label the CLI chose,
/// the rendering of a manifest — which is said as its path. Every variant is named (no
/// wildcard), so a new field fails this build until it is given its flag or none.
pub fn cluster_flag(field: &keyway_cluster::Field) -> Option<&'static str> {
    use keyway_cluster::Field;
    Some(match field {
        Field::Issuer => "--issuer",
        Field::MaxTokenExpiration => "--max-token-expiration",
        Field::Subscription => "--subscription",
        Field::ResourceGroup => "--resource-group",
        Field::Identity => "--identity",
        Field::Keyvault => "--keyvault",
        Field::KeyvaultResourceGroup => "--keyvault-resource-group",
        Field::UploaderPrincipalId => "--uploader",
        Field::Namespace => "--namespace",
        Field::ServiceAccount => "--service-account",
        Field::SecretName => "--secret-name",
        Field::SecretType => "--secret-type",
        Field::ClientId => "--client-id",
        Field::Environment => "--environment",
        Field::Name => "--name",
        Field::ProviderClassName => "--provider-class",
        Field::TrustListName => "--trust-list-name",
        Field::IssuerListName => "--issuer-list-name",
        Field::Endpoint => "--arm-endpoint",
        Field::Objects | Field::ObjectArgument => "--object",
        Field::TrustArgument => "--trust",
        Field::IssuerArgument => "--issuer",
        Field::CrlArgument => "--crl",
        Field::ConnectedCluster => "--connected-cluster",
        // The CLI passes its flag as the label (`--cert`).
        Field::Label(_)
        | Field::ConnectedClusterField(_)
        | Field::MigrationInput
        | Field::Manifest(_)
        | Field::Render => return None,
    })
}

/// The command-line flag that sets a field keyway-sync or keyway-stores names by text
/// (`vault_url` → `--vault-url`, `secret_name` → `--secret-name`); a field path from a
/// manifest (`spec.clientID`), or a label a caller passed, is kept as it is. keyway-cluster's
/// fields are typed and said by [`cluster_flag`].
pub fn flag_for(field: &str) -> std::borrow::Cow<'_, str> {
    let base = field.split('[').next().unwrap_or(field);
    let flag = match base {
        "objects" => "object",
        "uploader_principal_id" => "uploader",
        "provider_class_name" => "provider-class",
        "endpoint" => "arm-endpoint",
        "connected_cluster" => "connected-cluster",
        "issuer"
        | "max_token_expiration"
        | "k3s_max_token_expiration"
        | "subscription"
        | "resource_group"
        | "identity"
        | "keyvault"
        | "keyvault_resource_group"
        | "namespace"
        | "service_account"
        | "secret_name"
        | "secret_type"
        | "client_id"
        | "tenant_id"
        | "environment"
        | "name"
        | "trust_list_name"
        | "issuer_list_name"
        | "vault_url" => base,
        _ => return std::borrow::Cow::Borrowed(field),
    };
    std::borrow::Cow::Owned(format!("--{}", flag.replace('_', "-")))
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

#[cfg(test)]
mod tests {
    use super::*;
    use keyway_cluster::ClusterError;

    #[test]
    fn a_library_field_is_said_as_its_flag_and_a_field_path_as_it_is() {
        for (field, said) in [
            ("keyvault", "--keyvault"),
            ("keyvault_resource_group", "--keyvault-resource-group"),
            ("max_token_expiration", "--max-token-expiration"),
            ("objects", "--object"),
            ("objects[2]", "--object"),
            ("uploader_principal_id", "--uploader"),
            ("provider_class_name", "--provider-class"),
            ("endpoint", "--arm-endpoint"),
            ("vault_url", "--vault-url"),
            ("spec.clientID", "spec.clientID"),
            (
                "spec.parameters.keyvaultName",
                "spec.parameters.keyvaultName",
            ),
            ("--trust", "--trust"),
        ] {
            assert_eq!(flag_for(field), said, "{field}");
        }
    }

    #[test]
    fn cluster_errors_map_by_variant() {
        let invalid = CliError::from(ClusterError::invalid(
            keyway_cluster::Field::Namespace,
            "\"Azure_IoT\" is bad",
        ));
        assert!(
            matches!(&invalid, CliError::Input(text) if text == "--namespace: \"Azure_IoT\" is bad")
        );
        let io = CliError::from(ClusterError::io(
            "/etc/rancher/k3s/config.yaml",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        ));
        assert!(
            matches!(&io, CliError::Io { path, source } if path == "/etc/rancher/k3s/config.yaml"
                && source.kind() == std::io::ErrorKind::PermissionDenied),
            "{io:?}"
        );
        let file = CliError::from(ClusterError::unusable_file("k3s.yaml", "not UTF-8 text"));
        assert!(matches!(&file, CliError::Input(text) if text == "k3s.yaml: not UTF-8 text"));
        let arm = CliError::from(ClusterError::Arm {
            request: "PUT /x".into(),
            status: Some(500),
            message: "boom".into(),
        });
        assert!(matches!(arm, CliError::Remote(_)));
    }

    /// Each keyway-cluster field is said as the flag that sets it, or as its path when no flag
    /// does (`cluster_flag` names every variant, so a new one fails the build until it is
    /// listed there; this table holds the wording).
    #[test]
    fn every_cluster_field_is_said_as_its_flag_or_as_its_path() {
        use keyway_cluster::Field;
        for (field, said) in [
            (Field::Issuer, "--issuer"),
            (Field::MaxTokenExpiration, "--max-token-expiration"),
            (Field::Subscription, "--subscription"),
            (Field::ResourceGroup, "--resource-group"),
            (Field::Identity, "--identity"),
            (Field::Keyvault, "--keyvault"),
            (Field::KeyvaultResourceGroup, "--keyvault-resource-group"),
            (Field::UploaderPrincipalId, "--uploader"),
            (Field::Namespace, "--namespace"),
            (Field::ServiceAccount, "--service-account"),
            (Field::SecretName, "--secret-name"),
            (Field::SecretType, "--secret-type"),
            (Field::ClientId, "--client-id"),
            (Field::Environment, "--environment"),
            (Field::Name, "--name"),
            (Field::ProviderClassName, "--provider-class"),
            (Field::TrustListName, "--trust-list-name"),
            (Field::IssuerListName, "--issuer-list-name"),
            (Field::Endpoint, "--arm-endpoint"),
            (Field::Objects, "--object"),
            (Field::ObjectArgument, "--object"),
            (Field::TrustArgument, "--trust"),
            (Field::IssuerArgument, "--issuer"),
            (Field::CrlArgument, "--crl"),
            (Field::ConnectedCluster, "--connected-cluster"),
            (Field::Label("--cert".into()), "--cert"),
            // A field of `az connectedk8s show`'s output is its JSON path, even when it is
            // called `name` (no flag sets it).
            (Field::ConnectedClusterField("name"), "name"),
            (
                Field::ConnectedClusterField("oidcIssuerProfile.issuerUrl"),
                "oidcIssuerProfile.issuerUrl",
            ),
            (Field::MigrationInput, "input"),
            (
                Field::Manifest("document 1 (AzureIdentity default/kv) spec.clientID".into()),
                "document 1 (AzureIdentity default/kv) spec.clientID",
            ),
            (Field::Render, "render"),
        ] {
            let error = CliError::from(ClusterError::invalid(field.clone(), "is bad"));
            assert!(
                matches!(&error, CliError::Input(text) if *text == format!("{said}: is bad")),
                "{field:?}: {error:?}"
            );
        }
    }

    #[test]
    fn store_option_fields_are_said_as_flags() {
        assert_eq!(
            store_flags(
                "a: x; set `allow_expired` to add it; set `overwrite_secret`, or \
                 (`SecretValue::Existing`); c.crl: remove it too (`with_crl`); give its value \
                 (`SecretValue::Bytes`)"
            ),
            "a: x; set --allow-expired to add it; set --overwrite-secret, or (--existing); \
             c.crl: remove it too (--with-crl); give its value (--from-file or --from-stdin)"
        );
        let refused = CliError::from(keyway_stores::StoreError::Refused {
            reasons: vec!["ca.crl is the CRL of ca.der: remove it too (`with_crl`)".into()],
        });
        assert!(refused.to_string().contains("(--with-crl)"), "{refused}");
    }

    #[test]
    fn store_errors_keep_the_library_exit_code_and_name_flags() {
        use keyway_stores::{StoreError, VaultFailure};
        let code = |e: &CliError| e.exit_code();
        let invalid = CliError::from(StoreError::Invalid {
            field: "secret_name".into(),
            reason: "\"a_b\" is not a Key Vault name".into(),
        });
        assert!(
            matches!(&invalid, CliError::Input(t) if t.starts_with("--secret-name: ")),
            "{invalid:?}"
        );
        assert_eq!(code(&invalid), ExitCode::from(2));
        let refused = CliError::from(StoreError::Refused {
            reasons: vec!["old.der: expired".into()],
        });
        assert_eq!(code(&refused), ExitCode::from(1));
        let not_enabled = CliError::from(StoreError::SecretSyncNotEnabled {
            namespace: "azure-iot-operations".into(),
            connector: "opc-ua-connector".into(),
        });
        assert_eq!(code(&not_enabled), ExitCode::from(2));
        let vault = |failure, status| StoreError::Vault {
            operation: "set",
            secret: "s".into(),
            failure,
            status,
            message: "m".into(),
        };
        assert_eq!(
            code(&CliError::from(vault(VaultFailure::Forbidden, Some(403)))),
            ExitCode::from(1)
        );
        assert_eq!(
            code(&CliError::from(vault(VaultFailure::Unreachable, None))),
            ExitCode::from(3)
        );
        let unreachable = CliError::from(StoreError::Cluster {
            operation: "listing SecretSyncs".into(),
            status: None,
            message: "connection refused".into(),
        });
        assert_eq!(code(&unreachable), ExitCode::from(3));
    }

    #[test]
    fn only_the_loopback_refusal_names_the_command_line_opt_in() {
        use keyway_identity::{IdentityError, InsecureReason};
        let insecure = |reason| IdentityError::Insecure {
            url: "http://127.0.0.1:9/t/oauth2/v2.0/token".into(),
            reason,
        };
        let loopback = CliError::from(insecure(InsecureReason::LoopbackNeedsOptIn)).to_string();
        assert!(
            loopback.contains("KEYWAY_ALLOW_INSECURE_LOOPBACK=1"),
            "{loopback}"
        );
        let remote = CliError::from(insecure(InsecureReason::NotHttps)).to_string();
        assert!(
            !remote.contains("KEYWAY_ALLOW_INSECURE_LOOPBACK"),
            "{remote}"
        );
    }
}
