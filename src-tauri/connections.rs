//! Remote connections: the window on a `msgops serve` elsewhere.
//!
//! - **Saved** in `<data dir>/connections.json` (name, address, pinned fingerprint; written
//!   atomically), each one's token in the credential store as `connection.<name>.token` — never
//!   in a file, never sent back to the window.
//! - **One at a time**: the window shows this computer or one remote service. While a remote is
//!   in use, its health, codes and on-call controls answer the window, and a follower task
//!   forwards its event stream as the app's own events (codes as log events, the chain's events
//!   as chain events, its restarts as a log reset); this computer's log and chain events are
//!   not forwarded meanwhile (they are still recorded: the history, the codes kept for later).
//! - **Start-up**: the app always starts on this computer; a saved connection is used only when
//!   the user picks it (no connection is made behind their back at start).

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use msgops_credentials::{off_the_runtime, CredentialStore, SecretString};
use msgops_logwatch::{CodeSource, CodeTime, FallbackCode, LogEvent};
use msgops_remote::{Fingerprint, RemoteError, RemoteService, StreamNews, Trust};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Manager};
use tokio_util::sync::CancellationToken;

use crate::commands::connections::{ConnectionInfo, ConnectionsView, RemoteStatus};
use crate::error::{IpcError, IpcErrorCode};
use crate::state::AppState;

/// Name of the Tauri event carrying the [`ConnectionsView`] whenever the connection in use or
/// its status changes.
pub const CONNECTION_EVENT: &str = "msgops://connection";
/// The file the connections are saved in, in the data directory.
pub const FILE_NAME: &str = "connections.json";
/// How long the window waits for a remote service's answer.
pub const REMOTE_TIMEOUT: Duration = Duration::from_secs(15);
/// Credential-store calls block (D-Bus, a network call): they run off the runtime, and give up
/// waiting after this long.
const KEYCHAIN: Duration = msgops_credentials::DEFAULT_KEYCHAIN_TASK_TIMEOUT;
const NAME_MAX_CHARS: usize = 40;
/// How often the remote service's diagnostics are read again (its event stream carries none).
const DIAGNOSTICS_EVERY: Duration = Duration::from_secs(2);
/// Codes remembered per connection to drop the ones replayed after a reconnect.
const KNOWN_CODES_MAX: usize = 100_000;

/// The chain's events on the service's stream: forwarded as [`crate::CHAIN_EVENT`].
const CHAIN_EVENTS: [&str; 4] = [
    "breaker_transition",
    "send_finished",
    "provider_changed",
    "probe_finished",
];

/// A saved connection as `connections.json` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredConnection {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub fingerprint: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ConnectionsFile {
    #[serde(default)]
    connections: Vec<StoredConnection>,
}

/// The credential-store account of a connection's token.
pub fn token_account(name: &str) -> String {
    format!("connection.{name}.token")
}

// ---------------------------------------------------------------------------------------------
// Checks

/// A connection's name, trimmed: 1 to 40 characters, letters, digits, spaces, `-` and `_`.
pub fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS {
        return Err(format!(
            "a connection's name is 1 to {NAME_MAX_CHARS} characters (it has {chars})"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '_')))
    {
        return Err(format!(
            "{name:?} cannot be a connection's name: {bad:?} is not allowed (letters, digits, spaces, - and _ only)"
        ));
    }
    Ok(name.to_owned())
}

/// The service's address, checked by [`msgops_remote::check_url`] (https, or http to this
/// machine only) and normalised: no user or password in it, no query, and a path ending in `/`
/// so the API's paths are joined under it.
pub fn check_url(url: &str) -> Result<String, IpcError> {
    let mut parsed = msgops_remote::check_url(url).map_err(remote_error)?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(IpcError::validation(
            "the address must not hold a user name or password: put the service's token in the token field",
        ));
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    if !parsed.path().ends_with('/') {
        let path = format!("{}/", parsed.path());
        parsed.set_path(&path);
    }
    Ok(parsed.to_string())
}

/// The pin for `url` (checked by [`check_url`]): `None` (empty) trusts the system roots; a
/// plain http address has no certificate to pin.
pub fn check_fingerprint(
    url: &str,
    fingerprint: Option<&str>,
) -> Result<Option<Fingerprint>, IpcError> {
    let Some(text) = fingerprint.map(str::trim).filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    if url.starts_with("http://") {
        return Err(IpcError::validation(
            "a plain http:// address (this computer only) has no certificate to pin: leave the fingerprint empty",
        ));
    }
    text.parse::<Fingerprint>()
        .map(Some)
        .map_err(IpcError::validation)
}

/// A remote error as it crosses IPC (its words never hold the token).
pub fn remote_error(e: RemoteError) -> IpcError {
    let code = match &e {
        RemoteError::BadUrl { .. } | RemoteError::PlainHttpRefused { .. } => {
            IpcErrorCode::Validation
        }
        RemoteError::CertificateChanged { .. } | RemoteError::Untrusted(_) => {
            IpcErrorCode::RemoteUntrusted
        }
        RemoteError::Unreachable(_) => IpcErrorCode::RemoteUnreachable,
        RemoteError::Refused { .. } => IpcErrorCode::RemoteRefused,
        RemoteError::Http { .. } => IpcErrorCode::RemoteFailed,
    };
    IpcError::new(code, e.to_string())
}

/// A call to a remote service, given [`REMOTE_TIMEOUT`] to answer.
pub async fn timed<T>(work: impl Future<Output = Result<T, RemoteError>>) -> Result<T, IpcError> {
    match tokio::time::timeout(REMOTE_TIMEOUT, work).await {
        Ok(answer) => answer.map_err(remote_error),
        Err(_) => Err(IpcError::new(
            IpcErrorCode::RemoteUnreachable,
            format!(
                "the service did not answer within {} seconds",
                REMOTE_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// A client of the saved connection's service with `token`.
pub fn service_for(
    record: &StoredConnection,
    token: SecretString,
) -> Result<RemoteService, IpcError> {
    let trust = match record.fingerprint.as_deref() {
        Some(fp) => Trust::Pinned(fp.parse::<Fingerprint>().map_err(|e| {
            IpcError::new(
                IpcErrorCode::Config,
                format!("the pin saved for `{}` is not usable: {e}", record.name),
            )
        })?),
        None => Trust::SystemRoots,
    };
    RemoteService::new(&record.url, token, trust).map_err(remote_error)
}

fn store_unavailable(state: &AppState) -> IpcError {
    IpcError::new(
        IpcErrorCode::KeychainUnavailable,
        format!(
            "connection tokens are kept only in the credential store, which is not usable: {}",
            state.keychain_problem()
        ),
    )
}

/// The credential store, when it can keep a token across restarts.
pub fn writable_store(state: &AppState) -> Result<Arc<dyn CredentialStore>, IpcError> {
    let store = state
        .store
        .clone()
        .ok_or_else(|| store_unavailable(state))?;
    if !store.is_persistent() {
        return Err(IpcError::new(
            IpcErrorCode::KeychainUnavailable,
            format!(
                "{} does not keep secrets across restarts: connection tokens are kept only in a lasting credential store",
                store.describe()
            ),
        ));
    }
    store.check_writable()?;
    Ok(store)
}

// ---------------------------------------------------------------------------------------------
// The file

/// The saved connections; none when the file does not exist.
pub fn read_file(path: &Path) -> Result<Vec<StoredConnection>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{} cannot be read: {e}", path.display())),
    };
    serde_json::from_str::<ConnectionsFile>(&text)
        .map(|f| f.connections)
        .map_err(|e| format!("{} is not a list of connections: {e}", path.display()))
}

/// Writes the connections to `path` atomically: a temporary file beside it, flushed to disk,
/// then renamed over it. A reader sees the old list or the new one, never half of one.
pub fn write_file(path: &Path, connections: &[StoredConnection]) -> std::io::Result<()> {
    use std::io::Write;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(&ConnectionsFile {
        connections: connections.to_vec(),
    })
    .map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(
        ".{FILE_NAME}.{}.{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // The rename itself survives a crash once the directory is on disk.
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Codes

/// A code of the service (`GET /api/v1/codes`, or a `code_seen` event) as the Codes page shows
/// codes: `file` is the connection's name, `line` 0, its time the one the service saw it at.
/// `None` when the JSON is not a code.
pub fn code_from_seen(
    seen: &serde_json::Value,
    connection: &str,
    now: DateTime<Utc>,
) -> Option<FallbackCode> {
    #[derive(Deserialize)]
    struct Seen {
        #[serde(default)]
        recipient: Option<String>,
        #[serde(default)]
        candidates: Vec<String>,
        code: String,
        #[serde(default)]
        source: String,
        #[serde(default)]
        seen_at: Option<DateTime<Utc>>,
        #[serde(default)]
        expires_at: Option<DateTime<Utc>>,
        /// Listed codes say; events do not.
        #[serde(default)]
        expired: Option<bool>,
    }
    let seen = Seen::deserialize(seen).ok()?;
    // No time known: never shown as valid.
    let expired = seen.seen_at.is_none()
        || seen
            .expired
            .unwrap_or_else(|| seen.expires_at.is_none_or(|e| now >= e));
    Some(FallbackCode {
        recipient: seen.recipient,
        candidates: seen.candidates,
        code: seen.code,
        logged_at: None,
        created_at: seen.seen_at,
        expires_at: seen.expires_at,
        time: if seen.seen_at.is_some() {
            CodeTime::Logged
        } else {
            CodeTime::Unknown
        },
        expired,
        source: source_of(&seen.source),
        file: connection.to_owned(),
        line: 0,
    })
}

/// The service's source word (the code source in snake case, as its metrics label it) as the
/// nearest [`CodeSource`].
fn source_of(word: &str) -> CodeSource {
    serde_json::from_value(serde_json::Value::String(word.to_owned())).unwrap_or_else(|_| {
        let word = word.to_ascii_lowercase();
        if word.contains("console") {
            CodeSource::Console
        } else if word.contains("fallback") || word.contains("sms") || word.contains("backend") {
            CodeSource::SmsFallback
        } else {
            CodeSource::Pattern
        }
    })
}

/// The codes of one connection the window already has (listed, or forwarded): a code the
/// service replays after a reconnect or a restart (with a new `seen_at`) is not sent twice.
#[derive(Debug, Default)]
pub struct KnownCodes(HashSet<String>);

impl KnownCodes {
    fn key(code: &FallbackCode) -> String {
        format!(
            "{}\u{1f}{:?}\u{1f}{:?}\u{1f}{:?}",
            code.code, code.recipient, code.candidates, code.expires_at
        )
    }

    /// True the first time `code` is met.
    pub fn first_time(&mut self, code: &FallbackCode) -> bool {
        if self.0.len() >= KNOWN_CODES_MAX {
            self.0.clear();
        }
        self.0.insert(Self::key(code))
    }
}

// ---------------------------------------------------------------------------------------------
// The connections and the one in use

/// The connection in use.
#[derive(Clone)]
pub struct Active {
    pub name: String,
    pub service: Arc<RemoteService>,
    pub known: Arc<Mutex<KnownCodes>>,
    /// The service's diagnostics the window already has (as their JSON).
    pub known_diagnostics: Arc<Mutex<HashSet<String>>>,
    cancel: CancellationToken,
    generation: u64,
}

struct Inner {
    saved: Vec<StoredConnection>,
    /// Connections whose token was found missing from the credential store.
    tokenless: HashSet<String>,
    /// Why `connections.json` could not be read at start-up: it is then never overwritten.
    load_error: Option<String>,
    active: Option<Active>,
    status: RemoteStatus,
    /// Grows at each switch: news of a follower that is no longer current is dropped.
    generation: u64,
    /// Grows with every view taken: the window keeps the newest (an event and a command's
    /// answer can reach it out of order).
    revision: u64,
}

pub struct Connections {
    path: PathBuf,
    inner: Mutex<Inner>,
    remote: AtomicBool,
    /// Adding, removing and switching, one at a time.
    ops: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn same_name(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

impl Connections {
    /// The connections saved in `dir`; the window starts on this computer.
    pub fn load(dir: &Path) -> Self {
        let path = dir.join(FILE_NAME);
        let (saved, load_error) = match read_file(&path) {
            Ok(saved) => (saved, None),
            Err(e) => {
                tracing::error!(error = %e, "saved connections not read; none are changed until the file is fixed");
                (Vec::new(), Some(e))
            }
        };
        Self {
            path,
            inner: Mutex::new(Inner {
                saved,
                tokenless: HashSet::new(),
                load_error,
                active: None,
                status: RemoteStatus::Local,
                generation: 0,
                revision: 0,
            }),
            remote: AtomicBool::new(false),
            ops: tokio::sync::Mutex::new(()),
        }
    }

    pub fn view(&self) -> ConnectionsView {
        let mut inner = lock(&self.inner);
        inner.revision += 1;
        ConnectionsView {
            revision: inner.revision,
            active: inner.active.as_ref().map(|a| a.name.clone()),
            connections: inner
                .saved
                .iter()
                .map(|c| ConnectionInfo {
                    name: c.name.clone(),
                    url: c.url.clone(),
                    fingerprint: c.fingerprint.clone(),
                    has_token: !inner.tokenless.contains(&c.name),
                })
                .collect(),
            status: inner.status.clone(),
        }
    }

    /// The connection in use; `None`: this computer.
    pub fn active(&self) -> Option<Active> {
        lock(&self.inner).active.clone()
    }

    /// Whether the window is on a remote service (this computer's events are not forwarded).
    pub fn is_remote(&self) -> bool {
        self.remote.load(Ordering::SeqCst)
    }

    pub fn find(&self, name: &str) -> Option<StoredConnection> {
        lock(&self.inner)
            .saved
            .iter()
            .find(|c| c.name == name)
            .cloned()
    }

    fn names(&self) -> Vec<String> {
        lock(&self.inner)
            .saved
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    fn unchangeable(&self, inner: &Inner) -> Result<(), IpcError> {
        match &inner.load_error {
            Some(e) => Err(IpcError::new(
                IpcErrorCode::Io,
                format!("{e}. Fix or delete {} and restart msgops: until then the saved connections are not changed", self.path.display()),
            )),
            None => Ok(()),
        }
    }

    /// Refuses a name already taken (case aside), or any change while the file is unreadable.
    pub fn check_new_name(&self, name: &str) -> Result<(), IpcError> {
        let inner = lock(&self.inner);
        self.unchangeable(&inner)?;
        if inner.saved.iter().any(|c| same_name(&c.name, name)) {
            return Err(IpcError::new(
                IpcErrorCode::Conflict,
                format!("there is a connection named `{name}` already: pick another name, or remove it first"),
            ));
        }
        Ok(())
    }

    fn save(&self, inner: &Inner) -> Result<(), IpcError> {
        write_file(&self.path, &inner.saved).map_err(|e| {
            IpcError::new(
                IpcErrorCode::Io,
                format!("{} could not be written: {e}", self.path.display()),
            )
        })
    }

    fn insert(&self, record: StoredConnection) -> Result<(), IpcError> {
        let mut inner = lock(&self.inner);
        self.unchangeable(&inner)?;
        if inner.saved.iter().any(|c| same_name(&c.name, &record.name)) {
            return Err(IpcError::new(
                IpcErrorCode::Conflict,
                format!("there is a connection named `{}` already", record.name),
            ));
        }
        let name = record.name.clone();
        inner.saved.push(record);
        if let Err(e) = self.save(&inner) {
            inner.saved.pop();
            return Err(e);
        }
        inner.tokenless.remove(&name);
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), IpcError> {
        let mut inner = lock(&self.inner);
        self.unchangeable(&inner)?;
        let before = inner.saved.clone();
        inner.saved.retain(|c| c.name != name);
        if let Err(e) = self.save(&inner) {
            inner.saved = before;
            return Err(e);
        }
        inner.tokenless.remove(name);
        Ok(())
    }

    /// Notes whether `name`'s token is in the store; true when that changed what is shown.
    fn set_has_token(&self, name: &str, has: bool) -> bool {
        let mut inner = lock(&self.inner);
        if has {
            inner.tokenless.remove(name)
        } else {
            inner.tokenless.insert(name.to_owned())
        }
    }

    /// Puts the window on `name`'s service (the previous follower stops).
    fn activate(&self, name: &str, service: Arc<RemoteService>) -> Active {
        let mut inner = lock(&self.inner);
        if let Some(old) = inner.active.take() {
            old.cancel.cancel();
        }
        inner.generation += 1;
        let active = Active {
            name: name.to_owned(),
            service,
            known: Arc::new(Mutex::new(KnownCodes::default())),
            known_diagnostics: Arc::new(Mutex::new(HashSet::new())),
            cancel: CancellationToken::new(),
            generation: inner.generation,
        };
        inner.active = Some(active.clone());
        inner.status = RemoteStatus::Connecting;
        self.remote.store(true, Ordering::SeqCst);
        active
    }

    /// Back to this computer; true when the window was on a remote service.
    fn deactivate(&self) -> bool {
        let mut inner = lock(&self.inner);
        let Some(old) = inner.active.take() else {
            return false;
        };
        old.cancel.cancel();
        inner.generation += 1;
        inner.status = RemoteStatus::Local;
        self.remote.store(false, Ordering::SeqCst);
        true
    }

    fn is_current(&self, generation: u64) -> bool {
        let inner = lock(&self.inner);
        inner.active.is_some() && inner.generation == generation
    }

    /// The status of the follower of `generation`, if it is still the one in use; true when
    /// it changed.
    fn set_status(&self, generation: u64, status: RemoteStatus) -> bool {
        let mut inner = lock(&self.inner);
        if inner.active.is_none() || inner.generation != generation || inner.status == status {
            return false;
        }
        inner.status = status;
        true
    }
}

/// Whether this computer's log and chain events go to the window (not while a remote service
/// is shown).
pub fn showing_local(app: &AppHandle) -> bool {
    app.try_state::<AppState>()
        .is_none_or(|state| !state.connections.is_remote())
}

fn announce(app: &AppHandle, state: &AppState, reset_logs: bool) {
    if reset_logs {
        // The Codes page drops what it has and asks for the snapshot of the side now shown.
        if let Err(e) = app.emit(crate::logs::LOG_RESET_EVENT, ()) {
            tracing::warn!(error = %e, "cannot tell the window the codes changed side");
        }
    }
    if let Err(e) = app.emit(CONNECTION_EVENT, state.connections.view()) {
        tracing::warn!(error = %e, "cannot tell the window of the connection");
    }
}

// ---------------------------------------------------------------------------------------------
// Adding, removing, switching

/// Saves a checked connection: its token in the store first, then the file (the token is
/// deleted again when the file cannot be written).
pub async fn save_new(
    state: &AppState,
    store: Arc<dyn CredentialStore>,
    record: StoredConnection,
    token: SecretString,
) -> Result<(), IpcError> {
    let _ops = state.connections.ops.lock().await;
    state.connections.check_new_name(&record.name)?;
    let account = token_account(&record.name);
    let writer = store.clone();
    let written = account.clone();
    off_the_runtime("storing the connection's token", KEYCHAIN, move || {
        writer.set(&written, &token)
    })
    .await?;
    if let Err(e) = state.connections.insert(record) {
        if let Err(undo) = off_the_runtime("deleting the connection's token", KEYCHAIN, move || {
            store.delete(&account)
        })
        .await
        {
            tracing::error!(error = %undo, "the token of a connection that was not saved is left in the credential store");
        }
        return Err(e);
    }
    Ok(())
}

/// Deletes the connection's token, then the connection; the window goes back to this
/// computer if it was on it.
pub async fn remove(app: &AppHandle, state: &AppState, name: &str) -> Result<(), IpcError> {
    let _ops = state.connections.ops.lock().await;
    if state.connections.find(name).is_none() {
        return Err(IpcError::not_found(format!("no connection named `{name}`")));
    }
    match state.store.clone() {
        Some(store) => {
            let account = token_account(name);
            off_the_runtime("deleting the connection's token", KEYCHAIN, move || {
                store.delete(&account)
            })
            .await?;
            state.connections.set_has_token(name, false);
        }
        None => {
            tracing::warn!(connection = %name, "credential store not usable: the connection's token, if any, is left in it");
        }
    }
    if state
        .connections
        .active()
        .is_some_and(|active| active.name == name)
        && state.connections.deactivate()
    {
        announce(app, state, true);
    }
    state.connections.delete(name)
}

/// Puts the window on the connection `name`, or on this computer (`None`).
pub async fn switch(app: &AppHandle, state: &AppState, name: Option<&str>) -> Result<(), IpcError> {
    let _ops = state.connections.ops.lock().await;
    let Some(name) = name else {
        if state.connections.deactivate() {
            announce(app, state, true);
        }
        return Ok(());
    };
    let record = state
        .connections
        .find(name)
        .ok_or_else(|| IpcError::not_found(format!("no connection named `{name}`")))?;
    if state
        .connections
        .active()
        .is_some_and(|active| active.name == record.name)
    {
        return Ok(());
    }
    let store = state
        .store
        .clone()
        .ok_or_else(|| store_unavailable(state))?;
    let account = token_account(&record.name);
    let token = off_the_runtime("reading the connection's token", KEYCHAIN, move || {
        store.get(&account)
    })
    .await?;
    let Some(token) = token else {
        if state.connections.set_has_token(&record.name, false) {
            announce(app, state, false);
        }
        return Err(IpcError::not_found(format!(
            "the token of `{}` is no longer in the credential store: remove the connection and add it again",
            record.name
        )));
    };
    if state.connections.set_has_token(&record.name, true) {
        announce(app, state, false);
    }
    let service = Arc::new(service_for(&record, token)?);
    let active = state.connections.activate(&record.name, service);
    follow(app.clone(), active);
    announce(app, state, true);
    Ok(())
}

/// Reads, off the start-up path, whether each saved connection's token is in the store.
pub fn check_tokens(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let Some(store) = state.store.clone() else {
            return;
        };
        let mut changed = false;
        for name in state.connections.names() {
            let account = token_account(&name);
            let reader = store.clone();
            match off_the_runtime("reading a connection's token", KEYCHAIN, move || {
                reader.get(&account).map(|t| t.is_some())
            })
            .await
            {
                Ok(has) => changed |= state.connections.set_has_token(&name, has),
                Err(e) => {
                    tracing::warn!(connection = %name, error = %e, "connection token not checked")
                }
            }
        }
        if changed {
            announce(&app, &state, false);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Following the service's events

fn follow(app: AppHandle, active: Active) {
    follow_diagnostics(app.clone(), active.clone());
    let service = active.service.clone();
    let cancel = active.cancel.clone();
    tauri::async_runtime::spawn(async move {
        let stop = cancel.clone();
        service
            .follow_events(cancel, move |news| {
                if !stop.is_cancelled() {
                    on_news(&app, &active, news);
                }
            })
            .await;
    });
}

/// The service's diagnostics, read again every [`DIAGNOSTICS_EVERY`] while the window is on
/// it: each new one reaches the Dashboard as this computer's do, as a log event.
fn follow_diagnostics(app: AppHandle, active: Active) {
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::select! {
                () = active.cancel.cancelled() => return,
                () = tokio::time::sleep(DIAGNOSTICS_EVERY) => {}
            }
            let Ok(list) = timed(active.service.diagnostics()).await else {
                continue;
            };
            let new: Vec<LogEvent> = list
                .iter()
                .filter(|d| first_diagnostic(&active, d))
                .filter_map(diagnostic_from_remote)
                .collect();
            let current = app
                .try_state::<AppState>()
                .is_some_and(|s| s.connections.is_current(active.generation));
            if !current {
                return;
            }
            for event in new {
                if let Err(e) = app.emit(crate::logs::LOG_EVENT, event) {
                    tracing::warn!(error = %e, "cannot forward a remote diagnostic to the window");
                }
            }
        }
    });
}

/// True the first time the window meets this diagnostic of the service.
fn first_diagnostic(active: &Active, diagnostic: &serde_json::Value) -> bool {
    let mut known = lock(&active.known_diagnostics);
    if known.len() >= KNOWN_CODES_MAX {
        known.clear();
    }
    known.insert(diagnostic.to_string())
}

fn on_news(app: &AppHandle, active: &Active, news: StreamNews) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let connections = &state.connections;
    let status = match news {
        StreamNews::Connected => RemoteStatus::Connected {
            since: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        },
        StreamNews::Disconnected { reason, retry_in } => RemoteStatus::Disconnected {
            reason,
            retry_in_ms: u32::try_from(retry_in.as_millis()).unwrap_or(u32::MAX),
        },
        StreamNews::Event(event) => {
            if connections.is_current(active.generation) {
                forward(app, active, &event);
            }
            return;
        }
    };
    if connections.set_status(active.generation, status) {
        announce(app, &state, false);
    }
}

/// One event of the service, as the app's own events.
fn forward(app: &AppHandle, active: &Active, event: &msgops_remote::SseEvent) {
    let data = || match serde_json::from_str::<serde_json::Value>(&event.data) {
        Ok(data) => Some(data),
        Err(e) => {
            tracing::warn!(event = %event.event, error = %e, "remote event is not JSON; dropped");
            None
        }
    };
    let sent = match event.event.as_str() {
        "code_seen" => {
            let Some(code) = data().and_then(|d| code_from_seen(&d, &active.name, Utc::now()))
            else {
                return;
            };
            if !lock(&active.known).first_time(&code) {
                return;
            }
            app.emit(crate::logs::LOG_EVENT, LogEvent::Code(code))
        }
        name if CHAIN_EVENTS.contains(&name) => {
            let Some(data) = data() else {
                return;
            };
            app.emit(crate::CHAIN_EVENT, data)
        }
        // The service restarted (or events were lost): the Codes page asks for the codes again;
        // the chain's state follows with the events replayed.
        "reset" | "lagged" => app.emit(crate::logs::LOG_RESET_EVENT, ()),
        // The delivered shares changed: the dashboard asks for the health again.
        "delivery_status" => {
            delivery_rates(app.clone(), active.clone());
            return;
        }
        _ => return,
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "cannot forward a remote event to the window");
    }
}

/// Sends the service's delivery rates as [`crate::DELIVERY_EVENT`], as this computer does when
/// reports arrive.
fn delivery_rates(app: AppHandle, active: Active) {
    tauri::async_runtime::spawn(async move {
        let Ok(health) = timed(active.service.health()).await else {
            return;
        };
        let Some(rates) = health.get("delivery").filter(|r| !r.is_null()) else {
            return;
        };
        let current = app
            .try_state::<AppState>()
            .is_some_and(|s| s.connections.is_current(active.generation));
        if current {
            if let Err(e) = app.emit(crate::DELIVERY_EVENT, rates) {
                tracing::warn!(error = %e, "cannot forward delivery rates to the window");
            }
        }
    });
}

/// A diagnostic of the service (`GET /api/v1/diagnostics`) as the log event the Dashboard shows:
/// the same fields the service's watcher parsed, under the same `kind`. The service withholds
/// the backend's clients' addresses, so an HTTP error's client is left empty. Anything else
/// (a code, a kind this window does not know) is left out.
fn diagnostic_from_remote(value: &serde_json::Value) -> Option<LogEvent> {
    let mut value = value.clone();
    if value["kind"] == "http_error" && value.get("client").is_none() {
        value["client"] = serde_json::Value::String(String::new());
    }
    serde_json::from_value::<LogEvent>(value)
        .ok()
        .filter(|e| !matches!(e, LogEvent::Code(_) | LogEvent::Clock(_)))
}

/// The remote codes as the Codes page's snapshot; a service that does not give them (no
/// `codes` scope, unreachable) is said as the connection's status among the diagnostics.
pub async fn log_snapshot(active: &Active) -> crate::logs::LogSnapshot {
    let files = vec![active.name.clone()];
    match timed(active.service.codes(None)).await {
        Ok(listed) => {
            let now = Utc::now();
            let codes: Vec<FallbackCode> = listed
                .iter()
                .filter_map(|c| code_from_seen(c, &active.name, now))
                .collect();
            {
                let mut known = lock(&active.known);
                for code in &codes {
                    known.first_time(code);
                }
            }
            // The service's diagnostics too; a service that does not give them leaves the panel
            // empty rather than the codes unread.
            let diagnostics = match timed(active.service.diagnostics()).await {
                Ok(list) => list
                    .iter()
                    .inspect(|d| {
                        first_diagnostic(active, d);
                    })
                    .filter_map(diagnostic_from_remote)
                    .collect(),
                Err(e) => {
                    tracing::warn!(connection = %active.name, error = %e.message, "remote diagnostics not read");
                    Vec::new()
                }
            };
            crate::logs::LogSnapshot {
                codes,
                diagnostics,
                files,
                clocks: Vec::new(),
            }
        }
        Err(e) => crate::logs::LogSnapshot {
            codes: Vec::new(),
            diagnostics: vec![LogEvent::FollowerStatus(msgops_logwatch::FollowerStatus {
                file: active.name.clone(),
                state: msgops_logwatch::FollowerState::Unreadable,
                message: format!(
                    "the codes of `{}` cannot be read: {}",
                    active.name, e.message
                ),
            })],
            files,
            clocks: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_services_diagnostics_read_back_as_the_log_events_it_was_made_of() {
        let provider_error = LogEvent::ProviderError(msgops_logwatch::ProviderError {
            provider: msgops_core::ProviderKind::Twilio,
            status: Some(401),
            provider_code: Some("20003".into()),
            level: "ERROR".into(),
            message: "Unable to create record: Authenticate".into(),
            ts: None,
            detail: vec!["Traceback".into()],
            file: "backend.log".into(),
            line: 7,
        });
        let http = LogEvent::HttpError(msgops_logwatch::HttpError {
            method: "POST".into(),
            path: "/api/v1/auth/send-otp".into(),
            status: 503,
            reason: "Service Unavailable".into(),
            client: "10.0.0.7:51234".into(),
            ts: None,
            file: "backend.log".into(),
            line: 8,
        });
        for event in [provider_error, http] {
            let diagnostic = msgops_service::events::Diagnostic::of(&event).expect("a diagnostic");
            let json = serde_json::to_value(&diagnostic).expect("json");
            let back = diagnostic_from_remote(&json).expect("read back");
            match (&event, &back) {
                // The service does not pass on the backend's clients' addresses.
                (LogEvent::HttpError(sent), LogEvent::HttpError(got)) => {
                    assert_eq!(got.client, "");
                    assert_eq!((got.status, &got.path), (sent.status, &sent.path));
                }
                _ => assert_eq!(back, event),
            }
        }
        assert!(diagnostic_from_remote(&serde_json::json!({"kind": "something_new"})).is_none());
    }

    fn temp_dir(tag: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "msgops-connections-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn names_are_short_words() {
        assert_eq!(
            check_name("  ops-eu_1 desk ").as_deref(),
            Ok("ops-eu_1 desk")
        );
        assert_eq!(check_name("Büro").as_deref(), Ok("Büro"));
        assert!(check_name(&"a".repeat(40)).is_ok());
        let long = check_name(&"a".repeat(41)).expect_err("41");
        assert!(long.contains("1 to 40"), "{long}");
        assert!(check_name("   ").is_err());
        assert!(check_name("").is_err());
        for bad in ["ops.eu", "a/b", "x:y", "tab\there", "new\nline", "quote\""] {
            let e = check_name(bad).expect_err(bad);
            assert!(e.contains("not allowed"), "{e}");
        }
    }

    #[test]
    fn addresses_are_https_or_this_machine_and_normalised() {
        assert_eq!(
            check_url(" https://ops.example.com:5024 ").expect("https"),
            "https://ops.example.com:5024/"
        );
        assert_eq!(
            check_url("https://ops.example.com/msgops?x=1#y").expect("path"),
            "https://ops.example.com/msgops/"
        );
        assert_eq!(
            check_url("http://127.0.0.1:5024").expect("loopback"),
            "http://127.0.0.1:5024/"
        );
        let plain = check_url("http://ops.example.com:5024").expect_err("plain http");
        assert_eq!(plain.code, IpcErrorCode::Validation);
        assert!(plain.message.contains("https://"), "{}", plain.message);
        assert_eq!(
            check_url("ftp://ops.example.com").expect_err("ftp").code,
            IpcErrorCode::Validation
        );
        assert_eq!(
            check_url("not a url").expect_err("words").code,
            IpcErrorCode::Validation
        );
        let userinfo = check_url("https://me:secret@ops.example.com").expect_err("userinfo");
        assert!(!userinfo.message.contains("secret"), "{}", userinfo.message);
    }

    #[test]
    fn fingerprints_are_checked_and_normalised() {
        let fp = Fingerprint::of(b"certificate");
        let pasted = fp.as_str().replace(':', "").to_ascii_lowercase();
        let url = "https://ops.example.com/";
        assert_eq!(
            check_fingerprint(url, Some(&pasted)).expect("pin"),
            Some(fp.clone())
        );
        assert_eq!(check_fingerprint(url, Some("  ")).expect("empty"), None);
        assert_eq!(check_fingerprint(url, None).expect("none"), None);
        let short = check_fingerprint(url, Some("AB:CD")).expect_err("short");
        assert_eq!(short.code, IpcErrorCode::Validation);
        let http = check_fingerprint("http://127.0.0.1:5024/", Some(fp.as_str()))
            .expect_err("nothing to pin");
        assert_eq!(http.code, IpcErrorCode::Validation);
    }

    #[test]
    fn the_file_round_trips_and_is_replaced_whole() {
        let dir = temp_dir("file");
        let path = dir.join(FILE_NAME);
        assert_eq!(read_file(&path), Ok(Vec::new()), "no file: no connections");
        let list = vec![
            StoredConnection {
                name: "eu desk".into(),
                url: "https://ops.example.com:5024/".into(),
                fingerprint: Some(Fingerprint::of(b"c").to_string()),
            },
            StoredConnection {
                name: "local".into(),
                url: "http://127.0.0.1:5024/".into(),
                fingerprint: None,
            },
        ];
        write_file(&path, &list).expect("write");
        assert_eq!(read_file(&path).expect("read"), list);
        write_file(&path, &list[1..]).expect("rewrite");
        assert_eq!(read_file(&path).expect("read again"), &list[1..]);
        // Only the file itself is left: no temporary file beside it.
        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [FILE_NAME]);
        let text = std::fs::read_to_string(&path).expect("text");
        assert!(!text.contains("token"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "{not json").expect("break it");
        let e = read_file(&path).expect_err("broken");
        assert!(e.contains("not a list of connections"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = temp_dir("fail");
        let path = dir.join(FILE_NAME);
        let one = [StoredConnection {
            name: "a".into(),
            url: "https://a.example/".into(),
            fingerprint: None,
        }];
        write_file(&path, &one).expect("write");
        // A directory where the file should be: the rename fails, nothing is half-written.
        let blocked = dir.join("blocked");
        std::fs::create_dir_all(blocked.join(FILE_NAME)).expect("dir in the way");
        assert!(write_file(&blocked.join(FILE_NAME), &one).is_err());
        assert_eq!(
            std::fs::read_dir(&blocked).expect("dir").count(),
            1,
            "no temporary file left"
        );
        assert_eq!(read_file(&path).expect("old"), one);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn connections_load_broken_files_without_overwriting_them() {
        let dir = temp_dir("load");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join(FILE_NAME), "{not json").expect("broken");
        let connections = Connections::load(&dir);
        assert!(connections.view().connections.is_empty());
        let e = connections.check_new_name("x").expect_err("unchangeable");
        assert_eq!(e.code, IpcErrorCode::Io);
        assert_eq!(
            std::fs::read_to_string(dir.join(FILE_NAME)).expect("kept"),
            "{not json"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn connections_are_saved_and_names_are_unique_case_aside() {
        let dir = temp_dir("save");
        let connections = Connections::load(&dir);
        let view = connections.view();
        assert_eq!(view.active, None);
        assert_eq!(view.status, RemoteStatus::Local);
        connections
            .insert(StoredConnection {
                name: "EU desk".into(),
                url: "https://ops.example.com/".into(),
                fingerprint: None,
            })
            .expect("insert");
        assert_eq!(
            connections
                .check_new_name("eu DESK")
                .expect_err("taken")
                .code,
            IpcErrorCode::Conflict
        );
        assert!(connections.set_has_token("EU desk", false));
        let again = Connections::load(&dir);
        let view = again.view();
        assert_eq!(view.connections.len(), 1);
        assert_eq!(view.connections[0].name, "EU desk");
        assert!(view.connections[0].has_token);
        again.delete("EU desk").expect("delete");
        assert!(Connections::load(&dir).view().connections.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_listed_code_becomes_a_codes_page_code() {
        let now: DateTime<Utc> = "2026-05-04T16:40:00Z".parse().expect("now");
        let listed = serde_json::json!({
            "channel": "sms",
            "recipient": "+14165550123",
            "candidates": [],
            "code": "091282",
            "source": "sms_fallback",
            "seen_at": "2026-05-04T16:35:00Z",
            "expires_at": "2026-05-04T16:45:00Z",
            "expired": false
        });
        let code = code_from_seen(&listed, "eu desk", now).expect("code");
        assert_eq!(
            code,
            FallbackCode {
                recipient: Some("+14165550123".into()),
                candidates: vec![],
                code: "091282".into(),
                logged_at: None,
                created_at: Some("2026-05-04T16:35:00Z".parse().expect("t")),
                expires_at: Some("2026-05-04T16:45:00Z".parse().expect("t")),
                time: CodeTime::Logged,
                expired: false,
                source: CodeSource::SmsFallback,
                file: "eu desk".into(),
                line: 0,
            }
        );
    }

    #[test]
    fn an_event_code_is_expired_by_its_expiry_and_sources_are_the_nearest() {
        let now: DateTime<Utc> = "2026-05-04T16:50:00Z".parse().expect("now");
        let event = serde_json::json!({
            "kind": "code_seen",
            "channel": "sms",
            "recipient": null,
            "candidates": ["4165550471", "4165550999"],
            "code": "123456",
            "source": "console",
            "seen_at": "2026-05-04T16:35:00Z",
            "expires_at": "2026-05-04T16:45:00Z"
        });
        let code = code_from_seen(&event, "eu", now).expect("code");
        assert!(code.expired, "past its expiry");
        assert_eq!(code.source, CodeSource::Console);
        assert_eq!(code.candidates.len(), 2);
        let mut no_expiry = event.clone();
        no_expiry["expires_at"] = serde_json::Value::Null;
        no_expiry["source"] = "backend_log".into();
        let code = code_from_seen(&no_expiry, "eu", now).expect("code");
        assert!(code.expired, "no known expiry is never valid");
        assert_eq!(code.source, CodeSource::SmsFallback);
        no_expiry["source"] = "pattern".into();
        assert_eq!(
            code_from_seen(&no_expiry, "eu", now).expect("code").source,
            CodeSource::Pattern
        );
        no_expiry["source"] = "console_log".into();
        assert_eq!(
            code_from_seen(&no_expiry, "eu", now).expect("code").source,
            CodeSource::Console
        );
        let mut timeless = event.clone();
        timeless["seen_at"] = serde_json::Value::Null;
        timeless["expires_at"] = "2026-05-04T17:45:00Z".into();
        let code = code_from_seen(&timeless, "eu", now).expect("code");
        assert!(code.expired);
        assert_eq!(code.time, CodeTime::Unknown);
        assert!(code_from_seen(&serde_json::json!({"kind": "reset"}), "eu", now).is_none());
    }

    #[test]
    fn a_code_replayed_with_a_new_seen_at_is_known() {
        let now = Utc::now();
        let seen = |at: &str| {
            serde_json::json!({"recipient": "+14165550123", "candidates": [], "code": "091282",
                "source": "sms_fallback", "seen_at": at, "expires_at": "2026-05-04T16:45:00Z"})
        };
        let mut known = KnownCodes::default();
        let first = code_from_seen(&seen("2026-05-04T16:35:00Z"), "eu", now).expect("code");
        let replayed = code_from_seen(&seen("2026-05-04T16:36:00Z"), "eu", now).expect("code");
        assert!(known.first_time(&first));
        assert!(!known.first_time(&replayed));
    }

    #[test]
    fn remote_errors_keep_their_meaning() {
        assert_eq!(
            remote_error(RemoteError::Unreachable("refused".into())).code,
            IpcErrorCode::RemoteUnreachable
        );
        assert_eq!(
            remote_error(RemoteError::Refused {
                status: 403,
                message: "needs operate".into()
            })
            .code,
            IpcErrorCode::RemoteRefused
        );
        let changed = remote_error(RemoteError::CertificateChanged {
            pinned: Fingerprint::of(b"a"),
            presented: Fingerprint::of(b"b"),
        });
        assert_eq!(changed.code, IpcErrorCode::RemoteUntrusted);
        assert!(changed.message.contains("certificate changed"));
    }

    #[test]
    fn the_token_is_not_in_a_request_s_debug() {
        let request = crate::commands::connections::AddConnection {
            name: "eu".into(),
            url: "https://ops.example.com".into(),
            fingerprint: None,
            token: "msgops_secret_value".into(),
        };
        assert!(!format!("{request:?}").contains("secret_value"));
    }
}
