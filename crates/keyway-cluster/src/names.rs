//! The names Azure and Kubernetes accept, checked before anything is planned or rendered: a
//! plan for the vault `edge_vault` or a federated credential for the namespace `Azure_IoT`
//! names things that cannot exist, and fails only later, far from the typo.

use crate::error::{ClusterError, Field, Result};

/// A Key Vault name: 3-24 characters of letters, digits and `-`, starting with a letter, ending
/// with a letter or digit, no `--` (what `az keyvault create` and ARM accept). The rule is
/// keyway-sync's ([`keyway_sync::model::vault_name::check_vault_name`]), the one a
/// SecretProviderClass's `keyvaultName` is held to.
pub fn check_keyvault_name(field: Field, name: &str) -> Result<()> {
    use keyway_sync::model::vault_name::{VAULT_NAME_RULE, check_vault_name};
    check_vault_name(name).map_err(|problem| {
        ClusterError::invalid(field, format!("{name:?} {problem}: {VAULT_NAME_RULE}"))
    })
}

/// A Kubernetes namespace name: an RFC 1123 label — at most 63 lower-case letters, digits and
/// `-`, starting and ending with a letter or digit.
pub fn check_namespace(field: Field, name: &str) -> Result<()> {
    check_label(field, name, "namespace")
}

/// A Kubernetes object name that must be an RFC 1123 subdomain (ServiceAccounts, Secrets,
/// SecretProviderClasses, SecretSyncs): at most 253 characters, dot-separated labels of
/// lower-case letters, digits and `-`, each starting and ending with a letter or digit.
pub fn check_object_name(field: Field, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| label_problem(label).is_none());
    if valid {
        return Ok(());
    }
    Err(ClusterError::invalid(
        field,
        format!(
            "{name:?} is not a Kubernetes object name: at most 253 lower-case letters, digits, - and ., starting and ending with a letter or digit"
        ),
    ))
}

fn check_label(field: Field, name: &str, what: &str) -> Result<()> {
    match label_problem(name) {
        Some(problem) => Err(ClusterError::invalid(
            field,
            format!(
                "{name:?} is not a Kubernetes {what} name: {problem} (at most 63 lower-case letters, digits and -, starting and ending with a letter or digit)"
            ),
        )),
        None => Ok(()),
    }
}

fn label_problem(label: &str) -> Option<&'static str> {
    if label.is_empty() {
        Some("it is empty")
    } else if label.len() > 63 {
        Some("it is longer than 63 characters")
    } else if !label
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Some("it holds characters other than lower-case letters, digits and -")
    } else if label.starts_with('-') || label.ends_with('-') {
        Some("it starts or ends with -")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_vault_names() {
        for good in [
            "abc",
            "edge-vault",
            "Edge-Vault-01",
            "a23456789012345678901234",
        ] {
            check_keyvault_name(Field::Label("--keyvault".into()), good).unwrap();
        }
        for (bad, why) in [
            ("edge_vault", "only letters, digits and -"),
            ("ab", "3-24"),
            ("a234567890123456789012345", "3-24"),
            ("1vault", "start with a letter"),
            ("-vault", "start with a letter"),
            ("vault-", "end with a letter or digit"),
            ("edge--vault", "consecutive hyphens"),
            ("véault", "only letters"),
        ] {
            let e = check_keyvault_name(Field::Label("--keyvault".into()), bad)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("--keyvault: ") && e.contains(why),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn namespace_and_object_names() {
        check_namespace(Field::Label("--namespace".into()), "azure-iot-operations").unwrap();
        check_namespace(Field::Label("--namespace".into()), "a1").unwrap();
        for bad in ["Azure_IoT", "aio.ns", "-aio", "aio-", "", &"a".repeat(64)] {
            let e = check_namespace(Field::Label("--namespace".into()), bad)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("--namespace: "), "{e}");
        }
        check_object_name(
            Field::Label("--secret-name".into()),
            "aio-opc-ua-broker-trust-list",
        )
        .unwrap();
        check_object_name(Field::Label("--secret-name".into()), "a.b-c").unwrap();
        for bad in ["A", "a..b", "a_b", ".a", &"a".repeat(254)] {
            assert!(
                check_object_name(Field::Label("--secret-name".into()), bad).is_err(),
                "{bad}"
            );
        }
    }
}
