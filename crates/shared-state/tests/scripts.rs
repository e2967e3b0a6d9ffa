//! The Lua scripts and the shared state against a real redis-server (started on a free
//! loopback port by `test_server::RedisServer`): GCRA spacing on the server's clock, the
//! NOSCRIPT fallback after `SCRIPT FLUSH`, recipient windows, idempotency keys, breaker counts
//! and trial leases between two "instances", the event fan-out, and an outage: every call
//! answers within its timeout while the server is gone, and the state is shared again once
//! it is back.
//!
//! Without a redis-server each test is skipped with the reason (unless MSGOPS_REAL_PEERS=1).

use std::time::{Duration, Instant};

use msgops_core::breaker_sync::BreakerSync;
use msgops_core::health::StateStatus;
use msgops_core::rate_limit::RateLimiter;
use msgops_core::ProviderKind;
use msgops_shared_state::breakers::SharedBreakers;
use msgops_shared_state::idempotency::{KeyClaim, StoredAnswer, Waited};
use msgops_shared_state::limits::{Reserved, WindowSpec};
use msgops_shared_state::rate::SharedRateLimiter;
use msgops_shared_state::test_server::RedisServer;
use msgops_shared_state::{Area, SharedState, StateOptions};

fn server() -> Option<RedisServer> {
    if let Some(why) = RedisServer::skip_reason() {
        eprintln!("skipped: {why}");
        return None;
    }
    Some(RedisServer::start().expect("redis-server starts"))
}

async fn instance(server: &RedisServer, name: &str) -> SharedState {
    SharedState::connect(StateOptions {
        url: server.url(),
        instances: 3,
        key_prefix: "test".into(),
        call_timeout: Duration::from_millis(200),
        instance_id: Some(name.into()),
    })
    .await
    .expect("connects")
}

/// The server's clock in µs, read with TIME.
fn server_time_us(server: &RedisServer) -> u64 {
    // `*2` then `$10`, the seconds, `$6`, the microseconds: read through redis-cli-free means.
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &server.port().to_string(), "TIME"])
        .output()
        .expect("redis-cli runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut parts = text
        .split_whitespace()
        .map(|p| p.parse::<u64>().expect("a number"));
    let (secs, micros) = (parts.next().expect("secs"), parts.next().expect("micros"));
    secs * 1_000_000 + micros
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcra_spaces_calls_by_the_interval_on_the_servers_clock_and_takes_nothing_beyond_the_wait()
{
    let Some(server) = server() else { return };
    let a = instance(&server, "a").await;
    let b = instance(&server, "b").await;
    let (la, lb) = (SharedRateLimiter::new(a.clone()), SharedRateLimiter::new(b));
    // Twenty reservations at 10/s from two instances, each accepting a wait of 5 s: their slots
    // are exactly one interval apart, whoever asked: ten of them span a second and the jitter
    // allowance.
    let mut slots = Vec::new();
    for i in 0..20 {
        let limiter = if i % 2 == 0 { &la } else { &lb };
        let g = limiter
            .reserve(ProviderKind::Sns, 10.0, Duration::from_secs(5))
            .await
            .expect("answers");
        assert!(g.taken, "reservation {i} within 5 s");
        slots.push(g.server_now_us + u64::try_from(g.wait.as_micros()).expect("µs"));
    }
    let interval = msgops_shared_state::rate::interval_us(10.0);
    assert_eq!(interval, 108_000);
    for pair in slots.windows(2) {
        assert_eq!(pair[1] - pair[0], interval, "slots {slots:?}");
    }
    // "now" is the server's: the first slot is within a second of its TIME.
    let time = server_time_us(&server);
    assert!(
        time.abs_diff(slots[0]) < 1_000_000,
        "{time} vs {}",
        slots[0]
    );
    // Beyond the accepted wait nothing is taken: the next slot is still 2 s away.
    let refused = la
        .reserve(ProviderKind::Sns, 10.0, Duration::from_millis(50))
        .await
        .expect("answers");
    assert!(!refused.taken);
    let again = la
        .reserve(ProviderKind::Sns, 10.0, Duration::from_secs(5))
        .await
        .expect("answers");
    assert_eq!(
        again.server_now_us + u64::try_from(again.wait.as_micros()).expect("µs"),
        slots[19] + interval,
        "the refused call took no slot"
    );
    // Another provider has its own spacing.
    let twilio = la
        .reserve(ProviderKind::Twilio, 5.0, Duration::ZERO)
        .await
        .expect("answers");
    assert!(twilio.taken && twilio.wait.is_zero());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcra_reads_its_clock_from_time_not_from_the_instance() {
    let Some(server) = server() else { return };
    let a = instance(&server, "a").await;
    let limiter = SharedRateLimiter::new(a);
    // Another instance (or a skewed host) left the next slot 3 s ahead of the server's TIME:
    // the wait is measured from the server's clock, whatever this host's says.
    let ahead = server_time_us(&server) + 3_000_000;
    server
        .command(&["SET", "{test:rate:sns}", &ahead.to_string()])
        .expect("set");
    let g = limiter
        .reserve(ProviderKind::Sns, 10.0, Duration::from_secs(10))
        .await
        .expect("answers");
    assert!(g.taken);
    let waited = g.wait.as_secs_f64();
    assert!((2.8..=3.0).contains(&waited), "waited {waited} s");
    assert!(
        g.server_now_us.abs_diff(server_time_us(&server)) < 1_000_000,
        "the script's now is the server's TIME"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_script_is_loaded_again_on_noscript() {
    let Some(server) = server() else { return };
    let a = instance(&server, "a").await;
    let limiter = SharedRateLimiter::new(a.clone());
    assert!(
        limiter
            .acquire(ProviderKind::Sns, 1000.0, Duration::ZERO)
            .await
    );
    assert_eq!(server.command(&["SCRIPT", "FLUSH"]).as_deref(), Ok("+OK"));
    let g = limiter
        .reserve(ProviderKind::Sns, 1000.0, Duration::from_secs(1))
        .await
        .expect("EVALSHA failed with NOSCRIPT, the script was loaded and run again");
    assert!(g.taken);
    let fallbacks: u64 = a.stats().fallbacks().iter().map(|(_, n)| n).sum();
    assert_eq!(fallbacks, 0, "no call fell back to the local state");
}

fn sms_window(number: &str, max: u32) -> WindowSpec {
    WindowSpec {
        name: format!("sms:{number}"),
        max,
        window: Duration::from_secs(3600),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_windows_are_shared_taken_all_or_nothing_and_freed_when_nothing_was_delivered() {
    let Some(server) = server() else { return };
    let instances = [
        instance(&server, "a").await,
        instance(&server, "b").await,
        instance(&server, "c").await,
    ];
    let prefix = WindowSpec {
        name: "prefix:+1416".into(),
        max: 7,
        window: Duration::from_secs(3600),
    };
    let specs = [sms_window("+14165550123", 5), prefix.clone()];
    let mut held = Vec::new();
    for i in 0..5 {
        match instances[i % 3].reserve_windows(&specs).await {
            Some(Reserved::Taken(slot)) => held.push(slot),
            other => panic!("send {i}: {other:?}"),
        }
    }
    match instances[2].reserve_windows(&specs).await {
        Some(Reserved::Blocked {
            index,
            retry_after,
            pending,
        }) => {
            assert_eq!(index, 0, "the recipient's window is full");
            assert!(retry_after > Duration::from_secs(3590), "{retry_after:?}");
            assert_eq!(pending, 5, "all five still being sent");
        }
        other => panic!("sixth: {other:?}"),
    }
    // Nothing was taken in the prefix window by the refused send: two more numbers fit.
    for n in ["+14165550124", "+14165550125"] {
        match instances[0]
            .reserve_windows(&[sms_window(n, 5), prefix.clone()])
            .await
        {
            Some(Reserved::Taken(slot)) => slot.keep(),
            other => panic!("{n}: {other:?}"),
        }
    }
    // Two of the five delivered nothing: their slots are freed, on every instance.
    let mut held = held.into_iter();
    for _ in 0..2 {
        held.next().expect("slot").release();
    }
    for slot in held {
        slot.keep();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The prefix window holds 3 kept + 2 more = 5 of 7.
    let mut again = Vec::new();
    for i in 0..2 {
        match instances[1].reserve_windows(&specs).await {
            Some(Reserved::Taken(slot)) => again.push(slot),
            other => panic!("after the releases, {i}: {other:?}"),
        }
    }
    match instances[1].reserve_windows(&specs).await {
        Some(Reserved::Blocked { pending, .. }) => assert_eq!(pending, 2),
        other => panic!("full again: {other:?}"),
    }
}

fn answer(status: u16, body: &str, kept: bool) -> StoredAnswer {
    StoredAnswer {
        status,
        body: body.as_bytes().to_vec(),
        retry_after_secs: None,
        kept,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_is_answered_once_for_every_instance() {
    let Some(server) = server() else { return };
    let (a, b, c) = (
        instance(&server, "a").await,
        instance(&server, "b").await,
        instance(&server, "c").await,
    );
    let lease = Duration::from_secs(30);
    let ttl = Duration::from_secs(3600);
    let Some(KeyClaim::First(first)) = a.claim_key("order-42", "fp1", lease, ttl).await else {
        panic!("the first takes the key");
    };
    let Some(KeyClaim::Waiting(waiter_b)) = b.claim_key("order-42", "fp1", lease, ttl).await else {
        panic!("a duplicate waits");
    };
    let Some(KeyClaim::Mismatch) = c.claim_key("order-42", "fp2", lease, ttl).await else {
        panic!("another request with the key is refused");
    };
    let waiting = tokio::spawn(waiter_b.wait());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "waits while the first is under way");
    first.finish(answer(200, r#"{"status":"delivered"}"#, true));
    assert_eq!(
        waiting.await.expect("joins"),
        Waited::Answer(answer(200, r#"{"status":"delivered"}"#, true))
    );
    // A retry on a third instance gets the identical answer.
    match c.claim_key("order-42", "fp1", lease, ttl).await {
        Some(KeyClaim::Answered(got)) => {
            assert_eq!(got, answer(200, r#"{"status":"delivered"}"#, true))
        }
        other => panic!("retry: {other:?}"),
    }

    // A first request that ends without an answer: its duplicate learns there is none, and a
    // retry does the work.
    let Some(KeyClaim::First(abandoned)) = a.claim_key("order-43", "fp", lease, ttl).await else {
        panic!("first");
    };
    let Some(KeyClaim::Waiting(waiter)) = b.claim_key("order-43", "fp", lease, ttl).await else {
        panic!("waits");
    };
    drop(abandoned);
    assert_eq!(waiter.wait().await, Waited::NoAnswer);
    assert!(matches!(
        c.claim_key("order-43", "fp", lease, ttl).await,
        Some(KeyClaim::First(_))
    ));

    // A refusal (not kept) reaches the duplicates already waiting, not later retries.
    let Some(KeyClaim::First(refused)) = a.claim_key("order-44", "fp", lease, ttl).await else {
        panic!("first");
    };
    let Some(KeyClaim::Waiting(waiter)) = b.claim_key("order-44", "fp", lease, ttl).await else {
        panic!("waits");
    };
    refused.finish(answer(429, "limited", false));
    assert_eq!(
        waiter.wait().await,
        Waited::Answer(answer(429, "limited", false))
    );
    assert!(matches!(
        c.claim_key("order-44", "fp", lease, ttl).await,
        Some(KeyClaim::First(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_failures_add_up_across_instances_and_one_instance_gets_the_trial() {
    let Some(server) = server() else { return };
    let (a, b, c) = (
        instance(&server, "a").await,
        instance(&server, "b").await,
        instance(&server, "c").await,
    );
    let sync = [
        SharedBreakers::new(a),
        SharedBreakers::new(b),
        SharedBreakers::new(c),
    ];
    let mut counts = Vec::new();
    for i in 0..5 {
        counts.push(
            sync[i % 3]
                .failure(ProviderKind::Sns)
                .await
                .expect("counted"),
        );
    }
    assert_eq!(counts, [1, 2, 3, 4, 5]);
    // A success ends the count (consecutive failures), once the instance has heard of it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    sync[2].success(ProviderKind::Sns).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sync[0].failure(ProviderKind::Sns).await, Some(1));

    let lease = Duration::from_secs(5);
    let claims = futures_util::future::join_all(
        sync.iter().map(|s| s.claim_trial(ProviderKind::Sns, lease)),
    )
    .await;
    assert_eq!(claims.iter().filter(|c| **c).count(), 1, "{claims:?}");
    // Another provider's trial is its own.
    assert!(sync[1].claim_trial(ProviderKind::Twilio, lease).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_other_instances_once_and_not_their_own() {
    let Some(server) = server() else { return };
    let (a, b) = (instance(&server, "a").await, instance(&server, "b").await);
    let (mut on_a, mut on_b) = (a.remote_events(), b.remote_events());
    // The subscriptions are made in the background.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 0..3 {
        a.publish_event(
            "send_finished",
            &format!("{{\"kind\":\"send_finished\",\"n\":{n}}}"),
            false,
        );
    }
    for n in 0..3 {
        let got = tokio::time::timeout(Duration::from_secs(2), on_b.recv())
            .await
            .expect("arrives")
            .expect("event");
        assert_eq!(
            (got.instance.as_str(), got.name.as_str()),
            ("a", "send_finished")
        );
        assert!(
            got.data.contains(&format!("\"n\":{n}")),
            "in order: {}",
            got.data
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(on_a.try_recv().is_err(), "its own events are not echoed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_every_call_answers_at_once_and_it_is_shared_again_when_back() {
    let Some(mut server) = server() else { return };
    let a = instance(&server, "a").await;
    assert_eq!(a.status(), StateStatus::Shared);
    let limiter = SharedRateLimiter::new(a.clone());
    server.kill();
    let started = Instant::now();
    // The probe or the first call finds it gone; none waits longer than the call timeout.
    for _ in 0..20 {
        let asked = Instant::now();
        let _ = limiter
            .acquire(ProviderKind::Sns, 1000.0, Duration::ZERO)
            .await;
        assert!(
            asked.elapsed() < Duration::from_millis(450),
            "a call took {:?}",
            asked.elapsed()
        );
    }
    while a.status() != StateStatus::DegradedLocal {
        assert!(started.elapsed() < Duration::from_secs(2), "not seen down");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a
        .reserve_windows(&[sms_window("+14165550123", 5)])
        .await
        .is_none());
    let fallbacks = a.stats().fallbacks();
    assert!(
        fallbacks
            .iter()
            .any(|(area, n)| *area == Area::RecipientLimit && *n >= 1),
        "{fallbacks:?}"
    );
    // While down, the local share of 10/s over 3 instances: a burst of 3, then refused.
    let mut granted = 0;
    for _ in 0..10 {
        if limiter
            .acquire(ProviderKind::Twilio, 10.0, Duration::ZERO)
            .await
        {
            granted += 1;
        }
    }
    assert_eq!(granted, 3, "10/s divided by 3 instances");
    server.restart().expect("restarts");
    let back = Instant::now();
    while a.status() != StateStatus::Shared {
        assert!(back.elapsed() < Duration::from_secs(3), "not rejoined");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.stats().rejoins() >= 1);
    assert!(matches!(
        a.reserve_windows(&[sms_window("+14165550123", 5)]).await,
        Some(Reserved::Taken(_))
    ));
}
