//! An emulated provider that answers from a script: for tests, benchmarks and the demo mode.
//! It never touches the network.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::SendError;
use crate::provider::{Provider, Receipt};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Step {
    Ok,
    Fail(SendError),
    /// Never answers (the chain's timeout decides).
    Hang,
    /// Answers `Ok` after a delay.
    OkAfter(Duration),
}

/// Answers each call with the next step of its script; when the script runs out, with the
/// default step.
pub struct ScriptedProvider {
    script: Mutex<VecDeque<Step>>,
    default: Step,
    calls: AtomicU64,
}

impl ScriptedProvider {
    pub fn new(script: impl IntoIterator<Item = Step>, default: Step) -> Self {
        Self {
            script: Mutex::new(script.into_iter().collect()),
            default,
            calls: AtomicU64::new(0),
        }
    }

    /// A provider that always succeeds at once.
    pub fn instant() -> Self {
        Self::new([], Step::Ok)
    }

    /// A provider that always fails with this error.
    pub fn failing(error: SendError) -> Self {
        Self::new([], Step::Fail(error))
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn next_step(&self) -> Step {
        let mut script = self
            .script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        script.pop_front().unwrap_or_else(|| self.default.clone())
    }
}

#[async_trait]
impl<M: Sync> Provider<M> for ScriptedProvider {
    async fn send(&self, _message: &M) -> Result<Receipt, SendError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match self.next_step() {
            Step::Ok => Ok(Receipt::default()),
            Step::Fail(error) => Err(error),
            Step::Hang => std::future::pending().await,
            Step::OkAfter(delay) => {
                tokio::time::sleep(delay).await;
                Ok(Receipt::default())
            }
        }
    }

    async fn probe(&self) -> Result<(), SendError> {
        Ok(())
    }
}
