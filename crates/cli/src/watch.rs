//! `msgops watch`: follows backend logs and prints each event as it happens; exits with 0 on
//! SIGINT/SIGTERM. Parses arguments and prints; the following is `msgops_logwatch::watch_logs`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::TimeDelta;
use msgops_logwatch::{
    watch_logs, CancellationToken, CodeExpiry, CodePattern, LogEvent, WatchConfig,
};

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// Log file to follow (repeat for several). It may not exist yet.
    #[arg(long = "log", value_name = "FILE", required = true)]
    logs: Vec<PathBuf>,
    /// Report what the files already hold too, not only new lines.
    #[arg(long)]
    from_start: bool,
    /// One JSON object per line, with a `kind` field.
    #[arg(long)]
    json: bool,
    /// Extra code pattern: a regex with the named group `code` and optionally `recipient`, `ts`.
    #[arg(long = "pattern", value_name = "REGEX")]
    patterns: Vec<String>,
    /// The backend's `.env` / config file: warn when it changed after the backend started.
    #[arg(long, value_name = "FILE")]
    backend_config: Option<PathBuf>,
    /// How often files are checked besides filesystem notifications.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    poll_ms: u64,
    /// Do not use filesystem notifications (polling only).
    #[arg(long)]
    no_notify: bool,
    /// Minutes a code stays valid after it was written.
    #[arg(long, value_name = "MINUTES", default_value_t = 10)]
    ttl_minutes: i64,
}

pub fn run(args: WatchArgs) -> ExitCode {
    let mut config = WatchConfig::new(args.logs.clone())
        .poll_interval(Duration::from_millis(args.poll_ms.max(1)));
    config.from_start = args.from_start;
    config.follow.use_notify = !args.no_notify;
    config.backend_config = args.backend_config.clone();
    config.parser.expiry = CodeExpiry::new(TimeDelta::minutes(args.ttl_minutes));
    for p in &args.patterns {
        match CodePattern::new(p) {
            Ok(p) => config.parser.patterns.push(p),
            Err(e) => {
                eprintln!("msgops watch: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msgops watch: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(follow(config, args.json))
}

async fn follow(config: WatchConfig, json: bool) -> ExitCode {
    let cancel = CancellationToken::new();
    let mut stop = match StopSignal::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("msgops watch: cannot listen for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let watch = watch_logs(config, cancel.clone());
    let mut events = watch.events;
    let stdout = io::stdout();
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let mut out = stdout.lock();
                let written = print_event(&mut out, &event, json).and_then(|()| out.flush());
                if written.is_err() {
                    break; // stdout closed: nobody is reading any more
                }
            }
            () = stop.recv() => break,
        }
    }
    cancel.cancel();
    drop(events);
    let _ = watch.task.await;
    ExitCode::SUCCESS
}

fn print_event(out: &mut impl Write, event: &LogEvent, json: bool) -> io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, event)?;
        return out.write_all(b"\n");
    }
    let t = |t: Option<chrono::NaiveDateTime>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
    match event {
        LogEvent::Code(c) => writeln!(
            out,
            "{} code {} for {} ({}, {}:{})",
            t(c.created_at),
            c.code,
            c.recipient.as_deref().unwrap_or("unknown recipient"),
            if c.expired { "expired" } else { "valid" },
            c.file,
            c.line
        ),
        LogEvent::ProviderError(p) => writeln!(
            out,
            "{} provider error {} status {} {}: {} ({}:{})",
            t(p.ts),
            p.provider,
            p.status.map_or_else(|| "?".to_owned(), |s| s.to_string()),
            p.provider_code.as_deref().unwrap_or(""),
            p.message,
            p.file,
            p.line
        ),
        LogEvent::HttpError(h) => {
            writeln!(
                out,
                "{} http {} {} {} {} ({}:{})",
                t(h.ts),
                h.status,
                h.method,
                h.path,
                h.reason,
                h.file,
                h.line
            )
        }
        LogEvent::BackendStart(b) => writeln!(
            out,
            "{} backend start: {} as {} {} provider ({}:{})",
            t(b.ts),
            b.provider,
            b.role,
            b.channel,
            b.file,
            b.line
        ),
        LogEvent::StaleConfig(s) => writeln!(out, "{}", s.message),
        LogEvent::FollowerStatus(s) => writeln!(out, "[{:?}] {}", s.state, s.message),
    }
}

/// SIGINT or SIGTERM, listened for from the start so none is lost.
struct StopSignal {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl StopSignal {
    #[cfg(unix)]
    fn new() -> io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(unix)]
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
