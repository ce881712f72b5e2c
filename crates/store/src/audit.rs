//! The append-only, hash-chained audit log. Each entry's hash covers its content and the
//! previous entry's hash, so a changed, removed or reordered row breaks the chain from there on.

use crate::writer::WriteCtx;
use crate::{Backend, Result};
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

/// One change to record. `field`/`old`/`new` are set for field changes; `action` names the
/// operation (create, update, comment, attach, login, ...).
#[derive(Debug, Clone, Default)]
pub struct NewEntry<'a> {
    pub at: i64,
    pub actor_id: Option<i64>,
    pub channel: &'a str,
    pub entity: &'a str,
    pub entity_id: i64,
    pub action: &'a str,
    pub field: Option<&'a str>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    pub seq: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub channel: String,
    pub entity: String,
    pub entity_id: i64,
    pub action: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// SHA-256 over the previous hash and a JSON array of the content: JSON gives every field an
/// unambiguous boundary, so no two different entries serialise alike.
#[allow(clippy::too_many_arguments)]
fn entry_hash(
    seq: i64,
    at: i64,
    actor_id: Option<i64>,
    channel: &str,
    entity: &str,
    entity_id: i64,
    action: &str,
    field: Option<&str>,
    old_value: Option<&str>,
    new_value: Option<&str>,
    prev_hash: &str,
) -> String {
    let content = serde_json::json!([
        seq, at, actor_id, channel, entity, entity_id, action, field, old_value, new_value
    ]);
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(content.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Loads the chain head at the first audit entry of a batch. On PostgreSQL the row is locked
/// until commit, so app nodes sharing the database extend the chain one batch at a time.
pub(crate) async fn load_head(ctx: &mut WriteCtx) -> Result<ChainHead> {
    let sql = match ctx.backend {
        Backend::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
        Backend::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
    };
    let row = sqlx::query(sql).fetch_one(&mut ctx.conn).await?;
    Ok(ChainHead {
        seq: row.try_get(0)?,
        hash: row.try_get(1)?,
    })
}

pub(crate) async fn save_head(ctx: &mut WriteCtx) -> std::result::Result<(), sqlx::Error> {
    if let Some(head) = ctx.chain.clone() {
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(head.seq)
            .bind(head.hash)
            .execute(&mut ctx.conn)
            .await?;
    }
    Ok(())
}

/// Appends one entry to the chain inside the current change.
pub async fn append(ctx: &mut WriteCtx, e: NewEntry<'_>) -> Result<()> {
    if ctx.chain.is_none() {
        ctx.chain = Some(load_head(ctx).await?);
    }
    let head = ctx.chain_mut().expect("loaded above");
    let seq = head.seq + 1;
    let hash = entry_hash(
        seq,
        e.at,
        e.actor_id,
        e.channel,
        e.entity,
        e.entity_id,
        e.action,
        e.field,
        e.old_value.as_deref(),
        e.new_value.as_deref(),
        &head.hash,
    );
    let prev = std::mem::replace(&mut head.hash, hash.clone());
    head.seq = seq;
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor_id, channel, entity, entity_id, action, field, \
         old_value, new_value, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
    )
    .bind(seq)
    .bind(e.at)
    .bind(e.actor_id)
    .bind(e.channel)
    .bind(e.entity)
    .bind(e.entity_id)
    .bind(e.action)
    .bind(e.field)
    .bind(e.old_value)
    .bind(e.new_value)
    .bind(prev)
    .bind(hash)
    .execute(&mut ctx.conn)
    .await?;
    Ok(())
}

/// Appends many entries in order, in few statements (the escalation sweep writes thousands).
pub async fn append_many(ctx: &mut WriteCtx, entries: &[NewEntry<'_>]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    if ctx.chain.is_none() {
        ctx.chain = Some(load_head(ctx).await?);
    }
    let head = ctx.chain_mut().expect("loaded above");
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        let seq = head.seq + 1;
        let hash = entry_hash(
            seq,
            e.at,
            e.actor_id,
            e.channel,
            e.entity,
            e.entity_id,
            e.action,
            e.field,
            e.old_value.as_deref(),
            e.new_value.as_deref(),
            &head.hash,
        );
        let prev = std::mem::replace(&mut head.hash, hash.clone());
        head.seq = seq;
        rows.push((seq, e, prev, hash));
    }
    // 12 parameters a row.
    for chunk in rows.chunks(200) {
        let mut sql = crate::sql::Sql::new(
            "INSERT INTO audit_log (seq, at, actor_id, channel, entity, entity_id, action, field, \
             old_value, new_value, prev_hash, hash) VALUES ",
        );
        for (i, (seq, e, prev, hash)) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(*seq)
                .push(", ")
                .bind(e.at)
                .push(", ");
            match e.actor_id {
                Some(a) => sql.bind(a),
                None => sql.push("NULL"),
            };
            sql.push(", ")
                .bind(e.channel)
                .push(", ")
                .bind(e.entity)
                .push(", ")
                .bind(e.entity_id)
                .push(", ")
                .bind(e.action)
                .push(", ");
            for v in [
                e.field.map(str::to_string),
                e.old_value.clone(),
                e.new_value.clone(),
            ] {
                match v {
                    Some(v) => sql.bind(v),
                    None => sql.push("NULL"),
                };
                sql.push(", ");
            }
            sql.bind(prev.as_str())
                .push(", ")
                .bind(hash.as_str())
                .push(")");
        }
        sql.query().execute(&mut ctx.conn).await?;
    }
    Ok(())
}

const ENTRY_COLUMNS: &str = "seq, at, actor_id, channel, entity, entity_id, action, field, \
     old_value, new_value, prev_hash, hash";

fn entry_from_row(row: &sqlx::any::AnyRow) -> std::result::Result<Entry, sqlx::Error> {
    Ok(Entry {
        seq: row.try_get(0)?,
        at: row.try_get(1)?,
        actor_id: row.try_get(2)?,
        channel: row.try_get(3)?,
        entity: row.try_get(4)?,
        entity_id: row.try_get(5)?,
        action: row.try_get(6)?,
        field: row.try_get(7)?,
        old_value: row.try_get(8)?,
        new_value: row.try_get(9)?,
        prev_hash: row.try_get(10)?,
        hash: row.try_get(11)?,
    })
}

pub async fn entries_for(
    conn: &mut AnyConnection,
    entity: &str,
    entity_id: i64,
) -> Result<Vec<Entry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM audit_log WHERE entity = $1 AND entity_id = $2 ORDER BY seq"
    );
    let rows = sqlx::query(&sql)
        .bind(entity)
        .bind(entity_id)
        .fetch_all(conn)
        .await?;
    Ok(rows
        .iter()
        .map(entry_from_row)
        .collect::<std::result::Result<_, _>>()?)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Intact {
        entries: u64,
    },
    Broken {
        entries_checked: u64,
        seq: i64,
        reason: String,
    },
}

/// Recomputes the whole chain in order, up to the end recorded when the check began (so
/// entries committed meanwhile do not count as damage). `progress` is called with the number
/// checked so far.
pub async fn verify(
    conn: &mut AnyConnection,
    mut progress: impl FnMut(u64),
) -> Result<Verification> {
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let (head_seq, head_hash): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM audit_log WHERE seq <= $1 ORDER BY seq");
    let mut checked = 0u64;
    let mut prev_hash = String::new();
    let mut expected_seq = 1i64;
    let broken = |checked, seq, reason: &str| Verification::Broken {
        entries_checked: checked,
        seq,
        reason: reason.to_string(),
    };
    {
        let mut rows = sqlx::query(&sql).bind(head_seq).fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            let e = entry_from_row(&row)?;
            if e.seq != expected_seq {
                return Ok(broken(
                    checked,
                    expected_seq,
                    "entry missing from the sequence",
                ));
            }
            if e.prev_hash != prev_hash {
                return Ok(broken(checked, e.seq, "previous-hash link does not match"));
            }
            let recomputed = entry_hash(
                e.seq,
                e.at,
                e.actor_id,
                &e.channel,
                &e.entity,
                e.entity_id,
                &e.action,
                e.field.as_deref(),
                e.old_value.as_deref(),
                e.new_value.as_deref(),
                &e.prev_hash,
            );
            if recomputed != e.hash {
                return Ok(broken(checked, e.seq, "content does not match its hash"));
            }
            prev_hash = e.hash;
            expected_seq += 1;
            checked += 1;
            if checked.is_multiple_of(10_000) {
                progress(checked);
            }
        }
    }
    if head_seq != expected_seq - 1 || head_hash != prev_hash {
        return Ok(broken(
            checked,
            expected_seq,
            "the chain was truncated: its recorded end is missing",
        ));
    }
    progress(checked);
    Ok(Verification::Intact { entries: checked })
}
