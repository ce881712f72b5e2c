//! /api/v1/calendars, /slas, ticket clocks and escalations, /notifications and /jobs.

use super::extract::{if_match_version, ApiActor, ApiJson, CreateJson};
use super::problem::Problem;
use crate::app::agreements::{self, AgreementInput, AgreementView};
use crate::app::calendars::{self, CalendarInput, CalendarView, DayView, DueView};
use crate::app::jobs::{self, JobView};
use crate::app::notifications::{self, NotificationQuery, NotificationView};
use crate::app::sla::{self, ClockView};
use crate::app::views::Page;
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

fn with_etag<T: Serialize>(body: T, etag: String, status: StatusCode) -> Response {
    let mut res = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

#[derive(Serialize, ToSchema)]
pub struct CalendarList {
    pub items: Vec<CalendarView>,
}

#[utoipa::path(get, path = "/api/v1/calendars", tag = "service levels",
    responses((status = 200, body = CalendarList), (status = 403, body = Problem)))]
pub async fn list_calendars(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<CalendarList>, Problem> {
    Ok(Json(CalendarList {
        items: calendars::list_calendars(&s.app, &actor).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/calendars", tag = "service levels", request_body = CalendarInput,
    responses((status = 201, body = CalendarView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_calendar(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: CreateJson<CalendarInput>,
) -> Result<Response, Problem> {
    let view = calendars::create_calendar(&s.app, &actor, body.value).await?;
    let etag = view.etag();
    Ok(with_etag(view, etag, StatusCode::CREATED))
}

#[utoipa::path(get, path = "/api/v1/calendars/{id}", tag = "service levels", params(("id" = i64, Path)),
    responses((status = 200, body = CalendarView), (status = 404, body = Problem)))]
pub async fn get_calendar(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let view = calendars::get_calendar(&s.app, &actor, id).await?;
    let etag = view.etag();
    Ok(with_etag(view, etag, StatusCode::OK))
}

#[utoipa::path(put, path = "/api/v1/calendars/{id}", tag = "service levels", request_body = CalendarInput,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = CalendarView), (status = 403, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update_calendar(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<CalendarInput>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let view = calendars::update_calendar(&s.app, &actor, id, input, version).await?;
    let etag = view.etag();
    Ok(with_etag(view, etag, StatusCode::OK))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DaysQuery {
    /// YYYY-MM-DD
    pub from: String,
    /// YYYY-MM-DD, inclusive; at most 730 days after `from`
    pub to: String,
}

#[derive(Serialize, ToSchema)]
pub struct DayList {
    /// Each date with `working`, `reason` (workday, weekend, holiday or adjusted_workday) and
    /// the holiday's `name`.
    pub items: Vec<DayView>,
}

#[utoipa::path(get, path = "/api/v1/calendars/{id}/days", tag = "service levels", params(("id" = i64, Path), DaysQuery),
    responses((status = 200, body = DayList), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn days(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    uri: axum::http::Uri,
) -> Result<Json<DayList>, Problem> {
    let q: DaysQuery = super::query_params(uri.query())?;
    Ok(Json(DayList {
        items: calendars::days(&s.app, &actor, id, &q.from, &q.to).await?,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// RFC 3339 instant, e.g. 2026-09-30T17:00:00+08:00
    pub start: String,
    /// Business minutes
    pub minutes: i64,
}

#[utoipa::path(get, path = "/api/v1/calendars/{id}/due", tag = "service levels", params(("id" = i64, Path), DueQuery),
    responses((status = 200, body = DueView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn due(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    uri: axum::http::Uri,
) -> Result<Json<DueView>, Problem> {
    let q: DueQuery = super::query_params(uri.query())?;
    Ok(Json(
        calendars::due(&s.app, &actor, id, &q.start, q.minutes).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IcsQuery {
    /// YYYY-MM-DD; default 1 January of last year
    pub from: Option<String>,
    /// YYYY-MM-DD; default 31 December of next year
    pub to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/calendars/{id}/calendar.ics", tag = "service levels", params(("id" = i64, Path), IcsQuery),
    responses((status = 200, description = "text/calendar: the holidays and adjusted working days"), (status = 404, body = Problem)))]
pub async fn export_ics(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    uri: axum::http::Uri,
) -> Result<Response, Problem> {
    let q: IcsQuery = super::query_params(uri.query())?;
    let text =
        calendars::export_ics(&s.app, &actor, id, q.from.as_deref(), q.to.as_deref()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"calendar.ics\"",
            ),
        ],
        text,
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/calendars/{id}/calendar.ics", tag = "service levels",
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header)),
    request_body(content = String, content_type = "text/calendar"),
    responses((status = 200, body = CalendarView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn import_ics(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| crate::app::AppError::invalid("file", "is not UTF-8 text"))?;
    let view = calendars::import_ics(&s.app, &actor, id, text, version).await?;
    let etag = view.etag();
    Ok(with_etag(view, etag, StatusCode::OK))
}

#[derive(Serialize, ToSchema)]
pub struct AgreementList {
    pub items: Vec<AgreementView>,
}

#[utoipa::path(get, path = "/api/v1/slas", tag = "service levels",
    responses((status = 200, body = AgreementList), (status = 403, body = Problem)))]
pub async fn list_slas(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<AgreementList>, Problem> {
    Ok(Json(AgreementList {
        items: agreements::list(&s.app, &actor).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/slas", tag = "service levels", request_body = AgreementInput,
    responses((status = 201, body = AgreementView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_sla(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: CreateJson<AgreementInput>,
) -> Result<Response, Problem> {
    let view = agreements::create(&s.app, &actor, body.value).await?;
    let etag = view.etag();
    Ok(with_etag(view, etag, StatusCode::CREATED))
}

#[utoipa::path(get, path = "/api/v1/slas/{id}", tag = "service levels", params(("id" = i64, Path)),
    responses((status = 200, body = AgreementView), (status = 404, body = Problem)))]
pub async fn get_sla(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let view = agreements::get(&s.app, &actor, id).await?;
    let etag = view.etag();
    Ok(with_etag(view, etag, StatusCode::OK))
}

#[utoipa::path(put, path = "/api/v1/slas/{id}", tag = "service levels", request_body = AgreementInput,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = AgreementView), (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update_sla(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<AgreementInput>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let view = agreements::update(&s.app, &actor, id, input, version).await?;
    let etag = view.etag();
    Ok(with_etag(view, etag, StatusCode::OK))
}

#[derive(Serialize, ToSchema)]
pub struct ClockList {
    pub items: Vec<ClockView>,
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}/clocks", tag = "service levels", params(("id" = i64, Path)),
    responses((status = 200, body = ClockList), (status = 404, body = Problem)))]
pub async fn clocks(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<ClockList>, Problem> {
    Ok(Json(ClockList {
        items: sla::clocks(&s.app, &actor, id).await?,
    }))
}

#[utoipa::path(put, path = "/api/v1/tickets/{id}/clocks/{clock_id}/breach-reason", tag = "service levels",
    request_body = sla::BreachReasonInput, params(("id" = i64, Path), ("clock_id" = i64, Path)),
    responses((status = 200, body = ClockView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn set_breach_reason(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((id, clock_id)): Path<(i64, i64)>,
    ApiJson(input): ApiJson<sla::BreachReasonInput>,
) -> Result<Json<ClockView>, Problem> {
    Ok(Json(
        sla::set_breach_reason(&s.app, &actor, id, clock_id, input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}/escalations", tag = "service levels", params(("id" = i64, Path)),
    responses((status = 200, body = crate::app::escalation::EscalationList), (status = 404, body = Problem)))]
pub async fn escalations(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<crate::app::escalation::EscalationList>, Problem> {
    Ok(Json(
        crate::app::escalation::escalations(&s.app, &actor, id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(NotificationQuery),
    responses((status = 200, body = Page<NotificationView>)))]
pub async fn list_notifications(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<Page<NotificationView>>, Problem> {
    let q: NotificationQuery = super::query_params(uri.query())?;
    Ok(Json(notifications::list(&s.app, &actor, &q).await?))
}

#[derive(Serialize, ToSchema)]
pub struct MarkedRead {
    pub marked: u64,
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", params(("id" = i64, Path)),
    responses((status = 200, body = MarkedRead), (status = 404, body = Problem)))]
pub async fn mark_read(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<MarkedRead>, Problem> {
    Ok(Json(MarkedRead {
        marked: notifications::mark_read(&s.app, &actor, Some(id)).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications",
    responses((status = 200, body = MarkedRead)))]
pub async fn mark_all_read(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<MarkedRead>, Problem> {
    Ok(Json(MarkedRead {
        marked: notifications::mark_read(&s.app, &actor, None).await?,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// queued, done or dead
    pub status: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct JobList {
    /// Jobs per status.
    #[schema(value_type = Object)]
    pub counts: std::collections::BTreeMap<String, i64>,
    pub items: Vec<JobView>,
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "operations", params(JobQuery),
    responses((status = 200, body = JobList), (status = 403, body = Problem)))]
pub async fn list_jobs(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<JobList>, Problem> {
    let q: JobQuery = super::query_params(uri.query())?;
    let (counts, items) = jobs::list(&s.app, &actor, q.status.as_deref()).await?;
    Ok(Json(JobList {
        counts: counts.into_iter().collect(),
        items,
    }))
}
