//! Pages. Knowledge: the article list (staff filters; requesters see live articles for them),
//! an article with its review actions, rating and linked tickets, the editor (both languages
//! side by side), the review queue, version history, categories, and the ticket page's panel.

use super::form::{self, Fields};
use super::portal::error_field;
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome};
use crate::app::knowledge::extras::{self, CategoryInput, CategoryView, LinkedTicket};
use crate::app::knowledge::{
    self, ArticleInput, ArticlePatch, ArticleQuery, ArticleSummary, ArticleView, ReviewInput,
    VersionView,
};
use crate::app::AppError;
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use steward_core::knowledge::ReviewAction;
use steward_core::Capability;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/knowledge", get(list_page))
        .route("/knowledge/new", get(new_page).post(create))
        .route(
            "/knowledge/categories",
            get(categories_page).post(create_category),
        )
        .route("/knowledge/link", post(link_ticket))
        .route("/knowledge/{id}", get(article_page))
        .route("/knowledge/{id}/edit", get(edit_page).post(update))
        .route("/knowledge/{id}/review", post(review))
        .route("/knowledge/{id}/rating", post(rate))
        .route("/knowledge/{id}/versions", get(history_page))
        .route("/knowledge/{id}/versions/{number}", get(version_page))
}

fn zh(u: &WebUser) -> bool {
    u.lang == crate::i18n::Lang::ZhCn
}

/// One option of a filter or a select.
pub struct Pick {
    pub value: String,
    pub label: String,
    pub on: bool,
}

fn category_picks(cats: &[CategoryView], zh: bool, current: Option<i64>) -> Vec<Pick> {
    cats.iter()
        .map(|c| Pick {
            value: c.id.to_string(),
            label: format!("{}{}", "— ".repeat(c.depth), c.name(&zh)),
            on: current == Some(c.id),
        })
        .collect()
}

fn category_name(cats: &[CategoryView], zh: bool, id: Option<i64>) -> String {
    id.and_then(|i| cats.iter().find(|c| c.id == i))
        .map(|c| c.name(&zh).to_string())
        .unwrap_or_default()
}

#[derive(Debug, Default, Deserialize)]
struct ListParams {
    q: Option<String>,
    status: Option<String>,
    audience: Option<String>,
    category_id: Option<String>,
    review: Option<String>,
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "knowledge_list.html")]
struct ListPage {
    c: Chrome,
    zh: bool,
    staff: bool,
    can_write: bool,
    review: bool,
    q: String,
    statuses: Vec<Pick>,
    audiences: Vec<Pick>,
    categories: Vec<Pick>,
    rows: Vec<Row>,
    next_href: Option<String>,
    error: Option<String>,
}

/// An article in a list, with its category's name.
struct Row {
    a: ArticleSummary,
    category: String,
}

fn blank(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

async fn list_page(State(s): State<AppState>, u: WebUser, Query(p): Query<ListParams>) -> Response {
    let r = async {
        let c = Chrome::new(&u, "knowledge");
        let z = zh(&u);
        let staff = u.actor.role.is_staff();
        let review = p.review.as_deref() == Some("1");
        let category_id = blank(&p.category_id).and_then(|v| v.parse::<i64>().ok());
        let query = ArticleQuery {
            q: blank(&p.q),
            status: if staff { blank(&p.status) } else { None },
            audience: if staff { blank(&p.audience) } else { None },
            category_id,
            review: Some(review && staff),
            limit: Some(50),
            cursor: blank(&p.cursor),
        };
        let (articles, next_cursor, error) =
            match knowledge::list_articles(&s.app, &u.actor, &query).await {
                Ok(page) => (page.items, page.next_cursor, None),
                Err(e @ AppError::Invalid { .. }) => (vec![], None, Some(describe(u.lang, &e))),
                Err(e) => return Err(e),
            };
        let cats = extras::list_categories(&s.app).await?;
        let pick = |value: &str, label: String, on: bool| Pick {
            value: value.into(),
            label,
            on,
        };
        let statuses = ["draft", "in_review", "published", "retired"]
            .iter()
            .map(|v| {
                pick(
                    v,
                    c.label("kb-status", v),
                    query.status.as_deref() == Some(*v),
                )
            })
            .collect();
        let audiences = ["internal", "requesters"]
            .iter()
            .map(|v| {
                pick(
                    v,
                    c.label("kb-audience", v),
                    query.audience.as_deref() == Some(*v),
                )
            })
            .collect();
        let next_href = next_cursor.map(|cur| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in [
                ("q", &query.q),
                ("status", &query.status),
                ("audience", &query.audience),
                ("category_id", &category_id.map(|i| i.to_string())),
            ] {
                if let Some(v) = v {
                    q.append_pair(k, v);
                }
            }
            if review {
                q.append_pair("review", "1");
            }
            q.append_pair("cursor", &cur);
            format!("/knowledge?{}", q.finish())
        });
        Ok(render(
            StatusCode::OK,
            &ListPage {
                zh: z,
                staff,
                can_write: u.actor.can(Capability::WriteKnowledge),
                review,
                q: query.q.clone().unwrap_or_default(),
                statuses,
                audiences,
                categories: category_picks(&cats, z, category_id),
                rows: articles
                    .into_iter()
                    .map(|a| Row {
                        category: category_name(&cats, z, a.category_id),
                        a,
                    })
                    .collect(),
                next_href,
                error,
                c,
            },
        ))
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "knowledge_article.html")]
struct ArticlePage {
    c: Chrome,
    zh: bool,
    staff: bool,
    a: ArticleView,
    category: String,
    tickets: Vec<LinkedTicket>,
    /// Viewing an older version than the default one.
    old_version: bool,
    error: Option<String>,
    links: super::links::LinksPanel,
}

async fn article_view(
    s: &AppState,
    u: &WebUser,
    a: ArticleView,
    old_version: bool,
    error: Option<&AppError>,
) -> Result<ArticlePage, AppError> {
    let z = zh(u);
    let staff = u.actor.role.is_staff();
    let cats = extras::list_categories(&s.app).await?;
    let tickets = if staff {
        extras::linked_tickets(&s.app, &u.actor, a.id).await?
    } else {
        vec![]
    };
    let links = super::links::panel(&s.app, u, steward_core::RecordKind::Article, a.id).await?;
    Ok(ArticlePage {
        links,
        c: Chrome::new(u, "knowledge"),
        zh: z,
        staff,
        category: category_name(&cats, z, a.category_id),
        a,
        tickets,
        old_version,
        error: error.map(|e| describe(u.lang, e)),
    })
}

async fn article_page(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = async {
        let a = knowledge::get_article(&s.app, &u.actor, id).await?;
        Ok(render(
            StatusCode::OK,
            &article_view(&s, &u, a, false, None).await?,
        ))
    }
    .await;
    finish(&u, r)
}

async fn version_page(
    State(s): State<AppState>,
    u: WebUser,
    Path((id, number)): Path<(i64, i64)>,
) -> Response {
    let r = async {
        let a = knowledge::get_version(&s.app, &u.actor, id, number).await?;
        let default = if u.actor.role.is_staff() {
            a.latest_version
        } else {
            a.published_version.unwrap_or_default()
        };
        let old = number != default;
        Ok(render(
            StatusCode::OK,
            &article_view(&s, &u, a, old, None).await?,
        ))
    }
    .await;
    finish(&u, r)
}

/// After a failed action on the article page: the page again with the message.
async fn article_with_error(
    s: &AppState,
    u: &WebUser,
    id: i64,
    e: AppError,
) -> Result<Response, AppError> {
    if matches!(e, AppError::NotFound) {
        return Err(e);
    }
    let a = knowledge::get_article(&s.app, &u.actor, id).await?;
    let page = article_view(s, u, a, false, Some(&e)).await?;
    Ok(render(status_of(&e), &page))
}

async fn review(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let action: ReviewAction = f.get("action").parse().map_err(|_| {
            AppError::invalid("action", "must be submit, approve, send_back or retire")
        })?;
        let input = ReviewInput {
            comment: f.get("comment").into(),
        };
        match knowledge::review(&s.app, &u.actor, id, action, input).await {
            Ok(_) => Ok(see_other(&format!("/knowledge/{id}"))),
            Err(e) => article_with_error(&s, &u, id, e).await,
        }
    }
    .await;
    finish(&u, r)
}

async fn rate(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let input = extras::RatingInput {
            helpful: f.get("helpful") == "yes",
            comment: f.get("comment").into(),
        };
        match extras::rate(&s.app, &u.actor, id, input).await {
            Ok(_) => Ok(see_other(&format!("/knowledge/{id}#rating"))),
            Err(e) => article_with_error(&s, &u, id, e).await,
        }
    }
    .await;
    finish(&u, r)
}

/// Links a ticket and an article from either page: the ticket page sends `ticket_id` and an
/// article number, the article page `article_id` and a ticket number.
async fn link_ticket(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let mut conn = s.app.read().await?;
        let (article_id, ticket_id, back) = if let Some(t) = f.id("ticket_id")? {
            let number = f.get("article").trim().to_uppercase();
            let a = steward_store::knowledge::get_by_number(&mut conn, &number).await?;
            (a.map(|a| a.id), Some(t), format!("/tickets/{t}"))
        } else {
            let a = f.id("article_id")?.ok_or(AppError::NotFound)?;
            let number = f.get("ticket").trim().to_uppercase();
            let t = steward_store::knowledge::ticket_id_by_number(&mut conn, &number).await?;
            (Some(a), t, format!("/knowledge/{a}"))
        };
        drop(conn);
        let result = match (article_id, ticket_id) {
            (None, _) => Err(AppError::invalid("article", "no such article")),
            (_, None) => Err(AppError::invalid("ticket", "no such ticket")),
            (Some(a), Some(t)) => extras::link_ticket(
                &s.app,
                &u.actor,
                a,
                extras::TicketLinkInput { ticket_id: t },
            )
            .await
            .map(|_| ()),
        };
        match result {
            Ok(()) => Ok(see_other(&back)),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => match (article_id, f.has("ticket_id")) {
                (Some(a), false) => article_with_error(&s, &u, a, e).await,
                _ => Err(e),
            },
        }
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "knowledge_history.html")]
struct HistoryPage {
    c: Chrome,
    zh: bool,
    a: ArticleView,
    versions: Vec<VersionView>,
}

async fn history_page(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = async {
        let a = knowledge::get_article(&s.app, &u.actor, id).await?;
        let versions = knowledge::versions(&s.app, &u.actor, id).await?;
        Ok(render(
            StatusCode::OK,
            &HistoryPage {
                c: Chrome::new(&u, "knowledge"),
                zh: zh(&u),
                a,
                versions,
            },
        ))
    }
    .await;
    finish(&u, r)
}

/// What the editor holds.
#[derive(Default)]
struct Values {
    title_zh: String,
    body_zh: String,
    title_en: String,
    body_en: String,
    audience: String,
    category_id: Option<i64>,
}

impl Values {
    fn from_fields(f: &Fields) -> Values {
        Values {
            title_zh: f.get("title_zh").into(),
            body_zh: f.get("body_zh").into(),
            title_en: f.get("title_en").into(),
            body_en: f.get("body_en").into(),
            audience: f.get("audience").into(),
            category_id: f.get("category_id").trim().parse().ok(),
        }
    }
}

#[derive(Template)]
#[template(path = "knowledge_edit.html")]
struct EditPage {
    c: Chrome,
    /// None for a new article.
    a: Option<ArticleView>,
    v: Values,
    audiences: Vec<Pick>,
    categories: Vec<Pick>,
    error: Option<String>,
    error_field: String,
}

async fn edit_view(
    s: &AppState,
    u: &WebUser,
    a: Option<ArticleView>,
    v: Values,
    error: Option<&AppError>,
) -> Result<EditPage, AppError> {
    u.actor.require(Capability::WriteKnowledge)?;
    let c = Chrome::new(u, "knowledge");
    let cats = extras::list_categories(&s.app).await?;
    let audiences = ["internal", "requesters"]
        .iter()
        .map(|x| Pick {
            value: x.to_string(),
            label: c.label("kb-audience", x),
            on: v.audience == *x,
        })
        .collect();
    Ok(EditPage {
        categories: category_picks(&cats, zh(u), v.category_id),
        audiences,
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(error_field).unwrap_or_default(),
        c,
        a,
        v,
    })
}

async fn new_page(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        let v = Values {
            audience: "internal".into(),
            ..Values::default()
        };
        Ok(render(
            StatusCode::OK,
            &edit_view(&s, &u, None, v, None).await?,
        ))
    }
    .await;
    finish(&u, r)
}

async fn create(State(s): State<AppState>, u: WebUser, headers: HeaderMap, f: Fields) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let v = Values::from_fields(&f);
        let input = ArticleInput {
            title_zh: v.title_zh.clone(),
            body_zh: v.body_zh.clone(),
            title_en: v.title_en.clone(),
            body_en: v.body_en.clone(),
            audience: Some(v.audience.clone()),
            category_id: v.category_id,
        };
        match knowledge::create_article(&s.app, &u.actor, input, None).await {
            Ok(a) => Ok(see_other(&format!("/knowledge/{}", a.id))),
            Err(e @ AppError::Forbidden(_)) => Err(e),
            Err(e) => {
                let page = edit_view(&s, &u, None, v, Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

async fn edit_page(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = async {
        let a = knowledge::get_article(&s.app, &u.actor, id).await?;
        let v = Values {
            title_zh: a.content.title_zh.clone(),
            body_zh: a.content.body_zh.clone(),
            title_en: a.content.title_en.clone(),
            body_en: a.content.body_en.clone(),
            audience: a.audience.clone(),
            category_id: a.category_id,
        };
        Ok(render(
            StatusCode::OK,
            &edit_view(&s, &u, Some(a), v, None).await?,
        ))
    }
    .await;
    finish(&u, r)
}

async fn update(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let v = Values::from_fields(&f);
        let patch = ArticlePatch {
            title_zh: Some(v.title_zh.clone()),
            body_zh: Some(v.body_zh.clone()),
            title_en: Some(v.title_en.clone()),
            body_en: Some(v.body_en.clone()),
            audience: Some(v.audience.clone()),
            category_id: Some(v.category_id),
        };
        match knowledge::update_article(&s.app, &u.actor, id, patch, f.version()).await {
            Ok(_) => Ok(see_other(&format!("/knowledge/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let a = knowledge::get_article(&s.app, &u.actor, id).await?;
                let page = edit_view(&s, &u, Some(a), v, Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "knowledge_categories.html")]
struct CategoriesPage {
    c: Chrome,
    zh: bool,
    cats: Vec<CategoryView>,
    parents: Vec<Pick>,
    can_manage: bool,
    error: Option<String>,
    error_field: String,
}

async fn categories_view(
    s: &AppState,
    u: &WebUser,
    error: Option<&AppError>,
) -> Result<CategoriesPage, AppError> {
    if !u.actor.role.is_staff() {
        return Err(AppError::NotFound);
    }
    let cats = extras::list_categories(&s.app).await?;
    Ok(CategoriesPage {
        c: Chrome::new(u, "knowledge"),
        zh: zh(u),
        parents: category_picks(&cats, zh(u), None),
        cats,
        can_manage: u.actor.can(Capability::ReviewKnowledge),
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(error_field).unwrap_or_default(),
    })
}

async fn categories_page(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        Ok(render(
            StatusCode::OK,
            &categories_view(&s, &u, None).await?,
        ))
    }
    .await;
    finish(&u, r)
}

async fn create_category(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let input = CategoryInput {
            name_zh: f.get("name_zh").into(),
            name_en: f.get("name_en").into(),
            parent_id: f.id("parent_id")?,
        };
        match extras::create_category(&s.app, &u.actor, input).await {
            Ok(_) => Ok(see_other("/knowledge/categories")),
            Err(e @ AppError::Forbidden(_)) => Err(e),
            Err(e) => {
                let page = categories_view(&s, &u, Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

/// The ticket page's panel: the articles that solved the ticket, and (for staff) a form to
/// link one.
pub struct TicketArticles {
    pub zh: bool,
    pub ticket_id: i64,
    pub articles: Vec<ArticleSummary>,
    pub can_link: bool,
}

pub async fn ticket_panel(
    s: &crate::app::App,
    u: &WebUser,
    ticket_id: i64,
) -> Result<TicketArticles, AppError> {
    Ok(TicketArticles {
        zh: zh(u),
        ticket_id,
        articles: extras::articles_of_ticket(s, &u.actor, ticket_id).await?,
        can_link: u.actor.can(Capability::WorkTickets),
    })
}
