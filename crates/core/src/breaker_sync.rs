//! What a chain tells the other processes that share its providers about their breakers, and
//! what it asks them: several `msgops serve` behind one address must open a failing provider
//! together and make one HALF_OPEN trial between them, not one each.
//!
//! Each process keeps its own [`crate::CircuitBreaker`]; a [`BreakerSync`] (the shared state on
//! Redis, `msgops-shared-state`) adds the failures of every process up, hands the trial to one
//! of them, and passes transitions on. It must never hold a send up for long (each question is
//! bounded by the implementation's own short timeout) nor decide anything when it cannot be
//! reached: the local breaker then decides alone, as it does without one.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::breaker::{BreakerState, Transition};
use crate::message::Channel;
use crate::provider::ProviderKind;

/// A future a [`BreakerSync`] answers with.
pub type SyncFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The breakers of one provider across processes. Installed with
/// [`crate::Messaging::set_breaker_sync`].
pub trait BreakerSync: Send + Sync {
    /// A failure that counts toward `provider`'s breaker happened here (and did not open it).
    /// Answers how many such failures every process together counted in the shared window,
    /// this one included; `None` when that cannot be known (the local breaker decides alone).
    fn failure(&self, provider: ProviderKind) -> SyncFuture<'_, Option<u32>>;

    /// A call to `provider` succeeded here: the failures counted together start again.
    fn success(&self, provider: ProviderKind) -> SyncFuture<'_, ()>;

    /// May this process make `provider`'s HALF_OPEN trial? `true` for exactly one process at a
    /// time, for `lease` at most (its call's timeout); `true` as well when the other processes
    /// cannot be asked.
    fn claim_trial(&self, provider: ProviderKind, lease: Duration) -> SyncFuture<'_, bool>;

    /// `provider`'s breaker moved here, through a call made here or an operator's control
    /// (never through [`RemoteTransition`]s): tell the other processes. `open_for` is what is
    /// left of the cool-down when it opened. Returns at once.
    fn transition(
        &self,
        channel: Channel,
        provider: ProviderKind,
        transition: &Transition,
        open_for: Duration,
    );
}

/// A breaker transition another process made, to apply here
/// ([`crate::Messaging::apply_remote_transition`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTransition {
    pub provider: ProviderKind,
    /// The state the other process's breaker entered.
    pub to: BreakerState,
    /// For OPEN: what is left of the cool-down.
    pub open_for: Duration,
    /// Why, naming the process: "opened on instance 4f2a…: 5 failures across instances".
    pub reason: String,
}
