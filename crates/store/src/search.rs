//! Full-text search for Chinese and English on both backends. Text is segmented with jieba
//! when written (`cut_for_search`, which also emits the shorter words inside long ones) and
//! stored space-separated; SQLite indexes it with FTS5, PostgreSQL with a 'simple' tsvector.
//! A query is segmented with plain `cut`, so each of its words is one the document holds.

use crate::sql::Sql;
use crate::{Backend, Result};
use jieba_rs::Jieba;
use sqlx::AnyConnection;
use std::sync::OnceLock;

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// Loads the dictionary now rather than on the first request.
pub fn warm_up() {
    let _ = jieba();
}

/// Words made only of letters and digits (any script), lower-cased; punctuation splits words.
fn words<'a>(tokens: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out = Vec::new();
    for t in tokens {
        for w in t.split(|c: char| !c.is_alphanumeric()) {
            if !w.is_empty() {
                out.push(w.to_lowercase());
            }
        }
    }
    out
}

/// The indexed form of a document.
pub fn segment_document(text: &str) -> String {
    words(jieba().cut_for_search(text, true).into_iter()).join(" ")
}

/// The words of a query, de-duplicated, at most 16.
pub fn segment_query(query: &str) -> Vec<String> {
    let mut ws = words(jieba().cut(query, true).into_iter());
    let mut seen = std::collections::HashSet::new();
    ws.retain(|w| seen.insert(w.clone()));
    ws.truncate(16);
    ws
}

/// The backend's query expression: every word must match; the last one may be a prefix when it
/// is ASCII (so "print" finds "printer" while typing).
pub fn match_expression(backend: Backend, words: &[String]) -> String {
    let last = words.len().saturating_sub(1);
    let parts = words.iter().enumerate().map(|(i, w)| {
        let prefix = i == last && w.is_ascii();
        match (backend, prefix) {
            (Backend::Sqlite, false) => format!("\"{w}\""),
            (Backend::Sqlite, true) => format!("\"{w}\"*"),
            (Backend::Postgres, false) => w.clone(),
            (Backend::Postgres, true) => format!("{w}:*"),
        }
    });
    let sep = match backend {
        Backend::Sqlite => " AND ",
        Backend::Postgres => " & ",
    };
    parts.collect::<Vec<_>>().join(sep)
}

/// The FTS5 MATCH argument: the words, limited to the public column unless staff search.
pub fn sqlite_match(words: &[String], include_internal: bool) -> String {
    let expr = match_expression(Backend::Sqlite, words);
    if include_internal {
        format!("{{public internal}} : ({expr})")
    } else {
        format!("public : ({expr})")
    }
}

/// Appends a condition on `t.id` that holds for tickets matching `words`; `include_internal`
/// also searches internal notes (staff only).
pub fn push_ticket_match(
    sql: &mut Sql,
    backend: Backend,
    words: &[String],
    include_internal: bool,
) {
    let expr = match_expression(backend, words);
    match backend {
        Backend::Sqlite => {
            let filtered = sqlite_match(words, include_internal);
            sql.push("t.id IN (SELECT rowid FROM ticket_search WHERE ticket_search MATCH ")
                .bind(filtered)
                .push(")");
        }
        Backend::Postgres => {
            // Staff match words spread over replies and notes, as FTS5 does with both columns.
            let doc = if include_internal {
                "(public || internal)"
            } else {
                "public"
            };
            sql.push(&format!(
                "t.id IN (SELECT rowid FROM ticket_search WHERE {doc} @@ to_tsquery('simple', "
            ))
            .bind(expr)
            .push("))");
        }
    }
}

/// Creates the index row of a new ticket from its segmented text ([`segment_document`], done by
/// the caller before the write so that the single writer spends no time on it).
pub async fn index_ticket(
    conn: &mut AnyConnection,
    backend: Backend,
    ticket_id: i64,
    segmented: &str,
) -> Result<()> {
    let doc = segmented;
    let sql = match backend {
        Backend::Sqlite => "INSERT INTO ticket_search (rowid, public, internal) VALUES ($1, $2, '')",
        Backend::Postgres => {
            "INSERT INTO ticket_search (rowid, public, internal) VALUES ($1, to_tsvector('simple', $2), ''::tsvector)"
        }
    };
    sqlx::query(sql)
        .bind(ticket_id)
        .bind(doc)
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds segmented text (a reply, a note, a changed title) to a ticket's index row.
pub async fn append_ticket_text(
    conn: &mut AnyConnection,
    backend: Backend,
    ticket_id: i64,
    segmented: &str,
    internal: bool,
) -> Result<()> {
    let doc = segmented;
    let sql = match (backend, internal) {
        (Backend::Sqlite, false) => "UPDATE ticket_search SET public = public || ' ' || $2 WHERE rowid = $1",
        (Backend::Sqlite, true) => "UPDATE ticket_search SET internal = internal || ' ' || $2 WHERE rowid = $1",
        (Backend::Postgres, false) => {
            "UPDATE ticket_search SET public = public || to_tsvector('simple', $2) WHERE rowid = $1"
        }
        (Backend::Postgres, true) => {
            "UPDATE ticket_search SET internal = internal || to_tsvector('simple', $2) WHERE rowid = $1"
        }
    };
    sqlx::query(sql)
        .bind(ticket_id)
        .bind(doc)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_words_are_found_inside_sentences() {
        let doc = segment_document("打印机无法连接网络");
        let tokens: Vec<&str> = doc.split(' ').collect();
        for q in ["打印机", "网络", "连接"] {
            for w in segment_query(q) {
                assert!(tokens.contains(&w.as_str()), "{w} not in {doc}");
            }
        }
    }

    #[test]
    fn punctuation_never_reaches_the_expression() {
        let ws = segment_query("VPN \"drops\" -- every: hour!");
        assert_eq!(ws, vec!["vpn", "drops", "every", "hour"]);
        assert_eq!(
            match_expression(Backend::Sqlite, &ws),
            "\"vpn\" AND \"drops\" AND \"every\" AND \"hour\"*"
        );
        assert_eq!(
            match_expression(Backend::Postgres, &ws),
            "vpn & drops & every & hour:*"
        );
    }
}
