//! Email in: mailboxes, the intake of one raw message (stored before it is processed, taken
//! once per Message-ID), threading into tickets, and the quarantine.

pub mod imap;

use super::{App, AppError, AppResult};

/// The recurring job that polls every IMAP mailbox.
pub const IMAP_POLL: &str = "mail.imap_poll";
/// The recurring job that processes messages stored but left unprocessed (a crash between
/// receipt and processing).
pub const RECOVER: &str = "mail.recover";

/// The `mail.recover` job.
pub async fn process_stalled(_app: &App) -> AppResult<()> {
    Ok(())
}

/// How a message reached Steward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Mailgate,
    Imap,
}

/// What became of one received message.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub inbound_id: i64,
    /// The same Message-ID had been taken before; nothing new was done.
    pub duplicate: bool,
    /// processed, quarantined or ignored
    pub status: String,
    pub ticket_id: Option<i64>,
}

/// Stores the raw message for the mailbox at `address`, then processes it. Returns Ok once the
/// raw message is safely stored, whatever the processing did (a failure quarantines it); Err
/// only when it could not be stored, so the sender (the MTA, the IMAP poller) keeps it and
/// retries.
pub async fn receive(
    _app: &App,
    _address: &str,
    _raw: Vec<u8>,
    _source: Source,
) -> AppResult<Received> {
    Err(AppError::Internal("mail intake is not built yet".into()))
}
