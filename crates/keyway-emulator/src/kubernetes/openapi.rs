//! The OpenAPI v3 documents `kubectl` reads before `apply` and `create`: enough to tell it that
//! every served type validates fields on the server (`fieldValidation`), so it sends its objects
//! instead of validating them against schemas the stand-in does not keep.

use serde_json::{Map, Value, json};

use super::resources::ResourceType;

/// `/openapi/v3`: one entry per served group-version.
pub(crate) fn root(types: &[ResourceType]) -> Value {
    let mut paths = Map::new();
    for t in types {
        let path = group_version_path(&t.group, &t.version);
        let url = format!("/openapi/v3/{path}");
        paths.insert(path, json!({ "serverRelativeURL": url }));
    }
    json!({ "paths": paths })
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`, `None` when nothing is served
/// there: each type's PATCH operation with its group-version-kind and the `fieldValidation`
/// query parameter.
pub(crate) fn group_version(types: &[ResourceType], path: &str) -> Option<Value> {
    let mut paths = Map::new();
    for t in types
        .iter()
        .filter(|t| group_version_path(&t.group, &t.version) == path)
    {
        let collection = if t.namespaced {
            format!("/{path}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("/{path}/{}/{{name}}", t.plural)
        };
        paths.insert(
            collection,
            json!({
                "patch": {
                    "operationId": format!("patch{}", t.kind),
                    "parameters": [
                        {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                        {"name": "force", "in": "query", "schema": {"type": "boolean"}},
                    ],
                    "responses": {"200": {"description": "OK"}},
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": {
                        "group": t.group, "version": t.version, "kind": t.kind,
                    },
                }
            }),
        );
    }
    (!paths.is_empty()).then(|| {
        json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.33.0+keyway-emulator"},
            "paths": paths,
            "components": {"schemas": {}},
        })
    })
}

fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}
