//! A desktop notification when a new fallback code is written while the window is not in
//! front: support staff on a call should not have to watch the window.

use chrono::{DateTime, TimeDelta, Utc};
use msgops_logwatch::FallbackCode;
use tauri::{AppHandle, Manager};
use tauri_plugin_notification::NotificationExt;

/// Codes written longer ago than this are history (read when the watcher started), not news.
const NEWS_WINDOW: TimeDelta = TimeDelta::seconds(60);

pub fn should_notify(code: &FallbackCode, window_focused: bool, now: DateTime<Utc>) -> bool {
    let fresh = code
        .created_at
        .is_some_and(|c| now - c <= NEWS_WINDOW && c - now <= NEWS_WINDOW);
    let valid = !code.expired && code.expires_at.is_some_and(|t| t > now);
    !window_focused && fresh && valid
}

pub fn body(code: &FallbackCode) -> String {
    let who = code.recipient_tail();
    match code.expires_at {
        Some(t) => format!(
            "{} for {who} — expires {}",
            code.code,
            t.with_timezone(&chrono::Local).format("%H:%M")
        ),
        None => format!("{} for {who}", code.code),
    }
}

pub fn new_code(app: &AppHandle, code: &FallbackCode) {
    let focused = app
        .get_webview_window("main")
        .and_then(|w| w.is_focused().ok())
        .unwrap_or(false);
    if !should_notify(code, focused, Utc::now()) {
        return;
    }
    let shown = app
        .notification()
        .builder()
        .title("New fallback code")
        .body(body(code))
        .show();
    if let Err(e) = shown {
        tracing::warn!(error = %e, "cannot show a desktop notification");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(created: &str) -> FallbackCode {
        let created = created.parse::<chrono::NaiveDateTime>().unwrap().and_utc();
        FallbackCode {
            recipient: Some("+14165550123".into()),
            candidates: Vec::new(),
            logged_at: None,
            time: msgops_logwatch::CodeTime::Logged,
            code: "091282".into(),
            created_at: Some(created),
            expires_at: Some(created + TimeDelta::minutes(10)),
            expired: false,
            source: msgops_logwatch::CodeSource::SmsFallback,
            file: "backend.log".into(),
            line: 7,
        }
    }

    #[test]
    fn only_a_fresh_valid_code_behind_an_unfocused_window_is_announced() {
        let now = "2026-11-24T10:00:05"
            .parse::<chrono::NaiveDateTime>()
            .unwrap()
            .and_utc();
        let new = code("2026-11-24T10:00:04");
        assert!(should_notify(&new, false, now));
        assert!(!should_notify(&new, true, now), "the window is in front");
        assert!(
            !should_notify(&code("2026-11-24T09:55:00"), false, now),
            "read at start-up"
        );
        let mut expired = new.clone();
        expired.expired = true;
        assert!(!should_notify(&expired, false, now));
        let mut undated = new;
        undated.created_at = None;
        assert!(!should_notify(&undated, false, now));
    }

    #[test]
    fn the_body_shows_the_code_and_only_the_recipients_last_digits() {
        assert_eq!(
            body(&code("2026-11-24T10:00:04")),
            "091282 for …0123 — expires 10:10"
        );
    }
}
