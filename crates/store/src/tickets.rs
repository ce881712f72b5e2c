//! Tickets (incidents and service requests), their comments, attachments and watchers, the
//! per-kind number counters, and stored idempotent responses.

use crate::sql::Sql;
use crate::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: i64,
    pub number: String,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub requester_id: i64,
    pub organization_id: Option<i64>,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub category: Option<String>,
    pub impact: String,
    pub urgency: String,
    pub priority: i64,
    pub priority_reason: Option<String>,
    pub status: String,
    pub pending_reason: Option<String>,
    pub resolution_code: Option<String>,
    pub resolution_notes: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub service_id: Option<i64>,
    pub request_type_id: Option<i64>,
    /// The requester's answers to the request type's form (JSON).
    pub form_answers: Option<String>,
    /// pending, approved or rejected; None when the request needs no approval.
    pub approval_status: Option<String>,
    /// Earliest due time of the running SLA clocks; written by the SLA module only.
    pub sla_due_at: Option<i64>,
    /// The major incident this one is a child of.
    pub parent_id: Option<i64>,
    /// Display names, joined in on reads.
    pub requester_name: String,
    pub organization_name: Option<String>,
    pub team_name: Option<String>,
    pub assignee_name: Option<String>,
    pub service_name: Option<String>,
}

const TICKET_COLUMNS: &str = "SELECT t.id, t.number, t.kind, t.title, t.description, t.requester_id, \
    t.organization_id, t.team_id, t.assignee_id, t.category, t.impact, t.urgency, t.priority, \
    t.priority_reason, t.status, t.pending_reason, t.resolution_code, t.resolution_notes, t.version, \
    t.created_at, t.updated_at, t.resolved_at, t.closed_at, r.name, o.name, tm.name, a.name, \
    t.service_id, t.request_type_id, t.form_answers, t.approval_status, t.sla_due_at, t.parent_id, s.code";

const TICKET_JOINS: &str = " JOIN users r ON r.id = t.requester_id \
    LEFT JOIN organizations o ON o.id = t.organization_id \
    LEFT JOIN teams tm ON tm.id = t.team_id \
    LEFT JOIN users a ON a.id = t.assignee_id \
    LEFT JOIN services s ON s.id = t.service_id";

/// `SELECT … FROM tickets t JOIN …`: the columns of [`Ticket`] with the joined names. With
/// `fts_first` (SQLite search, newest first) the scan starts from the FTS5 index in descending
/// rowid order, so a common word stops after one page instead of collecting every match.
fn ticket_select(fts_first: bool) -> String {
    if fts_first {
        format!("{TICKET_COLUMNS} FROM ticket_search CROSS JOIN tickets t ON t.id = ticket_search.rowid{TICKET_JOINS}")
    } else {
        format!("{TICKET_COLUMNS} FROM tickets t{TICKET_JOINS}")
    }
}

fn ticket(row: &AnyRow) -> sqlx::Result<Ticket> {
    Ok(Ticket {
        id: row.try_get(0)?,
        number: row.try_get(1)?,
        kind: row.try_get(2)?,
        title: row.try_get(3)?,
        description: row.try_get(4)?,
        requester_id: row.try_get(5)?,
        organization_id: row.try_get(6)?,
        team_id: row.try_get(7)?,
        assignee_id: row.try_get(8)?,
        category: row.try_get(9)?,
        impact: row.try_get(10)?,
        urgency: row.try_get(11)?,
        priority: row.try_get(12)?,
        priority_reason: row.try_get(13)?,
        status: row.try_get(14)?,
        pending_reason: row.try_get(15)?,
        resolution_code: row.try_get(16)?,
        resolution_notes: row.try_get(17)?,
        version: row.try_get(18)?,
        created_at: row.try_get(19)?,
        updated_at: row.try_get(20)?,
        resolved_at: row.try_get(21)?,
        closed_at: row.try_get(22)?,
        requester_name: row.try_get(23)?,
        organization_name: row.try_get(24)?,
        team_name: row.try_get(25)?,
        assignee_name: row.try_get(26)?,
        service_id: row.try_get(27)?,
        request_type_id: row.try_get(28)?,
        form_answers: row.try_get(29)?,
        approval_status: row.try_get(30)?,
        sla_due_at: row.try_get(31)?,
        parent_id: row.try_get(32)?,
        service_name: row.try_get(33)?,
    })
}

/// Who is asking, reduced to what limits the tickets they may see.
#[derive(Debug, Clone)]
pub enum Scope {
    All,
    /// Agents and team leads: their teams' tickets, the unassigned triage queue, and tickets
    /// they requested or are assigned.
    Staff {
        user_id: i64,
        team_ids: Vec<i64>,
    },
    /// Requesters: their own tickets, and their organisation's where it allows that.
    Requester {
        user_id: i64,
        organization_id: Option<i64>,
        organization_wide: bool,
    },
}

pub fn push_scope(sql: &mut Sql, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Staff { user_id, team_ids } => {
            sql.push(" AND (t.team_id IS NULL OR t.team_id IN ")
                .bind_list(team_ids.iter().copied())
                .push(" OR t.requester_id = ")
                .bind(*user_id)
                .push(" OR t.assignee_id = ")
                .bind(*user_id)
                .push(")");
        }
        Scope::Requester {
            user_id,
            organization_id,
            organization_wide,
        } => match (organization_id, organization_wide) {
            (Some(org), true) => {
                sql.push(" AND (t.requester_id = ")
                    .bind(*user_id)
                    .push(" OR t.organization_id = ")
                    .bind(*org)
                    .push(")");
            }
            _ => {
                sql.push(" AND t.requester_id = ").bind(*user_id);
            }
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Newest first.
    #[default]
    Newest,
    /// The queue order: priority, then oldest first.
    Priority,
    /// Most recently updated first.
    Updated,
    /// Tickets with a running SLA clock, the soonest due first.
    Due,
}

/// Where the previous page ended, in the sort's own key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Newest {
        id: i64,
    },
    Priority {
        priority: i64,
        created_at: i64,
        id: i64,
    },
    Updated {
        updated_at: i64,
        id: i64,
    },
    Due {
        due_at: i64,
        id: i64,
    },
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub statuses: Vec<String>,
    pub kind: Option<String>,
    pub team_id: Option<i64>,
    /// Only tickets with no team: the triage queue.
    pub triage: bool,
    pub assignee_id: Option<i64>,
    pub unassigned: bool,
    pub requester_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub priority: Option<i64>,
    /// Only tickets whose earliest SLA due time is at or before this instant (breached ones
    /// included): "breaches within N hours".
    pub due_before: Option<i64>,
    /// Segmented search words; every one must match.
    pub words: Vec<String>,
    /// Also search internal notes (staff only).
    pub search_internal: bool,
    pub sort: Sort,
    pub cursor: Option<Cursor>,
    pub limit: i64,
}

fn push_filters(
    sql: &mut Sql,
    backend: crate::Backend,
    scope: &Scope,
    f: &TicketFilter,
    fts_first: bool,
) {
    sql.push(" WHERE 1 = 1");
    push_scope(sql, scope);
    if !f.statuses.is_empty() {
        // Statuses are written as literals, in the order of the partial queue indexes, so that
        // both planners can prove those indexes apply (they cannot see through parameters).
        let known = [
            "new",
            "assigned",
            "in_progress",
            "pending",
            "resolved",
            "closed",
            "cancelled",
        ];
        let list: Vec<String> = known
            .iter()
            .filter(|k| f.statuses.iter().any(|s| s == *k))
            .map(|k| format!("'{k}'"))
            .collect();
        if list.is_empty() {
            sql.push(" AND 1 = 0");
        } else {
            sql.push(&format!(" AND t.status IN ({})", list.join(", ")));
        }
    }
    if let Some(k) = &f.kind {
        sql.push(" AND t.kind = ").bind(k.as_str());
    }
    if let Some(t) = f.team_id {
        sql.push(" AND t.team_id = ").bind(t);
    }
    if f.triage {
        sql.push(" AND t.team_id IS NULL");
    }
    if let Some(a) = f.assignee_id {
        sql.push(" AND t.assignee_id = ").bind(a);
    }
    if f.unassigned {
        sql.push(" AND t.assignee_id IS NULL");
    }
    if let Some(r) = f.requester_id {
        sql.push(" AND t.requester_id = ").bind(r);
    }
    if let Some(o) = f.organization_id {
        sql.push(" AND t.organization_id = ").bind(o);
    }
    if let Some(p) = f.priority {
        sql.push(" AND t.priority = ").bind(p);
    }
    if let Some(d) = f.due_before {
        sql.push(" AND t.sla_due_at <= ").bind(d);
    }
    if f.sort == Sort::Due {
        sql.push(" AND t.sla_due_at IS NOT NULL");
    }
    if fts_first {
        sql.push(" AND ticket_search MATCH ")
            .bind(crate::search::sqlite_match(&f.words, f.search_internal));
    } else if !f.words.is_empty() {
        sql.push(" AND ");
        crate::search::push_ticket_match(sql, backend, &f.words, f.search_internal);
    }
}

/// One page of the tickets `scope` may see that match `f`.
pub async fn list(
    conn: &mut AnyConnection,
    backend: crate::Backend,
    scope: &Scope,
    f: &TicketFilter,
) -> Result<Vec<Ticket>> {
    let fts_first =
        backend == crate::Backend::Sqlite && !f.words.is_empty() && f.sort == Sort::Newest;
    let mut sql = Sql::new(&ticket_select(fts_first));
    push_filters(&mut sql, backend, scope, f, fts_first);
    match &f.cursor {
        None => {}
        Some(Cursor::Newest { id }) if fts_first => {
            sql.push(" AND ticket_search.rowid < ").bind(*id);
        }
        Some(Cursor::Newest { id }) => {
            sql.push(" AND t.id < ").bind(*id);
        }
        Some(Cursor::Priority {
            priority,
            created_at,
            id,
        }) => {
            sql.push(" AND (t.priority, t.created_at, t.id) > (")
                .bind(*priority)
                .push(", ")
                .bind(*created_at)
                .push(", ")
                .bind(*id)
                .push(")");
        }
        Some(Cursor::Updated { updated_at, id }) => {
            sql.push(" AND (t.updated_at, t.id) < (")
                .bind(*updated_at)
                .push(", ")
                .bind(*id)
                .push(")");
        }
        Some(Cursor::Due { due_at, id }) => {
            sql.push(" AND (t.sla_due_at, t.id) > (")
                .bind(*due_at)
                .push(", ")
                .bind(*id)
                .push(")");
        }
    }
    sql.push(match f.sort {
        Sort::Newest if fts_first => " ORDER BY ticket_search.rowid DESC",
        Sort::Newest => " ORDER BY t.id DESC",
        Sort::Priority => " ORDER BY t.priority, t.created_at, t.id",
        Sort::Updated => " ORDER BY t.updated_at DESC, t.id DESC",
        Sort::Due => " ORDER BY t.sla_due_at, t.id",
    });
    sql.push(" LIMIT ").bind(f.limit);
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(ticket).collect::<sqlx::Result<_>>()?)
}

/// How many tickets `scope` may see that match `f` (cursor and limit ignored).
pub async fn count(
    conn: &mut AnyConnection,
    backend: crate::Backend,
    scope: &Scope,
    f: &TicketFilter,
) -> Result<i64> {
    let mut sql = Sql::new("SELECT COUNT(*) FROM tickets t");
    push_filters(&mut sql, backend, scope, f, false);
    let row = sql.query().fetch_one(conn).await?;
    Ok(row.try_get(0)?)
}

/// The ticket, if `scope` may see it.
pub async fn get(conn: &mut AnyConnection, scope: &Scope, id: i64) -> Result<Option<Ticket>> {
    let mut sql = Sql::new(&ticket_select(false));
    sql.push(" WHERE t.id = ").bind(id);
    push_scope(&mut sql, scope);
    let row = sql.query().fetch_optional(conn).await?;
    Ok(row.as_ref().map(ticket).transpose()?)
}

/// The tickets with these ids (any scope), for batch work such as the escalation sweep.
pub async fn get_many(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Ticket>> {
    let mut sql = Sql::new(&ticket_select(false));
    sql.push(" WHERE t.id IN ").bind_list(ids.iter().copied());
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(ticket).collect::<sqlx::Result<_>>()?)
}

/// Whether anyone but the requester has replied publicly: the first response has been given.
pub async fn has_staff_reply(conn: &mut AnyConnection, id: i64, requester_id: i64) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 FROM comments WHERE ticket_id = $1 AND internal = 0 AND author_id <> $2 LIMIT 1",
    )
    .bind(id)
    .bind(requester_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Takes the next number of a kind; the row lock makes it unique across app nodes.
pub async fn next_number(conn: &mut AnyConnection, prefix: &str) -> Result<i64> {
    let row = sqlx::query("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value")
        .bind(prefix)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get(0)?)
}

/// Inserts the ticket (id and joined names are ignored) and returns its id.
pub async fn insert(conn: &mut AnyConnection, t: &Ticket) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO tickets (number, kind, title, description, requester_id, organization_id, team_id, \
         assignee_id, category, impact, urgency, priority, priority_reason, status, pending_reason, \
         resolution_code, resolution_notes, version, created_at, updated_at, resolved_at, closed_at, \
         service_id, request_type_id, form_answers, approval_status, parent_id) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27) RETURNING id",
    )
    .bind(&t.number)
    .bind(&t.kind)
    .bind(&t.title)
    .bind(&t.description)
    .bind(t.requester_id)
    .bind(t.organization_id)
    .bind(t.team_id)
    .bind(t.assignee_id)
    .bind(&t.category)
    .bind(&t.impact)
    .bind(&t.urgency)
    .bind(t.priority)
    .bind(&t.priority_reason)
    .bind(&t.status)
    .bind(&t.pending_reason)
    .bind(&t.resolution_code)
    .bind(&t.resolution_notes)
    .bind(t.version)
    .bind(t.created_at)
    .bind(t.updated_at)
    .bind(t.resolved_at)
    .bind(t.closed_at)
    .bind(t.service_id)
    .bind(t.request_type_id)
    .bind(&t.form_answers)
    .bind(&t.approval_status)
    .bind(t.parent_id)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// Writes every mutable field; `expected_version` guards against a lost update from another
/// node. Returns false when the stored version was not `expected_version`.
pub async fn update(conn: &mut AnyConnection, t: &Ticket, expected_version: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE tickets SET title = $2, description = $3, team_id = $4, assignee_id = $5, category = $6, \
         impact = $7, urgency = $8, priority = $9, priority_reason = $10, status = $11, pending_reason = $12, \
         resolution_code = $13, resolution_notes = $14, version = $15, updated_at = $16, resolved_at = $17, \
         closed_at = $18, organization_id = $19, service_id = $21, approval_status = $22, parent_id = $23 \
         WHERE id = $1 AND version = $20",
    )
    .bind(t.id)
    .bind(&t.title)
    .bind(&t.description)
    .bind(t.team_id)
    .bind(t.assignee_id)
    .bind(&t.category)
    .bind(&t.impact)
    .bind(&t.urgency)
    .bind(t.priority)
    .bind(&t.priority_reason)
    .bind(&t.status)
    .bind(&t.pending_reason)
    .bind(&t.resolution_code)
    .bind(&t.resolution_notes)
    .bind(t.version)
    .bind(t.updated_at)
    .bind(t.resolved_at)
    .bind(t.closed_at)
    .bind(t.organization_id)
    .bind(expected_version)
    .bind(t.service_id)
    .bind(&t.approval_status)
    .bind(t.parent_id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The earliest due time of the ticket's running SLA clocks, kept on the ticket for queues.
pub async fn set_sla_due(conn: &mut AnyConnection, id: i64, due_at: Option<i64>) -> Result<()> {
    sqlx::query("UPDATE tickets SET sla_due_at = $2 WHERE id = $1")
        .bind(id)
        .bind(due_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Bumps version and updated time after a comment or attachment.
pub async fn touch(conn: &mut AnyConnection, id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE tickets SET version = version + 1, updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

// --- comments ---

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: i64,
    pub ticket_id: i64,
    pub author_id: i64,
    pub author_name: String,
    pub body: String,
    pub internal: bool,
    pub created_at: i64,
}

fn comment(row: &AnyRow) -> sqlx::Result<Comment> {
    Ok(Comment {
        id: row.try_get(0)?,
        ticket_id: row.try_get(1)?,
        author_id: row.try_get(2)?,
        author_name: row.try_get(3)?,
        body: row.try_get(4)?,
        internal: row.try_get::<i64, _>(5)? != 0,
        created_at: row.try_get(6)?,
    })
}

pub async fn insert_comment(
    conn: &mut AnyConnection,
    ticket_id: i64,
    author_id: i64,
    body: &str,
    internal: bool,
    now: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO comments (ticket_id, author_id, body, internal, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(ticket_id)
    .bind(author_id)
    .bind(body)
    .bind(internal as i64)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn comments(
    conn: &mut AnyConnection,
    ticket_id: i64,
    include_internal: bool,
) -> Result<Vec<Comment>> {
    let sql = if include_internal {
        "SELECT c.id, c.ticket_id, c.author_id, u.name, c.body, c.internal, c.created_at FROM comments c \
         JOIN users u ON u.id = c.author_id WHERE c.ticket_id = $1 ORDER BY c.id"
    } else {
        "SELECT c.id, c.ticket_id, c.author_id, u.name, c.body, c.internal, c.created_at FROM comments c \
         JOIN users u ON u.id = c.author_id WHERE c.ticket_id = $1 AND c.internal = 0 ORDER BY c.id"
    };
    let rows = sqlx::query(sql).bind(ticket_id).fetch_all(conn).await?;
    Ok(rows.iter().map(comment).collect::<sqlx::Result<_>>()?)
}

pub async fn get_comment(conn: &mut AnyConnection, id: i64) -> Result<Option<Comment>> {
    let row = sqlx::query(
        "SELECT c.id, c.ticket_id, c.author_id, u.name, c.body, c.internal, c.created_at FROM comments c \
         JOIN users u ON u.id = c.author_id WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(comment).transpose()?)
}

// --- attachments ---

#[derive(Debug, Clone)]
pub struct Attachment {
    pub id: i64,
    pub ticket_id: i64,
    pub comment_id: Option<i64>,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_by: i64,
    pub created_at: i64,
}

const ATTACHMENT_COLUMNS: &str =
    "id, ticket_id, comment_id, filename, content_type, size, sha256, uploaded_by, created_at";

fn attachment(row: &AnyRow) -> sqlx::Result<Attachment> {
    Ok(Attachment {
        id: row.try_get(0)?,
        ticket_id: row.try_get(1)?,
        comment_id: row.try_get(2)?,
        filename: row.try_get(3)?,
        content_type: row.try_get(4)?,
        size: row.try_get(5)?,
        sha256: row.try_get(6)?,
        uploaded_by: row.try_get(7)?,
        created_at: row.try_get(8)?,
    })
}

/// The same file already attached by the same person to the same place (a form sent twice).
pub async fn same_attachment(
    conn: &mut AnyConnection,
    a: &Attachment,
) -> Result<Option<Attachment>> {
    let mut sql = Sql::new(&format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE ticket_id = "
    ));
    sql.bind(a.ticket_id)
        .push(" AND sha256 = ")
        .bind(a.sha256.as_str())
        .push(" AND filename = ")
        .bind(a.filename.as_str())
        .push(" AND uploaded_by = ")
        .bind(a.uploaded_by);
    match a.comment_id {
        Some(c) => sql.push(" AND comment_id = ").bind(c),
        None => sql.push(" AND comment_id IS NULL"),
    };
    let row = sql.query().fetch_optional(conn).await?;
    Ok(row.as_ref().map(attachment).transpose()?)
}

pub async fn insert_attachment(conn: &mut AnyConnection, a: &Attachment) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO attachments (ticket_id, comment_id, filename, content_type, size, sha256, uploaded_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(a.ticket_id)
    .bind(a.comment_id)
    .bind(&a.filename)
    .bind(&a.content_type)
    .bind(a.size)
    .bind(&a.sha256)
    .bind(a.uploaded_by)
    .bind(a.created_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn attachments(conn: &mut AnyConnection, ticket_id: i64) -> Result<Vec<Attachment>> {
    let sql =
        format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE ticket_id = $1 ORDER BY id");
    let rows = sqlx::query(&sql).bind(ticket_id).fetch_all(conn).await?;
    Ok(rows.iter().map(attachment).collect::<sqlx::Result<_>>()?)
}

pub async fn get_attachment(conn: &mut AnyConnection, id: i64) -> Result<Option<Attachment>> {
    let sql = format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(attachment).transpose()?)
}

// --- watchers ---

pub async fn watchers(conn: &mut AnyConnection, ticket_id: i64) -> Result<Vec<i64>> {
    let rows =
        sqlx::query("SELECT user_id FROM ticket_watchers WHERE ticket_id = $1 ORDER BY user_id")
            .bind(ticket_id)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?)
}

pub async fn set_watchers(
    conn: &mut AnyConnection,
    ticket_id: i64,
    user_ids: &[i64],
) -> Result<()> {
    sqlx::query("DELETE FROM ticket_watchers WHERE ticket_id = $1")
        .bind(ticket_id)
        .execute(&mut *conn)
        .await?;
    for u in user_ids {
        sqlx::query("INSERT INTO ticket_watchers (ticket_id, user_id) VALUES ($1, $2)")
            .bind(ticket_id)
            .bind(*u)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// --- idempotency ---

#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub request: String,
    pub status: i64,
    pub body: String,
}

pub async fn idempotent_response(
    conn: &mut AnyConnection,
    user_id: i64,
    key: &str,
) -> Result<Option<StoredResponse>> {
    let row = sqlx::query(
        "SELECT request, status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(conn)
    .await?;
    Ok(row
        .map(|r| -> sqlx::Result<StoredResponse> {
            Ok(StoredResponse {
                request: r.try_get(0)?,
                status: r.try_get(1)?,
                body: r.try_get(2)?,
            })
        })
        .transpose()?)
}

pub async fn save_idempotent_response(
    conn: &mut AnyConnection,
    user_id: i64,
    key: &str,
    r: &StoredResponse,
    now: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO idempotency_keys (user_id, key, request, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(user_id)
        .bind(key)
        .bind(&r.request)
        .bind(r.status)
        .bind(&r.body)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

// --- settings ---

pub async fn setting(conn: &mut AnyConnection, key: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Forgets stored create responses older than `before`; a retry after that creates anew.
pub async fn delete_idempotent_responses_before(
    conn: &mut AnyConnection,
    before: i64,
) -> Result<u64> {
    let r = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(r.rows_affected())
}
