//! The user's own settings: language, time zone, and personal API tokens.

use super::desk::Choice;
use super::form::{self, Fields};
use super::portal::error_field;
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome};
use crate::app::{accounts, auth, AppError};
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/profile", get(profile).post(save_preferences))
        .route("/profile/tokens", post(create_token))
        .route("/profile/tokens/{id}/revoke", post(revoke_token))
}

/// Zones offered in the list; any IANA zone can be typed.
const TIME_ZONES: &[&str] = &[
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "UTC",
];

pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub revoked: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    c: Chrome,
    email: String,
    role: String,
    locales: Vec<Choice>,
    time_zone: String,
    zones: &'static [&'static str],
    tokens: Vec<TokenRow>,
    notice: Option<String>,
    /// Which form the error belongs to: "prefs" or "token".
    error_form: &'static str,
    error: Option<String>,
    error_field: String,
    new_token: Option<String>,
    new_token_name: String,
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

#[derive(Default)]
struct ProfileState<'a> {
    notice: Option<String>,
    error: Option<(&'static str, &'a AppError)>,
    locale: Option<String>,
    time_zone: Option<String>,
    token_name: String,
    new_token: Option<String>,
}

async fn profile_page(
    s: &AppState,
    u: &WebUser,
    st: ProfileState<'_>,
) -> Result<Response, AppError> {
    let me = accounts::me(&s.app, &u.actor).await?;
    let c = Chrome::new(u, "profile");
    let locale = st
        .locale
        .clone()
        .or(me.locale.clone())
        .unwrap_or_else(|| u.lang.code().to_string());
    let locales = accounts::LOCALES
        .iter()
        .map(|l| Choice {
            value: l.to_string(),
            label: c.label("locale", l),
            selected: locale == *l,
        })
        .collect();
    let tokens = auth::list_tokens(&s.app, &u.actor)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created: c.time_micros(t.created_at),
            last_used: t.last_used_at.map(|m| c.time_micros(m)).unwrap_or_default(),
            revoked: t.revoked_at.map(|m| c.time_micros(m)).unwrap_or_default(),
            active: t.revoked_at.is_none(),
        })
        .collect();
    let status = st
        .error
        .map(|(_, e)| status_of(e))
        .unwrap_or(StatusCode::OK);
    let page = ProfilePage {
        email: me.email,
        role: c.role_label(),
        locales,
        time_zone: st
            .time_zone
            .or(me.time_zone)
            .unwrap_or_else(|| super::session::DEFAULT_TIME_ZONE.to_string()),
        zones: TIME_ZONES,
        tokens,
        notice: st.notice,
        error_form: st.error.map(|(f, _)| f).unwrap_or_default(),
        error: st.error.map(|(_, e)| describe(u.lang, e)),
        error_field: st.error.map(|(_, e)| error_field(e)).unwrap_or_default(),
        new_token: st.new_token,
        new_token_name: st.token_name,
        c,
    };
    let mut res = render(status, &page);
    // A new token is shown once; keep the page out of every cache.
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

async fn profile(State(s): State<AppState>, u: WebUser, Query(d): Query<Done>) -> Response {
    let notice = match d.done.as_deref() {
        Some(k @ ("saved" | "revoked")) => Some(u.lang.t(&format!("done-{k}"))),
        _ => None,
    };
    let r = profile_page(
        &s,
        &u,
        ProfileState {
            notice,
            ..Default::default()
        },
    )
    .await;
    finish(&u, r)
}

fn is_form_error(e: &AppError) -> bool {
    matches!(e, AppError::Invalid { .. } | AppError::BadRequest(_))
}

async fn save_preferences(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let locale = f.opt("locale");
        let time_zone = f.opt("time_zone");
        match accounts::update_preferences(&s.app, &u.actor, locale.clone(), time_zone.clone())
            .await
        {
            Ok(_) => Ok(see_other("/profile?done=saved")),
            Err(e) if is_form_error(&e) => {
                let st = ProfileState {
                    error: Some(("prefs", &e)),
                    locale,
                    time_zone,
                    ..Default::default()
                };
                profile_page(&s, &u, st).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    finish(&u, r)
}

/// The new token is shown on the page that answers the form, once; it is never stored.
async fn create_token(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let name = f.get("name").to_string();
        match auth::create_token(&s.app, &u.actor, &name).await {
            Ok(t) => {
                let st = ProfileState {
                    notice: Some(u.lang.t("done-token")),
                    new_token: Some(t.token),
                    ..Default::default()
                };
                profile_page(&s, &u, st).await
            }
            Err(e) if is_form_error(&e) => {
                let st = ProfileState {
                    error: Some(("token", &e)),
                    token_name: name,
                    ..Default::default()
                };
                profile_page(&s, &u, st).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    finish(&u, r)
}

async fn revoke_token(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
        auth::revoke_token(&s.app, &u.actor, id).await?;
        Ok(see_other("/profile?done=revoked"))
    }
    .await;
    finish(&u, r)
}
