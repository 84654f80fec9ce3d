//! A vault's contents: secrets with all their versions, soft-deleted secrets, and the rules the
//! real service applies to names, values and state changes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One version of a secret. `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Version {
    pub version: String,
    pub value: String,
    pub content_type: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub enabled: bool,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
    pub created: i64,
    pub updated: i64,
    /// Set when the secret backs a Key Vault certificate.
    pub kid: Option<String>,
    pub managed: bool,
}

impl std::fmt::Debug for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Version")
            .field("version", &self.version)
            .field(
                "value",
                &format_args!("<{} bytes redacted>", self.value.len()),
            )
            .field("content_type", &self.content_type)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A secret: its name as first written, and its versions, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Secret {
    pub name: String,
    pub versions: Vec<Version>,
}

impl Secret {
    pub fn latest(&self) -> Option<&Version> {
        self.versions.last()
    }

    pub fn version(&self, version: Option<&str>) -> Option<&Version> {
        match version {
            None => self.latest(),
            Some(v) => self
                .versions
                .iter()
                .find(|x| x.version.eq_ignore_ascii_case(v)),
        }
    }

    pub fn version_mut(&mut self, version: Option<&str>) -> Option<&mut Version> {
        match version {
            None => self.versions.last_mut(),
            Some(v) => self
                .versions
                .iter_mut()
                .find(|x| x.version.eq_ignore_ascii_case(v)),
        }
    }
}

/// A soft-deleted secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Deleted {
    pub secret: Secret,
    pub deleted: i64,
    pub scheduled_purge: i64,
}

/// One version of a key: its public half as JWK components (`kty`, `n`, `e` or `crv`, `x`, `y`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyVersion {
    pub version: String,
    pub public: BTreeMap<String, String>,
    pub enabled: bool,
    pub created: i64,
    pub updated: i64,
    pub managed: bool,
}

/// A key and its versions, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Key {
    pub name: String,
    pub versions: Vec<KeyVersion>,
}

/// Everything a vault holds, keyed by lowercase name (Key Vault names are case-insensitive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Store {
    pub secrets: BTreeMap<String, Secret>,
    pub deleted: BTreeMap<String, Deleted>,
    #[serde(default)]
    pub keys: BTreeMap<String, Key>,
}

/// Days a deleted secret stays recoverable.
pub(crate) const RECOVERABLE_DAYS: i64 = 90;
/// The largest value Key Vault accepts.
pub(crate) const MAX_VALUE_BYTES: usize = 25 * 1024;

/// Why a store operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreError {
    BadName(String),
    TooLarge(usize),
    NotFound(String),
    VersionNotFound(String, String),
    DeletedNotFound(String),
    DeletedButRecoverable(String),
    Disabled(String),
    KeyNotFound(String),
}

/// What a write asks for.
#[derive(Clone, Default)]
pub(crate) struct NewVersion {
    pub value: String,
    pub content_type: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
    pub certificate: bool,
}

impl std::fmt::Debug for NewVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewVersion")
            .field(
                "value",
                &format_args!("<{} bytes redacted>", self.value.len()),
            )
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

/// What an update may change.
#[derive(Debug, Clone, Default)]
pub(crate) struct Changes {
    pub content_type: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
}

pub(crate) fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 127
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_string()))
    }
}

impl Store {
    /// Adds a key version with `version` as its id (a certificate's key shares its secret's).
    pub fn add_key(
        &mut self,
        name: &str,
        version: String,
        public: BTreeMap<String, String>,
        managed: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        check_name(name)?;
        let key = self
            .keys
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| Key {
                name: name.to_string(),
                versions: Vec::new(),
            });
        key.versions.push(KeyVersion {
            version,
            public,
            enabled: true,
            created: now,
            updated: now,
            managed,
        });
        Ok(())
    }

    /// `GET /keys/{name}/{version?}`.
    pub fn key(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<(&Key, &KeyVersion), StoreError> {
        let key = self
            .keys
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| StoreError::KeyNotFound(name.to_string()))?;
        let found = match version {
            None => key.versions.last(),
            Some(v) => key
                .versions
                .iter()
                .find(|k| k.version.eq_ignore_ascii_case(v)),
        }
        .ok_or_else(|| {
            StoreError::KeyNotFound(format!("{name}/{}", version.unwrap_or_default()))
        })?;
        Ok((key, found))
    }

    /// Adds a version (creating the secret), as `PUT /secrets/{name}` does.
    pub fn set(
        &mut self,
        name: &str,
        new: NewVersion,
        now: i64,
        vault_url: &str,
    ) -> Result<&Version, StoreError> {
        check_name(name)?;
        if new.value.len() > MAX_VALUE_BYTES {
            return Err(StoreError::TooLarge(new.value.len()));
        }
        let key = name.to_ascii_lowercase();
        if self.deleted.contains_key(&key) {
            return Err(StoreError::DeletedButRecoverable(name.to_string()));
        }
        let version = uuid::Uuid::new_v4().simple().to_string();
        let kid = new
            .certificate
            .then(|| format!("{vault_url}/keys/{name}/{version}"));
        let secret = self.secrets.entry(key).or_insert_with(|| Secret {
            name: name.to_string(),
            versions: Vec::new(),
        });
        secret.versions.push(Version {
            version,
            value: new.value,
            content_type: new.content_type,
            tags: new.tags,
            enabled: new.enabled.unwrap_or(true),
            nbf: new.nbf,
            exp: new.exp,
            created: now,
            updated: now,
            managed: kid.is_some(),
            kid,
        });
        Ok(secret.versions.last().expect("just pushed"))
    }

    pub fn secret(&self, name: &str) -> Result<&Secret, StoreError> {
        self.secrets
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| StoreError::NotFound(name.to_string()))
    }

    /// `GET /secrets/{name}/{version?}`: the value of an enabled version.
    pub fn get(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<(&Secret, &Version), StoreError> {
        let secret = self.secret(name)?;
        let found = secret.version(version).ok_or_else(|| {
            StoreError::VersionNotFound(name.to_string(), version.unwrap_or_default().to_string())
        })?;
        if !found.enabled {
            return Err(StoreError::Disabled(name.to_string()));
        }
        Ok((secret, found))
    }

    pub fn update(
        &mut self,
        name: &str,
        version: Option<&str>,
        changes: Changes,
        now: i64,
    ) -> Result<(&Secret, &Version), StoreError> {
        let key = name.to_ascii_lowercase();
        let secret = self
            .secrets
            .get_mut(&key)
            .ok_or_else(|| StoreError::NotFound(name.to_string()))?;
        let target = secret.version_mut(version).ok_or_else(|| {
            StoreError::VersionNotFound(name.to_string(), version.unwrap_or_default().to_string())
        })?;
        if let Some(ct) = changes.content_type {
            target.content_type = Some(ct);
        }
        if let Some(tags) = changes.tags {
            target.tags = Some(tags);
        }
        if let Some(enabled) = changes.enabled {
            target.enabled = enabled;
        }
        if changes.nbf.is_some() {
            target.nbf = changes.nbf;
        }
        if changes.exp.is_some() {
            target.exp = changes.exp;
        }
        target.updated = now;
        let version = target.version.clone();
        let secret = &self.secrets[&key];
        Ok((
            secret,
            secret.version(Some(&version)).expect("just updated"),
        ))
    }

    pub fn delete(&mut self, name: &str, now: i64) -> Result<&Deleted, StoreError> {
        let key = name.to_ascii_lowercase();
        let secret = self
            .secrets
            .remove(&key)
            .ok_or_else(|| StoreError::NotFound(name.to_string()))?;
        self.deleted.insert(
            key.clone(),
            Deleted {
                secret,
                deleted: now,
                scheduled_purge: now + RECOVERABLE_DAYS * 86_400,
            },
        );
        Ok(&self.deleted[&key])
    }

    pub fn deleted(&self, name: &str) -> Result<&Deleted, StoreError> {
        self.deleted
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| StoreError::DeletedNotFound(name.to_string()))
    }

    pub fn recover(&mut self, name: &str) -> Result<&Secret, StoreError> {
        let key = name.to_ascii_lowercase();
        let deleted = self
            .deleted
            .remove(&key)
            .ok_or_else(|| StoreError::DeletedNotFound(name.to_string()))?;
        self.secrets.insert(key.clone(), deleted.secret);
        Ok(&self.secrets[&key])
    }

    pub fn purge(&mut self, name: &str) -> Result<(), StoreError> {
        self.deleted
            .remove(&name.to_ascii_lowercase())
            .map(|_| ())
            .ok_or_else(|| StoreError::DeletedNotFound(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(v: &str) -> NewVersion {
        NewVersion {
            value: v.into(),
            ..NewVersion::default()
        }
    }

    #[test]
    fn debug_never_shows_values() {
        let mut s = Store::default();
        s.set("a", value("hunter2"), 1, "https://v").unwrap();
        let shown = format!("{s:?} {:?}", value("hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn versions_soft_delete_and_names() {
        let mut s = Store::default();
        let v1 = s
            .set("Db-Password", value("a"), 1, "https://v")
            .unwrap()
            .version
            .clone();
        s.set("db-password", value("b"), 2, "https://v").unwrap();
        assert_eq!(s.get("DB-PASSWORD", None).unwrap().1.value, "b");
        assert_eq!(s.get("db-password", Some(&v1)).unwrap().1.value, "a");
        assert_eq!(s.secret("db-password").unwrap().name, "Db-Password");
        assert!(matches!(
            s.set("bad_name", value("x"), 1, "https://v"),
            Err(StoreError::BadName(_))
        ));
        assert!(matches!(
            s.set(
                "big",
                value(&"x".repeat(MAX_VALUE_BYTES + 1)),
                1,
                "https://v"
            ),
            Err(StoreError::TooLarge(_))
        ));
        s.update(
            "db-password",
            None,
            Changes {
                enabled: Some(false),
                ..Changes::default()
            },
            3,
        )
        .unwrap();
        assert_eq!(
            s.get("db-password", None).unwrap_err(),
            StoreError::Disabled("db-password".into())
        );
        s.delete("db-password", 4).unwrap();
        assert!(matches!(
            s.set("db-password", value("c"), 5, "https://v"),
            Err(StoreError::DeletedButRecoverable(_))
        ));
        s.recover("db-password").unwrap();
        assert_eq!(s.secret("db-password").unwrap().versions.len(), 2);
        s.delete("db-password", 6).unwrap();
        s.purge("db-password").unwrap();
        assert!(s.deleted("db-password").is_err() && s.secret("db-password").is_err());
    }
}
