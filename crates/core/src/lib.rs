//! Steward's pure domain: ticket types, the status lifecycle, the priority matrix, roles and
//! their capabilities, and input validation. No IO, no async, no SQL.

pub mod access;
pub mod calendar;
pub mod change;
pub mod cmdb;
pub mod form;
pub mod knowledge;
pub mod link;
pub mod priority;
pub mod problem;
pub mod release;
pub mod sla;
pub mod text;
pub mod ticket;

pub use access::{Capability, Role};
pub use calendar::{CalendarError, CalendarSpec, DatedDay, DayInfo, DayReason, WorkingCalendar};
pub use link::{LinkDirection, LinkType, RecordKind};
pub use priority::{Level, Priority, PriorityMatrix};
pub use sla::{Clock, ClockState, ClockStatus};
pub use ticket::{Channel, PendingReason, Status, TicketKind, TransitionError};
