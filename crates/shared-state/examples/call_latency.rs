//! The round trip of each script on a real redis-server, one after the other (a quick look;
//! `scripts/bench-shared-state.sh` measures whole sends).
//!
//!   cargo run --release -p msgops-shared-state --example call_latency

use std::time::{Duration, Instant};

use msgops_core::ProviderKind;
use msgops_shared_state::limits::{Reserved, WindowSpec};
use msgops_shared_state::rate::SharedRateLimiter;
use msgops_shared_state::test_server::RedisServer;
use msgops_shared_state::{SharedState, StateOptions};

fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6;
    format!("p50 {:>6.0} µs  p99 {:>6.0} µs", at(0.5), at(0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = RedisServer::start().expect("redis-server starts");
    let state = SharedState::connect(StateOptions {
        url: server.url(),
        instances: 1,
        key_prefix: "bench".into(),
        call_timeout: Duration::from_millis(200),
        instance_id: Some("bench".into()),
    })
    .await
    .expect("connects");
    let limiter = SharedRateLimiter::new(state.clone());
    const N: usize = 5000;
    let mut gcra = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        limiter
            .reserve(ProviderKind::Sns, 10_000.0, Duration::from_secs(1))
            .await
            .expect("answers");
        gcra.push(t.elapsed());
    }
    let mut windows = Vec::with_capacity(N);
    for n in 0..N {
        let spec = [WindowSpec {
            name: format!("sms:+1416{n:07}"),
            max: 5,
            window: Duration::from_secs(3600),
        }];
        let t = Instant::now();
        let Some(Reserved::Taken(slot)) = state.reserve_windows(&spec).await else {
            panic!("reserved");
        };
        windows.push(t.elapsed());
        slot.keep();
    }
    let mut keys = Vec::with_capacity(N);
    for n in 0..N {
        let t = Instant::now();
        let claim = state
            .claim_key(
                &format!("key-{n}"),
                "fp",
                Duration::from_secs(30),
                Duration::from_secs(60),
            )
            .await
            .expect("answers");
        keys.push(t.elapsed());
        drop(claim);
    }
    println!("GCRA reserve        {}", percentiles(gcra));
    println!("recipient windows   {}", percentiles(windows));
    println!("idempotency claim   {}", percentiles(keys));
    state.close(Duration::from_secs(1)).await;
}
