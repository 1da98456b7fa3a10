//! The per-repository cache: `<repository>/.lastgood/catalog.db`, a small table store
//! (`engine::sqlite::store`, a SQLite file).
//!
//! It maps a backup file (path relative to the repository) to the facts lastgood read from it, keyed
//! by the file's size and mtime, its `-wal`'s size and mtime and its manifest's mtime: a file is
//! read again only when one of those changed. The cache is an optimisation, never a source of
//! truth: a repository that cannot hold it (read-only mount) is scanned without it, and a cache of
//! another layout version is discarded. It is written only below the repository's canonical root,
//! never through a link: when `.lastgood` or `catalog.db` is a link, the repository is scanned
//! without a cache.
//!
//! A file's facts include, once a source yields them, its recovery window (`FileFacts::window`)
//! or its place in a log (`FileFacts::base`). The `memo` table keeps what a source reads from a
//! repository's log (`engine::source::Memo`: a WAL segment's header and commits), keyed by a name
//! and a stamp the source chooses; entries not asked for in a scan are forgotten.
//! Besides per-file facts it holds `marks` (e.g. which backup is the last known good, written by
//! `bisect`) and `history` digests per (backup sha256, table, column; `''` for none), written by
//! `history`. Both are keyed by the backup's content checksum (`content_sha256`), so they stay true
//! while the backup is unchanged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::FileFacts;
use crate::engine::sqlite::store::{Store, Table};
use crate::value::Value;

// 6: base backups (facts with `base`) and the `memo` table of log facts.
// 5: identity by `content_sha256` (main file plus `-wal`, keyed by the `-wal`'s stamp too), and
// facts list skipped (virtual, shadow, foreign) tables, and pg_dump archives' facts include the decoding of every data block (`engine::postgres::archive_data`); facts cached
// before it are read again.
const LAYOUT_VERSION: i64 = 6;
pub const DIR: &str = ".lastgood";

const FILES: Table = Table {
    name: "files",
    columns: &[
        ("path", "TEXT NOT NULL"),
        ("size", "INTEGER NOT NULL"),
        ("mtime_ns", "INTEGER NOT NULL"),
        ("manifest_mtime_ns", "INTEGER NOT NULL"),
        ("wal_size", "INTEGER NOT NULL"),
        ("wal_mtime_ns", "INTEGER NOT NULL"),
        ("facts", "TEXT NOT NULL"),
    ],
    key: 1,
    kept: false,
};

const MEMO: Table = Table {
    name: "memo",
    columns: &[("k", "TEXT NOT NULL"), ("stamp", "TEXT NOT NULL"), ("value", "TEXT NOT NULL")],
    key: 1,
    kept: false,
};

const MARKS: Table = Table {
    name: "marks",
    columns: &[("sha256", "TEXT NOT NULL"), ("mark", "TEXT NOT NULL"), ("value", "TEXT NOT NULL")],
    key: 2,
    kept: true,
};

const HISTORY: Table = Table {
    name: "history",
    columns: &[
        ("sha256", "TEXT NOT NULL"),
        ("tbl", "TEXT NOT NULL"),
        ("col", "TEXT NOT NULL"),
        ("rows", "INTEGER NOT NULL"),
        ("table_digest", "TEXT NOT NULL"),
        ("column_digest", "TEXT"),
    ],
    key: 3,
    kept: true,
};

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
    store: Option<Store>,
    entries: HashMap<String, (Stamp, FileFacts)>,
    dirty: Vec<(String, Stamp, FileFacts)>,
    seen: Vec<String>,
    memo: HashMap<String, (String, String)>,
    memo_dirty: Vec<(String, String, String)>,
    memo_seen: std::collections::HashSet<String>,
}

impl Cache {
    /// Opens (creating if possible) the cache of `repo`. Never fails: without a usable cache file
    /// the cache is simply empty and not written.
    pub fn open(repo: &Path) -> Cache {
        let store = open_store(repo).ok();
        let entries = store.as_ref().and_then(|s| load(s).ok()).unwrap_or_default();
        let memo = store.as_ref().and_then(|s| load_memo(s).ok()).unwrap_or_default();
        Cache {
            store,
            entries,
            dirty: Vec::new(),
            seen: Vec::new(),
            memo,
            memo_dirty: Vec::new(),
            memo_seen: Default::default(),
        }
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
        let Some(mut store) = self.store else { return };
        let seen: std::collections::HashSet<&String> = self.seen.iter().collect();
        let stale: Vec<&String> = self.entries.keys().filter(|k| !seen.contains(k)).collect();
        let stale_memo: Vec<&String> = self.memo.keys().filter(|k| !self.memo_seen.contains(*k)).collect();
        if self.dirty.is_empty() && stale.is_empty() && self.memo_dirty.is_empty() && stale_memo.is_empty() {
            return;
        }
        let _ = store.write(|w| {
            for (rel, s, facts) in &self.dirty {
                let json = serde_json::to_string(facts).unwrap_or_default();
                let row = [
                    text(rel),
                    Value::Integer(s.size as i64),
                    Value::Integer(s.mtime_ns),
                    Value::Integer(s.manifest_mtime_ns),
                    Value::Integer(s.wal_size),
                    Value::Integer(s.wal_mtime_ns),
                    text(&json),
                ];
                w.put(&FILES, &row)?;
            }
            for rel in stale {
                w.delete(&FILES, &["path"], &[text(rel)])?;
            }
            for (k, stamp, value) in &self.memo_dirty {
                w.put(&MEMO, &[text(k), text(stamp), text(value)])?;
            }
            for k in stale_memo {
                w.delete(&MEMO, &["k"], &[text(k)])?;
            }
            Ok(())
        });
    }
}

impl crate::engine::source::Memo for Cache {
    fn get(&mut self, key: &str, stamp: &str) -> Option<String> {
        self.memo_seen.insert(key.to_string());
        match self.memo.get(key) {
            Some((s, v)) if s == stamp => Some(v.clone()),
            _ => None,
        }
    }

    fn put(&mut self, key: &str, stamp: &str, value: String) {
        self.memo_seen.insert(key.to_string());
        self.memo.insert(key.to_string(), (stamp.to_string(), value.clone()));
        self.memo_dirty.push((key.to_string(), stamp.to_string(), value));
    }
}

fn load_memo(store: &Store) -> Result<HashMap<String, (String, String)>> {
    let mut out = HashMap::new();
    for r in store.rows(&MEMO)? {
        if let (Some(k), Some(stamp), Some(v)) = (as_text(&r[0]), as_text(&r[1]), as_text(&r[2])) {
            out.insert(k, (stamp, v));
        }
    }
    Ok(out)
}

fn text(s: &str) -> Value {
    Value::Text(s.as_bytes().to_vec())
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        _ => None,
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        _ => None,
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

fn open_store(repo: &Path) -> Result<Store> {
    Store::open(&writable_path(repo)?, LAYOUT_VERSION, &[FILES, MEMO, MARKS, HISTORY])
}

fn load(store: &Store) -> Result<HashMap<String, (Stamp, FileFacts)>> {
    let mut out = HashMap::new();
    for r in store.rows(&FILES)? {
        let facts: Option<FileFacts> = as_text(&r[6]).and_then(|j| serde_json::from_str(&j).ok());
        let int = |i: usize| as_int(&r[i]).ok_or_else(|| anyhow::anyhow!("cache column {i} is not an integer"));
        if let (Some(facts), Some(path)) = (facts, as_text(&r[0])) {
            let stamp = Stamp {
                size: int(1)? as u64,
                mtime_ns: int(2)?,
                manifest_mtime_ns: int(3)?,
                wal_size: int(4)?,
                wal_mtime_ns: int(5)?,
            };
            out.insert(path, (stamp, facts));
        }
    }
    Ok(out)
}

/// Reads a mark (e.g. `lkg`) recorded for a backup in `repo`'s cache.
///
/// `catalog` asks for marks once or twice per backup; each repository's cache is opened once per
/// process (opening and parsing its schema per question made a catalog of 1,000 unchanged files
/// 6× slower). A read-only store still sees marks written later, at its next query.
pub fn read_mark(repo: &Path, sha256: &str, mark: &str) -> Option<String> {
    static OPEN: std::sync::Mutex<Vec<(PathBuf, Store)>> = std::sync::Mutex::new(Vec::new());
    let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
    let i = match open.iter().position(|(r, _)| r == repo) {
        Some(i) => i,
        None => {
            let store = Store::open_read_only(&path(repo)).ok()?;
            open.push((repo.to_path_buf(), store));
            open.len() - 1
        }
    };
    let row = open[i].1.find(&MARKS, &[text(sha256), text(mark)]).ok()??;
    as_text(&row[0])
}

/// Records a mark for a backup in `repo`'s cache (best effort, like all cache writes).
pub fn write_mark(repo: &Path, sha256: &str, mark: &str, value: &str) -> Result<()> {
    open_store(repo)?.put(&MARKS, &[text(sha256), text(mark), text(value)])
}

/// Removes a mark from every backup in `repo`'s cache (best effort).
pub fn clear_mark(repo: &Path, mark: &str) -> Result<()> {
    open_store(repo)?.delete(&MARKS, &["mark"], &[text(mark)])
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
    let store = Store::open_read_only(&path(repo)).ok()?;
    let r = store.find(&HISTORY, &[text(sha256), text(table), text(column)]).ok()??;
    Some(TableDigest { rows: as_int(&r[0])? as u64, table_digest: as_text(&r[1])?, column_digest: as_text(&r[2]) })
}

/// Stores a digest in `repo`'s cache (best effort, like all cache writes).
pub fn write_history(repo: &Path, sha256: &str, table: &str, column: &str, d: &TableDigest) -> Result<()> {
    let digest = d.column_digest.as_deref().map_or(Value::Null, text);
    let row = [text(sha256), text(table), text(column), Value::Integer(d.rows as i64), text(&d.table_digest), digest];
    open_store(repo)?.put(&HISTORY, &row)
}
