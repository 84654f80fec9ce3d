//! The one error type of keyway-cert.

use crate::encoding::Encoding;

/// Everything that can go wrong while decoding, parsing or converting a certificate secret.
///
/// Every variant names what was wrong and where (the encoding and byte offset, the PEM block,
/// the certificate index) and, where it is known, the fix. No variant ever carries secret
/// material: offsets and lengths, never bytes.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertError {
    /// The value could not be decoded with the chosen encoding.
    #[error("{encoding} decoding failed at byte offset {offset}: {reason}")]
    Decode {
        /// The encoding that was tried.
        encoding: Encoding,
        /// Offset, in bytes from the start of the value, of the first bad character.
        offset: usize,
        /// What was wrong there, and the fix when known.
        reason: String,
    },

    /// An encoding name (an `objectEncoding`, a `file-encoding` tag, a flag) is not one we know.
    #[error(
        "unknown encoding {given:?}: expected one of utf-8, hex, base64, ascii, utf-16le, utf-16be"
    )]
    UnknownEncoding {
        /// What was given.
        given: String,
    },

    /// A content type is not one a certificate can be stored under.
    #[error(
        "unknown content type {given:?}: expected application/x-pem-file, application/pkix-cert or application/x-pkcs12"
    )]
    UnknownContentType {
        /// What was given.
        given: String,
    },

    /// The decoded bytes are not any certificate format we can read.
    #[error("not a certificate bundle: {reason}")]
    UnrecognisedFormat {
        /// Why sniffing gave up.
        reason: String,
    },

    /// A PEM bundle is malformed.
    #[error("PEM block {block} ({label}) is invalid: {reason}")]
    Pem {
        /// Index of the PEM block, from 0, in the order of the input.
        block: usize,
        /// The label of the block (`CERTIFICATE`, `PRIVATE KEY`, ...), or `?` when unreadable.
        label: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A DER certificate (alone, in a PEM block, or in a PKCS#12 file) cannot be parsed.
    #[error("certificate {index} is not valid DER X.509: {reason}")]
    Certificate {
        /// Index of the certificate in the input.
        index: usize,
        /// The parser's reason.
        reason: String,
    },

    /// A certificate revocation list cannot be parsed.
    #[error("CRL {index} is not a valid X.509 CRL: {reason}")]
    Crl {
        /// Index of the CRL in the input.
        index: usize,
        /// The parser's reason.
        reason: String,
    },

    /// A private key cannot be parsed or is of an unsupported kind.
    #[error("private key {index} cannot be read: {reason}")]
    PrivateKey {
        /// Index of the private key in the input.
        index: usize,
        /// What is wrong, and the fix when known.
        reason: String,
    },

    /// A PKCS#12 (PFX) file cannot be opened.
    #[error("PKCS#12 cannot be read: {reason}")]
    Pkcs12 {
        /// What is wrong, and the fix when known.
        reason: String,
    },

    /// A requested output cannot be produced from this bundle.
    #[error("cannot produce {output}: {reason}")]
    Output {
        /// The output that was asked for.
        output: &'static str,
        /// Why it cannot be produced, and what the input lacks.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = CertError> = std::result::Result<T, E>;
