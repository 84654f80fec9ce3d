//! The SecretSync controller end to end, against the Kubernetes stand-in (or the real cluster
//! `KEYWAY_TEST_KUBECONFIG` names) and the Entra and Key Vault emulators: SecretProviderClass +
//! SecretSync → Secret with keys, labels, ownerReference and status; a rotated secret; a failing
//! vault (Secret kept, `ProviderError`, an Event, recovery); an edited SecretProviderClass; a
//! deleted SecretSync.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use keyway_emulator::Service;
use keyway_sync::controller::{Controller, LeaderElection, LeaseTiming};
use keyway_sync::{MANAGED_LABEL, SecretProviderClass, SecretSync};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

mod support;
use support::{Fixture, condition, eventually, fixture, provider_class, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secretsyncs_are_synced_rotated_kept_on_failure_and_collected() {
    let Fixture {
        cluster,
        tenant,
        app,
        vault,
        created,
        options,
    } = fixture("controller").await;
    let (emulator, client, ns) = (cluster.emulator(), cluster.client(), cluster.namespace());
    let classes: Api<SecretProviderClass> = Api::namespaced(client.clone(), ns);
    let syncs: Api<SecretSync> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let running = spawn(Controller::new(client.clone(), options), None);
    let metrics = running.metrics.clone();

    // Created: keys, labels, owner, status.
    let secret = eventually("the Secret", || async {
        secrets.get_opt("app").await.unwrap()
    })
    .await;
    assert_eq!(secret.data.as_ref().unwrap()["password"].0, b"first");
    assert_eq!(secret.labels()[MANAGED_LABEL], "");
    assert_eq!(secret.labels()["app"], "edge");
    assert_eq!(secret.owner_references()[0].uid, created.uid().unwrap());
    let synced = eventually("the Create condition", || async {
        let sync = syncs.get("app").await.unwrap();
        (condition(&sync, "Create") == Some(("True".into(), "CreateSucceeded".into())))
            .then_some(sync)
    })
    .await;
    let status = synced.status.unwrap();
    assert_eq!(status.sync_hash.as_ref().unwrap().len(), 64);
    assert!(status.last_successful_sync_time.is_some());
    // Its own status writes do not retrigger it: over three 2 s polls, a handful of reconciles.
    let total = || metrics.reconciles().iter().map(|(_, n)| n).sum::<u64>();
    let before = total();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let during = total() - before;
    eprintln!("{during} reconciles in 6 s");
    assert!(during <= 5, "{during} reconciles in 6 s");

    // A rotated secret lands within a poll or two.
    vault.set_secret("db-password", "second").unwrap();
    eventually("the rotated value", || async {
        let secret = secrets.get("app").await.unwrap();
        (secret.data.unwrap()["password"].0 == b"second").then_some(())
    })
    .await;

    // The vault failing: the Secret keeps its data, the status says ProviderError, an Event
    // tells it; when the vault is back, the next poll recovers.
    vault.set_secret("db-password", "third").unwrap();
    emulator
        .faults()
        .fail_next(Service::KeyVault, None, 500, 100_000);
    eventually("ProviderError", || async {
        let sync = syncs.get("app").await.unwrap();
        (condition(&sync, "Update").is_some_and(|(s, r)| s == "False" && r == "ProviderError"))
            .then_some(())
    })
    .await;
    assert_eq!(
        secrets.get("app").await.unwrap().data.unwrap()["password"].0,
        b"second",
        "a failing vault never blanks the Secret"
    );
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    support::event_with_reason(&events, "ProviderError").await;
    emulator.faults().clear();
    eventually("recovery", || async {
        let sync = syncs.get("app").await.unwrap();
        let secret = secrets.get("app").await.unwrap();
        (secret.data.unwrap()["password"].0 == b"third"
            && condition(&sync, "Update").is_some_and(|(s, _)| s == "True"))
        .then_some(())
    })
    .await;

    // An edited SecretProviderClass (and SecretSync) resyncs at once.
    classes
        .patch(
            "vault",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"parameters": provider_class(&tenant, &app.client_id, &["db-password", "api-key"]).spec.parameters}})),
        )
        .await
        .unwrap();
    syncs
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"secretObject": {"data": [
                {"sourcePath": "db-password", "targetKey": "password"},
                {"sourcePath": "api-key", "targetKey": "key"},
            ]}}})),
        )
        .await
        .unwrap();
    eventually("the new key", || async {
        let secret = secrets.get("app").await.unwrap();
        secret
            .data
            .unwrap()
            .get("key")
            .is_some_and(|v| v.0 == b"key-1")
            .then_some(())
    })
    .await;
    // forceSynchronization reads every object again and reports a forced update.
    let reads = || emulator.counters().count(Service::KeyVault, "GetSecret");
    let before = reads();
    syncs
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"forceSynchronization": "now"}})),
        )
        .await
        .unwrap();
    eventually("the forced sync", || async {
        let sync = syncs.get("app").await.unwrap();
        (condition(&sync, "Update")
            == Some((
                "True".into(),
                "UpdateValueChangeOrForceUpdateSucceeded".into(),
            ))
            && reads() >= before + 2)
            .then_some(())
    })
    .await;
    assert!(
        metrics
            .render()
            .contains("keyway_reconciles_total{reason=\"ProviderError\"}"),
        "{}",
        metrics.render()
    );

    // Deleting the SecretSync collects its Secret.
    syncs.delete("app", &DeleteParams::default()).await.unwrap();
    eventually("garbage collection", || async {
        secrets
            .get_opt("app")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    eventually("the deleted SecretSync forgotten", || async {
        metrics
            .render()
            .contains("keyway_managed_secretsyncs 0")
            .then_some(())
    })
    .await;
    running.stop().await;
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_a_standby_takes_over() {
    let Fixture {
        cluster, options, ..
    } = fixture("leader").await;
    let (client, ns) = (cluster.client(), cluster.namespace().to_string());
    let timing = LeaseTiming {
        lease_duration: Duration::from_secs(2),
        renew_every: Duration::from_millis(400),
    };
    let start = |identity: &str| {
        let controller = Controller::new(client.clone(), options.clone());
        let election = LeaderElection::new(client.clone(), &ns, "keyway", identity, timing.clone());
        spawn(controller, Some(election))
    };
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let holder = || async {
        leases
            .get_opt("keyway")
            .await
            .unwrap()
            .and_then(|l| l.spec?.holder_identity)
    };
    let replica_a = start("replica-a");
    let metrics_a = replica_a.metrics.clone();
    eventually("replica-a leads", || async {
        (holder().await.as_deref() == Some("replica-a")).then_some(())
    })
    .await;
    let replica_b = start("replica-b");
    let metrics_b = replica_b.metrics.clone();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    eventually("the leader's Secret", || async {
        secrets.get_opt("app").await.unwrap()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!metrics_a.reconciles().is_empty(), "the leader reconciles");
    assert!(
        metrics_b.reconciles().is_empty(),
        "the standby writes nothing"
    );
    assert_eq!(holder().await.as_deref(), Some("replica-a"));

    // A hung leader (it stops renewing and writing): the standby takes over within a lease.
    replica_a.abort();
    eventually("replica-b takes over", || async {
        (holder().await.as_deref() == Some("replica-b")).then_some(())
    })
    .await;
    eventually("the new leader reconciles", || async {
        (!metrics_b.reconciles().is_empty()).then_some(())
    })
    .await;

    // A clean stop releases the Lease at once.
    replica_b.stop().await;
    assert_eq!(holder().await, None, "released on shutdown");
    cluster.cleanup().await;
}

/// The rules deploy/controller/rbac.yaml grants, as (group, resource, verb).
fn granted_by_deploy_rbac() -> std::collections::BTreeSet<(String, String, String)> {
    use k8s_openapi::api::rbac::v1::PolicyRule;
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/controller/rbac.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut granted = std::collections::BTreeSet::new();
    for value in keyway_sync::yaml::documents(&text).unwrap() {
        if !matches!(value["kind"].as_str(), Some("Role" | "ClusterRole")) {
            continue;
        }
        let rules: Vec<PolicyRule> = serde_json::from_value(value["rules"].clone()).unwrap();
        for rule in rules {
            for group in rule.api_groups.iter().flatten() {
                for resource in rule.resources.iter().flatten() {
                    for verb in &rule.verbs {
                        granted.insert((group.clone(), resource.clone(), verb.clone()));
                    }
                }
            }
        }
    }
    granted
}

/// Least privilege, measured: the controller runs under its own user on the stand-in (which
/// records every access), through leader election, a first sync, a rotation, a failing vault
/// (Events), recovery, a forced resync and shutdown. Everything it did must be granted by
/// deploy/controller/rbac.yaml, and everything granted must have been used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rbac_role_grants_exactly_what_the_controller_uses() {
    let Fixture {
        cluster,
        vault,
        options,
        ..
    } = fixture("rbac").await;
    if cluster.is_real() {
        eprintln!("a real cluster records no per-user access; this test checks the stand-in only");
        cluster.cleanup().await;
        return;
    }
    let (emulator, admin, ns) = (
        cluster.emulator(),
        cluster.client(),
        cluster.namespace().to_string(),
    );
    let token = emulator.add_kubernetes_user("keyway-controller");
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&emulator.kubeconfig_with_token(&token)).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let timing = LeaseTiming {
        lease_duration: Duration::from_secs(2),
        renew_every: Duration::from_millis(400),
    };
    let election = LeaderElection::new(client.clone(), &ns, "keyway", "replica-a", timing);
    let running = spawn(Controller::new(client, options), Some(election));
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let syncs: Api<SecretSync> = Api::namespaced(admin.clone(), &ns);
    let value = || async {
        let secret = secrets.get_opt("app").await.unwrap()?;
        Some(secret.data?.get("password")?.0.clone())
    };
    eventually("the first sync", || async {
        (value().await? == b"first").then_some(())
    })
    .await;
    vault.set_secret("db-password", "second").unwrap();
    eventually("the rotation", || async {
        (value().await? == b"second").then_some(())
    })
    .await;
    emulator
        .faults()
        .fail_next(Service::KeyVault, None, 500, 100_000);
    let events: Api<Event> = Api::namespaced(admin.clone(), &ns);
    eventually("a repeated ProviderError Event", || async {
        let listed = events.list(&ListParams::default()).await.unwrap();
        listed
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("ProviderError") && e.series.is_some())
            .then_some(())
    })
    .await;
    emulator.faults().clear();
    let reads = || emulator.counters().count(Service::KeyVault, "GetSecret");
    let before = reads();
    syncs
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"forceSynchronization": "rbac"}})),
        )
        .await
        .unwrap();
    eventually("the forced sync", || async {
        let sync = syncs.get("app").await.unwrap();
        (condition(&sync, "Update").is_some_and(|(s, _)| s == "True") && reads() > before)
            .then_some(())
    })
    .await;
    running.stop().await;

    let used: std::collections::BTreeSet<(String, String, String)> = emulator
        .kubernetes_access()
        .into_iter()
        .filter(|a| a.user == "keyway-controller")
        .map(|a| (a.group, a.resource, a.verb))
        .collect();
    let granted = granted_by_deploy_rbac();
    let missing: Vec<_> = used.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&used).collect();
    eprintln!("used by the controller: {used:?}");
    assert!(
        missing.is_empty(),
        "the controller uses what rbac.yaml does not grant: {missing:?}"
    );
    assert!(
        unused.is_empty(),
        "rbac.yaml grants what the controller never used: {unused:?}"
    );
    cluster.cleanup().await;
}

/// Kubernetes faults under a running controller: Secret writes answered 409 and 500, watches
/// dropped, the API server restarting (every connection reset) with its watch history
/// compacted (410 Gone on re-watch). Through each: the Secret keeps its data, the failure is
/// counted in the metrics, the controller's calls stay bounded, and once the fault clears the
/// rotated value lands within two polls; after the restart a spec edit still arrives, so the
/// watches came back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_faults_keep_the_secret_and_converge() {
    let Fixture {
        cluster,
        vault,
        options,
        ..
    } = fixture("kube-faults").await;
    if cluster.is_real() {
        eprintln!("faults are injected into the stand-in only; nothing to do on a real cluster");
        cluster.cleanup().await;
        return;
    }
    let (emulator, client, ns) = (cluster.emulator(), cluster.client(), cluster.namespace());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let syncs: Api<SecretSync> = Api::namespaced(client.clone(), ns);
    let poll = options.poll_interval;
    let running = spawn(Controller::new(client.clone(), options), None);
    let metrics = running.metrics.clone();
    // Reads tolerate the API server's own faults and restarts (the test client shares them).
    let data = || async {
        let secret = secrets.get_opt("app").await.ok()??;
        secret.data
    };
    let value = || async { Some(data().await?.get("password")?.0.clone()) };
    eventually("the first sync", || async {
        (value().await? == b"first").then_some(())
    })
    .await;

    let writes = |status: u16| {
        emulator
            .counters()
            .count_status(Service::Kubernetes, "patch", status)
    };
    let internal_errors = || {
        metrics
            .reconciles()
            .iter()
            .filter(|(reason, _)| *reason == "ControllerInternalError")
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    for (round, status) in [(1u32, 409u16), (2, 500)] {
        let errors_before = internal_errors();
        let rotated = format!("rotated-{round}");
        vault.set_secret("db-password", &rotated).unwrap();
        let before = writes(status);
        emulator
            .faults()
            .fail_next(Service::Kubernetes, Some("patch"), status, 1_000_000);
        eventually("the write fault to be hit", || async {
            (writes(status) > before).then_some(())
        })
        .await;
        // Three polls under the fault: the Secret keeps its last data; calls stay bounded.
        tokio::time::sleep(poll * 3).await;
        let during = writes(status) - before;
        let previous = if round == 1 {
            "first".to_string()
        } else {
            "rotated-1".to_string()
        };
        assert_eq!(
            value().await.as_deref(),
            Some(previous.as_bytes()),
            "HTTP {status} on writes never blanks the Secret"
        );
        assert!(
            during <= 24,
            "{during} writes answered {status} in three polls: a hot loop"
        );
        assert!(
            internal_errors() > errors_before,
            "the failure shows in the metrics: {}",
            metrics.render()
        );
        emulator.faults().clear();
        let cleared = std::time::Instant::now();
        eventually(
            &format!("convergence after HTTP {status} cleared"),
            || async { (value().await.as_deref() == Some(rotated.as_bytes())).then_some(()) },
        )
        .await;
        eprintln!(
            "HTTP {status}: {during} failed writes in three polls, then converged in {:.1} s (poll {} s)",
            cleared.elapsed().as_secs_f64(),
            poll.as_secs()
        );
    }

    // Watches dropped, then the API server restarts with its history compacted: the
    // controller re-lists and re-watches, and a spec edit made afterwards is synced.
    emulator
        .faults()
        .drop_next(Service::Kubernetes, Some("list"), 3);
    emulator.restart_kubernetes();
    emulator.compact_kubernetes_history();
    tokio::time::sleep(Duration::from_secs(1)).await;
    emulator.restart_kubernetes();
    eventually("the Secret, unchanged, after the restart", || async {
        (value().await? == b"rotated-2").then_some(())
    })
    .await;
    // The controller re-lists after its watches' backoff, which a loaded machine stretches:
    // wait for the drops to happen rather than assume they did by now.
    eventually("the injected watch drops", || async {
        (emulator
            .counters()
            .count_status(Service::Kubernetes, "list", 0)
            > 0)
        .then_some(())
    })
    .await;
    // One sourcePath to two targetKeys: both land.
    let restarted = std::time::Instant::now();
    eventually("the edit is accepted", || async {
        syncs
            .patch(
                "app",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"secretObject": {"data": [
                    {"sourcePath": "db-password", "targetKey": "password"},
                    {"sourcePath": "db-password", "targetKey": "copy"},
                ]}}})),
            )
            .await
            .ok()
    })
    .await;
    eventually("the edit made after the restart", || async {
        let data = data().await?;
        (data.get("copy")?.0 == b"rotated-2" && data.get("password")?.0 == b"rotated-2")
            .then_some(())
    })
    .await;
    eprintln!(
        "the edit made after the restart synced in {:.1} s (the watch's backoff included)",
        restarted.elapsed().as_secs_f64()
    );
    running.stop().await;
    cluster.cleanup().await;
}

/// A controller restarted while the vault fails: the new process has fetched nothing, yet the
/// Secret keeps every key (the sink's data stands in for objects it cannot fetch), the status
/// says ProviderError, and the value rotates once the vault is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_restarted_during_an_outage_keeps_the_secret() {
    let Fixture {
        cluster,
        vault,
        options,
        ..
    } = fixture("restart").await;
    let (emulator, client, ns) = (cluster.emulator(), cluster.client(), cluster.namespace());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let syncs: Api<SecretSync> = Api::namespaced(client.clone(), ns);
    let password = || async {
        let secret = secrets.get_opt("app").await.ok()??;
        Some(secret.data?.get("password")?.0.clone())
    };
    let start = || spawn(Controller::new(client.clone(), options.clone()), None);
    let first = start();
    eventually("the first sync", || async {
        (password().await? == b"first").then_some(())
    })
    .await;
    first.stop().await;

    vault.set_secret("db-password", "second").unwrap();
    emulator
        .faults()
        .fail_next(Service::KeyVault, None, 500, 1_000_000);
    let restarted = start();
    eventually("ProviderError from the new controller", || async {
        let sync = syncs.get("app").await.ok()?;
        (condition(&sync, "Update").is_some_and(|(s, r)| s == "False" && r == "ProviderError"))
            .then_some(())
    })
    .await;
    // Two more polls under the outage: the Secret keeps its key and value.
    tokio::time::sleep(options.poll_interval * 2).await;
    assert_eq!(
        password().await.as_deref(),
        Some(&b"first"[..]),
        "a restart during an outage never drops or blanks a key"
    );
    assert!(restarted.metrics.render().contains("ProviderError"));
    emulator.faults().clear();
    eventually("the rotated value after the outage", || async {
        (password().await? == b"second").then_some(())
    })
    .await;
    restarted.stop().await;
    cluster.cleanup().await;
}

/// A restarted controller that reads one object anew while another fails keeps the failing
/// one's key from the Secret itself: its cache holds a digest of each Secret's data, not the
/// values, so the values it must keep are read from the API server (a list of that one
/// Secret) — without that read the Secret would be written with the rotated key alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_keeps_a_failing_object_beside_a_rotated_one() {
    let Fixture {
        cluster,
        tenant,
        app,
        vault,
        options,
        ..
    } = fixture("restart-pair").await;
    let (client, ns) = (cluster.client(), cluster.namespace());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut class = provider_class(&tenant, &app.client_id, &["db-password", "api-key"]);
    class.metadata.name = Some("pair".into());
    Api::<SecretProviderClass>::namespaced(client.clone(), ns)
        .create(&kube::api::PostParams::default(), &class)
        .await
        .unwrap();
    let pair = support::secret_sync_of(
        "pair",
        "pair",
        "sync",
        "Opaque",
        &[("db-password", "password"), ("api-key", "key")],
        &[],
    );
    Api::<SecretSync>::namespaced(client.clone(), ns)
        .create(&kube::api::PostParams::default(), &pair)
        .await
        .unwrap();
    let data = || async {
        let secret = secrets.get_opt("pair").await.ok()??;
        let data = secret.data?;
        let text = |key: &str| {
            data.get(key)
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        };
        Some((text("password"), text("key")))
    };
    let start = || spawn(Controller::new(client.clone(), options.clone()), None);
    let first = start();
    eventually("the first sync of both keys", || async {
        (data().await? == (Some("first".into()), Some("key-1".into()))).then_some(())
    })
    .await;
    first.stop().await;

    vault.set_secret("db-password", "second").unwrap();
    vault.set_enabled("api-key", false).unwrap();
    let restarted = start();
    eventually("the rotated password beside the kept key", || async {
        (data().await? == (Some("second".into()), Some("key-1".into()))).then_some(())
    })
    .await;
    // Two more polls: the failing key stays.
    tokio::time::sleep(options.poll_interval * 2).await;
    assert_eq!(
        data().await,
        Some((Some("second".into()), Some("key-1".into()))),
        "a failing object's key is never dropped by a restarted controller"
    );
    restarted.stop().await;
    cluster.cleanup().await;
}

/// The Secret is compared with what the cluster holds, not with what the controller last
/// wrote: a Secret someone deleted is recreated, and data someone edited is restored, without
/// a change of the SecretSync (docs/controller.md promises both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_edited_secret_is_restored() {
    let Fixture {
        cluster, options, ..
    } = fixture("restore").await;
    let (client, ns) = (cluster.client(), cluster.namespace());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let running = spawn(Controller::new(client.clone(), options), None);
    let password = || async {
        let secret = secrets.get_opt("app").await.ok()??;
        Some(secret.data?.get("password")?.0.clone())
    };
    eventually("the first sync", || async {
        (password().await? == b"first").then_some(())
    })
    .await;

    secrets
        .delete("app", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    eventually("the deleted Secret recreated", || async {
        (password().await? == b"first").then_some(())
    })
    .await;

    secrets
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"password": "dGFtcGVyZWQ="}})),
        )
        .await
        .unwrap();
    eventually("the edited data restored", || async {
        (password().await? == b"first").then_some(())
    })
    .await;
    let restored = secrets.get("app").await.unwrap();
    assert_eq!(
        restored.data.unwrap().len(),
        1,
        "only the mapped key, as before"
    );
    // Both repairs are counted, and exported.
    assert_eq!(running.metrics.restorations(), 2);
    assert!(
        running
            .metrics
            .render()
            .contains("keyway_secret_restorations_total 2"),
        "{}",
        running.metrics.render()
    );
    running.stop().await;
    cluster.cleanup().await;
}

/// A replica that loses its Lease and wins it back starts a new run with a new watch of its
/// Secrets: the sinks must compare with that run's cache, not the ended run's stale copy (which
/// would still show a Secret deleted since, so it would never be recreated).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_regains_the_lease_sees_the_cluster_as_it_is() {
    let Fixture {
        cluster, options, ..
    } = fixture("regain").await;
    let (client, ns) = (cluster.client(), cluster.namespace().to_string());
    let timing = LeaseTiming {
        lease_duration: Duration::from_secs(2),
        renew_every: Duration::from_millis(400),
    };
    let election = LeaderElection::new(client.clone(), &ns, "keyway", "replica-a", timing);
    let running = spawn(Controller::new(client.clone(), options), Some(election));
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let holder = || async {
        leases
            .get_opt("keyway")
            .await
            .ok()?
            .and_then(|l| l.spec?.holder_identity)
    };
    eventually("the first sync", || async {
        secrets.get_opt("app").await.ok()?
    })
    .await;

    // Another holder takes the Lease (and then never renews it): replica-a stops, and takes
    // it back once the record has stood still for a lease.
    let mut lease = leases.get("keyway").await.unwrap();
    let spec = lease.spec.as_mut().unwrap();
    spec.holder_identity = Some("intruder".into());
    spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    leases
        .replace("keyway", &kube::api::PostParams::default(), &lease)
        .await
        .unwrap();
    eventually("replica-a leads again", || async {
        (holder().await.as_deref() == Some("replica-a")).then_some(())
    })
    .await;

    secrets
        .delete("app", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    eventually("the Secret recreated by the regained leader", || async {
        secrets.get_opt("app").await.ok()?
    })
    .await;
    running.stop().await;
    cluster.cleanup().await;
}

/// A SecretSync made after the shared vault listing was taken may map a secret created since:
/// it is synced at once, not when the listing next expires (up to a minute on a long poll).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_secretsync_sees_a_secret_newer_than_the_shared_listing() {
    let Fixture {
        cluster,
        tenant,
        app,
        vault,
        mut options,
        ..
    } = fixture("late-secret").await;
    let (client, ns) = (cluster.client(), cluster.namespace());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    // A long poll: the shared listing stays fresh for a minute.
    options.poll_interval = Duration::from_secs(120);
    let running = spawn(Controller::new(client.clone(), options), None);
    eventually("the first sync", || async {
        secrets.get_opt("app").await.unwrap()
    })
    .await;

    vault.set_secret("late-secret", "late").unwrap();
    let mut class = provider_class(&tenant, &app.client_id, &["late-secret"]);
    class.metadata.name = Some("late".into());
    Api::<SecretProviderClass>::namespaced(client.clone(), ns)
        .create(&kube::api::PostParams::default(), &class)
        .await
        .unwrap();
    let mut sync = support::secret_sync(&[("late-secret", "value")]);
    sync.metadata.name = Some("late".into());
    sync.spec.secret_provider_class_name = "late".into();
    Api::<SecretSync>::namespaced(client.clone(), ns)
        .create(&kube::api::PostParams::default(), &sync)
        .await
        .unwrap();
    eventually("the late secret synced", || async {
        let secret = secrets.get_opt("late").await.unwrap()?;
        (secret.data?.get("value")?.0 == b"late").then_some(())
    })
    .await;
    // Synced on its first reconcile: no reconcile failed (before, the late SecretSync failed
    // with "not in the vault's listing" until the shared listing expired).
    let failed: Vec<_> = running
        .metrics
        .reconciles()
        .into_iter()
        .filter(|(reason, _)| !reason.ends_with("Succeeded"))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    running.stop().await;
    cluster.cleanup().await;
}
