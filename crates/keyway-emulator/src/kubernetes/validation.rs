//! Custom resources held to their version's schema, in the real server's order: nulls of
//! non-nullable fields without a default dropped, defaults applied, unknown fields pruned
//! (except under `x-kubernetes-preserve-unknown-fields`), then the value validated — types,
//! `nullable`, `enum`, `required`, `pattern`, `minLength`/`maxLength`, `minItems`/`maxItems`,
//! `minProperties`/`maxProperties`, `minimum`/`maximum` (exclusive too), `multipleOf`, `allOf`,
//! and `x-kubernetes-list-type` `map`/`set` uniqueness — with the server's field paths and
//! wording. On update, what did not change is not held against the object (the server's
//! validation ratcheting).
//!
//! Not evaluated: CEL rules (`x-kubernetes-validations`), `anyOf`/`oneOf`/`not`, `format`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::{Map, Value, json};

use super::field::{FieldError, Kind, child, index};

/// Prepares `object` as the server stores it (nulls dropped, defaults applied, unknown fields
/// pruned) and validates it against `schema`; `old` is the stored object on update. `Ok` holds
/// the paths of the unknown fields that were pruned.
pub(crate) fn admit(
    schema: &Value,
    object: &mut Value,
    old: Option<&Value>,
) -> Result<Vec<String>, Vec<FieldError>> {
    let unknown = prepare(schema, object);
    let mut errors = Vec::new();
    if let (Some(map), Some(properties)) = (object.as_object(), schema["properties"].as_object()) {
        // The root: metadata is the server's own, the rest follows the schema.
        for (key, property) in properties {
            if key == "metadata" {
                continue;
            }
            if let Some(value) = map.get(key) {
                validate(
                    value,
                    property,
                    old.and_then(|o| o.get(key)),
                    key,
                    &mut errors,
                );
            }
        }
        for key in required(schema) {
            if !map.contains_key(key) {
                errors.push(FieldError::required(key, ""));
            }
        }
    }
    if errors.is_empty() {
        return Ok(unknown);
    }
    // The server checks list-type uniqueness after the schema, ...
    errors.sort_by_key(|e| e.kind == Kind::Duplicate);
    // ... and skips CEL rules after a type, required, enum or size violation, saying so.
    let blocking = errors.iter().any(|e| {
        matches!(
            e.kind,
            Kind::NotSupported | Kind::Required | Kind::TooLong | Kind::TooMany | Kind::TypeInvalid
        )
    });
    if blocking && has_rules(schema) {
        errors.push(FieldError::new(
            Kind::Invalid,
            "<nil>",
            Some(Value::Null),
            "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        ));
    }
    Err(errors)
}

/// Whether the schema has CEL rules (`x-kubernetes-validations`) anywhere.
fn has_rules(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => {
            map.get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .is_some_and(|rules| !rules.is_empty())
                || map.values().any(has_rules)
        }
        Value::Array(items) => items.iter().any(has_rules),
        _ => false,
    }
}

/// Drops non-nullable nulls, applies defaults and prunes unknown fields; returns the pruned
/// paths (what `fieldValidation=Strict` refuses and `Warn` reports).
pub(crate) fn prepare(schema: &Value, object: &mut Value) -> Vec<String> {
    prune_nulls(object, Some(schema));
    apply_defaults(object, schema);
    let mut unknown = Vec::new();
    if let Some(map) = object.as_object_mut() {
        let keep = ["apiVersion", "kind", "metadata"];
        prune_map(map, schema, "", &keep, &mut unknown);
    }
    unknown.sort();
    unknown
}

fn required(schema: &Value) -> impl Iterator<Item = &str> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn flag(schema: &Value, name: &str) -> bool {
    schema[name].as_bool() == Some(true)
}

/// The schema of `key` in an object node: its property, else `additionalProperties`.
fn field_schema<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    schema["properties"]
        .get(key)
        .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
}

fn prune_nulls(value: &mut Value, schema: Option<&Value>) {
    match value {
        Value::Object(map) => {
            map.retain(|key, v| {
                let s = schema.and_then(|s| field_schema(s, key));
                !(v.is_null()
                    && s.is_some_and(|s| !flag(s, "nullable") && s.get("default").is_none()))
            });
            for (key, v) in map.iter_mut() {
                prune_nulls(v, schema.and_then(|s| field_schema(s, key)));
            }
        }
        Value::Array(items) => {
            let s = schema.and_then(|s| s.get("items"));
            for item in items {
                prune_nulls(item, s);
            }
        }
        _ => {}
    }
}

fn apply_defaults(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(properties) = schema["properties"].as_object() {
                for (key, property) in properties {
                    if let Some(default) = property.get("default") {
                        let missing = match map.get(key) {
                            None => true,
                            Some(v) => v.is_null() && !flag(property, "nullable"),
                        };
                        if missing {
                            map.insert(key.clone(), default.clone());
                        }
                    }
                }
            }
            for (key, v) in map.iter_mut() {
                if let Some(s) = field_schema(schema, key) {
                    apply_defaults(v, s);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for item in items {
                    if item.is_null()
                        && !flag(s, "nullable")
                        && let Some(default) = s.get("default")
                    {
                        *item = default.clone();
                    }
                    apply_defaults(item, s);
                }
            }
        }
        _ => {}
    }
}

fn prune(value: &mut Value, schema: &Value, path: &str, unknown: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let keep: &[&str] = if flag(schema, "x-kubernetes-embedded-resource") {
                &["apiVersion", "kind", "metadata"]
            } else {
                &[]
            };
            prune_map(map, schema, path, keep, unknown);
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item, s, &index(path, i), unknown);
                }
            }
        }
        _ => {}
    }
}

fn prune_map(
    map: &mut Map<String, Value>,
    schema: &Value,
    path: &str,
    keep: &[&str],
    unknown: &mut Vec<String>,
) {
    let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    let mut gone = Vec::new();
    for (key, v) in map.iter_mut() {
        if keep.contains(&key.as_str()) {
            continue;
        }
        match field_schema(schema, key) {
            Some(s) => prune(v, s, &child(path, key), unknown),
            None if preserve => {}
            None => gone.push(key.clone()),
        }
    }
    for key in gone {
        map.remove(&key);
        unknown.push(child(path, &key));
    }
}

/// The JSON type of a value, as the validator names it.
fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    let actual = type_of(value);
    match expected {
        "integer" => {
            actual == "integer"
                || value
                    .as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && actual == "number")
        }
        "number" => actual == "integer" || actual == "number",
        other => other == actual,
    }
}

/// One node: its type first (nothing else is checked on a wrong type), then its constraints
/// and children. Unchanged from `old`: not checked (ratcheting).
fn validate(
    value: &Value,
    schema: &Value,
    old: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    if old == Some(value) {
        return;
    }
    let in_body = |what: String| format!("{path} in body {what}");
    let expected = if flag(schema, "x-kubernetes-int-or-string") {
        "integer,string"
    } else {
        schema["type"].as_str().unwrap_or_default()
    };
    if value.is_null() {
        if !expected.is_empty() && !flag(schema, "nullable") {
            errors.push(FieldError::new(
                Kind::TypeInvalid,
                path,
                Some(json!("null")),
                in_body(format!("must be of type {expected}: \"null\"")),
            ));
        }
        return;
    }
    if !expected.is_empty() && !expected.split(',').any(|t| type_matches(t, value)) {
        let actual = type_of(value);
        errors.push(FieldError::new(
            Kind::TypeInvalid,
            path,
            Some(json!(actual)),
            in_body(format!("must be of type {expected}: \"{actual}\"")),
        ));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(FieldError::not_supported(path, value.clone(), allowed));
    }
    if let Some(branches) = schema["allOf"].as_array() {
        for branch in branches {
            validate(value, branch, None, path, errors);
        }
    }
    match value {
        Value::String(s) => string(s, schema, path, errors),
        Value::Number(_) => number(value, schema, path, errors),
        Value::Array(items) => array(items, schema, old, path, errors),
        Value::Object(map) => object(map, schema, old, path, errors),
        Value::Bool(_) | Value::Null => {}
    }
}

fn limit(schema: &Value, key: &str) -> Option<u64> {
    schema[key].as_u64()
}

fn string(s: &str, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let length = s.chars().count() as u64;
    if let Some(max) = limit(schema, "maxLength")
        && length > max
    {
        let unit = if max == 1 { "byte" } else { "bytes" };
        errors.push(FieldError::new(
            Kind::TooLong,
            path,
            None,
            format!("may not be more than {max} {unit}"),
        ));
    }
    if let Some(min) = limit(schema, "minLength")
        && length < min
    {
        errors.push(FieldError::invalid(
            path,
            json!(s),
            format!("{path} in body should be at least {min} chars long"),
        ));
    }
    if let Some(pattern) = schema["pattern"].as_str()
        && !matches(pattern, s)
    {
        errors.push(FieldError::invalid(
            path,
            json!(s),
            format!("{path} in body should match '{pattern}'"),
        ));
    }
}

/// Whether `s` matches `pattern` (unanchored, as Go's `regexp.MatchString`); compiled patterns
/// are kept. A pattern that does not compile was refused with its CRD, so it matches.
fn matches(pattern: &str, s: &str) -> bool {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let compiled = cache
        .entry(pattern.to_string())
        .or_insert_with(|| regex::Regex::new(pattern).ok());
    compiled.as_ref().is_none_or(|r| r.is_match(s))
}

fn number(value: &Value, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(n) = value.as_f64() else {
        return;
    };
    let shown = |bound: &Value| bound.to_string();
    if let Some(bound) = schema.get("minimum").filter(|b| b.is_number()) {
        let min = bound.as_f64().unwrap_or(f64::MIN);
        let exclusive = flag(schema, "exclusiveMinimum");
        if n < min || (exclusive && n == min) {
            let words = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            errors.push(FieldError::invalid(
                path,
                value.clone(),
                format!("{path} in body should be {words} {}", shown(bound)),
            ));
        }
    }
    if let Some(bound) = schema.get("maximum").filter(|b| b.is_number()) {
        let max = bound.as_f64().unwrap_or(f64::MAX);
        let exclusive = flag(schema, "exclusiveMaximum");
        if n > max || (exclusive && n == max) {
            let words = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            errors.push(FieldError::invalid(
                path,
                value.clone(),
                format!("{path} in body should be {words} {}", shown(bound)),
            ));
        }
    }
    if let Some(factor) = schema.get("multipleOf").and_then(Value::as_f64)
        && factor > 0.0
        && (n / factor).fract() != 0.0
    {
        errors.push(FieldError::invalid(
            path,
            value.clone(),
            format!(
                "{path} in body should be a multiple of {}",
                schema["multipleOf"]
            ),
        ));
    }
}

/// A count outside `maxItems`/`minItems` (or `maxProperties`/`minProperties`), in the API
/// server's words; the lower bound's message names what is counted (`noun`).
fn count_bounds(
    schema: &Value,
    (max_key, min_key): (&str, &str),
    noun: &str,
    count: usize,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let count = count as u64;
    if let Some(max) = limit(schema, max_key)
        && count > max
    {
        let unit = if max == 1 { "item" } else { "items" };
        errors.push(FieldError::new(
            Kind::TooMany,
            path,
            Some(json!(count)),
            format!("must have at most {max} {unit}"),
        ));
    }
    if let Some(min) = limit(schema, min_key)
        && count < min
    {
        errors.push(FieldError::invalid(
            path,
            json!(count),
            format!("{path} in body should have at least {min} {noun}"),
        ));
    }
}

fn array(
    items: &[Value],
    schema: &Value,
    old: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    count_bounds(
        schema,
        ("maxItems", "minItems"),
        "items",
        items.len(),
        path,
        errors,
    );
    let keys: Vec<&str> = schema["x-kubernetes-list-map-keys"]
        .as_array()
        .map(|k| k.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let list_type = schema["x-kubernetes-list-type"].as_str();
    let key_of = |item: &Value| -> Value {
        let mut key = Map::new();
        for k in &keys {
            if let Some(v) = item.get(*k) {
                key.insert(k.to_string(), v.clone());
            }
        }
        Value::Object(key)
    };
    if let Some(item_schema) = schema.get("items") {
        let old_items = old.and_then(Value::as_array);
        for (i, item) in items.iter().enumerate() {
            // Only list-type map items correlate with the stored ones (by their keys).
            let previous = match (list_type, old_items) {
                (Some("map"), Some(old_items)) => {
                    old_items.iter().find(|o| key_of(o) == key_of(item))
                }
                _ => None,
            };
            validate(item, item_schema, previous, &index(path, i), errors);
        }
    }
    match list_type {
        Some("map") if !keys.is_empty() => {
            for i in duplicates(&items.iter().map(key_of).collect::<Vec<_>>()) {
                errors.push(FieldError::new(
                    Kind::Duplicate,
                    &index(path, i),
                    Some(key_of(&items[i])),
                    "",
                ));
            }
        }
        Some("set") => {
            for i in duplicates(items) {
                errors.push(FieldError::new(
                    Kind::Duplicate,
                    &index(path, i),
                    Some(items[i].clone()),
                    "",
                ));
            }
        }
        _ => {}
    }
}

/// The index of each value's second occurrence (the server names each duplicate once).
fn duplicates(values: &[Value]) -> Vec<usize> {
    let mut found = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if values[..i].iter().filter(|x| *x == v).count() == 1 {
            found.push(i);
        }
    }
    found
}

fn object(
    map: &Map<String, Value>,
    schema: &Value,
    old: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    count_bounds(
        schema,
        ("maxProperties", "minProperties"),
        "properties",
        map.len(),
        path,
        errors,
    );
    let properties = schema["properties"].as_object();
    for (key, value) in map {
        let s = match properties.and_then(|p| p.get(key)) {
            Some(s) => s,
            None => match schema.get("additionalProperties").filter(|a| a.is_object()) {
                Some(s) => s,
                None => continue,
            },
        };
        validate(
            value,
            s,
            old.and_then(|o| o.get(key)),
            &child(path, key),
            errors,
        );
    }
    for key in required(schema) {
        if !map.contains_key(key) {
            errors.push(FieldError::required(&child(path, key), ""));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
            "spec": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "count": {"type": "integer", "minimum": 0},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "list": {"type": "array", "maxItems": 2, "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["k"],
                    "items": {"type": "object", "required": ["k"], "properties": {"k": {"type": "string"}}}},
                "maybe": {"type": "string", "nullable": true},
            }},
        }, "required": ["spec"]})
    }

    fn messages(result: Result<Vec<String>, Vec<FieldError>>) -> Vec<String> {
        result
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn defaults_pruning_and_preserved_fields() {
        let mut object = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n", "odd": 1},
            "spec": {"name": "ok", "extra": 1, "count": null, "maybe": null,
                "free": {"anything": {"x": 1}}, "list": [{"k": "a", "junk": true}]},
            "status": {"x": 1}});
        let unknown = admit(&schema(), &mut object, None).unwrap();
        assert_eq!(unknown, ["spec.extra", "spec.list[0].junk", "status"]);
        assert_eq!(object["spec"]["mode"], "a", "defaulted");
        assert!(
            object["spec"].get("count").is_none(),
            "a non-nullable null is dropped"
        );
        assert!(object["spec"]["maybe"].is_null() && object["spec"].get("maybe").is_some());
        assert_eq!(object["spec"]["free"]["anything"]["x"], 1);
        assert_eq!(object["metadata"]["odd"], 1, "metadata is the server's own");
    }

    #[test]
    fn violations_name_the_field_as_the_server_does() {
        let mut object = json!({"spec": {"name": "TooLong", "mode": "c", "count": -1,
            "labels": {"a": 1}, "list": [{"k": "x"}, {"k": "x"}, {}]}});
        let got = messages(admit(&schema(), &mut object, None));
        assert_eq!(
            got,
            [
                "spec.count: Invalid value: -1: spec.count in body should be greater than or equal to 0",
                "spec.labels.a: Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\"",
                "spec.list: Too many: 3: must have at most 2 items",
                "spec.list[2].k: Required value",
                "spec.mode: Unsupported value: \"c\": supported values: \"a\", \"b\"",
                "spec.name: Too long: may not be more than 5 bytes",
                "spec.name: Invalid value: \"TooLong\": spec.name in body should match '^[a-z]+$'",
                "spec.list[1]: Duplicate value: {\"k\":\"x\"}",
            ]
        );
        let got = messages(admit(&schema(), &mut json!({"spec": {"name": ""}}), None));
        assert_eq!(
            got,
            [
                "spec.name: Invalid value: \"\": spec.name in body should be at least 1 chars long",
                "spec.name: Invalid value: \"\": spec.name in body should match '^[a-z]+$'",
            ]
        );
        assert_eq!(
            messages(admit(&schema(), &mut json!({}), None)),
            ["spec: Required value"]
        );
        assert_eq!(
            messages(admit(&schema(), &mut json!({"spec": {}}), None)),
            ["spec.name: Required value"]
        );
    }

    #[test]
    fn skipped_cel_rules_are_reported_after_a_blocking_error() {
        let mut with_rules = schema();
        with_rules["properties"]["spec"]["x-kubernetes-validations"] = json!([{"rule": "true"}]);
        assert_eq!(
            messages(admit(&with_rules, &mut json!({"spec": {}}), None)),
            [
                "spec.name: Required value",
                "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
            ]
        );
        // A pattern violation does not block CEL rules: nothing more is said.
        assert_eq!(
            messages(admit(
                &with_rules,
                &mut json!({"spec": {"name": "A"}}),
                None
            ))
            .len(),
            1
        );
    }

    #[test]
    fn unchanged_invalid_values_are_not_held_against_an_update() {
        let old = json!({"spec": {"name": "BAD"}});
        let mut same = json!({"spec": {"name": "BAD", "count": 1}});
        assert!(admit(&schema(), &mut same, Some(&old)).is_ok());
        let mut changed = json!({"spec": {"name": "WORSE"}});
        assert!(admit(&schema(), &mut changed, Some(&old)).is_err());
    }
}
