//! What a request can fail with, and the HTTP status each gets. Messages come from keyway's
//! libraries, which never put a secret value in an error.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyway_stores::StoreError;

use crate::pages;

/// A failed request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UiError {
    /// No session: the page was not opened through the tokened URL (401).
    #[error(
        "not signed in: open the URL keyway ui printed when it started (it carries the access \
         token; a restarted keyway ui prints a new one)"
    )]
    Unauthorized,
    /// A state-changing request without this session's CSRF token (403).
    #[error(
        "this form is stale or did not come from this page (CSRF token missing or wrong): \
         reload the page and try again"
    )]
    Forbidden,
    /// A state-changing request the browser says came from another site (403).
    #[error(
        "refused: the browser says this request came from another site, not from this page; \
         use the page itself"
    )]
    CrossSite,
    /// The form is incomplete or malformed (400); `field` names the form field.
    #[error("{field}: {reason}")]
    BadForm {
        /// The form field.
        field: String,
        /// What is wrong and the fix.
        reason: String,
    },
    /// A file is larger than the page accepts (413).
    #[error("{file}: larger than {limit} KiB; a certificate, CRL or key file is a few KiB")]
    TooLarge {
        /// The file's name.
        file: String,
        /// The limit.
        limit: usize,
    },
    /// The checked upload is gone (applied, expired after 30 minutes, or another session's).
    #[error(
        "this upload is no longer waiting (applied already, or older than 30 minutes): upload the file again"
    )]
    UploadGone,
    /// The store library failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UiError {
    pub(crate) fn bad_form(field: &str, reason: impl Into<String>) -> UiError {
        UiError::BadForm {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    /// The status this error answers with: the library's classification (input 400, refused
    /// 422, not found 404, a service that failed or could not be reached 502).
    pub fn status(&self) -> StatusCode {
        match self {
            UiError::Unauthorized => StatusCode::UNAUTHORIZED,
            UiError::Forbidden | UiError::CrossSite => StatusCode::FORBIDDEN,
            UiError::BadForm { .. } => StatusCode::BAD_REQUEST,
            UiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            UiError::UploadGone => StatusCode::GONE,
            UiError::Store(StoreError::NotFound { .. }) => StatusCode::NOT_FOUND,
            UiError::Store(e) => match e.exit_code() {
                3 => StatusCode::BAD_GATEWAY,
                1 => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_REQUEST,
            },
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let message = pages::option_labels(&self.to_string());
        (status, pages::error_page(status, &message)).into_response()
    }
}
