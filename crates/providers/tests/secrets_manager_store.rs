//! The AWS Secrets Manager credential store against moto's server (the real peer), read back
//! with the AWS SDK the way an operator's tools would: one secret per provider holding a JSON
//! object, each change a new version (`AWSCURRENT` moves, `AWSPREVIOUS` keeps the one before),
//! a rotation one version, the last value's removal a scheduled deletion, and failures mapped
//! to the store's error codes without a secret in them.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::start_moto;
use msgops_credentials::{
    check_keychain, rotate, AuditLog, CredentialErrorCode, CredentialProvider, CredentialSet,
    CredentialStore, CredentialStoreExt, CredentialValidator, ExposeSecret, SecretKind,
    SecretString, ValidationFailure,
};
use msgops_providers::secrets_manager::sdk;
use msgops_providers::{SecretsManagerSettings, SecretsManagerStore, Timeouts};
use serde_json::Value;

const SID: &str = "ACsm00000000000000000000000000sid1";
const OLD: &str = "old-token-sm-000000000000000000aa";
const NEW: &str = "new-token-sm-000000000000000000bb";

/// The store takes its AWS credentials from the SDK's default chain: here, the environment.
fn aws_environment() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("AWS_PROFILE");
    });
}

fn settings(endpoint: &str, prefix: &str) -> SecretsManagerSettings {
    SecretsManagerSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.into()),
        secret_prefix: prefix.into(),
        timeouts: Timeouts::default(),
    }
}

fn admin(endpoint: &str) -> sdk::Client {
    sdk::Client::from_conf(
        sdk::config::Builder::new()
            .behavior_version(sdk::config::BehaviorVersion::latest())
            .region(sdk::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(sdk::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .build(),
    )
}

/// `AWSCURRENT`'s object and the stages of every version, as the SDK sees them.
struct Seen {
    current: BTreeMap<String, String>,
    previous: Option<BTreeMap<String, String>>,
    /// Version id → stages.
    versions: BTreeMap<String, Vec<String>>,
}

async fn object(admin: &sdk::Client, name: &str, stage: &str) -> Option<BTreeMap<String, String>> {
    let out = admin
        .get_secret_value()
        .secret_id(name)
        .version_stage(stage)
        .send()
        .await
        .ok()?;
    let value: Value = serde_json::from_str(out.secret_string()?).expect("JSON");
    Some(
        value
            .as_object()
            .expect("an object")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("text").to_owned()))
            .collect(),
    )
}

async fn seen(admin: &sdk::Client, name: &str) -> Seen {
    let versions = admin
        .list_secret_version_ids()
        .secret_id(name)
        .send()
        .await
        .expect("versions");
    Seen {
        current: object(admin, name, "AWSCURRENT").await.expect("AWSCURRENT"),
        previous: object(admin, name, "AWSPREVIOUS").await,
        versions: versions
            .versions()
            .iter()
            .map(|v| {
                (
                    v.version_id().unwrap_or_default().to_owned(),
                    v.version_stages().to_vec(),
                )
            })
            .collect(),
    }
}

fn current_version(seen: &Seen) -> String {
    seen.versions
        .iter()
        .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
        .map(|(id, _)| id.clone())
        .expect("a current version")
}

fn text(store: &dyn CredentialStore, kind: SecretKind) -> Option<String> {
    store
        .get_secret(kind)
        .expect("read")
        .map(|v| v.expose_secret().to_owned())
}

/// Twilio as the validator of a rotation: says yes.
struct Accepts;

#[async_trait::async_trait]
impl CredentialValidator for Accepts {
    async fn validate(&self, _: &CredentialSet) -> Result<(), ValidationFailure> {
        Ok(())
    }
}

#[test]
fn values_live_in_one_json_secret_per_provider_and_each_change_is_a_version() {
    aws_environment();
    let moto = peer_or_skip!(start_moto());
    let url = moto.url();
    let store = SecretsManagerStore::open(settings(&url, "msgops/")).expect("open");
    let admin = admin(&url);
    // The trait blocks; here it is called from a current-thread runtime's only thread, as the
    // CLI's rotate does, and the SDK check runs beside it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::in_dir(dir.path());

    // Nothing yet: absent, not an error; the check writes nothing.
    assert_eq!(text(&store, SecretKind::TwilioAuthToken), None);
    let health = check_keychain(&store);
    assert!(health.ok, "{health:?}");
    assert!(
        health.message.contains("AWS Secrets Manager"),
        "{}",
        health.message
    );
    let listed = rt
        .block_on(admin.list_secrets().send())
        .expect("list")
        .secret_list()
        .len();
    assert_eq!(listed, 0, "the check created no secret");

    // The first value creates msgops/twilio.
    store
        .set_secret(SecretKind::TwilioAccountSid, &SecretString::from(SID))
        .expect("sid");
    let first = rt.block_on(seen(&admin, "msgops/twilio"));
    assert_eq!(
        first.current,
        BTreeMap::from([("twilio.account_sid".into(), SID.into())])
    );
    assert_eq!(first.versions.len(), 1);

    // The second value: a new version with both, AWSPREVIOUS the one before.
    store
        .set_secret(SecretKind::TwilioAuthToken, &SecretString::from(OLD))
        .expect("token");
    let second = rt.block_on(seen(&admin, "msgops/twilio"));
    assert_eq!(second.current.len(), 2);
    assert_eq!(second.current["twilio.auth_token"], OLD);
    assert_eq!(second.previous.as_ref(), Some(&first.current));
    assert_eq!(
        text(&store, SecretKind::TwilioAuthToken).as_deref(),
        Some(OLD)
    );

    // Writing what is already there makes no version.
    store
        .set_secret(SecretKind::TwilioAuthToken, &SecretString::from(OLD))
        .expect("same token");
    assert_eq!(rt.block_on(seen(&admin, "msgops/twilio")).versions.len(), 2);

    // Another provider is another secret.
    store
        .set_secret(
            SecretKind::SendgridApiKey,
            &SecretString::from("SG.sm-test-key"),
        )
        .expect("sendgrid");
    assert_eq!(
        rt.block_on(seen(&admin, "msgops/sendgrid")).current["sendgrid.api_key"],
        "SG.sm-test-key"
    );

    // A validated rotation is one version: AWSCURRENT holds the new token (and the replaced
    // one as the previous token for webhooks), AWSPREVIOUS the whole set as it was.
    let before = rt.block_on(seen(&admin, "msgops/twilio"));
    let new = CredentialSet::new(CredentialProvider::Twilio)
        .with(SecretKind::TwilioAuthToken, NEW)
        .expect("set");
    let report = rt
        .block_on(rotate(&store, &audit, new, &Accepts))
        .expect("rotated");
    assert_eq!(report.replaced, [SecretKind::TwilioAuthToken]);
    let after = rt.block_on(seen(&admin, "msgops/twilio"));
    assert_eq!(
        after.versions.len(),
        before.versions.len() + 1,
        "one version"
    );
    assert_ne!(
        current_version(&after),
        current_version(&before),
        "AWSCURRENT moved"
    );
    assert_eq!(
        after.previous.as_ref(),
        Some(&before.current),
        "AWSPREVIOUS kept"
    );
    assert_eq!(after.current["twilio.auth_token"], NEW);
    assert_eq!(after.current["twilio.account_sid"], SID);
    assert!(
        after.current["twilio.auth_token.previous"].ends_with(&format!(":{OLD}")),
        "the replaced token is kept for the webhooks' grace period"
    );
    assert_eq!(
        text(&store, SecretKind::TwilioAuthToken).as_deref(),
        Some(NEW)
    );

    // Removing the provider deletes the secret, with a recovery window, not at once.
    let removed = msgops_credentials::remove_provider(&store, &audit, CredentialProvider::Twilio)
        .expect("removed");
    assert_eq!(removed.len(), 2);
    let described = rt
        .block_on(admin.describe_secret().secret_id("msgops/twilio").send())
        .expect("still described during its recovery window");
    assert!(described.deleted_date().is_some(), "scheduled for deletion");
    assert_eq!(text(&store, SecretKind::TwilioAuthToken), None);
    assert_eq!(text(&store, SecretKind::TwilioAccountSid), None);

    // Stored again: the secret is restored with a fresh object (the removed values stay gone).
    store
        .set_secret(SecretKind::TwilioAccountSid, &SecretString::from(SID))
        .expect("again");
    let again = rt.block_on(seen(&admin, "msgops/twilio"));
    assert_eq!(
        again.current,
        BTreeMap::from([("twilio.account_sid".into(), SID.into())])
    );
    let described = rt
        .block_on(admin.describe_secret().secret_id("msgops/twilio").send())
        .expect("described");
    assert!(described.deleted_date().is_none(), "restored");

    // Deleting what is not there is "not there", not an error.
    assert!(!store
        .delete_secret(SecretKind::SmtpPassword)
        .expect("absent"));

    // No secret in what the store says about itself.
    let said = format!("{store:?} {}", store.describe());
    for secret in [SID, OLD, NEW, "SG.sm-test-key"] {
        assert!(!said.contains(secret), "{said}");
    }
}

#[test]
fn a_secret_that_is_not_msgops_json_is_refused_without_quoting_it_and_left_alone() {
    aws_environment();
    let moto = peer_or_skip!(start_moto());
    let url = moto.url();
    let admin = admin(&url);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(
        admin
            .create_secret()
            .name("ops/smtp")
            .secret_string("hunter2-plain-text")
            .send(),
    )
    .expect("created by hand");
    let store = SecretsManagerStore::open(settings(&url, "ops/")).expect("open");
    let err = store
        .get_secret(SecretKind::SmtpPassword)
        .expect_err("not JSON");
    assert_eq!(err.code(), CredentialErrorCode::Validation);
    let err2 = store
        .set_secret(SecretKind::SmtpPassword, &SecretString::from("pw-new-0001"))
        .expect_err("not written over");
    for e in [&err, &err2] {
        let said = format!("{e} {e:?}");
        assert!(said.contains("ops/smtp"), "{said}");
        assert!(
            !said.contains("hunter2") && !said.contains("pw-new"),
            "{said}"
        );
    }
    let versions = rt
        .block_on(admin.list_secret_version_ids().secret_id("ops/smtp").send())
        .expect("versions");
    assert_eq!(versions.versions().len(), 1, "nothing was written");
}

#[test]
fn an_unreachable_or_silent_endpoint_is_store_unavailable_within_the_timeouts() {
    aws_environment();
    // Nothing listens: refused at once.
    let closed = format!("http://127.0.0.1:{}", common::free_port());
    let store = SecretsManagerStore::open(settings(&closed, "msgops/")).expect("open");
    let err = store
        .set_secret(
            SecretKind::SendgridApiKey,
            &SecretString::from("SG.never-sent-0001"),
        )
        .expect_err("unreachable");
    assert_eq!(
        err.code(),
        CredentialErrorCode::KeychainUnavailable,
        "{err}"
    );
    let said = err.to_string();
    assert!(said.starts_with("AWS Secrets Manager"), "{said}");
    assert!(said.contains("endpoint_url"), "{said}");
    assert!(!said.contains("SG.never-sent"), "{said}");
    let health = check_keychain(&store);
    assert!(!health.ok);
    assert_eq!(health.code, Some(CredentialErrorCode::KeychainUnavailable));

    // Accepts the connection, never answers: the operation timeout ends it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept() {
            open.push(socket);
            if open.len() >= 4 {
                break;
            }
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let mut s = settings(&url, "msgops/");
    s.timeouts = Timeouts {
        connect: Duration::from_millis(500),
        request: Duration::from_secs(1),
    };
    let store = SecretsManagerStore::open(s).expect("open");
    let started = Instant::now();
    let err = store
        .get_secret(SecretKind::TwilioAuthToken)
        .expect_err("no answer");
    assert_eq!(
        err.code(),
        CredentialErrorCode::KeychainUnavailable,
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("in time"), "{err}");
    drop(held);
}
