//! `keyway dev`: the emulators as a local server, set up for workload identity, with the
//! environment a workload needs printed as `export` lines (or one JSON object).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use keyway_emulator::{
    Emulator, EmulatorOptions, FaultRequest, FederatedIdentityCredential, Identity, Role,
    ServiceAccountToken,
};
use serde::{Deserialize, Serialize};

use crate::error::CliError;
use crate::input;

/// Options of `keyway dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// The address the services listen on (each on its own port).
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Keep vault contents, identities and files here across restarts (default: a fresh
    /// private temporary directory). `DIR/env` holds the export lines once everything is up.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Print one JSON object instead of export lines.
    #[arg(long)]
    json: bool,
    /// Fail requests: SERVICE:OPERATION:STATUS[:COUNT], OPERATION * for all (e.g.
    /// keyvault:GetSecret:503:3). Services: entra, issuer, keyvault. Repeatable.
    #[arg(long = "fail", value_name = "SPEC")]
    fail: Vec<String>,
    /// Drop connections without an answer: SERVICE:OPERATION[:COUNT]. Repeatable.
    #[arg(long = "drop", value_name = "SPEC")]
    drop: Vec<String>,
    /// Delay answers: SERVICE:OPERATION:MILLISECONDS. Repeatable.
    #[arg(long = "latency", value_name = "SPEC")]
    latency: Vec<String>,
    /// Make the OIDC issuer unreachable (Entra answers AADSTS90061).
    #[arg(long)]
    issuer_unreachable: bool,
    /// Run the emulated services' clock this many seconds ahead (negative: behind).
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    clock_skew: Option<i64>,
}

impl DevArgs {
    /// The faults the flags ask for. More can be injected at run time with
    /// `POST <any URL>/_emulator/faults`.
    fn faults(&self) -> Result<Vec<FaultRequest>, CliError> {
        let mut requests = Vec::new();
        for (flag, specs) in [
            ("--fail", &self.fail),
            ("--drop", &self.drop),
            ("--latency", &self.latency),
        ] {
            for spec in specs {
                requests.push(
                    parse_fault(flag, spec)
                        .map_err(|why| CliError::Input(format!("{flag} {spec:?}: {why}")))?,
                );
            }
        }
        requests.push(FaultRequest {
            issuer_unreachable: self.issuer_unreachable.then_some(true),
            clock_skew_seconds: self.clock_skew,
            ..FaultRequest::default()
        });
        Ok(requests)
    }
}

fn parse_fault(flag: &str, spec: &str) -> Result<FaultRequest, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let number = |i: usize, what: &str| -> Result<Option<u64>, String> {
        parts
            .get(i)
            .map(|p| {
                p.parse::<u64>()
                    .map_err(|_| format!("{what} {p:?} is not a number"))
            })
            .transpose()
    };
    let (Some(service), Some(operation)) = (parts.first(), parts.get(1)) else {
        return Err("expected SERVICE:OPERATION:...".into());
    };
    let mut request = FaultRequest {
        service: Some(service.parse()?),
        operation: Some((*operation).to_string()),
        ..FaultRequest::default()
    };
    match flag {
        "--fail" => {
            let status = number(2, "status")?.ok_or("expected SERVICE:OPERATION:STATUS[:COUNT]")?;
            request.status = Some(u16::try_from(status).map_err(|_| "status out of range")?);
            request.count = number(3, "count")?.map(|c| c as u32);
        }
        "--drop" => request.drop = Some(number(2, "count")?.unwrap_or(1) as u32),
        _ => {
            request.latency_ms =
                Some(number(2, "milliseconds")?.ok_or("expected SERVICE:OPERATION:MILLISECONDS")?)
        }
    }
    Ok(request)
}

/// Ids that must survive a restart for the printed environment to stay valid.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DevIds {
    tenant_id: String,
    /// The subscription the identities are registered under in the ARM stand-in.
    #[serde(default = "fresh_uuid")]
    subscription_id: String,
    reader: IdPair,
    officer: IdPair,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdPair {
    client_id: String,
    object_id: String,
}

fn fresh_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl IdPair {
    fn fresh() -> IdPair {
        IdPair {
            client_id: uuid::Uuid::new_v4().to_string(),
            object_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// What `keyway dev --json` prints.
#[derive(Debug, Serialize)]
struct DevEnvironment {
    authority_host: String,
    tenant_id: String,
    client_id: String,
    federated_token_file: PathBuf,
    vault_url: String,
    ca_file: PathBuf,
    issuer: String,
    kubeconfig: PathBuf,
    arm_endpoint: String,
    arm_subscription: String,
    arm_resource_group: String,
    identity_name: String,
    officer: Officer,
}

#[derive(Debug, Serialize)]
struct Officer {
    client_id: String,
    federated_token_file: PathBuf,
}

const VAULT_NAME: &str = "keyway-dev";
/// The resource group of the identities in the ARM stand-in.
const RESOURCE_GROUP: &str = "keyway-dev";
/// Seeded into an empty vault, so examples have something to read.
const EXAMPLE_SECRET: &str = "example-secret";
const NAMESPACE: &str = "default";
const READER_SA: &str = "default";
const OFFICER_SA: &str = "officer";
/// Projected tokens live an hour; rewrite them well before, as kubelet does at 80 %.
const TOKEN_REFRESH: Duration = Duration::from_secs(600);

/// Runs `keyway dev` until SIGINT or SIGTERM.
pub async fn run(args: DevArgs) -> Result<ExitCode, CliError> {
    let dir = match &args.state_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir.display().to_string(), e))?;
            refuse_shared_dir(dir)?;
            dir.clone()
        }
        None => fresh_private_dir()?,
    };
    // `env` appears only when everything is up, so a script can wait for it.
    let env_file = dir.join("env");
    match std::fs::remove_file(&env_file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(CliError::io(env_file.display().to_string(), e));
        }
        _ => {}
    }
    let ids = load_or_create_ids(&dir)?;
    let faults = args.faults()?;

    let emulator = Emulator::start_with(EmulatorOptions {
        bind: args.bind,
        state_dir: Some(dir.join("state")),
        ..EmulatorOptions::default()
    })
    .await
    .map_err(CliError::remote)?;
    let tenant = emulator.add_tenant(Some(&ids.tenant_id));
    let reader = register(&emulator, &tenant, "keyway-dev", &ids.reader, READER_SA)?;
    let officer = register(
        &emulator,
        &tenant,
        "keyway-dev-officer",
        &ids.officer,
        OFFICER_SA,
    )?;
    let vault = emulator
        .add_vault(&tenant, VAULT_NAME)
        .await
        .map_err(CliError::remote)?;
    vault.grant(&reader, Role::SecretsUser);
    vault.grant(&officer, Role::SecretsOfficer);
    // Both identities as ARM sees them, so `cluster plan --apply` can be tried here.
    for identity in [&reader, &officer] {
        emulator.add_arm_identity(&ids.subscription_id, RESOURCE_GROUP, identity);
    }
    if vault.secret_names().is_empty() {
        vault
            .set_secret(EXAMPLE_SECRET, "hello from keyway dev")
            .map_err(CliError::remote)?;
    }
    for fault in &faults {
        emulator
            .apply_fault(fault)
            .map_err(|e| CliError::Input(e.to_string()))?;
    }

    let ca_file = dir.join("ca.pem");
    input::write_atomic(&ca_file, emulator.ca_pem().as_bytes(), false)?;
    let kubeconfig = dir.join("kubeconfig");
    input::write_atomic(&kubeconfig, emulator.kubeconfig().as_bytes(), true)?;
    let reader_token = dir.join("token");
    let officer_token = dir.join("officer-token");
    write_tokens(&emulator, &reader_token, &officer_token)?;

    let environment = DevEnvironment {
        authority_host: emulator.authority_host(),
        tenant_id: tenant,
        client_id: reader.client_id.clone(),
        federated_token_file: reader_token.clone(),
        vault_url: vault.url().to_string(),
        ca_file: ca_file.clone(),
        issuer: emulator.issuer_url(),
        kubeconfig,
        arm_endpoint: emulator.arm_url(),
        arm_subscription: ids.subscription_id.clone(),
        arm_resource_group: RESOURCE_GROUP.to_string(),
        identity_name: reader.name.clone(),
        officer: Officer {
            client_id: officer.client_id.clone(),
            federated_token_file: officer_token.clone(),
        },
    };
    let text = environment_text(&environment, args.json)?;
    input::write_atomic(&env_file, text.as_bytes(), true)?;
    print_environment(&text)?;
    eprintln!(
        "keyway dev: ready; the same lines are in {} (Ctrl-C stops)",
        env_file.display()
    );

    let mut refresh = tokio::time::interval(TOKEN_REFRESH);
    refresh.tick().await;
    let stop = crate::signal::shutdown();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = refresh.tick() => write_tokens(&emulator, &reader_token, &officer_token)?,
        }
    }
    emulator.stop();
    eprintln!("keyway dev: stopped");
    Ok(ExitCode::SUCCESS)
}

fn load_or_create_ids(dir: &Path) -> Result<DevIds, CliError> {
    let path = dir.join("dev.json");
    if let Ok(bytes) = std::fs::read(&path) {
        return serde_json::from_slice(&bytes).map_err(|e| {
            CliError::Input(format!(
                "{}: {e}; delete it to start afresh",
                path.display()
            ))
        });
    }
    let ids = DevIds {
        tenant_id: uuid::Uuid::new_v4().to_string(),
        subscription_id: fresh_uuid(),
        reader: IdPair::fresh(),
        officer: IdPair::fresh(),
    };
    let text = serde_json::to_vec_pretty(&ids).map_err(|e| CliError::Input(e.to_string()))?;
    input::write_atomic(&path, &text, false)?;
    Ok(ids)
}

fn register(
    emulator: &Emulator,
    tenant: &str,
    name: &str,
    ids: &IdPair,
    service_account: &str,
) -> Result<Identity, CliError> {
    let identity = emulator
        .add_identity_with_ids(tenant, name, &ids.client_id, &ids.object_id)
        .map_err(CliError::remote)?;
    emulator
        .add_federated_credential(
            &identity,
            FederatedIdentityCredential::for_service_account(
                &emulator.issuer_url(),
                NAMESPACE,
                service_account,
            ),
        )
        .map_err(CliError::remote)?;
    Ok(identity)
}

fn write_tokens(emulator: &Emulator, reader: &Path, officer: &Path) -> Result<(), CliError> {
    for (path, service_account) in [(reader, READER_SA), (officer, OFFICER_SA)] {
        let token = emulator
            .mint_service_account_token(&ServiceAccountToken::new(NAMESPACE, service_account));
        input::write_atomic(path, token.as_bytes(), true)?;
    }
    Ok(())
}

/// A fresh state directory only this user can enter, under an unpredictable name: another
/// local user cannot have made it first (to read the admin kubeconfig or swap `ca.pem`).
fn fresh_private_dir() -> Result<PathBuf, CliError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("keyway-dev-{}", uuid::Uuid::new_v4()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| CliError::io(dir.display().to_string(), e))?;
    Ok(dir)
}

/// Refuses a state directory other users may write to: they could replace the CA or the
/// kubeconfig that `keyway dev` hands out.
fn refuse_shared_dir(dir: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir)
        .map_err(|e| CliError::io(dir.display().to_string(), e))?
        .permissions()
        .mode();
    if mode & 0o022 != 0 {
        return Err(CliError::Input(format!(
            "--state-dir {}: group or others may write to it (mode {:o}); use a private directory (chmod 700)",
            dir.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

fn print_environment(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::io("<stdout>", e))
}

fn environment_text(env: &DevEnvironment, json: bool) -> Result<String, CliError> {
    Ok(if json {
        serde_json::to_string(env).map_err(|e| CliError::Input(e.to_string()))? + "\n"
    } else {
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let path = |p: &Path| quote(&p.display().to_string());
        format!(
            "export AZURE_AUTHORITY_HOST={}\nexport AZURE_TENANT_ID={}\nexport AZURE_CLIENT_ID={}\nexport AZURE_FEDERATED_TOKEN_FILE={}\nexport KEYWAY_VAULT_URL={}\nexport KEYWAY_ARM_ENDPOINT={}\nexport SSL_CERT_FILE={}\nexport REQUESTS_CA_BUNDLE={}\nexport KUBECONFIG={}\n# issuer: {}\n# to upload secrets, use the Secrets Officer identity:\n#   AZURE_CLIENT_ID={} AZURE_FEDERATED_TOKEN_FILE={}\n# ARM (cluster plan --apply): --subscription {} --resource-group {} --identity {} --keyvault {}\n",
            quote(&env.authority_host),
            quote(&env.tenant_id),
            quote(&env.client_id),
            path(&env.federated_token_file),
            quote(&env.vault_url),
            quote(&env.arm_endpoint),
            path(&env.ca_file),
            path(&env.ca_file),
            path(&env.kubeconfig),
            env.issuer,
            env.officer.client_id,
            env.officer.federated_token_file.display(),
            env.arm_subscription,
            env.arm_resource_group,
            env.identity_name,
            VAULT_NAME,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_flags_parse() {
        let f = parse_fault("--fail", "keyvault:GetSecret:503:3").unwrap();
        assert_eq!(
            (f.status, f.count, f.operation.as_deref()),
            (Some(503), Some(3), Some("GetSecret"))
        );
        assert_eq!(parse_fault("--drop", "entra:*").unwrap().drop, Some(1));
        assert_eq!(
            parse_fault("--latency", "issuer:Jwks:250")
                .unwrap()
                .latency_ms,
            Some(250)
        );
        assert!(
            parse_fault("--fail", "vault:GetSecret:503")
                .unwrap_err()
                .contains("unknown service")
        );
        assert!(parse_fault("--fail", "keyvault:GetSecret").is_err());
        assert!(
            parse_fault("--latency", "keyvault:*:soon")
                .unwrap_err()
                .contains("not a number")
        );
    }
}
