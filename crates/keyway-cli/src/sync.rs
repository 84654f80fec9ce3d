//! `keyway sync`: a SecretProviderClass (and optionally a SecretSync) synced from Key Vault into
//! a directory, through workload identity.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use keyway_sync::model::secret_sync::SyncTarget;
use keyway_sync::{
    DirectorySink, Outcome, Remap, SecretProviderClass, SecretSink, SecretSync, Stopped,
    SyncReport, SyncSpec, Syncer,
};

use crate::azure;
use crate::error::CliError;
use crate::input;
use crate::output::outln;
use crate::report::{self, Report};

/// Options of `keyway sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The SecretProviderClass manifest (provider azure).
    #[arg(long)]
    provider_class: PathBuf,
    /// A SecretSync manifest: only its objects, written under its target keys.
    #[arg(long)]
    secret_sync: Option<PathBuf>,
    /// The directory to keep in sync (written atomically, as kubelet writes volumes).
    #[arg(
        long,
        required_unless_present = "to_kubernetes",
        conflicts_with = "to_kubernetes"
    )]
    to_dir: Option<PathBuf>,
    /// Write a Kubernetes Secret instead (the cluster from KUBECONFIG): the SecretSync's, owned
    /// by it, or one named after the SecretProviderClass.
    #[arg(long)]
    to_kubernetes: bool,
    /// The namespace for --to-kubernetes (default: the manifest's, else `default`).
    #[arg(long, requires = "to_kubernetes")]
    namespace: Option<String>,
    /// Sync once and exit (the default without --interval).
    #[arg(long, conflicts_with = "interval")]
    once: bool,
    /// Sync every interval (e.g. 60s, 5m, 1h) until SIGINT or SIGTERM.
    #[arg(long, value_parser = crate::duration::parse)]
    interval: Option<Duration>,
    /// Use this vault URL instead of the one keyvaultName implies (the emulator, a private
    /// endpoint).
    #[arg(long, env = "KEYWAY_VAULT_URL")]
    vault_url: Option<String>,
    /// Print the sync report as JSON.
    #[arg(long)]
    json: bool,
}

/// The one document of kind `K` in the file at `path` (which may hold several, as `cluster
/// render` prints them).
fn load<K>(path: &std::path::Path) -> Result<K, CliError>
where
    K: kube::Resource<DynamicType = ()> + serde::de::DeserializeOwned,
{
    let text = input::read(&path.display().to_string())?;
    let text = std::str::from_utf8(&text)
        .map_err(|e| CliError::Input(format!("{}: not UTF-8 text ({e})", path.display())))?;
    keyway_sync::model::documents::pick(text)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

/// `sourcePath → targetKey` of a SecretSync, checked by the library's one check of a
/// SecretSync (the controller's): for `--to-dir` every target key must also be a name the
/// directory sink writes (not `..data`); for `--to-kubernetes`, the keys the Secret's type
/// requires.
fn mapping(
    secret_sync: &SecretSync,
    spec: &SyncSpec,
    to_dir: bool,
) -> Result<Vec<(String, String)>, CliError> {
    let target = if to_dir {
        SyncTarget::Directory
    } else {
        SyncTarget::Secret {
            allowed_types: &keyway_sync::model::secret_sync::ALLOWED_SECRET_TYPES,
        }
    };
    secret_sync
        .spec
        .validate(spec, target)
        .map_err(|e| CliError::Input(e.to_string()))
}

/// Runs `keyway sync`.
pub async fn run(args: SyncArgs) -> Result<ExitCode, CliError> {
    // SIGINT or SIGTERM stops at once, even mid-cycle: a cycle writes its set in one atomic
    // step at its end, so an interrupted one leaves the previous set as it was.
    let stop = crate::signal::shutdown();
    tokio::pin!(stop);
    let spc: SecretProviderClass = load(&args.provider_class)?;
    let mut spec = SyncSpec::from_provider_class(&spc)
        .map_err(|e| CliError::Input(format!("{}: {e}", args.provider_class.display())))?;
    if let Some(url) = &args.vault_url {
        spec = spec.with_vault_url(url).map_err(|e| match e {
            keyway_sync::SyncError::Invalid { problem, .. } => {
                CliError::Input(format!("--vault-url: {problem}"))
            }
            other => other.into(),
        })?;
    }
    let secret_sync: Option<SecretSync> = args.secret_sync.as_deref().map(load).transpose()?;
    if let (Some(ss), Some(path)) = (&secret_sync, &args.secret_sync) {
        ss.spec
            .check_provider_class(&kube::ResourceExt::name_any(&spc))
            .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    }
    let mapping = secret_sync
        .as_ref()
        .map(|ss| mapping(ss, &spec, args.to_dir.is_some()))
        .transpose()?;
    if let Some(mapping) = &mapping {
        // What the SecretSync does not map is neither fetched nor reported.
        spec = spec.restricted_to(mapping.iter().map(|(source, _)| source.as_str()));
    }
    let sink: Arc<dyn SecretSink> = match (&args.to_dir, mapping) {
        (Some(dir), mapping) => {
            // On a host, the secrets are the owner's alone (files 0600 in 0700 directories),
            // where the CSI driver writes 0644 into a volume only its pod sees. An object's
            // filePermission still sets its file's mode; if one lets others read, the
            // directories let them through (0755).
            let others_read = spec
                .objects
                .iter()
                .any(|o| o.file_permission.is_some_and(|m| m & 0o044 != 0));
            let directory = DirectorySink::new(dir)
                .map_err(|e| CliError::Input(e.to_string()))?
                .with_modes(0o600, if others_read { 0o755 } else { 0o700 });
            match (mapping, &secret_sync) {
                // A kubernetes.io/tls SecretSync's files are split as its Secret's keys are.
                (Some(mapping), Some(secret_sync)) => Arc::new(
                    Remap::new(directory, mapping)
                        .with_secret_type(secret_sync, format!("the directory {}", dir.display())),
                ),
                (Some(mapping), None) => Arc::new(Remap::new(directory, mapping)),
                (None, _) => Arc::new(directory),
            }
        }
        (None, mapping) => {
            let namespace = args
                .namespace
                .clone()
                .or_else(|| {
                    secret_sync
                        .as_ref()
                        .and_then(|ss| ss.metadata.namespace.clone())
                })
                .or_else(|| spc.metadata.namespace.clone())
                .unwrap_or_else(|| "default".into());
            kubernetes_sink(&spc, secret_sync, mapping, &namespace).await?
        }
    };
    let credential = azure::credential(spec.client_id.as_deref(), spec.tenant_id.as_deref())?;
    let source = Arc::new(azure::vault_source(&spec.vault_url, credential)?);
    let mut syncer = Syncer::new(spec, source, sink);
    if !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        syncer = syncer.with_progress(progress_bar());
    }

    // A signal abandons a cycle only before it starts writing (`Syncer::run_once_until`).
    let Some(interval) = args.interval else {
        let Some(report) = syncer.run_once_until(&mut stop).await else {
            return Ok(interrupted());
        };
        let report = SyncView(report);
        report::print(&report, args.json);
        return Ok(report.exit_code());
    };
    let stopped = syncer
        .run(interval, Duration::ZERO, &mut stop, |report| {
            let report = SyncView(report);
            if args.json {
                outln!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                outln!("{}", report.summary());
            }
        })
        .await;
    Ok(match stopped {
        Stopped::BetweenCycles => ExitCode::SUCCESS,
        Stopped::MidCycle => interrupted(),
    })
}

/// Says that a cycle was interrupted; exit 130, as shells report SIGINT.
fn interrupted() -> ExitCode {
    eprintln!("interrupted: this cycle wrote nothing; the previous set is as it was");
    ExitCode::from(130)
}

/// The Secret sink for --to-kubernetes: a SecretSync's Secret (the SecretSync is created in the
/// cluster when missing, so it can own the Secret), or an Opaque Secret named after the
/// SecretProviderClass.
async fn kubernetes_sink(
    spc: &SecretProviderClass,
    secret_sync: Option<SecretSync>,
    mapping: Option<Vec<(String, String)>>,
    namespace: &str,
) -> Result<Arc<dyn SecretSink>, CliError> {
    use kube::ResourceExt;
    let client = crate::azure::default_kube_client().await?;
    let Some(mut secret_sync) = secret_sync else {
        return Ok(Arc::new(keyway_sync::KubernetesSecretSink::new(
            client,
            namespace,
            &spc.name_any(),
        )));
    };
    secret_sync.metadata.namespace = Some(namespace.to_string());
    // Everything about the file was checked (`mapping`) before anything is created in the
    // cluster.
    keyway_sync::require_crds(&client).await?;
    let api: kube::Api<SecretSync> = kube::Api::namespaced(client.clone(), namespace);
    let existing = api
        .get_opt(&secret_sync.name_any())
        .await
        .map_err(CliError::remote)?;
    let mut owner = match existing {
        Some(found) => {
            if found.spec != secret_sync.spec {
                eprintln!(
                    "the SecretSync {namespace}/{} in the cluster differs from the file: this sync \
                     writes what the file says; a controller in the cluster writes what the \
                     cluster's says (kubectl apply the file to make them one)",
                    found.name_any()
                );
            }
            found
        }
        None => {
            let created = api
                .create(&kube::api::PostParams::default(), &secret_sync)
                .await
                .map_err(CliError::remote)?;
            eprintln!(
                "created SecretSync {namespace}/{} in the cluster so that it owns the Secret \
                 (deleting it deletes the Secret); a SecretSync controller there would sync it \
                 too, as its serviceAccountName, once the SecretProviderClass is there as well",
                created.name_any()
            );
            created
        }
    };
    // This sync writes what the file says, owned by the SecretSync in the cluster.
    owner.spec = secret_sync.spec.clone();
    let sink = keyway_sync::KubernetesSecretSink::for_secret_sync(client, &owner)?;
    Ok(match mapping {
        Some(mapping) => Arc::new(Remap::new(sink, mapping)),
        None => Arc::new(sink),
    })
}

/// A progress bar on standard error for cycles that read many objects (a large first sync).
fn progress_bar() -> keyway_sync::Progress {
    const WORTH_A_BAR: usize = 50;
    let bar = std::sync::Mutex::new(None::<indicatif::ProgressBar>);
    Arc::new(move |done, total| {
        if total < WORTH_A_BAR {
            return;
        }
        let mut bar = bar.lock().unwrap_or_else(|p| p.into_inner());
        let current = bar.get_or_insert_with(|| {
            let b = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} objects read {elapsed}",
            ) {
                b.set_style(style);
            }
            b
        });
        current.set_position(done as u64);
        if done >= total {
            current.finish_and_clear();
            *bar = None;
        }
    })
}

/// How `keyway sync` shows a [`SyncReport`].
#[derive(serde::Serialize)]
#[serde(transparent)]
pub struct SyncView(pub SyncReport);

impl SyncView {
    /// The exit code every object's failure stands for, when every object failed for reasons
    /// of one code (`crate::error::failure_exit_code`).
    fn shared_failure_code(&self) -> Option<u8> {
        let mut codes = self.0.objects.iter().map(|o| match (o.outcome, o.failure) {
            (Outcome::Failed, Some(failure)) => Some(crate::error::failure_exit_code(failure)),
            _ => None,
        });
        let first = codes.next()??;
        codes.all(|c| c == Some(first)).then_some(first)
    }

    /// Every object failed with no previous data to keep: the syncer published nothing.
    fn nothing_to_publish(&self) -> bool {
        let r = &self.0;
        !r.written
            && !r.objects.is_empty()
            && r.objects
                .iter()
                .all(|o| o.outcome == Outcome::Failed && !o.kept_previous)
    }

    /// Certificates synced with error findings (expired, not yet valid, a broken chain).
    fn invalid_certificates(&self) -> bool {
        self.0.objects.iter().any(|o| {
            o.findings
                .iter()
                .any(|f| f.severity == keyway_cert::Severity::Error)
        })
    }

    /// 0 all synced and valid; when every object failed for one kind of reason, that kind's
    /// code (2 the local credential, 3 unreachable, 1 refused); else 1 (some objects failed, or
    /// a synced certificate is invalid).
    pub fn exit_code(&self) -> ExitCode {
        if self.0.all_synced() && !self.invalid_certificates() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(self.shared_failure_code().unwrap_or(1))
        }
    }

    /// One line.
    pub fn summary(&self) -> String {
        let r = &self.0;
        let count = |o: Outcome| r.objects.iter().filter(|x| x.outcome == o).count();
        format!(
            "{} updated, {} unchanged, {} failed; {} list + {} version-list + {} get call(s); {} {} ms",
            count(Outcome::Updated),
            count(Outcome::Unchanged),
            count(Outcome::Failed),
            r.calls.list,
            r.calls.versions,
            r.calls.get,
            if r.written {
                "written,"
            } else {
                "nothing written,"
            },
            r.duration_ms
        )
    }
}

impl Report for SyncView {
    fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<28} {:<10} {:<34} detail",
            "output", "outcome", "version"
        );
        for o in &self.0.objects {
            let outcome = match o.outcome {
                Outcome::Updated => "updated",
                Outcome::Unchanged => "unchanged",
                Outcome::Failed => "FAILED",
            };
            let mut detail = o.error.clone().unwrap_or_default();
            if o.kept_previous {
                detail.push_str(" (previous data kept)");
            }
            let findings: Vec<String> = o
                .findings
                .iter()
                .filter(|f| f.severity != keyway_cert::Severity::Info)
                .map(|f| format!("{} {}", f.severity, f.code))
                .collect();
            if !findings.is_empty() {
                if !detail.is_empty() {
                    detail.push_str("; ");
                }
                let _ = write!(detail, "findings: {}", findings.join(", "));
            }
            let _ = writeln!(
                out,
                "{:<28} {:<10} {:<34} {detail}",
                o.output,
                outcome,
                o.version.as_deref().unwrap_or("-")
            );
        }
        if self.0.listing_fallback {
            let _ = writeln!(
                out,
                "listing is forbidden: every object was read one by one (Key Vault Reader lists secrets and keys, Key Vault Secrets User secrets only)"
            );
        }
        if let Some(e) = &self.0.sink_error {
            let _ = writeln!(out, "the target could not be written: {e}");
        } else if self.nothing_to_publish() {
            let _ = writeln!(
                out,
                "nothing published: no object could be read yet, and an empty set is never \
                 published (the target is left as it was)"
            );
        }
        for o in &self.0.objects {
            for f in o
                .findings
                .iter()
                .filter(|f| f.severity == keyway_cert::Severity::Error)
            {
                let _ = writeln!(
                    out,
                    "{}: {} {}: {}",
                    o.output, f.severity, f.code, f.message
                );
            }
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }
}
