//! Every file and standard input a user names is read through one bounded reader: an endless
//! input (`/dev/zero`) is refused with exit 2 naming the file and the limit, after reading just
//! past the limit, and nothing is written. Each child runs under `ulimit -v` (a shell builtin),
//! so a read without a bound ends in "out of memory" instead of taking the machine's memory.
#![cfg(unix)]

#[path = "../../keyway-stores/tests/support/mod.rs"]
#[allow(unused_imports)]
mod stores;

use std::process::{Command, Output, Stdio};

/// The address space each child may take: far more than a bounded read needs, far less than
/// reading `/dev/zero` to its end.
const CHILD_ADDRESS_SPACE_KIB: u64 = 4 * 1024 * 1024;

/// `keyway ARGS` under the address-space limit, with `environment`, standard input `stdin`.
fn keyway(
    args: &[&str],
    environment: &[(&'static str, std::ffi::OsString)],
    stdin: Stdio,
) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {CHILD_ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_keyway"))
        .args(args)
        .envs(environment.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn refused_naming(out: &Output, file: &str, limit: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(file) && stderr.contains(limit) && stderr.contains("larger than"),
        "names {file} and the limit {limit}: {stderr}"
    );
}

#[test]
fn cert_inspect_refuses_an_endless_file() {
    let out = keyway(&["cert", "inspect", "/dev/zero"], &[], Stdio::null());
    refused_naming(&out, "/dev/zero", "1048576 bytes (1 MiB)");
    let out = keyway(
        &["cert", "inspect", "-"],
        &[],
        Stdio::from(std::fs::File::open("/dev/zero").unwrap()),
    );
    refused_naming(&out, "<stdin>", "1048576 bytes (1 MiB)");
}

/// Manifests are bounded too, at 8 MiB: `keyway sync` given `/dev/zero` as its
/// SecretProviderClass stops reading there and writes nothing.
#[test]
fn sync_refuses_an_endless_manifest() {
    let out_dir = std::env::temp_dir().join(format!("keyway-limits-sync-{}", std::process::id()));
    let target = out_dir.display().to_string();
    let out = keyway(
        &["sync", "--provider-class", "/dev/zero", "--to-dir", &target],
        &[],
        Stdio::null(),
    );
    refused_naming(&out, "/dev/zero", "8388608 bytes (8 MiB)");
    assert!(!out_dir.exists(), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_secret_commands_refuse_an_endless_file_and_write_nothing() {
    let env = stores::env("input-limits").await;
    let dir = std::env::temp_dir().join(format!("keyway-input-limits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let environment = stores::process_environment(&env, &dir);
    let namespace = env.cluster.namespace().to_string();
    let run = |args: &[&str], stdin: Stdio| {
        let mut args = args.to_vec();
        args.extend(["--namespace", &namespace]);
        keyway(&args, &environment, stdin)
    };

    let out = run(
        &["certs", "trust", "add", "/dev/zero", "--dry-run"],
        Stdio::null(),
    );
    refused_naming(&out, "/dev/zero", "1048576 bytes (1 MiB)");

    // A secret value: no more is read than twice what Key Vault stores (25 KiB).
    let out = run(
        &["secrets", "add", "zeros", "--from-file", "/dev/zero"],
        Stdio::null(),
    );
    refused_naming(&out, "/dev/zero", "51200 bytes (50 KiB)");
    let out = run(
        &["secrets", "add", "zeros", "--from-stdin"],
        Stdio::from(std::fs::File::open("/dev/zero").unwrap()),
    );
    refused_naming(&out, "<stdin>", "51200 bytes (50 KiB)");

    // A value just over 25 KiB still gets the upload's own message.
    let file = dir.join("big.txt");
    std::fs::write(&file, "v".repeat(30 * 1024)).unwrap();
    let out = run(
        &[
            "secrets",
            "add",
            "big",
            "--from-file",
            file.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Key Vault stores at most 25600"),
        "{stderr}"
    );

    assert_eq!(stores::set_count(&env), 0, "nothing written to Key Vault");
    assert_eq!(env.vault.secret_value("zeros"), None);
    assert_eq!(env.vault.secret_value("big"), None);
    let _ = std::fs::remove_dir_all(&dir);
    env.cluster.cleanup().await;
}
