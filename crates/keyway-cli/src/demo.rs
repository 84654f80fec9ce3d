//! `keyway demo`: the main job on embedded defaults, offline, in seconds.
//!
//! It starts the emulated Entra ID, OIDC issuer and Key Vault in-process; registers a workload
//! identity (a federated credential for `system:serviceaccount:default:keyway-demo`) and an
//! uploader; uploads the shapes certificates and secrets take in Key Vault — a PEM chain and a
//! DER certificate stored with `--encoding hex`, a Key Vault certificate (its PKCS#12 backing
//! secret), a plain secret; writes the SecretProviderClass and SecretSync; syncs through
//! workload identity federation into a directory; rotates one secret and syncs again to show
//! that only that object was fetched; then, as `keyway certs trust add` does, adds an OPC UA
//! server's certificate to a connector's trust list, lets the SecretSync controller sync it and
//! lists the store (`keyway certs list`). It touches nothing but loopback and the output
//! directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use azure_security_keyvault_secrets::SecretClient;
use base64::Engine as _;
use clap::Args;
use keyway_cert::Encoding;
use keyway_cert::testing::{KeyKind, TestPki};
use keyway_emulator::{Emulator, Role, Service, ServiceAccountToken};
use keyway_identity::{
    FederatedCredential, FederatedCredentialOptions, ProjectedTokenFile, StaticAssertion,
};
use keyway_sync::{
    DirectorySink, KeyVaultSource, KeyVaultSourceOptions, SecretObject, SecretObjectData,
    SecretProviderClass, SecretProviderClassSpec, SecretSync, SecretSyncSpec, SyncReport, SyncSpec,
    Syncer,
};
use kube::ResourceExt;

use crate::error::CliError;
use crate::input;
use crate::output::out;
use crate::secret::upload;

/// Options of `keyway demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the manifests and the synced files.
    #[arg(long, default_value = "keyway-demo")]
    out: PathBuf,
}

const NAMESPACE: &str = "default";
const WORKLOAD: &str = "keyway-demo";
const UPLOADER: &str = "uploader";
const VAULT: &str = "keyway-demo";

const OBJECTS: &str = r#"array:
  - |
    objectName: opcua-chain-pem
    objectType: secret
    objectEncoding: hex
  - |
    objectName: opcua-server-der
    objectAlias: opcua-server.der
    objectType: secret
    objectEncoding: hex
  - |
    objectName: opcua-server-der
    objectAlias: opcua-server.crt
    objectType: cert
  - |
    objectName: mqtt-tls
    objectType: secret
    filePermission: "0600"
  - |
    objectName: mqtt-tls
    objectAlias: mqtt-tls.crt
    objectType: cert
  - |
    objectName: mqtt-tls
    objectAlias: mqtt-tls.pub
    objectType: key
  - |
    objectName: db-password
    objectType: secret
    filePermission: "0600"
"#;

fn demo_error(e: impl std::fmt::Display) -> CliError {
    CliError::Remote(format!("demo: {e}"))
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> Result<ExitCode, CliError> {
    let started = std::time::Instant::now();
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|e| CliError::io(out.display().to_string(), e))?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "keyway demo: Key Vault → files through workload identity federation, offline\n"
    );

    // 1. The cloud and the cluster's issuer, emulated on loopback.
    let emulator = Emulator::start().await.map_err(demo_error)?;
    let tenant = emulator.add_tenant(None);
    let workload = emulator
        .add_workload_identity(&tenant, "keyway-demo", NAMESPACE, WORKLOAD)
        .map_err(demo_error)?;
    let uploader = emulator
        .add_workload_identity(&tenant, "uploader", NAMESPACE, UPLOADER)
        .map_err(demo_error)?;
    let vault = emulator
        .add_vault(&tenant, VAULT)
        .await
        .map_err(demo_error)?;
    // What `az iot ops secretsync enable` grants: Secrets User (values) and Reader (keys).
    vault.grant(&workload, Role::SecretsUser);
    vault.grant(&workload, Role::Reader);
    vault.grant(&uploader, Role::SecretsOfficer);
    let _ = writeln!(
        text,
        "cloud      Entra ID {}, issuer {}, vault {}",
        emulator.authority_host(),
        emulator.issuer_url(),
        vault.url()
    );
    let _ = writeln!(
        text,
        "identity   client {} trusts system:serviceaccount:{NAMESPACE}:{WORKLOAD} (Key Vault Secrets User, Reader)",
        workload.client_id
    );

    // 2. Upload, as az keyvault secret set --encoding hex would, with the official SecretClient.
    let pki = TestPki::generate(
        KeyKind::Rsa2048,
        &["opcua-server.local", "urn:contoso:opcua:server"],
    );
    let uploader_token =
        emulator.mint_service_account_token(&ServiceAccountToken::new(NAMESPACE, UPLOADER));
    let uploader_credential = credential(
        &emulator,
        &tenant,
        &uploader.client_id,
        Arc::new(StaticAssertion::new(uploader_token)),
    )?;
    let client = SecretClient::new(
        vault.url(),
        uploader_credential,
        Some(azure_security_keyvault_secrets::SecretClientOptions {
            client_options: emulator.client_options().map_err(demo_error)?,
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )
    .map_err(demo_error)?;
    upload(
        &client,
        "opcua-chain-pem",
        pki.chain_pem(false).as_bytes(),
        Encoding::Hex,
        Some("application/x-pem-file"),
    )
    .await?;
    upload(
        &client,
        "opcua-server-der",
        pki.leaf.der(),
        Encoding::Hex,
        Some("application/pkix-cert"),
    )
    .await?;
    upload(
        &client,
        "db-password",
        b"correct horse battery staple",
        Encoding::Utf8,
        None,
    )
    .await?;
    let pfx =
        keyway_cert::testing::pkcs12(&pki.leaf, &[&pki.root, &pki.leaf, &pki.intermediate], "");
    vault
        .import_certificate(
            "mqtt-tls",
            &base64::engine::general_purpose::STANDARD.encode(pfx),
            "application/x-pkcs12",
        )
        .map_err(demo_error)?;
    let _ = writeln!(
        text,
        "uploaded   opcua-chain-pem (PEM chain, hex), opcua-server-der (DER, hex), db-password, mqtt-tls (Key Vault certificate)"
    );

    // 3. The manifests a cluster would hold.
    let (spc, secret_sync) = manifests(&tenant, &workload.client_id);
    let manifests_dir = out.join("manifests");
    std::fs::create_dir_all(&manifests_dir)
        .map_err(|e| CliError::io(manifests_dir.display().to_string(), e))?;
    write_yaml(&manifests_dir.join("secretproviderclass.yaml"), &spc)?;
    write_yaml(&manifests_dir.join("secretsync.yaml"), &secret_sync)?;
    let _ = writeln!(
        text,
        "manifests  {}/secretproviderclass.yaml, secretsync.yaml",
        manifests_dir.display()
    );

    // 4. The pod: its projected token file, and keyway syncing with it.
    let token_file = out.join(".token");
    input::write_atomic(
        &token_file,
        emulator
            .mint_service_account_token(&ServiceAccountToken::new(NAMESPACE, WORKLOAD))
            .as_bytes(),
        true,
    )?;
    let spec = SyncSpec::from_provider_class(&spc)
        .and_then(|s| s.with_vault_url(vault.url()))
        .map_err(|e| CliError::Input(e.to_string()))?;
    let credential = credential(
        &emulator,
        &tenant,
        &workload.client_id,
        Arc::new(ProjectedTokenFile::new(&token_file)),
    )?;
    let source = KeyVaultSource::new(
        vault.url(),
        credential.clone(),
        KeyVaultSourceOptions {
            client_options: emulator.client_options().map_err(demo_error)?,
            verify_challenge_resource: false,
            ..Default::default()
        },
    )
    .map_err(demo_error)?;
    let files_dir = out.join("files");
    let sink = DirectorySink::new(&files_dir).map_err(demo_error)?;
    let syncer = Syncer::new(spec, Arc::new(source), Arc::new(sink));

    // Key Vault's `updated` has one-second resolution: a sync in the same second as an upload
    // cannot tell a later write in that second apart, so it reads again next cycle. Let the
    // second pass, as it always has in a real deployment.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    emulator.counters().reset();
    let first = syncer.run_once().await;
    let first_calls = calls(&emulator);
    let _ = writeln!(text, "\nsync 1     into {}/", files_dir.display());
    describe(&mut text, &first, &files_dir);
    let _ = writeln!(text, "           calls at the vault: {first_calls}");

    // 5. Rotate one secret; the next cycle fetches only it.
    upload(
        &client,
        "db-password",
        b"rotated: tr0ub4dor&3",
        Encoding::Utf8,
        None,
    )
    .await?;
    emulator.counters().reset();
    let second = syncer.run_once().await;
    let second_calls = calls(&emulator);
    let _ = writeln!(text, "\nrotated    db-password, then sync 2");
    for o in second
        .objects
        .iter()
        .filter(|o| o.outcome != keyway_sync::Outcome::Unchanged)
    {
        let _ = writeln!(
            text,
            "           {:<22} {}",
            o.output,
            format!("{:?}", o.outcome).to_lowercase()
        );
    }
    let _ = writeln!(
        text,
        "           calls at the vault: {second_calls} — the peers' cost: one GET per object per poll"
    );
    // 6. The cluster side: the same SecretSync into a Kubernetes Secret on the API server
    //    stand-in, authenticated the way a controller does it — a TokenRequest for the
    //    SecretSync's service account, exchanged at Entra.
    let secret = kubernetes_secret(
        &emulator,
        &tenant,
        &workload.client_id,
        &spc,
        &secret_sync,
        vault.url(),
    )
    .await?;
    let _ = writeln!(
        text,
        "\nkubernetes Secret default/{} (owned by SecretSync keyway-demo, TokenRequest auth)",
        secret_sync.name_any()
    );
    for (key, size) in &secret {
        let _ = writeln!(text, "           {key:<22} {size:>6} B");
    }
    // 7. An OPC UA connector's trust list, as `keyway certs trust add` and `keyway certs list`
    //    do it: the server's certificate checked and shown, uploaded as hex, mapped through the
    //    connector's SecretProviderClass and SecretSync, and synced by the controller.
    trust_list(&mut text, &emulator, &tenant, &vault, client).await?;
    let _ = writeln!(
        text,
        "\n{} objects synced through {} token exchange(s) in {} ms; no value or token was printed.",
        first.objects.len(),
        credential.exchanges(),
        started.elapsed().as_millis()
    );
    out!("{text}");
    emulator.stop();
    Ok(if first.all_synced() && second.all_synced() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The instance's namespace in the trust-list step, as Azure IoT Operations names it.
const AIO_NAMESPACE: &str = "azure-iot-operations";

/// A kube client for the emulator's API server stand-in.
async fn stand_in_client(emulator: &Emulator) -> Result<kube::Client, CliError> {
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(&emulator.kubeconfig()).map_err(demo_error)?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(demo_error)?;
    kube::Client::try_from(config).map_err(demo_error)
}

/// `keyway certs trust add opcua-press-01.der`, then the controller syncs it and `keyway certs
/// list trust` shows it synced: on the stand-in, in an instance namespace where secret sync is
/// enabled (its default SecretProviderClass and the `aio-ssc-sa` identity).
async fn trust_list(
    text: &mut String,
    emulator: &Emulator,
    tenant: &str,
    vault: &keyway_emulator::Vault,
    uploader: SecretClient,
) -> Result<(), CliError> {
    use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
    use keyway_cert::testing::{CertSpec, Issued};
    use keyway_stores::{
        AddOptions, InputFile, Instance, KeyVaultSecrets, KubernetesTarget, Store, StoreConfig,
        Stores, SyncState,
    };
    use kube::api::PostParams;

    let client = stand_in_client(emulator).await?;
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some(AIO_NAMESPACE.into());
    kube::Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .map_err(demo_error)?;
    // What `az iot ops secretsync enable` leaves: the sync identity and the default class.
    let config = StoreConfig::in_namespace(AIO_NAMESPACE);
    let mut account = ServiceAccount::default();
    account.metadata.name = Some(config.service_account.clone());
    kube::Api::<ServiceAccount>::namespaced(client.clone(), AIO_NAMESPACE)
        .create(&PostParams::default(), &account)
        .await
        .map_err(demo_error)?;
    let ssc = emulator
        .add_workload_identity(tenant, "aio-ssc", AIO_NAMESPACE, &config.service_account)
        .map_err(demo_error)?;
    vault.grant(&ssc, Role::SecretsUser);
    let default_class = SecretProviderClass::new(
        "spc-ops-demo",
        SecretProviderClassSpec {
            provider: Some("azure".into()),
            parameters: BTreeMap::from([
                ("keyvaultName".to_string(), VAULT.to_string()),
                ("tenantId".to_string(), tenant.to_string()),
                ("clientId".to_string(), ssc.client_id.clone()),
                ("usePodIdentity".to_string(), "false".to_string()),
            ]),
            secret_objects: None,
        },
    );
    kube::Api::<SecretProviderClass>::namespaced(client.clone(), AIO_NAMESPACE)
        .create(&PostParams::default(), &default_class)
        .await
        .map_err(demo_error)?;

    // keyway certs trust add opcua-press-01.der
    let target = Arc::new(KubernetesTarget::new(client.clone(), AIO_NAMESPACE));
    let mut instance = Instance::discover(target.as_ref(), &config).await?;
    instance.vault_url = vault.url().to_string();
    let stores = Stores::new(
        config,
        instance,
        target,
        Arc::new(KeyVaultSecrets::new(uploader)),
    );
    let server = Issued::self_signed(&CertSpec {
        common_name: "opcua-press-01".into(),
        san: vec![
            "opcua-press-01.local".into(),
            "urn:contoso:opcua:press-01".into(),
        ],
        ..Default::default()
    });
    let plan = stores
        .plan_add(
            Store::Trust,
            &[InputFile::new("opcua-press-01.der", server.der().to_vec())],
            &AddOptions::default(),
        )
        .await?;
    let _ = writeln!(
        text,
        "\ncerts      keyway certs trust add opcua-press-01.der --namespace {AIO_NAMESPACE}"
    );
    for line in plan.to_string().lines() {
        let _ = writeln!(text, "           {line}");
    }
    stores.apply(&plan).await?;

    // The controller syncs the trust list's SecretSync into its Secret.
    let controller = keyway_sync::controller::Controller::new(
        client,
        keyway_sync::controller::ControllerOptions {
            namespaces: vec![AIO_NAMESPACE.into()],
            poll_interval: std::time::Duration::from_secs(2),
            jitter: 0.0,
            authority_host: Some(emulator.authority_host()),
            client_options: emulator.client_options().map_err(demo_error)?,
            verify_challenge_resource: false,
            vault_urls: BTreeMap::from([(VAULT.to_string(), vault.url().to_string())]),
            ..Default::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        controller
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    // keyway certs list trust, until the controller has synced it (bounded: a demo that
    // cannot sync says so instead of hanging).
    let mut listing = Vec::new();
    for _ in 0..150 {
        listing = stores.list(Some(Store::Trust), None).await?;
        if listing
            .iter()
            .flat_map(|l| &l.entries)
            .all(|e| e.sync == SyncState::Synced)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let _ = stop.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), running).await;
    let _ = writeln!(
        text,
        "\n           keyway certs list trust --namespace {AIO_NAMESPACE}, after the controller synced"
    );
    for l in &listing {
        for line in l.to_string().lines() {
            let _ = writeln!(text, "           {line}");
        }
    }
    let synced = listing
        .iter()
        .flat_map(|l| &l.entries)
        .any(|e| e.target_key == "opcua-press-01.der" && e.sync == SyncState::Synced);
    if !synced {
        return Err(demo_error(
            "the controller did not sync the trust list within 30 s",
        ));
    }
    Ok(())
}

/// Syncs the SecretSync into the stand-in and returns the Secret's keys and sizes.
async fn kubernetes_secret(
    emulator: &Emulator,
    tenant: &str,
    client_id: &str,
    spc: &SecretProviderClass,
    secret_sync: &SecretSync,
    vault_url: &str,
) -> Result<Vec<(String, usize)>, CliError> {
    use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::PostParams;
    let client = stand_in_client(emulator).await?;
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    for crd in keyway_sync::crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .map_err(demo_error)?;
    }
    let mut account = ServiceAccount::default();
    account.metadata.name = Some(WORKLOAD.into());
    kube::Api::<ServiceAccount>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &account)
        .await
        .map_err(demo_error)?;
    let created = kube::Api::<SecretSync>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), secret_sync)
        .await
        .map_err(demo_error)?;
    let source = KeyVaultSource::new(
        vault_url,
        credential(
            emulator,
            tenant,
            client_id,
            Arc::new(keyway_identity::TokenRequest::new(
                client.clone(),
                NAMESPACE,
                WORKLOAD,
            )),
        )?,
        KeyVaultSourceOptions {
            client_options: emulator.client_options().map_err(demo_error)?,
            verify_challenge_resource: false,
            ..Default::default()
        },
    )
    .map_err(demo_error)?;
    let sink = keyway_sync::KubernetesSecretSink::for_secret_sync(client.clone(), &created)
        .map_err(demo_error)?;
    let spec = SyncSpec::from_provider_class(spc)
        .and_then(|s| s.with_vault_url(vault_url))
        .map_err(|e| CliError::Input(e.to_string()))?;
    let sink = keyway_sync::Remap::for_secret_sync(sink, secret_sync, &spec)?;
    let report = Syncer::new(spec, Arc::new(source), Arc::new(sink))
        .run_once()
        .await;
    if !report.all_synced() {
        return Err(demo_error(format!(
            "{} object(s) failed to sync into Kubernetes",
            report.failed()
        )));
    }
    let written = kube::Api::<Secret>::namespaced(client, NAMESPACE)
        .get(&created.name_any())
        .await
        .map_err(demo_error)?;
    Ok(written
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0.len()))
        .collect())
}

fn credential(
    emulator: &Emulator,
    tenant: &str,
    client_id: &str,
    source: Arc<dyn keyway_identity::AssertionSource>,
) -> Result<Arc<FederatedCredential>, CliError> {
    FederatedCredential::new(
        tenant,
        client_id,
        &emulator.authority_host(),
        source,
        FederatedCredentialOptions {
            client_options: emulator.client_options().map_err(demo_error)?,
            ..Default::default()
        },
    )
    .map_err(demo_error)
}

fn calls(emulator: &Emulator) -> String {
    let c = emulator.counters();
    format!(
        "{} list, {} get, {} token",
        c.count_status(Service::KeyVault, "GetSecrets", 200)
            + c.count_status(Service::KeyVault, "GetKeys", 200),
        c.count_status(Service::KeyVault, "GetSecret", 200)
            + c.count_status(Service::KeyVault, "GetKey", 200),
        c.count(Service::Entra, "Token")
    )
}

fn describe(text: &mut String, report: &SyncReport, dir: &Path) {
    for o in &report.objects {
        let size = std::fs::metadata(dir.join(&o.output))
            .map(|m| m.len())
            .unwrap_or(0);
        let findings: Vec<String> = o
            .findings
            .iter()
            .filter(|f| f.severity != keyway_cert::Severity::Info)
            .map(|f| f.code.to_string())
            .collect();
        let _ = writeln!(
            text,
            "           {:<22} {:<9} {:>6} B{}{}",
            o.output,
            format!("{:?}", o.outcome).to_lowercase(),
            size,
            if findings.is_empty() {
                String::new()
            } else {
                format!("  findings: {}", findings.join(", "))
            },
            o.error
                .as_ref()
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
    }
}

fn manifests(tenant: &str, client_id: &str) -> (SecretProviderClass, SecretSync) {
    let parameters = BTreeMap::from([
        ("keyvaultName".to_string(), VAULT.to_string()),
        ("tenantID".to_string(), tenant.to_string()),
        ("clientID".to_string(), client_id.to_string()),
        ("objects".to_string(), OBJECTS.to_string()),
    ]);
    let spc = SecretProviderClass::new(
        "keyway-demo",
        SecretProviderClassSpec {
            provider: Some("azure".into()),
            parameters,
            secret_objects: None,
        },
    );
    let data = [
        "opcua-chain-pem",
        "opcua-server.der",
        "mqtt-tls.crt",
        "db-password",
    ]
    .into_iter()
    .map(|path| SecretObjectData {
        source_path: path.into(),
        target_key: path.into(),
    })
    .collect();
    let secret_sync = SecretSync::new(
        "keyway-demo",
        SecretSyncSpec {
            secret_provider_class_name: "keyway-demo".into(),
            service_account_name: WORKLOAD.into(),
            secret_object: SecretObject {
                type_: "Opaque".into(),
                data,
                labels: None,
                annotations: None,
            },
            force_synchronization: None,
            secret_sync_controller_name: None,
        },
    );
    (spc, secret_sync)
}

fn write_yaml<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), CliError> {
    let yaml = keyway_sync::yaml::to_string(value).map_err(|e| CliError::Input(e.to_string()))?;
    input::write_atomic(path, yaml.as_bytes(), false)
}
