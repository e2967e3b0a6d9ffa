//! Import of the backend's `.env`: preview what is in it, then move the secrets into the
//! keychain, save the settings to the configuration and, if asked, rewrite the `.env` without
//! the secrets.
//!
//! The file is read as python-dotenv reads it ([`crate::dotenv`]), `${VAR}` expansion
//! included. A value that takes a variable from outside the file (python-dotenv would read it
//! from the backend's environment, which msgops cannot see) is flagged in the preview and not
//! imported: never stored as the literal `${VAR}` text, never guessed.
//!
//! An import is all or nothing. Everything that can be checked is checked before anything is
//! written: the file is as previewed, the configuration accepts the settings, the keychain
//! answers, the directory of the `.env` takes the new file (written and synced there with the
//! old one's owner, group and mode). Then, in this order: the keychain values (each read back
//! and compared), the settings, the rename of the new `.env` over the old one. When a write
//! fails, what was written before it is put back, and the error says what state everything is
//! in; a retry then does the whole job. Once the new `.env` is in place nothing is undone: the
//! keychain is then the only copy of the secrets.
//!
//! Nothing found in the file is lost: unknown and malformed lines are reported with their line
//! numbers and kept in a rewrite. Never reports a line's content, only names, line numbers
//! and masked values.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use ts_rs::TS;

use crate::audit::{AuditAction, AuditLog, AuditOutcome, CredentialAuditEntry};
use crate::dotenv::{self, Entry};
use crate::error::{CredentialError, Result};
use crate::mask::mask;
use crate::provider::{CredentialProvider, SecretKind, SettingKind};
use crate::rotate::{with_state, KeychainChanges};
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

/// A value written with `${VAR}` or `${VAR:-default}`, expanded as python-dotenv does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct ExpandedValue {
    pub line: usize,
    pub name: String,
    /// Variables set earlier in the file that the value uses. Their lines stay in the file.
    pub from_file: Vec<EnvLineRef>,
    /// Variables not set earlier in the file: python-dotenv takes them from the environment of
    /// the backend, which msgops cannot see. A secret or setting that uses one is not imported.
    pub from_environment: Vec<String>,
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
    /// Secrets and settings written with `${...}`, and any line that uses a secret that way.
    /// Always present in what msgops sends.
    #[ts(optional)]
    pub expanded: Option<Vec<ExpandedValue>>,
}

/// A preview plus the values needed to apply it. Not serializable: it holds the secrets.
#[derive(Clone)]
pub struct ImportPlan {
    path: PathBuf,
    original: Vec<u8>,
    pub preview: ImportPreview,
    secrets: BTreeMap<SecretKind, SecretString>,
    /// Every statement (first and last physical line) that holds a non-blank value for a
    /// secret, per secret.
    secret_lines: BTreeMap<SecretKind, Vec<(usize, usize)>>,
    /// The line whose value is used, per secret.
    used_line: BTreeMap<SecretKind, usize>,
    /// Secrets that other lines of the file use as `${NAME}`: their lines stay in a rewrite,
    /// or those lines would change meaning for the backend.
    used_by_other_lines: BTreeMap<SecretKind, Vec<usize>>,
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

fn malformed(line: usize, name: Option<String>, reason: &str) -> MalformedLine {
    MalformedLine {
        line,
        name,
        reason: reason.to_owned(),
    }
}

fn analyse(path: &Path, original: Vec<u8>) -> ImportPlan {
    let mut secrets = BTreeMap::new();
    let mut secret_lines: BTreeMap<SecretKind, Vec<(usize, usize)>> = BTreeMap::new();
    let mut used_line = BTreeMap::new();
    let mut settings: BTreeMap<SettingKind, FoundSetting> = BTreeMap::new();
    let mut blank = Vec::new();
    let mut unknown = Vec::new();
    let mut malformed_lines = Vec::new();
    let mut expanded = Vec::new();
    let mut used_by_other_lines: BTreeMap<SecretKind, Vec<usize>> = BTreeMap::new();
    let mut seen: BTreeMap<String, Vec<usize>> = BTreeMap::new();

    let entries = dotenv::parse(&original);
    // Only the file itself: msgops does not know the backend's environment, so whatever
    // python-dotenv would take from there is flagged (`from_environment`), not resolved.
    let mut resolved = dotenv::resolve(&entries, &|_| None).into_iter();
    let physical = dotenv::split_lines(&original);
    let is_utf8 = |first: usize, last: usize| {
        (first..=last).all(|n| {
            n.checked_sub(1)
                .and_then(|i| physical.get(i))
                .is_none_or(|l| std::str::from_utf8(l.content).is_ok())
        })
    };

    for entry in &entries {
        let a = match entry {
            Entry::Invalid {
                name,
                reason,
                first_line,
                ..
            } => {
                malformed_lines.push(malformed(*first_line, name.clone(), reason));
                continue;
            }
            Entry::Assignment(a) => a,
        };
        let Some(r) = resolved.next() else {
            break;
        };
        let number = a.first_line;
        let name = a.name.clone();
        let utf8 = is_utf8(a.first_line, a.last_line);
        if !utf8 && name.contains('\u{fffd}') {
            malformed_lines.push(malformed(number, None, "the name is not valid UTF-8"));
            continue;
        }
        let secret = SecretKind::ALL.into_iter().find(|k| k.env_var() == name);
        let setting = SettingKind::from_env_var(&name);
        let refs: Vec<EnvLineRef> = r
            .from_file
            .iter()
            .map(|(name, line)| EnvLineRef {
                line: *line,
                name: name.clone(),
            })
            .collect();
        let uses_secret: Vec<SecretKind> = SecretKind::ALL
            .into_iter()
            .filter(|k| r.from_file.contains_key(k.env_var()) && Some(*k) != secret)
            .collect();
        for kind in &uses_secret {
            used_by_other_lines.entry(*kind).or_default().push(number);
        }
        let recognised = secret.is_some() || setting.is_some();
        if (recognised && !(refs.is_empty() && r.from_environment.is_empty()))
            || !uses_secret.is_empty()
        {
            expanded.push(ExpandedValue {
                line: number,
                name: name.clone(),
                from_file: refs,
                from_environment: r.from_environment.iter().cloned().collect(),
            });
        }
        if !recognised {
            unknown.push(EnvLineRef { line: number, name });
            continue;
        }
        seen.entry(name.clone()).or_default().push(number);
        if !utf8 {
            malformed_lines.push(malformed(number, Some(name), "value is not valid UTF-8"));
            continue;
        }
        if !r.from_environment.is_empty() {
            // This is the value in force for the backend, but msgops cannot know it: an
            // earlier line's value must not be imported in its place either.
            if let Some(kind) = secret {
                secrets.remove(&kind);
                used_line.remove(&kind);
            }
            if let Some(kind) = setting {
                settings.remove(&kind);
            }
            continue;
        }
        let text = r.value.unwrap_or_default();
        if text.is_empty() {
            blank.push(EnvLineRef { line: number, name });
            continue;
        }
        if let Some(kind) = secret {
            secret_lines
                .entry(kind)
                .or_default()
                .push((a.first_line, a.last_line));
            used_line.insert(kind, number);
            secrets.insert(kind, SecretString::from(text));
        } else if let Some(kind) = setting {
            if kind == SettingKind::SmtpPort && text.trim().parse::<u16>().is_err() {
                malformed_lines.push(malformed(
                    number,
                    Some(name),
                    "SMTP port is not a number from 0 to 65535",
                ));
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
            malformed: malformed_lines,
            keychain_error: None,
            expanded: Some(expanded),
        },
        original,
        secrets,
        secret_lines,
        used_line,
        used_by_other_lines,
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

/// Why the settings of an import could not go where they belong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    /// The configuration refuses a value (e.g. a `TWILIO_PHONE_NUMBER` that is not E.164).
    Invalid {
        /// The setting at fault, when known.
        setting: Option<SettingKind>,
        message: String,
    },
    /// The configuration could not be written.
    Unwritable { path: PathBuf, message: String },
}

/// Where an import puts the non-secret settings it found: the app's configuration. Called
/// only when there are settings: [`check`](Self::check) before anything is written,
/// [`save`](Self::save) once the keychain holds the secrets, [`restore`](Self::restore) when
/// the rewrite of the `.env` fails after a successful save.
pub trait SettingsTarget {
    /// Whether the configuration would accept `settings`; writes nothing.
    fn check(&mut self, settings: &ImportedSettings) -> std::result::Result<(), SettingsError>;
    /// Writes them into the configuration.
    fn save(&mut self, settings: &ImportedSettings) -> std::result::Result<(), SettingsError>;
    /// Puts back the configuration [`save`](Self::save) replaced.
    fn restore(&mut self) -> std::result::Result<(), String>;
}

/// Settings are only reported back in [`ImportReport::settings`], not saved anywhere.
#[derive(Debug, Default)]
pub struct SettingsReportedOnly;

impl SettingsTarget for SettingsReportedOnly {
    fn check(&mut self, _: &ImportedSettings) -> std::result::Result<(), SettingsError> {
        Ok(())
    }
    fn save(&mut self, _: &ImportedSettings) -> std::result::Result<(), SettingsError> {
        Ok(())
    }
    fn restore(&mut self) -> std::result::Result<(), String> {
        Ok(())
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
    /// What the rewrite could not do as asked: the owner or group the file could not keep,
    /// secrets left in the file because other lines use them as `${NAME}`.
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite_warning: Option<String>,
}

/// Stores the plan's secrets in the keychain and optionally rewrites the `.env`. The settings
/// are only reported (see [`apply_import_with_settings`]).
pub fn apply_import(
    store: &dyn CredentialStore,
    audit: &AuditLog,
    plan: &ImportPlan,
    options: &ImportOptions,
) -> Result<ImportReport> {
    apply_import_with_settings(store, audit, plan, options, &mut SettingsReportedOnly)
}

/// [`apply_import`] that also saves the settings through `settings`, as one job with the
/// keychain and the rewrite.
pub fn apply_import_with_settings(
    store: &dyn CredentialStore,
    audit: &AuditLog,
    plan: &ImportPlan,
    options: &ImportOptions,
    settings: &mut dyn SettingsTarget,
) -> Result<ImportReport> {
    apply_import_steps(store, audit, plan, options, settings, &mut |_| Ok(()))
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
    apply_import_steps(
        store,
        audit,
        plan,
        options,
        &mut SettingsReportedOnly,
        before_rename,
    )
}

/// The whole import: settings through `settings`, `before_rename` just before the new `.env`
/// replaces the old one. Audited either way.
pub fn apply_import_steps(
    store: &dyn CredentialStore,
    audit: &AuditLog,
    plan: &ImportPlan,
    options: &ImportOptions,
    settings: &mut dyn SettingsTarget,
    before_rename: &mut dyn FnMut(&Path) -> std::io::Result<()>,
) -> Result<ImportReport> {
    let result = apply(store, plan, options, settings, before_rename);
    record(audit, plan, options, &result);
    result
}

fn settings_error(plan: &ImportPlan, error: SettingsError, state: &str) -> CredentialError {
    match error {
        SettingsError::Invalid { setting, message } => {
            let at = setting
                .and_then(|k| plan.preview.settings.iter().find(|s| s.kind == k))
                .map(|s| {
                    format!(
                        "{} on line {} of {}: ",
                        s.env_var,
                        s.line,
                        plan.path.display()
                    )
                })
                .unwrap_or_else(|| format!("A setting of {}: ", plan.path.display()));
            with_state(
                CredentialError::Validation(format!(
                    "{at}{message}; fix it in the file, preview and import again."
                )),
                state,
            )
        }
        SettingsError::Unwritable { path, message } => with_state(
            CredentialError::io(
                "saving the settings from the .env to",
                &path,
                std::io::Error::other(message),
            ),
            state,
        ),
    }
}

/// The lines a rewrite replaces: the statement in use becomes a comment, earlier duplicates
/// too, and the further lines of a multi-line value go.
fn rewrite_lines(
    plan: &ImportPlan,
    kinds: &BTreeSet<SecretKind>,
    date: &str,
) -> BTreeMap<usize, Option<Vec<u8>>> {
    let mut replace = BTreeMap::new();
    for kind in kinds {
        let used = plan.used_line.get(kind).copied();
        for &(first, last) in plan.secret_lines.get(kind).into_iter().flatten() {
            let comment = if Some(first) == used {
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
            replace.insert(first, Some(comment.into_bytes()));
            for line in first + 1..=last {
                replace.insert(line, None);
            }
        }
    }
    replace
}

fn apply(
    store: &dyn CredentialStore,
    plan: &ImportPlan,
    options: &ImportOptions,
    settings: &mut dyn SettingsTarget,
    before_rename: &mut dyn FnMut(&Path) -> std::io::Result<()>,
) -> Result<ImportReport> {
    let file = plan.path.display().to_string();
    let untouched =
        format!("nothing was changed: the keychain, the configuration and {file} are as they were");

    // 1. Every check, before anything is written.
    // (A read-only store's error already says that nothing was changed.)
    store.check_writable()?;
    if options.rewrite {
        let now_bytes =
            std::fs::read(&plan.path).map_err(|e| CredentialError::io("reading", &plan.path, e))?;
        if now_bytes != plan.original {
            return Err(CredentialError::Conflict(format!(
                "{file} changed since it was previewed; preview the import again. Nothing was changed."
            )));
        }
    }
    let found_settings = &plan.preview.imported_settings;
    if !found_settings.is_empty() {
        settings
            .check(found_settings)
            .map_err(|e| settings_error(plan, e, &untouched))?;
    }
    let mut report = ImportReport {
        stored: Vec::new(),
        unchanged: Vec::new(),
        kept_existing: Vec::new(),
        rewritten: false,
        removed_lines: Vec::new(),
        settings: found_settings.clone(),
        rewrite_warning: None,
    };
    let mut to_write = Vec::new();
    for (kind, value) in &plan.secrets {
        let current = store
            .get_secret(*kind)
            .map_err(|e| with_state(e, &untouched))?;
        match current {
            Some(c) if c.expose_secret() == value.expose_secret() => report.unchanged.push(*kind),
            Some(_) if !options.replace_existing => report.kept_existing.push(*kind),
            previous => to_write.push((*kind, value, previous)),
        }
    }
    let mut warnings = Vec::new();
    let mut prepared = None;
    if options.rewrite {
        let (kept, removable): (BTreeSet<SecretKind>, BTreeSet<SecretKind>) = to_write
            .iter()
            .map(|(kind, _, _)| *kind)
            .chain(report.unchanged.iter().copied())
            .partition(|kind| plan.used_by_other_lines.contains_key(kind));
        for kind in &kept {
            let lines: Vec<String> = plan.used_by_other_lines[kind]
                .iter()
                .map(ToString::to_string)
                .collect();
            warnings.push(format!(
                "{} stays in {file}: line {} uses it as ${{{}}}",
                kind.env_var(),
                lines.join(", "),
                kind.env_var()
            ));
        }
        let date = options.now.format("%Y-%m-%d").to_string();
        let replace = rewrite_lines(plan, &removable, &date);
        if !replace.is_empty() {
            let content = dotenv::rewrite_bytes(&plan.original, &replace);
            let replacement = dotenv::prepare_replacement(&plan.path, &content).map_err(|e| {
                with_state(
                    CredentialError::io("preparing the rewrite of", &plan.path, e),
                    &untouched,
                )
            })?;
            if let Some(w) = replacement.warning() {
                warnings.push(w.to_owned());
            }
            prepared = Some((replacement, replace.into_keys().collect::<Vec<_>>()));
        }
    }

    // 2. The keychain, as one change (one new version per provider in a versioned store),
    // each value read back; a failure puts back what was written.
    let mut changes = KeychainChanges::new(store);
    let stored: Vec<SecretKind> = to_write.iter().map(|(kind, _, _)| *kind).collect();
    if let Err((kind, e)) = changes.write_all(to_write) {
        let undone = changes.undo();
        return Err(with_state(
            e,
            &format!(
                "the import stopped at {}: {undone}; the configuration and {file} are unchanged",
                kind.env_var()
            ),
        ));
    }
    for kind in stored {
        tracing::info!(
            account = kind.account(),
            "stored secret from .env in the keychain"
        );
        report.stored.push(kind);
    }

    // 3. The settings.
    let mut settings_saved = false;
    if !found_settings.is_empty() {
        if let Err(e) = settings.save(found_settings) {
            let undone = changes.undo();
            return Err(settings_error(
                plan,
                e,
                &format!("the configuration is unchanged, {undone}, and {file} is unchanged"),
            ));
        }
        settings_saved = true;
    }

    // 4. The new `.env` replaces the old one: the last step, never undone once done.
    if let Some((replacement, lines)) = prepared {
        match replacement.commit(before_rename) {
            Ok(warning) => {
                report.rewritten = true;
                report.removed_lines = lines;
                warnings.extend(warning);
                tracing::info!(file = %plan.path.display(), lines = ?report.removed_lines, "removed secrets from .env");
            }
            Err(e) => {
                let configuration = if settings_saved {
                    match settings.restore() {
                        Ok(()) => "the configuration was put back".to_owned(),
                        Err(m) => format!(
                            "the configuration could not be put back ({m}) and holds the settings from the .env"
                        ),
                    }
                } else {
                    "the configuration is unchanged".to_owned()
                };
                let undone = changes.undo();
                return Err(with_state(
                    CredentialError::io("rewriting", &plan.path, e),
                    &format!("{file} is unchanged, {configuration}, and {undone}"),
                ));
            }
        }
    }
    if !warnings.is_empty() {
        report.rewrite_warning = Some(warnings.join("; "));
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
            let warning = report
                .rewrite_warning
                .as_deref()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
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
                    format!(
                        "import from {file}: {}{rewritten}{warning}",
                        parts.join(", ")
                    ),
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
