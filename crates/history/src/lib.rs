//! The send history: every finished send with its attempts, as the chain reported it, and
//! where it came from (the app or a standalone `msgops serve`, host and process).
//!
//! One JSON-lines file for every msgops process on the machine ([`default_path`]: one
//! [`RecordedSend`] per line, appended as sends finish, by any of them) so it survives a
//! restart and the app shows the service's sends; in memory for queries, topped up from the
//! file before each. A line that cannot be read is reported and skipped; the rest of the file
//! still loads. The oldest records fall off past a cap, in memory and — when the file is
//! compacted at open — on disk. It must never lose or duplicate a record another process wrote
//! (see `shared_log.rs` for how appends and reads share the file).
//!
//! The providers' delivery reports live beside it in the same kind of file ([`DeliveryLog`]),
//! matched to each send's attempts by the provider's message id.

mod deliveries;
mod origin;
mod query;
mod shared_log;
mod store;
mod summary;

pub use deliveries::{
    default_deliveries_path, DeliveryLog, DEFAULT_DELIVERIES_CAP, DELIVERIES_FILE_NAME,
};
pub use origin::{OriginKind, RecordedSend, SendOrigin};
pub use query::{HistoryFilter, HistoryPage, OutcomeFilter};
pub use store::{default_path, HistoryError, SendHistory, DEFAULT_CAP, FILE_NAME};
pub use summary::{DayCost, FailoverRoute, HistorySummary};

pub use msgops_core::chain::SendRecord;
