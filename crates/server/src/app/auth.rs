//! Passwords, browser sessions, API tokens and login throttling.

use super::{now, Actor, App, AppError, AppResult};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use steward_core::Channel;
use steward_store::{accounts, audit};

pub const MIN_PASSWORD_CHARS: usize = 10;

/// The most used passwords of public breach corpora that pass the length rule; refused.
const BREACHED: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "1234567890a",
    "qwertyuiop",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "password12",
    "password123",
    "password1234",
    "passw0rd123",
    "iloveyou12",
    "qwerty1234",
    "qwerty12345",
    "abcdefghij",
    "abc1234567",
    "a123456789",
    "aa12345678",
    "0987654321",
    "1111111111",
    "0000000000",
    "5201314520",
    "woaini1314",
    "1314520520",
    "qazwsxedcr",
    "zxcvbnm123",
    "asdfghjkl1",
    "administrator",
    "welcome123",
    "letmein123",
    "football12",
    "baseball12",
    "dragon1234",
    "monkey1234",
    "sunshine12",
    "princess12",
    "changeme123",
    "p@ssw0rd123",
    "admin12345",
    "admin123456",
    "root123456",
    "test123456",
];

pub fn check_password_policy(field: &str, password: &str, email: &str) -> AppResult<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid(
            field,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.chars().count() > 256 {
        return Err(AppError::invalid(field, "must be at most 256 characters"));
    }
    let lower = password.to_lowercase();
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if BREACHED.contains(&lower.as_str()) || (local.chars().count() >= 4 && lower.contains(&local))
    {
        return Err(AppError::invalid(
            field,
            "is a known breached or easily guessed password",
        ));
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(' '))
    {
        return Err(AppError::invalid(
            field,
            "is a known breached or easily guessed password",
        ));
    }
    Ok(())
}

pub fn hash_password(password: &str) -> AppResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::BadRequest(format!("password could not be hashed: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A real argon2id hash of a random password, verified against when the account is unknown so
/// that both answers take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_hex(16)).unwrap_or_default())
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

// --- throttling ---

/// Failed logins in a sliding window. Limits apply per address, and per (account, address)
/// pair; the account-wide limit only slows addresses that have not signed in to that account
/// before, so an attacker who fails many times cannot lock the real user out.
#[derive(Default)]
pub struct LoginThrottle {
    state: Mutex<ThrottleState>,
}

#[derive(Default)]
struct ThrottleState {
    by_address: HashMap<IpAddr, Vec<Instant>>,
    by_pair: HashMap<(String, IpAddr), Vec<Instant>>,
    by_account: HashMap<String, Vec<Instant>>,
    known: HashMap<String, Vec<IpAddr>>,
}

const WINDOW: Duration = Duration::from_secs(15 * 60);
const PER_ADDRESS: usize = 50;
const PER_PAIR: usize = 5;
const PER_ACCOUNT: usize = 20;

fn recent(v: &mut Vec<Instant>, now: Instant) -> usize {
    v.retain(|t| now.duration_since(*t) < WINDOW);
    v.len()
}

/// Beyond this many tracked keys, stale ones are swept so that random emails cannot grow
/// memory without bound.
const SWEEP_ABOVE: usize = 10_000;

impl LoginThrottle {
    /// Checks the limits and, if the attempt may go ahead, counts it at once (under the same
    /// lock), so parallel attempts cannot all pass before any is counted. A success takes the
    /// attempt back.
    fn begin_attempt(&self, account: &str, addr: IpAddr) -> AppResult<()> {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.by_pair.len() > SWEEP_ABOVE {
            s.by_address.retain(|_, v| recent(v, now) > 0);
            s.by_pair.retain(|_, v| recent(v, now) > 0);
            s.by_account.retain(|_, v| recent(v, now) > 0);
        }
        let address = recent(s.by_address.entry(addr).or_default(), now);
        let pair = recent(
            s.by_pair.entry((account.to_string(), addr)).or_default(),
            now,
        );
        let acct = recent(s.by_account.entry(account.to_string()).or_default(), now);
        let known = s.known.get(account).is_some_and(|a| a.contains(&addr));
        if address >= PER_ADDRESS || pair >= PER_PAIR || (acct >= PER_ACCOUNT && !known) {
            return Err(AppError::TooManyRequests {
                retry_after_secs: WINDOW.as_secs(),
            });
        }
        s.by_address.entry(addr).or_default().push(now);
        s.by_pair
            .entry((account.to_string(), addr))
            .or_default()
            .push(now);
        s.by_account
            .entry(account.to_string())
            .or_default()
            .push(now);
        Ok(())
    }

    fn succeeded(&self, account: &str, addr: IpAddr) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.by_pair.remove(&(account.to_string(), addr));
        if let Some(v) = s.by_address.get_mut(&addr) {
            v.pop();
        }
        if let Some(v) = s.by_account.get_mut(account) {
            v.pop();
        }
        let known = s.known.entry(account.to_string()).or_default();
        if !known.contains(&addr) {
            known.push(addr);
            if known.len() > 16 {
                known.remove(0);
            }
        }
    }
}

// --- login and sessions ---

pub struct NewSession {
    /// The cookie value; only its hash is stored.
    pub token: String,
    pub csrf_token: String,
    pub user_id: i64,
}

/// Checks email and password. Unknown accounts and wrong passwords get the same error after
/// the same work. A successful login always starts a new session.
pub async fn login(app: &App, email: &str, password: &str, addr: IpAddr) -> AppResult<NewSession> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 || email.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "email",
            "the email or password is not correct",
        ));
    }
    app.throttle.begin_attempt(&email, addr)?;
    let user = {
        let mut conn = app.read().await?;
        accounts::user_by_email(&mut conn, &email).await?
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        verify_password(&password, hash.as_deref().unwrap_or(dummy_hash()))
    })
    .await
    .unwrap_or(false);
    let user = match user {
        Some(u) if ok && u.active => u,
        _ => {
            return Err(AppError::invalid(
                "email",
                "the email or password is not correct",
            ));
        }
    };
    app.throttle.succeeded(&email, addr);
    let session = NewSession {
        token: random_hex(32),
        csrf_token: random_hex(32),
        user_id: user.id,
    };
    let (id_hash, csrf, uid) = (
        sha256_hex(&session.token),
        session.csrf_token.clone(),
        user.id,
    );
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                accounts::insert_session(&mut ctx.conn, &id_hash, uid, &csrf, now).await?;
                audit::append(
                    ctx,
                    audit::NewEntry {
                        at: now,
                        actor_id: Some(uid),
                        channel: Channel::Web.as_str(),
                        entity: "user",
                        entity_id: uid,
                        action: "login",
                        ..Default::default()
                    },
                )
                .await?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    Ok(session)
}

pub async fn logout(app: &App, session_token: &str) -> AppResult<()> {
    let id_hash = sha256_hex(session_token);
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                Ok::<_, AppError>(accounts::delete_session(&mut ctx.conn, &id_hash).await?)
            })
        })
        .await
}

/// The actor of a session cookie, if the session is valid. Expired sessions (idle or absolute)
/// are deleted; last-seen is refreshed at most once a minute to keep reads cheap.
pub async fn session_actor(app: &App, session_token: &str) -> AppResult<(Actor, String)> {
    let id_hash = sha256_hex(session_token);
    let mut conn = app.read().await?;
    let session = accounts::get_session(&mut conn, &id_hash)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let now = now();
    let idle_limit = app.limits.session_idle_secs * 1_000_000;
    let absolute_limit = app.limits.session_absolute_secs * 1_000_000;
    if now - session.last_seen_at > idle_limit || now - session.created_at > absolute_limit {
        drop(conn);
        logout(app, session_token).await?;
        return Err(AppError::Unauthenticated);
    }
    let actor = Actor::load(&mut conn, session.user_id, Channel::Web).await?;
    drop(conn);
    if now - session.last_seen_at > 60_000_000 {
        app.store
            .write(move |ctx| {
                Box::pin(async move {
                    Ok::<_, AppError>(accounts::touch_session(&mut ctx.conn, &id_hash, now).await?)
                })
            })
            .await?;
    }
    Ok((actor, session.csrf_token))
}

// --- API tokens ---

pub const TOKEN_PREFIX: &str = "stw_";

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    /// Shown once; only its hash is stored.
    pub token: String,
}

pub async fn create_token(app: &App, actor: &Actor, name: &str) -> AppResult<CreatedToken> {
    let name = super::error::text_field("name", steward_core::text::single_line(name, 100))?;
    let token = format!("{TOKEN_PREFIX}{}", random_hex(24));
    let hash = sha256_hex(&token);
    let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 6).collect();
    let (uid, channel, token_out) = (actor.user_id, actor.channel, token.clone());
    let created = app
        .store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                let t =
                    accounts::insert_token(&mut ctx.conn, uid, &name, &hash, &prefix, now).await?;
                audit::append(
                    ctx,
                    audit::NewEntry {
                        at: now,
                        actor_id: Some(uid),
                        channel: channel.as_str(),
                        entity: "api_token",
                        entity_id: t.id,
                        action: "create",
                        new_value: Some(t.name.clone()),
                        ..Default::default()
                    },
                )
                .await?;
                Ok::<_, AppError>(t)
            })
        })
        .await?;
    Ok(CreatedToken {
        id: created.id,
        name: created.name,
        token: token_out,
    })
}

pub async fn list_tokens(app: &App, actor: &Actor) -> AppResult<Vec<accounts::ApiToken>> {
    let mut conn = app.read().await?;
    Ok(accounts::list_tokens(&mut conn, actor.user_id).await?)
}

pub async fn revoke_token(app: &App, actor: &Actor, token_id: i64) -> AppResult<()> {
    let (uid, channel) = (actor.user_id, actor.channel);
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                if !accounts::revoke_token(&mut ctx.conn, uid, token_id, now).await? {
                    return Err(AppError::NotFound);
                }
                audit::append(
                    ctx,
                    audit::NewEntry {
                        at: now,
                        actor_id: Some(uid),
                        channel: channel.as_str(),
                        entity: "api_token",
                        entity_id: token_id,
                        action: "revoke",
                        ..Default::default()
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await
}

/// The actor of a bearer token, if it is valid and not revoked.
pub async fn token_actor(app: &App, token: &str) -> AppResult<Actor> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(AppError::Unauthenticated);
    }
    let mut conn = app.read().await?;
    let t = accounts::token_by_hash(&mut conn, &sha256_hex(token))
        .await?
        .filter(|t| t.revoked_at.is_none())
        .ok_or(AppError::Unauthenticated)?;
    let actor = Actor::load(&mut conn, t.user_id, Channel::Api).await?;
    drop(conn);
    let now = now();
    if t.last_used_at.is_none_or(|u| now - u > 60_000_000) {
        let id = t.id;
        app.store
            .write(move |ctx| {
                Box::pin(async move {
                    Ok::<_, AppError>(accounts::touch_token(&mut ctx.conn, id, now).await?)
                })
            })
            .await?;
    }
    Ok(actor)
}
