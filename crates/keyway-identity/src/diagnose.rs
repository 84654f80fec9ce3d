//! The workload identity diagnosis: configuration, the token's claims, the federated credential
//! the user expects, the issuer's published documents and keys, and the exchange at Entra ID —
//! each judged, every problem named with its cause. `keyway identity check` prints it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use crate::assertion::{AssertionSource, ProjectedTokenFile};
use crate::claims::AssertionClaims;
use crate::config::WorkloadIdentityConfig;
use crate::credential::{FederatedCredential, FederatedCredentialOptions};
use crate::error::{IdentityError, Result};
use crate::fic::{FederatedIdentityCredential, MatchReport, Mismatch, TOKEN_EXCHANGE_AUDIENCE};
use crate::oidc::IssuerDiscovery;

/// The Key Vault scope, what `keyway identity check` asks a token for by default.
pub const DEFAULT_DIAGNOSE_SCOPE: &str = "https://vault.azure.net/.default";

/// What [`diagnose`] checks against, and how it reaches the services.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DiagnoseOptions {
    /// The scope to ask a token for.
    pub scope: String,
    /// The issuer the federated identity credential has, as the user believes.
    pub expect_issuer: Option<String>,
    /// The subject the federated identity credential has, as the user believes.
    pub expect_subject: Option<String>,
    /// The client that fetches the issuer's discovery document and JWKS.
    pub http: reqwest::Client,
    /// The options of the credential that performs the exchange.
    pub credential: FederatedCredentialOptions,
}

impl DiagnoseOptions {
    /// Options for `scope` through [`crate::https_client`] and [`crate::client_options`]
    /// (trusting `SSL_CERT_FILE`), with no expectations.
    pub fn new(scope: &str) -> Result<DiagnoseOptions> {
        Ok(DiagnoseOptions {
            scope: scope.to_string(),
            expect_issuer: None,
            expect_subject: None,
            http: crate::http::https_client()?,
            credential: FederatedCredentialOptions {
                client_options: crate::http::client_options()?,
                ..FederatedCredentialOptions::default()
            },
        })
    }
}

/// What [`diagnose`] found. Serialises as `keyway identity check --json` prints it; the token
/// is never part of it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Diagnosis {
    /// The configuration checked.
    pub config: ConfigSection,
    /// The token's claims.
    pub assertion: Option<AssertionSection>,
    /// The token against the expected credential, when an issuer or subject was expected.
    pub fic_match: Option<MatchReport>,
    /// The issuer's documents and keys.
    pub issuer_discovery: Option<DiscoverySection>,
    /// The exchange at Entra ID.
    pub exchange: ExchangeSection,
    /// Every problem; none means workload identity works.
    pub problems: Vec<Problem>,
    /// Observations that are not problems.
    pub notes: Vec<Note>,
}

impl Diagnosis {
    /// No problem found: the exchange worked and everything checked agrees.
    pub fn works(&self) -> bool {
        self.problems.is_empty()
    }

    /// A service could not be reached or failed (rather than answering and refusing), so the
    /// diagnosis is incomplete.
    pub fn unreachable(&self) -> bool {
        self.problems.iter().any(Problem::is_unreachable)
    }
}

/// The configuration checked.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ConfigSection {
    /// The identity's client id.
    pub client_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The service-account token file.
    pub token_file: PathBuf,
    /// The Entra authority host.
    pub authority_host: String,
    /// The scope asked for.
    pub scope: String,
}

/// The token's claims (never the token).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AssertionSection {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `aud`.
    pub audience: Vec<String>,
    /// Seconds until `exp` (negative: expired); none without an `exp` claim.
    pub expires_in_seconds: Option<i64>,
}

/// The issuer's discovery document and keys.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct DiscoverySection {
    /// The discovery document and JWKS were fetched.
    pub reachable: bool,
    /// The JWKS holds the token's key.
    pub key_found: bool,
    /// The token's signature verifies with it.
    pub signature_valid: bool,
    /// What failed.
    pub error: Option<String>,
}

/// The exchange at Entra ID.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct ExchangeSection {
    /// Entra ID issued a token.
    pub ok: bool,
    /// The AADSTS code of a refusal.
    pub aadsts: Option<u32>,
    /// What failed.
    pub error: Option<String>,
    /// Cause and fix of a refusal, with what the token carried.
    pub hint: Option<String>,
    /// Seconds the issued token lives.
    pub expires_in_seconds: Option<i64>,
}

/// One problem [`diagnose`] found. Serialises as its text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The token's `exp` has passed.
    TokenExpired,
    /// The token's audience is not `api://AzureADTokenExchange`.
    WrongAudience,
    /// The issuer's published keys do not verify the token.
    IssuerKeys(IdentityError),
    /// The issuer's discovery document or JWKS could not be fetched or is wrong.
    IssuerDiscovery(IdentityError),
    /// Entra ID refused the exchange; the details are in [`ExchangeSection`].
    EntraRefused {
        /// The AADSTS code.
        aadsts: u32,
    },
    /// The exchange failed without an answer from Entra ID.
    ExchangeFailed(IdentityError),
    /// The token does not match the credential the user expects, and the exchange failed.
    FicMismatch(Mismatch),
}

impl Problem {
    /// A service could not be reached or failed, rather than answering.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Problem::ExchangeFailed(e) if e.is_remote())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::TokenExpired => f.write_str(
                "the service-account token has expired: kubelet should have rotated it (is it a projected volume?)",
            ),
            Problem::WrongAudience => {
                write!(f, "the token's audience is not {TOKEN_EXCHANGE_AUDIENCE}")
            }
            Problem::IssuerKeys(e) => {
                write!(f, "the issuer's published keys do not verify the token: {e}")
            }
            Problem::IssuerDiscovery(e) => write!(
                f,
                "issuer discovery failed ({e}); Entra ID would answer AADSTS90061"
            ),
            Problem::EntraRefused { aadsts } => {
                write!(f, "Entra ID refused the exchange: AADSTS{aadsts}")
            }
            Problem::ExchangeFailed(e) => write!(f, "the exchange failed: {e}"),
            Problem::FicMismatch(m) => write!(f, "federated credential mismatch: {m}"),
        }
    }
}

impl Serialize for Problem {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An observation that is not a problem. Serialises as its text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Note {
    /// The exchange worked, so Entra's record matches the token; the user's expectation is
    /// what differs.
    ExpectationDiffers(Mismatch),
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::ExpectationDiffers(m) => write!(
                f,
                "the exchange succeeded, so Entra's federated credential matches the token; \
                 the expected one does not: {m}"
            ),
        }
    }
}

impl Serialize for Note {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Checks a workload identity setup end to end: reads the token (never printing it), judges its
/// claims, matches them with the expected federated credential, fetches the issuer's documents
/// and verifies the token's signature with them, and exchanges the token at Entra ID.
///
/// What is wrong with the setup is in [`Diagnosis::problems`]; an `Err` is a setup that cannot be
/// diagnosed at all: the token file unreadable or not a JWT, the credential's configuration
/// refused (an authority over plain http, a malformed client id).
pub async fn diagnose(
    config: &WorkloadIdentityConfig,
    options: &DiagnoseOptions,
) -> Result<Diagnosis> {
    let now = OffsetDateTime::now_utc();
    let mut problems = Vec::new();
    let source = ProjectedTokenFile::new(&config.token_file);
    let token = source.assertion().await?;
    let claims = AssertionClaims::peek(token.secret()).map_err(|e| IdentityError::TokenFile {
        path: config.token_file.clone(),
        reason: e.to_string(),
    })?;
    let expires_in = claims.seconds_left(now);
    if expires_in.is_some_and(|s| s <= 0) {
        problems.push(Problem::TokenExpired);
    }
    if !claims.aud.values().contains(&TOKEN_EXCHANGE_AUDIENCE) {
        problems.push(Problem::WrongAudience);
    }
    let assertion = AssertionSection {
        issuer: claims.iss.clone(),
        subject: claims.sub.clone(),
        audience: claims.aud.values().iter().map(|s| s.to_string()).collect(),
        expires_in_seconds: expires_in,
    };

    let fic_match =
        (options.expect_issuer.is_some() || options.expect_subject.is_some()).then(|| {
            let fic = FederatedIdentityCredential {
                name: "expected".into(),
                issuer: options
                    .expect_issuer
                    .clone()
                    .unwrap_or_else(|| claims.iss.clone()),
                subject: options
                    .expect_subject
                    .clone()
                    .unwrap_or_else(|| claims.sub.clone()),
                audiences: vec![TOKEN_EXCHANGE_AUDIENCE.into()],
            };
            fic.match_claims(&claims)
        });

    let discovery = discover(&claims, token.secret(), &options.http, now, &mut problems).await;
    let credential = FederatedCredential::new(
        &config.tenant_id,
        &config.client_id,
        &config.authority_host,
        Arc::new(source),
        options.credential.clone(),
    )?;
    let exchange = exchange(&credential, &options.scope, &mut problems).await;

    // The expected credential is the user's belief about Entra's record. When the exchange
    // worked, Entra's record matches the token, so a mismatch is a wrong expectation (a note);
    // when it failed, the mismatch is the likely cause (a problem).
    let mut notes = Vec::new();
    for mismatch in fic_match.iter().flat_map(|m| &m.mismatches) {
        if exchange.ok {
            notes.push(Note::ExpectationDiffers(mismatch.clone()));
        } else {
            problems.push(Problem::FicMismatch(mismatch.clone()));
        }
    }
    Ok(Diagnosis {
        config: ConfigSection {
            client_id: config.client_id.clone(),
            tenant_id: config.tenant_id.clone(),
            token_file: config.token_file.clone(),
            authority_host: config.authority_host.clone(),
            scope: options.scope.clone(),
        },
        assertion: Some(assertion),
        fic_match,
        issuer_discovery: Some(discovery),
        exchange,
        problems,
        notes,
    })
}

/// The issuer's documents, and the token's signature checked with its keys.
async fn discover(
    claims: &AssertionClaims,
    token: &str,
    http: &reqwest::Client,
    now: OffsetDateTime,
    problems: &mut Vec<Problem>,
) -> DiscoverySection {
    let mut discovery = DiscoverySection::default();
    match IssuerDiscovery::fetch(&claims.iss, http).await {
        Ok(found) => {
            discovery.reachable = true;
            // An expired token is reported on its own; the keys are judged on the signature
            // and issuer alone, at an instant the token was valid.
            let at = match claims.exp {
                Some(exp) if exp <= now.unix_timestamp() => {
                    OffsetDateTime::from_unix_timestamp(exp - 1).unwrap_or(now)
                }
                _ => now,
            };
            match found.verify(token, at) {
                Ok(_) => {
                    discovery.key_found = true;
                    discovery.signature_valid = true;
                }
                Err(e) => {
                    discovery.key_found = !matches!(&e, IdentityError::Token { what: "key", .. });
                    discovery.error = Some(e.to_string());
                    problems.push(Problem::IssuerKeys(e));
                }
            }
        }
        Err(e) => {
            discovery.error = Some(e.to_string());
            problems.push(Problem::IssuerDiscovery(e));
        }
    }
    discovery
}

/// One exchange at Entra ID, bypassing any cache.
async fn exchange(
    credential: &FederatedCredential,
    scope: &str,
    problems: &mut Vec<Problem>,
) -> ExchangeSection {
    let mut exchange = ExchangeSection::default();
    match credential.exchange(&[scope]).await {
        Ok(access) => {
            exchange.ok = true;
            exchange.expires_in_seconds =
                Some((access.expires_on - OffsetDateTime::now_utc()).whole_seconds());
        }
        Err(IdentityError::Entra(refusal)) => {
            problems.push(Problem::EntraRefused {
                aadsts: refusal.aadsts,
            });
            exchange.aadsts = Some(refusal.aadsts);
            exchange.error = Some(refusal.summary);
            exchange.hint = refusal.hint;
        }
        Err(e) => {
            exchange.error = Some(e.to_string());
            problems.push(Problem::ExchangeFailed(e));
        }
    }
    exchange
}
