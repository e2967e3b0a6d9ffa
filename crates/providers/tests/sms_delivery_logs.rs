//! SNS SMS delivery status from CloudWatch Logs, against moto: the delivery records SNS
//! writes (the documented format) for MessageIds that a real SNS Publish to moto returned are
//! read as DeliveryEvents, once — across polls, across a restart on the same cursor file,
//! with events sharing a millisecond, late events, paging and several streams — and a group
//! that does not exist yet, a record that is not JSON and an unreachable endpoint are handled
//! as documented.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use common::*;
use msgops_core::{Provider, ProviderKind};
use msgops_delivery::{DeliveryEvent, DeliverySource, DeliveryStatus};
use msgops_providers::aws::{AwsCredentials, AwsSettings};
use msgops_providers::sms_delivery_logs::{SmsDeliveryLogGroups, SmsDeliveryLogReader};
use msgops_providers::{SnsProvider, Timeouts};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

fn settings(endpoint: &str) -> AwsSettings {
    AwsSettings {
        region: REGION.into(),
        endpoint_url: Some(endpoint.into()),
        credentials: AwsCredentials::Static {
            access_key_id: SecretString::from(FAKE_AWS_KEY_ID),
            secret_access_key: SecretString::from(FAKE_AWS_SECRET),
        },
        timeouts: Timeouts::default(),
    }
}

fn groups() -> SmsDeliveryLogGroups {
    SmsDeliveryLogGroups::for_account(REGION, ACCOUNT)
}

async fn logs_client(moto: &Peer) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&settings(&moto.url()).sdk_config().await)
}

/// Creates the log group and the given streams, as SNS does at its first delivery.
async fn create_group(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, streams: &[&str]) {
    logs.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .expect("log group created");
    for stream in streams {
        logs.create_log_stream()
            .log_group_name(group)
            .log_stream_name(*stream)
            .send()
            .await
            .expect("log stream created");
    }
}

/// Puts `(timestamp_ms, message)` events into one stream (in time order, as AWS requires).
async fn put(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
    events: &[(i64, String)],
) {
    let mut req = logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream);
    for (timestamp, message) in events {
        req = req.log_events(
            InputLogEvent::builder()
                .timestamp(*timestamp)
                .message(message)
                .build()
                .expect("a log event"),
        );
    }
    let out = req.send().await.expect("log events put");
    assert!(
        out.rejected_log_events_info().is_none(),
        "moto rejected events: {:?}",
        out.rejected_log_events_info()
    );
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A delivery record as SNS writes it to `.../DirectPublishToPhoneNumber`.
fn success_record(message_id: &str, destination: &str) -> String {
    serde_json::json!({
        "notification": {"messageId": message_id, "timestamp": "2016-06-28 00:40:34.558"},
        "delivery": {
            "phoneCarrier": "My Phone Carrier", "mnc": 270, "numberOfMessageParts": 1,
            "destination": destination, "priceInUSD": 0.00645, "smsType": "Transactional",
            "mcc": 310, "providerResponse": "Message has been accepted by phone carrier",
            "dwellTimeMs": 599, "dwellTimeMsUntilDeviceAck": 1344
        },
        "status": "SUCCESS"
    })
    .to_string()
}

/// A delivery record as SNS writes it to `.../DirectPublishToPhoneNumber/Failure`.
fn failure_record(message_id: &str, destination: &str) -> String {
    serde_json::json!({
        "notification": {"messageId": message_id, "timestamp": "2016-06-28 00:40:34.559"},
        "delivery": {
            "mnc": 0, "destination": destination, "priceInUSD": 0.00645,
            "smsType": "Transactional", "mcc": 0,
            "providerResponse": "Phone is currently unreachable/unavailable",
            "dwellTimeMs": 1420, "dwellTimeMsUntilDeviceAck": 1692
        },
        "status": "FAILURE"
    })
    .to_string()
}

/// A MessageId from a real SNS Publish (through the msgops provider) to moto.
async fn publish(sns: &SnsProvider, code: &str) -> String {
    sns.send(&otp_sms(code))
        .await
        .expect("moto accepts the SMS")
        .provider_message_id
        .expect("a MessageId")
}

fn reader(moto_url: &str, cursor: &Path) -> SmsDeliveryLogReader {
    SmsDeliveryLogReader::new(&settings(moto_url), groups(), cursor.to_path_buf())
}

fn ids(events: &[DeliveryEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.provider_message_id.as_str())
        .collect()
}

#[tokio::test]
async fn records_for_real_sns_message_ids_are_read_once_across_polls_and_restarts() {
    let moto = peer_or_skip!(start_moto());
    let sns = SnsProvider::new(&settings(&moto.url())).await;
    let delivered_id = publish(&sns, "111111").await;
    let failed_id = publish(&sns, "222222").await;
    let later_id = publish(&sns, "333333").await;

    let logs = logs_client(&moto).await;
    let g = groups();
    create_group(&logs, &g.success, &["s1"]).await;
    create_group(&logs, &g.failure, &["f1"]).await;
    let t = now_ms();
    put(
        &logs,
        &g.success,
        "s1",
        &[(t, success_record(&delivered_id, "+14165550123"))],
    )
    .await;
    put(
        &logs,
        &g.failure,
        "f1",
        &[(t + 1, failure_record(&failed_id, "+14165550123"))],
    )
    .await;

    let dir = tempfile::tempdir().expect("dir");
    let cursor = dir.path().join("state/sms-delivery-cursor.json");
    let first = reader(&moto.url(), &cursor);
    let before = chrono::Utc::now();
    let poll = first.poll().await.expect("moto answers");
    assert!(poll.problems.is_empty(), "{:?}", poll.problems);
    assert_eq!(
        ids(&poll.events),
        [delivered_id.as_str(), failed_id.as_str()]
    );

    let delivered = &poll.events[0];
    assert_eq!(delivered.provider, ProviderKind::Sns);
    assert_eq!(delivered.status, DeliveryStatus::Delivered);
    assert_eq!(delivered.error_code, None);
    assert_eq!(
        delivered.detail.as_deref(),
        Some("Message has been accepted by phone carrier")
    );
    assert_eq!(delivered.recipient.as_deref(), Some("+14165550123"));
    assert_eq!(delivered.source, DeliverySource::CloudwatchLogs);
    assert_eq!(
        delivered.occurred_at.to_rfc3339(),
        "2016-06-28T00:40:34.558+00:00"
    );
    assert!(delivered.received_at >= before);

    let failed = &poll.events[1];
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(
        failed.error_code.as_deref(),
        Some("Phone is currently unreachable/unavailable")
    );
    assert_eq!(
        failed.detail.as_deref(),
        Some("Phone is currently unreachable/unavailable")
    );
    assert_eq!(failed.recipient.as_deref(), Some("+14165550123"));
    // Each report has its own id (the CloudWatch log event id), for dropping duplicates.
    assert_ne!(delivered.event_id, failed.event_id);
    assert!(!delivered.event_id.is_empty());

    // The cursor is on disk, as JSON, with both groups; no temp file is left behind.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cursor).expect("cursor written"))
            .expect("cursor is JSON");
    assert!(saved["groups"][&g.success].is_object(), "{saved}");
    assert!(saved["groups"][&g.failure].is_object(), "{saved}");
    let files: Vec<_> = std::fs::read_dir(cursor.parent().expect("dir"))
        .expect("listed")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");

    let again = first.poll().await.expect("moto answers");
    assert!(again.events.is_empty(), "repeated: {:?}", again.events);
    assert!(again.problems.is_empty(), "{:?}", again.problems);

    // A restart: a new reader on the same cursor file repeats nothing.
    drop(first);
    let restarted = reader(&moto.url(), &cursor);
    let after_restart = restarted.poll().await.expect("moto answers");
    assert!(
        after_restart.events.is_empty(),
        "repeated after a restart: {:?}",
        after_restart.events
    );

    // One more record: only that one.
    put(
        &logs,
        &g.success,
        "s1",
        &[(now_ms(), success_record(&later_id, "+14165550123"))],
    )
    .await;
    let more = restarted.poll().await.expect("moto answers");
    assert_eq!(ids(&more.events), [later_id.as_str()]);
    assert_eq!(more.events[0].status, DeliveryStatus::Delivered);
    let restarted_again = reader(&moto.url(), &cursor);
    assert!(restarted_again
        .poll()
        .await
        .expect("moto answers")
        .events
        .is_empty());
}

#[tokio::test]
async fn a_group_that_does_not_exist_yet_is_no_error_and_no_events() {
    let moto = peer_or_skip!(start_moto());
    let dir = tempfile::tempdir().expect("dir");
    let cursor = dir.path().join("cursor.json");
    let none = reader(&moto.url(), &cursor);
    let poll = none.poll().await.expect("a missing group is no error");
    assert!(poll.events.is_empty(), "{:?}", poll.events);
    assert!(poll.problems.is_empty(), "{:?}", poll.problems);
    assert!(!cursor.exists(), "nothing read, nothing written");

    // Only the success group exists (no failure yet): its records are read.
    let sns = SnsProvider::new(&settings(&moto.url())).await;
    let id = publish(&sns, "444444").await;
    let logs = logs_client(&moto).await;
    create_group(&logs, &groups().success, &["s1"]).await;
    put(
        &logs,
        &groups().success,
        "s1",
        &[(now_ms(), success_record(&id, "+14165550123"))],
    )
    .await;
    let poll = none.poll().await.expect("moto answers");
    assert_eq!(ids(&poll.events), [id.as_str()]);
    assert!(poll.problems.is_empty(), "{:?}", poll.problems);
}

#[tokio::test]
async fn a_record_that_is_not_json_is_a_problem_and_the_others_are_still_read() {
    let moto = peer_or_skip!(start_moto());
    let sns = SnsProvider::new(&settings(&moto.url())).await;
    let (a, b) = (publish(&sns, "555555").await, publish(&sns, "666666").await);
    let logs = logs_client(&moto).await;
    let g = groups();
    create_group(&logs, &g.success, &["s1"]).await;
    let t = now_ms();
    put(
        &logs,
        &g.success,
        "s1",
        &[
            (t, success_record(&a, "+14165550123")),
            (t + 1, "this is not a delivery record {".to_owned()),
            (t + 2, success_record(&b, "+14165550123")),
        ],
    )
    .await;

    let dir = tempfile::tempdir().expect("dir");
    let r = reader(&moto.url(), &dir.path().join("cursor.json"));
    let poll = r.poll().await.expect("a bad record is not fatal");
    assert_eq!(ids(&poll.events), [a.as_str(), b.as_str()]);
    assert_eq!(poll.problems.len(), 1, "{:?}", poll.problems);
    assert!(
        poll.problems[0].contains("not a JSON record") && poll.problems[0].contains(&g.success),
        "{}",
        poll.problems[0]
    );
    // Skipped once, not reported again at every poll.
    let again = r.poll().await.expect("moto answers");
    assert!(
        again.events.is_empty() && again.problems.is_empty(),
        "{again:?}"
    );
}

#[tokio::test]
async fn an_event_in_the_same_millisecond_as_the_last_one_read_is_neither_missed_nor_repeated() {
    let moto = peer_or_skip!(start_moto());
    let sns = SnsProvider::new(&settings(&moto.url())).await;
    let (a, b) = (publish(&sns, "777777").await, publish(&sns, "888888").await);
    let logs = logs_client(&moto).await;
    let g = groups();
    create_group(&logs, &g.success, &["host-a", "host-b"]).await;
    let t = now_ms();
    put(
        &logs,
        &g.success,
        "host-a",
        &[(t, success_record(&a, "+14165550123"))],
    )
    .await;

    let dir = tempfile::tempdir().expect("dir");
    let cursor = dir.path().join("cursor.json");
    // No overlap: only the ids at the newest timestamp keep it from reading `a` twice.
    let r = reader(&moto.url(), &cursor).with_overlap(Duration::ZERO);
    assert_eq!(ids(&r.poll().await.expect("moto").events), [a.as_str()]);

    // Another stream writes an event with the very same timestamp after the poll.
    put(
        &logs,
        &g.success,
        "host-b",
        &[(t, success_record(&b, "+14165550123"))],
    )
    .await;
    assert_eq!(ids(&r.poll().await.expect("moto").events), [b.as_str()]);
    assert!(r.poll().await.expect("moto").events.is_empty());
    let restarted = reader(&moto.url(), &cursor).with_overlap(Duration::ZERO);
    assert!(restarted.poll().await.expect("moto").events.is_empty());
}

#[tokio::test]
async fn an_event_made_searchable_late_with_an_older_timestamp_is_read_within_the_overlap() {
    let moto = peer_or_skip!(start_moto());
    let sns = SnsProvider::new(&settings(&moto.url())).await;
    let (a, b) = (publish(&sns, "121212").await, publish(&sns, "343434").await);
    let logs = logs_client(&moto).await;
    let g = groups();
    create_group(&logs, &g.failure, &["host-a", "host-b"]).await;
    let t = now_ms();
    put(
        &logs,
        &g.failure,
        "host-a",
        &[(t, failure_record(&a, "+14165550123"))],
    )
    .await;

    let dir = tempfile::tempdir().expect("dir");
    let cursor = dir.path().join("cursor.json");
    let r = reader(&moto.url(), &cursor);
    assert_eq!(ids(&r.poll().await.expect("moto").events), [a.as_str()]);

    // Another stream's event, one minute older than the newest read, shows up only now.
    put(
        &logs,
        &g.failure,
        "host-b",
        &[(t - 60_000, failure_record(&b, "+14165550123"))],
    )
    .await;
    let late = r.poll().await.expect("moto");
    assert_eq!(ids(&late.events), [b.as_str()]);
    assert_eq!(late.events[0].status, DeliveryStatus::Failed);
    let restarted = reader(&moto.url(), &cursor);
    assert!(restarted.poll().await.expect("moto").events.is_empty());
}

#[tokio::test]
async fn every_page_of_several_streams_is_read_and_nothing_twice() {
    let moto = peer_or_skip!(start_moto());
    let logs = logs_client(&moto).await;
    let g = groups();
    create_group(&logs, &g.success, &["s1", "s2"]).await;
    let t = now_ms();
    let id = |n: i64| format!("00000000-0000-4000-8000-{n:012}");
    let first: Vec<_> = (0..4)
        .map(|n| (t + n, success_record(&id(n), "+14165550123")))
        .collect();
    let second: Vec<_> = (4..7)
        .map(|n| (t + n - 4, success_record(&id(n), "+14165550123")))
        .collect();
    put(&logs, &g.success, "s1", &first).await;
    put(&logs, &g.success, "s2", &second).await;

    let dir = tempfile::tempdir().expect("dir");
    let r = reader(&moto.url(), &dir.path().join("cursor.json")).with_page_limit(2);
    let poll = r.poll().await.expect("moto answers");
    let mut got: Vec<String> = poll
        .events
        .iter()
        .map(|e| e.provider_message_id.clone())
        .collect();
    got.sort();
    assert_eq!(got, (0..7).map(id).collect::<Vec<_>>());
    let mut event_ids: Vec<_> = poll.events.iter().map(|e| e.event_id.as_str()).collect();
    event_ids.sort();
    event_ids.dedup();
    assert_eq!(event_ids.len(), 7, "{event_ids:?}");
    assert!(r.poll().await.expect("moto answers").events.is_empty());
}

#[tokio::test]
async fn with_nothing_listening_poll_says_why_in_plain_words_without_secrets() {
    let dir = tempfile::tempdir().expect("dir");
    let cursor = dir.path().join("cursor.json");
    let r = reader(&refused_url(), &cursor);
    let e = r.poll().await.expect_err("nothing listens");
    assert!(
        e.starts_with("AWS CloudWatch Logs: could not reach the service: Connection refused"),
        "{e}"
    );
    assert!(!e.contains("DispatchFailure"), "{e}");
    assert!(
        !e.contains(FAKE_AWS_KEY_ID) && !e.contains(FAKE_AWS_SECRET),
        "{e}"
    );
    // Said once, not once per group.
    assert_eq!(e.matches("could not reach").count(), 1, "{e}");
    assert!(!cursor.exists());
}

#[tokio::test]
async fn spawn_hands_the_events_on_and_stops_when_cancelled() {
    let moto = peer_or_skip!(start_moto());
    let sns = SnsProvider::new(&settings(&moto.url())).await;
    let (a, b) = (publish(&sns, "565656").await, publish(&sns, "787878").await);
    let logs = logs_client(&moto).await;
    let g = groups();
    create_group(&logs, &g.success, &["s1"]).await;
    create_group(&logs, &g.failure, &["f1"]).await;
    put(
        &logs,
        &g.success,
        "s1",
        &[(now_ms(), success_record(&a, "+14165550123"))],
    )
    .await;

    let dir = tempfile::tempdir().expect("dir");
    let seen: Arc<Mutex<Vec<DeliveryEvent>>> = Arc::default();
    let sink = seen.clone();
    let cancel = CancellationToken::new();
    let task = reader(&moto.url(), &dir.path().join("cursor.json")).spawn(
        Duration::from_millis(100),
        cancel.clone(),
        move |events| sink.lock().expect("lock").extend(events),
    );
    let wait_for = |n: usize| {
        let seen = seen.clone();
        async move {
            for _ in 0..100 {
                if seen.lock().expect("lock").len() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("{n} events not handed on: {:?}", seen.lock().expect("lock"));
        }
    };
    wait_for(1).await;
    put(
        &logs,
        &g.failure,
        "f1",
        &[(now_ms(), failure_record(&b, "+14165550123"))],
    )
    .await;
    wait_for(2).await;
    // A few more polls: nothing repeated.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(ids(&seen.lock().expect("lock")), [a.as_str(), b.as_str()]);

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task stops when cancelled")
        .expect("the task did not panic");
}
