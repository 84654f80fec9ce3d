//! The manifests keyway reads (SecretProviderClass, SecretSync) and the validated spec built
//! from them.

pub mod objects;
pub mod secret_provider_class;
pub mod secret_sync;
pub mod spec;

/// The CustomResourceDefinitions of the resources keyway reads, generated from the Rust types
/// (what `deploy/crds/` holds): SecretSync and SecretProviderClass.
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt;
    vec![
        secret_sync::SecretSync::crd(),
        secret_provider_class::SecretProviderClass::crd(),
    ]
}
