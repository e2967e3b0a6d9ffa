//! `msgops`: the headless command-line tool. Each subcommand lives in its own module and only
//! parses arguments and prints; the work is done by the library crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "msgops", version, about = "Operations console for multi-provider messaging, headless")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the default configuration as TOML.
    DefaultConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::DefaultConfig => {
            println!("{}", msgops_core::config::Config::default().to_toml());
            ExitCode::SUCCESS
        }
    }
}
