//! Typed links between any two records (a ticket, problem, change, release, CI or article).
//! A link is stored once, from `source` to `target`; the target shows it under the inverse
//! name ("caused by" on one side reads "causes" on the other).

use crate::ticket::string_enum;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The kinds of record a link can join. Incidents and service requests are both `ticket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Ticket,
    Problem,
    Change,
    Release,
    Ci,
    Article,
}
string_enum!(RecordKind {
    Ticket => "ticket",
    Problem => "problem",
    Change => "change",
    Release => "release",
    Ci => "ci",
    Article => "article",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkType {
    /// The source was caused by the target (an incident caused by a problem or a change).
    CausedBy,
    /// The source duplicates the target.
    Duplicates,
    Related,
    /// The source was resolved by the target (a problem resolved by a change, a ticket by an
    /// article).
    ResolvedBy,
}
string_enum!(LinkType {
    CausedBy => "caused_by",
    Duplicates => "duplicates",
    Related => "related",
    ResolvedBy => "resolved_by",
});

/// How a link reads from one of its two ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkDirection {
    /// Seen from the source: "caused by", "duplicates", "related", "resolved by".
    Outgoing,
    /// Seen from the target: "causes", "duplicated by", "related", "resolves".
    Incoming,
}

impl LinkType {
    /// The label key (Fluent) for this link seen from one end, e.g. `link-caused_by` or
    /// `link-caused_by-inverse`.
    pub fn label_key(self, direction: LinkDirection) -> String {
        match (self, direction) {
            (LinkType::Related, _) | (_, LinkDirection::Outgoing) => format!("link-{}", self),
            (_, LinkDirection::Incoming) => format!("link-{}-inverse", self),
        }
    }
}

/// Whether two records may be linked: a record never links to itself.
pub fn check_link(
    source: (RecordKind, i64),
    target: (RecordKind, i64),
) -> Result<(), &'static str> {
    if source == target {
        Err("a record cannot be linked to itself")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_never_links_to_itself() {
        assert!(check_link((RecordKind::Ticket, 1), (RecordKind::Ticket, 1)).is_err());
        assert!(check_link((RecordKind::Ticket, 1), (RecordKind::Problem, 1)).is_ok());
        assert!(check_link((RecordKind::Ticket, 1), (RecordKind::Ticket, 2)).is_ok());
    }

    #[test]
    fn related_reads_the_same_from_both_ends() {
        assert_eq!(
            LinkType::Related.label_key(LinkDirection::Incoming),
            LinkType::Related.label_key(LinkDirection::Outgoing)
        );
        assert_eq!(
            LinkType::CausedBy.label_key(LinkDirection::Incoming),
            "link-caused_by-inverse"
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in RecordKind::ALL {
            assert_eq!(k.as_str().parse::<RecordKind>(), Ok(*k));
        }
        for t in LinkType::ALL {
            assert_eq!(t.as_str().parse::<LinkType>(), Ok(*t));
        }
    }
}
