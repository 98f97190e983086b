//! Tax documents (SPEC §4.1, §4.2): `GET /api/tax-documents`, `/{id}`, `/{id}/pdf`, `/{id}/xml`.
//! Staff who read billing see every document; a customer's member only its own customers'
//! (the scope is in the SQL: someone else's document is a 404).
//!
//! `from` / `to` take a Bangkok date (`2026-03-01`, `to` inclusive) or an RFC 3339 instant
//! (`to` exclusive); `type` is `tax_invoice`, `receipt_tax_invoice`, `receipt` or `credit_note`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Days, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::tax_documents as operations;
use satang_domain::TaxDocumentType;
use satang_store::tax_documents::{Filter, TaxDocument};

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tax_documents))
        .routes(routes!(get_tax_document))
        .routes(routes!(tax_document_pdf))
        .routes(routes!(tax_document_xml))
}

/// A tax document as issued.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaxDocumentView {
    pub id: Uuid,
    /// `tax_invoice`, `receipt_tax_invoice`, `receipt` or `credit_note`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// ETDA's document type code: 388, T03, T01 or 81.
    pub type_code: String,
    /// `RT-2026-000001` (receipts, their own gapless series), the invoice's number (a tax
    /// invoice) or the credit note's.
    pub number: String,
    pub issued_at: DateTime<Utc>,
    pub invoice_id: Uuid,
    pub payment_id: Option<Uuid>,
    pub credit_note_id: Option<Uuid>,
    /// The tax document a credit note corrects.
    pub references_id: Option<Uuid>,
    pub reason: Option<String>,
    pub customer_id: Uuid,
    /// The buyer as snapshotted on the invoice at issue: name, legal name, tax id, branch, address.
    #[schema(value_type = Object)]
    pub customer: serde_json::Value,
    pub currency: String,
    pub vat_rate_bps: i64,
    /// Minor units before VAT.
    pub base_amount: i64,
    pub vat_amount: i64,
    pub total: i64,
    /// Whether the stored XML carries the seller's signature.
    pub signed: bool,
}

impl From<TaxDocument> for TaxDocumentView {
    fn from(d: TaxDocument) -> Self {
        TaxDocumentView {
            id: d.id,
            doc_type: d.doc_type,
            type_code: d.type_code,
            number: d.number,
            issued_at: d.issued_at,
            invoice_id: d.invoice_id,
            payment_id: d.payment_id,
            credit_note_id: d.credit_note_id,
            references_id: d.references_id,
            reason: d.reason,
            customer_id: d.customer_id,
            customer: d.customer_snapshot.0,
            currency: d.currency.code().to_owned(),
            vat_rate_bps: d.vat_rate_bps,
            base_amount: d.base_amount,
            vat_amount: d.vat_amount,
            total: d.total,
            signed: d.signed,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaxDocumentListParams {
    /// A Bangkok date `YYYY-MM-DD` or an RFC 3339 instant: issued at or after.
    pub from: Option<String>,
    /// A Bangkok date `YYYY-MM-DD` (inclusive) or an RFC 3339 instant (exclusive).
    pub to: Option<String>,
    /// `tax_invoice`, `receipt_tax_invoice`, `receipt` or `credit_note`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub doc_type: Option<String>,
    pub customer_id: Option<Uuid>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// A bound of the list: a Bangkok date's midnight (the next one for an inclusive `to`) or an
/// instant.
fn bound(name: &str, raw: Option<&str>, end: bool) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let bad = || {
        ApiError::BadRequest(format!(
            "invalid query parameter {name}: use a date YYYY-MM-DD or an RFC 3339 instant"
        ))
    };
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| bad())?;
    let date = if end {
        date.checked_add_days(Days::new(1)).ok_or_else(bad)?
    } else {
        date
    };
    let bangkok = FixedOffset::east_opt(7 * 3600).ok_or_else(bad)?;
    let local = date.and_hms_opt(0, 0, 0).ok_or_else(bad)?;
    let at = local.and_local_timezone(bangkok).single().ok_or_else(bad)?;
    Ok(Some(at.with_timezone(&Utc)))
}

/// Tax documents in issue order: every customer's for staff, their own customers' for a member.
#[utoipa::path(get, path = "/api/tax-documents", tag = "tax documents",
    params(TaxDocumentListParams), security(("bearer" = [])),
    responses((status = 200, body = Page<TaxDocumentView>), (status = 400, body = Problem),
        (status = 401, body = Problem)))]
async fn list_tax_documents(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<TaxDocumentListParams>,
) -> Result<axum::Json<Page<TaxDocumentView>>, ApiError> {
    let (limit, after) = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .keyset()?;
    let doc_type = match params.doc_type.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(
            TaxDocumentType::parse(t)
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "invalid query parameter type: use tax_invoice, receipt_tax_invoice, \
                         receipt or credit_note"
                            .into(),
                    )
                })?
                .as_str()
                .to_owned(),
        ),
    };
    let filter = Filter {
        from: bound("from", params.from.as_deref(), false)?,
        to: bound("to", params.to.as_deref(), true)?,
        doc_type,
        customer_id: params.customer_id,
    };
    let scope = caller.scope(Permission::ReadBilling);
    let rows = operations::list(&state.db, &filter, scope, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |d| d.id,
        TaxDocumentView::from,
    )))
}

/// One tax document.
#[utoipa::path(get, path = "/api/tax-documents/{id}", tag = "tax documents",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = TaxDocumentView), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
async fn get_tax_document(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<TaxDocumentView>, ApiError> {
    let doc = operations::get(&state.db, id, caller.scope(Permission::ReadBilling)).await?;
    Ok(axum::Json(doc.into()))
}

/// The tax document printed: its title, number and figures, Thai text shaped; a PDF/A-3b with
/// the document's e-Tax XML (the `…/xml` answer, signed when a certificate is configured)
/// embedded as its associated file.
#[utoipa::path(get, path = "/api/tax-documents/{id}/pdf", tag = "tax documents",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, content_type = "application/pdf", body = Vec<u8>,
            description = "The document, `Content-Disposition: inline; filename=\"{number}.pdf\"`"),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn tax_document_pdf(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let doc = operations::get(&state.db, id, caller.scope(Permission::ReadBilling)).await?;
    let signer = state.etax_signers.current();
    let xml = operations::etax_xml(&state.db, &doc, signer.as_deref(), state.clock.now()).await?;
    let printed = operations::pdf_document(&state.db, &doc).await?;
    let file = satang_documents::Attachment {
        name: format!("{}.xml", file_safe(&doc.number)),
        mime_type: "application/xml".to_owned(),
        description: "e-Tax Invoice & e-Receipt XML (ETDA ER3-2560 v2.1)".to_owned(),
        data: xml,
        modified: doc.issued_at,
    };
    let number = doc.number.clone();
    let pdf = tokio::task::spawn_blocking(move || {
        satang_documents::render_pdfa3(&printed, &file).or_else(|e| {
            // PDF/A refuses e.g. a character the embedded font lacks: the plain PDF still
            // prints the document.
            tracing::warn!(number, error = %e, "PDF/A-3 not possible, plain PDF answered");
            satang_documents::render_invoice(&printed)
        })
    })
    .await
    .map_err(|e| ApiError::Internal(format!("PDF rendering panicked: {e}")))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{}.pdf\"", file_safe(&doc.number)),
            ),
        ],
        pdf,
    )
        .into_response())
}

/// The tax document's e-Tax XML (ETDA e-Tax Invoice & e-Receipt v2.1). With the seller's
/// certificate configured it is signed (XAdES-BES) on the first request and stored, so the
/// document then reads `signed: true` and every answer is the same bytes; otherwise unsigned.
#[utoipa::path(get, path = "/api/tax-documents/{id}/xml", tag = "tax documents",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, content_type = "application/xml", body = String,
            description = "The message, `Content-Disposition: inline; filename=\"{number}.xml\"`"),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn tax_document_xml(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let doc = operations::get(&state.db, id, caller.scope(Permission::ReadBilling)).await?;
    let signer = state.etax_signers.current();
    let xml = operations::etax_xml(&state.db, &doc, signer.as_deref(), state.clock.now()).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/xml; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{}.xml\"", file_safe(&doc.number)),
            ),
        ],
        xml,
    )
        .into_response())
}

fn file_safe(number: &str) -> String {
    number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect()
}
