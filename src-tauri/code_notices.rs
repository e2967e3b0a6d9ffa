//! The desktop notifications of new fallback codes: each offers "Copy code" and, clicked, opens
//! the Codes page on its code; a second code for the same number while the first is still valid
//! replaces its notification instead of stacking another. The bookkeeping (which notification
//! is whose, until when) is plain data, tested without a desktop; showing them is the
//! freedesktop notification server's job on Linux (through notify-rust, which
//! tauri-plugin-notification uses without actions), a plain notification elsewhere.
//!
//! A notification never shows more of the number than its last four digits.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use msgops_logwatch::FallbackCode;

/// What a notification is about: the code to copy, the number to open the Codes page on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub code: String,
    pub recipient: Option<String>,
    /// Until when its code is valid: another code for the number before then replaces it.
    pub until: DateTime<Utc>,
    /// Counts the codes shown: tells a replaced notice from the one in place.
    pub serial: u64,
}

impl Notice {
    /// Its code may still be used.
    pub fn valid(&self, now: DateTime<Utc>) -> bool {
        self.until > now
    }
}

/// Which notification each number has on screen, by the id the notification server gave it.
#[derive(Debug, Default)]
pub struct CodeNotices {
    by_recipient: HashMap<String, u32>,
    by_id: HashMap<u32, Notice>,
    serial: u64,
}

impl CodeNotices {
    /// The notification a new code for its number replaces: the one shown for an earlier code
    /// of the same number that is still valid. None for a code without a certain number.
    pub fn replaces(&mut self, code: &FallbackCode, now: DateTime<Utc>) -> Option<u32> {
        self.forget_expired(now);
        self.by_recipient.get(code.recipient.as_deref()?).copied()
    }

    /// Notes that notification `id` now shows `code`; returns its serial, which
    /// [`CodeNotices::current`] then answers with.
    pub fn shown(&mut self, id: u32, code: &FallbackCode, now: DateTime<Utc>) -> u64 {
        self.serial += 1;
        let notice = Notice {
            code: code.code.clone(),
            recipient: code.recipient.clone(),
            until: code.expires_at.unwrap_or(now),
            serial: self.serial,
        };
        if let Some(old) = self.by_id.insert(id, notice) {
            if let Some(r) = old.recipient.filter(|r| Some(r) != code.recipient.as_ref()) {
                self.by_recipient.remove(&r);
            }
        }
        if let Some(r) = &code.recipient {
            self.by_recipient.insert(r.clone(), id);
        }
        self.serial
    }

    /// What notification `id` shows, if it is still the one with `serial` (not replaced
    /// since).
    pub fn current(&self, id: u32, serial: u64) -> Option<&Notice> {
        self.by_id.get(&id).filter(|n| n.serial == serial)
    }

    /// The notification was closed (dismissed, or timed out): a next code gets a new one.
    pub fn closed(&mut self, id: u32, serial: u64) {
        if self.by_id.get(&id).is_some_and(|n| n.serial == serial) {
            if let Some(n) = self.by_id.remove(&id) {
                if let Some(r) = n.recipient {
                    if self.by_recipient.get(&r) == Some(&id) {
                        self.by_recipient.remove(&r);
                    }
                }
            }
        }
    }

    fn forget_expired(&mut self, now: DateTime<Utc>) {
        self.by_id.retain(|_, n| n.until > now);
        let by_id = &self.by_id;
        self.by_recipient.retain(|_, id| by_id.contains_key(id));
    }
}

/// The notification's text: the code and the number's last four digits, and until when.
pub fn body(code: &FallbackCode) -> String {
    crate::notify::body(code)
}

/// Action ids, as sent to the notification server.
pub const COPY_ACTION: &str = "copy";
pub const DEFAULT_ACTION: &str = "default";

/// Shows (or replaces) the notification of a new code. On Linux one thread shows them in
/// order (a second code must see where the first went), and a thread per notification waits
/// for what the operator does with it.
#[cfg(target_os = "linux")]
pub fn show(app: &tauri::AppHandle, code: &FallbackCode) {
    use tauri::Manager;

    if app.try_state::<CodeNotifier>().is_none() {
        let (tx, rx) = std::sync::mpsc::channel::<FallbackCode>();
        let worker = app.clone();
        let notices = std::sync::Arc::new(std::sync::Mutex::new(CodeNotices::default()));
        let spawned = std::thread::Builder::new()
            .name("code-notifications".into())
            .spawn(move || {
                for code in rx {
                    show_now(&worker, &notices, &code);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start showing code notifications");
            return;
        }
        app.manage(CodeNotifier(std::sync::Mutex::new(tx)));
    }
    if let Some(notifier) = app.try_state::<CodeNotifier>() {
        let tx = notifier
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tx.send(code.clone()).is_err() {
            tracing::warn!("code notifications stopped");
        }
    }
}

/// Hands codes to the thread that shows their notifications.
#[cfg(target_os = "linux")]
struct CodeNotifier(std::sync::Mutex<std::sync::mpsc::Sender<FallbackCode>>);

#[cfg(target_os = "linux")]
type SharedNotices = std::sync::Arc<std::sync::Mutex<CodeNotices>>;

#[cfg(target_os = "linux")]
fn show_now(app: &tauri::AppHandle, notices: &SharedNotices, code: &FallbackCode) {
    let now = Utc::now();
    let lock = || {
        notices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let replaces = lock().replaces(code, now);
    let mut notification = notify_rust::Notification::new();
    notification
        .appname("msgops")
        .summary("New fallback code")
        .body(&body(code))
        .action(DEFAULT_ACTION, "Show in msgops")
        .action(COPY_ACTION, "Copy code");
    // On screen while the code is valid (the server may cut it shorter).
    if let Some(left) = code.expires_at.map(|t| t - now) {
        let ms = u32::try_from(left.num_milliseconds().clamp(1_000, 3_600_000)).unwrap_or(60_000);
        notification.timeout(notify_rust::Timeout::Milliseconds(ms));
    }
    if let Some(id) = replaces {
        notification.id(id);
    }
    let handle = match notification.show() {
        Ok(handle) => handle,
        Err(e) => {
            tracing::warn!(error = %e, "cannot show a desktop notification");
            return;
        }
    };
    let id = handle.id();
    let serial = lock().shown(id, code, now);
    tracing::info!(id, replaced = replaces.is_some(), "code notification shown");
    let app = app.clone();
    let notices = notices.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("notification-{id}"))
        .spawn(move || {
            handle.wait_for_action(|action| act(&app, &notices, id, serial, action));
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot wait for the notification's actions");
    }
}

/// What the operator chose on notification `id` (as it was at `serial`).
#[cfg(target_os = "linux")]
fn act(app: &tauri::AppHandle, notices: &SharedNotices, id: u32, serial: u64, action: &str) {
    let mut notices = notices
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if action == "__closed" {
        notices.closed(id, serial);
        return;
    }
    // A replaced notification's own wait ends here: the one in its place answers.
    let Some(notice) = notices.current(id, serial).cloned() else {
        return;
    };
    drop(notices);
    tracing::info!(id, action, "notification acted on");
    match action {
        COPY_ACTION if notice.valid(Utc::now()) => {
            use tauri_plugin_clipboard_manager::ClipboardExt;
            if let Err(e) = app.clipboard().write_text(notice.code) {
                tracing::warn!(error = %e, "cannot copy the code from its notification");
            }
        }
        COPY_ACTION => tracing::info!(id, "not copied: the code expired"),
        // The Codes page shows it, dimmed once expired.
        DEFAULT_ACTION => crate::desktop::open_codes(
            app,
            crate::desktop::OpenCodes {
                code: Some(notice.code),
                recipient: notice.recipient,
            },
        ),
        _ => {}
    }
}

#[cfg(not(target_os = "linux"))]
pub fn show(app: &tauri::AppHandle, code: &FallbackCode) {
    crate::notify::plain(app, "New fallback code", &body(code));
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn code(recipient: Option<&str>, value: &str, at: DateTime<Utc>) -> FallbackCode {
        FallbackCode {
            recipient: recipient.map(Into::into),
            candidates: Vec::new(),
            logged_at: None,
            time: msgops_logwatch::CodeTime::Logged,
            code: value.into(),
            created_at: Some(at),
            expires_at: Some(at + TimeDelta::minutes(5)),
            expired: false,
            source: msgops_logwatch::CodeSource::SmsFallback,
            file: "backend.log".into(),
            line: 1,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_second_code_for_the_same_number_within_its_lifetime_replaces_the_first() {
        let mut notices = CodeNotices::default();
        let first = code(Some("+14165550123"), "111111", at("2026-11-24T10:00:00Z"));
        assert_eq!(notices.replaces(&first, at("2026-11-24T10:00:00Z")), None);
        let s1 = notices.shown(7, &first, at("2026-11-24T10:00:00Z"));
        let second = code(Some("+14165550123"), "222222", at("2026-11-24T10:03:00Z"));
        assert_eq!(
            notices.replaces(&second, at("2026-11-24T10:03:00Z")),
            Some(7)
        );
        let s2 = notices.shown(7, &second, at("2026-11-24T10:03:00Z"));
        // Copying from notification 7 copies the second code, once: the first's wait is over.
        let now = at("2026-11-24T10:04:00Z");
        assert_eq!(notices.current(7, s1), None);
        let shown = notices.current(7, s2).expect("the second code's notice");
        assert_eq!(shown.code, "222222");
        assert!(shown.valid(now));
        // Another number has a notification of its own.
        let other = code(Some("+14165550199"), "333333", at("2026-11-24T10:03:30Z"));
        assert_eq!(notices.replaces(&other, at("2026-11-24T10:03:30Z")), None);
    }

    #[test]
    fn after_the_code_expired_or_its_notification_closed_a_new_code_gets_a_new_notification() {
        let mut notices = CodeNotices::default();
        let first = code(Some("+14165550123"), "111111", at("2026-11-24T10:00:00Z"));
        let s1 = notices.shown(7, &first, at("2026-11-24T10:00:00Z"));
        let later = code(Some("+14165550123"), "222222", at("2026-11-24T10:05:00Z"));
        assert_eq!(
            notices.replaces(&later, at("2026-11-24T10:05:00Z")),
            None,
            "the first code expired at 10:05"
        );
        assert_eq!(notices.current(7, s1), None, "forgotten once expired");
        let s2 = notices.shown(8, &later, at("2026-11-24T10:05:00Z"));
        notices.closed(8, s2);
        let third = code(Some("+14165550123"), "333333", at("2026-11-24T10:06:00Z"));
        assert_eq!(
            notices.replaces(&third, at("2026-11-24T10:06:00Z")),
            None,
            "dismissed: nothing to replace"
        );
    }

    #[test]
    fn a_replaced_notifications_closing_does_not_forget_the_one_in_its_place() {
        let mut notices = CodeNotices::default();
        let t = at("2026-11-24T10:00:00Z");
        let s1 = notices.shown(7, &code(Some("+14165550123"), "111111", t), t);
        let s2 = notices.shown(7, &code(Some("+14165550123"), "222222", t), t);
        notices.closed(7, s1);
        assert!(notices.current(7, s2).is_some());
        let next = code(Some("+14165550123"), "333333", t);
        assert_eq!(notices.replaces(&next, t), Some(7));
    }

    #[test]
    fn a_code_without_a_certain_number_is_never_replaced() {
        let mut notices = CodeNotices::default();
        let t = at("2026-11-24T10:00:00Z");
        let unknown = code(None, "111111", t);
        notices.shown(3, &unknown, t);
        assert_eq!(notices.replaces(&code(None, "222222", t), t), None);
    }

    #[test]
    fn the_notification_shows_the_code_and_only_the_last_four_digits() {
        let c = code(Some("+14165550123"), "091282", at("2026-11-24T10:00:00Z"));
        let text = body(&c);
        assert!(text.starts_with("091282 for …0123"), "{text}");
        assert!(!text.contains("+1416555"), "{text}");
    }
}
