//! The in-memory entitlements that `GET /api/entitlements/check` answers from (SPEC §2.12):
//! the seller's software asks on its hot path, so an answer must not wait for the database.
//!
//! An entry is a customer's [`Entitlements`], loaded on first use and kept until something
//! that changes them happens:
//!
//! - **on this process**, the request that made the change calls [`EntitlementCache::forget`]
//!   (or [`EntitlementCache::forget_everyone`]) as soon as its operation returns;
//! - **on every process sharing a PostgreSQL**, the change's transaction announced it
//!   (`satang_store::entitlement_signals`), and [`EntitlementCache::listen`] forgets the
//!   customers named as the announcement arrives, milliseconds after the commit.
//!
//! Two guards keep a load from putting back what a change just made stale: a load that began
//! before a customer was forgotten is answered but not kept, and neither is one within
//! [`SETTLE`] of it being forgotten (a request with an `Idempotency-Key` commits only after its
//! handler returns, so "forgotten" can come a moment before the commit). An entry also expires
//! when the earliest of its subscriptions' periods ends (usage starts again from zero) and after
//! [`MAX_AGE`] in any case, which bounds how long a change without an announcement (a billing
//! run's renewals and cancellations at period end on SQLite) can go unseen.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use satang_store::entitlement_signals::{Changed, Listener};
use satang_store::{Db, Scope};

use crate::Result;
use crate::entitlements::{Entitlements, load_entitlements};

/// The longest an entry is used without being read again.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// How long after being forgotten a customer's loads are answered but not kept.
pub const SETTLE: Duration = Duration::from_secs(1);

/// Customers held at most (an entry is a few hundred bytes).
const CAPACITY: usize = 200_000;

#[derive(Clone)]
struct Entry {
    /// `None`: no such customer.
    value: Option<Arc<Entitlements>>,
    loaded: Instant,
    /// When a period ends; past it the entry is stale.
    until: Option<DateTime<Utc>>,
}

pub struct EntitlementCache {
    entries: quick_cache::sync::Cache<Uuid, Entry>,
    /// Customer → (the change number when forgotten, when).
    forgotten: quick_cache::sync::Cache<Uuid, (u64, Instant)>,
    /// Counts every forgetting; a load notes it when it starts.
    changes: AtomicU64,
    /// The change number of the last [`EntitlementCache::forget_everyone`].
    everyone_forgotten: AtomicU64,
}

impl Default for EntitlementCache {
    fn default() -> Self {
        Self::new()
    }
}

impl EntitlementCache {
    pub fn new() -> Self {
        EntitlementCache {
            entries: quick_cache::sync::Cache::new(CAPACITY),
            forgotten: quick_cache::sync::Cache::new(CAPACITY),
            changes: AtomicU64::new(0),
            everyone_forgotten: AtomicU64::new(0),
        }
    }

    /// The customer's entitlements: from memory, or loaded (and kept) on a miss. `None` when
    /// the customer does not exist. Callers check tenancy before asking.
    pub async fn get(
        &self,
        db: &Db,
        customer_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<Entitlements>>> {
        if let Some(entry) = self.entries.get(&customer_id)
            && entry.loaded.elapsed() < MAX_AGE
            && entry.until.is_none_or(|until| now < until)
        {
            return Ok(entry.value);
        }
        let started = self.changes.load(Ordering::SeqCst);
        let value = load_entitlements(db, Scope::All, customer_id)
            .await?
            .map(Arc::new);
        self.keep(customer_id, value.clone(), started, now);
        Ok(value)
    }

    /// Keeps a loaded value unless a change came after the load began (its number is above
    /// `started`, the count when the load began) or is still settling.
    fn keep(
        &self,
        customer_id: Uuid,
        value: Option<Arc<Entitlements>>,
        started: u64,
        now: DateTime<Utc>,
    ) {
        if self.everyone_forgotten.load(Ordering::SeqCst) > started {
            return;
        }
        if let Some((number, at)) = self.forgotten.get(&customer_id)
            && (number > started || at.elapsed() < SETTLE)
        {
            return;
        }
        let until = value.as_ref().and_then(|e| e.period_ends);
        if until.is_some_and(|until| until <= now) {
            // The period ended and the billing run has not renewed it yet: ask again next time.
            return;
        }
        self.entries.insert(
            customer_id,
            Entry {
                value,
                loaded: Instant::now(),
                until,
            },
        );
    }

    /// These customers' entitlements changed: the next question reads them again.
    pub fn forget(&self, customers: &[Uuid]) {
        for customer in customers {
            let number = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
            self.forgotten.insert(*customer, (number, Instant::now()));
            self.entries.remove(customer);
        }
    }

    /// Anyone's entitlements may have changed (a plan edited, the clock moved).
    pub fn forget_everyone(&self) {
        let number = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        self.everyone_forgotten.store(number, Ordering::SeqCst);
        self.entries.clear();
    }

    /// Forgets what other processes on the same PostgreSQL announce, until the task is
    /// aborted; `None` on SQLite (one process).
    pub async fn listen(self: &Arc<Self>, db: &Db) -> Result<Option<tokio::task::JoinHandle<()>>> {
        let Some(mut listener) = Listener::start(db).await? else {
            return Ok(None);
        };
        let cache = Arc::downgrade(self);
        Ok(Some(tokio::spawn(async move {
            loop {
                let changed = listener.next().await;
                let Some(cache) = cache.upgrade() else {
                    return;
                };
                match changed {
                    Changed::Customers(ids) => cache.forget(&ids),
                    Changed::Everyone => cache.forget_everyone(),
                }
            }
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entitlements::Entitlements;
    use satang_domain::CustomerStatus;

    fn some(customer: Uuid) -> Option<Arc<Entitlements>> {
        Some(Arc::new(Entitlements::compose(
            customer,
            CustomerStatus::Active,
            &[],
            &[],
        )))
    }

    fn now() -> DateTime<Utc> {
        "2030-01-15T03:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_load_is_kept_until_its_customer_is_forgotten() {
        let cache = EntitlementCache::new();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let started = cache.changes.load(Ordering::SeqCst);
        cache.keep(a, some(a), started, now());
        cache.keep(b, some(b), started, now());
        assert!(cache.entries.get(&a).is_some());
        cache.forget(&[a]);
        assert!(cache.entries.get(&a).is_none());
        assert!(cache.entries.get(&b).is_some(), "others stay");
        cache.forget_everyone();
        assert!(cache.entries.get(&b).is_none());
    }

    #[test]
    fn a_load_that_raced_a_change_is_not_kept() {
        let cache = EntitlementCache::new();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let started = cache.changes.load(Ordering::SeqCst);
        cache.forget(&[a]);
        // Began before `a` was forgotten: what it read may be stale.
        cache.keep(a, some(a), started, now());
        assert!(cache.entries.get(&a).is_none());
        // Began after, but within the settling time of the change.
        let later = cache.changes.load(Ordering::SeqCst);
        cache.keep(a, some(a), later, now());
        assert!(cache.entries.get(&a).is_none());
        // Another customer is not affected by `a`'s change…
        cache.keep(b, some(b), started, now());
        assert!(cache.entries.get(&b).is_some());
        // …but is by everyone's.
        cache.forget_everyone();
        cache.keep(b, some(b), later, now());
        assert!(cache.entries.get(&b).is_none());
        let after = cache.changes.load(Ordering::SeqCst);
        cache.keep(b, some(b), after, now());
        assert!(cache.entries.get(&b).is_some());
    }

    #[test]
    fn an_ended_period_is_not_kept() {
        let cache = EntitlementCache::new();
        let a = Uuid::now_v7();
        let mut ended = Entitlements::compose(a, CustomerStatus::Active, &[], &[]);
        ended.period_ends = Some(now());
        let started = cache.changes.load(Ordering::SeqCst);
        cache.keep(a, Some(Arc::new(ended.clone())), started, now());
        assert!(cache.entries.get(&a).is_none());
        ended.period_ends = Some(now() + chrono::TimeDelta::days(1));
        cache.keep(a, Some(Arc::new(ended)), started, now());
        assert!(cache.entries.get(&a).is_some());
    }
}
