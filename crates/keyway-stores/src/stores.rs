//! [`Stores`]: add (plan, then apply), remove and list for the certificate stores.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use keyway_cert::{Bundle, Certificate, Crl, Encoding, ParseOptions};
use keyway_sync::source::{SecretUpload, check_secret_name};
use keyway_sync::{
    KeyVaultObject, SecretObject, SecretObjectData, SecretProviderClass, SecretProviderClassSpec,
    SecretSync, SecretSyncSpec,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::check::{
    CertificateSummary, CheckSettings, CrlSummary, FileKind, Finding, Level, Parsed, check_file,
    client_identity, extension, name_problems, not_a_ca, secret_name_for,
};
use crate::config::{Instance, Store, StoreConfig};
use crate::error::{Result, StoreError};
use crate::plan::{
    Applied, ChangeAction, ConnectorSettings, Plan, ResourceChange, SecretAction, SecretWrite,
};
use crate::target::{Digest, StoreTarget, digest, objects_of, render_objects};
use crate::vault::VaultSecrets;
use crate::{InputFile, SyncState};

/// Options of an add.
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// Add expired certificates too (with a warning) instead of refusing them.
    pub allow_expired: bool,
    /// Write a new version when a secret of the same name holds other bytes (or the same file
    /// in another encoding than tagged hex), instead of refusing.
    pub overwrite_secret: bool,
    /// The evaluation time of the date checks; `None`: now.
    pub at: Option<OffsetDateTime>,
    /// Client certificate: the subject name the certificate must have (its CN), if given.
    pub subject_name: Option<String>,
    /// Client certificate: the application URI it must have (its URI SAN), if given.
    pub application_uri: Option<String>,
}

/// Options of a removal.
#[derive(Debug, Clone, Default)]
pub struct RemoveOptions {
    /// Also delete and purge the Key Vault secrets no store maps any more.
    pub include_secrets: bool,
    /// Issuer list: also remove the CRLs a removed CA signed (else such a removal is refused,
    /// naming the CRL).
    pub with_crl: bool,
    /// Check and report only; change nothing.
    pub dry_run: bool,
}

/// What a removal did (or, dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removal {
    /// The store, for a certificate store.
    pub store: Option<Store>,
    /// The synced secret, for a synced secret.
    pub synced_secret: Option<String>,
    /// `(targetKey, secret name)` removed from the SecretSync.
    pub removed: Vec<(String, String)>,
    /// The SecretSync change.
    pub secret_sync: ResourceChange,
    /// The SecretProviderClass change (objects no SecretSync maps any more).
    pub provider_class: ResourceChange,
    /// Key Vault secrets deleted and purged.
    pub secrets_purged: Vec<String>,
    /// Key Vault secrets kept, and why (another store still maps them; not asked).
    pub secrets_kept: Vec<(String, String)>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Why more goes than was named (e.g. the client certificate's other half).
    pub notes: Vec<String>,
}

impl std::fmt::Display for Removal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match (&self.store, &self.synced_secret) {
            (Some(store), _) => store.to_string(),
            (_, Some(name)) => format!("synced secret {name}"),
            _ => String::new(),
        };
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        for (key, secret) in &self.removed {
            writeln!(f, "{what}: {verb} {key} (secret {secret})")?;
        }
        for note in &self.notes {
            writeln!(f, "  {note}")?;
        }
        writeln!(f, "  {}", self.secret_sync)?;
        writeln!(f, "  {}", self.provider_class)?;
        for s in &self.secrets_purged {
            writeln!(f, "  Key Vault secret {s}: deleted and purged")?;
        }
        for (s, why) in &self.secrets_kept {
            writeln!(f, "  Key Vault secret {s}: kept ({why})")?;
        }
        Ok(())
    }
}

/// One entry of a store or synced secret, as listed: never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The key in the Kubernetes Secret (the original file name).
    pub target_key: String,
    /// The Key Vault secret.
    pub secret_name: String,
    /// Its newest version (or the pinned one).
    pub version: Option<String>,
    /// What it holds, when it could be read.
    pub kind: Option<FileKind>,
    /// A certificate's details.
    pub certificate: Option<CertificateSummary>,
    /// A CRL's details.
    pub crl: Option<CrlSummary>,
    /// Findings (expired, expiring soon, unreadable).
    pub findings: Vec<Finding>,
    /// Whether the cluster holds exactly these bytes.
    pub sync: SyncState,
}

/// One store (or synced secret) as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreListing {
    /// The store, for a certificate store.
    pub store: Option<Store>,
    /// The SecretSync (and Secret) name.
    pub secret_sync: String,
    /// Whether the SecretSync exists.
    pub exists: bool,
    /// Its entries in SecretSync order.
    pub entries: Vec<Entry>,
}

impl StoreListing {
    /// Whether any entry's sync failed: a partial result (exit code 1 in a CLI, as for
    /// `keyway sync`).
    pub fn has_failed(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.sync, SyncState::Failed { .. }))
    }
}

impl std::fmt::Display for StoreListing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let title = match self.store {
            Some(store) => format!("{store} ({})", self.secret_sync),
            None => format!("synced secret {}", self.secret_sync),
        };
        if !self.exists {
            return writeln!(f, "{title}: empty");
        }
        writeln!(f, "{title}:")?;
        for e in &self.entries {
            writeln!(
                f,
                "  {} ← {} (version {}): {}",
                e.target_key,
                e.secret_name,
                e.version.as_deref().unwrap_or("?"),
                e.sync
            )?;
            if let Some(c) = &e.certificate {
                writeln!(
                    f,
                    "    {} sha1 {} not after {} ({})",
                    c.subject,
                    c.sha1,
                    crate::check::when(c.not_after),
                    crate::check::days(c.days_left)
                )?;
            }
            if let Some(c) = &e.crl {
                let next = c.next_update.map_or("none".to_string(), crate::check::when);
                writeln!(f, "    CRL of {} next update {next}", c.issuer)?;
            }
            for finding in &e.findings {
                writeln!(
                    f,
                    "    {:?} [{}]: {}",
                    finding.level, finding.code, finding.message
                )?;
            }
        }
        Ok(())
    }
}

/// The certificate stores and synced secrets of one Azure IoT Operations instance: a
/// configuration, the instance's vault, the cluster side and the vault side.
pub struct Stores {
    pub(crate) config: StoreConfig,
    pub(crate) instance: Instance,
    pub(crate) target: Arc<dyn StoreTarget>,
    pub(crate) vault: Arc<dyn VaultSecrets>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("config", &self.config)
            .field("instance", &self.instance)
            .field("target", &self.target.describe())
            .field("vault", &self.vault.vault_url())
            .finish()
    }
}

pub(crate) fn mapping_item(source: &str, target: &str) -> String {
    format!("{target} ← {source}")
}

impl Stores {
    /// The stores of `instance` (see [`Instance::discover`]) on `target`, writing to `vault`
    /// (the instance's vault).
    pub fn new(
        config: StoreConfig,
        instance: Instance,
        target: Arc<dyn StoreTarget>,
        vault: Arc<dyn VaultSecrets>,
    ) -> Stores {
        Stores {
            config,
            instance,
            target,
            vault,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The instance's vault and default SecretProviderClass.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    pub(crate) fn resource(&self, kind: &str, name: &str) -> String {
        format!("{kind} {}/{name}", self.config.namespace)
    }

    /// Plans adding `files` to `store`: every check is made here, before any write — file
    /// types (extensions case-insensitive, `.pem` like `.crt`), content (one certificate per
    /// file), the store's rules (issuer list: CA certificates only, CRLs signed by a listed or
    /// added CA and not past their nextUpdate; client: the key matches the certificate, a CN
    /// and exactly one URI SAN), dates (expired refused unless allowed, expiring within the
    /// configured window a warning), secret names, what Key Vault already holds (the same
    /// bytes in hex tagged `file-encoding: hex`: no new version; other bytes, or the same file
    /// in another encoding such as base64 or PEM text: refused unless overwrite) and what the
    /// cluster holds.
    /// Reads only; [`Stores::apply`] writes.
    pub async fn plan_add(
        &self,
        store: Store,
        files: &[InputFile],
        options: &AddOptions,
    ) -> Result<Plan> {
        let at = options.at.unwrap_or_else(OffsetDateTime::now_utc);
        let settings = CheckSettings {
            at,
            expiry_warning: self.config.expiry_warning,
            allow_expired: options.allow_expired,
        };
        let mut refusals = Vec::new();
        let mut warnings = Vec::new();
        if files.is_empty() {
            return Err(StoreError::invalid("files", "no file given"));
        }
        // 1. Each file on its own.
        let mut reports = Vec::new();
        let mut parsed = Vec::new();
        for file in files {
            let (secret_name, name_problem) = match file.secret_name() {
                Some(explicit) => (
                    explicit.to_string(),
                    check_secret_name(explicit).err().map(|e| e.to_string()),
                ),
                None => {
                    let derived = secret_name_for(file.name());
                    let problem = derived
                        .is_empty()
                        .then(|| "an empty file name gives no secret name".to_string());
                    (derived, problem)
                }
            };
            let (mut report, p) = check_file(store, file, secret_name, &settings);
            if let Some(problem) = name_problem {
                report.refusals.push(problem);
            }
            let problems = name_problems(file.name(), &report.secret_name);
            report.refusals.extend(problems);
            reports.push(report);
            parsed.push(p);
        }
        // 2. Names used twice in one command.
        let mut seen_files = BTreeSet::new();
        let mut seen_secrets = BTreeSet::new();
        for r in &reports {
            if !seen_files.insert(r.file.to_ascii_lowercase()) {
                refusals.push(format!("{} is given twice", r.file));
            }
            if !seen_secrets.insert(r.secret_name.to_ascii_lowercase()) {
                refusals.push(format!(
                    "two files map to the secret name {}; give one another secret name",
                    r.secret_name
                ));
            }
        }
        // 3. The cluster: the connector's SecretProviderClass and the store's SecretSync.
        let sync_name = self.config.secret_sync(store).to_string();
        let existing_class = self
            .target
            .provider_class(&self.config.provider_class)
            .await?;
        let existing_sync = self.target.secret_sync(&sync_name).await?;
        if let Some(sync) = &existing_sync
            && sync.spec.secret_provider_class_name != self.config.provider_class
        {
            refusals.push(format!(
                "{} uses SecretProviderClass {}, not {}: it is not the connector's; fix or delete it",
                self.resource("SecretSync", &sync_name),
                sync.spec.secret_provider_class_name,
                self.config.provider_class
            ));
        }

        // 4. The store's own rules.
        let mut connector_settings = None;
        match store {
            Store::Trust => {}
            Store::Issuer => {
                self.check_issuer(&mut reports, &parsed, existing_sync.as_ref())
                    .await?;
            }
            Store::Client => {
                connector_settings =
                    self.check_client(&mut reports, &parsed, options, &mut refusals, &mut warnings);
            }
        }
        if connector_settings.is_some()
            && let Err(reason) = self.target.check_connector_settings()
        {
            refusals.push(reason);
        }

        // 5. Cluster changes. A new client certificate replaces the whole mapping: the
        // objects of the one replaced go too, unless another SecretSync maps them.
        let mut dropped = Vec::new();
        if let (Store::Client, Some(sync)) = (store, &existing_sync) {
            let others = self
                .mapped_by_others(&sync_name, &self.config.provider_class)
                .await?;
            for d in &sync.spec.secret_object.data {
                if !reports.iter().any(|r| r.secret_name == d.source_path)
                    && !others.contains(&d.source_path)
                {
                    dropped.push(d.source_path.clone());
                }
            }
        }
        let (new_class, class_change) = self.plan_objects(
            existing_class.as_ref(),
            &reports,
            Some(Encoding::Hex),
            &dropped,
            &mut refusals,
        )?;
        let mut data: Vec<SecretObjectData> = match (&existing_sync, store) {
            (Some(sync), Store::Trust | Store::Issuer) => sync.spec.secret_object.data.clone(),
            _ => Vec::new(),
        };
        let before: Vec<SecretObjectData> = existing_sync
            .as_ref()
            .map(|s| s.spec.secret_object.data.clone())
            .unwrap_or_default();
        for r in &reports {
            match data.iter().find(|d| d.target_key == r.file) {
                Some(d) if d.source_path == r.secret_name => {}
                Some(d) => refusals.push(format!(
                    "{}: the {store} already holds {} from secret {}; remove it first",
                    r.file, d.target_key, d.source_path
                )),
                None => data.push(SecretObjectData {
                    source_path: r.secret_name.clone(),
                    target_key: r.file.clone(),
                }),
            }
        }
        let (new_sync, sync_change) =
            self.plan_sync(&sync_name, existing_sync.as_ref(), &before, data);

        // 6. Key Vault: what is there already (only for files that passed their checks).
        let mut secrets = Vec::new();
        let mut uploads = Vec::new();
        let refused_so_far = !refusals.is_empty() || reports.iter().any(|r| !r.refusals.is_empty());
        if !refused_so_far {
            // Who else maps each secret: a new version would change their files too.
            let other_syncs = if options.overwrite_secret {
                self.target.secret_syncs().await?
            } else {
                Vec::new()
            };
            for (file, report) in files.iter().zip(&reports) {
                let existing = self.vault.get(&report.secret_name).await?;
                let shared_with: Vec<String> =
                    mappings_of(&other_syncs, &self.config.provider_class)
                        .into_iter()
                        .flat_map(|(sync, data)| {
                            data.into_iter()
                                .filter(|d| d.source_path == report.secret_name)
                                .filter(|d| sync != sync_name || d.target_key != report.file)
                                .map(|d| format!("{} of {sync}", d.target_key))
                                .collect::<Vec<_>>()
                        })
                        .collect();
                // Unchanged only when the value is already these bytes as the connector's
                // object reads them (hex, tagged): the same certificate in base64 or PEM text
                // would reach the cluster as garbage through `objectEncoding: hex`.
                let action = match &existing {
                    None => SecretAction::Create,
                    Some(s) if s.holds_hex_of(file.bytes()) => SecretAction::Unchanged,
                    Some(s) if options.overwrite_secret && !shared_with.is_empty() => {
                        refusals.push(format!(
                            "{}: Key Vault secret {} is also {}; a new version would change \
                             that file too: choose another secret name",
                            report.file,
                            s.name,
                            shared_with.join(", ")
                        ));
                        SecretAction::Unchanged
                    }
                    Some(s) if options.overwrite_secret => {
                        warnings.push(format!(
                            "secret {} {} (version {}); a new version in hex replaces it",
                            s.name,
                            crate::candidates::what_it_holds(s, file.bytes()),
                            s.version.as_deref().unwrap_or("?")
                        ));
                        SecretAction::NewVersion
                    }
                    Some(s) => {
                        refusals.push(format!(
                            "{}: Key Vault secret {} {} (version {}), and the connector reads \
                             its files as hex tagged `file-encoding: hex`; set \
                             `overwrite_secret` to store it as hex in a new version, or choose \
                             another secret name",
                            report.file,
                            s.name,
                            crate::candidates::what_it_holds(s, file.bytes()),
                            s.version.as_deref().unwrap_or("?")
                        ));
                        SecretAction::Unchanged
                    }
                };
                if action != SecretAction::Unchanged {
                    match SecretUpload::new(
                        &report.secret_name,
                        file.bytes(),
                        Encoding::Hex,
                        report.content_type.as_deref(),
                    ) {
                        Ok(upload) => uploads.push(upload),
                        Err(e) => refusals.push(format!("{}: {e}", report.file)),
                    }
                }
                secrets.push(SecretWrite {
                    name: report.secret_name.clone(),
                    file: report.file.clone(),
                    action,
                    existing_version: existing.and_then(|s| s.version),
                    content_type: report.content_type.clone(),
                });
            }
        }
        Ok(Plan {
            store: Some(store),
            synced_secret: None,
            target: self.target.describe(),
            vault_url: self.vault.vault_url().to_string(),
            files: reports,
            secrets,
            provider_class: class_change,
            secret_sync: sync_change,
            connector_settings,
            refusals,
            warnings,
            uploads,
            new_provider_class: new_class,
            new_secret_sync: new_sync,
            base_secret_sync: existing_sync.map(|s| s.spec),
        })
    }

    /// The SecretProviderClass objects for `reports`' secrets: appended when absent, never
    /// duplicated; an object of the same output with other settings is refused.
    pub(crate) fn plan_objects(
        &self,
        existing: Option<&SecretProviderClass>,
        reports: &[crate::check::FileReport],
        encoding: Option<Encoding>,
        dropped: &[String],
        refusals: &mut Vec<String>,
    ) -> Result<(Option<SecretProviderClass>, ResourceChange)> {
        let name = self.config.provider_class.clone();
        self.plan_objects_in(
            &name,
            existing,
            reports.iter().map(|r| r.secret_name.as_str()),
            encoding,
            dropped,
            refusals,
            true,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn plan_objects_in<'a>(
        &self,
        name: &str,
        existing: Option<&SecretProviderClass>,
        secret_names: impl Iterator<Item = &'a str>,
        encoding: Option<Encoding>,
        dropped: &[String],
        refusals: &mut Vec<String>,
        may_create: bool,
    ) -> Result<(Option<SecretProviderClass>, ResourceChange)> {
        let mut objects = match existing {
            Some(class) => {
                if let Some(vault) = class.spec.parameters.get("keyvaultName")
                    && *vault != self.instance.vault_name
                {
                    refusals.push(format!(
                        "{} reads vault {vault}, but the instance's ({}) is {}: fix its \
                         keyvaultName or delete it",
                        self.resource("SecretProviderClass", name),
                        self.instance.provider_class,
                        self.instance.vault_name
                    ));
                }
                objects_of(class, &self.config.namespace)?
            }
            None if may_create => Vec::new(),
            None => {
                return Err(StoreError::SecretSyncNotEnabled {
                    namespace: self.config.namespace.clone(),
                    connector: self.config.provider_class.clone(),
                });
            }
        };
        let mut added = Vec::new();
        for secret in secret_names {
            match objects.iter().find(|o| o.output_name() == secret) {
                Some(o)
                    if o.name == secret
                        && o.object_type == keyway_sync::ObjectType::Secret
                        && o.encoding == encoding
                        && o.version.is_none()
                        && o.history().is_none() => {}
                Some(_) => refusals.push(format!(
                    "{} already has an object writing {secret} with other settings (a \
                     different objectName, type, encoding or version); remove it or choose \
                     another secret name",
                    self.resource("SecretProviderClass", name)
                )),
                None => {
                    let mut object = KeyVaultObject::secret(secret);
                    object.encoding = encoding;
                    objects.push(object);
                    added.push(secret.to_string());
                }
            }
        }
        let removed: Vec<String> = objects
            .iter()
            .filter(|o| dropped.iter().any(|d| d == o.output_name()))
            .map(|o| o.name.clone())
            .collect();
        objects.retain(|o| !dropped.iter().any(|d| d == o.output_name()));
        let action = match (existing, added.is_empty() && removed.is_empty()) {
            (None, _) => ChangeAction::Create,
            (Some(_), true) => ChangeAction::Unchanged,
            (Some(_), false) => ChangeAction::Update,
        };
        let change = ResourceChange {
            kind: "SecretProviderClass",
            name: name.to_string(),
            action,
            added,
            removed,
        };
        if action == ChangeAction::Unchanged {
            return Ok((None, change));
        }
        let spec = match existing {
            Some(class) => class.spec.clone(),
            None => SecretProviderClassSpec {
                provider: Some("azure".into()),
                parameters: self.instance.parameters.clone(),
                secret_objects: None,
            },
        };
        let mut class = self.with_objects(name, spec, &objects);
        // Applied only over the version read: a concurrent change is a conflict, not lost.
        class.metadata.resource_version =
            existing.and_then(|c| c.metadata.resource_version.clone());
        Ok((Some(class), change))
    }

    pub(crate) fn with_objects(
        &self,
        name: &str,
        mut spec: SecretProviderClassSpec,
        objects: &[KeyVaultObject],
    ) -> SecretProviderClass {
        spec.parameters
            .insert("objects".into(), render_objects(objects));
        SecretProviderClass::new(name, spec)
    }

    /// The SecretSync `name` with `data` (created when absent).
    pub(crate) fn plan_sync(
        &self,
        name: &str,
        existing: Option<&SecretSync>,
        before: &[SecretObjectData],
        data: Vec<SecretObjectData>,
    ) -> (Option<SecretSync>, ResourceChange) {
        let added: Vec<String> = data
            .iter()
            .filter(|d| !before.contains(d))
            .map(|d| mapping_item(&d.source_path, &d.target_key))
            .collect();
        let removed: Vec<String> = before
            .iter()
            .filter(|d| !data.contains(d))
            .map(|d| mapping_item(&d.source_path, &d.target_key))
            .collect();
        let action = match existing {
            None => ChangeAction::Create,
            Some(_) if added.is_empty() && removed.is_empty() => ChangeAction::Unchanged,
            Some(_) => ChangeAction::Update,
        };
        let change = ResourceChange {
            kind: "SecretSync",
            name: name.to_string(),
            action,
            added,
            removed,
        };
        if action == ChangeAction::Unchanged {
            return (None, change);
        }
        let spec = match existing {
            Some(sync) => {
                let mut spec = sync.spec.clone();
                spec.secret_object.data = data;
                spec
            }
            None => SecretSyncSpec {
                secret_provider_class_name: self.config.provider_class.clone(),
                service_account_name: self.config.service_account.clone(),
                secret_object: SecretObject {
                    type_: self.config.secret_type.clone(),
                    data,
                    labels: None,
                    annotations: None,
                },
                force_synchronization: None,
                secret_sync_controller_name: None,
            },
        };
        let mut sync = SecretSync::new(name, spec);
        sync.metadata.resource_version = existing.and_then(|s| s.metadata.resource_version.clone());
        (Some(sync), change)
    }

    /// The CA certificates the issuer list holds now, by target key (read from Key Vault).
    async fn listed_cas(&self, sync: Option<&SecretSync>) -> Result<Vec<(String, Certificate)>> {
        let mut cas = Vec::new();
        let Some(sync) = sync else { return Ok(cas) };
        for d in &sync.spec.secret_object.data {
            if extension(&d.target_key) == "crl" {
                continue;
            }
            if let Some(stored) = self.vault.get(&d.source_path).await?
                && let Some(cert) = certificate_in(&stored.file_bytes())
            {
                cas.push((d.target_key.clone(), cert));
            }
        }
        Ok(cas)
    }

    async fn check_issuer(
        &self,
        reports: &mut [crate::check::FileReport],
        parsed: &[Parsed],
        existing_sync: Option<&SecretSync>,
    ) -> Result<()> {
        for (report, p) in reports.iter_mut().zip(parsed) {
            if let Parsed::Certificate(cert) = p
                && let Some(problem) = not_a_ca(cert)
            {
                report.refusals.push(problem);
            }
        }
        if !parsed.iter().any(|p| matches!(p, Parsed::Crl(_))) {
            return Ok(());
        }
        let mut cas: Vec<(String, Certificate)> = reports
            .iter()
            .zip(parsed)
            .filter_map(|(r, p)| match p {
                Parsed::Certificate(c) if r.refusals.is_empty() => {
                    Some((r.file.clone(), (**c).clone()))
                }
                _ => None,
            })
            .collect();
        cas.extend(self.listed_cas(existing_sync).await?);
        for (report, p) in reports.iter_mut().zip(parsed) {
            let Parsed::Crl(crl) = p else { continue };
            match cas.iter().find(|(_, ca)| crl.is_signed_by(ca)) {
                Some((key, _)) => {
                    if let Some(summary) = report.crl.as_mut() {
                        summary.signed_by = Some(key.clone());
                    }
                }
                None => report.refusals.push(format!(
                    "is not signed by any CA in the issuer list or in this command (its issuer \
                     says {:?}; the signature was checked against {}): add the CA that signed it \
                     in the same command or first",
                    crl.details().issuer,
                    if cas.is_empty() {
                        "no CA".to_string()
                    } else {
                        cas.iter()
                            .map(|(k, _)| k.as_str())
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )),
            }
        }
        Ok(())
    }

    fn check_client(
        &self,
        reports: &mut [crate::check::FileReport],
        parsed: &[Parsed],
        options: &AddOptions,
        refusals: &mut Vec<String>,
        warnings: &mut Vec<String>,
    ) -> Option<ConnectorSettings> {
        let cert_at = reports.iter().position(|r| extension(&r.file) == "der");
        let key_at = reports.iter().position(|r| extension(&r.file) == "pem");
        let (Some(c), Some(k)) = (cert_at, key_at) else {
            refusals.push(
                "the client certificate takes two files: the public certificate (.der) and its \
                 private key (.pem), with the same file stem"
                    .into(),
            );
            return None;
        };
        if reports.len() != 2 {
            refusals.push(format!(
                "the client certificate takes exactly two files (.der and .pem); {} given",
                reports.len()
            ));
        }
        let stem = |name: &str| {
            std::path::Path::new(name)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string()
        };
        if stem(&reports[c].file) != stem(&reports[k].file) {
            refusals.push(format!(
                "{} and {} must have the same file stem (e.g. client.der and client.pem)",
                reports[c].file, reports[k].file
            ));
        }
        let (Parsed::Certificate(cert), Parsed::Key(key)) = (&parsed[c], &parsed[k]) else {
            return None;
        };
        match key.matches(cert) {
            Some(true) => {}
            Some(false) => reports[k].refusals.push(format!(
                "is not the private key of {}: their public keys differ",
                reports[c].file
            )),
            None => reports[k].refusals.push(format!(
                "cannot be matched to {} (its algorithm's public key cannot be derived here)",
                reports[c].file
            )),
        }
        let identity = match client_identity(cert) {
            Ok(identity) => identity,
            Err(problems) => {
                reports[c].refusals.extend(problems);
                return None;
            }
        };
        if let Some(expected) = &options.subject_name
            && *expected != identity.0
        {
            reports[c].refusals.push(format!(
                "its CN is {:?}, not the subject name {expected:?} given",
                identity.0
            ));
        }
        if let Some(expected) = &options.application_uri
            && *expected != identity.1
        {
            reports[c].refusals.push(format!(
                "its URI SAN is {:?}, not the application URI {expected:?} given",
                identity.1
            ));
        }
        if !cert.is_self_signed() {
            reports[c].findings.push(Finding {
                level: Level::Warning,
                code: "issuer_not_self".into(),
                message: format!(
                    "is not self-signed: the CA that issued it ({}) must be in the issuer list \
                     for servers to trust the connector",
                    cert.details().issuer
                ),
            });
        }
        warnings.push(format!(
            "the client certificate replaces every entry of {}; then apply the connector \
             settings shown",
            self.config.client_certificate
        ));
        Some(ConnectorSettings {
            application_cert: self.config.client_certificate.clone(),
            subject_name: identity.0,
            application_uri: identity.1,
        })
    }

    /// Carries out `plan`: the secrets first (only those to create or version), then the
    /// SecretProviderClass, then the SecretSync — a refused plan writes nothing
    /// ([`StoreError::Refused`]).
    pub async fn apply(&self, plan: &Plan) -> Result<Applied> {
        if plan.is_refused() {
            return Err(StoreError::refused(plan.all_refusals()));
        }
        let mut written = Vec::new();
        for upload in &plan.uploads {
            let version = self.vault.set(upload).await?;
            written.push((upload.name().to_string(), version));
        }
        if let Some(class) = &plan.new_provider_class {
            self.target.apply_provider_class(class).await?;
        }
        if let Some(sync) = &plan.new_secret_sync {
            self.apply_sync_over(sync.clone(), plan.base_secret_sync.as_ref())
                .await?;
        }
        let connector_settings_changed = match &plan.connector_settings {
            Some(settings) => self.target.apply_connector_settings(settings).await?,
            None => None,
        };
        Ok(Applied {
            secrets_written: written,
            secrets_unchanged: plan
                .secrets
                .iter()
                .filter(|s| s.action == SecretAction::Unchanged)
                .map(|s| s.name.clone())
                .collect(),
            provider_class: plan.provider_class.action,
            secret_sync: plan.secret_sync.action,
            connector_settings_changed,
        })
    }

    /// Removes entries from `store` by target key or secret name: the mapping leaves the
    /// SecretSync (deleted when empty), the object leaves the SecretProviderClass once no
    /// SecretSync maps it, and with `include_secrets` the Key Vault secrets nothing maps any
    /// more are deleted (before the cluster changes, so a refused delete changes nothing) and
    /// purged (after). Every name is checked first: an unknown name, or an issuer
    /// CA whose CRL would stay behind (without `with_crl`), changes nothing.
    pub async fn remove(
        &self,
        store: Store,
        names: &[&str],
        options: &RemoveOptions,
    ) -> Result<Removal> {
        let sync_name = self.config.secret_sync(store).to_string();
        let sync = self.target.secret_sync(&sync_name).await?;
        let data = sync
            .as_ref()
            .map(|s| s.spec.secret_object.data.clone())
            .unwrap_or_default();
        let mut remove: Vec<SecretObjectData> = Vec::new();
        for name in names {
            // The client certificate is one pair: its .der or its .pem (or their shared
            // stem) names both.
            let matched: Vec<&SecretObjectData> = data
                .iter()
                .filter(|d| {
                    d.target_key == *name
                        || d.source_path == *name
                        || (store == Store::Client && file_stem(&d.target_key) == *name)
                })
                .collect();
            if matched.is_empty() {
                return Err(StoreError::NotFound {
                    store: format!("the {store} ({sync_name})"),
                    name: name.to_string(),
                    known: known(&data),
                });
            }
            for d in matched {
                if !remove.contains(d) {
                    remove.push(d.clone());
                }
            }
        }
        let mut notes = Vec::new();
        if store == Store::Client {
            let stems: BTreeSet<String> = remove.iter().map(|d| file_stem(&d.target_key)).collect();
            for d in &data {
                if stems.contains(&file_stem(&d.target_key)) && !remove.contains(d) {
                    notes.push(format!(
                        "{} goes too: the certificate and its private key are removed together \
                         (the connector cannot use one without the other)",
                        d.target_key
                    ));
                    remove.push(d.clone());
                }
            }
        }
        if store == Store::Issuer {
            self.crls_of_removed_cas(&data, &mut remove, options.with_crl)
                .await?;
        }
        let kept: Vec<SecretObjectData> = data
            .iter()
            .filter(|d| !remove.contains(d))
            .cloned()
            .collect();
        let mut removal = self
            .remove_mapping(
                Some(store),
                None,
                &sync_name,
                sync.as_ref(),
                &self.config.provider_class.clone(),
                remove,
                kept,
                options,
            )
            .await?;
        removal.notes = notes;
        Ok(removal)
    }

    /// Applies `desired` over the SecretSync whose spec was `base` when read. Its
    /// resourceVersion is a precondition, but a controller writing the status changes it too:
    /// on a conflict where the spec is still `base`, the apply is retried over the new version;
    /// a changed spec stays a conflict.
    pub(crate) async fn apply_sync_over(
        &self,
        mut desired: SecretSync,
        base: Option<&SecretSyncSpec>,
    ) -> Result<()> {
        let name = desired.metadata.name.clone().unwrap_or_default();
        let mut attempts = 0;
        loop {
            match self.target.apply_secret_sync(&desired).await {
                Err(
                    conflict @ StoreError::Cluster {
                        status: Some(409), ..
                    },
                ) if base.is_some() && attempts < 5 => {
                    attempts += 1;
                    match self.target.secret_sync(&name).await? {
                        Some(current) if Some(&current.spec) == base => {
                            desired.metadata.resource_version = current.metadata.resource_version;
                        }
                        _ => return Err(conflict),
                    }
                }
                other => return other,
            }
        }
    }

    /// The source paths every SecretSync of `class_name` but `sync_name` maps.
    pub(crate) async fn mapped_by_others(
        &self,
        sync_name: &str,
        class_name: &str,
    ) -> Result<BTreeSet<String>> {
        let mut mapped = BTreeSet::new();
        for other in self.target.secret_syncs().await? {
            if other.metadata.name.as_deref() == Some(sync_name)
                || other.spec.secret_provider_class_name != class_name
            {
                continue;
            }
            mapped.extend(
                other
                    .spec
                    .secret_object
                    .data
                    .iter()
                    .map(|d| d.source_path.clone()),
            );
        }
        Ok(mapped)
    }

    /// Issuer list: the CRLs signed by a CA being removed go too (`with_crl`), else refuse.
    async fn crls_of_removed_cas(
        &self,
        data: &[SecretObjectData],
        remove: &mut Vec<SecretObjectData>,
        with_crl: bool,
    ) -> Result<()> {
        let removed_cas: Vec<&SecretObjectData> = remove
            .iter()
            .filter(|d| extension(&d.target_key) != "crl")
            .collect();
        if removed_cas.is_empty() {
            return Ok(());
        }
        let mut cas = Vec::new();
        for d in removed_cas {
            if let Some(stored) = self.vault.get(&d.source_path).await?
                && let Some(cert) = certificate_in(&stored.file_bytes())
            {
                cas.push((d.target_key.clone(), cert));
            }
        }
        let mut left_behind = Vec::new();
        for d in data
            .iter()
            .filter(|d| extension(&d.target_key) == "crl" && !remove.contains(d))
        {
            let Some(stored) = self.vault.get(&d.source_path).await? else {
                continue;
            };
            let Ok(crl) = Crl::from_der(&stored.file_bytes()) else {
                continue;
            };
            if let Some((ca, _)) = cas.iter().find(|(_, ca)| crl.is_signed_by(ca)) {
                left_behind.push((d.clone(), ca.clone()));
            }
        }
        if left_behind.is_empty() {
            return Ok(());
        }
        if with_crl {
            remove.extend(left_behind.into_iter().map(|(d, _)| d));
            return Ok(());
        }
        Err(StoreError::refused(
            left_behind
                .into_iter()
                .map(|(d, ca)| {
                    format!(
                        "{} is the CRL of {ca}, which would stay in the issuer list without its \
                         CA: remove it too (`with_crl`) or remove it first",
                        d.target_key
                    )
                })
                .collect(),
        ))
    }

    /// Removes `remove` from the SecretSync `sync_name` (keeping `kept`), the objects nothing
    /// maps any more from `class_name`, and with `include_secrets` the secrets.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn remove_mapping(
        &self,
        store: Option<Store>,
        synced_secret: Option<String>,
        sync_name: &str,
        sync: Option<&SecretSync>,
        class_name: &str,
        remove: Vec<SecretObjectData>,
        kept: Vec<SecretObjectData>,
        options: &RemoveOptions,
    ) -> Result<Removal> {
        let removed_items: Vec<String> = remove
            .iter()
            .map(|d| mapping_item(&d.source_path, &d.target_key))
            .collect();
        let sync_change = ResourceChange {
            kind: "SecretSync",
            name: sync_name.to_string(),
            action: if kept.is_empty() {
                ChangeAction::Delete
            } else {
                ChangeAction::Update
            },
            added: Vec::new(),
            removed: removed_items,
        };
        // What every other SecretSync of this SecretProviderClass still maps.
        let mut still_mapped = self.mapped_by_others(sync_name, class_name).await?;
        still_mapped.extend(kept.iter().map(|d| d.source_path.clone()));
        let class = self.target.provider_class(class_name).await?;
        let mut class_change = ResourceChange::unchanged("SecretProviderClass", class_name);
        let mut new_class = None;
        let mut unmapped_objects = BTreeSet::new();
        if let Some(class) = &class {
            let objects = objects_of(class, &self.config.namespace)?;
            let (gone, stay): (Vec<KeyVaultObject>, Vec<KeyVaultObject>) =
                objects.into_iter().partition(|o| {
                    remove.iter().any(|d| d.source_path == o.output_name())
                        && !still_mapped.contains(o.output_name())
                });
            if !gone.is_empty() {
                class_change.action = ChangeAction::Update;
                class_change.removed = gone.iter().map(|o| o.name.clone()).collect();
                unmapped_objects = gone.iter().map(|o| o.name.clone()).collect();
                let mut updated = self.with_objects(class_name, class.spec.clone(), &stay);
                updated.metadata.resource_version = class.metadata.resource_version.clone();
                new_class = Some(updated);
            }
        }
        let mut secrets_purged = Vec::new();
        let mut secrets_kept = Vec::new();
        for d in &remove {
            // The Key Vault secret behind this sourcePath (the object's name).
            let secret = d.source_path.clone();
            if still_mapped.contains(&d.source_path) {
                secrets_kept.push((secret, "another SecretSync still maps it".to_string()));
            } else if !options.include_secrets {
                secrets_kept.push((secret, "removed from the cluster only".to_string()));
            } else if unmapped_objects.contains(&secret) || class.is_none() {
                if !secrets_purged.contains(&secret) {
                    secrets_purged.push(secret);
                }
            } else {
                secrets_kept.push((secret, "the SecretProviderClass still lists it".to_string()));
            }
        }
        let removal = Removal {
            store,
            synced_secret,
            removed: remove
                .iter()
                .map(|d| (d.target_key.clone(), d.source_path.clone()))
                .collect(),
            secret_sync: sync_change,
            provider_class: class_change,
            secrets_purged,
            secrets_kept,
            dry_run: options.dry_run,
            notes: Vec::new(),
        };
        if options.dry_run {
            return Ok(removal);
        }
        // Deleted first: a refusal (a missing right) then changes nothing at all. Purged last,
        // once nothing maps them.
        for secret in &removal.secrets_purged {
            self.vault.delete(secret).await?;
        }
        if kept.is_empty() {
            self.target.delete_secret_sync(sync_name).await?;
        } else if let Some(sync) = sync {
            let mut spec = sync.spec.clone();
            spec.secret_object.data = kept;
            let mut updated = SecretSync::new(sync_name, spec);
            updated.metadata.resource_version = sync.metadata.resource_version.clone();
            self.apply_sync_over(updated, Some(&sync.spec)).await?;
        }
        if let Some(class) = &new_class {
            self.target.apply_provider_class(class).await?;
        }
        for secret in &removal.secrets_purged {
            self.vault.purge(secret).await?;
        }
        Ok(removal)
    }

    /// Lists `store` (or every store): per entry its target key, secret name and version,
    /// certificate details, findings and sync state. Reads each secret from Key Vault to tell
    /// its details and whether the cluster holds exactly its bytes; never returns a value.
    pub async fn list(
        &self,
        store: Option<Store>,
        at: Option<OffsetDateTime>,
    ) -> Result<Vec<StoreListing>> {
        let at = at.unwrap_or_else(OffsetDateTime::now_utc);
        let class = self
            .target
            .provider_class(&self.config.provider_class)
            .await?;
        let objects = match &class {
            Some(class) => objects_of(class, &self.config.namespace)?,
            None => Vec::new(),
        };
        let stores: Vec<Store> = match store {
            Some(s) => vec![s],
            None => Store::ALL.to_vec(),
        };
        let mut out = Vec::new();
        for store in stores {
            let name = self.config.secret_sync(store).to_string();
            let listing = self.list_sync(Some(store), &name, &objects, at).await?;
            out.push(listing);
        }
        Ok(out)
    }

    pub(crate) async fn list_sync(
        &self,
        store: Option<Store>,
        name: &str,
        objects: &[KeyVaultObject],
        at: OffsetDateTime,
    ) -> Result<StoreListing> {
        let Some(sync) = self.target.secret_sync(name).await? else {
            return Ok(StoreListing {
                store,
                secret_sync: name.to_string(),
                exists: false,
                entries: Vec::new(),
            });
        };
        let digests = self.target.synced_digests(name).await?;
        let mut entries = Vec::new();
        for d in &sync.spec.secret_object.data {
            let object = objects.iter().find(|o| o.output_name() == d.source_path);
            let secret_name = object
                .map(|o| o.name.clone())
                .unwrap_or_else(|| d.source_path.clone());
            let mut entry = Entry {
                target_key: d.target_key.clone(),
                secret_name: secret_name.clone(),
                version: object.and_then(|o| o.version.clone()),
                kind: None,
                certificate: None,
                crl: None,
                findings: Vec::new(),
                sync: SyncState::Pending {
                    reason: String::new(),
                },
            };
            let mut expected: Option<Digest> = None;
            match self.vault.get(&secret_name).await {
                Ok(Some(stored)) => {
                    if entry.version.is_none() {
                        entry.version = stored.version.clone();
                    }
                    let decoded = object.is_some_and(|o| o.encoding.is_some());
                    let bytes = if decoded {
                        stored.file_bytes()
                    } else {
                        zeroize::Zeroizing::new(stored.value().as_bytes().to_vec())
                    };
                    expected = Some(digest(&bytes));
                    if store.is_some() {
                        describe(
                            &d.target_key,
                            &bytes,
                            at,
                            self.config.expiry_warning,
                            &mut entry,
                        );
                    }
                }
                Ok(None) => entry.findings.push(Finding {
                    level: Level::Warning,
                    code: "secret_missing".into(),
                    message: format!("Key Vault holds no secret {secret_name}"),
                }),
                Err(e) => entry.findings.push(Finding {
                    level: Level::Warning,
                    code: "secret_unreadable".into(),
                    message: e.to_string(),
                }),
            }
            if object.is_none() {
                entry.findings.push(Finding {
                    level: Level::Warning,
                    code: "object_missing".into(),
                    message: format!(
                        "SecretProviderClass {} has no object writing {}",
                        sync.spec.secret_provider_class_name, d.source_path
                    ),
                });
            }
            entry.sync = if self.target.shows_secrets() {
                SyncState::of(&sync, digests.as_ref(), &d.target_key, expected)
            } else {
                SyncState::reported(&sync)
            };
            entries.push(entry);
        }
        Ok(StoreListing {
            store,
            secret_sync: name.to_string(),
            exists: true,
            entries,
        })
    }
}

/// A target key's file stem (`connector.der` → `connector`).
fn file_stem(target_key: &str) -> String {
    std::path::Path::new(target_key)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(target_key)
        .to_string()
}

fn known(data: &[SecretObjectData]) -> String {
    if data.is_empty() {
        return "nothing".into();
    }
    data.iter()
        .map(|d| format!("{} ({})", d.target_key, d.source_path))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one certificate in `bytes` (DER or PEM).
fn certificate_in(bytes: &[u8]) -> Option<Certificate> {
    let bundle = Bundle::parse(bytes, ParseOptions::default()).ok()?;
    bundle.certificates().first().cloned()
}

/// An entry's details from its bytes, judged by its file name's extension.
fn describe(
    key: &str,
    bytes: &[u8],
    at: OffsetDateTime,
    window: time::Duration,
    entry: &mut Entry,
) {
    let ext = extension(key);
    if ext == "crl" {
        if let Ok(crl) = Crl::from_der(bytes) {
            let d = crl.details();
            if d.next_update.is_some_and(|n| n < at) {
                entry.findings.push(Finding {
                    level: Level::Warning,
                    code: "crl_expired".into(),
                    message: "the CRL is past its nextUpdate".into(),
                });
            }
            entry.kind = Some(FileKind::Crl);
            entry.crl = Some(CrlSummary {
                issuer: d.issuer.clone(),
                this_update: d.this_update,
                next_update: d.next_update,
                revoked: d.revoked,
                signed_by: None,
            });
        }
        return;
    }
    let Ok(bundle) = Bundle::parse(bytes, ParseOptions::default()) else {
        entry.findings.push(Finding {
            level: Level::Warning,
            code: "unreadable".into(),
            message: "the stored bytes are not a certificate, key or CRL".into(),
        });
        return;
    };
    if let Some(cert) = bundle.certificates().first() {
        let summary = CertificateSummary::of(cert, at);
        if summary.not_after < at {
            entry.findings.push(Finding {
                level: Level::Warning,
                code: "expired".into(),
                message: format!(
                    "expired on {} ({} days ago)",
                    crate::check::when(summary.not_after),
                    -summary.days_left
                ),
            });
        } else if summary.not_after < at + window {
            entry.findings.push(Finding {
                level: Level::Warning,
                code: "expires_soon".into(),
                message: format!("expires in {} days", summary.days_left),
            });
        }
        entry.kind = Some(FileKind::Certificate);
        entry.certificate = Some(summary);
    } else if !bundle.private_keys().is_empty() {
        entry.kind = Some(FileKind::PrivateKey);
    }
}

/// The data items of the SecretSyncs in `syncs` that use `class`, by SecretSync name.
pub(crate) fn mappings_of(
    syncs: &[SecretSync],
    class: &str,
) -> BTreeMap<String, Vec<SecretObjectData>> {
    syncs
        .iter()
        .filter(|s| s.spec.secret_provider_class_name == class)
        .map(|s| {
            (
                s.metadata.name.clone().unwrap_or_default(),
                s.spec.secret_object.data.clone(),
            )
        })
        .collect()
}
