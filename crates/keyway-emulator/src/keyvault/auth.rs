//! Who may do what on a vault, checked as Key Vault checks it: the bearer token first (a 401
//! challenge naming the tenant's authority for anything else: missing, forged, for another
//! audience or tenant, expired), then the caller's RBAC roles on the vault against what the
//! operation needs (403 `ForbiddenByRbac` naming the action).

use std::collections::BTreeSet;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::op::Op;
use super::state::VaultState;
use super::{KEY_VAULT_RESOURCE, wire};
use crate::directory::AccessTokenClaims;
use crate::state::Shared;

/// A Key Vault data-plane role, by the built-in role it stands for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Role {
    /// Key Vault Secrets User (`4633458b-17de-408a-b874-0445c86b69e6`): read secret values and
    /// list secrets.
    SecretsUser,
    /// Key Vault Secrets Officer (`b86a8fe4-44ce-4948-aee5-eccb2c155cd7`): everything on secrets.
    SecretsOfficer,
    /// Key Vault Reader (`21090545-7ca7-4776-b22c-e363652d74d2`): metadata only, never secret
    /// values; keys' public halves.
    Reader,
    /// Key Vault Crypto User (`12338af0-0e69-4776-bea7-57ae8d297424`): keys.
    CryptoUser,
}

/// The 403 to answer when the caller's roles on `vault` do not allow `op`; `None` when they do.
pub(crate) fn refusal(
    vault: &VaultState,
    claims: &AccessTokenClaims,
    op: Op<'_>,
) -> Option<Response> {
    let (permission, action) = needs(op);
    if allows(&vault.roles_of(&claims.oid), permission, op) {
        return None;
    }
    let message = format!(
        "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid={};oid={};iss=https://sts.windows.net/{}/\r\nAction: 'Microsoft.KeyVault/vaults/{action}'\r\nResource: '/vaults/{}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: {};location=local\r\n",
        claims.appid, claims.oid, claims.tid, vault.name, vault.name
    );
    Some(wire::error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &message,
        Some("ForbiddenByRbac"),
    ))
}

/// What an operation needs from the caller's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Permission {
    ReadValue,
    ReadMetadata,
    Write,
    ReadKey,
}

/// What `op` needs: the permission, and the action a refusal names.
fn needs(op: Op<'_>) -> (Permission, &'static str) {
    match op {
        Op::Get(..) => (Permission::ReadValue, "secrets/getSecret/action"),
        Op::List | Op::Versions(_) => (Permission::ReadMetadata, "secrets/readMetadata/action"),
        Op::Set(_) => (Permission::Write, "secrets/setSecret/action"),
        Op::Update(..) => (Permission::Write, "secrets/update/action"),
        Op::Delete(_) => (Permission::Write, "secrets/delete"),
        Op::ListDeleted | Op::GetDeleted(_) => (Permission::ReadMetadata, "deletedsecrets/read"),
        Op::Recover(_) => (Permission::Write, "deletedsecrets/recover/action"),
        Op::Purge(_) => (Permission::Write, "deletedsecrets/delete"),
        Op::ListKeys | Op::GetKey(..) => (Permission::ReadKey, "keys/read"),
        Op::Unknown => (Permission::ReadMetadata, "secrets/readMetadata/action"),
    }
}

fn allows(roles: &BTreeSet<Role>, permission: Permission, op: Op<'_>) -> bool {
    roles.iter().any(|role| match (role, permission) {
        (Role::SecretsOfficer, permission) => permission != Permission::ReadKey,
        (Role::Reader | Role::CryptoUser, Permission::ReadKey) => true,
        (Role::SecretsUser, Permission::ReadValue | Permission::ReadMetadata) => {
            !matches!(op, Op::ListDeleted | Op::GetDeleted(_))
        }
        (Role::Reader, Permission::ReadMetadata) => {
            !matches!(op, Op::ListDeleted | Op::GetDeleted(_))
        }
        _ => false,
    })
}

/// The 401 answer for a request without a valid token: `message` and a bearer challenge that
/// names the vault's tenant on the emulated authority.
pub(crate) fn challenge(shared: &Shared, vault: &VaultState, message: &str) -> Response {
    let mut response = wire::error(StatusCode::UNAUTHORIZED, "Unauthorized", message, None);
    let value = format!(
        "Bearer authorization=\"{}/{}\", resource=\"{KEY_VAULT_RESOURCE}\"",
        shared.authority_url(),
        vault.tenant_id
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// Checks the bearer token; the error is the message of the 401 challenge to answer.
pub(crate) fn authenticate(
    shared: &Shared,
    vault: &VaultState,
    headers: &HeaderMap,
) -> std::result::Result<AccessTokenClaims, String> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = token else {
        return Err("AKV10000: Request is missing a Bearer or PoP token.".into());
    };
    let claims: AccessTokenClaims = shared.entra_jwks.verify_signature(token).map_err(|_| {
        "AKV10002: The token signature is invalid or was not issued by this tenant's authority."
            .to_string()
    })?;
    if claims.aud.trim_end_matches('/') != KEY_VAULT_RESOURCE {
        return Err(format!(
            "AKV10022: Invalid audience. Expected {KEY_VAULT_RESOURCE}, found: {}.",
            claims.aud
        ));
    }
    if claims.tid != vault.tenant_id {
        return Err(format!(
            "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{}/, found https://sts.windows.net/{}/.",
            vault.tenant_id, claims.tid
        ));
    }
    let now = shared.clock.unix();
    if now > claims.exp + 300 || now + 300 < claims.nbf {
        return Err("Token is expired or not yet valid.".into());
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_built_in_roles_grant() {
        let user: BTreeSet<Role> = [Role::SecretsUser].into();
        let reader: BTreeSet<Role> = [Role::Reader].into();
        let officer: BTreeSet<Role> = [Role::SecretsOfficer].into();
        let get = Op::Get("a", None);
        assert!(allows(&user, Permission::ReadValue, get));
        assert!(!allows(&reader, Permission::ReadValue, get));
        assert!(allows(&reader, Permission::ReadMetadata, Op::List));
        assert!(!allows(&user, Permission::Write, Op::Set("a")));
        assert!(allows(&officer, Permission::Write, Op::Purge("a")));
        assert!(!allows(
            &BTreeSet::new(),
            Permission::ReadMetadata,
            Op::List
        ));
    }
}
