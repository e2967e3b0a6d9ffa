//! The chain's own overhead per send: breaker admission, rate-limit token, timeout wrapper,
//! attempt record and event, measured against an emulated provider that answers at once.
//! Target: ≤ 2 µs per send (README, Performance).

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use msgops_core::breaker::{Admission, BreakerPolicy};
use msgops_core::chain::{ChainSettings, Priority, ProviderSpec};
use msgops_core::scripted::ScriptedProvider;
use msgops_core::{ErrorKind, Provider, ProviderChain, ProviderKind, SmsMessage};
use tokio::sync::broadcast;

fn spec(id: &str) -> ProviderSpec {
    ProviderSpec {
        id: id.parse::<ProviderKind>().expect("a provider id"),
        health_name: id.into(),
        display_name: id.into(),
        priority: Priority::Primary,
        cost_per_message_usd: 0.0075,
        breaker: BreakerPolicy {
            failure_threshold: 1,
            open_for: Duration::from_secs(3600),
        },
        rate_per_second: 0.0,
    }
}

fn chain() -> ProviderChain<SmsMessage> {
    let p = |_: ()| Some(Arc::new(ScriptedProvider::instant()) as Arc<dyn Provider<SmsMessage>>);
    ProviderChain::new(
        vec![
            (spec("sns"), p(())),
            (spec("twilio"), p(())),
            (spec("console"), p(())),
        ],
        ChainSettings::default(),
        broadcast::channel(16).0,
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let msg = SmsMessage {
        to: "+14165550123".into(),
        body: "Your code is 091282".into(),
        code: Some("091282".into()),
    };

    let closed = chain();
    c.bench_function("send_closed_chain_instant_provider", |b| {
        b.iter(|| rt.block_on(closed.send(&msg)))
    });

    let open_primary = chain();
    let sns = ProviderKind::Sns;
    if let Some(breaker) = open_primary.breaker(&sns) {
        if let Admission::Admitted { permit, .. } = breaker.admit() {
            permit.failure(ErrorKind::Transient, "bench");
        }
    }
    c.bench_function("send_skipping_open_primary", |b| {
        b.iter(|| rt.block_on(open_primary.send(&msg)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
