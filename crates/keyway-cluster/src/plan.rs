//! Provisioning plans as data: the steps `az iot ops secretsync enable` and `az iot ops identity
//! assign` take — a federated identity credential for the cluster's service account, role
//! assignments on the vault, the K3s issuer settings and the SecretProviderClass — with
//! deterministic names so a re-run finds what the first run made. One plan, several consumers:
//! a bash script of az commands ([`Plan::to_az_script`]), the ARM REST requests
//! ([`Plan::to_arm_requests`]), or JSON (the plan itself).

use serde::Serialize;

use crate::error::{ClusterError, Field, Result};
use crate::names;

/// The audience of every workload identity federated credential.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// The ARM api-version of federated identity credentials and user-assigned identities.
pub const IDENTITY_API_VERSION: &str = "2023-01-31";
/// The ARM api-version of role assignments.
pub const ROLE_ASSIGNMENT_API_VERSION: &str = "2022-04-01";
/// The service account of Azure IoT Operations' secret sync.
pub const SECRET_SYNC_SERVICE_ACCOUNT: &str = "aio-ssc-sa";

/// A built-in Azure role, by its role-definition id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BuiltInRole {
    /// The role's name.
    pub name: &'static str,
    /// Its role-definition id (the same in every subscription).
    pub id: &'static str,
}

/// Key Vault Secrets User: read secret values.
pub const KEY_VAULT_SECRETS_USER: BuiltInRole = BuiltInRole {
    name: "Key Vault Secrets User",
    id: "4633458b-17de-408a-b874-0445c86b69e6",
};
/// Key Vault Reader: read metadata (list secrets).
pub const KEY_VAULT_READER: BuiltInRole = BuiltInRole {
    name: "Key Vault Reader",
    id: "21090545-7ca7-4776-b22c-e363652d74d2",
};
/// Key Vault Secrets Officer: write secrets (for people who upload; `--uploader`).
pub const KEY_VAULT_SECRETS_OFFICER: BuiltInRole = BuiltInRole {
    name: "Key Vault Secrets Officer",
    id: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
};

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step {
    /// Read the user-assigned identity: its principal id (for role assignments), client id and
    /// tenant id (for the SecretProviderClass).
    LookupIdentity {
        /// The identity's ARM id.
        identity_id: String,
    },
    /// A federated identity credential on the identity; skipped when one with the same issuer
    /// and subject exists (whatever its name).
    FederatedCredential {
        /// The identity's ARM id.
        identity_id: String,
        /// A deterministic name from issuer and subject.
        name: String,
        /// The cluster's service-account issuer.
        issuer: String,
        /// `system:serviceaccount:<namespace>:<service account>`.
        subject: String,
        /// `api://AzureADTokenExchange`.
        audience: String,
    },
    /// A role assignment for the identity's principal on `scope`; an existing assignment of
    /// the same role to the same principal is success.
    RoleAssignment {
        /// A deterministic name ([`role_assignment_name`]).
        name: String,
        /// The vault's ARM id.
        scope: String,
        /// The role.
        role: BuiltInRole,
        /// The full role-definition id.
        role_definition_id: String,
        /// The identity whose principal receives the role (from the lookup step)...
        identity_id: String,
        /// ...unless a principal is named here (an uploader's object id).
        #[serde(skip_serializing_if = "Option::is_none")]
        principal_id: Option<String>,
    },
    /// The K3s issuer settings (`keyway cluster k3s-config`), then a K3s restart.
    K3sIssuer {
        /// The issuer.
        issuer: String,
        /// The longest token lifetime.
        max_token_expiration: String,
    },
    /// A SecretProviderClass with the vault, the identity's client id and tenant, no objects.
    SecretProviderClass {
        /// Its name.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The vault's name.
        keyvault: String,
    },
}

/// What `plan secretsync` needs.
#[derive(Debug, Clone)]
pub struct SecretSyncPlanRequest {
    /// The subscription of the identity and the vault.
    pub subscription: String,
    /// The identity's resource group.
    pub resource_group: String,
    /// The user-assigned identity's name.
    pub identity: String,
    /// The vault's name.
    pub keyvault: String,
    /// The vault's resource group (default: the identity's).
    pub keyvault_resource_group: Option<String>,
    /// The cluster's service-account issuer.
    pub issuer: String,
    /// The namespace of Azure IoT Operations.
    pub namespace: String,
    /// The service account (default `aio-ssc-sa`).
    pub service_account: String,
    /// Also set the K3s issuer settings with this token lifetime.
    pub k3s_max_token_expiration: Option<String>,
    /// Also grant Key Vault Secrets Officer to this principal (object id of a person, group or
    /// pipeline that uploads secrets).
    pub uploader_principal_id: Option<String>,
}

/// A provisioning plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// What the plan does, for people.
    pub title: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// Azure resource and Kubernetes names: letters, digits, `-`, `_`, `.`, `(`, `)` — which also
/// keeps them safe in the generated script.
fn check_name(field: Field, value: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')');
    if value.is_empty() || !value.chars().all(allowed) {
        return Err(ClusterError::invalid(
            field,
            format!("{value:?} is not a resource name (letters, digits, - _ . ( ))"),
        ));
    }
    Ok(())
}

/// An https issuer URL without whitespace, quotes or shell-special characters.
fn check_issuer(issuer: &str) -> Result<()> {
    let safe = |c: char| !(c.is_whitespace() || c.is_control() || "'\"`$\\;|&<>".contains(c));
    if !issuer.starts_with("https://") || !issuer.chars().all(safe) {
        return Err(ClusterError::invalid(
            Field::Issuer,
            format!("{issuer:?} must be an https URL without spaces, quotes or shell characters"),
        ));
    }
    Ok(())
}

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}`.
pub fn identity_id(subscription: &str, resource_group: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
    )
}

/// [`identity_id`] once the subscription, resource group and identity name of a request are
/// names ARM accepts (each refused naming its field).
fn checked_identity_id(subscription: &str, resource_group: &str, identity: &str) -> Result<String> {
    for (field, value) in [
        (Field::Subscription, subscription),
        (Field::ResourceGroup, resource_group),
        (Field::Identity, identity),
    ] {
        check_name(field, value)?;
    }
    Ok(identity_id(subscription, resource_group, identity))
}

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}`.
pub fn vault_id(subscription: &str, resource_group: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.KeyVault/vaults/{name}"
    )
}

/// The deterministic name of a federated credential: `keyway-` and 16 hex digits of the
/// SHA-256 of issuer and subject.
pub fn federated_credential_name(issuer: &str, subject: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{issuer}\n{subject}").as_bytes(),
    );
    format!("keyway-{}", &hex::encode(digest.as_ref())[..16])
}

/// The deterministic name of a role assignment: the UUID v5 (OID namespace) of
/// `scope|roleDefinitionId|identityId`, lower-cased — known before the identity's principal id
/// is, so the az script and the ARM requests carry it literally.
pub fn role_assignment_name(scope: &str, role_definition_id: &str, identity_id: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{scope}|{role_definition_id}|{identity_id}")
            .to_ascii_lowercase()
            .as_bytes(),
    )
    .to_string()
}

/// What `plan identity` needs: the cloud-connections identity and the instance's service
/// account.
#[derive(Debug, Clone)]
pub struct IdentityPlanRequest {
    /// The subscription of the identity.
    pub subscription: String,
    /// The identity's resource group.
    pub resource_group: String,
    /// The user-assigned identity's name.
    pub identity: String,
    /// The cluster's service-account issuer.
    pub issuer: String,
    /// The instance's namespace.
    pub namespace: String,
    /// The instance's service account.
    pub service_account: String,
}

impl Plan {
    /// The plan of `az iot ops identity assign`: a federated credential for the instance's
    /// service account on the cloud-connections identity (same issuer and audience as the
    /// secret sync's).
    pub fn identity(request: &IdentityPlanRequest) -> Result<Plan> {
        let identity = checked_identity_id(
            &request.subscription,
            &request.resource_group,
            &request.identity,
        )?;
        names::check_namespace(Field::Namespace, &request.namespace)?;
        names::check_object_name(Field::ServiceAccount, &request.service_account)?;
        check_issuer(&request.issuer)?;
        Ok(Plan {
            title: format!(
                "federate {}:{} with the cloud-connections identity {}",
                request.namespace, request.service_account, request.identity
            ),
            steps: vec![Step::federate(
                &identity,
                &request.issuer,
                &request.namespace,
                &request.service_account,
            )],
        })
    }

    /// The plan of `az iot ops secretsync enable`: look up the identity, federate the secret
    /// sync service account, grant Secrets User and Reader on the vault, (optionally) set the
    /// K3s issuer, and create the SecretProviderClass.
    pub fn secret_sync(request: &SecretSyncPlanRequest) -> Result<Plan> {
        let identity = checked_identity_id(
            &request.subscription,
            &request.resource_group,
            &request.identity,
        )?;
        names::check_keyvault_name(Field::Keyvault, &request.keyvault)?;
        names::check_namespace(Field::Namespace, &request.namespace)?;
        names::check_object_name(Field::ServiceAccount, &request.service_account)?;
        if let Some(group) = &request.keyvault_resource_group {
            check_name(Field::KeyvaultResourceGroup, group)?;
        }
        check_issuer(&request.issuer)?;
        let vault_group = request
            .keyvault_resource_group
            .as_deref()
            .unwrap_or(&request.resource_group);
        let scope = vault_id(&request.subscription, vault_group, &request.keyvault);
        let mut steps = vec![
            Step::LookupIdentity {
                identity_id: identity.clone(),
            },
            Step::federate(
                &identity,
                &request.issuer,
                &request.namespace,
                &request.service_account,
            ),
        ];
        for role in [KEY_VAULT_SECRETS_USER, KEY_VAULT_READER] {
            let role_definition_id = format!(
                "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{}",
                request.subscription, role.id
            );
            steps.push(Step::RoleAssignment {
                name: role_assignment_name(&scope, &role_definition_id, &identity),
                scope: scope.clone(),
                role,
                role_definition_id,
                identity_id: identity.clone(),
                principal_id: None,
            });
        }
        if let Some(uploader) = &request.uploader_principal_id {
            check_name(Field::UploaderPrincipalId, uploader)?;
            let role = KEY_VAULT_SECRETS_OFFICER;
            let role_definition_id = format!(
                "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{}",
                request.subscription, role.id
            );
            steps.push(Step::RoleAssignment {
                name: role_assignment_name(&scope, &role_definition_id, uploader),
                scope: scope.clone(),
                role,
                role_definition_id,
                identity_id: identity.clone(),
                principal_id: Some(uploader.clone()),
            });
        }
        if let Some(expiration) = &request.k3s_max_token_expiration {
            crate::k3s::IssuerSettings::new(&request.issuer, expiration)?;
            steps.push(Step::K3sIssuer {
                issuer: request.issuer.clone(),
                max_token_expiration: expiration.clone(),
            });
        }
        steps.push(Step::SecretProviderClass {
            name: format!("spc-ops-{}", request.keyvault.to_ascii_lowercase()),
            namespace: request.namespace.clone(),
            keyvault: request.keyvault.clone(),
        });
        Ok(Plan {
            title: format!(
                "enable secret sync from vault {} for {} in namespace {}",
                request.keyvault, request.identity, request.namespace
            ),
            steps,
        })
    }
}

impl Step {
    /// The federated credential for `system:serviceaccount:<namespace>:<service_account>` on
    /// the identity, named from issuer and subject.
    pub fn federate(
        identity_id: &str,
        issuer: &str,
        namespace: &str,
        service_account: &str,
    ) -> Step {
        let subject = format!("system:serviceaccount:{namespace}:{service_account}");
        Step::FederatedCredential {
            identity_id: identity_id.to_string(),
            name: federated_credential_name(issuer, &subject),
            issuer: issuer.to_string(),
            subject,
            audience: TOKEN_EXCHANGE_AUDIENCE.into(),
        }
    }
}

/// One ARM REST request of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArmRequest {
    /// What the request does.
    pub description: String,
    /// `GET` or `PUT`.
    pub method: &'static str,
    /// The path and query under `https://management.azure.com` (or the cloud's ARM endpoint).
    /// `{principalId}` stands for the identity's principal id from the lookup.
    pub path: String,
    /// The JSON body of a `PUT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// The placeholder for the identity's principal id in ARM requests.
pub const PRINCIPAL_ID_PLACEHOLDER: &str = "{principalId}";

impl Step {
    /// The ARM requests of this step (none for the cluster-side steps).
    pub fn arm_requests(&self) -> Vec<ArmRequest> {
        match self {
            Step::LookupIdentity { identity_id } => vec![ArmRequest {
                description: "read the identity: properties.principalId, clientId, tenantId".into(),
                method: "GET",
                path: format!("{identity_id}?api-version={IDENTITY_API_VERSION}"),
                body: None,
            }],
            Step::FederatedCredential {
                identity_id,
                name,
                issuer,
                subject,
                audience,
            } => vec![
                ArmRequest {
                    description: format!(
                        "list federated credentials: skip the PUT when one has issuer {issuer} and subject {subject}"
                    ),
                    method: "GET",
                    path: format!(
                        "{identity_id}/federatedIdentityCredentials?api-version={IDENTITY_API_VERSION}"
                    ),
                    body: None,
                },
                ArmRequest {
                    description: format!("federate {subject}"),
                    method: "PUT",
                    path: format!(
                        "{identity_id}/federatedIdentityCredentials/{name}?api-version={IDENTITY_API_VERSION}"
                    ),
                    body: Some(serde_json::json!({
                        "properties": {"issuer": issuer, "subject": subject, "audiences": [audience]}
                    })),
                },
            ],
            Step::RoleAssignment {
                name,
                scope,
                role,
                role_definition_id,
                principal_id,
                ..
            } => vec![ArmRequest {
                description: format!(
                    "grant {} on the vault (409 RoleAssignmentExists is success)",
                    role.name
                ),
                method: "PUT",
                path: format!(
                    "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version={ROLE_ASSIGNMENT_API_VERSION}"
                ),
                body: Some(match principal_id {
                    // A named principal's type is left for ARM to find.
                    Some(principal) => serde_json::json!({
                        "properties": {"roleDefinitionId": role_definition_id, "principalId": principal}
                    }),
                    None => serde_json::json!({
                        "properties": {
                            "roleDefinitionId": role_definition_id,
                            "principalId": PRINCIPAL_ID_PLACEHOLDER,
                            "principalType": "ServicePrincipal",
                        }
                    }),
                }),
            }],
            Step::K3sIssuer { .. } | Step::SecretProviderClass { .. } => Vec::new(),
        }
    }
}

/// Quotes a value for bash (single quotes).
fn sh(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

impl Plan {
    /// Every ARM request, in order.
    pub fn to_arm_requests(&self) -> Vec<ArmRequest> {
        self.steps.iter().flat_map(Step::arm_requests).collect()
    }

    /// A bash script of az (and keyway, kubectl) commands doing the same, idempotent on re-run:
    /// the credential is skipped when one with the same issuer and subject exists, role
    /// assignments use deterministic names.
    pub fn to_az_script(&self) -> String {
        let mut out = format!(
            "#!/usr/bin/env bash\n# {}\n# Generated by keyway from a plan; safe to run again.\nset -euo pipefail\n",
            self.title
        );
        for step in &self.steps {
            out.push('\n');
            match step {
                Step::LookupIdentity { identity_id } => {
                    out.push_str(&format!(
                        "# The identity: principal id for role assignments, client and tenant ids for the SecretProviderClass.\nIDENTITY_ID={}\nPRINCIPAL_ID=$(az identity show --ids \"$IDENTITY_ID\" --query principalId -o tsv)\nCLIENT_ID=$(az identity show --ids \"$IDENTITY_ID\" --query clientId -o tsv)\nTENANT_ID=$(az identity show --ids \"$IDENTITY_ID\" --query tenantId -o tsv)\n",
                        sh(identity_id)
                    ));
                }
                Step::FederatedCredential {
                    identity_id,
                    name,
                    issuer,
                    subject,
                    audience,
                } => {
                    let query = sh(&format!(
                        "length([?issuer=='{issuer}' && subject=='{subject}'])"
                    ));
                    out.push_str(&format!("IDENTITY_ID={}\n", sh(identity_id)));
                    out.push_str(&format!(
                        "# Federate {subject} (skipped when a credential with this issuer and subject exists).\nif [ \"$(az identity federated-credential list --identity-name \"${{IDENTITY_ID##*/}}\" --resource-group \"$(cut -d/ -f5 <<<\"$IDENTITY_ID\")\" --query {query} -o tsv)\" = 0 ]; then\n  az identity federated-credential create --name {} --identity-name \"${{IDENTITY_ID##*/}}\" --resource-group \"$(cut -d/ -f5 <<<\"$IDENTITY_ID\")\" --issuer {} --subject {} --audiences {}\nfi\n",
                        sh(name),
                        sh(issuer),
                        sh(subject),
                        sh(audience)
                    ));
                }
                Step::RoleAssignment {
                    name,
                    scope,
                    role,
                    principal_id,
                    ..
                } => {
                    let (object, typed) = match principal_id {
                        Some(principal) => (sh(principal), String::new()),
                        None => (
                            "\"$PRINCIPAL_ID\"".to_string(),
                            " --assignee-principal-type ServicePrincipal".to_string(),
                        ),
                    };
                    out.push_str(&format!(
                        "# {} on the vault (skipped when the principal already has it).\nif [ \"$(az role assignment list --scope {} --role {} --assignee-object-id {object} --query 'length(@)' -o tsv)\" = 0 ]; then\n  az role assignment create --name {} --assignee-object-id {object}{typed} --role {} --scope {}\nfi\n",
                        role.name,
                        sh(scope),
                        sh(role.id),
                        sh(name),
                        sh(role.id),
                        sh(scope)
                    ));
                }
                Step::K3sIssuer {
                    issuer,
                    max_token_expiration,
                } => {
                    out.push_str(&format!(
                        "# The K3s issuer settings (on the K3s server), then restart K3s.\nsudo keyway cluster k3s-config --issuer {} --max-token-expiration {} --write\nsudo systemctl restart k3s\n",
                        sh(issuer),
                        sh(max_token_expiration)
                    ));
                }
                Step::SecretProviderClass {
                    name,
                    namespace,
                    keyvault,
                } => {
                    // Typed, with shell variables the unquoted heredoc fills in.
                    let mut class = keyway_sync::SecretProviderClass::new(
                        name,
                        keyway_sync::SecretProviderClassSpec {
                            provider: Some("azure".into()),
                            parameters: std::collections::BTreeMap::from([
                                ("clientID".to_string(), "${CLIENT_ID}".to_string()),
                                ("keyvaultName".to_string(), keyvault.clone()),
                                ("tenantID".to_string(), "${TENANT_ID}".to_string()),
                            ]),
                            secret_objects: None,
                        },
                    );
                    class.metadata.namespace = Some(namespace.clone());
                    let yaml = keyway_sync::yaml::to_string(&class).unwrap_or_default();
                    out.push_str(&format!(
                        "# The SecretProviderClass (objects are added per SecretSync).\nkubectl apply -f - <<EOF\n{yaml}EOF\n"
                    ));
                }
            }
        }
        out
    }
}
