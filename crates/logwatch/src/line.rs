//! Splits a byte stream into lines in bounded memory.
//!
//! A partial line waits for its newline; `\r\n` loses its `\r`; a line longer than the cap keeps
//! its first `cap` bytes, is flagged as truncated, and the rest is dropped up to the newline. The
//! buffer must never grow past the cap, whatever the input. Optionally NUL bytes at the start of a
//! line are skipped: a writer that keeps its old offset after its file was truncated (it did not
//! open it with `O_APPEND`) leaves a hole of NULs before what it writes next, and that hole is not
//! a line.

/// Incremental line splitter; one per followed file.
#[derive(Debug)]
pub struct LineSplitter {
    pending: Vec<u8>,
    cap: usize,
    overflowed: bool,
    skip_leading_nuls: bool,
}

/// Default line cap: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

impl LineSplitter {
    /// `cap` is the longest line kept (at least 1 byte).
    pub fn new(cap: usize) -> Self {
        Self {
            pending: Vec::new(),
            cap: cap.max(1),
            overflowed: false,
            skip_leading_nuls: false,
        }
    }

    /// Skips NUL bytes at the start of every line (a hole left in a truncated file is not part
    /// of the line written after it).
    #[must_use]
    pub fn skipping_leading_nuls(mut self) -> Self {
        self.skip_leading_nuls = true;
        self
    }

    /// No partial line is held: the next byte pushed starts a line.
    pub fn at_line_start(&self) -> bool {
        self.pending.is_empty() && !self.overflowed
    }

    /// Feeds bytes; calls `emit(line, truncated)` for each completed line.
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8], bool)) {
        loop {
            if self.skip_leading_nuls && self.at_line_start() {
                let start = data.iter().position(|&b| b != 0).unwrap_or(data.len());
                data = &data[start..];
            }
            let Some(nl) = memchr::memchr(b'\n', data) else {
                break;
            };
            let piece = &data[..nl];
            if self.pending.is_empty() && !self.overflowed {
                if piece.len() > self.cap {
                    emit(&piece[..self.cap], true);
                } else {
                    emit(strip_cr(piece), false);
                }
            } else {
                self.append(piece);
                // A cut line keeps its bytes as they were: a `\r` at the cut is not a line end.
                let line = if self.overflowed {
                    &self.pending[..]
                } else {
                    strip_cr(&self.pending)
                };
                emit(line, self.overflowed);
                self.pending.clear();
                self.overflowed = false;
            }
            data = &data[nl + 1..];
        }
        if !data.is_empty() {
            self.append(data);
        }
    }

    /// Emits the partial line, if any, as a final line (the file ended without a newline and will
    /// not be continued: it was truncated, rotated away or let go). Such a line is incomplete:
    /// its end may be missing.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8], bool)) {
        if !self.pending.is_empty() || self.overflowed {
            let line = if self.overflowed {
                &self.pending[..]
            } else {
                strip_cr(&self.pending)
            };
            emit(line, self.overflowed);
        }
        self.pending.clear();
        self.overflowed = false;
    }

    /// Bytes of the partial line currently held (never more than the cap).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Allocated capacity of the partial-line buffer (never more than the cap).
    pub fn pending_capacity(&self) -> usize {
        self.pending.capacity()
    }

    fn append(&mut self, piece: &[u8]) {
        let room = self.cap - self.pending.len();
        let take = piece.len().min(room);
        if take < piece.len() {
            self.overflowed = true;
        }
        if take > 0 {
            let want = self.pending.len() + take;
            if want > self.pending.capacity() {
                // Grow geometrically but never past the cap.
                let target = (self.pending.capacity() * 2).clamp(want, self.cap);
                self.pending.reserve_exact(target - self.pending.len());
            }
            self.pending.extend_from_slice(&piece[..take]);
        }
    }
}

/// Drops one trailing `\r`.
pub fn strip_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], cap: usize) -> Vec<(Vec<u8>, bool)> {
        let mut s = LineSplitter::new(cap);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, |l, t| out.push((l.to_vec(), t)));
        }
        out
    }

    #[test]
    fn partial_line_waits_for_its_newline() {
        let out = split(&[b"abc", b"def\ngh", b"i\n"], 100);
        assert_eq!(
            out,
            vec![(b"abcdef".to_vec(), false), (b"ghi".to_vec(), false)]
        );
    }

    #[test]
    fn crlf_loses_its_carriage_return_even_when_split_between_chunks() {
        let out = split(&[b"one\r", b"\ntwo\r\n"], 100);
        assert_eq!(
            out,
            vec![(b"one".to_vec(), false), (b"two".to_vec(), false)]
        );
    }

    #[test]
    fn overlong_line_is_cut_at_the_cap_and_flagged() {
        let out = split(&[b"0123456789", b"abcdef\nok\n"], 4);
        assert_eq!(out, vec![(b"0123".to_vec(), true), (b"ok".to_vec(), false)]);
        let out = split(&[b"0123456789\nok\n"], 4);
        assert_eq!(out, vec![(b"0123".to_vec(), true), (b"ok".to_vec(), false)]);
    }

    #[test]
    fn finish_emits_a_partial_last_line_once() {
        let mut s = LineSplitter::new(10);
        let mut out = Vec::new();
        s.push(b"tail", |l, t| out.push((l.to_vec(), t)));
        s.finish(|l, t| out.push((l.to_vec(), t)));
        s.finish(|l, t| out.push((l.to_vec(), t)));
        assert_eq!(out, vec![(b"tail".to_vec(), false)]);
    }

    #[test]
    fn leading_nuls_are_skipped_only_when_asked_and_only_at_a_line_start() {
        let mut s = LineSplitter::new(100).skipping_leading_nuls();
        let mut out = Vec::new();
        for chunk in [&b"\0\0\0"[..], b"\0\0one\n\0\0tw", b"o\0\n\0\0\n"] {
            s.push(chunk, |l, t| out.push((l.to_vec(), t)));
        }
        assert_eq!(
            out,
            vec![
                (b"one".to_vec(), false),
                (b"two\0".to_vec(), false),
                (b"".to_vec(), false)
            ]
        );
        let out = split(&[b"\0a\n"], 100);
        assert_eq!(out, vec![(b"\0a".to_vec(), false)]);
    }
}
