//! `keyway sync --secret-sync` refuses every case of keyway-sync's one table of invalid
//! SecretSyncs and SecretProviderClasses (`keyway-sync/tests/fixtures/invalid_inputs.json`, which
//! the controller's test runs through the controller too) with the table's field path, exit 2,
//! and nothing created: with `--to-kubernetes` (against the stand-in, or the real cluster
//! `KEYWAY_TEST_KUBECONFIG` names) neither the SecretSync nor a Secret, with `--to-dir` no
//! directory (every case but a Kubernetes Secret's own rules, which files do not have).

#[path = "../../keyway-sync/tests/invalid_inputs_table/mod.rs"]
mod invalid_inputs_table;

use std::process::Command;

use keyway_emulator::testing::TestCluster;

#[tokio::test(flavor = "multi_thread")]
async fn keyway_sync_refuses_every_case_of_the_table_with_its_field_path() {
    let cases = invalid_inputs_table::cases();
    assert!(cases.len() >= invalid_inputs_table::AT_LEAST, "{cases:?}");
    let cluster = TestCluster::start("invalid-inputs-cli").await.unwrap();
    let dir = std::env::temp_dir().join(format!("keyway-invalid-inputs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    cluster.write_kubeconfig(&kubeconfig).unwrap();
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    cluster.install_crds_from(&crds).await.unwrap();
    let namespace = cluster.namespace().to_string();
    let syncs = kube::Api::<keyway_sync::SecretSync>::namespaced(cluster.client(), &namespace);
    let secrets =
        kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(cluster.client(), &namespace);

    for case in &cases {
        // JSON is YAML: the manifests as a user hands them over.
        let spc = dir.join(format!("{}-spc.yaml", case.name));
        let ss = dir.join(format!("{}-ss.yaml", case.name));
        let class = case.provider_class("00000000-0000-0000-0000-000000000001", "client");
        std::fs::write(&spc, serde_json::to_string(&class).unwrap()).unwrap();
        std::fs::write(
            &ss,
            serde_json::to_string(&case.secret_sync("reader")).unwrap(),
        )
        .unwrap();
        let target = dir.join(format!("{}-out", case.name));
        let kubernetes: [&str; 3] = ["--to-kubernetes", "--namespace", &namespace];
        let directory: [&str; 2] = ["--to-dir", target.to_str().unwrap()];
        let mut runs: Vec<&[&str]> = vec![&kubernetes];
        if !case.secret_only {
            runs.push(&directory);
        }
        for args in runs {
            let out = Command::new(env!("CARGO_BIN_EXE_keyway"))
                .env("KUBECONFIG", &kubeconfig)
                .env_remove("KEYWAY_VAULT_URL")
                .arg("sync")
                .arg("--provider-class")
                .arg(&spc)
                .arg("--secret-sync")
                .arg(&ss)
                .args(args)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{} {args:?}: {stderr}{}",
                case.name,
                String::from_utf8_lossy(&out.stdout)
            );
            assert!(
                stderr.lines().any(|line| case.named_in(line)),
                "{} {args:?}: does not name {}: {stderr}",
                case.name,
                case.field
            );
        }
        assert!(!target.exists(), "{}: the directory was created", case.name);
        assert!(
            syncs.get_opt(&case.name).await.unwrap().is_none(),
            "{}: the SecretSync was created in the cluster before it was refused",
            case.name
        );
        assert!(
            secrets.get_opt(&case.name).await.unwrap().is_none(),
            "{}: a Secret was written",
            case.name
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    cluster.cleanup().await;
}
