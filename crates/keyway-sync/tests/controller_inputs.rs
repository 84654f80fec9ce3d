//! What the controller does with SecretSyncs that cannot sync: one naming a service account
//! that does not exist gets no Secret at all (not one with `data: {}`), and one whose targetKey
//! is not a Secret key never has its Secret written, nor one of a type the API server fills
//! (a service-account token) or with the annotations it acts on; each says why in its status.

mod support;

use k8s_openapi::api::core::v1::Secret;
use keyway_sync::SecretSync;
use keyway_sync::controller::Controller;
use kube::Api;
use kube::api::PostParams;
use support::{Fixture, create_condition, eventually, fixture, secret_sync, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secretsyncs_that_cannot_sync_create_no_secret() {
    let Fixture {
        cluster, options, ..
    } = fixture("controller-inputs").await;
    let (client, ns) = (cluster.client(), cluster.namespace());
    let syncs: Api<SecretSync> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);

    let mut ghost = secret_sync(&[("db-password", "password")]);
    ghost.metadata.name = Some("ghost".into());
    ghost.spec.service_account_name = "no-such-account".into();
    syncs.create(&PostParams::default(), &ghost).await.unwrap();
    // `db/0` passes the upstream CRD's pattern, but no Secret can hold such a key.
    let mut bad_key = secret_sync(&[("db-password", "db/0")]);
    bad_key.metadata.name = Some("bad-key".into());
    syncs
        .create(&PostParams::default(), &bad_key)
        .await
        .unwrap();

    // A service-account token Secret would be filled by the API server with a non-expiring
    // token for the account the annotation names: never written, and says so.
    let mut token = secret_sync(&[("db-password", "token")]);
    token.metadata.name = Some("token".into());
    token.spec.secret_object.type_ = "kubernetes.io/service-account-token".into();
    token.spec.secret_object.annotations = Some(std::collections::BTreeMap::from([(
        "kubernetes.io/service-account.name".to_string(),
        "default".to_string(),
    )]));
    syncs.create(&PostParams::default(), &token).await.unwrap();
    // An allowed type with the reserved annotation is refused too.
    let mut annotated = secret_sync(&[("db-password", "password")]);
    annotated.metadata.name = Some("annotated".into());
    annotated.spec.secret_object.annotations = token.spec.secret_object.annotations.clone();
    syncs
        .create(&PostParams::default(), &annotated)
        .await
        .unwrap();

    let running = spawn(Controller::new(client.clone(), options), None);
    // The well-formed SecretSync of the fixture syncs: the controller is at work.
    eventually("the fixture's Secret", || async {
        secrets.get_opt("app").await.unwrap()
    })
    .await;
    let (status, _, message) = eventually("ghost's failed Create condition", || async {
        create_condition(&syncs.get("ghost").await.unwrap())
    })
    .await;
    assert_eq!(status, "False", "{message}");
    assert!(message.contains("no-such-account"), "{message}");
    let (status, _, message) = eventually("bad-key's failed Create condition", || async {
        create_condition(&syncs.get("bad-key").await.unwrap())
    })
    .await;
    assert_eq!(status, "False", "{message}");
    assert!(
        message.contains("spec.secretObject.data[0].targetKey"),
        "{message}"
    );
    for (name, field) in [
        ("token", "spec.secretObject.type"),
        ("annotated", "spec.secretObject.annotations"),
    ] {
        let (status, reason, message) = eventually("a refused type's Create condition", || async {
            create_condition(&syncs.get(name).await.unwrap())
        })
        .await;
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("False", "UserInputValidationFailed"),
            "{message}"
        );
        assert!(message.contains(field), "{message}");
    }
    for name in ["ghost", "bad-key", "token", "annotated"] {
        let secret = secrets.get_opt(name).await.unwrap();
        assert!(
            secret.is_none(),
            "{name}: a Secret was created: {:?}",
            secret.map(|s| s.data)
        );
    }
    running.stop().await;
    cluster.cleanup().await;
}
