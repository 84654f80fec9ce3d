//! `keyway secrets`: the instance's synced secrets — a Key Vault secret synced to the edge
//! under a synced-secret name through the instance's default SecretProviderClass and one
//! SecretSync — added, listed and removed on keyway-stores. A value comes from a file or
//! standard input, never from an argument, and is never printed.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};
use keyway_stores::{RemoveOptions, SecretAdd, SecretValue};

use crate::certs::{self, RemoveFlags, TargetArgs};
use crate::error::CliError;
use crate::input;
use crate::output::{out, outln};

/// `keyway secrets add NAME`.
#[derive(Debug, Args)]
// The group is not required in clap: a missing source is said by `add`, after a stray value
// on the command line is refused (without echoing it).
#[command(group(ArgGroup::new("value").args(["from_file", "from_stdin", "existing"])))]
pub struct AddArgs {
    /// The Key Vault secret's name.
    pub name: String,
    /// Read the value from this file.
    #[arg(long)]
    pub from_file: Option<PathBuf>,
    /// Read the value from standard input: a pipe is read to its end, byte for byte; on a
    /// terminal the value is asked for without echo ("Value for NAME: "), twice, and the two
    /// must match (Enter's newline is not part of it).
    #[arg(long)]
    pub from_stdin: bool,
    /// Sync the vault's existing secret NAME as it is.
    #[arg(long)]
    pub existing: bool,
    /// The synced secret's name: the SecretSync and the Kubernetes Secret (default: NAME in
    /// lower case).
    #[arg(long)]
    pub synced_name: Option<String>,
    /// The key in the Kubernetes Secret (default: NAME).
    #[arg(long)]
    pub key: Option<String>,
    /// Write a new version when the secret holds another value, instead of refusing.
    #[arg(long)]
    pub overwrite_secret: bool,
    /// Print the plan only; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub target: TargetArgs,
    /// A value given as an argument: refused without being echoed (clap's own error would
    /// print it).
    #[arg(hide = true)]
    pub stray_value: Vec<String>,
}

impl AddArgs {
    /// Refuses a value on the command line, and a missing value source, without echoing
    /// anything the user typed.
    fn check_value_source(&self) -> Result<(), CliError> {
        if !self.stray_value.is_empty() {
            return Err(CliError::Input(
                "a secret value is never taken from the command line (it would stay in the \
                 shell history and the process list): use --from-stdin or --from-file"
                    .into(),
            ));
        }
        if self.from_file.is_none() && !self.from_stdin && !self.existing {
            return Err(CliError::Input(
                "say where the value comes from: --from-file FILE, --from-stdin (a pipe, or \
                 typed at a prompt on a terminal), or --existing to sync the vault's secret as \
                 it is"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// `keyway secrets list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// `keyway secrets remove NAME`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The synced secret's name (its SecretSync).
    pub synced_name: String,
    #[command(flatten)]
    pub flags: RemoveFlags,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// The `secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Create (or pick) a Key Vault secret and sync it to the edge.
    Add(AddArgs),
    /// Each synced secret: its Key Vault secret, version, keys and sync state (never a value).
    List(ListArgs),
    /// Stop syncing a secret: its SecretSync goes (and with --include-secrets the Key Vault
    /// secret).
    Remove(RemoveArgs),
}

/// Runs one `secrets` subcommand.
pub async fn run(command: SecretsCommand) -> Result<ExitCode, CliError> {
    match command {
        SecretsCommand::Add(args) => add(args).await,
        SecretsCommand::List(args) => {
            let stores = certs::open(&args.target).await?;
            Ok(certs::print_listings(
                &stores.list_secrets().await?,
                args.json,
            ))
        }
        SecretsCommand::Remove(args) => remove(args).await,
    }
}

async fn add(args: AddArgs) -> Result<ExitCode, CliError> {
    args.check_value_source()?;
    // The value first: a missing file is an input error before anything is asked of a service.
    // Read no further than a value Key Vault could store (an endless file is refused).
    let value = if let Some(path) = &args.from_file {
        SecretValue::Bytes(input::read_limited(
            &path.display().to_string(),
            input::MAX_SECRET_INPUT_BYTES,
        )?)
    } else if args.from_stdin && std::io::stdin().is_terminal() {
        typed(&args.name).await?
    } else if args.from_stdin {
        SecretValue::Bytes(input::read_limited("-", input::MAX_SECRET_INPUT_BYTES)?)
    } else {
        SecretValue::Existing
    };
    if matches!(&value, SecretValue::Bytes(b) if b.is_empty()) {
        return Err(CliError::Input(
            "the value is empty: give a file or standard input that holds it".into(),
        ));
    }
    let stores = certs::open(&args.target).await?;
    let plan = stores
        .plan_secret(&SecretAdd {
            vault_secret: args.name.clone(),
            synced_name: args.synced_name.clone(),
            key: args.key.clone(),
            value,
            overwrite_secret: args.overwrite_secret,
        })
        .await?;
    certs::apply(&stores, plan, args.dry_run).await
}

/// The value typed on the terminal: asked twice without echo, as `read -s` does.
#[cfg(unix)]
async fn typed(name: &str) -> Result<SecretValue, CliError> {
    Ok(SecretValue::Bytes(
        crate::prompt::read_value_twice(name).await?,
    ))
}

/// Where the terminal cannot be driven, the value must come from a pipe.
#[cfg(not(unix))]
async fn typed(_name: &str) -> Result<SecretValue, CliError> {
    Err(CliError::Input(
        "--from-stdin on a terminal needs a Unix terminal here: pipe the value, e.g. \
         `printf %s \"$VALUE\" | keyway secrets add NAME --from-stdin`, or use --from-file"
            .into(),
    ))
}

async fn remove(args: RemoveArgs) -> Result<ExitCode, CliError> {
    certs::check_confirmable(&args.flags)?;
    let stores = certs::open(&args.target).await?;
    let options = RemoveOptions {
        include_secrets: args.flags.include_secrets,
        with_crl: false,
        dry_run: true,
    };
    let preview = stores.remove_secret(&args.synced_name, &options).await?;
    if args.flags.dry_run {
        out!("{preview}");
        outln!("dry run: nothing changed");
        return Ok(ExitCode::SUCCESS);
    }
    if !certs::confirm(&preview, &args.flags)? {
        outln!("not removed");
        return Ok(ExitCode::from(1));
    }
    let done = stores
        .remove_secret(
            &args.synced_name,
            &RemoveOptions {
                dry_run: false,
                ..options
            },
        )
        .await?;
    certs::print_done(&done);
    Ok(ExitCode::SUCCESS)
}
