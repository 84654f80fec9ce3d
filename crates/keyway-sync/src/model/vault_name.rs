//! The Key Vault name rule, said once: keyway-sync checks a SecretProviderClass's
//! `keyvaultName` with it, keyway-cluster the vault of a plan or a rendered manifest.

/// Why a name is not a Key Vault name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultNameProblem {
    /// Shorter than 3 or longer than 24 characters.
    #[error("is not 3-24 characters long")]
    Length,
    /// A character other than an ASCII letter, digit or `-`.
    #[error("may hold only letters, digits and -")]
    Characters,
    /// Does not start with a letter.
    #[error("must start with a letter")]
    Start,
    /// Ends with `-`.
    #[error("must end with a letter or digit")]
    End,
    /// Holds `--`.
    #[error("may not hold consecutive hyphens")]
    ConsecutiveHyphens,
}

/// The rule in one sentence, for messages.
pub const VAULT_NAME_RULE: &str = "Key Vault names are 3-24 letters, digits and hyphens, start with a letter, end with a letter or digit, with no consecutive hyphens";

/// Checks a Key Vault name: 3-24 characters of letters, digits and `-`, starting with a letter,
/// ending with a letter or digit, no `--` (what `az keyvault create` and ARM accept). A vault
/// with any other name cannot exist, so a manifest or plan naming one fails here, next to the
/// typo, rather than as a DNS error at the first sync.
///
/// ```
/// use keyway_sync::model::vault_name::{VaultNameProblem, check_vault_name};
/// assert!(check_vault_name("edge-vault").is_ok());
/// assert_eq!(check_vault_name("edge_vault"), Err(VaultNameProblem::Characters));
/// assert_eq!(check_vault_name("edge--vault"), Err(VaultNameProblem::ConsecutiveHyphens));
/// ```
pub fn check_vault_name(name: &str) -> Result<(), VaultNameProblem> {
    if !(3..=24).contains(&name.chars().count()) {
        Err(VaultNameProblem::Length)
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Err(VaultNameProblem::Characters)
    } else if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Err(VaultNameProblem::Start)
    } else if name.ends_with('-') {
        Err(VaultNameProblem::End)
    } else if name.contains("--") {
        Err(VaultNameProblem::ConsecutiveHyphens)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names() {
        for good in [
            "abc",
            "kv-1",
            "edge-vault",
            "Edge-Vault-01",
            "a23456789012345678901234",
        ] {
            assert_eq!(check_vault_name(good), Ok(()), "{good}");
        }
        for (bad, problem) in [
            ("ab", VaultNameProblem::Length),
            ("a234567890123456789012345", VaultNameProblem::Length),
            ("edge_vault", VaultNameProblem::Characters),
            ("véault", VaultNameProblem::Characters),
            ("1vault", VaultNameProblem::Start),
            ("-vault", VaultNameProblem::Start),
            ("vault-", VaultNameProblem::End),
            ("edge--vault", VaultNameProblem::ConsecutiveHyphens),
        ] {
            assert_eq!(check_vault_name(bad), Err(problem), "{bad}");
        }
    }
}
