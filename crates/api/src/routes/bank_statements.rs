//! Bank reconciliation (SPEC §2.13): upload a bank statement (CSV), read its lines with the
//! open invoices each may pay, match a line to an invoice (a `bank_transfer` payment), or
//! ignore it. Statements are the operator's books: `billing` staff and admins only (every other
//! caller, members included, 403).
//!
//! Decisions a client should know:
//! - `POST /api/bank-statements {csv, columns: {date, amount, description}, date_format?}` →
//!   201 `{id, lines, duplicates, …}`: `lines` the lines this upload added, `duplicates` those
//!   an earlier upload had added already (uploading a statement twice adds nothing). Any bad
//!   line → 422 naming `lines[N].amount` / `lines[N].date` (N the file line, header = 1),
//!   `columns.amount` for a column not in the header, `date_format`; nothing is written. Up to
//!   16 MiB and 50,000 lines.
//! - `{line}` in a path is the line's id or its line number in the file.
//! - Matching a line that is not `unmatched` → 409 (a line is applied once); an unknown
//!   invoice, or a line of money paid out → 422; an invoice not open → 409.

use axum::extract::{DefaultBodyLimit, State};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::BillingSettings;
use satang_billing::bank_statements::{
    self as operations, MatchInput, SuggestedInvoice, Suggester, UploadInput,
};
use satang_domain::bank_statement::{ColumnMapping, DEFAULT_DATE_FORMAT};
use satang_store::bank_statements::{self, BankLine, LineRef, StatementSummary};

use super::invoices::InvoiceView;
use super::invoices::settlement::PaymentView;
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Created, Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

/// Largest statement upload (the API's usual body limit is smaller).
pub const MAX_STATEMENT_BYTES: usize = 16 * 1024 * 1024;
/// Longest column name or date format.
const MAX_NAME: usize = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_statements, upload_statement))
        .layer(DefaultBodyLimit::max(MAX_STATEMENT_BYTES))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(get_statement))
                .routes(routes!(list_lines))
                .routes(routes!(match_line))
                .routes(routes!(ignore_line))
                .routes(routes!(reopen_line)),
        )
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ColumnsView {
    /// Header name of the booking date column.
    pub date: String,
    /// Header name of the amount column (baht, e.g. `1,070.00`; negative: money paid out).
    pub amount: String,
    /// Header name of the description column.
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BankStatementView {
    pub id: Uuid,
    pub columns: ColumnsView,
    pub date_format: String,
    /// Lines this upload added.
    pub lines: i64,
    /// Lines of the file an earlier upload had already added (not added again).
    pub duplicates: i64,
    /// The statement's lines by status now.
    pub unmatched: i64,
    pub matched: i64,
    pub ignored: i64,
    pub uploaded_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<StatementSummary> for BankStatementView {
    fn from(s: StatementSummary) -> Self {
        let st = s.statement;
        BankStatementView {
            id: st.id,
            columns: ColumnsView {
                date: st.date_column,
                amount: st.amount_column,
                description: st.description_column,
            },
            date_format: st.date_format,
            lines: st.line_count,
            duplicates: st.duplicate_count,
            unmatched: s.unmatched_count,
            matched: s.matched_count,
            ignored: s.ignored_count,
            uploaded_by: st.uploaded_by,
            created_at: st.created_at,
        }
    }
}

/// An open invoice the line may pay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SuggestionView {
    pub invoice_id: Uuid,
    pub invoice_number: Option<String>,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub amount_due: i64,
    pub due_date: Option<NaiveDate>,
    /// `amount` (the amount due) or `amount_less_withholding_tax`.
    #[serde(rename = "match")]
    pub amount_match: String,
    /// The withholding tax to send with the match (0 for `amount`).
    pub withholding_tax: i64,
    /// Higher is likelier: amount 50 (net of tax 40), invoice number +40, tax id +30, name +20.
    pub score: u32,
    /// `amount` or `amount_less_withholding_tax`, then any of `invoice_number`, `tax_id`,
    /// `customer_name`.
    pub reasons: Vec<String>,
}

impl From<SuggestedInvoice> for SuggestionView {
    fn from(s: SuggestedInvoice) -> Self {
        SuggestionView {
            invoice_id: s.invoice.id,
            invoice_number: s.invoice.number,
            customer_id: s.invoice.customer_id,
            customer_name: s.invoice.customer_name,
            amount_due: s.invoice.amount_due,
            due_date: s.invoice.due_date,
            amount_match: s.amount_match.to_owned(),
            withholding_tax: s.withholding_tax,
            score: s.score,
            reasons: s.reasons.into_iter().map(str::to_owned).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BankLineView {
    pub id: Uuid,
    pub statement_id: Uuid,
    /// The line number in the uploaded file (header = 1).
    pub line: i64,
    pub date: NaiveDate,
    /// Minor units; positive is money received.
    pub amount: i64,
    pub currency: String,
    pub description: String,
    /// `unmatched`, `matched` or `ignored`.
    pub status: String,
    pub invoice_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub withholding_tax: i64,
    pub matched_at: Option<DateTime<Utc>>,
    /// For an unmatched line of money received: the open invoices it may pay, best first.
    pub suggestions: Vec<SuggestionView>,
}

impl BankLineView {
    fn new(l: BankLine, suggestions: Vec<SuggestedInvoice>) -> Self {
        BankLineView {
            id: l.id,
            statement_id: l.statement_id,
            line: l.line_no,
            date: l.booked_on,
            amount: l.amount,
            currency: l.currency,
            description: l.description,
            status: l.status,
            invoice_id: l.invoice_id,
            customer_id: l.customer_id,
            payment_id: l.payment_id,
            withholding_tax: l.withholding_tax,
            matched_at: l.matched_at,
            suggestions: suggestions.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnsInput {
    pub date: String,
    pub amount: String,
    pub description: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadStatementRequest {
    /// The bank's CSV export, header row first.
    pub csv: String,
    /// Which header names hold the date, the amount and the description.
    pub columns: ColumnsInput,
    /// strftime, default `%Y-%m-%d`; a year ≥ 2400 is read as Buddhist Era.
    pub date_format: Option<String>,
}

impl UploadStatementRequest {
    fn parse(self) -> Result<UploadInput, ApiError> {
        let mut v = Validator::new();
        let date = v.text("columns.date", &self.columns.date, MAX_NAME);
        let amount = v.text("columns.amount", &self.columns.amount, MAX_NAME);
        let description = v.text("columns.description", &self.columns.description, MAX_NAME);
        let date_format = match self.date_format {
            Some(f) => v.text("date_format", &f, MAX_NAME),
            None => DEFAULT_DATE_FORMAT.to_owned(),
        };
        v.check(!self.csv.trim().is_empty(), "csv", "must not be empty");
        v.finish()?;
        Ok(UploadInput {
            csv: self.csv,
            columns: ColumnMapping {
                date,
                amount,
                description,
            },
            date_format,
        })
    }
}

/// The withholding tax recorded with a match: an amount, or `{amount, certificate_no?}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WithholdingTaxInput {
    /// Minor units withheld.
    Amount(i64),
    Detailed {
        amount: i64,
        /// The 50 ทวิ certificate's number, if it has arrived.
        certificate_no: Option<String>,
    },
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchLineRequest {
    pub invoice_id: Uuid,
    /// Withheld by the customer (the suggestion's `withholding_tax`); absent: none.
    pub withholding_tax: Option<WithholdingTaxInput>,
}

impl MatchLineRequest {
    fn parse(self) -> Result<MatchInput, ApiError> {
        let mut v = Validator::new();
        let withholding = match self.withholding_tax {
            None => None,
            Some(WithholdingTaxInput::Amount(0)) => None,
            Some(WithholdingTaxInput::Amount(amount)) => {
                v.check(amount > 0, "withholding_tax", "must not be negative");
                Some((amount, None))
            }
            Some(WithholdingTaxInput::Detailed {
                amount,
                certificate_no,
            }) => {
                v.check(amount > 0, "withholding_tax.amount", "must be positive");
                let cert = certificate_no
                    .filter(|c| !c.trim().is_empty())
                    .map(|c| v.text("withholding_tax.certificate_no", &c, 100));
                Some((amount, cert))
            }
        };
        v.finish()?;
        Ok(MatchInput {
            invoice_id: self.invoice_id,
            withholding,
        })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MatchLineResponse {
    pub line: BankLineView,
    pub payment: PaymentView,
    pub invoice: InvoiceView,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LineListParams {
    /// `unmatched`, `matched` or `ignored`.
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// `{line}`: the line's id, or its line number in the file.
fn line_ref(raw: &str) -> Result<LineRef, ApiError> {
    if let Ok(id) = raw.parse::<Uuid>() {
        return Ok(LineRef::Id(id));
    }
    match raw.parse::<i64>() {
        Ok(n) if n > 0 => Ok(LineRef::Number(n)),
        _ => Err(ApiError::BadRequest(
            "invalid path parameter line: use the line's id or its line number".into(),
        )),
    }
}

/// Upload a bank statement (CSV) with its column mapping.
#[utoipa::path(post, path = "/api/bank-statements", tag = "bank statements",
    request_body = UploadStatementRequest, security(("bearer" = [])),
    responses((status = 201, body = BankStatementView), (status = 403, body = Problem),
        (status = 422, description = "A bad line, unknown column or date format; nothing written", body = Problem)))]
async fn upload_statement(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<UploadStatementRequest>,
) -> Result<Created<BankStatementView>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    let input = body.parse()?;
    let mut tx = state.db.begin().await?;
    let statement =
        operations::upload_statement(&mut tx, &caller.actor, input, state.clock.now()).await?;
    tx.commit().await?;
    let summary = bank_statements::get_statement(&state.db, statement.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Created(summary.into()))
}

/// Uploaded statements, newest first.
#[utoipa::path(get, path = "/api/bank-statements", tag = "bank statements",
    params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<BankStatementView>), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn list_statements(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<BankStatementView>>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    let (limit, before) = params.keyset()?;
    let rows = bank_statements::list_statements(&state.db, before, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |s| s.statement.id,
        BankStatementView::from,
    )))
}

/// One statement with its line counts.
#[utoipa::path(get, path = "/api/bank-statements/{id}", tag = "bank statements",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = BankStatementView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_statement(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<BankStatementView>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    let s = bank_statements::get_statement(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(s.into()))
}

/// The statement's lines in file order, each unmatched one with its suggested invoices.
#[utoipa::path(get, path = "/api/bank-statements/{id}/lines", tag = "bank statements",
    params(("id" = Uuid, Path), LineListParams), security(("bearer" = [])),
    responses((status = 200, body = Page<BankLineView>), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn list_lines(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<LineListParams>,
) -> Result<axum::Json<Page<BankLineView>>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    let status = params.status.filter(|s| !s.is_empty());
    if status
        .as_deref()
        .is_some_and(|s| !["unmatched", "matched", "ignored"].contains(&s))
    {
        return Err(ApiError::BadRequest(
            "invalid query parameter status: use unmatched, matched or ignored".into(),
        ));
    }
    let (limit, after) = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .keyset()?;
    bank_statements::get_statement(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let rows =
        bank_statements::list_lines(&state.db, id, status.as_deref(), after, limit + 1).await?;
    let settings = BillingSettings::load(&state.db).await?;
    let suggester = Suggester::load(&state.db, &settings).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |l| l.id,
        |l| {
            let s = suggester.suggest(&l);
            BankLineView::new(l, s)
        },
    )))
}

/// Apply a line to an invoice: records a `bank_transfer` payment of the line's amount.
#[utoipa::path(post, path = "/api/bank-statements/{id}/lines/{line}/match", tag = "bank statements",
    params(("id" = Uuid, Path), ("line" = String, Path, description = "The line's id, or its line number in the file")),
    request_body = MatchLineRequest, security(("bearer" = [])),
    responses((status = 201, body = MatchLineResponse), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "The line was already applied or ignored, or the invoice is not open", body = Problem),
        (status = 422, body = Problem)))]
async fn match_line(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, line)): Path<(Uuid, String)>,
    Json(body): Json<MatchLineRequest>,
) -> Result<Created<MatchLineResponse>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    let line = line_ref(&line)?;
    let input = body.parse()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let settings = BillingSettings::load_in(&mut tx).await?;
    let (line, inv, payment) =
        operations::match_line(&mut tx, &caller.actor, id, line, input, &settings, now).await?;
    let invoice = super::invoices::view_in(&mut tx, inv).await?;
    tx.commit().await?;
    Ok(Created(MatchLineResponse {
        line: BankLineView::new(line, Vec::new()),
        payment: payment.into(),
        invoice,
    }))
}

/// Leave a line unmatched for good: not a customer's payment.
#[utoipa::path(post, path = "/api/bank-statements/{id}/lines/{line}/ignore", tag = "bank statements",
    params(("id" = Uuid, Path), ("line" = String, Path, description = "The line's id, or its line number in the file")),
    security(("bearer" = [])),
    responses((status = 200, body = BankLineView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "The line is not unmatched", body = Problem)))]
async fn ignore_line(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, line)): Path<(Uuid, String)>,
) -> Result<axum::Json<BankLineView>, ApiError> {
    set_ignored(state, caller, id, line, true).await
}

/// Undo an ignore: the line is unmatched again.
#[utoipa::path(post, path = "/api/bank-statements/{id}/lines/{line}/reopen", tag = "bank statements",
    params(("id" = Uuid, Path), ("line" = String, Path, description = "The line's id, or its line number in the file")),
    security(("bearer" = [])),
    responses((status = 200, body = BankLineView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, description = "The line is not ignored", body = Problem)))]
async fn reopen_line(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, line)): Path<(Uuid, String)>,
) -> Result<axum::Json<BankLineView>, ApiError> {
    set_ignored(state, caller, id, line, false).await
}

async fn set_ignored(
    state: AppState,
    caller: Caller,
    id: Uuid,
    line: String,
    ignored: bool,
) -> Result<axum::Json<BankLineView>, ApiError> {
    caller.require(Permission::WriteBilling)?;
    let line = line_ref(&line)?;
    let mut tx = state.db.begin().await?;
    let line =
        operations::set_line_ignored(&mut tx, &caller.actor, id, line, ignored, state.clock.now())
            .await?;
    tx.commit().await?;
    Ok(axum::Json(BankLineView::new(line, Vec::new())))
}
