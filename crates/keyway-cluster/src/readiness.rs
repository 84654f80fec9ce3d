//! Is this cluster ready for workload identity? The issuer must be the same string everywhere
//! it appears — the connected cluster's profile, the K3s config, the tokens the cluster mints,
//! the cluster's own discovery document — because Entra ID compares it byte for byte with the
//! federated credential's. Each mismatch is reported with what differs and the fix.

use serde::Serialize;

use crate::connected::ConnectedCluster;

/// Where an issuer was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// For people: `connected cluster (oidcIssuerProfile.issuerUrl)`, `K3s config`, ...
    pub source: String,
    /// The issuer seen there.
    pub issuer: String,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable code: `oidc_issuer_disabled`, `workload_identity_disabled`, `no_issuer`,
    /// `issuer_trailing_slash`, `issuer_scheme`, `issuer_mismatch`, `source_unavailable`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// The result of a check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// Every issuer seen.
    pub observations: Vec<Observation>,
    /// Every problem; none means ready.
    pub findings: Vec<Finding>,
}

impl Readiness {
    /// Ready: no findings.
    pub fn ready(&self) -> bool {
        self.findings.is_empty()
    }

    /// Adds the connected cluster's profile: its flags and its issuer.
    pub fn connected_cluster(&mut self, cluster: &ConnectedCluster) {
        let enable = "az connectedk8s update -n <cluster> -g <group> --enable-oidc-issuer --enable-workload-identity";
        for (code, field, enabled) in [
            (
                "oidc_issuer_disabled",
                "oidcIssuerProfile.enabled",
                cluster.oidc_issuer_enabled,
            ),
            (
                "workload_identity_disabled",
                "securityProfile.workloadIdentity.enabled",
                cluster.workload_identity_enabled,
            ),
        ] {
            if enabled != Some(true) {
                self.findings.push(Finding {
                    code,
                    message: format!("{field} is {}", describe(enabled)),
                    fix: enable.into(),
                });
            }
        }
        match (&cluster.self_hosted_issuer_url, &cluster.issuer_url) {
            (Some(url), _) => self.observe(
                "connected cluster (oidcIssuerProfile.selfHostedIssuerUrl)",
                url,
            ),
            (None, Some(url)) => {
                self.observe("connected cluster (oidcIssuerProfile.issuerUrl)", url)
            }
            (None, None) => self.findings.push(Finding {
                code: "no_issuer",
                message: "the connected cluster reports no issuer URL".into(),
                fix: enable.into(),
            }),
        }
    }

    /// Adds an issuer seen at `source`.
    pub fn observe(&mut self, source: &str, issuer: &str) {
        self.observations.push(Observation {
            source: source.into(),
            issuer: issuer.into(),
        });
    }

    /// Adds a source that could not be read (the cluster unreachable, a file missing).
    pub fn unavailable(&mut self, source: &str, reason: &str, fix: &str) {
        self.findings.push(Finding {
            code: "source_unavailable",
            message: format!("{source}: {reason}"),
            fix: fix.into(),
        });
    }

    /// Compares every observation with the first (the reference) and adds a finding for each
    /// that differs, naming a trailing-slash or scheme difference as such.
    pub fn compare(&mut self) {
        let Some(reference) = self.observations.first().cloned() else {
            return;
        };
        for other in self.observations.iter().skip(1) {
            if other.issuer == reference.issuer {
                continue;
            }
            let (a, b) = (&reference.issuer, &other.issuer);
            let fix = format!(
                "use exactly {a:?} everywhere: in the K3s config (keyway cluster k3s-config --issuer {a} --write, then restart K3s) and in every federated credential"
            );
            let finding = if a.trim_end_matches('/') == b.trim_end_matches('/') {
                Finding {
                    code: "issuer_trailing_slash",
                    message: format!(
                        "the trailing slash differs: {} has {a:?}, {} has {b:?}; Entra ID compares issuers exactly",
                        reference.source, other.source
                    ),
                    fix,
                }
            } else if strip_scheme(a) == strip_scheme(b) {
                Finding {
                    code: "issuer_scheme",
                    message: format!(
                        "the scheme differs: {} has {a:?}, {} has {b:?}",
                        reference.source, other.source
                    ),
                    fix,
                }
            } else {
                Finding {
                    code: "issuer_mismatch",
                    message: format!("{} has {a:?}, {} has {b:?}", reference.source, other.source),
                    fix,
                }
            };
            self.findings.push(finding);
        }
    }
}

/// What to check when the cluster's own answers cannot be read.
#[cfg(feature = "kube")]
const CLUSTER_UNREACHABLE_FIX: &str = "check the kubeconfig and that the API server answers";

#[cfg(feature = "kube")]
impl Readiness {
    /// Adds what the cluster itself says (feature `kube`): the issuer in a token it mints for
    /// `namespace/service_account` (keyway-identity's [`keyway_identity::TokenRequest`] source,
    /// audience `api://AzureADTokenExchange`) and the issuer in its discovery document
    /// (`/.well-known/openid-configuration`). What cannot be read is a `source_unavailable`
    /// finding naming the fix, never an error: an unready cluster is what this reports.
    ///
    /// The client's transport is the caller's: refuse plain http before building it
    /// ([`keyway_identity::check_https`]).
    pub async fn probe_cluster(
        &mut self,
        client: kube::Client,
        namespace: &str,
        service_account: &str,
    ) {
        self.probe_token(client.clone(), namespace, service_account)
            .await;
        self.probe_discovery(&client).await;
    }

    async fn probe_token(&mut self, client: kube::Client, namespace: &str, service_account: &str) {
        use keyway_identity::{AssertionClaims, AssertionSource, IdentityError, TokenRequest};
        let account = format!("{namespace}/{service_account}");
        let request = TokenRequest::new(client, namespace, service_account)
            .with_expiration(std::time::Duration::from_secs(600));
        let token = match request {
            Ok(source) => source.assertion().await,
            Err(e) => Err(e),
        };
        match token {
            Ok(token) => match AssertionClaims::peek(token.secret()) {
                Ok(claims) => self.observe(
                    &format!("a token the cluster mints for {account}"),
                    &claims.iss,
                ),
                Err(e) => self.unavailable(
                    "a token the cluster mints",
                    &e.to_string(),
                    CLUSTER_UNREACHABLE_FIX,
                ),
            },
            Err(
                e @ (IdentityError::ServiceAccountNotFound { .. }
                | IdentityError::TokenRequestForbidden { .. }),
            ) => self.unavailable(
                &format!("TokenRequest for {account}"),
                &e.to_string(),
                "name an existing service account (NAMESPACE/NAME) whose token the kubeconfig's user may create",
            ),
            Err(e) => self.unavailable(
                &format!("TokenRequest for {account}"),
                &e.to_string(),
                CLUSTER_UNREACHABLE_FIX,
            ),
        }
    }

    async fn probe_discovery(&mut self, client: &kube::Client) {
        const SOURCE: &str = "the cluster's discovery document";
        let request = match http::Request::get("/.well-known/openid-configuration").body(Vec::new())
        {
            Ok(request) => request,
            Err(e) => return self.unavailable(SOURCE, &e.to_string(), CLUSTER_UNREACHABLE_FIX),
        };
        match client.request::<serde_json::Value>(request).await {
            Ok(document) => match document["issuer"].as_str() {
                Some(issuer) => self.observe(SOURCE, issuer),
                None => self.unavailable(SOURCE, "has no issuer", CLUSTER_UNREACHABLE_FIX),
            },
            Err(e) => self.unavailable(SOURCE, &e.to_string(), CLUSTER_UNREACHABLE_FIX),
        }
    }
}

fn strip_scheme(url: &str) -> &str {
    url.split_once("://").map_or(url, |(_, rest)| rest)
}

fn describe(flag: Option<bool>) -> &'static str {
    match flag {
        Some(true) => "true",
        Some(false) => "false",
        None => "absent",
    }
}
