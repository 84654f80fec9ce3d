//! `keyway demo`, the README's first command: offline, exit 0, and what it says it did.

mod support;

use std::process::Command;

use keyway_cert::{Bundle, ParseOptions, ValidationOptions};
use support::assert_exit;

#[test]
fn demo_syncs_through_workload_identity_and_fetches_only_the_rotated_secret() {
    let dir = std::env::temp_dir().join(format!("keyway-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(["demo", "--out", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("calls at the vault: 2 list, 7 get, 1 token"),
        "{stdout}"
    );
    assert!(
        stdout.contains("calls at the vault: 2 list, 1 get, 0 token"),
        "only the rotated secret is read again: {stdout}"
    );

    // The same SecretSync landed in a Kubernetes Secret on the API stand-in (keys and sizes only).
    assert!(stdout.contains("kubernetes Secret default/keyway-demo (owned by SecretSync keyway-demo, TokenRequest auth)"), "{stdout}");
    assert!(
        stdout.contains("opcua-chain-pem          3791 B") || stdout.contains("opcua-chain-pem"),
        "{stdout}"
    );
    // The OPC UA server's certificate went into the connector's trust list (details shown
    // before applying), and the controller synced it (`keyway certs list`).
    assert!(
        stdout.contains("keyway certs trust add opcua-press-01.der"),
        "{stdout}"
    );
    assert!(stdout.contains("subject:   CN=opcua-press-01"), "{stdout}");
    assert!(
        stdout.contains("trust list (aio-opc-ua-broker-trust-list):"),
        "{stdout}"
    );
    assert!(
        stdout.contains("opcua-press-01.der ← opcua-press-01-der (version ")
            && stdout.contains("): synced"),
        "{stdout}"
    );
    let files = dir.join("files");
    assert_eq!(
        std::fs::read(files.join("db-password")).unwrap(),
        b"rotated: tr0ub4dor&3"
    );
    // The Key Vault certificate became PKCS#8 key first, then the chain leaf → root.
    let tls = std::fs::read(files.join("mqtt-tls")).unwrap();
    assert!(tls.starts_with(b"-----BEGIN PRIVATE KEY-----"));
    let bundle = Bundle::parse(&tls, ParseOptions::default()).unwrap();
    let v = bundle.validate(&ValidationOptions::at(
        keyway_cert::time::OffsetDateTime::now_utc(),
    ));
    assert!(!v.has_errors(), "{:#?}", v.findings);
    assert_eq!(v.chain.path, vec![0, 1, 2]);
    // The hex-stored DER came back as DER; its cert object as PEM.
    assert_eq!(
        std::fs::read(files.join("opcua-server.der")).unwrap()[0],
        0x30
    );
    assert!(
        std::fs::read_to_string(files.join("opcua-server.crt"))
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    // The manifests it wrote load back.
    let spc: keyway_sync::SecretProviderClass = keyway_sync::yaml::from_slice(
        &std::fs::read(dir.join("manifests/secretproviderclass.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        keyway_sync::SyncSpec::from_provider_class(&spc)
            .unwrap()
            .objects
            .len(),
        7
    );
    // objectType key: the certificate's public key, through the keys API.
    assert!(
        std::fs::read_to_string(files.join("mqtt-tls.pub"))
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    // No secret reaches the terminal.
    assert!(!stdout.contains("correct horse") && !stdout.contains("tr0ub4dor"));
    let _ = std::fs::remove_dir_all(dir);
}
