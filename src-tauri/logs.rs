//! Feeds the window from the backend logs: starts the log watcher on the configured files, keeps
//! the recent codes and diagnostics for a window that opens later, and forwards each event as a
//! Tauri event the moment it is parsed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use msgops_core::config::Config;
use msgops_logwatch::{CancellationToken, LogClockInfo, LogEvent, SeenCodes, WatchConfig};
use serde::Serialize;
use tauri::{AppHandle, Emitter};
use ts_rs::TS;

/// Name of the Tauri event carrying every [`LogEvent`].
pub const LOG_EVENT: &str = "msgops://log";
/// Sent when the watcher restarts on new settings: the window drops what it has, and the files
/// are read again from their first line.
pub const LOG_RESET_EVENT: &str = "msgops://log-reset";

/// Codes kept for the Codes view; older ones fall off.
const MAX_CODES: usize = 100_000;
const MAX_DIAGNOSTICS: usize = 1_000;

#[derive(Debug, Clone, Default, Serialize, TS)]
#[ts(export)]
pub struct LogSnapshot {
    /// Oldest first.
    pub codes: Vec<msgops_logwatch::FallbackCode>,
    /// Everything that is not a code, oldest first.
    pub diagnostics: Vec<LogEvent>,
    pub files: Vec<String>,
    /// The clock each file's timestamps are read in, and why.
    pub clocks: Vec<LogClockInfo>,
}

#[derive(Default)]
pub struct LogFeed {
    codes: Mutex<VecDeque<msgops_logwatch::FallbackCode>>,
    diagnostics: Mutex<VecDeque<LogEvent>>,
    files: Mutex<Vec<String>>,
    clocks: Mutex<Vec<LogClockInfo>>,
    /// Codes already counted and notified: a restarted watcher reads the files again.
    seen: Mutex<SeenCodes>,
    cancel: Mutex<Option<CancellationToken>>,
    /// The background HTTP service, when running: it counts codes and streams them.
    service: Mutex<Option<msgops_service::ServiceState>>,
    /// Codes seen for the first time before the service was running (it starts in the
    /// background, and the watcher reads the files at once): handed to it when it is set.
    unreported: Mutex<Vec<msgops_logwatch::FallbackCode>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LogFeed {
    pub fn snapshot(&self) -> LogSnapshot {
        LogSnapshot {
            codes: lock(&self.codes).iter().cloned().collect(),
            diagnostics: lock(&self.diagnostics).iter().cloned().collect(),
            files: lock(&self.files).clone(),
            clocks: lock(&self.clocks).clone(),
        }
    }

    pub fn latest_code(&self) -> Option<msgops_logwatch::FallbackCode> {
        lock(&self.codes).back().cloned()
    }

    pub fn set_service(&self, service: msgops_service::ServiceState) {
        let mut slot = lock(&self.service);
        for code in lock(&self.unreported).drain(..) {
            service.record_code(msgops_service::CodeSeen::of(&code));
        }
        *slot = Some(service);
    }

    /// Keeps an event for the window; returns true for a code seen for the first time (counted
    /// by the service and worth a notification).
    fn record(&self, event: &LogEvent) -> bool {
        match event {
            LogEvent::Code(code) => {
                let first = lock(&self.seen).first_time(code);
                if first {
                    match lock(&self.service).as_ref() {
                        Some(service) => service.record_code(msgops_service::CodeSeen::of(code)),
                        None => {
                            let mut unreported = lock(&self.unreported);
                            if unreported.len() < msgops_service::state::CODES_KEPT {
                                unreported.push(code.clone());
                            }
                        }
                    }
                }
                let mut codes = lock(&self.codes);
                if codes.len() == MAX_CODES {
                    codes.pop_front();
                }
                codes.push_back(code.clone());
                return first;
            }
            LogEvent::Clock(clock) => {
                let mut clocks = lock(&self.clocks);
                clocks.retain(|c| c.file != clock.file);
                clocks.push(clock.clone());
            }
            other => {
                let mut diagnostics = lock(&self.diagnostics);
                if diagnostics.len() == MAX_DIAGNOSTICS {
                    diagnostics.pop_front();
                }
                diagnostics.push_back(other.clone());
            }
        }
        false
    }

    /// (Re)starts following the logs named in the configuration. Bad custom patterns are
    /// reported and skipped; the built-in ones keep working.
    pub fn start(self: &Arc<Self>, app: AppHandle, config: &Config) -> Vec<String> {
        if let Some(old) = lock(&self.cancel).take() {
            old.cancel();
            lock(&self.codes).clear();
            lock(&self.diagnostics).clear();
            // While the window shows a remote service, it learns of this computer's codes when
            // it switches back.
            if crate::connections::showing_local(&app) {
                if let Err(e) = app.emit(LOG_RESET_EVENT, ()) {
                    tracing::warn!(error = %e, "cannot tell the window the log watcher restarted");
                }
            }
        }
        let files = config.followed_logs();
        *lock(&self.files) = files.iter().map(|p| p.display().to_string()).collect();
        lock(&self.clocks).clear();
        let (parser, problems) = config.logs.parser();
        let mut watch = WatchConfig::new(files).poll_interval(std::time::Duration::from_millis(
            config.logs.poll_interval_ms.max(10),
        ));
        watch.parser = parser;
        watch.backend_config = config.logs.backend_config.clone();
        // Codes already in the files are shown too: a support agent opening the window needs
        // the code written a minute ago.
        watch.from_start = true;
        let cancel = CancellationToken::new();
        *lock(&self.cancel) = Some(cancel.clone());
        let feed = Arc::clone(self);
        let _task = tauri::async_runtime::spawn(async move {
            let task = msgops_logwatch::watch_logs_with(watch, cancel, move |event| {
                let first = feed.record(&event);
                // Kept either way; shown while the window is on this computer.
                if crate::connections::showing_local(&app) {
                    if let Err(e) = app.emit(LOG_EVENT, &event) {
                        tracing::warn!(error = %e, "cannot forward log event to the window");
                    }
                }
                if let LogEvent::Code(code) = &event {
                    if first {
                        crate::notify::new_code(&app, code);
                    }
                    crate::tray::refresh(&app);
                }
                true
            });
            if let Err(e) = task.await {
                tracing::error!(error = %e, "log watcher stopped");
            }
        });
        problems
    }
}
