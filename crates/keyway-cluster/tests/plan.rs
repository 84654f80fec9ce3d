//! The secret-sync plan matches what `az iot ops secretsync enable` does: role
//! ids, subject, audience, skip-if-exists, deterministic names; and its three renderings agree.

use keyway_cluster::plan::{
    KEY_VAULT_READER, KEY_VAULT_SECRETS_USER, Plan, SecretSyncPlanRequest, Step,
    federated_credential_name, role_assignment_name,
};

/// `bash -n` (parse, run nothing) on `script`, written to a temporary file named after `test`.
fn bash_syntax_check(script: &str, test: &str) -> std::process::Output {
    let file = std::env::temp_dir().join(format!("keyway-{test}-{}.sh", std::process::id()));
    std::fs::write(&file, script).unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    syntax
}

fn request() -> SecretSyncPlanRequest {
    SecretSyncPlanRequest {
        subscription: "11111111-2222-3333-4444-555555555555".into(),
        resource_group: "edge-rg".into(),
        identity: "aio-secretsync".into(),
        keyvault: "edge-vault".into(),
        keyvault_resource_group: Some("vault-rg".into()),
        issuer: "https://westeurope.oic.prod-arc.azure.com/tenant/guid/".into(),
        namespace: "azure-iot-operations".into(),
        service_account: "aio-ssc-sa".into(),
        k3s_max_token_expiration: Some("24h".into()),
        uploader_principal_id: None,
    }
}

#[test]
fn the_plan_holds_the_facts_of_secretsync_enable() {
    let plan = Plan::secret_sync(&request()).unwrap();
    assert_eq!(
        KEY_VAULT_SECRETS_USER.id,
        "4633458b-17de-408a-b874-0445c86b69e6"
    );
    assert_eq!(KEY_VAULT_READER.id, "21090545-7ca7-4776-b22c-e363652d74d2");
    let identity = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/edge-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aio-secretsync";
    let scope = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/vault-rg/providers/Microsoft.KeyVault/vaults/edge-vault";
    let Step::FederatedCredential {
        identity_id,
        name,
        issuer,
        subject,
        audience,
    } = &plan.steps[1]
    else {
        panic!("{:?}", plan.steps[1])
    };
    assert_eq!(identity_id, identity);
    assert_eq!(
        subject,
        "system:serviceaccount:azure-iot-operations:aio-ssc-sa"
    );
    assert_eq!(audience, "api://AzureADTokenExchange");
    assert_eq!(issuer, &request().issuer);
    assert_eq!(name, &federated_credential_name(issuer, subject));
    let roles: Vec<(&str, &str, &str)> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::RoleAssignment {
                scope, role, name, ..
            } => Some((scope.as_str(), role.id, name.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(roles.len(), 2);
    assert!(roles.iter().all(|(s, _, _)| *s == scope));
    assert_eq!(roles[0].1, KEY_VAULT_SECRETS_USER.id);
    assert_eq!(roles[1].1, KEY_VAULT_READER.id);
    // Deterministic: the same inputs name the same assignment; different roles differ.
    assert_eq!(Plan::secret_sync(&request()).unwrap(), plan);
    assert_ne!(roles[0].2, roles[1].2);
    assert!(uuid_like(roles[0].2), "{}", roles[0].2);
    assert_eq!(
        role_assignment_name(scope, "r", identity),
        role_assignment_name(&scope.to_uppercase(), "R", identity),
        "ARM ids compare case-insensitively"
    );
    assert!(
        matches!(plan.steps.last(), Some(Step::SecretProviderClass { keyvault, .. }) if keyvault == "edge-vault")
    );
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[test]
fn the_arm_requests_and_the_az_script_say_the_same() {
    let plan = Plan::secret_sync(&request()).unwrap();
    let requests = plan.to_arm_requests();
    let methods: Vec<&str> = requests.iter().map(|r| r.method).collect();
    assert_eq!(methods, ["GET", "GET", "PUT", "PUT", "PUT"]);
    let fic = &requests[2];
    assert!(fic.path.contains("/federatedIdentityCredentials/keyway-"));
    assert!(fic.path.ends_with("?api-version=2023-01-31"));
    assert_eq!(
        fic.body.as_ref().unwrap()["properties"]["audiences"][0],
        "api://AzureADTokenExchange"
    );
    let grant = &requests[3];
    assert!(
        grant
            .path
            .contains("/providers/Microsoft.Authorization/roleAssignments/")
    );
    assert!(grant.path.ends_with("?api-version=2022-04-01"));
    assert!(
        grant.body.as_ref().unwrap()["properties"]["roleDefinitionId"]
            .as_str()
            .unwrap()
            .ends_with(KEY_VAULT_SECRETS_USER.id)
    );

    let script = plan.to_az_script();
    assert!(script.starts_with("#!/usr/bin/env bash\n"));
    assert!(script.contains("set -euo pipefail"));
    // Skip-if-exists by issuer and subject, whatever the credential's name.
    assert!(script.contains("--query 'length([?issuer=='\\''https://westeurope.oic.prod-arc.azure.com/tenant/guid/'\\'' && subject=='\\''system:serviceaccount:azure-iot-operations:aio-ssc-sa'\\''])'"), "{script}");
    assert!(
        !script.contains("az role assignment show"),
        "no such az command"
    );
    for step in &plan.steps {
        if let Step::RoleAssignment { name, role, .. } = step {
            assert!(script.contains(&format!("--name '{name}'")), "{name}");
            assert!(script.contains(&format!("--role '{}'", role.id)));
        }
    }
    assert!(script.contains("keyway cluster k3s-config --issuer"));
    assert!(script.contains("clientID: ${CLIENT_ID}"), "{script}");
    // The script is valid bash.
    let syntax = bash_syntax_check(&script, "plan");
    assert!(
        syntax.status.success(),
        "{}\n{script}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["steps"][0]["step"], "lookup_identity");
}

#[test]
fn bad_requests_name_the_flag() {
    type Change = fn(&mut SecretSyncPlanRequest);
    let cases: [(Change, &str); 5] = [
        (|r| r.issuer = "http://x/".into(), "issuer"),
        (|r| r.identity = "a/b".into(), "identity"),
        // Names Key Vault and Kubernetes would refuse, caught before any step is planned.
        (
            |r| r.keyvault = "edge_vault".into(),
            "keyvault: \"edge_vault\"",
        ),
        (
            |r| r.namespace = "Azure_IoT".into(),
            "namespace: \"Azure_IoT\"",
        ),
        (|r| r.service_account = "SSC_SA".into(), "service_account: "),
    ];
    for (change, prefix) in cases {
        let mut bad = request();
        change(&mut bad);
        let error = Plan::secret_sync(&bad).unwrap_err().to_string();
        assert!(error.starts_with(prefix), "{error}");
    }
}

#[test]
fn the_identity_plan_federates_the_instance_service_account() {
    use keyway_cluster::plan::IdentityPlanRequest;
    let plan = Plan::identity(&IdentityPlanRequest {
        subscription: "s".into(),
        resource_group: "rg".into(),
        identity: "cloud-connections".into(),
        issuer: "https://issuer.example/".into(),
        namespace: "azure-iot-operations".into(),
        service_account: "aio-dataflow".into(),
    })
    .unwrap();
    assert_eq!(plan.steps.len(), 1);
    let Step::FederatedCredential {
        subject,
        audience,
        identity_id,
        ..
    } = &plan.steps[0]
    else {
        panic!()
    };
    assert_eq!(
        subject,
        "system:serviceaccount:azure-iot-operations:aio-dataflow"
    );
    assert_eq!(audience, "api://AzureADTokenExchange");
    assert!(identity_id.ends_with("/userAssignedIdentities/cloud-connections"));
    let script = plan.to_az_script();
    assert!(
        script.contains("IDENTITY_ID='/subscriptions/s/"),
        "{script}"
    );
    let syntax = bash_syntax_check(&script, "plan-id");
    assert!(syntax.status.success());
}

#[test]
fn an_uploader_gets_secrets_officer_by_its_object_id() {
    use keyway_cluster::plan::KEY_VAULT_SECRETS_OFFICER;
    let mut with_uploader = request();
    with_uploader.uploader_principal_id = Some("99999999-8888-7777-6666-555555555555".into());
    let plan = Plan::secret_sync(&with_uploader).unwrap();
    let officer = plan
        .steps
        .iter()
        .find_map(|s| match s {
            Step::RoleAssignment {
                role, principal_id, ..
            } if role.id == KEY_VAULT_SECRETS_OFFICER.id => principal_id.clone(),
            _ => None,
        })
        .unwrap();
    assert_eq!(officer, "99999999-8888-7777-6666-555555555555");
    let requests = plan.to_arm_requests();
    let put = requests
        .iter()
        .find(|r| {
            r.body.as_ref().is_some_and(|b| {
                b["properties"]["principalId"] == "99999999-8888-7777-6666-555555555555"
            })
        })
        .unwrap();
    assert!(put.path.contains("/roleAssignments/"));
    assert!(
        plan.to_az_script()
            .contains("--assignee-object-id '99999999-8888-7777-6666-555555555555'")
    );
}
