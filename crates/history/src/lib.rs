//! The send history: every finished send with its attempts, as the chain reported it, and
//! where it came from (the app or a standalone `msgops serve`, host and process) — with the
//! providers' delivery reports about them, each provider's breaker transitions and probe
//! results beside it.
//!
//! In SQL ([`HistoryStore`]): a SQLite file by default ([`HistoryLocation::default_sqlite`],
//! `history.sqlite3` in the data directory, WAL mode, shared by the app and every `msgops serve`
//! on the machine, several writing at once), or PostgreSQL (`[history] url = "postgres://…"`)
//! shared by several instances. The filters, the page and its total, the cost per provider per
//! day and the failover counts are SQL over indexed columns and daily totals; the whole record
//! is kept as JSON beside the columns, so what is read back is what was recorded. Nothing is
//! older than `[history] keep_days` (90 by default). It must never lose a send another process
//! wrote, nor keep a delivery report twice.
//!
//! The JSON-lines files of earlier versions (`sends.jsonl`, `deliveries.jsonl`) are imported
//! once, on open, and kept renamed `*.imported` (see `import.rs`).
//!
//! The in-memory filter and summary ([`HistoryFilter::apply`], [`HistorySummary::of`]) say what
//! the SQL must compute; the tests hold one against the other.

mod db;
mod deliveries;
mod filter_sql;
mod import;
mod location;
mod origin;
mod query;
mod store;
mod summary;
mod timeline;
mod write;

pub use import::{IMPORTED_SUFFIX, LEGACY_DELIVERIES_FILE, LEGACY_SENDS_FILE};
pub use location::{HistoryLocation, SQLITE_FILE_NAME};
pub use origin::{OriginKind, RecordedSend, SendOrigin};
pub use query::{failed_over_from, HistoryFilter, HistoryPage, OutcomeFilter};
pub use store::{HistoryError, HistoryStore};
pub use summary::{DayCost, FailoverRoute, HistorySummary};
pub use timeline::{ProviderState, ProviderTimeline, ProviderTimelines, StateSpan};

pub use msgops_core::chain::SendRecord;
