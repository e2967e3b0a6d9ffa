use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use msgops_core::chain::SendRecord;

use crate::query::{HistoryFilter, HistoryPage};
use crate::summary::HistorySummary;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot write the send history {path}: {message}")]
    Write { path: String, message: String },
    #[error("cannot read the send history {path}: {message}")]
    Read { path: String, message: String },
}

struct Inner {
    records: VecDeque<SendRecord>,
    /// Open for appending; `None` after a write error until the next successful reopen.
    file: Option<File>,
}

/// Sends, oldest first, in memory and in a JSON-lines file.
pub struct SendHistory {
    path: PathBuf,
    cap: usize,
    inner: Mutex<Inner>,
}

/// Records kept by default: months of a busy backend's test and fallback traffic.
pub const DEFAULT_CAP: usize = 50_000;

impl SendHistory {
    /// Loads `path` (a missing file is an empty history). Returns the store and one message per
    /// line that could not be read; those lines are left out, nothing else is lost.
    pub fn open(path: impl Into<PathBuf>, cap: usize) -> (Self, Vec<String>) {
        let path = path.into();
        let cap = cap.max(1);
        let mut problems = Vec::new();
        let mut records = VecDeque::new();
        let mut lines = 0usize;
        match File::open(&path) {
            Ok(file) => {
                for (no, line) in BufReader::new(file).lines().enumerate() {
                    let line = match line {
                        Ok(l) => l,
                        Err(e) => {
                            problems.push(format!("{}: line {}: {e}", path.display(), no + 1));
                            break;
                        }
                    };
                    lines += 1;
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<SendRecord>(&line) {
                        Ok(r) => {
                            if records.len() == cap {
                                records.pop_front();
                            }
                            records.push_back(r);
                        }
                        Err(e) => problems.push(format!(
                            "{}: line {} is not a send record ({e}); skipped",
                            path.display(),
                            no + 1
                        )),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(
                HistoryError::Read {
                    path: path.display().to_string(),
                    message: e.to_string(),
                }
                .to_string(),
            ),
        }
        // Past twice the cap the file is rewritten with what is kept, so it cannot grow forever.
        if lines > cap.saturating_mul(2) && problems.is_empty() {
            if let Err(e) = rewrite(&path, &records) {
                problems.push(e.to_string());
            }
        }
        let file = open_append(&path)
            .map_err(|e| problems.push(e.to_string()))
            .ok();
        (
            Self {
                path,
                cap,
                inner: Mutex::new(Inner { records, file }),
            },
            problems,
        )
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a finished send. It is kept in memory even when the file cannot be written; the
    /// error says so.
    pub fn record(&self, record: &SendRecord) -> Result<(), HistoryError> {
        let mut inner = self.lock();
        if inner.records.len() == self.cap {
            inner.records.pop_front();
        }
        inner.records.push_back(record.clone());
        let write_error = |e: &dyn std::fmt::Display| HistoryError::Write {
            path: self.path.display().to_string(),
            message: e.to_string(),
        };
        if inner.file.is_none() {
            inner.file = Some(open_append(&self.path)?);
        }
        let mut line = serde_json::to_string(record).map_err(|e| write_error(&e))?;
        line.push('\n');
        let result = inner
            .file
            .as_mut()
            .map_or(Ok(()), |f| f.write_all(line.as_bytes()));
        if let Err(e) = result {
            inner.file = None;
            return Err(write_error(&e));
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends matching `filter`, newest first, one page of them.
    pub fn query(&self, filter: &HistoryFilter) -> HistoryPage {
        filter.apply(self.lock().records.iter().rev())
    }

    /// Cost per provider per day and failover counts over the last `days` days up to `now`.
    pub fn summary(&self, days: u32, now: chrono::DateTime<chrono::Utc>) -> HistorySummary {
        HistorySummary::of(self.lock().records.iter(), days, now)
    }
}

fn open_append(path: &Path) -> Result<File, HistoryError> {
    let error = |e: std::io::Error| HistoryError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(error)
}

/// Replaces the file with `records`, atomically (temp file + rename).
fn rewrite(path: &Path, records: &VecDeque<SendRecord>) -> Result<(), HistoryError> {
    let error = |e: &dyn std::fmt::Display| HistoryError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let tmp = path.with_extension("jsonl.tmp");
    let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(|e| error(&e))?);
    for r in records {
        serde_json::to_writer(&mut out, r).map_err(|e| error(&e))?;
        out.write_all(b"\n").map_err(|e| error(&e))?;
    }
    out.flush().map_err(|e| error(&e))?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(|e| error(&e))
}
