//! Uploading a file as a Key Vault secret exactly as `az keyvault secret set --encoding` does:
//! the encoded value, the `file-encoding` tag, and Key Vault's limits checked before any request.

use std::collections::HashMap;

use azure_security_keyvault_secrets::models::SetSecretParameters;
use azure_security_keyvault_secrets::{ResourceExt, SecretClient};
use keyway_cert::{Encoding, encode_for_upload};
use zeroize::Zeroizing;

use crate::error::{Result, SyncError};
use crate::source::vault_error::{VaultOperation, source_error};

/// The largest secret value Key Vault stores: 25 KiB.
pub const MAX_SECRET_VALUE_BYTES: usize = 25 * 1024;

/// The tag `az keyvault secret set --encoding` writes, naming how the value encodes the file.
pub const FILE_ENCODING_TAG: &str = "file-encoding";

/// Checks a Key Vault secret name: 1–127 characters of `0-9`, `a-z`, `A-Z` and `-`.
///
/// ```
/// assert!(keyway_sync::source::check_secret_name("opcua-server-der").is_ok());
/// assert!(keyway_sync::source::check_secret_name("server.der").is_err());
/// ```
pub fn check_secret_name(name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("is empty".to_string())
    } else if name.len() > 127 {
        Some(format!("is {} characters long; at most 127", name.len()))
    } else {
        name.char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-'))
            .map(|(at, c)| format!("has {c:?} at offset {at}"))
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(SyncError::invalid(
            "secret name",
            format!(
                "{name:?} {problem}: Key Vault names are 1-127 characters of 0-9, a-z, A-Z and - \
                 (for a file name, replace '.' and '_' with '-')"
            ),
        )),
    }
}

/// A file ready to be set as a secret: name checked, value encoded and within Key Vault's
/// limit. `Debug` shows the name and size, never the value.
pub struct SecretUpload {
    name: String,
    value: Zeroizing<String>,
    encoding: Encoding,
    content_type: Option<String>,
}

impl std::fmt::Debug for SecretUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretUpload")
            .field("name", &self.name)
            .field("value_len", &self.value.len())
            .field("encoding", &self.encoding)
            .field("content_type", &self.content_type)
            .finish()
    }
}

impl SecretUpload {
    /// Encodes `bytes` as `az keyvault secret set --encoding <encoding>` would, refusing a bad
    /// name, a file that does not decode in a text encoding, or a value over 25 KiB — before
    /// any request is made.
    pub fn new(
        name: &str,
        bytes: &[u8],
        encoding: Encoding,
        content_type: Option<&str>,
    ) -> Result<SecretUpload> {
        check_secret_name(name)?;
        let value = Zeroizing::new(
            encode_for_upload(bytes, encoding)
                .map_err(|e| SyncError::invalid("file", e.to_string()))?,
        );
        if value.len() > MAX_SECRET_VALUE_BYTES {
            return Err(SyncError::invalid(
                "file",
                format!(
                    "encoded as {encoding} the value is {} bytes; Key Vault stores at most {} \
                     (25 KiB){}",
                    value.len(),
                    MAX_SECRET_VALUE_BYTES,
                    if encoding == Encoding::Hex {
                        "; base64 makes binary files a third smaller than hex"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Ok(SecretUpload {
            name: name.to_string(),
            value,
            encoding,
            content_type: content_type.map(str::to_string),
        })
    }

    /// The secret's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The encoded value's length in bytes.
    pub fn value_len(&self) -> usize {
        self.value.len()
    }

    /// Sets the secret through `client`: the value, the content type and the `file-encoding`
    /// tag. Returns the new version. A refusal carries Key Vault's code and message, and for a
    /// 403 the role that allows setting secrets.
    pub async fn send(&self, client: &SecretClient) -> Result<String> {
        let parameters = SetSecretParameters {
            value: Some(self.value.to_string()),
            content_type: self.content_type.clone(),
            tags: Some(HashMap::from([(
                FILE_ENCODING_TAG.to_string(),
                self.encoding.to_string(),
            )])),
            ..Default::default()
        };
        let vault = client.endpoint().to_string();
        let fail = |e| source_error(&vault, &self.name, VaultOperation::WriteSecret, e);
        let body = parameters.try_into().map_err(fail)?;
        let secret = client
            .set_secret(&self.name, body, None)
            .await
            .map_err(fail)?
            .into_model()
            .map_err(fail)?;
        Ok(secret
            .resource_id()
            .ok()
            .and_then(|id| id.version)
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_key_vault() {
        assert!(check_secret_name("a").is_ok());
        assert!(check_secret_name(&"a".repeat(127)).is_ok());
        for bad in ["", "server.der", "edge_vault", "ü", &"a".repeat(128)] {
            let e = check_secret_name(bad).unwrap_err().to_string();
            assert!(e.starts_with("secret name: "), "{e}");
        }
        let e = check_secret_name("server.der").unwrap_err().to_string();
        assert!(e.contains("'.' at offset 6"), "{e}");
    }

    #[test]
    fn values_over_25_kib_are_refused_before_any_request() {
        let e = SecretUpload::new("big", &[0u8; 12_801], Encoding::Hex, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("25602 bytes") && e.contains("base64"), "{e}");
        let fits = SecretUpload::new("big", &[0u8; 12_800], Encoding::Hex, None).unwrap();
        assert_eq!(fits.value_len(), MAX_SECRET_VALUE_BYTES);
        assert!(!format!("{fits:?}").contains("0000"));
    }
}
