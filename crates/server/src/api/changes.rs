//! Change enablement: /api/v1/changes (requests for change, their lifecycle and CAB votes),
//! /api/v1/change-templates, /api/v1/freeze-periods, the calendar and its iCalendar feed.

use super::extract::{if_match_version, ApiActor, ApiJson, CreateJson};
use super::problem::Problem;
use super::releases::HistoryList;
use crate::app::changes::calendar::{self, CalendarEntry, CalendarView, ConflictView};
use crate::app::changes::setup::{
    self, ChangeSettings, FreezeInput, FreezeView, RiskAnswerView, RiskQuestionView, TemplateInput,
    TemplateView,
};
use crate::app::changes::{
    self, ChangeInput, ChangePatch, ChangeSummary, ChangeView, ListQuery, NamedRef,
    TransitionInput, VoteInput, VoteView,
};
use crate::app::views::{parse_instant, Page};
use crate::app::{auth, AppError};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// This module's part of the OpenAPI document (merged into api::ApiDoc).
#[derive(OpenApi)]
#[openapi(
    paths(
        list_changes,
        create_change,
        get_change,
        change_history,
        update_change,
        transition,
        vote,
        risk_questions,
        get_settings,
        put_settings,
        list_templates,
        create_template,
        list_freezes,
        create_freeze,
        delete_freeze,
        get_calendar,
        calendar_ics,
    ),
    components(schemas(
        ChangeSummary,
        NamedRef,
        VoteView,
        CalendarEntry,
        ConflictView,
        RiskAnswerView
    ))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/changes", get(list_changes).post(create_change))
        .route("/api/v1/changes/risk-questions", get(risk_questions))
        .route(
            "/api/v1/changes/settings",
            get(get_settings).put(put_settings),
        )
        .route("/api/v1/changes/calendar", get(get_calendar))
        .route("/api/v1/changes/calendar.ics", get(calendar_ics))
        .route("/api/v1/changes/{id}", get(get_change).patch(update_change))
        .route("/api/v1/changes/{id}/history", get(change_history))
        .route("/api/v1/changes/{id}/transitions", post(transition))
        .route("/api/v1/changes/{id}/votes", post(vote))
        .route(
            "/api/v1/change-templates",
            get(list_templates).post(create_template),
        )
        .route(
            "/api/v1/freeze-periods",
            get(list_freezes).post(create_freeze),
        )
        .route("/api/v1/freeze-periods/{id}", delete(delete_freeze))
}

fn with_etag(v: ChangeView) -> Response {
    let etag = HeaderValue::from_str(&v.etag()).ok();
    let mut res = Json(v).into_response();
    if let Some(e) = etag {
        res.headers_mut().insert(header::ETAG, e);
    }
    res
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeQuery {
    pub status: Option<String>,
    pub change_type: Option<String>,
    /// Only changes waiting for the caller's CAB vote.
    pub awaiting_my_vote: Option<bool>,
    /// Number or title contains this (any case)
    pub q: Option<String>,
    /// 1..500, default 50
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/changes", tag = "changes", params(ChangeQuery),
    responses((status = 200, body = Page<ChangeSummary>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_changes(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<Page<ChangeSummary>>, Problem> {
    let q: ChangeQuery = super::query_params(uri.query())?;
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| AppError::invalid("cursor", "is not a cursor from this listing"))
        })
        .transpose()?;
    let query = ListQuery {
        status: q.status,
        change_type: q.change_type,
        awaiting_my_vote: q.awaiting_my_vote.unwrap_or(false),
        q: q.q,
        cursor,
        limit: q.limit.unwrap_or(50),
    };
    Ok(Json(changes::list(&s.app, &actor, query).await?))
}

#[utoipa::path(post, path = "/api/v1/changes", tag = "changes", request_body = ChangeInput,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ChangeView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_change(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: CreateJson<ChangeInput>,
) -> Result<Response, Problem> {
    let v = changes::create(&s.app, &actor, body.value, body.key).await?;
    let mut res = with_etag(v);
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

#[utoipa::path(get, path = "/api/v1/changes/{id}", tag = "changes", params(("id" = i64, Path)),
    responses((status = 200, body = ChangeView), (status = 404, body = Problem)))]
pub async fn get_change(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    Ok(with_etag(changes::get(&s.app, &actor, id).await?))
}

#[utoipa::path(get, path = "/api/v1/changes/{id}/history", tag = "changes", params(("id" = i64, Path)),
    responses((status = 200, body = HistoryList), (status = 404, body = Problem)))]
pub async fn change_history(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<HistoryList>, Problem> {
    Ok(Json(HistoryList {
        items: changes::history(&s.app, &actor, id).await?,
    }))
}

#[utoipa::path(patch, path = "/api/v1/changes/{id}", tag = "changes", request_body = ChangePatch,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "\"{id}-{version}\" of the copy last read; 412 when stale")),
    responses((status = 200, body = ChangeView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update_change(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(p): ApiJson<ChangePatch>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    Ok(with_etag(
        changes::update(&s.app, &actor, id, p, version).await?,
    ))
}

/// Moves the change to the next status: submitted (or approved, for a standard change),
/// assessed, scheduled (window, freeze check), implementing, implemented / failed /
/// backed_out, reviewed (notes and outcome), closed.
#[utoipa::path(post, path = "/api/v1/changes/{id}/transitions", tag = "changes", request_body = TransitionInput,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "\"{id}-{version}\"; 412 when stale")),
    responses((status = 200, body = ChangeView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Not allowed from this status, or in a freeze period without an override reason"),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn transition(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<TransitionInput>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    Ok(with_etag(
        changes::transition(&s.app, &actor, id, input, version).await?,
    ))
}

/// A CAB member's vote with its comment (required when rejecting).
#[utoipa::path(post, path = "/api/v1/changes/{id}/votes", tag = "changes", request_body = VoteInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = ChangeView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn vote(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<VoteInput>,
) -> Result<Response, Problem> {
    Ok(with_etag(changes::vote(&s.app, &actor, id, input).await?))
}

#[derive(Serialize, ToSchema)]
pub struct RiskQuestionList {
    pub items: Vec<RiskQuestionView>,
}

#[utoipa::path(get, path = "/api/v1/changes/risk-questions", tag = "changes",
    responses((status = 200, body = RiskQuestionList)))]
pub async fn risk_questions(ApiActor(actor): ApiActor) -> Result<Json<RiskQuestionList>, Problem> {
    changes::require_reader(&actor)?;
    Ok(Json(RiskQuestionList {
        items: setup::risk_questions(),
    }))
}

#[utoipa::path(get, path = "/api/v1/changes/settings", tag = "changes",
    responses((status = 200, body = ChangeSettings), (status = 404, body = Problem)))]
pub async fn get_settings(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<ChangeSettings>, Problem> {
    Ok(Json(setup::settings(&s.app, &actor).await?))
}

#[utoipa::path(put, path = "/api/v1/changes/settings", tag = "changes", request_body = ChangeSettings,
    responses((status = 200, body = ChangeSettings), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_settings(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<ChangeSettings>,
) -> Result<Json<ChangeSettings>, Problem> {
    Ok(Json(setup::set_settings(&s.app, &actor, input).await?))
}

#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    pub items: Vec<TemplateView>,
}

#[utoipa::path(get, path = "/api/v1/change-templates", tag = "changes",
    responses((status = 200, body = TemplateList), (status = 404, body = Problem)))]
pub async fn list_templates(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<TemplateList>, Problem> {
    Ok(Json(TemplateList {
        items: setup::list_templates(&s.app, &actor).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/change-templates", tag = "changes", request_body = TemplateInput,
    responses((status = 201, body = TemplateView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_template(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<TemplateInput>,
) -> Result<(StatusCode, Json<TemplateView>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(setup::create_template(&s.app, &actor, input).await?),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct FreezeList {
    pub items: Vec<FreezeView>,
}

#[utoipa::path(get, path = "/api/v1/freeze-periods", tag = "changes",
    responses((status = 200, body = FreezeList), (status = 404, body = Problem)))]
pub async fn list_freezes(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<FreezeList>, Problem> {
    Ok(Json(FreezeList {
        items: setup::list_freezes(&s.app, &actor).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/freeze-periods", tag = "changes", request_body = FreezeInput,
    responses((status = 201, body = FreezeView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_freeze(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<FreezeInput>,
) -> Result<(StatusCode, Json<FreezeView>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(setup::create_freeze(&s.app, &actor, input).await?),
    ))
}

#[utoipa::path(delete, path = "/api/v1/freeze-periods/{id}", tag = "changes", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_freeze(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    setup::delete_freeze(&s.app, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// RFC 3339; the range is [from, to), at most 400 days
    pub from: String,
    pub to: String,
}

#[utoipa::path(get, path = "/api/v1/changes/calendar", tag = "changes", params(CalendarQuery),
    responses((status = 200, body = CalendarView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn get_calendar(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<CalendarView>, Problem> {
    let q: CalendarQuery = super::query_params(uri.query())?;
    let from = parse_instant(&q.from)
        .ok_or_else(|| AppError::invalid("from", "is not an RFC 3339 time"))?;
    let to =
        parse_instant(&q.to).ok_or_else(|| AppError::invalid("to", "is not an RFC 3339 time"))?;
    if to <= from || to - from > 400 * 86_400 * 1_000_000 {
        return Err(AppError::invalid("to", "must be after from, within 400 days").into());
    }
    Ok(Json(calendar::calendar(&s.app, &actor, from, to).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// A personal API token, for calendar programs that cannot send an Authorization header.
    pub token: Option<String>,
}

/// The change calendar as an iCalendar feed (text/calendar): changes 90 days back to 400 days
/// ahead and freeze periods. Authenticate with `Authorization: Bearer <token>` or, for
/// calendar programs, `?token=<personal API token>`.
#[utoipa::path(get, path = "/api/v1/changes/calendar.ics", tag = "changes", params(FeedQuery),
    responses((status = 200, content_type = "text/calendar", body = String), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn calendar_ics(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, Problem> {
    let q: FeedQuery = super::query_params(uri.query())?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let Some(token) = bearer.or(q.token) else {
        return Err(Problem::from(AppError::Unauthenticated).with_field("token"));
    };
    let actor = auth::token_actor(&s.app, &token)
        .await
        .map_err(|e| Problem::from(e).with_field("token"))?;
    let body = calendar::ics(&s.app, &actor).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body,
    )
        .into_response())
}
