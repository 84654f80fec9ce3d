//! Property tests: no input makes a decoder or parser panic, and encodings round-trip.

use keyway_cert::testing::{KeyKind, TestPki};
use keyway_cert::{
    Bundle, ContentType, DecodeOptions, Encoding, ParseOptions, ValidationOptions, decode_value,
    encode_for_upload,
};
use proptest::prelude::*;
use std::sync::OnceLock;

const ENCODINGS: [Encoding; 6] = Encoding::ALL;
const CONTENT_TYPES: [Option<ContentType>; 5] = [
    None,
    Some(ContentType::Pem),
    Some(ContentType::PkixCert),
    Some(ContentType::PkixCrl),
    Some(ContentType::Pkcs12),
];

/// Valid inputs of every container, to mutate.
fn seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let pki = TestPki::generate(KeyKind::EcP256, &["a"]);
        vec![
            pki.chain_pem(true).into_bytes(),
            pki.leaf.der().to_vec(),
            pki.pkcs12(""),
            pki.intermediate.crl(
                &[&[1]],
                time::OffsetDateTime::now_utc(),
                time::Duration::days(1),
            ),
        ]
    })
}

fn parse_everything(bytes: &[u8]) {
    for content_type in CONTENT_TYPES {
        if let Ok(bundle) = Bundle::parse(
            bytes,
            ParseOptions {
                content_type,
                password: None,
            },
        ) {
            let v = bundle.validate(&ValidationOptions::at(time::OffsetDateTime::UNIX_EPOCH));
            let _ = (
                v.has_errors(),
                bundle.to_pem_bundle(),
                bundle.tls_pair(),
                bundle.public_key_pem(),
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), tag in "[a-z0-9-]{0,8}") {
        for encoding in ENCODINGS {
            let _ = decode_value(&bytes, DecodeOptions { encoding: Some(encoding), file_encoding_tag: None });
        }
        let _ = decode_value(&bytes, DecodeOptions { encoding: None, file_encoding_tag: Some(&tag) });
        let _ = decode_value(&bytes, DecodeOptions::default());
    }

    #[test]
    fn decode_errors_point_inside_the_value(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for encoding in ENCODINGS {
            if let Err(keyway_cert::CertError::Decode { offset, .. }) =
                decode_value(&bytes, DecodeOptions { encoding: Some(encoding), file_encoding_tag: None })
            {
                prop_assert!(offset <= bytes.len());
            }
        }
    }

    #[test]
    fn hex_and_base64_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for encoding in [Encoding::Hex, Encoding::Base64] {
            let stored = encode_for_upload(&bytes, encoding).unwrap();
            let back = decode_value(stored.as_bytes(), DecodeOptions { encoding: Some(encoding), file_encoding_tag: None }).unwrap();
            prop_assert_eq!(back.bytes(), &bytes[..]);
        }
    }

    #[test]
    fn parsing_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        parse_everything(&bytes);
    }

    #[test]
    fn parsing_mutated_valid_input_never_panics(
        seed in 0usize..4,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = seeds()[seed].clone();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        parse_everything(&bytes);
    }
}
