//! Fast one-shot scan of log files for codes (`msgops codes`).
//!
//! Reads big chunks into one reused buffer and looks only at lines that contain `OTP` (found with
//! a SIMD substring search) or that a user pattern matches; everything else is skipped without
//! being decoded. Memory stays bounded by the chunk size per file whatever the file size: only
//! codes that pass the filters are kept, and only until the caller took them. It reads lines the
//! same way the follower's parser does (the shared `CodeReader`: recipients, clock). Everything
//! is read from the past, so a code line without a timestamp takes the last one before it,
//! flagged approximate; a last line without its newline is not read for codes.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};

use chrono::{DateTime, NaiveDateTime, Utc};
use memchr::memmem;

use crate::clock::LogClock;
use crate::event::{FallbackCode, LogClockInfo, RecipientQuery};
use crate::line::strip_cr;
use crate::parse::{decode, parse_log_timestamp, Attribution, CodeReader, ParserConfig};

/// What to look for.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Patterns, code length, lifetime and zone: read as the follower reads them.
    pub parser: ParserConfig,
    /// Decides expiry.
    pub now: DateTime<Utc>,
    pub include_expired: bool,
    /// Keep only codes whose recipient, or one of whose candidates, contains this (digits
    /// compared digits-only, so `0123` and `(416) 555-0123` both match `+14165550123`).
    pub recipient_contains: Option<String>,
    /// Read size; also the longest line examined (longer lines are cut).
    pub chunk_bytes: usize,
}

impl ScanOptions {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            parser: ParserConfig::default(),
            now,
            include_expired: false,
            recipient_contains: None,
            chunk_bytes: 1 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct ScanError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// What a scan did: how many codes it emitted, and the clock each file was read in.
#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    pub emitted: u64,
    pub clocks: Vec<LogClockInfo>,
}

/// Scans `paths` and calls `emit` with every code that passes the filters, oldest first (files
/// are merged by creation time; codes without a time come first).
pub fn scan_codes(
    paths: &[PathBuf],
    options: &ScanOptions,
    mut emit: impl FnMut(FallbackCode) -> io::Result<()>,
) -> Result<ScanReport, ScanError> {
    let mut scanners = Vec::with_capacity(paths.len());
    let mut clocks = Vec::with_capacity(paths.len());
    for path in paths {
        let clock = LogClock::for_file(options.parser.zone, path);
        clocks.push(clock.info().clone());
        let codes = file_codes(path, options, clock).map_err(|source| ScanError {
            path: path.clone(),
            source,
        })?;
        scanners.push(codes);
    }
    let err = |i: usize, source| ScanError {
        path: paths[i].clone(),
        source,
    };
    let mut heads: Vec<Option<FallbackCode>> = Vec::with_capacity(scanners.len());
    for (i, s) in scanners.iter_mut().enumerate() {
        heads.push(s.next().transpose().map_err(|e| err(i, e))?);
    }
    let mut count = 0;
    loop {
        let next = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|c| (c.created_at, i)))
            .min();
        let Some((_, i)) = next else {
            return Ok(ScanReport {
                emitted: count,
                clocks,
            });
        };
        let replacement = scanners[i].next().transpose().map_err(|e| err(i, e))?;
        if let Some(code) = std::mem::replace(&mut heads[i], replacement) {
            emit(code).map_err(|e| err(i, e))?;
            count += 1;
        }
    }
}

/// Files at least this big are scanned by two threads (first and second half).
const SPLIT_MIN_BYTES: u64 = 64 << 20;

type Codes<'o> = Box<dyn Iterator<Item = io::Result<FallbackCode>> + 'o>;

/// The codes of one file, in file order; big files are scanned in two halves at once.
fn file_codes<'o>(path: &Path, options: &'o ScanOptions, clock: LogClock) -> io::Result<Codes<'o>> {
    let label = path.display().to_string();
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    // MSGOPS_SCAN_SEQUENTIAL=1 turns the split off (for comparisons).
    let parallel = std::thread::available_parallelism().map_or(1, usize::from) >= 2
        && std::env::var_os("MSGOPS_SCAN_SEQUENTIAL").is_none();
    if !parallel || size < SPLIT_MIN_BYTES {
        return Ok(Box::new(CodeScanner::new(file, label, options, clock)));
    }
    let split = line_start_after(&file, size / 2)?;
    let context_start =
        line_start_after(&file, split.saturating_sub(options.chunk_bytes as u64))?.min(split);
    let (tx, rx) = sync_channel::<io::Result<FallbackCode>>(1024);
    let second = File::open(path)?;
    let options2 = options.clone();
    let label2 = label.clone();
    let clock2 = clock.clone();
    std::thread::spawn(move || {
        let run = || -> io::Result<()> {
            // Read the stretch before the split for context only (last timestamp, announced
            // recipient), so the second half reads lines as one sequential pass would.
            let mut warm = second.try_clone()?;
            warm.seek(SeekFrom::Start(context_start))?;
            let mut warmup = CodeScanner::new(
                warm.take(split - context_start),
                label2.clone(),
                &options2,
                clock2.clone(),
            );
            for code in warmup.by_ref() {
                code?;
            }
            let mut rest = second;
            rest.seek(SeekFrom::Start(split))?;
            let mut scanner = CodeScanner::new(rest, label2, &options2, clock2);
            scanner.state.codes = warmup.state.codes;
            scanner.state.carry_ts = warmup.state.carry_ts;
            for code in scanner {
                if tx.send(code).is_err() {
                    break; // the reader stopped
                }
            }
            Ok(())
        };
        if let Err(e) = run() {
            let _ = tx.send(Err(e));
        }
    });
    // `line_start_after` moved the shared file offset: start the first half at 0.
    let mut file = file;
    file.seek(SeekFrom::Start(0))?;
    let first = CodeScanner::new(file.take(split), label, options, clock);
    Ok(Box::new(TwoHalves {
        first,
        second: rx,
        first_lines: None,
    }))
}

/// Yields the first half's codes, then the second half's with line numbers shifted by the first
/// half's line count.
struct TwoHalves<'o> {
    first: CodeScanner<'o, io::Take<File>>,
    second: Receiver<io::Result<FallbackCode>>,
    first_lines: Option<u64>,
}

impl Iterator for TwoHalves<'_> {
    type Item = io::Result<FallbackCode>;

    fn next(&mut self) -> Option<Self::Item> {
        let shift = match self.first_lines {
            Some(n) => n,
            None => match self.first.next() {
                Some(code) => return Some(code),
                None => *self.first_lines.insert(self.first.line_base),
            },
        };
        let mut code = self.second.recv().ok()?;
        if let Ok(c) = code.as_mut() {
            c.line += shift;
        }
        Some(code)
    }
}

/// The offset of the first line that starts at or after `pos`.
fn line_start_after(file: &File, pos: u64) -> io::Result<u64> {
    if pos == 0 {
        return Ok(0);
    }
    let mut f = file.try_clone()?;
    f.seek(SeekFrom::Start(pos - 1))?;
    let mut buf = vec![0u8; 64 << 10];
    let mut at = pos - 1;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(at);
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(at + i as u64 + 1);
        }
        at += n as u64;
    }
}

/// Codes of one file, in file order.
pub struct CodeScanner<'o, R> {
    reader: R,
    buf: Vec<u8>,
    filled: usize,
    eof: bool,
    /// Inside a line longer than the buffer: drop bytes up to its newline.
    skipping: bool,
    /// Newlines consumed before `buf[0]`.
    line_base: u64,
    state: ScanState<'o>,
}

struct ScanState<'o> {
    options: &'o ScanOptions,
    label: String,
    finder: memmem::Finder<'static>,
    codes: CodeReader,
    /// Timestamp of the last timestamped line before `buf[0]`.
    carry_ts: Option<NaiveDateTime>,
    found: VecDeque<FallbackCode>,
    candidates: Vec<usize>,
    query: Option<RecipientQuery>,
    /// Without expired codes wanted, lines stamped before this (log time) cannot matter: a
    /// code still valid was written after `now - lifetime`, its announcement at most a window
    /// before, and an hour of slack covers a DST change.
    skip_before: Option<NaiveDateTime>,
    skipped: bool,
    /// The first timestamp of the file was seen.
    started: bool,
}

impl<'o, R: Read> CodeScanner<'o, R> {
    pub fn new(reader: R, label: String, options: &'o ScanOptions, clock: LogClock) -> Self {
        let query = options
            .recipient_contains
            .as_deref()
            .map(RecipientQuery::new);
        let skip_before = if options.include_expired {
            None
        } else {
            let horizon = options.parser.expiry.ttl
                + crate::parse::recipients::ANNOUNCEMENT_WINDOW * 2
                + chrono::TimeDelta::hours(1);
            options
                .now
                .checked_sub_signed(horizon)
                .map(|t| clock.wall(t))
        };
        Self {
            reader,
            buf: vec![0; options.chunk_bytes.max(4096)],
            filled: 0,
            eof: false,
            skipping: false,
            line_base: 0,
            state: ScanState {
                options,
                label,
                finder: memmem::Finder::new(b"OTP"),
                codes: CodeReader::new(clock),
                carry_ts: None,
                found: VecDeque::new(),
                candidates: Vec::new(),
                query,
                skip_before,
                skipped: false,
                started: false,
            },
        }
    }

    /// Reads and scans the next chunk.
    fn advance(&mut self) -> io::Result<()> {
        let start = self.filled;
        while self.filled < self.buf.len() {
            match self.reader.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.eof && self.filled == start && start == 0 {
            return Ok(());
        }
        let mut begin = 0;
        if self.skipping {
            match memchr::memchr(b'\n', &self.buf[..self.filled]) {
                Some(nl) => {
                    self.skipping = false;
                    self.line_base += 1;
                    begin = nl + 1;
                }
                None => {
                    self.filled = 0;
                    return Ok(());
                }
            }
        }
        let data = &self.buf[begin..self.filled];
        let end = match memchr::memrchr(b'\n', data) {
            Some(nl) => nl + 1,
            None if self.eof => {
                self.state.scan_region_partial(data);
                self.filled = 0;
                return Ok(());
            }
            None => {
                // One line fills the whole buffer: examine what we have, skip the rest.
                self.state.scan_region(data, self.line_base);
                self.skipping = true;
                self.filled = 0;
                return Ok(());
            }
        };
        let region = &data[..end];
        let newlines = self.state.scan_region(region, self.line_base);
        self.line_base += newlines;
        let consumed = begin + end;
        self.buf.copy_within(consumed..self.filled, 0);
        self.filled -= consumed;
        if self.eof && self.filled > 0 {
            // The final line without a newline: still being written, or cut. Context only.
            let rest = &self.buf[..self.filled];
            self.state.scan_region_partial(rest);
            self.filled = 0;
        }
        Ok(())
    }
}

impl<R: Read> Iterator for CodeScanner<'_, R> {
    type Item = io::Result<FallbackCode>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(code) = self.state.found.pop_front() {
                return Some(Ok(code));
            }
            if self.eof && self.filled == 0 {
                return None;
            }
            if let Err(e) = self.advance() {
                self.eof = true;
                self.filled = 0;
                return Some(Err(e));
            }
        }
    }
}

impl ScanState<'_> {
    /// Scans whole lines (`region` starts at a line start; its last line may lack a newline at
    /// the end of the file). Returns the number of newlines in it.
    fn scan_region(&mut self, region: &[u8], line_base: u64) -> u64 {
        if !self.started {
            // The file's first timestamp starts its first window (see `parse::recipients`).
            if let Some(ts) = region
                .split(|&b| b == b'\n')
                .take(64)
                .find_map(|l| parse_log_timestamp(l).map(|(t, _)| t))
            {
                self.started = true;
                self.codes.note_time(ts);
            }
        }
        self.candidates.clear();
        self.candidates.extend(self.finder.find_iter(region));
        if !self.options.parser.patterns.is_empty() {
            for p in &self.options.parser.patterns {
                self.candidates
                    .extend(p.chunk_regex().find_iter(region).map(|m| m.start()));
            }
            self.candidates.sort_unstable();
        }
        let mut newlines = 0u64;
        let mut counted_to = 0usize;
        let mut next_line = 0usize;
        // "The last timestamp before position .0 is .1": makes timestamp look-ups linear.
        let mut ts_cache = (0usize, self.carry_ts);
        let candidates = std::mem::take(&mut self.candidates);
        for &pos in &candidates {
            if pos < next_line {
                continue;
            }
            let line_start = memchr::memrchr(b'\n', &region[..pos]).map_or(0, |i| i + 1);
            let line_end = memchr::memchr(b'\n', &region[pos..]).map_or(region.len(), |i| pos + i);
            next_line = line_end + 1;
            let raw = strip_cr(&region[line_start..line_end]);
            let line_ts = parse_log_timestamp(raw).map(|(t, _)| t);
            if let Some(ts) = line_ts {
                ts_cache = (next_line.min(region.len()), Some(ts));
                if let Some(cutoff) = self.skip_before {
                    if ts < cutoff {
                        // Too old to matter to any code still valid: not even read.
                        self.skipped = true;
                        continue;
                    }
                    self.skip_before = None;
                    if self.skipped {
                        // Start as after lost lines: what was skipped is unknown here.
                        self.codes.lines_may_be_lost(Some(cutoff));
                    }
                }
            }
            let line = decode(raw);
            let found = self.codes.read(
                &line,
                line_ts,
                || {
                    let ts = ts_before(region, line_start, ts_cache);
                    ts_cache = (line_start, ts);
                    ts
                },
                None,
                &self.options.parser,
            );
            if let Some(found) = found {
                // Filter before allocating anything: most codes of a big log are expired.
                let expired = self
                    .options
                    .parser
                    .expiry
                    .is_expired(found.created_at, self.options.now);
                if (expired && !self.options.include_expired)
                    || !self.recipient_matches(&found.attribution)
                {
                    continue;
                }
                // Lines are counted only up to a code that is kept, then once at the end.
                newlines += count_newlines(&region[counted_to..line_start]);
                counted_to = line_start;
                let line_no = line_base + newlines + 1;
                let code = found.into_event(
                    &self.options.parser.expiry,
                    self.options.now,
                    self.label.clone(),
                    line_no,
                );
                self.found.push_back(code);
            }
        }
        self.candidates = candidates;
        newlines += count_newlines(&region[counted_to.min(region.len())..]);
        self.carry_ts = ts_before(region, region.len(), ts_cache);
        newlines
    }

    /// A final line without its newline: its timestamp is context for what follows (nothing
    /// does, at the end of a file), and it is never read for a code.
    fn scan_region_partial(&mut self, region: &[u8]) {
        if let Some((ts, _)) = parse_log_timestamp(strip_cr(region)) {
            self.carry_ts = Some(ts);
        }
    }

    fn recipient_matches(&self, attribution: &Attribution) -> bool {
        let Some(query) = &self.query else {
            return true;
        };
        match attribution {
            Attribution::Certain(r) => query.matches(r),
            Attribution::OneOf(candidates) => candidates.iter().any(|r| query.matches(r)),
            Attribution::Unknown => false,
        }
    }
}

fn count_newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// The timestamp of the nearest timestamped line starting before `pos`, looking back no further
/// than `cache.0` (before which the answer is `cache.1`).
fn ts_before(
    region: &[u8],
    pos: usize,
    cache: (usize, Option<NaiveDateTime>),
) -> Option<NaiveDateTime> {
    let mut end = pos;
    loop {
        if end <= cache.0 || end == 0 {
            return cache.1;
        }
        let prev_end = end - 1; // the newline ending the previous line
        let prev_start = memchr::memrchr(b'\n', &region[..prev_end]).map_or(0, |i| i + 1);
        if let Some((ts, _)) = parse_log_timestamp(&region[prev_start..prev_end]) {
            return Some(ts);
        }
        end = prev_start;
    }
}

/// Convenience for tests and small inputs: every code of one file, unfiltered by recipient.
pub fn scan_file(path: &Path, options: &ScanOptions) -> Result<Vec<FallbackCode>, ScanError> {
    let mut out = Vec::new();
    scan_codes(&[path.to_path_buf()], options, |c| {
        out.push(c);
        Ok(())
    })?;
    Ok(out)
}
