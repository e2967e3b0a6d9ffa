//! `msgops codes`: prints the one-time codes found in backend logs, newest last, so support can
//! read a code out to a customer. Parses arguments and prints; the scan is
//! `msgops_logwatch::scan_codes`.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{NaiveDateTime, TimeDelta};
use msgops_logwatch::{
    parse_any_timestamp, scan_codes, CodeExpiry, CodePattern, FallbackCode, ScanOptions,
};
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct CodesArgs {
    /// Log file to read (repeat for several).
    #[arg(long = "log", value_name = "FILE", required = true)]
    logs: Vec<PathBuf>,
    /// Extra code pattern: a regex with the named group `code` and optionally `recipient`, `ts`.
    #[arg(long = "pattern", value_name = "REGEX")]
    patterns: Vec<String>,
    /// Only codes whose recipient contains this (e.g. the last 4 digits of the phone number).
    #[arg(long, value_name = "TEXT")]
    phone: Option<String>,
    /// Also print expired codes (marked as expired).
    #[arg(long)]
    include_expired: bool,
    /// The time that decides expiry, in log time (e.g. 2025-10-29T16:40:00). Default: now.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Minutes a code stays valid after it was written.
    #[arg(long, value_name = "MINUTES", default_value_t = 10)]
    ttl_minutes: i64,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

/// The `--json` line: times as written in the log (naive ISO 8601).
#[derive(Serialize)]
struct CodeLine<'a> {
    recipient: Option<&'a str>,
    code: &'a str,
    created_at: Option<NaiveDateTime>,
    expires_at: Option<NaiveDateTime>,
    expired: bool,
    file: &'a str,
    line: u64,
}

pub fn run(args: CodesArgs) -> ExitCode {
    let now = match args.now.as_deref() {
        Some(text) => match parse_any_timestamp(text) {
            Some(t) => t,
            None => {
                eprintln!("msgops codes: --now {text:?} is not a time like 2025-10-29T16:40:00");
                return ExitCode::from(2);
            }
        },
        None => chrono::Local::now().naive_local(),
    };
    let mut options = ScanOptions::new(now);
    for p in &args.patterns {
        match CodePattern::new(p) {
            Ok(p) => options.patterns.push(p),
            Err(e) => {
                eprintln!("msgops codes: {e}");
                return ExitCode::from(2);
            }
        }
    }
    options.expiry = CodeExpiry::new(TimeDelta::minutes(args.ttl_minutes));
    options.include_expired = args.include_expired;
    options.recipient_contains = args.phone.filter(|p| !p.is_empty());

    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
    let json = args.json;
    let result = scan_codes(&args.logs, &options, |code| {
        print_code(&mut out, &code, json)
    });
    let flushed = out.flush();
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

fn print_code(out: &mut impl Write, c: &FallbackCode, json: bool) -> io::Result<()> {
    if json {
        let line = CodeLine {
            recipient: c.recipient.as_deref(),
            code: &c.code,
            created_at: c.created_at,
            expires_at: c.expires_at,
            expired: c.expired,
            file: &c.file,
            line: c.line,
        };
        serde_json::to_writer(&mut *out, &line)?;
        return out.write_all(b"\n");
    }
    let time =
        |t: Option<NaiveDateTime>| t.map_or_else(|| "unknown time".to_owned(), |t| t.to_string());
    writeln!(
        out,
        "{}  {}  {}  {} {}  {}:{}",
        time(c.created_at),
        c.recipient.as_deref().unwrap_or("(recipient unknown)"),
        c.code,
        if c.expired {
            "EXPIRED at"
        } else {
            "valid until"
        },
        time(c.expires_at),
        c.file,
        c.line
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgops_logwatch::CodeSource;

    #[test]
    fn json_line_has_the_documented_fields_and_log_times() {
        let created = parse_any_timestamp("2025-10-29 16:34:53,202");
        let code = CodeExpiry::default().code(
            Some("+14165550123".to_owned()),
            "091282".to_owned(),
            created,
            CodeSource::SmsFallback,
            parse_any_timestamp("2025-10-29T17:00:00").unwrap(),
            "backend.log".to_owned(),
            2,
        );
        let mut out = Vec::new();
        print_code(&mut out, &code, true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"recipient\":\"+14165550123\",\"code\":\"091282\",\"created_at\":\"2025-10-29T16:34:53.202\",\
\"expires_at\":\"2025-10-29T16:44:53.202\",\"expired\":true,\"file\":\"backend.log\",\"line\":2}\n"
        );
    }
}
