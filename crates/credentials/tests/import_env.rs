//! Import of real-looking `.env` files into an in-memory store.

mod common;

use chrono::TimeZone;
use common::*;
use msgops_credentials::import::{apply_import_with_hook, KeychainComparison};
use msgops_credentials::{
    apply_import, preview_import, AuditLog, CredentialErrorCode, CredentialStore,
    CredentialStoreExt, ExposeSecret, ImportOptions, MemoryStore, SecretKind, SecretString,
};

/// A backend `.env` as seen in the wild: CRLF, `export`, quotes, comments, a blank secret,
/// a duplicate, an unknown variable, malformed lines and a Latin-1 byte in a comment.
fn sample_env() -> Vec<u8> {
    let mut env = Vec::new();
    for line in [
        b"# Backend configuration \xff".to_vec(),
        b"APP_NAME=otp-backend".to_vec(),
        b"export AWS_ACCESS_KEY_ID=AKIAEXAMPLE-TEST-KEY-ID".to_vec(),
        b"AWS_SECRET_ACCESS_KEY=\"aws-secret-test-value-not-real-0000\"".to_vec(),
        b"AWS_REGION=us-east-1".to_vec(),
        b"TWILIO_ACCOUNT_SID='ACtest0000000000000000000000sid01'".to_vec(),
        b"TWILIO_AUTH_TOKEN=oldtoken-test-0000000000000000aa # expired?".to_vec(),
        b"TWILIO_PHONE_NUMBER=+14165550100".to_vec(),
        b"SENDGRID_API_KEY=".to_vec(),
        b"SMTP_HOST=smtp.gmail.com".to_vec(),
        b"SMTP_PORT=587".to_vec(),
        b"SMTP_USERNAME=alerts@example.com".to_vec(),
        b"SMTP_PASSWORD=first-password-test".to_vec(),
        b"SMTP_PASSWORD=smtp-app-password-test-0000".to_vec(),
        b"SMTP_FROM_EMAIL=\"Example <alerts@example.com>\"".to_vec(),
        b"this line is not an assignment".to_vec(),
        b"FEATURE_\xe9=1".to_vec(),
        b"".to_vec(),
        b"DEBUG=true # trailing".to_vec(),
    ] {
        env.extend_from_slice(&line);
        env.extend_from_slice(b"\r\n");
    }
    env
}

fn write_env(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(".env");
    std::fs::write(&path, bytes).expect("write .env");
    (dir, path)
}

fn options(rewrite: bool) -> ImportOptions {
    ImportOptions {
        rewrite,
        replace_existing: false,
        now: chrono::Utc
            .with_ymd_and_hms(2026, 4, 3, 12, 0, 0)
            .single()
            .expect("date"),
    }
}

fn split(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split(|&b| b == b'\n').collect()
}

#[test]
fn preview_reports_secrets_settings_blanks_duplicates_unknown_and_malformed_by_line() {
    let (_dir, path) = write_env(&sample_env());
    let store = MemoryStore::new();
    let plan = preview_import(&path, Some(&store)).expect("preview");
    let p = &plan.preview;

    let secrets: Vec<(SecretKind, usize, &str)> = p
        .secrets
        .iter()
        .map(|s| (s.kind, s.line, s.masked.as_str()))
        .collect();
    assert_eq!(
        secrets,
        vec![
            (SecretKind::AwsAccessKeyId, 3, "••••••••Y-ID"),
            (SecretKind::AwsSecretAccessKey, 4, "••••••••0000"),
            (SecretKind::TwilioAccountSid, 6, "••••••••id01"),
            (SecretKind::TwilioAuthToken, 7, "••••••••00aa"),
            (SecretKind::SmtpPassword, 14, "••••••••0000"),
        ]
    );
    assert!(p
        .secrets
        .iter()
        .all(|s| s.keychain == KeychainComparison::Missing));

    let settings = &p.imported_settings;
    assert_eq!(settings.aws_region.as_deref(), Some("us-east-1"));
    assert_eq!(
        settings.twilio_phone_number.as_deref(),
        Some("+14165550100")
    );
    assert_eq!(settings.smtp_host.as_deref(), Some("smtp.gmail.com"));
    assert_eq!(settings.smtp_port, Some(587));
    assert_eq!(settings.smtp_user.as_deref(), Some("alerts@example.com"));
    assert_eq!(
        settings.smtp_from.as_deref(),
        Some("Example <alerts@example.com>")
    );

    assert_eq!(p.blank.len(), 1);
    assert_eq!(
        (p.blank[0].line, p.blank[0].name.as_str()),
        (9, "SENDGRID_API_KEY")
    );
    assert_eq!(p.duplicates.len(), 1);
    assert_eq!(p.duplicates[0].name, "SMTP_PASSWORD");
    assert_eq!(p.duplicates[0].lines, vec![13, 14]);
    assert_eq!(p.duplicates[0].used_line, 14);

    let unknown: Vec<(usize, &str)> = p
        .unknown
        .iter()
        .map(|u| (u.line, u.name.as_str()))
        .collect();
    assert_eq!(unknown, vec![(2, "APP_NAME"), (19, "DEBUG")]);
    let malformed: Vec<usize> = p.malformed.iter().map(|m| m.line).collect();
    assert_eq!(malformed, vec![16, 17], "{:?}", p.malformed);
}

#[test]
fn apply_stores_secrets_and_rewrite_keeps_every_other_line_byte_for_byte() {
    let original = sample_env();
    let (dir, path) = write_env(&original);
    let store = MemoryStore::new();
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let plan = preview_import(&path, Some(&store)).expect("preview");
    let report = apply_import(&store, &audit, &plan, &options(true)).expect("apply");

    assert_eq!(report.stored.len(), 5);
    assert!(report.rewritten);
    assert_eq!(report.removed_lines, vec![3, 4, 6, 7, 13, 14]);
    let smtp = store
        .get_secret(SecretKind::SmtpPassword)
        .expect("get")
        .expect("stored");
    assert_eq!(
        smtp.expose_secret(),
        SMTP_PASSWORD,
        "the last duplicate wins"
    );
    let token = store
        .get_secret(SecretKind::TwilioAuthToken)
        .expect("get")
        .expect("stored");
    assert_eq!(
        token.expose_secret(),
        OLD_TOKEN,
        "inline comment is not part of the value"
    );
    assert!(store
        .get_secret(SecretKind::SendgridApiKey)
        .expect("get")
        .is_none());

    let rewritten = std::fs::read(&path).expect("read");
    let (old_lines, new_lines) = (split(&original), split(&rewritten));
    assert_eq!(old_lines.len(), new_lines.len());
    for (index, (old, new)) in old_lines.iter().zip(&new_lines).enumerate() {
        let number = index + 1;
        if report.removed_lines.contains(&number) {
            let text = String::from_utf8_lossy(new);
            assert!(text.starts_with("# "), "line {number}: {text}");
            assert!(
                text.ends_with("by msgops on 2026-04-03\r"),
                "line {number}: {text}"
            );
        } else {
            assert_eq!(old, new, "line {number} must be unchanged");
        }
    }
    assert_eq!(
        new_lines[6],
        b"# TWILIO_AUTH_TOKEN moved to the OS keychain by msgops on 2026-04-03\r"
    );
    let text = String::from_utf8_lossy(&rewritten);
    for secret in [
        AWS_KEY_ID,
        AWS_SECRET,
        FAKE_SID,
        OLD_TOKEN,
        SMTP_PASSWORD,
        "first-password-test",
    ] {
        assert!(!text.contains(secret));
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "only .env and the audit log: {leftovers:?}"
    );
}

#[test]
fn importing_twice_is_harmless() {
    let (dir, path) = write_env(&sample_env());
    let store = MemoryStore::new();
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));

    // Without rewrite: the second run finds the same values, identical in the keychain.
    let plan = preview_import(&path, Some(&store)).expect("preview");
    apply_import(&store, &audit, &plan, &options(false)).expect("first");
    let again = preview_import(&path, Some(&store)).expect("preview again");
    assert!(again
        .preview
        .secrets
        .iter()
        .all(|s| s.keychain == KeychainComparison::Identical));
    let report = apply_import(&store, &audit, &again, &options(false)).expect("second");
    assert!(report.stored.is_empty());
    assert_eq!(report.unchanged.len(), 5);

    // With rewrite, then once more: nothing left to find, file untouched.
    let plan = preview_import(&path, Some(&store)).expect("preview");
    apply_import(&store, &audit, &plan, &options(true)).expect("rewrite");
    let after = std::fs::read(&path).expect("read");
    let third = preview_import(&path, Some(&store)).expect("preview third");
    assert!(!third.has_secrets());
    let report = apply_import(&store, &audit, &third, &options(true)).expect("third");
    assert!(!report.rewritten);
    assert_eq!(std::fs::read(&path).expect("read"), after);
    assert_eq!(store.accounts().len(), 5);
}

#[test]
fn interrupted_rewrite_leaves_the_original_file_intact() {
    let original = sample_env();
    let (dir, path) = write_env(&original);
    let store = MemoryStore::new();
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let plan = preview_import(&path, Some(&store)).expect("preview");
    let err = apply_import_with_hook(&store, &audit, &plan, &options(true), &mut |tmp| {
        assert!(
            tmp.exists(),
            "the new content is fully written before the rename"
        );
        Err(std::io::Error::other("power cut before rename"))
    })
    .expect_err("interrupted");
    assert_eq!(err.code(), CredentialErrorCode::Io);
    assert_eq!(std::fs::read(&path).expect("read"), original);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("msgops-env-rewrite")),
        "{names:?}"
    );
    let failures = audit.read_all().expect("audit");
    assert!(failures.iter().any(|e| e.message.contains("failed")));
}

#[test]
fn a_different_keychain_value_is_kept_and_its_env_line_too_unless_replacing() {
    let (dir, path) = write_env(b"TWILIO_AUTH_TOKEN=oldtoken-test-0000000000000000aa\nTWILIO_ACCOUNT_SID=ACtest0000000000000000000000sid01\n");
    let store = MemoryStore::new();
    store
        .set_secret(SecretKind::TwilioAuthToken, &SecretString::from(NEW_TOKEN))
        .expect("seed");
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let plan = preview_import(&path, Some(&store)).expect("preview");
    assert_eq!(
        plan.preview.secrets[1].keychain,
        KeychainComparison::Different
    );
    let report = apply_import(&store, &audit, &plan, &options(true)).expect("apply");
    assert_eq!(report.kept_existing, vec![SecretKind::TwilioAuthToken]);
    let kept = store
        .get_secret(SecretKind::TwilioAuthToken)
        .expect("get")
        .expect("some");
    assert_eq!(kept.expose_secret(), NEW_TOKEN);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.starts_with("TWILIO_AUTH_TOKEN=oldtoken"), "{text}");
    assert!(text.contains("# TWILIO_ACCOUNT_SID moved"), "{text}");

    let plan = preview_import(&path, Some(&store)).expect("preview");
    let replace = ImportOptions {
        replace_existing: true,
        ..options(true)
    };
    let report = apply_import(&store, &audit, &plan, &replace).expect("apply");
    assert_eq!(report.stored, vec![SecretKind::TwilioAuthToken]);
    let now = store
        .get_secret(SecretKind::TwilioAuthToken)
        .expect("get")
        .expect("some");
    assert_eq!(now.expose_secret(), OLD_TOKEN);
}

#[test]
fn locked_keychain_stops_the_import_and_the_env_keeps_its_secrets() {
    let original = sample_env();
    let (dir, path) = write_env(&original);
    let store = MemoryStore::new();
    store.fail_with(Some(CredentialErrorCode::KeychainLocked));
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let plan = preview_import(&path, Some(&store)).expect("preview works without keychain");
    assert!(plan
        .preview
        .keychain_error
        .as_deref()
        .is_some_and(|e| e.contains("locked")));
    let err = apply_import(&store, &audit, &plan, &options(true)).expect_err("locked");
    assert_eq!(err.code(), CredentialErrorCode::KeychainLocked);
    assert_eq!(std::fs::read(&path).expect("read"), original);
    store.fail_with(None);
    assert!(store.accounts().is_empty());
}

#[test]
fn a_file_changed_after_preview_is_not_rewritten() {
    let (dir, path) = write_env(&sample_env());
    let store = MemoryStore::new();
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let plan = preview_import(&path, Some(&store)).expect("preview");
    std::fs::write(&path, b"EDITED=1\n").expect("edit");
    let err = apply_import(&store, &audit, &plan, &options(true)).expect_err("conflict");
    assert_eq!(err.code(), CredentialErrorCode::Conflict);
    assert_eq!(std::fs::read(&path).expect("read"), b"EDITED=1\n");
    assert!(store.accounts().is_empty());
}

#[test]
fn store_trait_objects_are_usable_behind_dyn() {
    let store: Box<dyn CredentialStore> = Box::new(MemoryStore::new());
    assert!(store.get("nothing").expect("get").is_none());
}
