//! Reading HTML forms: url-encoded fields (repeated names allowed, e.g. checkboxes), multipart
//! forms with one optional file, and the CSRF + same-origin check every form passes.

use super::session::WebUser;
use crate::app::attachments::Upload;
use crate::app::AppError;
use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// The fields of a submitted form, in order.
#[derive(Debug, Default, Clone)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Fields {
        Fields(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of a field, or "" when it is absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// The trimmed value, or None when absent or blank.
    pub fn opt(&self, name: &str) -> Option<String> {
        let v = self.get(name).trim();
        (!v.is_empty()).then(|| v.to_string())
    }

    /// Every value of a repeated field (checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// An optional id: blank is None; anything but a number is an error naming the field.
    pub fn id(&self, name: &str) -> Result<Option<i64>, AppError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| AppError::invalid(name, "must be a number")),
        }
    }

    /// Every value of a repeated id field.
    pub fn ids(&self, name: &str) -> Result<Vec<i64>, AppError> {
        self.all(name)
            .into_iter()
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| AppError::invalid(name, "must be a number"))
            })
            .collect()
    }

    /// The `version` hidden field, for If-Match semantics on updates.
    pub fn version(&self) -> Option<i64> {
        self.get("version").trim().parse().ok()
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, e.body_text()).into_response())?;
        Ok(Fields::parse(&body))
    }
}

/// A multipart form: its text fields and, when one was chosen, the file in `file`.
pub struct MultipartForm {
    pub fields: Fields,
    pub file: Option<Upload>,
}

/// Text fields of a multipart form are small; the file has the attachment limit.
const TEXT_FIELD_LIMIT: usize = 256 * 1024;

/// Reads a multipart form, streaming so that a file over `limit` bytes is refused before it
/// is held in memory. An empty file input (nothing chosen) is no file.
pub async fn read_multipart(
    mp: Result<Multipart, MultipartRejection>,
    limit: usize,
) -> Result<MultipartForm, AppError> {
    let mut mp = mp.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let mut fields = Vec::new();
    let mut file = None;
    let mut text_bytes = 0usize;
    // Every part together: one file and the text fields; other file inputs count too.
    let mut total = 0usize;
    let too_large = |field: &str, limit: usize| AppError::TooLarge {
        field: field.to_string(),
        limit,
    };
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(too_large("file", limit))
            }
            Err(e) => return Err(AppError::BadRequest(e.body_text())),
        };
        let name = field.name().unwrap_or_default().to_string();
        if let Some(filename) = field.file_name().map(str::to_string) {
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let mut data = Vec::new();
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        total += chunk.len();
                        if data.len() + chunk.len() > limit || total > limit + TEXT_FIELD_LIMIT {
                            return Err(too_large(&name, limit));
                        }
                        data.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        return Err(too_large(&name, limit))
                    }
                    Err(e) => return Err(AppError::BadRequest(e.body_text())),
                }
            }
            if name == "file" && !(filename.is_empty() && data.is_empty()) {
                if data.is_empty() {
                    return Err(AppError::invalid("file", "is empty"));
                }
                file = Some(Upload {
                    filename,
                    content_type,
                    bytes: Bytes::from(data),
                });
            }
        } else {
            let mut data = Vec::new();
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        text_bytes += chunk.len();
                        if text_bytes > TEXT_FIELD_LIMIT {
                            return Err(too_large(&name, TEXT_FIELD_LIMIT));
                        }
                        data.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) => return Err(AppError::BadRequest(e.body_text())),
                }
            }
            let text = String::from_utf8(data)
                .map_err(|_| AppError::invalid(&name, "is not valid UTF-8 text"))?;
            fields.push((name, text));
        }
    }
    Ok(MultipartForm {
        fields: Fields(fields),
        file,
    })
}

/// Every form: from this site, and carrying this session's CSRF token.
pub fn check(u: &WebUser, headers: &HeaderMap, fields: &Fields) -> Result<(), AppError> {
    if !super::same_origin(headers) {
        return Err(AppError::forbidden("csrf: cross-site form"));
    }
    u.check_csrf(fields.get("csrf"))
}

/// The CIs a text field names: comma-separated references, each a CI number ("42", "#42") or a
/// suggestion of the CI picker ("#42 db-01 (database)"), whose leading number counts.
pub fn ci_refs(field: &str, text: &str) -> Result<Vec<i64>, AppError> {
    text.split([',', '，', '、', ';', '\n'])
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| {
            let r = r.strip_prefix('#').unwrap_or(r);
            let digits = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            r[..digits].parse().map_err(|_| {
                AppError::invalid(
                    field,
                    "name CIs by number (#42) or pick them from the suggestions",
                )
            })
        })
        .collect()
}

/// A random token for a form, used as its idempotency key so that a double submit creates one
/// record.
pub fn form_nonce() -> String {
    crate::app::auth::random_hex(16)
}

#[cfg(test)]
mod tests {
    use super::Fields;

    #[test]
    fn repeated_fields_and_blanks() {
        let f = Fields::parse(b"a=1&team_ids=2&team_ids=3&b=+&c=x%20y");
        assert_eq!(f.get("a"), "1");
        assert_eq!(f.ids("team_ids").unwrap(), vec![2, 3]);
        assert_eq!(f.opt("b"), None);
        assert_eq!(f.opt("c").as_deref(), Some("x y"));
        assert!(f.id("c").is_err());
        assert_eq!(f.id("missing").unwrap(), None);
    }

    #[test]
    fn ci_references_by_number_or_suggestion() {
        assert_eq!(
            super::ci_refs("ci_ids", "12, #34 db-01 (database)，56、 ").unwrap(),
            vec![12, 34, 56]
        );
        assert_eq!(super::ci_refs("ci_ids", " ").unwrap(), Vec::<i64>::new());
        assert!(super::ci_refs("ci_ids", "12, db-01").is_err());
        assert!(super::ci_refs("ci_ids", "#").is_err());
    }
}
