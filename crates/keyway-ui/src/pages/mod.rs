//! The pages, rendered on the server with maud (escaped by default). They show what the
//! keyway-stores library returns and hold no rule of their own.

mod add;
mod certificates;
mod secrets;
mod widgets;

pub(crate) use add::{
    apply, check_client, check_upload, client_form, pick_from_vault, recheck, upload_form,
    vault_list,
};
pub(crate) use certificates::{certificates, confirm_removal, remove};
pub(crate) use secrets::{add_secret, confirm_secret_removal, remove_secret, secrets};
pub(crate) use widgets::option_labels;

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Certificates,
    Add,
    Client,
    Vault,
    Secrets,
    None,
}

const NAV: [(Nav, &str, &str); 5] = [
    (Nav::Certificates, "/certificates", "Certificates"),
    (Nav::Add, "/certificates/add", "Add certificate"),
    (Nav::Vault, "/certificates/vault", "From Key Vault"),
    (Nav::Client, "/certificates/client", "Client certificate"),
    (Nav::Secrets, "/secrets", "Secrets"),
];

/// What the frame of every page shows about the instance.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    /// The namespace or custom location served.
    pub target: String,
    /// The instance's vault.
    pub vault: String,
}

/// The frame of every page: header, navigation, `body`.
pub(crate) fn layout(title: &str, nav: Nav, frame: Option<&Frame>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · keyway" }
                link rel="stylesheet" href="/style.css";
            }
            body {
                header {
                    span.brand { "keyway" }
                    nav aria-label="Main" {
                        ul {
                            @for (entry, href, label) in NAV {
                                li {
                                    @if entry == nav {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(frame) = frame {
                        p.instance {
                            "Instance: " span { (frame.target) } " · vault " span { (frame.vault) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The page an error answers with.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Markup {
    let title = match status {
        StatusCode::UNAUTHORIZED => "Not signed in",
        StatusCode::FORBIDDEN => "Refused",
        StatusCode::PAYLOAD_TOO_LARGE => "File too large",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::UNPROCESSABLE_ENTITY => "Refused, nothing written",
        s if s.is_server_error() => "A service failed",
        _ => "Cannot do that",
    };
    layout(
        title,
        Nav::None,
        None,
        html! {
            p.error role="alert" { (message) }
            @if status != StatusCode::UNAUTHORIZED {
                p { a href="/certificates" { "Back to the certificates" } }
            }
        },
    )
}
