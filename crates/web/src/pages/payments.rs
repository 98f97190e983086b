//! Recording a payment from Billing History: money received and, for a B2B buyer, the
//! withholding tax it kept back with its 50 ทวิ certificate (SPEC §4). The dialog starts filled
//! in — the tax at the seller's rate of the pre-VAT amount and the money as what is due less
//! that tax — so a person checks the transfer slip and confirms. Amounts are typed in baht
//! (`1,070.00`) and turned into satang exactly, without floating point, by
//! [`satang_domain::typed_amount`].
//!
//! The payment's date may lie in the past (a transfer received last week), never after today in
//! Bangkok. The certificate often arrives weeks after the money: the withholding is recorded
//! without its number, the payments list says the certificate is pending, and its small form
//! adds the number later (`PATCH /api/payments/{id}`); the receipt shows it from then on.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{NaiveDate, NaiveTime, TimeZone};
use serde_json::{Value, json};
use uuid::Uuid;

use satang_api::routes::invoices::InvoiceView;
use satang_api::routes::invoices::settlement::PaymentResponse;
use satang_api::routes::settings::Settings;
use satang_documents::format as document;
use satang_domain::money::Money;
use satang_domain::period::bangkok_date;
use satang_domain::typed_amount::parse_baht;
use satang_domain::vat::withholding_tax;

use super::auth::FormState;
use super::billing::{BillingQuery, page};
use super::{Fields, entered, field, refusal};
use crate::client::ApiReply;
use crate::session::{CsrfForm, Ctx};
use crate::{Console, Failure};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route(
            "/billing/invoices/{id}/payments",
            get(payment_dialog).post(record_payment),
        )
        .route(
            "/billing/payments/{id}/certificate",
            get(certificate_back).post(attach_certificate),
        )
        .route(
            "/billing/customers/{customer}/payment-methods",
            post(add_method),
        )
}

/// Sends the new-payment-method form (the portal's and Billing's) for `customer` to the API.
pub async fn send_method(ctx: &mut Ctx, customer: Uuid, fields: &Fields) -> ApiReply {
    ctx.send(
        Method::POST,
        format!("/api/customers/{customer}/payment-methods"),
        Some(method_body(fields)),
        fields.get("_key").map(String::as_str),
    )
    .await
}

/// The API body of the new-payment-method form: a sandbox card by its number and expiry, or
/// PromptPay / bank transfer by their type alone.
fn method_body(fields: &Fields) -> Value {
    let is_default = field(fields, "is_default") == "on";
    match field(fields, "type") {
        // From the card page: the provider's script tokenised the card in the browser.
        "card" if !field(fields, "token").is_empty() => json!({
            "type": "card",
            "gateway": field(fields, "gateway"),
            "token": field(fields, "token"),
            "is_default": is_default,
        }),
        "card" => json!({
            "type": "card",
            "card_number": field(fields, "card_number").replace([' ', '-'], ""),
            "exp_month": field(fields, "exp_month").parse::<u32>().ok(),
            "exp_year": field(fields, "exp_year").parse::<i32>().ok(),
            "is_default": is_default,
        }),
        kind => json!({ "type": kind, "is_default": is_default }),
    }
}

/// What a refused new-payment-method form shows again: never the card number.
pub fn method_form_again(fields: &Fields) -> Fields {
    let mut values = fields.clone();
    values.retain(|k, _| k == "type" || k == "exp_month" || k == "exp_year");
    values
}

/// Staff add a payment method for the customer picked on the Payment Methods tab (billing
/// staff and admins; the API decides), then come back to that customer's methods.
async fn add_method(
    mut ctx: Ctx,
    Path(customer): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let reply = send_method(&mut ctx, customer, &fields).await;
    let query = BillingQuery {
        tab: "methods".to_owned(),
        customer: customer.to_string(),
        ..BillingQuery::default()
    };
    if reply.ok() {
        return Ok(Redirect::to(&format!(
            "/billing?{}&notice=method-added",
            query.list_params()
        ))
        .into_response());
    }
    let form = refusal(&ctx, method_form_again(&fields), &reply)?;
    let status = reply.status;
    let query = BillingQuery {
        dialog: "new-method".to_owned(),
        ..query
    };
    page(ctx, query, form, Some(status), None).await
}

/// What the payment dialog of an invoice starts with, in baht as a person types it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefill {
    pub amount: String,
    pub withholding: String,
}

/// The pre-filled payment of an invoice that can still be paid; `None` for the others.
/// Withholding tax is proposed only for a buyer with a tax id (a business): the seller's rate
/// of the pre-VAT amount, less what earlier certificates already covered, and never more than
/// is due.
pub fn prefill(inv: &InvoiceView, wht_rate_bps: u32) -> Option<Prefill> {
    if !inv.status.accepts_payment() || inv.amount_due <= 0 {
        return None;
    }
    let business = inv
        .customer
        .as_ref()
        .and_then(|c| c.get("tax_id"))
        .and_then(Value::as_str)
        .is_some_and(|t| !t.trim().is_empty());
    let withholding = if business {
        withholding_tax(inv.total - inv.vat_amount, wht_rate_bps)
            .unwrap_or(0)
            .saturating_sub(inv.withholding_tax)
            .clamp(0, inv.amount_due)
    } else {
        0
    };
    Some(Prefill {
        amount: baht(inv.amount_due - withholding),
        withholding: if withholding > 0 {
            baht(withholding)
        } else {
            String::new()
        },
    })
}

/// Satang as baht the way a person writes them: `107000` → `1,070.00`.
pub fn baht(minor: i64) -> String {
    document::amount(Money::thb(minor))
}

/// The seller's withholding-tax rate (basis points) from the settings.
pub async fn withholding_rate(ctx: &mut Ctx) -> Result<u32, Failure> {
    let settings: Settings = ctx.get("/api/settings").await?;
    Ok(settings.withholding_tax_rate_bps)
}

/// The list the dialog was opened from, to go back to.
fn back_query(fields: &Fields, id: Uuid) -> BillingQuery {
    BillingQuery {
        tab: "history".to_owned(),
        status: field(fields, "back_status").to_owned(),
        customer: field(fields, "back_customer").to_owned(),
        cursor: field(fields, "back_cursor").to_owned(),
        dialog: format!("pay-{id}"),
        from: field(fields, "back_to").to_owned(),
        ..BillingQuery::default()
    }
}

/// Today in Bangkok, by the server's clock (the test clock in tests).
pub fn today(ctx: &Ctx) -> NaiveDate {
    bangkok_date(ctx.console.app.clock.now())
}

/// The moment recorded for a payment received on `day`: now for today, noon in Bangkok for an
/// earlier day (any hour of it is the same tax point; noon reads as that day everywhere).
fn paid_at(day: NaiveDate, today: NaiveDate) -> Option<chrono::DateTime<chrono::Utc>> {
    if day == today {
        return None;
    }
    let bangkok = chrono::FixedOffset::east_opt(7 * 3600)?;
    bangkok
        .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(12, 0, 0)?))
        .single()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The API's payment request from the dialog, or the fields a person has to correct.
fn payment_body(
    ctx: &Ctx,
    fields: &Fields,
    today: NaiveDate,
) -> Result<Value, BTreeMap<String, String>> {
    let tr = ctx.tr();
    let mut errors = BTreeMap::new();
    let amount = match field(fields, "amount") {
        "" => Some(0),
        typed => parse_baht(typed),
    };
    if amount.is_none() {
        errors.insert("amount".to_owned(), tr.t("payment-amount-invalid"));
    }
    let withholding = match field(fields, "withholding_tax_amount") {
        "" => Some(0),
        typed => parse_baht(typed),
    };
    if withholding.is_none() {
        errors.insert(
            "withholding_tax_amount".to_owned(),
            tr.t("payment-amount-invalid"),
        );
    }
    // The certificate may come weeks later: recorded without its number, added afterwards.
    let certificate = field(fields, "withholding_tax_certificate_no");
    let day = match field(fields, "paid_at") {
        "" => Some(today),
        typed => NaiveDate::parse_from_str(typed, "%Y-%m-%d").ok(),
    };
    match day {
        None => {
            errors.insert("paid_at".to_owned(), tr.t("payment-date-invalid"));
        }
        Some(d) if d > today => {
            errors.insert("paid_at".to_owned(), tr.t("payment-date-future"));
        }
        Some(_) => {}
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut body = json!({
        "amount": amount.unwrap_or(0),
        "method": field(fields, "method"),
    });
    let reference = field(fields, "reference");
    if !reference.is_empty() {
        body["reference"] = json!(reference);
    }
    if let Some(at) = day.and_then(|d| paid_at(d, today)) {
        body["paid_at"] = json!(at);
    }
    if let Some(w) = withholding.filter(|w| *w > 0) {
        body["withholding_tax"] = json!({
            "amount": w,
            "certificate_no": (!certificate.is_empty()).then_some(certificate),
        });
    }
    Ok(body)
}

/// `POST /billing/invoices/{id}/payments`: records the payment through the API, then back to
/// the list with a notice; a refusal shows the dialog again with the reasons by its fields.
async fn record_payment(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let back = back_query(&fields, id);
    let today = today(&ctx);
    let (form, status) = match payment_body(&ctx, &fields, today) {
        Err(errors) => (
            FormState {
                values: entered(&fields),
                errors,
                message: None,
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Ok(body) => {
            let reply = ctx
                .send(
                    Method::POST,
                    format!("/api/invoices/{id}/payments"),
                    Some(body),
                    fields.get("_key").map(String::as_str),
                )
                .await;
            if reply.ok() {
                let paid: PaymentResponse = reply.json()?;
                let notice = if paid.invoice.status.is_paid() {
                    "invoice-paid"
                } else {
                    "payment-recorded"
                };
                // Opened from the invoice's page: back there.
                if back.from == "invoice" {
                    return Ok(
                        Redirect::to(&format!("/invoices/{id}?notice={notice}")).into_response()
                    );
                }
                let mut list = back.clone();
                list.dialog.clear();
                return Ok(Redirect::to(&format!(
                    "/billing?{}&notice={notice}",
                    list.list_params()
                ))
                .into_response());
            }
            (refusal(&ctx, entered(&fields), &reply)?, reply.status)
        }
    };
    let invoice: InvoiceView = ctx.get(format!("/api/invoices/{id}")).await?;
    page(ctx, back, form, Some(status), Some(invoice)).await
}

/// `GET /billing/invoices/{id}/payments` — where a browser lands when a refused payment (shown
/// at this address) is reloaded: the invoice's customer on Billing History with the dialog
/// open again, never a "method not allowed".
async fn payment_dialog(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, Failure> {
    ctx.staff().await?;
    let invoice: InvoiceView = ctx.get(format!("/api/invoices/{id}")).await?;
    let query = BillingQuery {
        tab: "history".to_owned(),
        customer: invoice.customer_id.to_string(),
        ..BillingQuery::default()
    };
    Ok(Redirect::to(&format!("/billing?{}&dialog=pay-{id}", query.list_params())).into_response())
}

/// The list a certificate form was posted from.
fn history_query(fields: &Fields) -> BillingQuery {
    BillingQuery {
        tab: "history".to_owned(),
        status: field(fields, "back_status").to_owned(),
        customer: field(fields, "back_customer").to_owned(),
        cursor: field(fields, "back_cursor").to_owned(),
        ..BillingQuery::default()
    }
}

/// `POST /billing/payments/{id}/certificate`: the 50 ทวิ certificate's number, arrived after
/// the payment was recorded, added through `PATCH /api/payments/{id}`; then back to the list.
/// A refusal shows the list again with the reason by that payment's form.
async fn attach_certificate(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let list = history_query(&fields);
    let certificate = field(&fields, "certificate_no");
    let tr = ctx.tr();
    let (form, status) = if certificate.is_empty() {
        let mut form = FormState {
            values: entered(&fields),
            ..FormState::default()
        };
        form.errors.insert(
            "certificate_no".to_owned(),
            tr.t("payment-certificate-required"),
        );
        (form, StatusCode::UNPROCESSABLE_ENTITY)
    } else {
        let reply = ctx
            .send(
                Method::PATCH,
                format!("/api/payments/{id}"),
                Some(json!({ "certificate_no": certificate })),
                None,
            )
            .await;
        if reply.ok() {
            return Ok(Redirect::to(&format!(
                "/billing?{}&notice=certificate-recorded",
                list.list_params()
            ))
            .into_response());
        }
        (refusal(&ctx, entered(&fields), &reply)?, reply.status)
    };
    let query = BillingQuery {
        dialog: format!("cert-{id}"),
        ..list
    };
    page(ctx, query, form, Some(status), None).await
}

/// `GET /billing/payments/{id}/certificate` (a refused form reloaded): Billing History.
async fn certificate_back(mut ctx: Ctx, Path(_id): Path<Uuid>) -> Result<Response, Failure> {
    ctx.staff().await?;
    Ok(Redirect::to("/billing?tab=history").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_day_is_recorded_at_noon_in_bangkok() {
        let today = NaiveDate::from_ymd_opt(2030, 3, 10).unwrap();
        assert_eq!(paid_at(today, today), None);
        let last_week = NaiveDate::from_ymd_opt(2030, 3, 3).unwrap();
        let at = paid_at(last_week, today).unwrap();
        assert_eq!(at.to_rfc3339(), "2030-03-03T05:00:00+00:00");
        assert_eq!(bangkok_date(at), last_week);
    }

    #[test]
    fn written_amounts_read_back() {
        for minor in [0, 7, 107_000, 123_456_789, i64::MAX] {
            assert_eq!(parse_baht(&baht(minor)), Some(minor), "{minor}");
        }
    }

    fn invoice(status: &str, tax_id: Option<&str>) -> InvoiceView {
        serde_json::from_value(json!({
            "id": Uuid::nil(), "number": "INV-2030-000001", "customer_id": Uuid::nil(),
            "subscription_id": null, "status": status, "currency": "THB", "lines": [],
            "subtotal": 100_000, "discount": 0, "vat_rate_bps": 700, "vat_rate": "7.00",
            "vat_amount": 7_000, "total": 107_000, "withholding_tax": 0, "amount_paid": 0,
            "amount_due": 107_000, "credit_applied": 0, "amount_credited": 0,
            "prices_include_vat": false, "issued_at": null, "due_date": null, "paid_at": null,
            "voided_at": null, "marked_uncollectible_at": null, "period_start": null,
            "period_end": null, "billing_reason": "manual",
            "customer": { "name": "บริษัท ข้าวดี จำกัด", "tax_id": tax_id },
            "seller": null, "created_at": "2030-03-10T03:00:00Z",
            "updated_at": "2030-03-10T03:00:00Z", "version": 1
        }))
        .unwrap()
    }

    #[test]
    fn a_business_is_offered_withholding_at_the_settings_rate() {
        // 3 % of the pre-VAT 1,000.00 is 30.00; the money is 1,070.00 − 30.00.
        assert_eq!(
            prefill(&invoice("open", Some("0105558000001")), 300),
            Some(Prefill {
                amount: "1,040.00".into(),
                withholding: "30.00".into()
            })
        );
        assert_eq!(
            prefill(&invoice("open", None), 300),
            Some(Prefill {
                amount: "1,070.00".into(),
                withholding: String::new()
            })
        );
        assert_eq!(prefill(&invoice("paid", Some("0105558000001")), 300), None);
        assert_eq!(prefill(&invoice("draft", None), 300), None);
    }
}
