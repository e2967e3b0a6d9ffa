//! Secrets from systemd's credentials: `$CREDENTIALS_DIRECTORY/<account>`, one file per secret
//! (`twilio.auth_token`, `aws.secret_access_key`, ...), as systemd decrypts them for the unit
//! from `LoadCredentialEncrypted=` (or copies them from `LoadCredential=`).
//!
//! Read-only: systemd owns these files, so imports, rotations and removals are refused before
//! anything is done, saying where the change is made instead (`systemd-creds encrypt`, then the
//! unit). A missing `$CREDENTIALS_DIRECTORY` is an error when the store is opened, never an
//! empty store.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::error::{CredentialError, Result};

/// The variable systemd sets for a unit with credentials.
pub const CREDENTIALS_DIRECTORY_ENV: &str = "CREDENTIALS_DIRECTORY";

/// What a refused change says.
pub const READ_ONLY_HINT: &str = "credentials are managed by systemd here: `systemd-creds encrypt` them into the unit (LoadCredentialEncrypted=<account>:<file>, e.g. twilio.auth_token) and restart it; nothing was changed.";

/// The files of `$CREDENTIALS_DIRECTORY`, read-only.
#[derive(Debug, Clone)]
pub struct SystemdCredsStore {
    dir: PathBuf,
}

impl SystemdCredsStore {
    /// The directory systemd gave this process (`$CREDENTIALS_DIRECTORY`).
    pub fn open() -> Result<Self> {
        match std::env::var_os(CREDENTIALS_DIRECTORY_ENV).filter(|d| !d.is_empty()) {
            Some(dir) => Self::open_dir(dir),
            None => Err(CredentialError::StoreUnavailable {
                store: "systemd credentials".into(),
                detail: "$CREDENTIALS_DIRECTORY is not set".into(),
                hint: "msgops was not started by a systemd unit with credentials: give the unit \
                       one LoadCredentialEncrypted=<account>:<file> line per secret (e.g. \
                       twilio.auth_token), or choose another store in [credentials] store of the \
                       configuration."
                    .into(),
            }),
        }
    }

    /// A credentials directory given explicitly (tests; a unit that passes it elsewhere).
    pub fn open_dir(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Ok(Self { dir }),
            Ok(_) => Err(unavailable(&dir, "it is not a directory".into())),
            Err(e) => Err(unavailable(&dir, e.to_string())),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn name(&self) -> String {
        format!("systemd credentials in {} (read-only)", self.dir.display())
    }

    fn read_only(&self) -> CredentialError {
        CredentialError::StoreReadOnly {
            store: self.name(),
            hint: READ_ONLY_HINT.into(),
        }
    }
}

fn unavailable(dir: &Path, detail: String) -> CredentialError {
    CredentialError::StoreUnavailable {
        store: format!("systemd credentials in {}", dir.display()),
        detail,
        hint: "Check the unit's LoadCredentialEncrypted= lines; systemd creates this directory \
               when it starts the unit."
            .into(),
    }
}

/// An account name as a file name of the directory: no path separators, no `..`.
fn check_account(account: &str) -> Result<()> {
    let ok = !account.is_empty()
        && account != "."
        && account != ".."
        && !account.contains(['/', '\\', '\0']);
    if ok {
        Ok(())
    } else {
        Err(CredentialError::Validation(format!(
            "{account:?} cannot be a systemd credential name."
        )))
    }
}

/// The secret in a credential file: its text without the line ending that `echo` or an editor
/// leaves at the end (`systemd-creds encrypt` keeps the file's bytes as they are). Empty: not
/// stored.
fn secret_of(bytes: Vec<u8>) -> Option<std::result::Result<SecretString, ()>> {
    match String::from_utf8(bytes) {
        Ok(text) => {
            let value = text.trim_end_matches(['\n', '\r']);
            (!value.is_empty()).then(|| Ok(SecretString::from(value.to_owned())))
        }
        // The bytes are not kept in the error: they are the secret.
        Err(_) => Some(Err(())),
    }
}

impl crate::store::CredentialStore for SystemdCredsStore {
    fn get(&self, account: &str) -> Result<Option<SecretString>> {
        check_account(account)?;
        let path = self.dir.join(account);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(CredentialError::StoreRefused {
                    store: self.name(),
                    detail: format!("reading {account}: {e}"),
                    hint: "msgops must run as the unit's user to read its credentials.".into(),
                })
            }
        };
        match secret_of(bytes) {
            None => Ok(None),
            Some(Ok(value)) => Ok(Some(value)),
            Some(Err(())) => Err(CredentialError::Validation(format!(
                "The systemd credential {account} does not hold text; encrypt the value again \
                 with systemd-creds."
            ))),
        }
    }

    fn set(&self, account: &str, _value: &SecretString) -> Result<()> {
        check_account(account)?;
        Err(self.read_only())
    }

    fn delete(&self, account: &str) -> Result<bool> {
        check_account(account)?;
        Err(self.read_only())
    }

    fn describe(&self) -> String {
        self.name()
    }

    fn is_persistent(&self) -> bool {
        true
    }

    fn set_many(
        &self,
        _entries: &[(&str, &SecretString)],
    ) -> std::result::Result<(), (usize, CredentialError)> {
        Err((0, self.read_only()))
    }

    fn check_writable(&self) -> Result<()> {
        Err(self.read_only())
    }

    fn check_without_writing(&self) -> Option<Result<String>> {
        let answer = std::fs::read_dir(&self.dir)
            .map(|entries| entries.filter_map(std::result::Result::ok).count())
            .map_err(|e| unavailable(&self.dir, e.to_string()))
            .map(|n| {
                format!(
                    "{} can be read ({n} credential file(s)); changes are made with systemd-creds, not msgops.",
                    self.name()
                )
            });
        Some(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CredentialErrorCode;
    use crate::store::{CredentialStore, CredentialStoreExt};
    use crate::SecretKind;
    use secrecy::ExposeSecret;

    fn store_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, SystemdCredsStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes).expect("credential file");
        }
        let store = SystemdCredsStore::open_dir(dir.path()).expect("open");
        (dir, store)
    }

    #[test]
    fn reads_each_account_from_its_file_without_the_trailing_newline() {
        let (_dir, store) = store_with(&[
            ("twilio.auth_token", b"tok-123\n"),
            ("twilio.account_sid", b"AC0001"),
            ("smtp.password", b"\n"),
        ]);
        let token = store
            .get_secret(SecretKind::TwilioAuthToken)
            .expect("read")
            .expect("stored");
        assert_eq!(token.expose_secret(), "tok-123");
        assert_eq!(
            store
                .get_secret(SecretKind::TwilioAccountSid)
                .expect("read")
                .map(|s| s.expose_secret().to_owned())
                .as_deref(),
            Some("AC0001")
        );
        assert!(store
            .get_secret(SecretKind::SmtpPassword)
            .expect("read")
            .is_none());
        assert!(store
            .get_secret(SecretKind::SendgridApiKey)
            .expect("read")
            .is_none());
    }

    #[test]
    fn changes_are_refused_with_where_to_make_them_and_nothing_changes() {
        let (dir, store) = store_with(&[("twilio.auth_token", b"tok-123")]);
        let new = SecretString::from("tok-456".to_owned());
        for err in [
            store
                .set_secret(SecretKind::TwilioAuthToken, &new)
                .expect_err("set refused"),
            store
                .delete_secret(SecretKind::TwilioAuthToken)
                .expect_err("delete refused"),
            store.check_writable().expect_err("read-only"),
        ] {
            assert_eq!(err.code(), CredentialErrorCode::KeychainRefused);
            let text = err.to_string();
            assert!(
                text.contains("credentials are managed by systemd here: `systemd-creds encrypt` them into the unit"),
                "{text}"
            );
            assert!(text.contains("nothing was changed"), "{text}");
            assert!(!text.contains("tok-"), "{text}");
        }
        assert_eq!(
            std::fs::read(dir.path().join("twilio.auth_token")).expect("file"),
            b"tok-123"
        );
    }

    #[test]
    fn account_names_cannot_leave_the_directory() {
        let (_dir, store) = store_with(&[]);
        for bad in ["../etc/passwd", "a/b", "..", ""] {
            let err = store.get(bad).expect_err("refused");
            assert_eq!(err.code(), CredentialErrorCode::Validation, "{bad}");
        }
    }

    #[test]
    fn a_file_that_is_not_text_is_an_error_without_its_bytes() {
        let (_dir, store) = store_with(&[("sendgrid.api_key", b"SG.secret\xff\xfe")]);
        let err = store
            .get_secret(SecretKind::SendgridApiKey)
            .expect_err("not text");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("SG.secret"), "{text}");
    }

    #[test]
    fn a_missing_directory_is_an_error_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = SystemdCredsStore::open_dir(dir.path().join("absent")).expect_err("missing");
        assert_eq!(err.code(), CredentialErrorCode::KeychainUnavailable);
    }

    #[test]
    fn the_check_reads_the_directory_and_writes_nothing() {
        let (dir, store) = store_with(&[("twilio.auth_token", b"x")]);
        let health = crate::check_keychain(&store);
        assert!(health.ok, "{health:?}");
        assert!(health.message.contains("read-only"), "{}", health.message);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    }
}
