//! A circuit breaker per provider, after resilience4j: CLOSED → OPEN after N consecutive
//! failures, OPEN for a fixed cool-down, then HALF_OPEN admits exactly one trial call whose
//! result closes or re-opens the breaker. Every transition is returned as a [`Transition`] with
//! its time and reason; reading the state never changes it.
//!
//! Time comes from `tokio::time::Instant`, so tests drive it with a paused clock.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::time::Instant;
use ts_rs::TS;

use crate::error::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// Thresholds of one breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the breaker; zero means the breaker never opens (the
    /// Console provider, the last resort, has none).
    pub failure_threshold: u32,
    /// How long the breaker stays OPEN before admitting a trial call.
    pub open_for: Duration,
}

/// One state change, with why it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// A side-effect-free reading of a breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerReading {
    /// OPEN whose cool-down is over reads as HALF_OPEN: the next call will be a trial.
    pub state: BreakerState,
    pub consecutive_failures: u32,
    pub failure_threshold: u32,
    /// While OPEN: time left before the trial call is allowed.
    pub open_remaining: Option<Duration>,
}

/// The answer to "may I call this provider now?".
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead. `trial` is true for the single HALF_OPEN trial call.
    Admitted {
        trial: bool,
        transition: Option<Transition>,
    },
    /// OPEN (or a trial is already in flight): skip this provider, no network call.
    Rejected { retry_in: Option<Duration> },
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    policy: Mutex<BreakerPolicy>,
    inner: Mutex<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the breaker half-updated in a way that
    // matters more than losing the breaker entirely, so recover the guard.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl CircuitBreaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy: Mutex::new(policy),
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                opened_at: None,
                trial_in_flight: false,
            }),
        }
    }

    pub fn policy(&self) -> BreakerPolicy {
        *lock(&self.policy)
    }

    /// New thresholds apply from the next call; the current state is kept.
    pub fn set_policy(&self, policy: BreakerPolicy) {
        *lock(&self.policy) = policy;
    }

    /// Reads the breaker without changing it.
    pub fn reading(&self) -> BreakerReading {
        let policy = self.policy();
        let inner = lock(&self.inner);
        let (state, open_remaining) = match (inner.state, inner.opened_at) {
            (BreakerState::Open, Some(opened)) => {
                let remaining = policy.open_for.saturating_sub(opened.elapsed());
                if remaining.is_zero() {
                    (BreakerState::HalfOpen, None)
                } else {
                    (BreakerState::Open, Some(remaining))
                }
            }
            (state, _) => (state, None),
        };
        BreakerReading {
            state,
            consecutive_failures: inner.consecutive_failures,
            failure_threshold: policy.failure_threshold,
            open_remaining,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.reading().state
    }

    /// Moves an OPEN breaker whose cool-down is over to HALF_OPEN. The chain calls this before
    /// each call; the app calls it on a timer so the UI sees the transition when it happens.
    pub fn poll(&self) -> Option<Transition> {
        let policy = self.policy();
        let mut inner = lock(&self.inner);
        Self::poll_locked(&mut inner, policy)
    }

    fn poll_locked(inner: &mut Inner, policy: BreakerPolicy) -> Option<Transition> {
        match (inner.state, inner.opened_at) {
            (BreakerState::Open, Some(opened)) if opened.elapsed() >= policy.open_for => {
                inner.state = BreakerState::HalfOpen;
                inner.trial_in_flight = false;
                Some(transition(
                    BreakerState::Open,
                    BreakerState::HalfOpen,
                    format!(
                        "cool-down of {} s is over; next call is a trial",
                        policy.open_for.as_secs()
                    ),
                ))
            }
            _ => None,
        }
    }

    /// Asks to make a call. At most one call is admitted while HALF_OPEN.
    pub fn admit(&self) -> Admission {
        let policy = self.policy();
        let mut inner = lock(&self.inner);
        let transition = Self::poll_locked(&mut inner, policy);
        match inner.state {
            BreakerState::Closed => Admission::Admitted {
                trial: false,
                transition,
            },
            BreakerState::HalfOpen if !inner.trial_in_flight => {
                inner.trial_in_flight = true;
                Admission::Admitted {
                    trial: true,
                    transition,
                }
            }
            BreakerState::HalfOpen => Admission::Rejected { retry_in: None },
            BreakerState::Open => Admission::Rejected {
                retry_in: inner
                    .opened_at
                    .map(|at| policy.open_for.saturating_sub(at.elapsed())),
            },
        }
    }

    /// Gives back an admitted trial that was never made (e.g. the provider had no rate-limit
    /// token), so the next call can be the trial.
    pub fn release_trial(&self) {
        lock(&self.inner).trial_in_flight = false;
    }

    /// Records a successful call: resets the failure count and closes a HALF_OPEN breaker.
    pub fn on_success(&self) -> Option<Transition> {
        let mut inner = lock(&self.inner);
        inner.consecutive_failures = 0;
        inner.trial_in_flight = false;
        if inner.state == BreakerState::HalfOpen {
            inner.state = BreakerState::Closed;
            inner.opened_at = None;
            return Some(transition(
                BreakerState::HalfOpen,
                BreakerState::Closed,
                "trial call succeeded".into(),
            ));
        }
        None
    }

    /// Records a failed call of the given kind. Permanent failures (bad recipient) say nothing
    /// about the provider's health: they free a trial slot but change nothing else.
    pub fn on_failure(&self, kind: ErrorKind, what: &str) -> Option<Transition> {
        let policy = self.policy();
        let mut inner = lock(&self.inner);
        inner.trial_in_flight = false;
        if !kind.trips_breaker() {
            return None;
        }
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        match inner.state {
            BreakerState::HalfOpen => {
                inner.state = BreakerState::Open;
                inner.opened_at = Some(Instant::now());
                Some(transition(
                    BreakerState::HalfOpen,
                    BreakerState::Open,
                    format!(
                        "trial call failed ({what}); open for {} s",
                        policy.open_for.as_secs()
                    ),
                ))
            }
            BreakerState::Closed
                if policy.failure_threshold > 0
                    && inner.consecutive_failures >= policy.failure_threshold =>
            {
                inner.state = BreakerState::Open;
                inner.opened_at = Some(Instant::now());
                Some(transition(
                    BreakerState::Closed,
                    BreakerState::Open,
                    format!(
                        "{} consecutive failures (last: {what}); open for {} s",
                        inner.consecutive_failures,
                        policy.open_for.as_secs()
                    ),
                ))
            }
            _ => None,
        }
    }

    /// Closes the breaker at once, e.g. after an admin rotated the provider's key.
    pub fn reset(&self, reason: &str) -> Option<Transition> {
        let mut inner = lock(&self.inner);
        let from = inner.state;
        inner.state = BreakerState::Closed;
        inner.consecutive_failures = 0;
        inner.opened_at = None;
        inner.trial_in_flight = false;
        (from != BreakerState::Closed)
            .then(|| transition(from, BreakerState::Closed, reason.to_string()))
    }
}

fn transition(from: BreakerState, to: BreakerState, reason: String) -> Transition {
    Transition {
        from,
        to,
        at: Utc::now(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sns() -> CircuitBreaker {
        CircuitBreaker::new(BreakerPolicy {
            failure_threshold: 5,
            open_for: Duration::from_secs(300),
        })
    }
    fn twilio() -> CircuitBreaker {
        CircuitBreaker::new(BreakerPolicy {
            failure_threshold: 3,
            open_for: Duration::from_secs(180),
        })
    }

    fn fail(b: &CircuitBreaker, n: u32) -> Option<Transition> {
        let mut last = None;
        for _ in 0..n {
            assert!(matches!(b.admit(), Admission::Admitted { .. }));
            last = b.on_failure(ErrorKind::Transient, "HTTP 500");
        }
        last
    }

    #[tokio::test(start_paused = true)]
    async fn sns_opens_on_the_fifth_consecutive_failure_and_not_the_fourth() {
        let b = sns();
        assert_eq!(fail(&b, 4), None);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.reading().consecutive_failures, 4);
        let t = fail(&b, 1).expect("fifth failure opens");
        assert_eq!((t.from, t.to), (BreakerState::Closed, BreakerState::Open));
        assert!(t.reason.contains("5 consecutive failures"), "{}", t.reason);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn twilio_opens_after_three_consecutive_auth_failures() {
        let b = twilio();
        for _ in 0..2 {
            b.admit();
            assert_eq!(
                b.on_failure(ErrorKind::Authentication, "Twilio 20003"),
                None
            );
        }
        b.admit();
        assert!(b
            .on_failure(ErrorKind::Authentication, "Twilio 20003")
            .is_some());
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn open_lasts_exactly_the_cool_down() {
        for (b, secs) in [(sns(), 300), (twilio(), 180)] {
            fail(&b, b.policy().failure_threshold);
            tokio::time::advance(Duration::from_secs(secs) - Duration::from_millis(1)).await;
            assert_eq!(b.state(), BreakerState::Open);
            assert_eq!(b.reading().open_remaining, Some(Duration::from_millis(1)));
            assert!(matches!(b.admit(), Admission::Rejected { .. }));
            tokio::time::advance(Duration::from_millis(1)).await;
            assert_eq!(b.state(), BreakerState::HalfOpen, "after {secs} s");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reading_the_state_has_no_side_effects() {
        let b = twilio();
        fail(&b, 3);
        tokio::time::advance(Duration::from_secs(180)).await;
        for _ in 0..3 {
            assert_eq!(b.state(), BreakerState::HalfOpen);
        }
        // The trial slot is still free: reading did not consume it.
        assert!(matches!(b.admit(), Admission::Admitted { trial: true, .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_admits_exactly_one_trial() {
        let b = twilio();
        fail(&b, 3);
        tokio::time::advance(Duration::from_secs(180)).await;
        assert!(matches!(
            b.admit(),
            Admission::Admitted {
                trial: true,
                transition: Some(_)
            }
        ));
        assert!(matches!(b.admit(), Admission::Rejected { .. }));
        assert!(matches!(b.admit(), Admission::Rejected { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn trial_success_closes_and_trial_failure_reopens_for_a_full_cool_down() {
        let b = twilio();
        fail(&b, 3);
        tokio::time::advance(Duration::from_secs(180)).await;
        b.admit();
        let t = b
            .on_failure(ErrorKind::Transient, "HTTP 503")
            .expect("re-opens");
        assert_eq!((t.from, t.to), (BreakerState::HalfOpen, BreakerState::Open));
        tokio::time::advance(Duration::from_secs(179)).await;
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(1)).await;
        b.admit();
        let t = b.on_success().expect("closes");
        assert_eq!(
            (t.from, t.to),
            (BreakerState::HalfOpen, BreakerState::Closed)
        );
        assert_eq!(b.reading().consecutive_failures, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_failure_count() {
        let b = twilio();
        fail(&b, 2);
        b.admit();
        b.on_success();
        fail(&b, 2);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.reading().consecutive_failures, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_do_not_trip() {
        let b = twilio();
        for _ in 0..10 {
            b.admit();
            assert_eq!(b.on_failure(ErrorKind::Permanent, "invalid number"), None);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.reading().consecutive_failures, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn reset_closes_with_the_reason_recorded() {
        let b = twilio();
        fail(&b, 3);
        let t = b.reset("Twilio key rotated by admin").expect("transition");
        assert_eq!(t.to, BreakerState::Closed);
        assert_eq!(t.reason, "Twilio key rotated by admin");
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
