//! The group-commit writer. Every change in Steward runs as a closure on one dedicated
//! connection; closures that arrive while a commit is under way are batched into the next
//! transaction, each inside its own SAVEPOINT so that one failing change rolls back alone.
//! One fsync then acknowledges the whole batch. This keeps SQLite's `synchronous=FULL`
//! durability at a useful rate, and keeps the audit hash chain linear without making each
//! request wait for the previous one's commit.

use crate::audit::ChainHead;
use crate::{Backend, StoreError};
use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};

/// What a change sees: the open transaction, the backend, and the end of the audit chain.
pub struct WriteCtx {
    pub conn: AnyConnection,
    pub backend: Backend,
    /// To reconnect when the connection is lost (a database restart, a cut idle connection).
    url: String,
    pub(crate) chain: Option<ChainHead>,
    chain_dirty: bool,
}

impl WriteCtx {
    pub(crate) fn chain_mut(&mut self) -> Option<&mut ChainHead> {
        self.chain_dirty = true;
        self.chain.as_mut()
    }
}

/// One queued change. `run` performs the work and returns whether it succeeded together with
/// the function that delivers its result once the batch's fate is known.
type Job = Box<dyn for<'c> FnOnce(&'c mut WriteCtx) -> BoxFuture<'c, Outcome> + Send>;

struct Outcome {
    ok: bool,
    /// Called with `None` after a successful commit, or with the commit error.
    deliver: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

enum Message {
    Job(Job),
    Stop(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Message>,
}

/// Upper bound of changes in one transaction; bounds latency of the first one in the batch.
const MAX_BATCH: usize = 256;

impl Writer {
    pub fn start(conn: AnyConnection, backend: Backend, url: String) -> Writer {
        let (tx, rx) = mpsc::channel(4096);
        let ctx = WriteCtx {
            conn,
            backend,
            url,
            chain: None,
            chain_dirty: false,
        };
        tokio::spawn(run(ctx, rx));
        Writer { tx }
    }

    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut WriteCtx) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |ctx: &mut WriteCtx| {
            Box::pin(async move {
                let result = f(ctx).await;
                let ok = result.is_ok();
                let deliver = Box::new(move |commit_error: Option<StoreError>| {
                    let final_result = match (commit_error, result) {
                        (Some(e), Ok(_)) => Err(E::from(e)),
                        (_, r) => r,
                    };
                    let _ = reply_tx.send(final_result);
                });
                Outcome { ok, deliver }
            })
        });
        self.tx
            .send(Message::Job(job))
            .await
            .map_err(|_| E::from(StoreError::WriterGone))?;
        reply_rx
            .await
            .map_err(|_| E::from(StoreError::WriterGone))?
    }

    /// Finishes the queued changes, then stops.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Message::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn exec(ctx: &mut WriteCtx, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(&mut ctx.conn, sql)
        .await
        .map(|_| ())
}

async fn run(mut ctx: WriteCtx, mut rx: mpsc::Receiver<Message>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut stop: Option<oneshot::Sender<()>> = None;
    while stop.is_none() {
        match rx.recv().await {
            Some(Message::Job(job)) => batch.push(job),
            Some(Message::Stop(s)) => stop = Some(s),
            None => break,
        }
        while batch.len() < MAX_BATCH && stop.is_none() {
            match rx.try_recv() {
                Ok(Message::Job(job)) => batch.push(job),
                Ok(Message::Stop(s)) => stop = Some(s),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            run_batch(&mut ctx, std::mem::take(&mut batch)).await;
        }
    }
    if let Some(s) = stop {
        let _ = s.send(());
    }
}

async fn run_batch(ctx: &mut WriteCtx, jobs: Vec<Job>) {
    let begin = match ctx.backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    if let Err(e) = exec(ctx, begin).await {
        tracing::warn!(error = %e, "writer could not begin a transaction; reconnecting");
        let retried = match crate::connect_raw(&ctx.url).await {
            Ok((conn, _)) => {
                ctx.conn = conn;
                exec(ctx, begin).await
            }
            Err(e) => Err(sqlx::Error::Protocol(e.to_string())),
        };
        if let Err(e) = retried {
            tracing::error!(error = %e, "writer could not reconnect");
            fail_all(ctx, jobs, e).await;
            return;
        }
    }
    ctx.chain = None;
    ctx.chain_dirty = false;
    // On PostgreSQL every batch locks the chain head first: taking it later, after other row
    // locks, could deadlock against another node's batch.
    if ctx.backend == Backend::Postgres {
        match crate::audit::load_head(ctx).await {
            Ok(head) => ctx.chain = Some(head),
            Err(e) => {
                tracing::error!(error = %e, "writer could not lock the audit chain head");
                fail_all(ctx, jobs, sqlx::Error::Protocol(e.to_string())).await;
                return;
            }
        }
    }
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        if let Err(e) = exec(ctx, "SAVEPOINT change").await {
            outcomes.push(Err(e));
            continue;
        }
        let chain_before = ctx.chain.clone();
        let dirty_before = ctx.chain_dirty;
        // A change that panics is rolled back like one that failed, and the writer goes on: one
        // bug must not stop every later change. Its caller sees the writer's error.
        let outcome = match std::panic::AssertUnwindSafe(job(ctx)).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::error!("a change panicked; it is rolled back");
                Outcome {
                    ok: false,
                    deliver: Box::new(|_| {}),
                }
            }
        };
        let end = if outcome.ok {
            exec(ctx, "RELEASE SAVEPOINT change").await
        } else {
            ctx.chain = chain_before;
            ctx.chain_dirty = dirty_before;
            match exec(ctx, "ROLLBACK TO SAVEPOINT change").await {
                Ok(()) => exec(ctx, "RELEASE SAVEPOINT change").await,
                Err(e) => Err(e),
            }
        };
        match end {
            Ok(()) => outcomes.push(Ok(outcome)),
            Err(e) => {
                // The transaction is in an unknown state: abandon the whole batch.
                (outcome.deliver)(Some(StoreError::Db(sqlx::Error::Protocol(e.to_string()))));
                for o in outcomes.into_iter().flatten() {
                    (o.deliver)(Some(StoreError::Db(sqlx::Error::Protocol(e.to_string()))));
                }
                let _ = exec(ctx, "ROLLBACK").await;
                return;
            }
        }
    }
    let commit = async {
        if ctx.chain_dirty {
            crate::audit::save_head(ctx).await?;
        }
        exec(ctx, "COMMIT").await
    }
    .await;
    let error_text = commit.as_ref().err().map(|e| e.to_string());
    if let Some(text) = &error_text {
        tracing::error!(error = %text, "writer commit failed");
        let _ = exec(ctx, "ROLLBACK").await;
    }
    for o in outcomes {
        match o {
            Ok(o) => (o.deliver)(
                error_text
                    .clone()
                    .map(|t| StoreError::Db(sqlx::Error::Protocol(t))),
            ),
            Err(e) => tracing::error!(error = %e, "savepoint failed"),
        }
    }
}

async fn fail_all(ctx: &mut WriteCtx, jobs: Vec<Job>, e: sqlx::Error) {
    let _ = exec(ctx, "ROLLBACK").await;
    // The jobs never ran; dropping them drops their reply channels, so each caller gets
    // `WriterGone` and nothing was half-written.
    tracing::warn!(error = %e, dropped = jobs.len(), "batch abandoned: begin failed");
}
