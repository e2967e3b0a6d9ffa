//! The audit trail: one JSON object per line in a small file (the app keeps it in its data
//! directory). Records who-did-what for imports, rotations, failed validations and removals.
//!
//! A record never contains a secret, not even masked: the message is written by this crate
//! from names and provider answers (already scrubbed of the values that were sent).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use msgops_audit::{Actor, Via};

use crate::error::{CredentialError, Result};
use crate::provider::CredentialProvider;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export, rename = "CredentialAuditAction")]
pub enum AuditAction {
    Import,
    Rotate,
    ValidationFailed,
    Remove,
    /// The service's API token was created (`msgops serve --create-token`).
    TokenCreate,
    /// A named API token was revoked (`msgops token revoke`).
    TokenRevoke,
    /// A webhook verification key was stored (SendGrid's Event Webhook key).
    WebhookKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export, rename = "CredentialAuditOutcome")]
pub enum AuditOutcome {
    Success,
    Failure,
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CredentialAuditEntry {
    pub timestamp: DateTime<Utc>,
    /// `None` for actions that span providers (an import that found nothing).
    pub provider: Option<CredentialProvider>,
    pub action: AuditAction,
    pub outcome: AuditOutcome,
    pub message: String,
    /// Who did it, from where, through what (the app, the CLI, the API). Absent in entries
    /// written before msgops recorded it.
    #[serde(default)]
    pub actor: Option<Actor>,
}

impl CredentialAuditEntry {
    pub fn now(
        provider: Option<CredentialProvider>,
        action: AuditAction,
        outcome: AuditOutcome,
        message: impl Into<String>,
    ) -> Self {
        Self {
            timestamp: Utc::now(),
            provider,
            action,
            outcome,
            message: message.into(),
            actor: None,
        }
    }
}

/// The audit file. Appends are flushed to disk before `record` returns. It is also the change
/// stamp other msgops processes watch to learn that credentials changed (see
/// `msgops_providers::sync`).
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    /// Recorded in each entry that does not name its own.
    actor: Option<Actor>,
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            actor: None,
        }
    }

    /// The trail every msgops process of the machine writes: `credentials-audit.jsonl` in the
    /// data directory.
    pub fn in_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join("credentials-audit.jsonl"))
    }

    /// The same trail, its entries recorded as done by `actor`.
    pub fn by(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry.
    pub fn record(&self, entry: &CredentialAuditEntry) -> Result<()> {
        let mut entry = entry.clone();
        if entry.actor.is_none() {
            entry.actor.clone_from(&self.actor);
        }
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| CredentialError::io("creating the audit directory", parent, e))?;
        }
        let mut line = serde_json::to_vec(&entry).map_err(|e| {
            CredentialError::io("encoding an audit entry for", &self.path, e.into())
        })?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| CredentialError::io("opening the audit log", &self.path, e))?;
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|e| CredentialError::io("writing the audit log", &self.path, e))
    }

    /// Records and, if the audit file cannot be written, logs a warning instead of failing the
    /// operation that already happened (the keychain change stands either way).
    pub(crate) fn record_or_warn(&self, entry: &CredentialAuditEntry) {
        if let Err(e) = self.record(entry) {
            tracing::warn!(error = %e, "could not write the credentials audit log");
        }
    }

    /// All entries, oldest first. A missing file is an empty trail; a damaged line (e.g. a
    /// crash mid-write) is skipped with a warning.
    pub fn read_all(&self) -> Result<Vec<CredentialAuditEntry>> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(CredentialError::io("opening the audit log", &self.path, e)),
        };
        let mut entries = Vec::new();
        for (index, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
            let line =
                line.map_err(|e| CredentialError::io("reading the audit log", &self.path, e))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice(&line) {
                Ok(entry) => entries.push(entry),
                Err(e) => tracing::warn!(
                    line = index + 1,
                    error = %e,
                    "skipping a damaged line in the credentials audit log"
                ),
            }
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_back_in_order_and_damaged_lines_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::new(dir.path().join("nested/audit.jsonl"));
        assert!(log.read_all().expect("empty").is_empty());
        let first = CredentialAuditEntry::now(
            Some(CredentialProvider::Twilio),
            AuditAction::Rotate,
            AuditOutcome::Success,
            "rotated",
        );
        log.record(&first).expect("record");
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .and_then(|mut f| f.write_all(b"{\"timestamp\": \"broken"))
            .expect("damage");
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .and_then(|mut f| f.write_all(b"\n"))
            .expect("newline");
        let second =
            CredentialAuditEntry::now(None, AuditAction::Import, AuditOutcome::Failure, "x");
        log.record(&second).expect("record");
        assert_eq!(log.read_all().expect("read"), vec![first, second]);
    }
}
