//! Tokens and Entra's answers: keyway-identity's decoders.

use keyway_identity::AssertionClaims;
use time::OffsetDateTime;

/// JWT claim decoding (no signature check): a service-account token's payload.
pub fn jwt_claims(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(claims) = AssertionClaims::peek(token) {
        let _ = claims.aud.values();
        let _ = claims.seconds_left(OffsetDateTime::UNIX_EPOCH);
        let _ = claims.seconds_left(OffsetDateTime::now_utc());
    }
}

/// An Entra token endpoint's error body turned into a diagnosis with its hint, for the statuses
/// Entra answers with.
pub fn entra_error(data: &[u8]) {
    for status in [400, 401, 403, 429, 500] {
        let error = keyway_identity::entra_error(status, data, None, OffsetDateTime::UNIX_EPOCH);
        let _ = error.to_string();
    }
}
