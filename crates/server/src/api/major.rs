//! /api/v1/tickets/{id}/major: declaring and running a major incident, and the communication
//! log every ticket shows.

use super::extract::{ApiActor, ApiJson};
use super::problem::Problem;
use crate::app::major::{
    self, ChildInput, DeclareInput, MajorView, ReviewInput, StatusUpdateInput, StatusUpdateView,
};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[utoipa::path(post, path = "/api/v1/tickets/{id}/major", tag = "major incidents", request_body = DeclareInput,
    params(("id" = i64, Path)),
    responses((status = 201, body = MajorView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn declare(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<DeclareInput>,
) -> Result<(StatusCode, Json<MajorView>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(major::declare(&s.app, &actor, id, input).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}/major", tag = "major incidents", params(("id" = i64, Path)),
    responses((status = 200, body = MajorView), (status = 404, body = Problem)))]
pub async fn get(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<MajorView>, Problem> {
    Ok(Json(major::get(&s.app, &actor, id).await?))
}

#[utoipa::path(post, path = "/api/v1/tickets/{id}/major/acknowledge", tag = "major incidents", params(("id" = i64, Path)),
    responses((status = 200, body = MajorView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn acknowledge(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<MajorView>, Problem> {
    Ok(Json(major::acknowledge(&s.app, &actor, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageInput {
    pub user_ids: Vec<i64>,
}

#[utoipa::path(post, path = "/api/v1/tickets/{id}/major/roster", tag = "major incidents", request_body = PageInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = MajorView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn page(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<PageInput>,
) -> Result<Json<MajorView>, Problem> {
    Ok(Json(major::page(&s.app, &actor, id, input.user_ids).await?))
}

#[utoipa::path(post, path = "/api/v1/tickets/{id}/major/children", tag = "major incidents", request_body = ChildInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = MajorView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn attach_child(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<ChildInput>,
) -> Result<Json<MajorView>, Problem> {
    Ok(Json(major::attach_child(&s.app, &actor, id, input).await?))
}

#[utoipa::path(put, path = "/api/v1/tickets/{id}/major/review", tag = "major incidents", request_body = ReviewInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = MajorView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn review(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> Result<Json<MajorView>, Problem> {
    Ok(Json(major::record_review(&s.app, &actor, id, input).await?))
}

#[derive(Serialize, ToSchema)]
pub struct StatusUpdateList {
    pub items: Vec<StatusUpdateView>,
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}/status-updates", tag = "major incidents", params(("id" = i64, Path)),
    responses((status = 200, body = StatusUpdateList), (status = 404, body = Problem)))]
pub async fn status_updates(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<StatusUpdateList>, Problem> {
    Ok(Json(StatusUpdateList {
        items: major::status_updates(&s.app, &actor, id).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/tickets/{id}/status-updates", tag = "major incidents", request_body = StatusUpdateInput,
    params(("id" = i64, Path)),
    responses((status = 201, body = StatusUpdateView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn post_update(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<StatusUpdateInput>,
) -> Result<(StatusCode, Json<StatusUpdateView>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(major::post_update(&s.app, &actor, id, input).await?),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct AnnouncementList {
    pub items: Vec<crate::app::major::AnnouncementView>,
}

#[utoipa::path(get, path = "/api/v1/major-incidents", tag = "major incidents",
    responses((status = 200, body = AnnouncementList)))]
pub async fn announcements(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<AnnouncementList>, Problem> {
    Ok(Json(AnnouncementList {
        items: major::announcements(&s.app, &actor).await?,
    }))
}
