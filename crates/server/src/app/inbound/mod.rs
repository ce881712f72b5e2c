//! Email in: mailboxes, the intake of one raw message (stored before it is processed, taken
//! once per Message-ID), threading into tickets, and the quarantine.

pub mod charset;
pub mod imap;
mod intake;
pub mod mailboxes;
pub mod messages;
pub mod parse;
pub mod quote;

use super::{now, App, AppError, AppResult};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Connection};
use std::time::Duration;
use steward_store::jobs;
use steward_store::mail::{self, Disposition, InboundMessage};
use steward_store::StoreError;

/// The recurring job that polls every IMAP mailbox.
pub const IMAP_POLL: &str = "mail.imap_poll";
/// The recurring job that processes messages stored but left unprocessed (a crash between
/// receipt and processing).
pub const RECOVER: &str = "mail.recover";
/// The job that processes one message `steward mailgate` stored: the server, with its search
/// dictionary loaded, does the work, so the pipe only stores and answers the MTA at once.
pub const PROCESS: &str = "mail.process";

/// One message may not hold up the intake longer than this; past it, it is quarantined.
const PROCESS_TIME_LIMIT: Duration = Duration::from_secs(30);
/// A message whose processing failed (a panic, a lost connection) this many times goes to the
/// quarantine instead of being tried again.
const MAX_ATTEMPTS: i64 = 3;
/// A message still `received` this long after arrival was left by a crash.
const STALLED_AFTER_MICROS: i64 = 60 * 1_000_000;
/// Messages recovered per run of the `mail.recover` job.
const RECOVER_BATCH: i64 = 100;

/// The `mail.recover` job: processes messages stored but never processed.
pub async fn process_stalled(app: &App) -> AppResult<()> {
    let stalled = {
        let mut conn = app.read().await?;
        mail::stalled_messages(&mut conn, now() - STALLED_AFTER_MICROS, RECOVER_BATCH).await?
    };
    for m in stalled {
        let id = m.id;
        if let Err(e) = process(app, m).await {
            tracing::warn!(inbound_id = id, error = %e, "a stalled message could not be processed");
        }
    }
    Ok(())
}

/// The `mail.process` job: processes the stored message unless something else already did.
pub async fn process_queued(app: &App, payload: &str) -> AppResult<()> {
    let id: i64 = payload
        .trim()
        .parse()
        .map_err(|_| AppError::Internal(format!("mail.process payload {payload:?}")))?;
    let message = {
        let mut conn = app.read().await?;
        mail::get_message(&mut conn, id).await?
    };
    match message {
        Some(m) if m.status == "received" => process(app, m).await.map(|_| ()),
        _ => Ok(()),
    }
}

/// How a message reached Steward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Mailgate,
    Imap,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Mailgate => "mailgate",
            Source::Imap => "imap",
        }
    }
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

impl Received {
    fn of(m: &InboundMessage, duplicate: bool) -> Received {
        Received {
            inbound_id: m.id,
            duplicate,
            status: m.status.clone(),
            ticket_id: m.ticket_id,
        }
    }
}

/// Stores the raw message for the mailbox at `address`, then processes it. Returns Ok once the
/// raw message is safely stored, whatever the processing did (a failure quarantines it); Err
/// only when it could not be stored, so the sender (the MTA, the IMAP poller) keeps it and
/// retries.
pub async fn receive(
    app: &App,
    address: &str,
    raw: Vec<u8>,
    source: Source,
) -> AppResult<Received> {
    let (stored, is_new) = store(app, address, raw, source).await?;
    if !is_new && stored.status != "received" {
        return Ok(Received::of(&stored, true));
    }
    // A message left `received` by a crash is processed now; it is still a duplicate delivery.
    match process(app, stored.clone()).await {
        Ok(mut r) => {
            r.duplicate = !is_new;
            Ok(r)
        }
        // Stored is what counts for the sender: the recovery job finishes the processing.
        Err(e) => {
            tracing::warn!(inbound_id = stored.id, error = %e, "processing deferred");
            Ok(Received::of(&stored, !is_new))
        }
    }
}

/// The key of a raw message in the blob store: content-addressed.
pub fn blob_key(sha256: &str) -> String {
    format!("mail/{}/{sha256}", &sha256[..2])
}

/// The Message-ID from the header block, read without parsing the whole message (which may be
/// too large to parse).
fn header_message_id(raw: &[u8]) -> Option<String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len())
        .min(256 * 1024);
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let mut value = value.to_string();
        while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
            value.push_str(next);
            lines.next();
        }
        return parse::normalise_message_id(&value);
    }
    None
}

/// Stores the raw bytes, then the row (taking the Message-ID once). Returns the row and whether
/// it is new.
pub async fn store(
    app: &App,
    address: &str,
    raw: Vec<u8>,
    source: Source,
) -> AppResult<(InboundMessage, bool)> {
    let mailbox = {
        let mut conn = app.read().await?;
        active_mailbox(&mut conn, address).await?
    };
    let row = put_raw(app.blobs.as_ref(), mailbox, raw, source).await?;
    app.store
        .write(move |ctx| {
            Box::pin(
                async move { Ok::<_, AppError>(mail::insert_message(&mut ctx.conn, &row).await?) },
            )
        })
        .await
}

/// `steward mailgate`: stores like `store` and queues the `mail.process` job in the same
/// transaction, on the one connection the process opened (a process per message: a pool and
/// the group-commit writer would cost more than the work). The running server processes it.
pub async fn accept(
    conn: &mut AnyConnection,
    blobs: &dyn ObjectStore,
    address: &str,
    raw: Vec<u8>,
) -> AppResult<(InboundMessage, bool)> {
    let mailbox = active_mailbox(conn, address).await?;
    let row = put_raw(blobs, mailbox, raw, Source::Mailgate).await?;
    let mut tx = conn.begin().await.map_err(StoreError::from)?;
    let (stored, is_new) = mail::insert_message(&mut tx, &row).await?;
    if is_new {
        let now = now();
        jobs::enqueue(
            &mut tx,
            &jobs::NewJob {
                kind: PROCESS,
                payload: stored.id.to_string(),
                dedupe_key: Some(format!("{PROCESS}:{}", stored.id)),
                run_at: now,
                max_attempts: 10,
            },
            now,
        )
        .await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok((stored, is_new))
}

async fn active_mailbox(conn: &mut AnyConnection, address: &str) -> AppResult<i64> {
    let address = address.trim().to_lowercase();
    mail::mailbox_by_address(conn, &address)
        .await?
        .filter(|m| m.active)
        .map(|m| m.id)
        .ok_or(AppError::NotFound)
}

/// Puts the raw bytes in the blob store (content-addressed, so a second put of the same message
/// changes nothing) and returns the row to insert.
async fn put_raw(
    blobs: &dyn ObjectStore,
    mailbox_id: i64,
    raw: Vec<u8>,
    source: Source,
) -> AppResult<InboundMessage> {
    let sha = hex::encode(Sha256::digest(&raw));
    let key = blob_key(&sha);
    let message_id = header_message_id(&raw).unwrap_or_else(|| format!("sha256:{sha}"));
    let size = raw.len() as i64;
    blobs
        .put(&Path::from(key.as_str()), PutPayload::from(raw))
        .await
        .map_err(|e| AppError::Internal(format!("the raw message could not be stored: {e}")))?;
    Ok(InboundMessage {
        mailbox_id: Some(mailbox_id),
        message_id,
        blob_key: key,
        size,
        sha256: sha,
        source: source.as_str().into(),
        status: "received".into(),
        received_at: now(),
        ..InboundMessage::default()
    })
}

/// Writes a final status unless the message was settled meanwhile; returns the row as it is.
pub(crate) async fn settle(app: &App, id: i64, d: Disposition) -> AppResult<InboundMessage> {
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                mail::settle_message(&mut ctx.conn, id, "received", &d, now()).await?;
                mail::get_message(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)
            })
        })
        .await
}

pub(crate) fn quarantined(reason: impl Into<String>) -> Disposition {
    Disposition {
        status: "quarantined".into(),
        reason: Some(reason.into()),
        ..Disposition::default()
    }
}

/// Processes a stored message under the time limit. A failure or a timeout quarantines it; a
/// panic leaves it `received` for the recovery job, until MAX_ATTEMPTS.
pub(crate) async fn process(app: &App, m: InboundMessage) -> AppResult<Received> {
    let id = m.id;
    let attempts = app
        .store
        .write(move |ctx| Box::pin(async move { mail::count_attempt(&mut ctx.conn, id).await }))
        .await?;
    if attempts > MAX_ATTEMPTS {
        let reason = format!("processing failed {MAX_ATTEMPTS} times");
        return Ok(Received::of(
            &settle(app, id, quarantined(reason)).await?,
            false,
        ));
    }
    if m.size as usize > app.limits.mail_bytes {
        let reason = format!("too large: over {} bytes", app.limits.mail_bytes);
        return Ok(Received::of(
            &settle(app, id, quarantined(reason)).await?,
            false,
        ));
    }
    let raw = app
        .blobs
        .get(&Path::from(m.blob_key.as_str()))
        .await
        .map_err(|e| AppError::Internal(format!("raw message {id}: {e}")))?
        .bytes()
        .await
        .map_err(|e| AppError::Internal(format!("raw message {id}: {e}")))?;
    let task = tokio::spawn(intake::handle(app.clone(), m, raw));
    let abort = task.abort_handle();
    let outcome = tokio::time::timeout(PROCESS_TIME_LIMIT, task).await;
    let settled = match outcome {
        Ok(Ok(Ok(settled))) => settled,
        Ok(Ok(Err(e))) => {
            tracing::warn!(inbound_id = id, error = %e, "message quarantined");
            settle(app, id, quarantined(e.to_string())).await?
        }
        Ok(Err(join)) => {
            // A panic: the message stays `received`; the recovery job tries again.
            tracing::error!(inbound_id = id, error = %join, "processing a message panicked");
            return Err(AppError::Internal("processing panicked".into()));
        }
        Err(_) => {
            abort.abort();
            let reason = format!("timed out after {} s", PROCESS_TIME_LIMIT.as_secs());
            settle(app, id, quarantined(reason)).await?
        }
    };
    Ok(Received::of(&settled, false))
}
