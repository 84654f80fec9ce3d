//! The emulator's own control endpoints, served on every listener beside the service's routes:
//! `GET /_emulator/requests` (the request counters) and `POST /_emulator/faults` (fault
//! injection and clock skew, as a [`FaultRequest`]), so a program in another language drives
//! the emulator the way a Rust test drives [`crate::Emulator`].

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::json;

use crate::counters::Service;
use crate::error::{EmulatorError, Result};
use crate::state::Shared;

/// The emulator's own endpoints, on every listener: counters and fault injection.
pub(crate) fn routes(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/_emulator/requests", axum::routing::get(requests_endpoint))
        .route("/_emulator/faults", axum::routing::post(faults_endpoint))
        .with_state(shared)
}

/// `GET /_emulator/requests` on every listener: the counters as
/// `{"requests": [{"service", "operation", "status", "count"}]}`.
async fn requests_endpoint(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!({ "requests": shared.counters.snapshot() }))
}

/// A fault to inject, as `POST <any listener>/_emulator/faults` takes it (JSON). Every field is
/// optional; each one given is applied.
///
/// `{"service":"keyvault","operation":"GetSecret","status":503,"count":2}` fails the next two
/// `GetSecret` calls; `{"service":"keyvault","drop":1}` drops the next connection;
/// `{"service":"entra","latency_ms":200}` slows Entra down; `{"issuer_unreachable":true}`,
/// `{"clock_skew_seconds":600}`, `{"clear":true}` do what they say.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct FaultRequest {
    /// Remove every fault first.
    #[serde(default)]
    pub clear: bool,
    /// The service the rule applies to.
    pub service: Option<Service>,
    /// The operation (all operations of the service when absent).
    pub operation: Option<String>,
    /// Answer with this status...
    pub status: Option<u16>,
    /// ...this many times (default 1).
    pub count: Option<u32>,
    /// `Retry-After` seconds for the failures (default 1 for 429 and 503).
    pub retry_after: Option<u32>,
    /// Drop this many connections.
    pub drop: Option<u32>,
    /// Delay every answer by this many milliseconds (0 removes it).
    pub latency_ms: Option<u64>,
    /// Make the issuer unreachable, or reachable again.
    pub issuer_unreachable: Option<bool>,
    /// Skew the emulated clock by this many seconds.
    pub clock_skew_seconds: Option<i64>,
}

/// Applies `request` to the fault injector and the clock.
pub(crate) fn apply_fault(shared: &Shared, request: &FaultRequest) -> Result<()> {
    let faults = &shared.faults;
    if request.clear {
        faults.clear();
        shared.clock.set_skew(time::Duration::ZERO);
    }
    let needs_service =
        request.status.is_some() || request.drop.is_some() || request.latency_ms.is_some();
    if needs_service && request.service.is_none() {
        return Err(EmulatorError::Invalid(
            "a status, drop or latency fault needs a service".into(),
        ));
    }
    let operation = request.operation.as_deref().filter(|o| *o != "*");
    if let (Some(service), Some(status)) = (request.service, request.status) {
        let retry_after = request
            .retry_after
            .or(matches!(status, 429 | 503).then_some(1));
        faults.fail_next_with_retry_after(
            service,
            operation,
            status,
            request.count.unwrap_or(1),
            retry_after,
        );
    }
    if let (Some(service), Some(count)) = (request.service, request.drop) {
        faults.drop_next(service, operation, count);
    }
    if let (Some(service), Some(ms)) = (request.service, request.latency_ms) {
        faults.set_latency(service, operation, Duration::from_millis(ms));
    }
    if let Some(unreachable) = request.issuer_unreachable {
        faults.set_issuer_unreachable(unreachable);
    }
    if let Some(seconds) = request.clock_skew_seconds {
        shared.clock.set_skew(time::Duration::seconds(seconds));
    }
    Ok(())
}

/// `POST /_emulator/faults` on every listener: applies a [`FaultRequest`].
async fn faults_endpoint(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<FaultRequest>,
) -> (axum::http::StatusCode, Json<serde_json::Value>) {
    match apply_fault(&shared, &request) {
        Ok(()) => (axum::http::StatusCode::OK, Json(json!({ "applied": true }))),
        Err(e) => (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({ "error": e.to_string() })),
        ),
    }
}
