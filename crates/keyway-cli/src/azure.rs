//! The Azure plumbing commands share: the workload identity credential from the environment and
//! clients for a vault, trusting `SSL_CERT_FILE`.

use std::sync::Arc;

use keyway_identity::{FederatedCredential, FederatedCredentialOptions, WorkloadIdentityConfig};
use keyway_sync::{KeyVaultSource, KeyVaultSourceOptions};

use crate::error::CliError;

/// Whether a URL points at this machine (the emulators), where a vault cannot prove it is
/// `*.vault.azure.net`.
pub fn is_loopback(url: &str) -> bool {
    use azure_core::http::Url;
    match Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The workload identity credential from the environment, with client and tenant ids from the
/// manifest taking precedence when given.
pub fn credential(
    client_id: Option<&str>,
    tenant_id: Option<&str>,
) -> Result<Arc<FederatedCredential>, CliError> {
    let config = WorkloadIdentityConfig::from_lookup(|name| match name {
        "AZURE_CLIENT_ID" => client_id
            .map(str::to_string)
            .or_else(|| std::env::var(name).ok()),
        "AZURE_TENANT_ID" => tenant_id
            .map(str::to_string)
            .or_else(|| std::env::var(name).ok()),
        _ => std::env::var(name).ok(),
    })
    .map_err(|e| CliError::Input(e.to_string()))?;
    let options = FederatedCredentialOptions {
        client_options: keyway_identity::client_options()
            .map_err(|e| CliError::Input(e.to_string()))?,
        ..FederatedCredentialOptions::default()
    };
    FederatedCredential::from_config(&config, options).map_err(|e| CliError::Input(e.to_string()))
}

/// Options for the official `SecretClient` against `vault_url`.
pub fn secret_client_options(
    vault_url: &str,
) -> Result<azure_security_keyvault_secrets::SecretClientOptions, CliError> {
    Ok(azure_security_keyvault_secrets::SecretClientOptions {
        client_options: keyway_identity::client_options()
            .map_err(|e| CliError::Input(e.to_string()))?,
        verify_challenge_resource: Some(!is_loopback(vault_url)),
        ..Default::default()
    })
}

/// A Key Vault source for `vault_url`.
pub fn vault_source(
    vault_url: &str,
    credential: Arc<FederatedCredential>,
) -> Result<KeyVaultSource, CliError> {
    KeyVaultSource::new(
        vault_url,
        credential,
        KeyVaultSourceOptions {
            client_options: keyway_identity::client_options()
                .map_err(|e| CliError::Input(e.to_string()))?,
            verify_challenge_resource: !is_loopback(vault_url),
            ..KeyVaultSourceOptions::default()
        },
    )
    .map_err(|e| CliError::Input(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_urls() {
        assert!(super::is_loopback("https://127.0.0.1:4443"));
        assert!(super::is_loopback("https://localhost/"));
        assert!(super::is_loopback("https://[::1]:8443"));
        assert!(!super::is_loopback("https://myvault.vault.azure.net"));
    }
}
