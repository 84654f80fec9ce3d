//! Public keys given as components (a JWK's `n`/`e` or `crv`/`x`/`y`, as Key Vault's keys API
//! returns them), turned into the `PUBLIC KEY` PEM the CSI provider writes for objectType key.

use der::Encode;
use der::asn1::{BitString, Null, ObjectIdentifier, UintRef};
use pkcs8::spki::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use crate::algorithm::{EC_PUBLIC_KEY, RSA_ENCRYPTION};
use crate::error::{CertError, Result};

/// A public key by its components (big-endian bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKeyComponents {
    /// RSA modulus and exponent.
    Rsa {
        /// `n`.
        modulus: Vec<u8>,
        /// `e`.
        exponent: Vec<u8>,
    },
    /// An EC point on a named curve.
    Ec {
        /// `P-256`, `P-384` or `P-521`.
        curve: String,
        /// `x`.
        x: Vec<u8>,
        /// `y`.
        y: Vec<u8>,
    },
}

fn output_error(reason: impl Into<String>) -> CertError {
    CertError::Output {
        output: "public-key",
        reason: reason.into(),
    }
}

impl PublicKeyComponents {
    /// The DER `SubjectPublicKeyInfo`.
    pub fn to_spki_der(&self) -> Result<Vec<u8>> {
        let der_error = |e: der::Error| output_error(e.to_string());
        match self {
            PublicKeyComponents::Rsa { modulus, exponent } => {
                let key = pkcs1::RsaPublicKey {
                    modulus: UintRef::new(modulus).map_err(der_error)?,
                    public_exponent: UintRef::new(exponent).map_err(der_error)?,
                };
                let inner = key.to_der().map_err(der_error)?;
                let oid = ObjectIdentifier::new(RSA_ENCRYPTION).map_err(|e| der_error(e.into()))?;
                let spki = SubjectPublicKeyInfo {
                    algorithm: AlgorithmIdentifier {
                        oid,
                        parameters: Some(Null),
                    },
                    subject_public_key: BitString::from_bytes(&inner).map_err(der_error)?,
                };
                spki.to_der().map_err(der_error)
            }
            PublicKeyComponents::Ec { curve, x, y } => {
                let (curve_oid, size) = match curve.as_str() {
                    "P-256" => ("1.2.840.10045.3.1.7", 32),
                    "P-384" => ("1.3.132.0.34", 48),
                    "P-521" => ("1.3.132.0.35", 66),
                    other => {
                        return Err(output_error(format!(
                            "EC curve {other:?} is not supported (P-256, P-384, P-521)"
                        )));
                    }
                };
                if x.len() > size || y.len() > size {
                    return Err(output_error(format!(
                        "coordinates longer than {curve} allows"
                    )));
                }
                let mut point = vec![4u8];
                for c in [x, y] {
                    point.extend(std::iter::repeat_n(0, size - c.len()));
                    point.extend_from_slice(c);
                }
                let spki = SubjectPublicKeyInfo {
                    algorithm: AlgorithmIdentifier {
                        oid: ObjectIdentifier::new(EC_PUBLIC_KEY)
                            .map_err(|e| der_error(e.into()))?,
                        parameters: Some(
                            ObjectIdentifier::new(curve_oid).map_err(|e| der_error(e.into()))?,
                        ),
                    },
                    subject_public_key: BitString::from_bytes(&point).map_err(der_error)?,
                };
                spki.to_der().map_err(der_error)
            }
        }
    }

    /// One `PUBLIC KEY` PEM block.
    pub fn to_pem(&self) -> Result<String> {
        Ok(pem::encode_config(
            &pem::Pem::new("PUBLIC KEY", self.to_spki_der()?),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        ))
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::{KeyKind, TestPki};
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::PublicKey;

    #[test]
    fn components_rebuild_the_certificates_spki() {
        for kind in [KeyKind::Rsa2048, KeyKind::EcP256, KeyKind::EcP384] {
            let pki = TestPki::generate(kind, &["a"]);
            let (_, cert) =
                x509_parser::certificate::X509Certificate::from_der(pki.leaf.der()).unwrap();
            let spki = cert.public_key();
            let components = match spki.parsed().unwrap() {
                PublicKey::RSA(rsa) => PublicKeyComponents::Rsa {
                    modulus: rsa.modulus.to_vec(),
                    exponent: rsa.exponent.to_vec(),
                },
                PublicKey::EC(point) => {
                    let d = point.data();
                    let n = (d.len() - 1) / 2;
                    PublicKeyComponents::Ec {
                        curve: if n == 32 {
                            "P-256".into()
                        } else {
                            "P-384".into()
                        },
                        x: d[1..=n].to_vec(),
                        y: d[1 + n..].to_vec(),
                    }
                }
                _ => unreachable!(),
            };
            assert_eq!(components.to_spki_der().unwrap(), spki.raw, "{kind:?}");
        }
    }
}
