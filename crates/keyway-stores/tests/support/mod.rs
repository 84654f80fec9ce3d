//! What the store tests share: a cluster (the stand-in, or `KEYWAY_TEST_KUBECONFIG`'s) with the
//! CRDs, a vault, the instance's default SecretProviderClass (as secret-sync enablement makes
//! it), an uploader identity on the official SDK, the SecretSync controller, and counting.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use keyway_emulator::testing::TestCluster;
use keyway_emulator::{Role, Service, Vault};
use keyway_stores::{
    AddOptions, InputFile, Instance, KeyVaultSecrets, KubernetesTarget, Store, StoreConfig,
    StoreTarget, Stores,
};
use keyway_sync::controller::{Controller, ControllerOptions};
use keyway_sync::{SecretProviderClass, SecretProviderClassSpec};
use kube::Api;
use kube::api::PostParams;

pub const VAULT: &str = "edge-vault";
pub const DEFAULT_SPC: &str = "spc-ops-7f3a";

pub struct Env {
    pub cluster: TestCluster,
    pub vault: Vault,
    pub stores: Stores,
    pub target: Arc<KubernetesTarget>,
    pub controller_options: ControllerOptions,
    pub uploader: keyway_emulator::Identity,
}

/// A cluster with the CRDs and a vault; with `enabled`, the default SecretProviderClass too.
pub async fn env(test: &str) -> Env {
    let (cluster, vault, target, controller_options, uploader) = cluster(test, true).await;
    let stores = stores(&cluster, &vault, &uploader, target.clone()).await;
    Env {
        cluster,
        vault,
        stores,
        target,
        controller_options,
        uploader,
    }
}

pub async fn cluster(
    test: &str,
    enabled: bool,
) -> (
    TestCluster,
    Vault,
    Arc<KubernetesTarget>,
    ControllerOptions,
    keyway_emulator::Identity,
) {
    let cluster = TestCluster::start(test).await.unwrap();
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    cluster.install_crds_from(&crds).await.unwrap();
    let (emulator, ns) = (cluster.emulator(), cluster.namespace().to_string());
    let tenant = emulator.add_tenant(None);
    let ssc = cluster
        .add_workload_identity(&tenant, "ssc", "aio-ssc-sa")
        .await
        .unwrap();
    let vault = emulator.add_vault(&tenant, VAULT).await.unwrap();
    vault.grant(&ssc, Role::SecretsUser);
    let uploader = emulator
        .add_workload_identity(&tenant, "uploader", "ops", "uploader")
        .unwrap();
    vault.grant(&uploader, Role::SecretsOfficer);
    if enabled {
        let spc = SecretProviderClass::new(
            DEFAULT_SPC,
            SecretProviderClassSpec {
                provider: Some("azure".into()),
                parameters: BTreeMap::from([
                    ("keyvaultName".to_string(), VAULT.to_string()),
                    ("tenantId".to_string(), tenant.clone()),
                    ("clientId".to_string(), ssc.client_id.clone()),
                    ("usePodIdentity".to_string(), "false".to_string()),
                ]),
                secret_objects: None,
            },
        );
        Api::<SecretProviderClass>::namespaced(cluster.client(), &ns)
            .create(&PostParams::default(), &spc)
            .await
            .unwrap();
    }
    let target = Arc::new(KubernetesTarget::new(cluster.client(), &ns));
    let options = ControllerOptions {
        namespaces: vec![ns.clone()],
        poll_interval: Duration::from_secs(2),
        jitter: 0.0,
        authority_host: Some(emulator.authority_host()),
        client_options: emulator.client_options().unwrap(),
        verify_challenge_resource: false,
        vault_urls: BTreeMap::from([(VAULT.to_string(), vault.url().to_string())]),
        ..Default::default()
    };
    (cluster, vault, target, options, uploader)
}

/// The stores of the test's instance, uploading as the Secrets Officer `uploader`.
pub async fn stores(
    cluster: &TestCluster,
    vault: &Vault,
    uploader: &keyway_emulator::Identity,
    target: Arc<KubernetesTarget>,
) -> Stores {
    let config = StoreConfig::in_namespace(cluster.namespace());
    let instance = Instance::discover(target.as_ref(), &config).await.unwrap();
    Stores::new(
        config,
        instance,
        target,
        Arc::new(secrets_client(cluster, vault, uploader)),
    )
}

pub fn secrets_client(
    cluster: &TestCluster,
    vault: &Vault,
    uploader: &keyway_emulator::Identity,
) -> KeyVaultSecrets {
    let emulator = cluster.emulator();
    let credential = emulator
        .workload_credential(uploader, "ops", "uploader")
        .unwrap();
    let client = SecretClient::new(
        vault.url(),
        credential,
        Some(SecretClientOptions {
            client_options: emulator.client_options().unwrap(),
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )
    .unwrap();
    KeyVaultSecrets::new(client)
}

/// What a separate process (the CLI) needs to act as the uploader on `env`'s instance: a
/// kubeconfig, the emulator's CA and the uploader's token written in `dir`, and the
/// environment variables naming them and the vault.
pub fn process_environment(
    env: &Env,
    dir: &std::path::Path,
) -> Vec<(&'static str, std::ffi::OsString)> {
    let emulator = env.cluster.emulator();
    emulator.write_ca(&dir.join("ca.pem")).unwrap();
    env.cluster
        .write_kubeconfig(&dir.join("kubeconfig"))
        .unwrap();
    std::fs::write(
        dir.join("uploader.jwt"),
        emulator.mint_service_account_token(&keyway_emulator::ServiceAccountToken::new(
            "ops", "uploader",
        )),
    )
    .unwrap();
    vec![
        ("AZURE_CLIENT_ID", env.uploader.client_id.clone().into()),
        ("AZURE_TENANT_ID", env.uploader.tenant_id.clone().into()),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            dir.join("uploader.jwt").into(),
        ),
        ("AZURE_AUTHORITY_HOST", emulator.authority_host().into()),
        ("SSL_CERT_FILE", dir.join("ca.pem").into()),
        ("KEYWAY_VAULT_URL", env.vault.url().into()),
        ("KUBECONFIG", dir.join("kubeconfig").into()),
    ]
}

/// Adds the file `name` holding `der` to `store` with the default options and applies it.
pub async fn add_file(stores: &Stores, store: Store, name: &str, der: &[u8]) {
    let plan = stores
        .plan_add(
            store,
            &[InputFile::new(name, der.to_vec())],
            &AddOptions::default(),
        )
        .await
        .unwrap();
    stores.apply(&plan).await.unwrap();
}

/// A self-signed CA certificate named `name`, made now.
pub fn ca(name: &str) -> keyway_cert::testing::Issued {
    keyway_cert::testing::Issued::self_signed(&keyway_cert::testing::CertSpec {
        common_name: name.into(),
        is_ca: true,
        ..Default::default()
    })
}

/// A self-signed OPC UA server certificate named `name` (DNS `name.local`, URI
/// `urn:name:opcua`), made now.
pub fn server(name: &str) -> keyway_cert::testing::Issued {
    keyway_cert::testing::Issued::self_signed(&keyway_cert::testing::CertSpec {
        common_name: name.into(),
        san: vec![format!("{name}.local"), format!("urn:{name}:opcua")],
        ..Default::default()
    })
}

/// Key Vault SetSecret requests so far.
pub fn set_count(env: &Env) -> u64 {
    env.cluster
        .emulator()
        .counters()
        .count(Service::KeyVault, "SetSecret")
}

/// The connector's custom resources as they are now (name → resourceVersion and spec), to
/// prove a refusal changed nothing.
pub async fn cluster_state(target: &dyn StoreTarget) -> Vec<(String, String)> {
    let mut state = Vec::new();
    for c in target.provider_classes().await.unwrap() {
        state.push(resource_state("spc", &c.metadata, &c.spec));
    }
    for s in target.secret_syncs().await.unwrap() {
        state.push(resource_state("ss", &s.metadata, &s.spec));
    }
    state.sort();
    state
}

/// One resource's entry in [`cluster_state`]: `kind/name` → `resourceVersion:spec`.
fn resource_state(
    kind: &str,
    metadata: &kube::api::ObjectMeta,
    spec: &impl serde::Serialize,
) -> (String, String) {
    (
        format!("{kind}/{}", metadata.name.clone().unwrap_or_default()),
        format!(
            "{}:{}",
            metadata.resource_version.clone().unwrap_or_default(),
            serde_json::to_string(spec).unwrap()
        ),
    )
}

/// The SecretSync controller, running until stopped.
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

pub fn start_controller(env: &Env) -> Running {
    let controller = Controller::new(env.cluster.client(), env.controller_options.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        controller
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    Running { stop, task }
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
    }
}

/// Polls until a check holds (the wait is for an event; the limit only ends a hung test).
pub use keyway_emulator::testing::eventually;
