//! The Kubernetes API server stand-in, over HTTPS, with the behaviours keyway relies on.

use keyway_emulator::{Emulator, Jwks, Role};
use serde_json::{Value, json};

struct Kube {
    emulator: Emulator,
    http: reqwest::Client,
}

impl Kube {
    async fn new() -> Kube {
        let emulator = Emulator::start().await.unwrap();
        Kube {
            http: emulator.http_client().unwrap(),
            emulator,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Option<String>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.emulator.kubernetes_url()))
            .bearer_auth(self.emulator.kubernetes_token())
            .header("content-type", content_type);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        self.call(method, path, "application/json", Some(body.to_string()))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.json(reqwest::Method::POST, path, body).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, "application/json", None)
            .await
    }

    /// A JSON merge patch of `path`.
    async fn merge_patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(
            reqwest::Method::PATCH,
            path,
            "application/merge-patch+json",
            Some(body.to_string()),
        )
        .await
    }

    /// Opens a watch of the Secrets (`watch=true&` then `query`).
    async fn watch_secrets(&self, query: &str) -> reqwest::Response {
        self.http
            .get(format!(
                "{}{SECRETS}?watch=true&{query}",
                self.emulator.kubernetes_url()
            ))
            .bearer_auth(self.emulator.kubernetes_token())
            .send()
            .await
            .unwrap()
    }
}

const SECRETS: &str = "/api/v1/namespaces/default/secrets";

/// The `name` of each item of the array `list`.
fn names_in(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect()
}

fn secret(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "labels": labels}, "type": "Opaque", "data": {"a": "MQ=="}})
}

#[tokio::test]
async fn auth_and_discovery() {
    let k = Kube::new().await;
    let anonymous = k
        .http
        .get(format!("{}/api/v1/namespaces", k.emulator.kubernetes_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(
        (body["kind"].as_str(), body["reason"].as_str()),
        (Some("Status"), Some("Unauthorized"))
    );

    let (_, core) = k.get("/api/v1").await;
    let names = names_in(&core["resources"]);
    for want in [
        "namespaces",
        "secrets",
        "serviceaccounts",
        "serviceaccounts/token",
        "events",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let (_, groups) = k.get("/apis").await;
    let groups = names_in(&groups["groups"]);
    assert!(
        groups.contains(&"coordination.k8s.io") && groups.contains(&"apiextensions.k8s.io"),
        "{groups:?}"
    );
    assert_eq!(k.get("/version").await.1["major"], "1");
    assert!(
        k.emulator
            .kubeconfig()
            .contains(&k.emulator.kubernetes_url())
    );
}

#[tokio::test]
async fn create_get_list_conflicts_and_patches() {
    let k = Kube::new().await;
    let (status, created) = k.post(SECRETS, secret("one", json!({"app": "x"}))).await;
    assert_eq!(status, 201);
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        created["metadata"]["uid"].is_string()
            && created["metadata"]["creationTimestamp"].is_string()
    );
    let (status, dup) = k.post(SECRETS, secret("one", json!({}))).await;
    assert_eq!(
        (status, dup["reason"].as_str(), dup["code"].as_u64()),
        (409, Some("AlreadyExists"), Some(409))
    );
    k.post(SECRETS, secret("two", json!({"app": "y"}))).await;

    let (_, list) = k.get(&format!("{SECRETS}?labelSelector=app%3Dx")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["kind"], "SecretList");
    let (_, by_name) = k
        .get(&format!("{SECRETS}?fieldSelector=metadata.name%3Dtwo"))
        .await;
    assert_eq!(by_name["items"][0]["metadata"]["name"], "two");
    let (status, missing) = k.get(&format!("{SECRETS}/nope")).await;
    assert_eq!(
        (status, missing["reason"].as_str()),
        (404, Some("NotFound"))
    );

    // A stale resourceVersion is a conflict; the current one replaces.
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["data"] = json!({"a": "Mg=="});
    let (status, conflict) = k
        .json(reqwest::Method::PUT, &format!("{SECRETS}/one"), stale)
        .await;
    assert_eq!(
        (status, conflict["reason"].as_str()),
        (409, Some("Conflict"))
    );
    let mut fresh = created.clone();
    fresh["data"] = json!({"a": "Mg=="});
    let (status, replaced) = k
        .json(reqwest::Method::PUT, &format!("{SECRETS}/one"), fresh)
        .await;
    assert_eq!(status, 200);
    assert_ne!(
        replaced["metadata"]["resourceVersion"].as_str().unwrap(),
        rv
    );

    let (_, merged) = k
        .merge_patch(&format!("{SECRETS}/one"), json!({"data": {"b": "Mw=="}}))
        .await;
    assert_eq!(merged["data"], json!({"a": "Mg==", "b": "Mw=="}));
    let (_, patched) = k
        .call(
            reqwest::Method::PATCH,
            &format!("{SECRETS}/one"),
            "application/json-patch+json",
            Some(json!([{"op": "remove", "path": "/data/a"}]).to_string()),
        )
        .await;
    assert_eq!(patched["data"], json!({"b": "Mw=="}));

    // Server-side apply creates and updates, recording the field manager.
    let apply = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: applied\n  labels: {secrets-store.sync.x-k8s.io: \"\"}\ndata:\n  k: MQ==\n";
    let (status, applied) = k
        .call(
            reqwest::Method::PATCH,
            &format!("{SECRETS}/applied?fieldManager=keyway&force=true"),
            "application/apply-patch+yaml",
            Some(apply.into()),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(applied["metadata"]["managedFields"][0]["manager"], "keyway");
    let (status, again) = k
        .call(
            reqwest::Method::PATCH,
            &format!("{SECRETS}/applied?fieldManager=keyway"),
            "application/apply-patch+yaml",
            Some(apply.replace("MQ==", "Mg==")),
        )
        .await;
    assert_eq!((status, again["data"]["k"].as_str()), (200, Some("Mg==")));

    let (status, nowhere) = k
        .post("/api/v1/namespaces/absent/secrets", secret("x", json!({})))
        .await;
    assert_eq!(
        (status, nowhere["reason"].as_str()),
        (404, Some("NotFound"))
    );
}

#[tokio::test]
async fn token_requests_mint_tokens_entra_accepts() {
    let k = Kube::new().await;
    let (status, _) = k
        .post(
            "/api/v1/namespaces/default/serviceaccounts",
            json!({"metadata": {"name": "sync"}}),
        )
        .await;
    assert_eq!(status, 201);
    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"audiences": ["api://AzureADTokenExchange"], "expirationSeconds": 600}});
    let (status, answer) = k
        .post(
            "/api/v1/namespaces/default/serviceaccounts/sync/token",
            request.clone(),
        )
        .await;
    assert_eq!(status, 201);
    let token = answer["status"]["token"].as_str().unwrap().to_string();
    assert!(answer["status"]["expirationTimestamp"].is_string());

    // The emulated issuer signed it, and Entra exchanges it for a Key Vault token.
    let claims: Value = Jwks {
        keys: k.emulator.issuer_jwks().keys,
    }
    .verify_signature(&token)
    .unwrap();
    assert_eq!(claims["sub"], "system:serviceaccount:default:sync");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    let tenant = k.emulator.add_tenant(None);
    let app = k
        .emulator
        .add_workload_identity(&tenant, "sync", "default", "sync")
        .unwrap();
    let vault = k.emulator.add_vault(&tenant, "kube-vault").await.unwrap();
    vault.grant(&app, Role::SecretsUser);
    let (status, _) = k
        .emulator
        .request_token(
            &tenant,
            &app.client_id,
            "https://vault.azure.net/.default",
            &token,
        )
        .await
        .unwrap();
    assert_eq!(status, 200);

    // Lifetimes: at least 10 minutes, at most the server's maximum.
    let mut short = request.clone();
    short["spec"]["expirationSeconds"] = json!(60);
    assert_eq!(
        k.post(
            "/api/v1/namespaces/default/serviceaccounts/sync/token",
            short
        )
        .await
        .0,
        422
    );
    let mut long = request;
    long["spec"]["expirationSeconds"] = json!(10 * 86_400);
    let (_, capped) = k
        .post(
            "/api/v1/namespaces/default/serviceaccounts/sync/token",
            long,
        )
        .await;
    assert_eq!(capped["spec"]["expirationSeconds"], 86_400);
    let (status, _) = k
        .post(
            "/api/v1/namespaces/default/serviceaccounts/ghost/token",
            json!({"spec": {}}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn custom_resources_status_generation_and_garbage_collection() {
    let k = Kube::new().await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "secretsyncs.secret-sync.x-k8s.io"},
        "spec": {
            "group": "secret-sync.x-k8s.io",
            "names": {"kind": "SecretSync", "plural": "secretsyncs"},
            "scope": "Namespaced",
            "versions": [{"name": "v1alpha1", "served": true, "storage": true, "subresources": {"status": {}}, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    });
    assert_eq!(
        k.post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            crd
        )
        .await
        .0,
        201
    );
    let base = "/apis/secret-sync.x-k8s.io/v1alpha1/namespaces/default/secretsyncs";
    let (status, created) = k
        .post(base, json!({"apiVersion": "secret-sync.x-k8s.io/v1alpha1", "kind": "SecretSync", "metadata": {"name": "app"}, "spec": {"serviceAccountName": "sync"}}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(created["metadata"]["generation"], 1);

    // Status through the subresource does not move the generation; a spec change does.
    let (_, with_status) = k
        .merge_patch(
            &format!("{base}/app/status"),
            json!({"status": {"syncHash": "abc"}}),
        )
        .await;
    assert_eq!(
        (
            with_status["status"]["syncHash"].as_str(),
            with_status["metadata"]["generation"].as_i64()
        ),
        (Some("abc"), Some(1))
    );
    let (_, respec) = k
        .merge_patch(
            &format!("{base}/app"),
            json!({"spec": {"serviceAccountName": "other"}, "status": {"syncHash": "ignored"}}),
        )
        .await;
    assert_eq!(
        (
            respec["metadata"]["generation"].as_i64(),
            respec["status"]["syncHash"].as_str()
        ),
        (Some(2), Some("abc"))
    );

    // A Secret owned by the SecretSync goes when the SecretSync goes.
    let uid = created["metadata"]["uid"].clone();
    let mut owned = secret("app", json!({}));
    owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "secret-sync.x-k8s.io/v1alpha1", "kind": "SecretSync", "name": "app", "uid": uid}]);
    assert_eq!(k.post(SECRETS, owned).await.0, 201);
    assert_eq!(
        k.call(
            reqwest::Method::DELETE,
            &format!("{base}/app"),
            "application/json",
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        k.get(&format!("{SECRETS}/app")).await.0,
        404,
        "garbage-collected with its owner"
    );
}

#[tokio::test]
async fn watches_stream_changes_bookmarks_and_410_after_compaction() {
    use futures::StreamExt;
    let k = Kube::new().await;
    let (_, first) = k.post(SECRETS, secret("w1", json!({"watch": "me"}))).await;
    let since = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let response = k
        .watch_secrets(&format!(
            "resourceVersion={since}&labelSelector=watch%3Dme&allowWatchBookmarks=true&timeoutSeconds=8"
        ))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let mut stream = response.bytes_stream();
    k.post(SECRETS, secret("w2", json!({"watch": "me"}))).await;
    k.post(SECRETS, secret("other", json!({}))).await;
    k.merge_patch(&format!("{SECRETS}/w2"), json!({"data": {"x": "eA=="}}))
        .await;
    k.call(
        reqwest::Method::DELETE,
        &format!("{SECRETS}/w1"),
        "application/json",
        None,
    )
    .await;

    let mut seen = Vec::new();
    let mut buffer = String::new();
    while seen.len() < 4 {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find('\n') {
            let event: Value = serde_json::from_str(&buffer[..end]).unwrap();
            buffer.drain(..=end);
            seen.push(format!(
                "{} {}",
                event["type"].as_str().unwrap(),
                event["object"]["metadata"]["name"].as_str().unwrap_or("-")
            ));
        }
    }
    assert_eq!(
        &seen[..3],
        ["ADDED w2", "MODIFIED w2", "DELETED w1"],
        "the unlabelled Secret is filtered out"
    );
    assert!(seen[3].starts_with("BOOKMARK"), "{seen:?}");

    // After compaction, an old resourceVersion is gone: the client must list again.
    k.emulator.compact_kubernetes_history();
    let text = k
        .watch_secrets(&format!("resourceVersion={since}"))
        .await
        .text()
        .await
        .unwrap();
    let event: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["object"]["code"].as_u64()),
        (Some("ERROR"), Some(410))
    );
}

#[tokio::test]
async fn an_unchanged_kube_client_lists_and_watches() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{PostParams, WatchEvent, WatchParams};
    let k = Kube::new().await;
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&k.emulator.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let secrets: kube::Api<Secret> = kube::Api::namespaced(client, "default");
    let listed = secrets.list(&Default::default()).await.unwrap();
    let rv = listed.metadata.resource_version.clone().unwrap();
    let mut stream = secrets
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    let mut new = Secret::default();
    new.metadata.name = Some("from-kube".into());
    secrets.create(&PostParams::default(), &new).await.unwrap();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Added(s) => assert_eq!(s.metadata.name.as_deref(), Some("from-kube")),
        other => panic!("expected Added, got {other:?}"),
    }
}
