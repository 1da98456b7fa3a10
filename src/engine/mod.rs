//! The one small trait both engines implement, so that catalog, restore, diff and merge are
//! written once.
//!
//! A `Database` is an open connection to a live, scratch, or backup-read-in-place database. It
//! answers questions about tables and streams rows; writes to live go through `WriteTxn`, one
//! transaction that commits all or nothing. Invariants every implementation keeps:
//! - identifiers are always quoted (`quote_ident`), values always bound as parameters;
//! - `scan` with `order_by` yields rows sorted exactly in `Value`'s `Ord` (see `value.rs`), and
//!   holds at most a bounded batch of rows in memory;
//! - `describe` never contains a password;
//! - `tables` lists only tables whose rows the database stores as rows: SQLite virtual tables
//!   (FTS, R*Tree, …) and their shadow tables, and PostgreSQL foreign tables, are listed apart by
//!   `skipped_tables`, and nothing reads them row by row (see `SkippedTable`).
//!
//! Layout: this file holds the traits (`Database`, `Engine`) and the types every engine and the
//! core share (`Format`, `Location`, `EngineKind`, `TableSchema`, `SkippedTable`, `PassedCopy`,
//! triggers, foreign keys…, and the write side's requests: `BackupRef`, `RestoreRequest`,
//! `PromoteRequest`, …); `source` the `Source` trait (how repository entries become
//! backups) and its neutral types; `probe` the `Probe` trait (a backup open for queries);
//! `registry` lists engines and sources; `sqlite/` and `postgres/` are the engines;
//! `missing` is the promote check both use; `wal` the neutral types of a write-ahead log scan
//! (`Engine::scan_wal`, for `incidents`). The engines depend on the leaf layers and `repo/`
//! only, never on `core/`: the core hands them what they need of the catalog (`BackupRef`, its
//! copies' `CopyReader`, `Catalogued`).
//!
//! ## Adding an engine
//! One folder, `src/engine/<name>/`, holding:
//! - `mod.rs`: the `Database` impl (schema, key-ordered scans, `WriteTxn` with its
//!   `safety_snapshot`);
//! - `engine.rs`: the `Engine` impl (what it claims, its backup formats, and the write side's
//!   methods below), then one line in `registry.rs`'s `ENGINES`;
//! - `restore.rs`: `plan_restore` (a `RestoreJob` whose plan and report are `Printable`);
//! - `promote.rs`: `plan_promote` (a `PromoteJob`);
//! - `backup.rs`: `take_backup`, the consistent snapshot `lastgood backup` stores;
//! - `snapshot.rs`: `safety_snapshot_path` and `undo_command` for merge;
//! - `probe.rs`: `open_probe` (a backup made queryable for bisect, history and drill, see
//!   `probe`), with `check_query`, `verified_words` and `integrity_words`;
//! - `error_kind` for its driver's errors, `same_database` when two spellings can name one
//!   database;
//! - `scratch_list`/`scratch_drop` only where scratch copies are databases on a server.
//!
//! ## Adding a source
//! A backup format of an existing engine (say a Litestream replica):
//! - `src/engine/<engine>/source.rs` (or a new file beside it): a type implementing
//!   `source::Source` — `sniff` its first bytes, its grouping rules (`one_backup`, `side_file`,
//!   `read_with`, `companions`), `inspect` (facts; `Inspection::window` when it restores to a
//!   window), `verify`; declared with `pub mod` in the engine's `mod.rs`;
//! - its `Format` variant(s) below (with a `label`), added to its engine's `Engine::formats`;
//! - one entry in `registry::SOURCES`.
//!
//! The catalog, its cache, `catalog --json` and `verify` then list and check it with no change;
//! restoring it is its engine's restore's to learn.

pub mod missing;
pub mod postgres;
pub mod probe;
pub mod registry;
pub mod source;
pub mod sqlite;
pub mod wal;

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use self::probe::{Probe, ProbeMode, ProbeRequest};
pub use self::wal::{TxnTouch, WalScan, WalScanRequest};
use crate::output::Output;
use crate::rows::{Batch, BatchFiller};
use crate::util::compress::Compression;
use crate::value::{Row, Value};

/// Which engine a database or backup belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Sqlite,
    Postgres,
}

/// What kind of backup a file holds: the formats the engines read (each engine's sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A SQLite database file (as made by `sqlite3 .backup`, the backup API or VACUUM INTO).
    Sqlite,
    /// pg_dump custom format (`-Fc`): one file starting with `PGDMP`.
    PgCustom,
    /// pg_dump directory format (`-Fd`): a folder with `toc.dat` and one file per table.
    PgDirectory,
    /// pg_dump tar format (`-Ft`).
    PgTar,
    /// pg_dump plain SQL (`-Fp`), possibly gzip/zstd-compressed; restored with psql.
    PgPlain,
    /// A PostgreSQL base backup (`pg_basebackup`, plain or tar, with its `backup_manifest`): a
    /// folder, restored to a moment of its WAL archive's window.
    PgBase,
    /// A backup in a pgBackRest repository (read through the real `pgbackrest`): restored to a
    /// moment of its stanza's window, never by itself.
    #[serde(rename = "pgbackrest")]
    PgBackRest,
}

impl Format {
    /// Whether a backup of this format is a physical base backup: it restores only to a moment
    /// of its recovery window, never by itself.
    pub fn is_base_backup(self) -> bool {
        matches!(self, Format::PgBase | Format::PgBackRest)
    }

    /// Whether this is a PostgreSQL archive (restored into a PostgreSQL database).
    pub fn is_postgres(self) -> bool {
        !matches!(self, Format::Sqlite)
    }

    pub fn label(self) -> &'static str {
        match self {
            Format::Sqlite => "sqlite",
            Format::PgCustom => "pg_dump custom",
            Format::PgDirectory => "pg_dump directory",
            Format::PgTar => "pg_dump tar",
            Format::PgPlain => "pg_dump plain SQL",
            Format::PgBase => "pg_basebackup",
            Format::PgBackRest => "pgBackRest",
        }
    }
}

/// A copy of a backup a restore did not read, and why (every engine's restore report lists them).
#[derive(Debug, Clone, Serialize)]
pub struct PassedCopy {
    pub path: PathBuf,
    pub reason: String,
}

/// Where a database lives: a SQLite file, or a PostgreSQL connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    /// A `postgres://`/`postgresql://` URL or a libpq `key=value` string is PostgreSQL; anything
    /// else is a SQLite path.
    pub fn parse(s: &str) -> Location {
        let t = s.trim();
        if t.starts_with("postgres://") || t.starts_with("postgresql://") || looks_like_keyvalue(t) {
            Location::Postgres(t.to_string())
        } else {
            Location::Sqlite(PathBuf::from(s))
        }
    }

    /// For messages: a path, or a connection string with any password removed.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(s) => crate::redact::connection_string(s),
        }
    }

    pub fn engine(&self) -> EngineKind {
        match self {
            Location::Sqlite(_) => EngineKind::Sqlite,
            Location::Postgres(_) => EngineKind::Postgres,
        }
    }
}

fn looks_like_keyvalue(s: &str) -> bool {
    let first = s.split_whitespace().next().unwrap_or("");
    ["host=", "dbname=", "user=", "port=", "hostaddr=", "service="].iter().any(|k| first.starts_with(k))
}

/// What one kind of database can do. Each engine implements it once, in
/// `src/engine/<engine>/engine.rs`, and is listed in `registry.rs`.
pub trait Engine: Sync {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;

    /// The engine's name for messages (`SQLite`, `PostgreSQL`).
    fn name(&self) -> &'static str;

    /// Whether `loc` is a database of this engine.
    fn claims(&self, loc: &Location) -> bool;

    /// The backup formats this engine restores from.
    fn formats(&self) -> &'static [Format];

    /// Opens the database at `loc` (one this engine claims). Errors: `BadInput` for a file that is
    /// not a database, `Environment` for one that cannot be reached.
    fn open(&self, loc: &Location, access: Access) -> Result<Box<dyn Database>>;

    // restore, promote, backup, snapshots (write side)

    /// Checks a restore of one of this engine's backups (backup usable, tables present, target
    /// allowed) without writing anything; the plan prints as a dry run and then runs. Errors:
    /// `BadInput` for an unusable backup or an unknown table, `Refused` for a target that is a
    /// backup or a live database (or exists, without `force`), `Usage` for a missing target.
    fn plan_restore(&self, req: RestoreRequest) -> Result<Box<dyn RestoreJob>>;

    /// Checks a restore to a moment of one of this engine's recovery windows (server programs,
    /// target allowed, which base backup to start from) without writing anything; the plan
    /// prints as a dry run and then runs. The default: this engine replays no window
    /// (`BadInput`).
    fn plan_recovery(&self, req: RecoveryRequest) -> Result<Box<dyn RestoreJob>> {
        Err(crate::error::bad_input(format!(
            "recovery window {} is a {} window, which lastgood cannot replay",
            req.window.id,
            self.name()
        ))
        .into())
    }

    /// Inspects scratch and live (both this engine's) read-only for a promote; the plan prints as a
    /// dry run (with the refusal `--yes` would meet) and then runs.
    fn plan_promote(&self, req: &PromoteRequest) -> Result<Box<dyn PromoteJob>>;

    /// The file the writer lock (`core::lock`) is taken on before writing to `live`; `None` when
    /// the engine locks by itself (PostgreSQL: an advisory lock in the write transaction).
    fn lock_file(&self, live: &Location) -> Option<PathBuf>;

    /// Where a merge into `live` at `now` writes its safety snapshot (`WriteTxn::safety_snapshot`):
    /// a new name, never an existing file. Errors: `Environment` when its folder cannot be made.
    fn safety_snapshot_path(&self, live: &Location, now: DateTime<Utc>) -> Result<PathBuf>;

    /// The command that undoes a merge into `live` from its safety snapshot; `tables` are those
    /// the merge and its triggers wrote (an engine whose snapshot holds them alone needs them).
    fn undo_command(&self, live: &Location, snapshot: &Path, tables: &[String]) -> Result<String>;

    /// Takes one consistent snapshot of `live` into the folder `dir`, for `lastgood backup`.
    /// Errors: `Usage` for a compression this engine's backups cannot take, `BadInput` or
    /// `Environment` when live cannot be read.
    fn take_backup(&self, live: &Location, compression: Compression, dir: &Path, out: &Output) -> Result<TakenBackup>;

    /// Takes a physical base backup of live's whole cluster into a new folder under `dir`
    /// (`TakenBackup::stored` is that folder), for `lastgood backup --base`: with a WAL archive,
    /// the start of a recovery window. The default: this engine has none (`Usage`).
    fn take_base_backup(
        &self,
        live: &Location,
        compression: Compression,
        dir: &Path,
        out: &Output,
    ) -> Result<TakenBackup> {
        let _ = (compression, dir, out);
        Err(crate::error::usage(format!(
            "`backup --base` takes a physical base backup of a server's cluster; `{}` is a {} database, which has none",
            live.describe(),
            self.name()
        ))
        .hint("drop --base: `lastgood backup` takes a consistent snapshot of it")
        .into())
    }

    /// Whether this engine keeps a write-ahead log whose archive `scan_wal` reads.
    fn reads_wal(&self) -> bool {
        false
    }

    /// Reads the write-ahead log archived in `req.folders` and calls `sink` once for every
    /// transaction that touched the selected tables (`wal` module docs), in the order they ended;
    /// returns what was read and what could not be. A damaged or missing segment is a
    /// `WalProblem`, not an error: reading goes on after it. Errors: `Usage` for an engine without
    /// a log (the default), `BadInput` for folders holding no log or an unknown table,
    /// `Environment` for a missing log reader or an unreachable live database.
    fn scan_wal(&self, req: &WalScanRequest<'_>, out: &Output, sink: &mut dyn FnMut(TxnTouch)) -> Result<WalScan> {
        let _ = (req, out, sink);
        Err(crate::error::usage(format!(
            "`incidents` reads a write-ahead log archive; {} databases have none",
            self.name()
        ))
        .hint("pass --live with a PostgreSQL database (or no --live)")
        .into())
    }

    /// What `show` prints about one of this engine's backups: its tables (with row counts even
    /// where the catalog has none) and its schema objects, read through `reader`.
    fn backup_details(&self, backup: &BackupRef, reader: &dyn CopyReader) -> Result<BackupDetails>;

    /// The scratch databases lastgood created on the server of `server` (`scratch list`). The
    /// default: an engine whose scratch is plain files has none to list (`Usage`).
    fn scratch_list(&self, server: &Location) -> Result<ScratchList> {
        Err(no_scratch_databases(self.name(), server))
    }

    // probes (bisect, history, drill): see `probe`

    /// Opens one of this engine's backups for read-only queries (`probe::Probe`). Errors:
    /// `BadInput` when the backup cannot be read or restored (it cannot tell), `Environment` when
    /// the machine or the scratch server fails, `Usage` when a needed server is not given.
    fn open_probe(&self, req: ProbeRequest<'_>, out: &Output) -> Result<Box<dyn Probe>>;

    /// Whether probing this engine's backups needs a scratch server (`ProbeRequest::server`).
    fn probe_needs_server(&self) -> bool {
        false
    }

    /// Checks a scratch server as the operator typed it, before any probe (credentials, syntax).
    /// Errors: `Usage` for one that does not parse. The default: nothing to check.
    fn check_server(&self, spec: &str) -> Result<()> {
        let _ = spec;
        Ok(())
    }

    /// Checks a read-only query (bisect's `--check`) before any backup, as far as this engine can
    /// without one: syntax, one statement, read-only, one column. A query naming tables or
    /// columns only backups have is fine. Errors: `Usage`. The default: checked on first use.
    fn check_query(&self, sql: &str) -> Result<()> {
        let _ = sql;
        Ok(())
    }

    /// What a successful `verify` of one of this engine's copies checked, in words (drill).
    fn verified_words(&self) -> &'static str;

    /// What `Database::integrity_problems` finding nothing means, in words appended to "ok"
    /// (drill's integrity check): " (PRAGMA integrity_check)".
    fn integrity_words(&self) -> &'static str;

    /// Whether two locations this engine claims are one database (two spellings of one file,
    /// of one server and database). The default: the same text.
    fn same_database(&self, a: &Location, b: &Location) -> bool {
        a == b
    }

    /// The failure kind of an error of this engine's driver found in a cause chain
    /// (`error::set_driver_kinds`); `None` when it is not one.
    fn error_kind(&self, e: &(dyn std::error::Error + 'static)) -> Option<crate::error::Kind> {
        let _ = e;
        None
    }

    /// Drops the scratch database whose id or name is `which`, or every one (`None`), never a live
    /// one: the `--live` database and the sources of `catalogued` (`scratch drop`). Returns the
    /// dropped and the kept. The default: as `scratch_list`.
    fn scratch_drop(
        &self,
        server: &Location,
        which: Option<&str>,
        catalogued: &[BackupSource],
    ) -> Result<(Vec<ScratchDb>, Vec<KeptDb>)> {
        let _ = (which, catalogued);
        Err(no_scratch_databases(self.name(), server))
    }

    /// The folders this engine's throwaway servers keep in the scratch folder `dir` (PostgreSQL's
    /// recovery instances), with their owners (`scratch list`). The default: none.
    fn scratch_folders(&self, dir: &Path) -> Vec<ScratchFolder> {
        let _ = dir;
        Vec::new()
    }

    /// Removes those of `scratch_folders` whose owning lastgood is gone (all, or the one named
    /// `which`), stopping a server still running inside one first; returns what was removed, in
    /// words. A folder whose owner runs is never touched.
    fn remove_scratch_folders(&self, dir: &Path, which: Option<&str>) -> Vec<String> {
        let _ = (dir, which);
        Vec::new()
    }
}

/// A throwaway server's folder in the scratch folder.
#[derive(Debug, Clone, Serialize)]
pub struct ScratchFolder {
    /// The folder's name (what `scratch drop` takes).
    pub id: String,
    pub folder: PathBuf,
    /// The lastgood process that made it, and whether it still runs (a folder whose owner is gone
    /// is a leftover of a run killed outright, removed by the next run or `scratch drop`).
    pub owner_pid: u32,
    pub owner_running: bool,
    pub size: u64,
}

/// The refusal of `scratch list|drop` for an engine whose scratch databases are files.
fn no_scratch_databases(engine: &str, server: &Location) -> anyhow::Error {
    crate::error::usage(format!(
        "`scratch` lists and drops scratch databases on a server; `{}` is a {engine} database, whose scratch copies are plain files",
        server.describe()
    ))
    .hint("pass --live postgres://… (any database on the server), or remove scratch files with rm")
    .into()
}

// ---- restore, promote, backup, snapshots (write side): what the core hands the engines ----------

/// A table and its row count, as a backup, a restore or a snapshot reports it (the catalog's
/// `TableFacts` has the same shape and JSON).
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

/// A catalogued backup as an engine restores it: the core builds it from the catalog's `Backup`,
/// so no engine reads the catalog.
#[derive(Debug, Clone)]
pub struct BackupRef {
    pub id: String,
    pub format: Format,
    pub taken_at: DateTime<Utc>,
    pub tables: Vec<TableFacts>,
    /// Virtual, shadow and foreign tables (see `SkippedTable`).
    pub skipped_tables: Vec<SkippedTable>,
    /// Where its bytes are, the one restores read first first.
    pub copies: Vec<CopyRef>,
    /// Why it cannot be restored, if it cannot.
    pub problem: Option<String>,
    /// The live database it was taken from, per its manifest (password-free).
    pub source: Option<String>,
    /// pg_dump archives: the facts of the archive header.
    pub archive: Option<postgres::archive::ArchiveInfo>,
    /// A base backup's place in its log (`source::BaseFacts`).
    pub base: Option<source::BaseFacts>,
}

impl BackupRef {
    /// The first copy, which restores read first.
    pub fn primary(&self) -> &CopyRef {
        &self.copies[0]
    }

    /// The table named `name`; in a pg_dump archive a bare name means `public.name`.
    pub fn table(&self, name: &str) -> Option<&TableFacts> {
        let in_public = format!("public.{name}");
        let pg = self.format.is_postgres();
        self.tables
            .iter()
            .find(|t| t.name == name)
            .or_else(|| if pg { self.tables.iter().find(|t| t.name == in_public) } else { None })
    }

    /// Refuses (`BadInput`) the first of `names` that is one of the skipped tables (see `table`
    /// for bare names); `what` says what was asked (see `SkippedTable::refusal`).
    pub fn refuse_skipped(&self, names: &[String], what: &str) -> Result<()> {
        let pg = self.format.is_postgres();
        let skipped = |n: &String| {
            let in_public = format!("public.{n}");
            self.skipped_tables.iter().find(|t| t.name == *n || (pg && t.name == in_public))
        };
        match names.iter().find_map(skipped) {
            Some(t) => Err(t.refusal(what)),
            None => Ok(()),
        }
    }

    /// The copy stored at `path` (the same file, by any of its names), if `path` is one.
    pub fn copy_at(&self, path: &Path) -> Option<&CopyRef> {
        self.copies.iter().find(|c| same_file(&c.path, path))
    }

    /// The live database it names (see `BackupSource`).
    pub fn source_facts(&self) -> BackupSource {
        BackupSource {
            backup_id: self.id.clone(),
            format: self.format,
            source: self.source.clone(),
            dbname: self.archive.as_ref().and_then(|a| a.dbname.clone()),
        }
    }
}

/// One stored copy of a backup, with the checksums the catalog recorded for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRef {
    /// The main file (or folder), as the repository lists it.
    pub path: PathBuf,
    /// sha256 of the main file as stored (`util::hash::sha256_dir` of a folder).
    pub sha256: String,
    pub compression: Compression,
    /// The `-wal` beside a SQLite file, which is part of the backup.
    pub wal: Option<WalRef>,
}

/// A `-wal` of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRef {
    pub path: PathBuf,
    pub sha256: String,
    /// Where it is read from (the link's target when it is a link inside a repository).
    pub real: PathBuf,
}

/// How the core hands an engine the bytes of a stored copy: as a local file (the catalog's
/// reader, which decompresses and keeps a `-wal` beside its main file).
pub trait CopyReader: Send + Sync {
    /// `copy` as a local plain file, reporting each chunk of stored main-file bytes read to
    /// `progress`. Errors: `BadInput` for bytes that do not decode, `Environment` for I/O.
    fn local(&self, copy: &CopyRef, progress: Box<dyn FnMut(u64)>) -> Result<LocalCopy>;
}

/// A copy's bytes as a local file: the stored file itself, or a private temporary copy removed
/// when this value drops.
pub struct LocalCopy {
    pub path: PathBuf,
    /// Whether a `-wal` sits beside `path` and is part of what is read.
    pub with_wal: bool,
    /// sha256 of the stored main file, as read.
    pub sha256: String,
    /// sha256 of the stored `-wal`, when one was read.
    pub wal_sha256: Option<String>,
    /// Keeps the temporary copy alive.
    pub keep: Box<dyn std::any::Any>,
}

/// What the catalog holds that a restore must never write over, nor `scratch drop` drop.
#[derive(Debug, Clone, Default)]
pub struct Catalogued {
    /// Every copy of every backup.
    pub copies: Vec<PathBuf>,
    /// The live databases the backups were taken from.
    pub sources: Vec<BackupSource>,
}

/// The live database a catalogued backup names: its manifest's `source`, and (a pg_dump
/// archive) the database its header names.
#[derive(Debug, Clone)]
pub struct BackupSource {
    pub backup_id: String,
    pub format: Format,
    pub source: Option<String>,
    pub dbname: Option<String>,
}

/// Where a restore goes, as the command line says it.
#[derive(Debug, Clone, Default)]
pub struct RestoreTarget {
    /// `--into`: a file (SQLite), a database name (PostgreSQL).
    pub into: Option<PathBuf>,
    /// The folder for default scratch files (SQLite).
    pub scratch_dir: Option<PathBuf>,
    /// `--live`: the live database, whose server the scratch database goes on (PostgreSQL).
    pub live: Option<String>,
    /// `--scratch-url`: exactly this database (PostgreSQL).
    pub scratch_url: Option<String>,
    /// A recovery window: the database of the recovered cluster whose tables are copied, when
    /// not live's (a drill's `dbname`).
    pub database: Option<String>,
}

/// A restore as the core asks an engine for it (`Engine::plan_restore`).
pub struct RestoreRequest {
    pub backup: BackupRef,
    /// Why this backup was chosen, in words.
    pub why: String,
    /// `None` restores everything.
    pub tables: Option<Vec<String>>,
    /// Read only this copy (`--backup PATH`), never another; else the first that verifies.
    pub only_copy: Option<PathBuf>,
    pub target: RestoreTarget,
    /// Replace an existing target (never a backup or a live database).
    pub force: bool,
    /// Parallel jobs, where the engine's restore has them (1 or more).
    pub jobs: u32,
    pub now: DateTime<Utc>,
    pub catalogued: Catalogued,
    /// Reads the backup's copies.
    pub reader: std::sync::Arc<dyn CopyReader>,
}

/// A recovery window as the core hands it to an engine: its span and where its log is.
#[derive(Debug, Clone)]
pub struct WindowRef {
    pub id: String,
    pub system: Option<String>,
    pub timeline: Option<u32>,
    pub window: source::Window,
    /// The log folder (absolute).
    pub log: Option<PathBuf>,
}

/// A restore to a moment of a recovery window (`Engine::plan_recovery`).
pub struct RecoveryRequest {
    pub window: WindowRef,
    /// The window's base backups, oldest first.
    pub bases: Vec<BackupRef>,
    pub to: source::Target,
    /// A second, later moment of the same window restored too, into a second scratch database
    /// (both sides of one transaction for `revert --txn`): the engine reuses its replay where
    /// it can (PostgreSQL: the paused instance moves its target forward, no second unpack).
    pub then: Option<source::Target>,
    /// Why this window was chosen, in words.
    pub why: String,
    /// `None` restores every table.
    pub tables: Option<Vec<String>>,
    pub target: RestoreTarget,
    pub force: bool,
    pub jobs: u32,
    pub now: DateTime<Utc>,
    pub catalogued: Catalogued,
}

/// A plan or report an engine made, which a command prints: pretty JSON under `--json`, else its
/// words (`Output::emit_printable`).
pub trait Printable {
    /// The JSON document (pretty, no trailing newline).
    fn json(&self) -> Result<String>;
    /// The human text, lines ending in `\n`.
    fn text(&self) -> String;
}

/// A checked restore, not yet run (`Engine::plan_restore`).
pub trait RestoreJob {
    /// Why this backup was chosen, in words.
    fn why(&self) -> &str;
    /// The plan, for a dry run.
    fn plan(&self) -> &dyn Printable;
    /// Carries the plan out; on any error nothing is left at the target.
    fn execute(self: Box<Self>, out: &Output) -> Result<Box<dyn RestoreDone>>;
}

/// What a restore did: the engine's report, and the facts every restore has.
pub trait RestoreDone: Printable {
    /// The copy read.
    fn backup_path(&self) -> &Path;
    /// Copies not read because their bytes no longer verify, in the order tried.
    fn passed_over_copies(&self) -> &[PassedCopy];
    /// The engine's integrity check of the result (SQLite's `quick_check`), when it runs one.
    fn check(&self) -> Option<&str>;
    fn seconds(&self) -> f64;
    /// Where to open what was restored (the target's state, then `RecoveryRequest::then`'s),
    /// with the credentials it needs (never to be printed: `Location::describe` redacts), and
    /// the name `scratch drop` takes.
    fn restored(&self) -> Vec<(Location, String)> {
        Vec::new()
    }
}

/// A promote as the core asks an engine for it (`Engine::plan_promote`): the paths or
/// connection strings as given.
#[derive(Debug, Clone)]
pub struct PromoteRequest {
    pub scratch: PathBuf,
    pub live: PathBuf,
    /// Promote though live looks in use (SQLite), or its database properties differ (PostgreSQL).
    pub force: bool,
    /// End other sessions on live and scratch (PostgreSQL).
    pub terminate_connections: bool,
    /// The objects scratch may lack (`--allow-missing`, split).
    pub allow_missing: Vec<String>,
    pub now: DateTime<Utc>,
}

/// A checked promote, not yet run (`Engine::plan_promote`).
pub trait PromoteJob {
    /// The dry run: the plan with the refusal `--yes` would meet (`would_refuse`), and that
    /// refusal, which the dry run exits with.
    fn dry_run(&self) -> (Box<dyn Printable + '_>, Option<anyhow::Error>);
    /// What the operator must hear before it runs (what `--force` overrides).
    fn warnings(&self) -> Vec<String>;
    /// Carries the plan out (the caller holds the writer lock of `Engine::lock_file`); on any
    /// error live is unchanged.
    fn execute(self: Box<Self>, out: &Output) -> Result<Box<dyn Printable>>;
}

/// The refusal a promote's dry run foresees: `--yes` would stop with exactly this.
#[derive(Debug, Clone, Serialize)]
pub struct WouldRefuse {
    pub reason: String,
    pub hint: Option<String>,
}

impl WouldRefuse {
    pub fn of(err: &anyhow::Error) -> WouldRefuse {
        let hint = crate::error::classify(err).and_then(|f| f.hint.clone());
        WouldRefuse { reason: format!("{err:#}"), hint }
    }
}

/// A promote's dry run's last line: what `--yes` would do.
pub fn dry_run_last_line(refusal: Option<&WouldRefuse>) -> String {
    match refusal {
        Some(r) => format!("nothing written; --yes would be refused: {}\n", r.reason),
        None => "nothing written; add --yes to promote\n".to_string(),
    }
}

/// A snapshot of live taken for `lastgood backup` (`Engine::take_backup`), ready to store.
#[derive(Debug, Clone)]
pub struct TakenBackup {
    pub taken_at: DateTime<Utc>,
    /// The file to copy into the repositories (compressed when asked).
    pub stored: PathBuf,
    /// `stored` decompressed: what the manifest's `content_sha256` describes.
    pub content: PathBuf,
    /// The name stem of the stored file (`<stem>-<taken at><ext>`) and its extension.
    pub stem: String,
    pub ext: String,
    /// The manifest's `engine`.
    pub engine: &'static str,
    /// The manifest's `source` (a password is removed before it is written).
    pub source: String,
    pub tables: Vec<TableFacts>,
}

/// What `show` adds to the catalog's facts of a backup (`Engine::backup_details`).
#[derive(Debug, Clone)]
pub struct BackupDetails {
    pub tables: Vec<TableFacts>,
    pub schema: Vec<SchemaObject>,
}

/// The scratch databases on a server (`Engine::scratch_list`).
#[derive(Debug, Clone)]
pub struct ScratchList {
    /// The server, for messages (no password).
    pub server: String,
    pub databases: Vec<ScratchDb>,
}

/// A scratch database on a server.
#[derive(Debug, Clone, Serialize)]
pub struct ScratchDb {
    pub id: String,
    pub database: String,
    pub comment: String,
    pub size: i64,
}

/// A scratch database `scratch drop` left alone because it is live, and why.
#[derive(Debug, Clone, Serialize)]
pub struct KeptDb {
    pub database: String,
    pub reason: String,
}

/// "from `first` " and, when there are others, which are read if it does not verify (the dry run
/// of every restore).
pub fn from_copies(first: &Path, others: &[PathBuf]) -> String {
    if others.is_empty() {
        return format!("from `{}` ", first.display());
    }
    let rest: Vec<String> = others.iter().map(|o| format!("`{}`", o.display())).collect();
    format!("from `{}` (else the next copy that verifies: {}) ", first.display(), rest.join(", "))
}

/// What a restore report adds about copies: the ones passed over and why, then the one read.
pub fn copies_read(passed_over: &[PassedCopy], read: &Path) -> String {
    if passed_over.is_empty() {
        return String::new();
    }
    let mut s: String =
        passed_over.iter().map(|p| format!("passed over copy `{}`: {}\n", p.path.display(), p.reason)).collect();
    s.push_str(&format!("read copy `{}`\n", read.display()));
    s
}

/// Pretty JSON of a plan or report, for `Printable::json`.
pub fn pretty_json<T: Serialize>(value: &T) -> Result<String> {
    Ok(serde_json::to_string_pretty(value)?)
}

/// Prints a plan or report as `Output::emit` does: its JSON under `--json`, else its words.
pub fn print(out: &Output, p: &dyn Printable) -> Result<()> {
    let text = if out.json {
        let mut s = p.json()?;
        s.push('\n');
        s
    } else {
        p.text()
    };
    crate::output::write_stdout(&text)
}

/// How a database is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-only; nothing is written, not even a `-wal` or `-shm` file where avoidable.
    ReadOnly,
    /// Read-write, for live during merge and for scratch.
    ReadWrite,
}

/// Opens a database at `loc`. Errors: `BadInput` for a file that is not a database,
/// `Environment` for one that cannot be reached.
pub fn open(loc: &Location, access: Access) -> Result<Box<dyn Database>> {
    registry::for_location(loc).open(loc, access)
}

/// A column as the engine declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    /// Declared type as written (SQLite) or the type name (PostgreSQL); may be empty.
    pub decl_type: String,
    pub not_null: bool,
    /// Whether statements may write the column (see `Fill`).
    pub fill: Fill,
    /// How its values are read into `Value`s, which is how a literal must be typed (see `ReadAs`).
    pub read_as: ReadAs,
}

impl Column {
    /// A column statements write like any other, read natively (e.g. the rowid as a key).
    pub fn plain(name: &str, decl_type: &str) -> Column {
        Column {
            name: name.to_string(),
            decl_type: decl_type.to_string(),
            not_null: false,
            fill: Fill::Written,
            read_as: ReadAs::Native,
        }
    }
}

/// How the database fills a column, as far as writing rows goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fill {
    /// Written by INSERT and UPDATE like any value (defaults, serial and identity `BY DEFAULT`
    /// columns included).
    #[default]
    Written,
    /// PostgreSQL `GENERATED ALWAYS AS IDENTITY`: an INSERT that gives it a value needs
    /// `OVERRIDING SYSTEM VALUE`, and an UPDATE can only set it to DEFAULT.
    IdentityAlways,
    /// Computed by the database from other columns (SQLite `GENERATED ALWAYS AS (…) VIRTUAL` or
    /// `STORED`, PostgreSQL `… STORED`): read and compared, never written.
    Generated,
}

/// How an engine reads a column's cells into `Value`s (see `engine::postgres` for the mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadAs {
    /// As the value's own storage class (every SQLite column; PostgreSQL integers, floats,
    /// bytea and text types).
    #[default]
    Native,
    /// PostgreSQL `boolean`, read as INTEGER 0/1 (so written back as `false`/`true`).
    Boolean,
    /// A PostgreSQL type without a native mapping, read as TEXT of its output (`col::text`).
    TextForm,
}

/// What diff and merge need to know about a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSchema {
    pub name: String,
    pub columns: Vec<Column>,
    /// Primary-key column names in key order; empty when the table has no primary key.
    pub primary_key: Vec<String>,
    /// PostgreSQL: a partitioned table, whose rows are its partitions' (statements name it
    /// without `ONLY`; every other table means its own rows, see `engine::postgres`).
    #[serde(skip)]
    pub partitioned: bool,
}

impl TableSchema {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Why a table is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SkipKind {
    /// A SQLite virtual table: its rows come from a module's code (FTS, R*Tree), not from storage.
    Virtual,
    /// A SQLite table that stores a virtual table's data (`docs_content`, `boxes_node`).
    Shadow,
    /// A PostgreSQL foreign table: its rows live on another server.
    Foreign,
}

/// A table whose rows lastgood does not compare, merge, copy table by table or count: reading a
/// virtual table runs its module (which may be missing, or crash SQLite's metadata calls: a
/// virtual table not yet used on a connection has no columns), its shadow tables are the module's
/// private storage that only the module may write consistently, and a foreign table's rows are
/// another server's. Commands leave them out with a note; naming one is refused (`refusal`). A
/// whole-file restore or promote copies them with everything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SkippedTable {
    pub name: String,
    pub kind: SkipKind,
    /// A virtual table's module (`fts5`, `rtree`); the virtual table a shadow table belongs to; a
    /// foreign table's server.
    pub of: String,
}

impl SkippedTable {
    /// `table `docs` is a virtual table (fts5)`, for messages.
    pub fn describe(&self) -> String {
        match self.kind {
            SkipKind::Virtual => format!("table `{}` is a virtual table ({})", self.name, self.of),
            SkipKind::Shadow => {
                format!("table `{}` is a shadow table (the storage) of virtual table `{}`", self.name, self.of)
            }
            SkipKind::Foreign => format!("table `{}` is a foreign table (server {})", self.name, self.of),
        }
    }

    /// The refusal for naming this table to a command that reads tables row by row (`BadInput`):
    /// `what` says who does what, e.g. `diff and merge compare`.
    pub fn refusal(&self, what: &str) -> anyhow::Error {
        let hint = match self.kind {
            SkipKind::Foreign => "its rows are on the foreign server: compare or restore them there",
            _ => "virtual tables come back with a whole restore (without --tables), which copies the file",
        };
        crate::error::bad_input(format!(
            "{}: {what} only ordinary tables, not virtual, shadow or foreign ones",
            self.describe()
        ))
        .hint(hint)
        .into()
    }
}

/// Refuses (`BadInput`, see `SkippedTable::refusal`) the first of `wanted` that is skipped.
pub fn refuse_skipped(wanted: &[String], skipped: &[SkippedTable], what: &str) -> Result<()> {
    match wanted.iter().find_map(|w| skipped.iter().find(|s| &s.name == w)) {
        Some(s) => Err(s.refusal(what)),
        None => Ok(()),
    }
}

/// The note commands print when they left tables out (`None` when none): `what` (e.g. `not
/// compared`), then `skipped_list`.
pub fn skipped_note(skipped: &[SkippedTable], what: &str) -> Option<String> {
    (!skipped.is_empty()).then(|| format!("{what}: {} (lastgood reads only ordinary tables)", skipped_list(skipped)))
}

/// The virtual and foreign tables by name, the shadow tables counted: `docs (fts5) and 5 shadow
/// table(s)`.
pub fn skipped_list(skipped: &[SkippedTable]) -> String {
    let named: Vec<String> = skipped
        .iter()
        .filter(|s| s.kind != SkipKind::Shadow)
        .map(|s| match s.kind {
            SkipKind::Foreign => format!("{} (foreign)", s.name),
            _ => format!("{} ({})", s.name, s.of),
        })
        .collect();
    let shadows = skipped.iter().filter(|s| s.kind == SkipKind::Shadow).count();
    let mut list = named.join(", ");
    if shadows > 0 {
        if !list.is_empty() {
            list.push_str(" and ");
        }
        list.push_str(&format!("{shadows} shadow table(s)"));
    }
    list
}

/// Merges the skipped tables of two sides, by name.
pub fn union_skipped(a: Vec<SkippedTable>, b: Vec<SkippedTable>) -> Vec<SkippedTable> {
    let mut all = a;
    for s in b {
        if !all.iter().any(|x| x.name == s.name) {
            all.push(s);
        }
    }
    all.sort_by(|x, y| x.name.cmp(&y.name));
    all
}

/// One schema object as the database stores it, for `show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaObject {
    /// `table`, `index`, `trigger` or `view`.
    pub kind: String,
    pub name: String,
    pub table: String,
    pub sql: String,
}

/// A read of one table: which columns, in which order, optionally sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub table: String,
    pub columns: Vec<String>,
    /// Sort by these columns (in `Value` order); empty means any order.
    pub order_by: Vec<String>,
    /// An SQL boolean expression over the table's columns, given by the operator (`merge
    /// --where`); when set, each row carries one more value after `columns`: `Integer(1)` where
    /// the expression is true, `Integer(0)` otherwise (false or NULL). It never drops rows.
    pub filter: Option<String>,
}

/// An open database. See the module docs for the invariants.
pub trait Database: Send {
    fn engine(&self) -> EngineKind;
    /// For messages; never contains a password.
    fn describe(&self) -> String;
    /// User tables, sorted by name (no internal tables such as `sqlite_sequence`, none of
    /// `skipped_tables`).
    fn tables(&mut self) -> Result<Vec<String>>;
    /// The tables lastgood leaves alone (see `SkippedTable`), sorted by name.
    fn skipped_tables(&mut self) -> Result<Vec<SkippedTable>> {
        Ok(Vec::new())
    }
    /// Columns and primary key of `table`. Errors: `BadInput` if there is no such table.
    fn table_schema(&mut self, table: &str) -> Result<TableSchema>;
    fn row_count(&mut self, table: &str) -> Result<u64>;
    /// CREATE statements of tables, indexes, triggers and views, in creation order.
    fn schema_objects(&mut self) -> Result<Vec<SchemaObject>>;
    /// Streams the rows of `scan` to `sink`, one at a time, in bounded memory.
    fn scan(&mut self, scan: &Scan, sink: &mut dyn FnMut(Row) -> Result<()>) -> Result<()>;
    /// Streams the rows of `scan` in encoded batches (see `rows::Batch`): hands a batch to `sink`
    /// once it holds at least `batch_bytes` bytes, and the last one if not empty; `sink` returns
    /// an empty batch to fill next, so buffers are reused and memory stays bounded. The default
    /// goes through `scan`; an engine overrides it to skip building `Value`s.
    fn scan_batches(
        &mut self,
        scan: &Scan,
        batch_bytes: usize,
        sink: &mut dyn FnMut(Batch) -> Result<Batch>,
    ) -> Result<()> {
        let width = scan.columns.len() + usize::from(scan.filter.is_some());
        let mut filler = BatchFiller::new(width, batch_bytes, sink);
        self.scan(scan, &mut |row| {
            for v in &row {
                filler.batch().push_value(v);
            }
            filler.row_done()
        })?;
        filler.finish()
    }
    /// Whether some row of `table` holds NULL in one of `columns` (SQLite lets a rowid table hold
    /// NULL in a non-INTEGER primary key, even several times). The default reads the whole table;
    /// an engine overrides it with a query that stops at the first such row.
    fn has_null_in(&mut self, table: &str, columns: &[String]) -> Result<bool> {
        if columns.is_empty() {
            return Ok(false);
        }
        let cond = columns.iter().map(|c| format!("{} IS NULL", quote_ident(c))).collect::<Vec<_>>().join(" OR ");
        let scan = Scan { table: table.to_string(), columns: Vec::new(), order_by: Vec::new(), filter: Some(cond) };
        let mut found = false;
        self.scan(&scan, &mut |row| {
            found |= matches!(row.last(), Some(Value::Integer(1)));
            Ok(())
        })?;
        Ok(found)
    }
    /// Integrity problems found (`quick` for the cheaper check); empty means healthy.
    fn integrity_problems(&mut self, quick: bool) -> Result<Vec<String>>;
    /// Checks that `scan.filter` is a valid boolean expression over the table's columns by
    /// preparing exactly the statement `scan` runs, without reading rows. Errors: `BadInput`
    /// naming the expression and the engine's complaint.
    fn check_expression(&mut self, scan: &Scan) -> Result<()>;
    /// Runs an operator's check query (drill `check`, bisect `--check`) read-only: it must
    /// return exactly one row with one column. `Ok(Err(problem))` says why it gave no value;
    /// `Err` is for the database itself failing (connection lost).
    fn one_value(&mut self, sql: &str) -> Result<std::result::Result<Value, QueryProblem>>;
    /// Runs a read-only query with bound values (SQL from `sqlgen`), handing each row to `sink`.
    /// Its columns must be integers, reals, text or bytes (cast anything else to text).
    fn query(&mut self, sql: &str, params: &[Value], sink: &mut dyn FnMut(Row) -> Result<()>) -> Result<()>;
    /// The triggers (and, in PostgreSQL, rules) that writing rows of `tables` may set off, in
    /// creation order (see `Trigger`). Errors: `BadInput` for a table that does not exist.
    fn triggers(&mut self, tables: &[String]) -> Result<Vec<Trigger>>;
    /// Starts the one transaction in which a merge writes.
    fn begin_write(&mut self) -> Result<Box<dyn WriteTxn + '_>>;
}

/// Whether a `Trigger` is a trigger or a PostgreSQL rule (which rewrites the statement itself and
/// is not stopped by disabling triggers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    Trigger,
    Rule,
}

/// A write event a trigger or rule answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerEvent {
    Insert,
    Update,
    Delete,
    Truncate,
}

/// A trigger's enabled state. SQLite triggers are always `Enabled`; PostgreSQL's `tgenabled`:
/// `O` enabled (fires in origin and local sessions), `A` always, `R` replica only, `D` disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerState {
    Enabled,
    Always,
    Replica,
    Disabled,
}

/// A trigger or rule on a table a write goes to (`Database::triggers`, `WriteTxn::triggers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trigger {
    /// The table asked about: the one whose writes set it off.
    pub table: String,
    /// Where it is defined: `table` itself or (PostgreSQL) one of its partitions, whose triggers
    /// fire on rows written through `table` (an inheritance child's never do: writes to a table
    /// reach its own rows only).
    pub relation: String,
    pub name: String,
    pub kind: TriggerKind,
    /// `BEFORE`, `AFTER` or `INSTEAD OF` (a trigger), `ALSO` or `INSTEAD` (a rule); empty when the
    /// definition could not be read, which is then taken to fire on every write.
    pub timing: String,
    /// Per row (`FOR EACH ROW`) rather than per statement.
    pub row_level: bool,
    /// The events it answers to; empty when unknown (taken as every event).
    pub events: Vec<TriggerEvent>,
    /// `UPDATE OF` these columns only; empty for any column.
    pub update_of: Vec<String>,
    pub enabled: TriggerState,
    /// Whether it fires in this session at all, by its state and the session's replication role.
    #[serde(skip)]
    pub active: bool,
    /// Its definition, as the engine keeps it (SQLite: the `sql` of `sqlite_schema`, byte for
    /// byte; PostgreSQL: `pg_get_triggerdef` / `pg_get_ruledef`).
    pub sql: String,
    /// How the engine addresses it to suspend and resume it (quoted names).
    #[serde(skip)]
    pub address: String,
}

/// Rows a write transaction has changed so far, as the engine counts them: every row written,
/// by the transaction's own statements and by triggers, including rows later rolled back to a
/// savepoint. Only differences between two counts of one transaction mean anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowWrites {
    pub total: u64,
    /// Per table, for the tables the engine can name (SQLite: not `WITHOUT ROWID` tables); rows
    /// of a partition of a table asked about count under that table (an inheritance child is a
    /// table of its own).
    pub by_table: std::collections::BTreeMap<String, u64>,
}

impl RowWrites {
    /// `self - earlier`, per table (tables missing from `earlier` had 0).
    pub fn since(&self, earlier: &RowWrites) -> RowWrites {
        let by_table = self
            .by_table
            .iter()
            .map(|(t, n)| (t.clone(), n.saturating_sub(earlier.by_table.get(t).copied().unwrap_or(0))))
            .filter(|(_, n)| *n > 0)
            .collect();
        RowWrites { total: self.total.saturating_sub(earlier.total), by_table }
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &RowWrites) {
        self.total += other.total;
        for (t, n) in &other.by_table {
            *self.by_table.entry(t.clone()).or_default() += n;
        }
    }
}

/// A foreign key as the database declares it (rows of `sqlgen::Dialect::foreign_keys_query`):
/// `child`'s `child_columns` refer to `parent`'s `parent_columns`, with these actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub child: String,
    pub child_columns: Vec<String>,
    pub parent: String,
    pub parent_columns: Vec<String>,
    /// `CASCADE`, `SET NULL`, `SET DEFAULT`, `RESTRICT` or `NO ACTION`.
    pub on_delete: String,
    pub on_update: String,
    /// Whether the check may wait for the commit: PostgreSQL's `DEFERRABLE`; always on SQLite,
    /// where lastgood's writes defer every key (`PRAGMA defer_foreign_keys`).
    pub deferrable: bool,
}

impl ForeignKey {
    /// Whether an action changes the child's rows (rather than refusing or leaving them).
    pub fn changes_rows(action: &str) -> bool {
        matches!(action, "CASCADE" | "SET NULL" | "SET DEFAULT")
    }

    /// Groups the rows of `sqlgen::Dialect::foreign_keys_query` (child, constraint id, position,
    /// parent, child column, parent column, on update, on delete, deferrable as 0/1; ordered by
    /// child, id, position) into foreign keys. Actions come as SQLite's words or PostgreSQL's letters.
    pub fn from_rows(rows: Vec<Row>) -> Result<Vec<ForeignKey>> {
        let text = |v: &Value| -> Result<String> {
            match v {
                Value::Text(t) => Ok(String::from_utf8_lossy(t).into_owned()),
                Value::Integer(i) => Ok(i.to_string()),
                other => anyhow::bail!("unexpected value {other:?} in the list of foreign keys"),
            }
        };
        let action = |v: &Value| -> Result<String> {
            Ok(match text(v)?.to_ascii_uppercase().as_str() {
                "C" | "CASCADE" => "CASCADE",
                "N" | "SET NULL" => "SET NULL",
                "D" | "SET DEFAULT" => "SET DEFAULT",
                "R" | "RESTRICT" => "RESTRICT",
                _ => "NO ACTION",
            }
            .to_string())
        };
        let mut out: Vec<(String, ForeignKey)> = Vec::new();
        for r in rows {
            anyhow::ensure!(r.len() == 9, "the list of foreign keys has {} columns, expected 9", r.len());
            let (child, id) = (text(&r[0])?, text(&r[1])?);
            match out.last_mut() {
                Some((last, fk)) if *last == id && fk.child == child => {
                    fk.child_columns.push(text(&r[4])?);
                    fk.parent_columns.push(text(&r[5])?);
                }
                _ => out.push((
                    id,
                    ForeignKey {
                        child,
                        child_columns: vec![text(&r[4])?],
                        parent: text(&r[3])?,
                        parent_columns: vec![text(&r[5])?],
                        on_update: action(&r[6])?,
                        on_delete: action(&r[7])?,
                        deferrable: !matches!(r[8], Value::Integer(0)),
                    },
                )),
            }
        }
        Ok(out.into_iter().map(|(_, fk)| fk).collect())
    }
}

/// Why a check query gave no value (see `Database::one_value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryProblem {
    /// It names a table, column or schema this database lacks; the engine's message.
    MissingObject(String),
    /// Not one valid statement here (syntax, several statements, unknown function).
    NotSql(String),
    /// It writes.
    Writes,
    /// It returns this many columns, not one.
    Columns(usize),
    NoRow,
    SeveralRows,
    /// Reading failed (damaged data, or an error raised while evaluating); the engine's message.
    Unreadable(String),
}

/// A check's value as a verdict: non-zero numbers (and true) pass; `None` for NULL, text, blobs.
pub fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Integer(i) => Some(*i != 0),
        Value::Real(f) => Some(*f != 0.0),
        _ => None,
    }
}

/// One transaction on a database. Dropping it without `commit` rolls everything back.
pub trait WriteTxn {
    /// Runs a statement with bound values; returns the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs a query, handing each row to `sink`.
    fn query(&mut self, sql: &str, params: &[Value], sink: &mut dyn FnMut(Row) -> Result<()>) -> Result<()>;
    /// Writes a consistent copy of the whole database, as it is inside this transaction, to the
    /// new file `dest` (temporary name in the same folder, fsync, rename): the safety snapshot a
    /// merge takes before its first write, so no other writer can slip in between.
    /// `tables` are the tables the merge writes: SQLite copies the whole file regardless (the
    /// undo promotes it); PostgreSQL dumps only those tables, so the undo puts back only them,
    /// or the whole database when `tables` is empty (a merge whose triggers fire may write any
    /// table).
    fn safety_snapshot(&mut self, dest: &Path, tables: &[String]) -> Result<()>;
    /// For writing many rows of `table` per statement (see `sqlgen`, batched forms): the SQL type
    /// each of `columns` is cast to, or `None` when this engine writes row by row (the default;
    /// SQLite's statements are in-process calls, so batching saves it nothing). An engine that
    /// answers also runs `SAVEPOINT`/`ROLLBACK TO SAVEPOINT` through `execute`.
    fn batch_types(&mut self, _table: &str, _columns: &[String]) -> Result<Option<Vec<String>>> {
        Ok(None)
    }
    /// As `Database::triggers`, inside this transaction.
    fn triggers(&mut self, tables: &[String]) -> Result<Vec<Trigger>>;
    /// Stops `trigger` from firing for the rest of this transaction, until `resume_trigger`;
    /// no other session ever sees it stopped (SQLite: dropped, to be created again from its exact
    /// SQL; PostgreSQL: `ALTER TABLE ONLY … DISABLE TRIGGER`, which leaves the internal
    /// foreign-key triggers alone). Rules cannot be suspended (an error).
    fn suspend_trigger(&mut self, trigger: &Trigger) -> Result<()>;
    /// Puts a suspended trigger back exactly as it was (SQLite: its SQL; PostgreSQL: its state).
    fn resume_trigger(&mut self, trigger: &Trigger) -> Result<()>;
    /// Runs now what would otherwise wait for the commit (PostgreSQL: deferred constraint
    /// triggers, `SET CONSTRAINTS ALL IMMEDIATE`), so that `row_writes` sees their writes too.
    fn run_deferred(&mut self) -> Result<()> {
        Ok(())
    }
    /// The rows changed so far (see `RowWrites`), with the partitions of `tables` counted under
    /// them; `None` when the engine cannot count (PostgreSQL with `track_counts` off).
    fn row_writes(&mut self, tables: &[String]) -> Result<Option<RowWrites>>;
    /// The columns of `table` a sequence fills, with the sequence: (column, sequence as
    /// `"schema"."name"`). The default has none: SQLite gives a new row the largest rowid plus
    /// one (and keeps an AUTOINCREMENT counter past every rowid inserted), so it never falls
    /// behind rows a merge re-inserts.
    fn sequences(&mut self, _table: &str) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }
    /// Moves `sequence` forward, if needed, so that its next value lies past `top`; never
    /// backward. Returns its new last value when it moved.
    fn advance_sequence(&mut self, _sequence: &str, _top: i64) -> Result<Option<i64>> {
        Ok(None)
    }
    fn commit(self: Box<Self>) -> Result<()>;
}

/// Quotes an identifier for SQLite and PostgreSQL alike: `"name"`, inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A comma-separated list of quoted identifiers.
pub fn quote_list(names: &[String]) -> String {
    names.iter().map(|n| quote_ident(n)).collect::<Vec<_>>().join(", ")
}

/// True if `p` names the same file as `q`: when both exist, the same (device, inode), which also
/// catches hard links and symlinks; otherwise the same path text.
pub fn same_file(p: &Path, q: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(p), std::fs::metadata(q)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => p == q,
    }
}
