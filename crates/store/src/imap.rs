//! IMAP settings of polled mailboxes: which to poll, and what the last poll found.

use crate::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// An active mailbox that Steward polls over IMAP, with its connection settings.
#[derive(Clone)]
pub struct ImapMailbox {
    pub id: i64,
    pub address: String,
    pub host: String,
    pub port: Option<i64>,
    /// tls, starttls or none
    pub security: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub folder: Option<String>,
    /// move or flag
    pub after: Option<String>,
    pub done_folder: Option<String>,
}

// The password stays out of logs and panics.
impl std::fmt::Debug for ImapMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapMailbox")
            .field("id", &self.id)
            .field("address", &self.address)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("folder", &self.folder)
            .field("after", &self.after)
            .field("done_folder", &self.done_folder)
            .finish_non_exhaustive()
    }
}

fn imap_mailbox(row: &AnyRow) -> sqlx::Result<ImapMailbox> {
    Ok(ImapMailbox {
        id: row.try_get(0)?,
        address: row.try_get(1)?,
        host: row.try_get(2)?,
        port: row.try_get(3)?,
        security: row.try_get(4)?,
        username: row.try_get(5)?,
        password: row.try_get(6)?,
        folder: row.try_get(7)?,
        after: row.try_get(8)?,
        done_folder: row.try_get(9)?,
    })
}

/// The active mailboxes with an IMAP host, in id order.
pub async fn polled_mailboxes(conn: &mut AnyConnection) -> Result<Vec<ImapMailbox>> {
    let rows = sqlx::query(
        "SELECT id, address, imap_host, imap_port, imap_security, imap_username, imap_password, \
         imap_folder, imap_after, imap_done_folder FROM mailboxes \
         WHERE active <> 0 AND imap_host IS NOT NULL AND imap_host <> '' ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(imap_mailbox).collect::<sqlx::Result<_>>()?)
}

/// A poll that reached the folder: when it ran, and what went wrong with single messages, if
/// anything (None clears the last error). The mailbox's version is left alone: a poll is not an
/// edit, and an admin's edit in progress must not turn stale every 30 seconds.
pub async fn record_poll(
    conn: &mut AnyConnection,
    mailbox_id: i64,
    at: i64,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE mailboxes SET imap_last_polled_at = $2, imap_last_error = $3 WHERE id = $1",
    )
    .bind(mailbox_id)
    .bind(at)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// A poll that failed (no connection, refused login, a missing folder): the error only; the
/// last successful poll time stays.
pub async fn record_poll_failure(
    conn: &mut AnyConnection,
    mailbox_id: i64,
    error: &str,
) -> Result<()> {
    sqlx::query("UPDATE mailboxes SET imap_last_error = $2 WHERE id = $1")
        .bind(mailbox_id)
        .bind(error)
        .execute(conn)
        .await?;
    Ok(())
}
