//! Per-recipient and per-prefix limits shared by every instance, with the semantics of the
//! service's in-process limiter: a send takes a slot in every window it falls under before it
//! is sent ([`SharedState::reserve_windows`], one script: all or nothing), keeps it when it was
//! (or may have been) delivered and frees it when nothing was ([`WindowSlot`]). A slot never
//! settled (the instance stopped mid-send) stays counted until its window ends: delivery
//! unknown.
//!
//! The rules (how many, over how long) and the window names come from the caller; this module
//! only counts.

use std::time::Duration;

use crate::scripts::{RESERVE, SETTLE};
use crate::{Area, SharedState};

/// One window a send falls under: at most `max` sends in `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    /// Names the window among all instances' (`sms:+14165550123`, `prefix:+234`).
    pub name: String,
    pub max: u32,
    pub window: Duration,
}

/// The answer of [`SharedState::reserve_windows`].
#[derive(Debug)]
pub enum Reserved {
    /// A slot in every window, to settle.
    Taken(WindowSlot),
    /// `index` (into the specs) is full: nothing was taken.
    Blocked {
        index: usize,
        /// Until the oldest send leaves that window.
        retry_after: Duration,
        /// Sends of that window still under way (on any instance).
        pending: u32,
    },
}

/// A reservation in the shared windows. Settle it with [`WindowSlot::keep`] or
/// [`WindowSlot::release`]; dropped unsettled it is kept (delivery unknown).
#[derive(Debug)]
#[must_use = "a slot is held until it is settled"]
pub struct WindowSlot {
    state: SharedState,
    keys: Vec<String>,
    id: String,
    settled: bool,
}

impl WindowSlot {
    /// It reached the recipient: it counts for the rest of its window.
    pub fn keep(mut self) {
        self.settle("keep");
    }

    /// Nothing was delivered: the slot is freed.
    pub fn release(mut self) {
        self.settle("release");
    }

    fn settle(&mut self, how: &'static str) {
        self.settled = true;
        let keys = std::mem::take(&mut self.keys);
        let id = self.id.clone();
        self.state
            .spawn_write(Area::RecipientLimit, move |mut conn| async move {
                let mut call = SETTLE.prepare_invoke();
                for key in &keys {
                    call.key(key);
                }
                call.arg(id).arg(how).invoke_async::<i64>(&mut conn).await
            });
    }
}

impl Drop for WindowSlot {
    fn drop(&mut self) {
        if !self.settled {
            self.settle("keep");
        }
    }
}

impl SharedState {
    /// Takes a slot in every window of `specs` if each has room; otherwise takes nothing and
    /// says which is full. `None`: the shared state cannot be used (count with the instance's
    /// own limiter).
    pub async fn reserve_windows(&self, specs: &[WindowSpec]) -> Option<Reserved> {
        let keys: Vec<String> = specs.iter().map(|s| self.keys().window(&s.name)).collect();
        let id = self.next_id();
        let answer: Vec<i64> = {
            let keys = keys.clone();
            let id = id.clone();
            let specs = specs.to_vec();
            self.call(Area::RecipientLimit, |mut conn| async move {
                let mut call = RESERVE.prepare_invoke();
                for key in &keys {
                    call.key(key);
                }
                call.arg(&id);
                for s in &specs {
                    call.arg(s.max).arg(
                        u64::try_from(s.window.as_millis())
                            .unwrap_or(u64::MAX)
                            .max(1),
                    );
                }
                call.invoke_async(&mut conn).await
            })
            .await?
        };
        match answer.as_slice() {
            [1, ..] => Some(Reserved::Taken(WindowSlot {
                state: self.clone(),
                keys,
                id,
                settled: false,
            })),
            [0, index, retry_ms, pending] => Some(Reserved::Blocked {
                index: usize::try_from(*index).unwrap_or(1).saturating_sub(1),
                retry_after: Duration::from_millis(retry_ms.max(&0).unsigned_abs()),
                pending: u32::try_from(*pending).unwrap_or(u32::MAX),
            }),
            other => {
                tracing::error!(?other, "unexpected answer of the reservation script");
                None
            }
        }
    }
}
