//! The per-repository cache: `<repository>/.lastgood/catalog.db`, a small SQLite file.
//!
//! It maps a backup file (path relative to the repository) to the facts lastgood read from it, keyed
//! by the file's size and mtime, its `-wal`'s size and mtime and its manifest's mtime: a file is
//! read again only when one of those changed. The cache is an optimisation, never a source of
//! truth: a repository that cannot hold it (read-only mount) is scanned without it, and a cache of
//! another layout version is discarded. It is written only below the repository's canonical root,
//! never through a link: when `.lastgood` or `catalog.db` is a link, the repository is scanned
//! without a cache.
//!
//! Besides per-file facts it holds `marks` (e.g. which backup is the last known good, written by
//! `bisect`) and `history` digests per (backup sha256, table, column; `''` for none), written by
//! `history`. Both are keyed by the backup's content checksum (`content_sha256`), so they stay true
//! while the backup is unchanged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

use super::FileFacts;

// 5: identity by `content_sha256` (main file plus `-wal`, keyed by the `-wal`'s stamp too), and
// facts list skipped (virtual, shadow, foreign) tables, and pg_dump archives' facts include the decoding of every data block (`engine::postgres::archive_data`); facts cached
// before it are read again.
const LAYOUT_VERSION: i64 = 5;
pub const DIR: &str = ".lastgood";

/// The key that says whether cached facts still describe a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub manifest_mtime_ns: i64,
    /// The `-wal`'s size (-1: none; -2: one that cannot be read with the file) and mtime.
    pub wal_size: i64,
    pub wal_mtime_ns: i64,
}

pub struct Cache {
    conn: Option<Connection>,
    entries: HashMap<String, (Stamp, FileFacts)>,
    dirty: Vec<(String, Stamp, FileFacts)>,
    seen: Vec<String>,
}

impl Cache {
    /// Opens (creating if possible) the cache of `repo`. Never fails: without a usable cache file
    /// the cache is simply empty and not written.
    pub fn open(repo: &Path) -> Cache {
        let conn = open_conn(repo).ok();
        let entries = conn.as_ref().and_then(|c| load(c).ok()).unwrap_or_default();
        Cache { conn, entries, dirty: Vec::new(), seen: Vec::new() }
    }

    pub fn get(&mut self, rel: &str, stamp: Stamp) -> Option<FileFacts> {
        self.seen.push(rel.to_string());
        match self.entries.get(rel) {
            Some((s, facts)) if *s == stamp => Some(facts.clone()),
            _ => None,
        }
    }

    pub fn put(&mut self, rel: &str, stamp: Stamp, facts: FileFacts) {
        self.dirty.push((rel.to_string(), stamp, facts));
    }

    /// Writes new entries and forgets files no longer present. Errors are ignored: see module docs.
    pub fn save(self) {
        let Some(mut conn) = self.conn else { return };
        let seen: std::collections::HashSet<&String> = self.seen.iter().collect();
        let stale: Vec<&String> = self.entries.keys().filter(|k| !seen.contains(k)).collect();
        if self.dirty.is_empty() && stale.is_empty() {
            return;
        }
        let _ = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            for (rel, s, facts) in &self.dirty {
                let json = serde_json::to_string(facts).unwrap_or_default();
                tx.execute(
                    "INSERT OR REPLACE INTO files(path, size, mtime_ns, manifest_mtime_ns, wal_size, wal_mtime_ns, facts)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![rel, s.size as i64, s.mtime_ns, s.manifest_mtime_ns, s.wal_size, s.wal_mtime_ns, json],
                )?;
            }
            for rel in stale {
                tx.execute("DELETE FROM files WHERE path = ?1", [rel])?;
            }
            tx.commit()
        })();
    }
}

/// Where the cache of `repo` lives.
pub fn path(repo: &Path) -> PathBuf {
    repo.join(DIR).join("catalog.db")
}

/// The cache file of `repo` below its canonical root, its folder created; refused (`Err`) when
/// `.lastgood` or `catalog.db` is a link or not what it should be, so that no write goes through a
/// link.
fn writable_path(repo: &Path) -> Result<PathBuf> {
    let dir = repo.canonicalize()?.join(DIR);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => anyhow::bail!("`{}` is not a folder", dir.display()),
        Err(_) => std::fs::create_dir(&dir)?,
    }
    let file = dir.join("catalog.db");
    match std::fs::symlink_metadata(&file) {
        Ok(m) if !m.is_file() => anyhow::bail!("`{}` is not a file", file.display()),
        _ => Ok(file),
    }
}

fn open_conn(repo: &Path) -> Result<Connection> {
    let file = writable_path(repo)?;
    let conn = Connection::open(file)?;
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != LAYOUT_VERSION {
        conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS files;
             CREATE TABLE files(path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                                manifest_mtime_ns INTEGER NOT NULL, wal_size INTEGER NOT NULL,
                                wal_mtime_ns INTEGER NOT NULL, facts TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS marks(sha256 TEXT NOT NULL, mark TEXT NOT NULL, value TEXT NOT NULL,
                                PRIMARY KEY (sha256, mark));
             CREATE TABLE IF NOT EXISTS history(sha256 TEXT NOT NULL, tbl TEXT NOT NULL, col TEXT NOT NULL,
                                rows INTEGER NOT NULL, table_digest TEXT NOT NULL, column_digest TEXT,
                                PRIMARY KEY (sha256, tbl, col));
             PRAGMA user_version = {LAYOUT_VERSION};"
        ))?;
    }
    Ok(conn)
}

fn load(conn: &Connection) -> Result<HashMap<String, (Stamp, FileFacts)>> {
    let mut st =
        conn.prepare("SELECT path, size, mtime_ns, manifest_mtime_ns, wal_size, wal_mtime_ns, facts FROM files")?;
    let mut rows = st.query([])?;
    let mut out = HashMap::new();
    while let Some(r) = rows.next()? {
        let facts: Option<FileFacts> = serde_json::from_str(&r.get::<_, String>(6)?).ok();
        if let Some(facts) = facts {
            let stamp = Stamp {
                size: r.get::<_, i64>(1)? as u64,
                mtime_ns: r.get(2)?,
                manifest_mtime_ns: r.get(3)?,
                wal_size: r.get(4)?,
                wal_mtime_ns: r.get(5)?,
            };
            out.insert(r.get(0)?, (stamp, facts));
        }
    }
    Ok(out)
}

/// Reads a mark (e.g. `lkg`) recorded for a backup in `repo`'s cache.
///
/// `catalog` asks for marks once or twice per backup; each repository's cache is opened once per
/// process (opening and parsing its schema per question made a catalog of 1,000 unchanged files
/// 6× slower). A read-only connection still sees marks written later, at its next query.
pub fn read_mark(repo: &Path, sha256: &str, mark: &str) -> Option<String> {
    static OPEN: std::sync::Mutex<Vec<(PathBuf, Connection)>> = std::sync::Mutex::new(Vec::new());
    let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
    let i = match open.iter().position(|(r, _)| r == repo) {
        Some(i) => i,
        None => {
            let conn = Connection::open_with_flags(path(repo), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
            open.push((repo.to_path_buf(), conn));
            open.len() - 1
        }
    };
    let mut st = open[i].1.prepare_cached("SELECT value FROM marks WHERE sha256 = ?1 AND mark = ?2").ok()?;
    st.query_row(params![sha256, mark], |r| r.get(0)).optional().ok().flatten()
}

/// Records a mark for a backup in `repo`'s cache (best effort, like all cache writes).
pub fn write_mark(repo: &Path, sha256: &str, mark: &str, value: &str) -> Result<()> {
    let conn = open_conn(repo)?;
    conn.execute(
        "INSERT OR REPLACE INTO marks(sha256, mark, value) VALUES (?1, ?2, ?3)",
        params![sha256, mark, value],
    )?;
    Ok(())
}

/// Removes a mark from every backup in `repo`'s cache (best effort).
pub fn clear_mark(repo: &Path, mark: &str) -> Result<()> {
    let conn = open_conn(repo)?;
    conn.execute("DELETE FROM marks WHERE mark = ?1", [mark])?;
    Ok(())
}

/// A table's digest in one backup, as `history` computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDigest {
    pub rows: u64,
    pub table_digest: String,
    pub column_digest: Option<String>,
}

/// The cached digest of (`sha256`, `table`, `column`) in `repo`'s cache, if any.
pub fn read_history(repo: &Path, sha256: &str, table: &str, column: &str) -> Option<TableDigest> {
    let conn = Connection::open_with_flags(path(repo), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.query_row(
        "SELECT rows, table_digest, column_digest FROM history WHERE sha256 = ?1 AND tbl = ?2 AND col = ?3",
        params![sha256, table, column],
        |r| Ok(TableDigest { rows: r.get::<_, i64>(0)? as u64, table_digest: r.get(1)?, column_digest: r.get(2)? }),
    )
    .optional()
    .ok()
    .flatten()
}

/// Stores a digest in `repo`'s cache (best effort, like all cache writes).
pub fn write_history(repo: &Path, sha256: &str, table: &str, column: &str, d: &TableDigest) -> Result<()> {
    let conn = open_conn(repo)?;
    conn.execute(
        "INSERT OR REPLACE INTO history(sha256, tbl, col, rows, table_digest, column_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![sha256, table, column, d.rows as i64, d.table_digest, d.column_digest],
    )?;
    Ok(())
}
