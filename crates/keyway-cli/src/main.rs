//! `keyway`: the command line of keyway. Argument parsing and printing only; every command is
//! a call into the keyway libraries.

mod azure;
mod cert;
mod certs;
mod cluster;
mod controller;
#[cfg(feature = "dev")]
mod demo;
#[cfg(feature = "dev")]
mod dev;
mod duration;
mod error;
mod identity;
mod input;
mod output;
#[cfg(unix)]
mod prompt;
mod report;
mod secret;
mod secrets;
mod signal;
mod sync;
mod ui;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Azure Key Vault secrets and certificates for Kubernetes at the edge.
#[derive(Debug, Parser)]
#[command(name = "keyway", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Certificates stored as Key Vault secrets: inspect, encode for upload, convert.
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// An OPC UA connector's certificate stores: trust list, issuer list, client certificate.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Cluster configuration for workload identity: the K3s issuer settings, readiness checks.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// The SecretSync controller: sync SecretSyncs into Secrets, in-cluster, highly available.
    Controller(controller::ControllerArgs),
    /// Run the main job offline on embedded defaults and show what keyway does.
    #[cfg(feature = "dev")]
    Demo(demo::DemoArgs),
    /// Run the emulated Entra ID, OIDC issuer and Key Vault locally, set up for workload identity.
    #[cfg(feature = "dev")]
    Dev(dev::DevArgs),
    /// Workload identity federation: check a setup, publish issuer documents, print FICs.
    #[command(subcommand)]
    Identity(identity::IdentityCommand),
    /// Sync a SecretProviderClass (and SecretSync) from Key Vault into a directory.
    Sync(sync::SyncArgs),
    /// Key Vault secrets: upload a file as az does.
    #[command(subcommand)]
    Secret(secret::SecretCommand),
    /// The instance's synced secrets: add (from a file or standard input), list, remove.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// The certificates and secrets page, served locally: trust list, issuer list, client
    /// certificate and synced secrets, in a browser.
    Ui(ui::UiArgs),
}

/// jemalloc rather than the system's malloc: the controller keeps hundreds of thousands of small
/// objects (its watch stores' strings, its syncers' records) beside the first sync's transient
/// buffers, and glibc's malloc leaves the holes those leave resident. At 5,000 SecretSyncs the
/// controller's peak resident memory is about a fifth lower for the same heap
/// (docs/benchmarks.md, "Fleet scale, fifth pass"); its configuration is in .cargo/config.toml.
/// The `system-allocator` feature leaves it out, for heap profilers that intercept malloc.
#[cfg(all(unix, not(feature = "system-allocator")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cert(command) => cert::run(command),
        Command::Certs(command) => certs::run(command).await,
        Command::Cluster(command) => cluster::run(command).await,
        Command::Controller(args) => controller::run(args).await,
        #[cfg(feature = "dev")]
        Command::Demo(args) => demo::run(args).await,
        #[cfg(feature = "dev")]
        Command::Dev(args) => dev::run(args).await,
        Command::Identity(command) => identity::run(command).await,
        Command::Sync(args) => sync::run(args).await,
        Command::Secret(command) => secret::run(command).await,
        Command::Secrets(command) => secrets::run(command).await,
        Command::Ui(args) => ui::run(args).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            error.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
