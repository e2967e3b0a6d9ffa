//! Provider rate limits shared by every instance: GCRA on the server ([`crate::scripts::GCRA`]),
//! one script call per provider call, with no burst — calls to a provider are spaced evenly
//! across all instances together, so that no second of the provider's holds more than
//! `rate_per_second` of them. (The in-process token bucket allows a second's burst: one
//! process alone; a shared quota such as SNS's account limit is what this is for.)
//!
//! The provider counts calls when they arrive, and the way from a slot to the provider (the
//! answer from Redis, a sleep, the SDK, the network) takes longer for some calls than for
//! others. So the calls are spaced a little wider than `1 / rate`: `rate` of them span one
//! second plus [`JITTER_ALLOWANCE`], and calls up to that much later or earlier than their
//! slot still never put `rate + 1` into one second at the provider (at 10/s: 108 ms apart,
//! 9.3 a second).
//!
//! The wait is reserved on the server: a caller that accepts waiting gets a slot at most
//! `max_wait` ahead, sleeps until then and calls — one round trip, no retry.
//!
//! Unreachable, each instance falls back to a token bucket of its own at the rate divided by
//! `[state] instances`. One call that got no answer in time while Redis still counts as
//! reachable is refused instead (the send spills over to the next provider): a slot taken
//! outside the shared schedule could give the provider more than its rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use msgops_core::rate_limit::{RateFuture, RateLimiter, TokenBucket};
use msgops_core::ProviderKind;
use tokio::time::Instant;

use crate::scripts::GCRA;
use crate::{Area, SharedState};

/// The chain's rate limiter, on the shared state.
pub struct SharedRateLimiter {
    state: SharedState,
    /// While the shared state is unreachable: this instance's share of each provider's rate.
    local: Mutex<HashMap<ProviderKind, TokenBucket>>,
}

/// What one GCRA call answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// The slot was taken.
    pub taken: bool,
    /// How long from now the call may go (the wait that was, or would have been, needed).
    pub wait: Duration,
    /// The server's clock, in µs since 1970.
    pub server_now_us: u64,
}

/// How much the way from a slot to the provider may vary between calls without giving the
/// provider more than its rate in one second.
pub const JITTER_ALLOWANCE: Duration = Duration::from_millis(80);

/// How late after its slot a call may still be made: half the allowance, the other half for
/// the way from here to the provider.
const LATE_AT_MOST: Duration = Duration::from_millis(40);

/// The spacing of calls at `per_second`, in µs (at least 1): `per_second` calls span one
/// second and the [`JITTER_ALLOWANCE`].
pub fn interval_us(per_second: f64) -> u64 {
    let span_us = 1_000_000.0 + JITTER_ALLOWANCE.as_micros() as f64;
    let us = (span_us / per_second).round();
    if us.is_finite() && us >= 1.0 {
        us.min(86_400_000_000.0) as u64
    } else {
        1
    }
}

impl SharedRateLimiter {
    pub fn new(state: SharedState) -> Self {
        Self {
            state,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// One GCRA call for `provider` at `per_second`, accepting a wait up to `max_wait`;
    /// `None` when the shared state cannot be used.
    pub async fn reserve(
        &self,
        provider: ProviderKind,
        per_second: f64,
        max_wait: Duration,
    ) -> Option<Gcra> {
        let key = self.state.keys().rate(provider);
        let interval = interval_us(per_second);
        let max_wait_us = u64::try_from(max_wait.as_micros()).unwrap_or(u64::MAX);
        let (taken, wait_us, now_us): (i64, i64, i64) = self
            .state
            .call(Area::RateLimit, |mut conn| async move {
                GCRA.key(key)
                    .arg(interval)
                    .arg(0u64)
                    .arg(max_wait_us)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Some(Gcra {
            taken: taken == 1,
            wait: Duration::from_micros(wait_us.max(0).unsigned_abs()),
            server_now_us: now_us.max(0).unsigned_abs(),
        })
    }

    /// This instance's share of the rate, while the shared state is unreachable.
    fn local_share(&self, provider: ProviderKind, per_second: f64) -> Result<(), Duration> {
        let share = per_second / f64::from(self.state.instances());
        let mut local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = local
            .entry(provider)
            .or_insert_with(|| TokenBucket::new(share));
        if (bucket.per_second() - share).abs() > f64::EPSILON {
            bucket.set_rate(share);
        }
        bucket.try_take()
    }
}

impl RateLimiter for SharedRateLimiter {
    fn acquire(
        &self,
        provider: ProviderKind,
        per_second: f64,
        max_wait: Duration,
    ) -> RateFuture<'_> {
        Box::pin(async move {
            if per_second <= 0.0 {
                return true;
            }
            let give_up = Instant::now() + max_wait;
            loop {
                let asked = Instant::now();
                let left = give_up.saturating_duration_since(asked);
                match self.reserve(provider, per_second, left).await {
                    Some(Gcra {
                        taken: true, wait, ..
                    }) => {
                        // The slot is `wait` after the script ran, which was after `asked`.
                        // (A sleep for a time already passed would still wait for the timer's
                        // next tick.)
                        if asked + wait > Instant::now() {
                            tokio::time::sleep_until(asked + wait).await;
                        }
                        let late = Instant::now().saturating_duration_since(asked + wait);
                        if late <= LATE_AT_MOST {
                            return true;
                        }
                        // Held up (a slow answer, a busy machine): called now, this call could
                        // land among the next slots' calls. Its slot goes unused; another one,
                        // if there is time.
                        tracing::debug!(%provider, late_ms = late.as_millis() as u64, "a rate-limit slot passed while held up; not used");
                        if Instant::now() >= give_up {
                            return false;
                        }
                    }
                    Some(Gcra { taken: false, .. }) => return false,
                    // Not (yet) found unreachable: this one call is refused, not let through.
                    None if self.state.is_up() => return false,
                    None => return self.local_acquire(provider, per_second, max_wait).await,
                }
            }
        })
    }
}

impl SharedRateLimiter {
    /// This instance's share of the rate, waiting at most `max_wait` for it.
    async fn local_acquire(
        &self,
        provider: ProviderKind,
        per_second: f64,
        max_wait: Duration,
    ) -> bool {
        match self.local_share(provider, per_second) {
            Ok(()) => true,
            Err(wait) if wait > max_wait => false,
            Err(wait) => {
                tokio::time::sleep(wait).await;
                self.local_share(provider, per_second).is_ok()
            }
        }
    }
}
