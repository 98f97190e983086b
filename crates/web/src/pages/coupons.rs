//! Billing › Coupons (SPEC §2.11): the coupon list, creating one and archiving one. The tab is
//! rendered by [`super::billing`]; these are its forms. The API decides (billing staff and
//! admins change coupons); a refusal opens the dialog again with the API's field errors.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use satang_api::routes::coupons::CouponView;
use satang_domain::typed_amount::parse_baht;

use super::auth::FormState;
use super::billing::{BillingPage, BillingQuery, page};
use super::{Fields, entered, field, refusal};
use crate::Failure;
use crate::session::{CsrfForm, Ctx};

impl BillingPage {
    /// The coupon's name in the page's language.
    pub fn coupon_name(&self, coupon: &CouponView) -> String {
        if self.c.lang == "th" {
            coupon.name.th.clone()
        } else {
            coupon.name.en.clone()
        }
    }

    /// What it takes off: `20 %` or an amount.
    pub fn coupon_value(&self, coupon: &CouponView) -> String {
        match (coupon.percent_off_bps, coupon.amount_off) {
            (Some(bps), _) => format!("{} %", super::payments::baht(bps).replace(".00", "")),
            (None, Some(amount)) => self
                .c
                .money(amount, coupon.currency.as_deref().unwrap_or("THB")),
            (None, None) => "—".to_owned(),
        }
    }

    /// How long a discount from it lasts.
    pub fn coupon_duration(&self, coupon: &CouponView) -> String {
        match (coupon.duration.as_str(), coupon.duration_in_periods) {
            ("repeating", Some(n)) => self.c.t1("coupon-duration-repeating", "periods", n),
            (other, _) => self.c.tk("coupon-duration", other),
        }
    }

    /// `3` or `3 / 100` with a limit.
    pub fn coupon_redemptions(&self, coupon: &CouponView) -> String {
        match coupon.max_redemptions {
            Some(max) => format!("{} / {max}", coupon.times_redeemed),
            None => coupon.times_redeemed.to_string(),
        }
    }
}

fn coupons_query(dialog: &str, notice: &str) -> BillingQuery {
    BillingQuery {
        tab: "coupons".to_owned(),
        dialog: dialog.to_owned(),
        notice: notice.to_owned(),
        ..BillingQuery::default()
    }
}

fn back_to_list(notice: &str) -> Response {
    Redirect::to(&format!("/billing?tab=coupons&notice={notice}")).into_response()
}

/// The API's coupon from the dialog, or the fields a person has to correct. The percentage is
/// typed as a percent (`12.5`), the amount in baht (`100.00`).
fn coupon_body(ctx: &Ctx, fields: &Fields) -> Result<Value, BTreeMap<String, String>> {
    let tr = ctx.tr();
    let mut errors = BTreeMap::new();
    let mut body = json!({
        "code": field(fields, "code"),
        "duration": field(fields, "duration"),
    });
    let mut name = serde_json::Map::new();
    for (key, lang) in [("name_th", "th"), ("name_en", "en")] {
        if !field(fields, key).is_empty() {
            name.insert(lang.into(), field(fields, key).into());
        }
    }
    if !name.is_empty() {
        body["name"] = Value::Object(name);
    }
    match (field(fields, "percent_off"), field(fields, "amount_off")) {
        (percent, "") if !percent.is_empty() => match parse_baht(percent) {
            Some(bps) => body["percent_off_bps"] = json!(bps),
            None => {
                errors.insert("percent_off".to_owned(), tr.t("coupon-value-invalid"));
            }
        },
        ("", amount) if !amount.is_empty() => match parse_baht(amount) {
            Some(minor) => {
                body["amount_off"] = json!(minor);
                body["currency"] = json!("THB");
            }
            None => {
                errors.insert("amount_off".to_owned(), tr.t("coupon-value-invalid"));
            }
        },
        _ => {
            errors.insert("percent_off".to_owned(), tr.t("coupon-value-invalid"));
        }
    }
    for key in ["duration_in_periods", "max_redemptions"] {
        let typed = field(fields, key);
        if typed.is_empty() {
            continue;
        }
        match typed.parse::<i64>() {
            Ok(n) => body[key] = json!(n),
            Err(_) => {
                errors.insert(key.to_owned(), tr.t("coupon-whole-number"));
            }
        }
    }
    if errors.is_empty() {
        Ok(body)
    } else {
        Err(errors)
    }
}

/// `POST /billing/coupons`: create a coupon.
pub async fn create(mut ctx: Ctx, CsrfForm(fields): CsrfForm<Fields>) -> Result<Response, Failure> {
    let (form, status) = match coupon_body(&ctx, &fields) {
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
                    "/api/coupons",
                    Some(body),
                    fields.get("_key").map(String::as_str),
                )
                .await;
            if reply.ok() {
                return Ok(back_to_list("coupon-created"));
            }
            let mut form = refusal(&ctx, entered(&fields), &reply)?;
            // The API names the value it was given; the dialog has a percent box for it.
            if let Some(e) = form.errors.remove("percent_off_bps") {
                form.errors.insert("percent_off".to_owned(), e);
            }
            (form, reply.status)
        }
    };
    page(
        ctx,
        coupons_query("new-coupon", ""),
        form,
        Some(status),
        None,
    )
    .await
}

/// `POST /billing/coupons/{id}/archive`: take a coupon off sale.
pub async fn archive(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let reply = ctx
        .send(
            Method::POST,
            format!("/api/coupons/{id}/archive"),
            Some(json!({})),
            None,
        )
        .await;
    if reply.ok() {
        return Ok(back_to_list("coupon-archived"));
    }
    let form = refusal(&ctx, Fields::new(), &reply)?;
    page(ctx, coupons_query("", ""), form, Some(reply.status), None).await
}
