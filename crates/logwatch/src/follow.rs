//! Follows log files with `tail -F` semantics: across rename rotation, copy-truncate, deletion
//! and re-creation, replacement by a copy, files and directories that appear later, and symlink
//! swaps.
//!
//! Design: filesystem notifications are only a wake-up hint; every decision is taken by a poll
//! that compares the path with the open handle on identity (device + inode), size, modification
//! time and the first bytes of the file (like lnav). That way nothing is missed on filesystems
//! without notifications. A line is reported exactly once; it is reported complete only when its
//! newline arrived, and a partial last line is reported incomplete ([`LineInfo::complete`]) when
//! the file it was in is truncated, rotated away or let go. This module must never re-read a
//! file generation from the start unless the file was truncated or replaced.
//!
//! - Rename rotation: the old handle is read to its end before switching, and is then kept
//!   ("retired") and read as long as a writer may still append to it: until the file now at the
//!   path has grown since the switch (the writer moved over) and the old file has then been
//!   quiet for [`FollowConfig::retire_after`]. A writer that never reopens its log (Python's
//!   plain `FileHandler` with logrotate's `create`) is followed in the renamed file for as long
//!   as it writes there. At most [`MAX_RETIRED`] retired files are kept per path.
//! - A generation created, written and rotated away again between two polls (rotations every
//!   few hundred milliseconds on a starved machine) is never at the path when we look: on a
//!   switch, the rotated siblings of the path (`<name>.1`, `<name>-20261202`,
//!   `<name>.2026-12-02_10-00`, `<name>.1.log`, ...: the name, `.`/`-`/`_` and a digit; not
//!   `.gz`, `.xz`, `.bz2`, `.zst`, ...) modified since the old generation was opened, that are
//!   neither open nor read already, are read to their end first, oldest first (by modification
//!   time, then inode), at most [`MAX_SIBLINGS`] (the newest), and then kept like replaced
//!   files. What was read is remembered per path (bounded) by device and inode and by content
//!   (first bytes and those before the offset read to, which also recognises copy-truncate's
//!   copies); what the siblings held when following started counts as read, so a restarted
//!   follower does not read them again. Lines keep the followed path's index.
//! - Copy-truncate: the file is read from its start again, and the content read so far is
//!   checked to still be there after every read (the first bytes), not only before it: bytes
//!   read at the old offset of a file that was truncated meanwhile belong to the new content and
//!   must not be reported before the restart reads them again. What the copy holds beyond the
//!   last byte read (a lagging reader) is read from the copy (`<name>.1`, `<name>-<date>`, ...,
//!   found next to the file by its first bytes and the bytes before that last one) before the
//!   restart. Lines written between logrotate's copy and its truncation are in neither file
//!   unless read in that instant: no reader can have them. NUL bytes at the start of a line are
//!   skipped: a writer without `O_APPEND` keeps writing at its old offset and leaves a hole of
//!   NULs.
//! - A new file at the path holding the same bytes as the old one up to where it was read (a
//!   copy renamed over it, `cp log log.tmp && ... && mv log.tmp log`) is continued at the old
//!   offset instead of being read again from its start.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use notify::{RecursiveMode, Watcher};
use tokio_util::sync::CancellationToken;

use crate::event::FollowerState;
use crate::line::{LineSplitter, DEFAULT_MAX_LINE_BYTES};

mod siblings;

pub use siblings::MAX_SIBLINGS;
use siblings::{
    holds, rotated_siblings, Fingerprint, ReadGenerations, MAX_CANDIDATES as MAX_SIBLING_CANDIDATES,
};

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
    /// A replaced (rotated, deleted) file is let go only once the file now at the path has grown
    /// (its writer moved over) and the replaced file has then not grown for this long (default
    /// 5 s), for writers that reopen their log only some time after the rotation. A replaced file
    /// whose writer never moves over is read for as long as it is written.
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
    /// The line ended with its newline. `false` for a partial last line emitted because its file
    /// was truncated, rotated away or let go before the newline arrived: its end may be missing
    /// (`OTP Code: 5895` of `OTP Code: 589503`), so no value may be taken from it as if whole.
    pub complete: bool,
    pub origin: LineOrigin,
}

/// Receives what the follower reads. `file` is the index of the path in the followed list.
pub trait FollowSink {
    fn line(&mut self, file: usize, line: &[u8], info: LineInfo);
    /// The follower's state for `file` changed (or something worth telling happened to it).
    fn status(&mut self, file: usize, state: FollowerState, message: String);
    /// The current generation of `file` ended (rotated, truncated): the next line starts a new one.
    fn generation_end(&mut self, file: usize);
    /// All files were polled and there is nothing more to read right now. Return `false` to stop.
    fn idle(&mut self) -> bool;
}

/// Most replaced files kept open (and read) per followed path. When one more is replaced, the
/// oldest one that has been quiet for `retire_after` (or else the oldest) is let go, and that is
/// reported.
pub const MAX_RETIRED: usize = 8;

/// How many leading bytes identify a file's content.
const HEAD_BYTES: usize = 1024;

/// How many of the last bytes read are kept to recognise the same content in another file.
const TAIL_BYTES: usize = 1024;

/// Files next to a truncated file looked at for its copy.
const MAX_COPY_CANDIDATES: usize = 32;

/// A copy of a truncated file is looked for only among files modified this recently.
const COPY_MAX_AGE: Duration = Duration::from_secs(600);

/// A rotated sibling is read on a switch only if it was modified after the previous generation
/// was opened, less this much (coarse file timestamps: whole seconds on some filesystems).
const SIBLING_MTIME_SLACK: Duration = Duration::from_secs(2);

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

#[derive(Debug)]
struct OpenFile {
    file: File,
    id: FileId,
    /// Bytes consumed through `file` (its read position, unless a read was just discarded).
    offset: u64,
    /// Bytes before this offset existed when following started.
    existing_until: u64,
    /// The first bytes consumed (up to `HEAD_BYTES`). Kept verbatim rather than hashed: it is
    /// small and a comparison cannot collide.
    head: Vec<u8>,
    /// The last bytes consumed (up to `TAIL_BYTES`), ending at `offset`.
    tail: Vec<u8>,
    seen_size: u64,
    seen_mtime: Option<SystemTime>,
    splitter: LineSplitter,
    line_no: u64,
    /// When this generation was opened (or, truncated, started again): a generation rotated
    /// away before the next switch was modified after it.
    opened_at: SystemTime,
    /// Reading started in the middle of a line whose start was consumed earlier (a sibling
    /// read again from where it was let go): bytes up to the next newline are not a line.
    discard_partial: bool,
}

/// What one [`OpenFile::read_into`] did.
#[derive(Debug, Clone, Copy, Default)]
struct ReadOutcome {
    /// Stopped at the budget: more is waiting.
    more: bool,
    /// Bytes consumed (reported as lines or held as a partial line).
    bytes: usize,
    /// The file's first bytes changed: it was truncated or rewritten in place. What the last
    /// read returned is not the continuation of what came before and was not consumed.
    rewritten: bool,
}

/// A replaced file that is still read, for writers that keep appending to it.
#[derive(Debug)]
struct Retired {
    open: OpenFile,
    last_growth: Instant,
    /// When a newer file at the path was first seen growing: its writer moved over.
    moved_over: Option<Instant>,
}

/// One followed path.
#[derive(Debug)]
struct TrackedFile {
    path: PathBuf,
    open: Option<OpenFile>,
    /// Size of the open file when it became the current one (0 after a truncation): growth past
    /// it means the writer writes there.
    open_base: u64,
    state: Option<FollowerState>,
    message: String,
    /// Content present at the first open is `Existing`; everything after is `Appended`.
    opened_once: bool,
    /// Replaced files still read, oldest first.
    retired: Vec<Retired>,
    /// Generations let go, truncated, or next to the file when following started: never read
    /// again from their start on a switch.
    read_before: ReadGenerations,
    /// When following started (the first poll), once it did.
    started: Option<SystemTime>,
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
                open_base: 0,
                state: None,
                message: String::new(),
                opened_once: false,
                retired: Vec::new(),
                read_before: ReadGenerations::default(),
                started: None,
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
        self.announce(idx, sink, state, message);
    }

    /// Reports a state with its message, even if the state did not change.
    fn announce(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        state: FollowerState,
        message: String,
    ) {
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
        if self.started.is_none() {
            // What the rotated siblings hold now was there before following started: it is
            // never read at a switch.
            self.started = Some(SystemTime::now());
            self.read_before.note_present(&self.path);
        }
        // 1. Whatever happened to the path, what was written to the open files comes first;
        //    but a file rewritten in place (copy-truncate) must be re-read from its start, not
        //    from our old offset, so that is decided on the handle before reading it (and
        //    checked again after every read, in `read_into`).
        self.drain_retired(idx, sink, buf, config);
        if let Some(more) = self.check_rewritten(idx, sink, buf, config) {
            return more;
        }
        if self.drain(idx, sink, buf, config.read_budget) {
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
        // Opened for the first time after the path was missing: we were watching, and the
        // generations rotated away meanwhile were written while we watched.
        let watched_missing = self.open.is_none() && self.opened_once;
        let new = match self.open_path(config) {
            Ok(new) => new,
            Err(e) => {
                let msg = format!("cannot open {}: {e}", self.path.display());
                self.set_state(idx, sink, FollowerState::Unreadable, msg);
                return false;
            }
        };
        if self.open.is_none() {
            let read = if watched_missing {
                self.read_siblings(idx, sink, buf, config, self.started, new.id)
            } else {
                SiblingsRead::default()
            };
            self.open_base = new.seen_size;
            self.open = Some(new);
            let msg = format!("following {}{}", self.path.display(), siblings_note(&read));
            self.set_state(idx, sink, FollowerState::Following, msg);
            self.limit_retired(idx, sink, buf, config);
            return self.drain(idx, sink, buf, config.read_budget);
        }
        // Between our drain and the switch the writer may still have appended to the old file;
        // read it to its very end first.
        self.drain(idx, sink, buf, usize::MAX);
        let Some(mut old) = self.open.take() else {
            return false; // not reached: `self.open` was checked above
        };
        let mut new = new;
        self.open_base = new.seen_size;
        let copy = matches!(old.same_content(&new.file, new.seen_size), Ok(true))
            && new.continue_from(&mut old, config).is_ok();
        let since = old.opened_at;
        // Keep reading the old file: a writer that has not reopened its log (or never does)
        // keeps appending there.
        self.retired.push(Retired {
            open: old,
            last_growth: Instant::now(),
            moved_over: None,
        });
        let (state, msg) = if copy {
            // The same content under a new inode (a copy renamed over the file): carry on where
            // we were; the old file is still read in case its writer appends to it.
            (
                FollowerState::Following,
                format!(
                    "{} was replaced by a copy of itself; reading continues where it was \
                     (byte {})",
                    self.path.display(),
                    new.offset
                ),
            )
        } else {
            sink.generation_end(idx);
            // Generations created, written and rotated away again since the old one was
            // opened were never at the path when we looked: read them first, oldest first.
            let read = self.read_siblings(idx, sink, buf, config, Some(since), new.id);
            (
                FollowerState::Rotated,
                format!(
                    "{} was replaced (rotated or re-created); following the new file{}",
                    self.path.display(),
                    siblings_note(&read)
                ),
            )
        };
        self.open = Some(new);
        self.announce(idx, sink, state, msg);
        self.limit_retired(idx, sink, buf, config);
        self.drain(idx, sink, buf, config.read_budget)
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
                if !self.restart(idx, sink, buf) {
                    return Some(false);
                }
                Some(self.drain(idx, sink, buf, config.read_budget))
            }
            Err(e) => {
                let msg = format!("cannot read {}: {e}", self.path.display());
                self.set_state(idx, sink, FollowerState::Unreadable, msg);
                Some(false)
            }
        }
    }

    /// The open file was truncated or rewritten in place: what its copy holds beyond what we
    /// read is read from the copy, the old content's partial last line is emitted (incomplete),
    /// and the file is read again from its start. Returns `false` if it became unreadable.
    fn restart(&mut self, idx: usize, sink: &mut dyn FollowSink, buf: &mut [u8]) -> bool {
        let recovered = self.recover_from_copy(idx, sink, buf);
        if let Some(open) = self.open.as_mut() {
            open.finish(idx, sink);
        }
        sink.generation_end(idx);
        if let Some(open) = self.open.as_ref() {
            // Its copy, if any, is not a generation to read again on a switch.
            self.read_before.truncated(open.fingerprint());
        }
        if let Some(open) = self.open.as_mut() {
            if let Err(e) = open.rewind() {
                let msg = format!("cannot read {}: {e}", self.path.display());
                self.set_state(idx, sink, FollowerState::Unreadable, msg);
                return false;
            }
        }
        self.open_base = 0;
        let msg = match recovered {
            Some((copy, n)) if n > 0 => format!(
                "{} was truncated; its last {n} bytes not read yet were read from its copy {}; \
                 reading it from the start",
                self.path.display(),
                copy.display()
            ),
            _ => format!(
                "{} was truncated; reading it from the start",
                self.path.display()
            ),
        };
        self.set_state(idx, sink, FollowerState::Truncated, msg);
        true
    }

    /// Copy-truncate copies the file, then truncates it: whatever the copy holds beyond the last
    /// byte we read would be lost for a reader that lagged behind. Finds the copy next to the
    /// file (same first bytes, same bytes before our offset, longer) and reads the rest from it.
    /// Returns the copy and how many bytes were read from it.
    fn recover_from_copy(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        buf: &mut [u8],
    ) -> Option<(PathBuf, u64)> {
        let open = self.open.as_mut()?;
        if open.offset == 0 {
            return None;
        }
        let target = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let name = target.file_name()?.to_owned();
        let now = SystemTime::now();
        let mut candidates: Vec<(SystemTime, PathBuf, u64)> =
            std::fs::read_dir(parent_dir(&target))
                .ok()?
                .flatten()
                .filter(|entry| {
                    let n = entry.file_name();
                    n != name && n.as_encoded_bytes().starts_with(name.as_encoded_bytes())
                })
                .filter_map(|entry| {
                    let path = entry.path();
                    let meta = std::fs::metadata(&path).ok()?;
                    let modified = meta.modified().ok()?;
                    let recent = now
                        .duration_since(modified)
                        .map_or(true, |age| age <= COPY_MAX_AGE);
                    (meta.is_file()
                        && meta.len() > open.offset
                        && recent
                        && file_id(&meta) != open.id)
                        .then_some((modified, path, meta.len()))
                })
                .collect();
        candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
        candidates.truncate(MAX_COPY_CANDIDATES);
        for (_, path, len) in candidates {
            let Ok(copy) = File::open(&path) else {
                continue;
            };
            if !matches!(open.same_content(&copy, len), Ok(true)) {
                continue;
            }
            let start = open.offset;
            while open.offset < len {
                let want = usize::try_from(len - open.offset)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                match read_at(&copy, &mut buf[..want], open.offset) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => open.consume(idx, sink, &buf[..n]),
                }
            }
            return Some((path, open.offset - start));
        }
        None
    }

    fn open_path(&mut self, config: &FollowConfig) -> io::Result<OpenFile> {
        let opened_at = SystemTime::now();
        let file = File::open(&self.path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        let existing_until = if self.opened_once { 0 } else { meta.len() };
        self.opened_once = true;
        let mut open = OpenFile::at(file, &meta, existing_until, 0, config)?;
        open.opened_at = opened_at;
        Ok(open)
    }

    /// Reads the generations rotated away between two checks: the path's siblings
    /// (`<name>.1`, `<name>-<date>`, ...; not compressed ones) modified after `since` that are
    /// neither open (the old file, the replaced files still read, the new file `new_id`) nor
    /// read already (see [`ReadGenerations`]), at most [`MAX_SIBLINGS`] of them (the newest),
    /// oldest first, each to its end. Each is then kept like a replaced file, for a writer that
    /// still appends to it.
    fn read_siblings(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        buf: &mut [u8],
        config: &FollowConfig,
        since: Option<SystemTime>,
        new_id: FileId,
    ) -> SiblingsRead {
        let Some(since) = since else {
            return SiblingsRead::default();
        };
        let since = since.checked_sub(SIBLING_MTIME_SLACK).unwrap_or(UNIX_EPOCH);
        let open_ids: Vec<FileId> = self
            .retired
            .iter()
            .map(|r| r.open.id)
            .chain([new_id])
            .collect();
        let mut chosen = Vec::new();
        let mut left_out = 0;
        let candidates = rotated_siblings(&self.path)
            .into_iter()
            .filter(|s| s.modified >= since && s.len > 0 && !open_ids.contains(&s.id))
            .take(MAX_SIBLING_CANDIDATES);
        for sibling in candidates {
            let Ok(file) = File::open(&sibling.path) else {
                continue;
            };
            let Ok(meta) = file.metadata() else {
                continue;
            };
            // Renamed on between the listing and the open: another generation is there now.
            if file_id(&meta) != sibling.id {
                continue;
            }
            let len = meta.len();
            // A copy of a file still open (copy-truncate's copy, a backup) holds nothing new.
            let copy_of_open = self
                .retired
                .iter()
                .any(|r| matches!(r.open.same_content(&file, len), Ok(true)));
            if copy_of_open {
                continue;
            }
            let Some(start) = self.read_before.start_for(sibling.id, &file, len) else {
                continue;
            };
            if chosen.len() < MAX_SIBLINGS {
                chosen.push((sibling.path, file, meta, start));
            } else {
                left_out += 1;
            }
        }
        let mut read = Vec::new();
        // Newest first until here: read the oldest first.
        for (path, file, meta, start) in chosen.into_iter().rev() {
            let Ok(mut open) = OpenFile::at(file, &meta, 0, start, config) else {
                continue;
            };
            let n = open.read_all(idx, sink, buf, &mut self.read_before);
            sink.generation_end(idx);
            if n > 0 {
                // As if it had been followed: a newer file grew, its writer moved over.
                let now = Instant::now();
                for r in &mut self.retired {
                    r.moved_over.get_or_insert(now);
                }
            }
            self.retired.push(Retired {
                open,
                last_growth: Instant::now(),
                moved_over: None,
            });
            read.push((path, n));
        }
        SiblingsRead { read, left_out }
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
        open.head_changed()
    }

    /// Reads the open handle up to its end or the budget; a truncation noticed on the way
    /// restarts it. Returns whether the budget was exhausted.
    fn drain(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        buf: &mut [u8],
        budget: usize,
    ) -> bool {
        let mut left = budget;
        loop {
            let Some(open) = self.open.as_mut() else {
                return false;
            };
            match open.read_into(idx, sink, buf, left) {
                Ok(r) if r.rewritten => {
                    left = left.saturating_sub(r.bytes);
                    if !self.restart(idx, sink, buf) {
                        return false;
                    }
                }
                Ok(r) => return r.more,
                Err(e) => {
                    let msg = format!("cannot read {}: {e}", self.path.display());
                    self.set_state(idx, sink, FollowerState::Unreadable, msg);
                    return false;
                }
            }
        }
    }

    /// Keeps reading replaced files: a writer that has not reopened its log (or never will)
    /// still appends to the old file. A replaced file is let go once a newer file at the path
    /// has grown (the writer moved over) and the replaced file has then been quiet for
    /// `retire_after`.
    fn drain_retired(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        buf: &mut [u8],
        config: &FollowConfig,
    ) {
        if self.retired.is_empty() {
            return;
        }
        let now = Instant::now();
        if self
            .open
            .as_ref()
            .is_some_and(|open| open.offset > self.open_base)
        {
            for r in &mut self.retired {
                r.moved_over.get_or_insert(now);
            }
        }
        let mut i = 0;
        while i < self.retired.len() {
            let r = &mut self.retired[i];
            if r.open.read_all(idx, sink, buf, &mut self.read_before) > 0 {
                r.last_growth = now;
                sink.generation_end(idx);
            }
            let quiet_since = r.moved_over.map(|moved| moved.max(r.last_growth));
            if quiet_since.is_some_and(|since| now.duration_since(since) >= config.retire_after) {
                let mut r = self.retired.remove(i);
                if r.open.finish(idx, sink) {
                    sink.generation_end(idx);
                }
                self.read_before.let_go(r.open.id, r.open.fingerprint());
            } else {
                i += 1;
            }
        }
    }

    /// At most `MAX_RETIRED` replaced files are kept: beyond that the oldest quiet one (or else
    /// the oldest) is read to its end and let go, and that is reported.
    fn limit_retired(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        buf: &mut [u8],
        config: &FollowConfig,
    ) {
        while self.retired.len() > MAX_RETIRED {
            let now = Instant::now();
            let quiet = |r: &Retired| now.duration_since(r.last_growth) >= config.retire_after;
            let victim = self
                .retired
                .iter()
                .position(|r| quiet(r) && r.moved_over.is_some())
                .or_else(|| self.retired.iter().position(quiet))
                .unwrap_or(0);
            let mut r = self.retired.remove(victim);
            if r.open.read_all(idx, sink, buf, &mut self.read_before) > 0 {
                r.last_growth = now;
                sink.generation_end(idx);
            }
            if r.open.finish(idx, sink) {
                sink.generation_end(idx);
            }
            self.read_before.let_go(r.open.id, r.open.fingerprint());
            let how = if quiet(&r) {
                format!(
                    "it had not grown for {:.1} s",
                    now.duration_since(r.last_growth).as_secs_f64()
                )
            } else {
                "it was still being written to: lines written to it from now on are not read"
                    .to_owned()
            };
            let state = self.state.unwrap_or(FollowerState::Following);
            sink.status(
                idx,
                state,
                format!(
                    "{}: stopped reading an older replaced file ({} replaced files were still \
                     open, at most {MAX_RETIRED} are kept; {how})",
                    self.path.display(),
                    MAX_RETIRED + 1
                ),
            );
        }
    }
}

/// The rotated siblings read on a switch.
#[derive(Debug, Default)]
struct SiblingsRead {
    /// Each one's path and the bytes read from it, in the order read.
    read: Vec<(PathBuf, usize)>,
    /// Older ones with unread content beyond [`MAX_SIBLINGS`], not read.
    left_out: usize,
}

/// What the status message says about the siblings read on a switch.
fn siblings_note(siblings: &SiblingsRead) -> String {
    let mut note = String::new();
    if !siblings.read.is_empty() {
        let files: Vec<String> = siblings
            .read
            .iter()
            .map(|(path, n)| format!("{} ({n} bytes)", path.display()))
            .collect();
        note = format!(
            "; first read {} generation(s) created and rotated away between two checks: {}",
            siblings.read.len(),
            files.join(", ")
        );
    }
    if siblings.left_out > 0 {
        note.push_str(&format!(
            "; {} older rotated file(s) not read (at most {MAX_SIBLINGS} per switch, the newest)",
            siblings.left_out
        ));
    }
    note
}

fn new_splitter(config: &FollowConfig) -> LineSplitter {
    LineSplitter::new(config.max_line_bytes).skipping_leading_nuls()
}

impl OpenFile {
    /// `file` as a generation read from `start`: 0, or where it was read to before (its first
    /// bytes and those before `start` are then taken from it). Lines that end before
    /// `existing_until` are `Existing`.
    fn at(
        file: File,
        meta: &Metadata,
        existing_until: u64,
        start: u64,
        config: &FollowConfig,
    ) -> io::Result<Self> {
        let mut open = OpenFile {
            file,
            id: file_id(meta),
            offset: 0,
            existing_until,
            head: Vec::new(),
            tail: Vec::new(),
            seen_size: meta.len(),
            seen_mtime: meta.modified().ok(),
            splitter: new_splitter(config),
            line_no: 0,
            opened_at: SystemTime::now(),
            discard_partial: false,
        };
        if start > 0 {
            let upto = usize::try_from(start).unwrap_or(usize::MAX);
            let mut head = vec![0u8; upto.min(HEAD_BYTES)];
            let mut tail = vec![0u8; upto.min(TAIL_BYTES)];
            let at = start - tail.len() as u64;
            if read_at(&open.file, &mut head, 0)? != head.len()
                || read_at(&open.file, &mut tail, at)? != tail.len()
            {
                return Err(io::Error::other("shorter than where it was read to"));
            }
            open.file.seek(SeekFrom::Start(start))?;
            open.discard_partial = tail.last() != Some(&b'\n');
            open.offset = start;
            open.head = head;
            open.tail = tail;
        }
        Ok(open)
    }

    /// What was consumed of this generation, to recognise it (or a copy of it) later.
    fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            head: self.head.clone(),
            tail: self.tail.clone(),
            offset: self.offset,
        }
    }

    /// Reads up to the end of the file or the budget. Stops without consuming a read that shows
    /// the file was truncated or rewritten meanwhile (`rewritten`).
    fn read_into(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        buf: &mut [u8],
        budget: usize,
    ) -> io::Result<ReadOutcome> {
        let mut out = ReadOutcome::default();
        loop {
            if out.bytes >= budget {
                out.more = true;
                return Ok(out);
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
                Ok(0) => return Ok(out),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // Checked after the read: if the file was truncated before it (even after the
            // check in `poll`), its first bytes differ now, and what was read at our old offset
            // is new content that the restart reads from the start. Reporting it here too
            // would report it twice.
            if self.offset > 0 && self.head_changed()? {
                out.rewritten = true;
                return Ok(out);
            }
            self.consume(idx, sink, &buf[..n]);
            out.bytes += n;
        }
    }

    /// Reads to the end, restarting from the start if the file was truncated (for a replaced
    /// file, which has no state of its own to report). Returns the bytes consumed.
    fn read_all(
        &mut self,
        idx: usize,
        sink: &mut dyn FollowSink,
        buf: &mut [u8],
        read_before: &mut ReadGenerations,
    ) -> usize {
        let mut total = 0;
        loop {
            match self.read_into(idx, sink, buf, usize::MAX) {
                Ok(r) if r.rewritten => {
                    total += r.bytes;
                    read_before.truncated(self.fingerprint());
                    self.finish(idx, sink);
                    sink.generation_end(idx);
                    if self.rewind().is_err() {
                        return total;
                    }
                }
                Ok(r) => return total + r.bytes,
                Err(_) => return total,
            }
        }
    }

    /// Takes `data`, the bytes at `offset`, as read.
    fn consume(&mut self, idx: usize, sink: &mut dyn FollowSink, data: &[u8]) {
        if self.head.len() < HEAD_BYTES && self.offset == self.head.len() as u64 {
            let take = (HEAD_BYTES - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
        }
        if data.len() >= TAIL_BYTES {
            self.tail.clear();
            self.tail
                .extend_from_slice(&data[data.len() - TAIL_BYTES..]);
        } else {
            let excess = (self.tail.len() + data.len()).saturating_sub(TAIL_BYTES);
            self.tail.drain(..excess);
            self.tail.extend_from_slice(data);
        }
        self.offset += data.len() as u64;
        let origin = self.origin();
        let mut data = data;
        if self.discard_partial {
            // The rest of a line whose start was consumed (and reported) before.
            match memchr::memchr(b'\n', data) {
                Some(nl) => {
                    data = &data[nl + 1..];
                    self.discard_partial = false;
                }
                None => data = &[],
            }
        }
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
                    complete: true,
                    origin,
                },
            );
        });
    }

    /// Do the first bytes of the file still read as what we consumed first?
    fn head_changed(&self) -> io::Result<bool> {
        if self.head.is_empty() {
            return Ok(false);
        }
        let mut now = [0u8; HEAD_BYTES];
        let now = &mut now[..self.head.len()];
        let n = read_at(&self.file, now, 0)?;
        Ok(now[..n] != self.head[..])
    }

    /// Does `other` (`len` bytes long) hold what we consumed, at the same offsets: our first
    /// bytes and the last bytes before our offset? Then it is a copy of this file and reading
    /// can continue in it at our offset.
    fn same_content(&self, other: &File, len: u64) -> io::Result<bool> {
        holds(&self.head, &self.tail, self.offset, other, len)
    }

    /// `self` is a new file holding `old`'s content: continue in it where `old` was, with
    /// `old`'s partial line and line count. `old` keeps being read (from its end) on its own.
    /// Changes nothing if it fails.
    fn continue_from(&mut self, old: &mut OpenFile, config: &FollowConfig) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(old.offset))?;
        self.offset = old.offset;
        self.existing_until = old.existing_until.min(old.offset);
        self.head.clone_from(&old.head);
        self.tail.clone_from(&old.tail);
        self.splitter = std::mem::replace(&mut old.splitter, new_splitter(config));
        self.line_no = old.line_no;
        self.discard_partial = std::mem::take(&mut old.discard_partial);
        Ok(())
    }

    fn origin(&self) -> LineOrigin {
        if self.offset <= self.existing_until {
            LineOrigin::Existing
        } else {
            LineOrigin::Appended
        }
    }

    /// Emits a partial last line, if any, flagged incomplete. Returns whether one was emitted.
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
                    complete: false,
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
        self.tail.clear();
        self.line_no = 0;
        self.opened_at = SystemTime::now();
        self.discard_partial = false;
        // A partial line of the old content was emitted by `finish`.
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
