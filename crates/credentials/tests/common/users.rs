//! Another user and group, for tests of file ownership and of directories this process cannot
//! write: created with `useradd` when the tests run as root (CI does). A test that needs one
//! and cannot have it fails under `MSGOPS_REAL_PEERS=1` and is skipped with a note otherwise.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;

/// The system user the tests create (no home, no login shell).
pub const TEST_USER: &str = "msgops-envtest";

pub fn real_peers_required() -> bool {
    std::env::var("MSGOPS_REAL_PEERS").is_ok_and(|v| v == "1")
}

/// What a test needs is missing: a failure under `MSGOPS_REAL_PEERS=1`, else a note (the
/// caller then returns).
pub fn skip_or_fail(reason: &str) {
    assert!(!real_peers_required(), "MSGOPS_REAL_PEERS=1 but {reason}");
    eprintln!("SKIPPED (set MSGOPS_REAL_PEERS=1 to make this a failure): {reason}");
}

/// The effective user id of this process (the owner of a file it creates).
pub fn euid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().expect("probe file");
    probe.as_file().metadata().expect("probe metadata").uid()
}

pub fn is_root() -> bool {
    euid() == 0
}

fn id(flag: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, TEST_USER]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .flatten()
}

static CREATING: Mutex<()> = Mutex::new(());

/// `(uid, gid)` of [`TEST_USER`], created if it does not exist yet (root only).
pub fn test_user() -> Result<(u32, u32), String> {
    let _one_at_a_time = CREATING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let (Some(uid), Some(gid)) = (id("-u"), id("-g")) {
        return Ok((uid, gid));
    }
    if !is_root() {
        return Err(format!(
            "the tests do not run as root, so they cannot create the user {TEST_USER}"
        ));
    }
    let out = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            TEST_USER,
        ])
        .output()
        .map_err(|e| format!("useradd could not run: {e}"))?;
    // 9: the user exists (another test binary created it meanwhile).
    if !out.status.success() && out.status.code() != Some(9) {
        return Err(format!(
            "useradd {TEST_USER} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => Ok((uid, gid)),
        _ => Err(format!("{TEST_USER} was created but `id` does not know it")),
    }
}

/// Runs the test `name` of this test binary (marked `#[ignore]`, so that only this call runs
/// it) as `uid`/`gid`, without supplementary groups, with `envs` set. Its output.
pub fn run_test_as(uid: u32, gid: u32, name: &str, envs: &[(&str, &Path)]) -> Output {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().expect("this test binary");
    let mut command = Command::new(exe);
    command
        .args([name, "--exact", "--include-ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .uid(uid)
        .gid(gid);
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command.output().expect("run the test as another user");
    eprintln!(
        "--- {name} as uid {uid}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `chmod` for tests.
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
