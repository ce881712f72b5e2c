//! Major incidents: declared on an incident by an agent or manager, they page an emergency
//! roster, must be answered within a response time, keep a communication log that affected
//! customers read, gather related incidents as children that are resolved with the parent, and
//! cannot close before the post-incident review is recorded.

use super::error::text_field;
use super::sla::{self, ClockEvent};
use super::views::instant;
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use steward_core::text::{multi_line, single_line};
use steward_core::{Capability, Priority, Role, Status};
use steward_store::major::{self as store, Major};
use steward_store::tickets::{self, Scope, Ticket};
use steward_store::{accounts, sla as sla_store, WriteCtx};
use utoipa::ToSchema;

/// Minutes the roster has to answer unless the declaration says otherwise.
pub const DEFAULT_RESPONSE_MINUTES: i64 = 15;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareInput {
    /// The emergency team to page.
    pub roster_user_ids: Vec<i64>,
    /// Minutes the roster has to answer (1..1440, default 15).
    pub response_minutes: Option<i64>,
    /// Why this is a major incident; the first entry of the communication log.
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewAction {
    pub description: String,
    pub owner_id: i64,
    /// YYYY-MM-DD
    pub due_date: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    pub cause: String,
    pub timeline: String,
    pub went_well: String,
    pub went_badly: String,
    pub actions: Vec<ReviewAction>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RosterView {
    pub user_id: i64,
    pub name: String,
    pub paged_at: String,
    pub acknowledged_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusUpdateView {
    pub id: i64,
    pub ticket_id: i64,
    pub author_name: String,
    pub body: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChildView {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MajorView {
    pub ticket_id: i64,
    pub number: String,
    pub declared_by: i64,
    pub declared_at: String,
    pub response_due_at: String,
    /// When the first roster member acknowledged.
    pub responded_at: Option<String>,
    /// Nobody answered by the response time.
    pub response_overdue: bool,
    pub roster: Vec<RosterView>,
    pub updates: Vec<StatusUpdateView>,
    pub children: Vec<ChildView>,
    pub review: Option<ReviewInput>,
    pub reviewed_at: Option<String>,
}

fn update_view(u: &store::StatusUpdate) -> StatusUpdateView {
    StatusUpdateView {
        id: u.id,
        ticket_id: u.ticket_id,
        author_name: u.author_name.clone(),
        body: u.body.clone(),
        created_at: instant(u.created_at),
    }
}

async fn build_view(conn: &mut AnyConnection, t: &Ticket, m: &Major) -> AppResult<MajorView> {
    let roster = store::roster(conn, t.id)
        .await?
        .into_iter()
        .map(|r| RosterView {
            user_id: r.user_id,
            name: r.name,
            paged_at: instant(r.paged_at),
            acknowledged_at: r.acknowledged_at.map(instant),
        })
        .collect();
    let updates = store::updates(conn, t.id)
        .await?
        .iter()
        .map(update_view)
        .collect();
    let mut children = Vec::new();
    for id in store::children(conn, t.id).await? {
        if let Some(c) = tickets::get(conn, &Scope::All, id).await? {
            children.push(ChildView {
                id: c.id,
                number: c.number,
                title: c.title,
                status: c.status,
            });
        }
    }
    Ok(MajorView {
        ticket_id: t.id,
        number: t.number.clone(),
        declared_by: m.declared_by,
        declared_at: instant(m.declared_at),
        response_due_at: instant(m.response_due_at),
        responded_at: m.responded_at.map(instant),
        response_overdue: m.response_overdue_at.is_some(),
        roster,
        updates,
        children,
        review: m
            .review
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok()),
        reviewed_at: m.reviewed_at.map(instant),
    })
}

/// The major incident record of a ticket the actor may see and work (staff).
pub async fn get(app: &App, actor: &Actor, ticket_id: i64) -> AppResult<MajorView> {
    let mut conn = app.read().await?;
    let t = actor.visible_ticket(&mut conn, ticket_id).await?;
    if !actor.can(Capability::InternalNotes) {
        return Err(AppError::NotFound);
    }
    let m = store::get(&mut conn, ticket_id)
        .await?
        .ok_or(AppError::NotFound)?;
    build_view(&mut conn, &t, &m).await
}

/// The communication log a ticket shows: its own major incident's, or its parent's. Anyone
/// who sees the ticket reads it.
pub async fn status_updates(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
) -> AppResult<Vec<StatusUpdateView>> {
    let mut conn = app.read().await?;
    let t = actor.visible_ticket(&mut conn, ticket_id).await?;
    let major_id = t.parent_id.unwrap_or(t.id);
    Ok(store::updates(&mut conn, major_id)
        .await?
        .iter()
        .map(update_view)
        .collect())
}

async fn check_roster(conn: &mut AnyConnection, ids: &[i64]) -> AppResult<()> {
    if ids.is_empty() {
        return Err(AppError::invalid(
            "roster_user_ids",
            "page at least one person",
        ));
    }
    if ids.len() > 50 {
        return Err(AppError::invalid("roster_user_ids", "at most 50 people"));
    }
    for (i, id) in ids.iter().enumerate() {
        let ok = accounts::get_user(conn, *id)
            .await?
            .filter(|u| u.active)
            .and_then(|u| u.role.parse::<Role>().ok())
            .is_some_and(|r| r.can(Capability::WorkTickets));
        if !ok {
            return Err(AppError::invalid(
                &format!("roster_user_ids[{i}]"),
                "is not an active member of staff",
            ));
        }
    }
    Ok(())
}

async fn notify_all(
    ctx: &mut WriteCtx,
    users: &[i64],
    t: &Ticket,
    kind: &str,
    extra: serde_json::Value,
    now: i64,
) -> AppResult<()> {
    let mut params = serde_json::json!({ "number": t.number, "title": t.title });
    if let (Some(p), serde_json::Value::Object(e)) = (params.as_object_mut(), extra) {
        p.extend(e);
    }
    let params = params.to_string();
    for u in users {
        sla_store::notify(&mut ctx.conn, *u, Some(t.id), kind, &params, now).await?;
    }
    Ok(())
}

pub async fn declare(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
    input: DeclareInput,
) -> AppResult<MajorView> {
    let summary = text_field("summary", multi_line(&input.summary, 5000, false))?;
    let minutes = input.response_minutes.unwrap_or(DEFAULT_RESPONSE_MINUTES);
    if !(1..=1440).contains(&minutes) {
        return Err(AppError::invalid(
            "response_minutes",
            "must be between 1 and 1440",
        ));
    }
    let mut roster = input.roster_user_ids.clone();
    roster.sort_unstable();
    roster.dedup();
    let actor = actor.clone();
    let store_handle = app.store.clone();
    let app = app.clone();
    store_handle
        .write(move |ctx| {
            Box::pin(async move {
                let t = actor.visible_ticket(&mut ctx.conn, ticket_id).await?;
                actor.require(Capability::DeclareMajorIncident)?;
                if t.kind != "incident" {
                    return Err(AppError::invalid("ticket", "only an incident can be major"));
                }
                let status: Status = t.status.parse().unwrap_or(Status::New);
                if !status.is_open() {
                    return Err(AppError::Conflict {
                        message: format!(
                            "{} is {}; declare on an open incident",
                            t.number, t.status
                        ),
                        allowed: None,
                    });
                }
                if t.parent_id.is_some() {
                    return Err(AppError::Conflict {
                        message: "a child of a major incident cannot itself be major".into(),
                        allowed: None,
                    });
                }
                if store::get(&mut ctx.conn, ticket_id).await?.is_some() {
                    return Err(AppError::Conflict {
                        message: format!("{} is already a major incident", t.number),
                        allowed: None,
                    });
                }
                check_roster(&mut ctx.conn, &roster).await?;
                let now = now();
                let m = Major {
                    ticket_id,
                    declared_by: actor.user_id,
                    declared_at: now,
                    response_due_at: now + minutes * 60_000_000,
                    responded_at: None,
                    response_overdue_at: None,
                    review: None,
                    reviewed_by: None,
                    reviewed_at: None,
                };
                store::insert(&mut ctx.conn, &m).await?;
                for u in &roster {
                    store::page(&mut ctx.conn, ticket_id, *u, now).await?;
                }
                store::add_update(&mut ctx.conn, ticket_id, actor.user_id, &summary, now).await?;
                let trail = AuditTrail::new(&actor, "ticket", ticket_id, now);
                trail
                    .record(
                        ctx,
                        "declare_major",
                        Some("major"),
                        None,
                        Some(format!("roster={roster:?} response_minutes={minutes}")),
                    )
                    .await?;
                // A major incident is the most urgent there is.
                let mut next = t.clone();
                if t.priority != 1 {
                    next.priority = 1;
                    next.priority_reason = Some("major incident".into());
                    next.version = t.version + 1;
                    next.updated_at = now;
                    if !tickets::update(&mut ctx.conn, &next, t.version).await? {
                        return Err(AppError::Stale);
                    }
                    let p = |r: i64| Priority::from_rank(r).map(|p| p.to_string());
                    trail
                        .changes(
                            ctx,
                            &[
                                ("priority", p(t.priority), p(1)),
                                (
                                    "priority_reason",
                                    t.priority_reason.clone(),
                                    next.priority_reason.clone(),
                                ),
                            ],
                        )
                        .await?;
                    sla::sync_clocks(&app, ctx, Some(&t), &next, ClockEvent::Changed, now).await?;
                }
                notify_all(
                    ctx,
                    &roster,
                    &next,
                    "major_incident_paged",
                    serde_json::json!({ "response_due_at": instant(m.response_due_at) }),
                    now,
                )
                .await?;
                build_view(&mut ctx.conn, &next, &m).await
            })
        })
        .await
}

async fn major_of(ctx: &mut WriteCtx, actor: &Actor, ticket_id: i64) -> AppResult<(Ticket, Major)> {
    let t = actor.visible_ticket(&mut ctx.conn, ticket_id).await?;
    if !actor.can(Capability::InternalNotes) {
        return Err(AppError::NotFound);
    }
    let m = store::get(&mut ctx.conn, ticket_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((t, m))
}

/// A paged member answers; the first answer meets the response time.
pub async fn acknowledge(app: &App, actor: &Actor, ticket_id: i64) -> AppResult<MajorView> {
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let (t, _) = major_of(ctx, &actor, ticket_id).await?;
                let now = now();
                if !store::acknowledge(&mut ctx.conn, ticket_id, actor.user_id, now).await? {
                    return Err(AppError::Conflict {
                        message: "you are not on the roster, or have acknowledged already".into(),
                        allowed: None,
                    });
                }
                store::set_responded(&mut ctx.conn, ticket_id, now).await?;
                AuditTrail::new(&actor, "ticket", ticket_id, now)
                    .record(
                        ctx,
                        "acknowledge_major",
                        Some("roster"),
                        None,
                        Some(actor.user_id.to_string()),
                    )
                    .await?;
                let m = store::get(&mut ctx.conn, ticket_id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                build_view(&mut ctx.conn, &t, &m).await
            })
        })
        .await
}

/// Pages more people onto the roster.
pub async fn page(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
    user_ids: Vec<i64>,
) -> AppResult<MajorView> {
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let (t, m) = major_of(ctx, &actor, ticket_id).await?;
                actor.require(Capability::DeclareMajorIncident)?;
                check_roster(&mut ctx.conn, &user_ids).await?;
                let now = now();
                let mut paged = Vec::new();
                for u in &user_ids {
                    if store::page(&mut ctx.conn, ticket_id, *u, now).await? {
                        paged.push(*u);
                    }
                }
                if !paged.is_empty() {
                    AuditTrail::new(&actor, "ticket", ticket_id, now)
                        .record(
                            ctx,
                            "page",
                            Some("roster"),
                            None,
                            Some(format!("{paged:?}")),
                        )
                        .await?;
                    notify_all(
                        ctx,
                        &paged,
                        &t,
                        "major_incident_paged",
                        serde_json::json!({ "response_due_at": instant(m.response_due_at) }),
                        now,
                    )
                    .await?;
                }
                build_view(&mut ctx.conn, &t, &m).await
            })
        })
        .await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusUpdateInput {
    pub body: String,
}

/// Posts to the communication log; the requesters of the major incident and of its children
/// are notified in-app.
pub async fn post_update(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
    input: StatusUpdateInput,
) -> AppResult<StatusUpdateView> {
    let body = text_field("body", multi_line(&input.body, 5000, true))?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let (t, _) = major_of(ctx, &actor, ticket_id).await?;
                actor.require(Capability::EditTickets)?;
                let now = now();
                let id =
                    store::add_update(&mut ctx.conn, ticket_id, actor.user_id, &body, now).await?;
                AuditTrail::new(&actor, "ticket", ticket_id, now)
                    .record(
                        ctx,
                        "status_update",
                        Some("communication_log"),
                        None,
                        Some(id.to_string()),
                    )
                    .await?;
                let mut requesters = vec![t.requester_id];
                for c in store::children(&mut ctx.conn, ticket_id).await? {
                    if let Some(child) = tickets::get(&mut ctx.conn, &Scope::All, c).await? {
                        requesters.push(child.requester_id);
                    }
                }
                requesters.sort_unstable();
                requesters.dedup();
                requesters.retain(|u| *u != actor.user_id);
                notify_all(
                    ctx,
                    &requesters,
                    &t,
                    "major_incident_update",
                    serde_json::json!({}),
                    now,
                )
                .await?;
                Ok(StatusUpdateView {
                    id,
                    ticket_id,
                    author_name: actor.name.clone(),
                    body,
                    created_at: instant(now),
                })
            })
        })
        .await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildInput {
    pub ticket_id: i64,
}

/// Attaches a related open incident as a child; it will be resolved with the parent.
pub async fn attach_child(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
    input: ChildInput,
) -> AppResult<MajorView> {
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let (t, m) = major_of(ctx, &actor, ticket_id).await?;
                actor.require(Capability::EditTickets)?;
                let child = tickets::get(&mut ctx.conn, &actor.ticket_scope(), input.ticket_id)
                    .await?
                    .ok_or_else(|| AppError::invalid("ticket_id", "no such ticket"))?;
                if child.id == t.id || child.kind != "incident" {
                    return Err(AppError::invalid("ticket_id", "must be another incident"));
                }
                if store::get(&mut ctx.conn, child.id).await?.is_some() {
                    return Err(AppError::invalid("ticket_id", "is itself a major incident"));
                }
                if !child.status.parse::<Status>().is_ok_and(|s| s.is_open()) {
                    return Err(AppError::invalid("ticket_id", "is not open"));
                }
                if child.parent_id.is_some_and(|p| p != t.id) {
                    return Err(AppError::invalid(
                        "ticket_id",
                        "belongs to another major incident",
                    ));
                }
                let now = now();
                if child.parent_id.is_none() {
                    let mut next = child.clone();
                    next.parent_id = Some(t.id);
                    next.version = child.version + 1;
                    next.updated_at = now;
                    if !tickets::update(&mut ctx.conn, &next, child.version).await? {
                        return Err(AppError::Stale);
                    }
                    AuditTrail::new(&actor, "ticket", child.id, now)
                        .changes(ctx, &[("parent_id", None, Some(t.id.to_string()))])
                        .await?;
                }
                build_view(&mut ctx.conn, &t, &m).await
            })
        })
        .await
}

fn check_review(input: &ReviewInput) -> AppResult<ReviewInput> {
    let text = |field: &str, v: &str| text_field(field, multi_line(v, 20_000, false));
    let mut out = ReviewInput {
        cause: text("cause", &input.cause)?,
        timeline: text("timeline", &input.timeline)?,
        went_well: text("went_well", &input.went_well)?,
        went_badly: text("went_badly", &input.went_badly)?,
        actions: Vec::new(),
    };
    if input.actions.is_empty() {
        return Err(AppError::invalid(
            "actions",
            "record at least one action with an owner",
        ));
    }
    for (i, a) in input.actions.iter().enumerate() {
        let description = text_field(
            &format!("actions[{i}].description"),
            single_line(&a.description, 500),
        )?;
        let due_date = a
            .due_date
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| {
                d.parse::<jiff::civil::Date>()
                    .map(|d| d.to_string())
                    .map_err(|_| {
                        AppError::invalid(
                            &format!("actions[{i}].due_date"),
                            "must be a date like 2026-12-01",
                        )
                    })
            })
            .transpose()?;
        out.actions.push(ReviewAction {
            description,
            owner_id: a.owner_id,
            due_date,
        });
    }
    Ok(out)
}

/// Records (or replaces) the post-incident review; allowed once the incident is resolved.
pub async fn record_review(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
    input: ReviewInput,
) -> AppResult<MajorView> {
    let review = check_review(&input)?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let (t, _) = major_of(ctx, &actor, ticket_id).await?;
                actor.require(Capability::DeclareMajorIncident)?;
                if t.status != Status::Resolved.as_str() && t.status != Status::Closed.as_str() {
                    return Err(AppError::Conflict {
                        message: "the review follows the resolution; resolve the incident first"
                            .into(),
                        allowed: None,
                    });
                }
                for (i, a) in review.actions.iter().enumerate() {
                    accounts::get_user(&mut ctx.conn, a.owner_id)
                        .await?
                        .filter(|u| u.active)
                        .ok_or_else(|| {
                            AppError::invalid(
                                &format!("actions[{i}].owner_id"),
                                "no such active user",
                            )
                        })?;
                }
                let json = serde_json::to_string(&review)
                    .map_err(|e| AppError::Internal(e.to_string()))?;
                let now = now();
                let old = store::get(&mut ctx.conn, ticket_id)
                    .await?
                    .and_then(|m| m.review);
                store::set_review(&mut ctx.conn, ticket_id, &json, actor.user_id, now).await?;
                AuditTrail::new(&actor, "ticket", ticket_id, now)
                    .changes(ctx, &[("post_incident_review", old, Some(json))])
                    .await?;
                let m = store::get(&mut ctx.conn, ticket_id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                build_view(&mut ctx.conn, &t, &m).await
            })
        })
        .await
}

/// Called by every ticket update, in its transaction: a major incident cannot close before
/// its review, and resolving it resolves its open children with the same code.
pub async fn on_ticket_changed(
    app: &App,
    ctx: &mut WriteCtx,
    actor: &Actor,
    old: &Ticket,
    t: &Ticket,
    now: i64,
) -> AppResult<()> {
    if old.status == t.status {
        return Ok(());
    }
    let Some(m) = store::get(&mut ctx.conn, t.id).await? else {
        return Ok(());
    };
    if t.status == Status::Closed.as_str() && m.reviewed_at.is_none() {
        return Err(AppError::Conflict {
            message: format!(
                "{} is a major incident: record the post-incident review before closing it",
                t.number
            ),
            allowed: None,
        });
    }
    if t.status != Status::Resolved.as_str() {
        return Ok(());
    }
    for id in store::children(&mut ctx.conn, t.id).await? {
        let Some(child) = tickets::get(&mut ctx.conn, &Scope::All, id).await? else {
            continue;
        };
        let status: Status = child.status.parse().unwrap_or(Status::New);
        if !status.is_open() || status.check_transition(Status::Resolved).is_err() {
            continue;
        }
        let mut next = child.clone();
        next.status = Status::Resolved.as_str().into();
        next.pending_reason = None;
        next.resolution_code = t.resolution_code.clone();
        next.resolution_notes = Some(format!("Resolved with major incident {}", t.number));
        next.resolved_at = Some(now);
        next.version = child.version + 1;
        next.updated_at = now;
        if !tickets::update(&mut ctx.conn, &next, child.version).await? {
            return Err(AppError::Stale);
        }
        AuditTrail::new(actor, "ticket", child.id, now)
            .changes(
                ctx,
                &[
                    (
                        "status",
                        Some(child.status.clone()),
                        Some(next.status.clone()),
                    ),
                    (
                        "resolution_code",
                        child.resolution_code.clone(),
                        next.resolution_code.clone(),
                    ),
                    (
                        "resolution_notes",
                        child.resolution_notes.clone(),
                        next.resolution_notes.clone(),
                    ),
                ],
            )
            .await?;
        sla::sync_clocks(app, ctx, Some(&child), &next, ClockEvent::Changed, now).await?;
    }
    Ok(())
}

/// Reports major incidents nobody answered in time to the service managers, once each.
pub async fn sweep_unanswered(app: &App, now: i64) -> AppResult<usize> {
    let due = {
        let mut conn = app.read().await?;
        store::unanswered(&mut conn, now, 100).await?
    };
    let mut reported = 0;
    for m in due {
        let done = app
            .store
            .write(move |ctx| {
                Box::pin(async move {
                    if !store::set_response_overdue(&mut ctx.conn, m.ticket_id, now).await? {
                        return Ok(false);
                    }
                    let Some(t) = tickets::get(&mut ctx.conn, &Scope::All, m.ticket_id).await?
                    else {
                        return Ok(false);
                    };
                    let mut users: Vec<i64> = store::roster(&mut ctx.conn, t.id)
                        .await?
                        .iter()
                        .map(|r| r.user_id)
                        .collect();
                    let managers = accounts::list_users(
                        &mut ctx.conn,
                        &steward_store::accounts::UserFilter {
                            role: Some("service_manager".into()),
                            limit: 100,
                            ..Default::default()
                        },
                    )
                    .await?;
                    users.extend(managers.iter().filter(|u| u.active).map(|u| u.id));
                    users.sort_unstable();
                    users.dedup();
                    notify_all(
                        ctx,
                        &users,
                        &t,
                        "major_incident_unanswered",
                        serde_json::json!({}),
                        now,
                    )
                    .await?;
                    let system = Actor::system(steward_core::Channel::System);
                    AuditTrail::new(&system, "ticket", t.id, now)
                        .record(ctx, "major_response_overdue", Some("major"), None, None)
                        .await?;
                    Ok::<_, AppError>(true)
                })
            })
            .await?;
        reported += usize::from(done);
    }
    Ok(reported)
}

/// A major incident as the service status shows it to customers: what is affected and the
/// communication log, nothing of the ticket's internals.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnnouncementView {
    pub ticket_id: i64,
    pub number: String,
    pub title: String,
    pub status: String,
    pub declared_at: String,
    /// Newest first.
    pub updates: Vec<StatusUpdateView>,
}

/// Open major incidents that concern the actor: all of them for staff, those affecting the
/// requester's organisation (its tickets, its children's, or its service's customers) for
/// requesters.
pub async fn announcements(app: &App, actor: &Actor) -> AppResult<Vec<AnnouncementView>> {
    let mut conn = app.read().await?;
    let staff = actor.role.is_staff();
    let mut out = Vec::new();
    for (id, orgs) in store::open_with_organizations(&mut conn).await? {
        let concerns = staff || actor.organization_id.is_some_and(|o| orgs.contains(&o));
        if !concerns {
            continue;
        }
        let (Some(t), Some(m)) = (
            tickets::get(&mut conn, &Scope::All, id).await?,
            store::get(&mut conn, id).await?,
        ) else {
            continue;
        };
        out.push(AnnouncementView {
            ticket_id: id,
            number: t.number,
            title: t.title,
            status: t.status,
            declared_at: instant(m.declared_at),
            updates: store::updates(&mut conn, id)
                .await?
                .iter()
                .map(update_view)
                .collect(),
        });
    }
    Ok(out)
}
