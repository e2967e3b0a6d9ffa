//! msgops providers: the network providers of the two chains — AWS SNS and Twilio for SMS,
//! AWS SES (v2), SendGrid and SMTP for email — with their cheap read-only health probes, the
//! credential validators used by rotation, message templates, and the wiring that installs
//! the providers into `msgops_core::Messaging` from the configuration and the credential store.
//!
//! Each provider makes one network call per send, bounded by a connect and a request timeout,
//! and classifies its failure into a `msgops_core::ErrorKind`; retries, failover and breakers are
//! the chain's job. What this crate must never do: put a secret (AWS keys, Twilio auth token or
//! account SID, SendGrid key, SMTP password) into a log line, an error message or a report.
//! Every error text built here goes through [`redact::Redactor`] before it leaves a provider.
//! Knows nothing of Tauri.

pub mod aws;
pub mod credential_store;
pub mod http;
pub mod install;
pub mod probe;
pub mod redact;
pub mod secrets_manager;
pub mod sendgrid;
pub mod ses;
pub mod sms_delivery_logs;
pub mod smtp;
pub mod sns;
pub mod sync;
pub mod template;
pub mod timeouts;
pub mod twilio;
pub mod validate;

pub use aws::AwsSettings;
pub use credential_store::{open_store, store_label};
pub use install::{install_providers, mark_refused, reinstall, InstallReport};
pub use probe::{ProbeReport, ProbeScheduler};
pub use secrets_manager::{SecretsManagerSettings, SecretsManagerStore};
pub use sendgrid::{SendGridProvider, SendGridSettings};
pub use ses::SesProvider;
pub use smtp::{SmtpProvider, SmtpSettings};
pub use sns::SnsProvider;
pub use sync::CredentialSync;
pub use template::{sms_length, OtpTemplate, SmsEncoding, SmsLength};
pub use timeouts::Timeouts;
pub use twilio::{TwilioProvider, TwilioSender, TwilioSettings};
pub use validate::{AwsValidator, ProviderValidator, SmtpValidator};
