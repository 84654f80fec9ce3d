//! A [`KeyVaultSource`] reading an emulated vault, as the CLI and the controller build one.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use keyway_emulator::testing::TestCluster;
use keyway_emulator::{Emulator, Vault};
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

/// A source reading `vault` as the app `client_id` of `tenant`, through workload identity
/// federation with a token requested for `service_account` in the cluster's namespace.
pub fn federated_source(
    cluster: &TestCluster,
    tenant: &str,
    client_id: &str,
    service_account: &str,
    vault: &Vault,
) -> KeyVaultSource {
    let emulator = cluster.emulator();
    let credential = FederatedCredential::new(
        tenant,
        client_id,
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
    source(emulator, vault, credential)
}
