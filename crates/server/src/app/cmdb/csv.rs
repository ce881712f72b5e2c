//! CSV import and export of CIs and relationships.
//!
//! CIs: `type,name,status,owner_email,team,description,attr.<name>...`; relationships:
//! `source_type,source_name,relation,target_type,target_name`. An import upserts CIs by (type,
//! name); each row is checked on its own, rejected rows are reported with their line number and
//! reason and never block the good ones, which commit together in one transaction with their
//! audit entries and one entry for the import as a whole.

use super::graph::{audit_relationship, check_relation};
use super::{
    attribute_defs, audit_ci, check_ci_name, check_description, check_status, check_values,
    require_manage, require_view, search_text,
};
use crate::app::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use steward_store::cmdb::{self as store, Ci, CiType};
use steward_store::{accounts, WriteCtx};
use utoipa::ToSchema;

/// The largest CSV file taken in.
pub const IMPORT_BYTES: usize = 10 * 1024 * 1024;
const CI_COLUMNS: [&str; 6] = [
    "type",
    "name",
    "status",
    "owner_email",
    "team",
    "description",
];
const REL_COLUMNS: [&str; 5] = [
    "source_type",
    "source_name",
    "relation",
    "target_type",
    "target_name",
];

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct RejectedRow {
    /// The line of the file (the header is line 1).
    pub line: u64,
    /// The column at fault, e.g. `type`, `attributes.ip`.
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, ToSchema)]
pub struct ImportReport {
    pub created: u64,
    pub updated: u64,
    /// Rows that matched what is stored already.
    pub unchanged: u64,
    pub rejected: Vec<RejectedRow>,
}

fn csv_error(e: impl std::fmt::Display) -> AppError {
    AppError::invalid("file", format!("is not a readable CSV file: {e}"))
}

fn writer_text(w: csv::Writer<Vec<u8>>) -> AppResult<String> {
    let bytes = w
        .into_inner()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| AppError::Internal(e.to_string()))
}

fn write_row<I, T>(w: &mut csv::Writer<Vec<u8>>, row: I) -> AppResult<()>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    w.write_record(row)
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// Every CI as CSV, with one `attr.<name>` column per attribute name of any type.
pub async fn export_cis(app: &App, actor: &Actor) -> AppResult<String> {
    require_view(actor)?;
    let mut conn = app.read().await?;
    let types = store::list_types(&mut conn).await?;
    let mut attr_names: Vec<String> = Vec::new();
    for t in &types {
        for d in attribute_defs(t)? {
            if !attr_names.contains(&d.name) {
                attr_names.push(d.name);
            }
        }
    }
    let codes: HashMap<i64, &str> = types.iter().map(|t| (t.id, t.code.as_str())).collect();
    let users: HashMap<i64, String> = accounts::list_users(
        &mut conn,
        &accounts::UserFilter {
            limit: i64::MAX,
            ..Default::default()
        },
    )
    .await?
    .into_iter()
    .map(|u| (u.id, u.email))
    .collect();
    let teams: HashMap<i64, String> = accounts::list_teams(&mut conn)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = CI_COLUMNS.iter().map(|c| c.to_string()).collect();
    header.extend(attr_names.iter().map(|n| format!("attr.{n}")));
    write_row(&mut w, &header)?;
    for c in store::all_cis(&mut conn).await? {
        let values: BTreeMap<String, String> =
            serde_json::from_str(&c.attributes).unwrap_or_default();
        let mut row = vec![
            codes
                .get(&c.type_id)
                .copied()
                .unwrap_or_default()
                .to_string(),
            c.name.clone(),
            c.status.clone(),
            c.owner_id
                .and_then(|u| users.get(&u).cloned())
                .unwrap_or_default(),
            c.team_id
                .and_then(|t| teams.get(&t).cloned())
                .unwrap_or_default(),
            c.description.clone(),
        ];
        row.extend(
            attr_names
                .iter()
                .map(|n| values.get(n).cloned().unwrap_or_default()),
        );
        write_row(&mut w, &row)?;
    }
    writer_text(w)
}

/// Every relationship as CSV, its ends named by type and name.
pub async fn export_relationships(app: &App, actor: &Actor) -> AppResult<String> {
    require_view(actor)?;
    let mut conn = app.read().await?;
    let codes = super::type_codes(&mut conn).await?;
    let cis: HashMap<i64, (String, String)> = store::all_cis(&mut conn)
        .await?
        .into_iter()
        .map(|c| {
            (
                c.id,
                (codes.get(&c.type_id).cloned().unwrap_or_default(), c.name),
            )
        })
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    write_row(&mut w, REL_COLUMNS)?;
    let blank = (String::new(), String::new());
    for r in store::all_relationships(&mut conn).await? {
        let s = cis.get(&r.source_id).unwrap_or(&blank);
        let t = cis.get(&r.target_id).unwrap_or(&blank);
        write_row(&mut w, [&s.0, &s.1, &r.relation, &t.0, &t.1])?;
    }
    writer_text(w)
}

/// One CSV record with its header: a column's value by name.
struct Record<'a> {
    header: &'a [String],
    values: csv::StringRecord,
}

impl Record<'_> {
    fn get(&self, name: &str) -> &str {
        self.header
            .iter()
            .position(|h| h == name)
            .and_then(|i| self.values.get(i))
            .unwrap_or_default()
            .trim()
    }
}

/// A CSV record with its line number in the file.
type NumberedRecord = (u64, csv::StringRecord);

fn read(bytes: &[u8], required: &[&str]) -> AppResult<(Vec<String>, Vec<NumberedRecord>)> {
    if bytes.len() > IMPORT_BYTES {
        return Err(AppError::TooLarge {
            field: "file".into(),
            limit: IMPORT_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|_| AppError::invalid("file", "must be UTF-8 text"))?;
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = r
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    for c in required {
        if !header.iter().any(|h| h == c) {
            return Err(AppError::invalid("file", format!("has no column {c}")));
        }
    }
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(csv_error)?;
        let line = rec.position().map_or(0, |p| p.line());
        rows.push((line, rec));
    }
    Ok((header, rows))
}

/// A CI row made ready to write: its type and every checked field.
struct CiRow {
    type_id: i64,
    type_code: String,
    name: String,
    status: String,
    owner_id: Option<i64>,
    team_id: Option<i64>,
    description: String,
    attributes: String,
}

fn reject(line: u64, e: AppError) -> RejectedRow {
    match e {
        AppError::Invalid { field, message } => RejectedRow {
            line,
            field,
            reason: message,
        },
        other => RejectedRow {
            line,
            field: String::new(),
            reason: other.to_string(),
        },
    }
}

async fn check_ci_row(
    conn: &mut sqlx::AnyConnection,
    types: &HashMap<String, CiType>,
    rec: &Record<'_>,
) -> AppResult<CiRow> {
    let t = types
        .get(rec.get("type"))
        .ok_or_else(|| AppError::invalid("type", "is not a CI type code"))?;
    let defs = attribute_defs(t)?;
    let mut values = Vec::new();
    for (i, h) in rec.header.iter().enumerate() {
        if let Some(name) = h.strip_prefix("attr.") {
            let v = rec.values.get(i).unwrap_or_default().trim();
            // Other types' columns are blank on this row; only a value must belong to the type.
            if defs.iter().any(|d| d.name == name) || !v.is_empty() {
                values.push((name.to_string(), v.to_string()));
            }
        }
    }
    let owner_id = match rec.get("owner_email") {
        "" => None,
        email => Some(
            accounts::user_by_email(conn, &email.to_lowercase())
                .await?
                .ok_or_else(|| AppError::invalid("owner_email", "is not a user"))?
                .id,
        ),
    };
    let team_id = match rec.get("team") {
        "" => None,
        team => Some(
            accounts::team_by_name(conn, team)
                .await?
                .ok_or_else(|| AppError::invalid("team", "is not a team"))?
                .id,
        ),
    };
    let status = match rec.get("status") {
        "" => "in_use".to_string(),
        s => check_status(s)?,
    };
    Ok(CiRow {
        type_id: t.id,
        type_code: t.code.clone(),
        name: check_ci_name(rec.get("name"))?,
        status,
        owner_id,
        team_id,
        description: check_description(rec.get("description"))?,
        attributes: check_values(&defs, &values)?,
    })
}

async fn upsert_ci(
    ctx: &mut WriteCtx,
    actor: &Actor,
    row: CiRow,
    report: &mut ImportReport,
) -> AppResult<()> {
    let at = now();
    let old = store::ci_by_name(&mut ctx.conn, row.type_id, &row.name).await?;
    let mut c = match &old {
        Some(o) => o.clone(),
        None => Ci {
            id: 0,
            name: row.name.clone(),
            type_id: row.type_id,
            status: String::new(),
            owner_id: None,
            team_id: None,
            service_id: None,
            organization_id: None,
            attributes: String::new(),
            description: String::new(),
            version: 1,
            created_at: at,
            updated_at: at,
        },
    };
    c.status = row.status;
    c.owner_id = row.owner_id;
    c.team_id = row.team_id;
    c.description = row.description;
    c.attributes = row.attributes;
    match &old {
        Some(o) if *o == c => {
            report.unchanged += 1;
            return Ok(());
        }
        Some(o) => {
            c.version += 1;
            c.updated_at = at;
            if !store::update_ci(&mut ctx.conn, &c, o.version).await? {
                return Err(AppError::Stale);
            }
            report.updated += 1;
        }
        None => {
            c.id = store::insert_ci(&mut ctx.conn, &c).await?;
            report.created += 1;
        }
    }
    let backend = ctx.backend;
    store::index_ci(
        &mut ctx.conn,
        backend,
        c.id,
        &search_text(&c, &row.type_code),
    )
    .await?;
    audit_ci(
        ctx,
        &AuditTrail::new(actor, "ci", c.id, at),
        old.as_ref(),
        &c,
    )
    .await
}

/// The import's own audit entry: what kind, how many rows went which way.
async fn audit_import(
    ctx: &mut WriteCtx,
    actor: &Actor,
    kind: &str,
    report: &ImportReport,
) -> AppResult<()> {
    let summary = format!(
        "{kind}: created {}, updated {}, unchanged {}, rejected {}",
        report.created,
        report.updated,
        report.unchanged,
        report.rejected.len()
    );
    AuditTrail::new(actor, "ci_import", 0, now())
        .record(ctx, "import", None, None, Some(summary))
        .await
}

pub async fn import_cis(app: &App, actor: &Actor, bytes: &[u8]) -> AppResult<ImportReport> {
    require_manage(actor)?;
    let (header, rows) = read(bytes, &["type", "name"])?;
    let mut report = ImportReport::default();
    let mut good = Vec::new();
    {
        let mut conn = app.read().await?;
        let types: HashMap<String, CiType> = store::list_types(&mut conn)
            .await?
            .into_iter()
            .map(|t| (t.code.clone(), t))
            .collect();
        for (line, values) in rows {
            let rec = Record {
                header: &header,
                values,
            };
            match check_ci_row(&mut conn, &types, &rec).await {
                Ok(row) => good.push(row),
                Err(e @ AppError::Store(_)) => return Err(e),
                Err(e) => report.rejected.push(reject(line, e)),
            }
        }
    }
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                for row in good {
                    upsert_ci(ctx, &actor, row, &mut report).await?;
                }
                audit_import(ctx, &actor, "cis", &report).await?;
                Ok(report)
            })
        })
        .await
}

pub async fn import_relationships(
    app: &App,
    actor: &Actor,
    bytes: &[u8],
) -> AppResult<ImportReport> {
    require_manage(actor)?;
    let (header, rows) = read(bytes, &REL_COLUMNS)?;
    let mut report = ImportReport::default();
    let mut good = Vec::new();
    {
        let mut conn = app.read().await?;
        let types: HashMap<String, i64> = store::list_types(&mut conn)
            .await?
            .into_iter()
            .map(|t| (t.code, t.id))
            .collect();
        for (line, values) in rows {
            let rec = Record {
                header: &header,
                values,
            };
            let mut ends = Vec::new();
            let mut failed = None;
            for end in ["source", "target"] {
                let type_field = format!("{end}_type");
                let name_field = format!("{end}_name");
                let Some(t) = types.get(rec.get(&type_field)) else {
                    failed = Some(AppError::invalid(&type_field, "is not a CI type code"));
                    break;
                };
                match store::ci_by_name(&mut conn, *t, rec.get(&name_field)).await? {
                    Some(c) => ends.push(c.id),
                    None => {
                        failed = Some(AppError::invalid(&name_field, "is not a CI of this type"));
                        break;
                    }
                }
            }
            let checked = match failed {
                Some(e) => Err(e),
                None => check_relation(rec.get("relation")).and_then(|r| {
                    if ends[0] == ends[1] {
                        Err(AppError::invalid(
                            "target_name",
                            "must be another CI than the source",
                        ))
                    } else {
                        Ok((ends[0], r, ends[1]))
                    }
                }),
            };
            match checked {
                Ok(rel) => good.push(rel),
                Err(e) => report.rejected.push(reject(line, e)),
            }
        }
    }
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let at = now();
                for (source, relation, target) in good {
                    match store::insert_relationship(
                        &mut ctx.conn,
                        source,
                        target,
                        relation.as_str(),
                        at,
                    )
                    .await?
                    {
                        Some(id) => {
                            report.created += 1;
                            audit_relationship(
                                ctx,
                                |entity, entity_id| AuditTrail::new(&actor, entity, entity_id, at),
                                id,
                                true,
                                (source, relation.as_str(), target),
                            )
                            .await?;
                        }
                        None => report.unchanged += 1,
                    }
                }
                audit_import(ctx, &actor, "relationships", &report).await?;
                Ok(report)
            })
        })
        .await
}
