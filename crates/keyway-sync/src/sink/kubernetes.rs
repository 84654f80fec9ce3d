//! A Kubernetes Secret as a sink (feature `kubernetes`): written by server-side apply with the
//! field manager `keyway`, labelled `secrets-store.sync.x-k8s.io`, owned by its SecretSync, and
//! never taking over a Secret keyway does not manage.
//!
//! A `kubernetes.io/tls` Secret gets what the Secret Store extension writes: under `tls.crt` the
//! certificate chain (leaf first) and under `tls.key` the leaf's private key (PKCS#8), split out
//! of whatever the mapped objects hold (a PEM bundle in any order, a PFX, a Key Vault
//! certificate's secret) by [`keyway_cert::tls_secret_values`]. The rule lives once in the
//! sink module, where [`crate::Remap`] applies it for a directory too; this sink applies it to
//! what it is handed, so a split set passes unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use crate::error::{Result, SyncError};
use crate::model::secret_sync::{ALLOWED_SECRET_TYPES, SecretSync, TLS_SECRET_TYPE as TLS_TYPE};
#[cfg(feature = "controller")]
use crate::sink::SecretCache;
use crate::sink::{Applied, FileSet, SecretSink, SyncedFile, TlsSplit};

pub use crate::model::secret_sync::MANAGED_LABEL;
/// The field manager of keyway's server-side applies.
pub const FIELD_MANAGER: &str = "keyway";

/// The key under which a Secret from the controller's watch (and as its cache gives it back)
/// holds the digest of its data ([`SecretCache::digest`]): not a valid Secret key, so no Secret
/// in the cluster holds it.
pub(super) const DIGEST_KEY: &str = "";

/// The SHA-256 of a Secret's data, its `(key, value)` pairs in key order.
fn data_digest<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> [u8; 32] {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for (key, value) in entries {
        context.update(&(key.len() as u64).to_be_bytes());
        context.update(key.as_bytes());
        context.update(&(value.len() as u64).to_be_bytes());
        context.update(value);
    }
    let mut digest = [0; 32];
    digest.copy_from_slice(context.finish().as_ref());
    digest
}

/// The SHA-256 of `secret`'s data as it is ([`data_digest`]).
#[cfg(feature = "controller")]
pub(super) fn secret_digest(secret: &Secret) -> [u8; 32] {
    let entries = secret.data.iter().flatten();
    data_digest(entries.map(|(key, value)| (key.as_str(), value.0.as_slice())))
}

/// The digest a Secret from the controller's watch or cache holds instead of its data
/// ([`SecretCache::digest`]), if it is one.
pub(super) fn digest_of(secret: &Secret) -> Option<&[u8]> {
    let data = secret.data.as_ref().filter(|d| d.len() == 1)?;
    data.get(DIGEST_KEY).map(|digest| digest.0.as_slice())
}

/// Writes synced data into one Kubernetes Secret.
pub struct KubernetesSecretSink {
    api: Api<Secret>,
    namespace: String,
    name: String,
    secret_type: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    owner: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
    /// For a `kubernetes.io/tls` Secret, its split (which names the SecretSync item at fault);
    /// other types keep no copy of the SecretSync's items (at 5,000 SecretSyncs those copies
    /// were 3 MiB).
    tls: Option<TlsSplit>,
    adopt: bool,
    /// The controller's watch-fed copy of the Secrets it manages: read instead of a GET.
    #[cfg(feature = "controller")]
    cache: Option<SecretCache>,
    /// What this sink last wrote or found in place, to tell a restoration from an update.
    last: std::sync::Mutex<LastWrite>,
    /// Counts restorations (see [`KubernetesSecretSink::with_restoration_counter`]).
    restorations: Option<Arc<AtomicU64>>,
}

/// The set this sink last wrote or found held, and the Secret's `resourceVersion` just
/// before its last write (a watch cache still showing that version has not caught up yet).
#[derive(Default)]
struct LastWrite {
    held: Option<String>,
    before_write: Option<String>,
}

impl std::fmt::Debug for KubernetesSecretSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesSecretSink")
            .field("secret", &format_args!("{}/{}", self.namespace, self.name))
            .field("type", &self.secret_type)
            .finish_non_exhaustive()
    }
}

impl KubernetesSecretSink {
    /// A sink for the Opaque Secret `namespace/name`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> KubernetesSecretSink {
        KubernetesSecretSink {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name: name.to_string(),
            secret_type: "Opaque".into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            owner: None,
            tls: None,
            adopt: false,
            #[cfg(feature = "controller")]
            cache: None,
            last: Default::default(),
            restorations: None,
        }
    }

    /// The sink a SecretSync describes: its name and namespace, type, labels and annotations,
    /// and one ownerReference to it. The Secret's own rules are checked here too, whoever
    /// calls ([`crate::SecretObject::check`]: a type of [`ALLOWED_SECRET_TYPES`], no key under
    /// `secrets-store.sync.x-k8s.io`, a `kubernetes.io/tls` SecretSync mapping exactly
    /// `tls.crt` and `tls.key`).
    pub fn for_secret_sync(
        client: kube::Client,
        secret_sync: &SecretSync,
    ) -> Result<KubernetesSecretSink> {
        let namespace = secret_sync.namespace().ok_or_else(|| {
            SyncError::invalid(
                "metadata.namespace",
                crate::FieldProblem::Required {
                    hint: " for a SecretSync",
                },
            )
        })?;
        let name = secret_sync.name_any();
        let object = &secret_sync.spec.secret_object;
        object.check(&ALLOWED_SECRET_TYPES)?;
        let owner = secret_sync.controller_owner_ref(&()).ok_or_else(|| {
            SyncError::invalid(
                "metadata.uid",
                "the SecretSync must exist in the cluster (it has no uid) to own its Secret",
            )
        })?;
        let mut sink = KubernetesSecretSink::new(client, &namespace, &name);
        sink.secret_type = object.type_.clone();
        sink.labels = object.labels.clone().unwrap_or_default();
        sink.annotations = object.annotations.clone().unwrap_or_default();
        sink.owner = Some(owner);
        sink.tls = (object.type_ == TLS_TYPE).then(|| {
            TlsSplit::new(
                object.data.clone(),
                format!("Secret {}/{}", sink.namespace, sink.name),
            )
        });
        Ok(sink)
    }

    /// Read the Secret from `cache` (fed by a watch of the Secrets keyway manages) instead of
    /// GETting it: a quiet reconcile makes no API-server read, and a deleted or edited Secret is
    /// seen by the next one.
    #[cfg(feature = "controller")]
    pub fn with_cache(mut self, cache: SecretCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Count restorations in `counter`: writes of the very content this sink wrote or found
    /// before, because the Secret no longer holds it — someone deleted it or edited its data.
    /// (A watch cache that still shows the version from before this sink's own last write is not
    /// counted.) The controller exports the count as `keyway_secret_restorations_total`.
    pub fn with_restoration_counter(mut self, counter: Arc<AtomicU64>) -> Self {
        self.restorations = Some(counter);
        self
    }

    /// The Secret as the cluster holds it now (from the watch cache when there is one).
    async fn live(&self) -> Result<Option<Secret>> {
        #[cfg(feature = "controller")]
        if let Some(cache) = &self.cache
            && let Some(cached) = cache.get(&self.namespace, &self.name).await
        {
            return cached.map_err(|e| self.failure(e));
        }
        self.api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.api_failure(e))
    }

    /// The Secret as the API server holds it: a list of this one name (the controller's role
    /// lists and watches Secrets; it does not get them).
    async fn read(&self) -> Result<Option<Secret>> {
        let params = ListParams::default().fields(&format!("metadata.name={}", self.name));
        let list = self.api.list(&params).await;
        list.map(|l| l.items.into_iter().next())
            .map_err(|e| self.api_failure(e))
    }

    /// Whether `existing` holds exactly `set` as a Secret of this sink's type.
    fn holds(&self, existing: &Secret, set: &FileSet) -> bool {
        if existing.type_.as_deref().unwrap_or("Opaque") != self.secret_type {
            return false;
        }
        if let Some(digest) = digest_of(existing) {
            let files = set.files.iter();
            return digest
                == data_digest(files.map(|(key, f)| (key.as_str(), &f.contents[..]))).as_slice();
        }
        let data = existing.data.as_ref();
        data.map_or(0, |d| d.len()) == set.files.len()
            && set.files.iter().all(|(key, file)| {
                data.and_then(|d| d.get(key))
                    .is_some_and(|value| value.0 == *file.contents)
            })
    }

    /// Take over an existing Secret keyway does not manage (off by default).
    pub fn adopt(mut self, adopt: bool) -> KubernetesSecretSink {
        self.adopt = adopt;
        self
    }

    /// Whether keyway manages `existing` for this owner: the managed label, and its
    /// ownerReference when the sink has an owner — or, for a sink without one (`keyway sync
    /// --to-kubernetes` without a SecretSync), no owner at all: a Secret a SecretSync owns is
    /// that SecretSync's, not taken over (which would drop its ownerReference).
    fn is_ours(&self, existing: &Secret) -> bool {
        existing.labels().contains_key(MANAGED_LABEL)
            && match &self.owner {
                Some(owner) => existing
                    .owner_references()
                    .iter()
                    .any(|r| r.uid == owner.uid),
                None => existing.owner_references().is_empty(),
            }
    }

    /// Why `existing` is not this sink's to write, and what to do.
    fn not_ours(&self, existing: &Secret) -> String {
        let secret = format!("{}/{}", self.namespace, self.name);
        if !existing.labels().contains_key(MANAGED_LABEL) {
            return format!(
                "it exists and keyway did not write it (no {MANAGED_LABEL} label); keyway never \
                 takes over a Secret: delete it (kubectl delete secret -n {} {}) or write another \
                 name",
                self.namespace, self.name
            );
        }
        match (&self.owner, existing.owner_references().first()) {
            (Some(_), None) => format!(
                "keyway wrote it without an owner (keyway sync --to-kubernetes without \
                 --secret-sync); this SecretSync does not take it over: delete it (kubectl delete \
                 secret -n {} {}) and sync again",
                self.namespace, self.name
            ),
            (_, Some(other)) => format!(
                "it belongs to {} {}; it is not taken over: sync into another name, or delete {secret} \
                 if that owner is gone",
                other.kind, other.name
            ),
            (None, None) => format!("{secret} is not keyway's"),
        }
    }

    fn failure(&self, reason: impl Into<String>) -> SyncError {
        SyncError::sink(format!("Secret {}/{}", self.namespace, self.name), reason)
    }

    /// The API server's error `e`, kept under the failure.
    fn api_failure(&self, e: kube::Error) -> SyncError {
        self.failure(e.to_string()).with_cause(e)
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait::async_trait]
impl SecretSink for KubernetesSecretSink {
    async fn apply(&self, set: &FileSet) -> Result<Applied> {
        if set.files.is_empty() {
            // Never a Secret without data (see `SecretSink`).
            return Ok(Applied::Unchanged);
        }
        // A `kubernetes.io/tls` Secret holds the chain under `tls.crt` and the key under
        // `tls.key` (the rule is [`TlsSplit`]'s, which a [`crate::Remap`] applies for other
        // sinks too); an item whose object cannot give them fails, naming the item.
        let tls;
        let set = match &self.tls {
            Some(split) => {
                tls = split.split(set)?;
                &tls
            }
            None => set,
        };
        // Compared with what the cluster holds, not with what this process last wrote: a
        // Secret someone deleted is recreated, one whose data someone edited is restored.
        // The set's hash tells a restoration from an update; only a counted sink pays for it.
        let wanted = self.restorations.as_ref().map(|_| set.content_hash());
        let existing = self.live().await?;
        if let Some(existing) = &existing {
            if !self.is_ours(existing) && !self.adopt {
                return Err(self.failure(self.not_ours(existing)));
            }
            if self.holds(existing, set) {
                lock(&self.last).held = wanted;
                return Ok(Applied::Unchanged);
            }
        }
        let version = existing
            .as_ref()
            .and_then(|s| s.metadata.resource_version.clone());
        {
            let last = lock(&self.last);
            let stale = version.is_some() && version == last.before_write;
            if wanted.is_some()
                && last.held == wanted
                && !stale
                && let Some(counter) = &self.restorations
            {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut labels = self.labels.clone();
        labels.insert(MANAGED_LABEL.into(), String::new());
        let annotations = &self.annotations;
        let data: BTreeMap<&String, String> = set
            .files
            .iter()
            .map(|(key, file)| {
                (
                    key,
                    base64::engine::general_purpose::STANDARD.encode(&*file.contents),
                )
            })
            .collect();
        let mut metadata = json!({"name": self.name, "namespace": self.namespace, "labels": labels, "annotations": annotations});
        if let Some(owner) = &self.owner {
            metadata["ownerReferences"] = json!([owner]);
        }
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": self.secret_type, "data": data});
        let written = self
            .api
            .patch(
                &self.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&secret),
            )
            .await
            .map_err(|e| self.api_failure(e))?;
        #[cfg(feature = "controller")]
        if let Some(cache) = &self.cache {
            cache.wrote(
                &self.namespace,
                &self.name,
                written.metadata.resource_version,
            );
        }
        #[cfg(not(feature = "controller"))]
        let _ = written;
        *lock(&self.last) = LastWrite {
            held: wanted,
            before_write: version,
        };
        Ok(Applied::Written)
    }

    /// The Secret's data, when it exists and keyway manages it (a foreign Secret holds nothing
    /// of ours). Of a `kubernetes.io/tls` Secret, both keys read as the key followed by the
    /// chain, so that whichever object they are read back for splits into the same two values.
    async fn current(&self) -> Result<FileSet> {
        let Some(mut existing) = self.live().await? else {
            return Ok(FileSet::default());
        };
        if digest_of(&existing).is_some() {
            // The cache holds a digest, not the values: the Secret itself is read.
            match self.read().await? {
                Some(read) => existing = read,
                None => return Ok(FileSet::default()),
            }
        }
        if !self.is_ours(&existing) && !self.adopt {
            return Ok(FileSet::default());
        }
        let files = existing
            .data
            .into_iter()
            .flatten()
            .map(|(key, value)| {
                (
                    key,
                    SyncedFile {
                        contents: zeroize::Zeroizing::new(value.0),
                        mode: None,
                    },
                )
            })
            .collect();
        let mut held = FileSet { files };
        if self.secret_type == TLS_TYPE {
            TlsSplit::read_back(&mut held);
        }
        Ok(held)
    }
}
