//! Breakers across instances ([`SharedBreakers`], the chain's [`BreakerSync`]). Each instance
//! keeps its own breaker; on top of it:
//!
//! - every failure that counts is added to a counter per provider on the server
//!   ([`crate::scripts::FAILURE`], a window of [`FAILURE_WINDOW`] from the first failure);
//!   when the instances' failures together reach the threshold, the instance that counted the
//!   last one opens its breaker, and a success ends the count (consecutive failures, as in one
//!   process);
//! - every transition an instance's own calls (or an operator) make is published on the
//!   breakers channel; the others apply it (OPEN for what is left of the cool-down, CLOSED
//!   after a trial that succeeded), so a provider is OPEN everywhere at once;
//! - the HALF_OPEN trial is a lease (`SET NX PX`, as long as the trial call may take): exactly
//!   one instance makes it; the others skip the provider until its result is published.
//!
//! Unreachable, the local breakers decide alone and every instance may make its own trial.

use std::time::Duration;

use msgops_core::breaker_sync::{BreakerSync, SyncFuture};
use msgops_core::{BreakerState, Channel, ProviderKind, RemoteTransition, Transition};
use serde::{Deserialize, Serialize};

use crate::scripts::FAILURE;
use crate::{Area, SharedState};

/// Failures of every instance count together within this window (from the first of them).
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// What goes on the breakers channel.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Notice {
    /// `count` failures counted together now.
    Failure {
        instance: String,
        provider: ProviderKind,
        count: u32,
    },
    /// A breaker moved on `instance`.
    Transition {
        instance: String,
        provider: ProviderKind,
        /// `CLOSED`, `OPEN` or `HALF_OPEN`.
        to: String,
        open_for_ms: u64,
        reason: String,
    },
}

/// The chain's breaker sync on the shared state.
pub struct SharedBreakers {
    state: SharedState,
}

impl SharedBreakers {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }

    fn known_failures(&self, provider: ProviderKind) -> u32 {
        self.state
            .inner
            .shared_failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&provider)
            .copied()
            .unwrap_or(0)
    }
}

fn set_known(state: &SharedState, provider: ProviderKind, count: u32) {
    state
        .inner
        .shared_failures
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(provider, count);
}

fn publish(state: &SharedState, notice: &Notice) {
    let Ok(payload) = serde_json::to_string(notice) else {
        return;
    };
    let channel = state.keys().breakers_channel();
    state.spawn_write(Area::Breaker, move |mut conn| async move {
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async::<i64>(&mut conn)
            .await
    });
}

impl BreakerSync for SharedBreakers {
    fn failure(&self, provider: ProviderKind) -> SyncFuture<'_, Option<u32>> {
        Box::pin(async move {
            let key = self.state.keys().breaker_failures(provider);
            let window = u64::try_from(FAILURE_WINDOW.as_millis()).unwrap_or(60_000);
            let count: i64 = self
                .state
                .call(Area::Breaker, |mut conn| async move {
                    FAILURE.key(key).arg(window).invoke_async(&mut conn).await
                })
                .await?;
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            set_known(&self.state, provider, count);
            publish(
                &self.state,
                &Notice::Failure {
                    instance: self.state.instance_id().to_string(),
                    provider,
                    count,
                },
            );
            Some(count)
        })
    }

    fn success(&self, provider: ProviderKind) -> SyncFuture<'_, ()> {
        Box::pin(async move {
            // Only when there is a count to end: a healthy provider costs no call.
            if self.known_failures(provider) == 0 {
                return;
            }
            set_known(&self.state, provider, 0);
            let key = self.state.keys().breaker_failures(provider);
            self.state
                .spawn_write(Area::Breaker, move |mut conn| async move {
                    redis::cmd("DEL")
                        .arg(key)
                        .query_async::<i64>(&mut conn)
                        .await
                });
        })
    }

    fn claim_trial(&self, provider: ProviderKind, lease: Duration) -> SyncFuture<'_, bool> {
        Box::pin(async move {
            let key = self.state.keys().breaker_trial(provider);
            let holder = self.state.instance_id().to_string();
            let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
            let taken: Option<Option<String>> = self
                .state
                .call(Area::Breaker, |mut conn| async move {
                    redis::cmd("SET")
                        .arg(key)
                        .arg(holder)
                        .arg("NX")
                        .arg("PX")
                        .arg(lease_ms)
                        .query_async::<Option<String>>(&mut conn)
                        .await
                })
                .await;
            match taken {
                Some(answer) => {
                    let mine = answer.is_some();
                    tracing::debug!(%provider, mine, "HALF_OPEN trial lease");
                    mine
                }
                // Nobody to ask: this instance's own breaker decides.
                None => true,
            }
        })
    }

    fn transition(
        &self,
        _channel: Channel,
        provider: ProviderKind,
        transition: &Transition,
        open_for: Duration,
    ) {
        let notice = Notice::Transition {
            instance: self.state.instance_id().to_string(),
            provider,
            to: transition.to.as_str().to_string(),
            open_for_ms: u64::try_from(open_for.as_millis()).unwrap_or(u64::MAX),
            reason: transition.reason.clone(),
        };
        let Ok(payload) = serde_json::to_string(&notice) else {
            return;
        };
        let keys = self.state.keys();
        let channel = keys.breakers_channel();
        let trial = keys.breaker_trial(provider);
        let failures = keys.breaker_failures(provider);
        // The trial's result is in (or an operator decided): the lease ends — shortly after the
        // others have been told, so that none of them takes it for a second trial before the
        // news arrives — and once CLOSED the count starts again.
        let trial_over = transition.from == BreakerState::HalfOpen;
        let closed = transition.to == BreakerState::Closed;
        if closed {
            set_known(&self.state, provider, 0);
        }
        self.state
            .spawn_write(Area::Breaker, move |mut conn| async move {
                let mut pipe = redis::pipe();
                pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
                if trial_over || closed {
                    pipe.cmd("PEXPIRE")
                        .arg(trial)
                        .arg(TRIAL_LEASE_AFTER_RESULT_MS)
                        .ignore();
                }
                if closed {
                    pipe.cmd("DEL").arg(failures).ignore();
                }
                pipe.query_async::<()>(&mut conn).await
            });
    }
}

/// How long a trial's lease outlives its published result (the others hear of it first).
const TRIAL_LEASE_AFTER_RESULT_MS: u64 = 500;

/// A message on the breakers channel.
pub(crate) fn received(state: &SharedState, payload: &str) {
    let Ok(notice) = serde_json::from_str::<Notice>(payload) else {
        tracing::debug!("an unreadable breaker notice was ignored");
        return;
    };
    match notice {
        Notice::Failure {
            instance,
            provider,
            count,
        } if instance != state.instance_id() => set_known(state, provider, count),
        Notice::Transition {
            instance,
            provider,
            to,
            open_for_ms,
            reason,
        } if instance != state.instance_id() => {
            let to = match to.as_str() {
                "OPEN" => BreakerState::Open,
                "HALF_OPEN" => BreakerState::HalfOpen,
                "CLOSED" => BreakerState::Closed,
                _ => return,
            };
            if to == BreakerState::Closed {
                set_known(state, provider, 0);
            }
            let _ = state.remote_transitions().send(RemoteTransition {
                provider,
                to,
                open_for: Duration::from_millis(open_for_ms),
                reason: format!("on instance {instance}: {reason}"),
            });
        }
        Notice::Failure { .. } | Notice::Transition { .. } => {}
    }
}
