//! Received messages as people see them: the quarantine (admins), a message's headers, text
//! and original (.eml), re-processing after a fix, dismissing, and the mail of a ticket.

use super::{parse, process, quote};
use crate::app::{now, Actor, App, AppError, AppResult, AuditTrail};
use bytes::Bytes;
use object_store::path::Path;
use serde::Serialize;
use steward_core::Capability;
use steward_store::mail::{self, Disposition, InboundMessage, MessageFilter};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub mailbox_id: Option<i64>,
    pub message_id: String,
    pub size: i64,
    /// mailgate or imap
    pub source: String,
    pub from_address: Option<String>,
    pub subject: Option<String>,
    /// received, processed, quarantined or ignored
    pub status: String,
    /// ticket_created, comment_added, auto_reply, bounce, rejected, own_address, dismissed
    pub outcome: Option<String>,
    /// Why it was quarantined, or which attachments were not kept.
    pub reason: Option<String>,
    pub ticket_id: Option<i64>,
    pub comment_id: Option<i64>,
    pub attempts: i64,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

impl From<&InboundMessage> for MessageView {
    fn from(m: &InboundMessage) -> Self {
        MessageView {
            id: m.id,
            mailbox_id: m.mailbox_id,
            message_id: m.message_id.clone(),
            size: m.size,
            source: m.source.clone(),
            from_address: m.from_address.clone(),
            subject: m.subject.clone(),
            status: m.status.clone(),
            outcome: m.outcome.clone(),
            reason: m.reason.clone(),
            ticket_id: m.ticket_id,
            comment_id: m.comment_id,
            attempts: m.attempts,
            received_at: m.received_at,
            processed_at: m.processed_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeaderView {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileView {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

/// A message with what was read from it. X-Steward-* headers are never shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageDetail {
    pub message: MessageView,
    pub headers: Vec<HeaderView>,
    /// What the sender wrote (quoted history split off).
    pub text: String,
    /// The quoted history, folded away on the ticket page.
    pub quoted: String,
    /// The HTML part, sanitised (no scripts, no remote images).
    pub html: Option<String>,
    pub files: Vec<FileView>,
    /// False when the MIME could not be read (the raw message is still there).
    pub readable: bool,
}

/// What a message's outcome shows to requesters: the mail they sent that became a ticket or
/// a reply; not automatic mail, bounces or the quarantine.
const PUBLIC_OUTCOMES: [&str; 2] = ["ticket_created", "comment_added"];

/// Admins see every message; staff the ones on tickets they see; requesters none directly.
async fn visible_message(app: &App, actor: &Actor, id: i64) -> AppResult<InboundMessage> {
    let mut conn = app.read().await?;
    let m = mail::get_message(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if actor.can(Capability::ManageAccounts) {
        return Ok(m);
    }
    match m.ticket_id {
        Some(t) if actor.can(Capability::WorkTickets) => {
            actor.visible_ticket(&mut conn, t).await?;
            Ok(m)
        }
        _ => Err(AppError::NotFound),
    }
}

pub async fn list_messages(
    app: &App,
    actor: &Actor,
    status: Option<String>,
    before_id: Option<i64>,
    limit: Option<i64>,
) -> AppResult<Vec<MessageView>> {
    actor.require(Capability::ManageAccounts)?;
    if let Some(s) = &status {
        if !["received", "processed", "quarantined", "ignored"].contains(&s.as_str()) {
            return Err(AppError::invalid(
                "status",
                "must be received, processed, quarantined or ignored",
            ));
        }
    }
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit", "must be 1 to 200"));
    }
    let mut conn = app.read().await?;
    let filter = MessageFilter {
        status,
        ticket_id: None,
        before_id,
        limit,
    };
    Ok(mail::list_messages(&mut conn, &filter)
        .await?
        .iter()
        .map(MessageView::from)
        .collect())
}

async fn raw_bytes(app: &App, m: &InboundMessage) -> AppResult<Bytes> {
    app.blobs
        .get(&Path::from(m.blob_key.as_str()))
        .await
        .map_err(|e| AppError::Internal(format!("raw message {}: {e}", m.id)))?
        .bytes()
        .await
        .map_err(|e| AppError::Internal(format!("raw message {}: {e}", m.id)))
}

pub async fn get_message(app: &App, actor: &Actor, id: i64) -> AppResult<MessageDetail> {
    let m = visible_message(app, actor, id).await?;
    let raw = raw_bytes(app, &m).await?;
    let too_large = raw.len() > app.limits.mail_bytes;
    let parsed = if too_large {
        None
    } else {
        tokio::task::spawn_blocking(move || parse::parse(&raw))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
    };
    let message = MessageView::from(&m);
    Ok(match parsed {
        Some(p) => {
            let (text, quoted) = quote::split(&p.text);
            MessageDetail {
                message,
                headers: p
                    .headers
                    .into_iter()
                    .map(|(name, value)| HeaderView { name, value })
                    .collect(),
                text,
                quoted,
                html: p.html,
                files: p
                    .files
                    .iter()
                    .map(|f| FileView {
                        filename: f.filename.clone(),
                        content_type: f.content_type.clone(),
                        size: f.bytes.len() as i64,
                    })
                    .collect(),
                readable: true,
            }
        }
        None => MessageDetail {
            message,
            headers: vec![],
            text: String::new(),
            quoted: String::new(),
            html: None,
            files: vec![],
            readable: false,
        },
    })
}

/// The original message, as received, for a .eml download.
pub async fn raw_message(app: &App, actor: &Actor, id: i64) -> AppResult<Bytes> {
    let m = visible_message(app, actor, id).await?;
    raw_bytes(app, &m).await
}

/// Takes a quarantined message again (after the admin fixed the cause: created the user,
/// changed the mailbox).
pub async fn reprocess(app: &App, actor: &Actor, id: i64) -> AppResult<MessageView> {
    actor.require(Capability::ManageAccounts)?;
    let a = actor.clone();
    let m = app
        .store
        .write(move |ctx| {
            Box::pin(async move {
                if !mail::requeue_message(&mut ctx.conn, id).await? {
                    let exists = mail::get_message(&mut ctx.conn, id).await?.is_some();
                    return Err(if exists {
                        AppError::Conflict {
                            message: "only a quarantined message is re-processed".into(),
                            allowed: None,
                        }
                    } else {
                        AppError::NotFound
                    });
                }
                AuditTrail::new(&a, "inbound_message", id, now())
                    .record(ctx, "reprocess", None, None, None)
                    .await?;
                mail::get_message(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)
            })
        })
        .await?;
    process(app, m).await?;
    let mut conn = app.read().await?;
    let m = mail::get_message(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(MessageView::from(&m))
}

/// Leaves a quarantined message be: it stays stored (and listed) as ignored.
pub async fn dismiss(app: &App, actor: &Actor, id: i64) -> AppResult<MessageView> {
    actor.require(Capability::ManageAccounts)?;
    let a = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = mail::get_message(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let d = Disposition {
                    status: "ignored".into(),
                    outcome: Some("dismissed".into()),
                    reason: old.reason.clone(),
                    ..Disposition::default()
                };
                let now = now();
                if !mail::settle_message(&mut ctx.conn, id, "quarantined", &d, now).await? {
                    return Err(AppError::Conflict {
                        message: "only a quarantined message is dismissed".into(),
                        allowed: None,
                    });
                }
                AuditTrail::new(&a, "inbound_message", id, now)
                    .record(ctx, "dismiss", None, None, None)
                    .await?;
                let m = mail::get_message(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                Ok(MessageView::from(&m))
            })
        })
        .await
}

/// The mail of a ticket, oldest first. Requesters see only their own mail that became the
/// ticket or a public reply: not automatic mail or bounces, and not what others sent (a staff
/// member's emailed reply, a colleague's).
pub async fn ticket_messages(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
) -> AppResult<Vec<MessageView>> {
    let mut conn = app.read().await?;
    actor.visible_ticket(&mut conn, ticket_id).await?;
    let staff = actor.can(Capability::InternalNotes);
    let filter = MessageFilter {
        status: None,
        ticket_id: Some(ticket_id),
        before_id: None,
        limit: 500,
    };
    let mut out: Vec<MessageView> = mail::list_messages(&mut conn, &filter)
        .await?
        .iter()
        .filter(|m| {
            staff
                || (m
                    .outcome
                    .as_deref()
                    .is_some_and(|o| PUBLIC_OUTCOMES.contains(&o))
                    && m.from_address
                        .as_deref()
                        .is_some_and(|f| f.eq_ignore_ascii_case(&actor.email)))
        })
        .map(MessageView::from)
        .collect();
    out.reverse();
    Ok(out)
}
