//! A SQLite database as a file on disk, before any connection: its header (is it SQLite, is it
//! whole, is it in WAL mode), its side files (`-wal`, `-shm`, `-journal`), the processes holding
//! it open, and the read-only URI a backup is opened with.
//!
//! Invariant: a backup is opened read-only, `immutable=1` unless its `-wal` is read with it, so
//! reading it never creates a file beside it (`backup_uri_with`).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::OpenFlags;

use crate::error::{bad_input, environment};
use crate::util::fs::read_up_to;

/// The 16 bytes every SQLite database file starts with.
pub const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Checks that `path` is a readable SQLite database file by its header. Errors name the file and
/// the problem: missing (`Environment`), empty, too short or not SQLite (`BadInput`).
pub fn check_header(path: &Path) -> Result<()> {
    check_header_as(path, path)
}

/// As `check_header`, for a temporary copy of `shown`: errors name `shown`.
pub fn check_header_as(path: &Path, shown: &Path) -> Result<()> {
    let what = shown.display();
    let mut f = File::open(path).map_err(|e| environment(format!("cannot open `{what}`: {e}")))?;
    let mut head = [0u8; 100];
    let n = read_up_to(&mut f, &mut head).with_context(|| format!("reading `{what}`"))?;
    if n == 0 {
        return Err(bad_input(format!("`{what}` is empty (0 bytes), not a SQLite database")).into());
    }
    if n < 16 || &head[..16] != HEADER {
        return Err(bad_input(format!("`{what}` is not a SQLite database (no `SQLite format 3` header)")).into());
    }
    if n < 100 {
        return Err(bad_input(format!("`{what}` is truncated ({n} bytes, shorter than a SQLite header)")).into());
    }
    Ok(())
}

/// Checks that the SQLite file `path` is as long as its header says (page size, bytes 16–17, times
/// the page count, bytes 28–31, which is valid when bytes 92–95 equal the change counter at 24–27;
/// see the file format, §1.3). A copy cut short — a full disk, an interrupted transfer — may still
/// open and even answer queries on the pages it has. `shown_as` names the file in the error.
/// Errors: `BadInput` "truncated"; `Environment` when it cannot be read.
pub fn check_complete(path: &Path, shown_as: &Path) -> Result<()> {
    let mut f = File::open(path).map_err(|e| environment(format!("cannot open `{}`: {e}", shown_as.display())))?;
    let len = f.metadata().map_err(|e| environment(format!("cannot read `{}`: {e}", shown_as.display())))?.len();
    let mut head = [0u8; 100];
    if read_up_to(&mut f, &mut head).with_context(|| format!("reading `{}`", shown_as.display()))? < 100 {
        return Ok(()); // `check_header` reports short files
    }
    let page_size = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([head[28], head[29], head[30], head[31]]));
    let count_valid = head[92..96] == head[24..28] && pages > 0;
    let expected = page_size * pages;
    if count_valid && len < expected {
        return Err(bad_input(format!(
            "`{}` is truncated: {len} bytes, but its header says {pages} pages of {page_size} bytes ({expected} bytes)",
            shown_as.display()
        ))
        .into());
    }
    Ok(())
}

/// The URI that opens a backup read-only; `immutable=1` unless a `-wal` file sits beside it
/// (immutable would ignore the WAL's committed pages).
pub fn backup_uri(path: &Path) -> String {
    backup_uri_with(path, wal_beside(path))
}

/// The read-only URI of `path`: `mode=ro` to read the `-wal` beside it (only ever a private copy
/// of a backup: SQLite creates a `-shm` beside it), else `immutable=1`, which ignores any `-wal` and
/// creates nothing.
pub fn backup_uri_with(path: &Path, with_wal: bool) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let encoded = uri_encode(&abs.to_string_lossy());
    if with_wal { format!("file:{encoded}?mode=ro") } else { format!("file:{encoded}?immutable=1") }
}

/// `path` with `suffix` appended (`-wal`, `-shm`, `-journal`).
pub fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Removes `path`'s `-wal`, `-shm` and `-journal`, if any: a file put at `path` must never be
/// opened together with another database's WAL or journal, which SQLite would replay or roll back
/// onto it. Errors: `Environment` naming the side file that cannot be removed.
pub fn remove_side_files(path: &Path) -> Result<()> {
    for suffix in ["-wal", "-shm", "-journal"] {
        let p = side_file(path, suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(environment(format!("cannot remove `{}`: {e}", p.display())).into()),
        }
    }
    Ok(())
}

/// The `-wal`, `-shm` and `-journal` files that exist beside `path`.
pub fn side_files_present(path: &Path) -> Vec<PathBuf> {
    ["-wal", "-shm", "-journal"].iter().map(|s| side_file(path, s)).filter(|p| p.exists()).collect()
}

/// A process other than this one holding a file open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBy {
    pub pid: u32,
    pub program: String,
}

/// Other processes holding `path` or its `-wal` open, from `/proc/*/fd` (Linux; empty elsewhere or
/// when `/proc` cannot be read).
pub fn other_processes_using(path: &Path) -> Vec<OpenBy> {
    use std::os::unix::fs::MetadataExt;
    let targets: Vec<(u64, u64)> = [path.to_path_buf(), side_file(path, "-wal")]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| (m.dev(), m.ino()))
        .collect();
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut found = Vec::new();
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        let holds = fds
            .flatten()
            .filter_map(|fd| std::fs::metadata(fd.path()).ok())
            .any(|m| targets.contains(&(m.dev(), m.ino())));
        if holds {
            let program = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default().trim().to_string();
            found.push(OpenBy { pid, program });
        }
    }
    found
}

/// Whether reading `path` read-only would create a `-wal` and a `-shm` and leave them: a WAL-mode
/// file (header bytes 18 and 19 are 2) with neither beside it.
pub(super) fn would_leave_side_files(path: &Path) -> bool {
    is_wal_mode(path) && !side_file(path, "-wal").exists() && !side_file(path, "-shm").exists()
}

/// Whether the SQLite file `path` is in WAL mode (header bytes 18 and 19 are 2).
pub fn is_wal_mode(path: &Path) -> bool {
    let mut head = [0u8; 20];
    File::open(path).and_then(|mut f| read_up_to(&mut f, &mut head)).is_ok_and(|n| n == 20)
        && head[18] == 2
        && head[19] == 2
}

/// Whether a `-wal` file sits beside `path`: its committed pages are part of the database.
pub fn wal_beside(path: &Path) -> bool {
    side_file(path, "-wal").exists()
}

pub fn backup_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Whether a file named `name` is a SQLite side file (`-wal`, `-shm`, `-journal`): part of the
/// database beside it, never a database of its own.
pub fn is_side_file(name: &str) -> bool {
    name.ends_with("-wal") || name.ends_with("-shm") || name.ends_with("-journal")
}
