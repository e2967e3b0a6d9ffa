//! The history file, shared by every msgops process on the machine (the app, each
//! `msgops serve`): appended one whole line per send under an advisory lock, and read back
//! incrementally so that each process sees what the others appended.
//!
//! - Appends: `O_APPEND`, one `write` of one complete line, holding an exclusive lock on
//!   `<file>.lock` (a separate file, because compaction replaces the history file itself). A
//!   writer whose handle no longer names the file on disk (compacted by another process)
//!   reopens it first; a torn last line left by a crashed writer is closed with a newline
//!   first, so it never swallows the next record.
//! - Reads: from the byte offset reached by the last read; bytes after the last newline are a
//!   line still being written and wait for the next read. A file that shrank, was replaced
//!   (another inode) or starts differently is read again from the start.
//! - Never rewrites a line in place; the only rewrite is compaction at open, under the lock.

use std::collections::VecDeque;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use msgops_core::chain::SendRecord;

use crate::origin::{RecordedSend, SendOrigin};
use crate::query::{HistoryFilter, HistoryPage};
use crate::summary::HistorySummary;

/// The history file's name in the data directory.
pub const FILE_NAME: &str = "sends.jsonl";

/// Where the app and `msgops serve` keep the history: [`FILE_NAME`] in
/// [`msgops_core::config::data_dir`] (`$MSGOPS_DATA_DIR` when set).
pub fn default_path() -> PathBuf {
    msgops_core::config::data_dir().join(FILE_NAME)
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot write the send history {path}: {message}")]
    Write { path: String, message: String },
    #[error("cannot read the send history {path}: {message}")]
    Read { path: String, message: String },
}

/// How many bytes of the file's start are remembered to tell a replaced file from a grown one.
const HEAD_BYTES: usize = 64;

/// How far this process has read the file.
#[derive(Debug, Default)]
struct ReadPosition {
    /// Bytes consumed: always just after a newline.
    offset: u64,
    /// Device and inode of the file read, where the platform has them.
    id: Option<(u64, u64)>,
    /// The file's first bytes (of its first line), as read.
    head: Vec<u8>,
    /// Lines consumed, for messages and compaction.
    lines: usize,
}

struct Inner {
    /// Oldest first, in file order (the order sends were appended, by any process).
    records: VecDeque<RecordedSend>,
    read: ReadPosition,
    /// Open for appending; `None` until the first write and after a write error.
    append: Option<File>,
}

/// Sends, oldest first, in memory and in a JSON-lines file that other processes may append to.
pub struct SendHistory {
    path: PathBuf,
    cap: usize,
    origin: SendOrigin,
    inner: Mutex<Inner>,
}

/// Records kept by default: months of a busy backend's test and fallback traffic.
pub const DEFAULT_CAP: usize = 50_000;

impl SendHistory {
    /// Loads `path` (a missing file is an empty history); the sends this process records are
    /// marked as coming from `origin`. Returns the store and one message per line that could not
    /// be read; those lines are left out, nothing else is lost.
    pub fn open(path: impl Into<PathBuf>, cap: usize, origin: SendOrigin) -> (Self, Vec<String>) {
        let history = Self {
            path: path.into(),
            cap: cap.max(1),
            origin,
            inner: Mutex::new(Inner {
                records: VecDeque::new(),
                read: ReadPosition::default(),
                append: None,
            }),
        };
        let mut problems = history.refresh_locked(&mut history.lock());
        // Past twice the cap the file is rewritten with what is kept, so it cannot grow forever.
        let lines = history.lock().read.lines;
        if lines > history.cap.saturating_mul(2) && problems.is_empty() {
            match compact(&history.path, history.cap) {
                Ok(()) => problems.extend(history.refresh_locked(&mut history.lock())),
                Err(e) => problems.push(e.to_string()),
            }
        }
        (history, problems)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the sends this process records come from.
    pub fn origin(&self) -> &SendOrigin {
        &self.origin
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a finished send, marked with this store's origin. When the file cannot be written it
    /// is still listed by this process (until the file is next read from the start); the error
    /// says so.
    pub fn record(&self, record: &SendRecord) -> Result<(), HistoryError> {
        let entry = RecordedSend {
            record: record.clone(),
            origin: self.origin.clone(),
        };
        let mut line = serde_json::to_vec(&entry).map_err(|e| write_error(&self.path, &e))?;
        line.push(b'\n');
        let mut inner = self.lock();
        match append_line(&self.path, &mut inner.append, &line) {
            Ok(()) => {
                // Reads our line back in file order, with whatever others appended before it.
                for problem in self.refresh_locked(&mut inner) {
                    tracing::warn!(%problem, "send history");
                }
                Ok(())
            }
            Err(e) => {
                inner.append = None;
                push_capped(&mut inner.records, self.cap, entry);
                Err(e)
            }
        }
    }

    /// Reads what other processes appended since the last read (or everything again, if the
    /// file was replaced or shrank). Returns the lines that could not be read.
    pub fn refresh(&self) -> Vec<String> {
        self.refresh_locked(&mut self.lock())
    }

    /// [`Self::refresh`] for a query: the problems go to the log.
    fn current(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.lock();
        for problem in self.refresh_locked(&mut inner) {
            tracing::warn!(%problem, "send history");
        }
        inner
    }

    pub fn len(&self) -> usize {
        self.current().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends matching `filter`, newest first, one page of them.
    pub fn query(&self, filter: &HistoryFilter) -> HistoryPage {
        filter.apply(self.current().records.iter().rev())
    }

    /// Cost per provider per day and failover counts over the last `days` days up to `now`.
    pub fn summary(&self, days: u32, now: chrono::DateTime<chrono::Utc>) -> HistorySummary {
        HistorySummary::of(self.current().records.iter().map(|r| &r.record), days, now)
    }

    fn refresh_locked(&self, inner: &mut Inner) -> Vec<String> {
        let read_error = |e: &dyn std::fmt::Display| {
            vec![HistoryError::Read {
                path: self.path.display().to_string(),
                message: e.to_string(),
            }
            .to_string()]
        };
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Removed: whatever was read from it is gone too.
                if inner.read.offset > 0 {
                    inner.records.clear();
                    inner.read = ReadPosition::default();
                }
                return Vec::new();
            }
            Err(e) => return read_error(&e),
        };
        let meta = match file.metadata() {
            Ok(m) if m.is_file() => m,
            Ok(_) => return read_error(&"not a regular file"),
            Err(e) => return read_error(&e),
        };
        let id = file_id(&meta);
        let replaced = (inner.read.id.is_some() && id != inner.read.id)
            || meta.len() < inner.read.offset
            || !starts_with(&mut file, &inner.read.head);
        if replaced {
            inner.records.clear();
            inner.read = ReadPosition::default();
        }
        inner.read.id = id;
        if meta.len() == inner.read.offset {
            return Vec::new();
        }
        if let Err(e) = file.seek(SeekFrom::Start(inner.read.offset)) {
            return read_error(&e);
        }
        let mut problems = Vec::new();
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) if line.last() != Some(&b'\n') => break, // still being written
                Ok(n) => {
                    if inner.read.offset == 0 {
                        inner.read.head = line[..n.min(HEAD_BYTES)].to_vec();
                    }
                    inner.read.offset += n as u64;
                    inner.read.lines += 1;
                }
                Err(e) => {
                    problems.extend(read_error(&e));
                    break;
                }
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<RecordedSend>(&line) {
                Ok(r) => push_capped(&mut inner.records, self.cap, r),
                Err(e) => problems.push(format!(
                    "{}: line {} is not a send record ({e}); skipped",
                    self.path.display(),
                    inner.read.lines
                )),
            }
        }
        problems
    }
}

fn push_capped(records: &mut VecDeque<RecordedSend>, cap: usize, record: RecordedSend) {
    if records.len() >= cap {
        records.pop_front();
    }
    records.push_back(record);
}

fn write_error(path: &Path, e: &dyn std::fmt::Display) -> HistoryError {
    HistoryError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Device and inode, where the platform has them.
#[cfg(unix)]
fn file_id(meta: &Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &Metadata) -> Option<(u64, u64)> {
    None
}

/// Whether `file` starts with `head` (an empty head always matches).
fn starts_with(file: &mut File, head: &[u8]) -> bool {
    if head.is_empty() {
        return true;
    }
    let mut start = vec![0; head.len()];
    file.seek(SeekFrom::Start(0)).is_ok() && file.read_exact(&mut start).is_ok() && start == head
}

/// Holds the exclusive advisory lock on `<path>.lock` until dropped (closing the file releases
/// it).
fn lock_history(path: &Path) -> Result<File, HistoryError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PathBuf::from(name))
        .map_err(|e| write_error(path, &e))?;
    lock.lock().map_err(|e| write_error(path, &e))?;
    Ok(lock)
}

/// Appends one complete line under the lock, through `handle` (opened or reopened as needed).
fn append_line(path: &Path, handle: &mut Option<File>, line: &[u8]) -> Result<(), HistoryError> {
    let error = |e: &dyn std::fmt::Display| write_error(path, e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| error(&e))?;
    }
    let _lock = lock_history(path)?;
    // Compacted by another process since our last write: the handle names the old file.
    let on_disk = std::fs::metadata(path).ok().and_then(|m| file_id(&m));
    let current = handle
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .and_then(|m| file_id(&m));
    if on_disk.is_none() || current != on_disk {
        *handle = None;
    }
    let file = match handle {
        Some(f) => f,
        None => handle.insert(
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(path)
                .map_err(|e| error(&e))?,
        ),
    };
    // A writer that died mid-line left it open: close it so it does not swallow this record.
    let len = file.metadata().map_err(|e| error(&e))?.len();
    let mut last = [b'\n'];
    if len > 0 {
        file.seek(SeekFrom::Start(len - 1)).map_err(|e| error(&e))?;
        file.read_exact(&mut last).map_err(|e| error(&e))?;
    }
    if last[0] == b'\n' {
        file.write_all(line).map_err(|e| error(&e))
    } else {
        let mut closed = Vec::with_capacity(line.len() + 1);
        closed.push(b'\n');
        closed.extend_from_slice(line);
        file.write_all(&closed).map_err(|e| error(&e))
    }
}

/// Rewrites the file with its last `cap` lines (as they are), atomically (temp file + rename),
/// under the lock so that no append is lost.
fn compact(path: &Path, cap: usize) -> Result<(), HistoryError> {
    let error = |e: &dyn std::fmt::Display| write_error(path, e);
    let _lock = lock_history(path)?;
    let mut text = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut text))
        .map_err(|e| error(&e))?;
    // Complete lines, and whatever follows the last newline (kept as it is).
    let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let (lines, rest) = text.split_at(complete);
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            lines
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&i| i < lines.len())
        .collect();
    let keep_from = starts
        .len()
        .checked_sub(cap)
        .and_then(|skip| starts.get(skip))
        .copied()
        .unwrap_or(0);
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut out = File::create(&tmp).map_err(|e| error(&e))?;
    out.write_all(&lines[keep_from..])
        .and_then(|()| out.write_all(rest))
        .and_then(|()| out.sync_all())
        .map_err(|e| error(&e))?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(|e| error(&e))
}
