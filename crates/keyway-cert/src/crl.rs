//! Certificate revocation lists, as they appear in OPC UA trust and issuer lists.

use std::fmt;

use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::error::{CertError, Result};

/// An X.509 CRL, held as DER, with its basic details.
#[derive(Clone, PartialEq, Eq)]
pub struct Crl {
    der: Vec<u8>,
    details: CrlDetails,
}

/// What a CRL says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CrlDetails {
    /// Issuer distinguished name.
    pub issuer: String,
    /// When this CRL was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    /// When the next CRL is due, if stated.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_update: Option<OffsetDateTime>,
    /// How many certificates it revokes.
    pub revoked: usize,
    /// The CRL number, decimal, if present.
    pub crl_number: Option<String>,
}

impl Crl {
    /// Parses one DER CRL.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        Self::parse_at(der, 0)
    }

    pub(crate) fn parse_at(der: &[u8], index: usize) -> Result<Self> {
        let bad = |reason: String| CertError::Crl { index, reason };
        let (rest, crl) =
            CertificateRevocationList::from_der(der).map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} bytes follow the CRL", rest.len())));
        }
        let details = CrlDetails {
            issuer: crl.issuer().to_string(),
            this_update: crl.last_update().to_datetime(),
            next_update: crl.next_update().map(|t| t.to_datetime()),
            revoked: crl.iter_revoked_certificates().count(),
            crl_number: crl.crl_number().map(|n| n.to_string()),
        };
        Ok(Crl {
            der: der.to_vec(),
            details,
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The details read from the CRL.
    pub fn details(&self) -> &CrlDetails {
        &self.details
    }

    /// One `X509 CRL` PEM block.
    pub fn to_pem(&self) -> String {
        pem::encode_config(
            &pem::Pem::new("X509 CRL", self.der.clone()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }
}

impl fmt::Debug for Crl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crl")
            .field("issuer", &self.details.issuer)
            .field("revoked", &self.details.revoked)
            .finish()
    }
}

impl Crl {
    /// Whether `issuer`'s public key verifies this CRL's signature — the proof that `issuer`
    /// issued it (a matching issuer name alone is not: anyone can write any name). `false` when
    /// the signature does not verify or its algorithm cannot be checked here.
    pub fn is_signed_by(&self, issuer: &crate::Certificate) -> bool {
        let Ok((_, crl)) = CertificateRevocationList::from_der(&self.der) else {
            return false;
        };
        let Ok(x509) = issuer.x509() else {
            return false;
        };
        crl.verify_signature(x509.public_key()).is_ok()
    }
}
