//! Deterministic follower scenarios: the synchronous `LogFollower` is polled by hand between
//! filesystem operations, so each case pins one decision (rotation, truncation, ...).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use msgops_logwatch::follow::MAX_RETIRED;
use msgops_logwatch::{FollowConfig, FollowSink, FollowerState, LineInfo, LineOrigin, LogFollower};

/// Called with each line as it is reported, to change the files in the middle of a read.
type Hook = Box<dyn FnMut(&str)>;

#[derive(Default)]
struct Recorder {
    lines: Vec<String>,
    infos: Vec<LineInfo>,
    states: Vec<FollowerState>,
    messages: Vec<String>,
    hook: Option<Hook>,
}

impl FollowSink for Recorder {
    fn line(&mut self, _file: usize, line: &[u8], info: LineInfo) {
        let line = String::from_utf8_lossy(line).into_owned();
        if let Some(hook) = self.hook.as_mut() {
            hook(&line);
        }
        self.lines.push(line);
        self.infos.push(info);
    }
    fn status(&mut self, _file: usize, state: FollowerState, message: String) {
        self.states.push(state);
        self.messages.push(message);
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

fn follower_with(path: &Path, retire_after: Duration) -> LogFollower {
    let config = FollowConfig {
        retire_after,
        ..FollowConfig::default()
    };
    LogFollower::new(vec![path.to_path_buf()], config)
}

/// Every expected line reported once, nothing else, and no NUL byte in any line.
fn assert_exactly_once(lines: &[String], expected: &[String], what: &str) {
    let mut counts = BTreeMap::new();
    for line in lines {
        *counts.entry(line.trim_start_matches('\0')).or_insert(0) += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).collect();
    assert!(
        twice.is_empty(),
        "{what}: reported more than once: {twice:?}"
    );
    let nul: Vec<_> = lines.iter().filter(|l| l.contains('\0')).collect();
    assert!(nul.is_empty(), "{what}: NUL bytes reported: {nul:?}");
    let missing: Vec<_> = expected
        .iter()
        .filter(|l| !counts.contains_key(l.as_str()))
        .collect();
    assert!(missing.is_empty(), "{what}: never reported: {missing:?}");
    let unexpected: Vec<_> = counts
        .keys()
        .filter(|l| !expected.iter().any(|e| e == *l))
        .collect();
    assert!(unexpected.is_empty(), "{what}: not written: {unexpected:?}");
}

fn code_line(i: usize) -> String {
    format!("2025-10-29 16:34:53,202 - services.otp_service - INFO - OTP Code: {i:06}")
}

fn truncate(path: &Path) {
    // Like logrotate: its own handle, not the writer's.
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}

#[test]
fn a_partial_last_line_is_reported_incomplete_and_every_other_line_complete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "");
    let mut f = follower(&path);
    let mut r = Recorder::default();
    f.poll(&mut r);

    // Truncated while a line waits for its newline.
    append(&path, "whole\r\nOTP Code: 5895");
    f.poll(&mut r);
    truncate(&path);
    append(&path, "after truncation\n");
    f.poll(&mut r);
    let seen: Vec<_> = r
        .lines
        .iter()
        .cloned()
        .zip(r.infos.iter().map(|i| i.complete))
        .collect();
    assert_eq!(
        seen,
        [
            ("whole".to_owned(), true),
            ("OTP Code: 5895".to_owned(), false),
            ("after truncation".to_owned(), true)
        ]
    );
    r.take();

    // Rotated away while a line waits: the old file is kept while its writer may finish the
    // line; once the writer moved over (the new file grew), it is let go and the piece is
    // reported, incomplete.
    append(&path, "OTP Code: 12");
    f.poll(&mut r);
    fs::rename(&path, dir.path().join("app.log.1")).unwrap();
    append(&path, "new file\n");
    f.poll(&mut r);
    append(&path, "more\n");
    f.poll(&mut r);
    f.poll(&mut r);
    let seen: Vec<_> = r
        .lines
        .iter()
        .cloned()
        .zip(r.infos.iter().map(|i| i.complete))
        .collect();
    assert_eq!(
        seen,
        [
            ("new file".to_owned(), true),
            ("more".to_owned(), true),
            ("OTP Code: 12".to_owned(), false)
        ]
    );

    // A line cut at the cap still had its newline.
    let long = dir.path().join("long.log");
    append(&long, "");
    let mut f = LogFollower::new(
        vec![long.clone()],
        FollowConfig {
            max_line_bytes: 4,
            ..FollowConfig::default()
        },
    );
    let mut r = Recorder::default();
    f.poll(&mut r);
    append(&long, "0123456789\n");
    f.poll(&mut r);
    assert_eq!(r.lines, ["0123"]);
    assert!(r.infos[0].truncated && r.infos[0].complete);
}

#[test]
fn a_writer_that_never_reopens_is_followed_in_the_renamed_file_past_retire_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let retire_after = Duration::from_millis(40);
    let mut writer = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let mut f = follower_with(&path, retire_after);
    let mut r = Recorder::default();
    let mut expected = Vec::new();
    let write = |w: &mut File, text: String, expected: &mut Vec<String>| {
        writeln!(w, "{text}").unwrap();
        expected.push(text);
    };
    write(&mut writer, "before rotation".into(), &mut expected);
    f.poll(&mut r);

    // logrotate `create`: rename, then a new empty file at the path. Python's plain
    // FileHandler never reopens: it keeps writing to the renamed file.
    fs::rename(&path, dir.path().join("app.log.1")).unwrap();
    File::create(&path).unwrap();
    for i in 0..8 {
        f.poll(&mut r);
        std::thread::sleep(retire_after / 2);
        f.poll(&mut r);
        write(&mut writer, format!("old file {i}"), &mut expected);
        std::thread::sleep(retire_after * 2); // quiet for longer than retire_after
        f.poll(&mut r);
    }
    // A second rotation: the renamed, empty file moves on, the writer still does not.
    fs::rename(dir.path().join("app.log.1"), dir.path().join("app.log.2")).unwrap();
    fs::rename(&path, dir.path().join("app.log.1")).unwrap();
    File::create(&path).unwrap();
    f.poll(&mut r);
    std::thread::sleep(retire_after * 2);
    f.poll(&mut r);
    write(
        &mut writer,
        "old file after the second rotation".into(),
        &mut expected,
    );
    f.poll(&mut r);
    assert_exactly_once(&r.lines, &expected, "writer that never reopens");
    assert_eq!(r.lines, expected, "in the order written");

    // The writer moves over at last (WatchedFileHandler would): the old file is still read
    // until it has been quiet for retire_after, then let go.
    let mut new = OpenOptions::new().append(true).open(&path).unwrap();
    write(&mut new, "new file".into(), &mut expected);
    f.poll(&mut r);
    write(
        &mut writer,
        "straggler in the old file".into(),
        &mut expected,
    );
    f.poll(&mut r);
    std::thread::sleep(retire_after * 2);
    f.poll(&mut r);
    f.poll(&mut r);
    writeln!(writer, "written after the old file was let go").unwrap();
    f.poll(&mut r);
    assert_exactly_once(&r.lines, &expected, "after the writer moved over");
    assert!(r.infos.iter().all(|i| i.complete));
}

#[test]
fn beyond_the_limit_of_replaced_files_the_oldest_quiet_one_is_let_go_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut writer = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(writer, "start").unwrap();
    let mut f = follower_with(&path, Duration::from_millis(10));
    let mut r = Recorder::default();
    f.poll(&mut r);
    // The path is rotated more often than the limit while the writer never reopens: the file it
    // writes to is the oldest replaced one, but never quiet, so the empty ones go first.
    for i in 0..MAX_RETIRED + 3 {
        fs::rename(&path, dir.path().join(format!("app.log.{i}"))).unwrap();
        File::create(&path).unwrap();
        std::thread::sleep(Duration::from_millis(15));
        writeln!(writer, "line {i}").unwrap();
        f.poll(&mut r);
    }
    let expected: Vec<String> = std::iter::once("start".to_owned())
        .chain((0..MAX_RETIRED + 3).map(|i| format!("line {i}")))
        .collect();
    assert_eq!(r.lines, expected);
    let dropped: Vec<_> = r
        .messages
        .iter()
        .filter(|m| m.contains("stopped reading an older replaced file"))
        .collect();
    assert_eq!(dropped.len(), 3, "{:?}", r.messages);
    assert!(dropped[0].contains("had not grown"), "{dropped:?}");
}

#[test]
fn copy_truncate_right_after_a_code_line_reports_every_line_exactly_once() {
    // Polls at every combination of: after the code line, after the copy, after the
    // truncation, after the first and after the second new line. The writer appends
    // (O_APPEND, like Python's FileHandler), logrotate copies and truncates through its own
    // handle.
    for polls in 0u32..32 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend.log");
        let mut writer = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let mut expected: Vec<String> = (1..=499).map(code_line).collect();
        for line in &expected {
            writeln!(writer, "{line}").unwrap();
        }
        let mut f = follower(&path);
        let mut r = Recorder::default();
        f.poll(&mut r);
        let poll_if = |bit: u32, f: &mut LogFollower, r: &mut Recorder| {
            if polls & (1 << bit) != 0 {
                f.poll(r);
            }
        };
        writeln!(writer, "{}", code_line(500)).unwrap();
        expected.push(code_line(500));
        poll_if(0, &mut f, &mut r);
        fs::copy(&path, dir.path().join("backend.log.1")).unwrap();
        poll_if(1, &mut f, &mut r);
        truncate(&path);
        poll_if(2, &mut f, &mut r);
        for (bit, i) in [(3, 501), (4, 502)] {
            writeln!(writer, "{}", code_line(i)).unwrap();
            expected.push(code_line(i));
            poll_if(bit, &mut f, &mut r);
        }
        f.poll(&mut r);
        f.poll(&mut r);
        assert_exactly_once(&r.lines, &expected, &format!("polls {polls:05b}"));
        assert_eq!(r.lines, expected, "polls {polls:05b}: in order");
        assert_eq!(
            r.states,
            [FollowerState::Following, FollowerState::Truncated],
            "polls {polls:05b}"
        );
        // The new content is numbered from 1: it is a new generation.
        let last: Vec<_> = r.infos.iter().rev().take(2).map(|i| i.line_no).collect();
        assert_eq!(last, [2, 1], "polls {polls:05b}");
        assert!(r.infos.iter().all(|i| i.complete), "polls {polls:05b}");
    }
}

#[test]
fn copy_truncate_with_a_writer_that_keeps_its_offset_reports_no_old_line_and_no_nul_run() {
    // A writer without O_APPEND (a shell `>` redirect, `open(path, "w")`) keeps writing at its
    // old offset after the truncation: the file becomes a hole of NULs, then the new lines.
    for polls in 0u32..32 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend.log");
        let mut writer = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let mut expected: Vec<String> = (1..=499).map(code_line).collect();
        for line in &expected {
            writeln!(writer, "{line}").unwrap();
        }
        let mut f = follower(&path);
        let mut r = Recorder::default();
        f.poll(&mut r);
        let poll_if = |bit: u32, f: &mut LogFollower, r: &mut Recorder| {
            if polls & (1 << bit) != 0 {
                f.poll(r);
            }
        };
        writeln!(writer, "{}", code_line(500)).unwrap();
        expected.push(code_line(500));
        poll_if(0, &mut f, &mut r);
        fs::copy(&path, dir.path().join("backend.log.1")).unwrap();
        poll_if(1, &mut f, &mut r);
        truncate(&path);
        poll_if(2, &mut f, &mut r);
        for (bit, i) in [(3, 501), (4, 502)] {
            writeln!(writer, "{}", code_line(i)).unwrap();
            expected.push(code_line(i));
            poll_if(bit, &mut f, &mut r);
        }
        f.poll(&mut r);
        f.poll(&mut r);
        assert_exactly_once(&r.lines, &expected, &format!("polls {polls:05b}"));
        assert_eq!(r.lines, expected, "polls {polls:05b}: in order");
        assert!(
            fs::read(&path).unwrap().starts_with(&[0; 64]),
            "the file does start with a hole"
        );
    }
}

/// The duplicate of the issue: the truncation happens after the poll's check and before its
/// read, so the read at the old offset returns the new content; the next poll notices the
/// truncation and reads the new content again from the start. Here the truncation is done from
/// inside the sink while the follower is between two reads of one drain.
#[test]
fn a_truncation_between_the_check_and_the_read_does_not_report_new_lines_twice() {
    for o_append in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend.log");
        let mut writer = OpenOptions::new()
            .create(true)
            .write(true)
            .append(o_append)
            .open(&path)
            .unwrap();
        writer.seek(SeekFrom::End(0)).unwrap();
        let mut f = follower(&path);
        let mut r = Recorder::default();
        f.poll(&mut r);
        // More than one read buffer (64 KiB), so the drain reads twice.
        let old: Vec<String> = (1..=1500).map(code_line).collect();
        for line in &old {
            writeln!(writer, "{line}").unwrap();
        }
        // An O_APPEND writer must write past our old offset for its new lines to be read
        // there; one that keeps its offset writes there anyway.
        let new_count = if o_append { 1500 } else { 2 };
        let new: Vec<String> = (2001..2001 + new_count).map(code_line).collect();
        let hook_path = path.clone();
        let hook_new = new.clone();
        let mut done = false;
        r.hook = Some(Box::new(move |line: &str| {
            if done || line != code_line(10) {
                return;
            }
            done = true;
            fs::copy(&hook_path, hook_path.with_extension("log.1")).unwrap();
            truncate(&hook_path);
            for line in &hook_new {
                writeln!(writer, "{line}").unwrap();
            }
        }));
        f.poll(&mut r);
        f.poll(&mut r);
        f.poll(&mut r);
        let expected: Vec<String> = old.iter().chain(&new).cloned().collect();
        assert_exactly_once(&r.lines, &expected, &format!("O_APPEND {o_append}"));
        assert_eq!(r.lines, expected, "O_APPEND {o_append}: in order");
        assert_eq!(
            r.states,
            [FollowerState::Following, FollowerState::Truncated],
            "O_APPEND {o_append}"
        );
        assert!(
            r.messages[1].contains("read from its copy"),
            "{:?}",
            r.messages
        );
    }
}

#[test]
fn a_lagging_reader_gets_what_copy_truncate_copied_from_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backend.log");
    let mut writer = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let mut expected: Vec<String> = (1..=100).map(code_line).collect();
    for line in &expected {
        writeln!(writer, "{line}").unwrap();
    }
    let mut f = follower(&path);
    let mut r = Recorder::default();
    f.poll(&mut r);
    // Written, copied (dateext naming) and truncated before the follower looked again; a
    // partial line at the end of the copy stays incomplete.
    for i in 101..=150 {
        writeln!(writer, "{}", code_line(i)).unwrap();
        expected.push(code_line(i));
    }
    write!(writer, "2025-10-29 16:34:53,202 - cut").unwrap();
    fs::copy(&path, dir.path().join("backend.log-20251029")).unwrap();
    // An older copy with other content is not taken for this one.
    fs::write(dir.path().join("backend.log.1"), "x".repeat(100_000)).unwrap();
    truncate(&path);
    writeln!(writer, "{}", code_line(151)).unwrap();
    f.poll(&mut r);
    expected.push("2025-10-29 16:34:53,202 - cut".to_owned());
    expected.push(code_line(151));
    assert_eq!(r.lines, expected);
    let incomplete: Vec<_> = r
        .lines
        .iter()
        .zip(&r.infos)
        .filter(|(_, i)| !i.complete)
        .map(|(l, _)| l.as_str())
        .collect();
    assert_eq!(incomplete, ["2025-10-29 16:34:53,202 - cut"]);
    assert!(
        r.messages.last().unwrap().contains("backend.log-20251029"),
        "{:?}",
        r.messages
    );
}

#[test]
fn a_copy_renamed_over_the_file_is_continued_where_reading_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let tmp = dir.path().join("app.log.tmp");
    let old: Vec<String> = (1..=300).map(code_line).collect();
    append(&path, &format!("{}\nOTP Co", old.join("\n")));
    let mut f = follower(&path);
    let mut r = Recorder::default();
    f.poll(&mut r);
    assert_eq!(r.lines, old);
    r.take();

    // cp log log.tmp && echo more >> log.tmp && mv log.tmp log
    fs::copy(&path, &tmp).unwrap();
    append(&tmp, "de: 123456\nmore\n");
    fs::rename(&tmp, &path).unwrap();
    f.poll(&mut r);
    assert_eq!(r.take(), ["OTP Code: 123456", "more"]);
    assert_eq!(r.states.last(), Some(&FollowerState::Following));
    assert!(
        r.messages.last().unwrap().contains("replaced by a copy"),
        "{:?}",
        r.messages
    );
    append(&path, "after\n");
    f.poll(&mut r);
    f.poll(&mut r);
    assert_eq!(r.take(), ["after"]);
    assert_eq!(r.infos.len(), 0);

    // A new file with the same first bytes but other content before our offset is a new file:
    // read from its start, as a rotation.
    let mut other = old[..10].join("\n");
    other.push_str("\nsomething else entirely\n");
    other.push_str(&"filler line\n".repeat(3000));
    fs::write(&tmp, &other).unwrap();
    fs::rename(&tmp, &path).unwrap();
    f.poll(&mut r);
    assert_eq!(r.states.last(), Some(&FollowerState::Rotated));
    assert_eq!(r.lines.len(), 3011);
    assert_eq!(r.lines[0], old[0]);
}

#[test]
fn delete_and_re_create_reports_every_line_exactly_once() {
    for polls in 0u32..16 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut old = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let mut expected = vec!["first".to_owned()];
        writeln!(old, "first").unwrap();
        let mut f = follower_with(&path, Duration::from_millis(0));
        let mut r = Recorder::default();
        f.poll(&mut r);
        let poll_if = |bit: u32, f: &mut LogFollower, r: &mut Recorder| {
            if polls & (1 << bit) != 0 {
                f.poll(r);
            }
        };
        writeln!(old, "before delete").unwrap();
        expected.push("before delete".to_owned());
        poll_if(0, &mut f, &mut r);
        fs::remove_file(&path).unwrap();
        poll_if(1, &mut f, &mut r);
        writeln!(old, "into the deleted file").unwrap();
        expected.push("into the deleted file".to_owned());
        poll_if(2, &mut f, &mut r);
        let mut new = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(new, "recreated").unwrap();
        expected.push("recreated".to_owned());
        poll_if(3, &mut f, &mut r);
        writeln!(old, "late into the deleted file").unwrap();
        expected.push("late into the deleted file".to_owned());
        writeln!(new, "recreated 2").unwrap();
        expected.push("recreated 2".to_owned());
        f.poll(&mut r);
        f.poll(&mut r);
        f.poll(&mut r);
        assert_exactly_once(&r.lines, &expected, &format!("polls {polls:04b}"));
    }
}
