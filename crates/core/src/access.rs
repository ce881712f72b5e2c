//! Roles are named sets of capabilities. Scope (which teams, which organisation) is applied by
//! the app layer on top of these.

use crate::ticket::string_enum;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Requester,
    Agent,
    TeamLead,
    ServiceManager,
    Auditor,
    Admin,
    /// Owns change enablement: assesses, schedules and reviews changes, runs the CAB.
    ChangeManager,
    /// A member of the change advisory board: an agent who also votes on changes.
    CabMember,
}
string_enum!(Role {
    Requester => "requester",
    Agent => "agent",
    TeamLead => "team_lead",
    ServiceManager => "service_manager",
    Auditor => "auditor",
    Admin => "admin",
    ChangeManager => "change_manager",
    CabMember => "cab_member",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Submit tickets as the requester.
    SubmitTicket,
    /// See tickets of own teams and the unassigned triage queue; work them.
    WorkTickets,
    /// See every ticket of every organisation.
    SeeAllTickets,
    /// Change tickets one can see beyond own requests (status, assignment, priority).
    EditTickets,
    /// Write internal notes and read them.
    InternalNotes,
    /// Assign tickets to any member of own teams (team lead) or anyone (manager).
    AssignTickets,
    /// Override the matrix priority.
    OverridePriority,
    /// Read the audit log.
    ReadAudit,
    /// Users, teams, organisations.
    ManageAccounts,
    /// The service catalogue, request types, calendars, SLAs and OLAs.
    ManageServiceLevels,
    /// SLA attainment and breach reports.
    ViewReports,
    /// Declare a major incident and run its response.
    DeclareMajorIncident,
    /// Open and work problems: link incidents, record root causes and known errors.
    WorkProblems,
    /// Draft and submit requests for change.
    RaiseChanges,
    /// Assess, schedule, review and close changes; freeze periods, standard change templates,
    /// releases and their go-live.
    ManageChanges,
    /// Vote on changes as a member of the CAB (and the emergency CAB).
    ApproveChanges,
    /// Read the CMDB: CIs, relationships, impact.
    ViewCmdb,
    /// Create and edit CI types, CIs and relationships; import them.
    ManageCmdb,
    /// Write knowledge articles and send them for review.
    WriteKnowledge,
    /// Approve articles for publishing, and retire them.
    ReviewKnowledge,
}

impl Role {
    pub fn capabilities(self) -> &'static [Capability] {
        use Capability::*;
        match self {
            Role::Requester => &[SubmitTicket],
            Role::Agent => &[
                SubmitTicket,
                WorkTickets,
                EditTickets,
                InternalNotes,
                AssignTickets,
                OverridePriority,
                DeclareMajorIncident,
                WorkProblems,
                RaiseChanges,
                ViewCmdb,
                WriteKnowledge,
            ],
            Role::CabMember => &[
                SubmitTicket,
                WorkTickets,
                EditTickets,
                InternalNotes,
                AssignTickets,
                OverridePriority,
                DeclareMajorIncident,
                WorkProblems,
                RaiseChanges,
                ApproveChanges,
                ViewCmdb,
                WriteKnowledge,
            ],
            Role::ChangeManager => &[
                SubmitTicket,
                WorkTickets,
                SeeAllTickets,
                EditTickets,
                InternalNotes,
                AssignTickets,
                OverridePriority,
                ViewReports,
                DeclareMajorIncident,
                WorkProblems,
                RaiseChanges,
                ManageChanges,
                ApproveChanges,
                ViewCmdb,
                ManageCmdb,
                WriteKnowledge,
            ],
            Role::TeamLead => &[
                SubmitTicket,
                WorkTickets,
                EditTickets,
                InternalNotes,
                AssignTickets,
                OverridePriority,
                ViewReports,
                DeclareMajorIncident,
                WorkProblems,
                RaiseChanges,
                ViewCmdb,
                WriteKnowledge,
                ReviewKnowledge,
            ],
            Role::ServiceManager => &[
                SubmitTicket,
                WorkTickets,
                SeeAllTickets,
                EditTickets,
                InternalNotes,
                AssignTickets,
                OverridePriority,
                ReadAudit,
                ManageServiceLevels,
                ViewReports,
                DeclareMajorIncident,
                WorkProblems,
                RaiseChanges,
                ManageChanges,
                ViewCmdb,
                ManageCmdb,
                WriteKnowledge,
                ReviewKnowledge,
            ],
            Role::Auditor => &[
                SeeAllTickets,
                InternalNotes,
                ReadAudit,
                ViewReports,
                ViewCmdb,
            ],
            Role::Admin => &[
                SubmitTicket,
                WorkTickets,
                SeeAllTickets,
                EditTickets,
                InternalNotes,
                AssignTickets,
                OverridePriority,
                ReadAudit,
                ManageAccounts,
                ManageServiceLevels,
                ViewReports,
                DeclareMajorIncident,
                WorkProblems,
                RaiseChanges,
                ManageChanges,
                ViewCmdb,
                ManageCmdb,
                WriteKnowledge,
                ReviewKnowledge,
            ],
        }
    }

    pub fn can(self, cap: Capability) -> bool {
        self.capabilities().contains(&cap)
    }

    /// Staff work in the agent workspace; requesters use the portal.
    pub fn is_staff(self) -> bool {
        self != Role::Requester
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auditor_changes_nothing() {
        for cap in [
            Capability::EditTickets,
            Capability::ManageAccounts,
            Capability::SubmitTicket,
        ] {
            assert!(!Role::Auditor.can(cap));
        }
        assert!(Role::Auditor.can(Capability::SeeAllTickets));
    }

    #[test]
    fn requesters_never_read_internal_notes() {
        assert!(!Role::Requester.can(Capability::InternalNotes));
        assert!(!Role::Requester.is_staff());
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(*r));
        }
    }
}
