//! AWS SNS SMS delivery status, read from CloudWatch Logs.
//!
//! SNS does not call a webhook for SMS: with delivery status logging on, it writes one JSON
//! record per SMS to the log group `sns/<region>/<account>/DirectPublishToPhoneNumber`
//! (delivered) or `.../DirectPublishToPhoneNumber/Failure` (not delivered). The record's
//! `notification.messageId` is the MessageId `Publish` returned, which the chain keeps per
//! attempt, so each record finds its send.
//!
//! [`SmsDeliveryLogReader`] reads both groups with `FilterLogEvents` from a stored cursor, so
//! that a restart neither misses nor repeats a record:
//!
//! - The cursor is a small JSON file: per group the newest event timestamp read and the ids of
//!   the events read at or after that timestamp minus an overlap. It is written atomically
//!   (temp file + rename) after each poll that read something new.
//! - Each poll asks from `newest - overlap` (`startTime` is inclusive) and drops the events
//!   whose ids it already holds. Events with the same millisecond as the newest one read are
//!   thus neither skipped nor repeated, and the overlap (default 5 minutes) also catches events
//!   that CloudWatch Logs makes searchable late or out of order across the group's streams.
//!   An event that turns up later than the overlap behind the newest one read is missed.
//! - Every page of `nextToken` is read before anything is recorded: a poll that fails half-way
//!   through a group records nothing of that group, and the next poll asks again.
//! - A group that does not exist yet (AWS creates it at the first delivery) is no error.
//! - Without a cursor, the first poll starts 24 hours back (see
//!   [`SmsDeliveryLogReader::with_initial_lookback`]).
//!
//! The cursor is saved before the events are handed on: a crash between the two loses that
//! poll's events (at most once, never twice).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, NaiveDateTime, Utc};
use msgops_core::ProviderKind;
use msgops_delivery::{DeliveryEvent, DeliverySource, DeliveryStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OnceCell};
use tokio_util::sync::CancellationToken;

use crate::aws::{plain_chain, root_cause, AwsSettings};
use crate::redact::Redactor;

const SERVICE: &str = "AWS CloudWatch Logs";
const DEFAULT_OVERLAP: Duration = Duration::from_secs(5 * 60);
const DEFAULT_INITIAL_LOOKBACK: Duration = Duration::from_secs(24 * 60 * 60);
/// A guard against a peer that never stops handing out `nextToken`s.
const MAX_PAGES: usize = 10_000;
const CURSOR_VERSION: u32 = 1;

/// Where SNS writes SMS delivery status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsDeliveryLogGroups {
    pub success: String,
    pub failure: String,
}

impl SmsDeliveryLogGroups {
    /// `sns/<region>/<account>/DirectPublishToPhoneNumber` and `.../Failure`.
    pub fn for_account(region: &str, account_id: &str) -> Self {
        let success = format!(
            "sns/{}/{}/DirectPublishToPhoneNumber",
            region.trim(),
            account_id.trim()
        );
        Self {
            failure: format!("{success}/Failure"),
            success,
        }
    }
}

/// What one poll found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsDeliveryPoll {
    /// The new records, oldest first.
    pub events: Vec<DeliveryEvent>,
    /// Records that could not be read (skipped, not read again), a group that could not be
    /// read this time (asked again next poll), a cursor that could not be loaded or saved.
    pub problems: Vec<String>,
}

/// The cursor file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CursorFile {
    version: u32,
    groups: BTreeMap<String, GroupCursor>,
}

/// Where the reading of one group stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct GroupCursor {
    /// The newest log event timestamp read (ms since the epoch).
    last_timestamp_ms: i64,
    /// The ids of the events read with a timestamp at or after `last_timestamp_ms` minus the
    /// overlap, with their timestamps: the events the next poll will see again.
    seen_event_ids: BTreeMap<String, i64>,
}

struct State {
    cursor: CursorFile,
    /// The cursor in memory is ahead of the file (a save failed).
    dirty: bool,
}

/// One log event as `FilterLogEvents` returned it.
struct RawEvent {
    id: String,
    timestamp_ms: i64,
    message: String,
}

/// Reads SNS SMS delivery status from CloudWatch Logs. See the module documentation.
pub struct SmsDeliveryLogReader {
    aws: AwsSettings,
    client: OnceCell<aws_sdk_cloudwatchlogs::Client>,
    redactor: Redactor,
    groups: SmsDeliveryLogGroups,
    cursor_path: PathBuf,
    overlap: Duration,
    initial_lookback: Duration,
    page_limit: Option<i32>,
    state: Mutex<Option<State>>,
}

impl std::fmt::Debug for SmsDeliveryLogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsDeliveryLogReader")
            .field("region", &self.aws.region)
            .field("groups", &self.groups)
            .field("cursor_path", &self.cursor_path)
            .field("overlap", &self.overlap)
            .finish_non_exhaustive()
    }
}

impl SmsDeliveryLogReader {
    /// A reader of `groups` with the region, endpoint, credentials and timeouts of `aws`,
    /// keeping its cursor in `cursor_path` (read at the first poll; created when missing).
    pub fn new(aws: &AwsSettings, groups: SmsDeliveryLogGroups, cursor_path: PathBuf) -> Self {
        Self {
            aws: aws.clone(),
            client: OnceCell::new(),
            redactor: aws.redactor(),
            groups,
            cursor_path,
            overlap: DEFAULT_OVERLAP,
            initial_lookback: DEFAULT_INITIAL_LOOKBACK,
            page_limit: None,
            state: Mutex::new(None),
        }
    }

    /// How far behind the newest event read each poll asks again (default 5 minutes), for
    /// events CloudWatch Logs makes searchable late or out of order. Zero still reads events
    /// with the same timestamp as the newest one read.
    pub fn with_overlap(mut self, overlap: Duration) -> Self {
        self.overlap = overlap;
        self
    }

    /// How far back the first poll of a group without a cursor reads (default 24 hours).
    pub fn with_initial_lookback(mut self, lookback: Duration) -> Self {
        self.initial_lookback = lookback;
        self
    }

    /// At most this many events per `FilterLogEvents` page (1..=10,000; default: AWS's).
    pub fn with_page_limit(mut self, limit: i32) -> Self {
        self.page_limit = Some(limit.clamp(1, 10_000));
        self
    }

    pub fn groups(&self) -> &SmsDeliveryLogGroups {
        &self.groups
    }

    pub fn cursor_path(&self) -> &Path {
        &self.cursor_path
    }

    async fn client(&self) -> &aws_sdk_cloudwatchlogs::Client {
        self.client
            .get_or_init(|| async {
                aws_sdk_cloudwatchlogs::Client::new(&self.aws.sdk_config().await)
            })
            .await
    }

    /// One poll of both groups: new records as DeliveryEvents (records that cannot be read
    /// are skipped and returned as problems, never fatal). Err only when AWS cannot be asked
    /// (the message says why, in plain words, no secrets); when only one of the two groups
    /// cannot be read, the other's events are returned and the failure is a problem.
    pub async fn poll(&self) -> Result<SmsDeliveryPoll, String> {
        let mut guard = self.state.lock().await;
        let mut problems = Vec::new();
        let state = match guard.as_mut() {
            Some(state) => state,
            None => guard.insert(State {
                cursor: load_cursor(&self.cursor_path, &mut problems),
                dirty: false,
            }),
        };
        let client = self.client().await;
        let received_at = Utc::now();
        let overlap_ms = duration_ms(self.overlap);

        // Read first, all pages of both groups; change nothing before the last await, so a
        // poll dropped half-way (cancelled) has recorded nothing.
        let mut read = Vec::new();
        let mut failures = Vec::new();
        for group in [&self.groups.success, &self.groups.failure] {
            let start_ms = match state.cursor.groups.get(group.as_str()) {
                Some(c) => c.last_timestamp_ms.saturating_sub(overlap_ms),
                None => received_at
                    .timestamp_millis()
                    .saturating_sub(duration_ms(self.initial_lookback)),
            }
            .max(0);
            match self.read_group(client, group, start_ms).await {
                Ok(raw) => read.push((group, raw)),
                Err(e) => failures.push(e),
            }
        }
        if read.is_empty() {
            failures.dedup();
            return Err(failures.join("; "));
        }
        problems.extend(failures);

        let mut cursor = state.cursor.clone();
        let mut changed = false;
        let mut new_events: Vec<(i64, DeliveryEvent)> = Vec::new();
        for (group, raw) in read {
            let seen = cursor.groups.get(group.as_str());
            let mut fresh: Vec<RawEvent> = raw
                .into_iter()
                .filter(|e| !seen.is_some_and(|c| c.seen_event_ids.contains_key(&e.id)))
                .collect();
            fresh.sort_by(|a, b| (a.timestamp_ms, &a.id).cmp(&(b.timestamp_ms, &b.id)));
            fresh.dedup_by(|a, b| a.id == b.id);
            if fresh.is_empty() {
                continue;
            }
            changed = true;
            let entry = cursor.groups.entry(group.clone()).or_default();
            for e in fresh {
                entry.seen_event_ids.insert(e.id.clone(), e.timestamp_ms);
                entry.last_timestamp_ms = entry.last_timestamp_ms.max(e.timestamp_ms);
                match parse_record(&e.message, &e.id, e.timestamp_ms, received_at) {
                    Ok(event) => new_events.push((e.timestamp_ms, event)),
                    Err(why) => problems.push(format!(
                        "SNS SMS delivery log {group}, log event {}: skipped: {why}",
                        e.id
                    )),
                }
            }
            let keep_from = entry.last_timestamp_ms.saturating_sub(overlap_ms);
            entry.seen_event_ids.retain(|_, ts| *ts >= keep_from);
        }
        if changed || state.dirty {
            cursor.version = CURSOR_VERSION;
            match save_cursor(&self.cursor_path, &cursor) {
                Ok(()) => state.dirty = false,
                Err(e) => {
                    state.dirty = true;
                    problems.push(format!(
                        "could not save the SMS delivery log cursor {}: {e}; records may be read again after a restart",
                        self.cursor_path.display()
                    ));
                }
            }
            state.cursor = cursor;
        }
        new_events.sort_by_key(|(ts, _)| *ts);
        Ok(SmsDeliveryPoll {
            events: new_events.into_iter().map(|(_, e)| e).collect(),
            problems: problems.iter().map(|p| self.redactor.scrub(p)).collect(),
        })
    }

    /// Every page of `FilterLogEvents` for `group` from `start_ms`; a group that does not
    /// exist has no events.
    async fn read_group(
        &self,
        client: &aws_sdk_cloudwatchlogs::Client,
        group: &str,
        start_ms: i64,
    ) -> Result<Vec<RawEvent>, String> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = client
                .filter_log_events()
                .log_group_name(group)
                .start_time(start_ms)
                .set_limit(self.page_limit)
                .set_next_token(token.clone())
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    return Ok(events);
                }
                Err(e) => return Err(self.redactor.scrub(&describe(group, &e))),
            };
            for e in page.events() {
                let Some(timestamp_ms) = e.timestamp().or(e.ingestion_time()) else {
                    continue;
                };
                let message = e.message().unwrap_or_default();
                let id = match e.event_id().filter(|id| !id.is_empty()) {
                    Some(id) => id.to_owned(),
                    None => synthetic_id(e.log_stream_name(), timestamp_ms, message),
                };
                events.push(RawEvent {
                    id,
                    timestamp_ms,
                    message: message.to_owned(),
                });
            }
            match page.next_token().filter(|t| !t.is_empty()) {
                Some(next) if token.as_deref() != Some(next) => token = Some(next.to_owned()),
                _ => return Ok(events),
            }
        }
        Err(format!(
            "{SERVICE}: reading {group} did not end after {MAX_PAGES} pages; asking again next time"
        ))
    }

    /// Polls every `interval` until `cancel`; each poll's events go to `on_events`, problems
    /// to tracing::warn. The first poll is at once. A cancelled poll records nothing.
    pub fn spawn(
        self,
        interval: Duration,
        cancel: CancellationToken,
        on_events: impl Fn(Vec<DeliveryEvent>) + Send + Sync + 'static,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let polled = tokio::select! {
                    _ = cancel.cancelled() => break,
                    polled = self.poll() => polled,
                };
                match polled {
                    Ok(poll) => {
                        for problem in &poll.problems {
                            tracing::warn!(source = "sns_sms_delivery_logs", "{problem}");
                        }
                        if !poll.events.is_empty() {
                            tracing::debug!(
                                source = "sns_sms_delivery_logs",
                                count = poll.events.len(),
                                "SNS SMS delivery records read"
                            );
                            on_events(poll.events);
                        }
                    }
                    Err(e) => tracing::warn!(
                        source = "sns_sms_delivery_logs",
                        "SNS SMS delivery logs not read: {e}"
                    ),
                }
            }
        })
    }
}

/// One log record as a DeliveryEvent: provider Sns, provider_message_id =
/// notification.messageId, status SUCCESS→Delivered / FAILURE→Failed (a success record whose
/// providerResponse is only "accepted by phone carrier" is still Delivered: that is what SNS
/// reports), error_code = None for success, Some(providerResponse) for failure, detail =
/// providerResponse, recipient = delivery.destination, occurred_at = notification.timestamp
/// (UTC, "YYYY-MM-DD HH:MM:SS.mmm") else the log event's timestamp, received_at given, source
/// CloudwatchLogs, event_id = the CloudWatch log event id.
pub fn parse_record(
    message: &str,
    log_event_id: &str,
    log_timestamp_ms: i64,
    received_at: DateTime<Utc>,
) -> Result<DeliveryEvent, String> {
    let record: Value =
        serde_json::from_str(message.trim()).map_err(|e| format!("not a JSON record ({e})"))?;
    if !record.is_object() {
        return Err("not a JSON object".into());
    }
    let text = |pointer: &str| {
        record
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let message_id =
        text("/notification/messageId").ok_or("no notification.messageId in the record")?;
    let status = match text("/status").map(|s| s.to_ascii_uppercase()).as_deref() {
        Some("SUCCESS") => DeliveryStatus::Delivered,
        Some("FAILURE") => DeliveryStatus::Failed,
        Some(other) => return Err(format!("unknown status {other:?} (not SUCCESS or FAILURE)")),
        None => return Err("no status in the record".into()),
    };
    let provider_response = text("/delivery/providerResponse");
    let occurred_at = text("/notification/timestamp")
        .and_then(|t| parse_sns_timestamp(&t))
        .or_else(|| DateTime::from_timestamp_millis(log_timestamp_ms))
        .unwrap_or(received_at);
    Ok(DeliveryEvent {
        provider: ProviderKind::Sns,
        provider_message_id: message_id,
        status,
        error_code: match status {
            DeliveryStatus::Failed => provider_response.clone(),
            _ => None,
        },
        detail: provider_response,
        recipient: text("/delivery/destination"),
        occurred_at,
        received_at,
        source: DeliverySource::CloudwatchLogs,
        event_id: log_event_id.to_owned(),
    })
}

/// `2016-06-28 00:40:34.558` (UTC), or an RFC 3339 time.
fn parse_sns_timestamp(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .map(|t| t.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// An id for an event AWS gave none (it always does): stable across polls.
fn synthetic_id(stream: Option<&str>, timestamp_ms: i64, message: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(stream.unwrap_or_default().as_bytes());
    hash.update([0]);
    hash.update(timestamp_ms.to_be_bytes());
    hash.update(message.as_bytes());
    let digest = hash.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("msgops-{hex}")
}

/// The cursor in `path`; none when the file does not exist. An unreadable file is a problem
/// and reading starts over (from the initial lookback).
fn load_cursor(path: &Path, problems: &mut Vec<String>) -> CursorFile {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return CursorFile::default(),
        Err(e) => {
            problems.push(format!(
                "cannot read the SMS delivery log cursor {}: {e}; reading starts over",
                path.display()
            ));
            return CursorFile::default();
        }
    };
    match serde_json::from_str::<CursorFile>(&text) {
        Ok(cursor) if cursor.version == CURSOR_VERSION => cursor,
        Ok(cursor) => {
            problems.push(format!(
                "the SMS delivery log cursor {} has version {}, not {CURSOR_VERSION}; reading starts over",
                path.display(),
                cursor.version
            ));
            CursorFile::default()
        }
        Err(e) => {
            problems.push(format!(
                "the SMS delivery log cursor {} is not readable ({e}); reading starts over",
                path.display()
            ));
            CursorFile::default()
        }
    }
}

/// Writes the cursor atomically: a temp file next to it, flushed to disk, renamed over it.
/// Synchronous on purpose (a few KB): no await between saving and handing the events on.
fn save_cursor(path: &Path, cursor: &CursorFile) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(cursor).map_err(std::io::Error::other)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sms-delivery-cursor.json".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&json)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Why `FilterLogEvents` on `group` failed, in plain words.
fn describe<E>(group: &str, error: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or_default();
            let words = se.err().message().unwrap_or_default();
            let said = if code.is_empty() {
                format!("HTTP {status}: {words}")
            } else {
                format!("HTTP {status}, {code}: {words}")
            };
            let denied = status == 401
                || status == 403
                || code.contains("AccessDenied")
                || code.contains("UnrecognizedClient")
                || code.contains("InvalidSignature")
                || code.contains("ExpiredToken");
            if denied {
                format!(
                    "{SERVICE} refused to let these AWS credentials read {group} ({said}); they need logs:FilterLogEvents on the SNS SMS delivery log groups"
                )
            } else if code.contains("Throttl") || status == 429 {
                format!("{SERVICE} asked us to slow down reading {group} ({said})")
            } else if (500..600).contains(&status) {
                format!("{SERVICE} is unavailable ({said})")
            } else {
                format!("{SERVICE} refused to read {group} ({said})")
            }
        }
        SdkError::TimeoutError(_) => format!("{SERVICE}: no answer in time reading {group}"),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            format!("{SERVICE}: no answer in time reading {group}")
        }
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
            if plain_chain(error)
                .to_ascii_lowercase()
                .contains("credentials") =>
        {
            format!(
                "{SERVICE}: no usable AWS credentials: {}; store keys with msgops creds rotate aws",
                plain_chain(error)
            )
        }
        SdkError::DispatchFailure(_) => format!(
            "{SERVICE}: could not reach the service: {}",
            root_cause(error)
        ),
        SdkError::ResponseError(_) => format!(
            "{SERVICE}: answered with a response that could not be read: {}",
            plain_chain(error)
        ),
        _ => format!("{SERVICE}: reading {group} failed: {}", plain_chain(error)),
    }
}

/// Where the reader keeps its cursor in the data directory.
pub const CURSOR_FILE_NAME: &str = "sns-sms-delivery-cursor.json";

/// The reader `[delivery] sns_sms_log_account` asks for (`None` when unset), on SNS's region
/// and endpoint, with the AWS keys from the keychain (or the SDK's default chain when none are
/// stored).
pub async fn reader_from_config(
    config: &msgops_core::config::Config,
    store: &dyn msgops_credentials::CredentialStore,
    data_dir: &Path,
) -> Option<SmsDeliveryLogReader> {
    use msgops_credentials::{CredentialStoreExt, SecretKind};
    let account = config.delivery.sns_sms_log_account.as_deref()?;
    let read = |kind| {
        msgops_credentials::blocking_section(|| store.get_secret(kind))
            .map_err(
                |e| tracing::warn!(error = %e, "SNS SMS delivery logs: cannot read the AWS keys"),
            )
            .ok()
            .flatten()
    };
    let credentials = match (
        read(SecretKind::AwsAccessKeyId),
        read(SecretKind::AwsSecretAccessKey),
    ) {
        (Some(access_key_id), Some(secret_access_key)) => crate::aws::AwsCredentials::Static {
            access_key_id,
            secret_access_key,
        },
        _ => crate::aws::AwsCredentials::DefaultChain,
    };
    let aws = AwsSettings {
        region: config.sns.region.clone(),
        endpoint_url: config.sns.endpoint_url.clone(),
        credentials,
        timeouts: crate::Timeouts::default(),
    };
    Some(SmsDeliveryLogReader::new(
        &aws,
        SmsDeliveryLogGroups::for_account(&config.sns.region, account),
        data_dir.join(CURSOR_FILE_NAME),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented success record (AWS knowledge center, "monitor SNS texts").
    const SUCCESS: &str = r#"{
        "notification": {"messageId": "34d9b400-c6dd-5444-820d-fbeb0f1f54cf", "timestamp": "2016-06-28 00:40:34.558"},
        "delivery": {"phoneCarrier": "My Phone Carrier", "mnc": 270, "numberOfMessageParts": 1,
            "destination": "+1XXX5550100", "priceInUSD": 0.00645, "smsType": "Transactional", "mcc": 310,
            "providerResponse": "Message has been accepted by phone carrier", "dwellTimeMs": 599,
            "dwellTimeMsUntilDeviceAck": 1344},
        "status": "SUCCESS"
    }"#;

    /// The documented failure record.
    const FAILURE: &str = r#"{
        "notification": {"messageId": "1077257a-92f3-5ca3-bc97-6a915b310625", "timestamp": "2016-06-28 00:40:34.559"},
        "delivery": {"mnc": 0, "destination": "+1XXX5550100", "priceInUSD": 0.00645, "smsType": "Transactional",
            "mcc": 0, "providerResponse": "Unknown error attempting to reach phone", "dwellTimeMs": 1420,
            "dwellTimeMsUntilDeviceAck": 1692},
        "status": "FAILURE"
    }"#;

    fn received() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000).expect("a time")
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_documented_success_record_is_delivered_without_an_error_code() {
        let e = parse_record(SUCCESS, "evt-1", 1_467_074_435_000, received()).expect("parsed");
        assert_eq!(e.provider, ProviderKind::Sns);
        assert_eq!(
            e.provider_message_id,
            "34d9b400-c6dd-5444-820d-fbeb0f1f54cf"
        );
        assert_eq!(e.status, DeliveryStatus::Delivered);
        assert_eq!(e.error_code, None);
        assert_eq!(
            e.detail.as_deref(),
            Some("Message has been accepted by phone carrier")
        );
        assert_eq!(e.recipient.as_deref(), Some("+1XXX5550100"));
        assert_eq!(e.occurred_at, utc("2016-06-28T00:40:34.558Z"));
        assert_eq!(e.received_at, received());
        assert_eq!(e.source, DeliverySource::CloudwatchLogs);
        assert_eq!(e.event_id, "evt-1");
        assert_eq!(
            e.message_key(),
            (ProviderKind::Sns, e.provider_message_id.as_str())
        );
    }

    #[test]
    fn the_documented_failure_record_is_failed_with_the_provider_response_as_code() {
        let e = parse_record(FAILURE, "evt-2", 0, received()).expect("parsed");
        assert_eq!(
            e.provider_message_id,
            "1077257a-92f3-5ca3-bc97-6a915b310625"
        );
        assert_eq!(e.status, DeliveryStatus::Failed);
        assert!(e.status.is_failure());
        assert_eq!(
            e.error_code.as_deref(),
            Some("Unknown error attempting to reach phone")
        );
        assert_eq!(
            e.detail.as_deref(),
            Some("Unknown error attempting to reach phone")
        );
        assert_eq!(e.recipient.as_deref(), Some("+1XXX5550100"));
        assert_eq!(e.occurred_at, utc("2016-06-28T00:40:34.559Z"));
        assert_eq!(e.event_id, "evt-2");
    }

    #[test]
    fn without_a_readable_notification_timestamp_the_log_event_time_is_used() {
        let log_ms = 1_467_074_435_123;
        for record in [
            r#"{"notification":{"messageId":"m-1"},"status":"SUCCESS"}"#,
            r#"{"notification":{"messageId":"m-1","timestamp":"yesterday"},"status":"SUCCESS"}"#,
        ] {
            let e = parse_record(record, "evt", log_ms, received()).expect("parsed");
            assert_eq!(e.occurred_at.timestamp_millis(), log_ms, "{record}");
        }
    }

    #[test]
    fn missing_delivery_fields_leave_the_optional_parts_empty() {
        let e = parse_record(
            r#"{"notification":{"messageId":"m-2","timestamp":"2024-01-02 03:04:05.006"},"status":"FAILURE"}"#,
            "evt",
            0,
            received(),
        )
        .expect("parsed");
        assert_eq!(e.status, DeliveryStatus::Failed);
        assert_eq!(e.error_code, None);
        assert_eq!(e.detail, None);
        assert_eq!(e.recipient, None);
        assert_eq!(e.occurred_at, utc("2024-01-02T03:04:05.006Z"));
    }

    #[test]
    fn records_without_an_id_or_a_known_status_or_not_json_are_refused_with_a_reason() {
        let cases = [
            ("not json at all", "not a JSON record"),
            ("[1, 2]", "not a JSON object"),
            (r#"{"notification":{},"status":"SUCCESS"}"#, "messageId"),
            (
                r#"{"notification":{"messageId":"  "},"status":"SUCCESS"}"#,
                "messageId",
            ),
            (r#"{"notification":{"messageId":"m"}}"#, "no status"),
            (
                r#"{"notification":{"messageId":"m"},"status":"PENDING"}"#,
                "unknown status \"PENDING\"",
            ),
        ];
        for (record, why) in cases {
            let e = parse_record(record, "evt", 0, received()).expect_err(record);
            assert!(e.contains(why), "{record}: {e}");
        }
    }

    #[test]
    fn the_log_groups_are_the_ones_sns_writes() {
        let g = SmsDeliveryLogGroups::for_account("eu-west-1", "111122223333");
        assert_eq!(
            g.success,
            "sns/eu-west-1/111122223333/DirectPublishToPhoneNumber"
        );
        assert_eq!(
            g.failure,
            "sns/eu-west-1/111122223333/DirectPublishToPhoneNumber/Failure"
        );
    }

    #[test]
    fn the_cursor_is_saved_atomically_and_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("nested/cursor.json");
        let mut cursor = CursorFile {
            version: CURSOR_VERSION,
            ..CursorFile::default()
        };
        cursor.groups.insert(
            "g".into(),
            GroupCursor {
                last_timestamp_ms: 42,
                seen_event_ids: BTreeMap::from([("a".to_owned(), 42)]),
            },
        );
        save_cursor(&path, &cursor).expect("saved");
        let mut problems = Vec::new();
        assert_eq!(load_cursor(&path, &mut problems), cursor);
        assert!(problems.is_empty(), "{problems:?}");
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("listed")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("cursor.json")]);

        std::fs::write(&path, "{ half a").expect("written");
        assert_eq!(load_cursor(&path, &mut problems), CursorFile::default());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("reading starts over"), "{problems:?}");
    }
}
