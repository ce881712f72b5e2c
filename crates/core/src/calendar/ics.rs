//! iCalendar (RFC 5545) export and import of a calendar's dated days, so holidays can be
//! subscribed to in a mail client or loaded from a published feed such as holiday-cn's.
//!
//! Only the narrow subset this needs: all-day VEVENTs. Written by hand because a full
//! iCalendar crate would be most of the code for none of the benefit.

use super::{DatedDay, DayReason, WorkingCalendar};
use jiff::civil::Date;

/// A file that could not be read; `line` is the 1-based physical line where the trouble is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct IcsError {
    pub line: usize,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> IcsError {
    IcsError {
        line,
        message: message.into(),
    }
}

/// Dated days read from a file, each list sorted by date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub holidays: Vec<DatedDay>,
    pub extra_workdays: Vec<DatedDay>,
}

/// The holidays and adjusted working days of `cal` from `from` through `to`, one VEVENT per
/// run of consecutive days with the same kind and name. UIDs derive from the first date and
/// the kind, so re-exporting updates events in a subscriber instead of duplicating them.
pub fn export(cal: &WorkingCalendar, from: Date, to: Date) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//Steward//Business calendar//EN");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    line(
        &mut out,
        &format!("X-WR-TIMEZONE:{}", escape(&cal.spec().time_zone)),
    );

    let mut run: Option<(Date, Date, bool, String)> = None;
    for day in cal.days(from, to) {
        let this = match day.reason {
            DayReason::Holiday { name } => Some((false, name)),
            DayReason::AdjustedWorkday { name } => Some((true, name)),
            _ => None,
        };
        match (&mut run, this) {
            (Some((_, last, w, n)), Some((tw, tn)))
                if *w == tw && *n == tn && last.tomorrow().ok() == Some(day.date) =>
            {
                *last = day.date;
            }
            (_, this) => {
                if let Some(r) = run.take() {
                    event(&mut out, &r);
                }
                run = this.map(|(w, n)| (day.date, day.date, w, n));
            }
        }
    }
    if let Some(r) = run.take() {
        event(&mut out, &r);
    }
    line(&mut out, "END:VCALENDAR");
    out
}

fn event(out: &mut String, (first, last, working, name): &(Date, Date, bool, String)) {
    let (kind, category) = if *working {
        ("workday", "WORKDAY")
    } else {
        ("holiday", "HOLIDAY")
    };
    let end = last.tomorrow().unwrap_or(*last);
    line(out, "BEGIN:VEVENT");
    line(out, &format!("UID:{}-{kind}@steward", ymd(*first)));
    line(out, &format!("DTSTAMP:{}T000000Z", ymd(*first)));
    line(out, &format!("DTSTART;VALUE=DATE:{}", ymd(*first)));
    line(out, &format!("DTEND;VALUE=DATE:{}", ymd(end)));
    line(out, &format!("SUMMARY:{}", escape(name)));
    line(out, &format!("CATEGORIES:{category}"));
    line(out, &format!("X-STEWARD-KIND:{kind}"));
    line(out, "TRANSP:TRANSPARENT");
    line(out, "END:VEVENT");
}

fn ymd(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month(), d.day())
}

/// Appends one content line, folded at 75 octets without splitting a UTF-8 character.
fn line(out: &mut String, content: &str) {
    let mut budget = 75;
    let mut used = 0;
    for ch in content.chars() {
        if used + ch.len_utf8() > budget {
            out.push_str("\r\n ");
            budget = 74;
            used = 0;
        }
        out.push(ch);
        used += ch.len_utf8();
    }
    out.push_str("\r\n");
}

fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' => s.push_str("\\\\"),
            ';' => s.push_str("\\;"),
            ',' => s.push_str("\\,"),
            '\n' => s.push_str("\\n"),
            '\r' => {}
            c => s.push(c),
        }
    }
    s
}

fn unescape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            s.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => s.push('\n'),
            Some(o) => s.push(o),
            None => s.push('\\'),
        }
    }
    s
}

struct Prop<'a> {
    line: usize,
    name: String,
    params: Vec<(String, String)>,
    value: &'a str,
}

fn parse_prop(line: usize, text: &str) -> Result<Prop<'_>, IcsError> {
    let bad = || {
        err(
            line,
            format!("not an iCalendar content line: {:?}", truncate(text)),
        )
    };
    let name_end = text.find([';', ':']).ok_or_else(bad)?;
    let name = &text[..name_end];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(bad());
    }
    let mut params = Vec::new();
    let mut rest = &text[name_end..];
    while let Some(r) = rest.strip_prefix(';') {
        let eq = r.find('=').ok_or_else(bad)?;
        let key = r[..eq].to_ascii_uppercase();
        let mut r = &r[eq + 1..];
        let value;
        if let Some(q) = r.strip_prefix('"') {
            let close = q.find('"').ok_or_else(bad)?;
            value = q[..close].to_string();
            r = &q[close + 1..];
        } else {
            let stop = r.find([';', ':']).ok_or_else(bad)?;
            value = r[..stop].to_string();
            r = &r[stop..];
        }
        params.push((key, value));
        rest = r;
    }
    let value = rest.strip_prefix(':').ok_or_else(bad)?;
    Ok(Prop {
        line,
        name: name.to_ascii_uppercase(),
        params,
        value,
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[derive(Default)]
struct Event<'a> {
    line: usize,
    start: Option<Prop<'a>>,
    end: Option<Prop<'a>>,
    duration: Option<Prop<'a>>,
    summary: String,
    categories: Vec<String>,
    kind: Option<String>,
}

/// Reads a VCALENDAR's all-day events. An event is an extra working day when its SUMMARY
/// mentions 班 or "work", its CATEGORIES include WORKDAY, or `X-STEWARD-KIND:workday` says
/// so (that property wins either way); anything else is a holiday. Multi-day events become
/// one [`DatedDay`] per date; folded lines and unknown properties and components are fine.
pub fn import(text: &str) -> Result<Imported, IcsError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(more) = raw.strip_prefix([' ', '\t']) {
            let (_, last) = lines
                .last_mut()
                .ok_or_else(|| err(i + 1, "a continuation line with nothing to continue"))?;
            last.push_str(more);
        } else if !raw.trim().is_empty() {
            lines.push((i + 1, raw.to_string()));
        }
    }
    let Some((first_line, first)) = lines.first() else {
        return Err(err(1, "the file is empty"));
    };
    if !first.eq_ignore_ascii_case("BEGIN:VCALENDAR") {
        return Err(err(
            *first_line,
            "an iCalendar file starts with BEGIN:VCALENDAR",
        ));
    }

    let mut stack: Vec<String> = Vec::new();
    let mut event: Option<Event> = None;
    let mut out = Imported::default();
    let mut kinds = std::collections::HashMap::new();
    let mut last_line = 1;
    for (n, text) in &lines {
        last_line = *n;
        let p = parse_prop(*n, text)?;
        match p.name.as_str() {
            "BEGIN" => {
                let comp = p.value.trim().to_ascii_uppercase();
                if comp == "VEVENT" && stack.last().map(String::as_str) == Some("VCALENDAR") {
                    event = Some(Event {
                        line: *n,
                        ..Event::default()
                    });
                }
                stack.push(comp);
            }
            "END" => {
                let comp = p.value.trim().to_ascii_uppercase();
                if stack.pop().as_deref() != Some(comp.as_str()) {
                    return Err(err(*n, format!("END:{comp} does not close an open {comp}")));
                }
                if comp == "VEVENT" {
                    if let Some(ev) = event.take() {
                        add_event(ev, &mut out, &mut kinds)?;
                    }
                }
                if stack.is_empty() {
                    break;
                }
            }
            _ if stack.last().map(String::as_str) == Some("VEVENT") => {
                if let Some(ev) = event.as_mut() {
                    match p.name.as_str() {
                        "DTSTART" => ev.start = Some(p),
                        "DTEND" => ev.end = Some(p),
                        "DURATION" => ev.duration = Some(p),
                        "SUMMARY" => ev.summary = unescape(p.value).trim().to_string(),
                        "CATEGORIES" => ev
                            .categories
                            .extend(p.value.split(',').map(|c| c.trim().to_ascii_uppercase())),
                        "X-STEWARD-KIND" => ev.kind = Some(p.value.trim().to_ascii_lowercase()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(err(last_line, format!("{open} is never closed")));
    }
    out.holidays.sort_by_key(|d| d.date);
    out.extra_workdays.sort_by_key(|d| d.date);
    Ok(out)
}

fn add_event(
    ev: Event<'_>,
    out: &mut Imported,
    kinds: &mut std::collections::HashMap<Date, bool>,
) -> Result<(), IcsError> {
    let start = ev
        .start
        .as_ref()
        .ok_or_else(|| err(ev.line, "an event without DTSTART"))?;
    let first = all_day(start)?;
    let end = match (&ev.end, &ev.duration) {
        (Some(p), _) => {
            let end = all_day(p)?;
            if end <= first {
                return Err(err(p.line, "DTEND must be after DTSTART"));
            }
            end
        }
        (None, Some(p)) => {
            let days = duration_days(p)?;
            first
                .checked_add(jiff::Span::new().days(days))
                .map_err(|_| err(p.line, "the duration runs out of range"))?
        }
        (None, None) => first
            .tomorrow()
            .map_err(|_| err(start.line, "date out of range"))?,
    };
    let days = first
        .until(end)
        .map_err(|_| err(start.line, "date out of range"))?
        .get_days();
    if days > 366 {
        return Err(err(
            start.line,
            "an event longer than a year is not a holiday",
        ));
    }
    let working = match ev.kind.as_deref() {
        Some("workday") => true,
        Some("holiday") => false,
        _ => {
            ev.summary.contains('班')
                || ev.summary.to_lowercase().contains("work")
                || ev.categories.iter().any(|c| c == "WORKDAY")
        }
    };
    let name = clean_name(&ev.summary);
    let list = if working {
        &mut out.extra_workdays
    } else {
        &mut out.holidays
    };
    for date in first
        .series(jiff::Span::new().days(1))
        .take_while(|d| *d < end)
    {
        match kinds.insert(date, working) {
            None => list.push(DatedDay {
                date,
                name: name.clone(),
            }),
            Some(w) if w == working => {}
            Some(_) => {
                return Err(err(
                    ev.line,
                    format!("{date} is both a holiday and a working day"),
                ))
            }
        }
    }
    Ok(())
}

fn all_day(p: &Prop<'_>) -> Result<Date, IcsError> {
    let v = p.value.trim();
    let is_date = p
        .params
        .iter()
        .any(|(k, v)| k == "VALUE" && v.eq_ignore_ascii_case("DATE"));
    if v.len() != 8 || !v.bytes().all(|b| b.is_ascii_digit()) {
        let message = if !is_date && v.contains('T') {
            format!(
                "{} is a date-time; only all-day events are supported",
                p.name
            )
        } else {
            format!("{} {:?} is not a date YYYYMMDD", p.name, truncate(v))
        };
        return Err(err(p.line, message));
    }
    let num = |r: std::ops::Range<usize>| v[r].parse::<i16>().unwrap_or(0);
    Date::new(num(0..4), num(4..6) as i8, num(6..8) as i8)
        .map_err(|_| err(p.line, format!("{v} is not a calendar date")))
}

/// `P<n>D` or `P<n>W`: all an all-day event needs.
fn duration_days(p: &Prop<'_>) -> Result<i64, IcsError> {
    let v = p.value.trim();
    let bad = || err(p.line, format!("unsupported duration {:?}", truncate(v)));
    let body = v.strip_prefix('P').ok_or_else(bad)?;
    let (n, mult) = match body.as_bytes().last() {
        Some(b'D') => (&body[..body.len() - 1], 1),
        Some(b'W') => (&body[..body.len() - 1], 7),
        _ => return Err(bad()),
    };
    let days = n
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|d| (1..=366).contains(d))
        .ok_or_else(bad)?;
    Ok(days)
}

/// "春节 假期" and "春节 补班" become "春节"; holiday-cn's older "上班(补春节假期)" too.
fn clean_name(summary: &str) -> String {
    let mut s = summary.trim();
    for (open, close) in [("上班(补", "假期)"), ("上班（补", "假期）")] {
        if let Some(inner) = s.strip_prefix(open).and_then(|r| r.strip_suffix(close)) {
            s = inner.trim();
        }
    }
    for suffix in ["假期", "补班", "放假", "调休", "上班"] {
        if let Some(r) = s.strip_suffix(suffix) {
            if !r.trim().is_empty() {
                s = r.trim();
            }
        }
    }
    if s.is_empty() {
        "holiday".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{CalendarSpec, WorkingCalendar};
    use jiff::civil::date;

    #[test]
    fn export_then_import_round_trips() {
        let mut spec = CalendarSpec::china_mainland_standard();
        spec.holidays.push(DatedDay {
            date: date(2025, 12, 24),
            name: "Team day; offsite, \\ and more\nsecond line — a long name that needs folding"
                .into(),
        });
        let cal = WorkingCalendar::from_spec(&spec).unwrap();
        let text = export(&cal, date(2025, 1, 1), date(2025, 12, 31));
        assert!(text.contains("DTSTART;VALUE=DATE:20251001\r\nDTEND;VALUE=DATE:20251009\r\n"));
        assert!(text.lines().all(|l| l.len() <= 75), "folded at 75 octets");
        assert!(text.split("\r\n").all(|l| !l.contains('\n')));
        let back = import(&text).unwrap();
        let expect = |working: bool| -> Vec<DatedDay> {
            cal.days(date(2025, 1, 1), date(2025, 12, 31))
                .filter_map(|d| match d.reason {
                    DayReason::Holiday { name } if !working => {
                        Some(DatedDay { date: d.date, name })
                    }
                    DayReason::AdjustedWorkday { name } if working => {
                        Some(DatedDay { date: d.date, name })
                    }
                    _ => None,
                })
                .collect()
        };
        assert_eq!(back.holidays, expect(false));
        assert_eq!(back.extra_workdays, expect(true));
        assert_eq!(back.extra_workdays.len(), 5);
    }

    #[test]
    fn reads_a_holiday_cn_style_feed() {
        let text = "BEGIN:VCALENDAR\nVERSION:2.0\nX-WR-CALDESC:中国法定节假日数据，自动每日抓取国务院公\n 告。\n\
            BEGIN:VTIMEZONE\nTZID:Asia/Shanghai\nBEGIN:STANDARD\nDTSTART:19700101T000000\n\
            TZOFFSETFROM:+0800\nTZOFFSETTO:+0800\nEND:STANDARD\nEND:VTIMEZONE\n\
            BEGIN:VEVENT\nSUMMARY:春节 补班\nDTSTART;VALUE=DATE:20250126\nDTEND;VALUE=DATE:20250127\n\
            UID:a\nEND:VEVENT\n\
            BEGIN:VEVENT\nSUMMARY:春节 假期\nDTSTART;VALUE=DATE:20250128\nDTEND;VALUE=DATE:2025\n 0205\n\
            UID:b\nX-UNKNOWN;FOO=\"a:b\":whatever\nEND:VEVENT\n\
            BEGIN:VEVENT\nSUMMARY:上班(补国庆节、中秋节假期)\nDTSTART;VALUE=DATE:20250928\nEND:VEVENT\n\
            BEGIN:VEVENT\nSUMMARY:Founders' day\nDTSTART:20250301\nDURATION:P2D\nEND:VEVENT\n\
            END:VCALENDAR\n";
        let got = import(text).unwrap();
        let dates = |v: &[DatedDay]| v.iter().map(|d| d.date.to_string()).collect::<Vec<_>>();
        assert_eq!(dates(&got.extra_workdays), ["2025-01-26", "2025-09-28"]);
        assert_eq!(got.extra_workdays[0].name, "春节");
        assert_eq!(got.extra_workdays[1].name, "国庆节、中秋节");
        let h = dates(&got.holidays);
        assert_eq!(h.len(), 8 + 2);
        assert_eq!(h[0], "2025-01-28");
        assert_eq!(h[7], "2025-02-04");
        assert_eq!(got.holidays[0].name, "春节");
        assert_eq!(got.holidays[8].name, "Founders' day");
    }

    #[test]
    fn garbage_is_refused_with_its_line() {
        assert_eq!(import("hello").unwrap_err().line, 1);
        let e = import("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nthis is not a line\r\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e = import(
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20250101T090000Z\nEND:VEVENT\nEND:VCALENDAR\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("all-day"));
        let e = import("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20250230\nEND:VEVENT\nEND:VCALENDAR\n")
            .unwrap_err();
        assert_eq!(e.line, 3);
        let e = import("BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT\nEND:VCALENDAR\n")
            .unwrap_err();
        assert_eq!(e.line, 2);
        let e = import("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20250101\n").unwrap_err();
        assert!(e.message.contains("never closed"));
    }

    #[test]
    fn huge_durations_are_refused_not_overflowed() {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261001\r\nDURATION:P2000000000000000000W\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert!(import(text).is_err());
    }
}
