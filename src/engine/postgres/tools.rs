//! The PostgreSQL client programs lastgood runs (pg_restore, psql, pg_dump; pg_waldump, found
//! for the WAL's major version by `find_versioned`), and the `-L` list
//! files that tell pg_restore which archive entries to restore.
//!
//! Where they are found: in `LASTGOOD_PG_BIN` when that is set (and only there), else on PATH.
//! Connection settings reach them as environment variables (`PgConn::tool_env`), never as
//! arguments, so no password shows in the process list; their error output is scrubbed of the
//! password before it reaches a message.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result};

use super::conn::PgConn;
use crate::error::environment;

/// Finds `name` (`pg_restore`, `psql`). Errors: `Environment` naming where it looked.
pub fn find(name: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LASTGOOD_PG_BIN").filter(|d| !d.is_empty()) {
        let p = Path::new(&dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
        return Err(environment(format!("`{name}` not found in LASTGOOD_PG_BIN (`{}`)", Path::new(&dir).display()))
            .hint("point LASTGOOD_PG_BIN at PostgreSQL's bin folder, or unset it to search PATH")
            .into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).ok_or_else(|| {
        environment(format!("`{name}` not found on PATH; PostgreSQL archives need the PostgreSQL client programs"))
            .hint("install them (Debian: apt-get install postgresql-client) or set LASTGOOD_PG_BIN to their folder")
            .into()
    })
}

/// Finds a server program that reads one major version's files only (`pg_waldump`) for
/// `major` (when known): in `LASTGOOD_PG_BIN` when set (and only there); else the first of PATH
/// and Debian's `/usr/lib/postgresql/<major>/bin` (then the other versions there, newest first)
/// whose version is `major`, else the first found. Returns it with its major version. Errors:
/// `Environment` naming where it looked.
pub fn find_versioned(name: &str, major: Option<u32>) -> Result<(PathBuf, Option<u32>)> {
    if std::env::var_os("LASTGOOD_PG_BIN").is_some_and(|d| !d.is_empty()) {
        let p = find(name)?;
        let m = major_of(&p);
        return Ok((p, m));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut candidates: Vec<PathBuf> = std::env::split_paths(&path).map(|d| d.join(name)).collect();
    if let Some(m) = major {
        candidates.push(Path::new(DEBIAN_PG).join(m.to_string()).join("bin").join(name));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_PG)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin").join(name))))
        .collect();
    versions.sort();
    candidates.extend(versions.into_iter().rev().map(|(_, p)| p));
    let found: Vec<PathBuf> = candidates.into_iter().filter(|p| p.is_file()).collect();
    let with_major: Vec<(PathBuf, Option<u32>)> = found.into_iter().map(|p| (p.clone(), major_of(&p))).collect();
    if let Some(hit) = with_major.iter().find(|(_, m)| major.is_some() && *m == major) {
        return Ok(hit.clone());
    }
    with_major.into_iter().next().ok_or_else(|| {
        let version = major.map_or("<version>".to_string(), |m| m.to_string());
        environment(format!("`{name}` not found on PATH nor in {DEBIAN_PG}/*/bin"))
            .hint(format!(
                "install PostgreSQL's server programs (Debian: apt-get install postgresql-{version}) or set LASTGOOD_PG_BIN to their folder"
            ))
            .into()
    })
}

/// Where Debian installs each PostgreSQL major version's programs (`<major>/bin`).
const DEBIAN_PG: &str = "/usr/lib/postgresql";

/// The major version a PostgreSQL program says it is (`pg_waldump (PostgreSQL) 15.20` → 15).
fn major_of(program: &Path) -> Option<u32> {
    let out = Command::new(program).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(2)?.split(['.', 'b', 'r']).next()?.parse().ok()
}

/// A command for tool `name`, connected by `conn` when given. Unrelated PG* variables of the
/// caller are removed so that only `conn` decides where the tool connects.
pub fn command(name: &str, conn: Option<&PgConn>) -> Result<Command> {
    Ok(command_at(&find(name)?, conn))
}

/// As `command`, for the program at `program` (a server folder's `pg_dump`).
pub fn command_at(program: &Path, conn: Option<&PgConn>) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str().filter(|k| k.starts_with("PG")) {
            c.env_remove(k);
        }
    }
    if let Some(conn) = conn {
        c.envs(conn.tool_env());
    }
    c
}

/// Runs `cmd` to completion. Errors: `Environment` when it cannot start.
pub fn output(cmd: &mut Command) -> Result<Output> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.output().map_err(|e| environment(format!("cannot run `{program}`: {e}")).into())
}

/// `pg_restore (PostgreSQL) 15.20 (Debian …)` → `15.20`.
pub fn version(name: &str) -> Result<String> {
    let out = output(command(name, None)?.arg("--version"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.split_whitespace().nth(2).unwrap_or("unknown").to_string())
}

/// The last non-empty lines of a tool's stderr, scrubbed, for an error message.
pub fn stderr_tail(out: &Output, conn: Option<&PgConn>, lines: usize) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = tail[tail.len().saturating_sub(lines)..].join("; ");
    match conn {
        Some(c) => c.scrub(&tail),
        None => crate::redact::in_text(&tail),
    }
}

/// A pg_restore `-L` list file naming the TOC entries `ids`.
pub fn list_file(ids: &[i32]) -> Result<tempfile::NamedTempFile> {
    let mut f = tempfile::Builder::new()
        .prefix("lastgood-pg-restore-")
        .suffix(".list")
        .tempfile()
        .map_err(|e| environment(format!("cannot create a temporary file: {e}")))?;
    for id in ids {
        writeln!(f, "{id};").context("writing the pg_restore list")?;
    }
    f.flush().context("writing the pg_restore list")?;
    Ok(f)
}

/// The folder of PostgreSQL `major`'s server programs (`postgres`, `pg_ctl`, `pg_waldump`,
/// `pg_verifybackup`, `pg_dump`): `LASTGOOD_PG_BIN` when set, whose `postgres --version` must be
/// that major version, else `/usr/lib/postgresql/<major>/bin`. Errors: `Environment` naming both
/// versions, or where it looked.
pub fn server_bin(major: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LASTGOOD_PG_BIN").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        let found = server_major(&dir)?;
        if found != major {
            return Err(environment(format!(
                "the backup is PostgreSQL {major}, but LASTGOOD_PG_BIN (`{}`) holds PostgreSQL {found}'s server programs",
                dir.display()
            ))
            .hint(format!("point LASTGOOD_PG_BIN at PostgreSQL {major}'s bin folder, or unset it"))
            .into());
        }
        return Ok(dir);
    }
    let dir = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
    if dir.join("postgres").is_file() {
        return Ok(dir);
    }
    let installed: Vec<String> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("bin/postgres").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let have = if installed.is_empty() { "none".to_string() } else { installed.join(", ") };
    Err(environment(format!(
        "the backup is PostgreSQL {major}, whose server programs are not installed (`{}` has no postgres; installed: {have})",
        dir.display()
    ))
    .hint(format!("install PostgreSQL {major}'s server (Debian: postgresql-{major}) or set LASTGOOD_PG_BIN to its bin folder"))
    .into())
}

/// The major version of the `postgres` in `dir` (`postgres (PostgreSQL) 15.20 …` → `15`),
/// asked once per folder.
fn server_major(dir: &Path) -> Result<String> {
    static SEEN: std::sync::Mutex<Vec<(PathBuf, String)>> = std::sync::Mutex::new(Vec::new());
    if let Some((_, v)) = SEEN.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(d, _)| d == dir) {
        return Ok(v.clone());
    }
    let postgres = dir.join("postgres");
    if !postgres.is_file() {
        return Err(environment(format!("`postgres` not found in LASTGOOD_PG_BIN (`{}`)", dir.display()))
            .hint("point LASTGOOD_PG_BIN at a PostgreSQL bin folder holding the server programs")
            .into());
    }
    let out = output(Command::new(&postgres).arg("--version"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let full = text.split_whitespace().nth(2).unwrap_or("unknown");
    let major = full.split('.').next().unwrap_or(full).to_string();
    SEEN.lock().unwrap_or_else(|p| p.into_inner()).push((dir.to_path_buf(), major.clone()));
    Ok(major)
}
