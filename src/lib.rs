//! # keyway
//!
//! Azure Key Vault secrets and certificates for Kubernetes clusters at the edge, authenticated by
//! workload identity federation — as Rust libraries you can embed, plus the `keyway` CLI.
//!
//! This facade re-exports the focused crates under `crates/` as modules:
//!
//! | module | crate | what it does |
//! |---|---|---|
//! | [`cert`] | `keyway-cert` | certificates stored as secrets (hex, base64, PEM, DER, PKCS#12): decode, convert, order, validate |
//! | [`identity`] | `keyway-identity` | workload identity federation: assertion sources, a caching single-flight `TokenCredential`, FIC matching, OIDC issuer documents, AADSTS hints |
//! | [`sync`] | `keyway-sync` | Key Vault → files and Kubernetes Secrets from SecretProviderClass/SecretSync, fetching only what changed; the SecretSync controller (feature `controller`) |
//! | [`cluster`] | `keyway-cluster` | K3s issuer settings edited line by line, readiness checks, manifests |
//! | [`stores`] | `keyway-stores` | an OPC UA connector's trust list, issuer list and client certificate, and synced secrets: checked, planned, applied, listed, removed |
//! | `emulator` (feature `emulator`) | `keyway-emulator` | local Entra ID, OIDC issuer, Key Vault and Kubernetes API over real HTTPS |
//!
//! [`prelude`] holds the types most programs name; `use keyway::prelude::*;` brings them in.
//!
//! ## Features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! ```
//! use keyway::cert::{decode_value, Bundle, DecodeOptions, ParseOptions};
//! let err = decode_value(b"0a0", DecodeOptions { encoding: Some(keyway::cert::Encoding::Hex), ..Default::default() })
//!     .unwrap_err();
//! assert!(err.to_string().contains("byte offset 3"));
//! # let _ = (Bundle::parse, ParseOptions::default());
//! ```

pub use keyway_cert as cert;
pub use keyway_cluster as cluster;
pub use keyway_identity as identity;
pub use keyway_stores as stores;
pub use keyway_sync as sync;

#[cfg(feature = "emulator")]
pub use keyway_emulator as emulator;

pub mod prelude {
    //! The types most programs name, for `use keyway::prelude::*;`: decoding and validating
    //! certificates, a workload identity credential, and a sync from a SecretProviderClass
    //! through a [`SecretSource`] into a [`SecretSink`]; with features, the Kubernetes pieces
    //! and the emulator.
    //!
    //! ```
    //! use keyway::prelude::*;
    //!
    //! # fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! let spc: SecretProviderClass = keyway::sync::yaml::from_str(
    //!     "apiVersion: secrets-store.csi.x-k8s.io/v1
    //! kind: SecretProviderClass
    //! metadata: {name: app}
    //! spec:
    //!   provider: azure
    //!   parameters:
    //!     keyvaultName: my-vault
    //!     tenantID: 72f988bf-86f1-41af-91ab-2d7cd011db47
    //!     clientID: 00000000-0000-0000-0000-000000000001
    //!     objects: |
    //!       array:
    //!         - |
    //!           objectName: db-password
    //!           objectType: secret
    //! ",
    //! )?;
    //! let spec = SyncSpec::from_provider_class(&spc)?;
    //! assert_eq!(spec.vault_url, "https://my-vault.vault.azure.net");
    //! assert_eq!(spec.outputs(), ["db-password"]);
    //! # Ok(())
    //! # }
    //! ```

    pub use keyway_cert::{
        Bundle, CertError, DecodeOptions, Encoding, ParseOptions, ValidationOptions, decode_value,
    };
    pub use keyway_identity::{
        AssertionSource, FederatedCredential, FederatedCredentialOptions, IdentityError,
        ProjectedTokenFile, WorkloadIdentityConfig,
    };
    pub use keyway_sync::{
        DirectorySink, KeyVaultSource, KeyVaultSourceOptions, MemorySink, MemorySource, Outcome,
        SecretProperties, SecretProviderClass, SecretSink, SecretSource, SecretSync, SecretValue,
        SourceFailure, SyncError, SyncReport, SyncSpec, Syncer,
    };

    #[cfg(feature = "kube")]
    pub use keyway_identity::TokenRequest;

    #[cfg(feature = "kubernetes")]
    pub use keyway_sync::{KubernetesSecretSink, Remap};

    #[cfg(feature = "controller")]
    pub use keyway_sync::controller::{Controller, ControllerOptions, LeaderElection};

    #[cfg(feature = "emulator")]
    pub use keyway_emulator::{Emulator, Role, ServiceAccountToken};
}

/// The README's example, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
