//! The database under the store: a SQLite pool (WAL, a busy timeout, writes in `BEGIN
//! IMMEDIATE` transactions so that several processes can write at once) or a PostgreSQL pool,
//! each migrated on open with its own embedded migrations. Queries are built at run time (no
//! compile-time checking, no database needed to build) with `$N` placeholders, which both
//! backends read; [`on_pool!`] writes a piece of code once for both pools.

use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::location::HistoryLocation;

/// How long a SQLite write waits for another process's write to finish before it fails.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool and `$db` naming its `sqlx::Database`.
macro_rules! on_pool {
    ($target:expr, $pool:ident, $db:ident => $body:expr) => {
        match $target {
            $crate::db::Db::Sqlite($pool) => {
                #[allow(dead_code)]
                type $db = sqlx::Sqlite;
                $body
            }
            $crate::db::Db::Postgres($pool) => {
                #[allow(dead_code)]
                type $db = sqlx::Postgres;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// Binds `$values` (a slice of [`Value`]) to `$query` in order.
macro_rules! bind_values {
    ($query:expr, $values:expr) => {{
        let mut q = $query;
        for v in $values {
            q = match v {
                $crate::db::Value::Int(x) => q.bind(*x),
                $crate::db::Value::Text(s) => q.bind(s.as_str()),
                $crate::db::Value::OptInt(x) => q.bind(*x),
                $crate::db::Value::OptText(s) => q.bind(s.as_deref()),
            };
        }
        q
    }};
}
pub(crate) use bind_values;

/// A value bound to a run-time query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Text(String),
    OptInt(Option<i64>),
    OptText(Option<String>),
}

/// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite, so that the write lock is taken at
/// once (waiting up to the busy timeout) rather than failing when a read turns into a write.
pub(crate) trait BeginWrite {
    type Database: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, Self::Database>, sqlx::Error>,
    > + Send;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>,
    > + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>,
    > + Send {
        self.begin()
    }
}

impl Db {
    pub(crate) fn is_sqlite(&self) -> bool {
        matches!(self, Db::Sqlite(_))
    }

    /// Connects to `location` (making a missing SQLite file and its directory) and applies
    /// the migrations it lacks.
    pub(crate) async fn open(location: &HistoryLocation) -> Result<Db, String> {
        let db = match location {
            HistoryLocation::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(BUSY_TIMEOUT);
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(BUSY_TIMEOUT + Duration::from_secs(5))
                    .connect_with(options)
                    .await
                    .map_err(|e| e.to_string())?;
                Db::Sqlite(pool)
            }
            HistoryLocation::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|e| e.to_string())?
                    .application_name("msgops");
                let pool = PgPoolOptions::new()
                    .max_connections(5)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(|e| e.to_string())?;
                Db::Postgres(pool)
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    /// A SQLite database in memory: one connection, kept for the pool's life.
    pub(crate) async fn open_memory() -> Result<Db, String> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|e| e.to_string())?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| e.to_string())?;
        let db = Db::Sqlite(pool);
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), String> {
        let migrations = match self {
            Db::Sqlite(_) => SQLITE_MIGRATIONS,
            Db::Postgres(_) => POSTGRES_MIGRATIONS,
        };
        let migrator = Migrator::new(Embedded(migrations))
            .await
            .map_err(|e| e.to_string())?;
        // PostgreSQL: under an advisory lock, so instances starting together migrate once.
        // SQLite: the caller holds the file lock beside the database.
        let result = match self {
            Db::Sqlite(pool) => migrator.run(pool).await,
            Db::Postgres(pool) => migrator.run(pool).await,
        };
        result.map_err(|e| format!("migrating the history database: {e}"))
    }

    pub(crate) async fn close(&self) {
        on_pool!(self, pool, _DB => pool.close().await)
    }
}

/// One backend's migrations: version, description, SQL.
type Migrations = &'static [(i64, &'static str, &'static str)];

const SQLITE_MIGRATIONS: Migrations = &[(
    1,
    "history",
    include_str!("../migrations/sqlite/0001_history.sql"),
)];

const POSTGRES_MIGRATIONS: Migrations = &[(
    1,
    "history",
    include_str!("../migrations/postgres/0001_history.sql"),
)];

/// The migrations compiled into the binary, for sqlx's migrator.
#[derive(Debug)]
struct Embedded(Migrations);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<
        Box<
            dyn std::future::Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>>
                + Send,
        >,
    > {
        let migrations = self
            .0
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    (*description).into(),
                    MigrationType::Simple,
                    (*sql).into(),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}
