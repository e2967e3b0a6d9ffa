//! The keychain check: is there a persistent, unlocked store msgops can write to? Answers
//! plainly, with what to do when the answer is no. Never "fixes" a failing keychain by
//! switching to a file or to memory.
//!
//! Each check writes, reads back and deletes its own probe entry (an account name no other
//! check uses, in this process or another), so two checks at once (the app's start-up check and
//! the window's, the app and the CLI) cannot spoil each other's entry. Checks of one store that
//! overlap in one process are a single flight: a check that finds another in progress waits for
//! its answer instead of probing again. The probe entry is deleted whatever happened, and a
//! check that cannot delete it says so.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use ts_rs::TS;

use crate::blocking::off_the_runtime;
use crate::error::{CredentialError, CredentialErrorCode};
use crate::store::{CredentialStore, KeychainStore};

/// How every probe account starts; the rest ([`probe_account`]) is unique to one check.
pub const PROBE_ACCOUNT_PREFIX: &str = "msgops.keychain-probe";

/// The answer of [`check_keychain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct KeychainHealth {
    /// True when secrets can be stored, read back and deleted in a persistent store.
    pub ok: bool,
    /// What the store is ("Secret Service (OS keyring)").
    pub store: String,
    /// Set when `ok` is false.
    pub code: Option<CredentialErrorCode>,
    /// One sentence for people: what works, or what is wrong and what to do.
    pub message: String,
}

impl KeychainHealth {
    fn failed(store: String, error: &CredentialError) -> Self {
        Self {
            ok: false,
            store,
            code: Some(error.code()),
            message: error.to_string(),
        }
    }
}

/// Writes, reads back and deletes a probe entry of its own in `store`. Blocks (keychain calls);
/// from async code use [`check_keychain_off_the_runtime`]. A check of the same store already in
/// progress in this process is joined: its answer is returned, no second probe is made.
pub fn check_keychain(store: &dyn CredentialStore) -> KeychainHealth {
    // The store's address names it while it is borrowed here, which covers the whole flight.
    let key = (store as *const dyn CredentialStore).cast::<()>() as usize;
    single_flight(key, || probe(store))
}

/// [`check_keychain`] on a blocking thread, waiting at most `timeout`; a keychain that does
/// not answer in time is reported as not working (code `KeychainLocked`). The probe entry is
/// still deleted when the keychain answers later.
pub async fn check_keychain_off_the_runtime(
    store: Arc<dyn CredentialStore>,
    timeout: Duration,
) -> KeychainHealth {
    let describe = store.describe();
    match off_the_runtime("checking the keychain", timeout, move || {
        Ok(check_keychain(store.as_ref()))
    })
    .await
    {
        Ok(health) => health,
        Err(e) => KeychainHealth::failed(describe, &e),
    }
}

/// Opens the OS keychain and checks it. The one-call version for the app and the CLI.
pub fn check_os_keychain() -> KeychainHealth {
    match KeychainStore::open() {
        Ok(store) => check_keychain(&store),
        Err(e) => KeychainHealth::failed("OS keychain".into(), &e),
    }
}

/// A probe account no other check uses: this process's id, a counter, and a random part for
/// processes that share a keyring but not a pid namespace (a sandboxed app and a host CLI).
pub fn probe_account() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    // std's RandomState is seeded randomly per process; hashing makes a fresh value per check.
    let random = std::collections::hash_map::RandomState::new().hash_one((pid, n));
    format!("{PROBE_ACCOUNT_PREFIX}.{pid}-{n}-{random:016x}")
}

/// The check itself: one probe entry written, read back and deleted.
fn probe(store: &dyn CredentialStore) -> KeychainHealth {
    let describe = store.describe();
    if !store.is_persistent() {
        return KeychainHealth {
            ok: false,
            store: describe.clone(),
            code: Some(CredentialErrorCode::KeychainUnavailable),
            message: format!(
                "{describe} does not keep secrets across restarts; msgops needs the OS keychain."
            ),
        };
    }
    // A store that checks itself without a test entry (read-only, or billed per secret).
    if let Some(answer) = store.check_without_writing() {
        return match answer {
            Ok(message) => KeychainHealth {
                ok: true,
                store: describe,
                code: None,
                message,
            },
            Err(e) => KeychainHealth::failed(describe, &e),
        };
    }
    let account = probe_account();
    let value = SecretString::from(format!(
        "probe-{}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let written = store.set(&account, &value);
    // Deleted whatever happened next: a failed read must not leave the entry behind, and a
    // refused write may still have created it. Only a keychain that is locked or gone is not
    // asked again (it would only make the caller wait a second time for the same answer).
    let cleanup = match &written {
        Ok(()) => true,
        Err(e) => !matches!(
            e.code(),
            CredentialErrorCode::KeychainLocked | CredentialErrorCode::KeychainUnavailable
        ),
    };
    let round_trip = written.and_then(|()| {
        let read = store.get(&account)?;
        Ok(read.is_some_and(|r| r.expose_secret() == value.expose_secret()))
    });
    let deleted = if cleanup {
        store.delete(&account)
    } else {
        Ok(false)
    };
    if let Err(e) = &deleted {
        tracing::warn!(account = %account, error = %e, "keychain probe entry not deleted");
    }
    match (round_trip, deleted) {
        (Err(e), _) => KeychainHealth::failed(describe, &e),
        (Ok(false), _) => KeychainHealth {
            ok: false,
            store: describe.clone(),
            code: Some(CredentialErrorCode::KeychainRefused),
            message: format!(
                "{describe} accepted a test entry but did not give it back; check your keyring manager."
            ),
        },
        (Ok(true), Err(e)) => KeychainHealth::failed(describe, &e),
        (Ok(true), Ok(false)) => KeychainHealth {
            ok: false,
            store: describe.clone(),
            code: Some(CredentialErrorCode::KeychainRefused),
            message: format!(
                "{describe} gave a test entry back but then said it was not there to delete; check your keyring manager."
            ),
        },
        (Ok(true), Ok(true)) => KeychainHealth {
            ok: true,
            store: describe.clone(),
            code: None,
            message: format!("{describe} is unlocked and working."),
        },
    }
}

/// One check in progress and the callers waiting for its answer.
#[derive(Default)]
struct Flight {
    answer: Mutex<Option<KeychainHealth>>,
    answered: Condvar,
}

fn flights() -> &'static Mutex<HashMap<usize, Arc<Flight>>> {
    static FLIGHTS: OnceLock<Mutex<HashMap<usize, Arc<Flight>>>> = OnceLock::new();
    FLIGHTS.get_or_init(Mutex::default)
}

/// Runs `check` unless a check under `key` is in progress, in which case its answer is awaited
/// and returned instead.
fn single_flight(key: usize, check: impl FnOnce() -> KeychainHealth) -> KeychainHealth {
    let (flight, leader) = {
        let mut flights = flights().lock().unwrap_or_else(PoisonError::into_inner);
        match flights.get(&key) {
            Some(flight) => (flight.clone(), false),
            None => {
                let flight = Arc::new(Flight::default());
                flights.insert(key, flight.clone());
                (flight, true)
            }
        }
    };
    if !leader {
        let mut answer = flight.answer.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(health) = answer.as_ref() {
                return health.clone();
            }
            answer = flight
                .answered
                .wait(answer)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
    // Answers the waiters even if `check` panics, so that nobody waits forever.
    let mut landing = Landing {
        key,
        flight,
        answer: None,
    };
    let health = check();
    landing.answer = Some(health.clone());
    health
}

struct Landing {
    key: usize,
    flight: Arc<Flight>,
    answer: Option<KeychainHealth>,
}

impl Drop for Landing {
    fn drop(&mut self) {
        // Later checks start a flight of their own from here on.
        flights()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
        let answer = self.answer.take().unwrap_or_else(|| KeychainHealth {
            ok: false,
            store: "OS keychain".into(),
            code: Some(CredentialErrorCode::KeychainUnavailable),
            message: "The keychain check stopped before answering; try again.".into(),
        });
        *self
            .flight
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(answer);
        self.flight.answered.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Result;
    use crate::store::MemoryStore;
    use std::sync::Barrier;

    #[test]
    fn memory_store_never_passes_the_keychain_check() {
        let health = check_keychain(&MemoryStore::new());
        assert!(!health.ok);
        assert_eq!(health.code, Some(CredentialErrorCode::KeychainUnavailable));
    }

    /// A MemoryStore that claims to persist, so that the check probes it, and records every
    /// probe account written. `slow` widens the window in which checks overlap.
    #[derive(Debug, Default)]
    struct ProbedMemory {
        inner: MemoryStore,
        written: Mutex<Vec<String>>,
        slow: Option<Duration>,
    }

    impl ProbedMemory {
        fn slow(by: Duration) -> Self {
            Self {
                slow: Some(by),
                ..Self::default()
            }
        }
        fn written(&self) -> Vec<String> {
            self.written.lock().expect("lock").clone()
        }
    }

    impl CredentialStore for ProbedMemory {
        fn get(&self, account: &str) -> Result<Option<SecretString>> {
            self.inner.get(account)
        }
        fn set(&self, account: &str, value: &SecretString) -> Result<()> {
            self.written.lock().expect("lock").push(account.to_owned());
            if let Some(by) = self.slow {
                std::thread::sleep(by);
            }
            self.inner.set(account, value)
        }
        fn delete(&self, account: &str) -> Result<bool> {
            self.inner.delete(account)
        }
        fn describe(&self) -> String {
            "probed memory (tests only)".into()
        }
        fn is_persistent(&self) -> bool {
            true
        }
    }

    #[test]
    fn each_check_probes_an_account_of_its_own_and_deletes_it() {
        let store = ProbedMemory::default();
        for _ in 0..5 {
            let health = check_keychain(&store);
            assert!(health.ok, "{health:?}");
        }
        let written = store.written();
        assert_eq!(written.len(), 5);
        let mut distinct = written.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 5, "{written:?}");
        assert!(written.iter().all(|a| a.starts_with(PROBE_ACCOUNT_PREFIX)));
        assert!(
            store.inner.accounts().is_empty(),
            "{:?}",
            store.inner.accounts()
        );
    }

    #[test]
    fn probe_accounts_carry_the_pid_and_never_repeat() {
        let pid = std::process::id().to_string();
        let accounts: Vec<String> = (0..1000).map(|_| probe_account()).collect();
        let mut distinct = accounts.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), accounts.len());
        assert!(accounts
            .iter()
            .all(|a| a.starts_with(&format!("{PROBE_ACCOUNT_PREFIX}.{pid}-"))));
    }

    #[test]
    fn concurrent_checks_of_one_store_share_one_probe_and_one_answer() {
        let store = Arc::new(ProbedMemory::slow(Duration::from_millis(500)));
        let threads = 16;
        let start = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let store = store.clone();
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    check_keychain(store.as_ref())
                })
            })
            .collect();
        let answers: Vec<KeychainHealth> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        assert!(answers.iter().all(|h| h.ok), "{answers:?}");
        // All 16 started within the first probe's 500 ms write: one flight, joined by the rest.
        assert_eq!(store.written().len(), 1, "{:?}", store.written());
        assert!(store.inner.accounts().is_empty());
        // Once it has landed, the next check probes again.
        assert!(check_keychain(store.as_ref()).ok);
        assert_eq!(store.written().len(), 2);
    }

    #[test]
    fn concurrent_checks_of_different_stores_do_not_spoil_each_other() {
        // One keyring seen through several store values (as the app and the CLI see it): each
        // check is its own flight with its own probe entry.
        let shared = Arc::new(ProbedMemory::slow(Duration::from_millis(20)));
        #[derive(Debug)]
        struct View(Arc<ProbedMemory>);
        impl CredentialStore for View {
            fn get(&self, account: &str) -> Result<Option<SecretString>> {
                self.0.get(account)
            }
            fn set(&self, account: &str, value: &SecretString) -> Result<()> {
                self.0.set(account, value)
            }
            fn delete(&self, account: &str) -> Result<bool> {
                self.0.delete(account)
            }
            fn describe(&self) -> String {
                self.0.describe()
            }
            fn is_persistent(&self) -> bool {
                true
            }
        }
        let threads = 8;
        let start = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let view = View(shared.clone());
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    (0..5).map(|_| check_keychain(&view)).collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            for health in handle.join().expect("thread") {
                assert!(health.ok, "{health:?}");
            }
        }
        assert_eq!(shared.written().len(), threads * 5);
        assert!(
            shared.inner.accounts().is_empty(),
            "{:?}",
            shared.inner.accounts()
        );
    }

    #[test]
    fn a_failed_read_back_still_deletes_the_probe_entry() {
        #[derive(Debug, Default)]
        struct ReadFails(MemoryStore);
        impl CredentialStore for ReadFails {
            fn get(&self, _: &str) -> Result<Option<SecretString>> {
                Err(CredentialError::KeychainRefused {
                    detail: "read refused (test)".into(),
                })
            }
            fn set(&self, account: &str, value: &SecretString) -> Result<()> {
                self.0.set(account, value)
            }
            fn delete(&self, account: &str) -> Result<bool> {
                self.0.delete(account)
            }
            fn describe(&self) -> String {
                "read-refusing memory (tests only)".into()
            }
            fn is_persistent(&self) -> bool {
                true
            }
        }
        let store = ReadFails::default();
        let health = check_keychain(&store);
        assert!(!health.ok);
        assert_eq!(health.code, Some(CredentialErrorCode::KeychainRefused));
        assert!(store.0.accounts().is_empty(), "{:?}", store.0.accounts());
    }

    #[test]
    fn a_check_that_panics_still_answers_the_checks_waiting_for_it() {
        let key = usize::MAX; // no real store lives there
        let entered = Arc::new(Barrier::new(2));
        let leader = {
            let entered = entered.clone();
            std::thread::spawn(move || {
                single_flight(key, || {
                    entered.wait();
                    std::thread::sleep(Duration::from_millis(300));
                    panic!("check exploded (test)")
                })
            })
        };
        entered.wait();
        let joined = single_flight(key, || unreachable!("the flight is in progress"));
        assert!(!joined.ok);
        assert!(leader.join().is_err());
        // The flight is over: the next check runs.
        assert!(
            single_flight(key, || KeychainHealth {
                ok: true,
                store: "x".into(),
                code: None,
                message: String::new(),
            })
            .ok
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_keychain_that_does_not_answer_in_time_is_reported_not_working() {
        let store: Arc<dyn CredentialStore> =
            Arc::new(ProbedMemory::slow(Duration::from_millis(500)));
        let health = check_keychain_off_the_runtime(store.clone(), Duration::from_millis(50)).await;
        assert!(!health.ok);
        assert_eq!(health.code, Some(CredentialErrorCode::KeychainLocked));
        assert!(
            health.message.contains("did not answer within"),
            "{health:?}"
        );
    }
}
