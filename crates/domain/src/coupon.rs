//! Coupons and the discounts they give (SPEC §2.11): what a coupon may say, and how much it
//! takes off an invoice.
//!
//! A coupon takes either a percentage (basis points, 1–10000) or a fixed amount in one currency
//! off the lines of a subscription's invoice, for one invoice (`once`), for a number of billing
//! periods (`repeating`) or for as long as the subscription runs (`forever`). The amount a
//! discount takes off is worked out here, in one place: a percentage is rounded half-up by
//! [`round_half_up_div`] like every other proportion, and neither kind ever takes off more than
//! the lines add up to, nor gives money back on an invoice that is a credit. The invoice maths
//! ([`crate::vat::invoice_totals`]) then charges VAT on what is left.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::money::{Currency, MoneyError, round_half_up_div};
use crate::vat::FULL_RATE_BPS;

/// Longest coupon code accepted.
pub const MAX_CODE_LEN: usize = 64;

/// Longest `repeating` duration, in billing periods (ten years of months).
pub const MAX_DURATION_PERIODS: u32 = 120;

/// A coupon code as customers type it: `A–Z 0–9 _ -`, 1–64 characters. Lower-case letters are
/// accepted and kept upper-case, so codes are unique and found case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CouponCode(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CouponError {
    #[error("a code is 1–{MAX_CODE_LEN} characters of A–Z, 0–9, _ and -")]
    InvalidCode,
    #[error("percent_off_bps must be between 1 and 10000 (0.01 %–100 %)")]
    PercentOutOfRange,
    #[error("amount_off must be a positive amount in minor units")]
    AmountNotPositive,
    #[error("duration_in_periods must be between 1 and {MAX_DURATION_PERIODS}")]
    PeriodsOutOfRange,
    #[error("unknown duration {0:?}: use once, repeating or forever")]
    UnknownDuration(String),
}

impl CouponCode {
    pub fn parse(raw: &str) -> Result<CouponCode, CouponError> {
        let code = raw.trim().to_ascii_uppercase();
        let valid = !code.is_empty()
            && code.len() <= MAX_CODE_LEN
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(CouponCode(code))
        } else {
            Err(CouponError::InvalidCode)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CouponCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a coupon takes off: a percentage or a fixed amount, never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponValue {
    /// Basis points of the discounted lines: 2000 is 20 %.
    PercentOff { bps: u32 },
    /// A fixed amount per invoice, in minor units of `currency`.
    AmountOff { amount: i64, currency: Currency },
}

impl CouponValue {
    pub fn percent_off(bps: i64) -> Result<CouponValue, CouponError> {
        u32::try_from(bps)
            .ok()
            .filter(|bps| (1..=FULL_RATE_BPS).contains(bps))
            .map(|bps| CouponValue::PercentOff { bps })
            .ok_or(CouponError::PercentOutOfRange)
    }

    pub fn amount_off(amount: i64, currency: Currency) -> Result<CouponValue, CouponError> {
        if amount > 0 {
            Ok(CouponValue::AmountOff { amount, currency })
        } else {
            Err(CouponError::AmountNotPositive)
        }
    }

    /// What this value takes off lines that add up to `subtotal`: a percentage rounded
    /// half-up, a fixed amount up to the subtotal; never more than the subtotal and nothing off
    /// a subtotal that is zero or a credit.
    pub fn discount_on(self, subtotal: i64) -> Result<i64, MoneyError> {
        let base = subtotal.max(0);
        let off = match self {
            CouponValue::PercentOff { bps } => round_half_up_div(
                i128::from(base) * i128::from(bps),
                i128::from(FULL_RATE_BPS),
            )?,
            CouponValue::AmountOff { amount, .. } => amount,
        };
        Ok(off.clamp(0, base))
    }
}

/// How long a discount lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponDuration {
    /// The next invoice of the subscription only.
    Once,
    /// The invoices of this many billing periods.
    Repeating { periods: u32 },
    /// Every invoice while the subscription runs.
    Forever,
}

impl CouponDuration {
    pub fn repeating(periods: i64) -> Result<CouponDuration, CouponError> {
        u32::try_from(periods)
            .ok()
            .filter(|p| (1..=MAX_DURATION_PERIODS).contains(p))
            .map(|periods| CouponDuration::Repeating { periods })
            .ok_or(CouponError::PeriodsOutOfRange)
    }

    /// The wire and database form: `once`, `repeating` or `forever`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CouponDuration::Once => "once",
            CouponDuration::Repeating { .. } => "repeating",
            CouponDuration::Forever => "forever",
        }
    }

    /// `duration_in_periods` of the wire form: only `repeating` has one.
    pub const fn periods(self) -> Option<u32> {
        match self {
            CouponDuration::Repeating { periods } => Some(periods),
            _ => None,
        }
    }

    /// How many period invoices a fresh discount covers; `None` for ever.
    pub const fn periods_covered(self) -> Option<u32> {
        match self {
            CouponDuration::Once => Some(1),
            CouponDuration::Repeating { periods } => Some(periods),
            CouponDuration::Forever => None,
        }
    }

    /// From the stored `duration` and `duration_in_periods` columns.
    pub fn from_parts(duration: &str, periods: Option<i64>) -> Result<CouponDuration, CouponError> {
        match duration {
            "once" => Ok(CouponDuration::Once),
            "forever" => Ok(CouponDuration::Forever),
            "repeating" => CouponDuration::repeating(periods.unwrap_or(0)),
            other => Err(CouponError::UnknownDuration(other.to_owned())),
        }
    }
}

impl FromStr for CouponDuration {
    type Err = CouponError;
    /// `once` or `forever`; `repeating` needs its periods ([`CouponDuration::repeating`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CouponDuration::from_parts(s, None)
    }
}

/// One discount as an invoice carries it: the coupon's code and what it took off. Promotional
/// credit is a discount too: its code is `CREDIT` and it names the grant it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedDiscount {
    pub coupon_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_grant_id: Option<String>,
    pub amount: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vat::{InvoiceTotalsInput, invoice_totals, vat_on};
    use proptest::prelude::*;

    #[test]
    fn codes_are_upper_case_letters_digits_and_dashes() {
        assert_eq!(CouponCode::parse(" rice-20 ").unwrap().as_str(), "RICE-20");
        assert_eq!(
            CouponCode::parse("SUMMER_2026").unwrap().as_str(),
            "SUMMER_2026"
        );
        for bad in ["", "   ", "ลดราคา", "TWO WORDS", "A.B", &"X".repeat(65)] {
            assert_eq!(
                CouponCode::parse(bad),
                Err(CouponError::InvalidCode),
                "{bad}"
            );
        }
    }

    #[test]
    fn values_and_durations_are_checked() {
        assert!(CouponValue::percent_off(0).is_err());
        assert!(CouponValue::percent_off(10_001).is_err());
        assert!(CouponValue::percent_off(-5).is_err());
        assert_eq!(
            CouponValue::percent_off(10_000),
            Ok(CouponValue::PercentOff { bps: 10_000 })
        );
        assert!(CouponValue::amount_off(0, Currency::Thb).is_err());
        assert!(CouponValue::amount_off(-100, Currency::Thb).is_err());
        assert!(CouponDuration::repeating(0).is_err());
        assert!(CouponDuration::repeating(121).is_err());
        assert_eq!(
            CouponDuration::from_parts("repeating", Some(3)),
            Ok(CouponDuration::Repeating { periods: 3 })
        );
        assert_eq!(CouponDuration::Once.periods_covered(), Some(1));
        assert_eq!(CouponDuration::Forever.periods_covered(), None);
        assert!("weekly".parse::<CouponDuration>().is_err());
    }

    #[test]
    fn a_percentage_is_rounded_half_up_and_an_amount_capped() {
        // 20 % of ฿990.00 is ฿198.00; 15 % of ฿0.99 is 14.85 → 15 satang; 0.5 satang rounds up.
        let pct = |bps| CouponValue::PercentOff { bps };
        assert_eq!(pct(2_000).discount_on(99_000), Ok(19_800));
        assert_eq!(pct(1_500).discount_on(99), Ok(15));
        assert_eq!(pct(5_000).discount_on(1), Ok(1));
        assert_eq!(pct(10_000).discount_on(12_345), Ok(12_345));
        let thb = |amount| CouponValue::AmountOff {
            amount,
            currency: Currency::Thb,
        };
        assert_eq!(thb(50_000).discount_on(99_000), Ok(50_000));
        assert_eq!(thb(150_000).discount_on(99_000), Ok(99_000));
        // A credit invoice gets nothing off.
        assert_eq!(thb(50_000).discount_on(-10_000), Ok(0));
        assert_eq!(pct(2_000).discount_on(-10_000), Ok(0));
    }

    fn arbitrary_value() -> impl Strategy<Value = CouponValue> {
        prop_oneof![
            (1_u32..=10_000).prop_map(|bps| CouponValue::PercentOff { bps }),
            (1_i64..10_000_000_000).prop_map(|amount| CouponValue::AmountOff {
                amount,
                currency: Currency::Thb
            }),
        ]
    }

    proptest! {
        /// Whatever the lines and the coupon: the discount is between 0 and the subtotal, VAT
        /// is charged on subtotal − discount, and total = subtotal − discount + VAT.
        #[test]
        fn a_discount_never_exceeds_the_subtotal_and_vat_is_on_what_is_left(
            lines in proptest::collection::vec(-1_000_000_000_i64..10_000_000_000, 0..12),
            value in arbitrary_value(),
            rate in 0_u32..=3_000,
            wht in prop_oneof![Just(0_u32), Just(300)],
        ) {
            let subtotal: i64 = lines.iter().sum();
            let discount = value.discount_on(subtotal).unwrap();
            prop_assert!(discount >= 0);
            prop_assert!(discount <= subtotal.max(0));
            let t = invoice_totals(&InvoiceTotalsInput {
                line_amounts: &lines,
                discount,
                vat_rate_bps: rate,
                prices_include_vat: false,
                withholding_rate_bps: wht,
            }).unwrap();
            prop_assert_eq!(t.discount, discount);
            prop_assert_eq!(t.taxable_amount, subtotal - discount);
            prop_assert_eq!(t.vat_amount, vat_on(subtotal - discount, rate).unwrap());
            prop_assert_eq!(t.total, subtotal - discount + t.vat_amount);
            match value {
                CouponValue::PercentOff { bps } => {
                    // Within half a satang of the exact percentage.
                    let exact = i128::from(subtotal.max(0)) * i128::from(bps);
                    let err = (i128::from(discount) * 10_000 - exact).abs();
                    prop_assert!(2 * err <= 10_000);
                }
                CouponValue::AmountOff { amount, .. } => {
                    prop_assert_eq!(discount, amount.min(subtotal.max(0)));
                }
            }
        }

        /// A bigger subtotal never gets a smaller discount.
        #[test]
        fn a_discount_grows_with_the_subtotal(
            value in arbitrary_value(),
            a in 0_i64..10_000_000_000,
            b in 0_i64..10_000_000_000,
        ) {
            let (low, high) = (a.min(b), a.max(b));
            prop_assert!(value.discount_on(low).unwrap() <= value.discount_on(high).unwrap());
        }
    }
}
