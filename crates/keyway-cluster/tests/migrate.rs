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
            .starts_with("document 1 (AzureIdentity) spec"),
        "{bad}"
    );
}
