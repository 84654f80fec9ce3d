//! Applying a [`Plan`] through Azure Resource Manager with any `TokenCredential`, over the
//! azure_core pipeline (retries, telemetry, bearer tokens): idempotent — a federated credential
//! with the same issuer and subject is left alone, an existing role assignment (same name, or
//! 409 `RoleAssignmentExists`) is success. Cluster-side steps (K3s, the SecretProviderClass) are
//! reported for the operator to run.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Method};
use serde::Serialize;
use serde_json::Value;

use crate::arm::ArmClient;
use crate::error::{ClusterError, Result};
use crate::plan::{ArmRequest, PRINCIPAL_ID_PLACEHOLDER, Plan, Step};

/// Where and how to reach ARM.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The ARM endpoint (`https://management.azure.com`; the emulator's `arm_url()`).
    pub endpoint: String,
    /// The token scope (`https://management.azure.com/.default`).
    pub scope: String,
    /// Transport and retry.
    pub client_options: ClientOptions,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            endpoint: "https://management.azure.com".into(),
            scope: "https://management.azure.com/.default".into(),
            client_options: ClientOptions::default(),
        }
    }
}

/// What happened to one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Made now.
    Created,
    /// Already there; nothing changed.
    Exists,
    /// Read.
    Read,
    /// Not an ARM step: the operator runs it (the report says how).
    ClusterSide,
}

/// One step's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// What the step was.
    pub step: String,
    /// What happened.
    pub outcome: Outcome,
    /// Details: a name, or the command to run.
    pub detail: String,
}

fn failure(request: &ArmRequest, status: u16, body: &Value) -> ClusterError {
    ArmClient::failure(request.method, &request.path, status, body)
}

/// Applies the plan's ARM steps, in order; stops at the first failure (everything before it is
/// in place, and a re-run continues).
pub async fn apply(
    plan: &Plan,
    credential: Arc<dyn TokenCredential>,
    options: ApplyOptions,
) -> Result<Vec<Applied>> {
    let arm = ArmClient::new(credential, options);
    let mut principal_id = None::<String>;
    let mut report = Vec::new();
    for step in &plan.steps {
        let requests = step.arm_requests();
        match step {
            Step::LookupIdentity { identity_id } => {
                let request = &requests[0];
                let (status, body) = arm.send(Method::Get, &request.path, None).await?;
                if status != 200 {
                    return Err(failure(request, status, &body));
                }
                principal_id = body["properties"]["principalId"].as_str().map(str::to_string);
                report.push(Applied {
                    step: format!("read {identity_id}"),
                    outcome: Outcome::Read,
                    detail: format!("principal {}", principal_id.as_deref().unwrap_or("?")),
                });
            }
            Step::FederatedCredential { name, issuer, subject, .. } => {
                let (list, put) = (&requests[0], &requests[1]);
                let (status, body) = arm.send(Method::Get, &list.path, None).await?;
                if status != 200 {
                    return Err(failure(list, status, &body));
                }
                let existing = body["value"].as_array().into_iter().flatten().find(|c| {
                    c["properties"]["issuer"].as_str() == Some(issuer)
                        && c["properties"]["subject"].as_str() == Some(subject)
                });
                if let Some(existing) = existing {
                    report.push(Applied {
                        step: format!("federate {subject}"),
                        outcome: Outcome::Exists,
                        detail: format!("as {}", existing["name"].as_str().unwrap_or_default()),
                    });
                    continue;
                }
                let (status, body) = arm.send(Method::Put, &put.path, put.body.as_ref()).await?;
                if !(200..300).contains(&status) {
                    return Err(failure(put, status, &body));
                }
                report.push(Applied {
                    step: format!("federate {subject}"),
                    outcome: Outcome::Created,
                    detail: name.clone(),
                });
            }
            Step::RoleAssignment {
                role,
                name,
                principal_id: fixed,
                ..
            } => {
                let request = &requests[0];
                let principal = fixed.as_deref().or(principal_id.as_deref()).ok_or_else(|| ClusterError::Arm {
                    request: format!("{} {}", request.method, request.path),
                    status: None,
                    message: "the identity's principal id is unknown: the plan has no lookup step before this one".into(),
                })?;
                let body = request.body.as_ref().map(|b| {
                    let text = b.to_string().replace(PRINCIPAL_ID_PLACEHOLDER, principal);
                    serde_json::from_str::<Value>(&text).unwrap_or_default()
                });
                let (status, answer) = arm.send(Method::Put, &request.path, body.as_ref()).await?;
                let outcome = match status {
                    201 => Outcome::Created,
                    200 => Outcome::Exists,
                    409 if answer["error"]["code"] == "RoleAssignmentExists" => Outcome::Exists,
                    _ => return Err(failure(request, status, &answer)),
                };
                report.push(Applied {
                    step: format!("grant {}", role.name),
                    outcome,
                    detail: name.clone(),
                });
            }
            Step::K3sIssuer { issuer, max_token_expiration } => report.push(Applied {
                step: "K3s issuer settings".into(),
                outcome: Outcome::ClusterSide,
                detail: format!(
                    "on the K3s server: sudo keyway cluster k3s-config --issuer {issuer} --max-token-expiration {max_token_expiration} --write && sudo systemctl restart k3s"
                ),
            }),
            Step::SecretProviderClass { name, namespace, .. } => report.push(Applied {
                step: format!("SecretProviderClass {namespace}/{name}"),
                outcome: Outcome::ClusterSide,
                detail: "kubectl apply the manifest from `keyway cluster plan ... --output az`, or render one with `keyway cluster render secret-sync`".into(),
            }),
        }
    }
    Ok(report)
}
