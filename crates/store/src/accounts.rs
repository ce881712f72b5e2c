//! Organisations, teams, users, browser sessions and personal API tokens.

use crate::sql::Sql;
use crate::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub members_see_each_other: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub password_hash: Option<String>,
    pub organization_id: Option<i64>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn org(row: &AnyRow) -> sqlx::Result<Organization> {
    Ok(Organization {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        members_see_each_other: row.try_get::<i64, _>(2)? != 0,
        created_at: row.try_get(3)?,
        updated_at: row.try_get(4)?,
    })
}

fn team(row: &AnyRow) -> sqlx::Result<Team> {
    Ok(Team {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        created_at: row.try_get(2)?,
        updated_at: row.try_get(3)?,
    })
}

const USER_COLUMNS: &str = "id, email, name, role, password_hash, organization_id, locale, time_zone, active, created_at, updated_at";

fn user(row: &AnyRow) -> sqlx::Result<User> {
    Ok(User {
        id: row.try_get(0)?,
        email: row.try_get(1)?,
        name: row.try_get(2)?,
        role: row.try_get(3)?,
        password_hash: row.try_get(4)?,
        organization_id: row.try_get(5)?,
        locale: row.try_get(6)?,
        time_zone: row.try_get(7)?,
        active: row.try_get::<i64, _>(8)? != 0,
        created_at: row.try_get(9)?,
        updated_at: row.try_get(10)?,
    })
}

// --- organisations ---

pub async fn insert_org(
    conn: &mut AnyConnection,
    name: &str,
    members_see_each_other: bool,
    now: i64,
) -> Result<Organization> {
    let row = sqlx::query(
        "INSERT INTO organizations (name, members_see_each_other, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         RETURNING id, name, members_see_each_other, created_at, updated_at",
    )
    .bind(name)
    .bind(members_see_each_other as i64)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(org(&row)?)
}

pub async fn update_org(conn: &mut AnyConnection, o: &Organization) -> Result<()> {
    sqlx::query("UPDATE organizations SET name = $2, members_see_each_other = $3, updated_at = $4 WHERE id = $1")
        .bind(o.id)
        .bind(&o.name)
        .bind(o.members_see_each_other as i64)
        .bind(o.updated_at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_org(conn: &mut AnyConnection, id: i64) -> Result<Option<Organization>> {
    let row = sqlx::query("SELECT id, name, members_see_each_other, created_at, updated_at FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(org).transpose()?)
}

pub async fn org_by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<Organization>> {
    let row = sqlx::query("SELECT id, name, members_see_each_other, created_at, updated_at FROM organizations WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(org).transpose()?)
}

pub async fn list_orgs(conn: &mut AnyConnection) -> Result<Vec<Organization>> {
    let rows = sqlx::query("SELECT id, name, members_see_each_other, created_at, updated_at FROM organizations ORDER BY name")
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(org).collect::<sqlx::Result<_>>()?)
}

// --- teams ---

pub async fn insert_team(conn: &mut AnyConnection, name: &str, now: i64) -> Result<Team> {
    let row = sqlx::query("INSERT INTO teams (name, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id, name, created_at, updated_at")
        .bind(name)
        .bind(now)
        .fetch_one(conn)
        .await?;
    Ok(team(&row)?)
}

pub async fn update_team(conn: &mut AnyConnection, t: &Team) -> Result<()> {
    sqlx::query("UPDATE teams SET name = $2, updated_at = $3 WHERE id = $1")
        .bind(t.id)
        .bind(&t.name)
        .bind(t.updated_at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_team(conn: &mut AnyConnection, id: i64) -> Result<Option<Team>> {
    let row = sqlx::query("SELECT id, name, created_at, updated_at FROM teams WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(team).transpose()?)
}

pub async fn team_by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<Team>> {
    let row = sqlx::query("SELECT id, name, created_at, updated_at FROM teams WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(team).transpose()?)
}

pub async fn list_teams(conn: &mut AnyConnection) -> Result<Vec<Team>> {
    let rows = sqlx::query("SELECT id, name, created_at, updated_at FROM teams ORDER BY name")
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(team).collect::<sqlx::Result<_>>()?)
}

pub async fn team_member_ids(conn: &mut AnyConnection, team_id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query("SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id")
        .bind(team_id)
        .fetch_all(conn)
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?)
}

// --- users ---

#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub password_hash: Option<&'a str>,
    pub organization_id: Option<i64>,
    pub locale: Option<&'a str>,
}

pub async fn insert_user(conn: &mut AnyConnection, u: NewUser<'_>, now: i64) -> Result<User> {
    let sql = format!(
        "INSERT INTO users (email, name, role, password_hash, organization_id, locale, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) RETURNING {USER_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(u.email)
        .bind(u.name)
        .bind(u.role)
        .bind(u.password_hash)
        .bind(u.organization_id)
        .bind(u.locale)
        .bind(now)
        .fetch_one(conn)
        .await?;
    Ok(user(&row)?)
}

pub async fn update_user(conn: &mut AnyConnection, u: &User) -> Result<()> {
    sqlx::query(
        "UPDATE users SET email = $2, name = $3, role = $4, password_hash = $5, organization_id = $6, \
         locale = $7, time_zone = $8, active = $9, updated_at = $10 WHERE id = $1",
    )
    .bind(u.id)
    .bind(&u.email)
    .bind(&u.name)
    .bind(&u.role)
    .bind(&u.password_hash)
    .bind(u.organization_id)
    .bind(&u.locale)
    .bind(&u.time_zone)
    .bind(u.active as i64)
    .bind(u.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_user(conn: &mut AnyConnection, id: i64) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(user).transpose()?)
}

pub async fn user_by_email(conn: &mut AnyConnection, email: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
    let row = sqlx::query(&sql).bind(email).fetch_optional(conn).await?;
    Ok(row.as_ref().map(user).transpose()?)
}

#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    pub role: Option<String>,
    pub team_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub staff_only: bool,
    pub after_id: Option<i64>,
    pub limit: i64,
}

pub async fn list_users(conn: &mut AnyConnection, f: &UserFilter) -> Result<Vec<User>> {
    let mut sql = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users WHERE 1 = 1"));
    if let Some(r) = &f.role {
        sql.push(" AND role = ").bind(r.as_str());
    }
    if f.staff_only {
        sql.push(" AND role <> 'requester'");
    }
    if let Some(t) = f.team_id {
        sql.push(" AND id IN (SELECT user_id FROM team_members WHERE team_id = ")
            .bind(t)
            .push(")");
    }
    if let Some(o) = f.organization_id {
        sql.push(" AND organization_id = ").bind(o);
    }
    if let Some(a) = f.after_id {
        sql.push(" AND id > ").bind(a);
    }
    sql.push(" ORDER BY id LIMIT ").bind(f.limit);
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(user).collect::<sqlx::Result<_>>()?)
}

pub async fn user_team_ids(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query("SELECT team_id FROM team_members WHERE user_id = $1 ORDER BY team_id")
        .bind(user_id)
        .fetch_all(conn)
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?)
}

pub async fn set_user_teams(
    conn: &mut AnyConnection,
    user_id: i64,
    team_ids: &[i64],
) -> Result<()> {
    sqlx::query("DELETE FROM team_members WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for t in team_ids {
        sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)")
            .bind(*t)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// --- sessions ---

pub async fn insert_session(
    conn: &mut AnyConnection,
    id_hash: &str,
    user_id: i64,
    csrf: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $4)")
        .bind(id_hash)
        .bind(user_id)
        .bind(csrf)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_session(conn: &mut AnyConnection, id_hash: &str) -> Result<Option<Session>> {
    let row = sqlx::query(
        "SELECT user_id, csrf_token, created_at, last_seen_at FROM sessions WHERE id_hash = $1",
    )
    .bind(id_hash)
    .fetch_optional(conn)
    .await?;
    Ok(row
        .map(|r| -> sqlx::Result<Session> {
            Ok(Session {
                user_id: r.try_get(0)?,
                csrf_token: r.try_get(1)?,
                created_at: r.try_get(2)?,
                last_seen_at: r.try_get(3)?,
            })
        })
        .transpose()?)
}

pub async fn touch_session(conn: &mut AnyConnection, id_hash: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1")
        .bind(id_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_session(conn: &mut AnyConnection, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_user_sessions(conn: &mut AnyConnection, user_id: i64) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes sessions idle since `idle_before` or created before `created_before`.
pub async fn delete_expired_sessions(
    conn: &mut AnyConnection,
    idle_before: i64,
    created_before: i64,
) -> Result<u64> {
    let r = sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
        .bind(idle_before)
        .bind(created_before)
        .execute(conn)
        .await?;
    Ok(r.rows_affected())
}

// --- API tokens ---

const TOKEN_COLUMNS: &str = "id, user_id, name, prefix, created_at, last_used_at, revoked_at";

fn token(row: &AnyRow) -> sqlx::Result<ApiToken> {
    Ok(ApiToken {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        name: row.try_get(2)?,
        prefix: row.try_get(3)?,
        created_at: row.try_get(4)?,
        last_used_at: row.try_get(5)?,
        revoked_at: row.try_get(6)?,
    })
}

pub async fn insert_token(
    conn: &mut AnyConnection,
    user_id: i64,
    name: &str,
    hash: &str,
    prefix: &str,
    now: i64,
) -> Result<ApiToken> {
    let sql = format!(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING {TOKEN_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(user_id)
        .bind(name)
        .bind(hash)
        .bind(prefix)
        .bind(now)
        .fetch_one(conn)
        .await?;
    Ok(token(&row)?)
}

pub async fn token_by_hash(conn: &mut AnyConnection, hash: &str) -> Result<Option<ApiToken>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1");
    let row = sqlx::query(&sql).bind(hash).fetch_optional(conn).await?;
    Ok(row.as_ref().map(token).transpose()?)
}

pub async fn list_tokens(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<ApiToken>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id DESC");
    let rows = sqlx::query(&sql).bind(user_id).fetch_all(conn).await?;
    Ok(rows.iter().map(token).collect::<sqlx::Result<_>>()?)
}

pub async fn revoke_token(
    conn: &mut AnyConnection,
    user_id: i64,
    id: i64,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query("UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL")
        .bind(id)
        .bind(user_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn touch_token(conn: &mut AnyConnection, id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}
