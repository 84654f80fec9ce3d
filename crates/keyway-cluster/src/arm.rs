//! A small Azure Resource Manager client over the azure_core pipeline (retries, telemetry,
//! bearer tokens from any `TokenCredential`): JSON in, status and JSON out. [`crate::apply`]
//! applies provisioning plans with it; other crates (keyway-stores' ARM target) reach ARM
//! resources through it too, so there is one ARM transport in keyway.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{Context, Method, Pipeline, PipelineSendOptions, Request, Url};
use serde_json::Value;

use crate::apply::ApplyOptions;
use crate::error::{ClusterError, Field, Result};

/// An ARM endpoint reached with a credential. Answers are not checked: the caller reads the
/// status (ARM's error body is `{"error": {"code", "message"}}`, see [`ArmClient::failure`]).
#[derive(Clone)]
pub struct ArmClient {
    pipeline: Pipeline,
    endpoint: String,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl ArmClient {
    /// A client of `options.endpoint`, with tokens for `options.scope` from `credential`.
    pub fn new(credential: Arc<dyn TokenCredential>, options: ApplyOptions) -> ArmClient {
        let policy = Arc::new(BearerTokenAuthorizationPolicy::new(
            credential,
            [options.scope.clone()],
        ));
        ArmClient {
            pipeline: Pipeline::new(
                Some(env!("CARGO_PKG_NAME")),
                Some(env!("CARGO_PKG_VERSION")),
                options.client_options,
                vec![policy],
                Vec::new(),
                None,
            ),
            endpoint: options.endpoint,
        }
    }

    /// Sends `method` to `path` (with its `?api-version=` query) and `body` as JSON; returns
    /// the status and the JSON answer (`Null` when the answer is not JSON). Only a transport
    /// failure is an error ([`ClusterError::Arm`] without a status).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        self.send_if_match(method, path, body, None).await
    }

    /// [`ArmClient::send`] with an `If-Match` precondition (an etag read before), when given.
    pub async fn send_if_match(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<(u16, Value)> {
        let url = Url::parse(&format!("{}{path}", self.endpoint.trim_end_matches('/')))
            .map_err(|e| ClusterError::invalid(Field::Endpoint, e.to_string()))?;
        let mut request = Request::new(url, method);
        if let Some(body) = body {
            request.insert_header("content-type", "application/json");
            request.set_body(serde_json::to_vec(body).unwrap_or_default());
        }
        if let Some(etag) = if_match {
            request.insert_header("if-match", etag.to_string());
        }
        let response = self
            .pipeline
            .send(
                &Context::new(),
                &mut request,
                Some(PipelineSendOptions {
                    skip_checks: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| ClusterError::Arm {
                request: format!("{method} {path}"),
                status: None,
                message: e.to_string(),
            })?;
        let status = u16::from(response.status());
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
        Ok((status, body))
    }

    /// The error for an unexpected answer: ARM's error code and message.
    pub fn failure(
        method: impl std::fmt::Display,
        path: &str,
        status: u16,
        body: &Value,
    ) -> ClusterError {
        ClusterError::Arm {
            request: format!("{method} {path}"),
            status: Some(status),
            message: format!(
                "{}: {}",
                body["error"]["code"].as_str().unwrap_or("error"),
                body["error"]["message"].as_str().unwrap_or_default()
            ),
        }
    }
}
