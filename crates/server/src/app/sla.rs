//! SLA clocks on tickets: which agreements apply, starting, pausing, stopping and re-baselining
//! the clocks as a ticket moves, and the escalation sweep that warns and breaches.
//!
//! Rules (docs/adr/005-sla-clocks.md):
//! - A ticket gets clocks from at most one SLA (the most specific active agreement for its
//!   customer organisation and service) and one OLA (its team's), each with a response and a
//!   resolution clock measured on the agreement's calendar.
//! - Pending (on the requester or a third party) pauses every clock, and so does a request
//!   waiting for its approval; leaving pending, or the approval, resumes them.
//! - The first public reply by staff meets the response clock; resolving meets both; a reopen
//!   resumes the resolution clock; closing or cancelling stops what still runs.
//! - A change of priority re-baselines: the business time consumed so far is kept and measured
//!   against the new priority's target; levels already escalated stay escalated while the new
//!   target still calls for them. A change of service, organisation or team that selects
//!   a different agreement replaces its clocks, and the consumed time carries over.
//! - Each clock warns once and breaches once per baseline, however many nodes sweep.

use super::{Actor, App, AppError, AppResult, AuditTrail};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use std::sync::Arc;
use steward_core::calendar::WorkingCalendar;
use steward_core::sla::{Clock, ClockState};
use steward_core::Status;
use steward_store::sla::{self as store, Agreement, ClockRow};
use steward_store::tickets::{self, Ticket};
use steward_store::WriteCtx;
use utoipa::ToSchema;

pub const RESPONSE: &str = "response";
pub const RESOLUTION: &str = "resolution";

pub(crate) fn ts(micros: i64) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub fn to_clock(row: &ClockRow) -> Clock {
    Clock {
        target_secs: row.target_secs,
        started_at: ts(row.started_at),
        state: row.state.parse().unwrap_or(ClockState::Cancelled),
        since: ts(row.since),
        elapsed_secs: row.elapsed_secs,
        paused_secs: row.paused_secs,
        breached_at: row.breached_at.map(ts),
    }
}

/// Copies the clock into the row and works out its due time and next escalation instant.
pub(crate) fn store_clock(
    row: &mut ClockRow,
    clock: &Clock,
    cal: &WorkingCalendar,
    warn_per_mille: i64,
) {
    row.target_secs = clock.target_secs;
    row.state = clock.state.as_str().to_string();
    row.since = micros(clock.since);
    row.elapsed_secs = clock.elapsed_secs;
    row.paused_secs = clock.paused_secs;
    row.breached_at = clock.breached_at.map(micros);
    let running = clock.state == ClockState::Running;
    row.due_at = if running {
        clock.due_at(cal).map(micros)
    } else {
        // A paused clock keeps the due time it would have if it resumed now: shown, not chased.
        row.due_at.filter(|_| clock.state == ClockState::Paused)
    };
    row.next_escalation_at = if !running {
        None
    } else {
        match row.escalation_level {
            0 => clock
                .instant_at_share(cal, warn_per_mille.clamp(0, 1000) as u32)
                .map(micros),
            1 => row.due_at,
            _ => None,
        }
    };
}

/// An agreement applies to a ticket when it is active today and its customer, team and
/// services match; the more it names, the more specific it is.
fn specificity(a: &Agreement, t: &Ticket, today: &str) -> Option<u8> {
    if a.valid_from.as_str() > today || a.valid_to.as_deref().is_some_and(|to| to < today) {
        return None;
    }
    let service = if a.service_ids.is_empty() {
        0
    } else if t.service_id.is_some_and(|s| a.service_ids.contains(&s)) {
        1
    } else {
        return None;
    };
    match a.kind.as_str() {
        "sla" => match a.organization_id {
            None => Some(service),
            Some(o) if t.organization_id == Some(o) => Some(2 + service),
            Some(_) => None,
        },
        "ola" => (a.team_id.is_some() && a.team_id == t.team_id).then_some(service),
        _ => None,
    }
}

/// The agreements and calendars, parsed, as they were at a stamp of their tables. Every ticket
/// change needs them inside the single writer, so they are read once and reused until the
/// stamp (one small query) shows a change, on this node or another.
pub struct Config {
    stamp: [i64; 4],
    /// Every agreement, whatever its status, with services and targets.
    agreements: Vec<Agreement>,
    calendars: HashMap<i64, Arc<WorkingCalendar>>,
}

impl Config {
    pub fn agreement(&self, id: i64) -> Option<&Agreement> {
        self.agreements.iter().find(|a| a.id == id)
    }

    pub fn calendar(&self, id: i64) -> AppResult<Arc<WorkingCalendar>> {
        self.calendars
            .get(&id)
            .cloned()
            .ok_or_else(|| AppError::Internal(format!("calendar {id} is missing")))
    }

    /// The SLA and the OLA that govern the ticket now (each may be absent).
    pub fn select(&self, t: &Ticket, now: i64) -> Vec<&Agreement> {
        let today = ts(now)
            .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC))
            .date()
            .to_string();
        ["sla", "ola"]
            .iter()
            .filter_map(|kind| {
                self.agreements
                    .iter()
                    .filter(|a| a.status == "active" && a.kind == *kind)
                    .filter_map(|a| specificity(a, t, &today).map(|s| (s, a)))
                    // Most specific first; among equals the oldest agreement.
                    .max_by(|(s1, a1), (s2, a2)| s1.cmp(s2).then(a2.id.cmp(&a1.id)))
                    .map(|(_, a)| a)
            })
            .collect()
    }
}

/// The last [`Config`] read, shared by the requests of this node.
#[derive(Default)]
pub struct ConfigCache(std::sync::Mutex<Option<Arc<Config>>>);

/// The current agreements and calendars, read again only when their tables changed.
pub async fn config(app: &App, conn: &mut AnyConnection) -> AppResult<Arc<Config>> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM slas), (SELECT COALESCE(MAX(updated_at), 0) FROM slas), \
         (SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM slas), \
         (SELECT CAST(COALESCE(SUM(version), 0) + COUNT(*) AS BIGINT) FROM calendars)",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(steward_store::StoreError::from)?;
    let stamp = [0, 1, 2, 3].map(|i| row.try_get::<i64, _>(i).unwrap_or(-1));
    if let Ok(cached) = app.service_levels.0.lock() {
        if let Some(c) = cached.as_ref().filter(|c| c.stamp == stamp) {
            return Ok(c.clone());
        }
    }
    let agreements = store::list_agreements(conn).await?;
    let mut calendars = HashMap::new();
    for row in store::list_calendars(conn).await? {
        calendars.insert(row.id, app.calendars.of_row(&row)?);
    }
    let config = Arc::new(Config {
        stamp,
        agreements,
        calendars,
    });
    if let Ok(mut cached) = app.service_levels.0.lock() {
        *cached = Some(config.clone());
    }
    Ok(config)
}

pub(crate) fn target_of(a: &Agreement, priority: i64, metric: &str) -> Option<i64> {
    a.targets
        .iter()
        .find(|t| t.priority == priority)
        .map(|t| match metric {
            RESPONSE => t.response_secs,
            _ => t.resolution_secs,
        })
}

/// The escalation level a clock has reached at `now`: 2 past its target, 1 past the warning
/// share, else 0.
pub(crate) fn level_reached(
    clock: &Clock,
    cal: &WorkingCalendar,
    now: Timestamp,
    warn_per_mille: i64,
) -> i64 {
    let elapsed = clock.elapsed_at(cal, now);
    if elapsed >= clock.target_secs {
        2
    } else if elapsed * 1000 >= clock.target_secs * warn_per_mille {
        1
    } else {
        0
    }
}

/// What happened to the ticket, as far as its clocks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockEvent {
    Created,
    Changed,
    /// A public reply by staff.
    StaffReplied,
}

/// Brings the ticket's clocks in line with the ticket after a change (inside the change's
/// transaction) and keeps `tickets.sla_due_at` current.
pub async fn sync_clocks(
    app: &App,
    ctx: &mut WriteCtx,
    old: Option<&Ticket>,
    t: &Ticket,
    event: ClockEvent,
    now: i64,
) -> AppResult<()> {
    let conn = &mut ctx.conn;
    let status: Status = t.status.parse().unwrap_or(Status::New);
    // A request waiting for its approval is not the service desk's to fulfil yet.
    let waiting = status == Status::Pending || t.approval_status.as_deref() == Some("pending");
    let now_ts = ts(now);
    let config = config(app, conn).await?;
    let mut rows = store::clocks_of(conn, t.id).await?;
    let scope_changed = old.is_none_or(|o| {
        o.service_id != t.service_id
            || o.organization_id != t.organization_id
            || o.team_id != t.team_id
    });
    if scope_changed && status.is_open() {
        let agreements = config.select(t, now);
        // Clocks of agreements that no longer apply stop; their consumed time carries over.
        let mut carried: HashMap<&str, (i64, i64, String)> = HashMap::new();
        for row in rows.iter_mut() {
            if agreements.iter().any(|a| a.id == row.sla_id) {
                continue;
            }
            let state: ClockState = row.state.parse().unwrap_or(ClockState::Cancelled);
            if matches!(state, ClockState::Running | ClockState::Paused) {
                let cal = config.calendar(row.calendar_id)?;
                let mut clock = to_clock(row);
                let elapsed = clock.elapsed_at(&cal, now_ts);
                let metric = if row.metric == RESPONSE {
                    RESPONSE
                } else {
                    RESOLUTION
                };
                carried.insert(metric, (elapsed, row.paused_secs, row.state.clone()));
                clock.cancel(&cal, now_ts);
                store_clock(row, &clock, &cal, 1000);
                store::update_clock(conn, row, None).await?;
            }
        }
        for a in &agreements {
            for metric in [RESPONSE, RESOLUTION] {
                // A clock of this agreement cancelled earlier (the ticket went to another team
                // and came back) is taken up again rather than duplicated.
                let existing = rows
                    .iter()
                    .position(|r| r.sla_id == a.id && r.metric == metric);
                if existing.is_some_and(|i| rows[i].state != ClockState::Cancelled.as_str()) {
                    continue;
                }
                // A response clock is only started for a ticket nobody has answered yet.
                if metric == RESPONSE
                    && old.is_some()
                    && !carried.contains_key(RESPONSE)
                    && tickets::has_staff_reply(conn, t.id, t.requester_id).await?
                {
                    continue;
                }
                let Some(target) = target_of(a, t.priority, metric) else {
                    continue;
                };
                let cal = config.calendar(a.calendar_id)?;
                let mut clock = Clock::start(now_ts, target);
                if let Some((elapsed, paused, _)) = carried.get(metric) {
                    clock.elapsed_secs = *elapsed;
                    clock.paused_secs = *paused;
                    clock.started_at = ts(t.created_at);
                } else if let Some(i) = existing {
                    clock.elapsed_secs = rows[i].elapsed_secs;
                    clock.paused_secs = rows[i].paused_secs;
                    clock.started_at = ts(rows[i].started_at);
                }
                if waiting {
                    clock.pause(&cal, now_ts);
                }
                if let Some(i) = existing {
                    let row = &mut rows[i];
                    row.calendar_id = a.calendar_id;
                    row.baseline += 1;
                    row.escalation_level = row.escalation_level.min(level_reached(
                        &clock,
                        &cal,
                        now_ts,
                        a.warn_per_mille,
                    ));
                    row.due_at = clock.due_if_resumed_at(&cal, now_ts).map(micros);
                    store_clock(row, &clock, &cal, a.warn_per_mille);
                    store::update_clock(conn, row, None).await?;
                    continue;
                }
                let mut row = ClockRow {
                    id: 0,
                    ticket_id: t.id,
                    sla_id: a.id,
                    metric: metric.to_string(),
                    calendar_id: a.calendar_id,
                    target_secs: target,
                    started_at: micros(clock.started_at),
                    state: String::new(),
                    since: now,
                    elapsed_secs: 0,
                    paused_secs: 0,
                    breached_at: None,
                    due_at: None,
                    baseline: 1,
                    escalation_level: 0,
                    next_escalation_at: None,
                    breach_reason: None,
                    sla_name: a.name.clone(),
                };
                if let Some(due) = clock.due_if_resumed_at(&cal, now_ts) {
                    row.due_at = Some(micros(due));
                }
                store_clock(&mut row, &clock, &cal, a.warn_per_mille);
                row.id = store::insert_clock(conn, &row).await?;
                rows.push(row);
            }
        }
    }
    // Now the status, priority and reply rules, clock by clock.
    for row in rows.iter_mut() {
        let state: ClockState = row.state.parse().unwrap_or(ClockState::Cancelled);
        if state == ClockState::Cancelled {
            continue;
        }
        let cal = config.calendar(row.calendar_id)?;
        let warn = config
            .agreement(row.sla_id)
            .map(|a| a.warn_per_mille)
            .unwrap_or(750);
        let before = row.clone();
        let mut clock = to_clock(row);
        let is_response = row.metric == RESPONSE;
        match status {
            Status::Resolved => {
                if matches!(state, ClockState::Running | ClockState::Paused) {
                    clock.stop(&cal, now_ts);
                }
            }
            Status::Closed | Status::Cancelled => {
                if matches!(state, ClockState::Running | ClockState::Paused) {
                    clock.cancel(&cal, now_ts);
                }
            }
            _ if waiting => {
                if state == ClockState::Running {
                    clock.pause(&cal, now_ts);
                }
            }
            _ => {
                if is_response && event == ClockEvent::StaffReplied && state != ClockState::Met {
                    clock.stop(&cal, now_ts);
                } else if state == ClockState::Paused {
                    clock.resume(&cal, now_ts);
                } else if state == ClockState::Met
                    && !is_response
                    && old.is_some_and(|o| o.status == Status::Resolved.as_str())
                {
                    // Reopened: the resolution clock runs on from where it stopped.
                    clock.state = ClockState::Running;
                    clock.since = now_ts;
                }
            }
        }
        if event == ClockEvent::StaffReplied && is_response && clock.state == ClockState::Paused {
            clock.stop(&cal, now_ts);
        }
        if old.is_some_and(|o| o.priority != t.priority) && clock.state != ClockState::Met {
            if let Some(target) = config
                .agreement(row.sla_id)
                .and_then(|a| target_of(a, t.priority, &row.metric))
                .filter(|target| *target != clock.target_secs)
            {
                clock.rebaseline(&cal, now_ts, target);
                row.baseline += 1;
                row.escalation_level = row
                    .escalation_level
                    .min(level_reached(&clock, &cal, now_ts, warn));
            }
        }
        if clock.state == ClockState::Paused {
            row.due_at = clock.due_if_resumed_at(&cal, now_ts).map(micros);
        }
        store_clock(row, &clock, &cal, warn);
        if *row != before {
            store::update_clock(conn, row, None).await?;
        }
    }
    let earliest = rows
        .iter()
        .filter(|r| r.state == ClockState::Running.as_str())
        .filter_map(|r| r.due_at)
        .min();
    if earliest != t.sla_due_at {
        tickets::set_sla_due(conn, t.id, earliest).await?;
    }
    Ok(())
}

/// A clock as the API and the ticket page show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClockView {
    pub id: i64,
    pub sla_id: i64,
    pub sla_name: String,
    /// response or resolution
    pub metric: String,
    /// running, paused, met or breached (or cancelled)
    pub status: String,
    pub target_minutes: i64,
    pub elapsed_minutes: i64,
    pub paused_minutes: i64,
    /// Business minutes left; negative once breached.
    pub remaining_minutes: i64,
    pub started_at: String,
    /// When the target falls due (for a paused clock: if it resumed now).
    pub due_at: Option<String>,
    pub breached_at: Option<String>,
    /// When the clock stopped (met) or was cancelled.
    pub stopped_at: Option<String>,
    pub calendar_id: i64,
    /// Why the target was missed, as recorded by staff (staff only).
    pub breach_reason: Option<String>,
}

pub fn clock_view(row: &ClockRow, cal: &WorkingCalendar, now: i64) -> ClockView {
    let clock = to_clock(row);
    let now_ts = ts(now);
    let elapsed = clock.elapsed_at(cal, now_ts);
    let status = clock.status_at(cal, now_ts).as_str().to_string();
    let stopped = matches!(clock.state, ClockState::Met | ClockState::Cancelled);
    ClockView {
        id: row.id,
        sla_id: row.sla_id,
        sla_name: row.sla_name.clone(),
        metric: row.metric.clone(),
        status,
        target_minutes: row.target_secs / 60,
        elapsed_minutes: elapsed / 60,
        paused_minutes: row.paused_secs / 60,
        remaining_minutes: (row.target_secs - elapsed) / 60,
        started_at: super::views::instant(row.started_at),
        due_at: row.due_at.map(super::views::instant),
        breached_at: clock
            .breached_at
            .or_else(|| {
                clock
                    .is_breached_at(cal, now_ts)
                    .then(|| clock.due_at(cal))
                    .flatten()
            })
            .map(|t| super::views::instant(micros(t))),
        stopped_at: stopped.then(|| super::views::instant(row.since)),
        calendar_id: row.calendar_id,
        breach_reason: row.breach_reason.clone(),
    }
}

/// The clocks of a ticket the actor may see (404 otherwise).
pub async fn clocks(app: &App, actor: &Actor, ticket_id: i64) -> AppResult<Vec<ClockView>> {
    let mut conn = app.read().await?;
    actor.visible_ticket(&mut conn, ticket_id).await?;
    let rows = store::clocks_of(&mut conn, ticket_id).await?;
    let now = super::now();
    let staff = actor.can(steward_core::Capability::InternalNotes);
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let cal = app.calendars.get(&mut conn, row.calendar_id).await?;
        let mut view = clock_view(row, &cal, now);
        if !staff {
            view.breach_reason = None;
        }
        out.push(view);
    }
    Ok(out)
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreachReasonInput {
    /// Why the target was missed; empty clears it.
    pub breach_reason: String,
}

/// Records why a breached clock missed its target (staff who may edit the ticket).
pub async fn set_breach_reason(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
    clock_id: i64,
    input: BreachReasonInput,
) -> AppResult<ClockView> {
    let reason = match input.breach_reason.trim() {
        "" => None,
        r => Some(super::error::text_field(
            "breach_reason",
            steward_core::text::single_line(r, 500),
        )?),
    };
    let actor = actor.clone();
    let store_handle = app.store.clone();
    let app = app.clone();
    store_handle
        .write(move |ctx| {
            Box::pin(async move {
                actor.visible_ticket(&mut ctx.conn, ticket_id).await?;
                actor.require(steward_core::Capability::EditTickets)?;
                let row = store::get_clock(&mut ctx.conn, clock_id)
                    .await?
                    .filter(|c| c.ticket_id == ticket_id)
                    .ok_or(AppError::NotFound)?;
                let cal = app.calendars.get(&mut ctx.conn, row.calendar_id).await?;
                let now = super::now();
                if !to_clock(&row).is_breached_at(&cal, ts(now)) {
                    return Err(AppError::Conflict {
                        message: "only a breached target takes a breach reason".into(),
                        allowed: None,
                    });
                }
                store::set_breach_reason(&mut ctx.conn, clock_id, reason.as_deref()).await?;
                AuditTrail::new(&actor, "ticket", ticket_id, now)
                    .changes(
                        ctx,
                        &[("breach_reason", row.breach_reason.clone(), reason.clone())],
                    )
                    .await?;
                let mut row = row;
                row.breach_reason = reason;
                Ok(clock_view(&row, &cal, now))
            })
        })
        .await
}
