//! Use keyway's emulators from your own tests: the official Azure SDK for Rust reads a Key Vault
//! secret through workload identity federation, offline, with nothing changed but the
//! transport, the cloud (authority host) and challenge-resource verification.
//!
//! Run: `cargo run --example emulator_with_azure_sdk`

use std::sync::Arc;

use azure_identity::{
    ClientAssertionCredentialOptions, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use keyway_emulator::{Emulator, FederatedIdentityCredential, Role, ServiceAccountToken};

/// Reads one secret with the official clients against the emulators, and prints the requests.
#[tokio::main]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The cloud: a tenant, an identity that trusts the emulated cluster's service account
    //    `default/my-app`, and a vault where that identity is a Secrets User.
    let emulator = Emulator::start().await?;
    let tenant = emulator.add_tenant(None);
    let identity = emulator.add_identity(&tenant, "my-app")?;
    let fic = FederatedIdentityCredential::for_service_account(
        &emulator.issuer_url(),
        "default",
        "my-app",
    );
    emulator.add_federated_credential(&identity, fic)?;
    let vault = emulator.add_vault(&tenant, "my-vault").await?;
    vault.grant(&identity, Role::SecretsUser);
    vault.set_secret("db-password", "correct horse battery staple")?;

    // 2. The pod: a projected service-account token file, as kubelet writes it.
    let token_file =
        std::env::temp_dir().join(format!("keyway-example-{}.jwt", std::process::id()));
    std::fs::write(
        &token_file,
        emulator.mint_service_account_token(&ServiceAccountToken::new("default", "my-app")),
    )?;

    // 3. Your code, with the official clients.
    let credential = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: emulator.client_options()?,
        },
        client_id: Some(identity.client_id.clone()),
        tenant_id: Some(tenant.clone()),
        token_file_path: Some(token_file.clone()),
    }))?;
    let client = SecretClient::new(
        vault.url(),
        credential as Arc<_>,
        Some(SecretClientOptions {
            client_options: emulator.client_options()?,
            verify_challenge_resource: Some(false), // the vault is on 127.0.0.1, not *.vault.azure.net
            ..Default::default()
        }),
    )?;
    let secret = client.get_secret("db-password", None).await?.into_model()?;
    println!(
        "read db-password: {} characters",
        secret.value.unwrap_or_default().len()
    );

    // 4. What it cost, counted by the emulator.
    for count in emulator.requests() {
        println!(
            "  {:<8} {:<20} {} × {}",
            count.service, count.operation, count.status, count.count
        );
    }
    std::fs::remove_file(token_file)?;
    Ok(())
}
