//! Per-recipient send limits against SMS pumping fraud: at most N messages to one recipient per
//! window (default 5 an hour), and optionally at most M messages an hour to all numbers under a
//! country prefix (`+234`), counted together. A blocked send never reaches a provider.
//!
//! This lives in the service, not in the chain: the chain decides *how* a message goes out, this
//! decides whether a caller of the API may ask for it at all (one concern per layer). It must
//! never count a send it refused, nor let one through without counting it (check and record are
//! one step under one lock).
//!
//! Time comes from `tokio::time::Instant`, so tests drive it with a paused clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use msgops_core::Channel;
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
    pub retry_after: Duration,
}

impl Blocked {
    pub fn reason(&self, channel: Channel, recipient: &str) -> String {
        let what = match channel {
            Channel::Sms => "SMS",
            Channel::Email => "emails",
        };
        let window = humanize(self.rule.window);
        let retry = self.retry_after.as_secs().max(1);
        match &self.by {
            BlockedBy::Recipient => format!(
                "{recipient} already received {} {what} in the last {window} (the limit per recipient); next allowed in {retry} s",
                self.rule.max
            ),
            BlockedBy::Prefix { prefix } => format!(
                "numbers starting with {prefix} already received {} {what} in the last {window} (the limit for that prefix); next allowed in {retry} s",
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

#[derive(Debug, Default)]
struct Windows {
    recipients: HashMap<(Channel, String), VecDeque<Instant>>,
    prefixes: HashMap<String, VecDeque<Instant>>,
    calls_since_sweep: u32,
}

/// The limiter. Cheap to call; one lock per check.
#[derive(Debug)]
pub struct RecipientLimiter {
    config: LimitsConfig,
    windows: Mutex<Windows>,
}

fn prune(log: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while log
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        log.pop_front();
    }
}

/// Blocked when the log already holds `max` sends in the window.
fn check(log: &VecDeque<Instant>, rule: LimitRule, now: Instant) -> Option<Duration> {
    if (log.len() as u64) < u64::from(rule.max) {
        return None;
    }
    let oldest = log.front().copied().unwrap_or(now);
    Some((oldest + rule.window).saturating_duration_since(now))
}

impl RecipientLimiter {
    pub fn new(config: LimitsConfig) -> Self {
        Self {
            config,
            windows: Mutex::new(Windows::default()),
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

    /// Counts a send to `recipient` if every rule allows it; otherwise counts nothing and says
    /// which rule refused.
    pub fn try_acquire(&self, channel: Channel, recipient: &str) -> Result<(), Blocked> {
        let now = Instant::now();
        let mut w = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
                if let Some(retry_after) = check(log, rule, now) {
                    return Err(Blocked {
                        by: BlockedBy::Recipient,
                        rule,
                        retry_after,
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
            if let Some(retry_after) = check(log, p.rule, now) {
                return Err(Blocked {
                    by: BlockedBy::Prefix {
                        prefix: p.prefix.clone(),
                    },
                    rule: p.rule,
                    retry_after,
                });
            }
        }
        // Every rule allows it: count it everywhere.
        if recipient_rule.is_some() {
            w.recipients.entry(key).or_default().push_back(now);
        }
        for p in prefixes {
            w.prefixes
                .entry(p.prefix.clone())
                .or_default()
                .push_back(now);
        }
        Ok(())
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
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recipients
            .len()
    }
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
