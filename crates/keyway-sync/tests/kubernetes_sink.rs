//! The whole chain of the seed procedure, offline: TokenRequest for the SecretSync's service
//! account → Entra checks the federated credential → Key Vault → a Kubernetes Secret owned by
//! the SecretSync — through unchanged kube and Azure SDK clients against the emulators, or
//! against the real cluster `KEYWAY_TEST_KUBECONFIG` names (CRDs applied from deploy/crds).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use keyway_emulator::testing::TestCluster;
use keyway_sync::{
    KeyVaultObject, KubernetesSecretSink, MANAGED_LABEL, Outcome, Remap, SecretSync, SyncSpec,
    Syncer,
};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, ResourceExt};

mod support;

/// The cluster (stand-in, or `KEYWAY_TEST_KUBECONFIG`'s) with the CRDs from deploy/crds.
async fn cluster(test: &str) -> TestCluster {
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    TestCluster::start_with_crds(test, &crds).await.unwrap()
}

fn secret_sync(name: &str, secret_type: &str, data: &[(&str, &str)]) -> SecretSync {
    support::secret_sync_of(name, "app", "sync", secret_type, data, &[("app", "demo")])
}

/// `sink` refuses to write `set`, saying `expected`.
async fn refused(sink: &KubernetesSecretSink, set: &keyway_sync::FileSet, expected: &str) {
    let err = keyway_sync::SecretSink::apply(sink, set).await.unwrap_err();
    assert!(err.to_string().contains(expected), "{err}");
}

/// [`secret_sync`], created in the cluster.
async fn create(
    syncs: &Api<SecretSync>,
    name: &str,
    secret_type: &str,
    data: &[(&str, &str)],
) -> SecretSync {
    syncs
        .create(
            &PostParams::default(),
            &secret_sync(name, secret_type, data),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_request_to_entra_to_key_vault_to_a_kubernetes_secret() {
    let cluster = cluster("chain").await;
    let (kube, ns) = (cluster.client(), cluster.namespace());
    let syncs: Api<SecretSync> = Api::namespaced(kube.clone(), ns);
    let created = create(&syncs, "app", "Opaque", &[("db-password", "password")]).await;

    let (vault, source) = support::vault::federated_vault(&cluster, "chain-vault", "sync").await;
    vault.set_secret("db-password", "s3cret").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let sink = KubernetesSecretSink::for_secret_sync(kube.clone(), &created).unwrap();
    let mapping = BTreeMap::from([("db-password".to_string(), "password".to_string())]);
    let syncer = Syncer::new(
        SyncSpec::new(vault.url(), vec![KeyVaultObject::secret("db-password")]).unwrap(),
        Arc::new(source),
        Arc::new(Remap::new(sink, mapping)),
    );
    let first = syncer.run_once().await;
    assert!(first.all_synced() && first.written, "{first:?}");

    let secrets: Api<Secret> = Api::namespaced(kube.clone(), ns);
    let written = secrets.get("app").await.unwrap();
    assert_eq!(written.data.as_ref().unwrap()["password"].0, b"s3cret");
    assert!(written.labels().contains_key(MANAGED_LABEL));
    assert_eq!(written.labels()["app"], "demo");
    assert_eq!(written.owner_references()[0].uid, created.uid().unwrap());
    assert_eq!(
        written.metadata.managed_fields.as_ref().unwrap()[0]
            .manager
            .as_deref(),
        Some("keyway")
    );

    // Nothing changed: nothing written. A failure keeps the key's value.
    assert!(!syncer.run_once().await.written);
    vault.set_enabled("db-password", false).unwrap();
    let failed = syncer.run_once().await;
    assert_eq!(failed.objects[0].outcome, Outcome::Failed);
    assert_eq!(
        secrets.get("app").await.unwrap().data.unwrap()["password"].0,
        b"s3cret"
    );

    // Deleting the SecretSync garbage-collects its Secret (in the background on a real
    // cluster: wait for it).
    syncs.delete("app", &DeleteParams::default()).await.unwrap();
    let mut collected = false;
    for _ in 0..60 {
        if secrets.get_opt("app").await.unwrap().is_none() {
            collected = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(collected, "the Secret outlived its SecretSync by 30 s");
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_takes_over_foreign_secrets_and_checks_tls_keys() {
    let cluster = cluster("foreign").await;
    let (kube, ns) = (cluster.client(), cluster.namespace());
    let syncs: Api<SecretSync> = Api::namespaced(kube.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(kube.clone(), ns);
    let mut foreign = Secret::default();
    foreign.metadata.name = Some("taken".into());
    secrets
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();

    let taken = create(&syncs, "taken", "Opaque", &[("a", "a")]).await;
    let file = |v: &str| keyway_sync::SyncedFile::new(v);
    let set = keyway_sync::FileSet {
        files: BTreeMap::from([("a".to_string(), file("1"))]),
    };
    let sink = KubernetesSecretSink::for_secret_sync(kube.clone(), &taken).unwrap();
    refused(&sink, &set, "keyway never takes over a Secret").await;
    let adopted = KubernetesSecretSink::for_secret_sync(kube.clone(), &taken)
        .unwrap()
        .adopt(true);
    keyway_sync::SecretSink::apply(&adopted, &set)
        .await
        .unwrap();

    let tls = create(
        &syncs,
        "tls",
        "kubernetes.io/tls",
        &[("a", "tls.crt"), ("a", "tls.key")],
    )
    .await;
    let sink = KubernetesSecretSink::for_secret_sync(kube.clone(), &tls).unwrap();
    let wrong = keyway_sync::FileSet {
        files: BTreeMap::from([("ca.crt".to_string(), file("x"))]),
    };
    refused(&sink, &wrong, "only tls.crt and tls.key").await;

    let mut reserved = secret_sync("reserved", "Opaque", &[("a", "a")]);
    reserved.spec.secret_object.labels = Some(BTreeMap::from([(
        format!("{MANAGED_LABEL}/x"),
        "y".to_string(),
    )]));
    // The upstream CRD's own rule refuses such a SecretSync on a real API server; the sink
    // refuses it too, for a stand-in or a cluster without that rule (built in memory, as the
    // API server would have returned it).
    reserved.metadata.namespace = Some(ns.to_string());
    reserved.metadata.uid = Some("00000000-0000-0000-0000-000000000001".into());
    if cluster.is_real() {
        let refused = syncs
            .create(&PostParams::default(), &reserved)
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("secrets-store.sync.x-k8s.io"),
            "{refused}"
        );
    }
    let err = KubernetesSecretSink::for_secret_sync(kube, &reserved).unwrap_err();
    assert!(
        err.to_string().starts_with("spec.secretObject.labels"),
        "{err}"
    );
    cluster.cleanup().await;
}
