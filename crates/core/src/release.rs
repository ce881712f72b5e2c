//! Releases: the lifecycle, the service acceptance checklist that gates go-live, the go-live
//! decision and what a deployment's outcome does to the release.
//!
//! planning → building → testing → awaiting_go_live → (go-live approval) approved →
//! (deployment) live | failed | rolled_back; live → closed; failed and rolled_back go back to
//! building for rework or are closed. Planning, building, testing and awaiting_go_live may be
//! cancelled. `approved`, `live`, `failed` and `rolled_back` are reached only through the
//! approval and the deployment record, never by a plain status change.

use crate::ticket::string_enum;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    Planning,
    Building,
    Testing,
    AwaitingGoLive,
    Approved,
    Live,
    Failed,
    RolledBack,
    Closed,
    Cancelled,
}
string_enum!(ReleaseStatus {
    Planning => "planning",
    Building => "building",
    Testing => "testing",
    AwaitingGoLive => "awaiting_go_live",
    Approved => "approved",
    Live => "live",
    Failed => "failed",
    RolledBack => "rolled_back",
    Closed => "closed",
    Cancelled => "cancelled",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseType {
    Major,
    Minor,
    Emergency,
}
string_enum!(ReleaseType {
    Major => "major",
    Minor => "minor",
    Emergency => "emergency",
});

/// Why a release cannot do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("a {from} release cannot move to {to}")]
    Transition {
        from: ReleaseStatus,
        to: ReleaseStatus,
        allowed: Vec<ReleaseStatus>,
    },
    #[error("mandatory acceptance checks have not passed: {0:?}")]
    ChecksOutstanding(Vec<usize>),
    #[error("a {0} release is not awaiting go-live approval")]
    NotAwaitingApproval(ReleaseStatus),
    #[error("a {0} release has no go-live approval to deploy")]
    NotApproved(ReleaseStatus),
    #[error("a {0} release is no longer being put together")]
    Frozen(ReleaseStatus),
    #[error("acceptance checks are recorded while the release is in testing, not {0}")]
    NotTesting(ReleaseStatus),
}

impl ReleaseStatus {
    /// The statuses a plain status change may move a release to.
    pub fn next(self) -> &'static [ReleaseStatus] {
        use ReleaseStatus::*;
        match self {
            Planning => &[Building, Cancelled],
            Building => &[Testing, Planning, Cancelled],
            Testing => &[AwaitingGoLive, Building, Cancelled],
            AwaitingGoLive => &[Testing, Cancelled],
            Approved => &[Testing],
            Live => &[Closed],
            Failed | RolledBack => &[Building, Closed],
            Closed | Cancelled => &[],
        }
    }

    /// Checks a plain status change. Moving to awaiting_go_live needs every mandatory
    /// acceptance check passed (`checks` as in [`outstanding_checks`]).
    pub fn check_transition(
        self,
        to: ReleaseStatus,
        checks: &[(bool, CheckResult)],
    ) -> Result<(), ReleaseError> {
        if !self.next().contains(&to) {
            return Err(ReleaseError::Transition {
                from: self,
                to,
                allowed: self.next().to_vec(),
            });
        }
        if to == ReleaseStatus::AwaitingGoLive {
            let missing = outstanding_checks(checks);
            if !missing.is_empty() {
                return Err(ReleaseError::ChecksOutstanding(missing));
            }
        }
        Ok(())
    }

    /// Whether changes and checklist items may still be added or removed.
    pub fn is_assembling(self) -> bool {
        matches!(
            self,
            ReleaseStatus::Planning | ReleaseStatus::Building | ReleaseStatus::Testing
        )
    }

    /// A release that still holds its changes: every one but a cancelled one. A change
    /// belongs to at most one such release.
    pub fn holds_changes(self) -> bool {
        self != ReleaseStatus::Cancelled
    }

    pub fn is_final(self) -> bool {
        matches!(self, ReleaseStatus::Closed | ReleaseStatus::Cancelled)
    }

    /// Adding or removing changes and checklist items.
    pub fn check_assembling(self) -> Result<(), ReleaseError> {
        if self.is_assembling() {
            Ok(())
        } else {
            Err(ReleaseError::Frozen(self))
        }
    }

    /// Recording an acceptance check's result.
    pub fn check_testing(self) -> Result<(), ReleaseError> {
        if self == ReleaseStatus::Testing {
            Ok(())
        } else {
            Err(ReleaseError::NotTesting(self))
        }
    }

    /// The go-live decision: approved moves on to deployment, rejected sends the release back
    /// to testing. The checklist is checked again: it may have changed since.
    pub fn decide(
        self,
        decision: Decision,
        checks: &[(bool, CheckResult)],
    ) -> Result<ReleaseStatus, ReleaseError> {
        if self != ReleaseStatus::AwaitingGoLive {
            return Err(ReleaseError::NotAwaitingApproval(self));
        }
        match decision {
            Decision::Rejected => Ok(ReleaseStatus::Testing),
            Decision::Approved => {
                let missing = outstanding_checks(checks);
                if missing.is_empty() {
                    Ok(ReleaseStatus::Approved)
                } else {
                    Err(ReleaseError::ChecksOutstanding(missing))
                }
            }
        }
    }

    /// The status a deployment with this outcome leaves an approved release in.
    pub fn deploy(self, outcome: Outcome) -> Result<ReleaseStatus, ReleaseError> {
        if self != ReleaseStatus::Approved {
            return Err(ReleaseError::NotApproved(self));
        }
        Ok(match outcome {
            Outcome::Success => ReleaseStatus::Live,
            Outcome::Failed => ReleaseStatus::Failed,
            Outcome::RolledBack => ReleaseStatus::RolledBack,
        })
    }
}

/// The result of one acceptance check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    Pending,
    Passed,
    Failed,
}
string_enum!(CheckResult {
    Pending => "pending",
    Passed => "passed",
    Failed => "failed",
});

/// The positions (0-based) of mandatory checks that have not passed. Optional checks never
/// hold a release back, whatever their result.
pub fn outstanding_checks(checks: &[(bool, CheckResult)]) -> Vec<usize> {
    checks
        .iter()
        .enumerate()
        .filter(|(_, (mandatory, result))| *mandatory && *result != CheckResult::Passed)
        .map(|(i, _)| i)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    Rejected,
}
string_enum!(Decision {
    Approved => "approved",
    Rejected => "rejected",
});

/// How a deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failed,
    RolledBack,
}
string_enum!(Outcome {
    Success => "success",
    Failed => "failed",
    RolledBack => "rolled_back",
});

/// A default acceptance check: its text in Chinese and English, and whether it is mandatory.
pub struct DefaultCheck {
    pub text_zh: &'static str,
    pub text_en: &'static str,
    pub mandatory: bool,
}

/// The service acceptance checks every new release starts with.
pub const DEFAULT_CHECKS: &[DefaultCheck] = &[
    DefaultCheck {
        text_zh: "功能验收",
        text_en: "Functional acceptance",
        mandatory: true,
    },
    DefaultCheck {
        text_zh: "性能验收",
        text_en: "Performance acceptance",
        mandatory: true,
    },
    DefaultCheck {
        text_zh: "运维交接",
        text_en: "Operations handover",
        mandatory: true,
    },
    DefaultCheck {
        text_zh: "回退方案验证",
        text_en: "Back-out plan verified",
        mandatory: true,
    },
    DefaultCheck {
        text_zh: "文档与培训",
        text_en: "Documentation and training",
        mandatory: false,
    },
];

/// The lifecycle a service moves to when one of its releases goes live: `live`, unless it is
/// live already or retired (a retired service is not brought back by a release).
pub fn service_lifecycle_after_go_live(current: &str) -> Option<&'static str> {
    match current {
        "live" | "retired" => None,
        _ => Some("live"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ReleaseStatus::*;

    fn all_passed(n: usize) -> Vec<(bool, CheckResult)> {
        vec![(true, CheckResult::Passed); n]
    }

    #[test]
    fn the_happy_path_reaches_live_and_closed() {
        let checks = all_passed(4);
        let mut s = Planning;
        for to in [Building, Testing, AwaitingGoLive] {
            s.check_transition(to, &checks).unwrap();
            s = to;
        }
        s = s.decide(Decision::Approved, &checks).unwrap();
        assert_eq!(s, Approved);
        s = s.deploy(Outcome::Success).unwrap();
        assert_eq!(s, Live);
        s.check_transition(Closed, &checks).unwrap();
    }

    #[test]
    fn go_live_waits_for_every_mandatory_check() {
        let checks = vec![
            (true, CheckResult::Passed),
            (true, CheckResult::Failed),
            (false, CheckResult::Pending),
            (true, CheckResult::Pending),
        ];
        assert_eq!(outstanding_checks(&checks), vec![1, 3]);
        assert_eq!(
            Testing.check_transition(AwaitingGoLive, &checks),
            Err(ReleaseError::ChecksOutstanding(vec![1, 3]))
        );
        assert_eq!(
            AwaitingGoLive.decide(Decision::Approved, &checks),
            Err(ReleaseError::ChecksOutstanding(vec![1, 3]))
        );
        // A rejection needs no passed checks: it sends the release back to testing.
        assert_eq!(
            AwaitingGoLive.decide(Decision::Rejected, &checks),
            Ok(Testing)
        );
        // Optional checks never hold a release back.
        assert!(outstanding_checks(&[(false, CheckResult::Failed)]).is_empty());
    }

    #[test]
    fn approval_and_deployment_only_in_their_place() {
        assert_eq!(
            Testing.decide(Decision::Approved, &[]),
            Err(ReleaseError::NotAwaitingApproval(Testing))
        );
        assert_eq!(
            AwaitingGoLive.deploy(Outcome::Success),
            Err(ReleaseError::NotApproved(AwaitingGoLive))
        );
        assert_eq!(Approved.deploy(Outcome::Failed), Ok(Failed));
        assert_eq!(Approved.deploy(Outcome::RolledBack), Ok(RolledBack));
        // Failed and rolled-back releases are reworked or closed.
        assert!(Failed.check_transition(Building, &[]).is_ok());
        assert!(RolledBack.check_transition(Closed, &[]).is_ok());
        assert!(Live.check_transition(Building, &[]).is_err());
    }

    #[test]
    fn only_assembling_releases_change_their_contents() {
        for s in ReleaseStatus::ALL {
            assert_eq!(
                s.check_assembling().is_ok(),
                matches!(s, Planning | Building | Testing),
                "{s}"
            );
            assert_eq!(s.check_testing().is_ok(), *s == Testing, "{s}");
        }
    }

    #[test]
    fn a_service_goes_live_once_and_never_from_retired() {
        assert_eq!(service_lifecycle_after_go_live("transition"), Some("live"));
        assert_eq!(service_lifecycle_after_go_live("design"), Some("live"));
        assert_eq!(service_lifecycle_after_go_live("live"), None);
        assert_eq!(service_lifecycle_after_go_live("retired"), None);
    }

    #[test]
    fn names_round_trip() {
        for s in ReleaseStatus::ALL {
            assert_eq!(s.as_str().parse::<ReleaseStatus>(), Ok(*s));
        }
        for t in ReleaseType::ALL {
            assert_eq!(t.as_str().parse::<ReleaseType>(), Ok(*t));
        }
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(*o));
        }
    }

    fn status() -> impl Strategy<Value = ReleaseStatus> {
        proptest::sample::select(ReleaseStatus::ALL.to_vec())
    }

    fn check() -> impl Strategy<Value = (bool, CheckResult)> {
        (
            any::<bool>(),
            proptest::sample::select(CheckResult::ALL.to_vec()),
        )
    }

    proptest! {
        /// No sequence of plain status changes reaches live, approved, failed or rolled_back:
        /// those need the approval and the deployment record.
        #[test]
        fn plain_changes_never_skip_approval(steps in proptest::collection::vec(status(), 0..40)) {
            let checks = all_passed(3);
            let mut s = Planning;
            for to in steps {
                if s.check_transition(to, &checks).is_ok() {
                    s = to;
                }
                prop_assert!(!matches!(s, Approved | Live | Failed | RolledBack));
            }
        }

        /// Approval succeeds exactly when no mandatory check is outstanding.
        #[test]
        fn approval_matches_the_checklist(checks in proptest::collection::vec(check(), 0..12)) {
            let approved = AwaitingGoLive.decide(Decision::Approved, &checks).is_ok();
            let all_mandatory_passed = checks
                .iter()
                .all(|(m, r)| !*m || *r == CheckResult::Passed);
            prop_assert_eq!(approved, all_mandatory_passed);
        }

        /// Final statuses go nowhere.
        #[test]
        fn final_is_final(to in status()) {
            prop_assert!(Closed.check_transition(to, &[]).is_err());
            prop_assert!(Cancelled.check_transition(to, &[]).is_err());
        }
    }
}
