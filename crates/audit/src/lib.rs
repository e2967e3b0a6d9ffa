//! The operations audit trail: every control an on-call engineer uses (reset a breaker, start a
//! trial, probe a provider, switch one off or on), with who did it, from where (the app, the
//! CLI, the API) and when, one JSON object per line in `operations.jsonl` in the data
//! directory. Every msgops process on the machine appends to the same file.
//!
//! An entry never holds a secret: it is written from names, states and the provider's words,
//! which the providers have already scrubbed.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use msgops_provider_kind::ProviderKind;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Which msgops surface an action came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Via {
    App,
    Cli,
    Api,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::App => "app",
            Via::Cli => "cli",
            Via::Api => "api",
        }
    }
}

/// Who did something, and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Actor {
    pub via: Via,
    /// The OS user of the process that acted (the app's, the CLI's), or for the API what the
    /// caller declared (`X-Msgops-Actor`), if anything.
    pub user: Option<String>,
    /// The machine it acted from: this host for the app and CLI, the client's address for the
    /// API.
    pub host: String,
}

impl Actor {
    /// This process's user on this host.
    pub fn local(via: Via) -> Self {
        Self {
            via,
            user: local_user(),
            host: local_host(),
        }
    }

    /// A caller of the API, from `client` (its address), and what it says of itself.
    pub fn api(client: impl Into<String>, declared: Option<String>) -> Self {
        Self {
            via: Via::Api,
            user: declared
                .map(|d| d.chars().filter(|c| !c.is_control()).take(120).collect())
                .filter(|d: &String| !d.trim().is_empty()),
            host: client.into(),
        }
    }

    /// `ops@laptop (cli)`, `127.0.0.1:50412 (api)`.
    pub fn describe(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{} ({})", self.host, self.via.as_str()),
            None => format!("{} ({})", self.host, self.via.as_str()),
        }
    }

    /// What the CLI tells the API it is, for the API's audit entry: `cli ops@laptop`.
    pub fn declaration(&self) -> String {
        match &self.user {
            Some(user) => format!("{} {user}@{}", self.via.as_str(), self.host),
            None => format!("{} {}", self.via.as_str(), self.host),
        }
    }
}

fn local_user() -> Option<String> {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
}

fn local_host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// What was done to a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Operation {
    /// The breaker was closed at once, its failures forgotten.
    BreakerReset,
    /// The breaker's cool-down was ended: the next call is the trial.
    BreakerTrial,
    /// The provider's health probe was run.
    Probe,
    Enable,
    Disable,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::BreakerReset => "breaker reset",
            Operation::BreakerTrial => "breaker trial",
            Operation::Probe => "probe",
            Operation::Enable => "enable",
            Operation::Disable => "disable",
        }
    }
}

/// One line of the operations audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct OperationEntry {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub operation: Operation,
    pub provider: ProviderKind,
    /// Whether it did what was asked (a probe that failed, a reset of an unknown provider: no).
    pub ok: bool,
    /// What happened: "OPEN → CLOSED", "probe failed: authentication failed: ...".
    pub detail: String,
}

impl OperationEntry {
    pub fn now(
        actor: Actor,
        operation: Operation,
        provider: ProviderKind,
        ok: bool,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            at: Utc::now(),
            actor,
            operation,
            provider,
            ok,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot {doing} the operations audit trail {path}: {message}")]
pub struct AuditError {
    doing: &'static str,
    path: String,
    message: String,
}

/// The operations audit file. Each entry is one `write` of one line to a file opened for
/// appending, so entries of several processes never interleave.
#[derive(Debug, Clone)]
pub struct OperationsLog {
    path: PathBuf,
}

impl OperationsLog {
    /// `operations.jsonl` in `data_dir`.
    pub fn in_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join("operations.jsonl"))
    }

    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, doing: &'static str, e: impl std::fmt::Display) -> AuditError {
        AuditError {
            doing,
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// Appends one entry and flushes it to disk.
    pub fn record(&self, entry: &OperationEntry) -> Result<(), AuditError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.error("write", e))?;
        }
        let mut line = serde_json::to_vec(entry).map_err(|e| self.error("write", e))?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.error("write", e))?;
        file.write_all(&line).map_err(|e| self.error("write", e))?;
        file.sync_data().map_err(|e| self.error("write", e))
    }

    /// The newest `limit` entries, newest first. A missing file is an empty trail; a line that
    /// cannot be read (a half-written last line) is left out.
    pub fn recent(&self, limit: usize) -> Result<Vec<OperationEntry>, AuditError> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error("read", e)),
        };
        let mut entries: Vec<OperationEntry> = BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect();
        entries.reverse();
        entries.truncate(limit);
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_several_writers_come_back_newest_first_and_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = OperationsLog::in_dir(dir.path());
        assert!(log.recent(10).expect("empty").is_empty());
        std::thread::scope(|s| {
            for via in [Via::App, Via::Cli, Via::Api] {
                let log = log.clone();
                s.spawn(move || {
                    for i in 0..50 {
                        let entry = OperationEntry::now(
                            Actor::local(via),
                            Operation::BreakerReset,
                            ProviderKind::Twilio,
                            true,
                            format!("OPEN → CLOSED ({i})"),
                        );
                        log.record(&entry).expect("recorded");
                    }
                });
            }
        });
        let all = log.recent(1000).expect("read");
        assert_eq!(all.len(), 150);
        // Newest first: each writer's own entries come back last one first.
        for via in [Via::App, Via::Cli, Via::Api] {
            let mine: Vec<&str> = all
                .iter()
                .filter(|e| e.actor.via == via)
                .map(|e| e.detail.as_str())
                .collect();
            assert_eq!(mine.len(), 50);
            assert_eq!(mine[0], "OPEN → CLOSED (49)");
            assert_eq!(mine[49], "OPEN → CLOSED (0)");
        }
        assert_eq!(log.recent(3).expect("read").len(), 3);
        let text = std::fs::read_to_string(log.path()).expect("file");
        assert_eq!(text.lines().count(), 150);
    }

    #[test]
    fn actors_say_who_and_from_where() {
        let api = Actor::api("127.0.0.1:50412", Some("cli ops@laptop\u{7}".into()));
        assert_eq!(api.describe(), "cli ops@laptop@127.0.0.1:50412 (api)");
        let anonymous = Actor::api("10.0.0.5:1", Some("   ".into()));
        assert_eq!(anonymous.describe(), "10.0.0.5:1 (api)");
        let cli = Actor {
            via: Via::Cli,
            user: Some("ops".into()),
            host: "laptop".into(),
        };
        assert_eq!(cli.describe(), "ops@laptop (cli)");
        assert_eq!(cli.declaration(), "cli ops@laptop");
        assert!(!Actor::local(Via::App).host.is_empty());
    }
}
