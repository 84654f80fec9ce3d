//! Where the federated assertion (a service-account JWT) comes from: the seam that lets the
//! same credential run in a pod (projected token file), in a controller (the Kubernetes
//! TokenRequest API, `TokenRequest` with feature `kube`), or in a test (a fixed string).

use std::fmt;
use std::path::{Path, PathBuf};

use azure_core::credentials::Secret;

use crate::error::{IdentityError, Result};

/// A source of service-account JWTs to present to Entra ID.
#[async_trait::async_trait]
pub trait AssertionSource: Send + Sync + fmt::Debug {
    /// The assertion to send now. Called for every exchange: sources must not hand out a token
    /// they know to be stale.
    async fn assertion(&self) -> Result<Secret>;
}

/// The projected token file kubelet keeps fresh (`AZURE_FEDERATED_TOKEN_FILE`). Read afresh
/// and trimmed for every exchange, so a rotated token is always the one sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectedTokenFile {
    path: PathBuf,
}

impl ProjectedTokenFile {
    /// A source reading `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ProjectedTokenFile { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait::async_trait]
impl AssertionSource for ProjectedTokenFile {
    async fn assertion(&self) -> Result<Secret> {
        let error = |reason: String| IdentityError::TokenFile {
            path: self.path.clone(),
            reason,
        };
        let bytes = tokio::fs::read(&self.path).await.map_err(|e| {
            error(match e.kind() {
                std::io::ErrorKind::NotFound => "does not exist".into(),
                std::io::ErrorKind::PermissionDenied => "cannot be read (permission denied)".into(),
                _ => format!("cannot be read: {e}"),
            })
        })?;
        let text = String::from_utf8(bytes).map_err(|_| error("is not text".into()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(error("is empty".into()));
        }
        Ok(Secret::new(token.to_string()))
    }
}

/// A fixed assertion (tests, or a token obtained some other way).
#[derive(Clone)]
pub struct StaticAssertion(Secret);

impl StaticAssertion {
    /// A source that always answers `token`.
    pub fn new(token: impl Into<String>) -> Self {
        StaticAssertion(Secret::new(token.into()))
    }
}

impl fmt::Debug for StaticAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticAssertion(<redacted>)")
    }
}

#[async_trait::async_trait]
impl AssertionSource for StaticAssertion {
    async fn assertion(&self) -> Result<Secret> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn token_file_is_trimmed_and_reread() {
        let path =
            std::env::temp_dir().join(format!("keyway-identity-token-{}", std::process::id()));
        let source = ProjectedTokenFile::new(&path);
        let missing = source.assertion().await.unwrap_err().to_string();
        assert!(
            missing.contains("does not exist") && missing.contains("AZURE_FEDERATED_TOKEN_FILE"),
            "{missing}"
        );
        std::fs::write(&path, "first\n").unwrap();
        assert_eq!(source.assertion().await.unwrap().secret(), "first");
        std::fs::write(&path, "  second \r\n").unwrap();
        assert_eq!(source.assertion().await.unwrap().secret(), "second");
        std::fs::write(&path, "\n").unwrap();
        assert!(
            source
                .assertion()
                .await
                .unwrap_err()
                .to_string()
                .contains("is empty")
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            format!("{:?}", StaticAssertion::new("t0ken")),
            "StaticAssertion(<redacted>)"
        );
    }
}
