//! The IMAP poller: drains each polled mailbox's folder into the intake. A message leaves the
//! folder (moved to the done folder, or marked) only after the intake has stored it; one the
//! intake could not store stays untouched and is taken on a later poll.

mod connect;
mod names;

pub use connect::EXTRA_CA_ENV;

use self::connect::ImapSession;
use crate::app::{now, App, AppError, AppResult};
use async_imap::types::Flag;
use futures::stream::FuturesOrdered;
use futures::{Stream, StreamExt, TryStreamExt};
use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};
use steward_store::imap::{self as store, ImapMailbox};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// For one command, or for the next message of a FETCH answer (a 40 MiB message included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// Messages per FETCH, and at most this many bytes held in memory per FETCH (a larger single
/// message is fetched alone).
const BATCH_MESSAGES: usize = 100;
const BATCH_BYTES: u64 = 32 * 1024 * 1024;
/// Messages handed to the intake at once.
const DELIVER_CONCURRENCY: usize = 8;
/// How far into a message to look for the end of its header block.
const HEADER_SCAN_BYTES: usize = 256 * 1024;
/// One run takes at most this many messages from a mailbox, so that a huge backlog is drained
/// over several runs while other jobs get their turn.
const MESSAGES_PER_RUN: usize = 20_000;
/// A run stops starting new batches after this long: under the job lease (300 s), so no other
/// node takes the same poll job while this one still works on it.
const RUN_BUDGET: Duration = Duration::from_secs(240);
/// Each mailbox's fair share of the run is at least this long.
const MIN_SHARE: Duration = Duration::from_secs(20);
/// The keyword that marks a taken message in flag mode, where the server allows keywords.
const MARK_KEYWORD: &str = "$Steward";
/// The done folder of a move-mode mailbox that names none.
const DEFAULT_DONE_FOLDER: &str = "Processed";

/// Why a poll of one mailbox stopped; shown to admins as the mailbox's last error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Failure(String);

/// What one poll of a mailbox did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    /// Stored by the intake and moved or marked on the server.
    pub taken: usize,
    /// Refused by the intake (not stored); left on the server for the next poll.
    pub refused: usize,
}

/// The `mail.imap_poll` job: polls every active IMAP mailbox once; a failing mailbox is
/// recorded as that mailbox's last error and the others are still polled.
pub async fn poll_all(app: &App) -> AppResult<()> {
    let mailboxes = {
        let mut conn = app.read().await?;
        store::polled_mailboxes(&mut conn).await?
    };
    if mailboxes.is_empty() {
        return Ok(());
    }
    let share = (RUN_BUDGET / mailboxes.len() as u32).max(MIN_SHARE);
    for mailbox in &mailboxes {
        let address = mailbox.address.clone();
        let deliver = |raw: Vec<u8>| {
            let address = address.clone();
            async move {
                super::receive(app, &address, raw, super::Source::Imap)
                    .await
                    .map(|_| ())
            }
        };
        match drain_and_record(app, mailbox, deliver, Instant::now() + share).await {
            Ok(d) if d.taken + d.refused > 0 => tracing::info!(
                mailbox = mailbox.id,
                taken = d.taken,
                refused = d.refused,
                "IMAP poll"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(mailbox = mailbox.id, error = %e, "IMAP poll failed"),
        }
    }
    Ok(())
}

/// Polls one mailbox, handing each message to `deliver` (the intake in production), and
/// records the outcome on the mailbox: the poll time and no error, the intake's refusal, or why
/// the poll failed.
pub async fn poll_mailbox_with<D, F>(
    app: &App,
    mailbox: &ImapMailbox,
    deliver: D,
) -> AppResult<Drained>
where
    D: Fn(Vec<u8>) -> F,
    F: Future<Output = AppResult<()>>,
{
    drain_and_record(app, mailbox, deliver, Instant::now() + RUN_BUDGET).await
}

async fn drain_and_record<D, F>(
    app: &App,
    mailbox: &ImapMailbox,
    deliver: D,
    deadline: Instant,
) -> AppResult<Drained>
where
    D: Fn(Vec<u8>) -> F,
    F: Future<Output = AppResult<()>>,
{
    let mut refusal = None;
    let result = drain(mailbox, deliver, deadline, &mut refusal).await;
    let id = mailbox.id;
    let outcome = match &result {
        Ok(d) => Ok(refusal
            .filter(|_| d.refused > 0)
            .map(|e| format!("{} message(s) could not be stored, last: {e}", d.refused))),
        Err(e) => Err(e.to_string()),
    };
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                match outcome {
                    Ok(error) => {
                        store::record_poll(&mut ctx.conn, id, now(), error.as_deref()).await?
                    }
                    Err(error) => store::record_poll_failure(&mut ctx.conn, id, &error).await?,
                }
                Ok::<_, AppError>(())
            })
        })
        .await?;
    result.map_err(|e| AppError::Internal(format!("IMAP mailbox {id}: {e}")))
}

/// What happens to a message once the intake has stored it.
enum After {
    /// Moved to this folder (already encoded for the wire).
    Move {
        folder: String,
        with_move: bool,
        uid_expunge: bool,
    },
    /// Marked \Seen and with this flag (our keyword, or \Flagged).
    Flag { mark: String },
}

impl After {
    /// The search for messages not yet taken.
    fn search(&self) -> String {
        match self {
            After::Move { .. } => "UNDELETED".into(),
            After::Flag { mark } if mark == "\\Flagged" => "UNDELETED UNFLAGGED".into(),
            After::Flag { mark } => format!("UNDELETED UNKEYWORD {mark}"),
        }
    }
}

async fn drain<D, F>(
    mailbox: &ImapMailbox,
    deliver: D,
    deadline: Instant,
    refusal: &mut Option<String>,
) -> Result<Drained, Failure>
where
    D: Fn(Vec<u8>) -> F,
    F: Future<Output = AppResult<()>>,
{
    let mut session = connect::open(mailbox).await?;
    let folder = mailbox
        .folder
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .unwrap_or("INBOX");
    let selected = within(
        "SELECT",
        COMMAND_TIMEOUT,
        session.select(names::encode(folder)),
    )
    .await?;
    let after = match mailbox.after.as_deref().unwrap_or("move") {
        "move" => {
            let capabilities =
                within("CAPABILITY", COMMAND_TIMEOUT, session.capabilities()).await?;
            let done = mailbox
                .done_folder
                .as_deref()
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .unwrap_or(DEFAULT_DONE_FOLDER);
            let folder = names::encode(done);
            ensure_folder(&mut session, &folder).await?;
            After::Move {
                folder,
                with_move: capabilities.has_str("MOVE"),
                uid_expunge: capabilities.has_str("UIDPLUS"),
            }
        }
        "flag" => {
            let keywords = selected
                .permanent_flags
                .iter()
                .any(|f| matches!(f, Flag::MayCreate) || *f == Flag::Custom(MARK_KEYWORD.into()));
            let mark = if keywords { MARK_KEYWORD } else { "\\Flagged" };
            After::Flag { mark: mark.into() }
        }
        other => {
            return Err(Failure(format!(
                "unknown IMAP after-action {other:?} (use move or flag)"
            )))
        }
    };

    let mut drained = Drained::default();
    // Messages the intake refused in this run: left alone until the next run.
    let mut refused: HashSet<u32> = HashSet::new();
    while drained.taken < MESSAGES_PER_RUN && Instant::now() < deadline {
        let found = within(
            "UID SEARCH",
            COMMAND_TIMEOUT,
            session.uid_search(after.search()),
        )
        .await?;
        let mut uids: Vec<u32> = found.into_iter().filter(|u| !refused.contains(u)).collect();
        if uids.is_empty() {
            break;
        }
        uids.sort_unstable();
        uids.truncate(MESSAGES_PER_RUN - drained.taken);
        for chunk in uids.chunks(BATCH_MESSAGES) {
            if Instant::now() >= deadline {
                break;
            }
            for batch in batches_by_size(&mut session, chunk).await? {
                let messages = fetch(&mut session, &batch).await?;
                let mut stored = Vec::with_capacity(messages.len());
                for (uid, outcome) in deliver_batch(&deliver, messages).await {
                    match outcome {
                        Ok(()) => stored.push(uid),
                        Err(e) => {
                            refused.insert(uid);
                            *refusal = Some(e.to_string());
                        }
                    }
                }
                mark_taken(&mut session, &after, &stored).await?;
                drained.taken += stored.len();
            }
        }
    }
    drained.refused = refused.len();
    // The work is done and recorded by now; a failed goodbye changes nothing.
    let _ = tokio::time::timeout(CONNECT_TIMEOUT, session.logout()).await;
    Ok(drained)
}

/// Hands a batch to the intake, several messages at a time so that their writes share commits
/// (the store's group commit). A reply (In-Reply-To or References) first waits for every earlier
/// message of the batch, so that it finds the ticket an earlier message may have opened.
async fn deliver_batch<D, F>(
    deliver: &D,
    messages: Vec<(u32, Vec<u8>)>,
) -> Vec<(u32, AppResult<()>)>
where
    D: Fn(Vec<u8>) -> F,
    F: Future<Output = AppResult<()>>,
{
    let mut outcomes = Vec::with_capacity(messages.len());
    let mut pending = FuturesOrdered::new();
    for (uid, raw) in messages {
        let wait_for_all = is_reply(&raw);
        while !pending.is_empty() && (wait_for_all || pending.len() >= DELIVER_CONCURRENCY) {
            if let Some(outcome) = pending.next().await {
                outcomes.push(outcome);
            }
        }
        pending.push_back(async move { (uid, deliver(raw).await) });
    }
    while let Some(outcome) = pending.next().await {
        outcomes.push(outcome);
    }
    outcomes
}

/// Whether the header block names an earlier message (In-Reply-To or References).
fn is_reply(raw: &[u8]) -> bool {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len())
        .min(HEADER_SCAN_BYTES);
    raw[..head_end].split(|b| *b == b'\n').any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with(b"in-reply-to:") || line.starts_with(b"references:")
    })
}

/// Creates the done folder unless it exists.
async fn ensure_folder(session: &mut ImapSession, folder: &str) -> Result<(), Failure> {
    let listed = tokio::time::timeout(COMMAND_TIMEOUT, async {
        session
            .list(Some(""), Some(&names::quote(folder)))
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await
    .map_err(|_| Failure("LIST timed out".into()))?
    .map_err(|e| Failure(format!("LIST: {e}")))?;
    if listed.is_empty() {
        within("CREATE", COMMAND_TIMEOUT, session.create(folder)).await?;
    }
    Ok(())
}

/// Splits UIDs into FETCH batches that hold at most BATCH_BYTES (a larger message alone).
async fn batches_by_size(
    session: &mut ImapSession,
    uids: &[u32],
) -> Result<Vec<Vec<u32>>, Failure> {
    let stream = session
        .uid_fetch(uid_set(uids), "RFC822.SIZE")
        .await
        .map_err(|e| Failure(format!("UID FETCH RFC822.SIZE: {e}")))?;
    let mut sizes = Vec::with_capacity(uids.len());
    each_within("UID FETCH RFC822.SIZE", stream, |fetch| {
        if let Some(uid) = fetch.uid {
            sizes.push((uid, u64::from(fetch.size.unwrap_or(0))));
        }
    })
    .await?;
    sizes.sort_unstable();
    let mut batches: Vec<Vec<u32>> = Vec::new();
    let mut bytes = 0;
    for (uid, size) in sizes {
        match batches.last_mut() {
            Some(batch) if bytes + size <= BATCH_BYTES => {
                batch.push(uid);
                bytes += size;
            }
            _ => {
                batches.push(vec![uid]);
                bytes = size;
            }
        }
    }
    Ok(batches)
}

/// The raw messages of one batch, in UID order, without setting \Seen.
async fn fetch(session: &mut ImapSession, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, Failure> {
    let stream = session
        .uid_fetch(uid_set(uids), "BODY.PEEK[]")
        .await
        .map_err(|e| Failure(format!("UID FETCH: {e}")))?;
    let mut messages = Vec::with_capacity(uids.len());
    each_within("UID FETCH", stream, |fetch| {
        if let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) {
            messages.push((uid, body.to_vec()));
        }
    })
    .await?;
    messages.sort_unstable_by_key(|(uid, _)| *uid);
    Ok(messages)
}

/// Moves or marks the stored messages, by UID set.
async fn mark_taken(session: &mut ImapSession, after: &After, uids: &[u32]) -> Result<(), Failure> {
    if uids.is_empty() {
        return Ok(());
    }
    let set = uid_set(uids);
    match after {
        After::Move {
            folder,
            with_move: true,
            ..
        } => within("UID MOVE", COMMAND_TIMEOUT, session.uid_mv(&set, folder)).await,
        After::Move {
            folder,
            with_move: false,
            uid_expunge,
        } => {
            within(
                "UID COPY",
                COMMAND_TIMEOUT,
                session.uid_copy(&set, names::quote(folder)),
            )
            .await?;
            store_flags(session, &set, "\\Deleted").await?;
            let expunged = tokio::time::timeout(COMMAND_TIMEOUT, async {
                if *uid_expunge {
                    session
                        .uid_expunge(&set)
                        .await?
                        .try_collect::<Vec<_>>()
                        .await
                } else {
                    session.expunge().await?.try_collect::<Vec<_>>().await
                }
            })
            .await;
            match expunged {
                Err(_) => Err(Failure("EXPUNGE timed out".into())),
                Ok(Err(e)) => Err(Failure(format!("EXPUNGE: {e}"))),
                Ok(Ok(_)) => Ok(()),
            }
        }
        After::Flag { mark } => store_flags(session, &set, &format!("\\Seen {mark}")).await,
    }
}

async fn store_flags(session: &mut ImapSession, set: &str, flags: &str) -> Result<(), Failure> {
    let stream = session
        .uid_store(set, format!("+FLAGS.SILENT ({flags})"))
        .await
        .map_err(|e| Failure(format!("UID STORE: {e}")))?;
    each_within("UID STORE", stream, |_| {}).await
}

/// Runs one IMAP command under the time limit.
async fn within<T>(
    what: &str,
    limit: Duration,
    command: impl Future<Output = async_imap::error::Result<T>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, command).await {
        Err(_) => Err(Failure(format!("{what} timed out"))),
        Ok(Err(e)) => Err(Failure(format!("{what}: {e}"))),
        Ok(Ok(value)) => Ok(value),
    }
}

/// Reads a command's answers to the end, each within the time limit.
async fn each_within<T>(
    what: &str,
    stream: impl Stream<Item = async_imap::error::Result<T>>,
    mut each: impl FnMut(T),
) -> Result<(), Failure> {
    let mut stream = std::pin::pin!(stream);
    loop {
        match tokio::time::timeout(COMMAND_TIMEOUT, stream.next()).await {
            Err(_) => return Err(Failure(format!("{what} timed out"))),
            Ok(None) => return Ok(()),
            Ok(Some(Err(e))) => return Err(Failure(format!("{what}: {e}"))),
            Ok(Some(Ok(item))) => each(item),
        }
    }
}

/// A compact UID set: runs of consecutive UIDs as ranges (`1:100,205,300:302`).
fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::{is_reply, uid_set};

    #[test]
    fn replies_are_told_by_their_headers_only() {
        assert!(is_reply(b"Subject: x\r\nIn-Reply-To: <a@b>\r\n\r\nbody"));
        assert!(is_reply(b"REFERENCES: <a@b>\n\nbody"));
        assert!(!is_reply(b"Subject: x\r\n\r\nReferences: <a@b>\r\n"));
        assert!(!is_reply(b"Subject: References: none\r\n\r\n"));
    }

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[3, 1, 2, 7, 9, 10, 11, 11]), "1:3,7,9:11");
        assert_eq!(uid_set(&[42]), "42");
        assert_eq!(uid_set(&[]), "");
    }
}
