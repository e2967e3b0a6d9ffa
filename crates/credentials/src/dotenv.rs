//! Byte-level reading and rewriting of `.env` files.
//!
//! Works on bytes, not strings, so that a stray non-UTF-8 byte, CRLF line endings or odd
//! spacing survive a rewrite untouched: every line that is not replaced is written back byte
//! for byte. The rewrite is atomic (temp file in the same directory, fsync, rename): an
//! interruption at any point leaves either the old file or the new one, never half of each.
//!
//! Never put line *content* into a diagnostic: a malformed line may hold a secret.

use std::io::Write;
use std::path::Path;

/// One physical line: content without its terminator, and the terminator (`\n`, `\r\n` or
/// nothing for a last line without newline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLine<'a> {
    /// 1-based line number.
    pub number: usize,
    pub content: &'a [u8],
    pub terminator: &'a [u8],
}

/// Splits into lines such that concatenating `content + terminator` gives back `bytes`.
pub fn split_lines(bytes: &[u8]) -> Vec<RawLine<'_>> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut number = 1;
    while start < bytes.len() {
        let (content_end, next) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(offset) => {
                let nl = start + offset;
                let content_end = if nl > start && bytes[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (content_end, nl + 1)
            }
            None => (bytes.len(), bytes.len()),
        };
        lines.push(RawLine {
            number,
            content: &bytes[start..content_end],
            terminator: &bytes[content_end..next],
        });
        start = next;
        number += 1;
    }
    lines
}

/// What a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Blank,
    Comment,
    /// `[export ]NAME=value`, value unquoted/unescaped (raw bytes; may not be UTF-8).
    Assignment {
        name: String,
        value: Vec<u8>,
    },
    /// A `NAME=...` line whose value could not be read; the name is known.
    BadValue {
        name: String,
        reason: &'static str,
    },
    /// Not an assignment at all.
    Malformed {
        reason: &'static str,
    },
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_space(*first) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., last] = s {
        if is_space(*last) || *last == b'\r' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Parses one line's content (as from [`split_lines`]).
pub fn parse_line(content: &[u8]) -> LineKind {
    let line = trim_end(trim_start(content));
    if line.is_empty() {
        return LineKind::Blank;
    }
    if line[0] == b'#' {
        return LineKind::Comment;
    }
    let mut rest = line;
    if let Some(after) = rest.strip_prefix(b"export") {
        if after.first().copied().is_some_and(is_space) {
            rest = trim_start(after);
        }
    }
    let name_len = rest
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'.'))
        .unwrap_or(rest.len());
    let name_bytes = &rest[..name_len];
    if name_bytes.is_empty() || name_bytes[0].is_ascii_digit() {
        return LineKind::Malformed {
            reason: "not a NAME=value line",
        };
    }
    let name = String::from_utf8_lossy(name_bytes).into_owned();
    let after_name = trim_start(&rest[name_len..]);
    let Some(value_part) = after_name.strip_prefix(b"=") else {
        return LineKind::Malformed {
            reason: "no '=' after the variable name",
        };
    };
    match parse_value(trim_start(value_part)) {
        Ok(value) => LineKind::Assignment { name, value },
        Err(reason) => LineKind::BadValue { name, reason },
    }
}

fn parse_value(v: &[u8]) -> Result<Vec<u8>, &'static str> {
    match v.first() {
        Some(b'"') => {
            let mut out = Vec::new();
            let mut i = 1;
            while i < v.len() {
                match v[i] {
                    b'\\' if i + 1 < v.len() => {
                        match v[i + 1] {
                            b'n' => out.push(b'\n'),
                            b'r' => out.push(b'\r'),
                            b't' => out.push(b'\t'),
                            b'"' => out.push(b'"'),
                            b'\\' => out.push(b'\\'),
                            b'$' => out.push(b'$'),
                            other => out.extend_from_slice(&[b'\\', other]),
                        }
                        i += 2;
                    }
                    b'"' => return after_closing_quote(&v[i + 1..]).map(|()| out),
                    b => {
                        out.push(b);
                        i += 1;
                    }
                }
            }
            Err("double quote not closed on this line (multi-line values are not supported)")
        }
        Some(b'\'') => match v[1..].iter().position(|&b| b == b'\'') {
            Some(end) => after_closing_quote(&v[1 + end + 1..]).map(|()| v[1..1 + end].to_vec()),
            None => {
                Err("single quote not closed on this line (multi-line values are not supported)")
            }
        },
        _ => {
            // Unquoted: an inline comment starts at whitespace followed by '#'.
            let mut end = v.len();
            for i in 1..v.len() {
                if v[i] == b'#' && is_space(v[i - 1]) {
                    end = i;
                    break;
                }
            }
            Ok(trim_end(&v[..end]).to_vec())
        }
    }
}

fn after_closing_quote(rest: &[u8]) -> Result<(), &'static str> {
    let rest = trim_start(rest);
    if rest.is_empty() || rest[0] == b'#' {
        Ok(())
    } else {
        Err("unexpected text after the closing quote")
    }
}

/// Builds the new file content: the lines in `replace` (by number) get the given content,
/// keeping their original terminator; every other line is copied byte for byte.
pub fn rewrite_bytes(
    original: &[u8],
    replace: &std::collections::BTreeMap<usize, Vec<u8>>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(original.len());
    for line in split_lines(original) {
        match replace.get(&line.number) {
            Some(new_content) => out.extend_from_slice(new_content),
            None => out.extend_from_slice(line.content),
        }
        out.extend_from_slice(line.terminator);
    }
    out
}

/// Replaces the file at `path` with `content` atomically: a temp file in the same directory
/// with the same permissions, written and fsynced, then renamed over the original; then the
/// directory is fsynced. `before_rename` runs just before the rename (tests inject failures
/// there); if anything fails, the temp file is removed and the original is untouched.
pub fn replace_atomically(
    path: &Path,
    content: &[u8],
    before_rename: &mut dyn FnMut(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    // Write next to the real file when `path` is a symlink, so the link stays a link.
    let target = std::fs::canonicalize(path)?;
    let dir = target
        .parent()
        .ok_or_else(|| std::io::Error::other("the file has no parent directory"))?;
    let permissions = std::fs::metadata(&target)?.permissions();
    let mut tmp = tempfile::Builder::new()
        .prefix(".msgops-env-rewrite-")
        .tempfile_in(dir)?;
    tmp.write_all(content)?;
    tmp.as_file().set_permissions(permissions)?;
    tmp.as_file().sync_all()?;
    before_rename(tmp.path())?;
    tmp.persist(&target).map_err(|e| e.error)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(line: &[u8]) -> (String, Vec<u8>) {
        match parse_line(line) {
            LineKind::Assignment { name, value } => (name, value),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(line)),
        }
    }

    #[test]
    fn split_then_join_gives_back_every_byte() {
        let bytes = b"A=1\r\nB=2\n\n# c\xff\r\nlast";
        let lines = split_lines(bytes);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0].content, b"A=1");
        assert_eq!(lines[0].terminator, b"\r\n");
        assert_eq!(lines[4].terminator, b"");
        let joined: Vec<u8> = lines
            .iter()
            .flat_map(|l| l.content.iter().chain(l.terminator))
            .copied()
            .collect();
        assert_eq!(joined, bytes);
    }

    #[test]
    fn reads_export_prefix_quotes_spaces_and_inline_comments() {
        assert_eq!(
            assignment(b"export FOO=bar"),
            ("FOO".into(), b"bar".to_vec())
        );
        assert_eq!(
            assignment(b"  FOO = bar  "),
            ("FOO".into(), b"bar".to_vec())
        );
        assert_eq!(
            assignment(b"FOO=\"a b # c\" # note"),
            ("FOO".into(), b"a b # c".to_vec())
        );
        assert_eq!(
            assignment(b"FOO='a\\nb'"),
            ("FOO".into(), b"a\\nb".to_vec())
        );
        assert_eq!(
            assignment(b"FOO=\"a\\\"b\""),
            ("FOO".into(), b"a\"b".to_vec())
        );
        assert_eq!(
            assignment(b"FOO=bar # note"),
            ("FOO".into(), b"bar".to_vec())
        );
        assert_eq!(assignment(b"FOO=a#b"), ("FOO".into(), b"a#b".to_vec()));
        assert_eq!(assignment(b"FOO="), ("FOO".into(), Vec::new()));
        assert_eq!(assignment(b"FOO=\"\""), ("FOO".into(), Vec::new()));
        assert_eq!(
            assignment(b"exportFOO=1"),
            ("exportFOO".into(), b"1".to_vec())
        );
    }

    #[test]
    fn recognises_blank_comment_and_malformed_lines() {
        assert_eq!(parse_line(b"   "), LineKind::Blank);
        assert_eq!(parse_line(b"# x=1"), LineKind::Comment);
        assert!(matches!(
            parse_line(b"just words"),
            LineKind::Malformed { .. }
        ));
        assert!(matches!(parse_line(b"=value"), LineKind::Malformed { .. }));
        assert!(matches!(
            parse_line(b"FOO=\"open"),
            LineKind::BadValue { .. }
        ));
        assert!(matches!(
            parse_line(b"FOO='a' trailing"),
            LineKind::BadValue { .. }
        ));
    }

    #[test]
    fn rewrite_keeps_unreplaced_lines_byte_for_byte() {
        let original = b"# head\r\nA=1\r\nSECRET=x\xff\r\nB=2";
        let mut replace = std::collections::BTreeMap::new();
        replace.insert(3, b"# gone".to_vec());
        assert_eq!(
            rewrite_bytes(original, &replace),
            b"# head\r\nA=1\r\n# gone\r\nB=2"
        );
    }

    #[test]
    fn failed_rename_step_leaves_the_original_and_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".env");
        std::fs::write(&path, b"A=1\n").expect("write");
        let result = replace_atomically(&path, b"B=2\n", &mut |_| {
            Err(std::io::Error::other("simulated crash before rename"))
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"A=1\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(".env")]);
    }

    #[cfg(unix)]
    #[test]
    fn atomic_replace_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".env");
        std::fs::write(&path, b"A=1\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        replace_atomically(&path, b"B=2\n", &mut |_| Ok(())).expect("replace");
        assert_eq!(std::fs::read(&path).expect("read"), b"B=2\n");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
}
