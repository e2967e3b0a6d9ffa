//! A token bucket per provider (AWS SNS 10/s, Twilio 5/s). Taking a token never blocks: the
//! caller learns how long it would have to wait and decides (wait a bounded time, or spill over
//! to the next provider).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

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
            Err(Duration::from_secs_f64((1.0 - b.tokens) / b.per_second))
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
}
