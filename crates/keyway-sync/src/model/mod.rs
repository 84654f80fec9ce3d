//! The manifests keyway reads (SecretProviderClass, SecretSync) and the validated spec built
//! from them.

pub mod documents;
pub mod objects;
pub mod secret_provider_class;
pub mod secret_sync;
pub mod spec;
pub mod vault_name;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// The upstream CustomResourceDefinitions, as shipped in `crds/` (each file names its origin,
/// commit and licence), by file name.
pub const CRD_FILES: [(&str, &str); 2] = [
    (
        "secretsyncs.secret-sync.x-k8s.io.yaml",
        include_str!("../../crds/secretsyncs.secret-sync.x-k8s.io.yaml"),
    ),
    (
        "secretproviderclasses.secrets-store.csi.x-k8s.io.yaml",
        include_str!("../../crds/secretproviderclasses.secrets-store.csi.x-k8s.io.yaml"),
    ),
];

/// The CustomResourceDefinitions of the resources keyway reads: SecretSync (`v1alpha1`) and
/// SecretProviderClass (`v1` stored, `v1alpha1` served) — the upstream projects' own
/// definitions, unmodified (what `deploy/crds/` holds), so installing them where the Secrets
/// Store CSI driver or the Secret Store extension already did changes nothing they rely on.
pub fn crds() -> Vec<CustomResourceDefinition> {
    CRD_FILES
        .iter()
        .map(|(name, text)| {
            crate::yaml::from_str(text)
                // Embedded at build time and parsed by this crate's tests: cannot fail at run time.
                .unwrap_or_else(|e| panic!("the embedded CRD {name} does not parse: {e}"))
        })
        .collect()
}
