//! Business calendars, service and operational level agreements with their targets, the SLA
//! clocks of tickets and the escalations they cause.

use crate::sql::Sql;
use crate::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

// --- calendars ---

#[derive(Debug, Clone, PartialEq)]
pub struct CalendarRow {
    pub id: i64,
    pub name: String,
    /// china_mainland or always for the built-in calendars, whose definition lives in core.
    pub builtin: Option<String>,
    /// core's CalendarSpec as JSON (None for built-in ones).
    pub definition: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

fn calendar(row: &AnyRow) -> sqlx::Result<CalendarRow> {
    Ok(CalendarRow {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        builtin: row.try_get(2)?,
        definition: row.try_get(3)?,
        version: row.try_get(4)?,
        created_at: row.try_get(5)?,
        updated_at: row.try_get(6)?,
    })
}

const CALENDAR_COLUMNS: &str =
    "SELECT id, name, builtin, definition, version, created_at, updated_at FROM calendars";

pub async fn list_calendars(conn: &mut AnyConnection) -> Result<Vec<CalendarRow>> {
    let rows = sqlx::query(&format!("{CALENDAR_COLUMNS} ORDER BY id"))
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(calendar).collect::<sqlx::Result<_>>()?)
}

pub async fn get_calendar(conn: &mut AnyConnection, id: i64) -> Result<Option<CalendarRow>> {
    let row = sqlx::query(&format!("{CALENDAR_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(calendar).transpose()?)
}

pub async fn insert_calendar(
    conn: &mut AnyConnection,
    name: &str,
    definition: &str,
    now: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO calendars (name, builtin, definition, version, created_at, updated_at) \
         VALUES ($1, NULL, $2, 1, $3, $3) RETURNING id",
    )
    .bind(name)
    .bind(definition)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// False when the version moved on (another change came first).
pub async fn update_calendar(
    conn: &mut AnyConnection,
    c: &CalendarRow,
    expected_version: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE calendars SET name = $2, definition = $3, version = $4, updated_at = $5 \
         WHERE id = $1 AND version = $6 AND builtin IS NULL",
    )
    .bind(c.id)
    .bind(&c.name)
    .bind(&c.definition)
    .bind(c.version)
    .bind(c.updated_at)
    .bind(expected_version)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

// --- agreements ---

#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    pub id: i64,
    pub name: String,
    /// sla (for a customer organisation) or ola (for an internal team)
    pub kind: String,
    pub organization_id: Option<i64>,
    pub team_id: Option<i64>,
    pub calendar_id: i64,
    /// YYYY-MM-DD
    pub valid_from: String,
    pub valid_to: Option<String>,
    pub review_date: Option<String>,
    /// draft, active or retired
    pub status: String,
    pub warn_per_mille: i64,
    /// core's EscalationActions as JSON
    pub warning_actions: String,
    pub breach_actions: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub service_ids: Vec<i64>,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// 1 = P1
    pub priority: i64,
    pub response_secs: i64,
    pub resolution_secs: i64,
}

const AGREEMENT_COLUMNS: &str = "SELECT id, name, kind, organization_id, team_id, calendar_id, \
    valid_from, valid_to, review_date, status, warn_per_mille, warning_actions, breach_actions, \
    version, created_at, updated_at FROM slas";

fn agreement(row: &AnyRow) -> sqlx::Result<Agreement> {
    Ok(Agreement {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        kind: row.try_get(2)?,
        organization_id: row.try_get(3)?,
        team_id: row.try_get(4)?,
        calendar_id: row.try_get(5)?,
        valid_from: row.try_get(6)?,
        valid_to: row.try_get(7)?,
        review_date: row.try_get(8)?,
        status: row.try_get(9)?,
        warn_per_mille: row.try_get(10)?,
        warning_actions: row.try_get(11)?,
        breach_actions: row.try_get(12)?,
        version: row.try_get(13)?,
        created_at: row.try_get(14)?,
        updated_at: row.try_get(15)?,
        service_ids: vec![],
        targets: vec![],
    })
}

async fn fill(conn: &mut AnyConnection, a: &mut Agreement) -> Result<()> {
    let rows =
        sqlx::query("SELECT service_id FROM sla_services WHERE sla_id = $1 ORDER BY service_id")
            .bind(a.id)
            .fetch_all(&mut *conn)
            .await?;
    a.service_ids = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?;
    let rows = sqlx::query(
        "SELECT priority, response_secs, resolution_secs FROM sla_targets WHERE sla_id = $1 ORDER BY priority",
    )
    .bind(a.id)
    .fetch_all(&mut *conn)
    .await?;
    a.targets = rows
        .iter()
        .map(|r| {
            Ok(Target {
                priority: r.try_get(0)?,
                response_secs: r.try_get(1)?,
                resolution_secs: r.try_get(2)?,
            })
        })
        .collect::<sqlx::Result<_>>()?;
    Ok(())
}

pub async fn list_agreements(conn: &mut AnyConnection) -> Result<Vec<Agreement>> {
    let rows = sqlx::query(&format!("{AGREEMENT_COLUMNS} ORDER BY kind DESC, name"))
        .fetch_all(&mut *conn)
        .await?;
    let mut list = rows
        .iter()
        .map(agreement)
        .collect::<sqlx::Result<Vec<_>>>()?;
    for a in &mut list {
        fill(conn, a).await?;
    }
    Ok(list)
}

pub async fn get_agreement(conn: &mut AnyConnection, id: i64) -> Result<Option<Agreement>> {
    let row = sqlx::query(&format!("{AGREEMENT_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match row.as_ref().map(agreement).transpose()? {
        Some(mut a) => {
            fill(conn, &mut a).await?;
            Ok(Some(a))
        }
        None => Ok(None),
    }
}

async fn write_children(conn: &mut AnyConnection, a: &Agreement) -> Result<()> {
    sqlx::query("DELETE FROM sla_services WHERE sla_id = $1")
        .bind(a.id)
        .execute(&mut *conn)
        .await?;
    for s in &a.service_ids {
        sqlx::query("INSERT INTO sla_services (sla_id, service_id) VALUES ($1, $2)")
            .bind(a.id)
            .bind(*s)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("DELETE FROM sla_targets WHERE sla_id = $1")
        .bind(a.id)
        .execute(&mut *conn)
        .await?;
    for t in &a.targets {
        sqlx::query(
            "INSERT INTO sla_targets (sla_id, priority, response_secs, resolution_secs) VALUES ($1, $2, $3, $4)",
        )
        .bind(a.id)
        .bind(t.priority)
        .bind(t.response_secs)
        .bind(t.resolution_secs)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn insert_agreement(conn: &mut AnyConnection, a: &Agreement) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO slas (name, kind, organization_id, team_id, calendar_id, valid_from, valid_to, \
         review_date, status, warn_per_mille, warning_actions, breach_actions, version, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) RETURNING id",
    )
    .bind(&a.name)
    .bind(&a.kind)
    .bind(a.organization_id)
    .bind(a.team_id)
    .bind(a.calendar_id)
    .bind(&a.valid_from)
    .bind(&a.valid_to)
    .bind(&a.review_date)
    .bind(&a.status)
    .bind(a.warn_per_mille)
    .bind(&a.warning_actions)
    .bind(&a.breach_actions)
    .bind(a.version)
    .bind(a.created_at)
    .bind(a.updated_at)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = row.try_get(0)?;
    let mut a = a.clone();
    a.id = id;
    write_children(conn, &a).await?;
    Ok(id)
}

/// False when the version moved on.
pub async fn update_agreement(
    conn: &mut AnyConnection,
    a: &Agreement,
    expected_version: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE slas SET name = $2, organization_id = $3, team_id = $4, calendar_id = $5, valid_from = $6, \
         valid_to = $7, review_date = $8, status = $9, warn_per_mille = $10, warning_actions = $11, \
         breach_actions = $12, version = $13, updated_at = $14 WHERE id = $1 AND version = $15",
    )
    .bind(a.id)
    .bind(&a.name)
    .bind(a.organization_id)
    .bind(a.team_id)
    .bind(a.calendar_id)
    .bind(&a.valid_from)
    .bind(&a.valid_to)
    .bind(&a.review_date)
    .bind(&a.status)
    .bind(a.warn_per_mille)
    .bind(&a.warning_actions)
    .bind(&a.breach_actions)
    .bind(a.version)
    .bind(a.updated_at)
    .bind(expected_version)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() != 1 {
        return Ok(false);
    }
    write_children(conn, a).await?;
    Ok(true)
}

// --- clocks ---

#[derive(Debug, Clone, PartialEq)]
pub struct ClockRow {
    pub id: i64,
    pub ticket_id: i64,
    pub sla_id: i64,
    /// response or resolution
    pub metric: String,
    pub calendar_id: i64,
    pub target_secs: i64,
    pub started_at: i64,
    pub state: String,
    pub since: i64,
    pub elapsed_secs: i64,
    pub paused_secs: i64,
    pub breached_at: Option<i64>,
    pub due_at: Option<i64>,
    /// Raised each time the targets are re-baselined; escalations are once per baseline.
    pub baseline: i64,
    /// 0 none yet, 1 warned, 2 breached (in this baseline).
    pub escalation_level: i64,
    pub next_escalation_at: Option<i64>,
    /// Why a breached target was missed, for reports.
    pub breach_reason: Option<String>,
    /// Joined: the agreement's name.
    pub sla_name: String,
}

const CLOCK_COLUMNS: &str = "SELECT c.id, c.ticket_id, c.sla_id, c.metric, c.calendar_id, c.target_secs, \
    c.started_at, c.state, c.since, c.elapsed_secs, c.paused_secs, c.breached_at, c.due_at, c.baseline, \
    c.escalation_level, c.next_escalation_at, c.breach_reason, s.name FROM sla_clocks c \
    JOIN slas s ON s.id = c.sla_id";

fn clock(row: &AnyRow) -> sqlx::Result<ClockRow> {
    Ok(ClockRow {
        id: row.try_get(0)?,
        ticket_id: row.try_get(1)?,
        sla_id: row.try_get(2)?,
        metric: row.try_get(3)?,
        calendar_id: row.try_get(4)?,
        target_secs: row.try_get(5)?,
        started_at: row.try_get(6)?,
        state: row.try_get(7)?,
        since: row.try_get(8)?,
        elapsed_secs: row.try_get(9)?,
        paused_secs: row.try_get(10)?,
        breached_at: row.try_get(11)?,
        due_at: row.try_get(12)?,
        baseline: row.try_get(13)?,
        escalation_level: row.try_get(14)?,
        next_escalation_at: row.try_get(15)?,
        breach_reason: row.try_get(16)?,
        sla_name: row.try_get(17)?,
    })
}

pub async fn clocks_of(conn: &mut AnyConnection, ticket_id: i64) -> Result<Vec<ClockRow>> {
    let rows = sqlx::query(&format!(
        "{CLOCK_COLUMNS} WHERE c.ticket_id = $1 ORDER BY s.kind DESC, c.sla_id, c.metric DESC"
    ))
    .bind(ticket_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(clock).collect::<sqlx::Result<_>>()?)
}

/// The clocks with these ids (a sweep's round), in id order.
pub async fn clocks_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<ClockRow>> {
    let mut sql = Sql::new(&format!("{CLOCK_COLUMNS} WHERE c.id IN "));
    sql.bind_list(ids.iter().copied()).push(" ORDER BY c.id");
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(clock).collect::<sqlx::Result<_>>()?)
}

pub async fn get_clock(conn: &mut AnyConnection, id: i64) -> Result<Option<ClockRow>> {
    let row = sqlx::query(&format!("{CLOCK_COLUMNS} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(clock).transpose()?)
}

/// Clocks whose next warning or breach has come, soonest first. Reads the partial index only.
pub async fn due_for_escalation(
    conn: &mut AnyConnection,
    now: i64,
    limit: i64,
) -> Result<Vec<ClockRow>> {
    let rows = sqlx::query(&format!(
        "{CLOCK_COLUMNS} WHERE c.next_escalation_at IS NOT NULL AND c.next_escalation_at <= $1 \
         ORDER BY c.next_escalation_at, c.id LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(clock).collect::<sqlx::Result<_>>()?)
}

pub async fn insert_clock(conn: &mut AnyConnection, c: &ClockRow) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO sla_clocks (ticket_id, sla_id, metric, calendar_id, target_secs, started_at, state, since, \
         elapsed_secs, paused_secs, breached_at, due_at, baseline, escalation_level, next_escalation_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) RETURNING id",
    )
    .bind(c.ticket_id)
    .bind(c.sla_id)
    .bind(&c.metric)
    .bind(c.calendar_id)
    .bind(c.target_secs)
    .bind(c.started_at)
    .bind(&c.state)
    .bind(c.since)
    .bind(c.elapsed_secs)
    .bind(c.paused_secs)
    .bind(c.breached_at)
    .bind(c.due_at)
    .bind(c.baseline)
    .bind(c.escalation_level)
    .bind(c.next_escalation_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// Writes the clock's state. With `expected` (baseline, escalation level), only if the clock is
/// still there: another node may have escalated it first. Returns whether the row was written.
pub async fn update_clock(
    conn: &mut AnyConnection,
    c: &ClockRow,
    expected: Option<(i64, i64)>,
) -> Result<bool> {
    let guard = if expected.is_some() {
        " AND baseline = $13 AND escalation_level = $14"
    } else {
        " AND $13 = $13 AND $14 = $14"
    };
    let (baseline, level) = expected.unwrap_or_default();
    let sql = format!(
        "UPDATE sla_clocks SET target_secs = $2, state = $3, since = $4, elapsed_secs = $5, paused_secs = $6, \
         breached_at = $7, due_at = $8, baseline = $9, escalation_level = $10, next_escalation_at = $11, \
         calendar_id = $12 WHERE id = $1{guard}"
    );
    let r = sqlx::query(&sql)
        .bind(c.id)
        .bind(c.target_secs)
        .bind(&c.state)
        .bind(c.since)
        .bind(c.elapsed_secs)
        .bind(c.paused_secs)
        .bind(c.breached_at)
        .bind(c.due_at)
        .bind(c.baseline)
        .bind(c.escalation_level)
        .bind(c.next_escalation_at)
        .bind(c.calendar_id)
        .bind(baseline)
        .bind(level)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn set_breach_reason(
    conn: &mut AnyConnection,
    clock_id: i64,
    reason: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE sla_clocks SET breach_reason = $2 WHERE id = $1")
        .bind(clock_id)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

/// An escalation to record: a clock reached a level in its baseline.
#[derive(Debug, Clone)]
pub struct NewEscalation {
    pub clock_id: i64,
    pub ticket_id: i64,
    /// warning or breach
    pub level: &'static str,
    pub baseline: i64,
    pub actions: String,
}

/// Records escalations in one statement; returns the (clock, level) pairs that were new. A pair
/// recorded before (by this node or another) is left out: its actions have been taken.
pub async fn insert_escalations(
    conn: &mut AnyConnection,
    rows: &[NewEscalation],
    at: i64,
    node: &str,
) -> Result<Vec<(i64, String)>> {
    let mut recorded = Vec::new();
    // 7 parameters a row; 500 rows stay far below both databases' limits.
    for chunk in rows.chunks(500) {
        let mut sql = Sql::new(
            "INSERT INTO sla_escalations (clock_id, ticket_id, level, baseline, at, actions, node) VALUES ",
        );
        for (i, r) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(r.clock_id)
                .push(", ")
                .bind(r.ticket_id)
                .push(", ")
                .bind(r.level)
                .push(", ")
                .bind(r.baseline)
                .push(", ")
                .bind(at)
                .push(", ")
                .bind(r.actions.as_str())
                .push(", ")
                .bind(node)
                .push(")");
        }
        sql.push(" ON CONFLICT (clock_id, level, baseline) DO NOTHING RETURNING clock_id, level");
        for row in sql.query().fetch_all(&mut *conn).await? {
            recorded.push((row.try_get(0)?, row.try_get(1)?));
        }
    }
    Ok(recorded)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    pub id: i64,
    pub clock_id: i64,
    pub ticket_id: i64,
    pub level: String,
    pub baseline: i64,
    pub at: i64,
    pub actions: String,
    pub node: String,
}

pub async fn escalations_of(conn: &mut AnyConnection, ticket_id: i64) -> Result<Vec<Escalation>> {
    let rows = sqlx::query(
        "SELECT id, clock_id, ticket_id, level, baseline, at, actions, node FROM sla_escalations \
         WHERE ticket_id = $1 ORDER BY id",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Escalation {
                id: r.try_get(0)?,
                clock_id: r.try_get(1)?,
                ticket_id: r.try_get(2)?,
                level: r.try_get(3)?,
                baseline: r.try_get(4)?,
                at: r.try_get(5)?,
                actions: r.try_get(6)?,
                node: r.try_get(7)?,
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

// --- notifications ---

#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    pub ticket_id: Option<i64>,
    pub kind: String,
    /// JSON object of the values the message shows.
    pub params: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
    /// Joined: the ticket's number.
    pub ticket_number: Option<String>,
}

pub async fn notify(
    conn: &mut AnyConnection,
    user_id: i64,
    ticket_id: Option<i64>,
    kind: &str,
    params: &str,
    now: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO notifications (user_id, ticket_id, kind, params, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(ticket_id)
    .bind(kind)
    .bind(params)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// One in-app notification to send.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user_id: i64,
    pub ticket_id: Option<i64>,
    pub kind: String,
    pub params: String,
}

/// Sends many notifications in few statements.
pub async fn notify_many(
    conn: &mut AnyConnection,
    items: &[NewNotification],
    now: i64,
) -> Result<()> {
    for chunk in items.chunks(500) {
        let mut sql = Sql::new(
            "INSERT INTO notifications (user_id, ticket_id, kind, params, created_at) VALUES ",
        );
        for (i, n) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(n.user_id)
                .push(", ");
            match n.ticket_id {
                Some(t) => sql.bind(t),
                None => sql.push("NULL"),
            };
            sql.push(", ")
                .bind(n.kind.as_str())
                .push(", ")
                .bind(n.params.as_str())
                .push(", ")
                .bind(now)
                .push(")");
        }
        sql.query().execute(&mut *conn).await?;
    }
    Ok(())
}

/// A user's notifications, newest first, before the cursor id.
pub async fn notifications_of(
    conn: &mut AnyConnection,
    user_id: i64,
    unread_only: bool,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Notification>> {
    let mut sql = Sql::new(
        "SELECT n.id, n.user_id, n.ticket_id, n.kind, n.params, n.created_at, n.read_at, t.number \
         FROM notifications n LEFT JOIN tickets t ON t.id = n.ticket_id WHERE n.user_id = ",
    );
    sql.bind(user_id);
    if unread_only {
        sql.push(" AND n.read_at IS NULL");
    }
    if let Some(b) = before_id {
        sql.push(" AND n.id < ").bind(b);
    }
    sql.push(" ORDER BY n.id DESC LIMIT ").bind(limit);
    let rows = sql.query().fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            Ok(Notification {
                id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                ticket_id: r.try_get(2)?,
                kind: r.try_get(3)?,
                params: r.try_get(4)?,
                created_at: r.try_get(5)?,
                read_at: r.try_get(6)?,
                ticket_number: r.try_get(7)?,
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

pub async fn unread_count(conn: &mut AnyConnection, user_id: i64) -> Result<i64> {
    let row =
        sqlx::query("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
            .bind(user_id)
            .fetch_one(conn)
            .await?;
    Ok(row.try_get(0)?)
}

/// Marks one (or, with None, all) of the user's notifications read; returns how many changed.
pub async fn mark_read(
    conn: &mut AnyConnection,
    user_id: i64,
    id: Option<i64>,
    now: i64,
) -> Result<u64> {
    let mut sql = Sql::new("UPDATE notifications SET read_at = ");
    sql.bind(now)
        .push(" WHERE read_at IS NULL AND user_id = ")
        .bind(user_id);
    if let Some(id) = id {
        sql.push(" AND id = ").bind(id);
    }
    Ok(sql.query().execute(conn).await?.rows_affected())
}
