//! `Idempotency-Key`: a request retried with the same key gets the first request's answer (same
//! status, same body) instead of a second message. Concurrent duplicates wait for the first.
//!
//! Bounded: entries live `ttl` (24 h by default) and at most `capacity` (10,000) are kept; the
//! oldest go first. Only answers of requests that reached the chain are kept (delivered or
//! failed): a refused request (invalid, over its recipient limit) is decided again on retry.
//!
//! This module must never hand a key's stored answer to a request whose body differs from the
//! first one: that is a client bug, answered with its own error. A request is identified by the
//! SHA-256 of its route and exact body ([`fingerprint`]), so telling two requests apart never
//! rests on a 64-bit hash.
//!
//! A duplicate waits for the first request's answer and never does the work itself: when the
//! first ends without an answer (aborted at shutdown, or its task panicked), [`Duplicate::wait`]
//! says so and the duplicate is answered "not sent, retry" — the key is released by then, so
//! the retry does the work.
//!
//! With `[state]` on Redis ([`IdempotencyCache::shared`]) a key is the instances' together
//! ([`msgops_shared_state::idempotency`]): the first request on any instance takes it, a
//! duplicate on any other waits for its answer, a retry anywhere gets it. Duplicates on the same
//! instance still wait on the local entry. While Redis is unreachable each instance decides
//! alone, as without it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyConfig {
    pub ttl: Duration,
    pub capacity: usize,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 3600),
            capacity: 10_000,
        }
    }
}

/// An answer as sent, kept to be sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: StatusCode,
    pub body: Bytes,
    /// The `Retry-After` header, in seconds.
    pub retry_after_secs: Option<u64>,
}

type Slot = watch::Receiver<Option<Arc<StoredResponse>>>;

/// The SHA-256 of a request's route and body (see [`fingerprint`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, as `sha256sum` prints it.
    pub fn to_hex(&self) -> String {
        use std::fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

#[derive(Debug)]
struct Entry {
    generation: u64,
    fingerprint: Fingerprint,
    created: Instant,
    answer: Slot,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Keys in insertion order with their generation, for expiry and eviction.
    order: VecDeque<(String, u64)>,
    next_generation: u64,
}

#[derive(Debug)]
pub struct IdempotencyCache {
    config: IdempotencyConfig,
    inner: Arc<Mutex<Inner>>,
    /// Duplicates waiting for a first request's answer, over all keys.
    waiting: Arc<AtomicUsize>,
    /// The keys of every instance, when they are shared.
    shared: Option<SharedKeys>,
}

#[derive(Debug)]
struct SharedKeys {
    state: msgops_shared_state::SharedState,
    /// How long a first request holds its key while under way (its send's deadline and more).
    lease: Duration,
}

/// What to do with a request carrying a key.
#[derive(Debug)]
pub enum Claim {
    /// First request with this key: do the work, then [`Pending::finish`].
    First(Pending),
    /// Another request with this key is done or under way: wait for its answer.
    Duplicate(Duplicate),
    /// The key was used for a different request.
    Mismatch,
}

/// The right (and duty) to answer for a key. Dropped without an answer (the work panicked or was
/// aborted), the key is released so that a retry does the work.
#[derive(Debug)]
pub struct Pending {
    key: String,
    generation: u64,
    sender: Option<watch::Sender<Option<Arc<StoredResponse>>>>,
    inner: Arc<Mutex<Inner>>,
    /// The hold on the shared key, when keys are shared (dropped unfinished, it frees it).
    shared: Option<msgops_shared_state::idempotency::KeyLease>,
}

/// A request with a key already under way or answered: it waits for that answer and never
/// does the work itself.
#[derive(Debug)]
pub struct Duplicate {
    answer: Answer,
    _waiting: Waiting,
}

/// Counts a duplicate among the waiting ones for as long as it lives.
#[derive(Debug)]
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a duplicate's answer comes from.
#[derive(Debug)]
enum Answer {
    /// A first request on this instance.
    Local(Slot),
    /// Answered already, on another instance.
    Known(Arc<StoredResponse>),
    /// A first request on another instance, under way; the local entry passes its answer on
    /// to this instance's own duplicates of it.
    Remote(Box<RemoteAnswer>),
}

#[derive(Debug)]
struct RemoteAnswer {
    waiter: msgops_shared_state::idempotency::KeyWaiter,
    local: Pending,
}

fn stored(answer: msgops_shared_state::idempotency::StoredAnswer) -> StoredResponse {
    StoredResponse {
        status: StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body: Bytes::from(answer.body),
        retry_after_secs: answer.retry_after_secs,
    }
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Identifies a request: SHA-256 over the route's length (8 bytes, big-endian), the route, and
/// the exact body, so that no route and body can run into another.
pub fn fingerprint(route: &str, body: &[u8]) -> Fingerprint {
    let mut h = Sha256::new();
    h.update((route.len() as u64).to_be_bytes());
    h.update(route.as_bytes());
    h.update(body);
    Fingerprint(h.finalize().into())
}

/// A usable key: 1 to 255 visible ASCII characters.
pub fn validate_key(key: &str) -> Result<(), String> {
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err("Idempotency-Key must be 1 to 255 visible ASCII characters".into())
    }
}

impl IdempotencyCache {
    pub fn new(config: IdempotencyConfig) -> Self {
        Self {
            config,
            inner: Arc::new(Mutex::new(Inner::default())),
            waiting: Arc::new(AtomicUsize::new(0)),
            shared: None,
        }
    }

    /// Keys every instance on `state` shares; a first request holds its key at most `lease`
    /// while under way.
    pub fn shared(
        config: IdempotencyConfig,
        state: msgops_shared_state::SharedState,
        lease: Duration,
    ) -> Self {
        Self {
            shared: Some(SharedKeys { state, lease }),
            ..Self::new(config)
        }
    }

    /// Duplicates waiting for a first request's answer (for tests and diagnostics).
    pub fn waiting_duplicates(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        lock(&self.inner).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whose work a request with `key` is: on this instance first, then (when keys are
    /// shared) on every instance.
    pub async fn claim(&self, key: &str, fingerprint: Fingerprint) -> Claim {
        let mut local = match self.claim_here(key, fingerprint) {
            Claim::First(pending) => pending,
            other => return other,
        };
        let Some(shared) = &self.shared else {
            return Claim::First(local);
        };
        use msgops_shared_state::idempotency::KeyClaim;
        match shared
            .state
            .claim_key(key, &fingerprint.to_hex(), shared.lease, self.config.ttl)
            .await
        {
            // Unreachable: this instance decides alone.
            None => Claim::First(local),
            Some(KeyClaim::First(lease)) => {
                local.shared = Some(lease);
                Claim::First(local)
            }
            Some(KeyClaim::Mismatch) => {
                drop(local);
                Claim::Mismatch
            }
            Some(KeyClaim::Answered(answer)) => {
                let kept = answer.kept;
                let answer = stored(answer);
                local.finish(answer.clone(), kept);
                Claim::Duplicate(Duplicate {
                    answer: Answer::Known(Arc::new(answer)),
                    _waiting: Waiting::new(&self.waiting),
                })
            }
            Some(KeyClaim::Waiting(waiter)) => Claim::Duplicate(Duplicate {
                answer: Answer::Remote(Box::new(RemoteAnswer { waiter, local })),
                _waiting: Waiting::new(&self.waiting),
            }),
        }
    }

    /// [`IdempotencyCache::claim`] on this instance only.
    fn claim_here(&self, key: &str, fingerprint: Fingerprint) -> Claim {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        self.expire(&mut inner, now);
        if let Some(entry) = inner.entries.get(key) {
            return if entry.fingerprint == fingerprint {
                Claim::Duplicate(Duplicate {
                    answer: Answer::Local(entry.answer.clone()),
                    _waiting: Waiting::new(&self.waiting),
                })
            } else {
                Claim::Mismatch
            };
        }
        while inner.entries.len() >= self.config.capacity.max(1) {
            let Some((old, generation)) = inner.order.pop_front() else {
                break;
            };
            if inner
                .entries
                .get(&old)
                .is_some_and(|e| e.generation == generation)
            {
                inner.entries.remove(&old);
            }
        }
        let generation = inner.next_generation;
        inner.next_generation += 1;
        let (sender, answer) = watch::channel(None);
        inner.entries.insert(
            key.to_string(),
            Entry {
                generation,
                fingerprint,
                created: now,
                answer,
            },
        );
        inner.order.push_back((key.to_string(), generation));
        Claim::First(Pending {
            key: key.to_string(),
            generation,
            sender: Some(sender),
            inner: self.inner.clone(),
            shared: None,
        })
    }

    fn expire(&self, inner: &mut Inner, now: Instant) {
        while let Some((key, generation)) = inner.order.front().cloned() {
            let expired = match inner.entries.get(&key) {
                Some(e) if e.generation == generation => {
                    now.saturating_duration_since(e.created) >= self.config.ttl
                }
                // Released or replaced: the queue entry is stale.
                _ => true,
            };
            if !expired {
                break;
            }
            inner.order.pop_front();
            if inner
                .entries
                .get(&key)
                .is_some_and(|e| e.generation == generation)
            {
                inner.entries.remove(&key);
            }
        }
    }
}

impl Pending {
    /// Publishes the answer to waiting duplicates. With `keep`, later retries get it too;
    /// without, the key is released and a retry is decided again.
    pub fn finish(mut self, response: StoredResponse, keep: bool) {
        if let Some(lease) = self.shared.take() {
            lease.finish(msgops_shared_state::idempotency::StoredAnswer {
                status: response.status.as_u16(),
                body: response.body.to_vec(),
                retry_after_secs: response.retry_after_secs,
                kept: keep,
            });
        }
        if !keep {
            self.release();
        }
        if let Some(sender) = self.sender.take() {
            sender.send_replace(Some(Arc::new(response)));
        }
    }

    fn release(&self) {
        let mut inner = lock(&self.inner);
        if inner
            .entries
            .get(&self.key)
            .is_some_and(|e| e.generation == self.generation)
        {
            inner.entries.remove(&self.key);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.sender.is_some() {
            self.release();
        }
    }
}

impl Duplicate {
    /// The first request's answer, or `None` if it ended without one (aborted at shutdown, or
    /// its task panicked). Then this request must not do the work itself: it answers that it
    /// was not sent, and its retry (the key is released by then) does the work.
    pub async fn wait(self) -> Option<Arc<StoredResponse>> {
        // `_waiting` counts this duplicate until its answer is in.
        let Duplicate {
            answer: source,
            _waiting,
        } = self;
        match source {
            Answer::Known(answer) => Some(answer),
            Answer::Local(mut slot) => match slot.wait_for(Option::is_some).await {
                Ok(answer) => answer.clone(),
                Err(_) => None,
            },
            Answer::Remote(remote) => {
                use msgops_shared_state::idempotency::Waited;
                let RemoteAnswer { waiter, local } = *remote;
                match waiter.wait().await {
                    Waited::Answer(answer) => {
                        let kept = answer.kept;
                        let answer = stored(answer);
                        local.finish(answer.clone(), kept);
                        Some(Arc::new(answer))
                    }
                    // Dropping `local` frees the local entry too.
                    Waited::NoAnswer | Waited::Unreachable => None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &'static str) -> StoredResponse {
        StoredResponse {
            status: StatusCode::from_u16(status).expect("status"),
            body: Bytes::from_static(body.as_bytes()),
            retry_after_secs: None,
        }
    }

    fn fp(n: u8) -> Fingerprint {
        fingerprint("/api/v1/messages/sms", &[n])
    }

    fn first(claim: Claim) -> Pending {
        match claim {
            Claim::First(p) => p,
            other => panic!("expected First, got {other:?}"),
        }
    }

    fn duplicate(claim: Claim) -> Duplicate {
        match claim {
            Claim::Duplicate(d) => d,
            other => panic!("expected Duplicate, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_retry_gets_the_first_answer() {
        let cache = IdempotencyCache::new(IdempotencyConfig::default());
        first(cache.claim("k", fp(1)).await).finish(answer(200, "{\"a\":1}"), true);
        let again = duplicate(cache.claim("k", fp(1)).await)
            .wait()
            .await
            .expect("kept");
        assert_eq!(*again, answer(200, "{\"a\":1}"));
    }

    #[tokio::test]
    async fn a_concurrent_duplicate_waits_for_the_first() {
        let cache = IdempotencyCache::new(IdempotencyConfig::default());
        let pending = first(cache.claim("k", fp(1)).await);
        let waiter = tokio::spawn(duplicate(cache.claim("k", fp(1)).await).wait());
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        pending.finish(answer(502, "failed"), true);
        let got = waiter.await.expect("join").expect("answer");
        assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    }

    #[tokio::test]
    async fn the_same_key_with_another_body_is_a_mismatch() {
        let cache = IdempotencyCache::new(IdempotencyConfig::default());
        first(cache.claim("k", fp(1)).await).finish(answer(200, "x"), true);
        assert!(matches!(cache.claim("k", fp(2)).await, Claim::Mismatch));
    }

    #[tokio::test]
    async fn an_answer_not_kept_is_shared_with_waiters_but_not_with_later_retries() {
        let cache = IdempotencyCache::new(IdempotencyConfig::default());
        let pending = first(cache.claim("k", fp(1)).await);
        let waiter = duplicate(cache.claim("k", fp(1)).await);
        pending.finish(answer(429, "limited"), false);
        assert_eq!(
            waiter.wait().await.expect("shared").status,
            StatusCode::TOO_MANY_REQUESTS
        );
        first(cache.claim("k", fp(1)).await);
    }

    #[tokio::test]
    async fn abandoned_work_releases_the_key() {
        let cache = IdempotencyCache::new(IdempotencyConfig::default());
        let pending = first(cache.claim("k", fp(1)).await);
        let waiter = duplicate(cache.claim("k", fp(1)).await);
        drop(pending);
        assert!(waiter.wait().await.is_none());
        first(cache.claim("k", fp(1)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_expire_after_the_ttl() {
        let cache = IdempotencyCache::new(IdempotencyConfig {
            ttl: Duration::from_secs(24 * 3600),
            capacity: 10,
        });
        first(cache.claim("k", fp(1)).await).finish(answer(200, "x"), true);
        tokio::time::advance(Duration::from_secs(24 * 3600 - 1)).await;
        duplicate(cache.claim("k", fp(1)).await);
        tokio::time::advance(Duration::from_secs(1)).await;
        let _pending = first(cache.claim("k", fp(1)).await);
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn the_oldest_key_goes_when_full() {
        let cache = IdempotencyCache::new(IdempotencyConfig {
            ttl: Duration::from_secs(3600),
            capacity: 3,
        });
        for key in ["a", "b", "c", "d"] {
            first(cache.claim(key, fp(1)).await).finish(answer(200, "x"), true);
        }
        assert_eq!(cache.len(), 3);
        first(cache.claim("a", fp(1)).await);
        duplicate(cache.claim("d", fp(1)).await);
    }

    #[test]
    fn the_fingerprint_is_the_sha256_of_the_route_length_route_and_body() {
        // printf '\0\0\0\0\0\0\0\x14/api/v1/messages/sms{"to":"+14165550123","body":"x"}' | sha256sum
        let got = fingerprint(
            "/api/v1/messages/sms",
            br#"{"to":"+14165550123","body":"x"}"#,
        );
        assert_eq!(
            got.to_hex(),
            "c3364035c529f060249575e21d73f5ccf572b8bebe6c448a64157236d36e767c"
        );
        assert_eq!(got.as_bytes().len(), 32);
    }

    #[test]
    fn fingerprints_tell_routes_bodies_and_their_boundary_apart() {
        let body = br#"{"to":"+14165550123","body":"x"}"#;
        let sms = fingerprint("/api/v1/messages/sms", body);
        assert_eq!(sms, fingerprint("/api/v1/messages/sms", body), "stable");
        assert_ne!(sms, fingerprint("/api/v1/messages/email", body));
        assert_ne!(
            sms,
            fingerprint(
                "/api/v1/messages/sms",
                br#"{"to":"+14165550123","body":"y"}"#
            )
        );
        // The same bytes split differently between route and body are another request.
        assert_ne!(fingerprint("/a", b"bc"), fingerprint("/ab", b"c"));
    }

    #[tokio::test]
    async fn waiting_duplicates_are_counted_until_they_have_their_answer() {
        let cache = IdempotencyCache::new(IdempotencyConfig::default());
        let pending = first(cache.claim("k", fp(1)).await);
        let mut waiters = Vec::new();
        for _ in 0..3 {
            waiters.push(tokio::spawn(
                duplicate(cache.claim("k", fp(1)).await).wait(),
            ));
        }
        assert_eq!(cache.waiting_duplicates(), 3);
        drop(pending);
        for waiter in waiters {
            assert!(
                waiter.await.expect("join").is_none(),
                "ended without an answer"
            );
        }
        assert_eq!(cache.waiting_duplicates(), 0);
    }

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert!(validate_key("order-42:retry").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("has space").is_err());
        assert!(validate_key(&"x".repeat(256)).is_err());
    }
}
