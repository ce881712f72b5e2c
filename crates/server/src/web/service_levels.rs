//! Pages for service levels: the notification list, business calendars (month view, due-time
//! calculator, editing, iCalendar import and export) and SLA/OLA agreements.

use super::desk::Choice;
use super::form::{self, Fields};
use super::session::WebUser;
use super::{describe, finish, render, see_other, Chrome};
use crate::app::agreements::{self, AgreementInput, AgreementView, TargetInput};
use crate::app::calendars::{self, CalendarInput, CalendarView};
use crate::app::escalation::EscalationActions;
use crate::app::notifications::{self, NotificationQuery, NotificationView};
use crate::app::{accounts, catalogue, AppError, AppResult};
use crate::http::AppState;
use askama::Template;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use jiff::civil::Date;
use serde::Deserialize;
use steward_core::calendar::{
    BaseCalendar, CalendarSpec, DatedDay, Interval, Weekday, WeekdayHours,
};
use steward_core::{Capability, Priority};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(notifications_page))
        .route("/notifications/read", post(read_all))
        .route("/notifications/{id}/open", post(open_notification))
        .route(
            "/admin/calendars",
            get(calendars_page).post(create_calendar),
        )
        .route(
            "/admin/calendars/{id}",
            get(calendar_page).post(update_calendar),
        )
        .route("/admin/calendars/{id}/calendar.ics", get(export_ics))
        .route("/admin/calendars/{id}/import", post(import_ics))
        .route("/admin/slas", get(agreements_page))
        .route("/admin/slas/new", get(new_agreement).post(create_agreement))
        .route(
            "/admin/slas/{id}",
            get(agreement_page).post(update_agreement),
        )
}

fn parse_id(raw: &str) -> Result<i64, AppError> {
    raw.parse().map_err(|_| AppError::NotFound)
}

// --- notifications ---

pub struct NoteLine {
    pub id: i64,
    pub text: String,
    pub when: String,
    pub unread: bool,
    pub ticket_id: Option<i64>,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    c: Chrome,
    items: Vec<NoteLine>,
    next_href: Option<String>,
}

/// The message of a notification in the reader's language.
fn message(c: &Chrome, n: &NotificationView) -> String {
    let p = |k: &str| {
        n.params
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let metric = p("metric");
    let metric = if metric.is_empty() {
        metric
    } else {
        c.t(&format!("sla-metric-{metric}"))
    };
    let due = n
        .params
        .get("due_at")
        .and_then(|v| v.as_str())
        .or_else(|| n.params.get("response_due_at").and_then(|v| v.as_str()))
        .map(|d| c.time(d))
        .unwrap_or_default();
    c.i.t_args(
        &format!("notification-{}", n.kind),
        &[
            ("number", p("number")),
            ("title", p("title")),
            ("metric", metric),
            ("sla", p("sla")),
            ("due", due),
        ],
    )
}

#[derive(Deserialize)]
struct NotificationParams {
    cursor: Option<String>,
}

async fn notifications_page(
    State(s): State<AppState>,
    u: WebUser,
    Query(q): Query<NotificationParams>,
) -> Response {
    let r = async {
        let c = Chrome::new(&u, "notifications");
        let page = notifications::list(
            &s.app,
            &u.actor,
            &NotificationQuery {
                unread: None,
                limit: Some(50),
                cursor: q.cursor,
            },
        )
        .await?;
        let items = page
            .items
            .iter()
            .map(|n| NoteLine {
                id: n.id,
                text: message(&c, n),
                when: c.time(&n.created_at),
                unread: n.read_at.is_none(),
                ticket_id: n.ticket_id,
            })
            .collect();
        let next_href = page
            .next_cursor
            .map(|cur| format!("/notifications?cursor={cur}"));
        Ok(render(
            StatusCode::OK,
            &NotificationsPage {
                c,
                items,
                next_href,
            },
        ))
    }
    .await;
    finish(&u, r)
}

async fn read_all(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        notifications::mark_read(&s.app, &u.actor, None).await?;
        Ok(see_other("/notifications"))
    }
    .await;
    finish(&u, r)
}

/// Marks the notification read and goes to its ticket.
async fn open_notification(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let id = parse_id(&id)?;
        notifications::mark_read(&s.app, &u.actor, Some(id)).await?;
        Ok(match f.id("ticket")? {
            Some(t) => see_other(&format!("/tickets/{t}")),
            None => see_other("/notifications"),
        })
    }
    .await;
    finish(&u, r)
}

// --- calendars ---

const WEEKDAY_FIELDS: [(Weekday, &str); 7] = [
    (Weekday::Monday, "hours_monday"),
    (Weekday::Tuesday, "hours_tuesday"),
    (Weekday::Wednesday, "hours_wednesday"),
    (Weekday::Thursday, "hours_thursday"),
    (Weekday::Friday, "hours_friday"),
    (Weekday::Saturday, "hours_saturday"),
    (Weekday::Sunday, "hours_sunday"),
];

/// The calendar form's fields, as typed (so that a failed save shows them again).
#[derive(Default, Clone)]
pub struct CalendarForm {
    pub name: String,
    pub time_zone: String,
    pub china: bool,
    /// (field name, weekday label key, "09:00-12:00, 13:00-18:00")
    pub hours: Vec<(String, String, String)>,
    pub holidays: String,
    pub extra_workdays: String,
}

fn days_text(days: &[DatedDay]) -> String {
    days.iter()
        .map(|d| format!("{} {}", d.date, d.name))
        .collect::<Vec<_>>()
        .join("\n")
}

impl CalendarForm {
    fn from_spec(name: &str, spec: &CalendarSpec) -> CalendarForm {
        let hours = WEEKDAY_FIELDS
            .iter()
            .map(|(w, field)| {
                let text = spec
                    .week
                    .iter()
                    .find(|h| h.weekday == *w)
                    .map(|h| {
                        h.intervals
                            .iter()
                            .map(|i| format!("{}-{}", i.start, i.end))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                (field.to_string(), format!("weekday-{}", w.as_str()), text)
            })
            .collect();
        CalendarForm {
            name: name.to_string(),
            time_zone: spec.time_zone.clone(),
            china: spec.base == Some(BaseCalendar::ChinaMainland),
            hours,
            holidays: days_text(&spec.holidays),
            extra_workdays: days_text(&spec.extra_workdays),
        }
    }

    fn from_fields(f: &Fields) -> CalendarForm {
        CalendarForm {
            name: f.get("name").to_string(),
            time_zone: f.get("time_zone").to_string(),
            china: f.has("china"),
            hours: WEEKDAY_FIELDS
                .iter()
                .map(|(w, field)| {
                    (
                        field.to_string(),
                        format!("weekday-{}", w.as_str()),
                        f.get(field).to_string(),
                    )
                })
                .collect(),
            holidays: f.get("holidays").to_string(),
            extra_workdays: f.get("extra_workdays").to_string(),
        }
    }

    /// The spec the form describes; the field at fault is named.
    fn to_input(&self) -> AppResult<CalendarInput> {
        let mut week = Vec::new();
        for ((w, field), (_, _, text)) in WEEKDAY_FIELDS.iter().zip(&self.hours) {
            let mut intervals = Vec::new();
            for part in text
                .split([',', '，', ';'])
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                let (start, end) = part.split_once(['-', '–', '~']).ok_or_else(|| {
                    AppError::invalid(field, "write hours like 09:00-12:00, 13:00-18:00")
                })?;
                intervals.push(Interval {
                    start: start.trim().to_string(),
                    end: end.trim().to_string(),
                });
            }
            if !intervals.is_empty() {
                week.push(WeekdayHours {
                    weekday: *w,
                    intervals,
                });
            }
        }
        let dated = |field: &str, text: &str| -> AppResult<Vec<DatedDay>> {
            let mut out = Vec::new();
            for (n, line) in text.lines().map(str::trim).enumerate() {
                if line.is_empty() {
                    continue;
                }
                let (date, name) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                let date: Date = date.parse().map_err(|_| {
                    AppError::invalid(
                        field,
                        format!("line {}: start with a date like 2026-10-01", n + 1),
                    )
                })?;
                out.push(DatedDay {
                    date,
                    name: name.trim().to_string(),
                });
            }
            Ok(out)
        };
        Ok(CalendarInput {
            name: self.name.clone(),
            definition: CalendarSpec {
                time_zone: self.time_zone.trim().to_string(),
                week,
                holidays: dated("holidays", &self.holidays)?,
                extra_workdays: dated("extra_workdays", &self.extra_workdays)?,
                base: self.china.then_some(BaseCalendar::ChinaMainland),
            },
        })
    }
}

/// API field names of the spec, mapped back onto the form's inputs.
fn form_field(field: &str) -> &str {
    if field.starts_with("definition.week") {
        "hours"
    } else if field.starts_with("definition.holidays") {
        "holidays"
    } else if field.starts_with("definition.extra_workdays") {
        "extra_workdays"
    } else if field.starts_with("definition.time_zone") {
        "time_zone"
    } else {
        field
    }
}

pub struct CalendarRowView {
    pub id: i64,
    pub name: String,
    pub builtin: bool,
    pub time_zone: String,
}

#[derive(Template)]
#[template(path = "calendars.html")]
struct CalendarsPage {
    c: Chrome,
    rows: Vec<CalendarRowView>,
    can_manage: bool,
    form: CalendarForm,
    error: Option<String>,
}

fn calendar_name(c: &Chrome, v: &CalendarView) -> String {
    match v.builtin.as_deref() {
        Some(b) => c.t(&format!("calendar-builtin-{b}")),
        None => v.name.clone(),
    }
}

async fn calendars_list(
    s: &AppState,
    u: &WebUser,
    form: CalendarForm,
    error: Option<String>,
) -> AppResult<Response> {
    let c = Chrome::new(u, "service-levels");
    let rows = calendars::list_calendars(&s.app, &u.actor)
        .await?
        .iter()
        .map(|v| CalendarRowView {
            id: v.id,
            name: calendar_name(&c, v),
            builtin: v.builtin.is_some(),
            time_zone: v.definition.time_zone.clone(),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(
        status,
        &CalendarsPage {
            can_manage: u.actor.can(Capability::ManageServiceLevels),
            c,
            rows,
            form,
            error,
        },
    ))
}

async fn calendars_page(State(s): State<AppState>, u: WebUser) -> Response {
    let mut form = CalendarForm::from_spec("", &CalendarSpec::china_mainland_standard());
    form.holidays.clear();
    let r = calendars_list(&s, &u, form, None).await;
    finish(&u, r)
}

fn field_error(u: &WebUser, e: &AppError) -> Option<String> {
    match e {
        AppError::Invalid { field, message } => Some(format!(
            "{}: {}",
            super::field_label(u.lang, form_field(field)),
            message
        )),
        AppError::Stale | AppError::Conflict { .. } => Some(describe(u.lang, e)),
        _ => None,
    }
}

async fn create_calendar(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let typed = CalendarForm::from_fields(&f);
        let result = match typed.to_input() {
            Ok(input) => calendars::create_calendar(&s.app, &u.actor, input).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => Ok(see_other(&format!("/admin/calendars/{}?done=saved", v.id))),
            Err(e) => match field_error(&u, &e) {
                Some(msg) => calendars_list(&s, &u, typed, Some(msg)).await,
                None => Err(e),
            },
        }
    }
    .await;
    finish(&u, r)
}

/// One cell of the month grid.
pub struct DayCell {
    pub day: i8,
    pub working: bool,
    pub kind: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage {
    c: Chrome,
    cal: CalendarView,
    name: String,
    can_manage: bool,
    month: String,
    prev_month: String,
    next_month: String,
    /// Weeks of seven cells; None pads before the first and after the last day.
    weeks: Vec<Vec<Option<DayCell>>>,
    weekday_keys: Vec<String>,
    start: String,
    minutes: String,
    due: Option<String>,
    form: CalendarForm,
    notice: Option<String>,
    error: Option<String>,
    year: i16,
}

#[derive(Deserialize, Default)]
struct CalendarParams {
    month: Option<String>,
    start: Option<String>,
    minutes: Option<String>,
    done: Option<String>,
}

fn month_start(raw: Option<&str>, fallback: Date) -> Date {
    raw.and_then(|m| format!("{m}-01").parse::<Date>().ok())
        .unwrap_or_else(|| fallback.first_of_month())
}

async fn calendar_view(
    s: &AppState,
    u: &WebUser,
    id: i64,
    p: CalendarParams,
    form: Option<CalendarForm>,
    error: Option<String>,
) -> AppResult<Response> {
    let c = Chrome::new(u, "service-levels");
    let cal = calendars::get_calendar(&s.app, &u.actor, id).await?;
    let today = jiff::Timestamp::now().to_zoned(u.tz.clone()).date();
    let first = month_start(p.month.as_deref(), today);
    let last = first.last_of_month();
    let days = calendars::days(&s.app, &u.actor, id, &first.to_string(), &last.to_string()).await?;
    let mut weeks: Vec<Vec<Option<DayCell>>> = Vec::new();
    let mut week: Vec<Option<DayCell>> = (0..first.weekday().to_monday_zero_offset())
        .map(|_| None)
        .collect();
    for d in &days {
        let kind = match d.reason.as_str() {
            "adjusted_workday" => "adjusted",
            other => other,
        };
        // The built-in holidays carry their Chinese names; English readers get theirs.
        let note = match (&d.name, u.lang) {
            (Some(n), crate::i18n::Lang::En) => steward_core::calendar::china::Festival::from_zh(n)
                .map(|f| f.en().to_string())
                .unwrap_or_else(|| n.clone()),
            (name, _) => name.clone().unwrap_or_default(),
        };
        week.push(Some(DayCell {
            day: d.date.day(),
            working: d.working,
            kind: kind.to_string(),
            note,
        }));
        if week.len() == 7 {
            weeks.push(std::mem::take(&mut week));
        }
    }
    if !week.is_empty() {
        while week.len() < 7 {
            week.push(None);
        }
        weeks.push(week);
    }
    let start = p.start.clone().unwrap_or_default();
    let minutes = p.minutes.clone().unwrap_or_default();
    let mut error = error;
    let due = if !start.is_empty() && !minutes.is_empty() {
        // The calculator's input is local time in the user's zone, as a datetime-local field sends it.
        let start_at = start
            .parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|dt| dt.to_zoned(u.tz.clone()).ok())
            .map(|z| z.timestamp().to_string());
        let mins = minutes.trim().parse::<i64>().ok();
        match (start_at, mins) {
            (Some(st), Some(m)) => match calendars::due(&s.app, &u.actor, id, &st, m).await {
                Ok(v) => Some(c.time(&v.due)),
                Err(e) => {
                    error = Some(describe(u.lang, &e));
                    None
                }
            },
            _ => {
                error = Some(describe(
                    u.lang,
                    &AppError::invalid(
                        "minutes",
                        "enter a start time and a whole number of minutes",
                    ),
                ));
                None
            }
        }
    } else {
        None
    };
    let builtin = cal.builtin.is_some();
    let form = form.unwrap_or_else(|| CalendarForm::from_spec(&cal.name, &cal.definition));
    let prev = first
        .checked_sub(jiff::Span::new().months(1))
        .unwrap_or(first);
    let next = first
        .checked_add(jiff::Span::new().months(1))
        .unwrap_or(first);
    let ym = |d: Date| format!("{:04}-{:02}", d.year(), d.month());
    let notice = p
        .done
        .as_deref()
        .filter(|d| *d == "saved" || *d == "imported")
        .map(|d| c.t(&format!("done-calendar-{d}")));
    let page = CalendarPage {
        name: calendar_name(&c, &cal),
        can_manage: u.actor.can(Capability::ManageServiceLevels) && !builtin,
        month: ym(first),
        prev_month: ym(prev),
        next_month: ym(next),
        weeks,
        weekday_keys: WEEKDAY_FIELDS
            .iter()
            .map(|(w, _)| format!("weekday-short-{}", w.as_str()))
            .collect(),
        start,
        minutes,
        due,
        form,
        notice,
        year: first.year(),
        error,
        cal,
        c,
    };
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(status, &page))
}

async fn calendar_page(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(p): Query<CalendarParams>,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        calendar_view(&s, &u, id, p, None, None).await
    }
    .await;
    finish(&u, r)
}

async fn update_calendar(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        form::check(&u, &headers, &f)?;
        let typed = CalendarForm::from_fields(&f);
        let result = match typed.to_input() {
            Ok(input) => calendars::update_calendar(&s.app, &u.actor, id, input, f.version()).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => Ok(see_other(&format!("/admin/calendars/{id}?done=saved"))),
            Err(e) => match field_error(&u, &e) {
                Some(msg) => {
                    calendar_view(
                        &s,
                        &u,
                        id,
                        CalendarParams::default(),
                        Some(typed),
                        Some(msg),
                    )
                    .await
                }
                None => Err(e),
            },
        }
    }
    .await;
    finish(&u, r)
}

#[derive(Deserialize)]
struct IcsParams {
    year: Option<i16>,
}

async fn export_ics(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(p): Query<IcsParams>,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        let (from, to) = match p.year {
            Some(y) if (1970..=2100).contains(&y) => {
                (Some(format!("{y:04}-01-01")), Some(format!("{y:04}-12-31")))
            }
            Some(_) => return Err(AppError::invalid("year", "must be between 1970 and 2100")),
            None => (None, None),
        };
        let text =
            calendars::export_ics(&s.app, &u.actor, id, from.as_deref(), to.as_deref()).await?;
        Ok((
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"calendar.ics\"",
                ),
            ],
            text,
        )
            .into_response())
    }
    .await;
    finish(&u, r)
}

async fn import_ics(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        let mf = form::read_multipart(mp, 2 * 1024 * 1024).await?;
        form::check(&u, &headers, &mf.fields)?;
        let result = async {
            let file = mf
                .file
                .ok_or_else(|| AppError::invalid("file", "choose an .ics file"))?;
            let text = std::str::from_utf8(&file.bytes)
                .map_err(|_| AppError::invalid("file", "is not UTF-8 text"))?;
            calendars::import_ics(&s.app, &u.actor, id, text, None).await
        }
        .await;
        match result {
            Ok(_) => Ok(see_other(&format!("/admin/calendars/{id}?done=imported"))),
            Err(e) => match field_error(&u, &e) {
                Some(msg) => {
                    calendar_view(&s, &u, id, CalendarParams::default(), None, Some(msg)).await
                }
                None => Err(e),
            },
        }
    }
    .await;
    finish(&u, r)
}

// --- agreements ---

pub struct AgreementRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub party: String,
    pub calendar: String,
    pub status: String,
    pub targets: String,
    pub review_date: String,
}

#[derive(Template)]
#[template(path = "agreements.html")]
struct AgreementsPage {
    c: Chrome,
    rows: Vec<AgreementRow>,
    can_manage: bool,
}

async fn agreements_page(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        let c = Chrome::new(&u, "service-levels");
        let app = &s.app;
        let list = agreements::list(app, &u.actor).await?;
        let cals = calendars::list_calendars(app, &u.actor).await?;
        let orgs = accounts::list_orgs(app, &u.actor).await.unwrap_or_default();
        let teams = accounts::list_teams(app, &u.actor).await?;
        let rows = list
            .iter()
            .map(|a| AgreementRow {
                id: a.id,
                name: a.name.clone(),
                kind: a.kind.to_uppercase(),
                party: match (a.organization_id, a.team_id) {
                    (Some(o), _) => orgs
                        .iter()
                        .find(|x| x.id == o)
                        .map(|x| x.name.clone())
                        .unwrap_or_default(),
                    (_, Some(t)) => teams
                        .iter()
                        .find(|x| x.id == t)
                        .map(|x| x.name.clone())
                        .unwrap_or_default(),
                    _ => c.t("sla-all-customers"),
                },
                calendar: cals
                    .iter()
                    .find(|x| x.id == a.calendar_id)
                    .map(|x| calendar_name(&c, x))
                    .unwrap_or_default(),
                status: c.t(&format!("sla-agreement-{}", a.status)),
                targets: a
                    .targets
                    .iter()
                    .map(|t| {
                        format!(
                            "{} {}/{}",
                            t.priority, t.response_minutes, t.resolution_minutes
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" · "),
                review_date: a.review_date.clone().unwrap_or_default(),
            })
            .collect();
        Ok(render(
            StatusCode::OK,
            &AgreementsPage {
                can_manage: u.actor.can(Capability::ManageServiceLevels),
                c,
                rows,
            },
        ))
    }
    .await;
    finish(&u, r)
}

/// One priority row of the targets table.
pub struct TargetRow {
    pub priority: String,
    pub response: String,
    pub resolution: String,
}

/// The agreement form as typed.
pub struct AgreementForm {
    pub name: String,
    pub kind: String,
    pub organization_id: String,
    pub team_id: String,
    pub service_ids: Vec<i64>,
    pub calendar_id: String,
    pub valid_from: String,
    pub valid_to: String,
    pub review_date: String,
    pub status: String,
    pub warn_percent: String,
    pub targets: Vec<TargetRow>,
    pub warning: EscalationActions,
    pub breach: EscalationActions,
    pub version: i64,
}

impl AgreementForm {
    fn blank() -> AgreementForm {
        let today = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .to_string();
        let defaults = [(30, 240), (60, 480), (240, 1440), (480, 2880), (1440, 7200)];
        AgreementForm {
            name: String::new(),
            kind: "sla".into(),
            organization_id: String::new(),
            team_id: String::new(),
            service_ids: vec![],
            calendar_id: "1".into(),
            valid_from: today,
            valid_to: String::new(),
            review_date: String::new(),
            status: "active".into(),
            warn_percent: "75".into(),
            targets: Priority::ALL
                .iter()
                .zip(defaults)
                .map(|(p, (r, s))| TargetRow {
                    priority: p.as_str().into(),
                    response: r.to_string(),
                    resolution: s.to_string(),
                })
                .collect(),
            warning: EscalationActions {
                notify_assignee: true,
                ..Default::default()
            },
            breach: EscalationActions {
                notify_assignee: true,
                notify_team_lead: true,
                ..Default::default()
            },
            version: 0,
        }
    }

    fn from_view(a: &AgreementView) -> AgreementForm {
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        AgreementForm {
            name: a.name.clone(),
            kind: a.kind.clone(),
            organization_id: opt(a.organization_id),
            team_id: opt(a.team_id),
            service_ids: a.service_ids.clone(),
            calendar_id: a.calendar_id.to_string(),
            valid_from: a.valid_from.clone(),
            valid_to: a.valid_to.clone().unwrap_or_default(),
            review_date: a.review_date.clone().unwrap_or_default(),
            status: a.status.clone(),
            warn_percent: a.warn_percent.to_string(),
            targets: Priority::ALL
                .iter()
                .map(|p| {
                    let t = a.targets.iter().find(|t| t.priority == p.as_str());
                    TargetRow {
                        priority: p.as_str().into(),
                        response: t
                            .map(|t| t.response_minutes.to_string())
                            .unwrap_or_default(),
                        resolution: t
                            .map(|t| t.resolution_minutes.to_string())
                            .unwrap_or_default(),
                    }
                })
                .collect(),
            warning: a.warning_actions.clone(),
            breach: a.breach_actions.clone(),
            version: a.version,
        }
    }

    fn from_fields(f: &Fields) -> AgreementForm {
        let actions = |prefix: &str| EscalationActions {
            notify_assignee: f.has(&format!("{prefix}_notify_assignee")),
            notify_team_lead: f.has(&format!("{prefix}_notify_team_lead")),
            notify_service_manager: f.has(&format!("{prefix}_notify_service_manager")),
            raise_priority: f.has(&format!("{prefix}_raise_priority")),
            move_to_team_id: f.get(&format!("{prefix}_move_to_team")).parse().ok(),
        };
        AgreementForm {
            name: f.get("name").into(),
            kind: f.get("kind").into(),
            organization_id: f.get("organization_id").into(),
            team_id: f.get("team_id").into(),
            service_ids: f
                .all("service_ids")
                .iter()
                .filter_map(|v| v.parse().ok())
                .collect(),
            calendar_id: f.get("calendar_id").into(),
            valid_from: f.get("valid_from").into(),
            valid_to: f.get("valid_to").into(),
            review_date: f.get("review_date").into(),
            status: f.get("status").into(),
            warn_percent: f.get("warn_percent").into(),
            targets: Priority::ALL
                .iter()
                .map(|p| TargetRow {
                    priority: p.as_str().into(),
                    response: f.get(&format!("response_{}", p.as_str())).trim().into(),
                    resolution: f.get(&format!("resolution_{}", p.as_str())).trim().into(),
                })
                .collect(),
            warning: actions("warning"),
            breach: actions("breach"),
            version: f.version().unwrap_or(0),
        }
    }

    fn to_input(&self) -> AppResult<AgreementInput> {
        let id = |field: &str, v: &str| -> AppResult<Option<i64>> {
            match v.trim() {
                "" => Ok(None),
                s => s
                    .parse()
                    .map(Some)
                    .map_err(|_| AppError::invalid(field, "must be a number")),
            }
        };
        let mut targets = Vec::new();
        for t in &self.targets {
            if t.response.is_empty() && t.resolution.is_empty() {
                continue;
            }
            let n = |field: String, v: &str| -> AppResult<i64> {
                v.parse()
                    .map_err(|_| AppError::invalid(&field, "must be a whole number of minutes"))
            };
            targets.push(TargetInput {
                priority: t.priority.clone(),
                response_minutes: n(
                    format!("targets[{}].response_minutes", targets.len()),
                    &t.response,
                )?,
                resolution_minutes: n(
                    format!("targets[{}].resolution_minutes", targets.len()),
                    &t.resolution,
                )?,
            });
        }
        let opt = |v: &str| Some(v.trim().to_string()).filter(|s| !s.is_empty());
        Ok(AgreementInput {
            name: self.name.clone(),
            kind: self.kind.clone(),
            organization_id: id("organization_id", &self.organization_id)?,
            team_id: id("team_id", &self.team_id)?,
            service_ids: self.service_ids.clone(),
            calendar_id: id("calendar_id", &self.calendar_id)?
                .ok_or_else(|| AppError::invalid("calendar_id", "choose a calendar"))?,
            valid_from: self.valid_from.clone(),
            valid_to: opt(&self.valid_to),
            review_date: opt(&self.review_date),
            status: self.status.clone(),
            warn_percent: id("warn_percent", &self.warn_percent)?,
            targets,
            warning_actions: self.warning.clone(),
            breach_actions: self.breach.clone(),
        })
    }
}

#[derive(Template)]
#[template(path = "agreement.html")]
struct AgreementPage {
    c: Chrome,
    /// None for a new agreement.
    id: Option<i64>,
    form: AgreementForm,
    organizations: Vec<Choice>,
    teams: Vec<Choice>,
    services: Vec<Choice>,
    calendars: Vec<Choice>,
    can_manage: bool,
    error: Option<String>,
    notice: Option<String>,
}

impl AgreementPage {
    fn moves_to(&self, acts: &EscalationActions, team: &str) -> bool {
        acts.move_to_team_id.is_some_and(|t| t.to_string() == team)
    }
}

async fn agreement_form_page(
    s: &AppState,
    u: &WebUser,
    id: Option<i64>,
    form: AgreementForm,
    error: Option<String>,
    notice: Option<String>,
) -> AppResult<Response> {
    let c = Chrome::new(u, "service-levels");
    let app = &s.app;
    let choice = |value: String, label: String, current: &str| Choice {
        selected: value == current,
        value,
        label,
    };
    let organizations = accounts::list_orgs(app, &u.actor)
        .await?
        .into_iter()
        .map(|o| choice(o.id.to_string(), o.name, &form.organization_id))
        .collect();
    let teams = accounts::list_teams(app, &u.actor)
        .await?
        .into_iter()
        .map(|t| choice(t.id.to_string(), t.name, &form.team_id))
        .collect();
    let zh = u.lang == crate::i18n::Lang::ZhCn;
    let services = catalogue::list_services(app, &u.actor)
        .await?
        .into_iter()
        .map(|sv| Choice {
            value: sv.id.to_string(),
            label: format!("{} {}", sv.code, if zh { sv.name_zh } else { sv.name_en }),
            selected: form.service_ids.contains(&sv.id),
        })
        .collect();
    let calendars = calendars::list_calendars(app, &u.actor)
        .await?
        .iter()
        .map(|v| choice(v.id.to_string(), calendar_name(&c, v), &form.calendar_id))
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(
        status,
        &AgreementPage {
            can_manage: u.actor.can(Capability::ManageServiceLevels),
            c,
            id,
            form,
            organizations,
            teams,
            services,
            calendars,
            error,
            notice,
        },
    ))
}

async fn new_agreement(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        u.actor.require(Capability::ManageServiceLevels)?;
        agreement_form_page(&s, &u, None, AgreementForm::blank(), None, None).await
    }
    .await;
    finish(&u, r)
}

#[derive(Deserialize)]
struct DoneParams {
    done: Option<String>,
}

async fn agreement_page(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(p): Query<DoneParams>,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        let a = agreements::get(&s.app, &u.actor, id).await?;
        let c = Chrome::new(&u, "service-levels");
        let notice = p.done.filter(|d| d == "saved").map(|_| c.t("done-saved"));
        agreement_form_page(&s, &u, Some(id), AgreementForm::from_view(&a), None, notice).await
    }
    .await;
    finish(&u, r)
}

async fn save_agreement(
    s: &AppState,
    u: &WebUser,
    headers: &HeaderMap,
    id: Option<i64>,
    f: &Fields,
) -> AppResult<Response> {
    form::check(u, headers, f)?;
    let typed = AgreementForm::from_fields(f);
    let result = match typed.to_input() {
        Ok(input) => match id {
            None => agreements::create(&s.app, &u.actor, input).await,
            Some(id) => agreements::update(&s.app, &u.actor, id, input, f.version()).await,
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => Ok(see_other(&format!("/admin/slas/{}?done=saved", v.id))),
        Err(e) => match field_error(u, &e) {
            Some(msg) => agreement_form_page(s, u, id, typed, Some(msg), None).await,
            None => Err(e),
        },
    }
}

async fn create_agreement(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = save_agreement(&s, &u, &headers, None, &f).await;
    finish(&u, r)
}

async fn update_agreement(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        save_agreement(&s, &u, &headers, Some(id), &f).await
    }
    .await;
    finish(&u, r)
}
