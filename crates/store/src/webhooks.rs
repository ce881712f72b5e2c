//! Webhooks, chat bots and their deliveries. A delivery is one event handed to one target; it
//! is unique per (target, event), so a retried dispatch records nothing twice.

use crate::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// What a delivery goes to: `webhook` or `bot`.
pub const TARGET_WEBHOOK: &str = "webhook";
pub const TARGET_BOT: &str = "bot";

#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: i64,
    pub name: String,
    pub url: String,
    /// The HMAC key; it signs, so it is stored as given.
    pub secret: String,
    /// A JSON array of event types.
    pub events: String,
    pub allow_private: bool,
    pub active: bool,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const WEBHOOK_COLUMNS: &str =
    "id, name, url, secret, events, allow_private, active, version, created_at, updated_at";

fn webhook(row: &AnyRow) -> sqlx::Result<Webhook> {
    Ok(Webhook {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        url: row.try_get(2)?,
        secret: row.try_get(3)?,
        events: row.try_get(4)?,
        allow_private: row.try_get::<i64, _>(5)? != 0,
        active: row.try_get::<i64, _>(6)? != 0,
        version: row.try_get(7)?,
        created_at: row.try_get(8)?,
        updated_at: row.try_get(9)?,
    })
}

pub async fn insert_webhook(conn: &mut AnyConnection, w: &Webhook) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO webhooks (name, url, secret, events, allow_private, active, version, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(&w.name)
    .bind(&w.url)
    .bind(&w.secret)
    .bind(&w.events)
    .bind(w.allow_private as i64)
    .bind(w.active as i64)
    .bind(w.version)
    .bind(w.created_at)
    .bind(w.updated_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// Writes the webhook if it is still at `expected_version`; false when it changed meanwhile.
pub async fn update_webhook(
    conn: &mut AnyConnection,
    w: &Webhook,
    expected_version: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE webhooks SET name = $2, url = $3, secret = $4, events = $5, allow_private = $6, \
         active = $7, version = $8, updated_at = $9 WHERE id = $1 AND version = $10",
    )
    .bind(w.id)
    .bind(&w.name)
    .bind(&w.url)
    .bind(&w.secret)
    .bind(&w.events)
    .bind(w.allow_private as i64)
    .bind(w.active as i64)
    .bind(w.version)
    .bind(w.updated_at)
    .bind(expected_version)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn get_webhook(conn: &mut AnyConnection, id: i64) -> Result<Option<Webhook>> {
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(webhook).transpose()?)
}

/// Every webhook, or only the active ones.
pub async fn list_webhooks(conn: &mut AnyConnection, active_only: bool) -> Result<Vec<Webhook>> {
    let filter = if active_only { " WHERE active = 1" } else { "" };
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks{filter} ORDER BY id");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    Ok(rows.iter().map(webhook).collect::<sqlx::Result<_>>()?)
}

#[derive(Debug, Clone)]
pub struct ChatBot {
    pub id: i64,
    pub name: String,
    /// wecom, dingtalk or feishu
    pub platform: String,
    pub url: String,
    /// The signing secret (DingTalk, Feishu); None when the robot is not set to sign.
    pub secret: Option<String>,
    /// None: every team's tickets.
    pub team_id: Option<i64>,
    /// A JSON array of event types.
    pub events: String,
    /// zh-CN or en
    pub locale: String,
    pub allow_private: bool,
    pub active: bool,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const BOT_COLUMNS: &str = "id, name, platform, url, secret, team_id, events, locale, \
    allow_private, active, version, created_at, updated_at";

fn bot(row: &AnyRow) -> sqlx::Result<ChatBot> {
    Ok(ChatBot {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        platform: row.try_get(2)?,
        url: row.try_get(3)?,
        secret: row.try_get(4)?,
        team_id: row.try_get(5)?,
        events: row.try_get(6)?,
        locale: row.try_get(7)?,
        allow_private: row.try_get::<i64, _>(8)? != 0,
        active: row.try_get::<i64, _>(9)? != 0,
        version: row.try_get(10)?,
        created_at: row.try_get(11)?,
        updated_at: row.try_get(12)?,
    })
}

pub async fn insert_bot(conn: &mut AnyConnection, b: &ChatBot) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO chat_bots (name, platform, url, secret, team_id, events, locale, \
         allow_private, active, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(&b.name)
    .bind(&b.platform)
    .bind(&b.url)
    .bind(&b.secret)
    .bind(b.team_id)
    .bind(&b.events)
    .bind(&b.locale)
    .bind(b.allow_private as i64)
    .bind(b.active as i64)
    .bind(b.version)
    .bind(b.created_at)
    .bind(b.updated_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// Writes the bot if it is still at `expected_version`; false when it changed meanwhile.
pub async fn update_bot(
    conn: &mut AnyConnection,
    b: &ChatBot,
    expected_version: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE chat_bots SET name = $2, platform = $3, url = $4, secret = $5, team_id = $6, \
         events = $7, locale = $8, allow_private = $9, active = $10, version = $11, \
         updated_at = $12 WHERE id = $1 AND version = $13",
    )
    .bind(b.id)
    .bind(&b.name)
    .bind(&b.platform)
    .bind(&b.url)
    .bind(&b.secret)
    .bind(b.team_id)
    .bind(&b.events)
    .bind(&b.locale)
    .bind(b.allow_private as i64)
    .bind(b.active as i64)
    .bind(b.version)
    .bind(b.updated_at)
    .bind(expected_version)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn get_bot(conn: &mut AnyConnection, id: i64) -> Result<Option<ChatBot>> {
    let sql = format!("SELECT {BOT_COLUMNS} FROM chat_bots WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(bot).transpose()?)
}

/// Every bot, or only the active ones.
pub async fn list_bots(conn: &mut AnyConnection, active_only: bool) -> Result<Vec<ChatBot>> {
    let filter = if active_only { " WHERE active = 1" } else { "" };
    let sql = format!("SELECT {BOT_COLUMNS} FROM chat_bots{filter} ORDER BY id");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    Ok(rows.iter().map(bot).collect::<sqlx::Result<_>>()?)
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub target_kind: String,
    pub target_id: i64,
    pub event_id: String,
    pub event: String,
    /// The JSON payload as it was when the event happened.
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub response_status: Option<i64>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub last_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "id, target_kind, target_id, event_id, event, payload, status, \
    attempts, response_status, response_body, error, created_at, last_attempt_at, delivered_at";

fn delivery(row: &AnyRow) -> sqlx::Result<Delivery> {
    Ok(Delivery {
        id: row.try_get(0)?,
        target_kind: row.try_get(1)?,
        target_id: row.try_get(2)?,
        event_id: row.try_get(3)?,
        event: row.try_get(4)?,
        payload: row.try_get(5)?,
        status: row.try_get(6)?,
        attempts: row.try_get(7)?,
        response_status: row.try_get(8)?,
        response_body: row.try_get(9)?,
        error: row.try_get(10)?,
        created_at: row.try_get(11)?,
        last_attempt_at: row.try_get(12)?,
        delivered_at: row.try_get(13)?,
    })
}

/// A new pending delivery; None when this target already has one for this event.
pub async fn insert_delivery(
    conn: &mut AnyConnection,
    target_kind: &str,
    target_id: i64,
    event_id: &str,
    event: &str,
    payload: &str,
    now: i64,
) -> Result<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO deliveries (target_kind, target_id, event_id, event, payload, status, \
         attempts, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6) \
         ON CONFLICT (target_kind, target_id, event_id) DO NOTHING RETURNING id",
    )
    .bind(target_kind)
    .bind(target_id)
    .bind(event_id)
    .bind(event)
    .bind(payload)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub async fn get_delivery(conn: &mut AnyConnection, id: i64) -> Result<Option<Delivery>> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(delivery).transpose()?)
}

/// A target's deliveries, newest first.
pub async fn list_deliveries(
    conn: &mut AnyConnection,
    target_kind: &str,
    target_id: i64,
    limit: i64,
) -> Result<Vec<Delivery>> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE target_kind = $1 AND target_id = $2 \
         ORDER BY id DESC LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(target_kind)
        .bind(target_id)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(delivery).collect::<sqlx::Result<_>>()?)
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    /// delivered, pending (to be retried) or failed (no more tries)
    pub status: &'a str,
    pub response_status: Option<i64>,
    pub response_body: Option<&'a str>,
    pub error: Option<&'a str>,
    pub at: i64,
}

/// Records an attempt: one row in the attempt log, and the delivery's summary (status, count,
/// last answer), in the caller's transaction.
pub async fn record_attempt(conn: &mut AnyConnection, id: i64, a: &Attempt<'_>) -> Result<()> {
    let row = sqlx::query(
        "UPDATE deliveries SET status = $2, attempts = attempts + 1, response_status = $3, \
         response_body = $4, error = $5, last_attempt_at = $6, \
         delivered_at = CASE WHEN $2 = 'delivered' THEN $6 ELSE delivered_at END WHERE id = $1 \
         RETURNING attempts",
    )
    .bind(id)
    .bind(a.status)
    .bind(a.response_status)
    .bind(a.response_body)
    .bind(a.error)
    .bind(a.at)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(());
    };
    let attempt: i64 = row.try_get(0)?;
    sqlx::query(
        "INSERT INTO delivery_attempts (delivery_id, attempt, at, response_status, \
         response_body, error) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(attempt)
    .bind(a.at)
    .bind(a.response_status)
    .bind(a.response_body)
    .bind(a.error)
    .execute(conn)
    .await?;
    Ok(())
}

/// One logged attempt of a delivery.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: i64,
    /// 1 for the first attempt, counting re-sends.
    pub attempt: i64,
    pub at: i64,
    pub response_status: Option<i64>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

fn attempt_record(row: &AnyRow) -> sqlx::Result<AttemptRecord> {
    Ok(AttemptRecord {
        delivery_id: row.try_get(0)?,
        attempt: row.try_get(1)?,
        at: row.try_get(2)?,
        response_status: row.try_get(3)?,
        response_body: row.try_get(4)?,
        error: row.try_get(5)?,
    })
}

/// A delivery's attempts, first to last.
pub async fn list_attempts(
    conn: &mut AnyConnection,
    delivery_id: i64,
) -> Result<Vec<AttemptRecord>> {
    let rows = sqlx::query(
        "SELECT delivery_id, attempt, at, response_status, response_body, error \
         FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id",
    )
    .bind(delivery_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(attempt_record)
        .collect::<sqlx::Result<_>>()?)
}

/// The attempts of a target's deliveries from `from_delivery_id` on (the oldest one of a log
/// page), in one query; by delivery, first to last.
pub async fn list_target_attempts(
    conn: &mut AnyConnection,
    target_kind: &str,
    target_id: i64,
    from_delivery_id: i64,
) -> Result<Vec<AttemptRecord>> {
    let rows = sqlx::query(
        "SELECT a.delivery_id, a.attempt, a.at, a.response_status, a.response_body, a.error \
         FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id \
         WHERE d.target_kind = $1 AND d.target_id = $2 AND d.id >= $3 \
         ORDER BY a.delivery_id, a.id",
    )
    .bind(target_kind)
    .bind(target_id)
    .bind(from_delivery_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(attempt_record)
        .collect::<sqlx::Result<_>>()?)
}

/// Whether a job of `kind` with exactly this payload is still queued (waiting, or running
/// under a lease: a claimed job stays `queued` until it is finished).
pub async fn job_queued(conn: &mut AnyConnection, kind: &str, payload: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 FROM jobs WHERE kind = $1 AND payload = $2 AND status = 'queued' LIMIT 1",
    )
    .bind(kind)
    .bind(payload)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Puts a delivery back to pending for a re-send.
pub async fn reopen(conn: &mut AnyConnection, id: i64) -> Result<()> {
    sqlx::query("UPDATE deliveries SET status = 'pending', delivered_at = NULL WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
