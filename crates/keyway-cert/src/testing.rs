//! Test PKIs built at run time (feature `testing`): a CA → intermediate → leaf chain with RSA,
//! EC or Ed25519 keys, any validity, CRLs and PKCS#12 files — for keyway's tests and yours.
//!
//! ```
//! use keyway_cert::testing::{KeyKind, TestPki};
//! let pki = TestPki::generate(KeyKind::EcP256, &["opcua-server.local"]);
//! let pem = pki.chain_pem(true);
//! assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 3);
//! ```

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber, SignatureAlgorithm,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// The key type of a generated certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA 2048 with SHA-256.
    Rsa2048,
    /// ECDSA P-256 with SHA-256.
    EcP256,
    /// ECDSA P-384 with SHA-384.
    EcP384,
    /// Ed25519.
    Ed25519,
}

impl KeyKind {
    fn algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyKind::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
            KeyKind::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyKind::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }

    /// A fresh key pair of this kind.
    pub fn generate(self) -> KeyPair {
        let made = match self {
            KeyKind::Rsa2048 => {
                KeyPair::generate_rsa_for(self.algorithm(), rcgen::RsaKeySize::_2048)
            }
            _ => KeyPair::generate_for(self.algorithm()),
        };
        made.expect("aws-lc-rs generates every key kind listed")
    }
}

/// What to put in a generated certificate. `Default` is a one-year end-entity certificate
/// valid from one day ago, with authority and subject key identifiers.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// The subject common name.
    pub common_name: String,
    /// The key type.
    pub key: KeyKind,
    /// Make it a CA (basicConstraints CA:TRUE, keyCertSign, cRLSign).
    pub is_ca: bool,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Subject alternative names: `urn:`/`http(s)://` strings become URIs, IP addresses IPs,
    /// the rest DNS names.
    pub san: Vec<String>,
    /// Include the authority key identifier extension.
    pub authority_key_id: bool,
    /// Serial number bytes (big endian); random when `None`.
    pub serial: Option<Vec<u8>>,
}

impl Default for CertSpec {
    fn default() -> Self {
        let now = OffsetDateTime::now_utc();
        CertSpec {
            common_name: "keyway test".into(),
            key: KeyKind::EcP256,
            is_ca: false,
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(365),
            san: Vec::new(),
            authority_key_id: true,
            serial: None,
        }
    }
}

/// A generated certificate with its key; it can issue further certificates.
pub struct Issued {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
}

impl Issued {
    /// A self-signed certificate.
    pub fn self_signed(spec: &CertSpec) -> Issued {
        let key = spec.key.generate();
        let params = params(spec);
        let der = params
            .self_signed(&key)
            .expect("valid parameters")
            .der()
            .to_vec();
        Issued { params, key, der }
    }

    /// A certificate for `spec`, signed by `self`.
    pub fn issue(&self, spec: &CertSpec) -> Issued {
        self.issue_with_key(spec, spec.key.generate())
    }

    /// A certificate for `spec` with a given key pair, signed by `self`.
    pub fn issue_with_key(&self, spec: &CertSpec, key: KeyPair) -> Issued {
        let params = params(spec);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let der = params
            .signed_by(&key, &issuer)
            .expect("valid parameters")
            .der()
            .to_vec();
        Issued { params, key, der }
    }

    /// The certificate DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as one PEM block.
    pub fn pem(&self) -> String {
        pem::encode_config(
            &pem::Pem::new("CERTIFICATE", self.der.clone()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }

    /// The private key as PKCS#8 DER.
    pub fn key_pkcs8(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.key.serialize_der())
    }

    /// The private key as a `PRIVATE KEY` PEM block.
    pub fn key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(self.key.serialize_pem())
    }

    /// A CRL issued by `self` (which must be a CA) revoking `serials`, valid from
    /// `this_update` for `lifetime`.
    pub fn crl(
        &self,
        serials: &[&[u8]],
        this_update: OffsetDateTime,
        lifetime: Duration,
    ) -> Vec<u8> {
        let params = CertificateRevocationListParams {
            this_update,
            next_update: this_update + lifetime,
            crl_number: SerialNumber::from_slice(&[1]),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(s),
                    revocation_time: this_update,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let issuer = Issuer::from_params(&self.params, &self.key);
        params
            .signed_by(&issuer)
            .expect("valid CRL parameters")
            .der()
            .to_vec()
    }
}

/// A three-level PKI: root CA → intermediate CA → leaf.
pub struct TestPki {
    /// The self-signed root.
    pub root: Issued,
    /// The intermediate CA.
    pub intermediate: Issued,
    /// The end-entity certificate.
    pub leaf: Issued,
}

impl TestPki {
    /// A PKI whose three certificates all use `key`, currently valid, the leaf for `names`.
    pub fn generate(key: KeyKind, names: &[&str]) -> TestPki {
        let root = Issued::self_signed(&CertSpec {
            common_name: "keyway test root".into(),
            key,
            is_ca: true,
            not_after: OffsetDateTime::now_utc() + Duration::days(3650),
            ..CertSpec::default()
        });
        let intermediate = root.issue(&CertSpec {
            common_name: "keyway test intermediate".into(),
            key,
            is_ca: true,
            not_after: OffsetDateTime::now_utc() + Duration::days(1825),
            ..CertSpec::default()
        });
        let leaf = intermediate.issue(&CertSpec {
            common_name: names.first().copied().unwrap_or("keyway test leaf").into(),
            key,
            san: names.iter().map(|n| n.to_string()).collect(),
            ..CertSpec::default()
        });
        TestPki {
            root,
            intermediate,
            leaf,
        }
    }

    /// The leaf's key (when `with_key`) and then leaf → intermediate → root, as PEM.
    pub fn chain_pem(&self, with_key: bool) -> String {
        let mut out = String::new();
        if with_key {
            out.push_str(&self.leaf.key_pem());
        }
        for cert in [&self.leaf, &self.intermediate, &self.root] {
            out.push_str(&cert.pem());
        }
        out
    }

    /// A PKCS#12 file with the leaf's key and the three certificates, encrypted the modern way
    /// (PBES2, AES-256, HMAC-SHA256) under `password` (Key Vault uses the empty password).
    pub fn pkcs12(&self, password: &str) -> Vec<u8> {
        pkcs12(
            &self.leaf,
            &[&self.leaf, &self.intermediate, &self.root],
            password,
        )
    }
}

/// A PKCS#12 file with `key_of`'s private key and `certs`, in that order, under `password`.
pub fn pkcs12(key_of: &Issued, certs: &[&Issued], password: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let chain: Vec<Certificate> = certs
        .iter()
        .map(|c| Certificate::from_der(c.der()).expect("generated DER parses"))
        .collect();
    let key = PrivateKey::from_der(&key_of.key_pkcs8()).expect("generated PKCS#8 parses");
    let mut store = KeyStore::new();
    store.add_entry(
        "keyway",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(b"keyway-key-1".to_vec(), key, chain)),
    );
    store.writer(password).write().expect("PKCS#12 serialises")
}

/// A PKCS#12 file the way Key Vault exports a certificate (3DES key and certificate
/// encryption, HMAC-SHA1 MAC, the only ciphers Go's `x/crypto/pkcs12` reads), from raw DER:
/// the PKCS#8 key exactly as given (attributes and all) and the certificates in the order given.
pub fn legacy_pkcs12_from_der(key_pkcs8: &[u8], certs: &[&[u8]], password: &str) -> Vec<u8> {
    use p12_keystore::{
        Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
        PrivateKeyChain,
    };
    let chain: Vec<Certificate> = certs
        .iter()
        .map(|der| Certificate::from_der(der).expect("certificate DER parses"))
        .collect();
    let key = PrivateKey::from_der(key_pkcs8).expect("a PKCS#8 PrivateKeyInfo");
    let mut store = KeyStore::new();
    store.add_entry(
        "keyway",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(b"keyway-key-1".to_vec(), key, chain)),
    );
    store
        .writer(password)
        .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
        .mac_algorithm(MacAlgorithm::HmacSha1)
        .write()
        .expect("PKCS#12 serialises")
}

fn params(spec: &CertSpec) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, spec.common_name.clone());
    params
        .distinguished_name
        .push(DnType::OrganizationName, "keyway tests");
    params.not_before = spec.not_before;
    params.not_after = spec.not_after;
    params.use_authority_key_identifier_extension = spec.authority_key_id;
    params.serial_number = spec.serial.as_deref().map(SerialNumber::from_slice);
    params.subject_alt_names = spec
        .san
        .iter()
        .map(|name| {
            if let Ok(ip) = name.parse() {
                SanType::IpAddress(ip)
            } else if name.starts_with("urn:") || name.contains("://") {
                SanType::URI(name.as_str().try_into().expect("ASCII URI"))
            } else {
                SanType::DnsName(name.as_str().try_into().expect("ASCII DNS name"))
            }
        })
        .collect();
    if spec.is_ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
    }
    params
}
