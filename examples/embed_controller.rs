//! Embed the SecretSync controller in your own binary: `Controller::new` with a `kube::Client`
//! and options, then `run` until your shutdown signal. It turns every SecretSync (with the
//! SecretProviderClass it names) into a Kubernetes Secret, as `keyway controller` does, and keeps
//! it in step with the vault.
//!
//! Run: `cargo run --example embed_controller`
//!
//! It starts the emulated Entra ID, OIDC issuer, Key Vault and Kubernetes API server in-process,
//! so it runs offline. In a cluster, the client comes from `kube::Client::try_default()`, the
//! options' defaults fit Azure (the vault URL from `keyvaultName`, the authority from
//! `cloudName`), and `run_as_leader` with a `LeaderElection` lets replicas stand by.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use keyway::prelude::*;
use kube::Api;
use kube::api::PostParams;

const NAMESPACE: &str = "default";

/// Runs the controller against the emulated cluster until the Secret appears, then stops it.
#[tokio::main]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The cloud and the cluster, emulated: the CRDs installed (deploy/crds in a real
    //    cluster), a workload identity that trusts the service account `default/app`, and a
    //    vault that identity may read.
    let emulator = Emulator::start().await?;
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&emulator.kubeconfig())?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in keyway::sync::crds() {
        crds.create(&PostParams::default(), &crd).await?;
    }
    let tenant = emulator.add_tenant(None);
    let identity = emulator.add_workload_identity(&tenant, "app", NAMESPACE, "app")?;
    let vault = emulator.add_vault(&tenant, "app-vault").await?;
    vault.grant(&identity, Role::SecretsUser);
    vault.set_secret("db-password", "correct horse battery staple")?;

    // 2. What a team applies: a service account, a SecretProviderClass and a SecretSync.
    let mut account = ServiceAccount::default();
    account.metadata.name = Some("app".into());
    Api::<ServiceAccount>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &account)
        .await?;
    let spc: SecretProviderClass =
        keyway::sync::yaml::from_str(&provider_class(&tenant, &identity.client_id))?;
    Api::<SecretProviderClass>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &spc)
        .await?;
    let sync: SecretSync = keyway::sync::yaml::from_str(SECRET_SYNC)?;
    Api::<SecretSync>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &sync)
        .await?;

    // 3. Your binary: the controller, running until you tell it to stop.
    let controller = Controller::new(
        client.clone(),
        ControllerOptions {
            namespaces: vec![NAMESPACE.into()],
            // The emulator's Entra ID and vault, on loopback: where to find them, and their CA.
            authority_host: Some(emulator.authority_host()),
            client_options: emulator.client_options()?,
            verify_challenge_resource: false,
            vault_urls: BTreeMap::from([("app-vault".to_string(), vault.url().to_string())]),
            ..Default::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        controller
            .run(async {
                let _ = stopped.await;
            })
            .await;
    });

    // 4. The Secret appears, owned by the SecretSync.
    let secrets: Api<Secret> = Api::namespaced(client, NAMESPACE);
    let secret = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            match secrets.get_opt("app").await {
                Ok(Some(secret)) => return Ok(secret),
                Ok(None) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(error) => return Err(error),
            }
        }
    })
    .await
    .map_err(|_| "no Secret after 2 minutes: is the SecretSync's status saying why?")??;
    for (key, value) in secret.data.unwrap_or_default() {
        // Never print a secret: its size proves it arrived.
        println!("Secret {NAMESPACE}/app: {key}, {} bytes", value.0.len());
    }

    // 5. Shutdown: in-flight reconciles finish, then `run` returns.
    let _ = stop.send(());
    running.await?;
    emulator.stop();
    Ok(())
}

/// A SecretProviderClass of one secret, read with the identity `client_id`.
fn provider_class(tenant: &str, client_id: &str) -> String {
    format!(
        r#"apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: app-vault
spec:
  provider: azure
  parameters:
    keyvaultName: app-vault
    tenantID: {tenant}
    clientID: {client_id}
    objects: |
      array:
        - |
          objectName: db-password
          objectType: secret
"#
    )
}

/// A SecretSync: the Secret `app`, its key `password` from the object `db-password`, read as
/// the service account `app`.
const SECRET_SYNC: &str = r#"apiVersion: secret-sync.x-k8s.io/v1alpha1
kind: SecretSync
metadata:
  name: app
spec:
  secretProviderClassName: app-vault
  serviceAccountName: app
  secretObject:
    type: Opaque
    data:
      - sourcePath: db-password
        targetKey: password
"#;
