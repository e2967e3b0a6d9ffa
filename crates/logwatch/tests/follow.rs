//! Deterministic follower scenarios: the synchronous `LogFollower` is polled by hand between
//! filesystem operations, so each case pins one decision (rotation, truncation, ...).
#![allow(clippy::unwrap_used)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use msgops_logwatch::{FollowConfig, FollowSink, FollowerState, LineInfo, LineOrigin, LogFollower};

#[derive(Default)]
struct Recorder {
    lines: Vec<String>,
    infos: Vec<LineInfo>,
    states: Vec<FollowerState>,
}

impl FollowSink for Recorder {
    fn line(&mut self, _file: usize, line: &[u8], info: LineInfo) {
        self.lines.push(String::from_utf8_lossy(line).into_owned());
        self.infos.push(info);
    }
    fn status(&mut self, _file: usize, state: FollowerState, _message: String) {
        self.states.push(state);
    }
    fn generation_end(&mut self, _file: usize) {}
    fn idle(&mut self) -> bool {
        true
    }
}

impl Recorder {
    fn take(&mut self) -> Vec<String> {
        self.infos.clear();
        std::mem::take(&mut self.lines)
    }
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn follower(path: &Path) -> LogFollower {
    let config = FollowConfig {
        retire_after: Duration::from_millis(0),
        ..FollowConfig::default()
    };
    LogFollower::new(vec![path.to_path_buf()], config)
}

#[test]
fn rename_rotation_reads_the_old_file_to_its_end_before_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "one\n");
    let mut f = follower(&path);
    let mut r = Recorder::default();
    f.poll(&mut r);
    assert_eq!(r.take(), ["one"]);

    let mut old = OpenOptions::new().append(true).open(&path).unwrap();
    old.write_all(b"two\nthr").unwrap();
    fs::rename(&path, dir.path().join("app.log.1")).unwrap();
    append(&path, "four\n");
    old.write_all(b"ee\n").unwrap(); // the writer had not reopened yet
    f.poll(&mut r);
    assert_eq!(r.take(), ["two", "three", "four"]);
    assert_eq!(r.states, [FollowerState::Following, FollowerState::Rotated]);
    f.poll(&mut r);
    assert!(r.take().is_empty(), "nothing is reported twice");
}

#[test]
fn copy_truncate_is_detected_even_when_the_file_grew_back_past_the_old_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "a1\na2\n");
    let mut f = follower(&path);
    let mut r = Recorder::default();
    f.poll(&mut r);
    assert_eq!(r.take(), ["a1", "a2"]);

    // Truncated and rewritten with more bytes than we had read: size alone cannot tell.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&path, "b1 longer line\nb2\n");
    f.poll(&mut r);
    assert_eq!(r.take(), ["b1 longer line", "b2"]);
    assert_eq!(r.states.last(), Some(&FollowerState::Truncated));

    // Plain truncation to a smaller size.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&path, "c\n");
    f.poll(&mut r);
    assert_eq!(r.take(), ["c"]);
}

#[test]
fn appending_is_not_mistaken_for_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "x\n");
    let mut f = follower(&path);
    let mut r = Recorder::default();
    for i in 0..50 {
        append(&path, &format!("line {i}\n"));
        f.poll(&mut r);
    }
    assert_eq!(r.lines.len(), 51);
    assert_eq!(r.states, [FollowerState::Following]);
}

#[test]
fn deleted_file_is_drained_and_its_re_creation_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "first\n");
    let mut f = follower(&path);
    let mut r = Recorder::default();
    f.poll(&mut r);
    let mut old = OpenOptions::new().append(true).open(&path).unwrap();
    fs::remove_file(&path).unwrap();
    old.write_all(b"after delete\n").unwrap();
    f.poll(&mut r);
    assert_eq!(r.take(), ["first", "after delete"]);
    assert_eq!(r.states.last(), Some(&FollowerState::Missing));
    append(&path, "recreated\n");
    f.poll(&mut r);
    assert_eq!(r.take(), ["recreated"]);
    assert_eq!(r.states.last(), Some(&FollowerState::Rotated));
}

#[test]
fn file_and_directory_that_appear_later_are_read_from_their_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-yet").join("app.log");
    let mut f = follower(&path);
    let mut r = Recorder::default();
    f.poll(&mut r);
    assert_eq!(r.states, [FollowerState::Missing]);
    fs::create_dir(path.parent().unwrap()).unwrap();
    append(&path, "hello\n");
    f.poll(&mut r);
    assert_eq!(r.lines, ["hello"]);
    assert_eq!(r.infos[0].origin, LineOrigin::Appended);
    assert_eq!(r.states, [FollowerState::Missing, FollowerState::Following]);
}

#[test]
fn content_present_at_start_is_labelled_existing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "old1\nold2\n");
    let mut f = follower(&path);
    let mut r = Recorder::default();
    f.poll(&mut r);
    append(&path, "new\n");
    f.poll(&mut r);
    let origins: Vec<_> = r.infos.iter().map(|i| (i.line_no, i.origin)).collect();
    assert_eq!(
        origins,
        [
            (1, LineOrigin::Existing),
            (2, LineOrigin::Existing),
            (3, LineOrigin::Appended)
        ]
    );
}

#[cfg(unix)]
#[test]
fn symlink_swap_follows_the_new_target() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    let link = dir.path().join("current.log");
    append(&a, "from a\n");
    append(&b, "from b\n");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    let mut f = follower(&link);
    let mut r = Recorder::default();
    f.poll(&mut r);
    assert_eq!(r.take(), ["from a"]);
    let tmp = dir.path().join("tmp.link");
    std::os::unix::fs::symlink(&b, &tmp).unwrap();
    fs::rename(&tmp, &link).unwrap();
    f.poll(&mut r);
    assert_eq!(r.take(), ["from b"]);
    assert_eq!(r.states.last(), Some(&FollowerState::Rotated));
}

#[test]
fn unreadable_path_is_reported_and_following_resumes_when_it_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    fs::create_dir(&path).unwrap(); // exists, but is not a file
    let mut f = follower(&path);
    let mut r = Recorder::default();
    f.poll(&mut r);
    f.poll(&mut r);
    assert_eq!(
        r.states,
        [FollowerState::Unreadable],
        "reported once, not on every poll"
    );
    fs::remove_dir(&path).unwrap();
    append(&path, "ok\n");
    f.poll(&mut r);
    assert_eq!(r.take(), ["ok"]);
    assert_eq!(r.states.last(), Some(&FollowerState::Following));
}

#[cfg(unix)]
#[test]
fn permission_denied_is_reported_and_recovers() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "secret\n");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::File::open(&path).is_ok() {
        eprintln!("running as root: permissions are not enforced, skipping");
        return;
    }
    let mut f = follower(&path);
    let mut r = Recorder::default();
    f.poll(&mut r);
    assert_eq!(r.states, [FollowerState::Unreadable]);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    f.poll(&mut r);
    assert_eq!(r.take(), ["secret"]);
}

#[test]
fn partial_lines_wait_for_their_newline_and_crlf_is_stripped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "");
    let mut f = follower(&path);
    let mut r = Recorder::default();
    f.poll(&mut r);
    append(&path, "OTP Co");
    f.poll(&mut r);
    assert!(r.lines.is_empty());
    append(&path, "de: 123456\r\n");
    f.poll(&mut r);
    assert_eq!(r.take(), ["OTP Code: 123456"]);
}

#[test]
fn several_files_are_followed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    append(&a, "a\n");
    let mut f = LogFollower::new(vec![a.clone(), b.clone()], FollowConfig::default());
    let mut r = Recorder::default();
    f.poll(&mut r);
    append(&b, "b\n");
    append(&a, "a2\n");
    f.poll(&mut r);
    assert_eq!(r.take(), ["a", "a2", "b"]);
}
