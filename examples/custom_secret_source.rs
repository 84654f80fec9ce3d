//! Write a custom `SecretSource`: keyway's syncer reads secrets through this trait, so any store
//! gets what the Key Vault source gets — files written atomically or a Kubernetes Secret, a
//! listing per cycle and a read only for what changed, failures that keep the previous data.
//!
//! Here the store is a directory with one file per secret (a mounted volume, or a USB stick
//! at an air-gapped site); the file's modification time stands in for Key Vault's `updated`.
//!
//! Run: `cargo run --example custom_secret_source`

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use keyway::prelude::*;
use keyway::sync::source::{CallCounts, KeyValue};
use keyway::sync::{KeyVaultObject, Result};

/// Secrets from the files of a directory: the file `db-password` is the secret `db-password`.
#[derive(Debug)]
struct FileSource {
    dir: PathBuf,
    lists: AtomicU64,
    reads: AtomicU64,
}

impl FileSource {
    fn new(dir: impl Into<PathBuf>) -> FileSource {
        FileSource {
            dir: dir.into(),
            lists: AtomicU64::new(0),
            reads: AtomicU64::new(0),
        }
    }

    /// What the syncer compares between cycles: the name, and when the file last changed.
    async fn properties(&self, name: &str) -> Result<SecretProperties> {
        let metadata = tokio::fs::metadata(self.dir.join(name))
            .await
            .map_err(|e| failure(name, e))?;
        let updated = metadata.modified().ok().map(time::OffsetDateTime::from);
        Ok(SecretProperties {
            name: name.to_string(),
            // One version per change: the modification time, in nanoseconds.
            version: updated.map(|t| t.unix_timestamp_nanos().to_string()),
            updated,
            enabled: true,
            ..Default::default()
        })
    }
}

/// A read that failed, with the kind the syncer reports (and keeps previous data for).
fn failure(name: &str, error: std::io::Error) -> SyncError {
    let kind = match error.kind() {
        std::io::ErrorKind::NotFound => SourceFailure::NotFound,
        std::io::ErrorKind::PermissionDenied => SourceFailure::Forbidden,
        _ => SourceFailure::Unavailable,
    };
    SyncError::source_failure(name, kind, None, error.to_string())
}

#[async_trait::async_trait]
impl SecretSource for FileSource {
    async fn list(&self) -> Result<Vec<SecretProperties>> {
        self.lists.fetch_add(1, Ordering::Relaxed);
        let mut entries = tokio::fs::read_dir(&self.dir)
            .await
            .map_err(|e| failure("*", e))?;
        let mut listed = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(|e| failure("*", e))? {
            if let Some(name) = entry.file_name().to_str() {
                listed.push(SecretProperties {
                    version: None, // as Key Vault's listing: versions come with a read
                    ..self.properties(name).await?
                });
            }
        }
        Ok(listed)
    }

    async fn versions(&self, name: &str) -> Result<Vec<SecretProperties>> {
        // A file has one version: the current one.
        Ok(vec![self.properties(name).await?])
    }

    async fn get(&self, name: &str, version: Option<&str>) -> Result<SecretValue> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let properties = self.properties(name).await?;
        if version.is_some() && version != properties.version.as_deref() {
            return Err(SyncError::source_failure(
                name,
                SourceFailure::NotFound,
                None,
                "a file keeps no older versions",
            ));
        }
        let value = tokio::fs::read_to_string(self.dir.join(name))
            .await
            .map_err(|e| failure(name, e))?;
        Ok(SecretValue {
            properties,
            value: value.into(),
        })
    }

    async fn list_keys(&self) -> Result<Vec<SecretProperties>> {
        Ok(Vec::new()) // no key objects here
    }

    async fn get_key(&self, name: &str, _version: Option<&str>) -> Result<KeyValue> {
        Err(SyncError::source_failure(
            name,
            SourceFailure::NotFound,
            None,
            "a directory holds no keys",
        ))
    }

    fn calls(&self) -> CallCounts {
        CallCounts {
            list: self.lists.load(Ordering::Relaxed),
            versions: 0,
            get: self.reads.load(Ordering::Relaxed),
        }
    }
}

/// Syncs a directory of files through `FileSource` into another directory, then once more
/// with a file gone.
#[tokio::main]
pub async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = std::env::temp_dir().join(format!("keyway-example-source-{}", std::process::id()));
    let (store, out) = (root.join("store"), root.join("out"));
    std::fs::create_dir_all(&store)?;
    std::fs::write(store.join("db-password"), "correct horse battery staple")?;
    std::fs::write(store.join("api-key"), "k-0001")?;

    // What to sync, built in code (a SecretProviderClass works as well). The URL only names
    // the store in logs: this source is not Key Vault.
    let spec = SyncSpec::new(
        "https://files.invalid",
        vec![
            KeyVaultObject::secret("db-password"),
            KeyVaultObject::secret("api-key"),
        ],
    )?;
    let source = Arc::new(FileSource::new(&store));
    let syncer = Syncer::new(spec, source, Arc::new(DirectorySink::new(&out)?));

    let first = syncer.run_once().await;
    println!(
        "first cycle: {} listing(s), {} read(s)",
        first.calls.list, first.calls.get
    );
    for object in &first.objects {
        println!("  {:<12} {:?}", object.output, object.outcome);
    }

    // A file goes missing: the syncer reports it and keeps what it last wrote.
    std::fs::remove_file(store.join("api-key"))?;
    let second = syncer.run_once().await;
    println!("after api-key's file was removed:");
    for object in &second.objects {
        println!(
            "  {:<12} {:?}{}",
            object.output,
            object.outcome,
            if object.kept_previous {
                " (previous data kept)"
            } else {
                ""
            }
        );
    }
    let kept = std::fs::read_to_string(out.join("api-key"))?;
    println!("api-key still holds {} bytes", kept.len());

    std::fs::remove_dir_all(&root)?;
    if !first.all_synced() {
        return Err(format!("{} object(s) failed", first.failed()).into());
    }
    Ok(())
}
