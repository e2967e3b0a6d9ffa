//! Rate limits per provider, ours and theirs.
//!
//! - [`TokenBucket`]: our own limit (AWS SNS 10/s, Twilio 5/s). Taking a token never blocks: the
//!   caller learns how long it would have to wait and decides (wait a bounded time, or spill
//!   over to the next provider).
//! - [`Throttle`]: the provider's limit, learned from a `throttled` answer (HTTP 429). The chain
//!   skips the provider until its `Retry-After` (or [`DEFAULT_RETRY_AFTER`] when it gave none)
//!   instead of opening the breaker; only [`THROTTLES_PER_FAILURE`] throttled answers in a row
//!   within [`THROTTLE_WINDOW`] count, as one failure, toward the breaker.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::provider::ProviderKind;

/// A future a [`RateLimiter`] answers with.
pub type RateFuture<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// Who decides when a provider may be called next, by its `rate_per_second`. The chain asks
/// before every call. Today's default is each provider's own [`TokenBucket`], in this process;
/// a limiter shared by several processes (`msgops-shared-state`) is installed with
/// [`crate::chain::ProviderChain::set_rate_limiter`].
pub trait RateLimiter: Send + Sync {
    /// Waits, at most `max_wait`, for the right to make one call to `provider` (whose rate is
    /// `per_second`; zero or less means unlimited). `true`: call it now. `false`: no right
    /// within `max_wait` (nothing was taken); the chain spills over to the next provider.
    fn acquire(
        &self,
        provider: ProviderKind,
        per_second: f64,
        max_wait: Duration,
    ) -> RateFuture<'_>;
}

/// The in-process limiter: a token, or a wait for one of at most `max_wait` and a second try.
/// The bucket's own rate counts (see [`TokenBucket::set_rate`]); `provider` and `per_second`
/// are the chain's, already in it.
impl RateLimiter for TokenBucket {
    fn acquire(
        &self,
        _provider: ProviderKind,
        _per_second: f64,
        max_wait: Duration,
    ) -> RateFuture<'_> {
        Box::pin(self.take_within(max_wait))
    }
}

#[derive(Debug)]
pub struct TokenBucket {
    inner: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    per_second: f64,
    capacity: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl Bucket {
    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.refilled_at = now;
    }
}

impl TokenBucket {
    /// A bucket refilling `per_second` tokens a second, holding at most `per_second` (one
    /// second's burst). `per_second` of zero or less means unlimited.
    pub fn new(per_second: f64) -> Self {
        let capacity = per_second.max(1.0);
        Self {
            inner: Mutex::new(Bucket {
                per_second,
                capacity,
                tokens: capacity,
                refilled_at: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn per_second(&self) -> f64 {
        self.lock().per_second
    }

    pub fn set_rate(&self, per_second: f64) {
        let mut b = self.lock();
        b.refill();
        b.per_second = per_second;
        b.capacity = per_second.max(1.0);
        b.tokens = b.tokens.min(b.capacity);
    }

    /// Takes one token if there is one; otherwise says how long until there will be.
    pub fn try_take(&self) -> Result<(), Duration> {
        let mut b = self.lock();
        if b.per_second <= 0.0 {
            return Ok(());
        }
        b.refill();
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            // A tiny rate (1e-300/s) means a wait too long for a Duration: saturate, never panic.
            Err(Duration::try_from_secs_f64((1.0 - b.tokens) / b.per_second)
                .unwrap_or(Duration::MAX))
        }
    }

    /// Takes a token, waiting for one if it comes within `max_wait` (then tries once more).
    pub async fn take_within(&self, max_wait: Duration) -> bool {
        match self.try_take() {
            Ok(()) => true,
            Err(wait) if wait > max_wait => false,
            Err(wait) => {
                tokio::time::sleep(wait).await;
                self.try_take().is_ok()
            }
        }
    }

    /// Tokens available now (for the rate-headroom gauge), without taking any.
    pub fn available(&self) -> f64 {
        let mut b = self.lock();
        if b.per_second <= 0.0 {
            return f64::INFINITY;
        }
        b.refill();
        b.tokens
    }
}

/// How long a provider that throttled us without a `Retry-After` is skipped.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The longest `Retry-After` honoured: one answer (or a misread header) cannot take a provider
/// out for longer than the longest default breaker cool-down.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// Throttled answers in a row (within [`THROTTLE_WINDOW`]) that count as one breaker failure.
pub const THROTTLES_PER_FAILURE: u32 = 3;
/// See [`THROTTLES_PER_FAILURE`].
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(60);

/// What the provider's own rate limit told us: skip it until a time, and how many throttled
/// answers came in a row.
#[derive(Debug, Default)]
pub struct Throttle {
    inner: Mutex<ThrottleState>,
}

#[derive(Debug, Default)]
struct ThrottleState {
    until: Option<Instant>,
    in_a_row: u32,
    first_in_a_row: Option<Instant>,
}

/// The verdict on one throttled answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// How long the provider is skipped from now.
    pub wait: Duration,
    /// This answer completes [`THROTTLES_PER_FAILURE`] in a row within [`THROTTLE_WINDOW`]:
    /// count it as one failure toward the breaker (the streak then starts again).
    pub counts_as_failure: bool,
}

impl Throttle {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ThrottleState> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a throttled answer that asked us to wait `retry_after` (None: not said).
    pub fn record(&self, retry_after: Option<Duration>) -> Throttled {
        let wait = retry_after
            .unwrap_or(DEFAULT_RETRY_AFTER)
            .min(MAX_RETRY_AFTER);
        let now = Instant::now();
        let mut s = self.lock();
        s.until = now.checked_add(wait);
        match s.first_in_a_row {
            Some(first) if now.saturating_duration_since(first) <= THROTTLE_WINDOW => {
                s.in_a_row += 1;
            }
            _ => {
                s.in_a_row = 1;
                s.first_in_a_row = Some(now);
            }
        }
        let counts_as_failure = s.in_a_row >= THROTTLES_PER_FAILURE;
        if counts_as_failure {
            s.in_a_row = 0;
            s.first_in_a_row = None;
        }
        Throttled {
            wait,
            counts_as_failure,
        }
    }

    /// Any other answer (delivered, or another kind of failure) ends the streak.
    pub fn answered(&self) {
        let mut s = self.lock();
        s.in_a_row = 0;
        s.first_in_a_row = None;
    }

    /// Forgets everything, e.g. when the provider's implementation (its key) is replaced.
    pub fn clear(&self) {
        *self.lock() = ThrottleState::default();
    }

    /// While the provider is to be skipped: the time left. Reading changes nothing.
    pub fn remaining(&self) -> Option<Duration> {
        let until = self.lock().until?;
        Some(until.saturating_duration_since(Instant::now())).filter(|left| !left.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn allows_one_seconds_burst_then_refills_at_the_rate() {
        let bucket = TokenBucket::new(5.0);
        for _ in 0..5 {
            assert_eq!(bucket.try_take(), Ok(()));
        }
        let wait = bucket
            .try_take()
            .expect_err("sixth call in the same instant is refused");
        assert_eq!(wait, Duration::from_millis(200));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(bucket.try_take(), Ok(()));
        assert!(bucket.try_take().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn zero_rate_means_unlimited() {
        let bucket = TokenBucket::new(0.0);
        for _ in 0..1000 {
            assert_eq!(bucket.try_take(), Ok(()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_tiny_rate_waits_saturate_instead_of_panicking() {
        let bucket = TokenBucket::new(1e-300);
        assert_eq!(bucket.try_take(), Ok(()));
        assert_eq!(bucket.try_take(), Err(Duration::MAX));
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_provider_is_skipped_for_its_retry_after_or_the_default() {
        let t = Throttle::new();
        assert_eq!(t.remaining(), None);
        assert_eq!(
            t.record(Some(Duration::from_secs(7))).wait,
            Duration::from_secs(7)
        );
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(t.remaining(), Some(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(t.remaining(), None);
        assert_eq!(t.record(None).wait, DEFAULT_RETRY_AFTER);
        assert_eq!(
            t.record(Some(Duration::from_secs(u64::MAX))).wait,
            MAX_RETRY_AFTER,
            "an absurd Retry-After is cut, never overflows"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn three_throttled_answers_in_a_row_within_a_minute_count_as_one_failure() {
        let t = Throttle::new();
        let counts = |t: &Throttle| t.record(Some(Duration::from_secs(1))).counts_as_failure;
        assert!(!counts(&t));
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(!counts(&t));
        tokio::time::advance(Duration::from_secs(40)).await;
        assert!(counts(&t), "third within 60 s");
        assert!(!counts(&t), "the streak starts again");
        // Spread over more than the window: never counted.
        let t = Throttle::new();
        for _ in 0..5 {
            assert!(!counts(&t));
            tokio::time::advance(Duration::from_secs(31)).await;
        }
        // Another answer in between breaks the streak.
        let t = Throttle::new();
        assert!(!counts(&t));
        assert!(!counts(&t));
        t.answered();
        assert!(!counts(&t));
    }
}
