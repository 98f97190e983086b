//! Payments and credit notes against issued invoices (SPEC §2.6, §4).
//!
//! - `POST /api/invoices/{id}/payments`: partial payments; the invoice is `paid` when payments +
//!   withholding tax cover it; money beyond the amount due goes to the customer's credit
//!   balance (reported as `overpayment`). Withholding tax over the settings rate × the pre-VAT
//!   amount is a 422. Recording a payment is a staff act (`WriteBilling`): a member sees 403
//!   and pays through a payment method that moves money (automatic collection of a card).
//! - `PATCH /api/payments/{id} {certificate_no}`: the 50 ทวิ certificate's number, which often
//!   arrives weeks after the payment; staff `WriteBilling` (a member sees 403 for its own
//!   customer's payment, 404 for others); 422 on a payment without withholding tax.
//! - `POST /api/invoices/{id}/credit-notes`: staff `WriteBilling`; numbered `CN-{year}-000001`.
//!   `GET` on the same path lists an invoice's credit notes (billing read right).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::BillingSettings;
use satang_billing::invoicing::settlement::{self, CreditLine, PaymentInput};
use satang_domain::PaymentStatus;
use satang_store::credit_notes::{self, CreditNote};
use satang_store::invoices;
use satang_store::payments::{self, Payment, PaymentFilter};

use super::{InvoiceView, LineInput, lock, validate_lines, view_in};
use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Created, Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pay_invoice))
        .routes(routes!(list_payments))
        .routes(routes!(update_payment))
        .routes(routes!(list_credit_notes, credit_invoice))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub customer_id: Uuid,
    pub amount: i64,
    pub currency: String,
    /// `card`, `promptpay`, `bank_transfer`, `cash` or `other`.
    pub method: String,
    pub reference: Option<String>,
    pub paid_at: DateTime<Utc>,
    pub withholding_tax: Option<WithholdingInput>,
    /// The part of `amount` moved to the customer's credit balance.
    pub overpayment: i64,
    /// `succeeded`.
    #[schema(value_type = String)]
    pub status: PaymentStatus,
    pub created_at: DateTime<Utc>,
}

impl From<Payment> for PaymentView {
    fn from(p: Payment) -> Self {
        PaymentView {
            id: p.id,
            invoice_id: p.invoice_id,
            customer_id: p.customer_id,
            amount: p.amount,
            currency: p.currency.code().to_owned(),
            method: p.method,
            reference: p.reference,
            paid_at: p.paid_at,
            withholding_tax: (p.withholding_tax > 0).then(|| WithholdingInput {
                amount: p.withholding_tax,
                certificate_no: p.withholding_certificate_no.filter(|c| !c.is_empty()),
            }),
            overpayment: p.overpayment,
            status: p.status,
            created_at: p.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithholdingInput {
    /// Minor units withheld (at most the settings rate × the pre-VAT amount).
    pub amount: i64,
    /// The 50 ทวิ certificate's number; null until it has arrived (then
    /// `PATCH /api/payments/{id}` adds it).
    #[serde(default)]
    pub certificate_no: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// Money received, minor units, ≥ 0 (0 only with withholding tax).
    pub amount: i64,
    pub method: String,
    pub reference: Option<String>,
    /// Defaults to now.
    pub paid_at: Option<DateTime<Utc>>,
    pub withholding_tax: Option<WithholdingInput>,
}

impl PaymentRequest {
    /// The payment to record, received by `now`, or the 422 naming every invalid field.
    fn parse(self, now: DateTime<Utc>) -> Result<PaymentInput, ApiError> {
        let mut v = Validator::new();
        v.check(self.amount >= 0, "amount", "must not be negative");
        v.check(
            METHODS.contains(&self.method.as_str()),
            "method",
            "must be card, promptpay, bank_transfer, cash or other",
        );
        let reference = self
            .reference
            .as_deref()
            .map(|r| v.text("reference", r, 200))
            .filter(|r| !r.is_empty());
        let withholding = self.withholding_tax.as_ref().map(|w| {
            v.check(w.amount > 0, "withholding_tax.amount", "must be positive");
            let cert = w
                .certificate_no
                .as_deref()
                .filter(|c| !c.trim().is_empty())
                .map(|c| v.text("withholding_tax.certificate_no", c, 100));
            (w.amount, cert)
        });
        v.check(
            self.amount > 0 || withholding.is_some(),
            "amount",
            "must be positive unless a withholding certificate is recorded",
        );
        if let Some(at) = self.paid_at {
            v.check(at <= now, "paid_at", "must not be in the future");
        }
        v.finish()?;
        Ok(PaymentInput {
            amount: self.amount,
            method: self.method,
            reference,
            paid_at: self.paid_at.unwrap_or(now),
            withholding,
        })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentResponse {
    pub payment: PaymentView,
    pub invoice: InvoiceView,
}

const METHODS: [&str; 5] = ["card", "promptpay", "bank_transfer", "cash", "other"];

/// Record a payment (and/or a withholding-tax certificate) against an open invoice.
#[utoipa::path(post, path = "/api/invoices/{id}/payments", tag = "invoices", params(("id" = Uuid, Path)),
    request_body = PaymentRequest, security(("bearer" = [])),
    responses((status = 201, body = PaymentResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "The invoice is not open", body = Problem), (status = 422, body = Problem)))]
async fn pay_invoice(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<PaymentRequest>,
) -> Result<Created<PaymentResponse>, ApiError> {
    let now = state.clock.now();
    let input = body.parse(now)?;
    let (mut tx, inv) = lock(&state, &caller, id, CustomerAction::AdjustBilling).await?;
    let settings = BillingSettings::load_in(&mut tx).await?;
    let (inv, payment) =
        settlement::record_payment(&mut tx, &caller.actor, &inv, input, &settings, now).await?;
    let invoice = view_in(&mut tx, inv).await?;
    tx.commit().await?;
    Ok(Created(PaymentResponse {
        payment: payment.into(),
        invoice,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentListParams {
    pub customer_id: Option<Uuid>,
    pub invoice_id: Option<Uuid>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Payments, in creation order: every customer's for staff, their own customers' for a member.
#[utoipa::path(get, path = "/api/payments", tag = "invoices", params(PaymentListParams),
    security(("bearer" = [])),
    responses((status = 200, body = Page<PaymentView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_payments(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PaymentListParams>,
) -> Result<axum::Json<Page<PaymentView>>, ApiError> {
    if let Some(customer) = params.customer_id {
        authorize(&state, &caller, customer, CustomerAction::ReadBilling).await?;
    }
    let (limit, after) = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .keyset()?;
    let rows = payments::list(
        &state.db,
        caller.scope(Permission::ReadBilling),
        PaymentFilter {
            customer_id: params.customer_id,
            invoice_id: params.invoice_id,
        },
        after,
        limit + 1,
    )
    .await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |p| p.id,
        PaymentView::from,
    )))
}

/// What a payment may still receive after it was recorded.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentChanges {
    /// The number of the withholding certificate (50 ทวิ) the tax was withheld against; it
    /// replaces a number recorded before.
    pub certificate_no: String,
}

/// Add (or correct) the withholding certificate number (50 ทวิ) of a payment with withholding
/// tax; its receipt and the withholding report show it from then on.
#[utoipa::path(patch, path = "/api/payments/{id}", tag = "invoices", params(("id" = Uuid, Path)),
    request_body = PaymentChanges, security(("bearer" = [])),
    responses((status = 200, body = PaymentView), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 422, description = "No certificate number, or a payment without withholding tax",
            body = Problem)))]
async fn update_payment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<PaymentChanges>,
) -> Result<axum::Json<PaymentView>, ApiError> {
    let mut v = Validator::new();
    let certificate_no = v.text("certificate_no", &body.certificate_no, 100);
    v.finish()?;
    let payment = payments::find(&state.db, id, caller.scope(Permission::ReadBilling))
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize(
        &state,
        &caller,
        payment.customer_id,
        CustomerAction::ReadBilling,
    )
    .await?;
    caller.require(Permission::WriteBilling)?;
    let mut tx = state.db.begin().await?;
    let payment = settlement::record_certificate_no(
        &mut tx,
        &caller.actor,
        id,
        &certificate_no,
        state.clock.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(payment.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteRequest {
    /// What is credited; amounts positive, under the invoice's VAT terms.
    pub lines: Vec<LineInput>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditNoteView {
    pub id: Uuid,
    /// `CN-{year}-{000001}`, its own gapless sequence.
    pub number: String,
    pub invoice_id: Uuid,
    pub customer_id: Uuid,
    pub currency: String,
    pub reason: Option<String>,
    pub lines: serde_json::Value,
    pub subtotal: i64,
    pub vat_amount: i64,
    pub total: i64,
    /// How much of the total reduced the invoice's amount due.
    pub applied_to_invoice: i64,
    /// How much went to the customer's credit balance.
    pub credited_to_balance: i64,
    pub issued_at: DateTime<Utc>,
}

impl From<CreditNote> for CreditNoteView {
    fn from(c: CreditNote) -> Self {
        CreditNoteView {
            id: c.id,
            number: c.number,
            invoice_id: c.invoice_id,
            customer_id: c.customer_id,
            currency: c.currency.code().to_owned(),
            reason: c.reason,
            lines: c.lines.0,
            subtotal: c.subtotal,
            vat_amount: c.vat_amount,
            total: c.total,
            applied_to_invoice: c.applied_to_invoice,
            credited_to_balance: c.credited_to_balance,
            issued_at: c.issued_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditNoteResponse {
    pub credit_note: CreditNoteView,
    pub invoice: InvoiceView,
}

/// Issue a credit note correcting a finalised invoice (staff with billing write access).
#[utoipa::path(post, path = "/api/invoices/{id}/credit-notes", tag = "invoices", params(("id" = Uuid, Path)),
    request_body = CreditNoteRequest, security(("bearer" = [])),
    responses((status = 201, body = CreditNoteResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "A draft or void invoice", body = Problem), (status = 422, body = Problem)))]
async fn credit_invoice(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<CreditNoteRequest>,
) -> Result<Created<CreditNoteResponse>, ApiError> {
    let lines = validate_lines(&body.lines)?;
    let reason = body
        .reason
        .map(|r| r.trim().chars().take(500).collect::<String>())
        .filter(|r| !r.is_empty());
    let (mut tx, inv) = lock(&state, &caller, id, CustomerAction::ReadBilling).await?;
    caller.require(Permission::WriteBilling)?;
    let lines = lines
        .into_iter()
        .map(|(description, quantity, unit_amount, _)| CreditLine {
            description,
            quantity,
            unit_amount,
        })
        .collect();
    let (inv, note) = settlement::issue_credit_note(
        &mut tx,
        &caller.actor,
        &inv,
        lines,
        reason,
        state.clock.now(),
    )
    .await?;
    let invoice = view_in(&mut tx, inv).await?;
    tx.commit().await?;
    Ok(Created(CreditNoteResponse {
        credit_note: note.into(),
        invoice,
    }))
}

/// The credit notes of one invoice, oldest first (every one it has: an invoice holds few).
#[utoipa::path(get, path = "/api/invoices/{id}/credit-notes", tag = "invoices", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Page<CreditNoteView>), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
async fn list_credit_notes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Page<CreditNoteView>>, ApiError> {
    let scope = caller.scope(Permission::ReadBilling);
    let inv = invoices::find(&state.db, id, scope)
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize(
        &state,
        &caller,
        inv.customer_id,
        CustomerAction::ReadBilling,
    )
    .await?;
    let notes = credit_notes::list_for_invoice(&state.db, inv.id, scope).await?;
    Ok(axum::Json(Page {
        data: notes.into_iter().map(CreditNoteView::from).collect(),
        next_cursor: None,
    }))
}
