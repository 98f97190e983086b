//! API keys (SPEC §2.12): administrators create keys for the seller's own software, list them
//! (never their secrets) and revoke them. The rules live in [`satang_billing::api_keys`];
//! what a key may do once presented is `satang_auth::api_keys`' and [`crate::extract::Caller`]'s.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::api_keys as operations;
use satang_store::api_keys::{self, ApiKey};

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Created, Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The secret's first characters (`sk_` and eight more), to tell keys apart.
    pub prefix: String,
    /// Among `usage:write`, `entitlements:read`, `customers:read`, `customers:write`,
    /// `invoices:read`.
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Recorded at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        ApiKeyView {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.0,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// `sk_…`: send as `Authorization: Bearer sk_…`. Shown this once; only its hash is kept.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyInput {
    /// 1–100 characters, e.g. the program that will hold the key.
    pub name: String,
    pub scopes: Vec<String>,
}

/// The live API keys, oldest first (administrators).
#[utoipa::path(get, path = "/api/api-keys", tag = "api-keys", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<ApiKeyView>), (status = 403, body = Problem)))]
async fn list_api_keys(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<ApiKeyView>>, ApiError> {
    caller.require(Permission::ManageApiKeys)?;
    let (limit, after) = params.keyset()?;
    let rows = api_keys::list_live(&state.db, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |k| k.id,
        ApiKeyView::from,
    )))
}

/// Create a key; the response carries its secret, once (administrators).
#[utoipa::path(post, path = "/api/api-keys", tag = "api-keys", request_body = ApiKeyInput, security(("bearer" = [])),
    responses((status = 201, body = CreatedApiKey), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ApiKeyInput>,
) -> Result<Created<CreatedApiKey>, ApiError> {
    caller.require(Permission::ManageApiKeys)?;
    let created = operations::create_api_key(
        &state.db,
        &caller.actor,
        &body.name,
        &body.scopes,
        state.clock.now(),
    )
    .await?;
    Ok(Created(CreatedApiKey {
        key: created.key.into(),
        secret: created.secret,
    }))
}

/// Revoke a key: from this moment it is refused (401). Administrators.
#[utoipa::path(delete, path = "/api/api-keys/{id}", tag = "api-keys", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ManageApiKeys)?;
    operations::revoke_api_key(&state.db, &caller.actor, id, state.clock.now()).await?;
    state.api_keys.forget_all();
    Ok(StatusCode::NO_CONTENT)
}
