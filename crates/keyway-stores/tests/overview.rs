//! Every SecretSync of the namespace at a glance (what the `keyway ui` secrets page shows),
//! against the Kubernetes stand-in synced by keyway's SecretSync controller: conditions, last
//! successful sync, the Secret's key names and sizes — never a value.

use keyway_cert::testing::{CertSpec, Issued};
use keyway_stores::Store;

mod support;
use support::{add_file, env, eventually, start_controller};

/// Every SecretSync with its conditions, last successful sync and the Secret's key names and
/// sizes — never a value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_secret_sync_at_a_glance() {
    let env = env("ui-overview").await;
    assert!(env.stores.sync_overview().await.unwrap().is_empty());
    let a = Issued::self_signed(&CertSpec {
        common_name: "plc-a".into(),
        ..Default::default()
    });
    add_file(&env.stores, Store::Trust, "plc-a.der", a.der()).await;
    let first = env.stores.sync_overview().await.unwrap();
    assert_eq!(first.len(), 1);
    let trust = &first[0];
    assert_eq!(trust.store, Some(Store::Trust));
    assert_eq!(
        trust.secret_provider_class,
        env.stores.config().provider_class
    );
    assert_eq!(trust.secret_type, env.stores.config().secret_type);
    assert_eq!(trust.mappings[0].target_key, "plc-a.der");
    assert_eq!(trust.mappings[0].source_path, "plc-a-der");
    assert_eq!(trust.secret_keys, None, "no Secret before the first sync");
    assert_eq!(trust.last_successful_sync, None);

    let running = start_controller(&env);
    let synced = eventually("the trust list synced", || async {
        let overview = env.stores.sync_overview().await.unwrap().remove(0);
        (overview.secret_keys.is_some() && overview.last_successful_sync.is_some())
            .then_some(overview)
    })
    .await;
    running.stop().await;
    let sizes = synced.secret_keys.as_ref().unwrap();
    assert_eq!(sizes.len(), 1);
    assert_eq!(sizes["plc-a.der"], a.der().len());
    assert!(!synced.conditions.is_empty());
    assert!(synced.conditions.iter().any(|c| c.status == "True"));
    let json = serde_json::to_string(&synced).unwrap();
    assert!(json.contains("\"plc-a.der\":") && json.contains("last_transition_time"));
    let shown = format!("{synced:?}{json}");
    assert!(
        !shown.contains(
            &keyway_cert::encode_for_upload(a.der(), keyway_cert::Encoding::Hex).unwrap()
        )
    );
    env.cluster.cleanup().await;
}
