//! The JSON API under /api/v1: parse → call the app function → serialise. The OpenAPI 3.1
//! document is generated from these handlers and served at /api/v1/openapi.json.

pub mod accounts;
pub mod catalogue;
pub mod changes;
pub mod cmdb;
pub mod extract;
pub mod knowledge;
pub mod links;
pub mod mail;
pub mod major;
pub mod outbound;
pub mod problem;
pub mod problems;
pub mod releases;
pub mod reports;
pub mod service_levels;
pub mod tickets;
pub mod webhooks;

use crate::http::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use problem::Problem;
use utoipa::OpenApi;

/// Query strings that do not parse (a letter where a number belongs) name the parameter.
pub fn query_params<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, Problem> {
    let raw = raw.unwrap_or_default();
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("{field}: {}", e.into_inner()),
        )
        .with_field(field)
    })
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Steward API", version = "1", description = "IT service management: the service desk, service levels and the catalogue."),
    paths(
        tickets::create, tickets::list, tickets::get, tickets::update, tickets::comments, tickets::add_comment,
        tickets::history, tickets::attachments_of, tickets::upload, tickets::download,
        accounts::me, accounts::list_users, accounts::create_user, accounts::get_user, accounts::update_user,
        accounts::list_teams, accounts::create_team, accounts::get_team, accounts::update_team,
        accounts::list_orgs, accounts::create_org, accounts::get_org, accounts::update_org,
        accounts::create_token, accounts::list_tokens, accounts::revoke_token,
        catalogue::list_services, catalogue::create_service, catalogue::get_service, catalogue::update_service,
        catalogue::list_request_types, catalogue::create_request_type, catalogue::get_request_type,
        catalogue::update_request_type, catalogue::submit_request, catalogue::my_approvals,
        catalogue::get_approval, catalogue::decide, catalogue::ticket_approvals,
        reports::sla, reports::sla_csv, reports::breaches_csv, reports::sla_xlsx,
        service_levels::list_calendars, service_levels::create_calendar, service_levels::get_calendar,
        service_levels::update_calendar, service_levels::days, service_levels::due,
        service_levels::export_ics, service_levels::import_ics,
        service_levels::list_slas, service_levels::create_sla, service_levels::get_sla, service_levels::update_sla,
        service_levels::clocks, service_levels::set_breach_reason, service_levels::escalations,
        service_levels::list_notifications, service_levels::mark_read, service_levels::mark_all_read,
        service_levels::list_jobs,
        major::declare, major::get, major::acknowledge, major::page, major::attach_child, major::review,
        major::status_updates, major::post_update, major::announcements,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole document: the paths listed above and each module's own part.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(mail::Doc::openapi());
    doc.merge(outbound::Doc::openapi());
    doc.merge(webhooks::Doc::openapi());
    doc.merge(cmdb::Doc::openapi());
    doc.merge(changes::Doc::openapi());
    doc.merge(releases::Doc::openapi());
    doc.merge(problems::Doc::openapi());
    doc.merge(knowledge::Doc::openapi());
    doc.merge(links::Doc::openapi());
    doc
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// JSON bodies are small; attachments have their own, larger limit.
const JSON_BODY_LIMIT: usize = 1024 * 1024;

pub fn router(state: &AppState) -> Router<AppState> {
    let upload_limit = state.app.limits.attachment_bytes + 64 * 1024;
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/me", get(accounts::me))
        .route(
            "/api/v1/me/tokens",
            get(accounts::list_tokens).post(accounts::create_token),
        )
        .route(
            "/api/v1/me/tokens/{id}",
            axum::routing::delete(accounts::revoke_token),
        )
        .route("/api/v1/tickets", get(tickets::list).post(tickets::create))
        .route(
            "/api/v1/tickets/{id}",
            get(tickets::get).patch(tickets::update),
        )
        .route(
            "/api/v1/tickets/{id}/comments",
            get(tickets::comments).post(tickets::add_comment),
        )
        .route("/api/v1/tickets/{id}/history", get(tickets::history))
        .route(
            "/api/v1/tickets/{id}/attachments",
            get(tickets::attachments_of)
                .post(tickets::upload)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/v1/attachments/{id}", get(tickets::download))
        .route(
            "/api/v1/users",
            get(accounts::list_users).post(accounts::create_user),
        )
        .route(
            "/api/v1/users/{id}",
            get(accounts::get_user).patch(accounts::update_user),
        )
        .route(
            "/api/v1/teams",
            get(accounts::list_teams).post(accounts::create_team),
        )
        .route(
            "/api/v1/teams/{id}",
            get(accounts::get_team).patch(accounts::update_team),
        )
        .route(
            "/api/v1/organizations",
            get(accounts::list_orgs).post(accounts::create_org),
        )
        .route(
            "/api/v1/organizations/{id}",
            get(accounts::get_org).patch(accounts::update_org),
        )
        .merge(catalogue_routes())
        .merge(mail::routes())
        .merge(outbound::routes())
        .merge(webhooks::routes())
        .merge(cmdb::routes())
        .merge(changes::routes())
        .merge(releases::routes())
        .merge(problems::routes())
        .merge(knowledge::routes())
        .merge(links::routes())
        .route(
            "/api/v1/calendars",
            get(service_levels::list_calendars).post(service_levels::create_calendar),
        )
        .route(
            "/api/v1/calendars/{id}",
            get(service_levels::get_calendar).put(service_levels::update_calendar),
        )
        .route("/api/v1/calendars/{id}/days", get(service_levels::days))
        .route("/api/v1/calendars/{id}/due", get(service_levels::due))
        .route(
            "/api/v1/calendars/{id}/calendar.ics",
            get(service_levels::export_ics).post(service_levels::import_ics),
        )
        .route(
            "/api/v1/slas",
            get(service_levels::list_slas).post(service_levels::create_sla),
        )
        .route(
            "/api/v1/slas/{id}",
            get(service_levels::get_sla).put(service_levels::update_sla),
        )
        .route("/api/v1/tickets/{id}/clocks", get(service_levels::clocks))
        .route(
            "/api/v1/tickets/{id}/clocks/{clock_id}/breach-reason",
            axum::routing::put(service_levels::set_breach_reason),
        )
        .route(
            "/api/v1/tickets/{id}/escalations",
            get(service_levels::escalations),
        )
        .route(
            "/api/v1/notifications",
            get(service_levels::list_notifications),
        )
        .route(
            "/api/v1/notifications/read-all",
            axum::routing::post(service_levels::mark_all_read),
        )
        .route(
            "/api/v1/notifications/{id}/read",
            axum::routing::post(service_levels::mark_read),
        )
        .route("/api/v1/jobs", get(service_levels::list_jobs))
        .route(
            "/api/v1/tickets/{id}/major",
            get(major::get).post(major::declare),
        )
        .route(
            "/api/v1/tickets/{id}/major/acknowledge",
            axum::routing::post(major::acknowledge),
        )
        .route(
            "/api/v1/tickets/{id}/major/roster",
            axum::routing::post(major::page),
        )
        .route(
            "/api/v1/tickets/{id}/major/children",
            axum::routing::post(major::attach_child),
        )
        .route(
            "/api/v1/tickets/{id}/major/review",
            axum::routing::put(major::review),
        )
        .route("/api/v1/major-incidents", get(major::announcements))
        .route(
            "/api/v1/tickets/{id}/status-updates",
            get(major::status_updates).post(major::post_update),
        )
        .route("/api/v1/reports/sla", get(reports::sla))
        .route("/api/v1/reports/sla.csv", get(reports::sla_csv))
        .route("/api/v1/reports/sla.xlsx", get(reports::sla_xlsx))
        .route(
            "/api/v1/reports/sla/breaches.csv",
            get(reports::breaches_csv),
        )
        .route("/api/v1/{*rest}", axum::routing::any(not_found))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .route_layer(axum::middleware::from_fn(path_errors))
}

/// Path parameters that are not numbers: axum answers 400 in plain text; make it a problem.
async fn path_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let res = next.run(req).await;
    let is_problem = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/problem+json")
                || v.as_bytes().starts_with(b"application/json")
        });
    if res.status().is_client_error() && !is_problem && res.status() != StatusCode::NO_CONTENT {
        let status = res.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            _ => "bad_request",
        };
        return axum::response::IntoResponse::into_response(
            Problem::new(status, code, "the request could not be read").with_field(
                if status == StatusCode::BAD_REQUEST {
                    "id"
                } else {
                    "body"
                },
            ),
        );
    }
    res
}

/// The service catalogue and approvals (api::catalogue).
fn catalogue_routes() -> Router<AppState> {
    use axum::routing::post;
    Router::new()
        .route(
            "/api/v1/services",
            get(catalogue::list_services).post(catalogue::create_service),
        )
        .route(
            "/api/v1/services/{id}",
            get(catalogue::get_service).patch(catalogue::update_service),
        )
        .route(
            "/api/v1/services/{id}/request-types",
            get(catalogue::list_request_types).post(catalogue::create_request_type),
        )
        .route(
            "/api/v1/request-types/{id}",
            get(catalogue::get_request_type).patch(catalogue::update_request_type),
        )
        .route(
            "/api/v1/request-types/{id}/requests",
            post(catalogue::submit_request),
        )
        .route("/api/v1/approvals", get(catalogue::my_approvals))
        .route("/api/v1/approvals/{id}", get(catalogue::get_approval))
        .route("/api/v1/approvals/{id}/decision", post(catalogue::decide))
        .route(
            "/api/v1/tickets/{id}/approvals",
            get(catalogue::ticket_approvals),
        )
}
