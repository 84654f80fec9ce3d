//! Validation: findings about a bundle at a given time. Parsing never judges; this does.

use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::algorithm::is_weak_signature;
use crate::bundle::Bundle;
use crate::certificate::Certificate;
use crate::chain::ChainOrder;
use crate::private_key::KeyAlgorithm;

/// How bad a finding is. An `Error` means the bundle should not be used as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Must be fixed.
    Error,
    /// Works, but deserves attention.
    Warning,
    /// Worth knowing.
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// The stable code of a finding. Scripts match on these; they never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingCode {
    /// The certificate's validity ended before the evaluation time.
    Expired,
    /// The certificate's validity starts after the evaluation time.
    NotYetValid,
    /// The certificate ends within the warning window.
    ExpiresSoon,
    /// The chain does not reach a self-signed root, or some certificates do not link into it.
    ChainIncomplete,
    /// The input was not in leaf → root order; outputs put it in that order.
    ChainReordered,
    /// A signature does not verify with its issuer's key.
    SignatureInvalid,
    /// A signature uses an algorithm that cannot be checked here.
    SignatureUnchecked,
    /// A certificate that signed another is not a CA (or may not sign certificates).
    IssuerNotCa,
    /// A CA's path length constraint is exceeded.
    PathLengthExceeded,
    /// A certificate is self-signed.
    SelfSigned,
    /// An RSA key shorter than 2048 bits.
    WeakKey,
    /// A signature made with MD5 or SHA-1.
    WeakSignature,
    /// A private key does not belong to the leaf certificate.
    KeyMismatch,
    /// There is no certificate at all.
    NoCertificate,
    /// A CRL is past its next update.
    CrlExpired,
    /// A PEM block was skipped.
    IgnoredBlock,
    /// A secret is stored encoded (its `file-encoding` tag says hex or base64) and is written
    /// as stored because the object sets no `objectEncoding` (as the Secrets Store CSI Azure
    /// provider does); set `objectEncoding` to write the decoded bytes.
    StoredEncoded,
}

impl FindingCode {
    /// The code as it appears in JSON (`expired`, `chain_incomplete`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::Expired => "expired",
            FindingCode::NotYetValid => "not_yet_valid",
            FindingCode::ExpiresSoon => "expires_soon",
            FindingCode::ChainIncomplete => "chain_incomplete",
            FindingCode::ChainReordered => "chain_reordered",
            FindingCode::SignatureInvalid => "signature_invalid",
            FindingCode::SignatureUnchecked => "signature_unchecked",
            FindingCode::IssuerNotCa => "issuer_not_ca",
            FindingCode::PathLengthExceeded => "path_length_exceeded",
            FindingCode::SelfSigned => "self_signed",
            FindingCode::WeakKey => "weak_key",
            FindingCode::WeakSignature => "weak_signature",
            FindingCode::KeyMismatch => "key_mismatch",
            FindingCode::NoCertificate => "no_certificate",
            FindingCode::CrlExpired => "crl_expired",
            FindingCode::IgnoredBlock => "ignored_block",
            FindingCode::StoredEncoded => "stored_encoded",
        }
    }
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing validation found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// The stable code.
    pub code: FindingCode,
    /// A sentence for people, naming the certificate and the fix where known.
    pub message: String,
    /// The index (input order) of the certificate concerned, if one is.
    pub certificate: Option<usize>,
}

/// What validation is judged against. The evaluation time is an input: validation never reads
/// the clock.
#[derive(Debug, Clone, Copy)]
pub struct ValidationOptions {
    /// The time at which validity is judged.
    pub at: OffsetDateTime,
    /// How close to expiry a certificate gets an `expires_soon` warning (default 30 days).
    pub expiry_warning: Duration,
}

impl ValidationOptions {
    /// Judged at `at`, with the default 30-day expiry warning.
    pub fn at(at: OffsetDateTime) -> Self {
        ValidationOptions {
            at,
            expiry_warning: Duration::days(30),
        }
    }
}

/// The chain order and the findings for a bundle.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Validation {
    /// The chain order found.
    pub chain: ChainOrder,
    /// The findings, errors first, then warnings, then information; within a severity, by
    /// certificate, then chain, then keys.
    pub findings: Vec<Finding>,
}

impl Validation {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings with this code.
    pub fn with_code(&self, code: FindingCode) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.code == code)
    }
}

impl Bundle {
    /// Orders the chain and judges the bundle at `options.at`.
    pub fn validate(&self, options: &ValidationOptions) -> Validation {
        let certs = self.certificates();
        let chain = ChainOrder::of(certs);
        let mut out = Findings(Vec::new());

        if certs.is_empty() && self.crls().is_empty() {
            out.push(
                Severity::Error,
                FindingCode::NoCertificate,
                "the secret holds no certificate".to_string(),
                None,
            );
        }
        for (i, cert) in certs.iter().enumerate() {
            validity(&mut out, i, cert, options);
            strength(&mut out, i, cert);
        }
        links(&mut out, certs, &chain);
        keys(&mut out, self, &chain);
        for (i, crl) in self.crls().iter().enumerate() {
            if let Some(next) = crl.details().next_update.filter(|next| *next < options.at) {
                out.push(
                    Severity::Warning,
                    FindingCode::CrlExpired,
                    format!(
                        "CRL {i} from {} was due to be replaced at {}; publish a fresh one",
                        crl.details().issuer,
                        rfc3339(next)
                    ),
                    None,
                );
            }
        }
        for label in self.ignored_blocks() {
            out.push(
                Severity::Info,
                FindingCode::IgnoredBlock,
                format!("PEM block {label} was skipped"),
                None,
            );
        }
        Validation {
            chain,
            findings: out.0,
        }
    }
}

struct Findings(Vec<Finding>);

impl Findings {
    fn push(
        &mut self,
        severity: Severity,
        code: FindingCode,
        message: String,
        certificate: Option<usize>,
    ) {
        self.0.push(Finding {
            severity,
            code,
            message,
            certificate,
        });
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn name(i: usize, cert: &Certificate) -> String {
    format!("certificate {i} ({})", cert.details().subject)
}

fn validity(out: &mut Findings, i: usize, cert: &Certificate, options: &ValidationOptions) {
    let d = cert.details();
    if d.not_after < options.at {
        out.push(
            Severity::Error,
            FindingCode::Expired,
            format!("{} expired at {}", name(i, cert), rfc3339(d.not_after)),
            Some(i),
        );
    } else if d.not_before > options.at {
        out.push(
            Severity::Error,
            FindingCode::NotYetValid,
            format!(
                "{} is not valid before {} (check the clock, or the issuing CA's)",
                name(i, cert),
                rfc3339(d.not_before)
            ),
            Some(i),
        );
    } else if d.not_after - options.at < options.expiry_warning {
        let left = d.not_after - options.at;
        out.push(
            Severity::Warning,
            FindingCode::ExpiresSoon,
            format!(
                "{} expires at {} ({} days left); renew it",
                name(i, cert),
                rfc3339(d.not_after),
                left.whole_days()
            ),
            Some(i),
        );
    }
}

fn strength(out: &mut Findings, i: usize, cert: &Certificate) {
    let d = cert.details();
    if d.key_algorithm.starts_with("RSA") && d.key_bits < 2048 {
        out.push(
            Severity::Warning,
            FindingCode::WeakKey,
            format!(
                "{} has a {}-bit RSA key; use at least 2048 bits",
                name(i, cert),
                d.key_bits
            ),
            Some(i),
        );
    }
    // A self-signed root's own signature is never relied upon, so its hash does not matter.
    if is_weak_signature(&d.signature_algorithm) && !cert.is_self_signed() {
        out.push(
            Severity::Warning,
            FindingCode::WeakSignature,
            format!(
                "{} is signed with {}, which is broken; reissue it with SHA-256 or better",
                name(i, cert),
                d.signature_algorithm
            ),
            Some(i),
        );
    }
}

fn links(out: &mut Findings, certs: &[Certificate], chain: &ChainOrder) {
    if certs.is_empty() {
        return;
    }
    // Each link child → parent on the path, and the root's signature over itself.
    for (pos, &child) in chain.path.iter().enumerate() {
        let parent = match chain.path.get(pos + 1) {
            Some(&parent) => parent,
            None if chain.ends_at_root => child,
            None => break,
        };
        check_signature(out, certs, child, parent);
        if parent != child {
            check_issuer(out, certs, child, parent, pos);
        }
    }
    if let Some(&last) = chain.path.last() {
        let top = &certs[last];
        if chain.ends_at_root {
            let (severity, what) = if chain.path.len() == 1 && !top.details().is_ca {
                (
                    Severity::Warning,
                    "is self-signed: trust it explicitly (e.g. on a trust list), it has no CA behind it",
                )
            } else {
                (Severity::Info, "is a self-signed root")
            };
            out.push(
                severity,
                FindingCode::SelfSigned,
                format!("{} {what}", name(last, top)),
                Some(last),
            );
        } else {
            out.push(
                Severity::Warning,
                FindingCode::ChainIncomplete,
                format!(
                    "the chain ends at {}, whose issuer {} is not in the bundle; add it if clients lack it",
                    name(last, top),
                    top.details().issuer
                ),
                Some(last),
            );
        }
    }
    if !chain.unlinked.is_empty() {
        let list: Vec<String> = chain.unlinked.iter().map(|&i| name(i, &certs[i])).collect();
        out.push(
            Severity::Warning,
            FindingCode::ChainIncomplete,
            format!(
                "{} do(es) not link into the chain from the leaf; the input order is kept",
                list.join(", ")
            ),
            chain.unlinked.first().copied(),
        );
    } else if chain.reordered() {
        let order: Vec<String> = chain.path.iter().map(usize::to_string).collect();
        out.push(
            Severity::Info,
            FindingCode::ChainReordered,
            format!(
                "the certificates were not in leaf → root order; outputs use the order {}",
                order.join(" → ")
            ),
            None,
        );
    }
}

fn check_signature(out: &mut Findings, certs: &[Certificate], child: usize, parent: usize) {
    let (Ok(child_x509), Ok(parent_x509)) = (certs[child].x509(), certs[parent].x509()) else {
        return;
    };
    match child_x509.verify_signature(Some(parent_x509.public_key())) {
        Ok(()) => {}
        Err(x509_parser::error::X509Error::SignatureUnsupportedAlgorithm) => out.push(
            Severity::Info,
            FindingCode::SignatureUnchecked,
            format!(
                "{} is signed with {}, which cannot be checked here",
                name(child, &certs[child]),
                certs[child].details().signature_algorithm
            ),
            Some(child),
        ),
        Err(_) => out.push(
            Severity::Error,
            FindingCode::SignatureInvalid,
            if child == parent {
                format!(
                    "{} claims to be self-signed, but its signature does not verify",
                    name(child, &certs[child])
                )
            } else {
                format!(
                    "{} names {} as its issuer, but the signature does not verify with that key",
                    name(child, &certs[child]),
                    name(parent, &certs[parent])
                )
            },
            Some(child),
        ),
    }
}

fn check_issuer(
    out: &mut Findings,
    certs: &[Certificate],
    child: usize,
    parent: usize,
    child_pos: usize,
) {
    let p = certs[parent].details();
    let can_sign = p.is_ca && (!p.has_key_usage || p.key_usage.iter().any(|u| u == "keyCertSign"));
    if !can_sign {
        out.push(
            Severity::Error,
            FindingCode::IssuerNotCa,
            format!(
                "{} signed {}, but is not a CA (basicConstraints CA:TRUE and keyCertSign are needed)",
                name(parent, &certs[parent]),
                name(child, &certs[child])
            ),
            Some(parent),
        );
    }
    // Intermediate CAs between this issuer and the leaf (the leaf itself does not count).
    let below = child_pos;
    if let Some(limit) = p.path_len.filter(|&limit| (limit as usize) < below) {
        out.push(
            Severity::Error,
            FindingCode::PathLengthExceeded,
            format!(
                "{} allows {limit} CA(s) below it, but {below} stand between it and the leaf",
                name(parent, &certs[parent])
            ),
            Some(parent),
        );
    }
}

fn keys(out: &mut Findings, bundle: &Bundle, chain: &ChainOrder) {
    let Some(leaf) = chain.leaf() else { return };
    let leaf_cert = &bundle.certificates()[leaf];
    for (k, key) in bundle.private_keys().iter().enumerate() {
        if key.matches(leaf_cert) == Some(false) {
            out.push(
                Severity::Error,
                FindingCode::KeyMismatch,
                format!(
                    "private key {k} ({}) does not belong to the leaf, {}",
                    key.algorithm(),
                    name(leaf, leaf_cert)
                ),
                Some(leaf),
            );
        }
        if matches!(key.algorithm(), KeyAlgorithm::Rsa { bits } if *bits < 2048)
            && !(leaf_cert.details().key_bits < 2048 && key.matches(leaf_cert) == Some(true))
        {
            out.push(
                Severity::Warning,
                FindingCode::WeakKey,
                format!(
                    "private key {k} is {}; use at least 2048 bits",
                    key.algorithm()
                ),
                None,
            );
        }
    }
}
