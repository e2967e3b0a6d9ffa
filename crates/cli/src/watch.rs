//! `msgops watch`: follows backend logs and prints each event as it happens; exits with 0 on
//! SIGINT/SIGTERM. Parses arguments and prints; the following is `msgops_logwatch::watch_logs`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::TimeDelta;
use msgops_core::config::{config_path, ConfigFile};
use msgops_logwatch::{
    watch_logs, CancellationToken, CodeExpiry, CodePattern, LogEvent, WatchConfig, ZoneSetting,
};

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// Log file to follow (repeat for several). It may not exist yet. Default: `logs.follow` of
    /// the configuration plus the Console provider's own log.
    #[arg(long = "log", value_name = "FILE")]
    logs: Vec<PathBuf>,
    /// Report what the files already hold too, not only new lines.
    #[arg(long)]
    from_start: bool,
    /// One JSON object per line, with a `kind` field.
    #[arg(long)]
    json: bool,
    /// Extra code pattern: a regex with the named group `code` and optionally `recipient`, `ts`,
    /// `corr`; or `recipient` (and `corr`) without `code` for an announcement.
    #[arg(long = "pattern", value_name = "REGEX")]
    patterns: Vec<String>,
    /// The backend's `.env` / config file: warn when it changed after the backend started.
    /// Default: `logs.backend_config`.
    #[arg(long, value_name = "FILE")]
    backend_config: Option<PathBuf>,
    /// The zone the log's timestamps are in: auto, local, UTC or an IANA name. Default:
    /// `logs.timezone` (auto).
    #[arg(long, value_name = "ZONE")]
    timezone: Option<String>,
    /// How often files are checked besides filesystem notifications.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    poll_ms: u64,
    /// Do not use filesystem notifications (polling only).
    #[arg(long)]
    no_notify: bool,
    /// Minutes a code stays valid after it was written. Default: `logs.code_lifetime_secs`.
    #[arg(long, value_name = "MINUTES")]
    ttl_minutes: Option<i64>,
}

pub fn run(args: WatchArgs) -> ExitCode {
    let settings = ConfigFile::open(config_path()).0.current();
    let logs = if args.logs.is_empty() {
        settings.followed_logs()
    } else {
        args.logs.clone()
    };
    let mut config =
        WatchConfig::new(logs).poll_interval(Duration::from_millis(args.poll_ms.max(1)));
    config.from_start = args.from_start;
    config.follow.use_notify = !args.no_notify;
    config.backend_config = args
        .backend_config
        .clone()
        .or(settings.logs.backend_config.clone());
    let (parser, problems) = settings.logs.parser();
    for p in problems {
        eprintln!("msgops watch: {p}");
    }
    config.parser = parser;
    if let Some(minutes) = args.ttl_minutes {
        config.parser.expiry = CodeExpiry::new(TimeDelta::minutes(minutes.clamp(1, 24 * 60)));
    }
    if let Some(zone) = &args.timezone {
        match zone.parse::<ZoneSetting>() {
            Ok(z) => config.parser.zone = z,
            Err(e) => {
                eprintln!("msgops watch: --timezone: {e}");
                return ExitCode::from(2);
            }
        }
    }
    for p in &args.patterns {
        match CodePattern::new(p) {
            Ok(p) => config.parser.patterns.insert(0, p),
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
            "{} code {} for {}{} ({}, {}:{})",
            c.created_at.map_or_else(
                || "-".to_owned(),
                |t| t
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            ),
            c.code,
            c.recipient_label(),
            if c.candidates.is_empty() {
                ""
            } else {
                " (uncertain)"
            },
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
        LogEvent::Clock(c) => writeln!(out, "{}: log times read as {c}", c.file),
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
