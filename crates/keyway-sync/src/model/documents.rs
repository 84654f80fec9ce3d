//! Manifests as people hand them over: a file may hold several YAML documents (what `keyway
//! cluster render` prints: ServiceAccount, SecretProviderClass, SecretSync), so the one wanted
//! is picked by its `kind`, and a file without it says which kind was expected and what it holds.

use kube::Resource;
use serde::de::DeserializeOwned;

use crate::error::{Result, SyncError};

/// The one document of kind `K` in `yaml` (one or more YAML documents). Errors name the
/// document (`document 2`) and say which kind was expected and which kinds were found.
///
/// ```
/// use keyway_sync::{SecretProviderClass, model::documents::pick};
/// let yaml = "kind: ServiceAccount\napiVersion: v1\nmetadata: {name: sa}\n---\n\
///             kind: SecretProviderClass\napiVersion: secrets-store.csi.x-k8s.io/v1\n\
///             metadata: {name: vault}\nspec: {provider: azure, parameters: {}}\n";
/// let spc: SecretProviderClass = pick(yaml)?;
/// assert_eq!(spc.metadata.name.as_deref(), Some("vault"));
/// assert!(pick::<keyway_sync::SecretSync>(yaml).unwrap_err().to_string().contains("no SecretSync"));
/// # Ok::<(), keyway_sync::SyncError>(())
/// ```
pub fn pick<K>(yaml: &str) -> Result<K>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let expected = K::kind(&());
    let mut found = Vec::new();
    let mut matches = Vec::new();
    let documents = crate::yaml::documents(yaml)
        .map_err(|e| SyncError::invalid("input", format!("is not YAML: {e}")))?;
    for (i, value) in documents.into_iter().enumerate() {
        let at = format!("document {}", i + 1);
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .map(str::to_string);
        match kind {
            Some(kind) if kind == expected => matches.push((at, value)),
            Some(kind) => found.push(kind),
            None => found.push(format!("{at} without a kind")),
        }
    }
    match matches.len() {
        1 => {
            let (at, value) = matches.remove(0);
            serde_json::from_value(value)
                .map_err(|e| SyncError::invalid(&at, format!("is not a valid {expected}: {e}")))
        }
        0 => Err(SyncError::invalid(
            "kind",
            format!(
                "no {expected} here (found: {}); give a file holding a {expected} (with `kind: {expected}`)",
                if found.is_empty() {
                    "nothing".to_string()
                } else {
                    found.join(", ")
                }
            ),
        )),
        n => Err(SyncError::invalid(
            "kind",
            format!(
                "{n} {expected} documents ({}); give a file holding one",
                matches
                    .iter()
                    .map(|(at, _)| at.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}
