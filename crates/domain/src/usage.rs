//! Metered prices: what a period's usage of one metric costs. The first `included_units` are
//! free; the rest cost `unit_price` each, or follow graduated tiers, where each unit is priced by
//! the tier its position in the period's total falls into (units 1–1000 at the first tier's
//! price, 1001 and up at the next …), the included units being the cheapest ones given away.

use serde::{Deserialize, Serialize};

use crate::money::MoneyError;

/// One graduated tier: units up to and including `up_to` (None: without limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub up_to: Option<i64>,
    pub unit_price: i64,
}

/// A plan's price for one metric, as the catalog stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeteredPrice {
    pub metric: String,
    pub unit_price: i64,
    #[serde(default)]
    pub included_units: Option<i64>,
    #[serde(default)]
    pub tiers: Option<Vec<Tier>>,
}

impl MeteredPrice {
    /// The charge for `usage` units in one period, in minor units.
    pub fn amount(&self, usage: i64) -> Result<i64, MoneyError> {
        let included = self.included_units.unwrap_or(0).max(0);
        let usage = usage.max(0);
        if usage <= included {
            return Ok(0);
        }
        let flat = [Tier {
            up_to: None,
            unit_price: self.unit_price,
        }];
        let tiers = self
            .tiers
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or(&flat);
        let mut total: i64 = 0;
        let mut floor = 0;
        for tier in tiers {
            let ceiling = tier.up_to.unwrap_or(i64::MAX).min(usage);
            // Units of this tier past the free allowance.
            let billable = ceiling - floor.max(included);
            if billable > 0 {
                let charge = billable
                    .checked_mul(tier.unit_price)
                    .ok_or(MoneyError::Overflow)?;
                total = total.checked_add(charge).ok_or(MoneyError::Overflow)?;
            }
            if ceiling >= usage {
                break;
            }
            floor = ceiling;
        }
        Ok(total)
    }

    /// What the period's usage costs beyond what was already invoiced: the charge for `total`
    /// units less the charge for the `billed` units invoiced earlier in the period (a billing
    /// threshold's invoice). Pricing the whole period's total, not each part on its own, keeps
    /// the allowance and the tiers where they are: the parts always add up to
    /// `amount(total)`, whatever the number of invoices. `billed` is clamped to `0..=total`
    /// (reports are only ever added, so it never exceeds the total in practice).
    pub fn amount_after(&self, billed: i64, total: i64) -> Result<i64, MoneyError> {
        let billed = billed.clamp(0, total.max(0));
        Ok(self.amount(total)? - self.amount(billed)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sms() -> MeteredPrice {
        MeteredPrice {
            metric: "sms_alerts".into(),
            unit_price: 50,
            included_units: Some(500),
            tiers: None,
        }
    }

    fn images() -> MeteredPrice {
        MeteredPrice {
            metric: "satellite_images".into(),
            unit_price: 5000,
            included_units: Some(100),
            tiers: Some(vec![
                Tier {
                    up_to: Some(1000),
                    unit_price: 5000,
                },
                Tier {
                    up_to: None,
                    unit_price: 3000,
                },
            ]),
        }
    }

    #[test]
    fn flat_price_after_the_allowance() {
        assert_eq!(sms().amount(0), Ok(0));
        assert_eq!(sms().amount(500), Ok(0));
        assert_eq!(sms().amount(501), Ok(50));
        assert_eq!(sms().amount(1_200), Ok(700 * 50));
    }

    #[test]
    fn graduated_tiers() {
        // 100 free, 101–1000 at ฿50, 1001–1500 at ฿30.
        assert_eq!(images().amount(100), Ok(0));
        assert_eq!(images().amount(1_000), Ok(900 * 5000));
        assert_eq!(images().amount(1_500), Ok(900 * 5000 + 500 * 3000));
    }

    proptest! {
        #[test]
        fn never_negative_and_never_decreasing(a in 0_i64..100_000, b in 0_i64..100_000) {
            let (low, high) = (a.min(b), a.max(b));
            for price in [sms(), images()] {
                let (l, h) = (price.amount(low).unwrap(), price.amount(high).unwrap());
                prop_assert!(l >= 0 && l <= h);
            }
        }

        #[test]
        fn invoices_in_parts_add_up_to_the_whole(
            mut cuts in proptest::collection::vec(0_i64..100_000, 0..6),
            total in 0_i64..100_000,
        ) {
            // However a period's usage is split across threshold invoices, the parts add up to
            // the charge for the whole, and no part is negative.
            // The quantities counted at each invoice, the last one the period's whole usage.
            cuts.push(total);
            cuts.sort_unstable();
            let whole = cuts[cuts.len() - 1];
            for price in [sms(), images()] {
                let mut billed = 0;
                let mut sum = 0;
                for &cut in &cuts {
                    let part = price.amount_after(billed, cut).unwrap();
                    prop_assert!(part >= 0);
                    sum += part;
                    billed = cut;
                }
                prop_assert_eq!(sum, price.amount(whole).unwrap());
            }
        }

        #[test]
        fn one_more_unit_costs_one_tier_price(u in 0_i64..50_000) {
            let diff = images().amount(u + 1).unwrap() - images().amount(u).unwrap();
            prop_assert!(diff == 0 || diff == 5000 || diff == 3000);
        }
    }
}
