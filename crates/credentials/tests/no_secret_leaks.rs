//! Every log line, returned value (Debug and JSON), error and audit record produced during an
//! import and rotations is searched for the secret values: none may appear.

mod common;

use common::*;
use msgops_credentials::{
    apply_import, credential_statuses, preview_import, rotate, AuditLog, CredentialProvider,
    CredentialSet, HttpValidator, ImportOptions, MemoryStore, SecretKind,
};

#[tokio::test(flavor = "current_thread")]
async fn no_secret_appears_in_logs_values_errors_or_audit_during_import_and_rotation() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let api = fake_provider_api().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let env = dir.path().join(".env");
    std::fs::write(
        &env,
        format!(
            "AWS_ACCESS_KEY_ID={AWS_KEY_ID}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n\
             TWILIO_ACCOUNT_SID={FAKE_SID}\nTWILIO_AUTH_TOKEN={OLD_TOKEN}\n\
             SENDGRID_API_KEY={SENDGRID_OLD}\nSMTP_PASSWORD={SMTP_PASSWORD}\n\
             SMTP_PASSWORD=\"{SMTP_PASSWORD}\" broken\nTWILIO_AUTH_TOKEN='{NEW_TOKEN}\n"
        ),
    )
    .expect("write");
    let store = MemoryStore::new();
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let mut seen = String::new();

    let plan = preview_import(&env, Some(&store)).expect("preview");
    seen.push_str(&format!("{plan:?}\n"));
    seen.push_str(&serde_json::to_string(&plan.preview).expect("json"));
    let report = apply_import(
        &store,
        &audit,
        &plan,
        &ImportOptions {
            rewrite: true,
            ..ImportOptions::default()
        },
    )
    .expect("import");
    seen.push_str(&format!(
        "{report:?}\n{}\n",
        serde_json::to_string(&report).expect("json")
    ));

    let validator = HttpValidator::new()
        .expect("client")
        .with_twilio_base_url(&api.base_url)
        .with_sendgrid_base_url(format!("{}/v3", api.base_url));
    let good = CredentialSet::new(CredentialProvider::Twilio)
        .with(SecretKind::TwilioAuthToken, NEW_TOKEN)
        .expect("set");
    seen.push_str(&format!("{good:?}\n"));
    let ok = rotate(&store, &audit, good, &validator)
        .await
        .expect("rotate");
    seen.push_str(&format!(
        "{ok:?}\n{}\n",
        serde_json::to_string(&ok).expect("json")
    ));
    let bad = CredentialSet::new(CredentialProvider::Twilio)
        .with(SecretKind::TwilioAuthToken, BAD_TOKEN)
        .expect("set");
    let err = rotate(&store, &audit, bad, &validator)
        .await
        .expect_err("refused");
    seen.push_str(&format!(
        "{err}\n{err:?}\n{}\n",
        serde_json::to_string(&err).expect("json")
    ));
    let bad_key = CredentialSet::new(CredentialProvider::Sendgrid)
        .with(SecretKind::SendgridApiKey, SENDGRID_NO_SCOPE)
        .expect("set");
    let err = rotate(&store, &audit, bad_key, &validator)
        .await
        .expect_err("scope");
    seen.push_str(&format!("{err}\n{err:?}\n"));
    let statuses = credential_statuses(&store, &[]).expect("status");
    seen.push_str(&format!(
        "{statuses:?}\n{}\n",
        serde_json::to_string(&statuses).expect("json")
    ));

    let audit_text = std::fs::read_to_string(audit.path()).expect("audit");
    let env_text = std::fs::read_to_string(&env).expect("env");
    let secrets = [
        AWS_KEY_ID,
        AWS_SECRET,
        FAKE_SID,
        OLD_TOKEN,
        NEW_TOKEN,
        BAD_TOKEN,
        SENDGRID_OLD,
        SENDGRID_NO_SCOPE,
        SMTP_PASSWORD,
    ];
    let log_text = logs.text();
    assert!(
        !log_text.is_empty(),
        "the capture must actually see log lines"
    );
    assert_no_secret_in(&log_text, &secrets, "the log");
    assert_no_secret_in(&seen, &secrets, "a returned value or error");
    assert_no_secret_in(&audit_text, &secrets, "the audit trail");
    // The malformed lines (7, 8) stay in the file on purpose: they are reported, never lost.
    let env_secret_lines: Vec<&str> = env_text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(env_secret_lines.len(), 2, "{env_text}");
}
