//! Credit grants (SPEC §2.11): which grants an invoice consumes, and how much of each.
//!
//! A grant is consumed by priority (lower first), then earliest expiry (a grant that never
//! expires last), then creation order. A grant never gives more than it has left, never gives
//! anything at or after its `expires_at`, and the allocations never add up to more than the
//! amount asked for. Promotional and prepaid grants are allocated separately (promotional
//! before VAT, prepaid against the amount due after VAT); the caller passes the grants of one
//! kind.

use chrono::{DateTime, Utc};

/// What a grant is worth to an invoice, as the allocation needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantBalance {
    pub remaining: i64,
    /// 0–100, lower first.
    pub priority: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl GrantBalance {
    /// It can still give credit at `at`.
    pub fn usable_at(&self, at: DateTime<Utc>) -> bool {
        self.remaining > 0 && self.expires_at.is_none_or(|e| at < e)
    }
}

/// One grant's part: `index` into the slice given, `amount` > 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    pub index: usize,
    pub amount: i64,
}

/// The order grants are consumed in: indices of the usable ones at `at`.
pub fn consumption_order(grants: &[GrantBalance], at: DateTime<Utc>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..grants.len())
        .filter(|&i| grants[i].usable_at(at))
        .collect();
    order.sort_by_key(|&i| {
        let g = &grants[i];
        // `None` (never expires) after every date.
        (
            g.priority,
            g.expires_at.is_none(),
            g.expires_at,
            g.created_at,
            i,
        )
    });
    order
}

/// Takes up to `amount` (≤ 0: nothing) from `grants` in [`consumption_order`].
pub fn allocate(grants: &[GrantBalance], amount: i64, at: DateTime<Utc>) -> Vec<Allocation> {
    let mut left = amount.max(0);
    let mut out = Vec::new();
    for index in consumption_order(grants, at) {
        if left == 0 {
            break;
        }
        let take = grants[index].remaining.min(left);
        left -= take;
        out.push(Allocation {
            index,
            amount: take,
        });
    }
    out
}

/// The sum of some allocations.
pub fn allocated(allocations: &[Allocation]) -> i64 {
    allocations.iter().map(|a| a.amount).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + secs, 0).unwrap()
    }

    fn grant(remaining: i64, priority: i64, expires: Option<i64>, created: i64) -> GrantBalance {
        GrantBalance {
            remaining,
            priority,
            expires_at: expires.map(t),
            created_at: t(created),
        }
    }

    #[test]
    fn priority_then_expiry_then_creation() {
        let grants = [
            grant(100, 50, None, 0),
            grant(100, 50, Some(500), 1),
            grant(100, 10, None, 2),
            grant(100, 50, Some(500), 0),
            grant(100, 50, Some(10), 3),
        ];
        assert_eq!(consumption_order(&grants, t(20)), [2, 3, 1, 0]);
        assert_eq!(
            allocate(&grants, 250, t(20)),
            [
                Allocation {
                    index: 2,
                    amount: 100
                },
                Allocation {
                    index: 3,
                    amount: 100
                },
                Allocation {
                    index: 1,
                    amount: 50
                },
            ]
        );
    }

    #[test]
    fn nothing_at_or_after_expiry_and_nothing_for_nothing() {
        let grants = [grant(100, 0, Some(10), 0)];
        assert!(allocate(&grants, 50, t(10)).is_empty());
        assert_eq!(allocated(&allocate(&grants, 50, t(9))), 50);
        assert!(allocate(&grants, 0, t(0)).is_empty());
        assert!(allocate(&grants, -5, t(0)).is_empty());
    }

    fn grants() -> impl Strategy<Value = Vec<GrantBalance>> {
        prop::collection::vec(
            (
                0_i64..10_000,
                0_i64..=100,
                prop::option::of(-50_i64..50),
                -100_i64..0,
            )
                .prop_map(|(r, p, e, c)| grant(r, p, e, c)),
            0..12,
        )
    }

    proptest! {
        #[test]
        fn allocations_respect_balances_expiry_and_the_amount(
            grants in grants(), amount in -100_i64..50_000, at in -60_i64..60,
        ) {
            let at = t(at);
            let allocs = allocate(&grants, amount, at);
            let usable: i64 = grants.iter().filter(|g| g.usable_at(at)).map(|g| g.remaining).sum();
            // Exactly what is asked for, or everything usable when that is less.
            prop_assert_eq!(allocated(&allocs), amount.max(0).min(usable));
            let mut seen = std::collections::HashSet::new();
            for a in &allocs {
                prop_assert!(seen.insert(a.index));
                let g = &grants[a.index];
                prop_assert!(a.amount > 0 && a.amount <= g.remaining);
                prop_assert!(g.expires_at.is_none_or(|e| at < e));
            }
            // Only the last grant used may be partly used; each earlier one in order is emptied.
            for a in allocs.iter().rev().skip(1) {
                prop_assert_eq!(a.amount, grants[a.index].remaining);
            }
            // Order: never a later-ranked grant used while an earlier-ranked one has some left.
            let order = consumption_order(&grants, at);
            let used: Vec<usize> = allocs.iter().map(|a| a.index).collect();
            prop_assert_eq!(&order[..used.len()], &used[..]);
            for w in order.windows(2) {
                let (a, b) = (&grants[w[0]], &grants[w[1]]);
                prop_assert!(a.priority <= b.priority);
                if a.priority == b.priority {
                    match (a.expires_at, b.expires_at) {
                        (Some(x), Some(y)) => prop_assert!(x < y || (x == y && a.created_at <= b.created_at)),
                        (None, Some(_)) => prop_assert!(false, "a grant without expiry came first"),
                        (Some(_), None) => {}
                        (None, None) => prop_assert!(a.created_at <= b.created_at),
                    }
                }
            }
        }

        #[test]
        fn consuming_twice_never_overdraws(grants in grants(), a in 0_i64..20_000, b in 0_i64..20_000) {
            let at = t(0);
            let mut left = grants.clone();
            let mut total = 0;
            for amount in [a, b] {
                for x in allocate(&left, amount, at) {
                    left[x.index].remaining -= x.amount;
                    total += x.amount;
                }
            }
            prop_assert!(left.iter().all(|g| g.remaining >= 0));
            let usable: i64 = grants.iter().filter(|g| g.usable_at(at)).map(|g| g.remaining).sum();
            prop_assert_eq!(total, (a + b).min(usable));
        }
    }
}
