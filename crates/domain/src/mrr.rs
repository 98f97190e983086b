//! Monthly recurring revenue and how it moves, from the recurring invoices (SPEC §2.7).
//!
//! Each subscription invoice stands for an MRR figure (its recurring fee spread over the months
//! of its period) over its period `[start, end)`: a [`Span`]. A subscription's MRR on a day is
//! the sum of its spans covering that day (a proration invoice covers the rest of a period
//! beside the original one); a customer's is the sum of its subscriptions'.
//!
//! **Movements are classified day by day**, the way MRR movement reports are usually kept: on
//! each day, every subscription whose MRR differs from the day before moved once — *new* (from
//! nothing), *expansion* (up), *contraction* (down, not to nothing) or *churn* (to nothing).
//! A month's movements are the sums of its days, so `mrr(end) = mrr(start) + new + expansion
//! − contraction − churned` always holds, and the figures of any window can be added up from
//! per-day rows kept in advance ([`DayMovement`]), whatever the size of the book. A customer
//! churns on the day its last recurring revenue ends.
//!
//! [`day_movement`] is the one place the classification is written: the per-day rows the
//! database keeps for the whole business and the figures computed on the fly for a member's own
//! customers both come from it.

use std::collections::HashMap;
use std::hash::Hash;

use chrono::{Days, NaiveDate};

/// One recurring invoice: `mrr` minor units a month for the subscription over `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span<K> {
    pub subscription: K,
    pub customer: K,
    pub mrr: i64,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl<K> Span<K> {
    /// True when the span's period contains `day`.
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.start <= day && day < self.end
    }
}

/// How MRR changed from the day before to one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayMovement {
    /// `new + expansion − contraction − churned`.
    pub mrr_change: i64,
    /// Subscriptions that started (+1) or stopped (−1) carrying MRR.
    pub subscriptions_change: i64,
    /// Customers that started (+1) or stopped (−1) carrying MRR.
    pub customers_change: i64,
    pub new_mrr: i64,
    pub expansion_mrr: i64,
    pub contraction_mrr: i64,
    pub churned_mrr: i64,
    /// Customers whose MRR went to nothing.
    pub churned_customers: i64,
}

impl DayMovement {
    pub fn is_zero(&self) -> bool {
        *self == DayMovement::default()
    }

    fn add(&mut self, other: &DayMovement) {
        self.mrr_change += other.mrr_change;
        self.subscriptions_change += other.subscriptions_change;
        self.customers_change += other.customers_change;
        self.new_mrr += other.new_mrr;
        self.expansion_mrr += other.expansion_mrr;
        self.contraction_mrr += other.contraction_mrr;
        self.churned_mrr += other.churned_mrr;
        self.churned_customers += other.churned_customers;
    }
}

/// The day before `day` (the earliest representable date stays itself).
fn day_before(day: NaiveDate) -> NaiveDate {
    day.checked_sub_days(Days::new(1)).unwrap_or(day)
}

/// The movement on `day`. `spans` must hold, for every customer with a span starting or ending
/// on `day`, all of that customer's spans covering `day` or the day before (more spans do no
/// harm: one that covers both days changes nothing).
pub fn day_movement<K: Copy + Eq + Hash>(spans: &[Span<K>], day: NaiveDate) -> DayMovement {
    let before = day_before(day);
    // (before, on the day) per subscription and per customer.
    let mut subscriptions: HashMap<K, (i64, i64)> = HashMap::new();
    let mut customers: HashMap<K, (i64, i64)> = HashMap::new();
    for span in spans {
        let (was, is) = (
            if span.covers(before) { span.mrr } else { 0 },
            if span.covers(day) { span.mrr } else { 0 },
        );
        if was == 0 && is == 0 {
            continue;
        }
        for (map, key) in [
            (&mut subscriptions, span.subscription),
            (&mut customers, span.customer),
        ] {
            let entry = map.entry(key).or_default();
            entry.0 += was;
            entry.1 += is;
        }
    }
    let mut m = DayMovement::default();
    for (was, is) in subscriptions.into_values() {
        if was == is {
            continue;
        }
        m.mrr_change += is - was;
        if was <= 0 {
            m.new_mrr += is;
            m.subscriptions_change += 1;
        } else if is <= 0 {
            m.churned_mrr += was;
            m.subscriptions_change -= 1;
        } else if is > was {
            m.expansion_mrr += is - was;
        } else {
            m.contraction_mrr += was - is;
        }
    }
    for (was, is) in customers.into_values() {
        if was <= 0 && is > 0 {
            m.customers_change += 1;
        } else if was > 0 && is <= 0 {
            m.customers_change -= 1;
            m.churned_customers += 1;
        }
    }
    m
}

/// MRR on a day and its movements over the days after an earlier one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub mrr: i64,
    pub previous_mrr: i64,
    pub active_subscriptions: i64,
    pub active_customers: i64,
    pub previous_customers: i64,
    /// Summed over the days in `(previous, at]`.
    pub movement: DayMovement,
}

/// The figures of `(previous, at]` straight from the spans (used where the book is small: one
/// member's customers). `spans` must hold every span of the customers concerned that covers a
/// day from `previous` to `at`.
pub fn window<K: Copy + Eq + Hash>(
    spans: &[Span<K>],
    previous: NaiveDate,
    at: NaiveDate,
) -> Window {
    let mut w = Window::default();
    let mut days: Vec<NaiveDate> = spans
        .iter()
        .flat_map(|s| [s.start, s.end])
        .filter(|d| previous < *d && *d <= at)
        .collect();
    days.sort_unstable();
    days.dedup();
    for day in days {
        w.movement.add(&day_movement(spans, day));
    }
    let level = |day: NaiveDate| {
        let mut subscriptions: HashMap<K, i64> = HashMap::new();
        let mut customers: HashMap<K, i64> = HashMap::new();
        for span in spans.iter().filter(|s| s.covers(day)) {
            *subscriptions.entry(span.subscription).or_default() += span.mrr;
            *customers.entry(span.customer).or_default() += span.mrr;
        }
        (
            subscriptions.values().sum::<i64>(),
            subscriptions.values().filter(|m| **m > 0).count() as i64,
            customers.values().filter(|m| **m > 0).count() as i64,
        )
    };
    (w.mrr, w.active_subscriptions, w.active_customers) = level(at);
    let (previous_mrr, _, previous_customers) = level(previous);
    w.previous_mrr = previous_mrr;
    w.previous_customers = previous_customers;
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Days::new(u64::from(day))
    }

    fn span(subscription: u8, customer: u8, mrr: i64, start: u32, end: u32) -> Span<u8> {
        Span {
            subscription,
            customer,
            mrr,
            start: d(start),
            end: d(end),
        }
    }

    #[test]
    fn classifies_each_kind_of_move() {
        let spans = [
            // 1: new on day 10.
            span(1, 1, 1000, 10, 40),
            // 2: renewed at the same price on day 10: no move.
            span(2, 2, 500, 0, 10),
            span(2, 2, 500, 10, 40),
            // 3: upgraded on day 10 (a proration span beside the period's).
            span(3, 3, 700, 0, 30),
            span(3, 3, 300, 10, 30),
            // 4: downgraded at renewal on day 10.
            span(4, 4, 900, 0, 10),
            span(4, 4, 400, 10, 40),
            // 5: not renewed: churns on day 10, and its customer with it.
            span(5, 5, 250, 0, 10),
            // 6: one of customer 3's two subscriptions stops: churned MRR, customer stays.
            span(6, 3, 100, 0, 10),
        ];
        let m = day_movement(&spans, d(10));
        assert_eq!(
            m,
            DayMovement {
                mrr_change: 1000 + 300 - 500 - 250 - 100,
                subscriptions_change: 1 - 2,
                customers_change: 1 - 1,
                new_mrr: 1000,
                expansion_mrr: 300,
                contraction_mrr: 500,
                churned_mrr: 350,
                churned_customers: 1,
            }
        );
        assert!(day_movement(&spans, d(5)).is_zero());
    }

    #[test]
    fn a_window_sums_its_days() {
        // Upgraded then downgraded back inside the month: both moves count.
        let spans = [
            span(1, 1, 1000, 0, 30),
            span(1, 1, 500, 10, 20),
            span(2, 2, 800, 5, 35),
        ];
        let w = window(&spans, d(1), d(25));
        assert_eq!(w.mrr, 1800);
        assert_eq!(w.previous_mrr, 1000);
        assert_eq!(w.movement.new_mrr, 800);
        assert_eq!(w.movement.expansion_mrr, 500);
        assert_eq!(w.movement.contraction_mrr, 500);
        assert_eq!((w.active_subscriptions, w.active_customers), (2, 2));
        assert_eq!(w.previous_customers, 1);
    }

    fn spans() -> impl Strategy<Value = Vec<Span<u8>>> {
        prop::collection::vec((0u8..6, 0u8..3, 1i64..10_000, 0u32..60, 1u32..40), 0..24).prop_map(
            |rows| {
                rows.into_iter()
                    .map(|(s, c, mrr, start, len)| span(s, c % 3 + s % 2, mrr, start, start + len))
                    .collect()
            },
        )
    }

    proptest! {
        /// The movements account for the change in MRR exactly, the levels kept as running sums
        /// of day movements equal the levels counted directly, and a window's movements are the
        /// sum of its days' (what the per-day rows rely on).
        #[test]
        fn movements_account_for_every_satang(spans in spans(), a in 0u32..100, len in 0u32..60) {
            let (previous, at) = (d(a), d(a + len));
            let w = window(&spans, previous, at);
            let m = w.movement;
            prop_assert_eq!(m.mrr_change, m.new_mrr + m.expansion_mrr - m.contraction_mrr - m.churned_mrr);
            prop_assert_eq!(w.mrr - w.previous_mrr, m.mrr_change);
            prop_assert!(m.new_mrr >= 0 && m.expansion_mrr >= 0 && m.contraction_mrr >= 0 && m.churned_mrr >= 0);
            // Running sums from the beginning of time give the levels.
            let from_start = window(&spans, d(0), at);
            let total = (1..=a + len).fold(DayMovement::default(), |mut acc, day| {
                acc.add(&day_movement(&spans, d(day)));
                acc
            });
            let at_zero = window(&spans, d(0), d(0));
            prop_assert_eq!(at_zero.mrr + total.mrr_change, from_start.mrr);
            prop_assert_eq!(at_zero.active_subscriptions + total.subscriptions_change, w.active_subscriptions);
            prop_assert_eq!(at_zero.active_customers + total.customers_change, w.active_customers);
        }
    }
}
