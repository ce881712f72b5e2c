//! The change calendar: changes with windows and freeze periods over a range, with conflicts
//! flagged (core::change::conflicts), and the same as an iCalendar feed.

use super::require_reader;
use super::setup::{freeze_view, FreezeView};
use crate::app::views::instant;
use crate::app::{App, AppResult};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use std::collections::HashMap;
use steward_core::change::{
    self as rules, ical_escape, ical_line, ical_time, ChangeStatus, Conflict, Freeze, Window,
};
use steward_store::changes::{self as store, FreezePeriod, Scheduled};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CalendarEntry {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub change_type: String,
    pub status: String,
    pub risk: Option<String>,
    pub planned_start: String,
    pub planned_end: String,
    /// Whether the change is in a conflict below.
    pub conflicted: bool,
    #[serde(skip)]
    pub start_us: i64,
    #[serde(skip)]
    pub end_us: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConflictView {
    /// overlap (two changes on the same CIs or services at the same time) or freeze
    pub kind: String,
    pub change_ids: Vec<i64>,
    /// overlap: the shared CIs and services
    pub ci_ids: Vec<i64>,
    pub service_ids: Vec<i64>,
    /// freeze: the freeze period
    pub freeze_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CalendarView {
    pub from: String,
    pub to: String,
    pub changes: Vec<CalendarEntry>,
    pub freezes: Vec<FreezeView>,
    pub conflicts: Vec<ConflictView>,
}

fn conflict_view(c: &Conflict) -> ConflictView {
    match c {
        Conflict::Overlap {
            a,
            b,
            cis,
            services,
        } => ConflictView {
            kind: "overlap".into(),
            change_ids: vec![*a, *b],
            ci_ids: cis.clone(),
            service_ids: services.clone(),
            freeze_id: None,
        },
        Conflict::InFreeze {
            change_id,
            freeze_id,
        } => ConflictView {
            kind: "freeze".into(),
            change_ids: vec![*change_id],
            ci_ids: vec![],
            service_ids: vec![],
            freeze_id: Some(*freeze_id),
        },
    }
}

fn freeze_rule(f: &FreezePeriod) -> Freeze {
    Freeze {
        freeze_id: f.id,
        start: f.starts_at,
        end: f.ends_at,
        service: f.service_id,
    }
}

/// The windows of the calendar's changes over [from, to) with their CIs and services.
async fn windows(
    conn: &mut AnyConnection,
    changes: &[Scheduled],
    from: i64,
    to: i64,
) -> AppResult<Vec<Window>> {
    let mut cis: HashMap<i64, Vec<i64>> = HashMap::new();
    for (c, ci) in store::targets_in_window(conn, false, from, to).await? {
        cis.entry(c).or_default().push(ci);
    }
    let mut services: HashMap<i64, Vec<i64>> = HashMap::new();
    for (c, s) in store::targets_in_window(conn, true, from, to).await? {
        services.entry(c).or_default().push(s);
    }
    Ok(changes
        .iter()
        .map(|c| Window {
            change_id: c.id,
            start: c.planned_start,
            end: c.planned_end,
            cis: cis.remove(&c.id).unwrap_or_default(),
            services: services.remove(&c.id).unwrap_or_default(),
        })
        .collect())
}

/// The names of the freeze periods a window of this change would fall in.
pub(crate) async fn freezes_hit(
    conn: &mut AnyConnection,
    change_id: i64,
    start: i64,
    end: i64,
) -> AppResult<Vec<String>> {
    let freezes = store::freezes_in(conn, start, end).await?;
    let services = store::targets_of(conn, true, change_id).await?;
    let w = Window {
        change_id,
        start,
        end,
        cis: vec![],
        services,
    };
    let rules_f: Vec<Freeze> = freezes.iter().map(freeze_rule).collect();
    Ok(rules::conflicts(&[w], &rules_f)
        .iter()
        .filter_map(|c| match c {
            Conflict::InFreeze { freeze_id, .. } => freezes
                .iter()
                .find(|f| f.id == *freeze_id)
                .map(|f| f.name.clone()),
            Conflict::Overlap { .. } => None,
        })
        .collect())
}

/// The calendar over [from, to) (microseconds, UTC).
pub async fn calendar(
    app: &App,
    actor: &crate::app::Actor,
    from: i64,
    to: i64,
) -> AppResult<CalendarView> {
    require_reader(actor)?;
    let mut conn = app.read().await?;
    let changes = store::scheduled_in(&mut conn, from, to).await?;
    let freezes = store::freezes_in(&mut conn, from, to).await?;
    let ws = windows(&mut conn, &changes, from, to).await?;
    let rules_f: Vec<Freeze> = freezes.iter().map(freeze_rule).collect();
    let conflicts = rules::conflicts(&ws, &rules_f);
    let mut conflicted = std::collections::HashSet::new();
    for c in &conflicts {
        match c {
            Conflict::Overlap { a, b, .. } => {
                conflicted.insert(*a);
                conflicted.insert(*b);
            }
            Conflict::InFreeze { change_id, .. } => {
                conflicted.insert(*change_id);
            }
        }
    }
    let entries = changes
        .into_iter()
        .map(|c| {
            let (start, end) = (c.planned_start, c.planned_end);
            CalendarEntry {
                id: c.id,
                conflicted: conflicted.contains(&c.id),
                number: c.number,
                title: c.title,
                change_type: c.change_type,
                status: c.status,
                risk: c.risk,
                planned_start: instant(start),
                planned_end: instant(end),
                start_us: start,
                end_us: end,
            }
        })
        .collect();
    Ok(CalendarView {
        from: instant(from),
        to: instant(to),
        changes: entries,
        freezes: freezes.iter().map(freeze_view).collect(),
        conflicts: conflicts.iter().map(conflict_view).collect(),
    })
}

/// How far back and ahead the feed reaches.
const FEED_PAST_US: i64 = 90 * 86_400 * 1_000_000;
const FEED_AHEAD_US: i64 = 400 * 86_400 * 1_000_000;

/// The calendar as iCalendar text (RFC 5545): one VEVENT per change with a window (TENTATIVE
/// until scheduled) and one per freeze period.
pub async fn ics(app: &App, actor: &crate::app::Actor) -> AppResult<String> {
    require_reader(actor)?;
    let now = crate::app::now();
    let mut conn = app.read().await?;
    let changes = store::in_window(&mut conn, now - FEED_PAST_US, now + FEED_AHEAD_US).await?;
    let freezes = store::freezes_in(&mut conn, now - FEED_PAST_US, now + FEED_AHEAD_US).await?;
    let base = app.outbound.public_url.trim_end_matches('/');
    let host = base
        .split("://")
        .nth(1)
        .unwrap_or(base)
        .split('/')
        .next()
        .unwrap_or("steward");
    let stamp = ical_time(now);
    let mut out = String::with_capacity(512 + changes.len() * 400);
    for l in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Steward//Change calendar//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Steward changes",
    ] {
        ical_line(&mut out, l);
    }
    for c in &changes {
        let (Some(start), Some(end)) = (c.planned_start, c.planned_end) else {
            continue;
        };
        let status = c
            .status
            .parse::<ChangeStatus>()
            .map(|s| {
                if s.confirmed() {
                    "CONFIRMED"
                } else {
                    "TENTATIVE"
                }
            })
            .unwrap_or("TENTATIVE");
        ical_line(&mut out, "BEGIN:VEVENT");
        ical_line(&mut out, &format!("UID:change-{}@{host}", c.id));
        ical_line(&mut out, &format!("DTSTAMP:{stamp}"));
        ical_line(&mut out, &format!("DTSTART:{}", ical_time(start)));
        ical_line(&mut out, &format!("DTEND:{}", ical_time(end)));
        ical_line(
            &mut out,
            &format!(
                "SUMMARY:{}",
                ical_escape(&format!("{} {}", c.number, c.title))
            ),
        );
        ical_line(
            &mut out,
            &format!(
                "DESCRIPTION:{}",
                ical_escape(&format!(
                    "{} / {} / risk {}\n{}",
                    c.change_type,
                    c.status,
                    c.risk.as_deref().unwrap_or("-"),
                    c.description
                ))
            ),
        );
        ical_line(&mut out, &format!("URL:{base}/changes/{}", c.id));
        ical_line(&mut out, &format!("STATUS:{status}"));
        ical_line(&mut out, &format!("SEQUENCE:{}", c.version));
        ical_line(&mut out, "END:VEVENT");
    }
    for f in &freezes {
        ical_line(&mut out, "BEGIN:VEVENT");
        ical_line(&mut out, &format!("UID:freeze-{}@{host}", f.id));
        ical_line(&mut out, &format!("DTSTAMP:{stamp}"));
        ical_line(&mut out, &format!("DTSTART:{}", ical_time(f.starts_at)));
        ical_line(&mut out, &format!("DTEND:{}", ical_time(f.ends_at)));
        ical_line(
            &mut out,
            &format!("SUMMARY:{}", ical_escape(&format!("Freeze: {}", f.name))),
        );
        ical_line(&mut out, &format!("DESCRIPTION:{}", ical_escape(&f.reason)));
        ical_line(&mut out, &format!("URL:{base}/changes/calendar"));
        ical_line(&mut out, "STATUS:CONFIRMED");
        ical_line(&mut out, "TRANSP:OPAQUE");
        ical_line(&mut out, "END:VEVENT");
    }
    ical_line(&mut out, "END:VCALENDAR");
    Ok(out)
}
