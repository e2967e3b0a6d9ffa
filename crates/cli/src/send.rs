//! `msgops send sms|email`: one message through a chain — in this process, or through a running
//! service with `--url` (then the per-recipient limits and the idempotency key apply). Prints
//! the delivery record, with the provider's receipt for the delivery; the exit code says who
//! delivered.

use std::process::ExitCode;

use msgops_core::chain::{Priority, SendRecord};
use msgops_core::message::{validate_email, validate_phone};
use msgops_core::{EmailMessage, Messaging, SmsMessage};
use serde_json::{json, Value};

use crate::serve::TOKEN_ENV;

const EXIT_HELP: &str = "\
Exit codes: 0 delivered by the primary provider, 3 delivered by a fallback provider \
(secondary or last resort), 1 not delivered (every provider failed or was skipped, or the \
service refused the send: recipient limit, authentication), 2 invalid arguments or the \
service could not be reached.";

#[derive(clap::Args, Debug)]
pub struct SendArgs {
    #[command(subcommand)]
    message: SendMessage,
}

#[derive(clap::Subcommand, Debug)]
pub enum SendMessage {
    /// Send an SMS through the SMS chain (AWS SNS → Twilio → Console).
    #[command(after_help = EXIT_HELP)]
    Sms {
        /// E.164 phone number (+14165550123).
        number: String,
        #[arg(long)]
        body: String,
        #[command(flatten)]
        common: Common,
    },
    /// Send an email through the email chain (AWS SES → SendGrid → SMTP).
    #[command(after_help = EXIT_HELP)]
    Email {
        address: String,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        body: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Args, Debug)]
pub struct Common {
    /// The one-time code inside the body (the Console provider logs it for support staff).
    #[arg(long)]
    code: Option<String>,
    /// Send through a running service (http://127.0.0.1:5024) with $MSGOPS_API_TOKEN.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// With --url: retries with the same key are answered once, never sent twice.
    #[arg(long, value_name = "KEY", requires = "url")]
    idempotency_key: Option<String>,
    /// Without --url: with emulated network providers.
    #[arg(long, conflicts_with = "url")]
    emulated: bool,
    /// Print the delivery record as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Sends `request` and reads the JSON it is answered with, whatever the status.
pub(crate) async fn json_answer(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<(reqwest::StatusCode, Value), String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("{url}: {}", msgops_remote::transport_error(&e)))?;
    let status = response.status();
    let body = response
        .json()
        .await
        .map_err(|e| format!("{url} answered {status} without JSON: {e}"))?;
    Ok((status, body))
}

/// The service's certificate fingerprint to pin, for `--url https://…` (as `msgops serve`
/// printed it); without it the system's roots must vouch for the certificate.
pub(crate) const FINGERPRINT_ENV: &str = "MSGOPS_SERVICE_FINGERPRINT";

/// A request to the service with the bearer token of $MSGOPS_API_TOKEN, if set: over https
/// (plain http only to this machine), the certificate pinned by $MSGOPS_SERVICE_FINGERPRINT or
/// verified by the system roots — the same client `msgops remote` uses.
pub(crate) fn client_request(
    method: reqwest::Method,
    url: &str,
) -> Result<reqwest::RequestBuilder, String> {
    let trust = match std::env::var(FINGERPRINT_ENV) {
        Ok(fp) if !fp.trim().is_empty() => {
            msgops_remote::Trust::Pinned(fp.parse().map_err(|e| format!("{FINGERPRINT_ENV}: {e}"))?)
        }
        _ => msgops_remote::Trust::SystemRoots,
    };
    let client = msgops_remote::http_client(url, trust, std::time::Duration::from_secs(60))
        .map_err(|e| e.to_string())?;
    let request = client.request(method, url);
    Ok(match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.trim().is_empty() => request.bearer_auth(token.trim()),
        _ => request,
    })
}

pub fn run(args: SendArgs) -> ExitCode {
    let (path, payload, common) = match &args.message {
        SendMessage::Sms {
            number,
            body,
            common,
        } => {
            if let Err(e) = validate_phone(number) {
                eprintln!("msgops send: {e}");
                return ExitCode::from(2);
            }
            let length = msgops_providers::sms_length(body);
            let encoding = match length.encoding {
                msgops_providers::SmsEncoding::Gsm7 => "GSM-7",
                msgops_providers::SmsEncoding::Ucs2 => "UCS-2",
            };
            eprintln!(
                "msgops send: body is {} {encoding} units: {} segment(s) of up to {}",
                length.units, length.segments, length.per_segment
            );
            (
                "/api/v1/messages/sms",
                json!({"to": number, "body": body, "code": common.code}),
                common,
            )
        }
        SendMessage::Email {
            address,
            subject,
            body,
            common,
        } => {
            if let Err(e) = validate_email(address) {
                eprintln!("msgops send: {e}");
                return ExitCode::from(2);
            }
            (
                "/api/v1/messages/email",
                json!({"to": address, "subject": subject, "body": body, "code": common.code}),
                common,
            )
        }
    };
    let answer = match &common.url {
        Some(url) => through_service(url, path, &payload, common.idempotency_key.as_deref()),
        None => in_process(&args.message, common.emulated),
    };
    match answer {
        Ok(Answer::Record(record)) => report(&record, common.json),
        Ok(Answer::Refused(status, body)) => {
            if common.json {
                println!("{body}");
            }
            eprintln!(
                "msgops send: refused ({status}): {}",
                body["message"].as_str().unwrap_or("no reason given")
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("msgops send: {e}");
            ExitCode::from(2)
        }
    }
}

enum Answer {
    /// The service's (or the chain's) delivery record, with `delivered_by_priority`.
    Record(Value),
    /// Refused before any provider was called.
    Refused(u16, Value),
}

fn through_service(
    url: &str,
    path: &str,
    payload: &Value,
    key: Option<&str>,
) -> Result<Answer, String> {
    let url = format!("{}{path}", url.trim_end_matches('/'));
    runtime()?.block_on(async {
        let mut request = client_request(reqwest::Method::POST, &url)?.json(payload);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let (status, body) = json_answer(request, &url).await?;
        if body.get("outcome").is_some() {
            Ok(Answer::Record(body))
        } else {
            Ok(Answer::Refused(status.as_u16(), body))
        }
    })
}

fn with_priority(messaging: &Messaging, record: &SendRecord) -> Result<Value, String> {
    let priority: Option<Priority> = record.outcome.delivered_by().and_then(|id| {
        messaging
            .health()
            .providers()
            .find(|p| &p.id == id && p.channel == record.channel)
            .map(|p| p.priority)
    });
    let mut value = serde_json::to_value(record).map_err(|e| e.to_string())?;
    value["delivered_by_priority"] = serde_json::to_value(priority).map_err(|e| e.to_string())?;
    value["cost_usd"] = json!(record.outcome.cost_usd());
    Ok(value)
}

fn in_process(message: &SendMessage, emulated: bool) -> Result<Answer, String> {
    runtime()?.block_on(async {
        let messaging = crate::serve::build_messaging(emulated, &[]).await?;
        let record = match message {
            SendMessage::Sms {
                number,
                body,
                common,
            } => {
                messaging
                    .sms
                    .send(&SmsMessage {
                        to: number.clone(),
                        body: body.clone(),
                        code: common.code.clone(),
                    })
                    .await
            }
            SendMessage::Email {
                address,
                subject,
                body,
                common,
            } => {
                messaging
                    .email
                    .send(&EmailMessage {
                        to: address.clone(),
                        subject: subject.clone(),
                        body: body.clone(),
                        code: common.code.clone(),
                    })
                    .await
            }
        };
        with_priority(&messaging, &record).map(Answer::Record)
    })
}

/// Exit code of a delivery record: 0 primary, 3 fallback, 1 failed.
fn exit_code(record: &Value) -> u8 {
    match (
        record["outcome"]["status"].as_str(),
        record["delivered_by_priority"].as_str(),
    ) {
        (Some("delivered"), Some("PRIMARY")) => 0,
        (Some("delivered"), _) => 3,
        _ => 1,
    }
}

fn report(record: &Value, json: bool) -> ExitCode {
    if json {
        println!("{record}");
    } else {
        print!("{}", human(record));
    }
    ExitCode::from(exit_code(record))
}

/// The delivering attempt's receipt (the provider's id for the message), if it gave one.
fn receipt(outcome: &Value) -> Option<&str> {
    outcome["attempts"]
        .as_array()?
        .iter()
        .filter(|a| a["outcome"] == "delivered")
        .find_map(|a| a["provider_message_id"].as_str())
}

/// The delivery record for people: who delivered (and the provider's receipt for it) or why
/// nothing was, then each provider skipped and each attempt.
fn human(record: &Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let outcome = &record["outcome"];
    // Writing to a String cannot fail.
    let _ = match outcome["status"].as_str() {
        Some("delivered") => writeln!(
            out,
            "delivered to {} by {} ({}) in {:.0} ms, cost ${}{}",
            record["recipient"].as_str().unwrap_or("?"),
            outcome["provider"].as_str().unwrap_or("?"),
            record["delivered_by_priority"].as_str().unwrap_or("?"),
            record["duration_ms"].as_f64().unwrap_or(0.0),
            record["cost_usd"],
            receipt(outcome)
                .map(|id| format!(", receipt {id}"))
                .unwrap_or_default()
        ),
        _ => writeln!(
            out,
            "NOT delivered to {}: {}",
            record["recipient"].as_str().unwrap_or("?"),
            outcome["reason"].as_str().unwrap_or("?")
        ),
    };
    for s in outcome["skipped"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  skipped {}: {}",
            s["provider"].as_str().unwrap_or("?"),
            s["reason"].as_str().unwrap_or("?")
        );
    }
    for a in outcome["attempts"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {} {} in {:.0} ms{}",
            a["provider"].as_str().unwrap_or("?"),
            a["outcome"].as_str().unwrap_or("?"),
            a["latency_ms"].as_f64().unwrap_or(0.0),
            a["error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_tell_primary_fallback_and_failure_apart() {
        let delivered = |p: &str| json!({"outcome": {"status": "delivered", "provider": "x"}, "delivered_by_priority": p});
        assert_eq!(exit_code(&delivered("PRIMARY")), 0);
        assert_eq!(exit_code(&delivered("SECONDARY")), 3);
        assert_eq!(exit_code(&delivered("FALLBACK")), 3);
        assert_eq!(
            exit_code(&json!({"outcome": {"status": "failed"}, "delivered_by_priority": null})),
            1
        );
    }

    #[test]
    fn the_human_output_names_the_providers_receipt_for_the_delivery() {
        let record = json!({
            "recipient": "+14165550123",
            "duration_ms": 412.0,
            "cost_usd": 0.0075,
            "delivered_by_priority": "SECONDARY",
            "outcome": {
                "status": "delivered",
                "provider": "twilio",
                "skipped": [],
                "attempts": [
                    {"provider": "sns", "outcome": "failed", "latency_ms": 30.0,
                     "error": "HTTP 503", "provider_message_id": null},
                    {"provider": "twilio", "outcome": "delivered", "latency_ms": 380.0,
                     "error": null, "provider_message_id": "SM9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c"},
                ],
            },
        });
        let text = human(&record);
        assert_eq!(
            text.lines().next(),
            Some("delivered to +14165550123 by twilio (SECONDARY) in 412 ms, cost $0.0075, receipt SM9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c")
        );
        assert!(text.contains("  sns failed in 30 ms: HTTP 503"), "{text}");

        // The Console provider gives no receipt: none is claimed.
        let mut console = record.clone();
        console["outcome"]["attempts"][1]["provider_message_id"] = Value::Null;
        assert!(!human(&console).contains("receipt"));
    }
}
