//! Typed links between any two records (core::link). A link is stored once, source → target;
//! `for_record` returns the links of a record from both ends.

use crate::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub id: i64,
    pub source_kind: String,
    pub source_id: i64,
    pub target_kind: String,
    pub target_id: i64,
    pub link_type: String,
    pub created_by: i64,
    pub created_at: i64,
}

fn link(row: &AnyRow) -> sqlx::Result<Link> {
    Ok(Link {
        id: row.try_get(0)?,
        source_kind: row.try_get(1)?,
        source_id: row.try_get(2)?,
        target_kind: row.try_get(3)?,
        target_id: row.try_get(4)?,
        link_type: row.try_get(5)?,
        created_by: row.try_get(6)?,
        created_at: row.try_get(7)?,
    })
}

const COLUMNS: &str = "SELECT id, source_kind, source_id, target_kind, target_id, link_type, \
    created_by, created_at FROM links";

/// Inserts the link (its id is ignored); `None` when the same link already exists.
pub async fn insert(conn: &mut AnyConnection, l: &Link) -> Result<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO links (source_kind, source_id, target_kind, target_id, link_type, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (source_kind, source_id, target_kind, target_id, link_type) DO NOTHING RETURNING id",
    )
    .bind(&l.source_kind)
    .bind(l.source_id)
    .bind(&l.target_kind)
    .bind(l.target_id)
    .bind(&l.link_type)
    .bind(l.created_by)
    .bind(l.created_at)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Link>> {
    let row = sqlx::query(&format!("{COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(link).transpose()?)
}

/// Every link with the record at either end, oldest first.
pub async fn for_record(conn: &mut AnyConnection, kind: &str, id: i64) -> Result<Vec<Link>> {
    let rows = sqlx::query(&format!(
        "{COLUMNS} WHERE (source_kind = $1 AND source_id = $2) OR (target_kind = $1 AND target_id = $2) \
         ORDER BY id"
    ))
    .bind(kind)
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(link).collect::<sqlx::Result<_>>()?)
}

pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    let r = sqlx::query("DELETE FROM links WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// What a link shows of the record at its other end.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordLabel {
    /// INC-000001, PRB-000001, CHG-000001, the CI's name …
    pub number: String,
    pub title: String,
    pub status: String,
}

/// The table and columns each kind is read from: (table, number column, title column, status
/// column). Releases and articles are read by the columns their slices define
/// (`releases(id, number, title, status)`, `knowledge_articles(id, number, title, status)`);
/// this is the one place to adjust when a table differs.
fn record_table(kind: &str) -> Option<(&'static str, &'static str, &'static str, &'static str)> {
    Some(match kind {
        "ticket" => ("tickets", "number", "title", "status"),
        "problem" => ("problems", "number", "title", "status"),
        "change" => ("changes", "number", "title", "status"),
        "release" => ("releases", "number", "title", "status"),
        "ci" => ("cis", "name", "name", "status"),
        "article" => ("knowledge_articles", "number", "title", "status"),
        _ => return None,
    })
}

/// The label of a record of any kind; None when there is no such record.
pub async fn label(conn: &mut AnyConnection, kind: &str, id: i64) -> Result<Option<RecordLabel>> {
    let Some((table, number, title, status)) = record_table(kind) else {
        return Ok(None);
    };
    let row = sqlx::query(&format!(
        "SELECT {number}, {title}, {status} FROM {table} WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    let read = |r: &AnyRow| -> sqlx::Result<RecordLabel> {
        Ok(RecordLabel {
            number: r.try_get(0)?,
            title: r.try_get(1)?,
            status: r.try_get(2)?,
        })
    };
    Ok(row.as_ref().map(read).transpose()?)
}

/// Finds a record by what a person types: its number (INC-000012, PRB-000003 …; a CI by its
/// exact name) or its id.
pub async fn find(conn: &mut AnyConnection, kind: &str, text: &str) -> Result<Option<i64>> {
    let Some((table, number, _, _)) = record_table(kind) else {
        return Ok(None);
    };
    let text = text.trim();
    let row = sqlx::query(&format!("SELECT id FROM {table} WHERE {number} = $1"))
        .bind(if kind == "ci" {
            text.to_string()
        } else {
            text.to_uppercase()
        })
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(r) = row {
        return Ok(Some(r.try_get(0)?));
    }
    match text.parse::<i64>() {
        Ok(id) if label(conn, kind, id).await?.is_some() => Ok(Some(id)),
        _ => Ok(None),
    }
}
