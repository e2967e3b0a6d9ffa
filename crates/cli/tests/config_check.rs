//! `msgops config check`, the real binary: a file that reads is summed up with its passwords
//! masked (exit 0); a wrong value is named by line and field (exit 2); a missing file is said so.

use std::process::Command;

fn check(file: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_msgops"))
        .args(["config", "check"])
        .arg(file)
        .output()
        .expect("msgops runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_configuration_is_checked_with_its_passwords_masked_and_its_mistakes_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[state]\nbackend = \"redis://:valkeypass123@valkey:6379/0\"\ninstances = 3\n\n\
         [history]\nurl = \"postgres://msgops:pgpass456@db:5432/msgops\"\n",
    )
    .expect("write");
    let (code, out, err) = check(&good);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok") && out.contains("3 instances"), "{out}");
    assert!(!format!("{out}{err}").contains("valkeypass123"), "{out}");
    assert!(!format!("{out}{err}").contains("pgpass456"), "{out}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[state]\nbackend = \"memory\"\ninstances = 0\n").expect("write");
    let (code, out, err) = check(&bad);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("instances"), "the field is named: {err}");

    let (code, _, err) = check(&dir.path().join("missing.toml"));
    assert_eq!(code, 2);
    assert!(err.contains("cannot be read"), "{err}");
}
