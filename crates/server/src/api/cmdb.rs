//! Configuration management: /api/v1/ci-types, /api/v1/cis (with impact, history, CSV export
//! and import) and /api/v1/ci-relationships.

use super::extract::{if_match_version, ApiActor, ApiJson, CreateJson};
use super::problem::Problem;
use crate::app::cmdb::csv::{self as cmdb_csv, ImportReport, RejectedRow};
use crate::app::cmdb::graph::{
    self, AffectedOrganization, AffectedService, ImpactCi, ImpactNode, RelationshipInput,
    RelationshipQuery, RelationshipView,
};
use crate::app::cmdb::{
    self, AttributeSpec, CiInput, CiPatch, CiQuery, CiTypeInput, CiTypePatch, CiTypeView, CiView,
    ImpactView,
};
use crate::app::views::{HistoryEntry, Page};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

/// This module's part of the OpenAPI document (merged into api::ApiDoc).
#[derive(OpenApi)]
#[openapi(
    paths(
        list_types,
        create_type,
        get_type,
        update_type,
        list_cis,
        create_ci,
        get_ci,
        update_ci,
        ci_history,
        ci_impact,
        export_cis,
        import_cis,
        list_relationships,
        create_relationship,
        get_relationship,
        delete_relationship,
        export_relationships,
        import_relationships,
    ),
    components(schemas(
        AttributeSpec,
        ImpactNode,
        ImpactCi,
        AffectedService,
        AffectedOrganization,
        RejectedRow
    ))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ci-types", get(list_types).post(create_type))
        .route("/api/v1/ci-types/{id}", get(get_type).patch(update_type))
        .route("/api/v1/cis", get(list_cis).post(create_ci))
        .route("/api/v1/cis/export", get(export_cis))
        .route("/api/v1/cis/import", post(import_cis))
        .route("/api/v1/cis/{id}", get(get_ci).patch(update_ci))
        .route("/api/v1/cis/{id}/history", get(ci_history))
        .route("/api/v1/cis/{id}/impact", get(ci_impact))
        .route(
            "/api/v1/ci-relationships",
            get(list_relationships).post(create_relationship),
        )
        .route("/api/v1/ci-relationships/export", get(export_relationships))
        .route(
            "/api/v1/ci-relationships/import",
            post(import_relationships),
        )
        .route(
            "/api/v1/ci-relationships/{id}",
            get(get_relationship).delete(delete_relationship),
        )
}

#[derive(Serialize, ToSchema)]
pub struct CiTypeList {
    pub items: Vec<CiTypeView>,
}

#[derive(Serialize, ToSchema)]
pub struct CiHistory {
    pub items: Vec<HistoryEntry>,
}

fn with_etag(view: CiView, status: StatusCode) -> Response {
    let etag = view.etag();
    let mut res = (status, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/v1/ci-types", tag = "cmdb",
    responses((status = 200, body = CiTypeList), (status = 404, body = Problem)))]
pub async fn list_types(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<CiTypeList>, Problem> {
    Ok(Json(CiTypeList {
        items: cmdb::list_types(&s.app, &actor).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/ci-types", tag = "cmdb", request_body = CiTypeInput,
    responses((status = 201, body = CiTypeView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_type(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<CiTypeInput>,
) -> Result<(StatusCode, Json<CiTypeView>), Problem> {
    let v = cmdb::create_type(&s.app, &actor, input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(get, path = "/api/v1/ci-types/{id}", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 200, body = CiTypeView), (status = 404, body = Problem)))]
pub async fn get_type(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<CiTypeView>, Problem> {
    Ok(Json(cmdb::get_type(&s.app, &actor, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/ci-types/{id}", tag = "cmdb", request_body = CiTypePatch,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "\"{id}-{version}\" of the copy last read; 412 when stale")),
    responses((status = 200, body = CiTypeView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update_type(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(p): ApiJson<CiTypePatch>,
) -> Result<Json<CiTypeView>, Problem> {
    let version = if_match_version(&headers, id)?;
    Ok(Json(
        cmdb::update_type(&s.app, &actor, id, p, version).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/cis", tag = "cmdb", params(CiQuery),
    responses((status = 200, body = Page<CiView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_cis(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<Page<CiView>>, Problem> {
    let q: CiQuery = super::query_params(uri.query())?;
    Ok(Json(cmdb::list_cis(&s.app, &actor, &q).await?))
}

#[utoipa::path(post, path = "/api/v1/cis", tag = "cmdb", request_body = CiInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retried create returns the first result")),
    responses((status = 201, body = CiView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_ci(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: CreateJson<CiInput>,
) -> Result<Response, Problem> {
    let v = cmdb::create_ci(&s.app, &actor, body.value, body.key).await?;
    Ok(with_etag(v, StatusCode::CREATED))
}

#[utoipa::path(get, path = "/api/v1/cis/{id}", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 200, body = CiView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get_ci(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    Ok(with_etag(
        cmdb::get_ci(&s.app, &actor, id).await?,
        StatusCode::OK,
    ))
}

#[utoipa::path(patch, path = "/api/v1/cis/{id}", tag = "cmdb", request_body = CiPatch,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when stale")),
    responses((status = 200, body = CiView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update_ci(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(p): ApiJson<CiPatch>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let v = cmdb::update_ci(&s.app, &actor, id, p, version).await?;
    Ok(with_etag(v, StatusCode::OK))
}

#[utoipa::path(get, path = "/api/v1/cis/{id}/history", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 200, body = CiHistory), (status = 404, body = Problem)))]
pub async fn ci_history(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<CiHistory>, Problem> {
    Ok(Json(CiHistory {
        items: cmdb::history(&s.app, &actor, id).await?,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImpactQuery {
    /// Levels to follow each way: 1..10, default 5.
    pub depth: Option<u32>,
}

/// Upstream: what is affected if the CI fails; downstream: what it depends on
/// (docs/adr/009-cmdb-impact.md).
#[utoipa::path(get, path = "/api/v1/cis/{id}/impact", tag = "cmdb", params(("id" = i64, Path), ImpactQuery),
    responses((status = 200, body = ImpactView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn ci_impact(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    uri: axum::http::Uri,
) -> Result<Json<ImpactView>, Problem> {
    let q: ImpactQuery = super::query_params(uri.query())?;
    Ok(Json(cmdb::impact(&s.app, &actor, id, q.depth).await?))
}

/// Every CI as CSV: type, name, status, owner_email, team, description, attr.<name>...
#[utoipa::path(get, path = "/api/v1/cis/export", tag = "cmdb",
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem)))]
pub async fn export_cis(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Response, Problem> {
    Ok(csv_response(
        "cis.csv",
        cmdb_csv::export_cis(&s.app, &actor).await?,
    ))
}

/// Upserts CIs by (type, name) from a CSV body in the export's columns. Rejected rows are
/// reported and never block the others.
#[utoipa::path(post, path = "/api/v1/cis/import", tag = "cmdb", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 403, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn import_cis(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: Bytes,
) -> Result<Json<ImportReport>, Problem> {
    Ok(Json(cmdb_csv::import_cis(&s.app, &actor, &body).await?))
}

#[utoipa::path(get, path = "/api/v1/ci-relationships", tag = "cmdb", params(RelationshipQuery),
    responses((status = 200, body = Page<RelationshipView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_relationships(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<Page<RelationshipView>>, Problem> {
    let q: RelationshipQuery = super::query_params(uri.query())?;
    Ok(Json(graph::list_relationships(&s.app, &actor, &q).await?))
}

#[utoipa::path(post, path = "/api/v1/ci-relationships", tag = "cmdb", request_body = RelationshipInput,
    responses((status = 201, body = RelationshipView), (status = 403, body = Problem),
        (status = 409, body = Problem, description = "The same relationship exists"), (status = 422, body = Problem)))]
pub async fn create_relationship(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<RelationshipInput>,
) -> Result<(StatusCode, Json<RelationshipView>), Problem> {
    let v = graph::create_relationship(&s.app, &actor, input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(get, path = "/api/v1/ci-relationships/{id}", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 200, body = RelationshipView), (status = 404, body = Problem)))]
pub async fn get_relationship(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<RelationshipView>, Problem> {
    Ok(Json(graph::get_relationship(&s.app, &actor, id).await?))
}

#[utoipa::path(delete, path = "/api/v1/ci-relationships/{id}", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 204, description = "Removed"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_relationship(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    graph::delete_relationship(&s.app, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every relationship as CSV: source_type, source_name, relation, target_type, target_name.
#[utoipa::path(get, path = "/api/v1/ci-relationships/export", tag = "cmdb",
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem)))]
pub async fn export_relationships(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Response, Problem> {
    Ok(csv_response(
        "ci-relationships.csv",
        cmdb_csv::export_relationships(&s.app, &actor).await?,
    ))
}

/// Adds relationships from a CSV body in the export's columns; existing ones count as
/// unchanged, rejected rows are reported.
#[utoipa::path(post, path = "/api/v1/ci-relationships/import", tag = "cmdb", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 403, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn import_relationships(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: Bytes,
) -> Result<Json<ImportReport>, Problem> {
    Ok(Json(
        cmdb_csv::import_relationships(&s.app, &actor, &body).await?,
    ))
}
