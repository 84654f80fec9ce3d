//! A directory written the way kubelet writes projected volumes: every set goes into a new
//! timestamped directory, then the `..data` symlink is swapped to it atomically; the visible
//! names are symlinks through `..data`. A reader never sees a half-written set, and a crash
//! before the swap leaves the previous set in place.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Result, SyncError};
use crate::sink::{Applied, FileSet, SecretSink};

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// A directory sink.
#[derive(Debug)]
pub struct DirectorySink {
    root: PathBuf,
    hash: Mutex<Option<String>>,
}

/// A set written into its timestamped directory but not yet visible. Dropping it without
/// [`Staged::commit`] is what a crash before the swap looks like: the previous set stays.
#[derive(Debug)]
pub struct Staged<'a> {
    sink: &'a DirectorySink,
    generation: String,
    top_level: BTreeSet<String>,
    hash: String,
}

fn sink_error(target: &Path, e: impl std::fmt::Display) -> SyncError {
    SyncError::Sink {
        target: target.display().to_string(),
        reason: e.to_string(),
    }
}

impl DirectorySink {
    /// A sink writing under `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<DirectorySink> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| sink_error(&root, e))?;
        Ok(DirectorySink {
            root,
            hash: Mutex::new(None),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `set` into a fresh timestamped directory.
    pub fn stage(&self, set: &FileSet) -> Result<Staged<'_>> {
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
        fs::create_dir(&dir).map_err(|e| sink_error(&dir, e))?;
        let mut top_level = BTreeSet::new();
        for (path, file) in &set.files {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(|e| sink_error(parent, e))?;
            }
            write_file(&target, &file.contents, file.mode.unwrap_or(0o644))?;
            if let Some(first) = path.split('/').next() {
                top_level.insert(first.to_string());
            }
        }
        Ok(Staged {
            sink: self,
            generation,
            top_level,
            hash: set.content_hash(),
        })
    }

    fn hash_from_disk(&self) -> Option<String> {
        let data = self.root.join(DATA);
        let mut set = FileSet::default();
        collect(&data, &data, &mut set).ok()?;
        Some(set.content_hash())
    }
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options.open(path).map_err(|e| sink_error(path, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| sink_error(path, e))?;
    #[cfg(unix)]
    {
        // The umask may have narrowed the mode at creation; filePermission is exact.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| sink_error(path, e))?;
    }
    Ok(())
}

fn collect(base: &Path, dir: &Path, set: &mut FileSet) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(base, &path, set)?;
        } else {
            let relative = path
                .strip_prefix(base)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            #[cfg(unix)]
            let mode = {
                use std::os::unix::fs::PermissionsExt;
                Some(entry.metadata()?.permissions().mode() & 0o777)
            };
            #[cfg(not(unix))]
            let mode = None;
            set.files.insert(
                relative,
                crate::sink::SyncedFile {
                    contents: zeroize::Zeroizing::new(fs::read(&path)?),
                    mode: mode.filter(|m| *m != 0o644),
                },
            );
        }
    }
    Ok(())
}

impl Staged<'_> {
    /// Makes the staged set visible: swaps `..data` atomically, links the visible names,
    /// removes names no longer synced and older generations.
    pub fn commit(self) -> Result<()> {
        let root = &self.sink.root;
        let tmp = root.join(DATA_TMP);
        let _ = fs::remove_file(&tmp);
        symlink(&self.generation, &tmp)?;
        fs::rename(&tmp, root.join(DATA)).map_err(|e| sink_error(&root.join(DATA), e))?;
        for name in &self.top_level {
            let visible = root.join(name);
            if fs::symlink_metadata(&visible).is_err() {
                symlink(&format!("{DATA}/{name}"), &visible)?;
            }
        }
        for entry in fs::read_dir(root)
            .map_err(|e| sink_error(root, e))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            let is_link = entry.file_type().map(|t| t.is_symlink()).unwrap_or(false);
            if name.starts_with("..") {
                if name != DATA && name != self.generation && !is_link {
                    let _ = fs::remove_dir_all(entry.path());
                }
            } else if is_link && !self.top_level.contains(&name) {
                let _ = fs::remove_file(entry.path());
            }
        }
        *self.sink.hash.lock().unwrap_or_else(|p| p.into_inner()) = Some(self.hash);
        Ok(())
    }
}

#[cfg(unix)]
fn symlink(target: &str, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link).map_err(|e| sink_error(link, e))
}

#[cfg(not(unix))]
fn symlink(_target: &str, link: &Path) -> Result<()> {
    Err(sink_error(
        link,
        "the directory sink needs symbolic links (Unix)",
    ))
}

impl DirectorySink {
    /// The content hash of the set the directory holds, if keyway wrote one.
    pub fn current_hash(&self) -> Option<String> {
        let known = self.hash.lock().unwrap_or_else(|p| p.into_inner()).clone();
        known.or_else(|| self.hash_from_disk())
    }
}

#[async_trait::async_trait]
impl SecretSink for DirectorySink {
    async fn apply(&self, set: &FileSet) -> Result<Applied> {
        if self.current_hash().as_deref() == Some(set.content_hash().as_str()) {
            return Ok(Applied::Unchanged);
        }
        self.stage(set)?.commit()?;
        Ok(Applied::Written)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::sink::SyncedFile;

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
}
