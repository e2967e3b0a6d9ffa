//! The send history file, shared by every msgops process on the machine (see
//! [`crate::shared_log`] for how appends and reads share it).

use std::path::{Path, PathBuf};

use msgops_core::chain::SendRecord;

use crate::origin::{RecordedSend, SendOrigin};
use crate::query::{HistoryFilter, HistoryPage};
pub use crate::shared_log::HistoryError;
use crate::shared_log::SharedLog;
use crate::summary::HistorySummary;

/// The history file's name in the data directory.
pub const FILE_NAME: &str = "sends.jsonl";

/// Where the app and `msgops serve` keep the history: [`FILE_NAME`] in
/// [`msgops_core::config::data_dir`] (`$MSGOPS_DATA_DIR` when set).
pub fn default_path() -> PathBuf {
    msgops_core::config::data_dir().join(FILE_NAME)
}

/// Records kept by default: months of a busy backend's test and fallback traffic.
pub const DEFAULT_CAP: usize = 50_000;

/// Sends, oldest first, in memory and in a JSON-lines file that other processes may append to.
pub struct SendHistory {
    log: SharedLog<RecordedSend>,
    origin: SendOrigin,
}

impl SendHistory {
    /// Loads `path` (a missing file is an empty history); the sends this process records are
    /// marked as coming from `origin`. Returns the store and one message per line that could not
    /// be read; those lines are left out, nothing else is lost.
    pub fn open(path: impl Into<PathBuf>, cap: usize, origin: SendOrigin) -> (Self, Vec<String>) {
        let (log, problems) = SharedLog::open(path.into(), cap, "send history", "send record");
        (Self { log, origin }, problems)
    }

    pub fn path(&self) -> &Path {
        self.log.path()
    }

    /// Where the sends this process records come from.
    pub fn origin(&self) -> &SendOrigin {
        &self.origin
    }

    /// Adds a finished send, marked with this store's origin. When the file cannot be written it
    /// is still listed by this process (until the file is next read from the start); the error
    /// says so.
    pub fn record(&self, record: &SendRecord) -> Result<(), HistoryError> {
        let entry = RecordedSend {
            record: record.clone(),
            origin: self.origin.clone(),
        };
        self.log.append_unless(entry, |_, _| false).map(|_| ())
    }

    /// Reads what other processes appended since the last read (or everything again, if the
    /// file was replaced or shrank). Returns the lines that could not be read.
    pub fn refresh(&self) -> Vec<String> {
        self.log.refresh()
    }

    pub fn len(&self) -> usize {
        self.log.current().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends matching `filter`, newest first, one page of them.
    pub fn query(&self, filter: &HistoryFilter) -> HistoryPage {
        filter.apply(self.log.current().records.iter().rev())
    }

    /// Cost per provider per day and failover counts over the last `days` days up to `now`.
    pub fn summary(&self, days: u32, now: chrono::DateTime<chrono::Utc>) -> HistorySummary {
        HistorySummary::of(
            self.log.current().records.iter().map(|r| &r.record),
            days,
            now,
        )
    }

    /// The sends (with their origin) for which `keep` holds, oldest first.
    pub fn find(&self, keep: impl Fn(&RecordedSend) -> bool) -> Vec<RecordedSend> {
        self.log
            .current()
            .records
            .iter()
            .filter(|r| keep(r))
            .cloned()
            .collect()
    }
}
