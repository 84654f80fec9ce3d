//! keyway-cert against certificates, keys, PKCS#12 files and CRLs made by the OpenSSL CLI
//! (`fixtures/generate.sh`), and against the az CLI's exact encodings of them.

use keyway_cert::{
    Bundle, CertError, ContentType, DecodeOptions, Encoding, EncodingSource, FindingCode,
    OutputFormat, ParseOptions, PrivateKey, Severity, ValidationOptions, decode_value,
    encode_for_upload,
};
use time::macros::datetime;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(bytes: &[u8]) -> Bundle {
    Bundle::parse(bytes, ParseOptions::default()).unwrap()
}

fn at_2026() -> ValidationOptions {
    ValidationOptions::at(datetime!(2026-06-01 0:00 UTC))
}

#[test]
fn thumbprints_and_serials_match_openssl() {
    let listing = String::from_utf8(fixture("fingerprints.txt")).unwrap();
    let mut checked = 0;
    for line in listing.lines() {
        let [file, sha1, sha256, serial] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("bad line {line}")
        };
        let bundle = parse(&fixture(file));
        let details = bundle.certificates()[0].details();
        assert_eq!(details.sha1, sha1, "{file}");
        assert_eq!(details.sha256, sha256, "{file}");
        assert_eq!(
            details.serial,
            serial.trim_start_matches('0').to_string().to_lowercase(),
            "{file}"
        );
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[test]
fn hex_chain_as_az_stores_it_decodes_orders_and_validates() {
    let value = fixture("chain.pem.hex");
    for options in [
        DecodeOptions::default(),
        DecodeOptions {
            file_encoding_tag: Some("hex"),
            ..Default::default()
        },
    ] {
        let decoded = decode_value(&value, options).unwrap();
        assert_eq!(decoded.encoding(), Encoding::Hex);
        assert_eq!(decoded.bytes(), fixture("chain.pem"));
        let bundle = Bundle::parse(
            decoded.bytes(),
            ParseOptions {
                content_type: Some(ContentType::Pem),
                password: None,
            },
        )
        .unwrap();
        let report = bundle.validate(&at_2026());
        assert_eq!(report.chain.path, vec![0, 1, 2]);
        assert!(report.chain.complete());
        assert!(!report.has_errors(), "{:#?}", report.findings);
        let codes: Vec<_> = report.findings.iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            vec![FindingCode::SelfSigned],
            "{:#?}",
            report.findings
        );
    }
    // The uppercase form az also accepts on download.
    let upper = String::from_utf8(value).unwrap().to_uppercase();
    let decoded = decode_value(upper.as_bytes(), DecodeOptions::default()).unwrap();
    assert_eq!(decoded.bytes(), fixture("chain.pem"));
}

#[test]
fn encoding_for_upload_is_byte_exact_with_az() {
    for file in ["chain.pem", "leaf-rsa.der", "leaf-rsa.pfx"] {
        let bytes = fixture(file);
        assert_eq!(
            encode_for_upload(&bytes, Encoding::Hex).unwrap().as_bytes(),
            fixture(&format!("{file}.hex")),
            "{file} hex"
        );
        assert_eq!(
            encode_for_upload(&bytes, Encoding::Base64)
                .unwrap()
                .as_bytes(),
            fixture(&format!("{file}.b64")),
            "{file} base64"
        );
    }
}

#[test]
fn shuffled_chain_is_reordered_for_output() {
    let bundle = parse(&fixture("chain-shuffled.pem"));
    let report = bundle.validate(&at_2026());
    assert_eq!(report.chain.path, vec![1, 2, 0]);
    assert_eq!(report.with_code(FindingCode::ChainReordered).count(), 1);
    assert!(!report.has_errors());
    assert_eq!(bundle.chain_pem().as_bytes(), fixture("chain.pem"));
}

#[test]
fn der_leaf_in_base64_with_its_details() {
    let decoded = decode_value(
        &fixture("leaf-rsa.der.b64"),
        DecodeOptions {
            file_encoding_tag: Some("base64"),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(decoded.source(), EncodingSource::Tag);
    let bundle = Bundle::parse(
        decoded.bytes(),
        ParseOptions {
            content_type: Some("application/pkix-cert".parse().unwrap()),
            password: None,
        },
    )
    .unwrap();
    let d = bundle.certificates()[0].details();
    assert_eq!(d.subject, "CN=opcua-server, O=keyway fixtures");
    assert_eq!(
        d.issuer,
        "CN=keyway fixture intermediate, O=keyway fixtures"
    );
    let san: Vec<String> = d.san.iter().map(ToString::to_string).collect();
    assert_eq!(
        san,
        [
            "DNS:opcua-server.local",
            "IP:10.1.2.3",
            "URI:urn:contoso:opcua:server"
        ]
    );
    assert!(!d.is_ca);
    assert_eq!(d.key_usage, ["digitalSignature", "keyEncipherment"]);
    assert_eq!(d.extended_key_usage, ["serverAuth", "clientAuth"]);
    assert_eq!((d.key_algorithm.as_str(), d.key_bits), ("RSA", 2048));
    assert_eq!(d.signature_algorithm, "sha256WithRSAEncryption");
    assert_eq!(d.not_before, datetime!(2025-01-01 0:00 UTC));
    assert_eq!(d.not_after, datetime!(2125-01-01 0:00 UTC));
    assert!(d.subject_key_id.is_some() && d.authority_key_id.is_some());
    let report = bundle.validate(&at_2026());
    assert_eq!(report.with_code(FindingCode::ChainIncomplete).count(), 1);
    assert!(!report.has_errors());
}

fn assert_key_then_chain(bundle: &Bundle) {
    assert_eq!(bundle.certificates().len(), 3);
    assert_eq!(bundle.private_keys().len(), 1);
    let report = bundle.validate(&at_2026());
    assert!(!report.has_errors(), "{:#?}", report.findings);
    assert_eq!(report.with_code(FindingCode::KeyMismatch).count(), 0);
    let pem = bundle.to_pem_bundle();
    let labels: Vec<&str> = pem
        .lines()
        .filter(|l| l.starts_with("-----BEGIN"))
        .collect();
    assert_eq!(
        labels,
        [
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----"
        ]
    );
    // keys first, then leaf → intermediate → root, whatever order the PFX held them in
    assert!(pem.ends_with(std::str::from_utf8(&fixture("chain.pem")).unwrap()));
}

#[test]
fn pkcs12_default_and_legacy_with_empty_password() {
    for file in ["leaf-rsa.pfx", "leaf-rsa-legacy.pfx"] {
        let bundle = parse(&fixture(file));
        assert_eq!(bundle.format(), ContentType::Pkcs12, "{file}");
        assert_key_then_chain(&bundle);
        assert_eq!(
            bundle.private_keys()[0].pkcs8_der(),
            pem::parse(fixture("leaf-rsa.key")).unwrap().contents()
        );
    }
}

#[test]
fn key_vault_backing_secret_is_base64_pfx() {
    let decoded = decode_value(&fixture("leaf-rsa.pfx.b64"), DecodeOptions::default()).unwrap();
    assert_eq!(decoded.encoding(), Encoding::Base64);
    let bundle = Bundle::parse(
        decoded.bytes(),
        ParseOptions {
            content_type: Some(ContentType::Pkcs12),
            password: None,
        },
    )
    .unwrap();
    assert_key_then_chain(&bundle);
    let pfx = bundle
        .render(OutputFormat::Pfx, decoded.bytes(), "cert")
        .unwrap();
    assert_eq!(&*pfx[0].contents, &fixture("leaf-rsa.pfx")[..]);
}

#[test]
fn pkcs12_with_password() {
    let bytes = fixture("leaf-ec-password.pfx");
    let err = Bundle::parse(&bytes, ParseOptions::default()).unwrap_err();
    assert!(matches!(err, CertError::Pkcs12 { .. }), "{err}");
    assert!(err.to_string().contains("wrong password"), "{err}");
    let bundle = Bundle::parse(
        &bytes,
        ParseOptions {
            content_type: None,
            password: Some("keyway-test"),
        },
    )
    .unwrap();
    assert_eq!(bundle.private_keys()[0].algorithm().to_string(), "EC P-256");
    assert!(
        bundle.private_keys()[0]
            .matches(&bundle.certificates()[0])
            .unwrap()
    );
}

#[test]
fn traditional_keys_become_the_same_pkcs8_openssl_writes() {
    let pkcs8 = |file: &str| pem::parse(fixture(file)).unwrap().into_contents();
    let rsa = PrivateKey::from_pkcs1_der(&pkcs8("leaf-rsa.pkcs1.key")).unwrap();
    assert_eq!(rsa.pkcs8_der(), pkcs8("leaf-rsa.key"));
    let ec = PrivateKey::from_sec1_der(&pkcs8("leaf-ec.sec1.key")).unwrap();
    assert_eq!(ec.pkcs8_der(), pkcs8("leaf-ec.key"));

    // In a bundle, the PEM labels pick the form.
    let mut text = fixture("leaf-ec.sec1.key");
    text.extend(fixture("leaf-ec.pem"));
    let bundle = parse(&text);
    assert!(
        bundle.private_keys()[0]
            .matches(&bundle.certificates()[0])
            .unwrap()
    );
    assert!(
        bundle
            .to_pem_bundle()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
}

#[test]
fn a_key_of_another_certificate_is_a_mismatch() {
    let mut text = fixture("leaf-ec.key");
    text.extend(fixture("leaf-rsa.pem"));
    let bundle = parse(&text);
    let report = bundle.validate(&at_2026());
    let mismatch: Vec<_> = report.with_code(FindingCode::KeyMismatch).collect();
    assert_eq!(mismatch.len(), 1);
    assert_eq!(mismatch[0].severity, Severity::Error);
    assert!(
        mismatch[0].message.contains("opcua-server"),
        "{}",
        mismatch[0].message
    );
    assert!(bundle.tls_pair().is_err());
}

#[test]
fn weak_legacy_certificate() {
    let mut text = fixture("weak-rsa1024-sha1.pem");
    text.extend(fixture("root.pem"));
    let report = parse(&text).validate(&at_2026());
    assert_eq!(report.with_code(FindingCode::WeakKey).count(), 1);
    assert_eq!(report.with_code(FindingCode::WeakSignature).count(), 1);
    // SHA-1 is weak but still verifiable: the signature itself is fine.
    assert_eq!(report.with_code(FindingCode::SignatureInvalid).count(), 0);
    assert!(!report.has_errors(), "{:#?}", report.findings);
}

#[test]
fn crl_details_and_trust_list_entries() {
    for bytes in [fixture("intermediate.crl"), fixture("intermediate.crl.pem")] {
        let bundle = parse(&bytes);
        let crl = &bundle.crls()[0].details().clone();
        assert_eq!(
            crl.issuer,
            "CN=keyway fixture intermediate, O=keyway fixtures"
        );
        assert_eq!(crl.revoked, 1);
        assert!(crl.next_update.unwrap() > crl.this_update);
        assert!(!bundle.validate(&at_2026()).has_errors());
    }
    let mut text = fixture("intermediate.pem");
    text.extend(fixture("intermediate.crl.pem"));
    let files = parse(&text)
        .render(OutputFormat::TrustList, &[], "contoso-ca")
        .unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["contoso-ca.der", "contoso-ca.crl"]);
    assert_eq!(&*files[1].contents, &fixture("intermediate.crl")[..]);
}

#[test]
fn outputs_of_a_pfx() {
    let bytes = fixture("leaf-rsa.pfx");
    let bundle = parse(&bytes);
    let tls = bundle.tls_pair().unwrap();
    assert_eq!(tls.certificate_chain.as_bytes(), fixture("chain.pem"));
    assert_eq!(tls.private_key.as_bytes(), fixture("leaf-rsa.key"));
    assert_eq!(
        bundle.leaf_pem().unwrap().as_bytes(),
        fixture("leaf-rsa.pem")
    );
    assert_eq!(bundle.leaf_der().unwrap(), fixture("leaf-rsa.der"));
    let public = bundle.public_key_pem().unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    let files = bundle.render(OutputFormat::Tls, &bytes, "x").unwrap();
    assert_eq!(
        files
            .iter()
            .map(|f| (f.name.as_str(), f.sensitive))
            .collect::<Vec<_>>(),
        [("tls.crt", false), ("tls.key", true)]
    );
    assert!(!format!("{files:?}").contains("PRIVATE"));
}
