//! AWS Secrets Manager as msgops' credential store (`[credentials] store =
//! "aws-secrets-manager"`).
//!
//! - **One secret per provider**, named `<secret_prefix><provider>` (`msgops/twilio`), holding a
//!   JSON object of account names to values: `{"twilio.account_sid": "AC…",
//!   "twilio.auth_token": "…", "twilio.auth_token.previous": "…"}`. The provider is what comes
//!   before the first `.` of the account name.
//! - **Rotated in place**: a write puts the whole object as a new version (`PutSecretValue`, or
//!   `CreateSecret` when there is no secret yet). Secrets Manager moves `AWSCURRENT` to it and
//!   `AWSPREVIOUS` to the one before, so the set as it was before a rotation stays one label
//!   away. Several values written together ([`CredentialStore::set_many`], as rotations and
//!   imports do) are one version; a write that changes nothing makes none.
//! - **Deleting the last value deletes the secret**, with the shortest recovery window (7 days,
//!   never `ForceDeleteWithoutRecovery`); a later write restores it and puts a fresh version.
//! - **Reads are `AWSCURRENT`.** A secret scheduled for deletion reads as absent.
//!
//! The AWS credentials *for* the store are the AWS SDK's default chain (environment, profile,
//! web identity, container or instance role), never values from the store itself.
//!
//! [`CredentialStore`] is blocking, and its callers may be on an async runtime (inside
//! `block_in_place`, on the blocking pool, or on a current-thread runtime's only thread). The
//! SDK therefore runs on a small runtime of the store's own (one worker thread): each call is
//! spawned there and the caller waits on a channel, never `block_on` inside another runtime,
//! so there is no nested-runtime panic wherever the store is used or dropped. Every call is
//! bounded: 5 s to connect, 10 s per operation (SDK timeouts), and an outer limit a little
//! longer for the whole call.
//!
//! Errors carry the store's name, the operation and the service's own words (never a secret
//! value: requests and answers are not quoted), mapped onto the credential error codes:
//! unreachable, throttled, timed out → `KeychainUnavailable`; refused credentials,
//! permissions, KMS → `KeychainRefused`; a secret that is not msgops' JSON object →
//! `Validation`.
//!
//! Within one process writes are serialized; two processes writing different values of one
//! provider at the same instant can still overwrite each other's (Secrets Manager has no
//! conditional write), which a rotation's read-back then reports.

use std::future::Future;
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::Client;
use msgops_core::config::CredentialsConfig;
use msgops_credentials::{CredentialError, CredentialStore, ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::aws::{AwsCredentials, AwsSettings};
use crate::timeouts::Timeouts;

/// The SDK, for callers (tests) that read the secrets back the way AWS tools do.
pub use aws_sdk_secretsmanager as sdk;

/// The shortest recovery window Secrets Manager allows.
pub const RECOVERY_WINDOW_DAYS: i64 = 7;

/// A name that is never created: the store's check reads it and expects "not found".
const CHECK_SECRET: &str = "msgops-store-check";

const NETWORK_HINT: &str = "Check the network and [credentials] region and endpoint_url in the configuration, then try again.";
const CREDENTIALS_HINT: &str = "Check the AWS credentials msgops runs with (environment, profile or role) and that they allow secretsmanager:GetSecretValue, DescribeSecret, PutSecretValue, CreateSecret, DeleteSecret and RestoreSecret on the msgops secrets.";

/// Where the secrets are.
#[derive(Debug, Clone)]
pub struct SecretsManagerSettings {
    /// `None`: the SDK's region (`AWS_REGION`, the profile).
    pub region: Option<String>,
    /// Another endpoint (moto, LocalStack).
    pub endpoint_url: Option<String>,
    /// Secret names: this, then the provider.
    pub secret_prefix: String,
    /// Per operation: 5 s to connect, 10 s in all, by default.
    pub timeouts: Timeouts,
}

impl SecretsManagerSettings {
    pub fn from_config(config: &CredentialsConfig) -> Self {
        Self {
            region: config.region.clone().filter(|r| !r.trim().is_empty()),
            endpoint_url: config.endpoint_url.clone().filter(|u| !u.trim().is_empty()),
            secret_prefix: config.secret_prefix.clone(),
            timeouts: Timeouts::default(),
        }
    }
}

/// The store's own runtime. Shut down without waiting when the store is dropped, so that
/// dropping it on an async worker does not panic.
struct SdkRuntime(Option<tokio::runtime::Runtime>);

impl SdkRuntime {
    fn start() -> std::io::Result<Self> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("msgops-secrets-manager")
            .enable_all()
            .build()
            .map(|rt| Self(Some(rt)))
    }

    /// Runs `task` there and waits at most `limit` for its answer, from any thread.
    fn run<T: Send + 'static>(
        &self,
        limit: Duration,
        task: impl Future<Output = Result<T, CredentialError>> + Send + 'static,
        store: &str,
    ) -> Result<T, CredentialError> {
        let Some(rt) = &self.0 else {
            return Err(unavailable(
                store,
                "its runtime is stopped".into(),
                NETWORK_HINT,
            ));
        };
        let (tx, rx) = sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(task.await);
        });
        match rx.recv_timeout(limit) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => Err(unavailable(
                store,
                format!(
                    "no answer within {} s; what was asked may still take effect, so look at the current state before trying again",
                    limit.as_secs()
                ),
                NETWORK_HINT,
            )),
            Err(RecvTimeoutError::Disconnected) => Err(unavailable(
                store,
                "the AWS SDK task ended without an answer".into(),
                NETWORK_HINT,
            )),
        }
    }
}

impl Drop for SdkRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Secrets in AWS Secrets Manager. See the module documentation.
pub struct SecretsManagerStore {
    client: Client,
    runtime: SdkRuntime,
    prefix: String,
    name: String,
    /// The outer limit of one call (the SDK's own timeouts are shorter).
    limit: Duration,
    /// Read-modify-write of a secret's object, one at a time in this process.
    writes: Mutex<()>,
}

impl std::fmt::Debug for SecretsManagerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerStore")
            .field("store", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a secret holds now.
enum Current {
    /// No such secret.
    Absent,
    /// Scheduled for deletion (within its recovery window).
    Deleted,
    /// `AWSCURRENT`'s object.
    Present(Map<String, Value>),
}

impl SecretsManagerStore {
    /// Builds the client (region, endpoint, the SDK's default credential chain, timeouts).
    /// Makes no request.
    pub fn open(settings: SecretsManagerSettings) -> Result<Self, CredentialError> {
        check_prefix(&settings.secret_prefix)?;
        let label = "AWS Secrets Manager";
        let runtime = SdkRuntime::start().map_err(|e| {
            unavailable(
                label,
                format!("msgops cannot start its thread: {e}"),
                "This is a fault of the machine (threads or memory), not of AWS; try again.",
            )
        })?;
        let limit = settings.timeouts.request + settings.timeouts.connect;
        let wanted = settings.clone();
        let (client, region) = runtime.run(
            limit,
            async move {
                let region = match wanted.region.clone() {
                    Some(region) => region,
                    None => aws_config::default_provider::region::DefaultRegionChain::builder()
                        .build()
                        .region()
                        .await
                        .map(|r| r.to_string())
                        .ok_or_else(|| {
                            unavailable(
                                label,
                                "no region: [credentials] region is not set and the AWS SDK found none".into(),
                                "Set [credentials] region in the configuration (or AWS_REGION).",
                            )
                        })?,
                };
                let aws = AwsSettings {
                    region: region.clone(),
                    endpoint_url: wanted.endpoint_url.clone(),
                    credentials: AwsCredentials::DefaultChain,
                    timeouts: wanted.timeouts,
                };
                let sdk = aws.sdk_config().await;
                // One retry for throttling and transient faults, within the operation timeout.
                let conf = aws_sdk_secretsmanager::config::Builder::from(&sdk)
                    .retry_config(RetryConfig::standard().with_max_attempts(2))
                    .build();
                Ok((Client::from_conf(conf), region))
            },
            label,
        )?;
        let at = settings
            .endpoint_url
            .as_deref()
            .map(|u| format!(" at {u}"))
            .unwrap_or_default();
        Ok(Self {
            client,
            runtime,
            name: format!(
                "AWS Secrets Manager ({region}{at}, secrets {}<provider>)",
                settings.secret_prefix
            ),
            prefix: settings.secret_prefix,
            limit,
            writes: Mutex::new(()),
        })
    }

    /// The secret that holds `account`: `<prefix><provider>`.
    pub fn secret_name(&self, account: &str) -> Result<String, CredentialError> {
        secret_name(&self.prefix, account)
    }

    fn run<T: Send + 'static>(
        &self,
        task: impl Future<Output = Result<T, CredentialError>> + Send + 'static,
    ) -> Result<T, CredentialError> {
        self.runtime.run(self.limit, task, &self.name)
    }

    fn ops(&self) -> Ops {
        Ops {
            client: self.client.clone(),
            store: self.name.clone(),
        }
    }

    /// Writes `entries` (all of one secret) as one version; no version when nothing changes.
    fn write_run(
        &self,
        name: &str,
        entries: Vec<(String, SecretString)>,
    ) -> Result<(), CredentialError> {
        let ops = self.ops();
        let name = name.to_owned();
        self.run(async move {
            let current = ops.current(&name).await?;
            let (object, restore) = match current {
                Current::Present(object) => (object, false),
                Current::Absent => (Map::new(), false),
                // Deleted values do not come back: the restored secret gets a fresh object.
                Current::Deleted => (Map::new(), true),
            };
            let (object, changed) = merged(object, &entries);
            if !changed && !restore {
                return Ok(());
            }
            let text = SecretString::from(Value::Object(object).to_string());
            if restore {
                ops.restore(&name).await?;
                return ops.put(&name, &text).await.map_err(PutError::into_error);
            }
            match ops.put(&name, &text).await {
                Err(PutError::NoSecret) => ops.create(&name, &text).await,
                other => other.map_err(PutError::into_error),
            }
        })
    }
}

/// What went wrong with a `PutSecretValue`.
enum PutError {
    /// There is no such secret (yet): create it.
    NoSecret,
    Other(CredentialError),
}

impl PutError {
    fn into_error(self) -> CredentialError {
        match self {
            Self::NoSecret => CredentialError::Validation(
                "the secret disappeared while it was written; try again".into(),
            ),
            Self::Other(e) => e,
        }
    }
}

/// The SDK calls, owned so that they can run on the store's runtime.
struct Ops {
    client: Client,
    store: String,
}

impl Ops {
    async fn current(&self, name: &str) -> Result<Current, CredentialError> {
        let answer = self
            .client
            .get_secret_value()
            .secret_id(name)
            .version_stage("AWSCURRENT")
            .send()
            .await;
        match answer {
            Ok(out) => match out.secret_string() {
                Some(text) => parse_object(name, text).map(Current::Present),
                None => Err(not_ours(name, "it holds binary data, not text")),
            },
            Err(e) if code_of(&e) == Some("ResourceNotFoundException") => Ok(Current::Absent),
            // A secret scheduled for deletion answers InvalidRequestException; ask which.
            Err(e) if code_of(&e) == Some("InvalidRequestException") => {
                if self.is_deleted(name).await? {
                    Ok(Current::Deleted)
                } else {
                    Err(map_sdk_error(&self.store, &format!("reading {name}"), &e))
                }
            }
            Err(e) => Err(map_sdk_error(&self.store, &format!("reading {name}"), &e)),
        }
    }

    async fn is_deleted(&self, name: &str) -> Result<bool, CredentialError> {
        match self.client.describe_secret().secret_id(name).send().await {
            Ok(out) => Ok(out.deleted_date().is_some()),
            Err(e) if code_of(&e) == Some("ResourceNotFoundException") => Ok(false),
            Err(e) => Err(map_sdk_error(
                &self.store,
                &format!("describing {name}"),
                &e,
            )),
        }
    }

    async fn put(&self, name: &str, text: &SecretString) -> Result<(), PutError> {
        let answer = self
            .client
            .put_secret_value()
            .secret_id(name)
            .secret_string(text.expose_secret())
            .send()
            .await;
        match answer {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("ResourceNotFoundException") => Err(PutError::NoSecret),
            Err(e) => Err(PutError::Other(map_sdk_error(
                &self.store,
                &format!("writing a new version of {name}"),
                &e,
            ))),
        }
    }

    async fn create(&self, name: &str, text: &SecretString) -> Result<(), CredentialError> {
        let provider = name.rsplit('/').next().unwrap_or(name);
        let answer = self
            .client
            .create_secret()
            .name(name)
            .description(format!(
                "msgops: the {provider} credentials (JSON object of account names to values)"
            ))
            .secret_string(text.expose_secret())
            .send()
            .await;
        match answer {
            Ok(_) => Ok(()),
            // Another process created it a moment ago: write a version on top.
            Err(e) if code_of(&e) == Some("ResourceExistsException") => {
                self.put(name, text).await.map_err(PutError::into_error)
            }
            Err(e) => Err(map_sdk_error(&self.store, &format!("creating {name}"), &e)),
        }
    }

    async fn restore(&self, name: &str) -> Result<(), CredentialError> {
        self.client
            .restore_secret()
            .secret_id(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                map_sdk_error(
                    &self.store,
                    &format!("restoring {name} (scheduled for deletion)"),
                    &e,
                )
            })
    }

    async fn delete(&self, name: &str) -> Result<(), CredentialError> {
        // ForceDeleteWithoutRecovery stays unset (false): AWS refuses it together with a
        // recovery window, and the window is the point.
        self.client
            .delete_secret()
            .secret_id(name)
            .recovery_window_in_days(RECOVERY_WINDOW_DAYS)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk_error(&self.store, &format!("deleting {name}"), &e))
    }
}

impl CredentialStore for SecretsManagerStore {
    fn get(&self, account: &str) -> Result<Option<SecretString>, CredentialError> {
        let name = self.secret_name(account)?;
        let ops = self.ops();
        let account = account.to_owned();
        self.run(async move {
            match ops.current(&name).await? {
                Current::Absent | Current::Deleted => Ok(None),
                Current::Present(object) => value_of(&object, &account, &name),
            }
        })
    }

    fn set(&self, account: &str, value: &SecretString) -> Result<(), CredentialError> {
        self.set_many(&[(account, value)]).map_err(|(_, e)| e)
    }

    fn set_many(&self, entries: &[(&str, &SecretString)]) -> Result<(), (usize, CredentialError)> {
        let _one_at_a_time = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        for (start, name, run) in runs(&self.prefix, entries).map_err(|e| (0, e))? {
            let run = run
                .into_iter()
                .map(|(a, v)| {
                    (
                        a.to_owned(),
                        SecretString::from(v.expose_secret().to_owned()),
                    )
                })
                .collect();
            self.write_run(&name, run).map_err(|e| (start, e))?;
        }
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<bool, CredentialError> {
        let name = self.secret_name(account)?;
        let _one_at_a_time = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        let ops = self.ops();
        let account = account.to_owned();
        self.run(async move {
            let Current::Present(mut object) = ops.current(&name).await? else {
                return Ok(false);
            };
            if object.remove(&account).is_none() {
                return Ok(false);
            }
            if object.is_empty() {
                ops.delete(&name).await?;
            } else {
                let text = SecretString::from(Value::Object(object).to_string());
                ops.put(&name, &text).await.map_err(PutError::into_error)?;
            }
            Ok(true)
        })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn is_persistent(&self) -> bool {
        true
    }

    /// A read of a name msgops never creates: "not found" means the service answers and takes
    /// the credentials. No test secret is written (each costs money and versions).
    fn check_without_writing(&self) -> Option<Result<String, CredentialError>> {
        let name = format!("{}{CHECK_SECRET}", self.prefix);
        let ops = self.ops();
        let store = self.name.clone();
        Some(self.run(async move {
            match ops.current(&name).await {
                Ok(_) => Ok(format!(
                    "{store} answers and accepts the AWS credentials msgops runs with."
                )),
                Err(e) => Err(e),
            }
        }))
    }
}

/// `<prefix><provider>` for `account` (`twilio.auth_token` → `msgops/twilio`).
pub(crate) fn secret_name(prefix: &str, account: &str) -> Result<String, CredentialError> {
    let provider = account.split('.').next().unwrap_or_default();
    let ok = !provider.is_empty()
        && provider
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=@-".contains(c));
    if !ok {
        return Err(CredentialError::Validation(format!(
            "{account:?} is not an account name msgops can keep in AWS Secrets Manager."
        )));
    }
    Ok(format!("{prefix}{provider}"))
}

fn check_prefix(prefix: &str) -> Result<(), CredentialError> {
    msgops_core::config::check_secret_prefix(prefix)
        .map_err(|m| CredentialError::Validation(format!("[credentials] secret_prefix {m}.")))
}

/// `entries` in runs of consecutive entries of one secret: (index of the run's first entry,
/// secret name, the run).
#[allow(clippy::type_complexity)]
fn runs<'a>(
    prefix: &str,
    entries: &[(&'a str, &'a SecretString)],
) -> Result<Vec<(usize, String, Vec<(&'a str, &'a SecretString)>)>, CredentialError> {
    let mut out: Vec<(usize, String, Vec<(&str, &SecretString)>)> = Vec::new();
    for (i, &(account, value)) in entries.iter().enumerate() {
        let name = secret_name(prefix, account)?;
        match out.last_mut() {
            Some((_, last, run)) if *last == name => run.push((account, value)),
            _ => out.push((i, name, vec![(account, value)])),
        }
    }
    Ok(out)
}

/// The object a secret holds. Anything else is refused without quoting it.
pub(crate) fn parse_object(name: &str, text: &str) -> Result<Map<String, Value>, CredentialError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(not_ours(name, "it holds JSON that is not an object")),
        Err(_) => Err(not_ours(name, "it does not hold JSON")),
    }
}

fn not_ours(name: &str, why: &str) -> CredentialError {
    CredentialError::Validation(format!(
        "The secret {name} in AWS Secrets Manager is not msgops' JSON object of account names to values ({why}). Fix its current version in the AWS console (AWSPREVIOUS holds the one before), or delete it; msgops changed nothing."
    ))
}

/// `account`'s value in `object`; a value that is not text is an error that does not quote it.
pub(crate) fn value_of(
    object: &Map<String, Value>,
    account: &str,
    name: &str,
) -> Result<Option<SecretString>, CredentialError> {
    match object.get(account) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(SecretString::from(s.clone()))),
        Some(_) => Err(CredentialError::Validation(format!(
            "The secret {name} in AWS Secrets Manager holds a value for {account} that is not text; store it again with rotate."
        ))),
    }
}

/// `object` with `entries` set; other keys (other accounts, anything someone added) are kept.
/// `changed` is false when every entry already held its value.
pub(crate) fn merged(
    mut object: Map<String, Value>,
    entries: &[(String, SecretString)],
) -> (Map<String, Value>, bool) {
    let mut changed = false;
    for (account, value) in entries {
        let same = object
            .get(account)
            .and_then(Value::as_str)
            .is_some_and(|v| v == value.expose_secret());
        if !same {
            object.insert(
                account.clone(),
                Value::String(value.expose_secret().to_owned()),
            );
            changed = true;
        }
    }
    (object, changed)
}

fn code_of<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

/// How a call failed, in what [`classify`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The service answered with an error.
    Service {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer in time.
    Timeout(String),
    /// The request did not get there (connection, DNS, TLS), or could not be signed (no AWS
    /// credentials).
    Dispatch(String),
    /// Anything else (an answer that could not be read, a request that could not be built).
    Other(String),
}

fn failure_of<E>(error: &SdkError<E, aws_sdk_secretsmanager::config::http::HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(se) => Failure::Service {
            status: se.raw().status().as_u16(),
            code: se.err().code().unwrap_or_default().to_owned(),
            message: se.err().message().unwrap_or_default().to_owned(),
        },
        SdkError::TimeoutError(_) => Failure::Timeout(crate::aws::plain_chain(error)),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            Failure::Timeout(crate::aws::plain_chain(error))
        }
        SdkError::DispatchFailure(_) => Failure::Dispatch(crate::aws::plain_chain(error)),
        SdkError::ConstructionFailure(_)
            if crate::aws::plain_chain(error)
                .to_ascii_lowercase()
                .contains("credentials") =>
        {
            Failure::Dispatch(crate::aws::plain_chain(error))
        }
        _ => Failure::Other(crate::aws::plain_chain(error)),
    }
}

fn map_sdk_error<E>(
    store: &str,
    what: &str,
    error: &SdkError<E, aws_sdk_secretsmanager::config::http::HttpResponse>,
) -> CredentialError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    classify(store, what, &failure_of(error))
}

const REFUSED_CODES: [&str; 9] = [
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
];

/// Maps a failure onto the store's error codes, in plain words.
pub(crate) fn classify(store: &str, what: &str, failure: &Failure) -> CredentialError {
    match failure {
        Failure::Service {
            status,
            code,
            message,
        } => {
            let said = if message.is_empty() {
                format!("{what}: HTTP {status}, {code}")
            } else {
                format!("{what}: HTTP {status}, {code}: {message}")
            };
            if REFUSED_CODES.contains(&code.as_str()) || *status == 401 || *status == 403 {
                refused(store, said, CREDENTIALS_HINT)
            } else if code == "DecryptionFailure" || code == "EncryptionFailure" {
                refused(
                    store,
                    said,
                    "The secret's KMS key refused msgops' AWS credentials: allow them kms:Decrypt and kms:GenerateDataKey on it.",
                )
            } else if code == "ThrottlingException" || code == "TooManyRequestsException" || *status == 429 {
                unavailable(store, said, "Secrets Manager asked msgops to slow down; try again in a moment.")
            } else if code == "LimitExceededException" {
                refused(
                    store,
                    said,
                    "A Secrets Manager quota is reached (versions of a secret, or secrets in the account); see the AWS console.",
                )
            } else if code == "InternalServiceError" || (500..600).contains(status) {
                unavailable(store, said, "Secrets Manager has a fault of its own; try again later.")
            } else {
                refused(store, said, "Secrets Manager did not accept the request; nothing else was changed by it.")
            }
        }
        Failure::Timeout(text) => unavailable(
            store,
            format!("{what}: no answer in time ({text}); what was asked may still take effect"),
            NETWORK_HINT,
        ),
        Failure::Dispatch(text) if text.to_ascii_lowercase().contains("credentials") => refused(
            store,
            format!("{what}: no AWS credentials ({text})"),
            "msgops reaches Secrets Manager with the AWS SDK's own credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE) or a role for the machine.",
        ),
        Failure::Dispatch(text) => unavailable(
            store,
            format!("{what}: could not reach it ({text})"),
            NETWORK_HINT,
        ),
        Failure::Other(text) => unavailable(store, format!("{what}: {text}"), NETWORK_HINT),
    }
}

fn unavailable(store: &str, detail: String, hint: &str) -> CredentialError {
    CredentialError::StoreUnavailable {
        store: store.to_owned(),
        detail,
        hint: hint.to_owned(),
    }
}

fn refused(store: &str, detail: String, hint: &str) -> CredentialError {
    CredentialError::StoreRefused {
        store: store.to_owned(),
        detail,
        hint: hint.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgops_credentials::CredentialErrorCode;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn each_provider_has_one_secret_under_the_prefix() {
        assert_eq!(
            secret_name("msgops/", "twilio.auth_token").expect("name"),
            "msgops/twilio"
        );
        assert_eq!(
            secret_name("msgops/", "twilio.auth_token.previous").expect("name"),
            "msgops/twilio"
        );
        assert_eq!(
            secret_name("ops/", "sendgrid.webhook_public_key").expect("name"),
            "ops/sendgrid"
        );
        for bad in ["", ".x", "a b.c", "../x.y", "x/y.z"] {
            let err = secret_name("msgops/", bad).expect_err(bad);
            assert_eq!(err.code(), CredentialErrorCode::Validation, "{bad}");
        }
    }

    #[test]
    fn a_merge_keeps_the_other_keys_and_says_whether_anything_changed() {
        let object = parse_object(
            "msgops/twilio",
            r#"{"twilio.account_sid": "AC1", "twilio.auth_token": "old", "added.by.hand": 7}"#,
        )
        .expect("object");
        let (same, changed) = merged(
            object.clone(),
            &[("twilio.auth_token".into(), secret("old"))],
        );
        assert!(!changed);
        assert_eq!(same, object);
        let (new, changed) = merged(
            object,
            &[
                ("twilio.auth_token".into(), secret("new")),
                ("twilio.auth_token.previous".into(), secret("1:old")),
            ],
        );
        assert!(changed);
        assert_eq!(new["twilio.account_sid"], "AC1");
        assert_eq!(new["twilio.auth_token"], "new");
        assert_eq!(new["twilio.auth_token.previous"], "1:old");
        assert_eq!(new["added.by.hand"], 7);
        let read = value_of(&new, "twilio.auth_token", "msgops/twilio")
            .expect("read")
            .expect("present");
        assert_eq!(read.expose_secret(), "new");
        assert!(value_of(&new, "twilio.missing", "msgops/twilio")
            .expect("read")
            .is_none());
    }

    #[test]
    fn a_secret_that_is_not_our_object_is_refused_without_quoting_it() {
        for text in [
            "hunter2-not-json",
            r#"["hunter2-in-a-list"]"#,
            "\"hunter2\"",
        ] {
            let err = parse_object("msgops/smtp", text).expect_err(text);
            assert_eq!(err.code(), CredentialErrorCode::Validation);
            let said = format!("{err} {err:?}");
            assert!(!said.contains("hunter2"), "{said}");
            assert!(said.contains("msgops/smtp"), "{said}");
        }
        let object =
            parse_object("msgops/smtp", r#"{"smtp.password": ["hunter2"]}"#).expect("object");
        let err = value_of(&object, "smtp.password", "msgops/smtp").expect_err("not text");
        assert!(!format!("{err} {err:?}").contains("hunter2"));
    }

    #[test]
    fn writes_are_grouped_in_runs_of_one_secret() {
        let (a, b, c) = (secret("1"), secret("2"), secret("3"));
        let entries = [
            ("twilio.account_sid", &a),
            ("twilio.auth_token", &b),
            ("sendgrid.api_key", &c),
            ("twilio.auth_token.previous", &a),
        ];
        let runs = runs("msgops/", &entries).expect("runs");
        let shape: Vec<(usize, &str, usize)> = runs
            .iter()
            .map(|(i, name, run)| (*i, name.as_str(), run.len()))
            .collect();
        assert_eq!(
            shape,
            [
                (0, "msgops/twilio", 2),
                (2, "msgops/sendgrid", 1),
                (3, "msgops/twilio", 1)
            ]
        );
    }

    #[test]
    fn service_errors_map_to_the_store_codes_in_plain_words() {
        let store = "AWS Secrets Manager (us-east-1, secrets msgops/<provider>)";
        let service = |status: u16, code: &str| Failure::Service {
            status,
            code: code.into(),
            message: "said by AWS".into(),
        };
        let cases = [
            (
                service(400, "AccessDeniedException"),
                CredentialErrorCode::KeychainRefused,
                "secretsmanager:GetSecretValue",
            ),
            (
                service(400, "UnrecognizedClientException"),
                CredentialErrorCode::KeychainRefused,
                "AWS credentials",
            ),
            (
                service(400, "DecryptionFailure"),
                CredentialErrorCode::KeychainRefused,
                "kms:Decrypt",
            ),
            (
                service(400, "ThrottlingException"),
                CredentialErrorCode::KeychainUnavailable,
                "slow down",
            ),
            (
                service(500, "InternalServiceError"),
                CredentialErrorCode::KeychainUnavailable,
                "try again later",
            ),
            (
                service(400, "LimitExceededException"),
                CredentialErrorCode::KeychainRefused,
                "quota",
            ),
            (
                Failure::Timeout("operation timeout".into()),
                CredentialErrorCode::KeychainUnavailable,
                "may still take effect",
            ),
            (
                Failure::Dispatch("io error: Connection refused (os error 111)".into()),
                CredentialErrorCode::KeychainUnavailable,
                "endpoint_url",
            ),
            (
                Failure::Dispatch(
                    "failed to load credentials: no providers in chain provided credentials".into(),
                ),
                CredentialErrorCode::KeychainRefused,
                "AWS_ACCESS_KEY_ID",
            ),
        ];
        for (failure, code, hint) in cases {
            let err = classify(store, "reading msgops/twilio", &failure);
            assert_eq!(err.code(), code, "{failure:?}: {err}");
            let text = err.to_string();
            assert!(text.starts_with(store), "{text}");
            assert!(text.contains("reading msgops/twilio"), "{text}");
            assert!(text.contains(hint), "{failure:?}: {text}");
            assert!(err.is_keychain_problem());
        }
    }

    #[test]
    fn the_store_can_be_dropped_on_an_async_worker() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let store = SecretsManagerStore::open(SecretsManagerSettings {
                region: Some("us-east-1".into()),
                endpoint_url: Some("http://127.0.0.1:9".into()),
                secret_prefix: "msgops/".into(),
                timeouts: Timeouts::default(),
            })
            .expect("opened without a request");
            assert!(store.describe().contains("us-east-1"));
            drop(store);
        });
    }
}
