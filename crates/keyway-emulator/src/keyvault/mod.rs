//! Azure Key Vault's secrets REST API (api-version 2025-07-01; the older versions are accepted),
//! authorised as the real service does: a bearer challenge before anything else, tokens from
//! the emulated Entra verified for real, per-identity RBAC roles, and per-vault throttling.
//!
//! By concern: `routes` takes a request through the checks to the operation, `op` names what a
//! request asks for, `auth` checks the token and the caller's roles, `throttle` the budget,
//! `paging` pages lists, `store` holds secrets and keys and `wire` renders them; `state` is one
//! vault's state and `vault` the [`Vault`] handle tests and programs seed it through.

mod auth;
mod op;
mod paging;
mod routes;
mod state;
mod store;
mod throttle;
mod vault;
mod wire;

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use crate::counters::Service;
use crate::server::ServiceSpec;
use crate::state::Shared;
pub use auth::Role;
use op::Op;
pub(crate) use state::VaultState;
pub(crate) use store::{Changes, NewVersion};
pub use throttle::ThrottleLimits;
pub use vault::{SecretSpec, Vault};

/// The resource (token audience) of Azure Key Vault.
pub const KEY_VAULT_RESOURCE: &str = "https://vault.azure.net";

/// The api-versions the real service accepts.
pub const API_VERSIONS: &[&str] = &[
    "2016-10-01",
    "7.0",
    "7.1",
    "7.2",
    "7.3",
    "7.4",
    "7.5",
    "7.6",
    "2025-07-01",
    "2026-04-01",
];

fn operation(method: &Method, path: &str) -> &'static str {
    Op::parse(method, path).name()
}

fn fault_response(status: u16, retry_after: Option<u32>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = match status.as_u16() {
        429 => "Throttled",
        503 => "ServiceUnavailable",
        500 => "InternalServerError",
        _ => "InjectedFault",
    };
    let response = wire::error(status, code, "Injected fault.", None);
    match retry_after {
        Some(seconds) => wire::with_retry_after(response, seconds),
        None => response,
    }
}

/// The service as a listener serves it: its routes, the operation names it counts and faults
/// under, and its answer to an injected fault.
pub(crate) fn service(shared: Arc<Shared>, vault: Arc<VaultState>) -> ServiceSpec {
    ServiceSpec {
        service: Service::KeyVault,
        router: Router::new()
            .fallback(routes::handle)
            .with_state((shared, vault)),
        operation,
        fault_response,
    }
}
