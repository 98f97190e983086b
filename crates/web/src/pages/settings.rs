//! Settings (`/settings`): the seller profile that invoices, PromptPay and dunning use. Staff
//! read it; administrators change it through `PATCH /api/settings`, whose field errors are
//! shown beside the fields. Rates are typed as percentages ("7", "3.00") and sent as basis
//! points; retry days as a list ("1, 3, 5, 7").
//!
//! The e-Tax signing certificate has its own section: which certificate signs (subject,
//! validity, from the environment or uploaded), and for admins an upload form — a file field,
//! so `multipart/form-data` ([`CsrfUpload`]) — whose file goes to
//! `PUT /api/settings/etax-certificate` in base64, and a remove button.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use satang_api::routes::settings::Settings;
use satang_billing::etax_certificate::{CertificateSource, CertificateView, MAX_P12_BYTES};
use satang_domain::typed_amount::parse_hundredths;

use super::auth::FormState;
use super::{Chrome, Fields, entered, field, notice_text, refusal};
use crate::client::ApiRequest;
use crate::session::{CsrfForm, CsrfUpload, Ctx};
use crate::{Console, Failure, render};

pub fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/settings", get(index).post(save))
        .route(
            "/settings/etax-certificate",
            // The file, its password and the CSRF field: a .p12 is a few kB (the API takes up
            // to 64 kB; a larger file is refused here with a message, not cut off).
            post(upload_certificate).layer(DefaultBodyLimit::max(4 * MAX_P12_BYTES)),
        )
        .route(
            "/settings/etax-certificate/remove",
            post(remove_certificate),
        )
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
    /// The certificate that signs, if any.
    pub certificate: Option<CertificateView>,
    /// The certificate's validity has ended (documents are signed with an expired one).
    pub certificate_expired: bool,
    /// The upload form after a refusal (never with the password).
    pub cert_form: FormState,
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

    /// `environment` or `settings`: where the certificate comes from (a message key's end).
    pub fn certificate_source(&self) -> &'static str {
        match self.certificate.as_ref().map(|c| c.source) {
            Some(CertificateSource::Environment) => "environment",
            _ => "settings",
        }
    }

    /// The environment's certificate signs: uploads are refused, so no form is offered.
    pub fn from_environment(&self) -> bool {
        self.certificate
            .as_ref()
            .is_some_and(|c| c.source == CertificateSource::Environment)
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
    page(ctx, None, None, &q.notice, None).await
}

async fn page(
    mut ctx: Ctx,
    form: Option<FormState>,
    cert_form: Option<FormState>,
    notice: &str,
    status: Option<StatusCode>,
) -> Result<Response, Failure> {
    let me = ctx.staff().await?;
    let settings: Settings = ctx.get("/api/settings").await?;
    let reply = ctx
        .api(ApiRequest::new(
            Method::GET,
            "/api/settings/etax-certificate",
        ))
        .await;
    let certificate: Option<CertificateView> = match reply.status {
        StatusCode::NOT_FOUND => None,
        _ => Some(ctx.expect(reply)?),
    };
    let certificate_expired = certificate
        .as_ref()
        .is_some_and(|c| c.not_after < ctx.console.app.clock.now());
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
        unsigned: certificate.is_none(),
        certificate,
        certificate_expired,
        cert_form: cert_form.unwrap_or_default(),
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
            return page(
                ctx,
                Some(form),
                None,
                "",
                Some(StatusCode::UNPROCESSABLE_ENTITY),
            )
            .await;
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
    page(ctx, Some(form), None, "", Some(status)).await
}

/// `POST /settings/etax-certificate` (a file form): the admin's PKCS#12 file and password
/// through `PUT /api/settings/etax-certificate`. A refusal is shown on the certificate's form,
/// the password field empty again.
async fn upload_certificate(mut ctx: Ctx, upload: CsrfUpload) -> Result<Response, Failure> {
    let file = upload.files.get("file").map(Vec::as_slice).unwrap_or(&[]);
    let password = upload.fields.get("password").map_or("", String::as_str);
    let tr = ctx.tr();
    let local = if file.is_empty() {
        Some("etax-cert-file-missing")
    } else if file.len() > MAX_P12_BYTES {
        Some("etax-cert-file-too-large")
    } else {
        None
    };
    if let Some(key) = local {
        let mut form = FormState::default();
        form.errors.insert("file".to_owned(), tr.t(key));
        return page(
            ctx,
            None,
            Some(form),
            "",
            Some(StatusCode::UNPROCESSABLE_ENTITY),
        )
        .await;
    }
    let body = json!({ "file": STANDARD.encode(file), "password": password });
    let reply = ctx
        .send(
            Method::PUT,
            "/api/settings/etax-certificate",
            Some(body),
            None,
        )
        .await;
    if reply.ok() {
        return Ok(Redirect::to("/settings?notice=etax-certificate-uploaded").into_response());
    }
    let form = refusal(&ctx, Fields::new(), &reply)?;
    let status = reply.status;
    page(ctx, None, Some(form), "", Some(status)).await
}

/// `POST /settings/etax-certificate/remove`: `DELETE /api/settings/etax-certificate`.
async fn remove_certificate(
    mut ctx: Ctx,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<Response, Failure> {
    let reply = ctx
        .send(Method::DELETE, "/api/settings/etax-certificate", None, None)
        .await;
    if reply.ok() {
        return Ok(Redirect::to("/settings?notice=etax-certificate-removed").into_response());
    }
    let form = refusal(&ctx, Fields::new(), &reply)?;
    let status = reply.status;
    page(ctx, None, Some(form), "", Some(status)).await
}
