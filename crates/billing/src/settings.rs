//! The seller profile (SPEC §2.10): who issues the invoices and how billing behaves. It is one
//! JSON document in the `kv` table (key [`SETTINGS_KEY`]): [`SellerProfile`] is the whole of
//! it, checked as a whole and changed with [`update_seller_profile`] (`PATCH /api/settings`);
//! [`BillingSettings`] is the part the billing run needs, read leniently with the same defaults.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use satang_domain::vat::{THAI_SERVICE_WITHHOLDING_RATE_BPS, THAI_VAT_RATE_BPS};
use satang_domain::{BranchCode, PromptPayId, TaxId, TaxPoint};
use satang_store::audit::{self, Actor, Change};
use satang_store::customers::PostalAddress;
use satang_store::{Db, Tx, kv};

use crate::{Error, FieldError, Result};

/// Where the seller profile is kept.
pub const SETTINGS_KEY: &str = "seller_settings";

#[derive(Debug, Clone, PartialEq)]
pub struct BillingSettings {
    pub vat_rate_bps: u32,
    pub prices_include_vat: bool,
    pub invoice_prefix: String,
    pub withholding_tax_rate_bps: u32,
    /// Who issues the invoices, copied onto each one at finalisation: company names, tax id,
    /// branch, address, phone, email.
    pub seller: Value,
    /// Days after the first failed automatic charge on which it is tried again.
    pub dunning_retry_days: Vec<u32>,
    /// Days after the first failure before the customer is suspended.
    pub dunning_grace_days: u32,
    /// When VAT falls due; also copied into the seller snapshot as `tax_point`, so an issued
    /// invoice keeps the title it was issued with.
    pub tax_point: TaxPoint,
    /// Receipts (and receipts / tax invoices) are numbered `{prefix}-{year}-{sequence}`.
    pub receipt_prefix: String,
}

#[derive(Deserialize)]
#[serde(default)]
struct StoredDunning {
    retry_days: Vec<u32>,
    grace_days: u32,
}

impl Default for StoredDunning {
    fn default() -> Self {
        StoredDunning {
            retry_days: vec![1, 3, 5, 7],
            grace_days: 14,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct Stored {
    vat_rate_bps: u32,
    prices_include_vat: bool,
    invoice_prefix: String,
    withholding_tax_rate_bps: u32,
    company_name: Value,
    tax_id: Value,
    branch_code: Value,
    address: Value,
    phone: Value,
    email: Value,
    dunning: StoredDunning,
    tax_point: TaxPoint,
    receipt_prefix: String,
    etax_subdistrict_code: Value,
}

impl Default for Stored {
    fn default() -> Self {
        Stored {
            vat_rate_bps: THAI_VAT_RATE_BPS,
            prices_include_vat: false,
            invoice_prefix: "INV".into(),
            withholding_tax_rate_bps: THAI_SERVICE_WITHHOLDING_RATE_BPS,
            company_name: json!({"th": "", "en": ""}),
            tax_id: Value::Null,
            branch_code: Value::Null,
            address: Value::Null,
            phone: Value::Null,
            email: Value::Null,
            dunning: StoredDunning::default(),
            tax_point: TaxPoint::default(),
            receipt_prefix: DEFAULT_RECEIPT_PREFIX.into(),
            etax_subdistrict_code: Value::Null,
        }
    }
}

impl BillingSettings {
    fn parse(text: Option<String>) -> BillingSettings {
        let s: Stored = text
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        BillingSettings {
            vat_rate_bps: s.vat_rate_bps,
            prices_include_vat: s.prices_include_vat,
            invoice_prefix: s.invoice_prefix,
            withholding_tax_rate_bps: s.withholding_tax_rate_bps,
            seller: json!({
                "company_name": s.company_name,
                "tax_id": s.tax_id,
                "branch_code": s.branch_code,
                "address": s.address,
                "phone": s.phone,
                "email": s.email,
                "tax_point": s.tax_point,
                "etax_subdistrict_code": s.etax_subdistrict_code,
            }),
            dunning_retry_days: s.dunning.retry_days,
            dunning_grace_days: s.dunning.grace_days,
            tax_point: s.tax_point,
            receipt_prefix: s.receipt_prefix,
        }
    }

    pub async fn load(db: &Db) -> satang_store::Result<BillingSettings> {
        Ok(BillingSettings::parse(kv::get(db, SETTINGS_KEY).await?))
    }

    /// [`BillingSettings::load`] inside the transaction that issues the document.
    pub async fn load_in(tx: &mut Tx) -> satang_store::Result<BillingSettings> {
        Ok(BillingSettings::parse(kv::get_in(tx, SETTINGS_KEY).await?))
    }
}

/// The whole seller profile as it is stored and checked: who issues the invoices and how
/// billing behaves. The API shows and takes it as its `Settings`; the e-mail worker and the
/// documents read it from here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SellerProfile {
    pub company_name: CompanyName,
    pub tax_id: Option<String>,
    pub branch_code: Option<String>,
    pub address: Option<PostalAddress>,
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
    pub dunning: DunningTerms,
    /// IANA time zone that billing dates are counted in.
    pub timezone: String,
    /// When VAT falls due (SPEC §4.1). Absent from profiles saved before it existed.
    #[serde(default)]
    pub tax_point: TaxPoint,
    /// Receipt numbers look like `{prefix}-{year}-{sequence}`, a series of their own.
    #[serde(default = "default_receipt_prefix")]
    pub receipt_prefix: String,
    /// The TISI 1099 code (6 digits) of the seller's ตำบล / แขวง: ETDA's e-Tax XML needs the
    /// seller's address structured (province, district and subdistrict codes), and the code
    /// carries all three.
    #[serde(default)]
    pub etax_subdistrict_code: Option<String>,
}

/// The receipts' series when no prefix is set.
pub const DEFAULT_RECEIPT_PREFIX: &str = "RT";

fn default_receipt_prefix() -> String {
    DEFAULT_RECEIPT_PREFIX.into()
}

/// The company's name in Thai and in English.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyName {
    pub th: String,
    pub en: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DunningTerms {
    /// Days after a failed automatic charge on which it is retried, increasing.
    pub retry_days: Vec<u32>,
    /// Days after the first failure before the customer is suspended.
    pub grace_days: u32,
}

impl Default for SellerProfile {
    fn default() -> Self {
        SellerProfile {
            company_name: CompanyName::default(),
            tax_id: None,
            branch_code: None,
            address: None,
            phone: None,
            email: None,
            vat_rate_bps: THAI_VAT_RATE_BPS,
            prices_include_vat: false,
            invoice_prefix: "INV".into(),
            withholding_tax_rate_bps: THAI_SERVICE_WITHHOLDING_RATE_BPS,
            promptpay_id: None,
            payment_terms_days: 30,
            dunning: DunningTerms {
                retry_days: vec![1, 3, 5, 7],
                grace_days: 14,
            },
            timezone: "Asia/Bangkok".into(),
            tax_point: TaxPoint::default(),
            receipt_prefix: default_receipt_prefix(),
            etax_subdistrict_code: None,
        }
    }
}

/// A partial update of the profile: `Some` replaces a field (`Some(None)` clears an optional
/// one), `None` keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SellerProfileChanges {
    pub company_name: Option<CompanyName>,
    pub tax_id: Option<Option<String>>,
    pub branch_code: Option<Option<String>>,
    pub address: Option<Option<PostalAddress>>,
    pub phone: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub vat_rate_bps: Option<u32>,
    pub prices_include_vat: Option<bool>,
    pub invoice_prefix: Option<String>,
    pub withholding_tax_rate_bps: Option<u32>,
    pub promptpay_id: Option<Option<String>>,
    pub payment_terms_days: Option<u32>,
    pub dunning: Option<DunningTerms>,
    pub timezone: Option<String>,
    pub tax_point: Option<TaxPoint>,
    pub receipt_prefix: Option<String>,
    pub etax_subdistrict_code: Option<Option<String>>,
}

impl SellerProfile {
    /// The stored profile; the defaults until an admin saves one.
    pub async fn load(db: &Db) -> satang_store::Result<SellerProfile> {
        Ok(SellerProfile::parse(kv::get(db, SETTINGS_KEY).await?))
    }

    async fn load_in(tx: &mut Tx) -> satang_store::Result<SellerProfile> {
        Ok(SellerProfile::parse(kv::get_in(tx, SETTINGS_KEY).await?))
    }

    fn parse(text: Option<String>) -> SellerProfile {
        text.and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn apply(&mut self, c: SellerProfileChanges) {
        macro_rules! replace {
            ($($field:ident),*) => {$(
                if let Some(value) = c.$field {
                    self.$field = value;
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
            timezone,
            tax_point,
            receipt_prefix,
            etax_subdistrict_code
        );
    }

    /// The profile normalised (trimmed names, canonical tax id, branch and PromptPay id, the
    /// head office when a tax id has no branch) if every field is acceptable; otherwise every
    /// refused field, in the order of the profile.
    pub fn checked(mut self) -> Result<SellerProfile> {
        let mut refused = Vec::new();
        let mut refuse = |field: &str, message: &str| {
            refused.push(FieldError {
                field: field.to_owned(),
                message: message.to_owned(),
            });
        };
        self.company_name.th = self.company_name.th.trim().to_owned();
        self.company_name.en = self.company_name.en.trim().to_owned();
        for (field, value) in [
            ("company_name.th", &self.company_name.th),
            ("company_name.en", &self.company_name.en),
        ] {
            if value.chars().count() > 200 {
                refuse(field, "must be at most 200 characters");
            }
        }
        if let Some(t) = self.tax_id.take().filter(|t| !t.trim().is_empty()) {
            match TaxId::parse(&t) {
                Ok(id) => self.tax_id = Some(id.as_str().to_owned()),
                Err(e) => refuse("tax_id", &e.to_string()),
            }
        }
        match self.branch_code.take().filter(|b| !b.trim().is_empty()) {
            Some(b) => match BranchCode::parse(&b) {
                Ok(code) => self.branch_code = Some(code.as_str().to_owned()),
                Err(e) => refuse("branch_code", &e.to_string()),
            },
            None => {
                self.branch_code = self
                    .tax_id
                    .as_ref()
                    .map(|_| BranchCode::head_office().as_str().to_owned());
            }
        }
        if let Some(a) = &self.address {
            for (field, value) in [
                ("address.line1", &a.line1),
                ("address.line2", &a.line2),
                ("address.subdistrict", &a.subdistrict),
                ("address.district", &a.district),
                ("address.province", &a.province),
                ("address.postal_code", &a.postal_code),
                ("address.country", &a.country),
            ] {
                if value.as_ref().is_some_and(|x| x.chars().count() > 200) {
                    refuse(field, "must be at most 200 characters");
                }
            }
        }
        if let Some(p) = &self.phone
            && !(p.chars().count() <= 30
                && p.chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c)))
        {
            refuse("phone", "must be at most 30 digits, spaces and + - ( ) .");
        }
        if let Some(e) = self.email.take().filter(|e| !e.trim().is_empty()) {
            let e = e.trim().to_owned();
            if !is_email_address(&e) {
                refuse("email", "must be a valid email address");
            }
            self.email = Some(e);
        }
        if self.vat_rate_bps > 10_000 {
            refuse("vat_rate_bps", "must be between 0 and 10000 (100 %)");
        }
        if self.withholding_tax_rate_bps > 10_000 {
            refuse(
                "withholding_tax_rate_bps",
                "must be between 0 and 10000 (100 %)",
            );
        }
        self.invoice_prefix = self.invoice_prefix.trim().to_owned();
        if !is_prefix(&self.invoice_prefix) {
            refuse("invoice_prefix", "must be 1–20 letters, digits or dashes");
        }
        if let Some(p) = self.promptpay_id.take().filter(|p| !p.trim().is_empty()) {
            match PromptPayId::parse(&p) {
                Ok(id) => self.promptpay_id = Some(id.as_str().to_owned()),
                Err(e) => refuse("promptpay_id", &e.to_string()),
            }
        }
        if self.payment_terms_days > 365 {
            refuse("payment_terms_days", "must be between 0 and 365");
        }
        let retry = &self.dunning.retry_days;
        if !(retry.len() <= 10
            && retry.iter().all(|d| (1..=60).contains(d))
            && retry.windows(2).all(|w| w[0] < w[1]))
        {
            refuse(
                "dunning.retry_days",
                "must be at most 10 increasing days between 1 and 60",
            );
        }
        if self.dunning.grace_days > 90 {
            refuse("dunning.grace_days", "must be between 0 and 90");
        }
        if !is_time_zone_name(&self.timezone) {
            refuse(
                "timezone",
                "must be an IANA time zone name such as Asia/Bangkok",
            );
        }
        self.receipt_prefix = self.receipt_prefix.trim().to_owned();
        if !is_prefix(&self.receipt_prefix) {
            refuse("receipt_prefix", "must be 1–20 letters, digits or dashes");
        } else if self.receipt_prefix == self.invoice_prefix {
            refuse(
                "receipt_prefix",
                "must differ from invoice_prefix: receipts are a series of their own",
            );
        }
        if let Some(code) = self.etax_subdistrict_code.take() {
            let code = code.trim().to_owned();
            if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
                self.etax_subdistrict_code = Some(code);
            } else if !code.is_empty() {
                refuse(
                    "etax_subdistrict_code",
                    "must be the 6-digit TISI code of the subdistrict, e.g. 101701",
                );
            }
        }
        if refused.is_empty() {
            Ok(self)
        } else {
            Err(Error::InvalidFields(refused))
        }
    }
}

/// Applies `changes` to the stored profile, checks the result as a whole and stores it with a
/// `settings.updated` audit entry holding the profile before and after.
pub async fn update_seller_profile(
    tx: &mut Tx,
    actor: &Actor,
    changes: SellerProfileChanges,
    now: DateTime<Utc>,
) -> Result<SellerProfile> {
    let before = SellerProfile::load_in(tx).await?;
    let mut after = before.clone();
    after.apply(changes);
    let after = after.checked()?;
    let text = serde_json::to_string(&after).map_err(|e| Error::Internal(e.to_string()))?;
    kv::set_in(tx, SETTINGS_KEY, &text).await?;
    audit::record(
        tx,
        actor,
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
    Ok(after)
}

/// A document number's prefix: 1–20 ASCII letters, digits or dashes.
fn is_prefix(p: &str) -> bool {
    (1..=20).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The same test as the API's request checks: one address, no control characters, at most
/// 254 bytes.
fn is_email_address(e: &str) -> bool {
    e.len() <= 254 && !e.chars().any(char::is_control) && email_address::EmailAddress::is_valid(e)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_a_profile_and_reads_a_saved_one() {
        let d = BillingSettings::parse(None);
        assert_eq!((d.vat_rate_bps, d.invoice_prefix.as_str()), (700, "INV"));
        let s = BillingSettings::parse(Some(
            r#"{"vat_rate_bps": 0, "invoice_prefix": "AG", "tax_id": "0105556000000",
                "timezone": "Asia/Bangkok"}"#
                .into(),
        ));
        assert_eq!((s.vat_rate_bps, s.invoice_prefix.as_str()), (0, "AG"));
        assert_eq!(s.withholding_tax_rate_bps, 300);
        assert_eq!(s.seller["tax_id"], "0105556000000");
    }

    #[test]
    fn a_profile_is_normalised_or_refused_field_by_field() {
        let p = SellerProfile {
            company_name: CompanyName {
                th: "  บริษัท ตัวอย่าง จำกัด ".into(),
                en: String::new(),
            },
            tax_id: Some("0105536000313".into()),
            email: Some(" billing@example.com ".into()),
            ..SellerProfile::default()
        }
        .checked()
        .unwrap();
        assert_eq!(p.company_name.th, "บริษัท ตัวอย่าง จำกัด");
        assert_eq!(p.branch_code.as_deref(), Some("00000"));
        assert_eq!(p.email.as_deref(), Some("billing@example.com"));
        let refused = SellerProfile {
            invoice_prefix: "no spaces".into(),
            timezone: "Bangkok".into(),
            email: Some("not an address".into()),
            ..SellerProfile::default()
        }
        .checked();
        let Err(Error::InvalidFields(refused)) = refused else {
            panic!("accepted a bad profile");
        };
        let fields: Vec<&str> = refused.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(fields, ["email", "invoice_prefix", "timezone"]);
    }
}
