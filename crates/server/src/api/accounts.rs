//! /api/v1/me, /users, /teams, /organizations and the caller's API tokens.

use super::extract::{ApiActor, ApiJson, CreateJson};
use super::problem::Problem;
use crate::app::accounts::{
    self, NewUserInput, OrganizationInput, OrganizationPatch, TeamInput, UserPatch,
};
use crate::app::auth::{self, CreatedToken};
use crate::app::views::{OrganizationView, Page, TeamView, UserView};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use steward_store::accounts::UserFilter;
use utoipa::{IntoParams, ToSchema};

#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", responses((status = 200, body = UserView), (status = 401, body = Problem)))]
pub async fn me(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<UserView>, Problem> {
    Ok(Json(accounts::me(&s.app, &actor).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    pub role: Option<String>,
    pub team_id: Option<i64>,
    pub organization_id: Option<i64>,
    /// 1..500, default 100
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "accounts", params(UserQuery),
    responses((status = 200, body = Page<UserView>), (status = 403, body = Problem)))]
pub async fn list_users(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<Page<UserView>>, Problem> {
    let q: UserQuery = super::query_params(uri.query())?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Problem::from(crate::app::AppError::invalid(
            "limit",
            "must be between 1 and 500",
        )));
    }
    let after_id = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                crate::app::AppError::invalid("cursor", "is not a cursor from this listing")
            })
        })
        .transpose()?;
    let filter = UserFilter {
        role: q
            .role
            .as_deref()
            .map(|r| {
                r.parse::<steward_core::Role>()
                    .map(|r| r.as_str().to_string())
                    .map_err(|_| crate::app::AppError::invalid("role", "is not a role"))
            })
            .transpose()?,
        team_id: q.team_id,
        organization_id: q.organization_id,
        staff_only: false,
        after_id,
        limit,
    };
    let items = accounts::list_users(&s.app, &actor, filter).await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|u| u.id.to_string()))
        .flatten();
    Ok(Json(Page { items, next_cursor }))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", request_body = NewUserInput,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = UserView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: CreateJson<NewUserInput>,
) -> Result<(StatusCode, Json<UserView>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(accounts::create_user(&s.app, &actor, body.value, body.key).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem)))]
pub async fn get_user(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<UserView>, Problem> {
    Ok(Json(accounts::get_user(&s.app, &actor, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "accounts", request_body = UserPatch, params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_user(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(p): ApiJson<UserPatch>,
) -> Result<Json<UserView>, Problem> {
    Ok(Json(accounts::update_user(&s.app, &actor, id, p).await?))
}

#[derive(Serialize, ToSchema)]
pub struct TeamList {
    pub items: Vec<TeamView>,
}

#[utoipa::path(get, path = "/api/v1/teams", tag = "accounts", responses((status = 200, body = TeamList)))]
pub async fn list_teams(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<TeamList>, Problem> {
    Ok(Json(TeamList {
        items: accounts::list_teams(&s.app, &actor).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/teams", tag = "accounts", request_body = TeamInput,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = TeamView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_team(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: CreateJson<TeamInput>,
) -> Result<(StatusCode, Json<TeamView>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(accounts::create_team(&s.app, &actor, body.value, body.key).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, body = TeamView), (status = 404, body = Problem)))]
pub async fn get_team(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<TeamView>, Problem> {
    Ok(Json(accounts::get_team(&s.app, &actor, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/teams/{id}", tag = "accounts", request_body = TeamInput, params(("id" = i64, Path)),
    responses((status = 200, body = TeamView), (status = 404, body = Problem)))]
pub async fn update_team(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(p): ApiJson<TeamInput>,
) -> Result<Json<TeamView>, Problem> {
    Ok(Json(accounts::update_team(&s.app, &actor, id, p).await?))
}

#[derive(Serialize, ToSchema)]
pub struct OrganizationList {
    pub items: Vec<OrganizationView>,
}

#[utoipa::path(get, path = "/api/v1/organizations", tag = "accounts", responses((status = 200, body = OrganizationList)))]
pub async fn list_orgs(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<OrganizationList>, Problem> {
    Ok(Json(OrganizationList {
        items: accounts::list_orgs(&s.app, &actor).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/organizations", tag = "accounts", request_body = OrganizationInput,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = OrganizationView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_org(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: CreateJson<OrganizationInput>,
) -> Result<(StatusCode, Json<OrganizationView>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(accounts::create_org(&s.app, &actor, body.value, body.key).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, body = OrganizationView), (status = 404, body = Problem)))]
pub async fn get_org(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<OrganizationView>, Problem> {
    Ok(Json(accounts::get_org(&s.app, &actor, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/organizations/{id}", tag = "accounts", request_body = OrganizationPatch, params(("id" = i64, Path)),
    responses((status = 200, body = OrganizationView), (status = 404, body = Problem)))]
pub async fn update_org(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    ApiJson(p): ApiJson<OrganizationPatch>,
) -> Result<Json<OrganizationView>, Problem> {
    Ok(Json(accounts::update_org(&s.app, &actor, id, p).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    pub name: String,
}

#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "accounts", request_body = TokenInput,
    responses((status = 201, body = CreatedToken, description = "The token is shown this once")))]
pub async fn create_token(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(t): ApiJson<TokenInput>,
) -> Result<(StatusCode, Json<CreatedToken>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(auth::create_token(&s.app, &actor, &t.name).await?),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// The first characters, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenInfo>,
}

#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "accounts", responses((status = 200, body = TokenList)))]
pub async fn list_tokens(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<TokenList>, Problem> {
    use crate::app::views::instant;
    let items = auth::list_tokens(&s.app, &actor)
        .await?
        .into_iter()
        .map(|t| TokenInfo {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created_at: instant(t.created_at),
            last_used_at: t.last_used_at.map(instant),
            revoked_at: t.revoked_at.map(instant),
        })
        .collect();
    Ok(Json(TokenList { items }))
}

#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    auth::revoke_token(&s.app, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
