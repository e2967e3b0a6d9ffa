//! The part of the configuration an operator edits in the Settings page, as one value the
//! window can hold in a form: followed logs, code lifetime, custom code patterns, and each
//! provider's breaker threshold, cool-down, rate limit and cost.
//!
//! [`check`] says what is wrong with a draft, field by field, so the form can show it as the
//! operator types; [`Settings::apply_to`] writes a draft into a [`Config`] only when nothing
//! blocks it. Everything else in the configuration file is left as it is.

pub mod env_import;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use msgops_core::config::{self, Config, ProviderDefaults, ProviderPolicy, EMAIL_CHAIN, SMS_CHAIN};
use msgops_core::{Channel, ProviderKind};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Settings {
    pub logs: LogSettings,
    /// The SMS chain then the email chain, each in priority order.
    pub providers: Vec<ProviderSettings>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct LogSettings {
    /// Absolute paths of backend logs to follow.
    pub follow: Vec<String>,
    #[ts(type = "number")]
    pub code_lifetime_secs: u64,
    /// Regexes with a named group `code` (and optionally `recipient`, `ts`, `corr`), or
    /// `recipient` without `code` for a request's announcement.
    pub patterns: Vec<String>,
    /// `auto`, `local`, `UTC` or an IANA name like `America/Toronto`.
    pub timezone: String,
    #[ts(type = "number")]
    pub code_length: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ProviderSettings {
    pub id: ProviderKind,
    /// Shown only; ignored when saving.
    pub display_name: String,
    /// Shown only; ignored when saving.
    pub channel: Channel,
    /// Consecutive failures that open the breaker; 0 means it never opens.
    pub failure_threshold: u32,
    /// How long the breaker stays OPEN before a trial call.
    #[ts(type = "number")]
    pub open_secs: u64,
    /// Messages per second; 0 means unlimited.
    pub rate_per_second: f64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Severity {
    /// Blocks saving.
    Error,
    /// Worth knowing; saving goes ahead.
    Warning,
}

/// What is wrong with one field of a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SettingsProblem {
    /// `logs.follow.0`, `logs.code_lifetime_secs`, `logs.patterns.1`,
    /// `providers.twilio.failure_threshold`, ...
    pub field: String,
    pub severity: Severity,
    pub message: String,
}

/// A saved draft: the settings now in force and the warnings that did not block saving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SavedSettings {
    pub settings: Settings,
    pub warnings: Vec<SettingsProblem>,
}

fn chains() -> impl Iterator<Item = &'static ProviderDefaults> {
    SMS_CHAIN.iter().chain(EMAIL_CHAIN.iter())
}

impl ProviderSettings {
    /// The draft as the configuration stores it: values equal to the provider's default are
    /// left unset, so a later change of defaults reaches them.
    fn policy(&self, d: &ProviderDefaults, enabled: Option<bool>) -> ProviderPolicy {
        ProviderPolicy {
            enabled,
            failure_threshold: (self.failure_threshold != d.failure_threshold)
                .then_some(self.failure_threshold),
            open_secs: (self.open_secs != d.open_secs).then_some(self.open_secs),
            rate_per_second: (self.rate_per_second != d.rate_per_second)
                .then_some(self.rate_per_second),
            cost_usd: (self.cost_usd != d.cost_usd).then_some(self.cost_usd),
        }
    }
}

impl Settings {
    /// The settings in force in `config`, every default filled in.
    pub fn of(config: &Config) -> Self {
        let providers = chains()
            .map(|d| {
                let p = config.policy(d.id);
                ProviderSettings {
                    id: d.id,
                    display_name: d.id.display_name().into(),
                    channel: d.id.channel(),
                    failure_threshold: p.failure_threshold.unwrap_or(d.failure_threshold),
                    open_secs: p.open_secs.unwrap_or(d.open_secs),
                    rate_per_second: p.rate_per_second.unwrap_or(d.rate_per_second),
                    cost_usd: p.cost_usd.unwrap_or(d.cost_usd),
                }
            })
            .collect();
        Self {
            logs: LogSettings {
                follow: config
                    .logs
                    .follow
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                code_lifetime_secs: config.logs.code_lifetime_secs,
                patterns: config.logs.patterns.clone(),
                timezone: config.logs.timezone.clone(),
                code_length: config.logs.code_length,
            },
            providers,
        }
    }

    /// Writes the draft into `config` when [`check`] finds no error; returns the problems
    /// otherwise and leaves `config` untouched. Values equal to a provider's default are
    /// stored as "default", so a later change of defaults reaches them.
    pub fn apply_to(
        &self,
        config: &mut Config,
    ) -> Result<Vec<SettingsProblem>, Vec<SettingsProblem>> {
        let problems = check(self);
        if problems.iter().any(|p| p.severity == Severity::Error) {
            return Err(problems);
        }
        config.logs.follow = self
            .logs
            .follow
            .iter()
            .map(|f| PathBuf::from(f.trim()))
            .collect();
        config.logs.code_lifetime_secs = self.logs.code_lifetime_secs;
        config.logs.patterns = self.logs.patterns.clone();
        config.logs.timezone = self.logs.timezone.trim().to_owned();
        config.logs.code_length = self.logs.code_length;
        for s in &self.providers {
            let d = config::defaults(s.id);
            let p = config.policy_mut(s.id);
            *p = s.policy(d, p.enabled);
        }
        Ok(problems)
    }
}

/// Every problem in a draft, errors first. No error means it can be saved.
pub fn check(settings: &Settings) -> Vec<SettingsProblem> {
    let mut out = Vec::new();
    let mut error = |field: String, message: String| {
        out.push(SettingsProblem {
            field,
            severity: Severity::Error,
            message,
        })
    };
    let mut warnings = Vec::new();

    let mut seen = HashSet::new();
    for (i, file) in settings.logs.follow.iter().enumerate() {
        let field = format!("logs.follow.{i}");
        let path = Path::new(file.trim());
        if file.trim().is_empty() {
            error(
                field,
                "enter the path of a log file, or remove the row".into(),
            );
        } else if !path.is_absolute() {
            error(
                field,
                format!("`{file}` is relative: give the full path, like /var/log/app/backend.log"),
            );
        } else if !seen.insert(path.to_path_buf()) {
            error(field, format!("`{file}` is listed twice"));
        } else if path.is_dir() {
            error(field, format!("`{file}` is a directory, not a log file"));
        } else if !path.exists() {
            let parent = path.parent().filter(|p| p.is_dir());
            warnings.push(SettingsProblem {
                field,
                severity: Severity::Warning,
                message: match parent {
                    Some(_) => "does not exist yet: msgops will read it from its first line once it appears".into(),
                    None => "neither the file nor its directory exists: check the path".into(),
                },
            });
        }
    }
    // The same rules as the configuration file's.
    if let Err(message) = config::check_code_lifetime(settings.logs.code_lifetime_secs) {
        error("logs.code_lifetime_secs".into(), message);
    }
    if let Err(e) = settings
        .logs
        .timezone
        .parse::<msgops_logwatch::ZoneSetting>()
    {
        error("logs.timezone".into(), e.to_string());
    }
    if let Err(message) = config::check_code_length(settings.logs.code_length) {
        error("logs.code_length".into(), message);
    }
    for (i, pattern) in settings.logs.patterns.iter().enumerate() {
        if let Err(e) = msgops_logwatch::CodePattern::new(pattern) {
            error(format!("logs.patterns.{i}"), e.to_string());
        }
    }

    // The same rules as the configuration file's, every problem of each provider.
    for p in &settings.providers {
        for (name, message) in p
            .policy(config::defaults(p.id), None)
            .problems(config::defaults(p.id))
        {
            error(format!("providers.{}.{name}", p.id), message);
        }
    }
    out.extend(warnings);
    out
}
