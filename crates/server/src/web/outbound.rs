//! Pages: email templates (both languages side by side, with previews), the outbox with
//! retry, and each user's notification choices.

use super::desk::Choice;
use super::form::{self, Fields};
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome};
use crate::app::outbound::admin::{
    self, OutboundMailView, OutboxQuery, PreferenceItem, Preferences, PreviewInput, PreviewView,
    TemplateInput, TemplateView,
};
use crate::app::outbound::templates;
use crate::app::AppError;
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/mail-templates", get(templates_page))
        .route("/admin/mail-templates/{event}", get(edit_page))
        .route(
            "/admin/mail-templates/{event}/{locale}",
            post(save_template),
        )
        .route("/admin/outbox", get(outbox_page))
        .route("/admin/outbox/{id}/retry", post(retry))
        .route(
            "/profile/notifications",
            get(preferences_page).post(save_preferences),
        )
}

/// The Fluent key of an event's name: `ticket.status_changed` → `notify-event-ticket-status_changed`.
pub fn event_key(event: &str) -> String {
    format!("notify-event-{}", event.replace('.', "-"))
}

pub struct TemplateRow {
    pub event: String,
    pub label: String,
    /// (locale, customised) per language.
    pub locales: Vec<(String, bool)>,
}

#[derive(Template)]
#[template(path = "outbound_templates.html")]
struct TemplatesPage {
    c: Chrome,
    rows: Vec<TemplateRow>,
}

async fn templates_page(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        let c = Chrome::new(&u, "admin");
        let all = admin::list_templates(&s.app, &u.actor).await?;
        let rows = templates::EVENTS
            .iter()
            .map(|e| TemplateRow {
                event: e.to_string(),
                label: c.t(&event_key(e)),
                locales: all
                    .iter()
                    .filter(|t| t.event == *e)
                    .map(|t| (t.locale.clone(), t.customised))
                    .collect(),
            })
            .collect();
        Ok(render(StatusCode::OK, &TemplatesPage { c, rows }))
    }
    .await;
    finish(&u, r)
}

/// One language's column on the edit page.
pub struct Column {
    pub template: TemplateView,
    /// The text in the form (what was typed when a save or preview failed).
    pub subject: String,
    pub body: String,
    pub preview: Option<PreviewView>,
    pub error: Option<String>,
    pub error_field: String,
}

#[derive(Template)]
#[template(path = "outbound_template_edit.html")]
struct EditPage {
    c: Chrome,
    event: String,
    label: String,
    placeholders: String,
    columns: Vec<Column>,
    notice: Option<String>,
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

/// What the form of one language sent, to show again instead of the stored text.
struct Typed<'a> {
    locale: &'a str,
    subject: String,
    body: String,
    preview: Option<PreviewView>,
    error: Option<&'a AppError>,
}

async fn edit(
    s: &AppState,
    u: &WebUser,
    event: &str,
    typed: Option<Typed<'_>>,
    notice: Option<String>,
) -> Result<Response, AppError> {
    let c = Chrome::new(u, "admin");
    let mut columns = Vec::new();
    for lang in templates::LOCALES {
        let template = admin::get_template(&s.app, &u.actor, event, lang.code()).await?;
        let column = match &typed {
            Some(t) if t.locale == lang.code() => Column {
                subject: t.subject.clone(),
                body: t.body.clone(),
                preview: t.preview.clone(),
                error: t.error.map(|e| describe(u.lang, e)),
                error_field: t.error.map(super::portal::error_field).unwrap_or_default(),
                template,
            },
            _ => {
                let preview = admin::preview(
                    &s.app,
                    &u.actor,
                    event,
                    lang.code(),
                    PreviewInput::default(),
                )
                .await?;
                Column {
                    subject: template.subject.clone(),
                    body: template.body.clone(),
                    preview: Some(preview),
                    error: None,
                    error_field: String::new(),
                    template,
                }
            }
        };
        columns.push(column);
    }
    let placeholders = templates::placeholders(event)
        .iter()
        .map(|p| format!("{{{{{p}}}}}"))
        .collect::<Vec<_>>()
        .join(" ");
    let status = typed
        .as_ref()
        .and_then(|t| t.error)
        .map(status_of)
        .unwrap_or(StatusCode::OK);
    let page = EditPage {
        event: event.to_string(),
        label: c.t(&event_key(event)),
        placeholders,
        columns,
        notice,
        c,
    };
    Ok(render(status, &page))
}

async fn edit_page(
    State(s): State<AppState>,
    u: WebUser,
    Path(event): Path<String>,
    Query(d): Query<Done>,
) -> Response {
    let notice = match d.done.as_deref() {
        Some(k @ ("saved" | "reset")) => Some(u.lang.t(&format!("notify-done-{k}"))),
        _ => None,
    };
    let r = edit(&s, &u, &event, None, notice).await;
    finish(&u, r)
}

/// One language's form: `action` is save, preview or reset.
async fn save_template(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path((event, locale)): Path<(String, String)>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let subject = f.get("subject").to_string();
        let body = f.get("body").to_string();
        let back = format!("/admin/mail-templates/{event}");
        match f.get("action") {
            "reset" => {
                admin::reset_template(&s.app, &u.actor, &event, &locale).await?;
                Ok(see_other(&format!("{back}?done=reset")))
            }
            "preview" => {
                let input = PreviewInput {
                    subject: Some(subject.clone()),
                    body: Some(body.clone()),
                };
                let (preview, error) =
                    match admin::preview(&s.app, &u.actor, &event, &locale, input).await {
                        Ok(p) => (Some(p), None),
                        Err(e @ AppError::Invalid { .. }) => (None, Some(e)),
                        Err(e) => return Err(e),
                    };
                let typed = Typed {
                    locale: &locale,
                    subject,
                    body,
                    preview,
                    error: error.as_ref(),
                };
                edit(&s, &u, &event, Some(typed), None).await
            }
            _ => {
                let input = TemplateInput {
                    subject: subject.clone(),
                    body: body.clone(),
                };
                match admin::put_template(&s.app, &u.actor, &event, &locale, input).await {
                    Ok(_) => Ok(see_other(&format!("{back}?done=saved"))),
                    Err(e @ AppError::Invalid { .. }) => {
                        let typed = Typed {
                            locale: &locale,
                            subject,
                            body,
                            preview: None,
                            error: Some(&e),
                        };
                        edit(&s, &u, &event, Some(typed), None).await
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "outbound_outbox.html")]
struct OutboxPage {
    c: Chrome,
    filters: Vec<Choice>,
    mails: Vec<OutboundMailView>,
    next: Option<String>,
    status: String,
    notice: Option<String>,
}

#[derive(Deserialize)]
struct OutboxParams {
    status: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
}

async fn outbox_page(
    State(s): State<AppState>,
    u: WebUser,
    Query(p): Query<OutboxParams>,
) -> Response {
    let r = async {
        let c = Chrome::new(&u, "admin");
        let status = p.status.filter(|s| !s.is_empty());
        let page = admin::outbox(
            &s.app,
            &u.actor,
            &OutboxQuery {
                status: status.clone(),
                limit: Some(50),
                cursor: p.cursor,
            },
        )
        .await?;
        let filters = ["", "queued", "sent", "failed"]
            .iter()
            .map(|v| Choice {
                value: v.to_string(),
                label: c.t(&format!(
                    "notify-status-{}",
                    if v.is_empty() { "all" } else { v }
                )),
                selected: status.as_deref().unwrap_or("") == *v,
            })
            .collect();
        let notice = (p.done.as_deref() == Some("retry")).then(|| c.t("notify-done-retry"));
        Ok(render(
            StatusCode::OK,
            &OutboxPage {
                c,
                filters,
                mails: page.items,
                next: page.next_cursor,
                status: status.unwrap_or_default(),
                notice,
            },
        ))
    }
    .await;
    finish(&u, r)
}

async fn retry(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
        admin::retry(&s.app, &u.actor, id).await?;
        Ok(see_other("/admin/outbox?done=retry"))
    }
    .await;
    finish(&u, r)
}

pub struct PreferenceRow {
    pub event: String,
    pub label: String,
    pub email: bool,
}

#[derive(Template)]
#[template(path = "outbound_preferences.html")]
struct PreferencesPage {
    c: Chrome,
    rows: Vec<PreferenceRow>,
    notice: Option<String>,
}

async fn preferences_page(
    State(s): State<AppState>,
    u: WebUser,
    Query(d): Query<Done>,
) -> Response {
    let r = async {
        let c = Chrome::new(&u, "profile");
        let prefs = admin::my_preferences(&s.app, &u.actor).await?;
        let rows = prefs
            .items
            .into_iter()
            .map(|p| PreferenceRow {
                label: c.t(&event_key(&p.event)),
                event: p.event,
                email: p.email,
            })
            .collect();
        let notice = (d.done.as_deref() == Some("saved")).then(|| c.t("notify-done-saved"));
        Ok(render(StatusCode::OK, &PreferencesPage { c, rows, notice }))
    }
    .await;
    finish(&u, r)
}

/// Every event is on the form; a ticked box is email, an unticked one in-app only.
async fn save_preferences(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let ticked = f.all("email");
        let items = crate::app::events::EventKind::ALL
            .iter()
            .map(|k| PreferenceItem {
                event: k.as_str().to_string(),
                email: ticked.contains(&k.as_str()),
            })
            .collect();
        admin::set_my_preferences(&s.app, &u.actor, Preferences { items }).await?;
        Ok(see_other("/profile/notifications?done=saved"))
    }
    .await;
    finish(&u, r)
}
