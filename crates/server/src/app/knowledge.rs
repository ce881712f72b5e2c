//! Knowledge: articles in Chinese and English with versions, review and publishing, search,
//! ratings and portal suggestions.
//!
//! Writers (`WriteKnowledge`) draft articles and send them for review; reviewers
//! (`ReviewKnowledge`) who did not write the version approve it (it goes live) or send it back,
//! and retire live articles. Editing a live article makes a new draft version; the live one
//! stays until the new one is approved. Staff read every article; requesters read only live
//! articles meant for requesters, and only their live version: anything else is 404.

pub mod extras;

use super::error::text_field;
use super::idempotency::IdempotencyKey;
use super::views::{instant, Page};
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use crate::app::accounts::double_option;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use steward_core::knowledge::{
    article_status, edit_outcome, show_chinese, Audience, EditOutcome, KnowledgeError,
    ReviewAction, VersionStatus,
};
use steward_core::text::{multi_line, single_line};
use steward_core::Capability;
use steward_store::knowledge::{self as store, Article, Filter, Version};
use steward_store::search::{segment_document, segment_query};
use steward_store::tickets::next_number;
use utoipa::ToSchema;

const TITLE_MAX: usize = 200;
const BODY_MAX: usize = 50_000;
const COMMENT_MAX: usize = 2_000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    pub number: i64,
    /// draft, in_review, published, retired or superseded
    pub status: String,
    pub title_zh: String,
    pub body_zh: String,
    pub title_en: String,
    pub body_en: String,
    pub author_id: i64,
    pub author_name: String,
    pub created_at: String,
    pub updated_at: String,
    pub reviewer_name: Option<String>,
    pub reviewed_at: Option<String>,
    pub review_comment: String,
}

impl VersionView {
    fn new(v: &Version) -> VersionView {
        VersionView {
            number: v.number,
            status: v.status.clone(),
            title_zh: v.title_zh.clone(),
            body_zh: v.body_zh.clone(),
            title_en: v.title_en.clone(),
            body_en: v.body_en.clone(),
            author_id: v.author_id,
            author_name: v.author_name.clone(),
            created_at: instant(v.created_at),
            updated_at: instant(v.updated_at),
            reviewer_name: v.reviewer_name.clone(),
            reviewed_at: v.reviewed_at.map(instant),
            review_comment: v.review_comment.clone(),
        }
    }

    /// Whether a reader who prefers `zh` is shown the Chinese text.
    pub fn chinese(&self, zh: &bool) -> bool {
        show_chinese(*zh, !self.title_zh.is_empty(), !self.title_en.is_empty())
    }

    pub fn title(&self, zh: &bool) -> &str {
        if self.chinese(zh) {
            &self.title_zh
        } else {
            &self.title_en
        }
    }

    pub fn body(&self, zh: &bool) -> &str {
        if self.chinese(zh) {
            &self.body_zh
        } else {
            &self.body_en
        }
    }
}

/// A reader's vote that came with a comment (staff read these).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedbackView {
    pub helpful: bool,
    pub comment: String,
    pub rated_by: String,
    pub rated_at: String,
}

/// How many commented votes the article view carries.
const FEEDBACK_SHOWN: i64 = 20;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArticleView {
    pub id: i64,
    /// KB-000001
    pub number: String,
    /// The newest version's title (Chinese when it has one).
    pub title: String,
    /// published while a version is live, otherwise the newest version's status
    pub status: String,
    /// internal or requesters
    pub audience: String,
    pub category_id: Option<i64>,
    pub latest_version: i64,
    pub published_version: Option<i64>,
    /// The version this reader sees: the newest for staff, the live one for requesters.
    pub content: VersionView,
    pub helpful: i64,
    pub not_helpful: i64,
    /// This reader's vote.
    pub my_rating: Option<bool>,
    /// Tickets this article solved (staff only; 0 for requesters).
    pub ticket_count: i64,
    /// The newest votes with a comment (staff only; empty for requesters).
    pub feedback: Vec<FeedbackView>,
    /// What this reader may do now: edit, submit, approve, send_back, retire, rate, link.
    pub actions: Vec<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl ArticleView {
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }

    pub fn can(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == action)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArticleSummary {
    pub id: i64,
    pub number: String,
    pub title_zh: String,
    pub title_en: String,
    pub status: String,
    pub audience: String,
    pub category_id: Option<i64>,
    /// A newer version waits for review.
    pub in_review: bool,
    pub updated_at: String,
}

impl ArticleSummary {
    pub fn title(&self, zh: &bool) -> &str {
        if show_chinese(*zh, !self.title_zh.is_empty(), !self.title_en.is_empty()) {
            &self.title_zh
        } else {
            &self.title_en
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleInput {
    /// Chinese title; give at least one language (a title with its body).
    #[serde(default)]
    pub title_zh: String,
    #[serde(default)]
    pub body_zh: String,
    #[serde(default)]
    pub title_en: String,
    #[serde(default)]
    pub body_en: String,
    /// internal (default) or requesters
    pub audience: Option<String>,
    pub category_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticlePatch {
    pub title_zh: Option<String>,
    pub body_zh: Option<String>,
    pub title_en: Option<String>,
    pub body_en: Option<String>,
    pub audience: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub category_id: Option<Option<i64>>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    /// Required when sending back.
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArticleQuery {
    /// Full-text search over titles and bodies in both languages, ranked.
    pub q: Option<String>,
    /// draft, in_review, published, retired (staff)
    pub status: Option<String>,
    /// internal or requesters (staff)
    pub audience: Option<String>,
    /// This category and the ones below it.
    pub category_id: Option<i64>,
    /// Only articles with a version waiting for review (staff).
    pub review: Option<bool>,
    /// 1..100, default 50
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn is_staff(actor: &Actor) -> bool {
    actor.role.is_staff()
}

/// Checked bilingual content: (title_zh, body_zh, title_en, body_en).
type Content = (String, String, String, String);

fn check_content(
    title_zh: &str,
    body_zh: &str,
    title_en: &str,
    body_en: &str,
) -> AppResult<Content> {
    let lang = |tf: &str, bf: &str, t: &str, b: &str| -> AppResult<(String, String)> {
        let body = text_field(bf, multi_line(b, BODY_MAX, false))?;
        if t.trim().is_empty() {
            if !body.trim().is_empty() {
                return Err(AppError::invalid(tf, "is required"));
            }
            return Ok((String::new(), String::new()));
        }
        let title = text_field(tf, single_line(t, TITLE_MAX))?;
        if body.trim().is_empty() {
            return Err(AppError::invalid(bf, "is required"));
        }
        Ok((title, body))
    };
    let (tz, bz) = lang("title_zh", "body_zh", title_zh, body_zh)?;
    let (te, be) = lang("title_en", "body_en", title_en, body_en)?;
    if tz.is_empty() && te.is_empty() {
        return Err(AppError::invalid("title_zh", "is required"));
    }
    Ok((tz, bz, te, be))
}

fn check_audience(a: &str) -> AppResult<String> {
    a.parse::<Audience>()
        .map(|a| a.as_str().to_string())
        .map_err(|_| AppError::invalid("audience", "must be internal or requesters"))
}

fn status_of(s: &str) -> AppResult<VersionStatus> {
    s.parse()
        .map_err(|_| AppError::Internal(format!("unknown article status {s}")))
}

fn shown_title(v: &Version) -> String {
    if v.title_zh.is_empty() {
        v.title_en.clone()
    } else {
        v.title_zh.clone()
    }
}

fn segmented(v: &Version) -> String {
    segment_document(&format!(
        "{} {} {} {}",
        v.title_zh, v.body_zh, v.title_en, v.body_en
    ))
}

/// The article if the actor may read it; otherwise 404.
pub(crate) async fn visible_article(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
) -> AppResult<Article> {
    let a = store::get(conn, id).await?.ok_or(AppError::NotFound)?;
    if is_staff(actor) || (a.published_version.is_some() && a.audience == "requesters") {
        Ok(a)
    } else {
        Err(AppError::NotFound)
    }
}

/// The version the actor reads by default: the newest for staff, the live one for requesters.
fn shown_number(actor: &Actor, a: &Article) -> AppResult<i64> {
    if is_staff(actor) {
        Ok(a.latest_version)
    } else {
        a.published_version.ok_or(AppError::NotFound)
    }
}

async fn load_version(conn: &mut AnyConnection, a: &Article, n: i64) -> AppResult<Version> {
    store::get_version(conn, a.id, n)
        .await?
        .ok_or_else(|| AppError::Internal(format!("article {} has no version {n}", a.id)))
}

fn actions(actor: &Actor, a: &Article, latest: &Version) -> Vec<String> {
    let mut out = Vec::new();
    let latest_status = latest.status.parse::<VersionStatus>().ok();
    if actor.can(Capability::WriteKnowledge) {
        if latest_status.is_some_and(|s| edit_outcome(s) != EditOutcome::Refused) {
            out.push("edit");
        }
        if latest_status == Some(VersionStatus::Draft) {
            out.push("submit");
        }
    }
    if actor.can(Capability::ReviewKnowledge) {
        if latest_status == Some(VersionStatus::InReview) && latest.author_id != actor.user_id {
            out.push("approve");
            out.push("send_back");
        }
        if a.published_version.is_some() {
            out.push("retire");
        }
    }
    if a.published_version.is_some() && actor.can(Capability::SubmitTicket) {
        out.push("rate");
    }
    if a.published_version.is_some() && actor.can(Capability::WorkTickets) {
        out.push("link");
    }
    out.into_iter().map(String::from).collect()
}

async fn build_view(
    conn: &mut AnyConnection,
    actor: &Actor,
    a: &Article,
    shown: i64,
) -> AppResult<ArticleView> {
    let content = load_version(conn, a, shown).await?;
    let latest = if shown == a.latest_version {
        content.clone()
    } else {
        load_version(conn, a, a.latest_version).await?
    };
    let (helpful, not_helpful) = store::rating_counts(conn, a.id).await?;
    let my_rating = store::rating(conn, a.id, actor.user_id)
        .await?
        .map(|r| r.helpful);
    let (ticket_count, feedback) = if is_staff(actor) {
        let feedback = store::feedback(conn, a.id, FEEDBACK_SHOWN)
            .await?
            .into_iter()
            .map(|f| FeedbackView {
                helpful: f.helpful,
                comment: f.comment,
                rated_by: f.user_name,
                rated_at: instant(f.rated_at),
            })
            .collect();
        (
            store::linked_tickets(conn, a.id).await?.len() as i64,
            feedback,
        )
    } else {
        (0, vec![])
    };
    // Requesters read the live version only: not a newer draft's title, nor the review notes.
    let staff = is_staff(actor);
    let mut content_view = VersionView::new(&content);
    if !staff {
        content_view.reviewer_name = None;
        content_view.review_comment = String::new();
    }
    Ok(ArticleView {
        id: a.id,
        number: a.number.clone(),
        title: if staff {
            a.title.clone()
        } else {
            shown_title(&content)
        },
        status: a.status.clone(),
        audience: a.audience.clone(),
        category_id: a.category_id,
        latest_version: a.latest_version,
        published_version: a.published_version,
        content: content_view,
        helpful,
        not_helpful,
        my_rating,
        ticket_count,
        feedback,
        actions: actions(actor, a, &latest),
        version: a.version,
        created_at: instant(a.created_at),
        updated_at: instant(a.updated_at),
    })
}

pub async fn get_article(app: &App, actor: &Actor, id: i64) -> AppResult<ArticleView> {
    let mut conn = app.read().await?;
    let a = visible_article(&mut conn, actor, id).await?;
    let n = shown_number(actor, &a)?;
    build_view(&mut conn, actor, &a, n).await
}

/// One version of an article: staff read any; requesters only the live one.
pub async fn get_version(app: &App, actor: &Actor, id: i64, number: i64) -> AppResult<ArticleView> {
    let mut conn = app.read().await?;
    let a = visible_article(&mut conn, actor, id).await?;
    if !is_staff(actor) && a.published_version != Some(number) {
        return Err(AppError::NotFound);
    }
    store::get_version(&mut conn, id, number)
        .await?
        .ok_or(AppError::NotFound)?;
    build_view(&mut conn, actor, &a, number).await
}

/// Every version, newest first (staff).
pub async fn versions(app: &App, actor: &Actor, id: i64) -> AppResult<Vec<VersionView>> {
    let mut conn = app.read().await?;
    visible_article(&mut conn, actor, id).await?;
    if !is_staff(actor) {
        return Err(AppError::NotFound);
    }
    Ok(store::versions(&mut conn, id)
        .await?
        .iter()
        .map(VersionView::new)
        .collect())
}

fn decode_cursor(c: Option<&str>) -> AppResult<i64> {
    match c {
        None | Some("") => Ok(0),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| AppError::invalid("cursor", "is not a cursor from this listing")),
    }
}

/// Category ids at and below `root`.
fn subtree(all: &[store::Category], root: i64) -> Vec<i64> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        for c in all {
            if c.parent_id == Some(parent) && !out.contains(&c.id) {
                out.push(c.id);
            }
        }
        i += 1;
    }
    out
}

async fn summaries(
    conn: &mut AnyConnection,
    actor: &Actor,
    articles: &[Article],
) -> AppResult<Vec<ArticleSummary>> {
    let mut out = Vec::with_capacity(articles.len());
    for a in articles {
        let v = load_version(conn, a, shown_number(actor, a)?).await?;
        let in_review = if is_staff(actor) && a.latest_version != v.number {
            load_version(conn, a, a.latest_version).await?.status == "in_review"
        } else {
            v.status == "in_review"
        };
        out.push(ArticleSummary {
            id: a.id,
            number: a.number.clone(),
            title_zh: v.title_zh,
            title_en: v.title_en,
            status: a.status.clone(),
            audience: a.audience.clone(),
            category_id: a.category_id,
            in_review: is_staff(actor) && in_review,
            updated_at: instant(a.updated_at),
        });
    }
    Ok(out)
}

pub async fn list_articles(
    app: &App,
    actor: &Actor,
    q: &ArticleQuery,
) -> AppResult<Page<ArticleSummary>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 100"));
    }
    let offset = decode_cursor(q.cursor.as_deref())?;
    if let Some(s) = &q.status {
        if s.parse::<VersionStatus>().is_err() {
            return Err(AppError::invalid(
                "status",
                "must be draft, in_review, published, retired or superseded",
            ));
        }
    }
    let audience = q.audience.as_deref().map(check_audience).transpose()?;
    let mut conn = app.read().await?;
    let category_ids = match q.category_id {
        Some(c) => {
            let all = store::categories(&mut conn).await?;
            if !all.iter().any(|x| x.id == c) {
                return Err(AppError::invalid("category_id", "no such category"));
            }
            Some(subtree(&all, c))
        }
        None => None,
    };
    let words = q.q.as_deref().map(segment_query).unwrap_or_default();
    let filter = Filter {
        status: q.status.clone(),
        audience,
        category_ids,
        in_review: q.review.unwrap_or(false),
        requester_view: !is_staff(actor),
        words,
        any_word: false,
        limit,
        offset,
    };
    let rows = store::list(&mut conn, app.store.backend, &filter).await?;
    let next_cursor = (rows.len() as i64 == limit).then(|| (offset + limit).to_string());
    Ok(Page {
        items: summaries(&mut conn, actor, &rows).await?,
        next_cursor,
    })
}

/// Up to five live articles the actor may read that match any word of what they typed,
/// best first: the portal's suggestions while a request is written.
pub async fn suggest(app: &App, actor: &Actor, text: &str) -> AppResult<Vec<ArticleSummary>> {
    let words = segment_query(text);
    if words.is_empty() {
        return Ok(vec![]);
    }
    let mut conn = app.read().await?;
    let filter = Filter {
        status: Some("published".into()),
        requester_view: !is_staff(actor),
        words,
        any_word: true,
        limit: 5,
        ..Filter::default()
    };
    let rows = store::list(&mut conn, app.store.backend, &filter).await?;
    summaries(&mut conn, actor, &rows).await
}

async fn check_category(conn: &mut AnyConnection, id: Option<i64>) -> AppResult<()> {
    if let Some(c) = id {
        store::get_category(conn, c)
            .await?
            .ok_or_else(|| AppError::invalid("category_id", "no such category"))?;
    }
    Ok(())
}

pub async fn create_article(
    app: &App,
    actor: &Actor,
    input: ArticleInput,
    key: Option<IdempotencyKey>,
) -> AppResult<ArticleView> {
    actor.require(Capability::WriteKnowledge)?;
    let (title_zh, body_zh, title_en, body_en) = check_content(
        &input.title_zh,
        &input.body_zh,
        &input.title_en,
        &input.body_en,
    )?;
    let audience = check_audience(input.audience.as_deref().unwrap_or("internal"))?;
    let at = now();
    let mut v = Version {
        id: 0,
        article_id: 0,
        number: 1,
        title_zh,
        body_zh,
        title_en,
        body_en,
        status: VersionStatus::Draft.as_str().into(),
        author_id: actor.user_id,
        author_name: actor.name.clone(),
        created_at: at,
        updated_at: at,
        reviewed_by: None,
        reviewer_name: None,
        reviewed_at: None,
        review_comment: String::new(),
    };
    let doc = segmented(&v);
    let category_id = input.category_id;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if let Some(view) = super::idempotency::replay(ctx, actor.user_id, &key).await? {
                    return Ok(view);
                }
                check_category(&mut ctx.conn, category_id).await?;
                let seq = next_number(&mut ctx.conn, "KB").await?;
                let mut a = Article {
                    id: 0,
                    number: format!("KB-{seq:06}"),
                    title: shown_title(&v),
                    status: VersionStatus::Draft.as_str().into(),
                    audience,
                    category_id,
                    created_by: actor.user_id,
                    latest_version: 1,
                    published_version: None,
                    version: 1,
                    created_at: at,
                    updated_at: at,
                };
                a.id = store::insert(&mut ctx.conn, &a).await?;
                v.article_id = a.id;
                store::insert_version(&mut ctx.conn, &v).await?;
                store::index(&mut ctx.conn, ctx.backend, a.id, "", &doc).await?;
                let trail = AuditTrail::new(&actor, "article", a.id, at);
                trail
                    .record(
                        ctx,
                        "create",
                        None,
                        None,
                        Some(format!("{} {} ({})", a.number, a.title, a.audience)),
                    )
                    .await?;
                let view = build_view(&mut ctx.conn, &actor, &a, 1).await?;
                super::idempotency::remember(ctx, actor.user_id, &key, &view).await?;
                Ok(view)
            })
        })
        .await
}

/// Edits an article: its draft in place, or a new draft version when the newest is live or
/// retired. A version in review must be sent back first (409).
pub async fn update_article(
    app: &App,
    actor: &Actor,
    id: i64,
    p: ArticlePatch,
    if_match: Option<i64>,
) -> AppResult<ArticleView> {
    {
        let mut conn = app.read().await?;
        visible_article(&mut conn, actor, id).await?;
    }
    actor.require(Capability::WriteKnowledge)?;
    let audience = p.audience.as_deref().map(check_audience).transpose()?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = store::get(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                if if_match.is_some_and(|v| v != old.version) {
                    return Err(AppError::Stale);
                }
                let latest = load_version(&mut ctx.conn, &old, old.latest_version).await?;
                let outcome = edit_outcome(status_of(&latest.status)?);
                if outcome == EditOutcome::Refused {
                    return Err(AppError::Conflict {
                        message: "the newest version is in review; send it back before editing"
                            .into(),
                        allowed: None,
                    });
                }
                let pick = |new: &Option<String>, old: &str| {
                    new.clone().unwrap_or_else(|| old.to_string())
                };
                let (title_zh, body_zh, title_en, body_en) = check_content(
                    &pick(&p.title_zh, &latest.title_zh),
                    &pick(&p.body_zh, &latest.body_zh),
                    &pick(&p.title_en, &latest.title_en),
                    &pick(&p.body_en, &latest.body_en),
                )?;
                let category_id = p.category_id.unwrap_or(old.category_id);
                check_category(&mut ctx.conn, category_id).await?;
                let mut a = old.clone();
                a.audience = audience.unwrap_or(old.audience.clone());
                // Showing a live article to requesters is a publication: a reviewer's decision.
                if a.audience == "requesters"
                    && old.audience != "requesters"
                    && old.published_version.is_some()
                {
                    actor.require(Capability::ReviewKnowledge)?;
                }
                a.category_id = category_id;
                let content_changed = (&title_zh, &body_zh, &title_en, &body_en)
                    != (
                        &latest.title_zh,
                        &latest.body_zh,
                        &latest.title_en,
                        &latest.body_en,
                    );
                if !content_changed && a == old {
                    let n = old.latest_version;
                    return build_view(&mut ctx.conn, &actor, &old, n).await;
                }
                let at = now();
                let trail = AuditTrail::new(&actor, "article", id, at);
                let opt = |v: Option<i64>| v.map(|v| v.to_string());
                trail
                    .changes(
                        ctx,
                        &[
                            (
                                "audience",
                                Some(old.audience.clone()),
                                Some(a.audience.clone()),
                            ),
                            ("category_id", opt(old.category_id), opt(a.category_id)),
                            (
                                "title_zh",
                                Some(latest.title_zh.clone()),
                                Some(title_zh.clone()),
                            ),
                            (
                                "body_zh",
                                Some(latest.body_zh.clone()),
                                Some(body_zh.clone()),
                            ),
                            (
                                "title_en",
                                Some(latest.title_en.clone()),
                                Some(title_en.clone()),
                            ),
                            (
                                "body_en",
                                Some(latest.body_en.clone()),
                                Some(body_en.clone()),
                            ),
                        ],
                    )
                    .await?;
                if content_changed {
                    let mut v = latest.clone();
                    v.title_zh = title_zh;
                    v.body_zh = body_zh;
                    v.title_en = title_en;
                    v.body_en = body_en;
                    v.author_id = actor.user_id;
                    v.updated_at = at;
                    if outcome == EditOutcome::NewDraft {
                        v.number = old.latest_version + 1;
                        v.status = VersionStatus::Draft.as_str().into();
                        v.created_at = at;
                        v.reviewed_by = None;
                        v.reviewed_at = None;
                        v.review_comment = String::new();
                        store::insert_version(&mut ctx.conn, &v).await?;
                        a.latest_version = v.number;
                        trail
                            .record(
                                ctx,
                                "new_version",
                                Some("version"),
                                Some(old.latest_version.to_string()),
                                Some(v.number.to_string()),
                            )
                            .await?;
                    } else {
                        store::update_version(&mut ctx.conn, &v).await?;
                    }
                    a.title = shown_title(&v);
                    a.status = article_status(a.published_version.is_some(), VersionStatus::Draft)
                        .as_str()
                        .into();
                    let live = match a.published_version {
                        Some(n) => segmented(&load_version(&mut ctx.conn, &a, n).await?),
                        None => String::new(),
                    };
                    store::index(&mut ctx.conn, ctx.backend, id, &live, &segmented(&v)).await?;
                }
                a.version = old.version + 1;
                a.updated_at = at;
                if !store::update(&mut ctx.conn, &a, old.version).await? {
                    return Err(AppError::Stale);
                }
                let n = a.latest_version;
                build_view(&mut ctx.conn, &actor, &a, n).await
            })
        })
        .await
}

fn knowledge_error(e: KnowledgeError) -> AppError {
    match e {
        KnowledgeError::NotAllowed { from, .. } => AppError::Conflict {
            message: e.to_string(),
            allowed: Some(
                from.actions()
                    .iter()
                    .map(|a| a.as_str().to_string())
                    .collect(),
            ),
        },
        KnowledgeError::OwnReview => AppError::forbidden(e.to_string()),
        KnowledgeError::CommentRequired => AppError::invalid("comment", "is required"),
    }
}

/// Submit, approve, send back or retire. Submit, approve and send back act on the newest
/// version; retire on the live one.
pub async fn review(
    app: &App,
    actor: &Actor,
    id: i64,
    action: ReviewAction,
    input: ReviewInput,
) -> AppResult<ArticleView> {
    {
        let mut conn = app.read().await?;
        visible_article(&mut conn, actor, id).await?;
    }
    if action.needs_reviewer() {
        actor.require(Capability::ReviewKnowledge)?;
    } else {
        actor.require(Capability::WriteKnowledge)?;
    }
    let comment = text_field("comment", multi_line(&input.comment, COMMENT_MAX, false))?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = store::get(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let target = match action {
                    ReviewAction::Retire => {
                        old.published_version.ok_or_else(|| AppError::Conflict {
                            message: "the article has no live version to retire".into(),
                            allowed: None,
                        })?
                    }
                    _ => old.latest_version,
                };
                let mut v = load_version(&mut ctx.conn, &old, target).await?;
                let from = status_of(&v.status)?;
                let to = from
                    .apply(action, v.author_id == actor.user_id, &comment)
                    .map_err(knowledge_error)?;
                let at = now();
                v.status = to.as_str().into();
                v.updated_at = at;
                if action != ReviewAction::Submit {
                    v.reviewed_by = Some(actor.user_id);
                    v.reviewed_at = Some(at);
                    v.review_comment = comment.clone();
                }
                store::update_version(&mut ctx.conn, &v).await?;
                let mut a = old.clone();
                let trail = AuditTrail::new(&actor, "article", id, at);
                match action {
                    ReviewAction::Approve => {
                        if let Some(prev) = old.published_version.filter(|p| *p != v.number) {
                            let mut p = load_version(&mut ctx.conn, &old, prev).await?;
                            p.status = VersionStatus::Superseded.as_str().into();
                            p.updated_at = at;
                            store::update_version(&mut ctx.conn, &p).await?;
                        }
                        a.published_version = Some(v.number);
                        let doc = segmented(&v);
                        store::index(&mut ctx.conn, ctx.backend, id, &doc, &doc).await?;
                    }
                    ReviewAction::Retire => {
                        a.published_version = None;
                        let latest = load_version(&mut ctx.conn, &old, old.latest_version).await?;
                        store::index(&mut ctx.conn, ctx.backend, id, "", &segmented(&latest))
                            .await?;
                    }
                    ReviewAction::Submit | ReviewAction::SendBack => {}
                }
                let latest_status = if target == a.latest_version {
                    to
                } else {
                    status_of(
                        &load_version(&mut ctx.conn, &a, a.latest_version)
                            .await?
                            .status,
                    )?
                };
                a.status = article_status(a.published_version.is_some(), latest_status)
                    .as_str()
                    .into();
                a.version = old.version + 1;
                a.updated_at = at;
                if !store::update(&mut ctx.conn, &a, old.version).await? {
                    return Err(AppError::Stale);
                }
                trail
                    .record(
                        ctx,
                        action.as_str(),
                        Some("status"),
                        Some(format!("v{} {}", v.number, from)),
                        Some(format!("v{} {}", v.number, to)),
                    )
                    .await?;
                if !comment.is_empty() {
                    trail
                        .record(ctx, action.as_str(), Some("comment"), None, Some(comment))
                        .await?;
                }
                let n = shown_number(&actor, &a)?;
                build_view(&mut ctx.conn, &actor, &a, n).await
            })
        })
        .await
}
