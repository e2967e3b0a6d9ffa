//! msgops-logwatch: reads the messaging backend's log files and reports what matters to
//! operations as [`LogEvent`]s: fallback codes (with expiry), provider errors, 5xx on the auth
//! API, backend starts and stale configuration, plus the follower's own status.
//!
//! - [`watch_logs`] / [`watch_logs_with`]: follow files (`tail -F` that survives rotation) on
//!   tokio until a [`CancellationToken`] fires.
//! - [`scan_codes`]: fast one-shot scan for codes (the `msgops codes` command).
//! - [`LogClock`]: the zone a log's timestamps are in; [`code_in_text`]: the paste rule.
//!
//! No Tauri here: the app wires events to IPC. Nothing in this crate writes to the files it reads.

pub mod clock;
pub mod event;
pub mod expiry;
pub mod follow;
pub mod line;
pub mod parse;
pub mod paste;
pub mod scan;
pub mod seen;
pub mod stale;
pub mod watch;

pub use clock::{LogClock, ZoneError, ZoneSetting};
pub use event::{
    BackendStart, ClockBasis, CodeSource, CodeTime, FallbackCode, FollowerState, FollowerStatus,
    HttpError, LogClockInfo, LogEvent, ProviderError, RecipientQuery, StaleConfig,
};
pub use expiry::CodeExpiry;
pub use follow::{spawn_follower, FollowConfig, FollowSink, LineInfo, LineOrigin, LogFollower};
pub use line::{LineSplitter, DEFAULT_MAX_LINE_BYTES};
pub use parse::{
    parse_any_timestamp, Attribution, CodePattern, LineMeta, LineParser, ParserConfig,
    PatternError, CODE_LENGTHS, DEFAULT_CODE_LENGTH,
};
pub use paste::code_in_text;
pub use scan::{scan_codes, scan_file, CodeScanner, ScanError, ScanOptions, ScanReport};
pub use seen::SeenCodes;
pub use stale::StaleConfigDetector;
pub use tokio_util::sync::CancellationToken;
pub use watch::{watch_logs, watch_logs_with, LogWatch, WatchConfig};
