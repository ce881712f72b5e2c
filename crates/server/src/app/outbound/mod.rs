//! Notifications out by email: recipients per event, templates in each recipient's language,
//! threading headers, sending through the job queue over SMTP, each user's choices.
//!
//! Threading: every mail of a ticket has `References: <ticket-{id}@{domain}>` first (a stable
//! root), then the Message-ID of the mail the ticket was opened from, if any; `In-Reply-To` is
//! the last of those. Each mail's own Message-ID is `<{event id}.{user id}@{domain}>`, so a
//! retried dispatch finds the row it wrote and sends nothing twice, and a reply's In-Reply-To
//! finds the ticket through outbound_mail.message_id. The subject always starts with the
//! ticket tag (`[INC-000123]`) for clients that drop References.

pub mod admin;
pub mod compose;
pub mod send;
pub mod settings;
pub mod templates;

use super::events::Event;
use super::{now, Actor, App, AppError, AppResult, AuditTrail};

pub use settings::Settings;

/// The job that sends one queued email.
pub const SEND: &str = "mail.send";

/// Records and queues the emails these events call for, all in one write.
pub async fn on_events(app: &App, events: &[Event]) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let events = events.to_vec();
    let settings = app.outbound.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                let own = steward_store::outbound::own_addresses(&mut ctx.conn).await?;
                for e in &events {
                    compose::queue_event(ctx, &settings, &own, e, now).await?;
                }
                Ok::<_, AppError>(())
            })
        })
        .await
}

/// Queues the reply that tells an unknown sender their mail was not taken (the mailbox's
/// policy), in the caller's transaction. The caller has checked that the message was not
/// automatic (RFC 3834) and not from Steward itself.
pub async fn queue_rejection(
    ctx: &mut steward_store::WriteCtx,
    to: &str,
    original_subject: &str,
    original_message_id: Option<&str>,
    now: i64,
) -> AppResult<()> {
    compose::queue_rejection(ctx, to, original_subject, original_message_id, now).await
}

/// The `mail.send` job.
pub async fn send_job(app: &App, job: &steward_store::jobs::Job) -> AppResult<()> {
    send::send_job(app, job).await
}
