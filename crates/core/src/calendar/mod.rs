//! Business calendars: when a team works, in its own time zone, with public holidays and
//! China's adjusted working days (调休). SLA targets are measured in this working time.
//!
//! Instants are handled at whole-second precision (sub-second parts are dropped): SLA targets
//! are minutes to days, and whole seconds keep `add_business` and `business_secs_between`
//! exact inverses of each other.

pub mod china;
pub mod ics;

use crate::ticket::string_enum;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What the store saves as JSON and what the API accepts; [`WorkingCalendar::from_spec`]
/// validates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSpec {
    /// IANA name, e.g. "Asia/Shanghai". Working hours are wall-clock times in this zone.
    pub time_zone: String,
    /// Weekdays not listed have no working hours.
    pub week: Vec<WeekdayHours>,
    #[serde(default)]
    pub holidays: Vec<DatedDay>,
    /// Days worked although the weekly pattern has them off (调休).
    #[serde(default)]
    pub extra_workdays: Vec<DatedDay>,
    #[serde(default)]
    pub base: Option<BaseCalendar>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekdayHours {
    pub weekday: Weekday,
    pub intervals: Vec<Interval>,
}

/// Local wall-clock times as "HH:MM"; `end` may be "24:00" so a shift can run to midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatedDay {
    pub date: Date,
    pub name: String,
}

/// Built-in public holiday schedules a calendar can stand on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseCalendar {
    /// The State Council's holidays and adjusted working days, see [`china`].
    ChinaMainland,
}
string_enum!(BaseCalendar { ChinaMainland => "china_mainland" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}
string_enum!(Weekday {
    Monday => "monday",
    Tuesday => "tuesday",
    Wednesday => "wednesday",
    Thursday => "thursday",
    Friday => "friday",
    Saturday => "saturday",
    Sunday => "sunday",
});

impl Weekday {
    /// Monday is 0, as ISO 8601 counts.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_jiff(w: jiff::civil::Weekday) -> Weekday {
        Weekday::ALL[w.to_monday_zero_offset() as usize]
    }
}

/// Why a day is or is not worked; shown next to due dates so nobody has to guess.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DayReason {
    /// A weekday with working hours in the weekly pattern.
    Workday,
    /// A weekday without working hours in the weekly pattern (usually Saturday and Sunday).
    Weekend,
    Holiday {
        name: String,
    },
    /// A day the weekly pattern has off but which is worked (调休).
    AdjustedWorkday {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayInfo {
    pub date: Date,
    pub working: bool,
    pub reason: DayReason,
}

/// A rejected spec; `field` is a path into the spec such as `week[0].intervals[1].end`, so a
/// form can put the message next to the right input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CalendarError {
    pub field: String,
    pub message: String,
}

impl CalendarError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        CalendarError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// More would be a spec error rather than a real shift pattern; the bound lets the hot path
/// keep a day's intervals on the stack.
pub const MAX_INTERVALS_PER_DAY: usize = 12;

const DAY: i64 = 86_400;
/// Days are kept within jiff's civil range (years -9999..=9999) with a margin.
const MIN_DAY: i32 = -3_652_000;
const MAX_DAY: i32 = 2_932_000;

#[derive(Debug, Clone)]
struct Override {
    working: bool,
    name: String,
}

/// A validated calendar, ready for fast queries. Serialises as its [`CalendarSpec`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct WorkingCalendar {
    spec: CalendarSpec,
    tz: TimeZone,
    /// From this UTC second on the zone's offset never changes again (Asia/Shanghai since
    /// 1991), so local↔UTC is plain arithmetic; `i64::MAX` for zones with DST.
    fixed_since: i64,
    fixed_offset: i64,
    /// Working intervals in seconds after local midnight, sorted, non-overlapping.
    spans: Vec<(i64, i64)>,
    /// Per weekday (Monday first) a range into `spans`.
    week: [(usize, usize); 7],
    /// The hours of an extra working day that falls on a weekday without hours.
    workday: (usize, usize),
    week_secs: i64,
    /// Sorted local day numbers (days since 1970-01-01) with their override.
    override_days: Vec<i32>,
    overrides: Vec<Override>,
}

impl From<WorkingCalendar> for CalendarSpec {
    fn from(c: WorkingCalendar) -> CalendarSpec {
        c.spec
    }
}

impl TryFrom<CalendarSpec> for WorkingCalendar {
    type Error = CalendarError;
    fn try_from(spec: CalendarSpec) -> Result<Self, CalendarError> {
        WorkingCalendar::from_spec(&spec)
    }
}

impl CalendarSpec {
    /// Round the clock, every day; the zone is irrelevant, UTC avoids DST days of 23 hours.
    pub fn always() -> CalendarSpec {
        CalendarSpec {
            time_zone: "UTC".into(),
            week: Weekday::ALL
                .iter()
                .map(|&weekday| WeekdayHours {
                    weekday,
                    intervals: vec![Interval::new("00:00", "24:00")],
                })
                .collect(),
            holidays: Vec::new(),
            extra_workdays: Vec::new(),
            base: None,
        }
    }

    /// Office hours of a mainland Chinese team: Monday to Friday 09:00–12:00 and 13:00–18:00,
    /// Beijing time, with the State Council's holidays and adjusted working days.
    pub fn china_mainland_standard() -> CalendarSpec {
        CalendarSpec {
            time_zone: "Asia/Shanghai".into(),
            week: Weekday::ALL[..5]
                .iter()
                .map(|&weekday| WeekdayHours {
                    weekday,
                    intervals: vec![
                        Interval::new("09:00", "12:00"),
                        Interval::new("13:00", "18:00"),
                    ],
                })
                .collect(),
            holidays: Vec::new(),
            extra_workdays: Vec::new(),
            base: Some(BaseCalendar::ChinaMainland),
        }
    }
}

impl Interval {
    pub fn new(start: &str, end: &str) -> Interval {
        Interval {
            start: start.into(),
            end: end.into(),
        }
    }
}

/// "HH:MM" → seconds after midnight; "24:00" only where `allow_24` (an interval's end).
fn parse_hhmm(s: &str, allow_24: bool) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 5
        || b[2] != b':'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
    {
        return None;
    }
    let h = i64::from(b[0] - b'0') * 10 + i64::from(b[1] - b'0');
    let m = i64::from(b[3] - b'0') * 10 + i64::from(b[4] - b'0');
    match (h, m) {
        (24, 0) if allow_24 => Some(DAY),
        (0..=23, 0..=59) => Some(h * 3600 + m * 60),
        _ => None,
    }
}

impl WorkingCalendar {
    pub fn from_spec(spec: &CalendarSpec) -> Result<WorkingCalendar, CalendarError> {
        let tz = TimeZone::get(&spec.time_zone).map_err(|_| {
            CalendarError::new(
                "time_zone",
                format!("unknown time zone {:?}", spec.time_zone),
            )
        })?;

        let mut per_day: [Option<Vec<(i64, i64)>>; 7] = Default::default();
        for (wi, wh) in spec.week.iter().enumerate() {
            let slot = &mut per_day[wh.weekday.index()];
            if slot.is_some() {
                return Err(CalendarError::new(
                    format!("week[{wi}].weekday"),
                    format!("{} is listed twice", wh.weekday),
                ));
            }
            if wh.intervals.len() > MAX_INTERVALS_PER_DAY {
                return Err(CalendarError::new(
                    format!("week[{wi}].intervals"),
                    format!("at most {MAX_INTERVALS_PER_DAY} intervals a day"),
                ));
            }
            let mut list = Vec::with_capacity(wh.intervals.len());
            for (ii, iv) in wh.intervals.iter().enumerate() {
                let field = |part: &str| format!("week[{wi}].intervals[{ii}].{part}");
                let start = parse_hhmm(&iv.start, false).ok_or_else(|| {
                    CalendarError::new(
                        field("start"),
                        format!("{:?} is not a time HH:MM", iv.start),
                    )
                })?;
                let end = parse_hhmm(&iv.end, true).ok_or_else(|| {
                    CalendarError::new(
                        field("end"),
                        format!("{:?} is not a time HH:MM (or 24:00)", iv.end),
                    )
                })?;
                if end <= start {
                    return Err(CalendarError::new(field("end"), "must be after the start"));
                }
                list.push((start, end, ii));
            }
            list.sort_unstable();
            for pair in list.windows(2) {
                if pair[1].0 < pair[0].1 {
                    return Err(CalendarError::new(
                        format!("week[{wi}].intervals[{}]", pair[1].2),
                        format!("overlaps week[{wi}].intervals[{}]", pair[0].2),
                    ));
                }
            }
            *slot = Some(list.into_iter().map(|(s, e, _)| (s, e)).collect());
        }

        let mut spans = Vec::new();
        let mut week = [(0, 0); 7];
        for (i, day) in per_day.iter().enumerate() {
            let start = spans.len();
            spans.extend(day.iter().flatten().copied());
            week[i] = (start, spans.len());
        }
        let workday = week.iter().copied().find(|(s, e)| e > s).ok_or_else(|| {
            CalendarError::new("week", "the calendar has no working hours on any weekday")
        })?;
        let week_secs = spans.iter().map(|(s, e)| e - s).sum();

        // Base first, then the calendar's own dates on top, so a team can work a public
        // holiday or take an extra day off.
        let mut map = std::collections::BTreeMap::new();
        if spec.base == Some(BaseCalendar::ChinaMainland) {
            for (date, f) in china::holidays() {
                map.insert(
                    day_number(date),
                    Override {
                        working: false,
                        name: f.zh().into(),
                    },
                );
            }
            for (date, f) in china::adjusted_workdays() {
                map.insert(
                    day_number(date),
                    Override {
                        working: true,
                        name: f.zh().into(),
                    },
                );
            }
        }
        let mut seen = std::collections::HashMap::new();
        for (list, key, working) in [
            (&spec.holidays, "holidays", false),
            (&spec.extra_workdays, "extra_workdays", true),
        ] {
            for (i, dd) in list.iter().enumerate() {
                let here = format!("{key}[{i}]");
                if let Some(first) = seen.insert(dd.date, here.clone()) {
                    return Err(CalendarError::new(
                        format!("{here}.date"),
                        format!("{} is already listed as {first}", dd.date),
                    ));
                }
                if dd.name.trim().is_empty() {
                    return Err(CalendarError::new(
                        format!("{here}.name"),
                        "a name is required",
                    ));
                }
                map.insert(
                    day_number(dd.date),
                    Override {
                        working,
                        name: dd.name.trim().to_string(),
                    },
                );
            }
        }
        let (override_days, overrides) = map.into_iter().unzip();

        let (fixed_since, fixed_offset) = fixed_from(&tz);
        Ok(WorkingCalendar {
            spec: spec.clone(),
            tz,
            fixed_since,
            fixed_offset,
            spans,
            week,
            workday,
            week_secs,
            override_days,
            overrides,
        })
    }

    /// Round the clock; see [`CalendarSpec::always`].
    pub fn always() -> WorkingCalendar {
        WorkingCalendar::from_spec(&CalendarSpec::always()).expect("the 24x7 spec is valid")
    }

    /// See [`CalendarSpec::china_mainland_standard`].
    pub fn china_mainland_standard() -> WorkingCalendar {
        WorkingCalendar::from_spec(&CalendarSpec::china_mainland_standard())
            .expect("the standard China spec is valid")
    }

    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Whether and why `date` is worked. The calendar's own holidays and extra working days
    /// win over the base calendar.
    pub fn day(&self, date: Date) -> DayInfo {
        let d = day_number(date);
        let own = self.week_hours(weekday_of(d));
        let (working, reason) = match self.lookup(d) {
            Some(o) if o.working => (
                true,
                DayReason::AdjustedWorkday {
                    name: o.name.clone(),
                },
            ),
            Some(o) => (
                false,
                DayReason::Holiday {
                    name: o.name.clone(),
                },
            ),
            None if own.is_empty() => (false, DayReason::Weekend),
            None => (true, DayReason::Workday),
        };
        DayInfo {
            date,
            working,
            reason,
        }
    }

    /// Every day from `from` through `to`, both included.
    pub fn days(&self, from: Date, to: Date) -> impl Iterator<Item = DayInfo> + '_ {
        let (a, b) = (day_number(from), day_number(to));
        (a..=b).map(move |d| self.day(date_of(d)))
    }

    /// The instant at which `secs` of working time have elapsed after `start`, i.e. the due
    /// instant of a target. For `secs > 0` the result lies inside working time or exactly at
    /// the end of a working interval (the last second worked is the one before it), never at
    /// the start of a gap. `secs <= 0` returns `start` unchanged: nothing is owed, and the
    /// caller decides whether "due now" should wait for office hours.
    pub fn add_business(&self, start: Timestamp, secs: i64) -> Timestamp {
        if secs <= 0 {
            return start;
        }
        let mut t = start.as_second();
        let mut d = self.local_day(t);
        let mut rem = secs;
        let mut buf = [(0i64, 0i64); MAX_INTERVALS_PER_DAY];
        loop {
            if d > MAX_DAY {
                return Timestamp::MAX;
            }
            // Whole weeks without dated overrides hold exactly `week_secs`; skip them so that
            // long targets cost O(overrides), not O(days).
            if rem > self.week_secs && self.is_fixed_day(d) && t <= self.fixed_midnight(d) {
                let free_weeks = (i64::from(self.next_override_from(d)) - i64::from(d)) / 7;
                let room = (i64::from(MAX_DAY) - i64::from(d)) / 7 + 1;
                let k = ((rem - 1) / self.week_secs).min(free_weeks).min(room);
                if k > 0 {
                    d += (7 * k) as i32;
                    rem -= k * self.week_secs;
                    t = self.fixed_midnight(d);
                    continue;
                }
            }
            let n = self.utc_intervals(d, &mut buf);
            for &(s, e) in &buf[..n] {
                if e <= t {
                    continue;
                }
                let from = s.max(t);
                let avail = e - from;
                if rem <= avail {
                    return to_timestamp(from + rem);
                }
                rem -= avail;
                t = e;
            }
            d += 1;
        }
    }

    /// Working seconds in `[from, to)`; 0 when `to <= from`.
    pub fn business_secs_between(&self, from: Timestamp, to: Timestamp) -> i64 {
        let (mut cur, end) = (from.as_second(), to.as_second());
        if end <= cur {
            return 0;
        }
        let mut d = self.local_day(cur);
        let last = self.local_day(end);
        let mut sum = 0;
        let mut buf = [(0i64, 0i64); MAX_INTERVALS_PER_DAY];
        while d <= last {
            if self.is_fixed_day(d) && cur <= self.fixed_midnight(d) {
                let free_weeks = (i64::from(self.next_override_from(d)) - i64::from(d)) / 7;
                let k = ((i64::from(last) - i64::from(d)) / 7).min(free_weeks);
                if k > 0 {
                    sum += k * self.week_secs;
                    d += (7 * k) as i32;
                    cur = self.fixed_midnight(d);
                    continue;
                }
            }
            let n = self.utc_intervals(d, &mut buf);
            for &(s, e) in &buf[..n] {
                let (s, e) = (s.max(cur), e.min(end));
                if e > s {
                    sum += e - s;
                    cur = e;
                }
            }
            d += 1;
        }
        sum
    }

    pub fn is_working_at(&self, t: Timestamp) -> bool {
        let t = t.as_second();
        let mut buf = [(0i64, 0i64); MAX_INTERVALS_PER_DAY];
        let n = self.utc_intervals(self.local_day(t), &mut buf);
        buf[..n].iter().any(|&(s, e)| s <= t && t < e)
    }

    fn lookup(&self, d: i32) -> Option<&Override> {
        match (self.override_days.first(), self.override_days.last()) {
            (Some(&lo), Some(&hi)) if (lo..=hi).contains(&d) => self
                .override_days
                .binary_search(&d)
                .ok()
                .map(|i| &self.overrides[i]),
            _ => None,
        }
    }

    /// The first override day at or after `d`, or `i32::MAX`.
    fn next_override_from(&self, d: i32) -> i32 {
        let i = self.override_days.partition_point(|&x| x < d);
        self.override_days.get(i).copied().unwrap_or(i32::MAX)
    }

    fn week_hours(&self, wd: usize) -> &[(i64, i64)] {
        let (s, e) = self.week[wd];
        &self.spans[s..e]
    }

    fn hours(&self, d: i32) -> &[(i64, i64)] {
        let own = self.week_hours(weekday_of(d));
        match self.lookup(d) {
            None => own,
            Some(o) if !o.working => &[],
            Some(_) if own.is_empty() => &self.spans[self.workday.0..self.workday.1],
            Some(_) => own,
        }
    }

    fn is_fixed_day(&self, d: i32) -> bool {
        self.fixed_midnight(d) >= self.fixed_since
    }

    fn fixed_midnight(&self, d: i32) -> i64 {
        i64::from(d) * DAY - self.fixed_offset
    }

    /// The local day (days since 1970-01-01) that contains UTC second `t`.
    fn local_day(&self, t: i64) -> i32 {
        if t >= self.fixed_since {
            return (t + self.fixed_offset).div_euclid(DAY) as i32;
        }
        let dt = self.tz.to_datetime(to_timestamp(t));
        day_number(dt.date()).clamp(MIN_DAY, MAX_DAY)
    }

    /// Local wall time `sec` (0..=86400) of day `d` as a UTC second; gaps and folds resolved
    /// the "compatible" way (later in a gap, earlier in a fold), as RFC 5545 does.
    fn civil_to_utc(&self, d: i32, sec: i64) -> i64 {
        let (d, sec) = if sec >= DAY {
            (d + 1, sec - DAY)
        } else {
            (d, sec)
        };
        let date = date_of(d.clamp(MIN_DAY, MAX_DAY));
        let dt = DateTime::from_parts(
            date,
            jiff::civil::time(
                (sec / 3600) as i8,
                (sec / 60 % 60) as i8,
                (sec % 60) as i8,
                0,
            ),
        );
        match self.tz.to_ambiguous_timestamp(dt).compatible() {
            Ok(ts) => ts.as_second(),
            Err(_) => i64::from(d) * DAY + sec,
        }
    }

    /// Day `d`'s working intervals as UTC seconds, in order and without overlaps (a DST change
    /// can push one interval into the next); returns how many were written.
    fn utc_intervals(&self, d: i32, out: &mut [(i64, i64); MAX_INTERVALS_PER_DAY]) -> usize {
        let hours = self.hours(d);
        if hours.is_empty() {
            return 0;
        }
        let base = if self.is_fixed_day(d) {
            Some(self.fixed_midnight(d))
        } else {
            let m0 = self.civil_to_utc(d, 0);
            (self.civil_to_utc(d + 1, 0) - m0 == DAY).then_some(m0)
        };
        if let Some(base) = base {
            for (slot, &(s, e)) in out.iter_mut().zip(hours) {
                *slot = (base + s, base + e);
            }
            return hours.len();
        }
        let mut n = 0;
        let mut prev_end = i64::MIN;
        for &(s, e) in hours {
            let s = self.civil_to_utc(d, s).max(prev_end);
            let e = self.civil_to_utc(d, e);
            if e > s {
                out[n] = (s, e);
                n += 1;
                prev_end = e;
            }
        }
        n
    }
}

/// From which UTC second the zone keeps one offset for good, and that offset. Zones with a
/// DST rule keep transitions until the end of time and get `i64::MAX`.
fn fixed_from(tz: &TimeZone) -> (i64, i64) {
    let Some(last) = tz.preceding(Timestamp::MAX).next() else {
        let offset = tz.to_offset(Timestamp::UNIX_EPOCH);
        return (i64::MIN, i64::from(offset.seconds()));
    };
    let at = last.timestamp();
    // A rule-based zone reports a transition near the end of jiff's range.
    if at.as_second() > 4_102_444_800 {
        return (i64::MAX, 0);
    }
    (at.as_second(), i64::from(last.offset().seconds()))
}

fn to_timestamp(s: i64) -> Timestamp {
    let s = s.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    Timestamp::from_second(s).unwrap_or(Timestamp::MAX)
}

/// Monday is 0; 1970-01-01 was a Thursday.
fn weekday_of(d: i32) -> usize {
    (i64::from(d) + 3).rem_euclid(7) as usize
}

/// Days since 1970-01-01 (H. Hinnant's civil calendar algorithm); cheaper than a jiff span.
pub(crate) fn day_number(date: Date) -> i32 {
    let (y, m, d) = (
        i32::from(date.year()),
        i32::from(date.month()),
        i32::from(date.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn date_of(z: i32) -> Date {
    let z = z.clamp(MIN_DAY, MAX_DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i32::from(m <= 2);
    jiff::civil::date(y as i16, m as i8, d as i8)
}

impl fmt::Display for DayReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DayReason::Workday => f.write_str("workday"),
            DayReason::Weekend => f.write_str("weekend"),
            DayReason::Holiday { name } => write!(f, "holiday: {name}"),
            DayReason::AdjustedWorkday { name } => write!(f, "adjusted workday: {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn at(s: &str) -> Timestamp {
        s.parse::<jiff::Zoned>().unwrap().timestamp()
    }

    const H: i64 = 3600;

    #[test]
    fn day_numbers_agree_with_jiff() {
        let epoch = date(1970, 1, 1);
        for d in (-800_000..800_000).step_by(997).chain(-1000..1000) {
            let ours = date_of(d);
            assert_eq!(ours, epoch.checked_add(jiff::Span::new().days(d)).unwrap());
            assert_eq!(day_number(ours), d);
            assert_eq!(
                Weekday::ALL[weekday_of(d)],
                Weekday::from_jiff(ours.weekday())
            );
        }
    }

    #[test]
    fn validation_names_the_field() {
        let field = |f: &dyn Fn(&mut CalendarSpec)| {
            let mut s = CalendarSpec::china_mainland_standard();
            f(&mut s);
            WorkingCalendar::from_spec(&s).unwrap_err().field
        };
        assert_eq!(field(&|s| s.time_zone = "Mars/Olympus".into()), "time_zone");
        assert_eq!(
            field(&|s| s.week[0].intervals[1].end = "12:00".into()),
            "week[0].intervals[1].end"
        );
        assert_eq!(
            field(&|s| s.week[2].intervals[0].start = "9:00".into()),
            "week[2].intervals[0].start"
        );
        assert_eq!(
            field(&|s| s.week[1].intervals[0].end = "24:30".into()),
            "week[1].intervals[0].end"
        );
        assert_eq!(
            field(&|s| s.week[0].intervals[1].start = "11:00".into()),
            "week[0].intervals[1]"
        );
        assert_eq!(
            field(&|s| s.week[4].weekday = Weekday::Monday),
            "week[4].weekday"
        );
        assert_eq!(
            field(&|s| s.week.iter_mut().for_each(|w| w.intervals.clear())),
            "week"
        );
        let day = |y, m, d| DatedDay {
            date: date(y, m, d),
            name: "x".into(),
        };
        assert_eq!(
            field(&|s| {
                s.holidays = vec![day(2025, 3, 3)];
                s.extra_workdays = vec![day(2025, 3, 8), day(2025, 3, 3)];
            }),
            "extra_workdays[1].date"
        );
        assert_eq!(
            field(&|s| s.holidays = vec![day(2025, 3, 3), day(2025, 3, 3)]),
            "holidays[1].date"
        );
        let e = WorkingCalendar::from_spec(&CalendarSpec {
            time_zone: "UTC".into(),
            ..CalendarSpec::always()
        });
        assert!(e.is_ok());
    }

    #[test]
    fn china_days_say_why() {
        let cal = WorkingCalendar::china_mainland_standard();
        let reason = |y, m, d| cal.day(date(y, m, d)).reason;
        assert_eq!(
            reason(2025, 10, 1),
            DayReason::Holiday {
                name: "国庆节、中秋节".into()
            }
        );
        assert_eq!(
            reason(2025, 9, 28),
            DayReason::AdjustedWorkday {
                name: "国庆节、中秋节".into()
            }
        );
        assert_eq!(reason(2025, 9, 27), DayReason::Weekend);
        assert_eq!(reason(2025, 9, 26), DayReason::Workday);
        // Local dates win over the base.
        let mut spec = CalendarSpec::china_mainland_standard();
        spec.extra_workdays.push(DatedDay {
            date: date(2025, 10, 2),
            name: "On call".into(),
        });
        spec.holidays.push(DatedDay {
            date: date(2025, 9, 28),
            name: "Offsite".into(),
        });
        let cal = WorkingCalendar::from_spec(&spec).unwrap();
        assert!(cal.day(date(2025, 10, 2)).working);
        assert!(!cal.day(date(2025, 9, 28)).working);
        assert_eq!(
            cal.days(date(2025, 9, 27), date(2025, 10, 3))
                .filter(|d| d.working)
                .count(),
            3
        );
    }

    #[test]
    fn due_instants_walk_over_gaps_and_holidays() {
        let cal = WorkingCalendar::china_mainland_standard();
        let sh = |s: &str| at(&format!("{s}[Asia/Shanghai]"));
        // Lunch break.
        assert_eq!(
            cal.add_business(sh("2025-06-05T11:00"), 2 * H),
            sh("2025-06-05T14:00")
        );
        // Exactly to the end of the day, not the start of the next.
        assert_eq!(
            cal.add_business(sh("2025-06-05T09:00"), 8 * H),
            sh("2025-06-05T18:00")
        );
        // Starting at night waits for the morning.
        assert_eq!(
            cal.add_business(sh("2025-06-05T22:00"), 60),
            sh("2025-06-06T09:01")
        );
        assert_eq!(
            cal.add_business(sh("2025-06-05T22:00"), 0),
            sh("2025-06-05T22:00")
        );
        assert_eq!(
            cal.add_business(sh("2025-06-05T22:00"), -5),
            sh("2025-06-05T22:00")
        );
        // Over the 2025 Spring Festival: 8 days off, then Saturday Feb 8 is worked.
        assert_eq!(
            cal.add_business(sh("2025-01-27T17:00"), 2 * H),
            sh("2025-02-05T10:00")
        );
        assert_eq!(
            cal.business_secs_between(sh("2025-01-27T00:00"), sh("2025-02-10T00:00")),
            5 * 8 * H
        );
        assert!(cal.is_working_at(sh("2025-02-08T10:00")));
        assert!(!cal.is_working_at(sh("2025-02-09T10:00")));
        // A year of business time skips whole weeks and still lands right: 261 weekdays,
        // 18 of them off, 5 weekend days worked.
        let year = cal.business_secs_between(sh("2025-01-01T00:00"), sh("2026-01-01T00:00"));
        assert_eq!(year, 248 * 8 * H);
        assert_eq!(
            cal.add_business(sh("2025-01-01T00:00"), year),
            sh("2025-12-31T18:00")
        );
        assert_eq!(
            cal.add_business(sh("2025-01-01T00:00"), i64::MAX),
            Timestamp::MAX
        );
    }

    #[test]
    fn always_is_every_second() {
        let cal = WorkingCalendar::always();
        let t = at("2025-03-30T00:30Z[UTC]");
        assert_eq!(
            cal.add_business(t, 10 * 86_400),
            at("2025-04-09T00:30Z[UTC]")
        );
        assert_eq!(
            cal.business_secs_between(t, at("2025-04-09T00:30Z[UTC]")),
            10 * 86_400
        );
        assert_eq!(cal.day(date(2025, 12, 25)).reason, DayReason::Workday);
    }

    #[test]
    fn dst_days_in_new_york() {
        let spec = CalendarSpec {
            time_zone: "America/New_York".into(),
            week: Weekday::ALL
                .iter()
                .map(|&weekday| WeekdayHours {
                    weekday,
                    intervals: vec![
                        Interval::new("01:00", "02:30"),
                        Interval::new("02:30", "03:30"),
                    ],
                })
                .collect(),
            holidays: vec![],
            extra_workdays: vec![],
            base: None,
        };
        let cal = WorkingCalendar::from_spec(&spec).unwrap();
        let ny = |s: &str| at(&format!("{s}[America/New_York]"));
        // 2025-03-09: 02:00 → 03:00. 01:00 EST..03:30 EDT is 1.5 real hours.
        let day = cal.business_secs_between(ny("2025-03-09T00:00"), ny("2025-03-10T00:00"));
        assert_eq!(day, 3 * H / 2);
        // 2025-11-02: 01:00–02:00 happens twice; the earlier 01:00 starts the day's work, so
        // 01:00 EDT..03:30 EST is 3.5 real hours.
        let day = cal.business_secs_between(ny("2025-11-02T00:00"), ny("2025-11-03T00:00"));
        assert_eq!(day, 3 * H + H / 2);
        let start = ny("2025-03-08T03:00");
        for secs in (0..6 * H).step_by(601) {
            let due = cal.add_business(start, secs);
            assert_eq!(cal.business_secs_between(start, due), secs);
        }
    }

    fn zone() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "Asia/Shanghai",
            "America/New_York",
            "Europe/London",
            "UTC",
        ])
    }

    /// Random weekly hours on a quarter-hour grid; Monday always works so the spec is valid.
    fn week() -> impl Strategy<Value = Vec<WeekdayHours>> {
        prop::collection::vec(prop::collection::btree_set(0u16..=96, 0..7), 7).prop_map(|days| {
            let hhmm = |q: u16| format!("{:02}:{:02}", q / 4, q % 4 * 15);
            days.into_iter()
                .enumerate()
                .map(|(i, points)| {
                    let mut p: Vec<u16> = points.into_iter().collect();
                    if i == 0 && p.len() < 2 {
                        p = vec![36, 72];
                    }
                    WeekdayHours {
                        weekday: Weekday::ALL[i],
                        intervals: p
                            .chunks_exact(2)
                            .map(|c| Interval::new(&hhmm(c[0]), &hhmm(c[1])))
                            .collect(),
                    }
                })
                .collect()
        })
    }

    fn calendar() -> impl Strategy<Value = WorkingCalendar> {
        (
            zone(),
            week(),
            prop::collection::btree_set(19_723i32..20_819, 0..6),
            prop::collection::btree_set(19_723i32..20_819, 0..6),
            any::<bool>(),
        )
            .prop_map(|(tz, week, hol, extra, china)| {
                let dd = |d: i32, name: &str| DatedDay {
                    date: date_of(d),
                    name: name.into(),
                };
                let spec = CalendarSpec {
                    time_zone: tz.into(),
                    week,
                    holidays: hol.iter().map(|&d| dd(d, "holiday")).collect(),
                    extra_workdays: extra.difference(&hol).map(|&d| dd(d, "extra")).collect(),
                    base: china.then_some(BaseCalendar::ChinaMainland),
                };
                WorkingCalendar::from_spec(&spec).unwrap()
            })
    }

    /// 2024-01-01 .. 2027-01-01 UTC.
    fn instant() -> impl Strategy<Value = Timestamp> {
        (1_704_067_200i64..1_798_761_600).prop_map(|s| Timestamp::from_second(s).unwrap())
    }

    fn local_midnight(cal: &WorkingCalendar, d: Date) -> Timestamp {
        d.to_zoned(cal.time_zone().clone()).unwrap().timestamp()
    }

    fn is_plain_day(cal: &WorkingCalendar, d: Date) -> bool {
        let a = local_midnight(cal, d);
        let b = local_midnight(cal, d.tomorrow().unwrap());
        b.as_second() - a.as_second() == DAY
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn add_and_between_are_inverse(cal in calendar(), start in instant(), secs in 0i64..30 * 86_400) {
            let due = cal.add_business(start, secs);
            prop_assert_eq!(cal.business_secs_between(start, due), secs);
            if secs > 0 {
                let last = Timestamp::from_second(due.as_second() - 1).unwrap();
                prop_assert!(cal.is_working_at(last), "{} is not working time", last);
                let local = last.to_zoned(cal.time_zone().clone());
                if is_plain_day(&cal, local.date()) {
                    let sec = i64::from(local.hour()) * 3600 + i64::from(local.minute()) * 60 + i64::from(local.second());
                    let d = day_number(local.date());
                    prop_assert!(cal.hours(d).iter().any(|&(s, e)| s <= sec && sec < e),
                        "{} is outside the configured hours", local);
                }
            }
        }

        #[test]
        fn add_business_is_monotone(cal in calendar(), start in instant(), a in 0i64..20 * 86_400, b in 0i64..20 * 86_400) {
            let (a, b) = (a.min(b), a.max(b));
            prop_assert!(cal.add_business(start, a) <= cal.add_business(start, b));
            prop_assert!(cal.add_business(start, a) >= start);
        }

        #[test]
        fn dated_days_are_honoured(cal in calendar()) {
            for dd in &cal.spec().holidays {
                let (a, b) = (local_midnight(&cal, dd.date), local_midnight(&cal, dd.date.tomorrow().unwrap()));
                prop_assert_eq!(cal.business_secs_between(a, b), 0);
                prop_assert!(!cal.day(dd.date).working);
            }
            for dd in &cal.spec().extra_workdays {
                let (a, b) = (local_midnight(&cal, dd.date), local_midnight(&cal, dd.date.tomorrow().unwrap()));
                prop_assert!(cal.day(dd.date).working);
                if is_plain_day(&cal, dd.date) {
                    prop_assert!(cal.business_secs_between(a, b) > 0);
                }
            }
        }

        #[test]
        fn between_is_additive(cal in calendar(), a in instant(), b in instant(), c in instant()) {
            let mut v = [a, b, c];
            v.sort();
            prop_assert_eq!(
                cal.business_secs_between(v[0], v[2]),
                cal.business_secs_between(v[0], v[1]) + cal.business_secs_between(v[1], v[2])
            );
        }
    }
}
