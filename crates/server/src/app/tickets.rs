//! Incidents and service requests: create, read, list and search, update through the
//! lifecycle, replies and internal notes, and the history from the audit log.

use super::accounts::double_option;
use super::error::text_field;
use super::idempotency::{self, IdempotencyKey};
use super::sla::{self, ClockEvent};
use super::views::{Page, TicketView};
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::Deserialize;
use sqlx::AnyConnection;
use steward_core::text::{multi_line, single_line};
use steward_core::{Capability, Level, PendingReason, Priority, Role, Status, TicketKind};
use steward_store::tickets::{self, Cursor, Scope, Sort, Ticket, TicketFilter};
use steward_store::{accounts, search};
use utoipa::ToSchema;

pub const TITLE_MAX: usize = 200;
/// Fields requesters do not see, on the ticket or in its history.
pub const STAFF_ONLY_FIELDS: &[&str] = &[
    "priority_reason",
    "watcher_ids",
    "breach_reason",
    "post_incident_review",
];
/// History actions requesters do not see: the service desk's escalations and major-incident
/// internals (the communication log is what customers read).
pub const STAFF_ONLY_ACTIONS: &[&str] = &[
    "note",
    "sla_warning",
    "sla_breach",
    "declare_major",
    "page",
    "acknowledge_major",
    "major_response_overdue",
    // A notification that bounced (app::inbound): the desk's matter, with a mail server's
    // address in it.
    "delivery_failure",
];
pub const DESCRIPTION_MAX: usize = 20_000;
pub const COMMENT_MAX: usize = 20_000;

fn parse_kind(s: &str) -> AppResult<TicketKind> {
    s.parse()
        .map_err(|_| AppError::invalid("kind", "must be incident or service_request"))
}

fn parse_level(field: &str, s: &str) -> AppResult<Level> {
    s.parse()
        .map_err(|_| AppError::invalid(field, "must be high, medium or low"))
}

fn parse_priority(s: &str) -> AppResult<Priority> {
    s.parse()
        .map_err(|_| AppError::invalid("priority", "must be P1, P2, P3, P4 or P5"))
}

pub(crate) fn parse_status(field: &str, s: &str) -> AppResult<Status> {
    s.parse().map_err(|_| {
        AppError::invalid(
            field,
            "must be new, assigned, in_progress, pending, resolved, closed or cancelled",
        )
    })
}

fn optional_line(field: &str, v: Option<&str>, max: usize) -> AppResult<Option<String>> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => text_field(field, single_line(s, max)).map(Some),
    }
}

/// The assignee must be an active staff member and, when the ticket has a team, in it.
/// Returns the assignee's name.
async fn check_assignee(
    conn: &mut AnyConnection,
    assignee: i64,
    team: Option<i64>,
) -> AppResult<String> {
    let user = accounts::get_user(conn, assignee)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| AppError::invalid("assignee_id", "no such active user"))?;
    let role: Role = user
        .role
        .parse()
        .map_err(|_| AppError::invalid("assignee_id", "has no valid role"))?;
    if !role.can(Capability::WorkTickets) {
        return Err(AppError::invalid("assignee_id", "is not an agent"));
    }
    if let Some(t) = team {
        if !accounts::user_team_ids(conn, assignee).await?.contains(&t) {
            return Err(AppError::invalid(
                "assignee_id",
                "is not a member of the ticket's team",
            ));
        }
    }
    Ok(user.name)
}

/// The team's name, if it exists.
async fn check_team(conn: &mut AnyConnection, team: i64) -> AppResult<String> {
    let t = accounts::get_team(conn, team)
        .await?
        .ok_or_else(|| AppError::invalid("team_id", "no such team"))?;
    Ok(t.name)
}

async fn check_watchers(conn: &mut AnyConnection, ids: &[i64]) -> AppResult<()> {
    if ids.len() > 50 {
        return Err(AppError::invalid("watcher_ids", "at most 50 watchers"));
    }
    for id in ids {
        accounts::get_user(conn, *id)
            .await?
            .filter(|u| u.active)
            .ok_or_else(|| AppError::invalid("watcher_ids", format!("no active user {id}")))?;
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketInput {
    /// incident or service_request
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// high, medium or low
    pub impact: String,
    /// high, medium or low
    pub urgency: String,
    /// Staff may submit on behalf of a requester; defaults to the caller.
    pub requester_id: Option<i64>,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub category: Option<String>,
    /// Overrides the matrix priority (staff only); needs `priority_reason`.
    pub priority: Option<String>,
    pub priority_reason: Option<String>,
    #[serde(default)]
    pub watcher_ids: Vec<i64>,
}

pub async fn create_ticket(
    app: &App,
    actor: &Actor,
    input: NewTicketInput,
    key: Option<IdempotencyKey>,
) -> AppResult<TicketView> {
    create_ticket_with(app, actor, input, None, key).await
}

/// Creates a ticket; with `catalogue`, a request made from a catalogue item (its service,
/// team, form answers and approvals; see app::catalogue::submit_request).
pub async fn create_ticket_with(
    app: &App,
    actor: &Actor,
    input: NewTicketInput,
    catalogue: Option<super::approvals::CatalogueRequest>,
    key: Option<IdempotencyKey>,
) -> AppResult<TicketView> {
    let prepared = prepare_ticket(app, actor, input, catalogue).await?;
    let actor = actor.clone();
    let store = app.store.clone();
    let app = app.clone();
    store
        .write(move |ctx| {
            Box::pin(async move {
                if let Some(v) = idempotency::replay(ctx, actor.user_id, &key).await? {
                    return Ok(v);
                }
                let view = insert_ticket(&app, ctx, &actor, prepared, now()).await?;
                idempotency::remember(ctx, actor.user_id, &key, &view).await?;
                Ok(view)
            })
        })
        .await
}

/// A new ticket, validated and with its references checked, ready for [`insert_ticket`].
pub(crate) struct PreparedTicket {
    kind: TicketKind,
    title: String,
    description: String,
    impact: Level,
    urgency: Level,
    category: Option<String>,
    priority: Priority,
    priority_reason: Option<String>,
    doc: String,
    requester: accounts::User,
    organization_name: Option<String>,
    /// The team may be set after preparing by the mail intake (the mailbox's team), which
    /// acts for a requester who could not choose one.
    pub team_id: Option<i64>,
    pub team_name: Option<String>,
    assignee_id: Option<i64>,
    assignee_name: Option<String>,
    watchers: Vec<i64>,
    catalogue: Option<super::approvals::CatalogueRequest>,
    /// The service (id, code) when it comes from elsewhere than a catalogue item: the mailbox
    /// a mail arrived at.
    pub service: Option<(i64, String)>,
}

/// Validates a new ticket and checks what it refers to, outside the writer.
pub(crate) async fn prepare_ticket(
    app: &App,
    actor: &Actor,
    input: NewTicketInput,
    catalogue: Option<super::approvals::CatalogueRequest>,
) -> AppResult<PreparedTicket> {
    actor.require(Capability::SubmitTicket)?;
    let kind = parse_kind(&input.kind)?;
    let title = text_field("title", single_line(&input.title, TITLE_MAX))?;
    let description = text_field(
        "description",
        multi_line(&input.description, DESCRIPTION_MAX, false),
    )?;
    let impact = parse_level("impact", &input.impact)?;
    let urgency = parse_level("urgency", &input.urgency)?;
    let category = optional_line("category", input.category.as_deref(), 100)?;
    let staff = actor.can(Capability::EditTickets);
    for (field, set) in [
        (
            "requester_id",
            input.requester_id.is_some_and(|r| r != actor.user_id),
        ),
        ("team_id", input.team_id.is_some()),
        ("assignee_id", input.assignee_id.is_some()),
        ("priority", input.priority.is_some()),
        ("watcher_ids", !input.watcher_ids.is_empty()),
    ] {
        if set && !staff {
            return Err(AppError::forbidden(format!(
                "{field}: only the service desk sets this"
            )));
        }
    }
    let matrix_priority = app.matrix.priority(impact, urgency);
    let (priority, priority_reason) = match input.priority.as_deref() {
        None => (matrix_priority, None),
        Some(p) => {
            let p = parse_priority(p)?;
            if p == matrix_priority {
                (p, None)
            } else {
                let reason =
                    optional_line("priority_reason", input.priority_reason.as_deref(), 500)?
                        .ok_or_else(|| {
                            AppError::invalid(
                                "priority_reason",
                                "is required to override the matrix priority",
                            )
                        })?;
                (p, Some(reason))
            }
        }
    };
    // Segment before the write, so that the single writer spends no time on it.
    let doc = search::segment_document(&format!("{title} {description}"));
    let requester_id = input.requester_id.unwrap_or(actor.user_id);
    let (team_id, assignee_id, mut watchers) = (
        input.team_id.or(catalogue.as_ref().and_then(|c| c.team_id)),
        input.assignee_id,
        input.watcher_ids,
    );
    watchers.sort_unstable();
    watchers.dedup();
    // References are checked on a read connection, not in the single writer: users and teams
    // are never deleted, so what exists now still exists at the commit (and foreign keys
    // guard it anyway). The names go into the returned view without a re-read.
    let (requester, organization_name, team_name, assignee_name) = {
        let mut conn = app.read().await?;
        let requester = accounts::get_user(&mut conn, requester_id)
            .await?
            .filter(|u| u.active)
            .ok_or_else(|| AppError::invalid("requester_id", "no such active user"))?;
        let organization_name = match requester.organization_id {
            Some(o) => accounts::get_org(&mut conn, o).await?.map(|o| o.name),
            None => None,
        };
        let team_name = match team_id {
            Some(t) => Some(check_team(&mut conn, t).await?),
            None => None,
        };
        let assignee_name = match assignee_id {
            Some(a) => Some(check_assignee(&mut conn, a, team_id).await?),
            None => None,
        };
        check_watchers(&mut conn, &watchers).await?;
        (requester, organization_name, team_name, assignee_name)
    };
    Ok(PreparedTicket {
        kind,
        title,
        description,
        impact,
        urgency,
        category,
        priority,
        priority_reason,
        doc,
        requester,
        organization_name,
        team_id,
        team_name,
        assignee_id,
        assignee_name,
        watchers,
        catalogue,
        service: None,
    })
}

/// Inserts a prepared ticket in the caller's transaction: the record, its SLA clocks, search
/// text, audit entry and the ticket.created event.
pub(crate) async fn insert_ticket(
    app: &App,
    ctx: &mut steward_store::WriteCtx,
    actor: &Actor,
    p: PreparedTicket,
    now: i64,
) -> AppResult<TicketView> {
    let PreparedTicket {
        kind,
        title,
        description,
        impact,
        urgency,
        category,
        priority,
        priority_reason,
        doc,
        requester,
        organization_name,
        team_id,
        team_name,
        assignee_id,
        assignee_name,
        watchers,
        catalogue,
        service,
    } = p;
    let seq = tickets::next_number(&mut ctx.conn, kind.prefix()).await?;
    let mut t = Ticket {
        id: 0,
        number: kind.format_number(seq),
        kind: kind.as_str().into(),
        title,
        description,
        requester_id: requester.id,
        organization_id: requester.organization_id,
        team_id,
        assignee_id,
        category,
        impact: impact.as_str().into(),
        urgency: urgency.as_str().into(),
        priority: priority.rank(),
        priority_reason,
        status: if assignee_id.is_some() {
            Status::Assigned
        } else {
            Status::New
        }
        .as_str()
        .into(),
        pending_reason: None,
        resolution_code: None,
        resolution_notes: None,
        version: 1,
        created_at: now,
        updated_at: now,
        resolved_at: None,
        closed_at: None,
        service_id: catalogue
            .as_ref()
            .map(|c| c.service_id)
            .or(service.as_ref().map(|s| s.0)),
        request_type_id: catalogue.as_ref().map(|c| c.request_type_id),
        form_answers: catalogue.as_ref().map(|c| c.form_answers.clone()),
        approval_status: catalogue.as_ref().and_then(|c| c.approval_status()),
        sla_due_at: None,
        parent_id: None,
        service_name: catalogue
            .as_ref()
            .map(|c| c.service_code.clone())
            .or(service.map(|s| s.1)),
        requester_name: requester.name,
        organization_name,
        team_name,
        assignee_name,
    };
    t.id = tickets::insert(&mut ctx.conn, &t).await?;
    if let Some(c) = &catalogue {
        super::approvals::open(ctx, actor, &t, c, now).await?;
    }
    sla::sync_clocks(app, ctx, None, &t, ClockEvent::Created, now).await?;
    if !watchers.is_empty() {
        tickets::set_watchers(&mut ctx.conn, t.id, &watchers).await?;
    }
    let doc = format!("{} {doc}", t.number.to_lowercase().replace('-', " "));
    search::index_ticket(&mut ctx.conn, ctx.backend, t.id, &doc).await?;
    AuditTrail::new(actor, "ticket", t.id, now)
        .record(
            ctx,
            "create",
            None,
            None,
            Some(format!(
                "{} {} {}",
                t.number,
                t.status,
                Priority::from_rank(t.priority)
                    .map(|p| p.as_str())
                    .unwrap_or("")
            )),
        )
        .await?;
    super::events::publish(
        ctx,
        &[super::events::Event::new(
            super::events::EventKind::TicketCreated,
            t.id,
            actor.audit_id(),
            now,
        )],
        now,
    )
    .await?;
    Ok(TicketView::new(&t, watchers).redacted(actor.can(Capability::InternalNotes)))
}

pub async fn get_ticket(app: &App, actor: &Actor, id: i64) -> AppResult<TicketView> {
    let mut conn = app.read().await?;
    let t = actor.visible_ticket(&mut conn, id).await?;
    let watchers = tickets::watchers(&mut conn, id).await?;
    Ok(TicketView::new(&t, watchers).redacted(actor.can(Capability::InternalNotes)))
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub team_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    pub impact: Option<String>,
    pub urgency: Option<String>,
    /// Overrides the matrix priority; needs `priority_reason`. null returns to the matrix.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub priority: Option<Option<String>>,
    pub priority_reason: Option<String>,
    pub status: Option<String>,
    /// requester or third_party; with status pending.
    pub pending_reason: Option<String>,
    /// Required when resolving.
    pub resolution_code: Option<String>,
    pub resolution_notes: Option<String>,
    pub watcher_ids: Option<Vec<i64>>,
}

/// What a requester may do to a ticket they see: withdraw it while open, confirm or reopen a
/// resolution. Everything else is the service desk's.
fn check_requester_patch(p: &TicketPatch, current: Status) -> AppResult<()> {
    let staff_fields = [
        ("title", p.title.is_some()),
        ("description", p.description.is_some()),
        ("team_id", p.team_id.is_some()),
        ("assignee_id", p.assignee_id.is_some()),
        ("category", p.category.is_some()),
        ("impact", p.impact.is_some()),
        ("urgency", p.urgency.is_some()),
        ("priority", p.priority.is_some()),
        ("pending_reason", p.pending_reason.is_some()),
        ("resolution_code", p.resolution_code.is_some()),
        ("resolution_notes", p.resolution_notes.is_some()),
        ("watcher_ids", p.watcher_ids.is_some()),
    ];
    if let Some((field, _)) = staff_fields.iter().find(|(_, set)| *set) {
        return Err(AppError::forbidden(format!(
            "{field}: only the service desk changes this"
        )));
    }
    if let Some(s) = &p.status {
        let to = parse_status("status", s)?;
        let allowed = match to {
            Status::Cancelled => current.is_open(),
            Status::Closed | Status::InProgress => current == Status::Resolved,
            _ => false,
        };
        if !allowed {
            return Err(AppError::forbidden(
                "status: requesters may cancel an open ticket, or close or reopen a resolved one",
            ));
        }
    }
    Ok(())
}

fn opt_i64(v: Option<i64>) -> Option<String> {
    v.map(|v| v.to_string())
}

pub async fn update_ticket(
    app: &App,
    actor: &Actor,
    id: i64,
    patch: TicketPatch,
    if_match: Option<i64>,
) -> AppResult<TicketView> {
    if !actor.can(Capability::EditTickets) && !actor.can(Capability::SubmitTicket) {
        // Auditors read; they still get 404 for what they cannot see.
        get_ticket(app, actor, id).await?;
        return Err(AppError::forbidden("your role does not allow changes"));
    }
    let title = patch
        .title
        .as_deref()
        .map(|t| text_field("title", single_line(t, TITLE_MAX)))
        .transpose()?;
    let description = patch
        .description
        .as_deref()
        .map(|d| text_field("description", multi_line(d, DESCRIPTION_MAX, false)))
        .transpose()?;
    let impact = patch
        .impact
        .as_deref()
        .map(|v| parse_level("impact", v))
        .transpose()?;
    let urgency = patch
        .urgency
        .as_deref()
        .map(|v| parse_level("urgency", v))
        .transpose()?;
    let status = patch
        .status
        .as_deref()
        .map(|v| parse_status("status", v))
        .transpose()?;
    let pending_reason = patch
        .pending_reason
        .as_deref()
        .map(|v| {
            v.parse::<PendingReason>().map_err(|_| {
                AppError::invalid("pending_reason", "must be requester or third_party")
            })
        })
        .transpose()?;
    let priority = match &patch.priority {
        Some(Some(p)) => Some(Some(parse_priority(p)?)),
        Some(None) => Some(None),
        None => None,
    };
    let category = match &patch.category {
        Some(c) => Some(optional_line("category", c.as_deref(), 100)?),
        None => None,
    };
    let resolution_code = optional_line("resolution_code", patch.resolution_code.as_deref(), 100)?;
    let resolution_notes = patch
        .resolution_notes
        .as_deref()
        .map(|n| text_field("resolution_notes", multi_line(n, DESCRIPTION_MAX, false)))
        .transpose()?;
    let priority_reason = optional_line("priority_reason", patch.priority_reason.as_deref(), 500)?;
    let matrix = app.matrix.clone();
    // Segment changed text before the write, so that the single writer spends no time on it.
    let changed_text = (title.is_some() || description.is_some()).then(|| {
        search::segment_document(&format!(
            "{} {}",
            title.as_deref().unwrap_or(""),
            description.as_deref().unwrap_or("")
        ))
    });
    let actor = actor.clone();
    let store = app.store.clone();
    let app = app.clone();
    store
        .write(move |ctx| {
            Box::pin(async move {
                let old = actor.visible_ticket(&mut ctx.conn, id).await?;
                if let Some(v) = if_match {
                    if v != old.version {
                        return Err(AppError::Stale);
                    }
                }
                let current = parse_status("status", &old.status)?;
                let is_staff = actor.can(Capability::EditTickets);
                let is_staff_view = actor.can(Capability::InternalNotes);
                if !is_staff {
                    // Seeing an organisation's tickets does not mean changing them.
                    if old.requester_id != actor.user_id {
                        return Err(AppError::forbidden(
                            "only the requester or the service desk changes this ticket",
                        ));
                    }
                    check_requester_patch(&patch, current)?;
                }
                let mut t = old.clone();
                if let Some(v) = title {
                    t.title = v;
                }
                if let Some(v) = description {
                    t.description = v;
                }
                if let Some(v) = category {
                    t.category = v;
                }
                if let Some(team) = patch.team_id {
                    if let Some(team) = team {
                        check_team(&mut ctx.conn, team).await?;
                    }
                    // A new team that the current assignee is not in leaves the ticket unassigned.
                    if team != t.team_id && patch.assignee_id.is_none() {
                        if let (Some(a), Some(tm)) = (t.assignee_id, team) {
                            if !accounts::user_team_ids(&mut ctx.conn, a)
                                .await?
                                .contains(&tm)
                            {
                                t.assignee_id = None;
                            }
                        }
                    }
                    t.team_id = team;
                }
                if let Some(a) = patch.assignee_id {
                    if let Some(a) = a {
                        check_assignee(&mut ctx.conn, a, t.team_id).await?;
                    }
                    t.assignee_id = a;
                }
                // Impact, urgency and the override decide the priority together.
                let impact = impact.unwrap_or_else(|| t.impact.parse().unwrap_or(Level::Medium));
                let urgency = urgency.unwrap_or_else(|| t.urgency.parse().unwrap_or(Level::Medium));
                t.impact = impact.as_str().into();
                t.urgency = urgency.as_str().into();
                let from_matrix = matrix.priority(impact, urgency);
                match priority {
                    Some(Some(p)) if p != from_matrix => {
                        let reason = priority_reason.clone().ok_or_else(|| {
                            AppError::invalid(
                                "priority_reason",
                                "is required to override the matrix priority",
                            )
                        })?;
                        t.priority = p.rank();
                        t.priority_reason = Some(reason);
                    }
                    Some(_) => {
                        t.priority = from_matrix.rank();
                        t.priority_reason = None;
                    }
                    None if t.priority_reason.is_none() => t.priority = from_matrix.rank(),
                    None => {}
                }
                // Status: an explicit change must follow the lifecycle; assignment alone moves
                // new ↔ assigned.
                let now = now();
                let target = match status {
                    Some(s) => Some(s),
                    None if current == Status::New && t.assignee_id.is_some() => {
                        Some(Status::Assigned)
                    }
                    None if current == Status::Assigned && t.assignee_id.is_none() => {
                        Some(Status::New)
                    }
                    None => None,
                };
                if let Some(to) = target.filter(|s| *s != current) {
                    super::approvals::check_fulfilment(&old, to)?;
                    current
                        .check_transition(to)
                        .map_err(|e| AppError::Conflict {
                            message: e.to_string(),
                            allowed: Some(
                                e.allowed.iter().map(|s| s.as_str().to_string()).collect(),
                            ),
                        })?;
                    match to {
                        Status::Assigned if t.assignee_id.is_none() => {
                            return Err(AppError::invalid(
                                "assignee_id",
                                "is required for status assigned",
                            ));
                        }
                        Status::Pending => {
                            t.pending_reason = Some(
                                pending_reason
                                    .unwrap_or(PendingReason::Requester)
                                    .as_str()
                                    .into(),
                            );
                        }
                        Status::Resolved => {
                            let code = resolution_code
                                .clone()
                                .or(t.resolution_code.clone())
                                .ok_or_else(|| {
                                    AppError::invalid("resolution_code", "is required to resolve")
                                })?;
                            t.resolution_code = Some(code);
                            t.resolved_at = Some(now);
                        }
                        Status::Closed => t.closed_at = Some(now),
                        // Reopening clears the resolution time; the code stays for history.
                        Status::InProgress if current == Status::Resolved => t.resolved_at = None,
                        _ => {}
                    }
                    if to != Status::Pending {
                        t.pending_reason = None;
                    }
                    t.status = to.as_str().into();
                } else if let Some(r) = pending_reason {
                    if current == Status::Pending {
                        t.pending_reason = Some(r.as_str().into());
                    }
                }
                if status.is_none() {
                    if let Some(code) = &resolution_code {
                        t.resolution_code = Some(code.clone());
                    }
                }
                if status == Some(Status::Resolved) || resolution_notes.is_some() {
                    if let Some(n) = &resolution_notes {
                        t.resolution_notes = Some(n.clone());
                    }
                }
                let old_watchers = tickets::watchers(&mut ctx.conn, id).await?;
                let watchers = match &patch.watcher_ids {
                    Some(w) => {
                        let mut w = w.clone();
                        w.sort_unstable();
                        w.dedup();
                        check_watchers(&mut ctx.conn, &w).await?;
                        w
                    }
                    None => old_watchers.clone(),
                };
                let changes: Vec<(&str, Option<String>, Option<String>)> = vec![
                    ("title", Some(old.title.clone()), Some(t.title.clone())),
                    (
                        "description",
                        Some(old.description.clone()),
                        Some(t.description.clone()),
                    ),
                    ("team_id", opt_i64(old.team_id), opt_i64(t.team_id)),
                    (
                        "assignee_id",
                        opt_i64(old.assignee_id),
                        opt_i64(t.assignee_id),
                    ),
                    ("category", old.category.clone(), t.category.clone()),
                    ("impact", Some(old.impact.clone()), Some(t.impact.clone())),
                    (
                        "urgency",
                        Some(old.urgency.clone()),
                        Some(t.urgency.clone()),
                    ),
                    (
                        "priority",
                        Priority::from_rank(old.priority).map(|p| p.to_string()),
                        Priority::from_rank(t.priority).map(|p| p.to_string()),
                    ),
                    (
                        "priority_reason",
                        old.priority_reason.clone(),
                        t.priority_reason.clone(),
                    ),
                    ("status", Some(old.status.clone()), Some(t.status.clone())),
                    (
                        "pending_reason",
                        old.pending_reason.clone(),
                        t.pending_reason.clone(),
                    ),
                    (
                        "resolution_code",
                        old.resolution_code.clone(),
                        t.resolution_code.clone(),
                    ),
                    (
                        "resolution_notes",
                        old.resolution_notes.clone(),
                        t.resolution_notes.clone(),
                    ),
                    (
                        "watcher_ids",
                        Some(format!("{old_watchers:?}")),
                        Some(format!("{watchers:?}")),
                    ),
                ];
                if changes.iter().all(|(_, o, n)| o == n) {
                    return Ok(TicketView::new(&old, old_watchers).redacted(is_staff_view));
                }
                t.version = old.version + 1;
                t.updated_at = now;
                if !tickets::update(&mut ctx.conn, &t, old.version).await? {
                    return Err(AppError::Stale);
                }
                sla::sync_clocks(&app, ctx, Some(&old), &t, ClockEvent::Changed, now).await?;
                super::major::on_ticket_changed(&app, ctx, &actor, &old, &t, now).await?;
                if watchers != old_watchers {
                    tickets::set_watchers(&mut ctx.conn, id, &watchers).await?;
                }
                if let Some(doc) = changed_text
                    .filter(|_| t.title != old.title || t.description != old.description)
                {
                    search::append_ticket_text(&mut ctx.conn, ctx.backend, id, &doc, false).await?;
                }
                AuditTrail::new(&actor, "ticket", id, now)
                    .changes(ctx, &changes)
                    .await?;
                let events = super::events::for_update(&old, &t, actor.audit_id(), now);
                super::events::publish(ctx, &events, now).await?;
                let stored = tickets::get(&mut ctx.conn, &Scope::All, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                Ok(TicketView::new(&stored, watchers).redacted(is_staff_view))
            })
        })
        .await
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// One status or several, comma-separated; `open` means new, assigned, in_progress, pending.
    pub status: Option<String>,
    pub kind: Option<String>,
    pub team_id: Option<i64>,
    /// Only tickets without a team (the triage queue).
    pub triage: Option<bool>,
    pub assignee_id: Option<i64>,
    pub unassigned: Option<bool>,
    pub requester_id: Option<i64>,
    pub organization_id: Option<i64>,
    /// P1 .. P5
    pub priority: Option<String>,
    /// Full-text search over titles, descriptions and replies (Chinese and English).
    pub q: Option<String>,
    /// newest (default), priority (queue order: priority, then oldest), updated, or due
    /// (tickets with a running SLA clock, soonest due first)
    pub sort: Option<String>,
    /// Only tickets whose SLA due time falls within this many hours from now, breached
    /// ones included.
    pub due_within_hours: Option<i64>,
    /// 1..200, default 50
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn encode_cursor(sort: Sort, t: &Ticket) -> String {
    match sort {
        Sort::Newest => format!("n.{}", t.id),
        Sort::Priority => format!("p.{}.{}.{}", t.priority, t.created_at, t.id),
        Sort::Updated => format!("u.{}.{}", t.updated_at, t.id),
        Sort::Due => format!("d.{}.{}", t.sla_due_at.unwrap_or_default(), t.id),
    }
}

fn decode_cursor(sort: Sort, s: &str) -> AppResult<Cursor> {
    let bad = || AppError::invalid("cursor", "is not a cursor from this listing");
    let parts: Vec<&str> = s.split('.').collect();
    let n = |i: usize| {
        parts
            .get(i)
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    match (sort, parts.first().copied()) {
        (Sort::Newest, Some("n")) if parts.len() == 2 => Ok(Cursor::Newest { id: n(1)? }),
        (Sort::Priority, Some("p")) if parts.len() == 4 => Ok(Cursor::Priority {
            priority: n(1)?,
            created_at: n(2)?,
            id: n(3)?,
        }),
        (Sort::Updated, Some("u")) if parts.len() == 3 => Ok(Cursor::Updated {
            updated_at: n(1)?,
            id: n(2)?,
        }),
        (Sort::Due, Some("d")) if parts.len() == 3 => Ok(Cursor::Due {
            due_at: n(1)?,
            id: n(2)?,
        }),
        _ => Err(bad()),
    }
}

/// Turns query parameters into a store filter, naming the parameter at fault.
pub fn ticket_filter(actor: &Actor, q: &TicketQuery) -> AppResult<TicketFilter> {
    let mut f = TicketFilter {
        limit: q.limit.unwrap_or(50),
        ..Default::default()
    };
    if !(1..=200).contains(&f.limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 200"));
    }
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        for part in s.split(',') {
            if part == "open" {
                f.statuses
                    .extend(Status::OPEN.iter().map(|s| s.as_str().to_string()));
            } else {
                f.statuses
                    .push(parse_status("status", part)?.as_str().to_string());
            }
        }
    }
    f.kind = q
        .kind
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|k| parse_kind(k).map(|k| k.as_str().to_string()))
        .transpose()?;
    f.team_id = q.team_id;
    f.triage = q.triage.unwrap_or(false);
    f.assignee_id = q.assignee_id;
    f.unassigned = q.unassigned.unwrap_or(false);
    f.requester_id = q.requester_id;
    f.organization_id = q.organization_id;
    f.priority = q
        .priority
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|p| parse_priority(p).map(|p| p.rank()))
        .transpose()?;
    f.sort = match q.sort.as_deref() {
        None | Some("") | Some("newest") => Sort::Newest,
        Some("priority") => Sort::Priority,
        Some("updated") => Sort::Updated,
        Some("due") => Sort::Due,
        Some(_) => {
            return Err(AppError::invalid(
                "sort",
                "must be newest, priority, updated or due",
            ))
        }
    };
    if let Some(h) = q.due_within_hours {
        if !(0..=24 * 366).contains(&h) {
            return Err(AppError::invalid(
                "due_within_hours",
                "must be between 0 and 8784",
            ));
        }
        f.due_before = Some(now() + h * 3_600_000_000);
    }
    f.cursor = q
        .cursor
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|c| decode_cursor(f.sort, c))
        .transpose()?;
    if let Some(text) = q.q.as_deref().filter(|s| !s.trim().is_empty()) {
        if text.chars().count() > 200 {
            return Err(AppError::invalid("q", "is longer than 200 characters"));
        }
        f.words = search::segment_query(text);
        f.search_internal = actor.can(Capability::InternalNotes);
    }
    Ok(f)
}

pub async fn list_tickets(
    app: &App,
    actor: &Actor,
    q: &TicketQuery,
) -> AppResult<Page<TicketView>> {
    let f = ticket_filter(actor, q)?;
    if q.q.as_deref().is_some_and(|s| !s.trim().is_empty()) && f.words.is_empty() {
        return Ok(Page {
            items: vec![],
            next_cursor: None,
        });
    }
    let mut conn = app.read().await?;
    let rows = tickets::list(&mut conn, app.store.backend, &actor.ticket_scope(), &f).await?;
    let next_cursor = (rows.len() as i64 == f.limit)
        .then(|| rows.last().map(|t| encode_cursor(f.sort, t)))
        .flatten();
    // Watchers are shown on the ticket itself; lists leave them out to stay one query.
    let staff = actor.can(Capability::InternalNotes);
    let items = rows
        .iter()
        .map(|t| TicketView::new(t, vec![]).redacted(staff))
        .collect();
    Ok(Page { items, next_cursor })
}

pub async fn count_tickets(app: &App, actor: &Actor, q: &TicketQuery) -> AppResult<i64> {
    let f = ticket_filter(actor, q)?;
    let mut conn = app.read().await?;
    Ok(tickets::count(&mut conn, app.store.backend, &actor.ticket_scope(), &f).await?)
}
