//! Rendered manifests load back into our own types (round trip) with what was asked.

use k8s_openapi::api::core::v1::ServiceAccount;
use keyway_cluster::render::{
    CLIENT_ID_ANNOTATION, DaprComponent, ObjectSpec, SecretSyncRequest, secret_sync,
};
use keyway_sync::{SecretProviderClass, SecretSync, SyncSpec};
use serde::Deserialize;

fn request(objects: &[&str], secret_type: &str) -> SecretSyncRequest {
    SecretSyncRequest {
        keyvault: "edge-vault".into(),
        tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        client_id: "00000000-1111-2222-3333-444444444444".into(),
        namespace: "azure-iot-operations".into(),
        service_account: "aio-ssc-sa".into(),
        objects: objects
            .iter()
            .map(|o| ObjectSpec::parse(o).unwrap())
            .collect(),
        secret_type: secret_type.into(),
        secret_name: None,
    }
}

fn documents(yaml: &str) -> Vec<serde_yaml_ng::Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| serde_yaml_ng::Value::deserialize(d).unwrap())
        .collect()
}

#[test]
fn a_secret_sync_renders_and_loads_back() {
    let manifests = secret_sync(&request(
        &[
            "db-password",
            "opcua-cert:server.der:secret:hex",
            "signing::key",
        ],
        "Opaque",
    ))
    .unwrap();
    let yaml = manifests.to_yaml().unwrap();
    let docs = documents(&yaml);
    assert_eq!(docs.len(), 3, "{yaml}");
    let account: ServiceAccount = serde_yaml_ng::from_value(docs[0].clone()).unwrap();
    assert_eq!(docs[0]["kind"], "ServiceAccount");
    assert_eq!(
        account.metadata.annotations.unwrap()[CLIENT_ID_ANNOTATION],
        "00000000-1111-2222-3333-444444444444"
    );
    let class: SecretProviderClass = serde_yaml_ng::from_value(docs[1].clone()).unwrap();
    let spec = SyncSpec::from_provider_class(&class).unwrap();
    let outputs: Vec<&str> = spec.objects.iter().map(|o| o.output_name()).collect();
    assert_eq!(outputs, ["db-password", "server.der", "signing"]);
    assert_eq!(
        spec.client_id.as_deref(),
        Some("00000000-1111-2222-3333-444444444444")
    );
    let sync: SecretSync = serde_yaml_ng::from_value(docs[2].clone()).unwrap();
    assert_eq!(sync.spec.service_account_name, "aio-ssc-sa");
    assert_eq!(sync.spec.secret_provider_class_name, "edge-vault");
    let keys: Vec<&str> = sync
        .spec
        .secret_object
        .data
        .iter()
        .map(|d| d.target_key.as_str())
        .collect();
    assert_eq!(keys, ["db-password", "server.der", "signing"]);
}

#[test]
fn tls_takes_one_certificate_and_bad_input_is_named() {
    let tls = secret_sync(&request(&["web-cert::cert"], "kubernetes.io/tls")).unwrap();
    let keys: Vec<&str> = tls
        .secret_sync
        .spec
        .secret_object
        .data
        .iter()
        .map(|d| d.target_key.as_str())
        .collect();
    assert_eq!(keys, ["tls.crt", "tls.key"]);
    let two = secret_sync(&request(&["a::cert", "b::cert"], "kubernetes.io/tls")).unwrap_err();
    assert!(two.to_string().contains("exactly one certificate"), "{two}");
    let bad = ObjectSpec::parse("x::blob").unwrap_err();
    assert!(
        bad.to_string()
            .contains("\"blob\" is not secret, cert or key"),
        "{bad}"
    );
    let bad = ObjectSpec::parse("x:::gzip").unwrap_err();
    assert!(bad.to_string().contains("\"gzip\""), "{bad}");
    let duplicate = secret_sync(&request(&["a", "a"], "Opaque")).unwrap_err();
    assert!(duplicate.to_string().starts_with("--object"), "{duplicate}");
}

#[test]
fn a_dapr_component_renders_and_loads_back() {
    let component = DaprComponent::azure_keyvault(
        "azurekeyvault",
        Some("apps"),
        "edge-vault",
        "00000000-1111-2222-3333-444444444444",
        Some("72f988bf-86f1-41af-91ab-2d7cd011db47"),
        Some("AzureChinaCloud"),
    )
    .unwrap();
    let yaml = component.to_yaml().unwrap();
    let back: DaprComponent = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(back, component);
    assert_eq!(back.spec.type_, "secretstores.azure.keyvault");
    let names: Vec<&str> = back.spec.metadata.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "vaultName",
            "azureClientId",
            "azureTenantId",
            "azureEnvironment"
        ]
    );
    assert!(!yaml.contains("spnClientId"));
    let bad = DaprComponent::azure_keyvault("x", None, "v", "c", None, Some("Mars")).unwrap_err();
    assert!(bad.to_string().contains("\"Mars\""), "{bad}");
}

#[test]
fn a_trust_list_gets_one_key_per_certificate() {
    use keyway_cluster::render::{CertificateStore, StoredCertificate, trust_list};
    let items = vec![
        StoredCertificate::parse("contoso-ca", false).unwrap(),
        StoredCertificate::parse("partner:utf-8", false).unwrap(),
        StoredCertificate::parse("contoso-ca-crl:base64", true).unwrap(),
    ];
    let manifests = trust_list(
        &request(&["unused"], "Opaque"),
        &items,
        CertificateStore::IssuerList,
    )
    .unwrap();
    assert_eq!(
        manifests.secret_sync.metadata.name.as_deref(),
        Some("issuer-list")
    );
    let keys: Vec<&str> = manifests
        .secret_sync
        .spec
        .secret_object
        .data
        .iter()
        .map(|d| d.target_key.as_str())
        .collect();
    assert_eq!(
        keys,
        ["contoso-ca.der", "partner.crt", "contoso-ca-crl.crl"]
    );
    let spec = SyncSpec::from_provider_class(&manifests.provider_class).unwrap();
    assert_eq!(spec.objects.len(), 3);
    let yaml = manifests.to_yaml().unwrap();
    assert!(yaml.contains("objectEncoding: hex"), "{yaml}");
    let bad = StoredCertificate::parse("x:gzip", false).unwrap_err();
    assert!(bad.to_string().starts_with("--cert"), "{bad}");
}
