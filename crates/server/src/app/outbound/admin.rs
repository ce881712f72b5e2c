//! The use-cases around outbound mail: admins' templates (with previews) and the outbox,
//! each user's notification choices, and a ticket's mail for the staff who work it.

use super::compose::{self, enqueue_send};
use super::templates::{self, LOCALES, REJECTED};
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use crate::app::events::EventKind;
use crate::app::views::{instant, Page};
use crate::i18n::Lang;
use serde::{Deserialize, Serialize};
use steward_core::text::{multi_line, single_line};
use steward_core::Capability;
use steward_store::outbound::{self as store, MailTemplate, OutboundMail};
use utoipa::{IntoParams, ToSchema};

const SUBJECT_MAX: usize = 200;
const BODY_MAX: usize = 20_000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateView {
    /// A ticket event (ticket.created, ...) or mail.rejected.
    pub event: String,
    /// zh-CN or en
    pub locale: String,
    pub subject: String,
    pub body: String,
    /// Whether an admin's wording replaces the built-in one.
    pub customised: bool,
    /// The `{{name}}` placeholders this template may use.
    pub placeholders: Vec<String>,
    /// The admin's wording's version; 0 for the built-in.
    pub version: i64,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// One line; the ticket tag is put before it when the mail is sent.
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// Wording to try; the stored (or built-in) wording when absent.
    pub subject: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PreviewView {
    pub event: String,
    pub locale: String,
    /// As the recipient sees it, ticket tag included.
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PreferenceItem {
    /// A ticket event: ticket.created, ticket.replied, ...
    pub event: String,
    /// True: by email and in the app; false: in the app only.
    pub email: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Preferences {
    pub items: Vec<PreferenceItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutboundMailView {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub ticket_number: Option<String>,
    pub recipient_id: Option<i64>,
    pub to_address: String,
    pub event: String,
    pub locale: String,
    pub subject: String,
    pub body_text: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    /// The References header.
    pub thread_refs: Option<String>,
    /// queued, sent or failed
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

impl From<&OutboundMail> for OutboundMailView {
    fn from(m: &OutboundMail) -> Self {
        OutboundMailView {
            id: m.id,
            ticket_id: m.ticket_id,
            ticket_number: m.ticket_number.clone(),
            recipient_id: m.recipient_id,
            to_address: m.to_address.clone(),
            event: m.event.clone(),
            locale: m.locale.clone(),
            subject: m.subject.clone(),
            body_text: m.body_text.clone(),
            message_id: m.message_id.clone(),
            in_reply_to: m.in_reply_to.clone(),
            thread_refs: m.thread_refs.clone(),
            status: m.status.clone(),
            attempts: m.attempts,
            last_error: m.last_error.clone(),
            created_at: instant(m.created_at),
            sent_at: m.sent_at.map(instant),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// queued, sent or failed
    pub status: Option<String>,
    /// 1..200, default 50
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The event and language a template path names; anything else does not exist (404).
fn template_key(event: &str, locale: &str) -> AppResult<(&'static str, Lang)> {
    let event = templates::EVENTS
        .into_iter()
        .find(|e| *e == event)
        .ok_or(AppError::NotFound)?;
    let lang = LOCALES
        .into_iter()
        .find(|l| l.code() == locale)
        .ok_or(AppError::NotFound)?;
    Ok((event, lang))
}

/// The audit log names a template by its place in the listing (1 to 18).
fn audit_id(event: &str, lang: Lang) -> i64 {
    let e = templates::EVENTS
        .iter()
        .position(|x| *x == event)
        .unwrap_or_default();
    let l = LOCALES.iter().position(|x| *x == lang).unwrap_or_default();
    (e * LOCALES.len() + l + 1) as i64
}

fn view(event: &str, lang: Lang, stored: Option<&MailTemplate>) -> TemplateView {
    let (subject, body) = match stored {
        Some(t) => (t.subject.clone(), t.body.clone()),
        None => templates::builtin(event, lang)
            .map(|(s, b)| (s.to_string(), b.to_string()))
            .unwrap_or_default(),
    };
    TemplateView {
        event: event.to_string(),
        locale: lang.code().to_string(),
        subject,
        body,
        customised: stored.is_some(),
        placeholders: templates::placeholders(event)
            .iter()
            .map(|p| p.to_string())
            .collect(),
        version: stored.map(|t| t.version).unwrap_or_default(),
        updated_at: stored.map(|t| instant(t.updated_at)),
    }
}

pub async fn list_templates(app: &App, actor: &Actor) -> AppResult<Vec<TemplateView>> {
    actor.require(Capability::ManageAccounts)?;
    let mut conn = app.read().await?;
    let stored = store::templates(&mut conn).await?;
    let mut out = Vec::new();
    for event in templates::EVENTS {
        for lang in LOCALES {
            let s = stored
                .iter()
                .find(|t| t.event == event && t.locale == lang.code());
            out.push(view(event, lang, s));
        }
    }
    Ok(out)
}

pub async fn get_template(
    app: &App,
    actor: &Actor,
    event: &str,
    locale: &str,
) -> AppResult<TemplateView> {
    actor.require(Capability::ManageAccounts)?;
    let (event, lang) = template_key(event, locale)?;
    let mut conn = app.read().await?;
    let stored = store::get_template(&mut conn, event, lang.code()).await?;
    Ok(view(event, lang, stored.as_ref()))
}

/// The subject and body, checked: required, the subject one line, only known placeholders.
fn checked(event: &str, subject: &str, body: &str) -> AppResult<(String, String)> {
    let subject = crate::app::error::text_field("subject", single_line(subject, SUBJECT_MAX))?;
    let body = crate::app::error::text_field("body", multi_line(body, BODY_MAX, true))?;
    let allowed = templates::placeholders(event);
    for (field, text) in [("subject", &subject), ("body", &body)] {
        if let Some(p) = templates::unknown_placeholders(text, allowed).first() {
            return Err(AppError::invalid(
                field,
                format!(
                    "unknown placeholder {{{{{p}}}}}; known: {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok((subject, body))
}

pub async fn put_template(
    app: &App,
    actor: &Actor,
    event: &str,
    locale: &str,
    input: TemplateInput,
) -> AppResult<TemplateView> {
    actor.require(Capability::ManageAccounts)?;
    let (event, lang) = template_key(event, locale)?;
    let (subject, body) = checked(event, &input.subject, &input.body)?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                let old = store::get_template(&mut ctx.conn, event, lang.code()).await?;
                let before = view(event, lang, old.as_ref());
                let t = MailTemplate {
                    event: event.to_string(),
                    locale: lang.code().to_string(),
                    subject,
                    body,
                    version: old.as_ref().map(|o| o.version).unwrap_or_default() + 1,
                    updated_at: now,
                };
                store::put_template(&mut ctx.conn, &t).await?;
                let key = format!("{event}/{}", lang.code());
                AuditTrail::new(&actor, "mail_template", audit_id(event, lang), now)
                    .changes(
                        ctx,
                        &[
                            (
                                &format!("{key} subject"),
                                Some(before.subject),
                                Some(t.subject.clone()),
                            ),
                            (
                                &format!("{key} body"),
                                Some(before.body),
                                Some(t.body.clone()),
                            ),
                        ],
                    )
                    .await?;
                Ok(view(event, lang, Some(&t)))
            })
        })
        .await
}

/// Removes the admin's wording: the built-in one applies again.
pub async fn reset_template(
    app: &App,
    actor: &Actor,
    event: &str,
    locale: &str,
) -> AppResult<TemplateView> {
    actor.require(Capability::ManageAccounts)?;
    let (event, lang) = template_key(event, locale)?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                if store::delete_template(&mut ctx.conn, event, lang.code()).await? {
                    AuditTrail::new(&actor, "mail_template", audit_id(event, lang), now)
                        .record(
                            ctx,
                            "reset",
                            Some(&format!("{event}/{}", lang.code())),
                            None,
                            None,
                        )
                        .await?;
                }
                Ok(view(event, lang, None))
            })
        })
        .await
}

/// Renders the given (or stored) wording with sample values in the template's language.
pub async fn preview(
    app: &App,
    actor: &Actor,
    event: &str,
    locale: &str,
    input: PreviewInput,
) -> AppResult<PreviewView> {
    actor.require(Capability::ManageAccounts)?;
    let (event, lang) = template_key(event, locale)?;
    let (stored_subject, stored_body) = {
        let mut conn = app.read().await?;
        compose::wording(&mut conn, event, lang).await?
    };
    let (subject, body) = checked(
        event,
        input.subject.as_deref().unwrap_or(&stored_subject),
        input.body.as_deref().unwrap_or(&stored_body),
    )?;
    let values = templates::sample_values(event, lang);
    let mut subject = templates::fill(&subject, &values);
    if event != REJECTED {
        subject = format!("[INC-000123] {subject}");
    }
    Ok(PreviewView {
        event: event.to_string(),
        locale: lang.code().to_string(),
        subject: templates::header_text(&subject),
        body: templates::fill(&body, &values),
    })
}

pub async fn my_preferences(app: &App, actor: &Actor) -> AppResult<Preferences> {
    let mut conn = app.read().await?;
    let chosen = store::preferences(&mut conn, actor.user_id).await?;
    Ok(Preferences {
        items: EventKind::ALL
            .iter()
            .map(|k| PreferenceItem {
                event: k.as_str().to_string(),
                email: chosen
                    .iter()
                    .find(|(e, _)| e == k.as_str())
                    .is_none_or(|(_, email)| *email),
            })
            .collect(),
    })
}

/// Sets the listed events' choices; events not listed keep theirs.
pub async fn set_my_preferences(
    app: &App,
    actor: &Actor,
    input: Preferences,
) -> AppResult<Preferences> {
    let mut changes = Vec::new();
    for (i, item) in input.items.iter().enumerate() {
        let kind = EventKind::parse(&format!("items[{i}].event"), &item.event)?;
        changes.push((kind, item.email));
    }
    let current = my_preferences(app, actor).await?;
    let actor_ = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                let trail = AuditTrail::new(&actor_, "user", actor_.user_id, now);
                let label = |email: bool| Some(if email { "email" } else { "in_app" }.to_string());
                for (kind, email) in changes {
                    let old = current
                        .items
                        .iter()
                        .find(|p| p.event == kind.as_str())
                        .is_none_or(|p| p.email);
                    store::set_preference(&mut ctx.conn, actor_.user_id, kind.as_str(), email)
                        .await?;
                    trail
                        .changes(
                            ctx,
                            &[(
                                &format!("notify {}", kind.as_str()),
                                label(old),
                                label(email),
                            )],
                        )
                        .await?;
                }
                Ok::<_, AppError>(())
            })
        })
        .await?;
    my_preferences(app, actor).await
}

pub async fn outbox(
    app: &App,
    actor: &Actor,
    q: &OutboxQuery,
) -> AppResult<Page<OutboundMailView>> {
    actor.require(Capability::ManageAccounts)?;
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = status {
        if ![store::QUEUED, store::SENT, store::FAILED].contains(&s) {
            return Err(AppError::invalid(
                "status",
                "must be queued, sent or failed",
            ));
        }
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 200"));
    }
    let before = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| AppError::invalid("cursor", "is not a cursor from this listing"))
        })
        .transpose()?;
    let mut conn = app.read().await?;
    let rows = store::list(&mut conn, status, before, limit).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|m| m.id.to_string()))
        .flatten();
    Ok(Page {
        items: rows.iter().map(OutboundMailView::from).collect(),
        next_cursor,
    })
}

/// Sends a failed mail again: back in the queue with fresh attempts.
pub async fn retry(app: &App, actor: &Actor, id: i64) -> AppResult<OutboundMailView> {
    actor.require(Capability::ManageAccounts)?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                let mail = store::get(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                if !store::requeue(&mut ctx.conn, id).await? {
                    return Err(AppError::Conflict {
                        message: format!(
                            "only a failed mail is sent again; this one is {}",
                            mail.status
                        ),
                        allowed: None,
                    });
                }
                enqueue_send(&mut ctx.conn, id, now).await?;
                AuditTrail::new(&actor, "outbound_mail", id, now)
                    .record(
                        ctx,
                        "retry",
                        Some("status"),
                        Some(mail.status),
                        Some(store::QUEUED.into()),
                    )
                    .await?;
                let mail = store::get(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                Ok(OutboundMailView::from(&mail))
            })
        })
        .await
}

/// The mail sent about a ticket, for staff who can see the ticket. Requesters do not see
/// other people's mail.
pub async fn of_ticket(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
) -> AppResult<Vec<OutboundMailView>> {
    actor.require(Capability::WorkTickets)?;
    let mut conn = app.read().await?;
    actor.visible_ticket(&mut conn, ticket_id).await?;
    let rows = store::of_ticket(&mut conn, ticket_id).await?;
    Ok(rows.iter().map(OutboundMailView::from).collect())
}
