//! A real PostgreSQL server per test binary (or benchmark), started from Debian's
//! PostgreSQL 15 binaries with `initdb` and `pg_ctl` in a temporary directory, on a free
//! loopback port, as an unprivileged user (PostgreSQL refuses to run as root: under root it
//! runs as the `postgres` account the package creates). Stopped and removed when dropped. No
//! test skips when PostgreSQL is missing: it fails and says how to install it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

pub const INSTALL: &str = "install it with `apt-get install postgresql-15` (scripts/test does)";

/// A running PostgreSQL.
pub struct Postgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    run_as: Option<String>,
    databases: AtomicU32,
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TELEMETRA_PG_BIN") {
        return PathBuf::from(dir);
    }
    // Debian keeps each major version's programs apart; the newest installed is taken.
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent().and_then(Path::file_name).and_then(|v| v.to_str()?.parse::<u32>().ok()).unwrap_or(0)
    });
    found.pop().unwrap_or_else(|| panic!("PostgreSQL (initdb, pg_ctl) is not installed: {INSTALL}"))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

fn check(what: &str, out: std::io::Result<Output>) -> Output {
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Postgres {
    /// Starts a fresh server. `durable`: PostgreSQL's defaults (every commit flushed to disk),
    /// as a benchmark measures; otherwise without fsync, as tests want.
    pub fn start(durable: bool) -> Postgres {
        static N: AtomicU32 = AtomicU32::new(0);
        let bin = bin_dir();
        let run_as = is_root().then(|| "postgres".to_string());
        let dir = std::env::temp_dir().join(format!(
            "telemetra-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut pg = Postgres { port: 0, dir, bin, run_as, databases: AtomicU32::new(0) };
        if let Some(user) = &pg.run_as {
            check("chown", Command::new("chown").args([user.as_str(), pg.dir.to_str().unwrap()]).output());
        }
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "telemetra", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
        );
        // A port taken between our probe and the server's bind is retried on another.
        for attempt in 0.. {
            pg.port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut options =
                format!("-p {} -c listen_addresses=127.0.0.1 -k {data} -c max_connections=200", pg.port);
            if !durable {
                options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
            }
            let log = format!("{}/log", pg.dir.display());
            let out =
                pg.command("pg_ctl", &["-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start"]);
            if out.status.success() {
                break;
            }
            assert!(
                attempt < 3,
                "pg_ctl start failed: {}{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        pg
    }

    fn data(&self) -> String {
        format!("{}/data", self.dir.display())
    }

    fn command(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let mut c = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        c.args(args).current_dir(&self.dir).output().unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        check(program, Ok(self.command(program, args)))
    }

    /// The connection string of `database`.
    pub fn url(&self, database: &str) -> String {
        format!("host=127.0.0.1 port={} user=telemetra dbname={database}", self.port)
    }

    /// A new, empty database; its connection string.
    pub fn database(&self) -> String {
        let name = format!("t{}", self.databases.fetch_add(1, Ordering::Relaxed));
        let port = self.port.to_string();
        self.run("createdb", &["-h", "127.0.0.1", "-p", &port, "-U", "telemetra", &name]);
        self.url(&name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.command("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
