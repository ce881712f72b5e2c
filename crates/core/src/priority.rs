//! Impact × urgency → priority, as ITIL describes it; the matrix is configurable.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Impact and urgency share one three-step scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    High,
    Medium,
    Low,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::High, Level::Medium, Level::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::High => "high",
            Level::Medium => "medium",
            Level::Low => "low",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for Level {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Level::ALL.into_iter().find(|l| l.as_str() == s).ok_or(())
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// P1 is the most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    P1 = 1,
    P2 = 2,
    P3 = 3,
    P4 = 4,
    P5 = 5,
}

impl Priority {
    pub const ALL: [Priority; 5] = [
        Priority::P1,
        Priority::P2,
        Priority::P3,
        Priority::P4,
        Priority::P5,
    ];

    pub fn rank(self) -> i64 {
        self as i64
    }

    pub fn from_rank(rank: i64) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.rank() == rank)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
            Priority::P5 => "P5",
        }
    }
}

impl FromStr for Priority {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `cells[impact][urgency]`, rows and columns in the order high, medium, low.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityMatrix {
    cells: [[Priority; 3]; 3],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MatrixError {
    #[error("a higher impact or urgency must never give a lower priority")]
    NotMonotonic,
}

impl Default for PriorityMatrix {
    /// The ITIL default: the priority falls one step for each step of impact or urgency.
    fn default() -> Self {
        use Priority::*;
        PriorityMatrix {
            cells: [[P1, P2, P3], [P2, P3, P4], [P3, P4, P5]],
        }
    }
}

impl PriorityMatrix {
    /// A custom matrix is accepted only when raising impact or urgency never lowers priority,
    /// so that a matrix edit cannot make a worse outage less urgent.
    pub fn new(cells: [[Priority; 3]; 3]) -> Result<Self, MatrixError> {
        for i in 0..3 {
            for u in 0..3 {
                if (i > 0 && cells[i][u] < cells[i - 1][u])
                    || (u > 0 && cells[i][u] < cells[i][u - 1])
                {
                    return Err(MatrixError::NotMonotonic);
                }
            }
        }
        Ok(PriorityMatrix { cells })
    }

    pub fn priority(&self, impact: Level, urgency: Level) -> Priority {
        self.cells[impact.index()][urgency.index()]
    }

    pub fn cells(&self) -> &[[Priority; 3]; 3] {
        &self.cells
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_matrix_is_itil() {
        use Level::*;
        use Priority::*;
        let m = PriorityMatrix::default();
        let expected = [
            (High, High, P1),
            (High, Medium, P2),
            (Medium, High, P2),
            (High, Low, P3),
            (Medium, Medium, P3),
            (Low, High, P3),
            (Medium, Low, P4),
            (Low, Medium, P4),
            (Low, Low, P5),
        ];
        for (i, u, p) in expected {
            assert_eq!(m.priority(i, u), p, "{i} x {u}");
        }
    }

    #[test]
    fn non_monotonic_matrix_is_refused() {
        use Priority::*;
        let cells = [[P3, P2, P3], [P2, P3, P4], [P3, P4, P5]];
        assert_eq!(PriorityMatrix::new(cells), Err(MatrixError::NotMonotonic));
    }

    fn level() -> impl Strategy<Value = Level> {
        prop::sample::select(Level::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn raising_impact_or_urgency_never_lowers_priority(i in level(), u in level(), j in level(), v in level()) {
            let m = PriorityMatrix::default();
            if i <= j && u <= v {
                // `<=` on Level means "at least as severe" because High sorts first.
                prop_assert!(m.priority(i, u) <= m.priority(j, v));
            }
        }

        #[test]
        fn priority_strings_round_trip(rank in 1i64..=5) {
            let p = Priority::from_rank(rank).unwrap();
            prop_assert_eq!(p.as_str().parse::<Priority>(), Ok(p));
        }
    }
}
