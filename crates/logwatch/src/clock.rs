//! The clock a log is written in. Python's `logging` writes local wall-clock times with no zone,
//! so a backend in UTC read on a desktop in Toronto is five hours off unless the zone is known.
//! `logs.timezone` names it (an IANA name, `UTC`, `local`), or `auto` infers it per file from the
//! file's modification time against its newest timestamp, rounded to 15 minutes.
//!
//! Every wall-clock time read from a log becomes an instant here, and only here: expiry and the
//! stale-configuration check compare instants, so they are right across a DST change. In the
//! repeated hour of a DST fall-back, a time is read as the earliest instant that does not go back
//! before the previous line's (logs are written in order).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::event::{ClockBasis, LogClockInfo};

/// What `logs.timezone` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZoneSetting {
    /// Infer from each file (the default).
    #[default]
    Auto,
    /// This computer's zone.
    Local,
    /// A named zone (`UTC`, `America/Toronto`, `Asia/Kolkata`).
    Named(Tz),
}

impl ZoneSetting {
    pub const UTC: Self = Self::Named(Tz::UTC);
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a time zone: use auto, local, UTC or an IANA name like America/Toronto")]
pub struct ZoneError(pub String);

impl FromStr for ZoneSetting {
    type Err = ZoneError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "local" => Ok(Self::Local),
            "utc" | "z" => Ok(Self::Named(Tz::UTC)),
            _ => t
                .parse::<Tz>()
                .map(Self::Named)
                .map_err(|_| ZoneError(t.to_owned())),
        }
    }
}

/// A zone that turns wall-clock times into instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
}

/// How one file's timestamps are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogClock {
    zone: Zone,
    info: LogClockInfo,
}

/// Log clocks more than this far from the file's modification time are not believed.
const MAX_OFFSET: TimeDelta = TimeDelta::hours(14);
/// Inferred offsets are rounded to this (every zone in use is a multiple of 15 minutes).
const OFFSET_STEP_SECS: i64 = 15 * 60;
/// In a repeated DST hour, a time earlier than the previous line's by more than this is read in
/// the second pass.
const ORDER_SLACK: TimeDelta = TimeDelta::minutes(5);

impl LogClock {
    /// The clock of a zone given by name or by this computer (`basis` says which).
    fn named(file: &str, tz: Tz, basis: ClockBasis, reason: String) -> Self {
        Self {
            zone: Zone::Named(tz),
            info: LogClockInfo {
                file: file.to_owned(),
                zone: tz.name().to_owned(),
                basis,
                reason,
            },
        }
    }

    /// This computer's zone: `$TZ` when it names a zone, else the system's.
    pub fn local(file: &str, basis: ClockBasis, reason: String) -> Self {
        let mut clock = Self::named(file, local_zone(), basis, reason);
        clock.info.zone = format!("local ({})", clock.info.zone);
        clock
    }

    /// The clock for `file` under `setting`. With `Auto`, infers it from the file on disk:
    /// its modification time against its newest timestamp.
    pub fn for_file(setting: ZoneSetting, path: &Path) -> Self {
        let file = path.display().to_string();
        match setting {
            ZoneSetting::Named(tz) => Self::named(
                &file,
                tz,
                ClockBasis::Configured,
                "set by logs.timezone".into(),
            ),
            ZoneSetting::Local => Self::local(
                &file,
                ClockBasis::Configured,
                "logs.timezone = \"local\"".into(),
            ),
            ZoneSetting::Auto => match newest_timestamp_and_mtime(path) {
                Some((newest, modified)) => {
                    Self::inferred(&file, newest, modified, "file modified")
                }
                None => Self::local(
                    &file,
                    ClockBasis::Assumed,
                    "no timestamp to infer from yet: this computer's zone".into(),
                ),
            },
        }
    }

    /// Infers the clock from a wall-clock time written at the instant `at` (a file's
    /// modification time for its newest line, or the moment a live line was read).
    pub fn inferred(file: &str, wall: NaiveDateTime, at: DateTime<Utc>, what: &str) -> Self {
        let raw = (wall - at.naive_utc()).num_seconds();
        let rounded = (raw as f64 / OFFSET_STEP_SECS as f64).round() as i64 * OFFSET_STEP_SECS;
        let seen = format!(
            "newest line {} vs {what} {} UTC",
            wall.format("%Y-%m-%d %H:%M:%S"),
            at.format("%Y-%m-%d %H:%M:%S")
        );
        if rounded.abs() > MAX_OFFSET.num_seconds() {
            return Self::local(
                file,
                ClockBasis::Assumed,
                format!("{seen} is no zone's offset (an old line?): this computer's zone"),
            );
        }
        let local = local_zone();
        if local
            .offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc() as i64
            == rounded
        {
            return Self::local(
                file,
                ClockBasis::Inferred,
                format!("{seen}, this computer's zone"),
            );
        }
        if rounded == 0 {
            return Self::named(file, Tz::UTC, ClockBasis::Inferred, seen);
        }
        let offset = i32::try_from(rounded)
            .ok()
            .and_then(FixedOffset::east_opt)
            .unwrap_or_else(|| Utc.fix());
        Self {
            zone: Zone::Fixed(offset),
            info: LogClockInfo {
                file: file.to_owned(),
                zone: format_offset(rounded),
                basis: ClockBasis::Inferred,
                reason: seen,
            },
        }
    }

    pub fn info(&self) -> &LogClockInfo {
        &self.info
    }

    pub fn basis(&self) -> ClockBasis {
        self.info.basis
    }

    /// The same as [`LogClock::instant`], reusing the offset found for the same quarter hour
    /// of wall-clock time (zones change offset only at quarter hours): a scan of a big log turns
    /// hundreds of thousands of times into instants.
    pub fn instant_cached(
        &self,
        wall: NaiveDateTime,
        previous: Option<DateTime<Utc>>,
        cache: &mut Option<(i64, FixedOffset)>,
    ) -> Option<DateTime<Utc>> {
        let bucket = wall.and_utc().timestamp().div_euclid(OFFSET_STEP_SECS);
        if let Some((b, off)) = *cache {
            if b == bucket {
                return off
                    .from_local_datetime(&wall)
                    .single()
                    .map(|t| t.with_timezone(&Utc));
            }
        }
        let at = self.instant(wall, previous)?;
        // Cache only an unambiguous quarter hour: both ends read the same offset.
        let off = at.with_timezone(&self.offset_at(at)).offset().fix();
        let start = DateTime::from_timestamp(bucket * OFFSET_STEP_SECS, 0).map(|t| t.naive_utc());
        let end = start.map(|s| s + TimeDelta::seconds(OFFSET_STEP_SECS - 1));
        let single = |t: Option<NaiveDateTime>| {
            t.is_some_and(|t| match self.zone {
                Zone::Fixed(_) => true,
                Zone::Named(tz) => matches!(tz.offset_from_local_datetime(&t), LocalResult::Single(o) if o.fix() == off),
            })
        };
        *cache = (single(start) && single(end)).then_some((bucket, off));
        Some(at)
    }

    fn offset_at(&self, at: DateTime<Utc>) -> FixedOffset {
        match self.zone {
            Zone::Fixed(off) => off,
            Zone::Named(tz) => tz.offset_from_utc_datetime(&at.naive_utc()).fix(),
        }
    }

    /// The instant a wall-clock time of this log names. `previous` is the instant of the line
    /// before (if known): it decides which pass of a repeated DST hour is meant.
    pub fn instant(
        &self,
        wall: NaiveDateTime,
        previous: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        match self.zone {
            Zone::Fixed(off) => off
                .from_local_datetime(&wall)
                .single()
                .map(|t| t.with_timezone(&Utc)),
            Zone::Named(tz) => resolve(&tz, wall, previous),
        }
    }

    /// A wall-clock time of this log for an instant (the Console provider writes its lines in
    /// the log's own clock).
    pub fn wall(&self, at: DateTime<Utc>) -> NaiveDateTime {
        match self.zone {
            Zone::Fixed(off) => at.with_timezone(&off).naive_local(),
            Zone::Named(tz) => at.with_timezone(&tz).naive_local(),
        }
    }
}

fn resolve<Z: TimeZone>(
    zone: &Z,
    wall: NaiveDateTime,
    previous: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, second) => {
            let (first, second) = (first.with_timezone(&Utc), second.with_timezone(&Utc));
            match previous {
                Some(prev) if first < prev - ORDER_SLACK => Some(second),
                _ => Some(first),
            }
        }
        LocalResult::None => {
            // A time in a spring-forward gap: read it with the offset from before the gap.
            let before = zone.offset_from_local_datetime(&(wall - TimeDelta::hours(3)));
            let off = before.single()?.fix();
            off.from_local_datetime(&wall)
                .single()
                .map(|t| t.with_timezone(&Utc))
        }
    }
}

impl fmt::Display for LogClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.info)
    }
}

/// `UTC+05:30`, `UTC−05:00`.
fn format_offset(secs: i64) -> String {
    let sign = if secs < 0 { '\u{2212}' } else { '+' };
    let m = secs.abs() / 60;
    format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
}

/// This computer's zone: `$TZ` when it names an IANA zone, else the system's; UTC when neither
/// can be read.
pub fn local_zone() -> Tz {
    if let Some(tz) = std::env::var("TZ")
        .ok()
        .and_then(|v| v.trim_start_matches(':').parse::<Tz>().ok())
    {
        return tz;
    }
    iana_time_zone::get_timezone()
        .ok()
        .and_then(|n| n.parse::<Tz>().ok())
        .unwrap_or(Tz::UTC)
}

/// How far back from the end of a file the newest timestamp is looked for.
const TAIL_BYTES: u64 = 256 << 10;

/// The newest timestamp a file holds (the last timestamped line of its tail) and its
/// modification time.
fn newest_timestamp_and_mtime(path: &Path) -> Option<(NaiveDateTime, DateTime<Utc>)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    let modified: DateTime<Utc> = meta.modified().ok()?.into();
    let start = meta.len().saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut tail).ok()?;
    let newest = tail
        .split(|&b| b == b'\n')
        .rev()
        .find_map(|line| crate::parse::parse_log_timestamp(line).map(|(t, _)| t))?;
    Some((newest, modified))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }
    fn utc(s: &str) -> DateTime<Utc> {
        wall(s).and_utc()
    }

    #[test]
    fn settings_parse_names_and_refuse_nonsense() {
        assert_eq!("auto".parse(), Ok(ZoneSetting::Auto));
        assert_eq!("".parse(), Ok(ZoneSetting::Auto));
        assert_eq!("Local".parse(), Ok(ZoneSetting::Local));
        assert_eq!("UTC".parse(), Ok(ZoneSetting::Named(Tz::UTC)));
        assert_eq!(
            "Asia/Kolkata".parse(),
            Ok(ZoneSetting::Named(Tz::Asia__Kolkata))
        );
        assert!("Mars/Olympus".parse::<ZoneSetting>().is_err());
    }

    #[test]
    fn inference_rounds_to_a_quarter_hour_and_names_the_offset() {
        // Kolkata: wall clock 05:30 ahead, the file modified 40 s after its last line.
        let c = LogClock::inferred(
            "b.log",
            wall("2026-11-01 15:30:00"),
            utc("2026-11-01 10:00:40"),
            "file modified",
        );
        assert_eq!(c.basis(), ClockBasis::Inferred);
        assert!(
            c.info().zone == "UTC+05:30" || c.info().zone.starts_with("local"),
            "{}",
            c.info().zone
        );
        assert_eq!(
            c.instant(wall("2026-11-01 15:30:00"), None),
            Some(utc("2026-11-01 10:00:00"))
        );
    }

    #[test]
    fn an_impossible_offset_falls_back_to_this_computers_zone() {
        let c = LogClock::inferred(
            "b.log",
            wall("2026-10-01 00:00:00"),
            utc("2026-11-01 10:00:00"),
            "file modified",
        );
        assert_eq!(c.basis(), ClockBasis::Assumed);
    }

    #[test]
    fn the_repeated_dst_hour_is_read_in_order() {
        let tz: Tz = "America/Toronto".parse().unwrap();
        let c = LogClock::named("b.log", tz, ClockBasis::Configured, String::new());
        // 2026-11-01: clocks go back from 02:00 EDT to 01:00 EST.
        let a = c.instant(wall("2026-11-01 01:30:00"), None).unwrap();
        assert_eq!(a, utc("2026-11-01 05:30:00"));
        let b = c.instant(wall("2026-11-01 01:10:00"), Some(a)).unwrap();
        assert_eq!(b, utc("2026-11-01 06:10:00"), "second pass after 01:30 EDT");
        let d = c.instant(wall("2026-11-01 01:40:00"), Some(b)).unwrap();
        assert_eq!(d, utc("2026-11-01 06:40:00"));
        let e = c.instant(wall("2026-11-01 02:05:00"), Some(d)).unwrap();
        assert_eq!(e, utc("2026-11-01 07:05:00"));
    }

    #[test]
    fn the_cached_offset_gives_the_same_instants_across_both_dst_changes() {
        let tz: Tz = "America/Toronto".parse().unwrap();
        let c = LogClock::named("b.log", tz, ClockBasis::Configured, String::new());
        let mut cache = None;
        for start in ["2026-11-01 00:00:00", "2026-03-08 00:00:00"] {
            let (mut prev_plain, mut prev_cached) = (None, None);
            for m in 0..(4 * 60) {
                let w = wall(start) + TimeDelta::minutes(m);
                let plain = c.instant(w, prev_plain);
                let cached = c.instant_cached(w, prev_cached, &mut cache);
                assert_eq!(plain, cached, "{w}");
                (prev_plain, prev_cached) = (plain, cached);
            }
        }
    }

    #[test]
    fn a_time_in_the_spring_gap_is_read_with_the_offset_before_it() {
        let tz: Tz = "America/Toronto".parse().unwrap();
        let c = LogClock::named("b.log", tz, ClockBasis::Configured, String::new());
        assert_eq!(
            c.instant(wall("2026-03-08 02:30:00"), None),
            Some(utc("2026-03-08 07:30:00"))
        );
    }
}
