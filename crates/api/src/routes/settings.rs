//! The seller profile (SPEC §2.10): who issues the invoices and how billing behaves — company
//! names, tax id and branch, VAT and withholding rates, invoice prefix, PromptPay id, payment
//! terms, dunning and time zone. Staff read it, admins change it; every change is audited.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use satang_auth::Permission;
use satang_domain::{BranchCode, PromptPayId, TaxId};
use satang_store::audit::{self, Change};
use satang_store::kv;

use crate::error::{ApiError, Problem, Validator};
use crate::extract::{Caller, Json};
use crate::routes::customers::Address;
use crate::state::AppState;

/// Where the profile is kept (one JSON document).
pub const SETTINGS_KEY: &str = "seller_settings";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, update_settings))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LocalizedText {
    pub th: String,
    pub en: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dunning {
    /// Days after a failed automatic charge on which it is retried, increasing.
    pub retry_days: Vec<u32>,
    /// Days after the first failure before the customer is suspended.
    pub grace_days: u32,
}

/// The seller profile.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub company_name: LocalizedText,
    pub tax_id: Option<String>,
    pub branch_code: Option<String>,
    pub address: Option<Address>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Basis points: 700 = 7 %.
    pub vat_rate_bps: u32,
    pub prices_include_vat: bool,
    /// Invoice numbers look like `{prefix}-{year}-{sequence}`.
    pub invoice_prefix: String,
    /// Basis points of the pre-VAT amount a B2B customer may withhold: 300 = 3 %.
    pub withholding_tax_rate_bps: u32,
    /// Mobile number, national id or tax id that receives PromptPay payments.
    pub promptpay_id: Option<String>,
    pub payment_terms_days: u32,
    pub dunning: Dunning,
    /// IANA time zone that billing dates are counted in.
    pub timezone: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            company_name: LocalizedText::default(),
            tax_id: None,
            branch_code: None,
            address: None,
            phone: None,
            email: None,
            vat_rate_bps: 700,
            prices_include_vat: false,
            invoice_prefix: "INV".into(),
            withholding_tax_rate_bps: 300,
            promptpay_id: None,
            payment_terms_days: 30,
            dunning: Dunning {
                retry_days: vec![1, 3, 5, 7],
                grace_days: 14,
            },
            timezone: "Asia/Bangkok".into(),
        }
    }
}

/// A partial update: the fields given replace the current ones (`null` clears an optional one).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    pub company_name: Option<LocalizedText>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub tax_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub branch_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<Address>)]
    pub address: Option<Option<Address>>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    pub vat_rate_bps: Option<u32>,
    pub prices_include_vat: Option<bool>,
    pub invoice_prefix: Option<String>,
    pub withholding_tax_rate_bps: Option<u32>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub promptpay_id: Option<Option<String>>,
    pub payment_terms_days: Option<u32>,
    pub dunning: Option<Dunning>,
    pub timezone: Option<String>,
}

/// The current profile (defaults until an admin saves one).
pub async fn load(state: &AppState) -> Result<Settings, ApiError> {
    Ok(kv::get(&state.db, SETTINGS_KEY)
        .await?
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default())
}

/// Normalises and checks a complete profile.
pub fn validate(mut s: Settings) -> Result<Settings, ApiError> {
    let mut v = Validator::new();
    s.company_name.th = s.company_name.th.trim().to_owned();
    s.company_name.en = s.company_name.en.trim().to_owned();
    for (field, value) in [
        ("company_name.th", &s.company_name.th),
        ("company_name.en", &s.company_name.en),
    ] {
        v.check(
            value.chars().count() <= 200,
            field,
            "must be at most 200 characters",
        );
    }
    if let Some(t) = s.tax_id.take().filter(|t| !t.trim().is_empty()) {
        match TaxId::parse(&t) {
            Ok(id) => s.tax_id = Some(id.as_str().to_owned()),
            Err(e) => v.add("tax_id", e.to_string()),
        }
    }
    match s.branch_code.take().filter(|b| !b.trim().is_empty()) {
        Some(b) => match BranchCode::parse(&b) {
            Ok(code) => s.branch_code = Some(code.as_str().to_owned()),
            Err(e) => v.add("branch_code", e.to_string()),
        },
        None => s.branch_code = s.tax_id.as_ref().map(|_| "00000".to_owned()),
    }
    if let Some(a) = &s.address {
        for (field, value) in [
            ("line1", &a.line1),
            ("line2", &a.line2),
            ("subdistrict", &a.subdistrict),
            ("district", &a.district),
            ("province", &a.province),
            ("postal_code", &a.postal_code),
            ("country", &a.country),
        ] {
            v.check(
                value.as_ref().is_none_or(|x| x.chars().count() <= 200),
                &format!("address.{field}"),
                "must be at most 200 characters",
            );
        }
    }
    if let Some(p) = &s.phone {
        v.check(
            p.chars().count() <= 30
                && p.chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c)),
            "phone",
            "must be at most 30 digits, spaces and + - ( ) .",
        );
    }
    if let Some(e) = s.email.take().filter(|e| !e.trim().is_empty()) {
        s.email = Some(v.email("email", &e));
    }
    v.check(
        s.vat_rate_bps <= 10_000,
        "vat_rate_bps",
        "must be between 0 and 10000 (100 %)",
    );
    v.check(
        s.withholding_tax_rate_bps <= 10_000,
        "withholding_tax_rate_bps",
        "must be between 0 and 10000 (100 %)",
    );
    s.invoice_prefix = s.invoice_prefix.trim().to_owned();
    v.check(
        (1..=20).contains(&s.invoice_prefix.len())
            && s.invoice_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "invoice_prefix",
        "must be 1–20 letters, digits or dashes",
    );
    if let Some(p) = s.promptpay_id.take().filter(|p| !p.trim().is_empty()) {
        match PromptPayId::parse(&p) {
            Ok(id) => s.promptpay_id = Some(id.as_str().to_owned()),
            Err(e) => v.add("promptpay_id", e.to_string()),
        }
    }
    v.check(
        s.payment_terms_days <= 365,
        "payment_terms_days",
        "must be between 0 and 365",
    );
    let retry = &s.dunning.retry_days;
    v.check(
        retry.len() <= 10
            && retry.iter().all(|d| (1..=60).contains(d))
            && retry.windows(2).all(|w| w[0] < w[1]),
        "dunning.retry_days",
        "must be at most 10 increasing days between 1 and 60",
    );
    v.check(
        s.dunning.grace_days <= 90,
        "dunning.grace_days",
        "must be between 0 and 90",
    );
    v.check(
        is_time_zone_name(&s.timezone),
        "timezone",
        "must be an IANA time zone name such as Asia/Bangkok",
    );
    v.finish()?;
    Ok(s)
}

/// `Area/Location` names as in the IANA database (the shape; the billing engine resolves it).
fn is_time_zone_name(tz: &str) -> bool {
    tz == "UTC"
        || (tz.len() <= 64
            && tz.contains('/')
            && tz.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
            }))
}

/// The seller profile (staff).
#[utoipa::path(get, path = "/api/settings", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = Settings), (status = 403, body = Problem)))]
async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Settings>, ApiError> {
    if !caller.is_staff() {
        return Err(ApiError::Forbidden);
    }
    Ok(axum::Json(load(&state).await?))
}

/// Change the seller profile (admin).
#[utoipa::path(patch, path = "/api/settings", tag = "settings", request_body = UpdateSettings, security(("bearer" = [])),
    responses((status = 200, body = Settings), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn update_settings(
    State(state): State<AppState>,
    caller: Caller,
    Json(patch): Json<UpdateSettings>,
) -> Result<axum::Json<Settings>, ApiError> {
    caller.require(Permission::ManageSettings)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before: Settings = kv::get_in(&mut tx, SETTINGS_KEY)
        .await?
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut s = before.clone();
    macro_rules! replace {
        ($($field:ident),*) => {$(
            if let Some(value) = patch.$field {
                s.$field = value;
            }
        )*};
    }
    replace!(
        company_name,
        tax_id,
        branch_code,
        address,
        phone,
        email,
        vat_rate_bps,
        prices_include_vat,
        invoice_prefix,
        withholding_tax_rate_bps,
        promptpay_id,
        payment_terms_days,
        dunning,
        timezone
    );
    let after = validate(s)?;
    let text = serde_json::to_string(&after).map_err(|e| ApiError::Internal(e.to_string()))?;
    kv::set_in(&mut tx, SETTINGS_KEY, &text).await?;
    audit::record(
        &mut tx,
        &caller.actor,
        Change {
            action: "settings.updated",
            entity_type: "settings",
            entity_id: "seller".into(),
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(after))
}
