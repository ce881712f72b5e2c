//! /api/v1/services, /api/v1/request-types, /api/v1/approvals and a ticket's approvals.

use super::extract::{if_match_version, ApiActor, ApiJson, CreateJson};
use super::problem::Problem;
use crate::app::approvals::{self, ApprovalRequestView, ApprovalView, DecisionInput};
use crate::app::catalogue::{
    self, RequestTypeInput, RequestTypePatch, RequestTypeView, ServiceInput, ServicePatch,
    ServiceView, SubmitRequestInput,
};
use crate::app::views::TicketView;
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

fn with_etag<T: Serialize>(view: T, etag: String, status: StatusCode) -> Response {
    let mut res = (status, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

#[derive(Serialize, ToSchema)]
pub struct ServiceList {
    pub items: Vec<ServiceView>,
}

#[utoipa::path(get, path = "/api/v1/services", tag = "catalogue",
    responses((status = 200, body = ServiceList)))]
pub async fn list_services(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<ServiceList>, Problem> {
    Ok(Json(ServiceList {
        items: catalogue::list_services(&s.app, &actor).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/services", tag = "catalogue", request_body = ServiceInput,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ServiceView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_service(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: CreateJson<ServiceInput>,
) -> Result<Response, Problem> {
    let v = catalogue::create_service(&s.app, &actor, body.value, body.key).await?;
    let etag = v.etag();
    Ok(with_etag(v, etag, StatusCode::CREATED))
}

#[utoipa::path(get, path = "/api/v1/services/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = ServiceView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get_service(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let v = catalogue::get_service(&s.app, &actor, id).await?;
    let etag = v.etag();
    Ok(with_etag(v, etag, StatusCode::OK))
}

#[utoipa::path(patch, path = "/api/v1/services/{id}", tag = "catalogue", request_body = ServicePatch,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when stale")),
    responses((status = 200, body = ServiceView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update_service(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(p): ApiJson<ServicePatch>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let v = catalogue::update_service(&s.app, &actor, id, p, version).await?;
    let etag = v.etag();
    Ok(with_etag(v, etag, StatusCode::OK))
}

#[derive(Serialize, ToSchema)]
pub struct RequestTypeList {
    pub items: Vec<RequestTypeView>,
}

#[utoipa::path(get, path = "/api/v1/services/{id}/request-types", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = RequestTypeList), (status = 404, body = Problem)))]
pub async fn list_request_types(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<RequestTypeList>, Problem> {
    Ok(Json(RequestTypeList {
        items: catalogue::list_request_types(&s.app, &actor, id).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/services/{id}/request-types", tag = "catalogue", request_body = RequestTypeInput,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = RequestTypeView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_request_type(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    body: CreateJson<RequestTypeInput>,
) -> Result<Response, Problem> {
    let v = catalogue::create_request_type(&s.app, &actor, id, body.value, body.key).await?;
    let etag = v.etag();
    Ok(with_etag(v, etag, StatusCode::CREATED))
}

#[utoipa::path(get, path = "/api/v1/request-types/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = RequestTypeView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get_request_type(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let v = catalogue::get_request_type(&s.app, &actor, id).await?;
    let etag = v.etag();
    Ok(with_etag(v, etag, StatusCode::OK))
}

#[utoipa::path(patch, path = "/api/v1/request-types/{id}", tag = "catalogue", request_body = RequestTypePatch,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when stale")),
    responses((status = 200, body = RequestTypeView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update_request_type(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(p): ApiJson<RequestTypePatch>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let v = catalogue::update_request_type(&s.app, &actor, id, p, version).await?;
    let etag = v.etag();
    Ok(with_etag(v, etag, StatusCode::OK))
}

#[utoipa::path(post, path = "/api/v1/request-types/{id}/requests", tag = "catalogue", request_body = SubmitRequestInput,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = TicketView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn submit_request(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    body: CreateJson<SubmitRequestInput>,
) -> Result<Response, Problem> {
    let v = catalogue::submit_request(&s.app, &actor, id, body.value, body.key).await?;
    let etag = v.etag();
    Ok(with_etag(v, etag, StatusCode::CREATED))
}

#[derive(Serialize, ToSchema)]
pub struct ApprovalList {
    pub items: Vec<ApprovalView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApprovalQuery {
    /// pending (default), decided or all
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/approvals", tag = "catalogue", params(ApprovalQuery),
    responses((status = 200, body = ApprovalList), (status = 422, body = Problem)))]
pub async fn my_approvals(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<ApprovalList>, Problem> {
    let q: ApprovalQuery = super::query_params(uri.query())?;
    let state = approvals::parse_state(q.status.as_deref())?;
    Ok(Json(ApprovalList {
        items: approvals::my_approvals(&s.app, &actor, state).await?,
    }))
}

#[utoipa::path(get, path = "/api/v1/approvals/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = ApprovalRequestView), (status = 404, body = Problem)))]
pub async fn get_approval(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<ApprovalRequestView>, Problem> {
    Ok(Json(approvals::get_approval(&s.app, &actor, id).await?))
}

#[utoipa::path(post, path = "/api/v1/approvals/{id}/decision", tag = "catalogue", request_body = DecisionInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = ApprovalView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn decide(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> Result<Json<ApprovalView>, Problem> {
    Ok(Json(approvals::decide(&s.app, &actor, id, input).await?))
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}/approvals", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = ApprovalList), (status = 404, body = Problem)))]
pub async fn ticket_approvals(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<ApprovalList>, Problem> {
    Ok(Json(ApprovalList {
        items: approvals::ticket_approvals(&s.app, &actor, id).await?,
    }))
}
