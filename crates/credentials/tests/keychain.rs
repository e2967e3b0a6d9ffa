//! Against a real Secret Service (gnome-keyring in a private D-Bus session, started by
//! `run-with-keyring.sh`): store, read, rotate, import, delete; a locked collection; and no
//! Secret Service at all. In every case nothing may be written outside the keyring's own files.
//!
//! Each scenario runs as a child process of this test binary (re-executing one `inner_*` test),
//! so it gets its own session and sandbox and locking the keyring cannot disturb other tests.
//! When `dbus-run-session` or `gnome-keyring-daemon` is missing, the keyring scenarios are
//! skipped with a printed reason, unless `MSGOPS_SECRET_SERVICE=1` demands them (CI).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use msgops_credentials::{
    apply_import, check_keychain, check_os_keychain, credential_statuses, preview_import,
    remove_provider, rotate, AuditLog, CredentialErrorCode, CredentialProvider, CredentialSet,
    CredentialState, CredentialStoreExt, ExposeSecret, HttpValidator, ImportOptions, KeychainStore,
    SecretKind, SecretString,
};

const INNER: &str = "MSGOPS_KEYCHAIN_INNER";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run-with-keyring.sh")
}

/// `None` when the keyring tools are there; otherwise why the test is skipped.
fn keyring_tools_missing() -> Option<String> {
    let found = Command::new("sh")
        .args([
            "-c",
            "command -v dbus-run-session && command -v gnome-keyring-daemon && command -v gdbus",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if found {
        return None;
    }
    let reason = "dbus-run-session, gnome-keyring-daemon or gdbus not installed (apt-get install dbus gnome-keyring libglib2.0-bin)";
    if std::env::var("MSGOPS_SECRET_SERVICE").as_deref() == Ok("1") {
        panic!("MSGOPS_SECRET_SERVICE=1 but {reason}");
    }
    Some(reason.to_owned())
}

/// Runs `inner` in a child process (through the keyring script when `with_keyring`).
fn run_inner(inner: &str, with_keyring: bool, env: &[(&str, &str)]) {
    let exe = std::env::current_exe().expect("test exe");
    let mut cmd = if with_keyring {
        let mut c = Command::new("sh");
        c.arg(script()).arg(exe);
        c
    } else {
        Command::new(exe)
    };
    cmd.args([inner, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER, inner);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(&format!("INNER-DONE {inner}")),
        "{inner} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

fn is_inner(name: &str) -> bool {
    std::env::var(INNER).as_deref() == Ok(name)
}

/// Every file under the sandbox except the keyring's own (`data/keyrings/`) and the runtime
/// sockets (`run/`).
fn files_outside_the_keyring(sandbox: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(sandbox, &mut files);
    files
        .into_iter()
        .filter(|p| {
            let rel = p.strip_prefix(sandbox).unwrap_or(p);
            !(rel.starts_with("data/keyrings") || rel.starts_with("run"))
        })
        .collect()
}

fn sandbox() -> PathBuf {
    PathBuf::from(std::env::var("MSGOPS_KEYRING_SANDBOX").expect("run through run-with-keyring.sh"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn keychain() -> KeychainStore {
    KeychainStore::open()
        .expect("open the Secret Service")
        .with_timeout(Duration::from_secs(10))
}

fn validator(api: &FakeProviderApi) -> HttpValidator {
    HttpValidator::new()
        .expect("client")
        .with_twilio_base_url(&api.base_url)
        .with_sendgrid_base_url(format!("{}/v3", api.base_url))
}

// ---- store, read, rotate, import, delete ------------------------------------------------

#[test]
fn secret_service_store_read_rotate_import_and_delete() {
    if let Some(reason) = keyring_tools_missing() {
        eprintln!("skipping secret_service_store_read_rotate_import_and_delete: {reason}");
        return;
    }
    run_inner("inner_store_read_rotate_import_delete", true, &[]);
}

#[test]
fn inner_store_read_rotate_import_delete() {
    if !is_inner("inner_store_read_rotate_import_delete") {
        return;
    }
    let store = keychain();
    let health = check_keychain(&store);
    assert!(health.ok, "{health:?}");

    assert!(store
        .get_secret(SecretKind::TwilioAuthToken)
        .expect("get")
        .is_none());
    store
        .set_secret(SecretKind::TwilioAccountSid, &SecretString::from(FAKE_SID))
        .expect("set sid");
    store
        .set_secret(SecretKind::TwilioAuthToken, &SecretString::from(OLD_TOKEN))
        .expect("set token");
    let read = store
        .get_secret(SecretKind::TwilioAuthToken)
        .expect("get")
        .expect("some");
    assert_eq!(read.expose_secret(), OLD_TOKEN);

    // It really is the Secret Service entry service=dev.msgops.console, user=twilio.auth_token.
    let lookup = Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            "dev.msgops.console",
            "username",
            "twilio.auth_token",
        ])
        .output();
    if let Ok(out) = lookup {
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), OLD_TOKEN);
        }
    }

    let work = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::new(work.path().join("audit.jsonl"));
    runtime().block_on(async {
        let api = fake_provider_api().await;
        let bad = CredentialSet::new(CredentialProvider::Twilio)
            .with(SecretKind::TwilioAuthToken, BAD_TOKEN)
            .expect("set");
        let err = rotate(&store, &audit, bad, &validator(&api))
            .await
            .expect_err("refused");
        assert_eq!(err.code(), CredentialErrorCode::ProviderRejected);
        let kept = store
            .get_secret(SecretKind::TwilioAuthToken)
            .expect("get")
            .expect("some");
        assert_eq!(kept.expose_secret(), OLD_TOKEN);

        let good = CredentialSet::new(CredentialProvider::Twilio)
            .with(SecretKind::TwilioAuthToken, NEW_TOKEN)
            .expect("set");
        rotate(&store, &audit, good, &validator(&api))
            .await
            .expect("rotate");
    });
    let now = store
        .get_secret(SecretKind::TwilioAuthToken)
        .expect("get")
        .expect("some");
    assert_eq!(now.expose_secret(), NEW_TOKEN);

    let env = work.path().join(".env");
    std::fs::write(
        &env,
        format!("SENDGRID_API_KEY={SENDGRID_OLD}\nAWS_REGION=us-east-1\n"),
    )
    .expect("env");
    let plan = preview_import(&env, Some(&store)).expect("preview");
    let options = ImportOptions {
        rewrite: true,
        ..ImportOptions::default()
    };
    apply_import(&store, &audit, &plan, &options).expect("import");
    let key = store
        .get_secret(SecretKind::SendgridApiKey)
        .expect("get")
        .expect("some");
    assert_eq!(key.expose_secret(), SENDGRID_OLD);
    assert!(!std::fs::read_to_string(&env)
        .expect("env")
        .contains(SENDGRID_OLD));

    let statuses = credential_statuses(&store, &[CredentialProvider::Smtp]).expect("status");
    let states: Vec<CredentialState> = statuses.iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        vec![
            CredentialState::Missing,
            CredentialState::Stored,
            CredentialState::Stored,
            CredentialState::Disabled
        ]
    );

    remove_provider(&store, &audit, CredentialProvider::Twilio).expect("remove");
    remove_provider(&store, &audit, CredentialProvider::Sendgrid).expect("remove");
    assert!(store
        .get_secret(SecretKind::TwilioAuthToken)
        .expect("get")
        .is_none());
    assert!(store
        .get_secret(SecretKind::SendgridApiKey)
        .expect("get")
        .is_none());

    let stray = files_outside_the_keyring(&sandbox());
    assert!(
        stray.is_empty(),
        "files written outside the keyring: {stray:?}"
    );
    println!("INNER-DONE inner_store_read_rotate_import_delete");
}

// ---- locked collection ------------------------------------------------------------------

#[test]
fn locked_secret_service_gives_keychain_locked_and_writes_nothing_elsewhere() {
    if let Some(reason) = keyring_tools_missing() {
        eprintln!("skipping locked_secret_service_gives_keychain_locked_and_writes_nothing_elsewhere: {reason}");
        return;
    }
    run_inner("inner_locked_keyring", true, &[]);
}

#[test]
fn inner_locked_keyring() {
    if !is_inner("inner_locked_keyring") {
        return;
    }
    let store = keychain();
    store
        .set_secret(SecretKind::TwilioAccountSid, &SecretString::from(FAKE_SID))
        .expect("set while unlocked");
    store
        .set_secret(SecretKind::TwilioAuthToken, &SecretString::from(OLD_TOKEN))
        .expect("set while unlocked");
    let locked = Command::new("gdbus")
        .args([
            "call",
            "--session",
            "--dest",
            "org.freedesktop.secrets",
            "--object-path",
            "/org/freedesktop/secrets",
            "--method",
            "org.freedesktop.Secret.Service.Lock",
            "['/org/freedesktop/secrets/collection/login']",
        ])
        .output()
        .expect("gdbus");
    assert!(
        locked.status.success(),
        "{}",
        String::from_utf8_lossy(&locked.stderr)
    );

    let err = store
        .get_secret(SecretKind::TwilioAuthToken)
        .expect_err("locked");
    assert_eq!(err.code(), CredentialErrorCode::KeychainLocked, "{err}");
    assert!(
        err.to_string().contains("Unlock your login keyring"),
        "{err}"
    );
    let err = store
        .set_secret(
            SecretKind::SendgridApiKey,
            &SecretString::from(SENDGRID_NEW),
        )
        .expect_err("locked");
    assert_eq!(err.code(), CredentialErrorCode::KeychainLocked, "{err}");

    let health = check_keychain(&store);
    assert!(!health.ok);
    assert_eq!(
        health.code,
        Some(CredentialErrorCode::KeychainLocked),
        "{health:?}"
    );

    let work = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::new(work.path().join("audit.jsonl"));
    let env = work.path().join(".env");
    let original = format!("SENDGRID_API_KEY={SENDGRID_NEW}\n");
    std::fs::write(&env, &original).expect("env");
    let plan = preview_import(&env, Some(&store)).expect("preview");
    let options = ImportOptions {
        rewrite: true,
        ..ImportOptions::default()
    };
    let err = apply_import(&store, &audit, &plan, &options).expect_err("locked");
    assert_eq!(err.code(), CredentialErrorCode::KeychainLocked);
    assert_eq!(std::fs::read_to_string(&env).expect("env"), original);

    runtime().block_on(async {
        let api = fake_provider_api().await;
        let new = CredentialSet::new(CredentialProvider::Twilio)
            .with(SecretKind::TwilioAuthToken, NEW_TOKEN)
            .expect("set");
        let err = rotate(&store, &audit, new, &validator(&api))
            .await
            .expect_err("locked");
        assert_eq!(err.code(), CredentialErrorCode::KeychainLocked);
        assert!(api.seen.lock().expect("lock").is_empty());
    });

    let audit_text = std::fs::read_to_string(audit.path()).unwrap_or_default();
    assert_no_secret_in(
        &audit_text,
        &[SENDGRID_NEW, NEW_TOKEN, OLD_TOKEN],
        "the audit trail",
    );
    let stray = files_outside_the_keyring(&sandbox());
    assert!(
        stray.is_empty(),
        "files written outside the keyring: {stray:?}"
    );
    println!("INNER-DONE inner_locked_keyring");
}

// ---- no Secret Service at all -----------------------------------------------------------

#[test]
fn without_a_secret_service_the_error_is_keychain_unavailable_and_nothing_is_written() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path().to_string_lossy().into_owned();
    let sub = |name: &str| format!("{h}/{name}");
    run_inner(
        "inner_no_secret_service",
        false,
        &[
            (
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/msgops-no-bus",
            ),
            ("HOME", &h),
            ("XDG_DATA_HOME", &sub("data")),
            ("XDG_CONFIG_HOME", &sub("config")),
            ("XDG_CACHE_HOME", &sub("cache")),
            ("XDG_RUNTIME_DIR", &sub("run")),
            ("MSGOPS_KEYRING_SANDBOX", &h),
            ("DISPLAY", ""),
        ],
    );
    let mut leftovers = Vec::new();
    for entry in std::fs::read_dir(home.path()).expect("list").flatten() {
        leftovers.push(entry.path());
    }
    assert!(
        leftovers.is_empty(),
        "written without a keychain: {leftovers:?}"
    );
}

#[test]
fn inner_no_secret_service() {
    if !is_inner("inner_no_secret_service") {
        return;
    }
    let err = KeychainStore::open().expect_err("no Secret Service");
    assert_eq!(
        err.code(),
        CredentialErrorCode::KeychainUnavailable,
        "{err}"
    );
    assert!(
        err.to_string().contains("Start a Secret Service provider"),
        "{err}"
    );
    let health = check_os_keychain();
    assert!(!health.ok);
    assert_eq!(health.code, Some(CredentialErrorCode::KeychainUnavailable));
    println!("INNER-DONE inner_no_secret_service");
}
