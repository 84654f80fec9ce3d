//! Plans: what an add will write (secrets, SecretProviderClass objects, SecretSync data), as a
//! value that prints (Display for people, serde for `--json`) and that [`crate::Stores::apply`]
//! carries out. A plan never holds a value in anything it prints or serialises.

use std::fmt;

use keyway_sync::source::SecretUpload;
use keyway_sync::{SecretProviderClass, SecretSync};
use serde::Serialize;

use crate::check::{FileReport, Level};
use crate::config::Store;

/// What happens to a Key Vault secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretAction {
    /// A new secret.
    Create,
    /// A new version of an existing secret holding other bytes (overwrite asked for).
    NewVersion,
    /// The secret already holds these bytes: nothing is written, no new version.
    Unchanged,
}

/// One secret a plan writes (or finds already there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretWrite {
    /// The secret's name.
    pub name: String,
    /// The file (or synced secret) it holds.
    pub file: String,
    /// What happens.
    pub action: SecretAction,
    /// The version there now, if any.
    pub existing_version: Option<String>,
    /// The content type it is written with.
    pub content_type: Option<String>,
}

/// What happens to a cluster resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// Created.
    Create,
    /// Updated.
    Update,
    /// Deleted (a SecretSync left with no data).
    Delete,
    /// Left as it is.
    Unchanged,
}

impl fmt::Display for ChangeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeAction::Create => "create",
            ChangeAction::Update => "update",
            ChangeAction::Delete => "delete",
            ChangeAction::Unchanged => "unchanged",
        })
    }
}

/// A change to a SecretProviderClass (objects) or a SecretSync (data items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    /// `SecretProviderClass` or `SecretSync`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// What happens.
    pub action: ChangeAction,
    /// Objects (secret names) or data items (`targetKey ← sourcePath`) added.
    pub added: Vec<String>,
    /// Objects or data items removed.
    pub removed: Vec<String>,
}

impl ResourceChange {
    pub(crate) fn unchanged(kind: &'static str, name: &str) -> ResourceChange {
        ResourceChange {
            kind,
            name: name.to_string(),
            action: ChangeAction::Unchanged,
            added: Vec::new(),
            removed: Vec::new(),
        }
    }
}

impl fmt::Display for ResourceChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.name, self.action)?;
        for a in &self.added {
            write!(f, "\n    + {a}")?;
        }
        for r in &self.removed {
            write!(f, "\n    - {r}")?;
        }
        Ok(())
    }
}

/// The OPC UA connector's settings after a client certificate is added: they must be applied
/// to the Azure IoT Operations extension's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectorSettings {
    /// `connectors.values.securityPki.applicationCert`: the client certificate's SecretSync.
    pub application_cert: String,
    /// `connectors.values.securityPki.subjectName`: the certificate's CN.
    pub subject_name: String,
    /// `connectors.values.securityPki.applicationUri`: its URI SAN.
    pub application_uri: String,
}

impl ConnectorSettings {
    /// The settings as extension configuration keys and values.
    pub fn config(&self) -> Vec<(&'static str, &str)> {
        vec![
            (
                "connectors.values.securityPki.applicationCert",
                &self.application_cert,
            ),
            (
                "connectors.values.securityPki.subjectName",
                &self.subject_name,
            ),
            (
                "connectors.values.securityPki.applicationUri",
                &self.application_uri,
            ),
        ]
    }

    /// The equivalent `az k8s-extension update` command line (placeholders in `<>`).
    pub fn az_command(&self) -> String {
        let config: Vec<String> = self
            .config()
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .collect();
        format!(
            "az k8s-extension update --name <iot-operations extension> --cluster-name <cluster> \
             --resource-group <group> --cluster-type connectedClusters --config {}",
            config.join(" ")
        )
    }
}

fn shell_quote(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:/=@,".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// What an add will do, checked in full before any write. Print it (`Display`), serialise it
/// (`--json`), and hand it to [`crate::Stores::apply`]; a plan with refusals is never applied.
#[derive(Serialize)]
pub struct Plan {
    /// The store, for a certificate store.
    pub store: Option<Store>,
    /// The synced secret's name, for a synced secret.
    pub synced_secret: Option<String>,
    /// The namespace (or custom location) changed.
    pub target: String,
    /// The vault written to.
    pub vault_url: String,
    /// Every file as checked (empty for a synced secret).
    pub files: Vec<FileReport>,
    /// The secrets written or found already there.
    pub secrets: Vec<SecretWrite>,
    /// The SecretProviderClass change.
    pub provider_class: ResourceChange,
    /// The SecretSync change.
    pub secret_sync: ResourceChange,
    /// For the client certificate: the connector settings to apply afterwards.
    pub connector_settings: Option<ConnectorSettings>,
    /// Plan-wide refusals (each file's own are in `files`).
    pub refusals: Vec<String>,
    /// Plan-wide warnings.
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub(crate) uploads: Vec<SecretUpload>,
    #[serde(skip)]
    pub(crate) new_provider_class: Option<SecretProviderClass>,
    #[serde(skip)]
    pub(crate) new_secret_sync: Option<SecretSync>,
    /// The SecretSync's spec as read, to tell a status write from a concurrent change.
    #[serde(skip)]
    pub(crate) base_secret_sync: Option<keyway_sync::SecretSyncSpec>,
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("store", &self.store)
            .field("synced_secret", &self.synced_secret)
            .field("files", &self.files)
            .field("secrets", &self.secrets)
            .field("provider_class", &self.provider_class)
            .field("secret_sync", &self.secret_sync)
            .field("refusals", &self.all_refusals())
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// Every refusal: each file's (prefixed with the file name) and the plan's own.
    pub fn all_refusals(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .files
            .iter()
            .flat_map(|f| f.refusals.iter().map(move |r| format!("{}: {r}", f.file)))
            .collect();
        all.extend(self.refusals.iter().cloned());
        all
    }

    /// Whether a check refused the operation (then [`crate::Stores::apply`] writes nothing).
    pub fn is_refused(&self) -> bool {
        !self.all_refusals().is_empty()
    }

    /// Whether applying would change nothing (every secret unchanged, no resource change).
    pub fn is_noop(&self) -> bool {
        self.secrets
            .iter()
            .all(|s| s.action == SecretAction::Unchanged)
            && self.provider_class.action == ChangeAction::Unchanged
            && self.secret_sync.action == ChangeAction::Unchanged
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.store, &self.synced_secret) {
            (Some(store), _) => {
                writeln!(f, "{store} in {} (vault {})", self.target, self.vault_url)?
            }
            (None, Some(name)) => writeln!(
                f,
                "synced secret {name} in {} (vault {})",
                self.target, self.vault_url
            )?,
            (None, None) => writeln!(f, "{} (vault {})", self.target, self.vault_url)?,
        }
        for file in &self.files {
            let verdict = if file.refusals.is_empty() {
                "ok"
            } else {
                "REFUSED"
            };
            writeln!(
                f,
                "  {} → secret {} [{verdict}]",
                file.file, file.secret_name
            )?;
            if let Some(c) = &file.certificate {
                writeln!(f, "    subject:   {}", c.subject)?;
                writeln!(f, "    issuer:    {}", c.issuer)?;
                writeln!(f, "    sha1:      {}", c.sha1)?;
                writeln!(f, "    sha256:    {}", c.sha256)?;
                writeln!(
                    f,
                    "    not after: {} ({})",
                    crate::check::when(c.not_after),
                    crate::check::days(c.days_left)
                )?;
                if !c.san.is_empty() {
                    writeln!(f, "    san:       {}", c.san.join(", "))?;
                }
            }
            if let Some(c) = &file.crl {
                writeln!(f, "    CRL issuer: {}", c.issuer)?;
                match c.next_update {
                    Some(next) => writeln!(f, "    next update: {}", crate::check::when(next))?,
                    None => writeln!(f, "    next update: none stated")?,
                }
                if let Some(by) = &c.signed_by {
                    writeln!(f, "    signed by: {by} (signature verified)")?;
                }
            }
            for finding in &file.findings {
                let level = match finding.level {
                    Level::Warning => "warning",
                    Level::Info => "info",
                };
                writeln!(f, "    {level} [{}]: {}", finding.code, finding.message)?;
            }
            for refusal in &file.refusals {
                writeln!(f, "    refused: {refusal}")?;
            }
        }
        for refusal in &self.refusals {
            writeln!(f, "  refused: {refusal}")?;
        }
        for warning in &self.warnings {
            writeln!(f, "  warning: {warning}")?;
        }
        if self.is_refused() {
            return writeln!(f, "nothing will be written");
        }
        for s in &self.secrets {
            let action = match s.action {
                SecretAction::Create => "create".to_string(),
                SecretAction::NewVersion => format!(
                    "new version (overwrites {})",
                    s.existing_version.as_deref().unwrap_or("the current one")
                ),
                SecretAction::Unchanged => format!(
                    "unchanged (already holds these bytes, version {})",
                    s.existing_version.as_deref().unwrap_or("?")
                ),
            };
            writeln!(f, "  Key Vault secret {}: {action}", s.name)?;
        }
        writeln!(f, "  {}", self.provider_class)?;
        writeln!(f, "  {}", self.secret_sync)?;
        if let Some(settings) = &self.connector_settings {
            writeln!(f, "  then apply the connector settings:")?;
            for (k, v) in settings.config() {
                writeln!(f, "    {k} = {v}")?;
            }
            writeln!(f, "    {}", settings.az_command())?;
        }
        Ok(())
    }
}

/// What [`crate::Stores::apply`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Secrets written, with their new versions.
    pub secrets_written: Vec<(String, String)>,
    /// Secrets left as they were (same bytes).
    pub secrets_unchanged: Vec<String>,
    /// The SecretProviderClass change made.
    pub provider_class: ChangeAction,
    /// The SecretSync change made.
    pub secret_sync: ChangeAction,
    /// For the client certificate: the extension configuration keys the target changed to
    /// apply the connector settings (empty: already so); `None` when the target does not
    /// apply them (Kubernetes: run [`ConnectorSettings::az_command`]).
    pub connector_settings_changed: Option<Vec<String>>,
}
