//! # keyway-ui
//!
//! The certificates and secrets page of keyway, served locally by the operator's own tool
//! (`keyway ui`): an OPC UA connector's **trust list**, **issuer list** and **client
//! certificate**, and the instance's **synced secrets** — listed with their details and sync
//! state, added (the details and the checks' findings shown before anything is written) and
//! deleted from the cluster (the Key Vault secret stays unless asked).
//!
//! The page holds no rule of its own: every check, listing and change is a call into
//! [`keyway_stores::Stores`], the library `keyway certs` and `keyway secrets` use, so the
//! page, the CLI and other tools accept and write exactly the same.
//!
//! ## Security model
//!
//! - **Who:** the holder of the access token in the URL [`Server::url`] prints (random, 256
//!   bits). Opening it starts a session (an `HttpOnly`, `SameSite=Strict` cookie) and drops
//!   the token from the address bar; any other request without a session gets 401.
//! - **Where:** plain HTTP on a loopback address only; any other address needs a certificate
//!   and key ([`tls_config`]) and then carries `Secure` cookies.
//! - **What:** every change is a POST carrying the session's CSRF token (403 without it, and
//!   403 for a POST whose `Origin` or `Sec-Fetch-Site` names another site); a strict
//!   Content-Security-Policy (no script at all, no frames, forms to this origin only); files
//!   at most 64 KiB, parsed in memory, never written to disk.
//! - **Never shown:** a secret value or a private key (an uploaded key is write-only), the
//!   token (not logged, never in a `Referer`: it leaves the address bar at once and
//!   `Referrer-Policy: same-origin`).
//!
//! The README (compiled as a doctest) has a complete example; `keyway ui` is the command.

mod app;
mod error;
mod flash;
mod form;
mod pages;
mod server;
mod session;
mod uploads;

use std::net::SocketAddr;
use std::sync::Arc;

use keyway_stores::Stores;

/// The README's example, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use error::UiError;
pub use server::{ServeError, Server, tls_config};
pub use session::COOKIE;
pub use uploads::MAX_FILE_BYTES;

/// The page's application: its routes over one instance's [`Stores`], and the access token.
pub struct Ui {
    app: Arc<app::App>,
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ui")
            .field("stores", &self.app.stores)
            .finish_non_exhaustive()
    }
}

impl Ui {
    /// The page over `stores`, behind a new random access token, served over HTTP.
    pub fn new(stores: Arc<Stores>) -> Ui {
        Ui::with_scheme(stores, false)
    }

    fn with_scheme(stores: Arc<Stores>, secure: bool) -> Ui {
        let frame = pages::Frame {
            target: format!("namespace {}", stores.config().namespace),
            vault: stores.instance().vault_url.clone(),
        };
        Ui {
            app: Arc::new(app::App {
                stores,
                sessions: session::Sessions::new(),
                uploads: uploads::Uploads::default(),
                flashes: flash::Flashes::default(),
                frame,
                secure,
            }),
        }
    }

    /// The access token (what the tokened URL carries). Never log it.
    pub fn access_token(&self) -> &str {
        self.app.sessions.access_token()
    }

    /// The routes, for serving yourself or for tests (`tower::ServiceExt::oneshot`).
    pub fn router(&self) -> axum::Router {
        app::router(self.app.clone())
    }

    /// Binds `addr`: plain HTTP on a loopback address, HTTPS with `tls` (required anywhere
    /// else).
    pub async fn bind(
        self,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<Server, ServeError> {
        let ui = if tls.is_some() {
            Ui::with_scheme(self.app.stores.clone(), true)
        } else {
            self
        };
        let token = ui.access_token().to_string();
        Server::bind(addr, tls, ui.router(), &token).await
    }
}
