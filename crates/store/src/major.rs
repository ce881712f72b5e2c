//! Major incidents: the declaration on an incident ticket, the emergency roster, the
//! communication log and the post-incident review.

use crate::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq)]
pub struct Major {
    pub ticket_id: i64,
    pub declared_by: i64,
    pub declared_at: i64,
    pub response_due_at: i64,
    pub responded_at: Option<i64>,
    pub response_overdue_at: Option<i64>,
    /// The post-incident review as JSON.
    pub review: Option<String>,
    pub reviewed_by: Option<i64>,
    pub reviewed_at: Option<i64>,
}

fn major(row: &AnyRow) -> sqlx::Result<Major> {
    Ok(Major {
        ticket_id: row.try_get(0)?,
        declared_by: row.try_get(1)?,
        declared_at: row.try_get(2)?,
        response_due_at: row.try_get(3)?,
        responded_at: row.try_get(4)?,
        response_overdue_at: row.try_get(5)?,
        review: row.try_get(6)?,
        reviewed_by: row.try_get(7)?,
        reviewed_at: row.try_get(8)?,
    })
}

const COLUMNS: &str = "SELECT ticket_id, declared_by, declared_at, response_due_at, responded_at, \
    response_overdue_at, review, reviewed_by, reviewed_at FROM major_incidents";

pub async fn get(conn: &mut AnyConnection, ticket_id: i64) -> Result<Option<Major>> {
    let row = sqlx::query(&format!("{COLUMNS} WHERE ticket_id = $1"))
        .bind(ticket_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(major).transpose()?)
}

pub async fn insert(conn: &mut AnyConnection, m: &Major) -> Result<()> {
    sqlx::query(
        "INSERT INTO major_incidents (ticket_id, declared_by, declared_at, response_due_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(m.ticket_id)
    .bind(m.declared_by)
    .bind(m.declared_at)
    .bind(m.response_due_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_responded(conn: &mut AnyConnection, ticket_id: i64, at: i64) -> Result<()> {
    sqlx::query(
        "UPDATE major_incidents SET responded_at = $2 WHERE ticket_id = $1 AND responded_at IS NULL",
    )
    .bind(ticket_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the response overdue; false when another node did it first.
pub async fn set_response_overdue(
    conn: &mut AnyConnection,
    ticket_id: i64,
    at: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE major_incidents SET response_overdue_at = $2 \
         WHERE ticket_id = $1 AND responded_at IS NULL AND response_overdue_at IS NULL",
    )
    .bind(ticket_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Open major incidents nobody on the roster answered by their response time.
pub async fn unanswered(conn: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<Major>> {
    let rows = sqlx::query(&format!(
        "{COLUMNS} WHERE responded_at IS NULL AND response_overdue_at IS NULL AND response_due_at <= $1 \
         AND ticket_id IN (SELECT id FROM tickets WHERE status IN ('new', 'assigned', 'in_progress', 'pending')) \
         ORDER BY response_due_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(major).collect::<sqlx::Result<_>>()?)
}

pub async fn set_review(
    conn: &mut AnyConnection,
    ticket_id: i64,
    review: &str,
    by: i64,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE major_incidents SET review = $2, reviewed_by = $3, reviewed_at = $4 WHERE ticket_id = $1",
    )
    .bind(ticket_id)
    .bind(review)
    .bind(by)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct RosterEntry {
    pub user_id: i64,
    pub name: String,
    pub paged_at: i64,
    pub acknowledged_at: Option<i64>,
}

pub async fn roster(conn: &mut AnyConnection, ticket_id: i64) -> Result<Vec<RosterEntry>> {
    let rows = sqlx::query(
        "SELECT r.user_id, u.name, r.paged_at, r.acknowledged_at FROM major_incident_roster r \
         JOIN users u ON u.id = r.user_id WHERE r.ticket_id = $1 ORDER BY u.name, r.user_id",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RosterEntry {
                user_id: r.try_get(0)?,
                name: r.try_get(1)?,
                paged_at: r.try_get(2)?,
                acknowledged_at: r.try_get(3)?,
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

/// Whether the user is on the ticket's emergency team.
pub async fn is_paged(conn: &mut AnyConnection, ticket_id: i64, user_id: i64) -> Result<bool> {
    let row =
        sqlx::query("SELECT 1 FROM major_incident_roster WHERE ticket_id = $1 AND user_id = $2")
            .bind(ticket_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}

/// Pages a user; false when already on the roster.
pub async fn page(conn: &mut AnyConnection, ticket_id: i64, user_id: i64, at: i64) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO major_incident_roster (ticket_id, user_id, paged_at) VALUES ($1, $2, $3) \
         ON CONFLICT (ticket_id, user_id) DO NOTHING",
    )
    .bind(ticket_id)
    .bind(user_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// False when the user is not on the roster or had acknowledged already.
pub async fn acknowledge(
    conn: &mut AnyConnection,
    ticket_id: i64,
    user_id: i64,
    at: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE major_incident_roster SET acknowledged_at = $3 \
         WHERE ticket_id = $1 AND user_id = $2 AND acknowledged_at IS NULL",
    )
    .bind(ticket_id)
    .bind(user_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub id: i64,
    pub ticket_id: i64,
    pub author_id: i64,
    pub author_name: String,
    pub body: String,
    pub created_at: i64,
}

pub async fn add_update(
    conn: &mut AnyConnection,
    ticket_id: i64,
    author_id: i64,
    body: &str,
    at: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO major_incident_updates (ticket_id, author_id, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(ticket_id)
    .bind(author_id)
    .bind(body)
    .bind(at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn updates(conn: &mut AnyConnection, ticket_id: i64) -> Result<Vec<StatusUpdate>> {
    let rows = sqlx::query(
        "SELECT m.id, m.ticket_id, m.author_id, u.name, m.body, m.created_at FROM major_incident_updates m \
         JOIN users u ON u.id = m.author_id WHERE m.ticket_id = $1 ORDER BY m.id DESC",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StatusUpdate {
                id: r.try_get(0)?,
                ticket_id: r.try_get(1)?,
                author_id: r.try_get(2)?,
                author_name: r.try_get(3)?,
                body: r.try_get(4)?,
                created_at: r.try_get(5)?,
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

/// The child incidents attached to a major incident.
pub async fn children(conn: &mut AnyConnection, ticket_id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query("SELECT id FROM tickets WHERE parent_id = $1 ORDER BY id")
        .bind(ticket_id)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

/// The customer organisations affected: the major incident's and its children's.
pub async fn affected_organizations(conn: &mut AnyConnection, ticket_id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT DISTINCT organization_id FROM tickets WHERE (id = $1 OR parent_id = $1) \
         AND organization_id IS NOT NULL ORDER BY organization_id",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

/// Open major incidents, newest first, with the organisations they affect: their own and their
/// children's requesters' organisations and the customers of their service.
pub async fn open_with_organizations(conn: &mut AnyConnection) -> Result<Vec<(i64, Vec<i64>)>> {
    let rows = sqlx::query(
        "SELECT m.ticket_id FROM major_incidents m JOIN tickets t ON t.id = m.ticket_id \
         WHERE t.status IN ('new', 'assigned', 'in_progress', 'pending') ORDER BY m.declared_at DESC LIMIT 20",
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let mut orgs = affected_organizations(conn, id).await?;
        let rows = sqlx::query(
            "SELECT c.organization_id FROM service_customers c JOIN tickets t ON t.service_id = c.service_id \
             WHERE t.id = $1",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        for r in &rows {
            orgs.push(r.try_get(0)?);
        }
        orgs.sort_unstable();
        orgs.dedup();
        out.push((id, orgs));
    }
    Ok(out)
}
