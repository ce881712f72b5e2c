//! /api/v1/links: typed links between any two records, shown on both sides.

use super::extract::{ApiActor, ApiJson};
use super::problem::Problem;
use crate::app::links::{self, LinkQuery, LinkView, NewLinkInput};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// This module's part of the OpenAPI document (merged into api::ApiDoc).
#[derive(OpenApi)]
#[openapi(paths(list, create, remove))]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/links", get(list).post(create))
        .route("/api/v1/links/{id}", delete(remove))
}

#[derive(Serialize, ToSchema)]
pub struct LinkList {
    pub items: Vec<LinkView>,
}

#[utoipa::path(get, path = "/api/v1/links", tag = "links", params(LinkQuery),
    responses((status = 200, body = LinkList), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<LinkList>, Problem> {
    let q: LinkQuery = super::query_params(uri.query())?;
    Ok(Json(LinkList {
        items: links::list(&s.app, &actor, &q.kind, q.id).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/links", tag = "links", request_body = NewLinkInput,
    responses((status = 201, body = LinkView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<NewLinkInput>,
) -> Result<(StatusCode, Json<LinkView>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(links::create(&s.app, &actor, input).await?),
    ))
}

#[utoipa::path(delete, path = "/api/v1/links/{id}", tag = "links", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn remove(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    links::delete(&s.app, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
