//! Per-recipient send limits against SMS pumping fraud: at most N messages to one recipient per
//! window (default 5 an hour), and optionally at most M messages an hour to all numbers under a
//! country prefix (`+234`), counted together. A blocked send never reaches a provider.
//!
//! This lives in the service, not in the chain: the chain decides *how* a message goes out, this
//! decides whether a caller of the API may ask for it at all (one concern per layer). It must
//! never count a send it refused, nor let one through without counting it (check and record are
//! one step under one lock).
//!
//! Only what reached the recipient counts. An allowed send takes a [`Reservation`] — a slot in
//! every window it falls under, held while it is sent, so that concurrent sends to one number
//! can never exceed the limit between them. When the send ends, [`Reservation::settle`] keeps
//! the slot if the message was delivered (or may have been: an `ambiguous` attempt timed out
//! after the request went out) and frees it when nothing was delivered — after an outage,
//! people who got nothing are not blocked for an hour. A reservation dropped without an
//! outcome (the send was aborted at shutdown, or panicked) keeps its slot: delivery unknown.
//!
//! Time comes from `tokio::time::Instant`, so tests drive it with a paused clock.
//!
//! With `[state]` on Redis ([`RecipientLimiter::shared`]) the windows are the instances'
//! together, with the same semantics ([`msgops_shared_state::limits`]); while Redis is
//! unreachable each instance counts on its own with every limit divided by `[state] instances`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use msgops_core::chain::SendOutcome;
use msgops_core::{Channel, ErrorKind};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// At most `max` sends per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRule {
    pub max: u32,
    #[serde(with = "secs")]
    pub window: Duration,
}

impl LimitRule {
    pub const fn per_hour(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(3600),
        }
    }
}

/// At most `rule.max` sends per window to all SMS recipients whose number starts with `prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixRule {
    pub prefix: String,
    #[serde(flatten)]
    pub rule: LimitRule,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsConfig {
    /// Per phone number; `None` turns the limit off.
    pub sms_per_recipient: Option<LimitRule>,
    /// Per email address (compared case-insensitively); `None` turns the limit off.
    pub email_per_recipient: Option<LimitRule>,
    /// Per country (or any) prefix of the phone number, all its numbers together.
    pub sms_prefixes: Vec<PrefixRule>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            sms_per_recipient: Some(LimitRule::per_hour(5)),
            email_per_recipient: Some(LimitRule::per_hour(5)),
            sms_prefixes: Vec::new(),
        }
    }
}

/// Which rule refused a send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum BlockedBy {
    Recipient,
    Prefix { prefix: String },
}

impl BlockedBy {
    /// For the metric's `rule` label: `recipient` or `prefix:+234`.
    pub fn label(&self) -> String {
        match self {
            BlockedBy::Recipient => "recipient".into(),
            BlockedBy::Prefix { prefix } => format!("prefix:{prefix}"),
        }
    }
}

/// A refused send: which rule, its numbers, and when the next send would be allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub by: BlockedBy,
    pub rule: LimitRule,
    /// When the oldest send in the window leaves it. Sooner if a send still under way fails.
    pub retry_after: Duration,
    /// How many of the sends filling the window are still under way (each one that ends
    /// without delivering frees its slot).
    pub pending: u32,
}

impl Blocked {
    pub fn reason(&self, channel: Channel, recipient: &str) -> String {
        let what = match channel {
            Channel::Sms => "SMS",
            Channel::Email => "emails",
        };
        let window = humanize(self.rule.window);
        let retry = self.retry_after.as_secs().max(1);
        let pending = match self.pending {
            0 => String::new(),
            n => format!(
                " ({n} of them still being sent: one that is not delivered frees its slot sooner)"
            ),
        };
        match &self.by {
            BlockedBy::Recipient => format!(
                "{recipient} already received {} {what} in the last {window} (the limit per recipient); next allowed in {retry} s{pending}",
                self.rule.max
            ),
            BlockedBy::Prefix { prefix } => format!(
                "numbers starting with {prefix} already received {} {what} in the last {window} (the limit for that prefix); next allowed in {retry} s{pending}",
                self.rule.max
            ),
        }
    }
}

fn humanize(d: Duration) -> String {
    match d.as_secs() {
        3600 => "hour".into(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} s"),
    }
}

/// How many calls between sweeps of recipients whose window has passed.
const SWEEP_EVERY: u32 = 1024;

/// One send counted in a window: when it was allowed, which reservation holds it, and whether
/// it is still under way.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    at: Instant,
    id: u64,
    pending: bool,
}

type Log = VecDeque<Stamp>;

#[derive(Debug, Default)]
struct Windows {
    recipients: HashMap<(Channel, String), Log>,
    prefixes: HashMap<String, Log>,
    calls_since_sweep: u32,
    next_id: u64,
}

impl Windows {
    /// The logs a reservation put its stamps in: its recipient's and its prefixes'.
    fn logs_of<'a>(
        &'a mut self,
        recipient: Option<&'a (Channel, String)>,
        prefixes: &'a [String],
    ) -> impl Iterator<Item = &'a mut Log> + 'a {
        let Windows {
            recipients,
            prefixes: by_prefix,
            ..
        } = self;
        let recipient_log = recipient.and_then(|key| recipients.get_mut(key));
        let prefix_logs = by_prefix
            .iter_mut()
            .filter(|(prefix, _)| prefixes.contains(prefix))
            .map(|(_, log)| log);
        recipient_log.into_iter().chain(prefix_logs)
    }
}

fn lock(windows: &Mutex<Windows>) -> std::sync::MutexGuard<'_, Windows> {
    windows
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The limiter. Cheap to call; one lock per check (one script call when shared).
#[derive(Debug)]
pub struct RecipientLimiter {
    config: LimitsConfig,
    windows: Arc<Mutex<Windows>>,
    shared: Option<SharedWindows>,
}

/// The windows on the shared state, and this instance's share of them for when it is
/// unreachable.
#[derive(Debug)]
struct SharedWindows {
    state: msgops_shared_state::SharedState,
    fallback: Box<RecipientLimiter>,
}

/// `rule` divided among `instances` (at least one send each).
fn share(rule: LimitRule, instances: u32) -> LimitRule {
    LimitRule {
        max: (rule.max / instances.max(1)).max(1),
        window: rule.window,
    }
}

fn prune(log: &mut Log, window: Duration, now: Instant) {
    while log
        .front()
        .is_some_and(|s| now.saturating_duration_since(s.at) >= window)
    {
        log.pop_front();
    }
}

/// Blocked when the log already holds `max` sends (delivered or under way) in the window.
fn check(log: &Log, rule: LimitRule, now: Instant) -> Option<(Duration, u32)> {
    if (log.len() as u64) < u64::from(rule.max) {
        return None;
    }
    let oldest = log.front().map_or(now, |s| s.at);
    let pending = log.iter().filter(|s| s.pending).count();
    Some((
        (oldest + rule.window).saturating_duration_since(now),
        u32::try_from(pending).unwrap_or(u32::MAX),
    ))
}

/// Whether a send that ended with `outcome` may have reached its recipient: delivered, or
/// failed after an attempt that timed out once the request was sent (`ambiguous`: it may have
/// gone out). Only those count against the recipient's limit.
pub fn may_have_reached_recipient(outcome: &SendOutcome) -> bool {
    match outcome {
        SendOutcome::Delivered { .. } => true,
        SendOutcome::Failed { attempts, .. } => attempts
            .iter()
            .any(|a| a.error_kind == Some(ErrorKind::Ambiguous)),
    }
}

/// A slot taken in every window a send falls under, held while it is sent. Settle it with the
/// outcome ([`Reservation::settle`]), or explicitly with [`Reservation::keep`] (it reached the
/// recipient: it counts for the rest of its window) or [`Reservation::release`] (nothing was
/// delivered: as if it had never been asked for). Dropped unsettled — the send was aborted or
/// panicked, delivery unknown — it keeps its slot.
#[must_use = "a reservation holds a slot until it is settled; settle it with the send's outcome"]
pub struct Reservation {
    windows: Arc<Mutex<Windows>>,
    id: u64,
    /// The recipient's window, when a per-recipient rule applies.
    recipient: Option<(Channel, String)>,
    /// The prefixes whose windows hold a slot.
    prefixes: Vec<String>,
    /// The slot in the shared windows, when they are shared (then the local ones hold none).
    shared: Option<msgops_shared_state::limits::WindowSlot>,
    settled: bool,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("id", &self.id)
            .field("recipient", &self.recipient)
            .field("prefixes", &self.prefixes)
            .field("settled", &self.settled)
            .finish()
    }
}

impl Reservation {
    /// Keeps the slot when `outcome` may have reached the recipient
    /// ([`may_have_reached_recipient`]), frees it otherwise. Says whether it was kept.
    pub fn settle(self, outcome: &SendOutcome) -> bool {
        let counts = may_have_reached_recipient(outcome);
        if counts {
            self.keep();
        } else {
            self.release();
        }
        counts
    }

    /// The send reached the recipient: the slot counts for the rest of its window.
    pub fn keep(mut self) {
        if let Some(slot) = self.shared.take() {
            slot.keep();
        }
        self.mark_kept();
        self.settled = true;
    }

    /// Nothing was delivered: the slot is freed at once.
    pub fn release(mut self) {
        if let Some(slot) = self.shared.take() {
            slot.release();
        }
        let id = self.id;
        let mut w = lock(&self.windows);
        for log in w.logs_of(self.recipient.as_ref(), &self.prefixes) {
            log.retain(|s| s.id != id);
        }
        drop(w);
        self.settled = true;
    }

    fn mark_kept(&self) {
        let id = self.id;
        let mut w = lock(&self.windows);
        for log in w.logs_of(self.recipient.as_ref(), &self.prefixes) {
            if let Some(stamp) = log.iter_mut().find(|s| s.id == id) {
                stamp.pending = false;
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled {
            // Aborted or panicked mid-send: it may have gone out, so it counts.
            self.mark_kept();
        }
    }
}

impl RecipientLimiter {
    pub fn new(config: LimitsConfig) -> Self {
        Self {
            config,
            windows: Arc::new(Mutex::new(Windows::default())),
            shared: None,
        }
    }

    /// A limiter whose windows every instance on `state` shares; while it is unreachable, this
    /// instance counts alone with each limit divided by `[state] instances`.
    pub fn shared(config: LimitsConfig, state: msgops_shared_state::SharedState) -> Self {
        let instances = state.instances();
        let divided = LimitsConfig {
            sms_per_recipient: config.sms_per_recipient.map(|r| share(r, instances)),
            email_per_recipient: config.email_per_recipient.map(|r| share(r, instances)),
            sms_prefixes: config
                .sms_prefixes
                .iter()
                .map(|p| PrefixRule {
                    prefix: p.prefix.clone(),
                    rule: share(p.rule, instances),
                })
                .collect(),
        };
        Self {
            shared: Some(SharedWindows {
                state,
                fallback: Box::new(Self::new(divided)),
            }),
            ..Self::new(config)
        }
    }

    /// [`RecipientLimiter::try_reserve`], on the shared windows when there are any (one script
    /// call within the shared state's timeout; this instance's own windows while it is
    /// unreachable).
    pub async fn reserve(&self, channel: Channel, recipient: &str) -> Result<Reservation, Blocked> {
        let Some(shared) = &self.shared else {
            return self.try_reserve(channel, recipient);
        };
        let key = Self::key(channel, recipient);
        let mut rules: Vec<(BlockedBy, LimitRule)> = Vec::new();
        let mut specs = Vec::new();
        if let Some(rule) = self.rule(channel) {
            rules.push((BlockedBy::Recipient, rule));
            specs.push(msgops_shared_state::limits::WindowSpec {
                name: format!("{}:{}", crate::metrics::word(&channel), key.1),
                max: rule.max,
                window: rule.window,
            });
        }
        if channel == Channel::Sms {
            for p in self
                .config
                .sms_prefixes
                .iter()
                .filter(|p| recipient.starts_with(&p.prefix))
            {
                rules.push((
                    BlockedBy::Prefix {
                        prefix: p.prefix.clone(),
                    },
                    p.rule,
                ));
                specs.push(msgops_shared_state::limits::WindowSpec {
                    name: format!("prefix:{}", p.prefix),
                    max: p.rule.max,
                    window: p.rule.window,
                });
            }
        }
        if specs.is_empty() {
            return self.try_reserve(channel, recipient);
        }
        use msgops_shared_state::limits::Reserved;
        match shared.state.reserve_windows(&specs).await {
            Some(Reserved::Taken(slot)) => Ok(Reservation {
                windows: self.windows.clone(),
                id: u64::MAX,
                recipient: None,
                prefixes: Vec::new(),
                shared: Some(slot),
                settled: false,
            }),
            Some(Reserved::Blocked {
                index,
                retry_after,
                pending,
            }) => {
                let (by, rule) = rules
                    .get(index)
                    .cloned()
                    .unwrap_or((BlockedBy::Recipient, specs_rule(&specs, index)));
                Err(Blocked {
                    by,
                    rule,
                    retry_after,
                    pending,
                })
            }
            None => shared.fallback.try_reserve(channel, recipient),
        }
    }

    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    fn rule(&self, channel: Channel) -> Option<LimitRule> {
        match channel {
            Channel::Sms => self.config.sms_per_recipient,
            Channel::Email => self.config.email_per_recipient,
        }
    }

    fn key(channel: Channel, recipient: &str) -> (Channel, String) {
        match channel {
            Channel::Sms => (channel, recipient.to_string()),
            Channel::Email => (channel, recipient.to_ascii_lowercase()),
        }
    }

    /// Takes a slot for a send to `recipient` in every window it falls under if every rule
    /// allows it; otherwise takes nothing and says which rule refused. Sends under way hold
    /// their slots, so concurrent sends cannot exceed a limit between them.
    pub fn try_reserve(&self, channel: Channel, recipient: &str) -> Result<Reservation, Blocked> {
        let now = Instant::now();
        let mut w = lock(&self.windows);
        w.calls_since_sweep += 1;
        if w.calls_since_sweep >= SWEEP_EVERY {
            w.calls_since_sweep = 0;
            self.sweep(&mut w, now);
        }
        let key = Self::key(channel, recipient);
        let recipient_rule = self.rule(channel);
        if let Some(rule) = recipient_rule {
            if let Some(log) = w.recipients.get_mut(&key) {
                prune(log, rule.window, now);
                if let Some((retry_after, pending)) = check(log, rule, now) {
                    return Err(Blocked {
                        by: BlockedBy::Recipient,
                        rule,
                        retry_after,
                        pending,
                    });
                }
            }
        }
        let prefixes: Vec<&PrefixRule> = if channel == Channel::Sms {
            self.config
                .sms_prefixes
                .iter()
                .filter(|p| recipient.starts_with(&p.prefix))
                .collect()
        } else {
            Vec::new()
        };
        for p in &prefixes {
            let log = w.prefixes.entry(p.prefix.clone()).or_default();
            prune(log, p.rule.window, now);
            if let Some((retry_after, pending)) = check(log, p.rule, now) {
                return Err(Blocked {
                    by: BlockedBy::Prefix {
                        prefix: p.prefix.clone(),
                    },
                    rule: p.rule,
                    retry_after,
                    pending,
                });
            }
        }
        // Every rule allows it: take a slot everywhere.
        let id = w.next_id;
        w.next_id += 1;
        let stamp = Stamp {
            at: now,
            id,
            pending: true,
        };
        let recipient = if recipient_rule.is_some() {
            w.recipients
                .entry(key.clone())
                .or_default()
                .push_back(stamp);
            Some(key)
        } else {
            None
        };
        let mut held = Vec::with_capacity(prefixes.len());
        for p in prefixes {
            w.prefixes
                .entry(p.prefix.clone())
                .or_default()
                .push_back(stamp);
            held.push(p.prefix.clone());
        }
        drop(w);
        Ok(Reservation {
            windows: self.windows.clone(),
            id,
            recipient,
            prefixes: held,
            shared: None,
            settled: false,
        })
    }

    /// Counts a send to `recipient` at once, as delivered, if every rule allows it; otherwise
    /// counts nothing and says which rule refused. (Sends through the API use
    /// [`RecipientLimiter::try_reserve`] and count only what was delivered.)
    pub fn try_acquire(&self, channel: Channel, recipient: &str) -> Result<(), Blocked> {
        self.try_reserve(channel, recipient).map(Reservation::keep)
    }

    /// Forgets recipients with nothing left in their window, so memory follows the number of
    /// recipients of the last window, not of all time.
    fn sweep(&self, w: &mut Windows, now: Instant) {
        let sms = self.config.sms_per_recipient.map(|r| r.window);
        let email = self.config.email_per_recipient.map(|r| r.window);
        w.recipients.retain(|(channel, _), log| {
            let window = match channel {
                Channel::Sms => sms,
                Channel::Email => email,
            };
            if let Some(window) = window {
                prune(log, window, now);
            }
            !log.is_empty()
        });
    }

    /// Recipients currently tracked (for tests and diagnostics).
    pub fn tracked_recipients(&self) -> usize {
        lock(&self.windows).recipients.len()
    }
}

/// The rule of spec `index` (only when the script names a window it was not given).
fn specs_rule(specs: &[msgops_shared_state::limits::WindowSpec], index: usize) -> LimitRule {
    specs
        .get(index)
        .map_or(LimitRule::per_hour(0), |s| LimitRule {
            max: s.max,
            window: s.window,
        })
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUMBER: &str = "+14165550123";

    #[tokio::test(start_paused = true)]
    async fn sixth_sms_to_one_number_within_an_hour_is_blocked() {
        let limiter = RecipientLimiter::new(LimitsConfig::default());
        for _ in 0..5 {
            limiter.try_acquire(Channel::Sms, NUMBER).expect("allowed");
            tokio::time::advance(Duration::from_secs(60)).await;
        }
        let blocked = limiter
            .try_acquire(Channel::Sms, NUMBER)
            .expect_err("sixth in the hour");
        assert_eq!(blocked.by, BlockedBy::Recipient);
        // The first send was 5 minutes ago: 55 minutes to wait.
        assert_eq!(blocked.retry_after, Duration::from_secs(55 * 60));
        assert!(blocked
            .reason(Channel::Sms, NUMBER)
            .contains("already received 5 SMS in the last hour"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_slides_so_the_oldest_send_frees_a_slot_an_hour_later() {
        let limiter = RecipientLimiter::new(LimitsConfig::default());
        for _ in 0..5 {
            limiter.try_acquire(Channel::Sms, NUMBER).expect("allowed");
        }
        tokio::time::advance(Duration::from_secs(3599)).await;
        assert!(limiter.try_acquire(Channel::Sms, NUMBER).is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        limiter
            .try_acquire(Channel::Sms, NUMBER)
            .expect("an hour later");
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocked_send_is_not_counted() {
        let limiter = RecipientLimiter::new(LimitsConfig {
            sms_per_recipient: Some(LimitRule::per_hour(1)),
            ..LimitsConfig::default()
        });
        limiter.try_acquire(Channel::Sms, NUMBER).expect("first");
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(60)).await;
            assert!(limiter.try_acquire(Channel::Sms, NUMBER).is_err());
        }
        // Retries while blocked did not extend the window.
        tokio::time::advance(Duration::from_secs(3000)).await;
        limiter
            .try_acquire(Channel::Sms, NUMBER)
            .expect("window over");
    }

    #[tokio::test(start_paused = true)]
    async fn recipients_are_counted_apart_and_email_ignores_case() {
        let limiter = RecipientLimiter::new(LimitsConfig {
            sms_per_recipient: Some(LimitRule::per_hour(1)),
            email_per_recipient: Some(LimitRule::per_hour(1)),
            sms_prefixes: Vec::new(),
        });
        limiter.try_acquire(Channel::Sms, NUMBER).expect("a");
        limiter
            .try_acquire(Channel::Sms, "+14165550124")
            .expect("b");
        limiter
            .try_acquire(Channel::Email, "Ops@Example.com")
            .expect("c");
        assert!(limiter
            .try_acquire(Channel::Email, "ops@example.com")
            .is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_country_prefix_caps_all_its_numbers_together() {
        let limiter = RecipientLimiter::new(LimitsConfig {
            sms_prefixes: vec![PrefixRule {
                prefix: "+234".into(),
                rule: LimitRule::per_hour(3),
            }],
            ..LimitsConfig::default()
        });
        for n in 0..3 {
            limiter
                .try_acquire(Channel::Sms, &format!("+23480312345{n}"))
                .expect("under the prefix cap");
        }
        let blocked = limiter
            .try_acquire(Channel::Sms, "+2348031234599")
            .expect_err("fourth +234 number in the hour");
        assert_eq!(
            blocked.by,
            BlockedBy::Prefix {
                prefix: "+234".into()
            }
        );
        assert_eq!(blocked.by.label(), "prefix:+234");
        // Other countries are not affected, and the refused number was not counted.
        limiter.try_acquire(Channel::Sms, NUMBER).expect("+1");
        tokio::time::advance(Duration::from_secs(3600)).await;
        limiter
            .try_acquire(Channel::Sms, "+2348031234599")
            .expect("next hour");
    }

    #[tokio::test(start_paused = true)]
    async fn recipients_whose_window_passed_are_forgotten() {
        let limiter = RecipientLimiter::new(LimitsConfig::default());
        for n in 0..(SWEEP_EVERY - 1) {
            limiter
                .try_acquire(Channel::Sms, &format!("+1416555{n:04}"))
                .expect("allowed");
        }
        assert_eq!(limiter.tracked_recipients(), (SWEEP_EVERY - 1) as usize);
        tokio::time::advance(Duration::from_secs(3600)).await;
        limiter.try_acquire(Channel::Sms, NUMBER).expect("allowed");
        assert_eq!(limiter.tracked_recipients(), 1);
    }

    fn one_per_hour() -> RecipientLimiter {
        RecipientLimiter::new(LimitsConfig {
            sms_per_recipient: Some(LimitRule::per_hour(1)),
            email_per_recipient: Some(LimitRule::per_hour(1)),
            sms_prefixes: vec![PrefixRule {
                prefix: "+1416".into(),
                rule: LimitRule::per_hour(1),
            }],
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_released_reservation_frees_its_slot_and_its_prefix_slot_at_once() {
        let limiter = one_per_hour();
        for _ in 0..10 {
            let slot = limiter.try_reserve(Channel::Sms, NUMBER).expect("free");
            // While it is being sent, the slot is taken: for the number and for its prefix.
            assert_eq!(
                limiter
                    .try_reserve(Channel::Sms, NUMBER)
                    .expect_err("taken")
                    .by,
                BlockedBy::Recipient
            );
            assert!(limiter.try_reserve(Channel::Sms, "+14165550999").is_err());
            slot.release();
            tokio::time::advance(Duration::from_secs(60)).await;
        }
        limiter
            .try_reserve(Channel::Sms, NUMBER)
            .expect("ten sends that delivered nothing left the number free")
            .keep();
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_reservation_counts_for_its_whole_window() {
        let limiter = one_per_hour();
        limiter
            .try_reserve(Channel::Email, "ops@example.com")
            .expect("free")
            .keep();
        tokio::time::advance(Duration::from_secs(3599)).await;
        let blocked = limiter
            .try_reserve(Channel::Email, "OPS@example.com")
            .expect_err("delivered, so it counts");
        assert_eq!(blocked.pending, 0);
        assert_eq!(blocked.retry_after, Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(1)).await;
        limiter
            .try_reserve(Channel::Email, "ops@example.com")
            .expect("an hour later")
            .keep();
    }

    #[tokio::test(start_paused = true)]
    async fn a_reservation_dropped_without_an_outcome_counts_as_delivery_unknown() {
        let limiter = one_per_hour();
        drop(limiter.try_reserve(Channel::Sms, NUMBER).expect("free"));
        let blocked = limiter
            .try_reserve(Channel::Sms, NUMBER)
            .expect_err("an aborted send may have gone out");
        assert_eq!(blocked.pending, 0, "no longer under way");
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocked_send_says_how_many_of_the_window_are_still_being_sent() {
        let limiter = RecipientLimiter::new(LimitsConfig {
            sms_per_recipient: Some(LimitRule::per_hour(2)),
            ..LimitsConfig::default()
        });
        limiter.try_reserve(Channel::Sms, NUMBER).expect("a").keep();
        let _under_way = limiter.try_reserve(Channel::Sms, NUMBER).expect("b");
        let blocked = limiter.try_reserve(Channel::Sms, NUMBER).expect_err("full");
        assert_eq!(blocked.pending, 1);
        let reason = blocked.reason(Channel::Sms, NUMBER);
        assert!(
            reason.contains("already received 2 SMS in the last hour"),
            "{reason}"
        );
        assert!(reason.contains("1 of them still being sent"), "{reason}");
    }

    fn attempt(kind: Option<ErrorKind>) -> msgops_core::chain::Attempt {
        msgops_core::chain::Attempt {
            provider: msgops_core::ProviderKind::Sns,
            outcome: if kind.is_some() {
                msgops_core::chain::AttemptOutcome::Failed
            } else {
                msgops_core::chain::AttemptOutcome::Delivered
            },
            latency_ms: 1.0,
            error_kind: kind,
            error: None,
            provider_code: None,
            cost_usd: 0.0,
            provider_message_id: None,
        }
    }

    fn failed(kinds: &[ErrorKind]) -> SendOutcome {
        SendOutcome::Failed {
            reason: "every provider failed".into(),
            attempts: kinds.iter().map(|k| attempt(Some(*k))).collect(),
            skipped: Vec::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn settling_keeps_what_was_or_may_have_been_delivered_and_frees_the_rest() {
        let delivered = SendOutcome::Delivered {
            provider: msgops_core::ProviderKind::Twilio,
            attempts: vec![attempt(Some(ErrorKind::Authentication)), attempt(None)],
            skipped: Vec::new(),
        };
        let cases = [
            (delivered, true),
            (
                failed(&[ErrorKind::Authentication, ErrorKind::Transient]),
                false,
            ),
            (failed(&[ErrorKind::Throttled, ErrorKind::Permanent]), false),
            (failed(&[]), false),
            (failed(&[ErrorKind::Transient, ErrorKind::Ambiguous]), true),
        ];
        for (outcome, counts) in cases {
            let limiter = one_per_hour();
            let kept = limiter
                .try_reserve(Channel::Sms, NUMBER)
                .expect("free")
                .settle(&outcome);
            assert_eq!(kept, counts, "{outcome:?}");
            assert_eq!(
                limiter.try_reserve(Channel::Sms, NUMBER).is_err(),
                counts,
                "{outcome:?}"
            );
        }
    }

    /// Many threads reserving, failing (release) and delivering (keep) against one number at
    /// once: the slots held never exceed the limit, and in the end exactly the delivered sends
    /// count.
    #[test]
    fn concurrent_reservations_never_exceed_the_limit_and_only_kept_ones_count() {
        use std::sync::atomic::{AtomicU32, Ordering};
        const MAX: u32 = 5;
        let limiter = RecipientLimiter::new(LimitsConfig {
            sms_per_recipient: Some(LimitRule::per_hour(MAX)),
            email_per_recipient: None,
            sms_prefixes: vec![PrefixRule {
                prefix: "+1".into(),
                rule: LimitRule::per_hour(MAX + 2),
            }],
        });
        let held = AtomicU32::new(0);
        let kept = AtomicU32::new(0);
        let granted = AtomicU32::new(0);
        std::thread::scope(|scope| {
            for thread in 0..8u32 {
                let (limiter, held, kept, granted) = (&limiter, &held, &kept, &granted);
                scope.spawn(move || {
                    for round in 0..500u32 {
                        let Ok(slot) = limiter.try_reserve(Channel::Sms, NUMBER) else {
                            std::thread::yield_now();
                            continue;
                        };
                        granted.fetch_add(1, Ordering::SeqCst);
                        let now_held = held.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now_held <= MAX, "{now_held} slots held at once");
                        std::thread::yield_now();
                        // Now and then a send is delivered; most fail (an outage).
                        let delivered = (thread * 500 + round) % 97 == 0;
                        if delivered {
                            kept.fetch_add(1, Ordering::SeqCst);
                        }
                        held.fetch_sub(1, Ordering::SeqCst);
                        if delivered {
                            slot.keep();
                        } else {
                            slot.release();
                        }
                    }
                });
            }
        });
        let kept = kept.load(Ordering::SeqCst);
        assert!(kept <= MAX, "{kept} delivered");
        assert!(
            granted.load(Ordering::SeqCst) > MAX,
            "failed sends freed their slots for others"
        );
        let mut more = Vec::new();
        while let Ok(slot) = limiter.try_reserve(Channel::Sms, NUMBER) {
            more.push(slot);
        }
        assert_eq!(
            more.len() as u32 + kept,
            MAX,
            "exactly the delivered ones count"
        );
    }

    #[test]
    fn no_rule_means_no_limit() {
        let limiter = RecipientLimiter::new(LimitsConfig {
            sms_per_recipient: None,
            email_per_recipient: None,
            sms_prefixes: Vec::new(),
        });
        for _ in 0..100 {
            limiter
                .try_acquire(Channel::Sms, NUMBER)
                .expect("unlimited");
        }
        assert_eq!(limiter.tracked_recipients(), 0);
    }
}
