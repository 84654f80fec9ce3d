//! Server-side apply: each field manager owns the fields it applied. Applying a field another
//! manager owns with a different value is a 409 conflict unless forced (then ownership moves);
//! fields a manager stops applying, and nobody else owns, are removed.
//!
//! Updates (create, replace, merge and JSON patches) are tracked too: the updating manager owns
//! the fields it changed, which leave their other owners — so applying over a field `kubectl
//! create` set conflicts, as on the real server. Lists are owned as a whole (the real server can
//! own list items by key).
//!
//! An applied empty map (`data: {}`) is owned as a whole, as the real server records it
//! (`f:data: {}`); the store does not keep it, so another manager adding keys to it (or applying
//! `data: {}` too) conflicts on `.data`, and the manager's own later `data: {a: ..}` keeps `data`
//! (owned through `data.a`) instead of pruning the map with its new key.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

type Path = Vec<String>;

/// Metadata the server owns, never counted as an applied field.
const SERVER_OWNED: [&str; 8] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
];

/// Leaf paths of an applied object (objects are walked, everything else is a leaf).
fn paths(value: &Value) -> BTreeSet<Path> {
    fn walk(value: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
        match value.as_object() {
            Some(map) if !map.is_empty() => {
                for (key, child) in map {
                    if prefix.len() == 1
                        && prefix[0] == "metadata"
                        && SERVER_OWNED.contains(&key.as_str())
                    {
                        continue;
                    }
                    if prefix.is_empty() && (key == "apiVersion" || key == "kind") {
                        continue;
                    }
                    prefix.push(key.clone());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {
                if !prefix.is_empty() {
                    out.insert(prefix.clone());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// `fieldsV1` as the real server writes it: `{"f:data": {"f:x": {}}}`.
fn to_fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut node = &mut root;
        for key in path {
            node = node
                .entry(format!("f:{key}"))
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("inserted an object");
        }
    }
    Value::Object(root)
}

fn from_fields_v1(fields: &Value) -> BTreeSet<Path> {
    fn walk(value: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
        let children: Vec<(&String, &Value)> = value
            .as_object()
            .map(|m| m.iter().filter(|(k, _)| k.starts_with("f:")).collect())
            .unwrap_or_default();
        if children.is_empty() {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
            return;
        }
        for (key, child) in children {
            prefix.push(key[2..].to_string());
            walk(child, prefix, out);
            prefix.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(fields, &mut Vec::new(), &mut out);
    out
}

/// Whether a `managedFields` entry is `manager`'s for `operation`.
fn is(entry: &Value, manager: &str, operation: &str) -> bool {
    entry["manager"].as_str() == Some(manager) && entry["operation"].as_str() == Some(operation)
}

fn at<'a>(value: &'a Value, path: &Path) -> &'a Value {
    path.iter().fold(value, |v, key| &v[key.as_str()])
}

fn remove(value: &mut Value, path: &Path) {
    if let Some((last, parents)) = path.split_last() {
        let mut node = value;
        for key in parents {
            node = &mut node[key.as_str()];
        }
        if let Some(map) = node.as_object_mut() {
            map.remove(last);
        }
    }
}

/// Removes null members at every depth (a merge patch would delete those fields).
fn drop_nulls(value: &mut Value) {
    if let Some(map) = value.as_object_mut() {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(drop_nulls);
    }
}

/// Whether `path` is strictly below `ancestor`.
fn is_below(path: &Path, ancestor: &Path) -> bool {
    path.len() > ancestor.len() && path.starts_with(ancestor)
}

/// An absent field or an empty map (which the real server does not store for a built-in
/// type's optional map, such as a Secret's `data` or an object's `labels`).
fn is_empty_map(value: &Value) -> bool {
    value.is_null() || value.as_object().is_some_and(Map::is_empty)
}

/// One conflict: the other manager and the field, as `.data.x`.
pub(crate) type Conflict = (String, String);

/// Applies `applied` for `manager` over `current` (absent when the object is new). Returns the
/// object to store, with `managedFields` updated, or the conflicts.
pub(crate) fn apply(
    current: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    now: &str,
) -> Result<Value, Vec<Conflict>> {
    let applied_paths = paths(applied);
    let mut entries: Vec<Value> = current
        .and_then(|c| c["metadata"]["managedFields"].as_array().cloned())
        .unwrap_or_default();
    let empty = json!({});
    let base = current.unwrap_or(&empty);

    let mut conflicts = Vec::new();
    for entry in entries.iter().filter(|e| !is(e, manager, "Apply")) {
        let owner = entry["manager"].as_str().unwrap_or_default();
        for path in from_fields_v1(&entry["fieldsV1"]) {
            let changed = if applied_paths.contains(&path) {
                at(base, &path) != at(applied, &path)
            } else {
                // Another manager owns an empty (or absent) map as a whole: applying keys
                // into it changes that field, which the real server reports as a conflict
                // on the map itself (`.data`), not on the new key.
                is_empty_map(at(base, &path)) && applied_paths.iter().any(|p| is_below(p, &path))
            };
            if changed {
                conflicts.push((owner.to_string(), format!(".{}", path.join("."))));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }

    // Forced: the applied fields, and the fields they conflicted on, leave their other owners.
    let mut others_own = BTreeSet::new();
    for entry in entries.iter_mut().filter(|e| !is(e, manager, "Apply")) {
        let owner = entry["manager"].as_str().unwrap_or_default().to_string();
        let mut owned = from_fields_v1(&entry["fieldsV1"]);
        owned.retain(|p| {
            !applied_paths.contains(p)
                && !conflicts.contains(&(owner.clone(), format!(".{}", p.join("."))))
        });
        entry["fieldsV1"] = to_fields_v1(&owned);
        others_own.extend(owned);
    }
    let previously: BTreeSet<Path> = entries
        .iter()
        .find(|e| is(e, manager, "Apply"))
        .map(|e| from_fields_v1(&e["fieldsV1"]))
        .unwrap_or_default();

    // An applied null claims the field without setting it: the real server neither removes
    // what others own there nor what this manager still applies (what this manager stopped
    // applying is pruned below).
    let mut object = base.clone();
    let mut values = applied.clone();
    drop_nulls(&mut values);
    json_patch::merge(&mut object, &values);
    // A field the manager stopped applying goes unless someone still owns it or a field
    // below it: `data: {}` applied earlier and `data: {a: ..}` now leaves `data` owned
    // through `data.a`, so `data` stays (the real server adds owned items back after pruning).
    let still_owned: BTreeSet<&Path> = others_own.iter().chain(&applied_paths).collect();
    for dropped in previously.difference(&applied_paths).filter(|p| {
        !still_owned
            .iter()
            .any(|owned| *owned == *p || is_below(owned, p))
    }) {
        remove(&mut object, dropped);
    }
    entries.retain(|e| !is(e, manager, "Apply") && !from_fields_v1(&e["fieldsV1"]).is_empty());
    entries.push(json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(&applied_paths),
    }));
    object["metadata"]["managedFields"] = Value::Array(entries);
    Ok(object)
}

/// Records an update by `manager` of `current` (absent on create) to `object`: the fields it
/// changed become `manager`'s (operation `Update`) and leave every other owner. Whatever
/// `managedFields` the body carried are replaced by the server's.
pub(crate) fn update(
    current: Option<&Value>,
    object: &mut Value,
    manager: &str,
    api_version: &str,
    now: &str,
) {
    let empty = json!({});
    let base = current.unwrap_or(&empty);
    let new_paths = paths(object);
    let old_paths = paths(base);
    let changed: BTreeSet<Path> = new_paths
        .iter()
        .filter(|p| at(base, p) != at(object, p))
        .chain(old_paths.difference(&new_paths))
        .cloned()
        .collect();
    let mut entries: Vec<Value> = base["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if changed.is_empty() && current.is_some() {
        // A no-op update moves no ownership (and no timestamps).
        object["metadata"]["managedFields"] = base["metadata"]["managedFields"].clone();
        if object["metadata"]["managedFields"].is_null()
            && let Some(metadata) = object["metadata"].as_object_mut()
        {
            metadata.remove("managedFields");
        }
        return;
    }
    let mut mine = BTreeSet::new();
    for entry in entries.iter_mut() {
        let mut owned = from_fields_v1(&entry["fieldsV1"]);
        if is(entry, manager, "Update") {
            mine = owned;
            continue;
        }
        owned.retain(|p| !changed.contains(p));
        entry["fieldsV1"] = to_fields_v1(&owned);
    }
    mine.retain(|p| new_paths.contains(p));
    mine.extend(changed.intersection(&new_paths).cloned());
    entries.retain(|e| !is(e, manager, "Update") && !from_fields_v1(&e["fieldsV1"]).is_empty());
    if !mine.is_empty() {
        entries.push(json!({
            "manager": manager,
            "operation": "Update",
            "apiVersion": api_version,
            "time": now,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(&mine),
        }));
    }
    if entries.is_empty() {
        if let Some(metadata) = object["metadata"].as_object_mut() {
            metadata.remove("managedFields");
        }
    } else {
        object["metadata"]["managedFields"] = Value::Array(entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data})
    }

    #[test]
    fn ownership_conflicts_force_and_removal() {
        let a1 = apply(
            None,
            &secret(json!({"x": "1", "y": "2"})),
            "a",
            false,
            "v1",
            "t",
        )
        .unwrap();
        let conflict =
            apply(Some(&a1), &secret(json!({"x": "9"})), "b", false, "v1", "t").unwrap_err();
        assert_eq!(conflict, [("a".to_string(), ".data.x".to_string())]);
        // The same value is no conflict: both own it.
        assert!(apply(Some(&a1), &secret(json!({"x": "1"})), "b", false, "v1", "t").is_ok());
        let forced = apply(Some(&a1), &secret(json!({"x": "9"})), "b", true, "v1", "t").unwrap();
        assert_eq!(forced["data"], json!({"x": "9", "y": "2"}));
        // a stops applying y and has lost x: y goes, x stays (b owns it).
        let a2 = apply(Some(&forced), &secret(json!({})), "a", false, "v1", "t").unwrap();
        assert_eq!(a2["data"], json!({"x": "9"}));
        let managers: Vec<&str> = a2["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["b", "a"]);
        assert_eq!(
            from_fields_v1(&to_fields_v1(&paths(&secret(json!({"k": "v"}))))),
            paths(&secret(json!({"k": "v"})))
        );
    }

    #[test]
    fn updates_take_the_fields_they_change() {
        let mut created = secret(json!({"x": "1", "y": "2"}));
        update(None, &mut created, "kubectl-create", "v1", "t");
        // Applying another value over a created field conflicts with the creator.
        let conflict = apply(
            Some(&created),
            &secret(json!({"x": "9"})),
            "keyway",
            false,
            "v1",
            "t",
        )
        .unwrap_err();
        assert_eq!(
            conflict,
            [("kubectl-create".to_string(), ".data.x".to_string())]
        );
        let applied = apply(
            Some(&created),
            &secret(json!({"x": "9"})),
            "keyway",
            true,
            "v1",
            "t",
        )
        .unwrap();
        // An edit of y by someone else moves y only; removing x takes it from keyway.
        let mut edited = applied.clone();
        edited["data"] = json!({"y": "3"});
        update(Some(&applied), &mut edited, "kubectl-edit", "v1", "t");
        let owners: Vec<(&str, BTreeSet<Path>)> = edited["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["manager"].as_str().unwrap(),
                    from_fields_v1(&e["fieldsV1"]),
                )
            })
            .collect();
        let data = |k: &str| vec!["data".to_string(), k.to_string()];
        assert_eq!(owners, [("kubectl-edit", BTreeSet::from([data("y")])),]);
    }
}
