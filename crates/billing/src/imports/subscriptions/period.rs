//! The current period of an imported subscription: where it lies from its start date, its
//! period end (or today) and its plan's cycle, and the day of the month later periods keep.

use chrono::{Datelike, Months, NaiveDate};

use satang_domain::period::{add_cycle, days_in_month, nth_boundary};
use satang_domain::{BillingCycle, Period};

use crate::imports::Message;

/// A refused date of a row: its column and why.
type DateRefusal = (&'static str, Message);

/// The current period of a subscription imported on `today` that began on `start` and whose
/// period ends on `period_end` (or, without it, the period of `cycle` from `start` that holds
/// today), with the day of the month later periods are anchored on.
pub(super) fn current_period(
    start: NaiveDate,
    period_end: Option<NaiveDate>,
    cycle: BillingCycle,
    today: NaiveDate,
) -> Result<(Period, u32), Vec<DateRefusal>> {
    let out_of_range = || {
        vec![(
            "start_date",
            Message::new("is out of the supported range", "อยู่นอกช่วงวันที่ที่รองรับ"),
        )]
    };
    let mut refused = Vec::new();
    if start > today {
        refused.push((
            "start_date",
            Message::new(
                format!(
                    "must not be after today ({today} in Bangkok); create a subscription that \
                     starts later with POST /api/subscriptions"
                ),
                format!(
                    "ต้องไม่เลยวันนี้ ({today} ตามเวลากรุงเทพฯ) การสมัครที่เริ่มภายหลังให้สร้างด้วย POST /api/subscriptions"
                ),
            ),
        ));
    }
    let Some(end) = period_end else {
        if !refused.is_empty() {
            return Err(refused);
        }
        // The first boundary after today, counted from the start.
        for n in 1..=MAX_PERIODS_BACK {
            let boundary = nth_boundary(start, cycle, n).map_err(|_| out_of_range())?;
            if boundary > today {
                let begin = nth_boundary(start, cycle, n - 1).map_err(|_| out_of_range())?;
                let period = Period::new(begin, boundary).map_err(|_| out_of_range())?;
                return Ok((period, start.day()));
            }
        }
        return Err(out_of_range());
    };
    let latest = add_cycle(today, cycle, today.day()).map_err(|_| out_of_range())?;
    if end <= start {
        refused.push((
            "current_period_end",
            Message::new("must be after start_date", "ต้องอยู่หลัง start_date"),
        ));
    } else if end < today {
        refused.push((
            "current_period_end",
            Message::new(
                format!(
                    "must not be before today ({today} in Bangkok): the next period would be \
                     invoiced at once; give the end of the period the previous system billed last"
                ),
                format!(
                    "ต้องไม่ก่อนวันนี้ ({today} ตามเวลากรุงเทพฯ) มิฉะนั้นรอบถัดไปจะถูกออกใบแจ้งหนี้ทันที โปรดระบุวันสิ้นสุดของรอบที่ระบบเดิมเรียกเก็บล่าสุด"
                ),
            ),
        ));
    } else if end > latest {
        refused.push((
            "current_period_end",
            Message::new(
                format!("must be at most one billing period after today (by {latest})"),
                format!("ต้องไม่เกินหนึ่งรอบบิลนับจากวันนี้ (ไม่เกิน {latest})"),
            ),
        ));
    }
    if !refused.is_empty() {
        return Err(refused);
    }
    // On the start's schedule when the end is one of its boundaries (a start on the 31st
    // ends February on the 28th and keeps the 31st), else on the end's own day.
    let mut anchor_day = end.day();
    for n in 1..=MAX_PERIODS_BACK {
        let boundary = nth_boundary(start, cycle, n).map_err(|_| out_of_range())?;
        if boundary >= end {
            if boundary == end {
                anchor_day = start.day();
            }
            break;
        }
    }
    let begin = cycle_before(end, cycle, anchor_day)
        .ok_or_else(out_of_range)?
        .max(start);
    let period = Period::new(begin, end).map_err(|_| out_of_range())?;
    Ok((period, anchor_day))
}

/// How many periods back a start date may lie (a monthly plan: a hundred years).
const MAX_PERIODS_BACK: u32 = 1_200;

/// The period boundary one cycle before `end` on the `anchor_day` schedule.
fn cycle_before(end: NaiveDate, cycle: BillingCycle, anchor_day: u32) -> Option<NaiveDate> {
    let month = end
        .with_day(1)?
        .checked_sub_months(Months::new(cycle.months()))?;
    month.with_day(anchor_day.min(days_in_month(month.year(), month.month())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn period(
        start: NaiveDate,
        end: Option<NaiveDate>,
        cycle: BillingCycle,
        today: NaiveDate,
    ) -> (NaiveDate, NaiveDate, u32) {
        let (p, anchor) = current_period(start, end, cycle, today).unwrap();
        (p.start(), p.end(), anchor)
    }

    fn refused_fields(
        start: NaiveDate,
        end: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Vec<&'static str> {
        current_period(start, end, BillingCycle::monthly(), today)
            .unwrap_err()
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    #[test]
    fn without_an_end_the_period_holding_today_is_counted_from_the_start() {
        let today = d(2026, 11, 24);
        // Monthly from 31 January 2024: the 31st clamps, the anchor stays.
        assert_eq!(
            period(d(2024, 1, 31), None, BillingCycle::monthly(), today),
            (d(2026, 10, 31), d(2026, 11, 30), 31)
        );
        // A boundary on today starts a new period today.
        assert_eq!(
            period(d(2025, 6, 24), None, BillingCycle::monthly(), today),
            (d(2026, 11, 24), d(2026, 12, 24), 24)
        );
        assert_eq!(
            period(d(2020, 3, 1), None, BillingCycle::yearly(), today),
            (d(2026, 3, 1), d(2027, 3, 1), 1)
        );
        // Started today: the first period.
        assert_eq!(
            period(today, None, BillingCycle::monthly(), today),
            (today, d(2026, 12, 24), 24)
        );
    }

    #[test]
    fn an_end_on_the_starts_schedule_keeps_the_starts_day() {
        let today = d(2027, 2, 10);
        // Started 31 October; the period ending 28 February is on its schedule.
        assert_eq!(
            period(
                d(2026, 10, 31),
                Some(d(2027, 2, 28)),
                BillingCycle::monthly(),
                today
            ),
            (d(2027, 1, 31), d(2027, 2, 28), 31)
        );
        // Another system billing on the 1st of each month: its day is the anchor; a period
        // that began at the start is shorter.
        assert_eq!(
            period(
                d(2027, 1, 20),
                Some(d(2027, 3, 1)),
                BillingCycle::monthly(),
                today
            ),
            (d(2027, 2, 1), d(2027, 3, 1), 1)
        );
        assert_eq!(
            period(
                d(2027, 2, 5),
                Some(d(2027, 3, 1)),
                BillingCycle::monthly(),
                today
            ),
            (d(2027, 2, 5), d(2027, 3, 1), 1)
        );
        assert_eq!(
            period(
                d(2020, 5, 5),
                Some(d(2027, 4, 1)),
                BillingCycle::yearly(),
                today
            ),
            (d(2026, 4, 1), d(2027, 4, 1), 1)
        );
        // Ending today: the billing run invoices the next period today.
        assert_eq!(
            period(d(2026, 1, 10), Some(today), BillingCycle::monthly(), today),
            (d(2027, 1, 10), today, 10)
        );
    }

    #[test]
    fn dates_that_cannot_be_a_running_subscription_are_refused() {
        let today = d(2026, 11, 24);
        assert_eq!(
            refused_fields(d(2026, 11, 25), None, today),
            vec!["start_date"]
        );
        assert_eq!(
            refused_fields(d(2026, 1, 1), Some(d(2026, 11, 23)), today),
            vec!["current_period_end"]
        );
        assert_eq!(
            refused_fields(d(2026, 1, 1), Some(d(2026, 12, 25)), today),
            vec!["current_period_end"]
        );
        assert_eq!(
            refused_fields(d(2026, 12, 1), Some(d(2026, 12, 1)), today),
            vec!["start_date", "current_period_end"]
        );
        let (_, message) = current_period(
            d(2026, 1, 1),
            Some(d(2026, 11, 1)),
            BillingCycle::monthly(),
            today,
        )
        .unwrap_err()
        .remove(0);
        assert!(message.en.contains("2026-11-24"), "{}", message.en);
        assert!(message.th.contains("2026-11-24"), "{}", message.th);
    }
}
