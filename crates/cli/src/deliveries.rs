//! `msgops deliveries`: the providers' delivery reports kept beside the send history (by the
//! app's embedded service and every `msgops serve` sharing the history database), newest last,
//! each with the send it belongs to when that send is in the history.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Duration, Local, Utc};
use clap::Args;
use msgops_core::ProviderKind;
use msgops_delivery::DeliveryEvent;
use msgops_history::{HistoryLocation, HistoryStore, RecordedSend, SendOrigin};

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
    /// The data directory holding the history database, history.sqlite3 (default: msgops').
    #[arg(long, env = "MSGOPS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The history database instead: a PostgreSQL URL (postgres://user:password@host/db) or a
    /// SQLite file (default: `[history] url` of the configuration, else the data directory's).
    #[arg(long, env = "MSGOPS_HISTORY_URL", value_name = "URL")]
    pub url: Option<String>,
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

/// The history database these arguments name: `--url`, else `--data-dir`'s SQLite file, else
/// the configuration's `[history] url`, else the data directory's SQLite file.
pub fn history_location(
    url: Option<&str>,
    data_dir: Option<&std::path::Path>,
) -> Result<(HistoryLocation, u32), String> {
    let config = msgops_core::config::ConfigFile::open(msgops_core::config::config_path())
        .0
        .current()
        .history;
    if let Some(url) = url {
        return Ok((HistoryLocation::parse(url)?, config.keep_days));
    }
    if let Some(dir) = data_dir {
        if config.url.is_none() {
            return Ok((HistoryLocation::in_dir(dir), config.keep_days));
        }
    }
    Ok((HistoryLocation::from_config(&config)?, config.keep_days))
}

/// Opens the history for reading (making it, and importing old files, if it is new).
pub async fn open_history(
    url: Option<&str>,
    data_dir: Option<&std::path::Path>,
    what: &str,
) -> Result<HistoryStore, String> {
    let (location, keep_days) = history_location(url, data_dir)?;
    let (history, problems) = HistoryStore::open(
        location,
        keep_days,
        SendOrigin::this_process(msgops_history::OriginKind::App),
    )
    .await
    .map_err(|e| e.to_string())?;
    for p in problems {
        eprintln!("msgops {what}: {p}");
    }
    Ok(history)
}

pub fn run(args: DeliveriesArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msgops deliveries: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let history =
            match open_history(args.url.as_deref(), args.data_dir.as_deref(), "deliveries").await {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("msgops deliveries: {e}");
                    return ExitCode::FAILURE;
                }
            };
        let mut out = Vec::new();
        let printed = print(&args, &history, Utc::now(), &mut out).await;
        history.close().await;
        let written = printed.and_then(|()| io::stdout().lock().write_all(&out));
        match written {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("msgops deliveries: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn print(
    args: &DeliveriesArgs,
    history: &HistoryStore,
    now: DateTime<Utc>,
    out: &mut impl Write,
) -> io::Result<()> {
    let reports: Vec<DeliveryEvent> = history
        .deliveries_since(args.since.instant(now))
        .await
        .map_err(io::Error::other)?
        .into_iter()
        .filter(|e| args.provider.is_none_or(|p| e.provider == p))
        .collect();
    // The sends these reports are about, by the provider's message id.
    let mut receipts: Vec<(ProviderKind, String)> = reports
        .iter()
        .map(|r| (r.provider, r.provider_message_id.clone()))
        .collect();
    receipts.sort();
    receipts.dedup();
    let mut sends: HashMap<(ProviderKind, String), RecordedSend> = HashMap::new();
    for send in history
        .find_by_receipts(&receipts)
        .await
        .map_err(io::Error::other)?
    {
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
