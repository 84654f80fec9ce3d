//! Reading command input from a file or standard input, and writing outputs safely.

use std::fs;
use std::io::{Read, Write};
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

/// Writes `contents` to `path` atomically (a temporary file in the same directory, then a
/// rename), readable only by the owner when `sensitive`.
pub fn write_atomic(path: &Path, contents: &[u8], sensitive: bool) -> Result<(), CliError> {
    let shown = path.display().to_string();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Input(format!("{shown}: not a file path")))?;
    let tmp = dir.join(format!(".{}.keyway-tmp", name.to_string_lossy()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if sensitive { 0o600 } else { 0o644 });
    }
    let result = options.open(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    if let Err(e) = result.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(CliError::io(shown, e));
    }
    Ok(())
}
