//! Where a stored send came from: the desktop app or a standalone `msgops serve`, on which host,
//! in which process. Lines written before sends carried an origin load as the app's.

use msgops_core::chain::SendRecord;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The kind of msgops process that made a send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum OriginKind {
    /// The desktop app (its Test send, or its built-in HTTP service).
    #[default]
    App,
    /// A standalone `msgops serve`.
    Service,
}

/// The process that made a send.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
#[ts(export)]
pub struct SendOrigin {
    pub kind: OriginKind,
    /// The machine's host name; unknown for sends recorded before origins were kept.
    pub host: Option<String>,
    /// The process id; unknown for sends recorded before origins were kept.
    pub pid: Option<u32>,
}

impl SendOrigin {
    /// This process, as a `kind` of msgops process.
    pub fn this_process(kind: OriginKind) -> Self {
        let host = gethostname::gethostname()
            .to_string_lossy()
            .trim()
            .to_string();
        Self {
            kind,
            host: (!host.is_empty()).then_some(host),
            pid: Some(std::process::id()),
        }
    }
}

/// A send as the history stores it: the chain's record and, beside its fields, where it came
/// from. A line without `origin` (written before origins were kept) is the app's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RecordedSend {
    #[serde(flatten)]
    pub record: SendRecord,
    #[serde(default)]
    pub origin: SendOrigin,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_knows_its_pid_and_host() {
        let origin = SendOrigin::this_process(OriginKind::Service);
        assert_eq!(origin.kind, OriginKind::Service);
        assert_eq!(origin.pid, Some(std::process::id()));
        assert!(origin.host.is_some_and(|h| !h.is_empty()));
    }
}
