//! The job queue: work that happens later or elsewhere (SLA sweeps, notifications). A job is
//! claimed with a lease; the node that holds the lease does the work and marks the job done in
//! the same transaction as the work's effects, so an effect commits exactly when its job does.
//! A node that dies leaves its lease to expire and another node claims the job again.

use crate::sql::Sql;
use crate::{Backend, Result, WriteCtx};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

pub const QUEUED: &str = "queued";
pub const DONE: &str = "done";
/// Out of attempts; kept with its last error for an admin to see.
pub const DEAD: &str = "dead";

#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payload: String,
    /// At most one job with this key exists; enqueueing a second does nothing.
    pub dedupe_key: Option<String>,
    pub run_at: i64,
    pub max_attempts: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub dedupe_key: Option<String>,
    pub status: String,
    pub run_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, kind, payload, dedupe_key, status, run_at, attempts, max_attempts, \
    lease_owner, lease_until, last_error, created_at, finished_at";

fn job(row: &AnyRow) -> sqlx::Result<Job> {
    Ok(Job {
        id: row.try_get(0)?,
        kind: row.try_get(1)?,
        payload: row.try_get(2)?,
        dedupe_key: row.try_get(3)?,
        status: row.try_get(4)?,
        run_at: row.try_get(5)?,
        attempts: row.try_get(6)?,
        max_attempts: row.try_get(7)?,
        lease_owner: row.try_get(8)?,
        lease_until: row.try_get(9)?,
        last_error: row.try_get(10)?,
        created_at: row.try_get(11)?,
        finished_at: row.try_get(12)?,
    })
}

/// Queues a job; returns its id, or None when a job with the same dedupe key exists.
pub async fn enqueue(conn: &mut AnyConnection, job: &NewJob<'_>, now: i64) -> Result<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO jobs (kind, payload, dedupe_key, status, run_at, attempts, max_attempts, created_at) \
         VALUES ($1, $2, $3, 'queued', $4, 0, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(job.kind)
    .bind(&job.payload)
    .bind(&job.dedupe_key)
    .bind(job.run_at)
    .bind(job.max_attempts)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Leases up to `limit` due jobs to `owner` until `lease_until`. On PostgreSQL, rows another
/// node is claiming at this moment are skipped rather than waited for.
pub async fn claim(
    ctx: &mut WriteCtx,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Job>> {
    let lock = match ctx.backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' AND run_at <= $3 \
         AND (lease_until IS NULL OR lease_until < $3) ORDER BY run_at, id LIMIT $4{lock}) \
         RETURNING {COLUMNS}"
    );
    let rows = sqlx::query(&sql)
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut ctx.conn)
        .await?;
    let mut jobs = rows.iter().map(job).collect::<sqlx::Result<Vec<_>>>()?;
    jobs.sort_by_key(|j| (j.run_at, j.id));
    Ok(jobs)
}

/// Marks a leased job done. False when `owner` no longer holds the lease (it expired and
/// another node took the job): the caller must then roll back the job's effects.
pub async fn complete(conn: &mut AnyConnection, id: i64, owner: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE jobs SET status = 'done', finished_at = $3, lease_owner = NULL, lease_until = NULL \
         WHERE id = $1 AND lease_owner = $2 AND status = 'queued'",
    )
    .bind(id)
    .bind(owner)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Puts a recurring job back in the queue for its next run, keeping the row (and its dedupe
/// key). False when the lease was lost.
pub async fn reschedule(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    next_run_at: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE jobs SET run_at = $3, attempts = 0, lease_owner = NULL, lease_until = NULL, last_error = NULL \
         WHERE id = $1 AND lease_owner = $2 AND status = 'queued'",
    )
    .bind(id)
    .bind(owner)
    .bind(next_run_at)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Records a failed attempt: retried at `retry_at`, or dead once out of attempts.
pub async fn fail(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    now: i64,
    error: &str,
    retry_at: i64,
) -> Result<()> {
    let error: String = error.chars().take(2000).collect();
    sqlx::query(
        "UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
         finished_at = CASE WHEN attempts >= max_attempts THEN $3 ELSE NULL END, \
         run_at = $4, last_error = $5, lease_owner = NULL, lease_until = NULL \
         WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .bind(now)
    .bind(retry_at)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Jobs for the admin page, newest first; `status` filters.
pub async fn list(conn: &mut AnyConnection, status: Option<&str>, limit: i64) -> Result<Vec<Job>> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM jobs WHERE 1 = 1"));
    if let Some(s) = status {
        sql.push(" AND status = ").bind(s);
    }
    sql.push(" ORDER BY id DESC LIMIT ").bind(limit);
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(job).collect::<sqlx::Result<_>>()?)
}

/// How many jobs are in each status.
pub async fn counts(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Finished jobs older than `before` are removed; dead ones stay until an admin looks.
pub async fn sweep_done(conn: &mut AnyConnection, before: i64) -> Result<u64> {
    let r = sqlx::query("DELETE FROM jobs WHERE status = 'done' AND finished_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(r.rows_affected())
}
