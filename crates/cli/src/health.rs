//! `msgops health`: the chains' health, from a running service (`--url`) or from the chains built
//! in this process. Prints a table, or the backend-shaped JSON with `--json`.

use std::process::ExitCode;

use serde_json::Value;

use crate::send::{client_request, runtime};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Exit codes: 0 every chain has a healthy provider, 1 a chain has no healthy provider left, \
2 the health could not be read (service unreachable, bad answer, invalid arguments).")]
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
    let chains = [("SMS", "sms_providers"), ("Email", "email_providers")];
    let can_deliver = |list: &str| {
        health[list]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["is_healthy"] == true))
    };
    if args.json {
        println!("{health}");
    } else {
        print!("{}", table(&health, &chains));
    }
    if chains.iter().all(|(_, list)| can_deliver(list)) {
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

fn table(health: &Value, chains: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (title, list) in chains {
        let providers = health[*list].as_array().cloned().unwrap_or_default();
        let ok = providers.iter().any(|p| p["is_healthy"] == true);
        out.push_str(&format!(
            "{title} chain: {}\n",
            if ok {
                "can deliver"
            } else {
                "NO HEALTHY PROVIDER"
            }
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
        });
        let t = table(
            &health,
            &[("SMS", "sms_providers"), ("Email", "email_providers")],
        );
        assert!(t.contains("SMS chain: NO HEALTHY PROVIDER"), "{t}");
        assert!(
            t.contains("AWSSNSProvider") && t.contains("(trial in 121 s)"),
            "{t}"
        );
        assert!(t.contains("last error: HTTP 401"), "{t}");
        assert!(t.contains("Email chain: can deliver"), "{t}");
    }
}
