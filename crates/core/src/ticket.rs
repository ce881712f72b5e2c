//! Ticket kinds, channels and the status lifecycle.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! string_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($text => Ok($name::$variant),)+ _ => Err(()) }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    Incident,
    ServiceRequest,
}
string_enum!(TicketKind { Incident => "incident", ServiceRequest => "service_request" });

impl TicketKind {
    /// The prefix of the human number, e.g. INC-000123.
    pub fn prefix(self) -> &'static str {
        match self {
            TicketKind::Incident => "INC",
            TicketKind::ServiceRequest => "REQ",
        }
    }

    pub fn format_number(self, seq: i64) -> String {
        format!("{}-{seq:06}", self.prefix())
    }
}

/// Where a change came from; recorded on every audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    Api,
    Cli,
    Mail,
    System,
}
string_enum!(Channel { Web => "web", Api => "api", Cli => "cli", Mail => "mail", System => "system" });

/// Whom a pending ticket waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingReason {
    Requester,
    ThirdParty,
}
string_enum!(PendingReason { Requester => "requester", ThirdParty => "third_party" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Assigned,
    InProgress,
    Pending,
    Resolved,
    Closed,
    Cancelled,
}
string_enum!(Status {
    New => "new",
    Assigned => "assigned",
    InProgress => "in_progress",
    Pending => "pending",
    Resolved => "resolved",
    Closed => "closed",
    Cancelled => "cancelled",
});

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a ticket cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: Status,
    pub to: Status,
    pub allowed: Vec<Status>,
}

impl Status {
    /// The statuses a ticket may move to from this one. Resolved → in_progress is the reopen;
    /// closed and cancelled are final.
    pub fn next(self) -> &'static [Status] {
        use Status::*;
        match self {
            New => &[Assigned, InProgress, Pending, Resolved, Cancelled],
            Assigned => &[New, InProgress, Pending, Resolved, Cancelled],
            InProgress => &[Assigned, Pending, Resolved, Cancelled],
            Pending => &[InProgress, Resolved, Cancelled],
            Resolved => &[InProgress, Closed],
            Closed | Cancelled => &[],
        }
    }

    pub fn can_move_to(self, to: Status) -> bool {
        self.next().contains(&to)
    }

    pub fn check_transition(self, to: Status) -> Result<(), TransitionError> {
        if self.can_move_to(to) {
            Ok(())
        } else {
            Err(TransitionError {
                from: self,
                to,
                allowed: self.next().to_vec(),
            })
        }
    }

    /// Open tickets are the ones a queue shows: somebody still has work to do.
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed | Status::Cancelled)
    }

    pub fn is_final(self) -> bool {
        self.next().is_empty()
    }

    pub const OPEN: &'static [Status] = &[
        Status::New,
        Status::Assigned,
        Status::InProgress,
        Status::Pending,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_are_padded_per_kind() {
        assert_eq!(TicketKind::Incident.format_number(123), "INC-000123");
        assert_eq!(TicketKind::ServiceRequest.format_number(1), "REQ-000001");
    }

    #[test]
    fn the_happy_path_is_allowed() {
        use Status::*;
        let path = [
            New, Assigned, InProgress, Pending, InProgress, Resolved, Closed,
        ];
        for w in path.windows(2) {
            assert!(w[0].can_move_to(w[1]), "{} -> {}", w[0], w[1]);
        }
    }

    #[test]
    fn reopen_and_cancel() {
        assert!(Status::Resolved.can_move_to(Status::InProgress));
        assert!(Status::New.can_move_to(Status::Cancelled));
        let err = Status::Closed
            .check_transition(Status::InProgress)
            .unwrap_err();
        assert!(err.allowed.is_empty());
        let err = Status::New.check_transition(Status::Closed).unwrap_err();
        assert!(err.allowed.contains(&Status::Resolved));
    }

    fn status() -> impl Strategy<Value = Status> {
        prop::sample::select(Status::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn check_transition_agrees_with_next(from in status(), to in status()) {
            let res = from.check_transition(to);
            prop_assert_eq!(res.is_ok(), from.next().contains(&to));
            if let Err(e) = res {
                prop_assert_eq!(e.allowed, from.next().to_vec());
            }
        }

        #[test]
        fn no_status_moves_to_itself(s in status()) {
            prop_assert!(!s.can_move_to(s));
        }

        #[test]
        fn every_walk_ends_in_a_final_state_or_can_continue(steps in prop::collection::vec(0usize..8, 0..40)) {
            let mut s = Status::New;
            for pick in steps {
                let next = s.next();
                if next.is_empty() { prop_assert!(s.is_final()); break; }
                s = next[pick % next.len()];
            }
            // From any reachable state, closed or cancelled is still reachable.
            let mut reach = vec![s];
            let mut i = 0;
            while i < reach.len() {
                for n in reach[i].next() { if !reach.contains(n) { reach.push(*n); } }
                i += 1;
            }
            prop_assert!(reach.iter().any(|x| x.is_final()));
        }

        #[test]
        fn status_strings_round_trip(s in status()) {
            prop_assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
    }
}
