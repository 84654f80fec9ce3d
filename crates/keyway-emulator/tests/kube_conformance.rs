//! The Kubernetes API stand-in held to the real server: every assertion here runs against the
//! stand-in by default and, when `KEYWAY_TEST_KUBECONFIG` names a kubeconfig, against that real
//! cluster instead (in a fresh namespace that is deleted afterwards), unchanged.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use keyway_emulator::testing::TestCluster;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

/// The cluster under test, and typed access to its test namespace.
struct Cluster(TestCluster);

async fn cluster(test: &str) -> Cluster {
    Cluster(TestCluster::start(test).await.unwrap())
}

impl Cluster {
    fn client(&self) -> Client {
        self.0.client()
    }

    fn namespace(&self) -> String {
        self.0.namespace().to_string()
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client(), self.0.namespace())
    }

    async fn cleanup(self) {
        self.0.cleanup().await;
    }
}

fn secret(name: &str, labels: &[(&str, &str)]) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    s.data = Some(BTreeMap::from([(
        "a".to_string(),
        k8s_openapi::ByteString(b"1".to_vec()),
    )]));
    s
}

fn api_status(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn create_get_list_and_their_errors() {
    let c = cluster("crud").await;
    let secrets = c.secrets();
    let created = secrets
        .create(&PostParams::default(), &secret("one", &[("app", "x")]))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    assert_eq!(
        api_status(
            secrets
                .create(&PostParams::default(), &secret("one", &[]))
                .await
                .unwrap_err()
        ),
        (409, "AlreadyExists".into())
    );
    secrets
        .create(&PostParams::default(), &secret("two", &[("app", "y")]))
        .await
        .unwrap();
    assert_eq!(
        api_status(secrets.get("missing").await.unwrap_err()),
        (404, "NotFound".into())
    );
    let labelled = secrets
        .list(&ListParams::default().labels("app=x"))
        .await
        .unwrap();
    assert_eq!(
        labelled
            .items
            .iter()
            .map(|s| s.name_any())
            .collect::<Vec<_>>(),
        ["one"]
    );
    let named = secrets
        .list(&ListParams::default().fields("metadata.name=two"))
        .await
        .unwrap();
    assert_eq!(named.items.len(), 1);
    c.cleanup().await;
}

#[tokio::test]
async fn stale_replaces_conflict_and_patches_apply() {
    let c = cluster("patch").await;
    let secrets = c.secrets();
    let created = secrets
        .create(&PostParams::default(), &secret("s", &[]))
        .await
        .unwrap();
    let mut current = secrets.get("s").await.unwrap();
    current
        .data
        .as_mut()
        .unwrap()
        .insert("b".into(), k8s_openapi::ByteString(b"2".to_vec()));
    secrets
        .replace("s", &PostParams::default(), &current)
        .await
        .unwrap();
    let mut stale = created.clone();
    stale
        .data
        .as_mut()
        .unwrap()
        .insert("c".into(), k8s_openapi::ByteString(b"3".to_vec()));
    assert_eq!(
        api_status(
            secrets
                .replace("s", &PostParams::default(), &stale)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );

    let merged = secrets
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"merged": "yes"}}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.labels()["merged"], "yes");
    let json_patch: json_patch::Patch =
        serde_json::from_value(json!([{"op": "remove", "path": "/data/b"}])).unwrap();
    let patched = secrets
        .patch("s", &PatchParams::default(), &Patch::Json::<()>(json_patch))
        .await
        .unwrap();
    assert!(!patched.data.unwrap().contains_key("b"));

    let applied = secrets
        .patch(
            "applied",
            &PatchParams::apply("keyway").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "applied"}, "stringData": {}, "data": {"k": "MQ=="}})),
        )
        .await
        .unwrap();
    let managers: Vec<String> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"keyway".to_string()), "{managers:?}");
    c.cleanup().await;
}

#[tokio::test]
async fn watches_see_changes_and_garbage_collection_follows_owners() {
    let c = cluster("watch").await;
    let secrets = c.secrets();
    let owner = secrets
        .create(&PostParams::default(), &secret("owner", &[]))
        .await
        .unwrap();
    let rv = secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = secrets
        .watch(&WatchParams::default().timeout(20), &rv)
        .await
        .unwrap()
        .boxed();
    let mut owned = secret("owned", &[]);
    owned.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "Secret".into(),
        name: "owner".into(),
        uid: owner.uid().unwrap(),
        ..Default::default()
    }]);
    secrets
        .create(&PostParams::default(), &owned)
        .await
        .unwrap();
    match events.try_next().await.unwrap().unwrap() {
        WatchEvent::Added(s) => assert_eq!(s.name_any(), "owned"),
        other => panic!("expected Added, got {other:?}"),
    }
    secrets
        .delete("owner", &DeleteParams::default())
        .await
        .unwrap();
    // The real garbage collector works asynchronously: allow it a while.
    let mut gone = false;
    for _ in 0..60 {
        if secrets.get_opt("owned").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(gone, "an object is garbage-collected with its owner");
    c.cleanup().await;
}

#[tokio::test]
async fn token_requests_honour_audience_and_expiration() {
    let c = cluster("token").await;
    let accounts: Api<ServiceAccount> = Api::namespaced(c.client(), &c.namespace());
    let mut account = ServiceAccount::default();
    account.metadata.name = Some("sync".into());
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec!["api://AzureADTokenExchange".into()],
            expiration_seconds: Some(600),
            bound_object_ref: None,
        },
        ..Default::default()
    };
    let answer = accounts
        .create_token_request("sync", &PostParams::default(), &request)
        .await
        .unwrap();
    let token = answer.status.unwrap().token;
    let claims = keyway_identity_claims(&token);
    assert_eq!(claims["aud"][0], "api://AzureADTokenExchange");
    assert_eq!(
        claims["sub"],
        format!("system:serviceaccount:{}:sync", c.namespace())
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert_eq!(
        api_status(
            accounts
                .create_token_request("ghost", &PostParams::default(), &request)
                .await
                .unwrap_err()
        )
        .0,
        404
    );
    c.cleanup().await;
}

fn keyway_identity_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn server_side_apply_conflicts_between_managers() {
    let c = cluster("apply").await;
    let secrets = c.secrets();
    let body = |value: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shared"}, "data": {"x": value}});
    secrets
        .patch(
            "shared",
            &PatchParams::apply("first"),
            &Patch::Apply(body("MQ==")),
        )
        .await
        .unwrap();
    let err = secrets
        .patch(
            "shared",
            &PatchParams::apply("second"),
            &Patch::Apply(body("Mg==")),
        )
        .await
        .unwrap_err();
    assert_eq!(
        api_status(err).0,
        409,
        "another manager's field with another value is a conflict"
    );
    let forced = secrets
        .patch(
            "shared",
            &PatchParams::apply("second").force(),
            &Patch::Apply(body("Mg==")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["x"].0, b"2");
    c.cleanup().await;
}

#[tokio::test]
async fn updates_own_fields_and_string_data_becomes_data() {
    let c = cluster("update").await;
    let secrets = c.secrets();
    let mut created = secret("made", &[]);
    created.string_data = Some(BTreeMap::from([("text".to_string(), "hi".to_string())]));
    let created = secrets
        .create(
            &PostParams {
                field_manager: Some("creator".into()),
                ..PostParams::default()
            },
            &created,
        )
        .await
        .unwrap();
    // stringData is write-only: folded into data, never stored.
    assert_eq!(created.data.as_ref().unwrap()["text"].0, b"hi");
    assert!(created.string_data.is_none());
    let creator = created
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("creator"))
        .expect("the creator is recorded as a manager");
    assert_eq!(creator.operation.as_deref(), Some("Update"));

    // Applying another value over a field the creator set conflicts with the creator...
    let apply = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "made"}, "data": {"a": "OQ=="}});
    let err = secrets
        .patch(
            "made",
            &PatchParams::apply("keyway"),
            &Patch::Apply(apply.clone()),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected a conflict")
    };
    assert_eq!(status.code, 409);
    assert!(status.message.contains("creator"), "{}", status.message);
    // ...until forced; a no-op replace then changes nothing (same resourceVersion).
    let forced = secrets
        .patch(
            "made",
            &PatchParams::apply("keyway").force(),
            &Patch::Apply(apply),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["a"].0, b"9");
    let same = secrets
        .replace("made", &PostParams::default(), &forced)
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version,
        forced.metadata.resource_version
    );
    c.cleanup().await;
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents() {
    let c = cluster("nsdelete").await;
    let secrets = c.secrets();
    secrets
        .create(&PostParams::default(), &secret("inside", &[]))
        .await
        .unwrap();
    let mut sa = ServiceAccount::default();
    sa.metadata.name = Some("inside".into());
    Api::<ServiceAccount>::namespaced(c.client(), &c.namespace())
        .create(&PostParams::default(), &sa)
        .await
        .unwrap();
    let namespaces = Api::<Namespace>::all(c.client());
    namespaces
        .delete(&c.namespace(), &DeleteParams::default())
        .await
        .unwrap();
    // The real server terminates a namespace asynchronously: wait for it to go.
    let mut gone = false;
    for _ in 0..120 {
        if namespaces.get_opt(&c.namespace()).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(gone, "the namespace was not deleted within a minute");
    assert!(secrets.get_opt("inside").await.unwrap().is_none());
    let err = secrets
        .create(&PostParams::default(), &secret("after", &[]))
        .await
        .unwrap_err();
    assert_eq!(api_status(err).0, 404, "no creation in a deleted namespace");
}

/// A Secret applied by `manager` with `body` merged into its top level (name `name`).
async fn apply_secret(
    secrets: &Api<Secret>,
    name: &str,
    manager: &str,
    force: bool,
    body: serde_json::Value,
) -> Result<Secret, kube::Error> {
    let mut object = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}});
    // Set, not merged: a null in `body` is sent as null.
    for (key, value) in body.as_object().cloned().unwrap_or_default() {
        match value {
            serde_json::Value::Object(fields) if key == "metadata" => {
                for (field, value) in fields {
                    object["metadata"][field] = value;
                }
            }
            value => object[key] = value,
        }
    }
    let params = PatchParams::apply(manager);
    let params = if force { params.force() } else { params };
    secrets.patch(name, &params, &Patch::Apply(object)).await
}

/// A Secret's data as text, key by key (absent data is empty).
fn data_of(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect()
}

/// What each manager owns (`fieldsV1`), by manager.
fn owners(secret: &Secret) -> BTreeMap<String, serde_json::Value> {
    secret
        .metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.fields_v1.map(|f| f.0).unwrap_or_default(),
            )
        })
        .collect()
}

fn text(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn applying_keys_over_an_applied_empty_map_keeps_them() {
    let c = cluster("emptymap").await;
    let secrets = c.secrets();
    // One manager: `data: {}`, then `data: {a}` — the key is kept (the stand-in used to drop
    // all of data, because `data` itself was no longer applied).
    let empty = apply_secret(&secrets, "one", "m", false, json!({"data": {}}))
        .await
        .unwrap();
    assert!(data_of(&empty).is_empty());
    assert!(empty.data.is_none(), "an empty data map is not stored");
    assert_eq!(owners(&empty)["m"], json!({"f:data": {}}));
    let filled = apply_secret(&secrets, "one", "m", false, json!({"data": {"a": "MQ=="}}))
        .await
        .unwrap();
    assert_eq!(data_of(&filled), text(&[("a", "1")]));
    assert_eq!(owners(&filled)["m"], json!({"f:data": {"f:a": {}}}));
    assert_eq!(
        data_of(&secrets.get("one").await.unwrap()),
        text(&[("a", "1")])
    );
    // ...and back to `data: {}`: the key goes, the manager owns the empty map again.
    let emptied = apply_secret(&secrets, "one", "m", false, json!({"data": {}}))
        .await
        .unwrap();
    assert!(emptied.data.is_none());
    assert_eq!(owners(&emptied)["m"], json!({"f:data": {}}));

    // The same for labels (a granular map in metadata).
    apply_secret(
        &secrets,
        "labelled",
        "m",
        false,
        json!({"metadata": {"labels": {}}, "data": {"k": "MQ=="}}),
    )
    .await
    .unwrap();
    let labelled = apply_secret(
        &secrets,
        "labelled",
        "m",
        false,
        json!({"metadata": {"labels": {"x": "y"}}, "data": {"k": "MQ=="}}),
    )
    .await
    .unwrap();
    assert_eq!(labelled.labels()["x"], "y");
    assert_eq!(data_of(&labelled), text(&[("k", "1")]));
    c.cleanup().await;
}

#[tokio::test]
async fn an_applied_empty_map_is_owned_as_a_whole_by_its_manager() {
    let c = cluster("emptymap2").await;
    let secrets = c.secrets();
    // m1 owns the (unstored) empty data: m2 adding a key, or applying `data: {}` itself,
    // conflicts on `.data`, as on the real server.
    apply_secret(
        &secrets,
        "two",
        "m1",
        false,
        json!({"metadata": {"labels": {}}, "data": {}}),
    )
    .await
    .unwrap();
    for body in [
        json!({"data": {"a": "MQ=="}}),
        json!({"data": {}}),
        json!({"metadata": {"labels": {"x": "y"}}}),
    ] {
        let err = apply_secret(&secrets, "two", "m2", false, body.clone())
            .await
            .unwrap_err();
        let kube::Error::Api(status) = err else {
            panic!("expected a conflict for {body}")
        };
        assert_eq!(status.code, 409, "{body}: {}", status.message);
        assert!(status.message.contains("\"m1\""), "{}", status.message);
    }
    // Forced, the key is written and m1 loses the map.
    let forced = apply_secret(&secrets, "two", "m2", true, json!({"data": {"a": "MQ=="}}))
        .await
        .unwrap();
    assert_eq!(data_of(&forced), text(&[("a", "1")]));
    assert_eq!(owners(&forced)["m2"], json!({"f:data": {"f:a": {}}}));
    assert!(
        owners(&forced)
            .get("m1")
            .is_none_or(|f| f.get("f:data").is_none()),
        "{:?}",
        owners(&forced)
    );
    // m1 now adds b beside m2's a (no conflict: data is not empty), then stops applying b.
    let both = apply_secret(&secrets, "two", "m1", false, json!({"data": {"b": "Mg=="}}))
        .await
        .unwrap();
    assert_eq!(data_of(&both), text(&[("a", "1"), ("b", "2")]));
    let back = apply_secret(&secrets, "two", "m1", false, json!({"data": {}}))
        .await
        .unwrap();
    assert_eq!(data_of(&back), text(&[("a", "1")]));
    assert_eq!(owners(&back)["m1"], json!({"f:data": {}}));
    assert_eq!(owners(&back)["m2"], json!({"f:data": {"f:a": {}}}));

    // stringData is owned as stringData: keys a manager stops applying stay in data.
    apply_secret(
        &secrets,
        "strings",
        "m",
        false,
        json!({"stringData": {"a": "1"}}),
    )
    .await
    .unwrap();
    let strings = apply_secret(
        &secrets,
        "strings",
        "m",
        false,
        json!({"stringData": {"b": "2"}}),
    )
    .await
    .unwrap();
    assert_eq!(data_of(&strings), text(&[("a", "1"), ("b", "2")]));
    assert_eq!(owners(&strings)["m"], json!({"f:stringData": {"f:b": {}}}));
    c.cleanup().await;
}

#[tokio::test]
async fn an_applied_null_claims_a_map_without_clearing_what_others_own() {
    let c = cluster("applynull").await;
    let secrets = c.secrets();
    // Another manager's `data: null` leaves m1's keys (the stand-in used to merge-delete data).
    apply_secret(
        &secrets,
        "shared",
        "m1",
        false,
        json!({"data": {"a": "MQ=="}}),
    )
    .await
    .unwrap();
    let nulled = apply_secret(&secrets, "shared", "m2", false, json!({"data": null}))
        .await
        .unwrap();
    assert_eq!(data_of(&nulled), text(&[("a", "1")]));
    assert_eq!(owners(&nulled)["m2"], json!({"f:data": {}}));
    assert_eq!(owners(&nulled)["m1"], json!({"f:data": {"f:a": {}}}));
    // The same manager going from `data: {a}` to `data: null` drops a: it stopped applying it.
    apply_secret(&secrets, "own", "m", false, json!({"data": {"a": "MQ=="}}))
        .await
        .unwrap();
    let own = apply_secret(&secrets, "own", "m", false, json!({"data": null}))
        .await
        .unwrap();
    assert!(own.data.is_none(), "{:?}", data_of(&own));
    assert_eq!(owners(&own)["m"], json!({"f:data": {}}));
    c.cleanup().await;
}

/// An `events.k8s.io/v1` Event (as the controller's recorder writes them).
fn new_event(name: &str, namespace: &str, regarding: &str) -> k8s_openapi::api::events::v1::Event {
    serde_json::from_value(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "type": "Normal", "reason": "Synced", "action": "Sync",
        "note": format!("synced {regarding}"),
        "regarding": {"apiVersion": "v1", "kind": "Secret", "name": regarding, "namespace": namespace},
        "reportingController": "keyway.dev/controller", "reportingInstance": "keyway-0",
    }))
    .unwrap()
}

/// A real API server serves one Event resource through two groups: an Event written through
/// `events.k8s.io/v1` is read, listed (with core field selectors) and watched through core
/// `v1` (`kubectl get events`), its fields mapped (`note` → `message`, `regarding` →
/// `involvedObject`, `reportingController` → `reportingComponent`).
#[tokio::test]
async fn events_written_through_events_k8s_io_are_served_through_core_v1() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use k8s_openapi::api::events::v1::Event;
    let c = cluster("events").await;
    let ns = c.namespace();
    let written: Api<Event> = Api::namespaced(c.client(), &ns);
    let core: Api<CoreEvent> = Api::namespaced(c.client(), &ns);
    written
        .create(&PostParams::default(), &new_event("first", &ns, "app"))
        .await
        .unwrap();

    let read = core.get("first").await.unwrap();
    assert_eq!(read.message.as_deref(), Some("synced app"));
    assert_eq!(read.reason.as_deref(), Some("Synced"));
    assert_eq!(read.type_.as_deref(), Some("Normal"));
    assert_eq!(read.action.as_deref(), Some("Sync"));
    assert_eq!(read.involved_object.kind.as_deref(), Some("Secret"));
    assert_eq!(read.involved_object.name.as_deref(), Some("app"));
    assert_eq!(
        read.reporting_component.as_deref(),
        Some("keyway.dev/controller")
    );
    assert_eq!(read.reporting_instance.as_deref(), Some("keyway-0"));
    assert!(read.event_time.is_some());

    let names = |list: kube::core::ObjectList<CoreEvent>| -> Vec<String> {
        list.items.iter().map(|e| e.name_any()).collect()
    };
    assert_eq!(
        names(core.list(&ListParams::default()).await.unwrap()),
        ["first"]
    );
    let selected = ListParams::default().fields("involvedObject.name=app");
    assert_eq!(names(core.list(&selected).await.unwrap()), ["first"]);
    let other = ListParams::default().fields("involvedObject.name=other");
    assert!(core.list(&other).await.unwrap().items.is_empty());
    let everywhere: Api<CoreEvent> = Api::all(c.client());
    let all = everywhere.list(&selected).await.unwrap();
    assert!(
        all.items
            .iter()
            .any(|e| e.name_any() == "first" && e.namespace().as_deref() == Some(ns.as_str()))
    );

    // The server ends a watch after its timeout: long enough that a loaded machine's delay
    // before the second Event is written cannot close it first.
    let mut watched = core
        .watch(&WatchParams::default().timeout(290), "0")
        .await
        .unwrap()
        .boxed();
    match watched.try_next().await.unwrap().unwrap() {
        WatchEvent::Added(e) => assert_eq!(e.name_any(), "first"),
        other => panic!("expected Added, got {other:?}"),
    }
    written
        .create(&PostParams::default(), &new_event("second", &ns, "web"))
        .await
        .unwrap();
    loop {
        match watched.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(e) => {
                assert_eq!(e.name_any(), "second");
                assert_eq!(e.message.as_deref(), Some("synced web"));
                assert_eq!(e.involved_object.name.as_deref(), Some("web"));
                break;
            }
            WatchEvent::Bookmark(_) => continue,
            other => panic!("expected Added, got {other:?}"),
        }
    }
    c.cleanup().await;
}
