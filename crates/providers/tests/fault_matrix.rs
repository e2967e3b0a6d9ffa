//! The fault matrix: every provider against its real peer (moto for SNS, Prism serving the
//! OpenAPI descriptions for Twilio and SendGrid, aiosmtpd for SMTP), then against a scripted
//! server answering each fault of the incident and its cousins — 401 with Twilio's body, 429
//! with and without `Retry-After`, 500, 503, no answer, refused, reset, malformed JSON (and the
//! SMTP equivalents: 535, 421, 451, 554, closed, reset, silence, garbage).
//!
//! Each row sends through a chain holding the provider (in its place in the real chain, the
//! others unconfigured, with the chain's last resort behind it where it shows health: Console
//! for SMS, a scripted SMTP server for SendGrid) exactly `THRESHOLD` times, then once more, and
//! checks: the outcome of each send for the provider (its `ErrorKind`, or why it was skipped);
//! the provider code; the breaker after `THRESHOLD - 1` and after `THRESHOLD` sends; the chain's
//! status (`ChainHealth::of`) at both points; the provider's `is_healthy` and `throttled_until`;
//! the receipt (`Attempt.provider_message_id`) of delivered sends; and how many calls reached
//! the peer (an OPEN breaker or a throttled provider costs none).
//!
//! Every row's expectation is written out in the row. The whole matrix is printed as a table
//! (see it with `--nocapture`), then the test fails if any row differs from its expectation.
//! Rows run concurrently; Prism's start-up is the long pole.

mod common;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use common::scripted_smtp::{ScriptedSmtp, SmtpAction, SmtpStage};
use common::*;
use msgops_core::chain::{
    ChainSettings, Priority, ProviderChain, ProviderSpec, RateLimitPolicy, SendRecord,
    SharedProvider,
};
use msgops_core::config::{ProviderDefaults, ProviderPolicy, SmtpTls, CONSOLE};
use msgops_core::console::ConsoleSmsProvider;
use msgops_core::health::{ChainHealth, ChainStatus};
use msgops_core::message::Message;
use msgops_core::{
    AttemptOutcome, BreakerState, EmailMessage, ErrorKind, ProviderKind, SkipReason, SmsMessage,
};
use msgops_providers::aws::{AwsCredentials, AwsSettings};
use msgops_providers::{SmtpProvider, SmtpSettings, SnsProvider, Timeouts};
use secrecy::SecretString;

/// The breaker threshold of the provider under test in every row.
const THRESHOLD: u32 = 3;

/// Rows sending at the same time. With every row at once, the first call of many rows took
/// longer than the 800 ms request timeout on two busy cores (client set-up is CPU work in a
/// debug build) and read as `ambiguous`; a few at a time keeps the timeouts honest.
const CONCURRENT_ROWS: usize = 4;

/// A slot to run a row's sends in (peers start outside it).
async fn slot() -> tokio::sync::SemaphorePermit<'static> {
    static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> =
        std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(CONCURRENT_ROWS));
    SLOTS
        .acquire()
        .await
        .expect("the semaphore is never closed")
}

// ---------------------------------------------------------------------------------------------
// What a row expects and what it saw.

/// What one send did with the provider under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Delivered,
    Failed(ErrorKind),
    Skipped(SkipReason),
    /// Neither tried nor skipped (the send ended before reaching it).
    Absent,
}

impl Seen {
    fn called(self) -> bool {
        matches!(self, Seen::Delivered | Seen::Failed(_))
    }
}

fn snake<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::Delivered => f.write_str("delivered"),
            Seen::Failed(kind) => f.write_str(&snake(kind)),
            Seen::Skipped(reason) => write!(f, "skip:{}", snake(reason)),
            Seen::Absent => f.write_str("absent"),
        }
    }
}

/// What the receipt of the delivered sends must be.
#[derive(Debug, Clone, Copy)]
enum ReceiptIs {
    /// No delivered send: nothing to check.
    NotApplicable,
    /// Present and not empty (and found at the peer, where the row checks that).
    NonEmpty,
    /// A Twilio message SID (`SM...` or `MM...`, 34 characters).
    TwilioSid,
    Exactly(&'static str),
    StartsWith(&'static str),
    Absent,
}

impl ReceiptIs {
    /// Whether the receipts of every delivered send are what this says.
    fn accepts_all(self, receipts: &[Option<String>]) -> bool {
        match self {
            ReceiptIs::NotApplicable => receipts.is_empty(),
            _ => !receipts.is_empty() && receipts.iter().all(|r| self.accepts(r.as_deref())),
        }
    }

    fn accepts(self, receipt: Option<&str>) -> bool {
        match self {
            ReceiptIs::NotApplicable => true,
            ReceiptIs::NonEmpty => receipt.is_some_and(|r| !r.trim().is_empty()),
            ReceiptIs::TwilioSid => receipt
                .is_some_and(|r| (r.starts_with("SM") || r.starts_with("MM")) && r.len() == 34),
            ReceiptIs::Exactly(want) => receipt == Some(want),
            ReceiptIs::StartsWith(want) => receipt.is_some_and(|r| r.starts_with(want)),
            ReceiptIs::Absent => receipt.is_none(),
        }
    }
}

/// The expectation of one row, written out per row.
#[derive(Debug, Clone)]
struct Expect {
    /// The provider's part in sends 1..=THRESHOLD.
    sends: [Seen; THRESHOLD as usize],
    /// Its part in the send after those.
    next: Seen,
    /// The provider code of the first failed attempt.
    code: Option<i64>,
    breaker_before: BreakerState,
    breaker_at: BreakerState,
    chain_before: ChainStatus,
    chain_at: ChainStatus,
    /// The provider's `is_healthy` after THRESHOLD sends.
    healthy_at: bool,
    /// `throttled_until` after THRESHOLD sends, as the time left: within (lo, hi] seconds.
    throttled: Option<(u64, u64)>,
    receipt: ReceiptIs,
    /// Calls that reach the peer, where it differs from one per attempted send (SMTP counts
    /// connections).
    calls: Option<usize>,
}

/// What one row saw.
#[derive(Debug, Clone)]
struct Observed {
    sends: Vec<Seen>,
    next: Seen,
    code: Option<i64>,
    breaker_before: BreakerState,
    breaker_at: BreakerState,
    chain_before: ChainStatus,
    chain_at: ChainStatus,
    healthy_at: bool,
    /// Milliseconds left.
    throttled_ms: Option<i64>,
    /// The receipt of each delivered send.
    receipts: Vec<Option<String>>,
    /// Calls that reached the peer, where the peer can count them.
    calls: Option<usize>,
    /// Row-specific checks that failed (e.g. the SMS not found at moto).
    problems: Vec<String>,
    /// The first failed attempt's message, for the report.
    first_error: Option<String>,
}

impl Expect {
    /// Every send fails with `kind`, the breaker is CLOSED after THRESHOLD - 1 failures and
    /// OPEN at THRESHOLD; the next send skips the provider without a call.
    fn trips(kind: ErrorKind, code: Option<i64>, chain: (ChainStatus, ChainStatus)) -> Expect {
        Expect {
            sends: [Seen::Failed(kind); THRESHOLD as usize],
            next: Seen::Skipped(SkipReason::BreakerOpen),
            code,
            breaker_before: BreakerState::Closed,
            breaker_at: BreakerState::Open,
            chain_before: chain.0,
            chain_at: chain.1,
            healthy_at: false,
            throttled: None,
            receipt: ReceiptIs::NotApplicable,
            calls: None,
        }
    }

    /// The first send is throttled; the provider is then skipped (`throttled`) without a call
    /// until the wait is over, and its breaker never moves.
    fn throttles(code: i64, left_secs: (u64, u64), chain: (ChainStatus, ChainStatus)) -> Expect {
        Expect {
            sends: [
                Seen::Failed(ErrorKind::Throttled),
                Seen::Skipped(SkipReason::Throttled),
                Seen::Skipped(SkipReason::Throttled),
            ],
            next: Seen::Skipped(SkipReason::Throttled),
            code: Some(code),
            breaker_before: BreakerState::Closed,
            breaker_at: BreakerState::Closed,
            chain_before: chain.0,
            chain_at: chain.1,
            healthy_at: true,
            throttled: Some(left_secs),
            receipt: ReceiptIs::NotApplicable,
            calls: None,
        }
    }

    /// Every send is rejected for the recipient: no failover, the breaker never moves.
    fn permanent(code: Option<i64>, chain: ChainStatus) -> Expect {
        Expect {
            sends: [Seen::Failed(ErrorKind::Permanent); THRESHOLD as usize],
            next: Seen::Failed(ErrorKind::Permanent),
            code,
            breaker_before: BreakerState::Closed,
            breaker_at: BreakerState::Closed,
            chain_before: chain,
            chain_at: chain,
            healthy_at: true,
            throttled: None,
            receipt: ReceiptIs::NotApplicable,
            calls: None,
        }
    }

    /// Every send is delivered by the provider, with this receipt.
    fn delivers(receipt: ReceiptIs, chain: ChainStatus) -> Expect {
        Expect {
            sends: [Seen::Delivered; THRESHOLD as usize],
            next: Seen::Delivered,
            code: None,
            breaker_before: BreakerState::Closed,
            breaker_at: BreakerState::Closed,
            chain_before: chain,
            chain_at: chain,
            healthy_at: true,
            throttled: None,
            receipt,
            calls: None,
        }
    }

    /// Reaching the peer this many times instead of once per attempted send.
    fn with_calls(self, calls: usize) -> Expect {
        Expect {
            calls: Some(calls),
            ..self
        }
    }

    fn expected_calls(&self) -> usize {
        if let Some(calls) = self.calls {
            return calls;
        }
        self.sends
            .iter()
            .chain(std::iter::once(&self.next))
            .filter(|s| s.called())
            .count()
    }

    /// Where the observation differs from this expectation, in words.
    fn mismatches(&self, o: &Observed) -> Vec<String> {
        let mut out = Vec::new();
        let mut differ = |what: &str, want: String, got: String| {
            if want != got {
                out.push(format!("{what}: expected {want}, saw {got}"));
            }
        };
        differ(
            "sends",
            format!("{:?}", self.sends),
            format!("{:?}", o.sends),
        );
        differ("next send", self.next.to_string(), o.next.to_string());
        differ("code", format!("{:?}", self.code), format!("{:?}", o.code));
        differ(
            "breaker after N-1",
            format!("{:?}", self.breaker_before),
            format!("{:?}", o.breaker_before),
        );
        differ(
            "breaker after N",
            format!("{:?}", self.breaker_at),
            format!("{:?}", o.breaker_at),
        );
        differ(
            "chain after N-1",
            self.chain_before.to_string(),
            o.chain_before.to_string(),
        );
        differ(
            "chain after N",
            self.chain_at.to_string(),
            o.chain_at.to_string(),
        );
        differ(
            "is_healthy after N",
            self.healthy_at.to_string(),
            o.healthy_at.to_string(),
        );
        let throttled_ok = match (self.throttled, o.throttled_ms) {
            (None, None) => true,
            (Some((lo, hi)), Some(ms)) => ms > (lo * 1000) as i64 && ms <= (hi * 1000) as i64,
            _ => false,
        };
        if !throttled_ok {
            out.push(format!(
                "throttled_until: expected {:?} s left, saw {:?} ms",
                self.throttled, o.throttled_ms
            ));
        }
        if !self.receipt.accepts_all(&o.receipts) {
            out.push(format!(
                "receipts: expected {:?}, saw {:?}",
                self.receipt, o.receipts
            ));
        }
        if let Some(calls) = o.calls {
            if calls != self.expected_calls() {
                out.push(format!(
                    "calls reaching the peer: expected {}, saw {calls}",
                    self.expected_calls()
                ));
            }
        }
        out.extend(o.problems.iter().cloned());
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Chains and providers.

fn spec(d: &ProviderDefaults, priority: Priority) -> ProviderSpec {
    ProviderPolicy {
        failure_threshold: Some(THRESHOLD),
        open_secs: Some(60),
        rate_per_second: Some(0.0),
        ..ProviderPolicy::default()
    }
    .spec(d, priority)
}

/// The chain of a scripted row: its providers use [`short_timeouts`].
fn settings() -> ChainSettings {
    ChainSettings {
        // Above every provider's own limit (SMTP's is connect + request = 2.8 s), so that a
        // silent peer is classified by the provider, not cut off by the chain.
        per_attempt_timeout: Duration::from_secs(4),
        send_deadline: Duration::from_secs(12),
        on_rate_limit: RateLimitPolicy::SpillOver,
    }
}

/// The timeouts of a provider talking to a real peer: the providers' defaults. A peer's first
/// answer can take seconds (moto loads its backend, Prism its description), which the short
/// timeouts of the scripted rows would read as `ambiguous`.
fn peer_timeouts() -> Timeouts {
    Timeouts::default()
}

/// The chain of a real-peer row: room for [`peer_timeouts`].
fn peer_settings() -> ChainSettings {
    ChainSettings {
        per_attempt_timeout: Duration::from_secs(20),
        send_deadline: Duration::from_secs(40),
        on_rate_limit: RateLimitPolicy::SpillOver,
    }
}

/// The SMS chain, SNS → Twilio → Console, with Console writing to `log`.
fn sms_chain(
    sns: Option<SharedProvider<SmsMessage>>,
    twilio: Option<SharedProvider<SmsMessage>>,
    log: &Path,
    settings: ChainSettings,
) -> ProviderChain<SmsMessage> {
    let (events, _) = tokio::sync::broadcast::channel(64);
    ProviderChain::new(
        vec![
            (spec(&SNS, Priority::Primary), sns),
            (spec(&TWILIO, Priority::Secondary), twilio),
            (
                ProviderPolicy::default().spec(&CONSOLE, Priority::Fallback),
                Some(Arc::new(ConsoleSmsProvider::new(log)) as _),
            ),
        ],
        settings,
        events,
    )
}

/// The email chain, SES → SendGrid → SMTP (SES never configured here).
fn email_chain(
    sendgrid: Option<SharedProvider<EmailMessage>>,
    smtp: Option<SharedProvider<EmailMessage>>,
    settings: ChainSettings,
) -> ProviderChain<EmailMessage> {
    let (events, _) = tokio::sync::broadcast::channel(64);
    ProviderChain::new(
        vec![
            (spec(&SES, Priority::Primary), None),
            (spec(&SENDGRID, Priority::Secondary), sendgrid),
            (spec(&SMTP, Priority::Fallback), smtp),
        ],
        settings,
        events,
    )
}

fn aws_settings(endpoint: &str, timeouts: Timeouts) -> AwsSettings {
    AwsSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint.into()),
        credentials: AwsCredentials::Static {
            access_key_id: SecretString::from(FAKE_AWS_KEY_ID),
            secret_access_key: SecretString::from(FAKE_AWS_SECRET),
        },
        timeouts,
    }
}

fn smtp(port: u16, auth: bool, timeouts: Timeouts) -> SmtpProvider {
    SmtpProvider::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::Plain,
        auth: auth.then(|| {
            (
                "otp-user".to_owned(),
                SecretString::from(FAKE_SMTP_PASSWORD),
            )
        }),
        from: "Acme OTP <otp@example.com>".into(),
        timeouts,
    })
    .expect("an SMTP provider")
}

// ---------------------------------------------------------------------------------------------
// Running a row.

/// The provider's part in one send, its code and receipt, and the failure's words.
fn part(
    record: &SendRecord,
    id: ProviderKind,
) -> (Seen, Option<i64>, Option<Option<String>>, Option<String>) {
    if let Some(a) = record.outcome.attempts().iter().find(|a| a.provider == id) {
        return match (a.outcome, a.error_kind) {
            (AttemptOutcome::Delivered, _) => (
                Seen::Delivered,
                None,
                Some(a.provider_message_id.clone()),
                None,
            ),
            (AttemptOutcome::Failed, Some(kind)) => {
                (Seen::Failed(kind), a.provider_code, None, a.error.clone())
            }
            (AttemptOutcome::Failed, None) => (Seen::Absent, None, None, a.error.clone()),
        };
    }
    match record.outcome.skipped().iter().find(|s| s.provider == id) {
        Some(s) => (Seen::Skipped(s.reason), None, None, None),
        None => (Seen::Absent, None, None, None),
    }
}

fn chain_status<M: Message>(chain: &ProviderChain<M>) -> ChainStatus {
    ChainHealth::of(&chain.health()).status
}

/// Sends `message` THRESHOLD + 1 times through `chain` and reads what happened to `id`.
async fn observe<M: Message>(
    chain: &ProviderChain<M>,
    id: ProviderKind,
    message: &M,
    calls: impl Fn() -> Option<usize>,
) -> Observed {
    let breaker = || {
        chain
            .breaker(&id)
            .expect("the provider is in the chain")
            .state()
    };
    let mut sends = Vec::new();
    let (mut code, mut receipts, mut first_error) = (None, Vec::new(), None);
    let (mut breaker_before, mut chain_before) = (breaker(), chain_status(chain));
    for i in 0..THRESHOLD {
        let record = chain.send(message).await;
        let (seen, c, r, e) = part(&record, id);
        code = code.or(c);
        receipts.extend(r);
        first_error = first_error.or(e);
        sends.push(seen);
        if i + 2 == THRESHOLD {
            breaker_before = breaker();
            chain_before = chain_status(chain);
        }
    }
    let breaker_at = breaker();
    let chain_at = chain_status(chain);
    let health = chain
        .health()
        .into_iter()
        .find(|h| h.id == id)
        .expect("the provider's health");
    let throttled_ms = health
        .throttled_until
        .map(|until| (until - chrono::Utc::now()).num_milliseconds());
    let (next, _, r, _) = part(&chain.send(message).await, id);
    receipts.extend(r);
    Observed {
        sends,
        next,
        code,
        breaker_before,
        breaker_at,
        chain_before,
        chain_at,
        healthy_at: health.is_healthy,
        throttled_ms,
        receipts,
        calls: calls(),
        problems: Vec::new(),
        first_error,
    }
}

/// Where a scripted HTTP row points its provider.
enum Http {
    /// A scripted server answering every request with this reply.
    Answer(Reply),
    /// A port nothing listens on.
    Refused,
}

impl Http {
    async fn start(self) -> (Option<ScriptedServer>, String) {
        match self {
            Http::Answer(reply) => {
                let server = ScriptedServer::start(vec![], reply).await;
                let url = server.url();
                (Some(server), url)
            }
            Http::Refused => (None, refused_url()),
        }
    }
}

/// Where a scripted SMTP row points its provider.
enum Smtp {
    Fault(SmtpStage, SmtpAction),
    Accept,
    Refused,
}

type RowResult = Result<Observed, String>;
type RowFuture = Pin<Box<dyn Future<Output = RowResult> + Send>>;

async fn sns_scripted(target: Http) -> RowResult {
    let _slot = slot().await;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (server, url) = target.start().await;
    let sns = SnsProvider::new(&aws_settings(&url, short_timeouts())).await;
    let log = dir.path().join("backend.log");
    let chain = sms_chain(Some(Arc::new(sns)), None, &log, settings());
    let calls = || server.as_ref().map(|s| s.requests().len());
    Ok(observe(&chain, ProviderKind::Sns, &otp_sms("100001"), calls).await)
}

async fn twilio_scripted(target: Http) -> RowResult {
    let _slot = slot().await;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (server, url) = target.start().await;
    let provider = twilio(&url, short_timeouts());
    let log = dir.path().join("backend.log");
    let chain = sms_chain(None, Some(Arc::new(provider)), &log, settings());
    let calls = || server.as_ref().map(|s| s.requests().len());
    Ok(observe(&chain, ProviderKind::Twilio, &otp_sms("200002"), calls).await)
}

async fn sendgrid_scripted(target: Http) -> RowResult {
    let _slot = slot().await;
    let (server, url) = target.start().await;
    let last_resort = ScriptedSmtp::accepting().await;
    let chain = email_chain(
        Some(Arc::new(sendgrid(&url, short_timeouts()))),
        Some(Arc::new(smtp(last_resort.port, true, short_timeouts()))),
        settings(),
    );
    let calls = || server.as_ref().map(|s| s.requests().len());
    Ok(observe(&chain, ProviderKind::Sendgrid, &otp_email("300003"), calls).await)
}

async fn smtp_scripted(target: Smtp) -> RowResult {
    let _slot = slot().await;
    let accepting = matches!(target, Smtp::Accept);
    let (server, port) = match target {
        Smtp::Fault(stage, action) => {
            let s = ScriptedSmtp::start(Some((stage, action))).await;
            let port = s.port;
            (s, port)
        }
        Smtp::Accept => {
            let s = ScriptedSmtp::accepting().await;
            let port = s.port;
            (s, port)
        }
        Smtp::Refused => {
            let observed = {
                let provider = smtp(free_port(), true, short_timeouts());
                let chain = email_chain(None, Some(Arc::new(provider)), settings());
                observe(&chain, ProviderKind::Smtp, &otp_email("400004"), || None).await
            };
            return Ok(observed);
        }
    };
    let provider = smtp(port, true, short_timeouts());
    let chain = email_chain(None, Some(Arc::new(provider)), settings());
    // Connections opened: lettre keeps no connection that failed with an error. A server that
    // accepts everything is counted by its messages instead: lettre's pool reuses connections,
    // and how many it opens depends on timing.
    let calls = || {
        Some(if accepting {
            server.accepted()
        } else {
            server.connections()
        })
    };
    Ok(observe(&chain, ProviderKind::Smtp, &otp_email("400004"), calls).await)
}

/// The real peers, started before any scripted server binds a port: a peer is given a free
/// port and binds it only seconds later (Prism), and a scripted server binding port 0 in
/// between could be handed the same port and answer in the peer's place.
struct Peers {
    moto: Result<Peer, String>,
    twilio: Result<Peer, String>,
    sendgrid: Result<Peer, String>,
    /// aiosmtpd, and the directory holding the file it writes the mails it receives to.
    smtp: Result<(Peer, tempfile::TempDir), String>,
}

/// Starts a peer on a blocking thread (its start-up waits and sleeps).
async fn start_peer<T: Send + 'static>(
    start: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(start)
        .await
        .map_err(|e| format!("peer start-up panicked: {e}"))?
}

impl Peers {
    async fn start() -> Peers {
        let (moto, twilio, sendgrid, smtp) = tokio::join!(
            start_peer(start_moto),
            start_peer(|| start_prism("twilio_api_v2010.json")),
            start_peer(|| start_prism("sendgrid_v3.json")),
            start_peer(|| {
                let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
                let sink = start_smtp_sink(&dir.path().join("mail.jsonl"), None)?;
                Ok((sink, dir))
            }),
        );
        Peers {
            moto,
            twilio,
            sendgrid,
            smtp,
        }
    }
}

/// SNS against moto: delivered three times and once more, each MessageId found at moto. The
/// running moto is handed on to the next row, which stops it.
async fn sns_moto(
    moto: Result<Peer, String>,
    hand_on: tokio::sync::oneshot::Sender<Result<Peer, String>>,
) -> RowResult {
    let moto = match moto {
        Ok(moto) => moto,
        Err(reason) => {
            let _ = hand_on.send(Err(reason.clone()));
            return Err(reason);
        }
    };
    let _slot = slot().await;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let sns = SnsProvider::new(&aws_settings(&moto.url(), peer_timeouts())).await;
    let log = dir.path().join("backend.log");
    let chain = sms_chain(Some(Arc::new(sns)), None, &log, peer_settings());
    let mut observed = observe(&chain, ProviderKind::Sns, &otp_sms("500005"), || None).await;
    let data = moto_data(&moto).await;
    let at_moto = data["sns"]["SmsMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for id in observed.receipts.iter().flatten() {
        let found = at_moto
            .iter()
            .any(|m| m["message_id"] == id.as_str() && m["phone_number"] == "+14165550123");
        if !found {
            observed
                .problems
                .push(format!("MessageId {id} not among moto's SMS messages"));
        }
    }
    let _ = hand_on.send(Ok(moto));
    Ok(observed)
}

/// SNS with the moto of the row before stopped: nothing listens any more.
async fn sns_moto_stopped(moto: tokio::sync::oneshot::Receiver<Result<Peer, String>>) -> RowResult {
    let mut moto = moto
        .await
        .map_err(|_| "the moto row ended without handing moto on".to_string())??;
    let url = moto.url();
    tokio::task::spawn_blocking(move || moto.stop())
        .await
        .map_err(|e| e.to_string())?;
    let _slot = slot().await;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let sns = SnsProvider::new(&aws_settings(&url, peer_timeouts())).await;
    let log = dir.path().join("backend.log");
    let chain = sms_chain(Some(Arc::new(sns)), None, &log, peer_settings());
    Ok(observe(&chain, ProviderKind::Sns, &otp_sms("600006"), || None).await)
}

async fn twilio_prism(prism: Result<Peer, String>) -> RowResult {
    let prism = prism?;
    let _slot = slot().await;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let provider = twilio(&prism.url(), peer_timeouts());
    let log = dir.path().join("backend.log");
    let chain = sms_chain(None, Some(Arc::new(provider)), &log, peer_settings());
    Ok(observe(&chain, ProviderKind::Twilio, &otp_sms("700007"), || None).await)
}

async fn sendgrid_prism(prism: Result<Peer, String>) -> RowResult {
    let prism = prism?;
    let _slot = slot().await;
    let last_resort = ScriptedSmtp::accepting().await;
    let chain = email_chain(
        Some(Arc::new(sendgrid(&prism.url(), peer_timeouts()))),
        Some(Arc::new(smtp(last_resort.port, true, short_timeouts()))),
        peer_settings(),
    );
    let id = ProviderKind::Sendgrid;
    Ok(observe(&chain, id, &otp_email("800008"), || None).await)
}

async fn smtp_aiosmtpd(sink: Result<(Peer, tempfile::TempDir), String>) -> RowResult {
    let (sink, dir) = sink?;
    let out = dir.path().join("mail.jsonl");
    let _slot = slot().await;
    let provider = smtp(sink.port, false, peer_timeouts());
    let chain = email_chain(None, Some(Arc::new(provider)), peer_settings());
    let mut observed = observe(&chain, ProviderKind::Smtp, &otp_email("900009"), || None).await;
    let received = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .count();
    let sent = observed.sends.len() + 1;
    if received != sent {
        observed
            .problems
            .push(format!("aiosmtpd received {received} mails, {sent} sent"));
    }
    Ok(observed)
}

// ---------------------------------------------------------------------------------------------
// The scripted answers.

/// An AWS query-protocol error answer (what SNS sends).
fn aws_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::Respond {
        status,
        headers: vec![("Content-Type".into(), "text/xml".into())],
        body: format!(
            r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>4f1c2a7e-0b5d-4c41-9d8e-2d6f0a1b3c4d</RequestId></ErrorResponse>"#
        ),
    }
}

fn html(status: u16, body: &str) -> Reply {
    Reply::Respond {
        status,
        headers: vec![("Content-Type".into(), "text/html".into())],
        body: body.into(),
    }
}

const SENDGRID_401: &str = r#"{"errors":[{"field":null,"message":"The provided authorization grant is invalid, expired, or revoked"}]}"#;

// ---------------------------------------------------------------------------------------------
// The matrix.

struct Row {
    provider: &'static str,
    peer: &'static str,
    fault: &'static str,
    expect: Expect,
    /// Shown in the table: why the expectation is what it is, where it is not obvious.
    note: &'static str,
    run: RowFuture,
}

fn row(
    provider: &'static str,
    peer: &'static str,
    fault: &'static str,
    expect: Expect,
    note: &'static str,
    run: impl Future<Output = RowResult> + Send + 'static,
) -> Row {
    Row {
        provider,
        peer,
        fault,
        expect,
        note,
        run: Box::pin(run),
    }
}

fn matrix(peers: Peers) -> Vec<Row> {
    use ChainStatus::{Degraded, Down, Healthy};
    use ErrorKind::{Ambiguous, Authentication, Transient};
    let sms_trip = (Healthy, Degraded);
    let email_trip = (Healthy, Degraded);
    let smtp_trip = (Degraded, Down);
    let (moto_tx, moto_rx) = tokio::sync::oneshot::channel();
    vec![
        // ---- SNS: moto, then the AWS SDK pointed at the scripted server.
        row(
            "sns",
            "moto",
            "none (delivered)",
            Expect::delivers(ReceiptIs::NonEmpty, Healthy),
            "each MessageId found at moto",
            sns_moto(peers.moto, moto_tx),
        ),
        row(
            "sns",
            "moto",
            "moto stopped",
            Expect::trips(Transient, None, sms_trip),
            "",
            sns_moto_stopped(moto_rx),
        ),
        row(
            "sns",
            "scripted",
            "401 Twilio's 20003 JSON body",
            Expect::trips(Authentication, Some(401), sms_trip),
            "",
            sns_scripted(Http::Answer(Reply::status(401, TWILIO_20003))),
        ),
        row(
            "sns",
            "scripted",
            "403 InvalidClientTokenId",
            Expect::trips(Authentication, Some(403), sms_trip),
            "",
            sns_scripted(Http::Answer(aws_error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ))),
        ),
        row(
            "sns",
            "scripted",
            "429 Retry-After: 30",
            Expect::throttles(429, (2, 5), (Degraded, Degraded)),
            "Retry-After not read for AWS: the 5 s default",
            sns_scripted(Http::Answer(
                aws_error(429, "Throttling", "Rate exceeded").with_header("Retry-After", "30"),
            )),
        ),
        row(
            "sns",
            "scripted",
            "429 no Retry-After",
            Expect::throttles(429, (2, 5), (Degraded, Degraded)),
            "the 5 s default",
            sns_scripted(Http::Answer(aws_error(429, "Throttling", "Rate exceeded"))),
        ),
        row(
            "sns",
            "scripted",
            "400 Throttling (AWS's own)",
            Expect::throttles(400, (2, 5), (Degraded, Degraded)),
            "the 5 s default",
            sns_scripted(Http::Answer(aws_error(400, "Throttling", "Rate exceeded"))),
        ),
        row(
            "sns",
            "scripted",
            "500 InternalError",
            Expect::trips(Transient, Some(500), sms_trip),
            "",
            sns_scripted(Http::Answer(aws_error(
                500,
                "InternalError",
                "An internal service error has occurred.",
            ))),
        ),
        row(
            "sns",
            "scripted",
            "503 ServiceUnavailable",
            Expect::trips(Transient, Some(503), sms_trip),
            "",
            sns_scripted(Http::Answer(aws_error(
                503,
                "ServiceUnavailable",
                "Service is unavailable.",
            ))),
        ),
        row(
            "sns",
            "scripted",
            "no answer",
            Expect::trips(Ambiguous, None, sms_trip),
            "after the 800 ms request timeout",
            sns_scripted(Http::Answer(Reply::Hang)),
        ),
        row(
            "sns",
            "scripted",
            "refused",
            Expect::trips(Transient, None, sms_trip),
            "",
            sns_scripted(Http::Refused),
        ),
        row(
            "sns",
            "scripted",
            "reset after the request",
            Expect::trips(Transient, None, sms_trip),
            "",
            sns_scripted(Http::Answer(Reply::Reset)),
        ),
        row(
            "sns",
            "scripted",
            "closed after the request",
            Expect::trips(Transient, None, sms_trip),
            "",
            sns_scripted(Http::Answer(Reply::Garbage(String::new()))),
        ),
        row(
            "sns",
            "scripted",
            "200 malformed JSON",
            Expect::trips(Transient, Some(200), sms_trip),
            "unreadable 200 reads \"rejected the request: HTTP 200\"",
            sns_scripted(Http::Answer(Reply::status(200, r#"{"MessageId": "4f1c"#))),
        ),
        // ---- Twilio: Prism, then the scripted server.
        row(
            "twilio",
            "prism",
            "none (delivered)",
            Expect::delivers(ReceiptIs::TwilioSid, Healthy),
            "",
            twilio_prism(peers.twilio),
        ),
        row(
            "twilio",
            "scripted",
            "401 Twilio's 20003 JSON body",
            Expect::trips(Authentication, Some(20003), sms_trip),
            "",
            twilio_scripted(Http::Answer(Reply::status(401, TWILIO_20003))),
        ),
        row(
            "twilio",
            "scripted",
            "429 Retry-After: 30",
            Expect::throttles(20429, (25, 30), (Degraded, Degraded)),
            "",
            twilio_scripted(Http::Answer(
                Reply::status(
                    429,
                    r#"{"code": 20429, "message": "Too Many Requests", "status": 429}"#,
                )
                .with_header("Retry-After", "30"),
            )),
        ),
        row(
            "twilio",
            "scripted",
            "429 no Retry-After",
            Expect::throttles(20429, (2, 5), (Degraded, Degraded)),
            "the 5 s default",
            twilio_scripted(Http::Answer(Reply::status(
                429,
                r#"{"code": 20429, "message": "Too Many Requests", "status": 429}"#,
            ))),
        ),
        row(
            "twilio",
            "scripted",
            "500 Twilio JSON 20500",
            Expect::trips(Transient, Some(20500), sms_trip),
            "",
            twilio_scripted(Http::Answer(Reply::status(
                500,
                r#"{"code": 20500, "message": "Internal Server Error", "status": 500}"#,
            ))),
        ),
        row(
            "twilio",
            "scripted",
            "503 HTML from a proxy",
            Expect::trips(Transient, Some(503), sms_trip),
            "",
            twilio_scripted(Http::Answer(html(
                503,
                "<html><body>503 Service Unavailable</body></html>",
            ))),
        ),
        row(
            "twilio",
            "scripted",
            "no answer",
            Expect::trips(Ambiguous, None, sms_trip),
            "after the 800 ms request timeout",
            twilio_scripted(Http::Answer(Reply::Hang)),
        ),
        row(
            "twilio",
            "scripted",
            "refused",
            Expect::trips(Transient, None, sms_trip),
            "",
            twilio_scripted(Http::Refused),
        ),
        row(
            "twilio",
            "scripted",
            "reset after the request",
            Expect::trips(Transient, None, sms_trip),
            "",
            twilio_scripted(Http::Answer(Reply::Reset)),
        ),
        row(
            "twilio",
            "scripted",
            "201 malformed JSON",
            Expect::trips(Transient, Some(201), sms_trip),
            "unreadable 201: may have been sent",
            twilio_scripted(Http::Answer(Reply::status(
                201,
                r#"{"sid": "SM0123456789abcdef0123456789abcdef", "status": "#,
            ))),
        ),
        row(
            "twilio",
            "scripted",
            "400 malformed JSON",
            Expect::trips(Transient, Some(400), sms_trip),
            "",
            twilio_scripted(Http::Answer(Reply::status(400, r#"{"code": 212"#))),
        ),
        // ---- SendGrid: Prism, then the scripted server; a scripted SMTP server is the last
        // resort, so a SendGrid breaker that opens leaves the chain degraded.
        row(
            "sendgrid",
            "prism",
            "none (delivered)",
            Expect::delivers(ReceiptIs::Absent, Healthy),
            "the description declares no X-Message-Id",
            sendgrid_prism(peers.sendgrid),
        ),
        row(
            "sendgrid",
            "scripted",
            "202 with X-Message-Id",
            Expect::delivers(ReceiptIs::Exactly("sg-4f1c2a7e"), Healthy),
            "",
            sendgrid_scripted(Http::Answer(
                Reply::status(202, "").with_header("X-Message-Id", "sg-4f1c2a7e"),
            )),
        ),
        row(
            "sendgrid",
            "scripted",
            "401 SendGrid's body",
            Expect::trips(Authentication, Some(401), email_trip),
            "",
            sendgrid_scripted(Http::Answer(Reply::status(401, SENDGRID_401))),
        ),
        row(
            "sendgrid",
            "scripted",
            "401 Twilio's 20003 JSON body",
            Expect::trips(Authentication, Some(401), email_trip),
            "",
            sendgrid_scripted(Http::Answer(Reply::status(401, TWILIO_20003))),
        ),
        row(
            "sendgrid",
            "scripted",
            "429 Retry-After: 30",
            Expect::throttles(429, (25, 30), (Degraded, Degraded)),
            "",
            sendgrid_scripted(Http::Answer(
                Reply::status(429, r#"{"errors":[{"message":"too many requests"}]}"#)
                    .with_header("Retry-After", "30"),
            )),
        ),
        row(
            "sendgrid",
            "scripted",
            "429 no Retry-After",
            Expect::throttles(429, (2, 5), (Degraded, Degraded)),
            "the 5 s default",
            sendgrid_scripted(Http::Answer(Reply::status(
                429,
                r#"{"errors":[{"message":"too many requests"}]}"#,
            ))),
        ),
        row(
            "sendgrid",
            "scripted",
            "500 SendGrid JSON",
            Expect::trips(Transient, Some(500), email_trip),
            "",
            sendgrid_scripted(Http::Answer(Reply::status(
                500,
                r#"{"errors":[{"message":"internal error"}]}"#,
            ))),
        ),
        row(
            "sendgrid",
            "scripted",
            "503 empty body",
            Expect::trips(Transient, Some(503), email_trip),
            "",
            sendgrid_scripted(Http::Answer(Reply::status(503, ""))),
        ),
        row(
            "sendgrid",
            "scripted",
            "no answer",
            Expect::trips(Ambiguous, None, email_trip),
            "after the 800 ms request timeout",
            sendgrid_scripted(Http::Answer(Reply::Hang)),
        ),
        row(
            "sendgrid",
            "scripted",
            "refused",
            Expect::trips(Transient, None, email_trip),
            "",
            sendgrid_scripted(Http::Refused),
        ),
        row(
            "sendgrid",
            "scripted",
            "reset after the request",
            Expect::trips(Transient, None, email_trip),
            "",
            sendgrid_scripted(Http::Answer(Reply::Reset)),
        ),
        row(
            "sendgrid",
            "scripted",
            "500 malformed JSON",
            Expect::trips(Transient, Some(500), email_trip),
            "",
            sendgrid_scripted(Http::Answer(Reply::status(500, r#"{"errors": [{"mess"#))),
        ),
        row(
            "sendgrid",
            "scripted",
            "400 malformed JSON",
            Expect::permanent(Some(400), Healthy),
            "FINDING: any 400 is permanent, even not SendGrid's",
            sendgrid_scripted(Http::Answer(Reply::status(400, r#"{"errors": [{"mess"#))),
        ),
        // ---- SMTP: aiosmtpd, then the scripted SMTP server. SMTP is the email chain's last
        // resort; alone in it, the chain is degraded, and down once its breaker is open.
        row(
            "smtp",
            "aiosmtpd",
            "none (delivered)",
            Expect::delivers(ReceiptIs::Exactly("OK"), Degraded),
            "receipt is the reply text, not a queue id",
            smtp_aiosmtpd(peers.smtp),
        ),
        row(
            "smtp",
            "scripted",
            "250 queued as (Postfix style)",
            Expect::delivers(ReceiptIs::StartsWith("SCRIPTED"), Degraded),
            "receipt is the reply text, not a queue id",
            smtp_scripted(Smtp::Accept),
        ),
        row(
            "smtp",
            "scripted",
            "535 at AUTH (the 401)",
            Expect::trips(Authentication, Some(535), smtp_trip),
            "",
            smtp_scripted(Smtp::Fault(
                SmtpStage::Auth,
                SmtpAction::Reply("535 5.7.8 Authentication credentials invalid".into()),
            )),
        ),
        row(
            "smtp",
            "scripted",
            "421 greeting (busy: the 429/503)",
            Expect::trips(Transient, Some(421), smtp_trip),
            "SMTP has no Retry-After: 4xx is transient",
            smtp_scripted(Smtp::Fault(
                SmtpStage::Greeting,
                SmtpAction::Reply("421 4.7.0 Too many connections, try again later".into()),
            )),
        ),
        row(
            "smtp",
            "scripted",
            "451 at RCPT",
            Expect::trips(Transient, Some(451), smtp_trip),
            "",
            smtp_scripted(Smtp::Fault(
                SmtpStage::Rcpt,
                SmtpAction::Reply("451 4.3.0 Temporary lookup failure".into()),
            )),
        ),
        row(
            "smtp",
            "scripted",
            "550 at RCPT (no such user)",
            Expect::permanent(Some(550), Degraded),
            "",
            smtp_scripted(Smtp::Fault(
                SmtpStage::Rcpt,
                SmtpAction::Reply("550 5.1.1 No such user".into()),
            )),
        ),
        row(
            "smtp",
            "scripted",
            "554 greeting (no service)",
            Expect::permanent(Some(554), Degraded),
            "FINDING: a refusing server never trips",
            smtp_scripted(Smtp::Fault(
                SmtpStage::Greeting,
                SmtpAction::Reply("554 5.3.2 No SMTP service here".into()),
            )),
        ),
        row(
            "smtp",
            "scripted",
            "no answer (no greeting)",
            Expect::trips(Ambiguous, None, smtp_trip),
            "after connect + request = 2.8 s",
            smtp_scripted(Smtp::Fault(SmtpStage::Greeting, SmtpAction::Hang)),
        ),
        row(
            "smtp",
            "scripted",
            "no answer after DATA",
            Expect::trips(Ambiguous, None, smtp_trip).with_calls(3),
            "a send cut off without an answer closes the pool: each send opens a fresh connection",
            smtp_scripted(Smtp::Fault(SmtpStage::EndOfData, SmtpAction::Hang)),
        ),
        row(
            "smtp",
            "scripted",
            "refused",
            Expect::trips(Transient, None, smtp_trip),
            "",
            smtp_scripted(Smtp::Refused),
        ),
        row(
            "smtp",
            "scripted",
            "closed at MAIL FROM",
            Expect::trips(Transient, None, smtp_trip),
            "",
            smtp_scripted(Smtp::Fault(SmtpStage::Mail, SmtpAction::Close)),
        ),
        row(
            "smtp",
            "scripted",
            "reset after DATA",
            Expect::trips(Transient, None, smtp_trip),
            "",
            smtp_scripted(Smtp::Fault(SmtpStage::EndOfData, SmtpAction::Reset)),
        ),
        row(
            "smtp",
            "scripted",
            "garbage greeting (malformed)",
            Expect::trips(Transient, None, smtp_trip),
            "",
            smtp_scripted(Smtp::Fault(
                SmtpStage::Greeting,
                SmtpAction::Garbage("{\"not\": \"smtp\"}\r\n".into()),
            )),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// The table.

fn table(rows: &[(String, String, String, Vec<String>)]) -> String {
    let header = [
        "provider",
        "peer",
        "fault",
        "error kind",
        "breaker after N-1",
        "breaker after N",
        "chain status",
        "sends 1..N ; N+1",
        "code",
        "is_healthy",
        "throttled",
        "receipt",
        "calls",
        "result",
        "note",
    ];
    let cells: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows.iter().map(|(_, _, _, cells)| cells.clone()))
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: &Vec<String>| {
        r.iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let mut out = String::new();
    out.push_str(&line(&cells[0]));
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-|-"),
    );
    out.push('\n');
    for r in &cells[1..] {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

fn breaker_name(state: BreakerState) -> String {
    snake(state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_matrix_classifies_trips_and_reports_health_for_every_provider() {
    let started = std::time::Instant::now();
    let mut handles = Vec::new();
    let mut metas = Vec::new();
    let peers = Peers::start().await;
    let peers_up = started.elapsed();
    for r in matrix(peers) {
        handles.push(tokio::spawn(r.run));
        metas.push((r.provider, r.peer, r.fault, r.expect, r.note));
    }

    let mut printed = Vec::new();
    let mut failures = Vec::new();
    let mut unavailable = Vec::new();
    let mut details = Vec::new();
    for ((provider, peer, fault, expect, note), handle) in metas.into_iter().zip(handles) {
        let name = format!("{provider} / {peer} / {fault}");
        let result = match handle.await {
            Ok(result) => result,
            Err(e) => Err(format!("the row panicked: {e}")),
        };
        let cells = match result {
            Ok(o) => {
                let mismatches = expect.mismatches(&o);
                let kind = o
                    .sends
                    .iter()
                    .find_map(|s| match s {
                        Seen::Failed(kind) => Some(snake(kind)),
                        _ => None,
                    })
                    .unwrap_or_else(|| "-".into());
                let sends = format!(
                    "{} ; {}",
                    o.sends
                        .iter()
                        .map(Seen::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    o.next
                );
                if let Some(e) = &o.first_error {
                    details.push(format!("{name}: {e}"));
                }
                let result = if mismatches.is_empty() {
                    "ok".to_string()
                } else {
                    failures.push(format!("{name}:\n    {}", mismatches.join("\n    ")));
                    "MISMATCH".to_string()
                };
                vec![
                    provider.to_string(),
                    peer.to_string(),
                    fault.to_string(),
                    kind,
                    breaker_name(o.breaker_before),
                    breaker_name(o.breaker_at),
                    format!("{} -> {}", o.chain_before, o.chain_at),
                    sends,
                    o.code.map_or("-".into(), |c| c.to_string()),
                    o.healthy_at.to_string(),
                    o.throttled_ms
                        .map_or("-".into(), |ms| format!("{:.1} s left", ms as f64 / 1000.0)),
                    match o.receipts.first() {
                        None => "-".into(),
                        Some(first) => format!(
                            "{}{}",
                            first.as_deref().unwrap_or("none"),
                            if o.receipts.len() > 1 {
                                format!(" (+{} more)", o.receipts.len() - 1)
                            } else {
                                String::new()
                            }
                        ),
                    },
                    o.calls.map_or("-".into(), |c| c.to_string()),
                    result,
                    note.to_string(),
                ]
            }
            Err(reason) => {
                unavailable.push(format!("{name}: {reason}"));
                let mut cells = vec![provider.to_string(), peer.to_string(), fault.to_string()];
                cells.extend(std::iter::repeat_n("".to_string(), 10));
                cells.push("SKIPPED".into());
                cells.push("peer unavailable".into());
                cells
            }
        };
        printed.push((
            provider.to_string(),
            peer.to_string(),
            fault.to_string(),
            cells,
        ));
    }

    println!(
        "\nFault matrix (threshold N = {THRESHOLD}; {} rows; peers up in {:.1} s, all done in {:.1} s)\n\n{}",
        printed.len(),
        peers_up.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        table(&printed)
    );
    println!("What each provider said on its first failure:");
    for d in &details {
        println!("  {d}");
    }
    assert!(
        failures.is_empty(),
        "{} rows differ from their expectation:\n{}{}",
        failures.len(),
        failures.join("\n"),
        if unavailable.is_empty() {
            String::new()
        } else {
            format!("\nand rows without their peer:\n{}", unavailable.join("\n"))
        }
    );
    if !unavailable.is_empty() {
        // Fails under MSGOPS_REAL_PEERS=1, else prints the reasons.
        common::unavailable(&format!(
            "{} rows without their peer:\n  {}",
            unavailable.len(),
            unavailable.join("\n  ")
        ));
    }
}

/// An SMTP send cut off without an answer (the provider's own limit, the chain's timeout, an
/// abort) must not leave its connection in lettre's pool: a late answer to it would be read as
/// the next send's, every reply after it one behind, until the `354` that invites the message
/// text is taken for "accepted" — "delivered" before the server has accepted anything.
#[tokio::test]
async fn a_late_smtp_reply_never_makes_a_later_send_delivered() {
    let server = ScriptedSmtp::start(Some((
        SmtpStage::EndOfData,
        SmtpAction::Late(
            Duration::from_millis(4500),
            "250 2.0.0 Ok: queued as LATE".into(),
        ),
    )))
    .await;
    let provider = smtp(server.port, true, short_timeouts());
    let mut results = Vec::new();
    for code in ["111111", "222222", "333333"] {
        results.push(
            msgops_core::Provider::send(&provider, &otp_email(code))
                .await
                .map(|r| r.provider_message_id)
                .map_err(|e| e.kind),
        );
        // Sends are not back to back in life: lettre has given the connection back by then.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every message is answered 4.5 s late, past the 2.8 s limit: none is known delivered.
    assert_eq!(
        results,
        vec![Err(ErrorKind::Ambiguous); 3],
        "connections opened: {}",
        server.connections()
    );
}
