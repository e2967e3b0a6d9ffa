//! The rotated generations next to a followed file (`<name>.1`, `<name>-20261202`,
//! `<name>.2026-12-02_10-00`, `<name>.1.log`, ...), and what of them was read already.
//!
//! A generation that is created, written and rotated away again between two polls is never
//! the file at the path when the follower looks: on a switch the follower finds it among these
//! siblings and reads it before the new file. [`ReadGenerations`] remembers what was read of
//! the generations it let go (and what the siblings held when following started), so that none
//! is ever read twice: a sibling is recognised by its content (its first bytes and the bytes
//! before the offset read to, which also recognises a copy) or else by its device and inode.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{file_id, parent_dir, read_at, FileId, HEAD_BYTES, TAIL_BYTES};

/// Most rotated siblings read on one switch: the newest ones.
pub const MAX_SIBLINGS: usize = 8;

/// Most siblings opened and compared on one switch (newest first).
pub(super) const MAX_CANDIDATES: usize = 32;

/// Generations remembered by device and inode with the bytes read of them.
const MAX_RECORDS: usize = 1024;

/// Of those, how many (the newest) are also remembered by their content.
const MAX_CONTENT_RECORDS: usize = 32;

/// Compressed generations are not logs to read.
const COMPRESSED: &[&str] = &[
    ".gz", ".xz", ".bz2", ".zst", ".lz4", ".lzma", ".lzo", ".z", ".zip", ".7z",
];

/// Is `candidate` the name of a rotated generation of `followed`: the followed name, a
/// separator (`.`, `-`, `_`), a digit and anything after it, not compressed?
pub(super) fn is_rotated_name(followed: &OsStr, candidate: &OsStr) -> bool {
    let Some(suffix) = candidate
        .as_encoded_bytes()
        .strip_prefix(followed.as_encoded_bytes())
    else {
        return false;
    };
    let [sep, first, ..] = suffix else {
        return false;
    };
    if !matches!(sep, b'.' | b'-' | b'_') || !first.is_ascii_digit() {
        return false;
    }
    let lower = suffix.to_ascii_lowercase();
    !COMPRESSED.iter().any(|ext| lower.ends_with(ext.as_bytes()))
}

/// A regular file next to the followed one named like one of its rotated generations.
#[derive(Debug)]
pub(super) struct Sibling {
    pub path: PathBuf,
    pub id: FileId,
    pub len: u64,
    pub modified: SystemTime,
}

/// The rotated generations next to `path` (a symlink's target), newest first (by modification
/// time, then by inode).
pub(super) fn rotated_siblings(path: &Path) -> Vec<Sibling> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let Some(name) = target.file_name() else {
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir(parent_dir(&target)) else {
        return Vec::new();
    };
    let mut out: Vec<Sibling> = dir
        .flatten()
        .filter(|entry| is_rotated_name(name, &entry.file_name()))
        .filter_map(|entry| {
            let path = entry.path();
            let meta = std::fs::metadata(&path).ok()?;
            meta.is_file().then_some(())?;
            Some(Sibling {
                id: file_id(&meta),
                len: meta.len(),
                modified: meta.modified().ok()?,
                path,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.modified
            .cmp(&a.modified)
            .then_with(|| b.id.ino.cmp(&a.id.ino))
    });
    out
}

/// Does `other` (`len` bytes long) hold `head` at its start and `tail` just before `offset`?
/// Then it holds the content read up to `offset` (it is that file, or a copy of it).
pub(super) fn holds(
    head: &[u8],
    tail: &[u8],
    offset: u64,
    other: &File,
    len: u64,
) -> io::Result<bool> {
    if offset == 0 || len < offset || head.is_empty() {
        return Ok(false);
    }
    let mut bytes = vec![0u8; head.len().max(tail.len())];
    let got = &mut bytes[..head.len()];
    if read_at(other, got, 0)? != head.len() || *got != *head {
        return Ok(false);
    }
    let got = &mut bytes[..tail.len()];
    let at = offset - tail.len() as u64;
    Ok(read_at(other, got, at)? == tail.len() && *got == *tail)
}

/// What was read of a generation: its first bytes and the last bytes before `offset`.
#[derive(Debug, Clone)]
pub(super) struct Fingerprint {
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
    pub offset: u64,
}

impl Fingerprint {
    /// The first bytes and the bytes before `len` of the file at `path`.
    fn of_file(path: &Path, len: u64) -> Option<Self> {
        let file = File::open(path).ok()?;
        let mut head = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX).min(HEAD_BYTES)];
        if read_at(&file, &mut head, 0).ok()? != head.len() {
            return None;
        }
        let mut tail = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX).min(TAIL_BYTES)];
        let at = len - tail.len() as u64;
        if read_at(&file, &mut tail, at).ok()? != tail.len() {
            return None;
        }
        Some(Self {
            head,
            tail,
            offset: len,
        })
    }
}

#[derive(Debug)]
struct Record {
    /// `None` for content that is gone from its file (truncated): only a copy can hold it.
    id: Option<FileId>,
    /// Bytes of it read (or present when following started).
    len: u64,
    content: Option<Fingerprint>,
}

/// Generations no longer open whose content was read (or was there before following started),
/// bounded: [`MAX_RECORDS`] by device and inode, the newest [`MAX_CONTENT_RECORDS`] of them
/// also by content.
#[derive(Debug, Default)]
pub(super) struct ReadGenerations {
    records: VecDeque<Record>,
}

impl ReadGenerations {
    /// The generation `id` was read up to `content.offset` and let go.
    pub fn let_go(&mut self, id: FileId, content: Fingerprint) {
        self.records.retain(|r| r.id != Some(id));
        let len = content.offset;
        self.push(Record {
            id: Some(id),
            len,
            content: (len > 0).then_some(content),
        });
    }

    /// A generation read up to `content.offset` was truncated: its content is now only in a
    /// copy, if anywhere (copy-truncate's), and that copy is not to be read again.
    pub fn truncated(&mut self, content: Fingerprint) {
        if content.offset > 0 {
            self.push(Record {
                id: None,
                len: content.offset,
                content: Some(content),
            });
        }
    }

    /// Following starts: what the siblings hold now was there before (it is context, never
    /// read at a switch), like the followed file's existing content.
    pub fn note_present(&mut self, path: &Path) {
        let siblings = rotated_siblings(path);
        let kept = siblings.len().min(MAX_RECORDS);
        // Oldest first, so that the newest are the last ones kept with their content.
        for (i, s) in siblings.into_iter().take(kept).enumerate().rev() {
            let content = (i < MAX_CONTENT_RECORDS && s.len > 0)
                .then(|| Fingerprint::of_file(&s.path, s.len))
                .flatten();
            self.records.retain(|r| r.id != Some(s.id));
            self.push(Record {
                id: Some(s.id),
                len: s.len,
                content,
            });
        }
    }

    fn push(&mut self, record: Record) {
        self.records.push_back(record);
        let mut with_content = 0;
        for r in self.records.iter_mut().rev() {
            if r.content.is_some() {
                with_content += 1;
                if with_content > MAX_CONTENT_RECORDS {
                    r.content = None;
                }
            }
        }
        self.records
            .retain(|r| r.id.is_some() || r.content.is_some());
        while self.records.len() > MAX_RECORDS {
            self.records.pop_front();
        }
    }

    /// Where reading the sibling `id` (`file`, `len` bytes long) starts: after what was read of
    /// it (or of the generation it is a copy of), or at 0 for a generation never read. `None`
    /// when it holds nothing that was not read.
    pub fn start_for(&self, id: FileId, file: &File, len: u64) -> Option<u64> {
        let mut head = vec![0u8; HEAD_BYTES];
        let got = read_at(file, &mut head, 0).ok()?;
        head.truncate(got);
        let mut by_content: Option<u64> = None;
        let mut reused = false;
        let mut by_id: Option<u64> = None;
        for r in &self.records {
            match &r.content {
                Some(c) => {
                    let same = c.offset <= len
                        && head.starts_with(&c.head)
                        && matches!(holds(&c.head, &c.tail, c.offset, file, len), Ok(true));
                    if same {
                        by_content = Some(by_content.map_or(c.offset, |o| o.max(c.offset)));
                    } else if r.id == Some(id) {
                        // The same inode with other content: the number was reused by a new
                        // file after the generation read was deleted.
                        reused = true;
                    }
                }
                None if r.id == Some(id) => by_id = Some(r.len),
                None => {}
            }
        }
        let start = match (by_content, by_id) {
            (Some(offset), _) => offset,
            (None, Some(read)) if !reused => read,
            _ => 0,
        };
        (len > start).then_some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotated(followed: &str, candidate: &str) -> bool {
        is_rotated_name(OsStr::new(followed), OsStr::new(candidate))
    }

    #[test]
    fn rotated_names_are_the_name_a_separator_and_a_digit_not_compressed() {
        for yes in [
            "backend.log.1",
            "backend.log.12",
            "backend.log.2026-12-02",
            "backend.log-20261202",
            "backend.log.2026-12-02_10-00",
            "backend.log.1.log",
            "backend.log_1",
            "backend.log.2026-12-02_10-00-00.0001",
        ] {
            assert!(rotated("backend.log", yes), "{yes}");
        }
        for no in [
            "backend.log",
            "backend.log.1.gz",
            "backend.log-20261202.xz",
            "backend.log.2.bz2",
            "backend.log.3.zst",
            "backend.log.3.GZ",
            "backend.log.tmp",
            "backend.log.copy",
            "backend.log-worker2",
            "backend.log.",
            "backend.logs.1",
            "other.log.1",
            "backend.lo",
        ] {
            assert!(!rotated("backend.log", no), "{no}");
        }
    }

    fn file_with(dir: &Path, name: &str, content: &str) -> (File, FileId, u64) {
        let path = dir.join(name);
        std::fs::write(&path, content).expect("write");
        let file = File::open(&path).expect("open");
        let meta = file.metadata().expect("metadata");
        (file, file_id(&meta), meta.len())
    }

    fn read_to(content: &str, offset: usize) -> Fingerprint {
        let bytes = content.as_bytes();
        Fingerprint {
            head: bytes[..offset.min(HEAD_BYTES)].to_vec(),
            tail: bytes[offset.saturating_sub(TAIL_BYTES)..offset].to_vec(),
            offset: offset as u64,
        }
    }

    #[test]
    fn a_sibling_starts_after_what_was_read_of_it_or_of_what_it_is_a_copy_of() {
        let dir = tempfile::tempdir().expect("tempdir");
        let content = "first line\nsecond line\n";
        let (file, id, len) = file_with(dir.path(), "app.log.1", content);
        let mut read = ReadGenerations::default();
        assert_eq!(read.start_for(id, &file, len), Some(0), "never read");

        read.let_go(id, read_to(content, 11));
        assert_eq!(read.start_for(id, &file, len), Some(11), "read up to there");
        read.let_go(id, read_to(content, content.len()));
        assert_eq!(read.start_for(id, &file, len), None, "read to its end");

        // A copy (another inode) of what was read holds nothing new.
        let (copy, copy_id, copy_len) = file_with(dir.path(), "app.log-20261202", content);
        assert_eq!(read.start_for(copy_id, &copy, copy_len), None);

        // The same inode number with other content: a new file reusing it.
        let other = "another generation\n";
        let (reused, _, reused_len) = file_with(dir.path(), "app.log.2", other);
        assert_eq!(read.start_for(id, &reused, reused_len), Some(0));

        // Known by inode only (its content forgotten): read past what was read of it.
        let (known, known_id, known_len) =
            file_with(dir.path(), "app.log.3", "a third one\nand more\n");
        read.push(Record {
            id: Some(known_id),
            len: 11,
            content: None,
        });
        assert_eq!(read.start_for(known_id, &known, known_len), Some(11));
        read.push(Record {
            id: Some(known_id),
            len: known_len,
            content: None,
        });
        assert_eq!(read.start_for(known_id, &known, known_len), None);
    }

    #[test]
    fn records_are_bounded_and_only_the_newest_keep_their_content() {
        let mut read = ReadGenerations::default();
        for ino in 0..(MAX_RECORDS as u64 + 10) {
            read.let_go(
                FileId { dev: 1, ino },
                Fingerprint {
                    head: b"x".to_vec(),
                    tail: b"x".to_vec(),
                    offset: 1,
                },
            );
        }
        assert_eq!(read.records.len(), MAX_RECORDS);
        let with_content = read.records.iter().filter(|r| r.content.is_some()).count();
        assert_eq!(with_content, MAX_CONTENT_RECORDS);
        assert!(read.records.back().is_some_and(|r| r.content.is_some()));
        // Content-only records (truncated generations) go once their content is dropped.
        for _ in 0..(MAX_CONTENT_RECORDS + 5) {
            read.truncated(Fingerprint {
                head: b"y".to_vec(),
                tail: b"y".to_vec(),
                offset: 1,
            });
        }
        let content_only = read.records.iter().filter(|r| r.id.is_none()).count();
        assert_eq!(content_only, MAX_CONTENT_RECORDS);
    }
}
