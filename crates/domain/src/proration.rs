//! Proration by whole days, for plan changes and immediate cancellations mid-period.
//!
//! `amount × remaining_days ÷ days_in_period`, rounded by
//! [`round_half_up_div`]. A plan change is shown as two lines,
//! as Stripe and Lago do: a credit for the unused part of the old price and a charge for the
//! rest of the period at the new price, so the customer sees both prices and the day counts
//! instead of one opaque net figure.
//!
//! Days are calendar dates in the seller's time zone; a change on day `d` counts `d` itself as
//! remaining (periods are half-open, `[start, end)`), so a change on the first day of a period
//! credits the whole old price.

use chrono::NaiveDate;
use serde::Serialize;
use thiserror::Error;

use crate::money::{MoneyError, round_half_up_div};
use crate::period::{PeriodError, days_in_period};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProrationError {
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Period(#[from] PeriodError),
    #[error("a period must have at least one day")]
    EmptyPeriod,
    #[error("{remaining_days} remaining days exceed the period's {days_in_period} days")]
    RemainingExceedsPeriod {
        remaining_days: u32,
        days_in_period: u32,
    },
    #[error("the date {date} is outside the current period {period_start} – {period_end}")]
    DateOutsidePeriod {
        date: NaiveDate,
        period_start: NaiveDate,
        period_end: NaiveDate,
    },
}

/// The part of `amount` (minor units) that `remaining_days` of a `days_in_period`-day period
/// is worth, rounded half away from zero.
pub fn prorate(
    amount: i64,
    remaining_days: u32,
    days_in_period: u32,
) -> Result<i64, ProrationError> {
    if days_in_period == 0 {
        return Err(ProrationError::EmptyPeriod);
    }
    if remaining_days > days_in_period {
        return Err(ProrationError::RemainingExceedsPeriod {
            remaining_days,
            days_in_period,
        });
    }
    let prorated = round_half_up_div(
        i128::from(amount) * i128::from(remaining_days),
        i128::from(days_in_period),
    )?;
    Ok(prorated)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProrationLineKind {
    /// Unused time on the old price, given back (a negative amount).
    Credit,
    /// Remaining time on the new price (a positive amount for a positive price).
    Charge,
}

/// One invoice line of a proration, with what it covers and how it was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProrationLine {
    pub kind: ProrationLineKind,
    /// Minor units; negative for a credit.
    pub amount: i64,
    /// The days the line covers, `[period_start, period_end)`: from the change to period end.
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub remaining_days: u32,
    pub days_in_period: u32,
}

/// The two lines of a mid-period plan (or quantity) change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlanChangeProration {
    pub credit: ProrationLine,
    pub charge: ProrationLine,
}

impl PlanChangeProration {
    /// What the change costs now: charge + credit (negative when it is a downgrade).
    pub fn net(&self) -> Result<i64, MoneyError> {
        self.charge
            .amount
            .checked_add(self.credit.amount)
            .ok_or(MoneyError::Overflow)
    }
}

/// Remaining and total days when something happens on `on` within `[start, end)`;
/// `on == end` is allowed and leaves zero days.
fn remaining_and_total(
    period_start: NaiveDate,
    period_end: NaiveDate,
    on: NaiveDate,
) -> Result<(u32, u32), ProrationError> {
    let total = days_in_period(period_start, period_end)?;
    if on < period_start || on > period_end {
        return Err(ProrationError::DateOutsidePeriod {
            date: on,
            period_start,
            period_end,
        });
    }
    // 0 ≤ remaining ≤ total, which fits in u32.
    let remaining = (period_end - on).num_days() as u32;
    Ok((remaining, total))
}

fn line(
    kind: ProrationLineKind,
    amount: i64,
    on: NaiveDate,
    period_end: NaiveDate,
    remaining_days: u32,
    days_in_period: u32,
) -> ProrationLine {
    ProrationLine {
        kind,
        amount,
        period_start: on,
        period_end,
        remaining_days,
        days_in_period,
    }
}

/// The credit for the unused part of `amount` when a subscription stops on `on` (an immediate
/// cancellation with `prorate: true`). The amount is negative for a positive price.
pub fn unused_time_credit(
    amount: i64,
    period_start: NaiveDate,
    period_end: NaiveDate,
    on: NaiveDate,
) -> Result<ProrationLine, ProrationError> {
    let (remaining, total) = remaining_and_total(period_start, period_end, on)?;
    // Negating the input, not the output: rounding is symmetric, and i64::MIN stays an error.
    let negated = amount.checked_neg().ok_or(MoneyError::Overflow)?;
    let credit = prorate(negated, remaining, total)?;
    Ok(line(
        ProrationLineKind::Credit,
        credit,
        on,
        period_end,
        remaining,
        total,
    ))
}

/// The credit and charge lines for changing from `old_amount` to `new_amount` (each the full
/// price of one period, quantity included) on `change_date` within the current period.
pub fn plan_change_lines(
    old_amount: i64,
    new_amount: i64,
    period_start: NaiveDate,
    period_end: NaiveDate,
    change_date: NaiveDate,
) -> Result<PlanChangeProration, ProrationError> {
    let credit = unused_time_credit(old_amount, period_start, period_end, change_date)?;
    let charge = prorate(new_amount, credit.remaining_days, credit.days_in_period)?;
    Ok(PlanChangeProration {
        credit,
        charge: ProrationLine {
            kind: ProrationLineKind::Charge,
            amount: charge,
            ..credit
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn prorates_by_whole_days() {
        assert_eq!(prorate(99_000, 15, 30), Ok(49_500));
        assert_eq!(prorate(100, 1, 3), Ok(33));
        assert_eq!(prorate(100, 2, 3), Ok(67));
        // 1 satang over 2 of 4 days is exactly half: rounds away from zero both ways.
        assert_eq!(prorate(1, 2, 4), Ok(1));
        assert_eq!(prorate(-1, 2, 4), Ok(-1));
        assert_eq!(prorate(12_345, 0, 31), Ok(0));
        assert_eq!(prorate(12_345, 31, 31), Ok(12_345));
        assert_eq!(prorate(1, 1, 0), Err(ProrationError::EmptyPeriod));
        assert!(matches!(
            prorate(1, 32, 31),
            Err(ProrationError::RemainingExceedsPeriod { .. })
        ));
    }

    #[test]
    fn upgrade_mid_month() {
        // PRO ฿990 → TEAM ฿2,490 on 16 January, period 1 Jan – 1 Feb (31 days, 16 remaining).
        let p = plan_change_lines(
            99_000,
            249_000,
            d(2026, 1, 1),
            d(2026, 2, 1),
            d(2026, 1, 16),
        )
        .unwrap();
        assert_eq!(p.credit.kind, ProrationLineKind::Credit);
        assert_eq!((p.credit.remaining_days, p.credit.days_in_period), (16, 31));
        // 99,000 × 16 / 31 = 51,096.77… → 51,097; 249,000 × 16 / 31 = 128,516.12… → 128,516.
        assert_eq!(p.credit.amount, -51_097);
        assert_eq!(p.charge.amount, 128_516);
        assert_eq!(p.net(), Ok(77_419));
        assert_eq!(
            (p.charge.period_start, p.charge.period_end),
            (d(2026, 1, 16), d(2026, 2, 1))
        );
    }

    #[test]
    fn edges_of_the_period() {
        let (s, e) = (d(2026, 2, 1), d(2026, 3, 1));
        let first_day = plan_change_lines(1_000, 2_000, s, e, s).unwrap();
        assert_eq!(
            (first_day.credit.amount, first_day.charge.amount),
            (-1_000, 2_000)
        );
        let at_end = plan_change_lines(1_000, 2_000, s, e, e).unwrap();
        assert_eq!((at_end.credit.amount, at_end.charge.amount), (0, 0));
        assert!(matches!(
            plan_change_lines(1_000, 2_000, s, e, d(2026, 3, 2)),
            Err(ProrationError::DateOutsidePeriod { .. })
        ));
        assert!(matches!(
            plan_change_lines(1_000, 2_000, e, s, s),
            Err(ProrationError::Period(PeriodError::EmptyPeriod { .. }))
        ));
        let cancel = unused_time_credit(28_000, s, e, d(2026, 2, 15)).unwrap();
        assert_eq!((cancel.amount, cancel.remaining_days), (-14_000, 14));
        assert!(unused_time_credit(i64::MIN, s, e, s).is_err());
    }

    /// Within half a minor unit of `amount × remaining ÷ days`, exactly.
    fn within_half(line: i64, amount: i64, remaining: u32, days: u32) -> bool {
        let exact_times_days = i128::from(amount) * i128::from(remaining);
        2 * (i128::from(line) * i128::from(days) - exact_times_days).abs() <= i128::from(days)
    }

    proptest! {
        #[test]
        fn lines_are_exact_to_half_a_satang(
            old in -1_000_000_000_000_i64..1_000_000_000_000,
            new in -1_000_000_000_000_i64..1_000_000_000_000,
            start_offset in 0_i64..20_000,
            length in 1_i64..800,
            change_offset in 0_i64..800,
        ) {
            let start = d(2000, 1, 1) + chrono::Duration::days(start_offset);
            let end = start + chrono::Duration::days(length);
            let change = start + chrono::Duration::days(change_offset.min(length));
            let p = plan_change_lines(old, new, start, end, change).unwrap();
            let (remaining, days) = (p.credit.remaining_days, p.credit.days_in_period);
            prop_assert!(remaining <= days);
            prop_assert_eq!(i64::from(days), length);
            prop_assert_eq!(p.charge.remaining_days, remaining);
            prop_assert!(within_half(p.credit.amount, -old, remaining, days));
            prop_assert!(within_half(p.charge.amount, new, remaining, days));
            let net = prorate(new - old, remaining, days).unwrap();
            prop_assert!((p.net().unwrap() - net).abs() <= 1);
        }

        #[test]
        fn prorating_never_exceeds_the_amount(amount in any::<i64>(), days in 1_u32..400, remaining in 0_u32..400) {
            let remaining = remaining.min(days);
            let part = prorate(amount, remaining, days).unwrap();
            prop_assert!(part.unsigned_abs() <= amount.unsigned_abs());
            prop_assert!(part == 0 || part.signum() == amount.signum());
        }
    }
}
