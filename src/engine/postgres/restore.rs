//! Restoring pg_dump archives into scratch databases, and managing those databases.
//!
//! A restore is a plan (`PgRestorePlan::new`: archive usable, tables present, target allowed,
//! printable as a dry run) and its execution: CREATE DATABASE from template0, mark it with a
//! COMMENT (`lastgood scratch: …`), then the archive. Custom, directory and tar archives go in
//! three steps, as pg_restore orders them: pg_restore `--section=pre-data` (tables, types,
//! functions); the rows, loaded over `--jobs` connections at once (`load`), so that even one
//! big table uses more than one server core; then pg_restore `--section=data
//! --section=post-data` with `-j` (indexes, constraints, triggers, sequence values). `--jobs 1`
//! leaves everything to one pg_restore run; plain dumps go through psql. `--tables` feeds
//! pg_restore an exact list (`-L`) built from the archive's TOC dependencies: the tables, their
//! data, and everything that hangs off them (indexes, constraints, triggers, defaults, owned
//! sequences and their values), which `pg_restore -t` alone would leave out. Foreign keys to
//! tables not restored (or not in the archive at all, as in a `pg_dump -t` archive such as a
//! merge's safety snapshot) are left out and reported, whole restores included.
//!
//! The archive read is the first of the backup's copies whose bytes hash to the checksum the
//! catalog recorded (`choose_copy`, before pg_restore runs), so a copy damaged since it was
//! catalogued is passed over and reported; `--backup PATH` reads that copy only (`only_from`).
//! The core hands the backup over as an `engine::BackupRef` (`Engine::plan_restore`).
//!
//! Invariants: a failed or interrupted restore drops the database it created, so nothing is left
//! under the target name; a default name is always a free name (`_2`, `_3`, … appended), so a
//! restore never replaces another; an existing database named with `--into`/`--scratch-url` is
//! replaced only with `--force`, even one carrying lastgood's mark, and never a live database
//! (`check_restore_target`, the one rule every restore goes through: the `--live` one, one a
//! catalogued manifest names as its source on the same server, or one named like the database a
//! pg_dump archive was dumped from, on any server, since the archive does not name its host),
//! not even with `--force` nor when it carries the mark (`scratch drop` keeps it); only a
//! database whose name was free or held by lastgood's own scratch gets the mark: one replaced
//! with `--force` gets the `lastgood restored` note instead,
//! so `scratch drop --all` never drops it; the password reaches pg_restore/psql only through the
//! environment, and their messages are scrubbed.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::archive::{self, Archive, ArchiveInfo, TocEntry};
use super::conn::PgConn;
use super::copy;
use super::load::{self, LoadedTable};
use super::scratch::{Admin, LivePlace, LiveSource, MARK, MAX_NAME, PREFIX, RESTORED_NOTE};
use super::{own_rows, tools};
use crate::engine::{
    BackupRef, BackupSource, CopyRef, Format, PassedCopy, Printable, RestoreDone, RestoreJob, RestoreRequest,
    SchemaObject, TableFacts, copies_read, from_copies, pretty_json, quote_ident,
};
use crate::error::{bad_input, environment, refused, usage};
use crate::output::Output;
use crate::util::compress::{Compression, decoder};
use crate::util::hash::{sha256_dir, sha256_file};

/// The default name of a scratch database for `backup` restored at `now`; `Admin::free_name`
/// makes it unique.
fn default_name_of(backup: &BackupRef, now: DateTime<Utc>) -> String {
    format!("{PREFIX}{}_{}", backup.id, now.format("%Y%m%d%H%M%S"))
}

/// What a PostgreSQL restore will do; printable before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct PgRestorePlan {
    pub backup_id: String,
    pub backup_path: PathBuf,
    pub format: Format,
    pub taken_at: DateTime<Utc>,
    pub why: String,
    /// Schema-qualified names; `None` restores the whole archive.
    pub tables: Option<Vec<String>>,
    /// The backup's other copies, tried in this order when the one before does not verify.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_copies: Vec<PathBuf>,
    /// The scratch database, as `postgres://user@host:port/name` (no password).
    pub target: String,
    pub target_database: String,
    pub replace_existing: bool,
    /// Parallel pg_restore jobs (1 where the format does not allow more).
    pub jobs: u32,
    /// Connections loading table rows side by side (`load`); 1 leaves the rows to pg_restore.
    pub load_connections: u32,
    /// Rows copied straight from this server (a paused recovery instance, `copy.rs`) instead of
    /// the archive's data entries; the archive then holds the schema and sequence values only.
    #[serde(skip)]
    rows_from: Option<PgConn>,
    /// Lastgood's default name (no `--into`/`--scratch-url`), before a suffix made it free: the
    /// target is always a free name, never a database replaced, so a restore never takes the
    /// place of an earlier one.
    #[serde(skip)]
    default_base: Option<String>,
    #[serde(skip)]
    conn: PgConn,
    /// The copies to read from, in order (the first is `backup_path`'s).
    #[serde(skip)]
    copies: Vec<CopyRef>,
    #[serde(skip)]
    compression: Compression,
    #[serde(skip)]
    archive: Option<ArchiveInfo>,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct PgRestoreReport {
    #[serde(flatten)]
    pub plan: PgRestorePlan,
    pub tables_restored: Vec<TableFacts>,
    pub indexes: u64,
    pub constraints: u64,
    /// Foreign keys left out because they point at tables that were not restored.
    pub skipped_foreign_keys: Vec<String>,
    /// Copies not read because their bytes no longer verify, in the order tried (`backup_path`
    /// is the copy read).
    pub passed_over_copies: Vec<PassedCopy>,
    pub seconds: f64,
}

impl PgRestorePlan {
    /// Checks the request. `server` is the live connection (scratch goes on its server) or the
    /// explicit scratch URL (`explicit_target`). Errors: `BadInput` for a damaged archive, an
    /// unknown table, or `--tables` with a plain dump; `Refused` when the target is live.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        backup: &BackupRef,
        why: String,
        tables: Option<Vec<String>>,
        server: &PgConn,
        explicit_target: bool,
        into: Option<&str>,
        live_dbname: Option<&str>,
        sources: &[LiveSource],
        force: bool,
        jobs: u32,
        now: DateTime<Utc>,
    ) -> Result<PgRestorePlan> {
        if let Some(problem) = &backup.problem {
            return Err(bad_input(format!(
                "backup {} (`{}`) cannot be restored: {problem}",
                backup.id,
                backup.primary().path.display()
            ))
            .hint("pick another backup with --backup or an earlier --at; `lastgood verify --all` lists healthy ones")
            .into());
        }
        if backup.format.is_base_backup() {
            return Err(bad_input(format!(
                "backup {} is a base backup: it restores to a moment of its recovery window, not by itself",
                backup.id
            ))
            .hint("restore with --at TIME (inside the window `lastgood catalog` shows), --before-txn or --after-txn")
            .into());
        }
        let tables = tables.map(|ts| resolve_tables(backup, &ts)).transpose()?;
        if tables.is_some() && backup.format == Format::PgPlain {
            return Err(bad_input(format!(
                "backup {} is a plain SQL dump, which can only be restored whole",
                backup.id
            ))
            .hint("drop --tables, or restore from a custom, directory or tar archive (pg_dump -Fc/-Fd/-Ft)")
            .into());
        }
        if backup.format == Format::PgPlain && backup.archive.as_ref().is_some_and(|a| a.dbname.is_some()) {
            return Err(refused(format!(
                "backup {} is a plain dump made with --create: psql would reconnect to its original database",
                backup.id
            ))
            .hint("restore it by hand, or use a dump made without --create")
            .into());
        }
        let named = into.map(str::to_string).or_else(|| explicit_target.then(|| server.dbname.clone()));
        let default_base = named.is_none().then(|| default_name_of(backup, now));
        let target_database = match (named, &default_base) {
            (Some(name), _) => name,
            (None, Some(base)) => Admin::connect(server)?.free_name(base)?,
            (None, None) => unreachable!("a default base when no name is given"),
        };
        if target_database.is_empty() || target_database.len() > MAX_NAME {
            return Err(usage(format!(
                "database name `{target_database}` is {} bytes; PostgreSQL names are 1 to 63 bytes",
                target_database.len()
            ))
            .hint("pick a shorter --into")
            .into());
        }
        let conn = server.with_dbname(&target_database);
        check_restore_target(&conn, backup, live_dbname, sources)?;
        let load_connections = if backup.format == Format::PgPlain { 1 } else { jobs.max(1) };
        let jobs = if matches!(backup.format, Format::PgCustom | Format::PgDirectory) { jobs.max(1) } else { 1 };
        Ok(PgRestorePlan {
            backup_id: backup.id.clone(),
            backup_path: backup.primary().path.clone(),
            other_copies: backup.copies[1..].iter().map(|c| c.path.clone()).collect(),
            format: backup.format,
            taken_at: backup.taken_at,
            why,
            tables,
            target: conn.describe(),
            target_database,
            replace_existing: force,
            jobs,
            load_connections,
            rows_from: None,
            default_base,
            conn,
            copies: backup.copies.clone(),
            compression: backup.primary().compression,
            archive: backup.archive.clone(),
        })
    }

    /// Takes the rows of the archive's tables from `server` (a paused recovery instance holding
    /// them as the archive's schema was dumped), not from the archive (module docs of `copy`).
    pub fn rows_from(mut self, server: PgConn) -> PgRestorePlan {
        self.rows_from = Some(server);
        self
    }

    /// Reads only `copy` (one of the backup's copies: the one `--backup PATH` names), never
    /// another.
    pub fn only_from(mut self, copy: &CopyRef) -> PgRestorePlan {
        self.use_copy(copy);
        self.copies = vec![copy.clone()];
        self.other_copies.clear();
        self
    }

    /// Makes `copy` the one read.
    fn use_copy(&mut self, copy: &CopyRef) {
        self.backup_path = copy.path.clone();
        self.compression = copy.compression;
    }

    /// Picks the first copy whose stored bytes hash to the checksum the catalog recorded for it
    /// (pg_restore reads an archive several times, so its bytes are checked before it runs, not
    /// while); returns the copies passed over, and why. Errors: `BadInput` when no copy verifies.
    fn choose_copy(&mut self, out: &Output) -> Result<Vec<PassedCopy>> {
        let short = |s: &str| s[..12.min(s.len())].to_string();
        let candidates = self.copies.clone();
        let mut passed = Vec::new();
        for (i, copy) in candidates.iter().enumerate() {
            let spinner = out.spinner(&format!("checking copy `{}` of backup {}", copy.path.display(), self.backup_id));
            let stored =
                if self.format == Format::PgDirectory { sha256_dir(&copy.path) } else { sha256_file(&copy.path) };
            spinner.finish_and_clear();
            let reason = match stored {
                Ok(sha) if sha.eq_ignore_ascii_case(&copy.sha256) => {
                    self.use_copy(copy);
                    return Ok(passed);
                }
                Ok(sha) => format!(
                    "changed since it was catalogued: its sha256 is now {}…, the catalog recorded {}…",
                    short(&sha),
                    short(&copy.sha256)
                ),
                Err(e) => format!("cannot be read ({e:#})"),
            };
            if i + 1 < candidates.len() {
                out.warn(&format!(
                    "copy `{}` of backup {} {reason}; reading the next copy",
                    copy.path.display(),
                    self.backup_id
                ));
            }
            passed.push(PassedCopy { path: copy.path.clone(), reason });
        }
        let message = match passed.as_slice() {
            [one] => format!("backup {} (`{}`) {}", self.backup_id, one.path.display(), one.reason),
            all => {
                let each: Vec<String> = all.iter().map(|p| format!("`{}` {}", p.path.display(), p.reason)).collect();
                format!("no copy of backup {} verifies: {}", self.backup_id, each.join("; "))
            }
        };
        Err(bad_input(message).hint("run `lastgood verify` on it, or restore from another backup").into())
    }

    /// The connection to the target database (password included; never print it).
    pub fn conn(&self) -> &PgConn {
        &self.conn
    }

    /// Carries the plan out; on any error the database it created is dropped again. A default
    /// name taken since the plan (a restore of the same backup at the same moment) moves on to
    /// the next free one, which the report names.
    pub fn execute(mut self, out: &Output) -> Result<PgRestoreReport> {
        let started = Instant::now();
        let passed_over = self.choose_copy(out)?;
        self.check_pg_restore_reads_archive()?;
        let mut admin = Admin::connect(&self.conn)?;
        let replaced_foreign = match self.default_base {
            Some(_) => false,
            None => admin.prepare_target(&self.target_database, self.replace_existing)?,
        };
        // The scratch mark (which `scratch drop` goes by) only on a database that lastgood's own
        // scratch replaced or nothing did: a database someone else made stays theirs.
        let comment = if replaced_foreign {
            format!(
                "{RESTORED_NOTE}: backup {} taken at {}, restored with --force over a database lastgood did not create, {}",
                self.backup_id,
                self.taken_at.to_rfc3339(),
                Utc::now().to_rfc3339()
            )
        } else {
            format!(
                "{MARK}: backup {} taken at {}, created {}",
                self.backup_id,
                self.taken_at.to_rfc3339(),
                Utc::now().to_rfc3339()
            )
        };
        let cleanup = self.create_target(&mut admin, &comment)?;
        let spinner = out.spinner(&format!("restoring backup {} into {}", self.backup_id, self.target_database));
        let result =
            self.run_restore(out).and_then(|(skipped, loaded)| self.report(skipped, &loaded, passed_over, started));
        spinner.finish_and_clear();
        crate::interrupt::forget_cleanup(cleanup);
        match result {
            Ok(r) => Ok(r),
            Err(e) => {
                if let Err(drop_err) = admin.drop(&self.target_database) {
                    return Err(e.context(format!(
                        "and dropping the half-restored database `{}` failed too: {drop_err:#}",
                        self.target_database
                    )));
                }
                Err(e)
            }
        }
    }

    /// Creates the target database with `comment` and registers its drop on Ctrl-C; returns the
    /// registration. Registered before the CREATE: the name is free now (`prepare_target`, or a
    /// free default name), so an interrupt at any later moment drops only the database this
    /// restore creates. A default name another restore created meanwhile is passed over for the
    /// next free one; an explicit name created meanwhile is refused, never replaced.
    fn create_target(&mut self, admin: &mut Admin, comment: &str) -> Result<u64> {
        loop {
            if let Some(base) = &self.default_base {
                let name = admin.free_name(base)?;
                self.conn = self.conn.with_dbname(&name);
                self.target = self.conn.describe();
                self.target_database = name;
            }
            let cleanup = {
                let (conn, name) = (self.conn.clone(), self.target_database.clone());
                crate::interrupt::cleanup_on_interrupt(move || {
                    if let Ok(mut admin) = Admin::connect(&conn) {
                        let _ = admin.drop(&name);
                    }
                })
            };
            match admin.create(&self.target_database, comment) {
                Ok(true) => return Ok(cleanup),
                Ok(false) if self.default_base.is_some() => crate::interrupt::forget_cleanup(cleanup),
                Ok(false) => {
                    crate::interrupt::forget_cleanup(cleanup);
                    return Err(refused(format!(
                        "database `{}` was created on {} while this restore started; it is not replaced",
                        self.target_database,
                        admin.conn.describe_server()
                    ))
                    .hint("pick another --into / --scratch-url")
                    .into());
                }
                Err(e) => {
                    crate::interrupt::forget_cleanup(cleanup);
                    return Err(e);
                }
            }
        }
    }

    /// Runs pg_restore -l once: the cheapest way to learn that the local pg_restore is older than
    /// the pg_dump that made the archive.
    fn check_pg_restore_reads_archive(&self) -> Result<()> {
        if self.format == Format::PgPlain {
            tools::find("psql")?;
            return Ok(());
        }
        let out = tools::output(tools::command("pg_restore", None)?.arg("-l").arg(&self.backup_path))?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("unsupported version") {
            let local = tools::version("pg_restore").unwrap_or_else(|_| "unknown".into());
            let (made_by, format) = match &self.archive {
                Some(a) => (a.pg_dump_version.clone().unwrap_or_else(|| "?".into()), a.archive_version.clone()),
                None => ("?".into(), "?".into()),
            };
            return Err(environment(format!(
                "backup {} was made by pg_dump {made_by} (archive format {format}); the local pg_restore {local} is too old to read it",
                self.backup_id
            ))
            .hint("install the PostgreSQL client programs of that version (or newer) and put them on PATH or in LASTGOOD_PG_BIN")
            .into());
        }
        Err(bad_input(format!(
            "pg_restore cannot read backup {} (`{}`): {}",
            self.backup_id,
            self.backup_path.display(),
            tools::stderr_tail(&out, None, 3)
        ))
        .into())
    }

    /// Returns the foreign keys left out and the rows loaded by `load` (none when pg_restore
    /// loaded them).
    fn run_restore(&self, out: &Output) -> Result<(Vec<String>, Vec<LoadedTable>)> {
        if self.format == Format::PgPlain {
            return self.run_psql().map(|_| (Vec::new(), Vec::new()));
        }
        if self.load_connections <= 1 && self.rows_from.is_none() {
            let (list, skipped) = match &self.tables {
                Some(tables) => {
                    let (ids, fks) = self.selection(tables)?;
                    (Some(ids), fks)
                }
                None => {
                    let (ids, left_out) = read_archive(&self.backup_path, self.format)?.whole();
                    // The whole archive, unless something in it cannot be created.
                    ((!left_out.is_empty()).then_some(ids), left_out)
                }
            };
            self.pg_restore(list.as_deref(), &[], self.jobs)?;
            return Ok((skipped, Vec::new()));
        }
        // Schema, then the rows over several connections, then indexes, constraints, triggers
        // and sequence values: the order pg_restore itself keeps.
        let archive = read_archive(&self.backup_path, self.format)?;
        let (ids, skipped) = match &self.tables {
            Some(tables) => self.selection_in(&archive, tables)?,
            None => archive.whole(),
        };
        let by_id: std::collections::HashMap<i32, &TocEntry> = archive.entries.iter().map(|e| (e.id, e)).collect();
        let (data, rest): (Vec<i32>, Vec<i32>) =
            ids.iter().partition(|id| by_id.get(id).is_some_and(|e| e.desc == "TABLE DATA"));
        self.pg_restore(Some(&ids), &["--section=pre-data"], 1)?;
        let what = format!("{} (`{}`)", self.backup_id, self.backup_path.display());
        let loaded = match &self.rows_from {
            None => load::load(&self.backup_path, &data, &self.conn, self.load_connections as usize, &what)?,
            Some(server) => {
                let tables: Vec<(String, String)> = ids
                    .iter()
                    .filter_map(|id| by_id.get(id))
                    .filter(|e| e.desc == "TABLE")
                    .map(|e| (e.namespace.clone(), e.tag.clone()))
                    .collect();
                copy::copy_rows(server, &self.conn, &tables, self.load_connections as usize, out)?
            }
        };
        // Parallel workers each open a connection: worth it only with more than one entry to run.
        let later = rest.iter().filter(|id| by_id.get(id).is_some_and(|e| e.section >= 3)).count();
        let jobs = if later > 1 { self.jobs } else { 1 };
        self.pg_restore(Some(&rest), &["--section=data", "--section=post-data"], jobs)?;
        Ok((skipped, loaded))
    }

    /// Runs pg_restore into the target: the entries `list` (all when `None`), with `args`.
    fn pg_restore(&self, list: Option<&[i32]>, args: &[&str], jobs: u32) -> Result<()> {
        let mut cmd = tools::command("pg_restore", Some(&self.conn))?;
        // A scratch database belongs to whoever restores it: owners and grants of the archive may
        // name roles this server lacks (a CI drill server, a laptop), so they are not restored.
        cmd.args([
            "--exit-on-error",
            "--no-password",
            "--no-owner",
            "--no-privileges",
            "-d",
            &dbname_conninfo(&self.target_database),
        ]);
        cmd.args(args);
        if jobs > 1 {
            cmd.arg(format!("--jobs={jobs}"));
        }
        let _list_file;
        if let Some(ids) = list {
            let f = tools::list_file(ids)?;
            cmd.arg("-L").arg(f.path());
            _list_file = f;
        }
        cmd.arg(&self.backup_path);
        let out = tools::output(&mut cmd)?;
        if !out.status.success() {
            return Err(bad_input(format!(
                "pg_restore failed restoring backup {} into `{}`: {}",
                self.backup_id,
                self.target_database,
                tools::stderr_tail(&out, Some(&self.conn), 3)
            ))
            .into());
        }
        Ok(())
    }

    /// The TOC entries restoring `tables` and what belongs to them, and the foreign keys left out.
    fn selection(&self, tables: &[String]) -> Result<(Vec<i32>, Vec<String>)> {
        self.selection_in(&read_archive(&self.backup_path, self.format)?, tables)
    }

    fn selection_in(&self, archive: &Archive, tables: &[String]) -> Result<(Vec<i32>, Vec<String>)> {
        let mut ids = Vec::new();
        for t in tables {
            let (schema, name) = t.split_once('.').unwrap_or(("public", t));
            let e = archive
                .table_entry(schema, name)
                .ok_or_else(|| bad_input(format!("backup {} has no table `{t}`", self.backup_id)))?;
            ids.push(e.id);
        }
        Ok(archive.selection(&ids))
    }

    /// Plain dumps: psql reads the (decompressed) SQL from stdin and stops at the first error.
    fn run_psql(&self) -> Result<()> {
        let mut cmd = tools::command("psql", Some(&self.conn))?;
        cmd.args([
            "-X",
            "-q",
            "--no-password",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &dbname_conninfo(&self.target_database),
            "-f",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| environment(format!("cannot run psql: {e}")))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let file = std::fs::File::open(&self.backup_path)
            .map_err(|e| environment(format!("cannot read `{}`: {e}", self.backup_path.display())))?;
        let copy = decoder(self.compression, file)
            .and_then(|mut r| std::io::copy(&mut r, &mut stdin).map_err(anyhow::Error::from));
        drop(stdin);
        let out = child.wait_with_output().context("waiting for psql")?;
        if !out.status.success() {
            return Err(bad_input(format!(
                "psql failed restoring backup {} into `{}`: {}",
                self.backup_id,
                self.target_database,
                tools::stderr_tail(&out, Some(&self.conn), 3)
            ))
            .into());
        }
        // psql stops reading when it fails, which breaks the pipe: report the copy error only now.
        copy.map(|_| ()).with_context(|| format!("reading backup `{}`", self.backup_path.display()))
    }

    /// Counts what the database holds now: each table its own rows (`ONLY`, as every command
    /// reads a table; a partitioned table its partitions', see `engine::postgres`). A table that
    /// `load` filled and is not partitioned has the rows its COPYs reported (a COPY writes the
    /// table's own rows); every other table is counted.
    fn report(
        &self,
        skipped_foreign_keys: Vec<String>,
        loaded: &[LoadedTable],
        passed_over_copies: Vec<PassedCopy>,
        started: Instant,
    ) -> Result<PgRestoreReport> {
        let mut client = self.conn.connect()?;
        let rows = client
            .query(
                "SELECT n.nspname::text, c.relname::text, c.relkind = 'p' \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2",
                &[],
            )
            .map_err(|e| self.conn.classify(e, "listing restored tables"))?;
        let mut copied: std::collections::HashMap<(&str, &str), u64> = std::collections::HashMap::new();
        for l in loaded {
            *copied.entry((l.schema.as_str(), l.table.as_str())).or_default() += l.rows;
        }
        let mut tables = Vec::new();
        for r in rows {
            let (schema, name, partitioned): (String, String, bool) = (r.get(0), r.get(1), r.get(2));
            let n = match copied.get(&(schema.as_str(), name.as_str())) {
                Some(&rows) if !partitioned => rows,
                _ => {
                    let table = format!("{}.{}", quote_ident(&schema), quote_ident(&name));
                    let sql = format!("SELECT count(*) FROM {}", own_rows(&table, partitioned));
                    let n: i64 =
                        client.query_one(&sql, &[]).map_err(|e| self.conn.classify(e, "counting rows"))?.get(0);
                    n as u64
                }
            };
            tables.push(TableFacts { name: archive::qualified(&schema, &name), rows: Some(n) });
        }
        let count = |client: &mut postgres::Client, sql: &str| -> Result<u64> {
            let n: i64 = client.query_one(sql, &[]).map_err(|e| self.conn.classify(e, "counting objects"))?.get(0);
            Ok(n as u64)
        };
        let user_ns = "(SELECT oid FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%')";
        let indexes = count(
            &mut client,
            &format!("SELECT count(*) FROM pg_class WHERE relkind = 'i' AND relnamespace IN {user_ns}"),
        )?;
        let constraints =
            count(&mut client, &format!("SELECT count(*) FROM pg_constraint WHERE connamespace IN {user_ns}"))?;
        Ok(PgRestoreReport {
            plan: self.clone(),
            tables_restored: tables,
            indexes,
            constraints,
            skipped_foreign_keys,
            passed_over_copies,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// `Engine::plan_restore`: a scratch database on the server of `--live` (or exactly
/// `--scratch-url`), named `--into` or a free default name.
pub fn plan(req: RestoreRequest) -> Result<Box<dyn RestoreJob>> {
    let RestoreRequest { backup, why, tables, only_copy, target, force, jobs, now, catalogued, .. } = req;
    let (server, explicit, live_db) = server_for_restore(target.live.as_deref(), target.scratch_url.as_deref())?;
    let into = target.into.as_ref().map(|p| p.to_string_lossy().into_owned());
    let mut plan = PgRestorePlan::new(
        &backup,
        why,
        tables,
        &server,
        explicit,
        into.as_deref(),
        live_db.as_deref(),
        &live_sources(&catalogued.sources),
        force,
        jobs,
        now,
    )?;
    if let Some(copy) = only_copy.as_deref().and_then(|p| backup.copy_at(p)) {
        plan = plan.only_from(copy);
    }
    Ok(Box::new(plan))
}

impl RestoreJob for PgRestorePlan {
    fn why(&self) -> &str {
        &self.why
    }

    fn plan(&self) -> &dyn Printable {
        self
    }

    fn execute(self: Box<Self>, out: &Output) -> Result<Box<dyn RestoreDone>> {
        Ok(Box::new(PgRestorePlan::execute(*self, out)?))
    }
}

impl PgRestorePlan {
    /// What is restored, in words.
    fn what(&self) -> String {
        match &self.tables {
            None => format!("the whole {} archive {}", self.format.label(), self.backup_id),
            Some(t) => format!("table(s) {} of {} archive {}", t.join(", "), self.format.label(), self.backup_id),
        }
    }
}

impl Printable for PgRestorePlan {
    fn json(&self) -> Result<String> {
        pretty_json(self)
    }

    fn text(&self) -> String {
        let from = from_copies(&self.backup_path, &self.other_copies);
        format!("{}\nwould restore {} {from}into {}\n", self.why, self.what(), self.target)
    }
}

impl Printable for PgRestoreReport {
    fn json(&self) -> Result<String> {
        pretty_json(self)
    }

    fn text(&self) -> String {
        let mut s = copies_read(&self.passed_over_copies, &self.plan.backup_path);
        s.push_str(&format!("restored {} into {}\n", self.plan.what(), self.plan.target));
        s.push_str(&format!(
            "indexes: {}   constraints: {}   time: {:.2}s\n",
            self.indexes, self.constraints, self.seconds
        ));
        for fk in &self.skipped_foreign_keys {
            if fk.starts_with("trigger ") {
                s.push_str(&format!("left out {fk}\n"));
            } else {
                s.push_str(&format!("left out foreign key {fk} (it points at a table not restored)\n"));
            }
        }
        for t in &self.tables_restored {
            s.push_str(&format!("  {:<30} {:>12} rows\n", t.name, t.rows_text()));
        }
        s.push_str(&format!("drop it when done: lastgood scratch drop {} --live …\n", self.plan.target_database));
        s
    }
}

impl RestoreDone for PgRestoreReport {
    fn backup_path(&self) -> &std::path::Path {
        &self.plan.backup_path
    }

    fn passed_over_copies(&self) -> &[PassedCopy] {
        &self.passed_over_copies
    }

    fn check(&self) -> Option<&str> {
        None
    }

    fn seconds(&self) -> f64 {
        self.seconds
    }
}

/// Maps `--tables` names onto the archive's schema-qualified tables (a bare name is
/// `public.name`). Errors: `BadInput` naming the absent table and what the archive has.
fn resolve_tables(backup: &BackupRef, names: &[String]) -> Result<Vec<String>> {
    backup.refuse_skipped(names, "restore --tables copies")?;
    names
        .iter()
        .map(|t| {
            backup.table(t).map(|f| f.name.clone()).ok_or_else(|| {
                let have: Vec<&str> = backup.tables.iter().map(|t| t.name.as_str()).collect();
                bad_input(format!("backup {} has no table `{t}` (it has: {})", backup.id, have.join(", ")))
                    .hint("check the names given to --tables; tables outside public are schema.table")
                    .into()
            })
        })
        .collect()
}

fn read_archive(path: &std::path::Path, format: Format) -> Result<Archive> {
    match format {
        Format::PgCustom => archive::read_custom(path),
        Format::PgTar => archive::read_tar(path),
        Format::PgDirectory => archive::read_directory(path),
        _ => Err(bad_input(format!("`{}` has no table of contents", path.display())).into()),
    }
}

/// The live databases `backup` names: its manifest's PostgreSQL `source`, and the database its
/// pg_dump archive header (or a plain dump's `CREATE DATABASE`) names. A plain dump made without
/// `--create` names no database.
fn sources_of(b: &BackupSource) -> Vec<LiveSource> {
    let mut out = Vec::new();
    if let Some(s) = b.source.as_deref() {
        let pg = b.format.is_postgres() || s.starts_with("postgres://") || s.starts_with("postgresql://");
        if pg
            && !std::path::Path::new(s).is_absolute()
            && let Ok(conn) = PgConn::resolve(s)
        {
            out.push(LiveSource { place: LivePlace::Database(conn), backup_id: b.backup_id.clone() });
        }
    }
    if b.format.is_postgres()
        && let Some(name) = b.dbname.clone().filter(|n| !n.is_empty())
    {
        out.push(LiveSource { place: LivePlace::AnyServer(name), backup_id: b.backup_id.clone() });
    }
    out
}

/// The PostgreSQL databases the catalogued backups name as their source: manifests' `source`
/// (SQLite paths left out) and pg_dump archives' own database names.
pub fn live_sources(catalogued: &[BackupSource]) -> Vec<LiveSource> {
    catalogued.iter().flat_map(sources_of).collect()
}

/// The one rule for where a PostgreSQL restore may write, used by every restore (`restore`, and
/// the probes of drill, bisect and history): never the `--live` database (by name, on any
/// server), nor a live source — a manifest's on its server, a pg_dump archive's own database name
/// on every server, of the backup restored (always) and of every catalogued backup (`sources`) —
/// `--force` or not. A lost live is rebuilt by restoring into scratch and promoting onto its name.
/// Errors: `Refused`.
pub fn check_restore_target(
    target: &PgConn,
    backup: &BackupRef,
    live_dbname: Option<&str>,
    sources: &[LiveSource],
) -> Result<()> {
    let name = &target.dbname;
    let rebuild = format!(
        "restore into a scratch database (the default name, or another --into / --scratch-url), then `lastgood promote --scratch … --live …/{name} --yes`, which also creates a live that does not exist yet (a new server)"
    );
    if live_dbname == Some(name.as_str()) {
        return Err(refused(format!(
            "`{name}` is the live database; lastgood restores only into scratch, even with --force"
        ))
        .hint(rebuild)
        .into());
    }
    let own = sources_of(&backup.source_facts());
    if let Some(src) = own.iter().chain(sources).find(|s| s.is(target)) {
        return Err(refused(format!(
            "`{name}` on {} is a live database ({}); lastgood restores only into scratch, even with --force",
            target.describe_server(),
            src.reason()
        ))
        .hint(rebuild)
        .into());
    }
    Ok(())
}

/// Resolves `--live`/`--scratch-url` for a PostgreSQL restore. Errors: `Usage` when neither names
/// a PostgreSQL server.
pub fn server_for_restore(live: Option<&str>, scratch_url: Option<&str>) -> Result<(PgConn, bool, Option<String>)> {
    let live = live.filter(|s| !s.trim().is_empty());
    let scratch_url = scratch_url.filter(|s| !s.trim().is_empty());
    let live_conn = live.map(PgConn::resolve).transpose()?;
    if let Some(c) = &live_conn {
        // A typo in --live should fail here, naming the database, not after a long restore.
        c.connect()?;
    }
    let live_db = live_conn.as_ref().map(|c| c.dbname.clone());
    match (scratch_url, live_conn) {
        (Some(url), _) => Ok((PgConn::resolve(url)?, true, live_db)),
        (None, Some(c)) => Ok((c, false, live_db)),
        (None, None) => Err(usage("restoring a pg_dump archive needs a PostgreSQL server")
            .hint("pass --live postgres://… (scratch is created on live's server) or --scratch-url postgres://…/name")
            .into()),
    }
}

/// What `show` adds for a pg_dump archive: row counts per table (by reading the data through
/// `pg_restore -a`, or the plain dump itself) and the schema objects, both streamed.
pub fn archive_details(backup: &BackupRef) -> Result<(Vec<TableFacts>, Vec<SchemaObject>)> {
    let path = &backup.primary().path;
    let to_objects = |v: Vec<(String, String, String)>| {
        v.into_iter().map(|(kind, name, sql)| SchemaObject { kind, table: name.clone(), name, sql }).collect::<Vec<_>>()
    };
    if backup.format == Format::PgPlain {
        let open = || -> Result<Box<dyn std::io::Read>> {
            let f =
                std::fs::File::open(path).map_err(|e| environment(format!("cannot read `{}`: {e}", path.display())))?;
            decoder(backup.primary().compression, f)
        };
        let schema = archive::split_schema_sql(open()?)?;
        return Ok((backup.tables.clone(), to_objects(schema)));
    }
    let tables = count_rows(path, &backup.tables.iter().map(|t| t.name.clone()).collect::<Vec<_>>())?;
    let schema = run_pg_restore_to_stdout(path, &["-s"], archive::split_schema_sql)?;
    Ok((tables, to_objects(schema)))
}

/// Row counts of `tables` (schema-qualified) in a binary archive, read by streaming its data
/// through `pg_restore -a`.
pub fn count_rows(path: &std::path::Path, tables: &[String]) -> Result<Vec<TableFacts>> {
    let data = run_pg_restore_to_stdout(path, &["-a"], |r| archive::read_plain(r, path))?;
    Ok(tables
        .iter()
        .map(|t| TableFacts { name: t.clone(), rows: Some(data.tables.get(t).copied().unwrap_or(0)) })
        .collect())
}

/// Runs `pg_restore ARGS -f - PATH` and hands its stdout to `read` while it runs.
fn run_pg_restore_to_stdout<T>(
    path: &std::path::Path,
    args: &[&str],
    read: impl FnOnce(std::process::ChildStdout) -> Result<T>,
) -> Result<T> {
    let mut cmd = tools::command("pg_restore", None)?;
    cmd.args(args).args(["-f", "-"]).arg(path).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| environment(format!("cannot run pg_restore: {e}")))?;
    let result = read(child.stdout.take().expect("piped stdout"));
    let out = child.wait_with_output().context("waiting for pg_restore")?;
    if !out.status.success() {
        return Err(bad_input(format!(
            "pg_restore cannot read `{}`: {}",
            path.display(),
            tools::stderr_tail(&out, None, 3)
        ))
        .into());
    }
    result
}

/// `-d` for libpq tools: a database name is read as a connection string when it contains `=` or
/// starts with `postgres://`, so it is always passed as `dbname='…'` (quotes and backslashes
/// escaped) to name exactly that database.
pub fn dbname_conninfo(name: &str) -> String {
    format!("dbname='{}'", name.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod conninfo_tests {
    #[test]
    fn database_names_are_never_read_as_connection_strings() {
        assert_eq!(super::dbname_conninfo("shop"), "dbname='shop'");
        assert_eq!(super::dbname_conninfo("dbname=x host=evil"), "dbname='dbname=x host=evil'");
        assert_eq!(super::dbname_conninfo("it's\\"), "dbname='it\\'s\\\\'");
    }
}
