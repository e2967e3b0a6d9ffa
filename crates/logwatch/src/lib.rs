//! msgops-logwatch: reads the messaging backend's log files and reports what matters to
//! operations as [`LogEvent`]s: fallback codes (with expiry), provider errors, 5xx on the auth
//! API, backend starts and stale configuration, plus the follower's own status.
//!
//! - [`watch_logs`] / [`watch_logs_with`]: follow files (`tail -F` that survives rotation) on
//!   tokio until a [`CancellationToken`] fires.
//! - [`scan_codes`]: fast one-shot scan for codes (the `msgops codes` command).
//!
//! No Tauri here: the app wires events to IPC. Nothing in this crate writes to the files it reads.

pub mod event;
pub mod expiry;
pub mod follow;
pub mod line;
pub mod parse;
pub mod scan;
pub mod stale;
pub mod watch;

pub use event::{
    BackendStart, CodeSource, FallbackCode, FollowerState, FollowerStatus, HttpError, LogEvent,
    ProviderError, StaleConfig,
};
pub use expiry::CodeExpiry;
pub use follow::{spawn_follower, FollowConfig, FollowSink, LineInfo, LineOrigin, LogFollower};
pub use line::{LineSplitter, DEFAULT_MAX_LINE_BYTES};
pub use parse::{
    parse_any_timestamp, CodePattern, LineMeta, LineParser, ParserConfig, PatternError,
};
pub use scan::{scan_codes, scan_file, CodeScanner, ScanError, ScanOptions};
pub use stale::StaleConfigDetector;
pub use tokio_util::sync::CancellationToken;
pub use watch::{watch_logs, watch_logs_with, LogWatch, WatchConfig};
