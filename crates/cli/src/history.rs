//! `msgops history`: the send history (every send of the app and of each `msgops serve` sharing
//! the history database), newest first, filtered as the History page filters it — or its totals
//! (`--summary`): cost per provider per day and failover routes. Reads the same database as
//! the app: `history.sqlite3` in the data directory, or `[history] url` / `--url` (PostgreSQL).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Local, Utc};
use clap::Args;
use msgops_core::{Channel, ProviderKind};
use msgops_history::{
    failed_over_from, HistoryFilter, HistoryPage, HistoryStore, HistorySummary, OriginKind,
    OutcomeFilter,
};

#[derive(Debug, Args)]
#[command(after_help = "\
The history database is `[history] url` of the configuration (a PostgreSQL URL, or a SQLite \
file), else history.sqlite3 in the data directory; --url or --data-dir name another. A \
PostgreSQL password is never printed.

Exit codes: 0 listed, 1 the history could not be read, 2 invalid arguments.")]
pub struct HistoryArgs {
    /// Only sms or email sends.
    #[arg(long)]
    pub channel: Option<Channel>,
    /// Sends this provider was tried for (an attempt or a skip): sns, twilio, console, ses,
    /// sendgrid, smtp.
    #[arg(long)]
    pub provider: Option<ProviderKind>,
    /// delivered, failed or failed_over (delivered after another provider failed or was passed
    /// over).
    #[arg(long, value_parser = parse_word::<OutcomeFilter>)]
    pub outcome: Option<OutcomeFilter>,
    /// Any part of the recipient (spaces, dashes and parentheses ignored).
    #[arg(long)]
    pub recipient: Option<String>,
    /// Any part of the recipient or of a provider's message id (case ignored).
    #[arg(long)]
    pub search: Option<String>,
    /// Sends made by the app or by a standalone `msgops serve`.
    #[arg(long, value_parser = parse_word::<OriginKind>)]
    pub origin: Option<OriginKind>,
    /// Sends to show, at most 1000.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Sends to skip (the newest first).
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    /// With --summary: the days (UTC) to sum, today included, 1 to 366.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: u32,
    /// The totals instead of the sends: cost per provider per day, failover routes.
    #[arg(long)]
    pub summary: bool,
    /// JSON: the page (total, sends, their delivery reports) or the summary, as the API and the
    /// app's History page have them.
    #[arg(long)]
    pub json: bool,
    /// The history database: a PostgreSQL URL (postgres://user:password@host/db) or a SQLite
    /// file.
    #[arg(long, env = "MSGOPS_HISTORY_URL", value_name = "URL")]
    pub url: Option<String>,
    /// The data directory whose history.sqlite3 to read (default: msgops').
    #[arg(long, env = "MSGOPS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// A value as its serde word (`failed_over`, `service`).
fn parse_word<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_lowercase()))
        .map_err(|_| format!("`{s}` is not one of the accepted values"))
}

impl HistoryArgs {
    fn filter(&self) -> HistoryFilter {
        HistoryFilter {
            channel: self.channel,
            provider: self.provider,
            outcome: self.outcome,
            recipient: self.recipient.clone(),
            search: self.search.clone(),
            origin: self.origin,
            limit: Some(self.limit.min(HistoryFilter::MAX_LIMIT)),
            offset: Some(self.offset),
        }
    }
}

pub fn run(args: HistoryArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msgops history: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let history = match crate::deliveries::open_history(
            args.url.as_deref(),
            args.data_dir.as_deref(),
            "history",
        )
        .await
        {
            Ok(h) => h,
            Err(e) => {
                eprintln!("msgops history: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut out = Vec::new();
        let printed = print(&args, &history, &mut out).await;
        history.close().await;
        let written = printed.and_then(|()| io::stdout().lock().write_all(&out));
        match written {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("msgops history: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn print(args: &HistoryArgs, history: &HistoryStore, out: &mut impl Write) -> io::Result<()> {
    if args.summary {
        let summary = history
            .summary(args.days, Utc::now())
            .await
            .map_err(io::Error::other)?;
        if args.json {
            serde_json::to_writer_pretty(&mut *out, &summary).map_err(io::Error::other)?;
            return writeln!(out);
        }
        return print_summary(&summary, out);
    }
    let page = history
        .query(&args.filter())
        .await
        .map_err(io::Error::other)?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &page).map_err(io::Error::other)?;
        return writeln!(out);
    }
    print_page(&page, args.offset, out)
}

fn print_page(page: &HistoryPage, offset: u32, out: &mut impl Write) -> io::Result<()> {
    if page.sends.is_empty() {
        return writeln!(
            out,
            "No sends{}.",
            if page.total > 0 { " on this page" } else { "" }
        );
    }
    for s in &page.sends {
        let r = &s.record;
        let outcome = match (r.outcome.delivered_by(), failed_over_from(r)) {
            (Some(by), Some(from)) => format!("delivered by {by} (failed over from {from})"),
            (Some(by), None) => format!("delivered by {by}"),
            (None, _) => "failed".to_string(),
        };
        let origin = match (&s.origin.host, s.origin.pid) {
            (Some(host), Some(pid)) => format!("{} on {host} (pid {pid})", kind(s.origin.kind)),
            (Some(host), None) => format!("{} on {host}", kind(s.origin.kind)),
            _ => kind(s.origin.kind).to_string(),
        };
        let receipts: Vec<String> = r
            .outcome
            .attempts()
            .iter()
            .filter_map(|a| {
                a.provider_message_id
                    .as_ref()
                    .map(|id| format!("{}:{id}", a.provider))
            })
            .collect();
        let fate = page
            .deliveries
            .iter()
            .filter(|d| {
                r.outcome.attempts().iter().any(|a| {
                    a.provider == d.provider
                        && a.provider_message_id.as_deref() == Some(d.provider_message_id.as_str())
                })
            })
            .map(|d| format!("  reported {}", d.status))
            .collect::<String>();
        writeln!(
            out,
            "{}  {:<5}  {:<18}  {outcome}  ${:.5}  {origin}{}{fate}",
            local(r.started_at),
            r.channel.as_str(),
            r.recipient,
            r.outcome.cost_usd(),
            if receipts.is_empty() {
                String::new()
            } else {
                format!("  {}", receipts.join(" "))
            },
        )?;
    }
    writeln!(
        out,
        "{}–{} of {} sends, newest first.",
        offset + 1,
        offset as usize + page.sends.len(),
        page.total
    )
}

fn print_summary(s: &HistorySummary, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "Since {} ({} days, UTC): {} sends, {} delivered, {} failed, {} failed over; ${:.5}.",
        s.since, s.days, s.sends, s.delivered, s.failed, s.failed_over, s.total_cost_usd
    )?;
    if !s.cost_per_day.is_empty() {
        writeln!(out, "\nday         provider  delivered  failed  cost")?;
        for d in &s.cost_per_day {
            writeln!(
                out,
                "{}  {:<8}  {:>9}  {:>6}  ${:.5}",
                d.day,
                d.provider.as_str(),
                d.delivered,
                d.failed,
                d.cost_usd
            )?;
        }
    }
    if !s.failover_routes.is_empty() {
        writeln!(out, "\nfailed over")?;
        for r in &s.failover_routes {
            writeln!(out, "{} → {}: {}", r.from, r.to, r.count)?;
        }
    }
    Ok(())
}

fn kind(k: OriginKind) -> &'static str {
    match k {
        OriginKind::App => "app",
        OriginKind::Service => "service",
    }
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
    fn outcomes_and_origins_are_read_as_their_words() {
        assert_eq!(
            parse_word::<OutcomeFilter>("failed_over"),
            Ok(OutcomeFilter::FailedOver)
        );
        assert_eq!(parse_word::<OriginKind>("Service"), Ok(OriginKind::Service));
        assert!(parse_word::<OutcomeFilter>("lost").is_err());
    }
}
