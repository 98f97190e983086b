//! The seller profile as billing reads it. The profile is one JSON document in the `kv` table
//! (key [`SETTINGS_KEY`]), written and validated by the API's `/api/settings`; billing reads
//! only the fields it needs, with the same defaults, so it does not depend on the HTTP layer.

use serde::Deserialize;
use serde_json::{Value, json};

use satang_domain::vat::{THAI_SERVICE_WITHHOLDING_RATE_BPS, THAI_VAT_RATE_BPS};
use satang_store::{Db, Tx, kv};

/// Where the API keeps the seller profile (see `satang_api::routes::settings`).
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
            }),
            dunning_retry_days: s.dunning.retry_days,
            dunning_grace_days: s.dunning.grace_days,
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
}
