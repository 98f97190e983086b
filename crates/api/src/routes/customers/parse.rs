//! The checks of a customer request's shape: lengths, email format, tax id check digit, the
//! address and metadata. `validate` builds the fields of a new customer, `parse_changes` the
//! typed changes of a PATCH; both use the same field checks, so create and update accept exactly
//! the same values. What a change may do to the customer's state is `billing::customers`'s.

use std::str::FromStr;

use satang_billing::customers::CustomerChanges;
use satang_domain::{BranchCode, Currency, CustomerStatus, TaxId};
use satang_store::customers::{CustomerFields, PostalAddress};

use super::{Address, CreateCustomer, UpdateCustomer};
use crate::error::{ApiError, Validator};

/// Checks every field and returns the values to store. The field checks are shared with
/// [`parse_changes`], so create and update accept exactly the same values.
pub(super) fn validate(v: &mut Validator, input: CreateCustomer) -> CustomerFields {
    let name = v.text("name", &input.name, 200);
    let legal_name = optional_text(v, "legal_name", input.legal_name, 300);
    let tax_id = parse_tax_id(v, input.tax_id);
    // A tax id without a branch is the head office.
    let branch_code = parse_branch_code(v, input.branch_code)
        .or_else(|| tax_id.as_ref().map(|_| BranchCode::head_office()));
    let email = parse_email(v, "email", input.email);
    let billing_email = parse_email(v, "billing_email", input.billing_email);
    let phone = parse_phone(v, input.phone);
    let address = input.address.map(|a| validate_address(v, a));
    // An invalid currency is reported through `v`; the placeholder is never stored.
    let currency = match input.currency {
        None => Currency::Thb,
        Some(c) => parse_currency(v, &c).unwrap_or_default(),
    };
    let locale = check_locale(v, input.locale.unwrap_or_else(|| "th".into()));
    let payment_terms_days = check_payment_terms(v, input.payment_terms_days.unwrap_or(30));
    let metadata = input.metadata.unwrap_or_default();
    validate_metadata(v, &metadata);
    CustomerFields {
        name,
        legal_name,
        tax_id: tax_id.map(|t| t.as_str().to_owned()),
        branch_code: branch_code.map(|b| b.as_str().to_owned()),
        email,
        phone,
        billing_email,
        address,
        currency,
        locale,
        payment_terms_days,
        metadata: serde_json::Value::Object(metadata),
    }
}

/// The changes a PATCH asks for, each present field checked as [`validate`] checks it (422 with
/// every bad field; a bad `status` alone).
pub(super) fn parse_changes(patch: UpdateCustomer) -> Result<CustomerChanges, ApiError> {
    let status = match patch.status.as_deref() {
        None => None,
        Some(s) => match CustomerStatus::parse(s) {
            Some(s @ (CustomerStatus::Active | CustomerStatus::Suspended)) => Some(s),
            _ => {
                return Err(ApiError::field(
                    "status",
                    "must be active or suspended (delete with DELETE)",
                ));
            }
        },
    };
    let v = &mut Validator::new();
    let changes = CustomerChanges {
        name: patch.name.map(|n| v.text("name", &n, 200)),
        legal_name: patch
            .legal_name
            .map(|l| optional_text(v, "legal_name", l, 300)),
        tax_id: patch.tax_id.map(|t| parse_tax_id(v, t)),
        branch_code: patch.branch_code.map(|b| parse_branch_code(v, b)),
        email: patch.email.map(|e| parse_email(v, "email", e)),
        phone: patch.phone.map(|p| parse_phone(v, p)),
        billing_email: patch
            .billing_email
            .map(|e| parse_email(v, "billing_email", e)),
        address: patch.address.map(|a| a.map(|a| validate_address(v, a))),
        currency: patch.currency.and_then(|c| parse_currency(v, &c)),
        locale: patch.locale.map(|l| check_locale(v, l)),
        payment_terms_days: patch.payment_terms_days.map(|d| check_payment_terms(v, d)),
        metadata: patch.metadata.inspect(|m| validate_metadata(v, m)),
        status,
    };
    std::mem::take(v).finish()?;
    Ok(changes)
}

/// An optional text, trimmed; empty is absent.
fn optional_text(
    v: &mut Validator,
    field: &str,
    value: Option<String>,
    max: usize,
) -> Option<String> {
    value
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .inspect(|s| {
            if s.chars().count() > max {
                v.add(field, format!("must be at most {max} characters"));
            }
        })
}

fn parse_tax_id(v: &mut Validator, value: Option<String>) -> Option<TaxId> {
    value
        .filter(|t| !t.trim().is_empty())
        .and_then(|t| match TaxId::parse(&t) {
            Ok(id) => Some(id),
            Err(e) => {
                v.add("tax_id", e.to_string());
                None
            }
        })
}

fn parse_branch_code(v: &mut Validator, value: Option<String>) -> Option<BranchCode> {
    value
        .filter(|b| !b.trim().is_empty())
        .and_then(|b| match BranchCode::parse(&b) {
            Ok(code) => Some(code),
            Err(e) => {
                v.add("branch_code", e.to_string());
                None
            }
        })
}

fn parse_email(v: &mut Validator, field: &str, value: Option<String>) -> Option<String> {
    optional_text(v, field, value, 254).map(|e| v.email(field, &e))
}

fn parse_phone(v: &mut Validator, value: Option<String>) -> Option<String> {
    optional_text(v, "phone", value, 30).inspect(|p| {
        if !p
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            v.add("phone", "may contain only digits, spaces and + - ( ) .");
        }
    })
}

fn parse_currency(v: &mut Validator, code: &str) -> Option<Currency> {
    Currency::from_str(code)
        .inspect_err(|_| v.add("currency", "is not a supported ISO 4217 currency code"))
        .ok()
}

fn check_locale(v: &mut Validator, locale: String) -> String {
    v.check(
        matches!(locale.as_str(), "th" | "en"),
        "locale",
        "must be th or en",
    );
    locale
}

fn check_payment_terms(v: &mut Validator, days: i64) -> i64 {
    v.check(
        (0..=365).contains(&days),
        "payment_terms_days",
        "must be between 0 and 365",
    );
    days
}

fn validate_address(v: &mut Validator, a: Address) -> PostalAddress {
    let mut check = |field: &str, value: &Option<String>, max: usize| {
        let value = value.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if value.is_some_and(|s| s.chars().count() > max) {
            v.add(
                &format!("address.{field}"),
                format!("must be at most {max} characters"),
            );
        }
        value.map(str::to_owned)
    };
    let line1 = check("line1", &a.line1, 200);
    let line2 = check("line2", &a.line2, 200);
    let subdistrict = check("subdistrict", &a.subdistrict, 100);
    let district = check("district", &a.district, 100);
    let province = check("province", &a.province, 100);
    let postal_code = check("postal_code", &a.postal_code, 10);
    let country = check("country", &a.country, 2)
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or_else(|| "TH".into());
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        v.add("address.country", "must be a two-letter country code");
    }
    if country == "TH"
        && postal_code
            .as_ref()
            .is_some_and(|p| p.len() != 5 || !p.chars().all(|c| c.is_ascii_digit()))
    {
        v.add("address.postal_code", "must be 5 digits in Thailand");
    }
    PostalAddress {
        country: Some(country),
        district,
        line1,
        line2,
        postal_code,
        province,
        subdistrict,
    }
}

fn validate_metadata(v: &mut Validator, metadata: &serde_json::Map<String, serde_json::Value>) {
    if metadata.len() > 50 {
        v.add("metadata", "may hold at most 50 keys");
    }
    for (key, value) in metadata {
        if key.is_empty() || key.chars().count() > 40 {
            v.add("metadata", "keys must be 1–40 characters");
        }
        let ok = match value {
            serde_json::Value::String(s) => s.chars().count() <= 500,
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => true,
            _ => false,
        };
        if !ok {
            v.add(
                "metadata",
                "values must be strings (at most 500 characters), numbers or booleans",
            );
        }
    }
}
