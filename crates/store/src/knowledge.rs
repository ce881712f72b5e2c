//! Knowledge articles, their versions, categories and ratings, and the article search index
//! (`live` holds the published version's segmented text, `draft` the newest version's).

use crate::search::match_expression;
use crate::sql::Sql;
use crate::{Backend, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub status: String,
    pub audience: String,
    pub category_id: Option<i64>,
    pub created_by: i64,
    /// The number of the newest version.
    pub latest_version: i64,
    /// The number of the live version.
    pub published_version: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

fn article(row: &AnyRow) -> sqlx::Result<Article> {
    Ok(Article {
        id: row.try_get(0)?,
        number: row.try_get(1)?,
        title: row.try_get(2)?,
        status: row.try_get(3)?,
        audience: row.try_get(4)?,
        category_id: row.try_get(5)?,
        created_by: row.try_get(6)?,
        latest_version: row.try_get(7)?,
        published_version: row.try_get(8)?,
        version: row.try_get(9)?,
        created_at: row.try_get(10)?,
        updated_at: row.try_get(11)?,
    })
}

const ARTICLE: &str = "SELECT a.id, a.number, a.title, a.status, a.audience, a.category_id, \
    a.created_by, a.latest_version, a.published_version, a.version, a.created_at, a.updated_at \
    FROM knowledge_articles a";

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Article>> {
    let row = sqlx::query(&format!("{ARTICLE} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(article).transpose()?)
}

pub async fn get_by_number(conn: &mut AnyConnection, number: &str) -> Result<Option<Article>> {
    let row = sqlx::query(&format!("{ARTICLE} WHERE a.number = $1"))
        .bind(number)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(article).transpose()?)
}

/// Inserts the article (its id is ignored) and returns its id.
pub async fn insert(conn: &mut AnyConnection, a: &Article) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO knowledge_articles (number, title, status, audience, category_id, created_by, \
         latest_version, published_version, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(&a.number)
    .bind(&a.title)
    .bind(&a.status)
    .bind(&a.audience)
    .bind(a.category_id)
    .bind(a.created_by)
    .bind(a.latest_version)
    .bind(a.published_version)
    .bind(a.version)
    .bind(a.created_at)
    .bind(a.updated_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// Writes the article if it is still at `expected_version`; false when it has moved on.
pub async fn update(conn: &mut AnyConnection, a: &Article, expected_version: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE knowledge_articles SET title = $2, status = $3, audience = $4, category_id = $5, \
         latest_version = $6, published_version = $7, version = $8, updated_at = $9 \
         WHERE id = $1 AND version = $10",
    )
    .bind(a.id)
    .bind(&a.title)
    .bind(&a.status)
    .bind(&a.audience)
    .bind(a.category_id)
    .bind(a.latest_version)
    .bind(a.published_version)
    .bind(a.version)
    .bind(a.updated_at)
    .bind(expected_version)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub id: i64,
    pub article_id: i64,
    pub number: i64,
    pub title_zh: String,
    pub body_zh: String,
    pub title_en: String,
    pub body_en: String,
    pub status: String,
    pub author_id: i64,
    pub author_name: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub reviewed_by: Option<i64>,
    pub reviewer_name: Option<String>,
    pub reviewed_at: Option<i64>,
    pub review_comment: String,
}

fn version(row: &AnyRow) -> sqlx::Result<Version> {
    Ok(Version {
        id: row.try_get(0)?,
        article_id: row.try_get(1)?,
        number: row.try_get(2)?,
        title_zh: row.try_get(3)?,
        body_zh: row.try_get(4)?,
        title_en: row.try_get(5)?,
        body_en: row.try_get(6)?,
        status: row.try_get(7)?,
        author_id: row.try_get(8)?,
        author_name: row.try_get(9)?,
        created_at: row.try_get(10)?,
        updated_at: row.try_get(11)?,
        reviewed_by: row.try_get(12)?,
        reviewer_name: row.try_get(13)?,
        reviewed_at: row.try_get(14)?,
        review_comment: row.try_get(15)?,
    })
}

const VERSION: &str = "SELECT v.id, v.article_id, v.number, v.title_zh, v.body_zh, v.title_en, \
    v.body_en, v.status, v.author_id, u.name, v.created_at, v.updated_at, v.reviewed_by, r.name, \
    v.reviewed_at, v.review_comment FROM knowledge_versions v JOIN users u ON u.id = v.author_id \
    LEFT JOIN users r ON r.id = v.reviewed_by";

pub async fn get_version(
    conn: &mut AnyConnection,
    article_id: i64,
    number: i64,
) -> Result<Option<Version>> {
    let row = sqlx::query(&format!(
        "{VERSION} WHERE v.article_id = $1 AND v.number = $2"
    ))
    .bind(article_id)
    .bind(number)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(version).transpose()?)
}

/// Every version of an article, newest first.
pub async fn versions(conn: &mut AnyConnection, article_id: i64) -> Result<Vec<Version>> {
    let rows = sqlx::query(&format!(
        "{VERSION} WHERE v.article_id = $1 ORDER BY v.number DESC"
    ))
    .bind(article_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(version).collect::<sqlx::Result<_>>()?)
}

/// Inserts a version (id and joined names are ignored).
pub async fn insert_version(conn: &mut AnyConnection, v: &Version) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO knowledge_versions (article_id, number, title_zh, body_zh, title_en, body_en, \
         status, author_id, created_at, updated_at, reviewed_by, reviewed_at, review_comment) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(v.article_id)
    .bind(v.number)
    .bind(&v.title_zh)
    .bind(&v.body_zh)
    .bind(&v.title_en)
    .bind(&v.body_en)
    .bind(&v.status)
    .bind(v.author_id)
    .bind(v.created_at)
    .bind(v.updated_at)
    .bind(v.reviewed_by)
    .bind(v.reviewed_at)
    .bind(&v.review_comment)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// Writes a version's content, status and review.
pub async fn update_version(conn: &mut AnyConnection, v: &Version) -> Result<()> {
    sqlx::query(
        "UPDATE knowledge_versions SET title_zh = $2, body_zh = $3, title_en = $4, body_en = $5, \
         status = $6, author_id = $7, updated_at = $8, reviewed_by = $9, reviewed_at = $10, \
         review_comment = $11 WHERE id = $1",
    )
    .bind(v.id)
    .bind(&v.title_zh)
    .bind(&v.body_zh)
    .bind(&v.title_en)
    .bind(&v.body_en)
    .bind(&v.status)
    .bind(v.author_id)
    .bind(v.updated_at)
    .bind(v.reviewed_by)
    .bind(v.reviewed_at)
    .bind(&v.review_comment)
    .execute(conn)
    .await?;
    Ok(())
}

/// Which articles a listing holds.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<String>,
    pub audience: Option<String>,
    /// Articles in any of these categories.
    pub category_ids: Option<Vec<i64>>,
    /// Only articles with a version waiting for review.
    pub in_review: bool,
    /// Only what requesters may read: live and meant for requesters. Search then looks at the
    /// live text only.
    pub requester_view: bool,
    /// Segmented query words; results are ranked.
    pub words: Vec<String>,
    /// Any word may match (suggestions) rather than every word.
    pub any_word: bool,
    pub limit: i64,
    pub offset: i64,
}

fn any_word_expression(backend: Backend, words: &[String]) -> String {
    let parts: Vec<String> = words
        .iter()
        .map(|w| match backend {
            Backend::Sqlite if w.is_ascii() => format!("\"{w}\"*"),
            Backend::Sqlite => format!("\"{w}\""),
            Backend::Postgres if w.is_ascii() => format!("{w}:*"),
            Backend::Postgres => w.clone(),
        })
        .collect();
    match backend {
        Backend::Sqlite => parts.join(" OR "),
        Backend::Postgres => parts.join(" | "),
    }
}

/// Articles matching the filter: ranked by relevance when searching, newest first otherwise.
pub async fn list(conn: &mut AnyConnection, backend: Backend, f: &Filter) -> Result<Vec<Article>> {
    let mut sql = Sql::new(ARTICLE);
    let searching = !f.words.is_empty();
    if searching {
        let expr = if f.any_word {
            any_word_expression(backend, &f.words)
        } else {
            match_expression(backend, &f.words)
        };
        match backend {
            Backend::Sqlite => {
                let cols = if f.requester_view {
                    "live"
                } else {
                    "{live draft}"
                };
                sql.push(
                    " JOIN (SELECT rowid AS sid, bm25(knowledge_search) AS rank FROM knowledge_search \
                     WHERE knowledge_search MATCH ",
                )
                .bind(format!("{cols} : ({expr})"))
                .push(") s ON s.sid = a.id");
            }
            Backend::Postgres => {
                let doc = if f.requester_view {
                    "live"
                } else {
                    "(live || draft)"
                };
                sql.push(&format!(
                    " JOIN (SELECT rowid AS sid, -ts_rank({doc}, q) AS rank FROM knowledge_search, \
                     to_tsquery('simple', "
                ))
                .bind(expr)
                .push(&format!(") q WHERE {doc} @@ q) s ON s.sid = a.id"));
            }
        }
    }
    sql.push(" WHERE 1 = 1");
    if let Some(s) = &f.status {
        sql.push(" AND a.status = ").bind(s.as_str());
    }
    if let Some(a) = &f.audience {
        sql.push(" AND a.audience = ").bind(a.as_str());
    }
    if let Some(ids) = &f.category_ids {
        sql.push(" AND a.category_id IN ")
            .bind_list(ids.iter().copied());
    }
    if f.in_review {
        sql.push(
            " AND a.id IN (SELECT article_id FROM knowledge_versions WHERE status = 'in_review')",
        );
    }
    if f.requester_view {
        sql.push(" AND a.published_version IS NOT NULL AND a.audience = 'requesters'");
    }
    if searching {
        sql.push(" ORDER BY s.rank, a.id DESC");
    } else {
        sql.push(" ORDER BY a.updated_at DESC, a.id DESC");
    }
    sql.push(" LIMIT ")
        .bind(f.limit)
        .push(" OFFSET ")
        .bind(f.offset);
    let rows = sql.query().fetch_all(conn).await?;
    Ok(rows.iter().map(article).collect::<sqlx::Result<_>>()?)
}

/// Replaces an article's index row with the segmented live and draft text.
pub async fn index(
    conn: &mut AnyConnection,
    backend: Backend,
    article_id: i64,
    live: &str,
    draft: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM knowledge_search WHERE rowid = $1")
        .bind(article_id)
        .execute(&mut *conn)
        .await?;
    let sql = match backend {
        Backend::Sqlite => "INSERT INTO knowledge_search (rowid, live, draft) VALUES ($1, $2, $3)",
        Backend::Postgres => {
            "INSERT INTO knowledge_search (rowid, live, draft) \
             VALUES ($1, to_tsvector('simple', $2), to_tsvector('simple', $3))"
        }
    };
    sqlx::query(sql)
        .bind(article_id)
        .bind(live)
        .bind(draft)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name_zh: String,
    pub name_en: String,
    pub created_at: i64,
}

fn category(row: &AnyRow) -> sqlx::Result<Category> {
    Ok(Category {
        id: row.try_get(0)?,
        parent_id: row.try_get(1)?,
        name_zh: row.try_get(2)?,
        name_en: row.try_get(3)?,
        created_at: row.try_get(4)?,
    })
}

pub async fn categories(conn: &mut AnyConnection) -> Result<Vec<Category>> {
    let rows = sqlx::query(
        "SELECT id, parent_id, name_zh, name_en, created_at FROM knowledge_categories ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(category).collect::<sqlx::Result<_>>()?)
}

pub async fn get_category(conn: &mut AnyConnection, id: i64) -> Result<Option<Category>> {
    let row = sqlx::query(
        "SELECT id, parent_id, name_zh, name_en, created_at FROM knowledge_categories WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(category).transpose()?)
}

pub async fn insert_category(conn: &mut AnyConnection, c: &Category) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO knowledge_categories (parent_id, name_zh, name_en, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(c.parent_id)
    .bind(&c.name_zh)
    .bind(&c.name_en)
    .bind(c.created_at)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn update_category(conn: &mut AnyConnection, c: &Category) -> Result<()> {
    sqlx::query(
        "UPDATE knowledge_categories SET parent_id = $2, name_zh = $3, name_en = $4 WHERE id = $1",
    )
    .bind(c.id)
    .bind(c.parent_id)
    .bind(&c.name_zh)
    .bind(&c.name_en)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    pub helpful: bool,
    pub comment: String,
    pub rated_at: i64,
}

pub async fn rating(
    conn: &mut AnyConnection,
    article_id: i64,
    user_id: i64,
) -> Result<Option<Rating>> {
    let row = sqlx::query(
        "SELECT helpful, comment, rated_at FROM knowledge_ratings WHERE article_id = $1 AND user_id = $2",
    )
    .bind(article_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Rating {
            helpful: r.try_get::<i64, _>(0)? != 0,
            comment: r.try_get(1)?,
            rated_at: r.try_get(2)?,
        })
    })
    .transpose()
    .map_err(|e: sqlx::Error| e.into())
}

/// Records the user's vote, replacing an earlier one.
pub async fn rate(
    conn: &mut AnyConnection,
    article_id: i64,
    user_id: i64,
    r: &Rating,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO knowledge_ratings (article_id, user_id, helpful, comment, rated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (article_id, user_id) \
         DO UPDATE SET helpful = excluded.helpful, comment = excluded.comment, rated_at = excluded.rated_at",
    )
    .bind(article_id)
    .bind(user_id)
    .bind(i64::from(r.helpful))
    .bind(&r.comment)
    .bind(r.rated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A reader's vote with what they wrote, and who they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub helpful: bool,
    pub comment: String,
    pub user_name: String,
    pub rated_at: i64,
}

/// The newest votes that came with a comment.
pub async fn feedback(
    conn: &mut AnyConnection,
    article_id: i64,
    limit: i64,
) -> Result<Vec<Feedback>> {
    let rows = sqlx::query(
        "SELECT r.helpful, r.comment, u.name, r.rated_at FROM knowledge_ratings r \
         JOIN users u ON u.id = r.user_id WHERE r.article_id = $1 AND r.comment <> '' \
         ORDER BY r.rated_at DESC, r.user_id LIMIT $2",
    )
    .bind(article_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Feedback {
                helpful: r.try_get::<i64, _>(0)? != 0,
                comment: r.try_get(1)?,
                user_name: r.try_get(2)?,
                rated_at: r.try_get(3)?,
            })
        })
        .collect()
}

/// (helpful, not helpful) votes of an article.
pub async fn rating_counts(conn: &mut AnyConnection, article_id: i64) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(helpful), 0) AS BIGINT), COUNT(*) FROM knowledge_ratings WHERE article_id = $1",
    )
    .bind(article_id)
    .fetch_one(conn)
    .await?;
    let helpful: i64 = row.try_get(0)?;
    let all: i64 = row.try_get(1)?;
    Ok((helpful, all - helpful))
}

/// Tickets linked to an article as resolved by it, oldest link first.
pub async fn linked_tickets(conn: &mut AnyConnection, article_id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT source_id FROM links WHERE target_kind = 'article' AND target_id = $1 \
         AND source_kind = 'ticket' AND link_type = 'resolved_by' ORDER BY id",
    )
    .bind(article_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

/// Articles a ticket was resolved by, oldest link first.
pub async fn articles_of_ticket(conn: &mut AnyConnection, ticket_id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT target_id FROM links WHERE source_kind = 'ticket' AND source_id = $1 \
         AND target_kind = 'article' AND link_type = 'resolved_by' ORDER BY id",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}

/// The id of the ticket with this human number (INC-000123), for linking forms.
pub async fn ticket_id_by_number(conn: &mut AnyConnection, number: &str) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM tickets WHERE number = $1")
        .bind(number)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}
