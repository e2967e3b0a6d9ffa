//! One writer appends 100,000 codes (scale with `LOGWATCH_TORTURE_CODES`) while rotating the
//! file by rename 50 times, copy-truncating it 20 times, deleting/re-creating it 5 times,
//! rotating it 5 times under a writer that keeps writing to the renamed file for longer than
//! `retire_after` (Python's plain `FileHandler` with logrotate `create`), and replacing it 5
//! times by a copy of itself (`cp log log.tmp && mv log.tmp log`), writing lines in pieces; the
//! log's directory does not exist when watching starts. The follower must report every code
//! exactly once.
//!
//! The writer cooperates only where no tail can do without it: before a rename, delete or
//! copy-truncate it waits until the follower has read the first code of the current file
//! generation (otherwise a generation that lived shorter than one poll would never be seen: a
//! file renamed away before it was opened, or copied and truncated before anything of it was
//! read, which leaves nothing to recognise it by). Copy-truncate does not wait for the reader
//! to catch up: what the follower had not read yet when the file was truncated is in the copy,
//! and must be read from there. Everything else is raced.

#![allow(clippy::unwrap_used)]

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use msgops_logwatch::{watch_logs_with, CancellationToken, FollowerState, LogEvent, WatchConfig};

struct Seen {
    counts: Vec<AtomicU8>,
    distinct: AtomicUsize,
    wrong_recipient: AtomicUsize,
    /// The first codes tied to the wrong recipient, for the failure message.
    wrong: Mutex<Vec<String>>,
    rotated: AtomicUsize,
    truncated: AtomicUsize,
    copies: AtomicUsize,
    other: Mutex<Vec<String>>,
}

impl Seen {
    fn wait_for(&self, index: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.counts[index].load(Ordering::SeqCst) == 0 {
            assert!(
                Instant::now() < deadline,
                "follower never reported code #{index} ({what})"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn wait_for_rotations(&self, n: usize) {
        Self::wait_until(&self.rotated, n, "switched to the new file (rotation)");
    }

    fn wait_until(counter: &AtomicUsize, n: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while counter.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "follower never {what} ({n})");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

const RETIRE_AFTER: Duration = Duration::from_millis(30);

fn recipient(i: usize) -> String {
    format!("+1555{i:07}")
}

/// The lines for code `i`: mostly fallback lines, some console pairs, some noise.
fn lines_for(i: usize) -> Vec<String> {
    let ts = format!(
        "2025-10-29 16:{:02}:{:02},{:03}",
        (i / 60_000) % 60,
        (i / 1000) % 60,
        i % 1000
    );
    let mut v = Vec::new();
    if i.is_multiple_of(7) {
        v.push(format!(
            "{ts} - services.otp_service - INFO - OTP created for phone: {}",
            recipient(i)
        ));
        v.push(format!("OTP Code: {i:06}"));
    } else {
        v.push(format!(
            "{ts} - services.otp_service - WARNING - SMS FALLBACK - OTP for {}: {i:06}",
            recipient(i)
        ));
    }
    if i.is_multiple_of(5) {
        v.push(
            r#"INFO:     127.0.0.1:64825 - "POST /api/v1/auth/otp/send HTTP/1.1" 200 OK"#
                .to_owned(),
        );
    }
    if i.is_multiple_of(11) {
        v.push(format!("{ts} - services.sms - ERROR - Twilio error: HTTP 401 error: Unable to create record: Authenticate"));
        v.push("Traceback (most recent call last):".to_owned());
        v.push("twilio.base.exceptions.TwilioRestException: HTTP 401 error".to_owned());
    }
    v
}

struct Writer {
    path: PathBuf,
    file: File,
    /// First code index written to the current file generation.
    generation_start: usize,
    written: usize,
}

impl Writer {
    fn create(path: &Path) -> File {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
    }

    fn write_code(&mut self, i: usize) {
        for line in lines_for(i) {
            let mut bytes = line.into_bytes();
            bytes.extend_from_slice(if i.is_multiple_of(13) { b"\r\n" } else { b"\n" });
            // Lines arrive in pieces; every 997th piece waits so the follower sees half a line.
            let cut = (i * 31) % bytes.len();
            self.file.write_all(&bytes[..cut]).unwrap();
            if i.is_multiple_of(997) {
                std::thread::sleep(Duration::from_millis(2));
            }
            self.file.write_all(&bytes[cut..]).unwrap();
        }
        self.written = i + 1;
    }

    fn switch_to(&mut self, file: File) {
        self.file = file;
        self.generation_start = self.written;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_code_is_reported_exactly_once_across_rotation_truncation_and_deletion() {
    let total: usize = std::env::var("LOGWATCH_TORTURE_CODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("logs");
    let path = log_dir.join("backend.log");

    let seen = Arc::new(Seen {
        counts: (0..total).map(|_| AtomicU8::new(0)).collect(),
        distinct: AtomicUsize::new(0),
        wrong_recipient: AtomicUsize::new(0),
        wrong: Mutex::new(Vec::new()),
        rotated: AtomicUsize::new(0),
        truncated: AtomicUsize::new(0),
        copies: AtomicUsize::new(0),
        other: Mutex::new(Vec::new()),
    });
    let cancel = CancellationToken::new();
    // If an assertion fails, stop the watcher so the runtime can shut down and the test fails
    // instead of hanging.
    let _stop_on_panic = cancel.clone().drop_guard();
    let mut config = WatchConfig::new(vec![path.clone()]).poll_interval(Duration::from_millis(20));
    config.from_start = true;
    // Short, so that the writer that never reopens stays quiet for longer than this.
    config.follow.retire_after = RETIRE_AFTER;
    let s = Arc::clone(&seen);
    let task = watch_logs_with(config, cancel.clone(), move |event| {
        match event {
            LogEvent::Code(c) => match c.code.parse::<usize>() {
                Ok(i) if i < s.counts.len() => {
                    if s.counts[i].fetch_add(1, Ordering::SeqCst) == 0 {
                        s.distinct.fetch_add(1, Ordering::SeqCst);
                    }
                    // Never a wrong recipient: certain means right, "one of" holds the truth,
                    // unknown (a copy-truncate may have lost lines) is allowed.
                    let truth = recipient(i);
                    let wrong = match (&c.recipient, c.candidates.is_empty()) {
                        (Some(r), _) => *r != truth,
                        (None, false) => !c.candidates.contains(&truth),
                        (None, true) => false,
                    };
                    if wrong && s.wrong_recipient.fetch_add(1, Ordering::SeqCst) < 10 {
                        s.wrong.lock().unwrap().push(format!("{c:?}"));
                    }
                }
                _ => s
                    .other
                    .lock()
                    .unwrap()
                    .push(format!("unexpected code {c:?}")),
            },
            LogEvent::FollowerStatus(st) => match st.state {
                FollowerState::Following if st.message.contains("replaced by a copy") => {
                    s.copies.fetch_add(1, Ordering::SeqCst);
                }
                FollowerState::Rotated => {
                    s.rotated.fetch_add(1, Ordering::SeqCst);
                }
                FollowerState::Truncated => {
                    s.truncated.fetch_add(1, Ordering::SeqCst);
                }
                FollowerState::Unreadable => s.other.lock().unwrap().push(st.message),
                _ => {}
            },
            _ => {}
        }
        true
    });

    let started = Instant::now();
    let writer_seen = Arc::clone(&seen);
    let writer_path = path.clone();
    tokio::task::spawn_blocking(move || {
        let seen = writer_seen;
        std::thread::sleep(Duration::from_millis(50)); // the directory appears after watching started
        fs::create_dir_all(writer_path.parent().unwrap()).unwrap();
        let mut w = Writer {
            file: Writer::create(&writer_path),
            path: writer_path.clone(),
            generation_start: 0,
            written: 0,
        };
        // 85 operations spread evenly: 50 renames, 20 copy-truncates, 5 delete/re-create, 5
        // renames under a writer that does not reopen, 5 copies renamed over the file.
        let ops: Vec<char> =
            "RRRRRRRRRRTTTTNCRRRRRRRRRRTTTTDNCRRRRRRRRRRTTTTDNCRRRRRRRRRRTTTTDNCRRRRRRRRRRTTTTDNCD"
                .chars()
                .collect();
        let every = (total / (ops.len() + 1)).max(2);
        let mut op = 0;
        let mut rotations = 0;
        let mut next_op_at = every;
        while w.written < total {
            let i = w.written;
            w.write_code(i);
            if w.written < next_op_at || op >= ops.len() || w.written == total {
                continue;
            }
            next_op_at += every;
            match ops[op] {
                'R' => {
                    seen.wait_for(w.generation_start, "before rename");
                    fs::rename(&w.path, w.path.with_extension(format!("log.{op}"))).unwrap();
                    // Like logrotate's `create`: the new file exists at once, but the writer
                    // reopens only later and meanwhile appends to the renamed file.
                    let new_file = Writer::create(&w.path);
                    rotations += 1;
                    seen.wait_for_rotations(rotations); // the follower already moved on
                    for _ in 0..3 {
                        if w.written < total - 1 {
                            let n = w.written;
                            w.write_code(n);
                        }
                    }
                    w.switch_to(new_file);
                }
                'T' => {
                    // No waiting for the reader to catch up: what it had not read is in the
                    // copy. Only for it to have read something of this generation, which
                    // also means it noticed the previous copy-truncate.
                    seen.wait_for(w.generation_start, "before copy-truncate");
                    fs::copy(&w.path, w.path.with_extension("log.copy")).unwrap();
                    OpenOptions::new()
                        .write(true)
                        .open(&w.path)
                        .unwrap()
                        .set_len(0)
                        .unwrap();
                    w.generation_start = w.written;
                }
                'N' => {
                    seen.wait_for(w.generation_start, "before rename");
                    fs::rename(&w.path, w.path.with_extension(format!("log.{op}"))).unwrap();
                    // logrotate `create` under a writer that does not reopen: it keeps writing
                    // to the renamed file, with pauses longer than `retire_after`, while the
                    // new file stays empty.
                    let new_file = Writer::create(&w.path);
                    rotations += 1;
                    seen.wait_for_rotations(rotations);
                    for _ in 0..3 {
                        std::thread::sleep(RETIRE_AFTER * 3);
                        if w.written < total - 1 {
                            let n = w.written;
                            w.write_code(n);
                        }
                    }
                    // Only much later does it move over (a restart, say).
                    w.switch_to(new_file);
                }
                'C' => {
                    // cp log log.tmp && mv log.tmp log: the same content under a new inode.
                    // The writer then reopens the path.
                    let tmp = w.path.with_extension("log.tmp");
                    fs::copy(&w.path, &tmp).unwrap();
                    fs::rename(&tmp, &w.path).unwrap();
                    let new_file = Writer::create(&w.path);
                    w.switch_to(new_file);
                }
                _ => {
                    seen.wait_for(w.generation_start, "before delete");
                    fs::remove_file(&w.path).unwrap();
                    let n = w.written;
                    w.write_code(n); // lands in the deleted file, still readable through the follower's handle
                    let new_file = Writer::create(&w.path);
                    rotations += 1;
                    seen.wait_for_rotations(rotations);
                    let n = w.written;
                    w.write_code(n); // and once more after the follower moved to the new file
                    w.switch_to(new_file);
                }
            }
            op += 1;
        }
        assert_eq!(w.written, total);
        assert_eq!(op, ops.len(), "all rotations happened");
    })
    .await
    .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.distinct.load(Ordering::SeqCst) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give duplicates, if any, a chance to show up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    cancel.cancel();
    task.await.unwrap();
    eprintln!("torture: {total} codes in {:?}", started.elapsed());

    let missing: Vec<usize> = (0..total)
        .filter(|&i| seen.counts[i].load(Ordering::SeqCst) == 0)
        .take(10)
        .collect();
    let duplicated: Vec<usize> = (0..total)
        .filter(|&i| seen.counts[i].load(Ordering::SeqCst) > 1)
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "codes never reported (first 10): {missing:?}"
    );
    assert!(
        duplicated.is_empty(),
        "codes reported more than once (first 10): {duplicated:?}"
    );
    assert_eq!(
        seen.wrong_recipient.load(Ordering::SeqCst),
        0,
        "codes tied to the wrong recipient (first 10): {:?}",
        seen.wrong.lock().unwrap()
    );
    assert!(
        seen.other.lock().unwrap().is_empty(),
        "{:?}",
        seen.other.lock().unwrap()
    );
    assert!(
        seen.rotated.load(Ordering::SeqCst) >= 60,
        "rotations seen: {}",
        seen.rotated.load(Ordering::SeqCst)
    );
    assert!(
        seen.copies.load(Ordering::SeqCst) >= 5,
        "replacements by a copy seen: {}",
        seen.copies.load(Ordering::SeqCst)
    );
    assert!(
        seen.truncated.load(Ordering::SeqCst) >= 20,
        "truncations seen: {}",
        seen.truncated.load(Ordering::SeqCst)
    );
}
