//! The one table of invalid SecretSyncs and SecretProviderClasses (`fixtures/invalid_inputs.json`)
//! and the manifests of each case, read by the controller's test (`tests/invalid_inputs.rs`) and
//! the CLI's (`keyway-cli/tests/invalid_inputs_cli.rs`, which includes this file by path), so
//! both refuse the very same objects.
#![allow(dead_code)]

use keyway_sync::{SecretProviderClass, SecretSync};
use serde_json::{Value, json};

/// The table's file.
pub const TABLE: &str = include_str!("../fixtures/invalid_inputs.json");

/// One invalid case.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case's name: the SecretProviderClass's, the SecretSync's and the Secret's.
    pub name: String,
    /// The field path both refusals name.
    pub field: String,
    /// The controller's condition reason.
    pub reason: String,
    /// A rule of a Kubernetes Secret: `keyway sync --to-dir` does not apply it.
    pub secret_only: bool,
    parameters: serde_json::Map<String, Value>,
    secret_object: Value,
}

/// Every case of the table.
pub fn cases() -> Vec<Case> {
    let table: Value = serde_json::from_str(TABLE).expect("the table is JSON");
    let base = &table["base"];
    table["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|case| {
            let mut parameters = base["parameters"].as_object().unwrap().clone();
            for (key, value) in case["parameters"].as_object().into_iter().flatten() {
                match value {
                    Value::Null => parameters.remove(key),
                    value => parameters.insert(key.clone(), value.clone()),
                };
            }
            let text = |key: &str| case[key].as_str().expect(key).to_string();
            Case {
                name: text("name"),
                field: text("field"),
                reason: text("reason"),
                secret_only: case["secretOnly"].as_bool().unwrap_or(false),
                parameters,
                secret_object: match &case["secretObject"] {
                    Value::Null => base["secretObject"].clone(),
                    given => given.clone(),
                },
            }
        })
        .collect()
}

impl Case {
    /// The case's SecretProviderClass (named after the case), with the identity the
    /// controller's workload identity needs.
    pub fn provider_class(&self, tenant: &str, client_id: &str) -> SecretProviderClass {
        let mut parameters = self.parameters.clone();
        parameters.insert("tenantID".into(), tenant.into());
        parameters.insert("clientID".into(), client_id.into());
        serde_json::from_value(json!({
            "apiVersion": "secrets-store.csi.x-k8s.io/v1",
            "kind": "SecretProviderClass",
            "metadata": {"name": self.name},
            "spec": {"provider": "azure", "parameters": parameters},
        }))
        .expect("a SecretProviderClass")
    }

    /// The case's SecretSync (named after the case, naming its SecretProviderClass), as the
    /// service account `service_account`.
    pub fn secret_sync(&self, service_account: &str) -> SecretSync {
        serde_json::from_value(json!({
            "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
            "kind": "SecretSync",
            "metadata": {"name": self.name},
            "spec": {
                "secretProviderClassName": self.name,
                "serviceAccountName": service_account,
                "secretObject": self.secret_object,
            },
        }))
        .expect("a SecretSync")
    }

    /// `text` names this case's field as the refusal's: `FIELD: ` where the message starts
    /// (the controller's condition) or after a file name (`spc.yaml: FIELD: `, the CLI).
    pub fn named_in(&self, text: &str) -> bool {
        let prefix = format!("{}: ", self.field);
        text.starts_with(&prefix) || text.contains(&format!(": {prefix}"))
    }
}

/// At least these many cases: the table is not emptied by accident.
pub const AT_LEAST: usize = 17;
