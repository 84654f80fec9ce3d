//! A directory written the way kubelet writes projected volumes: every set goes into a new
//! timestamped directory, then the `..data` symlink is swapped to it atomically; the visible
//! names are symlinks through `..data`. A reader never sees a half-written set, and a crash
//! before the swap leaves the previous set in place.
//!
//! The sink guards its own directory whoever calls it: every output name must be a plain
//! relative path inside it ([`DirectorySink::check_name`]), `..data` is followed only to a
//! generation directly inside it, and a visible name something else planted is replaced by the
//! sink's own link, never written through.
//!
//! What the directory holds is read back without trusting it: only regular files, each opened
//! without following a link and without waiting on a FIFO, at most
//! [`DirectorySink::MAX_FILE_BYTES`] each and [`DirectorySink::MAX_SET_BYTES`] in all. Cleanup
//! removes only what the sink created: generations of its own naming pattern and top-level links
//! into `..data/`; a user's `..mybackup/`, own symlinks, files and directories stay.
//!
//! The file I/O of [`SecretSink::apply`] and [`SecretSink::current`] (reads, writes, `fsync`)
//! runs on tokio's blocking pool, never on the async executor's threads.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
#[cfg(test)]
use std::sync::{Arc, Mutex};

use crate::error::{Result, SyncError};
use crate::sink::{Applied, FileSet, SecretSink, SyncedFile};

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";
/// The longest output name kubelet writes (`maxPathLength`).
const MAX_NAME_LEN: usize = 4096;
/// The longest component of an output name (`maxFileNameLength`).
const MAX_COMPONENT_LEN: usize = 255;
/// What every entry read back counts against [`DirectorySink::MAX_SET_BYTES`] besides its
/// contents and name, so that countless empty files are bounded too.
const ENTRY_OVERHEAD: u64 = 256;
/// A generation's name after `..`, `0` standing for a digit: `YYYY_MM_DD_HH_MM_SS.NNNNNNNNN`.
const GENERATION_PATTERN: &[u8] = b"0000_00_00_00_00_00.000000000";

/// Whether `name` is of the sink's generation pattern, `..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN` (as
/// kubelet names them): the only `..` directories the sink reads as a set or removes.
fn is_generation(name: &str) -> bool {
    name.strip_prefix("..").is_some_and(|rest| {
        rest.len() == GENERATION_PATTERN.len()
            && rest.bytes().zip(GENERATION_PATTERN).all(|(b, p)| {
                if *p == b'0' {
                    b.is_ascii_digit()
                } else {
                    b == *p
                }
            })
    })
}

/// Why [`DirectorySink`] refuses an output name: it is not a plain relative path inside the
/// directory. Each variant carries the name (a file name, never a secret value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidOutputName {
    /// The name is empty.
    #[error("an output name must not be empty")]
    Empty,
    /// `/etc/passwd`: an absolute path would be written outside the directory.
    #[error("{0:?} is absolute; an output name is a path relative to the directory")]
    Absolute(String),
    /// `../x`, `a/../../x`: a `..` component leaves the directory (or the atomic set).
    #[error(
        "{0:?} has a `..` component, which leads out of the directory; use a plain relative path"
    )]
    ParentComponent(String),
    /// `a//b`, `./a`, `a/`: an empty or `.` component.
    #[error("{0:?} has an empty or `.` component; write it as `a/b`")]
    EmptyComponent(String),
    /// `..data`, `..x/y`: names starting with `..` are the directory's own (kubelet reserves
    /// them for `..data` and the generations).
    #[error(
        "{0:?} starts with `..`, which kubelet reserves for the directory's own entries (`..data`)"
    )]
    Reserved(String),
    /// A backslash or a NUL byte.
    #[error("{0:?} holds a backslash or a NUL byte; use `/` between directories")]
    Character(String),
    /// Longer than 4096 bytes, or a component longer than 255.
    #[error("an output name of {0} bytes is too long (at most 4096, and 255 per component)")]
    TooLong(usize),
}

impl From<InvalidOutputName> for SyncError {
    fn from(e: InvalidOutputName) -> SyncError {
        SyncError::invalid("output name", e.to_string())
    }
}

/// A directory sink.
#[derive(Debug)]
pub struct DirectorySink {
    root: PathBuf,
    /// The mode of a file whose object sets no `filePermission`.
    file_mode: u32,
    /// The mode of the directories the sink creates (each generation, subdirectories).
    dir_mode: u32,
    /// Tests: the write step (counted from 0) that fails, as a crash there would.
    #[cfg(test)]
    fail_at_step: Arc<Mutex<Option<(usize, usize)>>>,
    /// Tests: the next write step waits here until released.
    #[cfg(test)]
    pause: Arc<Mutex<Option<Pause>>>,
}

/// Tests: a write step that says it was reached, then waits to be released.
#[cfg(test)]
#[derive(Debug)]
struct Pause {
    reached: tokio::sync::oneshot::Sender<()>,
    release: std::sync::mpsc::Receiver<()>,
}

/// A set written into its timestamped directory but not yet visible. Dropping it without
/// [`Staged::commit`] is what a crash before the swap looks like: the previous set stays.
#[derive(Debug)]
pub struct Staged<'a> {
    sink: &'a DirectorySink,
    generation: String,
    top_level: BTreeSet<String>,
}

fn sink_error(target: &Path, e: impl std::fmt::Display) -> SyncError {
    SyncError::sink(target.display().to_string(), e.to_string())
}

/// The operating system's error on `target`, kept under the failure (its `ErrorKind` too).
fn io_error(target: &Path, e: std::io::Error) -> SyncError {
    sink_error(target, &e).with_cause(e)
}

impl DirectorySink {
    /// The largest file read back from what the directory holds (and written): 1 MiB. A Key
    /// Vault value is at most 25 KiB; a PKCS#12 certificate converted to PEM is larger than its
    /// value, and 1 MiB leaves room for any of them many times over. A larger file in the held
    /// set is an error naming it, never read.
    pub const MAX_FILE_BYTES: u64 = 1 << 20;
    /// The most read back from what the directory holds (and written) in all: 64 MiB, counting
    /// each file's contents and name plus 256 bytes per entry (so countless empty files are
    /// bounded too). Over it, reading back is an error.
    pub const MAX_SET_BYTES: u64 = 64 << 20;

    /// A sink writing under `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<DirectorySink> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| io_error(&root, e))?;
        Ok(DirectorySink {
            root,
            file_mode: 0o644,
            dir_mode: 0o755,
            #[cfg(test)]
            fail_at_step: Arc::default(),
            #[cfg(test)]
            pause: Arc::default(),
        })
    }

    /// The same sink (directory, modes, and in tests the injected faults) for a blocking
    /// thread.
    fn for_blocking(&self) -> DirectorySink {
        DirectorySink {
            root: self.root.clone(),
            file_mode: self.file_mode,
            dir_mode: self.dir_mode,
            #[cfg(test)]
            fail_at_step: self.fail_at_step.clone(),
            #[cfg(test)]
            pause: self.pause.clone(),
        }
    }

    /// Runs `io` on tokio's blocking pool (inline when there is no tokio runtime). Should the
    /// caller stop waiting, `io` still runs to its end: a write is finished, never cut short
    /// between two of its steps.
    async fn blocking<T: Send + 'static>(
        &self,
        io: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime.spawn_blocking(io).await.map_err(|e| {
                sink_error(
                    &self.root,
                    format!("the directory I/O did not complete: {e}"),
                )
            })?,
            Err(_) => io(),
        }
    }

    /// Between any two steps of a write: in tests, fails at the chosen step, as a crash or a
    /// full disk there would.
    #[cfg(test)]
    fn step(&self, what: &str) -> Result<()> {
        let pause = self.pause.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(pause) = pause {
            let _ = pause.reached.send(());
            // A guard against a release that never comes, not a measurement.
            if pause
                .release
                .recv_timeout(std::time::Duration::from_secs(30))
                .is_err()
            {
                return Err(sink_error(&self.root, "a paused step was never released"));
            }
        }
        let mut fail = self.fail_at_step.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, taken)) = fail.as_mut() {
            *taken += 1;
            if *taken - 1 == *at {
                return Err(sink_error(
                    &self.root,
                    format!("injected failure before {what}"),
                ));
            }
        }
        Ok(())
    }

    #[cfg(not(test))]
    #[inline(always)]
    fn step(&self, _what: &str) -> Result<()> {
        Ok(())
    }

    /// Sets the default file mode (for objects without `filePermission`) and the mode of the
    /// directories the sink creates. The defaults, 0644 and 0755, are the CSI driver's (a pod
    /// volume only its pod sees); on a host shared with other users, `keyway sync` uses 0600
    /// and 0700 so the secrets are the owner's alone.
    pub fn with_modes(mut self, file_mode: u32, dir_mode: u32) -> DirectorySink {
        self.file_mode = file_mode & 0o7777;
        self.dir_mode = dir_mode & 0o7777;
        self
    }

    /// `set` with every file's mode made explicit (the default where it has none), as it will
    /// be on disk — so what is read back hashes the same.
    fn resolved(&self, set: &FileSet) -> FileSet {
        FileSet {
            files: set
                .files
                .iter()
                .map(|(path, file)| {
                    (
                        path.clone(),
                        SyncedFile {
                            contents: file.contents.clone(),
                            mode: Some(file.mode.unwrap_or(self.file_mode)),
                        },
                    )
                })
                .collect(),
        }
    }

    /// Creates `dir` (not its parents) with the sink's directory mode, exactly.
    fn create_dir(&self, dir: &Path) -> Result<()> {
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            builder.mode(self.dir_mode);
            builder.create(dir).map_err(|e| io_error(dir, e))?;
            // The umask may have narrowed it.
            fs::set_permissions(dir, fs::Permissions::from_mode(self.dir_mode))
                .map_err(|e| io_error(dir, e))
        }
        #[cfg(not(unix))]
        builder.create(dir).map_err(|e| io_error(dir, e))
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `name` may be an output name: a plain relative path inside the directory —
    /// not empty, not absolute, no `..`, `.` or empty components, no backslash or NUL, not
    /// starting with `..` (kubelet's rule: those names are the directory's own), at most 4096
    /// bytes and 255 per component. The sink applies it to every name before writing anything.
    pub fn check_name(name: &str) -> std::result::Result<(), InvalidOutputName> {
        if name.is_empty() {
            return Err(InvalidOutputName::Empty);
        }
        let owned = || name.to_string();
        if name.len() > MAX_NAME_LEN {
            return Err(InvalidOutputName::TooLong(name.len()));
        }
        if name.starts_with('/') {
            return Err(InvalidOutputName::Absolute(owned()));
        }
        if name.contains(['\\', '\0']) {
            return Err(InvalidOutputName::Character(owned()));
        }
        let components: Vec<&str> = name.split('/').collect();
        if components.contains(&"..") {
            return Err(InvalidOutputName::ParentComponent(owned()));
        }
        if components.iter().any(|c| c.is_empty() || *c == ".") {
            return Err(InvalidOutputName::EmptyComponent(owned()));
        }
        if components[0].starts_with("..") {
            return Err(InvalidOutputName::Reserved(owned()));
        }
        if components.iter().any(|c| c.len() > MAX_COMPONENT_LEN) {
            return Err(InvalidOutputName::TooLong(name.len()));
        }
        Ok(())
    }

    /// Every name of `set` checked ([`DirectorySink::check_name`]), and its size within what
    /// the sink reads back ([`DirectorySink::MAX_FILE_BYTES`], [`DirectorySink::MAX_SET_BYTES`]):
    /// a set the sink could not read back is not written.
    fn check_set(&self, set: &FileSet) -> Result<()> {
        let mut total = 0u64;
        for (name, file) in &set.files {
            Self::check_name(name)?;
            let len = file.contents.len() as u64;
            if len > Self::MAX_FILE_BYTES {
                return Err(sink_error(
                    &self.root.join(name),
                    format!("{len} bytes is over the 1 MiB a synced file may have"),
                ));
            }
            total += len + name.len() as u64 + ENTRY_OVERHEAD;
        }
        if total > Self::MAX_SET_BYTES {
            return Err(sink_error(
                &self.root,
                "the set is over the 64 MiB the directory sink writes and reads back in all",
            ));
        }
        Ok(())
    }

    /// The generation `..data` points to, when it is one directly inside the directory (a name
    /// of the sink's generation pattern that is a real directory, as the sink makes them).
    /// Anything else — missing, dangling, a planted link leading elsewhere, a FIFO — is no set
    /// of ours.
    fn data_dir(&self) -> Option<PathBuf> {
        let target = fs::read_link(self.root.join(DATA)).ok()?;
        let target = target.to_str()?;
        let generation = is_generation(target);
        let dir = self.root.join(target);
        let is_dir = fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_dir());
        (generation && is_dir).then_some(dir)
    }

    /// Whether every visible name of `set` is the sink's own link through `..data`.
    fn names_linked(&self, set: &FileSet) -> bool {
        top_level(set).iter().all(|name| {
            fs::read_link(self.root.join(name))
                .is_ok_and(|target| target == Path::new(&format!("{DATA}/{name}")))
        })
    }

    /// Writes `set` into a fresh timestamped directory. Refuses, before writing anything, a set
    /// with a name that is not a plain relative path ([`DirectorySink::check_name`]).
    pub fn stage(&self, set: &FileSet) -> Result<Staged<'_>> {
        self.check_set(set)?;
        let now = time::OffsetDateTime::now_utc();
        let generation = format!(
            "..{:04}_{:02}_{:02}_{:02}_{:02}_{:02}.{:09}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            now.nanosecond()
        );
        let dir = self.root.join(&generation);
        self.step("creating the generation")?;
        self.create_dir(&dir)?;
        let set = &self.resolved(set);
        for (path, file) in &set.files {
            let target = dir.join(path);
            // Subdirectories (a version history's `name/0`), each with the sink's mode.
            let mut parent = dir.clone();
            let components: Vec<&str> = path.split('/').collect();
            for component in &components[..components.len() - 1] {
                parent.push(component);
                if !parent.is_dir() {
                    self.step("creating a parent directory")?;
                    self.create_dir(&parent)?;
                }
            }
            self.step("writing a file")?;
            write_file(&target, &file.contents, file.mode.unwrap_or(self.file_mode))?;
        }
        Ok(Staged {
            sink: self,
            generation,
            top_level: top_level(set),
        })
    }

    fn hash_from_disk(&self) -> Option<String> {
        let data = self.data_dir()?;
        collect(&data).ok().map(|set| set.content_hash())
    }
}

/// The first component of every name: the names visible in the directory.
fn top_level(set: &FileSet) -> BTreeSet<String> {
    set.files
        .keys()
        .filter_map(|path| path.split('/').next())
        .map(str::to_string)
        .collect()
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options.open(path).map_err(|e| io_error(path, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(path, e))?;
    #[cfg(unix)]
    {
        // The umask may have narrowed the mode at creation; filePermission is exact.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| io_error(path, e))?;
    }
    Ok(())
}

/// An error reading back `path`, naming it.
fn at(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn over(path: &Path, what: String) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "{}: {what}; keyway never writes that, so it is not a file of the set keyway wrote — \
             remove it",
            path.display()
        ),
    )
}

/// Reads `path` if it is a regular file, with its mode: opened without following a link
/// (`O_NOFOLLOW`) and without waiting on a FIFO (`O_NONBLOCK`), its type checked on the opened
/// file, at most [`DirectorySink::MAX_FILE_BYTES`] read. `None` for anything else — a link, a
/// FIFO, a device, a socket — which is no file of the sink's (the listing said it was a regular
/// file, but the entry may have been swapped since).
fn read_regular(path: &Path) -> std::io::Result<Option<(Vec<u8>, Option<u32>)>> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(_) if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            return Ok(None);
        }
        Err(e) => return Err(at(path, e)),
    };
    let meta = file.metadata().map_err(|e| at(path, e))?;
    if !meta.file_type().is_file() {
        return Ok(None);
    }
    let limit = DirectorySink::MAX_FILE_BYTES;
    let too_big = |len: u64| {
        over(
            path,
            format!("{len} bytes, over the 1 MiB a synced file may have"),
        )
    };
    if meta.len() > limit {
        return Err(too_big(meta.len()));
    }
    let mut contents = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut contents)
        .map_err(|e| at(path, e))?;
    if contents.len() as u64 > limit {
        // It grew while being read.
        return Err(too_big(contents.len() as u64));
    }
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        Some(meta.permissions().mode() & 0o777)
    };
    #[cfg(not(unix))]
    let mode = None;
    Ok(Some((contents, mode)))
}

/// The set held in the generation `base`: its regular files, read with [`read_regular`], in
/// directories listed without following links, within [`DirectorySink::MAX_SET_BYTES`].
/// Iterative, so a planted tree of any depth cannot exhaust the stack.
fn collect(base: &Path) -> std::io::Result<FileSet> {
    let mut set = FileSet::default();
    let mut used = 0u64;
    let mut pending = vec![base.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| at(&dir, e))? {
            let entry = entry.map_err(|e| at(&dir, e))?;
            let path = entry.path();
            // The entry itself, never what a link leads to.
            let kind = entry.file_type().map_err(|e| at(&path, e))?;
            let relative = path
                .strip_prefix(base)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let charge = relative.len() as u64 + ENTRY_OVERHEAD;
            if kind.is_dir() {
                used += charge;
                pending.push(path.clone());
            } else if kind.is_file() {
                let Some((contents, mode)) = read_regular(&path)? else {
                    continue;
                };
                used += charge + contents.len() as u64;
                set.files.insert(
                    relative,
                    SyncedFile {
                        contents: zeroize::Zeroizing::new(contents),
                        mode,
                    },
                );
            }
            if used > DirectorySink::MAX_SET_BYTES {
                return Err(over(
                    &path,
                    "the set read back is over the 64 MiB the directory sink reads in all".into(),
                ));
            }
        }
    }
    Ok(set)
}

impl Staged<'_> {
    /// Makes the staged set visible: links new visible names through `..data` (dangling, so
    /// absent, until the swap), swaps `..data` atomically, then removes names no longer synced
    /// and older generations. A failure before the swap removes the links it made.
    pub fn commit(self) -> Result<()> {
        let mut linked = Vec::new();
        let swapped = self.link_and_swap(&mut linked);
        if swapped.is_err() {
            for link in &linked {
                let _ = fs::remove_file(link);
            }
        }
        let planted = swapped?;
        self.replace_planted(planted)?;
        self.clean_up()
    }

    /// New names linked (recorded in `linked`), then the swap. Returns the visible names
    /// something else planted (a file, a link leading elsewhere), with the sink's own link for
    /// each; a directory the sink did not make at a visible name is refused before the swap.
    fn link_and_swap(&self, linked: &mut Vec<PathBuf>) -> Result<Vec<(String, PathBuf)>> {
        let root = &self.sink.root;
        let tmp = root.join(DATA_TMP);
        let mut planted = Vec::new();
        for name in &self.top_level {
            let visible = root.join(name);
            let ours = format!("{DATA}/{name}");
            match fs::symlink_metadata(&visible) {
                Err(_) => {
                    self.sink.step("linking a visible name")?;
                    symlink(&ours, &visible)?;
                    linked.push(visible);
                }
                Ok(_) if fs::read_link(&visible).is_ok_and(|t| t == Path::new(&ours)) => {}
                Ok(meta) if meta.file_type().is_dir() => {
                    return Err(sink_error(
                        &visible,
                        "a directory keyway did not create is in the way of a synced name; \
                         move it away",
                    ));
                }
                Ok(_) => planted.push((ours, visible)),
            }
        }
        self.sink.step("removing a stale ..data_tmp")?;
        let _ = fs::remove_file(&tmp);
        self.sink.step("linking ..data_tmp")?;
        symlink(&self.generation, &tmp)?;
        self.sink.step("swapping ..data")?;
        fs::rename(&tmp, root.join(DATA)).map_err(|e| io_error(&root.join(DATA), e))?;
        Ok(planted)
    }

    /// After the swap: each planted visible name replaced by the sink's own link, atomically
    /// (a rename over the entry replaces it, never writes through it). Should this fail, the
    /// next apply finds the name not linked and writes again.
    fn replace_planted(&self, planted: Vec<(String, PathBuf)>) -> Result<()> {
        let tmp = self.sink.root.join(DATA_TMP);
        for (ours, visible) in planted {
            self.sink.step("replacing a planted name")?;
            let _ = fs::remove_file(&tmp);
            symlink(&ours, &tmp)?;
            fs::rename(&tmp, &visible).map_err(|e| io_error(&visible, e))?;
        }
        Ok(())
    }

    /// After the swap: the sink's own links to names no longer synced and its own older
    /// generations go — nothing else. A generation is a real directory of the sink's naming
    /// pattern ([`is_generation`]); an own link is a top-level link into `..data/`. A user's
    /// `..mybackup/`, a link leading elsewhere, a regular file or a directory stays.
    fn clean_up(self) -> Result<()> {
        let root = &self.sink.root;
        for entry in fs::read_dir(root).map_err(|e| io_error(root, e))?.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && is_generation(&name) {
                if name != self.generation {
                    self.sink.step("removing an old generation")?;
                    let _ = fs::remove_dir_all(entry.path());
                }
            } else if kind.is_symlink()
                && !name.starts_with("..")
                && !self.top_level.contains(&name)
                && fs::read_link(entry.path())
                    .is_ok_and(|t| t.to_str().is_some_and(|t| t.starts_with("..data/")))
            {
                self.sink.step("unlinking a name no longer synced")?;
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn symlink(target: &str, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link).map_err(|e| io_error(link, e))
}

#[cfg(not(unix))]
fn symlink(_target: &str, link: &Path) -> Result<()> {
    Err(sink_error(
        link,
        "the directory sink needs symbolic links (Unix)",
    ))
}

impl DirectorySink {
    /// The content hash of the set the directory holds, if keyway wrote one — read from the
    /// disk each time, so a file someone edited or removed is written again by the next apply.
    pub fn current_hash(&self) -> Option<String> {
        self.hash_from_disk()
    }
}

#[async_trait::async_trait]
impl SecretSink for DirectorySink {
    /// Refuses a set with a name that is not a plain relative path before writing anything;
    /// writes nothing for an empty set (an empty directory would let consumers start without
    /// their secrets).
    async fn apply(&self, set: &FileSet) -> Result<Applied> {
        self.check_set(set)?;
        if set.files.is_empty() {
            return Ok(Applied::Unchanged);
        }
        let (sink, set) = (self.for_blocking(), set.clone());
        self.blocking(move || sink.write(&set)).await
    }

    async fn current(&self) -> Result<FileSet> {
        let sink = self.for_blocking();
        self.blocking(move || sink.read_back()).await
    }
}

impl DirectorySink {
    /// `apply`'s file I/O, on a blocking thread: nothing when the directory holds `set`
    /// already (every visible name the sink's own link), else the set staged and swapped in.
    fn write(&self, set: &FileSet) -> Result<Applied> {
        if self.current_hash().as_deref() == Some(self.resolved(set).content_hash().as_str())
            && self.names_linked(set)
        {
            return Ok(Applied::Unchanged);
        }
        self.stage(set)?.commit()?;
        Ok(Applied::Written)
    }

    /// `current`'s file I/O, on a blocking thread.
    fn read_back(&self) -> Result<FileSet> {
        let Some(data) = self.data_dir() else {
            // Nothing written yet, or `..data` is no generation of this directory.
            return Ok(FileSet::default());
        };
        match collect(&data) {
            Ok(mut set) => {
                // The default mode reads back as none, as it was given.
                for file in set.files.values_mut() {
                    file.mode = file.mode.filter(|m| *m != self.file_mode);
                }
                Ok(set)
            }
            // Nothing written yet, or a dangling `..data`: nothing to keep.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileSet::default()),
            Err(e) => Err(io_error(&data, e)),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::sink::SyncedFile;

    fn set(pairs: &[(&str, &str)]) -> FileSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), SyncedFile::new(*v)))
            .collect()
    }

    /// `apply`'s file I/O runs off the async executor: on a single-threaded runtime, a write
    /// paused at its first step is released by another task on the same thread — a task that
    /// could never run were the write blocking that thread (it would wait out the guard and
    /// fail).
    #[tokio::test(flavor = "current_thread")]
    async fn apply_does_its_file_io_off_the_executor() {
        let root = std::env::temp_dir().join(format!("keyway-dirsink-pool-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let sink = DirectorySink::new(&root).unwrap();
        let (reached, on_reached) = tokio::sync::oneshot::channel();
        let (release, on_release) = std::sync::mpsc::channel();
        *sink.pause.lock().unwrap() = Some(Pause {
            reached,
            release: on_release,
        });
        let releaser = async move {
            on_reached.await.unwrap();
            release.send(()).unwrap();
        };
        let written = set(&[("a", "1")]);
        let (applied, ()) = tokio::join!(sink.apply(&written), releaser);
        assert_eq!(applied.unwrap(), Applied::Written);
        assert_eq!(fs::read_to_string(root.join("a")).unwrap(), "1");
        assert_eq!(
            sink.current().await.unwrap(),
            written,
            "read back off the executor too"
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[tokio::test]
    async fn swaps_atomically_and_survives_a_crash_before_the_swap() {
        let root = std::env::temp_dir().join(format!("keyway-dirsink-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let sink = DirectorySink::new(&root).unwrap();
        sink.apply(&set(&[("a", "1"), ("hist/0", "x")]))
            .await
            .unwrap();
        assert_eq!(fs::read_to_string(root.join("a")).unwrap(), "1");
        assert_eq!(fs::read_to_string(root.join("hist/0")).unwrap(), "x");
        assert!(
            fs::symlink_metadata(root.join("a"))
                .unwrap()
                .file_type()
                .is_symlink()
        );

        // A crash after writing the new generation, before the swap: the old set stays.
        let staged = sink.stage(&set(&[("a", "2"), ("b", "3")])).unwrap();
        drop(staged);
        assert_eq!(fs::read_to_string(root.join("a")).unwrap(), "1");
        assert!(!root.join("b").exists());

        // The next apply cleans up and wins; names no longer synced disappear.
        sink.apply(&set(&[("a", "2"), ("b", "3")])).await.unwrap();
        assert_eq!(fs::read_to_string(root.join("a")).unwrap(), "2");
        assert_eq!(fs::read_to_string(root.join("b")).unwrap(), "3");
        assert!(!root.join("hist").exists());
        let generations = fs::read_dir(&root)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("..2"))
            .count();
        assert_eq!(generations, 1, "older generations are removed");

        // A fresh sink over the same directory knows what it holds.
        let again = DirectorySink::new(&root).unwrap();
        assert_eq!(
            again.current_hash(),
            Some(set(&[("a", "2"), ("b", "3")]).content_hash())
        );
        assert_eq!(
            again.apply(&set(&[("a", "2"), ("b", "3")])).await.unwrap(),
            Applied::Unchanged
        );
        fs::remove_dir_all(&root).unwrap();
    }

    /// The race the listing cannot close: an entry listed as a regular file, swapped for a FIFO
    /// or a link to `/dev/zero` before it is opened. `read_regular` opens without following a
    /// link and without waiting on a FIFO, and checks the opened file: both are skipped at once.
    #[test]
    fn read_regular_never_follows_a_link_nor_waits_on_a_fifo() {
        let dir = std::env::temp_dir().join(format!("keyway-dirsink-read-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(dir.join("fifo"))
            .status()
            .unwrap();
        assert!(status.success());
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
        fs::write(dir.join("file"), "x").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let read = dir.clone();
        std::thread::spawn(move || {
            let outcome = ["fifo", "zero", "file"]
                .map(|name| read_regular(&read.join(name)).map(|r| r.map(|(c, _)| c)));
            let _ = tx.send(outcome.map(|r| r.unwrap()));
        });
        // A guard against a read that never ends, not a measurement.
        let [fifo, zero, file] = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("read_regular hung");
        assert_eq!(fifo, None, "a FIFO is no file of the sink's");
        assert_eq!(zero, None, "a link is never followed");
        assert_eq!(file, Some(b"x".to_vec()));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// What a reader sees: every name it can read through the visible links, with contents.
    fn readable(root: &std::path::Path) -> Vec<(String, String)> {
        fn walk(dir: &std::path::Path, prefix: &str, out: &mut Vec<(String, String)>) {
            let Ok(entries) = fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if prefix.is_empty() && name.starts_with("..") {
                    continue;
                }
                let path = entry.path();
                let shown = format!("{prefix}{name}");
                if path.is_dir() {
                    walk(&path, &format!("{shown}/"), out);
                } else if let Ok(text) = fs::read_to_string(&path) {
                    out.push((shown, text));
                }
            }
        }
        let mut out = Vec::new();
        walk(root, "", &mut out);
        out.sort();
        out
    }

    /// The visible names a listing shows (links included, dangling or not).
    fn listed(root: &std::path::Path) -> BTreeSet<String> {
        fs::read_dir(root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| !n.starts_with(".."))
            .collect()
    }

    fn pairs(set: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<_> = set
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    /// A failure between any two steps of a write (new names, a removed name, a nested name)
    /// leaves a complete set readable — the previous one until the swap, the new one after —
    /// and the next apply converges.
    #[tokio::test]
    async fn a_failure_between_any_two_steps_leaves_a_complete_set() {
        let root =
            std::env::temp_dir().join(format!("keyway-dirsink-steps-{}", std::process::id()));
        let old = [("a", "1"), ("gone", "x"), ("hist/0", "h0")];
        let new = [("a", "2"), ("b", "3"), ("hist/0", "h1"), ("hist/1", "h2")];
        let mut step = 0;
        loop {
            let _ = fs::remove_dir_all(&root);
            let sink = DirectorySink::new(&root).unwrap();
            sink.apply(&set(&old)).await.unwrap();
            *sink.fail_at_step.lock().unwrap() = Some((step, 0));
            let outcome = sink.apply(&set(&new)).await;
            let seen = readable(&root);
            assert!(
                seen == pairs(&old) || seen == pairs(&new),
                "failing at step {step} left {seen:?}"
            );
            // What a listing shows: before the swap exactly the old names (links made for new
            // names are removed again); after it, the new names, and at most removed names
            // still linked but unreadable until the next apply.
            let listed = listed(&root);
            let names = |set: &[(&str, &str)]| -> BTreeSet<String> {
                set.iter()
                    .map(|(k, _)| k.split('/').next().unwrap().to_string())
                    .collect()
            };
            if seen == pairs(&old) {
                assert_eq!(
                    listed,
                    names(&old),
                    "step {step}: the listing before the swap"
                );
            } else {
                assert!(listed.is_superset(&names(&new)), "step {step}: {listed:?}");
            }
            *sink.fail_at_step.lock().unwrap() = None;
            if outcome.is_ok() {
                assert_eq!(seen, pairs(&new));
                break;
            }
            sink.apply(&set(&new)).await.unwrap();
            assert_eq!(
                readable(&root),
                pairs(&new),
                "step {step}: the next apply converges"
            );
            step += 1;
        }
        // The generation, its one subdirectory, four files, the links, the swap and the cleanup.
        assert!(step >= 12, "only {step} steps were exercised");
        fs::remove_dir_all(&root).unwrap();
    }
}
