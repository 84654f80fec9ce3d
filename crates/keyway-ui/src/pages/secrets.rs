//! The secrets page: the synced secrets (`keyway secrets`), every SecretSync of the namespace
//! with its conditions and its Secret's key names and sizes — never a value — and adding or
//! deleting a synced secret. A value typed here is sent once and never shown again.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyway_stores::{RemoveOptions, SecretAdd, SecretValue};
use maud::{Markup, html};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::certificates::removal;
use super::widgets::{self, csrf, notice};
use super::{Nav, layout};
use crate::app::{App, see_other};
use crate::error::UiError;
use crate::flash::Flash;
use crate::session::Session;

/// GET /secrets
pub(crate) async fn secrets(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
) -> Result<Markup, UiError> {
    let flash = app.flashes.take(session.key());
    page(&app, &session, flash.as_ref(), None, &Prefill::default()).await
}

/// The add form's fields as last sent (never the value), to fill the form again after a
/// refusal.
#[derive(Debug, Default)]
struct Prefill {
    vault_secret: String,
    synced_name: String,
    key: String,
    existing: bool,
    overwrite: bool,
}

async fn page(
    app: &App,
    session: &Session,
    flash: Option<&Flash>,
    refused: Option<Markup>,
    prefill: &Prefill,
) -> Result<Markup, UiError> {
    let listings = app.stores.list_secrets().await?;
    let overview = app.stores.sync_overview().await?;
    let body = html! {
        (notice(flash))
        @if let Some(refused) = refused { (refused) }
        h2 { "Synced secrets" }
        div.table {
            table {
                caption { "Key Vault secrets synced through " code { (app.stores.instance().provider_class) } }
                (widgets::columns(&["Synced secret", "Key", "Key Vault secret", "Sync state"], true))
                tbody {
                    @for listing in &listings {
                        @for entry in &listing.entries {
                            tr data-synced=(listing.secret_sync) {
                                td { code { (listing.secret_sync) } }
                                td { code { (entry.target_key) } }
                                td { code { (entry.secret_name) } " v" (entry.version.as_deref().unwrap_or("?")) }
                                td.sync { (widgets::sync_state(&entry.sync)) (widgets::findings(&entry.findings)) }
                                td {
                                    a href={ "/secrets/remove?name=" (listing.secret_sync) }
                                        aria-label={ "Delete " (listing.secret_sync) " from the edge" } { "Delete…" }
                                }
                            }
                        }
                    }
                    @if listings.iter().all(|l| l.entries.is_empty()) {
                        tr { td colspan="5" { "No secret is synced yet." } }
                    }
                }
            }
        }
        h2 { "SecretSyncs in this namespace" }
        div.table {
            table {
                caption { "Every SecretSync, with its conditions and its Secret's keys (sizes only)" }
                (widgets::columns(&["SecretSync", "SecretProviderClass", "Conditions", "Last successful sync", "Secret keys"], false))
                tbody {
                    @for sync in &overview {
                        tr data-secret-sync=(sync.name) {
                            td { code { (sync.name) } br; span.meta { (sync.secret_type) } }
                            td { code { (sync.secret_provider_class) } }
                            td {
                                ul.conditions {
                                    @for c in &sync.conditions {
                                        li {
                                            (c.type_) " = " (c.status)
                                            @if !c.reason.is_empty() { " (" (c.reason) ")" }
                                            @if !c.message.is_empty() { br; span.reason { (c.message) } }
                                        }
                                    }
                                }
                            }
                            td { (sync.last_successful_sync.map_or("never".to_string(), widgets::when)) }
                            td {
                                @match &sync.secret_keys {
                                    Some(keys) if keys.is_empty() => { "none" }
                                    Some(keys) => {
                                        ul.keys { @for (key, size) in keys { li { code { (key) } " — " (size) " bytes" } } }
                                    }
                                    None => { "not visible from this target" }
                                }
                            }
                        }
                    }
                    @if overview.is_empty() {
                        tr { td colspan="5" { "This namespace has no SecretSync." } }
                    }
                }
            }
        }
        h2 { "Add a synced secret" }
        form method="post" action="/secrets/add" autocomplete="off" {
            (csrf(session))
            p {
                label for="vault_secret" { "Key Vault secret name" }
                input type="text" id="vault_secret" name="vault_secret" required maxlength="127" pattern="[0-9A-Za-z-]+" value=(prefill.vault_secret);
            }
            fieldset {
                legend { "Value" }
                p {
                    input type="radio" id="source_new" name="source" value="new" checked[!prefill.existing];
                    label for="source_new" { "Create a new value" }
                }
                p {
                    label for="value" { "New value (sent once, never shown again)" }
                    input type="password" id="value" name="value" autocomplete="new-password";
                }
                p {
                    input type="radio" id="source_existing" name="source" value="existing" checked[prefill.existing];
                    label for="source_existing" { "Use the vault's existing secret as it is" }
                }
            }
            p {
                label for="synced_name" { "Synced name (the SecretSync and Kubernetes Secret; default: the secret's name in lower case)" }
                input type="text" id="synced_name" name="synced_name" maxlength="253" value=(prefill.synced_name);
            }
            p {
                label for="key" { "Key in the Kubernetes Secret (default: the secret's name)" }
                input type="text" id="key" name="key" maxlength="253" value=(prefill.key);
            }
            p {
                input type="checkbox" id="overwrite_secret" name="overwrite_secret" value="true" checked[prefill.overwrite];
                label for="overwrite_secret" { "Write a new version when the Key Vault secret holds another value" }
            }
            p { button type="submit" { "Add" } }
        }
    };
    Ok(layout("Secrets", Nav::Secrets, Some(&app.frame), body))
}

/// The add form (no `Debug`: it holds the value).
#[derive(Deserialize)]
pub(crate) struct AddForm {
    csrf: Option<String>,
    vault_secret: Option<String>,
    source: Option<String>,
    value: Option<String>,
    synced_name: Option<String>,
    key: Option<String>,
    overwrite_secret: Option<String>,
}

fn given(field: Option<String>) -> Option<String> {
    field
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// POST /secrets/add: the library's plan; refused → the page again with the reason and
/// nothing written (the value is not echoed); else applied.
pub(crate) async fn add_secret(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Form(form): Form<AddForm>,
) -> Result<Response, UiError> {
    session.require_csrf(form.csrf.as_deref())?;
    let prefill = Prefill {
        vault_secret: given(form.vault_secret.clone()).unwrap_or_default(),
        synced_name: given(form.synced_name.clone()).unwrap_or_default(),
        key: given(form.key.clone()).unwrap_or_default(),
        existing: form.source.as_deref() == Some("existing"),
        overwrite: form.overwrite_secret.as_deref() == Some("true"),
    };
    // What the form lacks is said on this page, the form filled again (but the value).
    let again = |status: StatusCode, refused: Markup| {
        let (app, session, prefill) = (app.clone(), session.clone(), &prefill);
        async move {
            let markup = page(&app, &session, None, Some(refused), prefill).await?;
            Ok::<Response, UiError>((status, markup).into_response())
        }
    };
    let add = match secret_add(form) {
        Ok(add) => add,
        Err(e @ UiError::BadForm { .. }) => {
            let message = e.to_string();
            return again(
                StatusCode::BAD_REQUEST,
                html! { p.error role="alert" { (message) } },
            )
            .await;
        }
        Err(e) => return Err(e),
    };
    let plan = app.stores.plan_secret(&add).await?;
    if plan.is_refused() {
        return again(StatusCode::UNPROCESSABLE_ENTITY, widgets::plan(&plan)).await;
    }
    app.stores.apply(&plan).await?;
    let synced = plan.synced_secret.clone().unwrap_or_default();
    app.flashes.set(
        session.key(),
        Flash {
            text: format!("Added {synced}: the SecretSync controller syncs it to the edge."),
            command: None,
        },
    );
    Ok(see_other("/secrets"))
}

/// The library's request from the form; a missing field is a [`UiError::BadForm`].
fn secret_add(form: AddForm) -> Result<SecretAdd, UiError> {
    let vault_secret = given(form.vault_secret)
        .ok_or_else(|| UiError::bad_form("vault_secret", "name the Key Vault secret"))?;
    let value = match form.source.as_deref() {
        Some("existing") => SecretValue::Existing,
        Some("new") | None => {
            // Moved, not copied, into a buffer zeroized on drop.
            let value = form
                .value
                .map(Zeroizing::new)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    UiError::bad_form(
                        "value",
                        "type the new value, or choose the vault's existing secret",
                    )
                })?;
            SecretValue::Bytes(Zeroizing::new(value.as_bytes().to_vec()))
        }
        Some(_) => return Err(UiError::bad_form("source", "choose new or existing")),
    };
    Ok(SecretAdd {
        vault_secret,
        synced_name: given(form.synced_name),
        key: given(form.key),
        value,
        overwrite_secret: form.overwrite_secret.as_deref() == Some("true"),
    })
}

/// `?name=` of a removal.
#[derive(Debug, Deserialize)]
pub(crate) struct RemovalQuery {
    name: Option<String>,
}

/// GET /secrets/remove: what goes, and the confirmation.
pub(crate) async fn confirm_secret_removal(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Query(query): Query<RemovalQuery>,
) -> Result<Markup, UiError> {
    let name =
        given(query.name).ok_or_else(|| UiError::bad_form("name", "say which synced secret"))?;
    let options = RemoveOptions {
        include_secrets: false,
        with_crl: false,
        dry_run: true,
    };
    let preview = app.stores.remove_secret(&name, &options).await?;
    let body = html! {
        p.warning {
            "This deletes the synced secret " code { (name) } " from the edge (its SecretSync, "
            "and its Kubernetes Secret with it): the Key Vault secret stays unless you check the box below."
        }
        (removal(&preview))
        form method="post" action="/secrets/remove" {
            (csrf(&session))
            input type="hidden" name="name" value=(name);
            (widgets::include_secrets_box())
            p {
                button type="submit" { "Delete from the edge" }
                " " a href="/secrets" { "Cancel" }
            }
        }
    };
    Ok(layout(
        "Delete a synced secret",
        Nav::Secrets,
        Some(&app.frame),
        body,
    ))
}

/// The removal form.
#[derive(Debug, Deserialize)]
pub(crate) struct RemovalForm {
    csrf: Option<String>,
    name: Option<String>,
    include_secrets: Option<String>,
}

/// POST /secrets/remove
pub(crate) async fn remove_secret(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Form(form): Form<RemovalForm>,
) -> Result<Response, UiError> {
    session.require_csrf(form.csrf.as_deref())?;
    let name =
        given(form.name).ok_or_else(|| UiError::bad_form("name", "say which synced secret"))?;
    let options = RemoveOptions {
        include_secrets: form.include_secrets.as_deref() == Some("true"),
        with_crl: false,
        dry_run: false,
    };
    let done = app.stores.remove_secret(&name, &options).await?;
    let kept = widgets::kept_or_purged(&done);
    app.flashes.set(
        session.key(),
        Flash {
            text: format!("Deleted {name} from the edge; {kept}."),
            command: None,
        },
    );
    Ok(see_other("/secrets"))
}
