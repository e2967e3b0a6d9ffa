//! The chain with another process's side plugged in: a [`RateLimiter`] instead of the token
//! buckets, and a [`BreakerSync`] that adds failures up across processes, hands out the
//! HALF_OPEN trial and hears of the others' transitions. In-process fakes here; the Redis
//! implementation is tested against a real server in `msgops-shared-state`.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use msgops_core::breaker::BreakerPolicy;
use msgops_core::breaker_sync::SyncFuture;
use msgops_core::chain::{ChainSettings, Priority, ProviderSpec};
use msgops_core::rate_limit::RateFuture;
use msgops_core::scripted::{ScriptedProvider, Step};
use msgops_core::{
    BreakerState, BreakerSync, Channel, Provider, ProviderChain, ProviderKind, RateLimiter,
    RemoteTransition, SendError, SkipReason, SmsMessage, Transition,
};
use tokio::sync::broadcast;

fn spec(id: ProviderKind, threshold: u32, rate: f64) -> ProviderSpec {
    ProviderSpec {
        id,
        health_name: format!("{id}Provider"),
        display_name: id.to_string(),
        priority: Priority::Primary,
        cost_per_message_usd: 0.0,
        breaker: BreakerPolicy {
            failure_threshold: threshold,
            open_for: Duration::from_secs(300),
        },
        rate_per_second: rate,
    }
}

fn otp() -> SmsMessage {
    SmsMessage {
        to: "+14165550123".into(),
        body: "Your code is 091282".into(),
        code: Some("091282".into()),
    }
}

/// SNS (threshold 5) and the Console, SNS scripted.
fn chain(sns: ScriptedProvider) -> (ProviderChain<SmsMessage>, Arc<ScriptedProvider>) {
    let sns = Arc::new(sns);
    let console: Arc<dyn Provider<SmsMessage>> = Arc::new(ScriptedProvider::instant());
    let chain = ProviderChain::new(
        vec![
            (
                spec(ProviderKind::Sns, 5, 10.0),
                Some(sns.clone() as Arc<dyn Provider<SmsMessage>>),
            ),
            (spec(ProviderKind::Console, 0, 0.0), Some(console)),
        ],
        ChainSettings::default(),
        broadcast::channel(64).0,
    );
    (chain, sns)
}

/// Other processes as far as one chain can tell: a shared failure count that starts at
/// `others_failed`, a trial lease that is free or not, and the transitions told.
#[derive(Default)]
struct Others {
    failed: AtomicU32,
    trial_free: AtomicBool,
    told: Mutex<Vec<(BreakerState, Duration)>>,
    successes: AtomicU32,
}

impl BreakerSync for Others {
    fn failure(&self, _provider: ProviderKind) -> SyncFuture<'_, Option<u32>> {
        Box::pin(async move { Some(self.failed.fetch_add(1, Ordering::SeqCst) + 1) })
    }
    fn success(&self, provider: ProviderKind) -> SyncFuture<'_, ()> {
        Box::pin(async move {
            assert_eq!(
                provider,
                ProviderKind::Sns,
                "the Console has no breaker to share"
            );
            self.successes.fetch_add(1, Ordering::SeqCst);
            self.failed.store(0, Ordering::SeqCst);
        })
    }
    fn claim_trial(&self, _provider: ProviderKind, _lease: Duration) -> SyncFuture<'_, bool> {
        Box::pin(async move { self.trial_free.swap(false, Ordering::SeqCst) })
    }
    fn transition(&self, _: Channel, _: ProviderKind, t: &Transition, open_for: Duration) {
        self.told
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((t.to, open_for));
    }
}

fn transient() -> SendError {
    SendError::transient("HTTP 500")
}

#[tokio::test(start_paused = true)]
async fn the_failures_of_every_process_together_open_the_breaker_here_and_the_others_are_told() {
    let (chain, sns) = chain(ScriptedProvider::failing(transient()));
    let others = Arc::new(Others::default());
    // Three failures elsewhere already.
    others.failed.store(3, Ordering::SeqCst);
    chain.set_breaker_sync(Some(others.clone()));
    chain.send(&otp()).await;
    assert_eq!(
        chain.breaker(&ProviderKind::Sns).map(|b| b.state()),
        Some(BreakerState::Closed)
    );
    chain.send(&otp()).await;
    let breaker = chain.breaker(&ProviderKind::Sns).expect("sns");
    assert_eq!(
        breaker.state(),
        BreakerState::Open,
        "5 together, 2 of them here"
    );
    assert_eq!(breaker.reading().consecutive_failures, 2);
    let told = others.told.lock().expect("told").clone();
    assert_eq!(told, [(BreakerState::Open, Duration::from_secs(300))]);
    // OPEN: the next send skips SNS without a call.
    let record = chain.send(&otp()).await;
    assert_eq!(sns.calls(), 2);
    assert_eq!(record.outcome.skipped()[0].reason, SkipReason::BreakerOpen);
}

#[tokio::test(start_paused = true)]
async fn only_the_process_holding_the_lease_makes_the_half_open_trial() {
    let (chain, sns) = chain(ScriptedProvider::new([], Step::Ok));
    let others = Arc::new(Others::default());
    chain.set_breaker_sync(Some(others.clone()));
    chain.apply_remote_transition(&RemoteTransition {
        provider: ProviderKind::Sns,
        to: BreakerState::Open,
        open_for: Duration::from_secs(10),
        reason: "on instance b: 5 failures across instances".into(),
    });
    let breaker = chain.breaker(&ProviderKind::Sns).expect("sns");
    assert_eq!(
        breaker.reading().open_remaining,
        Some(Duration::from_secs(10))
    );
    assert!(
        others.told.lock().expect("told").is_empty(),
        "never passed back"
    );
    tokio::time::advance(Duration::from_secs(10)).await;
    // Another process holds the lease: SNS is skipped, and the slot is free for the next send.
    let record = chain.send(&otp()).await;
    assert_eq!(sns.calls(), 0);
    let skip = &record.outcome.skipped()[0];
    assert_eq!(skip.reason, SkipReason::BreakerOpen);
    assert!(skip
        .detail
        .as_deref()
        .is_some_and(|d| d.contains("another instance")));
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    // The lease is ours now: the trial is made and its success is passed on.
    others.trial_free.store(true, Ordering::SeqCst);
    let record = chain.send(&otp()).await;
    assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Sns));
    assert_eq!(breaker.state(), BreakerState::Closed);
    let told = others.told.lock().expect("told").clone();
    assert_eq!(told.last().map(|t| t.0), Some(BreakerState::Closed));
    // Another process's trial succeeded: CLOSED here too.
    chain.apply_remote_transition(&RemoteTransition {
        provider: ProviderKind::Sns,
        to: BreakerState::Closed,
        open_for: Duration::ZERO,
        reason: "on instance c: trial call succeeded".into(),
    });
    assert_eq!(breaker.state(), BreakerState::Closed);
}

/// A limiter that answers from a script and remembers what it was asked.
struct Limiter {
    answers: Mutex<Vec<bool>>,
    asked: Mutex<Vec<(ProviderKind, f64, Duration)>>,
}

impl RateLimiter for Limiter {
    fn acquire(
        &self,
        provider: ProviderKind,
        per_second: f64,
        max_wait: Duration,
    ) -> RateFuture<'_> {
        Box::pin(async move {
            self.asked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((provider, per_second, max_wait));
            self.answers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop()
                .unwrap_or(true)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn an_installed_rate_limiter_decides_instead_of_the_token_bucket() {
    let (chain, sns) = chain(ScriptedProvider::instant());
    let limiter = Arc::new(Limiter {
        answers: Mutex::new(vec![false, true]),
        asked: Mutex::new(Vec::new()),
    });
    chain.set_rate_limiter(Some(limiter.clone()));
    assert_eq!(
        chain.send(&otp()).await.outcome.delivered_by(),
        Some(&ProviderKind::Sns)
    );
    let record = chain.send(&otp()).await;
    assert_eq!(record.outcome.skipped()[0].reason, SkipReason::RateLimited);
    assert_eq!(sns.calls(), 1);
    let asked = limiter.asked.lock().expect("asked").clone();
    assert_eq!(
        asked[0],
        (ProviderKind::Sns, 10.0, Duration::from_millis(500)),
        "the provider, its rate and the chain's longest wait"
    );
    // Twenty more in the same instant: the bucket (10, a second's burst) is not asked.
    for _ in 0..20 {
        chain.send(&otp()).await;
    }
    assert_eq!(sns.calls(), 21);
    chain.set_rate_limiter(None);
    chain.set_settings(ChainSettings {
        on_rate_limit: msgops_core::chain::RateLimitPolicy::SpillOver,
        ..ChainSettings::default()
    });
    for _ in 0..20 {
        chain.send(&otp()).await;
    }
    assert_eq!(
        sns.calls(),
        31,
        "back on the bucket: a second's burst of 10"
    );
}
