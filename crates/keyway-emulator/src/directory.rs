//! The emulated Entra directory: tenants and their verified domains, the identities registered
//! in them with their federated identity credentials, issuers trusted through inline JWKs, and
//! the claims of the access tokens Entra issues and the other services check.
//!
//! Entra's token endpoint reads it; Key Vault and ARM verify [`AccessTokenClaims`]; the
//! [`crate::Emulator`] handle and ARM's federated-credential endpoint write it.

use std::collections::BTreeMap;

use keyway_identity::{FederatedIdentityCredential, Jwks};
use serde::{Deserialize, Serialize};

/// An application or user-assigned managed identity registered in a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// A display name.
    pub name: String,
    /// The tenant it lives in.
    pub tenant_id: String,
    /// The client (application) id.
    pub client_id: String,
    /// The object (principal) id, what role assignments name.
    pub object_id: String,
}

#[derive(Debug, Default)]
pub(crate) struct Directory {
    /// tenant id → client id → identity and its credentials
    tenants: BTreeMap<String, BTreeMap<String, (Identity, Vec<FederatedIdentityCredential>)>>,
    /// issuer URL → JWKs registered inline (issuers the emulator cannot reach)
    inline_issuers: BTreeMap<String, Jwks>,
    /// verified domain name (lower case) → tenant id
    domains: BTreeMap<String, String>,
}

impl Directory {
    pub fn add_tenant(&mut self, tenant_id: &str) {
        self.tenants.entry(tenant_id.to_string()).or_default();
    }

    pub fn has_tenant(&self, tenant_id: &str) -> bool {
        self.tenants.contains_key(tenant_id)
    }

    /// Registers `domain` (already checked by [`is_domain_name`]) as a verified domain of
    /// `tenant_id`. Like Entra, a domain belongs to one tenant at most.
    pub fn add_domain(&mut self, tenant_id: &str, domain: &str) -> Result<(), String> {
        if !self.has_tenant(tenant_id) {
            return Err(format!("tenant {tenant_id:?} is not registered"));
        }
        let key = domain.to_ascii_lowercase();
        match self.domains.get(&key) {
            Some(owner) if owner != tenant_id => Err(format!(
                "domain {domain:?} is already a verified domain of tenant {owner:?}"
            )),
            _ => {
                self.domains.insert(key, tenant_id.to_string());
                Ok(())
            }
        }
    }

    /// The tenant id a `{tenant}` path segment names, as Entra resolves it: the tenant id
    /// itself (a GUID in any letter case) or one of the tenant's verified domain names (any
    /// letter case). `common`, `organizations` and unknown names resolve to nothing.
    pub fn resolve_tenant(&self, segment: &str) -> Option<String> {
        if self.tenants.contains_key(segment) {
            return Some(segment.to_string());
        }
        if let Some(id) = self
            .tenants
            .keys()
            .find(|id| id.eq_ignore_ascii_case(segment))
        {
            return Some(id.clone());
        }
        self.domains.get(&segment.to_ascii_lowercase()).cloned()
    }

    pub fn add_identity(&mut self, identity: Identity) -> bool {
        match self.tenants.get_mut(&identity.tenant_id) {
            Some(tenant) => {
                tenant.insert(identity.client_id.clone(), (identity, Vec::new()));
                true
            }
            None => false,
        }
    }

    pub fn add_federated_credential(
        &mut self,
        tenant_id: &str,
        client_id: &str,
        fic: FederatedIdentityCredential,
    ) -> bool {
        match self
            .tenants
            .get_mut(tenant_id)
            .and_then(|t| t.get_mut(client_id))
        {
            Some((_, fics)) => {
                fics.retain(|f| f.name != fic.name);
                fics.push(fic);
                true
            }
            None => false,
        }
    }

    pub fn trust_issuer_inline(&mut self, issuer: &str, jwks: Jwks) {
        self.inline_issuers.insert(issuer.to_string(), jwks);
    }

    /// The identities of a registered tenant (by id, as [`Directory::resolve_tenant`] gives
    /// it), each with its federated credentials, by client id.
    pub fn identities(
        &self,
        tenant_id: &str,
    ) -> Option<&BTreeMap<String, (Identity, Vec<FederatedIdentityCredential>)>> {
        self.tenants.get(tenant_id)
    }

    /// The JWKs `issuer` is trusted through inline, if it is.
    pub fn inline_issuer(&self, issuer: &str) -> Option<Jwks> {
        self.inline_issuers.get(issuer).cloned()
    }
}

/// The access token claims the emulated Key Vault checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccessTokenClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub appid: String,
    pub oid: String,
    pub sub: String,
    pub tid: String,
    pub ver: String,
    /// Client capabilities the client declared in the request's `claims` (`cp1`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xms_cc: Option<Vec<String>>,
}

/// Whether `domain` is a DNS name Entra would take as a verified domain: at least two labels of
/// a-z, 0-9 and - (not at either end), each at most 63 characters, 253 in all.
pub(crate) fn is_domain_name(domain: &str) -> bool {
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    labels_ok && domain.contains('.') && domain.len() <= 253
}
