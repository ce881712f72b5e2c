//! Configuration management: CI types with their attribute sets (JSON), CIs with their
//! attribute values (JSON) and search index, and the typed relationships between CIs. The
//! impact walk loads the graph level by level through [`edges_touching`].

use crate::search::match_expression;
use crate::sql::Sql;
use crate::{Backend, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq)]
pub struct CiType {
    pub id: i64,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// The attribute definitions as JSON (core::cmdb::AttributeDef).
    pub attributes: String,
    pub builtin: bool,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

fn ci_type(r: &AnyRow) -> sqlx::Result<CiType> {
    Ok(CiType {
        id: r.try_get(0)?,
        code: r.try_get(1)?,
        name_zh: r.try_get(2)?,
        name_en: r.try_get(3)?,
        attributes: r.try_get(4)?,
        builtin: r.try_get::<i64, _>(5)? != 0,
        version: r.try_get(6)?,
        created_at: r.try_get(7)?,
        updated_at: r.try_get(8)?,
    })
}

const TYPE_COLUMNS: &str = "SELECT id, code, name_zh, name_en, attributes, builtin, version, \
    created_at, updated_at FROM ci_types";

pub async fn list_types(conn: &mut AnyConnection) -> Result<Vec<CiType>> {
    let rows = sqlx::query(&format!("{TYPE_COLUMNS} ORDER BY builtin DESC, id"))
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(ci_type).collect::<sqlx::Result<_>>()?)
}

pub async fn get_type(conn: &mut AnyConnection, id: i64) -> Result<Option<CiType>> {
    let row = sqlx::query(&format!("{TYPE_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(ci_type).transpose()?)
}

pub async fn type_by_code(conn: &mut AnyConnection, code: &str) -> Result<Option<CiType>> {
    let row = sqlx::query(&format!("{TYPE_COLUMNS} WHERE code = $1"))
        .bind(code)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(ci_type).transpose()?)
}

pub async fn insert_type(conn: &mut AnyConnection, t: &CiType) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO ci_types (code, name_zh, name_en, attributes, builtin, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 0, 1, $5, $5) RETURNING id",
    )
    .bind(&t.code)
    .bind(&t.name_zh)
    .bind(&t.name_en)
    .bind(&t.attributes)
    .bind(t.created_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// False when the type is no longer at `old_version`.
pub async fn update_type(conn: &mut AnyConnection, t: &CiType, old_version: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE ci_types SET name_zh = $2, name_en = $3, attributes = $4, version = $5, updated_at = $6 \
         WHERE id = $1 AND version = $7",
    )
    .bind(t.id)
    .bind(&t.name_zh)
    .bind(&t.name_en)
    .bind(&t.attributes)
    .bind(t.version)
    .bind(t.updated_at)
    .bind(old_version)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ci {
    pub id: i64,
    pub name: String,
    pub type_id: i64,
    pub status: String,
    pub owner_id: Option<i64>,
    pub team_id: Option<i64>,
    pub service_id: Option<i64>,
    pub organization_id: Option<i64>,
    /// The attribute values as a JSON object of strings.
    pub attributes: String,
    pub description: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

fn ci(r: &AnyRow) -> sqlx::Result<Ci> {
    Ok(Ci {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        type_id: r.try_get(2)?,
        status: r.try_get(3)?,
        owner_id: r.try_get(4)?,
        team_id: r.try_get(5)?,
        service_id: r.try_get(6)?,
        organization_id: r.try_get(7)?,
        attributes: r.try_get(8)?,
        description: r.try_get(9)?,
        version: r.try_get(10)?,
        created_at: r.try_get(11)?,
        updated_at: r.try_get(12)?,
    })
}

const CI_COLUMNS: &str = "SELECT c.id, c.name, c.type_id, c.status, c.owner_id, c.team_id, \
    c.service_id, c.organization_id, c.attributes, c.description, c.version, c.created_at, \
    c.updated_at FROM cis c";

pub async fn get_ci(conn: &mut AnyConnection, id: i64) -> Result<Option<Ci>> {
    let row = sqlx::query(&format!("{CI_COLUMNS} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(ci).transpose()?)
}

pub async fn ci_by_name(conn: &mut AnyConnection, type_id: i64, name: &str) -> Result<Option<Ci>> {
    let row = sqlx::query(&format!(
        "{CI_COLUMNS} WHERE c.type_id = $1 AND c.name = $2"
    ))
    .bind(type_id)
    .bind(name)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(ci).transpose()?)
}

pub async fn insert_ci(conn: &mut AnyConnection, c: &Ci) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO cis (name, type_id, status, owner_id, team_id, service_id, organization_id, \
         attributes, description, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10) RETURNING id",
    )
    .bind(&c.name)
    .bind(c.type_id)
    .bind(&c.status)
    .bind(c.owner_id)
    .bind(c.team_id)
    .bind(c.service_id)
    .bind(c.organization_id)
    .bind(&c.attributes)
    .bind(&c.description)
    .bind(c.created_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// False when the CI is no longer at `old_version`.
pub async fn update_ci(conn: &mut AnyConnection, c: &Ci, old_version: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE cis SET name = $2, status = $3, owner_id = $4, team_id = $5, service_id = $6, \
         organization_id = $7, attributes = $8, description = $9, version = $10, updated_at = $11 \
         WHERE id = $1 AND version = $12",
    )
    .bind(c.id)
    .bind(&c.name)
    .bind(&c.status)
    .bind(c.owner_id)
    .bind(c.team_id)
    .bind(c.service_id)
    .bind(c.organization_id)
    .bind(&c.attributes)
    .bind(&c.description)
    .bind(c.version)
    .bind(c.updated_at)
    .bind(old_version)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces a CI's search document with `segmented` (store::search::segment_document).
pub async fn index_ci(
    conn: &mut AnyConnection,
    backend: Backend,
    id: i64,
    segmented: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM ci_search WHERE rowid = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let sql = match backend {
        Backend::Sqlite => "INSERT INTO ci_search (rowid, doc) VALUES ($1, $2)",
        Backend::Postgres => {
            "INSERT INTO ci_search (rowid, doc) VALUES ($1, to_tsvector('simple', $2))"
        }
    };
    sqlx::query(sql)
        .bind(id)
        .bind(segmented)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct CiFilter {
    pub type_id: Option<i64>,
    pub status: Option<String>,
    pub owner_id: Option<i64>,
    pub service_id: Option<i64>,
    /// Segmented query words; every one must match.
    pub words: Vec<String>,
    /// Only ids above this (the cursor of the previous page).
    pub after: Option<i64>,
    pub limit: i64,
}

/// CIs in id order.
pub async fn list_cis(conn: &mut AnyConnection, backend: Backend, f: &CiFilter) -> Result<Vec<Ci>> {
    let mut sql = Sql::new(CI_COLUMNS);
    sql.push(" WHERE 1 = 1");
    if let Some(t) = f.type_id {
        sql.push(" AND c.type_id = ").bind(t);
    }
    if let Some(s) = &f.status {
        sql.push(" AND c.status = ").bind(s.as_str());
    }
    if let Some(o) = f.owner_id {
        sql.push(" AND c.owner_id = ").bind(o);
    }
    if let Some(s) = f.service_id {
        sql.push(" AND c.service_id = ").bind(s);
    }
    if !f.words.is_empty() {
        let expr = match_expression(backend, &f.words);
        match backend {
            Backend::Sqlite => {
                sql.push(" AND c.id IN (SELECT rowid FROM ci_search WHERE ci_search MATCH ")
                    .bind(format!("doc : ({expr})"))
                    .push(")");
            }
            Backend::Postgres => {
                sql.push(
                    " AND c.id IN (SELECT rowid FROM ci_search WHERE doc @@ to_tsquery('simple', ",
                )
                .bind(expr)
                .push("))");
            }
        }
    }
    if let Some(a) = f.after {
        sql.push(" AND c.id > ").bind(a);
    }
    sql.push(" ORDER BY c.id LIMIT ").bind(f.limit);
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(ci).collect::<sqlx::Result<_>>()?)
}

/// The CIs with these ids (any order); unknown ids are left out.
pub async fn cis_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Ci>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut sql = Sql::new(CI_COLUMNS);
        sql.push(" WHERE c.id IN ").bind_list(chunk.iter().copied());
        let rows = sql.query().fetch_all(&mut *conn).await?;
        for r in &rows {
            out.push(ci(r)?);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Relationship {
    pub id: i64,
    pub source_id: i64,
    pub target_id: i64,
    pub relation: String,
    pub created_at: i64,
}

fn relationship(r: &AnyRow) -> sqlx::Result<Relationship> {
    Ok(Relationship {
        id: r.try_get(0)?,
        source_id: r.try_get(1)?,
        target_id: r.try_get(2)?,
        relation: r.try_get(3)?,
        created_at: r.try_get(4)?,
    })
}

const REL_COLUMNS: &str =
    "SELECT id, source_id, target_id, relation, created_at FROM ci_relationships";

/// Inserts a relationship; None when the same one exists already.
pub async fn insert_relationship(
    conn: &mut AnyConnection,
    source_id: i64,
    target_id: i64,
    relation: &str,
    at: i64,
) -> Result<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO ci_relationships (source_id, target_id, relation, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (source_id, target_id, relation) DO NOTHING RETURNING id",
    )
    .bind(source_id)
    .bind(target_id)
    .bind(relation)
    .bind(at)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub async fn get_relationship(conn: &mut AnyConnection, id: i64) -> Result<Option<Relationship>> {
    let row = sqlx::query(&format!("{REL_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(relationship).transpose()?)
}

pub async fn delete_relationship(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    let r = sqlx::query("DELETE FROM ci_relationships WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Relationships in id order; with `ci_id`, those of which that CI is either end.
pub async fn list_relationships(
    conn: &mut AnyConnection,
    ci_id: Option<i64>,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<Relationship>> {
    let mut sql = Sql::new(REL_COLUMNS);
    sql.push(" WHERE 1 = 1");
    if let Some(c) = ci_id {
        sql.push(" AND (source_id = ")
            .bind(c)
            .push(" OR target_id = ")
            .bind(c)
            .push(")");
    }
    if let Some(a) = after {
        sql.push(" AND id > ").bind(a);
    }
    sql.push(" ORDER BY id LIMIT ").bind(limit);
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(relationship).collect::<sqlx::Result<_>>()?)
}

/// IN lists are sent in chunks of this many ids (both backends take far more parameters).
const CHUNK: usize = 2000;

/// One level of the impact walk: the relationships whose source is among `ids` with a relation
/// in `by_source`, and those whose target is among `ids` with a relation in `by_target`. Two
/// indexed lookups per chunk: by source (the unique key's prefix) and by target.
pub async fn edges_touching(
    conn: &mut AnyConnection,
    ids: &[i64],
    by_source: &[&str],
    by_target: &[&str],
) -> Result<Vec<Relationship>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        for (end, relations) in [("source_id", by_source), ("target_id", by_target)] {
            if relations.is_empty() {
                continue;
            }
            let mut sql = Sql::new(REL_COLUMNS);
            sql.push(&format!(" WHERE {end} IN "))
                .bind_list(chunk.iter().copied())
                .push(" AND relation IN ")
                .bind_list(relations.iter().copied());
            let rows = sql.query().fetch_all(&mut *conn).await?;
            for r in &rows {
                out.push(relationship(r)?);
            }
        }
    }
    Ok(out)
}

/// (service, customer organisation) for these catalogue services.
pub async fn service_customers(
    conn: &mut AnyConnection,
    service_ids: &[i64],
) -> Result<Vec<(i64, i64)>> {
    let mut out = Vec::new();
    for chunk in service_ids.chunks(CHUNK) {
        let mut sql = Sql::new(
            "SELECT service_id, organization_id FROM service_customers WHERE service_id IN ",
        );
        sql.bind_list(chunk.iter().copied());
        sql.push(" ORDER BY service_id, organization_id");
        for r in &sql.query().fetch_all(&mut *conn).await? {
            out.push((r.try_get(0)?, r.try_get(1)?));
        }
    }
    Ok(out)
}

/// Every CI, in id order, for the CSV export.
pub async fn all_cis(conn: &mut AnyConnection) -> Result<Vec<Ci>> {
    let rows = sqlx::query(&format!("{CI_COLUMNS} ORDER BY c.id"))
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(ci).collect::<sqlx::Result<_>>()?)
}

/// Every relationship, in id order, for the CSV export.
pub async fn all_relationships(conn: &mut AnyConnection) -> Result<Vec<Relationship>> {
    let rows = sqlx::query(&format!("{REL_COLUMNS} ORDER BY id"))
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(relationship).collect::<sqlx::Result<_>>()?)
}
