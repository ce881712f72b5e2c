//! Requests for change, CAB votes, standard change templates and freeze periods.

use crate::sql::Sql;
use crate::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Change {
    pub id: i64,
    pub number: String,
    pub change_type: String,
    pub template_id: Option<i64>,
    pub title: String,
    pub reason: String,
    pub description: String,
    pub status: String,
    pub requester_id: i64,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
    /// The risk questionnaire's answers as JSON.
    pub risk_answers: Option<String>,
    pub likelihood: Option<i64>,
    pub impact: Option<i64>,
    pub risk: Option<String>,
    pub implementation_plan: String,
    pub test_plan: String,
    pub backout_plan: String,
    pub planned_start: Option<i64>,
    pub planned_end: Option<i64>,
    pub actual_start: Option<i64>,
    pub actual_end: Option<i64>,
    pub cab_quorum: Option<i64>,
    pub review_required: bool,
    pub review_notes: Option<String>,
    pub review_outcome: Option<String>,
    pub reviewed_by: Option<i64>,
    pub reviewed_at: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "SELECT id, number, change_type, template_id, title, reason, description, status, \
    requester_id, team_id, assignee_id, risk_answers, likelihood, impact, risk, implementation_plan, \
    test_plan, backout_plan, planned_start, planned_end, actual_start, actual_end, cab_quorum, \
    review_required, review_notes, review_outcome, reviewed_by, reviewed_at, version, created_at, \
    updated_at FROM changes";

fn change(r: &AnyRow) -> sqlx::Result<Change> {
    Ok(Change {
        id: r.try_get(0)?,
        number: r.try_get(1)?,
        change_type: r.try_get(2)?,
        template_id: r.try_get(3)?,
        title: r.try_get(4)?,
        reason: r.try_get(5)?,
        description: r.try_get(6)?,
        status: r.try_get(7)?,
        requester_id: r.try_get(8)?,
        team_id: r.try_get(9)?,
        assignee_id: r.try_get(10)?,
        risk_answers: r.try_get(11)?,
        likelihood: r.try_get(12)?,
        impact: r.try_get(13)?,
        risk: r.try_get(14)?,
        implementation_plan: r.try_get(15)?,
        test_plan: r.try_get(16)?,
        backout_plan: r.try_get(17)?,
        planned_start: r.try_get(18)?,
        planned_end: r.try_get(19)?,
        actual_start: r.try_get(20)?,
        actual_end: r.try_get(21)?,
        cab_quorum: r.try_get(22)?,
        review_required: r.try_get::<i64, _>(23)? != 0,
        review_notes: r.try_get(24)?,
        review_outcome: r.try_get(25)?,
        reviewed_by: r.try_get(26)?,
        reviewed_at: r.try_get(27)?,
        version: r.try_get(28)?,
        created_at: r.try_get(29)?,
        updated_at: r.try_get(30)?,
    })
}

fn bind_all(sql: &mut Sql, c: &Change) {
    sql.bind(c.number.as_str())
        .push(", ")
        .bind(c.change_type.as_str())
        .push(", ");
    bind_opt(sql, c.template_id).push(", ");
    sql.bind(c.title.as_str())
        .push(", ")
        .bind(c.reason.as_str())
        .push(", ")
        .bind(c.description.as_str())
        .push(", ")
        .bind(c.status.as_str())
        .push(", ")
        .bind(c.requester_id)
        .push(", ");
    bind_opt(sql, c.team_id).push(", ");
    bind_opt(sql, c.assignee_id).push(", ");
    bind_opt_text(sql, &c.risk_answers).push(", ");
    bind_opt(sql, c.likelihood).push(", ");
    bind_opt(sql, c.impact).push(", ");
    bind_opt_text(sql, &c.risk).push(", ");
    sql.bind(c.implementation_plan.as_str())
        .push(", ")
        .bind(c.test_plan.as_str())
        .push(", ")
        .bind(c.backout_plan.as_str())
        .push(", ");
    for v in [
        c.planned_start,
        c.planned_end,
        c.actual_start,
        c.actual_end,
        c.cab_quorum,
    ] {
        bind_opt(sql, v).push(", ");
    }
    sql.bind(i64::from(c.review_required)).push(", ");
    bind_opt_text(sql, &c.review_notes).push(", ");
    bind_opt_text(sql, &c.review_outcome).push(", ");
    bind_opt(sql, c.reviewed_by).push(", ");
    bind_opt(sql, c.reviewed_at).push(", ");
    sql.bind(c.version)
        .push(", ")
        .bind(c.created_at)
        .push(", ")
        .bind(c.updated_at);
}

fn bind_opt(sql: &mut Sql, v: Option<i64>) -> &mut Sql {
    match v {
        Some(v) => sql.bind(v),
        None => sql.push("NULL"),
    }
}

fn bind_opt_text<'a>(sql: &'a mut Sql, v: &Option<String>) -> &'a mut Sql {
    match v {
        Some(v) => sql.bind(v.as_str()),
        None => sql.push("NULL"),
    }
}

const FIELDS: &str = "number, change_type, template_id, title, reason, description, status, requester_id, \
    team_id, assignee_id, risk_answers, likelihood, impact, risk, implementation_plan, test_plan, \
    backout_plan, planned_start, planned_end, actual_start, actual_end, cab_quorum, review_required, \
    review_notes, review_outcome, reviewed_by, reviewed_at, version, created_at, updated_at";

pub async fn insert(conn: &mut AnyConnection, c: &Change) -> Result<i64> {
    let mut sql = Sql::new(&format!("INSERT INTO changes ({FIELDS}) VALUES ("));
    bind_all(&mut sql, c);
    sql.push(") RETURNING id");
    let row = sql.query().fetch_one(conn).await?;
    Ok(row.try_get(0)?)
}

/// Writes every field; false when the stored version is no longer `expected_version`.
pub async fn update(conn: &mut AnyConnection, c: &Change, expected_version: i64) -> Result<bool> {
    let mut sql = Sql::new(&format!("UPDATE changes SET ({FIELDS}) = ("));
    bind_all(&mut sql, c);
    sql.push(") WHERE id = ")
        .bind(c.id)
        .push(" AND version = ")
        .bind(expected_version);
    let r = sql.query().execute(conn).await?;
    Ok(r.rows_affected() == 1)
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Change>> {
    let row = sqlx::query(&format!("{COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(change).transpose()?)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<String>,
    pub change_type: Option<String>,
    /// Open for votes and not yet voted on by this user.
    pub awaiting_vote_of: Option<i64>,
    /// Number or title contains this (any case).
    pub text: Option<String>,
    /// Newest first: ids below this.
    pub before_id: Option<i64>,
    pub limit: i64,
}

pub async fn list(conn: &mut AnyConnection, f: &Filter) -> Result<Vec<Change>> {
    let mut sql = Sql::new(&format!("{COLUMNS} WHERE 1 = 1"));
    if let Some(s) = &f.status {
        sql.push(" AND status = ").bind(s.as_str());
    }
    if let Some(t) = &f.change_type {
        sql.push(" AND change_type = ").bind(t.as_str());
    }
    if let Some(u) = f.awaiting_vote_of {
        sql.push(
            " AND ((status = 'assessed' AND change_type = 'normal') OR (status = 'submitted' AND change_type = 'emergency'))",
        )
        .push(" AND requester_id <> ")
        .bind(u)
        .push(" AND id NOT IN (SELECT change_id FROM change_votes WHERE user_id = ")
        .bind(u)
        .push(")");
    }
    if let Some(text) = &f.text {
        // A substring scan: change lists are thousands of rows, not millions.
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        sql.push(" AND (LOWER(number) LIKE ")
            .bind(pattern.clone())
            .push(" ESCAPE '\\' OR LOWER(title) LIKE ")
            .bind(pattern)
            .push(" ESCAPE '\\')");
    }
    if let Some(b) = f.before_id {
        sql.push(" AND id < ").bind(b);
    }
    sql.push(" ORDER BY id DESC LIMIT ").bind(f.limit);
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(change).collect::<sqlx::Result<_>>()?)
}

/// Which changes the calendar shows over [from, to) ($1, $2): those with a planned window
/// overlapping it, other than drafts, rejected and cancelled ones (core ChangeStatus::on_calendar).
const IN_WINDOW: &str = "c.planned_start < $2 AND c.planned_end > $1 \
    AND c.status NOT IN ('draft', 'rejected', 'cancelled')";

/// Changes with a planned window overlapping [from, to), in start order.
pub async fn in_window(conn: &mut AnyConnection, from: i64, to: i64) -> Result<Vec<Change>> {
    let rows = sqlx::query(&format!(
        "{COLUMNS} c WHERE {IN_WINDOW} ORDER BY c.planned_start, c.id"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(change).collect::<sqlx::Result<_>>()?)
}

/// A change as a calendar entry: only what a calendar cell shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub change_type: String,
    pub status: String,
    pub risk: Option<String>,
    pub planned_start: i64,
    pub planned_end: i64,
}

/// The changes of `in_window` as calendar entries. A month can hold thousands of changes, and
/// every column read costs per row, so this reads eight columns rather than the whole record.
pub async fn scheduled_in(conn: &mut AnyConnection, from: i64, to: i64) -> Result<Vec<Scheduled>> {
    let rows = sqlx::query(&format!(
        "SELECT c.id, c.number, c.title, c.change_type, c.status, c.risk, c.planned_start, \
         c.planned_end FROM changes c WHERE {IN_WINDOW} ORDER BY c.planned_start, c.id"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    let scheduled = |r: &AnyRow| -> sqlx::Result<Scheduled> {
        Ok(Scheduled {
            id: r.try_get(0)?,
            number: r.try_get(1)?,
            title: r.try_get(2)?,
            change_type: r.try_get(3)?,
            status: r.try_get(4)?,
            risk: r.try_get(5)?,
            planned_start: r.try_get(6)?,
            planned_end: r.try_get(7)?,
        })
    };
    Ok(rows.iter().map(scheduled).collect::<sqlx::Result<_>>()?)
}

fn targets_table(services: bool) -> (&'static str, &'static str) {
    if services {
        ("change_services", "service_id")
    } else {
        ("change_cis", "ci_id")
    }
}

/// The CIs (or services) of one change.
pub async fn targets_of(
    conn: &mut AnyConnection,
    services: bool,
    change_id: i64,
) -> Result<Vec<i64>> {
    let (table, col) = targets_table(services);
    let rows = sqlx::query(&format!(
        "SELECT {col} FROM {table} WHERE change_id = $1 ORDER BY {col}"
    ))
    .bind(change_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?)
}

/// The CIs (or services) of the changes `in_window` shows: (change id, CI or service id) pairs.
/// One join rather than id lists, which would take thousands of bound parameters.
pub async fn targets_in_window(
    conn: &mut AnyConnection,
    services: bool,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>> {
    let (table, col) = targets_table(services);
    let rows = sqlx::query(&format!(
        "SELECT t.change_id, t.{col} FROM {table} t JOIN changes c ON c.id = t.change_id \
         WHERE {IN_WINDOW}"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Replaces the change's CIs (or services).
pub async fn set_targets(
    conn: &mut AnyConnection,
    services: bool,
    change_id: i64,
    ids: &[i64],
) -> Result<()> {
    let (table, col) = targets_table(services);
    sqlx::query(&format!("DELETE FROM {table} WHERE change_id = $1"))
        .bind(change_id)
        .execute(&mut *conn)
        .await?;
    for id in ids {
        sqlx::query(&format!(
            "INSERT INTO {table} (change_id, {col}) VALUES ($1, $2)"
        ))
        .bind(change_id)
        .bind(*id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// (id, name) of the CIs that exist among `ids`.
pub async fn ci_names(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<(i64, String)>> {
    let mut sql = Sql::new("SELECT id, name FROM cis WHERE id IN ");
    sql.bind_list(ids.iter().copied())
        .push(" ORDER BY name, id");
    let rows = sql.query().fetch_all(conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

// --- votes ---

#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    pub user_id: i64,
    pub user_name: String,
    pub decision: String,
    pub comment: String,
    pub decided_at: i64,
}

/// Records a vote; false when the user has voted on this change already.
pub async fn insert_vote(
    conn: &mut AnyConnection,
    change_id: i64,
    user_id: i64,
    decision: &str,
    comment: &str,
    at: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO change_votes (change_id, user_id, decision, comment, decided_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (change_id, user_id) DO NOTHING",
    )
    .bind(change_id)
    .bind(user_id)
    .bind(decision)
    .bind(comment)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn votes(conn: &mut AnyConnection, change_id: i64) -> Result<Vec<Vote>> {
    let rows = sqlx::query(
        "SELECT v.user_id, u.name, v.decision, v.comment, v.decided_at FROM change_votes v \
         JOIN users u ON u.id = v.user_id WHERE v.change_id = $1 ORDER BY v.decided_at, v.id",
    )
    .bind(change_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Vote {
                user_id: r.try_get(0)?,
                user_name: r.try_get(1)?,
                decision: r.try_get(2)?,
                comment: r.try_get(3)?,
                decided_at: r.try_get(4)?,
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

// --- templates ---

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: i64,
    pub name_zh: String,
    pub name_en: String,
    pub description: String,
    pub implementation_plan: String,
    pub test_plan: String,
    pub backout_plan: String,
    pub risk: String,
    pub active: bool,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const TEMPLATE_COLUMNS: &str =
    "SELECT id, name_zh, name_en, description, implementation_plan, test_plan, \
    backout_plan, risk, active, version, created_at, updated_at FROM change_templates";

fn template(r: &AnyRow) -> sqlx::Result<Template> {
    Ok(Template {
        id: r.try_get(0)?,
        name_zh: r.try_get(1)?,
        name_en: r.try_get(2)?,
        description: r.try_get(3)?,
        implementation_plan: r.try_get(4)?,
        test_plan: r.try_get(5)?,
        backout_plan: r.try_get(6)?,
        risk: r.try_get(7)?,
        active: r.try_get::<i64, _>(8)? != 0,
        version: r.try_get(9)?,
        created_at: r.try_get(10)?,
        updated_at: r.try_get(11)?,
    })
}

pub async fn insert_template(conn: &mut AnyConnection, t: &Template) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO change_templates (name_zh, name_en, description, implementation_plan, test_plan, \
         backout_plan, risk, active, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(t.name_zh.as_str())
    .bind(t.name_en.as_str())
    .bind(t.description.as_str())
    .bind(t.implementation_plan.as_str())
    .bind(t.test_plan.as_str())
    .bind(t.backout_plan.as_str())
    .bind(t.risk.as_str())
    .bind(i64::from(t.active))
    .bind(t.version)
    .bind(t.created_at)
    .bind(t.updated_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn get_template(conn: &mut AnyConnection, id: i64) -> Result<Option<Template>> {
    let row = sqlx::query(&format!("{TEMPLATE_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(template).transpose()?)
}

pub async fn list_templates(conn: &mut AnyConnection) -> Result<Vec<Template>> {
    let rows = sqlx::query(&format!("{TEMPLATE_COLUMNS} ORDER BY name_en, id"))
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(template).collect::<sqlx::Result<_>>()?)
}

// --- freeze periods ---

#[derive(Debug, Clone, PartialEq)]
pub struct FreezePeriod {
    pub id: i64,
    pub name: String,
    pub reason: String,
    pub service_id: Option<i64>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const FREEZE_COLUMNS: &str =
    "SELECT id, name, reason, service_id, starts_at, ends_at, created_by, version, \
    created_at, updated_at FROM freeze_periods";

fn freeze(r: &AnyRow) -> sqlx::Result<FreezePeriod> {
    Ok(FreezePeriod {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        reason: r.try_get(2)?,
        service_id: r.try_get(3)?,
        starts_at: r.try_get(4)?,
        ends_at: r.try_get(5)?,
        created_by: r.try_get(6)?,
        version: r.try_get(7)?,
        created_at: r.try_get(8)?,
        updated_at: r.try_get(9)?,
    })
}

pub async fn insert_freeze(conn: &mut AnyConnection, f: &FreezePeriod) -> Result<i64> {
    let mut sql = Sql::new(
        "INSERT INTO freeze_periods (name, reason, service_id, starts_at, ends_at, created_by, version, \
         created_at, updated_at) VALUES (",
    );
    sql.bind(f.name.as_str())
        .push(", ")
        .bind(f.reason.as_str())
        .push(", ");
    bind_opt(&mut sql, f.service_id).push(", ");
    sql.bind(f.starts_at)
        .push(", ")
        .bind(f.ends_at)
        .push(", ")
        .bind(f.created_by)
        .push(", ")
        .bind(f.version)
        .push(", ")
        .bind(f.created_at)
        .push(", ")
        .bind(f.updated_at)
        .push(") RETURNING id");
    let row = sql.query().fetch_one(conn).await?;
    Ok(row.try_get(0)?)
}

pub async fn get_freeze(conn: &mut AnyConnection, id: i64) -> Result<Option<FreezePeriod>> {
    let row = sqlx::query(&format!("{FREEZE_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(freeze).transpose()?)
}

pub async fn delete_freeze(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    let r = sqlx::query("DELETE FROM freeze_periods WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Freeze periods overlapping [from, to), in start order.
pub async fn freezes_in(conn: &mut AnyConnection, from: i64, to: i64) -> Result<Vec<FreezePeriod>> {
    let rows = sqlx::query(&format!(
        "{FREEZE_COLUMNS} WHERE starts_at < $2 AND ends_at > $1 ORDER BY starts_at, id"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(freeze).collect::<sqlx::Result<_>>()?)
}

// --- settings ---

pub async fn set_setting(conn: &mut AnyConnection, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}
