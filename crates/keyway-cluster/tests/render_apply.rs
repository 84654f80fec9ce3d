//! Rendered manifests are accepted by a Kubernetes API server: against the real cluster
//! `KEYWAY_TEST_KUBECONFIG` names, a server-side dry-run apply (nothing is stored); against the
//! stand-in, a real server-side apply into a throwaway namespace (the stand-in has no dry run).

use keyway_cluster::render::{ObjectSpec, SecretSyncRequest, secret_sync};
use keyway_emulator::testing::TestCluster;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};

#[tokio::test]
async fn rendered_manifests_pass_a_server_side_apply() {
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let cluster = TestCluster::start_with_crds("render-apply", &crds)
        .await
        .unwrap();
    let manifests = secret_sync(&SecretSyncRequest {
        keyvault: "edge-vault".into(),
        tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        client_id: "00000000-1111-2222-3333-444444444444".into(),
        namespace: cluster.namespace().into(),
        service_account: "aio-ssc-sa".into(),
        objects: vec![ObjectSpec::parse("opcua-cert:server.der:secret:hex").unwrap()],
        secret_type: "Opaque".into(),
        secret_name: None,
    })
    .unwrap();
    let yaml = manifests.to_yaml().unwrap();
    let client = cluster.client();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let mut params = PatchParams::apply("keyway-render-test").force();
    if cluster.is_real() {
        params = params.dry_run();
    }
    for document in keyway_sync::yaml::documents(&yaml).unwrap() {
        let object: DynamicObject = serde_json::from_value(document).unwrap();
        let types = object.types.clone().unwrap();
        let (group, version) = types
            .api_version
            .split_once('/')
            .unwrap_or(("", types.api_version.as_str()));
        let (resource, capabilities) = discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .find(|(r, _)| r.group == group && r.version == version && r.kind == types.kind)
            .unwrap_or_else(|| panic!("the server does not serve {}", types.kind));
        assert_eq!(capabilities.scope, Scope::Namespaced);
        let api: kube::Api<DynamicObject> =
            kube::Api::namespaced_with(client.clone(), cluster.namespace(), &resource);
        let name = object.metadata.name.clone().unwrap();
        let applied = api
            .patch(&name, &params, &Patch::Apply(&object))
            .await
            .unwrap_or_else(|e| panic!("{} {name} refused: {e}", types.kind));
        assert_eq!(applied.metadata.name.as_deref(), Some(name.as_str()));
    }
    cluster.cleanup().await;
}
