//! Synced secrets (the instance's default SecretProviderClass, one SecretSync each) and Key
//! Vault refusals, against the emulators.

use std::sync::Arc;

use keyway_emulator::{Role, Service};
use keyway_stores::{
    AddOptions, InputFile, RemoveOptions, SecretAction, SecretAdd, SecretValue, Store, StoreError,
    Stores, SyncState, VaultFailure,
};
use zeroize::Zeroizing;

mod support;
use support::{DEFAULT_SPC, add_file, cluster_state, env, eventually, set_count, start_controller};

/// The test's stores with a self-signed certificate added to the trust list as `plc.der`.
async fn trusting_one_certificate(test: &str) -> support::Env {
    let env = env(test).await;
    let cert = keyway_cert::testing::Issued::self_signed(&Default::default());
    add_file(&env.stores, Store::Trust, "plc.der", cert.der()).await;
    env
}

fn value(text: &str) -> SecretValue {
    SecretValue::Bytes(Zeroizing::new(text.as_bytes().to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synced_secrets_add_list_remove() {
    let env = env("secrets").await;
    let add = SecretAdd {
        vault_secret: "db-password".into(),
        synced_name: Some("db".into()),
        key: Some("password".into()),
        value: value("s3cret-value"),
        overwrite_secret: false,
    };
    let plan = env.stores.plan_secret(&add).await.unwrap();
    assert!(!plan.is_refused(), "{plan}");
    assert_eq!(plan.provider_class.name, DEFAULT_SPC);
    assert!(!plan.to_string().contains("s3cret-value"));
    assert!(
        !serde_json::to_string(&plan)
            .unwrap()
            .contains("s3cret-value")
    );
    assert!(!format!("{plan:?}{add:?}").contains("s3cret-value"));
    let sets = set_count(&env);
    env.stores.apply(&plan).await.unwrap();
    assert_eq!(set_count(&env), sets + 1);
    assert_eq!(
        env.vault.secret_value("db-password").unwrap(),
        "s3cret-value"
    );
    // A secret already in the vault, synced as it is.
    env.vault.set_secret("api-key", "key-1").unwrap();
    let existing = SecretAdd {
        vault_secret: "api-key".into(),
        synced_name: None,
        key: None,
        value: SecretValue::Existing,
        overwrite_secret: false,
    };
    let plan = env.stores.plan_secret(&existing).await.unwrap();
    assert_eq!(plan.secrets[0].action, SecretAction::Unchanged);
    env.stores.apply(&plan).await.unwrap();

    let running = start_controller(&env);
    let listings = eventually("both synced", || async {
        let listings = env.stores.list_secrets().await.unwrap();
        (listings.len() == 2
            && listings
                .iter()
                .all(|l| l.entries.len() == 1 && l.entries[0].sync == SyncState::Synced))
        .then_some(listings)
    })
    .await;
    let names: Vec<&str> = listings.iter().map(|l| l.secret_sync.as_str()).collect();
    assert_eq!(names, ["api-key", "db"]);
    assert_eq!(listings[1].entries[0].target_key, "password");
    assert_eq!(listings[1].entries[0].secret_name, "db-password");
    assert!(listings[1].entries[0].version.is_some());
    let json = serde_json::to_string(&listings).unwrap();
    assert!(
        !json.contains("s3cret-value") && !json.contains("key-1"),
        "{json}"
    );

    // The same value again: no new version. Another value: refused, nothing written.
    let sets = set_count(&env);
    let again = env.stores.plan_secret(&add).await.unwrap();
    assert!(again.is_noop(), "{again}");
    env.stores.apply(&again).await.unwrap();
    let state = cluster_state(env.target.as_ref()).await;
    let other = SecretAdd {
        value: value("another"),
        ..add.clone()
    };
    let refused = env.stores.plan_secret(&other).await.unwrap();
    assert!(
        refused.all_refusals()[0].contains("another value"),
        "{refused}"
    );
    assert!(env.stores.apply(&refused).await.is_err());
    let missing = SecretAdd {
        vault_secret: "nowhere".into(),
        synced_name: Some("nowhere".into()),
        value: SecretValue::Existing,
        ..add.clone()
    };
    let refused = env.stores.plan_secret(&missing).await.unwrap();
    assert!(refused.all_refusals()[0].contains("holds no secret nowhere"));
    assert!(env.stores.apply(&refused).await.is_err());
    assert_eq!(set_count(&env), sets);
    assert_eq!(cluster_state(env.target.as_ref()).await, state);

    // Removed with its secret: the SecretSync, the object and the Key Vault secret go; the
    // other synced secret stays.
    let removal = env
        .stores
        .remove_secret(
            "db",
            &RemoveOptions {
                include_secrets: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(removal.secrets_purged, vec!["db-password".to_string()]);
    assert_eq!(
        removal.provider_class.removed,
        vec!["db-password".to_string()]
    );
    assert!(env.vault.secret_value("db-password").is_none());
    let left = env.stores.list_secrets().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].secret_sync, "api-key");
    let e = env
        .stores
        .remove_secret("db", &RemoveOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("api-key"), "{e}");
    running.stop().await;
    env.cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_purge_names_the_missing_right() {
    let env = trusting_one_certificate("secrets-403").await;
    // Someone who may read secrets but not delete them.
    let emulator = env.cluster.emulator();
    let reader = emulator
        .add_workload_identity(env.vault.tenant_id(), "reader", "ops", "reader")
        .unwrap();
    env.vault.grant(&reader, Role::SecretsUser);
    let credential = emulator
        .workload_credential(&reader, "ops", "reader")
        .unwrap();
    let client = azure_security_keyvault_secrets::SecretClient::new(
        env.vault.url(),
        credential,
        Some(azure_security_keyvault_secrets::SecretClientOptions {
            client_options: emulator.client_options().unwrap(),
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )
    .unwrap();
    let stores = Stores::new(
        env.stores.config().clone(),
        env.stores.instance().clone(),
        env.target.clone(),
        Arc::new(keyway_stores::KeyVaultSecrets::new(client)),
    );
    // Uploading as the reader is refused by Key Vault with the right named.
    let plan = stores
        .plan_add(
            Store::Trust,
            &[InputFile::new(
                "other.der",
                keyway_cert::testing::Issued::self_signed(&Default::default())
                    .der()
                    .to_vec(),
            )],
            &AddOptions::default(),
        )
        .await
        .unwrap();
    let e = stores.apply(&plan).await.unwrap_err();
    match &e {
        StoreError::Vault {
            failure, status, ..
        } => {
            assert_eq!(
                (*failure, *status),
                (VaultFailure::Forbidden, Some(403)),
                "{e}"
            );
        }
        other => panic!("{other}"),
    }
    let e = stores
        .remove(
            Store::Trust,
            &["plc.der"],
            &RemoveOptions {
                include_secrets: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Vault {
                failure: VaultFailure::Forbidden,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("secrets/delete"), "{e}");
    assert_eq!(
        emulator
            .counters()
            .count_status(Service::KeyVault, "DeleteSecret", 403),
        1
    );
    assert!(env.vault.secret_value("plc-der").is_some());
    // The refused delete came first: the cluster still maps it.
    let listing = stores.list(Some(Store::Trust), None).await.unwrap();
    assert_eq!(listing[0].entries[0].target_key, "plc.der");
    env.cluster.cleanup().await;
}

/// A synced name that clashes with a certificate store's SecretSync is refused with one fix:
/// another name (removing the store's SecretSync would take the connector's certificates away).
/// A clash with a synced secret as `plan_secret` makes it may be removed first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clash_with_a_store_never_advises_removing_it() {
    let env = trusting_one_certificate("secrets-clash").await;
    let add = |synced: &str| SecretAdd {
        vault_secret: "db-password".into(),
        synced_name: Some(synced.into()),
        key: Some("password".into()),
        value: value("v1"),
        overwrite_secret: false,
    };
    let refused = env
        .stores
        .plan_secret(&add("aio-opc-ua-broker-trust-list"))
        .await
        .unwrap();
    assert!(refused.is_refused(), "{refused}");
    let text = refused.to_string();
    assert!(
        text.contains("choose another synced name") && !text.contains("remove"),
        "{text}"
    );

    // A synced secret made the same way, mapping another secret: removing it is an option.
    let plan = env.stores.plan_secret(&add("db")).await.unwrap();
    env.stores.apply(&plan).await.unwrap();
    let other = SecretAdd {
        vault_secret: "other-password".into(),
        ..add("db")
    };
    let refused = env.stores.plan_secret(&other).await.unwrap();
    assert!(
        refused
            .to_string()
            .contains("remove that synced secret first"),
        "{refused}"
    );
    env.cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_secret_is_removed_by_its_key_vault_secret_name() {
    let env = env("secrets-by-vault-name").await;
    let add = |vault_secret: &str, synced_name: &str, text: &str| SecretAdd {
        vault_secret: vault_secret.into(),
        synced_name: Some(synced_name.into()),
        key: Some("value".into()),
        value: value(text),
        overwrite_secret: false,
    };
    for (vault_secret, synced_name) in [
        ("db-password", "db"),
        ("api-token", "api-token"),
        ("shared", "one"),
        ("shared", "two"),
    ] {
        let plan = env
            .stores
            .plan_secret(&add(vault_secret, synced_name, "v"))
            .await
            .unwrap();
        assert!(!plan.is_refused(), "{plan}");
        env.stores.apply(&plan).await.unwrap();
    }

    // A Key Vault secret two synced secrets sync: refused naming both, nothing removed.
    let state = cluster_state(env.target.as_ref()).await;
    let e = env
        .stores
        .remove_secret("shared", &RemoveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(
        e.to_string().contains("several synced secrets (one, two)"),
        "{e}"
    );
    assert_eq!(cluster_state(env.target.as_ref()).await, state);

    // `db-password`, the Key Vault secret behind the synced secret `db`: `db` goes.
    let removal = env
        .stores
        .remove_secret("db-password", &RemoveOptions::default())
        .await
        .unwrap();
    assert_eq!(removal.synced_secret.as_deref(), Some("db"));
    assert_eq!(
        removal.removed,
        vec![("value".to_string(), "db-password".to_string())]
    );
    let left: Vec<String> = env
        .stores
        .list_secrets()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.secret_sync)
        .collect();
    assert_eq!(left, ["api-token", "one", "two"]);

    // A name nothing holds is still not found, listing what there is.
    let e = env
        .stores
        .remove_secret("db-password", &RemoveOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("api-token, one, two"), "{e}");
    env.cluster.cleanup().await;
}
