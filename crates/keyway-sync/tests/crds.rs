//! deploy/crds (and the Helm chart's crds/) hold exactly the CRDs the Rust types generate. To
//! regenerate after changing a type: `KEYWAY_WRITE_CRDS=1 cargo test -p keyway-sync --test crds`.

use std::path::PathBuf;

#[test]
fn committed_crds_equal_the_generated_ones() {
    let deploy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let write = std::env::var_os("KEYWAY_WRITE_CRDS").is_some();
    for (dir, crd) in [deploy.join("crds"), deploy.join("helm/keyway/crds")]
        .into_iter()
        .flat_map(|dir| {
            keyway_sync::crds()
                .into_iter()
                .map(move |crd| (dir.clone(), crd))
        })
    {
        let name = format!("{}.yaml", crd.metadata.name.clone().unwrap());
        let generated = format!(
            "# Generated from the keyway-sync Rust types; do not edit.\n# Regenerate: KEYWAY_WRITE_CRDS=1 cargo test -p keyway-sync --test crds\n{}",
            serde_yaml_ng::to_string(&crd).unwrap()
        );
        let path = dir.join(&name);
        if write {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; regenerate with KEYWAY_WRITE_CRDS=1",
                path.display()
            )
        });
        assert_eq!(
            committed, generated,
            "{name} is stale: regenerate with KEYWAY_WRITE_CRDS=1 cargo test -p keyway-sync --test crds"
        );
    }
}

#[test]
fn the_crds_name_the_upstream_groups_and_serve_status() {
    let crds = keyway_sync::crds();
    let names: Vec<String> = crds
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "secretsyncs.secret-sync.x-k8s.io",
            "secretproviderclasses.secrets-store.csi.x-k8s.io"
        ]
    );
    let secret_sync = &crds[0].spec.versions[0];
    assert_eq!(secret_sync.name, "v1alpha1");
    assert!(
        secret_sync
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
}
