//! `keyway ui`: the certificates and secrets page (keyway-ui) for the instance `--target`
//! names, served locally. Prints one URL carrying the access token; runs until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::certs::{self, TargetArgs};
use crate::error::CliError;
use crate::output::outln;

/// `keyway ui`.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// The address to serve on. Plain HTTP is served on a loopback address only; any other
    /// address needs --tls-cert and --tls-key.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub bind: SocketAddr,
    /// The page's certificate chain (PEM, leaf first): serve HTTPS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Open the page in the default browser (xdg-open or open).
    #[arg(long)]
    pub open: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Runs `keyway ui`.
pub async fn run(args: UiArgs) -> Result<ExitCode, CliError> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let read = |p: &PathBuf| {
                std::fs::read(p).map_err(|e| CliError::io(p.display().to_string(), e))
            };
            let config = keyway_ui::tls_config(&read(cert)?, &read(key)?)
                .map_err(|e| CliError::Input(e.to_string()))?;
            Some(config)
        }
        _ => None,
    };
    // Checked before the cluster and the vault are reached: a refused address costs nothing.
    if tls.is_none() && !args.bind.ip().is_loopback() {
        return Err(CliError::Input(
            keyway_ui::ServeError::Insecure { addr: args.bind }.to_string(),
        ));
    }
    let stores = certs::open(&args.target).await?;
    let server = keyway_ui::Ui::new(Arc::new(stores))
        .bind(args.bind, tls)
        .await
        .map_err(|e| match e {
            keyway_ui::ServeError::Bind { .. } => CliError::Remote(e.to_string()),
            _ => CliError::Input(e.to_string()),
        })?;
    outln!("keyway ui: open {}", server.url());
    outln!("(the URL carries this session's access token; Ctrl-C stops the page)");
    if args.open {
        open_browser(server.url());
    }
    server
        .serve(crate::signal::shutdown())
        .await
        .map_err(|e| CliError::Remote(format!("serving the page: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// Opens `url` in the desktop's browser; says so when there is none (the URL is printed).
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener).arg(url).spawn() {
        eprintln!("--open: cannot start {opener} ({e}); open the URL above yourself");
    }
}
