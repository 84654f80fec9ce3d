//! The K3s config editor over real-world layouts (golden tests) and a property: it never alters
//! a line unrelated to the two flags.

use keyway_cluster::ClusterError;
use keyway_cluster::k3s::{IssuerSettings, ensure_issuer, go_duration_seconds};
use proptest::prelude::*;

const ISSUER: &str = "https://issuer.example/cluster-1/";

fn settings() -> IssuerSettings {
    IssuerSettings::new(ISSUER, "24h").unwrap()
}

/// Edits and checks that a second run changes nothing.
fn edit_lines(text: &str) -> String {
    let first = ensure_issuer("config.yaml", text, &settings()).unwrap();
    let again = ensure_issuer("config.yaml", first.after(), &settings()).unwrap();
    assert!(
        !again.changed(),
        "a second run changes nothing:\n{}",
        again.unified_diff()
    );
    first.after().to_string()
}

/// [`edit_lines`], and the result is YAML whose `kube-apiserver-arg` list holds both flags once.
fn edit(text: &str) -> String {
    let after = edit_lines(text);
    let parsed: serde_json::Value = keyway_sync::yaml::from_str(&after)
        .unwrap_or_else(|e| panic!("not YAML after the edit: {e}\n{after}"));
    let args: Vec<&str> = parsed["kube-apiserver-arg"]
        .as_array()
        .unwrap_or_else(|| panic!("no list:\n{after}"))
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for wanted in [
        format!("service-account-issuer={ISSUER}"),
        "service-account-max-token-expiration=24h".to_string(),
    ] {
        assert_eq!(args.iter().filter(|a| **a == wanted).count(), 1, "{args:?}");
    }
    after
}

#[test]
fn an_empty_or_missing_config_gets_the_list() {
    assert_eq!(
        edit(""),
        "kube-apiserver-arg:\n  - service-account-issuer=https://issuer.example/cluster-1/\n  - service-account-max-token-expiration=24h\n"
    );
    // No final newline: one is added before the new key, nothing else moves.
    assert_eq!(
        edit("write-kubeconfig-mode: \"0644\""),
        "write-kubeconfig-mode: \"0644\"\nkube-apiserver-arg:\n  - service-account-issuer=https://issuer.example/cluster-1/\n  - service-account-max-token-expiration=24h\n"
    );
}

#[test]
fn a_block_list_keeps_other_args_comments_and_blank_lines() {
    let before = "\
# K3s server config
write-kubeconfig-mode: \"0644\"
kube-apiserver-arg:
  # audit first
  - audit-log-path=/var/log/audit.log

  - service-account-issuer=https://old.example/  # set by the seed
  - \"service-account-max-token-expiration=1h\"
tls-san:
  - edge.local
";
    let after = "\
# K3s server config
write-kubeconfig-mode: \"0644\"
kube-apiserver-arg:
  # audit first
  - audit-log-path=/var/log/audit.log

  - service-account-issuer=https://issuer.example/cluster-1/  # set by the seed
  - \"service-account-max-token-expiration=24h\"
tls-san:
  - edge.local
";
    assert_eq!(edit(before), after);
}

#[test]
fn missing_flags_are_appended_and_later_issuers_stay_accepted() {
    // The first issuer signs; later ones are still accepted (rotation), so they stay — unless
    // they repeat ours. A repeated token lifetime is only a duplicate and goes.
    let before = "kube-apiserver-arg:\n- 'service-account-issuer=https://a/'\n- enable-admission-plugins=NodeRestriction\n- service-account-issuer=https://b/\n- service-account-issuer=https://issuer.example/cluster-1/\nnode-name: edge-1\n";
    let after = "kube-apiserver-arg:\n- 'service-account-issuer=https://issuer.example/cluster-1/'\n- enable-admission-plugins=NodeRestriction\n- service-account-issuer=https://b/\n- service-account-max-token-expiration=24h\nnode-name: edge-1\n";
    assert_eq!(edit(before), after);
    let lifetimes = "kube-apiserver-arg:\n  - service-account-max-token-expiration=1h\n  - service-account-max-token-expiration=2h\n";
    assert_eq!(
        edit(lifetimes),
        "kube-apiserver-arg:\n  - service-account-max-token-expiration=24h\n  - service-account-issuer=https://issuer.example/cluster-1/\n"
    );
}

#[test]
fn a_config_already_right_is_not_touched_whatever_its_spacing() {
    for text in [
        "kube-apiserver-arg:\n-   service-account-issuer=https://issuer.example/cluster-1/\n-   service-account-max-token-expiration=24h\n",
        "kube-apiserver-arg: [\"service-account-issuer=https://issuer.example/cluster-1/\",\"service-account-max-token-expiration=24h\"]\n",
    ] {
        let edit = ensure_issuer("c.yaml", text, &settings()).unwrap();
        assert!(!edit.changed(), "{}", edit.unified_diff());
    }
}

#[test]
fn a_byte_order_mark_and_secrets_elsewhere_in_the_file() {
    let before = "\u{feff}kube-apiserver-arg:\n  - v=2\ntoken: K10secret::server:abc\n";
    let edited = ensure_issuer("c.yaml", before, &settings()).unwrap();
    assert_eq!(
        edited.after().matches("kube-apiserver-arg").count(),
        1,
        "{}",
        edited.after()
    );
    // The diff shows only the changed lines, never the rest of the file.
    assert!(
        !edited.unified_diff().contains("K10secret"),
        "{}",
        edited.unified_diff()
    );
    // An indented root mapping is not what the line editor understands: refused, not mangled.
    let indented = "  node-name: a\n  kube-apiserver-arg:\n    - v=2\n";
    assert!(ensure_issuer("c.yaml", indented, &settings()).is_err());
}

#[test]
fn a_single_string_becomes_a_list() {
    assert_eq!(
        edit("kube-apiserver-arg: \"audit-log-maxage=30\" # keep\nnode-name: a\n"),
        "kube-apiserver-arg: # keep\n  - \"audit-log-maxage=30\"\n  - \"service-account-issuer=https://issuer.example/cluster-1/\"\n  - \"service-account-max-token-expiration=24h\"\nnode-name: a\n"
    );
    assert_eq!(
        edit("kube-apiserver-arg: service-account-issuer=https://old/"),
        "kube-apiserver-arg:\n  - service-account-issuer=https://issuer.example/cluster-1/\n  - service-account-max-token-expiration=24h"
    );
}

#[test]
fn a_flow_list_is_edited_in_place() {
    assert_eq!(
        edit("kube-apiserver-arg: [\"v=2\", 'service-account-issuer=https://old/']  # flow\n"),
        "kube-apiserver-arg: [\"v=2\", 'service-account-issuer=https://issuer.example/cluster-1/', \"service-account-max-token-expiration=24h\"]  # flow\n"
    );
}

#[test]
fn crlf_line_endings_are_kept() {
    let before = "node-name: a\r\nkube-apiserver-arg:\r\n  - v=2\r\n";
    assert_eq!(
        edit(before),
        "node-name: a\r\nkube-apiserver-arg:\r\n  - v=2\r\n  - service-account-issuer=https://issuer.example/cluster-1/\r\n  - service-account-max-token-expiration=24h\r\n"
    );
}

#[test]
fn what_cannot_be_edited_safely_is_refused_with_the_line() {
    let twice = ensure_issuer(
        "c.yaml",
        "kube-apiserver-arg: a\nkube-apiserver-arg: b\n",
        &settings(),
    );
    assert!(
        matches!(twice, Err(ClusterError::Unsupported { line: 2, .. })),
        "{twice:?}"
    );
    let spread = ensure_issuer("c.yaml", "kube-apiserver-arg: [a,\n  b]\n", &settings());
    assert!(
        matches!(spread, Err(ClusterError::Unsupported { line: 1, .. })),
        "{spread:?}"
    );
    let message = spread.unwrap_err().to_string();
    assert!(message.starts_with("c.yaml:1:"), "{message}");
}

#[test]
fn settings_are_validated_with_what_was_given() {
    let http = IssuerSettings::new("http://issuer.example/", "24h").unwrap_err();
    assert!(
        http.to_string()
            .contains("\"http://issuer.example/\" must be an https URL"),
        "{http}"
    );
    for bad in ["30m", "2000000h", " 24h"] {
        assert!(IssuerSettings::new(ISSUER, bad).is_err(), "{bad:?}");
    }
    let injected =
        IssuerSettings::new("https://i.example/x\n  - anonymous-auth=true", "24h").unwrap_err();
    assert!(
        injected
            .to_string()
            .contains("cannot go into the K3s config"),
        "{injected}"
    );
    let duration = IssuerSettings::new(ISSUER, "1d").unwrap_err();
    assert!(
        duration
            .to_string()
            .starts_with("max_token_expiration: \"1d\""),
        "{duration}"
    );
    assert_eq!(go_duration_seconds("1h30m"), Some(5400.0));
    assert_eq!(go_duration_seconds("0s"), None);
    assert_eq!(go_duration_seconds("86400s"), Some(86400.0));
}

/// A line that has nothing to do with the two flags.
fn unrelated_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z-]{0,12}: [a-zA-Z0-9./\"]{0,16}".prop_map(|s| s),
        "# [ -~]{0,30}".prop_map(|s| s),
        Just(String::new()),
        "[a-z]{1,8}:".prop_map(|s| s),
        "  - [a-z][a-z=./0-9-]{0,20}".prop_map(|s| s),
    ]
}

fn is_ours(line: &str) -> bool {
    line.contains("service-account-issuer=")
        || line.contains("service-account-max-token-expiration=")
        || line.starts_with("kube-apiserver-arg")
}

proptest! {
    #[test]
    fn unrelated_lines_are_never_altered(
        head in proptest::collection::vec(unrelated_line(), 0..8),
        args in proptest::collection::vec("[a-z][a-z=./0-9-]{0,20}", 0..4),
        with_flag in any::<bool>(),
        tail in proptest::collection::vec(unrelated_line(), 0..8),
        crlf in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut lines: Vec<String> = head.clone();
        lines.push("kube-apiserver-arg:".into());
        for arg in &args {
            lines.push(format!("  - {arg}"));
        }
        if with_flag {
            lines.push("  - service-account-issuer=https://old.example/".into());
        }
        // A tail that starts with a list item would continue the list; start it with a key.
        lines.push("node-name: edge".into());
        lines.extend(tail.iter().cloned());
        let text: String = lines.iter().map(|l| format!("{l}{eol}")).collect();
        // Generated files need not be valid YAML. The editor refuses what K3s could not read
        // either (not YAML), and YAML that reads differently from its lines (a quoted scalar
        // spanning our key, say); it then writes nothing — which alters no line either.
        let after = match ensure_issuer("config.yaml", &text, &settings()) {
            Ok(_) => edit_lines(&text),
            Err(refused) => {
                prop_assert!(matches!(refused, ClusterError::Unsupported { .. }), "{refused}");
                let yaml = keyway_sync::yaml::from_str::<serde_json::Value>(&text).is_ok();
                prop_assert!(yaml || refused.to_string().contains("not YAML"), "{refused}");
                return Ok(());
            }
        };
        let unrelated = |t: &str| -> Vec<String> {
            t.split(eol).filter(|l| !is_ours(l)).map(str::to_string).collect()
        };
        prop_assert_eq!(unrelated(&text), unrelated(&after));
        let expected = format!("  - service-account-issuer={ISSUER}{eol}");
        prop_assert!(after.contains(&expected));
    }
}

#[test]
fn the_append_form_is_the_list_to_edit() {
    use keyway_cluster::k3s::configured_issuer;
    // K3s' `kube-apiserver-arg+:` appends to what earlier files set; it is edited in place and
    // never joined by a plain `kube-apiserver-arg:` (which would replace those values).
    let block = "kube-apiserver-arg+:\n  - v=2\n";
    assert_eq!(
        edit_lines(block),
        format!(
            "kube-apiserver-arg+:\n  - v=2\n  - service-account-issuer={ISSUER}\n  - service-account-max-token-expiration=24h\n"
        )
    );
    let flow = "kube-apiserver-arg+: [\"v=2\", \"service-account-issuer=https://old.example/\"]\n";
    assert_eq!(
        edit_lines(flow),
        format!(
            "kube-apiserver-arg+: [\"v=2\", \"service-account-issuer={ISSUER}\", \"service-account-max-token-expiration=24h\"]\n"
        )
    );
    let single = "kube-apiserver-arg+: v=2 # verbosity\n";
    assert_eq!(
        edit_lines(single),
        format!(
            "kube-apiserver-arg+: # verbosity\n  - v=2\n  - service-account-issuer={ISSUER}\n  - service-account-max-token-expiration=24h\n"
        )
    );
    assert_eq!(
        configured_issuer("config.yaml", &edit_lines(block))
            .unwrap()
            .as_deref(),
        Some(ISSUER)
    );
    // Read as K3s reads it: the plain key sets the list, the append form adds to it.
    assert_eq!(
        configured_issuer(
            "config.yaml",
            "kube-apiserver-arg: [service-account-issuer=https://a.example/]\nkube-apiserver-arg+: [service-account-issuer=https://b.example/]\n"
        )
        .unwrap()
        .as_deref(),
        Some("https://a.example/")
    );
    // Both forms in one file: which list wins depends on their order; merge them first.
    let both = "kube-apiserver-arg:\n  - v=2\nkube-apiserver-arg+:\n  - audit-log-maxage=30\n";
    let ClusterError::Unsupported { line, problem, .. } =
        ensure_issuer("config.yaml", both, &settings()).unwrap_err()
    else {
        panic!()
    };
    assert_eq!(line, 3);
    assert!(
        problem.contains("kube-apiserver-arg+ (K3s' append form)"),
        "{problem}"
    );
}

/// A fresh directory for one file-system test.
#[cfg(unix)]
fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("keyway-k3s-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(unix)]
const CONFIG: &str = "token: K10secret::server:join\nwrite-kubeconfig-mode: \"0600\"\n";

/// Another user, able to write to the config's directory, plants a link at the temporary name
/// the editor used to write through (`config.yaml.keyway.tmp`) and one at the backup's name:
/// the whole config, join token included, must not land in the link's target.
#[cfg(unix)]
#[test]
fn planted_links_at_the_temporary_and_backup_names_are_not_followed() {
    use std::os::unix::fs::{PermissionsExt as _, symlink};
    let dir = scratch("planted");
    let config = dir.join("config.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    let victim = dir.join("victim");
    std::fs::write(&victim, "someone else's file").unwrap();
    let temporary = dir.join("config.yaml.keyway.tmp");
    let backup = dir.join("config.yaml.keyway.bak");
    symlink(&victim, &temporary).unwrap();
    symlink(&victim, &backup).unwrap();

    let edit = ensure_issuer("config.yaml", CONFIG, &settings()).unwrap();
    let written = edit.write(&config).unwrap();

    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "someone else's file"
    );
    assert_eq!(std::fs::read_link(&temporary).unwrap(), victim);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), edit.after());
    let metadata = std::fs::symlink_metadata(&config).unwrap();
    assert!(metadata.file_type().is_file());
    assert_eq!(metadata.permissions().mode() & 0o777, 0o640, "mode kept");
    // The backup replaced the link with a regular, owner-only file holding the old text.
    assert_eq!(written.as_deref(), Some(backup.as_path()));
    let metadata = std::fs::symlink_metadata(&backup).unwrap();
    assert!(metadata.file_type().is_file());
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), CONFIG);
    // Nothing else left behind.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "config.yaml",
            "config.yaml.keyway.bak",
            "config.yaml.keyway.tmp",
            "victim"
        ]
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A symbolic link as the config is refused, naming the link and where it points: replacing the
/// link left the real config unchanged (K3s kept its old settings while keyway said "written").
#[cfg(unix)]
#[test]
fn a_symlinked_config_is_refused_with_the_link_and_its_target() {
    let dir = scratch("linked");
    let real = dir.join("real.yaml");
    std::fs::write(&real, CONFIG).unwrap();
    let config = dir.join("config.yaml");
    std::os::unix::fs::symlink("real.yaml", &config).unwrap();

    let edit = ensure_issuer("config.yaml", CONFIG, &settings()).unwrap();
    let error = edit.write(&config).unwrap_err();
    let ClusterError::Io { path, reason, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(path, &config.display().to_string());
    assert!(reason.contains("symbolic link to real.yaml"), "{reason}");
    assert!(reason.contains(&real.display().to_string()), "{reason}");

    assert_eq!(
        std::fs::read_link(&config).unwrap().to_str(),
        Some("real.yaml")
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), CONFIG);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        2,
        "no backup, no temporary"
    );
    // Editing the target itself works.
    edit.write(&real).unwrap();
    assert_eq!(std::fs::read_to_string(&real).unwrap(), edit.after());
    let _ = std::fs::remove_dir_all(dir);
}

/// An I/O failure keeps the operating system's error: its kind tells a caller what happened
/// without reading the text, and the error chain reaches it.
#[test]
fn io_errors_keep_their_kind_and_source() {
    let dir = scratch("io-kind");
    let error = keyway_cluster::k3s::read_config(&dir).unwrap_err();
    assert_eq!(
        error.io_kind(),
        Some(std::io::ErrorKind::IsADirectory),
        "{error:?}"
    );
    let source = std::error::Error::source(&error).expect("the io::Error is the source");
    let io = source
        .downcast_ref::<std::sync::Arc<std::io::Error>>()
        .expect("shared, so the error stays Clone");
    assert_eq!(io.kind(), std::io::ErrorKind::IsADirectory);
    assert!(
        error.to_string().starts_with(&dir.display().to_string()),
        "{error}"
    );
    // A file that is there but unusable has no operating system error.
    std::fs::write(dir.join("latin1.yaml"), b"\xe9\n").unwrap();
    let error = keyway_cluster::k3s::read_config(&dir.join("latin1.yaml")).unwrap_err();
    assert!(matches!(&error, ClusterError::Io { .. }) && error.io_kind().is_none());
    assert!(error.to_string().contains("not UTF-8"), "{error}");
    let _ = std::fs::remove_dir_all(dir);
}
