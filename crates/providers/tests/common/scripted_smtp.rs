//! A minimal scripted SMTP server on 127.0.0.1 for fault tests: it speaks just enough ESMTP
//! for lettre (greeting, EHLO advertising `AUTH PLAIN`, AUTH, MAIL, RCPT, DATA, RSET, NOOP,
//! QUIT) and accepts everything, except at one chosen stage, where it does what it is told:
//! answer a given reply, close the connection, reset it, never answer, or answer bytes that are
//! not SMTP. Every connection is counted; every accepted message gets a queue id.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Where in the SMTP dialogue the fault happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpStage {
    /// Instead of the `220` greeting.
    Greeting,
    Ehlo,
    Auth,
    Mail,
    Rcpt,
    /// The answer to `DATA` itself (instead of `354`).
    Data,
    /// After the message and its final `.` were received (instead of `250 queued`).
    EndOfData,
}

/// What the server does at the faulty stage.
#[derive(Debug, Clone)]
pub enum SmtpAction {
    /// Answers this reply line (e.g. `535 5.7.8 Authentication credentials invalid`). After a
    /// greeting that is not 2xx the server closes, as real servers do.
    Reply(String),
    /// Closes the connection without a word (FIN).
    Close,
    /// Resets the connection (RST).
    Reset,
    /// Never answers.
    Hang,
    /// Answers these bytes, which are not an SMTP reply, then closes.
    Garbage(String),
    /// Answers this reply line after a while, then goes on.
    Late(Duration, String),
}

pub struct ScriptedSmtp {
    pub port: u16,
    connections: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedSmtp {
    /// A server that accepts every message.
    pub async fn accepting() -> ScriptedSmtp {
        Self::start(None).await
    }

    /// A server that does `action` at `stage` on every connection (and accepts everything when
    /// `fault` is `None`).
    pub async fn start(fault: Option<(SmtpStage, SmtpAction)>) -> ScriptedSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (c, a) = (connections.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let fault = fault.clone();
                let a = a.clone();
                tokio::spawn(async move {
                    let _ = serve(socket, fault, a).await;
                });
            }
        });
        ScriptedSmtp {
            port,
            connections,
            accepted,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Messages accepted (`250` after DATA) so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether the session goes on after the faulty stage.
enum Next {
    Continue,
    Stop,
}

async fn act(socket: &mut TcpStream, stage: SmtpStage, action: &SmtpAction) -> Next {
    match action {
        SmtpAction::Reply(line) => {
            let _ = socket.write_all(format!("{line}\r\n").as_bytes()).await;
            if stage == SmtpStage::Greeting && !line.starts_with('2') {
                let _ = socket.shutdown().await;
                return Next::Stop;
            }
            Next::Continue
        }
        SmtpAction::Close => {
            let _ = socket.shutdown().await;
            Next::Stop
        }
        SmtpAction::Reset => {
            let _ = socket.set_zero_linger();
            Next::Stop
        }
        SmtpAction::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Next::Stop
        }
        SmtpAction::Late(after, line) => {
            tokio::time::sleep(*after).await;
            let _ = socket.write_all(format!("{line}\r\n").as_bytes()).await;
            Next::Continue
        }
        SmtpAction::Garbage(bytes) => {
            let _ = socket.write_all(bytes.as_bytes()).await;
            let _ = socket.shutdown().await;
            Next::Stop
        }
    }
}

/// Answers `normal` at `stage`, unless the fault is there. `None`: the session is over.
async fn answer(
    socket: &mut TcpStream,
    fault: &Option<(SmtpStage, SmtpAction)>,
    stage: SmtpStage,
    normal: &str,
) -> Option<()> {
    match fault {
        Some((at, action)) if *at == stage => match act(socket, stage, action).await {
            Next::Continue => Some(()),
            Next::Stop => None,
        },
        _ => socket.write_all(normal.as_bytes()).await.ok(),
    }
}

/// Reads one CRLF-terminated line (without the CRLF); `None` when the client went away.
async fn read_line(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..i]).to_string();
            buf.drain(..i + 2);
            return Some(line);
        }
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve(
    mut socket: TcpStream,
    fault: Option<(SmtpStage, SmtpAction)>,
    accepted: Arc<AtomicUsize>,
) -> Option<()> {
    let mut buf = Vec::new();
    answer(
        &mut socket,
        &fault,
        SmtpStage::Greeting,
        "220 127.0.0.1 ESMTP scripted\r\n",
    )
    .await?;
    loop {
        let line = read_line(&mut socket, &mut buf).await?;
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => {
                answer(
                    &mut socket,
                    &fault,
                    SmtpStage::Ehlo,
                    "250-127.0.0.1\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n",
                )
                .await?
            }
            "AUTH" => {
                answer(
                    &mut socket,
                    &fault,
                    SmtpStage::Auth,
                    "235 2.7.0 Authentication successful\r\n",
                )
                .await?
            }
            "MAIL" => answer(&mut socket, &fault, SmtpStage::Mail, "250 2.1.0 Ok\r\n").await?,
            "RCPT" => answer(&mut socket, &fault, SmtpStage::Rcpt, "250 2.1.5 Ok\r\n").await?,
            "DATA" => {
                let faulty = matches!(&fault, Some((SmtpStage::Data, _)));
                answer(
                    &mut socket,
                    &fault,
                    SmtpStage::Data,
                    "354 End data with <CR><LF>.<CR><LF>\r\n",
                )
                .await?;
                if faulty {
                    continue;
                }
                while read_line(&mut socket, &mut buf).await? != "." {}
                let n = if matches!(&fault, Some((SmtpStage::EndOfData, _))) {
                    0
                } else {
                    accepted.fetch_add(1, Ordering::SeqCst) + 1
                };
                answer(
                    &mut socket,
                    &fault,
                    SmtpStage::EndOfData,
                    &format!("250 2.0.0 Ok: queued as SCRIPTED{n:04}\r\n"),
                )
                .await?;
            }
            "RSET" | "NOOP" => socket.write_all(b"250 2.0.0 Ok\r\n").await.ok()?,
            "QUIT" => {
                let _ = socket.write_all(b"221 2.0.0 Bye\r\n").await;
                let _ = socket.shutdown().await;
                return Some(());
            }
            _ => socket
                .write_all(b"502 5.5.2 Error: command not recognized\r\n")
                .await
                .ok()?,
        }
    }
}
