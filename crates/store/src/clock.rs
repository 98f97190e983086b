//! The one clock. Nothing in Satang reads the system time except [`Clock::now`].
//!
//! With the test clock enabled (`SATANG_TEST_CLOCK=1`) the clock keeps ticking but can be moved
//! forward by an offset, so a test can live through months of billing in seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Clone, Debug)]
pub struct Clock(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    movable: AtomicBool,
    offset_micros: AtomicI64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClockError {
    #[error("the test clock is not enabled")]
    NotMovable,
    #[error("the test clock only moves forward")]
    Backwards,
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Inner {
            movable: AtomicBool::new(false),
            offset_micros: AtomicI64::new(0),
        }))
    }

    /// A clock that [`Clock::move_to`] can move forward, starting `offset_micros` ahead of the
    /// wall clock (a restarted server continues where the test left it).
    pub fn test(offset_micros: i64) -> Clock {
        Clock(Arc::new(Inner {
            movable: AtomicBool::new(true),
            offset_micros: AtomicI64::new(offset_micros),
        }))
    }

    pub fn is_test(&self) -> bool {
        self.0.movable.load(Ordering::Relaxed)
    }

    pub fn now(&self) -> DateTime<Utc> {
        // Microseconds: the precision both databases store, so a time read back equals the
        // time written.
        let now =
            Utc::now() + TimeDelta::microseconds(self.0.offset_micros.load(Ordering::Relaxed));
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }

    pub fn offset_micros(&self) -> i64 {
        self.0.offset_micros.load(Ordering::Relaxed)
    }

    /// Moves a test clock so that `now()` reads `target`; returns the new offset.
    pub fn move_to(&self, target: DateTime<Utc>) -> Result<i64, ClockError> {
        if !self.is_test() {
            return Err(ClockError::NotMovable);
        }
        if target < self.now() {
            return Err(ClockError::Backwards);
        }
        // One microsecond more than the truncated difference, so `now()` never reads earlier
        // than the target.
        let offset = (target - Utc::now())
            .num_microseconds()
            .map_or(i64::MAX, |us| us.saturating_add(1));
        self.0.offset_micros.store(offset, Ordering::Relaxed);
        Ok(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_cannot_move() {
        let clock = Clock::system();
        assert_eq!(
            clock.move_to(clock.now() + TimeDelta::days(1)),
            Err(ClockError::NotMovable)
        );
    }

    #[test]
    fn test_clock_moves_forward_only() {
        let clock = Clock::test(0);
        let target = clock.now() + TimeDelta::days(40);
        clock.move_to(target).unwrap();
        let now = clock.now();
        // The clock keeps ticking; a loaded machine may pause this thread for a while.
        assert!(
            now >= target && now < target + TimeDelta::seconds(60),
            "{now} vs {target}"
        );
        assert_eq!(
            clock.move_to(target - TimeDelta::days(1)),
            Err(ClockError::Backwards)
        );
    }
}
