//! The breaker under the faults a service meets: a provider that panics, a send aborted at
//! shutdown or cancelled by its caller, a late answer from before a key rotation. None of them
//! may leave a breaker stuck or count against the state that followed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use msgops_core::breaker::BreakerPolicy;
use msgops_core::chain::{ChainSettings, Priority, ProviderSpec};
use msgops_core::scripted::ScriptedProvider;
use msgops_core::{
    BreakerState, ErrorKind, Provider, ProviderChain, ProviderKind, Receipt, SendError, SmsMessage,
};
use tokio::sync::{broadcast, Notify};

/// What the switchable provider does on its next call.
#[derive(Clone)]
enum Mode {
    Ok,
    Fail(SendError),
    Panic,
    Hang,
    /// Waits for `Switch::gate`, then fails.
    FailWhenReleased(SendError),
}

/// A provider whose answers the test changes as it goes.
struct Switch {
    mode: Mutex<Mode>,
    calls: AtomicU64,
    gate: Notify,
}

impl Switch {
    fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            mode: Mutex::new(mode),
            calls: AtomicU64::new(0),
            gate: Notify::new(),
        })
    }
    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("mode") = mode;
    }
    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
    async fn called(&self, n: u64) {
        while self.calls() < n {
            tokio::task::yield_now().await;
        }
    }
}

#[async_trait]
impl Provider<SmsMessage> for Switch {
    async fn send(&self, _message: &SmsMessage) -> Result<Receipt, SendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mode = self.mode.lock().expect("mode").clone();
        match mode {
            Mode::Ok => Ok(Receipt::default()),
            Mode::Fail(e) => Err(e),
            Mode::Panic => panic!("provider bug inside send"),
            Mode::Hang => std::future::pending().await,
            Mode::FailWhenReleased(e) => {
                self.gate.notified().await;
                Err(e)
            }
        }
    }

    async fn probe(&self) -> Result<(), SendError> {
        Ok(())
    }
}

fn spec(id: &str, threshold: u32, open_secs: u64) -> ProviderSpec {
    ProviderSpec {
        id: id.parse::<ProviderKind>().expect("a provider id"),
        health_name: id.into(),
        display_name: id.into(),
        priority: Priority::Primary,
        cost_per_message_usd: 0.0,
        breaker: BreakerPolicy {
            failure_threshold: threshold,
            open_for: Duration::from_secs(open_secs),
        },
        rate_per_second: 0.0,
    }
}

/// SNS (the switch, 5 failures, 300 s), Twilio and Console answering at once.
fn chain(sns: &Arc<Switch>) -> Arc<ProviderChain<SmsMessage>> {
    let instant = || Some(Arc::new(ScriptedProvider::instant()) as Arc<dyn Provider<SmsMessage>>);
    Arc::new(ProviderChain::new(
        vec![
            (
                spec("sns", 5, 300),
                Some(sns.clone() as Arc<dyn Provider<SmsMessage>>),
            ),
            (spec("twilio", 3, 180), instant()),
            (spec("console", 0, 0), instant()),
        ],
        ChainSettings::default(),
        broadcast::channel(64).0,
    ))
}

fn otp() -> SmsMessage {
    SmsMessage {
        to: "+14165550123".into(),
        body: "Your code is 091282".into(),
        code: Some("091282".into()),
    }
}

fn sns_id() -> ProviderKind {
    ProviderKind::Sns
}

/// Opens SNS's breaker and waits out the cool-down: the next call to SNS is the trial.
async fn half_open(chain: &ProviderChain<SmsMessage>, sns: &Switch) {
    sns.set(Mode::Fail(SendError::transient("HTTP 503")));
    for _ in 0..5 {
        chain.send(&otp()).await;
    }
    let breaker = chain.breaker(&sns_id()).expect("sns");
    assert_eq!(breaker.state(), BreakerState::Open);
    tokio::time::advance(Duration::from_secs(300)).await;
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
}

/// After the fault, SNS is still tried: its trial succeeds and closes the breaker.
async fn assert_usable(chain: &ProviderChain<SmsMessage>, sns: &Switch) {
    let breaker = chain.breaker(&sns_id()).expect("sns");
    assert_eq!(
        breaker.state(),
        BreakerState::HalfOpen,
        "nothing was counted"
    );
    sns.set(Mode::Ok);
    let record = chain.send(&otp()).await;
    assert_eq!(
        record.outcome.delivered_by(),
        Some(&sns_id()),
        "the trial slot was freed"
    );
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_provider_that_panics_during_the_trial_leaves_the_breaker_usable() {
    let sns = Switch::new(Mode::Ok);
    let chain = chain(&sns);
    half_open(&chain, &sns).await;
    sns.set(Mode::Panic);
    let task = {
        let chain = chain.clone();
        tokio::spawn(async move { chain.send(&otp()).await })
    };
    let error = task.await.expect_err("the send panicked");
    assert!(error.is_panic());
    assert_eq!(sns.calls(), 6, "the panicking call was the trial");
    assert_usable(&chain, &sns).await;
}

#[tokio::test(start_paused = true)]
async fn an_aborted_send_leaves_the_breaker_usable() {
    let sns = Switch::new(Mode::Ok);
    let chain = chain(&sns);
    half_open(&chain, &sns).await;
    sns.set(Mode::Hang);
    let task = {
        let chain = chain.clone();
        tokio::spawn(async move { chain.send(&otp()).await })
    };
    sns.called(6).await;
    task.abort();
    assert!(task.await.expect_err("aborted").is_cancelled());
    assert_usable(&chain, &sns).await;
}

#[tokio::test(start_paused = true)]
async fn a_send_cancelled_by_its_caller_leaves_the_breaker_usable() {
    let sns = Switch::new(Mode::Ok);
    let chain = chain(&sns);
    half_open(&chain, &sns).await;
    sns.set(Mode::Hang);
    let gave_up = tokio::time::timeout(Duration::from_secs(1), chain.send(&otp())).await;
    assert!(
        gave_up.is_err(),
        "the caller gave up before the attempt timed out"
    );
    assert_eq!(sns.calls(), 6);
    assert_usable(&chain, &sns).await;
}

#[tokio::test(start_paused = true)]
async fn a_late_failure_of_the_old_key_after_a_rotation_counts_against_nothing() {
    let sns = Switch::new(Mode::FailWhenReleased(
        SendError::authentication("HTTP 403 InvalidClientTokenId").with_code(403),
    ));
    let chain = chain(&sns);
    let rotated = Arc::new(ScriptedProvider::instant());
    let message = otp();
    let in_flight = chain.send(&message);
    let rotate = async {
        sns.called(1).await;
        chain.set_provider(&sns_id(), Some(rotated.clone()), "SNS key rotated");
        sns.gate.notify_one();
    };
    let (record, ()) = tokio::join!(in_flight, rotate);
    // The old call is recorded as it happened, and the send failed over...
    let attempt = &record.outcome.attempts()[0];
    assert_eq!(
        (attempt.provider.as_str(), attempt.error_kind),
        ("sns", Some(ErrorKind::Authentication))
    );
    assert_eq!(record.outcome.delivered_by(), Some(&ProviderKind::Twilio));
    // ...but it says nothing about the new key.
    let health = chain
        .health()
        .into_iter()
        .find(|p| p.id == sns_id())
        .expect("sns");
    assert_eq!(health.consecutive_failures, 0);
    assert_eq!(health.last_error, None, "the new key is not marked failing");
    assert_eq!(health.failed, 1, "the call itself still counts as made");
    let next = chain.send(&otp()).await;
    assert_eq!(next.outcome.delivered_by(), Some(&sns_id()));
    assert_eq!(rotated.calls(), 1);
}
