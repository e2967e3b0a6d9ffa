//! Feeds the window from the backend logs: starts the log watcher on the configured files, keeps
//! the recent codes and diagnostics for a window that opens later, and forwards each event as a
//! Tauri event the moment it is parsed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use msgops_core::config::Config;
use msgops_logwatch::{CancellationToken, CodePattern, LogEvent, ParserConfig, WatchConfig};
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
}

#[derive(Default)]
pub struct LogFeed {
    codes: Mutex<VecDeque<msgops_logwatch::FallbackCode>>,
    diagnostics: Mutex<VecDeque<LogEvent>>,
    files: Mutex<Vec<String>>,
    cancel: Mutex<Option<CancellationToken>>,
    /// The background HTTP service, when running: it counts codes and streams them.
    service: Mutex<Option<msgops_service::ServiceState>>,
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
        }
    }

    pub fn latest_code(&self) -> Option<msgops_logwatch::FallbackCode> {
        lock(&self.codes).back().cloned()
    }

    pub fn set_service(&self, service: msgops_service::ServiceState) {
        *lock(&self.service) = Some(service);
    }

    fn record(&self, event: &LogEvent) {
        match event {
            LogEvent::Code(code) => {
                if let Some(service) = lock(&self.service).as_ref() {
                    service.record_code(code_seen(code));
                }
                let mut codes = lock(&self.codes);
                if codes.len() == MAX_CODES {
                    codes.pop_front();
                }
                codes.push_back(code.clone());
            }
            other => {
                let mut diagnostics = lock(&self.diagnostics);
                if diagnostics.len() == MAX_DIAGNOSTICS {
                    diagnostics.pop_front();
                }
                diagnostics.push_back(other.clone());
            }
        }
    }

    /// (Re)starts following the logs named in the configuration. Bad custom patterns are
    /// reported and skipped; the built-in ones keep working.
    pub fn start(self: &Arc<Self>, app: AppHandle, config: &Config) -> Vec<String> {
        if let Some(old) = lock(&self.cancel).take() {
            old.cancel();
            lock(&self.codes).clear();
            lock(&self.diagnostics).clear();
            if let Err(e) = app.emit(LOG_RESET_EVENT, ()) {
                tracing::warn!(error = %e, "cannot tell the window the log watcher restarted");
            }
        }
        let mut problems = Vec::new();
        let patterns = config
            .logs
            .patterns
            .iter()
            .filter_map(|p| match CodePattern::new(p) {
                Ok(p) => Some(p),
                Err(e) => {
                    problems.push(format!("pattern `{p}` ignored: {e}"));
                    None
                }
            })
            .collect();
        *lock(&self.files) = config
            .logs
            .follow
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        if config.logs.follow.is_empty() {
            return problems;
        }
        let lifetime = chrono::TimeDelta::seconds(
            i64::try_from(config.logs.code_lifetime_secs).unwrap_or(600),
        );
        let mut watch = WatchConfig::new(config.logs.follow.clone()).poll_interval(
            std::time::Duration::from_millis(config.logs.poll_interval_ms.max(10)),
        );
        watch.parser = ParserConfig {
            expiry: msgops_logwatch::CodeExpiry::new(lifetime),
            patterns,
            ..ParserConfig::default()
        };
        watch.backend_config = config.logs.backend_config.clone();
        // Codes already in the files are shown too: a support agent opening the window needs
        // the code written a minute ago.
        watch.from_start = true;
        let cancel = CancellationToken::new();
        *lock(&self.cancel) = Some(cancel.clone());
        let feed = Arc::clone(self);
        let _task = tauri::async_runtime::spawn(async move {
            let task = msgops_logwatch::watch_logs_with(watch, cancel, move |event| {
                feed.record(&event);
                if let Err(e) = app.emit(LOG_EVENT, &event) {
                    tracing::warn!(error = %e, "cannot forward log event to the window");
                }
                if let LogEvent::Code(code) = &event {
                    crate::notify::new_code(&app, code);
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

fn code_seen(code: &msgops_logwatch::FallbackCode) -> msgops_service::CodeSeen {
    use chrono::TimeZone;
    let channel = match &code.recipient {
        Some(r) if r.contains('@') => msgops_core::Channel::Email,
        _ => msgops_core::Channel::Sms,
    };
    msgops_service::CodeSeen {
        channel,
        recipient: code.recipient.clone(),
        code: code.code.clone(),
        source: msgops_service::metrics::word(&code.source),
        seen_at: chrono::Utc::now(),
        expires_at: code
            .expires_at
            .and_then(|t| chrono::Local.from_local_datetime(&t).single())
            .map(|t| t.with_timezone(&chrono::Utc)),
    }
}
