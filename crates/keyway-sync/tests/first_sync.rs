//! Nothing is published until something was fetched: on a first sync where every object fails,
//! no empty set reaches any target — no `..data` in a directory, no `data: {}` Secret — so
//! consumers wait for their secrets instead of starting without them. Objects that succeed are
//! published; failing ones keep their previous data.

use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use keyway_emulator::testing::TestCluster;
use keyway_sync::{
    DirectorySink, KeyVaultObject, KubernetesSecretSink, MemorySink, MemorySource, Outcome, Remap,
    SecretSync, SyncSpec, Syncer,
};
use kube::Api;
use kube::api::PostParams;

mod support;

struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("keyway-first-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Dir(dir)
    }

    /// Entries of the directory (`..data` and generations included).
    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn spec(names: &[&str]) -> SyncSpec {
    SyncSpec::new(
        "https://memory.invalid",
        names.iter().map(|n| KeyVaultObject::secret(*n)).collect(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_first_sync_where_every_object_fails_publishes_nothing() {
    let dir = Dir::new("dir");
    let source = Arc::new(MemorySource::new());
    let syncer = Syncer::new(
        spec(&["db", "api"]),
        source.clone(),
        Arc::new(DirectorySink::new(&dir.0).unwrap()),
    );
    let first = syncer.run_once().await;
    assert_eq!(first.failed(), 2);
    assert!(!first.written && first.sink_error.is_none(), "{first:?}");
    assert_eq!(
        dir.entries(),
        Vec::<String>::new(),
        "no ..data, no generation"
    );

    // The rule is the syncer's, for any sink: nothing reaches it.
    let memory = Arc::new(MemorySink::new());
    let report = Syncer::new(spec(&["db", "api"]), source.clone(), memory.clone())
        .run_once()
        .await;
    assert_eq!(report.failed(), 2);
    assert_eq!(memory.writes(), 0);
    assert!(memory.contents().is_none(), "an empty set was applied");

    // One object arrives: it is published alone; the other still fails.
    source.set("db", "s3cret", None, &[]);
    let second = syncer.run_once().await;
    assert!(second.written, "{second:?}");
    assert_eq!(std::fs::read_to_string(dir.0.join("db")).unwrap(), "s3cret");
    assert!(!dir.0.join("api").exists());
    let api = second.objects.iter().find(|o| o.name == "api").unwrap();
    assert_eq!(api.outcome, Outcome::Failed);

    // Both fail now: the published data stays as it was.
    source.set_enabled("db", false);
    let third = syncer.run_once().await;
    assert_eq!(third.failed(), 2);
    assert_eq!(std::fs::read_to_string(dir.0.join("db")).unwrap(), "s3cret");
}

/// Through a SecretSync mapping: the only object that succeeds is one the mapping does not
/// take, so the mapped set is empty and nothing reaches the directory.
#[tokio::test]
async fn a_mapping_with_nothing_to_map_publishes_nothing() {
    let dir = Dir::new("remap");
    let source = Arc::new(MemorySource::new());
    source.set("unmapped", "x", None, &[]);
    let remap = Remap::new(
        DirectorySink::new(&dir.0).unwrap(),
        [("db".to_string(), "password".to_string())],
    );
    let syncer = Syncer::new(spec(&["db", "unmapped"]), source.clone(), Arc::new(remap));
    let report = syncer.run_once().await;
    assert_eq!(report.failed(), 1);
    assert!(report.sink_error.is_none(), "{report:?}");
    assert_eq!(dir.entries(), Vec::<String>::new());

    source.set("db", "s3cret", None, &[]);
    assert!(syncer.run_once().await.all_synced());
    assert_eq!(
        std::fs::read_to_string(dir.0.join("password")).unwrap(),
        "s3cret"
    );
}

fn secret_sync(name: &str, service_account: &str, data: &[(&str, &str)]) -> SecretSync {
    support::secret_sync_of(name, "app", service_account, "Opaque", data, &[])
}

/// A SecretSync naming a service account that does not exist: every object fails (no token),
/// and no Secret is created — not one with `data: {}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_service_account_creates_no_empty_secret() {
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let cluster = TestCluster::start_with_crds("first-sync-ghost", &crds)
        .await
        .unwrap();
    let (kube, ns) = (cluster.client(), cluster.namespace());
    let (vault, source) =
        support::vault::federated_vault(&cluster, "ghost-vault", "no-such-account").await;
    vault.set_secret("db-password", "s3cret").unwrap();

    let created = Api::<SecretSync>::namespaced(kube.clone(), ns)
        .create(
            &PostParams::default(),
            &secret_sync("ghost", "no-such-account", &[("db-password", "password")]),
        )
        .await
        .unwrap();
    let sink = KubernetesSecretSink::for_secret_sync(kube.clone(), &created).unwrap();
    let spec = SyncSpec::new(vault.url(), vec![KeyVaultObject::secret("db-password")]).unwrap();
    let syncer = Syncer::new(
        spec.clone(),
        Arc::new(source),
        Arc::new(Remap::for_secret_sync(sink, &created, &spec).unwrap()),
    );
    let report = syncer.run_once().await;
    assert_eq!(report.failed(), 1, "{report:?}");
    assert!(!report.written && report.sink_error.is_none(), "{report:?}");
    let secret = Api::<Secret>::namespaced(kube.clone(), ns)
        .get_opt("ghost")
        .await
        .unwrap();
    assert!(
        secret.is_none(),
        "no Secret is created from nothing: {:?}",
        secret.map(|s| s.data)
    );
    cluster.cleanup().await;
}

/// A SecretSync whose targetKey is not a Secret key: `Remap::for_secret_sync` refuses it
/// naming the field, and `Remap::for_secret_sync` (the controller's) never writes its sink.
#[tokio::test]
async fn a_mapping_with_a_bad_target_key_never_reaches_the_sink() {
    let sync = secret_sync("app", "sa", &[("db", "password"), ("db", "../../etc/x")]);
    let spec = spec(&["db"]);
    let e = Remap::for_secret_sync(MemorySink::new(), &sync, &spec).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "spec.secretObject.data[1].targetKey: \"../../etc/x\" is not a Secret key"
        ),
        "{e}"
    );
    let unknown = secret_sync("app", "sa", &[("nope", "password")]);
    let e = Remap::for_secret_sync(MemorySink::new(), &unknown, &spec).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("spec.secretObject.data[0].sourcePath"),
        "{e}"
    );
}
