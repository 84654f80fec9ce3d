//! # keyway-emulator
//!
//! Local stand-ins for the cloud keyway talks to — Microsoft Entra ID's token endpoint, a
//! Kubernetes OIDC issuer, Azure Key Vault's secrets and keys APIs, and a Kubernetes API server —
//! over real HTTPS with real JWT
//! signatures, so everything runs offline: keyway's tests, `keyway demo`, `keyway dev`, and your
//! own tests. The official Azure SDK for Rust clients work against it unchanged (only the
//! transport, cloud and challenge-verification settings differ).
//!
//! Each service listens on its own loopback port with a certificate from a CA made fresh for
//! each emulator. Failures are answered the way the real services answer them (AADSTS codes,
//! Key Vault error bodies, 401 challenges, 403 `ForbiddenByRbac`, 429 `Throttled` with
//! `Retry-After`), faults can be injected, and every request is counted.
//!
//! See `docs/emulator.md` for what is emulated and what is not.
//!
//! ## Features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod arm;
mod clock;
mod control;
mod counters;
mod directory;
mod emulator;
mod entra;
mod error;
mod faults;
mod issuer;
mod keyvault;
mod kubernetes;
mod server;
mod signing;
mod state;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;

pub use arm::{ARM_RESOURCE, IotOperationsInstance, SECRET_SYNC_API_VERSION};
pub use control::FaultRequest;
pub use counters::{Counters, KubernetesRequestCount, RequestCount, Service};
pub use directory::Identity;
pub use emulator::{Emulator, EmulatorOptions};
pub use error::{EmulatorError, Result};
pub use faults::Faults;
pub use issuer::ServiceAccountToken;
pub use keyvault::{API_VERSIONS, KEY_VAULT_RESOURCE, Role, SecretSpec, ThrottleLimits, Vault};
pub use keyway_identity::{
    FederatedIdentityCredential, Jwks, TOKEN_EXCHANGE_AUDIENCE, kubernetes_kid,
};
pub use kubernetes::ApiAccess;

/// The README's example, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
