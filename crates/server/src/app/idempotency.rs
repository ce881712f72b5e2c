//! `Idempotency-Key` on creates: the first response is stored in the same transaction as the
//! record it describes, and a retry with the same key returns it instead of creating again.

use super::{now, AppError, AppResult};
use serde::de::DeserializeOwned;
use serde::Serialize;
use steward_store::tickets::{self, StoredResponse};
use steward_store::WriteCtx;

#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    /// Method, path and a hash of the body: the same key with another request is refused.
    pub request: String,
}

impl IdempotencyKey {
    pub fn parse(key: &str, request: String) -> AppResult<IdempotencyKey> {
        let key = key.trim();
        if key.is_empty() || key.len() > 200 || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(AppError::invalid(
                "Idempotency-Key",
                "must be 1-200 visible ASCII characters",
            ));
        }
        Ok(IdempotencyKey {
            key: key.to_string(),
            request,
        })
    }
}

pub async fn replay<T: DeserializeOwned>(
    ctx: &mut WriteCtx,
    user_id: i64,
    key: &Option<IdempotencyKey>,
) -> AppResult<Option<T>> {
    let Some(k) = key else { return Ok(None) };
    match tickets::idempotent_response(&mut ctx.conn, user_id, &k.key).await? {
        None => Ok(None),
        Some(stored) if stored.request != k.request => Err(AppError::invalid(
            "Idempotency-Key",
            "was already used for a different request",
        )),
        Some(stored) => serde_json::from_str(&stored.body)
            .map(Some)
            .map_err(|e| AppError::BadRequest(format!("stored response unreadable: {e}"))),
    }
}

pub async fn remember<T: Serialize>(
    ctx: &mut WriteCtx,
    user_id: i64,
    key: &Option<IdempotencyKey>,
    value: &T,
) -> AppResult<()> {
    let Some(k) = key else { return Ok(()) };
    let body = serde_json::to_string(value).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let stored = StoredResponse {
        request: k.request.clone(),
        status: 201,
        body,
    };
    tickets::save_idempotent_response(&mut ctx.conn, user_id, &k.key, &stored, now()).await?;
    Ok(())
}
