//! Change enablement rules: change types and their lifecycles, the risk questionnaire and
//! matrix, the CAB quorum rule, calendar conflict detection and iCalendar text. See
//! docs/adr/010-change-approval.md for the decisions.

use crate::ticket::string_enum;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    /// Pre-approved from a template: submitting it approves it, no CAB.
    Standard,
    /// Assessed by the change manager, then decided by the CAB.
    Normal,
    /// Decided by the emergency CAB straight after submission; always reviewed afterwards.
    Emergency,
}
string_enum!(ChangeType {
    Standard => "standard",
    Normal => "normal",
    Emergency => "emergency",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    Draft,
    Submitted,
    Assessed,
    Approved,
    Rejected,
    Scheduled,
    Implementing,
    Implemented,
    Failed,
    BackedOut,
    Reviewed,
    Closed,
    /// Withdrawn before implementation started; final.
    Cancelled,
}
string_enum!(ChangeStatus {
    Draft => "draft",
    Submitted => "submitted",
    Assessed => "assessed",
    Approved => "approved",
    Rejected => "rejected",
    Scheduled => "scheduled",
    Implementing => "implementing",
    Implemented => "implemented",
    Failed => "failed",
    BackedOut => "backed_out",
    Reviewed => "reviewed",
    Closed => "closed",
    Cancelled => "cancelled",
});

impl ChangeStatus {
    /// Where a change of this type may go from here by a manager's or raiser's action. CAB
    /// decisions (to approved / rejected) are not actions; they follow from the votes.
    pub fn next(self, t: ChangeType, review_required: bool) -> &'static [ChangeStatus] {
        use ChangeStatus::*;
        // Until implementation starts a change can be withdrawn (cancelled); after that its
        // outcome is recorded instead.
        match (self, t) {
            (Draft, ChangeType::Standard) => &[Approved, Cancelled],
            (Draft, _) => &[Submitted, Cancelled],
            (Submitted, ChangeType::Normal) => &[Assessed, Cancelled],
            (Submitted | Assessed, _) => &[Cancelled],
            (Approved, _) => &[Scheduled, Cancelled],
            // Scheduling a scheduled change again moves its window.
            (Scheduled, _) => &[Implementing, Scheduled, Cancelled],
            (Implementing, _) => &[Implemented, Failed, BackedOut],
            (Implemented, _) if review_required => &[Reviewed],
            (Implemented, _) => &[Reviewed, Closed],
            (Failed | BackedOut, _) => &[Reviewed],
            (Reviewed | Rejected, _) => &[Closed],
            _ => &[],
        }
    }

    /// Whether the CAB (or ECAB) votes on a change of this type in this status.
    pub fn open_for_votes(self, t: ChangeType) -> bool {
        matches!(
            (self, t),
            (ChangeStatus::Assessed, ChangeType::Normal)
                | (ChangeStatus::Submitted, ChangeType::Emergency)
        )
    }

    /// Whether the change shows on the calendar when it has a window.
    pub fn on_calendar(self) -> bool {
        !matches!(
            self,
            ChangeStatus::Draft | ChangeStatus::Rejected | ChangeStatus::Cancelled
        )
    }

    /// Confirmed on the calendar (scheduled or later) rather than tentative.
    pub fn confirmed(self) -> bool {
        matches!(
            self,
            ChangeStatus::Scheduled
                | ChangeStatus::Implementing
                | ChangeStatus::Implemented
                | ChangeStatus::Failed
                | ChangeStatus::BackedOut
                | ChangeStatus::Reviewed
                | ChangeStatus::Closed
        )
    }
}

/// Whether a post-implementation review is needed before closing: failed, backed-out and
/// emergency changes.
pub fn review_required(t: ChangeType, outcome: ChangeStatus) -> bool {
    t == ChangeType::Emergency || matches!(outcome, ChangeStatus::Failed | ChangeStatus::BackedOut)
}

// --- risk ---

/// One question of the risk questionnaire; each answer adds its weight to the likelihood or
/// to the impact. Labels are Fluent keys `change-q-{key}` and `change-q-{key}-{answer}`.
pub struct RiskQuestion {
    pub key: &'static str,
    /// True: the answer adds to the likelihood; false: to the impact.
    pub likelihood: bool,
    pub answers: &'static [(&'static str, u8)],
}

pub const RISK_QUESTIONS: &[RiskQuestion] = &[
    RiskQuestion {
        key: "done_before",
        likelihood: true,
        answers: &[("often", 0), ("once", 1), ("never", 2)],
    },
    RiskQuestion {
        key: "tested",
        likelihood: true,
        answers: &[("fully", 0), ("partly", 1), ("not", 2)],
    },
    RiskQuestion {
        key: "complexity",
        likelihood: true,
        answers: &[("simple", 0), ("moderate", 1), ("complex", 2)],
    },
    RiskQuestion {
        key: "users",
        likelihood: false,
        answers: &[("few", 0), ("department", 1), ("everyone", 2)],
    },
    RiskQuestion {
        key: "outage",
        likelihood: false,
        answers: &[("none", 0), ("short", 1), ("long", 2)],
    },
    RiskQuestion {
        key: "backout",
        likelihood: false,
        answers: &[("easy", 0), ("hard", 1), ("impossible", 2)],
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}
string_enum!(Risk {
    Low => "low",
    Medium => "medium",
    High => "high",
});

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskScore {
    pub likelihood: u8,
    pub impact: u8,
    pub risk: Risk,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RiskError {
    /// A question was not answered.
    Missing(&'static str),
    /// An unknown question, or an answer the question does not offer.
    Unknown(String),
}

impl fmt::Display for RiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RiskError::Missing(q) => write!(f, "{q} is not answered"),
            RiskError::Unknown(q) => write!(f, "{q} is not a question or answer of the form"),
        }
    }
}

/// The risk matrix: likelihood × impact (1..=5 each) → low (≤ 4), medium (≤ 12), high.
pub fn matrix(likelihood: u8, impact: u8) -> Risk {
    match u16::from(likelihood.clamp(1, 5)) * u16::from(impact.clamp(1, 5)) {
        0..=4 => Risk::Low,
        5..=12 => Risk::Medium,
        _ => Risk::High,
    }
}

/// Scores a completed questionnaire: likelihood and impact are 1 plus their answers'
/// weights, at most 5.
pub fn assess(answers: &BTreeMap<String, String>) -> Result<RiskScore, RiskError> {
    for k in answers.keys() {
        if !RISK_QUESTIONS.iter().any(|q| q.key == k) {
            return Err(RiskError::Unknown(k.clone()));
        }
    }
    let (mut l, mut i) = (1u8, 1u8);
    for q in RISK_QUESTIONS {
        let a = answers.get(q.key).ok_or(RiskError::Missing(q.key))?;
        let w = q
            .answers
            .iter()
            .find(|(name, _)| name == a)
            .map(|(_, w)| *w)
            .ok_or_else(|| RiskError::Unknown(format!("{}={a}", q.key)))?;
        if q.likelihood {
            l += w;
        } else {
            i += w;
        }
    }
    let (likelihood, impact) = (l.min(5), i.min(5));
    Ok(RiskScore {
        likelihood,
        impact,
        risk: matrix(likelihood, impact),
    })
}

// --- CAB ---

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Rejected,
    /// Not decided yet: fewer approvals than the quorum and no rejection.
    Pending,
}

/// The quorum rule: any rejection rejects; otherwise approved once approvals reach the quorum.
pub fn decide(approvals: usize, rejections: usize, quorum: usize) -> Decision {
    if rejections > 0 {
        Decision::Rejected
    } else if approvals >= quorum.max(1) {
        Decision::Approved
    } else {
        Decision::Pending
    }
}

// --- calendar conflicts ---

/// A change on the calendar: its window [start, end) and what it touches.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub change_id: i64,
    pub start: i64,
    pub end: i64,
    pub cis: Vec<i64>,
    pub services: Vec<i64>,
}

/// A freeze (blackout) period [start, end): for one service, or for all when `service` is None.
#[derive(Debug, Clone, PartialEq)]
pub struct Freeze {
    pub freeze_id: i64,
    pub start: i64,
    pub end: i64,
    pub service: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Conflict {
    /// Two changes touch the same CIs or services in overlapping windows (a < b).
    Overlap {
        a: i64,
        b: i64,
        cis: Vec<i64>,
        services: Vec<i64>,
    },
    /// A change falls into a freeze period.
    InFreeze { change_id: i64, freeze_id: i64 },
}

impl Conflict {
    pub fn involves(&self, change_id: i64) -> bool {
        match self {
            Conflict::Overlap { a, b, .. } => *a == change_id || *b == change_id,
            Conflict::InFreeze { change_id: c, .. } => *c == change_id,
        }
    }
}

fn overlaps(a0: i64, a1: i64, b0: i64, b1: i64) -> bool {
    a0 < b1 && b0 < a1
}

fn shared(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut v: Vec<i64> = a.iter().filter(|x| b.contains(x)).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Every conflict among the windows and against the freezes, sorted. Sweeps the windows in
/// start order so that only overlapping pairs are compared.
pub fn conflicts(windows: &[Window], freezes: &[Freeze]) -> Vec<Conflict> {
    let mut out = Vec::new();
    let mut order: Vec<&Window> = windows.iter().filter(|w| w.start < w.end).collect();
    order.sort_by_key(|w| (w.start, w.change_id));
    for (i, w) in order.iter().enumerate() {
        for other in &order[i + 1..] {
            if other.start >= w.end {
                break;
            }
            let cis = shared(&w.cis, &other.cis);
            let services = shared(&w.services, &other.services);
            if !cis.is_empty() || !services.is_empty() {
                out.push(Conflict::Overlap {
                    a: w.change_id.min(other.change_id),
                    b: w.change_id.max(other.change_id),
                    cis,
                    services,
                });
            }
        }
        for f in freezes {
            let applies = f.service.is_none_or(|s| w.services.contains(&s));
            if applies && overlaps(w.start, w.end, f.start, f.end) {
                out.push(Conflict::InFreeze {
                    change_id: w.change_id,
                    freeze_id: f.freeze_id,
                });
            }
        }
    }
    out.sort();
    out
}

// --- iCalendar text (RFC 5545) ---

/// Escapes a TEXT value: backslash, semicolon, comma and newlines.
pub fn ical_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// One content line folded at 75 octets (never inside a UTF-8 character), ending in CRLF.
pub fn ical_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

/// A UTC date-time value, e.g. 20261125T080000Z.
pub fn ical_time(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lifecycle_per_type() {
        use ChangeStatus::*;
        assert_eq!(
            Draft.next(ChangeType::Standard, false),
            &[Approved, Cancelled]
        );
        assert_eq!(
            Draft.next(ChangeType::Normal, false),
            &[Submitted, Cancelled]
        );
        assert_eq!(
            Submitted.next(ChangeType::Normal, false),
            &[Assessed, Cancelled]
        );
        // Waiting for the (E)CAB: only withdrawal is an action; the votes decide the rest.
        assert_eq!(Submitted.next(ChangeType::Emergency, true), &[Cancelled]);
        assert_eq!(Assessed.next(ChangeType::Normal, false), &[Cancelled]);
        assert_eq!(
            Scheduled.next(ChangeType::Normal, false),
            &[Implementing, Scheduled, Cancelled]
        );
        assert!(!Implementing
            .next(ChangeType::Normal, false)
            .contains(&Cancelled));
        assert!(Cancelled.next(ChangeType::Normal, false).is_empty());
        assert!(!Cancelled.on_calendar());
        assert!(Assessed.open_for_votes(ChangeType::Normal));
        assert!(Submitted.open_for_votes(ChangeType::Emergency));
        assert!(!Submitted.open_for_votes(ChangeType::Normal));
        assert_eq!(Implemented.next(ChangeType::Normal, true), &[Reviewed]);
        assert_eq!(
            Implemented.next(ChangeType::Normal, false),
            &[Reviewed, Closed]
        );
        assert_eq!(Failed.next(ChangeType::Normal, true), &[Reviewed]);
        assert!(Closed.next(ChangeType::Normal, false).is_empty());
    }

    #[test]
    fn review_is_required_for_failures_and_emergencies() {
        assert!(review_required(
            ChangeType::Emergency,
            ChangeStatus::Implemented
        ));
        assert!(review_required(ChangeType::Normal, ChangeStatus::Failed));
        assert!(review_required(
            ChangeType::Standard,
            ChangeStatus::BackedOut
        ));
        assert!(!review_required(
            ChangeType::Normal,
            ChangeStatus::Implemented
        ));
    }

    #[test]
    fn matrix_corners() {
        assert_eq!(matrix(1, 1), Risk::Low);
        assert_eq!(matrix(2, 2), Risk::Low);
        assert_eq!(matrix(1, 5), Risk::Medium);
        assert_eq!(matrix(3, 4), Risk::Medium);
        assert_eq!(matrix(3, 5), Risk::High);
        assert_eq!(matrix(5, 5), Risk::High);
    }

    #[test]
    fn questionnaire_scores() {
        let low = answers(&[
            ("done_before", "often"),
            ("tested", "fully"),
            ("complexity", "simple"),
            ("users", "few"),
            ("outage", "none"),
            ("backout", "easy"),
        ]);
        assert_eq!(
            assess(&low),
            Ok(RiskScore {
                likelihood: 1,
                impact: 1,
                risk: Risk::Low
            })
        );
        let high = answers(&[
            ("done_before", "never"),
            ("tested", "not"),
            ("complexity", "complex"),
            ("users", "everyone"),
            ("outage", "long"),
            ("backout", "hard"),
        ]);
        let s = assess(&high).unwrap();
        assert_eq!((s.likelihood, s.impact, s.risk), (5, 5, Risk::High));
        let mut missing = low.clone();
        missing.remove("outage");
        assert_eq!(assess(&missing), Err(RiskError::Missing("outage")));
        let mut wrong = low.clone();
        wrong.insert("tested".into(), "maybe".into());
        assert!(matches!(assess(&wrong), Err(RiskError::Unknown(_))));
        let mut extra = low;
        extra.insert("colour".into(), "red".into());
        assert!(matches!(assess(&extra), Err(RiskError::Unknown(_))));
    }

    #[test]
    fn quorum_rule() {
        assert_eq!(decide(0, 0, 2), Decision::Pending);
        assert_eq!(decide(1, 0, 2), Decision::Pending);
        assert_eq!(decide(2, 0, 2), Decision::Approved);
        assert_eq!(decide(5, 1, 2), Decision::Rejected);
        assert_eq!(decide(1, 0, 0), Decision::Approved);
    }

    fn w(id: i64, start: i64, end: i64, cis: &[i64], services: &[i64]) -> Window {
        Window {
            change_id: id,
            start,
            end,
            cis: cis.to_vec(),
            services: services.to_vec(),
        }
    }

    #[test]
    fn overlapping_changes_on_the_same_ci_conflict() {
        let ws = [
            w(1, 0, 10, &[7], &[]),
            w(2, 5, 15, &[7, 8], &[]),
            w(3, 10, 20, &[7], &[]), // touches 1 only at its end: no overlap
            w(4, 0, 30, &[9], &[3]),
        ];
        let c = conflicts(&ws, &[]);
        assert_eq!(
            c,
            vec![
                Conflict::Overlap {
                    a: 1,
                    b: 2,
                    cis: vec![7],
                    services: vec![]
                },
                Conflict::Overlap {
                    a: 2,
                    b: 3,
                    cis: vec![7],
                    services: vec![]
                },
            ]
        );
    }

    #[test]
    fn shared_services_and_freezes() {
        let ws = [
            w(1, 0, 10, &[], &[3]),
            w(2, 5, 8, &[], &[3]),
            w(3, 50, 60, &[], &[4]),
        ];
        let fs = [
            Freeze {
                freeze_id: 9,
                start: 55,
                end: 100,
                service: None,
            },
            Freeze {
                freeze_id: 10,
                start: 0,
                end: 100,
                service: Some(5),
            },
        ];
        let c = conflicts(&ws, &fs);
        assert!(c.contains(&Conflict::Overlap {
            a: 1,
            b: 2,
            cis: vec![],
            services: vec![3]
        }));
        assert!(c.contains(&Conflict::InFreeze {
            change_id: 3,
            freeze_id: 9
        }));
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c[0].involves(1) && !c[0].involves(3));
    }

    proptest! {
        /// The sweep finds exactly the pairs a brute-force comparison finds.
        #[test]
        fn sweep_matches_brute_force(raw in proptest::collection::vec((0i64..50, 1i64..20, 0i64..4), 0..25)) {
            let ws: Vec<Window> = raw.iter().enumerate()
                .map(|(i, (s, len, ci))| w(i as i64, *s, s + len, &[*ci], &[]))
                .collect();
            let found = conflicts(&ws, &[]).len();
            let mut expected = 0;
            for i in 0..ws.len() {
                for j in i + 1..ws.len() {
                    if overlaps(ws[i].start, ws[i].end, ws[j].start, ws[j].end) && ws[i].cis == ws[j].cis {
                        expected += 1;
                    }
                }
            }
            prop_assert_eq!(found, expected);
        }

        #[test]
        fn folded_lines_stay_within_75_octets(s in "[a-z,;\\\\\n中文 ]{0,300}") {
            let mut out = String::new();
            ical_line(&mut out, &format!("SUMMARY:{}", ical_escape(&s)));
            for l in out.split("\r\n") {
                prop_assert!(l.len() <= 75);
            }
            let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
            prop_assert_eq!(unfolded, format!("SUMMARY:{}", ical_escape(&s)));
        }
    }

    #[test]
    fn escaping_and_times() {
        assert_eq!(ical_escape("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
        assert_eq!(ical_time(0), "19700101T000000Z");
        // 2026-11-25T08:30:05Z
        assert_eq!(ical_time(1_795_595_405_000_000), "20261125T083005Z");
        assert_eq!(ical_time(951_782_400_000_000), "20000229T000000Z");
    }
}
