//! The RS256 keys that sign the tokens the emulator mints. Their public halves are
//! `keyway_identity::Jwk`s, so the JWKS documents and the verification of presented tokens use
//! keyway-identity's code, the same a user's program runs.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keyway_identity::Jwk;
use serde::Serialize;

use crate::error::{EmulatorError, Result};

/// An RSA key that signs JWTs, named by Kubernetes' `kid` rule.
pub struct SigningKey {
    encoding: EncodingKey,
    jwk: Jwk,
    public_pem: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.jwk.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh RSA-2048 key.
    pub fn generate() -> Result<SigningKey> {
        let crypto = |reason: String| EmulatorError::Crypto {
            what: "JWT signing key",
            reason,
        };
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .map_err(|e| crypto(e.to_string()))?;
        let jwk = Jwk::from_spki_der(&rcgen::PublicKeyData::subject_public_key_info(&key))
            .map_err(crypto)?;
        let encoding = EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes())
            .map_err(|e| crypto(e.to_string()))?;
        Ok(SigningKey {
            encoding,
            jwk,
            public_pem: key.public_key_pem(),
        })
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The public key as a `PUBLIC KEY` PEM (what `azwi jwks --public-keys` reads).
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    /// Signs `claims` as an RS256 JWT with this key's `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.jwk.kid.clone();
        header.typ = Some("JWT".into());
        // Encoding serialisable claims with a valid RSA key cannot fail.
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyway_identity::Jwks;

    #[test]
    fn sign_and_verify_round_trip() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let token = key.sign(&serde_json::json!({"sub": "x"}));
        let both = Jwks {
            keys: vec![other.jwk().clone(), key.jwk().clone()],
        };
        let claims: serde_json::Value = both.verify_signature(&token).unwrap();
        assert_eq!(claims["sub"], "x");
        let wrong = Jwks {
            keys: vec![other.jwk().clone()],
        };
        assert!(wrong.verify_signature::<serde_json::Value>(&token).is_err());
        // Same kid, other key material: a bad signature.
        let mut forged = other.jwk().clone();
        forged.kid = key.jwk().kid.clone();
        let err = Jwks { keys: vec![forged] }
            .verify_signature::<serde_json::Value>(&token)
            .unwrap_err();
        assert!(
            matches!(
                err,
                keyway_identity::IdentityError::Token {
                    what: "signature",
                    ..
                }
            ),
            "{err}"
        );
    }
}
