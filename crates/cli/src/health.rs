//! `msgops health`: the chains' health, from a running service (`--url`) or from the chains built
//! in this process. Prints a table, or the backend-shaped JSON with `--json`.

use std::process::ExitCode;

use serde_json::Value;

use crate::send::{client_request, runtime};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Each chain is healthy, degraded (only its last resort can deliver: for SMS the Console log, \
which reaches nobody), down or unconfigured (not in use).\n\
Exit codes: 0 every chain in use is healthy (as the service's 200), 1 one is degraded or down \
or a required chain is unconfigured (as its 503; see [health] in the configuration), 2 the \
health could not be read (service unreachable, bad answer, invalid arguments).")]
pub struct HealthArgs {
    /// Print the JSON of GET /api/v1/health/messaging.
    #[arg(long)]
    json: bool,
    /// A running service (http://127.0.0.1:5024); sends $MSGOPS_API_TOKEN if set. Without it,
    /// the chains are built in this process from the configuration.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Without --url: with emulated network providers.
    #[arg(long, conflicts_with = "url")]
    emulated: bool,
}

pub fn run(args: HealthArgs) -> ExitCode {
    let health = match &args.url {
        Some(url) => fetch(url),
        None => runtime().and_then(|rt| {
            rt.block_on(crate::serve::build_messaging(args.emulated, &[]))
                .and_then(|m| serde_json::to_value(m.health()).map_err(|e| e.to_string()))
        }),
    };
    let health = match health {
        Ok(h) => h,
        Err(e) => {
            eprintln!("msgops health: {e}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        println!("{health}");
    } else {
        print!("{}", table(&health));
    }
    if health["ok"] == true {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn fetch(url: &str) -> Result<Value, String> {
    let path = "/api/v1/health/messaging";
    let url = if url.ends_with(path) {
        url.to_string()
    } else {
        format!("{}{path}", url.trim_end_matches('/'))
    };
    let rt = runtime()?;
    rt.block_on(async {
        let (status, body) =
            crate::send::json_answer(client_request(reqwest::Method::GET, &url)?, &url).await?;
        if status.is_success() || status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            Ok(body)
        } else {
            Err(format!(
                "{url} answered {status}: {}",
                body["message"].as_str().unwrap_or("no message")
            ))
        }
    })
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("-")
}

/// The chains as a table: each chain's status and why, then each provider.
fn table(health: &Value) -> String {
    let mut out = String::new();
    for (title, chain, list) in [
        ("SMS", "sms", "sms_providers"),
        ("Email", "email", "email_providers"),
    ] {
        let providers = health[list].as_array().cloned().unwrap_or_default();
        let status = &health["chains"][chain];
        let shown = match text(status, "status") {
            "healthy" => "healthy",
            "degraded" => "DEGRADED",
            "down" => "DOWN",
            "unconfigured" => "unconfigured",
            _ => "unknown",
        };
        out.push_str(&format!(
            "{title} chain: {shown} ({})\n",
            text(status, "reason")
        ));
        for p in &providers {
            let state = if p["is_healthy"] == true {
                "healthy"
            } else if p["enabled"] == false {
                "disabled"
            } else if p["configured"] == false {
                "not configured"
            } else {
                "unhealthy"
            };
            out.push_str(&format!(
                "  {:<9} {:<22} {:<15} breaker {:<9}",
                text(p, "priority"),
                text(p, "name"),
                state,
                text(p, "breaker_state"),
            ));
            if let Some(ms) = p["open_remaining_ms"].as_u64() {
                out.push_str(&format!(" (trial in {} s)", ms.div_ceil(1000)));
            }
            if let Some(e) = p["last_error"].as_object() {
                out.push_str(&format!(
                    "  last error: {}",
                    e.get("message").and_then(Value::as_str).unwrap_or("-")
                ));
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_provider_and_a_chain_that_cannot_deliver() {
        let health = serde_json::json!({
            "sms_providers": [
                {"name": "AWSSNSProvider", "priority": "PRIMARY", "is_healthy": false,
                 "enabled": true, "configured": true, "breaker_state": "OPEN",
                 "open_remaining_ms": 120500,
                 "last_error": {"message": "HTTP 401"}},
            ],
            "email_providers": [
                {"name": "AWSSESProvider", "priority": "PRIMARY", "is_healthy": true,
                 "enabled": true, "configured": true, "breaker_state": "CLOSED"},
            ],
            "chains": {
                "sms": {"status": "degraded", "reason": "only Console can deliver (AWS SNS: breaker open)"},
                "email": {"status": "healthy", "reason": "can deliver through AWS SES"},
            },
            "ok": false,
        });
        let t = table(&health);
        assert!(
            t.contains("SMS chain: DEGRADED (only Console can deliver (AWS SNS: breaker open))"),
            "{t}"
        );
        assert!(
            t.contains("AWSSNSProvider") && t.contains("(trial in 121 s)"),
            "{t}"
        );
        assert!(t.contains("last error: HTTP 401"), "{t}");
        assert!(
            t.contains("Email chain: healthy (can deliver through AWS SES)"),
            "{t}"
        );
    }
}
