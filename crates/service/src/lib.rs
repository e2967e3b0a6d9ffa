//! msgops as an HTTP service, for the backend's monitoring and for programs that send codes:
//!
//! - `GET /api/v1/health/messaging` — the backend's health JSON, richer (200, or 503 when a
//!   chain has no healthy provider left);
//! - `GET /metrics` — Prometheus text;
//! - `POST /api/v1/messages/{sms,email}` — sends behind a bearer token, per-recipient limits
//!   and `Idempotency-Key`;
//! - `GET /api/v1/events` — server-sent events;
//! - `POST /api/v1/webhooks/{twilio,sendgrid,aws/sns}` — the providers' delivery reports,
//!   verified by their senders' signatures (no token);
//! - `GET /api/v1/openapi.json` — the OpenAPI description, generated from the handlers.
//!
//! Like mini-redis, [`serve`] takes its listener and its shutdown signal from outside: the CLI
//! binds `127.0.0.1:5024`, tests bind `127.0.0.1:0`, the desktop app can run it in the
//! background. No Tauri, no GTK here.
//!
//! What the service must never do: listen beyond loopback with any endpoint open, or in plain
//! HTTP ([`serve_tls`] speaks HTTPS, [`tls`]); send a message the recipient limit refused; send
//! twice for one idempotency key; end a send silently at shutdown (it finishes, or is recorded
//! as failed).

pub mod api;
pub mod auth;
pub mod controls;
pub mod delivery;
pub mod doc;
pub mod emulated;
pub mod events;
pub mod idempotency;
pub mod limits;
pub mod metrics;
pub mod sends;
pub mod state;
pub mod tls;
pub mod tokens;
pub mod webhooks;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use msgops_core::{ChainEvent, Messaging, ProviderKind};
use tokio::net::TcpListener;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

pub use api::{openapi, router, ApiError, ApiErrorCode};
pub use auth::{create_token, load_token, ApiAuth, AuthScope, TOKEN_ACCOUNT};
pub use delivery::{DeliverySink, Ingested, MemoryDeliveries};
pub use events::{CodeSeen, ServiceEvent};
pub use idempotency::IdempotencyConfig;
pub use limits::{LimitRule, LimitsConfig, PrefixRule, RecipientLimiter};
pub use sends::SendsSource;
pub use state::{ServiceSettings, ServiceState};
pub use webhooks::{KeychainWebhookSecrets, NoWebhookSecrets, WebhookSecrets, WebhookSettings};

/// Where the service listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5024";

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "refusing to listen on {addr}: beyond loopback every endpoint must require the API token, \
         and {why}. Create a token with `msgops serve --create-token` (or set MSGOPS_API_TOKEN), \
         or listen on 127.0.0.1"
    )]
    ExposedWithoutAuth { addr: SocketAddr, why: &'static str },
    #[error(
        "refusing to listen on {addr} over plain HTTP: beyond loopback the service speaks only \
         HTTPS, so that tokens and messages do not cross the network in clear. Use \
         `--tls-cert FILE --tls-key FILE` or `--tls-self-signed`, or listen on 127.0.0.1"
    )]
    PlainBeyondLoopback { addr: SocketAddr },
    #[error("the listener failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Checks that a service with `auth` may listen on `addr`: loopback always, anything else only
/// with a token guarding every endpoint.
pub fn check_exposure(addr: SocketAddr, auth: &ApiAuth) -> Result<(), ServiceError> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    let why = if !auth.has_token() {
        "no API token is configured"
    } else if auth.scope() != AuthScope::Everything {
        "authentication is configured for sends and events only"
    } else {
        return Ok(());
    };
    Err(ServiceError::ExposedWithoutAuth { addr, why })
}

/// Checks that the service may listen on `addr` over plain HTTP (`tls: false`) or HTTPS: plain
/// HTTP on loopback only. The token rule is [`check_exposure`]'s.
pub fn check_transport(addr: SocketAddr, tls: bool) -> Result<(), ServiceError> {
    if tls || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(ServiceError::PlainBeyondLoopback { addr })
    }
}

/// Waits for SIGINT or SIGTERM (Ctrl-C elsewhere): the signals that ask a service to drain and
/// stop.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves the API over plain HTTP on `listener` until `shutdown` is cancelled, then shuts down
/// gracefully: no new connections or sends; event streams end; requests under way get their
/// answer; sends under way finish within the grace period (default: the chains' send deadline +
/// 2 s) or are recorded as failed. Background tasks (metrics from chain events, breaker polling)
/// live as long as this. Plain HTTP is for loopback only ([`check_transport`]); beyond it, see
/// [`serve_tls`].
pub async fn serve(
    listener: TcpListener,
    state: ServiceState,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let addr = listener.local_addr()?;
    check_exposure(addr, &state.settings().auth)?;
    check_transport(addr, false)?;
    // Answers are written in one piece; do not let Nagle hold them back.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    serve_on(listener, addr, "http", state, shutdown).await
}

/// [`serve`] over TLS (`tls`: e.g. [`tls::TlsIdentity::server_config`]), on any address the
/// token rule ([`check_exposure`]) allows. Shutdown, the send drain and event streams behave as
/// over plain HTTP; a failed handshake is logged at debug level and affects no one else
/// ([`tls::TlsListener`]).
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: ServiceState,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let addr = listener.local_addr()?;
    check_exposure(addr, &state.settings().auth)?;
    check_transport(addr, true)?;
    let listener = tls::TlsListener::new(listener, tls)?;
    // Through `TapIo` (which does nothing here) for axum's connect info.
    let listener = axum::serve::ListenerExt::tap_io(listener, |_| {});
    serve_on(listener, addr, "https", state, shutdown).await
}

/// What [`serve`] and [`serve_tls`] share: everything but the transport.
async fn serve_on<L, F>(
    listener: axum::serve::TapIo<L, F>,
    addr: SocketAddr,
    scheme: &'static str,
    state: ServiceState,
    shutdown: CancellationToken,
) -> Result<(), ServiceError>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    F: FnMut(&mut L::Io) + Send + 'static,
{
    let background = CancellationToken::new();
    let feeder = tokio::spawn(feed_metrics(state.clone(), background.clone()));
    let poller = tokio::spawn(poll_breakers(state.clone(), background.clone()));
    tracing::info!(%addr, scheme, "msgops service listening");

    let app = api::router(state.clone());
    let grace = state.shutdown_grace();
    // On the signal: refuse new sends, end event streams, and give the sends under way the
    // grace period; those still running after it are aborted and recorded as failed, which
    // lets their requests answer 503 before the connections close.
    let drained = tokio::spawn({
        let state = state.clone();
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            tracing::info!("shutting down: finishing requests and sends under way");
            state.begin_shutdown();
            state.drain_sends(grace).await;
        }
    });
    let signal = shutdown.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { signal.cancelled().await });
    let outcome = tokio::select! {
        result = server.into_future() => result.map_err(ServiceError::from),
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace + Duration::from_secs(2)).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "connections still open after the grace period; closing them");
            Ok(())
        }
    };
    if shutdown.is_cancelled() {
        // Sends whose clients hung up may still be running: wait for the drain to account
        // for them.
        let _ = drained.await;
    } else {
        // The server failed on its own: still account for the sends it started.
        drained.abort();
        state.begin_shutdown();
        state.drain_sends(grace).await;
    }
    background.cancel();
    let _ = feeder.await;
    let _ = poller.await;
    outcome
}

/// Counts the chain's events into the metrics. On shutdown it drains what is already queued, so
/// the last sends are counted too.
async fn feed_metrics(state: ServiceState, stop: CancellationToken) {
    let messaging: &Arc<Messaging> = state.messaging();
    let mut events = messaging.subscribe();
    let sms_order: Vec<ProviderKind> = messaging.sms.provider_ids();
    let email_order: Vec<ProviderKind> = messaging.email.provider_ids();
    let handle = |event: ChainEvent| match event {
        ChainEvent::SendFinished { record } => {
            let order = match record.channel {
                msgops_core::Channel::Sms => &sms_order,
                msgops_core::Channel::Email => &email_order,
            };
            state.metrics().record_send(&record, order);
        }
        ChainEvent::BreakerTransition {
            channel,
            provider,
            transition,
        } => state
            .metrics()
            .record_transition(channel, &provider, &transition),
        ChainEvent::ProviderChanged { .. } | ChainEvent::ProbeFinished { .. } => {}
    };
    loop {
        tokio::select! {
            biased;
            received = events.recv() => match received {
                Ok(event) => handle(event),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "metrics fell behind the chain's events");
                    state.metrics().record_lagged(missed);
                }
                Err(RecvError::Closed) => return,
            },
            () = stop.cancelled() => break,
        }
    }
    while let Ok(event) = events.try_recv() {
        handle(event);
    }
}

/// Moves OPEN breakers whose cool-down is over to HALF_OPEN, so that the transition is seen when
/// it happens.
async fn poll_breakers(state: ServiceState, stop: CancellationToken) {
    let mut tick = tokio::time::interval(
        state
            .settings()
            .breaker_poll_interval
            .max(Duration::from_millis(10)),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => state.messaging().poll_breakers(),
            () = stop.cancelled() => return,
        }
    }
}
