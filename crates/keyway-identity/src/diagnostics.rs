//! Turning Entra ID's answers into errors that say what is wrong and how to fix it.

use time::OffsetDateTime;

use crate::claims::AssertionClaims;
use crate::error::{EntraError, IdentityError};

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct EntraErrorBody {
    error: String,
    error_description: String,
    error_codes: Vec<u32>,
    trace_id: Option<String>,
    correlation_id: Option<String>,
}

/// The issuer Kubernetes uses when no OIDC issuer was configured.
const IN_CLUSTER_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Builds [`IdentityError::Entra`] from an error answer of the token endpoint. `claims` are the
/// assertion's (when they could be read), so the hint can say what the token carried.
pub fn entra_error(
    status: u16,
    body: &[u8],
    claims: Option<&AssertionClaims>,
    now: OffsetDateTime,
) -> IdentityError {
    let parsed: EntraErrorBody = serde_json::from_slice(body).unwrap_or_else(|_| EntraErrorBody {
        error: "unparseable_response".into(),
        error_description: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
        ..EntraErrorBody::default()
    });
    let aadsts = parsed
        .error_codes
        .first()
        .copied()
        .or_else(|| code_in(&parsed.error_description))
        .unwrap_or(0);
    let first_line = parsed
        .error_description
        .lines()
        .next()
        .unwrap_or_default()
        .trim();
    let summary = first_line
        .split_once(": ")
        .filter(|(code, _)| code.starts_with("AADSTS"))
        .map_or(first_line, |(_, rest)| rest)
        .to_string();
    IdentityError::Entra(Box::new(EntraError {
        status,
        aadsts,
        error: parsed.error,
        description: parsed.error_description.clone(),
        summary,
        correlation_id: parsed.correlation_id,
        trace_id: parsed.trace_id,
        hint: hint(aadsts, claims, now),
    }))
}

/// `AADSTS70021: ...` → 70021.
fn code_in(description: &str) -> Option<u32> {
    let rest = description.strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Cause and fix for the codes workload identity users hit.
pub fn hint(aadsts: u32, claims: Option<&AssertionClaims>, now: OffsetDateTime) -> Option<String> {
    let saw = claims.map(|c| {
        format!(
            "the token's issuer is `{}`, subject `{}`, audience `{}`",
            c.iss,
            c.sub,
            c.aud.values().join(", ")
        )
    });
    let in_cluster_issuer =
        claims.is_some_and(|c| c.iss.trim_end_matches('/') == IN_CLUSTER_ISSUER);
    let issuer_note = if in_cluster_issuer {
        format!(
            " The issuer {IN_CLUSTER_ISSUER} means the cluster's OIDC issuer is not configured: set the API server's --service-account-issuer (K3s: kube-apiserver-arg service-account-issuer=...) to a publicly reachable URL, restart, and use that URL in the credential."
        )
    } else {
        String::new()
    };
    let text = match aadsts {
        70021 => format!(
            "no federated identity credential on this identity matches the token. {}; create or fix a credential with exactly these values (the issuer is compared as an exact string — a trailing slash matters — and the audience is normally api://AzureADTokenExchange). New credentials take a few seconds to propagate.{issuer_note}",
            saw.unwrap_or_else(|| "keyway could not read the token's claims".into())
        ),
        700211 => {
            let issuer = claims.map(|c| c.iss.as_str()).unwrap_or("?");
            let slash = if issuer.ends_with('/') {
                " (note the trailing slash)"
            } else {
                " (note: no trailing slash)"
            };
            format!(
                "no federated identity credential on this identity has the token's issuer. The token's issuer is `{issuer}`; your credential must have exactly this issuer{slash}.{issuer_note}"
            )
        }
        700024 => {
            let when = claims.map(|c| match (c.exp, c.nbf) {
                (Some(exp), _) if exp < now.unix_timestamp() => format!(
                    "the token expired at {} ({} s ago)",
                    rfc3339(exp),
                    now.unix_timestamp() - exp
                ),
                (_, Some(nbf)) if nbf > now.unix_timestamp() => format!(
                    "the token is not valid before {} ({} s from now by this machine's clock)",
                    rfc3339(nbf),
                    nbf - now.unix_timestamp()
                ),
                (Some(exp), _) => format!(
                    "the token expires at {} by this machine's clock, so Entra's clock and this one disagree",
                    rfc3339(exp)
                ),
                _ => "the token has no exp claim".into(),
            });
            format!(
                "the assertion is outside its valid time range: {}. Causes: a stale token kept in memory (keyway re-reads the token file for every exchange; check that kubelet rotates the projected token) or clock skew (check NTP on the node).",
                when.unwrap_or_else(|| "keyway could not read the token's times".into())
            )
        }
        90061 => format!(
            "Entra ID could not fetch the issuer's /.well-known/openid-configuration or its JWKS. The issuer must be reachable from the internet over HTTPS with a publicly trusted certificate{}.",
            claims
                .map(|c| format!(" (check: curl {}/.well-known/openid-configuration)", c.iss.trim_end_matches('/')))
                .unwrap_or_default()
        ),
        700016 => "the client id is not an application or managed identity in this tenant: check the client id (AZURE_CLIENT_ID, or a SecretProviderClass's clientID: the identity's client id, not its object or principal id) and the tenant id (AZURE_TENANT_ID or tenantID).".into(),
        90002 => "the tenant does not exist in this cloud: check the tenant id (AZURE_TENANT_ID, or a SecretProviderClass's tenantID), and the authority (AZURE_AUTHORITY_HOST, or cloudName) for sovereign clouds.".into(),
        70011 | 1002012 => "the scope must be one resource followed by /.default, e.g. https://vault.azure.net/.default.".into(),
        700027 => "the assertion's signature does not verify with the issuer's published keys: republish the JWKS after rotating the service-account signing key (keyway identity jwks --public-key sa.pub, or azwi jwks --public-keys sa.pub).".into(),
        50027 => "the assertion is not a valid JWT: check that the token file holds the projected service-account token and nothing else.".into(),
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Audience;

    const REAL: &str = r#"{"error":"invalid_request","error_description":"AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: 'https://x/'.\r\nTrace ID: 1a\r\nCorrelation ID: 2b\r\nTimestamp: 2026-11-23 10:00:00Z","error_codes":[70021],"timestamp":"2026-11-23 10:00:00Z","trace_id":"1a","correlation_id":"2b"}"#;

    #[test]
    fn parses_real_entra_errors_with_escapes() {
        let claims = AssertionClaims {
            iss: "https://x/".into(),
            sub: "system:serviceaccount:a:b".into(),
            aud: Audience::One("api://AzureADTokenExchange".into()),
            ..AssertionClaims::default()
        };
        let e = entra_error(
            400,
            REAL.as_bytes(),
            Some(&claims),
            OffsetDateTime::now_utc(),
        );
        let IdentityError::Entra(entra) = &e else {
            panic!()
        };
        let EntraError {
            aadsts,
            summary,
            correlation_id,
            hint,
            ..
        } = entra.as_ref();
        assert_eq!(*aadsts, 70021);
        assert!(
            summary.starts_with("No matching federated identity record"),
            "{summary}"
        );
        assert_eq!(correlation_id.as_deref(), Some("2b"));
        assert!(hint.as_ref().unwrap().contains("`https://x/`"));
        assert!(
            !e.to_string().contains("Trace ID"),
            "the display keeps to the first line: {e}"
        );
    }

    #[test]
    fn trailing_slash_and_in_cluster_issuer_hints() {
        let mut c = AssertionClaims {
            iss: "https://x/".into(),
            ..AssertionClaims::default()
        };
        let now = OffsetDateTime::now_utc();
        assert!(
            hint(700211, Some(&c), now)
                .unwrap()
                .contains("note the trailing slash")
        );
        c.iss = "https://kubernetes.default.svc.cluster.local".into();
        assert!(
            hint(70021, Some(&c), now)
                .unwrap()
                .contains("OIDC issuer is not configured")
        );
        c.exp = Some(now.unix_timestamp() - 30);
        assert!(hint(700024, Some(&c), now).unwrap().contains("30 s ago"));
        assert!(hint(12345, Some(&c), now).is_none());
        let garbage = entra_error(502, b"<html>bad gateway</html>", None, now);
        assert!(matches!(garbage, IdentityError::Entra(e) if e.aadsts == 0));
    }
}
