//! Log clocks in other zones, written by Python's own `logging` (its `asctime` carries no zone)
//! under `TZ=`, read by the real `msgops` binary under another `TZ=`: a code written now is
//! valid for exactly its ten minutes, whichever zones the backend and the desktop are in, and
//! every code of a log that crosses the November DST hour gets the instant it was written.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};

fn python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join(".venv/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    Command::new("python3")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("python3"))
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/backend/zoned_log.py")
}

/// Python, or a skip note (a failure when real peers are required).
fn need_python() -> Option<PathBuf> {
    let p = python();
    if p.is_none() {
        assert!(
            std::env::var_os("MSGOPS_REAL_PEERS").is_none(),
            "python3 is required (scripts/setup.sh)"
        );
        eprintln!("skipped: no python3");
    }
    p
}

/// Python's `logging` writing in zone `tz`; returns the truth it printed.
fn write_log(python: &Path, tz: &str, log: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(python)
        .arg(script())
        .args(&args[..1])
        .arg(log)
        .args(&args[1..])
        .env("TZ", tz)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("truth line"))
        .collect()
}

fn codes(
    dir: &Path,
    desktop_tz: &str,
    log: &Path,
    extra: &[&str],
) -> (Vec<serde_json::Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_msgops"))
        .args(["codes", "--json", "--include-expired"])
        .args(extra)
        .arg("--log")
        .arg(log)
        .env("TZ", desktop_tz)
        .env("MSGOPS_CONFIG", dir.join("config.toml"))
        .env("MSGOPS_DATA_DIR", dir.join("data"))
        .output()
        .expect("msgops runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    (lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn instant(v: &serde_json::Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not an instant: {v}"))
}

#[test]
fn a_code_written_now_is_valid_for_ten_minutes_in_every_pair_of_zones() {
    let Some(python) = need_python() else { return };
    let pairs = [
        ("UTC", "America/Toronto"),
        ("America/Toronto", "UTC"),
        ("Asia/Kolkata", "America/Toronto"),
        ("America/Toronto", "Asia/Kolkata"),
    ];
    println!(
        "{:<18} {:<18} {:<34} {:>10} {:>8}",
        "backend TZ", "desktop TZ", "zone msgops used", "valid for", "verdict"
    );
    for (backend, desktop) in pairs {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("backend.log");
        let truth = write_log(&python, backend, &log, &["now"]);
        let written = truth[0]["epoch"].as_f64().expect("epoch");
        let (found, stderr) = codes(dir.path(), desktop, &log, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        let code = &found[0];
        let created = instant(&code["created_at"]);
        let expires = instant(&code["expires_at"]);
        let off_by = (created.timestamp_millis() as f64 / 1000.0 - written).abs();
        let left = expires - Utc::now();
        let zone = stderr
            .lines()
            .find_map(|l| l.split("log times read as ").nth(1))
            .unwrap_or("?")
            .to_owned();
        println!(
            "{backend:<18} {desktop:<18} {:<34} {:>7} s {:>8}",
            zone.chars().take(34).collect::<String>(),
            left.num_seconds(),
            if code["expired"] == false {
                "valid"
            } else {
                "EXPIRED"
            }
        );
        assert!(
            off_by < 1.0,
            "{backend} -> {desktop}: created {created}, written {written}"
        );
        assert_eq!(code["expired"], false, "{backend} -> {desktop}: {code}");
        assert!(
            (570..=600).contains(&left.num_seconds()),
            "{backend} -> {desktop}: valid for {} s more",
            left.num_seconds()
        );
        assert_eq!(code["recipient"], "4165550123");
    }
}

#[test]
fn codes_across_the_november_dst_hour_get_the_instant_they_were_written() {
    let Some(python) = need_python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("backend.log");
    // 2026-11-01 04:00Z (00:00 EDT) to 08:00Z (03:00 EST), a code every 10 minutes: the wall
    // clock shows 01:00-01:59 twice.
    let start = "1793505600"; // 2026-11-01T04:00:00Z
    let truth = write_log(
        &python,
        "America/Toronto",
        &log,
        &["series", start, "600", "25"],
    );
    assert_eq!(truth.len(), 25);
    let (found, _) = codes(
        dir.path(),
        "Asia/Kolkata",
        &log,
        &[
            "--timezone",
            "America/Toronto",
            "--now",
            "2026-11-01T06:25:00Z",
        ],
    );
    assert_eq!(found.len(), truth.len(), "{found:?}");
    let now: DateTime<Utc> = "2026-11-01T06:25:00Z".parse().expect("now");
    let mut repeated = 0;
    for (code, want) in found.iter().zip(&truth) {
        assert_eq!(code["code"], want["code"]);
        let written = DateTime::from_timestamp(want["epoch"].as_f64().expect("epoch") as i64, 0)
            .expect("instant");
        let wall = code["logged_at"].as_str().expect("logged_at");
        if wall.contains("T01:") {
            repeated += 1;
        }
        assert_eq!(instant(&code["created_at"]), written, "{wall}");
        // Valid until ten minutes after it was written (a later line is not expired either).
        let valid = now < written + chrono::TimeDelta::minutes(10);
        assert_eq!(code["expired"] == false, valid, "{wall} at {now}");
    }
    assert_eq!(repeated, 12, "two passes of 01:00-01:59, six codes each");
    // The two codes stamped 01:20: the first pass (EDT) long expired, the second (EST) valid.
    let at_0120: Vec<_> = found
        .iter()
        .filter(|c| {
            c["logged_at"]
                .as_str()
                .is_some_and(|t| t.contains("T01:20"))
        })
        .collect();
    assert_eq!(at_0120.len(), 2);
    assert_eq!(
        instant(&at_0120[0]["created_at"]).to_rfc3339(),
        "2026-11-01T05:20:00+00:00"
    );
    assert_eq!(at_0120[0]["expired"], true);
    assert_eq!(
        instant(&at_0120[1]["created_at"]).to_rfc3339(),
        "2026-11-01T06:20:00+00:00"
    );
    assert_eq!(at_0120[1]["expired"], false);
}
