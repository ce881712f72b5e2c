//! The background worker: every app node runs one. It claims due jobs from the database queue
//! with a lease and runs them; a node that dies leaves its lease to expire and another node
//! takes the job. The SLA escalation sweep is a recurring job, so one node at a time sweeps.

use super::{escalation, now, App, AppError, AppResult};
use serde::Serialize;
use steward_store::jobs::{self, NewJob};
use utoipa::ToSchema;

/// The recurring escalation sweep.
pub const SLA_SWEEP: &str = "sla.sweep";
/// How often the sweep runs; escalations are at most this late.
const SWEEP_EVERY_SECS: i64 = 15;
/// How long a claimed job is a node's before another node may take it.
const LEASE_SECS: i64 = 300;
const CLAIM_BATCH: i64 = 8;

/// A name for this node in leases and escalation records: host, process and start time.
pub fn node_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!("{host}-{}-{}", std::process::id(), now() % 1_000_000)
}

/// How often an IMAP mailbox is polled.
const IMAP_POLL_EVERY_SECS: i64 = 30;
/// How often stored but unprocessed mail is looked for.
const MAIL_RECOVER_EVERY_SECS: i64 = 60;

/// The jobs that run again after each run, and how many seconds later.
const RECURRING: [(&str, i64); 3] = [
    (SLA_SWEEP, SWEEP_EVERY_SECS),
    (super::inbound::IMAP_POLL, IMAP_POLL_EVERY_SECS),
    (super::inbound::RECOVER, MAIL_RECOVER_EVERY_SECS),
];

fn recurring_every(kind: &str) -> Option<i64> {
    RECURRING.iter().find(|(k, _)| *k == kind).map(|(_, s)| *s)
}

/// Makes sure the recurring jobs exist (the dedupe key keeps one of each).
pub async fn ensure_recurring(app: &App) -> AppResult<()> {
    app.store
        .write(|ctx| {
            Box::pin(async move {
                let now = now();
                for (kind, _) in RECURRING {
                    jobs::enqueue(
                        &mut ctx.conn,
                        &NewJob {
                            kind,
                            payload: "{}".into(),
                            dedupe_key: Some(kind.into()),
                            run_at: now,
                            max_attempts: 1_000_000,
                        },
                        now,
                    )
                    .await?;
                }
                Ok::<_, AppError>(())
            })
        })
        .await
}

/// Runs forever: claims due jobs and runs them, resting a second when there are none.
pub async fn run_worker(app: App, node: String) {
    if let Err(e) = ensure_recurring(&app).await {
        tracing::error!(error = %e, "could not queue the recurring jobs");
    }
    loop {
        match run_due(&app, &node).await {
            Ok(0) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the worker could not claim jobs");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    }
}

/// Claims and runs the jobs due now; returns how many ran.
pub async fn run_due(app: &App, node: &str) -> AppResult<usize> {
    let owner = node.to_string();
    let claimed = app
        .store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                Ok::<_, AppError>(
                    jobs::claim(ctx, &owner, now, now + LEASE_SECS * 1_000_000, CLAIM_BATCH)
                        .await?,
                )
            })
        })
        .await?;
    let n = claimed.len();
    // The claimed jobs run side by side: most of a job's time is waiting on a remote server
    // (SMTP, a webhook, IMAP), and one slow target must not hold up the others.
    futures::future::join_all(claimed.into_iter().map(|job| run_one(app, node, job))).await;
    Ok(n)
}

/// Retry delay after the n-th failed attempt: 10 s, 20 s, 40 s, … at most an hour.
fn backoff_secs(attempts: i64) -> i64 {
    (10_i64 << attempts.clamp(0, 20)).min(3600)
}

async fn run_one(app: &App, node: &str, job: jobs::Job) {
    let result = match job.kind.as_str() {
        SLA_SWEEP => {
            // Both run even when one fails; the job fails (and retries) if either did.
            let now = now();
            let escalated = escalation::sweep(app, now, node).await;
            if let Ok(r) = &escalated {
                if r.warnings + r.breaches > 0 {
                    tracing::info!(warnings = r.warnings, breaches = r.breaches, "SLA sweep");
                }
            }
            let unanswered = super::major::sweep_unanswered(app, now).await;
            escalated.and(unanswered).map(|_| ())
        }
        super::events::DISPATCH => super::events::dispatch(app, &job.payload).await,
        super::outbound::SEND => super::outbound::send_job(app, &job).await,
        super::webhooks::DELIVER => super::webhooks::deliver_job(app, &job).await,
        super::inbound::IMAP_POLL => super::inbound::imap::poll_all(app).await,
        super::inbound::RECOVER => super::inbound::process_stalled(app).await,
        super::inbound::PROCESS => super::inbound::process_queued(app, &job.payload).await,
        other => Err(AppError::Internal(format!(
            "no handler for job kind {other}"
        ))),
    };
    let owner = node.to_string();
    let recurring = recurring_every(&job.kind);
    let error = result.err().map(|e| e.to_string());
    let done = app
        .store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                match error {
                    None => match recurring {
                        Some(every) => {
                            let next = now + every * 1_000_000;
                            jobs::reschedule(&mut ctx.conn, job.id, &owner, next).await?;
                        }
                        None => {
                            jobs::complete(&mut ctx.conn, job.id, &owner, now).await?;
                        }
                    },
                    Some(e) => {
                        tracing::warn!(job = job.id, kind = %job.kind, error = %e, "job failed");
                        // A recurring job must not fall an hour behind after a bad minute.
                        let delay = match recurring {
                            Some(every) => backoff_secs(job.attempts).min(every * 4),
                            None => backoff_secs(job.attempts),
                        };
                        let retry = now + delay * 1_000_000;
                        jobs::fail(&mut ctx.conn, job.id, &owner, now, &e, retry).await?;
                    }
                }
                Ok::<_, AppError>(())
            })
        })
        .await;
    if let Err(e) = done {
        tracing::warn!(error = %e, "could not record a job's outcome; its lease will expire");
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    /// queued, done or dead
    pub status: String,
    pub run_at: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_owner: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

/// The queue for admins: counts per status and the latest jobs.
pub async fn list(
    app: &App,
    actor: &super::Actor,
    status: Option<&str>,
) -> AppResult<(Vec<(String, i64)>, Vec<JobView>)> {
    actor.require(steward_core::Capability::ManageAccounts)?;
    if let Some(s) = status {
        if ![jobs::QUEUED, jobs::DONE, jobs::DEAD].contains(&s) {
            return Err(AppError::invalid("status", "must be queued, done or dead"));
        }
    }
    let mut conn = app.read().await?;
    let counts = jobs::counts(&mut conn).await?;
    let list = jobs::list(&mut conn, status, 100).await?;
    let instant = super::views::instant;
    Ok((
        counts,
        list.iter()
            .map(|j| JobView {
                id: j.id,
                kind: j.kind.clone(),
                status: j.status.clone(),
                run_at: instant(j.run_at),
                attempts: j.attempts,
                max_attempts: j.max_attempts,
                lease_owner: j.lease_owner.clone(),
                last_error: j.last_error.clone(),
                created_at: instant(j.created_at),
                finished_at: j.finished_at.map(instant),
            })
            .collect(),
    ))
}
