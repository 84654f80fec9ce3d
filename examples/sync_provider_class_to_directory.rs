//! Sync a SecretProviderClass into a directory: what `keyway sync --to-dir` does, in a program
//! of your own. The manifest's objects are read from Key Vault through workload identity
//! federation and written as files, atomically, the way kubelet writes a projected volume.
//!
//! Run: `cargo run --example sync_provider_class_to_directory`
//!
//! It starts the emulated Entra ID, OIDC issuer and Key Vault in-process, so it runs offline. In
//! a pod, the vault URL comes from the manifest as it is, and the credential from the
//! environment (`FederatedCredential::from_env`).

use std::sync::Arc;

use keyway::prelude::*;

/// Syncs a SecretProviderClass of two secrets into a directory, once.
#[tokio::main]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The cloud, emulated: a tenant, a workload identity that trusts the service account
    //    `default/app`, and a vault that identity may read.
    let emulator = Emulator::start().await?;
    let tenant = emulator.add_tenant(None);
    let identity = emulator.add_workload_identity(&tenant, "app", "default", "app")?;
    let vault = emulator.add_vault(&tenant, "app-vault").await?;
    vault.grant(&identity, Role::SecretsUser);
    vault.set_secret("db-password", "correct horse battery staple")?;
    vault.set_secret("api-key", "k-0001")?;

    // 2. The pod: its projected service-account token, as kubelet writes it.
    let dir = std::env::temp_dir().join(format!("keyway-example-sync-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let token_file = dir.join("token");
    let token = emulator.mint_service_account_token(&ServiceAccountToken::new("default", "app"));
    std::fs::write(&token_file, token)?;

    // 3. The SecretProviderClass, as the cluster holds it. The emulated vault listens on
    //    loopback, not on app-vault.vault.azure.net, so its URL is given.
    let spc: SecretProviderClass =
        keyway::sync::yaml::from_str(&provider_class(&tenant, &identity.client_id))?;
    let spec = SyncSpec::from_provider_class(&spc)?.with_vault_url(vault.url())?;

    // 4. The source (Key Vault, with a credential that re-reads the token file for every
    //    exchange) and the sink (a directory).
    let credential = FederatedCredential::new(
        &tenant,
        &identity.client_id,
        &emulator.authority_host(),
        Arc::new(ProjectedTokenFile::new(&token_file)),
        FederatedCredentialOptions {
            client_options: emulator.client_options()?,
            ..Default::default()
        },
    )?;
    let source = KeyVaultSource::new(
        vault.url(),
        credential,
        KeyVaultSourceOptions {
            client_options: emulator.client_options()?,
            // A vault on 127.0.0.1 cannot prove it is *.vault.azure.net.
            verify_challenge_resource: false,
            ..Default::default()
        },
    )?;
    let files = dir.join("files");
    let syncer = Syncer::new(
        spec,
        Arc::new(source),
        Arc::new(DirectorySink::new(&files)?),
    );

    // 5. One cycle. Keep the Syncer to run more: each later cycle reads only what changed
    //    (`Syncer::run` loops with an interval).
    let report = syncer.run_once().await;
    for object in &report.objects {
        let size = std::fs::metadata(files.join(&object.output))?.len();
        // Never print a secret: its size proves it arrived.
        println!("{:<10} {:?}, {size} bytes", object.output, object.outcome);
    }
    println!(
        "into {}: {} listing(s), {} read(s)",
        files.display(),
        report.calls.list,
        report.calls.get
    );

    emulator.stop();
    std::fs::remove_dir_all(&dir)?;
    if !report.all_synced() {
        return Err(format!("{} object(s) failed", report.failed()).into());
    }
    Ok(())
}

/// A SecretProviderClass of two secrets, one of them renamed on disk (`objectAlias`).
fn provider_class(tenant: &str, client_id: &str) -> String {
    format!(
        r#"apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: app
  namespace: default
spec:
  provider: azure
  parameters:
    keyvaultName: app-vault
    tenantID: {tenant}
    clientID: {client_id}
    objects: |
      array:
        - |
          objectName: db-password
          objectType: secret
        - |
          objectName: api-key
          objectAlias: api.key
          objectType: secret
"#
    )
}
