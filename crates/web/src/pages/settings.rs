//! Settings (`/settings`): the seller profile that invoices, PromptPay and dunning use. Staff
//! read it; administrators change it through `PATCH /api/settings`, whose field errors are
//! shown beside the fields. Rates are typed as percentages ("7", "3.00") and sent as basis
//! points; retry days as a list ("1, 3, 5, 7").

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::Query;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use satang_api::routes::settings::Settings;
use satang_domain::typed_amount::parse_hundredths;

use super::auth::FormState;
use super::{Chrome, Fields, entered, field, notice_text, refusal};
use crate::session::{CsrfForm, Ctx};
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new().route("/settings", get(index).post(save))
}

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub c: Chrome,
    pub settings: Settings,
    pub can_edit: bool,
    pub form: FormState,
    /// No e-Tax signing certificate is configured: tax documents are issued unsigned.
    pub unsigned: bool,
}

impl SettingsPage {
    /// "7.00 %" from 700.
    pub fn percent(&self, bps: impl std::borrow::Borrow<u32>) -> String {
        let bps = *bps.borrow();
        format!("{}.{:02} %", bps / 100, bps % 100)
    }

    pub fn address_line(&self) -> String {
        let Some(a) = &self.settings.address else {
            return String::new();
        };
        super::customers::address_line([
            &a.line1,
            &a.line2,
            &a.subdistrict,
            &a.district,
            &a.province,
            &a.postal_code,
        ])
    }

    pub fn retry_days(&self) -> String {
        join_days(&self.settings.dunning.retry_days)
    }
}

fn join_days(days: &[u32]) -> String {
    days.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The form's fields filled from the current profile.
fn values_of(s: &Settings) -> Fields {
    let mut v = BTreeMap::new();
    let mut put = |k: &str, value: String| {
        v.insert(k.to_owned(), value);
    };
    put("company_name_th", s.company_name.th.clone());
    put("company_name_en", s.company_name.en.clone());
    put("tax_id", s.tax_id.clone().unwrap_or_default());
    put("branch_code", s.branch_code.clone().unwrap_or_default());
    put("phone", s.phone.clone().unwrap_or_default());
    put("email", s.email.clone().unwrap_or_default());
    put(
        "vat_rate",
        format!("{}.{:02}", s.vat_rate_bps / 100, s.vat_rate_bps % 100),
    );
    if s.prices_include_vat {
        put("prices_include_vat", "on".to_owned());
    }
    put("invoice_prefix", s.invoice_prefix.clone());
    put("receipt_prefix", s.receipt_prefix.clone());
    put("tax_point", s.tax_point.as_str().to_owned());
    put(
        "withholding_tax_rate",
        format!(
            "{}.{:02}",
            s.withholding_tax_rate_bps / 100,
            s.withholding_tax_rate_bps % 100
        ),
    );
    put("promptpay_id", s.promptpay_id.clone().unwrap_or_default());
    put("payment_terms_days", s.payment_terms_days.to_string());
    put("dunning_retry_days", join_days(&s.dunning.retry_days));
    put("dunning_grace_days", s.dunning.grace_days.to_string());
    put("timezone", s.timezone.clone());
    put(
        "etax_subdistrict_code",
        s.etax_subdistrict_code.clone().unwrap_or_default(),
    );
    if let Some(a) = &s.address {
        for (k, value) in [
            ("line1", &a.line1),
            ("line2", &a.line2),
            ("subdistrict", &a.subdistrict),
            ("district", &a.district),
            ("province", &a.province),
            ("postal_code", &a.postal_code),
        ] {
            put(&format!("address_{k}"), value.clone().unwrap_or_default());
        }
    }
    v
}

#[derive(Deserialize)]
struct SettingsQuery {
    #[serde(default)]
    notice: String,
}

async fn index(ctx: Ctx, Query(q): Query<SettingsQuery>) -> Result<Response, Failure> {
    page(ctx, None, &q.notice, None).await
}

async fn page(
    mut ctx: Ctx,
    form: Option<FormState>,
    notice: &str,
    status: Option<StatusCode>,
) -> Result<Response, Failure> {
    let me = ctx.staff().await?;
    let settings: Settings = ctx.get("/api/settings").await?;
    let form = form.unwrap_or_else(|| FormState {
        values: values_of(&settings),
        ..FormState::default()
    });
    let mut c = ctx.chrome("settings", Some(me.clone()));
    c.notice = notice_text(&c.tr, notice);
    let mut response = render(&SettingsPage {
        c,
        settings,
        can_edit: me.is_admin(),
        form,
        unsigned: ctx.console.app.etax_signer.is_none(),
    });
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    Ok(response)
}

/// An optional text: `null` clears it.
fn optional(fields: &Fields, name: &str) -> Value {
    match field(fields, name) {
        "" => Value::Null,
        v => json!(v),
    }
}

/// The whole profile as a PATCH body, or the fields that are not numbers where numbers belong.
fn settings_body(ctx: &Ctx, fields: &Fields) -> Result<Value, BTreeMap<String, String>> {
    let tr = ctx.tr();
    let mut errors = BTreeMap::new();
    let mut body = Map::new();
    body.insert(
        "company_name".into(),
        json!({ "th": field(fields, "company_name_th"), "en": field(fields, "company_name_en") }),
    );
    for name in [
        "tax_id",
        "branch_code",
        "phone",
        "email",
        "promptpay_id",
        "etax_subdistrict_code",
    ] {
        body.insert(name.into(), optional(fields, name));
    }
    let mut address = Map::new();
    for k in [
        "line1",
        "line2",
        "subdistrict",
        "district",
        "province",
        "postal_code",
    ] {
        let v = field(fields, &format!("address_{k}"));
        if !v.is_empty() {
            address.insert(k.into(), json!(v));
        }
    }
    if address.is_empty() {
        body.insert("address".into(), Value::Null);
    } else {
        address.insert("country".into(), json!("TH"));
        body.insert("address".into(), Value::Object(address));
    }
    for (form_name, api_name) in [
        ("vat_rate", "vat_rate_bps"),
        ("withholding_tax_rate", "withholding_tax_rate_bps"),
    ] {
        let typed = field(fields, form_name);
        match parse_hundredths(typed.trim_end_matches('%').trim_end()) {
            Some(bps) => {
                body.insert(api_name.into(), json!(bps));
            }
            None => {
                errors.insert(form_name.to_owned(), tr.t("settings-rate-invalid"));
            }
        }
    }
    body.insert(
        "prices_include_vat".into(),
        json!(field(fields, "prices_include_vat") == "on"),
    );
    body.insert(
        "invoice_prefix".into(),
        json!(field(fields, "invoice_prefix")),
    );
    body.insert("timezone".into(), json!(field(fields, "timezone")));
    // Left out when the form does not carry them, so the stored values stay.
    for name in ["tax_point", "receipt_prefix"] {
        let v = field(fields, name);
        if !v.is_empty() {
            body.insert(name.into(), json!(v));
        }
    }
    let whole = |name: &str, errors: &mut BTreeMap<String, String>| -> Option<u32> {
        let parsed = field(fields, name).parse::<u32>().ok();
        if parsed.is_none() {
            errors.insert(name.to_owned(), tr.t("settings-number-invalid"));
        }
        parsed
    };
    let terms = whole("payment_terms_days", &mut errors);
    let grace = whole("dunning_grace_days", &mut errors);
    let retry: Option<Vec<u32>> = field(fields, "dunning_retry_days")
        .split([',', ' '])
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<u32>().ok())
        .collect();
    if retry.is_none() {
        errors.insert(
            "dunning_retry_days".to_owned(),
            tr.t("settings-days-invalid"),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    body.insert("payment_terms_days".into(), json!(terms));
    body.insert(
        "dunning".into(),
        json!({ "retry_days": retry, "grace_days": grace }),
    );
    Ok(Value::Object(body))
}

/// `POST /settings`: the admin's changes through `PATCH /api/settings`.
async fn save(mut ctx: Ctx, CsrfForm(fields): CsrfForm<Fields>) -> Result<Response, Failure> {
    let body = match settings_body(&ctx, &fields) {
        Ok(body) => body,
        Err(errors) => {
            let form = FormState {
                values: entered(&fields),
                errors,
                message: None,
            };
            return page(ctx, Some(form), "", Some(StatusCode::UNPROCESSABLE_ENTITY)).await;
        }
    };
    let reply = ctx
        .send(Method::PATCH, "/api/settings", Some(body), None)
        .await;
    if reply.ok() {
        return Ok(Redirect::to("/settings?notice=settings-saved").into_response());
    }
    let mut form = refusal(&ctx, entered(&fields), &reply)?;
    // The API names the rates in basis points; the form asks for percentages.
    for (api, form_name) in [
        ("vat_rate_bps", "vat_rate"),
        ("withholding_tax_rate_bps", "withholding_tax_rate"),
    ] {
        if let Some(e) = form.errors.remove(api) {
            form.errors.insert(form_name.to_owned(), e);
        }
    }
    let status = reply.status;
    page(ctx, Some(form), "", Some(status)).await
}
