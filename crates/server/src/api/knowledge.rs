//! /api/v1/articles and /api/v1/knowledge-categories: knowledge articles, their versions,
//! review and publishing, search, ratings, ticket links and portal suggestions.

use super::extract::{if_match_version, ApiActor, ApiJson, CreateJson};
use super::problem::Problem;
use crate::app::knowledge::extras::{
    self, CategoryInput, CategoryView, LinkedTicket, RatingInput, RatingView, TicketLinkInput,
};
use crate::app::knowledge::{
    self, ArticleInput, ArticlePatch, ArticleQuery, ArticleSummary, ArticleView, ReviewInput,
    VersionView,
};
use crate::app::views::Page;
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use steward_core::knowledge::ReviewAction;
use utoipa::{OpenApi, ToSchema};

/// This module's part of the OpenAPI document (merged into api::ApiDoc).
#[derive(OpenApi)]
#[openapi(paths(
    list,
    create,
    get_article,
    update,
    submit,
    approve,
    send_back,
    retire,
    versions,
    get_version,
    rate,
    suggest,
    tickets,
    link_ticket,
    ticket_articles,
    list_categories,
    create_category,
    rename_category,
))]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/articles", get(list).post(create))
        .route("/api/v1/articles/suggest", get(suggest))
        .route("/api/v1/articles/{id}", get(get_article).patch(update))
        .route("/api/v1/articles/{id}/submit", post(submit))
        .route("/api/v1/articles/{id}/approve", post(approve))
        .route("/api/v1/articles/{id}/send-back", post(send_back))
        .route("/api/v1/articles/{id}/retire", post(retire))
        .route("/api/v1/articles/{id}/versions", get(versions))
        .route("/api/v1/articles/{id}/versions/{number}", get(get_version))
        .route("/api/v1/articles/{id}/rating", post(rate))
        .route(
            "/api/v1/articles/{id}/tickets",
            get(tickets).post(link_ticket),
        )
        .route("/api/v1/tickets/{id}/articles", get(ticket_articles))
        .route(
            "/api/v1/knowledge-categories",
            get(list_categories).post(create_category),
        )
        .route("/api/v1/knowledge-categories/{id}", patch(rename_category))
}

fn with_etag(view: ArticleView, status: StatusCode) -> Response {
    let etag = view.etag();
    let mut res = (status, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

#[utoipa::path(get, path = "/api/v1/articles", tag = "knowledge", params(ArticleQuery),
    responses((status = 200, body = Page<ArticleSummary>), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<Page<ArticleSummary>>, Problem> {
    let q: ArticleQuery = super::query_params(uri.query())?;
    Ok(Json(knowledge::list_articles(&s.app, &actor, &q).await?))
}

#[utoipa::path(post, path = "/api/v1/articles", tag = "knowledge", request_body = ArticleInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retried create returns the first result")),
    responses((status = 201, body = ArticleView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: CreateJson<ArticleInput>,
) -> Result<Response, Problem> {
    let v = knowledge::create_article(&s.app, &actor, body.value, body.key).await?;
    Ok(with_etag(v, StatusCode::CREATED))
}

#[utoipa::path(get, path = "/api/v1/articles/{id}", tag = "knowledge", params(("id" = i64, Path)),
    responses((status = 200, body = ArticleView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get_article(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let v = knowledge::get_article(&s.app, &actor, id).await?;
    Ok(with_etag(v, StatusCode::OK))
}

#[utoipa::path(patch, path = "/api/v1/articles/{id}", tag = "knowledge", request_body = ArticlePatch,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when stale")),
    responses((status = 200, body = ArticleView), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(p): ApiJson<ArticlePatch>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let v = knowledge::update_article(&s.app, &actor, id, p, version).await?;
    Ok(with_etag(v, StatusCode::OK))
}

async fn act(
    s: &AppState,
    actor: &crate::app::Actor,
    id: i64,
    action: ReviewAction,
    input: ReviewInput,
) -> Result<Response, Problem> {
    let v = knowledge::review(&s.app, actor, id, action, input).await?;
    Ok(with_etag(v, StatusCode::OK))
}

#[utoipa::path(post, path = "/api/v1/articles/{id}/submit", tag = "knowledge", request_body = ReviewInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = ArticleView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn submit(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> Result<Response, Problem> {
    act(&s, &actor, id, ReviewAction::Submit, input).await
}

#[utoipa::path(post, path = "/api/v1/articles/{id}/approve", tag = "knowledge", request_body = ReviewInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = ArticleView), (status = 403, body = Problem, description = "Not a reviewer, or the version's author"),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn approve(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> Result<Response, Problem> {
    act(&s, &actor, id, ReviewAction::Approve, input).await
}

#[utoipa::path(post, path = "/api/v1/articles/{id}/send-back", tag = "knowledge", request_body = ReviewInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = ArticleView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn send_back(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> Result<Response, Problem> {
    act(&s, &actor, id, ReviewAction::SendBack, input).await
}

#[utoipa::path(post, path = "/api/v1/articles/{id}/retire", tag = "knowledge", request_body = ReviewInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = ArticleView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn retire(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> Result<Response, Problem> {
    act(&s, &actor, id, ReviewAction::Retire, input).await
}

#[derive(Serialize, ToSchema)]
pub struct VersionList {
    pub items: Vec<VersionView>,
}

#[utoipa::path(get, path = "/api/v1/articles/{id}/versions", tag = "knowledge", params(("id" = i64, Path)),
    responses((status = 200, body = VersionList), (status = 404, body = Problem)))]
pub async fn versions(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<VersionList>, Problem> {
    Ok(Json(VersionList {
        items: knowledge::versions(&s.app, &actor, id).await?,
    }))
}

#[utoipa::path(get, path = "/api/v1/articles/{id}/versions/{number}", tag = "knowledge",
    params(("id" = i64, Path), ("number" = i64, Path)),
    responses((status = 200, body = ArticleView), (status = 404, body = Problem)))]
pub async fn get_version(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((id, number)): Path<(i64, i64)>,
) -> Result<Json<ArticleView>, Problem> {
    Ok(Json(
        knowledge::get_version(&s.app, &actor, id, number).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/articles/{id}/rating", tag = "knowledge", request_body = RatingInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = RatingView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn rate(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<RatingInput>,
) -> Result<Json<RatingView>, Problem> {
    Ok(Json(extras::rate(&s.app, &actor, id, input).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestQuery {
    /// What the requester has typed so far.
    pub q: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ArticleList {
    pub items: Vec<ArticleSummary>,
}

#[utoipa::path(get, path = "/api/v1/articles/suggest", tag = "knowledge", params(SuggestQuery),
    responses((status = 200, body = ArticleList, description = "At most five live articles the caller may read, best first")))]
pub async fn suggest(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<ArticleList>, Problem> {
    let q: SuggestQuery = super::query_params(uri.query())?;
    Ok(Json(ArticleList {
        items: knowledge::suggest(&s.app, &actor, q.q.as_deref().unwrap_or_default()).await?,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct LinkedTicketList {
    pub items: Vec<LinkedTicket>,
}

#[utoipa::path(get, path = "/api/v1/articles/{id}/tickets", tag = "knowledge", params(("id" = i64, Path)),
    responses((status = 200, body = LinkedTicketList), (status = 404, body = Problem)))]
pub async fn tickets(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<LinkedTicketList>, Problem> {
    Ok(Json(LinkedTicketList {
        items: extras::linked_tickets(&s.app, &actor, id).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/articles/{id}/tickets", tag = "knowledge", request_body = TicketLinkInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = LinkedTicketList), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn link_ticket(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<TicketLinkInput>,
) -> Result<Json<LinkedTicketList>, Problem> {
    Ok(Json(LinkedTicketList {
        items: extras::link_ticket(&s.app, &actor, id, input).await?,
    }))
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}/articles", tag = "knowledge", params(("id" = i64, Path)),
    responses((status = 200, body = ArticleList), (status = 404, body = Problem)))]
pub async fn ticket_articles(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<ArticleList>, Problem> {
    Ok(Json(ArticleList {
        items: extras::articles_of_ticket(&s.app, &actor, id).await?,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct CategoryList {
    pub items: Vec<CategoryView>,
}

#[utoipa::path(get, path = "/api/v1/knowledge-categories", tag = "knowledge",
    responses((status = 200, body = CategoryList)))]
pub async fn list_categories(
    State(s): State<AppState>,
    ApiActor(_actor): ApiActor,
) -> Result<Json<CategoryList>, Problem> {
    Ok(Json(CategoryList {
        items: extras::list_categories(&s.app).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/knowledge-categories", tag = "knowledge", request_body = CategoryInput,
    responses((status = 201, body = CategoryView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_category(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<CategoryInput>,
) -> Result<(StatusCode, Json<CategoryView>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(extras::create_category(&s.app, &actor, input).await?),
    ))
}

#[utoipa::path(patch, path = "/api/v1/knowledge-categories/{id}", tag = "knowledge", request_body = CategoryInput,
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn rename_category(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<CategoryInput>,
) -> Result<StatusCode, Problem> {
    extras::rename_category(&s.app, &actor, id, input).await?;
    Ok(StatusCode::NO_CONTENT)
}
