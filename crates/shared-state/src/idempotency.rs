//! `Idempotency-Key`s shared by every instance. The first request takes the key with
//! `SET NX PX` (a lease as long as a send may take); its answer is then stored under it, so a
//! retry on any instance gets the identical answer; a duplicate that arrives while the first is
//! under way, on any instance, waits for that answer ([`KeyWaiter`]) and never sends itself.
//! A first request that ends without an answer frees the key: its waiting duplicates learn
//! that there is no answer (the service answers them `duplicate_not_sent`, as it does in one
//! process), and a retry does the work.
//!
//! Keys are stored by the SHA-256 of the client's key; the stored record holds the request's
//! fingerprint, so the same key with another request is told apart ([`KeyClaim::Mismatch`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::scripts::{CLAIM, FINISH};
use crate::{Area, SharedState};

/// How long an answer that is not kept (a refusal) stays for the duplicates already waiting.
const REPLY_TTL: Duration = Duration::from_secs(60);
/// How often a waiting duplicate looks, at first and at most.
const FIRST_LOOK: Duration = Duration::from_millis(10);
const LOOK_AT_MOST_EVERY: Duration = Duration::from_millis(100);

/// An answer as the service sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    /// The body (the service's answers are JSON, so UTF-8).
    pub body: Vec<u8>,
    pub retry_after_secs: Option<u64>,
    /// Kept for later retries too (a send's answer), or only for the duplicates that were
    /// waiting (a refusal, decided again on retry).
    pub kept: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    fp: String,
    token: String,
    /// `pending` or `done`.
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
    #[serde(default)]
    kept: bool,
}

impl Record {
    fn answer(&self) -> Option<StoredAnswer> {
        (self.state == "done").then(|| StoredAnswer {
            status: self.status.unwrap_or(500),
            body: self.body.clone().unwrap_or_default().into_bytes(),
            retry_after_secs: self.retry_after,
            kept: self.kept,
        })
    }
}

/// The answer of [`SharedState::claim_key`].
#[derive(Debug)]
pub enum KeyClaim {
    /// The key is this request's: do the work, then [`KeyLease::finish`].
    First(KeyLease),
    /// Answered already (on some instance): this is the answer.
    Answered(StoredAnswer),
    /// Another instance's request with this key is under way: wait for its answer.
    Waiting(KeyWaiter),
    /// The key was used for a different request.
    Mismatch,
}

/// A first request's hold on its key. Dropped without [`KeyLease::finish`], the key is freed.
#[derive(Debug)]
pub struct KeyLease {
    state: SharedState,
    key_hash: String,
    fingerprint: String,
    token: String,
    ttl: Duration,
    settled: bool,
}

/// How a wait for another instance's answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    Answer(StoredAnswer),
    /// The first request ended without an answer (or its lease ran out): nothing was sent
    /// for this one.
    NoAnswer,
    /// The shared state became unreachable while waiting.
    Unreachable,
}

/// A duplicate waiting for another instance's answer.
#[derive(Debug)]
pub struct KeyWaiter {
    state: SharedState,
    key_hash: String,
    token: String,
    give_up_at: Instant,
}

fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The needle that finds a holder's token in its record.
fn token_needle(token: &str) -> String {
    format!("\"token\":\"{token}\"")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl SharedState {
    /// Claims `key` for a request identified by `fingerprint` (hex), holding it at most
    /// `lease` while the request is under way and `ttl` once answered. `None`: the shared
    /// state cannot be used (decide in this instance alone).
    pub async fn claim_key(
        &self,
        key: &str,
        fingerprint: &str,
        lease: Duration,
        ttl: Duration,
    ) -> Option<KeyClaim> {
        let key_hash = hash(key);
        let token = self.next_id();
        let pending = Record {
            fp: fingerprint.to_string(),
            token: token.clone(),
            state: "pending".into(),
            status: None,
            body: None,
            retry_after: None,
            kept: false,
        };
        let record = serde_json::to_string(&pending).ok()?;
        let redis_key = self.keys().idempotency(&key_hash);
        let (taken, current): (i64, String) = self
            .call(Area::Idempotency, |mut conn| async move {
                CLAIM
                    .key(redis_key)
                    .arg(record)
                    .arg(millis(lease))
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        if taken == 1 {
            return Some(KeyClaim::First(KeyLease {
                state: self.clone(),
                key_hash,
                fingerprint: fingerprint.to_string(),
                token,
                ttl,
                settled: false,
            }));
        }
        let Ok(held) = serde_json::from_str::<Record>(&current) else {
            tracing::error!("an idempotency record on the shared state is unreadable; deciding in this instance");
            return None;
        };
        if held.fp != fingerprint {
            return Some(KeyClaim::Mismatch);
        }
        Some(match held.answer() {
            Some(answer) => KeyClaim::Answered(answer),
            None => KeyClaim::Waiting(KeyWaiter {
                state: self.clone(),
                key_hash,
                token: held.token,
                give_up_at: Instant::now() + lease,
            }),
        })
    }
}

impl KeyLease {
    /// Stores the answer: under the key for `ttl` when `answer.kept` (every later retry gets
    /// it), otherwise for the waiting duplicates only (and the key is freed). In the
    /// background: the caller answers its own client at once.
    pub fn finish(mut self, answer: StoredAnswer) {
        self.settled = true;
        let done = Record {
            fp: self.fingerprint.clone(),
            token: self.token.clone(),
            state: "done".into(),
            status: Some(answer.status),
            body: Some(String::from_utf8_lossy(&answer.body).into_owned()),
            retry_after: answer.retry_after_secs,
            kept: answer.kept,
        };
        let Ok(record) = serde_json::to_string(&done) else {
            return;
        };
        let how = if answer.kept { "keep" } else { "reply" };
        let keep_for = if answer.kept { self.ttl } else { REPLY_TTL };
        self.end(how, record, keep_for);
    }

    fn end(&self, how: &'static str, record: String, keep_for: Duration) {
        let keys = self.state.keys();
        let key = keys.idempotency(&self.key_hash);
        let reply = keys.idempotency_reply(&self.key_hash, &self.token);
        let needle = token_needle(&self.token);
        self.state
            .spawn_write(Area::Idempotency, move |mut conn| async move {
                FINISH
                    .key(key)
                    .key(reply)
                    .arg(needle)
                    .arg(how)
                    .arg(record)
                    .arg(millis(keep_for))
                    .invoke_async::<i64>(&mut conn)
                    .await
            });
    }
}

impl Drop for KeyLease {
    fn drop(&mut self) {
        if !self.settled {
            self.end("abandon", String::new(), Duration::from_millis(1));
        }
    }
}

impl KeyWaiter {
    /// Waits for the first request's answer (looking every 10 ms at first, every 100 ms at
    /// most), for as long as its lease at most.
    pub async fn wait(self) -> Waited {
        let keys = self.state.keys();
        let key = keys.idempotency(&self.key_hash);
        let reply = keys.idempotency_reply(&self.key_hash, &self.token);
        let mut pause = FIRST_LOOK;
        loop {
            if Instant::now() >= self.give_up_at {
                return Waited::NoAnswer;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LOOK_AT_MOST_EVERY);
            let (key, reply) = (key.clone(), reply.clone());
            let Some((held, replied)) = self
                .state
                .call(Area::Idempotency, |mut conn| async move {
                    redis::cmd("MGET")
                        .arg(key)
                        .arg(reply)
                        .query_async::<(Option<String>, Option<String>)>(&mut conn)
                        .await
                })
                .await
            else {
                return Waited::Unreachable;
            };
            let held = held.and_then(|r| serde_json::from_str::<Record>(&r).ok());
            match held {
                Some(record) if record.token == self.token => match record.answer() {
                    Some(answer) => return Waited::Answer(answer),
                    None => continue,
                },
                // Freed (answered for the waiting only, or abandoned), or another request's.
                _ => {
                    let replied = replied.and_then(|r| serde_json::from_str::<Record>(&r).ok());
                    return match replied.and_then(|r| r.answer()) {
                        Some(answer) => Waited::Answer(answer),
                        None => Waited::NoAnswer,
                    };
                }
            }
        }
    }
}
