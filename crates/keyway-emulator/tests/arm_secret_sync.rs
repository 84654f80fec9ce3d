//! The ARM stand-in's IoT Operations resources, held to what real ARM does for them: the
//! secret sync resource types (api-version 2024-08-21-preview, the instance's custom location
//! as `extendedLocation`) made, read, listed by resource group and deleted, and refused as ARM
//! refuses them (other api-versions, missing location or custom location, bad names, missing
//! or malformed required properties, a stale If-Match) without storing anything; the IoT
//! Operations extension's configuration settings patched key by key.

use std::collections::BTreeMap;

use azure_core::credentials::TokenCredential;
use keyway_emulator::{Emulator, IotOperationsInstance, SECRET_SYNC_API_VERSION, Service};
use serde_json::{Value, json};

const GROUP: &str = "/subscriptions/sub-1/resourceGroups/edge-rg";
const GUID: &str = "00000000-0000-0000-0000-00000000000a";

struct Arm {
    emulator: Emulator,
    http: reqwest::Client,
    token: String,
    instance: IotOperationsInstance,
}

async fn arm() -> Arm {
    let emulator = Emulator::start().await.unwrap();
    let tenant = emulator.add_tenant(None);
    let operator = emulator
        .add_workload_identity(&tenant, "operator", "ops", "operator")
        .unwrap();
    let credential = emulator
        .workload_credential(&operator, "ops", "operator")
        .unwrap();
    let token = credential
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .unwrap()
        .token
        .secret()
        .to_string();
    let instance = emulator.add_iot_operations_instance(
        "sub-1",
        "edge-rg",
        "aio-1",
        "azure-iot-operations",
        &BTreeMap::from([("connectors.values.mode".to_string(), "on".to_string())]),
    );
    Arm {
        http: emulator.http_client().unwrap(),
        emulator,
        token,
        instance,
    }
}

impl Arm {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send_with(method, path, body, None).await
    }

    async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.emulator.arm_url()))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(etag) = if_match {
            request = request.header("if-match", etag);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_default())
    }

    fn extended_location(&self) -> Value {
        json!({"name": self.instance.custom_location_id, "type": "CustomLocation"})
    }

    fn spc(&self) -> Value {
        json!({
            "location": "eastus",
            "extendedLocation": self.extended_location(),
            "properties": {"clientId": GUID, "tenantId": GUID, "keyvaultName": "edge-vault",
                           "objects": "array:\n  - |\n    objectName: a\n    objectType: secret\n"},
        })
    }

    fn sync(&self) -> Value {
        json!({
            "location": "eastus",
            "extendedLocation": self.extended_location(),
            "properties": {
                "secretProviderClassName": "opc-ua-connector",
                "serviceAccountName": "aio-ssc-sa",
                "kubernetesSecretType": "Opaque",
                "objectSecretMapping": [{"sourcePath": "a", "targetKey": "plc-a.der"}],
            },
        })
    }

    fn puts(&self) -> u64 {
        let counters = self.emulator.counters();
        counters.count(
            Service::Arm,
            "AzureKeyVaultSecretProviderClasses_CreateOrUpdate",
        ) + counters.count(Service::Arm, "SecretSyncs_CreateOrUpdate")
    }
}

fn spc_path(name: &str, version: &str) -> String {
    format!(
        "{GROUP}/providers/Microsoft.SecretSyncController/azureKeyVaultSecretProviderClasses/{name}?api-version={version}"
    )
}

fn sync_path(name: &str) -> String {
    format!(
        "{GROUP}/providers/Microsoft.SecretSyncController/secretSyncs/{name}?api-version={SECRET_SYNC_API_VERSION}"
    )
}

#[tokio::test]
async fn secret_sync_resources_are_made_read_listed_and_deleted() {
    let arm = arm().await;
    use reqwest::Method;
    let path = spc_path("opc-ua-connector", SECRET_SYNC_API_VERSION);
    let (status, made) = arm.send(Method::PUT, &path, Some(arm.spc())).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(
        made["type"],
        "Microsoft.SecretSyncController/azureKeyVaultSecretProviderClasses"
    );
    assert_eq!(made["extendedLocation"], arm.extended_location());
    assert_eq!(made["properties"]["provisioningState"], "Succeeded");
    assert_eq!(made["properties"]["keyvaultName"], "edge-vault");
    let etag = made["etag"].as_str().unwrap().to_string();

    // A replace answers 200; the etag moves.
    let (status, replaced) = arm
        .send_with(Method::PUT, &path, Some(arm.spc()), Some(&etag))
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_ne!(replaced["etag"].as_str(), Some(etag.as_str()));

    let (status, made) = arm
        .send(
            Method::PUT,
            &sync_path("aio-opc-ua-broker-trust-list"),
            Some(arm.sync()),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let (status, read) = arm
        .send(
            Method::GET,
            &sync_path("aio-opc-ua-broker-trust-list"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        read["properties"]["objectSecretMapping"],
        json!([{"sourcePath": "a", "targetKey": "plc-a.der"}])
    );

    // Listed by resource group, each type on its own; another group holds nothing.
    let list = format!(
        "{GROUP}/providers/Microsoft.SecretSyncController/secretSyncs?api-version={SECRET_SYNC_API_VERSION}"
    );
    let (status, listed) = arm.send(Method::GET, &list, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
    let (_, other) = arm
        .send(Method::GET, &list.replace("edge-rg", "other-rg"), None)
        .await;
    assert_eq!(other["value"], json!([]));

    // The status the extension reports is kept across a replace.
    let id = read["id"].as_str().unwrap();
    assert!(arm.emulator.set_arm_secret_sync_status(
        id,
        json!({"conditions": [{"type": "SecretSynced", "status": "True", "reason": "CreateSucceeded", "message": ""}]})
    ));
    arm.send(
        Method::PUT,
        &sync_path("aio-opc-ua-broker-trust-list"),
        Some(arm.sync()),
    )
    .await;
    let (_, read) = arm
        .send(
            Method::GET,
            &sync_path("aio-opc-ua-broker-trust-list"),
            None,
        )
        .await;
    assert_eq!(
        read["properties"]["status"]["conditions"][0]["reason"],
        "CreateSucceeded"
    );

    // Deleted: 200, then 204 for an absent one, then 404 to read.
    let (status, _) = arm
        .send(
            Method::DELETE,
            &sync_path("aio-opc-ua-broker-trust-list"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = arm
        .send(
            Method::DELETE,
            &sync_path("aio-opc-ua-broker-trust-list"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, missing) = arm
        .send(
            Method::GET,
            &sync_path("aio-opc-ua-broker-trust-list"),
            None,
        )
        .await;
    assert_eq!(
        (status, missing["error"]["code"].as_str()),
        (404, Some("ResourceNotFound"))
    );
}

#[tokio::test]
async fn what_arm_refuses_is_refused_and_nothing_is_stored() {
    let arm = arm().await;
    use reqwest::Method;
    let with = |mut body: Value, pointer: &str, value: Value| {
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    let without = |mut body: Value, field: &str| {
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let without_property = |mut body: Value, field: &str| {
        body["properties"].as_object_mut().unwrap().remove(field);
        body
    };
    let spc = |name: &str| spc_path(name, SECRET_SYNC_API_VERSION);
    let cases: Vec<(&str, String, Value, u16, &str, &str)> = vec![
        (
            "another api-version",
            spc_path("opc-ua-connector", "2023-01-01"),
            arm.spc(),
            400,
            "NoRegisteredProviderFound",
            "2024-08-21-preview",
        ),
        (
            "no location",
            spc("opc-ua-connector"),
            without(arm.spc(), "location"),
            400,
            "LocationRequired",
            "location",
        ),
        (
            "no extendedLocation",
            spc("opc-ua-connector"),
            without(arm.spc(), "extendedLocation"),
            400,
            "InvalidExtendedLocation",
            "extendedLocation",
        ),
        (
            "an unknown custom location",
            spc("opc-ua-connector"),
            with(
                arm.spc(),
                "/extendedLocation/name",
                json!(format!(
                    "{GROUP}/providers/Microsoft.ExtendedLocation/customLocations/nope"
                )),
            ),
            400,
            "InvalidExtendedLocation",
            "nope",
        ),
        (
            "an EdgeZone",
            spc("opc-ua-connector"),
            with(arm.spc(), "/extendedLocation/type", json!("EdgeZone")),
            400,
            "InvalidExtendedLocation",
            "EdgeZone",
        ),
        (
            "an upper-case name",
            spc("OPC-UA"),
            arm.spc(),
            400,
            "InvalidResourceName",
            "OPC-UA",
        ),
        (
            "an underscore in the name",
            spc("opc_ua"),
            arm.spc(),
            400,
            "InvalidResourceName",
            "opc_ua",
        ),
        (
            "no clientId",
            spc("opc-ua-connector"),
            without_property(arm.spc(), "clientId"),
            400,
            "InvalidRequestContent",
            "properties.clientId",
        ),
        (
            "a tenantId that is no GUID",
            spc("opc-ua-connector"),
            with(arm.spc(), "/properties/tenantId", json!("contoso")),
            400,
            "InvalidRequestContent",
            "properties.tenantId",
        ),
        (
            "no keyvaultName",
            spc("opc-ua-connector"),
            without_property(arm.spc(), "keyvaultName"),
            400,
            "InvalidRequestContent",
            "properties.keyvaultName",
        ),
        (
            "an empty mapping",
            sync_path("aio-opc-ua-broker-trust-list"),
            with(arm.sync(), "/properties/objectSecretMapping", json!([])),
            400,
            "InvalidRequestContent",
            "properties.objectSecretMapping",
        ),
        (
            "a bad targetKey",
            sync_path("aio-opc-ua-broker-trust-list"),
            with(
                arm.sync(),
                "/properties/objectSecretMapping/0/targetKey",
                json!("a b"),
            ),
            400,
            "InvalidRequestContent",
            "properties.objectSecretMapping[0].targetKey",
        ),
        (
            "no serviceAccountName",
            sync_path("aio-opc-ua-broker-trust-list"),
            without_property(arm.sync(), "serviceAccountName"),
            400,
            "InvalidRequestContent",
            "properties.serviceAccountName",
        ),
        (
            "no kubernetesSecretType",
            sync_path("aio-opc-ua-broker-trust-list"),
            without_property(arm.sync(), "kubernetesSecretType"),
            400,
            "InvalidRequestContent",
            "properties.kubernetesSecretType",
        ),
    ];
    for (what, path, body, status, code, named) in cases {
        let (got, answer) = arm.send(Method::PUT, &path, Some(body)).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{what}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{what}: {message}");
    }
    // An If-Match for a resource that does not exist (or changed) is a failed precondition.
    let (got, answer) = arm
        .send_with(
            Method::PUT,
            &spc("opc-ua-connector"),
            Some(arm.spc()),
            Some("\"stale\""),
        )
        .await;
    assert_eq!(
        (got, answer["error"]["code"].as_str()),
        (412, Some("PreconditionFailed"))
    );
    // A GET with another api-version is refused too.
    let (got, _) = arm
        .send(
            Method::GET,
            &spc_path("opc-ua-connector", "2024-01-01"),
            None,
        )
        .await;
    assert_eq!(got, 400);

    // Nothing was stored by any of them.
    for kind in ["azureKeyVaultSecretProviderClasses", "secretSyncs"] {
        let (_, listed) = arm
            .send(
                Method::GET,
                &format!(
                    "{GROUP}/providers/Microsoft.SecretSyncController/{kind}?api-version={SECRET_SYNC_API_VERSION}"
                ),
                None,
            )
            .await;
        assert_eq!(listed["value"], json!([]), "{kind}");
    }
    assert_eq!(arm.puts(), 15);
    assert_eq!(
        arm.emulator.counters().count_status(
            Service::Arm,
            "AzureKeyVaultSecretProviderClasses_CreateOrUpdate",
            201
        ),
        0
    );
}

#[tokio::test]
async fn the_instance_leads_to_its_extension_whose_settings_patch_key_by_key() {
    let arm = arm().await;
    use reqwest::Method;
    let (status, instance) = arm
        .send(
            Method::GET,
            &format!("{}?api-version=2024-11-01", arm.instance.instance_id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{instance}");
    assert_eq!(
        instance["extendedLocation"]["name"],
        arm.instance.custom_location_id.as_str()
    );
    let (status, _) = arm
        .send(
            Method::GET,
            &format!("{}?api-version=2020-01-01", arm.instance.instance_id),
            None,
        )
        .await;
    assert_eq!(status, 400);
    let (_, location) = arm
        .send(
            Method::GET,
            &format!(
                "{}?api-version=2021-08-31-preview",
                arm.instance.custom_location_id
            ),
            None,
        )
        .await;
    assert_eq!(location["properties"]["namespace"], "azure-iot-operations");
    assert_eq!(
        location["properties"]["hostResourceId"],
        arm.instance.cluster_id.as_str()
    );

    let (_, extensions) = arm
        .send(
            Method::GET,
            &format!(
                "{}/providers/Microsoft.KubernetesConfiguration/extensions?api-version=2023-05-01",
                arm.instance.cluster_id
            ),
            None,
        )
        .await;
    let extensions = extensions["value"].as_array().unwrap().clone();
    assert_eq!(extensions.len(), 1);
    assert_eq!(
        extensions[0]["properties"]["extensionType"],
        "microsoft.iotoperations"
    );

    // A PATCH merges the keys it sends; the others stay.
    let path = format!("{}?api-version=2023-05-01", arm.instance.extension_id);
    let (status, patched) = arm
        .send(
            Method::PATCH,
            &path,
            Some(json!({"properties": {"configurationSettings": {
                "connectors.values.securityPki.subjectName": "opcua-client"}}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["properties"]["configurationSettings"],
        json!({"connectors.values.mode": "on",
               "connectors.values.securityPki.subjectName": "opcua-client"})
    );
    let (status, refused) = arm
        .send(
            Method::PATCH,
            &path,
            Some(json!({"properties": {"configurationSettings": {"k": 1}}})),
        )
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (400, Some("InvalidRequestContent"))
    );
    assert_eq!(
        arm.emulator
            .arm_resource(&arm.instance.extension_id)
            .unwrap()["properties"]["configurationSettings"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        arm.emulator
            .counters()
            .count(Service::Arm, "Extensions_Update"),
        2
    );
}
