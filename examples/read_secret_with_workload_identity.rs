//! A service that reads one Key Vault secret with workload identity — the whole of what a pod
//! needs, with keyway's credential (the token file re-read on every exchange, errors that say
//! what to fix).
//!
//! In a pod, the azure-workload-identity webhook sets the environment. Locally, against the
//! emulators:
//!
//! ```sh
//! cargo run -p keyway-cli -- dev --state-dir /tmp/keyway-dev > /tmp/keyway-dev.env &
//! sleep 2; . /tmp/keyway-dev.env
//! cargo run --example read_secret_with_workload_identity -- example-secret
//! ```

use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use keyway_identity::{FederatedCredential, FederatedCredentialOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "example-secret".into());
    let vault_url = std::env::var("KEYWAY_VAULT_URL")
        .map_err(|_| "set KEYWAY_VAULT_URL to the vault, e.g. https://myvault.vault.azure.net")?;

    // AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST;
    // SSL_CERT_FILE is trusted too (keyway dev's CA, a proxy's).
    let credential = FederatedCredential::from_env(FederatedCredentialOptions {
        client_options: keyway_identity::client_options()?,
        ..Default::default()
    })?;

    // A vault on a loopback address cannot prove it is *.vault.azure.net.
    let local = vault_url.contains("://127.0.0.1") || vault_url.contains("://localhost");
    let client = SecretClient::new(
        &vault_url,
        credential.clone(),
        Some(SecretClientOptions {
            client_options: keyway_identity::client_options()?,
            verify_challenge_resource: Some(!local),
            ..Default::default()
        }),
    )?;
    match client.get_secret(&name, None).await {
        Ok(response) => {
            let secret = response.into_model()?;
            // Never print a secret: its length proves it arrived.
            println!(
                "{name}: {} characters, read with {} token exchange(s)",
                secret.value.unwrap_or_default().len(),
                credential.exchanges()
            );
            Ok(())
        }
        Err(e) => Err(format!("cannot read {name}: {e}").into()),
    }
}
