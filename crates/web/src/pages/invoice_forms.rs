//! The forms of the invoice page ([`super::invoices`]) and the one-off invoice of the
//! customer's Invoices tab: each posts to the API operation of the same name with the form's
//! idempotency key, then goes back to the invoice with a notice, or shows the refusal in the
//! dialog (or form) it came from, in the person's language.
//!
//! Amounts are typed in baht and turned into satang exactly
//! ([`satang_domain::typed_amount::parse_baht`]); quantities are whole numbers. The credit
//! note offers each line of the invoice (a quantity to credit, at its unit price) and one line
//! of another amount, with the reason a credit note must name (SPEC §4.1).

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use satang_api::routes::invoices::InvoiceView;
use satang_domain::typed_amount::parse_baht;

use super::auth::{FormState, field_errors};
use super::invoices::{InvoiceQuery, page};
use super::{Fields, entered, field};
use crate::Failure;
use crate::client::ApiReply;
use crate::i18n::Tr;
use crate::session::{CsrfForm, Ctx};

/// One line of the invoice in the credit-note dialog: what it charged, and the field
/// (`credit_{index}`) for how many of it to credit.
pub struct CreditRow {
    pub index: usize,
    pub description: String,
    pub quantity: i64,
    pub unit_amount: i64,
    pub amount: i64,
}

impl CreditRow {
    pub fn field(&self) -> String {
        format!("credit_{}", self.index)
    }
}

/// The lines a credit note may give back part of: those that charged something.
pub fn credit_rows(inv: &InvoiceView) -> Vec<CreditRow> {
    inv.lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.quantity > 0 && l.unit_amount > 0)
        .map(|(index, l)| CreditRow {
            index,
            description: l.description.clone(),
            quantity: l.quantity,
            unit_amount: l.unit_amount,
            amount: l.amount,
        })
        .collect()
}

/// What the page's forms are, for the words of a refusal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Void,
    Uncollectible,
    Send,
    Finalize,
    Delete,
    AddLine,
    RemoveLine,
    Credit,
}

impl Form {
    /// The dialog (or form) the refusal is shown in.
    fn dialog(self) -> &'static str {
        match self {
            Form::Void => "void",
            Form::Uncollectible => "uncollectible",
            Form::Send => "send",
            Form::Finalize => "finalize",
            Form::Delete => "delete",
            Form::AddLine => "add-line",
            Form::RemoveLine => "remove-line",
            Form::Credit => "credit-note",
        }
    }
}

/// Why the API said 409, in the person's words, from the invoice as it now stands.
fn conflict_message(tr: &Tr, form: Form, inv: &InvoiceView) -> String {
    let status = tr.t(&format!("status-{}", inv.status.as_str()));
    let draft_only = matches!(
        form,
        Form::Finalize | Form::Delete | Form::AddLine | Form::RemoveLine
    );
    match form {
        _ if draft_only && !inv.status.is_draft() => {
            tr.t1("invoice-refused-not-draft", "status", status)
        }
        Form::Void | Form::Uncollectible | Form::Send if !inv.status.is_open() => {
            tr.t1("invoice-refused-not-open", "status", status)
        }
        Form::Void if inv.amount_paid > 0 || inv.withholding_tax > 0 => {
            tr.t("invoice-refused-void-paid")
        }
        Form::Send => tr.t("invoice-refused-no-address"),
        Form::Delete if inv.subscription_id.is_some() => tr.t("invoice-refused-subscription"),
        Form::RemoveLine if inv.lines.len() <= 1 => tr.t("invoice-refused-last-line"),
        Form::Credit if !inv.status.is_issued() => {
            tr.t1("invoice-refused-not-issued", "status", status)
        }
        _ => tr.t("form-conflict"),
    }
}

/// The invoice page again with the refusal of `form` in its dialog. A 422's field errors are
/// put by the form's fields (`fields` maps the API's names onto the form's); a field the form
/// does not have, a 409 or a 403 becomes a message about the whole form.
async fn refused(
    mut ctx: Ctx,
    id: Uuid,
    form: Form,
    mut state: FormState,
    reply: &ApiReply,
    fields: &[(&str, &str)],
) -> Result<Response, Failure> {
    let tr = ctx.tr();
    match reply.status.as_u16() {
        409 => {
            let now: InvoiceView = ctx.get(format!("/api/invoices/{id}")).await?;
            state.message = Some(conflict_message(&tr, form, &now));
        }
        403 => state.message = Some(tr.t("form-forbidden")),
        400 | 422 => {
            let (errors, message) = api_field_errors(&tr, reply, fields);
            state.errors.extend(errors);
            state.message = message;
        }
        _ => return Err(Failure::from_status(reply.status, &ctx.here)),
    }
    let query = InvoiceQuery {
        dialog: form.dialog().to_owned(),
        notice: String::new(),
    };
    page(ctx, id, query, state, Some(reply.status)).await
}

/// The API's field errors under the form's field names (`fields`: API name → form name),
/// translated; what no field of the form holds becomes one message.
fn api_field_errors(
    tr: &Tr,
    reply: &ApiReply,
    fields: &[(&str, &str)],
) -> (BTreeMap<String, String>, Option<String>) {
    let problem = reply.problem();
    let translated = field_errors(tr, &problem.errors);
    let mut errors = BTreeMap::new();
    let mut rest = Vec::new();
    for (name, message) in translated {
        match fields.iter().find(|(api, _)| *api == name) {
            Some((_, form)) => {
                errors.insert((*form).to_owned(), message);
            }
            None => rest.push(message),
        }
    }
    let message = if !rest.is_empty() {
        Some(tr.t1("invoice-refused-fields", "reasons", rest.join(" ")))
    } else if errors.is_empty() {
        Some(tr.t("invoice-refused-form"))
    } else {
        None
    };
    (errors, message)
}

fn to_invoice(id: Uuid, notice: &str) -> Response {
    Redirect::to(&format!("/invoices/{id}?notice={notice}")).into_response()
}

/// Posts `/api/invoices/{id}/{operation}` (no body): to the invoice with `notice`, or the
/// refusal in the dialog of `form`.
async fn operate(
    mut ctx: Ctx,
    id: Uuid,
    fields: Fields,
    operation: &str,
    form: Form,
    notice: &str,
) -> Result<Response, Failure> {
    ctx.staff().await?;
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/invoices/{id}/{operation}"),
            None,
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        return Ok(to_invoice(id, notice));
    }
    refused(ctx, id, form, FormState::default(), &reply, &[]).await
}

/// `POST /invoices/{id}/void` (confirmed in its dialog).
pub async fn void(
    ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    operate(ctx, id, fields, "void", Form::Void, "invoice-voided").await
}

/// `POST /invoices/{id}/mark-uncollectible` (confirmed in its dialog).
pub async fn mark_uncollectible(
    ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    operate(
        ctx,
        id,
        fields,
        "mark-uncollectible",
        Form::Uncollectible,
        "invoice-uncollectible",
    )
    .await
}

/// `POST /invoices/{id}/send`: the invoice mail once more.
pub async fn send(
    ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    operate(ctx, id, fields, "send", Form::Send, "invoice-sent").await
}

/// `POST /invoices/{id}/finalize`: the draft is issued (number, due date, mail).
pub async fn finalize(
    ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    operate(
        ctx,
        id,
        fields,
        "finalize",
        Form::Finalize,
        "invoice-finalized",
    )
    .await
}

/// `POST /invoices/{id}/delete`: a one-off draft goes; back to its customer's invoices.
pub async fn delete(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(_fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    ctx.staff().await?;
    let invoice: InvoiceView = ctx.get(format!("/api/invoices/{id}")).await?;
    let reply = ctx
        .send(Method::DELETE, format!("/api/invoices/{id}"), None, None)
        .await;
    if reply.ok() {
        return Ok(Redirect::to(&format!(
            "/customers/{}?tab=invoices&notice=draft-deleted",
            invoice.customer_id
        ))
        .into_response());
    }
    refused(ctx, id, Form::Delete, FormState::default(), &reply, &[]).await
}

/// A line as typed (description, quantity, unit price in baht): the API's line, or the fields
/// to correct.
fn typed_line(tr: &Tr, fields: &Fields) -> Result<Value, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let description = field(fields, "description");
    if description.is_empty() {
        errors.insert(
            "description".to_owned(),
            tr.t("invoice-line-description-required"),
        );
    }
    let quantity = match field(fields, "quantity") {
        "" => Some(1),
        typed => typed.parse::<i64>().ok().filter(|q| *q >= 1),
    };
    if quantity.is_none() {
        errors.insert("quantity".to_owned(), tr.t("invoice-line-quantity-invalid"));
    }
    let unit_amount = parse_baht(field(fields, "unit_price"));
    if unit_amount.is_none() {
        errors.insert("unit_price".to_owned(), tr.t("payment-amount-invalid"));
    }
    match (quantity, unit_amount) {
        (Some(q), Some(u)) if errors.is_empty() => Ok(json!({
            "description": description, "quantity": q, "unit_amount": u,
        })),
        _ => Err(errors),
    }
}

/// The API's names of a line's fields → the form's.
const LINE_FIELDS: [(&str, &str); 4] = [
    ("description", "description"),
    ("quantity", "quantity"),
    ("unit_amount", "unit_price"),
    ("due_date", "due_date"),
];

/// `POST /invoices/{id}/lines`: a line added to the draft.
pub async fn add_line(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    ctx.staff().await?;
    let tr = ctx.tr();
    let values = entered(&fields);
    let line = match typed_line(&tr, &fields) {
        Ok(line) => line,
        Err(errors) => {
            let form = FormState {
                values,
                errors,
                message: None,
            };
            let query = InvoiceQuery {
                dialog: Form::AddLine.dialog().to_owned(),
                notice: String::new(),
            };
            return page(ctx, id, query, form, Some(StatusCode::UNPROCESSABLE_ENTITY)).await;
        }
    };
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/invoices/{id}/lines"),
            Some(line),
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        return Ok(to_invoice(id, "invoice-line-added"));
    }
    let state = FormState {
        values,
        ..FormState::default()
    };
    refused(ctx, id, Form::AddLine, state, &reply, &LINE_FIELDS).await
}

/// `POST /invoices/{id}/lines/{line}/delete`: a line removed from the draft.
pub async fn remove_line(
    mut ctx: Ctx,
    Path((id, line)): Path<(Uuid, Uuid)>,
    CsrfForm(_fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    ctx.staff().await?;
    let reply = ctx
        .send(
            Method::DELETE,
            format!("/api/invoices/{id}/lines/{line}"),
            None,
            None,
        )
        .await;
    if reply.ok() {
        return Ok(to_invoice(id, "invoice-line-removed"));
    }
    if reply.status == StatusCode::NOT_FOUND {
        // Gone already (a second click): the invoice as it stands, or "not found" if it is too.
        let _: InvoiceView = ctx.get(format!("/api/invoices/{id}")).await?;
        return Ok(to_invoice(id, "invoice-line-removed"));
    }
    refused(ctx, id, Form::RemoveLine, FormState::default(), &reply, &[]).await
}

/// The credit note as typed: the API's request, or the fields to correct (and a message about
/// the whole form).
fn credit_body(
    tr: &Tr,
    inv: &InvoiceView,
    fields: &Fields,
) -> Result<Value, (BTreeMap<String, String>, Option<String>)> {
    let mut errors = BTreeMap::new();
    let reason = field(fields, "reason");
    if reason.is_empty() {
        errors.insert("reason".to_owned(), tr.t("credit-reason-required"));
    }
    let mut lines = Vec::new();
    for row in credit_rows(inv) {
        let name = row.field();
        match field(fields, &name) {
            "" | "0" => {}
            typed => match typed.parse::<i64>() {
                Ok(q) if (1..=row.quantity).contains(&q) => lines.push(json!({
                    "description": row.description, "quantity": q,
                    "unit_amount": row.unit_amount,
                })),
                _ => {
                    errors.insert(name, tr.t1("credit-quantity-invalid", "max", row.quantity));
                }
            },
        }
    }
    match field(fields, "other_amount") {
        "" => {}
        typed => match parse_baht(typed) {
            Some(0) => {}
            Some(amount) => {
                let description = field(fields, "other_description");
                if description.is_empty() {
                    errors.insert(
                        "other_description".to_owned(),
                        tr.t("invoice-line-description-required"),
                    );
                }
                lines.push(json!({
                    "description": description, "quantity": 1, "unit_amount": amount,
                }));
            }
            None => {
                errors.insert("other_amount".to_owned(), tr.t("payment-amount-invalid"));
            }
        },
    }
    if !errors.is_empty() {
        return Err((errors, None));
    }
    if lines.is_empty() {
        return Err((BTreeMap::new(), Some(tr.t("credit-nothing"))));
    }
    Ok(json!({ "reason": reason, "lines": lines }))
}

/// `POST /invoices/{id}/credit-notes`: a credit note (ใบลดหนี้) against the invoice.
pub async fn credit(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    ctx.staff().await?;
    let tr = ctx.tr();
    let invoice: InvoiceView = ctx.get(format!("/api/invoices/{id}")).await?;
    let values = entered(&fields);
    let body = match credit_body(&tr, &invoice, &fields) {
        Ok(body) => body,
        Err((errors, message)) => {
            let form = FormState {
                values,
                errors,
                message,
            };
            let query = InvoiceQuery {
                dialog: Form::Credit.dialog().to_owned(),
                notice: String::new(),
            };
            return page(ctx, id, query, form, Some(StatusCode::UNPROCESSABLE_ENTITY)).await;
        }
    };
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/invoices/{id}/credit-notes"),
            Some(body),
            fields.get("_key").map(String::as_str),
        )
        .await;
    if reply.ok() {
        return Ok(to_invoice(id, "credit-note-issued"));
    }
    let mut state = FormState {
        values,
        ..FormState::default()
    };
    // More than is left to credit: say how much is.
    if reply.status == StatusCode::UNPROCESSABLE_ENTITY
        && reply.problem().errors.contains_key("lines")
    {
        let left = (invoice.total - invoice.amount_credited).max(0);
        state.message = Some(tr.t1(
            "credit-too-much",
            "amount",
            crate::format::money(left, &invoice.currency),
        ));
        let query = InvoiceQuery {
            dialog: Form::Credit.dialog().to_owned(),
            notice: String::new(),
        };
        return page(ctx, id, query, state, Some(reply.status)).await;
    }
    refused(
        ctx,
        id,
        Form::Credit,
        state,
        &reply,
        &[("reason", "reason")],
    )
    .await
}

/// `POST /customers/{id}/invoices`: a one-off draft of one line (and a due date, when one is
/// chosen) from the customer's Invoices tab; then its page, where more lines are added and it
/// is issued. A refusal opens the dialog again with the reasons by the fields.
pub async fn create(
    mut ctx: Ctx,
    Path(customer): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    ctx.staff().await?;
    let tr = ctx.tr();
    let values = entered(&fields);
    let mut errors = BTreeMap::new();
    let due_date = match field(&fields, "due_date") {
        "" => None,
        typed => match chrono::NaiveDate::parse_from_str(typed, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                errors.insert("due_date".to_owned(), tr.t("invoice-due-date-invalid"));
                None
            }
        },
    };
    let line = typed_line(&tr, &fields).map_err(|e| errors.extend(e)).ok();
    let reply = match line {
        Some(line) if errors.is_empty() => {
            let mut body = json!({ "customer_id": customer, "lines": [line] });
            if let Some(d) = due_date {
                body["due_date"] = json!(d);
            }
            ctx.send(
                Method::POST,
                "/api/invoices",
                Some(body),
                fields.get("_key").map(String::as_str),
            )
            .await
        }
        _ => {
            let form = FormState {
                values,
                errors,
                message: None,
            };
            return super::customers::dialog_again(
                ctx,
                customer,
                "invoices",
                "new-invoice",
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    if reply.ok() {
        let draft: InvoiceView = reply.json()?;
        return Ok(to_invoice(draft.id, "draft-created"));
    }
    let mut form = FormState {
        values,
        ..FormState::default()
    };
    match reply.status.as_u16() {
        409 => form.message = Some(tr.t("invoice-refused-customer")),
        403 => form.message = Some(tr.t("form-forbidden")),
        400 | 422 => {
            let prefixed: Vec<(String, &str)> = LINE_FIELDS
                .iter()
                .map(|(api, form)| {
                    let api = if *api == "due_date" {
                        (*api).to_owned()
                    } else {
                        format!("lines[0].{api}")
                    };
                    (api, *form)
                })
                .collect();
            let names: Vec<(&str, &str)> = prefixed.iter().map(|(a, f)| (a.as_str(), *f)).collect();
            let (errors, message) = api_field_errors(&tr, &reply, &names);
            form.errors = errors;
            form.message = message;
        }
        _ => return Err(Failure::from_status(reply.status, &ctx.here)),
    }
    let status = reply.status;
    super::customers::dialog_again(ctx, customer, "invoices", "new-invoice", form, status).await
}
