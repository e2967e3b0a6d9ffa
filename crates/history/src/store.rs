//! The history store: sends, delivery reports, provider states and probes in one database
//! ([`HistoryLocation`]: SQLite for one machine, PostgreSQL for several instances). Every write
//! is one transaction (a send with its attempts and the day's totals); reads are SQL over
//! indexed columns. Opening migrates the schema, imports the JSON-lines files of earlier
//! versions once, and deletes what is older than `keep_days`; so does a write, at most hourly.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use msgops_core::chain::SendRecord;
use msgops_core::ProviderKind;

use crate::db::{bind_values, on_pool, BeginWrite, Db};
use crate::filter_sql::Where;
use crate::location::{scrub, HistoryLocation};
use crate::origin::{RecordedSend, SendOrigin};
use crate::query::{HistoryFilter, HistoryPage};
use crate::summary::{DayCost, FailoverRoute, HistorySummary};
use crate::write::{day_of, dollars, insert_rows, micros, upsert_totals, SendRow, Totals};

/// How often a long-running store deletes what is past `keep_days`.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot open the send history {location}: {message}")]
    Open { location: String, message: String },
    #[error("cannot write the {what} in {location}: {message}")]
    Write {
        what: &'static str,
        location: String,
        message: String,
    },
    #[error("cannot read the {what} in {location}: {message}")]
    Read {
        what: &'static str,
        location: String,
        message: String,
    },
}

/// The send history and everything kept beside it, in SQL. Cheap to share behind an `Arc`;
/// every method takes `&self`.
pub struct HistoryStore {
    pub(crate) db: Db,
    location: HistoryLocation,
    origin: SendOrigin,
    keep_days: u32,
    last_prune: Mutex<Option<Instant>>,
    /// Each provider's breaker state and switch as this process last recorded them (its own
    /// breakers), so that a row says the whole state after it.
    pub(crate) states: Mutex<HashMap<ProviderKind, (msgops_core::breaker::BreakerState, bool)>>,
}

impl std::fmt::Debug for HistoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryStore")
            .field("location", &self.location)
            .field("origin", &self.origin)
            .field("keep_days", &self.keep_days)
            .finish_non_exhaustive()
    }
}

impl HistoryStore {
    /// Opens (or makes) the history at `location` and migrates it; imports `sends.jsonl` and
    /// `deliveries.jsonl` of [`HistoryLocation::legacy_dir`] once; deletes what is older than
    /// `keep_days` days. The sends this process records are marked as coming from `origin`.
    /// Returns the store and one message per line of an imported file that could not be read
    /// (that line is left out, nothing else is lost).
    pub async fn open(
        location: HistoryLocation,
        keep_days: u32,
        origin: SendOrigin,
    ) -> Result<(Self, Vec<String>), HistoryError> {
        let legacy = location.legacy_dir();
        Self::open_importing(location, keep_days, origin, Some(&legacy)).await
    }

    /// As [`HistoryStore::open`], importing the JSON-lines files of `legacy_dir` (none: no
    /// import).
    pub async fn open_importing(
        location: HistoryLocation,
        keep_days: u32,
        origin: SendOrigin,
        legacy_dir: Option<&Path>,
    ) -> Result<(Self, Vec<String>), HistoryError> {
        let open_error = |message: String| HistoryError::Open {
            location: location.to_string(),
            message: scrub(&location, message),
        };
        // One process at a time migrates and imports a SQLite file (PostgreSQL: an advisory
        // lock and the import marker do it).
        let _lock = match &location {
            HistoryLocation::Sqlite(path) => Some(lock_beside(path).await.map_err(open_error)?),
            HistoryLocation::Postgres(_) => None,
        };
        let db = Db::open(&location).await.map_err(open_error)?;
        let store = Self {
            db,
            location: location.clone(),
            origin,
            keep_days: keep_days.max(1),
            last_prune: Mutex::new(None),
            states: Mutex::new(HashMap::new()),
        };
        let mut problems = Vec::new();
        if let Some(dir) = legacy_dir {
            problems.extend(crate::import::import_legacy(&store, dir).await);
        }
        if let Err(e) = store.prune(Utc::now()).await {
            problems.push(e.to_string());
        }
        Ok((store, problems))
    }

    /// A history in memory only (lost when the process ends): for a process whose configured
    /// history cannot be opened, and for tests.
    pub async fn in_memory(origin: SendOrigin) -> Result<Self, HistoryError> {
        let location = HistoryLocation::Sqlite(":memory:".into());
        let db = Db::open_memory()
            .await
            .map_err(|message| HistoryError::Open {
                location: location.to_string(),
                message,
            })?;
        Ok(Self {
            db,
            location,
            origin,
            keep_days: msgops_core::config::DEFAULT_HISTORY_KEEP_DAYS,
            last_prune: Mutex::new(None),
            states: Mutex::new(HashMap::new()),
        })
    }

    /// Where the history is (a PostgreSQL URL's password masked when shown).
    pub fn location(&self) -> &HistoryLocation {
        &self.location
    }

    /// Where the sends this process records come from.
    pub fn origin(&self) -> &SendOrigin {
        &self.origin
    }

    pub fn keep_days(&self) -> u32 {
        self.keep_days
    }

    /// Closes the connections (they close by themselves when the store is dropped, later).
    pub async fn close(&self) {
        self.db.close().await;
    }

    pub(crate) fn write_error(
        &self,
        what: &'static str,
        e: impl std::fmt::Display,
    ) -> HistoryError {
        HistoryError::Write {
            what,
            location: self.location.to_string(),
            message: scrub(&self.location, e.to_string()),
        }
    }

    pub(crate) fn read_error(&self, what: &'static str, e: impl std::fmt::Display) -> HistoryError {
        HistoryError::Read {
            what,
            location: self.location.to_string(),
            message: scrub(&self.location, e.to_string()),
        }
    }

    /// Adds a finished send, marked with this store's origin.
    pub async fn record(&self, record: &SendRecord) -> Result<(), HistoryError> {
        let entry = RecordedSend {
            record: record.clone(),
            origin: self.origin.clone(),
        };
        self.record_all(std::slice::from_ref(&entry)).await?;
        self.prune_if_due().await;
        Ok(())
    }

    /// Adds sends as they are (each with its own origin), in one transaction.
    pub async fn record_all(&self, sends: &[RecordedSend]) -> Result<(), HistoryError> {
        let rows = sends
            .iter()
            .map(SendRow::of)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.write_error("send history", e))?;
        let mut totals = Totals::default();
        for s in sends {
            totals.add(s);
        }
        let sqlite = self.db.is_sqlite();
        let mut tries = 0;
        loop {
            tries += 1;
            let written: Result<(), sqlx::Error> = on_pool!(&self.db, pool, DB => async {
                let mut tx = pool.begin_write().await?;
                insert_rows!(tx, DB, &rows, sqlite);
                upsert_totals!(tx, DB, &totals);
                tx.commit().await
            }
            .await);
            match written {
                Ok(()) => return Ok(()),
                Err(e) if tries < 3 && retryable(&e) => {
                    tracing::warn!(error = %scrub(&self.location, e.to_string()), "send history busy; trying again");
                    tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                }
                Err(e) => return Err(self.write_error("send history", e)),
            }
        }
    }

    /// How many sends the history holds.
    pub async fn count(&self) -> Result<u64, HistoryError> {
        let n: Result<i64, sqlx::Error> = on_pool!(&self.db, pool, DB =>
            sqlx::query_scalar::<DB, i64>("SELECT COUNT(*) FROM sends").fetch_one(pool).await);
        n.map(|n| n.max(0) as u64)
            .map_err(|e| self.read_error("send history", e))
    }

    /// Sends matching `filter`, newest first (by start), one page of them, with how many
    /// matched in all and what the providers reported about them.
    pub async fn query(&self, filter: &HistoryFilter) -> Result<HistoryPage, HistoryError> {
        let limit = filter
            .limit
            .unwrap_or(HistoryFilter::DEFAULT_LIMIT)
            .min(HistoryFilter::MAX_LIMIT);
        let offset = filter.offset.unwrap_or(0);
        let sqlite = self.db.is_sqlite();
        let w = Where::of(filter, sqlite);
        // The count: every send from the daily totals; else the index's matching entries
        // (SQLite: sought in `sends_filter`, the rows untouched), or the planner's choice when
        // a text search drives it from the trigram table.
        let count_sql = if w.everything {
            "SELECT CAST(COALESCE(SUM(sends), 0) AS BIGINT) FROM daily_sends".to_string()
        } else if sqlite && !w.has_text {
            format!(
                "SELECT COUNT(*) FROM sends s INDEXED BY sends_filter WHERE {}",
                w.clause
            )
        } else {
            format!("SELECT COUNT(*) FROM sends s WHERE {}", w.clause)
        };
        let count_values: &[crate::db::Value] = if w.everything { &[] } else { &w.values };
        let page_sql = |total: i64| {
            // Many matches: read newest first and stop at the page; few: read the matches
            // and sort them.
            let hint = if !sqlite || w.has_text {
                ""
            } else if total >= 2_000 && i64::from(offset) + i64::from(limit) <= total / 2 {
                "INDEXED BY sends_newest"
            } else {
                "INDEXED BY sends_filter"
            };
            format!(
                "SELECT s.record FROM sends s {hint} WHERE {} \
                 ORDER BY s.started_at DESC, s.id DESC LIMIT {limit} OFFSET {offset}",
                w.clause
            )
        };
        let read: Result<(Vec<String>, i64), sqlx::Error> = on_pool!(&self.db, pool, DB => async {
            // One snapshot for the page and its count.
            let mut tx = pool.begin().await?;
            let total = bind_values!(sqlx::query_scalar::<DB, i64>(&count_sql), count_values)
                .fetch_one(&mut *tx)
                .await?;
            let records = if total > i64::from(offset) && limit > 0 {
                let sql = page_sql(total);
                bind_values!(sqlx::query_scalar::<DB, String>(&sql), &w.values)
                    .fetch_all(&mut *tx)
                    .await?
            } else {
                Vec::new()
            };
            tx.commit().await?;
            Ok((records, total))
        }
        .await);
        let (records, total) = read.map_err(|e| self.read_error("send history", e))?;
        let sends = self.decode_sends(records);
        let page = HistoryPage {
            total: u32::try_from(total.max(0)).unwrap_or(u32::MAX),
            sends,
            deliveries: Vec::new(),
        };
        self.fill(page).await
    }

    pub(crate) fn decode_sends(&self, records: Vec<String>) -> Vec<RecordedSend> {
        records
            .into_iter()
            .filter_map(|json| match serde_json::from_str::<RecordedSend>(&json) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(error = %e, "a send in the history could not be read; left out");
                    None
                }
            })
            .collect()
    }

    /// The sends that carry one of these receipts (a provider and its message id), oldest
    /// first.
    pub async fn find_by_receipts(
        &self,
        receipts: &[(ProviderKind, String)],
    ) -> Result<Vec<RecordedSend>, HistoryError> {
        let mut by_provider: BTreeMap<ProviderKind, Vec<&str>> = BTreeMap::new();
        for (p, id) in receipts {
            by_provider.entry(*p).or_default().push(id.as_str());
        }
        let mut found: BTreeMap<i64, String> = BTreeMap::new();
        for (provider, ids) in by_provider {
            for chunk in ids.chunks(500) {
                let placeholders: Vec<String> =
                    (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "SELECT s.id, s.record FROM sends s WHERE s.id IN (SELECT a.send_id FROM \
                     attempts a WHERE a.provider = $1 AND a.provider_message_id IN ({}))",
                    placeholders.join(", ")
                );
                let rows: Result<Vec<(i64, String)>, sqlx::Error> = on_pool!(&self.db, pool, DB => {
                    let mut q = sqlx::query_as::<DB, (i64, String)>(&sql).bind(provider.as_str());
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    q.fetch_all(pool).await
                });
                for (id, record) in rows.map_err(|e| self.read_error("send history", e))? {
                    found.insert(id, record);
                }
            }
        }
        Ok(self.decode_sends(found.into_values().collect()))
    }

    /// Cost per provider per day and failover counts over the last `days` days (UTC) up to
    /// `now`: the daily totals of those days, less what sends of `now`'s day started after
    /// `now` (normally none) added to them.
    pub async fn summary(
        &self,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<HistorySummary, HistoryError> {
        let days = days.clamp(1, 366);
        let since: NaiveDate = (now - TimeDelta::days(i64::from(days) - 1)).date_naive();
        let (since_day, today) = (since.format("%Y-%m-%d").to_string(), day_of(now));
        let now_micros = micros(now);
        type ProviderRow = (String, String, i64, i64, i64);
        type RouteRow = (String, String, i64);
        type Read = ([i64; 4], Vec<ProviderRow>, Vec<RouteRow>);
        let read: Result<Read, sqlx::Error> = on_pool!(&self.db, pool, DB => async {
                let mut tx = pool.begin().await?;
                let days_total: (i64, i64, i64, i64) = sqlx::query_as::<DB, (i64, i64, i64, i64)>(
                    "SELECT CAST(COALESCE(SUM(sends), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(delivered), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(failed), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(failed_over), 0) AS BIGINT) \
                     FROM daily_sends WHERE day >= $1 AND day <= $2",
                )
                .bind(since_day.as_str())
                .bind(today.as_str())
                .fetch_one(&mut *tx)
                .await?;
                let later: (i64, i64, i64, i64) = sqlx::query_as::<DB, (i64, i64, i64, i64)>(
                    "SELECT COUNT(*), \
                     CAST(COALESCE(SUM(CASE WHEN outcome_class > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN outcome_class = 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN outcome_class = 2 THEN 1 ELSE 0 END), 0) AS BIGINT) \
                     FROM sends WHERE day = $1 AND started_at > $2",
                )
                .bind(today.as_str())
                .bind(now_micros)
                .fetch_one(&mut *tx)
                .await?;
                let mut providers = sqlx::query_as::<DB, ProviderRow>(
                    "SELECT day, provider, cost_nano, delivered, failed FROM daily_provider \
                     WHERE day >= $1 AND day <= $2",
                )
                .bind(since_day.as_str())
                .bind(today.as_str())
                .fetch_all(&mut *tx)
                .await?;
                // Negated: taken off the day's totals.
                providers.extend(
                    sqlx::query_as::<DB, ProviderRow>(
                        "SELECT s.day, a.provider, CAST(-COALESCE(SUM(a.cost_nano), 0) AS BIGINT), \
                         CAST(-COALESCE(SUM(CASE WHEN a.outcome = 'delivered' THEN 1 ELSE 0 END), 0) AS BIGINT), \
                         CAST(-COALESCE(SUM(CASE WHEN a.outcome = 'delivered' THEN 0 ELSE 1 END), 0) AS BIGINT) \
                         FROM attempts a JOIN sends s ON s.id = a.send_id \
                         WHERE s.day = $1 AND s.started_at > $2 AND a.skipped = 0 \
                         GROUP BY s.day, a.provider",
                    )
                    .bind(today.as_str())
                    .bind(now_micros)
                    .fetch_all(&mut *tx)
                    .await?,
                );
                let mut routes = sqlx::query_as::<DB, RouteRow>(
                    "SELECT from_provider, to_provider, CAST(COALESCE(SUM(count), 0) AS BIGINT) \
                     FROM daily_routes WHERE day >= $1 AND day <= $2 \
                     GROUP BY from_provider, to_provider",
                )
                .bind(since_day.as_str())
                .bind(today.as_str())
                .fetch_all(&mut *tx)
                .await?;
                routes.extend(
                    sqlx::query_as::<DB, RouteRow>(
                        "SELECT failed_over_from, delivered_by, CAST(-COUNT(*) AS BIGINT) FROM sends \
                         WHERE day = $1 AND started_at > $2 AND outcome_class = 2 \
                         GROUP BY failed_over_from, delivered_by",
                    )
                    .bind(today.as_str())
                    .bind(now_micros)
                    .fetch_all(&mut *tx)
                    .await?,
                );
                tx.commit().await?;
                let totals = [
                    days_total.0 - later.0,
                    days_total.1 - later.1,
                    days_total.2 - later.2,
                    days_total.3 - later.3,
                ];
                Ok((totals, providers, routes))
            }
            .await);
        let (totals, providers, routes) = read.map_err(|e| self.read_error("send history", e))?;
        let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
        let mut per_day: BTreeMap<(String, ProviderKind), (i64, i64, i64)> = BTreeMap::new();
        for (day, provider, cost, delivered, failed) in providers {
            let Ok(provider) = provider.parse::<ProviderKind>() else {
                continue;
            };
            let e = per_day.entry((day, provider)).or_default();
            e.0 += cost;
            e.1 += delivered;
            e.2 += failed;
        }
        // A provider whose calls that day all came after `now` is not in the window.
        per_day.retain(|_, v| v.1 != 0 || v.2 != 0);
        let total_nano: i64 = per_day.values().map(|v| v.0).sum();
        let mut by_route: BTreeMap<(ProviderKind, ProviderKind), i64> = BTreeMap::new();
        for (from, to, n) in routes {
            if let (Ok(from), Ok(to)) = (from.parse(), to.parse()) {
                *by_route.entry((from, to)).or_default() += n;
            }
        }
        let mut failover_routes: Vec<FailoverRoute> = by_route
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|((from, to), n)| FailoverRoute {
                from,
                to,
                count: count(n),
            })
            .collect();
        failover_routes.sort_by_key(|r| std::cmp::Reverse(r.count));
        Ok(HistorySummary {
            since: since.to_string(),
            days,
            sends: count(totals[0]),
            delivered: count(totals[1]),
            failed: count(totals[2]),
            failed_over: count(totals[3]),
            total_cost_usd: dollars(total_nano),
            cost_per_day: per_day
                .into_iter()
                .map(|((day, provider), (cost, delivered, failed))| DayCost {
                    day,
                    provider,
                    cost_usd: dollars(cost),
                    delivered: count(delivered),
                    failed: count(failed),
                })
                .collect(),
            failover_routes,
        })
    }

    /// Deletes the sends of the days before the last `keep_days` (with their totals), and the
    /// delivery reports, provider states and probes from before those days. Returns the sends
    /// deleted.
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<u64, HistoryError> {
        *lock(&self.last_prune) = Some(Instant::now());
        let cutoff = (now - TimeDelta::days(i64::from(self.keep_days))).date_naive();
        let cutoff_day = cutoff.format("%Y-%m-%d").to_string();
        let cutoff_micros = cutoff
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_micros());
        let sqlite = self.db.is_sqlite();
        let deleted: Result<u64, sqlx::Error> = on_pool!(&self.db, pool, DB => async {
            let mut tx = pool.begin_write().await?;
            if sqlite {
                sqlx::query::<DB>(
                    "DELETE FROM sends_search WHERE rowid IN (SELECT id FROM sends WHERE day < $1)",
                )
                .bind(cutoff_day.as_str())
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query::<DB>(
                "DELETE FROM attempts WHERE send_id IN (SELECT id FROM sends WHERE day < $1)",
            )
            .bind(cutoff_day.as_str())
            .execute(&mut *tx)
            .await?;
            let sends = sqlx::query::<DB>("DELETE FROM sends WHERE day < $1")
                .bind(cutoff_day.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            for table in ["daily_sends", "daily_provider", "daily_routes"] {
                sqlx::query::<DB>(&format!("DELETE FROM {table} WHERE day < $1"))
                    .bind(cutoff_day.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query::<DB>("DELETE FROM deliveries WHERE received_at < $1")
                .bind(cutoff_micros)
                .execute(&mut *tx)
                .await?;
            for table in ["provider_states", "probes"] {
                sqlx::query::<DB>(&format!("DELETE FROM {table} WHERE at < $1"))
                    .bind(cutoff_micros)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(sends)
        }
        .await);
        let deleted = deleted.map_err(|e| self.write_error("send history", e))?;
        if deleted > 0 {
            tracing::info!(
                sends = deleted,
                keep_days = self.keep_days,
                "old sends deleted from the history"
            );
        }
        Ok(deleted)
    }

    /// [`HistoryStore::prune`] when the last one was an hour ago or more; a failure is logged.
    pub(crate) async fn prune_if_due(&self) {
        let due = lock(&self.last_prune).is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
        if due {
            if let Err(e) = self.prune(Utc::now()).await {
                tracing::warn!(error = %e, "old history not deleted");
            }
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a failed write may succeed when tried again (another writer held the database, or
/// PostgreSQL chose this transaction to end a deadlock or a serialization conflict).
pub(crate) fn retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            let message = db.message().to_ascii_lowercase();
            ["5", "6", "40001", "40P01"].contains(&code.as_str())
                || code.starts_with("5")
                || message.contains("database is locked")
                || message.contains("busy")
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
        _ => false,
    }
}

/// Holds an exclusive lock on `<database>.lock` (closing the file releases it).
async fn lock_beside(path: &Path) -> Result<std::fs::File, String> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = std::path::PathBuf::from(name);
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("{}: {e}", lock_path.display()))?;
        file.lock()
            .map_err(|e| format!("{}: {e}", lock_path.display()))?;
        Ok(file)
    })
    .await
    .map_err(|e| e.to_string())?
}
