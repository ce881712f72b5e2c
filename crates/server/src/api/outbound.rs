//! Email templates, each user's notification choices, the outbox and a ticket's mail.

use super::extract::{ApiActor, ApiJson};
use super::problem::Problem;
use crate::app::outbound::admin::{
    self, OutboundMailView, OutboxQuery, Preferences, PreviewInput, PreviewView, TemplateInput,
    TemplateView,
};
use crate::app::views::Page;
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// This module's part of the OpenAPI document (merged into api::ApiDoc).
#[derive(OpenApi)]
#[openapi(
    paths(
        list_templates,
        get_template,
        put_template,
        reset_template,
        preview,
        my_preferences,
        set_my_preferences,
        outbox,
        retry,
        ticket_mail
    ),
    components(schemas(
        TemplateView,
        TemplateInput,
        PreviewInput,
        PreviewView,
        Preferences,
        crate::app::outbound::admin::PreferenceItem,
        OutboundMailView,
        TemplateList,
        MailList,
        OutboxPage
    ))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/mail-templates", get(list_templates))
        .route(
            "/api/v1/mail-templates/{event}/{locale}",
            get(get_template).put(put_template).delete(reset_template),
        )
        .route(
            "/api/v1/mail-templates/{event}/{locale}/preview",
            post(preview),
        )
        .route(
            "/api/v1/me/notification-preferences",
            get(my_preferences).put(set_my_preferences),
        )
        .route("/api/v1/outbound-mail", get(outbox))
        .route("/api/v1/outbound-mail/{id}/retry", post(retry))
        .route("/api/v1/tickets/{id}/outbound-mail", get(ticket_mail))
}

#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    pub items: Vec<TemplateView>,
}

#[derive(Serialize, ToSchema)]
pub struct MailList {
    pub items: Vec<OutboundMailView>,
}

/// A page of the outbox.
#[derive(Serialize, ToSchema)]
pub struct OutboxPage {
    pub items: Vec<OutboundMailView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<Page<OutboundMailView>> for OutboxPage {
    fn from(p: Page<OutboundMailView>) -> Self {
        OutboxPage {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/mail-templates", tag = "notifications",
    responses((status = 200, body = TemplateList), (status = 403, body = Problem)))]
pub async fn list_templates(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<TemplateList>, Problem> {
    Ok(Json(TemplateList {
        items: admin::list_templates(&s.app, &actor).await?,
    }))
}

#[utoipa::path(get, path = "/api/v1/mail-templates/{event}/{locale}", tag = "notifications",
    params(("event" = String, Path, description = "ticket.created, ..., or mail.rejected"),
           ("locale" = String, Path, description = "zh-CN or en")),
    responses((status = 200, body = TemplateView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_template(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((event, locale)): Path<(String, String)>,
) -> Result<Json<TemplateView>, Problem> {
    Ok(Json(
        admin::get_template(&s.app, &actor, &event, &locale).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/mail-templates/{event}/{locale}", tag = "notifications",
    request_body = TemplateInput,
    params(("event" = String, Path), ("locale" = String, Path)),
    responses((status = 200, body = TemplateView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "names the field, and the unknown placeholder in the message")))]
pub async fn put_template(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((event, locale)): Path<(String, String)>,
    ApiJson(input): ApiJson<TemplateInput>,
) -> Result<Json<TemplateView>, Problem> {
    Ok(Json(
        admin::put_template(&s.app, &actor, &event, &locale, input).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/mail-templates/{event}/{locale}", tag = "notifications",
    params(("event" = String, Path), ("locale" = String, Path)),
    responses((status = 200, body = TemplateView, description = "the built-in template, now in force"),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn reset_template(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((event, locale)): Path<(String, String)>,
) -> Result<Json<TemplateView>, Problem> {
    Ok(Json(
        admin::reset_template(&s.app, &actor, &event, &locale).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/mail-templates/{event}/{locale}/preview", tag = "notifications",
    request_body = PreviewInput,
    params(("event" = String, Path), ("locale" = String, Path)),
    responses((status = 200, body = PreviewView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn preview(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((event, locale)): Path<(String, String)>,
    ApiJson(input): ApiJson<PreviewInput>,
) -> Result<Json<PreviewView>, Problem> {
    Ok(Json(
        admin::preview(&s.app, &actor, &event, &locale, input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/me/notification-preferences", tag = "notifications",
    responses((status = 200, body = Preferences)))]
pub async fn my_preferences(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Preferences>, Problem> {
    Ok(Json(admin::my_preferences(&s.app, &actor).await?))
}

#[utoipa::path(put, path = "/api/v1/me/notification-preferences", tag = "notifications",
    request_body = Preferences,
    responses((status = 200, body = Preferences), (status = 422, body = Problem)))]
pub async fn set_my_preferences(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(input): ApiJson<Preferences>,
) -> Result<Json<Preferences>, Problem> {
    Ok(Json(
        admin::set_my_preferences(&s.app, &actor, input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/outbound-mail", tag = "notifications", params(OutboxQuery),
    responses((status = 200, body = OutboxPage), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn outbox(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<OutboxPage>, Problem> {
    let q: OutboxQuery = super::query_params(uri.query())?;
    Ok(Json(admin::outbox(&s.app, &actor, &q).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/outbound-mail/{id}/retry", tag = "notifications",
    params(("id" = i64, Path)),
    responses((status = 200, body = OutboundMailView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "the mail is not failed")))]
pub async fn retry(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<OutboundMailView>, Problem> {
    Ok(Json(admin::retry(&s.app, &actor, id).await?))
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}/outbound-mail", tag = "notifications",
    params(("id" = i64, Path)),
    responses((status = 200, body = MailList), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn ticket_mail(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<MailList>, Problem> {
    Ok(Json(MailList {
        items: admin::of_ticket(&s.app, &actor, id).await?,
    }))
}
