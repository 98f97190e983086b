//! `GET /api/customers/{id}/emails`: the notifications mailed to a customer (invoice issued,
//! payment received or failed, trial ending, subscription changed) and what became of each —
//! sent, waiting for a retry (with the last error), skipped (no address) or failed. Read with
//! the customer's billing read right, like its invoices.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_domain::{EmailKind, EmailStatus};
use satang_store::emails::{self, EmailDelivery};

use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_emails))
}

/// One notification and its delivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmailView {
    pub id: Uuid,
    /// The outbox event it tells about.
    pub event_id: Uuid,
    /// `invoice_issued`, `payment_received`, `payment_failed`, `trial_ending`,
    /// `subscription_changed`, `usage_threshold_reached`.
    #[schema(value_type = String)]
    pub kind: EmailKind,
    /// `pending`, `sent`, `skipped` or `failed`.
    #[schema(value_type = String)]
    pub status: EmailStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub recipient: Option<String>,
    /// `th` or `en`.
    pub locale: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<EmailDelivery> for EmailView {
    fn from(d: EmailDelivery) -> Self {
        EmailView {
            id: d.id,
            event_id: d.event_id,
            kind: d.kind,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            recipient: d.recipient,
            locale: d.locale,
            subject: d.subject,
            message_id: d.message_id,
            last_error: d.last_error,
            sent_at: d.sent_at,
            created_at: d.created_at,
        }
    }
}

/// The emails of a customer, oldest first.
#[utoipa::path(get, path = "/api/customers/{id}/emails", tag = "customers", params(("id" = Uuid, Path), PageParams),
    security(("bearer" = [])), responses((status = 200, body = Page<EmailView>), (status = 404, body = Problem)))]
async fn list_emails(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<Uuid>,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<EmailView>>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::ReadBilling).await?;
    let (limit, after) = params.keyset()?;
    let rows = emails::list_for_customer(&state.db, customer_id, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |d| d.id,
        EmailView::from,
    )))
}
