//! What the tests of the stores through Azure Resource Manager share (keyway-stores' and the
//! CLI's, included by `#[path]`): an IoT Operations instance `aio-1` on the emulator's ARM
//! stand-in with secret sync enabled (its default class made through ARM, as `az iot ops
//! secretsync enable` makes it), a vault, and an operator identity (Secrets Officer).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use keyway_cluster::apply::ApplyOptions;
use keyway_emulator::{
    Emulator, Identity, IotOperationsInstance, Role, ServiceAccountToken, Vault,
};
use keyway_stores::{ArmTarget, StoreTarget};
use keyway_sync::{SecretProviderClass, SecretProviderClassSpec};

/// The instance's resource group.
pub const GROUP: &str = "edge-rg";
/// The instance's name.
pub const INSTANCE: &str = "aio-1";

/// What the instance is made with.
pub struct ArmSpec<'a> {
    pub subscription: &'a str,
    pub vault: &'a str,
    /// The default SecretProviderClass's name.
    pub default_class: &'a str,
    /// The class's parameter naming the sync identity (`clientID` as the az extension writes
    /// it, or `clientId`).
    pub client_id_parameter: &'a str,
    /// The IoT Operations extension's configuration settings to begin with.
    pub settings: BTreeMap<String, String>,
}

pub struct ArmInstance {
    pub emulator: Emulator,
    pub instance: IotOperationsInstance,
    pub tenant: String,
    pub vault: Vault,
    /// The Secrets Officer identity, service account `ops/operator`.
    pub operator: Identity,
    pub credential: Arc<dyn TokenCredential>,
    pub options: ApplyOptions,
    pub target: Arc<ArmTarget>,
    pub subscription: String,
}

/// The instance of `spec`, its default class applied through `target`.
pub async fn arm_instance(spec: ArmSpec<'_>) -> ArmInstance {
    let emulator = Emulator::start().await.unwrap();
    let tenant = emulator.add_tenant(None);
    let ssc = emulator
        .add_workload_identity(&tenant, "ssc", "azure-iot-operations", "aio-ssc-sa")
        .unwrap();
    let vault = emulator.add_vault(&tenant, spec.vault).await.unwrap();
    vault.grant(&ssc, Role::SecretsUser);
    let operator = emulator
        .add_workload_identity(&tenant, "operator", "ops", "operator")
        .unwrap();
    vault.grant(&operator, Role::SecretsOfficer);
    let credential: Arc<dyn TokenCredential> = emulator
        .workload_credential(&operator, "ops", "operator")
        .unwrap();
    let instance = emulator.add_iot_operations_instance(
        spec.subscription,
        GROUP,
        INSTANCE,
        "azure-iot-operations",
        &spec.settings,
    );
    let options = ApplyOptions {
        endpoint: emulator.arm_url(),
        client_options: emulator.client_options().unwrap(),
        ..Default::default()
    };
    let target = Arc::new(
        ArmTarget::connect(
            credential.clone(),
            options.clone(),
            spec.subscription,
            GROUP,
            INSTANCE,
        )
        .await
        .unwrap(),
    );
    target
        .apply_provider_class(&SecretProviderClass::new(
            spec.default_class,
            SecretProviderClassSpec {
                provider: Some("azure".into()),
                parameters: BTreeMap::from([
                    ("keyvaultName".to_string(), spec.vault.to_string()),
                    ("tenantId".to_string(), tenant.clone()),
                    (spec.client_id_parameter.to_string(), ssc.client_id.clone()),
                ]),
                secret_objects: None,
            },
        ))
        .await
        .unwrap();
    ArmInstance {
        emulator,
        instance,
        tenant,
        vault,
        operator,
        credential,
        options,
        target,
        subscription: spec.subscription.to_string(),
    }
}

impl ArmInstance {
    /// What a separate process (the CLI) needs to act as the operator on this instance: the
    /// emulator's CA and the operator's token written in `dir`, and the environment variables
    /// naming them and the endpoints (no kubeconfig at all).
    pub fn process_environment(&self, dir: &Path) -> Vec<(&'static str, OsString)> {
        self.emulator.write_ca(&dir.join("ca.pem")).unwrap();
        std::fs::write(
            dir.join("operator.jwt"),
            self.emulator
                .mint_service_account_token(&ServiceAccountToken::new("ops", "operator")),
        )
        .unwrap();
        vec![
            ("AZURE_CLIENT_ID", self.operator.client_id.clone().into()),
            ("AZURE_TENANT_ID", self.tenant.clone().into()),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                dir.join("operator.jwt").into(),
            ),
            (
                "AZURE_AUTHORITY_HOST",
                self.emulator.authority_host().into(),
            ),
            ("SSL_CERT_FILE", dir.join("ca.pem").into()),
            ("KEYWAY_VAULT_URL", self.vault.url().into()),
            ("KEYWAY_ARM_ENDPOINT", self.emulator.arm_url().into()),
            ("KUBECONFIG", dir.join("no-kubeconfig").into()),
        ]
    }
}
