//! Named API tokens with scopes, kept as SHA-256 hashes in `<data dir>/api-tokens.json`.
//!
//! `msgops token create|list|revoke` writes the file (mode 0600, temp file + rename, under a
//! lock file so that two commands never lose each other's change); a running service re-reads
//! it whenever its size, modification time or inode changed (one `stat` per request), so a new
//! or revoked token is in force at once, without a restart.
//!
//! Scopes: `read` (health, metrics, the OpenAPI document, the event stream without
//! `code_seen`, the diagnostics), `codes` (read + `GET /api/v1/codes` + `code_seen` events),
//! `operate` (read + sends + on-call controls), `admin` (everything).
//!
//! This module never logs, serializes or puts into an error a token or its hash.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use msgops_audit::Actor;
use msgops_credentials::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The file's name in the data directory.
pub const FILE_NAME: &str = "api-tokens.json";
/// The format of the file this version writes.
pub const FILE_VERSION: u32 = 1;
/// Longest token name.
pub const MAX_NAME_CHARS: usize = 64;

/// `<data dir>/api-tokens.json`.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// What a token may do. A token holds one or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Health, metrics, the OpenAPI document, the event stream without `code_seen`, the
    /// diagnostics.
    Read,
    /// `read`, the codes seen in backend logs (`GET /api/v1/codes`) and `code_seen` events.
    Codes,
    /// `read`, sends and on-call controls (breaker reset and trial, probes).
    Operate,
    /// Everything.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Codes, Scope::Operate, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Codes => "codes",
            Scope::Operate => "operate",
            Scope::Admin => "admin",
        }
    }

    /// Whether a token with this scope may do what needs `need`.
    pub fn allows(self, need: Scope) -> bool {
        match (self, need) {
            (Scope::Admin, _) | (_, Scope::Read) => true,
            (have, need) => have == need,
        }
    }

    /// `read,codes` → both; order and repeats do not matter.
    pub fn parse_list(s: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope: Scope = part.parse()?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err("no scope given: use read, codes, operate or admin".into());
        }
        scopes.sort();
        Ok(scopes)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("no scope `{s}`: use read, codes, operate or admin"))
    }
}

/// `read, codes`.
pub fn describe_scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One token of the file: never the token, only its hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Actor,
}

impl fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEntry")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("sha256", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("created_by", &self.created_by)
            .finish()
    }
}

/// What `msgops token list` shows of a token: no hash, no token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub created_by: Actor,
}

impl From<&TokenEntry> for TokenInfo {
    fn from(e: &TokenEntry) -> Self {
        Self {
            name: e.name.clone(),
            scopes: e.scopes.clone(),
            created_at: e.created_at,
            created_by: e.created_by.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct TokenFileContents {
    version: u32,
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a token file msgops can read ({why}); it was left as it is")]
    Damaged { path: PathBuf, why: String },
    #[error("a token named `{0}` already exists; revoke it first or use --replace")]
    NameTaken(String),
    #[error("no token named `{0}`")]
    NoSuchToken(String),
    #[error(
        "`legacy` is the name of the single token of `msgops serve --create-token`; choose another"
    )]
    ReservedName,
    #[error("`{0}` is not a token name: 1 to 64 letters, digits, `.`, `_` or `-`")]
    BadName(String),
    #[error("a token needs at least one scope (read, codes, operate, admin)")]
    NoScope,
    #[error("the OS could not provide random bytes for a token: {0}")]
    Random(getrandom::Error),
}

fn io<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> TokenFileError + 'a {
    move |source| TokenFileError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Checks a token name: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn validate_name(name: &str) -> Result<(), TokenFileError> {
    if name.eq_ignore_ascii_case(LEGACY_NAME) {
        return Err(TokenFileError::ReservedName);
    }
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(TokenFileError::BadName(
            name.chars().filter(|c| !c.is_control()).take(80).collect(),
        ))
    }
}

/// The SHA-256 of a token.
pub fn hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    s
}

fn from_hex(s: &str) -> Option<[u8; 32]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// Reads the file; a missing file holds no tokens.
fn read_file(path: &Path) -> Result<Option<(Vec<TokenEntry>, Stamp)>, TokenFileError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("cannot open", path)(e)),
    };
    let meta = file.metadata().map_err(io("cannot read", path))?;
    let mut text = Vec::new();
    file.read_to_end(&mut text)
        .map_err(io("cannot read", path))?;
    let contents: TokenFileContents =
        serde_json::from_slice(&text).map_err(|e| TokenFileError::Damaged {
            path: path.to_path_buf(),
            // serde_json's message names the place, never the text.
            why: e.to_string(),
        })?;
    if contents.version != FILE_VERSION {
        return Err(TokenFileError::Damaged {
            path: path.to_path_buf(),
            why: format!(
                "version {} (this msgops reads version {FILE_VERSION})",
                contents.version
            ),
        });
    }
    Ok(Some((contents.tokens, Stamp::of(&meta))))
}

/// Every token of the file (oldest first); no file: none.
pub fn list(path: &Path) -> Result<Vec<TokenEntry>, TokenFileError> {
    Ok(read_file(path)?.map(|(t, _)| t).unwrap_or_default())
}

/// Writes `tokens` to `path` atomically: a 0600 temp file beside it, synced, renamed over it.
fn write_file(path: &Path, tokens: Vec<TokenEntry>) -> Result<(), TokenFileError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let contents = TokenFileContents {
        version: FILE_VERSION,
        tokens,
    };
    let mut text = serde_json::to_vec_pretty(&contents).map_err(|e| TokenFileError::Io {
        what: "cannot encode",
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    text.push(b'\n');
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).map_err(TokenFileError::Random)?;
    let temp = dir.join(format!(
        ".{FILE_NAME}.{}.{}.tmp",
        std::process::id(),
        to_hex(&suffix)
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&temp).map_err(io("cannot create", &temp))?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(io("cannot write", &temp))?;
        drop(file);
        std::fs::rename(&temp, path).map_err(io("cannot replace", path))?;
        // The rename itself, on disk.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Holds `<file>.lock` exclusively while a command reads, changes and writes the file.
fn locked<T>(
    path: &Path,
    change: impl FnOnce() -> Result<T, TokenFileError>,
) -> Result<T, TokenFileError> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    }
    let lock_path = path.with_extension("json.lock");
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let lock = options
        .open(&lock_path)
        .map_err(io("cannot open", &lock_path))?;
    lock.lock().map_err(io("cannot lock", &lock_path))?;
    let result = change();
    let _ = lock.unlock();
    result
}

/// Makes a token named `name` with `scopes`, stores its hash (replacing a token of that name
/// only with `replace`) and returns it, to be shown once.
pub fn create(
    path: &Path,
    name: &str,
    scopes: &[Scope],
    created_by: Actor,
    replace: bool,
) -> Result<SecretString, TokenFileError> {
    validate_name(name)?;
    if scopes.is_empty() {
        return Err(TokenFileError::NoScope);
    }
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    locked(path, || {
        let mut tokens = list(path)?;
        if tokens.iter().any(|t| t.name == name) {
            if !replace {
                return Err(TokenFileError::NameTaken(name.to_string()));
            }
            tokens.retain(|t| t.name != name);
        }
        let token = crate::auth::new_token().map_err(TokenFileError::Random)?;
        tokens.push(TokenEntry {
            name: name.to_string(),
            scopes,
            sha256: to_hex(&hash(token.expose_secret().as_bytes())),
            created_at: Utc::now(),
            created_by,
        });
        write_file(path, tokens)?;
        Ok(token)
    })
}

/// Removes the token named `name`; returns what it was.
pub fn revoke(path: &Path, name: &str) -> Result<TokenEntry, TokenFileError> {
    locked(path, || {
        let mut tokens = list(path)?;
        let Some(index) = tokens.iter().position(|t| t.name == name) else {
            return Err(TokenFileError::NoSuchToken(name.to_string()));
        };
        let removed = tokens.remove(index);
        write_file(path, tokens)?;
        Ok(removed)
    })
}

// ---------------------------------------------------------------------------------------------
// The service's side: the file as a running service sees it

/// Who a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's name; `legacy` for the single token of the keychain or $MSGOPS_API_TOKEN.
    pub name: String,
    pub scopes: Vec<Scope>,
}

/// The name the legacy single token goes by.
pub const LEGACY_NAME: &str = "legacy";

impl Identity {
    /// The legacy single token: admin, for compatibility.
    pub fn legacy() -> Self {
        Self {
            name: LEGACY_NAME.into(),
            scopes: vec![Scope::Admin],
        }
    }

    pub fn allows(&self, need: Scope) -> bool {
        self.scopes.iter().any(|s| s.allows(need))
    }
}

/// What tells one version of the file from another without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
    device: u64,
    /// Permission bits: a chmod is a change too.
    mode: u32,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let (inode, device, mode) = {
            use std::os::unix::fs::MetadataExt;
            (meta.ino(), meta.dev(), meta.mode())
        };
        #[cfg(not(unix))]
        let (inode, device, mode) = (0, 0, 0);
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
            device,
            mode,
        }
    }

    /// Whether others than the owner may write the file.
    fn others_may_write(self) -> bool {
        cfg!(unix) && self.mode & 0o022 != 0
    }
}

struct Loaded {
    name: String,
    scopes: Vec<Scope>,
    hash: [u8; 32],
}

#[derive(Default)]
struct Cache {
    /// The stamp of what `tokens` was read from; `None`: no file (or never read).
    stamp: Option<Stamp>,
    read_once: bool,
    tokens: Vec<Loaded>,
}

/// The token file as a running service sees it: re-read when it changed.
pub struct TokenFile {
    path: PathBuf,
    cache: Mutex<Cache>,
}

impl fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TokenFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache: Mutex::new(Cache::default()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Brings the cache up to the file: one `stat`, and a read when it changed. A file that
    /// cannot be read, is damaged, or that others may write grants nothing (fails closed).
    fn refresh(&self, cache: &mut Cache) {
        let now = match std::fs::metadata(&self.path) {
            Ok(meta) => Some(Stamp::of(&meta)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                if cache.read_once || cache.stamp.is_some() {
                    tracing::error!(path = %self.path.display(), error = %e, "the API token file cannot be read; named tokens are refused");
                }
                cache.stamp = None;
                cache.read_once = true;
                cache.tokens.clear();
                return;
            }
        };
        if cache.read_once && now == cache.stamp {
            return;
        }
        cache.read_once = true;
        cache.tokens.clear();
        cache.stamp = now;
        if now.is_none() {
            return;
        }
        if now.is_some_and(Stamp::others_may_write) {
            tracing::error!(path = %self.path.display(), "the API token file is writable by others than its owner; its tokens are refused (chmod 600 it)");
            return;
        }
        match read_file(&self.path) {
            Ok(Some((_, stamp))) if stamp.others_may_write() => {
                cache.stamp = Some(stamp);
                tracing::error!(path = %self.path.display(), "the API token file is writable by others than its owner; its tokens are refused (chmod 600 it)");
            }
            Ok(Some((entries, stamp))) => {
                cache.stamp = Some(stamp);
                for entry in entries {
                    match from_hex(&entry.sha256) {
                        Some(hash) => cache.tokens.push(Loaded {
                            name: entry.name,
                            scopes: entry.scopes,
                            hash,
                        }),
                        None => {
                            tracing::warn!(path = %self.path.display(), name = %entry.name, "an API token entry has no valid hash; skipped")
                        }
                    }
                }
                tracing::info!(path = %self.path.display(), tokens = cache.tokens.len(), "API tokens (re)loaded");
            }
            Ok(None) => cache.stamp = None,
            Err(e) => tracing::error!(error = %e, "named API tokens are refused"),
        }
    }

    /// How many tokens the file holds now.
    pub fn count(&self) -> usize {
        let mut cache = self.lock();
        self.refresh(&mut cache);
        cache.tokens.len()
    }

    /// The token whose hash is `hash`, compared in constant time against every entry, and how
    /// many tokens the file holds.
    pub fn lookup(&self, hash: &[u8; 32]) -> (Option<Identity>, usize) {
        let mut cache = self.lock();
        self.refresh(&mut cache);
        let mut found: Option<&Loaded> = None;
        for token in &cache.tokens {
            let equal = bool::from(token.hash.ct_eq(hash));
            if equal && found.is_none() {
                found = Some(token);
            }
        }
        let found = found.map(|t| Identity {
            name: t.name.clone(),
            scopes: t.scopes.clone(),
        });
        (found, cache.tokens.len())
    }

    /// The token whose hash is `hash`.
    pub fn find(&self, hash: &[u8; 32]) -> Option<Identity> {
        self.lookup(hash).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgops_audit::Via;

    fn actor() -> Actor {
        Actor::local(Via::Cli)
    }

    #[test]
    fn scopes_allow_what_they_say() {
        use Scope::*;
        for need in Scope::ALL {
            assert!(Admin.allows(need));
        }
        for have in Scope::ALL {
            assert!(have.allows(Read));
        }
        assert!(!Read.allows(Codes));
        assert!(!Read.allows(Operate));
        assert!(!Codes.allows(Operate));
        assert!(!Operate.allows(Codes));
        assert!(!Operate.allows(Admin));
        assert_eq!(
            Scope::parse_list(" codes,read,codes").expect("valid"),
            [Read, Codes]
        );
        assert!(Scope::parse_list("read,root").is_err());
        assert!(Scope::parse_list(",").is_err());
    }

    #[test]
    fn created_tokens_are_found_by_hash_and_the_file_holds_no_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = path_in(dir.path());
        let file = TokenFile::new(&path);
        assert_eq!(file.count(), 0);
        let token = create(&path, "grafana", &[Scope::Read], actor(), false).expect("created");
        let text = std::fs::read_to_string(&path).expect("file");
        assert!(!text.contains(token.expose_secret()));
        assert!(text.contains(&to_hex(&hash(token.expose_secret().as_bytes()))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let who = file
            .find(&hash(token.expose_secret().as_bytes()))
            .expect("found");
        assert_eq!(who.name, "grafana");
        assert_eq!(who.scopes, [Scope::Read]);
        assert!(file.find(&hash(b"msgops_other")).is_none());

        assert!(matches!(
            create(&path, "grafana", &[Scope::Admin], actor(), false),
            Err(TokenFileError::NameTaken(_))
        ));
        let second = create(&path, "grafana", &[Scope::Admin], actor(), true).expect("replaced");
        assert!(
            file.find(&hash(token.expose_secret().as_bytes())).is_none(),
            "the replaced token no longer works"
        );
        assert_eq!(
            file.find(&hash(second.expose_secret().as_bytes()))
                .expect("found")
                .scopes,
            [Scope::Admin]
        );
        revoke(&path, "grafana").expect("revoked");
        assert!(file
            .find(&hash(second.expose_secret().as_bytes()))
            .is_none());
        assert!(matches!(
            revoke(&path, "grafana"),
            Err(TokenFileError::NoSuchToken(_))
        ));
        assert!(list(&path).expect("list").is_empty());
    }

    #[test]
    fn bad_names_and_damaged_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = path_in(dir.path());
        for bad in ["", "a b", "x/y", &"n".repeat(65)] {
            assert!(matches!(
                create(&path, bad, &[Scope::Read], actor(), false),
                Err(TokenFileError::BadName(_))
            ));
        }
        assert!(matches!(
            create(&path, "Legacy", &[Scope::Read], actor(), false),
            Err(TokenFileError::ReservedName)
        ));
        assert!(matches!(
            create(&path, "ok", &[], actor(), false),
            Err(TokenFileError::NoScope)
        ));
        std::fs::write(&path, "{not json").expect("write");
        assert!(matches!(
            create(&path, "ok", &[Scope::Read], actor(), false),
            Err(TokenFileError::Damaged { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{not json",
            "a damaged file is left as it is"
        );
        assert_eq!(TokenFile::new(&path).count(), 0, "fails closed");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_may_write_grants_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = path_in(dir.path());
        let token = create(&path, "ci", &[Scope::Admin], actor(), false).expect("created");
        let file = TokenFile::new(&path);
        assert!(file.find(&hash(token.expose_secret().as_bytes())).is_some());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        assert!(file.find(&hash(token.expose_secret().as_bytes())).is_none());
    }

    #[test]
    fn debug_hides_the_hash() {
        let entry = TokenEntry {
            name: "n".into(),
            scopes: vec![Scope::Read],
            sha256: "ab".repeat(32),
            created_at: Utc::now(),
            created_by: actor(),
        };
        assert!(!format!("{entry:?}").contains(&"ab".repeat(32)));
    }
}
