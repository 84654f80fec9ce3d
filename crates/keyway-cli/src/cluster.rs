//! `keyway cluster`: cluster configuration for workload identity — the K3s issuer settings, the
//! readiness check, manifests and provisioning plans.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use keyway_cluster::k3s::{
    DEFAULT_CONFIG_PATH, DEFAULT_MAX_TOKEN_EXPIRATION, IssuerSettings, ensure_issuer, read_config,
};

use crate::error::CliError;
use crate::output::{out, outln};

/// `keyway cluster` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Make the K3s config set the service-account issuer and token lifetime (a dry run that
    /// prints a unified diff, unless --write).
    K3sConfig(K3sConfigArgs),
    /// Is the cluster ready for workload identity? Compares the issuer everywhere it appears
    /// (exit 0 ready, 1 not ready, 2 bad input).
    Check(CheckArgs),
    /// Print manifests (YAML) built from typed values.
    #[command(subcommand)]
    Render(RenderCommand),
    /// Print provisioning plans: federated credentials, role assignments, K3s, manifests.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Convert AAD Pod Identity objects (and Dapr components using spnClientId) to workload
    /// identity: prints the manifests, the pod changes, the credentials and what cannot convert.
    MigratePodIdentity(MigrateArgs),
}

/// `keyway cluster migrate-pod-identity` arguments.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The YAML with AzureIdentity, AzureIdentityBinding and Dapr Component objects (`-` for
    /// standard input).
    file: String,
    /// The cluster's service-account issuer, to plan the federated credentials.
    #[arg(long)]
    issuer: Option<String>,
    /// Print everything as JSON instead of YAML with a commented report.
    #[arg(long)]
    json: bool,
}

/// `keyway cluster plan` subcommands.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// What `az iot ops secretsync enable` does: federate the secret sync service account,
    /// grant Key Vault Secrets User and Reader, the SecretProviderClass.
    Secretsync(PlanSecretSyncArgs),
    /// What `az iot ops identity assign` does: federate the instance's service account with
    /// the cloud-connections identity.
    Identity(PlanIdentityArgs),
}

/// `keyway cluster plan identity` arguments.
#[derive(Debug, Args)]
pub struct PlanIdentityArgs {
    /// The subscription id.
    #[arg(long)]
    subscription: String,
    /// The identity's resource group.
    #[arg(long)]
    resource_group: String,
    /// The cloud-connections user-assigned identity's name.
    #[arg(long)]
    identity: String,
    /// The cluster's service-account issuer URL.
    #[arg(long)]
    issuer: String,
    /// The instance's namespace.
    #[arg(long)]
    namespace: String,
    /// The instance's service account.
    #[arg(long)]
    service_account: String,
    #[command(flatten)]
    emit: PlanOutputArgs,
}

/// `keyway cluster plan secretsync` arguments.
#[derive(Debug, Args)]
pub struct PlanSecretSyncArgs {
    /// The subscription id.
    #[arg(long)]
    subscription: String,
    /// The identity's resource group.
    #[arg(long)]
    resource_group: String,
    /// The user-assigned identity's name.
    #[arg(long)]
    identity: String,
    /// The vault's name.
    #[arg(long)]
    keyvault: String,
    /// The vault's resource group (default: --resource-group).
    #[arg(long)]
    keyvault_resource_group: Option<String>,
    /// The cluster's service-account issuer URL.
    #[arg(long)]
    issuer: String,
    /// The Azure IoT Operations namespace.
    #[arg(long)]
    namespace: String,
    /// The secret sync service account.
    #[arg(long, default_value = keyway_cluster::plan::SECRET_SYNC_SERVICE_ACCOUNT)]
    service_account: String,
    /// Also set the K3s issuer settings, with this token lifetime (e.g. 24h).
    #[arg(long)]
    k3s_max_token_expiration: Option<String>,
    /// Also grant Key Vault Secrets Officer to this principal's object id (who uploads secrets).
    #[arg(long)]
    uploader: Option<String>,
    #[command(flatten)]
    emit: PlanOutputArgs,
}

/// How a plan is printed, or applied.
#[derive(Debug, Args)]
pub struct PlanOutputArgs {
    /// az: a bash script of az commands; arm: the ARM REST requests (JSON); json: the plan.
    #[arg(long, default_value = "az", value_parser = ["az", "arm", "json"])]
    output: String,
    /// Perform the ARM steps now, as the workload identity in the environment
    /// (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE); idempotent.
    #[arg(long, conflicts_with = "output")]
    apply: bool,
    /// The Azure Resource Manager endpoint for --apply (`keyway dev` exports its own).
    #[arg(
        long,
        env = "KEYWAY_ARM_ENDPOINT",
        default_value = "https://management.azure.com"
    )]
    arm_endpoint: String,
}

/// `keyway cluster render` subcommands.
#[derive(Debug, Subcommand)]
pub enum RenderCommand {
    /// A ServiceAccount (workload identity annotations), SecretProviderClass and SecretSync.
    SecretSync(RenderSecretSyncArgs),
    /// A Dapr Azure Key Vault secret store component using workload identity.
    DaprComponent(RenderDaprArgs),
    /// The objects that sync certificates and CRLs stored as hex/base64/PEM secrets into the OPC
    /// UA connector's trust list and issuer list Secrets (.der/.crt/.crl keys): SecretProviderClass
    /// opc-ua-connector, SecretSyncs aio-opc-ua-broker-trust-list and aio-opc-ua-broker-issuer-list.
    TrustList(RenderTrustListArgs),
}

/// The vault and workload identity a rendered sync uses.
#[derive(Debug, Args)]
pub struct SyncIdentityArgs {
    /// The vault's name.
    #[arg(long)]
    keyvault: String,
    /// The Entra tenant id.
    #[arg(long)]
    tenant_id: String,
    /// The identity's client id.
    #[arg(long)]
    client_id: String,
    /// The namespace.
    #[arg(long)]
    namespace: String,
    /// The service account to sync as.
    #[arg(long, default_value = "aio-ssc-sa")]
    service_account: String,
}

impl SyncIdentityArgs {
    fn request(
        self,
        objects: Vec<keyway_cluster::render::ObjectSpec>,
        secret_type: String,
        secret_name: Option<String>,
    ) -> keyway_cluster::render::SecretSyncRequest {
        keyway_cluster::render::SecretSyncRequest {
            keyvault: self.keyvault,
            tenant_id: self.tenant_id,
            client_id: self.client_id,
            namespace: self.namespace,
            service_account: self.service_account,
            objects,
            secret_type,
            secret_name,
        }
    }
}

/// `keyway cluster render trust-list` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "Each certificate or CRL is a Key Vault secret, given as named parts \
name=NAME[,encoding=hex|base64|utf-8][,stem=STEM] (encoding hex by default: the value of \
`az keyvault secret set --encoding hex --file x.der`) or as NAME[:encoding]. It lands as \
STEM.der (STEM.crt for utf-8 PEM, STEM.crl for a CRL); STEM defaults to the secret's name. A \
CRL must share its stem with an --issuer certificate, its CA: --issuer name=contoso-ca-der,stem=contoso-ca \
--crl name=contoso-ca-crl,stem=contoso-ca gives contoso-ca.der and contoso-ca.crl. \
One SecretProviderClass (opc-ua-connector) holds the objects of both lists, so give all of \
them in one command: applying it replaces the class."
)]
pub struct RenderTrustListArgs {
    #[command(flatten)]
    sync: SyncIdentityArgs,
    /// A certificate of a trusted peer, for the trust list; repeat.
    #[arg(long = "trust")]
    trust: Vec<String>,
    /// A CA certificate, for the issuer list; repeat.
    #[arg(long = "issuer")]
    issuers: Vec<String>,
    /// A CRL of an --issuer CA (same stem), for the issuer list; repeat.
    #[arg(long = "crl")]
    crls: Vec<String>,
    /// The SecretProviderClass holding both lists' objects.
    #[arg(long, default_value = keyway_cluster::render::OPC_UA_PROVIDER_CLASS)]
    provider_class: String,
    /// The trust list's SecretSync and Secret.
    #[arg(long, default_value = "aio-opc-ua-broker-trust-list")]
    trust_list_name: String,
    /// The issuer list's SecretSync and Secret.
    #[arg(long, default_value = "aio-opc-ua-broker-issuer-list")]
    issuer_list_name: String,
    /// Earlier form: certificates for the list named by --store (use --trust or --issuer).
    #[arg(long = "cert", hide = true)]
    certs: Vec<String>,
    /// Earlier form: the list --cert goes to.
    #[arg(long, hide = true, default_value = "trust-list", value_parser = ["trust-list", "issuer-list"])]
    store: String,
    /// Earlier form: the name of the --store list's SecretSync.
    #[arg(long, hide = true)]
    secret_name: Option<String>,
}

/// `keyway cluster render secret-sync` arguments.
#[derive(Debug, Args)]
pub struct RenderSecretSyncArgs {
    #[command(flatten)]
    sync: SyncIdentityArgs,
    /// An object, as named parts: name=NAME[,alias=FILE][,type=secret|cert|key][,encoding=utf-8|hex|base64]
    /// (type secret by default; encoding is how a secret's value is stored), or a bare NAME.
    /// The earlier positional form is read only with all four positions,
    /// NAME:alias:type:encoding (empty ones take the default); fewer positions are refused
    /// with the named form to write. Repeat for more objects.
    #[arg(long = "object", required = true)]
    objects: Vec<String>,
    /// The Secret's type.
    #[arg(long, default_value = "Opaque", value_parser = ["Opaque", "kubernetes.io/tls"])]
    secret_type: String,
    /// The Secret's name (default: the vault's).
    #[arg(long)]
    secret_name: Option<String>,
}

/// `keyway cluster render dapr-component` arguments.
#[derive(Debug, Args)]
pub struct RenderDaprArgs {
    /// The vault's name (--vault is accepted too).
    #[arg(long, alias = "vault")]
    keyvault: String,
    /// The identity's client id.
    #[arg(long)]
    client_id: String,
    /// The Entra tenant id.
    #[arg(long)]
    tenant_id: Option<String>,
    /// The Azure cloud.
    #[arg(long, value_parser = keyway_cluster::render::DAPR_ENVIRONMENTS)]
    environment: Option<String>,
    /// The component's name.
    #[arg(long, default_value = "azurekeyvault")]
    name: String,
    /// The component's namespace.
    #[arg(long)]
    namespace: Option<String>,
}

/// `keyway cluster check` arguments.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The output of `az connectedk8s show` (JSON; `-` for standard input).
    #[arg(long)]
    connected_cluster: Option<String>,
    /// A K3s config file to compare.
    #[arg(long)]
    k3s_config: Option<PathBuf>,
    /// Ask this cluster for a token (TokenRequest) and its discovery document.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The service account the token is requested for, NAMESPACE/NAME.
    #[arg(long, default_value = "default/default")]
    service_account: String,
    /// Print the observations and findings as JSON.
    #[arg(long)]
    json: bool,
}

/// `keyway cluster k3s-config` arguments.
#[derive(Debug, Args)]
pub struct K3sConfigArgs {
    /// The service-account issuer URL (https), as the connected cluster reports it.
    #[arg(long)]
    issuer: String,
    /// The longest service-account token lifetime (a Go duration: 24h, 1h30m).
    #[arg(long, default_value = DEFAULT_MAX_TOKEN_EXPIRATION)]
    max_token_expiration: String,
    /// The K3s config file (a missing file is an empty config).
    #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
    file: PathBuf,
    /// Write the change (atomically, keeping FILE.keyway.bak).
    #[arg(long)]
    write: bool,
}

/// Runs a `keyway cluster` subcommand.
pub async fn run(command: ClusterCommand) -> Result<ExitCode, CliError> {
    match command {
        ClusterCommand::K3sConfig(args) => k3s_config(args),
        ClusterCommand::Check(args) => check(args).await,
        ClusterCommand::Render(command) => render(command),
        ClusterCommand::Plan(PlanCommand::Secretsync(args)) => plan_secret_sync(args).await,
        ClusterCommand::Plan(PlanCommand::Identity(args)) => {
            let plan =
                keyway_cluster::plan::Plan::identity(&keyway_cluster::plan::IdentityPlanRequest {
                    subscription: args.subscription,
                    resource_group: args.resource_group,
                    identity: args.identity,
                    issuer: args.issuer,
                    namespace: args.namespace,
                    service_account: args.service_account,
                })?;
            emit_plan(&plan, args.emit).await
        }
        ClusterCommand::MigratePodIdentity(args) => migrate_pod_identity(args),
    }
}

fn migrate_pod_identity(args: MigrateArgs) -> Result<ExitCode, CliError> {
    use keyway_cluster::migrate::Migration;
    use keyway_cluster::plan::Step;
    let bytes = crate::input::read(&args.file)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| CliError::Input(format!("{}: not UTF-8: {e}", args.file)))?;
    let migration = Migration::from_yaml(text, args.issuer.as_deref())?;
    if args.json {
        out!("{}", crate::report::pretty_json(&migration));
    } else {
        for change in &migration.pod_changes {
            outln!(
                "# pods labelled aadpodidbinding={} in {}: set serviceAccountName: {}, add label {}, remove aadpodidbinding",
                change.selector,
                change.namespace,
                change.service_account,
                change
                    .add_labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for step in &migration.federated_credentials {
            if let Step::FederatedCredential {
                identity_id,
                issuer,
                subject,
                name,
                ..
            } = step
            {
                outln!(
                    "# federated credential {name} on {identity_id}: issuer {issuer}, subject {subject}"
                );
            }
        }
        if args.issuer.is_none() && !migration.service_accounts.is_empty() {
            outln!("# rerun with --issuer URL to plan the federated credentials");
        }
        for item in &migration.unconvertible {
            outln!("# not converted: {}: {}", item.object, item.reason);
        }
        out!("{}", migration.manifests_yaml()?);
    }
    Ok(if migration.unconvertible.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn plan_secret_sync(args: PlanSecretSyncArgs) -> Result<ExitCode, CliError> {
    use keyway_cluster::plan::{Plan, SecretSyncPlanRequest};
    let plan = Plan::secret_sync(&SecretSyncPlanRequest {
        subscription: args.subscription,
        resource_group: args.resource_group,
        identity: args.identity,
        keyvault: args.keyvault,
        keyvault_resource_group: args.keyvault_resource_group,
        issuer: args.issuer,
        namespace: args.namespace,
        service_account: args.service_account,
        k3s_max_token_expiration: args.k3s_max_token_expiration,
        uploader_principal_id: args.uploader,
    })?;
    emit_plan(&plan, args.emit).await
}

/// Prints a plan (az, arm or json), or applies its ARM steps as the environment's identity.
async fn emit_plan(
    plan: &keyway_cluster::plan::Plan,
    emit: PlanOutputArgs,
) -> Result<ExitCode, CliError> {
    let PlanOutputArgs {
        output,
        apply,
        arm_endpoint,
    } = emit;
    if apply {
        let credential = crate::azure::credential(None, None)?;
        let options = keyway_cluster::apply::ApplyOptions {
            endpoint: arm_endpoint,
            client_options: keyway_identity::client_options()?,
            ..Default::default()
        };
        let applied = keyway_cluster::apply::apply(plan, credential, options).await?;
        for step in applied {
            outln!("{:?}: {} ({})", step.outcome, step.step, step.detail);
        }
        return Ok(ExitCode::SUCCESS);
    }
    match output.as_str() {
        "arm" => out!("{}", crate::report::pretty_json(&plan.to_arm_requests())),
        "json" => out!("{}", crate::report::pretty_json(plan)),
        _ => out!("{}", plan.to_az_script()),
    }
    Ok(ExitCode::SUCCESS)
}

fn render(command: RenderCommand) -> Result<ExitCode, CliError> {
    use keyway_cluster::render::{DaprComponent, ObjectSpec, secret_sync};
    let yaml = match command {
        RenderCommand::SecretSync(args) => {
            let objects = args
                .objects
                .iter()
                .map(|o| ObjectSpec::parse(o))
                .collect::<Result<Vec<_>, _>>()?;
            secret_sync(
                &args
                    .sync
                    .request(objects, args.secret_type, args.secret_name),
            )
            .and_then(|m| m.to_yaml())?
        }
        RenderCommand::TrustList(args) => {
            use keyway_cluster::render::{
                CertificateStore, StoredCertificate, TrustListRequest, trust_list,
            };
            let legacy_store = if args.store == "issuer-list" {
                CertificateStore::IssuerList
            } else {
                CertificateStore::TrustList
            };
            let mut items = Vec::new();
            for (flag, given, crl, store) in [
                ("--trust", &args.trust, false, CertificateStore::TrustList),
                (
                    "--issuer",
                    &args.issuers,
                    false,
                    CertificateStore::IssuerList,
                ),
                ("--cert", &args.certs, false, legacy_store),
                ("--crl", &args.crls, true, CertificateStore::IssuerList),
            ] {
                for text in given {
                    items.push(StoredCertificate::parse(flag, text, crl, store)?);
                }
            }
            let (mut trust_list_name, mut issuer_list_name) =
                (args.trust_list_name, args.issuer_list_name);
            if let Some(name) = args.secret_name {
                match legacy_store {
                    CertificateStore::TrustList => trust_list_name = name,
                    CertificateStore::IssuerList => issuer_list_name = name,
                }
            }
            let sync = args.sync;
            trust_list(&TrustListRequest {
                keyvault: sync.keyvault,
                tenant_id: sync.tenant_id,
                client_id: sync.client_id,
                namespace: sync.namespace,
                service_account: sync.service_account,
                items,
                provider_class_name: Some(args.provider_class),
                trust_list_name: Some(trust_list_name),
                issuer_list_name: Some(issuer_list_name),
            })
            .and_then(|m| m.to_yaml())?
        }
        RenderCommand::DaprComponent(args) => DaprComponent::azure_keyvault(
            &args.name,
            args.namespace.as_deref(),
            &args.keyvault,
            &args.client_id,
            args.tenant_id.as_deref(),
            args.environment.as_deref(),
        )
        .and_then(|c| c.to_yaml())?,
    };
    out!("{yaml}");
    Ok(ExitCode::SUCCESS)
}

async fn check(args: CheckArgs) -> Result<ExitCode, CliError> {
    use keyway_cluster::connected::ConnectedCluster;
    use keyway_cluster::readiness::Readiness;
    if args.connected_cluster.is_none() && args.k3s_config.is_none() && args.kubeconfig.is_none() {
        return Err(CliError::Input(
            "nothing to check: give --connected-cluster, --k3s-config and/or --kubeconfig".into(),
        ));
    }
    let mut readiness = Readiness::default();
    if let Some(source) = &args.connected_cluster {
        let bytes = crate::input::read(source)?;
        readiness.connected_cluster(&ConnectedCluster::from_json(&bytes)?);
    }
    if let Some(path) = &args.k3s_config {
        let text = read_config(path)?;
        match keyway_cluster::k3s::configured_issuer(&path.display().to_string(), &text)? {
            Some(issuer) => readiness.observe(&format!("K3s config {}", path.display()), &issuer),
            None => readiness.unavailable(
                &format!("K3s config {}", path.display()),
                "sets no service-account-issuer",
                "keyway cluster k3s-config --issuer <URL> --write, then restart K3s",
            ),
        }
    }
    if let Some(kubeconfig) = &args.kubeconfig {
        cluster_issuers(kubeconfig, &args.service_account, &mut readiness).await?;
    }
    readiness.compare();
    if args.json {
        out!("{}", crate::report::pretty_json(&readiness));
    } else {
        for observation in &readiness.observations {
            outln!("{}: {}", observation.source, observation.issuer);
        }
        for finding in &readiness.findings {
            outln!(
                "problem [{}]: {}\n  fix: {}",
                finding.code,
                finding.message,
                finding.fix
            );
        }
        outln!(
            "{}",
            if readiness.ready() {
                "ready for workload identity"
            } else {
                "not ready"
            }
        );
    }
    Ok(if readiness.ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The issuer in a token the cluster mints and in its discovery document: the kubeconfig is
/// read here, the probe is keyway-cluster's ([`Readiness::probe_cluster`]).
///
/// [`Readiness::probe_cluster`]: keyway_cluster::readiness::Readiness::probe_cluster
async fn cluster_issuers(
    kubeconfig: &std::path::Path,
    service_account: &str,
    readiness: &mut keyway_cluster::readiness::Readiness,
) -> Result<(), CliError> {
    let (namespace, name) = service_account.split_once('/').ok_or_else(|| {
        CliError::Input(format!(
            "--service-account {service_account:?} is not NAMESPACE/NAME"
        ))
    })?;
    let config = kube::config::Kubeconfig::read_from(kubeconfig)
        .map_err(|e| CliError::Input(format!("{}: {e}", kubeconfig.display())))?;
    let config = kube::Config::from_custom_kubeconfig(config, &Default::default())
        .await
        .map_err(|e| CliError::Input(format!("{}: {e}", kubeconfig.display())))?;
    let client = crate::azure::kube_client(config)?;
    readiness.probe_cluster(client, namespace, name).await;
    Ok(())
}

fn k3s_config(args: K3sConfigArgs) -> Result<ExitCode, CliError> {
    let settings = IssuerSettings::new(&args.issuer, &args.max_token_expiration)?;
    let text = read_config(&args.file)?;
    let edit = ensure_issuer(&args.file.display().to_string(), &text, &settings)?;
    if !edit.changed() {
        outln!(
            "{} already sets the issuer and token lifetime; nothing to do",
            args.file.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}", edit.unified_diff());
    if args.write {
        let backup = edit.write(&args.file)?;
        if let Some(backup) = backup {
            outln!("previous file kept as {}", backup.display());
        }
        outln!(
            "{} written; restart K3s for it to take effect: sudo systemctl restart k3s",
            args.file.display()
        );
    } else {
        outln!(
            "dry run: rerun with --write to apply, then restart K3s (sudo systemctl restart k3s)"
        );
    }
    Ok(ExitCode::SUCCESS)
}
