//! Reading command input from a file or standard input, and writing outputs safely.

use std::fs;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::CliError;

/// The most read of a secret value's file or standard input: twice Key Vault's 25 KiB, past
/// anything that could be stored in any encoding (UTF-16 takes two bytes for three of UTF-8),
/// so a value in that range still gets the upload's own size message.
pub const MAX_SECRET_INPUT_BYTES: usize = 2 * keyway_sync::source::MAX_SECRET_VALUE_BYTES;

/// Reads `path`, or standard input for `-`, through keyway-stores' bounded reader: more than
/// `limit` bytes (a wrong file, `/dev/zero`) is an input error (exit 2) naming the file and the
/// limit, found after reading `limit + 1` bytes. Certificate, key, CRL and PKCS#12 files take
/// [`keyway_stores::MAX_INPUT_FILE_BYTES`]; secret values [`MAX_SECRET_INPUT_BYTES`].
pub fn read_limited(path: &str, limit: usize) -> Result<Zeroizing<Vec<u8>>, CliError> {
    if path == "-" {
        keyway_stores::read_bounded(std::io::stdin().lock(), limit)
            .map_err(|e| CliError::io("<stdin>", e))
    } else {
        fs::File::open(path)
            .and_then(|file| keyway_stores::read_bounded(file, limit))
            .map_err(|e| CliError::io(path, e))
    }
}

/// The most read of a manifest, a configuration file or a PEM bundle: far past any Kubernetes
/// object (the API server stores at most 1.5 MiB) or K3s configuration.
pub const MAX_MANIFEST_BYTES: usize = 8 * 1024 * 1024;

/// Reads `path`, or standard input for `-`: manifests, configuration files and issuers' PEM
/// files, at most [`MAX_MANIFEST_BYTES`]; a user's certificate or secret value goes through
/// [`read_limited`] with its own, smaller limit.
pub fn read(path: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    read_limited(path, MAX_MANIFEST_BYTES)
}

/// Writes `contents` to `path` atomically, readable only by the owner when `sensitive`: a fresh
/// temporary file under a random name beside it, created exclusively without following links
/// and with its mode from the start, then renamed over `path`
/// ([`keyway_cluster::safe_file::write_atomic`]). Whatever another user planted at a
/// temporary-looking name is never opened, and a link at `path` is replaced, not followed.
pub fn write_atomic(path: &Path, contents: &[u8], sensitive: bool) -> Result<(), CliError> {
    let mode = if sensitive { 0o600 } else { 0o644 };
    keyway_cluster::safe_file::write_atomic(path, contents, mode)
        .map_err(|e| CliError::io(path.display().to_string(), e))
}
