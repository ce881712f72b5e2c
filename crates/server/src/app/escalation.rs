//! The escalation sweep: warns and breaches the SLA clocks whose moment has come, and takes the
//! agreements' actions (in-app notifications, a raised priority, another team).
//!
//! Exactly once, whatever the number of nodes: each round of due clocks is one change through
//! the writer; it records `sla_escalations (clock, level, baseline)` — unique — with one
//! statement, and acts only on the rows that statement reports as new. A clock another node
//! escalated first is left alone. On PostgreSQL every writer batch locks the audit chain head
//! first, so two nodes' rounds never interleave. Statements are batched per round (escalations,
//! notifications, audit entries), because round trips, not work, dominate (BENCHMARKS.md).

use super::events::{self, Event, EventKind};
use super::sla::{self, config, level_reached, micros, store_clock, to_clock, ts, ClockEvent};
use super::{Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use steward_core::{Channel, Priority, Status};
use steward_store::audit::{self, NewEntry};
use steward_store::sla::{self as store, ClockRow, NewEscalation, NewNotification};
use steward_store::tickets::{self, Ticket};
use steward_store::WriteCtx;
use utoipa::ToSchema;

/// What happens at a warning or a breach; stored as JSON on the agreement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationActions {
    pub notify_assignee: bool,
    pub notify_team_lead: bool,
    pub notify_service_manager: bool,
    /// One step more urgent (P3 → P2), never above P1.
    pub raise_priority: bool,
    /// Hand the ticket to this team (the assignee is kept only if a member).
    pub move_to_team_id: Option<i64>,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct SweepReport {
    pub examined: usize,
    pub warnings: usize,
    pub breaches: usize,
}

/// Clocks escalated per round (one writer change).
const SWEEP_BATCH: i64 = 500;

/// Warns and breaches every clock whose moment has come by `now`. Safe to run on several
/// nodes at once.
pub async fn sweep(app: &App, now: i64, node: &str) -> AppResult<SweepReport> {
    let mut report = SweepReport::default();
    let mut seen = std::collections::HashSet::new();
    loop {
        let due = {
            let mut conn = app.read().await?;
            store::due_for_escalation(&mut conn, now, SWEEP_BATCH).await?
        };
        let ids: Vec<i64> = due
            .into_iter()
            .map(|c| c.id)
            .filter(|id| seen.insert(*id))
            .collect();
        if ids.is_empty() {
            break;
        }
        report.examined += ids.len();
        let app2 = app.clone();
        let node = node.to_string();
        let (warnings, breaches) = app
            .store
            .write(move |ctx| {
                Box::pin(async move { escalate_round(&app2, ctx, &ids, now, &node).await })
            })
            .await?;
        report.warnings += warnings;
        report.breaches += breaches;
    }
    Ok(report)
}

/// One clock's escalation in this round: the levels it newly reached.
struct Step {
    row: ClockRow,
    levels: Vec<&'static str>,
    reached: i64,
}

/// Escalates the clocks of one round as far as `now` calls for. Returns (warnings, breaches).
async fn escalate_round(
    app: &App,
    ctx: &mut WriteCtx,
    ids: &[i64],
    now: i64,
    node: &str,
) -> AppResult<(usize, usize)> {
    let config = config(app, &mut ctx.conn).await?;
    let now_ts = ts(now);
    // Read again inside the change: what was due when read may have moved on since.
    let mut steps = Vec::new();
    for row in store::clocks_by_ids(&mut ctx.conn, ids).await? {
        if row.next_escalation_at.is_none_or(|n| n > now) {
            continue;
        }
        let Some(agreement) = config.agreement(row.sla_id) else {
            continue;
        };
        let cal = config.calendar(row.calendar_id)?;
        let reached = level_reached(&to_clock(&row), &cal, now_ts, agreement.warn_per_mille);
        let levels = ((row.escalation_level + 1)..=reached)
            .map(|l| if l == 1 { "warning" } else { "breach" })
            .collect();
        steps.push(Step {
            row,
            levels,
            reached,
        });
    }
    let wanted: Vec<NewEscalation> = steps
        .iter()
        .flat_map(|s| {
            let a = config.agreement(s.row.sla_id);
            s.levels.iter().map(move |level| NewEscalation {
                clock_id: s.row.id,
                ticket_id: s.row.ticket_id,
                level,
                baseline: s.row.baseline,
                actions: a
                    .map(|a| {
                        if *level == "warning" {
                            a.warning_actions.clone()
                        } else {
                            a.breach_actions.clone()
                        }
                    })
                    .unwrap_or_else(|| "{}".into()),
            })
        })
        .collect();
    let recorded: std::collections::HashSet<(i64, String)> =
        store::insert_escalations(&mut ctx.conn, &wanted, now, node)
            .await?
            .into_iter()
            .collect();
    let ticket_ids: Vec<i64> = wanted
        .iter()
        .filter(|w| recorded.contains(&(w.clock_id, w.level.to_string())))
        .map(|w| w.ticket_id)
        .collect();
    let tickets: HashMap<i64, Ticket> = tickets::get_many(&mut ctx.conn, &ticket_ids)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let mut recipients = Recipients::default();
    let mut notifications = Vec::new();
    let mut events = Vec::new();
    let mut entries: Vec<(i64, String, String, String)> = Vec::new();
    let mut changes: Vec<(i64, &'static str, EscalationActions)> = Vec::new();
    let (mut warnings, mut breaches) = (0, 0);
    for w in &wanted {
        if !recorded.contains(&(w.clock_id, w.level.to_string())) {
            continue;
        }
        let Some(t) = tickets.get(&w.ticket_id) else {
            continue;
        };
        let Some(row) = steps.iter().map(|s| &s.row).find(|r| r.id == w.clock_id) else {
            continue;
        };
        if w.level == "warning" {
            warnings += 1;
        } else {
            breaches += 1;
        }
        let actions: EscalationActions = serde_json::from_str(&w.actions).unwrap_or_default();
        let params = serde_json::json!({
            "number": t.number,
            "title": t.title,
            "metric": row.metric,
            "sla": row.sla_name,
            "due_at": row.due_at.map(super::views::instant),
        })
        .to_string();
        let users = recipients.of(&mut ctx.conn, t, &actions).await?;
        let kind = if w.level == "warning" {
            EventKind::SlaWarning
        } else {
            EventKind::SlaBreached
        };
        events.push(
            Event::new(kind, t.id, None, now)
                .with_recipients(users.clone())
                .with_data(serde_json::json!({
                    "metric": row.metric,
                    "sla": row.sla_name,
                    "due_at": row.due_at.map(super::views::instant),
                })),
        );
        for user in users {
            notifications.push(NewNotification {
                user_id: user,
                ticket_id: Some(t.id),
                kind: format!("sla_{}", w.level),
                params: params.clone(),
            });
        }
        entries.push((
            t.id,
            format!("sla_{}", w.level),
            row.metric.clone(),
            format!("{} {}", row.sla_name, row.metric),
        ));
        if actions.raise_priority || actions.move_to_team_id.is_some() {
            changes.push((t.id, w.level, actions));
        }
    }
    store::notify_many(&mut ctx.conn, &notifications, now).await?;
    events::publish(ctx, &events, now).await?;
    let audit_entries: Vec<NewEntry> = entries
        .iter()
        .map(|(ticket, action, metric, value)| NewEntry {
            at: now,
            actor_id: None,
            channel: Channel::System.as_str(),
            entity: "ticket",
            entity_id: *ticket,
            action,
            field: Some(metric),
            old_value: None,
            new_value: Some(value.clone()),
        })
        .collect();
    audit::append_many(ctx, &audit_entries).await?;
    // The clocks move on to their next escalation (or none).
    for step in &mut steps {
        let Some(agreement) = config.agreement(step.row.sla_id) else {
            continue;
        };
        let cal = config.calendar(step.row.calendar_id)?;
        let mut clock = to_clock(&step.row);
        if step.reached == 2 && clock.breached_at.is_none() {
            clock.breached_at = clock.due_at(&cal);
        }
        let before = step.row.clone();
        step.row.escalation_level = step.reached.max(step.row.escalation_level);
        store_clock(&mut step.row, &clock, &cal, agreement.warn_per_mille);
        if step.reached == 0 {
            // Not there yet (paused or re-baselined since it was scheduled): look again later.
            step.row.next_escalation_at = clock
                .instant_at_share(&cal, agreement.warn_per_mille.clamp(0, 1000) as u32)
                .map(micros)
                .filter(|n| *n > now)
                .or(Some(now + 60_000_000));
        }
        if step.row != before {
            store::update_clock(&mut ctx.conn, &step.row, None).await?;
        }
    }
    // Raised priorities and moves change tickets one by one (they are rare), and their clocks
    // follow: new targets, another team's OLA. Levels already reached do not fire again.
    for (ticket, level, actions) in changes {
        if let Some((before, after)) =
            apply_ticket_actions(ctx, ticket, level, &actions, now).await?
        {
            sla::sync_clocks(app, ctx, Some(&before), &after, ClockEvent::Changed, now).await?;
        }
    }
    Ok((warnings, breaches))
}

/// Who a warning or breach notifies, with the team leads and service managers looked up once
/// per round.
#[derive(Default)]
struct Recipients {
    leads: HashMap<i64, Vec<i64>>,
    managers: HashMap<Option<i64>, Vec<i64>>,
}

impl Recipients {
    async fn of(
        &mut self,
        conn: &mut AnyConnection,
        t: &Ticket,
        actions: &EscalationActions,
    ) -> AppResult<Vec<i64>> {
        let mut users = Vec::new();
        if actions.notify_assignee {
            users.extend(t.assignee_id);
        }
        if let Some(team) = t.team_id.filter(|_| actions.notify_team_lead) {
            let leads = match self.leads.entry(team) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(team_leads(conn, team).await?),
            };
            users.extend(leads.iter().copied());
        }
        if actions.notify_service_manager {
            let managers = match self.managers.entry(t.service_id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(service_managers(conn, t.service_id).await?),
            };
            users.extend(managers.iter().copied());
        }
        users.sort_unstable();
        users.dedup();
        Ok(users)
    }
}

/// Raises the priority or moves the ticket as a level's actions say; returns the ticket before
/// and after when it changed.
async fn apply_ticket_actions(
    ctx: &mut WriteCtx,
    ticket_id: i64,
    level: &str,
    actions: &EscalationActions,
    now: i64,
) -> AppResult<Option<(Ticket, Ticket)>> {
    let Some(t) = tickets::get(&mut ctx.conn, &tickets::Scope::All, ticket_id).await? else {
        return Ok(None);
    };
    let mut changed = t.clone();
    if actions.raise_priority && t.priority > 1 {
        changed.priority = t.priority - 1;
        changed.priority_reason = Some(format!("SLA {level}"));
    }
    if let Some(team) = actions.move_to_team_id.filter(|tm| Some(*tm) != t.team_id) {
        if steward_store::accounts::get_team(&mut ctx.conn, team)
            .await?
            .is_some()
        {
            changed.team_id = Some(team);
            if let Some(a) = t.assignee_id {
                if !steward_store::accounts::user_team_ids(&mut ctx.conn, a)
                    .await?
                    .contains(&team)
                {
                    changed.assignee_id = None;
                    if changed.status == Status::Assigned.as_str() {
                        changed.status = Status::New.as_str().into();
                    }
                }
            }
        }
    }
    if changed == t {
        return Ok(None);
    }
    changed.version = t.version + 1;
    changed.updated_at = now;
    if !tickets::update(&mut ctx.conn, &changed, t.version).await? {
        return Err(AppError::Stale);
    }
    let p = |r: i64| Priority::from_rank(r).map(|p| p.to_string());
    let opt = |v: Option<i64>| v.map(|v| v.to_string());
    let system = Actor::system(Channel::System);
    AuditTrail::new(&system, "ticket", t.id, now)
        .changes(
            ctx,
            &[
                ("priority", p(t.priority), p(changed.priority)),
                (
                    "priority_reason",
                    t.priority_reason.clone(),
                    changed.priority_reason.clone(),
                ),
                ("team_id", opt(t.team_id), opt(changed.team_id)),
                ("assignee_id", opt(t.assignee_id), opt(changed.assignee_id)),
                (
                    "status",
                    Some(t.status.clone()),
                    Some(changed.status.clone()),
                ),
            ],
        )
        .await?;
    Ok(Some((t, changed)))
}

async fn team_leads(conn: &mut AnyConnection, team: i64) -> AppResult<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT u.id FROM users u JOIN team_members m ON m.user_id = u.id \
         WHERE m.team_id = $1 AND u.role = 'team_lead' AND u.active = 1 ORDER BY u.id",
    )
    .bind(team)
    .fetch_all(conn)
    .await
    .map_err(steward_store::StoreError::from)?;
    Ok(rows.iter().filter_map(|r| r.try_get(0).ok()).collect())
}

/// The service's owner, or every active service manager when the ticket names no service
/// with an owner.
async fn service_managers(conn: &mut AnyConnection, service: Option<i64>) -> AppResult<Vec<i64>> {
    if let Some(s) = service {
        let row = sqlx::query("SELECT owner_id FROM services WHERE id = $1")
            .bind(s)
            .fetch_optional(&mut *conn)
            .await
            .map_err(steward_store::StoreError::from)?;
        if let Some(owner) = row.and_then(|r| r.try_get::<Option<i64>, _>(0).ok().flatten()) {
            return Ok(vec![owner]);
        }
    }
    let rows = sqlx::query(
        "SELECT id FROM users WHERE role = 'service_manager' AND active = 1 ORDER BY id",
    )
    .fetch_all(conn)
    .await
    .map_err(steward_store::StoreError::from)?;
    Ok(rows.iter().filter_map(|r| r.try_get(0).ok()).collect())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EscalationView {
    pub id: i64,
    pub clock_id: i64,
    /// warning or breach
    pub level: String,
    /// Raised each time the ticket's targets were re-baselined.
    pub baseline: i64,
    pub at: String,
    pub actions: EscalationActions,
    /// The app node that ran it.
    pub node: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EscalationList {
    pub items: Vec<EscalationView>,
}

/// A ticket's warnings and breaches; staff information (requesters get 403 on a ticket they
/// see, 404 on one they do not).
pub async fn escalations(app: &App, actor: &Actor, ticket_id: i64) -> AppResult<EscalationList> {
    let mut conn = app.read().await?;
    actor.visible_ticket(&mut conn, ticket_id).await?;
    actor.require(steward_core::Capability::InternalNotes)?;
    let items = store::escalations_of(&mut conn, ticket_id)
        .await?
        .into_iter()
        .map(|e| EscalationView {
            id: e.id,
            clock_id: e.clock_id,
            level: e.level,
            baseline: e.baseline,
            at: super::views::instant(e.at),
            actions: serde_json::from_str(&e.actions).unwrap_or_default(),
            node: e.node,
        })
        .collect();
    Ok(EscalationList { items })
}
