//! `keyway cluster`: cluster configuration for workload identity — the K3s issuer settings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use keyway_cluster::k3s::{
    DEFAULT_CONFIG_PATH, DEFAULT_MAX_TOKEN_EXPIRATION, IssuerSettings, ensure_issuer, read_config,
};

use crate::error::CliError;

/// `keyway cluster` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Make the K3s config set the service-account issuer and token lifetime (a dry run that
    /// prints a unified diff, unless --write).
    K3sConfig(K3sConfigArgs),
}

/// `keyway cluster k3s-config` arguments.
#[derive(Debug, Args)]
pub struct K3sConfigArgs {
    /// The service-account issuer URL (https), as the connected cluster reports it.
    #[arg(long)]
    issuer: String,
    /// The longest service-account token lifetime (a Go duration: 24h, 1h30m).
    #[arg(long, default_value = DEFAULT_MAX_TOKEN_EXPIRATION)]
    max_token_expiration: String,
    /// The K3s config file (a missing file is an empty config).
    #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
    file: PathBuf,
    /// Write the change (atomically, keeping FILE.keyway.bak).
    #[arg(long)]
    write: bool,
}

/// Runs a `keyway cluster` subcommand.
pub fn run(command: ClusterCommand) -> Result<ExitCode, CliError> {
    match command {
        ClusterCommand::K3sConfig(args) => k3s_config(args),
    }
}

fn k3s_config(args: K3sConfigArgs) -> Result<ExitCode, CliError> {
    let input = |e: keyway_cluster::ClusterError| CliError::Input(e.to_string());
    let settings = IssuerSettings::new(&args.issuer, &args.max_token_expiration).map_err(input)?;
    let text = read_config(&args.file).map_err(input)?;
    let edit = ensure_issuer(&args.file.display().to_string(), &text, &settings).map_err(input)?;
    if !edit.changed() {
        println!(
            "{} already sets the issuer and token lifetime; nothing to do",
            args.file.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", edit.unified_diff());
    if args.write {
        let backup = edit.write(&args.file).map_err(input)?;
        if let Some(backup) = backup {
            println!("previous file kept as {}", backup.display());
        }
        println!(
            "{} written; restart K3s for it to take effect: sudo systemctl restart k3s",
            args.file.display()
        );
    } else {
        println!(
            "dry run: rerun with --write to apply, then restart K3s (sudo systemctl restart k3s)"
        );
    }
    Ok(ExitCode::SUCCESS)
}
