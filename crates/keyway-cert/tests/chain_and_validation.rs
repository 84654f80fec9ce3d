//! Chain ordering, signatures and findings over PKIs generated at test time.

use keyway_cert::testing::{CertSpec, Issued, KeyKind, TestPki, pkcs12};
use keyway_cert::{
    Bundle, FindingCode, OutputFormat, ParseOptions, Severity, Validation, ValidationOptions,
};
use time::{Duration, OffsetDateTime};

fn bundle(parts: &[String]) -> Bundle {
    Bundle::parse(parts.concat().as_bytes(), ParseOptions::default()).unwrap()
}

fn now() -> ValidationOptions {
    ValidationOptions::at(OffsetDateTime::now_utc())
}

fn codes(v: &Validation) -> Vec<FindingCode> {
    v.findings.iter().map(|f| f.code).collect()
}

#[test]
fn every_input_order_gives_leaf_intermediate_root() {
    for kind in [
        KeyKind::Rsa2048,
        KeyKind::EcP256,
        KeyKind::EcP384,
        KeyKind::Ed25519,
    ] {
        let pki = TestPki::generate(kind, &["server.local"]);
        let pems = [pki.leaf.pem(), pki.intermediate.pem(), pki.root.pem()];
        for perm in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            let input: Vec<String> = perm.iter().map(|&i| pems[i].clone()).collect();
            let b = bundle(&input);
            let v = b.validate(&now());
            // positions in the input of leaf (0), intermediate (1), root (2)
            let expected: Vec<usize> = (0..3)
                .map(|role| perm.iter().position(|&p| p == role).unwrap())
                .collect();
            assert_eq!(v.chain.path, expected, "{kind:?} {perm:?}");
            assert!(v.chain.complete());
            assert!(!v.has_errors(), "{kind:?} {perm:?}: {:#?}", v.findings);
            assert_eq!(v.chain.reordered(), perm != [0, 1, 2]);
            assert_eq!(b.chain_pem(), pems.concat(), "{kind:?} {perm:?}");
        }
    }
}

#[test]
fn validity_findings_use_the_given_time() {
    let pki = TestPki::generate(KeyKind::EcP256, &["a"]);
    let leaf = pki.leaf.pem();
    let b = bundle(std::slice::from_ref(&leaf));
    let not_after = b.certificates()[0].details().not_after;
    let not_before = b.certificates()[0].details().not_before;

    let later = b.validate(&ValidationOptions::at(not_after + Duration::seconds(1)));
    assert!(codes(&later).contains(&FindingCode::Expired));
    assert!(later.has_errors());

    let earlier = b.validate(&ValidationOptions::at(not_before - Duration::seconds(1)));
    assert!(codes(&earlier).contains(&FindingCode::NotYetValid));

    let soon = b.validate(&ValidationOptions::at(not_after - Duration::days(10)));
    let f = soon.with_code(FindingCode::ExpiresSoon).next().unwrap();
    assert_eq!((f.severity, f.certificate), (Severity::Warning, Some(0)));
    assert!(f.message.contains("10 days"), "{}", f.message);

    let mut narrow = ValidationOptions::at(not_after - Duration::days(10));
    narrow.expiry_warning = Duration::days(5);
    assert!(!codes(&b.validate(&narrow)).contains(&FindingCode::ExpiresSoon));
}

#[test]
fn an_impostor_issuer_fails_the_signature_check() {
    let pki = TestPki::generate(KeyKind::EcP256, &["a"]);
    // Same name as the real intermediate, different key; no key ids so names link the chain.
    let impostor = pki.root.issue(&CertSpec {
        common_name: "keyway test intermediate".into(),
        is_ca: true,
        ..CertSpec::default()
    });
    let forged = impostor.issue(&CertSpec {
        common_name: "forged".into(),
        authority_key_id: false,
        ..CertSpec::default()
    });
    let v = bundle(&[forged.pem(), pki.intermediate.pem(), pki.root.pem()]).validate(&now());
    assert_eq!(v.chain.path, vec![0, 1, 2]);
    let bad: Vec<_> = v.with_code(FindingCode::SignatureInvalid).collect();
    assert_eq!(bad.len(), 1, "{:#?}", v.findings);
    assert_eq!(bad[0].certificate, Some(0));

    // With key ids, the impostor's leaf does not link to the real intermediate at all.
    let forged_with_aki = impostor.issue(&CertSpec::default());
    let v = bundle(&[
        forged_with_aki.pem(),
        pki.intermediate.pem(),
        pki.root.pem(),
    ])
    .validate(&now());
    assert!(!v.chain.linked());
    assert!(codes(&v).contains(&FindingCode::ChainIncomplete));
}

#[test]
fn a_leaf_that_signs_is_not_a_ca() {
    let pki = TestPki::generate(KeyKind::EcP256, &["a"]);
    let child = pki.leaf.issue(&CertSpec::default());
    let v = bundle(&[
        child.pem(),
        pki.leaf.pem(),
        pki.intermediate.pem(),
        pki.root.pem(),
    ])
    .validate(&now());
    let f: Vec<_> = v.with_code(FindingCode::IssuerNotCa).collect();
    assert_eq!(f.len(), 1, "{:#?}", v.findings);
    assert_eq!(f[0].certificate, Some(1));
    assert!(v.has_errors());
}

#[test]
fn a_missing_intermediate_keeps_the_input_order() {
    let pki = TestPki::generate(KeyKind::EcP256, &["a"]);
    let b = bundle(&[pki.root.pem(), pki.leaf.pem()]);
    let v = b.validate(&now());
    assert_eq!(v.chain.path, vec![1]);
    assert_eq!(v.chain.unlinked, vec![0]);
    assert_eq!(v.chain.output_order(), vec![0, 1]);
    assert_eq!(v.with_code(FindingCode::ChainIncomplete).count(), 2);
    assert!(!v.has_errors());
    assert_eq!(b.chain_pem(), [pki.root.pem(), pki.leaf.pem()].concat());
}

#[test]
fn self_signed_leaf_is_a_warning_and_root_is_info() {
    let lone = Issued::self_signed(&CertSpec::default());
    let v = bundle(&[lone.pem()]).validate(&now());
    let f = v.with_code(FindingCode::SelfSigned).next().unwrap();
    assert_eq!(f.severity, Severity::Warning);
    let pki = TestPki::generate(KeyKind::EcP256, &["a"]);
    let v = bundle(&[pki.chain_pem(false)]).validate(&now());
    assert_eq!(
        v.with_code(FindingCode::SelfSigned)
            .next()
            .unwrap()
            .severity,
        Severity::Info
    );
}

#[test]
fn keys_must_belong_to_the_leaf() {
    let pki = TestPki::generate(KeyKind::Rsa2048, &["a"]);
    let good = bundle(&[pki.chain_pem(true)]);
    assert!(!good.validate(&now()).has_errors());
    assert!(good.tls_pair().is_ok());

    let wrong = bundle(&[pki.root.key_pem().to_string(), pki.chain_pem(false)]);
    let v = wrong.validate(&now());
    assert_eq!(v.with_code(FindingCode::KeyMismatch).count(), 1);
    assert!(wrong.tls_pair().is_err());
}

#[test]
fn nothing_but_a_key_is_no_certificate() {
    let pki = TestPki::generate(KeyKind::EcP256, &["a"]);
    let b = bundle(&[pki.leaf.key_pem().to_string()]);
    let v = b.validate(&now());
    assert_eq!(codes(&v), vec![FindingCode::NoCertificate]);
    assert!(v.has_errors());
    assert!(
        b.leaf_pem()
            .unwrap_err()
            .to_string()
            .contains("no certificate")
    );
}

#[test]
fn pkcs12_round_trip_with_password_and_outputs() {
    let pki = TestPki::generate(
        KeyKind::EcP256,
        &["opc.tcp.local", "urn:contoso:opcua", "10.0.0.7"],
    );
    // Key Vault order is not guaranteed: root first here.
    let pfx = pkcs12(
        &pki.leaf,
        &[&pki.root, &pki.leaf, &pki.intermediate],
        "s3cret",
    );
    let b = Bundle::parse(
        &pfx,
        ParseOptions {
            content_type: None,
            password: Some("s3cret"),
        },
    )
    .unwrap();
    let v = b.validate(&now());
    assert!(!v.has_errors(), "{:#?}", v.findings);
    assert_eq!(
        b.chain_pem(),
        [pki.leaf.pem(), pki.intermediate.pem(), pki.root.pem()].concat()
    );
    let san: Vec<String> = b.certificates()[v.chain.path[0]]
        .details()
        .san
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        san,
        ["DNS:opc.tcp.local", "URI:urn:contoso:opcua", "IP:10.0.0.7"]
    );

    let tls = b.render(OutputFormat::Tls, &pfx, "x").unwrap();
    assert_eq!(tls[1].contents.as_slice(), pki.leaf.key_pem().as_bytes());
    let public = b.render(OutputFormat::PublicKey, &pfx, "x").unwrap();
    let spki = pem::parse(&*public[0].contents).unwrap();
    let leaf = keyway_cert::Certificate::from_der(pki.leaf.der()).unwrap();
    assert_eq!(spki.contents(), leaf.x509().unwrap().public_key().raw);
}

#[test]
fn crl_from_a_ca_and_its_staleness() {
    let pki = TestPki::generate(KeyKind::EcP256, &["a"]);
    let t = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let crl = pki.intermediate.crl(&[&[0x11, 0x22]], t, Duration::days(7));
    let b = Bundle::parse(&crl, ParseOptions::default()).unwrap();
    let d = b.crls()[0].details();
    assert_eq!((d.revoked, d.next_update), (1, Some(t + Duration::days(7))));
    assert!(!codes(&b.validate(&ValidationOptions::at(t))).contains(&FindingCode::CrlExpired));
    let stale = b.validate(&ValidationOptions::at(t + Duration::days(8)));
    assert_eq!(codes(&stale), vec![FindingCode::CrlExpired]);
}

#[test]
fn findings_serialise_with_stable_codes() {
    let pki = TestPki::generate(KeyKind::EcP256, &["a"]);
    let v = bundle(&[pki.intermediate.pem(), pki.leaf.pem()]).validate(&now());
    let json = serde_json::to_value(&v).unwrap();
    let first = &json["findings"][0];
    assert_eq!(first["code"], "chain_incomplete");
    assert_eq!(first["severity"], "warning");
    assert_eq!(json["chain"]["path"], serde_json::json!([1, 0]));
}

#[test]
fn debug_output_never_shows_key_material() {
    let pki = TestPki::generate(KeyKind::EcP256, &["a"]);
    let b = bundle(&[pki.chain_pem(true)]);
    let shown = format!("{b:?} {:?}", b.tls_pair().unwrap());
    let key_b64: String = pki.leaf.key_pem().lines().nth(1).unwrap().to_string();
    assert!(!shown.contains(&key_b64), "{shown}");
    assert!(shown.contains("redacted"));
}
