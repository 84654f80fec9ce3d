//! "Add from Key Vault" (what the `keyway ui` page calls), against the emulated Key Vault
//! (official SDK) and the Kubernetes stand-in: the vault's secrets listed without values, its
//! certificates and CRLs offered for a store, and adding one as it is.

use keyway_cert::testing::{CertSpec, Issued};
use keyway_cert::time::{Duration, OffsetDateTime};
use keyway_emulator::SecretSpec;
use keyway_stores::{
    AddOptions, FileKind, SecretAction, Store, StoreError, VaultFailure, VaultSecrets,
};

mod support;
use support::{ca, env, eventually, secrets_client, server, set_count, start_controller};

fn hex(bytes: &[u8]) -> String {
    keyway_cert::encode_for_upload(bytes, keyway_cert::Encoding::Hex).unwrap()
}

fn base64(bytes: &[u8]) -> String {
    keyway_cert::encode_for_upload(bytes, keyway_cert::Encoding::Base64).unwrap()
}

fn spec(value: String, content_type: Option<&str>, encoding: Option<&str>) -> SecretSpec {
    SecretSpec {
        value,
        content_type: content_type.map(str::to_string),
        tags: encoding
            .map(|e| vec![("file-encoding".to_string(), e.to_string())])
            .unwrap_or_default(),
        ..SecretSpec::default()
    }
}

/// Every listed page, past Key Vault's 25 a page, in name order; attributes, never a value; a
/// nextLink to another host is not followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vault_lists_every_secret_without_values() {
    let env = env("ui-vault-list").await;
    for i in 0..30 {
        env.vault
            .set_secret(&format!("s{i:02}"), "hunter2-value")
            .unwrap();
    }
    env.vault
        .put_secret(
            "tagged",
            SecretSpec {
                disabled: true,
                ..spec("x".into(), Some("application/pkix-cert"), Some("hex"))
            },
        )
        .unwrap();
    let client = secrets_client(&env.cluster, &env.vault, &env.uploader);
    let listed = client.list().await.unwrap();
    assert_eq!(listed.len(), 31);
    assert_eq!(listed[0].name, "s00");
    assert_eq!(listed[30].name, "tagged");
    assert_eq!(
        listed[30].content_type.as_deref(),
        Some("application/pkix-cert")
    );
    assert_eq!(listed[30].tags["file-encoding"], "hex");
    assert!(!listed[30].enabled && listed[0].enabled && !listed[0].managed);
    let shown = format!("{listed:?}{}", serde_json::to_string(&listed).unwrap());
    assert!(!shown.contains("hunter2"), "{shown}");

    env.cluster
        .emulator()
        .faults()
        .force_next_link(Some("https://elsewhere.example/secrets?$skiptoken=x"));
    let refused = client.list().await.unwrap_err();
    assert!(refused.to_string().contains("another origin"), "{refused}");
    env.cluster.emulator().faults().clear();
    env.cluster.cleanup().await;
}

/// The vault's certificates and CRLs in every encoding the page offers, with the add checks'
/// details and findings; passwords, chains and keys are skipped without a word of their value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vault_certificates_are_found_in_every_encoding() {
    let env = env("ui-vault-certs").await;
    let a = server("plc-a");
    let root = ca("root-ca");
    let soon = Issued::self_signed(&CertSpec {
        common_name: "soon".into(),
        not_before: OffsetDateTime::now_utc() - Duration::days(300),
        not_after: OffsetDateTime::now_utc() + Duration::days(5),
        ..Default::default()
    });
    let crl = root.crl(
        &[&[7]],
        OffsetDateTime::now_utc() - Duration::hours(1),
        Duration::days(30),
    );
    let v = &env.vault;
    v.put_secret(
        "a-hex",
        spec(hex(a.der()), Some("application/pkix-cert"), Some("hex")),
    )
    .unwrap();
    v.put_secret("a-b64", spec(base64(a.der()), None, Some("base64")))
        .unwrap();
    v.put_secret(
        "root-pem",
        spec(root.pem(), Some("application/x-pem-file"), None),
    )
    .unwrap();
    v.put_secret("soon-untagged-hex", spec(hex(soon.der()), None, None))
        .unwrap();
    v.put_secret(
        "root-crl",
        spec(hex(&crl), Some("application/pkix-crl"), Some("hex")),
    )
    .unwrap();
    v.set_secret("db-password", "hunter2-value").unwrap();
    v.set_secret("chain", &format!("{}{}", a.pem(), root.pem()))
        .unwrap();
    v.set_secret("with-key", &format!("{}{}", a.pem(), a.key_pem().as_str()))
        .unwrap();
    v.put_secret(
        "disabled-cert",
        SecretSpec {
            disabled: true,
            ..spec(root.pem(), None, None)
        },
    )
    .unwrap();

    let found = env.stores.vault_certificates().await.unwrap();
    let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a-b64",
            "a-hex",
            "root-crl",
            "root-pem",
            "soon-untagged-hex"
        ]
    );
    let by = |name: &str| found.iter().find(|c| c.name == name).unwrap();
    let a_sha1 = keyway_cert::Certificate::from_der(a.der())
        .unwrap()
        .details()
        .sha1
        .clone();
    for name in ["a-hex", "a-b64"] {
        let c = by(name);
        assert_eq!(c.kind, FileKind::Certificate);
        assert_eq!(c.certificate.as_ref().unwrap().sha1, a_sha1);
        assert_eq!(c.file_name, format!("{name}.der"));
        assert!(c.refusals.is_empty(), "{:?}", c.refusals);
        assert!(c.version.is_some());
    }
    assert!(by("a-hex").stored_as_hex);
    assert!(!by("a-b64").stored_as_hex);
    assert_eq!(by("a-b64").encoding, keyway_cert::Encoding::Base64);
    assert!(by("root-pem").certificate.as_ref().unwrap().is_ca);
    let crl_candidate = by("root-crl");
    assert_eq!(crl_candidate.kind, FileKind::Crl);
    assert_eq!(crl_candidate.file_name, "root-crl.crl");
    assert_eq!(crl_candidate.crl.as_ref().unwrap().revoked, 1);
    // The add checks' findings, as the same code makes them for an upload.
    assert!(
        by("soon-untagged-hex")
            .findings
            .iter()
            .any(|f| f.code == "expires_soon"),
        "{:?}",
        by("soon-untagged-hex").findings
    );
    let shown = format!("{found:?}{}", serde_json::to_string(&found).unwrap());
    for value in [hex(a.der()), "hunter2".to_string()] {
        assert!(!shown.contains(&value));
    }
    env.cluster.cleanup().await;
}

/// Adding a vault secret as it is: hex tagged hex is no new version; base64 and PEM are named
/// and refused unless `overwrite_secret`; an unknown name names the vault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_secret_is_added_as_it_is() {
    let env = env("ui-from-vault").await;
    let a = server("plc-a");
    let b = server("plc-b");
    let root = ca("root-ca");
    let v = &env.vault;
    let version = v
        .put_secret(
            "plc-a",
            spec(hex(a.der()), Some("application/pkix-cert"), Some("hex")),
        )
        .unwrap();
    v.put_secret("plc-b", spec(base64(b.der()), None, Some("base64")))
        .unwrap();
    v.put_secret("root", spec(root.pem(), None, None)).unwrap();
    v.set_secret("db-password", "hunter2-value").unwrap();

    // Hex, tagged: planned unchanged, applied without a SetSecret, then synced.
    let input = env.stores.input_from_vault("plc-a").await.unwrap();
    assert_eq!(input.name(), "plc-a.der");
    assert_eq!(input.secret_name(), Some("plc-a"));
    let plan = env
        .stores
        .plan_add(Store::Trust, &[input], &AddOptions::default())
        .await
        .unwrap();
    assert!(!plan.is_refused(), "{plan}");
    assert_eq!(plan.secrets[0].action, SecretAction::Unchanged);
    let before = set_count(&env);
    let applied = env.stores.apply(&plan).await.unwrap();
    assert_eq!(set_count(&env), before, "no new Key Vault version");
    assert!(applied.secrets_written.is_empty());
    assert_eq!(applied.secrets_unchanged, ["plc-a"]);
    let client = secrets_client(&env.cluster, &env.vault, &env.uploader);
    let stored = client.get("plc-a").await.unwrap().unwrap();
    assert_eq!(stored.version.as_deref(), Some(version.as_str()));
    let running = start_controller(&env);
    eventually("plc-a.der synced", || async {
        let listing = env.stores.list(Some(Store::Trust), None).await.unwrap();
        listing[0]
            .entries
            .iter()
            .any(|e| e.target_key == "plc-a.der" && e.sync == keyway_stores::SyncState::Synced)
            .then_some(())
    })
    .await;
    running.stop().await;

    // Base64 and PEM: the same certificate in another encoding, refused and named.
    for (name, store, how, der) in [
        ("plc-b", Store::Trust, "in base64", b.der()),
        ("root", Store::Issuer, "as PEM text", root.der()),
    ] {
        let input = env.stores.input_from_vault(name).await.unwrap();
        let plan = env
            .stores
            .plan_add(store, std::slice::from_ref(&input), &AddOptions::default())
            .await
            .unwrap();
        let refusals = plan.all_refusals().join("; ");
        assert!(
            refusals.contains(how) && refusals.contains("`overwrite_secret`"),
            "{refusals}"
        );
        let before = set_count(&env);
        assert!(matches!(
            env.stores.apply(&plan).await,
            Err(StoreError::Refused { .. })
        ));
        assert_eq!(set_count(&env), before);
        // With overwrite: one new version, in hex, tagged.
        let options = AddOptions {
            overwrite_secret: true,
            ..Default::default()
        };
        let plan = env
            .stores
            .plan_add(store, &[input], &options)
            .await
            .unwrap();
        assert!(!plan.is_refused(), "{plan}");
        assert_eq!(plan.secrets[0].action, SecretAction::NewVersion);
        env.stores.apply(&plan).await.unwrap();
        assert_eq!(set_count(&env), before + 1);
        assert_eq!(env.vault.secret_value(name).unwrap(), hex(der), "hex now");
        let again = env.stores.input_from_vault(name).await.unwrap();
        let plan = env
            .stores
            .plan_add(store, &[again], &AddOptions::default())
            .await
            .unwrap();
        assert_eq!(plan.secrets[0].action, SecretAction::Unchanged, "{plan}");
    }

    // Unknown, and not a certificate.
    match env.stores.input_from_vault("nope").await.unwrap_err() {
        StoreError::Vault {
            failure: VaultFailure::NotFound,
            message,
            ..
        } => assert!(message.contains(env.vault.url()), "{message}"),
        other => panic!("{other}"),
    }
    let not_cert = env
        .stores
        .input_from_vault("db-password")
        .await
        .unwrap_err();
    assert!(matches!(not_cert, StoreError::Invalid { .. }), "{not_cert}");
    assert!(!not_cert.to_string().contains("hunter2"), "{not_cert}");
    assert!(!format!("{not_cert:?}").contains("hunter2"));
    env.cluster.cleanup().await;
}

/// A `.crt` (PEM) that the stores themselves uploaded (hex of the PEM text, tagged) is offered
/// as stored and added to another store as it is: no new version, so the entry that uploaded it
/// keeps its bytes. And a new version of a secret another entry maps is refused even with
/// `overwrite_secret`: it would change that entry's file too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_other_entries_map_is_never_rewritten() {
    let env = env("ui-vault-shared").await;
    let issuer = ca("Contoso OPC UA CA");
    support::add_file(
        &env.stores,
        Store::Issuer,
        "contoso-ca.crt",
        issuer.pem().as_bytes(),
    )
    .await;

    let candidates = env.stores.vault_certificates().await.unwrap();
    let ca_secret = candidates
        .iter()
        .find(|c| c.name == "contoso-ca-crt")
        .expect("the uploaded CA is offered");
    assert!(
        ca_secret.stored_as_hex,
        "keyway's own upload is stored as the stores keep files"
    );
    assert_eq!(ca_secret.file_name, "contoso-ca-crt.crt");
    let input = env.stores.input_from_vault("contoso-ca-crt").await.unwrap();
    let sets = set_count(&env);
    let plan = env
        .stores
        .plan_add(Store::Trust, &[input], &AddOptions::default())
        .await
        .unwrap();
    assert!(!plan.is_refused(), "{plan}");
    assert_eq!(plan.secrets[0].action, SecretAction::Unchanged, "{plan}");
    env.stores.apply(&plan).await.unwrap();
    assert_eq!(set_count(&env), sets, "no new version");

    // Another certificate under that secret name, with overwrite: refused, naming both users.
    let other = server("opcua-srv4");
    let plan = env
        .stores
        .plan_add(
            Store::Trust,
            &[
                keyway_stores::InputFile::new("srv4.der", other.der().to_vec())
                    .with_secret_name("contoso-ca-crt"),
            ],
            &AddOptions {
                overwrite_secret: true,
                ..AddOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(plan.is_refused(), "{plan}");
    let reasons = plan.all_refusals().join("; ");
    assert!(
        reasons.contains("contoso-ca.crt of aio-opc-ua-broker-issuer-list")
            && reasons.contains("contoso-ca-crt.crt of aio-opc-ua-broker-trust-list"),
        "{reasons}"
    );
    assert_eq!(set_count(&env), sets, "nothing written");
}
