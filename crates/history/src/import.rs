//! The JSON-lines files of earlier versions (`sends.jsonl`, `deliveries.jsonl` in the data
//! directory), imported into the database once: each file in one transaction together with a
//! marker row in `imports` (keyed by host and path), so that a crash mid-import leaves nothing
//! and the next start imports it whole, and a file already imported is never imported again.
//! After the import the file is renamed `<name>.imported` and kept. A line that cannot be read
//! is reported and skipped, as the old store did.

use std::path::{Path, PathBuf};

use chrono::Utc;
use msgops_delivery::DeliveryEvent;
use serde::de::DeserializeOwned;

use crate::db::{on_pool, BeginWrite};
use crate::deliveries::INSERT_DELIVERY;
use crate::origin::RecordedSend;
use crate::store::HistoryStore;
use crate::write::{insert_rows, micros, upsert_totals, SendRow, Totals};

/// The send history file of earlier versions.
pub const LEGACY_SENDS_FILE: &str = "sends.jsonl";
/// The delivery reports file of earlier versions.
pub const LEGACY_DELIVERIES_FILE: &str = "deliveries.jsonl";
/// Appended to a file's name once it is imported.
pub const IMPORTED_SUFFIX: &str = ".imported";

/// Imports what `dir` holds of the old files; returns the problems (unreadable lines, a
/// failed import — retried at the next start).
pub(crate) async fn import_legacy(store: &HistoryStore, dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let sends = dir.join(LEGACY_SENDS_FILE);
    if sends.is_file() {
        match read_lines::<RecordedSend>(&sends, "send record").await {
            Ok((records, bad)) => {
                let skipped = bad.len();
                problems.extend(bad);
                match import_sends(store, &sends, &records, skipped).await {
                    Ok(imported) => problems.extend(finish(&sends, imported, records.len())),
                    Err(e) => problems.push(e),
                }
            }
            Err(e) => problems.push(e),
        }
    }
    let deliveries = dir.join(LEGACY_DELIVERIES_FILE);
    if deliveries.is_file() {
        match read_lines::<DeliveryEvent>(&deliveries, "delivery report").await {
            Ok((events, bad)) => {
                let skipped = bad.len();
                problems.extend(bad);
                match import_deliveries(store, &deliveries, &events, skipped).await {
                    Ok(imported) => problems.extend(finish(&deliveries, imported, events.len())),
                    Err(e) => problems.push(e),
                }
            }
            Err(e) => problems.push(e),
        }
    }
    problems
}

/// Renames an imported file (or one an earlier start imported and could not rename).
fn finish(path: &Path, imported: bool, records: usize) -> Option<String> {
    if imported {
        tracing::info!(file = %path.display(), records, "imported into the history database");
    }
    let mut name = path.as_os_str().to_owned();
    name.push(IMPORTED_SUFFIX);
    std::fs::rename(path, PathBuf::from(name)).err().map(|e| {
        format!(
            "{} was imported but could not be renamed ({e}); it will not be imported again",
            path.display()
        )
    })
}

/// The key of a file in `imports`: this host and the file's full path.
fn source_key(path: &Path) -> String {
    let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let host = gethostname::gethostname()
        .to_string_lossy()
        .trim()
        .to_string();
    format!("{host}:{}", full.display())
}

async fn read_lines<T: DeserializeOwned + Send + 'static>(
    path: &Path,
    record_name: &'static str,
) -> Result<(Vec<T>, Vec<String>), String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut records = Vec::new();
        let mut problems = Vec::new();
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<T>(line) {
                Ok(r) => records.push(r),
                Err(e) => problems.push(format!(
                    "{}: line {} is not a {record_name} ({e}); skipped",
                    path.display(),
                    i + 1
                )),
            }
        }
        Ok((records, problems))
    })
    .await
    .map_err(|e| e.to_string())?
}

const INSERT_MARKER: &str = "INSERT INTO imports (source, imported_at, records, skipped) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (source) DO NOTHING";

/// `Ok(false)`: imported before (by this or another process).
async fn import_sends(
    store: &HistoryStore,
    path: &Path,
    records: &[RecordedSend],
    skipped: usize,
) -> Result<bool, String> {
    let rows = records
        .iter()
        .map(SendRow::of)
        .collect::<Result<Vec<_>, _>>()?;
    let mut totals = Totals::default();
    for r in records {
        totals.add(r);
    }
    let key = source_key(path);
    let sqlite = store.db.is_sqlite();
    let done: Result<bool, sqlx::Error> = on_pool!(&store.db, pool, DB => async {
        let mut tx = pool.begin_write().await?;
        let new = sqlx::query::<DB>(INSERT_MARKER)
            .bind(key.as_str())
            .bind(micros(Utc::now()))
            .bind(records.len() as i64)
            .bind(skipped as i64)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if new == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_rows!(tx, DB, &rows, sqlite);
        upsert_totals!(tx, DB, &totals);
        tx.commit().await?;
        Ok(true)
    }
    .await);
    done.map_err(|e| store.write_error("send history", e).to_string())
}

async fn import_deliveries(
    store: &HistoryStore,
    path: &Path,
    events: &[DeliveryEvent],
    skipped: usize,
) -> Result<bool, String> {
    let json = events
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let key = source_key(path);
    let done: Result<bool, sqlx::Error> = on_pool!(&store.db, pool, DB => async {
        let mut tx = pool.begin_write().await?;
        let new = sqlx::query::<DB>(INSERT_MARKER)
            .bind(key.as_str())
            .bind(micros(Utc::now()))
            .bind(events.len() as i64)
            .bind(skipped as i64)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if new == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        for (event, json) in events.iter().zip(&json) {
            sqlx::query::<DB>(INSERT_DELIVERY)
                .bind(event.provider.as_str())
                .bind(event.event_id.as_str())
                .bind(event.provider_message_id.as_str())
                .bind(micros(event.received_at))
                .bind(json.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
    .await);
    done.map_err(|e| store.write_error("delivery reports", e).to_string())
}
