//! What the service itself publishes beside the chain's events: sends refused by a recipient
//! limit, codes the app found in backend logs, sends abandoned at shutdown. Together with the
//! chain's `ChainEvent`s they make the `GET /api/v1/events` stream.
//!
//! With `[state]` on Redis the stream is every instance's: each event is tagged with the id of
//! the instance it happened on (`"instance"`), passed on to the others, and theirs are added to
//! this instance's journal as they arrive (its own are never added twice).

use chrono::{DateTime, Utc};
use msgops_core::Channel;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A one-time code found in a backend log (fed by the app's log watcher through
/// [`crate::ServiceState::record_code`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CodeSeen {
    #[schema(value_type = crate::doc::Channel)]
    pub channel: Channel,
    /// E.164 number or address the code was for, when the log says so for certain.
    pub recipient: Option<String>,
    /// When the log cannot tell which of several waiting requests the code is for: each one it
    /// may be for. Empty otherwise.
    pub candidates: Vec<String>,
    pub code: String,
    /// Where it was found, as a short fixed word (`backend_log`, `console_log`): it becomes a
    /// metric label, so never a file path or a recipient.
    pub source: String,
    pub seen_at: DateTime<Utc>,
    /// When the code stops being valid (the backend's 10 minutes), if known.
    pub expires_at: Option<DateTime<Utc>>,
}

impl CodeSeen {
    /// A code the log watcher found, as the service counts and streams it.
    pub fn of(code: &msgops_logwatch::FallbackCode) -> Self {
        let email = code
            .recipient
            .iter()
            .chain(&code.candidates)
            .any(|r| r.contains('@'));
        Self {
            channel: if email { Channel::Email } else { Channel::Sms },
            recipient: code.recipient.clone(),
            candidates: code.candidates.clone(),
            code: code.code.clone(),
            source: crate::metrics::word(&code.source),
            seen_at: Utc::now(),
            expires_at: code.expires_at,
        }
    }
}

/// A code of `GET /api/v1/codes`: what the log watcher found, and whether it is still valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ListedCode {
    #[serde(flatten)]
    pub code: CodeSeen,
    /// `expires_at` has passed, or is not known (a code whose time is unknown is never shown
    /// as valid).
    pub expired: bool,
}

impl CodeSeen {
    /// Expired at `now`: `now >= expires_at`, or no expiry is known.
    pub fn expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|e| now >= e)
    }
}

/// Events of the service, next to the chain's.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceEvent {
    /// A send refused by a per-recipient or per-prefix limit; no provider was called.
    RecipientBlocked {
        #[schema(value_type = crate::doc::Channel)]
        channel: Channel,
        recipient: String,
        /// `recipient` or `prefix:+234`.
        rule: String,
        reason: String,
        retry_after_secs: u64,
        at: DateTime<Utc>,
    },
    CodeSeen(CodeSeen),
    /// A send still running when the shutdown grace period ended: recorded as failed.
    SendAbandoned {
        #[schema(value_type = crate::doc::Channel)]
        channel: Channel,
        recipient: String,
        started_at: DateTime<Utc>,
        reason: String,
    },
    /// A provider's delivery report (verified webhook or SNS SMS log), new to msgops.
    DeliveryStatus {
        #[schema(value_type = crate::doc::DeliveryEvent)]
        report: msgops_delivery::DeliveryEvent,
    },
}

impl ServiceEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            ServiceEvent::RecipientBlocked { .. } => "recipient_blocked",
            ServiceEvent::CodeSeen(_) => "code_seen",
            ServiceEvent::SendAbandoned { .. } => "send_abandoned",
            ServiceEvent::DeliveryStatus { .. } => "delivery_status",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Diagnostics

/// A backend-log diagnostic the service's log watcher saw (`GET /api/v1/diagnostics`): a
/// provider error, a 5xx of the backend, a (re)start, stale configuration, or a change in how a
/// log is followed. Only what the log watcher parsed out of the line — never a code, a secret or
/// the backend's clients' addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Diagnostic {
    /// A messaging provider failed (Twilio 401, SendGrid 401, ...).
    ProviderError {
        #[schema(value_type = crate::doc::ProviderKind)]
        provider: msgops_core::ProviderKind,
        /// HTTP status, if the line or its traceback states one.
        status: Option<u16>,
        /// Provider-specific error code (Twilio `20003`), if stated.
        provider_code: Option<String>,
        level: String,
        message: String,
        /// The line's timestamp as written (the log's clock, no zone).
        #[schema(value_type = Option<String>, example = "2026-05-04T16:34:53")]
        ts: Option<chrono::NaiveDateTime>,
        /// Continuation lines (traceback) that followed the line.
        detail: Vec<String>,
        file: String,
        line: u64,
        seen_at: DateTime<Utc>,
    },
    /// The backend answered 5xx on its auth API.
    HttpError {
        method: String,
        path: String,
        status: u16,
        reason: String,
        /// The last timestamp seen before the access line (they carry none).
        #[schema(value_type = Option<String>, example = "2026-05-04T16:34:53")]
        ts: Option<chrono::NaiveDateTime>,
        file: String,
        line: u64,
        seen_at: DateTime<Utc>,
    },
    /// A provider initialisation line: the backend (re)started.
    BackendStart {
        provider: String,
        /// `PRIMARY`, `SECONDARY`, `FALLBACK`, ... as written.
        role: String,
        /// `SMS` or `EMAIL`.
        channel: String,
        #[schema(value_type = Option<String>, example = "2026-05-04T16:34:53")]
        ts: Option<chrono::NaiveDateTime>,
        file: String,
        line: u64,
        seen_at: DateTime<Utc>,
    },
    /// The backend's configuration changed after it last started (`stale: true`), or a restart
    /// picked the change up (`stale: false`).
    StaleConfig {
        config_path: String,
        config_modified_at: DateTime<Utc>,
        backend_started_at: DateTime<Utc>,
        stale: bool,
        message: String,
        seen_at: DateTime<Utc>,
    },
    /// How following a log file is going changed (missing, rotated, truncated, unreadable).
    FollowerStatus {
        file: String,
        /// `following`, `missing`, `rotated`, `truncated` or `unreadable`.
        #[schema(example = "missing")]
        state: String,
        message: String,
        seen_at: DateTime<Utc>,
    },
}

impl Diagnostic {
    /// The diagnostic of a log watcher event; `None` for codes and clock reports.
    pub fn of(event: &msgops_logwatch::LogEvent) -> Option<Self> {
        use msgops_logwatch::LogEvent;
        let seen_at = Utc::now();
        Some(match event {
            LogEvent::ProviderError(e) => Diagnostic::ProviderError {
                provider: e.provider,
                status: e.status,
                provider_code: e.provider_code.clone(),
                level: e.level.clone(),
                message: e.message.clone(),
                ts: e.ts,
                detail: e.detail.clone(),
                file: e.file.clone(),
                line: e.line,
                seen_at,
            },
            LogEvent::HttpError(e) => Diagnostic::HttpError {
                method: e.method.clone(),
                path: e.path.clone(),
                status: e.status,
                reason: e.reason.clone(),
                ts: e.ts,
                file: e.file.clone(),
                line: e.line,
                seen_at,
            },
            LogEvent::BackendStart(e) => Diagnostic::BackendStart {
                provider: e.provider.clone(),
                role: e.role.clone(),
                channel: e.channel.clone(),
                ts: e.ts,
                file: e.file.clone(),
                line: e.line,
                seen_at,
            },
            LogEvent::StaleConfig(e) => Diagnostic::StaleConfig {
                config_path: e.config_path.clone(),
                config_modified_at: e.config_modified_at,
                backend_started_at: e.backend_started_at,
                stale: e.stale,
                message: e.message.clone(),
                seen_at,
            },
            LogEvent::FollowerStatus(e) => Diagnostic::FollowerStatus {
                file: e.file.clone(),
                state: serde_json::to_value(e.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                message: e.message.clone(),
                seen_at,
            },
            LogEvent::Code(_) | LogEvent::Clock(_) => return None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The journal: every event of the stream, numbered, the last ones kept for resuming

/// Events kept for clients that reconnect with `Last-Event-ID`.
pub const EVENT_BUFFER: usize = 10_000;

/// One event of the stream, encoded once for every client.
#[derive(Debug)]
pub(crate) struct Journaled {
    pub(crate) seq: u64,
    pub(crate) name: &'static str,
    pub(crate) data: String,
    /// A `code_seen`: only for tokens with the `codes` scope.
    pub(crate) holds_code: bool,
}

struct JournalState {
    /// The number the next event gets (the first is 1).
    next: u64,
    buffer: std::collections::VecDeque<std::sync::Arc<Journaled>>,
}

/// Every event of `GET /api/v1/events` (the chain's and the service's) in one order, each with
/// a number that only grows during this run of the service; the last [`EVENT_BUFFER`] are kept.
pub(crate) struct Journal {
    run: String,
    cap: usize,
    state: std::sync::Mutex<JournalState>,
    live: tokio::sync::broadcast::Sender<std::sync::Arc<Journaled>>,
    /// The instances sharing the stream, when there are others.
    shared: Option<msgops_shared_state::SharedState>,
}

/// The event names another instance's events may carry (theirs are added under these).
const SHARED_NAMES: [&str; 8] = [
    "breaker_transition",
    "send_finished",
    "provider_changed",
    "probe_finished",
    "recipient_blocked",
    "code_seen",
    "send_abandoned",
    "delivery_status",
];

/// Where a client's stream starts.
pub(crate) struct Opening {
    /// `Some((id, reason))`: the client's `Last-Event-ID` cannot be resumed from; tell it to
    /// re-fetch state, then send everything still buffered.
    pub(crate) reset: Option<(String, &'static str)>,
    pub(crate) replay: Vec<std::sync::Arc<Journaled>>,
    /// The number of the last event before `replay` (or before the live ones).
    pub(crate) after: u64,
    pub(crate) live: tokio::sync::broadcast::Receiver<std::sync::Arc<Journaled>>,
}

fn run_id() -> String {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
        bytes = nanos.to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Journal {
    pub(crate) fn new(cap: usize) -> Self {
        let (live, _) = tokio::sync::broadcast::channel(1024);
        Self {
            run: run_id(),
            cap: cap.max(1),
            state: std::sync::Mutex::new(JournalState {
                next: 1,
                buffer: std::collections::VecDeque::new(),
            }),
            live,
            shared: None,
        }
    }

    /// A journal whose events are tagged with this instance's id and passed on to the other
    /// instances on `shared` (whose events [`journal_remote_events`] adds).
    pub(crate) fn shared(cap: usize, shared: msgops_shared_state::SharedState) -> Self {
        Self {
            shared: Some(shared),
            ..Self::new(cap)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JournalState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This run's id: the prefix of every event id.
    pub(crate) fn run(&self) -> &str {
        &self.run
    }

    /// The SSE id of event `seq`: `<run>-<seq>`.
    pub(crate) fn id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.run)
    }

    /// Appends one of this instance's events, tagged and passed on when the stream is shared.
    fn append(&self, name: &'static str, data: String, holds_code: bool) {
        let Some(shared) = &self.shared else {
            return self.append_entry(name, data, holds_code);
        };
        let data = tagged(&data, shared.instance_id());
        // Under the journal's lock, so that the others get them in this order.
        let mut state = self.lock();
        if name != "lagged" {
            shared.publish_event(name, &data, holds_code);
        }
        self.push(&mut state, name, data, holds_code);
    }

    /// Appends another instance's event, as it encoded it; `false` for an unknown name.
    pub(crate) fn append_remote(&self, event: &msgops_shared_state::RemoteEvent) -> bool {
        let Some(name) = SHARED_NAMES.iter().find(|n| **n == event.name) else {
            return false;
        };
        self.append_entry(name, event.data.clone(), event.holds_code);
        true
    }

    fn append_entry(&self, name: &'static str, data: String, holds_code: bool) {
        let mut state = self.lock();
        self.push(&mut state, name, data, holds_code);
    }

    fn push(&self, state: &mut JournalState, name: &'static str, data: String, holds_code: bool) {
        let entry = std::sync::Arc::new(Journaled {
            seq: state.next,
            name,
            data,
            holds_code,
        });
        state.next += 1;
        state.buffer.push_back(entry.clone());
        while state.buffer.len() > self.cap {
            state.buffer.pop_front();
        }
        // Under the lock: a client opening its stream sees each event either in its replay or
        // live, never both, never neither.
        let _ = self.live.send(entry);
    }

    pub(crate) fn append_service(&self, event: &ServiceEvent) {
        let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
        self.append(
            event.name(),
            data,
            matches!(event, ServiceEvent::CodeSeen(_)),
        );
    }

    pub(crate) fn append_chain(&self, event: &msgops_core::ChainEvent) {
        use msgops_core::ChainEvent;
        let name = match event {
            ChainEvent::BreakerTransition { .. } => "breaker_transition",
            ChainEvent::SendFinished { .. } => "send_finished",
            ChainEvent::ProviderChanged { .. } => "provider_changed",
            ChainEvent::ProbeFinished { .. } => "probe_finished",
        };
        let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
        self.append(name, data, false);
    }

    /// The journal itself fell behind the chain's events: `missed` of them are not in it.
    pub(crate) fn append_lagged(&self, missed: u64) {
        self.append(
            "lagged",
            format!("{{\"kind\":\"lagged\",\"missed\":{missed}}}"),
            false,
        );
    }

    /// Opens a client's stream after `last_event_id` (its `Last-Event-ID` header): the
    /// buffered events after it, then the live ones. No header: live ones only.
    pub(crate) fn open(&self, last_event_id: Option<&str>) -> Opening {
        let state = self.lock();
        let live = self.live.subscribe();
        let newest = state.next - 1;
        let oldest = state.buffer.front().map_or(state.next, |e| e.seq);
        let resumed = last_event_id.map(|id| {
            id.trim()
                .rsplit_once('-')
                .filter(|(run, _)| *run == self.run)
                .and_then(|(_, n)| n.parse::<u64>().ok())
                .filter(|n| *n <= newest)
        });
        let everything = |reason| Opening {
            reset: Some((self.id(oldest - 1), reason)),
            replay: state.buffer.iter().cloned().collect(),
            after: oldest - 1,
            live: self.live.subscribe(),
        };
        match resumed {
            None => Opening {
                reset: None,
                replay: Vec::new(),
                after: newest,
                live,
            },
            Some(Some(n)) if n + 1 >= oldest => Opening {
                reset: None,
                replay: state.buffer.iter().filter(|e| e.seq > n).cloned().collect(),
                after: n,
                live,
            },
            Some(Some(_)) => everything("the events after this id are no longer buffered"),
            Some(None) => everything(
                "this id is not from this run of the service (it restarted): state may have changed",
            ),
        }
    }

    /// The buffered events after `seq`, and how many after it are no longer buffered.
    pub(crate) fn after(&self, seq: u64) -> (Vec<std::sync::Arc<Journaled>>, u64) {
        let state = self.lock();
        let oldest = state.buffer.front().map_or(state.next, |e| e.seq);
        let missed = oldest.saturating_sub(seq + 1);
        let entries = state
            .buffer
            .iter()
            .filter(|e| e.seq > seq)
            .cloned()
            .collect();
        (entries, missed)
    }
}

/// An event's JSON object with `"instance"` first: `{"instance":"a","kind":...}`. Spliced in
/// rather than parsed and written again (every event is an object that serde wrote).
fn tagged(data: &str, instance: &str) -> String {
    let instance = serde_json::to_string(instance).unwrap_or_else(|_| "\"\"".into());
    match data.strip_prefix('{') {
        Some(rest) if rest.trim_start().starts_with('}') => format!("{{\"instance\":{instance}}}"),
        Some(rest) => format!("{{\"instance\":{instance},{rest}"),
        None => data.to_string(),
    }
}

/// Journals the other instances' events until they end or `stop` is cancelled.
pub(crate) fn journal_remote_events(
    journal: std::sync::Arc<Journal>,
    mut remote: tokio::sync::broadcast::Receiver<msgops_shared_state::RemoteEvent>,
    stop: tokio_util::sync::CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        loop {
            tokio::select! {
                received = remote.recv() => match received {
                    Ok(event) => {
                        journal.append_remote(&event);
                    }
                    Err(RecvError::Lagged(missed)) => journal.append_lagged(missed),
                    Err(RecvError::Closed) => return,
                },
                () = stop.cancelled() => return,
            }
        }
    });
}

/// Journals the chain's events until they end or `stop` is cancelled.
pub(crate) fn journal_chain_events(
    journal: std::sync::Arc<Journal>,
    mut chain: tokio::sync::broadcast::Receiver<msgops_core::ChainEvent>,
    stop: tokio_util::sync::CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime: the chain's events are not on the event stream");
        return;
    };
    runtime.spawn(async move {
        loop {
            tokio::select! {
                biased;
                received = chain.recv() => match received {
                    Ok(event) => journal.append_chain(&event),
                    Err(RecvError::Lagged(missed)) => journal.append_lagged(missed),
                    Err(RecvError::Closed) => return,
                },
                () = stop.cancelled() => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(n: u32) -> ServiceEvent {
        ServiceEvent::CodeSeen(CodeSeen {
            channel: Channel::Sms,
            recipient: Some("+14165550123".into()),
            candidates: Vec::new(),
            code: format!("{n:06}"),
            source: "backend_log".into(),
            seen_at: Utc::now(),
            expires_at: None,
        })
    }

    fn seqs(entries: &[std::sync::Arc<Journaled>]) -> Vec<u64> {
        entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn an_event_is_tagged_with_its_instance_as_its_first_field() {
        let tagged = tagged(r#"{"kind":"send_finished","record":{}}"#, "a\"b");
        assert_eq!(
            tagged,
            r#"{"instance":"a\"b","kind":"send_finished","record":{}}"#
        );
        let value: serde_json::Value = serde_json::from_str(&tagged).expect("still JSON");
        assert_eq!(value["instance"], "a\"b");
        assert_eq!(super::tagged("{}", "c"), r#"{"instance":"c"}"#);
    }

    #[tokio::test]
    async fn resuming_replays_what_came_after_and_live_continues_without_a_gap() {
        let journal = Journal::new(5);
        for n in 1..=3 {
            journal.append_service(&code(n));
        }
        let fresh = journal.open(None);
        assert!(fresh.reset.is_none() && fresh.replay.is_empty());
        assert_eq!(fresh.after, 3);

        let id = journal.id(1);
        let mut resumed = journal.open(Some(&id));
        assert!(resumed.reset.is_none());
        assert_eq!(seqs(&resumed.replay), [2, 3]);
        journal.append_service(&code(4));
        assert_eq!(resumed.live.recv().await.expect("live").seq, 4);

        // Evicted: 1..=4 then 5..=9 → the buffer holds 5..=9.
        for n in 5..=9 {
            journal.append_service(&code(n));
        }
        let gone = journal.open(Some(&id));
        let (reset_id, _) = gone.reset.expect("reset");
        assert_eq!(reset_id, journal.id(4));
        assert_eq!(seqs(&gone.replay), [5, 6, 7, 8, 9]);
        assert_eq!(journal.after(2).1, 2, "3 and 4 are gone");

        for other in ["0badc0de-3", "nonsense", &journal.id(99)] {
            let opening = journal.open(Some(other));
            assert!(opening.reset.is_some(), "{other}");
            assert_eq!(seqs(&opening.replay), [5, 6, 7, 8, 9]);
        }
    }
}
