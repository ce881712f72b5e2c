//! The service catalogue: services, their customer organisations and related services,
//! request types (catalogue items with a form) and their approvers, and the approvals of
//! requests made from them.

use crate::sql::Sql;
use crate::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone)]
pub struct Service {
    pub id: i64,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub description_zh: String,
    pub description_en: String,
    pub owner_id: Option<i64>,
    pub team_id: Option<i64>,
    pub lifecycle: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const SERVICE_COLUMNS: &str = "id, code, name_zh, name_en, description_zh, description_en, \
    owner_id, team_id, lifecycle, version, created_at, updated_at";

fn service(row: &AnyRow) -> sqlx::Result<Service> {
    Ok(Service {
        id: row.try_get(0)?,
        code: row.try_get(1)?,
        name_zh: row.try_get(2)?,
        name_en: row.try_get(3)?,
        description_zh: row.try_get(4)?,
        description_en: row.try_get(5)?,
        owner_id: row.try_get(6)?,
        team_id: row.try_get(7)?,
        lifecycle: row.try_get(8)?,
        version: row.try_get(9)?,
        created_at: row.try_get(10)?,
        updated_at: row.try_get(11)?,
    })
}

pub async fn insert_service(conn: &mut AnyConnection, s: &Service) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO services (code, name_zh, name_en, description_zh, description_en, owner_id, \
         team_id, lifecycle, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(&s.code)
    .bind(&s.name_zh)
    .bind(&s.name_en)
    .bind(&s.description_zh)
    .bind(&s.description_en)
    .bind(s.owner_id)
    .bind(s.team_id)
    .bind(&s.lifecycle)
    .bind(s.version)
    .bind(s.created_at)
    .bind(s.updated_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// Writes the service if it is still at `expected_version`; false when it changed meanwhile.
pub async fn update_service(
    conn: &mut AnyConnection,
    s: &Service,
    expected_version: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE services SET code = $2, name_zh = $3, name_en = $4, description_zh = $5, \
         description_en = $6, owner_id = $7, team_id = $8, lifecycle = $9, version = $10, \
         updated_at = $11 WHERE id = $1 AND version = $12",
    )
    .bind(s.id)
    .bind(&s.code)
    .bind(&s.name_zh)
    .bind(&s.name_en)
    .bind(&s.description_zh)
    .bind(&s.description_en)
    .bind(s.owner_id)
    .bind(s.team_id)
    .bind(&s.lifecycle)
    .bind(s.version)
    .bind(s.updated_at)
    .bind(expected_version)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn get_service(conn: &mut AnyConnection, id: i64) -> Result<Option<Service>> {
    let sql = format!("SELECT {SERVICE_COLUMNS} FROM services WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(service).transpose()?)
}

pub async fn service_by_code(conn: &mut AnyConnection, code: &str) -> Result<Option<Service>> {
    let sql = format!("SELECT {SERVICE_COLUMNS} FROM services WHERE code = $1");
    let row = sqlx::query(&sql).bind(code).fetch_optional(conn).await?;
    Ok(row.as_ref().map(service).transpose()?)
}

/// Which services a listing shows.
#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    /// Only services this organisation subscribes to.
    pub customer: Option<i64>,
    /// Only these lifecycle states.
    pub lifecycle: Option<String>,
}

pub async fn list_services(conn: &mut AnyConnection, f: &ServiceFilter) -> Result<Vec<Service>> {
    let mut sql = Sql::new(&format!(
        "SELECT {SERVICE_COLUMNS} FROM services WHERE 1 = 1"
    ));
    if let Some(o) = f.customer {
        sql.push(" AND id IN (SELECT service_id FROM service_customers WHERE organization_id = ")
            .bind(o)
            .push(")");
    }
    if let Some(l) = &f.lifecycle {
        sql.push(" AND lifecycle = ").bind(l.as_str());
    }
    sql.push(" ORDER BY code");
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(service).collect::<sqlx::Result<_>>()?)
}

async fn ids(conn: &mut AnyConnection, sql: &str, id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query(sql).bind(id).fetch_all(conn).await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?)
}

pub async fn customer_ids(conn: &mut AnyConnection, service_id: i64) -> Result<Vec<i64>> {
    ids(
        conn,
        "SELECT organization_id FROM service_customers WHERE service_id = $1 ORDER BY organization_id",
        service_id,
    )
    .await
}

pub async fn is_customer(conn: &mut AnyConnection, service_id: i64, org_id: i64) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 FROM service_customers WHERE service_id = $1 AND organization_id = $2",
    )
    .bind(service_id)
    .bind(org_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

pub async fn set_customers(conn: &mut AnyConnection, service_id: i64, orgs: &[i64]) -> Result<()> {
    sqlx::query("DELETE FROM service_customers WHERE service_id = $1")
        .bind(service_id)
        .execute(&mut *conn)
        .await?;
    for o in orgs {
        sqlx::query("INSERT INTO service_customers (service_id, organization_id) VALUES ($1, $2)")
            .bind(service_id)
            .bind(*o)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn related_ids(conn: &mut AnyConnection, service_id: i64) -> Result<Vec<i64>> {
    ids(
        conn,
        "SELECT related_id FROM service_relations WHERE service_id = $1 ORDER BY related_id",
        service_id,
    )
    .await
}

pub async fn set_relations(
    conn: &mut AnyConnection,
    service_id: i64,
    related: &[i64],
) -> Result<()> {
    sqlx::query("DELETE FROM service_relations WHERE service_id = $1")
        .bind(service_id)
        .execute(&mut *conn)
        .await?;
    for r in related {
        sqlx::query("INSERT INTO service_relations (service_id, related_id) VALUES ($1, $2)")
            .bind(service_id)
            .bind(*r)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// --- request types ---

#[derive(Debug, Clone)]
pub struct RequestType {
    pub id: i64,
    pub service_id: i64,
    pub name_zh: String,
    pub name_en: String,
    pub description_zh: String,
    pub description_en: String,
    /// core's form definition as JSON.
    pub form: String,
    /// none, team_lead, any or all
    pub approval_rule: String,
    pub active: bool,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const REQUEST_TYPE_COLUMNS: &str = "id, service_id, name_zh, name_en, description_zh, \
    description_en, form, approval_rule, active, version, created_at, updated_at";

fn request_type(row: &AnyRow) -> sqlx::Result<RequestType> {
    Ok(RequestType {
        id: row.try_get(0)?,
        service_id: row.try_get(1)?,
        name_zh: row.try_get(2)?,
        name_en: row.try_get(3)?,
        description_zh: row.try_get(4)?,
        description_en: row.try_get(5)?,
        form: row.try_get(6)?,
        approval_rule: row.try_get(7)?,
        active: row.try_get::<i64, _>(8)? != 0,
        version: row.try_get(9)?,
        created_at: row.try_get(10)?,
        updated_at: row.try_get(11)?,
    })
}

pub async fn insert_request_type(conn: &mut AnyConnection, r: &RequestType) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO request_types (service_id, name_zh, name_en, description_zh, description_en, \
         form, approval_rule, active, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(r.service_id)
    .bind(&r.name_zh)
    .bind(&r.name_en)
    .bind(&r.description_zh)
    .bind(&r.description_en)
    .bind(&r.form)
    .bind(&r.approval_rule)
    .bind(r.active as i64)
    .bind(r.version)
    .bind(r.created_at)
    .bind(r.updated_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn update_request_type(
    conn: &mut AnyConnection,
    r: &RequestType,
    expected_version: i64,
) -> Result<bool> {
    let res = sqlx::query(
        "UPDATE request_types SET name_zh = $2, name_en = $3, description_zh = $4, \
         description_en = $5, form = $6, approval_rule = $7, active = $8, version = $9, \
         updated_at = $10 WHERE id = $1 AND version = $11",
    )
    .bind(r.id)
    .bind(&r.name_zh)
    .bind(&r.name_en)
    .bind(&r.description_zh)
    .bind(&r.description_en)
    .bind(&r.form)
    .bind(&r.approval_rule)
    .bind(r.active as i64)
    .bind(r.version)
    .bind(r.updated_at)
    .bind(expected_version)
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn get_request_type(conn: &mut AnyConnection, id: i64) -> Result<Option<RequestType>> {
    let sql = format!("SELECT {REQUEST_TYPE_COLUMNS} FROM request_types WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(request_type).transpose()?)
}

pub async fn list_request_types(
    conn: &mut AnyConnection,
    service_id: i64,
    active_only: bool,
) -> Result<Vec<RequestType>> {
    let mut sql = Sql::new(&format!(
        "SELECT {REQUEST_TYPE_COLUMNS} FROM request_types WHERE service_id = "
    ));
    sql.bind(service_id);
    if active_only {
        sql.push(" AND active = 1");
    }
    sql.push(" ORDER BY id");
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(request_type).collect::<sqlx::Result<_>>()?)
}

pub async fn approver_ids(conn: &mut AnyConnection, request_type_id: i64) -> Result<Vec<i64>> {
    ids(
        conn,
        "SELECT user_id FROM request_type_approvers WHERE request_type_id = $1 ORDER BY user_id",
        request_type_id,
    )
    .await
}

pub async fn set_approvers(
    conn: &mut AnyConnection,
    request_type_id: i64,
    users: &[i64],
) -> Result<()> {
    sqlx::query("DELETE FROM request_type_approvers WHERE request_type_id = $1")
        .bind(request_type_id)
        .execute(&mut *conn)
        .await?;
    for u in users {
        sqlx::query(
            "INSERT INTO request_type_approvers (request_type_id, user_id) VALUES ($1, $2)",
        )
        .bind(request_type_id)
        .bind(*u)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Active team leads of a team: who approves under the team_lead rule.
pub async fn team_lead_ids(conn: &mut AnyConnection, team_id: i64) -> Result<Vec<i64>> {
    ids(
        conn,
        "SELECT u.id FROM users u JOIN team_members m ON m.user_id = u.id \
         WHERE m.team_id = $1 AND u.role = 'team_lead' AND u.active = 1 ORDER BY u.id",
        team_id,
    )
    .await
}

// --- approvals ---

#[derive(Debug, Clone)]
pub struct Approval {
    pub id: i64,
    pub ticket_id: i64,
    pub approver_id: i64,
    pub rule: String,
    /// None while undecided; approved or rejected.
    pub decision: Option<String>,
    pub comment: Option<String>,
    pub decided_at: Option<i64>,
    pub created_at: i64,
    /// Joined in on reads.
    pub approver_name: String,
    pub ticket_number: String,
    pub ticket_title: String,
    pub ticket_approval_status: Option<String>,
}

const APPROVAL_SELECT: &str = "SELECT ap.id, ap.ticket_id, ap.approver_id, ap.rule, ap.decision, \
    ap.comment, ap.decided_at, ap.created_at, u.name, t.number, t.title, t.approval_status \
    FROM approvals ap JOIN users u ON u.id = ap.approver_id JOIN tickets t ON t.id = ap.ticket_id";

fn approval(row: &AnyRow) -> sqlx::Result<Approval> {
    Ok(Approval {
        id: row.try_get(0)?,
        ticket_id: row.try_get(1)?,
        approver_id: row.try_get(2)?,
        rule: row.try_get(3)?,
        decision: row.try_get(4)?,
        comment: row.try_get(5)?,
        decided_at: row.try_get(6)?,
        created_at: row.try_get(7)?,
        approver_name: row.try_get(8)?,
        ticket_number: row.try_get(9)?,
        ticket_title: row.try_get(10)?,
        ticket_approval_status: row.try_get(11)?,
    })
}

pub async fn insert_approval(
    conn: &mut AnyConnection,
    ticket_id: i64,
    approver_id: i64,
    rule: &str,
    now: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO approvals (ticket_id, approver_id, rule, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(ticket_id)
    .bind(approver_id)
    .bind(rule)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn get_approval(conn: &mut AnyConnection, id: i64) -> Result<Option<Approval>> {
    let sql = format!("{APPROVAL_SELECT} WHERE ap.id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(approval).transpose()?)
}

pub async fn approvals_of_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<Approval>> {
    let sql = format!("{APPROVAL_SELECT} WHERE ap.ticket_id = $1 ORDER BY ap.id");
    let rows = sqlx::query(&sql).bind(ticket_id).fetch_all(conn).await?;
    Ok(rows.iter().map(approval).collect::<sqlx::Result<_>>()?)
}

/// Which of an approver's approvals to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalState {
    /// Undecided, on an open request still awaiting approval.
    Pending,
    /// Decided by this approver.
    Decided,
    All,
}

pub async fn list_approvals(
    conn: &mut AnyConnection,
    approver_id: i64,
    state: ApprovalState,
    limit: i64,
) -> Result<Vec<Approval>> {
    let mut sql = Sql::new(&format!("{APPROVAL_SELECT} WHERE ap.approver_id = "));
    sql.bind(approver_id);
    match state {
        ApprovalState::Pending => {
            sql.push(
                " AND ap.decision IS NULL AND t.approval_status = 'pending' \
                 AND t.status IN ('new', 'assigned', 'in_progress', 'pending')",
            );
        }
        ApprovalState::Decided => {
            sql.push(" AND ap.decision IS NOT NULL");
        }
        ApprovalState::All => {}
    }
    sql.push(" ORDER BY ap.id DESC LIMIT ").bind(limit);
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(approval).collect::<sqlx::Result<_>>()?)
}

/// Records a decision on an undecided approval; false when it was already decided.
pub async fn decide(
    conn: &mut AnyConnection,
    id: i64,
    decision: &str,
    comment: Option<&str>,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE approvals SET decision = $2, comment = $3, decided_at = $4 \
         WHERE id = $1 AND decision IS NULL",
    )
    .bind(id)
    .bind(decision)
    .bind(comment)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
