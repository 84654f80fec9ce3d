//! The certificate stores end to end against the emulated Key Vault (official SDK) and the
//! Kubernetes stand-in (or `KEYWAY_TEST_KUBECONFIG`'s cluster), synced by keyway's SecretSync
//! controller, with certificates made at test time.

use k8s_openapi::api::core::v1::Secret;
use keyway_cert::testing::{CertSpec, Issued};
use keyway_cert::time::{Duration, OffsetDateTime};
use keyway_stores::{
    AddOptions, ChangeAction, InputFile, RemoveOptions, SecretAction, Store, StoreError,
    StoreListing, SyncState,
};
use kube::Api;

mod support;
use keyway_stores::StoreTarget;
use support::{
    Env, add_file, ca, cluster_state, env, eventually, server, set_count, start_controller,
};

fn crl_of(ca: &Issued) -> Vec<u8> {
    ca.crl(
        &[&[7]],
        OffsetDateTime::now_utc() - Duration::hours(1),
        Duration::days(30),
    )
}

async fn listed(env: &Env, store: Store) -> StoreListing {
    env.stores.list(Some(store), None).await.unwrap().remove(0)
}

/// Waits until every entry of `store` is synced, and returns the listing.
async fn synced(env: &Env, store: Store, keys: &[&str]) -> StoreListing {
    eventually(&format!("the {store} synced"), || async {
        let listing = listed(env, store).await;
        let all = listing.entries.len() == keys.len()
            && keys.iter().all(|k| {
                listing
                    .entries
                    .iter()
                    .any(|e| e.target_key == *k && e.sync == SyncState::Synced)
            });
        all.then_some(listing)
    })
    .await
}

async fn secret_keys(env: &Env, name: &str) -> Option<Vec<String>> {
    let api: Api<Secret> = Api::namespaced(env.cluster.client(), env.cluster.namespace());
    api.get_opt(name)
        .await
        .unwrap()
        .map(|s| s.data.unwrap_or_default().into_keys().collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_list_add_sync_list_readd_and_remove() {
    let env = env("stores-trust").await;
    let a = server("plc-a");
    let b = server("plc-b");
    let files = [
        InputFile::new("plc-a.der", a.der().to_vec()),
        // Upper-case extension, PEM, an underscore: all accepted, the name mapped.
        InputFile::new("plc_b.PEM", b.pem().into_bytes()),
    ];
    let plan = env
        .stores
        .plan_add(Store::Trust, &files, &AddOptions::default())
        .await
        .unwrap();
    assert!(!plan.is_refused(), "{plan}");
    let text = plan.to_string();
    let a_sha1 = keyway_cert::Certificate::from_der(a.der())
        .unwrap()
        .details()
        .sha1
        .clone();
    assert!(text.contains(&a_sha1) && text.contains("sha256:"), "{text}");
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["files"][1]["secret_name"], "plc-b-PEM");
    assert_eq!(json["provider_class"]["action"], "create");
    assert!(
        !json.to_string().contains(&hex_of(a.der())),
        "no value in the JSON"
    );
    let before = set_count(&env);
    let applied = env.stores.apply(&plan).await.unwrap();
    assert_eq!(applied.secrets_written.len(), 2);
    assert_eq!(set_count(&env), before + 2);
    // Stored as az keyvault secret set --encoding hex stores it.
    assert_eq!(
        env.vault.secret_value("plc-a-der").unwrap(),
        hex_of(a.der())
    );

    let running = start_controller(&env);
    let listing = synced(&env, Store::Trust, &["plc-a.der", "plc_b.PEM"]).await;
    let entry = &listing.entries[0];
    assert_eq!(entry.secret_name, "plc-a-der");
    assert!(entry.version.is_some());
    let cert = entry.certificate.as_ref().unwrap();
    assert_eq!(cert.sha1, a_sha1);
    assert!(cert.days_left > 300);
    assert!(
        !serde_json::to_string(&listing)
            .unwrap()
            .contains(&hex_of(a.der()))
    );

    // Re-adding the same file: no new version, nothing changed.
    let again = env
        .stores
        .plan_add(Store::Trust, &files[..1], &AddOptions::default())
        .await
        .unwrap();
    assert_eq!(again.secrets[0].action, SecretAction::Unchanged, "{again}");
    assert!(again.is_noop(), "{again}");
    let before = set_count(&env);
    env.stores.apply(&again).await.unwrap();
    assert_eq!(set_count(&env), before, "same bytes: no new version");

    // Removal by target key: the key leaves the Secret, the object the SecretProviderClass;
    // the Key Vault secret stays (not asked).
    let removal = env
        .stores
        .remove(Store::Trust, &["plc-a.der"], &RemoveOptions::default())
        .await
        .unwrap();
    assert_eq!(
        removal.provider_class.removed,
        vec!["plc-a-der".to_string()]
    );
    assert_eq!(removal.secret_sync.action, ChangeAction::Update);
    eventually("the key removed from the Secret", || async {
        let keys = secret_keys(&env, "aio-opc-ua-broker-trust-list").await?;
        (keys == vec!["plc_b.PEM".to_string()]).then_some(())
    })
    .await;
    assert!(env.vault.secret_value("plc-a-der").is_some());
    // Removal by secret name of the last entry deletes the SecretSync.
    let removal = env
        .stores
        .remove(Store::Trust, &["plc-b-PEM"], &RemoveOptions::default())
        .await
        .unwrap();
    assert_eq!(removal.secret_sync.action, ChangeAction::Delete);
    assert!(!listed(&env, Store::Trust).await.exists);
    // An unknown name changes nothing.
    let e = env
        .stores
        .remove(Store::Trust, &["nope.der"], &RemoveOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e}");
    running.stop().await;
    env.cluster.cleanup().await;
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_list_takes_cas_and_crls_verified_by_signature() {
    let env = env("stores-issuer").await;
    let contoso = ca("Contoso CA");
    let other = ca("Other CA");
    let state = cluster_state(env.target.as_ref()).await;
    let sets = set_count(&env);

    // A CRL named like the CA but signed by another CA: refused, nothing written.
    let forged = [
        InputFile::new("contoso.crt", contoso.pem().into_bytes()),
        InputFile::new("contoso.crl", crl_of(&other)),
    ];
    let plan = env
        .stores
        .plan_add(Store::Issuer, &forged, &AddOptions::default())
        .await
        .unwrap();
    assert!(plan.is_refused());
    let refusals = plan.all_refusals().join("\n");
    assert!(
        refusals.contains("contoso.crl: is not signed by any CA"),
        "{refusals}"
    );
    let e = env.stores.apply(&plan).await.unwrap_err();
    assert!(matches!(e, StoreError::Refused { .. }) && e.exit_code() == 1);
    assert_eq!(set_count(&env), sets);
    assert_eq!(cluster_state(env.target.as_ref()).await, state);

    // A leaf (CA:FALSE) is not a CA; neither is a certificate without basicConstraints (the
    // az extension crashed on those).
    let leaf = server("plc");
    let bare = {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["bare.local".to_string()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    };
    for (file, expected) in [
        (
            InputFile::new("plc.der", leaf.der().to_vec()),
            "is not a CA (basicConstraints CA:FALSE)",
        ),
        (
            InputFile::new("bare.der", bare),
            "has no basicConstraints extension",
        ),
    ] {
        let plan = env
            .stores
            .plan_add(Store::Issuer, &[file], &AddOptions::default())
            .await
            .unwrap();
        assert!(plan.all_refusals()[0].contains(expected), "{plan}");
    }
    assert_eq!(set_count(&env), sets);
    assert_eq!(cluster_state(env.target.as_ref()).await, state);

    // The CA and its own CRL: accepted, the CRL's signer named.
    let good = [
        InputFile::new("contoso.der", contoso.der().to_vec()),
        InputFile::new("contoso.crl", crl_of(&contoso)),
    ];
    let plan = env
        .stores
        .plan_add(Store::Issuer, &good, &AddOptions::default())
        .await
        .unwrap();
    assert!(!plan.is_refused(), "{plan}");
    assert_eq!(
        plan.files[1].crl.as_ref().unwrap().signed_by.as_deref(),
        Some("contoso.der")
    );
    env.stores.apply(&plan).await.unwrap();
    // A later CRL is verified against the CA already listed (read back from Key Vault).
    let later = env
        .stores
        .plan_add(
            Store::Issuer,
            &[InputFile::new("contoso-2.crl", crl_of(&contoso))],
            &AddOptions::default(),
        )
        .await
        .unwrap();
    assert!(!later.is_refused(), "{later}");
    let running = start_controller(&env);
    synced(&env, Store::Issuer, &["contoso.der", "contoso.crl"]).await;

    // Removing the CA alone would leave its CRL behind: refused, naming it.
    let state = cluster_state(env.target.as_ref()).await;
    let e = env
        .stores
        .remove(Store::Issuer, &["contoso.der"], &RemoveOptions::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("contoso.crl is the CRL of contoso.der"),
        "{e}"
    );
    assert_eq!(cluster_state(env.target.as_ref()).await, state);
    let removal = env
        .stores
        .remove(
            Store::Issuer,
            &["contoso.der"],
            &RemoveOptions {
                with_crl: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(removal.removed.len(), 2);
    assert_eq!(removal.secret_sync.action, ChangeAction::Delete);
    running.stop().await;
    env.cluster.cleanup().await;
}

/// A self-signed X.509 **v1** certificate named `name`, valid from a day ago for a year, made
/// now (rcgen writes v3 only): a TBSCertificate without the version field (v1 is its default)
/// and without extensions, DER-encoded here and signed with an rcgen ECDSA P-256 key.
fn v1_self_signed(name: &str) -> Vec<u8> {
    use rcgen::{PublicKeyData as _, SigningKey as _};
    /// One DER value: tag, definite length, content.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }
    fn utc_time(at: OffsetDateTime) -> Vec<u8> {
        let format = keyway_cert::time::macros::format_description!(
            "[year repr:last_two][month][day][hour][minute][second]Z"
        );
        tlv(0x17, at.format(format).unwrap().as_bytes())
    }
    // ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters.
    let algorithm = tlv(
        0x30,
        &tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
    );
    // CN (2.5.4.3) = name, as UTF8String.
    let cn = [tlv(0x06, &[0x55, 0x04, 0x03]), tlv(0x0c, name.as_bytes())].concat();
    let dn = tlv(0x30, &tlv(0x31, &tlv(0x30, &cn)));
    let now = OffsetDateTime::now_utc();
    let validity = tlv(
        0x30,
        &[
            utc_time(now - Duration::days(1)),
            utc_time(now + Duration::days(365)),
        ]
        .concat(),
    );
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let tbs = tlv(
        0x30,
        &[
            tlv(0x02, &[0x01, 0x17]), // serialNumber; no [0] version: v1
            algorithm.clone(),
            dn.clone(),
            validity,
            dn,
            key.subject_public_key_info(),
        ]
        .concat(),
    );
    let signature = key.sign(&tbs).unwrap();
    let bits = [&[0u8][..], &signature].concat();
    tlv(0x30, &[tbs, algorithm, tlv(0x03, &bits)].concat())
}

/// A v1 CA certificate cannot say it is a CA (no extensions): the issuer list refuses it with
/// that explanation, and the refusal writes nothing — no SetSecret, no cluster change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_certificate_is_refused_by_the_issuer_list_with_the_reason() {
    let env = env("stores-issuer-v1").await;
    let v1 = v1_self_signed("Legacy Root CA");
    // It is a well-formed, currently valid, self-signed v1 certificate.
    let cert = keyway_cert::Certificate::from_der(&v1).unwrap();
    assert_eq!(
        cert.x509().unwrap().version(),
        x509_parser::x509::X509Version::V1
    );
    let sets = set_count(&env);
    let state = cluster_state(env.target.as_ref()).await;
    for file in [
        InputFile::new("legacy-root.der", v1.clone()),
        InputFile::new(
            "legacy-root.crt",
            pem::encode(&pem::Pem::new("CERTIFICATE", v1.clone())).into_bytes(),
        ),
    ] {
        let plan = env
            .stores
            .plan_add(Store::Issuer, &[file], &AddOptions::default())
            .await
            .unwrap();
        assert!(plan.is_refused(), "{plan}");
        let refusals = plan.all_refusals().join("\n");
        assert!(
            refusals.contains("is an X.509 v1 certificate")
                && refusals.contains("cannot say it is a CA")
                && refusals.contains("reissue it as v3 with basicConstraints CA:TRUE"),
            "{refusals}"
        );
        assert!(
            plan.to_string().contains("nothing will be written"),
            "{plan}"
        );
        let e = env.stores.apply(&plan).await.unwrap_err();
        assert!(
            matches!(e, StoreError::Refused { .. }) && e.exit_code() == 1,
            "{e}"
        );
        assert_eq!(set_count(&env), sets, "no SetSecret");
        assert_eq!(cluster_state(env.target.as_ref()).await, state);
    }
    // The trust list takes the same certificate (a v1 server certificate is common there).
    let plan = env
        .stores
        .plan_add(
            Store::Trust,
            &[InputFile::new("legacy-root.der", v1)],
            &AddOptions::default(),
        )
        .await
        .unwrap();
    assert!(!plan.is_refused(), "{plan}");
    env.cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_pair_checked_then_synced() {
    let env = env("stores-client").await;
    let issuer = ca("Fabrikam CA");
    let spec = CertSpec {
        common_name: "opcua-connector".into(),
        san: vec![
            "urn:fabrikam:opcua:connector".into(),
            "connector.local".into(),
        ],
        ..Default::default()
    };
    let client = issuer.issue(&spec);
    let files = [
        InputFile::new("client.der", client.der().to_vec()),
        InputFile::new("client.pem", client.key_pem().as_bytes().to_vec()),
    ];
    let plan = env
        .stores
        .plan_add(Store::Client, &files, &AddOptions::default())
        .await
        .unwrap();
    assert!(!plan.is_refused(), "{plan}");
    let settings = plan.connector_settings.clone().unwrap();
    assert_eq!(settings.subject_name, "opcua-connector");
    assert_eq!(settings.application_uri, "urn:fabrikam:opcua:connector");
    assert_eq!(
        settings.application_cert,
        "aio-opc-ua-broker-client-certificate"
    );
    assert!(
        settings
            .az_command()
            .contains("securityPki.applicationUri=urn:fabrikam")
    );
    assert!(
        plan.files[0]
            .findings
            .iter()
            .any(|f| f.code == "issuer_not_self"),
        "{plan}"
    );
    assert!(!plan.to_string().contains("PRIVATE KEY"));
    env.stores.apply(&plan).await.unwrap();
    let running = start_controller(&env);
    let listing = synced(&env, Store::Client, &["client.der", "client.pem"]).await;
    assert_eq!(
        listing.entries[1].kind,
        Some(keyway_stores::FileKind::PrivateKey)
    );

    // Another key, or an expected URI that differs: refused before any write.
    let stranger = server("stranger");
    let sets = set_count(&env);
    let state = cluster_state(env.target.as_ref()).await;
    for (files, options, expected) in [
        (
            vec![
                InputFile::new("next.der", client.der().to_vec()),
                InputFile::new("next.pem", stranger.key_pem().as_bytes().to_vec()),
            ],
            AddOptions::default(),
            "is not the private key of next.der",
        ),
        (
            files.to_vec(),
            AddOptions {
                application_uri: Some("urn:other".into()),
                ..Default::default()
            },
            "not the application URI",
        ),
        (
            vec![
                InputFile::new("a.der", client.der().to_vec()),
                InputFile::new("b.pem", client.key_pem().as_bytes().to_vec()),
            ],
            AddOptions::default(),
            "same file stem",
        ),
    ] {
        let plan = env
            .stores
            .plan_add(Store::Client, &files, &options)
            .await
            .unwrap();
        let refusals = plan.all_refusals().join("\n");
        assert!(refusals.contains(expected), "{refusals}");
        assert!(env.stores.apply(&plan).await.is_err());
    }
    assert_eq!(set_count(&env), sets);
    assert_eq!(cluster_state(env.target.as_ref()).await, state);

    // A new client certificate replaces the whole mapping, and the replaced objects leave the
    // SecretProviderClass.
    let renewed = issuer.issue(&spec);
    let files = [
        InputFile::new("client-2026.der", renewed.der().to_vec()),
        InputFile::new("client-2026.pem", renewed.key_pem().as_bytes().to_vec()),
    ];
    let plan = env
        .stores
        .plan_add(Store::Client, &files, &AddOptions::default())
        .await
        .unwrap();
    assert!(!plan.is_refused(), "{plan}");
    assert_eq!(
        plan.provider_class.removed,
        ["client-der", "client-pem"],
        "{plan}"
    );
    assert_eq!(plan.secret_sync.removed.len(), 2, "{plan}");
    env.stores.apply(&plan).await.unwrap();
    synced(&env, Store::Client, &["client-2026.der", "client-2026.pem"]).await;

    // Either half of the pair, or its stem, removes both, and the plan says so.
    let dry = RemoveOptions {
        dry_run: true,
        ..Default::default()
    };
    for name in ["client-2026.der", "client-2026.pem", "client-2026"] {
        let preview = env
            .stores
            .remove(Store::Client, &[name], &dry)
            .await
            .unwrap();
        let mut keys: Vec<&str> = preview.removed.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            ["client-2026.der", "client-2026.pem"],
            "{name}: {preview}"
        );
        // A half named says why the other half goes too.
        assert_eq!(
            preview.to_string().contains("removed together"),
            name != "client-2026",
            "{name}: {preview}"
        );
    }
    let done = env
        .stores
        .remove(
            Store::Client,
            &["client-2026.der"],
            &RemoveOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(done.removed.len(), 2, "{done}");
    assert!(
        Api::<keyway_sync::SecretSync>::namespaced(env.cluster.client(), env.cluster.namespace())
            .get_opt("aio-opc-ua-broker-client-certificate")
            .await
            .unwrap()
            .is_none()
    );
    running.stop().await;
    env.cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_provider_class_is_named_by_field() {
    let env = env("stores-hostile").await;
    let classes: Api<keyway_sync::SecretProviderClass> =
        Api::namespaced(env.cluster.client(), env.cluster.namespace());
    let mut spc = keyway_sync::SecretProviderClass::new(
        "opc-ua-connector",
        keyway_sync::SecretProviderClassSpec {
            provider: Some("azure".into()),
            parameters: [
                ("keyvaultName".to_string(), support::VAULT.to_string()),
                (
                    "objects".to_string(),
                    "array:\n  - |\n    objectName: a\n    objectType: Secret\n".to_string(),
                ),
            ]
            .into(),
            secret_objects: None,
        },
    );
    spc.metadata.namespace = Some(env.cluster.namespace().to_string());
    classes
        .create(&kube::api::PostParams::default(), &spc)
        .await
        .unwrap();
    let a = server("a");
    let e = env
        .stores
        .plan_add(
            Store::Trust,
            &[InputFile::new("a.der", a.der().to_vec())],
            &AddOptions::default(),
        )
        .await
        .unwrap_err();
    match &e {
        StoreError::ClusterData { field, reason, .. } => {
            assert_eq!(field, "spec.parameters.objects[0].objectType", "{e}");
            assert!(reason.contains("write secret"), "{e}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(e.exit_code(), 2);
    env.cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_mapped_by_two_stores_survives_removal_from_one() {
    let env = env("stores-shared").await;
    let shared = ca("Shared CA");
    let file = InputFile::new("shared.der", shared.der().to_vec());
    for store in [Store::Trust, Store::Issuer] {
        let plan = env
            .stores
            .plan_add(store, std::slice::from_ref(&file), &AddOptions::default())
            .await
            .unwrap();
        env.stores.apply(&plan).await.unwrap();
    }
    let running = start_controller(&env);
    synced(&env, Store::Issuer, &["shared.der"]).await;
    let include = RemoveOptions {
        include_secrets: true,
        ..Default::default()
    };
    let removal = env
        .stores
        .remove(Store::Trust, &["shared.der"], &include)
        .await
        .unwrap();
    assert_eq!(removal.provider_class.action, ChangeAction::Unchanged);
    assert!(removal.secrets_purged.is_empty());
    assert!(env.vault.secret_value("shared-der").is_some());
    // The issuer list still syncs it.
    eventually("the trust list's Secret collected", || async {
        secret_keys(&env, "aio-opc-ua-broker-trust-list")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    let listing = synced(&env, Store::Issuer, &["shared.der"]).await;
    assert_eq!(listing.entries[0].sync, SyncState::Synced);
    // Removed from the last store, with include_secrets: deleted and purged.
    let removal = env
        .stores
        .remove(Store::Issuer, &["shared.der"], &include)
        .await
        .unwrap();
    assert_eq!(removal.secrets_purged, vec!["shared-der".to_string()]);
    assert!(env.vault.secret_value("shared-der").is_none());
    assert!(!env.vault.secret_names().contains(&"shared-der".to_string()));
    running.stop().await;
    env.cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_writes_nothing() {
    let env = env("stores-refusals").await;
    let now = OffsetDateTime::now_utc();
    let expired = Issued::self_signed(&CertSpec {
        common_name: "old".into(),
        not_before: now - Duration::days(400),
        not_after: now - Duration::days(2),
        ..Default::default()
    });
    let soon = Issued::self_signed(&CertSpec {
        common_name: "soon".into(),
        not_after: now + Duration::days(10),
        ..Default::default()
    });
    let a = server("a");
    let b = server("b");
    // Something already in Key Vault under the name a file maps to.
    env.vault.set_secret("taken-der", "00ff").unwrap();
    let two = format!("{}{}", a.pem(), b.pem());
    let key_in_pem = format!("{}{}", a.pem(), a.key_pem().as_str());
    let cases: Vec<(Store, Vec<InputFile>, &str)> = vec![
        (
            Store::Trust,
            vec![InputFile::new("old.der", expired.der().to_vec())],
            "expired on",
        ),
        (
            Store::Trust,
            vec![InputFile::new("a.txt", a.der().to_vec())],
            "takes .der, .crt, .pem",
        ),
        (
            Store::Trust,
            vec![InputFile::new("two.crt", two.into_bytes())],
            "holds 2 certificates",
        ),
        (
            Store::Trust,
            vec![InputFile::new("a.crt", a.der().to_vec())],
            "is not PEM text",
        ),
        (
            Store::Trust,
            vec![InputFile::new("a.der", a.pem().into_bytes())],
            "holds PEM text",
        ),
        (
            Store::Trust,
            vec![InputFile::new("k.pem", key_in_pem.into_bytes())],
            "holds a private key",
        ),
        (
            Store::Trust,
            vec![InputFile::new("taken.der", a.der().to_vec())],
            "already holds other bytes",
        ),
        (
            Store::Trust,
            vec![InputFile::new("a.der", a.der().to_vec()).with_secret_name("bad.name")],
            "secret name",
        ),
        (
            Store::Trust,
            vec![
                InputFile::new("a.der", a.der().to_vec()),
                InputFile::new("a.DER", b.der().to_vec()),
            ],
            "given twice",
        ),
        (
            Store::Issuer,
            vec![InputFile::new("c.crl", crl_of(&ca("X")))],
            "is not signed by any CA",
        ),
        (
            Store::Issuer,
            vec![InputFile::new(
                "late.crl",
                ca("Late").crl(&[], now - Duration::days(40), Duration::days(30)),
            )],
            "nextUpdate",
        ),
        (
            Store::Client,
            vec![InputFile::new("a.der", a.der().to_vec())],
            "takes two files",
        ),
        (
            Store::Trust,
            vec![InputFile::new("x_y.der", a.der().to_vec())],
            "cannot be a SecretSync targetKey",
        ),
    ];
    let sets = set_count(&env);
    let state = cluster_state(env.target.as_ref()).await;
    for (store, files, expected) in cases {
        let plan = env
            .stores
            .plan_add(store, &files, &AddOptions::default())
            .await
            .unwrap();
        let refusals = plan.all_refusals().join("\n");
        assert!(refusals.contains(expected), "{expected}: {refusals}");
        assert!(plan.to_string().contains("nothing will be written"));
        let e = env.stores.apply(&plan).await.unwrap_err();
        assert!(matches!(e, StoreError::Refused { .. }), "{e}");
        assert_eq!(set_count(&env), sets, "{expected}: no SetSecret");
        assert_eq!(
            cluster_state(env.target.as_ref()).await,
            state,
            "{expected}"
        );
    }

    // Allowed: an expired certificate with allow_expired (a warning), one expiring soon (a
    // warning), and another value with overwrite (a new version).
    let plan = env
        .stores
        .plan_add(
            Store::Trust,
            &[
                InputFile::new("old.der", expired.der().to_vec()),
                InputFile::new("soon.der", soon.der().to_vec()),
                InputFile::new("taken.der", a.der().to_vec()),
            ],
            &AddOptions {
                allow_expired: true,
                overwrite_secret: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!plan.is_refused(), "{plan}");
    assert_eq!(plan.files[0].findings[0].code, "expired");
    assert_eq!(plan.files[1].findings[0].code, "expires_soon");
    assert_eq!(plan.secrets[2].action, SecretAction::NewVersion);
    env.stores.apply(&plan).await.unwrap();
    assert_eq!(set_count(&env), sets + 3);
    env.cluster.cleanup().await;
}

/// What a user sees for files that are not what they should be says what was found: a DER
/// key given as the client's PEM key is DER (with the command that converts it), an unreadable
/// file has no content type, and dates are RFC 3339 as `certs list` prints them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_files_and_dates_are_said_as_found() {
    let env = env("stores-wording").await;
    let now = OffsetDateTime::now_utc();
    let rfc3339 = |t: OffsetDateTime| {
        t.format(&keyway_cert::time::format_description::well_known::Rfc3339)
            .unwrap()
    };

    // The client's key as DER (PKCS#8) in the .pem file.
    let connector = server("connector");
    let plan = env
        .stores
        .plan_add(
            Store::Client,
            &[
                InputFile::new("connector.der", connector.der().to_vec()),
                InputFile::new("connector.pem", connector.key_pkcs8().to_vec()),
            ],
            &AddOptions::default(),
        )
        .await
        .unwrap();
    let refusals = plan.all_refusals().join("\n");
    assert!(
        refusals.contains(
            "connector.pem: holds DER (binary), not PEM text: the private key is expected as a \
             PEM key"
        ) && refusals.contains(
            "`openssl pkey -inform der -in connector.pem -out connector.pem.new && mv \
             connector.pem.new connector.pem`"
        ),
        "{refusals}"
    );
    assert!(!refusals.contains("armour"), "{refusals}");
    // The client's key as DER named .der (`--private-key-file connector-key.der`): said to be
    // a DER key that must be PEM .pem, with the command; no parser dump.
    let plan = env
        .stores
        .plan_add(
            Store::Client,
            &[
                InputFile::new("connector.der", connector.der().to_vec()),
                InputFile::new("connector-key.der", connector.key_pkcs8().to_vec()),
            ],
            &AddOptions::default(),
        )
        .await
        .unwrap();
    let refusals = plan.all_refusals().join("\n");
    assert!(
        refusals.contains(
            "connector-key.der: holds a private key in DER (binary), not a certificate: the \
             client certificate's private key file must be PEM text named .pem"
        ) && refusals
            .contains("`openssl pkey -inform der -in connector-key.der -out connector-key.pem`"),
        "{refusals}"
    );
    assert!(
        !refusals.contains("Parsing Error") && !refusals.contains("UnexpectedTag"),
        "{refusals}"
    );
    // Neither PEM nor DER.
    let plan = env
        .stores
        .plan_add(
            Store::Client,
            &[
                InputFile::new("connector.der", connector.der().to_vec()),
                InputFile::new("connector.pem", b"not a key at all".to_vec()),
            ],
            &AddOptions::default(),
        )
        .await
        .unwrap();
    let refusals = plan.all_refusals().join("\n");
    assert!(
        refusals
            .contains("connector.pem: is neither PEM text nor DER: the private key is expected"),
        "{refusals}"
    );

    // Garbage, and a file of a type the store does not take, have no content type; a readable
    // file has its own.
    let a = server("a");
    let plan = env
        .stores
        .plan_add(
            Store::Trust,
            &[
                InputFile::new("noise.der", vec![0x13, 0x37, 0xde, 0xad, 0xbe, 0xef]),
                InputFile::new("a.txt", a.der().to_vec()),
                InputFile::new("a.der", a.der().to_vec()),
            ],
            &AddOptions::default(),
        )
        .await
        .unwrap();
    assert!(plan.is_refused());
    assert_eq!(plan.files[0].content_type, None, "{plan}");
    assert_eq!(plan.files[1].content_type, None, "{plan}");
    assert_eq!(
        plan.files[2].content_type.as_deref(),
        Some("application/pkix-cert")
    );

    // An outdated CRL's nextUpdate, and an expired entry's finding in a listing: RFC 3339.
    let late_ca = ca("Late");
    let this_update = now - Duration::days(40);
    let late = late_ca.crl(&[], this_update, Duration::days(30));
    let plan = env
        .stores
        .plan_add(
            Store::Issuer,
            &[
                InputFile::new("late.der", late_ca.der().to_vec()),
                InputFile::new("late.crl", late),
            ],
            &AddOptions::default(),
        )
        .await
        .unwrap();
    let next_update = plan.files[1].crl.as_ref().unwrap().next_update.unwrap();
    let refusals = plan.all_refusals().join("\n");
    assert!(
        refusals.contains(&format!(
            "late.crl: the CRL's nextUpdate ({}) is past",
            rfc3339(next_update)
        )),
        "{refusals}"
    );
    assert!(
        plan.to_string()
            .contains(&format!("next update: {}", rfc3339(next_update))),
        "{plan}"
    );
    let expired = Issued::self_signed(&CertSpec {
        common_name: "old".into(),
        not_before: now - Duration::days(400),
        not_after: now - Duration::days(2),
        ..Default::default()
    });
    let plan = env
        .stores
        .plan_add(
            Store::Trust,
            &[InputFile::new("old.der", expired.der().to_vec())],
            &AddOptions {
                allow_expired: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    env.stores.apply(&plan).await.unwrap();
    let listing = listed(&env, Store::Trust).await;
    let entry = &listing.entries[0];
    let summary = entry.certificate.as_ref().unwrap();
    let finding = entry.findings.iter().find(|f| f.code == "expired").unwrap();
    assert_eq!(
        finding.message,
        format!(
            "expired on {} ({} days ago)",
            rfc3339(summary.not_after),
            -summary.days_left
        )
    );
    env.cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_secret_sync_enablement_there_is_no_vault() {
    let (cluster, _vault, target, _, _) = support::cluster("stores-disabled", false).await;
    let config = keyway_stores::StoreConfig::in_namespace(cluster.namespace());
    let e = keyway_stores::Instance::discover(target.as_ref(), &config)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::SecretSyncNotEnabled { .. }), "{e}");
    assert!(
        e.to_string().contains("secret sync is not enabled")
            && e.to_string().contains("az iot ops secretsync enable"),
        "{e}"
    );
    assert_eq!(e.exit_code(), 2);
    cluster.cleanup().await;
}

/// A namespace that does not exist is said to be so, by name — not "secret sync is not
/// enabled", which sends the operator to enable what is already enabled elsewhere — whether
/// the default class is found by search or named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_that_does_not_exist_is_named() {
    let (cluster, _vault, _, _, _) = support::cluster("stores-no-namespace", true).await;
    let ns = cluster.namespace();
    let missing = format!("{}-absent", &ns[..ns.len().min(50)]);
    let target = keyway_stores::KubernetesTarget::new(cluster.client(), &missing);
    assert_eq!(target.namespace_exists().await, Some(false));
    let mut config = keyway_stores::StoreConfig::in_namespace(&missing);
    for default_provider_class in [None, Some(support::DEFAULT_SPC.to_string())] {
        config.default_provider_class = default_provider_class;
        let e = keyway_stores::Instance::discover(&target, &config)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::NamespaceNotFound { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("namespace {missing} does not exist")),
            "{text}"
        );
        assert!(!text.contains("secret sync is not enabled"), "{text}");
        assert_eq!(e.exit_code(), 2);
    }
    // The test's own namespace exists (and has the instance's class).
    let own = keyway_stores::KubernetesTarget::new(cluster.client(), ns);
    assert_eq!(own.namespace_exists().await, Some(true));
    cluster.cleanup().await;
}

/// The client key in every PEM form openssl writes: PKCS#1 (`RSA PRIVATE KEY`) and SEC1 (`EC
/// PRIVATE KEY`) as well as PKCS#8 — matched against the certificate, never by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keys_in_pkcs1_and_sec1_are_matched() {
    let env = env("stores-keyforms").await;
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../keyway-cert/tests/fixtures");
    let read = |name: &str| std::fs::read(fixtures.join(name)).unwrap();
    let rsa = read("leaf-rsa.der");
    let ec = pem::parse(read("leaf-ec.pem")).unwrap().contents().to_vec();
    let at = keyway_cert::Certificate::from_der(&rsa)
        .unwrap()
        .details()
        .not_before
        + Duration::days(1);
    let options = AddOptions {
        at: Some(at),
        allow_expired: true,
        ..Default::default()
    };
    for (cert, key, matches) in [
        (&rsa, "leaf-rsa.pkcs1.key", true),
        (&ec, "leaf-ec.sec1.key", true),
        (&rsa, "leaf-ec.sec1.key", false),
        (&ec, "leaf-rsa.pkcs1.key", false),
    ] {
        let files = [
            InputFile::new("server.der", cert.clone()),
            InputFile::new("server.pem", read(key)),
        ];
        let plan = env
            .stores
            .plan_add(Store::Client, &files, &options)
            .await
            .unwrap();
        let refusals = plan.all_refusals().join("\n");
        assert_eq!(
            plan.files[1].kind,
            Some(keyway_stores::FileKind::PrivateKey),
            "{plan}"
        );
        assert_eq!(
            !refusals.contains("is not the private key"),
            matches,
            "{key}: {refusals}"
        );
        if matches {
            assert!(refusals.is_empty(), "{refusals}");
            let settings = plan.connector_settings.unwrap();
            assert_eq!(settings.application_uri, "urn:contoso:opcua:server");
        }
    }
    env.cluster.cleanup().await;
}

/// The sync state comes from the cluster: pending before any sync, failed with the
/// SecretSync's reason while the controller cannot read the vault, synced once it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_states_pending_failed_synced() {
    let env = env("stores-states").await;
    let a = server("plc-a");
    add_file(&env.stores, Store::Trust, "plc-a.der", a.der()).await;
    let entry = listed(&env, Store::Trust).await.entries.remove(0);
    match &entry.sync {
        SyncState::Pending { reason } => {
            assert!(reason.contains("does not exist yet"), "{reason}")
        }
        other => panic!("{other}"),
    }
    // The controller's listings fail (ours are GETs by name, which still work).
    env.cluster.emulator().faults().fail_next(
        keyway_emulator::Service::KeyVault,
        Some("GetSecrets"),
        500,
        100_000,
    );
    let running = start_controller(&env);
    let reason = eventually("a failed state", || async {
        match listed(&env, Store::Trust).await.entries.remove(0).sync {
            SyncState::Failed { reason } => Some(reason),
            _ => None,
        }
    })
    .await;
    assert!(reason.contains("ProviderError"), "{reason}");
    env.cluster.emulator().faults().clear();
    synced(&env, Store::Trust, &["plc-a.der"]).await;
    running.stop().await;
    env.cluster.cleanup().await;
}

/// Two adds planned against the same SecretProviderClass: the second one applied is a conflict
/// (its objects list was read before the first changed it), never a lost object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_conflict_instead_of_losing_an_object() {
    let env = env("stores-race").await;
    let first = InputFile::new("first.der", server("first").der().to_vec());
    let plan = env
        .stores
        .plan_add(Store::Trust, &[first], &AddOptions::default())
        .await
        .unwrap();
    env.stores.apply(&plan).await.unwrap();
    let a = InputFile::new("alpha.der", server("alpha").der().to_vec());
    let b = InputFile::new("beta.der", ca("Beta CA").der().to_vec());
    let plan_a = env
        .stores
        .plan_add(
            Store::Trust,
            std::slice::from_ref(&a),
            &AddOptions::default(),
        )
        .await
        .unwrap();
    let plan_b = env
        .stores
        .plan_add(
            Store::Issuer,
            std::slice::from_ref(&b),
            &AddOptions::default(),
        )
        .await
        .unwrap();
    env.stores.apply(&plan_a).await.unwrap();
    let e = env.stores.apply(&plan_b).await.unwrap_err();
    match &e {
        StoreError::Cluster {
            status, message, ..
        } => {
            assert_eq!(*status, Some(409), "{e}");
            assert!(message.contains("plan again"), "{e}");
        }
        other => panic!("{other}"),
    }
    let sets = set_count(&env);
    let again = env
        .stores
        .plan_add(Store::Issuer, &[b], &AddOptions::default())
        .await
        .unwrap();
    assert_eq!(again.secrets[0].action, SecretAction::Unchanged);
    env.stores.apply(&again).await.unwrap();
    assert_eq!(set_count(&env), sets, "the secret was not written twice");
    let class = env
        .target
        .provider_class("opc-ua-connector")
        .await
        .unwrap()
        .unwrap();
    let objects = &class.spec.parameters["objects"];
    for name in ["first-der", "alpha-der", "beta-der"] {
        assert!(objects.contains(name), "{objects}");
    }
    env.cluster.cleanup().await;
}
