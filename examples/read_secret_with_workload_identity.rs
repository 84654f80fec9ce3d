//! A service that reads one Key Vault secret with workload identity — the whole of what a pod
//! needs, with keyway's credential (the token file re-read on every exchange, errors that say
//! what to fix) and the official `SecretClient`.
//!
//! Run: `cargo run --example read_secret_with_workload_identity`
//!
//! In a pod, the azure-workload-identity webhook sets the environment (`AZURE_CLIENT_ID`,
//! `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_AUTHORITY_HOST`) and you set
//! `KEYWAY_VAULT_URL` (and `KEYWAY_SECRET_NAME`, default `example-secret`); `keyway dev`'s `env`
//! file sets them all for its emulators. Without `KEYWAY_VAULT_URL`, the example starts the
//! emulated Entra ID, OIDC issuer and Key Vault in-process and makes that environment itself.

use std::collections::BTreeMap;

use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use keyway::prelude::*;

/// Reads `KEYWAY_SECRET_NAME` from `KEYWAY_VAULT_URL` with the workload identity of the
/// environment (or of an emulated pod).
#[tokio::main]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::var("KEYWAY_SECRET_NAME").unwrap_or_else(|_| "example-secret".into());
    let (environment, emulator) = match std::env::var("KEYWAY_VAULT_URL") {
        Ok(_) => (None, None),
        Err(_) => {
            let (environment, emulator) = emulated_pod(&name).await?;
            (Some(environment), Some(emulator))
        }
    };
    let lookup = |variable: &str| match &environment {
        Some(map) => map.get(variable).cloned(),
        None => std::env::var(variable).ok(),
    };

    // What the webhook put in the environment, checked: a missing or empty variable is an
    // error that names it and says what sets it.
    let config = WorkloadIdentityConfig::from_lookup(lookup)?;
    let vault_url = lookup("KEYWAY_VAULT_URL").ok_or("KEYWAY_VAULT_URL is not set")?;
    // Transport: the system's roots plus SSL_CERT_FILE (keyway dev's CA, a proxy's), or the
    // emulator's CA when it runs in-process.
    let client_options = match &emulator {
        Some(emulator) => emulator.client_options()?,
        None => keyway::identity::client_options()?,
    };
    let credential = FederatedCredential::from_config(
        &config,
        FederatedCredentialOptions {
            client_options: client_options.clone(),
            ..Default::default()
        },
    )?;

    // A vault on a loopback address cannot prove it is *.vault.azure.net.
    let client = SecretClient::new(
        &vault_url,
        credential.clone(),
        Some(SecretClientOptions {
            client_options,
            verify_challenge_resource: Some(!keyway::identity::is_loopback(&vault_url)),
            ..Default::default()
        }),
    )?;
    let result = client.get_secret(&name, None).await;
    if let (Some(emulator), Some(environment)) = (&emulator, &environment) {
        emulator.stop();
        std::fs::remove_file(&environment["AZURE_FEDERATED_TOKEN_FILE"])?;
    }
    let secret = result
        .map_err(|e| format!("cannot read {name}: {e}"))?
        .into_model()?;
    // Never print a secret: its length proves it arrived.
    println!(
        "{name}: {} characters, read with {} token exchange(s)",
        secret.value.unwrap_or_default().len(),
        credential.exchanges()
    );
    Ok(())
}

/// The emulated cloud and the environment a pod would have: a workload identity trusting the
/// service account `default/app`, a vault it may read holding `name`, and the projected token.
async fn emulated_pod(
    name: &str,
) -> Result<(BTreeMap<String, String>, Emulator), Box<dyn std::error::Error>> {
    let emulator = Emulator::start().await?;
    let tenant = emulator.add_tenant(None);
    let identity = emulator.add_workload_identity(&tenant, "app", "default", "app")?;
    let vault = emulator.add_vault(&tenant, "app-vault").await?;
    vault.grant(&identity, Role::SecretsUser);
    vault.set_secret(name, "correct horse battery staple")?;
    let token_file =
        std::env::temp_dir().join(format!("keyway-example-read-{}.jwt", std::process::id()));
    let token = emulator.mint_service_account_token(&ServiceAccountToken::new("default", "app"));
    std::fs::write(&token_file, token)?;
    let environment = BTreeMap::from([
        ("AZURE_CLIENT_ID".to_string(), identity.client_id.clone()),
        ("AZURE_TENANT_ID".to_string(), tenant),
        (
            "AZURE_FEDERATED_TOKEN_FILE".to_string(),
            token_file.display().to_string(),
        ),
        (
            "AZURE_AUTHORITY_HOST".to_string(),
            emulator.authority_host(),
        ),
        ("KEYWAY_VAULT_URL".to_string(), vault.url().to_string()),
    ]);
    Ok((environment, emulator))
}
