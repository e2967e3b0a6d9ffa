//! Rotation against a scripted provider API on 127.0.0.1:0: new credentials are stored only
//! when the provider accepts them; otherwise the old ones stay and the error says what the
//! provider said.

mod common;

use common::*;
use msgops_credentials::audit::{AuditAction, AuditOutcome};
use msgops_credentials::{
    remove_provider, rotate, AuditLog, CredentialErrorCode, CredentialProvider, CredentialSet,
    CredentialStoreExt, ExposeSecret, HttpValidator, MemoryStore, SecretKind, SecretString,
};

fn seeded_store() -> MemoryStore {
    let store = MemoryStore::new();
    for (kind, value) in [
        (SecretKind::TwilioAccountSid, FAKE_SID),
        (SecretKind::TwilioAuthToken, OLD_TOKEN),
        (SecretKind::SendgridApiKey, SENDGRID_OLD),
    ] {
        store
            .set_secret(kind, &SecretString::from(value))
            .expect("seed");
    }
    store
}

fn validator(api: &FakeProviderApi) -> HttpValidator {
    HttpValidator::new()
        .expect("client")
        .with_twilio_base_url(&api.base_url)
        .with_sendgrid_base_url(format!("{}/v3", api.base_url))
}

fn stored(store: &MemoryStore, kind: SecretKind) -> String {
    store
        .get_secret(kind)
        .expect("get")
        .expect("stored")
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn a_twilio_token_that_twilio_accepts_replaces_the_old_one() {
    let api = fake_provider_api().await;
    let store = seeded_store();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let new = CredentialSet::new(CredentialProvider::Twilio)
        .with(SecretKind::TwilioAuthToken, NEW_TOKEN)
        .expect("set");

    let report = rotate(&store, &audit, new, &validator(&api))
        .await
        .expect("rotate");

    assert_eq!(report.replaced, vec![SecretKind::TwilioAuthToken]);
    assert_eq!(stored(&store, SecretKind::TwilioAuthToken), NEW_TOKEN);
    assert_eq!(stored(&store, SecretKind::TwilioAccountSid), FAKE_SID);
    let seen = api.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].request_line,
        format!("GET /2010-04-01/Accounts/{FAKE_SID}.json HTTP/1.1")
    );
    let entries = audit.read_all().expect("audit");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, AuditAction::Rotate);
    assert_eq!(entries[0].outcome, AuditOutcome::Success);
    assert_eq!(entries[0].provider, Some(CredentialProvider::Twilio));
}

#[tokio::test]
async fn a_twilio_token_refused_with_20003_is_not_stored_and_the_old_one_stays() {
    let api = fake_provider_api().await;
    let store = seeded_store();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let new = CredentialSet::new(CredentialProvider::Twilio)
        .with(SecretKind::TwilioAuthToken, BAD_TOKEN)
        .expect("set");

    let err = rotate(&store, &audit, new, &validator(&api))
        .await
        .expect_err("refused");

    assert_eq!(err.code(), CredentialErrorCode::ProviderRejected);
    let message = err.to_string();
    assert!(
        message.contains("HTTP 401, Twilio error 20003: Authenticate"),
        "{message}"
    );
    assert!(
        message.contains("previous credentials are unchanged"),
        "{message}"
    );
    assert_eq!(stored(&store, SecretKind::TwilioAuthToken), OLD_TOKEN);
    let entries = audit.read_all().expect("audit");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, AuditAction::ValidationFailed);
    assert_eq!(entries[0].outcome, AuditOutcome::Failure);
    assert!(entries[0].message.contains("20003"));
}

#[tokio::test]
async fn a_sendgrid_key_without_mail_send_is_refused_and_a_good_one_stored() {
    let api = fake_provider_api().await;
    let store = seeded_store();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));

    let no_scope = CredentialSet::new(CredentialProvider::Sendgrid)
        .with(SecretKind::SendgridApiKey, SENDGRID_NO_SCOPE)
        .expect("set");
    let err = rotate(&store, &audit, no_scope, &validator(&api))
        .await
        .expect_err("scope");
    assert_eq!(err.code(), CredentialErrorCode::ProviderRejected);
    assert!(err.to_string().contains("mail.send"), "{err}");
    assert_eq!(stored(&store, SecretKind::SendgridApiKey), SENDGRID_OLD);

    let unknown = CredentialSet::new(CredentialProvider::Sendgrid)
        .with(SecretKind::SendgridApiKey, "SG.test-unknown-not-real")
        .expect("set");
    let err = rotate(&store, &audit, unknown, &validator(&api))
        .await
        .expect_err("401");
    assert!(
        err.to_string().contains("HTTP 401: authorization required"),
        "{err}"
    );

    let good = CredentialSet::new(CredentialProvider::Sendgrid)
        .with(SecretKind::SendgridApiKey, SENDGRID_NEW)
        .expect("set");
    rotate(&store, &audit, good, &validator(&api))
        .await
        .expect("rotate");
    assert_eq!(stored(&store, SecretKind::SendgridApiKey), SENDGRID_NEW);
    assert_eq!(audit.read_all().expect("audit").len(), 3);
}

#[tokio::test]
async fn an_unreachable_provider_keeps_the_old_credentials() {
    // Bind and drop a listener: nothing answers on that port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let store = seeded_store();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let validator = HttpValidator::new()
        .expect("client")
        .with_twilio_base_url(format!("http://127.0.0.1:{port}"));
    let new = CredentialSet::new(CredentialProvider::Twilio)
        .with(SecretKind::TwilioAuthToken, NEW_TOKEN)
        .expect("set");
    let err = rotate(&store, &audit, new, &validator)
        .await
        .expect_err("unreachable");
    assert_eq!(err.code(), CredentialErrorCode::ProviderUnreachable);
    assert!(
        !err.to_string().contains(FAKE_SID),
        "URL with the SID leaked: {err}"
    );
    assert_eq!(stored(&store, SecretKind::TwilioAuthToken), OLD_TOKEN);
}

#[tokio::test]
async fn rotating_without_the_rest_of_the_set_stored_asks_for_it() {
    let api = fake_provider_api().await;
    let store = MemoryStore::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let new = CredentialSet::new(CredentialProvider::Twilio)
        .with(SecretKind::TwilioAuthToken, NEW_TOKEN)
        .expect("set");
    let err = rotate(&store, &audit, new, &validator(&api))
        .await
        .expect_err("incomplete");
    assert_eq!(err.code(), CredentialErrorCode::Validation);
    assert!(
        err.to_string().contains("Twilio account SID is not stored"),
        "{err}"
    );
    assert!(
        api.seen.lock().expect("lock").is_empty(),
        "nothing sent to the provider"
    );
}

#[test]
fn credential_sets_refuse_other_providers_values_and_empty_values() {
    let set = CredentialSet::new(CredentialProvider::Twilio);
    assert!(set.with(SecretKind::SendgridApiKey, SENDGRID_NEW).is_err());
    let set = CredentialSet::new(CredentialProvider::Twilio);
    assert!(set.with(SecretKind::TwilioAuthToken, "  \n").is_err());
}

#[test]
fn remove_deletes_only_that_providers_secrets_and_is_audited() {
    let store = seeded_store();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let removed = remove_provider(&store, &audit, CredentialProvider::Twilio).expect("remove");
    assert_eq!(
        removed,
        vec![SecretKind::TwilioAccountSid, SecretKind::TwilioAuthToken]
    );
    assert!(store
        .get_secret(SecretKind::TwilioAuthToken)
        .expect("get")
        .is_none());
    assert_eq!(stored(&store, SecretKind::SendgridApiKey), SENDGRID_OLD);
    let again = remove_provider(&store, &audit, CredentialProvider::Twilio).expect("again");
    assert!(again.is_empty());
    let entries = audit.read_all().expect("audit");
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.action == AuditAction::Remove));
}
