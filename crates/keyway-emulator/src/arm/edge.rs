//! The edge side of the ARM stand-in: an Azure IoT Operations instance
//! (`Microsoft.IoTOperations/instances`, read), its custom location
//! (`Microsoft.ExtendedLocation/customLocations`, read), the IoT Operations extension on the
//! connected cluster (`Microsoft.KubernetesConfiguration/extensions`: list, get, PATCH of
//! `configurationSettings`, which merges the keys sent), and the secret sync resources
//! `Microsoft.SecretSyncController/azureKeyVaultSecretProviderClasses` and `.../secretSyncs`
//! (api-version 2024-08-21-preview: PUT, GET, DELETE, list by resource group).
//!
//! Refused as ARM refuses them (shapes from the published 2024-08-21-preview specification):
//! another api-version (400 `NoRegisteredProviderFound`), a name outside the DNS-1123
//! subdomain pattern (400 `InvalidResourceName`), a missing `location` (400
//! `LocationRequired`), a missing or unknown custom location in `extendedLocation` (400
//! `InvalidExtendedLocation`), a missing or malformed required property (400
//! `InvalidRequestContent`, naming the field), an `If-Match` that is not the current etag (412
//! `PreconditionFailed`). Writes are synchronous here (the real providers may answer 201/202
//! and finish asynchronously). Nothing is synced: a SecretSync's `status` is what a test sets.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use regex::Regex;
use serde_json::{Map, Value, json};

use super::{error, lock};

/// The secret sync resources' api-version.
pub const SECRET_SYNC_API_VERSION: &str = "2024-08-21-preview";
const INSTANCE_API_VERSIONS: &[&str] = &["2024-11-01", "2025-04-01", "2025-07-01-preview"];
const CUSTOM_LOCATION_API_VERSIONS: &[&str] = &["2021-08-15", "2021-08-31-preview"];
const EXTENSION_API_VERSIONS: &[&str] = &["2022-11-01", "2023-05-01", "2024-11-01"];

const SSC: &str = "/providers/microsoft.secretsynccontroller/";
const SPC_TYPE: &str = "Microsoft.SecretSyncController/azureKeyVaultSecretProviderClasses";
const SYNC_TYPE: &str = "Microsoft.SecretSyncController/secretSyncs";
const EXTENSIONS: &str = "/providers/microsoft.kubernetesconfiguration/extensions";

/// What [`crate::Emulator::add_iot_operations_instance`] made: the ARM ids of an instance and
/// the resources around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IotOperationsInstance {
    /// `/subscriptions/.../providers/Microsoft.IoTOperations/instances/{name}`.
    pub instance_id: String,
    /// Its custom location (the `extendedLocation` of everything on the cluster).
    pub custom_location_id: String,
    /// The connected cluster hosting it.
    pub cluster_id: String,
    /// The IoT Operations extension on that cluster.
    pub extension_id: String,
    /// The Azure region.
    pub location: String,
}

/// The resources, by lower-case id.
#[derive(Default)]
pub(crate) struct EdgeState {
    resources: Mutex<BTreeMap<String, Value>>,
    etags: AtomicU64,
}

impl EdgeState {
    fn etag(&self) -> String {
        format!("\"{:08x}\"", self.etags.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn insert(&self, id: &str, value: Value) {
        lock(&self.resources).insert(id.to_ascii_lowercase(), value);
    }

    /// The resource `id`, as GET answers it.
    pub fn resource(&self, id: &str) -> Option<Value> {
        lock(&self.resources).get(&id.to_ascii_lowercase()).cloned()
    }

    /// Sets `properties.status` of the SecretSync `id` (what the extension reports from the
    /// cluster); false when there is no such resource.
    pub fn set_status(&self, id: &str, status: Value) -> bool {
        match lock(&self.resources).get_mut(&id.to_ascii_lowercase()) {
            Some(resource) => {
                resource["properties"]["status"] = status;
                true
            }
            None => false,
        }
    }

    /// An instance named `name` in `resource_group`, its custom location (namespace
    /// `namespace`), connected cluster and IoT Operations extension with `settings`.
    pub fn add_instance(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
        namespace: &str,
        settings: &BTreeMap<String, String>,
    ) -> IotOperationsInstance {
        let group = format!("/subscriptions/{subscription}/resourceGroups/{resource_group}");
        let location = "eastus".to_string();
        let cluster_id =
            format!("{group}/providers/Microsoft.Kubernetes/connectedClusters/{name}-cluster");
        let extension_id = format!(
            "{cluster_id}/providers/Microsoft.KubernetesConfiguration/extensions/azure-iot-operations-{name}"
        );
        let custom_location_id =
            format!("{group}/providers/Microsoft.ExtendedLocation/customLocations/{name}-cl");
        let instance_id = format!("{group}/providers/Microsoft.IoTOperations/instances/{name}");
        self.insert(
            &instance_id,
            json!({
                "id": instance_id, "name": name, "type": "microsoft.iotoperations/instances",
                "location": location,
                "extendedLocation": {"name": custom_location_id, "type": "CustomLocation"},
                "properties": {"provisioningState": "Succeeded", "version": "1.0.0"},
            }),
        );
        self.insert(
            &custom_location_id,
            json!({
                "id": custom_location_id, "name": format!("{name}-cl"),
                "type": "Microsoft.ExtendedLocation/customLocations", "location": location,
                "properties": {
                    "hostResourceId": cluster_id, "hostType": "Kubernetes",
                    "namespace": namespace, "clusterExtensionIds": [extension_id],
                    "provisioningState": "Succeeded",
                },
            }),
        );
        self.insert(
            &extension_id,
            json!({
                "id": extension_id, "name": format!("azure-iot-operations-{name}"),
                "type": "Microsoft.KubernetesConfiguration/extensions",
                "etag": self.etag(),
                "properties": {
                    "extensionType": "microsoft.iotoperations", "releaseTrain": "stable",
                    "scope": {"cluster": {"releaseNamespace": namespace}},
                    "configurationSettings": settings, "provisioningState": "Succeeded",
                },
            }),
        );
        IotOperationsInstance {
            instance_id,
            custom_location_id,
            cluster_id,
            extension_id,
            location,
        }
    }
}

/// The operation a request to these resources is counted under, if it is one of them.
pub(crate) fn operation(method: &Method, path: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    let named = |kind: &str| {
        lower.find(kind).is_some_and(|at| {
            lower[at + kind.len()..]
                .trim_matches('/')
                .contains(|c| c != '/')
        })
    };
    let op = if lower.contains("azurekeyvaultsecretproviderclasses") {
        let named = named("azurekeyvaultsecretproviderclasses");
        match (method, named) {
            (&Method::PUT, _) => "AzureKeyVaultSecretProviderClasses_CreateOrUpdate",
            (&Method::GET, true) => "AzureKeyVaultSecretProviderClasses_Get",
            (&Method::GET, false) => "AzureKeyVaultSecretProviderClasses_ListByResourceGroup",
            (&Method::DELETE, _) => "AzureKeyVaultSecretProviderClasses_Delete",
            _ => "AzureKeyVaultSecretProviderClasses_Update",
        }
    } else if lower.contains(SSC) && lower.contains("/secretsyncs") {
        match (method, named("/secretsyncs")) {
            (&Method::PUT, _) => "SecretSyncs_CreateOrUpdate",
            (&Method::GET, true) => "SecretSyncs_Get",
            (&Method::GET, false) => "SecretSyncs_ListByResourceGroup",
            (&Method::DELETE, _) => "SecretSyncs_Delete",
            _ => "SecretSyncs_Update",
        }
    } else if lower.contains(EXTENSIONS) {
        match (method, named(EXTENSIONS)) {
            (&Method::PATCH, _) => "Extensions_Update",
            (&Method::GET, true) => "Extensions_Get",
            (&Method::GET, false) => "Extensions_List",
            _ => "Extensions_Other",
        }
    } else if lower.contains("/providers/microsoft.iotoperations/instances/") {
        "Instance_Get"
    } else if lower.contains("/providers/microsoft.extendedlocation/customlocations/") {
        "CustomLocations_Get"
    } else {
        return None;
    };
    Some(op)
}

fn api_version(query: &str) -> &str {
    query
        .split('&')
        .find_map(|p| p.strip_prefix("api-version="))
        .unwrap_or_default()
}

fn unsupported_version(type_name: &str, version: &str, supported: &[&str]) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "NoRegisteredProviderFound",
        &format!(
            "No registered resource provider found for location 'eastus' and API version \
             '{version}' for type '{type_name}'. The supported api-versions are '{}'.",
            supported.join(", ")
        ),
    )
}

fn invalid(field: &str, why: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestContent",
        &format!("The request content was invalid: '{field}' {why}."),
    )
}

fn not_found(type_name: &str, name: &str, group: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("The Resource '{type_name}/{name}' under resource group '{group}' was not found."),
    )
}

fn dns_subdomain(name: &str) -> bool {
    let pattern = Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        .expect("a valid pattern");
    name.len() <= 253 && pattern.is_match(name)
}

fn guid(text: &str) -> bool {
    Regex::new(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
        .expect("a valid pattern")
        .is_match(text)
}

fn mapping_key(text: &str) -> bool {
    let pattern =
        Regex::new(r"^[A-Za-z0-9.]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?(/([0-9]+))*$")
            .expect("a valid pattern");
    (1..=253).contains(&text.len()) && pattern.is_match(text)
}

/// A refused request's field and reason, answered as [`invalid`].
struct Refusal(String, String);

fn refuse(field: &str, why: &str) -> Refusal {
    Refusal(field.to_string(), why.to_string())
}

/// A required string property `field` of `properties`.
fn required_str<'a>(properties: &'a Value, field: &str) -> Result<&'a str, Refusal> {
    match &properties[field] {
        Value::String(s) if !s.is_empty() => Ok(s),
        Value::Null => Err(refuse(&format!("properties.{field}"), "is required")),
        _ => Err(refuse(
            &format!("properties.{field}"),
            "must be a non-empty string",
        )),
    }
}

/// The properties ARM keeps of an AzureKeyVaultSecretProviderClass, or the refusal.
fn provider_class_properties(properties: &Value) -> Result<Value, Refusal> {
    let client_id = required_str(properties, "clientId")?;
    if !guid(client_id) {
        return Err(refuse("properties.clientId", "must be a GUID"));
    }
    let tenant_id = required_str(properties, "tenantId")?;
    if !guid(tenant_id) {
        return Err(refuse("properties.tenantId", "must be a GUID"));
    }
    let vault = required_str(properties, "keyvaultName")?;
    let mut kept = json!({"clientId": client_id, "tenantId": tenant_id, "keyvaultName": vault});
    match &properties["objects"] {
        Value::Null => {}
        Value::String(objects) => kept["objects"] = Value::String(objects.clone()),
        _ => return Err(refuse("properties.objects", "must be a string")),
    }
    Ok(kept)
}

/// The properties ARM keeps of a SecretSync, or the refusal.
fn secret_sync_properties(properties: &Value) -> Result<Value, Refusal> {
    let class = required_str(properties, "secretProviderClassName")?;
    if !dns_subdomain(class) {
        return Err(refuse(
            "properties.secretProviderClassName",
            "must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ));
    }
    let account = required_str(properties, "serviceAccountName")?;
    if !dns_subdomain(account) {
        return Err(refuse(
            "properties.serviceAccountName",
            "must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ));
    }
    let secret_type = required_str(properties, "kubernetesSecretType")?;
    let Some(mapping) = properties["objectSecretMapping"].as_array() else {
        return Err(refuse(
            "properties.objectSecretMapping",
            "is required (an array)",
        ));
    };
    if mapping.is_empty() {
        return Err(refuse(
            "properties.objectSecretMapping",
            "must have at least 1 item",
        ));
    }
    let mut kept_mapping = Vec::new();
    for (i, entry) in mapping.iter().enumerate() {
        let mut kept = Map::new();
        for field in ["sourcePath", "targetKey"] {
            let path = format!("properties.objectSecretMapping[{i}].{field}");
            match entry[field].as_str() {
                None => return Err(refuse(&path, "is required")),
                Some(text) if !mapping_key(text) => {
                    return Err(refuse(
                        &path,
                        "must be 1 to 253 characters matching ^[A-Za-z0-9.]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?(/([0-9]+))*$",
                    ));
                }
                Some(text) => {
                    kept.insert(field.into(), Value::String(text.into()));
                }
            }
        }
        kept_mapping.push(Value::Object(kept));
    }
    let mut kept = json!({
        "secretProviderClassName": class,
        "serviceAccountName": account,
        "kubernetesSecretType": secret_type,
        "objectSecretMapping": kept_mapping,
    });
    match &properties["forceSynchronization"] {
        Value::Null => {}
        Value::String(s) => kept["forceSynchronization"] = Value::String(s.clone()),
        _ => {
            return Err(refuse(
                "properties.forceSynchronization",
                "must be a string",
            ));
        }
    }
    Ok(kept)
}

/// Answers a request to these resources; `None` when the path is not one of them.
pub(crate) fn handle(
    state: &EdgeState,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let lower = path.to_ascii_lowercase();
    let version = api_version(query);
    let segments: Vec<&str> = path.split('/').collect();
    // /subscriptions/{s}/resourceGroups/{g}/providers/{namespace}/{type}[/{name}]
    let group_scoped = segments.len() >= 8
        && segments[1].eq_ignore_ascii_case("subscriptions")
        && segments[3].eq_ignore_ascii_case("resourcegroups")
        && segments[5].eq_ignore_ascii_case("providers");

    if let Some(at) = lower.find(EXTENSIONS) {
        if !EXTENSION_API_VERSIONS.contains(&version) {
            return Some(unsupported_version(
                "Microsoft.KubernetesConfiguration/extensions",
                version,
                EXTENSION_API_VERSIONS,
            ));
        }
        let cluster = &lower[..at];
        let name = path[at + EXTENSIONS.len()..].trim_start_matches('/');
        return Some(extension(state, method, cluster, &lower, name, body));
    }
    // The read-only resources: (path part, ARM type, API versions served).
    for (part, type_name, versions) in [
        (
            "/providers/microsoft.iotoperations/instances/",
            "Microsoft.IoTOperations/instances",
            INSTANCE_API_VERSIONS,
        ),
        (
            "/providers/microsoft.extendedlocation/customlocations/",
            "Microsoft.ExtendedLocation/customLocations",
            CUSTOM_LOCATION_API_VERSIONS,
        ),
    ] {
        if group_scoped && lower.contains(part) {
            if !versions.contains(&version) {
                return Some(unsupported_version(type_name, version, versions));
            }
            return Some(read_only(state, method, path, segments[4]));
        }
    }
    if group_scoped && lower.contains(SSC) {
        let type_name = match segments[7].to_ascii_lowercase().as_str() {
            "azurekeyvaultsecretproviderclasses" => SPC_TYPE,
            "secretsyncs" => SYNC_TYPE,
            other => {
                return Some(error(
                    StatusCode::BAD_REQUEST,
                    "InvalidResourceType",
                    &format!(
                        "The resource type '{other}' could not be found in the namespace \
                         'Microsoft.SecretSyncController' for api version '{version}'."
                    ),
                ));
            }
        };
        if version != SECRET_SYNC_API_VERSION {
            return Some(unsupported_version(
                type_name,
                version,
                &[SECRET_SYNC_API_VERSION],
            ));
        }
        let group = segments[4];
        let collection = segments[..8].join("/");
        let name = segments.get(8).copied().unwrap_or_default();
        if segments.len() > 9 {
            return Some(error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "No HTTP resource was found that matches the request URI.",
            ));
        }
        return Some(secret_sync_resource(
            state,
            method,
            headers,
            body,
            type_name,
            group,
            &collection,
            name,
        ));
    }
    None
}

fn read_only(state: &EdgeState, method: &Method, path: &str, group: &str) -> Response {
    if method != Method::GET {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The stand-in only reads this resource type.",
        );
    }
    match state.resource(path) {
        Some(value) => Json(value).into_response(),
        None => not_found(
            path.rsplit('/').nth(1).unwrap_or_default(),
            path.rsplit('/').next().unwrap_or_default(),
            group,
        ),
    }
}

/// A collection's answer: its resources (those whose key starts with `prefix`) to a GET,
/// `MethodNotAllowed` to anything else.
fn list(resources: &BTreeMap<String, Value>, method: &Method, prefix: &str) -> Response {
    if method != Method::GET {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The method is not supported here.",
        );
    }
    let value: Vec<Value> = resources
        .iter()
        .filter(|(id, _)| id.starts_with(prefix))
        .map(|(_, v)| v.clone())
        .collect();
    Json(json!({"value": value})).into_response()
}

fn extension(
    state: &EdgeState,
    method: &Method,
    cluster: &str,
    lower: &str,
    name: &str,
    body: &[u8],
) -> Response {
    let mut resources = lock(&state.resources);
    if name.is_empty() {
        return list(&resources, method, &format!("{cluster}{EXTENSIONS}/"));
    }
    let Some(resource) = resources.get_mut(lower) else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("The extension '{name}' was not found."),
        );
    };
    match *method {
        Method::GET => Json(resource.clone()).into_response(),
        Method::PATCH => {
            let Ok(patch) = serde_json::from_slice::<Value>(body) else {
                return invalid("body", "must be a JSON object");
            };
            let settings = &patch["properties"]["configurationSettings"];
            let Some(settings) = settings.as_object() else {
                return if settings.is_null() {
                    Json(resource.clone()).into_response()
                } else {
                    invalid(
                        "properties.configurationSettings",
                        "must be an object of strings",
                    )
                };
            };
            for (key, value) in settings {
                if !(value.is_string() || value.is_null()) {
                    return invalid(
                        &format!("properties.configurationSettings.{key}"),
                        "must be a string",
                    );
                }
            }
            let current = &mut resource["properties"]["configurationSettings"];
            if !current.is_object() {
                *current = json!({});
            }
            for (key, value) in settings {
                if let Some(map) = current.as_object_mut() {
                    if value.is_null() {
                        map.remove(key);
                    } else {
                        map.insert(key.clone(), value.clone());
                    }
                }
            }
            resource["etag"] = Value::String(state.etag());
            Json(resource.clone()).into_response()
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The method is not supported here.",
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn secret_sync_resource(
    state: &EdgeState,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    type_name: &str,
    group: &str,
    collection: &str,
    name: &str,
) -> Response {
    let prefix = format!("{}/", collection.to_ascii_lowercase());
    let id = format!("{collection}/{name}");
    let key = id.to_ascii_lowercase();
    let if_match = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut resources = lock(&state.resources);
    if name.is_empty() {
        return list(&resources, method, &prefix);
    }
    let precondition_failed = || {
        error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "The resource's etag does not match the If-Match header: it changed since it was read.",
        )
    };
    match *method {
        Method::GET => match resources.get(&key) {
            Some(value) => Json(value.clone()).into_response(),
            None => not_found(type_name, name, group),
        },
        Method::DELETE => {
            if let Some(expected) = &if_match
                && resources.get(&key).and_then(|r| r["etag"].as_str()) != Some(expected)
                && expected != "*"
            {
                return precondition_failed();
            }
            match resources.remove(&key) {
                Some(_) => StatusCode::OK.into_response(),
                None => StatusCode::NO_CONTENT.into_response(),
            }
        }
        Method::PUT => {
            if !dns_subdomain(name) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidResourceName",
                    &format!(
                        "The resource name '{name}' is invalid: it must be at most 253 \
                         characters matching \
                         ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$."
                    ),
                );
            }
            let Ok(request) = serde_json::from_slice::<Value>(body) else {
                return invalid("body", "must be a JSON object");
            };
            if !request.is_object() {
                return invalid("body", "must be a JSON object");
            }
            let Some(location) = request["location"].as_str().filter(|l| !l.is_empty()) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "LocationRequired",
                    "The location property is required for this definition.",
                );
            };
            let extended = &request["extendedLocation"];
            let (Some(custom_location), Some(kind)) =
                (extended["name"].as_str(), extended["type"].as_str())
            else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidExtendedLocation",
                    "extendedLocation.name and extendedLocation.type are required: the custom \
                     location of the cluster the resource is made on.",
                );
            };
            if kind != "CustomLocation" {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidExtendedLocation",
                    &format!(
                        "extendedLocation.type '{kind}' is not supported: use CustomLocation."
                    ),
                );
            }
            if !resources.contains_key(&custom_location.to_ascii_lowercase()) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidExtendedLocation",
                    &format!("The custom location '{custom_location}' was not found."),
                );
            }
            let properties = if type_name == SPC_TYPE {
                provider_class_properties(&request["properties"])
            } else {
                secret_sync_properties(&request["properties"])
            };
            let mut properties = match properties {
                Ok(p) => p,
                Err(Refusal(field, why)) => return invalid(&field, &why),
            };
            let existing = resources.get(&key);
            if let Some(expected) = &if_match
                && expected != "*"
                && existing.and_then(|r| r["etag"].as_str()) != Some(expected)
            {
                return precondition_failed();
            }
            if let Some(status) = existing.map(|r| &r["properties"]["status"])
                && !status.is_null()
            {
                properties["status"] = status.clone();
            }
            properties["provisioningState"] = json!("Succeeded");
            let created = existing.is_none();
            let resource = json!({
                "id": id,
                "name": name,
                "type": type_name,
                "location": location,
                "extendedLocation": {"name": custom_location, "type": kind},
                "tags": request["tags"].as_object().cloned().unwrap_or_default(),
                "etag": state.etag(),
                "properties": properties,
            });
            resources.insert(key, resource.clone());
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(resource)).into_response()
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The method is not supported here.",
        ),
    }
}
