//! One X.509 certificate: its DER, and the details people look for.

use std::fmt;
use std::net::IpAddr;

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::algorithm::{key_algorithm_name, signature_algorithm_name};
use crate::error::{CertError, Result};

/// An X.509 certificate, held as DER, with its details read once when it is parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    details: CertificateDetails,
    names: RawNames,
}

/// The raw, comparable parts used to link a certificate to its issuer.
#[derive(Clone, PartialEq, Eq)]
struct RawNames {
    subject: Vec<u8>,
    issuer: Vec<u8>,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
}

/// What a certificate says about itself. Every field is derived from the DER.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateDetails {
    /// Subject distinguished name, e.g. `CN=opcua-server, O=Contoso`.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number, lowercase hex without separators or sign padding.
    pub serial: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Subject alternative names, in certificate order.
    pub san: Vec<SubjectAltName>,
    /// `basicConstraints` CA flag.
    pub is_ca: bool,
    /// `basicConstraints` path length constraint.
    pub path_len: Option<u32>,
    /// Key usage names (RFC 5280 spelling: `digitalSignature`, `keyCertSign`, ...).
    pub key_usage: Vec<String>,
    /// Whether a key usage extension is present at all (absent means "any").
    pub has_key_usage: bool,
    /// Extended key usage names (`serverAuth`, `clientAuth`, ...; other OIDs dotted).
    pub extended_key_usage: Vec<String>,
    /// Subject key identifier, lowercase hex.
    pub subject_key_id: Option<String>,
    /// Authority key identifier (key id part), lowercase hex.
    pub authority_key_id: Option<String>,
    /// Signature algorithm name, e.g. `sha256WithRSAEncryption`, `ecdsa-with-SHA256`.
    pub signature_algorithm: String,
    /// Public key algorithm, e.g. `RSA`, `EC P-256`, `Ed25519`.
    pub key_algorithm: String,
    /// Public key size in bits (RSA modulus bits, EC field size), 0 when unknown.
    pub key_bits: usize,
    /// SHA-1 thumbprint of the DER, lowercase hex (what Azure calls the thumbprint).
    pub sha1: String,
    /// SHA-256 thumbprint of the DER, lowercase hex.
    pub sha256: String,
    /// Subject and issuer are the same name.
    pub self_issued: bool,
}

/// One subject alternative name. Displays (and serialises) the way OpenSSL prints them:
/// `DNS:host`, `IP:10.0.0.1`, `URI:urn:contoso:opcua:server`, `email:a@b`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectAltName {
    /// A DNS name.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
    /// A URI (OPC UA application URIs live here).
    Uri(String),
    /// An RFC 822 e-mail address.
    Email(String),
    /// A directory name.
    DirectoryName(String),
    /// Anything else, described.
    Other(String),
}

impl fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Dns(v) => write!(f, "DNS:{v}"),
            SubjectAltName::Ip(v) => write!(f, "IP:{v}"),
            SubjectAltName::Uri(v) => write!(f, "URI:{v}"),
            SubjectAltName::Email(v) => write!(f, "email:{v}"),
            SubjectAltName::DirectoryName(v) => write!(f, "DirName:{v}"),
            SubjectAltName::Other(v) => f.write_str(v),
        }
    }
}

impl serde::Serialize for SubjectAltName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Certificate {
    /// Parses one DER certificate. Trailing bytes after the certificate are an error.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        Self::parse_at(der, 0)
    }

    /// Parses one DER certificate that stands at `index` in a larger input (for errors).
    pub(crate) fn parse_at(der: &[u8], index: usize) -> Result<Self> {
        let bad = |reason: String| CertError::Certificate { index, reason };
        let (rest, x509) = X509Certificate::from_der(der).map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad(format!(
                "{} bytes follow the certificate; one DER certificate was expected",
                rest.len()
            )));
        }
        let (details, names) = read_details(&x509, der).map_err(bad)?;
        Ok(Certificate {
            der: der.to_vec(),
            details,
            names,
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The details read from the certificate.
    pub fn details(&self) -> &CertificateDetails {
        &self.details
    }

    /// One `CERTIFICATE` PEM block.
    pub fn to_pem(&self) -> String {
        pem::encode_config(
            &pem::Pem::new("CERTIFICATE", self.der.clone()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }

    /// The parsed X.509 view, borrowing the DER.
    pub fn x509(&self) -> Result<X509Certificate<'_>> {
        X509Certificate::from_der(&self.der)
            .map(|(_, x509)| x509)
            .map_err(|e| CertError::Certificate {
                index: 0,
                reason: e.to_string(),
            })
    }

    /// Whether `self` issued `child`: by authority key id = subject key id when both carry key
    /// ids, else by issuer name = subject name.
    pub fn is_issuer_of(&self, child: &Certificate) -> bool {
        match (&child.names.authority_key_id, &self.names.subject_key_id) {
            (Some(aki), Some(ski)) => aki == ski,
            _ => child.names.issuer == self.names.subject,
        }
    }

    /// The raw subject key identifier and authority key identifier (its `keyIdentifier`), as
    /// Go's `x509.Certificate.SubjectKeyId` / `AuthorityKeyId` hold them.
    pub(crate) fn key_identifiers(&self) -> (Option<&[u8]>, Option<&[u8]>) {
        (
            self.names.subject_key_id.as_deref(),
            self.names.authority_key_id.as_deref(),
        )
    }

    /// Self-signed as far as names and key ids tell (the signature is checked by validation).
    pub fn is_self_signed(&self) -> bool {
        self.details.self_issued
            && match (&self.names.authority_key_id, &self.names.subject_key_id) {
                (Some(aki), Some(ski)) => aki == ski,
                _ => true,
            }
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.details.subject)
            .field("sha1", &self.details.sha1)
            .finish()
    }
}

/// Lowercase hex of a SHA-1 and a SHA-256 digest of `bytes`.
pub(crate) fn thumbprints(bytes: &[u8]) -> (String, String) {
    use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
    (
        hex::encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, bytes)),
        hex::encode(digest(&SHA256, bytes)),
    )
}

fn read_details(
    x509: &X509Certificate<'_>,
    der: &[u8],
) -> std::result::Result<(CertificateDetails, RawNames), String> {
    let mut san = Vec::new();
    let mut is_ca = false;
    let mut path_len = None;
    let mut key_usage = Vec::new();
    let mut has_key_usage = false;
    let mut extended_key_usage = Vec::new();
    let mut subject_key_id = None;
    let mut authority_key_id = None;
    for ext in x509.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(names) => {
                san.extend(names.general_names.iter().map(alt_name));
            }
            ParsedExtension::BasicConstraints(bc) => {
                is_ca = bc.ca;
                path_len = bc.path_len_constraint;
            }
            ParsedExtension::KeyUsage(ku) => {
                has_key_usage = true;
                key_usage = KEY_USAGE_NAMES
                    .iter()
                    .enumerate()
                    .filter(|(bit, _)| ku.flags >> bit & 1 == 1)
                    .map(|(_, name)| (*name).to_string())
                    .collect();
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                let known = [
                    (eku.any, "anyExtendedKeyUsage"),
                    (eku.server_auth, "serverAuth"),
                    (eku.client_auth, "clientAuth"),
                    (eku.code_signing, "codeSigning"),
                    (eku.email_protection, "emailProtection"),
                    (eku.time_stamping, "timeStamping"),
                    (eku.ocsp_signing, "OCSPSigning"),
                ];
                extended_key_usage = known
                    .iter()
                    .filter(|(set, _)| *set)
                    .map(|(_, name)| (*name).to_string())
                    .chain(eku.other.iter().map(|oid| oid.to_id_string()))
                    .collect();
            }
            ParsedExtension::SubjectKeyIdentifier(id) => subject_key_id = Some(id.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                authority_key_id = aki.key_identifier.as_ref().map(|id| id.0.to_vec());
            }
            ParsedExtension::ParseError { error } => {
                return Err(format!(
                    "extension {} is malformed: {error}",
                    ext.oid.to_id_string()
                ));
            }
            _ => {}
        }
    }

    let spki = x509.public_key();
    let (key_algorithm, key_bits) = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA".to_string(), unsigned_bits(rsa.modulus)),
        Ok(parsed) => {
            let name = key_algorithm_name(&spki.algorithm);
            (name, parsed.key_size())
        }
        Err(_) => (key_algorithm_name(&spki.algorithm), 0),
    };
    let (sha1, sha256) = thumbprints(der);
    let serial = x509.raw_serial();
    let significant = serial
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(serial.len().saturating_sub(1));
    let subject_raw = x509.subject().as_raw().to_vec();
    let issuer_raw = x509.issuer().as_raw().to_vec();
    let details = CertificateDetails {
        subject: x509.subject().to_string(),
        issuer: x509.issuer().to_string(),
        serial: hex::encode(&serial[significant..]),
        not_before: x509.validity().not_before.to_datetime(),
        not_after: x509.validity().not_after.to_datetime(),
        san,
        is_ca,
        path_len,
        key_usage,
        has_key_usage,
        extended_key_usage,
        subject_key_id: subject_key_id.as_ref().map(hex::encode),
        authority_key_id: authority_key_id.as_ref().map(hex::encode),
        signature_algorithm: signature_algorithm_name(&x509.signature_algorithm),
        key_algorithm,
        key_bits,
        sha1,
        sha256,
        self_issued: subject_raw == issuer_raw,
    };
    let names = RawNames {
        subject: subject_raw,
        issuer: issuer_raw,
        subject_key_id,
        authority_key_id,
    };
    Ok((details, names))
}

/// RFC 5280 key usage bit names, bit 0 first.
const KEY_USAGE_NAMES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

/// Bits in a big-endian unsigned integer, ignoring leading zero bytes.
pub(crate) fn unsigned_bits(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        Some(i) => (be.len() - i - 1) * 8 + (8 - be[i].leading_zeros() as usize),
        None => 0,
    }
}

fn alt_name(name: &GeneralName<'_>) -> SubjectAltName {
    match name {
        GeneralName::DNSName(v) => SubjectAltName::Dns((*v).to_string()),
        GeneralName::URI(v) => SubjectAltName::Uri((*v).to_string()),
        GeneralName::RFC822Name(v) => SubjectAltName::Email((*v).to_string()),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => SubjectAltName::Ip(IpAddr::from(
                <[u8; 4]>::try_from(*bytes).unwrap_or_default(),
            )),
            16 => SubjectAltName::Ip(IpAddr::from(
                <[u8; 16]>::try_from(*bytes).unwrap_or_default(),
            )),
            _ => SubjectAltName::Other(format!("IP:<{} bytes>", bytes.len())),
        },
        GeneralName::DirectoryName(dn) => SubjectAltName::DirectoryName(dn.to_string()),
        GeneralName::OtherName(oid, _) => {
            SubjectAltName::Other(format!("othername:{}", oid.to_id_string()))
        }
        GeneralName::RegisteredID(oid) => {
            SubjectAltName::Other(format!("RID:{}", oid.to_id_string()))
        }
        other => SubjectAltName::Other(format!("{other:?}").chars().take(80).collect()),
    }
}
