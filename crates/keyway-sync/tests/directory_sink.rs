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
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), SyncedFile::new(*v)))
        .collect()
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

/// How long an operation may take before the test calls it hung. A guard against a test that
/// never ends, not a measurement: every operation here returns at once when it works.
const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(120);

/// A name of the sink's own generation pattern, planted by someone else.
const PLANTED: &str = "..2020_01_01_00_00_00.000000000";

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A regular file of `len` bytes that takes no disk space (a hole).
fn sparse(path: &Path, len: u64) {
    let file = fs::File::create(path).unwrap();
    file.set_len(len).unwrap();
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .unwrap();
}

/// `..data` leading (inside the target) to a FIFO, and to a planted generation holding a FIFO
/// and links to `/dev/zero`: reading back what is held neither blocks nor reads without end —
/// those entries are no file of the sink's and are skipped — and an apply writes a set of its own.
#[tokio::test]
async fn a_fifo_or_a_link_to_dev_zero_in_what_is_held_is_never_read() {
    let s = Scratch::new("fifo");
    let out = s.out();
    fs::create_dir_all(&out).unwrap();

    // `..data` at a FIFO inside the target.
    mkfifo(&out.join("..2020_01_01_00_00_01.000000000"));
    symlink("..2020_01_01_00_00_01.000000000", out.join("..data")).unwrap();
    let sink = DirectorySink::new(&out).unwrap();
    let held = tokio::time::timeout(HANG_GUARD, sink.current())
        .await
        .expect("current() hung on a FIFO at ..data");
    assert!(held.unwrap().files.is_empty());
    fs::remove_file(out.join("..data")).unwrap();

    // `..data` at a planted generation holding a FIFO and links to /dev/zero.
    let generation = out.join(PLANTED);
    fs::create_dir_all(generation.join("conf")).unwrap();
    mkfifo(&generation.join("tls.crt"));
    symlink("/dev/zero", generation.join("zero")).unwrap();
    symlink("/dev/zero", generation.join("conf").join("db")).unwrap();
    sparse(&generation.join("kept"), 3);
    symlink(PLANTED, out.join("..data")).unwrap();

    let sink = DirectorySink::new(&out).unwrap();
    let held = tokio::time::timeout(HANG_GUARD, sink.current())
        .await
        .expect("current() hung");
    let held = held.unwrap();
    assert_eq!(
        held.files.keys().collect::<Vec<_>>(),
        ["kept"],
        "only the regular file is read back"
    );
    let wanted = set(&[("tls.crt", "new"), ("zero", "z"), ("conf/db", "s3cret")]);
    let applied = tokio::time::timeout(HANG_GUARD, sink.apply(&wanted))
        .await
        .expect("apply hung");
    assert_eq!(applied.unwrap(), Applied::Written);
    assert_eq!(fs::read_to_string(out.join("tls.crt")).unwrap(), "new");
    assert_eq!(fs::read_to_string(out.join("zero")).unwrap(), "z");
    assert_eq!(fs::read_to_string(out.join("conf/db")).unwrap(), "s3cret");
    let fresh = DirectorySink::new(&out).unwrap();
    assert_eq!(fresh.current().await.unwrap(), wanted);
}

/// A file over the read-back bound (1 MiB), or a set over the total bound (64 MiB), in what
/// `..data` shows: a clear error naming the file, not a read of whatever size it claims. An
/// apply still writes its own set over it.
#[tokio::test]
async fn a_file_over_the_read_back_bound_is_a_clear_error() {
    let s = Scratch::new("bound");
    let out = s.out();
    let generation = out.join(PLANTED);
    fs::create_dir_all(generation.join("conf")).unwrap();
    sparse(&generation.join("small"), 10);
    sparse(&generation.join("conf").join("huge"), (1 << 20) + 1);
    symlink(PLANTED, out.join("..data")).unwrap();

    let sink = DirectorySink::new(&out).unwrap();
    let e = sink.current().await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, SyncError::Sink { .. }), "{text}");
    assert!(
        text.contains("conf/huge") && text.contains("1 MiB"),
        "{text}"
    );

    // Exactly at the per-file bound is fine; 65 such files are over the total bound.
    fs::remove_file(generation.join("conf").join("huge")).unwrap();
    sparse(&generation.join("conf").join("huge"), 1 << 20);
    assert_eq!(sink.current().await.unwrap().files.len(), 2);
    for i in 0..65 {
        sparse(&generation.join(format!("f{i}")), 1 << 20);
    }
    let text = sink.current().await.unwrap_err().to_string();
    assert!(text.contains("64 MiB"), "{text}");

    let wanted = set(&[("a", "1")]);
    assert_eq!(sink.apply(&wanted).await.unwrap(), Applied::Written);
    assert_eq!(sink.current().await.unwrap(), wanted);

    // What the sink could not read back, it does not write.
    let big = "x".repeat((1 << 20) + 1);
    let text = sink
        .apply(&set(&[("a", "1"), ("big", &big)]))
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("big") && text.contains("1 MiB"), "{text}");
    assert!(!out.join("big").exists());
    assert_eq!(sink.current().await.unwrap(), wanted);
}

/// Over several applies (names added, removed, renamed), only what the sink created goes: its
/// own older generations and its own links through `..data` to names no longer synced. A user's
/// `..mybackup/`, symlinks (top level, `..`-named), a regular file and a directory stay.
#[tokio::test]
async fn only_what_the_sink_created_is_removed() {
    let s = Scratch::new("cleanup");
    let out = s.out();
    let outside = s.outside();
    fs::create_dir_all(out.join("..mybackup")).unwrap();
    fs::write(out.join("..mybackup").join("tls.key"), "old key").unwrap();
    fs::create_dir_all(out.join("..notes")).unwrap();
    fs::write(outside.join("victim"), "victim").unwrap();
    symlink(outside.join("victim"), out.join("mine")).unwrap();
    symlink(outside.join("victim"), out.join("..mine")).unwrap();
    symlink("..mybackup/tls.key", out.join("backup-key")).unwrap();
    fs::write(out.join("README"), "mine").unwrap();
    fs::create_dir_all(out.join("userdir")).unwrap();
    // An old generation of the sink's own, from an earlier run.
    fs::create_dir_all(out.join(PLANTED)).unwrap();

    let sink = DirectorySink::new(&out).unwrap();
    let sets = [
        set(&[("a", "1"), ("b", "2")]),
        set(&[("a", "1")]),
        set(&[("c", "3"), ("d/e", "4")]),
        set(&[("a", "5")]),
    ];
    for (i, wanted) in sets.iter().enumerate() {
        assert_eq!(sink.apply(wanted).await.unwrap(), Applied::Written, "{i}");
        assert_eq!(
            fs::read_to_string(out.join("..mybackup").join("tls.key")).unwrap(),
            "old key",
            "{i}"
        );
        assert!(out.join("..notes").is_dir(), "{i}");
        for link in ["mine", "..mine", "backup-key"] {
            assert!(
                fs::symlink_metadata(out.join(link)).is_ok_and(|m| m.file_type().is_symlink()),
                "{i}: the user's link {link} stays"
            );
        }
        assert_eq!(fs::read_to_string(out.join("README")).unwrap(), "mine");
        assert!(out.join("userdir").is_dir(), "{i}");
        let generations: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("..2"))
            .collect();
        let data = fs::read_link(out.join("..data")).unwrap();
        assert_eq!(
            generations,
            [data.to_string_lossy().to_string()],
            "{i}: the sink's older generations are removed"
        );
        // Its own links to names no longer synced are gone.
        for name in ["a", "b", "c", "d"] {
            let synced = wanted
                .files
                .keys()
                .any(|k| k.split('/').next() == Some(name));
            assert_eq!(
                fs::symlink_metadata(out.join(name)).is_ok(),
                synced,
                "{i}: {name}"
            );
        }
    }
    assert_eq!(
        fs::read_to_string(outside.join("victim")).unwrap(),
        "victim"
    );
}

/// What the directory holds is read from the disk, not remembered: a synced file someone
/// edited is written again by the next apply of the same set (as a Secret's data is restored).
#[tokio::test]
async fn an_edited_file_is_restored_by_the_next_apply() {
    let scratch = Scratch::new("drift");
    let sink = DirectorySink::new(scratch.out()).unwrap();
    let wanted = set(&[("password", "s3cret")]);
    assert_eq!(sink.apply(&wanted).await.unwrap(), Applied::Written);
    let data = scratch.out().join("..data").join("password");
    fs::write(&data, "tampered").unwrap();
    assert_eq!(sink.apply(&wanted).await.unwrap(), Applied::Written);
    assert_eq!(fs::read(scratch.out().join("password")).unwrap(), b"s3cret");
    assert_eq!(sink.apply(&wanted).await.unwrap(), Applied::Unchanged);
}
