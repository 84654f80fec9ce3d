//! AAD Pod Identity objects become workload identity equivalents; what cannot is listed.

use keyway_cluster::migrate::{Migration, USE_LABEL};
use keyway_cluster::plan::Step;
use keyway_cluster::render::CLIENT_ID_ANNOTATION;

const POD_IDENTITY: &str = r#"
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentity
metadata: {name: opcua-mi, namespace: edge}
spec:
  type: 0
  resourceID: /subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/opcua-mi
  clientID: 00000000-1111-2222-3333-444444444444
---
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentityBinding
metadata: {name: opcua-binding, namespace: edge}
spec: {azureIdentity: opcua-mi, selector: opcua}
---
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentity
metadata: {name: legacy-sp, namespace: edge}
spec: {type: 1, tenantID: t, clientID: c, clientPassword: {name: sp-secret, namespace: edge}}
---
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentityBinding
metadata: {name: legacy-binding, namespace: edge}
spec: {azureIdentity: legacy-sp, selector: legacy}
---
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentityBinding
metadata: {name: dangling, namespace: edge}
spec: {azureIdentity: missing, selector: x}
---
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentityBinding
metadata: {name: opcua-again, namespace: edge}
spec: {azureIdentity: opcua-mi, selector: opcua}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: azurekeyvault, namespace: edge}
spec:
  type: secretstores.azure.keyvault
  version: v1
  metadata:
    - {name: vaultName, value: edge-vault}
    - {name: spnClientId, value: 00000000-1111-2222-3333-444444444444}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
"#;

#[test]
fn bindings_become_service_accounts_labels_and_credentials() {
    let migration = Migration::from_yaml(POD_IDENTITY, Some("https://issuer.example/")).unwrap();
    assert_eq!(migration.service_accounts.len(), 1);
    let account = &migration.service_accounts[0];
    assert_eq!(
        account.metadata.name.as_deref(),
        Some("opcua-workload-identity")
    );
    assert_eq!(
        account.metadata.annotations.as_ref().unwrap()[CLIENT_ID_ANNOTATION],
        "00000000-1111-2222-3333-444444444444"
    );
    let change = &migration.pod_changes[0];
    assert_eq!(change.selector, "opcua");
    assert_eq!(change.add_labels[USE_LABEL], "true");
    let Step::FederatedCredential {
        identity_id,
        subject,
        ..
    } = &migration.federated_credentials[0]
    else {
        panic!()
    };
    assert!(identity_id.ends_with("/userAssignedIdentities/opcua-mi"));
    assert_eq!(
        subject,
        "system:serviceaccount:edge:opcua-workload-identity"
    );

    let dapr = &migration.dapr_components[0];
    let names: Vec<&str> = dapr.spec.metadata.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["vaultName", "azureClientId"]);

    let reasons: Vec<(&str, &str)> = migration
        .unconvertible
        .iter()
        .map(|u| (u.object.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[2].0 == "AzureIdentityBinding/edge/opcua-again"
            && reasons[2].1.contains("already bound"),
        "{reasons:?}"
    );
    assert!(
        reasons[0].0 == "AzureIdentityBinding/edge/legacy-binding"
            && reasons[0].1.contains("type 1")
    );
    assert!(
        reasons[1].0 == "AzureIdentityBinding/edge/dangling"
            && reasons[1].1.contains("\"missing\"")
    );

    let yaml = migration.manifests_yaml().unwrap();
    assert!(
        yaml.contains("kind: ServiceAccount") && yaml.contains("kind: Component"),
        "{yaml}"
    );
    assert!(!yaml.contains("spnClientId"));
}

#[test]
fn without_an_issuer_no_credentials_and_bad_input_is_named() {
    let migration = Migration::from_yaml(POD_IDENTITY, None).unwrap();
    assert!(migration.federated_credentials.is_empty());
    let bad = Migration::from_yaml(
        "kind: AzureIdentity\nmetadata: {name: a}\nspec: {type: zero}\n",
        None,
    )
    .unwrap_err();
    assert!(
        bad.to_string()
            .starts_with("document 1 (AzureIdentity default/a) spec"),
        "{bad}"
    );
}

/// The Dapr guide's AAD Pod Identity manifests and component, as the guide writes them.
fn dapr_guide() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dapr-guide");
    let read = |file: &str| std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
    format!(
        "{}---\n{}",
        read("azure-identity-config.yaml"),
        read("component.yaml")
    )
}

const GUIDE_CLIENT_ID: &str = "2c9d6e1f-7a8b-4c3d-9e0f-1a2b3c4d5e6f";

#[test]
fn the_dapr_guide_manifests_migrate_as_written() {
    // AAD Pod Identity reads `ResourceID:`, `ClientID:`, `AzureIdentity:` and `Selector:` as
    // Go's encoding/json does, ignoring case; so does the migration.
    let migration = Migration::from_yaml(&dapr_guide(), Some("https://issuer.example/")).unwrap();
    assert!(
        migration.unconvertible.is_empty(),
        "{:?}",
        migration.unconvertible
    );
    let [account] = migration.service_accounts.as_slice() else {
        panic!("{:?}", migration.service_accounts)
    };
    assert_eq!(
        account.metadata.name.as_deref(),
        Some("dapr-kv-selector-workload-identity")
    );
    assert_eq!(account.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        account.metadata.annotations.as_ref().unwrap()[CLIENT_ID_ANNOTATION],
        GUIDE_CLIENT_ID
    );
    assert_eq!(migration.pod_changes[0].selector, "dapr-kv-selector");
    let [
        Step::FederatedCredential {
            identity_id,
            subject,
            ..
        },
    ] = migration.federated_credentials.as_slice()
    else {
        panic!("{:?}", migration.federated_credentials)
    };
    assert_eq!(
        identity_id,
        "/subscriptions/6f8a1d2e-3b4c-4d5e-8f90-a1b2c3d4e5f6/resourcegroups/dapr-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/dapr-kv-identity"
    );
    assert_eq!(
        subject,
        "system:serviceaccount:default:dapr-kv-selector-workload-identity"
    );
    let [component] = migration.dapr_components.as_slice() else {
        panic!("{:?}", migration.dapr_components)
    };
    let settings: Vec<(&str, &str)> = component
        .spec
        .metadata
        .iter()
        .map(|m| (m.name.as_str(), m.value.as_str()))
        .collect();
    assert_eq!(
        settings,
        [
            ("vaultName", "dapr-kv-vault"),
            ("azureClientId", GUIDE_CLIENT_ID)
        ]
    );
}

#[test]
fn an_empty_or_missing_client_id_is_an_error_naming_the_field() {
    let guide = dapr_guide();
    let line = format!("  ClientID: {GUIDE_CLIENT_ID}\n");
    assert!(guide.contains(&line));
    for replacement in [
        "  ClientID: \"\"\n",
        "  ClientID:\n",
        "  ClientID: \"  \"\n",
        "",
    ] {
        let yaml = guide.replace(&line, replacement);
        let error = Migration::from_yaml(&yaml, Some("https://issuer.example/"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "document 1 (AzureIdentity default/dapr-kv-identity) spec.clientID: is missing or empty"
            ),
            "{replacement:?}: {error}"
        );
    }
    let no_resource = guide.replace("  ResourceID: /subscriptions", "  Other: /subscriptions");
    let error = Migration::from_yaml(&no_resource, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("spec.resourceID: is missing or empty"),
        "{error}"
    );
    let not_an_id = guide.replace("/resourcegroups/dapr-rg/", "/resourcegroups/dapr rg/");
    let error = Migration::from_yaml(&not_an_id, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("spec.resourceID: ")
            && error.contains("not a user-assigned managed identity"),
        "{error}"
    );
}

#[test]
fn a_binding_without_its_identity_or_selector_and_two_spellings_of_one_field_are_named() {
    let guide = dapr_guide();
    let error = Migration::from_yaml(&guide.replace("  Selector: dapr-kv-selector\n", ""), None)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(
            "document 2 (AzureIdentityBinding default/dapr-kv-identity-identity-binding) spec.selector: is missing or empty"
        ),
        "{error}"
    );
    let error = Migration::from_yaml(
        &guide.replace(
            "  AzureIdentity: dapr-kv-identity\n",
            "  AzureIdentity: \"\"\n",
        ),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("spec.azureIdentity: is missing or empty"),
        "{error}"
    );
    // Go would take whichever comes last; two different client ids are refused instead.
    let twice = guide.replace(
        &format!("  ClientID: {GUIDE_CLIENT_ID}\n"),
        &format!(
            "  ClientID: {GUIDE_CLIENT_ID}\n  clientID: 00000000-0000-0000-0000-000000000000\n"
        ),
    );
    let error = Migration::from_yaml(&twice, None).unwrap_err().to_string();
    assert!(
        error.contains("spec.clientID: ClientID is given too"),
        "{error}"
    );
}

#[test]
fn no_spec_and_a_selector_that_makes_no_service_account_name() {
    let error = Migration::from_yaml("kind: AzureIdentity\nmetadata: {name: bare}\n", None)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("document 1 (AzureIdentity default/bare) spec.clientID: is missing"),
        "{error}"
    );
    // Label values may hold capitals and `_`; ServiceAccount names may not.
    let migration = Migration::from_yaml(
        &dapr_guide().replace("Selector: dapr-kv-selector", "Selector: Dapr_KV"),
        Some("https://issuer.example/"),
    )
    .unwrap();
    assert!(migration.service_accounts.is_empty());
    assert!(migration.federated_credentials.is_empty());
    let [item] = migration.unconvertible.as_slice() else {
        panic!("{:?}", migration.unconvertible)
    };
    assert!(
        item.reason
            .contains("selector \"Dapr_KV\" does not make a ServiceAccount name"),
        "{}",
        item.reason
    );
}
