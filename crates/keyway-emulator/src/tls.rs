//! TLS for every emulated service: a fresh CA and server certificate per emulator instance,
//! valid for `localhost`, `127.0.0.1` and `::1`; and clients that trust exactly that CA.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{EmulatorError, Result};

/// The emulator's certificate authority and the server identity it signed.
pub struct Tls {
    ca_pem: String,
    server_config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

fn crypto(what: &'static str) -> impl Fn(rcgen::Error) -> EmulatorError {
    move |e| EmulatorError::Crypto {
        what,
        reason: e.to_string(),
    }
}

impl Tls {
    /// A new CA and a server certificate for the loopback names.
    pub fn generate() -> Result<Tls> {
        let ca_key = KeyPair::generate().map_err(crypto("CA key"))?;
        let mut ca = CertificateParams::default();
        ca.distinguished_name
            .push(DnType::CommonName, "keyway emulator CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).map_err(crypto("CA certificate"))?;

        let server_key = KeyPair::generate().map_err(crypto("server key"))?;
        let mut server = CertificateParams::default();
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().map_err(crypto("server name"))?),
            SanType::IpAddress([127, 0, 0, 1].into()),
            SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
        ];
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_params(&ca, &ca_key);
        let server_cert = server
            .signed_by(&server_key, &issuer)
            .map_err(crypto("server certificate"))?;

        let chain = vec![
            CertificateDer::from(server_cert.der().to_vec()),
            CertificateDer::from(ca_cert.der().to_vec()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| EmulatorError::Crypto {
                what: "TLS configuration",
                reason: e.to_string(),
            })?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| EmulatorError::Crypto {
                what: "TLS configuration",
                reason: e.to_string(),
            })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            ca_pem: ca_cert.pem(),
            server_config: Arc::new(config),
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server configuration every listener uses.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_config.clone()
    }

    /// A reqwest client that trusts this CA only, with the timeouts a default Azure SDK client
    /// would have (a custom client does not inherit them): 10 s to connect, 60 s to read.
    pub fn client(&self) -> Result<reqwest::Client> {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes())
            .map_err(|e| EmulatorError::Client(e.to_string()))?;
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| EmulatorError::Client(e.to_string()))
    }
}
