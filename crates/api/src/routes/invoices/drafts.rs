//! Editing a one-off draft before it is issued (as in Stripe's dashboard): add a line, remove
//! a line, or delete the draft. Staff with billing write access only (a member sees 403 for its
//! own customer's invoice, 404 for others'); anything but a draft is a 409 — an issued invoice
//! is corrected by a credit note. Each answers the invoice as it now stands, totals included.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use satang_billing::invoicing::{self, OneOffLine};

use super::{InvoiceView, LineInput, check_line, lock_for_staff, view_in};
use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Json, Path};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_line))
        .routes(routes!(remove_line))
        .routes(routes!(delete_draft))
}

/// Add a line to a draft (at the end); its totals follow under today's settings. At most 100
/// lines.
#[utoipa::path(post, path = "/api/invoices/{id}/lines", tag = "invoices", params(("id" = Uuid, Path)),
    request_body = LineInput, security(("bearer" = [])),
    responses((status = 200, body = InvoiceView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Not a draft", body = Problem), (status = 422, body = Problem)))]
async fn add_line(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<LineInput>,
) -> Result<axum::Json<InvoiceView>, ApiError> {
    let mut v = Validator::new();
    let checked = check_line(&mut v, "", &body);
    v.finish()?;
    let (description, quantity, unit_amount, _) =
        checked.ok_or_else(|| ApiError::Internal("a line passed without its amount".into()))?;
    let line = OneOffLine {
        description,
        quantity,
        unit_amount,
    };
    let (mut tx, inv) = lock_for_staff(&state, &caller, id).await?;
    let after =
        invoicing::add_draft_line(&mut tx, &caller.actor, &inv, line, state.clock.now()).await?;
    let view = view_in(&mut tx, after).await?;
    tx.commit().await?;
    Ok(axum::Json(view))
}

/// Remove a line of a draft (by the line's `id`); its totals follow. The last line stays: a
/// draft keeps at least one (409; delete the draft instead).
#[utoipa::path(delete, path = "/api/invoices/{id}/lines/{line_id}", tag = "invoices",
    params(("id" = Uuid, Path), ("line_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = InvoiceView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Not a draft, or its last line", body = Problem)))]
async fn remove_line(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, line_id)): Path<(Uuid, Uuid)>,
) -> Result<axum::Json<InvoiceView>, ApiError> {
    let (mut tx, inv) = lock_for_staff(&state, &caller, id).await?;
    let after =
        invoicing::remove_draft_line(&mut tx, &caller.actor, &inv, line_id, state.clock.now())
            .await?;
    let view = view_in(&mut tx, after).await?;
    tx.commit().await?;
    Ok(axum::Json(view))
}

/// Delete a one-off draft with its lines (it has no number yet, so no gap opens). An issued
/// invoice is voided instead, a subscription's draft stays (409).
#[utoipa::path(delete, path = "/api/invoices/{id}", tag = "invoices", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "Not a one-off draft", body = Problem)))]
async fn delete_draft(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let (mut tx, inv) = lock_for_staff(&state, &caller, id).await?;
    invoicing::delete_draft(&mut tx, &caller.actor, &inv, state.clock.now()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
