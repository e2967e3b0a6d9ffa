//! msgops' configuration: one TOML file in the platform's config directory
//! (`~/.config/msgops/config.toml` on Linux, or `$MSGOPS_CONFIG`). Every field has a default —
//! the chains and numbers of the incident report — so msgops starts with no file at all.
//!
//! Secrets never live here: they are in the OS keychain. A bad file is reported with the line
//! and the field, and the last good configuration stays in force.

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::breaker::BreakerPolicy;
use crate::chain::{
    ChainSettings, Priority, ProviderSpec, RateLimitPolicy, MIN_ATTEMPT_TIMEOUT_MS,
};
use crate::provider::ProviderKind;

/// Breaker, rate and cost of one provider. Absent fields take that provider's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export, optional_fields)]
pub struct ProviderPolicy {
    pub enabled: Option<bool>,
    pub failure_threshold: Option<u32>,
    pub open_secs: Option<u64>,
    pub rate_per_second: Option<f64>,
    pub cost_usd: Option<f64>,
}

/// Built-in defaults of a provider (incident.md).
#[derive(Debug, Clone, Copy)]
pub struct ProviderDefaults {
    pub id: ProviderKind,
    pub failure_threshold: u32,
    pub open_secs: u64,
    pub rate_per_second: f64,
    pub cost_usd: f64,
}

pub const SNS: ProviderDefaults = ProviderDefaults {
    id: ProviderKind::Sns,
    failure_threshold: 5,
    open_secs: 300,
    rate_per_second: 10.0,
    cost_usd: 0.00645,
};
pub const TWILIO: ProviderDefaults = ProviderDefaults {
    id: ProviderKind::Twilio,
    failure_threshold: 3,
    open_secs: 180,
    rate_per_second: 5.0,
    cost_usd: 0.0075,
};
pub const CONSOLE: ProviderDefaults = ProviderDefaults {
    id: ProviderKind::Console,
    failure_threshold: 0,
    open_secs: 0,
    rate_per_second: 0.0,
    cost_usd: 0.0,
};
pub const SES: ProviderDefaults = ProviderDefaults {
    id: ProviderKind::Ses,
    failure_threshold: 5,
    open_secs: 300,
    rate_per_second: 14.0,
    cost_usd: 0.0001,
};
pub const SENDGRID: ProviderDefaults = ProviderDefaults {
    id: ProviderKind::Sendgrid,
    failure_threshold: 3,
    open_secs: 180,
    rate_per_second: 10.0,
    cost_usd: 0.0,
};
pub const SMTP: ProviderDefaults = ProviderDefaults {
    id: ProviderKind::Smtp,
    failure_threshold: 5,
    open_secs: 60,
    rate_per_second: 0.0,
    cost_usd: 0.0,
};

/// The SMS chain in priority order, then the email chain.
pub const SMS_CHAIN: [ProviderDefaults; 3] = [SNS, TWILIO, CONSOLE];
pub const EMAIL_CHAIN: [ProviderDefaults; 3] = [SES, SENDGRID, SMTP];

/// Limits a provider's values must stay within: wider than any real setting, narrow enough to
/// catch a slipped key (a cool-down of 30000 seconds is a typo for 300).
pub const MAX_FAILURE_THRESHOLD: u32 = 1_000;
pub const MAX_OPEN_SECS: u64 = 24 * 3600;
pub const MAX_RATE_PER_SECOND: f64 = 10_000.0;
pub const MAX_COST_USD: f64 = 10.0;

/// The defaults of a provider.
pub fn defaults(id: ProviderKind) -> &'static ProviderDefaults {
    match id {
        ProviderKind::Sns => &SNS,
        ProviderKind::Twilio => &TWILIO,
        ProviderKind::Console => &CONSOLE,
        ProviderKind::Ses => &SES,
        ProviderKind::Sendgrid => &SENDGRID,
        ProviderKind::Smtp => &SMTP,
    }
}

impl ProviderPolicy {
    /// Every value that cannot work, as `(field, why)` (`failure_threshold`, `open_secs`,
    /// `rate_per_second`, `cost_usd`). The one rule for the configuration file and the Settings
    /// page; unset values are the provider's defaults.
    pub fn problems(&self, d: &ProviderDefaults) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let threshold = self.failure_threshold.unwrap_or(d.failure_threshold);
        let open_secs = self.open_secs.unwrap_or(d.open_secs);
        let rate = self.rate_per_second.unwrap_or(d.rate_per_second);
        let cost = self.cost_usd.unwrap_or(d.cost_usd);
        if threshold > MAX_FAILURE_THRESHOLD {
            out.push((
                "failure_threshold",
                format!(
                    "must be {MAX_FAILURE_THRESHOLD} or less (0 means the breaker never opens), not {threshold}"
                ),
            ));
        }
        if threshold > 0 && !(1..=MAX_OPEN_SECS).contains(&open_secs) {
            out.push((
                "open_secs",
                format!("must be between 1 and {MAX_OPEN_SECS} seconds, not {open_secs}"),
            ));
        }
        if !rate.is_finite() || !(0.0..=MAX_RATE_PER_SECOND).contains(&rate) {
            out.push((
                "rate_per_second",
                format!("must be between 0 (unlimited) and {MAX_RATE_PER_SECOND} per second, not {rate}"),
            ));
        }
        if !cost.is_finite() || !(0.0..=MAX_COST_USD).contains(&cost) {
            out.push((
                "cost_usd",
                format!("must be between 0 and {MAX_COST_USD} USD per message, not {cost}"),
            ));
        }
        out
    }

    pub fn spec(&self, d: &ProviderDefaults, priority: Priority) -> ProviderSpec {
        ProviderSpec {
            id: d.id,
            health_name: d.id.health_name().into(),
            display_name: d.id.display_name().into(),
            priority,
            cost_per_message_usd: self.cost_usd.unwrap_or(d.cost_usd),
            breaker: BreakerPolicy {
                failure_threshold: self.failure_threshold.unwrap_or(d.failure_threshold),
                open_for: Duration::from_secs(self.open_secs.unwrap_or(d.open_secs)),
            },
            rate_per_second: self.rate_per_second.unwrap_or(d.rate_per_second),
        }
    }
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct ChainConfig {
    #[ts(type = "number")]
    pub per_attempt_timeout_ms: u64,
    #[ts(type = "number")]
    pub send_deadline_ms: u64,
    /// When a provider has no rate-limit token: wait up to this long, then spill over to the
    /// next provider. Zero spills over at once.
    #[ts(type = "number")]
    pub rate_limit_max_wait_ms: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            per_attempt_timeout_ms: 10_000,
            send_deadline_ms: 30_000,
            rate_limit_max_wait_ms: 500,
        }
    }
}

/// The longest timeout, deadline or wait the chain settings accept: a day.
pub const MAX_CHAIN_MS: u64 = 86_400_000;

impl ChainConfig {
    /// Rejects timings that cannot work, naming the field and why. Shared with the Settings
    /// page.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let min = MIN_ATTEMPT_TIMEOUT_MS;
        for (field, ms) in [
            ("chain.per_attempt_timeout_ms", self.per_attempt_timeout_ms),
            ("chain.send_deadline_ms", self.send_deadline_ms),
            ("chain.rate_limit_max_wait_ms", self.rate_limit_max_wait_ms),
        ] {
            if ms > MAX_CHAIN_MS {
                return Err((
                    field,
                    format!("must be at most {MAX_CHAIN_MS} (a day), not {ms}"),
                ));
            }
        }
        if self.per_attempt_timeout_ms < min {
            return Err((
                "chain.per_attempt_timeout_ms",
                format!(
                    "must be at least {min}: no attempt is started with less, so none would be, not {}",
                    self.per_attempt_timeout_ms
                ),
            ));
        }
        if self.send_deadline_ms < self.per_attempt_timeout_ms {
            return Err((
                "chain.send_deadline_ms",
                format!(
                    "must be at least chain.per_attempt_timeout_ms ({}), not {}",
                    self.per_attempt_timeout_ms, self.send_deadline_ms
                ),
            ));
        }
        if self.send_deadline_ms < 2 * min {
            return Err((
                "chain.send_deadline_ms",
                format!(
                    "must be at least {}: {min} for a first attempt and {min} kept for the last \
                     resort (Console, SMTP), not {}",
                    2 * min,
                    self.send_deadline_ms
                ),
            ));
        }
        Ok(())
    }

    /// The chain's settings. Never panics, whatever the values (unchecked ones included).
    pub fn settings(&self) -> ChainSettings {
        ChainSettings {
            per_attempt_timeout: Duration::from_millis(self.per_attempt_timeout_ms),
            send_deadline: Duration::from_millis(self.send_deadline_ms),
            on_rate_limit: match self.rate_limit_max_wait_ms {
                0 => RateLimitPolicy::SpillOver,
                ms => RateLimitPolicy::Wait(Duration::from_millis(ms)),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct SnsConfig {
    pub region: String,
    /// Another endpoint (moto, LocalStack); empty for AWS itself.
    pub endpoint_url: Option<String>,
    pub policy: ProviderPolicy,
}

impl Default for SnsConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            endpoint_url: None,
            policy: ProviderPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct SesConfig {
    pub region: String,
    pub endpoint_url: Option<String>,
    pub from: Option<String>,
    pub policy: ProviderPolicy,
}

impl Default for SesConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            endpoint_url: None,
            from: None,
            policy: ProviderPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct TwilioConfig {
    pub base_url: String,
    /// E.164 sender number (`TWILIO_PHONE_NUMBER`).
    pub from_number: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub policy: ProviderPolicy,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.twilio.com".into(),
            from_number: None,
            messaging_service_sid: None,
            policy: ProviderPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct SendGridConfig {
    /// The whole base URL, version included.
    pub base_url: String,
    pub from: Option<String>,
    pub policy: ProviderPolicy,
}

impl Default for SendGridConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.sendgrid.com/v3".into(),
            from: None,
            policy: ProviderPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS at all: only for servers on this machine.
    Plain,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub from: Option<String>,
    pub policy: ProviderPolicy,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            from: None,
            policy: ProviderPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct ConsoleConfig {
    /// The log the Console provider appends codes to (the backend's log).
    pub log_path: PathBuf,
    pub policy: ProviderPolicy,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            log_path: data_dir().join("console-sms.log"),
            policy: ProviderPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct LogsConfig {
    /// Backend logs to follow for fallback codes and diagnostics.
    pub follow: Vec<PathBuf>,
    /// How long a code stays valid after it was written (the backend's 10 minutes).
    #[ts(type = "number")]
    pub code_lifetime_secs: u64,
    /// Polling interval for filesystems without change notification.
    #[ts(type = "number")]
    pub poll_interval_ms: u64,
    /// Extra patterns: regexes with named groups `code` and optionally `recipient`, `ts`, `corr`
    /// (a thread, task or request id); or `recipient` (and `corr`) without `code` for the line
    /// that announces a request whose code comes later.
    pub patterns: Vec<String>,
    /// The backend's `.env` or config file, for the stale-configuration check.
    pub backend_config: Option<PathBuf>,
    /// The zone the logs' timestamps are written in: `auto` (inferred per file from its
    /// modification time), `local`, `UTC` or an IANA name like `America/Toronto`.
    pub timezone: String,
    /// Digits in a one-time code (the backend's 6).
    #[ts(type = "number")]
    pub code_length: usize,
}

impl LogsConfig {
    /// How the log watcher and `msgops codes` read the logs. Patterns that do not compile are
    /// left out and described in the second value (the built-in ones keep working).
    pub fn parser(&self) -> (msgops_logwatch::ParserConfig, Vec<String>) {
        let mut problems = Vec::new();
        let patterns = self
            .patterns
            .iter()
            .filter_map(|p| match msgops_logwatch::CodePattern::new(p) {
                Ok(p) => Some(p),
                Err(e) => {
                    problems.push(format!("pattern `{p}` ignored: {e}"));
                    None
                }
            })
            .collect();
        let lifetime = chrono::TimeDelta::seconds(
            i64::try_from(self.code_lifetime_secs)
                .unwrap_or(i64::MAX)
                .min(MAX_CODE_LIFETIME_SECS),
        );
        let config = msgops_logwatch::ParserConfig {
            expiry: msgops_logwatch::CodeExpiry::new(lifetime),
            patterns,
            code_length: self.code_length,
            zone: self.timezone.parse().unwrap_or_default(),
            ..msgops_logwatch::ParserConfig::default()
        };
        (config, problems)
    }
}

/// The longest code lifetime accepted: a day.
pub const MAX_CODE_LIFETIME_SECS: i64 = 86_400;

impl Config {
    /// The logs followed for codes: `logs.follow`, plus the Console provider's own log so that a
    /// code msgops itself delivered through Console is seen with no configuration.
    pub fn followed_logs(&self) -> Vec<PathBuf> {
        let mut files = self.logs.follow.clone();
        if !files.contains(&self.console.log_path) {
            files.push(self.console.log_path.clone());
        }
        files
    }
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            follow: Vec::new(),
            code_lifetime_secs: 600,
            poll_interval_ms: 250,
            patterns: Vec::new(),
            backend_config: None,
            timezone: "auto".into(),
            code_length: msgops_logwatch::DEFAULT_CODE_LENGTH,
        }
    }
}

/// The HTTP service (health JSON, metrics, send API) the desktop app can run in the background.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct ServiceConfig {
    pub enabled: bool,
    /// Loopback unless you mean it; another address needs the API token on every endpoint.
    pub listen: String,
    /// The address the providers call the service at (`https://ops.example.com`, maybe with a
    /// path prefix), as their webhooks are configured: Twilio signs the URL it calls, and behind
    /// a TLS-terminating proxy the service cannot see it. Without it, Twilio callbacks are
    /// refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:5024".into(),
            public_url: None,
        }
    }
}

/// `[delivery]`: the providers' delivery reports, and what msgops does with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct DeliveryConfig {
    /// After a Twilio auth token rotation, callbacks signed with the previous token are still
    /// accepted this long (Twilio signs with the token in force when it calls).
    #[ts(type = "number")]
    pub twilio_previous_token_grace_secs: u64,
    /// SendGrid events signed longer ago than this (or as far ahead) are refused as replays.
    #[ts(type = "number")]
    pub sendgrid_replay_window_secs: u64,
    /// The SNS topics whose notifications (SES event records) are accepted, and whose
    /// subscriptions are confirmed. Empty: none.
    pub sns_topic_arns: Vec<String>,
    /// The AWS account whose SNS SMS delivery logs (CloudWatch Logs,
    /// `sns/<region>/<account>/DirectPublishToPhoneNumber`) are read. Unset: not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sns_sms_log_account: Option<String>,
    /// How often those logs are read.
    #[ts(type = "number")]
    pub sns_sms_log_poll_secs: u64,
    /// An undelivered report (the provider accepted the message, then could not deliver it)
    /// within the code's lifetime sends the message again through the next provider, once.
    pub resend_undelivered: bool,
    /// A desktop notification when a provider's delivered share over the last hour drops below
    /// this percentage (0: never).
    pub alert_below_percent: f64,
    /// ... counted over at least this many messages with a final report.
    pub alert_min_messages: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            twilio_previous_token_grace_secs: 900,
            sendgrid_replay_window_secs: 300,
            sns_topic_arns: Vec::new(),
            sns_sms_log_account: None,
            sns_sms_log_poll_secs: 30,
            resend_undelivered: false,
            alert_below_percent: 80.0,
            alert_min_messages: 5,
        }
    }
}

/// Where msgops keeps the providers' secrets (`[credentials] store`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum CredentialStoreKind {
    /// The OS keychain (Secret Service, macOS Keychain, Windows Credential Manager).
    #[default]
    Keychain,
    /// AWS Secrets Manager: one secret per provider (`<secret_prefix><provider>`, a JSON
    /// object of account names to values), rotated in place (new version, `AWSPREVIOUS` kept).
    AwsSecretsManager,
    /// systemd's credentials (`$CREDENTIALS_DIRECTORY/<account>`, from the unit's
    /// `LoadCredentialEncrypted=`): read-only for msgops.
    SystemdCreds,
}

impl CredentialStoreKind {
    /// As written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keychain => "keychain",
            Self::AwsSecretsManager => "aws-secrets-manager",
            Self::SystemdCreds => "systemd-creds",
        }
    }
}

/// `[credentials]`: which store holds the providers' secrets, and where (Secrets Manager).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct CredentialsConfig {
    pub store: CredentialStoreKind,
    /// Secrets Manager's region; unset: the AWS SDK's (`AWS_REGION`, the profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Another Secrets Manager endpoint (moto, LocalStack); unset for AWS itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Secrets Manager secret names: this, then the provider (`msgops/twilio`).
    pub secret_prefix: String,
}

impl Default for CredentialsConfig {
    fn default() -> Self {
        Self {
            store: CredentialStoreKind::Keychain,
            region: None,
            endpoint_url: None,
            secret_prefix: "msgops/".into(),
        }
    }
}

/// `[history]`: where the send history (with the delivery reports, breaker transitions and
/// probe results) is kept, and for how long.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct HistoryConfig {
    /// Unset: `history.sqlite3` in the data directory, shared by the app and `msgops serve` on
    /// this machine. A path (or `sqlite://PATH`): that SQLite file. `postgres://user:password@host/db`:
    /// a PostgreSQL database several msgops instances share. The password is never logged or
    /// shown (see [`mask_url_password`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Sends, delivery reports, breaker transitions and probe results older than this many
    /// days are deleted.
    pub keep_days: u32,
}

/// `history.keep_days` when the configuration does not say.
pub const DEFAULT_HISTORY_KEEP_DAYS: u32 = 90;
/// The longest `history.keep_days` accepted (ten years).
pub const MAX_HISTORY_KEEP_DAYS: u32 = 3650;

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            url: None,
            keep_days: DEFAULT_HISTORY_KEEP_DAYS,
        }
    }
}

/// The URL with its password masked: a configuration printed for debugging never shows it.
impl std::fmt::Debug for HistoryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryConfig")
            .field("url", &self.url.as_deref().map(mask_url_password))
            .field("keep_days", &self.keep_days)
            .finish()
    }
}

/// `url` with the password of its user part (`postgres://user:PASSWORD@host`) and of a
/// `password=` parameter replaced by `***`, for messages and logs. Anything else is unchanged.
pub fn mask_url_password(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let from = rest_start + colon + 1;
                let to = rest_start + at;
                if to > from {
                    out.replace_range(from..to, "***");
                }
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, value)) if key.eq_ignore_ascii_case("password") && !value.is_empty() => {
                    format!("{key}=***")
                }
                _ => pair.to_string(),
            })
            .collect();
        out = format!("{head}{}", masked.join("&"));
    }
    out
}

/// `history.url`: a `postgres://` / `postgresql://` URL with a host and a database, or a SQLite
/// file (a path, or `sqlite://PATH`). Messages never show the password.
pub fn check_history_url(url: &str) -> Result<(), String> {
    let shown = mask_url_password(url);
    if url.trim().is_empty() {
        return Err(
            "must not be empty (leave it out for history.sqlite3 in the data directory)".into(),
        );
    }
    if url.contains(char::is_whitespace) {
        return Err(format!("`{shown}` must not contain spaces"));
    }
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        let database = rest
            .split_once('/')
            .map(|(_, d)| d.split(['?', '#']).next().unwrap_or(""))
            .unwrap_or("");
        if host.is_empty() && !rest.contains("host=") {
            return Err(format!(
                "`{shown}` names no host: use postgres://user:password@host:5432/msgops"
            ));
        }
        if database.is_empty() && !rest.contains("dbname=") {
            return Err(format!(
                "`{shown}` names no database: use postgres://user:password@host:5432/msgops"
            ));
        }
        return Ok(());
    }
    if let Some(scheme) = url
        .split_once("://")
        .map(|(s, _)| s)
        .filter(|s| *s != "sqlite")
    {
        return Err(format!(
            "`{scheme}://` is not a history store: use postgres://…, sqlite://PATH or a file path"
        ));
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    if path.is_empty() || path.ends_with('/') {
        return Err(format!("`{shown}` names no SQLite file"));
    }
    Ok(())
}

/// `[desktop]`: how the desktop app lives beside the operator's other work. Read by the app
/// only; `msgops serve` ignores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct DesktopConfig {
    /// Closing the window hides it: msgops keeps following the logs and notifying from the
    /// tray, and quits from the tray's menu. False: closing the window quits.
    pub close_to_tray: bool,
    /// A system-wide key combination that brings the window up on the Codes search, such as
    /// `CommandOrControl+Shift+K`. Unset: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_shortcut: Option<String>,
}

impl Default for DesktopConfig {
    fn default() -> Self {
        Self {
            close_to_tray: true,
            global_shortcut: None,
        }
    }
}

/// `[state]`: where `msgops serve` keeps its rate and recipient limits, idempotency keys,
/// breaker counts and event fan-out: this process's memory (the default), or a Redis / Valkey
/// server that several instances behind one address share.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct StateConfig {
    /// `memory`, or `redis://[user:password@]host:port[/db]` (`rediss://` for TLS). The URL's
    /// password is never logged or shown ([`mask_url_password`]).
    pub backend: String,
    /// How many instances share the backend: while it is unreachable, each applies the rate
    /// and recipient limits divided by this.
    pub instances: u32,
    /// The first part of every key and channel name on the server.
    pub key_prefix: String,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            backend: "memory".into(),
            instances: 1,
            key_prefix: "msgops".into(),
        }
    }
}

/// The URL with its password masked, as for `[history]`.
impl std::fmt::Debug for StateConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateConfig")
            .field("backend", &mask_url_password(&self.backend))
            .field("instances", &self.instances)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// The most instances `[state] instances` accepts.
pub const MAX_STATE_INSTANCES: u32 = 1000;

impl StateConfig {
    /// The Redis URL, when the backend is Redis.
    pub fn redis_url(&self) -> Option<&str> {
        (self.backend != "memory").then_some(self.backend.as_str())
    }

    /// Rejects what cannot work, naming the field and why (never showing a password).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(url) = self.redis_url() {
            check_redis_url(url).map_err(|m| ("state.backend", m))?;
        }
        if self.instances == 0 || self.instances > MAX_STATE_INSTANCES {
            return Err((
                "state.instances",
                format!(
                    "must be from 1 to {MAX_STATE_INSTANCES} (the instances sharing the backend), not {}",
                    self.instances
                ),
            ));
        }
        let p = &self.key_prefix;
        if p.is_empty()
            || p.len() > 64
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
        {
            return Err((
                "state.key_prefix",
                format!(
                    "`{p}` must be 1 to 64 letters, digits or _.:- (no braces: msgops adds the \
                     cluster hash tags itself)"
                ),
            ));
        }
        Ok(())
    }
}

/// `state.backend` other than `memory`: a `redis://` or `rediss://` URL with a host (and a
/// numbered database, if any). Messages never show the password.
pub fn check_redis_url(url: &str) -> Result<(), String> {
    let shown = mask_url_password(url);
    let Some(rest) = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"))
    else {
        return Err(format!(
            "`{shown}` is neither `memory` nor a URL like redis://127.0.0.1:6379 (rediss:// for TLS)"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') || url.contains(char::is_whitespace) {
        return Err(format!(
            "`{shown}` names no host: write it like redis://127.0.0.1:6379/0"
        ));
    }
    let db = rest
        .split_once('/')
        .map_or("", |(_, db)| db.split(['?', '#']).next().unwrap_or(""));
    if !db.is_empty() && db.parse::<u16>().is_err() {
        return Err(format!(
            "`{shown}`: the database after the host must be a number, not `{db}`"
        ));
    }
    Ok(())
}

/// `credentials.secret_prefix`: what Secrets Manager accepts in a name (letters, digits and
/// `/_+=.@-`), short enough to leave room for the provider.
pub fn check_secret_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > 400 {
        return Err("must be 1 to 400 characters, like msgops/".into());
    }
    if let Some(c) = prefix
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !"/_+=.@-".contains(*c))
    {
        return Err(format!(
            "`{c}` cannot be in a Secrets Manager name (letters, digits and /_+=.@- only)"
        ));
    }
    Ok(())
}

/// `service.public_url`: an http(s) URL with a host, no query, no trailing slash needed.
pub fn check_public_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("`{url}` must start with https:// (or http://)"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains('@') || rest.contains(['?', '#', ' ']) {
        return Err(format!(
            "`{url}` must be a base address like https://ops.example.com (no user, query or fragment)"
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct Config {
    pub chain: ChainConfig,
    pub sns: SnsConfig,
    pub twilio: TwilioConfig,
    pub console: ConsoleConfig,
    pub ses: SesConfig,
    pub sendgrid: SendGridConfig,
    pub smtp: SmtpConfig,
    pub logs: LogsConfig,
    pub service: ServiceConfig,
    pub health: crate::health::HealthConfig,
    pub delivery: DeliveryConfig,
    pub credentials: CredentialsConfig,
    pub history: HistoryConfig,
    pub state: StateConfig,
    pub desktop: DesktopConfig,
}

/// A configuration file that could not be used. Says where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: line {line}, field `{field}`: {message}")]
    Invalid {
        path: String,
        line: usize,
        field: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Unreadable { path: String, message: String },
}

impl Config {
    /// The breaker, rate and cost policy of a provider.
    pub fn policy(&self, id: ProviderKind) -> &ProviderPolicy {
        match id {
            ProviderKind::Sns => &self.sns.policy,
            ProviderKind::Twilio => &self.twilio.policy,
            ProviderKind::Console => &self.console.policy,
            ProviderKind::Ses => &self.ses.policy,
            ProviderKind::Sendgrid => &self.sendgrid.policy,
            ProviderKind::Smtp => &self.smtp.policy,
        }
    }

    pub fn policy_mut(&mut self, id: ProviderKind) -> &mut ProviderPolicy {
        match id {
            ProviderKind::Sns => &mut self.sns.policy,
            ProviderKind::Twilio => &mut self.twilio.policy,
            ProviderKind::Console => &mut self.console.policy,
            ProviderKind::Ses => &mut self.ses.policy,
            ProviderKind::Sendgrid => &mut self.sendgrid.policy,
            ProviderKind::Smtp => &mut self.smtp.policy,
        }
    }

    /// Parses TOML text; `origin` names the file in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let (line, field) = locate(text, offset);
            ConfigError::Invalid {
                path: origin.into(),
                line,
                field,
                message: e.message().trim().to_string(),
            }
        })?;
        config.validate(text, origin)?;
        Ok(config)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks what types alone cannot.
    fn validate(&self, text: &str, origin: &str) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: String| {
            let key = field.rsplit('.').next().unwrap_or(field);
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with(key) && l.contains('='))
                .map_or(0, |i| i + 1);
            Err(ConfigError::Invalid {
                path: origin.into(),
                line,
                field: field.into(),
                message,
            })
        };
        for id in ProviderKind::ALL {
            if let Some((field, message)) = self.policy(id).problems(defaults(id)).pop() {
                return invalid(&format!("{id}.policy.{field}"), message);
            }
        }
        if let Err((field, message)) = self.chain.check() {
            return invalid(field, message);
        }
        if self.service.listen.parse::<std::net::SocketAddr>().is_err() {
            return invalid(
                "service.listen",
                format!(
                    "`{}` is not an address like 127.0.0.1:5024",
                    self.service.listen
                ),
            );
        }
        if let Some(Err(message)) = self.service.public_url.as_deref().map(check_public_url) {
            return invalid("service.public_url", message);
        }
        let d = &self.delivery;
        if d.sendgrid_replay_window_secs == 0 || d.sendgrid_replay_window_secs > 86_400 {
            return invalid(
                "delivery.sendgrid_replay_window_secs",
                "must be from 1 to 86400 seconds".into(),
            );
        }
        if d.twilio_previous_token_grace_secs > 7 * 86_400 {
            return invalid(
                "delivery.twilio_previous_token_grace_secs",
                "must be at most 604800 (a week)".into(),
            );
        }
        if d.sns_sms_log_poll_secs == 0 || d.sns_sms_log_poll_secs > 3600 {
            return invalid(
                "delivery.sns_sms_log_poll_secs",
                "must be from 1 to 3600 seconds".into(),
            );
        }
        if !(0.0..=100.0).contains(&d.alert_below_percent) {
            return invalid(
                "delivery.alert_below_percent",
                "must be from 0 to 100".into(),
            );
        }
        if let Some(arn) = d.sns_topic_arns.iter().find(|a| !a.starts_with("arn:")) {
            return invalid(
                "delivery.sns_topic_arns",
                format!(
                    "`{arn}` is not a topic ARN like arn:aws:sns:us-east-1:123456789012:ses-events"
                ),
            );
        }
        if let Some(account) = d
            .sns_sms_log_account
            .as_deref()
            .filter(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
        {
            return invalid(
                "delivery.sns_sms_log_account",
                format!("`{account}` is not a 12-digit AWS account id"),
            );
        }
        if let Err(message) = check_code_lifetime(self.logs.code_lifetime_secs) {
            return invalid("logs.code_lifetime_secs", message);
        }
        if let Err(e) = self.logs.timezone.parse::<msgops_logwatch::ZoneSetting>() {
            return invalid("logs.timezone", e.to_string());
        }
        if let Err(message) = check_secret_prefix(&self.credentials.secret_prefix) {
            return invalid("credentials.secret_prefix", message);
        }
        if let Some(url) = self.credentials.endpoint_url.as_deref().filter(|u| {
            !(u.starts_with("http://") || u.starts_with("https://"))
                || u.contains(char::is_whitespace)
        }) {
            return invalid(
                "credentials.endpoint_url",
                format!("`{url}` is not an http(s) URL like http://127.0.0.1:5000"),
            );
        }
        if !(1..=MAX_HISTORY_KEEP_DAYS).contains(&self.history.keep_days) {
            return invalid(
                "history.keep_days",
                format!("must be from 1 to {MAX_HISTORY_KEEP_DAYS} days"),
            );
        }
        if let Some(Err(message)) = self.history.url.as_deref().map(check_history_url) {
            return invalid("history.url", message);
        }
        if let Err((field, message)) = self.state.check() {
            return invalid(field, message);
        }
        if let Err(message) = check_code_length(self.logs.code_length) {
            return invalid("logs.code_length", message);
        }
        if let Some(from) = self
            .twilio
            .from_number
            .as_deref()
            .filter(|n| crate::message::validate_phone(n).is_err())
        {
            return invalid(
                "twilio.from_number",
                format!("`{from}` is not an E.164 number like +14165550123"),
            );
        }
        Ok(())
    }
}

/// `logs.code_lifetime_secs`: more than 0, at most a day. Shared with the Settings page.
pub fn check_code_lifetime(secs: u64) -> Result<(), String> {
    if secs == 0 {
        return Err("must be more than 0".into());
    }
    if i64::try_from(secs).map_or(true, |s| s > MAX_CODE_LIFETIME_SECS) {
        return Err(format!("must be at most {MAX_CODE_LIFETIME_SECS} (a day)"));
    }
    Ok(())
}

/// `logs.code_length`: the digits of a code. Shared with the Settings page.
pub fn check_code_length(length: usize) -> Result<(), String> {
    let range = msgops_logwatch::CODE_LENGTHS;
    if range.contains(&length) {
        Ok(())
    } else {
        Err(format!(
            "must be from {} to {} digits, not {length}",
            range.start(),
            range.end()
        ))
    }
}

/// 1-based line of a byte offset, and the key written on that line (or its table header).
fn locate(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let line_no = text[..offset].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let table = text[..offset].lines().rev().find_map(|l| {
        l.trim()
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
            .map(str::to_string)
    });
    let key = line
        .split('=')
        .next()
        .map(str::trim)
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let field = match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (None, Some(k)) => k.to_string(),
        (Some(t), None) => t,
        (None, None) => "(file)".into(),
    };
    (line_no, field)
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "msgops", "msgops")
}

/// `$MSGOPS_CONFIG`, else `<config dir>/msgops/config.toml`.
pub fn config_path() -> PathBuf {
    if let Some(p) = std::env::var_os("MSGOPS_CONFIG") {
        return PathBuf::from(p);
    }
    project_dirs().map_or_else(
        || PathBuf::from("msgops.toml"),
        |d| d.config_dir().join("config.toml"),
    )
}

/// `$MSGOPS_DATA_DIR`, else the platform's data directory for msgops.
pub fn data_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("MSGOPS_DATA_DIR") {
        return PathBuf::from(p);
    }
    project_dirs().map_or_else(|| PathBuf::from("."), |d| d.data_dir().to_path_buf())
}

/// The configuration file and the configuration in force. A failed (re)load keeps the last good
/// configuration.
pub struct ConfigFile {
    path: PathBuf,
    current: RwLock<Config>,
}

impl ConfigFile {
    /// Loads `path`; a missing file means all defaults. Returns the error beside the store when
    /// the file is bad, so the caller can show it while running on defaults.
    pub fn open(path: impl Into<PathBuf>) -> (Self, Option<ConfigError>) {
        let path = path.into();
        let (config, error) = match read_config(&path) {
            Ok(config) => (config, None),
            Err(e) => (Config::default(), Some(e)),
        };
        (
            Self {
                path,
                current: RwLock::new(config),
            },
            error,
        )
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn current(&self) -> Config {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the file. On error the configuration in force is unchanged.
    pub fn reload(&self) -> Result<Config, ConfigError> {
        let config = read_config(&self.path)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = config.clone();
        Ok(config)
    }

    /// Validates and writes a new configuration atomically (temp file + rename).
    pub fn save(&self, config: Config) -> Result<(), ConfigError> {
        let text = config.to_toml();
        let origin = self.path.display().to_string();
        Config::from_toml(&text, &origin)?;
        let unreadable = |e: std::io::Error| ConfigError::Unreadable {
            path: origin.clone(),
            message: e.to_string(),
        };
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(unreadable)?;
        let tmp = dir.join(format!(".config.toml.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).map_err(unreadable)?;
        std::fs::rename(&tmp, &self.path).map_err(unreadable)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = config;
        Ok(())
    }
}

fn read_config(path: &Path) -> Result<Config, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Config::from_toml(&text, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(ConfigError::Unreadable {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_the_incident_chain_and_numbers() {
        let (file, error) = ConfigFile::open("/nonexistent/msgops/config.toml");
        assert_eq!(error, None);
        let c = file.current();
        let sns = c.sns.policy.spec(&SNS, Priority::Primary);
        assert_eq!(
            (
                sns.breaker.failure_threshold,
                sns.breaker.open_for.as_secs()
            ),
            (5, 300)
        );
        assert_eq!(
            (sns.rate_per_second, sns.cost_per_message_usd),
            (10.0, 0.00645)
        );
        let twilio = c.twilio.policy.spec(&TWILIO, Priority::Secondary);
        assert_eq!(
            (
                twilio.breaker.failure_threshold,
                twilio.breaker.open_for.as_secs()
            ),
            (3, 180)
        );
        assert_eq!(
            (twilio.rate_per_second, twilio.cost_per_message_usd),
            (5.0, 0.0075)
        );
        assert_eq!(
            c.console
                .policy
                .spec(&CONSOLE, Priority::Fallback)
                .cost_per_message_usd,
            0.0
        );
        assert_eq!(c.logs.code_lifetime_secs, 600);
    }

    #[test]
    fn a_partial_policy_keeps_the_providers_other_defaults() {
        let c =
            Config::from_toml("[twilio.policy]\nfailure_threshold = 4\n", "t.toml").expect("valid");
        let spec = c.twilio.policy.spec(&TWILIO, Priority::Secondary);
        assert_eq!(
            (
                spec.breaker.failure_threshold,
                spec.breaker.open_for.as_secs()
            ),
            (4, 180)
        );
    }

    #[test]
    fn a_wrong_type_names_the_line_and_field() {
        let text =
            "[chain]\nsend_deadline_ms = 30000\n\n[sns.policy]\nfailure_threshold = \"five\"\n";
        let err = Config::from_toml(text, "config.toml").expect_err("string for a number");
        match &err {
            ConfigError::Invalid { line, field, .. } => {
                assert_eq!(*line, 5);
                assert_eq!(field, "sns.policy.failure_threshold");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("config.toml: line 5, field `sns.policy.failure_threshold`"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_field_is_reported_not_ignored() {
        let err = Config::from_toml("[twilio]\nfrom_numbr = \"+14165550123\"\n", "c.toml")
            .expect_err("typo");
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(err.to_string().contains("from_numbr"), "{err}");
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let err = Config::from_toml("[twilio]\nfrom_number = \"4165550123\"\n", "c.toml")
            .expect_err("not E.164");
        assert!(
            err.to_string()
                .contains("line 2, field `twilio.from_number`"),
            "{err}"
        );
        let err = Config::from_toml("[sns.policy]\nrate_per_second = -1.0\n", "c.toml")
            .expect_err("negative");
        assert!(
            err.to_string().contains("sns.policy.rate_per_second"),
            "{err}"
        );
    }

    #[test]
    fn chain_timings_that_cannot_work_are_rejected_on_their_field() {
        let rejected = |text: &str| {
            Config::from_toml(text, "c.toml")
                .expect_err(text)
                .to_string()
        };
        let err = rejected("[chain]\nper_attempt_timeout_ms = 100\n");
        assert!(
            err.contains("line 2, field `chain.per_attempt_timeout_ms`: must be at least 500"),
            "{err}"
        );
        let err = rejected("[chain]\nper_attempt_timeout_ms = 0\n");
        assert!(err.contains("chain.per_attempt_timeout_ms"), "{err}");
        let err = rejected("[chain]\nper_attempt_timeout_ms = 2000\nsend_deadline_ms = 1500\n");
        assert!(
            err.contains("line 3, field `chain.send_deadline_ms`: must be at least chain.per_attempt_timeout_ms (2000), not 1500"),
            "{err}"
        );
        let err = rejected("[chain]\nper_attempt_timeout_ms = 500\nsend_deadline_ms = 900\n");
        assert!(
            err.contains("field `chain.send_deadline_ms`: must be at least 1000")
                && err.contains("last resort"),
            "{err}"
        );
        Config::from_toml(
            "[chain]\nper_attempt_timeout_ms = 500\nsend_deadline_ms = 1000\n",
            "c.toml",
        )
        .expect("the smallest timings that work");
        assert_eq!(ChainConfig::default().check(), Ok(()));
    }

    #[test]
    fn huge_chain_timings_are_rejected_and_never_panic() {
        let err = Config::from_toml(
            "[chain]\nper_attempt_timeout_ms = 9223372036854775807\nsend_deadline_ms = 9223372036854775807\n",
            "c.toml",
        )
        .expect_err("more than a day");
        assert!(
            err.to_string()
                .contains("field `chain.per_attempt_timeout_ms`: must be at most 86400000"),
            "{err}"
        );
        let huge = ChainConfig {
            per_attempt_timeout_ms: u64::MAX,
            send_deadline_ms: u64::MAX,
            rate_limit_max_wait_ms: u64::MAX,
        };
        assert_eq!(
            huge.check().map_err(|(field, _)| field),
            Err("chain.per_attempt_timeout_ms")
        );
        let settings = huge.settings();
        assert_eq!(settings.send_deadline, Duration::from_millis(u64::MAX));
        assert_eq!(settings.min_attempt_timeout(), Duration::from_millis(500));
    }

    #[test]
    fn a_bad_reload_keeps_the_last_good_configuration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[twilio.policy]\nfailure_threshold = 4\n").expect("write");
        let (file, error) = ConfigFile::open(&path);
        assert_eq!(error, None);
        std::fs::write(&path, "[twilio.policy]\nfailure_threshold = [\n").expect("write");
        assert!(file.reload().is_err());
        assert_eq!(file.current().twilio.policy.failure_threshold, Some(4));
    }

    #[test]
    fn saved_configuration_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (file, _) = ConfigFile::open(dir.path().join("sub/config.toml"));
        let mut c = file.current();
        c.logs.follow.push("/var/log/backend.log".into());
        c.sns.policy.open_secs = Some(120);
        file.save(c.clone()).expect("saved");
        let (again, error) = ConfigFile::open(file.path());
        assert_eq!(error, None);
        assert_eq!(again.current(), c);
    }

    #[test]
    fn the_credential_store_is_the_keychain_unless_another_is_chosen() {
        assert_eq!(
            Config::default().credentials.store,
            CredentialStoreKind::Keychain
        );
        assert_eq!(Config::default().credentials.secret_prefix, "msgops/");
        let c = Config::from_toml(
            "[credentials]\nstore = \"aws-secrets-manager\"\nregion = \"eu-west-1\"\nendpoint_url = \"http://127.0.0.1:5000\"\nsecret_prefix = \"ops/msgops/\"\n",
            "test",
        )
        .expect("valid");
        assert_eq!(c.credentials.store, CredentialStoreKind::AwsSecretsManager);
        assert_eq!(c.credentials.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.credentials.secret_prefix, "ops/msgops/");
        let again = Config::from_toml(&c.to_toml(), "round trip").expect("round trip");
        assert_eq!(again.credentials, c.credentials);
        let c =
            Config::from_toml("[credentials]\nstore = \"systemd-creds\"\n", "test").expect("valid");
        assert_eq!(c.credentials.store, CredentialStoreKind::SystemdCreds);
    }

    #[test]
    fn an_unknown_store_or_a_bad_secret_prefix_is_refused_with_the_field() {
        let err = Config::from_toml("[credentials]\nstore = \"vault\"\n", "c.toml")
            .expect_err("unknown store");
        assert!(err.to_string().contains("store"), "{err}");
        for (text, field) in [
            (
                "[credentials]\nsecret_prefix = \"msgops secrets/\"\n",
                "credentials.secret_prefix",
            ),
            (
                "[credentials]\nsecret_prefix = \"\"\n",
                "credentials.secret_prefix",
            ),
            (
                "[credentials]\nendpoint_url = \"127.0.0.1:5000\"\n",
                "credentials.endpoint_url",
            ),
        ] {
            match Config::from_toml(text, "c.toml") {
                Err(ConfigError::Invalid { field: f, line, .. }) => {
                    assert_eq!((f.as_str(), line), (field, 2), "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_history_section_defaults_to_sqlite_for_90_days_and_is_checked() {
        let c = Config::default();
        assert_eq!((c.history.url.as_deref(), c.history.keep_days), (None, 90));
        let c = Config::from_toml(
            "[history]\nurl = \"postgres://msgops:s3cret@db.internal:5432/msgops\"\nkeep_days = 30\n",
            "c.toml",
        )
        .expect("valid");
        assert_eq!(c.history.keep_days, 30);
        for (text, field, says) in [
            (
                "[history]\nkeep_days = 0\n",
                "history.keep_days",
                "from 1 to 3650",
            ),
            (
                "[history]\nkeep_days = 4000\n",
                "history.keep_days",
                "from 1 to 3650",
            ),
            (
                "[history]\nurl = \"mysql://u:pw@h/db\"\n",
                "history.url",
                "not a history store",
            ),
            (
                "[history]\nurl = \"postgres://u:hunter2@/db\"\n",
                "history.url",
                "no host",
            ),
            (
                "[history]\nurl = \"postgres://u:hunter2@h:5432\"\n",
                "history.url",
                "no database",
            ),
            (
                "[history]\nurl = \"\"\n",
                "history.url",
                "must not be empty",
            ),
        ] {
            match Config::from_toml(text, "c.toml") {
                Err(e @ ConfigError::Invalid { .. }) => {
                    let ConfigError::Invalid { field: f, line, .. } = &e else {
                        unreachable!()
                    };
                    assert_eq!((f.as_str(), *line), (field, 2), "{text}");
                    let shown = e.to_string();
                    assert!(shown.contains(says), "{shown}");
                    assert!(!shown.contains("hunter2"), "the password is shown: {shown}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        for ok in [
            "/var/lib/msgops/history.sqlite3",
            "sqlite://./h.db",
            "postgresql://h/db",
        ] {
            assert_eq!(check_history_url(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn a_postgres_password_is_masked_in_messages_and_debug() {
        assert_eq!(
            mask_url_password("postgres://msgops:s3:cr@t@db:5432/msgops?sslmode=require"),
            "postgres://msgops:***@db:5432/msgops?sslmode=require"
        );
        assert_eq!(
            mask_url_password("postgres://db/msgops?user=m&password=s3cret&sslmode=require"),
            "postgres://db/msgops?user=m&password=***&sslmode=require"
        );
        assert_eq!(mask_url_password("postgres://m@db/x"), "postgres://m@db/x");
        assert_eq!(mask_url_password("/tmp/h.sqlite3"), "/tmp/h.sqlite3");
        let config = Config {
            history: HistoryConfig {
                url: Some("postgres://msgops:s3cret@db/msgops".into()),
                keep_days: 90,
            },
            ..Config::default()
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("postgres://msgops:***@db/msgops"), "{debug}");
        // Saved as it is: the file keeps the real URL.
        assert!(config.to_toml().contains("s3cret"));
    }

    #[test]
    fn the_state_section_defaults_to_memory_and_refuses_what_cannot_work_without_its_password() {
        let c = Config::default();
        assert_eq!(
            (
                c.state.redis_url(),
                c.state.instances,
                c.state.key_prefix.as_str()
            ),
            (None, 1, "msgops")
        );
        let c = Config::from_toml(
            "[state]\nbackend = \"redis://:hunter2@127.0.0.1:6379/2\"\ninstances = 3\n",
            "c.toml",
        )
        .expect("valid");
        assert_eq!(
            c.state.redis_url(),
            Some("redis://:hunter2@127.0.0.1:6379/2")
        );
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("redis://:***@127.0.0.1:6379/2"), "{debug}");
        for (text, field, says) in [
            (
                "[state]\nbackend = \"postgres://u:hunter2@h/db\"\n",
                "state.backend",
                "neither `memory` nor a URL like redis://",
            ),
            (
                "[state]\nbackend = \"redis://:hunter2@/0\"\n",
                "state.backend",
                "names no host",
            ),
            (
                "[state]\nbackend = \"rediss://u:hunter2@h:6380/x\"\n",
                "state.backend",
                "must be a number",
            ),
            (
                "[state]\ninstances = 0\n",
                "state.instances",
                "from 1 to 1000",
            ),
            (
                "[state]\nkey_prefix = \"{msgops}\"\n",
                "state.key_prefix",
                "no braces",
            ),
        ] {
            match Config::from_toml(text, "c.toml") {
                Err(e @ ConfigError::Invalid { .. }) => {
                    let ConfigError::Invalid { field: f, line, .. } = &e else {
                        unreachable!()
                    };
                    assert_eq!((f.as_str(), *line), (field, 2), "{text}");
                    let shown = e.to_string();
                    assert!(shown.contains(says), "{shown}");
                    assert!(!shown.contains("hunter2"), "the password is shown: {shown}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        assert_eq!(check_redis_url("rediss://cache.internal:6380"), Ok(()));
    }

    #[test]
    fn the_desktop_section_closes_to_the_tray_with_no_shortcut_unless_it_says() {
        let none = Config::from_toml("", "c.toml").expect("empty file");
        assert!(none.desktop.close_to_tray);
        assert_eq!(none.desktop.global_shortcut, None);
        assert!(
            !none.to_toml().contains("global_shortcut"),
            "an unset shortcut is not written"
        );
        let text =
            "[desktop]\nclose_to_tray = false\nglobal_shortcut = \"CommandOrControl+Shift+K\"\n";
        let set = Config::from_toml(text, "c.toml").expect("desktop section");
        assert!(!set.desktop.close_to_tray);
        assert_eq!(
            set.desktop.global_shortcut.as_deref(),
            Some("CommandOrControl+Shift+K")
        );
        let again = Config::from_toml(&set.to_toml(), "c.toml").expect("written back");
        assert_eq!(again.desktop, set.desktop);
        match Config::from_toml("[desktop]\nclose_to_tary = false\n", "c.toml") {
            Err(ConfigError::Invalid { field, .. }) => {
                assert!(field.contains("close_to_tary"), "{field}")
            }
            other => panic!("a misspelt key is refused: {other:?}"),
        }
    }
}
