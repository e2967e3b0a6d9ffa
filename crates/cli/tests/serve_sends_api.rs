//! What a console away from the backend host reads and does through a real `msgops serve`
//! (emulated providers), with the client the app uses (`msgops_remote::RemoteService`) and
//! named tokens made by `msgops token create`:
//!
//! - a test send through the service's chain is listed by `GET /api/v1/sends`, with its
//!   recipient for a `codes` token and masked everywhere in the answer for a `read` token, which
//!   may not search by recipient (403); the summary counts it;
//! - a provider taken out of its chain by an `operate` token is out of it at once (the next send
//!   skips it), written to the service's configuration file and still out after a restart; a
//!   `read` token may not (403).

mod common;

use std::path::Path;

use common::serve::{create_token, start_serve, Serve};
use msgops_credentials::SecretString;
use msgops_remote::{RemoteError, RemoteService, Trust};
use serde_json::{json, Value};

const NUMBER: &str = "+14165550123";

fn client(serve: &Serve, token: &str) -> RemoteService {
    RemoteService::new(
        &format!("http://{}", serve.addr),
        SecretString::from(token.to_owned()),
        Trust::SystemRoots,
    )
    .expect("client")
}

fn sns_of(health: &Value) -> &Value {
    health["sms_providers"]
        .as_array()
        .expect("sms providers")
        .iter()
        .find(|p| p["id"] == "sns")
        .expect("sns in health")
}

fn setup(dir: &Path) {
    std::fs::write(dir.join("config.toml"), "").expect("config");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_history_is_read_over_the_api_with_recipients_only_for_codes_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let read = create_token(dir.path(), "desk-read", "read");
    let codes = create_token(dir.path(), "desk-codes", "codes");
    let operate = create_token(dir.path(), "desk-operate", "operate");
    let serve = start_serve(dir.path());

    let sent = client(&serve, &operate)
        .send(
            "sms",
            &json!({"to": NUMBER, "body": "Your msgops test code is 482910", "code": "482910"}),
        )
        .await
        .expect("a send through the service");
    assert_eq!(sent["outcome"]["status"], "delivered", "{sent}");

    // The service records the send just after it answers.
    let mut page = Value::Null;
    for _ in 0..100 {
        page = client(&serve, &codes)
            .sends(&json!({"channel": "sms"}))
            .await
            .expect("sends with a codes token");
        if page["total"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(page["total"], 1, "{page}");
    let listed = &page["sends"][0];
    assert_eq!(listed["recipient"], NUMBER);
    assert_eq!(listed["origin"]["kind"], "service");
    assert_eq!(listed["outcome"]["status"], "delivered");

    // A codes token may search by recipient; nothing matches another number.
    let found = client(&serve, &codes)
        .sends(&json!({"recipient": "416 555 0123"}))
        .await
        .expect("search");
    assert_eq!(found["total"], 1);
    let none = client(&serve, &codes)
        .sends(&json!({"recipient": "+4930"}))
        .await
        .expect("search");
    assert_eq!(none["total"], 0);

    // A read token sees the send, never whose it is.
    let masked = client(&serve, &read)
        .sends(&json!({}))
        .await
        .expect("sends with a read token");
    assert_eq!(masked["total"], 1);
    let shown = masked["sends"][0]["recipient"].as_str().expect("recipient");
    assert!(shown.starts_with("••••"), "masked: {shown}");
    assert!(
        !masked.to_string().contains("4165550123"),
        "the number appears nowhere in the answer"
    );
    match client(&serve, &read)
        .sends(&json!({"search": "0123"}))
        .await
    {
        Err(RemoteError::Refused { status, message }) => {
            assert_eq!(status, 403);
            assert!(message.contains("codes"), "{message}");
        }
        other => panic!("a read token searching by recipient is refused: {other:?}"),
    }

    let summary = client(&serve, &read)
        .sends_summary(7)
        .await
        .expect("summary");
    assert_eq!(summary["sends"], 1, "{summary}");
    assert_eq!(summary["delivered"], 1);
    assert_eq!(summary["days"], 7);

    // Bad input is answered, not guessed at.
    let raw = reqwest::Client::new()
        .get(format!("http://{}/api/v1/sends?limit=many", serve.addr))
        .bearer_auth(&codes)
        .send()
        .await
        .expect("request");
    assert_eq!(raw.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_switched_off_over_the_api_is_out_of_its_chain_and_stays_out_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let read = create_token(dir.path(), "desk-read", "read");
    let operate = create_token(dir.path(), "oncall", "operate");
    let serve = start_serve(dir.path());

    match client(&serve, &read).set_enabled("sns", false).await {
        Err(RemoteError::Refused { status, .. }) => assert_eq!(status, 403),
        other => panic!("a read token may not switch providers: {other:?}"),
    }
    let health = client(&serve, &operate)
        .set_enabled("sns", false)
        .await
        .expect("switched off");
    assert_eq!(sns_of(&health)["enabled"], false, "{health}");

    let sent = client(&serve, &operate)
        .send(
            "sms",
            &json!({"to": NUMBER, "body": "Your code is 551200", "code": "551200"}),
        )
        .await
        .expect("send");
    let skipped = sent["outcome"]["skipped"].as_array().expect("skipped");
    assert!(
        skipped
            .iter()
            .any(|s| s["provider"] == "sns" && s["reason"] == "disabled"),
        "SNS passed over as disabled: {sent}"
    );
    assert_ne!(sent["outcome"]["provider"], "sns");

    let config = std::fs::read_to_string(dir.path().join("config.toml")).expect("config");
    let parsed = msgops_core::config::Config::from_toml(&config, "config.toml")
        .expect("the configuration still reads");
    assert_eq!(parsed.sns.policy.enabled, Some(false), "{config}");

    let audit = std::fs::read_to_string(dir.path().join("data").join("operations.jsonl"))
        .expect("operations audit trail");
    assert!(
        audit.contains("\"disable\"") && audit.contains("sns"),
        "the switch is in the audit trail: {audit}"
    );

    drop(serve);
    let serve = start_serve(dir.path());
    let health = client(&serve, &read).health().await.expect("health");
    assert_eq!(
        sns_of(&health)["enabled"],
        false,
        "still off after a restart"
    );
    let health = client(&serve, &operate)
        .set_enabled("sns", true)
        .await
        .expect("switched back on");
    assert_eq!(sns_of(&health)["enabled"], true);
    match client(&serve, &operate)
        .set_enabled("carrier-pigeon", true)
        .await
    {
        Err(RemoteError::Http { status, .. }) => assert_eq!(status, 404),
        other => panic!("an unknown provider is 404: {other:?}"),
    }
}
