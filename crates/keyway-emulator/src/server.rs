//! One HTTPS listener per emulated service: TLS with the emulator's certificate, HTTP/1.1 and
//! HTTP/2, and in front of every request the counters and the fault injector.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::counters::{Counters, Service};
use crate::error::{EmulatorError, Result};
use crate::faults::{Faults, Injected};

/// The operation name a request is counted and faulted under.
pub(crate) type OperationOf = fn(&axum::http::Method, &str) -> &'static str;

/// Paths of the emulator's own endpoints (counters, faults), never counted nor faulted.
pub(crate) const CONTROL_PREFIX: &str = "/_emulator/";

/// The answer a service gives for an injected failure, in that service's error format.
pub(crate) type FaultResponse = fn(u16, Option<u32>) -> Response;

/// What a listener serves.
pub(crate) struct ServiceSpec {
    pub service: Service,
    pub router: Router,
    pub operation: OperationOf,
    pub fault_response: FaultResponse,
}

/// A running listener; stops when dropped or on [`Listener::stop`].
pub(crate) struct Listener {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    reset: watch::Sender<u64>,
    spec: Arc<ServiceSpec>,
    counters: Arc<Counters>,
    faults: Arc<Faults>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &self.addr)
            .field("service", &self.spec.service)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// `https://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        match self.addr {
            SocketAddr::V4(a) => format!("https://{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("https://[{}]:{}", a.ip(), a.port()),
        }
    }

    /// Stops accepting and closes open connections.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Closes every open connection (watches and keep-alive ones) and goes on accepting new
    /// ones: what clients see when the server behind the address restarts.
    pub fn reset_connections(&self) {
        self.reset.send_modify(|n| *n += 1);
    }

    /// Serves one request in process, as the listener would after TLS: counted, faulted and
    /// routed the same way. A connection the fault injector drops answers `None`.
    pub async fn dispatch(&self, request: axum::http::Request<Body>) -> Option<Response> {
        handle(
            request,
            self.spec.clone(),
            self.counters.clone(),
            self.faults.clone(),
        )
        .await
        .ok()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Binds `bind` and serves `spec` over TLS until stopped.
pub(crate) async fn serve(
    bind: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    spec: ServiceSpec,
    counters: Arc<Counters>,
    faults: Arc<Faults>,
) -> Result<Listener> {
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| EmulatorError::Bind {
            addr: bind.to_string(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind {
            addr: bind.to_string(),
            source,
        })?;
    let (stop, mut stopped) = watch::channel(false);
    let (reset, mut resets) = watch::channel(0u64);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let spec = Arc::new(spec);
    let listening = Listener {
        addr,
        stop,
        reset,
        spec: spec.clone(),
        counters: counters.clone(),
        faults: faults.clone(),
    };
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                Ok(()) = resets.changed() => connections.abort_all(),
                accepted = listener.accept() => {
                    let Ok((tcp, _peer)) = accepted else { continue };
                    let _ = tcp.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    let spec = spec.clone();
                    let counters = counters.clone();
                    let faults = faults.clone();
                    connections.spawn(async move {
                        let Ok(stream) = acceptor.accept(tcp).await else { return };
                        let service = hyper::service::service_fn(move |request: axum::http::Request<Incoming>| {
                            handle(request.map(Body::new), spec.clone(), counters.clone(), faults.clone())
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.abort_all();
    });
    Ok(listening)
}

async fn handle(
    request: axum::http::Request<Body>,
    spec: Arc<ServiceSpec>,
    counters: Arc<Counters>,
    faults: Arc<Faults>,
) -> std::result::Result<Response, Dropped> {
    if request.uri().path().starts_with(CONTROL_PREFIX) {
        return Ok(route(&spec.router, request).await);
    }
    let operation = (spec.operation)(request.method(), request.uri().path());
    let (injected, latency) = faults.take(spec.service, operation);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = match injected {
        Some(Injected::Drop) => {
            counters.record(spec.service, operation, 0);
            return Err(Dropped);
        }
        Some(Injected::Fail {
            status,
            retry_after,
        }) => (spec.fault_response)(status, retry_after),
        None => route(&spec.router, request).await,
    };
    counters.record(spec.service, operation, response.status().as_u16());
    Ok(response)
}

async fn route(router: &Router, request: axum::http::Request<Body>) -> Response {
    match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
