//! The state several `msgops serve` instances behind one address share on Redis (or Valkey):
//!
//! - provider rate limits, as GCRA in one Lua script whose clock is the server's `TIME`
//!   ([`rate::SharedRateLimiter`], the chain's [`msgops_core::RateLimiter`]);
//! - per-recipient and per-prefix limits: a slot reserved before the send, kept when it was (or
//!   may have been) delivered, freed when nothing was ([`limits`]);
//! - idempotency keys: the first request takes the key (`SET NX PX`), its answer is stored
//!   under it, a duplicate on any instance waits for it ([`idempotency`]);
//! - breakers: the failures of every instance added up, the HALF_OPEN trial as a lease, the
//!   transitions passed on ([`breakers::SharedBreakers`], the chain's
//!   [`msgops_core::BreakerSync`]);
//! - the event stream fanned out through pub/sub, each event tagged with its instance
//!   ([`events`]).
//!
//! Every key one script touches shares a `{hash tag}`, so the scripts run on a cluster too.
//!
//! What this crate must never do: hold a send up when Redis is slow or gone. Each call has a
//! short timeout ([`DEFAULT_CALL_TIMEOUT`]); once Redis is found unreachable the instance stops
//! asking it and uses its own state (limits divided by `[state] instances`), counts every
//! fallback, and a probe brings it back as soon as Redis answers again. Nor may it show the
//! URL's password: only [`msgops_core::config::mask_url_password`]'s form is kept for messages.
//! No Tauri, no axum here.

pub mod breakers;
pub mod events;
pub mod idempotency;
pub mod limits;
pub mod rate;
mod scripts;
pub mod test_server;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use msgops_core::health::StateStatus;
use msgops_core::{Messaging, ProviderKind, RemoteTransition};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use events::RemoteEvent;

/// How long one call to Redis may take before the instance goes on without it.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_millis(200);
/// How often Redis is pinged while it answers (to notice it is gone without traffic)...
const PROBE_WHILE_UP: Duration = Duration::from_millis(500);
/// ... and while it does not (to rejoin soon after it is back).
const PROBE_WHILE_DOWN: Duration = Duration::from_millis(250);
/// Calls in a row without an answer in time that make Redis count as unreachable (one refused
/// or dropped connection does at once).
const TIMEOUTS_BEFORE_DOWN: u32 = 3;
/// Local events waiting to be published; beyond, they are dropped (and counted).
const PUBLISH_QUEUE: usize = 4096;

/// What the shared state is used for: the label of `msgops_state_fallbacks_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    RateLimit,
    RecipientLimit,
    Idempotency,
    Breaker,
    Events,
}

impl Area {
    pub const ALL: [Area; 5] = [
        Area::RateLimit,
        Area::RecipientLimit,
        Area::Idempotency,
        Area::Breaker,
        Area::Events,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::RateLimit => "rate_limit",
            Area::RecipientLimit => "recipient_limit",
            Area::Idempotency => "idempotency",
            Area::Breaker => "breaker",
            Area::Events => "events",
        }
    }

    fn index(self) -> usize {
        match self {
            Area::RateLimit => 0,
            Area::RecipientLimit => 1,
            Area::Idempotency => 2,
            Area::Breaker => 3,
            Area::Events => 4,
        }
    }
}

/// Counters for `/metrics`: whether Redis answers, and how often this instance went on with
/// its own state instead.
#[derive(Debug, Default)]
pub struct StateStats {
    up: AtomicBool,
    fallbacks: [AtomicU64; 5],
    rejoins: AtomicU64,
}

impl StateStats {
    /// Redis answers (the `msgops_state_backend_up` gauge).
    pub fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Operations done on this instance's own state because Redis could not be used, by area.
    pub fn fallbacks(&self) -> Vec<(Area, u64)> {
        Area::ALL
            .iter()
            .map(|a| (*a, self.fallbacks[a.index()].load(Ordering::Relaxed)))
            .collect()
    }

    /// Times the instance found Redis back after it had been unreachable.
    pub fn rejoins(&self) -> u64 {
        self.rejoins.load(Ordering::Relaxed)
    }

    fn fallback(&self, area: Area) {
        self.fallbacks[area.index()].fetch_add(1, Ordering::Relaxed);
    }
}

/// How to reach the shared state.
#[derive(Clone)]
pub struct StateOptions {
    /// `redis://…` or `rediss://…`.
    pub url: String,
    /// `[state] instances`: limits are divided by this while Redis is unreachable.
    pub instances: u32,
    /// `[state] key_prefix`.
    pub key_prefix: String,
    /// Per call; [`DEFAULT_CALL_TIMEOUT`] unless a test says otherwise.
    pub call_timeout: Duration,
    /// This instance's id in events and leases; random when `None`.
    pub instance_id: Option<String>,
}

impl std::fmt::Debug for StateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateOptions")
            .field("url", &msgops_core::config::mask_url_password(&self.url))
            .field("instances", &self.instances)
            .field("key_prefix", &self.key_prefix)
            .field("call_timeout", &self.call_timeout)
            .field("instance_id", &self.instance_id)
            .finish()
    }
}

impl StateOptions {
    /// From the configuration's `[state]`; `None` for the memory backend.
    pub fn from_config(config: &msgops_core::config::StateConfig) -> Option<Self> {
        config.redis_url().map(|url| Self {
            url: url.to_string(),
            instances: config.instances.max(1),
            key_prefix: config.key_prefix.clone(),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            instance_id: None,
        })
    }
}

/// Why the shared state could not be set up at all (an unusable URL). Redis being down is not
/// an error: the instance starts on its own state and joins when it answers.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("[state] backend `{url}` cannot be used: {why}")]
    BadUrl { url: String, why: String },
}

/// Key and channel names, each script's keys under one hash tag.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// `{msgops:rate:sns}`: one key, its own tag.
    pub(crate) fn rate(&self, provider: ProviderKind) -> String {
        format!("{{{}:rate:{provider}}}", self.prefix)
    }
    /// `{msgops:limits}:<window>`: every window under one tag, as one script checks a
    /// recipient's and its prefixes' windows together.
    pub(crate) fn window(&self, name: &str) -> String {
        format!("{{{}:limits}}:{name}", self.prefix)
    }
    /// `{msgops:idem:<sha256 of the key>}` and its reply keys, under one tag.
    pub(crate) fn idempotency(&self, key_hash: &str) -> String {
        format!("{{{}:idem:{key_hash}}}", self.prefix)
    }
    pub(crate) fn idempotency_reply(&self, key_hash: &str, token: &str) -> String {
        format!("{{{}:idem:{key_hash}}}:reply:{token}", self.prefix)
    }
    pub(crate) fn breaker_failures(&self, provider: ProviderKind) -> String {
        format!("{{{}:breaker:{provider}}}:failures", self.prefix)
    }
    pub(crate) fn breaker_trial(&self, provider: ProviderKind) -> String {
        format!("{{{}:breaker:{provider}}}:trial", self.prefix)
    }
    pub(crate) fn events_channel(&self) -> String {
        format!("{}:events", self.prefix)
    }
    pub(crate) fn breakers_channel(&self) -> String {
        format!("{}:breakers", self.prefix)
    }
}

pub(crate) struct Inner {
    /// The URL with its password masked.
    shown: String,
    client: redis::Client,
    conn: ConnectionManager,
    pub(crate) keys: Keys,
    instance: String,
    instances: u32,
    call_timeout: Duration,
    stats: Arc<StateStats>,
    timeouts_in_a_row: AtomicU32,
    /// Background writes (settling a slot, storing an answer), waited for at
    /// [`SharedState::close`].
    writes: TaskTracker,
    /// The probe, the subscription, the publisher, the breaker follower.
    loops: TaskTracker,
    stop: CancellationToken,
    remote_events: broadcast::Sender<RemoteEvent>,
    remote_transitions: broadcast::Sender<RemoteTransition>,
    publish: mpsc::Sender<(String, String)>,
    /// The failures counted together last heard of, per provider (so that a success knows
    /// whether there is a count to end).
    pub(crate) shared_failures: Mutex<HashMap<ProviderKind, u32>>,
    /// Ids of this instance's reservations and leases.
    next_id: AtomicU64,
    /// How this instance's own events begin on the events channel.
    own_events: String,
}

/// The shared state of one instance; cheap to clone.
#[derive(Clone)]
pub struct SharedState {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState")
            .field("backend", &self.inner.shown)
            .field("instance", &self.inner.instance)
            .field("up", &self.inner.stats.up())
            .finish_non_exhaustive()
    }
}

fn random_id() -> String {
    let mut bytes = [0u8; 6];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes.copy_from_slice(&(nanos ^ u64::from(std::process::id())).to_be_bytes()[2..]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an error means Redis cannot be reached (rather than one bad command).
fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
        || matches!(
            e.code(),
            Some("NOAUTH" | "WRONGPASS" | "LOADING" | "MASTERDOWN" | "READONLY")
        )
}

impl SharedState {
    /// Sets up the shared state on `options.url` and starts its background tasks (the probe,
    /// the subscription, the publisher) on the current runtime. Never waits for Redis: until it
    /// answers, [`SharedState::status`] is `degraded (local)`.
    pub async fn connect(options: StateOptions) -> Result<Self, StateError> {
        let shown = msgops_core::config::mask_url_password(&options.url);
        let bad_url = |e: redis::RedisError| StateError::BadUrl {
            url: shown.clone(),
            why: e.to_string(),
        };
        let info = redis::IntoConnectionInfo::into_connection_info(options.url.as_str())
            .map_err(bad_url)?;
        // Each call is a few bytes answered at once: Nagle's algorithm would hold them back.
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        let client = redis::Client::open(info.set_tcp_settings(tcp)).map_err(bad_url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.call_timeout))
            .set_response_timeout(Some(options.call_timeout * 5))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        let conn =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(|e| {
                StateError::BadUrl {
                    url: shown.clone(),
                    why: e.to_string(),
                }
            })?;
        let (remote_events, _) = broadcast::channel(4096);
        let (remote_transitions, _) = broadcast::channel(256);
        let (publish, queue) = mpsc::channel(PUBLISH_QUEUE);
        let instance = options.instance_id.clone().unwrap_or_else(random_id);
        let state = Self {
            inner: Arc::new(Inner {
                shown,
                client,
                conn,
                keys: Keys {
                    prefix: options.key_prefix.clone(),
                },
                own_events: events::prefix_of(&instance),
                instance,
                instances: options.instances.max(1),
                call_timeout: options.call_timeout,
                stats: Arc::new(StateStats::default()),
                timeouts_in_a_row: AtomicU32::new(0),
                writes: TaskTracker::new(),
                loops: TaskTracker::new(),
                stop: CancellationToken::new(),
                remote_events,
                remote_transitions,
                publish,
                shared_failures: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
            }),
        };
        // One look before the first send, so that a start with Redis down says so at once.
        state.probe().await;
        if !state.is_up() {
            tracing::warn!(backend = %state.inner.shown, "shared state unreachable at start: this instance uses its own state (limits divided by {}) until it answers", state.inner.instances);
        }
        let weak = Arc::downgrade(&state.inner);
        let stop = state.inner.stop.clone();
        state
            .inner
            .loops
            .spawn(probe_loop(weak.clone(), stop.clone()));
        state
            .inner
            .loops
            .spawn(subscription_loop(weak.clone(), stop.clone()));
        state
            .inner
            .loops
            .spawn(events::publisher(weak, queue, stop));
        Ok(state)
    }

    /// `shared` while Redis answers, `degraded (local)` while it does not.
    pub fn status(&self) -> StateStatus {
        if self.is_up() {
            StateStatus::Shared
        } else {
            StateStatus::DegradedLocal
        }
    }

    pub fn is_up(&self) -> bool {
        self.inner.stats.up()
    }

    /// This instance's id, as events and leases carry it.
    pub fn instance_id(&self) -> &str {
        &self.inner.instance
    }

    /// `[state] instances`.
    pub fn instances(&self) -> u32 {
        self.inner.instances
    }

    /// The backend as it may be shown (password masked).
    pub fn backend(&self) -> &str {
        &self.inner.shown
    }

    pub fn stats(&self) -> Arc<StateStats> {
        self.inner.stats.clone()
    }

    /// Installs the shared rate limiter and breakers in both chains, and applies the other
    /// instances' breaker transitions to them from now on.
    pub fn install_on(&self, messaging: &Arc<Messaging>) {
        messaging.set_rate_limiter(Some(Arc::new(rate::SharedRateLimiter::new(self.clone()))));
        messaging.set_breaker_sync(Some(Arc::new(breakers::SharedBreakers::new(self.clone()))));
        let mut remote = self.inner.remote_transitions.subscribe();
        let weak = Arc::downgrade(messaging);
        let stop = self.inner.stop.clone();
        self.inner.loops.spawn(async move {
            loop {
                let received = tokio::select! {
                    received = remote.recv() => received,
                    () = stop.cancelled() => return,
                };
                match received {
                    Ok(transition) => {
                        let Some(messaging) = weak.upgrade() else {
                            return;
                        };
                        messaging.apply_remote_transition(&transition);
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "other instances' breaker transitions missed");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Lets the writes under way finish (at most `grace`: each is one call within the call
    /// timeout), then stops the background tasks.
    pub async fn close(&self, grace: Duration) {
        self.inner.writes.close();
        let _ = tokio::time::timeout(grace, self.inner.writes.wait()).await;
        self.inner.stop.cancel();
        self.inner.loops.close();
        let _ = tokio::time::timeout(grace, self.inner.loops.wait()).await;
    }

    pub(crate) fn next_id(&self) -> String {
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.inner.instance)
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// Runs one Redis call within the call timeout. `None` — Redis unreachable (or found so
    /// now), or the call failed — means: go on with this instance's own state; it is counted
    /// as a fallback of `area`.
    pub(crate) async fn call<T, F, Fut>(&self, area: Area, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.is_up() {
            self.inner.stats.fallback(area);
            return None;
        }
        match tokio::time::timeout(self.inner.call_timeout, call(self.inner.conn.clone())).await {
            Ok(Ok(value)) => {
                self.inner.timeouts_in_a_row.store(0, Ordering::Relaxed);
                Some(value)
            }
            Ok(Err(e)) if unreachable(&e) => {
                self.mark_down(&e.to_string());
                self.inner.stats.fallback(area);
                None
            }
            Ok(Err(e)) => {
                tracing::error!(area = area.as_str(), error = %e, "a shared-state call failed; this one used the instance's own state");
                self.inner.stats.fallback(area);
                None
            }
            Err(_) => {
                let in_a_row = self.inner.timeouts_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                if in_a_row >= TIMEOUTS_BEFORE_DOWN {
                    self.mark_down(&format!(
                        "{in_a_row} calls in a row without an answer within {} ms",
                        self.inner.call_timeout.as_millis()
                    ));
                }
                self.inner.stats.fallback(area);
                None
            }
        }
    }

    /// A write whose answer nobody waits for (settling a slot, storing an answer, publishing):
    /// run in the background, tracked so that [`SharedState::close`] waits for it.
    pub(crate) fn spawn_write<F, Fut, T>(&self, area: Area, call: F)
    where
        F: FnOnce(ConnectionManager) -> Fut + Send + 'static,
        Fut: Future<Output = redis::RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let state = self.clone();
        self.inner.writes.spawn(async move {
            let _ = state.call(area, call).await;
        });
    }

    fn mark_down(&self, why: &str) {
        if self.inner.stats.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(backend = %self.inner.shown, %why, "shared state unreachable: this instance uses its own state (limits divided by {}) until it answers again", self.inner.instances);
        }
    }

    fn mark_up(&self) {
        self.inner.timeouts_in_a_row.store(0, Ordering::Relaxed);
        if !self.inner.stats.up.swap(true, Ordering::Relaxed) {
            self.inner.stats.rejoins.fetch_add(1, Ordering::Relaxed);
            tracing::info!(backend = %self.inner.shown, instance = %self.inner.instance, "shared state reachable: this instance shares it");
        }
    }

    /// One PING, within the call timeout.
    async fn probe(&self) {
        let mut conn = self.inner.conn.clone();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(
            self.inner.call_timeout,
            ping.query_async::<String>(&mut conn),
        )
        .await
        {
            Ok(Ok(_)) => self.mark_up(),
            Ok(Err(e)) => self.mark_down(&e.to_string()),
            Err(_) => self.mark_down(&format!(
                "no answer to PING within {} ms",
                self.inner.call_timeout.as_millis()
            )),
        }
    }
}

/// Pings Redis on a timer: notices it gone without traffic, and back after an outage.
async fn probe_loop(inner: std::sync::Weak<Inner>, stop: CancellationToken) {
    loop {
        let every = match inner.upgrade() {
            Some(inner) if inner.stats.up() => PROBE_WHILE_UP,
            Some(_) => PROBE_WHILE_DOWN,
            None => return,
        };
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.cancelled() => return,
        }
        let Some(inner) = inner.upgrade() else { return };
        SharedState { inner }.probe().await;
    }
}

/// Keeps one subscription to the events and breakers channels, again after every outage, and
/// hands what the other instances publish on.
async fn subscription_loop(inner: std::sync::Weak<Inner>, stop: CancellationToken) {
    loop {
        let Some(state) = inner.upgrade().map(|inner| SharedState { inner }) else {
            return;
        };
        let channels = [
            state.inner.keys.events_channel(),
            state.inner.keys.breakers_channel(),
        ];
        let subscribed = tokio::time::timeout(state.inner.call_timeout * 5, async {
            let mut pubsub = state.inner.client.get_async_pubsub().await?;
            for channel in &channels {
                pubsub.subscribe(channel).await?;
            }
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        if let Ok(Ok(pubsub)) = subscribed {
            tracing::debug!(instance = %state.inner.instance, "subscribed to the other instances' events");
            let mut messages = pubsub.into_on_message();
            // Held only while a message is handled, so that dropping the state ends the loop.
            let weak = Arc::downgrade(&state.inner);
            drop(state);
            loop {
                let message = tokio::select! {
                    message = messages.next() => message,
                    () = stop.cancelled() => return,
                };
                let Some(message) = message else { break };
                let Some(inner) = weak.upgrade() else { return };
                SharedState { inner }.received(&message);
            }
        } else {
            drop(state);
        }
        tokio::select! {
            () = tokio::time::sleep(PROBE_WHILE_DOWN) => {}
            () = stop.cancelled() => return,
        }
    }
}

impl SharedState {
    fn received(&self, message: &redis::Msg) {
        let Ok(payload) = std::str::from_utf8(message.get_payload_bytes()) else {
            return;
        };
        let channel = message.get_channel_name();
        if channel == self.inner.keys.events_channel() {
            // Its own events come back too: told apart by their first field, without decoding.
            if payload.starts_with(&self.inner.own_events) {
                return;
            }
            if let Some(event) = events::RemoteEvent::decode(payload) {
                if event.instance != self.inner.instance {
                    let _ = self.inner.remote_events.send(event);
                }
            }
        } else if channel == self.inner.keys.breakers_channel() {
            breakers::received(self, payload);
        }
    }

    pub(crate) fn remote_transitions(&self) -> &broadcast::Sender<RemoteTransition> {
        &self.inner.remote_transitions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_urls_password_is_never_shown() {
        let options = StateOptions {
            url: "redis://ops:hunter2@127.0.0.1:1/0".into(),
            instances: 3,
            key_prefix: "msgops".into(),
            call_timeout: Duration::from_millis(50),
            instance_id: Some("a".into()),
        };
        assert!(!format!("{options:?}").contains("hunter2"));
        let state = SharedState::connect(options).await.expect("set up");
        assert_eq!(state.backend(), "redis://ops:***@127.0.0.1:1/0");
        assert!(!format!("{state:?}").contains("hunter2"));
        assert_eq!(
            state.status(),
            StateStatus::DegradedLocal,
            "nobody listens there"
        );
        state.close(Duration::from_millis(100)).await;
        let bad = SharedState::connect(StateOptions {
            url: "redis://ops:hunter2@[::1".into(),
            instances: 1,
            key_prefix: "msgops".into(),
            call_timeout: Duration::from_millis(50),
            instance_id: None,
        })
        .await
        .expect_err("not a URL");
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }

    #[test]
    fn every_key_of_one_script_shares_its_hash_tag() {
        let keys = Keys {
            prefix: "msgops".into(),
        };
        let tag = |k: &str| k[k.find('{').expect("{") + 1..k.find('}').expect("}")].to_string();
        assert_eq!(
            tag(&keys.window("sms:+1416")),
            tag(&keys.window("prefix:+1"))
        );
        assert_eq!(
            tag(&keys.idempotency("ab")),
            tag(&keys.idempotency_reply("ab", "a-1"))
        );
        assert_eq!(
            tag(&keys.breaker_failures(ProviderKind::Sns)),
            tag(&keys.breaker_trial(ProviderKind::Sns))
        );
        assert_eq!(keys.rate(ProviderKind::Sns), "{msgops:rate:sns}");
    }
}
