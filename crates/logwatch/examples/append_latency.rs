//! Append-to-event latency: appends 10,000 code lines one by one (1 ms apart) to a followed log
//! and measures the time from `write` returning to the code event arriving. Prints p50/p99/max.
//! `cargo run --release -p msgops-logwatch --example append_latency [-- --no-notify]`

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use msgops_logwatch::{watch_logs_with, CancellationToken, LogEvent, WatchConfig};

const LINES: usize = 10_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let no_notify = std::env::args().any(|a| a == "--no-notify");
    let dir = std::env::temp_dir().join(format!("msgops-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("backend.log");
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;

    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let a = Arc::clone(&arrived);
    let cancel = CancellationToken::new();
    let mut config = WatchConfig::new(vec![path.clone()]);
    config.follow.use_notify = !no_notify;
    let task = watch_logs_with(config, cancel.clone(), move |event| {
        if let LogEvent::Code(c) = event {
            if let Ok(mut m) = a.lock() {
                m.insert(c.code, Instant::now());
            }
        }
        true
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut sent = Vec::with_capacity(LINES);
    for i in 0..LINES {
        let line = format!("2025-10-29 16:34:53,202 - services.otp_service - WARNING - SMS FALLBACK - OTP for +1416555{i:04}: {i:06}\n");
        file.write_all(line.as_bytes())?;
        sent.push(Instant::now());
        std::thread::sleep(Duration::from_millis(1));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    cancel.cancel();
    let _ = task.await;

    let arrived = arrived
        .lock()
        .map_err(|_| std::io::Error::other("poisoned"))?;
    let mut lat: Vec<Duration> = (0..LINES)
        .filter_map(|i| {
            arrived
                .get(&format!("{i:06}"))
                .map(|t| t.saturating_duration_since(sent[i]))
        })
        .collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    println!(
        "append->event latency over {} lines ({}): p50 {:?}  p99 {:?}  max {:?}  (received {}/{LINES})",
        LINES,
        if no_notify { "polling only, 250 ms" } else { "notify + 250 ms poll" },
        pct(0.50),
        pct(0.99),
        lat.last().copied().unwrap_or_default(),
        lat.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
