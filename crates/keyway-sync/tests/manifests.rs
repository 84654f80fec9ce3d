//! Manifests written for the CSI Azure provider and the Secret Store extension load unchanged.

use keyway_sync::{ObjectFormat, ObjectType, SecretProviderClass, SecretSync, SyncSpec};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/upstream/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn the_csi_providers_certificate_example_loads() {
    let spc: SecretProviderClass =
        keyway_sync::yaml::from_str(&fixture("azure-provider-spc-certs.yaml")).unwrap();
    let spec = SyncSpec::from_provider_class(&spc).unwrap();
    assert_eq!(spec.vault_url, "https://kvname.vault.azure.net");
    assert_eq!(spec.tenant_id.as_deref(), Some("tid"));
    let kinds: Vec<(&str, ObjectType, Option<ObjectFormat>)> = spec
        .objects
        .iter()
        .map(|o| (o.output_name(), o.object_type, o.format))
        .collect();
    assert_eq!(
        kinds,
        [
            ("cert1", ObjectType::Cert, None),
            ("cert1-pub-key", ObjectType::Key, None),
            ("cert1-secret", ObjectType::Secret, None),
            (
                "cert2-secret-pfx",
                ObjectType::Secret,
                Some(ObjectFormat::Pfx)
            ),
            (
                "cert2-secret-pfx-binary",
                ObjectType::Secret,
                Some(ObjectFormat::Pfx)
            ),
        ]
    );
    assert_eq!(
        spec.objects[4].encoding,
        Some(keyway_cert::Encoding::Base64)
    );
}

#[test]
fn the_sync_controllers_secretsync_example_loads() {
    let ss: SecretSync =
        keyway_sync::yaml::from_str(&fixture("sync-controller-secretsync.yaml")).unwrap();
    assert_eq!(ss.spec.secret_provider_class_name, "e2e-providerspc");
    assert_eq!(ss.spec.service_account_name, "default");
    assert_eq!(ss.spec.secret_object.type_, "Opaque");
    assert_eq!(ss.spec.secret_object.data[0].source_path, "foo");
    assert_eq!(ss.spec.secret_object.data[0].target_key, "bar");
}

#[test]
fn secret_objects_are_accepted_and_provider_rules_apply() {
    let yaml = r#"
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: x}
spec:
  provider: azure
  secretObjects:
    - secretName: foo
      type: Opaque
      data: [{objectName: a, key: a}]
  parameters:
    keyvaultName: "kv-1"
    usePodIdentity: "true"
    useVMManagedIdentity: "true"
    objects: |
      array:
        - |
          objectName: a
          objectType: secret
"#;
    let spc: SecretProviderClass = keyway_sync::yaml::from_str(yaml).unwrap();
    let err = SyncSpec::from_provider_class(&spc).unwrap_err().to_string();
    assert!(err.contains("at most one of"), "{err}");
    // An object list that names nothing is refused, naming the field.
    let mut empty = spc.clone();
    empty.spec.parameters.remove("usePodIdentity");
    empty
        .spec
        .parameters
        .insert("objects".into(), "array: []\n".into());
    let err = SyncSpec::from_provider_class(&empty)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("spec.parameters.objects: names no object"),
        "{err}"
    );
    let mut ok = spc.clone();
    ok.spec.parameters.remove("usePodIdentity");
    ok.spec
        .parameters
        .insert("cloudName".into(), "AzureChinaCloud".into());
    assert_eq!(
        SyncSpec::from_provider_class(&ok).unwrap().vault_url,
        "https://kv-1.vault.azure.cn"
    );
    ok.spec.parameters.insert("keyvaultName".into(), "k".into());
    assert!(
        SyncSpec::from_provider_class(&ok)
            .unwrap_err()
            .to_string()
            .starts_with("spec.parameters.keyvaultName")
    );
}
