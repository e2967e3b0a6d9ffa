//! A JSON-lines file shared by every msgops process on the machine (the app, each
//! `msgops serve`): appended one whole line per record under an advisory lock, and read back
//! incrementally so that each process sees what the others appended. The send history and the
//! delivery reports are each one of these.
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

use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot write the {what} {path}: {message}")]
    Write {
        what: &'static str,
        path: String,
        message: String,
    },
    #[error("cannot read the {what} {path}: {message}")]
    Read {
        what: &'static str,
        path: String,
        message: String,
    },
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

pub(crate) struct Inner<T> {
    /// Oldest first, in file order (the order records were appended, by any process).
    pub(crate) records: VecDeque<T>,
    read: ReadPosition,
    /// Open for appending; `None` until the first write and after a write error.
    append: Option<File>,
}

/// Records, oldest first, in memory and in a JSON-lines file that other processes may append
/// to; the oldest fall off past a cap.
pub(crate) struct SharedLog<T> {
    path: PathBuf,
    cap: usize,
    /// What one record is, for messages ("send history", "send record").
    what: &'static str,
    record_name: &'static str,
    inner: Mutex<Inner<T>>,
}

impl<T: Serialize + DeserializeOwned + Clone> SharedLog<T> {
    /// Loads `path` (a missing file is empty). Returns the log and one message per line that
    /// could not be read; those lines are left out, nothing else is lost.
    pub(crate) fn open(
        path: PathBuf,
        cap: usize,
        what: &'static str,
        record_name: &'static str,
    ) -> (Self, Vec<String>) {
        let log = Self {
            path,
            cap: cap.max(1),
            what,
            record_name,
            inner: Mutex::new(Inner {
                records: VecDeque::new(),
                read: ReadPosition::default(),
                append: None,
            }),
        };
        let mut problems = log.refresh_locked(&mut log.lock());
        // Past twice the cap the file is rewritten with what is kept, so it cannot grow forever.
        let lines = log.lock().read.lines;
        if lines > log.cap.saturating_mul(2) && problems.is_empty() {
            match compact(&log.path, log.cap, what) {
                Ok(()) => problems.extend(log.refresh_locked(&mut log.lock())),
                Err(e) => problems.push(e.to_string()),
            }
        }
        (log, problems)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `entry` unless `skip` says otherwise, judged on every record in the file
    /// (another process's included) under the file's lock — so two processes never both append
    /// what only one may. Returns whether it was appended. When the file cannot be written the
    /// entry is still listed by this process (until the file is next read from the start); the
    /// error says so.
    pub(crate) fn append_unless(
        &self,
        entry: T,
        skip: impl Fn(&VecDeque<T>, &T) -> bool,
    ) -> Result<bool, HistoryError> {
        let mut line = serde_json::to_vec(&entry).map_err(|e| self.write_error(&e))?;
        line.push(b'\n');
        let mut inner = self.lock();
        let written = (|| {
            let _lock = lock_file(&self.path, self.what)?;
            for problem in self.refresh_locked(&mut inner) {
                tracing::warn!(%problem, "{}", self.what);
            }
            if skip(&inner.records, &entry) {
                return Ok(false);
            }
            append_line(&self.path, &mut inner.append, &line, self.what)?;
            Ok(true)
        })();
        match written {
            Ok(appended) => {
                // Reads our line back in file order, with whatever others appended before it.
                for problem in self.refresh_locked(&mut inner) {
                    tracing::warn!(%problem, "{}", self.what);
                }
                Ok(appended)
            }
            Err(e) => {
                inner.append = None;
                if !skip(&inner.records, &entry) {
                    push_capped(&mut inner.records, self.cap, entry);
                }
                Err(e)
            }
        }
    }

    /// Reads what other processes appended since the last read (or everything again, if the
    /// file was replaced or shrank). Returns the lines that could not be read.
    pub(crate) fn refresh(&self) -> Vec<String> {
        self.refresh_locked(&mut self.lock())
    }

    /// The records, topped up from the file first (problems go to the log).
    pub(crate) fn current(&self) -> MutexGuard<'_, Inner<T>> {
        let mut inner = self.lock();
        for problem in self.refresh_locked(&mut inner) {
            tracing::warn!(%problem, "{}", self.what);
        }
        inner
    }

    fn write_error(&self, e: &dyn std::fmt::Display) -> HistoryError {
        write_error(&self.path, e, self.what)
    }

    fn refresh_locked(&self, inner: &mut Inner<T>) -> Vec<String> {
        let read_error = |e: &dyn std::fmt::Display| {
            vec![HistoryError::Read {
                what: self.what,
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
            match serde_json::from_slice::<T>(&line) {
                Ok(r) => push_capped(&mut inner.records, self.cap, r),
                Err(e) => problems.push(format!(
                    "{}: line {} is not a {} ({e}); skipped",
                    self.path.display(),
                    inner.read.lines,
                    self.record_name
                )),
            }
        }
        problems
    }
}

fn push_capped<T>(records: &mut VecDeque<T>, cap: usize, record: T) {
    if records.len() >= cap {
        records.pop_front();
    }
    records.push_back(record);
}

fn write_error(path: &Path, e: &dyn std::fmt::Display, what: &'static str) -> HistoryError {
    HistoryError::Write {
        what,
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
fn lock_file(path: &Path, what: &'static str) -> Result<File, HistoryError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| write_error(path, &e, what))?;
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PathBuf::from(name))
        .map_err(|e| write_error(path, &e, what))?;
    lock.lock().map_err(|e| write_error(path, &e, what))?;
    Ok(lock)
}

/// Appends one complete line through `handle` (opened or reopened as needed); the caller holds
/// the lock.
fn append_line(
    path: &Path,
    handle: &mut Option<File>,
    line: &[u8],
    what: &'static str,
) -> Result<(), HistoryError> {
    let error = |e: &dyn std::fmt::Display| write_error(path, e, what);
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
fn compact(path: &Path, cap: usize, what: &'static str) -> Result<(), HistoryError> {
    let error = |e: &dyn std::fmt::Display| write_error(path, e, what);
    let _lock = lock_file(path, what)?;
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
