//! `msgops remote`: a `msgops serve` on another host, from a support desk's laptop — its
//! certificate's fingerprint to compare and pin, its codes, its health, its live events.
//!
//! The token comes from `$MSGOPS_API_TOKEN` only (never an argument `ps` would show).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use msgops_credentials::SecretString;
use msgops_remote::{first_look, Fingerprint, RemoteService, StreamNews, Trust};

#[derive(Debug, Args)]
pub struct RemoteArgs {
    #[command(subcommand)]
    pub command: RemoteCommand,
}

#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The service, e.g. https://ops.example.com:5024 (plain http:// only to this machine).
    pub url: String,
    /// Its certificate's SHA-256 fingerprint, as `msgops serve` printed it (see `msgops remote
    /// fingerprint URL`); without it the system's roots must vouch for the certificate.
    #[arg(long)]
    pub fingerprint: Option<Fingerprint>,
}

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Show the service's certificate fingerprint (nothing is sent), to compare with what
    /// `msgops serve` printed before pinning it with --fingerprint.
    Fingerprint { url: String },
    /// The service's chains: each provider's state (exit 0 healthy, 1 not).
    Health {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// The valid codes the service has seen (the token needs the `codes` scope).
    Codes {
        #[command(flatten)]
        target: Target,
        /// Only numbers ending in these digits.
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Follow the service's events (codes, breaker transitions, sends, delivery reports) until
    /// Ctrl-C, reconnecting as needed without missing any.
    Watch {
        #[command(flatten)]
        target: Target,
    },
}

fn token() -> Result<SecretString, String> {
    std::env::var("MSGOPS_API_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(|t| SecretString::from(t.trim().to_owned()))
        .ok_or_else(|| "set MSGOPS_API_TOKEN to the service's API token (`msgops token create` on the service's host)".into())
}

fn service(target: &Target) -> Result<RemoteService, String> {
    let trust = target
        .fingerprint
        .clone()
        .map_or(Trust::SystemRoots, Trust::Pinned);
    RemoteService::new(&target.url, token()?, trust).map_err(|e| e.to_string())
}

pub fn run(args: RemoteArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msgops remote: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_command(args.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("msgops remote: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run_command(command: RemoteCommand) -> Result<ExitCode, String> {
    match command {
        RemoteCommand::Fingerprint { url } => {
            match first_look(&url).await.map_err(|e| e.to_string())? {
                Some(fp) => {
                    println!("{fp}");
                    eprintln!(
                    "Compare it with the fingerprint `msgops serve` printed on its host; if they match, use --fingerprint {fp}"
                );
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("{url} is plain http on this machine: there is no certificate");
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        RemoteCommand::Health { target, json } => {
            let health = service(&target)?
                .health()
                .await
                .map_err(|e| e.to_string())?;
            let ok = health["ok"].as_bool().unwrap_or(false);
            if json {
                println!("{health}");
            } else {
                for chain in ["sms", "email"] {
                    let c = &health["chains"][chain];
                    println!(
                        "{chain}: {} — {}",
                        c["status"].as_str().unwrap_or("unknown"),
                        c["reason"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        RemoteCommand::Codes {
            target,
            phone,
            json,
        } => {
            let codes = service(&target)?
                .codes(phone.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            if codes.is_empty() && !json {
                println!("No valid codes.");
            }
            for c in codes {
                if json {
                    println!("{c}");
                } else {
                    let who = c["recipient"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| "recipient unknown".into());
                    let expires = c["expires_at"].as_str().unwrap_or("unknown");
                    println!(
                        "{}  for {who}  (expires {expires})",
                        c["code"].as_str().unwrap_or("?")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RemoteCommand::Watch { target } => {
            let service = service(&target)?;
            let cancel = tokio_util::sync::CancellationToken::new();
            let stop = cancel.clone();
            tokio::spawn(async move {
                msgops_service::stop_signal().await;
                stop.cancel();
            });
            service
                .follow_events(cancel, |news| match news {
                    StreamNews::Connected => eprintln!("msgops remote: connected"),
                    StreamNews::Event(e) => println!("{} {}", e.event, e.data),
                    StreamNews::Disconnected { reason, retry_in } => eprintln!(
                        "msgops remote: disconnected ({reason}); again in {} ms",
                        retry_in.as_millis()
                    ),
                })
                .await;
            Ok(ExitCode::SUCCESS)
        }
    }
}
