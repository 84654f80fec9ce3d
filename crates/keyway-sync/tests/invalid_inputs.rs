//! The controller refuses every case of the one table of invalid SecretSyncs and
//! SecretProviderClasses (`fixtures/invalid_inputs.json`, which the CLI's test runs through
//! `keyway sync` too): its `Create` condition is False with the table's reason, its message
//! names the table's field path first, and no Secret is written. A case the API server itself
//! refuses at admission (a real server's CEL rules on reserved label and annotation keys) must
//! name the same field.

mod invalid_inputs_table;
mod support;

use k8s_openapi::api::core::v1::Secret;
use keyway_sync::controller::Controller;
use keyway_sync::{SecretProviderClass, SecretSync};
use kube::Api;
use kube::api::PostParams;
use support::{Fixture, create_condition, eventually, fixture, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_refuses_every_case_of_the_table_with_its_field_path() {
    let cases = invalid_inputs_table::cases();
    assert!(cases.len() >= invalid_inputs_table::AT_LEAST, "{cases:?}");
    let Fixture {
        cluster,
        options,
        tenant,
        app,
        ..
    } = fixture("invalid-inputs").await;
    let (client, ns) = (cluster.client(), cluster.namespace());
    let classes: Api<SecretProviderClass> = Api::namespaced(client.clone(), ns);
    let syncs: Api<SecretSync> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);

    let mut admitted = Vec::new();
    for case in &cases {
        classes
            .create(
                &PostParams::default(),
                &case.provider_class(&tenant, &app.client_id),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: the SecretProviderClass: {e}", case.name));
        match syncs
            .create(&PostParams::default(), &case.secret_sync("sync"))
            .await
        {
            Ok(_) => admitted.push(case),
            // A real API server's CEL rules refuse reserved keys at admission.
            Err(kube::Error::Api(refusal)) if refusal.code == 422 => assert!(
                case.named_in(&refusal.message),
                "{}: refused at admission without naming {}: {}",
                case.name,
                case.field,
                refusal.message
            ),
            Err(e) => panic!("{}: {e}", case.name),
        }
    }

    let running = spawn(Controller::new(client.clone(), options), None);
    // The fixture's well-formed SecretSync syncs: the controller is at work.
    eventually("the fixture's Secret", || async {
        secrets.get_opt("app").await.unwrap()
    })
    .await;
    for case in admitted {
        let (status, reason, message) = eventually(&case.name, || async {
            create_condition(&syncs.get(&case.name).await.unwrap())
        })
        .await;
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("False", case.reason.as_str()),
            "{}: {message}",
            case.name
        );
        assert!(
            case.named_in(&message),
            "{}: the condition does not name {} first: {message}",
            case.name,
            case.field
        );
        assert!(
            secrets.get_opt(&case.name).await.unwrap().is_none(),
            "{}: a Secret was written",
            case.name
        );
    }
    running.stop().await;
    cluster.cleanup().await;
}
