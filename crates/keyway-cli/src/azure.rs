//! The plumbing commands share: the workload identity credential from the environment, clients
//! for a vault (trusting `SSL_CERT_FILE`), and Kubernetes clients that refuse plain http.

use std::sync::Arc;

use keyway_identity::{
    FederatedCredential, FederatedCredentialOptions, InsecureReason, WorkloadIdentityConfig,
};
use keyway_sync::{KeyVaultSource, KeyVaultSourceOptions};

use crate::error::CliError;

pub use keyway_identity::is_loopback;

/// Set to `1` to let a Kubernetes client use plain http to an API server on this machine.
pub const ALLOW_INSECURE_LOOPBACK: &str = "KEYWAY_ALLOW_INSECURE_LOOPBACK";

/// Refuses an API server reached over plain http — bearer tokens and Secret data would cross
/// the network in clear text — except on loopback when `allow_loopback` (the explicit opt-in).
/// The policy is keyway-identity's ([`keyway_identity::check_https`]); the wording and the
/// opt-in's name are the command line's.
pub fn check_api_server(url: &str, allow_loopback: bool) -> Result<(), CliError> {
    let Err(reason) = keyway_identity::check_https(url, allow_loopback) else {
        return Ok(());
    };
    let fix = match reason {
        InsecureReason::LoopbackNeedsOptIn => {
            format!("set {ALLOW_INSECURE_LOOPBACK}=1 to allow plain http on this machine only")
        }
        _ => "use the API server's https address".to_string(),
    };
    Err(CliError::Input(format!(
        "refusing the Kubernetes API server {url}: not https, so tokens and Secret data would \
         travel in clear text; {fix}"
    )))
}

/// Whether `KEYWAY_ALLOW_INSECURE_LOOPBACK=1` allows plain http to this machine.
pub fn allow_insecure_loopback() -> bool {
    std::env::var(ALLOW_INSECURE_LOOPBACK).is_ok_and(|v| v == "1")
}

/// A Kubernetes client for `config`, refusing plain http (see [`check_api_server`]).
pub fn kube_client(config: kube::Config) -> Result<kube::Client, CliError> {
    check_api_server(&config.cluster_url.to_string(), allow_insecure_loopback())?;
    kube::Client::try_from(config).map_err(CliError::remote)
}

/// The Kubernetes client of the environment (in-cluster config, else `KUBECONFIG`), refusing
/// plain http.
pub async fn default_kube_client() -> Result<kube::Client, CliError> {
    let config = kube::Config::infer().await.map_err(|e| {
        CliError::Input(format!(
            "no Kubernetes cluster (in-cluster config or KUBECONFIG): {e}"
        ))
    })?;
    kube_client(config)
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
    })?;
    Ok(FederatedCredential::from_config(
        &config,
        credential_options()?,
    )?)
}

/// Options for every workload identity credential the CLI makes: the transport trusting
/// `SSL_CERT_FILE`, and plain http to this machine when `KEYWAY_ALLOW_INSECURE_LOOPBACK=1`.
pub fn credential_options() -> Result<FederatedCredentialOptions, CliError> {
    Ok(FederatedCredentialOptions {
        client_options: keyway_identity::client_options()?,
        allow_insecure_loopback: allow_insecure_loopback(),
        ..FederatedCredentialOptions::default()
    })
}

/// Options for the official `SecretClient` against `vault_url`.
pub fn secret_client_options(
    vault_url: &str,
) -> Result<azure_security_keyvault_secrets::SecretClientOptions, CliError> {
    Ok(azure_security_keyvault_secrets::SecretClientOptions {
        client_options: keyway_identity::client_options()?,
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
            client_options: keyway_identity::client_options()?,
            verify_challenge_resource: !is_loopback(vault_url),
            ..KeyVaultSourceOptions::default()
        },
    )
    .map_err(CliError::from)
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_http_api_servers_are_refused_unless_loopback_and_opted_in() {
        use super::check_api_server;
        assert!(check_api_server("https://10.0.0.1:6443", false).is_ok());
        let remote = check_api_server("http://10.0.0.1:8080", true).unwrap_err();
        assert!(
            remote
                .to_string()
                .contains("use the API server's https address")
        );
        let local = check_api_server("http://127.0.0.1:8080", false).unwrap_err();
        assert!(
            local
                .to_string()
                .contains("KEYWAY_ALLOW_INSECURE_LOOPBACK=1")
        );
        assert!(check_api_server("http://127.0.0.1:8080", true).is_ok());
        assert!(check_api_server("http://localhost:8080/", true).is_ok());
    }

    #[test]
    fn loopback_urls() {
        assert!(super::is_loopback("https://127.0.0.1:4443"));
        assert!(super::is_loopback("https://localhost/"));
        assert!(super::is_loopback("https://[::1]:8443"));
        assert!(!super::is_loopback("https://myvault.vault.azure.net"));
    }
}
