//! Invoices (SPEC §2.6): one-off drafts, finalisation, void and uncollectible, and reading them.
//! Payments and credit notes are in [`settlement`]; the billing run in [`billing_run`]; the
//! printed document and its PromptPay payload in [`pdf`].
//!
//! Decisions a client should know:
//! - A draft shows totals under today's settings; **finalising** recomputes them, consumes the
//!   customer's credit balance (`credit_applied`), assigns the next gapless number
//!   `{invoice_prefix}-{Bangkok year}-{000001}`, snapshots customer and seller, and sets the due
//!   date to the issue date + the customer's `payment_terms_days`. A finalised invoice is never
//!   edited: corrections are credit notes.
//! - VAT is computed once on the taxable subtotal and rounded half-up (`vat_rate_bps`, 700 =
//!   7 %); prices exclude VAT unless the settings say `prices_include_vat`.
//! - `amount_due = total − credit_applied − amount_paid − withholding_tax − credited`.
//! - Reading needs the billing read right (members: their own customers; others' are 404);
//!   creating, finalising, voiding and crediting are staff `WriteBilling` only (members 403).

use std::collections::HashMap;

use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::BillingSettings;
use satang_billing::invoicing::{self, OneOffLine};
use satang_domain::{AppliedDiscount, InvoiceStatus};
use satang_store::invoices::{self, Invoice, InvoiceLine, NewLine};
use satang_store::{Scope, Tx};

use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Created, Json, Path, Query};
use crate::pagination::{Page, PageParams, encode_cursor};
use crate::state::AppState;

pub mod billing_run;
pub mod drafts;
pub mod pdf;
pub mod sending;
pub mod settlement;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_invoices, create_invoice))
        .routes(routes!(get_invoice))
        .routes(routes!(list_customer_invoices))
        .routes(routes!(finalize))
        .routes(routes!(void))
        .routes(routes!(mark_uncollectible))
        .merge(settlement::router())
        .merge(drafts::router())
        .merge(sending::router())
        .merge(pdf::router())
        .merge(billing_run::router())
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLineView {
    /// The line's id (what `DELETE /api/invoices/{id}/lines/{line_id}` names on a draft);
    /// absent on a line not written yet (the upcoming invoice's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// `subscription` (a period fee), `proration` or `manual`.
    pub kind: String,
    pub description: String,
    pub period_start: Option<NaiveDate>,
    /// The first day after the covered period.
    pub period_end: Option<NaiveDate>,
    pub quantity: i64,
    pub unit_amount: i64,
    pub amount: i64,
}

/// One discount on an invoice: the coupon and what it took off. Promotional credit is a
/// discount too: its `coupon_code` is `CREDIT` and it names its `credit_grant_id`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvoiceDiscountView {
    pub coupon_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_grant_id: Option<String>,
    pub amount: i64,
}

impl From<InvoiceLine> for InvoiceLineView {
    fn from(l: InvoiceLine) -> Self {
        InvoiceLineView {
            id: Some(l.id),
            kind: l.kind,
            description: l.description,
            period_start: l.period_start,
            period_end: l.period_end,
            quantity: l.quantity,
            unit_amount: l.unit_amount,
            amount: l.amount,
        }
    }
}

/// A line not yet written (the upcoming invoice's).
impl From<NewLine> for InvoiceLineView {
    fn from(l: NewLine) -> Self {
        InvoiceLineView {
            id: None,
            kind: l.kind,
            description: l.description,
            period_start: l.period_start,
            period_end: l.period_end,
            quantity: l.quantity,
            unit_amount: l.unit_amount,
            amount: l.amount,
        }
    }
}

impl From<AppliedDiscount> for InvoiceDiscountView {
    fn from(d: AppliedDiscount) -> Self {
        InvoiceDiscountView {
            coupon_code: d.coupon_code,
            credit_grant_id: d.credit_grant_id,
            amount: d.amount,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvoiceView {
    pub id: Uuid,
    /// Null while a draft.
    pub number: Option<String>,
    pub customer_id: Uuid,
    pub subscription_id: Option<Uuid>,
    /// `draft`, `open`, `paid`, `void` or `uncollectible`.
    #[schema(value_type = String)]
    pub status: InvoiceStatus,
    pub currency: String,
    pub lines: Vec<InvoiceLineView>,
    pub subtotal: i64,
    /// What each discount took off the lines (VAT is charged on subtotal − discount).
    #[serde(default)]
    pub discounts: Vec<InvoiceDiscountView>,
    /// The sum of `discounts`.
    pub discount: i64,
    /// Basis points: 700 = 7 %.
    pub vat_rate_bps: i64,
    /// The same rate as a percentage, e.g. `"7.00"`.
    pub vat_rate: String,
    pub vat_amount: i64,
    pub total: i64,
    /// Withholding tax recorded with payments (certificates), not money.
    pub withholding_tax: i64,
    pub amount_paid: i64,
    pub amount_due: i64,
    /// The customer's credit balance consumed at finalisation.
    pub credit_applied: i64,
    /// Credited by credit notes.
    pub amount_credited: i64,
    pub prices_include_vat: bool,
    pub issued_at: Option<DateTime<Utc>>,
    pub due_date: Option<NaiveDate>,
    pub paid_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub marked_uncollectible_at: Option<DateTime<Utc>>,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    /// `subscription_create`, `subscription_cycle`, `proration` or `manual`.
    pub billing_reason: String,
    /// The buyer at issue time: name, legal_name, tax_id, branch_code, address.
    pub customer: Option<serde_json::Value>,
    /// The seller at issue time (from `/api/settings`).
    pub seller: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl InvoiceView {
    pub fn new(i: Invoice, lines: Vec<InvoiceLine>) -> InvoiceView {
        InvoiceView {
            id: i.id,
            number: i.number,
            customer_id: i.customer_id,
            subscription_id: i.subscription_id,
            status: i.status,
            currency: i.currency.code().to_owned(),
            lines: lines.into_iter().map(InvoiceLineView::from).collect(),
            subtotal: i.subtotal,
            discounts: i
                .discounts
                .map(|d| d.0)
                .unwrap_or_default()
                .into_iter()
                .map(InvoiceDiscountView::from)
                .collect(),
            discount: i.discount,
            vat_rate_bps: i.vat_rate_bps,
            vat_rate: format!("{}.{:02}", i.vat_rate_bps / 100, i.vat_rate_bps % 100),
            vat_amount: i.vat_amount,
            total: i.total,
            withholding_tax: i.withholding_tax,
            amount_paid: i.amount_paid,
            amount_due: i.amount_due,
            credit_applied: i.credit_applied,
            amount_credited: i.amount_credited,
            prices_include_vat: i.prices_include_vat,
            issued_at: i.issued_at,
            due_date: i.due_date,
            paid_at: i.paid_at,
            voided_at: i.voided_at,
            marked_uncollectible_at: i.marked_uncollectible_at,
            period_start: i.period_start,
            period_end: i.period_end,
            billing_reason: i.billing_reason,
            customer: i.customer_snapshot.map(|j| j.0),
            seller: i.seller_snapshot.map(|j| j.0),
            created_at: i.created_at,
            updated_at: i.updated_at,
            version: i.version,
        }
    }
}

impl From<satang_billing::Error> for ApiError {
    fn from(e: satang_billing::Error) -> Self {
        match e {
            satang_billing::Error::InvalidState(m) => ApiError::Conflict(m),
            satang_billing::Error::Invalid { field, message } => ApiError::field(field, message),
            satang_billing::Error::InvalidFields(refused) => {
                let mut v = Validator::new();
                for r in refused {
                    v.add(&r.field, r.message);
                }
                match v.finish() {
                    Err(e) => e,
                    Ok(()) => ApiError::Internal("a refusal without fields".into()),
                }
            }
            satang_billing::Error::NotFound => ApiError::NotFound,
            satang_billing::Error::Forbidden => ApiError::Forbidden,
            satang_billing::Error::Store(s) => s.into(),
            satang_billing::Error::Provider(m) => ApiError::Upstream(m),
            satang_billing::Error::Declined(m) => ApiError::Declined(m),
            satang_billing::Error::Rejected(m) => ApiError::BadRequest(m),
            satang_billing::Error::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// An invoice with its lines, read inside `tx`.
pub(crate) async fn view_in(tx: &mut Tx, inv: Invoice) -> Result<InvoiceView, ApiError> {
    let lines = invoices::lines_in(tx, inv.id).await?;
    Ok(InvoiceView::new(inv, lines))
}

/// The invoice `id` if the caller may do `action` to it (404 outside their reach, 403 when
/// visible but not allowed), locked in a new transaction.
pub(crate) async fn lock(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    action: CustomerAction,
) -> Result<(Tx, Invoice), ApiError> {
    let scope = caller.scope(Permission::ReadBilling);
    let inv = invoices::find(&state.db, id, scope)
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize(state, caller, inv.customer_id, action).await?;
    let mut tx = state.db.begin().await?;
    let inv = invoices::lock(&mut tx, id, scope)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((tx, inv))
}

/// [`lock`] for what only staff with `WriteBilling` may do: members see 404 for customers
/// outside their reach and 403 for their own.
pub(crate) async fn lock_for_staff(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<(Tx, Invoice), ApiError> {
    let locked = lock(state, caller, id, CustomerAction::ReadBilling).await?;
    caller.require(Permission::WriteBilling)?;
    Ok(locked)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceListParams {
    pub customer_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    /// `draft`, `open`, `paid`, `void` or `uncollectible`.
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

async fn list_page(
    state: &AppState,
    scope: Scope,
    params: InvoiceListParams,
) -> Result<Page<InvoiceView>, ApiError> {
    let (limit, after) = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .keyset()?;
    let status = params
        .status
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<InvoiceStatus>().map_err(|_| {
                ApiError::BadRequest(
                    "invalid query parameter status: use draft, open, paid, void or \
                     uncollectible"
                        .into(),
                )
            })
        })
        .transpose()?;
    let filter = invoices::InvoiceFilter {
        customer_id: params.customer_id,
        subscription_id: params.subscription_id,
        status,
    };
    let mut rows = invoices::list(&state.db, scope, filter, after, limit + 1).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let ids: Vec<Uuid> = rows.iter().map(|i| i.id).collect();
    let mut by_invoice: HashMap<Uuid, Vec<InvoiceLine>> = HashMap::new();
    for line in invoices::lines_of(&state.db, &ids).await? {
        by_invoice.entry(line.invoice_id).or_default().push(line);
    }
    let next_cursor = match (has_more, rows.last()) {
        (true, Some(last)) => Some(encode_cursor(last.id)),
        _ => None,
    };
    let data = rows
        .into_iter()
        .map(|i| {
            let lines = by_invoice.remove(&i.id).unwrap_or_default();
            InvoiceView::new(i, lines)
        })
        .collect();
    Ok(Page { data, next_cursor })
}

/// Invoices, in creation order: every customer's for staff, their own customers' for a member.
#[utoipa::path(get, path = "/api/invoices", tag = "invoices", params(InvoiceListParams),
    security(("bearer" = [])),
    responses((status = 200, body = Page<InvoiceView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_invoices(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<InvoiceListParams>,
) -> Result<axum::Json<Page<InvoiceView>>, ApiError> {
    let page = list_page(&state, caller.scope(Permission::ReadBilling), params).await?;
    Ok(axum::Json(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerInvoiceParams {
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// One customer's invoices.
#[utoipa::path(get, path = "/api/customers/{id}/invoices", tag = "invoices",
    params(("id" = Uuid, Path), CustomerInvoiceParams), security(("bearer" = [])),
    responses((status = 200, body = Page<InvoiceView>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn list_customer_invoices(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<Uuid>,
    Query(params): Query<CustomerInvoiceParams>,
) -> Result<axum::Json<Page<InvoiceView>>, ApiError> {
    authorize(&state, &caller, customer_id, CustomerAction::ReadBilling).await?;
    let params = InvoiceListParams {
        customer_id: Some(customer_id),
        subscription_id: None,
        status: params.status,
        limit: params.limit,
        cursor: params.cursor,
    };
    let page = list_page(&state, caller.scope(Permission::ReadBilling), params).await?;
    Ok(axum::Json(page))
}

/// One invoice with its lines.
#[utoipa::path(get, path = "/api/invoices/{id}", tag = "invoices", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = InvoiceView), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_invoice(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<InvoiceView>, ApiError> {
    let inv = invoices::find(&state.db, id, caller.scope(Permission::ReadBilling))
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize(
        &state,
        &caller,
        inv.customer_id,
        CustomerAction::ReadBilling,
    )
    .await?;
    let lines = invoices::lines_of(&state.db, &[inv.id]).await?;
    Ok(axum::Json(InvoiceView::new(inv, lines)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    pub description: String,
    /// At least 1.
    pub quantity: i64,
    /// Minor units, ≥ 0 (VAT-exclusive unless the settings say prices include VAT).
    pub unit_amount: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoiceRequest {
    pub customer_id: Uuid,
    pub lines: Vec<LineInput>,
    /// Defaults at finalisation to the issue date + the customer's payment terms.
    pub due_date: Option<NaiveDate>,
}

/// Checks one-off lines: 1–100 lines, a description, quantity ≥ 1, unit amount ≥ 0, no overflow.
pub(crate) fn validate_lines(
    lines: &[LineInput],
) -> Result<Vec<(String, i64, i64, i64)>, ApiError> {
    let mut v = Validator::new();
    v.check(
        (1..=100).contains(&lines.len()),
        "lines",
        "must hold between 1 and 100 lines",
    );
    let mut out = Vec::with_capacity(lines.len());
    for (n, l) in lines.iter().enumerate() {
        if let Some(line) = check_line(&mut v, &format!("lines[{n}]."), l) {
            out.push(line);
        }
    }
    v.finish()?;
    Ok(out)
}

/// Checks one line, its fields named after `prefix` (`lines[0].`, or nothing for a line posted
/// alone): `(description, quantity, unit_amount, amount)` when its amount can be computed.
pub(crate) fn check_line(
    v: &mut Validator,
    prefix: &str,
    l: &LineInput,
) -> Option<(String, i64, i64, i64)> {
    let description = v.text(&format!("{prefix}description"), &l.description, 500);
    v.check(
        (1..=1_000_000).contains(&l.quantity),
        &format!("{prefix}quantity"),
        "must be between 1 and 1000000",
    );
    v.check(
        l.unit_amount >= 0,
        &format!("{prefix}unit_amount"),
        "must not be negative",
    );
    match satang_domain::vat::line_amount(l.quantity, l.unit_amount) {
        Ok(amount) => Some((description, l.quantity, l.unit_amount, amount)),
        Err(_) => {
            let field = prefix.trim_end_matches('.');
            v.add(
                if field.is_empty() {
                    "unit_amount"
                } else {
                    field
                },
                "the amount is too large",
            );
            None
        }
    }
}

/// Create a one-off draft invoice (staff with billing write access).
#[utoipa::path(post, path = "/api/invoices", tag = "invoices", request_body = CreateInvoiceRequest,
    security(("bearer" = [])),
    responses((status = 201, body = InvoiceView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "Customer suspended or deleted", body = Problem),
        (status = 422, body = Problem)))]
async fn create_invoice(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateInvoiceRequest>,
) -> Result<Created<InvoiceView>, ApiError> {
    authorize(
        &state,
        &caller,
        body.customer_id,
        CustomerAction::ReadBilling,
    )
    .await?;
    caller.require(Permission::WriteBilling)?;
    let lines: Vec<OneOffLine> = validate_lines(&body.lines)?
        .into_iter()
        .map(|(description, quantity, unit_amount, _)| OneOffLine {
            description,
            quantity,
            unit_amount,
        })
        .collect();
    let mut tx = state.db.begin().await?;
    let inv = invoicing::create_one_off_invoice(
        &mut tx,
        &caller.actor,
        body.customer_id,
        lines,
        body.due_date,
        state.clock.now(),
    )
    .await?;
    let view = view_in(&mut tx, inv).await?;
    tx.commit().await?;
    Ok(Created(view))
}

/// Finalise a draft: number, snapshots, due date, credit balance consumed; `open` (or `paid`
/// when the credit balance covers it).
#[utoipa::path(post, path = "/api/invoices/{id}/finalize", tag = "invoices", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = InvoiceView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Not a draft", body = Problem)))]
async fn finalize(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<InvoiceView>, ApiError> {
    let (mut tx, inv) = lock_for_staff(&state, &caller, id).await?;
    let settings = BillingSettings::load_in(&mut tx).await?;
    let issued =
        invoicing::finalize_invoice(&mut tx, &caller.actor, &inv, &settings, state.clock.now())
            .await?;
    let view = view_in(&mut tx, issued).await?;
    tx.commit().await?;
    Ok(axum::Json(view))
}

/// Void an open invoice without payments (409 otherwise).
#[utoipa::path(post, path = "/api/invoices/{id}/void", tag = "invoices", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = InvoiceView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Not open, or already paid in part", body = Problem)))]
async fn void(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<InvoiceView>, ApiError> {
    let (mut tx, inv) = lock_for_staff(&state, &caller, id).await?;
    let after = invoicing::void_invoice(&mut tx, &caller.actor, &inv, state.clock.now()).await?;
    let view = view_in(&mut tx, after).await?;
    tx.commit().await?;
    Ok(axum::Json(view))
}

/// Mark an open invoice uncollectible (it can still be paid).
#[utoipa::path(post, path = "/api/invoices/{id}/mark-uncollectible", tag = "invoices", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = InvoiceView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Not open", body = Problem)))]
async fn mark_uncollectible(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<InvoiceView>, ApiError> {
    let (mut tx, inv) = lock_for_staff(&state, &caller, id).await?;
    let after =
        invoicing::mark_uncollectible(&mut tx, &caller.actor, &inv, state.clock.now()).await?;
    let view = view_in(&mut tx, after).await?;
    tx.commit().await?;
    Ok(axum::Json(view))
}
