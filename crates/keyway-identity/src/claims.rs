//! The claims of a service-account token, read without verifying it — for diagnostics and FIC
//! matching. The token itself is never printed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{IdentityError, Result};

/// An audience claim: a string or a list of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "x"`.
    One(String),
    /// `"aud": ["x", "y"]`.
    Many(Vec<String>),
    /// No `aud` claim.
    #[default]
    None,
}

impl Audience {
    /// The audiences, in order.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Audience::One(a) => vec![a.as_str()],
            Audience::Many(v) => v.iter().map(String::as_str).collect(),
            Audience::None => Vec::new(),
        }
    }
}

/// The claims that matter for federation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// `iss`.
    #[serde(default)]
    pub iss: String,
    /// `sub`.
    #[serde(default)]
    pub sub: String,
    /// `aud`.
    #[serde(default)]
    pub aud: Audience,
    /// `exp`, Unix seconds.
    pub exp: Option<i64>,
    /// `nbf`, Unix seconds.
    pub nbf: Option<i64>,
    /// `iat`, Unix seconds.
    pub iat: Option<i64>,
}

impl AssertionClaims {
    /// Decodes the payload of a JWT without verifying its signature.
    pub fn peek(token: &str) -> Result<AssertionClaims> {
        let bad = |reason: String| IdentityError::Token {
            what: "claims",
            reason,
        };
        let mut parts = token.trim().split('.');
        let (Some(_header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(
                "not a JWT (three base64url parts separated by dots)".into()
            ));
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|e| bad(format!("the payload is not base64url: {e}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("the payload is not JSON claims: {e}")))
    }

    /// Seconds from `now` until `exp` (negative once expired); `None` without `exp`.
    pub fn seconds_left(&self, now: OffsetDateTime) -> Option<i64> {
        self.exp.map(|exp| exp - now.unix_timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn peeks_claims_and_audiences() {
        let c = AssertionClaims::peek(&jwt(r#"{"iss":"https://x/","sub":"system:serviceaccount:a:b","aud":["api://AzureADTokenExchange"],"exp":100}"#)).unwrap();
        assert_eq!(
            (c.iss.as_str(), c.aud.values()),
            ("https://x/", vec!["api://AzureADTokenExchange"])
        );
        let one = AssertionClaims::peek(&jwt(r#"{"aud":"a"}"#)).unwrap();
        assert_eq!(one.aud.values(), vec!["a"]);
        assert_eq!(
            c.seconds_left(OffsetDateTime::from_unix_timestamp(40).unwrap()),
            Some(60)
        );
        assert!(AssertionClaims::peek("not-a-jwt").is_err());
        assert!(AssertionClaims::peek("a.%%%.c").is_err());
    }
}
