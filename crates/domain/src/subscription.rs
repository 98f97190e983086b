//! The subscription lifecycle: which status follows which action, and the dated state that
//! pausing, resuming, cancelling and renewing change.
//!
//! [`transition`] is the whole state machine as one `match`, so "may I do this?" has one
//! answer everywhere (the API turns [`InvalidTransition`] into 409). [`SubscriptionState`] adds
//! the dates and the scheduled-cancellation flag and keeps their invariants:
//! - `current_period_start < current_period_end`;
//! - `paused_on` is set exactly while `paused`, `canceled_on` exactly once `canceled`;
//! - `canceled` is terminal: every action on it is refused.
//!
//! Decisions a caller must know:
//! - pausing is allowed from `trialing` and `active`, not from `past_due` (settle the debt
//!   first); resuming always returns to `active`, so pausing a trial ends the trial;
//! - resuming moves the current period's end forward by the whole days spent paused, so the
//!   customer keeps the days they paid for;
//! - `cancel_at_period_end` only sets a flag; the cancellation happens when the period (or the
//!   trial) ends, on its end date. While paused the period is frozen, so it waits for resume.

use std::fmt;
use std::str::FromStr;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::period::{Period, PeriodError};
use crate::wire::wire_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Trialing,
    Active,
    Paused,
    PastDue,
    Canceled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Trialing,
        Status::Active,
        Status::Paused,
        Status::PastDue,
        Status::Canceled,
    ];

    /// The wire and database form, e.g. `"past_due"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Trialing => "trialing",
            Status::Active => "active",
            Status::Paused => "paused",
            Status::PastDue => "past_due",
            Status::Canceled => "canceled",
        }
    }

    pub const fn is_terminal(self) -> bool {
        matches!(self, Status::Canceled)
    }

    /// The billing run invoices it when its billing date comes: `trialing`, `active` or
    /// `past_due` (never `paused` or `canceled`).
    pub const fn is_billable(self) -> bool {
        matches!(self, Status::Trialing | Status::Active | Status::PastDue)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string was not one of the five statuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown subscription status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// For decoding a database column (sqlx's `try_from = "String"`).
impl TryFrom<String> for Status {
    type Error = UnknownStatus;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

wire_enum! {
    /// A change to a subscription that its customer is mailed about: the `change` of a
    /// `subscription.updated` event, which is also the change's audit action. A renewal is not
    /// among them: its invoice mail says enough.
    pub enum SubscriptionChange, unknown UnknownSubscriptionChange "subscription change" {
        PlanChanged = "subscription.plan_changed",
        PlanChangeScheduled = "subscription.plan_change_scheduled",
        PendingChangeCanceled = "subscription.pending_change_canceled",
        Paused = "subscription.paused",
        Resumed = "subscription.resumed",
        CancelScheduled = "subscription.cancel_scheduled",
        Canceled = "subscription.canceled",
    }
}

/// Everything that can happen to a subscription, by a person or by the billing engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Pause,
    Resume,
    CancelNow,
    CancelAtPeriodEnd,
    /// Withdraws a scheduled `cancel_at_period_end` ("keep my subscription").
    UndoCancelAtPeriodEnd,
    PaymentFailed,
    PaymentSucceeded,
    TrialEnded,
    /// The current period is over and the next one begins (renewal).
    PeriodEnded,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::Pause,
        Action::Resume,
        Action::CancelNow,
        Action::CancelAtPeriodEnd,
        Action::UndoCancelAtPeriodEnd,
        Action::PaymentFailed,
        Action::PaymentSucceeded,
        Action::TrialEnded,
        Action::PeriodEnded,
    ];

    /// How the action reads in "cannot … a subscription that is …".
    const fn verb(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::CancelNow => "cancel",
            Action::CancelAtPeriodEnd => "schedule the cancellation of",
            Action::UndoCancelAtPeriodEnd => "undo the scheduled cancellation of",
            Action::PaymentFailed => "record a failed payment for",
            Action::PaymentSucceeded => "record a payment for",
            Action::TrialEnded => "end the trial of",
            Action::PeriodEnded => "renew",
        }
    }
}

/// The action is not allowed in the subscription's current status (HTTP 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("cannot {} a subscription that is {}", action.verb(), from.as_str().replace('_', " "))]
pub struct InvalidTransition {
    pub from: Status,
    pub action: Action,
}

/// The status after `action` in status `from`, or why it is not allowed.
///
/// For `PeriodEnded` and `TrialEnded` this is the status when no cancellation is scheduled;
/// [`SubscriptionState`] applies the `cancel_at_period_end` flag on top.
pub fn transition(from: Status, action: Action) -> Result<Status, InvalidTransition> {
    use Action::*;
    use Status::*;
    let next = match (from, action) {
        (Canceled, _) => None,
        (Trialing | Active, Pause) => Some(Paused),
        (Paused, Resume) => Some(Active),
        (_, CancelNow) => Some(Canceled),
        (status, CancelAtPeriodEnd | UndoCancelAtPeriodEnd) => Some(status),
        (Trialing | Active | PastDue, PaymentFailed) => Some(PastDue),
        // Dunning of an invoice issued before the pause goes on; the pause stays.
        (Paused, PaymentFailed) => Some(Paused),
        (PastDue, PaymentSucceeded) => Some(Active),
        (status @ (Trialing | Active | Paused), PaymentSucceeded) => Some(status),
        (Trialing, TrialEnded) => Some(Active),
        // An unpaid subscription still renews (and is invoiced); it stays past due.
        (status @ (Active | PastDue), PeriodEnded) => Some(status),
        _ => None,
    };
    next.ok_or(InvalidTransition { from, action })
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubscriptionError {
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    #[error("cannot resume on {resumed_on}, before the pause on {paused_on}")]
    ResumedBeforePause {
        paused_on: NaiveDate,
        resumed_on: NaiveDate,
    },
    #[error(transparent)]
    Period(#[from] PeriodError),
    #[error("inconsistent subscription state: {0}")]
    Inconsistent(&'static str),
}

/// A subscription's lifecycle status with its dates; every method returns the next state and
/// leaves `self` untouched when it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SubscriptionState {
    status: Status,
    current_period_start: NaiveDate,
    current_period_end: NaiveDate,
    paused_on: Option<NaiveDate>,
    cancel_at_period_end: bool,
    canceled_on: Option<NaiveDate>,
}

impl SubscriptionState {
    /// A new subscription in its trial; the trial is its first period.
    pub fn trialing(trial: Period) -> SubscriptionState {
        SubscriptionState::fresh(Status::Trialing, trial)
    }

    /// A new subscription without a trial.
    pub fn active(period: Period) -> SubscriptionState {
        SubscriptionState::fresh(Status::Active, period)
    }

    fn fresh(status: Status, period: Period) -> SubscriptionState {
        SubscriptionState {
            status,
            current_period_start: period.start(),
            current_period_end: period.end(),
            paused_on: None,
            cancel_at_period_end: false,
            canceled_on: None,
        }
    }

    /// Rebuilds a state from stored fields, checking the invariants. A set
    /// `cancel_at_period_end` on a canceled subscription is cleared rather than refused:
    /// nothing is scheduled any more.
    pub fn restore(
        status: Status,
        current_period: Period,
        paused_on: Option<NaiveDate>,
        cancel_at_period_end: bool,
        canceled_on: Option<NaiveDate>,
    ) -> Result<SubscriptionState, SubscriptionError> {
        if paused_on.is_some() != (status == Status::Paused) {
            return Err(SubscriptionError::Inconsistent(
                "paused_on must be set exactly when the status is paused",
            ));
        }
        if canceled_on.is_some() != (status == Status::Canceled) {
            return Err(SubscriptionError::Inconsistent(
                "canceled_on must be set exactly when the status is canceled",
            ));
        }
        Ok(SubscriptionState {
            status,
            current_period_start: current_period.start(),
            current_period_end: current_period.end(),
            paused_on,
            cancel_at_period_end: cancel_at_period_end && status != Status::Canceled,
            canceled_on,
        })
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn current_period(&self) -> Period {
        // Every constructor and method keeps start < end.
        Period::new(self.current_period_start, self.current_period_end)
            .expect("the current period is never empty")
    }

    pub fn current_period_start(&self) -> NaiveDate {
        self.current_period_start
    }

    /// The first day after the current period (periods are half-open).
    pub fn current_period_end(&self) -> NaiveDate {
        self.current_period_end
    }

    pub fn paused_on(&self) -> Option<NaiveDate> {
        self.paused_on
    }

    pub fn cancel_at_period_end(&self) -> bool {
        self.cancel_at_period_end
    }

    pub fn canceled_on(&self) -> Option<NaiveDate> {
        self.canceled_on
    }

    fn with_status(self, action: Action) -> Result<SubscriptionState, SubscriptionError> {
        let status = transition(self.status, action)?;
        Ok(SubscriptionState { status, ..self })
    }

    pub fn pause(self, on: NaiveDate) -> Result<SubscriptionState, SubscriptionError> {
        let next = self.with_status(Action::Pause)?;
        Ok(SubscriptionState {
            paused_on: Some(on),
            ..next
        })
    }

    /// Back to `active`; the current period ends later by the whole days spent paused.
    pub fn resume(self, on: NaiveDate) -> Result<SubscriptionState, SubscriptionError> {
        let next = self.with_status(Action::Resume)?;
        let paused_on = self.paused_on.ok_or(SubscriptionError::Inconsistent(
            "paused without a pause date",
        ))?;
        if on < paused_on {
            return Err(SubscriptionError::ResumedBeforePause {
                paused_on,
                resumed_on: on,
            });
        }
        let paused_days = (on - paused_on).num_days().unsigned_abs();
        let end = self
            .current_period_end
            .checked_add_days(Days::new(paused_days))
            .ok_or(PeriodError::OutOfRange)?;
        Ok(SubscriptionState {
            current_period_end: end,
            paused_on: None,
            ..next
        })
    }

    pub fn cancel_now(self, on: NaiveDate) -> Result<SubscriptionState, SubscriptionError> {
        let next = self.with_status(Action::CancelNow)?;
        Ok(SubscriptionState {
            paused_on: None,
            cancel_at_period_end: false,
            canceled_on: Some(on),
            ..next
        })
    }

    pub fn schedule_cancel_at_period_end(self) -> Result<SubscriptionState, SubscriptionError> {
        let next = self.with_status(Action::CancelAtPeriodEnd)?;
        Ok(SubscriptionState {
            cancel_at_period_end: true,
            ..next
        })
    }

    pub fn undo_cancel_at_period_end(self) -> Result<SubscriptionState, SubscriptionError> {
        let next = self.with_status(Action::UndoCancelAtPeriodEnd)?;
        Ok(SubscriptionState {
            cancel_at_period_end: false,
            ..next
        })
    }

    pub fn payment_failed(self) -> Result<SubscriptionState, SubscriptionError> {
        self.with_status(Action::PaymentFailed)
    }

    pub fn payment_succeeded(self) -> Result<SubscriptionState, SubscriptionError> {
        self.with_status(Action::PaymentSucceeded)
    }

    /// The trial is over: the first paid period runs from the trial's end to `next_period_end`,
    /// unless a cancellation was scheduled, which then takes effect on the trial's end date.
    pub fn end_trial(
        self,
        next_period_end: NaiveDate,
    ) -> Result<SubscriptionState, SubscriptionError> {
        self.roll_over(Action::TrialEnded, next_period_end)
    }

    /// The current period is over: the next one runs to `next_period_end` (see
    /// [`crate::period::add_cycle`]), unless a cancellation was scheduled for this period end.
    pub fn end_period(
        self,
        next_period_end: NaiveDate,
    ) -> Result<SubscriptionState, SubscriptionError> {
        self.roll_over(Action::PeriodEnded, next_period_end)
    }

    fn roll_over(
        self,
        action: Action,
        next_period_end: NaiveDate,
    ) -> Result<SubscriptionState, SubscriptionError> {
        let next = self.with_status(action)?;
        if self.cancel_at_period_end {
            return self.cancel_now(self.current_period_end);
        }
        let period = Period::new(self.current_period_end, next_period_end)?;
        Ok(SubscriptionState {
            current_period_start: period.start(),
            current_period_end: period.end(),
            ..next
        })
    }
}

/// The tests live in `subscription/tests.rs` to keep this file about the rules.
#[cfg(test)]
mod tests;
