//! The TokenRequest assertion source through an unchanged kube::Client against the emulator's
//! Kubernetes API stand-in (or the real cluster `KEYWAY_TEST_KUBECONFIG` names): TokenRequest →
//! Entra (FIC check) → token, the seed procedure's chain.

use std::sync::Arc;

use keyway_emulator::Service;
use keyway_emulator::testing::TestCluster;
use keyway_identity::{
    AssertionSource, FederatedCredential, FederatedCredentialOptions, IdentityError, TokenRequest,
};

#[tokio::test]
async fn token_request_assertions_are_exchanged_and_cached() {
    let cluster = TestCluster::start("token-request").await.unwrap();
    let (emulator, client, ns) = (cluster.emulator(), cluster.client(), cluster.namespace());
    let tenant = emulator.add_tenant(None);
    let app = cluster
        .add_workload_identity(&tenant, "sync", "sync")
        .await
        .unwrap();
    let source = Arc::new(TokenRequest::new(client.clone(), ns, "sync"));
    let credential = FederatedCredential::new(
        &tenant,
        &app.client_id,
        &emulator.authority_host(),
        source.clone(),
        FederatedCredentialOptions {
            client_options: emulator.client_options().unwrap(),
            ..Default::default()
        },
    )
    .unwrap();
    credential
        .exchange(&["https://vault.azure.net/.default"])
        .await
        .unwrap();
    credential
        .exchange(&["https://vault.azure.net/.default"])
        .await
        .unwrap();
    assert_eq!(
        emulator
            .counters()
            .count_status(Service::Entra, "Token", 200),
        2
    );
    if !cluster.is_real() {
        assert_eq!(
            emulator
                .counters()
                .count_status(Service::Kubernetes, "create", 201),
            3,
            "namespace, ServiceAccount, then one TokenRequest: the token is cached for 80 % of \
             its life"
        );
    }
    assert!(!format!("{source:?}").contains("eyJ"), "no token in Debug");

    let too_short = TokenRequest::new(client.clone(), ns, "sync")
        .with_expiration(std::time::Duration::from_secs(60));
    assert!(
        too_short.is_err(),
        "the API server grants at least 10 minutes"
    );
    let missing = TokenRequest::new(client, ns, "nobody");
    assert!(matches!(
        missing.assertion().await,
        Err(IdentityError::ServiceAccountNotFound { .. })
    ));
    cluster.cleanup().await;
}
