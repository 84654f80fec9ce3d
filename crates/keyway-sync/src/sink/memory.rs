//! An in-memory sink.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Result;
use crate::sink::{Applied, FileSet, SecretSink};

/// Holds the last applied set; counts writes.
#[derive(Debug, Default)]
pub struct MemorySink {
    set: Mutex<Option<FileSet>>,
    writes: AtomicU64,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The set last applied.
    pub fn contents(&self) -> Option<FileSet> {
        self.set.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many times `apply` wrote.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

#[async_trait::async_trait]
impl SecretSink for MemorySink {
    async fn apply(&self, set: &FileSet) -> Result<Applied> {
        let mut held = self.set.lock().unwrap_or_else(|p| p.into_inner());
        if held.as_ref() == Some(set) {
            return Ok(Applied::Unchanged);
        }
        *held = Some(set.clone());
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(Applied::Written)
    }

    async fn current(&self) -> Result<FileSet> {
        let held = self.set.lock().unwrap_or_else(|p| p.into_inner());
        Ok(held.clone().unwrap_or_default())
    }
}
