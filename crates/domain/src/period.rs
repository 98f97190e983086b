//! Billing periods: how a subscription's calendar advances by its plan's interval
//! (`month` or `year`, times `interval_count`).
//!
//! A period is half-open, `[start, end)`: `end` is the first day of the next period, so
//! consecutive periods share a boundary, never overlap and never leave a gap, and the number of
//! days in a period is simply `end − start`.
//!
//! Periods stay anchored on the original day of the month: a subscription started on 31 January
//! renews on 28 (or 29) February, then on 31 March, not 28 March. Each boundary is the anchor
//! day clamped to the length of its month, so short months never make the dates drift.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The longest cycle accepted: 100 intervals (a plan billed every 100 years is a typo).
pub const MAX_INTERVAL_COUNT: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeriodError {
    #[error("interval_count must be between 1 and {MAX_INTERVAL_COUNT}, not {0}")]
    InvalidIntervalCount(u32),
    #[error("a billing anchor day must be between 1 and 31, not {0}")]
    InvalidAnchorDay(u32),
    #[error("a period must end after it starts ({start} – {end})")]
    EmptyPeriod { start: NaiveDate, end: NaiveDate },
    #[error("unknown billing interval {0:?} (expected \"month\" or \"year\")")]
    UnknownInterval(String),
    #[error("the date is out of the supported calendar range")]
    OutOfRange,
}

/// Asia/Bangkok's offset from UTC. Thailand keeps UTC+7 all year (no daylight saving), so a
/// fixed offset gives the local date exactly, without a time zone database.
pub const BANGKOK_UTC_OFFSET_SECONDS: i32 = 7 * 3600;

/// The calendar date in Bangkok at the instant `at`. Billing dates (start dates, pause and
/// resume days, proration days) are the seller's dates, not UTC's: at 23:30 UTC it is already
/// tomorrow in Bangkok.
pub fn bangkok_date(at: DateTime<Utc>) -> NaiveDate {
    match FixedOffset::east_opt(BANGKOK_UTC_OFFSET_SECONDS) {
        Some(bangkok) => at.with_timezone(&bangkok).date_naive(),
        None => at.date_naive(),
    }
}

/// The unit a plan bills by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Month,
    Year,
}

impl Interval {
    pub const ALL: [Interval; 2] = [Interval::Month, Interval::Year];

    /// The wire and database form, e.g. `"year"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }

    const fn months(self) -> u32 {
        match self {
            Interval::Month => 1,
            Interval::Year => 12,
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interval {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "month" => Ok(Interval::Month),
            "year" => Ok(Interval::Year),
            other => Err(PeriodError::UnknownInterval(other.to_owned())),
        }
    }
}

/// For decoding a database column (sqlx's `try_from = "String"`).
impl TryFrom<String> for Interval {
    type Error = PeriodError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A plan's billing cycle: `interval × interval_count` (e.g. every 3 months), count ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BillingCycle {
    interval: Interval,
    interval_count: u32,
}

impl BillingCycle {
    pub fn new(interval: Interval, interval_count: u32) -> Result<BillingCycle, PeriodError> {
        if !(1..=MAX_INTERVAL_COUNT).contains(&interval_count) {
            return Err(PeriodError::InvalidIntervalCount(interval_count));
        }
        Ok(BillingCycle {
            interval,
            interval_count,
        })
    }

    pub const fn monthly() -> BillingCycle {
        BillingCycle {
            interval: Interval::Month,
            interval_count: 1,
        }
    }

    pub const fn yearly() -> BillingCycle {
        BillingCycle {
            interval: Interval::Year,
            interval_count: 1,
        }
    }

    pub const fn interval(self) -> Interval {
        self.interval
    }

    pub const fn interval_count(self) -> u32 {
        self.interval_count
    }

    /// The cycle's length in calendar months (a year is 12).
    pub const fn months(self) -> u32 {
        self.interval.months() * self.interval_count
    }
}

/// Days in `month` (1–12) of `year`, leap years included.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1);
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    match (first, next) {
        (Some(first), Some(next)) => (next - first).num_days() as u32,
        // Only at the very edge of chrono's calendar; December has 31 days regardless.
        _ => 31,
    }
}

/// The date `months` calendar months after `date`'s month, on `anchor_day` clamped to that
/// month's length. `date`'s own day is ignored: after a short month the anchor comes back.
pub fn shift_months(
    date: NaiveDate,
    months: u32,
    anchor_day: u32,
) -> Result<NaiveDate, PeriodError> {
    if !(1..=31).contains(&anchor_day) {
        return Err(PeriodError::InvalidAnchorDay(anchor_day));
    }
    let first_of_month = date.with_day(1).ok_or(PeriodError::OutOfRange)?;
    let target = first_of_month
        .checked_add_months(Months::new(months))
        .ok_or(PeriodError::OutOfRange)?;
    let day = anchor_day.min(days_in_month(target.year(), target.month()));
    target.with_day(day).ok_or(PeriodError::OutOfRange)
}

/// One cycle after `date`, on the subscription's `anchor_day` (the day of month it started).
pub fn add_cycle(
    date: NaiveDate,
    cycle: BillingCycle,
    anchor_day: u32,
) -> Result<NaiveDate, PeriodError> {
    shift_months(date, cycle.months(), anchor_day)
}

/// The `n`-th period boundary of a subscription anchored at `anchor` (boundary 0 is `anchor`).
/// Computed from the anchor directly, so it equals `n` successive [`add_cycle`] steps.
pub fn nth_boundary(
    anchor: NaiveDate,
    cycle: BillingCycle,
    n: u32,
) -> Result<NaiveDate, PeriodError> {
    let months = cycle
        .months()
        .checked_mul(n)
        .ok_or(PeriodError::OutOfRange)?;
    shift_months(anchor, months, anchor.day())
}

/// Whole days from `start` to `end` (`end` excluded); an empty or reversed period is an error.
pub fn days_in_period(start: NaiveDate, end: NaiveDate) -> Result<u32, PeriodError> {
    let days = (end - start).num_days();
    if days <= 0 {
        return Err(PeriodError::EmptyPeriod { start, end });
    }
    u32::try_from(days).map_err(|_| PeriodError::OutOfRange)
}

/// A non-empty billing period `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Period {
    start: NaiveDate,
    end: NaiveDate,
}

impl Period {
    pub fn new(start: NaiveDate, end: NaiveDate) -> Result<Period, PeriodError> {
        days_in_period(start, end)?;
        Ok(Period { start, end })
    }

    /// The first period of a subscription starting on `start`; its day of month becomes the
    /// anchor that later periods keep.
    pub fn first(start: NaiveDate, cycle: BillingCycle) -> Result<Period, PeriodError> {
        Period::new(start, add_cycle(start, cycle, start.day())?)
    }

    /// The period right after this one, anchored on `anchor_day`.
    pub fn next(self, cycle: BillingCycle, anchor_day: u32) -> Result<Period, PeriodError> {
        Period::new(self.end, add_cycle(self.end, cycle, anchor_day)?)
    }

    pub const fn start(self) -> NaiveDate {
        self.start
    }

    /// The first day *after* the period.
    pub const fn end(self) -> NaiveDate {
        self.end
    }

    pub fn days(self) -> u32 {
        // Non-empty by construction and at most a few hundred thousand years of days.
        (self.end - self.start).num_days() as u32
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        self.start <= date && date < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn month_ends_clamp_and_come_back() {
        let start = d(2024, 1, 31);
        let p1 = Period::first(start, BillingCycle::monthly()).unwrap();
        assert_eq!(p1.end(), d(2024, 2, 29));
        let p2 = p1.next(BillingCycle::monthly(), 31).unwrap();
        assert_eq!(p2.end(), d(2024, 3, 31));
        let p3 = p2.next(BillingCycle::monthly(), 31).unwrap();
        assert_eq!(p3.end(), d(2024, 4, 30));
        assert_eq!((p1.days(), p2.days(), p3.days()), (29, 31, 30));
        assert_eq!(
            add_cycle(d(2025, 1, 31), BillingCycle::monthly(), 31),
            Ok(d(2025, 2, 28))
        );
        assert_eq!(
            add_cycle(d(2025, 2, 28), BillingCycle::monthly(), 30),
            Ok(d(2025, 3, 30))
        );
    }

    #[test]
    fn years_and_multi_month_cycles() {
        let yearly = BillingCycle::yearly();
        assert_eq!(add_cycle(d(2024, 2, 29), yearly, 29), Ok(d(2025, 2, 28)));
        assert_eq!(nth_boundary(d(2024, 2, 29), yearly, 4), Ok(d(2028, 2, 29)));
        let quarterly = BillingCycle::new(Interval::Month, 3).unwrap();
        assert_eq!(
            add_cycle(d(2025, 11, 30), quarterly, 30),
            Ok(d(2026, 2, 28))
        );
        assert_eq!(Period::first(d(2026, 1, 1), yearly).unwrap().days(), 365);
        assert_eq!(quarterly.months(), 3);
        assert_eq!(BillingCycle::new(Interval::Year, 2).unwrap().months(), 24);
    }

    #[test]
    fn refuses_bad_inputs() {
        assert_eq!(
            BillingCycle::new(Interval::Month, 0),
            Err(PeriodError::InvalidIntervalCount(0))
        );
        assert_eq!(
            shift_months(d(2025, 1, 1), 1, 32),
            Err(PeriodError::InvalidAnchorDay(32))
        );
        assert!(matches!(
            Period::new(d(2025, 1, 1), d(2025, 1, 1)),
            Err(PeriodError::EmptyPeriod { .. })
        ));
        assert_eq!(days_in_period(d(2025, 1, 1), d(2025, 2, 1)), Ok(31));
        assert!(days_in_period(d(2025, 2, 1), d(2025, 1, 1)).is_err());
        assert_eq!(
            add_cycle(NaiveDate::MAX, BillingCycle::yearly(), 1),
            Err(PeriodError::OutOfRange)
        );
        assert_eq!("year".parse::<Interval>(), Ok(Interval::Year));
        assert!("week".parse::<Interval>().is_err());
        assert_eq!(
            serde_json::to_string(&Interval::Month).unwrap(),
            "\"month\""
        );
    }

    #[test]
    fn bangkok_dates_start_at_17_utc() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(bangkok_date(at("2026-03-09T16:59:59Z")), d(2026, 3, 9));
        assert_eq!(bangkok_date(at("2026-03-09T17:00:00Z")), d(2026, 3, 10));
        assert_eq!(bangkok_date(at("2025-12-31T18:00:00Z")), d(2026, 1, 1));
    }

    #[test]
    fn month_lengths() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2025, 2), 28);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2025, 12), 31);
        assert_eq!(days_in_month(2025, 4), 30);
    }

    fn arbitrary_cycle() -> impl Strategy<Value = BillingCycle> {
        (
            prop_oneof![Just(Interval::Month), Just(Interval::Year)],
            1_u32..=12,
        )
            .prop_map(|(i, n)| BillingCycle::new(i, n).unwrap())
    }

    proptest! {
        #[test]
        fn periods_are_contiguous_non_empty_and_do_not_drift(
            days_since_2000 in 0_i64..40_000,
            cycle in arbitrary_cycle(),
            count in 1_u32..40,
        ) {
            let anchor = d(2000, 1, 1) + chrono::Duration::days(days_since_2000);
            let anchor_day = anchor.day();
            let mut period = Period::first(anchor, cycle).unwrap();
            for n in 1..=count {
                prop_assert!(period.start() < period.end());
                prop_assert!(period.contains(period.start()) && !period.contains(period.end()));
                prop_assert_eq!(period.end(), nth_boundary(anchor, cycle, n).unwrap());
                let end = period.end();
                prop_assert_eq!(end.day(), anchor_day.min(days_in_month(end.year(), end.month())));
                let months = cycle.months();
                prop_assert!(period.days() >= 28 * months && period.days() <= 31 * months + 1);
                let next = period.next(cycle, anchor_day).unwrap();
                prop_assert_eq!(next.start(), period.end());
                period = next;
            }
        }
    }
}
