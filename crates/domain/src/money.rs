//! Money: ISO 4217 currencies, amounts in integer minor units, checked arithmetic, and the
//! crate's one rounding rule.
//!
//! Amounts are `i64` minor units (satang for THB) so that no binary fraction ever touches a
//! price. Every proportional calculation in Satang (VAT, withholding tax, proration) divides
//! through [`round_half_up_div`], so an amount is rounded the same way wherever it is computed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An ISO 4217 currency that Satang can bill in.
///
/// Serialised as its three-letter code (`"THB"`), which is how the HTTP API and the database
/// carry it. The list is the Thai company's realistic set (THB and its trading partners); adding
/// one is a variant plus a row in each `match` below. THB is the default, as in the database.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    #[default]
    Thb,
    Usd,
    Eur,
    Gbp,
    Jpy,
    Cny,
    Hkd,
    Sgd,
    Myr,
    Idr,
    Php,
    Vnd,
    Lak,
    Khr,
    Mmk,
    Krw,
    Inr,
    Aud,
    Chf,
}

impl Currency {
    /// Every supported currency, for pickers and exhaustive tests.
    pub const ALL: [Currency; 19] = [
        Currency::Thb,
        Currency::Usd,
        Currency::Eur,
        Currency::Gbp,
        Currency::Jpy,
        Currency::Cny,
        Currency::Hkd,
        Currency::Sgd,
        Currency::Myr,
        Currency::Idr,
        Currency::Php,
        Currency::Vnd,
        Currency::Lak,
        Currency::Khr,
        Currency::Mmk,
        Currency::Krw,
        Currency::Inr,
        Currency::Aud,
        Currency::Chf,
    ];

    /// The three-letter ISO 4217 code, e.g. `"THB"`.
    pub const fn code(self) -> &'static str {
        match self {
            Currency::Thb => "THB",
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
            Currency::Jpy => "JPY",
            Currency::Cny => "CNY",
            Currency::Hkd => "HKD",
            Currency::Sgd => "SGD",
            Currency::Myr => "MYR",
            Currency::Idr => "IDR",
            Currency::Php => "PHP",
            Currency::Vnd => "VND",
            Currency::Lak => "LAK",
            Currency::Khr => "KHR",
            Currency::Mmk => "MMK",
            Currency::Krw => "KRW",
            Currency::Inr => "INR",
            Currency::Aud => "AUD",
            Currency::Chf => "CHF",
        }
    }

    /// The ISO 4217 numeric code (THB = 764), which EMVCo payloads such as PromptPay carry.
    pub const fn numeric_code(self) -> u16 {
        match self {
            Currency::Thb => 764,
            Currency::Usd => 840,
            Currency::Eur => 978,
            Currency::Gbp => 826,
            Currency::Jpy => 392,
            Currency::Cny => 156,
            Currency::Hkd => 344,
            Currency::Sgd => 702,
            Currency::Myr => 458,
            Currency::Idr => 360,
            Currency::Php => 608,
            Currency::Vnd => 704,
            Currency::Lak => 418,
            Currency::Khr => 116,
            Currency::Mmk => 104,
            Currency::Krw => 410,
            Currency::Inr => 356,
            Currency::Aud => 36,
            Currency::Chf => 756,
        }
    }

    /// How many decimal places the minor unit has (THB = 2: 100 satang to the baht; JPY = 0).
    pub const fn minor_exponent(self) -> u32 {
        match self {
            Currency::Jpy | Currency::Vnd | Currency::Krw => 0,
            _ => 2,
        }
    }

    /// Minor units in one major unit (100 for THB, 1 for JPY).
    pub const fn minor_per_major(self) -> i64 {
        10_i64.pow(self.minor_exponent())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The code was not one of [`Currency::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown or unsupported currency code {0:?} (expected e.g. \"THB\")")]
pub struct UnknownCurrency(pub String);

impl FromStr for Currency {
    type Err = UnknownCurrency;

    /// Accepts the code in any letter case (`"thb"` is THB) with surrounding spaces trimmed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Currency::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownCurrency(s.to_owned()))
    }
}

/// For decoding a database column (sqlx's `try_from = "String"`).
impl TryFrom<String> for Currency {
    type Error = UnknownCurrency;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// Why a money calculation could not produce an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MoneyError {
    #[error("cannot combine amounts in {left} and {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("the amount is too large to represent")]
    Overflow,
    #[error("division by zero in a money calculation")]
    DivisionByZero,
}

/// Divides `numerator / denominator` and rounds to the nearest integer, halves away from zero.
///
/// This is the crate's single rounding rule ("half-up" in the spec). For negative results it
/// rounds halves *away from zero* (−2.5 → −3) rather than towards +∞, so that rounding is
/// symmetric: a credit line for an amount is exactly the negation of the charge line for the
/// same amount, and a credit note mirrors the invoice it corrects satang for satang.
///
/// Works in `i128` so that `amount × rate` cannot overflow for any `i64` amount; fails only if
/// the denominator is zero or the rounded result does not fit in `i64`.
pub fn round_half_up_div(numerator: i128, denominator: i128) -> Result<i64, MoneyError> {
    if denominator == 0 {
        return Err(MoneyError::DivisionByZero);
    }
    // Normalise to a positive denominator so that the sign lives in the numerator alone.
    let (n, d) = if denominator < 0 {
        (
            numerator.checked_neg().ok_or(MoneyError::Overflow)?,
            denominator.checked_neg().ok_or(MoneyError::Overflow)?,
        )
    } else {
        (numerator, denominator)
    };
    let quotient = n / d; // truncates towards zero
    let remainder = (n % d).unsigned_abs();
    let d = d.unsigned_abs();
    // `remainder >= d - remainder` is `2 × remainder >= d` without the overflow.
    let rounded = if remainder >= d - remainder {
        quotient + n.signum()
    } else {
        quotient
    };
    i64::try_from(rounded).map_err(|_| MoneyError::Overflow)
}

/// An amount of money: integer minor units and their currency.
///
/// Any `i64` is a valid amount (negative amounts are credits), so the fields are public; the
/// arithmetic is checked and refuses to mix currencies. It has no serde form on purpose: the
/// API puts a bare integer `amount` beside a `currency` field, which the API layer maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    /// Baht-denominated shorthand: `Money::thb(12_345)` is ฿123.45.
    pub const fn thb(satang: i64) -> Self {
        Money::new(satang, Currency::Thb)
    }

    pub const fn is_zero(self) -> bool {
        self.minor == 0
    }

    pub const fn is_negative(self) -> bool {
        self.minor < 0
    }

    pub const fn is_positive(self) -> bool {
        self.minor > 0
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let minor = self.minor.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// Unit price × quantity (seats, units of usage), as on an invoice line.
    pub fn checked_mul(self, quantity: i64) -> Result<Money, MoneyError> {
        let minor = self
            .minor
            .checked_mul(quantity)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// `self × numerator ÷ denominator`, rounded by [`round_half_up_div`].
    pub fn mul_ratio(self, numerator: i64, denominator: i64) -> Result<Money, MoneyError> {
        let minor = round_half_up_div(
            i128::from(self.minor) * i128::from(numerator),
            i128::from(denominator),
        )?;
        Ok(Money::new(minor, self.currency))
    }

    /// Sums amounts that must all be in `currency`; an empty sum is zero.
    pub fn sum<I: IntoIterator<Item = Money>>(
        currency: Currency,
        amounts: I,
    ) -> Result<Money, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    /// The amount as a plain decimal in major units, e.g. `"1234.50"` or `"-0.05"`; no grouping
    /// separators and no symbol (that is locale formatting, done in the web layer).
    pub fn to_decimal_string(self) -> String {
        let exponent = self.currency.minor_exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exponent == 0 {
            return format!("{sign}{abs}");
        }
        let scale = 10_u64.pow(exponent);
        let width = exponent as usize;
        format!("{sign}{}.{:0width$}", abs / scale, abs % scale)
    }
}

impl fmt::Display for Money {
    /// `"1234.50 THB"`: unambiguous for logs and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rounds_halves_away_from_zero() {
        assert_eq!(round_half_up_div(5, 2), Ok(3));
        assert_eq!(round_half_up_div(-5, 2), Ok(-3));
        assert_eq!(round_half_up_div(5, -2), Ok(-3));
        assert_eq!(round_half_up_div(-5, -2), Ok(3));
        assert_eq!(round_half_up_div(7, 3), Ok(2));
        assert_eq!(round_half_up_div(8, 3), Ok(3));
        assert_eq!(round_half_up_div(-8, 3), Ok(-3));
        assert_eq!(round_half_up_div(0, 7), Ok(0));
        assert_eq!(round_half_up_div(1, 2), Ok(1));
        assert_eq!(round_half_up_div(1, 3), Ok(0));
        assert_eq!(round_half_up_div(-1, 3), Ok(0));
    }

    #[test]
    fn rounding_reports_division_by_zero_and_overflow() {
        assert_eq!(round_half_up_div(1, 0), Err(MoneyError::DivisionByZero));
        assert_eq!(
            round_half_up_div(i128::from(i64::MAX) + 1, 1),
            Err(MoneyError::Overflow)
        );
        assert_eq!(round_half_up_div(i128::MIN, -1), Err(MoneyError::Overflow));
        assert_eq!(round_half_up_div(i128::MAX, i128::MAX), Ok(1));
        assert_eq!(round_half_up_div(i128::MAX / 2 + 1, i128::MAX), Ok(1));
        assert_eq!(round_half_up_div(i128::MAX / 2, i128::MAX), Ok(0));
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::thb(150);
        assert_eq!(a.checked_add(Money::thb(50)), Ok(Money::thb(200)));
        assert_eq!(a.checked_sub(Money::thb(200)), Ok(Money::thb(-50)));
        assert_eq!(a.checked_neg(), Ok(Money::thb(-150)));
        assert_eq!(a.checked_mul(3), Ok(Money::thb(450)));
        assert_eq!(
            a.checked_add(Money::new(1, Currency::Usd)),
            Err(MoneyError::CurrencyMismatch {
                left: Currency::Thb,
                right: Currency::Usd
            })
        );
        assert_eq!(
            Money::thb(i64::MAX).checked_add(Money::thb(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::thb(i64::MIN).checked_neg(),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::thb(i64::MAX).checked_mul(2),
            Err(MoneyError::Overflow)
        );
        assert_eq!(Money::thb(1000).mul_ratio(1, 3), Ok(Money::thb(333)));
        assert_eq!(Money::thb(-1000).mul_ratio(2, 3), Ok(Money::thb(-667)));
        assert_eq!(
            Money::sum(Currency::Thb, [Money::thb(1), Money::thb(2)]),
            Ok(Money::thb(3))
        );
        assert_eq!(
            Money::sum(Currency::Eur, []),
            Ok(Money::zero(Currency::Eur))
        );
    }

    #[test]
    fn currency_codes_round_trip() {
        for c in Currency::ALL {
            assert_eq!(c.code().parse::<Currency>(), Ok(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.code()));
            assert_eq!(serde_json::from_str::<Currency>(&json).unwrap(), c);
        }
        assert_eq!(" thb ".parse::<Currency>(), Ok(Currency::Thb));
        assert!("XXX".parse::<Currency>().is_err());
        assert_eq!(Currency::Thb.minor_exponent(), 2);
        assert_eq!(Currency::Thb.numeric_code(), 764);
        assert_eq!(Currency::Jpy.minor_per_major(), 1);
    }

    #[test]
    fn decimal_strings() {
        assert_eq!(Money::thb(123_450).to_decimal_string(), "1234.50");
        assert_eq!(Money::thb(422).to_decimal_string(), "4.22");
        assert_eq!(Money::thb(-5).to_decimal_string(), "-0.05");
        assert_eq!(Money::thb(0).to_decimal_string(), "0.00");
        assert_eq!(Money::new(1500, Currency::Jpy).to_string(), "1500 JPY");
        assert_eq!(
            Money::thb(i64::MIN).to_decimal_string(),
            "-92233720368547758.08"
        );
    }

    proptest! {
        #[test]
        fn rounding_is_within_half_and_symmetric(n in any::<i64>(), d in 1_i64..1_000_000) {
            let q = round_half_up_div(i128::from(n), i128::from(d)).unwrap();
            // |q·d − n| ≤ d/2, i.e. the result is a nearest integer.
            let err = (i128::from(q) * i128::from(d) - i128::from(n)).abs();
            prop_assert!(2 * err <= i128::from(d));
            let neg = round_half_up_div(-i128::from(n), i128::from(d)).unwrap();
            prop_assert_eq!(neg, -q);
        }

        #[test]
        fn add_then_sub_is_identity(a in any::<i32>(), b in any::<i32>()) {
            let x = Money::thb(i64::from(a));
            let y = Money::thb(i64::from(b));
            prop_assert_eq!(x.checked_add(y).unwrap().checked_sub(y).unwrap(), x);
        }
    }
}
