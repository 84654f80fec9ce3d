//! One emulated vault's state: its name, tenant and URL, its secrets and keys (the [`Store`],
//! loaded from and saved to a state file when the emulator has a state directory), the roles
//! granted on it, and its throttling budget.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::Role;
use super::store::Store;
use super::throttle::{Throttle, ThrottleLimits};
use crate::error::{EmulatorError, Result};

/// One emulated vault's state.
#[derive(Debug)]
pub(crate) struct VaultState {
    pub name: String,
    pub tenant_id: String,
    pub url: OnceLock<String>,
    pub store: Mutex<Store>,
    roles: Mutex<BTreeMap<String, BTreeSet<Role>>>,
    throttle: Mutex<Throttle>,
    pub limits: Mutex<ThrottleLimits>,
    state_file: Option<PathBuf>,
}

impl VaultState {
    pub fn new(name: &str, tenant_id: &str, state_file: Option<PathBuf>) -> Result<VaultState> {
        let store = match &state_file {
            Some(path) if path.exists() => {
                let text = std::fs::read(path).map_err(|e| EmulatorError::State {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                serde_json::from_slice(&text).map_err(|e| EmulatorError::State {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?
            }
            _ => Store::default(),
        };
        Ok(VaultState {
            name: name.to_string(),
            tenant_id: tenant_id.to_string(),
            url: OnceLock::new(),
            store: Mutex::new(store),
            roles: Mutex::new(BTreeMap::new()),
            throttle: Mutex::new(Throttle::default()),
            limits: Mutex::new(ThrottleLimits::default()),
            state_file,
        })
    }

    pub fn url(&self) -> &str {
        self.url.get().map(String::as_str).unwrap_or_default()
    }

    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn grant(&self, object_id: &str, role: Role) {
        let mut roles = self.roles.lock().unwrap_or_else(|p| p.into_inner());
        roles.entry(object_id.to_string()).or_default().insert(role);
    }

    pub fn revoke(&self, object_id: &str, role: Role) {
        let mut roles = self.roles.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = roles.get_mut(object_id) {
            set.remove(&role);
        }
    }

    /// The roles `object_id` holds on this vault.
    pub fn roles_of(&self, object_id: &str) -> BTreeSet<Role> {
        let roles = self.roles.lock().unwrap_or_else(|p| p.into_inner());
        roles.get(object_id).cloned().unwrap_or_default()
    }

    /// Admits a request under the vault's throttling budget (`create`: a `SetSecret`), or says
    /// how many seconds until one would be admitted.
    pub fn admit(&self, create: bool) -> std::result::Result<(), u32> {
        let limits = *self.limits.lock().unwrap_or_else(|p| p.into_inner());
        self.throttle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(create, limits, Instant::now())
    }

    /// Writes the store to the state file, if there is one, atomically and privately: it holds
    /// secret values, so a fresh temporary file is created exclusively (never opening what is
    /// already there, a link included) with mode 0600, then renamed over the state file.
    pub fn persist(&self, store: &Store) {
        let Some(path) = &self.state_file else { return };
        let written = serde_json::to_vec_pretty(store)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_private(path, &bytes));
        if let Err(e) = written {
            tracing::warn!(vault = %self.name, path = %path.display(), error = %e, "cannot persist vault state");
        }
    }
}

/// Writes `bytes` to `path` through a temporary file beside it, created exclusively with mode
/// 0600 (the umask may narrow it, never widen it), then renamed over `path`.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&tmp)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
