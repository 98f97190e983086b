//! The printed invoice (`GET /api/invoices/{id}/pdf`) and its PromptPay payload
//! (`GET /api/invoices/{id}/promptpay`), for whoever may read the invoice.
//!
//! Decisions:
//! - A **draft** is 409 ("finalise it first"): it has no number, no snapshots and totals that
//!   change at finalisation, and a Thai tax invoice must carry its number. A preview would
//!   need a watermark nobody could be trusted not to crop.
//! - The document prints what was **snapshotted at issue** (seller and buyer) and the PromptPay
//!   id of the **current** settings (`satang_billing::documents`, shared with the e-mail
//!   worker's attachment).
//! - Rendering is CPU work (shaping, font subsetting, compression): it runs on the blocking
//!   pool so it never stalls the request workers.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::documents::invoice_document;
use satang_billing::settings::SellerProfile;
use satang_documents::{DocumentStatus, InvoiceDocument};
use satang_domain::Currency;
use satang_store::invoices;

use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Path};
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
    let promptpay_id = SellerProfile::load(&state.db).await?.promptpay_id;
    Ok(invoice_document(&inv, &lines, promptpay_id)?)
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

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(file_safe("INV-2026-000001\"\r\n"), "INV-2026-000001");
    }
}
