//! `msgops send sms|email`: one message through a chain — in this process, or through a running
//! service with `--url` (then the per-recipient limits and the idempotency key apply). Prints
//! the delivery record; the exit code says who delivered.

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
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = response.status();
    let body = response
        .json()
        .await
        .map_err(|e| format!("{url} answered {status} without JSON: {e}"))?;
    Ok((status, body))
}

/// A request to the service with the bearer token of $MSGOPS_API_TOKEN, if set.
pub(crate) fn client_request(
    method: reqwest::Method,
    url: &str,
) -> Result<reqwest::RequestBuilder, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
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
        let outcome = &record["outcome"];
        match outcome["status"].as_str() {
            Some("delivered") => println!(
                "delivered to {} by {} ({}) in {:.0} ms, cost ${}",
                record["recipient"].as_str().unwrap_or("?"),
                outcome["provider"].as_str().unwrap_or("?"),
                record["delivered_by_priority"].as_str().unwrap_or("?"),
                record["duration_ms"].as_f64().unwrap_or(0.0),
                record["cost_usd"]
            ),
            _ => println!(
                "NOT delivered to {}: {}",
                record["recipient"].as_str().unwrap_or("?"),
                outcome["reason"].as_str().unwrap_or("?")
            ),
        }
        for s in outcome["skipped"].as_array().into_iter().flatten() {
            println!(
                "  skipped {}: {}",
                s["provider"].as_str().unwrap_or("?"),
                s["reason"].as_str().unwrap_or("?")
            );
        }
        for a in outcome["attempts"].as_array().into_iter().flatten() {
            println!(
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
    }
    ExitCode::from(exit_code(record))
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
}
