//! A desktop notification when a new fallback code is written while the window is not in
//! front (or closed to the tray): support staff on a call should not have to watch the window. And one when a
//! provider's delivered share drops below `[delivery] alert_below_percent`.

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
    // With "Copy code", replacing the number's previous one (see code_notices).
    crate::code_notices::show(app, code);
}

/// A notification with a title and a line, no action.
pub fn plain(app: &AppHandle, title: &str, body: &str) {
    let shown = app.notification().builder().title(title).body(body).show();
    if let Err(e) = shown {
        tracing::warn!(error = %e, "cannot show a desktop notification");
    }
}

/// Providers whose delivered share just fell below the threshold (over at least the minimum
/// of decided messages), as notification bodies. `alerted` remembers who was announced, so a
/// provider is announced once per drop; it is forgotten when its rate recovers.
pub fn delivery_alerts(
    rates: &msgops_delivery::DeliveryRates,
    delivery: &msgops_core::config::DeliveryConfig,
    alerted: &mut std::collections::HashSet<msgops_core::ProviderKind>,
) -> Vec<String> {
    let threshold = delivery.alert_below_percent / 100.0;
    let mut out = Vec::new();
    for row in &rates.providers {
        let decided = row.delivered + row.failed;
        let Some(rate) = row.rate else { continue };
        let low = threshold > 0.0
            && decided >= u64::from(delivery.alert_min_messages)
            && rate < threshold;
        if low && alerted.insert(row.provider) {
            out.push(format!(
                "{}: {:.0} % delivered over the last hour ({} of {} reported)",
                row.provider.display_name(),
                rate * 100.0,
                row.delivered,
                decided
            ));
        } else if !low {
            alerted.remove(&row.provider);
        }
    }
    out
}

/// Every 2 s: when the delivery reports grew (written by the embedded service or another
/// process), tells the window (with the new rates) and announces providers whose delivered
/// share dropped.
pub fn watch_deliveries(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let mut alerted = std::collections::HashSet::new();
        let mut seen = usize::MAX;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            tick.tick().await;
            let state = app.state::<crate::AppState>();
            let count = match state.history.delivery_revision().await {
                Ok(n) => usize::try_from(n).unwrap_or(usize::MAX - 1),
                Err(e) => {
                    tracing::warn!(error = %e, "delivery reports not read");
                    continue;
                }
            };
            if count == seen {
                continue;
            }
            let first = seen == usize::MAX;
            seen = count;
            let rates = msgops_service::DeliverySink::rates(
                state.history.as_ref(),
                Utc::now(),
                msgops_service::delivery::RATE_WINDOW,
            )
            .await;
            if !first {
                use tauri::Emitter;
                if let Err(e) = app.emit(crate::DELIVERY_EVENT, &rates) {
                    tracing::warn!(error = %e, "cannot tell the window of delivery reports");
                }
            }
            let config = state.config.current();
            for body in delivery_alerts(&rates, &config.delivery, &mut alerted) {
                tracing::warn!(%body, "delivery rate dropped");
                let shown = app
                    .notification()
                    .builder()
                    .title("Messages are not arriving")
                    .body(body)
                    .show();
                if let Err(e) = shown {
                    tracing::warn!(error = %e, "cannot show a desktop notification");
                }
            }
        }
    });
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
    fn a_provider_is_announced_once_per_drop_and_again_after_it_recovered() {
        use msgops_delivery::{DeliveryRates, ProviderDeliveryRate};
        let rates = |delivered, failed| DeliveryRates {
            window_secs: 3600,
            providers: vec![ProviderDeliveryRate {
                provider: msgops_core::ProviderKind::Twilio,
                delivered,
                failed,
                pending: 0,
                rate: Some(delivered as f64 / (delivered + failed) as f64),
            }],
        };
        let config = msgops_core::config::DeliveryConfig::default();
        let mut alerted = std::collections::HashSet::new();
        // Too few messages to judge.
        assert!(delivery_alerts(&rates(1, 3), &config, &mut alerted).is_empty());
        let first = delivery_alerts(&rates(2, 8), &config, &mut alerted);
        assert_eq!(
            first,
            ["Twilio: 20 % delivered over the last hour (2 of 10 reported)"]
        );
        assert!(
            delivery_alerts(&rates(2, 9), &config, &mut alerted).is_empty(),
            "once"
        );
        assert!(
            delivery_alerts(&rates(19, 1), &config, &mut alerted).is_empty(),
            "recovered"
        );
        assert_eq!(
            delivery_alerts(&rates(1, 9), &config, &mut alerted).len(),
            1,
            "dropped again"
        );
        let off = msgops_core::config::DeliveryConfig {
            alert_below_percent: 0.0,
            ..config
        };
        assert!(
            delivery_alerts(&rates(0, 10), &off, &mut std::collections::HashSet::new()).is_empty()
        );
    }

    #[test]
    fn the_body_shows_the_code_and_only_the_recipients_last_digits() {
        assert_eq!(
            body(&code("2026-11-24T10:00:04")),
            "091282 for …0123 — expires 10:10"
        );
    }
}
