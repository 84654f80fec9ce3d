//! # keyway-identity
//!
//! Workload identity federation that never goes stale and says exactly what is wrong: a
//! Kubernetes service-account token (a projected file, the TokenRequest API, or a fixed string —
//! the [`AssertionSource`] seam) exchanged at Microsoft Entra ID for an Azure token by
//! [`FederatedCredential`], an `azure_core` `TokenCredential` every official Azure SDK client
//! accepts.
//!
//! What it fixes, compared with the SDK's own `WorkloadIdentityCredential`: the token file is
//! re-read and trimmed for every exchange (no stale AADSTS700024 tokens), the authority may be
//! loopback http only with an explicit opt-in, Entra's error descriptions (with their `\r\n`
//! lines) are parsed without losing the AADSTS code, concurrent callers share one request, and
//! every failure comes with a hint that names what the token actually carried.
//!
//! [`diagnose`] checks a setup end to end (what `keyway identity check` prints), and
//! [`check_https`] is the one https/loopback policy for every URL that carries a token.
//!
//! Also here: the federated identity credential model ([`FederatedIdentityCredential`],
//! [`MatchReport`]), OIDC issuer documents ([`OpenIdConfiguration`], [`Jwks`], with
//! Kubernetes' `kid` rule) and [`IssuerDiscovery`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use keyway_identity::{FederatedCredential, FederatedCredentialOptions};
//! // AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST
//! let credential = FederatedCredential::from_env(FederatedCredentialOptions::default())?;
//! let token = credential.token(&["https://vault.azure.net/.default"]).await?;
//! # let _ = token; Ok(()) }
//! ```
//!
//! ## Features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod assertion;
mod claims;
mod config;
mod credential;
mod diagnose;
mod diagnostics;
mod error;
mod fic;
mod http;
mod oidc;
#[cfg(feature = "kube")]
mod token_request;

pub use assertion::{AssertionSource, ProjectedTokenFile, StaticAssertion};
pub use claims::{AssertionClaims, Audience};
pub use config::{DEFAULT_AUTHORITY_HOST, WorkloadIdentityConfig};
pub use credential::{FederatedCredential, FederatedCredentialOptions};
pub use diagnose::{
    AssertionSection, ConfigSection, DEFAULT_DIAGNOSE_SCOPE, DiagnoseOptions, Diagnosis,
    DiscoverySection, ExchangeSection, Note, Problem, diagnose,
};
pub use diagnostics::{entra_error, hint};
pub use error::{EntraError, IdentityError, InsecureReason, Result, root_cause, transport_failure};
pub use fic::{
    Difference, FederatedIdentityCredential, MatchReport, Mismatch, TOKEN_EXCHANGE_AUDIENCE,
    subject_for,
};
pub use http::{check_https, client_options, https_client, is_loopback};
pub use oidc::{IssuerDiscovery, Jwk, Jwks, OpenIdConfiguration, kubernetes_kid};
#[cfg(feature = "kube")]
pub use token_request::TokenRequest;

/// The README's example, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
