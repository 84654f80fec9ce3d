//! OIDC issuer documents: what a self-hosted cluster issuer publishes (the discovery document
//! and the JWKS, as `azwi jwks` makes them, with Kubernetes' `kid` rule), and fetching and
//! verifying against a published issuer.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::claims::AssertionClaims;
use crate::error::{IdentityError, Result};

/// Kubernetes' key id: the unpadded base64url SHA-256 of the DER `SubjectPublicKeyInfo`.
pub fn kubernetes_kid(spki_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        spki_der,
    ))
}

/// `/.well-known/openid-configuration` of a service-account issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIdConfiguration {
    /// The issuer, exactly as tokens carry it.
    pub issuer: String,
    /// Where the JWKS is.
    pub jwks_uri: String,
    /// `["id_token"]`.
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    /// `["public"]`.
    #[serde(default)]
    pub subject_types_supported: Vec<String>,
    /// `["RS256"]` (and `ES256` for EC keys).
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

impl OpenIdConfiguration {
    /// The document for `issuer`, with the JWKS at `<issuer>/openid/v1/jwks` (where the
    /// Kubernetes API server serves it) and RS256 tokens.
    pub fn for_issuer(issuer: &str) -> Self {
        OpenIdConfiguration {
            issuer: issuer.to_string(),
            jwks_uri: format!("{}/openid/v1/jwks", issuer.trim_end_matches('/')),
            response_types_supported: vec!["id_token".into()],
            subject_types_supported: vec!["public".into()],
            id_token_signing_alg_values_supported: vec!["RS256".into()],
        }
    }
}

/// One public key as a JWK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// `RSA` or `EC`.
    pub kty: String,
    /// The key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `RS256`, `ES256`, `ES384`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent, base64url (`AQAB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC curve, `P-256` or `P-384`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

impl Jwk {
    /// The JWK of a DER `SubjectPublicKeyInfo` (RSA, EC P-256 or P-384), `kid` by Kubernetes' rule.
    pub fn from_spki_der(spki_der: &[u8]) -> std::result::Result<Jwk, String> {
        let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der)
            .map_err(|e| format!("not a DER public key: {e}"))?;
        let kid = Some(kubernetes_kid(spki_der));
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        match spki
            .parsed()
            .map_err(|e| format!("unreadable public key: {e}"))?
        {
            PublicKey::RSA(rsa) => {
                let strip = |b: &[u8]| {
                    b.iter()
                        .position(|&x| x != 0)
                        .map_or(Vec::new(), |i| b[i..].to_vec())
                };
                Ok(Jwk {
                    use_: Some("sig".into()),
                    kty: "RSA".into(),
                    kid,
                    alg: Some("RS256".into()),
                    n: Some(b64(&strip(rsa.modulus))),
                    e: Some(b64(&strip(rsa.exponent))),
                    crv: None,
                    x: None,
                    y: None,
                })
            }
            PublicKey::EC(point) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                let (crv, alg, size) = match curve.as_deref() {
                    Some("1.2.840.10045.3.1.7") => ("P-256", "ES256", 32),
                    Some("1.3.132.0.34") => ("P-384", "ES384", 48),
                    other => {
                        return Err(format!(
                            "EC curve {other:?} is not supported; use P-256 or P-384"
                        ));
                    }
                };
                let data = point.data();
                if data.len() != 1 + 2 * size || data[0] != 4 {
                    return Err("the EC point is not uncompressed".into());
                }
                Ok(Jwk {
                    use_: Some("sig".into()),
                    kty: "EC".into(),
                    kid,
                    alg: Some(alg.into()),
                    n: None,
                    e: None,
                    crv: Some(crv.into()),
                    x: Some(b64(&data[1..=size])),
                    y: Some(b64(&data[1 + size..])),
                })
            }
            _ => Err("only RSA and EC keys can sign service-account tokens".into()),
        }
    }
}

/// A JSON Web Key Set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The JWKS for PEM public keys (`PUBLIC KEY` or a `CERTIFICATE`'s key), what
    /// `azwi jwks --public-keys` makes from the service-account signing keys.
    pub fn from_public_keys<S: AsRef<[u8]>>(pems: &[S]) -> Result<Jwks> {
        let mut keys = Vec::new();
        for (index, pem_text) in pems.iter().enumerate() {
            let bad = |reason: String| IdentityError::PublicKey { index, reason };
            let blocks =
                pem::parse_many(pem_text.as_ref()).map_err(|e| bad(format!("not PEM: {e}")))?;
            if blocks.is_empty() {
                return Err(bad("no PEM block".into()));
            }
            for block in blocks {
                let spki = match block.tag() {
                    "PUBLIC KEY" => block.contents().to_vec(),
                    "CERTIFICATE" => {
                        let (_, cert) =
                            x509_parser::certificate::X509Certificate::from_der(block.contents())
                                .map_err(|e| bad(format!("bad certificate: {e}")))?;
                        cert.public_key().raw.to_vec()
                    }
                    other => {
                        return Err(bad(format!(
                            "a {other} block is not a public key; give PUBLIC KEY PEM (e.g. sa.pub)"
                        )));
                    }
                };
                keys.push(Jwk::from_spki_der(&spki).map_err(bad)?);
            }
        }
        Ok(Jwks { keys })
    }

    /// Verifies the signature of `token` (RS256, ES256 or ES384) with the key its `kid` names
    /// and returns its claims. Times, issuer and audience are the caller's to judge.
    pub fn verify_signature<T: DeserializeOwned>(&self, token: &str) -> Result<T> {
        let fail = |what: &'static str, reason: String| IdentityError::Token { what, reason };
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| fail("header", e.to_string()))?;
        let candidates: Vec<&Jwk> = self
            .keys
            .iter()
            .filter(|k| match (&header.kid, &k.kid) {
                (Some(want), Some(have)) => want == have,
                (None, _) => true,
                (Some(_), None) => false,
            })
            .collect();
        let key = match (candidates.as_slice(), &header.kid) {
            ([one], _) | ([one, ..], Some(_)) => *one,
            ([], Some(kid)) => {
                return Err(fail(
                    "key",
                    format!("no key with kid `{kid}` in the issuer's JWKS"),
                ));
            }
            _ => {
                return Err(fail(
                    "key",
                    "the token names no kid and the JWKS does not have exactly one key".into(),
                ));
            }
        };
        use jsonwebtoken::Algorithm;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::ES384
        ) {
            return Err(fail(
                "header",
                format!("algorithm {:?} is not accepted", header.alg),
            ));
        }
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::to_value(key)
            .and_then(serde_json::from_value)
            .map_err(|e| fail("key", e.to_string()))?;
        let decoding =
            jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|e| fail("key", e.to_string()))?;
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<T>(token, &decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => fail(
                    "signature",
                    "the signature does not verify with the issuer's key".into(),
                ),
                _ => fail("claims", e.to_string()),
            })
    }
}

/// An issuer's published documents, fetched over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerDiscovery {
    /// The discovery document.
    pub configuration: OpenIdConfiguration,
    /// The JWKS it points at.
    pub jwks: Jwks,
}

/// Tokens may be this far outside their validity and still verify (clocks drift).
const LEEWAY_SECONDS: i64 = 60;

impl IssuerDiscovery {
    /// Fetches `<issuer>/.well-known/openid-configuration` and its `jwks_uri`. The document's
    /// `issuer` must equal `issuer` exactly.
    pub async fn fetch(issuer: &str, client: &reqwest::Client) -> Result<IssuerDiscovery> {
        if !issuer.starts_with("https://") {
            return Err(IdentityError::Insecure {
                url: issuer.into(),
                reason: crate::error::InsecureReason::IssuerNotHttps,
            });
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let configuration: OpenIdConfiguration = get_json(client, &url).await?;
        if configuration.issuer != issuer {
            return Err(IdentityError::Issuer {
                issuer: issuer.into(),
                reason: format!(
                    "its discovery document says issuer `{}`; the two must be identical, character for character",
                    configuration.issuer
                ),
            });
        }
        let jwks: Jwks = get_json(client, &configuration.jwks_uri).await?;
        if jwks.keys.is_empty() {
            return Err(IdentityError::Issuer {
                issuer: issuer.into(),
                reason: format!("its JWKS at {} has no keys", configuration.jwks_uri),
            });
        }
        Ok(IssuerDiscovery {
            configuration,
            jwks,
        })
    }

    /// Verifies `token` as this issuer's: signature, `iss`, and `exp`/`nbf` at `now` with a
    /// minute of leeway.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AssertionClaims> {
        let claims: AssertionClaims = self.jwks.verify_signature(token)?;
        if claims.iss != self.configuration.issuer {
            return Err(IdentityError::Token {
                what: "issuer",
                reason: format!(
                    "the token's issuer `{}` is not `{}`",
                    claims.iss, self.configuration.issuer
                ),
            });
        }
        let now = now.unix_timestamp();
        if claims.exp.is_some_and(|exp| now > exp + LEEWAY_SECONDS) {
            return Err(IdentityError::Token {
                what: "time",
                reason: "the token has expired".into(),
            });
        }
        if claims.nbf.is_some_and(|nbf| now + LEEWAY_SECONDS < nbf) {
            return Err(IdentityError::Token {
                what: "time",
                reason: "the token is not valid yet".into(),
            });
        }
        Ok(claims)
    }
}

async fn get_json<T: DeserializeOwned>(client: &reqwest::Client, url: &str) -> Result<T> {
    let remote = |reason: String| IdentityError::Remote {
        url: url.into(),
        reason,
    };
    let response = client.get(url).send().await.map_err(|e| {
        remote(format!(
            "unreachable: {}",
            crate::error::transport_failure(&e)
        ))
    })?;
    if !response.status().is_success() {
        return Err(remote(format!("HTTP {}", response.status())));
    }
    response
        .json()
        .await
        .map_err(|e| remote(format!("not the expected JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    // openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 | openssl pkey -pubout
    const EC_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEass29dERo+STYJX7zVt3+NZoZ1w5\nqBVQRPEakIPvResJyi0L5/Erg8O6zxP8r/3tRdSVSDTfSwrgO85vsC/nVw==\n-----END PUBLIC KEY-----\n";

    #[test]
    fn ec_keys_become_es256_jwks_with_kubernetes_kids() {
        let jwks = Jwks::from_public_keys(&[EC_PUB]).unwrap();
        let k = &jwks.keys[0];
        assert_eq!(
            (k.kty.as_str(), k.crv.as_deref(), k.alg.as_deref()),
            ("EC", Some("P-256"), Some("ES256"))
        );
        let der = pem::parse(EC_PUB).unwrap().into_contents();
        assert_eq!(k.kid.as_deref(), Some(kubernetes_kid(&der).as_str()));
        assert_eq!(
            URL_SAFE_NO_PAD.decode(k.x.as_ref().unwrap()).unwrap().len(),
            32
        );
        let err = Jwks::from_public_keys(&[
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("not a public key"), "{err}");
    }

    #[test]
    fn discovery_document_for_an_issuer() {
        let doc = OpenIdConfiguration::for_issuer("https://oidc.example/abc/");
        assert_eq!(doc.jwks_uri, "https://oidc.example/abc/openid/v1/jwks");
        assert_eq!(doc.issuer, "https://oidc.example/abc/");
    }
}
