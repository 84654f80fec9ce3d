//! Pieces several pages share: the CSRF field, badges, sync states, findings, a certificate's
//! details and a plan.

use keyway_stores::{
    CertificateSummary, ChangeAction, CrlSummary, FileReport, Finding, Level, Plan, ResourceChange,
    SecretAction, SyncState,
};
use maud::{Markup, html};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::session::Session;

/// The hidden field every state-changing form carries.
pub(crate) fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf()); }
}

/// A table's header row: `names`, and a last, visually hidden "Actions" column when `actions`.
pub(crate) fn columns(names: &[&str], actions: bool) -> Markup {
    html! {
        thead {
            tr {
                @for name in names { th scope="col" { (name) } }
                @if actions { th scope="col" { span.visually-hidden { "Actions" } } }
            }
        }
    }
}

/// A removal form's "also delete the Key Vault secret" box, unchecked.
pub(crate) fn include_secrets_box() -> Markup {
    html! {
        p {
            input type="checkbox" id="include_secrets" name="include_secrets" value="true";
            label for="include_secrets" { "Also delete the Key Vault secret (deleted and purged; it cannot be recovered)" }
        }
    }
}

/// What became of the Key Vault secrets after a removal, for its notice.
pub(crate) fn kept_or_purged(done: &keyway_stores::Removal) -> String {
    if done.secrets_purged.is_empty() {
        "the Key Vault secret stays".to_string()
    } else {
        format!(
            "Key Vault secrets purged: {}",
            done.secrets_purged.join(", ")
        )
    }
}

/// A time as RFC 3339.
pub(crate) fn when(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// The validity badge of a certificate: expired, expiring (the library's `expires_soon`
/// finding, within the configured warning window) or valid.
pub(crate) fn validity(certificate: &CertificateSummary, findings: &[Finding]) -> Markup {
    if certificate.days_left < 0 || findings.iter().any(|f| f.code == "expired") {
        html! { span.badge.expired { "expired" } }
    } else if findings.iter().any(|f| f.code == "expires_soon") {
        html! { span.badge.expiring { "expires in " (certificate.days_left) " days" } }
    } else {
        html! { span.badge.valid { "valid" } }
    }
}

/// A sync state with its reason.
pub(crate) fn sync_state(state: &SyncState) -> Markup {
    match state {
        SyncState::Synced => html! { span.badge.valid { "synced" } },
        SyncState::Pending { reason } => html! {
            span.badge.pending { "pending" } " " span.reason { (reason) }
        },
        SyncState::Failed { reason } => html! {
            span.badge.expired { "failed" } " " span.reason { (reason) }
        },
    }
}

/// Findings as a list (nothing when there are none).
pub(crate) fn findings(findings: &[Finding]) -> Markup {
    html! {
        @if !findings.is_empty() {
            ul.findings {
                @for f in findings {
                    li class=(match f.level { Level::Warning => "warning", Level::Info => "info" }) {
                        code { (f.code) } ": " (f.message)
                    }
                }
            }
        }
    }
}

/// A certificate's details as a definition list.
pub(crate) fn certificate(c: &CertificateSummary) -> Markup {
    html! {
        dl.details {
            dt { "Subject" } dd { (c.subject) }
            dt { "Issuer" } dd { (c.issuer) }
            dt { "SHA-1 thumbprint" } dd.thumbprint { (c.sha1) }
            dt { "SHA-256 thumbprint" } dd.thumbprint { (c.sha256) }
            dt { "Not before" } dd { (when(c.not_before)) }
            dt { "Not after" } dd { (when(c.not_after)) " (" (days(c.days_left)) ")" }
            dt { "Certificate authority" } dd { @if c.is_ca { "yes" } @else { "no" } }
            @if !c.san.is_empty() {
                dt { "Subject alternative names" } dd { (c.san.join(", ")) }
            }
        }
    }
}

/// A CRL's details.
pub(crate) fn crl(c: &CrlSummary) -> Markup {
    html! {
        dl.details {
            dt { "CRL issuer" } dd { (c.issuer) }
            dt { "This update" } dd { (when(c.this_update)) }
            dt { "Next update" } dd { (c.next_update.map_or("none".to_string(), when)) }
            dt { "Revoked certificates" } dd { (c.revoked) }
            @if let Some(signer) = &c.signed_by {
                dt { "Signed by" } dd { (signer) }
            }
        }
    }
}

/// `12 days left` or `expired 3 days ago`.
pub(crate) fn days(days_left: i64) -> String {
    if days_left < 0 {
        format!("expired {} days ago", -days_left)
    } else {
        format!("{days_left} days left")
    }
}

/// One checked file: its details, findings and refusals.
pub(crate) fn file_report(report: &FileReport) -> Markup {
    html! {
        section.file {
            h3 { (report.file) }
            p.meta {
                "Key Vault secret " code { (report.secret_name) }
                @if let Some(content_type) = &report.content_type {
                    " · content type " code { (content_type) }
                }
            }
            @if let Some(c) = &report.certificate { (certificate(c)) }
            @if let Some(c) = &report.crl { (crl(c)) }
            @if report.kind == Some(keyway_stores::FileKind::PrivateKey) && report.refusals.is_empty() {
                p { "A private key that matches the certificate (checked). It is uploaded to Key Vault and never shown." }
            }
            (findings(&report.findings))
            @if !report.refusals.is_empty() {
                ul.refusals role="alert" {
                    @for r in &report.refusals { li { (option_labels(r)) } }
                }
            }
        }
    }
}

fn change(change: &ResourceChange) -> Markup {
    html! {
        li {
            (change.kind) " " code { (change.name) } ": " (change_word(change.action))
            @for a in &change.added { br; "+ " code { (a) } }
            @for r in &change.removed { br; "− " code { (r) } }
        }
    }
}

fn change_word(action: ChangeAction) -> &'static str {
    match action {
        ChangeAction::Create => "created",
        ChangeAction::Update => "updated",
        ChangeAction::Delete => "deleted",
        ChangeAction::Unchanged => "unchanged",
    }
}

/// What a plan would write, and why it is refused when it is.
pub(crate) fn plan(plan: &Plan) -> Markup {
    html! {
        @for report in &plan.files { (file_report(report)) }
        @if plan.is_refused() {
            section.refused role="alert" {
                h2 { "Refused — nothing will be written" }
                @if plan.files.iter().any(|f| !f.refusals.is_empty()) {
                    p { "The reasons are given with the file above." }
                }
                @if !plan.refusals.is_empty() {
                    ul { @for r in &plan.refusals { li { (option_labels(r)) } } }
                }
            }
        } @else {
            section.plan {
                h2 { "What Apply writes" }
                ul {
                    @for s in &plan.secrets {
                        li {
                            "Key Vault secret " code { (s.name) } ": "
                            (match s.action {
                                SecretAction::Create => "created",
                                SecretAction::NewVersion => "new version",
                                SecretAction::Unchanged => "already holds these bytes (no new version)",
                            })
                        }
                    }
                    (change(&plan.provider_class))
                    (change(&plan.secret_sync))
                }
                @if let Some(settings) = &plan.connector_settings {
                    h3 { "Connector settings to apply" }
                    dl.details {
                        @for (key, value) in settings.config() {
                            dt { code { (key) } } dd { (value) }
                        }
                    }
                    p { "On a Kubernetes target, apply them with:" }
                    pre { (settings.az_command()) }
                }
            }
        }
        @if !plan.warnings.is_empty() {
            ul.findings { @for w in &plan.warnings { li.warning { (w) } } }
        }
    }
}

/// A library refusal with the option fields it names said as this page's checkboxes.
pub(crate) fn option_labels(text: &str) -> String {
    text.replace("(`with_crl`)", "(check “Also remove its CRLs”)")
        .replace("in the same command or first", "first")
        .replace("`allow_expired`", "“Add even if expired”")
        .replace("`overwrite_secret`", "“Write a new version”")
        .replace("`with_crl`", "“Also remove its CRLs”")
        .replace("`include_secrets`", "“Also delete the Key Vault secret”")
        .replace(
            "`SecretValue::Existing`",
            "“Use the vault's existing secret”",
        )
        .replace("`SecretValue::Bytes`", "“Create a new value”")
}

/// A notice above a page (the result of the last change), with its command line to copy.
pub(crate) fn notice(flash: Option<&crate::flash::Flash>) -> Markup {
    html! {
        @if let Some(flash) = flash {
            div.notice role="status" {
                p { (flash.text) }
                @if let Some(command) = &flash.command { pre { (command) } }
            }
        }
    }
}
