//! The printed invoice (`GET /api/invoices/{id}/pdf`) and its PromptPay payload
//! (`GET /api/invoices/{id}/promptpay`), for whoever may read the invoice.
//!
//! Decisions:
//! - A **draft** is 409 ("finalise it first"): it has no number, no snapshots and totals that
//!   change at finalisation, and a Thai tax invoice must carry its number. A preview would
//!   need a watermark nobody could be trusted not to crop.
//! - The document prints what was **snapshotted at issue** (seller and buyer), so a later change
//!   of address never rewrites an issued tax invoice. The PromptPay id is the one in the
//!   **current** settings: the QR says where to pay now, it is not part of the tax record.
//! - Rendering is CPU work (shaping, font subsetting, compression): it runs on the blocking
//!   pool so it never stalls the request workers.

use std::str::FromStr;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_documents::{Buyer, DocumentStatus, InvoiceDocument, Line, Seller};
use satang_domain::{Currency, bangkok_date};
use satang_store::invoices::{self, Invoice, InvoiceLine};

use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Path};
use crate::routes::settings;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invoice_pdf))
        .routes(routes!(invoice_promptpay))
}

/// The tax invoice (open) or receipt (paid) as a PDF, Thai text shaped, the total in Thai words
/// and, while something is due and the seller has a PromptPay id, a PromptPay QR.
#[utoipa::path(get, path = "/api/invoices/{id}/pdf", tag = "invoices", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "application/pdf", body = Vec<u8>,
            description = "The document, `Content-Disposition: inline; filename=\"{number}.pdf\"`"),
        (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "A draft: finalise it first")))]
async fn invoice_pdf(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let doc = document(&state, &caller, id).await?;
    let filename = format!("{}.pdf", file_safe(&doc.number));
    let pdf = tokio::task::spawn_blocking(move || satang_documents::render_invoice(&doc))
        .await
        .map_err(|e| ApiError::Internal(format!("PDF rendering panicked: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let disposition = format!("inline; filename=\"{filename}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        pdf,
    )
        .into_response())
}

/// What a portal needs to draw its own PromptPay QR for the amount due.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PromptPayView {
    /// The EMVCo payload to encode in the QR, ending in its CRC.
    pub payload: String,
    /// The amount due in satang, as encoded in the payload (tag 54).
    pub amount: i64,
    pub promptpay_id: String,
}

/// The PromptPay payload for what is still due on an invoice: the same one the PDF prints.
#[utoipa::path(get, path = "/api/invoices/{id}/promptpay", tag = "invoices",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = PromptPayView), (status = 401, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Nothing due, not THB, or no PromptPay id set")))]
async fn invoice_promptpay(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<PromptPayView>, ApiError> {
    let doc = document(&state, &caller, id).await?;
    let payable = matches!(
        doc.status,
        DocumentStatus::Open | DocumentStatus::Uncollectible
    );
    if !payable || doc.amount_due <= 0 {
        return Err(ApiError::Conflict("nothing is due on this invoice".into()));
    }
    if doc.currency != Currency::Thb {
        return Err(ApiError::Conflict("PromptPay takes THB only".into()));
    }
    let Some(promptpay_id) = doc.seller.promptpay_id.clone() else {
        return Err(ApiError::Conflict(
            "no PromptPay id is set in the seller settings".into(),
        ));
    };
    let payload = satang_documents::promptpay_qr_payload(&doc).ok_or_else(|| {
        ApiError::Conflict("the seller's PromptPay id cannot take this payment".into())
    })?;
    Ok(axum::Json(PromptPayView {
        payload,
        amount: doc.amount_due,
        promptpay_id,
    }))
}

/// The invoice `id` as a document, if the caller may read it (others' invoices are 404, like
/// `GET /api/invoices/{id}`).
async fn document(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<InvoiceDocument, ApiError> {
    let inv = invoices::find(&state.db, id, caller.scope(Permission::ReadBilling))
        .await?
        .ok_or(ApiError::NotFound)?;
    authorize(state, caller, inv.customer_id, CustomerAction::ReadBilling).await?;
    let lines = invoices::lines_of(&state.db, &[inv.id]).await?;
    let promptpay_id = settings::load(state).await?.promptpay_id;
    build_document(&inv, &lines, promptpay_id)
}

/// Maps the stored invoice and its snapshots onto the document's plain input (also used for
/// the PDF attached to the "invoice issued" email).
pub fn build_document(
    inv: &Invoice,
    lines: &[InvoiceLine],
    promptpay_id: Option<String>,
) -> Result<InvoiceDocument, ApiError> {
    let status = match inv.status.as_str() {
        "open" => DocumentStatus::Open,
        "paid" => DocumentStatus::Paid,
        "void" => DocumentStatus::Void,
        "uncollectible" => DocumentStatus::Uncollectible,
        _ => {
            return Err(ApiError::Conflict(
                "a draft invoice has no number yet: finalise it first".into(),
            ));
        }
    };
    let (Some(number), Some(issued_at)) = (inv.number.clone(), inv.issued_at) else {
        return Err(ApiError::Internal(format!(
            "issued invoice {} has no number",
            inv.id
        )));
    };
    let currency = Currency::from_str(&inv.currency).map_err(|_| {
        ApiError::Internal(format!("invoice {} has currency {}", inv.id, inv.currency))
    })?;
    let seller = inv
        .seller_snapshot
        .as_ref()
        .map(|j| &j.0)
        .unwrap_or(&Value::Null);
    let buyer = inv
        .customer_snapshot
        .as_ref()
        .map(|j| &j.0)
        .unwrap_or(&Value::Null);
    Ok(InvoiceDocument {
        seller: Seller {
            name_th: text(&seller["company_name"]["th"]).unwrap_or_default(),
            name_en: text(&seller["company_name"]["en"]).unwrap_or_default(),
            tax_id: text(&seller["tax_id"]),
            branch_code: text(&seller["branch_code"]),
            address: address_lines(&seller["address"]),
            phone: text(&seller["phone"]),
            email: text(&seller["email"]),
            promptpay_id,
        },
        buyer: Buyer {
            name: text(&buyer["name"]).unwrap_or_default(),
            legal_name: text(&buyer["legal_name"]),
            tax_id: text(&buyer["tax_id"]),
            branch_code: text(&buyer["branch_code"]),
            address: address_lines(&buyer["address"]),
        },
        number,
        status,
        issue_date: bangkok_date(issued_at),
        due_date: inv.due_date,
        paid_date: inv.paid_at.map(bangkok_date),
        currency,
        lines: lines.iter().map(line).collect(),
        subtotal: inv.subtotal,
        discount: inv.discount,
        vat_rate_bps: inv.vat_rate_bps,
        vat_amount: inv.vat_amount,
        total: inv.total,
        credit_applied: inv.credit_applied,
        amount_credited: inv.amount_credited,
        withholding_tax: inv.withholding_tax,
        amount_paid: inv.amount_paid,
        amount_due: inv.amount_due,
    })
}

fn line(l: &InvoiceLine) -> Line {
    let period: Option<(NaiveDate, NaiveDate)> = l.period_start.zip(l.period_end);
    Line {
        description: l.description.clone(),
        period,
        quantity: l.quantity,
        unit_amount: l.unit_amount,
        amount: l.amount,
    }
}

/// A non-empty string from a snapshot field.
fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A snapshotted address (see `customers::Address`) in the order a Thai address is written:
/// street lines, then subdistrict, district, province and postal code on one line; the country
/// only when it is not Thailand.
fn address_lines(v: &Value) -> Vec<String> {
    let field = |k: &str| text(&v[k]);
    let locality: Vec<String> = ["subdistrict", "district", "province", "postal_code"]
        .into_iter()
        .filter_map(field)
        .collect();
    let country = field("country").filter(|c| !c.eq_ignore_ascii_case("TH"));
    [
        field("line1"),
        field("line2"),
        Some(locality.join(" ")),
        country,
    ]
    .into_iter()
    .flatten()
    .filter(|l| !l.is_empty())
    .collect()
}

/// Keeps a header-safe file name: the number's letters, digits, dashes and underscores.
fn file_safe(number: &str) -> String {
    number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_read_in_thai_order() {
        let a = json!({"line1": "99/1 ถนนพหลโยธิน", "line2": null, "subdistrict": "สามเสนใน",
            "district": "พญาไท", "province": "กรุงเทพมหานคร", "postal_code": "10400", "country": "TH"});
        assert_eq!(
            address_lines(&a),
            vec!["99/1 ถนนพหลโยธิน", "สามเสนใน พญาไท กรุงเทพมหานคร 10400"]
        );
        assert!(address_lines(&Value::Null).is_empty());
        assert_eq!(file_safe("INV-2026-000001\"\r\n"), "INV-2026-000001");
    }
}
