//! Entitlements (SPEC §2.12): what a customer may use — the features of the plans of its
//! `trialing`, `active` and `past_due` subscriptions, and their limits with this period's usage
//! of the metric named like each limit. A suspended customer gets nothing.
//!
//! [`Entitlements::compose`] is the rule, pure; [`load_entitlements`] reads what it needs. The
//! hot-path check answers from [`crate::entitlement_cache`].

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use uuid::Uuid;

use satang_domain::CustomerStatus;
use satang_store::entitlements::{self as store, LivePlan, WindowUsage};
use satang_store::{Db, Scope, customers};

use crate::Result;

/// A feature and the subscription that grants it (the oldest, when several do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureGrant {
    pub key: String,
    pub subscription_id: Uuid,
    pub plan_code: String,
}

/// A limit summed over the subscriptions that set it, and the usage against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitUsage {
    pub key: String,
    /// `None`: unlimited (a plan says `null`).
    pub limit: Option<i64>,
    pub usage: i64,
}

impl LimitUsage {
    /// What is left (never below 0); `None` when unlimited.
    pub fn remaining(&self) -> Option<i64> {
        self.limit.map(|l| l.saturating_sub(self.usage).max(0))
    }
}

/// Why a check said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    NoSubscription,
    NotInPlan,
    LimitReached,
    Suspended,
}

impl Denial {
    pub fn as_str(self) -> &'static str {
        match self {
            Denial::NoSubscription => "no_subscription",
            Denial::NotInPlan => "not_in_plan",
            Denial::LimitReached => "limit_reached",
            Denial::Suspended => "suspended",
        }
    }
}

/// The answer to "may this customer use `feature`?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub allowed: bool,
    pub reason: Option<Denial>,
    /// For a limit: the limit (`Some(None)`: unlimited) and the usage against it.
    pub limit: Option<Option<i64>>,
    pub usage: Option<i64>,
}

/// A customer's entitlements at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlements {
    pub customer_id: Uuid,
    pub suspended: bool,
    /// Whether any subscription is live (a plan may grant no feature at all).
    pub subscribed: bool,
    pub features: Vec<FeatureGrant>,
    pub limits: Vec<LimitUsage>,
    /// When the earliest current period ends: usage counts from zero after it.
    pub period_ends: Option<DateTime<Utc>>,
}

impl Entitlements {
    /// The rule. `plans` are the live subscriptions, oldest first; `usage` their usage in their
    /// current periods. Limits of several subscriptions add up; one unlimited makes the sum
    /// unlimited. A plan's limit that is not a whole number ≥ 0 or null is ignored.
    pub fn compose(
        customer_id: Uuid,
        status: CustomerStatus,
        plans: &[LivePlan],
        usage: &[WindowUsage],
    ) -> Entitlements {
        if status != CustomerStatus::Active {
            // Suspended (or deleted): nothing, whatever the subscriptions say.
            return Entitlements {
                customer_id,
                suspended: status == CustomerStatus::Suspended,
                subscribed: false,
                features: Vec::new(),
                limits: Vec::new(),
                period_ends: None,
            };
        }
        let mut features: Vec<FeatureGrant> = Vec::new();
        let mut limits: Vec<LimitUsage> = Vec::new();
        for plan in plans {
            for key in plan.features.0.as_array().into_iter().flatten() {
                let Some(key) = key.as_str() else { continue };
                if !features.iter().any(|f| f.key == key) {
                    features.push(FeatureGrant {
                        key: key.to_owned(),
                        subscription_id: plan.subscription_id,
                        plan_code: plan.plan_code.clone(),
                    });
                }
            }
            for (key, value) in plan.limits.0.as_object().into_iter().flatten() {
                let limit = match value {
                    serde_json::Value::Null => None,
                    v => match v.as_i64().filter(|n| *n >= 0) {
                        Some(n) => Some(n),
                        None => continue,
                    },
                };
                let used: i64 = usage
                    .iter()
                    .filter(|u| u.subscription_id == plan.subscription_id && &u.metric == key)
                    .map(|u| u.quantity)
                    .sum();
                match limits.iter_mut().find(|l| &l.key == key) {
                    Some(sum) => {
                        sum.limit = sum.limit.zip(limit).map(|(a, b)| a.saturating_add(b));
                        sum.usage = sum.usage.saturating_add(used);
                    }
                    None => limits.push(LimitUsage {
                        key: key.clone(),
                        limit,
                        usage: used,
                    }),
                }
            }
        }
        limits.sort_by(|a, b| a.key.cmp(&b.key));
        Entitlements {
            customer_id,
            suspended: false,
            subscribed: !plans.is_empty(),
            features,
            limits,
            period_ends: plans
                .iter()
                .map(|p| bangkok_midnight(p.current_period_end))
                .min(),
        }
    }

    /// May the customer use `feature` (a feature or a limit's key)? A limit is reached when
    /// the usage is at or above it.
    pub fn check(&self, feature: &str) -> Check {
        let denied = |reason| Check {
            allowed: false,
            reason: Some(reason),
            limit: None,
            usage: None,
        };
        if self.suspended {
            return denied(Denial::Suspended);
        }
        if !self.subscribed {
            return denied(Denial::NoSubscription);
        }
        if let Some(l) = self.limits.iter().find(|l| l.key == feature) {
            let reached = l.limit.is_some_and(|limit| l.usage >= limit);
            return Check {
                allowed: !reached,
                reason: reached.then_some(Denial::LimitReached),
                limit: Some(l.limit),
                usage: Some(l.usage),
            };
        }
        if self.features.iter().any(|f| f.key == feature) {
            return Check {
                allowed: true,
                reason: None,
                limit: None,
                usage: None,
            };
        }
        denied(Denial::NotInPlan)
    }
}

/// The start of a Bangkok calendar day (billing dates are Bangkok dates, UTC+7 all year).
pub(crate) fn bangkok_midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc() - TimeDelta::hours(7))
        .unwrap_or_default()
}

/// A customer's entitlements now, read from the database; `None` when the customer does not
/// exist or is outside `scope`.
pub async fn load_entitlements(
    db: &Db,
    scope: Scope,
    customer_id: Uuid,
) -> Result<Option<Entitlements>> {
    let Some(customer) = customers::get(db, scope, customer_id).await? else {
        return Ok(None);
    };
    if customer.status != CustomerStatus::Active {
        return Ok(Some(Entitlements::compose(
            customer_id,
            customer.status,
            &[],
            &[],
        )));
    }
    let plans = store::live_plans(db, customer_id).await?;
    // Usage only of subscriptions whose plan sets limits.
    let mut windows = Vec::new();
    for plan in &plans {
        if plan.limits.0.as_object().is_some_and(|o| !o.is_empty()) {
            windows.push((
                plan.subscription_id,
                bangkok_midnight(plan.current_period_start),
                bangkok_midnight(plan.current_period_end),
            ));
        }
    }
    let usage = store::usage_in_windows(db, &windows).await?;
    Ok(Some(Entitlements::compose(
        customer_id,
        customer.status,
        &plans,
        &usage,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use satang_store::Json;
    use serde_json::json;

    fn plan(code: &str, features: serde_json::Value, limits: serde_json::Value) -> LivePlan {
        LivePlan {
            subscription_id: Uuid::now_v7(),
            current_period_start: NaiveDate::from_ymd_opt(2030, 1, 10).unwrap(),
            current_period_end: NaiveDate::from_ymd_opt(2030, 2, 10).unwrap(),
            plan_code: code.into(),
            features: Json(features),
            limits: Json(limits),
        }
    }

    fn used(p: &LivePlan, metric: &str, quantity: i64) -> WindowUsage {
        WindowUsage {
            subscription_id: p.subscription_id,
            metric: metric.into(),
            quantity,
        }
    }

    #[test]
    fn features_and_limits_come_from_live_plans() {
        let customer = Uuid::now_v7();
        let pro = plan(
            "PRO",
            json!(["reports", "sms"]),
            json!({"farms": 3, "sensors": null}),
        );
        let e = Entitlements::compose(
            customer,
            CustomerStatus::Active,
            std::slice::from_ref(&pro),
            &[used(&pro, "farms", 2), used(&pro, "other", 9)],
        );
        assert_eq!(
            e.check("reports"),
            Check {
                allowed: true,
                reason: None,
                limit: None,
                usage: None
            }
        );
        assert_eq!(e.check("export").reason, Some(Denial::NotInPlan));
        let farms = e.check("farms");
        assert_eq!(
            (farms.allowed, farms.limit, farms.usage),
            (true, Some(Some(3)), Some(2))
        );
        let sensors = e.check("sensors");
        assert_eq!((sensors.allowed, sensors.limit), (true, Some(None)));
        assert_eq!(e.limits[0].remaining(), Some(1));
        assert_eq!(e.limits[1].remaining(), None);
        assert_eq!(e.period_ends, Some("2030-02-09T17:00:00Z".parse().unwrap()));
    }

    #[test]
    fn a_limit_is_reached_at_its_value() {
        let pro = plan("PRO", json!([]), json!({"farms": 3}));
        let e = Entitlements::compose(
            Uuid::now_v7(),
            CustomerStatus::Active,
            std::slice::from_ref(&pro),
            &[used(&pro, "farms", 3)],
        );
        let check = e.check("farms");
        assert_eq!(
            (check.allowed, check.reason, check.usage),
            (false, Some(Denial::LimitReached), Some(3))
        );
        assert_eq!(e.limits[0].remaining(), Some(0));
        let over = Entitlements::compose(
            Uuid::now_v7(),
            CustomerStatus::Active,
            std::slice::from_ref(&pro),
            &[used(&pro, "farms", 5)],
        );
        assert_eq!(over.limits[0].remaining(), Some(0));
    }

    #[test]
    fn limits_of_several_subscriptions_add_up() {
        let a = plan("PRO", json!(["x"]), json!({"farms": 3, "users": 2}));
        let b = plan(
            "TEAM",
            json!(["x", "y"]),
            json!({"farms": 5, "users": null, "bad": "z"}),
        );
        let e = Entitlements::compose(
            Uuid::now_v7(),
            CustomerStatus::Active,
            &[a.clone(), b.clone()],
            &[used(&a, "farms", 1), used(&b, "farms", 4)],
        );
        let farms = &e.limits[0];
        assert_eq!((farms.limit, farms.usage), (Some(8), 5));
        assert_eq!(e.limits[1].limit, None, "one unlimited makes it unlimited");
        assert_eq!(e.limits.len(), 2, "a limit that is no number is ignored");
        assert_eq!(e.features[0].subscription_id, a.subscription_id);
        assert_eq!(e.features[1].plan_code, "TEAM");
    }

    #[test]
    fn suspended_or_unsubscribed_customers_get_nothing() {
        let pro = plan("PRO", json!(["reports"]), json!({}));
        let suspended = Entitlements::compose(
            Uuid::now_v7(),
            CustomerStatus::Suspended,
            std::slice::from_ref(&pro),
            &[],
        );
        assert!(suspended.features.is_empty());
        assert_eq!(suspended.check("reports").reason, Some(Denial::Suspended));
        let none = Entitlements::compose(Uuid::now_v7(), CustomerStatus::Active, &[], &[]);
        assert_eq!(none.check("reports").reason, Some(Denial::NoSubscription));
        let deleted = Entitlements::compose(Uuid::now_v7(), CustomerStatus::Deleted, &[pro], &[]);
        assert_eq!(
            deleted.check("reports").reason,
            Some(Denial::NoSubscription)
        );
    }
}
