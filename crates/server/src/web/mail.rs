//! Pages: Mailboxes and the quarantine of received mail. Admins only (403 for everyone else).

use super::desk::Choice;
use super::form::{self, Fields};
use super::portal::error_field;
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome};
use crate::api::mail::eml_response;
use crate::app::inbound::mailboxes::{self, MailboxInput, MailboxPatch, MailboxView};
use crate::app::inbound::messages::{self, MessageDetail, MessageView};
use crate::app::{accounts, catalogue, AppError};
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use steward_core::Capability;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/mailboxes", get(mailboxes).post(create_mailbox))
        .route(
            "/admin/mailboxes/{id}",
            get(edit_mailbox).post(update_mailbox),
        )
        .route("/admin/quarantine", get(quarantine))
        .route("/admin/quarantine/{id}", get(message))
        .route("/admin/quarantine/{id}/raw", get(raw))
        .route("/admin/quarantine/{id}/reprocess", post(reprocess))
        .route("/admin/quarantine/{id}/dismiss", post(dismiss))
        .route("/messages/{id}/raw", get(raw))
}

fn require_admin(u: &WebUser) -> Result<(), AppError> {
    u.actor.require(Capability::ManageAccounts)
}

fn parse_id(raw: &str) -> Result<i64, AppError> {
    raw.parse().map_err(|_| AppError::NotFound)
}

fn is_form_error(e: &AppError) -> bool {
    matches!(
        e,
        AppError::Invalid { .. } | AppError::Conflict { .. } | AppError::Stale
    )
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

fn notice(u: &WebUser, done: Option<&str>) -> Option<String> {
    match done {
        Some("saved") => Some(u.lang.t("done-saved")),
        Some("created") => Some(u.lang.t("mail-done-created")),
        Some("reprocessed") => Some(u.lang.t("mail-done-reprocessed")),
        Some("dismissed") => Some(u.lang.t("mail-done-dismissed")),
        _ => None,
    }
}

/// What the mailbox form shows: the mailbox, or what was typed when saving failed.
#[derive(Default)]
pub struct MailboxForm {
    pub address: String,
    pub name: String,
    pub team_id: Option<i64>,
    pub service_id: Option<i64>,
    pub create_requesters: bool,
    pub unknown_sender: String,
    pub imap_host: String,
    pub imap_port: String,
    pub imap_security: String,
    pub imap_username: String,
    pub imap_password_set: bool,
    pub imap_folder: String,
    pub imap_after: String,
    pub imap_done_folder: String,
    pub active: bool,
    pub version: i64,
}

impl MailboxForm {
    fn from_view(v: &MailboxView) -> MailboxForm {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        MailboxForm {
            address: v.address.clone(),
            name: v.name.clone(),
            team_id: v.team_id,
            service_id: v.service_id,
            create_requesters: v.create_requesters,
            unknown_sender: v.unknown_sender.clone(),
            imap_host: text(&v.imap_host),
            imap_port: v.imap_port.map(|p| p.to_string()).unwrap_or_default(),
            imap_security: text(&v.imap_security),
            imap_username: text(&v.imap_username),
            imap_password_set: v.imap_password_set,
            imap_folder: text(&v.imap_folder),
            imap_after: text(&v.imap_after),
            imap_done_folder: text(&v.imap_done_folder),
            active: v.active,
            version: v.version,
        }
    }

    fn from_fields(f: &Fields) -> MailboxForm {
        MailboxForm {
            address: f.get("address").into(),
            name: f.get("name").into(),
            team_id: f.id("team_id").ok().flatten(),
            service_id: f.id("service_id").ok().flatten(),
            create_requesters: f.has("create_requesters"),
            unknown_sender: f.get("unknown_sender").into(),
            imap_host: f.get("imap_host").into(),
            imap_port: f.get("imap_port").into(),
            imap_security: f.get("imap_security").into(),
            imap_username: f.get("imap_username").into(),
            imap_password_set: false,
            imap_folder: f.get("imap_folder").into(),
            imap_after: f.get("imap_after").into(),
            imap_done_folder: f.get("imap_done_folder").into(),
            active: f.has("active"),
            version: f.version().unwrap_or_default(),
        }
    }
}

fn port(f: &Fields) -> Result<Option<i64>, AppError> {
    f.opt("imap_port")
        .map(|p| {
            p.trim()
                .parse()
                .map_err(|_| AppError::invalid("imap_port", "must be a number"))
        })
        .transpose()
}

/// The choices of the mailbox form.
struct Choices {
    teams: Vec<Choice>,
    services: Vec<Choice>,
    policies: Vec<Choice>,
    securities: Vec<Choice>,
    afters: Vec<Choice>,
}

async fn choices(s: &AppState, u: &WebUser, form: &MailboxForm) -> Result<Choices, AppError> {
    let teams = accounts::list_teams(&s.app, &u.actor)
        .await?
        .into_iter()
        .map(|t| Choice {
            value: t.id.to_string(),
            label: t.name,
            selected: form.team_id == Some(t.id),
        })
        .collect();
    let zh = u.lang == crate::i18n::Lang::ZhCn;
    let services = catalogue::list_services(&s.app, &u.actor)
        .await?
        .into_iter()
        .map(|v| Choice {
            value: v.id.to_string(),
            label: format!("{} {}", v.code, v.name(&zh)),
            selected: form.service_id == Some(v.id),
        })
        .collect();
    let options = |prefix: &str, values: &[&str], current: &str| -> Vec<Choice> {
        values
            .iter()
            .map(|v| Choice {
                value: v.to_string(),
                label: u.lang.t(&format!("{prefix}-{v}")),
                selected: current == *v,
            })
            .collect()
    };
    Ok(Choices {
        teams,
        services,
        policies: options(
            "mail-unknown",
            &["quarantine", "reject"],
            &form.unknown_sender,
        ),
        securities: options(
            "mail-security",
            &["tls", "starttls", "none"],
            &form.imap_security,
        ),
        afters: options("mail-after", &["flag", "move"], &form.imap_after),
    })
}

#[derive(Template)]
#[template(path = "mail_mailboxes.html")]
struct MailboxesPage {
    c: Chrome,
    /// Each mailbox with its last poll time, formatted.
    rows: Vec<(MailboxView, String)>,
    form: MailboxForm,
    choices: Choices,
    error: Option<String>,
    error_field: String,
    notice: Option<String>,
}

async fn mailboxes_page(
    s: &AppState,
    u: &WebUser,
    form: MailboxForm,
    error: Option<&AppError>,
    notice: Option<String>,
) -> Result<Response, AppError> {
    require_admin(u)?;
    let c = Chrome::new(u, "admin");
    let rows = mailboxes::list_mailboxes(&s.app, &u.actor)
        .await?
        .into_iter()
        .map(|m| {
            let polled = m
                .imap_last_polled_at
                .map(|t| c.time_micros(t))
                .unwrap_or_default();
            (m, polled)
        })
        .collect();
    let page = MailboxesPage {
        choices: choices(s, u, &form).await?,
        c,
        rows,
        form,
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(error_field).unwrap_or_default(),
        notice,
    };
    Ok(render(
        error.map(status_of).unwrap_or(StatusCode::OK),
        &page,
    ))
}

async fn mailboxes(State(s): State<AppState>, u: WebUser, Query(d): Query<Done>) -> Response {
    let form = MailboxForm {
        unknown_sender: "quarantine".into(),
        active: true,
        ..MailboxForm::default()
    };
    let r = mailboxes_page(&s, &u, form, None, notice(&u, d.done.as_deref())).await;
    finish(&u, r)
}

async fn create_mailbox(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        require_admin(&u)?;
        form::check(&u, &headers, &f)?;
        let result = async {
            let input = MailboxInput {
                address: f.get("address").into(),
                name: f.get("name").into(),
                team_id: f.id("team_id")?,
                service_id: f.id("service_id")?,
                create_requesters: f.has("create_requesters"),
                unknown_sender: f.opt("unknown_sender"),
                imap_host: None,
                imap_port: None,
                imap_security: None,
                imap_username: None,
                imap_password: None,
                imap_folder: None,
                imap_after: None,
                imap_done_folder: None,
                active: Some(true),
            };
            mailboxes::create_mailbox(&s.app, &u.actor, input).await
        }
        .await;
        match result {
            Ok(m) => Ok(see_other(&format!(
                "/admin/mailboxes/{}?done=created",
                m.id
            ))),
            Err(e) if is_form_error(&e) => {
                mailboxes_page(&s, &u, MailboxForm::from_fields(&f), Some(&e), None).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "mail_mailbox.html")]
struct MailboxPage {
    c: Chrome,
    id: i64,
    last_polled: String,
    view: MailboxView,
    form: MailboxForm,
    choices: Choices,
    error: Option<String>,
    error_field: String,
    notice: Option<String>,
}

async fn mailbox_page(
    s: &AppState,
    u: &WebUser,
    id: i64,
    form: Option<MailboxForm>,
    error: Option<&AppError>,
    notice: Option<String>,
) -> Result<Response, AppError> {
    require_admin(u)?;
    let view = mailboxes::get_mailbox(&s.app, &u.actor, id).await?;
    let mut form = form.unwrap_or_else(|| MailboxForm::from_view(&view));
    form.imap_password_set = view.imap_password_set;
    let c = Chrome::new(u, "admin");
    let page = MailboxPage {
        choices: choices(s, u, &form).await?,
        last_polled: view
            .imap_last_polled_at
            .map(|t| c.time_micros(t))
            .unwrap_or_default(),
        c,
        id,
        view,
        form,
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(error_field).unwrap_or_default(),
        notice,
    };
    Ok(render(
        error.map(status_of).unwrap_or(StatusCode::OK),
        &page,
    ))
}

async fn edit_mailbox(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(d): Query<Done>,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        mailbox_page(&s, &u, id, None, None, notice(&u, d.done.as_deref())).await
    }
    .await;
    finish(&u, r)
}

async fn update_mailbox(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        require_admin(&u)?;
        let id = parse_id(&id)?;
        form::check(&u, &headers, &f)?;
        let result = async {
            let patch = MailboxPatch {
                address: Some(f.get("address").into()),
                name: Some(f.get("name").into()),
                team_id: Some(f.id("team_id")?),
                service_id: Some(f.id("service_id")?),
                create_requesters: Some(f.has("create_requesters")),
                unknown_sender: Some(f.get("unknown_sender").into()),
                imap_host: Some(f.opt("imap_host")),
                imap_port: Some(port(&f)?),
                imap_security: Some(f.opt("imap_security")),
                imap_username: Some(f.opt("imap_username")),
                // A blank password field keeps the stored one; a ticked box removes it.
                imap_password: if f.has("imap_password_clear") {
                    Some(None)
                } else {
                    f.opt("imap_password").map(Some)
                },
                imap_folder: Some(f.opt("imap_folder")),
                imap_after: Some(f.opt("imap_after")),
                imap_done_folder: Some(f.opt("imap_done_folder")),
                active: Some(f.has("active")),
            };
            mailboxes::update_mailbox(&s.app, &u.actor, id, patch, f.version()).await
        }
        .await;
        match result {
            Ok(_) => Ok(see_other(&format!("/admin/mailboxes/{id}?done=saved"))),
            Err(e) if is_form_error(&e) => {
                let form = MailboxForm::from_fields(&f);
                mailbox_page(&s, &u, id, Some(form), Some(&e), None).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "mail_quarantine.html")]
struct QuarantinePage {
    c: Chrome,
    /// Each message with its arrival time, formatted.
    rows: Vec<(MessageView, String)>,
    notice: Option<String>,
}

async fn quarantine(State(s): State<AppState>, u: WebUser, Query(d): Query<Done>) -> Response {
    let r = async {
        require_admin(&u)?;
        let rows = messages::list_messages(
            &s.app,
            &u.actor,
            Some("quarantined".into()),
            None,
            Some(200),
        )
        .await?;
        let c = Chrome::new(&u, "admin");
        let rows = rows
            .into_iter()
            .map(|m| {
                let at = c.time_micros(m.received_at);
                (m, at)
            })
            .collect();
        let page = QuarantinePage {
            c,
            rows,
            notice: notice(&u, d.done.as_deref()),
        };
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "mail_message.html")]
struct MessagePage {
    c: Chrome,
    d: MessageDetail,
    received: String,
    notice: Option<String>,
}

async fn message(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(d): Query<Done>,
) -> Response {
    let r = async {
        require_admin(&u)?;
        let id = parse_id(&id)?;
        let detail = messages::get_message(&s.app, &u.actor, id).await?;
        let c = Chrome::new(&u, "admin");
        let page = MessagePage {
            received: c.time_micros(detail.message.received_at),
            d: detail,
            c,
            notice: notice(&u, d.done.as_deref()),
        };
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

async fn raw(State(s): State<AppState>, u: WebUser, Path(id): Path<String>) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        let bytes = messages::raw_message(&s.app, &u.actor, id).await?;
        Ok(eml_response(id, bytes))
    }
    .await;
    finish(&u, r)
}

async fn reprocess(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        form::check(&u, &headers, &f)?;
        messages::reprocess(&s.app, &u.actor, id).await?;
        Ok(see_other(&format!(
            "/admin/quarantine/{id}?done=reprocessed"
        )))
    }
    .await;
    finish(&u, r)
}

async fn dismiss(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        form::check(&u, &headers, &f)?;
        messages::dismiss(&s.app, &u.actor, id).await?;
        Ok(see_other("/admin/quarantine?done=dismissed"))
    }
    .await;
    finish(&u, r)
}

/// One message on the ticket page.
pub struct MailItem {
    pub id: i64,
    pub at: String,
    pub from: String,
    /// The outcome, translated.
    pub outcome: String,
    pub failure: bool,
    /// The quoted history of a reply, folded away on the page (staff only).
    pub quoted: String,
    /// Staff may download the original.
    pub staff: bool,
}

/// Messages parsed again for their quoted history, newest first; older ones show without it.
const QUOTED_MESSAGES: usize = 20;

/// The mail of a ticket for its page. Requesters see only their mail that became the ticket
/// or a reply (app::inbound::messages decides).
pub async fn ticket_mail(
    s: &crate::app::App,
    u: &WebUser,
    c: &Chrome,
    ticket_id: i64,
) -> Result<Vec<MailItem>, AppError> {
    let staff = u.actor.can(Capability::WorkTickets) || u.actor.can(Capability::ManageAccounts);
    let list = messages::ticket_messages(s, &u.actor, ticket_id).await?;
    let count = list.len();
    let mut out = Vec::with_capacity(count);
    for (i, m) in list.into_iter().enumerate() {
        let quoted = if staff && count - i <= QUOTED_MESSAGES {
            messages::get_message(s, &u.actor, m.id)
                .await
                .map(|d| d.quoted)
                .unwrap_or_default()
        } else {
            String::new()
        };
        out.push(MailItem {
            id: m.id,
            at: c.time_micros(m.received_at),
            from: m.from_address.clone().unwrap_or_default(),
            outcome: m
                .outcome
                .as_deref()
                .map(|o| c.label("mail-outcome", o))
                .unwrap_or_default(),
            failure: m.outcome.as_deref() == Some("bounce"),
            quoted,
            staff,
        });
    }
    Ok(out)
}
