//! Periodic health probes of every configured provider of both chains, on a tokio task with an
//! interval plus jitter, stopped by a cancellation token. Results go to a callback (the app
//! turns them into events for the health view).
//!
//! Probe failures are shown but never count toward a circuit breaker: the scheduler calls
//! `ProviderChain::probe`, which runs the provider's probe outside the breaker. A breaker
//! measures what real sends experience.

use std::sync::Arc;
use std::time::Duration;

use msgops_core::{Channel, ErrorKind, Messaging, ProviderKind, SendError};
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    pub channel: Channel,
    pub provider: ProviderKind,
    /// Unix time in milliseconds when the probe finished.
    pub at_unix_ms: u64,
    pub latency_ms: f64,
    pub healthy: bool,
    pub error_kind: Option<ErrorKind>,
    pub error: Option<String>,
    pub provider_code: Option<i64>,
}

impl ProbeReport {
    fn new(
        channel: Channel,
        provider: ProviderKind,
        latency: Duration,
        result: Result<(), SendError>,
    ) -> Self {
        let (error_kind, error, provider_code) = match result {
            Ok(()) => (None, None, None),
            Err(e) => (Some(e.kind), Some(e.message), e.provider_code),
        };
        Self {
            channel,
            provider,
            at_unix_ms: now_ms(),
            latency_ms: latency.as_secs_f64() * 1000.0,
            healthy: error_kind.is_none(),
            error_kind,
            error,
            provider_code,
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Runs the probes of both chains every `interval` (± `jitter`).
#[derive(Clone)]
pub struct ProbeScheduler {
    messaging: Arc<Messaging>,
    interval: Duration,
    jitter: Duration,
}

impl ProbeScheduler {
    /// Every `interval`, with a jitter of a tenth of it so that several consoles do not probe
    /// in step.
    pub fn new(messaging: Arc<Messaging>, interval: Duration) -> Self {
        Self {
            messaging,
            interval,
            jitter: interval / 10,
        }
    }

    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// The wait before the next round: `interval` ± a random part of `jitter`.
    pub fn next_delay(&self) -> Duration {
        let j = self.jitter.as_millis().min(u128::from(u64::MAX)) as u64;
        if j == 0 {
            return self.interval;
        }
        let offset = fastrand::u64(0..=2 * j);
        (self.interval + Duration::from_millis(offset)).saturating_sub(Duration::from_millis(j))
    }

    /// Probes every configured provider of both chains once, one after the other, reporting
    /// each result. Unconfigured providers are not probed and not reported.
    pub async fn run_once(&self, on_report: &(dyn Fn(ProbeReport) + Send + Sync)) {
        for id in self.messaging.sms.provider_ids() {
            let started = tokio::time::Instant::now();
            if let Some(result) = self.messaging.sms.probe(&id).await {
                on_report(ProbeReport::new(
                    Channel::Sms,
                    id,
                    started.elapsed(),
                    result,
                ));
            }
        }
        for id in self.messaging.email.provider_ids() {
            let started = tokio::time::Instant::now();
            if let Some(result) = self.messaging.email.probe(&id).await {
                on_report(ProbeReport::new(
                    Channel::Email,
                    id,
                    started.elapsed(),
                    result,
                ));
            }
        }
    }

    /// Starts the probe loop: a first round at once, then one every interval ± jitter, until
    /// `cancel` is cancelled (a round in progress is abandoned).
    pub fn spawn(
        self,
        cancel: CancellationToken,
        on_report: impl Fn(ProbeReport) + Send + Sync + 'static,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = self.run_once(&on_report) => {}
                }
                let delay = self.next_delay();
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgops_core::config::Config;
    use msgops_core::{BreakerState, Provider, Receipt, SmsMessage};
    use std::sync::Mutex;

    /// Sends fine, but its probe says the credentials were refused.
    struct RefusedProbe;

    #[async_trait::async_trait]
    impl Provider<SmsMessage> for RefusedProbe {
        async fn send(&self, _: &SmsMessage) -> Result<Receipt, SendError> {
            Ok(Receipt::default())
        }
        async fn probe(&self) -> Result<(), SendError> {
            Err(SendError::authentication("Twilio 20003: Authenticate").with_code(20003))
        }
    }

    #[tokio::test]
    async fn probes_every_configured_provider_and_never_moves_a_breaker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.console.log_path = dir.path().join("console.log");
        let messaging = Arc::new(Messaging::from_config(&config));
        let twilio = ProviderKind::Twilio;
        messaging
            .sms
            .set_provider(&twilio, Some(Arc::new(RefusedProbe)), "test");
        let reports = Arc::new(Mutex::new(Vec::new()));
        let sink = reports.clone();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        // Real time, a short interval: a paused clock auto-advances while the Console probe
        // waits on the blocking pool, which made the count of rounds depend on the machine.
        let task = ProbeScheduler::new(messaging.clone(), Duration::from_millis(40)).spawn(
            cancel.clone(),
            move |r| {
                let twilio_round = r.provider == ProviderKind::Twilio;
                sink.lock().expect("lock").push(r);
                if twilio_round {
                    let _ = tx.send(());
                }
            },
        );
        // Three rounds, each reporting Twilio once.
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("a round within 10 s")
                .expect("the scheduler is running");
        }
        cancel.cancel();
        task.await.expect("task ends when cancelled");
        let reports = reports.lock().expect("lock").clone();
        let twilio_reports: Vec<_> = reports.iter().filter(|r| r.provider == twilio).collect();
        assert!(twilio_reports.len() >= 3, "{reports:?}");
        assert!(twilio_reports
            .iter()
            .all(|r| !r.healthy && r.error_kind == Some(ErrorKind::Authentication)));
        // Console is configured by default; SNS and all email providers are not, so unreported.
        assert!(reports
            .iter()
            .any(|r| r.provider.as_str() == "console" && r.healthy));
        assert!(!reports.iter().any(|r| r.provider.as_str() == "sns"));
        // Three or more failed probes, threshold 3: the breaker has not moved.
        assert_eq!(
            messaging.sms.breaker(&twilio).expect("breaker").state(),
            BreakerState::Closed
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rounds_follow_the_interval() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.console.log_path = dir.path().join("console.log");
        let messaging = Arc::new(Messaging::from_config(&config));
        messaging
            .sms
            .set_provider(&ProviderKind::Twilio, Some(Arc::new(RefusedProbe)), "test");
        // Only Twilio, whose probe never waits on the blocking pool: the paused clock is exact.
        messaging
            .sms
            .set_provider(&ProviderKind::Console, None, "test");
        let rounds = Arc::new(Mutex::new(Vec::new()));
        let sink = rounds.clone();
        let cancel = CancellationToken::new();
        let task = ProbeScheduler::new(messaging, Duration::from_secs(60))
            .spawn(cancel.clone(), move |_| {
                sink.lock().expect("lock").push(tokio::time::Instant::now())
            });
        // In one-second steps: while a round waits on something outside the runtime, the paused
        // clock may only run ahead to the next step, never past the rounds still to come.
        for _ in 0..130 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        cancel.cancel();
        task.await.expect("task ends when cancelled");
        let rounds = rounds.lock().expect("lock").clone();
        // At 0, ~60 s and ~120 s (jitter at most 6 s).
        assert_eq!(rounds.len(), 3, "{rounds:?}");
        for pair in rounds.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= Duration::from_secs(54) && gap <= Duration::from_secs(66),
                "{gap:?}"
            );
        }
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.console.log_path = dir.path().join("console.log");
        let s = ProbeScheduler::new(
            Arc::new(Messaging::from_config(&config)),
            Duration::from_secs(30),
        )
        .with_jitter(Duration::from_secs(5));
        for _ in 0..200 {
            let d = s.next_delay();
            assert!(
                d >= Duration::from_secs(25) && d <= Duration::from_secs(35),
                "{d:?}"
            );
        }
    }
}
