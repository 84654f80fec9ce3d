//! `keyway secret set`: upload a file exactly as `az keyvault secret set --encoding` does —
//! the encoded value and the `file-encoding` tag — for machines without the az CLI.

use std::process::ExitCode;

use azure_security_keyvault_secrets::SecretClient;
use clap::Subcommand;
use keyway_cert::Encoding;
use keyway_sync::source::SecretUpload;

use crate::azure;
use crate::error::CliError;
use crate::input;
use crate::output::outln;

/// The `secret` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Upload a file as a secret, encoded and tagged as `az keyvault secret set` does.
    Set {
        /// The vault URL.
        #[arg(long, env = "KEYWAY_VAULT_URL")]
        vault_url: String,
        /// The secret's name.
        #[arg(long)]
        name: String,
        /// The file to upload, or - for standard input.
        #[arg(long)]
        file: String,
        /// How to store the bytes: hex or base64 for binary files (DER, PFX).
        #[arg(long, default_value = "utf-8", value_parser = |s: &str| s.parse::<Encoding>().map_err(|e| e.to_string()))]
        encoding: Encoding,
        /// The content type, e.g. application/x-pem-file or application/pkix-cert.
        #[arg(long)]
        content_type: Option<String>,
    },
}

/// Runs one `secret` subcommand.
pub async fn run(command: SecretCommand) -> Result<ExitCode, CliError> {
    match command {
        SecretCommand::Set {
            vault_url,
            name,
            file,
            encoding,
            content_type,
        } => {
            let bytes = input::read_limited(&file, input::MAX_SECRET_INPUT_BYTES)?;
            // Name, encoding and size are checked before anything is sent.
            let upload = SecretUpload::new(&name, &bytes, encoding, content_type.as_deref())?;
            let client = SecretClient::new(
                &vault_url,
                azure::credential(None, None)?,
                Some(azure::secret_client_options(&vault_url)?),
            )
            .map_err(|e| CliError::Input(format!("--vault-url {vault_url}: {e}")))?;
            let version = upload.send(&client).await?;
            outln!(
                "set {name} version {version} ({encoding}, {} bytes of file)",
                bytes.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Uploads `bytes` as `name` through `client`, as `keyway secret set` does. Returns the new
/// version. (For `keyway demo`, so only with the `dev` feature.)
#[cfg(feature = "dev")]
pub async fn upload(
    client: &SecretClient,
    name: &str,
    bytes: &[u8],
    encoding: Encoding,
    content_type: Option<&str>,
) -> Result<String, CliError> {
    Ok(SecretUpload::new(name, bytes, encoding, content_type)?
        .send(client)
        .await?)
}
