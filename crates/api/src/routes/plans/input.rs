//! Plan requests and their validation: every string has a length limit, every amount a range,
//! and all problems are reported at once, by field.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use utoipa::ToSchema;

use satang_domain::Currency;
use satang_domain::period::MAX_INTERVAL_COUNT;
use satang_store::plans::{Plan, PlanFields};

use super::{LocalizedText, MeteredPrice, PlanInterval, Pricing};
use crate::error::{ApiError, Validator};

/// The largest price or unit price accepted: 10 billion baht in satang. Far above any real
/// plan, far below where `price × quantity` or proration could overflow.
pub const MAX_PRICE: i64 = 1_000_000_000_000;
pub const MAX_TRIAL_DAYS: i64 = 365;
const MAX_CODE: usize = 40;
const MAX_NAME: usize = 100;
const MAX_DESCRIPTION: usize = 1000;
const MAX_FEATURES: usize = 50;
const MAX_FEATURE: usize = 100;
const MAX_LIMITS: usize = 50;
const MAX_KEY: usize = 64;
const MAX_METERED: usize = 20;
const MAX_TIERS: usize = 20;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlanRequest {
    /// Sales code: capital letters, digits, `-` and `_` (lower case is raised), e.g. `PRO`.
    pub code: String,
    pub name: LocalizedText,
    pub description: Option<LocalizedText>,
    pub interval: PlanInterval,
    /// Intervals per period (default 1).
    pub interval_count: Option<i64>,
    /// Minor units per period, excluding VAT.
    pub price: i64,
    /// ISO 4217 code (default `THB`).
    pub currency: Option<String>,
    /// Default `flat`.
    pub pricing: Option<Pricing>,
    /// Default 0.
    pub trial_days: Option<i64>,
    pub features: Option<Vec<String>>,
    pub limits: Option<BTreeMap<String, Option<i64>>>,
    pub metered: Option<Vec<MeteredPrice>>,
}

/// Partial names: a missing language keeps its text.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalizedTextUpdate {
    pub th: Option<String>,
    pub en: Option<String>,
}

/// Every field optional; `code` cannot change (create a plan instead).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlanRequest {
    pub name: Option<LocalizedTextUpdate>,
    pub description: Option<LocalizedTextUpdate>,
    /// Creates a new version.
    pub interval: Option<PlanInterval>,
    /// Creates a new version.
    pub interval_count: Option<i64>,
    /// Creates a new version.
    pub price: Option<i64>,
    /// Creates a new version.
    pub currency: Option<String>,
    /// Creates a new version.
    pub pricing: Option<Pricing>,
    pub trial_days: Option<i64>,
    pub features: Option<Vec<String>>,
    pub limits: Option<BTreeMap<String, Option<i64>>>,
    /// Creates a new version when the prices differ.
    pub metered: Option<Vec<MeteredPrice>>,
}

/// A plan code as typed by a person: trimmed, upper-cased; `None` when it is not one.
pub fn normalize_code(raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    let valid = !code.is_empty()
        && code.len() <= MAX_CODE
        && code.starts_with(|c: char| c.is_ascii_alphanumeric())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_');
    valid.then_some(code)
}

/// A plan code in query parameter `name`: 400 when it cannot be one.
pub fn query_code(name: &str, raw: &str) -> Result<String, ApiError> {
    normalize_code(raw).ok_or_else(|| {
        ApiError::BadRequest(format!("invalid query parameter {name}: not a plan code"))
    })
}

fn is_key(s: &str, extra: &[char]) -> bool {
    !s.is_empty()
        && s.len() <= MAX_KEY
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || extra.contains(&c))
}

fn code(v: &mut Validator, raw: &str) -> String {
    normalize_code(raw).unwrap_or_else(|| {
        v.add(
            "code",
            format!(
                "must be 1–{MAX_CODE} capital letters, digits, '-' or '_', starting with a letter or digit"
            ),
        );
        String::new()
    })
}

fn description(v: &mut Validator, field: &str, value: &str) -> String {
    let trimmed = value.trim();
    if trimmed.chars().count() > MAX_DESCRIPTION {
        v.add(
            field,
            format!("must be at most {MAX_DESCRIPTION} characters"),
        );
    }
    trimmed.to_owned()
}

/// The currency `raw` names; an unknown one is reported through `v` (the placeholder returned
/// then is never stored).
fn currency(v: &mut Validator, raw: &str) -> Currency {
    match raw.trim().to_ascii_uppercase().parse::<Currency>() {
        Ok(c) => c,
        Err(_) => {
            v.add(
                "currency",
                "must be a supported ISO 4217 currency code, e.g. THB",
            );
            Currency::default()
        }
    }
}

fn features(v: &mut Validator, list: Vec<String>) -> Vec<String> {
    if list.len() > MAX_FEATURES {
        v.add(
            "features",
            format!("must have at most {MAX_FEATURES} entries"),
        );
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, feature) in list.iter().enumerate() {
        let field = format!("features[{i}]");
        let feature = v.text(&field, feature, MAX_FEATURE);
        if !seen.insert(feature.clone()) {
            v.add(&field, "is listed twice");
        }
        out.push(feature);
    }
    out
}

fn limits(v: &mut Validator, map: BTreeMap<String, Option<i64>>) -> serde_json::Value {
    if map.len() > MAX_LIMITS {
        v.add("limits", format!("must have at most {MAX_LIMITS} entries"));
    }
    for (key, value) in &map {
        if !is_key(key, &[]) {
            v.add(
                "limits",
                format!(
                    "'{}' is not a limit name (lowercase letters, digits and '_', at most {MAX_KEY})",
                    key.chars().take(MAX_KEY).collect::<String>()
                ),
            );
        }
        if value.is_some_and(|n| n < 0) {
            v.add(
                &format!("limits.{key}"),
                "must be 0 or more, or null for unlimited",
            );
        }
    }
    serde_json::json!(map)
}

fn amount(v: &mut Validator, field: &str, value: i64) {
    v.check(
        (0..=MAX_PRICE).contains(&value),
        field,
        format!("must be between 0 and {MAX_PRICE} minor units"),
    );
}

fn metered(v: &mut Validator, list: Vec<MeteredPrice>) -> serde_json::Value {
    if list.len() > MAX_METERED {
        v.add(
            "metered",
            format!("must have at most {MAX_METERED} entries"),
        );
    }
    let mut seen = HashSet::new();
    for (i, m) in list.iter().enumerate() {
        let field = format!("metered[{i}]");
        if !is_key(&m.metric, &['.']) {
            v.add(
                &format!("{field}.metric"),
                format!("must be 1–{MAX_KEY} lowercase letters, digits, '_' or '.'"),
            );
        } else if !seen.insert(m.metric.as_str()) {
            v.add(&format!("{field}.metric"), "is listed twice");
        }
        amount(v, &format!("{field}.unit_price"), m.unit_price);
        if m.included_units.is_some_and(|n| n < 0) {
            v.add(&format!("{field}.included_units"), "must be 0 or more");
        }
        if let Some(tiers) = &m.tiers {
            tier_list(v, &format!("{field}.tiers"), tiers);
        }
    }
    serde_json::json!(list)
}

/// Tiers climb strictly, and the last one is open-ended so every unit has a price.
fn tier_list(v: &mut Validator, field: &str, tiers: &[super::PriceTier]) {
    if tiers.is_empty() || tiers.len() > MAX_TIERS {
        v.add(field, format!("must have 1–{MAX_TIERS} tiers"));
        return;
    }
    let mut floor = 0;
    for (i, tier) in tiers.iter().enumerate() {
        amount(v, &format!("{field}[{i}].unit_price"), tier.unit_price);
        let last = i + 1 == tiers.len();
        match tier.up_to {
            None if last => {}
            None => v.add(
                &format!("{field}[{i}].up_to"),
                "only the last tier may be open-ended",
            ),
            Some(_) if last => v.add(
                &format!("{field}[{i}].up_to"),
                "the last tier must be open-ended (null)",
            ),
            Some(n) if n <= floor => v.add(
                &format!("{field}[{i}].up_to"),
                "must be greater than the tier before",
            ),
            Some(n) => floor = n,
        }
    }
}

fn period_fields(v: &mut Validator, interval_count: i64, price: i64, trial_days: i64) {
    v.check(
        (1..=i64::from(MAX_INTERVAL_COUNT)).contains(&interval_count),
        "interval_count",
        format!("must be between 1 and {MAX_INTERVAL_COUNT}"),
    );
    amount(v, "price", price);
    v.check(
        (0..=MAX_TRIAL_DAYS).contains(&trial_days),
        "trial_days",
        format!("must be between 0 and {MAX_TRIAL_DAYS}"),
    );
}

/// The fields of a new plan, or a 422 listing every problem.
pub fn create_fields(body: CreatePlanRequest) -> Result<PlanFields, ApiError> {
    let mut v = Validator::new();
    let description = body.description.unwrap_or(LocalizedText {
        th: String::new(),
        en: String::new(),
    });
    let interval_count = body.interval_count.unwrap_or(1);
    let trial_days = body.trial_days.unwrap_or(0);
    period_fields(&mut v, interval_count, body.price, trial_days);
    let fields = PlanFields {
        code: code(&mut v, &body.code),
        name_th: v.text("name.th", &body.name.th, MAX_NAME),
        name_en: v.text("name.en", &body.name.en, MAX_NAME),
        description_th: self::description(&mut v, "description.th", &description.th),
        description_en: self::description(&mut v, "description.en", &description.en),
        billing_interval: body.interval.into(),
        interval_count,
        price: body.price,
        currency: currency(&mut v, body.currency.as_deref().unwrap_or("THB")),
        pricing: body.pricing.unwrap_or(Pricing::Flat).into(),
        trial_days,
        features: features(&mut v, body.features.unwrap_or_default()),
        limits: limits(&mut v, body.limits.unwrap_or_default()),
        metered: metered(&mut v, body.metered.unwrap_or_default()),
    };
    v.finish()?;
    Ok(fields)
}

/// `plan`'s fields with the request's changes applied, or a 422 listing every problem.
pub fn update_fields(plan: &Plan, body: UpdatePlanRequest) -> Result<PlanFields, ApiError> {
    let mut v = Validator::new();
    let mut f = PlanFields::of(plan);
    if let Some(name) = body.name {
        if let Some(th) = name.th {
            f.name_th = v.text("name.th", &th, MAX_NAME);
        }
        if let Some(en) = name.en {
            f.name_en = v.text("name.en", &en, MAX_NAME);
        }
    }
    if let Some(d) = body.description {
        if let Some(th) = d.th {
            f.description_th = description(&mut v, "description.th", &th);
        }
        if let Some(en) = d.en {
            f.description_en = description(&mut v, "description.en", &en);
        }
    }
    if let Some(interval) = body.interval {
        f.billing_interval = interval.into();
    }
    f.interval_count = body.interval_count.unwrap_or(f.interval_count);
    f.price = body.price.unwrap_or(f.price);
    f.trial_days = body.trial_days.unwrap_or(f.trial_days);
    period_fields(&mut v, f.interval_count, f.price, f.trial_days);
    if let Some(c) = body.currency {
        f.currency = currency(&mut v, &c);
    }
    if let Some(p) = body.pricing {
        f.pricing = p.into();
    }
    if let Some(list) = body.features {
        f.features = features(&mut v, list);
    }
    if let Some(map) = body.limits {
        f.limits = limits(&mut v, map);
    }
    if let Some(list) = body.metered {
        f.metered = metered(&mut v, list);
    }
    v.finish()?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalized_or_refused() {
        assert_eq!(normalize_code(" pro "), Some("PRO".into()));
        assert_eq!(normalize_code("TEAM-Y_2"), Some("TEAM-Y_2".into()));
        assert_eq!(normalize_code(""), None);
        assert_eq!(normalize_code("-PRO"), None);
        assert_eq!(normalize_code("PRO PLAN"), None);
        assert_eq!(normalize_code("โปร"), None);
        assert_eq!(normalize_code(&"P".repeat(41)), None);
    }

    #[test]
    fn tiers_must_climb_and_end_open() {
        use super::super::PriceTier;
        let tier = |up_to, unit_price| PriceTier { up_to, unit_price };
        let check = |tiers: &[PriceTier]| {
            let mut v = Validator::new();
            tier_list(&mut v, "t", tiers);
            v.finish().is_ok()
        };
        assert!(check(&[tier(Some(10), 5), tier(None, 3)]));
        assert!(check(&[tier(None, 3)]));
        assert!(!check(&[]));
        assert!(!check(&[tier(Some(10), 5)]));
        assert!(!check(&[
            tier(Some(10), 5),
            tier(Some(10), 4),
            tier(None, 3)
        ]));
        assert!(!check(&[tier(None, 5), tier(None, 3)]));
        assert!(!check(&[tier(Some(10), -1), tier(None, 3)]));
    }
}
