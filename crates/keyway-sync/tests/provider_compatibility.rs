//! Byte compatibility with the Secrets Store CSI Azure provider, one table for every object
//! option: type, encoding, format, alias, version, history, permissions, content types, Key
//! Vault certificates and plain secrets.
//!
//! The specification is the provider's source (`pkg/provider` at d5f7cf5: `getSecret`,
//! `getContentBytes`, `decodePKCS12`, `parsePrivateKey`, `fetchCertChains`,
//! `getLatestNKeyVaultObjects`, the validators in `validate.go`). Each row stores values in a
//! [`MemorySource`], gives one object as the SecretProviderClass holds it, and states what the
//! provider writes: the exact files (path, bytes, mode) or the refusal. Expected bytes are built
//! here, from the spec, not by keyway's own encoders: PEM as Go's `pem.EncodeToMemory`, keys as
//! Go's `x509.MarshalPKCS8PrivateKey`, public keys as `x509.MarshalPKIXPublicKey`.
//!
//! `differs` marks keyway's deliberate differences and says what the provider does instead;
//! docs/architecture.md ("Byte compatibility with the CSI Azure provider") lists them with
//! the reasons.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyway_cert::testing::{CertSpec, Issued, KeyKind, TestPki, legacy_pkcs12_from_der};
use keyway_cert::{FindingCode, PublicKeyComponents};
use keyway_sync::{MemorySink, MemorySource, Outcome, SyncSpec, Syncer, parse_objects};

// ---------------------------------------------------------------------------------------------
// Building expected bytes from the spec.

/// Go's `pem.EncodeToMemory` without headers: base64 in 64-character lines, LF, trailing LF.
fn go_pem(label: &str, der: &[u8]) -> Vec<u8> {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

/// A DER TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A DER INTEGER of unsigned big-endian bytes.
fn uint(be: &[u8]) -> Vec<u8> {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len() - 1);
    let mut v = be[start..].to_vec();
    if v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    tlv(0x02, &v)
}

/// The children of a DER constructed value, as (tag, content).
fn children(der: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let (_, content, _) = read_tlv(der);
    let mut rest = content;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (tag, content, next) = read_tlv(rest);
        out.push((tag, content.to_vec()));
        rest = next;
    }
    out
}

fn read_tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = der[0];
    let (len, header) = if der[1] < 0x80 {
        (der[1] as usize, 2)
    } else {
        let n = (der[1] & 0x7f) as usize;
        (
            der[2..2 + n]
                .iter()
                .fold(0usize, |a, &b| a << 8 | b as usize),
            2 + n,
        )
    };
    (tag, &der[header..header + len], &der[header + len..])
}

const OID_RSA: &[u8] = &[
    0x06, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
const OID_EC: &[u8] = &[0x06, 7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const NULL: &[u8] = &[0x05, 0x00];
const VERSION_0: &[u8] = &[0x02, 0x01, 0x00];
const VERSION_1: &[u8] = &[0x02, 0x01, 0x01];
/// A PKCS#8 `[0] attributes` with one attribute, as Windows exports keys (key usage).
const ATTRIBUTES: &[u8] = &[
    0xa0, 0x11, 0x30, 0x0f, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x31, 0x08, 0x03, 0x02, 0x07, 0x80, 0x03,
    0x02, 0x07, 0x80,
];

/// A P-256 key: a fixed scalar and its uncompressed public point.
struct EcKey {
    d: Vec<u8>,
    point: Vec<u8>,
}

fn ec_key() -> EcKey {
    let d = vec![0x11; 32];
    let private =
        aws_lc_rs::agreement::PrivateKey::from_private_key(&aws_lc_rs::agreement::ECDH_P256, &d)
            .unwrap();
    let point = private.compute_public_key().unwrap().as_ref().to_vec();
    EcKey { d, point }
}

impl EcKey {
    /// As a PKCS#12 might carry it: SEC1 with the `[0]` curve, PKCS#8 with attributes.
    fn stored_pkcs8(&self) -> Vec<u8> {
        let sec1 = seq(&[
            VERSION_1,
            &tlv(0x04, &self.d),
            &tlv(0xa0, OID_P256),
            &tlv(0xa1, &tlv(0x03, &[&[0u8][..], &self.point].concat())),
        ]);
        seq(&[
            VERSION_0,
            &seq(&[OID_EC, OID_P256]),
            &tlv(0x04, &sec1),
            ATTRIBUTES,
        ])
    }

    /// Go's `MarshalPKCS8PrivateKey`: no attributes, SEC1 version 1 without `[0]`, with `[1]`.
    fn go_pkcs8(&self) -> Vec<u8> {
        let sec1 = seq(&[
            VERSION_1,
            &tlv(0x04, &self.d),
            &tlv(0xa1, &tlv(0x03, &[&[0u8][..], &self.point].concat())),
        ]);
        seq(&[VERSION_0, &seq(&[OID_EC, OID_P256]), &tlv(0x04, &sec1)])
    }

    /// Go's `MarshalPKIXPublicKey`.
    fn spki(&self) -> Vec<u8> {
        seq(&[
            &seq(&[OID_EC, OID_P256]),
            &tlv(0x03, &[&[0u8][..], &self.point].concat()),
        ])
    }
}

/// An RSA key from a generated certificate: its stored PKCS#8 with attributes added, and
/// Go's re-encoding (the PKCS#1 key wrapped as version 0, rsaEncryption NULL, nothing else).
fn rsa_key(issued: &Issued) -> (Vec<u8>, Vec<u8>) {
    let pkcs8 = issued.key_pkcs8();
    let parts = children(&pkcs8);
    let pkcs1 = parts
        .iter()
        .find(|(tag, _)| *tag == 0x04)
        .map(|(_, c)| c.clone())
        .unwrap();
    let stored = seq(&[
        VERSION_0,
        &seq(&[OID_RSA, NULL]),
        &tlv(0x04, &pkcs1),
        ATTRIBUTES,
    ]);
    let go = seq(&[VERSION_0, &seq(&[OID_RSA, NULL]), &tlv(0x04, &pkcs1)]);
    (stored, go)
}

fn cert_pem(issued: &Issued) -> Vec<u8> {
    go_pem("CERTIFICATE", issued.der())
}

/// A chain whose certificates carry no authority key identifier: the provider cannot link it.
fn chain_without_key_ids() -> TestPki {
    let spec = |name: &str, is_ca: bool| CertSpec {
        common_name: name.into(),
        is_ca,
        authority_key_id: false,
        ..CertSpec::default()
    };
    let root = Issued::self_signed(&spec("no-aki root", true));
    let intermediate = root.issue(&spec("no-aki intermediate", true));
    let leaf = intermediate.issue(&spec("no-aki leaf", false));
    TestPki {
        root,
        intermediate,
        leaf,
    }
}

// ---------------------------------------------------------------------------------------------
// The table.

/// What a row stores before the sync, in order.
enum Store {
    /// A version of a secret: value, content type, tags.
    Secret(
        &'static str,
        String,
        Option<&'static str>,
        Vec<(&'static str, String)>,
    ),
    /// The newest version of the secret backs a Key Vault certificate (`kid` set).
    Kid(&'static str),
    /// The i-th version (1-based, in creation order across the row) is disabled.
    Disable(&'static str, u64),
    /// A Key Vault key.
    Key(&'static str, PublicKeyComponents),
}

enum Expect {
    /// Exactly these files: path, bytes, mode (`None`: the sink's default, 0644).
    Files(Vec<(String, Vec<u8>, Option<u32>)>),
    /// The object list is refused before anything is read; the error contains this.
    Refused(&'static str),
    /// The object fails (nothing written for it); the error contains this.
    Fails(&'static str),
}

struct Row {
    name: &'static str,
    store: Vec<Store>,
    /// One object, as an item of `spec.parameters.objects`' `array` (several: `\n---\n`
    /// between them).
    object: String,
    expect: Expect,
    /// Certificate/keyway findings the object must report (codes).
    findings: Vec<FindingCode>,
    /// Findings the object must not report.
    absent: Vec<FindingCode>,
    /// A deliberate difference: what the provider does instead.
    differs: Option<&'static str>,
}

/// The id MemorySource gives the n-th version it stores (1-based).
fn v(n: u64) -> String {
    format!("{n:032x}")
}

fn files(list: &[(&str, &[u8], Option<u32>)]) -> Expect {
    Expect::Files(
        list.iter()
            .map(|(p, b, m)| (p.to_string(), b.to_vec(), *m))
            .collect(),
    )
}

fn secret(name: &'static str, value: &str) -> Store {
    Store::Secret(name, value.to_string(), None, Vec::new())
}

fn row(name: &'static str, store: Vec<Store>, object: &str, expect: Expect) -> Row {
    Row {
        name,
        store,
        object: object.to_string(),
        expect,
        findings: Vec::new(),
        absent: Vec::new(),
        differs: None,
    }
}

impl Row {
    fn differs(mut self, provider: &'static str) -> Row {
        self.differs = Some(provider);
        self
    }

    fn finding(mut self, code: FindingCode) -> Row {
        self.findings.push(code);
        self
    }

    fn no_finding(mut self, code: FindingCode) -> Row {
        self.absent.push(code);
        self
    }
}

fn table() -> Vec<Row> {
    let ec = ec_key();
    let pki = TestPki::generate(KeyKind::EcP256, &["compat.example"]);
    // Stored root, leaf, intermediate: linked by key identifiers, so reordered leaf → root.
    let pfx_ec = STANDARD.encode(legacy_pkcs12_from_der(
        &ec.stored_pkcs8(),
        &[pki.root.der(), pki.leaf.der(), pki.intermediate.der()],
        "",
    ));
    let pfx_ec_der = STANDARD.decode(&pfx_ec).unwrap();
    let linked_pem = [
        go_pem("PRIVATE KEY", &ec.go_pkcs8()),
        cert_pem(&pki.leaf),
        cert_pem(&pki.intermediate),
        cert_pem(&pki.root),
    ]
    .concat();
    // No authority key identifiers: the stored order (intermediate, leaf, root) is kept.
    let plain = chain_without_key_ids();
    let pfx_unlinked = STANDARD.encode(legacy_pkcs12_from_der(
        &ec.stored_pkcs8(),
        &[plain.intermediate.der(), plain.leaf.der(), plain.root.der()],
        "",
    ));
    let unlinked_pem = [
        go_pem("PRIVATE KEY", &ec.go_pkcs8()),
        cert_pem(&plain.intermediate),
        cert_pem(&plain.leaf),
        cert_pem(&plain.root),
    ]
    .concat();
    let rsa_pki = TestPki::generate(KeyKind::Rsa2048, &["rsa.example"]);
    let (rsa_stored, rsa_go) = rsa_key(&rsa_pki.leaf);
    let pfx_rsa = STANDARD.encode(legacy_pkcs12_from_der(
        &rsa_stored,
        &[rsa_pki.leaf.der()],
        "",
    ));
    let rsa_pem = [go_pem("PRIVATE KEY", &rsa_go), cert_pem(&rsa_pki.leaf)].concat();
    // A PEM backing secret in an odd order, with a PKCS#1 key: written verbatim.
    let pem_odd = [
        cert_pem(&pki.root),
        go_pem("EC PRIVATE KEY", &[0x30, 0x00]),
        cert_pem(&pki.leaf),
    ]
    .concat();
    let pem_odd = String::from_utf8(pem_odd).unwrap();
    let pem_chain = pki.chain_pem(true);
    let modulus: Vec<u8> = std::iter::once(0xc5)
        .chain(std::iter::repeat_n(0x5a, 254))
        .chain(std::iter::once(0x01))
        .collect();
    let rsa_spki = seq(&[
        &seq(&[OID_RSA, NULL]),
        &tlv(
            0x03,
            &[&[0u8][..], &seq(&[&uint(&modulus), &uint(&[1, 0, 1])])].concat(),
        ),
    ]);

    let kid = |name: &'static str, value: &str, ct: &'static str| {
        vec![
            Store::Secret(name, value.to_string(), Some(ct), Vec::new()),
            Store::Kid(name),
        ]
    };
    let tagged = |name: &'static str, value: &str, tag: &'static str| {
        Store::Secret(
            name,
            value.to_string(),
            None,
            vec![("file-encoding", tag.to_string())],
        )
    };
    const PKCS12: &str = "application/x-pkcs12";
    const PEM: &str = "application/x-pem-file";

    vec![
        // ---- plain secrets: objectEncoding --------------------------------------------------
        row(
            "secret, no objectEncoding: the value as stored",
            vec![secret("s", "p@ss\r\nword ")],
            "objectName: s\nobjectType: secret",
            files(&[("s", b"p@ss\r\nword ", None)]),
        ),
        row(
            "objectEncoding utf-8 in any case: the value as stored",
            vec![secret("s", "text")],
            "objectName: s\nobjectType: secret\nobjectEncoding: UTF-8",
            files(&[("s", b"text", None)]),
        ),
        row(
            "objectEncoding base64: decoded",
            vec![secret("s", "AAEC/w==")],
            "objectName: s\nobjectType: secret\nobjectEncoding: Base64",
            files(&[("s", &[0, 1, 2, 0xff], None)]),
        ),
        row(
            "objectEncoding hex, upper-case digits: decoded",
            vec![secret("s", "0001FF")],
            "objectName: s\nobjectType: secret\nobjectEncoding: HEX",
            files(&[("s", &[0, 1, 0xff], None)]),
        ),
        row(
            "objectEncoding base64 on a value that is not base64: the object fails",
            vec![secret("s", "not base64!")],
            "objectName: s\nobjectType: secret\nobjectEncoding: base64",
            Expect::Fails("objectEncoding base64"),
        )
        .differs("the whole mount fails (`illegal base64 data at input byte 3`)"),
        row(
            "stored with file-encoding hex, no objectEncoding: the hex text, and a finding",
            vec![tagged("s", "0001ff", "hex")],
            "objectName: s\nobjectType: secret",
            files(&[("s", b"0001ff", None)]),
        )
        .finding(FindingCode::StoredEncoded),
        row(
            "stored with file-encoding base64, no objectEncoding: the base64 text, and a finding",
            vec![tagged("s", "AAH/", "base64")],
            "objectName: s\nobjectType: secret",
            files(&[("s", b"AAH/", None)]),
        )
        .finding(FindingCode::StoredEncoded),
        row(
            "stored with file-encoding hex, objectEncoding hex: decoded, no finding",
            vec![tagged("s", "0001ff", "hex")],
            "objectName: s\nobjectType: secret\nobjectEncoding: hex",
            files(&[("s", &[0, 1, 0xff], None)]),
        ),
        row(
            "objectEncoding utf8 (no dash): refused",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nobjectEncoding: utf8",
            Expect::Refused("objectEncoding: \"utf8\" is not one of utf-8, hex, base64"),
        ),
        row(
            "objectEncoding on objectType cert: refused",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: cert\nobjectEncoding: base64",
            Expect::Refused("objectEncoding: is only allowed with objectType secret"),
        ),
        // ---- plain secrets with certificate content types (no kid) ---------------------------
        row(
            "plain secret, content type x-pkcs12, no kid: the base64 text as stored",
            vec![Store::Secret("p", pfx_ec.clone(), Some(PKCS12), Vec::new())],
            "objectName: p\nobjectType: secret",
            files(&[("p", pfx_ec.as_bytes(), None)]),
        ),
        row(
            "plain secret, content type x-pem-file, no kid: verbatim",
            vec![Store::Secret("p", pem_odd.clone(), Some(PEM), Vec::new())],
            "objectName: p\nobjectType: secret",
            files(&[("p", pem_odd.as_bytes(), None)]),
        ),
        row(
            "plain secret, x-pkcs12, objectEncoding base64: the PFX bytes",
            vec![Store::Secret("p", pfx_ec.clone(), Some(PKCS12), Vec::new())],
            "objectName: p\nobjectType: secret\nobjectEncoding: base64",
            files(&[("p", &pfx_ec_der, None)]),
        ),
        // ---- Key Vault certificates' backing secrets (kid set) -------------------------------
        row(
            "certificate (PKCS#12), no objectFormat: PKCS#8 key, then the chain leaf → root",
            kid("c", &pfx_ec, PKCS12),
            "objectName: c\nobjectType: secret",
            files(&[("c", &linked_pem, None)]),
        )
        .finding(FindingCode::ChainReordered),
        row(
            "certificate (PKCS#12), objectFormat PEM (any case): the same",
            kid("c", &pfx_ec, PKCS12),
            "objectName: c\nobjectType: secret\nobjectFormat: PEM",
            files(&[("c", &linked_pem, None)]),
        ),
        row(
            "certificate (PKCS#12) without key identifiers: stored certificate order kept",
            kid("c", &pfx_unlinked, PKCS12),
            "objectName: c\nobjectType: secret",
            files(&[("c", &unlinked_pem, None)]),
        )
        .finding(FindingCode::ChainIncomplete)
        .no_finding(FindingCode::ChainReordered),
        row(
            "certificate (PKCS#12), RSA key with attributes: plain PKCS#8 RSA key",
            kid("c", &pfx_rsa, PKCS12),
            "objectName: c\nobjectType: secret",
            files(&[("c", &rsa_pem, None)]),
        ),
        row(
            "certificate (PKCS#12), objectFormat pfx: the base64 text",
            kid("c", &pfx_ec, PKCS12),
            "objectName: c\nobjectType: secret\nobjectFormat: pfx",
            files(&[("c", pfx_ec.as_bytes(), None)]),
        ),
        row(
            "certificate (PKCS#12), objectFormat pfx, objectEncoding base64: the PFX bytes",
            kid("c", &pfx_ec, PKCS12),
            "objectName: c\nobjectType: secret\nobjectFormat: pfx\nobjectEncoding: base64",
            files(&[("c", &pfx_ec_der, None)]),
        ),
        row(
            "certificate (PKCS#12), PEM with objectEncoding base64: the object fails",
            kid("c", &pfx_ec, PKCS12),
            "objectName: c\nobjectType: secret\nobjectEncoding: base64",
            Expect::Fails("objectEncoding base64"),
        )
        .differs("the whole mount fails (the PEM text is decoded as base64)"),
        row(
            "certificate (PEM): verbatim, no reordering or key re-encoding",
            kid("c", &pem_odd, PEM),
            "objectName: c\nobjectType: secret",
            files(&[("c", pem_odd.as_bytes(), None)]),
        ),
        row(
            "certificate (PEM), objectFormat pfx: verbatim (the format is ignored)",
            kid("c", &pem_chain, PEM),
            "objectName: c\nobjectType: secret\nobjectFormat: pfx",
            files(&[("c", pem_chain.as_bytes(), None)]),
        ),
        row(
            "certificate (PEM) with objectEncoding hex: the object fails",
            kid("c", &pem_chain, PEM),
            "objectName: c\nobjectType: secret\nobjectEncoding: hex",
            Expect::Fails("objectEncoding hex"),
        )
        .differs("the whole mount fails (the PEM text is decoded as hex)"),
        row(
            "certificate with an unknown content type: the object fails",
            kid("c", &pem_chain, "application/pem-certificate-chain"),
            "objectName: c\nobjectType: secret",
            Expect::Fails("unknown content type"),
        )
        .differs("the whole mount fails with the same message"),
        // ---- objectType cert and key ----------------------------------------------------------
        row(
            "objectType cert: the leaf only, one CERTIFICATE block",
            kid("c", &pfx_ec, PKCS12),
            "objectName: c\nobjectType: cert",
            files(&[("c", &cert_pem(&pki.leaf), None)]),
        ),
        row(
            "objectType cert with objectFormat pfx: refused",
            kid("c", &pfx_ec, PKCS12),
            "objectName: c\nobjectType: cert\nobjectFormat: pfx",
            Expect::Refused("pfx is only allowed with objectType secret"),
        ),
        row(
            "objectType cert with objectFormat PFX (upper case): refused",
            kid("c", &pfx_ec, PKCS12),
            "objectName: c\nobjectType: cert\nobjectFormat: PFX",
            Expect::Refused("pfx is only allowed with objectType secret"),
        )
        .differs("accepted and ignored (its check compares `pfx` case-sensitively)"),
        row(
            "objectType key, EC P-256: PUBLIC KEY (SPKI)",
            vec![Store::Key(
                "k",
                PublicKeyComponents::Ec {
                    curve: "P-256".into(),
                    x: ec.point[1..33].to_vec(),
                    y: ec.point[33..].to_vec(),
                },
            )],
            "objectName: k\nobjectType: key",
            files(&[("k", &go_pem("PUBLIC KEY", &ec.spki()), None)]),
        ),
        row(
            "objectType key, RSA: PUBLIC KEY (SPKI), never RSA PUBLIC KEY",
            vec![Store::Key(
                "k",
                PublicKeyComponents::Rsa {
                    modulus: modulus.clone(),
                    exponent: vec![1, 0, 1],
                },
            )],
            "objectName: k\nobjectType: key",
            files(&[("k", &go_pem("PUBLIC KEY", &rsa_spki), None)]),
        ),
        row(
            "objectType Secret (not lower case): refused",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: Secret",
            Expect::Refused("write secret"),
        )
        .differs("passes validation, then fails the whole mount at fetch time"),
        row(
            "objectFormat der: refused",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nobjectFormat: der",
            Expect::Refused("objectFormat: \"der\" is not one of pem, pfx"),
        ),
        // ---- names and aliases ----------------------------------------------------------------
        row(
            "two objects writing one file: refused",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nobjectAlias: f\n---\nobjectName: s\nobjectType: secret\nobjectAlias: F",
            Expect::Refused("which another object writes too"),
        )
        .differs("not checked: both are written and the last one wins"),
        row(
            "objectAlias: the file name, subdirectories allowed",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nobjectAlias: conf/db-password",
            files(&[("conf/db-password", b"x", None)]),
        ),
        row(
            "objectAlias with `..` inside a component: refused",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nobjectAlias: a..b",
            Expect::Refused("objectAlias: must be a plain relative path without `..`"),
        ),
        row(
            "objectAlias with a `..` component: refused",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nobjectAlias: ../x",
            Expect::Refused("objectAlias: must be a plain relative path without `..`"),
        ),
        row(
            "objectAlias absolute: refused",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nobjectAlias: /etc/x",
            Expect::Refused("objectAlias: must be a plain relative path"),
        ),
        row(
            "objectAlias `./x` (not clean): refused",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nobjectAlias: ./x",
            Expect::Refused("objectAlias: must be a plain relative path"),
        )
        .differs("accepted by the provider, refused by the driver's writer (not a clean path)"),
        // ---- versions and history -------------------------------------------------------------
        row(
            "objectVersion latest: the newest",
            vec![secret("s", "one"), secret("s", "two")],
            "objectName: s\nobjectType: secret\nobjectVersion: latest",
            files(&[("s", b"two", None)]),
        )
        .differs("sent to Key Vault as the version id `latest` (special only with a history)"),
        row(
            "objectVersion: that version",
            vec![secret("s", "one"), secret("s", "two")],
            &format!("objectName: s\nobjectType: secret\nobjectVersion: {}", v(1)),
            files(&[("s", b"one", None)]),
        ),
        row(
            "objectVersionHistory 1: a single file <name>",
            vec![secret("s", "one"), secret("s", "two")],
            "objectName: s\nobjectType: secret\nobjectVersionHistory: 1",
            files(&[("s", b"two", None)]),
        ),
        row(
            "objectVersionHistory 0: a single file <name>",
            vec![secret("s", "one")],
            "objectName: s\nobjectType: secret\nobjectVersionHistory: 0",
            files(&[("s", b"one", None)]),
        ),
        row(
            "objectVersionHistory -1: a single file <name>",
            vec![secret("s", "one")],
            "objectName: s\nobjectType: secret\nobjectVersionHistory: -1",
            files(&[("s", b"one", None)]),
        ),
        row(
            "objectVersionHistory 2 of 3 versions: <name>/0 newest, <name>/1",
            vec![secret("s", "one"), secret("s", "two"), secret("s", "three")],
            "objectName: s\nobjectType: secret\nobjectVersionHistory: 2",
            files(&[("s/0", b"three", None), ("s/1", b"two", None)]),
        )
        .differs("N+1 files: also s/2 = one (an off-by-one in getLatestNKeyVaultObjects)"),
        row(
            "objectVersionHistory skips disabled versions",
            vec![
                secret("s", "one"),
                secret("s", "two"),
                secret("s", "three"),
                Store::Disable("s", 2),
            ],
            "objectName: s\nobjectType: secret\nobjectVersionHistory: 3\nobjectAlias: h",
            files(&[("h/0", b"three", None), ("h/1", b"one", None)]),
        ),
        row(
            "objectVersionHistory with a pinned objectVersion: from it, older ones following",
            vec![secret("s", "one"), secret("s", "two"), secret("s", "three")],
            &format!(
                "objectName: s\nobjectType: secret\nobjectVersionHistory: 2\nobjectVersion: {}",
                v(2)
            ),
            files(&[("s/0", b"two", None), ("s/1", b"one", None)]),
        ),
        row(
            "objectVersionHistory with a pinned objectVersion that does not exist: fails",
            vec![secret("s", "one"), secret("s", "two")],
            "objectName: s\nobjectType: secret\nobjectVersionHistory: 2\nobjectVersion: abc",
            Expect::Fails("pinned objectVersion"),
        )
        .differs("no files and no error for that object"),
        row(
            "objectVersionHistory on a certificate: each version converted",
            vec![
                Store::Secret("c", pfx_ec.clone(), Some(PKCS12), Vec::new()),
                Store::Kid("c"),
                Store::Secret("c", pfx_ec.clone(), Some(PKCS12), Vec::new()),
                Store::Kid("c"),
            ],
            "objectName: c\nobjectType: secret\nobjectVersionHistory: 2",
            files(&[("c/0", &linked_pem, None), ("c/1", &linked_pem, None)]),
        ),
        // ---- filePermission -------------------------------------------------------------------
        row(
            "filePermission \"0600\"",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nfilePermission: \"0600\"",
            files(&[("s", b"x", Some(0o600))]),
        ),
        row(
            "filePermission 640 (no leading zero): octal",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nfilePermission: \"640\"",
            files(&[("s", b"x", Some(0o640))]),
        ),
        row(
            "filePermission 0755 unquoted: octal 0755",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nfilePermission: 0755",
            files(&[("s", b"x", Some(0o755))]),
        ),
        row(
            "filePermission \"0o644\" (Rust's octal prefix): refused",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nfilePermission: \"0o644\"",
            Expect::Refused("filePermission: \"0o644\" is not an octal file mode"),
        )
        .differs("the mount succeeds and the file gets mode 0000 (ParseInt fails on `0o`)"),
        row(
            "no filePermission: the default, 0644",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret",
            files(&[("s", b"x", None)]),
        ),
        row(
            "filePermission applies to every history file",
            vec![secret("s", "one"), secret("s", "two")],
            "objectName: s\nobjectType: secret\nobjectVersionHistory: 2\nfilePermission: \"0400\"",
            files(&[("s/0", b"two", Some(0o400)), ("s/1", b"one", Some(0o400))]),
        ),
        row(
            "filePermission that is not octal: refused",
            vec![secret("s", "x")],
            "objectName: s\nobjectType: secret\nfilePermission: \"0999\"",
            Expect::Refused("filePermission: \"0999\" is not an octal file mode"),
        )
        .differs("the mount succeeds and the file gets mode 0000 (the parse error is dropped)"),
    ]
}

#[tokio::test]
async fn every_object_option_writes_the_providers_bytes() {
    let mut failures = Vec::new();
    for row in table() {
        if let Err(why) = check(&row).await {
            let differs = row
                .differs
                .map(|p| format!(" [deliberate difference; the provider: {p}]"))
                .unwrap_or_default();
            failures.push(format!("{}{differs}: {why}", row.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} row(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn check(row: &Row) -> Result<(), String> {
    let source = Arc::new(MemorySource::new());
    for item in &row.store {
        match item {
            Store::Secret(name, value, ct, tags) => {
                let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
                source.set(name, value, *ct, &tags);
            }
            Store::Kid(name) => source.set_kid(name, "https://vault.invalid/keys/k/1"),
            Store::Disable(name, n) => source.set_version_enabled(name, &v(*n), false),
            Store::Key(name, components) => {
                source.set_key(name, components.clone());
            }
        }
    }
    let yaml: String = std::iter::once("array:\n".to_string())
        .chain(
            row.object
                .split("\n---\n")
                .map(|item| format!("  - |\n    {}\n", item.replace('\n', "\n    "))),
        )
        .collect();
    let parsed = parse_objects(&yaml, "spec.parameters.objects");
    let objects = match (&row.expect, parsed) {
        (Expect::Refused(needle), Err(e)) => {
            let e = e.to_string();
            return if e.contains(needle) && e.starts_with("spec.parameters.objects[") {
                Ok(())
            } else {
                Err(format!(
                    "refused with {e:?}, expected it to name {needle:?}"
                ))
            };
        }
        (Expect::Refused(needle), Ok(_)) => {
            return Err(format!("accepted; expected a refusal naming {needle:?}"));
        }
        (_, Err(e)) => return Err(format!("refused: {e}")),
        (_, Ok(objects)) => objects,
    };
    let sink = Arc::new(MemorySink::new());
    let syncer = Syncer::new(
        SyncSpec::new("https://memory.invalid", objects).map_err(|e| e.to_string())?,
        source,
        sink.clone(),
    );
    let report = syncer.run_once().await;
    let written: BTreeMap<String, (Vec<u8>, Option<u32>)> = sink
        .contents()
        .map(|set| {
            set.files
                .iter()
                .map(|(k, f)| (k.clone(), (f.contents.to_vec(), f.mode)))
                .collect()
        })
        .unwrap_or_default();
    match &row.expect {
        Expect::Refused(_) => unreachable!(),
        Expect::Fails(needle) => {
            let failed: Vec<&str> = report
                .objects
                .iter()
                .filter(|o| o.outcome == Outcome::Failed)
                .filter_map(|o| o.error.as_deref())
                .collect();
            if !failed.iter().any(|e| e.contains(needle)) {
                return Err(format!(
                    "expected the object to fail naming {needle:?}; failures {failed:?}, wrote {:?}",
                    written.keys().collect::<Vec<_>>()
                ));
            }
            if !written.is_empty() {
                return Err(format!("wrote {:?} for a failed object", written.keys()));
            }
        }
        Expect::Files(expected) => {
            if let Some(o) = report.objects.iter().find(|o| o.outcome == Outcome::Failed) {
                return Err(format!("{} failed: {:?}", o.output, o.error));
            }
            let expected: BTreeMap<String, (Vec<u8>, Option<u32>)> = expected
                .iter()
                .map(|(p, b, m)| (p.clone(), (b.clone(), *m)))
                .collect();
            if written.keys().ne(expected.keys()) {
                return Err(format!(
                    "wrote {:?}, expected {:?}",
                    written.keys().collect::<Vec<_>>(),
                    expected.keys().collect::<Vec<_>>()
                ));
            }
            for (path, (bytes, mode)) in &expected {
                let (got, got_mode) = &written[path];
                if got != bytes {
                    return Err(format!(
                        "{path}: bytes differ\n--- got ({} bytes)\n{}\n--- expected ({} bytes)\n{}",
                        got.len(),
                        String::from_utf8_lossy(got),
                        bytes.len(),
                        String::from_utf8_lossy(bytes)
                    ));
                }
                if got_mode != mode {
                    return Err(format!("{path}: mode {got_mode:?}, expected {mode:?}"));
                }
            }
        }
    }
    let codes: Vec<FindingCode> = report
        .objects
        .iter()
        .flat_map(|o| o.findings.iter().map(|f| f.code))
        .collect();
    for code in &row.findings {
        if !codes.contains(code) {
            return Err(format!("expected finding {code}, got {codes:?}"));
        }
    }
    let mut absent = row.absent.clone();
    if !row.findings.contains(&FindingCode::StoredEncoded) {
        absent.push(FindingCode::StoredEncoded);
    }
    if let Some(code) = absent.iter().find(|c| codes.contains(c)) {
        return Err(format!("unexpected finding {code}: {codes:?}"));
    }
    Ok(())
}

#[tokio::test]
async fn the_stored_encoding_finding_names_the_fix() {
    let source = Arc::new(MemorySource::new());
    source.set("s", "0001ff", None, &[("file-encoding", "hex")]);
    let objects = parse_objects(
        "array:\n  - |\n    objectName: s\n    objectType: secret\n",
        "objects",
    )
    .unwrap();
    let sink = Arc::new(MemorySink::new());
    let report = Syncer::new(
        SyncSpec::new("https://memory.invalid", objects).unwrap(),
        source,
        sink,
    )
    .run_once()
    .await;
    let finding = &report.objects[0].findings[0];
    assert_eq!(finding.code, FindingCode::StoredEncoded);
    assert!(
        finding
            .message
            .contains("stored with file-encoding hex; written as stored")
            && finding.message.contains("set objectEncoding: hex"),
        "{}",
        finding.message
    );
}
