//! The manifests keyway reads (SecretProviderClass, SecretSync) and the validated spec built
//! from them.

pub mod objects;
pub mod secret_provider_class;
pub mod secret_sync;
pub mod spec;
