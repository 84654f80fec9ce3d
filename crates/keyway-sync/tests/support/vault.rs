//! A [`KeyVaultSource`] reading an emulated vault, as the CLI and the controller build one.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use keyway_emulator::testing::TestCluster;
use keyway_emulator::{Emulator, Role, Vault};
use keyway_identity::{FederatedCredential, FederatedCredentialOptions, TokenRequest};
use keyway_sync::{KeyVaultSource, KeyVaultSourceOptions};

/// A source reading `vault` with `credential` over the emulator's HTTPS (its CA trusted, and
/// the challenge resource not checked: the emulator's host is not `vault.azure.net`).
pub fn source(
    emulator: &Emulator,
    vault: &Vault,
    credential: Arc<dyn TokenCredential>,
) -> KeyVaultSource {
    KeyVaultSource::new(
        vault.url(),
        credential,
        KeyVaultSourceOptions {
            client_options: emulator.client_options().unwrap(),
            verify_challenge_resource: false,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A tenant with the workload identity `sync` (service account `sync`), a vault `name` in it
/// that the identity may read (Secrets User), and a source reading that vault through
/// workload identity federation with tokens requested for `service_account` in the cluster's
/// namespace (what the CLI and the controller do).
pub async fn federated_vault(
    cluster: &TestCluster,
    name: &str,
    service_account: &str,
) -> (Vault, KeyVaultSource) {
    let emulator = cluster.emulator();
    let (app, vault) = cluster
        .workload_vault(name, "sync", Role::SecretsUser)
        .await
        .unwrap();
    let tenant = app.tenant_id.clone();
    let credential = FederatedCredential::new(
        &tenant,
        &app.client_id,
        &emulator.authority_host(),
        Arc::new(TokenRequest::new(
            cluster.client(),
            cluster.namespace(),
            service_account,
        )),
        FederatedCredentialOptions {
            client_options: emulator.client_options().unwrap(),
            ..Default::default()
        },
    )
    .unwrap();
    let source = source(emulator, &vault, credential);
    (vault, source)
}

/// A fresh tenant with the workload identity `app` (service account `app` in `default`), a
/// vault `name` in it that the identity may read (Secrets User), and a source reading that
/// vault with the identity's federated credential.
pub async fn workload_source(emulator: &Emulator, name: &str) -> (Vault, KeyVaultSource) {
    let (app, vault) = emulator
        .workload_vault(name, "default", "app", Role::SecretsUser)
        .await
        .unwrap();
    let credential = emulator
        .workload_credential(&app, "default", "app")
        .unwrap();
    let source = source(emulator, &vault, credential);
    (vault, source)
}
