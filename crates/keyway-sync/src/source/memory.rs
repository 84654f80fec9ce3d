//! An in-memory secret source, for tests and for programs that embed keyway with their own store.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::{Result, SourceFailure, SyncError};
use crate::source::{CallCounts, KeyValue, SecretProperties, SecretSource, SecretValue};

/// One stored version: its properties and value.
type Stored = (SecretProperties, Zeroizing<String>);

/// Secrets held in memory, with versions; counts its calls like a real vault. `Debug` shows
/// names only.
#[derive(Default)]
pub struct MemorySource {
    secrets: Mutex<BTreeMap<String, Vec<Stored>>>,
    keys: Mutex<BTreeMap<String, KeyValue>>,
    list_calls: AtomicU64,
    version_calls: AtomicU64,
    get_calls: AtomicU64,
    next_version: AtomicU64,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a version of `name` and returns its version id.
    pub fn set(
        &self,
        name: &str,
        value: &str,
        content_type: Option<&str>,
        tags: &[(&str, &str)],
    ) -> String {
        let version = format!(
            "{:032x}",
            self.next_version.fetch_add(1, Ordering::Relaxed) + 1
        );
        let now = OffsetDateTime::now_utc();
        let properties = SecretProperties {
            name: name.to_string(),
            version: Some(version.clone()),
            updated: Some(now),
            created: Some(now),
            content_type: content_type.map(str::to_string),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            enabled: true,
            managed: false,
            kid: None,
        };
        let mut secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        secrets
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push((properties, Zeroizing::new(value.to_string())));
        version
    }

    /// Enables or disables the newest version of `name`.
    pub fn set_enabled(&self, name: &str, enabled: bool) {
        let mut secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((p, _)) = secrets
            .get_mut(&name.to_ascii_lowercase())
            .and_then(|v| v.last_mut())
        {
            p.enabled = enabled;
            p.updated = Some(OffsetDateTime::now_utc());
        }
    }

    /// Enables or disables one version of `name`.
    pub fn set_version_enabled(&self, name: &str, version: &str, enabled: bool) {
        let mut secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((p, _)) = secrets.get_mut(&name.to_ascii_lowercase()).and_then(|v| {
            v.iter_mut()
                .find(|(p, _)| p.version.as_deref() == Some(version))
        }) {
            p.enabled = enabled;
        }
    }

    /// Marks the newest version of `name` as a Key Vault certificate's backing secret: `kid`
    /// set (the certificate's key id) and `managed`, as Key Vault returns such secrets.
    pub fn set_kid(&self, name: &str, kid: &str) {
        let mut secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((p, _)) = secrets
            .get_mut(&name.to_ascii_lowercase())
            .and_then(|v| v.last_mut())
        {
            p.kid = Some(kid.to_string());
            p.managed = true;
        }
    }

    /// Sets key `name`'s public half.
    pub fn set_key(&self, name: &str, public_key: keyway_cert::PublicKeyComponents) {
        let now = OffsetDateTime::now_utc();
        let version = format!(
            "{:032x}",
            self.next_version.fetch_add(1, Ordering::Relaxed) + 1
        );
        let properties = SecretProperties {
            name: name.to_string(),
            version: Some(version),
            updated: Some(now),
            created: Some(now),
            enabled: true,
            ..SecretProperties::default()
        };
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.insert(
            name.to_ascii_lowercase(),
            KeyValue {
                properties,
                public_key,
            },
        );
    }

    /// Removes `name`.
    pub fn remove(&self, name: &str) {
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name.to_ascii_lowercase());
    }
}

impl std::fmt::Debug for MemorySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("MemorySource")
            .field("secrets", &secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn not_found(name: &str) -> SyncError {
    SyncError::source_failure(name, SourceFailure::NotFound, Some(404), "no such secret")
}

#[async_trait::async_trait]
impl SecretSource for MemorySource {
    async fn list(&self) -> Result<Vec<SecretProperties>> {
        self.list_calls.fetch_add(1, Ordering::Relaxed);
        let secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        Ok(secrets
            .values()
            .filter_map(|v| v.last())
            .map(|(p, _)| SecretProperties {
                version: None,
                ..p.clone()
            })
            .collect())
    }

    async fn versions(&self, name: &str) -> Result<Vec<SecretProperties>> {
        self.version_calls.fetch_add(1, Ordering::Relaxed);
        let secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        let versions = secrets
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| not_found(name))?;
        Ok(versions.iter().rev().map(|(p, _)| p.clone()).collect())
    }

    async fn get(&self, name: &str, version: Option<&str>) -> Result<SecretValue> {
        self.get_calls.fetch_add(1, Ordering::Relaxed);
        let secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        let versions = secrets
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| not_found(name))?;
        let found = match version {
            None => versions.last(),
            Some(v) => versions
                .iter()
                .find(|(p, _)| p.version.as_deref() == Some(v)),
        }
        .ok_or_else(|| not_found(name))?;
        if !found.0.enabled {
            return Err(SyncError::source_failure(
                name,
                SourceFailure::Disabled,
                Some(403),
                "the secret is disabled",
            ));
        }
        Ok(SecretValue {
            properties: found.0.clone(),
            value: found.1.clone(),
        })
    }

    async fn list_keys(&self) -> Result<Vec<SecretProperties>> {
        self.list_calls.fetch_add(1, Ordering::Relaxed);
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        Ok(keys
            .values()
            .map(|k| SecretProperties {
                version: None,
                ..k.properties.clone()
            })
            .collect())
    }

    async fn get_key(&self, name: &str, version: Option<&str>) -> Result<KeyValue> {
        self.get_calls.fetch_add(1, Ordering::Relaxed);
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.get(&name.to_ascii_lowercase())
            .filter(|k| version.is_none() || k.properties.version.as_deref() == version)
            .cloned()
            .ok_or_else(|| not_found(name))
    }

    fn calls(&self) -> CallCounts {
        CallCounts {
            list: self.list_calls.load(Ordering::Relaxed),
            versions: self.version_calls.load(Ordering::Relaxed),
            get: self.get_calls.load(Ordering::Relaxed),
        }
    }
}
