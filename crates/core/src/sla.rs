//! SLA clock math: one clock measures one target (first response or resolution) of one ticket
//! in business time on a [`WorkingCalendar`].
//!
//! A clock is a small value the store keeps as plain columns; every operation takes the
//! calendar and `now`, so nothing here reads a clock or a database. Operations that do not
//! apply to the current state change nothing and return `false`, so a replayed job is
//! harmless. An instant earlier than `since` (clock skew between workers) counts as `since`.
//!
//! The due instant is the instant at which elapsed business time reaches the target. A clock
//! is breached once `now` is past that instant while it still runs; stopping after it is
//! "met late", which reports as breached.

use crate::calendar::WorkingCalendar;
use crate::ticket::string_enum;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    Running,
    Paused,
    Met,
    Cancelled,
}
string_enum!(ClockState {
    Running => "running",
    Paused => "paused",
    Met => "met",
    Cancelled => "cancelled",
});

/// What a queue or report shows. `Breached` covers a clock past its due instant whether it is
/// still running, paused after the breach, or was met late; `Met` means met in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStatus {
    Running,
    Paused,
    Met,
    Breached,
    Cancelled,
}
string_enum!(ClockStatus {
    Running => "running",
    Paused => "paused",
    Met => "met",
    Breached => "breached",
    Cancelled => "cancelled",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// Business seconds allowed.
    pub target_secs: i64,
    pub started_at: Timestamp,
    pub state: ClockState,
    /// When the current state began: the running segment's start, the pause's start, the met
    /// or cancelled instant.
    pub since: Timestamp,
    /// Business seconds consumed before `since`; only running segments count.
    pub elapsed_secs: i64,
    /// Business seconds spent in closed pauses, for display.
    pub paused_secs: i64,
    /// The due instant that was passed, recorded when a transition finds it passed (a
    /// running clock's breach is otherwise computed on demand).
    pub breached_at: Option<Timestamp>,
}

impl Clock {
    pub fn start(now: Timestamp, target_secs: i64) -> Clock {
        Clock {
            target_secs,
            started_at: now,
            state: ClockState::Running,
            since: now,
            elapsed_secs: 0,
            paused_secs: 0,
            breached_at: None,
        }
    }

    fn at(&self, now: Timestamp) -> Timestamp {
        now.max(self.since)
    }

    /// Business seconds consumed up to `now`.
    pub fn elapsed_at(&self, cal: &WorkingCalendar, now: Timestamp) -> i64 {
        match self.state {
            ClockState::Running => {
                self.elapsed_secs + cal.business_secs_between(self.since, self.at(now))
            }
            _ => self.elapsed_secs,
        }
    }

    /// Negative once the target is overrun.
    pub fn remaining_at(&self, cal: &WorkingCalendar, now: Timestamp) -> i64 {
        self.target_secs - self.elapsed_at(cal, now)
    }

    /// For a running clock, the instant elapsed time reaches the target (the recorded breach
    /// instant if that is already past). Other states are not moving: `None`.
    pub fn due_at(&self, cal: &WorkingCalendar) -> Option<Timestamp> {
        (self.state == ClockState::Running).then(|| self.segment_due(cal))
    }

    /// When a paused clock would fall due if it were resumed at `now`.
    pub fn due_if_resumed_at(&self, cal: &WorkingCalendar, now: Timestamp) -> Option<Timestamp> {
        match self.state {
            ClockState::Running => self.due_at(cal),
            ClockState::Paused => Some(self.breached_at.unwrap_or_else(|| {
                cal.add_business(self.at(now), self.target_secs - self.elapsed_secs)
            })),
            ClockState::Met | ClockState::Cancelled => None,
        }
    }

    /// When a running clock reaches `per_mille` ‰ of its target, to schedule a warning. If
    /// that share was already consumed before the current running segment, the segment's
    /// start: an instant not after now, so a scheduler fires at once.
    pub fn instant_at_share(&self, cal: &WorkingCalendar, per_mille: u32) -> Option<Timestamp> {
        if self.state != ClockState::Running {
            return None;
        }
        let share = (i128::from(self.target_secs) * i128::from(per_mille) / 1000)
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        Some(cal.add_business(self.since, share - self.elapsed_secs))
    }

    pub fn is_breached_at(&self, cal: &WorkingCalendar, now: Timestamp) -> bool {
        if self.breached_at.is_some() {
            return true;
        }
        self.state == ClockState::Running && self.at(now) > self.segment_due(cal)
    }

    pub fn status_at(&self, cal: &WorkingCalendar, now: Timestamp) -> ClockStatus {
        match self.state {
            ClockState::Cancelled => ClockStatus::Cancelled,
            _ if self.is_breached_at(cal, now) => ClockStatus::Breached,
            ClockState::Running => ClockStatus::Running,
            ClockState::Paused => ClockStatus::Paused,
            ClockState::Met => ClockStatus::Met,
        }
    }

    /// True once a finished clock was met late (or a running one went past due).
    pub fn breached(&self) -> bool {
        self.breached_at.is_some()
    }

    pub fn pause(&mut self, cal: &WorkingCalendar, now: Timestamp) -> bool {
        if self.state != ClockState::Running {
            return false;
        }
        self.close_segment(cal, now);
        self.state = ClockState::Paused;
        true
    }

    pub fn resume(&mut self, cal: &WorkingCalendar, now: Timestamp) -> bool {
        if self.state != ClockState::Paused {
            return false;
        }
        self.close_segment(cal, now);
        self.state = ClockState::Running;
        true
    }

    /// The target is met at `now`; after the due instant that is "met late".
    pub fn stop(&mut self, cal: &WorkingCalendar, now: Timestamp) -> bool {
        self.finish(cal, now, ClockState::Met)
    }

    pub fn cancel(&mut self, cal: &WorkingCalendar, now: Timestamp) -> bool {
        self.finish(cal, now, ClockState::Cancelled)
    }

    /// Changes the target, e.g. after a priority change. Product rule: the business time
    /// already consumed is kept and measured against the new target, so a raised priority
    /// can put a clock straight into breach (recorded as breached at `now`, the moment the
    /// rule made it so) and a lowered one gives more room — a breach is cleared when the new
    /// target exceeds the time consumed. Finished clocks keep their verdict: `false`.
    pub fn rebaseline(
        &mut self,
        cal: &WorkingCalendar,
        now: Timestamp,
        new_target_secs: i64,
    ) -> bool {
        if !matches!(self.state, ClockState::Running | ClockState::Paused) {
            return false;
        }
        self.close_segment(cal, now);
        self.target_secs = new_target_secs;
        if self.elapsed_secs < new_target_secs {
            self.breached_at = None;
        } else if self.elapsed_secs > new_target_secs && self.breached_at.is_none() {
            self.breached_at = Some(self.since);
        }
        true
    }

    fn finish(&mut self, cal: &WorkingCalendar, now: Timestamp, to: ClockState) -> bool {
        if !matches!(self.state, ClockState::Running | ClockState::Paused) {
            return false;
        }
        self.close_segment(cal, now);
        self.state = to;
        true
    }

    /// Accounts for the segment from `since` to `now` in the current state and starts a new
    /// one at `now`; records a breach a running segment went past.
    fn close_segment(&mut self, cal: &WorkingCalendar, now: Timestamp) {
        let now = self.at(now);
        let secs = cal.business_secs_between(self.since, now);
        match self.state {
            ClockState::Running => {
                if self.breached_at.is_none() {
                    let due = self.segment_due(cal);
                    if now > due {
                        self.breached_at = Some(due);
                    }
                }
                self.elapsed_secs += secs;
            }
            ClockState::Paused => self.paused_secs += secs,
            ClockState::Met | ClockState::Cancelled => {}
        }
        self.since = now;
    }

    /// Where the current running segment reaches the target.
    fn segment_due(&self, cal: &WorkingCalendar) -> Timestamp {
        self.breached_at
            .unwrap_or_else(|| cal.add_business(self.since, self.target_secs - self.elapsed_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> Timestamp {
        s.parse::<jiff::Zoned>().unwrap().timestamp()
    }

    const H: i64 = 3600;

    #[test]
    fn a_clock_runs_pauses_and_is_met_in_time() {
        let cal = WorkingCalendar::china_mainland_standard();
        // Thursday 2025-06-05 16:00 Beijing, 4 business hours: 2h today, 2h Friday morning.
        let mut c = Clock::start(at("2025-06-05T16:00[Asia/Shanghai]"), 4 * H);
        assert_eq!(c.due_at(&cal), Some(at("2025-06-06T11:00[Asia/Shanghai]")));
        assert_eq!(
            c.instant_at_share(&cal, 750),
            Some(at("2025-06-06T10:00[Asia/Shanghai]"))
        );
        assert!(c.pause(&cal, at("2025-06-05T17:00[Asia/Shanghai]")));
        assert!(
            !c.pause(&cal, at("2025-06-05T17:30[Asia/Shanghai]")),
            "replay is a no-op"
        );
        assert_eq!(c.elapsed_secs, H);
        assert_eq!(c.due_at(&cal), None);
        assert!(c.resume(&cal, at("2025-06-06T10:00[Asia/Shanghai]")));
        assert_eq!(c.paused_secs, 2 * H);
        assert_eq!(c.due_at(&cal), Some(at("2025-06-06T14:00[Asia/Shanghai]")));
        let now = at("2025-06-06T13:30[Asia/Shanghai]");
        assert_eq!(c.remaining_at(&cal, now), H / 2);
        assert_eq!(c.status_at(&cal, now), ClockStatus::Running);
        assert!(c.stop(&cal, now));
        assert_eq!(c.status_at(&cal, now), ClockStatus::Met);
        assert!(!c.breached());
    }

    #[test]
    fn met_late_is_breached_and_the_breach_instant_is_the_due_instant() {
        let cal = WorkingCalendar::china_mainland_standard();
        let mut c = Clock::start(at("2025-06-05T16:00[Asia/Shanghai]"), 2 * H);
        let due = at("2025-06-05T18:00[Asia/Shanghai]");
        assert!(!c.is_breached_at(&cal, due));
        // After hours: no business time passes, but the due instant shown was 18:00.
        assert!(c.is_breached_at(&cal, at("2025-06-05T20:00[Asia/Shanghai]")));
        assert_eq!(
            c.remaining_at(&cal, at("2025-06-05T20:00[Asia/Shanghai]")),
            0
        );
        c.stop(&cal, at("2025-06-06T09:30[Asia/Shanghai]"));
        assert_eq!(c.breached_at, Some(due));
        assert_eq!(
            c.status_at(&cal, at("2025-06-07T00:00[Asia/Shanghai]")),
            ClockStatus::Breached
        );
        assert_eq!(
            c.remaining_at(&cal, at("2025-06-07T00:00[Asia/Shanghai]")),
            -H / 2
        );
    }

    #[test]
    fn rebaseline_keeps_consumed_time() {
        let cal = WorkingCalendar::always();
        let t0 = at("2025-01-01T00:00Z[UTC]");
        let mut c = Clock::start(t0, 8 * H);
        let now = at("2025-01-01T05:00Z[UTC]");
        assert!(c.rebaseline(&cal, now, 4 * H));
        assert_eq!(c.elapsed_at(&cal, now), 5 * H);
        assert_eq!(
            c.breached_at,
            Some(now),
            "a raised priority breaches at once"
        );
        assert_eq!(c.status_at(&cal, now), ClockStatus::Breached);
        assert!(c.rebaseline(&cal, now, 24 * H));
        assert_eq!(c.breached_at, None);
        assert_eq!(c.due_at(&cal), Some(at("2025-01-02T00:00Z[UTC]")));
        c.cancel(&cal, now);
        assert!(!c.rebaseline(&cal, now, H));
        assert_eq!(c.status_at(&cal, now), ClockStatus::Cancelled);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Pause,
        Resume,
        Rebaseline(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Pause),
            Just(Op::Resume),
            (0i64..40 * H).prop_map(Op::Rebaseline)
        ]
    }

    proptest! {
        #[test]
        fn paused_time_never_counts(
            start in 1_704_067_200i64..1_798_761_600,
            steps in prop::collection::vec((1i64..3 * 86_400, op()), 0..12),
            target in 0i64..40 * H,
        ) {
            let cal = WorkingCalendar::china_mainland_standard();
            let mut t = Timestamp::from_second(start).unwrap();
            let mut c = Clock::start(t, target);
            let mut running = true;
            let mut expect_elapsed = 0;
            let mut expect_paused = 0;
            for (gap, op) in steps {
                let next = Timestamp::from_second(t.as_second() + gap).unwrap();
                let secs = cal.business_secs_between(t, next);
                let before = c.elapsed_at(&cal, t);
                prop_assert!(c.elapsed_at(&cal, next) >= before, "elapsed never decreases");
                match op {
                    Op::Pause => { c.pause(&cal, next); }
                    Op::Resume => { c.resume(&cal, next); }
                    Op::Rebaseline(n) => {
                        let e = c.elapsed_at(&cal, next);
                        c.rebaseline(&cal, next, n);
                        prop_assert_eq!(c.elapsed_at(&cal, next), e, "rebaseline keeps elapsed");
                        prop_assert_eq!(c.target_secs, n);
                        if e < n { prop_assert!(!c.breached()); }
                    }
                }
                if running { expect_elapsed += secs } else { expect_paused += secs }
                running = c.state == ClockState::Running;
                t = next;
                prop_assert_eq!(c.elapsed_at(&cal, t), expect_elapsed);
            }
            if c.state == ClockState::Paused {
                c.resume(&cal, t);
            }
            prop_assert_eq!(c.paused_secs, expect_paused);
            // A running clock's due instant is where the remaining target runs out.
            if let Some(due) = c.due_at(&cal) {
                if c.breached_at.is_none() {
                    prop_assert_eq!(c.elapsed_at(&cal, due), c.target_secs.max(c.elapsed_secs));
                }
            }
        }
    }
}
