//! Import of the backend's `.env`: preview what is in it, then move the secrets into the
//! keychain and, if asked, rewrite the `.env` without them.
//!
//! Nothing found in the file is lost: unknown and malformed lines are reported with their line
//! numbers and kept in a rewrite; non-secret settings are handed back to the caller for the
//! app's config file. A secret's `.env` line is only removed after the keychain holds exactly
//! that value (read back and compared). Never reports a line's content, only names, line
//! numbers and masked values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use ts_rs::TS;

use crate::audit::{AuditAction, AuditLog, AuditOutcome, CredentialAuditEntry};
use crate::dotenv::{self, LineKind};
use crate::error::{CredentialError, Result};
use crate::mask::mask;
use crate::provider::{CredentialProvider, SecretKind, SettingKind};
use crate::store::{CredentialStore, CredentialStoreExt};

/// How a secret found in the file compares with what the keychain holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum KeychainComparison {
    /// Not in the keychain yet.
    Missing,
    /// The keychain already holds this exact value (importing again changes nothing).
    Identical,
    /// The keychain holds another value; it is kept unless the import replaces existing ones.
    Different,
    /// The keychain could not be asked (see `keychain_error`).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct FoundSecret {
    pub kind: SecretKind,
    pub provider: CredentialProvider,
    pub env_var: String,
    /// The line whose value is used (the last one when the name appears several times).
    pub line: usize,
    pub masked: String,
    pub keychain: KeychainComparison,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct FoundSetting {
    pub kind: SettingKind,
    pub env_var: String,
    pub line: usize,
    /// Settings are not secret and are shown as they are.
    pub value: String,
}

/// A variable name at a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct EnvLineRef {
    pub line: usize,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct DuplicateVariable {
    pub name: String,
    /// Every line that sets it, in order.
    pub lines: Vec<usize>,
    /// The line whose value wins (the last non-blank one, like the backend).
    pub used_line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct MalformedLine {
    pub line: usize,
    /// The variable name when it could be read.
    pub name: Option<String>,
    pub reason: String,
}

/// Non-secret settings found in the `.env`, for the app's config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct ImportedSettings {
    pub aws_region: Option<String>,
    pub twilio_phone_number: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_user: Option<String>,
    pub smtp_from: Option<String>,
}

impl ImportedSettings {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What an import would do, with masked values only. Safe to show, log and serialize.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct ImportPreview {
    pub file: String,
    pub secrets: Vec<FoundSecret>,
    pub settings: Vec<FoundSetting>,
    pub imported_settings: ImportedSettings,
    /// Recognised names with an empty value: not stored.
    pub blank: Vec<EnvLineRef>,
    pub duplicates: Vec<DuplicateVariable>,
    /// `NAME=value` lines msgops does not know: left alone.
    pub unknown: Vec<EnvLineRef>,
    pub malformed: Vec<MalformedLine>,
    /// Set when the keychain could not be asked for the comparison.
    pub keychain_error: Option<String>,
}

/// A preview plus the values needed to apply it. Not serializable: it holds the secrets.
pub struct ImportPlan {
    path: PathBuf,
    original: Vec<u8>,
    pub preview: ImportPreview,
    secrets: BTreeMap<SecretKind, SecretString>,
    /// Every line (number) that holds a non-blank value for a secret, per secret.
    secret_lines: BTreeMap<SecretKind, Vec<usize>>,
    /// The line whose value is used, per secret.
    used_line: BTreeMap<SecretKind, usize>,
}

impl std::fmt::Debug for ImportPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportPlan")
            .field("path", &self.path)
            .field("preview", &self.preview)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ImportPlan {
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }
}

/// Reads and analyses `path`. With a store, each secret is compared with the keychain; a
/// keychain problem does not stop the preview (it is reported in `keychain_error`).
pub fn preview_import(path: &Path, store: Option<&dyn CredentialStore>) -> Result<ImportPlan> {
    let original = std::fs::read(path).map_err(|e| CredentialError::io("reading", path, e))?;
    let mut plan = analyse(path, original);
    if let Some(store) = store {
        compare_with_keychain(&mut plan, store);
    }
    Ok(plan)
}

fn analyse(path: &Path, original: Vec<u8>) -> ImportPlan {
    let mut secrets = BTreeMap::new();
    let mut secret_lines: BTreeMap<SecretKind, Vec<usize>> = BTreeMap::new();
    let mut used_line = BTreeMap::new();
    let mut settings: BTreeMap<SettingKind, FoundSetting> = BTreeMap::new();
    let mut blank = Vec::new();
    let mut unknown = Vec::new();
    let mut malformed = Vec::new();
    let mut seen: BTreeMap<String, Vec<usize>> = BTreeMap::new();

    for line in dotenv::split_lines(&original) {
        let number = line.number;
        let (name, value) = match dotenv::parse_line(line.content) {
            LineKind::Blank | LineKind::Comment => continue,
            LineKind::Malformed { reason } => {
                malformed.push(MalformedLine {
                    line: number,
                    name: None,
                    reason: reason.to_owned(),
                });
                continue;
            }
            LineKind::BadValue { name, reason } => {
                malformed.push(MalformedLine {
                    line: number,
                    name: Some(name),
                    reason: reason.to_owned(),
                });
                continue;
            }
            LineKind::Assignment { name, value } => (name, value),
        };
        let secret = SecretKind::ALL.into_iter().find(|k| k.env_var() == name);
        let setting = SettingKind::from_env_var(&name);
        if secret.is_none() && setting.is_none() {
            unknown.push(EnvLineRef { line: number, name });
            continue;
        }
        seen.entry(name.clone()).or_default().push(number);
        if value.is_empty() {
            blank.push(EnvLineRef { line: number, name });
            continue;
        }
        let Ok(text) = String::from_utf8(value) else {
            malformed.push(MalformedLine {
                line: number,
                name: Some(name),
                reason: "value is not valid UTF-8".into(),
            });
            continue;
        };
        if let Some(kind) = secret {
            secret_lines.entry(kind).or_default().push(number);
            used_line.insert(kind, number);
            secrets.insert(kind, SecretString::from(text));
        } else if let Some(kind) = setting {
            if kind == SettingKind::SmtpPort && text.trim().parse::<u16>().is_err() {
                malformed.push(MalformedLine {
                    line: number,
                    name: Some(name),
                    reason: "SMTP port is not a number from 0 to 65535".into(),
                });
                continue;
            }
            settings.insert(
                kind,
                FoundSetting {
                    kind,
                    env_var: name,
                    line: number,
                    value: text,
                },
            );
        }
    }

    let duplicates = seen
        .into_iter()
        .filter(|(_, lines)| lines.len() > 1)
        .map(|(name, lines)| {
            let used = SecretKind::ALL
                .into_iter()
                .find(|k| k.env_var() == name)
                .and_then(|k| used_line.get(&k).copied())
                .or_else(|| {
                    settings
                        .values()
                        .find(|s| s.env_var == name)
                        .map(|s| s.line)
                })
                .unwrap_or_else(|| lines.last().copied().unwrap_or_default());
            DuplicateVariable {
                name,
                lines,
                used_line: used,
            }
        })
        .collect();

    let mut imported_settings = ImportedSettings::default();
    for s in settings.values() {
        let v = Some(s.value.clone());
        match s.kind {
            SettingKind::AwsRegion => imported_settings.aws_region = v,
            SettingKind::TwilioPhoneNumber => imported_settings.twilio_phone_number = v,
            SettingKind::SmtpHost => imported_settings.smtp_host = v,
            SettingKind::SmtpPort => imported_settings.smtp_port = s.value.trim().parse().ok(),
            SettingKind::SmtpUser => imported_settings.smtp_user = v,
            SettingKind::SmtpFrom => imported_settings.smtp_from = v,
        }
    }

    let found = secrets
        .iter()
        .map(|(kind, value)| FoundSecret {
            kind: *kind,
            provider: kind.provider(),
            env_var: kind.env_var().to_owned(),
            line: used_line.get(kind).copied().unwrap_or_default(),
            masked: mask(value.expose_secret()),
            keychain: KeychainComparison::Unknown,
        })
        .collect();

    ImportPlan {
        path: path.to_owned(),
        preview: ImportPreview {
            file: path.display().to_string(),
            secrets: found,
            settings: settings.into_values().collect(),
            imported_settings,
            blank,
            duplicates,
            unknown,
            malformed,
            keychain_error: None,
        },
        original,
        secrets,
        secret_lines,
        used_line,
    }
}

fn compare(
    store: &dyn CredentialStore,
    kind: SecretKind,
    value: &SecretString,
) -> Result<KeychainComparison> {
    Ok(match store.get_secret(kind)? {
        None => KeychainComparison::Missing,
        Some(current) if current.expose_secret() == value.expose_secret() => {
            KeychainComparison::Identical
        }
        Some(_) => KeychainComparison::Different,
    })
}

fn compare_with_keychain(plan: &mut ImportPlan, store: &dyn CredentialStore) {
    for found in &mut plan.preview.secrets {
        let Some(value) = plan.secrets.get(&found.kind) else {
            continue;
        };
        match compare(store, found.kind, value) {
            Ok(c) => found.keychain = c,
            Err(e) => {
                plan.preview.keychain_error = Some(e.to_string());
                return;
            }
        }
    }
}

/// Choices for [`apply_import`].
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Rewrite the `.env` without the secrets that are now in the keychain.
    pub rewrite: bool,
    /// Replace keychain values that differ from the file's (default: keep the keychain's,
    /// since a `.env` is often the stale copy).
    pub replace_existing: bool,
    /// The date written into the replacement comments.
    pub now: DateTime<Utc>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            rewrite: false,
            replace_existing: false,
            now: Utc::now(),
        }
    }
}

/// What [`apply_import`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct ImportReport {
    /// Written to the keychain now.
    pub stored: Vec<SecretKind>,
    /// Already in the keychain with the same value.
    pub unchanged: Vec<SecretKind>,
    /// Left as the keychain had them because the value differs and replacing was not asked.
    pub kept_existing: Vec<SecretKind>,
    /// True when the `.env` was rewritten.
    pub rewritten: bool,
    /// Lines of the `.env` that were replaced by a comment.
    pub removed_lines: Vec<usize>,
    pub settings: ImportedSettings,
}

/// Stores the plan's secrets in the keychain and optionally rewrites the `.env`.
pub fn apply_import(
    store: &dyn CredentialStore,
    audit: &AuditLog,
    plan: &ImportPlan,
    options: &ImportOptions,
) -> Result<ImportReport> {
    apply_import_with_hook(store, audit, plan, options, &mut |_| Ok(()))
}

/// [`apply_import`] with a step that runs just before the rewritten file replaces the original
/// (tests inject a failure there to show the original survives).
pub fn apply_import_with_hook(
    store: &dyn CredentialStore,
    audit: &AuditLog,
    plan: &ImportPlan,
    options: &ImportOptions,
    before_rename: &mut dyn FnMut(&Path) -> std::io::Result<()>,
) -> Result<ImportReport> {
    let result = apply(store, plan, options, before_rename);
    record(audit, plan, options, &result);
    result
}

fn apply(
    store: &dyn CredentialStore,
    plan: &ImportPlan,
    options: &ImportOptions,
    before_rename: &mut dyn FnMut(&Path) -> std::io::Result<()>,
) -> Result<ImportReport> {
    if options.rewrite {
        let now_bytes =
            std::fs::read(&plan.path).map_err(|e| CredentialError::io("reading", &plan.path, e))?;
        if now_bytes != plan.original {
            return Err(CredentialError::Conflict(format!(
                "{} changed since it was previewed; preview the import again.",
                plan.path.display()
            )));
        }
    }
    let mut report = ImportReport {
        stored: Vec::new(),
        unchanged: Vec::new(),
        kept_existing: Vec::new(),
        rewritten: false,
        removed_lines: Vec::new(),
        settings: plan.preview.imported_settings.clone(),
    };
    for (kind, value) in &plan.secrets {
        match compare(store, *kind, value)? {
            KeychainComparison::Identical => report.unchanged.push(*kind),
            KeychainComparison::Different if !options.replace_existing => {
                report.kept_existing.push(*kind)
            }
            _ => {
                store.set_secret(*kind, value)?;
                if compare(store, *kind, value)? != KeychainComparison::Identical {
                    return Err(CredentialError::KeychainRefused {
                        detail: format!(
                            "{} was written but did not read back the same",
                            kind.account()
                        ),
                    });
                }
                tracing::info!(
                    account = kind.account(),
                    "stored secret from .env in the keychain"
                );
                report.stored.push(*kind);
            }
        }
    }
    if options.rewrite {
        let date = options.now.format("%Y-%m-%d").to_string();
        let mut replace = BTreeMap::new();
        for kind in report.stored.iter().chain(&report.unchanged) {
            let used = plan.used_line.get(kind).copied();
            for line in plan.secret_lines.get(kind).into_iter().flatten() {
                let comment = if Some(*line) == used {
                    format!(
                        "# {} moved to the OS keychain by msgops on {date}",
                        kind.env_var()
                    )
                } else {
                    format!(
                        "# {} (earlier duplicate, not in use) removed by msgops on {date}",
                        kind.env_var()
                    )
                };
                replace.insert(*line, comment.into_bytes());
            }
        }
        if !replace.is_empty() {
            let content = dotenv::rewrite_bytes(&plan.original, &replace);
            dotenv::replace_atomically(&plan.path, &content, before_rename)
                .map_err(|e| CredentialError::io("rewriting", &plan.path, e))?;
            report.rewritten = true;
            report.removed_lines = replace.into_keys().collect();
            tracing::info!(file = %plan.path.display(), lines = ?report.removed_lines, "removed secrets from .env");
        }
    }
    Ok(report)
}

fn record(
    audit: &AuditLog,
    plan: &ImportPlan,
    options: &ImportOptions,
    result: &Result<ImportReport>,
) {
    let file = plan.path.display();
    match result {
        Ok(report) => {
            let mut providers: BTreeMap<CredentialProvider, Vec<String>> = BTreeMap::new();
            for (list, verb) in [
                (&report.stored, "stored"),
                (&report.unchanged, "already stored"),
                (
                    &report.kept_existing,
                    "kept the different keychain value of",
                ),
            ] {
                for kind in list {
                    providers
                        .entry(kind.provider())
                        .or_default()
                        .push(format!("{verb} {}", kind.env_var()));
                }
            }
            if providers.is_empty() {
                audit.record_or_warn(&CredentialAuditEntry::now(
                    None,
                    AuditAction::Import,
                    AuditOutcome::Success,
                    format!("import from {file}: no secrets found"),
                ));
            }
            for (provider, parts) in providers {
                let rewritten = if report.rewritten {
                    "; .env rewritten without them"
                } else {
                    ""
                };
                audit.record_or_warn(&CredentialAuditEntry::now(
                    Some(provider),
                    AuditAction::Import,
                    AuditOutcome::Success,
                    format!("import from {file}: {}{rewritten}", parts.join(", ")),
                ));
            }
        }
        Err(e) => {
            let providers: std::collections::BTreeSet<_> =
                plan.secrets.keys().map(|k| k.provider()).collect();
            let rewrite = if options.rewrite {
                " (with rewrite)"
            } else {
                ""
            };
            let message = format!("import from {file}{rewrite} failed: {e}");
            if providers.is_empty() {
                audit.record_or_warn(&CredentialAuditEntry::now(
                    None,
                    AuditAction::Import,
                    AuditOutcome::Failure,
                    message.clone(),
                ));
            }
            for provider in providers {
                audit.record_or_warn(&CredentialAuditEntry::now(
                    Some(provider),
                    AuditAction::Import,
                    AuditOutcome::Failure,
                    message.clone(),
                ));
            }
        }
    }
}
