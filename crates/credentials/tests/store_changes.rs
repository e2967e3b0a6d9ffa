//! What a rotation asks of the store, whichever store it is: all new values (and the replaced
//! Twilio token kept for the webhooks) as one [`CredentialStore::set_many`] change, so that a
//! versioned store (AWS Secrets Manager) makes one version of a rotation; a failed rotation
//! leaves no trace of the kept token; and a read-only store (systemd credentials) is refused
//! before the provider is asked.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use msgops_credentials::{
    rotate, AuditLog, AuditOutcome, CredentialError, CredentialErrorCode, CredentialProvider,
    CredentialSet, CredentialStore, CredentialStoreExt, CredentialValidator, ExposeSecret,
    MemoryStore, SecretKind, SecretString, SystemdCredsStore, ValidationFailure,
    TWILIO_PREVIOUS_TOKEN_ACCOUNT,
};

const SID: &str = "ACchanges0000000000000000000000sid";
const OLD: &str = "old-token-changes-00000000000000aa";
const NEW: &str = "new-token-changes-00000000000000bb";

/// A memory store that records each change (the accounts of each `set_many`, or of a lone
/// `set`), and can make the token read back wrong once.
#[derive(Debug, Default)]
struct Recording {
    inner: MemoryStore,
    changes: Mutex<Vec<Vec<String>>>,
    garble_next_token_read: AtomicBool,
}

impl CredentialStore for Recording {
    fn get(&self, account: &str) -> msgops_credentials::Result<Option<SecretString>> {
        if account == SecretKind::TwilioAuthToken.account()
            && self.garble_next_token_read.swap(false, Ordering::SeqCst)
        {
            return Ok(Some(SecretString::from("not-what-was-written")));
        }
        self.inner.get(account)
    }
    fn set(&self, account: &str, value: &SecretString) -> msgops_credentials::Result<()> {
        self.changes
            .lock()
            .expect("log")
            .push(vec![account.to_owned()]);
        self.inner.set(account, value)
    }
    fn delete(&self, account: &str) -> msgops_credentials::Result<bool> {
        self.inner.delete(account)
    }
    fn describe(&self) -> String {
        "recording test store".into()
    }
    fn is_persistent(&self) -> bool {
        false
    }
    fn set_many(&self, entries: &[(&str, &SecretString)]) -> Result<(), (usize, CredentialError)> {
        self.changes
            .lock()
            .expect("log")
            .push(entries.iter().map(|(a, _)| (*a).to_owned()).collect());
        for (i, (account, value)) in entries.iter().enumerate() {
            self.inner.set(account, value).map_err(|e| (i, e))?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Accepts {
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl CredentialValidator for Accepts {
    async fn validate(&self, _: &CredentialSet) -> Result<(), ValidationFailure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn seeded() -> Recording {
    let store = Recording::default();
    store
        .inner
        .set_secret(SecretKind::TwilioAccountSid, &SecretString::from(SID))
        .expect("sid");
    store
        .inner
        .set_secret(SecretKind::TwilioAuthToken, &SecretString::from(OLD))
        .expect("token");
    store
}

fn new_token() -> CredentialSet {
    CredentialSet::new(CredentialProvider::Twilio)
        .with(SecretKind::TwilioAuthToken, NEW)
        .expect("set")
}

#[tokio::test]
async fn a_rotation_is_one_change_with_the_replaced_token_kept_in_it() {
    let store = seeded();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::in_dir(dir.path());
    rotate(&store, &audit, new_token(), &Accepts::default())
        .await
        .expect("rotated");
    assert_eq!(
        *store.changes.lock().expect("log"),
        [vec![
            "twilio.auth_token".to_owned(),
            TWILIO_PREVIOUS_TOKEN_ACCOUNT.to_owned()
        ]],
        "one change"
    );
    let kept = store
        .inner
        .get(TWILIO_PREVIOUS_TOKEN_ACCOUNT)
        .expect("read")
        .expect("kept");
    assert!(kept.expose_secret().ends_with(&format!(":{OLD}")));
}

#[tokio::test]
async fn a_rotation_that_fails_after_writing_leaves_no_kept_token_behind() {
    let store = seeded();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::in_dir(dir.path());
    // The read-back after the write is what fails (the first token read is the rotation's
    // own look at the current value, so arm the garbling after it).
    struct ArmThenAccept<'a>(&'a Recording);
    #[async_trait::async_trait]
    impl CredentialValidator for ArmThenAccept<'_> {
        async fn validate(&self, _: &CredentialSet) -> Result<(), ValidationFailure> {
            self.0.garble_next_token_read.store(true, Ordering::SeqCst);
            Ok(())
        }
    }
    let err = rotate(&store, &audit, new_token(), &ArmThenAccept(&store))
        .await
        .expect_err("read back differs");
    assert_eq!(err.code(), CredentialErrorCode::KeychainRefused, "{err}");
    assert!(
        err.to_string().contains("holds its previous values again"),
        "{err}"
    );
    assert_eq!(
        store
            .inner
            .get_secret(SecretKind::TwilioAuthToken)
            .expect("read")
            .map(|t| t.expose_secret().to_owned())
            .as_deref(),
        Some(OLD)
    );
    assert!(
        store
            .inner
            .get(TWILIO_PREVIOUS_TOKEN_ACCOUNT)
            .expect("read")
            .is_none(),
        "no kept token after an undone rotation"
    );
}

#[tokio::test]
async fn a_read_only_store_is_refused_before_the_provider_is_asked_and_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("twilio.account_sid"), SID).expect("sid");
    std::fs::write(dir.path().join("twilio.auth_token"), OLD).expect("token");
    let store = SystemdCredsStore::open_dir(dir.path()).expect("open");
    let audit_dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::in_dir(audit_dir.path());
    let validator = Accepts::default();
    let err = rotate(&store, &audit, new_token(), &validator)
        .await
        .expect_err("read-only");
    assert_eq!(err.code(), CredentialErrorCode::KeychainRefused);
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert_eq!(
        validator.calls.load(Ordering::SeqCst),
        0,
        "Twilio not asked"
    );
    let err = msgops_credentials::remove_provider(&store, &audit, CredentialProvider::Twilio)
        .expect_err("read-only");
    assert!(err.to_string().contains("systemd-creds encrypt"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("twilio.auth_token")).expect("file"),
        OLD
    );
    let entries = audit.read_all().expect("audit");
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.outcome == AuditOutcome::Failure));
    for e in &entries {
        assert!(
            !e.message.contains(OLD) && !e.message.contains(NEW),
            "{e:?}"
        );
    }
}
