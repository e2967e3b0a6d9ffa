//! Keychain work off the async runtime: [`off_the_runtime`] runs a blocking closure on tokio's
//! blocking pool and gives up waiting after a timeout.
//!
//! Every keychain call blocks (a D-Bus round trip on Linux, and possibly an unlock prompt that
//! nobody answers). Async code must never make one on a runtime worker thread: it would stall
//! every other task scheduled there. What this module must never do is pretend a call that
//! timed out was cancelled: a blocking thread cannot be stopped, so the closure may still finish
//! after the caller was told it did not, and the error says so.

use std::time::Duration;

use crate::error::{CredentialError, Result};

/// How long async callers wait for one keychain task (a status read, an import, a check)
/// unless they choose otherwise. Shorter than one call's own limit in [`crate::KeychainStore`]
/// ([`crate::store::DEFAULT_KEYCHAIN_TIMEOUT`]): the caller hears back sooner, while the
/// blocking thread keeps the longer limit before it gives up on an unanswered unlock prompt.
pub const DEFAULT_KEYCHAIN_TASK_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `f` on tokio's blocking thread pool and waits at most `timeout` for it.
///
/// `what` names the task for people, as the end of "while …" ("reading the stored
/// credentials"). A timeout becomes [`CredentialError::KeychainTimeout`]; a task that panicked
/// or was cancelled by a shutting-down runtime becomes [`CredentialError::KeychainTask`].
/// Must be called from within a tokio runtime.
pub async fn off_the_runtime<T: Send + 'static>(
    what: &'static str,
    timeout: Duration,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let task = tokio::task::spawn_blocking(f);
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => {
            let detail = if join.is_panic() {
                "panicked".to_owned()
            } else {
                "was cancelled".to_owned()
            };
            tracing::error!(task = what, %detail, "keychain task ended without an answer");
            Err(CredentialError::KeychainTask { what, detail })
        }
        Err(_) => {
            tracing::warn!(
                task = what,
                timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                "the keychain did not answer in time"
            );
            Err(CredentialError::KeychainTimeout { what, timeout })
        }
    }
}

/// Runs `f`, which makes keychain calls on a store borrowed by an async caller, without stalling
/// the runtime: on a multi-threaded runtime the current worker hands its other tasks to the
/// others while `f` blocks (`block_in_place`); elsewhere `f` simply runs. Each call keeps the
/// store's own time limit ([`crate::store::DEFAULT_KEYCHAIN_TIMEOUT`]). For a store that can be
/// moved to another thread, prefer [`off_the_runtime`].
pub fn blocking_section<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CredentialErrorCode;

    #[tokio::test(flavor = "current_thread")]
    async fn a_task_that_answers_in_time_gives_its_result() {
        let got = off_the_runtime("adding", Duration::from_secs(5), || Ok(2 + 2)).await;
        assert_eq!(got.expect("answer"), 4);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_task_error_is_passed_on_unchanged() {
        let err = off_the_runtime::<()>("reading", Duration::from_secs(5), || {
            Err(CredentialError::NotFound {
                what: "twilio.auth_token".into(),
            })
        })
        .await
        .expect_err("error");
        assert_eq!(err.code(), CredentialErrorCode::NotFound);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_task_that_does_not_answer_in_time_is_a_keychain_timeout_naming_the_task() {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let err = off_the_runtime(
            "checking the keychain",
            Duration::from_millis(50),
            move || {
                let _ = wait.recv_timeout(Duration::from_secs(10));
                Ok(())
            },
        )
        .await
        .expect_err("timeout");
        let _ = release.send(());
        assert_eq!(err.code(), CredentialErrorCode::KeychainLocked);
        assert!(err.is_keychain_problem());
        let text = err.to_string();
        assert!(
            text.contains("did not answer within 0.05 s while checking the keychain"),
            "{text}"
        );
        assert!(text.contains("may still take effect"), "{text}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_worker_thread_stays_free_while_the_keychain_blocks() {
        // A current-thread runtime has one worker: if the closure ran on it, the timer below
        // could never fire before the closure returned.
        let started = std::time::Instant::now();
        let blocked = off_the_runtime("blocking", Duration::from_secs(5), || {
            std::thread::sleep(Duration::from_millis(300));
            Ok(())
        });
        let ticker = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            started.elapsed()
        };
        let (result, ticked_after) = tokio::join!(blocked, ticker);
        result.expect("answer");
        assert!(
            ticked_after < Duration::from_millis(250),
            "{ticked_after:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_task_is_an_error_not_a_panic() {
        let err = off_the_runtime::<()>("exploding", Duration::from_secs(5), || {
            panic!("boom from a test")
        })
        .await
        .expect_err("panic");
        assert!(err.to_string().contains("exploding"), "{err}");
        assert!(err.to_string().contains("panicked"), "{err}");
    }
}
