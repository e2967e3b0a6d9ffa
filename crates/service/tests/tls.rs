//! The service over HTTPS (`serve_tls`) on 127.0.0.1:0 with a test certificate: a client that
//! trusts the certificate gets the health JSON, one that does not (or trusts another) is refused
//! in the handshake, plain HTTP to the port is answered 400, broken and stalled handshakes stop
//! nothing, and shutdown drains sends and ends event streams as over plain HTTP. Plain HTTP
//! beyond loopback is refused.

use std::sync::Arc;
use std::time::Duration;

use msgops_core::config::Config;
use msgops_core::scripted::{ScriptedProvider, Step};
use msgops_core::{Messaging, ProviderKind};
use msgops_credentials::SecretString;
use msgops_service::emulated::install_emulated_providers;
use msgops_service::tls::{fingerprint, generate_self_signed, TlsIdentity};
use msgops_service::{
    serve, serve_tls, ApiAuth, AuthScope, ServiceError, ServiceSettings, ServiceState,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "msgops_tls_test_token_0123456789abcdef";
const NUMBER: &str = "+14165550123";

/// A test certificate for localhost and 127.0.0.1, as PEM files in a temporary directory.
struct TestCert {
    pem: String,
    identity: TlsIdentity,
    _dir: tempfile::TempDir,
}

fn test_cert() -> TestCert {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) =
        generate_self_signed(&["localhost".into(), "127.0.0.1".into()]).expect("certificate");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert).expect("write cert");
    std::fs::write(&key_path, &key).expect("write key");
    let identity = TlsIdentity::from_pem_files(&cert_path, &key_path).expect("usable");
    TestCert {
        pem: cert,
        identity,
        _dir: dir,
    }
}

struct Service {
    addr: std::net::SocketAddr,
    base: String,
    state: ServiceState,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ServiceError>>,
    /// Trusts only the test certificate.
    https: reqwest::Client,
    cert: TestCert,
    _dir: tempfile::TempDir,
}

async fn start(sns: Option<ScriptedProvider>, grace: Option<Duration>) -> Service {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.console.log_path = dir.path().join("console-sms.log");
    let messaging = Arc::new(Messaging::from_config(&config));
    install_emulated_providers(&messaging, &[]);
    if let Some(sns) = sns {
        let id: ProviderKind = "sns".parse().expect("a provider id");
        assert!(messaging.sms.set_provider(&id, Some(Arc::new(sns)), "test"));
    }
    let state = ServiceState::new(
        messaging,
        ServiceSettings {
            auth: ApiAuth::new(Some(SecretString::from(TOKEN)), AuthScope::SendsAndEvents),
            shutdown_grace: grace,
            ..ServiceSettings::default()
        },
    );
    let cert = test_cert();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve_tls(
        listener,
        cert.identity.server_config().expect("server config"),
        state.clone(),
        shutdown.clone(),
    ));
    Service {
        addr,
        base: format!("https://{addr}"),
        state,
        shutdown,
        task,
        https: trusting(&cert.pem),
        cert,
        _dir: dir,
    }
}

/// A client that trusts `pem` and nothing else.
fn trusting(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).expect("pem")])
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

impl Service {
    async fn health(&self, client: &reqwest::Client) -> Result<(u16, Value), reqwest::Error> {
        let r = client
            .get(format!("{}/api/v1/health/messaging", self.base))
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await?))
    }

    async fn assert_healthy(&self) {
        let (status, body) = self.health(&self.https).await.expect("health over HTTPS");
        assert_eq!(status, 200, "{body}");
        assert!(
            body.get("sms_providers").is_some(),
            "the health JSON: {body}"
        );
    }

    async fn stop(self) -> ServiceState {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("shut down in time")
            .expect("join")
            .expect("serve ended well");
        self.state
    }
}

/// The whole error chain, for matching on what went wrong.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[tokio::test]
async fn health_over_https_to_a_client_that_trusts_the_certificate_and_no_one_else() {
    let service = start(None, None).await;
    service.assert_healthy().await;
    // By name too: the certificate names localhost.
    let by_name = service
        .https
        .get(format!(
            "https://localhost:{}/api/v1/health/messaging",
            service.addr.port()
        ))
        .send()
        .await
        .expect("health by name");
    assert_eq!(by_name.status().as_u16(), 200);

    // The system's roots do not know a self-signed certificate.
    let stranger = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let err = service.health(&stranger).await.expect_err("untrusted");
    assert!(
        chain(&err).to_lowercase().contains("certificate"),
        "{}",
        chain(&err)
    );
    // Nor does a client pinned to another certificate accept this one.
    let other = test_cert();
    assert_ne!(
        other.identity.fingerprint(),
        service.cert.identity.fingerprint()
    );
    let err = service
        .health(&trusting(&other.pem))
        .await
        .expect_err("another certificate");
    assert!(
        chain(&err).to_lowercase().contains("certificate"),
        "{}",
        chain(&err)
    );
    // The fingerprint is of the certificate the server presents.
    assert_eq!(
        service.cert.identity.fingerprint(),
        fingerprint(service.cert.identity.leaf())
    );
    service.assert_healthy().await;
    service.stop().await;
}

#[tokio::test]
async fn plain_http_to_the_tls_port_is_answered_400_and_gets_no_api() {
    let service = start(None, None).await;
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let r = plain
        .get(format!("http://{}/api/v1/health/messaging", service.addr))
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().await.expect("text");
    assert!(text.contains("HTTPS only"), "{text}");
    assert!(
        !text.contains("sms_providers"),
        "no health JSON over plain HTTP: {text}"
    );

    // A send over plain HTTP reaches no provider either.
    let r = plain
        .post(format!("http://{}/api/v1/messages/sms", service.addr))
        .bearer_auth(TOKEN)
        .json(&json!({"to": NUMBER, "body": "Your code is 091282"}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.status().as_u16(), 400);
    let text = service
        .state
        .metrics()
        .encode(&service.state.messaging().health());
    assert!(!text.contains("msgops_sends_total{"), "{text}");
    service.assert_healthy().await;
    service.stop().await;
}

#[tokio::test]
async fn broken_and_stalled_handshakes_stop_nothing() {
    let service = start(None, None).await;
    // A client that connects and says nothing: its handshake waits, nobody else does.
    let mut stalled = TcpStream::connect(service.addr).await.expect("connect");
    // A TLS record that is not a ClientHello.
    let mut garbage = TcpStream::connect(service.addr).await.expect("connect");
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00])
        .await
        .expect("write");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), garbage.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the server closes a connection whose handshake failed"
    );
    // Connected and gone at once.
    drop(TcpStream::connect(service.addr).await.expect("connect"));
    // Clients that refuse the server's certificate (their side of a failed handshake).
    let stranger = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for _ in 0..3 {
        assert!(service.health(&stranger).await.is_err());
    }
    // All the while, a trusting client is answered at once.
    let answered = tokio::time::timeout(Duration::from_secs(3), service.assert_healthy()).await;
    assert!(answered.is_ok(), "a stalled handshake held others up");
    // The stalled one is still open (within its handshake time) and the server still serves.
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), stalled.read(&mut byte))
            .await
            .is_err(),
        "the stalled connection was closed early"
    );
    service.assert_healthy().await;
    assert!(!service.task.is_finished(), "the server is still running");
    drop(stalled);
    service.stop().await;
}

#[tokio::test]
async fn shutdown_lets_a_send_under_way_over_https_finish_and_closes_the_port() {
    let service = start(
        Some(ScriptedProvider::new(
            [],
            Step::OkAfter(Duration::from_millis(300)),
        )),
        None,
    )
    .await;
    let request = service
        .https
        .post(format!("{}/api/v1/messages/sms", service.base))
        .bearer_auth(TOKEN)
        .json(&json!({"to": NUMBER, "body": "Your code is 091282"}))
        .send();
    let shutdown = service.shutdown.clone();
    let state = service.state.clone();
    let (answer, ()) = tokio::join!(request, async move {
        while state.sends_in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shutdown.cancel();
    });
    let answer = answer.expect("answered despite the shutdown");
    assert_eq!(answer.status().as_u16(), 200);
    let addr = service.addr;
    let state = service.stop().await;
    assert_eq!(state.sends_in_flight(), 0);
    let text = state.metrics().encode(&state.messaging().health());
    assert!(
        text.contains(
            "msgops_sends_total{channel=\"sms\",provider=\"sns\",outcome=\"delivered\"} 1"
        ),
        "{text}"
    );
    // Stopped: the port no longer accepts.
    let mut refused = false;
    for _ in 0..50 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the TLS port still accepts after shutdown");
}

#[tokio::test]
async fn a_send_still_running_after_the_grace_period_is_answered_503_over_https() {
    let service = start(
        Some(ScriptedProvider::new([], Step::Hang)),
        Some(Duration::from_millis(200)),
    )
    .await;
    let request = service
        .https
        .post(format!("{}/api/v1/messages/sms", service.base))
        .bearer_auth(TOKEN)
        .json(&json!({"to": NUMBER, "body": "Your code is 091282"}))
        .send();
    let shutdown = service.shutdown.clone();
    let state = service.state.clone();
    let (answer, ()) = tokio::join!(request, async move {
        while state.sends_in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shutdown.cancel();
    });
    let answer = answer.expect("answered");
    assert_eq!(answer.status().as_u16(), 503);
    assert_eq!(
        answer.json::<Value>().await.expect("json")["code"],
        "send_abandoned"
    );
    let state = service.stop().await;
    let text = state.metrics().encode(&state.messaging().health());
    assert!(
        text.contains("msgops_sends_abandoned_total{channel=\"sms\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn the_event_stream_over_https_carries_sends_and_ends_at_shutdown() {
    let service = start(None, None).await;
    let mut stream = service
        .https
        .get(format!("{}/api/v1/events", service.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status().as_u16(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/event-stream"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sent = service
        .https
        .post(format!("{}/api/v1/messages/sms", service.base))
        .bearer_auth(TOKEN)
        .json(&json!({"to": NUMBER, "body": "Your code is 091282"}))
        .send()
        .await
        .expect("send");
    assert_eq!(sent.status().as_u16(), 200);
    let mut text = String::new();
    let read = async {
        while !text.contains("event: send_finished") {
            match stream.chunk().await.expect("chunk") {
                Some(chunk) => text.push_str(&String::from_utf8_lossy(&chunk)),
                None => break,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap_or_else(|_| panic!("send_finished missing from:\n{text}"));
    assert!(text.contains("event: send_finished"), "{text}");
    // Shutdown ends the stream instead of hanging on it.
    let shutdown = service.shutdown.clone();
    shutdown.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        // Until the end of the body, or the connection's.
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the event stream outlived the shutdown");
    let state = service.stop().await;
    assert_eq!(state.sends_in_flight(), 0);
}

#[tokio::test]
async fn plain_http_beyond_loopback_is_refused_and_https_is_not() {
    let any: std::net::SocketAddr = "0.0.0.0:5024".parse().expect("addr");
    let err = msgops_service::check_transport(any, false).expect_err("plain beyond loopback");
    assert!(err.to_string().contains("over plain HTTP"), "{err}");
    assert!(err.to_string().contains("--tls-self-signed"), "{err}");
    assert!(msgops_service::check_transport(any, true).is_ok());
    let loopback: std::net::SocketAddr = "127.0.0.1:5024".parse().expect("addr");
    assert!(msgops_service::check_transport(loopback, false).is_ok());
    let v6: std::net::SocketAddr = "[::1]:5024".parse().expect("addr");
    assert!(msgops_service::check_transport(v6, false).is_ok());

    // `serve` itself refuses, with a token on every endpoint: before accepting anything.
    let listener = TcpListener::bind("0.0.0.0:0").await.expect("bind");
    let state = ServiceState::new(
        Arc::new(Messaging::from_config(&Config::default())),
        ServiceSettings {
            auth: ApiAuth::new(Some(SecretString::from(TOKEN)), AuthScope::Everything),
            ..ServiceSettings::default()
        },
    );
    let err = tokio::time::timeout(
        Duration::from_secs(5),
        serve(listener, state, CancellationToken::new()),
    )
    .await
    .expect("refused at once")
    .expect_err("refused");
    assert!(
        matches!(err, ServiceError::PlainBeyondLoopback { .. }),
        "{err}"
    );
}
