//! The controller's watch-fed index of the Secrets keyway manages (feature `controller`): what
//! a [`KubernetesSecretSink`](super::KubernetesSecretSink) compares with instead of GETting
//! its Secret, so a quiet reconcile makes no API-server read and a deleted or edited Secret is
//! seen by the next one.
//!
//! It keeps of each Secret only what a sink reads — resourceVersion, type, whether it carries
//! the managed label, its ownerReferences and one SHA-256 of its data — not the object: a
//! kube-runtime store of full `Secret`s (their label and data maps, an `ObjectRef` key with four
//! strings) was about 9 MiB of the controller's heap at 5,000 SecretSyncs, and replacing it with
//! this index took the peak heap from 63.9 to 54.9 MiB (docs/benchmarks.md, fifth pass).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::runtime::watcher;

use super::kubernetes::{DIGEST_KEY, digest_of, secret_digest};
use crate::model::secret_sync::MANAGED_LABEL;

/// A watch-fed index of the Secrets keyway manages in one scope, shared by the sinks of that
/// scope. A new watch (the controller's next run, after leadership is regained) swaps in a
/// fresh index for everyone holding the cache: a sink made during an earlier run reads the
/// current watch, never an ended one's stale copy.
#[derive(Clone, Default)]
pub struct SecretCache {
    index: Arc<RwLock<Option<Arc<Index>>>>,
    /// The resourceVersion of each Secret as this process's sinks last wrote it, until its
    /// watch event arrives (see [`SecretCache::own_write`]).
    own_writes: Arc<Mutex<HashMap<(String, String), String>>>,
}

/// One watch's index.
struct Index {
    /// `namespace/name` → what is known of the Secret.
    secrets: RwLock<HashMap<Box<str>, Cached>>,
    /// Whether the watch's first listing is complete: an empty index before it is not "no
    /// Secret". Closed unraised when the watch stopped before it listed.
    listed: tokio::sync::watch::Receiver<bool>,
}

/// What a sink reads of a Secret.
struct Cached {
    resource_version: Option<Box<str>>,
    type_: Option<Box<str>>,
    managed: bool,
    owners: Box<[OwnerReference]>,
    /// SHA-256 of the data, its `(key, value)` pairs in key order.
    digest: [u8; 32],
}

impl Cached {
    fn of(secret: &Secret) -> Cached {
        // The watch's digest ([`SecretCache::digest`]), or one made here from the data (a
        // digest of another length is no digest of ours: that Secret's data is hashed).
        let digest = digest_of(secret)
            .and_then(|digest| <[u8; 32]>::try_from(digest).ok())
            .unwrap_or_else(|| secret_digest(secret));
        let meta = &secret.metadata;
        Cached {
            resource_version: meta.resource_version.as_deref().map(Box::from),
            type_: secret.type_.as_deref().map(Box::from),
            managed: meta
                .labels
                .as_ref()
                .is_some_and(|labels| labels.contains_key(MANAGED_LABEL)),
            owners: meta.owner_references.clone().unwrap_or_default().into(),
            digest,
        }
    }

    /// The Secret as a sink reads it: its data is the digest under [`DIGEST_KEY`], which no
    /// Secret can hold, and of its labels only the managed one.
    fn secret(&self, namespace: &str, name: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                resource_version: self.resource_version.as_deref().map(str::to_string),
                labels: self
                    .managed
                    .then(|| BTreeMap::from([(MANAGED_LABEL.to_string(), String::new())])),
                owner_references: (!self.owners.is_empty()).then(|| self.owners.to_vec()),
                ..ObjectMeta::default()
            },
            type_: self.type_.as_deref().map(str::to_string),
            data: Some(BTreeMap::from([(
                DIGEST_KEY.to_string(),
                ByteString(self.digest.to_vec()),
            )])),
            ..Secret::default()
        }
    }
}

fn key(namespace: &str, name: &str) -> Box<str> {
    format!("{namespace}/{name}").into()
}

/// The key of a Secret from the watch.
fn key_of(secret: &Secret) -> Option<Box<str>> {
    let meta = &secret.metadata;
    Some(key(meta.namespace.as_deref()?, meta.name.as_deref()?))
}

/// Feeds one watch's events into a [`SecretCache`] ([`SecretCache::watch`]).
pub struct SecretCacheWriter {
    index: Arc<Index>,
    listed: tokio::sync::watch::Sender<bool>,
    /// A (re)listing under way: it replaces the index when it is complete.
    relisting: Option<HashMap<Box<str>, Cached>>,
}

impl SecretCacheWriter {
    /// Applies one watch event: an applied Secret is (re)indexed, a deleted one dropped, and a
    /// listing replaces the whole index once it is complete.
    pub fn apply(&mut self, event: &watcher::Event<Secret>) {
        match event {
            watcher::Event::Init => self.relisting = Some(HashMap::new()),
            watcher::Event::InitApply(secret) => {
                if let (Some(listing), Some(key)) = (self.relisting.as_mut(), key_of(secret)) {
                    listing.insert(key, Cached::of(secret));
                }
            }
            watcher::Event::InitDone => {
                if let Some(mut listing) = self.relisting.take() {
                    listing.shrink_to_fit();
                    *write(&self.index.secrets) = listing;
                }
                self.listed.send_replace(true);
            }
            watcher::Event::Apply(secret) => {
                if let Some(key) = key_of(secret) {
                    write(&self.index.secrets).insert(key, Cached::of(secret));
                }
            }
            watcher::Event::Delete(secret) => {
                if let Some(key) = key_of(secret) {
                    write(&self.index.secrets).remove(&key);
                }
            }
        }
    }
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

impl SecretCache {
    /// Starts a new watch's index and makes it the one every holder of this cache reads; feed
    /// the watch's events to the writer returned.
    pub fn watch(&self) -> SecretCacheWriter {
        let (listed, receiver) = tokio::sync::watch::channel(false);
        let index = Arc::new(Index {
            secrets: RwLock::new(HashMap::new()),
            listed: receiver,
        });
        *write(&self.index) = Some(index.clone());
        SecretCacheWriter {
            index,
            listed,
            relisting: None,
        }
    }

    /// The Secret `namespace/name` as the watch last saw it (`Ok(None)`: there is none), once
    /// the watch has listed; `None` before any watch started. Its data is a digest
    /// ([`SecretCache::digest`]).
    pub(super) async fn get(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<std::result::Result<Option<Secret>, String>> {
        let index = read(&self.index).clone()?;
        let mut listed = index.listed.clone();
        if listed.wait_for(|listed| *listed).await.is_err() {
            return Some(Err("the Secret watch stopped before it listed".into()));
        }
        let secrets = read(&index.secrets);
        Some(Ok(secrets
            .get(&key(namespace, name))
            .map(|cached| cached.secret(namespace, name))))
    }

    /// Whether the watch event of `secret` is of this process's own write (the resourceVersion
    /// a sink's apply got back) — one the reconcile that wrote it already accounts for, so the
    /// controller does not reconcile its owner again for it (at a first sync that doubled the
    /// reconciles and wrote every status twice). The record is dropped once matched; any other
    /// version (someone's edit, a delete) is not the process's own.
    pub fn own_write(&self, secret: &Secret) -> bool {
        let (Some(namespace), Some(name), Some(version)) = (
            secret.metadata.namespace.as_ref(),
            secret.metadata.name.as_ref(),
            secret.metadata.resource_version.as_ref(),
        ) else {
            return false;
        };
        let mut own = self.own_writes.lock().unwrap_or_else(|p| p.into_inner());
        let key = (namespace.clone(), name.clone());
        if own.get(&key) == Some(version) {
            own.remove(&key);
            return true;
        }
        false
    }

    /// Records that a sink wrote `namespace/name`, which now has `version`.
    pub(super) fn wrote(&self, namespace: &str, name: &str, version: Option<String>) {
        let mut own = self.own_writes.lock().unwrap_or_else(|p| p.into_inner());
        let key = (namespace.to_string(), name.to_string());
        match version {
            Some(version) => own.insert(key, version),
            None => own.remove(&key),
        };
    }

    /// Replaces a Secret's data by one SHA-256 of it under the key `""`, which no Secret can
    /// hold: what the controller's watch passes on then carries no values (certificate chains
    /// are kilobytes each), and the index reads the digest as it is. Reading the values back
    /// ([`SecretSink::current`](super::SecretSink::current), needed only by a syncer that has
    /// not synced yet, after a restart) reads that one Secret from the API server.
    pub fn digest(secret: &mut Secret) {
        let digest = secret_digest(secret).to_vec();
        secret.data = Some(BTreeMap::from([(
            DIGEST_KEY.to_string(),
            ByteString(digest),
        )]));
    }
}

impl std::fmt::Debug for SecretCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCache").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SecretCacheWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCacheWriter").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, version: &str, value: &[u8]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("team".into()),
                resource_version: Some(version.into()),
                labels: Some(BTreeMap::from([
                    (MANAGED_LABEL.to_string(), String::new()),
                    ("app".to_string(), "web".to_string()),
                ])),
                owner_references: Some(vec![OwnerReference {
                    api_version: "secret-sync.x-k8s.io/v1alpha1".into(),
                    kind: "SecretSync".into(),
                    name: name.into(),
                    uid: "uid-1".into(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".into()),
            data: Some(BTreeMap::from([(
                "password".to_string(),
                ByteString(value.to_vec()),
            )])),
            ..Secret::default()
        }
    }

    #[tokio::test]
    async fn the_index_keeps_what_a_sink_reads_and_a_digest_of_the_data() {
        let cache = SecretCache::default();
        assert!(cache.get("team", "db").await.is_none(), "no watch yet");
        let mut writer = cache.watch();
        writer.apply(&watcher::Event::Init);
        let mut digested = secret("db", "7", b"s3cret");
        SecretCache::digest(&mut digested);
        writer.apply(&watcher::Event::InitApply(digested.clone()));
        writer.apply(&watcher::Event::InitDone);
        let read = cache.get("team", "db").await.unwrap().unwrap().unwrap();
        assert_eq!(read.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(read.type_.as_deref(), Some("Opaque"));
        assert_eq!(read.metadata.owner_references.unwrap()[0].uid, "uid-1");
        assert_eq!(
            read.metadata.labels.unwrap().keys().collect::<Vec<_>>(),
            [MANAGED_LABEL]
        );
        // The digest is the watch's, whether the watch digested the data or not.
        assert_eq!(read.data, digested.data);
        writer.apply(&watcher::Event::Apply(secret("db", "8", b"s3cret")));
        let read = cache.get("team", "db").await.unwrap().unwrap().unwrap();
        assert_eq!(read.metadata.resource_version.as_deref(), Some("8"));
        assert_eq!(read.data, digested.data);
        writer.apply(&watcher::Event::Apply(secret("db", "9", b"other")));
        let read = cache.get("team", "db").await.unwrap().unwrap().unwrap();
        assert_ne!(read.data, digested.data);
        writer.apply(&watcher::Event::Delete(secret("db", "9", b"other")));
        assert!(cache.get("team", "db").await.unwrap().unwrap().is_none());
    }

    #[tokio::test]
    async fn a_relisting_replaces_the_index_only_when_complete() {
        let cache = SecretCache::default();
        let mut writer = cache.watch();
        writer.apply(&watcher::Event::Init);
        writer.apply(&watcher::Event::InitApply(secret("gone", "1", b"a")));
        writer.apply(&watcher::Event::InitDone);
        writer.apply(&watcher::Event::Init);
        writer.apply(&watcher::Event::InitApply(secret("new", "2", b"b")));
        // Mid-listing, the last complete listing stands.
        assert!(cache.get("team", "gone").await.unwrap().unwrap().is_some());
        assert!(cache.get("team", "new").await.unwrap().unwrap().is_none());
        writer.apply(&watcher::Event::InitDone);
        assert!(cache.get("team", "gone").await.unwrap().unwrap().is_none());
        assert!(cache.get("team", "new").await.unwrap().unwrap().is_some());
    }

    #[tokio::test]
    async fn a_reader_waits_for_the_first_listing_and_a_new_watch_replaces_the_old() {
        let cache = SecretCache::default();
        let mut first = cache.watch();
        let reader = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get("team", "db").await })
        };
        tokio::task::yield_now().await;
        assert!(
            !reader.is_finished(),
            "an empty index before the listing is not 'none'"
        );
        first.apply(&watcher::Event::Init);
        first.apply(&watcher::Event::InitApply(secret("db", "1", b"a")));
        first.apply(&watcher::Event::InitDone);
        assert!(reader.await.unwrap().unwrap().unwrap().is_some());
        // A new run's watch: until it lists, readers wait on it, not on the ended watch.
        let mut second = cache.watch();
        let reader = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get("team", "db").await })
        };
        tokio::task::yield_now().await;
        assert!(!reader.is_finished(), "the new watch has not listed");
        second.apply(&watcher::Event::Init);
        second.apply(&watcher::Event::InitApply(secret("db", "2", b"a")));
        second.apply(&watcher::Event::InitDone);
        let read = reader.await.unwrap().unwrap().unwrap().unwrap();
        assert_eq!(read.metadata.resource_version.as_deref(), Some("2"));
        // The ended watch's events no longer reach the index readers see.
        first.apply(&watcher::Event::Delete(secret("db", "1", b"a")));
        assert!(cache.get("team", "db").await.unwrap().unwrap().is_some());
        drop(second);
        // A watch that stops before it lists fails its readers, those already waiting too,
        // instead of hanging them.
        let third = cache.watch();
        let reader = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get("team", "db").await })
        };
        tokio::task::yield_now().await;
        assert!(!reader.is_finished());
        drop(third);
        assert!(reader.await.unwrap().unwrap().is_err());
        assert!(cache.get("team", "db").await.unwrap().is_err());
    }
}
