//! The tray icon: its colour is the worst breaker state of the providers in use, its tooltip
//! says which, and its menu carries the latest fallback code (click to copy) so support staff
//! can answer a caller without bringing the window up.

use std::sync::Mutex;

use msgops_core::health::{ChainStatus, HealthSnapshot};
use msgops_core::{BreakerState, Channel};
use msgops_logwatch::FallbackCode;
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager};

use crate::state::AppState;

/// What the tray shows, computed from the health snapshot and the latest code alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayView {
    /// The worst breaker state among enabled, configured providers.
    pub level: BreakerState,
    pub tooltip: String,
    /// Menu text for the latest code, and the code when it may still be copied.
    pub latest_label: String,
    pub latest_code: Option<String>,
}

fn rank(state: BreakerState) -> u8 {
    match state {
        BreakerState::Closed => 0,
        BreakerState::HalfOpen => 1,
        BreakerState::Open => 2,
    }
}

impl TrayView {
    pub fn of(
        health: &HealthSnapshot,
        latest: Option<&FallbackCode>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let in_use: Vec<_> = health
            .providers()
            .filter(|p| p.enabled && p.configured)
            .collect();
        let level = in_use
            .iter()
            .map(|p| p.breaker_state)
            .max_by_key(|s| rank(*s))
            .unwrap_or(BreakerState::Closed);
        // The chains first, as the health endpoint and the dashboard say it: a chain that only
        // its last resort can serve is the first thing to know.
        let mut parts: Vec<String> = Channel::ALL
            .into_iter()
            .map(|c| (c, health.chain(c)))
            .filter(|(_, h)| matches!(h.status, ChainStatus::Degraded | ChainStatus::Down))
            .map(|(c, h)| format!("{} {}", c.as_str().to_uppercase(), h.status))
            .collect();
        if level == BreakerState::Closed {
            parts.push("every breaker CLOSED".to_string());
        } else {
            let names: Vec<String> = in_use
                .iter()
                .filter(|p| p.breaker_state != BreakerState::Closed)
                .map(|p| format!("{} {}", p.display_name, p.breaker_state.as_str()))
                .collect();
            parts.push(names.join(", "));
        }
        let tooltip = format!("msgops — {}", parts.join("; "));
        let (latest_label, latest_code) = match latest {
            None => ("No fallback code yet".to_string(), None),
            Some(c) => {
                let expired = c.expired || c.expires_at.is_none_or(|t| t <= now);
                let who = c.recipient_tail();
                if expired {
                    (format!("Latest code {} for {who} — expired", c.code), None)
                } else {
                    (
                        format!("Copy latest code {} for {who}", c.code),
                        Some(c.code.clone()),
                    )
                }
            }
        };
        Self {
            level,
            tooltip,
            latest_label,
            latest_code,
        }
    }
}

/// A 32×32 icon: a disc in the state's colour, with a shape that does not rely on colour —
/// full for CLOSED, half for HALF_OPEN, crossed by a bar for OPEN.
pub fn icon_rgba(level: BreakerState) -> Vec<u8> {
    const SIZE: usize = 32;
    let (r, g, b) = match level {
        BreakerState::Closed => (0x2e, 0x7d, 0x32),
        BreakerState::HalfOpen => (0xe6, 0x9a, 0x00),
        BreakerState::Open => (0xc6, 0x28, 0x28),
    };
    let mut rgba = vec![0u8; SIZE * SIZE * 4];
    let centre = (SIZE as f32 - 1.0) / 2.0;
    for y in 0..SIZE {
        for x in 0..SIZE {
            let (dx, dy) = (x as f32 - centre, y as f32 - centre);
            let d = (dx * dx + dy * dy).sqrt();
            // Anti-aliased edge over one pixel.
            let coverage = (15.0 - d).clamp(0.0, 1.0);
            if coverage == 0.0 {
                continue;
            }
            let hollow = match level {
                BreakerState::Closed => false,
                BreakerState::HalfOpen => dx > 0.0 && d < 11.0,
                BreakerState::Open => dy.abs() < 3.0 && dx.abs() < 10.0,
            };
            let px = &mut rgba[(y * SIZE + x) * 4..][..4];
            let (pr, pg, pb) = if hollow {
                (0xff, 0xff, 0xff)
            } else {
                (r, g, b)
            };
            px.copy_from_slice(&[pr, pg, pb, (coverage * 255.0) as u8]);
        }
    }
    rgba
}

/// The tray and its menu items, kept to update them in place.
pub struct Tray {
    icon: TrayIcon,
    latest: MenuItem<tauri::Wry>,
    shown: Mutex<Option<TrayView>>,
}

const COPY_LATEST: &str = "copy-latest";
const SHOW: &str = "show";
const QUIT: &str = "quit";

pub fn install(app: &AppHandle) -> tauri::Result<()> {
    let latest = MenuItem::with_id(
        app,
        COPY_LATEST,
        "No fallback code yet",
        false,
        None::<&str>,
    )?;
    let show = MenuItem::with_id(app, SHOW, "Show msgops", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, QUIT, "Quit msgops", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&latest, &separator, &show, &quit])?;
    let icon = TrayIconBuilder::with_id("msgops")
        .icon(Image::new_owned(icon_rgba(BreakerState::Closed), 32, 32))
        .tooltip("msgops")
        .menu(&menu)
        // A left click brings the window up, the right click opens the menu (where the
        // platform tells them apart: Linux's status area always opens the menu).
        .show_menu_on_left_click(false)
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                crate::desktop::show_window(tray.app_handle());
            }
        })
        .on_menu_event(|app, event| match event.id.as_ref() {
            COPY_LATEST => copy_latest(app),
            SHOW => crate::desktop::show_window(app),
            QUIT => app.exit(0),
            _ => {}
        })
        .build(app)?;
    app.manage(Tray {
        icon,
        latest,
        shown: Mutex::new(None),
    });
    refresh(app);
    Ok(())
}

/// There is a tray to come back from (closing the window may hide it).
pub fn installed(app: &AppHandle) -> bool {
    app.try_state::<Tray>().is_some()
}

/// The menu's latest-code line as shown now, and whether it can be clicked.
pub fn latest_entry(app: &AppHandle) -> Option<(String, bool)> {
    let tray = app.try_state::<Tray>()?;
    let shown = tray
        .shown
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    shown
        .as_ref()
        .map(|v| (v.latest_label.clone(), v.latest_code.is_some()))
}

fn copy_latest(app: &AppHandle) {
    use tauri_plugin_clipboard_manager::ClipboardExt;
    let Some(tray) = app.try_state::<Tray>() else {
        return;
    };
    let code = tray
        .shown
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .and_then(|v| v.latest_code.clone());
    if let Some(code) = code {
        if let Err(e) = app.clipboard().write_text(code) {
            tracing::warn!(error = %e, "cannot copy the latest code from the tray");
        }
    }
}

/// Recomputes the view and updates the tray when it changed.
pub fn refresh(app: &AppHandle) {
    let (Some(tray), Some(state)) = (app.try_state::<Tray>(), app.try_state::<AppState>()) else {
        return;
    };
    let view = TrayView::of(
        &state.messaging.health(),
        state.logs.latest_code().as_ref(),
        chrono::Utc::now(),
    );
    let mut shown = tray
        .shown
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if shown.as_ref() == Some(&view) {
        return;
    }
    if shown.as_ref().is_none_or(|s| s.level != view.level) {
        let _ = tray
            .icon
            .set_icon(Some(Image::new_owned(icon_rgba(view.level), 32, 32)));
    }
    let _ = tray.icon.set_tooltip(Some(&view.tooltip));
    let _ = tray.latest.set_text(&view.latest_label);
    let _ = tray.latest.set_enabled(view.latest_code.is_some());
    *shown = Some(view);
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgops_core::config::Config;
    use msgops_core::Messaging;

    fn code(at: &str, expired: bool) -> FallbackCode {
        let created = at.parse::<chrono::NaiveDateTime>().unwrap().and_utc();
        FallbackCode {
            recipient: Some("+14165550123".into()),
            candidates: Vec::new(),
            logged_at: None,
            time: msgops_logwatch::CodeTime::Logged,
            code: "091282".into(),
            created_at: Some(created),
            expires_at: Some(created + chrono::TimeDelta::minutes(10)),
            expired,
            source: msgops_logwatch::CodeSource::SmsFallback,
            file: "backend.log".into(),
            line: 1,
        }
    }

    fn health() -> HealthSnapshot {
        let mut h = Messaging::from_config(&Config::default()).health();
        for p in h
            .sms_providers
            .iter_mut()
            .chain(h.email_providers.iter_mut())
        {
            p.configured = true;
            p.is_healthy = true;
        }
        again(h)
    }

    /// The snapshot again, its chains' status worked out from its providers as they are now.
    fn again(h: HealthSnapshot) -> HealthSnapshot {
        HealthSnapshot::new(h.sms_providers, h.email_providers, &Default::default())
    }

    #[test]
    fn the_colour_is_the_worst_breaker_of_the_providers_in_use() {
        let now = "2026-11-24T10:00:00Z".parse().unwrap();
        let mut h = health();
        assert_eq!(TrayView::of(&h, None, now).level, BreakerState::Closed);
        h.email_providers[1].breaker_state = BreakerState::HalfOpen;
        assert_eq!(TrayView::of(&h, None, now).level, BreakerState::HalfOpen);
        h.sms_providers[1].breaker_state = BreakerState::Open;
        let view = TrayView::of(&h, None, now);
        assert_eq!(view.level, BreakerState::Open);
        assert_eq!(view.tooltip, "msgops — Twilio OPEN, SendGrid HALF_OPEN");
        // The incident: SNS and Twilio OPEN, only the Console log left. The chain comes first.
        h.sms_providers[0].breaker_state = BreakerState::Open;
        for p in &mut h.sms_providers[..2] {
            p.is_healthy = false;
        }
        let incident = TrayView::of(&again(h.clone()), None, now);
        assert_eq!(
            incident.tooltip,
            "msgops — SMS degraded; AWS SNS OPEN, Twilio OPEN, SendGrid HALF_OPEN"
        );
        // A disabled or unconfigured provider's breaker does not colour the tray.
        h.sms_providers[0].breaker_state = BreakerState::Closed;
        h.sms_providers[1].enabled = false;
        h.email_providers[1].configured = false;
        assert_eq!(TrayView::of(&h, None, now).level, BreakerState::Closed);
    }

    #[test]
    fn the_latest_code_is_offered_until_it_expires() {
        let h = health();
        let c = code("2026-11-24T10:00:00", false);
        let view = TrayView::of(&h, Some(&c), "2026-11-24T10:05:00Z".parse().unwrap());
        assert_eq!(view.latest_label, "Copy latest code 091282 for …0123");
        assert_eq!(view.latest_code.as_deref(), Some("091282"));
        let later = TrayView::of(&h, Some(&c), "2026-11-24T10:10:00Z".parse().unwrap());
        assert_eq!(later.latest_label, "Latest code 091282 for …0123 — expired");
        assert_eq!(later.latest_code, None);
        assert_eq!(
            TrayView::of(&h, None, "2026-11-24T10:10:00Z".parse().unwrap()).latest_label,
            "No fallback code yet"
        );
    }

    #[test]
    fn each_state_has_its_own_shape_not_only_its_colour() {
        let closed = icon_rgba(BreakerState::Closed);
        let half = icon_rgba(BreakerState::HalfOpen);
        let open = icon_rgba(BreakerState::Open);
        let white = |rgba: &[u8]| {
            rgba.chunks(4)
                .filter(|p| p == &[0xff, 0xff, 0xff, 0xff])
                .count()
        };
        assert_eq!(white(&closed), 0);
        assert!(white(&half) > 100, "half of the disc is hollow");
        assert!(white(&open) > 50, "a bar crosses the disc");
        assert_ne!(white(&half), white(&open));
    }
}
