//! SLA reporting: attainment per service, customer, team or priority for a period, beside the
//! previous period of the same length, with the breaches and their recorded reasons.
//!
//! A clock counts in the period in which its outcome was decided (met, or breached), see
//! steward_store::reports and docs/adr/006-sla-reporting.md. Dates are calendar days in the
//! actor's time zone (default Asia/Shanghai); `to` is inclusive. When the period is whole
//! calendar months the previous period is the same number of whole months before it (March →
//! February); otherwise it is the same number of days immediately before.
//!
//! Who: `ViewReports` (team leads, service managers, auditors, admins). Those who see every
//! ticket report on every ticket; a team lead reports on the tickets of their own teams. A
//! report is not a record, so anyone else gets 403.

use super::{Actor, App, AppError, AppResult};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::ToSpan;
use serde::{Deserialize, Serialize};
use steward_core::Capability;
use steward_store::reports::{
    self as store, BreachRow, ClockFilter, Dimension, GroupCounts, Window,
};
use utoipa::{IntoParams, ToSchema};

/// The attainment the chart draws its target line at.
pub const TARGET_PERCENT: f64 = 95.0;
/// The longest period, in days.
pub const MAX_DAYS: i64 = 366;
/// The most breaches listed; the report gives the full count.
pub const BREACH_LIMIT: i64 = 500;
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

pub const GROUP_BYS: &[&str] = &["service", "customer", "team", "priority"];
pub const METRICS: &[&str] = &["both", "response", "resolution"];
pub const KINDS: &[&str] = &["all", "sla", "ola"];

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First day, YYYY-MM-DD, in the caller's time zone
    #[serde(default)]
    pub from: String,
    /// Last day (inclusive), YYYY-MM-DD; at most 366 days after `from`
    #[serde(default)]
    pub to: String,
    /// service (default), customer, team or priority
    pub group_by: Option<String>,
    /// both (default), response or resolution
    pub metric: Option<String>,
    /// all (default), sla or ola
    pub kind: Option<String>,
}

/// Met and breached clocks of one group in one period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    /// Clocks met within their target.
    pub met: i64,
    /// Clocks that went past their target (met late, or overdue, or recorded as breached).
    pub breached: i64,
    /// Clocks started in the period and still undecided: not in the attainment.
    pub open: i64,
    /// met / (met + breached) × 100; null when nothing was decided.
    pub attainment_percent: Option<f64>,
}

impl Figures {
    fn new(met: i64, breached: i64, open: i64) -> Figures {
        let decided = met + breached;
        Figures {
            met,
            breached,
            open,
            attainment_percent: (decided > 0).then(|| met as f64 * 100.0 / decided as f64),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReportRow {
    /// The service, organisation or team id, or the priority (1 = P1); null: tickets without.
    pub key: Option<i64>,
    /// The group's name in the caller's language (P1 … for priorities); null: tickets without.
    pub name: Option<String>,
    pub current: Figures,
    pub previous: Figures,
    /// Current minus previous attainment, in percentage points; null unless both exist.
    pub change_points: Option<f64>,
}

impl ReportRow {
    fn new(key: Option<i64>, name: Option<String>, current: Figures, previous: Figures) -> Self {
        let change_points = match (current.attainment_percent, previous.attainment_percent) {
            (Some(c), Some(p)) => Some(c - p),
            _ => None,
        };
        ReportRow {
            key,
            name,
            current,
            previous,
            change_points,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BreachView {
    pub ticket_id: i64,
    pub number: String,
    pub title: String,
    pub priority: i64,
    pub clock_id: i64,
    /// response or resolution
    pub metric: String,
    pub agreement: String,
    /// sla or ola
    pub agreement_kind: String,
    pub target_secs: i64,
    pub elapsed_secs: i64,
    /// RFC 3339
    pub due_at: Option<String>,
    /// RFC 3339: when the target was missed
    pub breached_at: String,
    pub breach_reason: Option<String>,
    pub team: Option<String>,
    pub service: Option<String>,
    pub customer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SlaReport {
    /// The current period, YYYY-MM-DD, both days included.
    pub from: String,
    pub to: String,
    /// The previous period it is compared with.
    pub previous_from: String,
    pub previous_to: String,
    /// The time zone the days are read in.
    pub time_zone: String,
    pub group_by: String,
    pub metric: String,
    pub kind: String,
    /// The attainment target the chart shows.
    pub target_percent: f64,
    pub rows: Vec<ReportRow>,
    pub total: ReportRow,
    /// The breaches of the current period, oldest first, at most 500.
    pub breaches: Vec<BreachView>,
    /// How many breaches the current period has in all.
    pub breach_count: i64,
}

/// A validated query: what the report is over.
#[derive(Debug, Clone)]
struct Period {
    from: Date,
    to: Date,
    previous_from: Date,
    previous_to: Date,
    tz: TimeZone,
    tz_name: String,
}

fn parse_date(field: &str, s: &str) -> AppResult<Date> {
    s.trim()
        .parse::<Date>()
        .map_err(|_| AppError::invalid(field, "must be a date YYYY-MM-DD"))
}

fn choice<'a>(field: &str, value: Option<&'a str>, allowed: &[&'a str]) -> AppResult<&'a str> {
    let v = value.map(str::trim).filter(|v| !v.is_empty());
    match v {
        None => Ok(allowed[0]),
        Some(v) => allowed.iter().copied().find(|a| *a == v).ok_or_else(|| {
            AppError::invalid(field, format!("must be one of {}", allowed.join(", ")))
        }),
    }
}

fn day_after(field: &str, d: Date) -> AppResult<Date> {
    d.tomorrow()
        .map_err(|_| AppError::invalid(field, "is out of range"))
}

fn period(actor: &Actor, q: &ReportQuery) -> AppResult<Period> {
    let from = parse_date("from", &q.from)?;
    let to = parse_date("to", &q.to)?;
    if to < from {
        return Err(AppError::invalid("to", "must not be before from"));
    }
    let days = (to - from).get_days() as i64 + 1;
    if days > MAX_DAYS {
        return Err(AppError::invalid(
            "to",
            format!("must be at most {MAX_DAYS} days after from"),
        ));
    }
    let end = day_after("to", to)?;
    let whole_months = from.day() == 1 && end.day() == 1;
    let previous_from = if whole_months {
        let months = (end.year() as i64 - from.year() as i64) * 12 + end.month() as i64
            - from.month() as i64;
        from.checked_sub(months.months())
    } else {
        from.checked_sub(days.days())
    }
    .map_err(|_| AppError::invalid("from", "is out of range"))?;
    let previous_to = from
        .yesterday()
        .map_err(|_| AppError::invalid("from", "is out of range"))?;
    let tz_name = actor
        .time_zone
        .clone()
        .filter(|z| TimeZone::get(z).is_ok())
        .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_string());
    let tz = TimeZone::get(&tz_name).unwrap_or(TimeZone::UTC);
    Ok(Period {
        from,
        to,
        previous_from,
        previous_to,
        tz,
        tz_name,
    })
}

/// The first instant of a day in the time zone, in microseconds.
fn start_of(field: &str, d: Date, tz: &TimeZone) -> AppResult<i64> {
    d.to_zoned(tz.clone())
        .map(|z| z.timestamp().as_microsecond())
        .map_err(|_| AppError::invalid(field, "is out of range"))
}

fn rfc3339(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn dimension(group_by: &str) -> Dimension {
    match group_by {
        "customer" => Dimension::Customer,
        "team" => Dimension::Team,
        "priority" => Dimension::Priority,
        _ => Dimension::Service,
    }
}

fn zh(actor: &Actor) -> bool {
    actor
        .locale
        .as_deref()
        .is_none_or(|l| l.to_ascii_lowercase().starts_with("zh"))
}

fn group_name(dim: Dimension, g: &GroupCounts, zh: bool) -> Option<String> {
    if dim == Dimension::Priority {
        return g.key.map(|p| format!("P{p}"));
    }
    if zh {
        g.label_zh.clone().or_else(|| g.label_en.clone())
    } else {
        g.label_en.clone().or_else(|| g.label_zh.clone())
    }
}

fn breach_view(b: BreachRow, zh: bool) -> BreachView {
    let service = if zh {
        b.service_zh.or(b.service_en)
    } else {
        b.service_en.or(b.service_zh)
    };
    BreachView {
        ticket_id: b.ticket_id,
        number: b.number,
        title: b.title,
        priority: b.priority,
        clock_id: b.clock_id,
        metric: b.metric,
        agreement: b.agreement,
        agreement_kind: b.agreement_kind,
        target_secs: b.target_secs,
        elapsed_secs: b.elapsed_secs,
        due_at: b.due_at.map(rfc3339),
        breached_at: rfc3339(b.breached_at),
        breach_reason: b.breach_reason,
        team: b.team,
        service,
        customer: b.customer,
    }
}

/// The SLA attainment report for a period, beside the previous one, with its breaches.
pub async fn sla_report(app: &App, actor: &Actor, q: &ReportQuery) -> AppResult<SlaReport> {
    actor.require(Capability::ViewReports)?;
    let group_by = choice("group_by", q.group_by.as_deref(), GROUP_BYS)?;
    let metric = choice("metric", q.metric.as_deref(), METRICS)?;
    let kind = choice("kind", q.kind.as_deref(), KINDS)?;
    let p = period(actor, q)?;
    let window = Window {
        previous_from: start_of("from", p.previous_from, &p.tz)?,
        from: start_of("from", p.from, &p.tz)?,
        to: start_of("to", day_after("to", p.to)?, &p.tz)?,
        now: super::now(),
    };
    let filter = ClockFilter {
        metrics: match metric {
            "both" => vec![],
            m => vec![m.to_string()],
        },
        kind: (kind != "all").then(|| kind.to_string()),
        team_ids: (!actor.can(Capability::SeeAllTickets)).then(|| actor.team_ids.clone()),
    };
    let dim = dimension(group_by);
    let zh = zh(actor);

    let mut conn = app.read().await?;
    let mut groups = store::attainment(&mut conn, dim, &filter, window).await?;
    let (breaches, breach_count) = store::breaches(
        &mut conn,
        &filter,
        window.from,
        window.to,
        window.now,
        BREACH_LIMIT,
    )
    .await?;

    // Groups without a key (no service, no team …) last; the databases order NULL differently.
    groups.sort_by_key(|g| (g.key.is_none(), g.key));
    let mut sum = [0i64; 6];
    let rows = groups
        .iter()
        .map(|g| {
            for (s, v) in sum.iter_mut().zip([
                g.met,
                g.breached,
                g.open,
                g.previous_met,
                g.previous_breached,
                g.previous_open,
            ]) {
                *s += v;
            }
            ReportRow::new(
                g.key,
                group_name(dim, g, zh),
                Figures::new(g.met, g.breached, g.open),
                Figures::new(g.previous_met, g.previous_breached, g.previous_open),
            )
        })
        .collect();
    let total = ReportRow::new(
        None,
        None,
        Figures::new(sum[0], sum[1], sum[2]),
        Figures::new(sum[3], sum[4], sum[5]),
    );
    Ok(SlaReport {
        from: p.from.to_string(),
        to: p.to.to_string(),
        previous_from: p.previous_from.to_string(),
        previous_to: p.previous_to.to_string(),
        time_zone: p.tz_name,
        group_by: group_by.to_string(),
        metric: metric.to_string(),
        kind: kind.to_string(),
        target_percent: TARGET_PERCENT,
        rows,
        total,
        breaches: breaches.into_iter().map(|b| breach_view(b, zh)).collect(),
        breach_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor::system(steward_core::Channel::Api)
    }

    fn q(from: &str, to: &str) -> ReportQuery {
        ReportQuery {
            from: from.into(),
            to: to.into(),
            ..Default::default()
        }
    }

    #[test]
    fn previous_period_is_the_previous_months_or_the_same_number_of_days() {
        let p = period(&actor(), &q("2026-03-01", "2026-03-31")).unwrap();
        assert_eq!(p.previous_from.to_string(), "2026-02-01");
        assert_eq!(p.previous_to.to_string(), "2026-02-28");
        let p = period(&actor(), &q("2026-01-01", "2026-03-31")).unwrap();
        assert_eq!(p.previous_from.to_string(), "2025-10-01");
        let p = period(&actor(), &q("2026-03-10", "2026-03-16")).unwrap();
        assert_eq!(p.previous_from.to_string(), "2026-03-03");
        assert_eq!(p.previous_to.to_string(), "2026-03-09");
        assert_eq!(p.tz_name, "Asia/Shanghai");
    }

    #[test]
    fn bad_periods_name_the_field() {
        let field = |r: AppResult<Period>| match r {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(period(&actor(), &q("2026-13-01", "2026-03-31"))),
            "from"
        );
        assert_eq!(field(period(&actor(), &q("2026-03-01", "x"))), "to");
        assert_eq!(
            field(period(&actor(), &q("2026-03-02", "2026-03-01"))),
            "to"
        );
        assert_eq!(
            field(period(&actor(), &q("2024-01-01", "2025-01-02"))),
            "to"
        );
        assert!(period(&actor(), &q("2024-01-01", "2024-12-31")).is_ok());
    }

    #[test]
    fn attainment_is_met_over_decided() {
        assert_eq!(Figures::new(0, 0, 3).attainment_percent, None);
        assert_eq!(Figures::new(3, 1, 0).attainment_percent, Some(75.0));
    }
}
