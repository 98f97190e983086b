//! The seller profile (SPEC §2.10): who issues the invoices and how billing behaves — company
//! names, tax id and branch, VAT and withholding rates, invoice prefix, PromptPay id, payment
//! terms, dunning and time zone. Staff read it, admins change it; every change is audited. What
//! a profile may hold is `satang_billing::settings`'s; this is its HTTP shape. The e-Tax
//! signing certificate has routes of its own ([`super::etax_certificate`]).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use satang_auth::Permission;
use satang_billing::providers::{KeysChange, KeysInput, ProvidersView, update_keys};
use satang_billing::settings::{
    CompanyName, DunningTerms, SellerProfile, SellerProfileChanges, update_seller_profile,
};
use satang_domain::TaxPoint;
use satang_store::customers::PostalAddress;

use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Json};
use crate::routes::customers::Address;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, update_settings))
        .merge(super::etax_certificate::router())
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
    /// When VAT falls due (SPEC §4.1): `payment` (the default for services) makes each payment
    /// issue a receipt / tax invoice; `issue` makes the invoice itself the tax invoice.
    #[schema(value_type = String, example = "payment")]
    pub tax_point: TaxPoint,
    /// Receipt numbers look like `{prefix}-{year}-{sequence}`, a series of their own.
    pub receipt_prefix: String,
    /// The 6-digit TISI 1099 code of the seller's ตำบล / แขวง (e.g. `101701`): the e-Tax XML
    /// needs the seller's address as province, district and subdistrict codes.
    pub etax_subdistrict_code: Option<String>,
    /// Opn Payments and Stripe (SPEC §2.13): public keys and the last four characters of the
    /// secret ones; a secret is never shown back.
    #[serde(default)]
    pub providers: ProvidersView,
}

/// Opn Payments' keys (`pkey_…`, `skey_…`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpnKeys {
    pub public_key: String,
    pub secret_key: String,
}

/// Stripe's keys (`pk_…`, `sk_…`, and the webhook endpoint's `whsec_…`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StripeKeys {
    pub secret_key: String,
    pub publishable_key: String,
    pub webhook_secret: Option<String>,
}

/// New provider keys; `null` removes a provider.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvidersUpdate {
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<OpnKeys>)]
    pub opn: Option<Option<OpnKeys>>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<StripeKeys>)]
    pub stripe: Option<Option<StripeKeys>>,
}

impl From<ProvidersUpdate> for KeysChange {
    fn from(u: ProvidersUpdate) -> Self {
        KeysChange {
            opn: u.opn.map(|k| {
                k.map(|k| KeysInput {
                    public_key: k.public_key,
                    secret_key: k.secret_key,
                    webhook_secret: None,
                })
            }),
            stripe: u.stripe.map(|k| {
                k.map(|k| KeysInput {
                    public_key: k.publishable_key,
                    secret_key: k.secret_key,
                    webhook_secret: k.webhook_secret,
                })
            }),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        SellerProfile::default().into()
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
    #[schema(value_type = Option<String>)]
    pub tax_point: Option<TaxPoint>,
    pub receipt_prefix: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub etax_subdistrict_code: Option<Option<String>>,
    /// Admins only, like the rest; audited with the last four characters of each secret.
    pub providers: Option<ProvidersUpdate>,
}

impl From<SellerProfile> for Settings {
    fn from(p: SellerProfile) -> Self {
        Settings {
            company_name: LocalizedText {
                th: p.company_name.th,
                en: p.company_name.en,
            },
            tax_id: p.tax_id,
            branch_code: p.branch_code,
            address: p.address.map(Address::from),
            phone: p.phone,
            email: p.email,
            vat_rate_bps: p.vat_rate_bps,
            prices_include_vat: p.prices_include_vat,
            invoice_prefix: p.invoice_prefix,
            withholding_tax_rate_bps: p.withholding_tax_rate_bps,
            promptpay_id: p.promptpay_id,
            payment_terms_days: p.payment_terms_days,
            dunning: Dunning {
                retry_days: p.dunning.retry_days,
                grace_days: p.dunning.grace_days,
            },
            timezone: p.timezone,
            tax_point: p.tax_point,
            receipt_prefix: p.receipt_prefix,
            etax_subdistrict_code: p.etax_subdistrict_code,
            providers: ProvidersView::default(),
        }
    }
}

impl From<PostalAddress> for Address {
    fn from(a: PostalAddress) -> Self {
        Address {
            line1: a.line1,
            line2: a.line2,
            subdistrict: a.subdistrict,
            district: a.district,
            province: a.province,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

impl From<Address> for PostalAddress {
    fn from(a: Address) -> Self {
        PostalAddress {
            country: a.country,
            district: a.district,
            line1: a.line1,
            line2: a.line2,
            postal_code: a.postal_code,
            province: a.province,
            subdistrict: a.subdistrict,
        }
    }
}

impl From<UpdateSettings> for SellerProfileChanges {
    fn from(u: UpdateSettings) -> Self {
        SellerProfileChanges {
            company_name: u.company_name.map(|n| CompanyName { th: n.th, en: n.en }),
            tax_id: u.tax_id,
            branch_code: u.branch_code,
            address: u.address.map(|a| a.map(PostalAddress::from)),
            phone: u.phone,
            email: u.email,
            vat_rate_bps: u.vat_rate_bps,
            prices_include_vat: u.prices_include_vat,
            invoice_prefix: u.invoice_prefix,
            withholding_tax_rate_bps: u.withholding_tax_rate_bps,
            promptpay_id: u.promptpay_id,
            payment_terms_days: u.payment_terms_days,
            dunning: u.dunning.map(|d| DunningTerms {
                retry_days: d.retry_days,
                grace_days: d.grace_days,
            }),
            timezone: u.timezone,
            tax_point: u.tax_point,
            receipt_prefix: u.receipt_prefix,
            etax_subdistrict_code: u.etax_subdistrict_code,
        }
    }
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
    let mut settings: Settings = SellerProfile::load(&state.db).await?.into();
    settings.providers = ProvidersView::load(&state.db).await?;
    Ok(axum::Json(settings))
}

/// Change the seller profile (admin).
#[utoipa::path(patch, path = "/api/settings", tag = "settings", request_body = UpdateSettings, security(("bearer" = [])),
    responses((status = 200, body = Settings), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn update_settings(
    State(state): State<AppState>,
    caller: Caller,
    Json(mut patch): Json<UpdateSettings>,
) -> Result<axum::Json<Settings>, ApiError> {
    caller.require(Permission::ManageSettings)?;
    let now = state.clock.now();
    let keys = patch.providers.take();
    let mut tx = state.db.begin().await?;
    let profile = update_seller_profile(&mut tx, &caller.actor, patch.into(), now).await?;
    if let Some(keys) = keys {
        update_keys(&mut tx, &caller.actor, &state.secrets, keys.into(), now).await?;
    }
    tx.commit().await?;
    let mut settings: Settings = profile.into();
    settings.providers = ProvidersView::load(&state.db).await?;
    Ok(axum::Json(settings))
}
