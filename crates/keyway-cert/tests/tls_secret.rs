//! `tls_secret_values`: what a `kubernetes.io/tls` Secret holds, from every form a certificate
//! and its key are synced in — checked by parsing the results (x509-parser for the chain,
//! PKCS#8 for the key), not by comparing strings.

use base64::Engine as _;
use keyway_cert::testing::{KeyKind, TestPki};
use keyway_cert::{CertError, PrivateKey, tls_secret_values};
use x509_parser::prelude::{FromDer, X509Certificate};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The subjects of `tls.crt`'s certificates in order, after checking that it holds only
/// CERTIFICATE blocks and that each is issued by the next.
fn chain_subjects(tls_crt: &str) -> Vec<String> {
    let blocks = pem::parse_many(tls_crt).unwrap();
    assert!(
        blocks.iter().all(|b| b.tag() == "CERTIFICATE"),
        "tls.crt holds only certificates"
    );
    let certs: Vec<X509Certificate<'_>> = blocks
        .iter()
        .map(|b| X509Certificate::from_der(b.contents()).unwrap().1)
        .collect();
    for pair in certs.windows(2) {
        assert_eq!(
            pair[0].issuer(),
            pair[1].subject(),
            "each certificate is issued by the next (leaf first)"
        );
    }
    certs.iter().map(|c| c.subject().to_string()).collect()
}

/// The key in `tls.key` (one PKCS#8 `PRIVATE KEY` block), checked to belong to `tls.crt`'s
/// first certificate.
fn key_of_leaf(tls_key: &str, tls_crt: &str) -> PrivateKey {
    let block = pem::parse(tls_key).unwrap();
    assert_eq!(block.tag(), "PRIVATE KEY", "PKCS#8");
    let key = PrivateKey::from_pkcs8_der(block.contents()).unwrap();
    let leaf = keyway_cert::Bundle::parse(tls_crt.as_bytes(), Default::default()).unwrap();
    assert_eq!(key.matches(&leaf.certificates()[0]), Some(true));
    key
}

fn pem_in_any_order(pki: &TestPki) -> String {
    // Root, key, leaf, intermediate: neither the key nor the leaf first.
    [
        pki.root.pem(),
        pki.leaf.key_pem().to_string(),
        pki.leaf.pem(),
        pki.intermediate.pem(),
    ]
    .concat()
}

#[test]
fn a_pem_bundle_in_any_order_splits_into_the_chain_and_the_key() {
    let pki = TestPki::generate(KeyKind::EcP256, &["web.local"]);
    let value = pem_in_any_order(&pki);
    let pair = tls_secret_values(value.as_bytes(), value.as_bytes()).unwrap();
    let subjects = chain_subjects(&pair.certificate_chain);
    assert_eq!(subjects.len(), 3);
    assert!(subjects[0].contains("web.local"), "{subjects:?}");
    assert!(subjects[2].contains("keyway test root"), "{subjects:?}");
    key_of_leaf(&pair.private_key, &pair.certificate_chain);
}

#[test]
fn legacy_and_aes_pkcs12_raw_or_base64_split_the_same_way() {
    let pki = TestPki::generate(KeyKind::Rsa2048, &["pfx.local"]);
    let aes = pki.pkcs12("");
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let cases = [
        ("openssl -legacy (RC2/3DES)", fixture("leaf-rsa-legacy.pfx")),
        (
            "openssl -legacy, base64",
            b64(&fixture("leaf-rsa-legacy.pfx")).into_bytes(),
        ),
        ("openssl 3 default (AES)", fixture("leaf-rsa.pfx")),
        ("AES, as az stores it", fixture("leaf-rsa.pfx.b64")),
        ("generated AES", aes.clone()),
        ("generated AES, base64", b64(&aes).into_bytes()),
    ];
    for (what, value) in cases {
        let pair = tls_secret_values(&value, &value).unwrap_or_else(|e| panic!("{what}: {e}"));
        let subjects = chain_subjects(&pair.certificate_chain);
        assert_eq!(subjects.len(), 3, "{what}");
        assert!(
            subjects[0].contains("opcua-server") || subjects[0].contains("pfx.local"),
            "{what}: {subjects:?}"
        );
        key_of_leaf(&pair.private_key, &pair.certificate_chain);
    }
}

#[test]
fn pkcs1_and_sec1_keys_come_out_as_pkcs8() {
    for (key, cert) in [
        ("leaf-rsa.pkcs1.key", "leaf-rsa.pem"),
        ("leaf-ec.sec1.key", "leaf-ec.pem"),
    ] {
        let value = [fixture(key), fixture(cert), fixture("intermediate.pem")].concat();
        let pair = tls_secret_values(&value, &value).unwrap();
        key_of_leaf(&pair.private_key, &pair.certificate_chain);
        assert_eq!(chain_subjects(&pair.certificate_chain).len(), 2);
    }
}

#[test]
fn the_chain_and_the_key_may_come_from_two_values() {
    let pki = TestPki::generate(KeyKind::EcP384, &["two.local"]);
    let chain = pki.chain_pem(false);
    let key = pki.leaf.key_pem();
    let pair = tls_secret_values(chain.as_bytes(), key.as_bytes()).unwrap();
    key_of_leaf(&pair.private_key, &pair.certificate_chain);

    // A key that belongs to another certificate is refused, as tls.key's fault.
    let other = TestPki::generate(KeyKind::EcP384, &["other.local"]);
    let err = tls_secret_values(chain.as_bytes(), other.leaf.key_pem().as_bytes()).unwrap_err();
    assert!(
        matches!(&err, CertError::Output { output: "tls.key", reason } if reason.contains("belongs to the leaf")),
        "{err}"
    );
}

#[test]
fn no_key_or_no_certificate_is_refused_naming_the_side() {
    let pki = TestPki::generate(KeyKind::EcP256, &["refused.local"]);
    let chain = pki.chain_pem(false);
    let err = tls_secret_values(chain.as_bytes(), chain.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, CertError::Output { output: "tls.key", reason } if reason.contains("no private key")),
        "{err}"
    );
    let key = pki.leaf.key_pem();
    let err = tls_secret_values(key.as_bytes(), key.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, CertError::Output { output: "tls.crt", reason } if reason.contains("no certificate")),
        "{err}"
    );
    let err = tls_secret_values(b"s3cret-password", b"s3cret-password").unwrap_err();
    assert!(
        matches!(
            &err,
            CertError::Output {
                output: "tls.crt",
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("s3cret"), "no value in errors");
}

#[test]
fn the_leaf_comes_first_even_when_the_chain_cannot_be_linked() {
    // The intermediate is missing: root and leaf cannot be linked, and the root came first.
    let pki = TestPki::generate(KeyKind::EcP256, &["gap.local"]);
    let value = [
        pki.root.pem(),
        pki.leaf.pem(),
        pki.leaf.key_pem().to_string(),
    ]
    .concat();
    let pair = tls_secret_values(value.as_bytes(), value.as_bytes()).unwrap();
    let blocks = pem::parse_many(&pair.certificate_chain).unwrap();
    assert_eq!(blocks.len(), 2);
    let first = X509Certificate::from_der(blocks[0].contents()).unwrap().1;
    assert!(first.subject().to_string().contains("gap.local"));
    key_of_leaf(&pair.private_key, &pair.certificate_chain);
}
