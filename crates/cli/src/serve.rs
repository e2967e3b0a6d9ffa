//! `msgops serve`: runs the HTTP service (`msgops_service`) until SIGINT/SIGTERM, then shuts
//! down gracefully (sends under way finish or are recorded as failed). Parses arguments, finds
//! the API token, builds the chains and hands over; the work is in `msgops_service`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use msgops_core::chain::{SendOutcome, SendRecord};
use msgops_core::config::{config_path, ConfigFile};
use msgops_core::ChainEvent;
use msgops_core::{Messaging, ProviderKind};
use msgops_credentials::{CredentialStore, ExposeSecret, SecretString};
use msgops_history::{HistoryLocation, HistoryStore, OriginKind, SendOrigin};
use msgops_service::tls::TlsIdentity;
use msgops_service::ServiceEvent;
use msgops_service::{
    check_exposure, check_transport, ApiAuth, AuthScope, LimitRule, LimitsConfig, PrefixRule,
    ServiceSettings, ServiceState, DEFAULT_LISTEN,
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The environment variable that can hold the API token instead of the keychain (containers,
/// CI). The CLI's client commands (`health --url`, `send --url`) send it too.
pub const TOKEN_ENV: &str = "MSGOPS_API_TOKEN";

#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("tls").args(["tls_cert", "tls_self_signed"]))]
#[command(after_help = "\
API tokens: the named ones of `msgops token create NAME --scope read,codes,operate,admin` \
(hashed in <data dir>/api-tokens.json, re-read on change: no restart), and the single legacy \
token from the OS keychain (account service.api_token) or $MSGOPS_API_TOKEN, which is admin. \
Sends, controls, codes, diagnostics and the event stream always need one \
(Authorization: Bearer <token>); health, metrics and the OpenAPI document are open on \
loopback. Listening on any other address requires the token on every endpoint: without one \
msgops refuses to start.

Beyond loopback msgops also speaks only HTTPS: --tls-cert FILE --tls-key FILE (PEM), or \
--tls-self-signed, a certificate made on the first start and kept in <data dir>/tls (reused on \
every start after, so that clients' pins hold). Its SHA-256 fingerprint is printed at start \
and by --print-fingerprint; compare it with what a client is shown before trusting it.

Endpoints: GET /api/v1/health/messaging, GET /metrics, POST /api/v1/messages/sms, \
POST /api/v1/messages/email, GET /api/v1/events (resumable with Last-Event-ID), \
GET /api/v1/codes, GET /api/v1/diagnostics, GET /api/v1/openapi.json.

Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 1 when the service could not start or \
failed, 2 on invalid arguments.")]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback requires the API token on every endpoint,
    /// and TLS (--tls-cert/--tls-key or --tls-self-signed).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Emulated network providers (AWS SNS, Twilio, AWS SES, SendGrid, SMTP) that deliver at once
    /// without credentials or network, for demos and tests. The Console provider still writes
    /// to its log.
    #[arg(long)]
    emulated: bool,
    /// With --emulated: this provider fails as in the incident, with HTTP 401 (repeatable).
    #[arg(
        long = "emulate-failure",
        value_name = "PROVIDER",
        requires = "emulated"
    )]
    emulate_failure: Vec<ProviderKind>,
    /// Make a new API token, store it in the keychain (replacing the old one) and print it once.
    #[arg(long)]
    create_token: bool,
    /// Require the token on every endpoint, on loopback too.
    #[arg(long)]
    auth_everything: bool,
    /// SMS per recipient per hour (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 5)]
    sms_per_hour: u32,
    /// Emails per recipient per hour (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 5)]
    email_per_hour: u32,
    /// PREFIX=N: at most N SMS an hour to all numbers starting with PREFIX, together
    /// (repeatable), e.g. --prefix-limit +234=20.
    #[arg(long = "prefix-limit", value_name = "PREFIX=N", value_parser = parse_prefix_limit)]
    prefix_limits: Vec<PrefixRule>,
    /// Backend log to follow for one-time codes (repeatable; default: logs.follow of the
    /// configuration). Codes found are counted in /metrics and sent as `code_seen` events.
    #[arg(long = "log", value_name = "FILE")]
    logs: Vec<std::path::PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Serve HTTPS with a self-signed certificate (localhost, 127.0.0.1, ::1, the listen address
    /// and --tls-name), made on the first start and kept in <data dir>/tls, reused after.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    tls_self_signed: bool,
    /// With --tls-self-signed: another host name or IP address the certificate names
    /// (repeatable; only when it is made).
    #[arg(
        long = "tls-name",
        value_name = "NAME",
        requires = "tls_self_signed",
        value_parser = parse_tls_name
    )]
    tls_names: Vec<String>,
    /// Print the TLS certificate's SHA-256 fingerprint (as `openssl x509 -fingerprint -sha256`
    /// does) and exit; with --tls-cert or --tls-self-signed.
    #[arg(long, requires = "tls")]
    print_fingerprint: bool,
}

fn parse_tls_name(s: &str) -> Result<String, String> {
    msgops_service::tls::check_name(s).map_err(|e| e.to_string())
}

/// The certificate to serve HTTPS with: the one given, or the self-signed one of the data
/// directory (made when there is none); `None` for plain HTTP.
fn load_tls(args: &ServeArgs) -> Result<Option<TlsIdentity>, String> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return TlsIdentity::from_pem_files(cert, key)
            .map(Some)
            .map_err(|e| format!("TLS: {e}"));
    }
    if !args.tls_self_signed {
        return Ok(None);
    }
    let dir = msgops_service::tls::default_dir(&msgops_core::config::data_dir());
    let names = msgops_service::tls::self_signed_names(args.listen, &args.tls_names);
    let made = msgops_service::tls::self_signed(&dir, &names)
        .map_err(|e| format!("TLS: the self-signed certificate: {e}"))?;
    eprintln!(
        "msgops serve: TLS certificate {} ({})",
        made.cert_path.display(),
        if made.created {
            "self-signed, made now"
        } else {
            "self-signed, kept from an earlier start"
        }
    );
    for note in &made.notes {
        eprintln!("msgops serve: {note}");
    }
    Ok(Some(made.identity))
}

fn parse_prefix_limit(s: &str) -> Result<PrefixRule, String> {
    let (prefix, max) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not PREFIX=N (e.g. +234=20)"))?;
    if !prefix.starts_with('+')
        || prefix.len() < 2
        || !prefix[1..].bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("`{prefix}` is not a number prefix like +234"));
    }
    let max: u32 = max
        .parse()
        .map_err(|_| format!("`{max}` is not a whole number"))?;
    Ok(PrefixRule {
        prefix: prefix.to_string(),
        rule: LimitRule::per_hour(max),
    })
}

fn per_hour(n: u32) -> Option<LimitRule> {
    (n > 0).then(|| LimitRule::per_hour(n))
}

/// Builds both chains from the configuration with their providers: emulated ones, or the
/// network providers that have their credentials in the keychain (`msgops_providers`).
pub async fn build_messaging(
    emulated: bool,
    failing: &[ProviderKind],
) -> Result<Arc<Messaging>, String> {
    let (file, error) = ConfigFile::open(config_path());
    if let Some(e) = error {
        eprintln!("msgops: {e}; running on the default configuration");
    }
    let config = file.current();
    let messaging = Arc::new(Messaging::from_config(&config));
    if emulated {
        let known = msgops_service::emulated::network_provider_ids();
        if let Some(unknown) = failing.iter().find(|f| !known.contains(f)) {
            return Err(format!(
                "`{unknown}` is not a network provider (sns, twilio, ses, sendgrid, smtp)"
            ));
        }
        msgops_service::emulated::install_emulated_providers(&messaging, failing);
        return Ok(messaging);
    }
    match open_keychain() {
        Ok(store) => {
            for report in msgops_providers::install_providers(&messaging, &config, &store).await {
                if let Some(error) = &report.error {
                    tracing::warn!(provider = %report.provider, %error, "provider not installed");
                } else if !report.installed {
                    tracing::info!(provider = %report.provider, missing = ?report.missing, "provider not configured");
                }
            }
        }
        Err(e) => eprintln!(
            "msgops: {e}; network providers stay not configured (only the Console provider can deliver; --emulated for a demo)"
        ),
    }
    Ok(messaging)
}

/// Keeps the providers on the keychain's credentials: re-read when the credentials audit trail
/// moves (every import, rotation and removal writes it) and when a provider refuses its key.
async fn follow_credentials(messaging: Arc<Messaging>, cancel: CancellationToken) {
    let store: Arc<dyn msgops_credentials::CredentialStore> = match open_keychain() {
        Ok(store) => store,
        Err(_) => return,
    };
    let config: Arc<dyn Fn() -> msgops_core::config::Config + Send + Sync> =
        Arc::new(|| ConfigFile::open(config_path()).0.current());
    let sync = msgops_providers::CredentialSync::start(messaging, store, config).await;
    sync.watch(crate::creds::default_audit_path(), cancel);
}

/// The webhook keys from the keychain (none when it cannot be used: every signed webhook is
/// then refused as not configured).
fn webhook_secrets(
    config: &msgops_core::config::Config,
) -> Arc<dyn msgops_service::WebhookSecrets> {
    match open_keychain() {
        Ok(store) => Arc::new(msgops_service::KeychainWebhookSecrets::new(
            store,
            std::time::Duration::from_secs(config.delivery.twilio_previous_token_grace_secs),
        )),
        Err(e) => {
            eprintln!("msgops serve: {e}; delivery webhooks will be refused");
            Arc::new(msgops_service::NoWebhookSecrets)
        }
    }
}

/// SNS SMS delivery status from CloudWatch Logs, when `[delivery] sns_sms_log_account` is set:
/// each new record is a delivery report like the webhooks'.
async fn read_sms_delivery_logs(
    config: &msgops_core::config::Config,
    state: ServiceState,
    cancel: CancellationToken,
) {
    if config.delivery.sns_sms_log_account.is_none() {
        return;
    }
    let Ok(store) = open_keychain() else { return };
    let dir = msgops_core::config::data_dir();
    let Some(reader) =
        msgops_providers::sms_delivery_logs::reader_from_config(config, &store, &dir).await
    else {
        return;
    };
    eprintln!(
        "msgops serve: reading SNS SMS delivery status from {} and {}",
        reader.groups().success,
        reader.groups().failure
    );
    let every = std::time::Duration::from_secs(config.delivery.sns_sms_log_poll_secs);
    reader.spawn(every, cancel, move |events| {
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = state.ingest_deliveries(events).await {
                eprintln!("msgops serve: SNS SMS delivery reports not kept: {e}");
            }
        });
    });
}

/// Switching a provider on or off over the API is remembered in the configuration file, as
/// the app's switch does, so it holds after a restart.
struct ConfigSwitches;

impl msgops_service::controls::ProviderSwitches for ConfigSwitches {
    fn remember(&self, provider: msgops_core::ProviderKind, enabled: bool) -> Result<(), String> {
        let (file, error) = ConfigFile::open(config_path());
        if let Some(e) = error {
            return Err(format!(
                "the configuration file cannot be read, so it is not rewritten: {e}"
            ));
        }
        let mut config = file.current();
        config.policy_mut(provider).enabled = Some(enabled);
        file.save(config).map_err(|e| e.to_string())
    }
}

/// The credential store the configuration names (`[credentials] store`: the OS keychain, AWS
/// Secrets Manager or systemd credentials), opened once for the process.
fn open_keychain() -> Result<Arc<dyn CredentialStore>, String> {
    static STORE: std::sync::OnceLock<Arc<dyn CredentialStore>> = std::sync::OnceLock::new();
    if let Some(store) = STORE.get() {
        return Ok(store.clone());
    }
    let config = ConfigFile::open(config_path()).0.current();
    let store = msgops_providers::open_store(&config).map_err(|e| {
        format!(
            "{} cannot be used: {e}",
            msgops_providers::store_label(config.credentials.store)
        )
    })?;
    Ok(STORE.get_or_init(|| store).clone())
}

/// The token from $MSGOPS_API_TOKEN, else the keychain; creating one first if asked.
fn find_token(create: bool) -> Result<Option<SecretString>, String> {
    if create {
        let store = open_keychain()?;
        let token = msgops_service::create_token(&store).map_err(|e| e.to_string())?;
        let audit = msgops_credentials::AuditLog::new(crate::creds::default_audit_path())
            .by(msgops_audit::Actor::local(msgops_audit::Via::Cli));
        let entry = msgops_credentials::CredentialAuditEntry::now(
            None,
            msgops_credentials::AuditAction::TokenCreate,
            msgops_credentials::AuditOutcome::Success,
            format!(
                "API token created in {} (shown once)",
                msgops_service::TOKEN_ACCOUNT
            ),
        );
        if let Err(e) = audit.record(&entry) {
            eprintln!("msgops serve: the audit trail was not written: {e}");
        }
        println!(
            "New API token, stored in {} as {} (shown only this once):\n{}",
            store.describe(),
            msgops_service::TOKEN_ACCOUNT,
            token.expose_secret()
        );
        return Ok(Some(token));
    }
    if let Some(token) = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(Some(SecretString::from(token.trim().to_string())));
    }
    match open_keychain().and_then(|s| msgops_service::load_token(&s).map_err(|e| e.to_string())) {
        Ok(token) => Ok(token),
        Err(e) => {
            eprintln!("msgops serve: {e}; no API token, so sends and events are refused");
            Ok(None)
        }
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    msgops_core::telemetry::init_stderr();
    let tls = match load_tls(&args) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("msgops serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.print_fingerprint {
        return match &tls {
            Some(identity) => {
                println!("{}", identity.fingerprint());
                ExitCode::SUCCESS
            }
            None => {
                eprintln!(
                    "msgops serve: --print-fingerprint needs --tls-cert or --tls-self-signed"
                );
                ExitCode::from(2)
            }
        };
    }
    let tls = match tls.as_ref().map(TlsIdentity::server_config).transpose() {
        Ok(config) => {
            if let Some(identity) = &tls {
                eprintln!(
                    "msgops serve: TLS certificate SHA-256 fingerprint {}",
                    identity.fingerprint()
                );
            }
            config
        }
        Err(e) => {
            eprintln!("msgops serve: TLS: {e}");
            return ExitCode::FAILURE;
        }
    };
    let token = match find_token(args.create_token) {
        Ok(token) => token,
        Err(e) => {
            eprintln!("msgops serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scope = if args.auth_everything || !args.listen.ip().is_loopback() {
        AuthScope::Everything
    } else {
        AuthScope::SendsAndEvents
    };
    let auth = ApiAuth::new(token, scope).with_token_file(msgops_service::tokens::path_in(
        &msgops_core::config::data_dir(),
    ));
    // Both rules at once, so that one start tells everything that is missing.
    let refused: Vec<String> = [
        check_exposure(args.listen, &auth),
        check_transport(args.listen, tls.is_some()),
    ]
    .into_iter()
    .filter_map(|checked| checked.err().map(|e| e.to_string()))
    .collect();
    if !refused.is_empty() {
        for e in refused {
            eprintln!("msgops serve: {e}");
        }
        return ExitCode::FAILURE;
    }
    if !auth.has_token() {
        eprintln!("msgops serve: no API token: sends and events will answer 401 until one is created with `msgops token create NAME --scope ...` (in force at once) or `msgops serve --create-token`");
    }
    let settings = ServiceSettings {
        auth,
        limits: LimitsConfig {
            sms_per_recipient: per_hour(args.sms_per_hour),
            email_per_recipient: per_hour(args.email_per_hour),
            sms_prefixes: args.prefix_limits.clone(),
        },
        operations: Some(msgops_audit::OperationsLog::in_dir(
            &msgops_core::config::data_dir(),
        )),
        ..ServiceSettings::default()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msgops serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(args, settings, tls))
}

async fn serve(
    args: ServeArgs,
    settings: ServiceSettings,
    tls: Option<Arc<msgops_service::tls::ServerConfig>>,
) -> ExitCode {
    let messaging = match build_messaging(args.emulated, &args.emulate_failure).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("msgops serve: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("msgops serve: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        eprintln!(
            "msgops serve: listening on {}://{addr}{}",
            if tls.is_some() { "https" } else { "http" },
            if args.emulated {
                " (emulated providers)"
            } else {
                ""
            }
        );
    }
    let shutdown = CancellationToken::new();
    // Keys rotated by the app, the CLI or another process are in force here within a second.
    if !args.emulated {
        follow_credentials(messaging.clone(), shutdown.child_token()).await;
    }
    let signals = tokio::spawn(stop_on_signal(shutdown.clone()));
    let finished = messaging.subscribe();
    let config = ConfigFile::open(config_path()).0.current();
    // The sends, their delivery reports and the breakers' timeline, in the history database
    // shared with the app (or other instances, on PostgreSQL).
    let history = open_history(&config).await;
    let mut settings = settings.with_deliveries(&config, webhook_secrets(&config), history.clone());
    settings.sends = Some(history.clone());
    settings.switches = Some(Arc::new(ConfigSwitches));
    settings.shared = match shared_state(&config).await {
        Ok(shared) => shared,
        Err(e) => {
            eprintln!("msgops serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let state = ServiceState::new(messaging.clone(), settings);
    if !args.emulated {
        read_sms_delivery_logs(&config, state.clone(), shutdown.child_token()).await;
    }
    // Into the app's history (the same database), marked as this service's sends.
    let stop_recording = CancellationToken::new();
    let recorder = record_sends(
        history,
        messaging,
        finished,
        state.subscribe(),
        stop_recording.clone(),
    );
    let mut watch = msgops_logwatch::WatchConfig::new(if args.logs.is_empty() {
        config.followed_logs()
    } else {
        args.logs.clone()
    });
    let (parser, problems) = config.logs.parser();
    for p in problems {
        eprintln!("msgops serve: {p}");
    }
    watch.parser = parser;
    // What the logs already hold is reported too: codes still valid when the service (re)starts
    // are listed at once (`GET /api/v1/codes`) and replayed to clients that reconnect.
    watch.from_start = true;
    let watcher = Some(feed_codes(watch, state.clone(), shutdown.child_token()));
    let result = match tls {
        Some(tls) => msgops_service::serve_tls(listener, tls, state, shutdown.clone()).await,
        None => msgops_service::serve(listener, state, shutdown.clone()).await,
    };
    shutdown.cancel();
    // Sends finished or abandoned while draining are written before the process ends.
    stop_recording.cancel();
    let _ = recorder.await;
    if let Some(watcher) = watcher {
        let _ = watcher.await;
    }
    signals.abort();
    match result {
        Ok(()) => {
            eprintln!("msgops serve: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("msgops serve: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The history database `[history]` names (by default `history.sqlite3` in the data directory,
/// shared with the app and any other `msgops serve`), importing the JSON-lines files of earlier
/// versions once; this service's sends are marked as its own. One that cannot be opened is
/// reported, and the service keeps its history in memory instead.
async fn open_history(config: &msgops_core::config::Config) -> Arc<HistoryStore> {
    let origin = SendOrigin::this_process(OriginKind::Service);
    let opened = match HistoryLocation::from_config(&config.history) {
        Ok(location) => HistoryStore::open(location, config.history.keep_days, origin.clone())
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("history.url: {e}")),
    };
    let history = match opened {
        Ok((history, problems)) => {
            for problem in problems {
                eprintln!("msgops serve: send history: {problem}");
            }
            history
        }
        Err(e) => {
            eprintln!("msgops serve: {e}; sends are kept in memory until the service stops");
            match HistoryStore::in_memory(origin).await {
                Ok(history) => history,
                Err(e) => panic!("an in-memory SQLite database cannot be opened: {e}"),
            }
        }
    };
    eprintln!("msgops serve: recording sends in {}", history.location());
    Arc::new(history)
}

/// What the recorder keeps: a chain event (a finished send, a breaker transition, a provider
/// switched, a probe) or a send abandoned at shutdown.
enum Kept {
    Chain(ChainEvent),
    Abandoned(SendRecord),
}

/// Records every send the service finishes in the history the app shows (shared with the app
/// and any other `msgops serve`), marked as the service's, each send abandoned at shutdown as
/// failed, and the breakers' transitions and probes. Once `stop` is cancelled it writes what
/// was already reported and ends.
fn record_sends(
    history: Arc<HistoryStore>,
    messaging: Arc<Messaging>,
    mut chain: broadcast::Receiver<ChainEvent>,
    mut service: broadcast::Receiver<ServiceEvent>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = history
            .record_started(&messaging.health(), chrono::Utc::now())
            .await
        {
            tracing::error!(error = %e, "provider states not written to the history");
        }
        let (mut chain_open, mut service_open) = (true, true);
        while chain_open || service_open {
            let kept = tokio::select! {
                biased;
                event = chain.recv(), if chain_open => from_chain(event, &mut chain_open),
                event = service.recv(), if service_open => from_service(event, &mut service_open),
                () = stop.cancelled() => break,
            };
            if let Some(kept) = kept {
                write(&history, &messaging, kept).await;
            }
        }
        // What was reported before the stop (or before the channels closed).
        while let Some(event) = buffered(&mut chain) {
            if let Some(kept) = from_chain(event, &mut chain_open) {
                write(&history, &messaging, kept).await;
            }
        }
        while let Some(event) = buffered(&mut service) {
            if let Some(kept) = from_service(event, &mut service_open) {
                write(&history, &messaging, kept).await;
            }
        }
    })
}

/// The next event already in the channel, if any.
fn buffered<T: Clone>(
    events: &mut broadcast::Receiver<T>,
) -> Option<Result<T, broadcast::error::RecvError>> {
    use broadcast::error::{RecvError, TryRecvError};
    match events.try_recv() {
        Ok(event) => Some(Ok(event)),
        Err(TryRecvError::Lagged(missed)) => Some(Err(RecvError::Lagged(missed))),
        Err(TryRecvError::Empty | TryRecvError::Closed) => None,
    }
}

fn from_chain(
    event: Result<ChainEvent, broadcast::error::RecvError>,
    open: &mut bool,
) -> Option<Kept> {
    match event {
        Ok(event) => Some(Kept::Chain(event)),
        Err(broadcast::error::RecvError::Lagged(missed)) => {
            tracing::error!(
                missed,
                "chain events lagged; sends missing from the history"
            );
            None
        }
        Err(broadcast::error::RecvError::Closed) => {
            *open = false;
            None
        }
    }
}

/// A send abandoned at shutdown, as the failed send the service reports it as.
fn from_service(
    event: Result<ServiceEvent, broadcast::error::RecvError>,
    open: &mut bool,
) -> Option<Kept> {
    match event {
        Ok(ServiceEvent::SendAbandoned {
            channel,
            recipient,
            started_at,
            reason,
        }) => Some(Kept::Abandoned(SendRecord {
            channel,
            recipient,
            started_at,
            duration_ms: (chrono::Utc::now() - started_at).num_milliseconds().max(0) as f64,
            outcome: SendOutcome::Failed {
                reason,
                attempts: Vec::new(),
                skipped: Vec::new(),
            },
        })),
        Ok(_) => None,
        Err(broadcast::error::RecvError::Lagged(missed)) => {
            tracing::error!(
                missed,
                "service events lagged; abandoned sends missing from the history"
            );
            None
        }
        Err(broadcast::error::RecvError::Closed) => {
            *open = false;
            None
        }
    }
}

/// Writes one thing kept into the history; a failure is logged (the service goes on).
async fn write(history: &HistoryStore, messaging: &Messaging, kept: Kept) {
    let written = match &kept {
        Kept::Chain(event) => history.record_chain_event(event, messaging).await,
        Kept::Abandoned(record) => history.record(record).await,
    };
    if let Err(e) = written {
        tracing::error!(error = %e, "not written to the history");
    }
}

/// Follows backend logs and feeds the codes found into the service, as the desktop app does.
fn feed_codes(
    watch: msgops_logwatch::WatchConfig,
    state: ServiceState,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    use msgops_logwatch::{watch_logs_with, LogEvent};
    eprintln!(
        "msgops serve: following {} for one-time codes",
        watch
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    watch_logs_with(watch, cancel, move |event| {
        if let LogEvent::Code(code) = &event {
            state.record_code(msgops_service::CodeSeen::of(code));
        } else if let Some(diagnostic) = msgops_service::events::Diagnostic::of(&event) {
            state.record_diagnostic(diagnostic);
        }
        true
    })
}

/// `[state]` on Redis: the state this instance shares with the others (`None` for memory).
/// Redis down at start is no error: the instance starts on its own state and joins later.
/// `$MSGOPS_INSTANCE_ID` names the instance in events and leases (random otherwise).
async fn shared_state(
    config: &msgops_core::config::Config,
) -> Result<Option<msgops_shared_state::SharedState>, String> {
    let Some(mut options) = msgops_shared_state::StateOptions::from_config(&config.state) else {
        return Ok(None);
    };
    options.instance_id = std::env::var("MSGOPS_INSTANCE_ID")
        .ok()
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty());
    let shared = msgops_shared_state::SharedState::connect(options)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "msgops serve: state shared on {} as instance {} (one of {}; {})",
        shared.backend(),
        shared.instance_id(),
        shared.instances(),
        shared.status().as_str()
    );
    Ok(Some(shared))
}

async fn stop_on_signal(shutdown: CancellationToken) {
    msgops_service::stop_signal().await;
    shutdown.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_limits_parse_and_reject_nonsense() {
        let rule = parse_prefix_limit("+234=20").expect("valid");
        assert_eq!(rule.prefix, "+234");
        assert_eq!(rule.rule, LimitRule::per_hour(20));
        assert!(parse_prefix_limit("234=20").is_err());
        assert!(parse_prefix_limit("+234").is_err());
        assert!(parse_prefix_limit("+23a=1").is_err());
        assert!(parse_prefix_limit("+234=-1").is_err());
    }
}
