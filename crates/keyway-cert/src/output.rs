//! What a bundle becomes on disk or in a Kubernetes Secret, matching the Secrets Store CSI
//! Azure provider: a PEM bundle (PKCS#8 keys first, then the chain leaf → root), the leaf
//! alone, its public key, `tls.crt`/`tls.key`, DER, the PFX as it is, and trust-list entries.

use std::fmt;
use std::str::FromStr;

use zeroize::Zeroizing;

use crate::bundle::{Bundle, ContentType};
use crate::chain::ChainOrder;
use crate::error::{CertError, Result};

/// An output a bundle can be converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// Every private key (PKCS#8 `PRIVATE KEY`), then every certificate in chain order.
    PemBundle,
    /// The leaf certificate only, one `CERTIFICATE` block (objectType `cert`).
    Leaf,
    /// The leaf's public key as a `PUBLIC KEY` block (objectType `key`).
    PublicKey,
    /// The leaf certificate as DER.
    Der,
    /// `tls.crt` (the chain) and `tls.key` (the leaf's key), as a `kubernetes.io/tls` Secret holds.
    Tls,
    /// The PKCS#12 bytes unchanged (objectFormat `pfx`); only for PKCS#12 input.
    Pfx,
    /// OPC UA trust-list entries: each certificate as `.der`, each CRL as `.crl`.
    TrustList,
}

impl OutputFormat {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::PemBundle => "pem",
            OutputFormat::Leaf => "leaf",
            OutputFormat::PublicKey => "public-key",
            OutputFormat::Der => "der",
            OutputFormat::Tls => "tls",
            OutputFormat::Pfx => "pfx",
            OutputFormat::TrustList => "trust-list",
        }
    }

    /// Whether the output is a set of files (a directory) rather than one file.
    pub fn is_directory(self) -> bool {
        matches!(self, OutputFormat::Tls | OutputFormat::TrustList)
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "pem" => OutputFormat::PemBundle,
            "leaf" | "cert" => OutputFormat::Leaf,
            "public-key" | "key" => OutputFormat::PublicKey,
            "der" => OutputFormat::Der,
            "tls" => OutputFormat::Tls,
            "pfx" => OutputFormat::Pfx,
            "trust-list" => OutputFormat::TrustList,
            other => {
                return Err(format!(
                    "unknown output {other:?}: expected pem, leaf, public-key, der, tls, pfx or trust-list"
                ));
            }
        })
    }
}

/// One produced file: a name relative to the output directory, and its bytes.
#[derive(Clone)]
pub struct OutputFile {
    /// File name (or Secret key), e.g. `tls.key`, `bundle.pem`, `opcua-ca.der`.
    pub name: String,
    /// The contents, wiped on drop.
    pub contents: Zeroizing<Vec<u8>>,
    /// Whether the contents include a private key (write it with restrictive permissions).
    pub sensitive: bool,
}

impl fmt::Debug for OutputFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputFile")
            .field("name", &self.name)
            .field("bytes", &self.contents.len())
            .field("sensitive", &self.sensitive)
            .finish()
    }
}

/// `tls.crt` and `tls.key` for a `kubernetes.io/tls` Secret.
#[derive(Clone)]
pub struct TlsPair {
    /// Every certificate, in chain order, as PEM.
    pub certificate_chain: String,
    /// The leaf's private key as PKCS#8 PEM, wiped on drop.
    pub private_key: Zeroizing<String>,
}

impl fmt::Debug for TlsPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsPair")
            .field(
                "certificate_chain",
                &format_args!("<{} bytes>", self.certificate_chain.len()),
            )
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// The file extension of certificates in a trust list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrustListCertFormat {
    /// `.der`, DER bytes.
    #[default]
    Der,
    /// `.crt`, one PEM block.
    Crt,
}

impl Bundle {
    /// The chain order outputs use (see [`ChainOrder::output_order`]).
    pub fn chain(&self) -> ChainOrder {
        ChainOrder::of(self.certificates())
    }

    /// All private keys as PKCS#8 `PRIVATE KEY` blocks, then all certificates leaf → root: the
    /// Secrets Store CSI Azure provider's output for a certificate's backing secret.
    pub fn to_pem_bundle(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for key in self.private_keys() {
            out.push_str(&key.to_pem());
        }
        out.push_str(&self.chain_pem());
        for crl in self.crls() {
            out.push_str(&crl.to_pem());
        }
        out
    }

    /// Byte for byte what the Secrets Store CSI Azure provider writes for a Key Vault
    /// certificate's PKCS#12 backing secret (`decodePKCS12`): every private key re-encoded as
    /// Go's `x509.MarshalPKCS8PrivateKey` does (a plain PKCS#8 `PRIVATE KEY`, attributes and
    /// bag attributes dropped), then every certificate in [`crate::provider_order`] (leaf →
    /// root only when the key identifiers link them all, else as stored). Each block as Go's
    /// `pem.EncodeToMemory`: 64-character lines, LF, no headers, no blank lines.
    pub fn to_provider_pem(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for key in self.private_keys() {
            out.push_str(&key.to_provider_pem());
        }
        let certs = self.certificates();
        for i in crate::chain::provider_order(certs) {
            out.push_str(&certs[i].to_pem());
        }
        out
    }

    /// Every certificate, in chain order, as PEM blocks.
    pub fn chain_pem(&self) -> String {
        let certs = self.certificates();
        self.chain()
            .output_order()
            .into_iter()
            .map(|i| certs[i].to_pem())
            .collect()
    }

    /// The leaf certificate as one `CERTIFICATE` block (objectType `cert`).
    pub fn leaf_pem(&self) -> Result<String> {
        Ok(self.leaf(OutputFormat::Leaf)?.to_pem())
    }

    /// The leaf certificate as DER.
    pub fn leaf_der(&self) -> Result<&[u8]> {
        Ok(self.leaf(OutputFormat::Der)?.der())
    }

    /// The leaf's public key as a `PUBLIC KEY` block (objectType `key`).
    pub fn public_key_pem(&self) -> Result<String> {
        let leaf = self.leaf(OutputFormat::PublicKey)?;
        let x509 = leaf.x509()?;
        Ok(pem::encode_config(
            &pem::Pem::new("PUBLIC KEY", x509.public_key().raw.to_vec()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        ))
    }

    /// `tls.crt` (every certificate, the leaf first, then chain order) and `tls.key` (the
    /// private key that belongs to the leaf, as PKCS#8).
    pub fn tls_pair(&self) -> Result<TlsPair> {
        let leaf = self.leaf(OutputFormat::Tls)?;
        let key = key_for(self.private_keys(), leaf).map_err(|reason| CertError::Output {
            output: "tls",
            reason: format!("the bundle {reason}"),
        })?;
        Ok(TlsPair {
            certificate_chain: self.leaf_first_chain_pem(),
            private_key: key.to_pem(),
        })
    }

    /// Every certificate as PEM, the leaf first and then the rest in chain order — the order a
    /// TLS server presents them in, also when the chain cannot be linked.
    fn leaf_first_chain_pem(&self) -> String {
        let certs = self.certificates();
        let chain = self.chain();
        let leaf = chain.leaf();
        leaf.into_iter()
            .chain(
                chain
                    .output_order()
                    .into_iter()
                    .filter(|&i| Some(i) != leaf),
            )
            .map(|i| certs[i].to_pem())
            .collect()
    }

    /// Trust-list or issuer-list entries: `<name>.der` (or `.crt`) per certificate and
    /// `<name>.crl` per CRL; with several, `<name>-<n>.<ext>` numbered from 0 in chain order.
    pub fn trust_list_entries(&self, name: &str, format: TrustListCertFormat) -> Vec<OutputFile> {
        let certs = self.certificates();
        let order = self.chain().output_order();
        let numbered = |i: usize, count: usize, ext: &str| {
            if count == 1 {
                format!("{name}.{ext}")
            } else {
                format!("{name}-{i}.{ext}")
            }
        };
        let mut files = Vec::new();
        for (n, &i) in order.iter().enumerate() {
            let (ext, contents) = match format {
                TrustListCertFormat::Der => ("der", certs[i].der().to_vec()),
                TrustListCertFormat::Crt => ("crt", certs[i].to_pem().into_bytes()),
            };
            files.push(OutputFile {
                name: numbered(n, order.len(), ext),
                contents: Zeroizing::new(contents),
                sensitive: false,
            });
        }
        for (n, crl) in self.crls().iter().enumerate() {
            files.push(OutputFile {
                name: numbered(n, self.crls().len(), "crl"),
                contents: Zeroizing::new(crl.der().to_vec()),
                sensitive: false,
            });
        }
        files
    }

    /// Produces `format` as files. `decoded` is the decoded secret the bundle was parsed from
    /// (only [`OutputFormat::Pfx`] uses it); `name` names the files where the format has no
    /// fixed names.
    pub fn render(
        &self,
        format: OutputFormat,
        decoded: &[u8],
        name: &str,
    ) -> Result<Vec<OutputFile>> {
        let one = |file: String, bytes: Vec<u8>, sensitive: bool| {
            vec![OutputFile {
                name: file,
                contents: Zeroizing::new(bytes),
                sensitive,
            }]
        };
        Ok(match format {
            OutputFormat::PemBundle => one(
                format!("{name}.pem"),
                self.to_pem_bundle().as_bytes().to_vec(),
                !self.private_keys().is_empty(),
            ),
            OutputFormat::Leaf => one(format!("{name}.crt"), self.leaf_pem()?.into_bytes(), false),
            OutputFormat::PublicKey => one(
                format!("{name}.pub.pem"),
                self.public_key_pem()?.into_bytes(),
                false,
            ),
            OutputFormat::Der => one(format!("{name}.der"), self.leaf_der()?.to_vec(), false),
            OutputFormat::Tls => {
                let pair = self.tls_pair()?;
                let mut files = one("tls.crt".into(), pair.certificate_chain.into_bytes(), false);
                files.extend(one(
                    "tls.key".into(),
                    pair.private_key.as_bytes().to_vec(),
                    true,
                ));
                files
            }
            OutputFormat::Pfx => {
                if self.format() != ContentType::Pkcs12 {
                    return Err(CertError::Output {
                        output: "pfx",
                        reason: format!(
                            "the input is {}, not PKCS#12; pfx passes a PFX through unchanged",
                            self.format()
                        ),
                    });
                }
                one(format!("{name}.pfx"), decoded.to_vec(), true)
            }
            OutputFormat::TrustList => self.trust_list_entries(name, TrustListCertFormat::Der),
        })
    }

    fn leaf(&self, output: OutputFormat) -> Result<&crate::Certificate> {
        let output = output.as_str();
        self.chain()
            .leaf()
            .map(|i| &self.certificates()[i])
            .ok_or_else(|| CertError::Output {
                output,
                reason: "the bundle holds no certificate".into(),
            })
    }
}

/// The key a `kubernetes.io/tls` Secret holds the certificate chain under.
pub const TLS_CERTIFICATE_KEY: &str = "tls.crt";
/// The key a `kubernetes.io/tls` Secret holds the private key under.
pub const TLS_PRIVATE_KEY_KEY: &str = "tls.key";

/// The key among `keys` that belongs to `leaf`: the one that matches it, or the only one when
/// whether it matches cannot be told. The error completes "the bundle ...".
fn key_for<'a>(
    keys: &'a [crate::PrivateKey],
    leaf: &crate::Certificate,
) -> std::result::Result<&'a crate::PrivateKey, String> {
    match keys {
        [] => Err("holds no private key; tls.key needs one".into()),
        [only] if only.matches(leaf) != Some(false) => Ok(only),
        _ => keys
            .iter()
            .find(|k| k.matches(leaf) == Some(true))
            .ok_or_else(|| {
                format!(
                    "holds no private key that belongs to the leaf certificate ({})",
                    leaf.details().subject
                )
            }),
    }
}

/// Reads a synced or stored value in any form keyway reads — PEM with its blocks in any order,
/// DER, PKCS#12 (legacy or AES, Key Vault's empty password), or any of them hex- or
/// base64-encoded — by sniffing the encoding and then the container.
fn parse_any(value: &[u8]) -> Result<Bundle> {
    let decoded = crate::decode_value(value, crate::DecodeOptions::default())?;
    Bundle::parse(decoded.bytes(), crate::ParseOptions::default())
}

/// The values of a `kubernetes.io/tls` Secret, as the Secret Store extension writes them, from
/// the synced values mapped to its two keys (the same value for both, or one each): under
/// `tls.crt` every certificate of `certificate` as PEM, the leaf first, then chain order; under
/// `tls.key` the private key in `private_key` that belongs to that leaf, as PKCS#8 PEM. Each
/// value may be PEM (blocks in any order), DER or PKCS#12 (legacy or AES), raw or hex- or
/// base64-encoded.
///
/// A value that cannot be read, `certificate` without a certificate, or `private_key` without
/// the leaf's key is an [`CertError::Output`] whose `output` is `tls.crt` or `tls.key`, saying
/// which of the two values is at fault.
///
/// ```
/// use keyway_cert::testing::{KeyKind, TestPki};
/// let pki = TestPki::generate(KeyKind::EcP256, &["web.local"]);
/// let bundle = pki.chain_pem(true); // the key, then leaf → intermediate → root
/// let pair = keyway_cert::tls_secret_values(bundle.as_bytes(), bundle.as_bytes())?;
/// assert_eq!(pair.certificate_chain.matches("BEGIN CERTIFICATE").count(), 3);
/// assert!(!pair.certificate_chain.contains("PRIVATE KEY"));
/// assert!(pair.private_key.starts_with("-----BEGIN PRIVATE KEY-----"));
///
/// let chain_only = pki.chain_pem(false);
/// let err = keyway_cert::tls_secret_values(chain_only.as_bytes(), chain_only.as_bytes());
/// assert!(matches!(err, Err(keyway_cert::CertError::Output { output: "tls.key", .. })));
/// # Ok::<(), keyway_cert::CertError>(())
/// ```
pub fn tls_secret_values(certificate: &[u8], private_key: &[u8]) -> Result<TlsPair> {
    let at = |output: &'static str, reason: String| CertError::Output { output, reason };
    let unreadable = |output: &'static str, e: CertError| {
        at(
            output,
            format!("the value is not a certificate or key that keyway reads: {e}"),
        )
    };
    let chain = parse_any(certificate).map_err(|e| unreadable(TLS_CERTIFICATE_KEY, e))?;
    let leaf = chain
        .chain()
        .leaf()
        .map(|i| &chain.certificates()[i])
        .ok_or_else(|| {
            at(
                TLS_CERTIFICATE_KEY,
                "the value holds no certificate (only a private key or CRLs)".into(),
            )
        })?;
    let separate;
    let keys = if certificate == private_key {
        &chain
    } else {
        separate = parse_any(private_key).map_err(|e| unreadable(TLS_PRIVATE_KEY_KEY, e))?;
        &separate
    };
    let key = key_for(keys.private_keys(), leaf)
        .map_err(|reason| at(TLS_PRIVATE_KEY_KEY, format!("the value {reason}")))?;
    Ok(TlsPair {
        certificate_chain: chain.leaf_first_chain_pem(),
        private_key: key.to_pem(),
    })
}
