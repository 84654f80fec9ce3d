//! What the page tests share: keyway-stores' test environment (a cluster — the stand-in or
//! `KEYWAY_TEST_KUBECONFIG`'s — with the CRDs, a vault, the instance's default
//! SecretProviderClass, an uploader on the official SDK, the SecretSync controller), included
//! from there rather than copied, and a browser-like client of the page's router: it keeps the
//! session cookie and reads each form's CSRF token from the page.
#![allow(dead_code)]

#[path = "../../../keyway-stores/tests/support/mod.rs"]
mod stores;

pub mod cdp;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

pub use stores::*;

/// A page response.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Page {
    /// The CSRF token of the page's first form.
    pub fn csrf(&self) -> String {
        attribute_after(&self.body, r#"name="csrf" value=""#).expect("a form with a CSRF token")
    }

    /// The value of the hidden field `name` of the page's first form holding it.
    pub fn hidden(&self, name: &str) -> Option<String> {
        attribute_after(&self.body, &format!(r#"name="{name}" value=""#))
    }
}

fn attribute_after(body: &str, marker: &str) -> Option<String> {
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')?;
    Some(body[start..start + end].to_string())
}

/// Stores like `env.stores` (the same instance, target and uploader), for the page.
pub fn stores_of(env: &Env) -> Arc<keyway_stores::Stores> {
    Arc::new(keyway_stores::Stores::new(
        env.stores.config().clone(),
        env.stores.instance().clone(),
        env.target.clone(),
        Arc::new(secrets_client(&env.cluster, &env.vault, &env.uploader)),
    ))
}

/// The page (its router, in process), as one browser session sees it.
#[derive(Clone)]
pub struct Browser {
    pub ui: Arc<keyway_ui::Ui>,
    router: axum::Router,
    cookie: Option<String>,
}

impl Browser {
    /// The page over `env`'s stores, signed in through the tokened URL.
    pub async fn signed_in(env: &Env) -> Browser {
        let mut browser = Browser::anonymous(env);
        let token = browser.ui.access_token().to_string();
        let page = browser.get(&format!("/?token={token}")).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        let cookie = page
            .set_cookie
            .expect("the tokened URL sets the session cookie");
        browser.cookie = Some(cookie.split(';').next().unwrap().to_string());
        browser
    }

    /// The page over `env`'s stores, without a session.
    pub fn anonymous(env: &Env) -> Browser {
        let ui = Arc::new(keyway_ui::Ui::new(stores_of(env)));
        let router = ui.router();
        Browser {
            ui,
            router,
            cookie: None,
        }
    }

    /// The same page without the session cookie.
    pub fn without_session(&self) -> Browser {
        Browser {
            cookie: None,
            ..self.clone()
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Page {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let text = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &axum::http::HeaderValue| v.to_str().unwrap().to_string())
        };
        let (location, set_cookie) = (text(header::LOCATION), text(header::SET_COOKIE));
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        Page {
            status,
            location,
            set_cookie,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    /// Sends `request` with this session's cookie.
    pub async fn send_with_cookie(&self, mut request: Request<Body>) -> Page {
        if let Some(cookie) = &self.cookie {
            request
                .headers_mut()
                .insert(header::COOKIE, cookie.parse().unwrap());
        }
        self.send(request).await
    }

    fn request(&self, method: &str, path: &str) -> axum::http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1:8787");
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        builder
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.request("GET", path).body(Body::empty()).unwrap())
            .await
    }

    /// POSTs an urlencoded form.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(
            self.request("POST", path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// POSTs a multipart form: text fields, then files (field, file name, bytes).
    pub async fn post_files(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> Page {
        const BOUNDARY: &str = "keyway-test-boundary-7d9f";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        for (name, file, bytes) in files {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        self.send(
            self.request("POST", path)
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }
}
