//! Releases: the changes they group, the acceptance checklist, go-live approval and deployment.
//! /api/v1/releases and its sub-resources. Staff read; users who manage changes write;
//! requesters get 404.

use super::extract::{if_match_version, ApiActor, ApiJson, CreateJson};
use super::problem::Problem;
use crate::app::releases::work::{
    self, ChangeInput, CheckResultInput, DeploymentInput, GoLiveInput, NewCheckInput,
};
use crate::app::releases::{
    self, ApprovalView, ChangeRefView, CheckView, DeploymentView, NewReleaseInput, ReleaseDetail,
    ReleasePatch, ReleaseQuery, ReleaseView,
};
use crate::app::views::{HistoryEntry, Page};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// This module's part of the OpenAPI document (merged into api::ApiDoc).
#[derive(OpenApi)]
#[openapi(
    paths(
        list,
        create,
        get_release,
        update,
        history,
        add_change,
        remove_change,
        add_check,
        record_check,
        remove_check,
        go_live,
        record_deployment,
    ),
    components(schemas(
        ReleaseView,
        ReleaseDetail,
        ChangeRefView,
        CheckView,
        ApprovalView,
        DeploymentView
    ))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/releases", get(list).post(create))
        .route("/api/v1/releases/{id}", get(get_release).patch(update))
        .route("/api/v1/releases/{id}/history", get(history))
        .route("/api/v1/releases/{id}/changes", post(add_change))
        .route(
            "/api/v1/releases/{id}/changes/{change_id}",
            delete(remove_change),
        )
        .route("/api/v1/releases/{id}/checklist", post(add_check))
        .route(
            "/api/v1/releases/{id}/checklist/{check_id}",
            post(record_check).delete(remove_check),
        )
        .route("/api/v1/releases/{id}/go-live", post(go_live))
        .route("/api/v1/releases/{id}/deployments", post(record_deployment))
}

fn with_etag(view: ReleaseDetail, status: StatusCode) -> Response {
    let etag = view.etag();
    let mut res = (status, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

#[utoipa::path(get, path = "/api/v1/releases", tag = "releases", params(ReleaseQuery),
    responses((status = 200, body = Page<ReleaseView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<Page<ReleaseView>>, Problem> {
    let q: ReleaseQuery = super::query_params(uri.query())?;
    Ok(Json(releases::list(&s.app, &actor, &q).await?))
}

/// Creates a release in planning with the default acceptance checklist.
#[utoipa::path(post, path = "/api/v1/releases", tag = "releases", request_body = NewReleaseInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retried create returns the first result")),
    responses((status = 201, body = ReleaseDetail, headers(("ETag" = String))), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: CreateJson<NewReleaseInput>,
) -> Result<Response, Problem> {
    let view = releases::create(&s.app, &actor, body.value, body.key).await?;
    Ok(with_etag(view, StatusCode::CREATED))
}

#[utoipa::path(get, path = "/api/v1/releases/{id}", tag = "releases", params(("id" = i64, Path)),
    responses((status = 200, body = ReleaseDetail, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get_release(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    Ok(with_etag(
        releases::get(&s.app, &actor, id).await?,
        StatusCode::OK,
    ))
}

const IF_MATCH: &str = "The ETag last read; 412 when stale";

/// Edits the release's fields and makes plain status changes (see `allowed_transitions`).
#[utoipa::path(patch, path = "/api/v1/releases/{id}", tag = "releases", request_body = ReleasePatch,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, body = ReleaseDetail), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<ReleasePatch>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let view = releases::update(&s.app, &actor, id, patch, version).await?;
    Ok(with_etag(view, StatusCode::OK))
}

#[derive(Serialize, ToSchema)]
pub struct HistoryList {
    pub items: Vec<HistoryEntry>,
}

#[utoipa::path(get, path = "/api/v1/releases/{id}/history", tag = "releases", params(("id" = i64, Path)),
    responses((status = 200, body = HistoryList), (status = 404, body = Problem)))]
pub async fn history(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<HistoryList>, Problem> {
    Ok(Json(HistoryList {
        items: releases::history(&s.app, &actor, id).await?,
    }))
}

/// Adds a change; a change belongs to at most one release that is not cancelled.
#[utoipa::path(post, path = "/api/v1/releases/{id}/changes", tag = "releases", request_body = ChangeInput,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, body = ReleaseDetail), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn add_change(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<ChangeInput>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let view = work::add_change(&s.app, &actor, id, input, version).await?;
    Ok(with_etag(view, StatusCode::OK))
}

#[utoipa::path(delete, path = "/api/v1/releases/{id}/changes/{change_id}", tag = "releases",
    params(("id" = i64, Path), ("change_id" = i64, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, body = ReleaseDetail), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem)))]
pub async fn remove_change(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((id, change_id)): Path<(i64, i64)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let view = work::remove_change(&s.app, &actor, id, change_id, version).await?;
    Ok(with_etag(view, StatusCode::OK))
}

/// Adds an acceptance check to the checklist.
#[utoipa::path(post, path = "/api/v1/releases/{id}/checklist", tag = "releases", request_body = NewCheckInput,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 201, body = ReleaseDetail), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn add_check(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<NewCheckInput>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let view = work::add_check(&s.app, &actor, id, input, version).await?;
    Ok(with_etag(view, StatusCode::CREATED))
}

/// Records an acceptance check's result (while the release is in testing).
#[utoipa::path(post, path = "/api/v1/releases/{id}/checklist/{check_id}", tag = "releases", request_body = CheckResultInput,
    params(("id" = i64, Path), ("check_id" = i64, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, body = ReleaseDetail), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn record_check(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((id, check_id)): Path<(i64, i64)>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<CheckResultInput>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let view = work::record_check(&s.app, &actor, id, check_id, input, version).await?;
    Ok(with_etag(view, StatusCode::OK))
}

/// Removes an acceptance check (while the release is assembled: planning, building, testing).
#[utoipa::path(delete, path = "/api/v1/releases/{id}/checklist/{check_id}", tag = "releases",
    params(("id" = i64, Path), ("check_id" = i64, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, body = ReleaseDetail), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem)))]
pub async fn remove_check(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((id, check_id)): Path<(i64, i64)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let view = work::remove_check(&s.app, &actor, id, check_id, version).await?;
    Ok(with_etag(view, StatusCode::OK))
}

/// The go-live decision, by a manager other than the release owner; approval needs every
/// mandatory acceptance check passed.
#[utoipa::path(post, path = "/api/v1/releases/{id}/go-live", tag = "releases", request_body = GoLiveInput,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, body = ReleaseDetail), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn go_live(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<GoLiveInput>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let view = work::decide_go_live(&s.app, &actor, id, input, version).await?;
    Ok(with_etag(view, StatusCode::OK))
}

/// Records the deployment of an approved release; success makes it live, and its service
/// too when the service is not live yet.
#[utoipa::path(post, path = "/api/v1/releases/{id}/deployments", tag = "releases", request_body = DeploymentInput,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 201, body = ReleaseDetail), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn record_deployment(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<DeploymentInput>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let view = work::record_deployment(&s.app, &actor, id, input, version).await?;
    Ok(with_etag(view, StatusCode::CREATED))
}
