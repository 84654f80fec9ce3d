//! Private keys: whatever form they arrive in (PKCS#8, PKCS#1 `RSA PRIVATE KEY`, SEC1
//! `EC PRIVATE KEY`), held as PKCS#8 — the form the Secrets Store CSI Azure provider writes.

use std::fmt;

use der::asn1::{Null, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode};
use pkcs8::spki::AlgorithmIdentifier;
use zeroize::Zeroizing;

use crate::algorithm::{EC_PUBLIC_KEY, ED25519, RSA_ENCRYPTION, curve_name};
use crate::certificate::{Certificate, unsigned_bits};
use crate::error::{CertError, Result};
use x509_parser::public_key::PublicKey as X509PublicKey;

/// The kind of a private key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus size.
        bits: usize,
    },
    /// ECDSA on a named curve (`P-256`, `P-384`, `P-521`, or the dotted OID).
    Ec {
        /// Curve name.
        curve: String,
    },
    /// Ed25519.
    Ed25519,
    /// Some other algorithm, by dotted OID.
    Other {
        /// The algorithm OID.
        oid: String,
    },
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::Ec { curve } => write!(f, "EC {curve}"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::Other { oid } => write!(f, "{oid}"),
        }
    }
}

/// The public half of a key, normalised so a key and a certificate compare equal when they
/// belong together.
#[derive(Clone, PartialEq, Eq)]
enum PublicPart {
    Rsa {
        modulus: Vec<u8>,
        exponent: Vec<u8>,
    },
    /// An EC point or an Ed25519 public key, as the certificate's bit string carries it.
    Raw(Vec<u8>),
}

/// A private key in PKCS#8 form. The key bytes are wiped on drop and never shown by `Debug`.
#[derive(Clone)]
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
    algorithm: KeyAlgorithm,
    public: Option<PublicPart>,
}

impl PrivateKey {
    /// Reads a PKCS#8 `PrivateKeyInfo` (a `PRIVATE KEY` PEM block, a PKCS#12 key bag).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        Self::pkcs8_at(der, 0)
    }

    /// Reads a PKCS#1 `RSAPrivateKey` (an `RSA PRIVATE KEY` PEM block) and wraps it as PKCS#8.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        Self::pkcs1_at(der, 0)
    }

    /// Reads a SEC1 `ECPrivateKey` (an `EC PRIVATE KEY` PEM block) and wraps it as PKCS#8.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self> {
        Self::sec1_at(der, 0)
    }

    pub(crate) fn pkcs8_at(der: &[u8], index: usize) -> Result<Self> {
        let bad = |reason: String| CertError::PrivateKey { index, reason };
        let info = pkcs8::PrivateKeyInfoRef::from_der(der)
            .map_err(|e| bad(format!("not a PKCS#8 PrivateKeyInfo: {e}")))?;
        let oid = info.algorithm.oid.to_string();
        let inner = info.private_key.as_bytes();
        let (algorithm, public) = match oid.as_str() {
            RSA_ENCRYPTION => rsa_parts(inner).map_err(bad)?,
            EC_PUBLIC_KEY => {
                let curve_oid = info
                    .algorithm
                    .parameters
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                    .map(|o| o.to_string())
                    .ok_or_else(|| bad("EC key without a named curve".into()))?;
                let sec1 = sec1::EcPrivateKey::from_der(inner)
                    .map_err(|e| bad(format!("EC key is not a valid SEC1 ECPrivateKey: {e}")))?;
                let public = match sec1.public_key {
                    Some(point) => Some(point.to_vec()),
                    None => ec_public_from_pkcs8(&curve_oid, der),
                };
                let curve = curve_name(&curve_oid).map_or(curve_oid.clone(), str::to_string);
                (KeyAlgorithm::Ec { curve }, public.map(PublicPart::Raw))
            }
            ED25519 => {
                use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|e| bad(format!("Ed25519 key rejected: {e}")))?;
                (
                    KeyAlgorithm::Ed25519,
                    Some(PublicPart::Raw(pair.public_key().as_ref().to_vec())),
                )
            }
            _ => (KeyAlgorithm::Other { oid }, None),
        };
        Ok(PrivateKey {
            pkcs8: Zeroizing::new(der.to_vec()),
            algorithm,
            public,
        })
    }

    pub(crate) fn pkcs1_at(der: &[u8], index: usize) -> Result<Self> {
        let bad = |reason: String| CertError::PrivateKey { index, reason };
        rsa_parts(der).map_err(bad)?;
        let pkcs8 = wrap_pkcs8(RSA_ENCRYPTION, Some(Null), der).map_err(|e| bad(e.to_string()))?;
        Self::pkcs8_at(&pkcs8, index)
    }

    pub(crate) fn sec1_at(der: &[u8], index: usize) -> Result<Self> {
        let bad = |reason: String| CertError::PrivateKey { index, reason };
        let key = sec1::EcPrivateKey::from_der(der)
            .map_err(|e| bad(format!("not a SEC1 ECPrivateKey: {e}")))?;
        let curve = key
            .parameters
            .and_then(|p| p.named_curve())
            .ok_or_else(|| {
                bad("the EC key names no curve; write it with its parameters (openssl ec -param_enc named_curve)".into())
            })?;
        // PKCS#8 carries the curve in the algorithm identifier; the inner key omits it.
        let inner = sec1::EcPrivateKey {
            private_key: key.private_key,
            parameters: None,
            public_key: key.public_key,
        };
        let inner = Zeroizing::new(inner.to_der().map_err(|e| bad(e.to_string()))?);
        let pkcs8 =
            wrap_pkcs8(EC_PUBLIC_KEY, Some(curve), &inner).map_err(|e| bad(e.to_string()))?;
        Self::pkcs8_at(&pkcs8, index)
    }

    /// The PKCS#8 DER.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// A `PRIVATE KEY` PEM block (PKCS#8), wiped on drop.
    pub fn to_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem::encode_config(
            &pem::Pem::new("PRIVATE KEY", self.pkcs8.to_vec()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        ))
    }

    /// The PKCS#8 DER the Secrets Store CSI Azure provider writes for this key: Go's
    /// `x509.MarshalPKCS8PrivateKey` of the parsed key. RSA: version 0, rsaEncryption with
    /// NULL parameters, the PKCS#1 key. EC (P-256/384/521): version 0, id-ecPublicKey with the
    /// named curve, an inner SEC1 key of version 1 with the scalar padded to the curve size,
    /// no `[0]` parameters and the `[1]` public point. No attributes, no public key field.
    /// Other algorithms (which the provider cannot read from a PKCS#12) stay as stored.
    pub fn provider_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        go_pkcs8(&self.pkcs8).unwrap_or_else(|| self.pkcs8.clone())
    }

    /// [`Self::provider_pkcs8_der`] as a `PRIVATE KEY` PEM block, wiped on drop.
    pub fn to_provider_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem::encode_config(
            &pem::Pem::new("PRIVATE KEY", self.provider_pkcs8_der().to_vec()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        ))
    }

    /// The key's algorithm and size.
    pub fn algorithm(&self) -> &KeyAlgorithm {
        &self.algorithm
    }

    /// Whether this key belongs to `certificate`: `Some(true)` or `Some(false)` when it can be
    /// told, `None` for algorithms whose public half cannot be derived here.
    pub fn matches(&self, certificate: &Certificate) -> Option<bool> {
        let ours = self.public.as_ref()?;
        let x509 = certificate.x509().ok()?;
        let theirs = match x509.public_key().parsed().ok()? {
            X509PublicKey::RSA(rsa) => PublicPart::Rsa {
                modulus: strip_zeros(rsa.modulus),
                exponent: strip_zeros(rsa.exponent),
            },
            X509PublicKey::EC(point) => PublicPart::Raw(point.data().to_vec()),
            _ => PublicPart::Raw(x509.public_key().subject_public_key.data.to_vec()),
        };
        Some(*ours == theirs)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("pkcs8", &"<redacted>")
            .finish()
    }
}

fn strip_zeros(be: &[u8]) -> Vec<u8> {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    be[start..].to_vec()
}

fn rsa_parts(pkcs1: &[u8]) -> std::result::Result<(KeyAlgorithm, Option<PublicPart>), String> {
    let key = pkcs1::RsaPrivateKeyRef::from_der(pkcs1)
        .map_err(|e| format!("not a PKCS#1 RSAPrivateKey: {e}"))?;
    let modulus = key.modulus.as_bytes();
    Ok((
        KeyAlgorithm::Rsa {
            bits: unsigned_bits(modulus),
        },
        Some(PublicPart::Rsa {
            modulus: strip_zeros(modulus),
            exponent: strip_zeros(key.public_exponent.as_bytes()),
        }),
    ))
}

/// The uncompressed public point of an EC key whose SEC1 form left it out, computed by
/// aws-lc-rs from the private scalar.
fn ec_public_from_pkcs8(curve_oid: &str, pkcs8: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256K1_SHA256_ASN1_SIGNING,
        ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    };
    let alg = match curve_name(curve_oid)? {
        "P-256" => &ECDSA_P256_SHA256_ASN1_SIGNING,
        "P-384" => &ECDSA_P384_SHA384_ASN1_SIGNING,
        "P-521" => &ECDSA_P521_SHA512_ASN1_SIGNING,
        "secp256k1" => &ECDSA_P256K1_SHA256_ASN1_SIGNING,
        _ => return None,
    };
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8).ok()?;
    Some(pair.public_key().as_ref().to_vec())
}

/// Go's `MarshalPKCS8PrivateKey(ParsePKCS8PrivateKey(der))` for RSA and NIST EC keys.
fn go_pkcs8(der: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(der).ok()?;
    let inner = info.private_key.as_bytes();
    match info.algorithm.oid.to_string().as_str() {
        RSA_ENCRYPTION => {
            let key = pkcs1::RsaPrivateKeyRef::from_der(inner).ok()?;
            let pkcs1 = Zeroizing::new(key.to_der().ok()?);
            Some(Zeroizing::new(
                wrap_pkcs8(RSA_ENCRYPTION, Some(Null), &pkcs1).ok()?,
            ))
        }
        EC_PUBLIC_KEY => {
            let curve: ObjectIdentifier = info.algorithm.parameters?.decode_as().ok()?;
            let curve_oid = curve.to_string();
            let size = match curve_name(&curve_oid)? {
                "P-256" => 32,
                "P-384" => 48,
                "P-521" => 66,
                _ => return None,
            };
            let sec1 = sec1::EcPrivateKey::from_der(inner).ok()?;
            let scalar = Zeroizing::new(strip_zeros(sec1.private_key));
            if scalar.len() > size {
                return None;
            }
            let mut padded = Zeroizing::new(vec![0u8; size]);
            padded[size - scalar.len()..].copy_from_slice(&scalar);
            // Go derives the public point from the scalar, ignoring a stored one.
            let public = ec_public_from_pkcs8(&curve_oid, der)
                .or_else(|| sec1.public_key.map(<[u8]>::to_vec))?;
            let canonical = sec1::EcPrivateKey {
                private_key: &padded,
                parameters: None,
                public_key: Some(&public),
            };
            let canonical = Zeroizing::new(canonical.to_der().ok()?);
            Some(Zeroizing::new(
                wrap_pkcs8(EC_PUBLIC_KEY, Some(curve), &canonical).ok()?,
            ))
        }
        _ => None,
    }
}

fn wrap_pkcs8<P>(algorithm: &str, parameters: Option<P>, private_key: &[u8]) -> der::Result<Vec<u8>>
where
    P: der::EncodeValue + der::Tagged,
{
    let oid = ObjectIdentifier::new(algorithm).map_err(der::Error::from)?;
    let params = parameters.map(|p| der::Any::encode_from(&p)).transpose()?;
    let info = pkcs8::PrivateKeyInfo::<der::Any, &OctetStringRef, der::asn1::BitStringRef<'_>>::new(
        AlgorithmIdentifier {
            oid,
            parameters: params,
        },
        OctetStringRef::new(private_key)?,
    );
    info.to_der()
}
