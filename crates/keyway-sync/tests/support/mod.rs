//! What the controller tests share: a cluster (the stand-in, or `KEYWAY_TEST_KUBECONFIG`'s)
//! with the CRDs, an identity, a vault, a SecretProviderClass and a SecretSync, and polling.
#![allow(dead_code)]

pub mod helm;
pub mod vault;

use std::collections::BTreeMap;
use std::time::Duration;

use keyway_emulator::Role;
use keyway_emulator::testing::TestCluster;
use keyway_sync::controller::ControllerOptions;
use keyway_sync::{
    SecretObject, SecretObjectData, SecretProviderClass, SecretProviderClassSpec, SecretSync,
    SecretSyncSpec,
};
use kube::Api;
use kube::api::PostParams;

pub fn provider_class(tenant: &str, client_id: &str, objects: &[&str]) -> SecretProviderClass {
    let listed: String = objects
        .iter()
        .map(|o| format!("    - |\n      objectName: {o}\n      objectType: secret\n"))
        .collect();
    SecretProviderClass::new(
        "vault",
        SecretProviderClassSpec {
            provider: Some("azure".into()),
            parameters: BTreeMap::from([
                ("keyvaultName".to_string(), "ctl-vault".to_string()),
                ("tenantID".to_string(), tenant.to_string()),
                ("clientID".to_string(), client_id.to_string()),
                ("objects".to_string(), format!("array:\n{listed}")),
            ]),
            secret_objects: None,
        },
    )
}

pub fn secret_sync(keys: &[(&str, &str)]) -> SecretSync {
    secret_sync_of("app", "vault", "sync", "Opaque", keys, &[("app", "edge")])
}

/// The SecretSync `name`: `class`'s objects, read as `service_account`, into a Secret of
/// `secret_type` with `labels` (none when empty); `data` maps each object to its key.
pub fn secret_sync_of(
    name: &str,
    class: &str,
    service_account: &str,
    secret_type: &str,
    data: &[(&str, &str)],
    labels: &[(&str, &str)],
) -> SecretSync {
    SecretSync::new(
        name,
        SecretSyncSpec {
            secret_provider_class_name: class.into(),
            service_account_name: service_account.into(),
            secret_object: SecretObject {
                type_: secret_type.into(),
                data: data
                    .iter()
                    .map(|(source, target)| SecretObjectData {
                        source_path: source.to_string(),
                        target_key: target.to_string(),
                    })
                    .collect(),
                labels: (!labels.is_empty()).then(|| {
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                }),
                annotations: None,
            },
            force_synchronization: None,
            secret_sync_controller_name: None,
        },
    )
}

/// Polls until a check holds; the limit only ends a hung test.
pub use keyway_emulator::testing::eventually;

/// Waits until `events` lists an Event with `reason` (as the controller records a failure).
pub async fn event_with_reason(events: &Api<k8s_openapi::api::events::v1::Event>, reason: &str) {
    eventually(&format!("a {reason} Event"), || async {
        let listed = events
            .list(&kube::api::ListParams::default())
            .await
            .unwrap();
        listed
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some(reason))
            .then_some(())
    })
    .await;
}

pub fn condition(sync: &SecretSync, kind: &str) -> Option<(String, String)> {
    sync.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// The `Create` condition's status, reason and message.
pub fn create_condition(sync: &SecretSync) -> Option<(String, String, String)> {
    sync.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Create")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// A cluster with the CRDs, an identity trusted for `sync`, a vault with two secrets, a
/// SecretProviderClass `vault` and a SecretSync `app`, and controller options for them.
pub struct Fixture {
    pub cluster: TestCluster,
    pub tenant: String,
    pub app: keyway_emulator::Identity,
    pub vault: keyway_emulator::Vault,
    pub created: SecretSync,
    pub options: ControllerOptions,
}

pub async fn fixture(test: &str) -> Fixture {
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let cluster = TestCluster::start_with_crds(test, &crds).await.unwrap();
    let (emulator, client, ns) = (cluster.emulator(), cluster.client(), cluster.namespace());
    let (app, vault) = cluster
        .workload_vault("ctl-vault", "sync", Role::SecretsUser)
        .await
        .unwrap();
    let tenant = app.tenant_id.clone();
    vault.set_secret("db-password", "first").unwrap();
    vault.set_secret("api-key", "key-1").unwrap();
    Api::<SecretProviderClass>::namespaced(client.clone(), ns)
        .create(
            &PostParams::default(),
            &provider_class(&tenant, &app.client_id, &["db-password"]),
        )
        .await
        .unwrap();
    let created = Api::<SecretSync>::namespaced(client.clone(), ns)
        .create(
            &PostParams::default(),
            &secret_sync(&[("db-password", "password")]),
        )
        .await
        .unwrap();
    let options = ControllerOptions {
        namespaces: vec![ns.to_string()],
        poll_interval: Duration::from_secs(2),
        jitter: 0.0,
        authority_host: Some(emulator.authority_host()),
        client_options: emulator.client_options().unwrap(),
        verify_challenge_resource: false,
        vault_urls: BTreeMap::from([("ctl-vault".to_string(), vault.url().to_string())]),
        ..Default::default()
    };
    Fixture {
        cluster,
        tenant,
        app,
        vault,
        created,
        options,
    }
}

/// A controller running in its own task (as leader of `election` when given) until stopped.
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    /// The controller's metrics.
    pub metrics: std::sync::Arc<keyway_sync::controller::ControllerMetrics>,
}

/// Starts `controller`.
pub fn spawn(
    controller: keyway_sync::controller::Controller,
    election: Option<keyway_sync::controller::LeaderElection>,
) -> Running {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics = controller.metrics();
    let shutdown = async {
        let _ = stopped.await;
    };
    let task = tokio::spawn(async move {
        match election {
            Some(election) => controller.run_as_leader(&election, shutdown).await,
            None => controller.run(shutdown).await,
        }
    });
    Running {
        stop,
        task,
        metrics,
    }
}

impl Running {
    /// Asks for shutdown and waits (at most 30 s) for the controller to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the controller stops on shutdown")
            .unwrap();
    }

    /// Kills the task without a shutdown: a hung or crashed replica.
    pub fn abort(self) {
        self.task.abort();
    }
}
