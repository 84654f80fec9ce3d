//! The [`Vault`] handle: what a test or a program does to an emulated vault directly, without
//! HTTP, auth or counting — seed secrets, certificates and keys, grant and revoke roles, change
//! the throttling budget, and read back what the vault holds.

use std::sync::Arc;

use super::{Changes, NewVersion, Role, ThrottleLimits, VaultState};
use crate::directory::Identity;
use crate::error::{EmulatorError, Result};
use crate::state::Shared;

/// What to store in a secret version, for seeding a vault without going through its API.
/// `Debug` never shows the value.
#[derive(Clone, Default)]
pub struct SecretSpec {
    /// The value.
    pub value: String,
    /// The content type.
    pub content_type: Option<String>,
    /// Tags (e.g. `file-encoding`).
    pub tags: Vec<(String, String)>,
    /// Whether the version is enabled (default true).
    pub disabled: bool,
}

impl std::fmt::Debug for SecretSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSpec")
            .field(
                "value",
                &format_args!("<{} bytes redacted>", self.value.len()),
            )
            .field("content_type", &self.content_type)
            .field("tags", &self.tags)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// An emulated vault.
#[derive(Debug, Clone)]
pub struct Vault {
    state: Arc<VaultState>,
    clock_owner: Arc<Shared>,
}

impl Vault {
    /// The handle of a vault whose service is already listening.
    pub(crate) fn new(state: Arc<VaultState>, shared: Arc<Shared>) -> Vault {
        Vault {
            state,
            clock_owner: shared,
        }
    }

    /// The vault's name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// The vault URL, `https://127.0.0.1:PORT` (what `SecretClient::new` takes).
    pub fn url(&self) -> &str {
        self.state.url()
    }

    /// The tenant the vault belongs to.
    pub fn tenant_id(&self) -> &str {
        &self.state.tenant_id
    }

    /// Assigns `role` on this vault to `identity`.
    pub fn grant(&self, identity: &Identity, role: Role) {
        self.state.grant(&identity.object_id, role);
    }

    /// Removes `role` on this vault from `identity`.
    pub fn revoke(&self, identity: &Identity, role: Role) {
        self.state.revoke(&identity.object_id, role);
    }

    /// Changes the throttling budget.
    pub fn set_throttle(&self, limits: ThrottleLimits) {
        *self.state.limits.lock().unwrap_or_else(|p| p.into_inner()) = limits;
    }

    /// Adds a secret version directly (no HTTP, no auth, not counted); returns the version id.
    pub fn set_secret(&self, name: &str, value: &str) -> Result<String> {
        self.put_secret(
            name,
            SecretSpec {
                value: value.into(),
                ..SecretSpec::default()
            },
        )
    }

    /// Adds a secret version with content type, tags and enabled flag; returns the version id.
    pub fn put_secret(&self, name: &str, spec: SecretSpec) -> Result<String> {
        self.write(name, spec, false)
    }

    /// Imports a Key Vault certificate as `az keyvault certificate import` creates it: the
    /// backing secret (`kid` set, `managed: true`) with `value` — base64 PKCS#12
    /// (`application/x-pkcs12`) or PEM (`application/x-pem-file`) — and the key of the same name
    /// and version holding the leaf's public key.
    pub fn import_certificate(
        &self,
        name: &str,
        value: &str,
        content_type: &str,
    ) -> Result<String> {
        let spki = leaf_public_key(value, content_type)?;
        let version = self.write(
            name,
            SecretSpec {
                value: value.into(),
                content_type: Some(content_type.into()),
                ..SecretSpec::default()
            },
            true,
        )?;
        self.add_key(name, version.clone(), &spki, true)?;
        Ok(version)
    }

    /// Creates a version of a standalone key from its public key (DER `SubjectPublicKeyInfo`,
    /// RSA or EC P-256/P-384); returns the version id. Only the public half is held: the
    /// emulator serves `GET /keys`, not cryptographic operations.
    pub fn create_key(&self, name: &str, spki_der: &[u8]) -> Result<String> {
        let version = uuid::Uuid::new_v4().simple().to_string();
        self.add_key(name, version.clone(), spki_der, false)?;
        Ok(version)
    }

    fn add_key(&self, name: &str, version: String, spki_der: &[u8], managed: bool) -> Result<()> {
        let jwk = keyway_identity::Jwk::from_spki_der(spki_der).map_err(EmulatorError::Invalid)?;
        let public: std::collections::BTreeMap<String, String> = [
            ("kty", Some(jwk.kty)),
            ("n", jwk.n),
            ("e", jwk.e),
            ("crv", jwk.crv),
            ("x", jwk.x),
            ("y", jwk.y),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
        let now = self.clock_owner.clock.unix();
        let mut store = self.state.store();
        store
            .add_key(name, version, public, managed, now)
            .map_err(|e| EmulatorError::Invalid(format!("cannot add key {name:?}: {e:?}")))?;
        self.state.persist(&store);
        Ok(())
    }

    fn write(&self, name: &str, spec: SecretSpec, certificate: bool) -> Result<String> {
        let now = self.clock_owner.clock.unix();
        let mut store = self.state.store();
        let tags = (!spec.tags.is_empty()).then(|| spec.tags.into_iter().collect());
        let version = store
            .set(
                name,
                NewVersion {
                    value: spec.value,
                    content_type: spec.content_type,
                    tags,
                    enabled: Some(!spec.disabled),
                    nbf: None,
                    exp: None,
                    certificate,
                },
                now,
                self.state.url(),
            )
            .map(|v| v.version.clone())
            .map_err(|e| EmulatorError::Invalid(format!("cannot set secret {name:?}: {e:?}")))?;
        self.state.persist(&store);
        Ok(version)
    }

    /// The latest value of a secret, if it exists (for assertions in tests).
    pub fn secret_value(&self, name: &str) -> Option<String> {
        let store = self.state.store();
        store
            .secret(name)
            .ok()
            .and_then(|s| s.latest())
            .map(|v| v.value.clone())
    }

    /// Enables or disables the latest version of a secret.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<()> {
        let now = self.clock_owner.clock.unix();
        let mut store = self.state.store();
        store
            .update(
                name,
                None,
                Changes {
                    enabled: Some(enabled),
                    ..Default::default()
                },
                now,
            )
            .map_err(|e| EmulatorError::Invalid(format!("cannot update secret {name:?}: {e:?}")))?;
        self.state.persist(&store);
        Ok(())
    }

    /// Deletes a secret (soft delete: recoverable, as with purge protection), as another
    /// client of the vault might in the middle of a sync.
    pub fn delete_secret(&self, name: &str) -> Result<()> {
        let now = self.clock_owner.clock.unix();
        let mut store = self.state.store();
        store
            .delete(name, now)
            .map_err(|e| EmulatorError::Invalid(format!("cannot delete secret {name:?}: {e:?}")))?;
        self.state.persist(&store);
        Ok(())
    }

    /// Recovers a deleted secret with all its versions, as Key Vault's recover operation does
    /// (a deleted name cannot be set again until it is recovered or purged).
    pub fn recover_secret(&self, name: &str) -> Result<()> {
        let mut store = self.state.store();
        store.recover(name).map_err(|e| {
            EmulatorError::Invalid(format!("cannot recover secret {name:?}: {e:?}"))
        })?;
        self.state.persist(&store);
        Ok(())
    }

    /// Names of the live (not deleted) secrets.
    pub fn secret_names(&self) -> Vec<String> {
        self.state
            .store()
            .secrets
            .values()
            .map(|s| s.name.clone())
            .collect()
    }
}

/// The leaf certificate's public key of a certificate's backing secret value.
fn leaf_public_key(value: &str, content_type: &str) -> Result<Vec<u8>> {
    use keyway_cert::{Bundle, ContentType, DecodeOptions, Encoding, ParseOptions, decode_value};
    let invalid =
        |e: keyway_cert::CertError| EmulatorError::Invalid(format!("certificate value: {e}"));
    let content_type: ContentType = content_type.parse().map_err(invalid)?;
    let encoding = (content_type == ContentType::Pkcs12).then_some(Encoding::Base64);
    let decoded = decode_value(
        value.as_bytes(),
        DecodeOptions {
            encoding,
            file_encoding_tag: None,
        },
    )
    .map_err(invalid)?;
    let bundle = Bundle::parse(
        decoded.bytes(),
        ParseOptions {
            content_type: Some(content_type),
            password: None,
        },
    )
    .map_err(invalid)?;
    let leaf = bundle.chain().leaf().ok_or_else(|| {
        EmulatorError::Invalid("the certificate value holds no certificate".into())
    })?;
    let x509 = bundle.certificates()[leaf].x509().map_err(invalid)?;
    Ok(x509.public_key().raw.to_vec())
}
