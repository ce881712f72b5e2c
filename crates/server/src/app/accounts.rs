//! Users, teams and customer organisations (admin), and each user's own preferences.

use super::auth::{check_password_policy, hash_password};
use super::error::text_field;
use super::idempotency::{self, IdempotencyKey};
use super::views::{OrganizationView, TeamView, UserView};
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::Deserialize;
use sqlx::AnyConnection;
use steward_core::text::single_line;
use steward_core::{Capability, Role};
use steward_store::accounts::{self, NewUser, UserFilter};
use utoipa::ToSchema;

pub const LOCALES: &[&str] = &["zh-CN", "en"];

/// Deserialises a field that may be absent (keep), null (clear) or a value (set).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn check_email(email: &str) -> AppResult<String> {
    let email = text_field("email", single_line(email, 254))?.to_lowercase();
    let valid = email
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !email.contains(char::is_whitespace);
    if !valid {
        return Err(AppError::invalid("email", "is not an email address"));
    }
    Ok(email)
}

fn check_locale(locale: &str) -> AppResult<String> {
    LOCALES
        .iter()
        .find(|l| l.eq_ignore_ascii_case(locale))
        .map(|l| l.to_string())
        .ok_or_else(|| AppError::invalid("locale", "must be zh-CN or en"))
}

fn check_time_zone(tz: &str) -> AppResult<String> {
    jiff::tz::TimeZone::get(tz)
        .map_err(|_| AppError::invalid("time_zone", "is not a known IANA time zone"))?;
    Ok(tz.to_string())
}

async fn check_refs(
    conn: &mut AnyConnection,
    role: Role,
    org: Option<i64>,
    teams: &[i64],
) -> AppResult<()> {
    if let Some(o) = org {
        accounts::get_org(conn, o)
            .await?
            .ok_or_else(|| AppError::invalid("organization_id", "no such organisation"))?;
    }
    if !teams.is_empty() && !role.is_staff() {
        return Err(AppError::invalid(
            "team_ids",
            "requesters do not belong to teams",
        ));
    }
    for t in teams {
        accounts::get_team(conn, *t)
            .await?
            .ok_or_else(|| AppError::invalid("team_ids", format!("no team {t}")))?;
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserInput {
    pub email: String,
    pub name: String,
    pub role: String,
    /// At least 10 characters, not a known breached password. Without it the user cannot sign
    /// in with a password.
    pub password: Option<String>,
    pub organization_id: Option<i64>,
    #[serde(default)]
    pub team_ids: Vec<i64>,
    /// zh-CN or en
    pub locale: Option<String>,
}

pub async fn create_user(
    app: &App,
    actor: &Actor,
    input: NewUserInput,
    key: Option<IdempotencyKey>,
) -> AppResult<UserView> {
    actor.require(Capability::ManageAccounts)?;
    let email = check_email(&input.email)?;
    let name = text_field("name", single_line(&input.name, 200))?;
    let role: Role = input.role.parse().map_err(|_| {
        AppError::invalid(
            "role",
            "must be one of requester, agent, team_lead, service_manager, auditor, admin",
        )
    })?;
    let locale = input.locale.as_deref().map(check_locale).transpose()?;
    let hash = match &input.password {
        Some(p) => {
            check_password_policy("password", p, &email)?;
            let p = p.clone();
            Some(
                tokio::task::spawn_blocking(move || hash_password(&p))
                    .await
                    .map_err(|e| AppError::BadRequest(e.to_string()))??,
            )
        }
        None => None,
    };
    let actor = actor.clone();
    let org = input.organization_id;
    let mut teams = input.team_ids;
    teams.sort_unstable();
    teams.dedup();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if let Some(v) = idempotency::replay(ctx, actor.user_id, &key).await? {
                    return Ok(v);
                }
                check_refs(&mut ctx.conn, role, org, &teams).await?;
                if accounts::user_by_email(&mut ctx.conn, &email)
                    .await?
                    .is_some()
                {
                    return Err(AppError::invalid(
                        "email",
                        "is already used by another account",
                    ));
                }
                let now = now();
                let u = accounts::insert_user(
                    &mut ctx.conn,
                    NewUser {
                        email: &email,
                        name: &name,
                        role: role.as_str(),
                        password_hash: hash.as_deref(),
                        organization_id: org,
                        locale: locale.as_deref(),
                    },
                    now,
                )
                .await?;
                accounts::set_user_teams(&mut ctx.conn, u.id, &teams).await?;
                let trail = AuditTrail::new(&actor, "user", u.id, now);
                trail
                    .record(
                        ctx,
                        "create",
                        None,
                        None,
                        Some(format!("{} ({})", u.email, u.role)),
                    )
                    .await?;
                if !teams.is_empty() {
                    trail
                        .record(
                            ctx,
                            "update",
                            Some("team_ids"),
                            None,
                            Some(format!("{teams:?}")),
                        )
                        .await?;
                }
                let view = UserView::new(&u, teams);
                idempotency::remember(ctx, actor.user_id, &key, &view).await?;
                Ok(view)
            })
        })
        .await
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
    pub password: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub organization_id: Option<Option<i64>>,
    pub team_ids: Option<Vec<i64>>,
    /// false disables the account and ends its sessions.
    pub active: Option<bool>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
}

pub async fn update_user(
    app: &App,
    actor: &Actor,
    id: i64,
    patch: UserPatch,
) -> AppResult<UserView> {
    actor.require(Capability::ManageAccounts)?;
    let email = patch.email.as_deref().map(check_email).transpose()?;
    let name = patch
        .name
        .as_deref()
        .map(|n| text_field("name", single_line(n, 200)))
        .transpose()?;
    let role = patch
        .role
        .as_deref()
        .map(|r| {
            r.parse::<Role>()
                .map_err(|_| AppError::invalid("role", "is not a role"))
        })
        .transpose()?;
    let locale = patch.locale.as_deref().map(check_locale).transpose()?;
    let time_zone = patch
        .time_zone
        .as_deref()
        .map(check_time_zone)
        .transpose()?;
    if id == actor.user_id
        && (patch.active == Some(false) || role.is_some_and(|r| r != Role::Admin))
    {
        return Err(AppError::invalid(
            "active",
            "you cannot disable or demote your own account",
        ));
    }
    let hash = match &patch.password {
        Some(p) => {
            check_password_policy("password", p, email.as_deref().unwrap_or(""))?;
            let p = p.clone();
            Some(
                tokio::task::spawn_blocking(move || hash_password(&p))
                    .await
                    .map_err(|e| AppError::BadRequest(e.to_string()))??,
            )
        }
        None => None,
    };
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let mut u = accounts::get_user(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let old = u.clone();
                let old_teams = accounts::user_team_ids(&mut ctx.conn, id).await?;
                if let Some(e) = email {
                    if e != u.email && accounts::user_by_email(&mut ctx.conn, &e).await?.is_some() {
                        return Err(AppError::invalid(
                            "email",
                            "is already used by another account",
                        ));
                    }
                    u.email = e;
                }
                if let Some(n) = name {
                    u.name = n;
                }
                if let Some(r) = role {
                    u.role = r.as_str().to_string();
                }
                if let Some(o) = patch.organization_id {
                    u.organization_id = o;
                }
                if let Some(a) = patch.active {
                    u.active = a;
                }
                if locale.is_some() {
                    u.locale = locale;
                }
                if time_zone.is_some() {
                    u.time_zone = time_zone;
                }
                let password_changed = hash.is_some();
                if hash.is_some() {
                    u.password_hash = hash;
                }
                let mut teams = patch.team_ids.unwrap_or_else(|| old_teams.clone());
                teams.sort_unstable();
                teams.dedup();
                let role: Role = u
                    .role
                    .parse()
                    .map_err(|_| AppError::invalid("role", "is not a role"))?;
                check_refs(&mut ctx.conn, role, u.organization_id, &teams).await?;
                let now = now();
                u.updated_at = now;
                accounts::update_user(&mut ctx.conn, &u).await?;
                if teams != old_teams {
                    accounts::set_user_teams(&mut ctx.conn, id, &teams).await?;
                }
                // A disabled account, a new password or a new role ends every session.
                if !u.active || password_changed || old.role != u.role {
                    accounts::delete_user_sessions(&mut ctx.conn, id).await?;
                }
                let trail = AuditTrail::new(&actor, "user", id, now);
                trail
                    .changes(
                        ctx,
                        &[
                            ("email", Some(old.email), Some(u.email.clone())),
                            ("name", Some(old.name), Some(u.name.clone())),
                            ("role", Some(old.role), Some(u.role.clone())),
                            (
                                "organization_id",
                                old.organization_id.map(|v| v.to_string()),
                                u.organization_id.map(|v| v.to_string()),
                            ),
                            (
                                "active",
                                Some(old.active.to_string()),
                                Some(u.active.to_string()),
                            ),
                            ("locale", old.locale, u.locale.clone()),
                            ("time_zone", old.time_zone, u.time_zone.clone()),
                            (
                                "team_ids",
                                Some(format!("{old_teams:?}")),
                                Some(format!("{teams:?}")),
                            ),
                        ],
                    )
                    .await?;
                if password_changed {
                    trail
                        .record(
                            ctx,
                            "update",
                            Some("password"),
                            None,
                            Some("(changed)".into()),
                        )
                        .await?;
                }
                Ok(UserView::new(&u, teams))
            })
        })
        .await
}

/// A user changes their own language and time zone.
pub async fn update_preferences(
    app: &App,
    actor: &Actor,
    locale: Option<String>,
    time_zone: Option<String>,
) -> AppResult<UserView> {
    let locale = locale
        .as_deref()
        .filter(|l| !l.is_empty())
        .map(check_locale)
        .transpose()?;
    let time_zone = time_zone
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(check_time_zone)
        .transpose()?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let mut u = accounts::get_user(&mut ctx.conn, actor.user_id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let old = u.clone();
                u.locale = locale.or(u.locale);
                u.time_zone = time_zone.or(u.time_zone);
                let now = now();
                u.updated_at = now;
                accounts::update_user(&mut ctx.conn, &u).await?;
                AuditTrail::new(&actor, "user", u.id, now)
                    .changes(
                        ctx,
                        &[
                            ("locale", old.locale, u.locale.clone()),
                            ("time_zone", old.time_zone, u.time_zone.clone()),
                        ],
                    )
                    .await?;
                let teams = accounts::user_team_ids(&mut ctx.conn, u.id).await?;
                Ok(UserView::new(&u, teams))
            })
        })
        .await
}

pub async fn me(app: &App, actor: &Actor) -> AppResult<UserView> {
    let mut conn = app.read().await?;
    let u = accounts::get_user(&mut conn, actor.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(UserView::new(&u, actor.team_ids.clone()))
}

/// Staff may look users up (to assign, to pick a requester); requesters may not.
fn require_user_directory(actor: &Actor) -> AppResult<()> {
    if actor.can(Capability::ManageAccounts)
        || actor.can(Capability::WorkTickets)
        || actor.can(Capability::SeeAllTickets)
    {
        Ok(())
    } else {
        Err(AppError::forbidden("your role does not allow this"))
    }
}

pub async fn get_user(app: &App, actor: &Actor, id: i64) -> AppResult<UserView> {
    if id != actor.user_id {
        require_user_directory(actor)?;
    }
    let mut conn = app.read().await?;
    let u = accounts::get_user(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let teams = accounts::user_team_ids(&mut conn, id).await?;
    Ok(UserView::new(&u, teams))
}

pub async fn list_users(
    app: &App,
    actor: &Actor,
    mut filter: UserFilter,
) -> AppResult<Vec<UserView>> {
    require_user_directory(actor)?;
    filter.limit = filter.limit.clamp(1, 500);
    let mut conn = app.read().await?;
    let users = accounts::list_users(&mut conn, &filter).await?;
    let mut out = Vec::with_capacity(users.len());
    for u in &users {
        let teams = accounts::user_team_ids(&mut conn, u.id).await?;
        out.push(UserView::new(u, teams));
    }
    Ok(out)
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    pub name: String,
}

pub async fn create_team(
    app: &App,
    actor: &Actor,
    input: TeamInput,
    key: Option<IdempotencyKey>,
) -> AppResult<TeamView> {
    actor.require(Capability::ManageAccounts)?;
    let name = text_field("name", single_line(&input.name, 100))?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if let Some(v) = idempotency::replay(ctx, actor.user_id, &key).await? {
                    return Ok(v);
                }
                if accounts::team_by_name(&mut ctx.conn, &name)
                    .await?
                    .is_some()
                {
                    return Err(AppError::invalid("name", "a team of this name exists"));
                }
                let now = now();
                let t = accounts::insert_team(&mut ctx.conn, &name, now).await?;
                AuditTrail::new(&actor, "team", t.id, now)
                    .record(ctx, "create", None, None, Some(t.name.clone()))
                    .await?;
                let view = TeamView::new(&t, vec![]);
                idempotency::remember(ctx, actor.user_id, &key, &view).await?;
                Ok(view)
            })
        })
        .await
}

pub async fn update_team(
    app: &App,
    actor: &Actor,
    id: i64,
    input: TeamInput,
) -> AppResult<TeamView> {
    actor.require(Capability::ManageAccounts)?;
    let name = text_field("name", single_line(&input.name, 100))?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let mut t = accounts::get_team(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                if name != t.name
                    && accounts::team_by_name(&mut ctx.conn, &name)
                        .await?
                        .is_some()
                {
                    return Err(AppError::invalid("name", "a team of this name exists"));
                }
                let old = std::mem::replace(&mut t.name, name);
                let now = now();
                t.updated_at = now;
                accounts::update_team(&mut ctx.conn, &t).await?;
                AuditTrail::new(&actor, "team", id, now)
                    .changes(ctx, &[("name", Some(old), Some(t.name.clone()))])
                    .await?;
                let members = accounts::team_member_ids(&mut ctx.conn, id).await?;
                Ok(TeamView::new(&t, members))
            })
        })
        .await
}

/// Every signed-in staff member may list teams (to route tickets); requesters may not.
pub async fn list_teams(app: &App, actor: &Actor) -> AppResult<Vec<TeamView>> {
    require_user_directory(actor)?;
    let mut conn = app.read().await?;
    let teams = accounts::list_teams(&mut conn).await?;
    let mut out = Vec::with_capacity(teams.len());
    for t in &teams {
        let members = accounts::team_member_ids(&mut conn, t.id).await?;
        out.push(TeamView::new(t, members));
    }
    Ok(out)
}

pub async fn get_team(app: &App, actor: &Actor, id: i64) -> AppResult<TeamView> {
    require_user_directory(actor)?;
    let mut conn = app.read().await?;
    let t = accounts::get_team(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let members = accounts::team_member_ids(&mut conn, id).await?;
    Ok(TeamView::new(&t, members))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationInput {
    pub name: String,
    /// Members see each other's tickets (default false).
    #[serde(default)]
    pub members_see_each_other: bool,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub members_see_each_other: Option<bool>,
}

pub async fn create_org(
    app: &App,
    actor: &Actor,
    input: OrganizationInput,
    key: Option<IdempotencyKey>,
) -> AppResult<OrganizationView> {
    actor.require(Capability::ManageAccounts)?;
    let name = text_field("name", single_line(&input.name, 200))?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if let Some(v) = idempotency::replay(ctx, actor.user_id, &key).await? {
                    return Ok(v);
                }
                if accounts::org_by_name(&mut ctx.conn, &name).await?.is_some() {
                    return Err(AppError::invalid(
                        "name",
                        "an organisation of this name exists",
                    ));
                }
                let now = now();
                let o =
                    accounts::insert_org(&mut ctx.conn, &name, input.members_see_each_other, now)
                        .await?;
                AuditTrail::new(&actor, "organization", o.id, now)
                    .record(ctx, "create", None, None, Some(o.name.clone()))
                    .await?;
                let view = OrganizationView::from(&o);
                idempotency::remember(ctx, actor.user_id, &key, &view).await?;
                Ok(view)
            })
        })
        .await
}

pub async fn update_org(
    app: &App,
    actor: &Actor,
    id: i64,
    patch: OrganizationPatch,
) -> AppResult<OrganizationView> {
    actor.require(Capability::ManageAccounts)?;
    let name = patch
        .name
        .as_deref()
        .map(|n| text_field("name", single_line(n, 200)))
        .transpose()?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let mut o = accounts::get_org(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let old = o.clone();
                if let Some(n) = name {
                    if n != o.name && accounts::org_by_name(&mut ctx.conn, &n).await?.is_some() {
                        return Err(AppError::invalid(
                            "name",
                            "an organisation of this name exists",
                        ));
                    }
                    o.name = n;
                }
                if let Some(m) = patch.members_see_each_other {
                    o.members_see_each_other = m;
                }
                let now = now();
                o.updated_at = now;
                accounts::update_org(&mut ctx.conn, &o).await?;
                AuditTrail::new(&actor, "organization", id, now)
                    .changes(
                        ctx,
                        &[
                            ("name", Some(old.name), Some(o.name.clone())),
                            (
                                "members_see_each_other",
                                Some(old.members_see_each_other.to_string()),
                                Some(o.members_see_each_other.to_string()),
                            ),
                        ],
                    )
                    .await?;
                Ok(OrganizationView::from(&o))
            })
        })
        .await
}

pub async fn list_orgs(app: &App, actor: &Actor) -> AppResult<Vec<OrganizationView>> {
    require_user_directory(actor)?;
    let mut conn = app.read().await?;
    Ok(accounts::list_orgs(&mut conn)
        .await?
        .iter()
        .map(OrganizationView::from)
        .collect())
}

pub async fn get_org(app: &App, actor: &Actor, id: i64) -> AppResult<OrganizationView> {
    require_user_directory(actor)?;
    let mut conn = app.read().await?;
    let o = accounts::get_org(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(OrganizationView::from(&o))
}
