//! A throwaway PostgreSQL instance that replays a base backup's WAL to a recovery target and
//! pauses there, for `restore --at/--before-txn/--after-txn` (`pitr.rs`).
//!
//! Its folder is private, under the scratch folder (`pitr-<window>-<pid>-<n>`, mode 0700, the
//! scratch folder marked so that the catalog skips it): `MARKER` (the owning lastgood's pid),
//! `data/` (the base backup copied or unpacked), `socket/` (its only listener), `server.log`,
//! `pg_hba.conf`/`pg_ident.conf` (local trust, nothing else) and the table dump. As root the
//! folder goes to the `postgres` OS user and every server program runs as that user (`setpriv`,
//! else `runuser`), since PostgreSQL refuses to run as root.
//!
//! The instance never reaches production (invariant 9 of the design): no TCP (`listen_addresses
//! = ''`), no archiving (`archive_mode = off`, empty `archive_command`/`archive_library`), no
//! replication (`primary_conninfo`/`primary_slot_name` empty, `standby.signal` removed,
//! `pg_replslot/` emptied), no commands of production's (`archive_cleanup_command`,
//! `recovery_end_command` empty, `restore_command` lastgood's own, reading the archive only),
//! and never promoted (`recovery_target_action = pause`, which needs `hot_standby = on`). Lines of
//! `postgresql.auto.conf` that set any of those, or where the server listens or finds its files,
//! are dropped; lastgood's settings are appended there, and the paths (`data_directory`,
//! `hba_file`, `ident_file`, `external_pid_file`) are also given on the command line, which
//! overrides every file. Memory settings a production server may need (`shared_buffers`,
//! `huge_pages`) are set to what any machine has.
//!
//! Cleanup: the instance is stopped (`pg_ctl stop -m fast`, then `-m immediate`, then SIGKILL)
//! and its folder removed when `Instance` drops — after success, an error or a panic — and on
//! Ctrl-C or SIGTERM (`interrupt::cleanup_on_interrupt`). A lastgood killed outright leaves its
//! folder: `clean_leftovers` (run before each new instance) removes folders whose `MARKER` names
//! a dead pid, stopping first a postmaster only when its `postmaster.pid` lies inside that folder
//! and names that folder's data.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::tools;
use crate::engine::ScratchFolder;
use crate::error::{bad_input, environment};
use crate::repo::SKIP_MARKER;

/// The file that marks a folder as a throwaway instance's, holding its owner's pid.
pub const MARKER: &str = ".lastgood-pitr";
/// The folder name prefix of instances.
const PREFIX: &str = "pitr-";

/// The one step of a restore to a moment that differs between the sources a window restores
/// from: how the instance's (empty, private) data folder is filled, and the `restore_command`
/// that reads the window's log (`pitr.rs`: an unpacked base backup; `pgbackrest.rs`: `pgbackrest
/// restore`). Everything else — settings that keep the instance away from production, replay,
/// pause, copy, cleanup — is shared.
pub trait DataFolder: std::fmt::Debug + Send + Sync {
    /// For the spinner: `unpacking base backup ID`.
    fn doing(&self, base_id: &str) -> String;
    /// Fills `inst.data` with the base backup's files for a replay to `target`; returns the
    /// bytes written. Errors: `BadInput` for a backup that cannot be used, `Environment` for
    /// I/O and tools.
    fn produce(&self, inst: &Instance, run_as: &RunAs, target: crate::engine::source::Target) -> Result<u64>;
    /// The `restore_command` the instance runs (lastgood's own, reading the log only).
    fn restore_command(&self, inst: &Instance) -> String;
}

/// Who runs the server programs: this process's user, or (as root) the `postgres` OS user.
#[derive(Debug, Clone)]
pub struct RunAs {
    pub os_user: Option<String>,
}

impl RunAs {
    /// `postgres` when running as root (checked to exist), else this process's user. Errors:
    /// `Environment` when root and there is no `postgres` user.
    pub fn detect() -> Result<RunAs> {
        if !is_root() {
            return Ok(RunAs { os_user: None });
        }
        let ok = Command::new("id").arg("-u").arg("postgres").output().is_ok_and(|o| o.status.success());
        if !ok {
            return Err(environment(
                "running as root, the recovery instance must run as the `postgres` OS user, which does not exist",
            )
            .hint("create it (useradd --system postgres), or run lastgood as the user that owns PostgreSQL")
            .into());
        }
        Ok(RunAs { os_user: Some("postgres".to_string()) })
    }

    /// `program ARGS…` as the server's OS user.
    pub fn command(&self, program: &Path) -> Command {
        match &self.os_user {
            None => Command::new(program),
            Some(u) if Path::new("/usr/bin/setpriv").is_file() || Path::new("/bin/setpriv").is_file() => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid", u, "--regid", u, "--init-groups", "--"]).arg(program);
                c
            }
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(program);
                c
            }
        }
    }

    /// Hands `path` (recursively) to the server's OS user, when that is another user.
    fn hand_over(&self, path: &Path) -> Result<()> {
        let Some(u) = &self.os_user else { return Ok(()) };
        let out = tools::output(Command::new("chown").arg("-R").arg(format!("{u}:{u}")).arg(path))?;
        if !out.status.success() {
            return Err(environment(format!(
                "cannot hand `{}` to the `{u}` OS user: {}",
                path.display(),
                tools::stderr_tail(&out, None, 2)
            ))
            .into());
        }
        Ok(())
    }

    /// Whether the server's OS user can `test -FLAG path`.
    fn can(&self, flag: &str, path: &Path) -> bool {
        self.command(Path::new("/usr/bin/test")).arg(flag).arg(path).status().is_ok_and(|s| s.success())
    }
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").ok().is_some_and(|s| {
        s.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().next().map(|u| u == "0"))
            == Some(true)
    })
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A throwaway instance's folder and, once started, its server.
pub struct Instance {
    pub folder: PathBuf,
    pub data: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub port: u16,
    bin: PathBuf,
    run_as: RunAs,
    child: Option<Child>,
    cleanup: u64,
}

impl Instance {
    /// Creates the private folder in `scratch` (created and marked when missing) for window
    /// `label`, with `bin` the server programs. Errors: `Environment` when it cannot be made.
    pub fn create(scratch: &Path, label: &str, bin: &Path, run_as: RunAs) -> Result<Instance> {
        let env_err = |e: std::io::Error, what: &Path| environment(format!("cannot create `{}`: {e}", what.display()));
        fs::create_dir_all(scratch).map_err(|e| env_err(e, scratch))?;
        let skip = scratch.join(SKIP_MARKER);
        if !skip.exists() {
            fs::write(&skip, "This folder holds lastgood scratch data; `lastgood catalog` skips it.\n")
                .map_err(|e| env_err(e, &skip))?;
        }
        let scratch = scratch.canonicalize().map_err(|e| env_err(e, scratch))?;
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let folder = scratch.join(format!("{PREFIX}{label}-{}-{stamp}", std::process::id()));
        // Registered before the folder exists, so that no moment leaves it unregistered.
        let cleanup = {
            let (folder, bin, run_as) = (folder.clone(), bin.to_path_buf(), run_as.clone());
            crate::interrupt::cleanup_on_interrupt(move || {
                stop_server(&run_as, &bin, &folder.join("data"), None);
                let _ = fs::remove_dir_all(&folder);
            })
        };
        let inst = Instance {
            data: folder.join("data"),
            socket: folder.join("socket"),
            log: folder.join("server.log"),
            folder,
            port: free_port(),
            bin: bin.to_path_buf(),
            run_as,
            child: None,
            cleanup,
        };
        fs::create_dir(&inst.folder).map_err(|e| env_err(e, &inst.folder))?;
        fs::set_permissions(&inst.folder, fs::Permissions::from_mode(0o700))?;
        fs::write(inst.folder.join(MARKER), format!("{}\n", std::process::id()))?;
        for d in [&inst.data, &inst.socket] {
            fs::create_dir(d).map_err(|e| env_err(e, d))?;
            fs::set_permissions(d, fs::Permissions::from_mode(0o700))?;
        }
        fs::write(inst.folder.join("pg_hba.conf"), "local all all trust\n")?;
        fs::write(inst.folder.join("pg_ident.conf"), "")?;
        Ok(inst)
    }

    /// Copies (plain) or unpacks (tar) the base backup at `base` into `data`; returns the bytes
    /// written. Errors: `BadInput` for a backup with tablespaces (not handled yet) or that does
    /// not unpack, `Environment` for I/O.
    pub fn unpack(&self, base: &Path, layout: &str) -> Result<u64> {
        if layout == "plain" {
            if fs::read_dir(base.join("pg_tblspc")).is_ok_and(|mut d| d.next().is_some()) {
                return Err(tablespaces(base));
            }
            return copy_tree(base, &self.data);
        }
        let (tar, compression) = super::basebackup::base_tar(base)
            .ok_or_else(|| bad_input(format!("base backup `{}` has no base.tar", base.display())))?;
        let others = fs::read_dir(base)?.flatten().any(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.ends_with(&format!(".tar{}", compression.suffix()))
                && !n.starts_with("base.")
                && !n.starts_with("pg_wal.")
        });
        if others {
            return Err(tablespaces(base));
        }
        untar(&tar, &self.data)?;
        if let Some(wal) = super::basebackup::wal_tar(base, compression) {
            fs::create_dir_all(self.data.join("pg_wal"))?;
            untar(&wal, &self.data.join("pg_wal"))?;
        }
        Ok(crate::util::fs::tree_size(&self.data))
    }

    /// Hands the instance folder to the server's OS user (before a tool of that user fills
    /// `data`). Errors: `Environment` when it cannot.
    pub fn hand_over(&self) -> Result<()> {
        self.run_as.hand_over(&self.folder)
    }

    /// Makes `data` a recovery that never reaches production (module docs), with lastgood's
    /// `settings` (`restore_command`, the target, …) appended to `postgresql.auto.conf`, and
    /// hands the folder to the server's OS user. `log` is the WAL archive the server reads.
    /// Errors: `Environment` when the server's OS user cannot reach the folder or the archive.
    pub fn configure(&self, settings: &[(&str, String)], log: &Path) -> Result<()> {
        for f in ["postmaster.pid", "postmaster.opts", "standby.signal", "recovery.signal", "recovery.conf"] {
            let _ = fs::remove_file(self.data.join(f));
        }
        if let Ok(slots) = fs::read_dir(self.data.join("pg_replslot")) {
            for s in slots.flatten() {
                let _ = fs::remove_dir_all(s.path());
            }
        }
        let conf = self.data.join("postgresql.conf");
        if !conf.exists() {
            fs::write(&conf, "# written by lastgood: the base backup held no postgresql.conf\n")?;
        }
        let auto = self.data.join("postgresql.auto.conf");
        let old = fs::read_to_string(&auto).unwrap_or_default();
        let mut text: String =
            old.lines().filter(|l| !reaches_out(l)).map(|l| format!("{l}\n")).collect::<Vec<_>>().concat();
        text.push_str("# lastgood: a throwaway recovery instance (never promoted, no TCP, no archiving)\n");
        for (k, v) in settings {
            text.push_str(&format!("{k} = {}\n", conf_quote(v)));
        }
        fs::write(&auto, text)?;
        fs::write(self.data.join("recovery.signal"), "")?;
        fs::set_permissions(&self.data, fs::Permissions::from_mode(0o700))?;
        // Replaying a CREATE TABLESPACE links `pg_tblspc/<oid>` to the location the record
        // names: production's own folder on this host, which the instance would then write
        // into. A closed `pg_tblspc` makes that replay fail instead (the backups restored here
        // hold no tablespaces, so nothing else is ever written there).
        let tblspc = self.data.join("pg_tblspc");
        fs::create_dir_all(&tblspc)?;
        fs::set_permissions(&tblspc, fs::Permissions::from_mode(0o500))?;
        self.run_as.hand_over(&self.folder)?;
        if let Some(u) = &self.run_as.os_user {
            if !self.run_as.can("-w", &self.data) {
                return Err(environment(format!(
                    "the `{u}` OS user cannot reach `{}` (a folder above it is closed to that user)",
                    self.folder.display()
                ))
                .hint("pass --scratch-dir in a folder the postgres user can reach (e.g. under /var/tmp)")
                .into());
            }
            if !self.run_as.can("-r", log) || !self.run_as.can("-x", log) {
                return Err(environment(format!("the `{u}` OS user cannot read the WAL archive `{}`", log.display()))
                    .hint(format!("let that user read it (chgrp {u} and chmod g+rx on the folder and its files)"))
                    .into());
            }
        }
        Ok(())
    }

    /// Starts the server in the background (its own process group, so a Ctrl-C reaches
    /// lastgood first, which stops it in order). Errors: `Environment` when it cannot start.
    pub fn start(&mut self) -> Result<()> {
        let log = fs::File::create(&self.log)?;
        let mut cmd = self.run_as.command(&self.bin.join("postgres"));
        cmd.arg("-D").arg(&self.data);
        let path_of = |p: &Path| p.display().to_string();
        for (k, v) in [
            ("config_file", path_of(&self.data.join("postgresql.conf"))),
            ("data_directory", path_of(&self.data)),
            ("hba_file", path_of(&self.folder.join("pg_hba.conf"))),
            ("ident_file", path_of(&self.folder.join("pg_ident.conf"))),
            ("external_pid_file", String::new()),
            ("listen_addresses", String::new()),
        ] {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).process_group(0);
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_some_and(|k| k.starts_with("PG")) {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .spawn()
            .map_err(|e| environment(format!("cannot start `{}`: {e}", self.bin.join("postgres").display())))?;
        self.child = Some(child);
        Ok(())
    }

    /// Stops the server (the folder stays until the instance drops).
    pub fn stop(&mut self) {
        stop_server(&self.run_as, &self.bin, &self.data, self.child.as_mut());
    }

    /// Whether the server has exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// The last `n` non-empty lines of the server's log, joined with ` | `.
    pub fn log_tail(&self, n: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..].join(" | ")
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        stop_server(&self.run_as, &self.bin, &self.data, self.child.as_mut());
        let _ = fs::remove_dir_all(&self.folder);
        crate::interrupt::forget_cleanup(self.cleanup);
    }
}

/// Stops the server of `data` if it runs: `pg_ctl stop -m fast`, then `-m immediate`, then
/// SIGKILL of `child`; waits for `child`.
fn stop_server(run_as: &RunAs, bin: &Path, data: &Path, child: Option<&mut Child>) {
    let running = |child: &Option<&mut Child>| match child {
        Some(_) => true,
        None => data.join("postmaster.pid").exists(),
    };
    let mut child = child;
    if let Some(c) = child.as_mut()
        && c.try_wait().ok().flatten().is_some()
    {
        return;
    }
    if !running(&child) {
        return;
    }
    for mode in ["fast", "immediate"] {
        let _ = run_as
            .command(&bin.join("pg_ctl"))
            .args(["stop", "-w", "-t", "30", "-m", mode, "-D"])
            .arg(data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match child.as_mut() {
            Some(c) => {
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    if c.try_wait().ok().flatten().is_some() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            None if !data.join("postmaster.pid").exists() => return,
            None => {}
        }
    }
    if let Some(c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// The instance folders in `scratch` (named and marked as `Instance::create` makes them), with
/// their owners (`scratch list`).
pub fn leftovers(scratch: &Path) -> Vec<ScratchFolder> {
    let Ok(entries) = fs::read_dir(scratch) else { return Vec::new() };
    let mut found: Vec<ScratchFolder> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
        .filter_map(|e| {
            let folder = e.path();
            let owner = fs::read_to_string(folder.join(MARKER)).ok()?.trim().parse::<u32>().ok()?;
            Some(ScratchFolder {
                id: e.file_name().to_string_lossy().into_owned(),
                size: crate::util::fs::tree_size(&folder),
                owner_running: pid_alive(owner),
                owner_pid: owner,
                folder,
            })
        })
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

/// Removes the instance folders in `scratch` whose owner is dead (module docs); returns what
/// was removed, in words.
pub fn clean_leftovers(scratch: &Path) -> Vec<String> {
    clean_leftovers_named(scratch, None)
}

/// `clean_leftovers` of every folder, or only of the one named `which`.
pub fn clean_leftovers_named(scratch: &Path, which: Option<&str>) -> Vec<String> {
    let mut done = Vec::new();
    for f in leftovers(scratch) {
        let (folder, owner) = (f.folder, f.owner_pid);
        if f.owner_running || which.is_some_and(|w| w != f.id) {
            continue;
        }
        let stopped = stop_leftover(&folder);
        if fs::remove_dir_all(&folder).is_ok() {
            done.push(format!(
                "removed the recovery instance `{}` left by lastgood process {owner}, which is gone{}",
                folder.display(),
                if stopped { " (its server stopped first)" } else { "" }
            ));
        }
    }
    done
}

/// Stops the postmaster of a leftover folder when its `postmaster.pid` names a live process and
/// this folder's data; returns whether one was stopped.
fn stop_leftover(folder: &Path) -> bool {
    let data = folder.join("data");
    let Ok(pidfile) = fs::read_to_string(data.join("postmaster.pid")) else { return false };
    let mut lines = pidfile.lines();
    let (Some(pid), Some(dir)) = (lines.next().and_then(|p| p.trim().parse::<u32>().ok()), lines.next()) else {
        return false;
    };
    let inside = Path::new(dir.trim())
        .canonicalize()
        .ok()
        .zip(folder.canonicalize().ok())
        .is_some_and(|(d, f)| d.starts_with(f));
    if !inside || !pid_alive(pid) {
        return false;
    }
    let version = fs::read_to_string(data.join("PG_VERSION")).unwrap_or_default();
    let stopped_by_pg_ctl =
        tools::server_bin(version.trim()).ok().zip(RunAs::detect().ok()).is_some_and(|(bin, run_as)| {
            stop_server(&run_as, &bin, &data, None);
            !pid_alive(pid)
        });
    if !stopped_by_pg_ctl {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid_alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    true
}

/// Settings of `postgresql.auto.conf` that could reach production or that lastgood sets itself.
const DROPPED: &[&str] = &[
    "primary_conninfo",
    "primary_slot_name",
    "restore_command",
    "archive_mode",
    "archive_command",
    "archive_library",
    "archive_cleanup_command",
    "recovery_end_command",
    "promote_trigger_file",
    "hot_standby",
    "listen_addresses",
    "port",
    "unix_socket_directories",
    "data_directory",
    "hba_file",
    "ident_file",
    "external_pid_file",
    "config_file",
    "shared_buffers",
    "huge_pages",
    "logging_collector",
    "log_destination",
    "ssl",
    "cluster_name",
    "synchronous_standby_names",
];

/// Whether a line of `postgresql.auto.conf` sets one of `DROPPED` (or a `recovery_target*`).
fn reaches_out(line: &str) -> bool {
    let key = line.split(['=', ' ', '\t']).next().unwrap_or("").trim().to_ascii_lowercase();
    DROPPED.contains(&key.as_str()) || key.starts_with("recovery_target") || key.starts_with("include")
}

/// A value quoted for a PostgreSQL configuration file.
fn conf_quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''"))
}

fn tablespaces(base: &Path) -> anyhow::Error {
    bad_input(format!(
        "base backup `{}` holds tablespaces outside its data folder, which a recovery instance does not restore yet",
        base.display()
    ))
    .into()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(54329)
}

/// Copies the tree `from` into the existing folder `to` (files, folders, links as links);
/// returns the bytes copied.
fn copy_tree(from: &Path, to: &Path) -> Result<u64> {
    let mut bytes = 0;
    for e in fs::read_dir(from).with_context(|| format!("reading `{}`", from.display()))? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type()?;
        if t.is_dir() {
            fs::create_dir(&dst)?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(0o700))?;
            bytes += copy_tree(&src, &dst)?;
        } else if t.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else {
            bytes += fs::copy(&src, &dst).map_err(|e| environment(format!("cannot copy `{}`: {e}", src.display())))?;
        }
    }
    Ok(bytes)
}

/// Unpacks `tar` (plain, `.gz` or `.zst`) into `dir` with the system's `tar`.
fn untar(tar: &Path, dir: &Path) -> Result<()> {
    let name = tar.to_string_lossy();
    let flag = if name.ends_with(".gz") {
        "-xzf"
    } else if name.ends_with(".zst") {
        "--zstd"
    } else {
        "-xf"
    };
    let mut cmd = Command::new("tar");
    if flag == "--zstd" {
        cmd.args(["--zstd", "-xf"]);
    } else {
        cmd.arg(flag);
    }
    let out = tools::output(cmd.arg(tar).arg("-C").arg(dir))?;
    if !out.status.success() {
        return Err(
            bad_input(format!("cannot unpack `{}`: {}", tar.display(), tools::stderr_tail(&out, None, 2))).into()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_conf_lines_that_reach_production_are_dropped() {
        assert!(reaches_out("primary_conninfo = 'host=prod'"));
        assert!(reaches_out("archive_command='cp %p /mnt/%f'"));
        assert!(reaches_out("recovery_target_time = '2026-01-01'"));
        assert!(reaches_out("include_dir = '/etc/postgresql'"));
        assert!(!reaches_out("work_mem = '64MB'"));
        assert!(!reaches_out("# primary_conninfo is a comment"));
        assert_eq!(conf_quote("a 'b' \\c"), "'a ''b'' \\\\c'");
    }
}
