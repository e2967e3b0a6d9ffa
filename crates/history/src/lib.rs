//! The send history: every finished send with its attempts, as the chain reported it, and
//! where it came from (the app or a standalone `msgops serve`, host and process).
//!
//! One JSON-lines file for every msgops process on the machine ([`default_path`]: one
//! [`RecordedSend`] per line, appended as sends finish, by any of them) so it survives a
//! restart and the app shows the service's sends; in memory for queries, topped up from the
//! file before each. A line that cannot be read is reported and skipped; the rest of the file
//! still loads. The oldest records fall off past a cap, in memory and — when the file is
//! compacted at open — on disk. It must never lose or duplicate a record another process wrote
//! (see `store.rs` for how appends and reads share the file).

mod origin;
mod query;
mod store;
mod summary;

pub use origin::{OriginKind, RecordedSend, SendOrigin};
pub use query::{HistoryFilter, HistoryPage, OutcomeFilter};
pub use store::{default_path, HistoryError, SendHistory, DEFAULT_CAP, FILE_NAME};
pub use summary::{DayCost, FailoverRoute, HistorySummary};

pub use msgops_core::chain::SendRecord;
