//! Writing files where other users may have planted something first.
//!
//! A temporary file with a predictable name (`.tls.key.keyway-tmp`, `config.yaml.keyway.tmp`)
//! opened with "create or truncate" writes into whatever is already there: another user's
//! world-writable file (which is then renamed into place, still theirs) or a symbolic link to a
//! file they want overwritten. Everything here creates its files exclusively (`O_CREAT|O_EXCL`,
//! which never follows a link, plus `O_NOFOLLOW`), under a random name, with the mode given at
//! creation, and then renames them over the target — a rename replaces a link at the target
//! instead of following it.
//!
//! The CLI's output files (`keyway cert convert`, `keyway dev`) and the K3s config editor
//! ([`crate::k3s`]) write through this one module.
//!
//! ```
//! # let dir = std::env::temp_dir().join(format!("keyway-safe-file-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! use keyway_cluster::safe_file;
//!
//! let key = dir.join("tls.key");
//! safe_file::write_atomic(&key, b"-----BEGIN PRIVATE KEY-----\n", 0o600)?;
//! assert_eq!(std::fs::read(&key)?, b"-----BEGIN PRIVATE KEY-----\n");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The longest part of the target's name kept in a temporary file's name (bytes): the random
/// part and the suffix must still fit the usual 255-byte name limit.
const NAME_HINT_MAX: usize = 100;

/// A temporary file created beside its target, exclusively, under a random name; removed on
/// drop unless [`persist`](TempFile::persist)ed.
#[derive(Debug)]
pub struct TempFile {
    file: File,
    path: PathBuf,
    persisted: bool,
}

impl TempFile {
    /// Creates `.<target name>.<random>.keyway-tmp` in `target`'s directory with `mode` (the
    /// umask may narrow it, never widen it), failing rather than opening anything that already
    /// exists there — a file, or a symbolic link to one.
    pub fn beside(target: &Path, mode: u32) -> io::Result<TempFile> {
        let dir = parent_dir(target);
        let name = target.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a file path", target.display()),
            )
        })?;
        let hint = name.to_string_lossy();
        let mut cut = hint.len().min(NAME_HINT_MAX);
        while !hint.is_char_boundary(cut) {
            cut -= 1;
        }
        let hint = &hint[..cut];
        // A clash with a file someone planted under a guessed name is astronomically unlikely
        // with 122 random bits; retry a few times anyway rather than report it.
        let mut last = None;
        for _ in 0..4 {
            let path = dir.join(format!(
                ".{hint}.{}.keyway-tmp",
                uuid::Uuid::new_v4().simple()
            ));
            match create_exclusive(&path, mode) {
                Ok(file) => {
                    return Ok(TempFile {
                        file,
                        path,
                        persisted: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
    }

    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, to write to or to set permissions on (through the handle, so nothing
    /// swapped in at the path is touched).
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Flushes the file to disk and renames it over `target` (replacing a file or a link there,
    /// never following one), then flushes the directory so the rename survives a power loss.
    pub fn persist(mut self, target: &Path) -> io::Result<()> {
        self.file.sync_all()?;
        fs::rename(&self.path, target)?;
        self.persisted = true;
        // Best effort: not every file system lets a directory be opened and synced.
        if let Ok(dir) = File::open(parent_dir(target)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            // Ours: created exclusively under a random name.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `contents` to `target` atomically: a fresh temporary file beside it (see
/// [`TempFile::beside`]) created with `mode` (`0o600` for private keys and tokens), renamed over
/// `target`. A link at `target` is replaced, not followed.
pub fn write_atomic(target: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut temporary = TempFile::beside(target, mode)?;
    temporary.write_all(contents)?;
    temporary.persist(target)
}

/// Creates `path` exclusively with `mode`: fails with `AlreadyExists` when anything is there,
/// a symbolic link included (dangling or not).
pub fn create_exclusive(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode).custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// Opens `path` for reading without following a symbolic link at its last component: a link
/// fails (on Linux with "Too many levels of symbolic links"; call [`link_target`] first for a
/// clearer message).
pub fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Where `path` points when it is a symbolic link; `None` when it is anything else or absent.
pub fn link_target(path: &Path) -> io::Result<Option<PathBuf>> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => fs::read_link(path).map(Some),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt as _, symlink};

    fn scratch(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("keyway-safe-file-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn create_exclusive_refuses_files_and_links_alike() {
        let dir = scratch("exclusive");
        let victim = dir.join("victim");
        fs::write(&victim, "untouched").unwrap();
        let link = dir.join("link");
        symlink(&victim, &link).unwrap();
        let dangling = dir.join("dangling");
        symlink(dir.join("nowhere"), &dangling).unwrap();
        for planted in [&victim, &link, &dangling] {
            let e = create_exclusive(planted, 0o600).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{planted:?}");
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
        assert!(!dir.join("nowhere").exists());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn write_atomic_replaces_a_link_at_the_target_and_sets_the_mode() {
        let dir = scratch("atomic");
        let victim = dir.join("victim");
        fs::write(&victim, "untouched").unwrap();
        let target = dir.join("tls.key");
        symlink(&victim, &target).unwrap();
        write_atomic(&target, b"key", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
        let metadata = fs::symlink_metadata(&target).unwrap();
        assert!(metadata.file_type().is_file());
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read(&target).unwrap(), b"key");
        // Nothing left behind but the victim and the target.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn temporary_names_are_not_predictable_and_are_removed_when_dropped() {
        let dir = scratch("names");
        let target = dir.join("config.yaml");
        let a = TempFile::beside(&target, 0o600).unwrap();
        let b = TempFile::beside(&target, 0o600).unwrap();
        assert_ne!(a.path(), b.path());
        assert!(a.path().starts_with(&dir));
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
        drop(b);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn open_no_follow_refuses_a_link() {
        let dir = scratch("nofollow");
        let victim = dir.join("victim");
        fs::write(&victim, "secret").unwrap();
        let link = dir.join("link");
        symlink(&victim, &link).unwrap();
        assert!(open_no_follow(&link).is_err());
        assert!(open_no_follow(&victim).is_ok());
        assert_eq!(link_target(&link).unwrap(), Some(victim.clone()));
        assert_eq!(link_target(&victim).unwrap(), None);
        assert_eq!(link_target(&dir.join("absent")).unwrap(), None);
        let _ = fs::remove_dir_all(dir);
    }
}
