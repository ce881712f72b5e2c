//! Pages: webhooks and chat bots for admins. Each has a list with a form to add one, and a page
//! to edit it with its delivery log (status, answer, re-send) and a test button.

use super::form::{self, Fields};
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome};
use crate::app::accounts;
use crate::app::events::EventKind;
use crate::app::webhooks::bots::{event_key, LOCALES, PLATFORMS};
use crate::app::webhooks::targets::{
    self, BotInput, BotPatch, BotView, DeliveryDetail, TargetKind, WebhookInput, WebhookPatch,
    WebhookView,
};
use crate::app::AppError;
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use steward_store::webhooks::TARGET_BOT;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/webhooks", get(webhooks_page).post(create_webhook))
        .route(
            "/admin/webhooks/{id}",
            get(webhook_page).post(update_webhook),
        )
        .route("/admin/webhooks/{id}/ping", post(ping_webhook))
        .route("/admin/bots", get(bots_page).post(create_bot))
        .route("/admin/bots/{id}", get(bot_page).post(update_bot))
        .route("/admin/bots/{id}/ping", post(ping_bot))
        .route("/admin/deliveries/{id}/redeliver", post(redeliver))
}

/// One checkbox or option of a form.
pub struct Pick {
    pub value: String,
    pub label: String,
    pub on: bool,
}

/// What a webhook or bot form holds (as typed, or as saved).
#[derive(Default)]
struct Values {
    name: String,
    url: String,
    events: Vec<String>,
    allow_private: bool,
    active: bool,
    platform: String,
    team_id: String,
    locale: String,
}

impl Values {
    fn from_fields(f: &Fields) -> Values {
        Values {
            name: f.get("name").into(),
            url: f.get("url").into(),
            events: f.all("events").into_iter().map(String::from).collect(),
            allow_private: f.has("allow_private"),
            active: f.has("active"),
            platform: f.get("platform").into(),
            team_id: f.get("team_id").into(),
            locale: f.get("locale").into(),
        }
    }

    fn new_form() -> Values {
        Values {
            active: true,
            platform: "wecom".into(),
            locale: "zh-CN".into(),
            ..Default::default()
        }
    }

    fn from_webhook(w: &WebhookView) -> Values {
        Values {
            name: w.name.clone(),
            url: w.url.clone(),
            events: w.events.clone(),
            allow_private: w.allow_private,
            active: w.active,
            ..Default::default()
        }
    }

    fn from_bot(b: &BotView) -> Values {
        Values {
            name: b.name.clone(),
            // The saved address carries the robot's key; the form shows it hidden and a blank
            // field keeps it.
            url: String::new(),
            events: b.events.clone(),
            allow_private: b.allow_private,
            active: b.active,
            platform: b.platform.clone(),
            team_id: b.team_id.map(|t| t.to_string()).unwrap_or_default(),
            locale: b.locale.clone(),
        }
    }
}

fn event_label(c: &Chrome, kind: &str) -> String {
    c.t(&event_key(kind))
}

/// The choices of a form: event types, platforms, languages and teams.
struct Choices {
    events: Vec<Pick>,
    platforms: Vec<Pick>,
    locales: Vec<Pick>,
    teams: Vec<Pick>,
}

async fn choices(s: &AppState, u: &WebUser, c: &Chrome, v: &Values) -> Result<Choices, AppError> {
    let pick = |value: &str, label: String, on: bool| Pick {
        value: value.into(),
        label,
        on,
    };
    let teams = accounts::list_teams(&s.app, &u.actor).await?;
    Ok(Choices {
        events: EventKind::ALL
            .iter()
            .map(|k| {
                pick(
                    k.as_str(),
                    event_label(c, k.as_str()),
                    v.events.iter().any(|e| e == k.as_str()),
                )
            })
            .collect(),
        platforms: PLATFORMS
            .iter()
            .map(|p| pick(p, c.t(&format!("hooks-platform-{p}")), v.platform == *p))
            .collect(),
        locales: LOCALES
            .iter()
            .map(|l| pick(l, c.t(&format!("hooks-locale-{l}")), v.locale == *l))
            .collect(),
        teams: teams
            .iter()
            .map(|t| {
                pick(
                    &t.id.to_string(),
                    t.name.clone(),
                    v.team_id == t.id.to_string(),
                )
            })
            .collect(),
    })
}

// --- webhooks ---

#[derive(Template)]
#[template(path = "hooks_webhooks.html")]
struct WebhooksPage {
    c: Chrome,
    hooks: Vec<WebhookView>,
    v: Values,
    ch: Choices,
    /// The secret of the webhook just created: shown this once.
    created: Option<(i64, String)>,
    error: Option<String>,
    error_field: String,
}

async fn webhooks_view(
    s: &AppState,
    u: &WebUser,
    v: Values,
    created: Option<(i64, String)>,
    error: Option<&AppError>,
) -> Result<WebhooksPage, AppError> {
    let c = Chrome::new(u, "admin");
    let hooks = targets::list_webhooks(&s.app, &u.actor).await?;
    let ch = choices(s, u, &c, &v).await?;
    Ok(WebhooksPage {
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
        c,
        hooks,
        v,
        ch,
        created,
    })
}

async fn webhooks_page(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        let page = webhooks_view(&s, &u, Values::new_form(), None, None).await?;
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

async fn create_webhook(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let input = WebhookInput {
            name: f.get("name").into(),
            url: f.get("url").into(),
            secret: f.opt("secret"),
            events: f.all("events").into_iter().map(String::from).collect(),
            allow_private: f.has("allow_private"),
            active: Some(true),
        };
        match targets::create_webhook(&s.app, &u.actor, input).await {
            // Not a redirect: the secret is shown on this answer and never again.
            Ok(created) => {
                let shown = Some((created.webhook.id, created.secret));
                let page = webhooks_view(&s, &u, Values::new_form(), shown, None).await?;
                Ok(render(StatusCode::CREATED, &page))
            }
            Err(e @ AppError::Forbidden(_)) => Err(e),
            Err(e) => {
                let page = webhooks_view(&s, &u, Values::from_fields(&f), None, Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "hooks_webhook.html")]
struct WebhookPage {
    c: Chrome,
    w: WebhookView,
    v: Values,
    ch: Choices,
    log: Vec<DeliveryDetail>,
    error: Option<String>,
    error_field: String,
}

async fn webhook_view(
    s: &AppState,
    u: &WebUser,
    id: i64,
    typed: Option<&Fields>,
    error: Option<&AppError>,
) -> Result<WebhookPage, AppError> {
    let c = Chrome::new(u, "admin");
    let w = targets::get_webhook(&s.app, &u.actor, id).await?;
    let v = match typed {
        Some(f) => Values::from_fields(f),
        None => Values::from_webhook(&w),
    };
    let ch = choices(s, u, &c, &v).await?;
    let log = targets::deliveries_with_attempts(&s.app, &u.actor, TargetKind::Webhook, id).await?;
    Ok(WebhookPage {
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
        c,
        w,
        v,
        ch,
        log,
    })
}

async fn webhook_page(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = async {
        let page = webhook_view(&s, &u, id, None, None).await?;
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

async fn update_webhook(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let patch = WebhookPatch {
            name: Some(f.get("name").into()),
            url: Some(f.get("url").into()),
            secret: f.opt("secret"),
            events: Some(f.all("events").into_iter().map(String::from).collect()),
            allow_private: Some(f.has("allow_private")),
            active: Some(f.has("active")),
        };
        match targets::update_webhook(&s.app, &u.actor, id, patch, f.version()).await {
            Ok(_) => Ok(see_other(&format!("/admin/webhooks/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let typed = (!matches!(e, AppError::Stale)).then_some(&f);
                let page = webhook_view(&s, &u, id, typed, Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

async fn ping_webhook(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        targets::ping(&s.app, &u.actor, TargetKind::Webhook, id).await?;
        Ok(see_other(&format!("/admin/webhooks/{id}")))
    }
    .await;
    finish(&u, r)
}

// --- bots ---

#[derive(Template)]
#[template(path = "hooks_bots.html")]
struct BotsPage {
    c: Chrome,
    bots: Vec<BotView>,
    v: Values,
    ch: Choices,
    error: Option<String>,
    error_field: String,
}

async fn bots_view(
    s: &AppState,
    u: &WebUser,
    v: Values,
    error: Option<&AppError>,
) -> Result<BotsPage, AppError> {
    let c = Chrome::new(u, "admin");
    let bots = targets::list_bots(&s.app, &u.actor).await?;
    let ch = choices(s, u, &c, &v).await?;
    Ok(BotsPage {
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
        c,
        bots,
        v,
        ch,
    })
}

async fn bots_page(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        let page = bots_view(&s, &u, Values::new_form(), None).await?;
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

async fn create_bot(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let result = async {
            let input = BotInput {
                name: f.get("name").into(),
                platform: f.get("platform").into(),
                url: f.get("url").into(),
                secret: f.opt("secret"),
                team_id: f.id("team_id")?,
                events: f.all("events").into_iter().map(String::from).collect(),
                locale: f.opt("locale"),
                allow_private: f.has("allow_private"),
                active: Some(true),
            };
            targets::create_bot(&s.app, &u.actor, input).await
        }
        .await;
        match result {
            Ok(b) => Ok(see_other(&format!("/admin/bots/{}", b.id))),
            Err(e @ AppError::Forbidden(_)) => Err(e),
            Err(e) => {
                let page = bots_view(&s, &u, Values::from_fields(&f), Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "hooks_bot.html")]
struct BotPage {
    c: Chrome,
    b: BotView,
    v: Values,
    ch: Choices,
    log: Vec<DeliveryDetail>,
    error: Option<String>,
    error_field: String,
}

async fn bot_view(
    s: &AppState,
    u: &WebUser,
    id: i64,
    typed: Option<&Fields>,
    error: Option<&AppError>,
) -> Result<BotPage, AppError> {
    let c = Chrome::new(u, "admin");
    let b = targets::get_bot(&s.app, &u.actor, id).await?;
    let v = match typed {
        Some(f) => Values::from_fields(f),
        None => Values::from_bot(&b),
    };
    let ch = choices(s, u, &c, &v).await?;
    let log = targets::deliveries_with_attempts(&s.app, &u.actor, TargetKind::Bot, id).await?;
    Ok(BotPage {
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
        c,
        b,
        v,
        ch,
        log,
    })
}

async fn bot_page(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = async {
        let page = bot_view(&s, &u, id, None, None).await?;
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

async fn update_bot(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let result = async {
            // Blank address or secret: keep the saved one; "remove_secret" clears it.
            let secret = if f.has("remove_secret") {
                Some(None)
            } else {
                f.opt("secret").map(Some)
            };
            let patch = BotPatch {
                name: Some(f.get("name").into()),
                platform: Some(f.get("platform").into()),
                url: f.opt("url"),
                secret,
                team_id: Some(f.id("team_id")?),
                events: Some(f.all("events").into_iter().map(String::from).collect()),
                locale: Some(f.get("locale").into()),
                allow_private: Some(f.has("allow_private")),
                active: Some(f.has("active")),
            };
            targets::update_bot(&s.app, &u.actor, id, patch, f.version()).await
        }
        .await;
        match result {
            Ok(_) => Ok(see_other(&format!("/admin/bots/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let typed = (!matches!(e, AppError::Stale)).then_some(&f);
                let page = bot_view(&s, &u, id, typed, Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

async fn ping_bot(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        targets::ping(&s.app, &u.actor, TargetKind::Bot, id).await?;
        Ok(see_other(&format!("/admin/bots/{id}")))
    }
    .await;
    finish(&u, r)
}

async fn redeliver(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let d = targets::redeliver(&s.app, &u.actor, id).await?;
        let page = if d.target_kind == TARGET_BOT {
            "bots"
        } else {
            "webhooks"
        };
        Ok(see_other(&format!("/admin/{page}/{}", d.target_id)))
    }
    .await;
    finish(&u, r)
}
