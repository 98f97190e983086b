//! `Idempotency-Key` for every POST (SPEC §2): the first response to a key is stored (encrypted)
//! and replayed for repeats of the same request; the same key with another body is a 422; a
//! repeat while the first is still running is a 409.
//!
//! Keys are scoped to the verified caller (or to anonymous callers as one scope), so nobody can
//! replay another user's response by guessing their key.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use satang_store::idempotency::{self, Claim};

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

    let scope = match bearer_subject(&state, &parts).await {
        Some(user) => format!("user:{user}"),
        None => "anonymous".to_owned(),
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

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = response.status();
    if status.is_server_error() {
        idempotency::release(&state.db, &scope, &key).await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
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
    idempotency::complete(&state.db, &scope, &key, status.as_u16(), sealed).await?;
    Ok(Response::from_parts(parts, Body::from(body)))
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
