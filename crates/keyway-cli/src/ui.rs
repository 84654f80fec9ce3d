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
    /// The address to serve on (IP:PORT, or localhost:PORT). Plain HTTP is served on a
    /// loopback address only; any other address needs --tls-cert and --tls-key.
    #[arg(long, default_value = "127.0.0.1:8787", value_parser = parse_bind)]
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

/// `IP:PORT`, or `localhost:PORT` (127.0.0.1).
fn parse_bind(text: &str) -> Result<SocketAddr, String> {
    if let Some(port) = text.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{port:?} is not a port number"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        format!("{text:?} is not IP:PORT (e.g. 127.0.0.1:8787, [::1]:8787 or localhost:8787)")
    })
}

/// Runs `keyway ui`.
pub async fn run(args: UiArgs) -> Result<ExitCode, CliError> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let read = |p: &PathBuf| {
                crate::input::read_limited(
                    &p.display().to_string(),
                    keyway_stores::MAX_INPUT_FILE_BYTES,
                )
            };
            let config = keyway_ui::tls_config(&read(cert)?, &read(key)?).map_err(|e| {
                // Say which file: the library knows the certificate and the key, not the flags.
                let file = match &e {
                    keyway_ui::ServeError::Tls { what: "key", .. } => {
                        format!("--tls-key {}", key.display())
                    }
                    keyway_ui::ServeError::Tls {
                        what: "certificate",
                        ..
                    } => format!("--tls-cert {}", cert.display()),
                    _ => format!(
                        "--tls-cert {} and --tls-key {}",
                        cert.display(),
                        key.display()
                    ),
                };
                CliError::Input(format!("{file}: {e}"))
            })?;
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
        .map_err(|e| CliError::Input(e.to_string()))?;
    outln!("keyway ui: open {}", server.url());
    if args.bind.ip().is_unspecified() {
        outln!(
            "(listening on every address: open it with this host's name, the one the \
             certificate names, in place of {})",
            args.bind.ip()
        );
    }
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

/// Opens `url` in the desktop's browser; says so when there is none (the URL is printed
/// above; the opener's own messages, which would repeat it, are not shown).
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let opened = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !opened.is_ok_and(|s| s.success()) {
        eprintln!("--open: no browser could be started ({opener}); open the URL above yourself");
    }
}
