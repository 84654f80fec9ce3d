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
//! | `emulator` (feature `emulator`) | `keyway-emulator` | local Entra ID, OIDC issuer, Key Vault and Kubernetes API over real HTTPS |
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
pub use keyway_sync as sync;

#[cfg(feature = "emulator")]
pub use keyway_emulator as emulator;
