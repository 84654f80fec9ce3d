//! Rendered manifests load back into our own types (round trip) with what was asked.

use k8s_openapi::api::core::v1::ServiceAccount;
use keyway_cluster::render::{
    CLIENT_ID_ANNOTATION, DaprComponent, ObjectSpec, SecretSyncRequest, secret_sync,
};
use keyway_sync::{SecretProviderClass, SecretSync, SyncSpec};

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

fn documents(yaml: &str) -> Vec<serde_json::Value> {
    keyway_sync::yaml::documents(yaml)
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn a_secret_sync_renders_and_loads_back() {
    let manifests = secret_sync(&request(
        &[
            "db-password",
            "opcua-cert:server.der:secret:hex",
            "name=signing,type=key",
        ],
        "Opaque",
    ))
    .unwrap();
    let yaml = manifests.to_yaml().unwrap();
    let docs = documents(&yaml);
    assert_eq!(docs.len(), 3, "{yaml}");
    let account: ServiceAccount = serde_json::from_value(docs[0].clone()).unwrap();
    assert_eq!(docs[0]["kind"], "ServiceAccount");
    assert_eq!(
        account.metadata.annotations.unwrap()[CLIENT_ID_ANNOTATION],
        "00000000-1111-2222-3333-444444444444"
    );
    let class: SecretProviderClass = serde_json::from_value(docs[1].clone()).unwrap();
    let spec = SyncSpec::from_provider_class(&class).unwrap();
    let outputs: Vec<&str> = spec.objects.iter().map(|o| o.output_name()).collect();
    assert_eq!(outputs, ["db-password", "server.der", "signing"]);
    assert_eq!(
        spec.client_id.as_deref(),
        Some("00000000-1111-2222-3333-444444444444")
    );
    let sync: SecretSync = serde_json::from_value(docs[2].clone()).unwrap();
    assert_eq!(sync.spec.service_account_name, "aio-ssc-sa");
    assert_eq!(sync.spec.secret_provider_class_name, "edge-vault");
    assert_eq!(target_keys(&sync), ["db-password", "server.der", "signing"]);
}

#[test]
fn tls_takes_one_certificate_and_bad_input_is_named() {
    let tls = secret_sync(&request(&["name=web-cert"], "kubernetes.io/tls")).unwrap();
    assert_eq!(target_keys(&tls.secret_sync), ["tls.crt", "tls.key"]);
    let two = secret_sync(&request(
        &["name=a,type=cert", "name=b,type=cert"],
        "kubernetes.io/tls",
    ))
    .unwrap_err();
    assert!(two.to_string().contains("exactly one certificate"), "{two}");
    let bad = ObjectSpec::parse("name=x,type=blob").unwrap_err();
    assert!(
        bad.to_string()
            .contains("\"blob\" is not secret, cert or key"),
        "{bad}"
    );
    let bad = ObjectSpec::parse("x:::gzip").unwrap_err();
    assert!(bad.to_string().contains("\"gzip\""), "{bad}");
    let duplicate = secret_sync(&request(&["a", "a"], "Opaque")).unwrap_err();
    assert!(duplicate.to_string().starts_with("objects"), "{duplicate}");
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
    let back: DaprComponent = keyway_sync::yaml::from_str(&yaml).unwrap();
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
    let bad = DaprComponent::azure_keyvault("x", None, "edge-vault", "c", None, Some("Mars"))
        .unwrap_err();
    assert!(bad.to_string().contains("\"Mars\""), "{bad}");
}

#[test]
fn object_parts_are_named_and_the_positional_form_only_when_unambiguous() {
    let named =
        ObjectSpec::parse("encoding=hex,name=opcua-cert,type=secret,alias=server.der").unwrap();
    let positional = ObjectSpec::parse("opcua-cert:server.der:secret:hex").unwrap();
    assert_eq!(named, positional);
    assert_eq!(named.object_alias.as_deref(), Some("server.der"));
    assert_eq!(named.object_encoding.as_deref(), Some("hex"));
    let cert = ObjectSpec::parse("name=opcua-cert,type=cert").unwrap();
    assert_eq!(
        (cert.object_type.as_str(), cert.object_alias),
        ("cert", None)
    );
    let bare = ObjectSpec::parse("db-password").unwrap();
    assert_eq!(
        (bare.object_name.as_str(), bare.object_type.as_str()),
        ("db-password", "secret")
    );
    // Empty positions of the four-part form take the defaults.
    let defaults = ObjectSpec::parse("signing::key:").unwrap();
    assert_eq!(
        (defaults.object_type.as_str(), defaults.object_alias),
        ("key", None)
    );

    // `opcua-cert:cert` once made `cert` the alias: refused, with the named form to write.
    let error = ObjectSpec::parse("opcua-cert:cert")
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("--object: \"opcua-cert:cert\": ambiguous")
            && error.contains("--object name=opcua-cert,type=cert"),
        "{error}"
    );
    let error = ObjectSpec::parse("opcua-cert:server.der:hex")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("name=opcua-cert,alias=server.der,encoding=hex"),
        "{error}"
    );
    for (bad, why) in [
        ("name=x,kind=cert", "unknown part \"kind\""),
        ("name=x,type=cert,type=key", "type= is given twice"),
        ("name=x,alias=", "alias= is empty"),
        ("alias=x", "name= is required"),
        ("name=x,cert", "\"cert\" is not key=value"),
        (
            "name=x,type=cert,encoding=hex",
            "encoding applies to type secret only",
        ),
        ("a:b:c:d:e", "ambiguous"),
        (":a:secret:hex", "name is empty"),
    ] {
        let error = ObjectSpec::parse(bad).unwrap_err().to_string();
        assert!(
            error.starts_with("--object: ") && error.contains(why),
            "{bad}: {error}"
        );
    }
}

#[test]
fn names_azure_and_kubernetes_refuse_are_refused() {
    let mut bad_vault = request(&["a"], "Opaque");
    bad_vault.keyvault = "edge_vault".into();
    let error = secret_sync(&bad_vault).unwrap_err().to_string();
    assert!(error.starts_with("keyvault: \"edge_vault\""), "{error}");
    let mut bad_namespace = request(&["a"], "Opaque");
    bad_namespace.namespace = "Azure_IoT".into();
    let error = secret_sync(&bad_namespace).unwrap_err().to_string();
    assert!(error.starts_with("namespace: \"Azure_IoT\""), "{error}");
    let error = DaprComponent::azure_keyvault("x", None, "edge_vault", "c", None, None)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("keyvault: "), "{error}");
    let error = DaprComponent::azure_keyvault("x", None, "edge-vault", " ", None, None)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("client_id: "), "{error}");
}

fn trust_request(
    items: Vec<keyway_cluster::render::StoredCertificate>,
) -> keyway_cluster::render::TrustListRequest {
    let base = request(&["unused"], "Opaque");
    keyway_cluster::render::TrustListRequest {
        keyvault: base.keyvault,
        tenant_id: base.tenant_id,
        client_id: base.client_id,
        namespace: base.namespace,
        service_account: base.service_account,
        items,
        provider_class_name: None,
        trust_list_name: None,
        issuer_list_name: None,
    }
}

fn target_keys(sync: &SecretSync) -> Vec<&str> {
    sync.spec
        .secret_object
        .data
        .iter()
        .map(|d| d.target_key.as_str())
        .collect()
}

#[test]
fn trust_lists_default_to_the_opc_ua_connector_names_and_a_crl_takes_its_ca_stem() {
    use keyway_cluster::render::{CertificateStore, StoredCertificate, trust_list};
    let trust = CertificateStore::TrustList;
    let issuer = CertificateStore::IssuerList;
    let items = vec![
        StoredCertificate::parse("--trust", "partner-server", false, trust).unwrap(),
        StoredCertificate::parse(
            "--trust",
            "name=peer-pem,encoding=utf-8,stem=peer",
            false,
            trust,
        )
        .unwrap(),
        StoredCertificate::parse(
            "--issuer",
            "name=contoso-ca-der,stem=contoso-ca",
            false,
            issuer,
        )
        .unwrap(),
        StoredCertificate::parse(
            "--crl",
            "name=contoso-ca-crl,encoding=base64,stem=contoso-ca",
            true,
            issuer,
        )
        .unwrap(),
    ];
    let manifests = trust_list(&trust_request(items.clone())).unwrap();
    assert_eq!(
        manifests.provider_class.metadata.name.as_deref(),
        Some("opc-ua-connector")
    );
    let [trust_sync, issuer_sync] = manifests.secret_syncs.as_slice() else {
        panic!("{:?}", manifests.secret_syncs)
    };
    assert_eq!(
        trust_sync.metadata.name.as_deref(),
        Some("aio-opc-ua-broker-trust-list")
    );
    assert_eq!(
        issuer_sync.metadata.name.as_deref(),
        Some("aio-opc-ua-broker-issuer-list")
    );
    for sync in [trust_sync, issuer_sync] {
        assert_eq!(sync.spec.secret_provider_class_name, "opc-ua-connector");
    }
    assert_eq!(target_keys(trust_sync), ["partner-server.der", "peer.crt"]);
    assert_eq!(
        target_keys(issuer_sync),
        ["contoso-ca.der", "contoso-ca.crl"]
    );
    // One class holds every object, so applying it keeps both lists whole.
    let spec = SyncSpec::from_provider_class(&manifests.provider_class).unwrap();
    let outputs: Vec<&str> = spec.objects.iter().map(|o| o.output_name()).collect();
    assert_eq!(
        outputs,
        [
            "partner-server.der",
            "peer.crt",
            "contoso-ca.der",
            "contoso-ca.crl"
        ]
    );
    let yaml = manifests.to_yaml().unwrap();
    let kinds: Vec<String> = documents(&yaml)
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "SecretProviderClass",
            "SecretSync",
            "SecretSync"
        ]
    );
    assert!(yaml.contains("objectEncoding: hex"), "{yaml}");

    // Only the lists that have items get a SecretSync.
    let only_trust = trust_list(&trust_request(items[..1].to_vec())).unwrap();
    assert_eq!(only_trust.secret_syncs.len(), 1);

    // A CRL without its CA, and two items that would be one file, are refused.
    let error = trust_list(&trust_request(vec![
        items[2].clone(),
        StoredCertificate::parse("--crl", "contoso-ca-crl", true, issuer).unwrap(),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with(
            "--crl: \"contoso-ca-crl\" (file contoso-ca-crl.crl) has no issuer certificate"
        ),
        "{error}"
    );
    let error = trust_list(&trust_request(vec![
        items[0].clone(),
        StoredCertificate::parse("--trust", "name=other,stem=partner-server", false, trust)
            .unwrap(),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("--trust: ") && error.contains("partner-server.der"),
        "{error}"
    );
    let error = trust_list(&trust_request(vec![])).unwrap_err().to_string();
    assert!(error.contains("at least one certificate"), "{error}");
    for (bad, why) in [
        ("x:gzip", "\"gzip\""),
        ("name=x,stem=../x", "stem"),
        ("name=x,file=y", "unknown part"),
        ("stem=x", "name= is required"),
    ] {
        let error = StoredCertificate::parse("--trust", bad, false, trust)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("--trust: ") && error.contains(why),
            "{bad}: {error}"
        );
    }
}

/// What is rendered passes the controller's mapping rule and the SecretSync CRD's pattern: an
/// alias with a '/' (a file in a subdirectory for the CSI driver) cannot be a SecretSync
/// sourcePath (a real API server refuses it), so it is refused naming the field and the fix;
/// an alias that cannot be a file name is refused too.
#[test]
fn rendered_target_keys_are_secret_keys() {
    let e = secret_sync(&request(&["name=db,alias=app/password"], "Opaque"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sourcePath") && e.contains("app/password"),
        "{e}"
    );
    let rendered = secret_sync(&request(&["name=db,alias=app-password"], "Opaque")).unwrap();
    assert_eq!(target_keys(&rendered.secret_sync), ["app-password"]);
    rendered.secret_sync.spec.mapping(None).unwrap();
    let e = secret_sync(&request(&["name=db,alias=../x"], "Opaque"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("objectAlias") || e.contains(".."), "{e}");
}

/// A tls Secret needs a private key: only a secret object (a certificate's secret, a PEM or
/// PFX) has one, so `type=cert` or `type=key` is refused instead of rendering a SecretSync the
/// controller would refuse on every sync.
#[test]
fn tls_secrets_take_a_secret_object_only() {
    for object in ["name=server,type=cert", "name=server,type=key"] {
        let e = secret_sync(&request(&[object], "kubernetes.io/tls"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no private key") && e.contains("type=secret"),
            "{e}"
        );
    }
    secret_sync(&request(&["name=server"], "kubernetes.io/tls")).unwrap();
}
