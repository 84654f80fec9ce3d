//! The `keyway cert` commands, run as a user runs them: the built binary, real files.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use keyway_cert::testing::{CertSpec, Issued, KeyKind, TestPki};
use support::assert_exit;
use time::{Duration, OffsetDateTime};

fn keyway(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(args)
        .env_remove("KEYWAY_PKCS12_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(stdin.unwrap_or_default()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn fixture(name: &str) -> String {
    format!(
        "{}/../keyway-cert/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keyway-cli-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `keyway cert convert` of the hex-tagged `leaf-rsa.pfx.hex` fixture `--to tls --out
/// tls_dir`, which must succeed.
fn convert_fixture_pfx_to_tls(tls_dir: &Path) {
    let out = keyway(
        &[
            "cert",
            "convert",
            &fixture("leaf-rsa.pfx.hex"),
            "--file-encoding-tag",
            "hex",
            "--to",
            "tls",
            "--out",
            tls_dir.to_str().unwrap(),
        ],
        None,
    );
    assert_exit(&out, 0);
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn inspect_json_has_the_documented_shape() {
    let out = keyway(
        &[
            "cert",
            "inspect",
            &fixture("chain-shuffled.pem"),
            "--at",
            "2026-06-01T00:00:00Z",
            "--json",
        ],
        None,
    );
    assert_exit(&out, 0);
    let v = json(&out);
    assert_eq!(v["encoding"], "utf-8");
    assert_eq!(v["content_type"], "application/x-pem-file");
    assert_eq!(v["chain"]["order"], serde_json::json!([1, 2, 0]));
    assert_eq!(v["chain"]["complete"], true);
    assert_eq!(v["private_keys"], 0);
    assert_eq!(v["crls"], 0);
    let leaf = &v["certificates"][1];
    for key in [
        "index",
        "subject",
        "issuer",
        "serial",
        "not_before",
        "not_after",
        "sha1",
        "sha256",
        "is_ca",
        "san",
        "key_algorithm",
        "key_bits",
        "signature_algorithm",
    ] {
        assert!(leaf.get(key).is_some(), "missing {key}");
    }
    assert_eq!(leaf["sha1"], "d453a196e3ef36dfe9452ab8dc9904c55af576bd");
    assert_eq!(leaf["not_after"], "2125-01-01T00:00:00Z");
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["self_signed", "chain_reordered"]);
    assert!(
        v["findings"][0].get("severity").is_some() && v["findings"][0].get("certificate").is_some()
    );
}

#[test]
fn inspect_exit_codes() {
    // An expired certificate is an error finding: exit 1.
    let expired = Issued::self_signed(&CertSpec {
        not_before: OffsetDateTime::now_utc() - Duration::days(30),
        not_after: OffsetDateTime::now_utc() - Duration::days(1),
        ..CertSpec::default()
    });
    let out = keyway(&["cert", "inspect", "-"], Some(expired.pem().as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("expired"));

    // Undecodable input: exit 2, the offset on stderr, nothing on stdout.
    let out = keyway(&["cert", "inspect", "--encoding", "hex"], Some(b"abc"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("byte offset 3") && err.contains("odd number"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    // Unparsable input.
    let out = keyway(
        &["cert", "inspect", "--content-type", "application/pkix-cert"],
        Some(b"\x30\x03\x02\x01\x01"),
    );
    assert_eq!(out.status.code(), Some(2));

    // The file-encoding tag decides over sniffing.
    let out = keyway(
        &[
            "cert",
            "inspect",
            &fixture("leaf-rsa.der.b64"),
            "--file-encoding-tag",
            "base64",
            "--json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["encoding_source"], "tag");
}

#[test]
fn expiry_warning_window_is_configurable() {
    let pki = TestPki::generate(KeyKind::EcP256, &["a"]);
    let at = OffsetDateTime::now_utc() + Duration::days(355);
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let count = |days: &str| {
        let out = keyway(
            &[
                "cert",
                "inspect",
                "--at",
                &at,
                "--expiry-warning",
                days,
                "--json",
            ],
            Some(pki.leaf.pem().as_bytes()),
        );
        json(&out)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == "expires_soon")
            .count()
    };
    assert_eq!(count("30"), 1);
    assert_eq!(count("5"), 0);
}

#[test]
fn encode_prints_exactly_what_az_stores() {
    for (encoding, suffix) in [("hex", "hex"), ("base64", "b64")] {
        let out = keyway(
            &[
                "cert",
                "encode",
                &fixture("leaf-rsa.der"),
                "--encoding",
                encoding,
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            out.stdout,
            std::fs::read(fixture(&format!("leaf-rsa.der.{suffix}"))).unwrap()
        );
    }
    let out = keyway(
        &[
            "cert",
            "encode",
            &fixture("leaf-rsa.der"),
            "--encoding",
            "utf-8",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--encoding hex"));
}

#[test]
fn convert_pfx_to_tls_and_pem() {
    let dir = scratch("convert");
    let tls_dir = dir.join("tls");
    convert_fixture_pfx_to_tls(&tls_dir);
    let read = |p: &Path| std::fs::read(p).unwrap();
    assert_eq!(
        read(&tls_dir.join("tls.crt")),
        read(Path::new(&fixture("chain.pem")))
    );
    assert_eq!(
        read(&tls_dir.join("tls.key")),
        read(Path::new(&fixture("leaf-rsa.key")))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tls_dir.join("tls.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let pem = dir.join("bundle.pem");
    let out = keyway(
        &[
            "cert",
            "convert",
            &fixture("leaf-rsa-legacy.pfx"),
            "--to",
            "pem",
            "--out",
            pem.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(read(&pem)).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));

    // Single-file outputs to standard output.
    let out = keyway(
        &[
            "cert",
            "convert",
            &fixture("chain-shuffled.pem"),
            "--to",
            "leaf",
            "--out",
            "-",
        ],
        None,
    );
    assert_eq!(out.stdout, read(Path::new(&fixture("leaf-rsa.pem"))));
    let out = keyway(
        &[
            "cert",
            "convert",
            &fixture("chain.pem"),
            "--to",
            "tls",
            "--out",
            "-",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn pkcs12_password_comes_from_the_environment() {
    let base = [
        "cert",
        "inspect",
        &fixture("leaf-ec-password.pfx"),
        "--json",
    ];
    let out = keyway(&base, None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong password"));
    let out = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(base)
        .env("KEYWAY_PKCS12_PASSWORD", "keyway-test")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(json(&out)["private_keys"], 1);
}

/// Another local user pre-creates the name the temporary key file used to have
/// (`.tls.key.keyway-tmp`): as a link to a file they want overwritten, or as their own 0666
/// file. Neither receives the key, and the key lands owner-only.
#[cfg(unix)]
#[test]
fn convert_never_writes_the_key_into_what_is_planted_at_the_temporary_name() {
    use std::os::unix::fs::{PermissionsExt as _, symlink};
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    for plant_link in [true, false] {
        let dir = scratch(if plant_link {
            "planted-link"
        } else {
            "planted-file"
        });
        let tls_dir = dir.join("tls");
        std::fs::create_dir_all(&tls_dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "someone else's file").unwrap();
        let planted = tls_dir.join(".tls.key.keyway-tmp");
        if plant_link {
            symlink(&victim, &planted).unwrap();
        } else {
            std::fs::write(&planted, "planted").unwrap();
            std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        convert_fixture_pfx_to_tls(&tls_dir);
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "someone else's file"
        );
        if plant_link {
            assert_eq!(std::fs::read_link(&planted).unwrap(), victim);
        } else {
            assert_eq!(std::fs::read_to_string(&planted).unwrap(), "planted");
            assert_eq!(mode(&planted), 0o666);
        }
        let key = tls_dir.join("tls.key");
        assert!(
            std::fs::symlink_metadata(&key)
                .unwrap()
                .file_type()
                .is_file()
        );
        assert_eq!(mode(&key), 0o600, "link planted: {plant_link}");
        assert_eq!(
            std::fs::read(&key).unwrap(),
            std::fs::read(fixture("leaf-rsa.key")).unwrap()
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The password never has to be on the command line (where every user sees it in the process
/// list): a file or standard input carries it; `--password` is refused without echoing it.
#[test]
fn pkcs12_password_comes_from_a_file_or_standard_input_never_the_command_line() {
    let pfx = fixture("leaf-ec-password.pfx");
    let base = ["cert", "inspect", pfx.as_str(), "--json"];
    let ok = |out: &Output| {
        assert_exit(out, 0);
        assert_eq!(json(out)["private_keys"], 1);
    };

    let dir = scratch("password-file");
    let file = dir.join("password");
    std::fs::write(&file, "keyway-test\n").unwrap();
    let mut args = base.to_vec();
    args.extend(["--password-file", file.to_str().unwrap()]);
    ok(&keyway(&args, None));
    std::fs::write(&file, "keyway-test\r\nsecond line ignored\n").unwrap();
    ok(&keyway(&args, None));
    std::fs::write(&file, "wrong\n").unwrap();
    let out = keyway(&args, None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong password"));
    let _ = std::fs::remove_dir_all(dir);

    let mut args = base.to_vec();
    args.push("--password-stdin");
    ok(&keyway(&args, Some(b"keyway-test\n")));
    ok(&keyway(&args, Some(b"keyway-test")));

    // Standard input cannot carry both.
    let out = keyway(
        &["cert", "inspect", "-", "--password-stdin"],
        Some(b"keyway-test\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-file"));

    let out = keyway(
        &[
            "cert",
            "inspect",
            pfx.as_str(),
            "--password",
            "hunter2-secret",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("process list"), "{stderr}");
    for alternative in [
        "KEYWAY_PKCS12_PASSWORD",
        "--password-file",
        "--password-stdin",
    ] {
        assert!(stderr.contains(alternative), "{stderr}");
    }
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"));
}

/// A reader that goes away (`keyway cert inspect chain.pem | head -1`) ends the output quietly:
/// exit as usual, no panic (`print!` panicked on the closed pipe, exit 101).
#[test]
fn a_closed_standard_output_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(["cert", "inspect", &fixture("chain.pem")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}
