//! `msgops config check [FILE]`: reads a configuration file as the app and `msgops serve` read
//! it, and says what is wrong (file, line, field, why) or what is in force — with any password
//! in a URL masked. Exit 0 when it reads, 2 when it does not.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use msgops_core::config::{config_path, mask_url_password, Config};

#[derive(Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a configuration file (default: $MSGOPS_CONFIG, or the usual path): exit 0 when it
    /// reads, 2 with the line and field when it does not.
    Check {
        /// The file to check.
        file: Option<PathBuf>,
    },
}

pub fn run(args: ConfigArgs) -> ExitCode {
    match args.command {
        ConfigCommand::Check { file } => check(file.unwrap_or_else(config_path)),
    }
}

fn check(path: PathBuf) -> ExitCode {
    let origin = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("msgops config: {origin}: cannot be read: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::from_toml(&text, &origin) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("msgops config: {e}");
            return ExitCode::from(2);
        }
    };
    let (_, problems) = config.logs.parser();
    if !problems.is_empty() {
        for problem in problems {
            eprintln!("msgops config: {origin}: {problem}");
        }
        return ExitCode::from(2);
    }
    println!("{origin}: ok");
    for line in summary(&config) {
        println!("  {line}");
    }
    ExitCode::SUCCESS
}

/// What the file puts in force, in a few lines, passwords masked.
fn summary(config: &Config) -> Vec<String> {
    vec![
        format!(
            "state: {} ({} instance{})",
            mask_url_password(&config.state.backend),
            config.state.instances,
            if config.state.instances == 1 { "" } else { "s" }
        ),
        format!(
            "history: {}, kept {} days",
            config.history.url.as_deref().map_or_else(
                || "SQLite in the data directory".to_owned(),
                mask_url_password
            ),
            config.history.keep_days
        ),
        format!("credentials: {}", config.credentials.store.as_str()),
        format!(
            "logs followed: {}",
            if config.logs.follow.is_empty() {
                "none".to_owned()
            } else {
                config
                    .logs
                    .follow
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_never_shows_a_password() {
        let config = Config::from_toml(
            "[state]\nbackend = \"redis://:hunter2secret@valkey:6379/0\"\ninstances = 2\n\
             [history]\nurl = \"postgres://msgops:pgsecret99@db:5432/msgops\"\n",
            "test.toml",
        )
        .expect("reads");
        let text = summary(&config).join("\n");
        assert!(
            !text.contains("hunter2secret") && !text.contains("pgsecret99"),
            "{text}"
        );
        assert!(
            text.contains("valkey:6379") && text.contains("2 instances"),
            "{text}"
        );
        assert!(text.contains("db:5432/msgops"), "{text}");
    }
}
