//! The conversation on a ticket: public replies, internal notes, and the history drawn from
//! the audit log.

use super::error::text_field;
use super::idempotency::{self, IdempotencyKey};
use super::sla::{self, ClockEvent};
use super::tickets::{parse_status, COMMENT_MAX, STAFF_ONLY_ACTIONS, STAFF_ONLY_FIELDS};
use super::views::{AttachmentView, CommentView, HistoryEntry};
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::Deserialize;
use std::collections::HashMap;
use steward_core::text::multi_line;
use steward_core::{Capability, Status};
use steward_store::tickets::{self, Scope, Ticket};
use steward_store::{accounts, audit, search, WriteCtx};
use utoipa::ToSchema;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCommentInput {
    pub body: String,
    /// An internal note, seen by staff only (default false: a public reply).
    #[serde(default)]
    pub internal: bool,
}

pub async fn add_comment(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
    input: NewCommentInput,
    key: Option<IdempotencyKey>,
) -> AppResult<CommentView> {
    let body = text_field("body", multi_line(&input.body, COMMENT_MAX, true))?;
    let doc = search::segment_document(&body);
    let actor = actor.clone();
    let store = app.store.clone();
    let app = app.clone();
    store
        .write(move |ctx| {
            Box::pin(async move {
                let t = actor.visible_ticket(&mut ctx.conn, ticket_id).await?;
                if input.internal && !actor.can(Capability::InternalNotes) {
                    return Err(AppError::forbidden(
                        "internal: only staff write internal notes",
                    ));
                }
                if !actor.can(Capability::SubmitTicket) && !actor.can(Capability::EditTickets) {
                    return Err(AppError::forbidden("your role does not allow replies"));
                }
                if let Some(v) = idempotency::replay(ctx, actor.user_id, &key).await? {
                    return Ok(v);
                }
                let id =
                    insert_comment_in(&app, ctx, &actor, &t, &body, &doc, input.internal, now())
                        .await?;
                let c = tickets::get_comment(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let view = CommentView::new(&c, vec![]);
                idempotency::remember(ctx, actor.user_id, &key, &view).await?;
                Ok(view)
            })
        })
        .await
}

/// Adds a reply or note to a ticket the caller has checked the actor may answer, in the
/// caller's transaction: the comment, search text, audit entry, the requester's answer taking
/// a pending ticket back to work, SLA clocks, and the ticket.replied event for a public reply.
/// Returns the comment's id.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_comment_in(
    app: &App,
    ctx: &mut WriteCtx,
    actor: &Actor,
    t: &Ticket,
    body: &str,
    doc: &str,
    internal: bool,
    now: i64,
) -> AppResult<i64> {
    let ticket_id = t.id;
    let status = parse_status("status", &t.status)?;
    if status.is_final() {
        return Err(AppError::Conflict {
            message: format!(
                "ticket {} is {}; it takes no more replies",
                t.number, t.status
            ),
            allowed: None,
        });
    }
    let id = tickets::insert_comment(&mut ctx.conn, ticket_id, actor.user_id, body, internal, now)
        .await?;
    tickets::touch(&mut ctx.conn, ticket_id, now).await?;
    search::append_ticket_text(&mut ctx.conn, ctx.backend, ticket_id, doc, internal).await?;
    let trail = AuditTrail::new(actor, "ticket", ticket_id, now);
    let action = if internal { "note" } else { "reply" };
    trail
        .record(ctx, action, Some("comment"), None, Some(id.to_string()))
        .await?;
    // The requester answering a ticket that waits on them puts it back to work.
    if !internal
        && status == Status::Pending
        && t.pending_reason.as_deref() == Some("requester")
        && actor.user_id == t.requester_id
    {
        let resumed = resume_from_pending(ctx, t, now).await?;
        sla::sync_clocks(app, ctx, Some(t), &resumed, ClockEvent::Changed, now).await?;
        trail
            .changes(
                ctx,
                &[
                    (
                        "status",
                        Some(t.status.clone()),
                        Some(Status::InProgress.as_str().into()),
                    ),
                    ("pending_reason", t.pending_reason.clone(), None),
                ],
            )
            .await?;
    }
    if !internal && actor.can(Capability::EditTickets) {
        sla::sync_clocks(app, ctx, Some(t), t, ClockEvent::StaffReplied, now).await?;
    }
    if !internal {
        let replied = super::events::Event::new(
            super::events::EventKind::TicketReplied,
            ticket_id,
            actor.audit_id(),
            now,
        )
        .with_comment(id);
        super::events::publish(ctx, &[replied], now).await?;
    }
    Ok(id)
}

async fn resume_from_pending(ctx: &mut WriteCtx, t: &Ticket, now: i64) -> AppResult<Ticket> {
    let current = tickets::get(&mut ctx.conn, &Scope::All, t.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut next = current.clone();
    next.status = Status::InProgress.as_str().into();
    next.pending_reason = None;
    next.version = current.version + 1;
    next.updated_at = now;
    if !tickets::update(&mut ctx.conn, &next, current.version).await? {
        return Err(AppError::Stale);
    }
    Ok(next)
}

pub async fn list_comments(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
) -> AppResult<Vec<CommentView>> {
    let mut conn = app.read().await?;
    actor.visible_ticket(&mut conn, ticket_id).await?;
    let staff = actor.can(Capability::InternalNotes);
    let comments = tickets::comments(&mut conn, ticket_id, staff).await?;
    let mut by_comment: HashMap<i64, Vec<AttachmentView>> = HashMap::new();
    for a in tickets::attachments(&mut conn, ticket_id).await? {
        if let Some(c) = a.comment_id {
            by_comment
                .entry(c)
                .or_default()
                .push(AttachmentView::from(&a));
        }
    }
    Ok(comments
        .iter()
        .map(|c| CommentView::new(c, by_comment.remove(&c.id).unwrap_or_default()))
        .collect())
}

/// The ticket's audit history. Requesters do not see entries about internal notes.
pub async fn history(app: &App, actor: &Actor, ticket_id: i64) -> AppResult<Vec<HistoryEntry>> {
    let mut conn = app.read().await?;
    actor.visible_ticket(&mut conn, ticket_id).await?;
    let staff = actor.can(Capability::InternalNotes);
    let internal_comments: Vec<String> = if staff {
        vec![]
    } else {
        tickets::comments(&mut conn, ticket_id, true)
            .await?
            .iter()
            .filter(|c| c.internal)
            .map(|c| c.id.to_string())
            .collect()
    };
    let entries = audit::entries_for(&mut conn, "ticket", ticket_id).await?;
    let mut names: HashMap<i64, String> = HashMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let hidden = !staff
            && (STAFF_ONLY_ACTIONS.contains(&e.action.as_str())
                || e.field
                    .as_deref()
                    .is_some_and(|f| STAFF_ONLY_FIELDS.contains(&f))
                || (e.action == "attach"
                    && e.field.as_deref().is_some_and(|f| {
                        internal_comments
                            .iter()
                            .any(|c| f == format!("comment:{c}"))
                    })));
        if hidden {
            continue;
        }
        let name = match e.actor_id {
            Some(id) => {
                if let std::collections::hash_map::Entry::Vacant(v) = names.entry(id) {
                    let n = accounts::get_user(&mut conn, id)
                        .await?
                        .map(|u| u.name)
                        .unwrap_or_default();
                    v.insert(n);
                }
                names.get(&id).cloned()
            }
            None => None,
        };
        out.push(HistoryEntry::new(&e, name));
    }
    Ok(out)
}
