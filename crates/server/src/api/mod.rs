//! The JSON API under /api/v1: parse → call the app function → serialise. The OpenAPI 3.1
//! document is generated from these handlers and served at /api/v1/openapi.json.

pub mod accounts;
pub mod extract;
pub mod problem;
pub mod tickets;

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
    info(title = "Steward API", version = "1", description = "IT service management: the service desk core."),
    paths(
        tickets::create, tickets::list, tickets::get, tickets::update, tickets::comments, tickets::add_comment,
        tickets::history, tickets::attachments_of, tickets::upload, tickets::download,
        accounts::me, accounts::list_users, accounts::create_user, accounts::get_user, accounts::update_user,
        accounts::list_teams, accounts::create_team, accounts::get_team, accounts::update_team,
        accounts::list_orgs, accounts::create_org, accounts::get_org, accounts::update_org,
        accounts::create_token, accounts::list_tokens, accounts::revoke_token,
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

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
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
