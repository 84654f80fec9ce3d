//! A plan applied through the ARM stand-in with a real TokenCredential: the credential and the
//! role assignments are made, the identity can then read the vault, and a re-run changes
//! nothing.

use keyway_cluster::apply::{ApplyOptions, Outcome, apply};
use keyway_cluster::plan::{Plan, SecretSyncPlanRequest};
use keyway_emulator::{Emulator, Service, ServiceAccountToken};

/// The plan for the identity `identity` in `sub-1`/`edge-rg`, the vault `edge-vault` and the
/// emulator's issuer, for `service_account` in `namespace`.
fn secret_sync_plan(
    emulator: &Emulator,
    identity: &str,
    namespace: &str,
    service_account: &str,
) -> Plan {
    Plan::secret_sync(&SecretSyncPlanRequest {
        subscription: "sub-1".into(),
        resource_group: "edge-rg".into(),
        identity: identity.into(),
        keyvault: "edge-vault".into(),
        keyvault_resource_group: None,
        issuer: emulator.issuer_url(),
        namespace: namespace.into(),
        service_account: service_account.into(),
        k3s_max_token_expiration: None,
        uploader_principal_id: None,
    })
    .unwrap()
}

/// The operator who applies a plan: any TokenCredential; here, the workload identity
/// `operator` of `tenant` (service account `ops/operator`), and its credential.
fn operator_credential(
    emulator: &Emulator,
    tenant: &str,
) -> (
    keyway_emulator::Identity,
    std::sync::Arc<keyway_identity::FederatedCredential>,
) {
    let operator = emulator
        .add_workload_identity(tenant, "operator", "ops", "operator")
        .unwrap();
    let credential = emulator
        .workload_credential(&operator, "ops", "operator")
        .unwrap();
    (operator, credential)
}

/// Requests to the emulator's ARM stand-in, over its TLS.
fn apply_options(emulator: &Emulator) -> ApplyOptions {
    ApplyOptions {
        endpoint: emulator.arm_url(),
        client_options: emulator.client_options().unwrap(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_plan_applies_idempotently_and_the_identity_then_reads_the_vault() {
    let emulator = Emulator::start().await.unwrap();
    let tenant = emulator.add_tenant(None);
    let sync_identity = emulator.add_identity(&tenant, "aio-secretsync").unwrap();
    emulator.add_arm_identity("sub-1", "edge-rg", &sync_identity);
    let vault = emulator.add_vault(&tenant, "edge-vault").await.unwrap();
    vault.set_secret("db-password", "s3cret").unwrap();
    // The operator who applies the plan: any TokenCredential; here, workload identity.
    let (operator, credential) = operator_credential(&emulator, &tenant);
    let plan = secret_sync_plan(
        &emulator,
        "aio-secretsync",
        "azure-iot-operations",
        "aio-ssc-sa",
    );
    let options = || apply_options(&emulator);

    // Before: the sync identity cannot get a token for the service account.
    assert!(
        emulator
            .vault_token(&sync_identity, "azure-iot-operations", "aio-ssc-sa")
            .await
            .is_err()
    );
    let first = apply(&plan, credential.clone(), options()).await.unwrap();
    let outcomes: Vec<Outcome> = first.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Read,
            Outcome::Created,
            Outcome::Created,
            Outcome::Created,
            Outcome::ClusterSide
        ]
    );
    // After: the credential is trusted and the roles work on the vault.
    let token = emulator
        .vault_token(&sync_identity, "azure-iot-operations", "aio-ssc-sa")
        .await
        .unwrap();
    let answer = emulator
        .http_client()
        .unwrap()
        .get(format!(
            "{}/secrets/db-password?api-version=2025-07-01",
            vault.url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(emulator.role_assignments().len(), 2);

    // Again: nothing new.
    let again = apply(&plan, credential.clone(), options()).await.unwrap();
    let outcomes: Vec<Outcome> = again.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Read,
            Outcome::Exists,
            Outcome::Exists,
            Outcome::Exists,
            Outcome::ClusterSide
        ]
    );
    assert_eq!(emulator.role_assignments().len(), 2);
    assert_eq!(
        emulator.counters().count_status(
            Service::Arm,
            "FederatedIdentityCredentials_CreateOrUpdate",
            201
        ),
        1
    );

    // The same role for the same principal under another name: ARM's 409 RoleAssignmentExists.
    let assertion =
        emulator.mint_service_account_token(&ServiceAccountToken::new("ops", "operator"));
    let (_, token) = emulator
        .request_token(
            &tenant,
            &operator.client_id,
            "https://management.azure.com/.default",
            &assertion,
        )
        .await
        .unwrap();
    let scope = "/subscriptions/sub-1/resourceGroups/edge-rg/providers/Microsoft.KeyVault/vaults/edge-vault";
    let duplicate = emulator
        .http_client()
        .unwrap()
        .put(format!(
            "{}{scope}/providers/Microsoft.Authorization/roleAssignments/00000000-0000-0000-0000-000000000001?api-version=2022-04-01",
            emulator.arm_url()
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&serde_json::json!({"properties": {
            "roleDefinitionId": "/subscriptions/sub-1/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6",
            "principalId": sync_identity.object_id,
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status().as_u16(), 409);
    let body: serde_json::Value = duplicate.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RoleAssignmentExists");
}

#[tokio::test]
async fn failures_name_the_request() {
    let emulator = Emulator::start().await.unwrap();
    let tenant = emulator.add_tenant(None);
    let (_, credential) = operator_credential(&emulator, &tenant);
    let plan = secret_sync_plan(&emulator, "missing", "ns", "sa");
    let err = apply(&plan, credential, apply_options(&emulator))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("GET /subscriptions/sub-1/resourceGroups/edge-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/missing"), "{text}");
    assert!(text.contains("HTTP 404: ResourceNotFound"), "{text}");
}
