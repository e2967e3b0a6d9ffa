//! The keychain check against a real Secret Service (gnome-keyring in a private D-Bus session,
//! started by `run-with-keyring.sh`): many checks at once in one process, and two processes
//! checking at once, never fail each other, and no probe entry is left in the keyring.
//!
//! As in `keychain.rs`, the scenario runs as a child of this test binary (re-executing one
//! `inner_*` test) inside its own session; the two checking processes are grandchildren that
//! share that session. Skipped with a printed reason when `dbus-run-session`,
//! `gnome-keyring-daemon` or `secret-tool` is missing, unless `MSGOPS_SECRET_SERVICE=1`
//! demands them (CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use msgops_credentials::health::PROBE_ACCOUNT_PREFIX;
use msgops_credentials::{
    check_keychain, check_keychain_off_the_runtime, CredentialStore, KeychainHealth, KeychainStore,
    SecretString, KEYCHAIN_SERVICE,
};

const INNER: &str = "MSGOPS_KEYCHAIN_PROBE_INNER";
/// When (ms since the epoch) the checking processes start, so that they really overlap.
const START_AT: &str = "MSGOPS_PROBE_START_AT_MS";
/// How long each checking process keeps checking.
const CHECK_FOR: Duration = Duration::from_secs(3);
const THREADS_PER_PROCESS: usize = 4;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run-with-keyring.sh")
}

/// `None` when the keyring tools are there; otherwise why the test is skipped.
fn keyring_tools_missing() -> Option<String> {
    let found = Command::new("sh")
        .args([
            "-c",
            "command -v dbus-run-session && command -v gnome-keyring-daemon && command -v secret-tool",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if found {
        return None;
    }
    let reason = "dbus-run-session, gnome-keyring-daemon or secret-tool not installed (apt-get install dbus gnome-keyring libsecret-tools)";
    if std::env::var("MSGOPS_SECRET_SERVICE").as_deref() == Ok("1") {
        panic!("MSGOPS_SECRET_SERVICE=1 but {reason}");
    }
    Some(reason.to_owned())
}

/// Runs the test `inner` of this binary as a child process, through the keyring script when
/// `with_keyring` (otherwise in the caller's session, inherited).
fn spawn_inner(inner: &str, with_keyring: bool, env: &[(&str, String)]) -> std::process::Child {
    let exe = std::env::current_exe().expect("test exe");
    let mut cmd = if with_keyring {
        let mut c = Command::new("sh");
        c.arg(script()).arg(exe);
        c
    } else {
        Command::new(exe)
    };
    cmd.args([inner, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER, inner)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("run child")
}

/// The child's stdout, after checking it finished its scenario.
fn finished(inner: &str, out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(&format!("INNER-DONE {inner}")),
        "{inner} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

fn is_inner(name: &str) -> bool {
    std::env::var(INNER).as_deref() == Ok(name)
}

fn keychain() -> KeychainStore {
    KeychainStore::open()
        .expect("open the Secret Service")
        .with_timeout(Duration::from_secs(10))
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
}

/// What `secret-tool` lists of the msgops entries in the keyring (read past the store under
/// test). Each entry shows its label, `keyring:<account>@<service>`, and, for some versions,
/// its attributes: an account is in the keyring when its name appears here.
fn msgops_entries_in_the_keyring() -> String {
    let out = Command::new("secret-tool")
        .args(["search", "--all", "service", KEYCHAIN_SERVICE])
        .output()
        .expect("secret-tool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_no_probe_left(place: &str) {
    let listing = msgops_entries_in_the_keyring();
    let probes: Vec<&str> = listing
        .lines()
        .filter(|l| l.contains(PROBE_ACCOUNT_PREFIX))
        .collect();
    assert!(probes.is_empty(), "probe entries left {place}: {probes:?}");
}

fn assert_all_ok(answers: &[KeychainHealth], place: &str) {
    let failed: Vec<&KeychainHealth> = answers.iter().filter(|h| !h.ok).collect();
    assert!(
        failed.is_empty(),
        "{} of {} checks failed {place}, e.g. {:?}",
        failed.len(),
        answers.len(),
        &failed[..failed.len().min(3)]
    );
}

// ---- the scenario ------------------------------------------------------------------------

#[test]
fn concurrent_keychain_checks_in_one_and_two_processes_never_fail_each_other() {
    if let Some(reason) = keyring_tools_missing() {
        eprintln!(
            "skipping concurrent_keychain_checks_in_one_and_two_processes_never_fail_each_other: {reason}"
        );
        return;
    }
    let inner = "inner_concurrent_checks";
    let child = spawn_inner(inner, true, &[]);
    finished(inner, child.wait_with_output().expect("wait"));
}

#[test]
fn inner_concurrent_checks() {
    if !is_inner("inner_concurrent_checks") {
        return;
    }
    // The listing sees what the store writes, so "no probe left" below is not vacuous.
    let marker = keychain();
    marker
        .set("test.marker", &SecretString::from("marker-value"))
        .expect("set marker");
    let listed = msgops_entries_in_the_keyring();
    assert!(
        listed.contains("test.marker"),
        "secret-tool does not list what the store wrote: {listed}"
    );
    marker.delete("test.marker").expect("delete marker");
    assert!(!msgops_entries_in_the_keyring().contains("test.marker"));

    // One store, as the app holds it: 16 threads at once, five rounds; they join one flight.
    let shared: Arc<dyn CredentialStore> = Arc::new(keychain());
    let threads = 16;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let store = shared.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                (0..5)
                    .map(|_| check_keychain(store.as_ref()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<KeychainHealth> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    assert_all_ok(&answers, "on one shared store");
    assert_no_probe_left("by checks of one shared store");

    // A store per thread (as separate parts of a program open their own): each check probes
    // its own entry, all of them at once against the same keyring.
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                let store = keychain();
                start.wait();
                (0..5).map(|_| check_keychain(&store)).collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<KeychainHealth> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    assert_all_ok(&answers, "on a store per thread");
    assert_no_probe_left("by checks of a store per thread");

    // The window's way: many async checks at once, each off the runtime's workers.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let answers = runtime.block_on(async {
        let checks: Vec<_> = (0..16)
            .map(|_| {
                tokio::spawn(check_keychain_off_the_runtime(
                    shared.clone(),
                    Duration::from_secs(20),
                ))
            })
            .collect();
        let mut answers = Vec::new();
        for check in checks {
            answers.push(check.await.expect("task"));
        }
        answers
    });
    assert_all_ok(&answers, "off the runtime");
    assert_no_probe_left("by async checks");

    // Two processes checking at once, each with several threads, for a few seconds.
    let start_at = (now_ms() + 1500).to_string();
    let env = [(START_AT, start_at)];
    let checker = "inner_checking_process";
    let children = [
        spawn_inner(checker, false, &env),
        spawn_inner(checker, false, &env),
    ];
    let mut windows = Vec::new();
    let mut counts = Vec::new();
    for child in children {
        let stdout = finished(checker, child.wait_with_output().expect("wait"));
        let line = stdout
            .lines()
            // libtest may print "test inner_checking_process ... " before it on the line.
            .find_map(|l| l.split_once("CHECKED ").map(|(_, report)| report))
            .expect("the child reports its checks");
        let numbers: Vec<u128> = line
            .split_whitespace()
            .map(|n| n.parse().expect("number"))
            .collect();
        let [checks, from, to] = numbers[..] else {
            panic!("unexpected report {line:?}");
        };
        assert!(checks >= 2 * THREADS_PER_PROCESS as u128, "{line}");
        counts.push(checks);
        windows.push((from, to));
    }
    let (a, b) = (windows[0], windows[1]);
    assert!(
        a.0 < b.1 && b.0 < a.1,
        "the two processes did not check at the same time: {windows:?}"
    );
    assert_no_probe_left("by two processes checking at once");
    println!("two processes checked {counts:?} times at once");
    println!("INNER-DONE inner_concurrent_checks");
}

/// One of the two checking processes: from the agreed start, `THREADS_PER_PROCESS` threads,
/// each with its own store, check for `CHECK_FOR`. Every answer must be ok.
#[test]
fn inner_checking_process() {
    if !is_inner("inner_checking_process") {
        return;
    }
    let start_at: u128 = std::env::var(START_AT)
        .expect("start time")
        .parse()
        .expect("number");
    let stores: Vec<KeychainStore> = (0..THREADS_PER_PROCESS).map(|_| keychain()).collect();
    let wait = start_at.saturating_sub(now_ms());
    std::thread::sleep(Duration::from_millis(
        u64::try_from(wait).expect("a short wait"),
    ));
    let from = now_ms();
    let handles: Vec<_> = stores
        .into_iter()
        .map(|store| {
            std::thread::spawn(move || {
                let until = std::time::Instant::now() + CHECK_FOR;
                let mut answers = Vec::new();
                while std::time::Instant::now() < until {
                    answers.push(check_keychain(&store));
                }
                answers
            })
        })
        .collect();
    let answers: Vec<KeychainHealth> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    let to = now_ms();
    assert_all_ok(&answers, &format!("in process {}", std::process::id()));
    println!("CHECKED {} {from} {to}", answers.len());
    println!("INNER-DONE inner_checking_process");
}
