//! The declared MSRV is true: the workspace's `rust-version` equals the highest `rust-version`
//! among the packages a build of this workspace on this platform resolves (dependencies and
//! dev-dependencies, from `Cargo.lock`), and the README's toolchain line says the same. A
//! dependency update that needs a newer Rust fails here instead of on a user's older toolchain.

use std::process::Command;

use serde_json::Value;

/// `1.89` or `1.89.0` as comparable numbers.
fn version(text: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = text.split('.').map(|p| p.parse().unwrap()).collect();
    parts.resize(3, 0);
    parts
}

fn host() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .unwrap()
}

#[test]
fn the_declared_rust_version_is_the_highest_a_dependency_needs() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", &host()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let resolved: std::collections::HashSet<&str> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let packages = metadata["packages"].as_array().unwrap();
    let declared = packages
        .iter()
        .find(|p| p["name"] == "keyway")
        .and_then(|p| p["rust_version"].as_str())
        .expect("the workspace declares a rust-version");
    for member in packages.iter().filter(|p| p["source"].is_null()) {
        assert_eq!(
            member["rust_version"].as_str(),
            Some(declared),
            "{} declares another rust-version than the workspace",
            member["name"]
        );
    }
    let mut needs: Vec<(Vec<u64>, String)> = packages
        .iter()
        .filter(|p| !p["source"].is_null() && resolved.contains(p["id"].as_str().unwrap()))
        .filter_map(|p| {
            let v = p["rust_version"].as_str()?;
            Some((
                version(v),
                format!("{} {} (rust-version {v})", p["name"], p["version"]),
            ))
        })
        .collect();
    needs.sort();
    let (highest, _) = needs.last().expect("dependencies declare rust-versions");
    let over: Vec<&String> = needs
        .iter()
        .filter(|(v, _)| v > &version(declared))
        .map(|(_, name)| name)
        .collect();
    assert!(
        over.is_empty(),
        "rust-version {declared} is declared, but these need more: {over:?}; raise \
         workspace.package.rust-version and README's toolchain line"
    );
    let top: Vec<&String> = needs
        .iter()
        .filter(|(v, _)| v == highest)
        .map(|(_, name)| name)
        .collect();
    assert_eq!(
        version(declared),
        *highest,
        "rust-version {declared} is declared, but the most any dependency needs is {top:?}: \
         lower it to match (a higher one refuses users for nothing)"
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&format!("toolchain ({declared} or later)")),
        "README's toolchain line does not say {declared} or later"
    );
}
