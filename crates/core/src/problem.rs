//! Problems: the status lifecycle and what each step needs, and the trend comparison that
//! starts proactive problem management.

use crate::ticket::string_enum;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemStatus {
    New,
    UnderInvestigation,
    /// The root cause and a workaround are documented; the fix is still to come.
    KnownError,
    Resolved,
    Closed,
}
string_enum!(ProblemStatus {
    New => "new",
    UnderInvestigation => "under_investigation",
    KnownError => "known_error",
    Resolved => "resolved",
    Closed => "closed",
});

/// Why a problem cannot move where it was asked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemRuleError {
    /// Not a permitted step from the current status.
    Transition {
        from: ProblemStatus,
        to: ProblemStatus,
        allowed: Vec<ProblemStatus>,
    },
    /// A field that the target status needs is empty.
    Missing {
        field: &'static str,
        to: ProblemStatus,
    },
}

/// What a problem holds when it is about to change status.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence {
    pub has_cause: bool,
    pub has_workaround: bool,
    pub has_resolution: bool,
}

impl ProblemStatus {
    /// The statuses a problem may move to. The back-steps: a known error whose workaround
    /// proves wrong goes back under investigation, a resolved problem whose incidents return is
    /// reopened, and a new problem found not to be one is closed at once.
    pub fn next(self) -> &'static [ProblemStatus] {
        use ProblemStatus::*;
        match self {
            New => &[UnderInvestigation, KnownError, Closed],
            UnderInvestigation => &[KnownError, Resolved, New],
            KnownError => &[Resolved, UnderInvestigation],
            Resolved => &[Closed, UnderInvestigation],
            Closed => &[],
        }
    }

    pub fn is_open(self) -> bool {
        !matches!(self, ProblemStatus::Resolved | ProblemStatus::Closed)
    }

    /// Checks a status change: the step must be permitted, a known error needs its cause and
    /// workaround, and resolving needs the resolution.
    pub fn check(self, to: ProblemStatus, e: Evidence) -> Result<(), ProblemRuleError> {
        if !self.next().contains(&to) {
            return Err(ProblemRuleError::Transition {
                from: self,
                to,
                allowed: self.next().to_vec(),
            });
        }
        let missing = match to {
            ProblemStatus::KnownError if !e.has_cause => Some("cause"),
            ProblemStatus::KnownError if !e.has_workaround => Some("workaround"),
            ProblemStatus::Resolved if !e.has_resolution => Some("resolution"),
            _ => None,
        };
        match missing {
            Some(field) => Err(ProblemRuleError::Missing { field, to }),
            None => Ok(()),
        }
    }

    pub fn format_number(seq: i64) -> String {
        format!("PRB-{seq:06}")
    }
}

/// One group of the trend view: incidents in the period and in the period before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendRow {
    pub key: String,
    pub current: i64,
    pub previous: i64,
}

impl TrendRow {
    /// The change against the previous period in percent; None when there was nothing before.
    pub fn change_percent(&self) -> Option<i64> {
        (self.previous > 0).then(|| (self.current - self.previous) * 100 / self.previous)
    }
}

/// The recurring groups: at least `min` incidents in the period, most first (then the largest
/// rise, then the key), at most `top`.
pub fn top_trends(mut rows: Vec<TrendRow>, min: i64, top: usize) -> Vec<TrendRow> {
    rows.retain(|r| r.current >= min);
    rows.sort_by(|a, b| {
        b.current
            .cmp(&a.current)
            .then((b.current - b.previous).cmp(&(a.current - a.previous)))
            .then(a.key.cmp(&b.key))
    });
    rows.truncate(top);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ProblemStatus::*;

    const FULL: Evidence = Evidence {
        has_cause: true,
        has_workaround: true,
        has_resolution: true,
    };

    #[test]
    fn the_happy_path_runs_from_new_to_closed() {
        let path = [New, UnderInvestigation, KnownError, Resolved, Closed];
        for w in path.windows(2) {
            assert_eq!(w[0].check(w[1], FULL), Ok(()), "{} → {}", w[0], w[1]);
        }
    }

    #[test]
    fn closed_is_final_and_steps_cannot_be_skipped() {
        assert!(Closed.next().is_empty());
        assert!(matches!(
            New.check(Resolved, FULL),
            Err(ProblemRuleError::Transition { .. })
        ));
        assert!(matches!(
            KnownError.check(Closed, FULL),
            Err(ProblemRuleError::Transition { .. })
        ));
    }

    #[test]
    fn a_known_error_needs_cause_and_workaround() {
        let no_cause = Evidence {
            has_cause: false,
            ..FULL
        };
        assert_eq!(
            UnderInvestigation.check(KnownError, no_cause),
            Err(ProblemRuleError::Missing {
                field: "cause",
                to: KnownError
            })
        );
        let no_workaround = Evidence {
            has_workaround: false,
            ..FULL
        };
        assert_eq!(
            New.check(KnownError, no_workaround),
            Err(ProblemRuleError::Missing {
                field: "workaround",
                to: KnownError
            })
        );
        let no_resolution = Evidence {
            has_resolution: false,
            ..FULL
        };
        assert!(KnownError.check(Resolved, no_resolution).is_err());
        // Going back needs nothing.
        assert_eq!(
            KnownError.check(UnderInvestigation, Evidence::default()),
            Ok(())
        );
    }

    #[test]
    fn numbers_are_padded() {
        assert_eq!(ProblemStatus::format_number(12), "PRB-000012");
    }

    #[test]
    fn trends_keep_the_recurring_groups_most_first() {
        let row = |k: &str, c, p| TrendRow {
            key: k.into(),
            current: c,
            previous: p,
        };
        let out = top_trends(
            vec![
                row("a", 3, 0),
                row("b", 5, 1),
                row("c", 1, 0),
                row("d", 3, 3),
            ],
            2,
            10,
        );
        let keys: Vec<&str> = out.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["b", "a", "d"]);
        assert_eq!(out[0].change_percent(), Some(400));
        assert_eq!(out[1].change_percent(), None);
    }

    fn status() -> impl Strategy<Value = ProblemStatus> {
        prop::sample::select(ProblemStatus::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn every_open_status_can_reach_closed(s in status()) {
            // Breadth-first over the permitted steps.
            let mut seen = vec![s];
            let mut i = 0;
            while i < seen.len() {
                for n in seen[i].next() {
                    if !seen.contains(n) {
                        seen.push(*n);
                    }
                }
                i += 1;
            }
            prop_assert!(seen.contains(&Closed));
        }

        #[test]
        fn check_agrees_with_next(from in status(), to in status()) {
            let ok = from.check(to, FULL).is_ok();
            prop_assert_eq!(ok, from.next().contains(&to));
        }

        #[test]
        fn top_trends_is_bounded_and_sorted(counts in prop::collection::vec((0i64..50, 0i64..50), 0..30), top in 0usize..10) {
            let rows = counts.iter().enumerate().map(|(i, (c, p))| TrendRow { key: format!("k{i}"), current: *c, previous: *p }).collect();
            let out = top_trends(rows, 2, top);
            prop_assert!(out.len() <= top);
            prop_assert!(out.iter().all(|r| r.current >= 2));
            prop_assert!(out.windows(2).all(|w| w[0].current >= w[1].current));
        }
    }
}
