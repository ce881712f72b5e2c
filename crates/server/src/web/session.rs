//! The browser session cookie and the signed-in page context.

use crate::app::{auth, Actor, AppError};
use crate::http::AppState;
use crate::i18n::Lang;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};

/// `__Host-` requires Secure, so it is used only behind TLS.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.secure_cookies {
        "__Host-steward_session"
    } else {
        "steward_session"
    }
}

pub fn cookie(headers: &HeaderMap, state: &AppState) -> Option<String> {
    let name = cookie_name(state);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_string())
        })
}

pub fn set_cookie(state: &AppState, token: &str) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let max_age = state.app.limits.session_absolute_secs;
    HeaderValue::from_str(&format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        cookie_name(state)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        cookie_name(state)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The language for a request: the user's setting, then Accept-Language, then Chinese.
pub fn lang_for(actor: Option<&Actor>, headers: &HeaderMap) -> Lang {
    actor
        .and_then(|a| a.locale.as_deref())
        .and_then(Lang::from_code)
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::ZhCn)
}

/// A signed-in browser user: the actor, the session's CSRF token, the language and time zone.
pub struct WebUser {
    pub actor: Actor,
    pub csrf: String,
    pub lang: Lang,
    pub tz: jiff::tz::TimeZone,
    pub session: String,
    /// Unread in-app notifications, for the bell in the top bar.
    pub unread: i64,
}

impl WebUser {
    /// Formats a stored instant in the user's time zone.
    pub fn time(&self, micros: i64) -> String {
        jiff::Timestamp::from_microsecond(micros)
            .map(|t| {
                t.to_zoned(self.tz.clone())
                    .strftime("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    }

    /// Rejects a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), AppError> {
        if !sent.is_empty() && constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "csrf: the form has expired; reload the page and try again",
            ))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// Not signed in: pages redirect to the login form, keeping where the user was going.
pub struct LoginRedirect(String);

impl IntoResponse for LoginRedirect {
    fn into_response(self) -> Response {
        let next: String = form_urlencoded::byte_serialize(self.0.as_bytes()).collect();
        Redirect::to(&format!("/login?next={next}")).into_response()
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = LoginRedirect;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, LoginRedirect> {
        let target = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let token = cookie(&parts.headers, state).ok_or_else(|| LoginRedirect(target.clone()))?;
        let (actor, csrf) = auth::session_actor(&state.app, &token)
            .await
            .map_err(|_| LoginRedirect(target))?;
        let lang = lang_for(Some(&actor), &parts.headers);
        let tz = actor
            .time_zone
            .as_deref()
            .and_then(|z| jiff::tz::TimeZone::get(z).ok())
            .or_else(|| jiff::tz::TimeZone::get(DEFAULT_TIME_ZONE).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        // A failed count only hides the number; the page itself still works.
        let unread = crate::app::notifications::unread_count(&state.app, &actor)
            .await
            .unwrap_or(0);
        Ok(WebUser {
            actor,
            csrf,
            lang,
            tz,
            session: token,
            unread,
        })
    }
}

/// The browser's address for login throttling.
pub fn client_addr(parts_ext: &axum::http::Extensions) -> std::net::IpAddr {
    parts_ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}
