//! The `mail.send` job: one outbox row handed to the SMTP server, with the headers that make
//! replies thread and keep auto-responders quiet.

use super::settings::Settings;
use super::templates::header_text;
use super::{now, App, AppError, AppResult};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::AsyncTransport;
use steward_store::jobs::Job;
use steward_store::outbound::{self as store, OutboundMail};

/// Builds the RFC 5322 message of an outbox row. Every text that came from a user passes
/// through [`header_text`] (and lettre encodes it), so it stays inside its own header.
pub fn message(settings: &Settings, m: &OutboundMail) -> AppResult<Message> {
    let address: lettre::Address = m
        .to_address
        .parse()
        .map_err(|e| AppError::invalid("to_address", format!("{e}")))?;
    let name = m
        .recipient_name
        .as_deref()
        .map(header_text)
        .filter(|n| !n.is_empty());
    let raw = |name: &'static str, value: &str| {
        HeaderValue::new(HeaderName::new_from_ascii_str(name), header_text(value))
    };
    let mut b = Message::builder()
        .from(settings.from.clone())
        .to(Mailbox::new(name, address))
        .subject(header_text(&m.subject))
        .message_id(Some(m.message_id.clone()))
        .date_now()
        // RFC 3834: an automatic message; auto-responders (and Exchange) stay quiet.
        .raw_header(raw("Auto-Submitted", "auto-generated"))
        .raw_header(raw("X-Auto-Response-Suppress", "All"))
        .raw_header(raw("X-Steward-Event", &m.event));
    if let Some(number) = &m.ticket_number {
        b = b.raw_header(raw("X-Steward-Ticket", number));
    }
    if let Some(id) = &m.in_reply_to {
        b = b.in_reply_to(header_text(id));
    }
    if let Some(refs) = &m.thread_refs {
        b = b.references(header_text(refs));
    }
    b.header(ContentType::TEXT_PLAIN)
        .body(m.body_text.clone())
        .map_err(|e| AppError::Internal(format!("building mail {}: {e}", m.id)))
}

/// Sends one queued mail. A failure is recorded on the row and returned, so the job queue
/// retries with backoff; on the job's last attempt the row is marked failed. A mail that
/// cannot go out at all (no SMTP server configured, an address that cannot be written to) is
/// marked failed at once, without retries.
pub async fn send_job(app: &App, job: &Job) -> AppResult<()> {
    let id: i64 = job
        .payload
        .trim()
        .parse()
        .map_err(|_| AppError::Internal(format!("mail.send payload {:?}", job.payload)))?;
    let mut conn = app.read().await?;
    let Some(mail) = store::get(&mut conn, id).await? else {
        return Ok(());
    };
    drop(conn);
    // A retried job after the mail went out must not send it again.
    if mail.status == store::SENT {
        return Ok(());
    }
    let attempts = mail.attempts + 1;
    let outcome = match app.outbound.transport() {
        Err(reason) => Err((reason, false)),
        Ok(transport) => match message(&app.outbound, &mail) {
            Err(e) => Err((e.to_string(), false)),
            Ok(msg) => transport
                .send(msg)
                .await
                .map(|_| ())
                .map_err(|e| (e.to_string(), true)),
        },
    };
    let (error, retry) = match outcome {
        Ok(()) => {
            app.store
                .write(move |ctx| {
                    Box::pin(async move {
                        store::mark_sent(&mut ctx.conn, id, attempts, now()).await?;
                        Ok::<_, AppError>(())
                    })
                })
                .await?;
            return Ok(());
        }
        Err(e) => e,
    };
    let last = !retry || job.attempts >= job.max_attempts;
    let status = if last { store::FAILED } else { store::QUEUED };
    tracing::warn!(mail = id, attempt = attempts, last, error = %error, "mail not sent");
    let recorded = error.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                store::record_failure(&mut ctx.conn, id, attempts, status, &recorded).await?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    if retry {
        Err(AppError::Internal(format!("sending mail {id}: {error}")))
    } else {
        Ok(())
    }
}
