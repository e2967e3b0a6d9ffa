//! An admin rotates Twilio's expired token: a refused token changes nothing, a valid one is
//! stored and used by the very next send, with no restart and Twilio's breaker reset.

mod common;

use common::*;
use msgops_core::config::Config;
use msgops_core::{BreakerState, ErrorKind, Messaging, ProviderKind};
use msgops_credentials::{
    AuditLog, CredentialErrorCode, CredentialProvider, CredentialSet, CredentialStoreExt,
    ExposeSecret, MemoryStore, SecretKind, SecretString,
};
use msgops_providers::{install_providers, reinstall, ProviderValidator, Timeouts};

const NEW_TOKEN: &str = "0123456789abcdef0123456789abcdef";
const WRONG_TOKEN: &str = "ffffffffffffffffffffffffffffffff";

fn basic(user: &str, password: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_twilio_token_is_validated_stored_and_used_by_the_very_next_send() {
    let twilio = ScriptedServer::start(
        vec![
            // 1. a send with the expired token
            Reply::status(401, TWILIO_20003),
            // 2. validating a wrong new token
            Reply::status(401, TWILIO_20003),
            // 3. validating the right new token
            Reply::status(
                200,
                &format!(r#"{{"sid": "{FAKE_TWILIO_SID}", "status": "active"}}"#),
            ),
            // 4. the next send
            Reply::status(
                201,
                r#"{"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}"#,
            ),
        ],
        Reply::status(500, "{}"),
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.console.log_path = dir.path().join("backend.log");
    config.twilio.base_url = twilio.url();
    config.twilio.from_number = Some("+14165550100".into());
    config.sns.policy.enabled = Some(false);
    let store = MemoryStore::new();
    store
        .set_secret(
            SecretKind::TwilioAccountSid,
            &SecretString::from(FAKE_TWILIO_SID),
        )
        .expect("sid");
    store
        .set_secret(
            SecretKind::TwilioAuthToken,
            &SecretString::from(FAKE_TWILIO_TOKEN),
        )
        .expect("token");
    let messaging = Messaging::from_config(&config);
    install_providers(&messaging, &config, &store).await;
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let twilio_id = ProviderKind::Twilio;

    // The expired token: Twilio says 20003 and the code goes to the Console provider.
    let first = messaging.sms.send(&otp_sms("111111")).await;
    assert_eq!(
        first.outcome.attempts()[0].error_kind,
        Some(ErrorKind::Authentication)
    );
    assert_eq!(first.outcome.delivered_by(), Some(&ProviderKind::Console));

    // A wrong new token is refused with Twilio's own words; the old one stays.
    let validator =
        ProviderValidator::from_config(&config, Timeouts::default()).expect("validator");
    let wrong = CredentialSet::new(CredentialProvider::Twilio)
        .with(SecretKind::TwilioAuthToken, WRONG_TOKEN)
        .expect("set");
    let err = msgops_credentials::rotate(&store, &audit, wrong, &validator)
        .await
        .expect_err("refused");
    assert_eq!(err.code(), CredentialErrorCode::ProviderRejected);
    assert!(err.to_string().contains("20003"), "{err}");
    assert!(!err.to_string().contains(WRONG_TOKEN));
    let kept = store
        .get_secret(SecretKind::TwilioAuthToken)
        .expect("read")
        .expect("still stored");
    assert_eq!(kept.expose_secret(), FAKE_TWILIO_TOKEN);

    // The right one is validated, stored, and the running chain uses it at once.
    let good = CredentialSet::new(CredentialProvider::Twilio)
        .with(SecretKind::TwilioAuthToken, NEW_TOKEN)
        .expect("set");
    msgops_credentials::rotate(&store, &audit, good, &validator)
        .await
        .expect("rotated");
    reinstall(CredentialProvider::Twilio, &messaging, &config, &store).await;
    assert_eq!(
        messaging.sms.breaker(&twilio_id).map(|b| b.state()),
        Some(BreakerState::Closed)
    );
    let next = messaging.sms.send(&otp_sms("222222")).await;
    assert_eq!(
        next.outcome.delivered_by(),
        Some(&twilio_id),
        "{:?}",
        next.outcome
    );

    let seen: Vec<String> = twilio
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        seen,
        vec![
            basic(FAKE_TWILIO_SID, FAKE_TWILIO_TOKEN),
            basic(FAKE_TWILIO_SID, WRONG_TOKEN),
            basic(FAKE_TWILIO_SID, NEW_TOKEN),
            basic(FAKE_TWILIO_SID, NEW_TOKEN),
        ]
    );
    let entries = audit.read_all().expect("audit");
    assert!(
        entries.len() >= 2,
        "failed validation and rotation are audited: {entries:?}"
    );
}
