//! /api/v1/tickets and /api/v1/attachments.

use super::extract::{if_match_version, ApiActor, ApiJson, CreateJson};
use super::problem::Problem;
use crate::app::attachments::{self, Upload};
use crate::app::conversation::{self, NewCommentInput};
use crate::app::tickets::{self, NewTicketInput, TicketPatch, TicketQuery};
use crate::app::views::{AttachmentView, CommentView, HistoryEntry, Page, TicketView};
use crate::app::AppError;
use crate::http::AppState;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

fn with_etag(view: TicketView, status: StatusCode) -> Response {
    let etag = view.etag();
    let mut res = (status, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets",
    request_body = NewTicketInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retried create returns the first result")),
    responses((status = 201, body = TicketView), (status = 422, body = Problem), (status = 403, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    body: CreateJson<NewTicketInput>,
) -> Result<Response, Problem> {
    let view = tickets::create_ticket(&s.app, &actor, body.value, body.key).await?;
    Ok(with_etag(view, StatusCode::CREATED))
}

#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(TicketQuery),
    responses((status = 200, body = Page<TicketView>), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<Page<TicketView>>, Problem> {
    let q: TicketQuery = super::query_params(uri.query())?;
    Ok(Json(tickets::list_tickets(&s.app, &actor, &q).await?))
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets", params(("id" = i64, Path)),
    responses((status = 200, body = TicketView, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    Ok(with_etag(
        tickets::get_ticket(&s.app, &actor, id).await?,
        StatusCode::OK,
    ))
}

#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "tickets", request_body = TicketPatch,
    params(("id" = i64, Path), ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when stale")),
    responses((status = 200, body = TicketView), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<TicketPatch>,
) -> Result<Response, Problem> {
    let version = if_match_version(&headers, id)?;
    let view = tickets::update_ticket(&s.app, &actor, id, patch, version).await?;
    Ok(with_etag(view, StatusCode::OK))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CommentList {
    pub items: Vec<CommentView>,
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}/comments", tag = "tickets", params(("id" = i64, Path)),
    responses((status = 200, body = CommentList), (status = 404, body = Problem)))]
pub async fn comments(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<CommentList>, Problem> {
    Ok(Json(CommentList {
        items: conversation::list_comments(&s.app, &actor, id).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/tickets/{id}/comments", tag = "tickets", request_body = NewCommentInput,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CommentView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn add_comment(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    body: CreateJson<NewCommentInput>,
) -> Result<(StatusCode, Json<CommentView>), Problem> {
    let view = conversation::add_comment(&s.app, &actor, id, body.value, body.key).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryList {
    pub items: Vec<HistoryEntry>,
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}/history", tag = "tickets", params(("id" = i64, Path)),
    responses((status = 200, body = HistoryList), (status = 404, body = Problem)))]
pub async fn history(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<HistoryList>, Problem> {
    Ok(Json(HistoryList {
        items: conversation::history(&s.app, &actor, id).await?,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AttachmentList {
    pub items: Vec<AttachmentView>,
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}/attachments", tag = "tickets", params(("id" = i64, Path)),
    responses((status = 200, body = AttachmentList), (status = 404, body = Problem)))]
pub async fn attachments_of(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Json<AttachmentList>, Problem> {
    Ok(Json(AttachmentList {
        items: attachments::list_attachments(&s.app, &actor, id).await?,
    }))
}

/// Reads the multipart upload: a `file` part and an optional `comment_id` part. Anything
/// larger than the limit is refused with 413 before it is stored.
pub async fn read_upload(
    mut mp: Multipart,
    limit: usize,
) -> Result<(Upload, Option<i64>), AppError> {
    let mut upload = None;
    let mut comment_id = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(AppError::TooLarge {
                    field: "file".into(),
                    limit,
                })
            }
            Err(e) => {
                return Err(AppError::BadRequest(format!(
                    "malformed multipart body: {}",
                    e.body_text()
                )))
            }
        };
        match field.name() {
            Some("file") => {
                let filename = field.file_name().unwrap_or("attachment").to_string();
                let content_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let bytes = field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        AppError::TooLarge {
                            field: "file".into(),
                            limit,
                        }
                    } else {
                        AppError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
                    }
                })?;
                if bytes.len() > limit {
                    return Err(AppError::TooLarge {
                        field: "file".into(),
                        limit,
                    });
                }
                upload = Some(Upload {
                    filename,
                    content_type,
                    bytes,
                });
            }
            Some("comment_id") => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| AppError::BadRequest(e.body_text()))?;
                if !text.trim().is_empty() {
                    comment_id = Some(
                        text.trim()
                            .parse()
                            .map_err(|_| AppError::invalid("comment_id", "must be a number"))?,
                    );
                }
            }
            _ => {}
        }
    }
    let upload = upload.ok_or_else(|| AppError::invalid("file", "is required"))?;
    Ok((upload, comment_id))
}

#[utoipa::path(post, path = "/api/v1/tickets/{id}/attachments", tag = "tickets", params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "`file` (required) and `comment_id` (optional)"),
    responses((status = 201, body = AttachmentView), (status = 413, body = Problem), (status = 404, body = Problem)))]
pub async fn upload(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<AttachmentView>), Problem> {
    let mp = mp.map_err(|e| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            e.body_text(),
        )
        .with_field("Content-Type")
    })?;
    let (upload, comment_id) = read_upload(mp, s.app.limits.attachment_bytes).await?;
    let view = attachments::add_attachment(&s.app, &actor, id, comment_id, upload).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Every attachment is a download: `Content-Disposition: attachment`, and types a browser could
/// run (HTML, SVG, XML, scripts) are sent as application/octet-stream.
pub fn download_response(view: &AttachmentView, bytes: axum::body::Bytes) -> Response {
    let ct = view.content_type.to_ascii_lowercase();
    let safe = [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
    ];
    let content_type = if safe.iter().any(|s| ct.split(';').next() == Some(*s)) {
        view.content_type.clone()
    } else {
        "application/octet-stream".to_string()
    };
    let ascii: String = view
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = form_urlencoded::byte_serialize(view.filename.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    res
}

#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "tickets", params(("id" = i64, Path)),
    responses((status = 200, description = "The file, as a download"), (status = 404, body = Problem)))]
pub async fn download(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let (view, bytes) = attachments::download(&s.app, &actor, id).await?;
    Ok(download_response(&view, bytes))
}
