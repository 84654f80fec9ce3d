//! The controller build carries no dev kit: `keyway-cli` without its default `dev` feature (what
//! the Dockerfile and so the Helm chart's image build) depends on neither `keyway-emulator` (the
//! fake Entra ID, Key Vault and Kubernetes API) nor `rcgen` (the demo's test PKI), while the
//! default build still has both (`keyway demo`, `keyway dev`).
//!
//! It asks cargo itself: `cargo tree` over normal and build edges (dev-dependencies are not in a
//! binary), resolved from `Cargo.lock` offline, for the host target the image is built on.

use std::process::Command;

/// The crate names (without versions) in `cargo tree -p keyway-cli`'s output, one per line.
fn dependencies(extra: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "-e",
            "normal,build,features",
            "-p",
            "keyway-cli",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--locked",
            "--offline",
        ])
        .args(extra)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

const DEV_KIT: [&str; 2] = ["keyway-emulator", "rcgen"];

#[test]
fn the_controller_build_has_no_emulator_and_no_test_pki() {
    let tree = dependencies(&["--no-default-features"]);
    assert!(
        tree.iter().any(|name| name == "keyway-sync"),
        "the tree was read: {tree:?}"
    );
    for crate_name in DEV_KIT {
        assert!(
            !tree.iter().any(|name| name == crate_name),
            "keyway-cli --no-default-features depends on {crate_name}; \
             make it optional behind the `dev` feature"
        );
    }
}

#[test]
fn the_default_build_keeps_demo_and_dev() {
    let tree = dependencies(&[]);
    for crate_name in DEV_KIT {
        assert!(
            tree.iter().any(|name| name == crate_name),
            "the default build lost {crate_name}, which `keyway demo`/`keyway dev` need"
        );
    }
}

/// The Dockerfile builds the controller without the dev kit, with a profile the workspace
/// defines, and copies the binary of that very build (`target/<profile>/keyway`): a profile
/// renamed in one place and not the other would ship nothing, or a stale binary.
#[test]
fn the_image_copies_the_binary_it_builds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).expect("the Dockerfile");
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).expect("the workspace manifest");
    let build = dockerfile
        .lines()
        .find(|line| line.starts_with("RUN cargo build"))
        .expect("a `RUN cargo build` line");
    let words: Vec<&str> = build.split_whitespace().collect();
    assert!(words.contains(&"--no-default-features"), "{build}");
    let named = words.iter().enumerate().find_map(|(at, word)| match *word {
        "--profile" => words.get(at + 1).copied(),
        _ => word.strip_prefix("--profile="),
    });
    let profile = match named {
        Some(profile) => profile,
        None if words.contains(&"--release") => "release",
        None => "dev",
    };
    if !["dev", "release"].contains(&profile) {
        assert!(
            manifest.contains(&format!("[profile.{profile}]")),
            "the Dockerfile builds with profile `{profile}`, which Cargo.toml does not define"
        );
    }
    // Cargo's folder for the `dev` profile is `debug`; every other profile's is its name.
    let folder = if profile == "dev" { "debug" } else { profile };
    let copied = format!("/src/target/{folder}/keyway ");
    assert!(
        dockerfile
            .lines()
            .any(|line| line.starts_with("COPY --from=build") && line.contains(&copied)),
        "the image copies no {copied}: {dockerfile}"
    );
}
