//! An invoice's mail: `POST /api/invoices/{id}/send` queues the invoice mail of an open
//! invoice once more (Stripe's "Send invoice"; staff with billing write access), and
//! `GET /api/invoices/{id}/emails` lists the mails about the invoice — its issue, each time it
//! was sent again, a failed charge, and the payments received on it — with what became of each.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_auth::Permission;
use satang_billing::invoicing;
use satang_store::emails;
use satang_store::invoices;
use satang_store::payments::{self, PaymentFilter};

use super::{InvoiceView, lock_for_staff, view_in};
use crate::access::{CustomerAction, authorize};
use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::routes::emails::EmailView;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_invoice))
        .routes(routes!(list_invoice_emails))
}

/// Send the invoice mail again (the PDF attached, with what is due now) to the customer's
/// billing address; the event `invoice.sent` tells the webhooks. Only an open invoice (409
/// otherwise, and for a customer without an email address).
#[utoipa::path(post, path = "/api/invoices/{id}/send", tag = "invoices", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = InvoiceView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Not open, or nobody to send it to", body = Problem)))]
async fn send_invoice(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<InvoiceView>, ApiError> {
    let (mut tx, inv) = lock_for_staff(&state, &caller, id).await?;
    invoicing::send_invoice(&mut tx, &caller.actor, &inv, state.clock.now()).await?;
    let view = view_in(&mut tx, inv).await?;
    tx.commit().await?;
    Ok(axum::Json(view))
}

/// The mails about one invoice, oldest first: read with the customer's billing read right,
/// like the invoice.
#[utoipa::path(get, path = "/api/invoices/{id}/emails", tag = "invoices", params(("id" = Uuid, Path), PageParams),
    security(("bearer" = [])),
    responses((status = 200, body = Page<EmailView>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn list_invoice_emails(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<EmailView>>, ApiError> {
    let (limit, after) = params.keyset()?;
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
    // The events that mail about it name the invoice, or one of its payments.
    let paid = payments::list(
        &state.db,
        scope,
        PaymentFilter {
            customer_id: Some(inv.customer_id),
            invoice_id: Some(inv.id),
        },
        None,
        10_000,
    )
    .await?;
    let about: Vec<String> = std::iter::once(inv.id)
        .chain(paid.iter().map(|p| p.id))
        .map(|id| id.to_string())
        .collect();
    let rows = emails::list_about(&state.db, inv.customer_id, &about, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        limit,
        |d| d.id,
        EmailView::from,
    )))
}
