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
use mail_parser::MessageParser;
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
fn blob_key(sha256: &str) -> String {
    format!("mail/{}/{sha256}", &sha256[..2])
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
    // Only the header block is read here (the message may be too large to parse); the sender
    // is kept from the start so that the flood limit counts messages still being processed.
    let (message_id, from_address) = match MessageParser::default().parse_headers(&raw) {
        Some(head) => (
            head.message_id().and_then(parse::normalise_message_id),
            parse::sender_address(&head),
        ),
        None => (None, None),
    };
    let message_id = message_id.unwrap_or_else(|| format!("sha256:{sha}"));
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
        from_address,
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
    guarded(app, m, intake::handle).await
}

/// Runs `handle` on a stored message with the intake's guards: the attempt counted first (so
/// a panic counts), the size cap, the time limit, and a panic caught.
async fn guarded<H, F>(app: &App, m: InboundMessage, handle: H) -> AppResult<Received>
where
    H: FnOnce(App, InboundMessage, bytes::Bytes) -> F,
    F: std::future::Future<Output = AppResult<InboundMessage>> + Send + 'static,
{
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
    let task = tokio::spawn(handle(app.clone(), m, raw));
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

#[cfg(test)]
mod tests {
    use super::*;
    use steward_store::Store;

    /// A handler that panics (a bug reached by some message): the message stays `received`
    /// for the recovery job each time, and after MAX_ATTEMPTS it is quarantined, never lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_mail_whose_processing_panics_is_kept_then_quarantined() {
        let dir = std::env::temp_dir().join(format!(
            "steward-mail-panic-{}-{}",
            std::process::id(),
            now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("test.db").display());
        let db = Store::open_unchecked(&url, 2).await.unwrap();
        db.migrate().await.unwrap();
        let app = crate::cli::build_app(db, dir.join("blobs").to_str().unwrap()).unwrap();
        let mailbox = mail::Mailbox {
            address: "help@desk.test".into(),
            name: "Help".into(),
            unknown_sender: "quarantine".into(),
            active: true,
            version: 1,
            ..mail::Mailbox::default()
        };
        app.store
            .write(move |ctx| {
                Box::pin(async move { mail::insert_mailbox(&mut ctx.conn, &mailbox).await })
            })
            .await
            .unwrap();
        let raw = b"From: a@b.test\r\nMessage-ID: <p@b.test>\r\nSubject: x\r\n\r\nbody\r\n";
        let (stored, _) = store(&app, "help@desk.test", raw.to_vec(), Source::Imap)
            .await
            .unwrap();
        let panics =
            |_: App, _: InboundMessage, _: bytes::Bytes| async { panic!("a bug in processing") };
        let current = |app: App| async move {
            let mut conn = app.read().await.unwrap();
            mail::get_message(&mut conn, stored.id)
                .await
                .unwrap()
                .unwrap()
        };
        for attempt in 1..=MAX_ATTEMPTS {
            let m = current(app.clone()).await;
            assert!(guarded(&app, m, panics).await.is_err());
            let m = current(app.clone()).await;
            assert_eq!((m.status.as_str(), m.attempts), ("received", attempt));
        }
        let r = guarded(&app, current(app.clone()).await, panics)
            .await
            .unwrap();
        assert_eq!(r.status, "quarantined");
        let m = current(app.clone()).await;
        assert!(m.reason.unwrap().starts_with("processing failed"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
