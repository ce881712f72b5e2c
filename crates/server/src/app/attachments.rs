//! Attachments on tickets and comments: content-addressed blobs (SHA-256) in the object store,
//! a row per attachment, size-limited, and downloaded only by those who see the ticket (and,
//! for an internal note's files, only by staff).

use super::views::AttachmentView;
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};
use steward_core::Capability;
use steward_store::tickets::{self, Attachment};

pub(crate) fn blob_path(sha256: &str) -> Path {
    Path::from(format!(
        "sha256/{}/{}/{}",
        &sha256[..2],
        &sha256[2..4],
        sha256
    ))
}

/// Keeps the last path component, drops control characters, and bounds the length; an empty
/// result becomes "attachment".
pub fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "attachment".into()
    } else {
        cleaned
    }
}

pub struct Upload {
    pub filename: String,
    pub content_type: String,
    pub bytes: Bytes,
}

pub async fn add_attachment(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
    comment_id: Option<i64>,
    upload: Upload,
) -> AppResult<AttachmentView> {
    if upload.bytes.len() > app.limits.attachment_bytes {
        return Err(AppError::TooLarge {
            field: "file".into(),
            limit: app.limits.attachment_bytes,
        });
    }
    if upload.bytes.is_empty() {
        return Err(AppError::invalid("file", "is empty"));
    }
    if !actor.can(Capability::SubmitTicket) && !actor.can(Capability::EditTickets) {
        crate::app::tickets::get_ticket(app, actor, ticket_id).await?;
        return Err(AppError::forbidden("your role does not allow attachments"));
    }
    // Check visibility before storing anything.
    crate::app::tickets::get_ticket(app, actor, ticket_id).await?;
    let sha = hex::encode(Sha256::digest(&upload.bytes));
    let size = upload.bytes.len() as i64;
    app.blobs
        .put(&blob_path(&sha), PutPayload::from_bytes(upload.bytes))
        .await
        .map_err(|e| AppError::BadRequest(format!("the file could not be stored: {e}")))?;
    let filename = clean_filename(&upload.filename);
    let content_type = if upload.content_type.len() <= 100
        && upload.content_type.contains('/')
        && !upload.content_type.contains(char::is_control)
    {
        upload.content_type
    } else {
        "application/octet-stream".into()
    };
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let t = actor.visible_ticket(&mut ctx.conn, ticket_id).await?;
                if !actor.can(Capability::EditTickets) && t.requester_id != actor.user_id {
                    return Err(AppError::forbidden(
                        "only the requester or the service desk adds files to this ticket",
                    ));
                }
                if t.status
                    .parse::<steward_core::Status>()
                    .is_ok_and(|s| s.is_final())
                {
                    return Err(AppError::Conflict {
                        message: format!(
                            "ticket {} is {}; it takes no more files",
                            t.number, t.status
                        ),
                        allowed: None,
                    });
                }
                if let Some(c) = comment_id {
                    let comment = tickets::get_comment(&mut ctx.conn, c)
                        .await?
                        .filter(|cm| {
                            cm.ticket_id == t.id
                                && (!cm.internal || actor.can(Capability::InternalNotes))
                        })
                        .ok_or_else(|| {
                            AppError::invalid("comment_id", "no such comment on this ticket")
                        })?;
                    if comment.author_id != actor.user_id && !actor.can(Capability::EditTickets) {
                        return Err(AppError::forbidden(
                            "comment_id: you may attach files only to your own replies",
                        ));
                    }
                }
                let now = now();
                let mut a = Attachment {
                    id: 0,
                    ticket_id,
                    comment_id,
                    filename,
                    content_type,
                    size,
                    sha256: sha,
                    uploaded_by: actor.user_id,
                    created_at: now,
                };
                // A form sent again (a retry after an error, a double click) adds nothing.
                if let Some(existing) = tickets::same_attachment(&mut ctx.conn, &a).await? {
                    return Ok(AttachmentView::from(&existing));
                }
                a.id = tickets::insert_attachment(&mut ctx.conn, &a).await?;
                tickets::touch(&mut ctx.conn, ticket_id, now).await?;
                let field = comment_id.map(|c| format!("comment:{c}"));
                AuditTrail::new(&actor, "ticket", ticket_id, now)
                    .record(
                        ctx,
                        "attach",
                        field.as_deref(),
                        None,
                        Some(a.filename.clone()),
                    )
                    .await?;
                Ok(AttachmentView::from(&a))
            })
        })
        .await
}

pub async fn list_attachments(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
) -> AppResult<Vec<AttachmentView>> {
    let mut conn = app.read().await?;
    actor.visible_ticket(&mut conn, ticket_id).await?;
    let staff = actor.can(Capability::InternalNotes);
    let visible_comments: Vec<i64> = tickets::comments(&mut conn, ticket_id, staff)
        .await?
        .iter()
        .map(|c| c.id)
        .collect();
    Ok(tickets::attachments(&mut conn, ticket_id)
        .await?
        .iter()
        .filter(|a| a.comment_id.is_none_or(|c| visible_comments.contains(&c)))
        .map(AttachmentView::from)
        .collect())
}

pub async fn download(app: &App, actor: &Actor, id: i64) -> AppResult<(AttachmentView, Bytes)> {
    let a = {
        let mut conn = app.read().await?;
        let a = tickets::get_attachment(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound)?;
        actor.visible_ticket(&mut conn, a.ticket_id).await?;
        if let Some(c) = a.comment_id {
            let comment = tickets::get_comment(&mut conn, c)
                .await?
                .ok_or(AppError::NotFound)?;
            if comment.internal && !actor.can(Capability::InternalNotes) {
                return Err(AppError::NotFound);
            }
        }
        a
    };
    let bytes = app
        .blobs
        .get(&blob_path(&a.sha256))
        .await
        .map_err(|_| AppError::NotFound)?
        .bytes()
        .await
        .map_err(|_| AppError::NotFound)?;
    Ok((AttachmentView::from(&a), bytes))
}

#[cfg(test)]
mod tests {
    use super::clean_filename;

    #[test]
    fn filenames_lose_paths_and_controls() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\Users\\x\\报告.pdf"), "报告.pdf");
        assert_eq!(clean_filename("a\r\nb.txt"), "ab.txt");
        assert_eq!(clean_filename(".."), "attachment");
    }
}
