//! A real `redis-server` for tests (this crate's and the CLI's): on a free loopback port, in a
//! temporary directory, with nothing persisted, killed when dropped. It can be stopped and
//! started again on the same port, to test what an outage does.
//!
//! Without `/usr/bin/redis-server` (Debian's `redis-server`, which `scripts/setup.sh`
//! installs), [`RedisServer::start`] says what is missing; [`RedisServer::skip_reason`] lets
//! a test skip with that reason unless `MSGOPS_REAL_PEERS=1` asks for every real peer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

/// The server binary: `$MSGOPS_REDIS_SERVER`, else `redis-server` (or `valkey-server`) on the
/// PATH.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MSGOPS_REDIS_SERVER") {
        return Some(PathBuf::from(path));
    }
    ["/usr/bin/redis-server", "/usr/bin/valkey-server"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl RedisServer {
    /// Why the tests that need a redis-server cannot run here, if they cannot. Panics instead
    /// when `MSGOPS_REAL_PEERS=1` (CI: every real peer must be there).
    pub fn skip_reason() -> Option<String> {
        let why = binary().is_none().then(|| {
            "no redis-server (apt-get install -y redis-server, or set MSGOPS_REDIS_SERVER)"
                .to_string()
        })?;
        assert!(
            std::env::var("MSGOPS_REAL_PEERS").as_deref() != Ok("1"),
            "MSGOPS_REAL_PEERS=1 but {why}"
        );
        Some(why)
    }

    /// Starts one on a free loopback port and waits until it answers PING.
    pub fn start() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port().map_err(|e| e.to_string())?;
        let mut server = Self {
            child: None,
            port,
            dir,
        };
        server.restart()?;
        Ok(server)
    }

    /// Starts it again on its port (after [`RedisServer::kill`]); empty, as a restarted
    /// server without persistence is.
    pub fn restart(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Ok(());
        }
        let bin = binary().ok_or("no redis-server binary")?;
        let log =
            std::fs::File::create(self.dir.path().join("redis.log")).map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        self.child = Some(child);
        let started = Instant::now();
        while self.command(&["PING"]).as_deref() != Ok("+PONG") {
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("redis-server exited ({status}): {}", self.log()));
                }
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err(format!(
                    "redis-server did not answer within 20 s: {}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Kills it at once (SIGKILL), as a crashed server goes.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// What it wrote to its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Runs one command (inline protocol: no argument may hold spaces) and returns the first
    /// line of the answer (`+PONG`, `:3`, `$5` …).
    pub fn command(&self, args: &[&str]) -> Result<String, String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut request = Vec::new();
        request.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            request.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        stream.write_all(&request).map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while !answer.ends_with(b"\r\n") {
            match stream.read(&mut byte) {
                Ok(0) => break,
                Ok(_) => answer.push(byte[0]),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(String::from_utf8_lossy(&answer).trim_end().to_string())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
