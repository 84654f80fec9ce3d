//! The CRDs keyway ships are the upstream projects' own (crates/keyway-sync/crds, embedded by
//! `keyway_sync::crds()`); deploy/crds and the Helm chart's crds/ are byte-for-byte copies. To
//! rewrite the copies: `KEYWAY_WRITE_CRDS=1 cargo test -p keyway-sync --test crds`.
//!
//! The upstream examples load into keyway's types, and every status the controller writes is
//! accepted by the cluster under the upstream schema (`reason` pattern, `message` length,
//! `conditions` count) — on the stand-in, which validates custom resources, and on the real
//! cluster `KEYWAY_TEST_KUBECONFIG` names.

use std::path::PathBuf;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use keyway_emulator::testing::TestCluster;
use keyway_sync::controller::status::{Reason, Verdict, next_status};
use keyway_sync::{SecretProviderClass, SecretSync, SecretSyncStatus};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

#[test]
fn committed_copies_equal_the_embedded_crds() {
    let deploy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let write = std::env::var_os("KEYWAY_WRITE_CRDS").is_some();
    for dir in [deploy.join("crds"), deploy.join("helm/keyway/crds")] {
        for (name, embedded) in keyway_sync::model::CRD_FILES {
            let path = dir.join(name);
            if write {
                std::fs::write(&path, embedded).unwrap();
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!("{}: {e}; rewrite with KEYWAY_WRITE_CRDS=1", path.display())
            });
            assert!(
                committed == embedded,
                "{} differs from crates/keyway-sync/crds/{name}: rewrite with KEYWAY_WRITE_CRDS=1 cargo test -p keyway-sync --test crds",
                path.display()
            );
        }
        // Nothing else: a stale generated file would be installed beside the upstream ones.
        let mut present: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        present.sort();
        let mut expected: Vec<String> = keyway_sync::model::CRD_FILES
            .iter()
            .map(|(name, _)| name.to_string())
            .collect();
        expected.sort();
        assert_eq!(present, expected, "{}", dir.display());
    }
}

#[test]
fn the_crds_are_upstream_serving_the_upstream_versions() {
    let crds = keyway_sync::crds();
    /// A version: name, served, storage.
    type Version = (String, bool, bool);
    let summary: Vec<(String, Vec<Version>)> = crds
        .iter()
        .map(|c| {
            (
                c.metadata.name.clone().unwrap(),
                c.spec
                    .versions
                    .iter()
                    .map(|v| (v.name.clone(), v.served, v.storage))
                    .collect(),
            )
        })
        .collect();
    let version = |name: &str, served, storage| (name.to_string(), served, storage);
    assert_eq!(
        summary,
        [
            (
                "secretsyncs.secret-sync.x-k8s.io".to_string(),
                vec![version("v1alpha1", true, true)]
            ),
            (
                "secretproviderclasses.secrets-store.csi.x-k8s.io".to_string(),
                vec![version("v1", true, true), version("v1alpha1", true, false)]
            ),
        ]
    );
    let secret_sync = &crds[0].spec.versions[0];
    assert!(
        secret_sync
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    // Every file keeps its origin: where it comes from, the commit and the licence.
    for (name, text) in keyway_sync::model::CRD_FILES {
        assert!(
            text.starts_with("# ") && text.contains("commit") && text.contains("Apache-2.0"),
            "{name} lost its origin header"
        );
    }
    // The Rust types name the same groups, versions and kinds.
    use kube::Resource;
    assert_eq!(
        (SecretSync::group(&()), SecretSync::version(&())),
        ("secret-sync.x-k8s.io".into(), "v1alpha1".into())
    );
    assert_eq!(
        (
            SecretProviderClass::group(&()),
            SecretProviderClass::version(&())
        ),
        ("secrets-store.csi.x-k8s.io".into(), "v1".into())
    );
}

#[test]
fn the_upstream_examples_load_into_keyways_types() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream");
    let text = std::fs::read_to_string(fixtures.join("sync-controller-secretsync.yaml")).unwrap();
    let sync: SecretSync = keyway_sync::yaml::from_str(&text).unwrap();
    assert_eq!(sync.spec.secret_provider_class_name, "e2e-providerspc");
    assert_eq!(sync.spec.secret_object.type_, "Opaque");
    assert_eq!(sync.spec.secret_object.data[0].source_path, "foo");
    assert_eq!(sync.spec.secret_object.data[0].target_key, "bar");
    let text = std::fs::read_to_string(fixtures.join("azure-provider-spc-certs.yaml")).unwrap();
    let spc: SecretProviderClass = keyway_sync::yaml::from_str(&text).unwrap();
    assert_eq!(spc.spec.provider.as_deref(), Some("azure"));
    assert_eq!(spc.spec.parameters["keyvaultName"], "kvname");
    assert_eq!(
        keyway_sync::parse_objects(&spc.spec.parameters["objects"], "spec.parameters.objects")
            .unwrap()
            .len(),
        5
    );
}

fn at(seconds: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
}

/// Every reason the controller reports, in both condition types, with a message over the
/// schema's 32768 characters, written through the status subresource: the cluster (stand-in or
/// real) validates it against the upstream schema and refuses what does not match.
#[tokio::test]
async fn every_status_the_controller_writes_satisfies_the_upstream_schema() {
    let cluster = TestCluster::start("crd-status").await.unwrap();
    cluster.install_crds(&keyway_sync::crds()).await.unwrap();
    let syncs: Api<SecretSync> = Api::namespaced(cluster.client(), cluster.namespace());
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/upstream/sync-controller-secretsync.yaml"),
    )
    .unwrap();
    let mut sync: SecretSync = keyway_sync::yaml::from_str(&text).unwrap();
    sync.metadata.namespace = None;
    let created = syncs.create(&PostParams::default(), &sync).await.unwrap();
    let name = created.metadata.name.clone().unwrap();
    let reasons = [
        Reason::CreateSucceeded,
        Reason::UpdateNoValueChangeSucceeded,
        Reason::UpdateValueChangeOrForceUpdateSucceeded,
        Reason::PartialSync,
        Reason::ProviderError,
        Reason::UserInputValidationFailed,
        Reason::ControllerSpcError,
        Reason::InvalidClusterSecretLabelError,
        Reason::InvalidClusterSecretAnnotationError,
        Reason::ControllerInternalError,
    ];
    let mut status: Option<SecretSyncStatus> = None;
    for (i, reason) in reasons.into_iter().enumerate() {
        let verdict = Verdict {
            reason,
            message: format!("{reason:?} — ünïcödé {}", "x".repeat(40_000)),
            written: true,
            sync_hash: reason.succeeded().then(|| format!("hash-{i}")),
        };
        let next = next_status(
            status.as_ref(),
            &verdict,
            i > 0,
            Some(1),
            at(1_800_000_000 + i as i64),
        );
        let body = serde_json::json!({
            "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
            "kind": "SecretSync",
            "metadata": {"name": name},
            "status": next,
        });
        let written = syncs
            .patch_status(
                &name,
                &PatchParams::apply("keyway-crd-test").force(),
                &Patch::Apply(&body),
            )
            .await
            .unwrap_or_else(|e| panic!("the status for {reason:?} was refused: {e}"));
        let conditions = written.status.clone().unwrap().conditions.unwrap();
        let condition = conditions
            .iter()
            .find(|c| c.reason == reason.as_str())
            .unwrap_or_else(|| panic!("{reason:?} not stored: {conditions:?}"));
        assert_eq!(condition.message.chars().count(), 32 * 1024);
        status = Some(next);
    }
    cluster.cleanup().await;
}
