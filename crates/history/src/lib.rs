//! The send history: every finished send with its attempts, as the chain reported it.
//!
//! Kept in a JSON-lines file (one [`SendRecord`] per line, appended as sends finish) so it
//! survives a restart, and in memory for queries. A line that cannot be read is reported and
//! skipped; the rest of the file still loads. The oldest records fall off past a cap, in memory
//! and — when the file is compacted at open — on disk.

mod query;
mod store;
mod summary;

pub use query::{HistoryFilter, HistoryPage, OutcomeFilter};
pub use store::{HistoryError, SendHistory, DEFAULT_CAP};
pub use summary::{DayCost, FailoverRoute, HistorySummary};

pub use msgops_core::chain::SendRecord;
