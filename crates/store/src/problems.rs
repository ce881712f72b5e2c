//! Problems and the known error database: the records, their search index (title, cause and
//! workaround), the incidents linked to them, and the incident counts of the trend view.

use crate::sql::Sql;
use crate::tickets::{push_scope, Scope};
use crate::{Backend, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Problem {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub priority: i64,
    pub impact: String,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub category: Option<String>,
    pub service_id: Option<i64>,
    pub cause: String,
    pub method_notes: String,
    pub contributing_factors: String,
    pub workaround: String,
    pub known_error_at: Option<i64>,
    pub kedb_published: bool,
    pub resolution: String,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub created_by: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Display names, joined in on reads.
    pub team_name: Option<String>,
    pub assignee_name: Option<String>,
    pub service_code: Option<String>,
}

const COLUMNS: &str = "SELECT p.id, p.number, p.title, p.description, p.status, p.priority, p.impact, \
    p.team_id, p.assignee_id, p.category, p.service_id, p.cause, p.method_notes, p.contributing_factors, \
    p.workaround, p.known_error_at, p.kedb_published, p.resolution, p.resolved_at, p.closed_at, \
    p.created_by, p.version, p.created_at, p.updated_at, tm.name, a.name, s.code \
    FROM problems p LEFT JOIN teams tm ON tm.id = p.team_id LEFT JOIN users a ON a.id = p.assignee_id \
    LEFT JOIN services s ON s.id = p.service_id";

fn problem(row: &AnyRow) -> sqlx::Result<Problem> {
    Ok(Problem {
        id: row.try_get(0)?,
        number: row.try_get(1)?,
        title: row.try_get(2)?,
        description: row.try_get(3)?,
        status: row.try_get(4)?,
        priority: row.try_get(5)?,
        impact: row.try_get(6)?,
        team_id: row.try_get(7)?,
        assignee_id: row.try_get(8)?,
        category: row.try_get(9)?,
        service_id: row.try_get(10)?,
        cause: row.try_get(11)?,
        method_notes: row.try_get(12)?,
        contributing_factors: row.try_get(13)?,
        workaround: row.try_get(14)?,
        known_error_at: row.try_get(15)?,
        kedb_published: row.try_get::<i64, _>(16)? != 0,
        resolution: row.try_get(17)?,
        resolved_at: row.try_get(18)?,
        closed_at: row.try_get(19)?,
        created_by: row.try_get(20)?,
        version: row.try_get(21)?,
        created_at: row.try_get(22)?,
        updated_at: row.try_get(23)?,
        team_name: row.try_get(24)?,
        assignee_name: row.try_get(25)?,
        service_code: row.try_get(26)?,
    })
}

/// Inserts the problem (id and joined names ignored) and returns its id.
pub async fn insert(conn: &mut AnyConnection, p: &Problem) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO problems (number, title, description, status, priority, impact, team_id, assignee_id, \
         category, service_id, cause, method_notes, contributing_factors, workaround, known_error_at, \
         kedb_published, resolution, resolved_at, closed_at, created_by, version, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23) RETURNING id",
    )
    .bind(&p.number)
    .bind(&p.title)
    .bind(&p.description)
    .bind(&p.status)
    .bind(p.priority)
    .bind(&p.impact)
    .bind(p.team_id)
    .bind(p.assignee_id)
    .bind(&p.category)
    .bind(p.service_id)
    .bind(&p.cause)
    .bind(&p.method_notes)
    .bind(&p.contributing_factors)
    .bind(&p.workaround)
    .bind(p.known_error_at)
    .bind(i64::from(p.kedb_published))
    .bind(&p.resolution)
    .bind(p.resolved_at)
    .bind(p.closed_at)
    .bind(p.created_by)
    .bind(p.version)
    .bind(p.created_at)
    .bind(p.updated_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// Writes every mutable field; false when the stored version was not `expected_version`.
pub async fn update(conn: &mut AnyConnection, p: &Problem, expected_version: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE problems SET title = $2, description = $3, status = $4, priority = $5, impact = $6, \
         team_id = $7, assignee_id = $8, category = $9, service_id = $10, cause = $11, method_notes = $12, \
         contributing_factors = $13, workaround = $14, known_error_at = $15, kedb_published = $16, \
         resolution = $17, resolved_at = $18, closed_at = $19, version = $20, updated_at = $21 \
         WHERE id = $1 AND version = $22",
    )
    .bind(p.id)
    .bind(&p.title)
    .bind(&p.description)
    .bind(&p.status)
    .bind(p.priority)
    .bind(&p.impact)
    .bind(p.team_id)
    .bind(p.assignee_id)
    .bind(&p.category)
    .bind(p.service_id)
    .bind(&p.cause)
    .bind(&p.method_notes)
    .bind(&p.contributing_factors)
    .bind(&p.workaround)
    .bind(p.known_error_at)
    .bind(i64::from(p.kedb_published))
    .bind(&p.resolution)
    .bind(p.resolved_at)
    .bind(p.closed_at)
    .bind(p.version)
    .bind(p.updated_at)
    .bind(expected_version)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Problem>> {
    let row = sqlx::query(&format!("{COLUMNS} WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(problem).transpose()?)
}

pub async fn id_by_number(conn: &mut AnyConnection, number: &str) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM problems WHERE number = $1")
        .bind(number)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

#[derive(Debug, Clone, Default)]
pub struct ProblemFilter {
    pub statuses: Vec<String>,
    /// Only known errors published to the KEDB.
    pub kedb: bool,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
    /// Segmented search words over title, cause and workaround; every one must match.
    pub words: Vec<String>,
    /// Newest first: the id the previous page ended with.
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// One page of problems, newest first.
pub async fn list(
    conn: &mut AnyConnection,
    backend: Backend,
    f: &ProblemFilter,
) -> Result<Vec<Problem>> {
    let mut sql = Sql::new(COLUMNS);
    sql.push(" WHERE 1 = 1");
    if !f.statuses.is_empty() {
        sql.push(" AND p.status IN ")
            .bind_list(f.statuses.iter().map(String::as_str));
    }
    if f.kedb {
        sql.push(" AND p.kedb_published = 1");
    }
    if let Some(t) = f.team_id {
        sql.push(" AND p.team_id = ").bind(t);
    }
    if let Some(a) = f.assignee_id {
        sql.push(" AND p.assignee_id = ").bind(a);
    }
    if !f.words.is_empty() {
        let expr = crate::search::match_expression(backend, &f.words);
        match backend {
            Backend::Sqlite => {
                sql.push(
                    " AND p.id IN (SELECT rowid FROM problem_search WHERE problem_search MATCH ",
                )
                .bind(expr)
                .push(")");
            }
            Backend::Postgres => {
                sql.push(" AND p.id IN (SELECT rowid FROM problem_search WHERE doc @@ to_tsquery('simple', ")
                    .bind(expr)
                    .push("))");
            }
        }
    }
    if let Some(b) = f.before_id {
        sql.push(" AND p.id < ").bind(b);
    }
    sql.push(" ORDER BY p.id DESC LIMIT ").bind(f.limit);
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(problem).collect::<sqlx::Result<_>>()?)
}

/// Replaces the search text of a problem (segmented by the caller with
/// `search::segment_document`).
pub async fn index(
    conn: &mut AnyConnection,
    backend: Backend,
    id: i64,
    segmented: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM problem_search WHERE rowid = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let sql = match backend {
        Backend::Sqlite => "INSERT INTO problem_search (rowid, doc) VALUES ($1, $2)",
        Backend::Postgres => {
            "INSERT INTO problem_search (rowid, doc) VALUES ($1, to_tsvector('simple', $2))"
        }
    };
    sqlx::query(sql)
        .bind(id)
        .bind(segmented)
        .execute(conn)
        .await?;
    Ok(())
}

/// An incident linked to a problem.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedIncident {
    pub link_id: i64,
    pub ticket_id: i64,
    pub number: String,
    pub title: String,
    pub status: String,
    pub team_id: Option<i64>,
}

/// The tickets linked to the problem as caused by it (either direction of the link).
pub async fn incidents(conn: &mut AnyConnection, problem_id: i64) -> Result<Vec<LinkedIncident>> {
    let rows = sqlx::query(
        "SELECT l.id, t.id, t.number, t.title, t.status, t.team_id FROM links l JOIN tickets t ON t.id = l.source_id \
         WHERE l.source_kind = 'ticket' AND l.target_kind = 'problem' AND l.target_id = $1 AND l.link_type = 'caused_by' \
         ORDER BY t.id",
    )
    .bind(problem_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LinkedIncident {
                link_id: r.try_get(0)?,
                ticket_id: r.try_get(1)?,
                number: r.try_get(2)?,
                title: r.try_get(3)?,
                status: r.try_get(4)?,
                team_id: r.try_get(5)?,
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

/// What the trend view groups incidents by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Category,
    Service,
    Ci,
}

/// Incident counts per group: in [from, to) and in [prev_from, from). Rows are (key, label,
/// current, previous); the key is the category, the service id or the CI id.
pub async fn trend_counts(
    conn: &mut AnyConnection,
    scope: &Scope,
    dim: Dimension,
    prev_from: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, i64, i64)>> {
    let (key, label, join) = match dim {
        Dimension::Category => ("t.category", "t.category", ""),
        Dimension::Service => (
            "CAST(t.service_id AS TEXT)",
            "s.code",
            " JOIN services s ON s.id = t.service_id",
        ),
        Dimension::Ci => ("CAST(c.id AS TEXT)", "c.name", CI_JOIN),
    };
    let mut sql = Sql::new(&format!(
        "SELECT {key}, {label}, SUM(CASE WHEN t.created_at >= "
    ));
    sql.bind(from)
        .push(" THEN 1 ELSE 0 END), SUM(CASE WHEN t.created_at < ")
        .bind(from)
        .push(&format!(" THEN 1 ELSE 0 END) FROM tickets t{join} WHERE t.kind = 'incident' AND {key} IS NOT NULL AND t.created_at >= "))
        .bind(prev_from)
        .push(" AND t.created_at < ")
        .bind(to);
    push_scope(&mut sql, scope);
    sql.push(&format!(" GROUP BY {key}, {label}"));
    let rows = sql.query().fetch_all(conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

/// Tickets linked to CIs, in either direction of the link.
const CI_JOIN: &str = " JOIN (SELECT source_id AS ticket_id, target_id AS ci_id FROM links \
    WHERE source_kind = 'ticket' AND target_kind = 'ci' \
    UNION SELECT target_id, source_id FROM links WHERE target_kind = 'ticket' AND source_kind = 'ci') tc \
    ON tc.ticket_id = t.id JOIN cis c ON c.id = tc.ci_id";

/// The incidents of one trend group in [from, to), newest first, at most `limit`.
pub async fn trend_incidents(
    conn: &mut AnyConnection,
    scope: &Scope,
    dim: Dimension,
    key: &str,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<i64>> {
    let mut sql = Sql::new("SELECT t.id FROM tickets t");
    match dim {
        Dimension::Category => {
            sql.push(" WHERE t.category = ").bind(key);
        }
        Dimension::Service => {
            let id: i64 = key.parse().unwrap_or(-1);
            sql.push(" WHERE t.service_id = ").bind(id);
        }
        Dimension::Ci => {
            let id: i64 = key.parse().unwrap_or(-1);
            sql.push(CI_JOIN).push(" WHERE c.id = ").bind(id);
        }
    }
    sql.push(" AND t.kind = 'incident' AND t.created_at >= ")
        .bind(from)
        .push(" AND t.created_at < ")
        .bind(to);
    push_scope(&mut sql, scope);
    sql.push(" ORDER BY t.id DESC LIMIT ").bind(limit);
    let rows = sql.query().fetch_all(conn).await?;
    rows.iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

/// The reply a known error's workaround became on an incident, if it was applied there.
pub async fn application(
    conn: &mut AnyConnection,
    problem_id: i64,
    ticket_id: i64,
) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT comment_id FROM problem_applications WHERE problem_id = $1 AND ticket_id = $2",
    )
    .bind(problem_id)
    .bind(ticket_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub async fn insert_application(
    conn: &mut AnyConnection,
    problem_id: i64,
    ticket_id: i64,
    comment_id: i64,
    by: i64,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO problem_applications (problem_id, ticket_id, comment_id, applied_by, applied_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(problem_id)
    .bind(ticket_id)
    .bind(comment_id)
    .bind(by)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}
