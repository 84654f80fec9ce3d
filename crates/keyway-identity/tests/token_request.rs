//! The TokenRequest assertion source through an unchanged kube::Client against the emulator's
//! Kubernetes API stand-in: TokenRequest → Entra (FIC check) → token, the seed procedure's chain.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ServiceAccount;
use keyway_emulator::{Emulator, Service};
use keyway_identity::{
    AssertionSource, FederatedCredential, FederatedCredentialOptions, IdentityError, TokenRequest,
};
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

async fn client(emulator: &Emulator) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&emulator.kubeconfig()).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

#[tokio::test]
async fn token_request_assertions_are_exchanged_and_cached() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator).await;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let mut account = ServiceAccount::default();
    account.metadata.name = Some("sync".into());
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();

    let tenant = emulator.add_tenant(None);
    let app = emulator
        .add_workload_identity(&tenant, "sync", "default", "sync")
        .unwrap();
    let source = Arc::new(TokenRequest::new(client.clone(), "default", "sync"));
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
    assert_eq!(
        emulator
            .counters()
            .count_status(Service::Kubernetes, "create", 201),
        2,
        "one ServiceAccount, then one TokenRequest: the token is cached for 80 % of its life"
    );
    assert!(!format!("{source:?}").contains("ey"), "no token in Debug");

    let too_short = TokenRequest::new(client.clone(), "default", "sync")
        .with_expiration(std::time::Duration::from_secs(60));
    assert!(
        too_short.is_err(),
        "the API server grants at least 10 minutes"
    );
    let missing = TokenRequest::new(client, "default", "nobody");
    assert!(matches!(
        missing.assertion().await,
        Err(IdentityError::ServiceAccountNotFound { .. })
    ));
}
