//! Tests of the subscription state machine: the transition table, the dated state, and a
//! property test that runs random action sequences against the invariants.

use super::*;
use crate::period::{BillingCycle, add_cycle};
use chrono::Datelike;
use proptest::prelude::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn january() -> Period {
    Period::new(d(2026, 1, 1), d(2026, 2, 1)).unwrap()
}

#[test]
fn the_spec_examples_are_invalid() {
    let resume_active = transition(Status::Active, Action::Resume).unwrap_err();
    assert_eq!(
        resume_active.to_string(),
        "cannot resume a subscription that is active"
    );
    let pause_canceled = transition(Status::Canceled, Action::Pause).unwrap_err();
    assert_eq!(
        pause_canceled.to_string(),
        "cannot pause a subscription that is canceled"
    );
    let past_due = transition(Status::PastDue, Action::Pause).unwrap_err();
    assert_eq!(
        past_due.to_string(),
        "cannot pause a subscription that is past due"
    );
}

#[test]
fn transition_table() {
    use Action::*;
    use Status::*;
    let allowed = [
        (Trialing, Pause, Paused),
        (Active, Pause, Paused),
        (Paused, Resume, Active),
        (Trialing, CancelNow, Canceled),
        (Active, CancelNow, Canceled),
        (Paused, CancelNow, Canceled),
        (PastDue, CancelNow, Canceled),
        (Active, CancelAtPeriodEnd, Active),
        (Paused, CancelAtPeriodEnd, Paused),
        (PastDue, UndoCancelAtPeriodEnd, PastDue),
        (Active, PaymentFailed, PastDue),
        (PastDue, PaymentFailed, PastDue),
        (Paused, PaymentFailed, Paused),
        (PastDue, PaymentSucceeded, Active),
        (Active, PaymentSucceeded, Active),
        (Trialing, TrialEnded, Active),
        (Active, PeriodEnded, Active),
        (PastDue, PeriodEnded, PastDue),
    ];
    for (from, action, to) in allowed {
        assert_eq!(transition(from, action), Ok(to), "{from} + {action:?}");
    }
    let refused = [
        (Active, Resume),
        (Trialing, Resume),
        (PastDue, Resume),
        (Paused, Pause),
        (PastDue, Pause),
        (Active, TrialEnded),
        (Paused, TrialEnded),
        (Trialing, PeriodEnded),
        (Paused, PeriodEnded),
    ];
    for (from, action) in refused {
        assert_eq!(
            transition(from, action),
            Err(InvalidTransition { from, action }),
            "{from} + {action:?}"
        );
    }
    for action in Action::ALL {
        assert!(transition(Canceled, action).is_err(), "{action:?}");
    }
}

#[test]
fn wire_forms() {
    assert_eq!(
        serde_json::to_string(&Status::PastDue).unwrap(),
        "\"past_due\""
    );
    assert_eq!(
        serde_json::from_str::<Action>("\"cancel_at_period_end\"").unwrap(),
        Action::CancelAtPeriodEnd
    );
    for status in Status::ALL {
        assert_eq!(status.as_str().parse::<Status>(), Ok(status));
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            format!("\"{status}\"")
        );
    }
    assert!("cancelled".parse::<Status>().is_err());
}

#[test]
fn resume_extends_the_period_by_the_paused_days() {
    let s = SubscriptionState::active(january());
    let paused = s.pause(d(2026, 1, 10)).unwrap();
    assert_eq!(paused.status(), Status::Paused);
    assert_eq!(paused.paused_on(), Some(d(2026, 1, 10)));
    let resumed = paused.resume(d(2026, 1, 17)).unwrap();
    assert_eq!(resumed.status(), Status::Active);
    assert_eq!(resumed.paused_on(), None);
    assert_eq!(resumed.current_period_start(), d(2026, 1, 1));
    assert_eq!(resumed.current_period_end(), d(2026, 2, 8));
    assert!(matches!(
        paused.resume(d(2026, 1, 9)),
        Err(SubscriptionError::ResumedBeforePause { .. })
    ));
    // A same-day pause and resume changes nothing but the status round trip.
    let same_day = s
        .pause(d(2026, 1, 10))
        .unwrap()
        .resume(d(2026, 1, 10))
        .unwrap();
    assert_eq!(same_day, s);
}

#[test]
fn scheduled_cancellation_happens_at_period_end() {
    let s = SubscriptionState::active(january())
        .schedule_cancel_at_period_end()
        .unwrap();
    assert!(s.cancel_at_period_end());
    assert_eq!(s.status(), Status::Active);
    let ended = s.end_period(d(2026, 3, 1)).unwrap();
    assert_eq!(ended.status(), Status::Canceled);
    assert_eq!(ended.canceled_on(), Some(d(2026, 2, 1)));
    assert!(!ended.cancel_at_period_end());
    assert_eq!(ended.current_period(), january());

    let kept = s.undo_cancel_at_period_end().unwrap();
    let renewed = kept.end_period(d(2026, 3, 1)).unwrap();
    assert_eq!(renewed.status(), Status::Active);
    assert_eq!(
        renewed.current_period(),
        Period::new(d(2026, 2, 1), d(2026, 3, 1)).unwrap()
    );
}

#[test]
fn trial_then_renewals_and_dunning() {
    let trial = Period::new(d(2026, 1, 1), d(2026, 1, 15)).unwrap();
    let s = SubscriptionState::trialing(trial);
    assert!(s.end_period(d(2026, 2, 15)).is_err());
    let s = s.end_trial(d(2026, 2, 15)).unwrap();
    assert_eq!(s.status(), Status::Active);
    assert_eq!(s.current_period_start(), d(2026, 1, 15));
    let s = s.payment_failed().unwrap();
    assert_eq!(s.status(), Status::PastDue);
    let s = s.end_period(d(2026, 3, 15)).unwrap();
    assert_eq!(s.status(), Status::PastDue);
    let s = s.payment_succeeded().unwrap();
    assert_eq!(s.status(), Status::Active);
    assert!(matches!(
        s.end_period(d(2026, 2, 15)),
        Err(SubscriptionError::Period(PeriodError::EmptyPeriod { .. }))
    ));
}

#[test]
fn canceling_clears_the_pause_and_is_final() {
    let s = SubscriptionState::active(january())
        .pause(d(2026, 1, 5))
        .unwrap()
        .cancel_now(d(2026, 1, 6))
        .unwrap();
    assert_eq!(s.status(), Status::Canceled);
    assert_eq!(
        (s.paused_on(), s.canceled_on()),
        (None, Some(d(2026, 1, 6)))
    );
    assert!(s.pause(d(2026, 1, 7)).is_err());
    assert!(s.cancel_now(d(2026, 1, 7)).is_err());
    assert!(s.resume(d(2026, 1, 7)).is_err());
}

#[test]
fn restore_checks_the_invariants() {
    let ok =
        SubscriptionState::restore(Status::Paused, january(), Some(d(2026, 1, 3)), false, None)
            .unwrap();
    assert_eq!(ok.paused_on(), Some(d(2026, 1, 3)));
    assert!(SubscriptionState::restore(Status::Paused, january(), None, false, None).is_err());
    assert!(
        SubscriptionState::restore(Status::Active, january(), None, false, Some(d(2026, 1, 2)))
            .is_err()
    );
    let canceled =
        SubscriptionState::restore(Status::Canceled, january(), None, true, Some(d(2026, 2, 1)))
            .unwrap();
    assert!(!canceled.cancel_at_period_end());
}

/// Applies `action` on `today` the way the API and billing engine would.
fn apply(
    state: SubscriptionState,
    action: Action,
    today: NaiveDate,
) -> Result<SubscriptionState, SubscriptionError> {
    let next_end = add_cycle(
        state.current_period_end(),
        BillingCycle::monthly(),
        state.current_period_start().day(),
    )
    .unwrap();
    match action {
        Action::Pause => state.pause(today),
        Action::Resume => state.resume(today),
        Action::CancelNow => state.cancel_now(today),
        Action::CancelAtPeriodEnd => state.schedule_cancel_at_period_end(),
        Action::UndoCancelAtPeriodEnd => state.undo_cancel_at_period_end(),
        Action::PaymentFailed => state.payment_failed(),
        Action::PaymentSucceeded => state.payment_succeeded(),
        Action::TrialEnded => state.end_trial(next_end),
        Action::PeriodEnded => state.end_period(next_end),
    }
}

fn assert_invariants(s: &SubscriptionState) -> Result<(), TestCaseError> {
    prop_assert!(s.current_period_start() < s.current_period_end());
    prop_assert_eq!(s.paused_on().is_some(), s.status() == Status::Paused);
    prop_assert_eq!(s.canceled_on().is_some(), s.status() == Status::Canceled);
    prop_assert!(!(s.cancel_at_period_end() && s.status() == Status::Canceled));
    Ok(())
}

proptest! {
    #[test]
    fn random_action_sequences_keep_the_invariants(
        trial in any::<bool>(),
        steps in proptest::collection::vec((proptest::sample::select(Action::ALL.to_vec()), 0_u64..20), 0..60),
    ) {
        let mut today = d(2026, 1, 1);
        let first = Period::first(today, BillingCycle::monthly()).unwrap();
        let mut state = if trial {
            SubscriptionState::trialing(first)
        } else {
            SubscriptionState::active(first)
        };
        let mut was_canceled = false;
        for (action, days_later) in steps {
            today = today + Days::new(days_later);
            let expected = transition(state.status(), action);
            match apply(state, action, today) {
                Ok(next) => {
                    prop_assert!(!was_canceled, "canceled must be terminal");
                    let expected = expected.expect("a refused transition was applied");
                    let scheduled_cancel = state.cancel_at_period_end()
                        && matches!(action, Action::PeriodEnded | Action::TrialEnded);
                    if scheduled_cancel {
                        prop_assert_eq!(next.status(), Status::Canceled);
                        prop_assert_eq!(next.canceled_on(), Some(state.current_period_end()));
                    } else {
                        prop_assert_eq!(next.status(), expected);
                    }
                    if action == Action::Resume {
                        let paused_days = (today - state.paused_on().unwrap()).num_days();
                        prop_assert_eq!(
                            (next.current_period_end() - state.current_period_end()).num_days(),
                            paused_days
                        );
                    }
                    assert_invariants(&next)?;
                    was_canceled = next.status().is_terminal();
                    state = next;
                }
                Err(SubscriptionError::InvalidTransition(e)) => {
                    prop_assert_eq!(expected, Err(e));
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }
    }
}
