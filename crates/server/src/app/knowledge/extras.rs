//! Around the articles: categories (a tree with Chinese and English names, kept by reviewers),
//! ratings (one vote per reader, changeable) and links from the tickets an article solved.

use super::{visible_article, ArticleSummary};
use crate::app::error::text_field;
use crate::app::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use steward_core::text::{multi_line, single_line};
use steward_core::{Capability, LinkType, RecordKind};
use steward_store::knowledge::{self as store, Category, Rating};
use steward_store::links::{self, Link};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CategoryView {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name_zh: String,
    pub name_en: String,
    /// 0 for a top-level category.
    pub depth: usize,
}

impl CategoryView {
    pub fn name(&self, zh: &bool) -> &str {
        if *zh && !self.name_zh.is_empty() {
            &self.name_zh
        } else {
            &self.name_en
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    pub name_zh: String,
    pub name_en: String,
    pub parent_id: Option<i64>,
}

/// The category tree in display order: each category followed by the ones below it.
pub async fn list_categories(app: &App) -> AppResult<Vec<CategoryView>> {
    let mut conn = app.read().await?;
    let all = store::categories(&mut conn).await?;
    let mut out = Vec::with_capacity(all.len());
    fn walk(all: &[Category], parent: Option<i64>, depth: usize, out: &mut Vec<CategoryView>) {
        for c in all.iter().filter(|c| c.parent_id == parent) {
            if out.iter().any(|o: &CategoryView| o.id == c.id) || depth > 16 {
                continue;
            }
            out.push(CategoryView {
                id: c.id,
                parent_id: c.parent_id,
                name_zh: c.name_zh.clone(),
                name_en: c.name_en.clone(),
                depth,
            });
            walk(all, Some(c.id), depth + 1, out);
        }
    }
    walk(&all, None, 0, &mut out);
    Ok(out)
}

fn check_category(input: &CategoryInput) -> AppResult<(String, String)> {
    Ok((
        text_field("name_zh", single_line(&input.name_zh, 100))?,
        text_field("name_en", single_line(&input.name_en, 100))?,
    ))
}

pub async fn create_category(
    app: &App,
    actor: &Actor,
    input: CategoryInput,
) -> AppResult<CategoryView> {
    actor.require(Capability::ReviewKnowledge)?;
    let (name_zh, name_en) = check_category(&input)?;
    let actor = actor.clone();
    let parent_id = input.parent_id;
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let mut depth = 0;
                if let Some(p) = parent_id {
                    let mut cur = store::get_category(&mut ctx.conn, p)
                        .await?
                        .ok_or_else(|| AppError::invalid("parent_id", "no such category"))?;
                    depth = 1;
                    while let Some(up) = cur.parent_id {
                        depth += 1;
                        cur = store::get_category(&mut ctx.conn, up)
                            .await?
                            .ok_or_else(|| AppError::Internal("broken category tree".into()))?;
                    }
                    if depth > 5 {
                        return Err(AppError::invalid(
                            "parent_id",
                            "must be at most 5 levels deep",
                        ));
                    }
                }
                let at = now();
                let mut c = Category {
                    id: 0,
                    parent_id,
                    name_zh,
                    name_en,
                    created_at: at,
                };
                c.id = store::insert_category(&mut ctx.conn, &c).await?;
                AuditTrail::new(&actor, "knowledge_category", c.id, at)
                    .record(
                        ctx,
                        "create",
                        None,
                        None,
                        Some(format!("{} / {}", c.name_zh, c.name_en)),
                    )
                    .await?;
                Ok(CategoryView {
                    id: c.id,
                    parent_id: c.parent_id,
                    name_zh: c.name_zh,
                    name_en: c.name_en,
                    depth,
                })
            })
        })
        .await
}

/// Renames a category (its place in the tree stays).
pub async fn rename_category(
    app: &App,
    actor: &Actor,
    id: i64,
    input: CategoryInput,
) -> AppResult<()> {
    actor.require(Capability::ReviewKnowledge)?;
    let (name_zh, name_en) = check_category(&input)?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = store::get_category(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                if input.parent_id != old.parent_id {
                    return Err(AppError::invalid("parent_id", "cannot be changed"));
                }
                let c = Category {
                    name_zh,
                    name_en,
                    ..old.clone()
                };
                store::update_category(&mut ctx.conn, &c).await?;
                AuditTrail::new(&actor, "knowledge_category", id, now())
                    .changes(
                        ctx,
                        &[
                            ("name_zh", Some(old.name_zh), Some(c.name_zh.clone())),
                            ("name_en", Some(old.name_en), Some(c.name_en.clone())),
                        ],
                    )
                    .await?;
                Ok(())
            })
        })
        .await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingInput {
    pub helpful: bool,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RatingView {
    pub helpful: i64,
    pub not_helpful: i64,
    pub my_rating: Option<bool>,
}

/// The reader's vote on a live article; a second vote replaces the first.
pub async fn rate(app: &App, actor: &Actor, id: i64, input: RatingInput) -> AppResult<RatingView> {
    {
        let mut conn = app.read().await?;
        let a = visible_article(&mut conn, actor, id).await?;
        if a.published_version.is_none() {
            return Err(AppError::Conflict {
                message: "only live articles are rated".into(),
                allowed: None,
            });
        }
    }
    actor.require(Capability::SubmitTicket)?;
    let comment = text_field("comment", multi_line(&input.comment, 2_000, false))?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let at = now();
                let old = store::rating(&mut ctx.conn, id, actor.user_id).await?;
                let r = Rating {
                    helpful: input.helpful,
                    comment,
                    rated_at: at,
                };
                store::rate(&mut ctx.conn, id, actor.user_id, &r).await?;
                let trail = AuditTrail::new(&actor, "article", id, at);
                trail
                    .record(
                        ctx,
                        "rate",
                        Some("helpful"),
                        old.map(|o| o.helpful.to_string()),
                        Some(r.helpful.to_string()),
                    )
                    .await?;
                let (helpful, not_helpful) = store::rating_counts(&mut ctx.conn, id).await?;
                Ok(RatingView {
                    helpful,
                    not_helpful,
                    my_rating: Some(r.helpful),
                })
            })
        })
        .await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketLinkInput {
    pub ticket_id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LinkedTicket {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub status: String,
}

/// Records that an article solved a ticket (ticket resolved_by article). Staff who see the
/// ticket; the article must be live.
pub async fn link_ticket(
    app: &App,
    actor: &Actor,
    id: i64,
    input: TicketLinkInput,
) -> AppResult<Vec<LinkedTicket>> {
    {
        let mut conn = app.read().await?;
        let a = visible_article(&mut conn, actor, id).await?;
        actor.require(Capability::WorkTickets)?;
        actor
            .visible_ticket(&mut conn, input.ticket_id)
            .await
            .map_err(|e| match e {
                AppError::NotFound => AppError::invalid("ticket_id", "no such ticket"),
                e => e,
            })?;
        if a.published_version.is_none() {
            return Err(AppError::Conflict {
                message: "only live articles are linked to tickets".into(),
                allowed: None,
            });
        }
    }
    let actor_ = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let at = now();
                let l = Link {
                    id: 0,
                    source_kind: RecordKind::Ticket.as_str().into(),
                    source_id: input.ticket_id,
                    target_kind: RecordKind::Article.as_str().into(),
                    target_id: id,
                    link_type: LinkType::ResolvedBy.as_str().into(),
                    created_by: actor_.user_id,
                    created_at: at,
                };
                if links::insert(&mut ctx.conn, &l).await?.is_some() {
                    AuditTrail::new(&actor_, "article", id, at)
                        .record(
                            ctx,
                            "link_ticket",
                            Some("ticket_id"),
                            None,
                            Some(input.ticket_id.to_string()),
                        )
                        .await?;
                }
                Ok::<(), AppError>(())
            })
        })
        .await?;
    linked_tickets(app, actor, id).await
}

/// The tickets an article solved that the actor may see (staff).
pub async fn linked_tickets(app: &App, actor: &Actor, id: i64) -> AppResult<Vec<LinkedTicket>> {
    let mut conn = app.read().await?;
    visible_article(&mut conn, actor, id).await?;
    if !actor.role.is_staff() {
        return Err(AppError::NotFound);
    }
    let mut out = Vec::new();
    for t in store::linked_tickets(&mut conn, id).await? {
        if let Ok(t) = actor.visible_ticket(&mut conn, t).await {
            out.push(LinkedTicket {
                id: t.id,
                number: t.number,
                title: t.title,
                status: t.status,
            });
        }
    }
    Ok(out)
}

/// The articles that solved a ticket, as the actor may read them.
pub async fn articles_of_ticket(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
) -> AppResult<Vec<ArticleSummary>> {
    let mut conn = app.read().await?;
    actor.visible_ticket(&mut conn, ticket_id).await?;
    let mut visible = Vec::new();
    for id in store::articles_of_ticket(&mut conn, ticket_id).await? {
        if let Ok(a) = visible_article(&mut conn, actor, id).await {
            visible.push(a);
        }
    }
    super::summaries(&mut conn, actor, &visible).await
}
