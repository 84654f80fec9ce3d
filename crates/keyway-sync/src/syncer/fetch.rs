//! Stage 2, fetch: every wanted value read at once (the source bounds concurrency and rate),
//! with progress reported as reads complete.

use std::sync::atomic::{AtomicUsize, Ordering};

use time::OffsetDateTime;

use crate::error::Result;
use crate::model::objects::ObjectType;
use crate::source::{KeyValue, SecretValue};

use super::Syncer;
use super::plan::Want;

/// A value read this cycle.
pub(super) enum Fetched {
    Secret(SecretValue),
    Key(KeyValue),
}

/// What the fetch stage read: each want with its result, in the order wanted.
pub(super) struct Reads<'a> {
    pub(super) reads: Vec<(Want<'a>, Result<Fetched>)>,
    /// When the reads started: a write in an earlier second is certainly seen by them.
    pub(super) fetched_at: OffsetDateTime,
}

impl Syncer {
    /// Stage 2: reads every want.
    pub(super) async fn fetch<'a>(&self, wants: Vec<Want<'a>>) -> Reads<'a> {
        let fetched_at = OffsetDateTime::now_utc();
        let done = AtomicUsize::new(0);
        let total = wants.len();
        let results = futures::future::join_all(wants.iter().map(|want| async {
            let result = self.read(want).await;
            if let Some(progress) = &self.progress {
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            }
            result
        }))
        .await;
        Reads {
            reads: wants.into_iter().zip(results).collect(),
            fetched_at,
        }
    }

    /// One read: a key's public half for key objects, else the secret.
    async fn read(&self, want: &Want<'_>) -> Result<Fetched> {
        let (name, version) = (&want.object.name, want.version.as_deref());
        if want.object.object_type == ObjectType::Key {
            self.source.get_key(name, version).await.map(Fetched::Key)
        } else {
            self.source.get(name, version).await.map(Fetched::Secret)
        }
    }
}
