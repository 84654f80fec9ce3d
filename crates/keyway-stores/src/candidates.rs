//! The vault's certificates and CRLs as candidates for a store: what "add from Key Vault"
//! offers ([`Stores::vault_certificates`]) and the file such an add takes
//! ([`Stores::input_from_vault`]). Values are decoded with keyway-cert's rules (the
//! `file-encoding` tag, else the value's shape: PEM, hex, base64) and judged by the same checks
//! as an uploaded file; no value ever leaves this module.

use keyway_cert::{Bundle, ContentType, DecodeOptions, Encoding, ParseOptions, decode_value};
use keyway_sync::source::FILE_ENCODING_TAG;
use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::check::{
    CertificateSummary, CheckSettings, CrlSummary, FileKind, Finding, InputFile, check_file,
    name_problems,
};
use crate::config::Store;
use crate::error::{Result, StoreError, VaultFailure};
use crate::stores::Stores;
use crate::vault::StoredSecret;

/// The most secrets [`Stores::vault_certificates`] reads (in name order): a page lists a
/// vault's certificates without reading thousands of values.
pub const MAX_VAULT_SECRETS_READ: usize = 500;

/// A Key Vault secret that holds one certificate or one CRL: what the page offers to add to a
/// store. `Debug` and the serialised form carry details, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VaultCandidate {
    /// The secret's name.
    pub name: String,
    /// Its newest version.
    pub version: Option<String>,
    /// Its content type, as stored.
    pub content_type: Option<String>,
    /// How its value was decoded: its `file-encoding` tag, else its shape (`utf-8` for PEM
    /// text).
    pub encoding: Encoding,
    /// A certificate or a CRL.
    pub kind: FileKind,
    /// The file name it is synced under when added ([`Stores::input_from_vault`]): the secret
    /// name with `.crt` (a PEM certificate the secret holds as the stores keep files: hex,
    /// tagged), `.der` (another certificate) or `.crl` (a CRL).
    pub file_name: String,
    /// A certificate's details.
    pub certificate: Option<CertificateSummary>,
    /// A CRL's details.
    pub crl: Option<CrlSummary>,
    /// The findings the add checks make on it (expiring soon, weak key, ...).
    pub findings: Vec<Finding>,
    /// Why an add would refuse it with the default options (expired; a CRL past its
    /// nextUpdate; a secret name that cannot be a file name). Store-wide rules (the issuer
    /// list's CA flag, a CRL's signer) are judged when the store is chosen, by the plan.
    pub refusals: Vec<String>,
    /// Whether the secret already holds the file as the stores keep it (hex, tagged
    /// `file-encoding: hex`): adding it writes no new version. Otherwise adding it needs
    /// `overwrite_secret`, and writes the same file in hex as a new version.
    pub stored_as_hex: bool,
}

/// A certificate or CRL read from a secret's value.
pub(crate) struct FromVault {
    pub kind: FileKind,
    /// The DER bytes.
    pub der: Zeroizing<Vec<u8>>,
    /// The file the value decodes to, as it was uploaded (PEM text or DER).
    pub file: Zeroizing<Vec<u8>>,
    pub encoding: Encoding,
}

impl FromVault {
    /// The file a store takes from this secret, and its name: the file as uploaded when the
    /// secret holds it as the stores keep files (hex, tagged) — a PEM certificate as `.crt`, so
    /// adding it writes no new version — else the DER (`.der`, or `.crl` for a CRL, which the
    /// issuer list takes as DER only).
    fn store_file(&self, stored: &StoredSecret) -> (String, &[u8]) {
        let pem = self.file.starts_with(b"-----BEGIN ");
        match self.kind {
            FileKind::Certificate if stored.holds_hex_of(&self.file) && pem => {
                (format!("{}.crt", stored.name), &self.file)
            }
            FileKind::Crl => (format!("{}.crl", stored.name), &self.der),
            _ => (format!("{}.der", stored.name), &self.der),
        }
    }
}

/// The one certificate or one CRL `stored` holds, decoded by keyway-cert's rules (the
/// `file-encoding` tag, else the value's shape; the content type, else the bytes' shape);
/// `None` for anything else: a private key (never taken from here), several certificates,
/// text, an undecodable value.
pub(crate) fn certificate_or_crl(stored: &StoredSecret) -> Option<FromVault> {
    let decoded = decode_value(
        stored.value().as_bytes(),
        DecodeOptions {
            file_encoding_tag: stored.tags.get(FILE_ENCODING_TAG).map(String::as_str),
            ..Default::default()
        },
    )
    .ok()?;
    let named = stored
        .content_type
        .as_deref()
        .and_then(|c| c.parse::<ContentType>().ok());
    let parse = |content_type| {
        Bundle::parse(
            decoded.bytes(),
            ParseOptions {
                content_type,
                ..Default::default()
            },
        )
    };
    let bundle = match named {
        Some(named) => parse(Some(named)).or_else(|_| parse(None)),
        None => parse(None),
    }
    .ok()?;
    if !bundle.private_keys().is_empty() {
        return None;
    }
    let (kind, der) = match (bundle.certificates(), bundle.crls()) {
        ([cert], []) => (FileKind::Certificate, cert.der()),
        ([], [crl]) => (FileKind::Crl, crl.der()),
        _ => return None,
    };
    Some(FromVault {
        kind,
        der: Zeroizing::new(der.to_vec()),
        file: Zeroizing::new(decoded.bytes().to_vec()),
        encoding: decoded.encoding(),
    })
}

/// What `stored` holds compared with `bytes`, for a plan's refusal or warning: the same file
/// in another encoding (named), or other bytes. Never the value.
pub(crate) fn what_it_holds(stored: &StoredSecret, bytes: &[u8]) -> String {
    let Some(found) = certificate_or_crl(stored)
        .filter(|f| f.der.as_slice() == bytes || f.file.as_slice() == bytes)
    else {
        return "already holds other bytes".into();
    };
    let what = match found.kind {
        FileKind::Crl => "CRL",
        _ => "certificate",
    };
    let how = match found.encoding {
        Encoding::Hex => "as hex without the `file-encoding: hex` tag".to_string(),
        Encoding::Utf8 if stored.value().contains("-----BEGIN ") => "as PEM text".to_string(),
        Encoding::Utf8 => "as raw DER".to_string(),
        other => format!("in {other}, not hex"),
    };
    format!("already holds this {what} {how}")
}

impl Stores {
    /// The vault's secrets that hold one certificate or one CRL, in name order, each with its
    /// details, findings and refusals as an add would make them (evaluated now): what "add
    /// from Key Vault" offers.
    ///
    /// A value is decoded as [`StoredSecret::file_bytes`] does when it has a `file-encoding`
    /// tag (hex, base64, ...), else by its shape (PEM text, hex, base64, DER), and read as its
    /// content type says, else by its shape: keyway-cert's rules. Secrets holding anything
    /// else — a password, several certificates, a private key — are skipped silently (their
    /// values are never reported). Disabled secrets and Key Vault certificates' backing
    /// secrets (`managed`, they hold the private key) are not read. At most
    /// [`MAX_VAULT_SECRETS_READ`] secrets are read, the first in name order; a secret deleted
    /// meanwhile is skipped, any other read failure is returned.
    pub async fn vault_certificates(&self) -> Result<Vec<VaultCandidate>> {
        let at = OffsetDateTime::now_utc();
        let listed = self.vault.list().await?;
        let mut candidates = Vec::new();
        for item in listed
            .iter()
            .filter(|i| i.enabled && !i.managed)
            .take(MAX_VAULT_SECRETS_READ)
        {
            let Some(stored) = self.vault.get(&item.name).await? else {
                continue;
            };
            if let Some(candidate) = self.candidate(&stored, at) {
                candidates.push(candidate);
            }
        }
        Ok(candidates)
    }

    /// `stored` as a candidate, judged by the checks of an add at `at`.
    fn candidate(&self, stored: &StoredSecret, at: OffsetDateTime) -> Option<VaultCandidate> {
        let found = certificate_or_crl(stored)?;
        let (name, bytes) = found.store_file(stored);
        let stored_as_hex = stored.holds_hex_of(bytes);
        let file = InputFile::new(name, bytes.to_vec());
        // The store whose file types take it; the store's own rules come with the plan.
        let store = match found.kind {
            FileKind::Crl => Store::Issuer,
            _ => Store::Trust,
        };
        let settings = CheckSettings {
            at,
            expiry_warning: self.config.expiry_warning,
            allow_expired: false,
        };
        let (mut report, _) = check_file(store, &file, stored.name.clone(), &settings);
        report
            .refusals
            .extend(name_problems(file.name(), &stored.name));
        Some(VaultCandidate {
            name: stored.name.clone(),
            version: stored.version.clone(),
            content_type: stored.content_type.clone(),
            encoding: found.encoding,
            kind: found.kind,
            file_name: report.file,
            certificate: report.certificate,
            crl: report.crl,
            findings: report.findings,
            refusals: report.refusals,
            stored_as_hex,
        })
    }

    /// The file that adds the vault secret `name` to a store as it is, for
    /// [`Stores::plan_add`]: a PEM certificate the secret holds in hex, tagged (as keyway and
    /// `az keyvault secret set --encoding hex` upload a `.crt`), as that file (`<name>.crt`);
    /// else the DER of its certificate (`<name>.der`) or its CRL (`<name>.crl`); stored under
    /// the secret `name` itself
    /// ([`InputFile::with_secret_name`]). When the secret already holds that file in hex
    /// tagged `file-encoding: hex`, the add writes no new version; in another encoding (PEM,
    /// base64) the plan refuses unless `overwrite_secret`, which stores it in hex as a new
    /// version.
    ///
    /// Errors: no such (live) secret → [`StoreError::Vault`] with
    /// [`VaultFailure::NotFound`], naming the vault; a secret holding no single certificate or
    /// CRL, or whose name cannot be a file name → [`StoreError::Invalid`] (never its value).
    pub async fn input_from_vault(&self, name: &str) -> Result<InputFile> {
        let Some(stored) = self.vault.get(name).await? else {
            return Err(StoreError::Vault {
                operation: "get",
                secret: name.to_string(),
                failure: VaultFailure::NotFound,
                status: Some(404),
                message: format!(
                    "Key Vault {} holds no secret {name:?} (or it is deleted); its certificates \
                     and CRLs are those Stores::vault_certificates lists",
                    self.vault.vault_url()
                ),
            });
        };
        let Some(found) = certificate_or_crl(&stored) else {
            return Err(StoreError::invalid(
                name,
                format!(
                    "Key Vault {} secret {name} holds no single certificate or CRL (read by \
                     its file-encoding tag or its shape: PEM, hex, base64, DER; a private key \
                     or several certificates are not taken)",
                    self.vault.vault_url()
                ),
            ));
        };
        let (file, bytes) = found.store_file(&stored);
        let problems = name_problems(&file, name);
        if !problems.is_empty() {
            return Err(StoreError::invalid(
                name,
                format!("the file {file}: {}", problems.join("; ")),
            ));
        }
        Ok(InputFile::new(file.clone(), bytes.to_vec()).with_secret_name(name))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use keyway_cert::testing::{CertSpec, Issued};

    use super::*;

    fn secret(value: String, tag: Option<&str>, content_type: Option<&str>) -> StoredSecret {
        let tags = tag
            .map(|t| BTreeMap::from([(FILE_ENCODING_TAG.to_string(), t.to_string())]))
            .unwrap_or_default();
        StoredSecret::new(
            "s",
            None,
            content_type.map(str::to_string),
            tags,
            Zeroizing::new(value),
        )
    }

    #[test]
    fn every_encoding_of_one_certificate_gives_its_der() {
        let cert = Issued::self_signed(&CertSpec {
            common_name: "plc".into(),
            ..Default::default()
        });
        let der = cert.der().to_vec();
        let hex = keyway_cert::encode_for_upload(&der, Encoding::Hex).unwrap();
        let b64 = keyway_cert::encode_for_upload(&der, Encoding::Base64).unwrap();
        for (stored, encoding) in [
            (secret(hex.clone(), Some("hex"), None), Encoding::Hex),
            (secret(hex.clone(), None, None), Encoding::Hex),
            (secret(b64.clone(), Some("base64"), None), Encoding::Base64),
            (
                secret(b64, None, Some("application/pkix-cert")),
                Encoding::Base64,
            ),
            (
                secret(cert.pem(), None, Some("application/x-pem-file")),
                Encoding::Utf8,
            ),
        ] {
            let found = certificate_or_crl(&stored).unwrap();
            assert_eq!(found.kind, FileKind::Certificate);
            assert_eq!(found.der.as_slice(), der.as_slice());
            assert_eq!(found.encoding, encoding);
        }
        let tagged_hex = secret(hex.clone(), Some("hex"), None);
        assert!(tagged_hex.holds_hex_of(&der));
        assert!(!secret(hex.clone(), None, None).holds_hex_of(&der));
        assert_eq!(
            what_it_holds(&secret(cert.pem(), None, None), &der),
            "already holds this certificate as PEM text"
        );
        assert_eq!(
            what_it_holds(&tagged_hex, b"other"),
            "already holds other bytes"
        );
    }

    #[test]
    fn keys_chains_and_text_are_not_candidates() {
        let a = Issued::self_signed(&CertSpec::default());
        let b = Issued::self_signed(&CertSpec::default());
        for value in [
            "hunter2".to_string(),
            format!("{}{}", a.pem(), b.pem()),
            format!("{}{}", a.pem(), a.key_pem().as_str()),
            String::new(),
        ] {
            assert!(certificate_or_crl(&secret(value, None, None)).is_none());
        }
        // A wrong tag: not decodable, skipped.
        assert!(certificate_or_crl(&secret(a.pem(), Some("hex"), None)).is_none());
    }
}
