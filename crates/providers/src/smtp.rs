//! SMTP through lettre: STARTTLS (587), implicit TLS (465) or plain (only for a server on this
//! machine), AUTH when a username is configured (password from the credential store), and a
//! connection pool. The probe connects, says EHLO and authenticates on a fresh connection.
//!
//! Classification of replies: 4xx → `Transient`; 530/534/535 (authentication) →
//! `Authentication`; other 5xx → `Permanent`; connection refused, TLS failures and connect
//! timeouts → `Transient`. lettre's timeout covers the TCP connect; the whole send is bounded by
//! connect + request timeouts, and running past that is `Ambiguous` (DATA may have been
//! accepted).
//!
//! A send that does not end with an answer (timed out here, or cancelled by the chain's own
//! timeout or an abort) leaves its pooled connection mid-conversation: a late reply on it would
//! be read as the next send's answer (a `354` taken for "accepted"). Such a send therefore
//! throws the whole pool away; the next send opens a fresh connection.
//!
//! The receipt is the server's queue id when its final reply names one (`250 2.0.0 Ok: queued
//! as 4FZXK3`, Postfix and most MTAs), else the reply's text.

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use msgops_core::config::SmtpTls;
use msgops_core::{EmailMessage, Provider, Receipt, SendError};
use secrecy::{ExposeSecret, SecretString};

use crate::redact::Redactor;
use crate::timeouts::Timeouts;

/// Everything an SMTP provider needs. `Debug` never shows the password.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Username and password for AUTH; `None` for servers without AUTH.
    pub auth: Option<(String, SecretString)>,
    pub from: String,
    pub timeouts: Timeouts,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.auth.as_ref().map(|(u, _)| u))
            .field("from", &self.from)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

/// Whether a host name is this machine (plain SMTP is refused for anything else).
pub fn is_local_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub struct SmtpProvider {
    settings: SmtpSettings,
    from: Mailbox,
    transport: std::sync::RwLock<std::sync::Arc<AsyncSmtpTransport<Tokio1Executor>>>,
    redactor: Redactor,
}

/// Throws the provider's connection pool away when dropped armed: the send it guards ended
/// without an answer.
struct PoolReset<'a> {
    provider: &'a SmtpProvider,
    armed: bool,
}

impl Drop for PoolReset<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match self.provider.settings.transport(true) {
            Ok(fresh) => {
                *self
                    .provider
                    .transport
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    std::sync::Arc::new(fresh);
                tracing::info!(provider = "smtp", "a send ended without an answer: its connections are closed, the next send opens a fresh one");
            }
            Err(e) => {
                tracing::warn!(provider = "smtp", error = %e, "cannot open a fresh SMTP transport")
            }
        }
    }
}

/// The queue id in a final reply's text (`2.0.0 Ok: queued as 4FZXK3`), if it names one.
fn queue_id(reply: &str) -> Option<&str> {
    let lower = reply.to_ascii_lowercase();
    let at = lower.find("queued as ")? + "queued as ".len();
    reply[at..]
        .split(|c: char| c.is_whitespace() || c == ')' || c == ';' || c == ',')
        .next()
        .filter(|id| !id.is_empty())
}

impl SmtpSettings {
    /// A transport for these settings; `pooled` keeps connections open between sends.
    pub(crate) fn transport(
        &self,
        pooled: bool,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
        let config_error = |what: String| SendError::transient(format!("SMTP: {what}"));
        let builder = match self.tls {
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.host)
                .map_err(|e| {
                config_error(format!("cannot set up STARTTLS for {}: {e}", self.host))
            })?,
            SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&self.host)
                .map_err(|e| config_error(format!("cannot set up TLS for {}: {e}", self.host)))?,
            SmtpTls::Plain => {
                if !is_local_host(&self.host) {
                    return Err(config_error(format!(
                        "plain (unencrypted) SMTP is only allowed to this machine, not to {}; use starttls or implicit",
                        self.host
                    )));
                }
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            }
        };
        let mut builder = builder.port(self.port).timeout(Some(self.timeouts.request));
        if let Some((user, password)) = &self.auth {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        let pool = if pooled {
            PoolConfig::new()
                .max_size(4)
                .idle_timeout(std::time::Duration::from_secs(60))
        } else {
            PoolConfig::new()
                .max_size(1)
                .idle_timeout(std::time::Duration::ZERO)
        };
        Ok(builder.pool_config(pool).build())
    }

    pub(crate) fn redactor(&self) -> Redactor {
        Redactor::new(self.auth.as_ref().map(|(_, p)| p))
    }

    /// Connects, says EHLO, upgrades to TLS and authenticates on a fresh connection.
    pub(crate) async fn check_connection(&self) -> Result<(), SendError> {
        let transport = self.transport(false)?;
        let redactor = self.redactor();
        let limit = self.timeouts.connect + self.timeouts.request;
        match tokio::time::timeout(limit, transport.test_connection()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(SendError::transient(format!(
                "SMTP: {}:{} did not answer NOOP",
                self.host, self.port
            ))),
            Ok(Err(e)) => Err(redactor.error(classify(&e))),
            Err(_) => Err(SendError::transient(format!(
                "SMTP: {}:{} gave no answer within {} ms",
                self.host,
                self.port,
                limit.as_millis()
            ))),
        }
    }
}

/// Classifies a lettre error by its reply code, or as a transport failure.
pub fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let text = e.to_string();
    if let Some(code) = e.status() {
        let n = u16::from(code);
        let err = match n {
            530 | 534 | 535 => SendError::authentication(format!(
                "SMTP server refused the login ({text}); rotate the SMTP password (msgops creds rotate smtp)"
            )),
            400..=499 => SendError::transient(format!("SMTP server deferred: {text}")),
            500..=599 => SendError::permanent(format!("SMTP server rejected the message: {text}")),
            _ => SendError::transient(format!("SMTP: unexpected reply: {text}")),
        };
        return err.with_code(i64::from(n));
    }
    if e.is_timeout() {
        return SendError::transient(format!("SMTP: timed out: {text}"));
    }
    let mut detail = text;
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let c = cause.to_string();
        if !detail.contains(&c) {
            detail.push_str(": ");
            detail.push_str(&c);
        }
        source = cause.source();
    }
    SendError::transient(format!("SMTP: connection failed: {detail}"))
}

impl SmtpProvider {
    pub fn new(settings: SmtpSettings) -> Result<Self, SendError> {
        let from: Mailbox = settings.from.parse().map_err(|e| {
            SendError::transient(format!(
                "SMTP: the from address `{}` is not valid: {e}",
                settings.from
            ))
        })?;
        let transport = settings.transport(true)?;
        let redactor = settings.redactor();
        Ok(Self {
            settings,
            from,
            transport: std::sync::RwLock::new(std::sync::Arc::new(transport)),
            redactor,
        })
    }

    /// The message as lettre builds it (From, To, Subject, plain-text body).
    pub fn build_message(&self, message: &EmailMessage) -> Result<lettre::Message, SendError> {
        let to: Mailbox = message.to.parse().map_err(|e| {
            SendError::permanent(format!(
                "`{}` is not a valid email address: {e}",
                message.to
            ))
        })?;
        lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.clone())
            .map_err(|e| SendError::permanent(format!("cannot build the email: {e}")))
    }
}

#[async_trait]
impl Provider<EmailMessage> for SmtpProvider {
    async fn send(&self, message: &EmailMessage) -> Result<Receipt, SendError> {
        let email = self.build_message(message)?;
        let limit = self.settings.timeouts.connect + self.settings.timeouts.request;
        let transport = self
            .transport
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut reset = PoolReset {
            provider: self,
            armed: true,
        };
        let answer = tokio::time::timeout(limit, transport.send(email)).await;
        reset.armed = answer.is_err();
        drop(reset);
        match answer {
            Ok(Ok(response)) => {
                tracing::info!(provider = "smtp", to = %message.to, "email sent via SMTP");
                let text = response.message().collect::<Vec<_>>().join(" ");
                Ok(Receipt {
                    provider_message_id: queue_id(&text)
                        .map(str::to_owned)
                        .or_else(|| (!text.trim().is_empty()).then(|| text.trim().to_owned())),
                })
            }
            Ok(Err(e)) => Err(self.redactor.error(classify(&e))),
            Err(_) => Err(SendError::ambiguous(format!(
                "SMTP: no answer from {}:{} within {} ms; the message may have been accepted",
                self.settings.host,
                self.settings.port,
                limit.as_millis()
            ))),
        }
    }

    /// Connect + EHLO (+ STARTTLS) + AUTH when configured, on a fresh connection. Like every
    /// probe, its result is shown but never counts toward the breaker.
    async fn probe(&self) -> Result<(), SendError> {
        self.settings.check_connection().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receipt_is_the_queue_id_when_the_reply_names_one() {
        assert_eq!(queue_id("2.0.0 Ok: queued as 4FZXK3"), Some("4FZXK3"));
        assert_eq!(
            queue_id("OK id=1 (Queued as abc-1; thank you)"),
            Some("abc-1")
        );
        assert_eq!(queue_id("OK"), None);
        assert_eq!(queue_id("queued as "), None);
    }

    #[test]
    fn plain_smtp_is_only_for_this_machine() {
        assert!(is_local_host("localhost"));
        assert!(is_local_host("127.0.0.1"));
        assert!(is_local_host("[::1]"));
        assert!(!is_local_host("smtp.gmail.com"));
        let settings = SmtpSettings {
            host: "smtp.example.com".into(),
            port: 25,
            tls: SmtpTls::Plain,
            auth: None,
            from: "ops@example.com".into(),
            timeouts: Timeouts::default(),
        };
        let err = SmtpProvider::new(settings).err().expect("refused");
        assert!(
            err.message.contains("only allowed to this machine"),
            "{}",
            err.message
        );
    }
}
