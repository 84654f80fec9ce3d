//! `keyway identity ...`: check a workload identity setup end to end, publish issuer documents,
//! and print federated identity credentials.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use keyway_identity::{
    DiagnoseOptions, Diagnosis, FederatedIdentityCredential, Jwks, OpenIdConfiguration,
    TOKEN_EXCHANGE_AUDIENCE, WorkloadIdentityConfig,
};

use crate::error::CliError;
use crate::input;
use crate::output::{out, outln};
use crate::report::{self, Report};

/// The `identity` subcommands.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Check the workload identity setup: configuration, the token's claims, the federated
    /// credential match, the issuer's documents, and the exchange at Entra ID.
    ///
    /// Exit 0 all good, 1 a problem found, 2 configuration missing or malformed, 3 a service
    /// unreachable. The token is never printed.
    Check {
        /// The service-account token file.
        #[arg(long, env = "AZURE_FEDERATED_TOKEN_FILE")]
        token_file: Option<PathBuf>,
        /// The identity's client id.
        #[arg(long, env = "AZURE_CLIENT_ID")]
        client_id: Option<String>,
        /// The tenant id.
        #[arg(long, env = "AZURE_TENANT_ID")]
        tenant_id: Option<String>,
        /// The Entra authority host.
        #[arg(long, env = "AZURE_AUTHORITY_HOST")]
        authority_host: Option<String>,
        /// The scope to ask a token for.
        #[arg(long, default_value = keyway_identity::DEFAULT_DIAGNOSE_SCOPE)]
        scope: String,
        /// The issuer the federated identity credential has.
        #[arg(long)]
        expect_issuer: Option<String>,
        /// The subject the federated identity credential has.
        #[arg(long)]
        expect_subject: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write the documents a self-hosted issuer publishes: `jwks` from the service-account
    /// signing public keys, and `openid-configuration` when the issuer URL is given.
    Jwks {
        /// A PEM public key (or certificate); repeat for several (rotation).
        #[arg(long = "public-key", required = true)]
        public_keys: Vec<PathBuf>,
        /// The issuer URL, exactly as the API server's --service-account-issuer.
        #[arg(long)]
        issuer: Option<String>,
        /// The output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the federated identity credential a service account needs, as an ARM request body
    /// and as the equivalent az command.
    Fic {
        /// The cluster's OIDC issuer URL, exactly.
        #[arg(long)]
        issuer: String,
        /// The service account's namespace.
        #[arg(long)]
        namespace: String,
        /// The service account.
        #[arg(long)]
        service_account: String,
        /// The credential's name (default `<namespace>-<service account>`).
        #[arg(long)]
        name: Option<String>,
        /// The managed identity's name, for the az command.
        #[arg(long, default_value = "$IDENTITY_NAME")]
        identity_name: String,
        /// The resource group, for the az command.
        #[arg(long, default_value = "$RESOURCE_GROUP")]
        resource_group: String,
    },
}

/// Runs one `identity` subcommand.
pub async fn run(command: IdentityCommand) -> Result<ExitCode, CliError> {
    match command {
        IdentityCommand::Check {
            token_file,
            client_id,
            tenant_id,
            authority_host,
            scope,
            expect_issuer,
            expect_subject,
            json,
        } => {
            let lookup = |name: &str| match name {
                "AZURE_FEDERATED_TOKEN_FILE" => {
                    token_file.as_ref().map(|p| p.display().to_string())
                }
                "AZURE_CLIENT_ID" => client_id.clone(),
                "AZURE_TENANT_ID" => tenant_id.clone(),
                "AZURE_AUTHORITY_HOST" => authority_host.clone(),
                _ => None,
            };
            let config = WorkloadIdentityConfig::from_lookup(lookup)?;
            let mut options = DiagnoseOptions::new(&scope)?;
            options.expect_issuer = expect_issuer;
            options.expect_subject = expect_subject;
            options.credential = crate::azure::credential_options()?;
            let diagnosis = keyway_identity::diagnose(&config, &options).await?;
            report::print(&diagnosis, json);
            Ok(exit_code(&diagnosis))
        }
        IdentityCommand::Jwks {
            public_keys,
            issuer,
            out,
        } => {
            let mut pems = Vec::new();
            for path in &public_keys {
                pems.push(input::read(&path.display().to_string())?);
            }
            let jwks = Jwks::from_public_keys(&pems)?;
            std::fs::create_dir_all(&out)
                .map_err(|e| CliError::io(out.display().to_string(), e))?;
            let written = write_json(&out, "jwks", &jwks)?;
            eprintln!("wrote {} ({} key(s))", written.display(), jwks.keys.len());
            if let Some(issuer) = issuer {
                let mut configuration = OpenIdConfiguration::for_issuer(&issuer);
                configuration.id_token_signing_alg_values_supported = algorithms(&jwks);
                let written = write_json(&out, "openid-configuration", &configuration)?;
                eprintln!(
                    "wrote {}; serve it at {}/.well-known/openid-configuration and the JWKS at {}",
                    written.display(),
                    issuer.trim_end_matches('/'),
                    configuration.jwks_uri
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        IdentityCommand::Fic {
            issuer,
            namespace,
            service_account,
            name,
            identity_name,
            resource_group,
        } => {
            // Entra ID fetches an issuer over https only, never plain http, not even locally.
            if keyway_identity::check_https(&issuer, false).is_err() {
                return Err(CliError::Input(format!(
                    "--issuer {issuer:?} must be an https URL, exactly as the cluster's --service-account-issuer"
                )));
            }
            let mut fic = FederatedIdentityCredential::for_service_account(
                &issuer,
                &namespace,
                &service_account,
            );
            if let Some(name) = name {
                fic.name = name;
            }
            let body = serde_json::json!({
                "properties": { "issuer": fic.issuer, "subject": fic.subject, "audiences": fic.audiences }
            });
            outln!(
                "# ARM: PUT .../userAssignedIdentities/{identity_name}/federatedIdentityCredentials/{}?api-version=2023-01-31",
                fic.name
            );
            out!("{}", report::pretty_json(&body));
            outln!("\n# az CLI:");
            outln!(
                "az identity federated-credential create --name {} --identity-name {identity_name} --resource-group {resource_group} --issuer {} --subject {} --audiences {}",
                shell(&fic.name),
                shell(&fic.issuer),
                shell(&fic.subject),
                TOKEN_EXCHANGE_AUDIENCE
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Quotes a value for a POSIX shell when it needs it.
/// Writes `value` as pretty JSON to `dir`/`name` (replacing it whole) and returns that path.
fn write_json(
    dir: &std::path::Path,
    name: &str,
    value: &impl serde::Serialize,
) -> Result<PathBuf, CliError> {
    let path = dir.join(name);
    input::write_atomic(&path, report::pretty_json(value).as_bytes(), false)?;
    Ok(path)
}

fn shell(value: &str) -> String {
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./:".contains(&b))
    {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

fn algorithms(jwks: &Jwks) -> Vec<String> {
    let mut algs: Vec<String> = jwks.keys.iter().filter_map(|k| k.alg.clone()).collect();
    algs.sort();
    algs.dedup();
    algs
}

/// The CLI's exit code for a diagnosis: 3 a service unreachable (the diagnosis is incomplete),
/// 1 a problem found, 0 workload identity works.
fn exit_code(diagnosis: &Diagnosis) -> ExitCode {
    if diagnosis.unreachable() {
        ExitCode::from(3)
    } else if diagnosis.works() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

impl Report for Diagnosis {
    fn human(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let mark = |ok: bool| if ok { "ok " } else { "!! " };
        let c = &self.config;
        let _ = writeln!(
            out,
            "config      client {} in tenant {} at {}",
            c.client_id, c.tenant_id, c.authority_host
        );
        let _ = writeln!(out, "            token file {}", c.token_file.display());
        if let Some(a) = &self.assertion {
            let left = a
                .expires_in_seconds
                .map_or("no exp claim".to_string(), |s| {
                    if s > 0 {
                        format!("expires in {s} s")
                    } else {
                        format!("expired {} s ago", -s)
                    }
                });
            let _ = writeln!(out, "assertion   issuer   {}", a.issuer);
            let _ = writeln!(out, "            subject  {}", a.subject);
            let _ = writeln!(
                out,
                "            audience {}  ({left})",
                a.audience.join(", ")
            );
        }
        if let Some(m) = &self.fic_match {
            if m.matches() {
                let _ = writeln!(
                    out,
                    "{}fic       the token matches the issuer and subject you expect (Entra's own record is checked by the exchange)",
                    mark(true)
                );
            }
            if !self.exchange.ok {
                for mismatch in &m.mismatches {
                    let _ = writeln!(out, "{}fic       {mismatch}", mark(false));
                }
            }
        }
        if let Some(d) = &self.issuer_discovery {
            let ok = d.reachable && d.signature_valid;
            let what = match (&d.error, ok) {
                (_, true) => {
                    "discovery document and JWKS reachable; the token's signature verifies"
                        .to_string()
                }
                (Some(e), _) => e.clone(),
                (None, _) => "not checked".into(),
            };
            let _ = writeln!(out, "{}issuer    {what}", mark(ok));
        }
        let e = &self.exchange;
        if e.ok {
            let _ = writeln!(
                out,
                "{}exchange  token for {} (expires in {} s)",
                mark(true),
                c.scope,
                e.expires_in_seconds.unwrap_or_default()
            );
        } else {
            let code = e.aadsts.map(|c| format!("AADSTS{c}: ")).unwrap_or_default();
            let _ = writeln!(
                out,
                "{}exchange  {code}{}",
                mark(false),
                e.error.clone().unwrap_or_default()
            );
            if let Some(hint) = &e.hint {
                let _ = writeln!(out, "            hint: {hint}");
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "note        {note}");
        }
        if self.problems.is_empty() {
            let _ = writeln!(out, "\nworkload identity works");
        } else {
            let _ = writeln!(out, "\n{} problem(s) found:", self.problems.len());
            for problem in &self.problems {
                let _ = writeln!(out, "  - {problem}");
            }
        }
        out
    }
}
