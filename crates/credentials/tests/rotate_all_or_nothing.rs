//! A rotation the provider accepted but the keychain failed to store half-way leaves the old
//! values in place (or says exactly which it could not put back), and a retry completes.

mod common;

use common::failing_store::{keychain, FailingStore};
use common::*;
use msgops_credentials::{
    rotate, AuditLog, CredentialErrorCode, CredentialProvider, CredentialSet, CredentialStoreExt,
    CredentialValidator, SecretKind, SecretString, ValidationFailure,
};

const NEW_SID: &str = "ACtest0000000000000000000000sid02";

/// Says yes to everything: the failures here are the keychain's.
struct AcceptAll;

#[async_trait::async_trait]
impl CredentialValidator for AcceptAll {
    async fn validate(&self, _: &CredentialSet) -> Result<(), ValidationFailure> {
        Ok(())
    }
}

fn seeded() -> FailingStore {
    let store = FailingStore::default();
    store
        .set_secret(SecretKind::TwilioAccountSid, &SecretString::from(FAKE_SID))
        .expect("seed");
    store
        .set_secret(SecretKind::TwilioAuthToken, &SecretString::from(OLD_TOKEN))
        .expect("seed");
    store.heal();
    store
}

fn new_values() -> CredentialSet {
    CredentialSet::new(CredentialProvider::Twilio)
        .with(SecretKind::TwilioAccountSid, NEW_SID)
        .and_then(|s| s.with(SecretKind::TwilioAuthToken, NEW_TOKEN))
        .expect("set")
}

#[tokio::test]
async fn a_second_write_failing_puts_the_first_back_and_a_retry_rotates_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let store = seeded();
    let before = keychain(&store);
    store.fail_on_set(2);
    let err = rotate(&store, &audit, new_values(), &AcceptAll)
        .await
        .expect_err("second write fails");
    assert_eq!(err.code(), CredentialErrorCode::KeychainRefused);
    let message = err.to_string();
    assert!(
        message.contains("accepted the new values, but storing TWILIO_AUTH_TOKEN failed")
            && message.contains("the keychain holds its previous values again"),
        "{message}"
    );
    assert_eq!(keychain(&store), before, "the old SID is back");
    let audit_text = std::fs::read_to_string(audit.path()).expect("audit");
    assert!(audit_text.contains("put back"), "{audit_text}");
    assert_no_secret_in(
        &audit_text,
        &[NEW_SID, NEW_TOKEN, OLD_TOKEN],
        "the audit trail",
    );

    store.heal();
    let report = rotate(&store, &audit, new_values(), &AcceptAll)
        .await
        .expect("retry");
    assert_eq!(report.replaced.len(), 2);
    let after = keychain(&store);
    assert_eq!(
        after.get(&SecretKind::TwilioAuthToken).map(String::as_str),
        Some(NEW_TOKEN)
    );
    assert_eq!(
        after.get(&SecretKind::TwilioAccountSid).map(String::as_str),
        Some(NEW_SID)
    );
}

#[tokio::test]
async fn a_keychain_that_stops_taking_writes_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let store = seeded();
    store.fail_from_set(2);
    let err = rotate(&store, &audit, new_values(), &AcceptAll)
        .await
        .expect_err("keychain broken");
    let message = err.to_string();
    assert!(
        message.contains("the previous keychain value of TWILIO_ACCOUNT_SID")
            && message.contains("could not be put back"),
        "{message}"
    );
    assert_eq!(
        keychain(&store.inner)
            .get(&SecretKind::TwilioAccountSid)
            .map(String::as_str),
        Some(NEW_SID),
        "as the error says"
    );
}
