//! Invoice maths: subtotal, discount, VAT, total and Thai withholding tax, all in integer minor
//! units of the invoice's currency.
//!
//! VAT is computed **once, on the taxable subtotal**, never per line and summed: per-line
//! rounding drifts by up to half a satang per line, and the Revenue Department's figure is the
//! rate applied to the taxable amount. Every rounding goes through
//! [`round_half_up_div`] (halves away from zero), so a credit
//! note made of negated lines has exactly the negated totals.
//!
//! Rates are in basis points (hundredths of a percent): 700 is 7 % VAT, 300 is 3 % withholding.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::money::{MoneyError, round_half_up_div};

/// 100 % in basis points.
pub const FULL_RATE_BPS: u32 = 10_000;

/// Thailand's standard VAT rate (the seller setting's default).
pub const THAI_VAT_RATE_BPS: u32 = 700;

/// The usual withholding rate on B2B services in Thailand (a setting).
pub const THAI_SERVICE_WITHHOLDING_RATE_BPS: u32 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InvoiceMathError {
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error("a discount cannot be negative")]
    NegativeDiscount,
    #[error("the discount ({discount}) is larger than the subtotal ({subtotal})")]
    DiscountExceedsSubtotal { discount: i64, subtotal: i64 },
    #[error("a rate of {0} basis points is outside 0–10000 (0–100 %)")]
    RateOutOfRange(u32),
}

/// What an invoice's totals are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoiceTotalsInput<'a> {
    /// Each line's amount (quantity × unit amount), negative for credit lines such as proration.
    pub line_amounts: &'a [i64],
    /// A discount on the whole invoice, ≥ 0, in the same terms as the lines (VAT-inclusive when
    /// `prices_include_vat`), at most the subtotal.
    pub discount: i64,
    pub vat_rate_bps: u32,
    /// Whether line amounts already contain VAT (the plan says so), in which case VAT is
    /// extracted from the total instead of added to it.
    pub prices_include_vat: bool,
    /// The rate a B2B customer withholds from the pre-VAT amount; 0 when they withhold nothing.
    pub withholding_rate_bps: u32,
}

/// An invoice's totals; `total == taxable_amount + vat_amount` always holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceTotals {
    /// Sum of the line amounts.
    pub subtotal: i64,
    pub discount: i64,
    /// The pre-VAT amount VAT is charged on (ฐานภาษี).
    pub taxable_amount: i64,
    pub vat_amount: i64,
    /// What the invoice asks for, VAT included.
    pub total: i64,
    /// What the customer may withhold (rate × pre-VAT amount) and settle with a 50 ทวิ
    /// certificate instead of money.
    pub withholding_tax: i64,
}

impl InvoiceTotals {
    /// The money a withholding customer actually transfers: total less withholding tax.
    pub fn payable_after_withholding(&self) -> i64 {
        self.total - self.withholding_tax
    }
}

fn check_rate(rate_bps: u32) -> Result<(), InvoiceMathError> {
    if rate_bps > FULL_RATE_BPS {
        Err(InvoiceMathError::RateOutOfRange(rate_bps))
    } else {
        Ok(())
    }
}

/// `quantity × unit_amount` for one invoice line, checked.
pub fn line_amount(quantity: i64, unit_amount: i64) -> Result<i64, MoneyError> {
    quantity
        .checked_mul(unit_amount)
        .ok_or(MoneyError::Overflow)
}

/// VAT added on top of a VAT-exclusive `taxable_amount`: `amount × rate ÷ 10000`, rounded.
pub fn vat_on(taxable_amount: i64, rate_bps: u32) -> Result<i64, InvoiceMathError> {
    proportion(taxable_amount, rate_bps, FULL_RATE_BPS)
}

/// The VAT contained in a VAT-inclusive `gross` amount: `gross × rate ÷ (10000 + rate)`, rounded.
pub fn vat_included_in(gross: i64, rate_bps: u32) -> Result<i64, InvoiceMathError> {
    proportion(gross, rate_bps, FULL_RATE_BPS + rate_bps)
}

/// Withholding tax on a pre-VAT amount: `amount × rate ÷ 10000`, rounded.
pub fn withholding_tax(pre_vat_amount: i64, rate_bps: u32) -> Result<i64, InvoiceMathError> {
    proportion(pre_vat_amount, rate_bps, FULL_RATE_BPS)
}

fn proportion(amount: i64, rate_bps: u32, denominator: u32) -> Result<i64, InvoiceMathError> {
    check_rate(rate_bps)?;
    let rounded = round_half_up_div(
        i128::from(amount) * i128::from(rate_bps),
        i128::from(denominator),
    )?;
    Ok(rounded)
}

/// Computes an invoice's totals from its lines, discount and rates.
pub fn invoice_totals(input: &InvoiceTotalsInput<'_>) -> Result<InvoiceTotals, InvoiceMathError> {
    check_rate(input.vat_rate_bps)?;
    check_rate(input.withholding_rate_bps)?;
    let subtotal = input
        .line_amounts
        .iter()
        .try_fold(0_i64, |sum, &line| sum.checked_add(line))
        .ok_or(MoneyError::Overflow)?;
    let discount = input.discount;
    if discount < 0 {
        return Err(InvoiceMathError::NegativeDiscount);
    }
    if discount > subtotal.max(0) {
        return Err(InvoiceMathError::DiscountExceedsSubtotal { discount, subtotal });
    }
    // Cannot overflow: 0 ≤ discount ≤ max(subtotal, 0).
    let after_discount = subtotal - discount;

    let (taxable_amount, vat_amount, total) = if input.prices_include_vat {
        let vat = vat_included_in(after_discount, input.vat_rate_bps)?;
        // |vat| ≤ |after_discount|, same sign: no overflow.
        (after_discount - vat, vat, after_discount)
    } else {
        let vat = vat_on(after_discount, input.vat_rate_bps)?;
        let total = after_discount
            .checked_add(vat)
            .ok_or(MoneyError::Overflow)?;
        (after_discount, vat, total)
    };
    let withholding = withholding_tax(taxable_amount, input.withholding_rate_bps)?;

    Ok(InvoiceTotals {
        subtotal,
        discount,
        taxable_amount,
        vat_amount,
        total,
        withholding_tax: withholding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn totals(lines: &[i64], discount: i64, include: bool, wht: u32) -> InvoiceTotals {
        invoice_totals(&InvoiceTotalsInput {
            line_amounts: lines,
            discount,
            vat_rate_bps: THAI_VAT_RATE_BPS,
            prices_include_vat: include,
            withholding_rate_bps: wht,
        })
        .unwrap()
    }

    #[test]
    fn vat_exclusive_invoice() {
        // ฿1,000.00 + ฿234.50, less ฿34.50: taxable ฿1,200.00, VAT ฿84.00, total ฿1,284.00,
        // 3 % withholding on ฿1,200.00 = ฿36.00.
        let t = totals(&[100_000, 23_450], 3_450, false, 300);
        assert_eq!(
            t,
            InvoiceTotals {
                subtotal: 123_450,
                discount: 3_450,
                taxable_amount: 120_000,
                vat_amount: 8_400,
                total: 128_400,
                withholding_tax: 3_600,
            }
        );
        assert_eq!(t.payable_after_withholding(), 124_800);
    }

    #[test]
    fn vat_inclusive_invoice_extracts_vat() {
        // ฿1,070.00 including 7 % VAT is ฿1,000.00 + ฿70.00.
        let t = totals(&[107_000], 0, true, 300);
        assert_eq!(
            (t.taxable_amount, t.vat_amount, t.total),
            (100_000, 7_000, 107_000)
        );
        assert_eq!(t.withholding_tax, 3_000);
        // ฿100.00 including VAT: 10000 × 7 / 107 = 654.205… → ฿6.54, taxable ฿93.46.
        let t = totals(&[10_000], 0, true, 0);
        assert_eq!(
            (t.taxable_amount, t.vat_amount, t.total),
            (9_346, 654, 10_000)
        );
    }

    #[test]
    fn vat_is_rounded_once_on_the_subtotal_not_per_line() {
        // Three lines of 7 satang: per line 0.49 satang would round to 0 each; on the subtotal
        // 21 × 7 % = 1.47 → 1 satang.
        assert_eq!(totals(&[7, 7, 7], 0, false, 0).vat_amount, 1);
        // Exactly half a satang rounds up: 50 × 7 % = 3.5 → 4; a credit of 50 → −4.
        assert_eq!(totals(&[50], 0, false, 0).vat_amount, 4);
        assert_eq!(totals(&[-50], 0, false, 0).vat_amount, -4);
    }

    #[test]
    fn credit_lines_and_empty_invoices() {
        let t = totals(&[-10_000, 2_500], 0, false, 300);
        assert_eq!((t.subtotal, t.vat_amount, t.total), (-7_500, -525, -8_025));
        assert_eq!(t.withholding_tax, -225);
        let empty = totals(&[], 0, false, 300);
        assert_eq!(
            empty,
            InvoiceTotals {
                subtotal: 0,
                discount: 0,
                taxable_amount: 0,
                vat_amount: 0,
                total: 0,
                withholding_tax: 0
            }
        );
    }

    #[test]
    fn refuses_bad_inputs() {
        let input = |discount, vat_rate_bps, lines: &'static [i64]| InvoiceTotalsInput {
            line_amounts: lines,
            discount,
            vat_rate_bps,
            prices_include_vat: false,
            withholding_rate_bps: 0,
        };
        assert_eq!(
            invoice_totals(&input(-1, 700, &[100])),
            Err(InvoiceMathError::NegativeDiscount)
        );
        assert_eq!(
            invoice_totals(&input(101, 700, &[100])),
            Err(InvoiceMathError::DiscountExceedsSubtotal {
                discount: 101,
                subtotal: 100
            })
        );
        assert_eq!(
            invoice_totals(&input(1, 700, &[-100])),
            Err(InvoiceMathError::DiscountExceedsSubtotal {
                discount: 1,
                subtotal: -100
            })
        );
        assert_eq!(
            invoice_totals(&input(0, 10_001, &[100])),
            Err(InvoiceMathError::RateOutOfRange(10_001))
        );
        assert_eq!(
            invoice_totals(&input(0, 700, &[i64::MAX, 1])),
            Err(InvoiceMathError::Money(MoneyError::Overflow))
        );
        assert_eq!(
            invoice_totals(&input(0, 700, &[i64::MAX])),
            Err(InvoiceMathError::Money(MoneyError::Overflow))
        );
        assert_eq!(line_amount(3, 29_900), Ok(89_700));
        assert_eq!(line_amount(i64::MAX, 2), Err(MoneyError::Overflow));
    }

    /// `2·|rounded·denominator − numerator| ≤ denominator`: within half a unit of the exact value.
    fn within_half(rounded: i64, numerator: i128, denominator: i128) -> bool {
        2 * (i128::from(rounded) * denominator - numerator).abs() <= denominator
    }

    fn arbitrary_invoice() -> impl Strategy<Value = (Vec<i64>, u32, bool, u32, u8)> {
        (
            proptest::collection::vec(-10_000_000_000_i64..10_000_000_000, 0..20),
            0_u32..=3_000,
            any::<bool>(),
            prop_oneof![Just(0_u32), Just(100), Just(300), Just(500), 0_u32..=10_000],
            0_u8..=100,
        )
    }

    proptest! {
        #[test]
        fn totals_add_up_and_no_satang_is_lost((lines, rate, include, wht, discount_pct) in arbitrary_invoice()) {
            let subtotal: i64 = lines.iter().sum();
            let discount = subtotal.max(0) * i64::from(discount_pct) / 100;
            let t = invoice_totals(&InvoiceTotalsInput {
                line_amounts: &lines,
                discount,
                vat_rate_bps: rate,
                prices_include_vat: include,
                withholding_rate_bps: wht,
            }).unwrap();
            prop_assert_eq!(t.subtotal, subtotal);
            prop_assert_eq!(t.total, t.taxable_amount + t.vat_amount);
            let after_discount = i128::from(subtotal - discount);
            let rate = i128::from(rate);
            if include {
                prop_assert_eq!(i128::from(t.total), after_discount);
                prop_assert!(within_half(t.vat_amount, after_discount * rate, 10_000 + rate));
            } else {
                prop_assert_eq!(i128::from(t.taxable_amount), after_discount);
                prop_assert!(within_half(t.vat_amount, after_discount * rate, 10_000));
            }
            prop_assert!(within_half(
                t.withholding_tax,
                i128::from(t.taxable_amount) * i128::from(wht),
                10_000
            ));
        }

        #[test]
        fn a_credit_note_mirrors_its_invoice((lines, rate, include, wht, _) in arbitrary_invoice()) {
            let negated: Vec<i64> = lines.iter().map(|l| -l).collect();
            let input = |lines| InvoiceTotalsInput {
                line_amounts: lines,
                discount: 0,
                vat_rate_bps: rate,
                prices_include_vat: include,
                withholding_rate_bps: wht,
            };
            let t = invoice_totals(&input(&lines)).unwrap();
            let c = invoice_totals(&input(&negated)).unwrap();
            prop_assert_eq!(
                (c.subtotal, c.taxable_amount, c.vat_amount, c.total, c.withholding_tax),
                (-t.subtotal, -t.taxable_amount, -t.vat_amount, -t.total, -t.withholding_tax)
            );
        }
    }
}
