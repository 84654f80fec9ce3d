//! Reading decoded bytes into a [`Bundle`] of certificates, private keys and CRLs, whatever the
//! container: a PEM bundle, one DER certificate or CRL, or a PKCS#12 file.

use std::fmt;
use std::str::FromStr;

use crate::certificate::Certificate;
use crate::crl::Crl;
use crate::error::{CertError, Result};
use crate::private_key::PrivateKey;

/// The container format of a certificate secret, named by its Key Vault content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum ContentType {
    /// `application/x-pem-file`: one or more PEM blocks.
    #[serde(rename = "application/x-pem-file")]
    Pem,
    /// `application/pkix-cert`: one DER certificate.
    #[serde(rename = "application/pkix-cert")]
    PkixCert,
    /// `application/pkix-crl`: one DER CRL.
    #[serde(rename = "application/pkix-crl")]
    PkixCrl,
    /// `application/x-pkcs12`: a PFX (the backing secret of a Key Vault certificate).
    #[serde(rename = "application/x-pkcs12")]
    Pkcs12,
}

impl ContentType {
    /// The MIME type Key Vault and the az CLI use.
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Pem => "application/x-pem-file",
            ContentType::PkixCert => "application/pkix-cert",
            ContentType::PkixCrl => "application/pkix-crl",
            ContentType::Pkcs12 => "application/x-pkcs12",
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mime())
    }
}

impl FromStr for ContentType {
    type Err = CertError;

    /// Parses a MIME type, ignoring case and parameters (`; charset=...`); also accepts the
    /// short names `pem`, `der`, `crl`, `pfx`, `pkcs12`.
    fn from_str(s: &str) -> Result<Self> {
        let essence = s
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        Ok(match essence.as_str() {
            "application/x-pem-file" | "application/pem-certificate-chain" | "pem" => {
                ContentType::Pem
            }
            "application/pkix-cert" | "application/x-x509-ca-cert" | "der" | "cert" => {
                ContentType::PkixCert
            }
            "application/pkix-crl" | "crl" => ContentType::PkixCrl,
            "application/x-pkcs12" | "application/pkcs12" | "pfx" | "pkcs12" | "p12" => {
                ContentType::Pkcs12
            }
            _ => {
                return Err(CertError::UnknownContentType {
                    given: s.to_string(),
                });
            }
        })
    }
}

/// How to read decoded bytes. `Default` sniffs the format and uses the empty PKCS#12 password
/// Key Vault uses.
#[derive(Clone, Copy, Default)]
pub struct ParseOptions<'a> {
    /// The container format; sniffed when `None`.
    pub content_type: Option<ContentType>,
    /// The PKCS#12 password; Key Vault's is empty, which `None` means.
    pub password: Option<&'a str>,
}

impl fmt::Debug for ParseOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseOptions")
            .field("content_type", &self.content_type)
            .field("password", &self.password.map(|_| "<redacted>"))
            .finish()
    }
}

/// Everything a certificate secret holds, in input order.
#[derive(Debug, Clone)]
pub struct Bundle {
    format: ContentType,
    certificates: Vec<Certificate>,
    private_keys: Vec<PrivateKey>,
    crls: Vec<Crl>,
    ignored: Vec<String>,
}

impl Bundle {
    /// Reads decoded bytes (see [`crate::decode_value`]) as a certificate container.
    ///
    /// ```
    /// use keyway_cert::{Bundle, ParseOptions};
    /// let err = Bundle::parse(b"not a certificate", ParseOptions::default()).unwrap_err();
    /// assert!(err.to_string().contains("not a certificate bundle"));
    /// ```
    pub fn parse(bytes: &[u8], options: ParseOptions<'_>) -> Result<Bundle> {
        let format = match options.content_type {
            Some(format) => format,
            None => return sniff_and_parse(bytes, options.password),
        };
        match format {
            ContentType::Pem => parse_pem(bytes),
            ContentType::PkixCert => {
                Ok(Bundle::new(format, vec![Certificate::parse_at(bytes, 0)?]))
            }
            ContentType::PkixCrl => {
                let mut bundle = Bundle::new(format, Vec::new());
                bundle.crls.push(Crl::parse_at(bytes, 0)?);
                Ok(bundle)
            }
            ContentType::Pkcs12 => parse_pkcs12(bytes, options.password.unwrap_or("")),
        }
    }

    fn new(format: ContentType, certificates: Vec<Certificate>) -> Bundle {
        Bundle {
            format,
            certificates,
            private_keys: Vec::new(),
            crls: Vec::new(),
            ignored: Vec::new(),
        }
    }

    /// The container format the bytes were read as.
    pub fn format(&self) -> ContentType {
        self.format
    }

    /// The certificates, in input order.
    pub fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    /// The private keys, in input order, as PKCS#8.
    pub fn private_keys(&self) -> &[PrivateKey] {
        &self.private_keys
    }

    /// The revocation lists, in input order.
    pub fn crls(&self) -> &[Crl] {
        &self.crls
    }

    /// Labels of PEM blocks that were skipped (`PUBLIC KEY`, `EC PARAMETERS`, ...).
    pub fn ignored_blocks(&self) -> &[String] {
        &self.ignored
    }
}

fn sniff_and_parse(bytes: &[u8], password: Option<&str>) -> Result<Bundle> {
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return parse_pem(bytes);
    }
    if bytes.first() != Some(&0x30) {
        return Err(CertError::UnrecognisedFormat {
            reason: "no PEM armour, and not DER (does not start with a SEQUENCE, byte 0x30); \
                     if the value is encoded, name its encoding (hex, base64)"
                .into(),
        });
    }
    let as_cert = match Certificate::parse_at(bytes, 0) {
        Ok(cert) => return Ok(Bundle::new(ContentType::PkixCert, vec![cert])),
        Err(e) => e,
    };
    let as_pkcs12 = match parse_pkcs12(bytes, password.unwrap_or("")) {
        Ok(bundle) => return Ok(bundle),
        Err(e) => e,
    };
    if let Ok(crl) = Crl::parse_at(bytes, 0) {
        let mut bundle = Bundle::new(ContentType::PkixCrl, Vec::new());
        bundle.crls.push(crl);
        return Ok(bundle);
    }
    // A PKCS#12 with the wrong password is still a PKCS#12: say so rather than "unrecognised".
    if matches!(&as_pkcs12, CertError::Pkcs12 { reason } if reason.contains("password")) {
        return Err(as_pkcs12);
    }
    Err(CertError::UnrecognisedFormat {
        reason: format!(
            "DER, but neither a certificate ({as_cert}), a PKCS#12 file ({as_pkcs12}) nor a CRL"
        ),
    })
}

fn parse_pem(bytes: &[u8]) -> Result<Bundle> {
    let mut bundle = Bundle::new(ContentType::Pem, Vec::new());
    let mut key_index = 0;
    for (block, (offset, end)) in pem_blocks(bytes).into_iter().enumerate() {
        let bad = |label: &str, reason: String| CertError::Pem {
            block,
            label: label.to_string(),
            reason: format!("{reason} (block starts at byte offset {offset})"),
        };
        let Some(end) = end else {
            return Err(bad(
                "?",
                "no matching -----END line; the bundle is truncated".into(),
            ));
        };
        let parsed = pem::parse(&bytes[offset..end]).map_err(|e| bad("?", e.to_string()))?;
        let label = parsed.tag().to_string();
        let der = parsed.contents();
        match label.as_str() {
            "CERTIFICATE" | "X509 CERTIFICATE" => {
                let index = bundle.certificates.len();
                let cert =
                    Certificate::parse_at(der, index).map_err(|e| bad(&label, e.to_string()))?;
                bundle.certificates.push(cert);
            }
            "TRUSTED CERTIFICATE" => {
                // OpenSSL's trusted form: the certificate followed by trust settings.
                let index = bundle.certificates.len();
                let cert_len =
                    der_length(der).ok_or_else(|| bad(&label, "malformed DER".into()))?;
                let cert = Certificate::parse_at(&der[..cert_len], index)
                    .map_err(|e| bad(&label, e.to_string()))?;
                bundle.certificates.push(cert);
            }
            "X509 CRL" => {
                let index = bundle.crls.len();
                bundle
                    .crls
                    .push(Crl::parse_at(der, index).map_err(|e| bad(&label, e.to_string()))?);
            }
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                if parsed
                    .headers()
                    .get("Proc-Type")
                    .is_some_and(|v| v.contains("ENCRYPTED"))
                {
                    return Err(CertError::PrivateKey {
                        index: key_index,
                        reason: "the key is encrypted (legacy PEM encryption); Key Vault stores keys \
                                 unencrypted: decrypt it first (openssl pkey -in key.pem -out plain.pem)"
                            .into(),
                    });
                }
                let key = match label.as_str() {
                    "PRIVATE KEY" => PrivateKey::pkcs8_at(der, key_index),
                    "RSA PRIVATE KEY" => PrivateKey::pkcs1_at(der, key_index),
                    _ => PrivateKey::sec1_at(der, key_index),
                }?;
                bundle.private_keys.push(key);
                key_index += 1;
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(CertError::PrivateKey {
                    index: key_index,
                    reason:
                        "the key is an encrypted PKCS#8 key; Key Vault stores keys unencrypted: \
                             decrypt it first (openssl pkcs8 -in key.pem -nocrypt -out plain.pem)"
                            .into(),
                });
            }
            _ => bundle.ignored.push(label),
        }
    }
    if bundle.certificates.is_empty() && bundle.private_keys.is_empty() && bundle.crls.is_empty() {
        if bundle.ignored.is_empty() {
            // No block at all: no "-----BEGIN " anywhere.
            return Err(CertError::UnrecognisedFormat {
                reason: if bytes.first() == Some(&0x30) {
                    "no PEM armour (no -----BEGIN ...----- line): the bytes are binary DER (they \
                     start with a SEQUENCE, byte 0x30), not PEM text"
                } else {
                    "no PEM armour (no -----BEGIN ...----- line): not PEM text"
                }
                .into(),
            });
        }
        return Err(CertError::UnrecognisedFormat {
            reason: format!(
                "the PEM holds no certificate, key or CRL, only {}",
                bundle.ignored.join(", ")
            ),
        });
    }
    Ok(bundle)
}

/// Byte ranges of PEM blocks: from each `-----BEGIN ` to the end of its `-----END ...-----`
/// line (`None` when the end is missing). Text between blocks is ignored, as OpenSSL does.
fn pem_blocks(bytes: &[u8]) -> Vec<(usize, Option<usize>)> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"-----END ";
    let find = |from: usize, needle: &[u8]| {
        bytes
            .get(from..)
            .and_then(|rest| rest.windows(needle.len()).position(|w| w == needle))
            .map(|p| p + from)
    };
    let mut blocks = Vec::new();
    let mut at = 0;
    while let Some(begin) = find(at, BEGIN) {
        let end = find(begin + BEGIN.len(), END).and_then(|end_line| {
            // the closing dashes of the END line
            find(end_line + END.len(), b"-----").map(|dashes| dashes + 5)
        });
        blocks.push((begin, end));
        match end {
            Some(end) => at = end,
            None => break,
        }
    }
    blocks
}

/// Length of the first DER TLV in `der`, header included.
fn der_length(der: &[u8]) -> Option<usize> {
    use der::{Decode, Header, Reader, SliceReader};
    let mut reader = SliceReader::new(der).ok()?;
    let header = Header::decode(&mut reader).ok()?;
    let header_len = usize::try_from(reader.position()).ok()?;
    let body = usize::try_from(header.length()).ok()?;
    (header_len + body <= der.len()).then_some(header_len + body)
}

fn parse_pkcs12(bytes: &[u8], password: &str) -> Result<Bundle> {
    use p12_keystore::error::Error as P12;
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(bytes, password).map_err(|e| CertError::Pkcs12 {
        reason: match e {
            P12::MacError(_) => if password.is_empty() {
                "wrong password: the integrity check failed with the empty password Key Vault uses; \
                 give the file's password"
            } else {
                "wrong password: the integrity check failed"
            }
            .to_string(),
            P12::UnsupportedEncryptionScheme | P12::UnsupportedMacAlgorithm => {
                format!("{e}; re-export it with `openssl pkcs12 -export` (AES-256) or `-legacy` (3DES)")
            }
            other => other.to_string(),
        },
    })?;
    let mut bundle = Bundle::new(ContentType::Pkcs12, Vec::new());
    for (index, bag) in archive.certs.iter().enumerate() {
        bundle
            .certificates
            .push(Certificate::parse_at(bag.cert.as_der(), index)?);
    }
    for (index, bag) in archive.keys.iter().enumerate() {
        bundle
            .private_keys
            .push(PrivateKey::pkcs8_at(bag.key.as_der(), index)?);
    }
    if bundle.certificates.is_empty() && bundle.private_keys.is_empty() {
        return Err(CertError::Pkcs12 {
            reason: "the file holds no certificate and no private key".into(),
        });
    }
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_parse_loosely() {
        assert_eq!(
            "application/x-pem-file".parse::<ContentType>().unwrap(),
            ContentType::Pem
        );
        assert_eq!(
            "Application/PKIX-Cert; x=1".parse::<ContentType>().unwrap(),
            ContentType::PkixCert
        );
        assert_eq!("pfx".parse::<ContentType>().unwrap(), ContentType::Pkcs12);
        assert!("text/plain".parse::<ContentType>().is_err());
    }

    /// Bytes read as PEM that hold no armour at all are said to be so (DER named as such),
    /// not "PEM armour found".
    #[test]
    fn no_armour_is_said_as_found() {
        let reason = |bytes: &[u8]| match parse_pem(bytes) {
            Err(CertError::UnrecognisedFormat { reason }) => reason,
            other => panic!("{:?}", other.map(|b| b.certificates().len())),
        };
        assert_eq!(
            reason(&[0x30, 0x82, 0x01, 0x00, 0x02]),
            "no PEM armour (no -----BEGIN ...----- line): the bytes are binary DER (they start \
             with a SEQUENCE, byte 0x30), not PEM text"
        );
        assert_eq!(
            reason(b"just text"),
            "no PEM armour (no -----BEGIN ...----- line): not PEM text"
        );
    }

    #[test]
    fn pem_block_ranges() {
        let text =
            b"junk\n-----BEGIN A-----\nAA==\n-----END A-----\nmore\n-----BEGIN B-----\nAA==\n";
        let blocks = pem_blocks(text);
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            &text[blocks[0].0..blocks[0].1.unwrap()],
            b"-----BEGIN A-----\nAA==\n-----END A-----"
        );
        assert_eq!(blocks[1].1, None);
    }

    #[test]
    fn truncated_pem_names_the_block() {
        let err = Bundle::parse(b"-----BEGIN CERTIFICATE-----\nMII", ParseOptions::default())
            .unwrap_err();
        assert!(matches!(err, CertError::Pem { block: 0, .. }), "{err}");
        assert!(err.to_string().contains("truncated"));
    }

    #[test]
    fn encrypted_keys_are_refused_with_the_fix() {
        let text =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = Bundle::parse(text, ParseOptions::default()).unwrap_err();
        assert!(err.to_string().contains("-nocrypt"), "{err}");
    }

    #[test]
    fn non_der_binary_says_to_name_the_encoding() {
        let err = Bundle::parse(b"\x01\x02", ParseOptions::default()).unwrap_err();
        assert!(err.to_string().contains("name its encoding"), "{err}");
    }
}
