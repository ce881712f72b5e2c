//! Mailboxes and the quarantine of received mail: /api/v1/mailboxes,
//! /api/v1/inbound-messages and a ticket's messages.

use super::extract::{if_match_version, ApiActor, ApiJson};
use super::problem::Problem;
use crate::app::inbound::mailboxes::{self, MailboxInput, MailboxPatch, MailboxView};
use crate::app::inbound::messages::{self, MessageDetail, MessageView};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// This module's part of the OpenAPI document (merged into api::ApiDoc).
#[derive(OpenApi)]
#[openapi(paths(
    list_mailboxes,
    create_mailbox,
    get_mailbox,
    update_mailbox,
    list_messages,
    get_message,
    raw_message,
    reprocess,
    dismiss,
    ticket_messages
))]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/mailboxes",
            get(list_mailboxes).post(create_mailbox),
        )
        .route(
            "/api/v1/mailboxes/{id}",
            get(get_mailbox).patch(update_mailbox),
        )
        .route("/api/v1/inbound-messages", get(list_messages))
        .route("/api/v1/inbound-messages/{id}", get(get_message))
        .route("/api/v1/inbound-messages/{id}/raw", get(raw_message))
        .route("/api/v1/inbound-messages/{id}/reprocess", post(reprocess))
        .route("/api/v1/inbound-messages/{id}/dismiss", post(dismiss))
        .route("/api/v1/tickets/{id}/messages", get(ticket_messages))
}

fn with_etag(view: MailboxView, status: StatusCode) -> Response {
    let etag = view.etag();
    let mut res = (status, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

#[derive(Serialize, ToSchema)]
pub struct MailboxList {
    pub items: Vec<MailboxView>,
}

#[utoipa::path(get, path = "/api/v1/mailboxes", tag = "mail",
    responses((status = 200, body = MailboxList), (status = 403, body = Problem)))]
pub async fn list_mailboxes(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<MailboxList>, Problem> {
    Ok(Json(MailboxList {
        items: mailboxes::list_mailboxes(&s.app, &actor).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/mailboxes", tag = "mail", request_body = MailboxInput,
    responses((status = 201, body = MailboxView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_mailbox(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<MailboxInput>,
) -> Result<Response, Problem> {
    let v = mailboxes::create_mailbox(&s.app, &actor, input).await?;
    Ok(with_etag(v, StatusCode::CREATED))
}

#[utoipa::path(get, path = "/api/v1/mailboxes/{id}", tag = "mail", params(("id" = i64, Path)),
    responses((status = 200, body = MailboxView, headers(("ETag" = String))), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_mailbox(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let v = mailboxes::get_mailbox(&s.app, &actor, id).await?;
    Ok(with_etag(v, StatusCode::OK))
}

#[utoipa::path(patch, path = "/api/v1/mailboxes/{id}", tag = "mail", request_body = MailboxPatch,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when stale")),
    responses((status = 200, body = MailboxView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update_mailbox(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(p): ApiJson<MailboxPatch>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let v = mailboxes::update_mailbox(&s.app, &actor, id, p, version).await?;
    Ok(with_etag(v, StatusCode::OK))
}

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    pub items: Vec<MessageView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// received, processed, quarantined or ignored
    pub status: Option<String>,
    /// 1 to 200, default 50
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/inbound-messages", tag = "mail", params(MessageQuery),
    responses((status = 200, body = MessageList), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_messages(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<MessageList>, Problem> {
    let q: MessageQuery = super::query_params(uri.query())?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| crate::app::AppError::invalid("cursor", "is not a cursor"))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(50);
    let items = messages::list_messages(&s.app, &actor, q.status, before, Some(limit)).await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|m| m.id.to_string()))
        .flatten();
    Ok(Json(MessageList { items, next_cursor }))
}

#[utoipa::path(get, path = "/api/v1/inbound-messages/{id}", tag = "mail", params(("id" = i64, Path)),
    responses((status = 200, body = MessageDetail), (status = 404, body = Problem)))]
pub async fn get_message(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<MessageDetail>, Problem> {
    Ok(Json(messages::get_message(&s.app, &actor, id).await?))
}

/// The original message as a download (never shown inline).
pub fn eml_response(id: i64, bytes: bytes::Bytes) -> Response {
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"message-{id}.eml\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    res
}

#[utoipa::path(get, path = "/api/v1/inbound-messages/{id}/raw", tag = "mail", params(("id" = i64, Path)),
    responses((status = 200, description = "The message as received (message/rfc822)", content_type = "message/rfc822"), (status = 404, body = Problem)))]
pub async fn raw_message(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let bytes = messages::raw_message(&s.app, &actor, id).await?;
    Ok(eml_response(id, bytes))
}

#[utoipa::path(post, path = "/api/v1/inbound-messages/{id}/reprocess", tag = "mail", params(("id" = i64, Path)),
    responses((status = 200, body = MessageView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn reprocess(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<MessageView>, Problem> {
    Ok(Json(messages::reprocess(&s.app, &actor, id).await?))
}

#[utoipa::path(post, path = "/api/v1/inbound-messages/{id}/dismiss", tag = "mail", params(("id" = i64, Path)),
    responses((status = 200, body = MessageView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn dismiss(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<MessageView>, Problem> {
    Ok(Json(messages::dismiss(&s.app, &actor, id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct TicketMessageList {
    pub items: Vec<MessageView>,
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}/messages", tag = "mail", params(("id" = i64, Path)),
    responses((status = 200, body = TicketMessageList), (status = 404, body = Problem)))]
pub async fn ticket_messages(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<TicketMessageList>, Problem> {
    Ok(Json(TicketMessageList {
        items: messages::ticket_messages(&s.app, &actor, id).await?,
    }))
}
