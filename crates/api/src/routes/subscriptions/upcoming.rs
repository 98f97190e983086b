//! `GET /api/subscriptions/{id}/upcoming-invoice` (SPEC §2.11): the invoice the next billing
//! run would issue for the subscription — its period, the fee, usage so far, discounts, credit,
//! VAT, total and amount due — worked out by the run's own planning
//! ([`satang_billing::run::upcoming_invoice`]) without writing anything. Whoever may read the
//! subscription's billing may read it (members: their own customer's; others' are 404).

use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_billing::run::{self as operations, UpcomingInvoice};
use satang_domain::InvoiceStatus;

use super::load;
use crate::access::CustomerAction;
use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Path};
use crate::routes::invoices::{InvoiceDiscountView, InvoiceLineView};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upcoming_invoice))
}

/// What one credit grant would give the upcoming invoice: `promotional` credit is also among
/// `discounts` (`coupon_code` `CREDIT`), `prepaid` credit pays part of the total (it is in
/// `amount_paid`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpcomingCreditView {
    pub credit_grant_id: Uuid,
    /// `promotional` or `prepaid`.
    #[serde(rename = "type")]
    pub grant_type: String,
    pub amount: i64,
}

/// The invoice the next billing run would issue; the same fields as an invoice, without what
/// only an issued one has (id, number, snapshots).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpcomingInvoiceView {
    pub customer_id: Uuid,
    pub subscription_id: Uuid,
    /// `open`, or `paid` when credit covers it.
    #[schema(value_type = String)]
    pub status: InvoiceStatus,
    pub currency: String,
    pub period_start: Option<NaiveDate>,
    /// The first day after the invoiced period.
    pub period_end: Option<NaiveDate>,
    /// `subscription_cycle`, or `subscription_create` when a trial ends.
    pub billing_reason: String,
    /// The period's fee, then the usage so far of the period that ends (`kind: usage`).
    pub lines: Vec<InvoiceLineView>,
    pub subtotal: i64,
    pub discounts: Vec<InvoiceDiscountView>,
    pub discount: i64,
    pub vat_rate_bps: i64,
    pub vat_rate: String,
    pub vat_amount: i64,
    pub total: i64,
    /// The customer's credit balance it would consume.
    pub credit_applied: i64,
    /// Paid at once by prepaid credit grants.
    pub amount_paid: i64,
    pub amount_due: i64,
    /// What it would take from the customer's credit grants.
    pub credits: Vec<UpcomingCreditView>,
    pub prices_include_vat: bool,
    /// When the run would issue it: the start of the billing day in Bangkok (or now, once
    /// that has passed).
    pub issued_at: Option<DateTime<Utc>>,
    pub due_date: Option<NaiveDate>,
}

impl From<UpcomingInvoice> for UpcomingInvoiceView {
    fn from(u: UpcomingInvoice) -> Self {
        let f = u.fields;
        UpcomingInvoiceView {
            customer_id: u.origin.customer_id,
            subscription_id: u.origin.subscription_id.unwrap_or_default(),
            status: f.status,
            currency: f.currency.code().to_owned(),
            period_start: u.origin.period_start,
            period_end: u.origin.period_end,
            billing_reason: u.origin.billing_reason,
            lines: u.lines.into_iter().map(InvoiceLineView::from).collect(),
            subtotal: f.subtotal,
            discounts: f
                .discounts
                .into_iter()
                .map(InvoiceDiscountView::from)
                .collect(),
            discount: f.discount,
            vat_rate_bps: f.vat_rate_bps,
            vat_rate: format!("{}.{:02}", f.vat_rate_bps / 100, f.vat_rate_bps % 100),
            vat_amount: f.vat_amount,
            total: f.total,
            credit_applied: f.credit_applied,
            amount_paid: f.amount_paid,
            amount_due: f.amount_due,
            credits: u
                .credits
                .into_iter()
                .map(|c| UpcomingCreditView {
                    credit_grant_id: c.grant_id,
                    grant_type: c.grant_type.as_str().to_owned(),
                    amount: c.amount,
                })
                .collect(),
            prices_include_vat: f.prices_include_vat,
            issued_at: f.issued_at,
            due_date: f.due_date,
        }
    }
}

/// The invoice the next billing run would issue for the subscription; nothing is written.
#[utoipa::path(get, path = "/api/subscriptions/{id}/upcoming-invoice", tag = "subscriptions",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = UpcomingInvoiceView), (status = 401, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "No upcoming invoice: the subscription is paused, canceled or ends at its period end, or its next period is invoiced already", body = Problem)))]
async fn upcoming_invoice(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<UpcomingInvoiceView>, ApiError> {
    let sub = load(&state, &caller, id, CustomerAction::ReadBilling).await?;
    let upcoming = operations::upcoming_invoice(&state.db, sub, state.clock.now()).await?;
    Ok(axum::Json(upcoming.into()))
}
