//! The certificates page: every store's entries in one table, filtered by store, and the
//! removal of an entry from the cluster (the Key Vault secret stays unless asked).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::response::Response;
use keyway_stores::{Entry, Removal, RemoveOptions, Store, StoreListing};
use maud::{Markup, html};
use serde::Deserialize;

use super::widgets::{self, csrf, notice};
use super::{Nav, layout};
use crate::app::{App, see_other};
use crate::error::UiError;
use crate::flash::Flash;
use crate::session::Session;

/// `?store=`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    store: Option<String>,
}

/// The store a `store` form or query field names (`all` or absent: none).
pub(crate) fn parse_store(field: &str, value: Option<&str>) -> Result<Option<Store>, UiError> {
    match value {
        None | Some("") | Some("all") => Ok(None),
        Some(s) => s.parse::<Store>().map(Some).map_err(|_| {
            UiError::bad_form(
                field,
                format!("{s:?} is not a store: trust, issuer or client"),
            )
        }),
    }
}

const FILTERS: [(&str, &str); 4] = [
    ("all", "All"),
    ("trust", "Trust list"),
    ("issuer", "Issuer list"),
    ("client", "Client certificate"),
];

/// GET /certificates
pub(crate) async fn certificates(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Query(query): Query<ListQuery>,
) -> Result<Markup, UiError> {
    let store = parse_store("store", query.store.as_deref())?;
    let listings = app.stores.list(store, None).await?;
    let current = store.map_or("all", Store::as_str);
    let body = html! {
        (notice(app.flashes.take(session.key()).as_ref()))
        nav.filter aria-label="Store" {
            ul {
                @for (value, label) in FILTERS {
                    li {
                        @if value == current {
                            a href={ "/certificates?store=" (value) } aria-current="true" { (label) }
                        } @else {
                            a href={ "/certificates?store=" (value) } { (label) }
                        }
                    }
                }
            }
        }
        p { a.button href="/certificates/add" { "Add certificate" } }
        div.table {
            table {
                caption { "Synced certificates" @if let Some(s) = store { " — " (s) } }
                (widgets::columns(&["Store", "File", "Subject", "Issuer", "SHA-1 thumbprint", "Not after", "Findings", "Sync state"], true))
                tbody {
                    @for listing in &listings {
                        @for entry in &listing.entries { (row(listing, entry)) }
                    }
                    @if listings.iter().all(|l| l.entries.is_empty()) {
                        tr { td colspan="9" { "No certificate is synced in this store yet." } }
                    }
                }
            }
        }
    };
    Ok(layout(
        "Certificates",
        Nav::Certificates,
        Some(&app.frame),
        body,
    ))
}

fn row(listing: &StoreListing, entry: &Entry) -> Markup {
    let store = listing.store.map_or("", Store::as_str);
    html! {
        tr data-store=(store) data-file=(entry.target_key) {
            td { (listing.store.map_or(String::new(), |s| s.to_string())) }
            td {
                code { (entry.target_key) }
                br; span.meta { "secret " (entry.secret_name) " v" (entry.version.as_deref().unwrap_or("?")) }
            }
            @if let Some(c) = &entry.certificate {
                td { (c.subject) }
                td { (c.issuer) }
                td.thumbprint { (c.sha1) }
                td.date { (widgets::when(c.not_after)) br; (widgets::validity(c, &entry.findings)) }
            } @else if let Some(c) = &entry.crl {
                td { "CRL" }
                td { (c.issuer) }
                td { "—" }
                td { "next update " (c.next_update.map_or("none".to_string(), widgets::when)) }
            } @else {
                td { "—" } td { "—" } td { "—" } td { "—" }
            }
            td { (widgets::findings(&entry.findings)) }
            td.sync { (widgets::sync_state(&entry.sync)) }
            td {
                a href={ "/certificates/remove?store=" (store) "&name=" (entry.target_key) }
                    aria-label={ "Delete " (entry.target_key) " from the cluster" } { "Delete…" }
            }
        }
    }
}

/// `?store=&name=` of a removal.
#[derive(Debug, Deserialize)]
pub(crate) struct RemovalQuery {
    store: Option<String>,
    name: Option<String>,
}

fn removal_target(store: Option<&str>, name: Option<&str>) -> Result<(Store, String), UiError> {
    let store = parse_store("store", store)?
        .ok_or_else(|| UiError::bad_form("store", "say which store: trust, issuer or client"))?;
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| UiError::bad_form("name", "say which entry (its file name)"))?;
    Ok((store, name.to_string()))
}

/// GET /certificates/remove: what the removal does (a dry run of the library's removal), and
/// the confirmation.
pub(crate) async fn confirm_removal(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Query(query): Query<RemovalQuery>,
) -> Result<Markup, UiError> {
    let (store, name) = removal_target(query.store.as_deref(), query.name.as_deref())?;
    let options = RemoveOptions {
        include_secrets: false,
        with_crl: false,
        dry_run: true,
    };
    // An issuer CA whose CRLs would stay behind: the removal takes them too, and says so.
    let (preview, needs_crls) = match app.stores.remove(store, &[name.as_str()], &options).await {
        Err(keyway_stores::StoreError::Refused { .. }) if store == Store::Issuer => {
            let with_crl = RemoveOptions {
                with_crl: true,
                ..options
            };
            (
                app.stores
                    .remove(store, &[name.as_str()], &with_crl)
                    .await?,
                true,
            )
        }
        other => (other?, false),
    };
    let body = html! {
        p.warning {
            "This deletes " code { (name) } " from the " (store)
            " on the cluster only: the Key Vault secret stays unless you check the box below."
        }
        (removal(&preview))
        form method="post" action="/certificates/remove" {
            (csrf(&session))
            input type="hidden" name="store" value=(store.as_str());
            input type="hidden" name="name" value=(name);
            (widgets::include_secrets_box())
            @if needs_crls {
                p {
                    input type="checkbox" id="with_crl" name="with_crl" value="true" checked;
                    label for="with_crl" { "Also remove its CRLs (required: a CRL cannot stay without its CA)" }
                }
            }
            p {
                button type="submit" { "Delete from the cluster" }
                " " a href="/certificates" { "Cancel" }
            }
        }
    };
    Ok(layout(
        "Delete a certificate",
        Nav::Certificates,
        Some(&app.frame),
        body,
    ))
}

/// What a removal takes away.
pub(crate) fn removal(removal: &Removal) -> Markup {
    html! {
        ul {
            @for (key, secret) in &removal.removed {
                li { code { (key) } " (Key Vault secret " code { (secret) } ")" }
            }
            li { (removal.secret_sync.kind) " " code { (removal.secret_sync.name) } ": " (removal.secret_sync.action) }
            li { (removal.provider_class.kind) " " code { (removal.provider_class.name) } ": " (removal.provider_class.action) }
        }
        @for note in &removal.notes { p.meta { (widgets::option_labels(note)) } }
    }
}

/// The removal form.
#[derive(Debug, Deserialize)]
pub(crate) struct RemovalForm {
    csrf: Option<String>,
    store: Option<String>,
    name: Option<String>,
    include_secrets: Option<String>,
    with_crl: Option<String>,
}

/// POST /certificates/remove
pub(crate) async fn remove(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Form(form): Form<RemovalForm>,
) -> Result<Response, UiError> {
    session.require_csrf(form.csrf.as_deref())?;
    let (store, name) = removal_target(form.store.as_deref(), form.name.as_deref())?;
    let options = RemoveOptions {
        include_secrets: form.include_secrets.as_deref() == Some("true"),
        with_crl: form.with_crl.as_deref() == Some("true"),
        dry_run: false,
    };
    let done = app.stores.remove(store, &[name.as_str()], &options).await?;
    let kept = widgets::kept_or_purged(&done);
    app.flashes.set(
        session.key(),
        Flash {
            text: format!("Deleted {name} from the {store} on the cluster; {kept}."),
            command: None,
        },
    );
    Ok(see_other(&format!(
        "/certificates?store={}",
        store.as_str()
    )))
}
