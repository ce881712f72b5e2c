//! Accounts administration: users, teams, customer organisations. Only roles that manage
//! accounts get these pages; everyone else gets 403.

use super::desk::Choice;
use super::form::{self, Fields};
use super::portal::error_field;
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome};
use crate::app::accounts::{
    self, NewUserInput, OrganizationInput, OrganizationPatch, TeamInput, UserPatch,
};
use crate::app::views::{OrganizationView, TeamView, UserView};
use crate::app::AppError;
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use steward_core::{Capability, Role};
use steward_store::accounts::UserFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { see_other("/admin/users") }))
        .route("/admin/users", get(users).post(create_user))
        .route("/admin/users/{id}", get(edit_user).post(update_user))
        .route("/admin/teams", get(teams).post(create_team))
        .route("/admin/teams/{id}", post(rename_team))
        .route("/admin/organizations", get(orgs).post(create_org))
        .route("/admin/organizations/{id}", post(update_org))
}

fn require_admin(u: &WebUser) -> Result<(), AppError> {
    u.actor.require(Capability::ManageAccounts)
}

fn parse_id(raw: &str) -> Result<i64, AppError> {
    raw.parse().map_err(|_| AppError::NotFound)
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
    after: Option<i64>,
}

fn notice(u: &WebUser, done: Option<&str>) -> Option<String> {
    match done {
        Some(d @ ("created" | "saved")) => Some(u.lang.t(&format!("done-{d}"))),
        _ => None,
    }
}

/// What the user form shows: the account being edited, or what was typed into the create form.
#[derive(Default)]
pub struct UserForm {
    pub name: String,
    pub email: String,
    pub role: String,
    pub organization_id: Option<i64>,
    pub team_ids: Vec<i64>,
    pub locale: String,
    pub active: bool,
}

impl UserForm {
    fn from_view(v: &UserView) -> UserForm {
        UserForm {
            name: v.name.clone(),
            email: v.email.clone(),
            role: v.role.clone(),
            organization_id: v.organization_id,
            team_ids: v.team_ids.clone(),
            locale: v.locale.clone().unwrap_or_default(),
            active: v.active,
        }
    }

    fn from_fields(f: &Fields) -> UserForm {
        UserForm {
            name: f.get("name").to_string(),
            email: f.get("email").to_string(),
            role: f.get("role").to_string(),
            organization_id: f.id("organization_id").ok().flatten(),
            team_ids: f.ids("team_ids").unwrap_or_default(),
            locale: f.get("locale").to_string(),
            active: f.has("active"),
        }
    }
}

/// A row of the user list, with names instead of ids.
pub struct UserRow {
    pub user: UserView,
    pub organization: String,
    pub teams: String,
}

struct Lookups {
    teams: Vec<TeamView>,
    orgs: Vec<OrganizationView>,
}

async fn lookups(s: &AppState, u: &WebUser) -> Result<Lookups, AppError> {
    Ok(Lookups {
        teams: accounts::list_teams(&s.app, &u.actor).await?,
        orgs: accounts::list_orgs(&s.app, &u.actor).await?,
    })
}

fn role_choices(c: &Chrome, current: &str) -> Vec<Choice> {
    Role::ALL
        .iter()
        .map(|r| Choice {
            value: r.as_str().into(),
            label: c.role_name(r.as_str()),
            selected: current == r.as_str(),
        })
        .collect()
}

fn org_choices(l: &Lookups, current: Option<i64>) -> Vec<Choice> {
    l.orgs
        .iter()
        .map(|o| Choice {
            value: o.id.to_string(),
            label: o.name.clone(),
            selected: current == Some(o.id),
        })
        .collect()
}

fn team_choices(l: &Lookups, current: &[i64]) -> Vec<Choice> {
    l.teams
        .iter()
        .map(|t| Choice {
            value: t.id.to_string(),
            label: t.name.clone(),
            selected: current.contains(&t.id),
        })
        .collect()
}

fn locale_choices(c: &Chrome, current: &str) -> Vec<Choice> {
    accounts::LOCALES
        .iter()
        .map(|l| Choice {
            value: l.to_string(),
            label: c.label("locale", l),
            selected: current == *l,
        })
        .collect()
}

// --- users ---

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    c: Chrome,
    rows: Vec<UserRow>,
    roles: Vec<Choice>,
    orgs: Vec<Choice>,
    teams: Vec<Choice>,
    locales: Vec<Choice>,
    form: UserForm,
    error: Option<String>,
    error_field: String,
    notice: Option<String>,
    next_href: Option<String>,
    nonce: String,
}

const PAGE_SIZE: i64 = 100;

async fn users_page(
    s: &AppState,
    u: &WebUser,
    after: Option<i64>,
    form: UserForm,
    error: Option<&AppError>,
    notice: Option<String>,
) -> Result<Response, AppError> {
    require_admin(u)?;
    let l = lookups(s, u).await?;
    let users = accounts::list_users(
        &s.app,
        &u.actor,
        UserFilter {
            after_id: after,
            limit: PAGE_SIZE,
            ..Default::default()
        },
    )
    .await?;
    let next_href = (users.len() as i64 == PAGE_SIZE)
        .then(|| users.last().map(|x| format!("/admin/users?after={}", x.id)))
        .flatten();
    let c = Chrome::new(u, "admin");
    let rows = users
        .into_iter()
        .map(|user| {
            let organization = user
                .organization_id
                .and_then(|o| l.orgs.iter().find(|x| x.id == o))
                .map(|o| o.name.clone())
                .unwrap_or_default();
            let sep = if c.i == crate::i18n::Lang::ZhCn {
                "、"
            } else {
                ", "
            };
            let teams = l
                .teams
                .iter()
                .filter(|t| user.team_ids.contains(&t.id))
                .map(|t| t.name.clone())
                .collect::<Vec<_>>()
                .join(sep);
            UserRow {
                user,
                organization,
                teams,
            }
        })
        .collect();
    let status = error.map(status_of).unwrap_or(StatusCode::OK);
    let page = UsersPage {
        roles: role_choices(&c, &form.role),
        orgs: org_choices(&l, form.organization_id),
        teams: team_choices(&l, &form.team_ids),
        locales: locale_choices(&c, &form.locale),
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(error_field).unwrap_or_default(),
        rows,
        form,
        notice,
        next_href,
        nonce: form::form_nonce(),
        c,
    };
    Ok(render(status, &page))
}

async fn users(State(s): State<AppState>, u: WebUser, Query(d): Query<Done>) -> Response {
    let form = UserForm {
        role: "requester".into(),
        locale: "zh-CN".into(),
        active: true,
        ..Default::default()
    };
    let r = users_page(&s, &u, d.after, form, None, notice(&u, d.done.as_deref())).await;
    finish(&u, r)
}

fn is_form_error(e: &AppError) -> bool {
    matches!(
        e,
        AppError::Invalid { .. } | AppError::Conflict { .. } | AppError::BadRequest(_)
    ) || (matches!(e, AppError::Store(_)) && e.code() == "conflict")
}

async fn create_user(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        require_admin(&u)?;
        form::check(&u, &headers, &f)?;
        let result = async {
            let input = NewUserInput {
                email: f.get("email").to_string(),
                name: f.get("name").to_string(),
                role: f.get("role").to_string(),
                password: f.opt("password"),
                organization_id: f.id("organization_id")?,
                team_ids: f.ids("team_ids")?,
                locale: f.opt("locale"),
            };
            let key = f
                .opt("nonce")
                .map(|n| {
                    crate::app::idempotency::IdempotencyKey::parse(
                        &format!("web-{n}"),
                        "web new user".into(),
                    )
                })
                .transpose()?;
            accounts::create_user(&s.app, &u.actor, input, key).await
        }
        .await;
        match result {
            Ok(_) => Ok(see_other("/admin/users?done=created")),
            Err(e) if is_form_error(&e) => {
                users_page(&s, &u, None, UserForm::from_fields(&f), Some(&e), None).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    c: Chrome,
    id: i64,
    created_at: String,
    roles: Vec<Choice>,
    orgs: Vec<Choice>,
    teams: Vec<Choice>,
    locales: Vec<Choice>,
    form: UserForm,
    error: Option<String>,
    error_field: String,
    notice: Option<String>,
}

async fn user_page(
    s: &AppState,
    u: &WebUser,
    id: i64,
    form: Option<UserForm>,
    error: Option<&AppError>,
    notice: Option<String>,
) -> Result<Response, AppError> {
    require_admin(u)?;
    let l = lookups(s, u).await?;
    let v = accounts::get_user(&s.app, &u.actor, id).await?;
    let form = form.unwrap_or_else(|| UserForm::from_view(&v));
    let c = Chrome::new(u, "admin");
    let status = error.map(status_of).unwrap_or(StatusCode::OK);
    let page = UserPage {
        id,
        created_at: c.time(&v.created_at),
        roles: role_choices(&c, &form.role),
        orgs: org_choices(&l, form.organization_id),
        teams: team_choices(&l, &form.team_ids),
        locales: locale_choices(&c, &form.locale),
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(error_field).unwrap_or_default(),
        form,
        notice,
        c,
    };
    Ok(render(status, &page))
}

async fn edit_user(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(d): Query<Done>,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        user_page(&s, &u, id, None, None, notice(&u, d.done.as_deref())).await
    }
    .await;
    finish(&u, r)
}

async fn update_user(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        require_admin(&u)?;
        let id = parse_id(&id)?;
        form::check(&u, &headers, &f)?;
        let result = async {
            let patch = UserPatch {
                email: Some(f.get("email").to_string()),
                name: Some(f.get("name").to_string()),
                role: Some(f.get("role").to_string()),
                password: f.opt("password"),
                organization_id: Some(f.id("organization_id")?),
                team_ids: Some(f.ids("team_ids")?),
                active: Some(f.has("active")),
                locale: f.opt("locale"),
                time_zone: None,
            };
            accounts::update_user(&s.app, &u.actor, id, patch).await
        }
        .await;
        match result {
            Ok(_) => Ok(see_other(&format!("/admin/users/{id}?done=saved"))),
            Err(e) if is_form_error(&e) => {
                user_page(&s, &u, id, Some(UserForm::from_fields(&f)), Some(&e), None).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    finish(&u, r)
}

// --- teams ---

pub struct TeamRow {
    pub team: TeamView,
    /// What was typed when saving this row failed.
    pub value: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_teams.html")]
struct TeamsPage {
    c: Chrome,
    rows: Vec<TeamRow>,
    new_name: String,
    error: Option<String>,
    notice: Option<String>,
}

async fn teams_page(
    s: &AppState,
    u: &WebUser,
    row_error: Option<(i64, String, &AppError)>,
    new_error: Option<(String, &AppError)>,
    notice: Option<String>,
) -> Result<Response, AppError> {
    require_admin(u)?;
    let teams = accounts::list_teams(&s.app, &u.actor).await?;
    let status = row_error
        .as_ref()
        .map(|(_, _, e)| status_of(e))
        .or(new_error.as_ref().map(|(_, e)| status_of(e)))
        .unwrap_or(StatusCode::OK);
    let rows = teams
        .into_iter()
        .map(|team| match &row_error {
            Some((id, value, e)) if *id == team.id => TeamRow {
                value: value.clone(),
                error: Some(describe(u.lang, e)),
                team,
            },
            _ => TeamRow {
                value: team.name.clone(),
                error: None,
                team,
            },
        })
        .collect();
    let page = TeamsPage {
        c: Chrome::new(u, "admin"),
        rows,
        new_name: new_error
            .as_ref()
            .map(|(n, _)| n.clone())
            .unwrap_or_default(),
        error: new_error.map(|(_, e)| describe(u.lang, e)),
        notice,
    };
    Ok(render(status, &page))
}

async fn teams(State(s): State<AppState>, u: WebUser, Query(d): Query<Done>) -> Response {
    let r = teams_page(&s, &u, None, None, notice(&u, d.done.as_deref())).await;
    finish(&u, r)
}

async fn create_team(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        require_admin(&u)?;
        form::check(&u, &headers, &f)?;
        let name = f.get("name").to_string();
        match accounts::create_team(&s.app, &u.actor, TeamInput { name: name.clone() }, None).await
        {
            Ok(_) => Ok(see_other("/admin/teams?done=created")),
            Err(e) if is_form_error(&e) => teams_page(&s, &u, None, Some((name, &e)), None).await,
            Err(e) => Err(e),
        }
    }
    .await;
    finish(&u, r)
}

async fn rename_team(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        require_admin(&u)?;
        let id = parse_id(&id)?;
        form::check(&u, &headers, &f)?;
        let name = f.get("name").to_string();
        match accounts::update_team(&s.app, &u.actor, id, TeamInput { name: name.clone() }).await {
            Ok(_) => Ok(see_other("/admin/teams?done=saved")),
            Err(e) if is_form_error(&e) => {
                teams_page(&s, &u, Some((id, name, &e)), None, None).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    finish(&u, r)
}

// --- organisations ---

pub struct OrgRow {
    pub org: OrganizationView,
    pub value: String,
    pub members_see: bool,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_orgs.html")]
struct OrgsPage {
    c: Chrome,
    rows: Vec<OrgRow>,
    new_name: String,
    new_members_see: bool,
    error: Option<String>,
    notice: Option<String>,
}

struct OrgAttempt<'a> {
    id: Option<i64>,
    name: String,
    members_see: bool,
    error: &'a AppError,
}

async fn orgs_page(
    s: &AppState,
    u: &WebUser,
    attempt: Option<OrgAttempt<'_>>,
    notice: Option<String>,
) -> Result<Response, AppError> {
    require_admin(u)?;
    let orgs = accounts::list_orgs(&s.app, &u.actor).await?;
    let status = attempt
        .as_ref()
        .map(|a| status_of(a.error))
        .unwrap_or(StatusCode::OK);
    let rows = orgs
        .into_iter()
        .map(|org| match &attempt {
            Some(a) if a.id == Some(org.id) => OrgRow {
                value: a.name.clone(),
                members_see: a.members_see,
                error: Some(describe(u.lang, a.error)),
                org,
            },
            _ => OrgRow {
                value: org.name.clone(),
                members_see: org.members_see_each_other,
                error: None,
                org,
            },
        })
        .collect();
    let new_attempt = attempt.as_ref().filter(|a| a.id.is_none());
    let page = OrgsPage {
        c: Chrome::new(u, "admin"),
        rows,
        new_name: new_attempt.map(|a| a.name.clone()).unwrap_or_default(),
        new_members_see: new_attempt.is_some_and(|a| a.members_see),
        error: new_attempt.map(|a| describe(u.lang, a.error)),
        notice,
    };
    Ok(render(status, &page))
}

async fn orgs(State(s): State<AppState>, u: WebUser, Query(d): Query<Done>) -> Response {
    let r = orgs_page(&s, &u, None, notice(&u, d.done.as_deref())).await;
    finish(&u, r)
}

async fn create_org(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        require_admin(&u)?;
        form::check(&u, &headers, &f)?;
        let name = f.get("name").to_string();
        let members_see = f.has("members_see_each_other");
        let input = OrganizationInput {
            name: name.clone(),
            members_see_each_other: members_see,
        };
        match accounts::create_org(&s.app, &u.actor, input, None).await {
            Ok(_) => Ok(see_other("/admin/organizations?done=created")),
            Err(e) if is_form_error(&e) => {
                let attempt = OrgAttempt {
                    id: None,
                    name,
                    members_see,
                    error: &e,
                };
                orgs_page(&s, &u, Some(attempt), None).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    finish(&u, r)
}

async fn update_org(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        require_admin(&u)?;
        let id = parse_id(&id)?;
        form::check(&u, &headers, &f)?;
        let name = f.get("name").to_string();
        let members_see = f.has("members_see_each_other");
        let patch = OrganizationPatch {
            name: Some(name.clone()),
            members_see_each_other: Some(members_see),
        };
        match accounts::update_org(&s.app, &u.actor, id, patch).await {
            Ok(_) => Ok(see_other("/admin/organizations?done=saved")),
            Err(e) if is_form_error(&e) => {
                let attempt = OrgAttempt {
                    id: Some(id),
                    name,
                    members_see,
                    error: &e,
                };
                orgs_page(&s, &u, Some(attempt), None).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    finish(&u, r)
}
