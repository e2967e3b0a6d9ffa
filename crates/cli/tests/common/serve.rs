//! A real `msgops serve --emulated` for a test: its own config and data directory, a free
//! loopback port, killed when the test ends; and named tokens made by `msgops token create`
//! (kept in variables, never printed).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The service, killed if the test ends early.
pub struct Serve {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `msgops` on `dir`'s `config.toml` and `data/`, with no legacy token.
pub fn msgops(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_msgops"));
    c.current_dir(dir)
        .env("MSGOPS_CONFIG", dir.join("config.toml"))
        .env("MSGOPS_DATA_DIR", dir.join("data"))
        .env_remove("MSGOPS_API_TOKEN")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

/// Starts `msgops serve --emulated` following `dir/backend.log`, once it says where it listens.
pub fn start_serve(dir: &Path) -> Serve {
    let mut child = msgops(dir)
        .args(["serve", "--emulated", "--listen", "127.0.0.1:0", "--log"])
        .arg(dir.join("backend.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("msgops serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if let Some(addr) = line
                    .split("listening on http://")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                {
                    // The rest of its output is not read; keep the pipe drained.
                    std::thread::spawn(move || while lines.recv().is_ok() {});
                    return Serve {
                        child,
                        addr: addr.to_string(),
                    };
                }
                seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("msgops serve did not say where it listens: {seen:#?}");
}

/// A named token with `scopes` (`read`, `codes,operate`…), as `msgops token create` prints it.
pub fn create_token(dir: &Path, name: &str, scopes: &str) -> String {
    let out = msgops(dir)
        .args(["token", "create", name, "--scope", scopes])
        .stdin(Stdio::null())
        .output()
        .expect("msgops token runs");
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}
