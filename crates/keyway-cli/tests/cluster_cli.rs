//! `keyway cluster k3s-config` as an operator runs it: a dry run prints the diff and leaves the
//! file alone, `--write` applies it with a backup, a second run has nothing to do, and bad
//! arguments exit 2 naming what was given.

use std::process::{Command, Output};

fn keyway(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn k3s_config_dry_run_write_and_rerun() {
    let dir = std::env::temp_dir().join(format!("keyway-k3s-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.yaml");
    let original = "# edge node\nnode-name: edge-1\nkube-apiserver-arg:\n  - v=2\n";
    std::fs::write(&file, original).unwrap();
    let path = file.to_str().unwrap();
    let issuer = "https://issuer.example/edge-1/";

    let dry = keyway(&["cluster", "k3s-config", "--issuer", issuer, "--file", path]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    let out = text(&dry.stdout);
    assert!(
        out.contains(&format!("+  - service-account-issuer={issuer}")),
        "{out}"
    );
    assert!(
        out.contains("+  - service-account-max-token-expiration=24h"),
        "{out}"
    );
    assert!(out.contains("--write"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        original,
        "a dry run writes nothing"
    );

    let write = keyway(&[
        "cluster",
        "k3s-config",
        "--issuer",
        issuer,
        "--file",
        path,
        "--write",
    ]);
    assert_eq!(write.status.code(), Some(0), "{}", text(&write.stderr));
    assert!(text(&write.stdout).contains("systemctl restart k3s"));
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.starts_with("# edge node\nnode-name: edge-1\nkube-apiserver-arg:\n  - v=2\n"));
    assert!(written.contains(&format!("  - service-account-issuer={issuer}\n")));
    let backup = std::fs::read_to_string(dir.join("config.yaml.keyway.bak")).unwrap();
    assert_eq!(backup, original);

    let again = keyway(&[
        "cluster",
        "k3s-config",
        "--issuer",
        issuer,
        "--file",
        path,
        "--write",
    ]);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        text(&again.stdout).contains("nothing to do"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);

    let bad = keyway(&[
        "cluster",
        "k3s-config",
        "--issuer",
        "http://issuer.example/",
        "--file",
        path,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("\"http://issuer.example/\" must be an https URL"));
    let bad = keyway(&[
        "cluster",
        "k3s-config",
        "--issuer",
        issuer,
        "--max-token-expiration",
        "1d",
        "--file",
        path,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("\"1d\""),
        "{}",
        text(&bad.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
