//! keyway-cert throughput: what one certificate secret costs to decode, parse and validate.
//!
//! Run: `cargo bench --bench cert`. Inputs are the OpenSSL fixtures under
//! crates/keyway-cert/tests/fixtures, encoded exactly as the az CLI stores them.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use keyway::cert::{
    Bundle, ContentType, DecodeOptions, ParseOptions, ValidationOptions, decode_value,
};
use std::hint::black_box;

const CHAIN_PEM_HEX: &[u8] = include_bytes!("../crates/keyway-cert/tests/fixtures/chain.pem.hex");
const LEAF_DER_HEX: &[u8] = include_bytes!("../crates/keyway-cert/tests/fixtures/leaf-rsa.der.hex");
const PFX_BASE64: &[u8] = include_bytes!("../crates/keyway-cert/tests/fixtures/leaf-rsa.pfx.b64");

fn decode_parse(value: &[u8], tag: &str, content_type: ContentType) -> Bundle {
    let decoded = decode_value(
        value,
        DecodeOptions {
            encoding: None,
            file_encoding_tag: Some(tag),
        },
    )
    .unwrap();
    Bundle::parse(
        decoded.bytes(),
        ParseOptions {
            content_type: Some(content_type),
            password: None,
        },
    )
    .unwrap()
}

fn benches(c: &mut Criterion) {
    let at = ValidationOptions::at(time::macros::datetime!(2026-06-01 0:00 UTC));

    let mut group = c.benchmark_group("cert");
    group.throughput(Throughput::Elements(1));
    // Decode + parse + thumbprints (SHA-1 and SHA-256 are computed while parsing).
    group.bench_function("der_leaf_hex/decode+parse+thumbprint", |b| {
        b.iter(|| {
            let bundle = decode_parse(black_box(LEAF_DER_HEX), "hex", ContentType::PkixCert);
            black_box(bundle.certificates()[0].details().sha1.len())
        })
    });
    group.bench_function("der_leaf_hex/decode+parse+validate", |b| {
        b.iter(|| decode_parse(black_box(LEAF_DER_HEX), "hex", ContentType::PkixCert).validate(&at))
    });
    group.bench_function("chain3_pem_hex/decode+parse+validate", |b| {
        b.iter(|| decode_parse(black_box(CHAIN_PEM_HEX), "hex", ContentType::Pem).validate(&at))
    });
    group.bench_function("pfx_base64/decode+parse+validate", |b| {
        b.iter_batched(
            || PFX_BASE64,
            |v| decode_parse(v, "base64", ContentType::Pkcs12).validate(&at),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(cert, benches);
criterion_main!(cert);
