//! /api/v1/problems: problems, root cause analysis, linked incidents, the known error database
//! (`?kedb=true&q=…`), applying a known error to an incident, and the incident trend view.

use super::extract::{if_match_version, ApiActor, ApiJson, CreateJson};
use super::problem::Problem;
use crate::app::problems::{
    self, ApplyInput, ApplyResult, IncidentInput, LinkedRecord, NewProblemInput, ProblemPatch,
    ProblemQuery, ProblemView, TrendQuery, TrendRowView, TrendView,
};
use crate::app::views::Page;
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;

/// This module's part of the OpenAPI document (merged into api::ApiDoc).
#[derive(OpenApi)]
#[openapi(
    paths(list, create, get_one, update, add_incident, apply, trends),
    components(schemas(ProblemView, LinkedRecord, TrendRowView, Page<ProblemView>))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/problems", get(list).post(create))
        .route("/api/v1/problems/trends", get(trends))
        .route("/api/v1/problems/{id}", get(get_one).patch(update))
        .route("/api/v1/problems/{id}/incidents", post(add_incident))
        .route("/api/v1/problems/{id}/apply", post(apply))
}

fn with_etag(view: ProblemView, status: StatusCode) -> Response {
    let etag = view.etag();
    let mut res = (status, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

#[utoipa::path(get, path = "/api/v1/problems", tag = "problems", params(ProblemQuery),
    responses((status = 200, body = Page<ProblemView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<Page<ProblemView>>, Problem> {
    let q: ProblemQuery = super::query_params(uri.query())?;
    Ok(Json(problems::list(&s.app, &actor, &q).await?))
}

#[utoipa::path(post, path = "/api/v1/problems", tag = "problems", request_body = NewProblemInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retried create returns the first result")),
    responses((status = 201, body = ProblemView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: CreateJson<NewProblemInput>,
) -> Result<Response, Problem> {
    let v = problems::create(&s.app, &actor, body.value, body.key).await?;
    Ok(with_etag(v, StatusCode::CREATED))
}

#[utoipa::path(get, path = "/api/v1/problems/{id}", tag = "problems", params(("id" = i64, Path)),
    responses((status = 200, body = ProblemView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get_one(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    Ok(with_etag(
        problems::get(&s.app, &actor, id).await?,
        StatusCode::OK,
    ))
}

#[utoipa::path(patch, path = "/api/v1/problems/{id}", tag = "problems", request_body = ProblemPatch,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when stale")),
    responses((status = 200, body = ProblemView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<ProblemPatch>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let v = problems::update(&s.app, &actor, id, patch, version).await?;
    Ok(with_etag(v, StatusCode::OK))
}

#[utoipa::path(post, path = "/api/v1/problems/{id}/incidents", tag = "problems", request_body = IncidentInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = ProblemView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_incident(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<IncidentInput>,
) -> Result<Json<ProblemView>, Problem> {
    Ok(Json(
        problems::add_incident(&s.app, &actor, id, input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/problems/{id}/apply", tag = "problems", request_body = ApplyInput,
    params(("id" = i64, Path)),
    responses((status = 201, body = ApplyResult, description = "Applied"), (status = 200, body = ApplyResult, description = "Applied before; nothing changed"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn apply(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<ApplyInput>,
) -> Result<(StatusCode, Json<ApplyResult>), Problem> {
    let r = problems::apply(&s.app, &actor, id, input).await?;
    let status = if r.applied {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(r)))
}

#[utoipa::path(get, path = "/api/v1/problems/trends", tag = "problems", params(TrendQuery),
    responses((status = 200, body = TrendView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn trends(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<TrendView>, Problem> {
    let q: TrendQuery = super::query_params(uri.query())?;
    Ok(Json(problems::trends(&s.app, &actor, &q).await?))
}
