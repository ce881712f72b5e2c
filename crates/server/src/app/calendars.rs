//! Business calendars: the built-in China mainland and 24×7 calendars and the ones service
//! managers define; which days are worked and why, due times of business durations, and
//! iCalendar import and export.

use super::views::instant;
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use steward_core::calendar::{ics, CalendarSpec, DayInfo, DayReason, WorkingCalendar};
use steward_core::Capability;
use steward_store::sla::{self, CalendarRow};
use utoipa::ToSchema;

/// Parsed calendars by id and version: the sweep and every ticket change use them, and a
/// calendar changes rarely.
#[derive(Default)]
pub struct CalendarCache {
    parsed: Mutex<HashMap<i64, (i64, Arc<WorkingCalendar>)>>,
}

fn spec_of(row: &CalendarRow) -> AppResult<CalendarSpec> {
    match (row.builtin.as_deref(), &row.definition) {
        (Some("china_mainland"), _) => Ok(CalendarSpec::china_mainland_standard()),
        (Some("always"), _) => Ok(CalendarSpec::always()),
        (_, Some(json)) => serde_json::from_str(json)
            .map_err(|e| AppError::Internal(format!("calendar {}: {e}", row.id))),
        _ => Err(AppError::Internal(format!(
            "calendar {} has no definition",
            row.id
        ))),
    }
}

impl CalendarCache {
    /// The calendar as it is now; a changed calendar is parsed again.
    pub async fn get(&self, conn: &mut AnyConnection, id: i64) -> AppResult<Arc<WorkingCalendar>> {
        let row = sla::get_calendar(conn, id)
            .await?
            .ok_or_else(|| AppError::Internal(format!("calendar {id} is missing")))?;
        self.of_row(&row)
    }

    pub fn of_row(&self, row: &CalendarRow) -> AppResult<Arc<WorkingCalendar>> {
        if let Ok(map) = self.parsed.lock() {
            if let Some((v, cal)) = map.get(&row.id) {
                if *v == row.version {
                    return Ok(cal.clone());
                }
            }
        }
        let cal = Arc::new(
            WorkingCalendar::from_spec(&spec_of(row)?)
                .map_err(|e| AppError::Internal(format!("calendar {}: {e}", row.id)))?,
        );
        if let Ok(mut map) = self.parsed.lock() {
            map.insert(row.id, (row.version, cal.clone()));
        }
        Ok(cal)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CalendarView {
    pub id: i64,
    pub name: String,
    /// china_mainland or always for the built-in calendars (read-only); absent otherwise.
    pub builtin: Option<String>,
    /// Time zone, weekly hours, holidays, extra working days and the optional built-in base.
    #[schema(value_type = Object)]
    pub definition: CalendarSpec,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl CalendarView {
    fn new(row: &CalendarRow) -> AppResult<CalendarView> {
        Ok(CalendarView {
            id: row.id,
            name: row.name.clone(),
            builtin: row.builtin.clone(),
            definition: spec_of(row)?,
            version: row.version,
            created_at: instant(row.created_at),
            updated_at: instant(row.updated_at),
        })
    }

    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }
}

/// Calendars are staff information; requesters have no use for them.
fn require_staff(actor: &Actor) -> AppResult<()> {
    if actor.role.is_staff() {
        Ok(())
    } else {
        Err(AppError::forbidden("calendars are for the service desk"))
    }
}

pub async fn list_calendars(app: &App, actor: &Actor) -> AppResult<Vec<CalendarView>> {
    require_staff(actor)?;
    let mut conn = app.read().await?;
    sla::list_calendars(&mut conn)
        .await?
        .iter()
        .map(CalendarView::new)
        .collect()
}

async fn row(conn: &mut AnyConnection, id: i64) -> AppResult<CalendarRow> {
    sla::get_calendar(conn, id).await?.ok_or(AppError::NotFound)
}

pub async fn get_calendar(app: &App, actor: &Actor, id: i64) -> AppResult<CalendarView> {
    require_staff(actor)?;
    let mut conn = app.read().await?;
    CalendarView::new(&row(&mut conn, id).await?)
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    pub name: String,
    #[schema(value_type = Object)]
    pub definition: CalendarSpec,
}

fn check_spec(spec: &CalendarSpec) -> AppResult<()> {
    WorkingCalendar::from_spec(spec)
        .map(|_| ())
        .map_err(|e| AppError::invalid(&format!("definition.{}", e.field), e.message))
}

fn check_name(name: &str) -> AppResult<String> {
    super::error::text_field("name", steward_core::text::single_line(name, 100))
}

pub async fn create_calendar(
    app: &App,
    actor: &Actor,
    input: CalendarInput,
) -> AppResult<CalendarView> {
    actor.require(Capability::ManageServiceLevels)?;
    let name = check_name(&input.name)?;
    check_spec(&input.definition)?;
    let definition =
        serde_json::to_string(&input.definition).map_err(|e| AppError::Internal(e.to_string()))?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                let id = sla::insert_calendar(&mut ctx.conn, &name, &definition, now)
                    .await
                    .map_err(|e| match e.constraint() {
                        Some(_) => AppError::invalid("name", "a calendar with this name exists"),
                        None => e.into(),
                    })?;
                AuditTrail::new(&actor, "calendar", id, now)
                    .record(ctx, "create", None, None, Some(definition))
                    .await?;
                CalendarView::new(&row(&mut ctx.conn, id).await?)
            })
        })
        .await
}

pub async fn update_calendar(
    app: &App,
    actor: &Actor,
    id: i64,
    input: CalendarInput,
    if_match: Option<i64>,
) -> AppResult<CalendarView> {
    actor.require(Capability::ManageServiceLevels)?;
    let name = check_name(&input.name)?;
    check_spec(&input.definition)?;
    let definition =
        serde_json::to_string(&input.definition).map_err(|e| AppError::Internal(e.to_string()))?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = row(&mut ctx.conn, id).await?;
                if old.builtin.is_some() {
                    return Err(AppError::forbidden(
                        "built-in calendars are read-only; copy one to change it",
                    ));
                }
                if if_match.is_some_and(|v| v != old.version) {
                    return Err(AppError::Stale);
                }
                let now = now();
                let mut new = old.clone();
                new.name = name;
                new.definition = Some(definition);
                new.version = old.version + 1;
                new.updated_at = now;
                if !sla::update_calendar(&mut ctx.conn, &new, old.version)
                    .await
                    .map_err(|e| match e.constraint() {
                        Some(_) => AppError::invalid("name", "a calendar with this name exists"),
                        None => e.into(),
                    })?
                {
                    return Err(AppError::Stale);
                }
                AuditTrail::new(&actor, "calendar", id, now)
                    .changes(
                        ctx,
                        &[
                            ("name", Some(old.name.clone()), Some(new.name.clone())),
                            ("definition", old.definition.clone(), new.definition.clone()),
                        ],
                    )
                    .await?;
                CalendarView::new(&new)
            })
        })
        .await
}

fn parse_date(field: &str, s: &str) -> AppResult<Date> {
    s.parse::<Date>()
        .map_err(|_| AppError::invalid(field, "must be a date like 2026-10-01"))
}

/// One date of a calendar: whether it is worked and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayView {
    /// YYYY-MM-DD
    #[schema(value_type = String)]
    pub date: Date,
    pub working: bool,
    /// workday, weekend, holiday or adjusted_workday (a weekend date worked: 调休)
    pub reason: String,
    /// The holiday's name, or the holiday an adjusted working day makes up for.
    pub name: Option<String>,
    /// The English name of a built-in China mainland holiday.
    pub name_en: Option<String>,
}

impl From<DayInfo> for DayView {
    fn from(d: DayInfo) -> DayView {
        let (reason, name) = match d.reason {
            DayReason::Workday => ("workday", None),
            DayReason::Weekend => ("weekend", None),
            DayReason::Holiday { name } => ("holiday", Some(name)),
            DayReason::AdjustedWorkday { name } => ("adjusted_workday", Some(name)),
        };
        let name = name.filter(|n| !n.is_empty());
        DayView {
            date: d.date,
            working: d.working,
            reason: reason.to_string(),
            name_en: name
                .as_deref()
                .and_then(steward_core::calendar::china::Festival::from_zh)
                .map(|f| f.en().to_string()),
            name,
        }
    }
}

/// The longest range `days` answers in one call.
const MAX_DAYS: i64 = 731;

pub async fn days(
    app: &App,
    actor: &Actor,
    id: i64,
    from: &str,
    to: &str,
) -> AppResult<Vec<DayView>> {
    require_staff(actor)?;
    let from = parse_date("from", from)?;
    let to = parse_date("to", to)?;
    if to < from {
        return Err(AppError::invalid("to", "is before from"));
    }
    let span = from
        .until(to)
        .map(|s| i64::from(s.get_days()))
        .unwrap_or(i64::MAX);
    if span >= MAX_DAYS {
        return Err(AppError::invalid("to", "the range is longer than 731 days"));
    }
    let mut conn = app.read().await?;
    let cal = app.calendars.of_row(&row(&mut conn, id).await?)?;
    Ok(cal.days(from, to).map(DayView::from).collect())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DueView {
    /// RFC 3339, UTC
    pub due: String,
    pub start: String,
    pub minutes: i64,
}

pub async fn due(
    app: &App,
    actor: &Actor,
    id: i64,
    start: &str,
    minutes: i64,
) -> AppResult<DueView> {
    require_staff(actor)?;
    let start_at: Timestamp = start.parse().map_err(|_| {
        AppError::invalid("start", "must be RFC 3339, e.g. 2026-09-30T17:00:00+08:00")
    })?;
    if !(0..=10_000_000).contains(&minutes) {
        return Err(AppError::invalid(
            "minutes",
            "must be between 0 and 10000000",
        ));
    }
    let mut conn = app.read().await?;
    let cal = app.calendars.of_row(&row(&mut conn, id).await?)?;
    let due = cal.add_business(start_at, minutes * 60);
    Ok(DueView {
        due: instant(due.as_microsecond()),
        start: instant(start_at.as_microsecond()),
        minutes,
    })
}

/// The calendar's holidays and extra working days between two dates as iCalendar text.
pub async fn export_ics(
    app: &App,
    actor: &Actor,
    id: i64,
    from: Option<&str>,
    to: Option<&str>,
) -> AppResult<String> {
    require_staff(actor)?;
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let from = match from {
        Some(s) => parse_date("from", s)?,
        None => Date::new(today.year() - 1, 1, 1).unwrap_or(today),
    };
    let to = match to {
        Some(s) => parse_date("to", s)?,
        None => Date::new(today.year() + 1, 12, 31).unwrap_or(today),
    };
    if to < from {
        return Err(AppError::invalid("to", "is before from"));
    }
    if from.until(to).map(|s| s.get_days()).unwrap_or(i32::MAX) > 3 * 366 {
        return Err(AppError::invalid(
            "to",
            "the range is longer than three years",
        ));
    }
    let mut conn = app.read().await?;
    let row = row(&mut conn, id).await?;
    let cal = app.calendars.of_row(&row)?;
    Ok(ics::export(&cal, from, to))
}

/// Adds the holidays and extra working days of an iCalendar file to a calendar; dates already
/// present are replaced by the imported ones.
pub async fn import_ics(
    app: &App,
    actor: &Actor,
    id: i64,
    text: &str,
    if_match: Option<i64>,
) -> AppResult<CalendarView> {
    actor.require(Capability::ManageServiceLevels)?;
    let imported = ics::import(text).map_err(|e| AppError::invalid("file", e.to_string()))?;
    let current = {
        let mut conn = app.read().await?;
        row(&mut conn, id).await?
    };
    let mut spec = spec_of(&current)?;
    let dates: std::collections::HashSet<Date> = imported
        .holidays
        .iter()
        .chain(imported.extra_workdays.iter())
        .map(|d| d.date)
        .collect();
    spec.holidays.retain(|d| !dates.contains(&d.date));
    spec.extra_workdays.retain(|d| !dates.contains(&d.date));
    spec.holidays.extend(imported.holidays);
    spec.extra_workdays.extend(imported.extra_workdays);
    spec.holidays.sort_by_key(|d| d.date);
    spec.extra_workdays.sort_by_key(|d| d.date);
    update_calendar(
        app,
        actor,
        id,
        CalendarInput {
            name: current.name,
            definition: spec,
        },
        if_match.or(Some(current.version)),
    )
    .await
}
