//! The links panel every record page can show: its links both ways, each with how it reads
//! from this side, a remove button, and a form to add a link by kind, number and type. A page
//! includes it with one field (`links: LinksPanel`, built by [`panel`]) and one line
//! (`{% include "links_panel.html" %}`).

use super::form::{self, Fields};
use super::session::WebUser;
use super::{finish, safe_next, see_other};
use crate::app::links::{self, LinkView, NewLinkInput};
use crate::app::{App, AppError, AppResult};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use steward_core::{LinkType, RecordKind};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/links", post(add))
        .route("/links/{id}/delete", post(remove))
}

pub struct LinksPanel {
    pub kind: String,
    pub id: i64,
    /// The record's number, e.g. INC-000012.
    pub number: String,
    pub items: Vec<LinkView>,
    /// Shows the add form and remove buttons.
    pub can_edit: bool,
    /// Where the forms come back to.
    pub back: String,
    pub kinds: Vec<&'static str>,
    pub types: Vec<&'static str>,
}

/// The links panel of a record the user may see.
pub async fn panel(app: &App, u: &WebUser, kind: RecordKind, id: i64) -> AppResult<LinksPanel> {
    let (number, items) = if u.actor.role.is_staff() {
        (
            links::number_of(app, &u.actor, kind, id).await?,
            links::list(app, &u.actor, kind.as_str(), id).await?,
        )
    } else {
        (String::new(), vec![])
    };
    Ok(LinksPanel {
        kind: kind.as_str().into(),
        id,
        number,
        items,
        can_edit: links::can_link(&u.actor),
        back: links::record_url(kind.as_str(), id),
        kinds: RecordKind::ALL.iter().map(|k| k.as_str()).collect(),
        types: LinkType::ALL.iter().map(|t| t.as_str()).collect(),
    })
}

fn back(f: &Fields) -> String {
    safe_next(Some(f.get("back")))
}

async fn add(State(s): State<AppState>, u: WebUser, headers: HeaderMap, f: Fields) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let source_id = f
            .id("source_id")?
            .ok_or_else(|| AppError::invalid("source_id", "is required"))?;
        let (target_kind, target_id) =
            links::find(&s.app, &u.actor, f.get("target_kind"), f.get("number")).await?;
        links::create(
            &s.app,
            &u.actor,
            NewLinkInput {
                source_kind: f.get("source_kind").into(),
                source_id,
                target_kind: target_kind.as_str().into(),
                target_id,
                link_type: f.get("link_type").into(),
            },
        )
        .await?;
        Ok(see_other(&back(&f)))
    }
    .await;
    finish(&u, r)
}

async fn remove(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        links::delete(&s.app, &u.actor, id).await?;
        Ok(see_other(&back(&f)))
    }
    .await;
    finish(&u, r)
}
