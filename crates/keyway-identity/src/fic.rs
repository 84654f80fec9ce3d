//! Federated identity credentials: the trust an Entra identity places in an external token, and
//! the check of a token against it that names every mismatch.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::claims::AssertionClaims;

/// The audience Azure expects in a workload identity assertion.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The subject Kubernetes puts in a service account's tokens.
pub fn subject_for(namespace: &str, service_account: &str) -> String {
    format!("system:serviceaccount:{namespace}:{service_account}")
}

/// A federated identity credential on a user-assigned managed identity or app registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederatedIdentityCredential {
    /// Its name (unique per identity, at most 20 per identity).
    pub name: String,
    /// The issuer, compared as an exact string: a trailing slash matters.
    pub issuer: String,
    /// The subject, e.g. `system:serviceaccount:<namespace>:<service account>`.
    pub subject: String,
    /// The accepted audiences, usually `["api://AzureADTokenExchange"]`.
    pub audiences: Vec<String>,
}

impl FederatedIdentityCredential {
    /// The credential a Kubernetes service account needs, named `<namespace>-<service account>`.
    pub fn for_service_account(issuer: &str, namespace: &str, service_account: &str) -> Self {
        FederatedIdentityCredential {
            name: format!("{namespace}-{service_account}"),
            issuer: issuer.to_string(),
            subject: subject_for(namespace, service_account),
            audiences: vec![TOKEN_EXCHANGE_AUDIENCE.to_string()],
        }
    }

    /// Compares a token's claims with this credential, field by field.
    pub fn match_claims(&self, claims: &AssertionClaims) -> MatchReport {
        let mut mismatches = Vec::new();
        if let Some(m) = compare("issuer", &self.issuer, &claims.iss) {
            mismatches.push(m);
        }
        if let Some(m) = compare("subject", &self.subject, &claims.sub) {
            mismatches.push(m);
        }
        let audiences = claims.aud.values();
        if !self
            .audiences
            .iter()
            .any(|a| audiences.contains(&a.as_str()))
        {
            let expected = self.audiences.join(", ");
            let found = audiences.join(", ");
            let difference = match (self.audiences.as_slice(), audiences.as_slice()) {
                ([want], [got]) => Difference::of(want, got),
                _ => Difference::Different,
            };
            mismatches.push(Mismatch {
                field: "audience",
                expected,
                found,
                difference,
            });
        }
        MatchReport { mismatches }
    }
}

/// How two values differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Difference {
    /// Only a trailing `/`.
    TrailingSlash,
    /// Only letter case.
    Case,
    /// Only leading or trailing whitespace.
    Whitespace,
    /// Otherwise.
    Different,
}

impl Difference {
    fn of(expected: &str, found: &str) -> Difference {
        if expected.trim_end_matches('/') == found.trim_end_matches('/') {
            Difference::TrailingSlash
        } else if expected.eq_ignore_ascii_case(found) {
            Difference::Case
        } else if expected.trim() == found.trim() {
            Difference::Whitespace
        } else {
            Difference::Different
        }
    }
}

/// One field that does not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// `issuer`, `subject` or `audience`.
    pub field: &'static str,
    /// What the credential says.
    pub expected: String,
    /// What the token says.
    pub found: String,
    /// How they differ.
    pub difference: Difference,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.difference {
            Difference::TrailingSlash => {
                " — they differ only by a trailing slash, and the comparison is exact"
            }
            Difference::Case => " — they differ only in letter case, and the comparison is exact",
            Difference::Whitespace => " — they differ only in surrounding whitespace",
            Difference::Different => "",
        };
        write!(
            f,
            "{}: the credential has `{}`, the token has `{}`{how}",
            self.field, self.expected, self.found
        )
    }
}

/// The result of [`FederatedIdentityCredential::match_claims`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchReport {
    /// Every mismatch; empty when the token matches.
    pub mismatches: Vec<Mismatch>,
}

impl MatchReport {
    /// Whether the token matches.
    pub fn matches(&self) -> bool {
        self.mismatches.is_empty()
    }
}

fn compare(field: &'static str, expected: &str, found: &str) -> Option<Mismatch> {
    (expected != found).then(|| Mismatch {
        field,
        expected: expected.to_string(),
        found: found.to_string(),
        difference: Difference::of(expected, found),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Audience;

    fn claims(iss: &str, sub: &str, aud: &str) -> AssertionClaims {
        AssertionClaims {
            iss: iss.into(),
            sub: sub.into(),
            aud: Audience::Many(vec![aud.into()]),
            ..AssertionClaims::default()
        }
    }

    #[test]
    fn names_every_mismatch_and_how() {
        let fic = FederatedIdentityCredential::for_service_account(
            "https://issuer.example/abc/",
            "aio",
            "aio-ssc-sa",
        );
        assert_eq!(fic.subject, "system:serviceaccount:aio:aio-ssc-sa");
        assert!(
            fic.match_claims(&claims(
                "https://issuer.example/abc/",
                "system:serviceaccount:aio:aio-ssc-sa",
                TOKEN_EXCHANGE_AUDIENCE
            ))
            .matches()
        );

        let report = fic.match_claims(&claims(
            "https://issuer.example/abc",
            "system:serviceaccount:AIO:aio-ssc-sa",
            "api://other",
        ));
        let fields: Vec<_> = report
            .mismatches
            .iter()
            .map(|m| (m.field, m.difference))
            .collect();
        assert_eq!(
            fields,
            [
                ("issuer", Difference::TrailingSlash),
                ("subject", Difference::Case),
                ("audience", Difference::Different)
            ]
        );
        assert!(report.mismatches[0].to_string().contains("trailing slash"));
    }
}
