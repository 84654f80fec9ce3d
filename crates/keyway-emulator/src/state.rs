//! The state every emulated service shares: the clock, the fault injector and request counters,
//! the TLS material, the signing keys of Entra and of the OIDC issuer, the directory of tenants
//! and identities, and the services' own URLs once they listen.
//!
//! Every service module depends on this one and on nothing above it; the [`crate::Emulator`]
//! handle builds a [`Shared`] and hands it to each service's router.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::Duration;

use keyway_identity::Jwks;

use crate::clock::Clock;
use crate::counters::Counters;
use crate::directory::Directory;
use crate::error::Result;
use crate::faults::Faults;
use crate::signing::SigningKey;
use crate::tls::Tls;

/// State every emulated service shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub clock: Clock,
    pub faults: Arc<Faults>,
    pub counters: Arc<Counters>,
    pub tls: Tls,
    /// Trusts the emulator's CA: how Entra fetches issuer discovery documents.
    pub http: reqwest::Client,
    pub entra_key: SigningKey,
    /// The Entra key's public half, as the vault verifies access tokens with it.
    pub entra_jwks: Jwks,
    issuer_keys: RwLock<Vec<Arc<SigningKey>>>,
    directory: Mutex<Directory>,
    authority_url: OnceLock<String>,
    issuer_url: OnceLock<String>,
    pub token_lifetime: Duration,
}

impl Shared {
    /// Fresh state: a new CA, a new Entra key and a new issuer key, an empty directory.
    pub fn new(token_lifetime: Duration) -> Result<Shared> {
        let tls = Tls::generate()?;
        let entra_key = SigningKey::generate()?;
        let http = tls.client()?;
        Ok(Shared {
            clock: Clock::default(),
            faults: Arc::new(Faults::default()),
            counters: Arc::new(Counters::default()),
            http,
            tls,
            entra_jwks: Jwks {
                keys: vec![entra_key.jwk().clone()],
            },
            entra_key,
            issuer_keys: RwLock::new(vec![Arc::new(SigningKey::generate()?)]),
            directory: Mutex::new(Directory::default()),
            authority_url: OnceLock::new(),
            issuer_url: OnceLock::new(),
            token_lifetime,
        })
    }

    /// Records where Entra and the issuer listen (once, when they have started).
    pub fn set_urls(&self, authority_url: String, issuer_url: String) {
        let _ = self.authority_url.set(authority_url);
        let _ = self.issuer_url.set(issuer_url);
    }

    pub fn directory(&self) -> MutexGuard<'_, Directory> {
        self.directory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The issuer's keys, the current (signing) one first.
    pub fn issuer_keys(&self) -> Vec<Arc<SigningKey>> {
        self.issuer_keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A new issuer key signs from now on; the previous one stays listed so tokens already
    /// issued still verify.
    pub fn rotate_issuer_key(&self) -> Result<()> {
        let key = Arc::new(SigningKey::generate()?);
        let mut keys = self.issuer_keys.write().unwrap_or_else(|p| p.into_inner());
        keys.insert(0, key);
        keys.truncate(2);
        Ok(())
    }

    pub fn authority_url(&self) -> String {
        self.authority_url.get().cloned().unwrap_or_default()
    }

    pub fn issuer_url(&self) -> String {
        self.issuer_url.get().cloned().unwrap_or_default()
    }
}
