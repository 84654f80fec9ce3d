//! The checks made on files before anything is written: the file's type by its extension
//! (case-insensitive), its content, each store's rules, validity dates.

use std::fmt;
use std::io::Read;
use std::path::Path;

use keyway_cert::{Bundle, Certificate, ContentType, Crl, ParseOptions, PrivateKey, Severity};
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::X509Version;
use zeroize::Zeroizing;

use crate::config::Store;
use crate::error::{Result, StoreError};

/// A file to add, as the caller read it: its name (the key it is synced under, e.g.
/// `server.der`) and its bytes. `Debug` shows the name and size, never the bytes.
#[derive(Clone)]
pub struct InputFile {
    name: String,
    bytes: Zeroizing<Vec<u8>>,
    secret_name: Option<String>,
}

impl fmt::Debug for InputFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputFile")
            .field("name", &self.name)
            .field("len", &self.bytes.len())
            .field("secret_name", &self.secret_name)
            .finish()
    }
}

impl InputFile {
    /// A file named `name` (a file name, not a path) holding `bytes`.
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> InputFile {
        InputFile {
            name: name.into(),
            bytes: Zeroizing::new(bytes),
            secret_name: None,
        }
    }

    /// Reads `path`, at most [`MAX_INPUT_FILE_BYTES`] of it ([`read_bounded`]: a larger file,
    /// or an endless one such as `/dev/zero`, is refused naming the limit); the name is its
    /// file name.
    pub fn read(path: &Path) -> Result<InputFile> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                StoreError::invalid(path.display().to_string(), "has no UTF-8 file name")
            })?
            .to_string();
        let bytes = std::fs::File::open(path)
            .and_then(|file| read_bounded(file, MAX_INPUT_FILE_BYTES))
            .map_err(|e| StoreError::invalid(path.display().to_string(), e.to_string()))?;
        Ok(InputFile {
            name,
            bytes,
            secret_name: None,
        })
    }

    /// Stores the file under `secret_name` instead of the name derived from the file name.
    pub fn with_secret_name(mut self, secret_name: impl Into<String>) -> InputFile {
        self.secret_name = Some(secret_name.into());
        self
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The secret name asked for, if any.
    pub fn secret_name(&self) -> Option<&str> {
        self.secret_name.as_deref()
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The most read of a certificate, key, CRL or PKCS#12 file: 1 MiB, far more than any real one
/// (a long chain in PEM is tens of KiB; `keyway ui` takes uploads of at most 64 KiB).
pub const MAX_INPUT_FILE_BYTES: usize = 1024 * 1024;

/// Reads `source` to its end, but never more than `limit + 1` bytes: a source longer than
/// `limit` (a wrong file, `/dev/zero`, an endless pipe) is an error of kind
/// [`std::io::ErrorKind::FileTooLarge`] that names the limit, found without reading the rest.
/// Every file and standard input a user names is read through this, so none can exhaust memory.
///
/// ```
/// let err = keyway_stores::read_bounded(std::io::repeat(0), 1024).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::FileTooLarge);
/// assert_eq!(&*keyway_stores::read_bounded(&b"abc"[..], 3).unwrap(), b"abc");
/// ```
pub fn read_bounded(source: impl Read, limit: usize) -> std::io::Result<Zeroizing<Vec<u8>>> {
    // Grown by doubling up to the limit at most; never past limit + 1.
    let mut bytes = Zeroizing::new(Vec::new());
    source.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!(
                "is larger than {}, the most read here",
                size_in_words(limit)
            ),
        ));
    }
    Ok(bytes)
}

/// `limit` bytes as said to a user: "1048576 bytes (1 MiB)".
fn size_in_words(limit: usize) -> String {
    if limit >= 1024 && limit.is_multiple_of(1024) {
        if limit.is_multiple_of(1024 * 1024) {
            format!("{limit} bytes ({} MiB)", limit / (1024 * 1024))
        } else {
            format!("{limit} bytes ({} KiB)", limit / 1024)
        }
    } else {
        format!("{limit} bytes")
    }
}

/// The Key Vault secret name for a file name: every character outside `[0-9A-Za-z-]` becomes
/// `-`, at most 127 characters (`server.der` → `server-der`, `my_ca.CRT` → `my-ca-CRT`).
///
/// ```
/// assert_eq!(keyway_stores::secret_name_for("my_ca.CRT"), "my-ca-CRT");
/// ```
pub fn secret_name_for(file_name: &str) -> String {
    file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(127)
        .collect()
}

/// Why `value` cannot be a SecretSync `sourcePath`/`targetKey` (`what` names it), or `None`.
pub(crate) fn secret_sync_key_problem(value: &str, what: &str) -> Option<String> {
    // The rule is keyway-sync's, the one the CLI, the controller and `cluster render` use.
    if keyway_sync::model::secret_sync::in_secret_sync_pattern(value) {
        return None;
    }
    Some(format!(
        "{value:?} cannot be a SecretSync {what}: the SecretSync resource takes 1-253 characters \
         matching {} (at least two letters or digits before the first \
         '.' or '_', no two separators in a row, no leading '-'); rename it",
        keyway_sync::model::secret_sync::SECRET_SYNC_DATA_PATTERN
    ))
}

/// Why `file_name` cannot be synced from the secret `secret_name`: the Kubernetes Secret key
/// rule, the SecretSync `targetKey` and `sourcePath` patterns (empty: it can).
pub(crate) fn name_problems(file_name: &str, secret_name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = keyway_sync::validate_secret_key(file_name, "file name") {
        problems.push(format!(
            "cannot be a key of the Kubernetes Secret: {e}; rename the file"
        ));
    } else if let Some(problem) = secret_sync_key_problem(file_name, "targetKey") {
        problems.push(problem);
    }
    if let Some(problem) = secret_sync_key_problem(secret_name, "sourcePath") {
        problems.push(format!("its secret name {problem}"));
    }
    problems
}

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// One certificate.
    Certificate,
    /// One CRL.
    Crl,
    /// A private key (the client certificate's).
    PrivateKey,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// For information.
    Info,
    /// Worth acting on; does not stop the operation.
    Warning,
}

/// One finding about a file that does not stop the operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Warning or info.
    pub level: Level,
    /// A stable code (`expires_soon`, `issuer_not_listed`, keyway-cert's finding codes).
    pub code: String,
    /// What it means.
    pub message: String,
}

impl Finding {
    fn warning(code: &str, message: String) -> Finding {
        Finding {
            level: Level::Warning,
            code: code.into(),
            message,
        }
    }
}

/// A certificate's details, as printed before anything is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateSummary {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// SHA-1 thumbprint, lowercase hex.
    pub sha1: String,
    /// SHA-256 thumbprint, lowercase hex.
    pub sha256: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Whole days from the evaluation time to `not_after` (negative when expired).
    pub days_left: i64,
    /// Subject alternative names (`DNS:…`, `URI:…`).
    pub san: Vec<String>,
    /// basicConstraints CA flag.
    pub is_ca: bool,
}

impl CertificateSummary {
    pub(crate) fn of(cert: &Certificate, at: OffsetDateTime) -> CertificateSummary {
        let d = cert.details();
        CertificateSummary {
            subject: d.subject.clone(),
            issuer: d.issuer.clone(),
            sha1: d.sha1.clone(),
            sha256: d.sha256.clone(),
            not_before: d.not_before,
            not_after: d.not_after,
            days_left: (d.not_after - at).whole_days(),
            san: d.san.iter().map(ToString::to_string).collect(),
            is_ca: d.is_ca,
        }
    }
}

/// A CRL's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrlSummary {
    /// Issuer DN.
    pub issuer: String,
    /// thisUpdate.
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    /// nextUpdate, if stated.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_update: Option<OffsetDateTime>,
    /// How many certificates it revokes.
    pub revoked: usize,
    /// The listed or added CA whose key verifies its signature (its target key).
    pub signed_by: Option<String>,
}

/// One file as checked: what it is, its details, findings and refusals.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file name: the key it is synced under.
    pub file: String,
    /// The Key Vault secret it is stored in.
    pub secret_name: String,
    /// What it holds (when it could be read).
    pub kind: Option<FileKind>,
    /// The content type it is stored with; `None` when the file could not be read as what
    /// its name says (it is refused, and nothing is stored).
    pub content_type: Option<String>,
    /// A certificate's details.
    pub certificate: Option<CertificateSummary>,
    /// A CRL's details.
    pub crl: Option<CrlSummary>,
    /// Findings that do not stop the operation.
    pub findings: Vec<Finding>,
    /// Why the file is refused (empty: accepted).
    pub refusals: Vec<String>,
}

/// A file parsed: what the later checks need.
pub(crate) enum Parsed {
    Certificate(Box<Certificate>),
    Crl(Box<Crl>),
    Key(Box<PrivateKey>),
    Nothing,
}

/// The checks' settings.
pub(crate) struct CheckSettings {
    pub at: OffsetDateTime,
    pub expiry_warning: time::Duration,
    pub allow_expired: bool,
}

/// The extension, lowercase.
pub(crate) fn extension(name: &str) -> String {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn content_type(ext: &str) -> &'static str {
    match ext {
        "der" => ContentType::PkixCert.mime(),
        "crl" => ContentType::PkixCrl.mime(),
        _ => ContentType::Pem.mime(),
    }
}

fn looks_pem(bytes: &[u8]) -> bool {
    let trimmed = bytes.iter().skip_while(|b| b.is_ascii_whitespace());
    trimmed.take(10).copied().collect::<Vec<u8>>() == b"-----BEGIN"
}

/// Checks one file for `store`: type, content, dates. Store-wide rules (CA flag, CRL
/// signatures, the client pair) come after, in the plan.
pub(crate) fn check_file(
    store: Store,
    file: &InputFile,
    secret_name: String,
    settings: &CheckSettings,
) -> (FileReport, Parsed) {
    let ext = extension(file.name());
    let mut report = FileReport {
        file: file.name().to_string(),
        secret_name,
        kind: None,
        content_type: None,
        certificate: None,
        crl: None,
        findings: Vec::new(),
        refusals: Vec::new(),
    };
    let allowed: &[&str] = match store {
        Store::Trust => &["der", "crt", "pem"],
        Store::Issuer => &["der", "crt", "pem", "crl"],
        Store::Client => &["der", "pem"],
    };
    if !allowed.contains(&ext.as_str()) {
        report.refusals.push(format!(
            "the {store} takes {} files (any case); rename it if it is one of these",
            allowed
                .iter()
                .map(|e| format!(".{e}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return (report, Parsed::Nothing);
    }
    let bytes = file.bytes();
    let parsed = match (store, ext.as_str()) {
        (Store::Client, "pem") => parse_key(bytes, &mut report),
        (_, "der") => {
            let file = report.file.clone();
            parse_der(
                bytes,
                &mut report,
                "holds PEM text, not DER: name it .crt (or .pem), or convert it with \
                 `openssl x509 -outform der`",
                |der| {
                    Certificate::from_der(der)
                        .map(|cert| Parsed::Certificate(Box::new(cert)))
                        .map_err(|e| {
                            if der_private_key(der) {
                                der_key_refusal(store, &file)
                            } else {
                                format!("is not one DER certificate: {e}")
                            }
                        })
                },
            )
        }
        (_, "crl") => parse_der(
            bytes,
            &mut report,
            "holds a PEM CRL; the connector reads .crl files as DER: convert it with \
             `openssl crl -outform der`",
            |der| {
                Crl::from_der(der)
                    .map(|crl| Parsed::Crl(Box::new(crl)))
                    .map_err(|e| format!("is not one DER CRL: {e}"))
            },
        ),
        _ => parse_pem_certificate(bytes, &mut report),
    };
    if !matches!(parsed, Parsed::Nothing) {
        report.content_type = Some(content_type(&ext).to_string());
    }
    match &parsed {
        Parsed::Certificate(cert) => {
            report.kind = Some(FileKind::Certificate);
            check_certificate(cert, settings, &mut report);
        }
        Parsed::Crl(crl) => {
            report.kind = Some(FileKind::Crl);
            let d = crl.details();
            report.crl = Some(CrlSummary {
                issuer: d.issuer.clone(),
                this_update: d.this_update,
                next_update: d.next_update,
                revoked: d.revoked,
                signed_by: None,
            });
            match d.next_update {
                Some(next) if next < settings.at => report.refusals.push(format!(
                    "the CRL's nextUpdate ({}) is past: the connector rejects an outdated CRL; \
                     get a current one from the CA",
                    when(next)
                )),
                Some(_) => {}
                None => report.findings.push(Finding::warning(
                    "crl_no_next_update",
                    "the CRL states no nextUpdate".into(),
                )),
            }
        }
        Parsed::Key(_) => report.kind = Some(FileKind::PrivateKey),
        Parsed::Nothing => {}
    }
    (report, parsed)
}

fn parse_pem_certificate(bytes: &[u8], report: &mut FileReport) -> Parsed {
    if !looks_pem(bytes) {
        report.refusals.push(
            "is not PEM text: a .crt or .pem file must be PEM (a DER certificate is named .der)"
                .into(),
        );
        return Parsed::Nothing;
    }
    let bundle = match parse_pem(bytes) {
        Ok(bundle) => bundle,
        Err(e) => {
            report.refusals.push(format!("is not readable PEM: {e}"));
            return Parsed::Nothing;
        }
    };
    if !bundle.private_keys().is_empty() {
        report.refusals.push(
            "holds a private key: a trust or issuer list file holds only a certificate; remove \
             the key block"
                .into(),
        );
    }
    match bundle.certificates() {
        [one] => Parsed::Certificate(Box::new(one.clone())),
        certs => {
            report.refusals.push(format!(
                "holds {} certificates; a file holds exactly one (split a chain into one file \
                 per certificate)",
                certs.len()
            ));
            Parsed::Nothing
        }
    }
}

/// A file that must be DER: refused with `if_pem` when it holds PEM text, else `parse`d (its
/// error refuses it).
fn parse_der(
    bytes: &[u8],
    report: &mut FileReport,
    if_pem: &str,
    parse: impl FnOnce(&[u8]) -> std::result::Result<Parsed, String>,
) -> Parsed {
    let refusal = if looks_pem(bytes) {
        if_pem.to_string()
    } else {
        match parse(bytes) {
            Ok(parsed) => return parsed,
            Err(refusal) => refusal,
        }
    };
    report.refusals.push(refusal);
    Parsed::Nothing
}

/// Whether `der` is a private key in DER (PKCS#8, PKCS#1 or SEC1).
fn der_private_key(der: &[u8]) -> bool {
    PrivateKey::from_pkcs8_der(der).is_ok()
        || PrivateKey::from_pkcs1_der(der).is_ok()
        || PrivateKey::from_sec1_der(der).is_ok()
}

/// Why a `.der` file holding a private key is refused, with the fix.
fn der_key_refusal(store: Store, file: &str) -> String {
    if store == Store::Client {
        let stem = Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(file);
        format!(
            "holds a private key in DER (binary), not a certificate: the client certificate's \
             private key file must be PEM text named .pem (-----BEGIN PRIVATE KEY-----); \
             convert it with `openssl pkey -inform der -in {file} -out {stem}.pem` and give \
             {stem}.pem as the private key file"
        )
    } else {
        format!(
            "holds a private key in DER, not a certificate: the {store} takes certificates \
             only; never add a private key to it"
        )
    }
}

/// `bytes` read as PEM text, whatever blocks it holds.
fn parse_pem(bytes: &[u8]) -> keyway_cert::Result<Bundle> {
    Bundle::parse(
        bytes,
        ParseOptions {
            content_type: Some(ContentType::Pem),
            ..Default::default()
        },
    )
}

fn parse_key(bytes: &[u8], report: &mut FileReport) -> Parsed {
    // PEM text may have lines before its armour (openssl's "Bag Attributes").
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let expected = "the private key is expected as a PEM key (-----BEGIN PRIVATE KEY-----, or \
                        RSA / EC PRIVATE KEY: PKCS#8, PKCS#1 or SEC1)";
        let file = &report.file;
        report.refusals.push(if bytes.first() == Some(&0x30) {
            format!(
                "holds DER (binary), not PEM text: {expected}; convert it with `openssl pkey \
                 -inform der -in {file} -out {file}.new && mv {file}.new {file}`"
            )
        } else {
            format!("is neither PEM text nor DER: {expected}")
        });
        return Parsed::Nothing;
    }
    let bundle = match parse_pem(bytes) {
        Ok(bundle) => bundle,
        Err(e) => {
            report
                .refusals
                .push(format!("is not a readable PEM private key: {e}"));
            return Parsed::Nothing;
        }
    };
    if !bundle.certificates().is_empty() {
        report.refusals.push(
            "holds certificates besides the key: the private key file holds only the key (the \
             certificate is the .der file)"
                .into(),
        );
    }
    match bundle.private_keys() {
        [one] => Parsed::Key(Box::new(one.clone())),
        keys => {
            report.refusals.push(format!(
                "holds {} private keys; exactly one (PKCS#8, PKCS#1 or SEC1 PEM) is expected",
                keys.len()
            ));
            Parsed::Nothing
        }
    }
}

/// A time as people read it in a listing: RFC 3339 (`2026-12-01T00:00:00Z`).
pub(crate) fn when(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// `12 days left`, or `expired 3 days ago` once `days_left` is negative.
pub(crate) fn days(days_left: i64) -> String {
    if days_left < 0 {
        format!("expired {} days ago", -days_left)
    } else {
        format!("{days_left} days left")
    }
}

fn check_certificate(cert: &Certificate, settings: &CheckSettings, report: &mut FileReport) {
    let summary = CertificateSummary::of(cert, settings.at);
    let d = cert.details();
    if d.not_after < settings.at {
        let text = format!(
            "expired on {} ({} days ago)",
            when(d.not_after),
            -summary.days_left
        );
        if settings.allow_expired {
            report.findings.push(Finding::warning("expired", text));
        } else {
            report
                .refusals
                .push(format!("{text}; set `allow_expired` to add it anyway"));
        }
    } else if d.not_after < settings.at + settings.expiry_warning {
        report.findings.push(Finding::warning(
            "expires_soon",
            format!(
                "expires on {} (in {} days)",
                when(d.not_after),
                summary.days_left
            ),
        ));
    }
    if d.not_before > settings.at {
        report.findings.push(Finding::warning(
            "not_yet_valid",
            format!("is not valid before {}", d.not_before),
        ));
    }
    // keyway-cert's own findings on the certificate alone (weak keys, signatures); dates and
    // the chain are judged above and by the store, and self-signed is the norm for a trust
    // list entry or a root CA.
    if let Ok(bundle) = Bundle::parse(
        cert.der(),
        ParseOptions {
            content_type: Some(ContentType::PkixCert),
            ..Default::default()
        },
    ) {
        let options = keyway_cert::ValidationOptions {
            at: settings.at,
            expiry_warning: settings.expiry_warning,
        };
        for f in bundle.validate(&options).findings {
            use keyway_cert::FindingCode as C;
            if matches!(
                f.code,
                C::Expired | C::ExpiresSoon | C::NotYetValid | C::ChainIncomplete | C::SelfSigned
            ) {
                continue;
            }
            report.findings.push(Finding {
                level: if f.severity == Severity::Info {
                    Level::Info
                } else {
                    Level::Warning
                },
                code: f.code.as_str().to_string(),
                message: f.message,
            });
        }
    }
    report.certificate = Some(summary);
}

/// The issuer list's rule: a CA certificate (v3, basicConstraints CA=true). `None`: it is one.
pub(crate) fn not_a_ca(cert: &Certificate) -> Option<String> {
    let Ok(x509) = cert.x509() else {
        return Some("cannot be read as X.509".into());
    };
    if x509.version() == X509Version::V1 {
        return Some(
            "is an X.509 v1 certificate: v1 has no extensions, so it cannot say it is a CA \
             (basicConstraints); reissue it as v3 with basicConstraints CA:TRUE"
                .into(),
        );
    }
    match x509.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => None,
        Ok(Some(_)) => Some(
            "is not a CA (basicConstraints CA:FALSE): an end-entity certificate belongs in the \
             trust list, not the issuer list"
                .into(),
        ),
        Ok(None) => Some(
            "has no basicConstraints extension, so it is not a CA: the issuer list takes CA \
             certificates only (basicConstraints CA:TRUE); put a server's own certificate in \
             the trust list"
                .into(),
        ),
        Err(e) => Some(format!("has an unreadable basicConstraints extension: {e}")),
    }
}

/// The client certificate's subject name (its CN) and application URI (its one URI SAN),
/// or why not.
pub(crate) fn client_identity(
    cert: &Certificate,
) -> std::result::Result<(String, String), Vec<String>> {
    let mut problems = Vec::new();
    let cn = cert.x509().ok().and_then(|x| {
        x.subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok().map(str::to_string))
    });
    if cn.is_none() {
        problems.push(
            "has no subject common name (CN): the connector's subject name is the certificate's CN"
                .to_string(),
        );
    }
    let uris: Vec<String> = cert
        .details()
        .san
        .iter()
        .filter_map(|s| match s {
            keyway_cert::SubjectAltName::Uri(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    if uris.len() != 1 {
        problems.push(format!(
            "has {} URI subject alternative names; an OPC UA application instance certificate \
             has exactly one (the application URI)",
            uris.len()
        ));
    }
    if problems.is_empty() {
        Ok((cn.unwrap_or_default(), uris[0].clone()))
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Listings print RFC 3339 times and say "expired" rather than negative days left.
    #[test]
    fn times_and_days_read_as_people_read_them() {
        assert_eq!(
            when(time::macros::datetime!(2025-01-01 0:00 UTC)),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(days(12), "12 days left");
        assert_eq!(days(-699), "expired 699 days ago");
    }

    #[test]
    fn secret_names_map_every_other_character_and_stop_at_127() {
        assert_eq!(secret_name_for("server.der"), "server-der");
        assert_eq!(secret_name_for("my_ca (1).CRT"), "my-ca--1--CRT");
        assert_eq!(secret_name_for("ü.pem"), "--pem");
        let long = secret_name_for(&"a".repeat(300));
        assert_eq!(long.len(), 127);
        assert!(keyway_sync::source::check_secret_name(&long).is_ok());
    }

    #[test]
    fn secret_sync_keys_follow_the_crd_pattern() {
        for ok in [
            "server.der",
            "plc_b.PEM",
            "ab.crl",
            "a",
            "a-der",
            "x--y",
            "ca.crl/0",
        ] {
            assert_eq!(secret_sync_key_problem(ok, "targetKey"), None, "{ok}");
        }
        for bad in [
            "a.der",
            "x_y.der",
            "-x",
            "a..b",
            "",
            "a b",
            &"a".repeat(254),
        ] {
            assert!(secret_sync_key_problem(bad, "targetKey").is_some(), "{bad}");
        }
    }

    #[test]
    fn extensions_are_case_insensitive_and_debug_hides_bytes() {
        assert_eq!(extension("A.CRT"), "crt");
        assert_eq!(content_type("der"), "application/pkix-cert");
        assert_eq!(content_type("crl"), "application/pkix-crl");
        assert_eq!(content_type("pem"), "application/x-pem-file");
        let file = InputFile::new("k.pem", b"-----BEGIN PRIVATE KEY-----".to_vec());
        assert!(!format!("{file:?}").contains("PRIVATE"));
    }
}
