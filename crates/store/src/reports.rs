//! SLA attainment reporting: clocks aggregated in SQL by a ticket dimension, and the breaches.
//!
//! Which clocks count in a period (docs/adr/006-sla-reporting.md): a clock counts in the period
//! in which its outcome was decided, as monthly service reviews expect (a closed month's figures
//! do not move afterwards, and each breach is reported once, in the month it happened):
//! - breached: at its recorded `breached_at`; a met clock over its target without a recorded
//!   breach at the instant it was met (`since`); a running clock past `due_at` at `due_at`.
//! - met in time: a met clock within its target, at the instant it was met (`since`).
//! - open (not in attainment): running and not yet due, or paused without a breach; shown by
//!   the instant the clock started.
//! - cancelled clocks (a cancelled ticket) count nowhere.
//!
//! Attainment = met / (met + breached). The ticket's current service, customer organisation,
//! team and priority are the dimensions.

use crate::sql::Sql;
use crate::Result;
use sqlx::{AnyConnection, Row};

/// How the report is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Service,
    Customer,
    Team,
    Priority,
}

impl Dimension {
    /// The key and the two label columns (Chinese and English) of a group.
    fn columns(self) -> &'static str {
        match self {
            Dimension::Service => "t.service_id AS k, s.name_zh AS label_zh, s.name_en AS label_en",
            Dimension::Customer => "t.organization_id AS k, o.name AS label_zh, o.name AS label_en",
            Dimension::Team => "t.team_id AS k, tm.name AS label_zh, tm.name AS label_en",
            Dimension::Priority => {
                "t.priority AS k, CAST(NULL AS TEXT) AS label_zh, CAST(NULL AS TEXT) AS label_en"
            }
        }
    }
}

/// Which clocks the report looks at.
#[derive(Debug, Clone, Default)]
pub struct ClockFilter {
    /// response and/or resolution; empty means both.
    pub metrics: Vec<String>,
    /// sla or ola; None means both.
    pub kind: Option<String>,
    /// Only tickets of these teams (a team lead's report); None means every ticket.
    pub team_ids: Option<Vec<i64>>,
}

/// The instants of a report, all in microseconds: [previous_from, from) is the previous
/// period, [from, to) the current one; `now` decides whether a running clock is overdue.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub previous_from: i64,
    pub from: i64,
    pub to: i64,
    pub now: i64,
}

/// The counts of one group in the current and the previous period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCounts {
    /// The service, organisation or team id, or the priority; None for tickets without one.
    pub key: Option<i64>,
    pub label_zh: Option<String>,
    pub label_en: Option<String>,
    pub met: i64,
    pub breached: i64,
    pub open: i64,
    pub previous_met: i64,
    pub previous_breached: i64,
    pub previous_open: i64,
}

/// One breached clock.
#[derive(Debug, Clone, PartialEq)]
pub struct BreachRow {
    pub ticket_id: i64,
    pub number: String,
    pub title: String,
    pub priority: i64,
    pub clock_id: i64,
    pub metric: String,
    pub agreement: String,
    /// sla or ola
    pub agreement_kind: String,
    pub target_secs: i64,
    pub elapsed_secs: i64,
    /// When the target fell due (for a finished clock: the recorded breach instant).
    pub due_at: Option<i64>,
    pub breached_at: i64,
    pub breach_reason: Option<String>,
    pub team: Option<String>,
    pub service_zh: Option<String>,
    pub service_en: Option<String>,
    pub customer: Option<String>,
}

/// Pushes `FROM (SELECT … one row per clock with its outcome and instant …) x`.
fn push_clocks(sql: &mut Sql, dim: Dimension, filter: &ClockFilter, now: i64) {
    sql.push(" FROM (SELECT ")
        .push(dim.columns())
        .push(
            ", CASE WHEN c.state = 'cancelled' THEN NULL \
             WHEN c.breached_at IS NOT NULL THEN 'breached' \
             WHEN c.state = 'met' AND c.elapsed_secs > c.target_secs THEN 'breached' \
             WHEN c.state = 'met' THEN 'met' \
             WHEN c.state = 'running' AND c.due_at IS NOT NULL AND c.due_at < ",
        )
        .bind(now)
        .push(
            " THEN 'breached' ELSE 'open' END AS outcome, \
             CASE WHEN c.breached_at IS NOT NULL THEN c.breached_at \
             WHEN c.state = 'met' THEN c.since \
             WHEN c.state = 'running' AND c.due_at IS NOT NULL AND c.due_at < ",
        )
        .bind(now)
        .push(
            " THEN c.due_at ELSE c.started_at END AS decided_at, \
             t.id AS ticket_id, t.number, t.title, t.priority, c.id AS clock_id, c.metric, \
             a.name AS agreement, a.kind AS agreement_kind, c.target_secs, c.elapsed_secs, \
             COALESCE(c.due_at, c.breached_at) AS due_at, c.breach_reason, tm.name AS team, \
             s.name_zh AS service_zh, s.name_en AS service_en, o.name AS customer \
             FROM sla_clocks c JOIN tickets t ON t.id = c.ticket_id \
             JOIN slas a ON a.id = c.sla_id \
             LEFT JOIN services s ON s.id = t.service_id \
             LEFT JOIN organizations o ON o.id = t.organization_id \
             LEFT JOIN teams tm ON tm.id = t.team_id WHERE 1 = 1",
        );
    if !filter.metrics.is_empty() {
        sql.push(" AND c.metric IN ")
            .bind_list(filter.metrics.iter().map(String::as_str));
    }
    if let Some(kind) = &filter.kind {
        sql.push(" AND a.kind = ").bind(kind.as_str());
    }
    if let Some(teams) = &filter.team_ids {
        sql.push(" AND t.team_id IN ")
            .bind_list(teams.iter().copied());
    }
    sql.push(") x");
}

fn count_when(sql: &mut Sql, outcome: &str, current: bool, from: i64) {
    sql.push("COUNT(CASE WHEN x.outcome = '")
        .push(outcome)
        .push(if current {
            "' AND x.decided_at >= "
        } else {
            "' AND x.decided_at < "
        })
        .bind(from)
        .push(" THEN 1 END)");
}

/// Met, breached and open clocks per group, for both periods, in one GROUP BY.
pub async fn attainment(
    conn: &mut AnyConnection,
    dim: Dimension,
    filter: &ClockFilter,
    w: Window,
) -> Result<Vec<GroupCounts>> {
    let mut sql = Sql::new("SELECT x.k, x.label_zh, x.label_en");
    for current in [true, false] {
        for outcome in ["met", "breached", "open"] {
            sql.push(", ");
            count_when(&mut sql, outcome, current, w.from);
        }
    }
    push_clocks(&mut sql, dim, filter, w.now);
    sql.push(" WHERE x.outcome IS NOT NULL AND x.decided_at >= ")
        .bind(w.previous_from)
        .push(" AND x.decided_at < ")
        .bind(w.to)
        .push(" GROUP BY x.k, x.label_zh, x.label_en ORDER BY x.k");
    let rows = sql.query().fetch_all(conn).await?;
    let list = rows
        .iter()
        .map(|r| {
            Ok(GroupCounts {
                key: r.try_get(0)?,
                label_zh: r.try_get(1)?,
                label_en: r.try_get(2)?,
                met: r.try_get(3)?,
                breached: r.try_get(4)?,
                open: r.try_get(5)?,
                previous_met: r.try_get(6)?,
                previous_breached: r.try_get(7)?,
                previous_open: r.try_get(8)?,
            })
        })
        .collect::<sqlx::Result<_>>()?;
    Ok(list)
}

fn push_breach_filter(sql: &mut Sql, from: i64, to: i64) {
    sql.push(" WHERE x.outcome = 'breached' AND x.decided_at >= ")
        .bind(from)
        .push(" AND x.decided_at < ")
        .bind(to);
}

/// The clocks breached in [from, to), oldest first, at most `limit`, and how many there are.
pub async fn breaches(
    conn: &mut AnyConnection,
    filter: &ClockFilter,
    from: i64,
    to: i64,
    now: i64,
    limit: i64,
) -> Result<(Vec<BreachRow>, i64)> {
    let mut count = Sql::new("SELECT COUNT(*)");
    push_clocks(&mut count, Dimension::Priority, filter, now);
    push_breach_filter(&mut count, from, to);
    let total: i64 = count.query().fetch_one(&mut *conn).await?.try_get(0)?;

    let mut sql = Sql::new(
        "SELECT x.ticket_id, x.number, x.title, x.priority, x.clock_id, x.metric, x.agreement, \
         x.agreement_kind, x.target_secs, x.elapsed_secs, x.due_at, x.decided_at, x.breach_reason, \
         x.team, x.service_zh, x.service_en, x.customer",
    );
    push_clocks(&mut sql, Dimension::Priority, filter, now);
    push_breach_filter(&mut sql, from, to);
    sql.push(" ORDER BY x.decided_at, x.clock_id LIMIT ")
        .bind(limit);
    let rows = sql.query().fetch_all(&mut *conn).await?;
    let list = rows
        .iter()
        .map(|r| {
            Ok(BreachRow {
                ticket_id: r.try_get(0)?,
                number: r.try_get(1)?,
                title: r.try_get(2)?,
                priority: r.try_get(3)?,
                clock_id: r.try_get(4)?,
                metric: r.try_get(5)?,
                agreement: r.try_get(6)?,
                agreement_kind: r.try_get(7)?,
                target_secs: r.try_get(8)?,
                elapsed_secs: r.try_get(9)?,
                due_at: r.try_get(10)?,
                breached_at: r.try_get(11)?,
                breach_reason: r.try_get(12)?,
                team: r.try_get(13)?,
                service_zh: r.try_get(14)?,
                service_en: r.try_get(15)?,
                customer: r.try_get(16)?,
            })
        })
        .collect::<sqlx::Result<_>>()?;
    Ok((list, total))
}
