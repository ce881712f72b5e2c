//! Mailboxes and received messages.

use crate::sql::Sql;
use crate::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, Default)]
pub struct Mailbox {
    pub id: i64,
    /// Lower-cased.
    pub address: String,
    pub name: String,
    pub team_id: Option<i64>,
    pub service_id: Option<i64>,
    pub create_requesters: bool,
    /// reject or quarantine
    pub unknown_sender: String,
    pub imap_host: Option<String>,
    pub imap_port: Option<i64>,
    pub imap_security: Option<String>,
    pub imap_username: Option<String>,
    pub imap_password: Option<String>,
    pub imap_folder: Option<String>,
    pub imap_after: Option<String>,
    pub imap_done_folder: Option<String>,
    pub imap_last_polled_at: Option<i64>,
    pub imap_last_error: Option<String>,
    pub active: bool,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const MAILBOX_COLUMNS: &str = "id, address, name, team_id, service_id, create_requesters, \
    unknown_sender, imap_host, imap_port, imap_security, imap_username, imap_password, \
    imap_folder, imap_after, imap_done_folder, imap_last_polled_at, imap_last_error, active, \
    version, created_at, updated_at";

fn mailbox(row: &AnyRow) -> sqlx::Result<Mailbox> {
    Ok(Mailbox {
        id: row.try_get(0)?,
        address: row.try_get(1)?,
        name: row.try_get(2)?,
        team_id: row.try_get(3)?,
        service_id: row.try_get(4)?,
        create_requesters: row.try_get::<i64, _>(5)? != 0,
        unknown_sender: row.try_get(6)?,
        imap_host: row.try_get(7)?,
        imap_port: row.try_get(8)?,
        imap_security: row.try_get(9)?,
        imap_username: row.try_get(10)?,
        imap_password: row.try_get(11)?,
        imap_folder: row.try_get(12)?,
        imap_after: row.try_get(13)?,
        imap_done_folder: row.try_get(14)?,
        imap_last_polled_at: row.try_get(15)?,
        imap_last_error: row.try_get(16)?,
        active: row.try_get::<i64, _>(17)? != 0,
        version: row.try_get(18)?,
        created_at: row.try_get(19)?,
        updated_at: row.try_get(20)?,
    })
}

pub async fn insert_mailbox(conn: &mut AnyConnection, m: &Mailbox) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO mailboxes (address, name, team_id, service_id, create_requesters, \
         unknown_sender, imap_host, imap_port, imap_security, imap_username, imap_password, \
         imap_folder, imap_after, imap_done_folder, active, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         RETURNING id",
    )
    .bind(&m.address)
    .bind(&m.name)
    .bind(m.team_id)
    .bind(m.service_id)
    .bind(m.create_requesters as i64)
    .bind(&m.unknown_sender)
    .bind(&m.imap_host)
    .bind(m.imap_port)
    .bind(&m.imap_security)
    .bind(&m.imap_username)
    .bind(&m.imap_password)
    .bind(&m.imap_folder)
    .bind(&m.imap_after)
    .bind(&m.imap_done_folder)
    .bind(m.active as i64)
    .bind(m.version)
    .bind(m.created_at)
    .bind(m.updated_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// Writes the mailbox's settings if it is still at `expected_version`; false when it changed
/// meanwhile. The poller's own columns (last poll, last error) are left alone.
pub async fn update_mailbox(
    conn: &mut AnyConnection,
    m: &Mailbox,
    expected_version: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE mailboxes SET address = $2, name = $3, team_id = $4, service_id = $5, \
         create_requesters = $6, unknown_sender = $7, imap_host = $8, imap_port = $9, \
         imap_security = $10, imap_username = $11, imap_password = $12, imap_folder = $13, \
         imap_after = $14, imap_done_folder = $15, active = $16, version = $17, updated_at = $18 \
         WHERE id = $1 AND version = $19",
    )
    .bind(m.id)
    .bind(&m.address)
    .bind(&m.name)
    .bind(m.team_id)
    .bind(m.service_id)
    .bind(m.create_requesters as i64)
    .bind(&m.unknown_sender)
    .bind(&m.imap_host)
    .bind(m.imap_port)
    .bind(&m.imap_security)
    .bind(&m.imap_username)
    .bind(&m.imap_password)
    .bind(&m.imap_folder)
    .bind(&m.imap_after)
    .bind(&m.imap_done_folder)
    .bind(m.active as i64)
    .bind(m.version)
    .bind(m.updated_at)
    .bind(expected_version)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn get_mailbox(conn: &mut AnyConnection, id: i64) -> Result<Option<Mailbox>> {
    let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(mailbox).transpose()?)
}

/// The mailbox at this (lower-cased) address, active or not.
pub async fn mailbox_by_address(
    conn: &mut AnyConnection,
    address: &str,
) -> Result<Option<Mailbox>> {
    let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE address = $1");
    let row = sqlx::query(&sql).bind(address).fetch_optional(conn).await?;
    Ok(row.as_ref().map(mailbox).transpose()?)
}

pub async fn list_mailboxes(conn: &mut AnyConnection) -> Result<Vec<Mailbox>> {
    let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes ORDER BY address");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    Ok(rows.iter().map(mailbox).collect::<sqlx::Result<_>>()?)
}

/// Every configured address: mail from any of them is Steward talking to itself.
pub async fn mailbox_addresses(conn: &mut AnyConnection) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT address FROM mailboxes")
        .fetch_all(conn)
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?)
}

// --- received messages ---

#[derive(Debug, Clone, Default)]
pub struct InboundMessage {
    pub id: i64,
    pub mailbox_id: Option<i64>,
    pub message_id: String,
    pub blob_key: String,
    pub size: i64,
    pub sha256: String,
    pub source: String,
    pub from_address: Option<String>,
    pub subject: Option<String>,
    pub status: String,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub ticket_id: Option<i64>,
    pub comment_id: Option<i64>,
    pub attempts: i64,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

const MESSAGE_COLUMNS: &str = "id, mailbox_id, message_id, blob_key, size, sha256, source, \
    from_address, subject, status, outcome, reason, ticket_id, comment_id, attempts, \
    received_at, processed_at";

fn message(row: &AnyRow) -> sqlx::Result<InboundMessage> {
    Ok(InboundMessage {
        id: row.try_get(0)?,
        mailbox_id: row.try_get(1)?,
        message_id: row.try_get(2)?,
        blob_key: row.try_get(3)?,
        size: row.try_get(4)?,
        sha256: row.try_get(5)?,
        source: row.try_get(6)?,
        from_address: row.try_get(7)?,
        subject: row.try_get(8)?,
        status: row.try_get(9)?,
        outcome: row.try_get(10)?,
        reason: row.try_get(11)?,
        ticket_id: row.try_get(12)?,
        comment_id: row.try_get(13)?,
        attempts: row.try_get(14)?,
        received_at: row.try_get(15)?,
        processed_at: row.try_get(16)?,
    })
}

/// Inserts the message unless its Message-ID was taken before. Returns the row and whether it
/// is new. `ON CONFLICT DO NOTHING` keeps a duplicate from failing the writer's batch.
pub async fn insert_message(
    conn: &mut AnyConnection,
    m: &InboundMessage,
) -> Result<(InboundMessage, bool)> {
    let inserted = sqlx::query(
        "INSERT INTO inbound_messages (mailbox_id, message_id, blob_key, size, sha256, source, \
         from_address, subject, status, attempts, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (message_id) DO NOTHING RETURNING id",
    )
    .bind(m.mailbox_id)
    .bind(&m.message_id)
    .bind(&m.blob_key)
    .bind(m.size)
    .bind(&m.sha256)
    .bind(&m.source)
    .bind(&m.from_address)
    .bind(&m.subject)
    .bind(&m.status)
    .bind(m.attempts)
    .bind(m.received_at)
    .fetch_optional(&mut *conn)
    .await?;
    let is_new = inserted.is_some();
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM inbound_messages WHERE message_id = $1");
    let row = sqlx::query(&sql)
        .bind(&m.message_id)
        .fetch_one(conn)
        .await?;
    Ok((message(&row)?, is_new))
}

pub async fn get_message(conn: &mut AnyConnection, id: i64) -> Result<Option<InboundMessage>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM inbound_messages WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(message).transpose()?)
}

/// What processing decided, written with the ticket change it made (if any).
#[derive(Debug, Clone, Default)]
pub struct Disposition {
    pub status: String,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub from_address: Option<String>,
    pub subject: Option<String>,
    pub ticket_id: Option<i64>,
    pub comment_id: Option<i64>,
}

/// Records the outcome, but only while the message is in `expected_status`: a message
/// processed meanwhile (by a recovery run, another node) is not processed twice. False when
/// the message had moved on.
pub async fn settle_message(
    conn: &mut AnyConnection,
    id: i64,
    expected_status: &str,
    d: &Disposition,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE inbound_messages SET status = $2, outcome = $3, reason = $4, \
         from_address = COALESCE($5, from_address), subject = COALESCE($6, subject), \
         ticket_id = COALESCE($7, ticket_id), comment_id = COALESCE($8, comment_id), \
         processed_at = $9 WHERE id = $1 AND status = $10",
    )
    .bind(id)
    .bind(&d.status)
    .bind(&d.outcome)
    .bind(&d.reason)
    .bind(&d.from_address)
    .bind(&d.subject)
    .bind(d.ticket_id)
    .bind(d.comment_id)
    .bind(now)
    .bind(expected_status)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Counts one more processing attempt (before it starts, so that a panic still counts).
pub async fn count_attempt(conn: &mut AnyConnection, id: i64) -> Result<i64> {
    let row = sqlx::query(
        "UPDATE inbound_messages SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts",
    )
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// Puts a quarantined message back to `received` for another try.
pub async fn requeue_message(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE inbound_messages SET status = 'received', outcome = NULL, reason = NULL, \
         attempts = 0, processed_at = NULL WHERE id = $1 AND status = 'quarantined'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub status: Option<String>,
    pub ticket_id: Option<i64>,
    /// Only ids below this (the cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Newest first.
pub async fn list_messages(
    conn: &mut AnyConnection,
    f: &MessageFilter,
) -> Result<Vec<InboundMessage>> {
    let mut sql = Sql::new(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM inbound_messages WHERE 1 = 1"
    ));
    if let Some(s) = &f.status {
        sql.push(" AND status = ").bind(s.as_str());
    }
    if let Some(t) = f.ticket_id {
        sql.push(" AND ticket_id = ").bind(t);
    }
    if let Some(b) = f.before_id {
        sql.push(" AND id < ").bind(b);
    }
    sql.push(" ORDER BY id DESC LIMIT ").bind(f.limit);
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(message).collect::<sqlx::Result<_>>()?)
}

/// Messages still `received` that arrived before `before` (left by a crash).
pub async fn stalled_messages(
    conn: &mut AnyConnection,
    before: i64,
    limit: i64,
) -> Result<Vec<InboundMessage>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM inbound_messages WHERE status = 'received' \
         AND received_at < $1 ORDER BY id LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(before)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(message).collect::<sqlx::Result<_>>()?)
}

/// How many messages this sender sent since `since` that arrived before message `before_id`,
/// whatever became of them (the flood limit; messages still being processed count too).
pub async fn count_from_sender(
    conn: &mut AnyConnection,
    from_address: &str,
    since: i64,
    before_id: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM inbound_messages WHERE from_address = $1 AND received_at >= $2 \
         AND id < $3",
    )
    .bind(from_address)
    .bind(since)
    .bind(before_id)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// The ticket a message Steward sent (or took in earlier, with a ticket) belongs to.
pub async fn ticket_of_message_id(
    conn: &mut AnyConnection,
    message_id: &str,
) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT ticket_id FROM outbound_mail WHERE message_id = $1 AND ticket_id IS NOT NULL \
         UNION ALL SELECT ticket_id FROM inbound_messages WHERE message_id = $1 \
         AND ticket_id IS NOT NULL",
    )
    .bind(message_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Marks the mail Steward sent with this Message-ID as bounced; its ticket, if any.
pub async fn mark_bounced(conn: &mut AnyConnection, message_id: &str) -> Result<Option<i64>> {
    let row = sqlx::query(
        "UPDATE outbound_mail SET status = 'bounced' WHERE message_id = $1 RETURNING ticket_id",
    )
    .bind(message_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?.flatten())
}

/// A ticket's id by its human number (INC-000123).
pub async fn ticket_id_by_number(conn: &mut AnyConnection, number: &str) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM tickets WHERE number = $1")
        .bind(number)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}
