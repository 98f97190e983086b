//! Reading the audit log (SPEC §2.8).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_store::audit;

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_events))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEventView {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// The user who made the change (null for the system and for API keys).
    pub actor_id: Option<Uuid>,
    /// The API key the change was made with, and that key's name.
    pub actor_api_key_id: Option<Uuid>,
    pub actor_api_key_name: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl From<audit::AuditEvent> for AuditEventView {
    fn from(e: audit::AuditEvent) -> Self {
        AuditEventView {
            id: e.id,
            occurred_at: e.occurred_at,
            actor_id: e.actor_id,
            actor_api_key_id: e.actor_api_key_id,
            actor_api_key_name: e.actor_api_key_name,
            action: e.action,
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            before: e.before.map(|j| j.0),
            after: e.after.map(|j| j.0),
            request_id: e.request_id,
            ip: e.ip,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Audit events, newest first.
#[utoipa::path(get, path = "/api/audit-events", tag = "audit", params(AuditFilter), security(("bearer" = [])),
    responses((status = 200, body = Page<AuditEventView>), (status = 403, body = Problem)))]
async fn list_audit_events(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<AuditFilter>,
) -> Result<axum::Json<Page<AuditEventView>>, ApiError> {
    caller.require(Permission::ReadAudit)?;
    let (limit, before) = PageParams {
        limit: filter.limit,
        cursor: filter.cursor,
    }
    .keyset()?;
    for (name, value) in [
        ("entity_type", &filter.entity_type),
        ("entity_id", &filter.entity_id),
    ] {
        if value.as_ref().is_some_and(|v| v.len() > 100) {
            return Err(ApiError::BadRequest(format!("{name} is too long")));
        }
    }
    let rows = audit::list(
        &state.db,
        filter.entity_type.as_deref(),
        filter.entity_id.as_deref(),
        before,
        limit + 1,
    )
    .await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |e| e.id,
        AuditEventView::from,
    )))
}
