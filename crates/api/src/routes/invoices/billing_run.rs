//! `POST /api/billing/run` (admin, `RunBilling`): runs the billing engine once, now, on the
//! server's clock (the test clock when enabled), and answers its report.

use axum::extract::State;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;

use crate::error::{ApiError, Problem};
use crate::extract::Caller;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(run_billing))
}

/// What a billing run did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunReportView {
    /// The Bangkok date billed up to (inclusive).
    pub date: Option<NaiveDate>,
    pub invoice_ids: Vec<Uuid>,
    pub invoices_created: u32,
    pub subscriptions_canceled: u32,
    /// Periods already invoiced (by another process or an earlier run): skipped.
    pub skipped_duplicates: u32,
    /// Subscriptions left for the next run after an error (logged).
    pub failed: u32,
    pub stopped_early: bool,
    /// Trials ending within three days whose customers were warned
    /// (`subscription.trial_will_end`, once per subscription).
    pub trial_notices: u32,
    /// Automatic collection after the run: invoices charged, charges declined, customers
    /// suspended by dunning.
    pub charged: u32,
    pub declined: u32,
    /// Charges the gateway gave no answer to (a provider down or timing out): tried again on
    /// the next run with the same idempotency key.
    pub unanswered: u32,
    pub customers_suspended: u32,
    /// Usage invoices issued mid-period because a subscription's unbilled usage reached its
    /// `billing_threshold` (not counted in `invoices_created`).
    pub threshold_invoices: u32,
}

/// Invoice every subscription whose next billing date has come.
#[utoipa::path(post, path = "/api/billing/run", tag = "invoices", security(("bearer" = [])),
    responses((status = 200, body = RunReportView), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn run_billing(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<RunReportView>, ApiError> {
    caller.require(Permission::RunBilling)?;
    let now = state.clock.now();
    let r = satang_billing::run_billing_until(
        &state.db,
        &state.clock,
        now,
        &caller.actor,
        std::sync::Arc::new(|| false),
    )
    .await?;
    let collected = state.collect_payments(&caller.actor).await?;
    // Periods renewed, subscriptions ended, customers suspended: anyone's entitlements.
    state.entitlements.forget_everyone();
    Ok(axum::Json(RunReportView {
        charged: collected.charged,
        declined: collected.declined,
        unanswered: collected.unanswered,
        customers_suspended: collected.customers_suspended,
        date: r.date,
        invoice_ids: r.invoice_ids,
        invoices_created: r.invoices_created,
        subscriptions_canceled: r.subscriptions_canceled,
        skipped_duplicates: r.skipped_duplicates,
        failed: r.failed,
        stopped_early: r.stopped_early,
        trial_notices: r.trial_notices,
        threshold_invoices: r.threshold_invoices,
    }))
}
