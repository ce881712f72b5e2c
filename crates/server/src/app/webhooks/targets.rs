//! Managing the targets: webhook subscriptions and chat bots, their delivery logs, re-sending
//! a delivery and a test delivery (ping). Admins only (`ManageAccounts`); every change audited.
//!
//! Secrets are never shown back: a webhook's signing secret appears once, in the answer to its
//! creation; a bot's signing secret never (the platform gave it to the admin), and a bot's URL,
//! whose query carries the robot's key or access token, is shown with the query values hidden.

use super::bots::{LOCALES, PLATFORMS};
use super::payload::{self, ActorPart};
use super::{attempt, attempt_queued, load_target, queue_attempt, ssrf, Target};
use crate::app::accounts::double_option;
use crate::app::error::text_field;
use crate::app::events::EventKind;
use crate::app::views::instant;
use crate::app::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use steward_core::text::single_line;
use steward_core::Capability;
use steward_store::accounts;
use steward_store::webhooks::{self as store, AttemptRecord, ChatBot, Delivery, Webhook};
use utoipa::ToSchema;

const NAME_MAX: usize = 200;
const SECRET_MIN: usize = 16;
const SECRET_MAX: usize = 200;
/// How many deliveries a log shows.
const LOG_LIMIT: i64 = 100;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub name: String,
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// Whether loopback and private-network targets are allowed.
    pub allow_private: bool,
    pub active: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

fn events_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl WebhookView {
    fn new(w: &Webhook) -> WebhookView {
        WebhookView {
            id: w.id,
            name: w.name.clone(),
            url: w.url.clone(),
            events: events_of(&w.events),
            allow_private: w.allow_private,
            active: w.active,
            version: w.version,
            created_at: instant(w.created_at),
            updated_at: instant(w.updated_at),
        }
    }
}

/// The answer to creating a webhook: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The HMAC-SHA256 key of `X-Steward-Signature`. Keep it: it is never shown again.
    pub secret: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    pub name: String,
    /// http or https.
    pub url: String,
    /// The signing secret (16 to 200 characters); Steward generates one when absent.
    pub secret: Option<String>,
    /// At least one event type.
    pub events: Vec<String>,
    /// Lets the target be on loopback or a private network.
    #[serde(default)]
    pub allow_private: bool,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    /// A new signing secret (rotation); it is not shown back.
    pub secret: Option<String>,
    pub events: Option<Vec<String>>,
    pub allow_private: Option<bool>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BotView {
    pub id: i64,
    pub name: String,
    /// wecom, dingtalk or feishu
    pub platform: String,
    /// The robot's address with its query values (key, access token) hidden.
    pub url: String,
    /// Whether a signing secret is set (DingTalk, Feishu).
    pub signed: bool,
    /// Only this team's tickets; null for every team.
    pub team_id: Option<i64>,
    pub events: Vec<String>,
    /// zh-CN or en: the language of the messages.
    pub locale: String,
    pub allow_private: bool,
    pub active: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// A robot's address as it may be shown. The platforms put the robot's credential in it:
/// WeCom and DingTalk in the query (`key`, `access_token`), Feishu / Lark as the last path
/// segment (`/open-apis/bot/v2/hook/<token>`). Query values, and Feishu's last segment, become
/// `***`.
fn shown_bot_url(platform: &str, raw: &str) -> String {
    // Saved addresses were parsed when saved; anything else is shown as nothing at all.
    let Ok(mut url) = reqwest::Url::parse(raw) else {
        return "***".into();
    };
    if url.query().is_some() {
        let keys: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
        url.query_pairs_mut().clear();
        for k in keys {
            url.query_pairs_mut().append_pair(&k, "***");
        }
    }
    if platform == "feishu" {
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().pop().push("***");
        }
    }
    url.to_string()
}

impl BotView {
    fn new(b: &ChatBot) -> BotView {
        BotView {
            id: b.id,
            name: b.name.clone(),
            platform: b.platform.clone(),
            url: shown_bot_url(&b.platform, &b.url),
            signed: b.secret.is_some(),
            team_id: b.team_id,
            events: events_of(&b.events),
            locale: b.locale.clone(),
            allow_private: b.allow_private,
            active: b.active,
            version: b.version,
            created_at: instant(b.created_at),
            updated_at: instant(b.updated_at),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotInput {
    pub name: String,
    /// wecom, dingtalk or feishu
    pub platform: String,
    /// The robot's webhook address as the platform shows it.
    pub url: String,
    /// The signing secret the platform shows (DingTalk "SEC...", Feishu); none for WeCom.
    pub secret: Option<String>,
    /// Only this team's tickets; absent for every team.
    pub team_id: Option<i64>,
    pub events: Vec<String>,
    /// zh-CN (default) or en
    pub locale: Option<String>,
    #[serde(default)]
    pub allow_private: bool,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotPatch {
    pub name: Option<String>,
    pub platform: Option<String>,
    pub url: Option<String>,
    /// A new signing secret; null removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub team_id: Option<Option<i64>>,
    pub events: Option<Vec<String>>,
    pub locale: Option<String>,
    pub allow_private: Option<bool>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// webhook or bot
    pub target_kind: String,
    pub target_id: i64,
    pub event_id: String,
    pub event: String,
    /// pending, delivered or failed
    pub status: String,
    pub attempts: i64,
    /// The HTTP status of the last answer.
    pub response_status: Option<i64>,
    /// The first 2 KB of the last answer.
    pub response_body: Option<String>,
    /// Why the last attempt did not succeed.
    pub error: Option<String>,
    pub created_at: String,
    pub last_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    /// What is sent: the event payload (docs/webhooks.md).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl DeliveryView {
    fn new(d: &Delivery) -> DeliveryView {
        DeliveryView {
            id: d.id,
            target_kind: d.target_kind.clone(),
            target_id: d.target_id,
            event_id: d.event_id.clone(),
            event: d.event.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            response_status: d.response_status,
            response_body: d.response_body.clone(),
            error: d.error.clone(),
            created_at: instant(d.created_at),
            last_attempt_at: d.last_attempt_at.map(instant),
            delivered_at: d.delivered_at.map(instant),
            payload: serde_json::from_str(&d.payload).unwrap_or_default(),
        }
    }
}

/// One attempt of a delivery, with the receiver's answer or why there was none.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the first attempt, counting re-sends.
    pub attempt: i64,
    pub at: String,
    /// The HTTP status the receiver answered; null when it did not answer.
    pub response_status: Option<i64>,
    /// The first 2 KB of the answer.
    pub response_body: Option<String>,
    /// Why this attempt did not succeed; null when it did.
    pub error: Option<String>,
}

impl AttemptView {
    fn new(a: &AttemptRecord) -> AttemptView {
        AttemptView {
            attempt: a.attempt,
            at: instant(a.at),
            response_status: a.response_status,
            response_body: a.response_body.clone(),
            error: a.error.clone(),
        }
    }
}

/// A delivery with every attempt of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    /// Every attempt, first to last.
    pub attempt_log: Vec<AttemptView>,
}

fn require_admin(actor: &Actor) -> AppResult<()> {
    actor.require(Capability::ManageAccounts)
}

fn check_name(v: &str) -> AppResult<String> {
    text_field("name", single_line(v, NAME_MAX))
}

/// The event types as stored: known, at least one, each once, in the canonical order.
fn check_events(v: &[String]) -> AppResult<String> {
    let mut kinds = Vec::new();
    for (i, e) in v.iter().enumerate() {
        kinds.push(EventKind::parse(&format!("events[{i}]"), e.trim())?);
    }
    if kinds.is_empty() {
        return Err(AppError::invalid(
            "events",
            "is required: at least one event type",
        ));
    }
    let names: Vec<&str> = EventKind::ALL
        .iter()
        .filter(|k| kinds.contains(k))
        .map(|k| k.as_str())
        .collect();
    serde_json::to_string(&names).map_err(|e| AppError::Internal(e.to_string()))
}

/// A signing secret's text: at most SECRET_MAX characters, none of them a control character.
fn check_secret_text(v: &str) -> AppResult<String> {
    if v.chars().count() > SECRET_MAX {
        return Err(AppError::invalid(
            "secret",
            format!("is longer than {SECRET_MAX} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(AppError::invalid("secret", "contains a control character"));
    }
    Ok(v.to_string())
}

/// A webhook's secret: receivers verify with it, so it must be too long to guess.
fn check_secret(v: &str) -> AppResult<String> {
    let v = v.trim();
    if v.chars().count() < SECRET_MIN {
        return Err(AppError::invalid(
            "secret",
            format!("must be at least {SECRET_MIN} characters"),
        ));
    }
    check_secret_text(v)
}

/// A bot's signing secret: the platform decides its form, so only length and characters.
fn check_bot_secret(v: &str) -> AppResult<Option<String>> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    check_secret_text(v).map(Some)
}

fn check_platform(v: &str) -> AppResult<String> {
    PLATFORMS
        .iter()
        .find(|p| **p == v.trim())
        .map(|p| p.to_string())
        .ok_or_else(|| AppError::invalid("platform", "must be wecom, dingtalk or feishu"))
}

fn check_locale(v: &str) -> AppResult<String> {
    LOCALES
        .iter()
        .find(|l| **l == v.trim())
        .map(|l| l.to_string())
        .ok_or_else(|| AppError::invalid("locale", "must be zh-CN or en"))
}

/// A new webhook secret: 192 random bits.
fn generate_secret() -> String {
    format!("whsec_{}", crate::app::auth::random_hex(24))
}

/// A flag as the audit log records it: "true" or "false".
fn flag_value(b: bool) -> Option<String> {
    Some(b.to_string())
}

// --- webhooks ---

pub async fn list_webhooks(app: &App, actor: &Actor) -> AppResult<Vec<WebhookView>> {
    require_admin(actor)?;
    let mut conn = app.read().await?;
    let list = store::list_webhooks(&mut conn, false).await?;
    Ok(list.iter().map(WebhookView::new).collect())
}

pub async fn get_webhook(app: &App, actor: &Actor, id: i64) -> AppResult<WebhookView> {
    require_admin(actor)?;
    let mut conn = app.read().await?;
    let w = store::get_webhook(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(WebhookView::new(&w))
}

pub async fn create_webhook(
    app: &App,
    actor: &Actor,
    input: WebhookInput,
) -> AppResult<WebhookCreated> {
    require_admin(actor)?;
    let name = check_name(&input.name)?;
    let events = check_events(&input.events)?;
    let secret = match input.secret.as_deref() {
        Some(s) => check_secret(s)?,
        None => generate_secret(),
    };
    // Last: it may wait for DNS.
    let url = ssrf::check(&input.url, input.allow_private).await?;
    let now_ = now();
    let w = Webhook {
        id: 0,
        name,
        url: url.to_string(),
        secret,
        events,
        allow_private: input.allow_private,
        active: input.active.unwrap_or(true),
        version: 1,
        created_at: now_,
        updated_at: now_,
    };
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let mut w = w;
                w.id = store::insert_webhook(&mut ctx.conn, &w).await?;
                let trail = AuditTrail::new(&actor, "webhook", w.id, w.created_at);
                trail
                    .record(
                        ctx,
                        "create",
                        None,
                        None,
                        Some(format!("{} {} {}", w.name, w.url, w.events)),
                    )
                    .await?;
                if w.allow_private {
                    trail
                        .record(ctx, "update", Some("allow_private"), None, flag_value(true))
                        .await?;
                }
                Ok(WebhookCreated {
                    webhook: WebhookView::new(&w),
                    secret: w.secret,
                })
            })
        })
        .await
}

pub async fn update_webhook(
    app: &App,
    actor: &Actor,
    id: i64,
    p: WebhookPatch,
    if_match: Option<i64>,
) -> AppResult<WebhookView> {
    require_admin(actor)?;
    let current = {
        let mut conn = app.read().await?;
        store::get_webhook(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound)?
    };
    let name = p.name.as_deref().map(check_name).transpose()?;
    let events = p.events.as_deref().map(check_events).transpose()?;
    let secret = p.secret.as_deref().map(check_secret).transpose()?;
    let allow_private = p.allow_private.unwrap_or(current.allow_private);
    // Checked whenever the address or the permission changes.
    let url = match (&p.url, p.allow_private) {
        (None, None) => None,
        (raw, _) => Some(
            ssrf::check(raw.as_deref().unwrap_or(&current.url), allow_private)
                .await?
                .to_string(),
        ),
    };
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = store::get_webhook(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                if if_match.is_some_and(|v| v != old.version) || old.version != current.version {
                    return Err(AppError::Stale);
                }
                let mut w = old.clone();
                if let Some(v) = name {
                    w.name = v;
                }
                if let Some(v) = url {
                    w.url = v;
                }
                if let Some(v) = events {
                    w.events = v;
                }
                let rotated = secret.is_some();
                if let Some(v) = secret {
                    w.secret = v;
                }
                w.allow_private = allow_private;
                if let Some(v) = p.active {
                    w.active = v;
                }
                w.version += 1;
                w.updated_at = now();
                if !store::update_webhook(&mut ctx.conn, &w, old.version).await? {
                    return Err(AppError::Stale);
                }
                let trail = AuditTrail::new(&actor, "webhook", id, w.updated_at);
                trail
                    .changes(
                        ctx,
                        &[
                            ("name", Some(old.name.clone()), Some(w.name.clone())),
                            ("url", Some(old.url.clone()), Some(w.url.clone())),
                            ("events", Some(old.events.clone()), Some(w.events.clone())),
                            (
                                "allow_private",
                                flag_value(old.allow_private),
                                flag_value(w.allow_private),
                            ),
                            ("active", flag_value(old.active), flag_value(w.active)),
                        ],
                    )
                    .await?;
                if rotated {
                    // The audit log says that it changed, never what it is.
                    trail
                        .record(ctx, "update", Some("secret"), None, Some("rotated".into()))
                        .await?;
                }
                Ok(WebhookView::new(&w))
            })
        })
        .await
}

/// DELETE deactivates: the delivery log keeps referring to the webhook.
pub async fn deactivate_webhook(app: &App, actor: &Actor, id: i64) -> AppResult<WebhookView> {
    let patch = WebhookPatch {
        active: Some(false),
        ..Default::default()
    };
    update_webhook(app, actor, id, patch, None).await
}

// --- bots ---

pub async fn list_bots(app: &App, actor: &Actor) -> AppResult<Vec<BotView>> {
    require_admin(actor)?;
    let mut conn = app.read().await?;
    let list = store::list_bots(&mut conn, false).await?;
    Ok(list.iter().map(BotView::new).collect())
}

pub async fn get_bot(app: &App, actor: &Actor, id: i64) -> AppResult<BotView> {
    require_admin(actor)?;
    let mut conn = app.read().await?;
    let b = store::get_bot(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(BotView::new(&b))
}

async fn check_team(conn: &mut sqlx::AnyConnection, team: Option<i64>) -> AppResult<()> {
    if let Some(t) = team {
        accounts::get_team(conn, t)
            .await?
            .ok_or_else(|| AppError::invalid("team_id", "no such team"))?;
    }
    Ok(())
}

pub async fn create_bot(app: &App, actor: &Actor, input: BotInput) -> AppResult<BotView> {
    require_admin(actor)?;
    let name = check_name(&input.name)?;
    let platform = check_platform(&input.platform)?;
    let events = check_events(&input.events)?;
    let secret = input
        .secret
        .as_deref()
        .map(check_bot_secret)
        .transpose()?
        .flatten();
    let locale = check_locale(input.locale.as_deref().unwrap_or("zh-CN"))?;
    // Last: it may wait for DNS.
    let url = ssrf::check(&input.url, input.allow_private).await?;
    let now_ = now();
    let b = ChatBot {
        id: 0,
        name,
        platform,
        url: url.to_string(),
        secret,
        team_id: input.team_id,
        events,
        locale,
        allow_private: input.allow_private,
        active: input.active.unwrap_or(true),
        version: 1,
        created_at: now_,
        updated_at: now_,
    };
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let mut b = b;
                check_team(&mut ctx.conn, b.team_id).await?;
                b.id = store::insert_bot(&mut ctx.conn, &b).await?;
                let trail = AuditTrail::new(&actor, "chat_bot", b.id, b.created_at);
                trail
                    .record(
                        ctx,
                        "create",
                        None,
                        None,
                        Some(format!(
                            "{} {} {} {}",
                            b.name,
                            b.platform,
                            shown_bot_url(&b.platform, &b.url),
                            b.events
                        )),
                    )
                    .await?;
                if b.allow_private {
                    trail
                        .record(ctx, "update", Some("allow_private"), None, flag_value(true))
                        .await?;
                }
                Ok(BotView::new(&b))
            })
        })
        .await
}

pub async fn update_bot(
    app: &App,
    actor: &Actor,
    id: i64,
    p: BotPatch,
    if_match: Option<i64>,
) -> AppResult<BotView> {
    require_admin(actor)?;
    let current = {
        let mut conn = app.read().await?;
        store::get_bot(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound)?
    };
    let name = p.name.as_deref().map(check_name).transpose()?;
    let platform = p.platform.as_deref().map(check_platform).transpose()?;
    let events = p.events.as_deref().map(check_events).transpose()?;
    let locale = p.locale.as_deref().map(check_locale).transpose()?;
    let secret = match &p.secret {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) => Some(check_bot_secret(s)?),
    };
    let allow_private = p.allow_private.unwrap_or(current.allow_private);
    // The address sent back as it is shown (its credential hidden) means "keep the saved one".
    let new_url = p
        .url
        .as_deref()
        .filter(|u| *u != shown_bot_url(&current.platform, &current.url));
    let url = match (new_url, p.allow_private) {
        (None, None) => None,
        (raw, _) => Some(
            ssrf::check(raw.unwrap_or(&current.url), allow_private)
                .await?
                .to_string(),
        ),
    };
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = store::get_bot(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                if if_match.is_some_and(|v| v != old.version) || old.version != current.version {
                    return Err(AppError::Stale);
                }
                let mut b = old.clone();
                if let Some(v) = name {
                    b.name = v;
                }
                if let Some(v) = platform {
                    b.platform = v;
                }
                if let Some(v) = url {
                    b.url = v;
                }
                let secret_changed = secret.as_ref().is_some_and(|s| *s != old.secret);
                if let Some(v) = secret {
                    b.secret = v;
                }
                if let Some(v) = p.team_id {
                    check_team(&mut ctx.conn, v).await?;
                    b.team_id = v;
                }
                if let Some(v) = events {
                    b.events = v;
                }
                if let Some(v) = locale {
                    b.locale = v;
                }
                b.allow_private = allow_private;
                if let Some(v) = p.active {
                    b.active = v;
                }
                b.version += 1;
                b.updated_at = now();
                if !store::update_bot(&mut ctx.conn, &b, old.version).await? {
                    return Err(AppError::Stale);
                }
                let trail = AuditTrail::new(&actor, "chat_bot", id, b.updated_at);
                let team = |t: Option<i64>| t.map(|t| t.to_string());
                trail
                    .changes(
                        ctx,
                        &[
                            ("name", Some(old.name.clone()), Some(b.name.clone())),
                            (
                                "platform",
                                Some(old.platform.clone()),
                                Some(b.platform.clone()),
                            ),
                            ("team_id", team(old.team_id), team(b.team_id)),
                            ("events", Some(old.events.clone()), Some(b.events.clone())),
                            ("locale", Some(old.locale.clone()), Some(b.locale.clone())),
                            (
                                "allow_private",
                                flag_value(old.allow_private),
                                flag_value(b.allow_private),
                            ),
                            ("active", flag_value(old.active), flag_value(b.active)),
                        ],
                    )
                    .await?;
                // Compared as saved, not as shown: a new key leaves the shown address alike.
                if old.url != b.url {
                    trail
                        .record(
                            ctx,
                            "update",
                            Some("url"),
                            Some(shown_bot_url(&old.platform, &old.url)),
                            Some(shown_bot_url(&b.platform, &b.url)),
                        )
                        .await?;
                }
                if secret_changed {
                    let what = if b.secret.is_some() { "set" } else { "removed" };
                    trail
                        .record(ctx, "update", Some("secret"), None, Some(what.into()))
                        .await?;
                }
                Ok(BotView::new(&b))
            })
        })
        .await
}

/// DELETE deactivates: the delivery log keeps referring to the bot.
pub async fn deactivate_bot(app: &App, actor: &Actor, id: i64) -> AppResult<BotView> {
    let patch = BotPatch {
        active: Some(false),
        ..Default::default()
    };
    update_bot(app, actor, id, patch, None).await
}

// --- deliveries ---

/// `webhook` or `bot`, as the delivery log names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Webhook,
    Bot,
}

impl TargetKind {
    fn as_str(self) -> &'static str {
        match self {
            TargetKind::Webhook => store::TARGET_WEBHOOK,
            TargetKind::Bot => store::TARGET_BOT,
        }
    }

    fn entity(self) -> &'static str {
        match self {
            TargetKind::Webhook => "webhook",
            TargetKind::Bot => "chat_bot",
        }
    }
}

async fn existing_target(app: &App, kind: TargetKind, id: i64) -> AppResult<Target> {
    let mut conn = app.read().await?;
    load_target(&mut conn, kind.as_str(), id)
        .await?
        .ok_or(AppError::NotFound)
}

/// A target's deliveries, newest first.
pub async fn deliveries(
    app: &App,
    actor: &Actor,
    kind: TargetKind,
    id: i64,
) -> AppResult<Vec<DeliveryView>> {
    require_admin(actor)?;
    existing_target(app, kind, id).await?;
    let mut conn = app.read().await?;
    let list = store::list_deliveries(&mut conn, kind.as_str(), id, LOG_LIMIT).await?;
    Ok(list.iter().map(DeliveryView::new).collect())
}

/// A target's deliveries, newest first, each with its attempts (the admin pages' log).
pub async fn deliveries_with_attempts(
    app: &App,
    actor: &Actor,
    kind: TargetKind,
    id: i64,
) -> AppResult<Vec<DeliveryDetail>> {
    require_admin(actor)?;
    existing_target(app, kind, id).await?;
    let mut conn = app.read().await?;
    let list = store::list_deliveries(&mut conn, kind.as_str(), id, LOG_LIMIT).await?;
    let Some(oldest) = list.last() else {
        return Ok(vec![]);
    };
    let attempts = store::list_target_attempts(&mut conn, kind.as_str(), id, oldest.id).await?;
    Ok(list
        .iter()
        .map(|d| DeliveryDetail {
            delivery: DeliveryView::new(d),
            attempt_log: attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .map(AttemptView::new)
                .collect(),
        })
        .collect())
}

/// One delivery with every attempt of it.
pub async fn delivery(app: &App, actor: &Actor, delivery_id: i64) -> AppResult<DeliveryDetail> {
    require_admin(actor)?;
    let mut conn = app.read().await?;
    let d = store::get_delivery(&mut conn, delivery_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let attempts = store::list_attempts(&mut conn, delivery_id).await?;
    Ok(DeliveryDetail {
        delivery: DeliveryView::new(&d),
        attempt_log: attempts.iter().map(AttemptView::new).collect(),
    })
}

/// Sends a delivery again (after the receiver was fixed), through the queue with retries.
pub async fn redeliver(app: &App, actor: &Actor, delivery_id: i64) -> AppResult<DeliveryView> {
    require_admin(actor)?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let d = store::get_delivery(&mut ctx.conn, delivery_id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                // Only a queued job makes it "waiting": a delivery left pending by a job that
                // died before recording its outcome can be sent again.
                if attempt_queued(ctx, d.id).await? {
                    return Err(AppError::Conflict {
                        message: "the delivery is already waiting to be sent".into(),
                        allowed: None,
                    });
                }
                let now = now();
                store::reopen(&mut ctx.conn, d.id).await?;
                queue_attempt(ctx, d.id, now).await?;
                AuditTrail::new(&actor, "delivery", d.id, now)
                    .record(ctx, "redeliver", None, Some(d.status.clone()), None)
                    .await?;
                let d = store::get_delivery(&mut ctx.conn, delivery_id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                Ok(DeliveryView::new(&d))
            })
        })
        .await
}

/// A test delivery, sent now (once, no retries) so the admin sees the answer at once.
pub async fn ping(app: &App, actor: &Actor, kind: TargetKind, id: i64) -> AppResult<DeliveryView> {
    require_admin(actor)?;
    existing_target(app, kind, id).await?;
    let now_ = now();
    let event_id = format!("ping_{now_:x}_{}", crate::app::auth::random_hex(8));
    let by = actor.audit_id().map(|id| ActorPart {
        id,
        name: actor.name.clone(),
    });
    let body = serde_json::to_string(&payload::ping(event_id.clone(), now_, by))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let actor = actor.clone();
    let delivery_id = app
        .store
        .write(move |ctx| {
            Box::pin(async move {
                let delivery_id = store::insert_delivery(
                    &mut ctx.conn,
                    kind.as_str(),
                    id,
                    &event_id,
                    payload::PING,
                    &body,
                    now_,
                )
                .await?
                .ok_or_else(|| AppError::Internal("a ping id was used twice".into()))?;
                AuditTrail::new(&actor, kind.entity(), id, now_)
                    .record(ctx, "ping", None, None, Some(event_id))
                    .await?;
                Ok::<_, AppError>(delivery_id)
            })
        })
        .await?;
    // The answer is in the log; the admin reads it from the returned delivery.
    let _ = attempt(app, delivery_id, true).await?;
    let mut conn = app.read().await?;
    let d = store::get_delivery(&mut conn, delivery_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(DeliveryView::new(&d))
}
