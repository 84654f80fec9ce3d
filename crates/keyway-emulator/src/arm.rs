//! An Azure Resource Manager stand-in for what keyway's provisioning plans touch: user-assigned
//! identities (read), their federated identity credentials (list, get, put — a credential put
//! here is trusted by the emulated Entra at once), and role assignments (list, get, put; 409
//! `RoleAssignmentExists` when the same role is already assigned to the same principal under
//! another name; a Key Vault role on an emulated vault's scope is granted on that vault);
//! and, in [`edge`], an IoT Operations instance with its custom location and extension, and the
//! secret sync resources made on it. Bearer tokens from the emulated Entra for `https://management.azure.com` only.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::counters::Service;
use crate::directory::{AccessTokenClaims, Identity};
use crate::keyvault::{Role, VaultState};
use crate::server::ServiceSpec;
use crate::state::Shared;
use keyway_identity::FederatedIdentityCredential;

mod edge;
pub use edge::{IotOperationsInstance, SECRET_SYNC_API_VERSION};

/// The token audience of Azure Resource Manager.
pub const ARM_RESOURCE: &str = "https://management.azure.com";

struct ArmIdentity {
    id: String,
    identity: Identity,
    credentials: BTreeMap<String, FederatedIdentityCredential>,
}

struct Assignment {
    id: String,
    scope: String,
    role_definition_id: String,
    principal_id: String,
}

/// The stand-in's state.
#[derive(Default)]
pub(crate) struct ArmState {
    identities: Mutex<BTreeMap<String, ArmIdentity>>,
    assignments: Mutex<BTreeMap<String, Assignment>>,
    vaults: Mutex<BTreeMap<String, Arc<VaultState>>>,
    /// IoT Operations instances, their extensions and the secret sync resources.
    pub edge: edge::EdgeState,
}

impl std::fmt::Debug for ArmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmState").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl ArmState {
    pub fn add_identity(&self, id: &str, identity: Identity) {
        lock(&self.identities).insert(
            id.to_ascii_lowercase(),
            ArmIdentity {
                id: id.to_string(),
                identity,
                credentials: BTreeMap::new(),
            },
        );
    }

    pub fn add_vault(&self, vault: Arc<VaultState>) {
        lock(&self.vaults).insert(vault.name.to_ascii_lowercase(), vault);
    }

    /// Role assignments as (scope, role definition id, principal id).
    pub fn assignments(&self) -> Vec<(String, String, String)> {
        lock(&self.assignments)
            .values()
            .map(|a| {
                (
                    a.scope.clone(),
                    a.role_definition_id.clone(),
                    a.principal_id.clone(),
                )
            })
            .collect()
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The refusal for a request without a valid ARM token, or `None` when the token is good.
fn refusal(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let unauthorized = |message: &str| {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        );
        if let Ok(v) = header::HeaderValue::from_str(&format!(
            "Bearer authorization_uri=\"{}/common\", error=\"invalid_token\"",
            shared.authority_url()
        )) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        Some(response)
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized("The request is missing a bearer token.");
    };
    let Ok(claims) = shared
        .entra_jwks
        .verify_signature::<AccessTokenClaims>(token.trim())
    else {
        return unauthorized("The access token signature is invalid.");
    };
    if claims.aud.trim_end_matches('/') != ARM_RESOURCE {
        return unauthorized(&format!(
            "The access token has an invalid audience {:?}; expected {ARM_RESOURCE}.",
            claims.aud
        ));
    }
    if shared.clock.unix() > claims.exp + 300 {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "ExpiredAuthenticationToken",
            "The access token expired.",
        ));
    }
    None
}

/// The Key Vault role a built-in role-definition id names.
fn vault_role(role_definition_id: &str) -> Option<Role> {
    match role_definition_id
        .rsplit('/')
        .next()?
        .to_ascii_lowercase()
        .as_str()
    {
        "4633458b-17de-408a-b874-0445c86b69e6" => Some(Role::SecretsUser),
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7" => Some(Role::SecretsOfficer),
        "21090545-7ca7-4776-b22c-e363652d74d2" => Some(Role::Reader),
        "12338af0-0e69-4776-bea7-57ae8d297424" => Some(Role::CryptoUser),
        _ => None,
    }
}

fn identity_json(identity: &ArmIdentity) -> Value {
    json!({
        "id": identity.id,
        "name": identity.identity.name,
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
        "properties": {
            "principalId": identity.identity.object_id,
            "clientId": identity.identity.client_id,
            "tenantId": identity.identity.tenant_id,
        }
    })
}

fn credential_json(identity_id: &str, credential: &FederatedIdentityCredential) -> Value {
    json!({
        "id": format!("{identity_id}/federatedIdentityCredentials/{}", credential.name),
        "name": credential.name,
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
        "properties": {
            "issuer": credential.issuer,
            "subject": credential.subject,
            "audiences": credential.audiences,
        }
    })
}

fn assignment_json(assignment: &Assignment) -> Value {
    json!({
        "id": assignment.id,
        "name": assignment.id.rsplit('/').next().unwrap_or_default(),
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "scope": assignment.scope,
            "roleDefinitionId": assignment.role_definition_id,
            "principalId": assignment.principal_id,
        }
    })
}

/// The service as a listener serves it: its routes, the operation names it counts and faults
/// under, and its answer to an injected fault.
pub(crate) fn service(shared: Arc<Shared>, state: Arc<ArmState>) -> ServiceSpec {
    ServiceSpec {
        service: Service::Arm,
        router: Router::new().fallback(handle).with_state((shared, state)),
        operation,
        fault_response,
    }
}

/// The operation a request is counted under.
fn operation(method: &Method, path: &str) -> &'static str {
    if let Some(operation) = edge::operation(method, path) {
        return operation;
    }
    let credentials = path.contains("/federatedIdentityCredentials");
    let assignments = path.contains("/roleAssignments");
    match (method, credentials, assignments) {
        (&Method::PUT, true, _) => "FederatedIdentityCredentials_CreateOrUpdate",
        (&Method::GET, true, _) => "FederatedIdentityCredentials_Get",
        (&Method::PUT, _, true) => "RoleAssignments_Create",
        (&Method::GET, _, true) => "RoleAssignments_Get",
        (&Method::GET, _, _) => "UserAssignedIdentities_Get",
        _ => "unknown",
    }
}

fn fault_response(status: u16, retry_after: Option<u32>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = error(status, "InjectedFault", "injected fault");
    if let Some(seconds) =
        retry_after.and_then(|s| header::HeaderValue::from_str(&s.to_string()).ok())
    {
        response.headers_mut().insert(header::RETRY_AFTER, seconds);
    }
    response
}

async fn handle(
    State((shared, state)): State<(Arc<Shared>, Arc<ArmState>)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(response) = refusal(&shared, &headers) {
        return response;
    }
    if !uri.query().unwrap_or_default().contains("api-version=") {
        return error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    let path = uri.path().trim_end_matches('/').to_string();
    let lower = path.to_ascii_lowercase();
    let not_found = |what: &str| {
        error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("The Resource '{what}' was not found."),
        )
    };

    if let Some(response) = edge::handle(
        &state.edge,
        &method,
        &path,
        uri.query().unwrap_or_default(),
        &headers,
        &body,
    ) {
        return response;
    }

    // Federated identity credentials.
    if let Some(at) = lower.find("/federatedidentitycredentials") {
        let identity_key = &lower[..at];
        let name = path[at + "/federatedidentitycredentials".len()..]
            .trim_start_matches('/')
            .to_string();
        let mut identities = lock(&state.identities);
        let Some(identity) = identities.get_mut(identity_key) else {
            return not_found(&path[..at]);
        };
        return match (&method, name.is_empty()) {
            (&Method::GET, true) => {
                let value: Vec<Value> = identity
                    .credentials
                    .values()
                    .map(|c| credential_json(&identity.id, c))
                    .collect();
                Json(json!({"value": value})).into_response()
            }
            (&Method::GET, false) => match identity.credentials.get(&name) {
                Some(c) => Json(credential_json(&identity.id, c)).into_response(),
                None => not_found(&path),
            },
            (&Method::PUT, false) => {
                let parsed: Value = serde_json::from_slice(&body).unwrap_or_default();
                let properties = &parsed["properties"];
                let (Some(issuer), Some(subject)) = (
                    properties["issuer"].as_str(),
                    properties["subject"].as_str(),
                ) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "properties.issuer and properties.subject are required.",
                    );
                };
                if !issuer.starts_with("https://") {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "The issuer must be an https URL.",
                    );
                }
                let audiences: Vec<String> = properties["audiences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_string))
                    .collect();
                if let Some(other) = identity
                    .credentials
                    .values()
                    .find(|c| c.name != name && c.issuer == issuer && c.subject == subject)
                {
                    return error(
                        StatusCode::CONFLICT,
                        "FederatedIdentityCredentialAlreadyExists",
                        &format!(
                            "A federated identity credential with this issuer and subject already exists ({}).",
                            other.name
                        ),
                    );
                }
                let credential = FederatedIdentityCredential {
                    name: name.clone(),
                    issuer: issuer.into(),
                    subject: subject.into(),
                    audiences,
                };
                let created = identity
                    .credentials
                    .insert(name, credential.clone())
                    .is_none();
                shared.directory().add_federated_credential(
                    &identity.identity.tenant_id,
                    &identity.identity.client_id,
                    credential.clone(),
                );
                let status = if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                (status, Json(credential_json(&identity.id, &credential))).into_response()
            }
            _ => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The method is not supported here.",
            ),
        };
    }

    // Role assignments.
    if let Some(at) = lower.find("/providers/microsoft.authorization/roleassignments") {
        let scope = path[..at].to_string();
        let name = path[at + "/providers/microsoft.authorization/roleassignments".len()..]
            .trim_start_matches('/')
            .to_string();
        let mut assignments = lock(&state.assignments);
        return match (&method, name.is_empty()) {
            (&Method::GET, true) => {
                let value: Vec<Value> = assignments
                    .values()
                    .filter(|a| a.scope.eq_ignore_ascii_case(&scope))
                    .map(assignment_json)
                    .collect();
                Json(json!({"value": value})).into_response()
            }
            (&Method::GET, false) => match assignments.get(&lower) {
                Some(a) => Json(assignment_json(a)).into_response(),
                None => error(
                    StatusCode::NOT_FOUND,
                    "RoleAssignmentNotFound",
                    "The role assignment does not exist.",
                ),
            },
            (&Method::PUT, false) => {
                let parsed: Value = serde_json::from_slice(&body).unwrap_or_default();
                let properties = &parsed["properties"];
                let (Some(role), Some(principal)) = (
                    properties["roleDefinitionId"].as_str(),
                    properties["principalId"].as_str(),
                ) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidRoleAssignmentRequest",
                        "properties.roleDefinitionId and properties.principalId are required.",
                    );
                };
                let role_id = role
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let same = |a: &Assignment| {
                    a.scope.eq_ignore_ascii_case(&scope)
                        && a.role_definition_id
                            .rsplit('/')
                            .next()
                            .unwrap_or_default()
                            .eq_ignore_ascii_case(&role_id)
                        && a.principal_id.eq_ignore_ascii_case(principal)
                };
                if let Some(existing) = assignments.get(&lower) {
                    return if same(existing) {
                        (StatusCode::OK, Json(assignment_json(existing))).into_response()
                    } else {
                        error(
                            StatusCode::CONFLICT,
                            "RoleAssignmentUpdateNotPermitted",
                            "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
                        )
                    };
                }
                if assignments.values().any(same) {
                    return error(
                        StatusCode::CONFLICT,
                        "RoleAssignmentExists",
                        "The role assignment already exists.",
                    );
                }
                let assignment = Assignment {
                    id: path.clone(),
                    scope: scope.clone(),
                    role_definition_id: role.into(),
                    principal_id: principal.into(),
                };
                // A Key Vault role on an emulated vault's scope takes effect on that vault.
                let vault_name = scope
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if scope
                    .to_ascii_lowercase()
                    .contains("/providers/microsoft.keyvault/vaults/")
                    && let (Some(vault), Some(role)) =
                        (lock(&state.vaults).get(&vault_name), vault_role(role))
                {
                    vault.grant(principal, role);
                }
                let response =
                    (StatusCode::CREATED, Json(assignment_json(&assignment))).into_response();
                assignments.insert(lower, assignment);
                response
            }
            _ => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The method is not supported here.",
            ),
        };
    }

    // User-assigned identities.
    if method == Method::GET
        && lower.contains("/providers/microsoft.managedidentity/userassignedidentities/")
    {
        return match lock(&state.identities).get(&lower) {
            Some(identity) => Json(identity_json(identity)).into_response(),
            None => not_found(&path),
        };
    }
    not_found(&path)
}
