//! Where synced data lands: the `SecretSink` seam. [`DirectorySink`] writes the way kubelet
//! writes projected volumes; `KubernetesSecretSink` (feature `kubernetes`) writes one Secret by
//! server-side apply; [`MemorySink`] serves tests and embedding. [`Remap`] renames a set's keys
//! on the way to any of them (a SecretSync's `sourcePath` → `targetKey`) and, for a
//! `kubernetes.io/tls` SecretSync, splits what is mapped into the chain (`tls.crt`) and the key
//! (`tls.key`) — the one rule the Secret and a directory both get.

mod directory;
#[cfg(feature = "kubernetes")]
mod kubernetes;
mod mapping;
mod memory;
#[cfg(feature = "controller")]
mod secret_cache;

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Result, SyncError};
use crate::model::secret_sync::{
    SecretObjectData, TLS_SECRET_KEYS as TLS_KEYS, TLS_SECRET_TYPE as TLS_TYPE,
};
use mapping::Mapping;

pub use directory::{DirectorySink, InvalidOutputName, Staged};
#[cfg(feature = "kubernetes")]
pub use kubernetes::{FIELD_MANAGER, KubernetesSecretSink, MANAGED_LABEL};
pub use memory::MemorySink;
#[cfg(feature = "controller")]
pub use secret_cache::{SecretCache, SecretCacheWriter};

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

/// What a `kubernetes.io/tls` SecretSync's two keys hold, as the Secret Store extension writes
/// them: under `tls.crt` the certificate chain (leaf first), under `tls.key` the leaf's private
/// key (PKCS#8), split out of whatever the mapped objects hold (a PEM bundle in any order, a PFX,
/// a Key Vault certificate's secret) by [`keyway_cert::tls_secret_values`]. The one place of
/// that rule: [`Remap`] applies it for any sink, the Kubernetes Secret sink for callers that
/// hand it the mapped set themselves. Splitting a split set gives it back unchanged.
#[derive(Debug, Clone)]
pub(crate) struct TlsSplit {
    /// The SecretSync's `spec.secretObject.data`, to name the item at fault.
    items: Vec<SecretObjectData>,
    /// What is not written when an item cannot give its value (`Secret aio/web`).
    target: String,
}

impl TlsSplit {
    /// The split for a SecretSync's `items`, writing into `target`.
    pub(crate) fn new(items: Vec<SecretObjectData>, target: String) -> TlsSplit {
        TlsSplit { items, target }
    }

    /// The SecretSync item that maps to `key`, and its field path.
    fn item(&self, key: &str) -> Option<(String, &SecretObjectData)> {
        self.items
            .iter()
            .enumerate()
            .find(|(_, d)| d.target_key == key)
            .map(|(i, d)| (format!("spec.secretObject.data[{i}]"), d))
    }

    /// The chain under `tls.crt` and the key under `tls.key` for `set` (keyed by target key),
    /// or an error naming the SecretSync item whose object cannot give them; nothing of `set`
    /// is passed on then.
    pub(crate) fn split(&self, set: &FileSet) -> Result<FileSet> {
        let secret = &self.target;
        if let Some(key) = set.files.keys().find(|k| !TLS_KEYS.contains(&k.as_str())) {
            return Err(SyncError::invalid(
                "spec.secretObject.data",
                format!("a kubernetes.io/tls Secret holds only tls.crt and tls.key, not {key:?}"),
            ));
        }
        let [crt, key] = TLS_KEYS.map(|name| set.files.get(name).ok_or(name));
        let (crt, key) = match (crt, key) {
            (Ok(crt), Ok(key)) => (crt, key),
            (Err(missing), _) | (_, Err(missing)) => {
                return Err(match self.item(missing) {
                    Some((at, item)) => SyncError::invalid(
                        format!("{at}.sourcePath"),
                        format!(
                            "{:?} (for {missing}) has not been synced; a kubernetes.io/tls Secret \
                             needs both tls.crt and tls.key, so {secret} is not written until it is",
                            item.source_path
                        ),
                    ),
                    None => SyncError::invalid(
                        "spec.secretObject.data",
                        format!(
                            "a kubernetes.io/tls Secret needs both tls.crt and tls.key; add an item \
                             with targetKey {missing} ({secret} not written)"
                        ),
                    ),
                });
            }
        };
        let pair = keyway_cert::tls_secret_values(&crt.contents, &key.contents).map_err(|e| {
            let (target, reason) = match e {
                keyway_cert::CertError::Output { output, reason } => (output, reason),
                other => (keyway_cert::TLS_CERTIFICATE_KEY, other.to_string()),
            };
            let (at, source) = match self.item(target) {
                Some((at, item)) => (
                    format!("{at}.sourcePath"),
                    format!("{:?}", item.source_path),
                ),
                None => (
                    "spec.secretObject.data".to_string(),
                    "the object".to_string(),
                ),
            };
            SyncError::invalid(
                at,
                format!(
                    "{source} cannot give {target}: {reason}. A kubernetes.io/tls Secret needs a \
                     certificate and its private key: map a Key Vault certificate's secret \
                     (objectType: secret, not cert) or a PEM or PFX secret holding both; \
                     {secret} not written"
                ),
            )
        })?;
        let file = |bytes: &[u8]| SyncedFile::new(bytes);
        Ok(FileSet {
            files: BTreeMap::from([
                (
                    TLS_KEYS[0].to_string(),
                    file(pair.certificate_chain.as_bytes()),
                ),
                (TLS_KEYS[1].to_string(), file(pair.private_key.as_bytes())),
            ]),
        })
    }

    /// [`TlsSplit::split`] of `tls.crt` and `tls.key` when the SecretSync maps both, as every
    /// SecretSync a Secret is written for does. What only a directory may be given passes as
    /// it is: other keys, and a SecretSync that maps one of the two (a directory may write
    /// `tls.crt` alone; there is no Secret of such a SecretSync to match).
    pub(crate) fn split_mapped(&self, set: FileSet) -> Result<FileSet> {
        if TLS_KEYS.iter().any(|key| self.item(key).is_none()) {
            return Ok(set);
        }
        let (tls, mut others): (BTreeMap<_, _>, BTreeMap<_, _>) = set
            .files
            .into_iter()
            .partition(|(key, _)| TLS_KEYS.contains(&key.as_str()));
        let mut split = self.split(&FileSet { files: tls })?;
        split.files.append(&mut others);
        Ok(split)
    }

    /// What a sink holds (keyed by target key) made readable as the objects it came from: both
    /// keys read as the key followed by the chain, so that whichever object they are read back
    /// for splits into the same two values again. Held values that already read so (the
    /// Secret sink's) are left as they are.
    pub(crate) fn read_back(held: &mut FileSet) {
        if let [Some(crt), Some(key)] = TLS_KEYS.map(|k| held.files.get(k))
            && crt.contents != key.contents
        {
            let mut both = Zeroizing::new(key.contents.to_vec());
            both.extend_from_slice(&crt.contents);
            let both = SyncedFile {
                contents: both,
                mode: crt.mode,
            };
            for k in TLS_KEYS {
                held.files.insert(k.to_string(), both.clone());
            }
        }
    }
}

/// Renames paths on the way to another sink (a SecretSync's `sourcePath` → `targetKey`);
/// paths without a mapping are left out, and one path may go to several names. For a
/// `kubernetes.io/tls` SecretSync that maps both `tls.crt` and `tls.key`
/// ([`Remap::for_secret_sync`], [`Remap::with_secret_type`]) it also splits the mapped values
/// into the chain under `tls.crt` (leaf first) and the leaf's PKCS#8 key under `tls.key`, as
/// the Secret Store extension writes them, so a directory gets the two files the Secret gets;
/// an item whose object cannot give them (no key) fails the set, naming the item, and nothing
/// is written. What only a directory may be given (other keys, `tls.crt` alone) passes as it is.
#[derive(Debug)]
pub struct Remap<S> {
    inner: S,
    /// (synced path, name in `inner`) pairs.
    mapping: Mapping,
    /// The split of a `kubernetes.io/tls` SecretSync.
    tls: Option<TlsSplit>,
}

impl<S: SecretSink> Remap<S> {
    /// `mapping`: (synced path, name in `inner`) pairs; a path may appear more than once.
    pub fn new(inner: S, mapping: impl IntoIterator<Item = (String, String)>) -> Self {
        Remap {
            inner,
            mapping: mapping.into_iter().collect(),
            tls: None,
        }
    }

    /// When `sync` is a `kubernetes.io/tls` SecretSync mapping `tls.crt` and `tls.key`, splits
    /// what is mapped into the chain and the key as its Secret holds them; `target` names what
    /// is not written when an item's object cannot give them (`the directory /mnt/secrets`).
    /// Other types, and other keys: unchanged.
    pub fn with_secret_type(mut self, sync: &crate::SecretSync, target: impl Into<String>) -> Self {
        let object = &sync.spec.secret_object;
        self.tls =
            (object.type_ == TLS_TYPE).then(|| TlsSplit::new(object.data.clone(), target.into()));
        self
    }

    /// The mapping of a SecretSync, checked against the SecretProviderClass's `spec` by
    /// [`crate::SecretSyncSpec::mapping`] (target keys that are Secret keys, used once; source
    /// paths the class writes) before anything is written. Errors name the field
    /// (`spec.secretObject.data[1].targetKey`). A `kubernetes.io/tls` SecretSync's values are
    /// split as its Secret holds them ([`Remap::with_secret_type`]).
    pub fn for_secret_sync(
        inner: S,
        sync: &crate::SecretSync,
        spec: &crate::SyncSpec,
    ) -> Result<Self> {
        let name = kube::ResourceExt::name_any(sync);
        let secret = match sync.metadata.namespace.as_deref() {
            Some(namespace) => format!("Secret {namespace}/{name}"),
            None => format!("Secret {name}"),
        };
        Ok(Remap::new(inner, sync.spec.mapping(Some(spec))?).with_secret_type(sync, secret))
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
                    .map(|file| (target.to_string(), file.clone()))
            })
            .collect();
        if files.is_empty() {
            return Ok(Applied::Unchanged);
        }
        let set = FileSet { files };
        match &self.tls {
            Some(tls) => self.inner.apply(&tls.split_mapped(set)?).await,
            None => self.inner.apply(&set).await,
        }
    }

    /// What the inner sink holds, under the synced paths (the first name of a path that holds
    /// something wins). Of a `kubernetes.io/tls` SecretSync, both keys read as the key followed
    /// by the chain, so the object they are read back for splits into the same values again.
    async fn current(&self) -> Result<FileSet> {
        let mut held = self.inner.current().await?;
        if self.tls.is_some() {
            TlsSplit::read_back(&mut held);
        }
        let mut files = BTreeMap::new();
        for (path, target) in self.mapping.iter() {
            if let Some(file) = held.files.get(target) {
                files
                    .entry(path.to_string())
                    .or_insert_with(|| file.clone());
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

    fn tls_sync(data: &[(&str, &str)]) -> crate::SecretSync {
        use crate::model::secret_sync::{SecretObject, SecretSyncSpec};
        crate::SecretSync::new(
            "web",
            SecretSyncSpec {
                secret_provider_class_name: "certs".into(),
                service_account_name: "sync".into(),
                secret_object: SecretObject {
                    type_: TLS_TYPE.into(),
                    data: data
                        .iter()
                        .map(|(source, target)| SecretObjectData {
                            source_path: source.to_string(),
                            target_key: target.to_string(),
                        })
                        .collect(),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
    }

    /// A tls SecretSync's files through a `Remap`, whatever the sink: the chain (leaf first,
    /// no key) under `tls.crt`, the leaf's PKCS#8 key under `tls.key`; read back, they split
    /// into the same two files again, and a split set passes a second split unchanged.
    #[tokio::test]
    async fn a_tls_secret_sync_is_split_for_any_sink() {
        use keyway_cert::testing::{KeyKind, TestPki};
        let pki = TestPki::generate(KeyKind::EcP256, &["web.local"]);
        // The key after the chain, as some stores hold it.
        let bundle = [pki.chain_pem(false), pki.leaf.key_pem().to_string()].concat();
        let sync = tls_sync(&[("bundle", "tls.crt"), ("bundle", "tls.key")]);
        let remap = Remap::new(
            MemorySink::default(),
            [
                ("bundle".to_string(), "tls.crt".to_string()),
                ("bundle".to_string(), "tls.key".to_string()),
            ],
        )
        .with_secret_type(&sync, "the directory /tmp/x");
        let set = FileSet {
            files: BTreeMap::from([("bundle".into(), file(&bundle))]),
        };
        assert_eq!(remap.apply(&set).await.unwrap(), Applied::Written);
        let held = remap.inner().current().await.unwrap();
        let crt = std::str::from_utf8(&held.files["tls.crt"].contents).unwrap();
        let key = std::str::from_utf8(&held.files["tls.key"].contents).unwrap();
        assert_eq!(crt.matches("BEGIN CERTIFICATE").count(), 3, "{crt}");
        assert!(!crt.contains("PRIVATE KEY"), "a key in tls.crt");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
        assert_eq!(key.matches("BEGIN").count(), 1, "only the key in tls.key");
        let leaf = keyway_cert::Bundle::parse(crt.as_bytes(), Default::default()).unwrap();
        assert!(
            leaf.certificates()[0]
                .details()
                .subject
                .contains("web.local"),
            "leaf first"
        );

        // Split again (the Secret sink splits what it is handed): the same two values.
        let split = TlsSplit::new(sync.spec.secret_object.data.clone(), "x".into());
        assert_eq!(split.split(&held).unwrap(), held);

        // Read back for the object, and written again: nothing changes.
        let back = remap.current().await.unwrap();
        assert_eq!(remap.apply(&back).await.unwrap(), Applied::Unchanged);
        assert_eq!(remap.inner().current().await.unwrap(), held);
    }

    /// What only a directory may be given passes as it is: a key besides the two (split as
    /// the Secret's), and `tls.crt` alone (no Secret holds such a pair to match).
    #[tokio::test]
    async fn a_directory_s_own_keys_pass_as_they_are() {
        use keyway_cert::testing::{KeyKind, TestPki};
        let pki = TestPki::generate(KeyKind::EcP256, &["web.local"]);
        let bundle = [pki.chain_pem(false), pki.leaf.key_pem().to_string()].concat();
        let set = FileSet {
            files: BTreeMap::from([("bundle".into(), file(&bundle)), ("ca".into(), file("ca"))]),
        };
        let data = [
            ("bundle", "tls.crt"),
            ("bundle", "tls.key"),
            ("ca", "ca.crt"),
        ];
        let remap = Remap::new(
            MemorySink::default(),
            data.map(|(s, t)| (s.to_string(), t.to_string())),
        )
        .with_secret_type(&tls_sync(&data), "the directory /tmp/x");
        remap.apply(&set).await.unwrap();
        let held = remap.inner().current().await.unwrap();
        assert_eq!(&*held.files["ca.crt"].contents, b"ca");
        assert!(
            !held.files["tls.crt"]
                .contents
                .windows(3)
                .any(|w| w == b"KEY")
        );

        let data = [("bundle", "tls.crt")];
        let remap = Remap::new(
            MemorySink::default(),
            data.map(|(s, t)| (s.to_string(), t.to_string())),
        )
        .with_secret_type(&tls_sync(&data), "the directory /tmp/x");
        remap.apply(&set).await.unwrap();
        let held = remap.inner().current().await.unwrap();
        assert_eq!(&*held.files["tls.crt"].contents, bundle.as_bytes());
    }

    /// An object without the leaf's key fills neither file: the set fails naming the item,
    /// and the sink keeps what it held.
    #[tokio::test]
    async fn a_tls_secret_sync_without_a_key_writes_nothing_and_names_the_item() {
        use keyway_cert::testing::{KeyKind, TestPki};
        let pki = TestPki::generate(KeyKind::EcP256, &["web.local"]);
        let sync = tls_sync(&[("chain", "tls.crt"), ("chain", "tls.key")]);
        let remap = Remap::new(
            MemorySink::default(),
            [
                ("chain".to_string(), "tls.crt".to_string()),
                ("chain".to_string(), "tls.key".to_string()),
            ],
        )
        .with_secret_type(&sync, "the directory /tmp/x");
        let set = FileSet {
            files: BTreeMap::from([("chain".into(), file(&pki.chain_pem(false)))]),
        };
        let error = remap.apply(&set).await.unwrap_err().to_string();
        assert!(
            error
                .starts_with("spec.secretObject.data[1].sourcePath: \"chain\" cannot give tls.key")
                && error.contains("the directory /tmp/x not written")
                && !error.contains("BEGIN"),
            "{error}"
        );
        assert!(remap.inner().current().await.unwrap().is_empty());
    }
}
