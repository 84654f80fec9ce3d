//! `keyway sync`: a SecretProviderClass (and optionally a SecretSync) synced from Key Vault into
//! a directory, through workload identity.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use keyway_sync::{
    DirectorySink, Outcome, Remap, SecretProviderClass, SecretSink, SecretSync, SourceFailure,
    SyncReport, SyncSpec, Syncer,
};

use crate::azure;
use crate::error::CliError;
use crate::input;
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

fn load<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, CliError> {
    let text = input::read(&path.display().to_string())?;
    serde_yaml_ng::from_slice(&text)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

/// `sourcePath → targetKey` of a SecretSync, checked by the library's one mapping check; with
/// `--to-dir` every target key must also be a name the directory sink writes (not `..data`).
fn mapping(
    secret_sync: &SecretSync,
    spec: &SyncSpec,
    to_dir: bool,
) -> Result<Vec<(String, String)>, CliError> {
    let map = secret_sync
        .spec
        .mapping(Some(spec))
        .map_err(|e| CliError::Input(e.to_string()))?;
    if to_dir {
        for (i, (_, target)) in map.iter().enumerate() {
            DirectorySink::check_name(target).map_err(|e| {
                CliError::Input(format!("spec.secretObject.data[{i}].targetKey: {e}"))
            })?;
        }
    }
    Ok(map)
}

/// Runs `keyway sync`.
pub async fn run(args: SyncArgs) -> Result<ExitCode, CliError> {
    let spc: SecretProviderClass = load(&args.provider_class)?;
    let mut spec = SyncSpec::from_provider_class(&spc)
        .map_err(|e| CliError::Input(format!("{}: {e}", args.provider_class.display())))?;
    if let Some(url) = &args.vault_url {
        spec = spec
            .with_vault_url(url)
            .map_err(|e| CliError::Input(e.to_string()))?;
    }
    let secret_sync: Option<SecretSync> = args.secret_sync.as_deref().map(load).transpose()?;
    let mapping = secret_sync
        .as_ref()
        .map(|ss| mapping(ss, &spec, args.to_dir.is_some()))
        .transpose()?;
    let sink: Arc<dyn SecretSink> = match (&args.to_dir, mapping) {
        (Some(dir), mapping) => {
            let directory = DirectorySink::new(dir).map_err(|e| CliError::Input(e.to_string()))?;
            match mapping {
                Some(mapping) => Arc::new(Remap::new(directory, mapping)),
                None => Arc::new(directory),
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

    let Some(interval) = args.interval else {
        let report = SyncView(syncer.run_once().await);
        report::print(&report, args.json);
        return Ok(report.exit_code());
    };
    let stop = crate::signal::shutdown();
    tokio::pin!(stop);
    loop {
        let report = SyncView(syncer.run_once().await);
        if args.json {
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
        } else {
            println!("{}", report.summary());
        }
        tokio::select! {
            _ = &mut stop => return Ok(ExitCode::SUCCESS),
            _ = tokio::time::sleep(interval) => {}
        }
    }
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
    let api: kube::Api<SecretSync> = kube::Api::namespaced(client.clone(), namespace);
    let existing = api
        .get_opt(&secret_sync.name_any())
        .await
        .map_err(CliError::remote)?;
    let in_cluster = match existing {
        Some(found) => found,
        None => api
            .create(&kube::api::PostParams::default(), &secret_sync)
            .await
            .map_err(CliError::remote)?,
    };
    let sink = keyway_sync::KubernetesSecretSink::for_secret_sync(client, &in_cluster)
        .map_err(|e| CliError::Input(e.to_string()))?;
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
    fn unreachable(&self) -> bool {
        let failures: Vec<Option<SourceFailure>> = self
            .0
            .objects
            .iter()
            .filter(|o| o.outcome == Outcome::Failed)
            .map(|o| o.failure)
            .collect();
        !failures.is_empty()
            && failures.len() == self.0.objects.len()
            && failures.iter().all(|f| {
                matches!(
                    f,
                    Some(SourceFailure::Unavailable | SourceFailure::Unauthenticated)
                )
            })
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

    /// 0 all synced, 1 some objects failed, 3 the vault or identity unreachable.
    pub fn exit_code(&self) -> ExitCode {
        if self.0.all_synced() {
            ExitCode::SUCCESS
        } else if self.unreachable() {
            ExitCode::from(3)
        } else {
            ExitCode::from(1)
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
            let warnings = o
                .findings
                .iter()
                .filter(|f| f.severity != keyway_cert::Severity::Info)
                .count();
            if warnings > 0 {
                let _ = write!(detail, "{} certificate finding(s)", warnings);
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
                "listing is forbidden: every object was read (grant Key Vault Secrets User or Reader)"
            );
        }
        if let Some(e) = &self.0.sink_error {
            let _ = writeln!(out, "the directory could not be written: {e}");
        } else if self.nothing_to_publish() {
            let _ = writeln!(
                out,
                "nothing published: no object could be read yet, and an empty set is never \
                 published (the target is left as it was)"
            );
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }
}
