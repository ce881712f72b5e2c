//! Webhooks and the group robots of WeCom, DingTalk and Feishu: each subscribed target gets a
//! delivery per event, sent by the job queue with retries, every attempt logged.
//!
//! A dispatch records, in one transaction, one delivery per (target, event) with the payload
//! frozen at that moment, and one `hook.deliver` job per new delivery; a repeated dispatch
//! finds the deliveries already there and adds nothing. The job POSTs the payload (signed for
//! webhooks, in the platform's format for bots) to the address the SSRF guard checked.

pub mod bots;
pub mod payload;
pub mod signing;
pub mod ssrf;
pub mod targets;

use super::events::{Event, EventKind};
use super::{now, App, AppError, AppResult};
use crate::i18n::Lang;
use payload::EventPayload;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use steward_store::jobs::{self, NewJob};
use steward_store::webhooks::{self as store, Attempt, ChatBot, Delivery, Webhook};
use steward_store::WriteCtx;

/// The job that attempts one delivery.
pub const DELIVER: &str = "hook.deliver";

/// Attempts per delivery before it is `failed`; with the queue's backoff (10 s doubling) the
/// last one is about 21 minutes after the first.
const MAX_ATTEMPTS: i64 = 8;
/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer is kept in the delivery log.
const RESPONSE_EXCERPT_BYTES: usize = 2048;
/// How much of an answer is read at all (a bot's JSON result is small).
const RESPONSE_READ_BYTES: usize = 64 * 1024;
const USER_AGENT: &str = "Steward-Webhook/1";

#[derive(Debug, Serialize, Deserialize)]
struct DeliverJob {
    delivery_id: i64,
}

/// The event types a target subscribes to, as stored (a JSON array).
pub(crate) fn subscribed(events_json: &str, kind: EventKind) -> bool {
    serde_json::from_str::<Vec<String>>(events_json)
        .map(|v| v.iter().any(|e| e == kind.as_str()))
        .unwrap_or(false)
}

/// The payload of the `hook.deliver` job for a delivery, exactly as it is queued (a job for a
/// delivery is found by comparing it).
fn deliver_job_payload(delivery_id: i64) -> AppResult<String> {
    serde_json::to_string(&DeliverJob { delivery_id })
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// Whether a `hook.deliver` job for this delivery is still queued (waiting or running).
pub(crate) async fn attempt_queued(ctx: &mut WriteCtx, delivery_id: i64) -> AppResult<bool> {
    let payload = deliver_job_payload(delivery_id)?;
    Ok(store::job_queued(&mut ctx.conn, DELIVER, &payload).await?)
}

/// Queues the attempt of a delivery, in the caller's transaction.
pub(crate) async fn queue_attempt(ctx: &mut WriteCtx, delivery_id: i64, now: i64) -> AppResult<()> {
    let payload = deliver_job_payload(delivery_id)?;
    jobs::enqueue(
        &mut ctx.conn,
        &NewJob {
            kind: DELIVER,
            payload,
            dedupe_key: None,
            run_at: now,
            max_attempts: MAX_ATTEMPTS,
        },
        now,
    )
    .await?;
    Ok(())
}

/// Records and queues the deliveries these events call for.
pub async fn on_events(app: &App, events: &[Event]) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let events = events.to_vec();
    let base = app.outbound.public_url.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let hooks = store::list_webhooks(&mut ctx.conn, true).await?;
                let bots = store::list_bots(&mut ctx.conn, true).await?;
                if hooks.is_empty() && bots.is_empty() {
                    return Ok(());
                }
                let now = now();
                for e in &events {
                    let mut targets: Vec<(&str, i64)> = hooks
                        .iter()
                        .filter(|h| subscribed(&h.events, e.kind))
                        .map(|h| (store::TARGET_WEBHOOK, h.id))
                        .collect();
                    let subscribed_bots: Vec<&ChatBot> = bots
                        .iter()
                        .filter(|b| subscribed(&b.events, e.kind))
                        .collect();
                    if targets.is_empty() && subscribed_bots.is_empty() {
                        continue;
                    }
                    let Some(p) = payload::build(&mut ctx.conn, e, &base).await? else {
                        continue;
                    };
                    let team = p.ticket.as_ref().and_then(|t| t.team_id);
                    targets.extend(
                        subscribed_bots
                            .iter()
                            .filter(|b| b.team_id.is_none() || b.team_id == team)
                            .map(|b| (store::TARGET_BOT, b.id)),
                    );
                    let json =
                        serde_json::to_string(&p).map_err(|e| AppError::Internal(e.to_string()))?;
                    for (kind, id) in targets {
                        let new = store::insert_delivery(
                            &mut ctx.conn,
                            kind,
                            id,
                            &e.id,
                            e.kind.as_str(),
                            &json,
                            now,
                        )
                        .await?;
                        if let Some(delivery_id) = new {
                            queue_attempt(ctx, delivery_id, now).await?;
                        }
                    }
                }
                Ok::<_, AppError>(())
            })
        })
        .await
}

/// The `hook.deliver` job.
pub async fn deliver_job(app: &App, job: &steward_store::jobs::Job) -> AppResult<()> {
    let p: DeliverJob = serde_json::from_str(&job.payload)
        .map_err(|e| AppError::Internal(format!("hook.deliver payload: {e}")))?;
    let last_try = job.attempts >= job.max_attempts;
    match attempt(app, p.delivery_id, last_try).await? {
        Ok(()) => Ok(()),
        // The queue retries with backoff; the delivery log already has the details.
        Err(why) => Err(AppError::Internal(format!(
            "delivery {} failed: {why}",
            p.delivery_id
        ))),
    }
}

pub(crate) enum Target {
    Webhook(Webhook),
    Bot(ChatBot),
}

impl Target {
    fn url(&self) -> &str {
        match self {
            Target::Webhook(w) => &w.url,
            Target::Bot(b) => &b.url,
        }
    }

    fn allow_private(&self) -> bool {
        match self {
            Target::Webhook(w) => w.allow_private,
            Target::Bot(b) => b.allow_private,
        }
    }

    fn active(&self) -> bool {
        match self {
            Target::Webhook(w) => w.active,
            Target::Bot(b) => b.active,
        }
    }
}

pub(crate) async fn load_target(
    conn: &mut sqlx::AnyConnection,
    kind: &str,
    id: i64,
) -> AppResult<Option<Target>> {
    Ok(match kind {
        store::TARGET_WEBHOOK => store::get_webhook(conn, id).await?.map(Target::Webhook),
        store::TARGET_BOT => store::get_bot(conn, id).await?.map(Target::Bot),
        _ => None,
    })
}

/// What a receiver answered.
struct Answer {
    status: Option<i64>,
    body: Option<String>,
    /// Why this is not a success; None when it is.
    error: Option<String>,
}

/// Attempts a delivery once and records the outcome. The outer error is Steward's own (the
/// database); the inner one says why the receiver did not take it.
pub(crate) async fn attempt(
    app: &App,
    delivery_id: i64,
    last_try: bool,
) -> AppResult<Result<(), String>> {
    let (d, target) = {
        let mut conn = app.read().await?;
        let Some(d) = store::get_delivery(&mut conn, delivery_id).await? else {
            return Ok(Ok(()));
        };
        let target = load_target(&mut conn, &d.target_kind, d.target_id).await?;
        (d, target)
    };
    if d.status == store::DELIVERED {
        return Ok(Ok(()));
    }
    let (answer, retryable) = match target {
        Some(t) if t.active() => (send(&t, &d).await, true),
        // Deactivated after the event: nothing more is sent to it, and nothing retried.
        _ => (
            Answer {
                status: None,
                body: None,
                error: Some("the target is inactive".into()),
            },
            false,
        ),
    };
    let status = match &answer.error {
        None => store::DELIVERED,
        Some(_) if last_try || !retryable => store::FAILED,
        Some(_) => store::PENDING,
    };
    let at = now();
    let result = match &answer.error {
        Some(e) if retryable => Err(e.clone()),
        _ => Ok(()),
    };
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                store::record_attempt(
                    &mut ctx.conn,
                    delivery_id,
                    &Attempt {
                        status,
                        response_status: answer.status,
                        response_body: answer.body.as_deref(),
                        error: answer.error.as_deref(),
                        at,
                    },
                )
                .await?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    Ok(result)
}

/// The first bytes of an answer as text, cut at a character boundary.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(RESPONSE_EXCERPT_BYTES)]);
    text.trim_end_matches('\u{FFFD}').to_string()
}

async fn send(target: &Target, d: &Delivery) -> Answer {
    match try_send(target, d).await {
        Ok(a) => a,
        Err(e) => Answer {
            status: None,
            body: None,
            error: Some(e),
        },
    }
}

async fn try_send(target: &Target, d: &Delivery) -> Result<Answer, String> {
    let url = ssrf::parse_url(target.url()).map_err(|e| e.to_string())?;
    let now_ms = now() / 1000;
    let (url, body, headers) = match target {
        Target::Webhook(w) => {
            let ts = now_ms / 1000;
            let body = d.payload.clone().into_bytes();
            let headers = vec![
                ("X-Steward-Event", d.event.clone()),
                ("X-Steward-Delivery", d.id.to_string()),
                ("X-Steward-Timestamp", ts.to_string()),
                (
                    "X-Steward-Signature",
                    signing::webhook_signature(&w.secret, ts, &body),
                ),
            ];
            (url, body, headers)
        }
        Target::Bot(b) => {
            let p: EventPayload = serde_json::from_str(&d.payload)
                .map_err(|e| format!("the stored payload cannot be read: {e}"))?;
            let lang = Lang::from_code(&b.locale).unwrap_or(Lang::ZhCn);
            let m = bots::message(lang, &p);
            let (url, json) =
                bots::request(&b.platform, &url, b.secret.as_deref(), lang, &m, now_ms);
            (url, json.to_string().into_bytes(), vec![])
        }
    };
    // Checked again now (the address may have changed since the target was saved) and the
    // connection pinned to the checked addresses: all of them, so a host with an IPv6 and an
    // IPv4 address still falls back from one to the other, but never to an unchecked one.
    let addrs = ssrf::resolve(&url, target.allow_private()).await?;
    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .no_proxy()
        .user_agent(USER_AGENT);
    if let Some(host) = url.host_str().filter(|h| !h.starts_with('[')) {
        client = client.resolve_to_addrs(host, &addrs);
    }
    let client = client.build().map_err(|e| e.to_string())?;
    let mut req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let mut res = req.send().await.map_err(|e| describe(&e))?;
    let status = res.status();
    let mut bytes = Vec::new();
    while bytes.len() < RESPONSE_READ_BYTES {
        match res.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(describe(&e)),
        }
    }
    let body = excerpt(&bytes);
    let error = if !status.is_success() {
        Some(format!("the receiver answered HTTP {}", status.as_u16()))
    } else if let Target::Bot(b) = target {
        let full = String::from_utf8_lossy(&bytes);
        bots::accepted(&b.platform, &full).err()
    } else {
        None
    };
    Ok(Answer {
        status: Some(i64::from(status.as_u16())),
        body: Some(body),
        error,
    })
}

/// A transport error with its causes, for the delivery log.
fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    s
}
