//! The log watcher: follows files, parses their lines and reports [`LogEvent`]s through a
//! callback or a channel, until a cancellation token fires. Knows nothing of Tauri; the app turns
//! each event into an IPC event.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::event::{FollowerStatus, LogEvent};
use crate::follow::{spawn_follower, FollowConfig, FollowSink, LineInfo, LineOrigin};
use crate::parse::{LineMeta, LineParser, ParserConfig};
use crate::stale::StaleConfigDetector;

/// What to watch and how.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub files: Vec<PathBuf>,
    /// Report events for the content the files already hold (otherwise it is only read for
    /// context: last timestamp, last backend start).
    pub from_start: bool,
    pub follow: FollowConfig,
    pub parser: ParserConfig,
    /// The backend's `.env` / config file, for the stale-configuration check.
    pub backend_config: Option<PathBuf>,
}

impl WatchConfig {
    pub fn new(files: Vec<PathBuf>) -> Self {
        Self {
            files,
            from_start: false,
            follow: FollowConfig::default(),
            parser: ParserConfig::default(),
            backend_config: None,
        }
    }

    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.follow.poll_interval = interval;
        self
    }
}

/// A running watcher: its events and its task.
#[derive(Debug)]
pub struct LogWatch {
    pub events: mpsc::Receiver<LogEvent>,
    pub task: JoinHandle<()>,
}

/// Starts watching; events arrive on the returned channel (capacity 1024: a slow consumer slows
/// reading down instead of growing memory). Stops when `cancel` fires or the receiver is dropped.
/// Must be called from within a tokio runtime.
pub fn watch_logs(config: WatchConfig, cancel: CancellationToken) -> LogWatch {
    let (tx, events) = mpsc::channel(1024);
    let task = watch_logs_with(config, cancel, move |event| tx.blocking_send(event).is_ok());
    LogWatch { events, task }
}

/// Starts watching; `on_event` is called for each event on the watcher's blocking thread and
/// returns `false` to stop. Must be called from within a tokio runtime.
pub fn watch_logs_with<F>(
    config: WatchConfig,
    cancel: CancellationToken,
    on_event: F,
) -> JoinHandle<()>
where
    F: FnMut(LogEvent) -> bool + Send + 'static,
{
    let parser_config = Arc::new(config.parser);
    let parsers = config
        .files
        .iter()
        .map(|p| LineParser::new(p.display().to_string(), Arc::clone(&parser_config)))
        .collect();
    let sink = EventSink {
        labels: config
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        parsers,
        from_start: config.from_start,
        stale: config.backend_config.map(StaleConfigDetector::new),
        on_event,
        out: Vec::new(),
        open: true,
        now: Utc::now(),
        clocks_told: false,
    };
    let handle = spawn_follower(config.files, config.follow, cancel, sink);
    tokio::spawn(async move {
        if let Err(e) = handle.await {
            tracing::error!("log watcher stopped abnormally: {e}");
        }
    })
}

struct EventSink<F> {
    labels: Vec<String>,
    parsers: Vec<LineParser>,
    from_start: bool,
    stale: Option<StaleConfigDetector>,
    on_event: F,
    out: Vec<LogEvent>,
    open: bool,
    now: DateTime<Utc>,
    /// Each file's clock is reported once, before its first line.
    clocks_told: bool,
}

impl<F: FnMut(LogEvent) -> bool> EventSink<F> {
    fn tell_clocks(&mut self) {
        if !self.clocks_told {
            self.clocks_told = true;
            for parser in &self.parsers {
                self.out
                    .push(LogEvent::Clock(parser.clock().info().clone()));
            }
        }
    }

    fn emit(&mut self) {
        for event in self.out.drain(..) {
            if self.open && !(self.on_event)(event) {
                self.open = false;
            }
        }
    }
}

impl<F: FnMut(LogEvent) -> bool> FollowSink for EventSink<F> {
    fn line(&mut self, file: usize, line: &[u8], info: LineInfo) {
        self.tell_clocks();
        let Some(parser) = self.parsers.get_mut(file) else {
            return;
        };
        if info.origin == LineOrigin::Existing && !self.from_start {
            parser.feed_context(line);
            return;
        }
        let meta = LineMeta {
            line_no: info.line_no,
            truncated: info.truncated,
            complete: info.complete,
            live: info.origin == LineOrigin::Appended,
            now: self.now,
        };
        parser.feed(line, &meta, &mut self.out);
        if self.out.len() >= 64 {
            self.emit();
        }
    }

    fn status(&mut self, file: usize, state: crate::event::FollowerState, message: String) {
        if state == crate::event::FollowerState::Truncated {
            if let Some(parser) = self.parsers.get_mut(file) {
                parser.lines_may_be_lost();
            }
        }
        let label = self.labels.get(file).cloned().unwrap_or_default();
        self.out.push(LogEvent::FollowerStatus(FollowerStatus {
            file: label,
            state,
            message,
        }));
        self.emit();
    }

    fn generation_end(&mut self, file: usize) {
        if let Some(parser) = self.parsers.get_mut(file) {
            parser.flush(&mut self.out);
        }
    }

    fn idle(&mut self) -> bool {
        self.tell_clocks();
        for parser in &mut self.parsers {
            parser.flush(&mut self.out);
        }
        if let Some(stale) = self.stale.as_mut() {
            let started = self
                .parsers
                .iter()
                .filter_map(LineParser::last_backend_start)
                .max();
            if let Some(event) = stale.check(started) {
                self.out.push(LogEvent::StaleConfig(event));
            }
        }
        self.emit();
        self.now = Utc::now();
        self.open
    }
}
