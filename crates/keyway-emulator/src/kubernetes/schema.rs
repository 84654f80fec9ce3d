//! CustomResourceDefinition checks on create and update, as the real API server makes them
//! (apiextensions-apiserver's `ValidateCustomResourceDefinition` and `ValidateStructural`):
//! names, versions (unique, exactly one stored), and every version's schema structural — every
//! property and array item typed unless `x-kubernetes-int-or-string` or
//! `x-kubernetes-preserve-unknown-fields`, `items` with arrays, no `additionalProperties` beside
//! `properties` or at the root, `metadata` restricted to `name`/`generateName`, value
//! validations (`allOf`, `anyOf`, `oneOf`, `not`) free of types and descriptions, list types
//! consistent, patterns that compile. Also the defaults the server fills in (`singular`,
//! `listKind`, `conversion`).
//!
//! Like the real server, a schema shared by every version is reported under
//! `spec.validation.openAPIV3Schema` (the server folds identical per-version schemas into one),
//! otherwise under `spec.versions[i].schema.openAPIV3Schema`.

use serde_json::{Value, json};

#[cfg(test)]
use super::field::Kind;
use super::field::{FieldError, child, index};

const TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// Fills in what the server defaults: `names.singular` (the lowercased kind), `names.listKind`
/// (`<Kind>List`) and `conversion.strategy: None`.
pub(crate) fn default_crd(crd: &mut Value) {
    let spec = &mut crd["spec"];
    if !spec.is_object() {
        return;
    }
    let kind = spec["names"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if spec["names"].is_object() && !kind.is_empty() {
        if spec["names"]["singular"].as_str().is_none_or(str::is_empty) {
            spec["names"]["singular"] = json!(kind.to_ascii_lowercase());
        }
        if spec["names"]["listKind"].as_str().is_none_or(str::is_empty) {
            spec["names"]["listKind"] = json!(format!("{kind}List"));
        }
    }
    if spec["conversion"].is_null() {
        spec["conversion"] = json!({"strategy": "None"});
    }
}

/// Every reason the server would refuse this CustomResourceDefinition.
pub(crate) fn check_crd(crd: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        errors.push(FieldError::invalid(
            "metadata.name",
            json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        errors.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        errors.push(FieldError::invalid(
            "spec.group",
            json!(group),
            "should be a domain with at least one dot",
        ));
    }
    match spec["scope"].as_str() {
        Some("Cluster" | "Namespaced") => {}
        Some(other) => errors.push(FieldError::not_supported(
            "spec.scope",
            json!(other),
            &[json!("Cluster"), json!("Namespaced")],
        )),
        None => errors.push(FieldError::required("spec.scope", "")),
    }
    for field in ["plural", "singular", "kind", "listKind"] {
        if spec["names"][field].as_str().is_none_or(str::is_empty) {
            errors.push(FieldError::required(&format!("spec.names.{field}"), ""));
        }
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        errors.push(FieldError::required("spec.versions", ""));
        return errors;
    }
    let mut names: Vec<&str> = versions
        .iter()
        .map(|v| v["name"].as_str().unwrap_or_default())
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.len() != versions.len() {
        errors.push(FieldError::invalid(
            "spec.versions",
            Value::Array(versions.clone()),
            "must contain unique version names",
        ));
    }
    let stored = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .count();
    if stored != 1 {
        errors.push(FieldError::invalid(
            "spec.versions",
            Value::Array(versions.clone()),
            "must have exactly one version marked as storage version",
        ));
    }
    let status_enabled = |v: &Value| v["subresources"]["status"].is_object();
    let schemas: Vec<&Value> = versions
        .iter()
        .map(|v| &v["schema"]["openAPIV3Schema"])
        .collect();
    let shared = schemas.iter().all(|s| !s.is_null() && *s == schemas[0]);
    if shared {
        let path = "spec.validation.openAPIV3Schema";
        check_root(
            schemas[0],
            path,
            versions.iter().any(status_enabled),
            &mut errors,
        );
    } else {
        for (i, (version, schema)) in versions.iter().zip(&schemas).enumerate() {
            let path = format!("spec.versions[{i}].schema.openAPIV3Schema");
            if schema.is_null() {
                errors.push(FieldError::required(&path, ""));
            } else {
                check_root(schema, &path, status_enabled(version), &mut errors);
            }
        }
    }
    errors
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

fn check_root(schema: &Value, path: &str, _status: bool, errors: &mut Vec<FieldError>) {
    if schema["nullable"].as_bool() == Some(true) {
        errors.push(FieldError::forbidden(
            &child(path, "nullable"),
            "nullable cannot be true at the root",
        ));
    }
    let mut found = Vec::new();
    node(schema, path, Level::Root, &mut found);
    // The server sorts the structural errors by their text.
    found.sort_by_key(|e| e.to_string());
    errors.extend(found);
}

fn flag(schema: &Value, name: &str) -> bool {
    schema[name].as_bool() == Some(true)
}

/// The structural and OpenAPI rules for one schema node and, recursively, its children.
fn node(s: &Value, path: &str, level: Level, errors: &mut Vec<FieldError>) {
    let Some(map) = s.as_object() else {
        errors.push(FieldError::invalid(
            path,
            s.clone(),
            "must be a schema object",
        ));
        return;
    };
    let t = s["type"].as_str().unwrap_or_default();
    match t {
        "" => {}
        "null" => errors.push(FieldError::forbidden(
            &child(path, "type"),
            "type cannot be set to null, use nullable as an alternative",
        )),
        t if !TYPES.contains(&t) => errors.push(FieldError::not_supported(
            &child(path, "type"),
            json!(t),
            &TYPES.map(|t| json!(t)),
        )),
        _ => {}
    }
    for (key, what) in [
        ("$ref", "$ref is not supported"),
        ("patternProperties", "patternProperties is not supported"),
        ("definitions", "definitions is not supported"),
        ("dependencies", "dependencies is not supported"),
        ("additionalItems", "additionalItems is not supported"),
        ("id", "id is not supported"),
    ] {
        if map.contains_key(key) {
            errors.push(FieldError::forbidden(&child(path, key), what));
        }
    }
    if flag(s, "uniqueItems") {
        errors.push(FieldError::forbidden(
            &child(path, "uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    let int_or_string = flag(s, "x-kubernetes-int-or-string");
    let preserve = flag(s, "x-kubernetes-preserve-unknown-fields");
    let embedded = flag(s, "x-kubernetes-embedded-resource");
    if s["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(false) {
        errors.push(FieldError::invalid(
            &child(path, "x-kubernetes-preserve-unknown-fields"),
            json!(false),
            "must be true or undefined",
        ));
    }
    if int_or_string && preserve {
        errors.push(FieldError::invalid(
            &child(path, "x-kubernetes-preserve-unknown-fields"),
            json!(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }

    // Arrays and their items.
    if t == "array" && s.get("items").is_none() {
        errors.push(FieldError::required(
            &child(path, "items"),
            "must be specified",
        ));
    }
    match s.get("items") {
        Some(Value::Array(_)) => errors.push(FieldError::forbidden(
            &child(path, "items"),
            "items must be a schema object and not an array",
        )),
        Some(items) => node(items, &child(path, "items"), Level::Item, errors),
        None => {}
    }

    // Objects: properties xor additionalProperties.
    let properties = s["properties"].as_object();
    if let Some(properties) = properties {
        for (key, property) in properties {
            node(
                property,
                &index(&child(path, "properties"), key),
                Level::Field,
                errors,
            );
        }
    }
    match s.get("additionalProperties") {
        None => {}
        Some(additional) => {
            let beside = properties.is_some_and(|p| !p.is_empty());
            if beside && additional != &Value::Bool(true) {
                errors.push(FieldError::forbidden(
                    &child(path, "additionalProperties"),
                    "additionalProperties and properties are mutual exclusive",
                ));
            }
            if level == Level::Root {
                errors.push(FieldError::forbidden(
                    &child(path, "additionalProperties"),
                    "must not be used at the root",
                ));
            }
            if additional.is_object() {
                node(
                    additional,
                    &child(path, "additionalProperties"),
                    Level::Field,
                    errors,
                );
            }
        }
    }

    // A type everywhere it is needed.
    if embedded && t != "object" {
        if t.is_empty() {
            errors.push(FieldError::required(
                &child(path, "type"),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        } else {
            errors.push(FieldError::invalid(
                &child(path, "type"),
                json!(t),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        }
    } else if t.is_empty() && !int_or_string && !preserve {
        let detail = match level {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errors.push(FieldError::required(&child(path, "type"), detail));
    }
    if level == Level::Root && !t.is_empty() && t != "object" {
        errors.push(FieldError::invalid(
            &child(path, "type"),
            json!(t),
            "must be object at the root",
        ));
    }
    let check_metadata = level == Level::Root || embedded;
    if check_metadata {
        for key in ["kind", "apiVersion"] {
            if let Some(property) = properties.and_then(|p| p.get(key))
                && property["type"].as_str() != Some("string")
            {
                errors.push(FieldError::invalid(
                    &child(&index(&child(path, "properties"), key), "type"),
                    json!(property["type"].as_str().unwrap_or_default()),
                    "must be string",
                ));
            }
        }
    }
    if let Some(metadata) = properties.and_then(|p| p.get("metadata")) {
        metadata_node(metadata, check_metadata, level, path, errors);
    }

    // Value validations, lists, patterns.
    let skip_any_of = int_or_string_any_of(s);
    value_validations(s, path, skip_any_of, errors);
    list_type(s, path, t, errors);
    if let Some(pattern) = s["pattern"].as_str()
        && let Err(e) = regex::Regex::new(pattern)
    {
        errors.push(FieldError::invalid(
            &child(path, "pattern"),
            json!(pattern),
            format!(
                "must be a valid regular expression, but isn't: {}",
                e.to_string().lines().last().unwrap_or_default().trim()
            ),
        ));
    }
}

/// `metadata` in a resource: an object, and at the root nothing but `name`/`generateName`.
fn metadata_node(
    metadata: &Value,
    check_metadata: bool,
    level: Level,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let here = index(&child(path, "properties"), "metadata");
    let t = metadata["type"].as_str().unwrap_or_default();
    if check_metadata && t != "object" {
        errors.push(FieldError::invalid(
            &child(&here, "type"),
            json!(t),
            "must be object",
        ));
    }
    if level != Level::Root {
        return;
    }
    let allowed = metadata.as_object().is_none_or(|m| {
        m.iter().all(|(key, value)| match key.as_str() {
            "type" | "default" => true,
            "properties" => value
                .as_object()
                .is_none_or(|p| p.keys().all(|k| k == "name" || k == "generateName")),
            _ => false,
        })
    });
    if !allowed {
        errors.push(FieldError::forbidden(
            &here,
            "must not specify anything other than name and generateName, but metadata is implicitly specified",
        ));
    }
}

/// `anyOf: [{type: integer}, {type: string}]`, the int-or-string form allowed to name types.
fn int_or_string_any_of(s: &Value) -> bool {
    s["anyOf"] == json!([{"type": "integer"}, {"type": "string"}])
}

fn value_validations(s: &Value, path: &str, skip_any_of: bool, errors: &mut Vec<FieldError>) {
    for key in ["anyOf", "allOf", "oneOf"] {
        if key == "anyOf" && skip_any_of {
            continue;
        }
        if let Some(branches) = s[key].as_array() {
            for (i, branch) in branches.iter().enumerate() {
                let skip = key == "allOf" && i == 0 && int_or_string_any_of(branch);
                nested(branch, &index(&child(path, key), i), skip, errors);
            }
        }
    }
    if let Some(not) = s.get("not") {
        nested(not, &child(path, "not"), false, errors);
    }
}

/// A schema inside a value validation: constraints only, no structure of its own.
fn nested(s: &Value, path: &str, skip_any_of: bool, errors: &mut Vec<FieldError>) {
    if !s.is_object() {
        return;
    }
    value_validations(s, path, skip_any_of, errors);
    if let Some(items) = s.get("items") {
        nested(items, &child(path, "items"), false, errors);
    }
    if let Some(properties) = s["properties"].as_object() {
        for (key, property) in properties {
            nested(
                property,
                &index(&child(path, "properties"), key),
                false,
                errors,
            );
        }
        if properties.contains_key("metadata") {
            errors.push(FieldError::forbidden(
                &index(&child(path, "properties"), "metadata"),
                "must not be specified in a nested context",
            ));
        }
    }
    // Each key a value validation may not set, how it counts as set, and what it must be.
    let forbidden: [(&str, Set, &str); 13] = [
        ("type", Set::Present, "empty"),
        ("additionalProperties", Set::Present, "undefined"),
        ("default", Set::Present, "undefined"),
        ("title", Set::Present, "empty"),
        ("description", Set::Present, "empty"),
        ("nullable", Set::True, "false"),
        ("x-kubernetes-preserve-unknown-fields", Set::True, "false"),
        ("x-kubernetes-embedded-resource", Set::True, "false"),
        ("x-kubernetes-int-or-string", Set::True, "false"),
        ("x-kubernetes-list-map-keys", Set::NonEmpty, "empty"),
        ("x-kubernetes-list-type", Set::Present, "undefined"),
        ("x-kubernetes-map-type", Set::Present, "undefined"),
        ("x-kubernetes-validations", Set::NonEmpty, "empty"),
    ];
    for (key, set, must_be) in forbidden {
        let is_set = match set {
            Set::Present => s.get(key).is_some(),
            Set::True => flag(s, key),
            Set::NonEmpty => s[key].as_array().is_some_and(|a| !a.is_empty()),
        };
        if is_set {
            errors.push(FieldError::forbidden(
                &child(path, key),
                format!("must be {must_be} to be structural"),
            ));
        }
    }
}

/// When a key counts as set in a value validation.
enum Set {
    /// Present at all.
    Present,
    /// `true`.
    True,
    /// A non-empty array.
    NonEmpty,
}

/// `x-kubernetes-list-type` and `x-kubernetes-list-map-keys` as the server checks them.
fn list_type(s: &Value, path: &str, t: &str, errors: &mut Vec<FieldError>) {
    let keys: Vec<&str> = s["x-kubernetes-list-map-keys"]
        .as_array()
        .map(|k| k.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let list_type = s["x-kubernetes-list-type"].as_str();
    if let Some(list_type) = list_type {
        if t != "array" {
            errors.push(if t.is_empty() {
                FieldError::required(
                    &child(path, "type"),
                    "must be array if x-kubernetes-list-type is specified",
                )
            } else {
                FieldError::invalid(
                    &child(path, "type"),
                    json!(t),
                    "must be array if x-kubernetes-list-type is specified",
                )
            });
        }
        if !["atomic", "set", "map"].contains(&list_type) {
            errors.push(FieldError::not_supported(
                &child(path, "x-kubernetes-list-type"),
                json!(list_type),
                &[json!("atomic"), json!("set"), json!("map")],
            ));
        }
    }
    if !keys.is_empty() && list_type != Some("map") {
        errors.push(match list_type {
            None => FieldError::required(
                &child(path, "x-kubernetes-list-type"),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            ),
            Some(other) => FieldError::invalid(
                &child(path, "x-kubernetes-list-type"),
                json!(other),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            ),
        });
    }
    if list_type != Some("map") {
        return;
    }
    if keys.is_empty() {
        errors.push(FieldError::required(
            &child(path, "x-kubernetes-list-map-keys"),
            "must not be empty if x-kubernetes-list-type is map",
        ));
    }
    let items = &s["items"];
    if !items.is_object() {
        errors.push(FieldError::required(
            &child(path, "items"),
            "must have a schema if x-kubernetes-list-type is map",
        ));
        return;
    }
    let item_type = items["type"].as_str().unwrap_or_default();
    if item_type != "object" {
        errors.push(FieldError::invalid(
            &child(&child(path, "items"), "type"),
            json!(item_type),
            "must be object if parent array's x-kubernetes-list-type is map",
        ));
        return;
    }
    let properties = items["properties"].as_object();
    if keys
        .iter()
        .any(|k| properties.is_none_or(|p| !p.contains_key(*k)))
    {
        errors.push(FieldError::invalid(
            &child(path, "x-kubernetes-list-map-keys"),
            json!(keys),
            "entries must all be names of item properties",
        ));
        return;
    }
    let required: Vec<&str> = items["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for key in keys {
        let property = &items["properties"][key];
        let here = index(&child(&child(path, "items"), "properties"), key);
        if !matches!(
            property["type"].as_str(),
            Some("string" | "integer" | "number" | "boolean")
        ) && !flag(property, "x-kubernetes-int-or-string")
        {
            errors.push(FieldError::invalid(
                &child(&here, "type"),
                json!(item_type),
                "must be a scalar type if parent array's x-kubernetes-list-type is map",
            ));
        }
        if !required.contains(&key) && property.get("default").is_none() {
            errors.push(FieldError::required(
                &child(&here, "default"),
                "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            ));
        }
        if flag(property, "nullable") {
            errors.push(FieldError::forbidden(
                &child(&here, "nullable"),
                "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
            ));
        }
    }
}

/// The kinds of the errors, for tests.
#[cfg(test)]
fn kinds(errors: &[FieldError]) -> Vec<(Kind, String)> {
    errors.iter().map(|e| (e.kind, e.field.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(versions: Value) -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.example.com"},
            "spec": {
                "group": "example.com",
                "names": {"plural": "things", "singular": "thing", "kind": "Thing", "listKind": "ThingList"},
                "scope": "Namespaced",
                "versions": versions,
            }
        })
    }

    fn version(name: &str, storage: bool, schema: Value) -> Value {
        json!({"name": name, "served": true, "storage": storage, "schema": {"openAPIV3Schema": schema}})
    }

    #[test]
    fn an_untyped_array_item_is_refused_as_the_server_words_it() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "secretObjects": {"type": "array", "items": {}}}}}});
        let errors = check_crd(&crd(json!([version("v1", true, schema)])));
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "spec.validation.openAPIV3Schema.properties[spec].properties[secretObjects].items.type: Required value: must not be empty for specified array items"
            ]
        );
    }

    #[test]
    fn per_version_schemas_are_reported_per_version() {
        let good = json!({"type": "object"});
        let bad = json!({"type": "object", "properties": {"spec": {"properties": {}}}});
        let errors = check_crd(&crd(json!([
            version("v1", true, good),
            version("v2", false, bad)
        ])));
        assert_eq!(
            kinds(&errors),
            [(
                Kind::Required,
                "spec.versions[1].schema.openAPIV3Schema.properties[spec].type".into()
            )]
        );
    }

    #[test]
    fn structural_rules() {
        let schema = json!({"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
            "spec": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}},
            "any": {"x-kubernetes-preserve-unknown-fields": true},
            "port": {"x-kubernetes-int-or-string": true},
            "list": {"type": "array"},
            "p": {"type": "string", "pattern": "("},
            "v": {"type": "object", "allOf": [{"description": "no"}]},
        }});
        let errors = check_crd(&crd(json!([version("v1", true, schema)])));
        let base = "spec.validation.openAPIV3Schema.properties";
        let mut expected = vec![
            (Kind::Forbidden, format!("{base}[metadata]")),
            (
                Kind::Forbidden,
                format!("{base}[spec].additionalProperties"),
            ),
            (Kind::Required, format!("{base}[list].items")),
            (Kind::Invalid, format!("{base}[p].pattern")),
            (Kind::Forbidden, format!("{base}[v].allOf[0].description")),
        ];
        let mut got = kinds(&errors);
        expected.sort_by(|a, b| a.1.cmp(&b.1));
        got.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(got, expected, "{errors:?}");
    }

    #[test]
    fn versions_names_and_storage() {
        let schema = json!({"type": "object"});
        let mut two_stored = crd(json!([
            version("v1", true, schema.clone()),
            version("v1", true, schema)
        ]));
        two_stored["metadata"]["name"] = json!("other.example.com");
        let errors: Vec<String> = check_crd(&two_stored)
            .iter()
            .map(|e| e.field.clone())
            .collect();
        assert_eq!(errors, ["metadata.name", "spec.versions", "spec.versions"]);
    }

    #[test]
    fn list_map_keys_must_be_required_scalar_properties() {
        let schema = json!({"type": "object", "properties": {"list": {
            "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
            "items": {"type": "object", "properties": {"k": {"type": "string"}}}}}});
        let errors = check_crd(&crd(json!([version("v1", true, schema)])));
        assert_eq!(
            kinds(&errors),
            [(
                Kind::Required,
                "spec.validation.openAPIV3Schema.properties[list].items.properties[k].default"
                    .into()
            )]
        );
    }

    #[test]
    fn the_server_defaults_names_and_conversion() {
        let mut c = crd(json!([]));
        c["spec"]["names"] = json!({"plural": "things", "kind": "Thing"});
        default_crd(&mut c);
        assert_eq!(c["spec"]["names"]["singular"], "thing");
        assert_eq!(c["spec"]["names"]["listKind"], "ThingList");
        assert_eq!(c["spec"]["conversion"]["strategy"], "None");
    }
}
