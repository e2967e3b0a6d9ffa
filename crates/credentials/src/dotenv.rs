//! The backend's `.env`, read as python-dotenv reads it, and rewritten in place.
//!
//! Reading follows python-dotenv 1.x (`dotenv_values`, `interpolate=True`) rule for rule:
//! `export` prefixes, unquoted and single-quoted keys, unquoted values cut at a `#` that
//! follows whitespace, single- and double-quoted values over several lines with their
//! escapes, a name without `=` (no value), `${VAR}` and `${VAR:-default}` in every value
//! (python-dotenv expands single-quoted values too), and its recovery from a statement it
//! cannot read (skip to the end of that line). `tests/dotenv_parity.rs` compares [`values`]
//! with python-dotenv itself, case by case.
//!
//! Rewriting works on the original bytes, not on text, so that a stray non-UTF-8 byte, CRLF
//! line endings or odd spacing survive: every line that is not replaced is written back byte
//! for byte. The new file is written beside the old one with its owner, group and mode,
//! synced, renamed over it and the directory synced ([`prepare_replacement`]): an interruption
//! at any point leaves either the old file or the new one, never half of each.
//!
//! Never put a line's *content* into a diagnostic: a malformed line may hold a secret.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One physical line: content without its terminator, and the terminator (`\n`, `\r\n`, `\r`
/// or nothing for a last line without newline). Python reads a `.env` with universal
/// newlines, so a lone `\r` ends a line too.
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
        let (content_end, next) = match bytes[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        {
            Some(offset) => {
                let at = start + offset;
                if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
                    (at, at + 2)
                } else {
                    (at, at + 1)
                }
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

/// One statement of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Assignment(Assignment),
    /// A statement python-dotenv cannot read (it skips it, with a warning, and goes on at the
    /// next line).
    Invalid {
        /// The variable name when it could be read.
        name: Option<String>,
        reason: &'static str,
        first_line: usize,
        last_line: usize,
    },
}

/// `[export ]NAME[=value]`, the value unquoted and unescaped but not yet expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub name: String,
    /// `None` for a name without `=` (python-dotenv's `{"NAME": None}`).
    pub value: Option<String>,
    /// The physical lines the statement spans (more than one for a multi-line quoted value).
    pub first_line: usize,
    pub last_line: usize,
}

/// python-dotenv's `\s`: Python's `str.isspace`, which is Unicode White_Space plus the four
/// information separators U+001C..U+001F.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `[^\S\r\n]`: whitespace within a line.
fn is_inline_space(c: char) -> bool {
    c != '\n' && is_space(c)
}

/// The text python-dotenv sees: UTF-8 (invalid bytes become U+FFFD here; python-dotenv would
/// refuse the file), universal newlines (`\r\n` and `\r` become `\n`, so line numbers stay
/// those of [`split_lines`]), without a leading byte order mark.
fn python_text(bytes: &[u8]) -> Vec<char> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut chars = Vec::with_capacity(text.len());
    let mut iter = text.chars().peekable();
    while let Some(c) = iter.next() {
        if c == '\r' {
            if iter.peek() == Some(&'\n') {
                iter.next();
            }
            chars.push('\n');
        } else {
            chars.push(c);
        }
    }
    chars
}

struct Reader {
    s: Vec<char>,
    pos: usize,
    /// 1-based line of `pos`.
    line: usize,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn at(&self, offset: usize) -> Option<char> {
        self.s.get(self.pos + offset).copied()
    }

    fn advance(&mut self, count: usize) {
        let end = (self.pos + count).min(self.s.len());
        self.line += self.s[self.pos..end].iter().filter(|&&c| c == '\n').count();
        self.pos = end;
    }

    fn skip_while(&mut self, keep: impl Fn(char) -> bool) -> usize {
        let start = self.pos;
        let mut end = start;
        while end < self.s.len() && keep(self.s[end]) {
            end += 1;
        }
        self.advance(end - start);
        end - start
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.s[from..to].iter().collect()
    }

    /// `(?:export[^\S\r\n]+)?`
    fn skip_export(&mut self) {
        let word = ['e', 'x', 'p', 'o', 'r', 't'];
        let matches = word.iter().enumerate().all(|(i, c)| self.at(i) == Some(*c));
        if matches && self.at(word.len()).is_some_and(is_inline_space) {
            self.advance(word.len());
            self.skip_while(is_inline_space);
        }
    }

    /// A quoted value at `pos` (python-dotenv's `'((?:\\.|[^'\\])*)'` and the same with `"`):
    /// the text between the quotes, not yet unescaped.
    fn quoted(&mut self, quote: char) -> Result<String, &'static str> {
        let mut i = self.pos + 1;
        loop {
            match self.s.get(i) {
                None => {
                    return Err(if quote == '"' {
                        "double quote not closed"
                    } else {
                        "single quote not closed"
                    })
                }
                Some('\\') if i + 1 < self.s.len() => i += 2,
                Some('\\') => {
                    return Err("the file ends in a backslash inside quotes");
                }
                Some(c) if *c == quote => break,
                Some(_) => i += 1,
            }
        }
        let inner = self.text(self.pos + 1, i);
        self.advance(i + 1 - self.pos);
        Ok(inner)
    }

    fn value(&mut self) -> Result<String, &'static str> {
        match self.peek() {
            Some('\'') => Ok(unescape(&self.quoted('\'')?, &['\\', '\''])),
            Some('"') => Ok(unescape(
                &self.quoted('"')?,
                &['\\', '\'', '"', 'a', 'b', 'f', 'n', 'r', 't', 'v'],
            )),
            None | Some('\n') => Ok(String::new()),
            Some(_) => {
                let start = self.pos;
                self.skip_while(|c| c != '\n');
                let part = &self.s[start..self.pos];
                // re.sub(r"\s+#.*", "", part).rstrip()
                let cut = (1..part.len())
                    .find(|&j| part[j] == '#' && is_space(part[j - 1]))
                    .unwrap_or(part.len());
                let mut end = cut;
                while end > 0 && is_space(part[end - 1]) {
                    end -= 1;
                }
                Ok(part[..end].iter().collect())
            }
        }
    }

    /// `(?:[^\S\r\n]*#[^\r\n]*)?` then `[^\S\r\n]*(?:\r\n|\n|\r|$)`.
    fn end_of_statement(&mut self) -> Result<(), &'static str> {
        let mut i = self.pos;
        while self.s.get(i).copied().is_some_and(is_inline_space) {
            i += 1;
        }
        if self.s.get(i) == Some(&'#') {
            while self.s.get(i).is_some_and(|&c| c != '\n') {
                i += 1;
            }
        } else {
            i = self.pos;
            while self.s.get(i).copied().is_some_and(is_inline_space) {
                i += 1;
            }
        }
        match self.s.get(i) {
            None => {
                self.advance(i - self.pos);
                Ok(())
            }
            Some('\n') => {
                // The newline belongs to the statement.
                self.advance(i + 1 - self.pos);
                Ok(())
            }
            Some(_) => Err("unexpected text after the value"),
        }
    }

    /// Skips the rest of a statement that could not be read (`[^\r\n]*(?:\r|\n|\r\n)?`).
    fn skip_rest_of_line(&mut self) {
        self.skip_while(|c| c != '\n');
        if self.peek() == Some('\n') {
            self.advance(1);
        }
    }
}

/// python-dotenv's `decode_escapes`: `\` followed by one of `escapes` is decoded, any other
/// backslash stays as it is.
fn unescape(raw: &str, escapes: &[char]) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&next) = chars.peek() {
                if escapes.contains(&next) {
                    chars.next();
                    out.push(match next {
                        'a' => '\u{7}',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'v' => '\u{b}',
                        other => other,
                    });
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// Reads every statement of a `.env` (comments and blank lines are not statements).
pub fn parse(bytes: &[u8]) -> Vec<Entry> {
    let mut r = Reader {
        s: python_text(bytes),
        pos: 0,
        line: 1,
    };
    let mut entries = Vec::new();
    loop {
        r.skip_while(is_space);
        if r.peek().is_none() {
            break;
        }
        let first_line = r.line;
        let mut name = None;
        match statement(&mut r, &mut name) {
            Ok(Some(value)) => entries.push(Entry::Assignment(Assignment {
                name: name.unwrap_or_default(),
                value,
                first_line,
                last_line: last_line_of(&r, first_line),
            })),
            Ok(None) => {}
            Err(reason) => {
                r.skip_rest_of_line();
                entries.push(Entry::Invalid {
                    name,
                    reason,
                    first_line,
                    last_line: last_line_of(&r, first_line),
                });
            }
        }
    }
    entries
}

/// The line a statement ended on: the reader stands after its newline, or at the end.
fn last_line_of(r: &Reader, first_line: usize) -> usize {
    if r.pos > 0 && r.s.get(r.pos - 1) == Some(&'\n') {
        (r.line - 1).max(first_line)
    } else {
        r.line
    }
}

/// One statement; `Ok(None)` for a comment. `name` is set as soon as it is known.
fn statement(
    r: &mut Reader,
    name: &mut Option<String>,
) -> Result<Option<Option<String>>, &'static str> {
    r.skip_export();
    match r.peek() {
        Some('#') => {
            r.end_of_statement()?;
            return Ok(None);
        }
        Some('\'') => {
            let start = r.pos + 1;
            let len = r.s[start..].iter().take_while(|&&c| c != '\'').count();
            if len == 0 || start + len >= r.s.len() {
                return Err("single-quoted name not closed");
            }
            *name = Some(r.text(start, start + len));
            r.advance(len + 2);
        }
        _ => {
            let start = r.pos;
            let len = r.skip_while(|c| c != '=' && c != '#' && !is_space(c));
            if len == 0 {
                return Err("not a NAME=value line");
            }
            *name = Some(r.text(start, start + len));
        }
    }
    r.skip_while(is_inline_space);
    let value = if r.peek() == Some('=') {
        r.advance(1);
        let spaces = r.skip_while(is_inline_space);
        if spaces > 0 && r.peek() == Some('#') {
            Some(String::new())
        } else {
            Some(r.value()?)
        }
    } else {
        None
    };
    r.end_of_statement()
        .map_err(|reason| match value {
            None => "no '=' after the variable name",
            Some(_) => reason,
        })
        .map(|()| Some(value))
}

/// An assignment's value after `${...}` expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub value: Option<String>,
    /// Variables the value took from outside the file, directly or through another value of
    /// the file: python-dotenv reads them from the environment of the process that loads the
    /// file.
    pub from_environment: BTreeSet<String>,
    /// Variables of the file the value used, with the line of the definition in force.
    pub from_file: BTreeMap<String, usize>,
}

/// Expands every assignment's value in file order, as python-dotenv's `resolve_variables`
/// (`override=True`): a name is looked up among the values set earlier in the file (a name
/// set without `=` counts as empty), then through `environment`, then its default, else it is
/// empty. Returns one [`Resolved`] per [`Entry::Assignment`], in order.
pub fn resolve(entries: &[Entry], environment: &dyn Fn(&str) -> Option<String>) -> Vec<Resolved> {
    struct Known {
        value: Option<String>,
        line: usize,
        from_environment: BTreeSet<String>,
    }
    let mut known: BTreeMap<String, Known> = BTreeMap::new();
    let mut out = Vec::new();
    for entry in entries {
        let Entry::Assignment(a) = entry else {
            continue;
        };
        let mut from_environment = BTreeSet::new();
        let mut from_file = BTreeMap::new();
        let value = a.value.as_deref().map(|raw| {
            expand(raw, &mut |name, default| match known.get(name) {
                Some(k) => {
                    from_file.insert(name.to_owned(), k.line);
                    from_environment.extend(k.from_environment.iter().cloned());
                    k.value.clone().unwrap_or_default()
                }
                None => {
                    from_environment.insert(name.to_owned());
                    environment(name)
                        .or_else(|| default.map(str::to_owned))
                        .unwrap_or_default()
                }
            })
        });
        known.insert(
            a.name.clone(),
            Known {
                value: value.clone(),
                line: a.first_line,
                from_environment: from_environment.clone(),
            },
        );
        out.push(Resolved {
            value,
            from_environment,
            from_file,
        });
    }
    out
}

/// Replaces each `${name}` / `${name:-default}` (python-dotenv's
/// `\$\{(?P<name>[^\}:]*)(?::-(?P<default>[^\}]*))?\}`); everything else, `$name` included,
/// stays as written. A default is not expanded itself.
fn expand(value: &str, lookup: &mut dyn FnMut(&str, Option<&str>) -> String) -> String {
    let s: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == '$' && s.get(i + 1) == Some(&'{') {
            let name_start = i + 2;
            let mut j = name_start;
            while j < s.len() && s[j] != '}' && s[j] != ':' {
                j += 1;
            }
            let name: String = s[name_start..j].iter().collect();
            let mut default = None;
            if s.get(j) == Some(&':') && s.get(j + 1) == Some(&'-') {
                let d_start = j + 2;
                let mut k = d_start;
                while k < s.len() && s[k] != '}' {
                    k += 1;
                }
                default = Some(s[d_start..k].iter().collect::<String>());
                j = k;
            }
            if s.get(j) == Some(&'}') {
                out.push_str(&lookup(&name, default.as_deref()));
                i = j + 1;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// What python-dotenv's `dotenv_values` returns for this file, with `environment` standing
/// for the process environment. A name set twice keeps its last value.
pub fn values(
    bytes: &[u8],
    environment: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<String, Option<String>> {
    let entries = parse(bytes);
    let resolved = resolve(&entries, environment);
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Assignment(a) => Some(a.name.clone()),
            Entry::Invalid { .. } => None,
        })
        .zip(resolved.into_iter().map(|r| r.value))
        .collect()
}

/// Builds the new file content: a line in `replace` (by number) gets the given content and
/// keeps its original terminator, or is left out with its terminator when the content is
/// `None` (the further lines of a multi-line value); every other line is copied byte for byte.
pub fn rewrite_bytes(original: &[u8], replace: &BTreeMap<usize, Option<Vec<u8>>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(original.len());
    for line in split_lines(original) {
        match replace.get(&line.number) {
            Some(Some(new_content)) => {
                out.extend_from_slice(new_content);
                out.extend_from_slice(line.terminator);
            }
            Some(None) => {}
            None => {
                out.extend_from_slice(line.content);
                out.extend_from_slice(line.terminator);
            }
        }
    }
    out
}

/// A new `.env` written and synced beside the old one, with the old one's owner, group and
/// mode, waiting for [`PreparedReplacement::commit`]. Dropped without commit, it is removed
/// and the old file is untouched.
pub struct PreparedReplacement {
    target: PathBuf,
    dir: PathBuf,
    tmp: tempfile::NamedTempFile,
    warning: Option<String>,
}

impl std::fmt::Debug for PreparedReplacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedReplacement")
            .field("target", &self.target)
            .field("tmp", &self.tmp.path())
            .field("warning", &self.warning)
            .finish()
    }
}

/// Writes the replacement for the file at `path` (through a symlink: the real file) next to
/// it: a temp file in the same directory, given the original's owner and group (when this
/// process may: root, or the owner changing only to one of its own groups) and mode, written
/// and fsynced. Fails before anything exists when the directory is not writable.
pub fn prepare_replacement(path: &Path, content: &[u8]) -> std::io::Result<PreparedReplacement> {
    // Write next to the real file when `path` is a symlink, so the link stays a link.
    let target = std::fs::canonicalize(path)?;
    let dir = target
        .parent()
        .ok_or_else(|| std::io::Error::other("the file has no parent directory"))?
        .to_owned();
    let metadata = std::fs::metadata(&target)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".msgops-env-rewrite-")
        .tempfile_in(&dir)
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot create a file in {} ({e}): the .env is replaced by writing the new \
                     one beside it and renaming it into place, so the directory must be writable",
                    dir.display()
                ),
            )
        })?;
    tmp.write_all(content)?;
    let warning = keep_owner_and_mode(tmp.as_file(), &metadata, &target)?;
    tmp.as_file().sync_all()?;
    Ok(PreparedReplacement {
        target,
        dir,
        tmp,
        warning,
    })
}

impl PreparedReplacement {
    /// What the new file could not keep of the old one (its owner or group), in words.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// Renames the new file over the old one, then fsyncs the directory so the rename
    /// survives a power cut. `before_rename` runs first (tests inject failures there); until
    /// the rename, a failure leaves the old file and no temp file. Once renamed, the new file
    /// is in place: a failed directory sync only comes back, as a warning.
    pub fn commit(
        self,
        before_rename: &mut dyn FnMut(&Path) -> std::io::Result<()>,
    ) -> std::io::Result<Option<String>> {
        before_rename(self.tmp.path())?;
        self.tmp.persist(&self.target).map_err(|e| e.error)?;
        Ok(sync_dir(&self.dir).err().map(|e| {
            tracing::warn!(file = %self.target.display(), error = %e, "directory not synced after rewrite");
            format!(
                "the new {} is in place, but its directory could not be synced to disk ({e}); \
                 a power cut now could bring back the old file",
                self.target.display()
            )
        }))
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Gives `file` the owner, group and mode of `original`. Changing the owner needs root;
/// when it is not allowed the file keeps this process's user (and, if possible, the original
/// group) and the returned warning says so. The mode is set last: a change of owner clears
/// the set-user-ID and set-group-ID bits.
#[cfg(unix)]
fn keep_owner_and_mode(
    file: &std::fs::File,
    original: &std::fs::Metadata,
    path: &Path,
) -> std::io::Result<Option<String>> {
    use std::os::unix::fs::{fchown, MetadataExt, PermissionsExt};
    let (uid, gid) = (original.uid(), original.gid());
    let mut warning = None;
    if let Err(e) = fchown(file, Some(uid), Some(gid)) {
        // Not root: at least the group, when this user is in it.
        let _ = fchown(file, None, Some(gid));
        let now = file.metadata()?;
        let mut lost = Vec::new();
        if now.uid() != uid {
            lost.push(format!("owner (uid {uid}; now uid {})", now.uid()));
        }
        if now.gid() != gid {
            lost.push(format!("group (gid {gid}; now gid {})", now.gid()));
        }
        if !lost.is_empty() {
            warning = Some(format!(
                "the rewritten {} could not keep its {} ({e}: only root can give a file to \
                 another user, or to a group its user is not in). Its mode is kept; check that \
                 the backend can still read it",
                path.display(),
                lost.join(" and ")
            ));
        }
    }
    file.set_permissions(std::fs::Permissions::from_mode(original.mode() & 0o7777))?;
    Ok(warning)
}

#[cfg(not(unix))]
fn keep_owner_and_mode(
    file: &std::fs::File,
    original: &std::fs::Metadata,
    _path: &Path,
) -> std::io::Result<Option<String>> {
    file.set_permissions(original.permissions())?;
    Ok(None)
}

/// [`prepare_replacement`] and [`PreparedReplacement::commit`] in one go; the warnings of
/// both, if any.
pub fn replace_atomically(
    path: &Path,
    content: &[u8],
    before_rename: &mut dyn FnMut(&Path) -> std::io::Result<()>,
) -> std::io::Result<Option<String>> {
    let prepared = prepare_replacement(path, content)?;
    let first = prepared.warning.clone();
    let second = prepared.commit(before_rename)?;
    Ok(match (first, second) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn one(text: &str) -> (String, Option<String>) {
        let v = values(text.as_bytes(), &no_env);
        assert_eq!(v.len(), 1, "{text:?}: {v:?}");
        v.into_iter().next().expect("one")
    }

    #[test]
    fn split_then_join_gives_back_every_byte() {
        let bytes = b"A=1\r\nB=2\n\n# c\xff\r\nlone\rlast";
        let lines = split_lines(bytes);
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0].content, b"A=1");
        assert_eq!(lines[0].terminator, b"\r\n");
        assert_eq!(lines[4].terminator, b"\r");
        assert_eq!(lines[5].terminator, b"");
        let joined: Vec<u8> = lines
            .iter()
            .flat_map(|l| l.content.iter().chain(l.terminator))
            .copied()
            .collect();
        assert_eq!(joined, bytes);
    }

    #[test]
    fn reads_export_prefix_quotes_spaces_and_inline_comments() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(one("export FOO=bar"), ("FOO".into(), s("bar")));
        assert_eq!(one("  FOO = bar  "), ("FOO".into(), s("bar")));
        assert_eq!(one("FOO=\"a b # c\" # note"), ("FOO".into(), s("a b # c")));
        assert_eq!(one("FOO='a\\nb'"), ("FOO".into(), s("a\\nb")));
        assert_eq!(one("FOO=\"a\\\"b\""), ("FOO".into(), s("a\"b")));
        assert_eq!(one("FOO=\"a\\$b\""), ("FOO".into(), s("a\\$b")));
        assert_eq!(one("FOO=bar # note"), ("FOO".into(), s("bar")));
        assert_eq!(one("FOO=a#b"), ("FOO".into(), s("a#b")));
        assert_eq!(one("FOO= #b"), ("FOO".into(), s("")));
        assert_eq!(one("FOO="), ("FOO".into(), s("")));
        assert_eq!(one("FOO=\"\""), ("FOO".into(), s("")));
        assert_eq!(one("FOO"), ("FOO".into(), None));
        assert_eq!(one("exportFOO=1"), ("exportFOO".into(), s("1")));
        assert_eq!(one("FOO=\"two\nlines\""), ("FOO".into(), s("two\nlines")));
        assert_eq!(one("FOO=\"two\r\nlines\""), ("FOO".into(), s("two\nlines")));
    }

    #[test]
    fn invalid_statements_are_skipped_to_the_end_of_their_line() {
        let entries = parse(b"just words\nFOO='a' trailing\n=x\nOK=1\nBAD=\"open\n");
        let invalid: Vec<(Option<&str>, usize)> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Invalid {
                    name, first_line, ..
                } => Some((name.as_deref(), *first_line)),
                Entry::Assignment(_) => None,
            })
            .collect();
        assert_eq!(
            invalid,
            vec![
                (Some("just"), 1),
                (Some("FOO"), 2),
                (None, 3),
                (Some("BAD"), 5)
            ]
        );
        assert_eq!(
            values(b"just words\nOK=1\n", &no_env),
            BTreeMap::from([("OK".to_owned(), Some("1".to_owned()))])
        );
    }

    #[test]
    fn a_multi_line_value_spans_its_physical_lines() {
        let entries = parse(b"A=1\r\nKEY=\"-----BEGIN\r\nmiddle\r\nEND-----\" # c\r\nB=2");
        let spans: Vec<(String, usize, usize)> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Assignment(a) => Some((a.name.clone(), a.first_line, a.last_line)),
                Entry::Invalid { .. } => None,
            })
            .collect();
        assert_eq!(
            spans,
            vec![("A".into(), 1, 1), ("KEY".into(), 2, 4), ("B".into(), 5, 5)]
        );
    }

    #[test]
    fn expansion_uses_earlier_values_then_the_environment_then_the_default() {
        let env = |name: &str| (name == "FROM_ENV").then(|| "env".to_owned());
        let text = b"BASE=/srv\nA=${BASE}/x\nB='${BASE}'\nC=${FROM_ENV:-d}\nD=${NOPE:-d}\nE=${NOPE}\nF=$BASE\nG=${LATER}\nLATER=1\nN\nH=${N:-d}\n";
        let v = values(text, &env);
        let get = |k: &str| v.get(k).cloned().flatten();
        assert_eq!(get("A").as_deref(), Some("/srv/x"));
        assert_eq!(get("B").as_deref(), Some("/srv"));
        assert_eq!(get("C").as_deref(), Some("env"));
        assert_eq!(get("D").as_deref(), Some("d"));
        assert_eq!(get("E").as_deref(), Some(""));
        assert_eq!(get("F").as_deref(), Some("$BASE"));
        assert_eq!(get("G").as_deref(), Some(""));
        assert_eq!(get("H").as_deref(), Some(""));

        let entries = parse(b"BASE=${HOME_X}/a\nTOKEN=${BASE}\nPLAIN=${BASE2:-x}\n");
        let resolved = resolve(&entries, &no_env);
        assert_eq!(
            resolved[1].from_environment,
            BTreeSet::from(["HOME_X".to_owned()])
        );
        assert_eq!(
            resolved[1].from_file,
            BTreeMap::from([("BASE".to_owned(), 1)])
        );
        assert_eq!(
            resolved[2].from_environment,
            BTreeSet::from(["BASE2".to_owned()])
        );
    }

    #[test]
    fn rewrite_keeps_unreplaced_lines_byte_for_byte() {
        let original = b"# head\r\nA=1\r\nSECRET=\"x\xff\r\nmore\"\r\nB=2";
        let replace = BTreeMap::from([(3, Some(b"# gone".to_vec())), (4, None)]);
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
        let warning = replace_atomically(&path, b"B=2\n", &mut |_| Ok(())).expect("replace");
        assert_eq!(warning, None, "the owner of our own file is kept");
        assert_eq!(std::fs::read(&path).expect("read"), b"B=2\n");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
}
