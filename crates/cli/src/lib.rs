//! `msgops`: the headless command-line tool. Each subcommand lives in its own module and only
//! parses arguments and prints; the work is done by the library crates.
//!
//! A library so that one binary can carry both faces: the `msgops` binary of this crate, and the
//! window's binary, which runs [`run`] when started as `msgops-console cli …` (what the Linux
//! packages' `/usr/bin/msgops` does, so they hold one copy of the code, not two).

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod breaker;
mod codes;
mod config_cmd;
mod creds;
mod deliveries;
mod health;
mod history;
mod remote;
mod send;
mod serve;
mod token;
mod watch;

#[derive(Parser)]
#[command(
    name = "msgops",
    version,
    about = "Operations console for multi-provider messaging, headless"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the default configuration as TOML.
    DefaultConfig,
    /// Check a configuration file: what is wrong (line, field, why), or what it puts in force.
    Config(config_cmd::ConfigArgs),
    /// Print the one-time codes found in backend logs, newest last.
    Codes(codes::CodesArgs),
    /// Follow backend logs and print each event (codes, provider errors, 5xx, restarts, stale config).
    Watch(watch::WatchArgs),
    /// Provider secrets in the OS keychain: list, import a .env, rotate, remove, audit.
    Creds(creds::CredsArgs),
    /// Run the HTTP service: health, Prometheus metrics, guarded sends, events, OpenAPI.
    Serve(serve::ServeArgs),
    /// The service's named API tokens with scopes (read, codes, operate, admin): create, list,
    /// revoke.
    Token(token::TokenArgs),
    /// Show the chains' health (exit 0 healthy, 1 degraded or down, 2 unknown).
    Health(health::HealthArgs),
    /// Send one SMS or email (exit 0 primary, 3 fallback, 1 failed, 2 invalid).
    Send(send::SendArgs),
    /// On-call controls of a running service: reset a breaker, start its trial, probe.
    Breaker(breaker::BreakerArgs),
    /// The providers' delivery reports (Twilio, SendGrid, SES, SNS SMS), newest last, with the
    /// send each belongs to.
    Deliveries(deliveries::DeliveriesArgs),
    /// The send history, newest first, filtered as the History page filters it, or its totals
    /// (--summary): cost per provider per day, failover routes.
    History(history::HistoryArgs),
    /// A `msgops serve` on another host: its certificate's fingerprint, health, codes, events.
    Remote(remote::RemoteArgs),
}

/// Runs the tool on these arguments, the first being the program's name (as
/// `std::env::args_os()` gives them); prints clap's help or usage errors itself.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Codes(args) => codes::run(args),
        Command::Config(args) => config_cmd::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Creds(args) => creds::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Token(args) => token::run(args),
        Command::Health(args) => health::run(args),
        Command::Send(args) => send::run(args),
        Command::Breaker(args) => breaker::run(args),
        Command::Deliveries(args) => deliveries::run(args),
        Command::History(args) => history::run(args),
        Command::Remote(args) => remote::run(args),
        Command::DefaultConfig => {
            println!("{}", msgops_core::config::Config::default().to_toml());
            ExitCode::SUCCESS
        }
    }
}
