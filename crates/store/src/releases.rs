//! Releases: the changes they group, acceptance checklists, go-live and deployment.

use crate::sql::Sql;
use crate::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub description: String,
    pub service_id: i64,
    pub version_label: String,
    pub release_type: String,
    pub planned_date: Option<String>,
    pub status: String,
    pub owner_id: i64,
    pub created_by: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Joined for display; ignored on writes.
    pub service_code: String,
    pub service_name_zh: String,
    pub service_name_en: String,
    pub owner_name: String,
}

const COLUMNS: &str =
    "SELECT r.id, r.number, r.title, r.description, r.service_id, r.version_label, \
    r.release_type, r.planned_date, r.status, r.owner_id, r.created_by, r.version, r.created_at, \
    r.updated_at, s.code, s.name_zh, s.name_en, u.name FROM releases r \
    JOIN services s ON s.id = r.service_id JOIN users u ON u.id = r.owner_id";

fn release(row: &AnyRow) -> sqlx::Result<Release> {
    Ok(Release {
        id: row.try_get(0)?,
        number: row.try_get(1)?,
        title: row.try_get(2)?,
        description: row.try_get(3)?,
        service_id: row.try_get(4)?,
        version_label: row.try_get(5)?,
        release_type: row.try_get(6)?,
        planned_date: row.try_get(7)?,
        status: row.try_get(8)?,
        owner_id: row.try_get(9)?,
        created_by: row.try_get(10)?,
        version: row.try_get(11)?,
        created_at: row.try_get(12)?,
        updated_at: row.try_get(13)?,
        service_code: row.try_get(14)?,
        service_name_zh: row.try_get(15)?,
        service_name_en: row.try_get(16)?,
        owner_name: row.try_get(17)?,
    })
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Release>> {
    let row = sqlx::query(&format!("{COLUMNS} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(release).transpose()?)
}

/// Inserts the release (id and joined names are ignored) and returns its id.
pub async fn insert(conn: &mut AnyConnection, r: &Release) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO releases (number, title, description, service_id, version_label, release_type, \
         planned_date, status, owner_id, created_by, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(&r.number)
    .bind(&r.title)
    .bind(&r.description)
    .bind(r.service_id)
    .bind(&r.version_label)
    .bind(&r.release_type)
    .bind(&r.planned_date)
    .bind(&r.status)
    .bind(r.owner_id)
    .bind(r.created_by)
    .bind(r.version)
    .bind(r.created_at)
    .bind(r.updated_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// Writes the release if it is still at `expected_version`; false when it changed meanwhile.
pub async fn update(conn: &mut AnyConnection, r: &Release, expected_version: i64) -> Result<bool> {
    let res = sqlx::query(
        "UPDATE releases SET title = $2, description = $3, service_id = $4, version_label = $5, \
         release_type = $6, planned_date = $7, status = $8, owner_id = $9, version = $10, \
         updated_at = $11 WHERE id = $1 AND version = $12",
    )
    .bind(r.id)
    .bind(&r.title)
    .bind(&r.description)
    .bind(r.service_id)
    .bind(&r.version_label)
    .bind(&r.release_type)
    .bind(&r.planned_date)
    .bind(&r.status)
    .bind(r.owner_id)
    .bind(r.version)
    .bind(r.updated_at)
    .bind(expected_version)
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Which releases a listing shows, newest first.
#[derive(Debug, Clone, Default)]
pub struct ReleaseFilter {
    pub statuses: Vec<String>,
    pub service_id: Option<i64>,
    /// Only releases with a smaller id (the cursor).
    pub before_id: Option<i64>,
    pub limit: i64,
}

pub async fn list(conn: &mut AnyConnection, f: &ReleaseFilter) -> Result<Vec<Release>> {
    let mut sql = Sql::new(COLUMNS);
    sql.push(" WHERE 1 = 1");
    if !f.statuses.is_empty() {
        sql.push(" AND r.status IN ")
            .bind_list(f.statuses.iter().map(String::as_str));
    }
    if let Some(s) = f.service_id {
        sql.push(" AND r.service_id = ").bind(s);
    }
    if let Some(b) = f.before_id {
        sql.push(" AND r.id < ").bind(b);
    }
    sql.push(" ORDER BY r.id DESC LIMIT ").bind(f.limit);
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(release).collect::<sqlx::Result<_>>()?)
}

/// A change as a release shows it, read from the change record.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRef {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub status: String,
    pub change_type: String,
    pub planned_start: Option<i64>,
    pub planned_end: Option<i64>,
}

const CHANGE_COLUMNS: &str =
    "c.id, c.number, c.title, c.status, c.change_type, c.planned_start, c.planned_end";

fn change_ref(row: &AnyRow) -> sqlx::Result<ChangeRef> {
    Ok(ChangeRef {
        id: row.try_get(0)?,
        number: row.try_get(1)?,
        title: row.try_get(2)?,
        status: row.try_get(3)?,
        change_type: row.try_get(4)?,
        planned_start: row.try_get(5)?,
        planned_end: row.try_get(6)?,
    })
}

pub async fn change(conn: &mut AnyConnection, change_id: i64) -> Result<Option<ChangeRef>> {
    let row = sqlx::query(&format!(
        "SELECT {CHANGE_COLUMNS} FROM changes c WHERE c.id = $1"
    ))
    .bind(change_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(change_ref).transpose()?)
}

/// The changes a release groups, by number.
pub async fn changes(conn: &mut AnyConnection, release_id: i64) -> Result<Vec<ChangeRef>> {
    let rows = sqlx::query(&format!(
        "SELECT {CHANGE_COLUMNS} FROM release_changes rc JOIN changes c ON c.id = rc.change_id \
         WHERE rc.release_id = $1 ORDER BY c.number"
    ))
    .bind(release_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(change_ref).collect::<sqlx::Result<_>>()?)
}

/// Changes a release may add, newest first: not rejected or cancelled themselves, and in no
/// release that still holds its changes (not cancelled).
pub async fn unreleased_changes(conn: &mut AnyConnection, limit: i64) -> Result<Vec<ChangeRef>> {
    let rows = sqlx::query(&format!(
        "SELECT {CHANGE_COLUMNS} FROM changes c WHERE c.status NOT IN ('rejected', 'cancelled') \
         AND NOT EXISTS (SELECT 1 FROM release_changes rc \
         JOIN releases r ON r.id = rc.release_id WHERE rc.change_id = c.id AND r.status <> 'cancelled') \
         ORDER BY c.id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(change_ref).collect::<sqlx::Result<_>>()?)
}

/// The releases (number, status) that group a change.
pub async fn releases_of_change(
    conn: &mut AnyConnection,
    change_id: i64,
) -> Result<Vec<(i64, String, String)>> {
    let rows = sqlx::query(
        "SELECT r.id, r.number, r.status FROM release_changes rc JOIN releases r ON r.id = rc.release_id \
         WHERE rc.change_id = $1 ORDER BY r.id",
    )
    .bind(change_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

pub async fn add_change(
    conn: &mut AnyConnection,
    release_id: i64,
    change_id: i64,
    by: i64,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO release_changes (release_id, change_id, added_by, added_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(release_id)
    .bind(change_id)
    .bind(by)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// False when the change was not in the release.
pub async fn remove_change(
    conn: &mut AnyConnection,
    release_id: i64,
    change_id: i64,
) -> Result<bool> {
    let r = sqlx::query("DELETE FROM release_changes WHERE release_id = $1 AND change_id = $2")
        .bind(release_id)
        .bind(change_id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes one acceptance check of the release; false when the release has no such check.
pub async fn remove_check(
    conn: &mut AnyConnection,
    release_id: i64,
    check_id: i64,
) -> Result<bool> {
    let r = sqlx::query("DELETE FROM release_checks WHERE release_id = $1 AND id = $2")
        .bind(release_id)
        .bind(check_id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub id: i64,
    pub release_id: i64,
    pub ordinal: i64,
    pub text_zh: String,
    pub text_en: String,
    pub mandatory: bool,
    pub result: String,
    pub note: String,
    pub checked_by: Option<i64>,
    pub checked_by_name: Option<String>,
    pub checked_at: Option<i64>,
}

pub async fn checks(conn: &mut AnyConnection, release_id: i64) -> Result<Vec<Check>> {
    let rows = sqlx::query(
        "SELECT k.id, k.release_id, k.ordinal, k.text_zh, k.text_en, k.mandatory, k.result, k.note, \
         k.checked_by, u.name, k.checked_at FROM release_checks k LEFT JOIN users u ON u.id = k.checked_by \
         WHERE k.release_id = $1 ORDER BY k.ordinal",
    )
    .bind(release_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Check {
                id: r.try_get(0)?,
                release_id: r.try_get(1)?,
                ordinal: r.try_get(2)?,
                text_zh: r.try_get(3)?,
                text_en: r.try_get(4)?,
                mandatory: r.try_get::<i64, _>(5)? != 0,
                result: r.try_get(6)?,
                note: r.try_get(7)?,
                checked_by: r.try_get(8)?,
                checked_by_name: r.try_get(9)?,
                checked_at: r.try_get(10)?,
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

/// Appends a pending check after the release's last one and returns its id.
pub async fn add_check(
    conn: &mut AnyConnection,
    release_id: i64,
    text_zh: &str,
    text_en: &str,
    mandatory: bool,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO release_checks (release_id, ordinal, text_zh, text_en, mandatory, result, note) \
         SELECT $1, COALESCE(MAX(ordinal), 0) + 1, $2, $3, $4, 'pending', '' FROM release_checks \
         WHERE release_id = $1 RETURNING id",
    )
    .bind(release_id)
    .bind(text_zh)
    .bind(text_en)
    .bind(i64::from(mandatory))
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn set_check_result(
    conn: &mut AnyConnection,
    check_id: i64,
    result: &str,
    note: &str,
    by: i64,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE release_checks SET result = $2, note = $3, checked_by = $4, checked_at = $5 WHERE id = $1",
    )
    .bind(check_id)
    .bind(result)
    .bind(note)
    .bind(by)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    pub id: i64,
    pub decision: String,
    pub comment: String,
    pub decided_by: i64,
    pub decided_by_name: String,
    pub decided_at: i64,
}

pub async fn add_approval(
    conn: &mut AnyConnection,
    release_id: i64,
    decision: &str,
    comment: &str,
    by: i64,
    at: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO release_approvals (release_id, decision, comment, decided_by, decided_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(release_id)
    .bind(decision)
    .bind(comment)
    .bind(by)
    .bind(at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn approvals(conn: &mut AnyConnection, release_id: i64) -> Result<Vec<Approval>> {
    let rows = sqlx::query(
        "SELECT a.id, a.decision, a.comment, a.decided_by, u.name, a.decided_at FROM release_approvals a \
         JOIN users u ON u.id = a.decided_by WHERE a.release_id = $1 ORDER BY a.id",
    )
    .bind(release_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Approval {
                id: r.try_get(0)?,
                decision: r.try_get(1)?,
                comment: r.try_get(2)?,
                decided_by: r.try_get(3)?,
                decided_by_name: r.try_get(4)?,
                decided_at: r.try_get(5)?,
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: i64,
    pub release_id: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub outcome: String,
    pub notes: String,
    pub deployed_by: i64,
    /// Joined for display; ignored on writes.
    pub deployed_by_name: String,
    pub recorded_by: i64,
    pub recorded_at: i64,
}

pub async fn add_deployment(conn: &mut AnyConnection, d: &Deployment) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO release_deployments (release_id, started_at, finished_at, outcome, notes, \
         deployed_by, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(d.release_id)
    .bind(d.started_at)
    .bind(d.finished_at)
    .bind(&d.outcome)
    .bind(&d.notes)
    .bind(d.deployed_by)
    .bind(d.recorded_by)
    .bind(d.recorded_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn deployments(conn: &mut AnyConnection, release_id: i64) -> Result<Vec<Deployment>> {
    let rows = sqlx::query(
        "SELECT d.id, d.release_id, d.started_at, d.finished_at, d.outcome, d.notes, d.deployed_by, \
         u.name, d.recorded_by, d.recorded_at FROM release_deployments d \
         JOIN users u ON u.id = d.deployed_by WHERE d.release_id = $1 ORDER BY d.id",
    )
    .bind(release_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Deployment {
                id: r.try_get(0)?,
                release_id: r.try_get(1)?,
                started_at: r.try_get(2)?,
                finished_at: r.try_get(3)?,
                outcome: r.try_get(4)?,
                notes: r.try_get(5)?,
                deployed_by: r.try_get(6)?,
                deployed_by_name: r.try_get(7)?,
                recorded_by: r.try_get(8)?,
                recorded_at: r.try_get(9)?,
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}
