//! Outbound mail: the outbox rows the `mail.send` job delivers, each user's notification
//! choices, and admins' wording of the mail templates.

use crate::sql::Sql;
use crate::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

pub const QUEUED: &str = "queued";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

#[derive(Debug, Clone, PartialEq)]
pub struct OutboundMail {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub recipient_id: Option<i64>,
    pub to_address: String,
    pub event: String,
    pub locale: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    /// The References header, ids separated by spaces.
    pub thread_refs: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    /// The recipient's display name, joined in on reads (None for a rejection reply).
    pub recipient_name: Option<String>,
    /// The ticket's number, joined in on reads.
    pub ticket_number: Option<String>,
}

const COLUMNS: &str = "SELECT m.id, m.ticket_id, m.recipient_id, m.to_address, m.event, m.locale, \
    m.subject, m.body_text, m.body_html, m.message_id, m.in_reply_to, m.thread_refs, m.status, \
    m.attempts, m.last_error, m.created_at, m.sent_at, u.name, t.number \
    FROM outbound_mail m LEFT JOIN users u ON u.id = m.recipient_id \
    LEFT JOIN tickets t ON t.id = m.ticket_id";

fn mail(row: &AnyRow) -> sqlx::Result<OutboundMail> {
    Ok(OutboundMail {
        id: row.try_get(0)?,
        ticket_id: row.try_get(1)?,
        recipient_id: row.try_get(2)?,
        to_address: row.try_get(3)?,
        event: row.try_get(4)?,
        locale: row.try_get(5)?,
        subject: row.try_get(6)?,
        body_text: row.try_get(7)?,
        body_html: row.try_get(8)?,
        message_id: row.try_get(9)?,
        in_reply_to: row.try_get(10)?,
        thread_refs: row.try_get(11)?,
        status: row.try_get(12)?,
        attempts: row.try_get(13)?,
        last_error: row.try_get(14)?,
        created_at: row.try_get(15)?,
        sent_at: row.try_get(16)?,
        recipient_name: row.try_get(17)?,
        ticket_number: row.try_get(18)?,
    })
}

/// Records a mail unless one with the same Message-ID exists (a retried dispatch); returns the
/// new row's id, or None when it was there already.
pub async fn insert_if_absent(conn: &mut AnyConnection, m: &OutboundMail) -> Result<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO outbound_mail (ticket_id, recipient_id, to_address, event, locale, subject, \
         body_text, body_html, message_id, in_reply_to, thread_refs, status, attempts, last_error, \
         created_at, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (message_id) DO NOTHING RETURNING id",
    )
    .bind(m.ticket_id)
    .bind(m.recipient_id)
    .bind(&m.to_address)
    .bind(&m.event)
    .bind(&m.locale)
    .bind(&m.subject)
    .bind(&m.body_text)
    .bind(&m.body_html)
    .bind(&m.message_id)
    .bind(&m.in_reply_to)
    .bind(&m.thread_refs)
    .bind(&m.status)
    .bind(m.attempts)
    .bind(&m.last_error)
    .bind(m.created_at)
    .bind(m.sent_at)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<OutboundMail>> {
    let sql = format!("{COLUMNS} WHERE m.id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(mail).transpose()?)
}

pub async fn mark_sent(conn: &mut AnyConnection, id: i64, attempts: i64, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE outbound_mail SET status = 'sent', attempts = $2, last_error = NULL, sent_at = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(attempts)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed attempt; `status` stays queued while the job will retry, failed after.
pub async fn record_failure(
    conn: &mut AnyConnection,
    id: i64,
    attempts: i64,
    status: &str,
    error: &str,
) -> Result<()> {
    let error: String = error.chars().take(2000).collect();
    sqlx::query(
        "UPDATE outbound_mail SET status = $2, attempts = $3, last_error = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(attempts)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Puts a failed mail back in the queue; false when it is not failed.
pub async fn requeue(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE outbound_mail SET status = 'queued', attempts = 0 WHERE id = $1 AND status = 'failed'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The outbox, newest first: optionally one status, and only rows older than `before` (a
/// cursor).
pub async fn list(
    conn: &mut AnyConnection,
    status: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<OutboundMail>> {
    let mut sql = Sql::new(&format!("{COLUMNS} WHERE 1 = 1"));
    if let Some(s) = status {
        sql.push(" AND m.status = ").bind(s);
    }
    if let Some(b) = before {
        sql.push(" AND m.id < ").bind(b);
    }
    sql.push(" ORDER BY m.id DESC LIMIT ").bind(limit);
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(mail).collect::<sqlx::Result<_>>()?)
}

/// Every mail about one ticket, oldest first.
pub async fn of_ticket(conn: &mut AnyConnection, ticket_id: i64) -> Result<Vec<OutboundMail>> {
    let sql = format!("{COLUMNS} WHERE m.ticket_id = $1 ORDER BY m.id");
    let rows = sqlx::query(&sql).bind(ticket_id).fetch_all(conn).await?;
    Ok(rows.iter().map(mail).collect::<sqlx::Result<_>>()?)
}

/// Steward's own inbound addresses, lower-cased: mail to them would loop back in.
pub async fn own_addresses(conn: &mut AnyConnection) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT address FROM mailboxes")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>(0)?.to_lowercase()))
        .collect()
}

/// The Message-ID of the mail a ticket was opened from, if it came by email.
pub async fn originating_message_id(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT message_id FROM inbound_messages WHERE ticket_id = $1 \
         AND outcome = 'ticket_created' ORDER BY id LIMIT 1",
    )
    .bind(ticket_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

// --- notification preferences ---

/// The events a user turned on or off by email; events without a row keep their default.
pub async fn preferences(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<(String, bool)>> {
    let rows = sqlx::query(
        "SELECT event, email FROM notification_preferences WHERE user_id = $1 ORDER BY event",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? != 0)))
        .collect()
}

pub async fn set_preference(
    conn: &mut AnyConnection,
    user_id: i64,
    event: &str,
    email: bool,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notification_preferences (user_id, event, email) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, event) DO UPDATE SET email = excluded.email",
    )
    .bind(user_id)
    .bind(event)
    .bind(email as i64)
    .execute(conn)
    .await?;
    Ok(())
}

// --- mail templates ---

#[derive(Debug, Clone, PartialEq)]
pub struct MailTemplate {
    pub event: String,
    pub locale: String,
    pub subject: String,
    pub body: String,
    pub version: i64,
    pub updated_at: i64,
}

fn template(row: &AnyRow) -> sqlx::Result<MailTemplate> {
    Ok(MailTemplate {
        event: row.try_get(0)?,
        locale: row.try_get(1)?,
        subject: row.try_get(2)?,
        body: row.try_get(3)?,
        version: row.try_get(4)?,
        updated_at: row.try_get(5)?,
    })
}

const TEMPLATE_COLUMNS: &str =
    "SELECT event, locale, subject, body, version, updated_at FROM mail_templates";

pub async fn templates(conn: &mut AnyConnection) -> Result<Vec<MailTemplate>> {
    let sql = format!("{TEMPLATE_COLUMNS} ORDER BY event, locale");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    Ok(rows.iter().map(template).collect::<sqlx::Result<_>>()?)
}

pub async fn get_template(
    conn: &mut AnyConnection,
    event: &str,
    locale: &str,
) -> Result<Option<MailTemplate>> {
    let sql = format!("{TEMPLATE_COLUMNS} WHERE event = $1 AND locale = $2");
    let row = sqlx::query(&sql)
        .bind(event)
        .bind(locale)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(template).transpose()?)
}

pub async fn put_template(conn: &mut AnyConnection, t: &MailTemplate) -> Result<()> {
    sqlx::query(
        "INSERT INTO mail_templates (event, locale, subject, body, version, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event, locale) DO UPDATE SET \
         subject = excluded.subject, body = excluded.body, version = excluded.version, \
         updated_at = excluded.updated_at",
    )
    .bind(&t.event)
    .bind(&t.locale)
    .bind(&t.subject)
    .bind(&t.body)
    .bind(t.version)
    .bind(t.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes an admin's wording; false when there was none.
pub async fn delete_template(conn: &mut AnyConnection, event: &str, locale: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM mail_templates WHERE event = $1 AND locale = $2")
        .bind(event)
        .bind(locale)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}
