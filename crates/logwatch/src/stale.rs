//! Detects a backend running older configuration: its config file (`.env`) was modified after
//! the backend last started (last provider-initialisation line in its log).
//!
//! Both are instants: the backend's start is read in its log's clock (see [`crate::clock`]), the
//! file's modification time is one already. This module only reports; it must never touch the
//! config file.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::event::StaleConfig;

#[derive(Debug)]
pub struct StaleConfigDetector {
    path: PathBuf,
    stale: bool,
    reported: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl StaleConfigDetector {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            stale: false,
            reported: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the config file's mtime and compares it with the backend's last start.
    pub fn check(&mut self, backend_started_at: Option<DateTime<Utc>>) -> Option<StaleConfig> {
        let modified = config_modified_at(&self.path);
        self.observe(modified, backend_started_at)
    }

    /// Reports a change of verdict: stale (config newer than the start), or fresh again after a
    /// restart. Nothing is reported while either time is unknown or the verdict is unchanged.
    pub fn observe(
        &mut self,
        config_modified_at: Option<DateTime<Utc>>,
        backend_started_at: Option<DateTime<Utc>>,
    ) -> Option<StaleConfig> {
        let (modified, started) = (config_modified_at?, backend_started_at?);
        let stale = modified > started;
        let changed = stale != self.stale || (stale && self.reported != Some((modified, started)));
        if !changed {
            return None;
        }
        self.stale = stale;
        self.reported = Some((modified, started));
        let path = self.path.display().to_string();
        let message = if stale {
            format!(
                "the backend is running older configuration — restart it ({path} changed at {}, backend started at {})",
                local(modified),
                local(started)
            )
        } else {
            format!(
                "the backend was restarted at {} and uses the configuration changed at {}",
                local(started),
                local(modified)
            )
        };
        Some(StaleConfig {
            config_path: path,
            config_modified_at: modified,
            backend_started_at: started,
            stale,
            message,
        })
    }
}

/// An instant as this computer's wall clock shows it, for messages.
fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

fn config_modified_at(path: &Path) -> Option<DateTime<Utc>> {
    let mtime = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(mtime.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_any_timestamp;

    fn t(s: &str) -> Option<DateTime<Utc>> {
        parse_any_timestamp(s).map(|t| t.and_utc())
    }

    #[test]
    fn config_changed_after_start_is_stale_until_a_restart() {
        let mut d = StaleConfigDetector::new(".env");
        assert!(d
            .observe(t("2025-10-29 09:00:00"), t("2025-10-29 10:00:00"))
            .is_none());
        let ev = d
            .observe(t("2025-10-29 11:00:00"), t("2025-10-29 10:00:00"))
            .unwrap();
        assert!(ev.stale);
        assert!(ev.message.contains("restart it"));
        // Same verdict, same times: not repeated.
        assert!(d
            .observe(t("2025-10-29 11:00:00"), t("2025-10-29 10:00:00"))
            .is_none());
        let ev = d
            .observe(t("2025-10-29 11:00:00"), t("2025-10-29 11:05:00"))
            .unwrap();
        assert!(!ev.stale);
    }

    #[test]
    fn unknown_start_reports_nothing() {
        let mut d = StaleConfigDetector::new(".env");
        assert!(d.observe(t("2025-10-29 11:00:00"), None).is_none());
    }
}
