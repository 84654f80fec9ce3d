//! Key Vault's answers as errors: what failed ([`SourceFailure`]), Key Vault's own code and
//! message on one line, and for a 403 the role that grants the operation.

use crate::error::{SourceFailure, SyncError};

/// What a request to Key Vault was doing, so a refusal can name the role that grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VaultOperation {
    /// Listing secrets or their versions (`secrets/readMetadata`).
    ListSecrets,
    /// Reading a secret's value (`secrets/getSecret`).
    ReadSecret,
    /// Listing keys or reading a key's public part (`keys/read`).
    ReadKeys,
    /// Setting a secret (`secrets/setSecret`).
    WriteSecret,
}

impl VaultOperation {
    /// The built-in Azure RBAC roles that allow this operation, the least privileged first.
    pub fn roles(self) -> &'static str {
        match self {
            VaultOperation::ListSecrets => "Key Vault Secrets User or Key Vault Reader",
            VaultOperation::ReadSecret => "Key Vault Secrets User",
            VaultOperation::ReadKeys => "Key Vault Reader or Key Vault Crypto User",
            VaultOperation::WriteSecret => "Key Vault Secrets Officer",
        }
    }
}

/// Key Vault's error body (`{"error": {"code", "message", "innererror": {"code"}}}`) as
/// `code (inner code): message` on one line; `None` when the body is not one.
pub fn describe_body(body: &[u8]) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = body.get("error")?;
    let code = error.get("code").and_then(|c| c.as_str()).unwrap_or("");
    let inner = error
        .pointer("/innererror/code")
        .and_then(|c| c.as_str())
        .filter(|inner| *inner != code);
    let message = error.get("message").and_then(|m| m.as_str()).unwrap_or("");
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if code.is_empty() && message.is_empty() {
        return None;
    }
    Some(match inner {
        Some(inner) => format!("{code} ({inner}): {message}"),
        None => format!("{code}: {message}"),
    })
}

/// Maps an SDK error of `operation` on `object` (a secret or key name, `*` for a listing) at
/// `vault` (its URL, named when it could not be reached) to a
/// [`SyncError::Source`]: the failure kind, Key Vault's code and message rather than the SDK's
/// dump, the innermost cause of a transport or credential failure, and for a 403 the role that
/// would allow it.
pub fn source_error(
    vault: &str,
    object: &str,
    operation: VaultOperation,
    error: azure_core::Error,
) -> SyncError {
    use azure_core::error::ErrorKind;
    let status = error.http_status().map(u16::from);
    let body = match error.kind() {
        ErrorKind::HttpResponse {
            raw_response: Some(raw),
            ..
        } => Some(raw.body().as_ref().to_vec()),
        _ => None,
    };
    let inner = body.as_deref().and_then(|body| {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()?
            .pointer("/error/innererror/code")?
            .as_str()
            .map(str::to_string)
    });
    let failure = match (status, inner.as_deref(), error.kind()) {
        (_, _, ErrorKind::Credential) => credential_failure(&error),
        (Some(404), _, _) => SourceFailure::NotFound,
        (Some(403), Some("SecretDisabled" | "KeyDisabled"), _) => SourceFailure::Disabled,
        (Some(403), _, _) => SourceFailure::Forbidden,
        (Some(429), _, _) => SourceFailure::Throttled,
        (Some(401), _, _) => SourceFailure::Unauthenticated,
        (Some(s), _, _) if s >= 500 => SourceFailure::Unavailable,
        (None, _, ErrorKind::Io | ErrorKind::Connection) => SourceFailure::Unavailable,
        _ => SourceFailure::Other,
    };
    // A credential or transport failure's own text ("will not be retried") says nothing: the
    // error under it names the cause (Entra's AADSTS code and its fix, a missing token file, a
    // reset, a refused connection). An HTTP answer is best told by Key Vault's own words.
    let mut text = match error.kind() {
        ErrorKind::Credential => keyway_identity::root_cause(&error),
        ErrorKind::Io | ErrorKind::Connection => format!(
            "{vault} unreachable: {}",
            keyway_identity::transport_failure(&error)
        ),
        _ => body
            .as_deref()
            .and_then(describe_body)
            .unwrap_or_else(|| first_line(&error.to_string())),
    };
    if failure == SourceFailure::Forbidden {
        text.push_str(&format!(
            "; the caller needs {} on the vault (an Azure role assignment at the vault's scope)",
            operation.roles()
        ));
    }
    let message: String = text.chars().take(1200).collect();
    SyncError::source_failure(object, failure, status, message).with_cause(error)
}

/// What a credential failure was, from the `IdentityError` in its chain: this machine's token
/// file or configuration ([`SourceFailure::Credential`]), Entra ID unreachable or failing
/// (`Unavailable`, `Throttled`: nothing refused the identity), or Entra's refusal
/// (`Unauthenticated`: an AADSTS answer).
fn credential_failure(error: &azure_core::Error) -> SourceFailure {
    use keyway_identity::IdentityError;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(identity) = current.downcast_ref::<IdentityError>() {
            return match identity {
                IdentityError::TokenFile { .. }
                | IdentityError::Config { .. }
                | IdentityError::Insecure { .. } => SourceFailure::Credential,
                IdentityError::Remote { .. } => SourceFailure::Unavailable,
                IdentityError::Entra(refusal) if refusal.status == 429 => SourceFailure::Throttled,
                IdentityError::Entra(refusal) if refusal.status >= 500 => {
                    SourceFailure::Unavailable
                }
                _ => SourceFailure::Unauthenticated,
            };
        }
        cause = current.source();
    }
    SourceFailure::Unauthenticated
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_vault_bodies_are_told_on_one_line() {
        let body = br#"{"error":{"code":"Forbidden","message":"Caller is not authorized.\r\nCaller: appid=x\r\nVault: v;location=westeurope","innererror":{"code":"ForbiddenByRbac"}}}"#;
        assert_eq!(
            describe_body(body).unwrap(),
            "Forbidden (ForbiddenByRbac): Caller is not authorized. Caller: appid=x Vault: v;location=westeurope"
        );
        let plain = br#"{"error":{"code":"BadParameter","message":"bad"}}"#;
        assert_eq!(describe_body(plain).unwrap(), "BadParameter: bad");
        assert_eq!(describe_body(b"<html>"), None);
        assert_eq!(describe_body(br#"{"error":{}}"#), None);
    }

    #[test]
    fn each_operation_names_the_roles_that_grant_it() {
        assert!(VaultOperation::ReadKeys.roles().contains("Crypto User"));
        assert!(!VaultOperation::ReadKeys.roles().contains("Secrets User"));
        assert_eq!(
            VaultOperation::WriteSecret.roles(),
            "Key Vault Secrets Officer"
        );
    }
}
