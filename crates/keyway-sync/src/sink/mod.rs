//! Where synced data lands: the `SecretSink` seam. [`DirectorySink`] writes the way kubelet
//! writes projected volumes; `KubernetesSecretSink` (feature `kubernetes`) writes one Secret by
//! server-side apply; [`MemorySink`] serves tests and embedding. [`Remap`] renames a set's keys
//! on the way to any of them (a SecretSync's `sourcePath` → `targetKey`).

mod directory;
#[cfg(feature = "kubernetes")]
mod kubernetes;
mod memory;

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

use crate::error::Result;

pub use directory::{DirectorySink, InvalidOutputName, Staged};
#[cfg(feature = "controller")]
pub use kubernetes::SecretCache;
#[cfg(feature = "kubernetes")]
pub use kubernetes::{FIELD_MANAGER, KubernetesSecretSink, MANAGED_LABEL};
pub use memory::MemorySink;

/// One synced file (or Secret key).
#[derive(Clone, PartialEq, Eq)]
pub struct SyncedFile {
    /// The contents, wiped on drop, never in `Debug`.
    pub contents: Zeroizing<Vec<u8>>,
    /// The file mode (`filePermission`); 0644 when `None`.
    pub mode: Option<u32>,
}

impl SyncedFile {
    /// A file holding `contents`, with the default mode (0644).
    pub fn new(contents: impl Into<Vec<u8>>) -> SyncedFile {
        SyncedFile {
            contents: Zeroizing::new(contents.into()),
            mode: None,
        }
    }
}

impl fmt::Debug for SyncedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncedFile")
            .field("bytes", &self.contents.len())
            .field("mode", &self.mode)
            .finish()
    }
}

/// A complete set of synced files, by relative path (`db-password`, `history/0`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSet {
    /// The files.
    pub files: BTreeMap<String, SyncedFile>,
}

impl FileSet {
    /// SHA-256 over every path, mode and content, lowercase hex: equal sets, equal hashes.
    pub fn content_hash(&self) -> String {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for (path, file) in &self.files {
            context.update(&(path.len() as u64).to_be_bytes());
            context.update(path.as_bytes());
            context.update(&file.mode.unwrap_or(0o644).to_be_bytes());
            context.update(&(file.contents.len() as u64).to_be_bytes());
            context.update(&file.contents);
        }
        hex::encode(context.finish())
    }

    /// Total bytes of content.
    pub fn bytes(&self) -> usize {
        self.files.values().map(|f| f.contents.len()).sum()
    }

    /// Whether the set holds no file. An empty set is never published (see [`SecretSink`]).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// A set of these files, by relative path.
impl FromIterator<(String, SyncedFile)> for FileSet {
    fn from_iter<I: IntoIterator<Item = (String, SyncedFile)>>(files: I) -> FileSet {
        FileSet {
            files: files.into_iter().collect(),
        }
    }
}

/// Whether `apply` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The sink held other content and now holds the new set.
    Written,
    /// The sink already held exactly this set; nothing was written.
    Unchanged,
}

/// A destination for synced data. `apply` replaces the whole set atomically — a reader sees the
/// old set or the new one, never a mix — and writes nothing when the content is the same.
///
/// **An empty set is never published**: a target with no keys (an empty `..data`, a Secret
/// with `data: {}`) makes consumers start without their secrets instead of waiting for them.
/// The [`crate::Syncer`] does not call `apply` until some object has data, [`Remap`] passes
/// nothing on when no mapped path has data, and a sink given an empty set writes nothing and
/// returns [`Applied::Unchanged`] ([`DirectorySink`] does; every sink should).
#[async_trait::async_trait]
pub trait SecretSink: Send + Sync + fmt::Debug {
    /// Makes the sink hold exactly `set` (an empty `set`: nothing is written).
    async fn apply(&self, set: &FileSet) -> Result<Applied>;

    /// What the sink holds now (an empty set when nothing). The syncer reads it only when an
    /// object fails that it has not fetched itself — after a restart, say — so the object's
    /// last synced data stays in place instead of being dropped from the set.
    async fn current(&self) -> Result<FileSet>;
}

/// Renames paths on the way to another sink (a SecretSync's `sourcePath` → `targetKey`);
/// paths without a mapping are left out, and one path may go to several names.
#[derive(Debug)]
pub struct Remap<S> {
    inner: S,
    /// (synced path, name in `inner`) pairs.
    mapping: Vec<(String, String)>,
}

impl<S: SecretSink> Remap<S> {
    /// `mapping`: (synced path, name in `inner`) pairs; a path may appear more than once.
    pub fn new(inner: S, mapping: impl IntoIterator<Item = (String, String)>) -> Self {
        Remap {
            inner,
            mapping: mapping.into_iter().collect(),
        }
    }

    /// The mapping of a SecretSync, checked against the SecretProviderClass's `spec` by
    /// [`crate::SecretSyncSpec::mapping`] (target keys that are Secret keys, used once; source
    /// paths the class writes) before anything is written. Errors name the field
    /// (`spec.secretObject.data[1].targetKey`).
    pub fn for_secret_sync(
        inner: S,
        sync: &crate::SecretSync,
        spec: &crate::SyncSpec,
    ) -> Result<Self> {
        Ok(Remap::new(inner, sync.spec.mapping(Some(spec))?))
    }

    /// The wrapped sink.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait::async_trait]
impl<S: SecretSink> SecretSink for Remap<S> {
    /// The mapped set to the inner sink; nothing at all when no mapped path has data (an
    /// empty set is never published).
    async fn apply(&self, set: &FileSet) -> Result<Applied> {
        let files: BTreeMap<String, SyncedFile> = self
            .mapping
            .iter()
            .filter_map(|(path, target)| {
                set.files
                    .get(path)
                    .map(|file| (target.clone(), file.clone()))
            })
            .collect();
        if files.is_empty() {
            return Ok(Applied::Unchanged);
        }
        self.inner.apply(&FileSet { files }).await
    }

    /// What the inner sink holds, under the synced paths (the first name of a path that holds
    /// something wins).
    async fn current(&self) -> Result<FileSet> {
        let held = self.inner.current().await?;
        let mut files = BTreeMap::new();
        for (path, target) in &self.mapping {
            if let Some(file) = held.files.get(target) {
                files.entry(path.clone()).or_insert_with(|| file.clone());
            }
        }
        Ok(FileSet { files })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SyncedFile {
        SyncedFile::new(text)
    }

    /// One source path to two names; what the inner sink holds reads back under the source.
    #[tokio::test]
    async fn remap_fans_out_and_reads_back() {
        let remap = Remap::new(
            MemorySink::default(),
            [
                ("db".to_string(), "password".to_string()),
                ("db".to_string(), "copy".to_string()),
                ("api".to_string(), "key".to_string()),
            ],
        );
        let set = FileSet {
            files: BTreeMap::from([("db".into(), file("s3cret")), ("other".into(), file("x"))]),
        };
        remap.apply(&set).await.unwrap();
        let held = remap.inner().current().await.unwrap();
        let names: Vec<&str> = held.files.keys().map(String::as_str).collect();
        assert_eq!(names, ["copy", "password"], "unmapped paths are left out");
        let back = remap.current().await.unwrap();
        let paths: Vec<&str> = back.files.keys().map(String::as_str).collect();
        assert_eq!(paths, ["db"]);
        assert_eq!(&*back.files["db"].contents, b"s3cret");
    }
}
