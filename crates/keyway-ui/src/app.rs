//! The application: its state, its routes, and the guard in front of every route (session,
//! same-origin check, security headers).

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use keyway_stores::Stores;

use crate::error::UiError;
use crate::pages::{self, Frame};
use crate::session::{COOKIE, Session, Sessions, cookie_value, query_value, query_without};
use crate::uploads::{MAX_FILE_BYTES, Uploads};

/// The page's style sheet, served by the binary (no CDN).
const STYLE: &str = include_str!("../assets/style.css");

/// No script, no frame, no form to another site, nothing from elsewhere.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The state every handler shares.
pub(crate) struct App {
    pub stores: Arc<Stores>,
    pub sessions: Sessions,
    pub uploads: Uploads,
    pub flashes: crate::flash::Flashes,
    pub frame: Frame,
    /// Cookies carry `Secure` when the page is served over HTTPS.
    pub secure: bool,
}

/// The router: every page behind the session guard.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/certificates") }))
        .route("/style.css", get(style))
        .route("/certificates", get(pages::certificates))
        .route(
            "/certificates/remove",
            get(pages::confirm_removal).post(pages::remove),
        )
        .route("/certificates/add", get(pages::upload_form))
        .route(
            "/certificates/check",
            axum::routing::post(pages::check_upload),
        )
        .route("/certificates/vault", get(pages::vault_list))
        .route(
            "/certificates/vault/pick",
            axum::routing::post(pages::pick_from_vault),
        )
        .route("/certificates/client", get(pages::client_form))
        .route(
            "/certificates/client/check",
            axum::routing::post(pages::check_client),
        )
        .route("/certificates/apply", axum::routing::post(pages::apply))
        .route("/certificates/recheck", axum::routing::post(pages::recheck))
        .route("/secrets", get(pages::secrets))
        .route("/secrets/add", axum::routing::post(pages::add_secret))
        .route(
            "/secrets/remove",
            get(pages::confirm_secret_removal).post(pages::remove_secret),
        )
        // Two files of 64 KiB and the form's fields; the handlers check each file's size.
        .layer(DefaultBodyLimit::max(2 * MAX_FILE_BYTES + 16 * 1024))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

/// In front of every route: the tokened URL starts a session and redirects to the same page
/// without the token; everything but the style sheet needs a session (401); a POST from
/// another site is refused (403) before its handler checks the CSRF token; every answer
/// carries the security headers.
async fn guard(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let mut response = match admit(&app, &mut request) {
        Ok(None) => next.run(request).await,
        Ok(Some(early)) => early,
        Err(e) => e.into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // The tokened URL never leaves in a Referer header (and it is redirected away at
        // once). Not `no-referrer`: with it, browsers send `Origin: null` on the page's own
        // POSTs, and the origin check could not tell them from another site's.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `Ok(None)`: go on to the handler (with the session in the request's extensions);
/// `Ok(Some(response))`: answer this instead.
fn admit(app: &App, request: &mut Request) -> Result<Option<Response>, UiError> {
    let path = request.uri().path().to_string();
    if path == "/style.css" {
        return Ok(None);
    }
    let query = request.uri().query().unwrap_or("").to_string();
    if let Some(token) = query_value(&query, "token") {
        let Some(cookie) = app.sessions.start(token) else {
            return Err(UiError::Unauthorized);
        };
        let rest = query_without(&query, "token");
        let location = if rest.is_empty() {
            path
        } else {
            format!("{path}?{rest}")
        };
        let secure = if app.secure { "; Secure" } else { "" };
        let set_cookie = format!(
            "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/{secure}",
            *cookie
        );
        let mut response = Redirect::to(&location).into_response();
        if let Ok(value) = HeaderValue::from_str(&set_cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        return Ok(Some(response));
    }
    let session = session_of(app, request.headers()).ok_or(UiError::Unauthorized)?;
    if request.method() != Method::GET
        && request.method() != Method::HEAD
        && !same_origin(request.headers())
    {
        return Err(UiError::CrossSite);
    }
    request.extensions_mut().insert(session);
    Ok(None)
}

fn session_of(app: &App, headers: &HeaderMap) -> Option<Session> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie_value(h, COOKIE))
        .and_then(|c| app.sessions.find(c))
}

/// A state-changing request is refused when the browser says it came from another site:
/// `Sec-Fetch-Site` when the browser sends it (every current one does), else an `Origin` that
/// is not this `Host` (as Go's `net/http.CrossOriginProtection` decides).
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some("null"), _) => false,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// A 303 to `location` (after a POST, so a reload does not post again).
pub(crate) fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}
