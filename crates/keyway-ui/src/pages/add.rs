//! Adding a certificate: upload a file (or pick a Key Vault secret, or upload the client
//! certificate's pair) → the details and findings the library's checks produce, before
//! anything is written → the store → Apply. Every check is `Stores::plan_add`'s; a refused
//! plan writes nothing.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Form, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyway_stores::{AddOptions, InputFile, Plan, Store};
use maud::{Markup, html};
use serde::Deserialize;

use super::certificates::parse_store;
use super::widgets::{self, csrf};
use super::{Nav, layout};
use crate::app::{App, see_other};
use crate::error::UiError;
use crate::flash::Flash;
use crate::form::Upload;
use crate::session::Session;
use crate::uploads::{Pending, store_for};

/// GET /certificates/add
pub(crate) async fn upload_form(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
) -> Markup {
    let body = html! {
        p {
            "Choose a certificate (" code { ".der" } ", " code { ".crt" } ", " code { ".pem" }
            ") or, for the issuer list, a CRL (" code { ".crl" } "). Its details and the checks' "
            "findings are shown before anything is written. To use a certificate the vault "
            "already holds, see " a href="/certificates/vault" { "From Key Vault" } "."
        }
        form method="post" action="/certificates/check" enctype="multipart/form-data" {
            (csrf(&session))
            p {
                label for="file" { "Certificate or CRL file (at most 64 KiB)" }
                input type="file" id="file" name="file" required accept=".der,.crt,.pem,.crl";
            }
            (store_select(Store::Trust))
            p { button type="submit" { "Check" } }
        }
    };
    layout("Add a certificate", Nav::Add, Some(&app.frame), body)
}

fn store_select(selected: Store) -> Markup {
    html! {
        p {
            label for="store" { "Store" }
            select id="store" name="store" {
                @for (store, label) in [(Store::Trust, "Trust list (OPC UA servers the connector trusts)"), (Store::Issuer, "Issuer list (CA certificates and CRLs)")] {
                    option value=(store.as_str()) selected[store == selected] { (label) }
                }
            }
        }
    }
}

/// POST /certificates/check: the upload's plan, shown before anything is written.
pub(crate) async fn check_upload(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    multipart: Multipart,
) -> Result<Response, UiError> {
    let mut upload = Upload::read(multipart, &session).await?;
    let store = parse_store("store", upload.field("store"))?.unwrap_or(Store::Trust);
    if store == Store::Client {
        return Err(UiError::bad_form(
            "store",
            "the client certificate is a pair: use the Client certificate page",
        ));
    }
    let file = upload.take_file("file", "a certificate or CRL file")?;
    let id = app.uploads.keep(session.key(), vec![file.clone()], false);
    details(&app, &session, &id, store, &[file], &AddOptions::default()).await
}

/// The details page of a checked upload: the plan, and the Apply form when it is not refused.
async fn details(
    app: &App,
    session: &Session,
    id: &str,
    store: Store,
    files: &[InputFile],
    options: &AddOptions,
) -> Result<Response, UiError> {
    let plan = app.stores.plan_add(store, files, options).await?;
    Ok(details_page(app, session, id, store, &plan, options))
}

/// The details page of `plan` (made for the upload `id`).
fn details_page(
    app: &App,
    session: &Session,
    id: &str,
    store: Store,
    plan: &Plan,
    options: &AddOptions,
) -> Response {
    let status = if plan.is_refused() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = html! {
        (widgets::plan(plan))
        (apply_form(session, id, store, plan, options))
    };
    (
        status,
        layout(
            "Check the certificate",
            if store == Store::Client {
                Nav::Client
            } else {
                Nav::Add
            },
            Some(&app.frame),
            body,
        ),
    )
        .into_response()
}

fn apply_form(
    session: &Session,
    id: &str,
    store: Store,
    plan: &Plan,
    options: &AddOptions,
) -> Markup {
    let single = plan.files.len() == 1 && store != Store::Client;
    // A refused plan's form checks again (with the store, name and boxes chosen) and shows
    // the new plan; only a plan shown unrefused has an Apply button.
    let action = if plan.is_refused() {
        "/certificates/recheck"
    } else {
        "/certificates/apply"
    };
    html! {
        form.apply method="post" action=(action) {
            (csrf(session))
            input type="hidden" name="upload" value=(id);
            @if store == Store::Client {
                input type="hidden" name="store" value="client";
                @if let Some(subject) = &options.subject_name {
                    input type="hidden" name="subject_name" value=(subject);
                }
                @if let Some(uri) = &options.application_uri {
                    input type="hidden" name="application_uri" value=(uri);
                }
            } @else {
                (store_select(store))
            }
            @if single {
                p {
                    label for="secret_name" { "Key Vault secret name" }
                    input type="text" id="secret_name" name="secret_name"
                        value=(plan.files[0].secret_name) maxlength="127" pattern="[0-9A-Za-z-]+";
                }
            }
            p {
                input type="checkbox" id="allow_expired" name="allow_expired" value="true" checked[options.allow_expired];
                label for="allow_expired" { "Add even if expired" }
            }
            p {
                input type="checkbox" id="overwrite_secret" name="overwrite_secret" value="true" checked[options.overwrite_secret];
                label for="overwrite_secret" { "Write a new version when the Key Vault secret holds other bytes" }
            }
            p {
                @if plan.is_refused() {
                    button type="submit" { "Check again" }
                } @else {
                    button type="submit" { "Apply" }
                }
                " " a href="/certificates" { "Cancel" }
            }
        }
    }
}

/// The Apply form.
#[derive(Debug, Deserialize)]
pub(crate) struct ApplyForm {
    csrf: Option<String>,
    upload: Option<String>,
    store: Option<String>,
    secret_name: Option<String>,
    allow_expired: Option<String>,
    overwrite_secret: Option<String>,
    subject_name: Option<String>,
    application_uri: Option<String>,
}

/// What an Apply or Check again form asks for: the waiting upload's files (with the secret
/// name chosen), the store and the options.
struct Chosen {
    id: String,
    store: Store,
    files: Vec<InputFile>,
    options: AddOptions,
}

fn chosen(app: &App, session: &Session, form: ApplyForm) -> Result<Chosen, UiError> {
    session.require_csrf(form.csrf.as_deref())?;
    let id = form
        .upload
        .ok_or_else(|| UiError::bad_form("upload", "no upload named"))?;
    let pending: Pending = app
        .uploads
        .get(session.key(), &id)
        .ok_or(UiError::UploadGone)?;
    let store = store_for(&pending, parse_store("store", form.store.as_deref())?)
        .ok_or_else(|| UiError::bad_form("store", "choose the trust list or the issuer list"))?;
    let mut files = pending.files.clone();
    if let Some(name) = form
        .secret_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        && files.len() == 1
        && !pending.client
    {
        files = files
            .into_iter()
            .map(|f| f.with_secret_name(name))
            .collect();
    }
    let options = AddOptions {
        allow_expired: form.allow_expired.as_deref() == Some("true"),
        overwrite_secret: form.overwrite_secret.as_deref() == Some("true"),
        subject_name: form.subject_name.filter(|s| !s.is_empty()),
        application_uri: form.application_uri.filter(|s| !s.is_empty()),
        ..AddOptions::default()
    };
    Ok(Chosen {
        id,
        store,
        files,
        options,
    })
}

/// POST /certificates/recheck: the plan again with what the form chose; writes nothing.
pub(crate) async fn recheck(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Form(form): Form<ApplyForm>,
) -> Result<Response, UiError> {
    let c = chosen(&app, &session, form)?;
    details(&app, &session, &c.id, c.store, &c.files, &c.options).await
}

/// POST /certificates/apply: plans again (the same checks, with the store and name chosen)
/// and applies when nothing refuses; a refusal shows the details again and writes nothing.
pub(crate) async fn apply(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Form(form): Form<ApplyForm>,
) -> Result<Response, UiError> {
    let Chosen {
        id,
        store,
        files,
        options,
    } = chosen(&app, &session, form)?;
    let id = id.as_str();
    let plan = app.stores.plan_add(store, &files, &options).await?;
    if plan.is_refused() {
        // The plan just made is the one shown: not planned again.
        return Ok(details_page(&app, &session, id, store, &plan, &options));
    }
    let applied = app.stores.apply(&plan).await?;
    app.uploads.forget(id);
    let mut text = format!(
        "Applied to the {store}: {}; the SecretSync controller syncs it.",
        plan.files
            .iter()
            .filter(|f| f.kind != Some(keyway_stores::FileKind::PrivateKey))
            .map(|f| f.file.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut command = None;
    if let Some(settings) = &plan.connector_settings {
        match &applied.connector_settings_changed {
            Some(keys) if keys.is_empty() => {
                text.push_str(" The connector settings were already set.")
            }
            Some(keys) => text.push_str(&format!(" Connector settings set: {}.", keys.join(", "))),
            None => {
                text.push_str(" Apply the connector settings to the IoT Operations extension:");
                command = Some(settings.az_command());
            }
        }
    }
    app.flashes.set(session.key(), Flash { text, command });
    Ok(see_other(&format!(
        "/certificates?store={}",
        store.as_str()
    )))
}

/// GET /certificates/vault: the vault's secrets that hold a certificate or a CRL.
pub(crate) async fn vault_list(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
) -> Result<Markup, UiError> {
    let candidates = app.stores.vault_certificates().await?;
    let body = html! {
        p {
            "The secrets of " code { (app.stores.instance().vault_url) }
            " whose value is a certificate or a CRL (hex, base64, PEM or DER). Pick one to see its "
            "details and choose its store; nothing is written before Apply."
        }
        div.table {
            table {
                caption { "Certificates in Key Vault" }
                (widgets::columns(&["Secret", "Subject", "Issuer", "SHA-1 thumbprint", "Not after", "Findings"], true))
                tbody {
                    @for c in &candidates {
                        tr data-secret=(c.name) {
                            td {
                                code { (c.name) } br;
                                span.meta { (c.content_type.as_deref().unwrap_or("no content type")) }
                                @if !c.stored_as_hex {
                                    br; span.meta { "not stored as hex: adding it writes a hex version (check “Write a new version”)" }
                                }
                            }
                            @if let Some(cert) = &c.certificate {
                                td { (cert.subject) }
                                td { (cert.issuer) }
                                td.thumbprint { (cert.sha1) }
                                td.date { (widgets::when(cert.not_after)) br; (widgets::validity(cert, &c.findings)) }
                            } @else if let Some(crl) = &c.crl {
                                td { "CRL" }
                                td { (crl.issuer) }
                                td { "—" }
                                td { "next update " (crl.next_update.map_or("none".to_string(), widgets::when)) }
                            } @else {
                                td { "—" } td { "—" } td { "—" } td { "—" }
                            }
                            td {
                                (widgets::findings(&c.findings))
                                @if !c.refusals.is_empty() {
                                    ul.refusals { @for r in &c.refusals { li { (widgets::option_labels(r)) } } }
                                }
                            }
                            td {
                                form method="post" action="/certificates/vault/pick" {
                                    (csrf(&session))
                                    input type="hidden" name="name" value=(c.name);
                                    button type="submit" aria-label={ "Use " (c.name) } { "Use…" }
                                }
                            }
                        }
                    }
                    @if candidates.is_empty() {
                        tr { td colspan="7" { "The vault holds no certificate or CRL." } }
                    }
                }
            }
        }
    };
    Ok(layout(
        "Add a certificate from Key Vault",
        Nav::Vault,
        Some(&app.frame),
        body,
    ))
}

/// The pick form.
#[derive(Debug, Deserialize)]
pub(crate) struct PickForm {
    csrf: Option<String>,
    name: Option<String>,
}

/// POST /certificates/vault/pick: the secret's details and store choice, as for an upload.
pub(crate) async fn pick_from_vault(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Form(form): Form<PickForm>,
) -> Result<Response, UiError> {
    session.require_csrf(form.csrf.as_deref())?;
    let name = form
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| UiError::bad_form("name", "pick a secret"))?;
    let file = app.stores.input_from_vault(name).await?;
    let id = app.uploads.keep(session.key(), vec![file.clone()], false);
    details(
        &app,
        &session,
        &id,
        Store::Trust,
        &[file],
        &AddOptions::default(),
    )
    .await
}

/// GET /certificates/client
pub(crate) async fn client_form(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
) -> Markup {
    let body = html! {
        p {
            "The connector's client (application instance) certificate: its certificate ("
            code { ".der" } ") and its private key (" code { ".pem" } ") with the same file "
            "name stem. The private key is uploaded to Key Vault and never shown. Adding a client "
            "certificate replaces the current one."
        }
        form method="post" action="/certificates/client/check" enctype="multipart/form-data" {
            (csrf(&session))
            p {
                label for="certificate" { "Certificate (.der)" }
                input type="file" id="certificate" name="certificate" required accept=".der";
            }
            p {
                label for="key" { "Private key (.pem)" }
                input type="file" id="key" name="key" required accept=".pem";
            }
            p {
                label for="subject_name" { "Subject name it must have (optional, checked)" }
                input type="text" id="subject_name" name="subject_name";
            }
            p {
                label for="application_uri" { "Application URI it must have (optional, checked)" }
                input type="text" id="application_uri" name="application_uri";
            }
            p { button type="submit" { "Check" } }
        }
    };
    layout("Client certificate", Nav::Client, Some(&app.frame), body)
}

/// POST /certificates/client/check
pub(crate) async fn check_client(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    multipart: Multipart,
) -> Result<Response, UiError> {
    let mut upload = Upload::read(multipart, &session).await?;
    let certificate = upload.take_file("certificate", "the certificate (.der)")?;
    let key = upload.take_file("key", "the private key (.pem)")?;
    let options = AddOptions {
        subject_name: upload.field("subject_name").map(str::to_string),
        application_uri: upload.field("application_uri").map(str::to_string),
        ..AddOptions::default()
    };
    let files = vec![certificate, key];
    let id = app.uploads.keep(session.key(), files.clone(), true);
    details(&app, &session, &id, Store::Client, &files, &options).await
}
