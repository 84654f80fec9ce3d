//! The stand-in's object storage: JSON objects by type, namespace and name, with the metadata the
//! real server maintains (uid, resourceVersion, creationTimestamp, generation), optimistic
//! concurrency, selectors, and garbage collection through ownerReferences.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::apply;
use super::field::FieldError;
use super::resources::{ResourceType, builtins};
use super::{schema, validation};

/// Where an object lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ObjectKey {
    /// `ResourceType::key()`.
    pub resource: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

/// Label and field selectors: `a=b,c` (label `a` is `b`, label `c` exists) and
/// `metadata.name=x`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selector {
    labels: Vec<(String, Option<String>)>,
    fields: Vec<(String, String)>,
}

impl Selector {
    pub fn parse(labels: Option<&str>, fields: Option<&str>) -> Selector {
        let labels = labels
            .unwrap_or_default()
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim_end_matches('=').to_string(), Some(v.to_string())),
                None => (p.to_string(), None),
            })
            .collect();
        let fields = fields
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim_end_matches('=').to_string(), v.to_string()))
            .collect();
        Selector { labels, fields }
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels_match = self.labels.iter().all(|(key, want)| {
            let have = object["metadata"]["labels"][key].as_str();
            match want {
                Some(want) => have == Some(want.as_str()),
                None => have.is_some(),
            }
        });
        labels_match
            && self.fields.iter().all(|(path, want)| {
                let have = path.split('.').fold(object, |acc, part| &acc[part]);
                have.as_str() == Some(want.as_str())
            })
    }
}

/// Why a store operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreError {
    NotFound,
    AlreadyExists,
    Conflict,
    Invalid(String),
    /// Refused by the schema (or, for a CustomResourceDefinition, by the rules for schemas).
    Fields(Vec<FieldError>),
}

/// One change, as watchers see it.
#[derive(Debug, Clone)]
pub(crate) struct WatchEvent {
    pub resource_version: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub resource: String,
    pub namespace: String,
    pub object: Value,
}

/// How many past events a watch can resume from (older ones are compacted away, as etcd does).
const HISTORY: usize = 1000;

#[derive(Debug)]
pub(crate) struct Store {
    resource_version: u64,
    objects: BTreeMap<ObjectKey, Value>,
    types: Vec<ResourceType>,
    history: VecDeque<WatchEvent>,
    /// The oldest resourceVersion a watch may still start from.
    compacted_before: u64,
    events: broadcast::Sender<WatchEvent>,
}

impl Default for Store {
    fn default() -> Self {
        let mut store = Store {
            resource_version: 0,
            objects: BTreeMap::new(),
            types: builtins(),
            history: VecDeque::new(),
            compacted_before: 0,
            events: broadcast::channel(4096).0,
        };
        for ns in ["default", "kube-system", "kube-public"] {
            let namespace =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let _ = store.create(&ResourceType::clone(&store.types[0]), "", namespace, None);
        }
        store
    }
}

fn now() -> String {
    let t = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Store {
    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    /// The type served at `group`/`version`/`plural`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// Live events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.events.subscribe()
    }

    /// Events after `since`, or `None` when that version has been compacted away (410 Gone).
    pub fn history_since(&self, since: u64) -> Option<Vec<WatchEvent>> {
        if since < self.compacted_before {
            return None;
        }
        Some(
            self.history
                .iter()
                .filter(|e| e.resource_version > since)
                .cloned()
                .collect(),
        )
    }

    /// Forgets the event history, as etcd compaction does: watches from older versions get
    /// 410 Gone and must list again.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted_before = self.resource_version;
    }

    fn record(&mut self, kind: &'static str, key: &ObjectKey, object: &Value) {
        let event = WatchEvent {
            resource_version: self.resource_version,
            kind,
            resource: key.resource.clone(),
            namespace: key.namespace.clone(),
            object: object.clone(),
        };
        if self.history.len() == HISTORY
            && let Some(dropped) = self.history.pop_front()
        {
            self.compacted_before = dropped.resource_version;
        }
        self.history.push_back(event.clone());
        let _ = self.events.send(event);
    }

    fn next_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    fn key(t: &ResourceType, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            resource: t.key(),
            namespace: if t.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    /// An object, as `t`'s version serves it.
    pub fn get(&self, t: &ResourceType, namespace: &str, name: &str) -> Result<Value, StoreError> {
        if let Some(object) = self.objects.get(&Self::key(t, namespace, name)) {
            return Ok(t.present(object.clone()));
        }
        let viewed = t.also_serves().and_then(|resource| {
            self.objects.get(&ObjectKey {
                resource: resource.to_string(),
                ..Self::key(t, namespace, name)
            })
        });
        viewed
            .map(|object| t.present_viewed(object))
            .ok_or(StoreError::NotFound)
    }

    /// Objects of a type (in a namespace, or all) matching the selectors.
    pub fn list(
        &self,
        t: &ResourceType,
        namespace: Option<&str>,
        selector: &Selector,
    ) -> Vec<Value> {
        let resource = t.key();
        let viewed = t.also_serves();
        let mut items: Vec<(&ObjectKey, Value)> = self
            .objects
            .iter()
            .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
            .filter_map(|(k, v)| {
                if k.resource == resource {
                    selector.matches(v).then(|| (k, t.present(v.clone())))
                } else if viewed == Some(k.resource.as_str()) {
                    let object = t.present_viewed(v);
                    selector.matches(&object).then_some((k, object))
                } else {
                    None
                }
            })
            .collect();
        if viewed.is_some() {
            items.sort_by(|(a, _), (b, _)| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        }
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// Creates an object. With `manager`, its fields are recorded as that manager's update;
    /// without, the body's `managedFields` (from an apply) are kept.
    pub fn create(
        &mut self,
        t: &ResourceType,
        namespace: &str,
        mut object: Value,
        manager: Option<&str>,
    ) -> Result<Value, StoreError> {
        check_shape(t, &object)?;
        let name = match object["metadata"]["name"].as_str() {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => match object["metadata"]["generateName"].as_str() {
                Some(prefix) => format!(
                    "{prefix}{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..5]
                ),
                None => {
                    return Err(StoreError::Invalid(
                        "metadata.name: Required value: name or generateName is required".into(),
                    ));
                }
            },
        };
        if t.namespaced
            && !self
                .objects
                .contains_key(&Self::key(&self.types[0].clone(), "", namespace))
        {
            return Err(StoreError::Invalid(format!(
                "namespace {namespace} not found"
            )));
        }
        let key = Self::key(t, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        self.admit(t, &mut object, None)?;
        let rv = self.next_version();
        object["apiVersion"] = json!(t.storage_api_version());
        object["kind"] = json!(t.kind);
        let metadata = &mut object["metadata"];
        metadata["name"] = json!(name);
        if t.namespaced {
            metadata["namespace"] = json!(namespace);
        }
        metadata["uid"] = json!(uuid::Uuid::new_v4().to_string());
        metadata["resourceVersion"] = json!(rv);
        metadata["creationTimestamp"] = json!(now());
        if object.get("spec").is_some() {
            object["metadata"]["generation"] = json!(1);
        }
        fold_string_data(t, &mut object);
        drop_empty_maps(t, &mut object);
        if let Some(manager) = manager {
            apply::update(None, &mut object, manager, &t.api_version(), &now());
        }
        self.define(t, &mut object);
        self.record("ADDED", &key, &object);
        self.objects.insert(key, object.clone());
        Ok(t.present(object))
    }

    /// What the server does with a body before storing it: a CustomResourceDefinition is
    /// defaulted and checked (structural schemas); a custom resource is defaulted, pruned and
    /// validated against its version's schema (`old`: the stored object, on update).
    fn admit(
        &self,
        t: &ResourceType,
        object: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), StoreError> {
        if t.is("apiextensions.k8s.io", "customresourcedefinitions") {
            schema::default_crd(object);
            let errors = schema::check_crd(object);
            if !errors.is_empty() {
                return Err(StoreError::Fields(errors));
            }
        }
        if let Some(schema) = &t.schema {
            validation::admit(schema, object, old).map_err(StoreError::Fields)?;
        }
        Ok(())
    }

    /// Replaces an object. A `resourceVersion` in the body must be the current one (optimistic
    /// concurrency); `generation` moves only when `spec` changes; with `status_only`, only
    /// `.status` is taken from the body (the status subresource). `manager` as for
    /// [`Store::create`].
    pub fn replace(
        &mut self,
        t: &ResourceType,
        namespace: &str,
        name: &str,
        mut object: Value,
        status_only: bool,
        manager: Option<&str>,
    ) -> Result<Value, StoreError> {
        check_shape(t, &object)?;
        let key = Self::key(t, namespace, name);
        let current = self.objects.get(&key).ok_or(StoreError::NotFound)?.clone();
        let stale = object["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|rv| {
                !rv.is_empty() && Some(rv) != current["metadata"]["resourceVersion"].as_str()
            });
        if stale {
            return Err(StoreError::Conflict);
        }
        if status_only {
            let status = object["status"].take();
            object = current.clone();
            object["status"] = status;
        } else if t.status {
            // The main resource cannot change the status.
            object["status"] = current["status"].clone();
        }
        if object["status"].is_null()
            && let Some(map) = object.as_object_mut()
        {
            map.remove("status");
        }
        self.admit(t, &mut object, Some(&current))?;
        // The server owns these.
        for field in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "generation",
        ] {
            object["metadata"][field] = current["metadata"][field].clone();
        }
        object["apiVersion"] = current["apiVersion"].clone();
        object["kind"] = current["kind"].clone();
        if current.get("spec").is_some() || object.get("spec").is_some() {
            let generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
            let changed = current.get("spec") != object.get("spec");
            object["metadata"]["generation"] =
                json!(if changed { generation + 1 } else { generation });
        }
        fold_string_data(t, &mut object);
        drop_empty_maps(t, &mut object);
        object["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
        strip_nulls(&mut object["metadata"]);
        if let Some(manager) = manager {
            apply::update(
                Some(&current),
                &mut object,
                manager,
                &t.api_version(),
                &now(),
            );
        }
        self.define(t, &mut object);
        if object == current {
            return Ok(t.present(current));
        }
        object["metadata"]["resourceVersion"] = json!(self.next_version());
        self.record("MODIFIED", &key, &object);
        self.objects.insert(key, object.clone());
        Ok(t.present(object))
    }

    /// Serves the types a CustomResourceDefinition defines and marks it accepted and
    /// established, as the real server's controllers do moments after it is written.
    fn define(&mut self, t: &ResourceType, crd: &mut Value) {
        if !t.is("apiextensions.k8s.io", "customresourcedefinitions") {
            return;
        }
        let defined = ResourceType::from_crd(crd);
        // Every served version, each with its schema; versions no longer served go.
        if let Some(first) = defined.first() {
            let (group, plural) = (first.group.clone(), first.plural.clone());
            self.types.retain(|x| !x.is(&group, &plural));
        }
        self.types.extend(defined);
        let since = crd["metadata"]["creationTimestamp"].clone();
        let condition = |kind: &str, reason: &str| json!({"type": kind, "status": "True", "reason": reason, "message": "", "lastTransitionTime": since});
        let stored: Vec<Value> = crd["spec"]["versions"]
            .as_array()
            .map(|versions| {
                versions
                    .iter()
                    .filter(|v| v["storage"].as_bool() == Some(true))
                    .map(|v| v["name"].clone())
                    .collect()
            })
            .unwrap_or_default();
        crd["status"] = json!({
            "acceptedNames": crd["spec"]["names"].clone(),
            "conditions": [condition("NamesAccepted", "NoConflicts"), condition("Established", "InitialNamesAccepted")],
            "storedVersions": stored,
        });
    }

    /// Removes every object whose key `matches`, recording a DELETED event for each, and
    /// returns them in key order.
    fn remove_where(&mut self, matches: impl Fn(&ObjectKey) -> bool) -> Vec<Value> {
        let contents: Vec<ObjectKey> = self
            .objects
            .keys()
            .filter(|k| matches(k))
            .cloned()
            .collect();
        let mut removed = Vec::new();
        for key in contents {
            if let Some(gone) = self.objects.remove(&key) {
                self.resource_version += 1;
                self.record("DELETED", &key, &gone);
                removed.push(gone);
            }
        }
        removed
    }

    /// Deletes an object and, transitively, every object that names it as an owner; a
    /// namespace takes its contents with it.
    pub fn delete(
        &mut self,
        t: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, StoreError> {
        let key = Self::key(t, namespace, name);
        let removed = self.objects.remove(&key).ok_or(StoreError::NotFound)?;
        self.resource_version += 1;
        self.record("DELETED", &key, &removed);
        let mut orphans = vec![
            removed["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ];
        if t.is("apiextensions.k8s.io", "customresourcedefinitions") {
            // The resources it defined are no longer served, and their objects go with it.
            let group = removed["spec"]["group"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let plural = removed["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.types.retain(|x| !x.is(&group, &plural));
            let resource = format!("{group}/{plural}");
            self.remove_where(|k| k.resource == resource);
        }
        if t.is("", "namespaces") {
            // Everything in a deleted namespace goes with it.
            for gone in self.remove_where(|k| k.namespace == name) {
                orphans.push(
                    gone["metadata"]["uid"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        while let Some(owner) = orphans.pop() {
            let owned: Vec<ObjectKey> = self
                .objects
                .iter()
                .filter(|(_, v)| {
                    v["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| {
                            refs.iter()
                                .any(|r| r["uid"].as_str() == Some(owner.as_str()))
                        })
                })
                .map(|(k, _)| k.clone())
                .collect();
            for key in owned {
                if let Some(gone) = self.objects.remove(&key) {
                    self.resource_version += 1;
                    self.record("DELETED", &key, &gone);
                    orphans.push(
                        gone["metadata"]["uid"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    );
                }
            }
        }
        Ok(t.present(removed))
    }
}

/// The body is an object, and so are `metadata` and a Secret's `data` and `stringData` when
/// present (the stand-in keeps no schemas; these are the shapes it writes into).
fn check_shape(t: &ResourceType, object: &Value) -> Result<(), StoreError> {
    let invalid = |field: &str| {
        Err(StoreError::Invalid(format!(
            "{field}: Invalid value: must be an object"
        )))
    };
    if !object.is_object() {
        return invalid("the body");
    }
    let mut fields = vec!["metadata"];
    if t.is("", "secrets") {
        fields.extend(["data", "stringData"]);
    }
    for field in fields {
        if !(object[field].is_null() || object[field].is_object()) {
            return invalid(field);
        }
    }
    Ok(())
}

/// A Secret's write-only `stringData` goes into `data` (base64), overriding keys of the same
/// name, as the real server does.
fn fold_string_data(t: &ResourceType, object: &mut Value) {
    use base64::Engine as _;
    if !t.is("", "secrets") {
        return;
    }
    let Some(Value::Object(strings)) = object.as_object_mut().and_then(|o| o.remove("stringData"))
    else {
        return;
    };
    for (key, value) in strings {
        let text = match value {
            Value::String(text) => text,
            other => other.to_string(),
        };
        object["data"][key] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// A built-in type's optional maps are not stored when empty (`omitempty`): the real server
/// answers an object written with `data: {}` or `labels: {}` without the field, so an apply of
/// `data: {}` over it adds the field (which matters for apply conflicts, see `apply.rs`).
fn drop_empty_maps(t: &ResourceType, object: &mut Value) {
    let empty = |v: &Value| v.as_object().is_some_and(serde_json::Map::is_empty);
    if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.retain(|k, v| !((k == "labels" || k == "annotations") && empty(v)));
    }
    let fields: &[&str] = if t.is("", "secrets") {
        &["data", "stringData"]
    } else {
        &[]
    };
    if let Some(map) = object.as_object_mut() {
        map.retain(|k, v| !(fields.contains(&k.as_str()) && empty(v)));
    }
}

fn strip_nulls(value: &mut Value) {
    if let Some(map) = value.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
}
