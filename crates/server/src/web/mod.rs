//! Server-rendered pages: the agent workspace, the self-service portal, admin pages. Each
//! handler parses the form, calls the same app function as the API, and renders a template.
//! Assets are embedded; no CDN.

pub mod session;

use crate::app::{auth, AppError};
use crate::http::AppState;
use crate::i18n::Lang;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use session::WebUser;
use steward_core::{Capability, Role};

/// What every signed-in page shows around its content.
pub struct Chrome {
    pub i: Lang,
    pub user_name: String,
    pub role: Role,
    pub csrf: String,
    /// The navigation entry to highlight.
    pub nav: &'static str,
}

impl Chrome {
    pub fn new(u: &WebUser, nav: &'static str) -> Chrome {
        Chrome {
            i: u.lang,
            user_name: u.actor.name.clone(),
            role: u.actor.role,
            csrf: u.csrf.clone(),
            nav,
        }
    }

    pub fn is_staff(&self) -> bool {
        self.role.is_staff()
    }

    pub fn is_admin(&self) -> bool {
        self.role.can(Capability::ManageAccounts)
    }

    pub fn role_label(&self) -> String {
        self.i.t(&format!("role-{}", self.role.as_str()))
    }
}

/// Renders a template, or a plain 500 if rendering itself fails.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// Only same-site relative paths are followed after login.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

/// Cross-site form posts are refused even before the CSRF token is checked.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin == "null" && host.is_empty() || origin.split("://").nth(1) == Some(host)
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    i: Lang,
    next: String,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_form(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let page = LoginPage {
        i: session::lang_for(None, &headers),
        next: safe_next(q.next.as_deref()),
        email: String::new(),
        error: None,
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(s): State<AppState>,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let i = session::lang_for(None, &headers);
    let next = safe_next(f.next.as_deref());
    let failed = |status: StatusCode, error: String| {
        render(
            status,
            &LoginPage {
                i,
                next: next.clone(),
                email: f.email.clone(),
                error: Some(error),
            },
        )
    };
    if !same_origin(&headers) {
        return failed(StatusCode::FORBIDDEN, i.t("error-csrf"));
    }
    match auth::login(&s.app, &f.email, &f.password, addr.ip()).await {
        Ok(sess) => {
            let mut res = Redirect::to(&next).into_response();
            res.headers_mut()
                .insert(header::SET_COOKIE, session::set_cookie(&s, &sess.token));
            res
        }
        Err(AppError::TooManyRequests { .. }) => {
            failed(StatusCode::TOO_MANY_REQUESTS, i.t("login-throttled"))
        }
        Err(AppError::Invalid { .. }) => failed(StatusCode::UNAUTHORIZED, i.t("login-failed")),
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            failed(StatusCode::INTERNAL_SERVER_ERROR, i.t("error-internal"))
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

async fn logout(State(s): State<AppState>, u: WebUser, Form(f): Form<CsrfForm>) -> Response {
    if u.check_csrf(&f.csrf).is_ok() {
        let _ = auth::logout(&s.app, &u.session).await;
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(&s));
    res
}

/// Staff start in the workspace, requesters in the portal.
async fn home(u: WebUser) -> Redirect {
    if u.actor.role.is_staff() {
        Redirect::to("/desk")
    } else {
        Redirect::to("/portal")
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

async fn css() -> Response {
    asset(
        include_str!("../../assets/steward.css"),
        "text/css; charset=utf-8",
    )
}

async fn js() -> Response {
    asset(
        include_str!("../../assets/steward.js"),
        "text/javascript; charset=utf-8",
    )
}

async fn favicon() -> Response {
    asset(include_str!("../../assets/favicon.svg"), "image/svg+xml")
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/assets/steward.css", get(css))
        .route("/assets/steward.js", get(js))
        .route("/favicon.svg", get(favicon))
}
