//! From a fetched value to the bytes an object asks for, by objectType, objectFormat and
//! objectEncoding, following the Secrets Store CSI Azure provider — with keyway-cert doing the
//! decoding, conversion and validation.

use keyway_cert::{
    Bundle, CertError, ContentType, DecodeOptions, Encoding, Finding, FindingCode, ParseOptions,
    Severity, ValidationOptions, decode_value,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::{Result, SyncError};
use crate::model::objects::{KeyVaultObject, ObjectFormat, ObjectType};
use crate::source::SecretValue;

/// An object's bytes and what validation found in them.
#[derive(Clone)]
pub struct Converted {
    /// The bytes to write.
    pub contents: Zeroizing<Vec<u8>>,
    /// Certificate findings, when the value is a certificate.
    pub findings: Vec<Finding>,
}

/// Shows the length of the contents, never the bytes.
impl std::fmt::Debug for Converted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converted")
            .field("contents_len", &self.contents.len())
            .field("findings", &self.findings)
            .finish()
    }
}

const FILE_ENCODING_TAG: &str = "file-encoding";

fn content_type(value: &SecretValue) -> Option<ContentType> {
    value
        .properties
        .content_type
        .as_deref()
        .and_then(|c| c.parse().ok())
}

/// The content types the provider tells apart for a certificate's backing secret, matched
/// exactly (case-sensitive), as its `getSecret` does.
const PEM_FILE: &str = "application/x-pem-file";
const PKCS12: &str = "application/x-pkcs12";

/// Converts a fetched value for `object`. `now` judges certificate validity.
///
/// The bytes are the Secrets Store CSI Azure provider's (its `getSecret` and
/// `getContentBytes`); where the provider would fail the whole mount, this fails the object
/// with an error naming the field. Findings are keyway's own and never change the bytes.
pub fn convert(
    object: &KeyVaultObject,
    value: &SecretValue,
    now: OffsetDateTime,
) -> Result<Converted> {
    let fail = |reason: String| SyncError::convert(&object.name, reason);
    // keyway-cert's error, said as it reads and kept as the source.
    let cert_failure = |error: CertError| failed(&object.name, error);
    let raw = value.value.as_bytes();
    // As the provider: an empty key id is no key id.
    let backs_certificate = value
        .properties
        .kid
        .as_deref()
        .is_some_and(|k| !k.is_empty());
    let validation = ValidationOptions::at(now);
    match object.object_type {
        ObjectType::Secret if backs_certificate => {
            let content_type = value.properties.content_type.as_deref();
            let pfx_format = object.format == Some(ObjectFormat::Pfx);
            let decoding = object.encoding.filter(|e| *e != Encoding::Utf8);
            match content_type {
                Some(PEM_FILE) => {
                    if let Some(encoding) = decoding {
                        return Err(fail(format!(
                            "objectEncoding {encoding} cannot decode a certificate's PEM backing \
                             secret (the Secrets Store CSI Azure provider fails the mount here); \
                             remove objectEncoding"
                        )));
                    }
                    // Verbatim, as the provider writes it: no reordering, no re-encoding.
                    let findings = Bundle::parse(raw, ParseOptions::default())
                        .map(|b| chain_findings(&b, &validation, false))
                        .unwrap_or_default();
                    Ok(Converted {
                        contents: Zeroizing::new(raw.to_vec()),
                        findings,
                    })
                }
                Some(PKCS12) => {
                    if pfx_format {
                        let contents = match decoding {
                            None => Zeroizing::new(raw.to_vec()),
                            Some(Encoding::Base64) => Zeroizing::new(
                                decode_value(raw, explicit(Encoding::Base64))
                                    .map_err(cert_failure)?
                                    .bytes()
                                    .to_vec(),
                            ),
                            Some(other) => {
                                return Err(fail(format!(
                                    "objectEncoding {other} cannot decode the base64 text of a \
                                     PFX (the provider fails the mount here); use objectEncoding \
                                     base64 for the DER bytes, or none for the base64 text"
                                )));
                            }
                        };
                        // The PFX is written as it is: nothing is reordered.
                        let findings = pkcs12_bundle(raw)
                            .map(|b| {
                                let mut f = b.validate(&validation).findings;
                                f.retain(|f| f.code != FindingCode::ChainReordered);
                                f
                            })
                            .unwrap_or_default();
                        return Ok(Converted { contents, findings });
                    }
                    if let Some(encoding) = decoding {
                        return Err(fail(format!(
                            "objectEncoding {encoding} cannot decode the PEM made from a \
                             certificate (the provider fails the mount here); remove \
                             objectEncoding, or set objectFormat pfx with objectEncoding base64 \
                             for the PFX bytes"
                        )));
                    }
                    let bundle = pkcs12_bundle(raw).map_err(cert_failure)?;
                    Ok(Converted {
                        contents: Zeroizing::new(bundle.to_provider_pem().as_bytes().to_vec()),
                        findings: chain_findings(&bundle, &validation, true),
                    })
                }
                other => Err(fail(format!(
                    "failed to get certificate: unknown content type {:?} (a certificate's \
                     backing secret is {PEM_FILE} or {PKCS12})",
                    other.unwrap_or_default()
                ))),
            }
        }
        ObjectType::Secret => {
            // As the provider: the value as stored, decoded only by objectEncoding.
            let contents = match object.encoding {
                None | Some(Encoding::Utf8) => Zeroizing::new(raw.to_vec()),
                Some(encoding) => Zeroizing::new(
                    decode_value(raw, explicit(encoding))
                        .map_err(|e| fail(format!("objectEncoding {encoding}: {e}")).with_cause(e))?
                        .bytes()
                        .to_vec(),
                ),
            };
            let mut findings = Vec::new();
            let tag = value.properties.tags.get(FILE_ENCODING_TAG);
            let stored = tag
                .filter(|_| object.encoding.is_none())
                .and_then(|t| t.parse::<Encoding>().ok())
                .filter(|e| matches!(e, Encoding::Hex | Encoding::Base64));
            if let Some(stored) = stored {
                findings.push(Finding {
                    severity: Severity::Info,
                    code: FindingCode::StoredEncoded,
                    message: format!(
                        "stored with file-encoding {stored}; written as stored (as the provider \
                         does); set objectEncoding: {stored} to write the decoded bytes"
                    ),
                    certificate: None,
                });
            }
            // Certificate findings for certificate content types; they never change the bytes.
            if let Some(ct) = content_type(value) {
                let decoded = decode_value(
                    &contents,
                    DecodeOptions {
                        encoding: None,
                        file_encoding_tag: if object.encoding.is_none() {
                            tag.map(String::as_str)
                        } else {
                            Some("utf-8")
                        },
                    },
                );
                let password_free = ParseOptions {
                    content_type: Some(ct),
                    password: None,
                };
                if let Some(bundle) = decoded
                    .ok()
                    .and_then(|d| Bundle::parse(d.bytes(), password_free).ok())
                {
                    findings.extend(bundle.validate(&validation).findings);
                }
            }
            Ok(Converted { contents, findings })
        }
        ObjectType::Cert | ObjectType::Key => {
            // Key objects are normally read through the keys API (see the syncer); this path
            // serves sources that hand a certificate's secret for them.
            let bundle = certificate_bundle(&object.name, value)?;
            let findings = bundle.validate(&validation).findings;
            let pem = if object.object_type == ObjectType::Cert {
                bundle.leaf_pem()
            } else {
                bundle.public_key_pem()
            }
            .map_err(cert_failure)?;
            Ok(Converted {
                contents: Zeroizing::new(pem.into_bytes()),
                findings,
            })
        }
    }
}

/// Validation findings, with what is said about certificate order matching what is written:
/// the provider's order ([`keyway_cert::provider_order`]) when `reorders`, else the stored
/// order (a PEM certificate secret is written verbatim).
fn chain_findings(bundle: &Bundle, validation: &ValidationOptions, reorders: bool) -> Vec<Finding> {
    let mut findings = bundle.validate(validation).findings;
    findings.retain(|f| f.code != FindingCode::ChainReordered);
    let certs = bundle.certificates();
    let written: Vec<usize> = if reorders {
        keyway_cert::provider_order(certs)
    } else {
        (0..certs.len()).collect()
    };
    let moved = |order: &[usize]| order.iter().enumerate().any(|(pos, &i)| pos != i);
    if moved(&written) {
        let order: Vec<String> = written.iter().map(usize::to_string).collect();
        findings.push(Finding {
            severity: Severity::Info,
            code: FindingCode::ChainReordered,
            message: format!(
                "the certificates were not in leaf → root order; written in the order {}, as \
                 the provider writes them",
                order.join(" → ")
            ),
            certificate: None,
        });
    } else if bundle.chain().reordered() {
        let why = if reorders {
            "their key identifiers (authority = subject key id) do not link them all, so they \
             are written in stored order, as the provider writes them"
        } else {
            "a PEM certificate secret is written verbatim, as the provider writes it"
        };
        findings.push(Finding {
            severity: Severity::Warning,
            code: FindingCode::ChainIncomplete,
            message: format!(
                "the certificates are not in leaf → root order and {why}; store them leaf first"
            ),
            certificate: None,
        });
    }
    findings
}

fn explicit(encoding: Encoding) -> DecodeOptions<'static> {
    DecodeOptions {
        encoding: Some(encoding),
        file_encoding_tag: None,
    }
}

/// `object` failed to convert with keyway-cert's `error`: its text is the reason, and the error
/// itself the source ([`std::error::Error::source`]).
fn failed(object: &str, error: CertError) -> SyncError {
    SyncError::convert(object, error.to_string()).with_cause(error)
}

/// A certificate's PKCS#12 backing secret: base64 text of a PFX with the empty password.
fn pkcs12_bundle(raw: &[u8]) -> std::result::Result<Bundle, CertError> {
    let pfx = decode_value(raw, explicit(Encoding::Base64))?;
    Bundle::parse(
        pfx.bytes(),
        ParseOptions {
            content_type: Some(ContentType::Pkcs12),
            password: None,
        },
    )
}

/// The certificate a `cert` or `key` object reads: a certificate's backing secret (PEM or
/// base64 PKCS#12), or a secret holding a certificate in any encoding keyway reads. A failure
/// of `object` keeps keyway-cert's error as its source.
fn certificate_bundle(object: &str, value: &SecretValue) -> Result<Bundle> {
    let raw = value.value.as_bytes();
    let tag = value
        .properties
        .tags
        .get(FILE_ENCODING_TAG)
        .map(String::as_str);
    let decoded = decode_value(
        raw,
        DecodeOptions {
            encoding: None,
            file_encoding_tag: tag,
        },
    )
    .map_err(|e| failed(object, e))?;
    Bundle::parse(
        decoded.bytes(),
        ParseOptions {
            content_type: content_type(value),
            password: None,
        },
    )
    .map_err(|e| {
        if value.properties.kid.is_none() {
            SyncError::convert(object, format!("{e}; objectType key and cert read a Key Vault certificate (or a secret holding one), and a standalone Key Vault key is not supported yet")).with_cause(e)
        } else {
            failed(object, e)
        }
    })
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::source::SecretProperties;

    /// The first keyway-cert error in `error`'s chain of sources, as a caller finds it.
    fn cert_error_under(error: &SyncError) -> Option<&CertError> {
        let mut cause = error.source();
        while let Some(current) = cause {
            if let Some(found) = current.downcast_ref::<CertError>() {
                return Some(found);
            }
            cause = current.source();
        }
        None
    }

    fn secret(value: &str) -> SecretValue {
        SecretValue {
            properties: SecretProperties {
                name: "s".into(),
                enabled: true,
                ..Default::default()
            },
            value: Zeroizing::new(value.to_string()),
        }
    }

    #[test]
    fn a_failed_decoding_keeps_keyway_cert_s_error_under_the_same_text() {
        let mut object = KeyVaultObject::secret("opcua-cert");
        object.encoding = Some(Encoding::Hex);
        let error = convert(&object, &secret("not hex"), OffsetDateTime::now_utc()).unwrap_err();
        let found = cert_error_under(&error).expect("keyway-cert's error under it");
        assert!(
            matches!(
                found,
                CertError::Decode {
                    encoding: Encoding::Hex,
                    ..
                }
            ),
            "{found:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("opcua-cert: objectEncoding hex: {found}")
        );
        // A clone keeps it (the cause is shared).
        assert!(cert_error_under(&error.clone()).is_some());
    }

    #[test]
    fn a_certificate_that_cannot_be_read_keeps_keyway_cert_s_error() {
        let mut object = KeyVaultObject::secret("opcua-cert");
        object.object_type = ObjectType::Cert;
        let mut value =
            secret("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
        value.properties.kid = Some("https://v.vault.azure.net/keys/opcua-cert/1".into());
        value.properties.content_type = Some(PEM_FILE.into());
        let error = convert(&object, &value, OffsetDateTime::now_utc()).unwrap_err();
        let found = cert_error_under(&error).expect("keyway-cert's error under it");
        assert_eq!(error.to_string(), format!("opcua-cert: {found}"));

        // A PFX backing secret that is not base64 text.
        let mut value = secret("%%% not base64 %%%");
        value.properties.kid = Some("https://v.vault.azure.net/keys/opcua-cert/1".into());
        value.properties.content_type = Some(PKCS12.into());
        let error = convert(
            &KeyVaultObject::secret("opcua-cert"),
            &value,
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        let found = cert_error_under(&error).expect("keyway-cert's error under it");
        assert!(matches!(found, CertError::Decode { .. }), "{found:?}");
        assert_eq!(error.to_string(), format!("opcua-cert: {found}"));
    }
}
