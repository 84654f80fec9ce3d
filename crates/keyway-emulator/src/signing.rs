//! RS256 signing keys for the tokens the emulator mints, their JWKs, and verification of the
//! tokens it is shown.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::{EmulatorError, Result};

/// An RSA key that signs JWTs, named by Kubernetes' `kid` rule.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: serde_json::Value,
    public_pem: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Kubernetes' key id: the unpadded base64url SHA-256 of the DER `SubjectPublicKeyInfo`.
pub fn kubernetes_kid(spki_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        spki_der,
    ))
}

impl SigningKey {
    /// A fresh RSA-2048 key.
    pub fn generate() -> Result<SigningKey> {
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .map_err(|e| EmulatorError::Crypto {
                    what: "JWT signing key",
                    reason: e.to_string(),
                })?;
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        let (_, info) =
            SubjectPublicKeyInfo::from_der(&spki).map_err(|e| EmulatorError::Crypto {
                what: "JWT signing key",
                reason: e.to_string(),
            })?;
        let Ok(PublicKey::RSA(rsa)) = info.parsed() else {
            return Err(EmulatorError::Crypto {
                what: "JWT signing key",
                reason: "not an RSA key".into(),
            });
        };
        let strip = |b: &[u8]| {
            b.iter()
                .position(|&x| x != 0)
                .map_or(Vec::new(), |i| b[i..].to_vec())
        };
        let kid = kubernetes_kid(&spki);
        let jwk = serde_json::json!({
            "use": "sig",
            "kty": "RSA",
            "kid": kid,
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(strip(rsa.modulus)),
            "e": URL_SAFE_NO_PAD.encode(strip(rsa.exponent)),
        });
        let encoding = EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes()).map_err(|e| {
            EmulatorError::Crypto {
                what: "JWT signing key",
                reason: e.to_string(),
            }
        })?;
        Ok(SigningKey {
            kid,
            encoding,
            jwk,
            public_pem: key.public_key_pem(),
        })
    }

    /// The public key as a JWK (`use`, `kty`, `kid`, `alg`, `n`, `e`).
    pub fn jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// The public key as a `PUBLIC KEY` PEM (what `azwi jwks --public-keys` reads).
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    /// Signs `claims` as an RS256 JWT with this key's `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        // Encoding serialisable claims with a valid RSA key cannot fail.
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap_or_default()
    }
}

/// Why a presented JWT was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a JWT at all.
    Malformed(String),
    /// No key with the token's `kid` (or no `kid` and several keys).
    UnknownKey(Option<String>),
    /// The signature does not verify.
    BadSignature,
}

/// The unverified claims of a JWT (for choosing how to verify it).
pub fn peek_claims<T: DeserializeOwned>(token: &str) -> Result<T, VerifyError> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| VerifyError::Malformed("not three dot-separated parts".into()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| VerifyError::Malformed(format!("payload is not base64url: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| VerifyError::Malformed(format!("payload is not JSON claims: {e}")))
}

/// Verifies the signature of `token` against the JWKs in `keys` (RS256 or ES256) and returns
/// its claims. Times, audiences and issuers are the caller's to judge, against its own clock.
pub fn verify<T: DeserializeOwned>(
    token: &str,
    keys: &[serde_json::Value],
) -> Result<T, VerifyError> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    let candidates: Vec<&serde_json::Value> = keys
        .iter()
        .filter(
            |k| match (&header.kid, k.get("kid").and_then(|v| v.as_str())) {
                (Some(kid), Some(key_kid)) => kid == key_kid,
                (None, _) => true,
                (Some(_), None) => false,
            },
        )
        .collect();
    let key = match (candidates.as_slice(), &header.kid) {
        ([one], _) => *one,
        ([], kid) | ([_, _, ..], kid @ None) => return Err(VerifyError::UnknownKey(kid.clone())),
        ([first, ..], Some(_)) => *first,
    };
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone())
        .map_err(|_| VerifyError::UnknownKey(header.kid.clone()))?;
    let decoding =
        DecodingKey::from_jwk(&jwk).map_err(|_| VerifyError::UnknownKey(header.kid.clone()))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(VerifyError::Malformed(format!(
            "algorithm {:?} is not accepted",
            header.alg
        )));
    }
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<T>(token, &decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => VerifyError::BadSignature,
            _ => VerifyError::Malformed(e.to_string()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let token = key.sign(&serde_json::json!({"sub": "x"}));
        let claims: serde_json::Value =
            verify(&token, &[other.jwk().clone(), key.jwk().clone()]).unwrap();
        assert_eq!(claims["sub"], "x");
        assert!(matches!(
            verify::<serde_json::Value>(&token, &[other.jwk().clone()]),
            Err(VerifyError::UnknownKey(_))
        ));
        // Same kid, wrong key material: a bad signature.
        let mut forged = other.jwk().clone();
        forged["kid"] = key.jwk()["kid"].clone();
        assert_eq!(
            verify::<serde_json::Value>(&token, &[forged]).unwrap_err(),
            VerifyError::BadSignature
        );
        assert_eq!(key.jwk()["kid"].as_str().unwrap().len(), 43);
    }
}
