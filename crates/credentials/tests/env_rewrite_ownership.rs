//! The rewritten `.env` keeps its owner, group and mode — the backend runs as its own user
//! and must still be able to read it — and when msgops may not give the file to its owner
//! (not root), the report says so instead of leaving it to be found out.
//!
//! Needs root to create another user (`useradd`) and give the file to it; CI runs as root.
//! Not root, the tests are skipped with a note (a failure under `MSGOPS_REAL_PEERS=1`).
#![cfg(unix)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use chrono::TimeZone;
use common::*;
use msgops_credentials::{apply_import, preview_import, AuditLog, ImportOptions, MemoryStore};

fn env_text() -> String {
    format!(
        "APP_NAME=otp-backend\nTWILIO_ACCOUNT_SID={FAKE_SID}\nTWILIO_AUTH_TOKEN={OLD_TOKEN}\nDEBUG=1\n"
    )
}

fn options() -> ImportOptions {
    ImportOptions {
        rewrite: true,
        replace_existing: false,
        now: chrono::Utc
            .with_ymd_and_hms(2026, 4, 3, 12, 0, 0)
            .single()
            .expect("date"),
    }
}

fn owner_and_mode(path: &Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(path).expect("metadata");
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

fn rewrite(env: &Path, audit_dir: &Path) -> msgops_credentials::ImportReport {
    let store = MemoryStore::new();
    let audit = AuditLog::new(audit_dir.join("audit.jsonl"));
    let plan = preview_import(env, Some(&store)).expect("preview");
    let report = apply_import(&store, &audit, &plan, &options()).expect("import");
    assert!(report.rewritten, "{report:?}");
    let text = std::fs::read_to_string(env).expect("read");
    assert_no_secret_in(&text, &[FAKE_SID, OLD_TOKEN], "the rewritten .env");
    assert!(text.starts_with("APP_NAME=otp-backend\n"), "{text}");
    report
}

#[test]
fn a_env_owned_by_another_user_and_group_keeps_owner_group_and_mode() {
    if !users::is_root() {
        return users::skip_or_fail("the tests do not run as root (needed to chown the .env)");
    }
    let (uid, gid) = match users::test_user() {
        Ok(ids) => ids,
        Err(reason) => return users::skip_or_fail(&reason),
    };
    for mode in [0o640, 0o600, 0o604] {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = dir.path().join(".env");
        std::fs::write(&env, env_text()).expect("write");
        std::os::unix::fs::chown(&env, Some(uid), Some(gid)).expect("chown");
        users::chmod(&env, mode);
        let before = owner_and_mode(&env);
        assert_eq!(before, (uid, gid, mode));
        let inode_before = std::fs::metadata(&env).expect("meta").ino();

        let report = rewrite(&env, dir.path());
        assert_eq!(
            report.rewrite_warning, None,
            "root can keep everything: {report:?}"
        );
        assert_eq!(
            owner_and_mode(&env),
            before,
            "uid, gid and mode {mode:o} unchanged"
        );
        assert_ne!(
            std::fs::metadata(&env).expect("meta").ino(),
            inode_before,
            "a new file renamed into place, not the old one written over"
        );
    }
}

/// Run by `without_root_a_lost_owner_is_reported_and_the_mode_kept`, as the test user.
#[test]
#[ignore = "run as another user by without_root_a_lost_owner_is_reported_and_the_mode_kept"]
fn rewrite_of_a_root_owned_env_as_another_user() {
    let Some(env) = std::env::var_os("MSGOPS_TEST_FOREIGN_ENV") else {
        return;
    };
    let env = Path::new(&env);
    let work = tempfile::tempdir().expect("own temp dir");
    let report = rewrite(env, work.path());
    let warning = report.rewrite_warning.as_deref().expect("a warning");
    eprintln!("the report says: {warning}");
    assert!(
        warning.contains("could not keep its owner") && warning.contains("uid 0"),
        "{warning}"
    );
    assert!(
        warning.contains("check that the backend can still read it"),
        "{warning}"
    );
}

#[test]
fn without_root_a_lost_owner_is_reported_and_the_mode_kept() {
    if !users::is_root() {
        return users::skip_or_fail("the tests do not run as root (needed to create a user)");
    }
    let (uid, gid) = match users::test_user() {
        Ok(ids) => ids,
        Err(reason) => return users::skip_or_fail(&reason),
    };
    // A root-owned .env in a directory the other user may write: it can replace the file but
    // not give the new one to root.
    let dir = tempfile::tempdir().expect("tempdir");
    users::chmod(dir.path(), 0o755);
    let backend = dir.path().join("backend");
    std::fs::create_dir(&backend).expect("dir");
    std::os::unix::fs::chown(&backend, Some(uid), Some(gid)).expect("chown dir");
    let env = backend.join(".env");
    std::fs::write(&env, env_text()).expect("write");
    users::chmod(&env, 0o644);
    assert_eq!(owner_and_mode(&env), (0, 0, 0o644));

    let out = users::run_test_as(
        uid,
        gid,
        "rewrite_of_a_root_owned_env_as_another_user",
        &[("MSGOPS_TEST_FOREIGN_ENV", &env)],
    );
    assert!(out.status.success(), "the rewrite as uid {uid} failed");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    assert_eq!(
        owner_and_mode(&env),
        (uid, gid, 0o644),
        "the file now belongs to the user who rewrote it, as the report said; mode kept"
    );
}
