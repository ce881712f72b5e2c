//! What the use-cases return: serialisable views shared by the JSON API and the pages.

use serde::{Deserialize, Serialize};
use steward_store::{accounts, audit, tickets};
use utoipa::ToSchema;

/// RFC 3339 in UTC, e.g. 2026-11-25T08:00:00Z.
pub fn instant(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

pub fn parse_instant(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_microsecond())
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// requester, agent, team_lead, service_manager, auditor or admin
    pub role: String,
    pub organization_id: Option<i64>,
    pub team_ids: Vec<i64>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl UserView {
    pub fn new(u: &accounts::User, team_ids: Vec<i64>) -> UserView {
        UserView {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.clone(),
            organization_id: u.organization_id,
            team_ids,
            locale: u.locale.clone(),
            time_zone: u.time_zone.clone(),
            active: u.active,
            created_at: instant(u.created_at),
            updated_at: instant(u.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TeamView {
    pub id: i64,
    pub name: String,
    pub member_ids: Vec<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl TeamView {
    pub fn new(t: &accounts::Team, member_ids: Vec<i64>) -> TeamView {
        TeamView {
            id: t.id,
            name: t.name.clone(),
            member_ids,
            created_at: instant(t.created_at),
            updated_at: instant(t.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrganizationView {
    pub id: i64,
    pub name: String,
    /// Members see each other's tickets.
    pub members_see_each_other: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&accounts::Organization> for OrganizationView {
    fn from(o: &accounts::Organization) -> Self {
        OrganizationView {
            id: o.id,
            name: o.name.clone(),
            members_see_each_other: o.members_see_each_other,
            created_at: instant(o.created_at),
            updated_at: instant(o.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    pub id: i64,
    /// INC-000123 or REQ-000123
    pub number: String,
    /// incident or service_request
    pub kind: String,
    pub title: String,
    pub description: String,
    pub requester_id: i64,
    pub requester_name: String,
    pub organization_id: Option<i64>,
    pub organization_name: Option<String>,
    pub team_id: Option<i64>,
    pub team_name: Option<String>,
    pub assignee_id: Option<i64>,
    pub assignee_name: Option<String>,
    pub category: Option<String>,
    /// high, medium or low
    pub impact: String,
    /// high, medium or low
    pub urgency: String,
    /// P1 (most urgent) to P5
    pub priority: String,
    /// Set when an agent overrode the matrix priority.
    pub priority_reason: Option<String>,
    /// new, assigned, in_progress, pending, resolved, closed or cancelled
    pub status: String,
    /// requester or third_party, while pending
    pub pending_reason: Option<String>,
    pub resolution_code: Option<String>,
    pub resolution_notes: Option<String>,
    pub watcher_ids: Vec<i64>,
    /// The statuses this ticket may move to next.
    pub allowed_transitions: Vec<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    pub service_id: Option<i64>,
    /// The service's code.
    pub service_name: Option<String>,
    /// The catalogue item this request was made from.
    pub request_type_id: Option<i64>,
    /// The answers to the request type's form, by field key.
    #[schema(value_type = Option<Object>)]
    pub form_answers: Option<serde_json::Value>,
    /// pending, approved or rejected; absent when no approval is needed.
    pub approval_status: Option<String>,
    /// The earliest due time of the ticket's running SLA clocks.
    pub sla_due_at: Option<String>,
    /// The major incident this incident is attached to.
    pub parent_id: Option<i64>,
}

impl TicketView {
    pub fn new(t: &tickets::Ticket, watcher_ids: Vec<i64>) -> TicketView {
        let allowed = t
            .status
            .parse::<steward_core::Status>()
            .map(|s| s.next().iter().map(|n| n.as_str().to_string()).collect())
            .unwrap_or_default();
        TicketView {
            id: t.id,
            number: t.number.clone(),
            kind: t.kind.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
            requester_id: t.requester_id,
            requester_name: t.requester_name.clone(),
            organization_id: t.organization_id,
            organization_name: t.organization_name.clone(),
            team_id: t.team_id,
            team_name: t.team_name.clone(),
            assignee_id: t.assignee_id,
            assignee_name: t.assignee_name.clone(),
            category: t.category.clone(),
            impact: t.impact.clone(),
            urgency: t.urgency.clone(),
            priority: steward_core::Priority::from_rank(t.priority)
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            priority_reason: t.priority_reason.clone(),
            status: t.status.clone(),
            pending_reason: t.pending_reason.clone(),
            resolution_code: t.resolution_code.clone(),
            resolution_notes: t.resolution_notes.clone(),
            watcher_ids,
            allowed_transitions: allowed,
            version: t.version,
            created_at: instant(t.created_at),
            updated_at: instant(t.updated_at),
            resolved_at: t.resolved_at.map(instant),
            closed_at: t.closed_at.map(instant),
            service_id: t.service_id,
            service_name: t.service_name.clone(),
            request_type_id: t.request_type_id,
            form_answers: t
                .form_answers
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok()),
            approval_status: t.approval_status.clone(),
            sla_due_at: t.sla_due_at.map(instant),
            parent_id: t.parent_id,
        }
    }

    /// Leaves out what only staff see (the override reason, the watchers).
    pub fn redacted(mut self, staff: bool) -> TicketView {
        if !staff {
            self.priority_reason = None;
            self.watcher_ids.clear();
        }
        self
    }

    /// The ETag of this version.
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttachmentView {
    pub id: i64,
    pub ticket_id: i64,
    pub comment_id: Option<i64>,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_by: i64,
    pub created_at: String,
    /// Served as a download, never inline.
    pub download_url: String,
}

impl From<&tickets::Attachment> for AttachmentView {
    fn from(a: &tickets::Attachment) -> Self {
        AttachmentView {
            id: a.id,
            ticket_id: a.ticket_id,
            comment_id: a.comment_id,
            filename: a.filename.clone(),
            content_type: a.content_type.clone(),
            size: a.size,
            sha256: a.sha256.clone(),
            uploaded_by: a.uploaded_by,
            created_at: instant(a.created_at),
            download_url: format!("/api/v1/attachments/{}", a.id),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommentView {
    pub id: i64,
    pub ticket_id: i64,
    pub author_id: i64,
    pub author_name: String,
    pub body: String,
    /// Internal notes are seen by staff only.
    pub internal: bool,
    pub created_at: String,
    pub attachments: Vec<AttachmentView>,
}

impl CommentView {
    pub fn new(c: &tickets::Comment, attachments: Vec<AttachmentView>) -> CommentView {
        CommentView {
            id: c.id,
            ticket_id: c.ticket_id,
            author_id: c.author_id,
            author_name: c.author_name.clone(),
            body: c.body.clone(),
            internal: c.internal,
            created_at: instant(c.created_at),
            attachments,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    pub seq: i64,
    pub at: String,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    /// web, api, cli, mail or system
    pub channel: String,
    pub action: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

impl HistoryEntry {
    pub fn new(e: &audit::Entry, actor_name: Option<String>) -> HistoryEntry {
        HistoryEntry {
            seq: e.seq,
            at: instant(e.at),
            actor_id: e.actor_id,
            actor_name,
            channel: e.channel.clone(),
            action: e.action.clone(),
            field: e.field.clone(),
            old_value: e.old_value.clone(),
            new_value: e.new_value.clone(),
        }
    }
}

/// A record's audit entries, oldest first, with the names of who made them.
pub(crate) async fn history_of(
    conn: &mut sqlx::AnyConnection,
    entity: &str,
    id: i64,
) -> steward_store::Result<Vec<HistoryEntry>> {
    let entries = audit::entries_for(conn, entity, id).await?;
    let mut names: std::collections::HashMap<i64, Option<String>> = Default::default();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let name = match e.actor_id {
            Some(uid) => {
                if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(uid) {
                    slot.insert(accounts::get_user(conn, uid).await?.map(|u| u.name));
                }
                names.get(&uid).cloned().flatten()
            }
            None => None,
        };
        out.push(HistoryEntry::new(&e, name));
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}
