//! Generations created, written and rotated away again between two polls of the follower
//! (logrotate `create` or Python's rotating handlers rotating every few hundred milliseconds on a
//! starved machine): on the next switch they are found among the path's rotated siblings and
//! read in full, in order, exactly once, before the new file. The synchronous `LogFollower` is
//! polled by hand between filesystem operations. Unix only: generations are told apart by
//! device and inode.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use msgops_logwatch::follow::MAX_SIBLINGS;
use msgops_logwatch::{FollowConfig, FollowSink, FollowerState, LineInfo, LineOrigin, LogFollower};

#[derive(Default)]
struct Recorder {
    lines: Vec<String>,
    infos: Vec<LineInfo>,
    states: Vec<FollowerState>,
    messages: Vec<String>,
}

impl FollowSink for Recorder {
    fn line(&mut self, _file: usize, line: &[u8], info: LineInfo) {
        self.lines.push(String::from_utf8_lossy(line).into_owned());
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
    /// The lines reported since the last call, with their origins.
    fn take(&mut self) -> Vec<String> {
        self.infos.clear();
        std::mem::take(&mut self.lines)
    }

    fn appended(&self) -> Vec<&str> {
        self.lines
            .iter()
            .zip(&self.infos)
            .filter(|(_, i)| i.origin == LineOrigin::Appended)
            .map(|(l, _)| l.as_str())
            .collect()
    }
}

fn follower(path: &Path, retire_after: Duration) -> LogFollower {
    let config = FollowConfig {
        retire_after,
        use_notify: false,
        ..FollowConfig::default()
    };
    LogFollower::new(vec![path.to_path_buf()], config)
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

fn lines(prefix: &str, n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| format!("2026-12-02 10:00:00,{i:03} - otp - INFO - {prefix} OTP Code: {i:06}"))
        .collect()
}

fn text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn rename(from: &Path, to: &Path) {
    fs::rename(from, to).expect("rename");
}

/// logrotate's numbered rotation with `create`: `<name>.N` becomes `<name>.N+1`, ..., the file
/// becomes `<name>.1`, and a new empty file is created at the path.
fn logrotate_create(path: &Path) {
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let dir = path.parent().expect("dir");
    let numbered = |n: usize| dir.join(format!("{name}.{n}"));
    let mut last = 0;
    while numbered(last + 1).exists() {
        last += 1;
    }
    for n in (1..=last).rev() {
        rename(&numbered(n), &numbered(n + 1));
    }
    rename(path, &numbered(1));
    File::create(path).expect("create");
}

fn set_mtime(path: &Path, at: SystemTime) {
    OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open")
        .set_modified(at)
        .expect("set mtime");
}

/// Every line of `expected` reported once, in that order, nothing else.
fn assert_in_order_once(got: &[String], expected: &[String], what: &str) {
    let mut counts = BTreeMap::new();
    for line in got {
        *counts.entry(line.as_str()).or_insert(0) += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "{what}: reported twice: {twice:?}");
    assert_eq!(got, expected, "{what}");
}

#[test]
fn a_generation_rotated_away_between_two_polls_is_read_in_full_in_order_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("backend.log");
    append(&path, "a0\n");
    let mut f = follower(&path, Duration::from_secs(60));
    let mut r = Recorder::default();
    f.poll(&mut r);
    assert_eq!(r.take(), ["a0"]);

    // Between two polls: the writer appends to A, logrotate rotates A away, the writer
    // (WatchedFileHandler) writes B, logrotate rotates B away (A moves on to .2), the writer
    // writes C.
    let a = lines("a", 3);
    let b = lines("b", 200);
    let c = lines("c", 2);
    append(&path, &text(&a));
    logrotate_create(&path);
    append(&path, &text(&b));
    logrotate_create(&path);
    append(&path, &text(&c));
    f.poll(&mut r);
    let expected: Vec<String> = a.iter().chain(&b).chain(&c).cloned().collect();
    assert_in_order_once(&r.take(), &expected, "A's rest, all of B, then C");
    assert_eq!(r.states.last(), Some(&FollowerState::Rotated));
    let msg = r.messages.last().expect("a message");
    assert!(
        msg.contains("backend.log.1") && msg.contains("rotated away between two checks"),
        "{msg}"
    );

    // Nothing is read twice, however often the path is polled.
    f.poll(&mut r);
    f.poll(&mut r);
    assert!(r.take().is_empty());

    // B is followed like a replaced file: a writer thread that had not noticed the rotation
    // yet still appends to it.
    append(&dir.path().join("backend.log.1"), "b late\n");
    f.poll(&mut r);
    assert_eq!(r.take(), ["b late"]);

    // Rotated on again (and again, with a gap): A and B are siblings once more (.3, .4, ...),
    // and are not read again; only D, skipped between two polls, and E are new.
    let d = lines("d", 5);
    let e = lines("e", 1);
    logrotate_create(&path);
    append(&path, &text(&d));
    logrotate_create(&path);
    append(&path, &text(&e));
    f.poll(&mut r);
    let expected: Vec<String> = d.iter().chain(&e).cloned().collect();
    assert_in_order_once(&r.take(), &expected, "only D and E");
    f.poll(&mut r);
    assert!(r.take().is_empty());
    assert!(r.infos.iter().all(|i| i.complete));
}

#[test]
fn dated_and_dot_log_suffixes_are_read_oldest_first_and_compressed_ones_are_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("backend.log");
    append(&path, "start\n");
    let mut f = follower(&path, Duration::from_secs(60));
    let mut r = Recorder::default();
    f.poll(&mut r);
    assert_eq!(r.take(), ["start"]);

    let now = SystemTime::now();
    // A goes to a dated name (TimedRotatingFileHandler); B1 and B2 live and go between two
    // polls, to `-YYYYMMDD` (logrotate dateext) and `.1.log`; a compressed generation written
    // meanwhile is not a log to read; nor is an unrelated file with the same prefix.
    rename(&path, &dir.path().join("backend.log.2026-12-02_10-00"));
    let b1 = lines("b1", 4);
    append(&path, &text(&b1));
    let b1_path = dir.path().join("backend.log-20261202");
    rename(&path, &b1_path);
    let b2 = lines("b2", 4);
    append(&path, &text(&b2));
    let b2_path = dir.path().join("backend.log.1.log");
    rename(&path, &b2_path);
    append(
        &dir.path().join("backend.log.3.gz"),
        "compressed: OTP Code: 999999\n",
    );
    append(
        &dir.path().join("backend.log.4.zst"),
        "compressed: OTP Code: 999998\n",
    );
    append(&dir.path().join("backend.log.tmp"), "not a generation\n");
    append(&dir.path().join("backend.logger"), "another log\n");
    let c = lines("c", 2);
    append(&path, &text(&c));
    // B2 was written after B1; with coarse timestamps they could tie, so set them apart. B1
    // modified after A was opened, but before B2.
    set_mtime(&b1_path, now + Duration::from_millis(100));
    set_mtime(&b2_path, now + Duration::from_millis(200));

    f.poll(&mut r);
    let expected: Vec<String> = b1.iter().chain(&b2).chain(&c).cloned().collect();
    assert_in_order_once(&r.take(), &expected, "B1, B2, C; nothing compressed");
    let msg = r.messages.last().expect("a message");
    assert!(
        msg.contains("backend.log-20261202") && msg.contains("backend.log.1.log"),
        "{msg}"
    );
    assert!(!msg.contains(".gz") && !msg.contains(".zst"), "{msg}");
}

#[test]
fn siblings_with_the_same_mtime_are_read_in_inode_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    append(&path, "start\n");
    let mut f = follower(&path, Duration::from_secs(60));
    let mut r = Recorder::default();
    f.poll(&mut r);
    r.take();
    rename(&path, &dir.path().join("app.log.9"));
    let mut generations = Vec::new();
    for g in 0..3 {
        let gen = lines(&format!("g{g}"), 2);
        append(&path, &text(&gen));
        let to = dir.path().join(format!("app.log.{}", 5 - g));
        rename(&path, &to);
        generations.push((ino(&to), gen, to));
    }
    let same = SystemTime::now();
    for (_, _, p) in &generations {
        set_mtime(p, same);
    }
    append(&path, "new\n");
    f.poll(&mut r);
    generations.sort_by_key(|(ino, _, _)| *ino);
    let mut expected: Vec<String> = generations
        .iter()
        .flat_map(|(_, gen, _)| gen.clone())
        .collect();
    expected.push("new".to_owned());
    assert_in_order_once(&r.take(), &expected, "ties by inode");
}

fn ino(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).expect("metadata").ino()
}

#[test]
fn at_most_the_newest_siblings_are_read_on_one_switch_and_the_rest_is_said() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    append(&path, "start\n");
    let mut f = follower(&path, Duration::from_secs(60));
    let mut r = Recorder::default();
    f.poll(&mut r);
    r.take();
    logrotate_create(&path); // A, read to its end, goes first
    let total = MAX_SIBLINGS + 2;
    let base = SystemTime::now();
    let mut all = Vec::new();
    for g in 0..total {
        let gen = lines(&format!("g{g}"), 1);
        append(&path, &text(&gen));
        logrotate_create(&path);
        all.push(gen);
    }
    for g in 0..total {
        // `.1` is the last one rotated, `.total` the first (A is `.total+1`).
        let p = dir.path().join(format!("app.log.{}", total - g));
        set_mtime(&p, base + Duration::from_millis(10 * g as u64 + 10));
    }
    append(&path, "new\n");
    f.poll(&mut r);
    let mut expected: Vec<String> = all[total - MAX_SIBLINGS..].concat();
    expected.push("new".to_owned());
    assert_in_order_once(&r.take(), &expected, "the newest MAX_SIBLINGS");
    let msg = r
        .messages
        .iter()
        .find(|m| m.contains("was replaced"))
        .expect("the rotation is reported");
    assert!(msg.contains("2 older rotated file(s) not read"), "{msg}");
}

#[test]
fn copy_truncate_is_unchanged_and_its_copy_is_not_read_again_on_a_later_switch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("backend.log");
    let mut writer = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("writer");
    let first = lines("first", 50);
    writer.write_all(text(&first).as_bytes()).expect("write");
    let mut f = follower(&path, Duration::from_millis(0));
    let mut r = Recorder::default();
    f.poll(&mut r);
    assert_eq!(r.take(), first);

    // Copy-truncate with a lagging reader: what the follower had not read is in the copy.
    let lagged = lines("lagged", 20);
    writer.write_all(text(&lagged).as_bytes()).expect("write");
    fs::copy(&path, dir.path().join("backend.log.1")).expect("copy");
    OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    let after = lines("after", 3);
    writer.write_all(text(&after).as_bytes()).expect("write");
    f.poll(&mut r);
    let expected: Vec<String> = lagged.iter().chain(&after).cloned().collect();
    assert_in_order_once(&r.take(), &expected, "copy-truncate");
    assert_eq!(r.states.last(), Some(&FollowerState::Truncated));
    let msg = r.messages.last().expect("a message");
    assert!(msg.contains("read from its copy"), "{msg}");

    // A second copy-truncate, the reader up to date: the copy holds nothing new.
    fs::copy(&path, dir.path().join("backend.log-20261202")).expect("copy");
    OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    let second = lines("second", 2);
    writer.write_all(text(&second).as_bytes()).expect("write");
    f.poll(&mut r);
    assert_in_order_once(&r.take(), &second, "second copy-truncate");

    // Then a rename rotation (the copies are fresh siblings) with a generation skipped
    // between two polls: only that generation and the new file are read, not the copies.
    let skipped = lines("skipped", 4);
    rename(&path, &dir.path().join("backend.log.2"));
    append(&path, &text(&skipped));
    rename(&path, &dir.path().join("backend.log.3"));
    let newest = lines("newest", 1);
    append(&path, &text(&newest));
    f.poll(&mut r);
    let expected: Vec<String> = skipped.iter().chain(&newest).cloned().collect();
    assert_in_order_once(&r.take(), &expected, "no copy read again");
    f.poll(&mut r);
    assert!(r.take().is_empty());
}

#[test]
fn a_generation_rotated_away_before_a_missing_path_first_appears_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("backend.log");
    let mut f = follower(&path, Duration::from_secs(60));
    let mut r = Recorder::default();
    f.poll(&mut r);
    assert_eq!(r.states, [FollowerState::Missing]);
    let a = lines("a", 3);
    append(&path, &text(&a));
    logrotate_create(&path);
    let b = lines("b", 2);
    append(&path, &text(&b));
    f.poll(&mut r);
    let expected: Vec<String> = a.iter().chain(&b).cloned().collect();
    assert_in_order_once(&r.take(), &expected, "A then B");
    assert_eq!(r.states, [FollowerState::Missing, FollowerState::Following]);
    f.poll(&mut r);
    assert!(r.take().is_empty());
}

/// The first follower reads through rotations; a second one starts on the same directory: the
/// siblings it finds were there before it started and are not read again on its switches
/// (the file's own content is context, as today), except what is appended to one of them
/// after it started.
#[test]
fn a_restarted_follower_does_not_read_siblings_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("backend.log");
    append(&path, &text(&lines("a", 2)));
    {
        let mut f = follower(&path, Duration::from_secs(60));
        let mut r = Recorder::default();
        f.poll(&mut r);
        logrotate_create(&path);
        append(&path, &text(&lines("b", 2)));
        logrotate_create(&path);
        append(&path, &text(&lines("c", 2)));
        f.poll(&mut r);
        assert_eq!(r.lines.len(), 6, "{:?}", r.lines);
    }
    // C is at the path, B at .1, A at .2, all modified a moment ago. .1 ends in the middle of
    // a line when the second follower starts.
    let one: PathBuf = dir.path().join("backend.log.1");
    append(&one, "2026-12-02 10:00:01,000 - half");
    let mut f = follower(&path, Duration::from_secs(60));
    let mut r = Recorder::default();
    f.poll(&mut r);
    assert!(r.appended().is_empty(), "{:?}", r.lines);
    assert_eq!(r.lines.len(), 2, "C's lines, as context");
    r.take();

    // A writer still appending to B finishes the half line and writes one more.
    append(&one, " of a line\nb late\n");
    // Coarse file timestamps: D must be modified visibly later than B.
    std::thread::sleep(Duration::from_millis(50));
    // D is written and rotated away between two polls, then E.
    let d = lines("d", 3);
    let e = lines("e", 1);
    logrotate_create(&path);
    append(&path, &text(&d));
    logrotate_create(&path);
    append(&path, &text(&e));
    f.poll(&mut r);
    let expected: Vec<String> = std::iter::once("b late".to_owned())
        .chain(d.iter().cloned())
        .chain(e.iter().cloned())
        .collect();
    assert_in_order_once(&r.take(), &expected, "after the restart");
    f.poll(&mut r);
    assert!(r.take().is_empty());
}
