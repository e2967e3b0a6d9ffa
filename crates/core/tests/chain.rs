//! The chain's behaviour end to end with emulated providers and a paused clock.

use std::sync::Arc;
use std::time::Duration;

use msgops_core::breaker::BreakerPolicy;
use msgops_core::chain::{ChainSettings, Priority, ProviderSpec, RateLimitPolicy, SendRecord};
use msgops_core::scripted::{ScriptedProvider, Step};
use msgops_core::{
    AttemptOutcome, BreakerState, ChainEvent, ErrorKind, Provider, ProviderChain, ProviderKind,
    SendError, SendOutcome, SkipReason, SmsMessage,
};
use tokio::sync::broadcast;

fn spec(id: &str, threshold: u32, open_secs: u64, rate: f64, cost: f64) -> ProviderSpec {
    ProviderSpec {
        id: id.parse::<ProviderKind>().expect("a provider id"),
        health_name: format!("{id}Provider"),
        display_name: id.to_uppercase(),
        priority: Priority::Primary,
        cost_per_message_usd: cost,
        breaker: BreakerPolicy {
            failure_threshold: threshold,
            open_for: Duration::from_secs(open_secs),
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

struct Rig {
    chain: ProviderChain<SmsMessage>,
    sns: Arc<ScriptedProvider>,
    twilio: Arc<ScriptedProvider>,
    console: Arc<ScriptedProvider>,
}

fn rig(
    sns: ScriptedProvider,
    twilio: ScriptedProvider,
    console: ScriptedProvider,
    settings: ChainSettings,
) -> Rig {
    let (sns, twilio, console) = (Arc::new(sns), Arc::new(twilio), Arc::new(console));
    let as_dyn = |p: &Arc<ScriptedProvider>| Some(p.clone() as Arc<dyn Provider<SmsMessage>>);
    let chain = ProviderChain::new(
        vec![
            (spec("sns", 5, 300, 10.0, 0.00645), as_dyn(&sns)),
            (spec("twilio", 3, 180, 5.0, 0.0075), as_dyn(&twilio)),
            (spec("console", 0, 0, 0.0, 0.0), as_dyn(&console)),
        ],
        settings,
        broadcast::channel(64).0,
    );
    Rig {
        chain,
        sns,
        twilio,
        console,
    }
}

fn down() -> ScriptedProvider {
    ScriptedProvider::failing(SendError::transient("HTTP 503"))
}

fn tried(record: &SendRecord) -> Vec<(&str, AttemptOutcome, Option<ErrorKind>)> {
    record
        .outcome
        .attempts()
        .iter()
        .map(|a| (a.provider.as_str(), a.outcome, a.error_kind))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn fails_over_in_priority_order_and_records_every_attempt() {
    let auth = SendError::authentication("Twilio 20003: Authenticate").with_code(20003);
    let r = rig(
        down(),
        ScriptedProvider::failing(auth),
        ScriptedProvider::instant(),
        ChainSettings::default(),
    );
    let record = r.chain.send(&otp()).await;
    assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Console));
    assert_eq!(
        tried(&record),
        vec![
            ("sns", AttemptOutcome::Failed, Some(ErrorKind::Transient)),
            (
                "twilio",
                AttemptOutcome::Failed,
                Some(ErrorKind::Authentication)
            ),
            ("console", AttemptOutcome::Delivered, None),
        ]
    );
    assert_eq!(record.outcome.attempts()[1].provider_code, Some(20003));
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_never_costs_a_network_call() {
    let r = rig(
        down(),
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        ChainSettings::default(),
    );
    for _ in 0..5 {
        r.chain.send(&otp()).await;
    }
    assert_eq!(r.sns.calls(), 5);
    assert_eq!(
        r.chain.breaker(&ProviderKind::Sns).map(|b| b.state()),
        Some(BreakerState::Open)
    );
    for _ in 0..20 {
        let record = r.chain.send(&otp()).await;
        assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Twilio));
        assert_eq!(record.outcome.skipped()[0].reason, SkipReason::BreakerOpen);
    }
    assert_eq!(r.sns.calls(), 5, "no call while OPEN");
    // After the cool-down, exactly one trial goes to SNS.
    tokio::time::advance(Duration::from_secs(300)).await;
    r.chain.send(&otp()).await;
    assert_eq!(r.sns.calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_neither_trip_nor_fail_over() {
    let invalid =
        SendError::permanent("The 'To' number +1416 is not a valid phone number").with_code(21211);
    let r = rig(
        ScriptedProvider::failing(invalid),
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        ChainSettings::default(),
    );
    for _ in 0..10 {
        let record = r.chain.send(&otp()).await;
        match &record.outcome {
            SendOutcome::Failed {
                reason, attempts, ..
            } => {
                assert_eq!(attempts.len(), 1);
                assert!(reason.contains("not a valid phone number"), "{reason}");
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    }
    assert_eq!(r.twilio.calls(), 0, "no failover");
    assert_eq!(
        r.chain.breaker(&ProviderKind::Sns).map(|b| b.state()),
        Some(BreakerState::Closed)
    );
}

#[tokio::test(start_paused = true)]
async fn spills_over_to_the_next_provider_when_out_of_tokens() {
    let settings = ChainSettings {
        on_rate_limit: RateLimitPolicy::SpillOver,
        ..ChainSettings::default()
    };
    let r = rig(
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        settings,
    );
    let mut by = Vec::new();
    for _ in 0..12 {
        by.push(
            r.chain
                .send(&otp())
                .await
                .outcome
                .delivered_by()
                .cloned()
                .expect("delivered"),
        );
    }
    let count = |id: &str| by.iter().filter(|p| p.as_str() == id).count();
    assert_eq!(
        (count("sns"), count("twilio")),
        (10, 2),
        "SNS 10/s, then Twilio"
    );
    assert_eq!(r.sns.calls(), 10);
}

#[tokio::test(start_paused = true)]
async fn waits_a_bounded_time_for_a_token_instead_of_spilling() {
    let settings = ChainSettings {
        on_rate_limit: RateLimitPolicy::Wait(Duration::from_millis(150)),
        ..ChainSettings::default()
    };
    let r = rig(
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        settings,
    );
    for _ in 0..10 {
        r.chain.send(&otp()).await;
    }
    let before = tokio::time::Instant::now();
    let record = r.chain.send(&otp()).await;
    assert_eq!(
        record.outcome.delivered_by(),
        Some(&ProviderKind::Sns),
        "waited for SNS's next token"
    );
    assert_eq!(before.elapsed(), Duration::from_millis(100));
    // Twilio's tokens come every 200 ms: more than the 150 ms we are willing to wait.
    let settings = ChainSettings {
        on_rate_limit: RateLimitPolicy::Wait(Duration::from_millis(150)),
        ..ChainSettings::default()
    };
    let r = rig(
        down(),
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        settings,
    );
    let sns = r.chain.breaker(&ProviderKind::Sns).expect("sns");
    sns.set_policy(BreakerPolicy {
        failure_threshold: 1,
        open_for: Duration::from_secs(300),
    });
    for _ in 0..6 {
        r.chain.send(&otp()).await;
    }
    assert_eq!(r.twilio.calls(), 5);
    assert_eq!(r.console.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_provider_is_cut_off_by_the_per_attempt_timeout_as_ambiguous() {
    let settings = ChainSettings {
        per_attempt_timeout: Duration::from_secs(2),
        ..ChainSettings::default()
    };
    let r = rig(
        ScriptedProvider::new([], Step::Hang),
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        settings,
    );
    let started = tokio::time::Instant::now();
    let record = r.chain.send(&otp()).await;
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(
        tried(&record)[0],
        ("sns", AttemptOutcome::Failed, Some(ErrorKind::Ambiguous))
    );
    assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Twilio));
}

fn deadline(per_attempt_ms: u64, deadline_ms: u64) -> ChainSettings {
    ChainSettings {
        per_attempt_timeout: Duration::from_millis(per_attempt_ms),
        send_deadline: Duration::from_millis(deadline_ms),
        on_rate_limit: RateLimitPolicy::SpillOver,
    }
}

fn hang() -> ScriptedProvider {
    ScriptedProvider::new([], Step::Hang)
}

#[tokio::test(start_paused = true)]
async fn the_deadline_leaves_the_last_resort_its_attempt() {
    let r = rig(
        hang(),
        hang(),
        ScriptedProvider::instant(),
        deadline(2000, 3000),
    );
    let started = tokio::time::Instant::now();
    let record = r.chain.send(&otp()).await;
    assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Console));
    let latencies: Vec<(&str, f64)> = record
        .outcome
        .attempts()
        .iter()
        .map(|a| (a.provider.as_str(), a.latency_ms))
        .collect();
    assert_eq!(
        latencies,
        vec![("sns", 2000.0), ("twilio", 500.0), ("console", 0.0)],
        "Twilio got what was left minus the 500 ms kept for Console"
    );
    assert_eq!(started.elapsed(), Duration::from_millis(2500));
}

#[tokio::test(start_paused = true)]
async fn a_nearly_spent_deadline_skips_the_middle_provider_rather_than_call_it_with_a_tiny_timeout()
{
    let r = rig(
        hang(),
        hang(),
        ScriptedProvider::instant(),
        deadline(2000, 2800),
    );
    let record = r.chain.send(&otp()).await;
    assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Console));
    assert_eq!(r.twilio.calls(), 0, "300 ms left for Twilio: not called");
    let skip = &record.outcome.skipped()[0];
    assert_eq!(
        (skip.provider.as_str(), skip.reason),
        ("twilio", SkipReason::DeadlineExceeded)
    );
    let detail = skip.detail.as_deref().expect("a detail");
    assert!(
        detail
            .starts_with("300 ms of the send deadline left for it (the last resort keeps 500 ms)"),
        "{detail}"
    );
    assert!(
        record
            .outcome
            .attempts()
            .iter()
            .all(|a| a.error_kind != Some(ErrorKind::Ambiguous) || a.latency_ms >= 500.0),
        "no attempt timed out with less than the minimum"
    );
}

#[tokio::test(start_paused = true)]
async fn when_the_last_resort_fails_too_the_send_ends_within_its_deadline_and_says_so() {
    let r = rig(hang(), hang(), hang(), deadline(2000, 2800));
    let started = tokio::time::Instant::now();
    let record = r.chain.send(&otp()).await;
    assert_eq!(started.elapsed(), Duration::from_millis(2800));
    match &record.outcome {
        SendOutcome::Failed {
            reason,
            attempts,
            skipped,
        } => {
            assert!(reason.contains("deadline of 2800 ms"), "{reason}");
            assert_eq!(attempts.len(), 2, "SNS and the last resort");
            assert_eq!(attempts[1].latency_ms, 800.0);
            assert_eq!(skipped[0].reason, SkipReason::DeadlineExceeded);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn with_the_last_resort_out_of_the_chain_nothing_is_kept_for_it() {
    let r = rig(
        hang(),
        hang(),
        ScriptedProvider::instant(),
        deadline(2000, 3000),
    );
    r.chain.set_enabled(&ProviderKind::Console, false, "test");
    let started = tokio::time::Instant::now();
    let record = r.chain.send(&otp()).await;
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(record.outcome.attempts()[1].latency_ms, 1000.0);
    assert_eq!(record.outcome.skipped()[0].reason, SkipReason::Disabled);
}

#[tokio::test(start_paused = true)]
async fn huge_timeouts_and_deadlines_never_panic() {
    for huge in [Duration::from_millis(u64::MAX), Duration::MAX] {
        let settings = ChainSettings {
            per_attempt_timeout: huge,
            send_deadline: huge,
            on_rate_limit: RateLimitPolicy::Wait(huge),
        };
        let r = rig(
            down(),
            ScriptedProvider::instant(),
            ScriptedProvider::instant(),
            settings,
        );
        let record = r.chain.send(&otp()).await;
        assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Twilio));
    }
}

fn throttled(retry_after: Option<Duration>) -> ScriptedProvider {
    ScriptedProvider::failing(SendError::throttled("HTTP 429", retry_after).with_code(429))
}

fn health_of(r: &Rig, id: &str) -> msgops_core::health::ProviderHealth {
    r.chain
        .health()
        .into_iter()
        .find(|p| p.id.as_str() == id)
        .expect("listed")
}

#[tokio::test(start_paused = true)]
async fn a_throttled_provider_is_skipped_until_its_retry_after_without_opening_its_breaker() {
    let r = rig(
        throttled(Some(Duration::from_secs(7))),
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        ChainSettings::default(),
    );
    let first = r.chain.send(&otp()).await;
    assert_eq!(
        tried(&first),
        vec![
            ("sns", AttemptOutcome::Failed, Some(ErrorKind::Throttled)),
            ("twilio", AttemptOutcome::Delivered, None),
        ]
    );
    let sns = health_of(&r, "sns");
    assert_eq!(
        (sns.breaker_state, sns.consecutive_failures),
        (BreakerState::Closed, 0)
    );
    let until = sns.throttled_until.expect("throttled_until in health");
    let ahead = until - chrono::Utc::now();
    assert!(
        ahead > chrono::TimeDelta::seconds(6) && ahead <= chrono::TimeDelta::seconds(7),
        "{ahead}"
    );

    tokio::time::advance(Duration::from_millis(6999)).await;
    let second = r.chain.send(&otp()).await;
    let skip = &second.outcome.skipped()[0];
    assert_eq!(
        (skip.provider.as_str(), skip.reason),
        ("sns", SkipReason::Throttled)
    );
    let detail = skip.detail.as_deref().expect("a detail");
    assert!(
        detail.starts_with("throttled until ") && detail.ends_with("(1 ms left)"),
        "{detail}"
    );
    assert_eq!(r.sns.calls(), 1, "no call while throttled");

    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(health_of(&r, "sns").throttled_until, None);
    r.chain.send(&otp()).await;
    assert_eq!(r.sns.calls(), 2, "called again once its Retry-After passed");
}

#[tokio::test(start_paused = true)]
async fn a_429_without_retry_after_is_skipped_for_the_short_default() {
    let r = rig(
        throttled(None),
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        ChainSettings::default(),
    );
    r.chain.send(&otp()).await;
    tokio::time::advance(msgops_core::rate_limit::DEFAULT_RETRY_AFTER - Duration::from_millis(1))
        .await;
    r.chain.send(&otp()).await;
    assert_eq!(r.sns.calls(), 1);
    tokio::time::advance(Duration::from_millis(1)).await;
    r.chain.send(&otp()).await;
    assert_eq!(r.sns.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn throttling_three_times_in_a_row_within_a_minute_counts_as_one_failure() {
    let r = rig(
        throttled(Some(Duration::from_secs(1))),
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        ChainSettings::default(),
    );
    let mut events = r.chain.subscribe();
    let sns = ProviderKind::Sns;
    let breaker = r.chain.breaker(&sns).expect("sns");
    let mut failures = Vec::new();
    // SNS opens after 5 failures: 15 throttled answers, one a second.
    for _ in 0..15 {
        r.chain.send(&otp()).await;
        failures.push(breaker.reading().consecutive_failures);
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    assert_eq!(failures, [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5]);
    assert_eq!(breaker.state(), BreakerState::Open);
    let opened = std::iter::from_fn(|| events.try_recv().ok())
        .find_map(|e| match e {
            ChainEvent::BreakerTransition { transition, .. } => Some(transition),
            _ => None,
        })
        .expect("a transition");
    assert!(
        opened
            .reason
            .contains("throttled 3 times in a row within 60 s"),
        "{}",
        opened.reason
    );
}

#[tokio::test(start_paused = true)]
async fn cost_is_counted_per_delivery() {
    let r = rig(
        ScriptedProvider::new([Step::Fail(SendError::transient("503"))], Step::Ok),
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        ChainSettings::default(),
    );
    let first = r.chain.send(&otp()).await;
    assert!(
        (first.outcome.cost_usd() - 0.0075).abs() < 1e-12,
        "delivered by Twilio"
    );
    r.chain.send(&otp()).await;
    let sns = r.chain.stats(&ProviderKind::Sns).expect("sns");
    assert_eq!((sns.sent, sns.failed), (1, 1));
    assert!((sns.cost_usd - 0.00645).abs() < 1e-12);
}

#[tokio::test(start_paused = true)]
async fn transitions_are_published_as_events_with_reasons() {
    let r = rig(
        down(),
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        ChainSettings::default(),
    );
    let mut events = r.chain.subscribe();
    for _ in 0..5 {
        r.chain.send(&otp()).await;
    }
    let mut transitions = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let ChainEvent::BreakerTransition {
            provider,
            transition,
            ..
        } = event
        {
            transitions.push((provider, transition));
        }
    }
    assert_eq!(transitions.len(), 1);
    assert_eq!(transitions[0].0, ProviderKind::Sns);
    assert_eq!(transitions[0].1.to, BreakerState::Open);
    tokio::time::advance(Duration::from_secs(300)).await;
    r.chain.poll_breakers();
    let next = events.try_recv().expect("HALF_OPEN published by the timer");
    assert!(
        matches!(next, ChainEvent::BreakerTransition { transition, .. } if transition.to == BreakerState::HalfOpen)
    );
}

#[tokio::test(start_paused = true)]
async fn a_replaced_provider_is_used_by_the_next_send_with_its_breaker_reset() {
    let auth = SendError::authentication("Twilio 20003: Authenticate");
    let r = rig(
        down(),
        ScriptedProvider::failing(auth),
        ScriptedProvider::instant(),
        ChainSettings::default(),
    );
    let twilio = ProviderKind::Twilio;
    r.chain.set_enabled(&ProviderKind::Sns, false, "test");
    for _ in 0..3 {
        r.chain.send(&otp()).await;
    }
    assert_eq!(
        r.chain.breaker(&twilio).map(|b| b.state()),
        Some(BreakerState::Open)
    );
    let last_error = |r: &Rig| {
        r.chain
            .health()
            .into_iter()
            .find(|p| p.id == twilio)
            .and_then(|p| p.last_error)
    };
    assert!(last_error(&r).is_some());
    let rotated = Arc::new(ScriptedProvider::instant());
    r.chain
        .set_provider(&twilio, Some(rotated.clone()), "Twilio key rotated");
    // The old key's refusal no longer describes the provider.
    assert_eq!(last_error(&r), None);
    let record = r.chain.send(&otp()).await;
    assert_eq!(record.outcome.delivered_by(), Some(&twilio));
    assert_eq!(rotated.calls(), 1);
}

/// On-call's controls: once the upstream cause is fixed, a reset or a trial ends the wait for
/// the cool-down, and a test send through one OPEN provider is made (as its trial).
#[tokio::test(start_paused = true)]
async fn on_call_controls_end_the_wait_for_the_cool_down() {
    let r = rig(
        down(),
        ScriptedProvider::new(
            (0..3).map(|_| Step::Fail(SendError::authentication("20003").with_code(20003))),
            Step::Ok,
        ),
        ScriptedProvider::instant(),
        ChainSettings::default(),
    );
    let twilio = ProviderKind::Twilio;
    for _ in 0..3 {
        r.chain.send(&otp()).await;
    }
    assert_eq!(
        r.chain.breaker(&twilio).map(|b| b.state()),
        Some(BreakerState::Open)
    );
    let calls = r.twilio.calls();
    // OPEN: skipped.
    let record = r.chain.send(&otp()).await;
    assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Console));
    assert_eq!(r.twilio.calls(), calls);

    // Reset: CLOSED now, and the very next send is delivered by Twilio (its key works again).
    let t = r
        .chain
        .reset_breaker(&twilio, "reset by ops@laptop (cli)")
        .flatten()
        .expect("moved");
    assert_eq!((t.from, t.to), (BreakerState::Open, BreakerState::Closed));
    assert_eq!(t.reason, "reset by ops@laptop (cli)");
    assert!(health_of(&r, "twilio").last_error.is_none());
    let record = r.chain.send(&otp()).await;
    assert_eq!(record.outcome.delivered_by(), Some(&twilio));
    // Nothing left to reset.
    assert_eq!(r.chain.reset_breaker(&twilio, "again"), Some(None));
    assert_eq!(
        r.chain
            .reset_breaker(&ProviderKind::Ses, "not in this chain"),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn a_trial_on_demand_and_a_test_send_through_an_open_provider_are_made_now() {
    let r = rig(
        ScriptedProvider::new(
            (0..6).map(|_| Step::Fail(SendError::transient("connection refused"))),
            Step::Ok,
        ),
        ScriptedProvider::instant(),
        ScriptedProvider::instant(),
        ChainSettings::default(),
    );
    let sns = ProviderKind::Sns;
    for _ in 0..5 {
        r.chain.send(&otp()).await;
    }
    assert_eq!(
        r.chain.breaker(&sns).map(|b| b.state()),
        Some(BreakerState::Open)
    );
    // A trial on demand: HALF_OPEN, the next send calls SNS once; it fails, OPEN again.
    let t = r
        .chain
        .start_trial(&sns, "trial by ops (api)")
        .flatten()
        .expect("moved");
    assert_eq!(t.to, BreakerState::HalfOpen);
    let calls = r.sns.calls();
    let record = r.chain.send(&otp()).await;
    assert_eq!(r.sns.calls(), calls + 1);
    assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Twilio));
    assert_eq!(
        r.chain.breaker(&sns).map(|b| b.state()),
        Some(BreakerState::Open)
    );
    // A test send through SNS only is made although it is OPEN, and its success closes it.
    let record = r.chain.send_via(&otp(), Some(&sns)).await;
    assert_eq!(r.sns.calls(), calls + 2);
    assert_eq!(record.outcome.delivered_by(), Some(&sns), "{record:?}");
    assert_eq!(
        r.chain.breaker(&sns).map(|b| b.state()),
        Some(BreakerState::Closed)
    );
}

/// A refused key is re-read before the refusal counts: when the keychain holds newer
/// credentials (rotated by another process), the provider is installed again and the old key's
/// failure counts for nothing against the new one's breaker.
#[tokio::test(start_paused = true)]
async fn a_refused_key_is_re_read_before_it_counts() {
    struct Rotated {
        chain: std::sync::Mutex<Option<Arc<ProviderChain<SmsMessage>>>>,
        asked: std::sync::atomic::AtomicU32,
    }
    #[async_trait::async_trait]
    impl msgops_core::CredentialRefresh for Rotated {
        async fn refresh(&self, provider: ProviderKind) -> bool {
            self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let chain = self.chain.lock().expect("lock").clone();
            let Some(chain) = chain else { return false };
            chain.set_provider(
                &provider,
                Some(Arc::new(ScriptedProvider::instant())),
                "rotated elsewhere",
            );
            true
        }
    }
    let r = rig(
        down(),
        ScriptedProvider::failing(SendError::authentication("20003").with_code(20003)),
        ScriptedProvider::instant(),
        ChainSettings::default(),
    );
    let chain = Arc::new(r.chain);
    let refresh = Arc::new(Rotated {
        chain: std::sync::Mutex::new(Some(chain.clone())),
        asked: Default::default(),
    });
    let as_dyn: Arc<dyn msgops_core::CredentialRefresh> = refresh.clone();
    chain.set_credential_refresh(Arc::downgrade(&as_dyn));
    let record = chain.send(&otp()).await;
    // This send failed over (its Twilio call was refused) ...
    assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Console));
    assert_eq!(refresh.asked.load(std::sync::atomic::Ordering::SeqCst), 1);
    // ... but the refusal did not count against the new key, and the next send uses it.
    let twilio = chain
        .breaker(&ProviderKind::Twilio)
        .expect("twilio")
        .reading();
    assert_eq!(twilio.consecutive_failures, 0);
    let record = chain.send(&otp()).await;
    assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Twilio));
    *refresh.chain.lock().expect("lock") = None;
}
