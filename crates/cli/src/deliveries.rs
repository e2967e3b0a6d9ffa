//! `msgops deliveries`: the providers' delivery reports kept beside the send history (by the
//! app's embedded service and every `msgops serve` on this machine), newest last, each with the
//! send it belongs to when that send is in the history.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Duration, Local, Utc};
use clap::Args;
use msgops_core::ProviderKind;
use msgops_delivery::DeliveryEvent;
use msgops_history::{DeliveryLog, RecordedSend, SendHistory, SendOrigin};

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// Reports received since: a duration back from now (`90s`, `30m`, `6h`, `7d`) or an
    /// RFC 3339 time.
    #[arg(long, default_value = "24h", value_parser = parse_since)]
    pub since: Since,
    /// Only this provider's reports (twilio, sendgrid, ses, sns).
    #[arg(long)]
    pub provider: Option<ProviderKind>,
    /// One JSON object per line: the report, its error code's meaning and its send.
    #[arg(long)]
    pub json: bool,
    /// The data directory holding deliveries.jsonl and sends.jsonl (default: msgops').
    #[arg(long, env = "MSGOPS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy)]
pub enum Since {
    Ago(Duration),
    At(DateTime<Utc>),
}

impl Since {
    fn instant(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Since::Ago(d) => now - d,
            Since::At(t) => t,
        }
    }
}

/// `90s`, `30m`, `6h`, `7d`, or an RFC 3339 time.
pub fn parse_since(text: &str) -> Result<Since, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Since::At(t.with_timezone(&Utc)));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| {
        format!("`{text}` is not a duration like 30m, 6h or 7d, nor an RFC 3339 time")
    })?;
    let d = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => None,
    }
    .ok_or_else(|| format!("`{text}`: use s, m, h or d after the number (30m, 6h, 7d)"))?;
    Ok(Since::Ago(d))
}

pub fn run(args: DeliveriesArgs) -> ExitCode {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(msgops_core::config::data_dir);
    let (log, problems) = DeliveryLog::open(
        dir.join(msgops_history::DELIVERIES_FILE_NAME),
        msgops_history::DEFAULT_DELIVERIES_CAP,
    );
    for p in problems {
        eprintln!("msgops deliveries: {p}");
    }
    let (history, problems) = SendHistory::open(
        dir.join(msgops_history::FILE_NAME),
        msgops_history::DEFAULT_CAP,
        SendOrigin::this_process(msgops_history::OriginKind::App),
    );
    for p in problems {
        eprintln!("msgops deliveries: {p}");
    }
    let mut out = io::stdout().lock();
    match print(&args, &log, &history, Utc::now(), &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("msgops deliveries: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print(
    args: &DeliveriesArgs,
    log: &DeliveryLog,
    history: &SendHistory,
    now: DateTime<Utc>,
    out: &mut impl Write,
) -> io::Result<()> {
    let reports: Vec<DeliveryEvent> = log
        .since(args.since.instant(now))
        .into_iter()
        .filter(|e| args.provider.is_none_or(|p| e.provider == p))
        .collect();
    // The sends these reports are about, by the provider's message id.
    let mut sends: HashMap<(ProviderKind, String), RecordedSend> = HashMap::new();
    for send in history.find(|s| {
        s.record.outcome.attempts().iter().any(|a| {
            a.provider_message_id.as_deref().is_some_and(|id| {
                reports
                    .iter()
                    .any(|r| r.provider == a.provider && r.provider_message_id == id)
            })
        })
    }) {
        for a in send.record.outcome.attempts() {
            if let Some(id) = &a.provider_message_id {
                sends.insert((a.provider, id.clone()), send.clone());
            }
        }
    }
    if reports.is_empty() && !args.json {
        writeln!(
            out,
            "No delivery reports since {}.",
            local(args.since.instant(now))
        )?;
        return Ok(());
    }
    for r in &reports {
        let send = sends.get(&(r.provider, r.provider_message_id.clone()));
        if args.json {
            let mut v = serde_json::to_value(r).map_err(io::Error::other)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("meaning".into(), serde_json::json!(r.meaning()));
                o.insert(
                    "send".into(),
                    send.map_or(serde_json::Value::Null, |s| {
                        serde_json::json!({
                            "recipient": s.record.recipient,
                            "started_at": s.record.started_at,
                            "origin": s.origin,
                        })
                    }),
                );
            }
            serde_json::to_writer(&mut *out, &v).map_err(io::Error::other)?;
            writeln!(out)?;
            continue;
        }
        let code = match (&r.error_code, r.meaning()) {
            (Some(c), Some(m)) => format!("  {c}: {m}"),
            (Some(c), None) => format!("  {c}"),
            (None, _) => String::new(),
        };
        let send = send.map_or_else(
            || "  (no send recorded for this message yet)".to_owned(),
            |s| {
                format!(
                    "  ← send to {} at {}",
                    s.record.recipient,
                    local(s.record.started_at)
                )
            },
        );
        writeln!(
            out,
            "{}  {:<8}  {}  {}{code}{send}",
            local(r.received_at),
            r.provider.as_str(),
            r.provider_message_id,
            r.status,
        )?;
    }
    Ok(())
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times_and_says_what_it_wants() {
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        let back = |s: &str| parse_since(s).expect(s).instant(now);
        assert_eq!(back("90s"), now - Duration::seconds(90));
        assert_eq!(back("30m"), now - Duration::minutes(30));
        assert_eq!(back("6h"), now - Duration::hours(6));
        assert_eq!(back("7d"), now - Duration::days(7));
        assert_eq!(
            back("2027-01-15T08:00:00Z"),
            DateTime::parse_from_rfc3339("2027-01-15T08:00:00Z")
                .expect("time")
                .with_timezone(&Utc)
        );
        assert!(parse_since("6 weeks").expect_err("no").contains("30m"));
        assert!(parse_since("6w").expect_err("no").contains("s, m, h or d"));
    }
}
