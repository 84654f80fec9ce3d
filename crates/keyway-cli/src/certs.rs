//! `keyway certs`: an OPC UA connector's trust list, issuer list and client certificate —
//! add, list, remove — on keyway-stores. Every add prints its plan (each file's subject,
//! issuer, thumbprints, not after, SANs and findings) before anything is written; a check that
//! refuses writes nothing (exit 1). Removals show what goes and ask on a terminal.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use azure_security_keyvault_secrets::SecretClient;
use clap::{Args, Subcommand, ValueEnum};
use keyway_stores::{
    AddOptions, ArmTarget, InputFile, Instance, KeyVaultSecrets, KubernetesTarget, Plan, Removal,
    RemoveOptions, Store, StoreConfig, StoreListing, StoreTarget, Stores,
};

use crate::azure;
use crate::error::{CliError, store_flags};
use crate::output::{out, outln};
use crate::report::pretty_json;

/// Where the stores' SecretProviderClass and SecretSyncs are changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    /// The Kubernetes API (the cluster of KUBECONFIG, or in-cluster).
    Kubernetes,
    /// Azure Resource Manager (the instance's custom location), with --resource-group and
    /// --instance.
    Arm,
}

/// The instance whose stores are managed: the target, its namespace and its vault.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Where the SecretProviderClass and SecretSyncs live: kubernetes (KUBECONFIG or
    /// in-cluster) or arm (Azure Resource Manager, with --resource-group and --instance).
    #[arg(long, value_enum, default_value = "kubernetes")]
    pub target: TargetKind,
    /// --target arm: the subscription of the Azure IoT Operations instance.
    #[arg(long, env = "AZURE_SUBSCRIPTION_ID", required_if_eq("target", "arm"))]
    pub subscription: Option<String>,
    /// --target arm: the resource group of the Azure IoT Operations instance.
    #[arg(long, required_if_eq("target", "arm"))]
    pub resource_group: Option<String>,
    /// --target arm: the Azure IoT Operations instance's name.
    #[arg(long, required_if_eq("target", "arm"))]
    pub instance: Option<String>,
    /// --target arm: the Azure Resource Manager endpoint (`keyway dev` exports its own).
    #[arg(
        long,
        env = "KEYWAY_ARM_ENDPOINT",
        default_value = "https://management.azure.com"
    )]
    pub arm_endpoint: String,
    /// The instance's namespace (default: azure-iot-operations; with --target arm, the one its
    /// custom location maps to).
    #[arg(long)]
    pub namespace: Option<String>,
    /// The instance's default SecretProviderClass (the one `az iot ops secretsync enable`
    /// made), when the namespace holds several that name a Key Vault.
    #[arg(long)]
    pub default_provider_class: Option<String>,
    /// Use this vault URL instead of the one the instance's SecretProviderClass names (the
    /// emulator, a private endpoint).
    #[arg(long, env = "KEYWAY_VAULT_URL")]
    pub vault_url: Option<String>,
}

/// Flags every add takes.
#[derive(Debug, Args)]
pub struct AddFlags {
    /// Add expired certificates too (with a warning) instead of refusing them.
    #[arg(long)]
    pub allow_expired: bool,
    /// Write a new version when a Key Vault secret of the same name holds other bytes, instead
    /// of refusing.
    #[arg(long)]
    pub overwrite_secret: bool,
    /// Print the plan only; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Flags every removal takes.
#[derive(Debug, Args)]
pub struct RemoveFlags {
    /// Also delete and purge the Key Vault secrets no store maps any more (by default the
    /// secrets stay in Key Vault and only the cluster's mapping goes).
    #[arg(long)]
    pub include_secrets: bool,
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print what would be removed only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `keyway certs trust|issuer add FILE...`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The files: trust list .der, .crt or .pem (one certificate each); issuer list CA
    /// certificates (.der, .crt, .pem) and their CRLs (.crl). Each is synced under its file
    /// name.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The Key Vault secret name (one file only; default: the file name with every character
    /// outside [0-9A-Za-z-] made `-`).
    #[arg(long)]
    pub secret_name: Option<String>,
    #[command(flatten)]
    pub flags: AddFlags,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// `keyway certs client add`.
#[derive(Debug, Args)]
pub struct ClientAddArgs {
    /// The connector's certificate (.der).
    #[arg(long)]
    pub public_key_file: PathBuf,
    /// Its private key (.pem: PKCS#8, PKCS#1 or SEC1), with the same file stem.
    #[arg(long)]
    pub private_key_file: PathBuf,
    /// The subject name the certificate must have (its CN); checked, not set.
    #[arg(long)]
    pub subject_name: Option<String>,
    /// The application URI the certificate must have (its one URI SAN); checked, not set.
    #[arg(long)]
    pub application_uri: Option<String>,
    #[command(flatten)]
    pub flags: AddFlags,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// `keyway certs trust|issuer|client remove NAME...`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Entries to remove, by target key (the file name, e.g. server.der) or secret name.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Issuer list: also remove the CRLs a removed CA signed (else such a removal is refused,
    /// naming the CRL).
    #[arg(long)]
    pub with_crl: bool,
    #[command(flatten)]
    pub flags: RemoveFlags,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// The trust list's and the issuer list's subcommands.
#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// Add certificates (and, to the issuer list, CRLs): checked, printed, then uploaded and
    /// mapped.
    Add(AddArgs),
    /// Remove entries from the cluster (and with --include-secrets from Key Vault).
    Remove(RemoveArgs),
}

/// The client certificate's subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Set the connector's client certificate and key (replaces the current one) and print
    /// the connector settings to apply.
    Add(ClientAddArgs),
    /// Remove the client certificate's entries.
    Remove(RemoveArgs),
}

/// `keyway certs list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// One store only: trust, issuer or client.
    #[arg(value_parser = |s: &str| s.parse::<Store>().map_err(|e| e.to_string()))]
    pub store: Option<Store>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// The `certs` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// The trust list: certificates of the OPC UA servers the connector trusts.
    #[command(subcommand)]
    Trust(ListCommand),
    /// The issuer list: CA certificates and their CRLs.
    #[command(subcommand)]
    Issuer(ListCommand),
    /// The connector's client (application instance) certificate.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Each store's entries: secret, version, subject, SHA-1, days left, findings, sync state.
    List(ListArgs),
}

/// Runs one `certs` subcommand.
pub async fn run(command: CertsCommand) -> Result<ExitCode, CliError> {
    match command {
        CertsCommand::Trust(ListCommand::Add(args)) => add_files(Store::Trust, args).await,
        CertsCommand::Issuer(ListCommand::Add(args)) => add_files(Store::Issuer, args).await,
        CertsCommand::Client(ClientCommand::Add(args)) => add_client(args).await,
        CertsCommand::Trust(ListCommand::Remove(args)) => remove(Store::Trust, args).await,
        CertsCommand::Issuer(ListCommand::Remove(args)) => remove(Store::Issuer, args).await,
        CertsCommand::Client(ClientCommand::Remove(args)) => remove(Store::Client, args).await,
        CertsCommand::List(args) => list(args).await,
    }
}

/// The stores of the instance `args` names: the target, the instance's vault (from its
/// default SecretProviderClass, or `--vault-url`) and a Key Vault client on the workload
/// identity credential of the environment, as `keyway secret set` uses.
pub async fn open(args: &TargetArgs) -> Result<Stores, CliError> {
    let (namespace, target): (String, Arc<dyn StoreTarget>) = match args.target {
        TargetKind::Kubernetes => {
            if args.resource_group.is_some() || args.instance.is_some() {
                return Err(CliError::Input(
                    "--resource-group and --instance are for --target arm".into(),
                ));
            }
            let namespace = args
                .namespace
                .clone()
                .unwrap_or_else(|| StoreConfig::default().namespace);
            // The library's rule, before the kubeconfig is even read (discover checks it too).
            StoreConfig::in_namespace(namespace.as_str()).check()?;
            let target = KubernetesTarget::new(azure::default_kube_client().await?, &namespace);
            (namespace, Arc::new(target))
        }
        TargetKind::Arm => {
            // Required with --target arm (clap checks), so present here.
            let (Some(subscription), Some(group), Some(instance)) =
                (&args.subscription, &args.resource_group, &args.instance)
            else {
                return Err(CliError::Input(
                    "--target arm needs --subscription, --resource-group and --instance".into(),
                ));
            };
            let options = keyway_cluster::apply::ApplyOptions {
                endpoint: args.arm_endpoint.clone(),
                client_options: keyway_identity::client_options()?,
                ..Default::default()
            };
            let credential = azure::credential(None, None)?;
            let target =
                ArmTarget::connect(credential, options, subscription, group, instance).await?;
            if let Some(asked) = &args.namespace
                && asked != target.namespace()
            {
                return Err(CliError::Input(format!(
                    "--namespace {asked}: instance {instance} lives in namespace {} (its custom \
                     location's); drop --namespace",
                    target.namespace()
                )));
            }
            (target.namespace().to_string(), Arc::new(target))
        }
    };
    let mut config = StoreConfig::in_namespace(namespace);
    config.default_provider_class = args.default_provider_class.clone();
    let mut instance = Instance::discover(target.as_ref(), &config).await?;
    if let Some(url) = &args.vault_url {
        instance.vault_url = url.clone();
    }
    // The environment's tenant first, else the one the instance's class names.
    let tenant = std::env::var("AZURE_TENANT_ID")
        .ok()
        .or_else(|| instance.tenant_id.clone());
    let credential = azure::credential(None, tenant.as_deref())?;
    let client = SecretClient::new(
        &instance.vault_url,
        credential,
        Some(azure::secret_client_options(&instance.vault_url)?),
    )
    .map_err(|e| CliError::Input(format!("vault URL {}: {e}", instance.vault_url)))?;
    Ok(Stores::new(
        config,
        instance,
        target,
        Arc::new(KeyVaultSecrets::new(client)),
    ))
}

fn add_options(flags: &AddFlags) -> AddOptions {
    AddOptions {
        allow_expired: flags.allow_expired,
        overwrite_secret: flags.overwrite_secret,
        ..AddOptions::default()
    }
}

/// Reads every file before anything else: a missing file is an input error (exit 2).
fn read_files(paths: &[PathBuf]) -> Result<Vec<InputFile>, CliError> {
    paths
        .iter()
        .map(|p| InputFile::read(p).map_err(CliError::from))
        .collect()
}

async fn add_files(store: Store, args: AddArgs) -> Result<ExitCode, CliError> {
    let mut files = read_files(&args.files)?;
    if let Some(name) = &args.secret_name {
        if files.len() != 1 {
            return Err(CliError::Input(format!(
                "--secret-name names one file's secret; {} files given",
                files.len()
            )));
        }
        files = files
            .into_iter()
            .map(|f| f.with_secret_name(name.clone()))
            .collect();
    }
    let stores = open(&args.target).await?;
    let plan = stores
        .plan_add(store, &files, &add_options(&args.flags))
        .await?;
    apply(&stores, plan, args.flags.dry_run).await
}

async fn add_client(args: ClientAddArgs) -> Result<ExitCode, CliError> {
    let files = read_files(&[args.public_key_file.clone(), args.private_key_file.clone()])?;
    let stores = open(&args.target).await?;
    let options = AddOptions {
        subject_name: args.subject_name.clone(),
        application_uri: args.application_uri.clone(),
        ..add_options(&args.flags)
    };
    let plan = stores.plan_add(Store::Client, &files, &options).await?;
    apply(&stores, plan, args.flags.dry_run).await
}

/// Prints `plan`, then (unless a dry run) applies it. A refused plan exits 1 and writes
/// nothing.
pub async fn apply(stores: &Stores, plan: Plan, dry_run: bool) -> Result<ExitCode, CliError> {
    out!("{}", store_flags(&plan.to_string()));
    if plan.is_refused() {
        return Err(CliError::Refused(store_flags(&format!(
            "refused, nothing written: {}",
            plan.all_refusals().join("; ")
        ))));
    }
    if dry_run {
        outln!("dry run: nothing written");
        return Ok(ExitCode::SUCCESS);
    }
    if plan.is_noop() {
        outln!("nothing to do: Key Vault and the cluster already hold this");
        return Ok(ExitCode::SUCCESS);
    }
    let applied = stores.apply(&plan).await?;
    for (name, version) in &applied.secrets_written {
        outln!("wrote Key Vault secret {name} version {version}");
    }
    outln!(
        "applied: SecretProviderClass {}, SecretSync {}; the SecretSync controller syncs it \
         (`list` shows its state)",
        applied.provider_class,
        applied.secret_sync
    );
    match &applied.connector_settings_changed {
        Some(keys) if keys.is_empty() => {
            outln!("connector settings: the IoT Operations extension already has them")
        }
        Some(keys) => outln!(
            "connector settings: set on the IoT Operations extension ({})",
            keys.join(", ")
        ),
        None => {
            if plan.connector_settings.is_some() {
                outln!(
                    "connector settings: not applied by this target; run the az \
                     k8s-extension update line above"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses a removal that cannot be confirmed before anything is read: not a terminal and no
/// --yes (a dry run needs no confirmation).
pub fn check_confirmable(flags: &RemoveFlags) -> Result<(), CliError> {
    if flags.yes || flags.dry_run || std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(CliError::Input(
        "removal needs confirmation, and standard input is not a terminal: pass --yes to \
         remove without asking (or --dry-run to see what would be removed)"
            .into(),
    ))
}

/// Shows `preview` (a dry run's [`Removal`]) and, unless --yes, asks on the terminal. `false`:
/// the operator declined.
pub fn confirm(preview: &Removal, flags: &RemoveFlags) -> Result<bool, CliError> {
    out!("{preview}");
    if flags.yes {
        return Ok(true);
    }
    out!("remove? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    // One short line is all an answer is: never read an endless input to its end.
    std::io::stdin()
        .lock()
        .take(1024)
        .read_line(&mut answer)
        .map_err(|e| CliError::io("<stdin>", e))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

async fn remove(store: Store, args: RemoveArgs) -> Result<ExitCode, CliError> {
    check_confirmable(&args.flags)?;
    let stores = open(&args.target).await?;
    let names: Vec<&str> = args.names.iter().map(String::as_str).collect();
    let options = RemoveOptions {
        include_secrets: args.flags.include_secrets,
        with_crl: args.with_crl,
        dry_run: true,
    };
    let preview = stores.remove(store, &names, &options).await?;
    if args.flags.dry_run {
        out!("{preview}");
        outln!("dry run: nothing changed");
        return Ok(ExitCode::SUCCESS);
    }
    if !confirm(&preview, &args.flags)? {
        outln!("not removed");
        return Ok(ExitCode::from(1));
    }
    let done = stores
        .remove(
            store,
            &names,
            &RemoveOptions {
                dry_run: false,
                ..options
            },
        )
        .await?;
    print_done(&done);
    Ok(ExitCode::SUCCESS)
}

/// Says what a removal did (its details were shown before).
pub fn print_done(done: &Removal) {
    outln!(
        "removed {} entr{}; Key Vault secrets purged: {}",
        done.removed.len(),
        if done.removed.len() == 1 { "y" } else { "ies" },
        if done.secrets_purged.is_empty() {
            "none".to_string()
        } else {
            done.secrets_purged.join(", ")
        }
    );
}

/// Prints listings for people or as JSON; the exit code is 1 when any listed entry failed to
/// sync (a partial result, as `keyway sync` says), else 0.
pub fn print_listings(listings: &[StoreListing], json: bool) -> ExitCode {
    if json {
        out!("{}", pretty_json(listings));
    } else {
        for listing in listings {
            out!("{listing}");
        }
    }
    if listings.iter().any(StoreListing::has_failed) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

async fn list(args: ListArgs) -> Result<ExitCode, CliError> {
    let stores = open(&args.target).await?;
    let listings = stores.list(args.store, None).await?;
    Ok(print_listings(&listings, args.json))
}
