//! Where the history is kept: a SQLite file (the default, `history.sqlite3` in the data
//! directory, shared by the processes of one machine) or a PostgreSQL database (shared by
//! several instances). A PostgreSQL URL's password never appears in a message, a log line or
//! `Debug`.

use std::path::{Path, PathBuf};

use msgops_core::config::{mask_url_password, HistoryConfig};

/// The SQLite file's name in the data directory.
pub const SQLITE_FILE_NAME: &str = "history.sqlite3";

/// Where [`crate::HistoryStore::open`] finds the history.
#[derive(Clone, PartialEq, Eq)]
pub enum HistoryLocation {
    /// A SQLite file (made when missing, in WAL mode).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user:password@host:5432/db`).
    Postgres(String),
}

impl HistoryLocation {
    /// [`SQLITE_FILE_NAME`] in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self::Sqlite(dir.join(SQLITE_FILE_NAME))
    }

    /// [`SQLITE_FILE_NAME`] in [`msgops_core::config::data_dir`] (`$MSGOPS_DATA_DIR` when set).
    pub fn default_sqlite() -> Self {
        Self::in_dir(&msgops_core::config::data_dir())
    }

    /// `postgres://…` / `postgresql://…`, `sqlite://PATH`, or a file path. A relative path is
    /// taken from the working directory.
    pub fn parse(url: &str) -> Result<Self, String> {
        msgops_core::config::check_history_url(url)?;
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_string()));
        }
        Ok(Self::Sqlite(PathBuf::from(
            url.strip_prefix("sqlite://").unwrap_or(url),
        )))
    }

    /// What `[history] url` says, or the default SQLite file of the data directory.
    pub fn from_config(config: &HistoryConfig) -> Result<Self, String> {
        match config.url.as_deref() {
            Some(url) => Self::parse(url),
            None => Ok(Self::default_sqlite()),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// Where the JSON-lines files of earlier versions (`sends.jsonl`, `deliveries.jsonl`) are
    /// looked for: beside a SQLite file; the data directory for PostgreSQL.
    pub fn legacy_dir(&self) -> PathBuf {
        match self {
            Self::Sqlite(path) => path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            Self::Postgres(_) => msgops_core::config::data_dir(),
        }
    }
}

/// For people and logs: the file, or the URL with its password masked.
impl std::fmt::Display for HistoryLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => f.write_str(&mask_url_password(url)),
        }
    }
}

impl std::fmt::Debug for HistoryLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&mask_url_password(url))
                .finish(),
        }
    }
}

/// `message` with every occurrence of the password of `location` masked: the database
/// driver's errors may quote what they were given.
pub(crate) fn scrub(location: &HistoryLocation, message: String) -> String {
    let HistoryLocation::Postgres(url) = location else {
        return message;
    };
    let mut out = message.replace(url.as_str(), &mask_url_password(url));
    for secret in passwords(url) {
        if secret.len() >= 3 {
            out = out.replace(&secret, "***");
        }
    }
    out
}

/// The passwords a URL carries (user part and `password=` parameter).
fn passwords(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(rest) = url.split_once("://").map(|(_, r)| r) {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if let Some((_, password)) = userinfo.split_once(':') {
                found.push(password.to_string());
            }
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=') {
                if key.eq_ignore_ascii_case("password") {
                    found.push(value.to_string());
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_name_their_backend_and_never_show_the_password() {
        let pg = HistoryLocation::parse("postgres://msgops:s3cret@db:5432/msgops").expect("pg");
        assert!(pg.is_postgres());
        assert_eq!(pg.to_string(), "postgres://msgops:***@db:5432/msgops");
        assert!(!format!("{pg:?}").contains("s3cret"));
        assert_eq!(
            scrub(&pg, "password authentication failed (s3cret)".into()),
            "password authentication failed (***)"
        );
        assert_eq!(
            HistoryLocation::parse("sqlite:///var/lib/msgops/h.db").expect("sqlite"),
            HistoryLocation::Sqlite("/var/lib/msgops/h.db".into())
        );
        assert_eq!(
            HistoryLocation::parse("h.db").expect("path"),
            HistoryLocation::Sqlite("h.db".into())
        );
        assert!(HistoryLocation::parse("mysql://x/y").is_err());
        assert_eq!(
            HistoryLocation::in_dir(Path::new("/d")).legacy_dir(),
            PathBuf::from("/d")
        );
    }
}
