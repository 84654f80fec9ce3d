//! Whether the cluster serves the custom resources keyway reads and writes, checked once before
//! anything else, so a missing CRD is one sentence with its fix instead of a 404 per request.

use kube::core::discovery::ApiResource;
use kube::{Api, Client, Resource};

use crate::error::{Result, SyncError};
use crate::model::secret_provider_class::SecretProviderClass;
use crate::model::secret_sync::SecretSync;

/// Checks that the cluster serves SecretProviderClass and SecretSync: a
/// [`SyncError::MissingCrd`] names the first one it does not, and how to install it.
pub async fn require_crds(client: &Client) -> Result<()> {
    require::<SecretProviderClass>(client).await?;
    require::<SecretSync>(client).await
}

async fn require<K>(client: &Client) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let resource = ApiResource::erase::<K>(&());
    let api: Api<K> = Api::all(client.clone());
    match api.list(&kube::api::ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(SyncError::MissingCrd {
            name: format!("{}.{}", resource.plural, resource.group),
            version: resource.api_version,
        }),
        // Anything else (RBAC, the network) is for the real request to report.
        Err(_) => Ok(()),
    }
}
