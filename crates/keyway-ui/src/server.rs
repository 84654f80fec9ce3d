//! Serving the page: plain HTTP on a loopback address only; anywhere else HTTPS with the
//! operator's certificate, because the access token and the session cookie must not cross a
//! network in clear text.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

/// Why the page cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A non-loopback address without TLS.
    #[error(
        "{addr} is not a loopback address: serving it over plain HTTP would send the access \
         token and the session cookie across the network in clear text; give a certificate \
         and key (--tls-cert, --tls-key), or bind 127.0.0.1 and reach it through an SSH tunnel"
    )]
    Insecure {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}{}", bind_hint(source))]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The certificate or key is unusable.
    #[error("{what}: {reason}")]
    Tls {
        /// The certificate or the key.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

fn bind_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            " (another program, perhaps another keyway ui, listens there: stop it or choose \
             another port, e.g. --bind 127.0.0.1:8788)"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            " (this host has no such address: bind 127.0.0.1, or one of this host's addresses)"
        }
        std::io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need privileges: choose a port above 1024)"
        }
        _ => "",
    }
}

/// A TLS server configuration from a PEM certificate chain (leaf first) and its PEM private
/// key (PKCS#8, PKCS#1 or SEC1).
pub fn tls_config(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| ServeError::Tls {
            what: "certificate",
            reason: format!("not PEM certificates: {e}"),
        })?;
    if chain.is_empty() {
        return Err(ServeError::Tls {
            what: "certificate",
            reason: "holds no PEM CERTIFICATE block".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| ServeError::Tls {
        what: "key",
        reason: format!("no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| ServeError::Tls {
            what: "certificate and key",
            reason: match e {
                rustls::Error::InconsistentKeys(_) => {
                    "the key is not the certificate's (it belongs to another certificate)".into()
                }
                other => other.to_string(),
            },
        })?;
    Ok(Arc::new(config))
}

/// A bound listener, ready to serve.
pub struct Server {
    pub(crate) listener: TcpListener,
    pub(crate) router: Router,
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    pub(crate) url: String,
    pub(crate) addr: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `addr`; refuses a non-loopback address without `tls`.
    pub(crate) async fn bind(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        router: Router,
        token: &str,
    ) -> Result<Server, ServeError> {
        if tls.is_none() && !addr.ip().is_loopback() {
            return Err(ServeError::Insecure { addr });
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{bound}/?token={token}");
        Ok(Server {
            listener,
            router,
            tls,
            url,
            addr: bound,
        })
    }

    /// The URL to open: it carries the access token, so show it to the operator only.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Some(tls) = self.tls else {
            return axum::serve(self.listener, self.router)
                .with_graceful_shutdown(shutdown)
                .await;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = self.listener.accept() => {
                    let Ok((tcp, _)) = accepted else { continue };
                    let acceptor = acceptor.clone();
                    let service = TowerToHyperService::new(self.router.clone());
                    tokio::spawn(async move {
                        let Ok(stream) = acceptor.accept(tcp).await else { return };
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        }
    }
}
