//! What the last change did, shown once on the page it redirects to. Kept on the server per
//! session, never in the URL: a link cannot put words on the page.

use std::collections::HashMap;
use std::sync::Mutex;

/// One message, and a command line to copy when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Flash {
    pub text: String,
    pub command: Option<String>,
}

/// The messages waiting, by session.
#[derive(Default)]
pub(crate) struct Flashes {
    waiting: Mutex<HashMap<String, Flash>>,
}

impl Flashes {
    /// Keeps `flash` for the next page `session` opens.
    pub fn set(&self, session: &str, flash: Flash) {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(session.to_string(), flash);
    }

    /// The message waiting for `session`, once.
    pub fn take(&self, session: &str) -> Option<Flash> {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(session)
    }
}
