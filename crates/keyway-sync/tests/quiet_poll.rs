//! A quiet poll costs the API server nothing: once every SecretSync is synced and its status
//! settled, polls whose vault answers are unchanged make no API-server read (no GET, no LIST —
//! the controller reads SecretSyncs, SecretProviderClasses and its Secrets from watch-fed
//! caches) and no write (no status patch, no Event, no Secret apply, no TokenRequest while the
//! Entra token lasts). Watches are the only requests, and they stay open.
//!
//! Counted at the Kubernetes stand-in by verb and resource (`Counters::kubernetes_requests`),
//! and by the controller itself (`keyway_apiserver_requests_total`), never timed. The controller runs without leader election: renewing the Lease is a write
//! every few seconds by design, which this test does not count. On a real cluster
//! (`KEYWAY_TEST_KUBECONFIG`) the stand-in counts nothing: the test still runs the polls, checks
//! the controller's own counts and that the SecretSyncs stay synced, and skips only the
//! stand-in's count assertions.
//!
//! The class store itself: a class created after its SecretSync, and one deleted, are seen
//! through the class watch.

use k8s_openapi::api::core::v1::Secret;
use keyway_emulator::Service;
use keyway_sync::controller::Controller;
use keyway_sync::{SecretProviderClass, SecretSync};
use kube::Api;
use kube::api::{DeleteParams, PostParams};

mod support;
use support::{Fixture, condition, eventually, fixture, provider_class, secret_sync_of, spawn};

/// The SecretSyncs the test syncs: the fixture's `app` and these, all naming the class `vault`.
const MORE: [&str; 3] = ["app-2", "app-3", "app-4"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_poll_makes_no_api_server_read_and_no_write() {
    let Fixture {
        cluster, options, ..
    } = fixture("quiet-poll").await;
    let (emulator, client, ns) = (cluster.emulator(), cluster.client(), cluster.namespace());
    let syncs: Api<SecretSync> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for name in MORE {
        syncs
            .create(
                &PostParams::default(),
                &secret_sync_of(
                    name,
                    "vault",
                    "sync",
                    "Opaque",
                    &[("db-password", "password")],
                    &[],
                ),
            )
            .await
            .unwrap();
    }
    let names: Vec<&str> = std::iter::once("app").chain(MORE).collect();
    let running = spawn(Controller::new(client.clone(), options), None);
    let metrics = running.metrics.clone();

    // Synced, and settled: the first poll after the Create records the Update condition; from
    // then on an unchanged vault leaves the status alone.
    for name in &names {
        eventually(&format!("{name} synced and settled"), || async {
            let sync = syncs.get(name).await.unwrap();
            let secret = secrets.get_opt(name).await.unwrap()?;
            (secret.data?.get("password")?.0 == b"first"
                && condition(&sync, "Create").is_some_and(|(s, _)| s == "True")
                && condition(&sync, "Update")
                    == Some(("True".into(), "UpdateNoValueChangeSucceeded".into())))
            .then_some(())
        })
        .await;
    }

    // From here the test makes no API call of its own until the counts are read: every request
    // the stand-in counts is the controller's.
    emulator.counters().reset();
    // The controller's own count of its requests (`keyway_apiserver_requests_total`), which
    // works on a real cluster too.
    let counted = || {
        metrics
            .api_requests()
            .into_iter()
            .filter(|(verb, _)| *verb != "watch")
            .collect::<Vec<_>>()
    };
    let counted_before = counted();
    let reconciles = || metrics.reconciles().iter().map(|(_, n)| n).sum::<u64>();
    let before = reconciles();
    // Two whole polls: each starts with one listing of the vault, and reconciles every
    // SecretSync. The third listing starts a third poll, so the first two are over.
    eventually("two more polls", || async {
        (emulator.counters().count(Service::KeyVault, "GetSecrets") >= 3
            && reconciles() >= before + 2 * names.len() as u64)
            .then_some(())
    })
    .await;
    let requests = emulator.counters().kubernetes_requests();
    let polled = reconciles() - before;
    eprintln!(
        "{polled} reconciles over the quiet polls; Kubernetes requests: {:?}",
        requests
            .iter()
            .map(|r| format!("{} {} {} -> {}", r.count, r.verb, r.resource, r.status))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        counted(),
        counted_before,
        "the controller counted reads or writes over the quiet polls"
    );
    let total = |verb: &str| {
        metrics
            .api_requests()
            .into_iter()
            .filter(|(v, _)| *v == verb)
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    // Before the quiet polls: three watches (SecretSyncs, their Secrets, the classes), each
    // listed first; a status patch per SecretSync at least.
    assert!(
        total("watch") >= 3 && total("list") >= 3,
        "{:?}",
        metrics.api_requests()
    );
    assert!(
        total("patch") >= names.len() as u64,
        "{:?}",
        metrics.api_requests()
    );
    assert!(total("get") == 0, "{:?}", metrics.api_requests());
    assert!(
        metrics
            .render()
            .contains("keyway_apiserver_requests_total{verb=\"watch\"}"),
        "{}",
        metrics.render()
    );
    if cluster.is_real() {
        eprintln!("a real cluster's requests are not counted here; the count checks are skipped");
    } else {
        let reads: Vec<_> = requests
            .iter()
            .filter(|r| matches!(r.verb.as_str(), "get" | "list"))
            .collect();
        let writes: Vec<_> = requests
            .iter()
            .filter(|r| {
                matches!(
                    r.verb.as_str(),
                    "create" | "update" | "patch" | "delete" | "deletecollection"
                )
            })
            .collect();
        assert!(
            reads.is_empty(),
            "a quiet poll reads from the API server: {reads:?}"
        );
        assert!(
            writes.is_empty(),
            "a quiet poll writes to the API server: {writes:?}"
        );
        assert!(
            requests.iter().all(|r| r.verb == "watch"),
            "only watches: {requests:?}"
        );
    }

    // Still synced, still settled.
    for name in &names {
        let sync = syncs.get(name).await.unwrap();
        assert_eq!(
            condition(&sync, "Update"),
            Some(("True".into(), "UpdateNoValueChangeSucceeded".into())),
            "{name}"
        );
    }
    running.stop().await;
    cluster.cleanup().await;
}

/// The class comes from the watch-fed store: a SecretSync naming a class the cluster does not
/// have fails `ControllerSpcError` ("not found"), is synced once the class is created, and
/// fails again when it is deleted. The poll is an hour, so the deletion can only be noticed
/// through the class watch (its event triggers the SecretSync; the store no longer holds it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_class_store_follows_classes_created_and_deleted() {
    let Fixture {
        cluster,
        tenant,
        app,
        mut options,
        ..
    } = fixture("class-store").await;
    options.poll_interval = std::time::Duration::from_secs(3600);
    let (client, ns) = (cluster.client(), cluster.namespace());
    let classes: Api<SecretProviderClass> = Api::namespaced(client.clone(), ns);
    let syncs: Api<SecretSync> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    syncs
        .create(
            &PostParams::default(),
            &secret_sync_of(
                "later",
                "later",
                "sync",
                "Opaque",
                &[("db-password", "password")],
                &[],
            ),
        )
        .await
        .unwrap();
    let running = spawn(Controller::new(client.clone(), options), None);
    let failed = |kind: &'static str| {
        let syncs = syncs.clone();
        move || {
            let syncs = syncs.clone();
            async move {
                let sync = syncs.get("later").await.unwrap();
                let condition = sync
                    .status?
                    .conditions?
                    .into_iter()
                    .find(|c| c.type_ == kind)?;
                (condition.status == "False"
                    && condition.reason == "ControllerSpcError"
                    && condition.message.contains("not found"))
                .then_some(())
            }
        }
    };
    eventually("ControllerSpcError for a missing class", failed("Create")).await;

    let mut class = provider_class(&tenant, &app.client_id, &["db-password"]);
    class.metadata.name = Some("later".into());
    classes
        .create(&PostParams::default(), &class)
        .await
        .unwrap();
    eventually("the Secret once the class exists", || async {
        let secret = secrets.get_opt("later").await.unwrap()?;
        (secret.data?.get("password")?.0 == b"first").then_some(())
    })
    .await;
    eventually("the Create condition", || async {
        let sync = syncs.get("later").await.unwrap();
        (condition(&sync, "Create") == Some(("True".into(), "CreateSucceeded".into())))
            .then_some(())
    })
    .await;

    classes
        .delete("later", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "ControllerSpcError once the class is deleted",
        failed("Update"),
    )
    .await;
    let kept = secrets.get("later").await.unwrap();
    assert_eq!(
        kept.data.unwrap()["password"].0,
        b"first",
        "the Secret keeps its data"
    );
    running.stop().await;
    cluster.cleanup().await;
}
