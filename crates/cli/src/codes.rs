//! `msgops codes`: prints the one-time codes found in backend logs, newest last, so support can
//! read a code out to a customer. Parses arguments and prints; the scan is
//! `msgops_logwatch::scan_codes`.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Local, TimeDelta, TimeZone, Utc};
use msgops_core::config::{config_path, ConfigFile};
use msgops_logwatch::{
    parse_any_timestamp, scan_codes, CodeExpiry, CodePattern, CodeTime, FallbackCode, ScanOptions,
    ZoneSetting,
};

#[derive(clap::Args, Debug)]
pub struct CodesArgs {
    /// Log file to read (repeat for several). Default: `logs.follow` of the configuration plus
    /// the Console provider's own log.
    #[arg(long = "log", value_name = "FILE")]
    logs: Vec<PathBuf>,
    /// Extra code pattern: a regex with the named group `code` and optionally `recipient`, `ts`,
    /// `corr`; or `recipient` (and `corr`) without `code` for an announcement.
    #[arg(long = "pattern", value_name = "REGEX")]
    patterns: Vec<String>,
    /// Only codes whose recipient (or one of whose possible recipients) contains this, e.g. the
    /// last 4 digits of the phone number.
    #[arg(long, value_name = "TEXT")]
    phone: Option<String>,
    /// Also print expired codes (marked as expired).
    #[arg(long)]
    include_expired: bool,
    /// The time that decides expiry: RFC 3339 (2025-10-29T16:40:00-04:00) or this computer's
    /// local time (2025-10-29T16:40:00). Default: now.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Minutes a code stays valid after it was written. Default: `logs.code_lifetime_secs`.
    #[arg(long, value_name = "MINUTES")]
    ttl_minutes: Option<i64>,
    /// The zone the log's timestamps are in: auto, local, UTC or an IANA name. Default:
    /// `logs.timezone` (auto).
    #[arg(long, value_name = "ZONE")]
    timezone: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

pub fn run(args: CodesArgs) -> ExitCode {
    let now = match args.now.as_deref().map(parse_instant) {
        Some(Some(t)) => t,
        Some(None) => {
            eprintln!(
                "msgops codes: --now {:?} is not a time like 2025-10-29T16:40:00 or 2025-10-29T16:40:00-04:00",
                args.now.as_deref().unwrap_or_default()
            );
            return ExitCode::from(2);
        }
        None => Utc::now(),
    };
    let config = ConfigFile::open(config_path()).0.current();
    let (mut parser, problems) = config.logs.parser();
    for p in problems {
        eprintln!("msgops codes: {p}");
    }
    for p in &args.patterns {
        match CodePattern::new(p) {
            Ok(p) => parser.patterns.insert(0, p),
            Err(e) => {
                eprintln!("msgops codes: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(zone) = &args.timezone {
        match zone.parse::<ZoneSetting>() {
            Ok(z) => parser.zone = z,
            Err(e) => {
                eprintln!("msgops codes: --timezone: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(minutes) = args.ttl_minutes {
        parser.expiry = CodeExpiry::new(TimeDelta::minutes(minutes.clamp(1, 24 * 60)));
    }
    let logs = if args.logs.is_empty() {
        // The defaults may not exist (yet): the Console log appears with the first code.
        let (present, absent): (Vec<_>, Vec<_>) =
            config.followed_logs().into_iter().partition(|p| p.exists());
        for p in absent {
            eprintln!(
                "msgops codes: {} does not exist (yet); skipped",
                p.display()
            );
        }
        present
    } else {
        args.logs.clone()
    };
    let mut options = ScanOptions::new(now);
    options.parser = parser;
    options.include_expired = args.include_expired;
    options.recipient_contains = args.phone.filter(|p| !p.is_empty());

    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
    let json = args.json;
    let result = scan_codes(&logs, &options, |code| print_code(&mut out, &code, json));
    let flushed = out.flush();
    if let Ok(report) = &result {
        for clock in &report.clocks {
            eprintln!("msgops codes: {}: log times read as {clock}", clock.file);
        }
    }
    match result
        .map_err(|e| (e.source.kind(), e.to_string()))
        .and(flushed.map_err(|e| (e.kind(), e.to_string())))
    {
        Ok(_) => ExitCode::SUCCESS,
        Err((io::ErrorKind::BrokenPipe, _)) => ExitCode::SUCCESS,
        Err((_, message)) => {
            eprintln!("msgops codes: {message}");
            ExitCode::FAILURE
        }
    }
}

/// RFC 3339, or a wall-clock time of this computer.
fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = parse_any_timestamp(text)?;
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn print_code(out: &mut impl Write, c: &FallbackCode, json: bool) -> io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, c)?;
        return out.write_all(b"\n");
    }
    let local = |t: Option<DateTime<Utc>>| {
        t.map_or_else(
            || "unknown time".to_owned(),
            |t| {
                t.with_timezone(&Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            },
        )
    };
    let approx = if c.time == CodeTime::Approximate {
        "≈"
    } else {
        ""
    };
    let uncertain = if c.candidates.is_empty() {
        ""
    } else {
        " (uncertain)"
    };
    writeln!(
        out,
        "{approx}{}  {}{uncertain}  {}  {} {}  {}:{}",
        local(c.created_at),
        c.recipient_label(),
        c.code,
        if c.expired {
            "EXPIRED at"
        } else {
            "valid until"
        },
        local(c.expires_at),
        c.file,
        c.line
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgops_logwatch::CodeSource;

    #[test]
    fn json_line_has_the_documented_fields() {
        let created = parse_instant("2025-10-29T16:34:53.202-04:00");
        let expiry = CodeExpiry::default();
        let code = FallbackCode {
            recipient: None,
            candidates: vec!["4165550471".into(), "4165550999".into()],
            code: "091282".into(),
            logged_at: parse_any_timestamp("2025-10-29 16:34:53,202"),
            created_at: created,
            expires_at: expiry.expires_at(created),
            time: CodeTime::Logged,
            expired: true,
            source: CodeSource::Console,
            file: "backend.log".into(),
            line: 2,
        };
        let mut out = Vec::new();
        print_code(&mut out, &code, true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"recipient\":null,\"candidates\":[\"4165550471\",\"4165550999\"],\"code\":\"091282\",\
\"logged_at\":\"2025-10-29T16:34:53.202\",\"created_at\":\"2025-10-29T20:34:53.202Z\",\
\"expires_at\":\"2025-10-29T20:44:53.202Z\",\"time\":\"logged\",\"expired\":true,\
\"source\":\"console\",\"file\":\"backend.log\",\"line\":2}\n"
        );
        let mut out = Vec::new();
        print_code(&mut out, &code, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("one of 4165550471, 4165550999 (uncertain)"),
            "{text}"
        );
    }
}
