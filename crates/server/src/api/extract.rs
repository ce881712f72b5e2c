//! Extractors that turn bad input into problem+json naming the field, so that handlers see
//! only well-formed requests.

use super::problem::Problem;
use crate::app::idempotency::IdempotencyKey;
use crate::app::{auth, Actor, AppError};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// JSON body: wrong content type → 415, too large → 413, malformed → 400, a wrong field → 422
/// naming it.
pub struct ApiJson<T>(pub T);

fn json_error_field(path: &str, message: &str) -> String {
    if path != "." && !path.is_empty() {
        return path.to_string();
    }
    // "missing field `title`" / "unknown field `x`, expected ..."
    message
        .split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| "body".to_string())
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("malformed JSON: {message}"),
            )
            .with_field("body")
        } else {
            let field = json_error_field(&path, &message);
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("{field}: {message}"),
            )
            .with_field(field)
        }
    })
}

pub fn body_problem(e: axum::extract::rejection::BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is too large",
        )
        .with_field("body")
    } else {
        Problem::new(e.status(), "bad_request", e.body_text()).with_field("body")
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        require_json_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_problem)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The caller, from `Authorization: Bearer` or, for browsers, the session cookie with the CSRF
/// token in `X-CSRF-Token` on every state change.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let token = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    Problem::from(AppError::Unauthenticated).with_field("Authorization")
                })?;
            return auth::token_actor(&state.app, token.trim())
                .await
                .map(ApiActor)
                .map_err(|e| Problem::from(e).with_field("Authorization"));
        }
        let Some(session) = crate::web::session::cookie(&parts.headers, state) else {
            return Err(Problem::from(AppError::Unauthenticated).with_field("Authorization"));
        };
        let (mut actor, csrf) = auth::session_actor(&state.app, &session)
            .await
            .map_err(Problem::from)?;
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if sent != csrf {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "missing or wrong CSRF token",
                )
                .with_field("X-CSRF-Token"));
            }
        }
        actor.channel = steward_core::Channel::Api;
        Ok(ApiActor(actor))
    }
}

/// `Idempotency-Key`, with a fingerprint of the request it came with.
pub fn idempotency_key(
    headers: &axum::http::HeaderMap,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<Option<IdempotencyKey>, Problem> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v.to_str().map_err(|_| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "Idempotency-Key must be ASCII",
        )
        .with_field("Idempotency-Key")
    })?;
    let request = format!("{method} {path} {}", hex::encode(Sha256::digest(body)));
    IdempotencyKey::parse(key, request)
        .map(Some)
        .map_err(Problem::from)
}

/// `If-Match: "id-version"` → version. A malformed value can never match, so it is 412.
pub fn if_match_version(headers: &axum::http::HeaderMap, id: i64) -> Result<Option<i64>, Problem> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .unwrap_or_default()
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"');
    if s == "*" {
        return Ok(None);
    }
    let version = s
        .split_once('-')
        .filter(|(i, _)| i.parse::<i64>().ok() == Some(id))
        .and_then(|(_, v)| v.parse::<i64>().ok());
    match version {
        Some(v) => Ok(Some(v)),
        None => Err(Problem::from(AppError::Stale)),
    }
}

/// A JSON create body together with its `Idempotency-Key`.
pub struct CreateJson<T> {
    pub value: T,
    pub key: Option<IdempotencyKey>,
}

fn require_json_content_type(headers: &axum::http::HeaderMap) -> Result<(), Problem> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let mime = v
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        });
    if is_json {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        )
        .with_field("Content-Type"))
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for CreateJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        require_json_content_type(req.headers())?;
        let (method, path, headers) = (
            req.method().clone(),
            req.uri().path().to_string(),
            req.headers().clone(),
        );
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_problem)?;
        let key = idempotency_key(&headers, &method, &path, &bytes)?;
        let value = parse_json(&bytes)?;
        Ok(CreateJson { value, key })
    }
}
