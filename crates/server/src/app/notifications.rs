//! The in-app notification list: SLA warnings and breaches, major incident pages, approvals
//! wanted. Each user sees and marks only their own.

use super::views::instant;
use super::{now, Actor, App, AppError, AppResult};
use serde::{Deserialize, Serialize};
use steward_store::sla as store;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    /// sla_warning, sla_breach, major_incident_paged, major_incident_update, ...
    pub kind: String,
    pub ticket_id: Option<i64>,
    pub ticket_number: Option<String>,
    /// The values the message shows (number, title, metric, due_at, ...).
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    pub created_at: String,
    pub read_at: Option<String>,
}

impl From<&store::Notification> for NotificationView {
    fn from(n: &store::Notification) -> Self {
        NotificationView {
            id: n.id,
            kind: n.kind.clone(),
            ticket_id: n.ticket_id,
            ticket_number: n.ticket_number.clone(),
            params: serde_json::from_str(&n.params).unwrap_or(serde_json::Value::Null),
            created_at: instant(n.created_at),
            read_at: n.read_at.map(instant),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Only unread ones.
    pub unread: Option<bool>,
    /// 1..200, default 50
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub async fn list(
    app: &App,
    actor: &Actor,
    q: &NotificationQuery,
) -> AppResult<super::views::Page<NotificationView>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 200"));
    }
    let before = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| AppError::invalid("cursor", "is not a cursor from this listing"))
        })
        .transpose()?;
    let mut conn = app.read().await?;
    let rows = store::notifications_of(
        &mut conn,
        actor.user_id,
        q.unread.unwrap_or(false),
        before,
        limit,
    )
    .await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|n| n.id.to_string()))
        .flatten();
    Ok(super::views::Page {
        items: rows.iter().map(NotificationView::from).collect(),
        next_cursor,
    })
}

pub async fn unread_count(app: &App, actor: &Actor) -> AppResult<i64> {
    let mut conn = app.read().await?;
    Ok(store::unread_count(&mut conn, actor.user_id).await?)
}

/// Marks one notification read (404 if it is not the actor's), or all with None.
pub async fn mark_read(app: &App, actor: &Actor, id: Option<i64>) -> AppResult<u64> {
    let user = actor.user_id;
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let n = store::mark_read(&mut ctx.conn, user, id, now()).await?;
                if id.is_some() && n == 0 {
                    // Nothing changed: already read, or not the actor's (then it is not there).
                    let exists =
                        sqlx::query("SELECT 1 FROM notifications WHERE id = $1 AND user_id = $2")
                            .bind(id)
                            .bind(user)
                            .fetch_optional(&mut ctx.conn)
                            .await
                            .map_err(steward_store::StoreError::from)?
                            .is_some();
                    if !exists {
                        return Err(AppError::NotFound);
                    }
                }
                Ok(n)
            })
        })
        .await
}
