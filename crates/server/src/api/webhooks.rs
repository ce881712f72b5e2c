//! Webhooks, chat bots and their delivery log: /api/v1/webhooks, /api/v1/bots and
//! /api/v1/deliveries. Admins only.

use super::extract::{if_match_version, ApiActor, ApiJson};
use super::problem::Problem;
use crate::app::webhooks::payload::{ActorPart, CommentPart, EventPayload, TicketPart};
use crate::app::webhooks::targets::{
    self, AttemptView, BotInput, BotPatch, BotView, DeliveryDetail, DeliveryView, TargetKind,
    WebhookCreated, WebhookInput, WebhookPatch, WebhookView,
};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// This module's part of the OpenAPI document (merged into api::ApiDoc).
#[derive(OpenApi)]
#[openapi(
    paths(
        list_webhooks,
        create_webhook,
        get_webhook,
        update_webhook,
        delete_webhook,
        webhook_deliveries,
        ping_webhook,
        list_bots,
        create_bot,
        get_bot,
        update_bot,
        delete_bot,
        bot_deliveries,
        ping_bot,
        get_delivery,
        redeliver,
    ),
    components(schemas(EventPayload, TicketPart, ActorPart, CommentPart, AttemptView))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/webhooks", get(list_webhooks).post(create_webhook))
        .route(
            "/api/v1/webhooks/{id}",
            get(get_webhook)
                .patch(update_webhook)
                .delete(delete_webhook),
        )
        .route("/api/v1/webhooks/{id}/deliveries", get(webhook_deliveries))
        .route("/api/v1/webhooks/{id}/ping", post(ping_webhook))
        .route("/api/v1/bots", get(list_bots).post(create_bot))
        .route(
            "/api/v1/bots/{id}",
            get(get_bot).patch(update_bot).delete(delete_bot),
        )
        .route("/api/v1/bots/{id}/deliveries", get(bot_deliveries))
        .route("/api/v1/bots/{id}/ping", post(ping_bot))
        .route("/api/v1/deliveries/{id}", get(get_delivery))
        .route("/api/v1/deliveries/{id}/redeliver", post(redeliver))
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookView>,
}

#[derive(Serialize, ToSchema)]
pub struct BotList {
    pub items: Vec<BotView>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryView>,
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "integrations",
    responses((status = 200, body = WebhookList), (status = 403, body = Problem)))]
pub async fn list_webhooks(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<WebhookList>, Problem> {
    Ok(Json(WebhookList {
        items: targets::list_webhooks(&s.app, &actor).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "integrations", request_body = WebhookInput,
    responses((status = 201, body = WebhookCreated, description = "The secret is in this answer only"),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_webhook(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<WebhookInput>,
) -> Result<(StatusCode, Json<WebhookCreated>), Problem> {
    let v = targets::create_webhook(&s.app, &actor, input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "integrations", params(("id" = i64, Path)),
    responses((status = 200, body = WebhookView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_webhook(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<WebhookView>, Problem> {
    Ok(Json(targets::get_webhook(&s.app, &actor, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "integrations", request_body = WebhookPatch,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "\"{id}-{version}\" of the copy last read; 412 when stale")),
    responses((status = 200, body = WebhookView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update_webhook(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(p): ApiJson<WebhookPatch>,
) -> Result<Json<WebhookView>, Problem> {
    let version = if_match_version(&headers, id)?;
    Ok(Json(
        targets::update_webhook(&s.app, &actor, id, p, version).await?,
    ))
}

/// Deactivates the webhook; it and its delivery log stay for the record.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "integrations", params(("id" = i64, Path)),
    responses((status = 200, body = WebhookView, description = "Deactivated"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_webhook(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<WebhookView>, Problem> {
    Ok(Json(targets::deactivate_webhook(&s.app, &actor, id).await?))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "integrations", params(("id" = i64, Path)),
    responses((status = 200, body = DeliveryList), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn webhook_deliveries(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<DeliveryList>, Problem> {
    Ok(Json(DeliveryList {
        items: targets::deliveries(&s.app, &actor, TargetKind::Webhook, id).await?,
    }))
}

/// Sends a test event (`type` ping) now and answers with the delivery and its outcome.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/ping", tag = "integrations", params(("id" = i64, Path)),
    responses((status = 200, body = DeliveryView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn ping_webhook(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<DeliveryView>, Problem> {
    Ok(Json(
        targets::ping(&s.app, &actor, TargetKind::Webhook, id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/bots", tag = "integrations",
    responses((status = 200, body = BotList), (status = 403, body = Problem)))]
pub async fn list_bots(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<BotList>, Problem> {
    Ok(Json(BotList {
        items: targets::list_bots(&s.app, &actor).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/bots", tag = "integrations", request_body = BotInput,
    responses((status = 201, body = BotView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_bot(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<BotInput>,
) -> Result<(StatusCode, Json<BotView>), Problem> {
    let v = targets::create_bot(&s.app, &actor, input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(get, path = "/api/v1/bots/{id}", tag = "integrations", params(("id" = i64, Path)),
    responses((status = 200, body = BotView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_bot(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<BotView>, Problem> {
    Ok(Json(targets::get_bot(&s.app, &actor, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/bots/{id}", tag = "integrations", request_body = BotPatch,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "\"{id}-{version}\" of the copy last read; 412 when stale")),
    responses((status = 200, body = BotView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update_bot(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(p): ApiJson<BotPatch>,
) -> Result<Json<BotView>, Problem> {
    let version = if_match_version(&headers, id)?;
    Ok(Json(
        targets::update_bot(&s.app, &actor, id, p, version).await?,
    ))
}

/// Deactivates the bot; it and its delivery log stay for the record.
#[utoipa::path(delete, path = "/api/v1/bots/{id}", tag = "integrations", params(("id" = i64, Path)),
    responses((status = 200, body = BotView, description = "Deactivated"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_bot(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<BotView>, Problem> {
    Ok(Json(targets::deactivate_bot(&s.app, &actor, id).await?))
}

#[utoipa::path(get, path = "/api/v1/bots/{id}/deliveries", tag = "integrations", params(("id" = i64, Path)),
    responses((status = 200, body = DeliveryList), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn bot_deliveries(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<DeliveryList>, Problem> {
    Ok(Json(DeliveryList {
        items: targets::deliveries(&s.app, &actor, TargetKind::Bot, id).await?,
    }))
}

/// Sends a test message now and answers with the delivery and its outcome.
#[utoipa::path(post, path = "/api/v1/bots/{id}/ping", tag = "integrations", params(("id" = i64, Path)),
    responses((status = 200, body = DeliveryView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn ping_bot(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<DeliveryView>, Problem> {
    Ok(Json(
        targets::ping(&s.app, &actor, TargetKind::Bot, id).await?,
    ))
}

/// A delivery (webhook or bot) with every attempt of it and the receiver's answer to each.
#[utoipa::path(get, path = "/api/v1/deliveries/{id}", tag = "integrations", params(("id" = i64, Path)),
    responses((status = 200, body = DeliveryDetail), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_delivery(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<DeliveryDetail>, Problem> {
    Ok(Json(targets::delivery(&s.app, &actor, id).await?))
}

/// Queues the delivery again (with retries), e.g. after the receiver was fixed.
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/redeliver", tag = "integrations", params(("id" = i64, Path)),
    responses((status = 202, body = DeliveryView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "A job to send the delivery is still queued")))]
pub async fn redeliver(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<DeliveryView>), Problem> {
    let v = targets::redeliver(&s.app, &actor, id).await?;
    Ok((StatusCode::ACCEPTED, Json(v)))
}
