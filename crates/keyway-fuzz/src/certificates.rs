//! Secret values and certificate containers: keyway-cert's decoders and parsers.

use keyway_cert::{
    Bundle, ContentType, DecodeOptions, Encoding, ParseOptions, ValidationOptions, decode_as,
    decode_value, encode_for_upload,
};

const ENCODINGS: [Encoding; 6] = Encoding::ALL;

/// Secret-value decoding: sniffed, by every explicit encoding and by the input read as a
/// `file-encoding` tag. What decodes as hex or base64 re-encodes to the same bytes.
pub fn secret_value(data: &[u8]) {
    let _ = decode_value(data, DecodeOptions::default());
    for encoding in ENCODINGS {
        if let Ok(decoded) = decode_as(data, encoding)
            && matches!(encoding, Encoding::Hex | Encoding::Base64)
        {
            let again = encode_for_upload(&decoded, encoding)
                .unwrap_or_else(|e| panic!("decoded {encoding:?} does not re-encode: {e}"));
            let back = decode_as(again.as_bytes(), encoding)
                .unwrap_or_else(|e| panic!("re-encoded {encoding:?} does not decode: {e}"));
            assert_eq!(*back, *decoded, "{encoding:?} does not round-trip");
        }
    }
    if let Ok(tag) = std::str::from_utf8(data) {
        let _ = decode_value(
            b"68656c6c6f",
            DecodeOptions {
                encoding: None,
                file_encoding_tag: Some(tag),
            },
        );
    }
}

/// Parses `data` as `content_type` and, when it parses, uses everything a caller would.
fn parse_and_use(data: &[u8], content_type: Option<ContentType>, password: Option<&str>) {
    let Ok(bundle) = Bundle::parse(
        data,
        ParseOptions {
            content_type,
            password,
        },
    ) else {
        return;
    };
    let validation = bundle.validate(&ValidationOptions::at(
        keyway_cert::time::OffsetDateTime::UNIX_EPOCH,
    ));
    let _ = validation.has_errors();
    let _ = bundle.to_pem_bundle();
    let _ = bundle.tls_pair();
    let _ = bundle.public_key_pem();
    for certificate in bundle.certificates() {
        let _ = certificate.details();
    }
}

/// PEM bundles (certificates, keys, CRLs, anything else), and sniffing.
pub fn pem_bundle(data: &[u8]) {
    parse_and_use(data, Some(ContentType::Pem), None);
    parse_and_use(data, None, None);
}

/// DER: a certificate, a CRL.
pub fn der(data: &[u8]) {
    parse_and_use(data, Some(ContentType::PkixCert), None);
    parse_and_use(data, Some(ContentType::PkixCrl), None);
}

/// PKCS#12, without a password and with an empty one.
pub fn pkcs12(data: &[u8]) {
    parse_and_use(data, Some(ContentType::Pkcs12), None);
    parse_and_use(data, Some(ContentType::Pkcs12), Some(""));
}
