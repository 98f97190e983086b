//! `Idempotency-Key` for every POST (SPEC §2): the first response to a key is stored (encrypted)
//! and replayed for repeats of the same request; the same key with another body is a 422; a
//! repeat while the first is still running is a 409.
//!
//! Keys are scoped to the verified caller (or to anonymous callers as one scope), so nobody can
//! replay another user's response by guessing their key.
//!
//! The handler runs with its commits held back ([`deferred_commit`]): the stored response is
//! written into the transaction of the request's effect, and the two commit together. A crash
//! at any point leaves either both (a retry is answered the first response) or neither (a retry,
//! once the claim has gone stale, runs the request once).

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use satang_store::idempotency::{self, Claim};
use satang_store::{Tx, deferred_commit};

use crate::error::ApiError;
use crate::extract::bearer;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";

#[derive(Serialize, Deserialize)]
struct StoredResponse {
    status: u16,
    content_type: Option<String>,
    body: String,
}

pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 => k.to_owned(),
        _ => {
            return ApiError::BadRequest("Idempotency-Key must be 1–255 visible characters".into())
                .into_response();
        }
    };
    match run(state, key, req, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn run(state: AppState, key: String, req: Request, next: Next) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, state.config.max_body_bytes)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;

    let scope = match bearer(&parts) {
        // An API key's own scope, named by its hash (the key itself is checked by the route).
        Some(secret) if satang_auth::api_keys::is_api_key(secret) => format!(
            "api_key:{}",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                satang_auth::api_keys::hash_secret(secret)
            )
        ),
        _ => match bearer_subject(&state, &parts).await {
            Some(user) => format!("user:{user}"),
            None => "anonymous".to_owned(),
        },
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or(""));
    hasher.update([0]);
    hasher.update(&bytes);
    let request_hash = hasher.finalize().to_vec();

    let now = state.clock.now();
    match idempotency::claim(&state.db, &scope, &key, request_hash, now).await? {
        Claim::Mismatch => {
            return Err(ApiError::field(
                "Idempotency-Key",
                "was already used with a different request",
            ));
        }
        Claim::InFlight => {
            return Err(ApiError::Conflict(
                "a request with this Idempotency-Key is still being processed".into(),
            ));
        }
        Claim::Replay { response, .. } => {
            let stored: StoredResponse = state
                .secrets
                .open(&response)
                .ok()
                .and_then(|plain| serde_json::from_slice(&plain).ok())
                .ok_or_else(|| {
                    ApiError::Internal("stored idempotent response unreadable".into())
                })?;
            return Ok(replay(stored));
        }
        Claim::Claimed => {}
    }

    let (response, parked) =
        deferred_commit::deferring(next.run(Request::from_parts(parts, Body::from(bytes)))).await;
    let status = response.status();
    if status.is_server_error() {
        // The client may retry. What the handler committed before it failed stays committed,
        // as it decided (it may stand for something done outside, such as a charge).
        if let Some(tx) = parked
            && let Err(e) = commit_released(tx, &scope, &key).await
        {
            tracing::error!(error = %e, "commit of a failed idempotent request");
        }
        idempotency::release(&state.db, &scope, &key).await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = match to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => {
            drop(parked);
            idempotency::release(&state.db, &scope, &key).await?;
            return Err(ApiError::Internal(e.to_string()));
        }
    };
    let stored = StoredResponse {
        status: status.as_u16(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: STANDARD.encode(&body),
    };
    let sealed = state
        .secrets
        .seal(&serde_json::to_vec(&stored).unwrap_or_default());
    let Some(tx) = parked else {
        // Nothing left to commit: the request wrote nothing, or committed it already.
        idempotency::complete(&state.db, &scope, &key, now, status.as_u16(), sealed).await?;
        return Ok(Response::from_parts(parts, Body::from(body)));
    };
    match commit_with_response(tx, &scope, &key, now, status.as_u16(), sealed).await {
        Ok(true) => Ok(Response::from_parts(parts, Body::from(body))),
        Ok(false) => Err(ApiError::Conflict(
            "a retry with this Idempotency-Key took it over while this request ran".into(),
        )),
        Err(e) => {
            // Neither the effect nor the response committed: the client may retry.
            idempotency::release(&state.db, &scope, &key).await?;
            Err(e.into())
        }
    }
}

/// Records the response in `tx`, the request's effect, and commits both. False when the claim
/// was no longer ours: this request outlived it and a retry took the key over, so the effect is
/// rolled back (dropped with `tx`) and the retry's stands.
async fn commit_with_response(
    mut tx: Tx,
    scope: &str,
    key: &str,
    claimed_at: DateTime<Utc>,
    status: u16,
    sealed: Vec<u8>,
) -> Result<bool, satang_store::Error> {
    if !idempotency::complete_in(&mut tx, scope, key, claimed_at, status, sealed).await? {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// Commits `tx`, the writes of a request that failed on our side, with its claim released.
async fn commit_released(mut tx: Tx, scope: &str, key: &str) -> Result<(), satang_store::Error> {
    idempotency::release_in(&mut tx, scope, key).await?;
    tx.commit().await
}

fn replay(stored: StoredResponse) -> Response {
    let body = STANDARD.decode(stored.body).unwrap_or_default();
    let mut response = (
        StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK),
        body,
    )
        .into_response();
    if let Some(ct) = stored
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

async fn bearer_subject(
    state: &AppState,
    parts: &axum::http::request::Parts,
) -> Option<uuid::Uuid> {
    let token = bearer(parts)?;
    state
        .verifier
        .verify(token, state.clock.now())
        .await
        .ok()
        .map(|c| c.sub)
}
