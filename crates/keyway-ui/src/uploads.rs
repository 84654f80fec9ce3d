//! Files between "check" and "apply": an uploaded (or Key Vault) certificate is checked and its
//! details shown before anything is written; the files wait here, in memory only, for the
//! Apply of the same session. Nothing is written to disk; a private key never leaves this map
//! except into the plan that uploads it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use keyway_stores::{InputFile, Store};

use crate::session::random_token;

/// How long checked files wait for Apply.
const TTL: Duration = Duration::from_secs(30 * 60);

/// At most this many checked uploads wait at once; the oldest goes first.
const MAX_PENDING: usize = 32;

/// The most a file may weigh.
pub const MAX_FILE_BYTES: usize = 64 * 1024;

/// Checked files waiting for Apply.
#[derive(Clone)]
pub(crate) struct Pending {
    /// The session that uploaded them.
    pub session: String,
    /// The files (a client certificate: its certificate and its key).
    pub files: Vec<InputFile>,
    /// The client certificate's pair goes to the client store only.
    pub client: bool,
    created: Instant,
}

/// The waiting uploads.
#[derive(Default)]
pub(crate) struct Uploads {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Uploads {
    /// Keeps `files` for `session`; returns the upload's id.
    pub fn keep(&self, session: &str, files: Vec<InputFile>, client: bool) -> String {
        let id = random_token()[..32].to_string();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, p| p.created.elapsed() < TTL);
        if pending.len() >= MAX_PENDING
            && let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.created)
                .map(|(k, _)| k.clone())
        {
            pending.remove(&oldest);
        }
        pending.insert(
            id.clone(),
            Pending {
                session: session.to_string(),
                files,
                client,
                created: Instant::now(),
            },
        );
        id
    }

    /// The files of upload `id`, when `session` uploaded them and they have not expired.
    pub fn get(&self, session: &str, id: &str) -> Option<Pending> {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending
            .get(id)
            .filter(|p| p.session == session && p.created.elapsed() < TTL)
            .cloned()
    }

    /// Forgets upload `id` (applied).
    pub fn forget(&self, id: &str) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

/// The store a pending upload may go to, from the form's `store` field.
pub(crate) fn store_for(pending: &Pending, asked: Option<Store>) -> Option<Store> {
    if pending.client {
        return Some(Store::Client);
    }
    match asked {
        Some(Store::Client) | None => None,
        other => other,
    }
}
