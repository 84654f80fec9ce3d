//! The certificate stores through Azure Resource Manager: `ArmTarget` against the emulator's
//! ARM stand-in (through the official azure_core pipeline) and the emulated Key Vault (official
//! SDK). The SecretProviderClass and SecretSync are ARM resources on the IoT Operations
//! instance's custom location; the client certificate's connector settings go to the IoT
//! Operations extension, only the keys that change; every refusal writes nothing (ARM PUTs,
//! extension PATCHes and Key Vault SetSecret counted).

use std::collections::BTreeMap;
use std::sync::Arc;

use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use keyway_cert::testing::{CertSpec, Issued};
use keyway_cert::time::{Duration, OffsetDateTime};
use keyway_cluster::apply::ApplyOptions;
use keyway_emulator::{Emulator, IotOperationsInstance, Service};
use keyway_stores::{
    AddOptions, ArmTarget, ChangeAction, InputFile, Instance, KeyVaultSecrets, RemoveOptions,
    Store, StoreConfig, StoreError, StoreTarget, Stores, SyncState,
};
use serde_json::{Value, json};

#[path = "support/arm.rs"]
mod arm_support;
use arm_support::GROUP;

const SUBSCRIPTION: &str = "sub-1";
const VAULT: &str = "edge-vault";
const APPLICATION_URI: &str = "urn:fabrikam:opcua:connector";

struct Env {
    emulator: Emulator,
    instance: IotOperationsInstance,
    target: Arc<ArmTarget>,
    stores: Stores,
    options: ApplyOptions,
    credential: Arc<dyn azure_core::credentials::TokenCredential>,
    vault_url: String,
}

/// An instance with secret sync enabled (its default class made through ARM, as `az iot ops
/// secretsync enable` makes it) and the extension's connector settings partly set already.
async fn env() -> Env {
    let arm = arm_support::arm_instance(arm_support::ArmSpec {
        subscription: SUBSCRIPTION,
        vault: VAULT,
        default_class: "spc-ops-7f3a",
        client_id_parameter: "clientID",
        settings: BTreeMap::from([
            ("connectors.values.mode".to_string(), "on".to_string()),
            (
                "connectors.values.securityPki.applicationUri".to_string(),
                APPLICATION_URI.to_string(),
            ),
        ]),
    })
    .await;
    let arm_support::ArmInstance {
        emulator,
        instance,
        vault,
        credential,
        options,
        target,
        ..
    } = arm;
    assert_eq!(target.namespace(), "azure-iot-operations");
    assert_eq!(target.extension_id(), Some(instance.extension_id.as_str()));
    let config = StoreConfig::in_namespace(target.namespace());
    let found = Instance::discover(target.as_ref(), &config).await.unwrap();
    assert_eq!(found.provider_class, "spc-ops-7f3a");
    let client = SecretClient::new(
        vault.url(),
        credential.clone(),
        Some(SecretClientOptions {
            client_options: emulator.client_options().unwrap(),
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )
    .unwrap();
    // The vault URL as the emulator serves it.
    let found = Instance {
        vault_url: vault.url().to_string(),
        ..found
    };
    let stores = Stores::new(
        config,
        found,
        target.clone(),
        Arc::new(KeyVaultSecrets::new(client)),
    );
    emulator.counters().reset();
    Env {
        emulator,
        instance,
        target,
        stores,
        options,
        credential,
        vault_url: vault.url().to_string(),
    }
}

impl Env {
    fn id(&self, kind: &str, name: &str) -> String {
        format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.SecretSyncController/{kind}/{name}"
        )
    }

    fn sync(&self, name: &str) -> Option<Value> {
        self.emulator.arm_resource(&self.id("secretSyncs", name))
    }

    fn class(&self, name: &str) -> Option<Value> {
        self.emulator
            .arm_resource(&self.id("azureKeyVaultSecretProviderClasses", name))
    }

    fn count(&self, service: Service, operation: &str) -> u64 {
        self.emulator.counters().count(service, operation)
    }

    /// ARM writes (PUTs, DELETEs, PATCHes) and Key Vault SetSecret requests so far.
    fn writes(&self) -> [u64; 5] {
        [
            self.count(
                Service::Arm,
                "AzureKeyVaultSecretProviderClasses_CreateOrUpdate",
            ),
            self.count(Service::Arm, "SecretSyncs_CreateOrUpdate"),
            self.count(Service::Arm, "SecretSyncs_Delete"),
            self.count(Service::Arm, "Extensions_Update"),
            self.count(Service::KeyVault, "SetSecret"),
        ]
    }

    /// The trust list as `list` shows it.
    async fn trust_list(&self) -> keyway_stores::StoreListing {
        self.stores
            .list(Some(Store::Trust), None)
            .await
            .unwrap()
            .remove(0)
    }

    /// The secret sync extension reports `condition` (at a fixed time) as `sync`'s only one.
    fn report_condition(&self, sync: &Value, mut condition: Value) {
        condition["lastTransitionTime"] = json!("2026-12-01T00:00:00Z");
        assert!(self.emulator.set_arm_secret_sync_status(
            sync["id"].as_str().unwrap(),
            json!({"conditions": [condition]})
        ));
    }

    fn settings(&self) -> Value {
        self.emulator
            .arm_resource(&self.instance.extension_id)
            .unwrap()["properties"]["configurationSettings"]
            .clone()
    }
}

fn server(name: &str) -> Issued {
    Issued::self_signed(&CertSpec {
        common_name: name.into(),
        san: vec![format!("{name}.local"), format!("urn:{name}:opcua")],
        ..Default::default()
    })
}

fn objects(class: &Value) -> String {
    class["properties"]["objects"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn trust_list_added_listed_and_removed_as_arm_resources() {
    let env = env().await;
    let (a, b) = (server("plc-a"), server("plc-b"));
    let files = [
        InputFile::new("plc-a.der", a.der().to_vec()),
        InputFile::new("plc_b.PEM", b.pem().into_bytes()),
    ];
    let plan = env
        .stores
        .plan_add(Store::Trust, &files, &AddOptions::default())
        .await
        .unwrap();
    assert!(!plan.is_refused(), "{plan}");
    assert_eq!(plan.target, env.target.describe());
    assert!(plan.target.contains("aio-1"), "{}", plan.target);
    let applied = env.stores.apply(&plan).await.unwrap();
    assert_eq!(applied.provider_class, ChangeAction::Create);
    assert_eq!(applied.secret_sync, ChangeAction::Create);
    assert_eq!(applied.connector_settings_changed, None);

    // The connector's class: the instance's vault and identity, one hex object per secret, on
    // the instance's custom location.
    let class = env.class("opc-ua-connector").unwrap();
    assert_eq!(
        class["extendedLocation"],
        json!({"name": env.instance.custom_location_id, "type": "CustomLocation"})
    );
    assert_eq!(class["location"], env.instance.location.as_str());
    assert_eq!(class["properties"]["keyvaultName"], VAULT);
    let text = objects(&class);
    for name in ["plc-a-der", "plc-b-PEM"] {
        assert_eq!(
            text.matches(&format!("objectName: {name}\n")).count(),
            1,
            "{text}"
        );
    }
    assert_eq!(text.matches("objectEncoding: hex").count(), 2, "{text}");
    let sync = env.sync("aio-opc-ua-broker-trust-list").unwrap();
    assert_eq!(
        sync["extendedLocation"]["name"],
        env.instance.custom_location_id.as_str()
    );
    assert_eq!(
        sync["properties"]["objectSecretMapping"],
        json!([
            {"sourcePath": "plc-a-der", "targetKey": "plc-a.der"},
            {"sourcePath": "plc-b-PEM", "targetKey": "plc_b.PEM"},
        ])
    );
    assert_eq!(
        sync["properties"]["secretProviderClassName"],
        "opc-ua-connector"
    );
    assert_eq!(sync["properties"]["serviceAccountName"], "aio-ssc-sa");
    assert_eq!(sync["properties"]["kubernetesSecretType"], "Opaque");

    // Listed: pending until the extension reports; failed with its reason when it does.
    let listing = env.trust_list().await;
    assert_eq!(listing.entries.len(), 2);
    assert_eq!(listing.entries[0].target_key, "plc-a.der");
    assert_eq!(
        listing.entries[0].certificate.as_ref().unwrap().sha1,
        keyway_cert::Certificate::from_der(a.der())
            .unwrap()
            .details()
            .sha1
            .clone()
    );
    assert_eq!(
        listing.entries[0].sync,
        SyncState::Pending {
            reason: "the secret sync extension has reported no sync yet".into()
        }
    );
    // The extension reports the first sync done: synced (ARM shows no Secret to compare).
    env.report_condition(
        &sync,
        json!({"type": "Create", "status": "True", "reason": "CreateSucceeded",
            "message": "Secret created successfully."}),
    );
    let listing = env.trust_list().await;
    assert!(
        listing.entries.iter().all(|e| e.sync == SyncState::Synced),
        "{listing}"
    );
    env.report_condition(
        &sync,
        json!({"type": "SecretSynced", "status": "False", "reason": "ProviderError",
            "message": "vault unreachable"}),
    );
    let listing = env.trust_list().await;
    assert_eq!(
        listing.entries[1].sync,
        SyncState::Failed {
            reason: "ProviderError: vault unreachable".into()
        }
    );

    // Re-adding the same file changes nothing: no new version, no ARM write.
    let before = env.writes();
    let again = env
        .stores
        .plan_add(Store::Trust, &files[..1], &AddOptions::default())
        .await
        .unwrap();
    env.stores.apply(&again).await.unwrap();
    assert_eq!(env.writes()[4], before[4]);

    // Removed one by one: the mapping, then the SecretSync itself; the objects with them.
    env.stores
        .remove(Store::Trust, &["plc-a.der"], &RemoveOptions::default())
        .await
        .unwrap();
    let sync = env.sync("aio-opc-ua-broker-trust-list").unwrap();
    assert_eq!(
        sync["properties"]["objectSecretMapping"],
        json!([{"sourcePath": "plc-b-PEM", "targetKey": "plc_b.PEM"}])
    );
    assert!(!objects(&env.class("opc-ua-connector").unwrap()).contains("plc-a-der"));
    env.stores
        .remove(Store::Trust, &["plc-b-PEM"], &RemoveOptions::default())
        .await
        .unwrap();
    assert!(env.sync("aio-opc-ua-broker-trust-list").is_none());
    assert_eq!(env.count(Service::Arm, "SecretSyncs_Delete"), 1);
    assert!(!objects(&env.class("opc-ua-connector").unwrap()).contains("objectName"));
    // The default class is untouched throughout.
    assert!(
        !env.class("spc-ops-7f3a").unwrap()["properties"]
            .as_object()
            .unwrap()
            .contains_key("objects")
    );
}

#[tokio::test]
async fn client_certificate_patches_only_the_changed_extension_settings() {
    let env = env().await;
    let issuer = Issued::self_signed(&CertSpec {
        common_name: "Fabrikam CA".into(),
        is_ca: true,
        ..Default::default()
    });
    let client = issuer.issue(&CertSpec {
        common_name: "opcua-connector".into(),
        san: vec![APPLICATION_URI.into(), "connector.local".into()],
        ..Default::default()
    });
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
    let applied = env.stores.apply(&plan).await.unwrap();
    // applicationUri was already so: only the other two keys are sent.
    assert_eq!(
        applied.connector_settings_changed,
        Some(vec![
            "connectors.values.securityPki.applicationCert".to_string(),
            "connectors.values.securityPki.subjectName".to_string(),
        ])
    );
    assert_eq!(env.count(Service::Arm, "Extensions_Update"), 1);
    assert_eq!(
        env.settings(),
        json!({
            "connectors.values.mode": "on",
            "connectors.values.securityPki.applicationCert": "aio-opc-ua-broker-client-certificate",
            "connectors.values.securityPki.applicationUri": APPLICATION_URI,
            "connectors.values.securityPki.subjectName": "opcua-connector",
        })
    );
    let sync = env.sync("aio-opc-ua-broker-client-certificate").unwrap();
    assert_eq!(
        sync["properties"]["objectSecretMapping"],
        json!([
            {"sourcePath": "client-der", "targetKey": "client.der"},
            {"sourcePath": "client-pem", "targetKey": "client.pem"},
        ])
    );

    // The same certificate again: the settings are already so, no PATCH.
    let again = env
        .stores
        .plan_add(Store::Client, &files, &AddOptions::default())
        .await
        .unwrap();
    let applied = env.stores.apply(&again).await.unwrap();
    assert_eq!(applied.connector_settings_changed, Some(Vec::new()));
    assert_eq!(env.count(Service::Arm, "Extensions_Update"), 1);
}

#[tokio::test]
async fn every_refusal_writes_nothing_through_arm() {
    let env = env().await;
    let now = OffsetDateTime::now_utc();
    let expired = Issued::self_signed(&CertSpec {
        common_name: "old".into(),
        not_before: now - Duration::days(400),
        not_after: now - Duration::days(2),
        ..Default::default()
    });
    let leaf = server("plc-a");
    let stranger = server("stranger");
    let client = server("client");
    let cases: Vec<(Store, Vec<InputFile>, &str)> = vec![
        (
            Store::Trust,
            vec![InputFile::new("old.der", expired.der().to_vec())],
            "expired on",
        ),
        (
            Store::Issuer,
            vec![InputFile::new("leaf.der", leaf.der().to_vec())],
            "CA",
        ),
        (
            Store::Client,
            vec![
                InputFile::new("client.der", client.der().to_vec()),
                InputFile::new("client.pem", stranger.key_pem().as_bytes().to_vec()),
            ],
            "is not the private key of client.der",
        ),
    ];
    for (store, files, expected) in cases {
        let plan = env
            .stores
            .plan_add(store, &files, &AddOptions::default())
            .await
            .unwrap();
        assert!(plan.is_refused(), "{store}: {plan}");
        let refusals = plan.all_refusals().join("; ");
        assert!(refusals.contains(expected), "{store}: {refusals}");
        let err = env.stores.apply(&plan).await.unwrap_err();
        assert!(matches!(err, StoreError::Refused { .. }), "{err}");
        assert_eq!(err.exit_code(), 1);
    }
    assert_eq!(env.writes(), [0; 5]);

    // A SecretSync of the same name on another instance's custom location in the group: the
    // plan stops at reading it, before any write, instead of moving that cluster's resource.
    env.emulator.add_iot_operations_instance(
        SUBSCRIPTION,
        GROUP,
        "aio-2",
        "azure-iot-operations",
        &BTreeMap::new(),
    );
    let other = ArmTarget::connect(
        env.credential.clone(),
        env.options.clone(),
        SUBSCRIPTION,
        GROUP,
        "aio-2",
    )
    .await
    .unwrap();
    let mut taken = keyway_sync::SecretSync::new(
        "aio-opc-ua-broker-trust-list",
        keyway_sync::SecretSyncSpec {
            secret_provider_class_name: "opc-ua-connector".into(),
            service_account_name: "aio-ssc-sa".into(),
            ..Default::default()
        },
    );
    taken.spec.secret_object.type_ = "Opaque".into();
    taken.spec.secret_object.data = vec![keyway_sync::SecretObjectData {
        source_path: "xx-der".into(),
        target_key: "xx.der".into(),
    }];
    other.apply_secret_sync(&taken).await.unwrap();
    let before = env.writes();
    let err = env
        .stores
        .plan_add(
            Store::Trust,
            &[InputFile::new("plc-a.der", leaf.der().to_vec())],
            &AddOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("extendedLocation.name") && err.to_string().contains("aio-2"),
        "{err}"
    );
    assert_eq!(env.writes(), before);

    // Without the right to list the cluster's extensions the stores still work; only the
    // connector settings are refused, naming the reason and the command to run instead.
    env.emulator
        .faults()
        .fail_next(Service::Arm, Some("Extensions_List"), 403, 1);
    let limited = ArmTarget::connect(
        env.credential.clone(),
        env.options.clone(),
        SUBSCRIPTION,
        GROUP,
        "aio-1",
    )
    .await
    .unwrap();
    assert_eq!(limited.extension_id(), None);
    assert!(
        limited
            .provider_class("spc-ops-7f3a")
            .await
            .unwrap()
            .is_some()
    );
    let settings = keyway_stores::ConnectorSettings {
        application_cert: "aio-opc-ua-broker-client-certificate".into(),
        subject_name: "opcua-connector".into(),
        application_uri: APPLICATION_URI.into(),
    };
    let err = limited
        .apply_connector_settings(&settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("InjectedFault") && err.contains("az k8s-extension update"),
        "{err}"
    );
    assert_eq!(env.count(Service::Arm, "Extensions_Update"), 0);
    // So a client certificate planned through it is refused before any write.
    let client = server("client");
    let config = StoreConfig::in_namespace(limited.namespace());
    let instance = Instance::discover(&limited, &config).await.unwrap();
    let vault = SecretClient::new(
        &env.vault_url,
        env.credential.clone(),
        Some(SecretClientOptions {
            client_options: env.emulator.client_options().unwrap(),
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )
    .unwrap();
    let limited_stores = Stores::new(
        config,
        instance,
        Arc::new(limited),
        Arc::new(KeyVaultSecrets::new(vault)),
    );
    let plan = limited_stores
        .plan_add(
            Store::Client,
            &[
                InputFile::new("client.der", client.der().to_vec()),
                InputFile::new("client.pem", client.key_pem().as_bytes().to_vec()),
            ],
            &AddOptions::default(),
        )
        .await
        .unwrap();
    assert!(
        plan.all_refusals()
            .join("; ")
            .contains("the connector settings cannot be applied"),
        "{plan}"
    );
    let before = env.writes();
    assert!(limited_stores.apply(&plan).await.is_err());
    assert_eq!(env.writes(), before);

    // An instance that does not exist is named, with the fix.
    let err = ArmTarget::connect(
        env.credential.clone(),
        env.options.clone(),
        SUBSCRIPTION,
        GROUP,
        "nope",
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("no IoT Operations instance nope"),
        "{err}"
    );
    let err = ArmTarget::connect(
        env.credential.clone(),
        env.options.clone(),
        SUBSCRIPTION,
        "a/b",
        "aio-1",
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
}

#[tokio::test]
async fn a_class_changed_since_planning_is_a_conflict_and_arm_failures_are_typed() {
    let env = env().await;
    let (a, b, c) = (server("plc-a"), server("plc-b"), server("plc-c"));
    let add = |name: &str, cert: &Issued| {
        vec![InputFile::new(format!("{name}.der"), cert.der().to_vec())]
    };
    let first = env
        .stores
        .plan_add(Store::Trust, &add("plc-c", &c), &AddOptions::default())
        .await
        .unwrap();
    env.stores.apply(&first).await.unwrap();
    // Two adds planned against the same class: the second one's etag is stale once the first
    // is applied, so it fails instead of dropping the first one's object.
    let one = env
        .stores
        .plan_add(Store::Trust, &add("plc-a", &a), &AddOptions::default())
        .await
        .unwrap();
    let two = env
        .stores
        .plan_add(Store::Trust, &add("plc-b", &b), &AddOptions::default())
        .await
        .unwrap();
    env.stores.apply(&one).await.unwrap();
    let err = env.stores.apply(&two).await.unwrap_err();
    match &err {
        StoreError::Cluster {
            status: Some(409),
            message,
            ..
        } => assert!(message.contains("plan again"), "{message}"),
        other => panic!("expected a conflict, got {other}"),
    }
    let text = objects(&env.class("opc-ua-connector").unwrap());
    assert!(
        text.contains("plc-a-der") && text.contains("plc-c-der"),
        "{text}"
    );
    // Planned again, it applies.
    let two = env
        .stores
        .plan_add(Store::Trust, &add("plc-b", &b), &AddOptions::default())
        .await
        .unwrap();
    env.stores.apply(&two).await.unwrap();
    assert!(objects(&env.class("opc-ua-connector").unwrap()).contains("plc-b-der"));

    // ARM failing (5xx after the pipeline's retries) is "unreachable", exit code 3.
    env.emulator
        .faults()
        .fail_next(Service::Arm, Some("SecretSyncs_Get"), 503, 20);
    let err = env.stores.list(Some(Store::Trust), None).await.unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    env.emulator.faults().clear();
    // A 403 is a refusal by the remote end, exit code 1, with ARM's code.
    env.emulator
        .faults()
        .fail_next(Service::Arm, Some("SecretSyncs_Get"), 403, 1);
    let err = env.stores.list(Some(Store::Trust), None).await.unwrap_err();
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(err.to_string().contains("InjectedFault"), "{err}");
}

#[tokio::test]
async fn synced_secrets_through_the_default_class_on_arm() {
    let env = env().await;
    let add = keyway_stores::SecretAdd {
        vault_secret: "db-password".into(),
        synced_name: Some("db".into()),
        key: Some("password".into()),
        value: keyway_stores::SecretValue::Bytes(zeroize::Zeroizing::new(b"s3cret".to_vec())),
        overwrite_secret: false,
    };
    let plan = env.stores.plan_secret(&add).await.unwrap();
    assert!(!plan.is_refused(), "{plan}");
    env.stores.apply(&plan).await.unwrap();
    // The default class (made by secret-sync enablement) gains the object; the SecretSync is
    // an ARM resource on the instance's custom location.
    let class = env.class("spc-ops-7f3a").unwrap();
    assert!(
        objects(&class).contains("objectName: db-password"),
        "{class}"
    );
    let sync = env.sync("db").unwrap();
    assert_eq!(
        sync["properties"]["objectSecretMapping"],
        json!([{"sourcePath": "db-password", "targetKey": "password"}])
    );
    assert_eq!(
        sync["properties"]["secretProviderClassName"],
        "spc-ops-7f3a"
    );
    let listings = env.stores.list_secrets().await.unwrap();
    assert_eq!(listings.len(), 1);
    assert_eq!(listings[0].entries[0].secret_name, "db-password");
    assert!(!serde_json::to_string(&listings).unwrap().contains("s3cret"));

    env.stores
        .remove_secret("db", &RemoveOptions::default())
        .await
        .unwrap();
    assert!(env.sync("db").is_none());
    assert!(!objects(&env.class("spc-ops-7f3a").unwrap()).contains("db-password"));
}
