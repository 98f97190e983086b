//! Limits on attempts that guess (SPEC §2.1): failed logins per client address and per account,
//! and signups per client address and per e-mail (every signup attempt counts as a "failure"
//! here: its answer says whether an address has an account).
//!
//! Each key counts failures in a fixed window; once the count reaches the limit, further
//! attempts are refused until the window ends, and the caller learns how long to wait. Counts
//! live in this process; behind a load balancer each process limits on its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max_failures: u32,
    pub window: Duration,
}

#[derive(Debug)]
struct Window {
    started: DateTime<Utc>,
    failures: u32,
}

#[derive(Debug)]
pub struct FailureLimiter {
    limit: Limit,
    windows: Mutex<HashMap<String, Window>>,
}

impl FailureLimiter {
    pub fn new(limit: Limit) -> Self {
        FailureLimiter {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn window(&self) -> TimeDelta {
        TimeDelta::from_std(self.limit.window).unwrap_or(TimeDelta::minutes(15))
    }

    /// `Err(retry_after)` when `key` has used up its failures in the current window.
    pub fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get(key) {
            Some(w) if w.failures >= self.limit.max_failures && now < w.started + self.window() => {
                let wait = (w.started + self.window() - now)
                    .to_std()
                    .unwrap_or_default();
                Err(wait.max(Duration::from_secs(1)))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, key: &str, now: DateTime<Utc>) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 100_000 {
            // Bound memory under a spray of distinct keys: forget windows that have ended.
            let window = self.window();
            windows.retain(|_, w| now < w.started + window);
        }
        let window = self.window();
        let entry = windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= entry.started + window {
            *entry = Window {
                started: now,
                failures: 0,
            };
        }
        entry.failures += 1;
    }

    pub fn reset(&self, key: &str) {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_unlocks_after_the_window() {
        let limiter = FailureLimiter::new(Limit {
            max_failures: 3,
            window: Duration::from_secs(60),
        });
        let t0 = Utc::now();
        for _ in 0..3 {
            assert!(limiter.check("a", t0).is_ok());
            limiter.record_failure("a", t0);
        }
        let wait = limiter.check("a", t0).unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait >= Duration::from_secs(59));
        assert!(limiter.check("b", t0).is_ok());
        assert!(limiter.check("a", t0 + TimeDelta::seconds(61)).is_ok());
        limiter.reset("a");
        assert!(limiter.check("a", t0).is_ok());
    }
}
