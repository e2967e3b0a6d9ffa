//! A real PostgreSQL for a test: a new cluster in a temporary directory (`initdb -A trust`),
//! started on a free loopback port with `pg_ctl` and stopped when dropped. As root the cluster
//! belongs to the `postgres` user (PostgreSQL refuses to run as root). Without PostgreSQL
//! installed, [`Postgres::start`] says so loudly and returns `None` — unless `CI` is set, where
//! a missing PostgreSQL fails the test.
//!
//! Shared by the history crate's tests and the CLI's (`#[path]`-included there).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    user: String,
    as_postgres: bool,
}

/// The directory of `initdb`, `pg_ctl` and `createdb`, newest version first.
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Postgres {
    /// A running PostgreSQL, or `None` (with a loud message) when it is not installed and `CI`
    /// is unset.
    pub fn start() -> Option<Self> {
        let Some(bin) = bin_dir() else {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(
                !ci,
                "PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb); CI must have it \
                 (apt-get install -y postgresql)"
            );
            eprintln!(
                "\n\n!!!!!!!! SKIPPED: PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb); \
                 apt-get install -y postgresql to run this test !!!!!!!!\n\n"
            );
            return None;
        };
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("msgops-pg-")
            .tempdir()
            .expect("temp dir");
        let user = if as_postgres {
            let owned = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(owned.success(), "chown postgres {}", dir.path().display());
            "postgres".to_string()
        } else {
            std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "postgres".into())
        };
        let pg = Self {
            dir,
            bin,
            port: free_port(),
            user,
            as_postgres,
        };
        let data = pg.data_dir();
        pg.run("initdb", |c| {
            c.arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", &pg.user, "--no-sync"]);
        });
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            pg.port,
            pg.dir.path().display()
        );
        pg.run("pg_ctl", |c| {
            c.arg("-D")
                .arg(&data)
                .args(["-o", &options, "-l"])
                .arg(pg.dir.path().join("server.log"))
                .args(["-w", "-t", "60", "start"]);
        });
        Some(pg)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of PostgreSQL's programs (as `postgres` when this is root); panics with its
    /// output when it fails.
    fn run(&self, program: &str, args: impl FnOnce(&mut Command)) {
        let path = self.bin.join(program);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        args(&mut c);
        let out = c
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            out.status.success(),
            "{program} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Makes a database and returns its URL.
    pub fn database(&self, name: &str) -> String {
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                &self.user,
                name,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("createdb");
        assert!(
            out.status.success(),
            "createdb {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(name)
    }

    /// The URL of database `name` (trust authentication: no password).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{}@127.0.0.1:{}/{name}", self.user, self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let _ = c
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
