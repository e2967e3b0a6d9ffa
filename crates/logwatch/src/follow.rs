//! Follows log files with `tail -F` semantics: across rename rotation, copy-truncate, deletion
//! and re-creation, files and directories that appear later, and symlink swaps.
//!
//! Design: filesystem notifications are only a wake-up hint; every decision is taken by a poll
//! that compares the path with the open handle on identity (device + inode), size, modification
//! time and the first bytes of the file (like lnav). That way nothing is missed on filesystems
//! without notifications. On rotation the old handle is read to its end before switching, so no
//! line is skipped; a line is reported exactly once, and only when its newline arrived (or the
//! file it was in was rotated away). This module must never re-read a file generation from the
//! start unless the file was truncated or replaced.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};
use tokio_util::sync::CancellationToken;

use crate::event::FollowerState;
use crate::line::{LineSplitter, DEFAULT_MAX_LINE_BYTES};

/// How files are followed.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// How often every file is checked even without notifications (default 250 ms).
    pub poll_interval: Duration,
    /// Use filesystem notifications (inotify, FSEvents, ...) to wake up early. Polling always
    /// runs as well; when notifications cannot be set up, polling alone is used.
    pub use_notify: bool,
    /// Longest line kept; the rest of a longer line is dropped and the line flagged.
    pub max_line_bytes: usize,
    /// Most bytes read from one file per poll before looking at the other files.
    pub read_budget: usize,
    /// A replaced (rotated, deleted) file is still read until it has not grown for this long,
    /// for writers that reopen their log only some time after the rotation.
    pub retire_after: Duration,
}

impl Default for FollowConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(250),
            use_notify: true,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            read_budget: 8 << 20,
            retire_after: Duration::from_secs(5),
        }
    }
}

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOrigin {
    /// The file already held the line when following started.
    Existing,
    /// The line was written while we followed.
    Appended,
}

/// Facts about one line besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    /// 1-based, within the current generation of the file (restarts after rotation/truncation).
    pub line_no: u64,
    /// Cut at `max_line_bytes`.
    pub truncated: bool,
    pub origin: LineOrigin,
}

/// Receives what the follower reads. `file` is the index of the path in the followed list.
pub trait FollowSink {
    fn line(&mut self, file: usize, line: &[u8], info: LineInfo);
    /// The follower's state for `file` changed.
    fn status(&mut self, file: usize, state: FollowerState, message: String);
    /// The current generation of `file` ended (rotated, truncated): the next line starts a new one.
    fn generation_end(&mut self, file: usize);
    /// All files were polled and there is nothing more to read right now. Return `false` to stop.
    fn idle(&mut self) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

#[cfg(unix)]
fn file_id(meta: &Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    }
}

#[cfg(not(unix))]
fn file_id(_meta: &Metadata) -> FileId {
    // No inode: replacement is then detected from size, mtime and the first bytes only.
    FileId { dev: 0, ino: 0 }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut f = file.try_clone()?;
    let pos = f.stream_position()?;
    f.seek(SeekFrom::Start(offset))?;
    let mut done = 0;
    while done < buf.len() {
        match f.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    f.seek(SeekFrom::Start(pos))?;
    Ok(done)
}

/// How many leading bytes identify a file's content.
const HEAD_BYTES: usize = 1024;

#[derive(Debug)]
struct OpenFile {
    file: File,
    id: FileId,
    /// Bytes consumed through `file` (its read position).
    offset: u64,
    /// Bytes before this offset existed when following started.
    existing_until: u64,
    /// The first bytes consumed (up to `HEAD_BYTES`). Kept verbatim rather than hashed: it is
    /// small and a comparison cannot collide.
    head: Vec<u8>,
    seen_size: u64,
    seen_mtime: Option<SystemTime>,
    splitter: LineSplitter,
    line_no: u64,
}

/// One followed path.
#[derive(Debug)]
struct TrackedFile {
    path: PathBuf,
    open: Option<OpenFile>,
    state: Option<FollowerState>,
    message: String,
    /// Content present at the first open is `Existing`; everything after is `Appended`.
    opened_once: bool,
    /// Replaced files still read until they stop growing, with when they last grew.
    retired: Vec<(OpenFile, Instant)>,
}

/// Synchronous core of the follower: call [`LogFollower::poll`] repeatedly.
#[derive(Debug)]
pub struct LogFollower {
    files: Vec<TrackedFile>,
    config: FollowConfig,
    buf: Vec<u8>,
}

impl LogFollower {
    pub fn new(paths: Vec<PathBuf>, config: FollowConfig) -> Self {
        let files = paths
            .into_iter()
            .map(|path| TrackedFile {
                path,
                open: None,
                state: None,
                message: String::new(),
                opened_once: false,
                retired: Vec::new(),
            })
            .collect();
        Self {
            files,
            config,
            buf: vec![0; 64 << 10],
        }
    }

    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| f.path.as_path())
    }

    /// Checks every file once and reads what is new. Returns `true` if a file has more data than
    /// the read budget allowed (poll again without waiting).
    pub fn poll(&mut self, sink: &mut dyn FollowSink) -> bool {
        let mut more = false;
        for (idx, file) in self.files.iter_mut().enumerate() {
            more |= file.poll(idx, sink, &mut self.buf, &self.config);
        }
        more
    }
}

impl TrackedFile {
    fn set_state(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        state: FollowerState,
        message: String,
    ) {
        // Rotated/Truncated already mean "following again"; do not repeat it.
        let same = self.state == Some(state)
            || (state == FollowerState::Following
                && matches!(
                    self.state,
                    Some(FollowerState::Rotated | FollowerState::Truncated)
                ));
        let transition = matches!(state, FollowerState::Rotated | FollowerState::Truncated);
        if same && !transition && (state != FollowerState::Unreadable || self.message == message) {
            return;
        }
        self.state = Some(state);
        self.message.clone_from(&message);
        sink.status(idx, state, message);
    }

    fn poll(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        buf: &mut [u8],
        config: &FollowConfig,
    ) -> bool {
        // 1. Whatever happened to the path, what was written to the open files comes first;
        //    but a file rewritten in place (copy-truncate) must be re-read from its start, not
        //    from our old offset, so that is decided on the handle before reading it.
        self.drain_retired(idx, sink, buf, config.retire_after);
        if let Some(more) = self.check_rewritten(idx, sink, buf, config) {
            return more;
        }
        let (more, _) = self.drain(idx, sink, buf, config.read_budget);
        if more {
            return true;
        }
        // 2. What does the path name now?
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => {
                let msg = format!("{} is not a regular file", self.path.display());
                self.set_state(idx, sink, FollowerState::Unreadable, msg);
                return false;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Whatever appears here later was written while we watched.
                self.opened_once = true;
                // Keep an open handle: a renamed-away or deleted file can still be read to its
                // end, which `drain` keeps doing until the path names a file again.
                let msg = format!("{} does not exist; waiting for it", self.path.display());
                self.set_state(idx, sink, FollowerState::Missing, msg);
                return false;
            }
            Err(e) => {
                let msg = format!("cannot read {}: {e}", self.path.display());
                self.set_state(idx, sink, FollowerState::Unreadable, msg);
                return false;
            }
        };
        let id = file_id(&meta);
        let same_file = self.open.as_ref().is_some_and(|o| o.id == id);
        if same_file {
            let msg = format!("following {}", self.path.display());
            self.set_state(idx, sink, FollowerState::Following, msg);
            return false;
        }
        // A different file (or the first one): open it before letting go of the old handle.
        let new = match self.open_path(config) {
            Ok(new) => new,
            Err(e) => {
                let msg = format!("cannot open {}: {e}", self.path.display());
                self.set_state(idx, sink, FollowerState::Unreadable, msg);
                return false;
            }
        };
        let replaced = self.open.is_some();
        if replaced {
            // Between our drain and the switch the writer may still have appended to the old
            // file; read it to its very end, and keep reading it for a while (`retire_after`):
            // a writer that has not reopened its log yet keeps appending there.
            loop {
                let (more, _) = self.drain(idx, sink, buf, usize::MAX);
                if !more {
                    break;
                }
            }
            sink.generation_end(idx);
        }
        if let Some(old) = self.open.replace(new) {
            self.retired.push((old, Instant::now()));
        }
        let (state, msg) = if replaced {
            (
                FollowerState::Rotated,
                format!(
                    "{} was replaced (rotated or re-created); following the new file",
                    self.path.display()
                ),
            )
        } else {
            (
                FollowerState::Following,
                format!("following {}", self.path.display()),
            )
        };
        self.set_state(idx, sink, state, msg);
        self.drain(idx, sink, buf, config.read_budget).0
    }

    /// If the open file was truncated or rewritten in place, reports it and reads it from its
    /// start. Returns `Some(more)` when it was.
    fn check_rewritten(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        buf: &mut [u8],
        config: &FollowConfig,
    ) -> Option<bool> {
        let meta = self.open.as_ref()?.file.metadata();
        let rewritten = meta.and_then(|meta| self.rewritten(&meta));
        match rewritten {
            Ok(false) => None,
            Ok(true) => {
                self.end_generation(idx, sink);
                if let Some(open) = self.open.as_mut() {
                    if let Err(e) = open.rewind() {
                        let msg = format!("cannot read {}: {e}", self.path.display());
                        self.set_state(idx, sink, FollowerState::Unreadable, msg);
                        return Some(false);
                    }
                }
                let msg = format!(
                    "{} was truncated; reading it from the start",
                    self.path.display()
                );
                self.set_state(idx, sink, FollowerState::Truncated, msg);
                Some(self.drain(idx, sink, buf, config.read_budget).0)
            }
            Err(e) => {
                let msg = format!("cannot read {}: {e}", self.path.display());
                self.set_state(idx, sink, FollowerState::Unreadable, msg);
                Some(false)
            }
        }
    }

    fn open_path(&mut self, config: &FollowConfig) -> io::Result<OpenFile> {
        let file = File::open(&self.path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        let existing_until = if self.opened_once { 0 } else { meta.len() };
        self.opened_once = true;
        Ok(OpenFile {
            file,
            id: file_id(&meta),
            offset: 0,
            existing_until,
            head: Vec::new(),
            seen_size: meta.len(),
            seen_mtime: meta.modified().ok(),
            splitter: LineSplitter::new(config.max_line_bytes),
            line_no: 0,
        })
    }

    /// Same inode: was the content truncated or rewritten in place?
    fn rewritten(&mut self, meta: &Metadata) -> io::Result<bool> {
        let Some(open) = self.open.as_mut() else {
            return Ok(false);
        };
        let size = meta.len();
        let mtime = meta.modified().ok();
        if size == open.seen_size && mtime == open.seen_mtime {
            return Ok(false);
        }
        open.seen_size = size;
        open.seen_mtime = mtime;
        if size < open.offset {
            return Ok(true);
        }
        if open.head.is_empty() {
            return Ok(false);
        }
        let mut now = vec![0; open.head.len()];
        let n = read_at(&open.file, &mut now, 0)?;
        Ok(now[..n] != open.head[..])
    }

    fn end_generation(&mut self, idx: usize, sink: &mut dyn FollowSink) {
        if let Some(open) = self.open.as_mut() {
            open.finish(idx, sink);
        }
        sink.generation_end(idx);
    }

    /// Reads the open handle up to its end or the budget. Returns (budget exhausted, bytes read).
    fn drain(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        buf: &mut [u8],
        budget: usize,
    ) -> (bool, usize) {
        let Some(open) = self.open.as_mut() else {
            return (false, 0);
        };
        match open.read_into(idx, sink, buf, budget) {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("cannot read {}: {e}", self.path.display());
                self.set_state(idx, sink, FollowerState::Unreadable, msg);
                (false, 0)
            }
        }
    }

    /// Keeps reading replaced files: a writer that has not reopened its log yet still appends
    /// to the old file. A replaced file is let go once it has not grown for `retire_after`.
    fn drain_retired(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        buf: &mut [u8],
        retire_after: Duration,
    ) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.retired.len() {
            let (open, last_growth) = &mut self.retired[i];
            let grew = matches!(open.read_into(idx, sink, buf, usize::MAX), Ok((_, n)) if n > 0);
            if grew {
                *last_growth = now;
                sink.generation_end(idx);
            }
            if now.duration_since(*last_growth) >= retire_after {
                let (mut open, _) = self.retired.remove(i);
                if open.finish(idx, sink) {
                    sink.generation_end(idx);
                }
            } else {
                i += 1;
            }
        }
    }
}

impl OpenFile {
    /// Reads up to the end of the file or the budget. Returns (budget exhausted, bytes read).
    fn read_into(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        buf: &mut [u8],
        budget: usize,
    ) -> io::Result<(bool, usize)> {
        let mut total = 0usize;
        loop {
            if total >= budget {
                return Ok((true, total));
            }
            // Existing content is read separately from appended content so each line is
            // labelled by where it ended.
            let limit = if self.offset < self.existing_until {
                usize::try_from(self.existing_until - self.offset)
                    .unwrap_or(usize::MAX)
                    .min(buf.len())
            } else {
                buf.len()
            };
            let n = match self.file.read(&mut buf[..limit]) {
                Ok(0) => return Ok((false, total)),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let data = &buf[..n];
            if self.head.len() < HEAD_BYTES && self.offset == self.head.len() as u64 {
                let take = (HEAD_BYTES - self.head.len()).min(n);
                self.head.extend_from_slice(&data[..take]);
            }
            self.offset += n as u64;
            total += n;
            let origin = self.origin();
            let OpenFile {
                splitter, line_no, ..
            } = self;
            splitter.push(data, |line, truncated| {
                *line_no += 1;
                sink.line(
                    idx,
                    line,
                    LineInfo {
                        line_no: *line_no,
                        truncated,
                        origin,
                    },
                );
            });
        }
    }

    fn origin(&self) -> LineOrigin {
        if self.offset <= self.existing_until {
            LineOrigin::Existing
        } else {
            LineOrigin::Appended
        }
    }

    /// Emits a partial last line, if any. Returns whether one was emitted.
    fn finish(&mut self, idx: usize, sink: &mut dyn FollowSink) -> bool {
        let origin = self.origin();
        let OpenFile {
            splitter, line_no, ..
        } = self;
        let mut emitted = false;
        splitter.finish(|line, truncated| {
            *line_no += 1;
            emitted = true;
            sink.line(
                idx,
                line,
                LineInfo {
                    line_no: *line_no,
                    truncated,
                    origin,
                },
            );
        });
        emitted
    }

    /// Start over from byte 0 of the same (truncated) file.
    fn rewind(&mut self) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.offset = 0;
        self.existing_until = 0;
        self.head.clear();
        self.line_no = 0;
        // A partial line of the old content was emitted by `end_generation`.
        Ok(())
    }
}

/// Runs a follower on a blocking thread of the current tokio runtime until `cancel` fires or
/// the sink's `idle` returns `false`. Returns the sink when done.
///
/// Must be called from within a tokio runtime.
pub fn spawn_follower<S>(
    paths: Vec<PathBuf>,
    config: FollowConfig,
    cancel: CancellationToken,
    mut sink: S,
) -> tokio::task::JoinHandle<S>
where
    S: FollowSink + Send + 'static,
{
    let (wake_tx, wake_rx) = sync_channel::<()>(1);
    let cancel_wake = wake_tx.clone();
    let cancelled = cancel.clone();
    tokio::spawn(async move {
        cancelled.cancelled().await;
        let _ = cancel_wake.try_send(());
    });
    tokio::task::spawn_blocking(move || {
        let mut follower = LogFollower::new(paths, config.clone());
        let mut hints = config.use_notify.then(|| NotifyHints::new(wake_tx));
        run_loop(
            &mut follower,
            &mut sink,
            &cancel,
            &wake_rx,
            hints.as_mut(),
            config.poll_interval,
        );
        sink
    })
}

fn run_loop(
    follower: &mut LogFollower,
    sink: &mut dyn FollowSink,
    cancel: &CancellationToken,
    wake_rx: &Receiver<()>,
    mut hints: Option<&mut NotifyHints>,
    poll_interval: Duration,
) {
    loop {
        if cancel.is_cancelled() {
            return;
        }
        if let Some(h) = hints.as_deref_mut() {
            h.watch_parents(follower.paths());
        }
        let more = follower.poll(sink);
        if !sink.idle() {
            return;
        }
        if more {
            continue;
        }
        match wake_rx.recv_timeout(poll_interval) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(poll_interval),
        }
    }
}

/// Filesystem notifications on the directories holding the followed files, used only to wake
/// the poll loop early.
struct NotifyHints {
    watcher: Option<notify::RecommendedWatcher>,
    watched: Vec<PathBuf>,
}

impl NotifyHints {
    fn new(wake: SyncSender<()>) -> Self {
        let watcher = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
            let _ = wake.try_send(());
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("filesystem notifications unavailable, polling only: {e}");
                None
            }
        };
        Self {
            watcher,
            watched: Vec::new(),
        }
    }

    /// Watches each file's directory (and a symlink target's directory) once it exists.
    fn watch_parents<'a>(&mut self, paths: impl Iterator<Item = &'a Path>) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        for path in paths {
            let mut dirs = vec![parent_dir(path)];
            if let Ok(target) = std::fs::canonicalize(path) {
                dirs.push(parent_dir(&target));
            }
            for dir in dirs {
                if self.watched.contains(&dir) || !dir.is_dir() {
                    continue;
                }
                match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                    Ok(()) => self.watched.push(dir),
                    Err(e) => tracing::debug!("cannot watch {}: {e}", dir.display()),
                }
            }
        }
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
