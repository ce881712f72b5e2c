//! Server-rendered pages: the agent workspace, the self-service portal, admin pages. Each
//! handler parses the form, calls the same app function as the API, and renders a template.
//! Assets are embedded; no CDN.

pub mod admin;
pub mod catalogue;
pub mod changes;
pub mod cmdb;
pub mod desk;
pub mod form;
pub mod incident;
pub mod jobs;
pub mod knowledge;
pub mod links;
pub mod mail;
pub mod outbound;
pub mod portal;
pub mod problems;
pub mod profile;
pub mod releases;
pub mod reports;
pub mod service_levels;
pub mod session;
pub mod ticket;
pub mod webhooks;

use crate::app::{auth, views, AppError};
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
    /// The user's time zone for every time on the page.
    pub tz: jiff::tz::TimeZone,
    /// The text in the top bar's search box.
    pub search: String,
    /// Unread notifications.
    pub unread: i64,
}

impl Chrome {
    pub fn new(u: &WebUser, nav: &'static str) -> Chrome {
        Chrome {
            i: u.lang,
            user_name: u.actor.name.clone(),
            role: u.actor.role,
            csrf: u.csrf.clone(),
            nav,
            tz: u.tz.clone(),
            search: String::new(),
            unread: u.unread,
        }
    }

    pub fn is_staff(&self) -> bool {
        self.role.is_staff()
    }

    pub fn can_manage_service_levels(&self) -> bool {
        self.role.can(Capability::ManageServiceLevels)
    }

    pub fn is_admin(&self) -> bool {
        self.role.can(Capability::ManageAccounts)
    }

    /// Service managers and admins maintain the catalogue.
    pub fn can_manage_catalogue(&self) -> bool {
        self.role.can(Capability::ManageServiceLevels)
    }

    /// Team leads, service managers, auditors and admins read the SLA reports.
    pub fn can_view_reports(&self) -> bool {
        self.role.can(Capability::ViewReports)
    }

    /// Everyone who may submit tickets has a portal.
    pub fn has_portal(&self) -> bool {
        self.role.can(Capability::SubmitTicket)
    }

    pub fn role_label(&self) -> String {
        self.i.t(&format!("role-{}", self.role.as_str()))
    }

    /// A translated string.
    pub fn t(&self, key: &str) -> String {
        self.i.t(key)
    }

    /// A translated string with one argument.
    pub fn t1(&self, key: &str, name: &'static str, value: &str) -> String {
        self.i.t_args(key, &[(name, value.to_string())])
    }

    /// The label of an enum value (`status-in_progress`); an unknown value is shown as is.
    pub fn label(&self, prefix: &str, value: &str) -> String {
        label(self.i, prefix, value)
    }

    pub fn status(&self, v: &str) -> String {
        self.label("status", v)
    }

    pub fn kind(&self, v: &str) -> String {
        self.label("kind", v)
    }

    pub fn level(&self, v: &str) -> String {
        self.label("level", v)
    }

    pub fn pending(&self, v: &str) -> String {
        self.label("pending", v)
    }

    pub fn resolution(&self, v: &str) -> String {
        self.label("resolution", v)
    }

    pub fn role_name(&self, v: &str) -> String {
        self.label("role", v)
    }

    /// An RFC 3339 instant from a view, in the user's time zone.
    pub fn time(&self, rfc3339: &str) -> String {
        views::parse_instant(rfc3339)
            .map(|m| format_time(&self.tz, m))
            .unwrap_or_default()
    }

    pub fn time_micros(&self, micros: i64) -> String {
        format_time(&self.tz, micros)
    }

    /// A file size for people: 820 B, 14 KB, 2.3 MB.
    pub fn size(&self, bytes: &i64) -> String {
        let bytes = *bytes;
        let b = bytes.max(0) as f64;
        if b < 1024.0 {
            format!("{bytes} B")
        } else if b < 1024.0 * 1024.0 {
            format!("{:.0} KB", b / 1024.0)
        } else {
            format!("{:.1} MB", b / (1024.0 * 1024.0))
        }
    }
}

pub fn format_time(tz: &jiff::tz::TimeZone, micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// Fluent answers an unknown key with this text; such values are shown as they are.
const UNKNOWN_KEY: &str = "Unknown localization key";

pub fn label(i: Lang, prefix: &str, value: &str) -> String {
    let s = i.t(&format!("{prefix}-{value}"));
    if s.starts_with(UNKNOWN_KEY) {
        value.to_string()
    } else {
        s
    }
}

/// The resolution codes offered when resolving; other codes (from the API) show as they are.
pub const RESOLUTION_CODES: &[&str] = &[
    "fixed",
    "workaround",
    "fulfilled",
    "no_fault_found",
    "duplicate",
    "user_error",
    "withdrawn",
];

/// A field name in an error message: its label when there is one.
pub fn field_label(i: Lang, field: &str) -> String {
    let key = match field {
        "team_ids" => "field-teams".to_string(),
        "team_id" => "field-team".to_string(),
        "assignee_id" => "field-assignee".to_string(),
        "organization_id" => "field-organization".to_string(),
        "watcher_ids" => "field-watchers".to_string(),
        "requester_id" => "field-requester".to_string(),
        "body" => "field-body".to_string(),
        f => format!("field-{f}"),
    };
    let s = i.t(&key);
    if s.starts_with(UNKNOWN_KEY) {
        field.to_string()
    } else {
        s
    }
}

/// What went wrong, in the user's language, naming the field at fault.
pub fn describe(i: Lang, e: &AppError) -> String {
    match e {
        AppError::Invalid { message, .. }
            if message == "you cannot disable or demote your own account" =>
        {
            i.t("error-self")
        }
        AppError::Invalid { field, message } => {
            let what = invalid_message(i, message);
            i.t_args(
                "error-field",
                &[("field", field_label(i, field)), ("message", what)],
            )
        }
        AppError::TooLarge { field, limit } => i.t_args(
            "error-too-large",
            &[
                ("field", field_label(i, field)),
                ("size", format!("{:.0}", *limit as f64 / (1024.0 * 1024.0))),
            ],
        ),
        AppError::Conflict {
            allowed: Some(allowed),
            ..
        } => {
            let names: Vec<String> = allowed.iter().map(|s| label(i, "status", s)).collect();
            let sep = if i == Lang::ZhCn { "、" } else { ", " };
            i.t_args("error-transition", &[("allowed", names.join(sep))])
        }
        AppError::Conflict { message, .. } if message.contains("no more replies") => {
            i.t("error-final")
        }
        AppError::Conflict { .. } => i.t("error-conflict"),
        AppError::Stale => i.t("error-stale"),
        AppError::Forbidden(m) if m.starts_with("csrf") => i.t("error-csrf"),
        AppError::Forbidden(_) => i.t("error-forbidden"),
        AppError::NotFound => i.t("error-not-found"),
        AppError::TooManyRequests { .. } => i.t("error-too-many"),
        AppError::BadRequest(_) => i.t("error-bad-request"),
        AppError::Unauthenticated => i.t("error-unauthenticated"),
        AppError::Store(_) if e.code() == "conflict" => i.t("error-conflict"),
        AppError::Store(_) | AppError::Internal(_) => i.t("error-internal"),
    }
}

/// The app's validation messages are English sentences; the common ones are translated.
fn invalid_message(i: Lang, message: &str) -> String {
    let digits: String = message.chars().filter(char::is_ascii_digit).collect();
    let key = match message {
        m if m.starts_with("is required") => "invalid-required",
        m if m.starts_with("is longer than") => {
            return i.t_args("invalid-too-long", &[("max", digits)]);
        }
        m if m.starts_with("must be at least") => {
            return i.t_args("invalid-too-short", &[("min", digits)]);
        }
        "contains a control character" => "invalid-control",
        "is not a member of the ticket's team" => "invalid-not-member",
        "is already used by another account" => "invalid-email-taken",
        "is not an email address" => "invalid-email",
        "a team of this name exists" | "an organisation of this name exists" => {
            "invalid-name-taken"
        }
        "is a known breached or easily guessed password" => "invalid-weak-password",
        "requesters do not belong to teams" => "invalid-requester-teams",
        "is empty" => "invalid-empty-file",
        "is not a known IANA time zone" => "invalid-time-zone",
        "must be a number" => "invalid-number",
        m if m.starts_with("must be") || m.starts_with("is not") || m.starts_with("no ") => {
            "invalid-choice"
        }
        _ => return message.to_string(),
    };
    i.t(key)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    title: String,
    message: String,
}

/// The page for an error that has no form to return to: 403, 404, 409 and so on.
pub fn error_page(u: &WebUser, e: &AppError) -> Response {
    if matches!(e, AppError::Unauthenticated) {
        return Redirect::to("/login").into_response();
    }
    if e.status() >= 500 {
        tracing::error!(error = %e, "page failed");
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let i = u.lang;
    let title = match e {
        AppError::NotFound => i.t("error-title-not-found"),
        AppError::Forbidden(_) => i.t("error-title-forbidden"),
        _ if status.is_server_error() => i.t("error-title-internal"),
        _ => i.t("error-title-request"),
    };
    let page = ErrorPage {
        c: Chrome::new(u, ""),
        title,
        message: describe(i, e),
    };
    render(status, &page)
}

/// The response of a page handler: the page, or the error page.
pub fn finish(u: &WebUser, r: Result<Response, AppError>) -> Response {
    r.unwrap_or_else(|e| error_page(u, &e))
}

/// The HTTP status of an error shown on a form.
pub fn status_of(e: &AppError) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// After a successful form: back to a page (Post/Redirect/Get).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
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
        // Browsers drop tabs and line breaks in Location, so "/\t/evil" would leave the site.
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            n.to_string()
        }
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

async fn logout(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if same_origin(&headers) && u.check_csrf(&f.csrf).is_ok() {
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
        .merge(desk::router())
        .merge(ticket::router())
        .merge(incident::router())
        .merge(jobs::router())
        .merge(service_levels::router())
        .merge(portal::router())
        .merge(admin::router())
        .merge(catalogue::router())
        .merge(profile::router())
        .merge(mail::router())
        .merge(outbound::router())
        .merge(webhooks::router())
        .merge(reports::router())
        .merge(cmdb::router())
        .merge(changes::router())
        .merge(releases::router())
        .merge(problems::router())
        .merge(knowledge::router())
        .merge(links::router())
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/assets/steward.css", get(css))
        .route("/assets/steward.js", get(js))
        .route("/favicon.svg", get(favicon))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the pages use exists in both languages (the i18n test checks that both files
    /// have the same keys).
    #[test]
    fn every_key_the_pages_use_is_translated() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let ftl = crate::i18n::tests::all_ftl(&format!("{dir}/locales/en"));
        let known: std::collections::HashSet<&str> = ftl
            .lines()
            .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && l.contains(" = "))
            .filter_map(|l| l.split(" = ").next())
            .collect();
        // Every file under the directories, sub-modules (web/cmdb/…) included.
        let mut sources = Vec::new();
        let mut dirs: Vec<std::path::PathBuf> = ["templates", "src/web"]
            .iter()
            .map(|sub| format!("{dir}/{sub}").into())
            .collect();
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let text = std::fs::read_to_string(&path).unwrap();
                    sources.push((path.display().to_string(), text));
                }
            }
        }
        let mut missing = Vec::new();
        for (path, text) in &sources {
            for opener in [".t(\"", ".t1(\"", ".t_args(\"", ".t_args(\n"] {
                for (pos, _) in text.match_indices(opener) {
                    let rest = text[pos + opener.len()..]
                        .trim_start()
                        .trim_start_matches('"');
                    let key: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect();
                    if !key.is_empty() && !known.contains(key.as_str()) {
                        missing.push(format!("{path}: {key}"));
                    }
                }
            }
        }
        let mut dynamic: Vec<String> = Vec::new();
        for s in steward_core::Status::ALL {
            dynamic.push(format!("status-{}", s.as_str()));
        }
        for k in steward_core::TicketKind::ALL {
            dynamic.push(format!("kind-{}", k.as_str()));
        }
        for l in steward_core::Level::ALL {
            dynamic.push(format!("level-{}", l.as_str()));
            dynamic.push(format!("portal-impact-{}", l.as_str()));
            dynamic.push(format!("portal-urgency-{}", l.as_str()));
        }
        for p in steward_core::PendingReason::ALL {
            dynamic.push(format!("pending-{}", p.as_str()));
        }
        for r in Role::ALL {
            dynamic.push(format!("role-{}", r.as_str()));
        }
        for c in RESOLUTION_CODES {
            dynamic.push(format!("resolution-{c}"));
        }
        for l in crate::app::accounts::LOCALES {
            dynamic.push(format!("locale-{l}"));
        }
        for d in [
            "created", "reply", "note", "attached", "status", "routing", "priority", "saved",
            "revoked", "token",
        ] {
            dynamic.push(format!("done-{d}"));
        }
        for k in dynamic {
            if !known.contains(k.as_str()) {
                missing.push(k);
            }
        }
        assert!(missing.is_empty(), "untranslated keys: {missing:?}");
    }

    #[test]
    fn errors_name_the_field_in_the_users_language() {
        let e = AppError::invalid("title", "is required");
        assert_eq!(describe(Lang::ZhCn, &e), "标题为必填项。");
        assert_eq!(describe(Lang::En, &e), "Title is required.");
        let e = AppError::invalid("title", "is longer than 200 characters");
        assert_eq!(describe(Lang::ZhCn, &e), "标题不能超过 200 个字符。");
        assert_eq!(label(Lang::ZhCn, "status", "in_progress"), "处理中");
        assert_eq!(label(Lang::En, "resolution", "custom_code"), "custom_code");
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/tickets/5?x=1")), "/tickets/5?x=1");
        for bad in [
            "//evil.com",
            "https://evil.com",
            "/\t/evil.com",
            "/\\evil.com",
            "/a\nb",
            "/ /evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
    }
}
