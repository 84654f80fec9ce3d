//! Plain synced secrets ("Add and use secrets", "Manage synced secrets"): a Key Vault secret
//! synced to the edge under a synced-secret name, through the instance's default
//! SecretProviderClass and one SecretSync per synced secret.

use std::fmt;

use keyway_cert::Encoding;
use keyway_sync::source::{SecretUpload, check_secret_name};
use keyway_sync::{SecretObjectData, validate_secret_key};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};
use crate::plan::{Plan, SecretAction, SecretWrite};
use crate::stores::{Removal, RemoveOptions, StoreListing, Stores, mappings_of};
use crate::target::objects_of;

/// Where a synced secret's value comes from.
#[derive(Clone)]
pub enum SecretValue {
    /// These bytes (read by the caller from a file or standard input — never an argument),
    /// stored as the secret's value.
    Bytes(Zeroizing<Vec<u8>>),
    /// The vault's existing secret of that name, as it is.
    Existing,
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretValue::Bytes(b) => write!(f, "Bytes(<{} bytes redacted>)", b.len()),
            SecretValue::Existing => f.write_str("Existing"),
        }
    }
}

/// A synced secret to add.
#[derive(Debug, Clone)]
pub struct SecretAdd {
    /// The Key Vault secret's name.
    pub vault_secret: String,
    /// The synced secret's name (the SecretSync and Kubernetes Secret); `None`: the Key Vault
    /// name.
    pub synced_name: Option<String>,
    /// The key in the Kubernetes Secret; `None`: the Key Vault name.
    pub key: Option<String>,
    /// The value.
    pub value: SecretValue,
    /// Write a new version when the secret holds another value, instead of refusing.
    pub overwrite_secret: bool,
}

impl Stores {
    /// Plans adding a synced secret: names checked, the value compared with what Key Vault
    /// holds (same value: no new version; another: refused unless overwrite; `Existing`: it
    /// must be there), the object added to the instance's default SecretProviderClass (never
    /// duplicated) and a SecretSync `synced_name` created. Reads only.
    pub async fn plan_secret(&self, add: &SecretAdd) -> Result<Plan> {
        let mut refusals = Vec::new();
        let vault_secret = add.vault_secret.as_str();
        check_secret_name(vault_secret).map_err(|e| StoreError::invalid_field("secret name", e))?;
        let synced_name = add
            .synced_name
            .clone()
            .unwrap_or_else(|| vault_secret.to_ascii_lowercase());
        check_resource_name(&synced_name)?;
        let key = add.key.clone().unwrap_or_else(|| vault_secret.to_string());
        validate_secret_key(&key, "key").map_err(|e| StoreError::invalid_field("key", e))?;
        for (value, what, field) in [
            (&key, "targetKey", "key"),
            (&add.vault_secret, "sourcePath", "secret name"),
        ] {
            if let Some(problem) = crate::check::secret_sync_key_problem(value, what) {
                return Err(StoreError::invalid(field, problem));
            }
        }

        // The cluster.
        let class_name = self.instance.provider_class.clone();
        let class = self.target.provider_class(&class_name).await?;
        let existing_sync = self.target.secret_sync(&synced_name).await?;
        let item = SecretObjectData {
            source_path: vault_secret.to_string(),
            target_key: key.clone(),
        };
        let is_store = [
            &self.config.trust_list,
            &self.config.issuer_list,
            &self.config.client_certificate,
        ]
        .contains(&&synced_name);
        if is_store {
            // Removing it would take the connector's certificates away: never the advice.
            refusals.push(format!(
                "{synced_name} is a certificate store's SecretSync; choose another synced name"
            ));
        } else if let Some(sync) = &existing_sync {
            let same = sync.spec.secret_provider_class_name == class_name
                && sync.spec.secret_object.data == [item.clone()];
            // One item through the instance's default class: a synced secret as `keyway
            // secrets add` makes it, which the operator may mean to replace. Anything else
            // serves something keyway did not make: only another name is safe advice.
            let a_synced_secret = sync.spec.secret_provider_class_name == class_name
                && sync.spec.secret_object.data.len() == 1;
            if !same {
                let fix = if a_synced_secret {
                    "remove that synced secret first, or choose another synced name".to_string()
                } else {
                    "it is not a synced secret made by `keyway secrets` (removing it would break \
                     what uses it): choose another synced name"
                        .to_string()
                };
                refusals.push(format!(
                    "{} exists with another mapping; {fix}",
                    self.resource("SecretSync", &synced_name)
                ));
            }
        }
        let (new_class, class_change) = self.plan_objects_in(
            &class_name,
            class.as_ref(),
            std::iter::once(vault_secret),
            None,
            &[],
            &mut refusals,
            false,
        )?;
        let before = existing_sync
            .as_ref()
            .map(|s| s.spec.secret_object.data.clone())
            .unwrap_or_default();
        let (new_sync, sync_change) = if refusals.is_empty() {
            let (sync, mut change) =
                self.plan_sync(&synced_name, existing_sync.as_ref(), &before, vec![item]);
            // A synced secret's SecretSync uses the instance's default class.
            let sync = sync.map(|mut s| {
                s.spec.secret_provider_class_name = class_name.clone();
                s
            });
            change.name = synced_name.clone();
            (sync, change)
        } else {
            (
                None,
                crate::plan::ResourceChange::unchanged("SecretSync", &synced_name),
            )
        };

        // Key Vault.
        let mut secrets = Vec::new();
        let mut uploads = Vec::new();
        let existing = self.vault.get(vault_secret).await?;
        let action = match (&add.value, &existing) {
            (SecretValue::Existing, Some(_)) => SecretAction::Unchanged,
            (SecretValue::Existing, None) => {
                refusals.push(format!(
                    "Key Vault holds no secret {vault_secret} to sync; give its value instead \
                     (`SecretValue::Bytes`)"
                ));
                SecretAction::Unchanged
            }
            (SecretValue::Bytes(b), Some(s)) if s.value().as_bytes() == b.as_slice() => {
                SecretAction::Unchanged
            }
            (SecretValue::Bytes(_), Some(_)) if add.overwrite_secret => SecretAction::NewVersion,
            (SecretValue::Bytes(_), Some(s)) => {
                refusals.push(format!(
                    "Key Vault already holds another value under {vault_secret} (version {}); \
                     set `overwrite_secret` to replace it, or sync the existing one \
                     (`SecretValue::Existing`)",
                    s.version.as_deref().unwrap_or("?")
                ));
                SecretAction::Unchanged
            }
            (SecretValue::Bytes(_), None) => SecretAction::Create,
        };
        if let (SecretValue::Bytes(bytes), SecretAction::Create | SecretAction::NewVersion) =
            (&add.value, action)
        {
            match SecretUpload::new(vault_secret, bytes, Encoding::Utf8, None) {
                Ok(upload) => uploads.push(upload),
                Err(e) => refusals.push(e.to_string()),
            }
        }
        secrets.push(SecretWrite {
            name: vault_secret.to_string(),
            file: synced_name.clone(),
            action,
            existing_version: existing.and_then(|s| s.version),
            content_type: None,
        });
        Ok(Plan {
            store: None,
            synced_secret: Some(synced_name),
            target: self.target.describe(),
            vault_url: self.vault.vault_url().to_string(),
            files: Vec::new(),
            secrets,
            provider_class: class_change,
            secret_sync: sync_change,
            connector_settings: None,
            refusals,
            warnings: Vec::new(),
            uploads,
            new_provider_class: new_class,
            new_secret_sync: new_sync,
            base_secret_sync: existing_sync.map(|s| s.spec),
        })
    }

    /// Lists the synced secrets: every SecretSync of the instance's default
    /// SecretProviderClass, with each key's Key Vault secret, version and sync state (never a
    /// value).
    pub async fn list_secrets(&self) -> Result<Vec<StoreListing>> {
        let class_name = &self.instance.provider_class;
        let objects = match self.target.provider_class(class_name).await? {
            Some(class) => objects_of(&class, &self.config.namespace)?,
            None => Vec::new(),
        };
        let syncs = self.target.secret_syncs().await?;
        let mut out = Vec::new();
        for name in mappings_of(&syncs, class_name).keys() {
            out.push(
                self.list_sync(None, name, &objects, OffsetDateTime::now_utc())
                    .await?,
            );
        }
        Ok(out)
    }

    /// Removes the synced secret `name`: its SecretSync, the objects no SecretSync maps any
    /// more from the default SecretProviderClass, and with `include_secrets` the Key Vault
    /// secrets (deleted and purged). `name` is the synced secret's name, or else the Key Vault
    /// secret name or target key of exactly one synced secret's entry (`db-password` for the
    /// synced secret `db` that syncs it); a name several synced secrets hold is refused naming
    /// them, and one none holds is [`StoreError::NotFound`].
    pub async fn remove_secret(&self, name: &str, options: &RemoveOptions) -> Result<Removal> {
        let class_name = self.instance.provider_class.clone();
        let sync = self
            .target
            .secret_sync(name)
            .await?
            .filter(|s| s.spec.secret_provider_class_name == class_name);
        let sync = match sync {
            Some(sync) => sync,
            None => self.synced_secret_holding(name, &class_name).await?,
        };
        let synced_name = sync.metadata.name.clone().unwrap_or_default();
        let synced_name = synced_name.as_str();
        let remove = sync.spec.secret_object.data.clone();
        self.remove_mapping(
            None,
            Some(synced_name.to_string()),
            synced_name,
            Some(&sync),
            &class_name,
            remove,
            Vec::new(),
            options,
        )
        .await
    }
}

impl Stores {
    /// The one SecretSync of `class_name` with an entry whose Key Vault secret name or target
    /// key is `name`.
    async fn synced_secret_holding(
        &self,
        name: &str,
        class_name: &str,
    ) -> Result<keyway_sync::SecretSync> {
        let objects = match self.target.provider_class(class_name).await? {
            Some(class) => objects_of(&class, &self.config.namespace)?,
            None => Vec::new(),
        };
        let syncs = self.target.secret_syncs().await?;
        let secret_name = |d: &SecretObjectData| {
            objects
                .iter()
                .find(|o| o.output_name() == d.source_path)
                .map_or(d.source_path.clone(), |o| o.name.clone())
        };
        let holding: Vec<&keyway_sync::SecretSync> = syncs
            .iter()
            .filter(|s| s.spec.secret_provider_class_name == class_name)
            .filter(|s| {
                s.spec
                    .secret_object
                    .data
                    .iter()
                    .any(|d| d.target_key == name || secret_name(d) == name)
            })
            .collect();
        match holding.as_slice() {
            [one] => Ok((*one).clone()),
            [] => {
                let names: Vec<String> = mappings_of(&syncs, class_name).into_keys().collect();
                Err(StoreError::NotFound {
                    store: format!("the synced secrets of {class_name}"),
                    name: name.to_string(),
                    known: if names.is_empty() {
                        "nothing".into()
                    } else {
                        names.join(", ")
                    },
                })
            }
            several => Err(StoreError::invalid(
                "synced name",
                format!(
                    "{name:?} is the Key Vault secret name or target key of several synced \
                     secrets ({}); nothing was removed: name the synced secret to remove",
                    several
                        .iter()
                        .map(|s| s.metadata.name.as_deref().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
}

/// A Kubernetes resource name (RFC 1123 subdomain): lowercase letters, digits, `-` and `.`,
/// starting and ending alphanumeric, at most 253.
fn check_resource_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "synced name",
            format!(
                "{name:?} is not a Kubernetes resource name: lowercase letters, digits, '-' and \
                 '.', starting and ending with a letter or digit, at most 253"
            ),
        ))
    }
}
