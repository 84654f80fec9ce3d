//! Schemas held to the real server: CustomResourceDefinitions must be structural, custom
//! resources are validated against their schema (422 naming the field, in the server's words),
//! defaulted and pruned, and every served version of a CRD shares its objects. Each test runs
//! against the stand-in and, with `KEYWAY_TEST_KUBECONFIG`, unchanged against that real
//! cluster; the custom resources are the project's own (deploy/crds, the upstream definitions).

use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use keyway_emulator::testing::TestCluster;
use kube::api::{
    ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams, ValidationDirective,
};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

/// What the server adds when a schema violation kept it from evaluating the CEL rules.
const SKIPPED: &str = "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

async fn cluster(test: &str) -> TestCluster {
    let cluster = TestCluster::start(test).await.unwrap();
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    cluster.install_crds_from(&crds).await.unwrap();
    cluster
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn secret_syncs(cluster: &TestCluster) -> Api<DynamicObject> {
    let r = resource(
        "secret-sync.x-k8s.io",
        "v1alpha1",
        "SecretSync",
        "secretsyncs",
    );
    Api::namespaced_with(cluster.client(), cluster.namespace(), &r)
}

fn provider_classes(cluster: &TestCluster, version: &str) -> Api<DynamicObject> {
    let r = resource(
        "secrets-store.csi.x-k8s.io",
        version,
        "SecretProviderClass",
        "secretproviderclasses",
    );
    Api::namespaced_with(cluster.client(), cluster.namespace(), &r)
}

/// A valid SecretSync named `name`, with `edit` applied to its JSON.
fn secret_sync(name: &str, edit: impl FnOnce(&mut Value)) -> DynamicObject {
    let mut body = json!({
        "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
        "kind": "SecretSync",
        "metadata": {"name": name},
        "spec": {
            "serviceAccountName": "sync",
            "secretProviderClassName": "vault",
            "secretObject": {"data": [{"sourcePath": "db-password", "targetKey": "password"}]},
        },
    });
    edit(&mut body);
    serde_json::from_value(body).unwrap()
}

/// The refusal's code, reason, message and the fields its causes name.
fn refusal(e: kube::Error) -> (u16, String, String, Vec<String>) {
    let kube::Error::Api(status) = e else {
        panic!("expected an API error, got {e}");
    };
    let fields = status
        .details
        .as_ref()
        .map(|d| d.causes.iter().map(|c| c.field.clone()).collect())
        .unwrap_or_default();
    (status.code, status.reason, status.message, fields)
}

#[tokio::test]
async fn a_non_structural_crd_is_refused_naming_the_field() {
    let cluster = TestCluster::start("crd-structural").await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    // A name no other run uses: a real cluster's CRDs are cluster-wide.
    let group = format!("t{}.keyway.test", std::process::id());
    let crd = |schema: Value| -> CustomResourceDefinition {
        serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("widgets.{group}")},
            "spec": {
                "group": group,
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": schema}}],
            },
        }))
        .unwrap()
    };
    let cases = [
        (
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"list": {"type": "array", "items": {}}}}}}),
            "spec.validation.openAPIV3Schema.properties[spec].properties[list].items.type",
            "Required value: must not be empty for specified array items",
        ),
        (
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"name": {"description": "untyped"}}}}}),
            "spec.validation.openAPIV3Schema.properties[spec].properties[name].type",
            "Required value: must not be empty for specified object fields",
        ),
        (
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}}}}),
            "spec.validation.openAPIV3Schema.properties[spec].additionalProperties",
            "Forbidden: additionalProperties and properties are mutual exclusive",
        ),
        (
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}),
            "spec.validation.openAPIV3Schema.properties[metadata]",
            "Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
        ),
    ];
    for (schema, field, words) in cases {
        let (code, reason, message, fields) = refusal(
            crds.create(&PostParams::default(), &crd(schema))
                .await
                .expect_err(field),
        );
        assert_eq!((code, reason.as_str()), (422, "Invalid"), "{message}");
        let expected = format!(
            "CustomResourceDefinition.apiextensions.k8s.io \"widgets.{group}\" is invalid: {field}: {words}"
        );
        assert_eq!(message, expected);
        assert_eq!(fields, [field]);
    }
    // Untyped is fine where unknown fields are preserved, or the value is an int-or-string.
    let accepted = crd(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "free": {"x-kubernetes-preserve-unknown-fields": true},
        "port": {"x-kubernetes-int-or-string": true}}}}}),
    );
    crds.create(&PostParams::default(), &accepted)
        .await
        .unwrap();
    crds.delete(&format!("widgets.{group}"), &Default::default())
        .await
        .unwrap();
    cluster.cleanup().await;
}

#[tokio::test]
async fn custom_resources_violating_the_schema_are_refused_with_the_field_path() {
    let cluster = cluster("crd-invalid").await;
    let syncs = secret_syncs(&cluster);
    let create = |object: DynamicObject| {
        let syncs = syncs.clone();
        async move { syncs.create(&PostParams::default(), &object).await }
    };
    let name = "bad";
    let cases: Vec<(DynamicObject, &str, String)> = vec![
        (
            secret_sync(name, |b| b["spec"]["secretObject"]["data"][0]["targetKey"] = json!("a/b")),
            "spec.secretObject.data[0].targetKey",
            r#"Invalid value: "a/b": spec.secretObject.data[0].targetKey in body should match '^[A-Za-z0-9.]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?(\/([0-9]+))*$'"#.into(),
        ),
        (
            secret_sync(name, |b| {
                b["spec"].as_object_mut().unwrap().remove("serviceAccountName");
            }),
            "spec.serviceAccountName",
            "Required value".into(),
        ),
        (
            secret_sync(name, |b| b["spec"]["secretProviderClassName"] = json!("x".repeat(254))),
            "spec.secretProviderClassName",
            "Too long: may not be more than 253 bytes".into(),
        ),
        (
            secret_sync(name, |b| b["spec"]["secretObject"]["data"] = json!([])),
            "spec.secretObject.data",
            "Invalid value: 0: spec.secretObject.data in body should have at least 1 items".into(),
        ),
        (
            secret_sync(name, |b| b["spec"]["secretObject"]["data"][0]["sourcePath"] = json!(5)),
            "spec.secretObject.data[0].sourcePath",
            r#"Invalid value: "integer": spec.secretObject.data[0].sourcePath in body must be of type string: "integer""#.into(),
        ),
        (
            secret_sync(name, |b| {
                b["spec"]["secretObject"]["data"] = json!([
                    {"sourcePath": "a", "targetKey": "same"},
                    {"sourcePath": "b", "targetKey": "same"},
                ])
            }),
            "spec.secretObject.data[1]",
            r#"Duplicate value: {"targetKey":"same"}"#.into(),
        ),
    ];
    for (object, field, words) in cases {
        let (code, reason, message, fields) = refusal(create(object).await.expect_err(field));
        assert_eq!((code, reason.as_str()), (422, "Invalid"), "{message}");
        // After a type, required, enum or size violation the server skips the schema's CEL
        // rules, and says so.
        let blocking = [
            "Required",
            "Too long",
            "Too many",
            "Unsupported",
            "Invalid value: \"integer\"",
        ]
        .iter()
        .any(|w| words.starts_with(w));
        let expected = if blocking {
            format!("[{field}: {words}, {SKIPPED}]")
        } else {
            format!("{field}: {words}")
        };
        assert_eq!(
            message,
            format!("SecretSync.secret-sync.x-k8s.io \"{name}\" is invalid: {expected}")
        );
        assert_eq!(fields[0], field);
        assert_eq!(fields.len(), if blocking { 2 } else { 1 }, "{fields:?}");
    }
    // An enum, in the status subresource: a condition status other than True/False/Unknown.
    syncs
        .create(&PostParams::default(), &secret_sync("ok", |_| {}))
        .await
        .unwrap();
    let status = json!({"status": {"conditions": [{"type": "Create", "status": "Maybe", "reason": "CreateSucceeded",
        "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    let (code, _, message, fields) = refusal(
        syncs
            .patch_status("ok", &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(
        message.ends_with(&format!(r#"[status.conditions[0].status: Unsupported value: "Maybe": supported values: "True", "False", "Unknown", {SKIPPED}]"#)),
        "{message}"
    );
    assert_eq!(fields[0], "status.conditions[0].status");
    // A reason that is not CamelCase-ish.
    let mut bad_reason = status.clone();
    bad_reason["status"]["conditions"][0]["status"] = json!("True");
    bad_reason["status"]["conditions"][0]["reason"] = json!("not a reason");
    let (code, _, _, fields) = refusal(
        syncs
            .patch_status("ok", &PatchParams::default(), &Patch::Merge(&bad_reason))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, fields.as_slice()),
        (422, ["status.conditions[0].reason".to_string()].as_slice())
    );
    cluster.cleanup().await;
}

#[tokio::test]
async fn unknown_fields_are_pruned_and_defaults_applied() {
    let cluster = cluster("crd-prune").await;
    let syncs = secret_syncs(&cluster);
    let created = syncs
        .create(
            &PostParams::default(),
            &secret_sync("pruned", |b| {
                b["spec"]["unknownField"] = json!("dropped");
                b["spec"]["secretObject"]["data"][0]["extra"] = json!({"x": 1});
            }),
        )
        .await
        .unwrap();
    let spec = &created.data["spec"];
    assert!(spec.get("unknownField").is_none(), "{spec}");
    assert!(
        spec["secretObject"]["data"][0].get("extra").is_none(),
        "{spec}"
    );
    // Defaults from the schema.
    assert_eq!(spec["secretObject"]["type"], "Opaque");
    assert_eq!(spec["secretSyncControllerName"], "");
    let read = syncs.get("pruned").await.unwrap();
    assert_eq!(read.data["spec"], created.data["spec"]);

    // A merge patch adding an unknown field: dropped by default, refused when strict.
    let patch = json!({"spec": {"alsoUnknown": true}});
    let patched = syncs
        .patch("pruned", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert!(patched.data["spec"].get("alsoUnknown").is_none());
    assert_eq!(
        patched.resource_version(),
        created.resource_version(),
        "nothing changed"
    );
    let strict = PatchParams {
        field_validation: Some(ValidationDirective::Strict),
        ..Default::default()
    };
    let (code, reason, message, _) = refusal(
        syncs
            .patch("pruned", &strict, &Patch::Merge(&patch))
            .await
            .unwrap_err(),
    );
    // The real server's wording for a patched object: 422 naming `patch`.
    assert_eq!((code, reason.as_str()), (422, "Invalid"), "{message}");
    assert!(
        message.contains(r#"strict decoding error: unknown field "spec.alsoUnknown""#),
        "{message}"
    );
    cluster.cleanup().await;
}

#[tokio::test]
async fn every_served_version_reads_and_writes_the_same_objects() {
    let cluster = cluster("crd-versions").await;
    let v1 = provider_classes(&cluster, "v1");
    let v1alpha1 = provider_classes(&cluster, "v1alpha1");
    let body: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "secrets-store.csi.x-k8s.io/v1alpha1",
        "kind": "SecretProviderClass",
        "metadata": {"name": "old-style"},
        "spec": {"provider": "azure", "parameters": {"keyvaultName": "kv"}},
    }))
    .unwrap();
    let created = v1alpha1
        .create(&PostParams::default(), &body)
        .await
        .unwrap();
    assert_eq!(
        created.types.as_ref().unwrap().api_version,
        "secrets-store.csi.x-k8s.io/v1alpha1"
    );
    let read = v1.get("old-style").await.unwrap();
    assert_eq!(
        read.types.as_ref().unwrap().api_version,
        "secrets-store.csi.x-k8s.io/v1"
    );
    assert_eq!(read.data["spec"]["parameters"]["keyvaultName"], "kv");
    assert_eq!(read.uid(), created.uid());
    let patched = v1
        .patch(
            "old-style",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"parameters": {"tenantId": "t"}}})),
        )
        .await
        .unwrap();
    let listed = v1alpha1.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].data["spec"]["parameters"]["tenantId"], "t");
    assert_eq!(
        listed.items[0].resource_version(),
        patched.resource_version()
    );
    cluster.cleanup().await;
}

#[tokio::test]
async fn a_deprecated_version_warns_with_its_deprecation_warning() {
    let cluster = cluster("crd-deprecated").await;
    let path = format!(
        "/apis/secrets-store.csi.x-k8s.io/v1alpha1/namespaces/{}/secretproviderclasses",
        cluster.namespace()
    );
    let warnings = |path: String| {
        let client = cluster.client();
        async move {
            let request = http::Request::get(path).body(Vec::new()).unwrap();
            let response = client.send(request.map(Into::into)).await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            response
                .headers()
                .get_all("warning")
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        warnings(path.clone()).await,
        [
            r#"299 - "secrets-store.csi.x-k8s.io/v1alpha1 is deprecated. Use secrets-store.csi.x-k8s.io/v1 instead.""#
        ]
    );
    assert!(warnings(path.replace("v1alpha1", "v1")).await.is_empty());
    cluster.cleanup().await;
}

#[tokio::test]
async fn unknown_fields_are_reported_in_warnings() {
    let cluster = cluster("crd-warn").await;
    let body = serde_json::to_vec(&secret_sync("warned", |b| {
        b["spec"]["unknownField"] = json!(1);
        b["spec"]["secretObject"]["data"][0]["extra"] = json!(true);
    }))
    .unwrap();
    let request = http::Request::post(format!(
        "/apis/secret-sync.x-k8s.io/v1alpha1/namespaces/{}/secretsyncs",
        cluster.namespace()
    ))
    .header("content-type", "application/json")
    .body(body)
    .unwrap();
    let response = cluster
        .client()
        .send(request.map(Into::into))
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let mut warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    warnings.sort();
    assert_eq!(
        warnings,
        [
            r#"299 - "unknown field \"spec.secretObject.data[0].extra\"""#,
            r#"299 - "unknown field \"spec.unknownField\"""#,
        ]
    );
    cluster.cleanup().await;
}
