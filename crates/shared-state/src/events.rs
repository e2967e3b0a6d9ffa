//! The event stream across instances: each instance publishes its own events (already encoded,
//! tagged with its id) on the events channel, in order, through one publisher task; each
//! instance hands the others' events to its stream ([`SharedState::remote_events`]) and skips
//! its own, so a subscriber of any instance sees every instance's events once.
//!
//! Best effort, like any live stream: while Redis is unreachable, events are not passed on (they
//! are counted as fallbacks) and each instance's stream has its own only.

use std::sync::Weak;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::{Area, Inner, SharedState};

/// An event another instance published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteEvent {
    /// The instance it happened on.
    pub instance: String,
    /// The SSE event name (`send_finished`, `breaker_transition`, ...).
    pub name: String,
    /// The JSON object, as the instance encoded it (with its `instance` field).
    pub data: String,
    /// A `code_seen`: only for tokens that may see codes.
    pub holds_code: bool,
}

/// How the events of `instance` begin on the channel (`instance` is their first field).
pub(crate) fn prefix_of(instance: &str) -> String {
    format!(
        "{{\"instance\":{},",
        serde_json::to_string(instance).unwrap_or_default()
    )
}

impl RemoteEvent {
    pub(crate) fn decode(payload: &str) -> Option<Self> {
        serde_json::from_str(payload).ok()
    }
}

impl SharedState {
    /// Passes one of this instance's events on to the others (in the order given). Never
    /// waits: when the queue is full or Redis unreachable, it is dropped and counted.
    pub fn publish_event(&self, name: &str, data: &str, holds_code: bool) {
        if !self.is_up() {
            self.inner.stats.fallback(Area::Events);
            return;
        }
        let event = RemoteEvent {
            instance: self.instance_id().to_string(),
            name: name.to_string(),
            data: data.to_string(),
            holds_code,
        };
        let Ok(payload) = serde_json::to_string(&event) else {
            return;
        };
        if self
            .inner
            .publish
            .try_send((self.keys().events_channel(), payload))
            .is_err()
        {
            self.inner.stats.fallback(Area::Events);
        }
    }

    /// The other instances' events, as they arrive.
    pub fn remote_events(&self) -> broadcast::Receiver<RemoteEvent> {
        self.inner.remote_events.subscribe()
    }
}

/// Publishes the queued events one after the other, so that they keep their order.
pub(crate) async fn publisher(
    inner: Weak<Inner>,
    mut queue: mpsc::Receiver<(String, String)>,
    stop: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            next = queue.recv() => next,
            () = stop.cancelled() => return,
        };
        let Some((channel, payload)) = next else {
            return;
        };
        let Some(inner) = inner.upgrade() else { return };
        let state = SharedState { inner };
        let _ = state
            .call(Area::Events, |mut conn| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(payload)
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await;
    }
}
