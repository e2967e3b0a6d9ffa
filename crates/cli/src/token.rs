//! `msgops token create|list|revoke`: the service's named API tokens with scopes, kept hashed in
//! `<data dir>/api-tokens.json` (`msgops_service::tokens`). A running `msgops serve` honours a
//! new or revoked token at once. Each creation and revocation goes to the credentials audit
//! trail. A token is printed once, by `create`, on standard output, and never again.

use std::path::PathBuf;
use std::process::ExitCode;

use msgops_audit::{Actor, Via};
use msgops_credentials::{AuditAction, AuditLog, AuditOutcome, CredentialAuditEntry, ExposeSecret};
use msgops_service::tokens::{self, describe_scopes, Scope, TokenFileError, TokenInfo};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Scopes: read (health, metrics, the OpenAPI document, the event stream without code_seen, the \
diagnostics), codes (read + GET /api/v1/codes + code_seen events), operate (read + sends + \
breaker reset/trial/probe), admin (everything).

Tokens are kept as SHA-256 hashes in <data dir>/api-tokens.json ($MSGOPS_DATA_DIR; mode 0600). \
A running `msgops serve` re-reads the file on its next request: a new token works at once, a \
revoked one is refused at once. The single token of `msgops serve --create-token` (keychain \
account service.api_token) or $MSGOPS_API_TOKEN keeps working as an admin token.

Exit codes: 0 done, 1 failed (no such token, name taken, file unreadable), 2 invalid arguments.")]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(clap::Subcommand, Debug)]
enum TokenCommand {
    /// Make a named token and print it once on standard output.
    Create {
        /// 1 to 64 letters, digits, `.`, `_` or `-` (e.g. `grafana`, `console-laptop`).
        name: String,
        /// What it may do: read, codes, operate, admin (comma-separated or repeated).
        #[arg(long, value_name = "SCOPES", value_delimiter = ',', required = true, value_parser = parse_scope)]
        scope: Vec<Scope>,
        /// Replace a token of that name (the old one stops working at once).
        #[arg(long)]
        replace: bool,
    },
    /// List the named tokens: name, scopes, when and by whom created (never a token or a hash).
    List {
        /// One JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a named token: a running service refuses it from its next request on.
    Revoke { name: String },
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    s.parse()
}

fn token_file() -> PathBuf {
    tokens::path_in(&msgops_core::config::data_dir())
}

fn audit(action: AuditAction, message: String) {
    let log = AuditLog::new(crate::creds::default_audit_path()).by(Actor::local(Via::Cli));
    let entry = CredentialAuditEntry::now(None, action, AuditOutcome::Success, message);
    if let Err(e) = log.record(&entry) {
        eprintln!("msgops token: the audit trail was not written: {e}");
    }
}

fn failed(e: &TokenFileError) -> ExitCode {
    eprintln!("msgops token: {e}");
    match e {
        TokenFileError::BadName(_) | TokenFileError::NoScope | TokenFileError::ReservedName => {
            ExitCode::from(2)
        }
        _ => ExitCode::FAILURE,
    }
}

pub fn run(args: TokenArgs) -> ExitCode {
    let path = token_file();
    match args.command {
        TokenCommand::Create {
            name,
            scope,
            replace,
        } => {
            let existed = replace
                && tokens::list(&path)
                    .map(|t| t.iter().any(|t| t.name == name))
                    .unwrap_or(false);
            match tokens::create(&path, &name, &scope, Actor::local(Via::Cli), replace) {
                Ok(token) => {
                    let scopes = describe_scopes(&{
                        let mut s = scope.clone();
                        s.sort();
                        s.dedup();
                        s
                    });
                    audit(
                        AuditAction::TokenCreate,
                        format!(
                            "API token `{name}` {} with scope {scopes} in {} (shown once)",
                            if existed { "replaced" } else { "created" },
                            path.display()
                        ),
                    );
                    eprintln!(
                        "msgops token: `{name}` ({scopes}) stored hashed in {}; the token follows, shown only this once:",
                        path.display()
                    );
                    println!("{}", token.expose_secret());
                    ExitCode::SUCCESS
                }
                Err(e) => failed(&e),
            }
        }
        TokenCommand::List { json } => match tokens::list(&path) {
            Ok(entries) => {
                let infos: Vec<TokenInfo> = entries.iter().map(TokenInfo::from).collect();
                if json {
                    match serde_json::to_string_pretty(&infos) {
                        Ok(text) => println!("{text}"),
                        Err(e) => {
                            eprintln!("msgops token: {e}");
                            return ExitCode::FAILURE;
                        }
                    }
                } else if infos.is_empty() {
                    println!("no named API tokens in {}", path.display());
                } else {
                    print_table(&infos);
                }
                if !json {
                    eprintln!("(the single token of `msgops serve --create-token` or $MSGOPS_API_TOKEN, if any, is admin and not listed)");
                }
                ExitCode::SUCCESS
            }
            Err(e) => failed(&e),
        },
        TokenCommand::Revoke { name } => match tokens::revoke(&path, &name) {
            Ok(removed) => {
                audit(
                    AuditAction::TokenRevoke,
                    format!(
                        "API token `{}` (scope {}) revoked in {}",
                        removed.name,
                        describe_scopes(&removed.scopes),
                        path.display()
                    ),
                );
                eprintln!(
                    "msgops token: `{name}` revoked; a running service refuses it from now on"
                );
                ExitCode::SUCCESS
            }
            Err(e) => failed(&e),
        },
    }
}

fn print_table(infos: &[TokenInfo]) {
    let rows: Vec<[String; 4]> = infos
        .iter()
        .map(|t| {
            [
                t.name.clone(),
                describe_scopes(&t.scopes),
                t.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                t.created_by.describe(),
            ]
        })
        .collect();
    let header = ["NAME", "SCOPES", "CREATED", "BY"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == 3 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3]]);
    }
}
