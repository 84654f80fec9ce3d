//! # keyway-cert
//!
//! Certificates stored as Azure Key Vault secrets — hex (`az keyvault secret set --encoding
//! hex`), base64, PEM, DER or PKCS#12 — decoded, converted, put in chain order and validated
//! with clear findings. Pure and synchronous: no I/O, no network, no clock (validation takes the
//! evaluation time as input).
//!
//! The steps stay apart, as in x509-parser: [`decode_value`] turns a secret value into bytes;
//! [`Bundle::parse`] reads those bytes into certificates, keys and CRLs; [`Bundle::validate`]
//! judges them; [`Bundle::render`] and friends produce the outputs the Secrets Store CSI Azure
//! provider writes.
//!
//! ```
//! use keyway_cert::{decode_value, Bundle, DecodeOptions, ParseOptions, ValidationOptions};
//! # let pem = keyway_cert::testing::TestPki::generate(keyway_cert::testing::KeyKind::EcP256, &["opcua.local"]).chain_pem(false);
//! // What `az keyvault secret set --encoding hex --file cert.pem` stores:
//! let value = hex::encode(pem);
//! let decoded = decode_value(value.as_bytes(), DecodeOptions { file_encoding_tag: Some("hex"), ..Default::default() })?;
//! let bundle = Bundle::parse(decoded.bytes(), ParseOptions::default())?;
//! let report = bundle.validate(&ValidationOptions::at(time::OffsetDateTime::now_utc()));
//! assert_eq!(bundle.certificates()[0].details().san[0].to_string(), "DNS:opcua.local");
//! assert_eq!(report.chain.path, vec![0, 1, 2]);
//! assert!(!report.has_errors());
//! # Ok::<(), keyway_cert::CertError>(())
//! ```
//!
//! ## Features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod algorithm;
mod bundle;
mod certificate;
mod chain;
mod crl;
mod encoding;
mod error;
mod output;
mod private_key;
mod public_key;
mod validate;

#[cfg(feature = "testing")]
pub mod testing;

/// The README's example, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use bundle::{Bundle, ContentType, ParseOptions};
pub use certificate::{Certificate, CertificateDetails, SubjectAltName};
pub use chain::{ChainOrder, provider_order};
pub use crl::{Crl, CrlDetails};
pub use encoding::{
    DecodeOptions, Decoded, Encoding, EncodingSource, decode_as, decode_value, encode_for_upload,
    sniff,
};
pub use error::{CertError, Result};
pub use output::{
    OutputFile, OutputFormat, TLS_CERTIFICATE_KEY, TLS_PRIVATE_KEY_KEY, TlsPair,
    TrustListCertFormat, tls_secret_values,
};
pub use private_key::{KeyAlgorithm, PrivateKey};
pub use public_key::PublicKeyComponents;
pub use validate::{Finding, FindingCode, Severity, Validation, ValidationOptions};

/// Re-exported so callers can build evaluation times without naming the crate themselves.
pub use time;
