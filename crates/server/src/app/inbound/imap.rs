//! The IMAP poller: drains each polled mailbox's folder into the intake.

use crate::app::{App, AppResult};

/// The `mail.imap_poll` job: polls every active IMAP mailbox once.
pub async fn poll_all(_app: &App) -> AppResult<()> {
    Ok(())
}
