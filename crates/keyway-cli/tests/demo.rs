//! `keyway demo`, the README's first command, runs offline and writes what it says it writes.

use std::process::Command;

use keyway_cert::{Bundle, ParseOptions, ValidationOptions};

#[test]
fn demo_writes_valid_outputs_and_exits_zero() {
    let dir = std::env::temp_dir().join(format!("keyway-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(["demo", "--out", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3 secrets, 0 with errors"), "{stdout}");
    assert!(stdout.contains("chain_reordered"), "{stdout}");

    let crt = std::fs::read(dir.join("opcua-server-tls/tls.crt")).unwrap();
    let key = std::fs::read(dir.join("opcua-server-tls/tls.key")).unwrap();
    let both = Bundle::parse(
        &[key.as_slice(), crt.as_slice()].concat(),
        ParseOptions::default(),
    )
    .unwrap();
    let v = both.validate(&ValidationOptions::at(
        keyway_cert::time::OffsetDateTime::now_utc(),
    ));
    assert!(!v.has_errors(), "{:#?}", v.findings);
    assert_eq!(v.chain.path, vec![0, 1, 2], "tls.crt is leaf → root");
    assert!(
        std::fs::metadata(dir.join("opcua-server-der/opcua-server-der.der"))
            .unwrap()
            .len()
            > 0
    );
    // The private key never reaches the terminal.
    let key_line = String::from_utf8(key)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(!stdout.contains(&key_line));
    let _ = std::fs::remove_dir_all(dir);
}
