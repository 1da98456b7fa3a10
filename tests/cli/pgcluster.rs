//! A throwaway PostgreSQL cluster per test: `initdb` into a temporary folder, started on a free
//! port with a Unix socket in the same folder, stopped and removed when the guard drops (also
//! when the test panics).
//!
//! Running as root, initdb and postgres refuse to run, so both run as the `postgres` OS user
//! (`runuser -u postgres --`) and the folder is handed to that user. Binaries come from the
//! newest `/usr/lib/postgresql/*/bin`, else from PATH. Without them a test is skipped with a loud
//! message, except under `CI=true`, where a missing PostgreSQL is a failure.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running cluster; dropping it stops the server and removes its folder.
pub struct Cluster {
    pub bin: PathBuf,
    pub port: u16,
    pub dir: tempfile::TempDir,
    as_postgres: bool,
}

/// The folder with initdb/pg_ctl/pg_dump…, or None when PostgreSQL is not installed.
pub fn pg_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    if let Some((_, d)) = dirs.pop() {
        return Some(d);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
}

/// Starts a cluster, or returns None (after a loud message) when PostgreSQL is missing outside CI.
pub fn start() -> Option<Cluster> {
    let Some(bin) = pg_bin_dir() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("PostgreSQL binaries (initdb, pg_ctl) not found and CI=true: install postgresql");
        }
        eprintln!(
            "\n*** SKIPPED: PostgreSQL binaries (initdb, pg_ctl) not found; install postgresql to run this test ***\n"
        );
        return None;
    };
    let as_postgres = is_root();
    let dir = tempfile::Builder::new().prefix("lastgood-pg-").tempdir().expect("temp dir");
    if as_postgres {
        let st = Command::new("chown").arg("-R").arg("postgres:postgres").arg(dir.path()).status().unwrap();
        assert!(st.success(), "chown to postgres failed");
    }
    let mut c = Cluster { bin, port: 0, dir, as_postgres };
    let data = c.data_dir();
    let out = c.run_as_server_user(
        Command::new(c.bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8", "-D"])
            .arg(&data),
    );
    assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    for attempt in 0..5 {
        c.port = free_port();
        let opts = format!(
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c listen_addresses=127.0.0.1 \
             -c port={} -c unix_socket_directories={} -c max_connections=30",
            c.port,
            c.dir.path().display()
        );
        let log = c.dir.path().join("server.log");
        let out = c.run_as_server_user(
            Command::new(c.bin.join("pg_ctl"))
                .args(["-w", "-t", "30", "-D"])
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(&opts)
                .arg("start"),
        );
        if out.status.success() {
            return Some(c);
        }
        if attempt == 4 {
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("pg_ctl start failed: {}\n{log_text}", String::from_utf8_lossy(&out.stderr));
        }
    }
    unreachable!()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `cmd` as the server's OS user (postgres when we are root).
    fn run_as_server_user(&self, cmd: &mut Command) -> Output {
        if self.as_postgres {
            let mut wrapped = Command::new("runuser");
            wrapped.args(["-u", "postgres", "--"]).arg(cmd.get_program()).args(cmd.get_args());
            wrapped.output().expect("runuser runs")
        } else {
            cmd.output().expect("command runs")
        }
    }

    /// A libpq key=value connection string for database `db` as the superuser, over TCP.
    pub fn conn(&self, db: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={db}", self.port)
    }

    /// A `postgres://` URL for database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A `postgres://` URL for database `db` as `user`, with `password` in it when given.
    pub fn url_as(&self, user: &str, password: Option<&str>, db: &str) -> String {
        let password = password.map(|p| format!(":{p}")).unwrap_or_default();
        format!("postgres://{user}{password}@127.0.0.1:{}/{db}", self.port)
    }

    /// A libpq key=value connection string for database `db` as `user`, over TCP.
    pub fn conn_as(&self, user: &str, db: &str) -> String {
        format!("host=127.0.0.1 port={} user={user} dbname={db}", self.port)
    }

    /// Another session on database `db`, as an application holds one: psql running `sql` (a
    /// `pg_sleep` to stay connected, a lock to hold) in the background; wait for it or kill it.
    pub fn session(&self, db: &str, sql: &str) -> std::process::Child {
        self.tool("psql", db)
            .args(["-X", "-q", "-c", sql])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("psql starts")
    }

    /// A PostgreSQL client tool (psql, pg_dump, pgbench…) from the cluster's bin folder, with the
    /// connection given by environment variables.
    pub fn tool(&self, name: &str, db: &str) -> Command {
        let mut c = Command::new(self.bin.join(name));
        c.env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "postgres")
            .env("PGDATABASE", db)
            .env_remove("PGPASSWORD");
        c
    }

    /// Runs SQL with psql (stop on first error) and returns stdout (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out =
            self.tool("psql", db).args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]).output().unwrap();
        assert!(out.status.success(), "psql {sql:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The server's major version (`15`).
    pub fn server_major(&self) -> String {
        self.psql("postgres", "SHOW server_version").trim().split('.').next().unwrap().to_string()
    }

    pub fn create_db(&self, db: &str) {
        self.psql("postgres", &format!("CREATE DATABASE \"{db}\""));
    }

    /// Runs pg_dump with `args` on database `db`; asserts success.
    pub fn pg_dump(&self, db: &str, args: &[&str], out: &Path) {
        let o = self.tool("pg_dump", db).args(args).arg("-f").arg(out).output().unwrap();
        assert!(o.status.success(), "pg_dump {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    }

    /// Makes `user` log in with `password` over TCP (scram), while everyone else stays trusted.
    pub fn add_password_user(&self, user: &str, password: &str) {
        self.psql("postgres", &format!("CREATE ROLE \"{user}\" LOGIN SUPERUSER PASSWORD '{password}'"));
        let hba = self.data_dir().join("pg_hba.conf");
        let old = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(&hba, format!("host all {user} 127.0.0.1/32 scram-sha-256\n{old}")).unwrap();
        let out =
            self.run_as_server_user(Command::new(self.bin.join("pg_ctl")).arg("-D").arg(self.data_dir()).arg("reload"));
        assert!(out.status.success(), "reload failed");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    /// Sets `settings` with ALTER SYSTEM (values quoted as SQL strings) and restarts the server,
    /// for settings that need a restart (`archive_mode`); the start options are kept
    /// (`postmaster.opts`).
    pub fn restart_with(&self, settings: &[(&str, &str)]) {
        for (key, value) in settings {
            self.psql("postgres", &format!("ALTER SYSTEM SET {key} = '{}'", value.replace('\'', "''")));
        }
        let out = self.run_as_server_user(
            Command::new(self.bin.join("pg_ctl"))
                .args(["-w", "-t", "30", "-D"])
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.dir.path().join("server.log"))
                .arg("restart"),
        );
        assert!(
            out.status.success(),
            "pg_ctl restart failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.server_log()
        );
    }

    /// The server's log so far (for failure messages).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Hands `path` (recursively) to the server's OS user when the server runs as another user
    /// than the tests (as root: `postgres`), so that the server can write there
    /// (`archive_command`). Put it inside `dir`: the tests' own temporary folders are closed to
    /// other users.
    pub fn give_to_server_user(&self, path: &Path) {
        if self.as_postgres {
            let st = Command::new("chown").arg("-R").arg("postgres:postgres").arg(path).status().unwrap();
            assert!(st.success(), "chown {} to postgres failed", path.display());
        }
    }

    /// Stops the server now (for "server down" tests); Drop then only removes the folder.
    pub fn stop(&self) {
        let _ = self.run_as_server_user(
            Command::new(self.bin.join("pg_ctl"))
                .args(["-w", "-m", "immediate", "-D"])
                .arg(self.data_dir())
                .arg("stop"),
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a cluster or returns from the test (skip) when PostgreSQL is missing outside CI.
#[macro_export]
macro_rules! cluster_or_skip {
    () => {
        match $crate::pgcluster::start() {
            Some(c) => c,
            None => return,
        }
    };
}
