//! HTTPS clients for Entra ID and issuers: the platform's trust roots plus the certificates in
//! `SSL_CERT_FILE` (how `keyway dev`'s CA, or a corporate proxy's, is trusted), with timeouts;
//! and the one policy for URLs that carry tokens or secret data ([`check_https`]).

use std::sync::Arc;
use std::time::Duration;

use crate::error::{IdentityError, InsecureReason, Result};

/// An HTTPS client trusting the platform's roots and `SSL_CERT_FILE`, 10 s to connect and 60 s
/// to read (the Azure SDK's defaults, which a custom client does not inherit).
pub fn https_client() -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60));
    if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        let config = |problem: String| IdentityError::Config {
            variable: "SSL_CERT_FILE",
            problem,
            fix: "point it at a PEM file of CA certificates, or unset it".into(),
        };
        let bytes = std::fs::read(&path)
            .map_err(|e| config(format!("({}) cannot be read: {e}", path.to_string_lossy())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|e| {
            config(format!(
                "({}) is not PEM certificates: {e}",
                path.to_string_lossy()
            ))
        })?;
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| IdentityError::Config {
        variable: "TLS trust roots",
        problem: format!("cannot be loaded ({e})"),
        fix: "install the ca-certificates package in the image, or set SSL_CERT_FILE".into(),
    })
}

/// Azure SDK client options whose transport is [`https_client`], retrying 3 times from 500 ms
/// (the SDK's default of 8 retries up to 30 s apart makes a broken setup look hung).
pub fn client_options() -> Result<azure_core::http::ClientOptions> {
    use azure_core::http::{ExponentialRetryOptions, RetryOptions};
    Ok(azure_core::http::ClientOptions {
        transport: Some(azure_core::http::Transport::new(Arc::new(https_client()?))),
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            max_retries: 3,
            initial_delay: azure_core::time::Duration::milliseconds(500),
            max_delay: azure_core::time::Duration::seconds(4),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Whether `url` names this machine (`localhost`, `127.0.0.0/8`, `[::1]`): the one place that
/// decides where plain http, or a vault that cannot prove its domain (an emulator), may be
/// allowed on an explicit opt-in.
///
/// ```
/// assert!(keyway_identity::is_loopback("https://127.0.0.1:4443"));
/// assert!(keyway_identity::is_loopback("http://localhost/"));
/// assert!(!keyway_identity::is_loopback("https://myvault.vault.azure.net"));
/// ```
pub fn is_loopback(url: &str) -> bool {
    let Some(host) = azure_core::http::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
    else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The one transport policy for every URL that carries a token or secret data (Entra's token
/// endpoint, a Kubernetes API server, a vault): `https` always; plain `http` only to this machine
/// ([`is_loopback`]) and only when `allow_insecure_loopback` (the explicit opt-in, for emulators
/// and local development); anything else refused, saying which of the two rules it broke.
///
/// | URL | opt-in | result |
/// |---|---|---|
/// | `https://any.host` | either | allowed |
/// | `http://127.0.0.1:8080`, `http://localhost`, `http://[::1]` | yes | allowed |
/// | `http://127.0.0.1:8080` | no | [`InsecureReason::LoopbackNeedsOptIn`] |
/// | `http://login.example.com`, `ftp://localhost`, not a URL | either | [`InsecureReason::NotHttps`] |
///
/// ```
/// use keyway_identity::{InsecureReason, check_https};
/// assert!(check_https("https://login.microsoftonline.com", false).is_ok());
/// assert!(check_https("http://127.0.0.1:8080", true).is_ok());
/// assert_eq!(check_https("http://127.0.0.1:8080", false), Err(InsecureReason::LoopbackNeedsOptIn));
/// assert_eq!(check_https("http://login.example.com", true), Err(InsecureReason::NotHttps));
/// ```
pub fn check_https(
    url: &str,
    allow_insecure_loopback: bool,
) -> std::result::Result<(), InsecureReason> {
    let scheme = azure_core::http::Url::parse(url)
        .map(|u| u.scheme().to_string())
        .unwrap_or_default();
    match scheme.as_str() {
        "https" => Ok(()),
        "http" if is_loopback(url) => {
            if allow_insecure_loopback {
                Ok(())
            } else {
                Err(InsecureReason::LoopbackNeedsOptIn)
            }
        }
        _ => Err(InsecureReason::NotHttps),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy as one table: URL, opt-in, outcome.
    #[test]
    fn https_policy_table() {
        use InsecureReason::{LoopbackNeedsOptIn, NotHttps};
        let table: &[(&str, bool, std::result::Result<(), InsecureReason>)] = &[
            ("https://login.microsoftonline.com", false, Ok(())),
            ("https://login.microsoftonline.com", true, Ok(())),
            ("HTTPS://login.microsoftonline.com", false, Ok(())),
            ("https://127.0.0.1:4443", false, Ok(())),
            ("http://127.0.0.1:8080", true, Ok(())),
            ("http://127.5.0.1:8080", true, Ok(())),
            ("http://localhost:8080/", true, Ok(())),
            ("http://LOCALHOST/", true, Ok(())),
            ("http://[::1]:8080", true, Ok(())),
            ("http://127.0.0.1:8080", false, Err(LoopbackNeedsOptIn)),
            ("http://localhost/", false, Err(LoopbackNeedsOptIn)),
            ("http://[::1]/", false, Err(LoopbackNeedsOptIn)),
            ("http://login.example.com", true, Err(NotHttps)),
            ("http://10.0.0.1:6443", true, Err(NotHttps)),
            ("http://localhost.example.com", true, Err(NotHttps)),
            ("http://127.0.0.1.example.com", true, Err(NotHttps)),
            ("ftp://localhost/", true, Err(NotHttps)),
            ("localhost:8080", true, Err(NotHttps)),
            ("not a url", true, Err(NotHttps)),
            ("", true, Err(NotHttps)),
        ];
        for (url, allow, expected) in table {
            assert_eq!(
                check_https(url, *allow),
                *expected,
                "{url} (opt-in {allow})"
            );
        }
    }

    #[test]
    fn loopback_hosts() {
        for url in [
            "https://127.0.0.1:4443",
            "https://localhost/",
            "https://[::1]:8443",
            "http://127.255.255.254",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "https://myvault.vault.azure.net",
            "https://10.0.0.1",
            "https://[::2]",
            "nonsense",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
