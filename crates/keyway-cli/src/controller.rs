//! `keyway controller`: the SecretSync controller as an in-cluster process — reconciles
//! SecretSyncs, optionally only while holding a Lease, and serves `/metrics`, `/healthz` and
//! `/readyz`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use keyway_sync::controller::{Controller, ControllerOptions, LeaderElection, LeaseTiming};

use crate::error::CliError;

/// `keyway controller` arguments.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("scope")
        .required(true)
        .args(["namespaces", "all_namespaces"])
))]
pub struct ControllerArgs {
    /// Namespaces to watch, comma-separated (or --all-namespaces).
    #[arg(long, value_delimiter = ',')]
    namespaces: Vec<String>,
    /// Watch every namespace.
    #[arg(long)]
    all_namespaces: bool,
    /// Only SecretSyncs matching this label selector.
    #[arg(long)]
    selector: Option<String>,
    /// Time between polls of each vault (e.g. 120s, 60m, 1h).
    #[arg(long, default_value = "3600s", value_parser = crate::duration::parse)]
    poll_interval: Duration,
    /// Random spread of each vault's poll, in percent of the interval.
    #[arg(long, default_value = "10%", value_parser = parse_percent)]
    jitter: f64,
    /// Run only while holding the coordination.k8s.io Lease `keyway-controller`.
    #[arg(long)]
    leader_elect: bool,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else `default`).
    #[arg(long)]
    lease_namespace: Option<String>,
    /// Serve Prometheus metrics here (`:9090` = all interfaces).
    #[arg(long, default_value = ":9090")]
    metrics_addr: String,
    /// Serve /healthz and /readyz here.
    #[arg(long, default_value = ":8080")]
    health_addr: String,
    /// Requests per 10 seconds to one vault, across all identities (Key Vault allows 4,000).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    requests_per_10s: u32,
    /// A vault's URL when it is not `https://<name>.vault.azure.net` (private endpoint,
    /// emulator): `NAME=URL`, repeatable.
    #[arg(long = "vault-url", value_parser = parse_vault_url)]
    vault_urls: Vec<(String, String)>,
    /// Secret types SecretSyncs may write, comma-separated: narrower than the default, which is
    /// every type keyway writes (Opaque, kubernetes.io/tls, kubernetes.io/dockerconfigjson,
    /// kubernetes.io/basic-auth, kubernetes.io/ssh-auth). A SecretSync asking for another type is
    /// refused naming spec.secretObject.type, before anything is written.
    #[arg(long, value_delimiter = ',', value_parser = parse_secret_type)]
    allowed_secret_types: Vec<String>,
}

/// A type from the library's allow-list: a type outside it (a service-account token) cannot be
/// allowed from the command line. Spaces around it are not part of it (`Opaque, kubernetes.io/tls`
/// as a person types a list).
fn parse_secret_type(s: &str) -> Result<String, String> {
    let s = s.trim();
    let allowed = &keyway_sync::model::secret_sync::ALLOWED_SECRET_TYPES;
    if allowed.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a Secret type keyway writes; choose from {}",
            allowed.join(", ")
        ))
    }
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let number = s.trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p / 100.0),
        _ => Err(format!("{s:?} is not a percentage from 0% to 100%")),
    }
}

fn parse_vault_url(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, url)) if !name.is_empty() && url.starts_with("https://") => Ok((
            name.to_ascii_lowercase(),
            url.trim_end_matches('/').to_string(),
        )),
        _ => Err(format!("{s:?} is not NAME=https://URL")),
    }
}

fn parse_addr(flag: &str, addr: &str) -> Result<SocketAddr, CliError> {
    let full = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_string()
    };
    full.parse()
        .map_err(|_| CliError::Input(format!("--{flag} {addr:?} is not HOST:PORT or :PORT")))
}

/// Serves `/metrics`, or `/healthz` and `/readyz`, on `addr`.
async fn serve(addr: SocketAddr, router: axum::Router) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::Input(format!("cannot listen on {addr}: {e}")))?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "serving {addr}");
        }
    });
    Ok(())
}

/// How long `/readyz` reuses the API server's last answer: a storm of probes (many replicas,
/// a misconfigured period, anyone who can reach the port) costs the API server at most one
/// request per this interval.
const READY_FOR: Duration = Duration::from_secs(5);

/// `/readyz`: ready while the API server answers (a leader can reconcile, a standby can take
/// over), asked at most once per [`READY_FOR`]; concurrent probes wait for the one request in
/// flight instead of sending their own.
struct Readiness {
    client: kube::Client,
    last: tokio::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

impl Readiness {
    fn new(client: kube::Client) -> Readiness {
        Readiness {
            client,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether the API server answered (within 2 s) at the last check, checking again when
    /// that answer is older than [`READY_FOR`].
    async fn check(&self) -> bool {
        let mut last = self.last.lock().await;
        if let Some((at, ready)) = *last
            && at.elapsed() < READY_FOR
        {
            return ready;
        }
        let answered =
            tokio::time::timeout(Duration::from_secs(2), self.client.apiserver_version()).await;
        let ready = matches!(answered, Ok(Ok(_)));
        *last = Some((std::time::Instant::now(), ready));
        ready
    }
}

/// Runs the controller until SIGINT or SIGTERM.
pub async fn run(args: ControllerArgs) -> Result<ExitCode, CliError> {
    use axum::routing::get;
    let level = match std::env::var("KEYWAY_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("warn") => tracing::Level::WARN,
        _ => tracing::Level::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .try_init();
    for namespace in &args.namespaces {
        keyway_cluster::names::check_namespace(keyway_cluster::Field::Namespace, namespace)
            .map_err(|e| CliError::Input(format!("--namespaces: {e}")))?;
    }
    let client = crate::azure::default_kube_client().await?;
    keyway_sync::require_crds(&client).await?;
    let allowed_secret_types = if args.allowed_secret_types.is_empty() {
        ControllerOptions::default().allowed_secret_types
    } else {
        args.allowed_secret_types.clone()
    };
    let options = ControllerOptions {
        namespaces: if args.all_namespaces {
            Vec::new()
        } else {
            args.namespaces.clone()
        },
        selector: args.selector.clone(),
        poll_interval: args.poll_interval,
        jitter: args.jitter,
        requests_per_10s: args.requests_per_10s,
        authority_host: std::env::var("AZURE_AUTHORITY_HOST").ok(),
        client_options: keyway_identity::client_options()?,
        verify_challenge_resource: !args
            .vault_urls
            .iter()
            .any(|(_, url)| crate::azure::is_loopback(url)),
        vault_urls: args.vault_urls.iter().cloned().collect::<BTreeMap<_, _>>(),
        reporter: "keyway-controller".into(),
        allowed_secret_types: allowed_secret_types.clone(),
        ..ControllerOptions::default()
    };
    let controller = Controller::new(client.clone(), options);
    let readiness = Arc::new(Readiness::new(client.clone()));
    let metrics = controller.metrics();
    serve(
        parse_addr("metrics-addr", &args.metrics_addr)?,
        axum::Router::new().route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [("content-type", "text/plain; version=0.0.4")],
                        metrics.render(),
                    )
                }
            }),
        ),
    )
    .await?;
    serve(
        parse_addr("health-addr", &args.health_addr)?,
        axum::Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route(
                "/readyz",
                get(move || {
                    let readiness = readiness.clone();
                    async move {
                        if readiness.check().await {
                            (axum::http::StatusCode::OK, "ok")
                        } else {
                            (
                                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                                "the Kubernetes API server does not answer",
                            )
                        }
                    }
                }),
            ),
    )
    .await?;
    eprintln!(
        "keyway controller: watching {}, polling every {}s, allowed Secret types: {}",
        if args.all_namespaces {
            "all namespaces".to_string()
        } else {
            args.namespaces.join(",")
        },
        args.poll_interval.as_secs(),
        allowed_secret_types.join(", ")
    );
    if args.leader_elect {
        let namespace = args
            .lease_namespace
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".into());
        let identity =
            std::env::var("POD_NAME").unwrap_or_else(|_| format!("keyway-{}", std::process::id()));
        let election = Arc::new(LeaderElection::new(
            client,
            &namespace,
            "keyway-controller",
            &identity,
            LeaseTiming::default(),
        ));
        controller
            .run_as_leader(&election, crate::signal::shutdown())
            .await;
    } else {
        controller.run(crate::signal::shutdown()).await;
    }
    Ok(ExitCode::SUCCESS)
}
