//! Revenue analytics (SPEC §2.7): the business figures on a date and the revenue per month.
//! Staff see the whole business, read from the per-day figures the store keeps up to date
//! (`satang_store::analytics::refresh`); a member sees the same figures for their own customers
//! only, computed from their rows on every call.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, Utc};

use satang_domain::money::round_half_up_div;
use satang_store::{Db, Scope, analytics};

use crate::Result;

/// Business figures on a date, money in minor units (THB).
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub as_of: NaiveDate,
    pub mrr: i64,
    pub arr: i64,
    pub active_subscriptions: i64,
    pub active_customers: i64,
    pub new_mrr: i64,
    pub expansion_mrr: i64,
    pub contraction_mrr: i64,
    pub churned_mrr: i64,
    /// Rounded to four decimals.
    pub customer_churn_rate: f64,
    pub arpa: i64,
    pub ltv: Option<i64>,
    pub revenue_this_month: i64,
    pub outstanding: i64,
    pub overdue: i64,
}

/// Midnight in Bangkok of `date`, as UTC.
fn start_of(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc() - TimeDelta::hours(7))
        .unwrap_or_default()
}

/// The figures `scope` may see on `as_of`, movements measured against `month_earlier`.
pub async fn figures(
    db: &Db,
    scope: Scope,
    as_of: NaiveDate,
    month_earlier: NaiveDate,
) -> Result<Figures> {
    let first_of_month = as_of.with_day(1).unwrap_or(as_of);
    let (m, revenue_this_month, receivables) = match scope {
        // The whole business: one read of the per-day figures.
        Scope::All => {
            let b = analytics::business(db, as_of, month_earlier, first_of_month, as_of).await?;
            (b.movement, b.revenue, b.receivables)
        }
        Scope::Member(_) => {
            let (from, to) = (
                start_of(first_of_month),
                start_of(as_of) + TimeDelta::days(1),
            );
            (
                analytics::mrr_movement(db, scope, as_of, month_earlier).await?,
                analytics::paid_between(db, scope, from, to).await?,
                analytics::receivables(db, scope, as_of).await?,
            )
        }
    };
    let churn_rate = if m.previous_customers > 0 {
        m.churned_customers as f64 / m.previous_customers as f64
    } else {
        0.0
    };
    let arpa = if m.active_customers > 0 {
        round_half_up_div(i128::from(m.mrr), i128::from(m.active_customers)).unwrap_or(0)
    } else {
        0
    };
    // LTV = ARPA ÷ (churned / previous customers), exactly, then half-up.
    let ltv = (m.churned_customers > 0).then(|| {
        round_half_up_div(
            i128::from(arpa) * i128::from(m.previous_customers),
            i128::from(m.churned_customers),
        )
        .unwrap_or(0)
    });
    Ok(Figures {
        as_of,
        mrr: m.mrr,
        arr: m.mrr.saturating_mul(12),
        active_subscriptions: m.active_subscriptions,
        active_customers: m.active_customers,
        new_mrr: m.new_mrr,
        expansion_mrr: m.expansion_mrr,
        contraction_mrr: m.contraction_mrr,
        churned_mrr: m.churned_mrr,
        customer_churn_rate: (churn_rate * 10_000.0).round() / 10_000.0,
        arpa,
        ltv,
        revenue_this_month,
        outstanding: receivables.outstanding,
        overdue: receivables.overdue,
    })
}

/// The longest revenue series asked for at once.
pub const MAX_MONTHS: usize = 36;

/// Why a month range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("from must not be after to")]
    Reversed,
    #[error("ask for at most 36 months")]
    TooLong,
    #[error("to is out of range")]
    OutOfRange,
}

/// The calendar months from `from`'s to `to`'s, each as `[first day, first day of the next)`.
pub fn months_between(
    from: NaiveDate,
    to: NaiveDate,
) -> std::result::Result<Vec<(NaiveDate, NaiveDate)>, RangeError> {
    let to = to.with_day(1).unwrap_or(to);
    let mut month = from.with_day(1).unwrap_or(from);
    if month > to {
        return Err(RangeError::Reversed);
    }
    let mut bounds = Vec::new();
    while month <= to {
        if bounds.len() == MAX_MONTHS {
            return Err(RangeError::TooLong);
        }
        let next = month
            .checked_add_months(Months::new(1))
            .ok_or(RangeError::OutOfRange)?;
        bounds.push((month, next));
        month = next;
    }
    Ok(bounds)
}

/// What one month brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthRevenue {
    pub month: NaiveDate,
    /// Received in the month (payments and withheld tax).
    pub paid: i64,
    /// Finalised in the month (totals, VAT included; void invoices excluded).
    pub invoiced: i64,
}

/// Paid and invoiced amounts in each of `months` (from [`months_between`]) that `scope` sees.
pub async fn revenue(
    db: &Db,
    scope: Scope,
    months: &[(NaiveDate, NaiveDate)],
) -> Result<Vec<MonthRevenue>> {
    let (Some(first), Some(last)) = (months.first(), months.last()) else {
        return Ok(Vec::new());
    };
    let mut revenue = Vec::with_capacity(months.len());
    if scope == Scope::All {
        // The whole business: the per-day figures of the range, added up per month.
        let days = analytics::revenue_days(db, first.0, last.1).await?;
        for &(start, next) in months {
            let in_month = days.iter().filter(|d| start <= d.day && d.day < next);
            revenue.push(MonthRevenue {
                month: start,
                paid: in_month.clone().map(|d| d.paid).sum(),
                invoiced: in_month.map(|d| d.invoiced).sum(),
            });
        }
    } else {
        for &(start, next) in months {
            let (from, to) = (start_of(start), start_of(next));
            revenue.push(MonthRevenue {
                month: start,
                paid: analytics::paid_between(db, scope, from, to).await?,
                invoiced: analytics::invoiced_between(db, scope, from, to).await?,
            });
        }
    }
    Ok(revenue)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn months_cover_from_and_to() {
        let months = months_between(d(2026, 1, 31), d(2026, 3, 2)).unwrap();
        assert_eq!(
            months,
            [
                (d(2026, 1, 1), d(2026, 2, 1)),
                (d(2026, 2, 1), d(2026, 3, 1)),
                (d(2026, 3, 1), d(2026, 4, 1)),
            ]
        );
        assert_eq!(
            months_between(d(2026, 3, 1), d(2026, 2, 1)),
            Err(RangeError::Reversed)
        );
        assert_eq!(
            months_between(d(2020, 1, 1), d(2026, 1, 1)),
            Err(RangeError::TooLong)
        );
        assert_eq!(
            months_between(d(2026, 1, 1), d(2028, 12, 1)).unwrap().len(),
            36
        );
    }
}
