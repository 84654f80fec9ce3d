//! Reading command input from a file or standard input, and writing outputs safely.

use std::fs;
use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::CliError;

/// Reads `path`, or standard input for `-`.
pub fn read(path: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let mut bytes = Zeroizing::new(Vec::new());
    if path == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::io("<stdin>", e))?;
    } else {
        *bytes = fs::read(path).map_err(|e| CliError::io(path, e))?;
    }
    Ok(bytes)
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
