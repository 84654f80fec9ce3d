//! `DirectorySink` guards its own directory, whoever calls it: an output name that is not a
//! plain relative path is refused before anything is written, and a symlink planted in the
//! target directory never lets a write (or a read of "what is held") leave it. An empty set is
//! never published.
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use keyway_sync::sink::InvalidOutputName;
use keyway_sync::{Applied, DirectorySink, FileSet, SecretSink, SyncError, SyncedFile};

/// A scratch area holding `out` (the sink's directory) and `outside` (what must stay untouched).
struct Scratch {
    base: PathBuf,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        let base =
            std::env::temp_dir().join(format!("keyway-dirsink-it-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("outside")).unwrap();
        Scratch { base }
    }

    fn out(&self) -> PathBuf {
        self.base.join("out")
    }

    fn outside(&self) -> PathBuf {
        self.base.join("outside")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

fn set(pairs: &[(&str, &str)]) -> FileSet {
    FileSet {
        files: pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    SyncedFile {
                        contents: zeroize::Zeroizing::new(v.as_bytes().to_vec()),
                        mode: None,
                    },
                )
            })
            .collect(),
    }
}

/// Every entry under `dir`, recursively, without following links (sorted, relative).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if entry.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The kind of refusal, by name.
fn kind(e: &InvalidOutputName) -> &'static str {
    match e {
        InvalidOutputName::Empty => "empty",
        InvalidOutputName::Absolute(_) => "absolute",
        InvalidOutputName::ParentComponent(_) => "parent",
        InvalidOutputName::EmptyComponent(_) => "empty component",
        InvalidOutputName::Reserved(_) => "reserved",
        InvalidOutputName::Character(_) => "character",
        InvalidOutputName::TooLong(_) => "too long",
        _ => "other",
    }
}

#[test]
fn check_name_refuses_every_escape_form() {
    for good in [
        "a",
        "tls.crt",
        "conf/db-password",
        "hist/0",
        ".hidden",
        "a/..b",
        "a..b",
    ] {
        assert_eq!(DirectorySink::check_name(good), Ok(()), "{good}");
    }
    let long_component = "a".repeat(256);
    let long_name = "a/".repeat(2100);
    for (name, expected) in [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("/", "absolute"),
        ("..", "parent"),
        ("../x", "parent"),
        ("a/../../x", "parent"),
        ("a/..", "parent"),
        ("a//b", "empty component"),
        ("a/", "empty component"),
        ("./a", "empty component"),
        ("..data", "reserved"),
        ("..2026_01_01/x", "reserved"),
        ("a\\..\\x", "character"),
        ("a\0b", "character"),
        (&long_component, "too long"),
        (&long_name, "too long"),
    ] {
        let e = DirectorySink::check_name(name).unwrap_err();
        assert_eq!(kind(&e), expected, "{name:?}: {e}");
    }
}

/// Every escape form through `apply` (and `stage`): refused with a typed error naming what is
/// allowed, before anything is written — on a fresh directory and over a previous set.
#[tokio::test]
async fn escaping_names_are_refused_before_anything_is_written() {
    let s = Scratch::new("escapes");
    let absolute = s.outside().join("absolute");
    let escapes = [
        absolute.to_str().unwrap(),
        "../x",
        "a/../../x",
        "a/../b",
        "..",
        "..data",
        "..data_tmp",
        "..x",
        "a//b",
        "./a",
        "",
    ];
    let sink = DirectorySink::new(s.out()).unwrap();
    for name in escapes {
        let e = sink
            .apply(&set(&[("fine", "1"), (name, "escaped")]))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, SyncError::Invalid { path, .. } if path == "output name"),
            "{name:?}: {e}"
        );
        assert!(sink.stage(&set(&[(name, "escaped")])).is_err(), "{name:?}");
        assert_eq!(tree(&s.out()), Vec::<String>::new(), "{name:?}: {e}");
    }
    assert_eq!(tree(&s.outside()), Vec::<String>::new());
    assert!(!s.base.join("x").exists() && !s.base.join("b").exists());

    // Over a previous set: still refused, the previous set untouched, no new generation.
    sink.apply(&set(&[("fine", "1")])).await.unwrap();
    let before = tree(&s.out());
    for name in escapes {
        assert!(
            sink.apply(&set(&[("fine", "2"), (name, "x")]))
                .await
                .is_err()
        );
    }
    assert_eq!(tree(&s.out()), before);
    assert_eq!(fs::read_to_string(s.out().join("fine")).unwrap(), "1");
    assert_eq!(tree(&s.outside()), Vec::<String>::new());
}

/// Symlinks planted in the target directory: at a synced name, at a directory a nested name
/// goes through, at `..data_tmp` and at `..data`. No write leaves the directory, the planted
/// names end up as the sink's own links, and a planted `..data` is not taken for what the sink
/// holds.
#[tokio::test]
async fn planted_symlinks_do_not_let_a_write_escape() {
    let s = Scratch::new("planted");
    let out = s.out();
    let outside = s.outside();
    fs::create_dir_all(&out).unwrap();
    fs::write(outside.join("victim"), "victim").unwrap();
    fs::create_dir_all(outside.join("dir")).unwrap();
    fs::create_dir_all(outside.join("fake-data")).unwrap();
    // What the planted ..data shows is exactly the set about to be written.
    fs::write(outside.join("fake-data").join("tls.crt"), "new").unwrap();
    symlink(outside.join("victim"), out.join("tls.crt")).unwrap();
    symlink(outside.join("dir"), out.join("conf")).unwrap();
    symlink(outside.join("dir"), out.join("..data_tmp")).unwrap();
    symlink(outside.join("fake-data"), out.join("..data")).unwrap();
    let before = tree(&outside);

    let sink = DirectorySink::new(&out).unwrap();
    assert!(
        sink.current().await.unwrap().files.is_empty(),
        "a ..data leading out of the directory holds nothing of ours"
    );
    let wanted = set(&[("tls.crt", "new"), ("conf/db", "s3cret")]);
    assert_eq!(sink.apply(&wanted).await.unwrap(), Applied::Written);

    assert_eq!(tree(&outside), before, "nothing was written outside");
    assert_eq!(
        fs::read_to_string(outside.join("victim")).unwrap(),
        "victim"
    );
    assert_eq!(fs::read_to_string(out.join("tls.crt")).unwrap(), "new");
    assert_eq!(fs::read_to_string(out.join("conf/db")).unwrap(), "s3cret");
    for name in ["tls.crt", "conf"] {
        assert_eq!(
            fs::read_link(out.join(name)).unwrap(),
            Path::new(&format!("..data/{name}")),
            "{name} is the sink's own link"
        );
    }
    let data = fs::read_link(out.join("..data")).unwrap();
    assert!(
        data.to_str().unwrap().starts_with("..") && data.components().count() == 1,
        "..data points to a generation inside: {data:?}"
    );
    assert_eq!(sink.current().await.unwrap(), wanted);
    assert_eq!(sink.apply(&wanted).await.unwrap(), Applied::Unchanged);

    // Planted again after a write: the next apply of the same set puts its own link back.
    fs::remove_file(out.join("tls.crt")).unwrap();
    symlink(outside.join("victim"), out.join("tls.crt")).unwrap();
    assert_eq!(sink.apply(&wanted).await.unwrap(), Applied::Written);
    assert_eq!(fs::read_to_string(out.join("tls.crt")).unwrap(), "new");
    assert_eq!(
        fs::read_to_string(outside.join("victim")).unwrap(),
        "victim"
    );

    // A directory planted at a synced name is refused, not written into or removed.
    fs::create_dir_all(out.join("extra")).unwrap();
    let e = sink
        .apply(&set(&[("tls.crt", "new"), ("extra", "x")]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("did not create"), "{e}");
    assert!(out.join("extra").is_dir());
    assert_eq!(fs::read_to_string(out.join("tls.crt")).unwrap(), "new");
}

/// An empty set is never published: no `..data`, nothing in the directory.
#[tokio::test]
async fn an_empty_set_is_never_published() {
    let s = Scratch::new("empty");
    let sink = DirectorySink::new(s.out()).unwrap();
    assert_eq!(
        sink.apply(&FileSet::default()).await.unwrap(),
        Applied::Unchanged
    );
    assert_eq!(tree(&s.out()), Vec::<String>::new());
}
