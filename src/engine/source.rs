//! Sources: how repository entries become restorable things. A source recognises its formats by
//! content (`sniff`), says which entries make one backup (`one_backup`, `side_file`, `read_with`),
//! reads a backup's facts (`inspect`) and checks a stored copy (`verify`). Each engine's sources
//! sit in its folder (`sqlite/source.rs`: SQLite files; `postgres/source.rs`: pg_dump archives)
//! and are listed in `registry::sources`; the catalog and `verify` ask them, never an engine by
//! name.
//!
//! What a backup restores to: a recovery **point** — the moment it was taken, `Inspection::created`
//! when the backup records it, else the time the catalog finds (manifest, file name, mtime) — or a
//! recovery **window** (`Window`: any moment in `[from, to]` outside its gaps). A window comes
//! either from one entry (`Inspection::window`) or from a repository's log read together with the
//! base backups found beside it (`Source::windows`: PostgreSQL's base backups and WAL archive,
//! `postgres/wal.rs`); such a base backup is also a point (the end of its backup), and carries its
//! place in the log (`Inspection::base`, `BaseFacts`). What is expensive to read from the log (a
//! segment's last commit) is remembered between scans in the catalog's cache (`Memo`). A folder
//! that another tool keeps as its own repository (pgBackRest's, `postgres/pgbackrest.rs`) is read
//! whole through that tool (`Source::tool_repository`, `scan_tool_repository`: its backups as
//! points, its windows), never walked into, never pruned.
//!
//! Invariants: every `Format` belongs to exactly one source (checked in `registry`); `sniff` and
//! `inspect` never write anything beside the stored file; `inspect` keeps a damaged backup with
//! its `problem` rather than failing, and fails only when the file cannot be read at all.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Format, SkippedTable};
use crate::error::environment;
use crate::util::compress::Compression;

/// How entries of one kind become backups, and what is read from them (module docs).
pub trait Source: Sync {
    /// For messages: `SQLite file`, `pg_dump archive`.
    fn name(&self) -> &'static str;

    /// The formats this source reads (each belongs to one source only).
    fn formats(&self) -> &'static [Format];

    /// The `engine` a manifest names for backups of this source (`sqlite`, `postgres`).
    fn manifest_engine(&self) -> &'static str;

    /// The format that `head` (the first bytes, decompressed when `compression` is not `None`)
    /// is, if it is one of this source's.
    fn sniff(&self, head: &[u8], compression: Compression) -> Option<Format>;

    /// The format a file of this source is by its name alone (`name` lowercase, without
    /// `.gz`/`.zst`), for a backup whose content cannot tell.
    fn format_by_name(&self, _name: &str, _compression: Compression) -> Option<Format> {
        None
    }

    /// The format of a backup of this source that neither content nor name tells.
    fn default_format(&self, compression: Compression) -> Format;

    /// Why the file at `path`, declared a backup of `format`, is not one (one line, naming it).
    fn not_this_format(&self, path: &Path, format: Format, compression: Compression) -> String;

    /// Why a file no source recognises is not a backup, in this source's words (only
    /// `registry::default_source` is asked).
    fn unrecognised(&self) -> String {
        format!("not a {}", self.name())
    }

    /// Grouping: whether the folder `dir` is one backup (a pg_dump directory archive), not a
    /// folder to look into.
    fn one_backup(&self, _dir: &Path) -> bool {
        false
    }

    /// The format of a folder `one_backup` accepts.
    fn folder_format(&self) -> Option<Format> {
        None
    }

    /// Grouping: whether a file named `name` belongs to the backup beside it and is never a
    /// backup of its own (SQLite's `-wal`, `-shm`, `-journal`).
    fn side_file(&self, _name: &str) -> bool {
        false
    }

    /// Grouping: the file read together with the main file `main`, when it exists (SQLite: its
    /// `-wal`). Only one source may name one for a given path.
    fn read_with(&self, _main: &Path) -> Option<PathBuf> {
        None
    }

    /// Grouping: the files removed together with the main file `main` (SQLite: its `-wal` and
    /// `-shm`), whether or not they exist.
    fn companions(&self, _main: &Path) -> Vec<PathBuf> {
        Vec::new()
    }

    /// The table a bare table name means in this source's backups, when not itself
    /// (pg_dump: `public.name`).
    fn qualified_name(&self, _name: &str) -> Option<String> {
        None
    }

    /// Reads one backup's facts (`path` as stored, of `format`; `with` the file `read_with`
    /// found). A backup that cannot be decoded is returned with its `problem`. Errors:
    /// `Environment` when the file cannot be read.
    fn inspect(&self, path: &Path, format: Format, compression: Compression, with: Option<&Path>)
    -> Result<Inspection>;

    /// Checks one stored copy, every check this format has after the catalog's own `format`
    /// check: checksum first, then readability and the format's own structure.
    fn verify(&self, copy: &StoredCopy) -> Vec<Check>;

    /// The recovery windows the log folder `log` (a repository's `wal/`) opens for this source's
    /// base backups `bases`, found in the same repository (module docs). `memo` remembers what is
    /// expensive to read. The default: a source without a log has none. Errors: `Environment`
    /// when the folder cannot be listed.
    fn windows(&self, log: &Path, bases: &[(&Path, &BaseFacts)], memo: &mut dyn Memo) -> Result<LogScan> {
        let _ = (log, bases, memo);
        Ok(LogScan::default())
    }

    /// Grouping: whether the folder `dir` is a repository another tool keeps (pgBackRest's):
    /// read whole by `scan_tool_repository`, never walked into, and nothing in it is ever
    /// removed by lastgood (the tool owns its retention).
    fn tool_repository(&self, _dir: &Path) -> bool {
        false
    }

    /// Reads a repository `tool_repository` accepted: its backups (each a recovery point) and
    /// the recovery windows they open with its log. Never fails: a tool that cannot run, or a
    /// repository it cannot read, is `ToolScan::unreadable`, so the catalog lists it and goes on.
    fn scan_tool_repository(&self, dir: &Path, memo: &mut dyn Memo) -> ToolScan {
        let _ = (dir, memo);
        ToolScan::default()
    }
}

/// What `Source::scan_tool_repository` read from one tool repository.
#[derive(Debug, Clone, Default)]
pub struct ToolScan {
    pub backups: Vec<ToolBackup>,
    /// The windows; `LogWindow::bases` index into `backups`.
    pub windows: Vec<LogWindow>,
    /// Why the repository cannot be read, and the hint that fixes it (the tool is missing).
    pub unreadable: Option<(String, String)>,
}

/// One backup of a tool repository, as the catalog lists it.
#[derive(Debug, Clone)]
pub struct ToolBackup {
    /// Its folder inside the tool repository.
    pub path: PathBuf,
    pub format: Format,
    /// Its end: the first moment it restores to.
    pub taken_at: DateTime<Utc>,
    /// Bytes it takes in the repository.
    pub size: u64,
    pub inspection: Inspection,
}

/// Remembers facts between catalog scans (the catalog's cache): `value` for `key` as long as
/// `stamp` (size and mtime, say) is unchanged. Best effort: a value may be forgotten any time.
pub trait Memo {
    fn get(&mut self, key: &str, stamp: &str) -> Option<String>;
    fn put(&mut self, key: &str, stamp: &str, value: String);
}

/// A memo that remembers nothing (a repository without a cache).
pub struct NoMemo;

impl Memo for NoMemo {
    fn get(&mut self, _key: &str, _stamp: &str) -> Option<String> {
        None
    }
    fn put(&mut self, _key: &str, _stamp: &str, _value: String) {}
}

/// A base backup's place in its cluster's log: what a recovery window is built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseFacts {
    /// The cluster it was taken from (PostgreSQL: the system identifier, in decimal).
    pub system: String,
    /// The timeline the backup started on.
    pub timeline: u32,
    /// Where in the log the backup starts and stops (PostgreSQL: LSNs, `0/2000028`).
    pub start: String,
    pub stop: String,
    /// When it started (the backup's own label).
    pub started: DateTime<Utc>,
    /// When it ended, once the log says (PostgreSQL: the `.backup` file's STOP TIME); until then
    /// `started` bounds it from below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<DateTime<Utc>>,
    /// The next transaction id at its starting checkpoint: transactions from here on commit
    /// after the backup started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_txn: Option<u64>,
    /// The server's major version (`15`).
    pub version: String,
    /// How it is stored: `plain`, `tar`, `tar.gz`, `tar.zst`.
    pub layout: String,
    /// Whether it holds the log it needs to reach its end by itself (pg_basebackup's `-X`).
    pub own_log: bool,
    /// The bytes of the files it holds, as its manifest lists them (uncompressed).
    #[serde(default)]
    pub bytes: u64,
}

/// What `Source::windows` read from one log folder.
#[derive(Debug, Clone, Default)]
pub struct LogScan {
    pub windows: Vec<LogWindow>,
    /// When each base backup (index into `bases`) ended, when the log says.
    pub stopped: Vec<(usize, DateTime<Utc>)>,
}

/// One recovery window of a log: one cluster, one timeline.
#[derive(Debug, Clone)]
pub struct LogWindow {
    pub system: String,
    pub timeline: u32,
    pub window: Window,
    /// The usable base backups (indices into `bases`), oldest first.
    pub bases: Vec<usize>,
    /// Files and bytes of the log this window reads.
    pub files: usize,
    pub size: u64,
    /// The newest log file (a segment's name).
    pub newest: String,
    /// What the operator should know (a segment pg_waldump could not read).
    pub warnings: Vec<String>,
}

/// Facts an archive records in its own header (pg_dump's: archive version, database, server and
/// pg_dump versions, compression).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveInfo {
    /// Archive format version, e.g. `1.14` (`plain` for a plain SQL dump).
    pub archive_version: String,
    pub dbname: Option<String>,
    pub server_version: Option<String>,
    pub pg_dump_version: Option<String>,
    /// `none`, `gzip`, `lz4`, `zstd` or `default`.
    pub compression: String,
}

/// A table of a backup, with its row count when cheap to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableFacts {
    pub name: String,
    /// Row count; absent where it is not cheap to know (pg_dump custom, directory and tar
    /// archives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

impl TableFacts {
    /// The row count for human tables (`?` when unknown).
    pub fn rows_text(&self) -> String {
        self.rows.map_or_else(|| "?".to_string(), |n| n.to_string())
    }
}

/// What `Source::inspect` read from one backup.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// sha256 of the main file as stored.
    pub sha256: String,
    /// The backup's identity (see `core::catalog`).
    pub content_sha256: String,
    /// sha256 of the file read with it, if one was.
    pub wal_sha256: Option<String>,
    pub problem: Option<String>,
    pub warnings: Vec<String>,
    pub tables: Vec<TableFacts>,
    pub skipped_tables: Vec<SkippedTable>,
    pub archive: Option<ArchiveInfo>,
    /// When the backup itself records it was taken (a pg_dump header).
    pub created: Option<DateTime<Utc>>,
    /// Set when the backup restores to a window rather than a point (module docs).
    pub window: Option<Window>,
    /// Set for a base backup, whose windows its source's log opens (module docs).
    pub base: Option<BaseFacts>,
}

impl Inspection {
    pub fn new(sha256: String, content_sha256: String, wal_sha256: Option<String>) -> Inspection {
        Inspection {
            sha256,
            content_sha256,
            wal_sha256,
            problem: None,
            warnings: Vec::new(),
            tables: Vec::new(),
            skipped_tables: Vec::new(),
            archive: None,
            created: None,
            window: None,
            base: None,
        }
    }

    pub fn damaged(sha256: String, content_sha256: String, wal_sha256: Option<String>, why: String) -> Inspection {
        Inspection { problem: Some(why), ..Inspection::new(sha256, content_sha256, wal_sha256) }
    }

    /// A file that cannot be decoded, identified by its stored bytes followed by those of
    /// `with` (the file read with it), with `why`. Errors: `Environment` when it cannot be read.
    pub fn undecodable(path: &Path, with: Option<&Path>, why: String) -> Result<Inspection> {
        let mut content = Sha256::new();
        let sha256 = hash_into(path, &mut [&mut content])?;
        let Some(with) = with else { return Ok(Inspection::damaged(sha256.clone(), sha256, None, why)) };
        let wal = hash_into(with, &mut [&mut content])?;
        Ok(Inspection::damaged(sha256, hex::encode(content.finalize()), Some(wal), why))
    }
}

/// Feeds the bytes of `path` to `also`; returns their own sha256.
fn hash_into(path: &Path, also: &mut [&mut Sha256]) -> Result<String> {
    use std::io::Read;
    let mut f = File::open(path).map_err(|e| environment(format!("cannot read `{}`: {e}", path.display())))?;
    let (mut own, mut buf) = (Sha256::new(), vec![0u8; 1 << 20]);
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => return Ok(hex::encode(own.finalize())),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(environment(format!("reading `{}`: {e}", path.display())).into()),
        };
        own.update(&buf[..n]);
        for h in also.iter_mut() {
            h.update(&buf[..n]);
        }
    }
}

/// What a manifest beside a copy declares about it; `Err` says why the manifest is unreadable.
pub type Declared = std::result::Result<Option<DeclaredSums>, String>;

/// The checksums a manifest declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredSums {
    /// Of the main file as stored.
    pub sha256: Option<String>,
    /// Of the backup's content (main file decompressed, then its `-wal`).
    pub content_sha256: Option<String>,
}

/// One stored copy of a backup, as a source verifies it.
#[derive(Debug, Clone, Copy)]
pub struct StoredCopy<'a> {
    /// The main file, as displayed.
    pub path: &'a Path,
    pub format: Format,
    pub compression: Compression,
    /// The main file's sha256 as the catalog recorded it.
    pub sha256: &'a str,
    /// The file read with it as the catalog found it: where it is read and its sha256.
    pub with: Option<(&'a Path, &'a str)>,
    /// Its manifest.
    pub declared: &'a Declared,
}

/// One check `verify` ran: `ok`, or why not.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    /// A check from its outcome: the detail of `Ok`, or the error's whole chain.
    pub fn of(name: &'static str, r: Result<String>) -> Check {
        let ok = r.is_ok();
        Check { name, ok, detail: r.unwrap_or_else(|e| format!("{e:#}")) }
    }
}

/// A recovery window: restorable to any moment in `[from, to]` outside `gaps` (and to any
/// transaction in `transactions`, when the log says which). A gap that reaches `to` (a missing
/// segment with no newer base backup after it) leaves `to` itself out too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Stretches inside `[from, to]` the log does not cover (a missing WAL segment), oldest first.
    #[serde(default)]
    pub gaps: Vec<Gap>,
    /// The transactions the window holds, first and last, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<TxnRange>,
}

/// A stretch of a window that cannot be restored to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Why (which segment is missing).
    pub reason: String,
}

/// The first and last transaction of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRange {
    pub first: u64,
    pub last: u64,
}

impl Window {
    /// Whether the moment `t` can be restored to: inside `[from, to]` and in no gap (a gap's
    /// ends are restorable, its inside is not).
    pub fn covers(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t <= self.to && self.gap_at(t).is_none()
    }

    /// The gap `t` falls in, if any (see `covers`).
    pub fn gap_at(&self, t: DateTime<Utc>) -> Option<&Gap> {
        self.gaps.iter().find(|g| g.from < t && (t < g.to || g.to == self.to))
    }

    /// Whether transaction `txn` lies in the window.
    pub fn covers_txn(&self, txn: u64) -> bool {
        self.transactions.is_some_and(|r| r.first <= txn && txn <= r.last)
    }

    /// `from … to`, with the gaps, in words.
    pub fn describe(&self) -> String {
        let mut s = format!("{} to {}", crate::time::show(self.from), crate::time::show(self.to));
        if let Some(r) = self.transactions {
            s.push_str(&format!(", transactions {} to {}", r.first, r.last));
        }
        for g in &self.gaps {
            s.push_str(&format!(
                "; gap {} to {} ({})",
                crate::time::show(g.from),
                if g.to == self.to { "the end".to_string() } else { crate::time::show(g.to) },
                g.reason
            ));
        }
        s
    }
}

/// The moment of a window a restore replays to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum Target {
    /// The state at this moment (every transaction committed at or before it).
    Time(DateTime<Utc>),
    /// The state just before transaction `n` committed.
    BeforeTxn(u64),
    /// The state just after transaction `n` committed.
    AfterTxn(u64),
}

impl Target {
    /// `2026-11-24 06:00:00 UTC`, `just before transaction 728`.
    pub fn describe(&self) -> String {
        match self {
            Target::Time(t) => crate::time::show(*t),
            Target::BeforeTxn(n) => format!("just before transaction {n}"),
            Target::AfterTxn(n) => format!("just after transaction {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_covers_its_span_outside_its_gaps() {
        let t = |h: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 24, h, 0, 0).unwrap();
        let gap = Gap { from: t(8), to: t(9), reason: "segment 0000000100000000000000A3 missing".into() };
        let w = Window { from: t(6), to: t(12), gaps: vec![gap], transactions: Some(TxnRange { first: 10, last: 20 }) };
        assert!(w.covers(t(6)) && w.covers(t(7)) && w.covers(t(12)));
        assert!(!w.covers(t(5)) && !w.covers(t(13)));
        assert!(w.covers(t(8)) && w.covers(t(9)), "a gap's ends are restorable");
        assert!(!w.covers(t(8) + chrono::Duration::minutes(30)), "inside a gap");
        assert!(w.covers_txn(10) && w.covers_txn(20) && !w.covers_txn(21));
        // A gap reaching the end leaves the end out too.
        let open = Gap { from: t(8), to: t(12), reason: "segment missing".into() };
        let w = Window { gaps: vec![open], ..w };
        assert!(w.covers(t(8)) && !w.covers(t(10)) && !w.covers(t(12)));
    }
}
