//! `msgops breaker reset|trial|probe PROVIDER`: on-call controls of a running service (the
//! breakers live in the process that sends). Each is recorded in that service's operations
//! audit trail with this user and host, as the CLI.

use std::process::ExitCode;

use msgops_audit::{Actor, Via};
use msgops_core::ProviderKind;

use crate::send::{client_request, json_answer, runtime};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Exit codes: 0 done (a probe that succeeded), 1 a probe that failed, 2 the service refused or \
could not be reached.")]
pub struct BreakerArgs {
    #[command(subcommand)]
    control: BreakerControl,
    /// The running service (its breakers are in that process); sends $MSGOPS_API_TOKEN.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:5024",
        global = true
    )]
    url: String,
    /// Print the JSON answer.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand, Debug)]
enum BreakerControl {
    /// Close the breaker now: the upstream cause is fixed, the next send uses the provider.
    Reset { provider: ProviderKind },
    /// End the cool-down now: the next send through the provider is its trial.
    Trial { provider: ProviderKind },
    /// Run the provider's health probe now (never counted by the breaker).
    Probe { provider: ProviderKind },
}

pub fn run(args: BreakerArgs) -> ExitCode {
    let (control, provider) = match args.control {
        BreakerControl::Reset { provider } => ("reset", provider),
        BreakerControl::Trial { provider } => ("trial", provider),
        BreakerControl::Probe { provider } => ("probe", provider),
    };
    let url = format!(
        "{}/api/v1/providers/{provider}/{control}",
        args.url.trim_end_matches('/')
    );
    let answer = runtime().and_then(|rt| {
        rt.block_on(async {
            let request = client_request(reqwest::Method::POST, &url)?
                .header("x-msgops-actor", Actor::local(Via::Cli).declaration());
            json_answer(request, &url).await
        })
    });
    let body = match answer {
        Ok((status, body)) if status.is_success() => body,
        Ok((status, body)) => {
            eprintln!(
                "msgops breaker {control}: {url} answered {status}: {}",
                body["message"].as_str().unwrap_or("no message")
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("msgops breaker {control}: {e}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        println!("{body}");
    } else {
        println!("{}", describe(provider, &body));
    }
    if body["probe"]["ok"] == false {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One line: "Twilio: OPEN → CLOSED (reset by ...)", "AWS SNS: probe failed: ...".
fn describe(provider: ProviderKind, body: &serde_json::Value) -> String {
    let name = provider.display_name();
    let state = body["state"].as_str().unwrap_or("?");
    if let Some(probe) = body["probe"].as_object() {
        return match probe.get("ok").and_then(serde_json::Value::as_bool) {
            Some(true) => format!("{name}: probe succeeded; breaker {state}"),
            _ => format!(
                "{name}: probe failed: {}; breaker {state}",
                probe
                    .get("message")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("no details")
            ),
        };
    }
    match body["transition"].as_object() {
        Some(t) => format!(
            "{name}: {} → {} ({})",
            t.get("from")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?"),
            t.get("to")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?"),
            t.get("reason")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
        ),
        None => format!("{name}: nothing to do, breaker {state}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_one_line() {
        let moved = serde_json::json!({"state": "CLOSED", "transition": {"from": "OPEN", "to": "CLOSED", "reason": "reset by cli ops@laptop@127.0.0.1:5 (api)"}, "probe": null});
        assert_eq!(
            describe(ProviderKind::Twilio, &moved),
            "Twilio: OPEN → CLOSED (reset by cli ops@laptop@127.0.0.1:5 (api))"
        );
        let still = serde_json::json!({"state": "CLOSED", "transition": null, "probe": null});
        assert_eq!(
            describe(ProviderKind::Sns, &still),
            "AWS SNS: nothing to do, breaker CLOSED"
        );
        let probe = serde_json::json!({"state": "OPEN", "transition": null, "probe": {"ok": false, "message": "HTTP 401"}});
        assert_eq!(
            describe(ProviderKind::Sendgrid, &probe),
            "SendGrid: probe failed: HTTP 401; breaker OPEN"
        );
    }
}
