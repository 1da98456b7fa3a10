//! SQLite's restore: a backup (whole, or some tables) into a new scratch SQLite file
//! (`Engine::plan_restore` of `engine.rs`).
//!
//! Built in two steps, like every write lastgood makes: `RestorePlan::new` checks everything that
//! can be checked without writing (backup usable, tables present, target allowed) and can be
//! printed; `execute` carries it out. The core hands the backup over as an `engine::BackupRef`
//! and its copies' bytes through an `engine::CopyReader` (the catalog's reader).
//!
//! Copies: a backup stored in several places (repositories, a `.gz` beside a plain file) is read
//! from the first copy whose bytes verify — hash to the checksums the catalog recorded for it. A
//! copy damaged since it was catalogued is passed over for the next one, and the report says
//! which copy was read and which were passed over, and why (`passed_over_copies`). A failure of
//! a copy whose bytes verify (quick_check, the target) is final: every copy holds that content.
//! `--backup PATH` reads exactly that copy (`only_from`).
//!
//! Invariants: the target is written under a temporary name in its own folder and renamed into
//! place only after the copy, `PRAGMA quick_check` and fsync succeeded, so a failed or interrupted
//! restore leaves nothing at the target path; an existing file is replaced only with `force`, and
//! never when it is a catalogued backup, a known live database, or open in another process; the
//! target's `-wal`, `-shm` and `-journal` are removed (only with `force`) before the rename, so the
//! new file is never combined with the old one's WAL.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use super::classify;
use super::file::{other_processes_using, remove_side_files, side_files_present, wal_beside};
use crate::engine::{
    BackupRef, Catalogued, CopyReader, CopyRef, PassedCopy, Printable, RestoreDone, RestoreJob, RestoreRequest,
    TableFacts, copies_read, from_copies, pretty_json, quote_ident,
};
use crate::error::{bad_input, environment, refused, usage};
use crate::output::Output;
use crate::repo::SKIP_MARKER;
use crate::util::compress::{Compression, decompress_into};
use crate::util::fs::{TEMP_PREFIX, parent_dir, set_default_file_mode, sync_dir};
use crate::util::hash::sha256_file;
use indicatif::ProgressBar;

/// Bytes of a backup or result SQLite may read through a memory map (read-only; no memory is
/// allocated for it).
const MMAP_SIZE: i64 = 1 << 40;

/// What a restore will do; printable before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct RestorePlan {
    pub backup_id: String,
    pub backup_path: PathBuf,
    pub taken_at: DateTime<Utc>,
    /// Why this backup was chosen, in words.
    pub why: String,
    /// `None` restores every table (a whole-file copy).
    pub tables: Option<Vec<String>>,
    pub target: PathBuf,
    pub replace_existing: bool,
    /// The scratch folder `execute` first creates (or marks as scratch); a dry run writes nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prepares_scratch_folder: Option<PathBuf>,
    /// The `-wal` read with the backup, which is part of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_wal: Option<PathBuf>,
    /// The backup's other copies, tried in this order when the one before does not verify.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_copies: Vec<PathBuf>,
    /// The copy read (`backup_path`'s), with the checksums the catalog recorded for it.
    #[serde(skip)]
    copy: CopyRef,
    /// The copies to read from, in order (the first is `copy`).
    #[serde(skip)]
    copies: Vec<CopyRef>,
    /// The catalog's row count of each of `tables` (0 when unknown), for the progress bar.
    #[serde(skip)]
    table_rows: Vec<u64>,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    #[serde(flatten)]
    pub plan: RestorePlan,
    pub tables_restored: Vec<TableFacts>,
    /// Virtual and shadow tables: copied with the file by a whole restore, not counted.
    pub skipped_tables: Vec<crate::engine::SkippedTable>,
    pub quick_check: String,
    /// Copies not read because their bytes no longer verify, in the order tried (`backup_path`
    /// is the copy read).
    pub passed_over_copies: Vec<PassedCopy>,
    pub seconds: f64,
}

/// A restore from one copy that did not succeed: the copy's bytes are not the catalogued ones
/// (`Damaged`: the next copy may do), or something else failed (`Failed`: final).
enum Attempt {
    Damaged { reason: String, err: anyhow::Error },
    Failed(anyhow::Error),
}

/// A restore from one copy that succeeded, under its temporary name.
struct Restored {
    tmp: tempfile::NamedTempFile,
    quick_check: String,
    tables_restored: Vec<TableFacts>,
    skipped_tables: Vec<crate::engine::SkippedTable>,
    /// Declared last: dropped after `tmp` is renamed or deleted.
    _pending: crate::interrupt::Pending,
}

impl RestorePlan {
    /// Checks the request against the catalog. Errors: `BadInput` for an unusable backup or an
    /// unknown table, `Refused` for a target that exists (without `force`) or that is a backup or a
    /// live database, `Usage` for a target folder that does not exist.
    pub fn new(
        catalogued: &Catalogued,
        backup: &BackupRef,
        why: String,
        tables: Option<Vec<String>>,
        target: PathBuf,
        force: bool,
    ) -> Result<RestorePlan> {
        if backup.format != crate::engine::Format::Sqlite {
            return Err(usage(format!(
                "backup {} is a {} archive, which restores into a PostgreSQL database, not a SQLite file",
                backup.id,
                backup.format.label()
            ))
            .hint("use `lastgood restore --live postgres://…` (or --scratch-url)")
            .into());
        }
        check_backup(backup, tables.as_deref())?;
        check_folder(&target)?;
        check_target(catalogued, &target, force)?;
        Ok(RestorePlan::unchecked(backup, why, tables, target, force))
    }

    /// The plan, once every check passed.
    fn unchecked(
        backup: &BackupRef,
        why: String,
        tables: Option<Vec<String>>,
        target: PathBuf,
        force: bool,
    ) -> RestorePlan {
        let table_rows = tables.iter().flatten().map(|t| backup.table(t).and_then(|f| f.rows).unwrap_or(0)).collect();
        RestorePlan {
            backup_id: backup.id.clone(),
            backup_path: backup.primary().path.clone(),
            taken_at: backup.taken_at,
            why,
            tables,
            replace_existing: force && target.exists(),
            target,
            prepares_scratch_folder: None,
            backup_wal: backup.primary().wal.as_ref().map(|w| w.path.clone()),
            other_copies: backup.copies[1..].iter().map(|c| c.path.clone()).collect(),
            copy: backup.primary().clone(),
            copies: backup.copies.clone(),
            table_rows,
        }
    }

    /// Reads only `copy` (one of the backup's copies: the one `--backup PATH` names), never
    /// another.
    pub fn only_from(mut self, copy: &CopyRef) -> RestorePlan {
        self.use_copy(copy);
        self.copies = vec![copy.clone()];
        self.other_copies.clear();
        self
    }

    /// Makes `copy` the one read.
    fn use_copy(&mut self, copy: &CopyRef) {
        self.backup_path = copy.path.clone();
        self.backup_wal = copy.wal.as_ref().map(|w| w.path.clone());
        self.copy = copy.clone();
    }

    /// Like `new`, for a restore to `name` in the scratch folder `scratch` (see `scratch_dir`),
    /// which `execute` creates and marks when needed: planning writes nothing.
    pub fn new_in_scratch(
        catalogued: &Catalogued,
        backup: &BackupRef,
        why: String,
        tables: Option<Vec<String>>,
        scratch: &Path,
        name: &str,
        force: bool,
    ) -> Result<RestorePlan> {
        if scratch.is_dir() {
            let mut plan = RestorePlan::new(catalogued, backup, why, tables, scratch.join(name), force)?;
            plan.prepares_scratch_folder = (!scratch.join(SKIP_MARKER).exists()).then(|| scratch.to_path_buf());
            return Ok(plan);
        }
        // No folder yet, so nothing exists at the target: only the backup and tables are checked.
        check_backup(backup, tables.as_deref())?;
        let mut plan = RestorePlan::unchecked(backup, why, tables, scratch.join(name), force);
        plan.prepares_scratch_folder = Some(scratch.to_path_buf());
        Ok(plan)
    }

    /// Carries the plan out, from the first copy whose bytes verify (module docs). Errors name
    /// the backup and the table involved; on any error nothing is left at the target path.
    pub fn execute(mut self, reader: &dyn CopyReader, out: &Output) -> Result<RestoreReport> {
        let started = Instant::now();
        if let Some(scratch) = &self.prepares_scratch_folder {
            scratch_dir(Some(scratch))?;
        }
        let dir = parent_dir(&self.target);
        let candidates = self.copies.clone();
        let mut passed_over = Vec::new();
        for (i, copy) in candidates.iter().enumerate() {
            self.use_copy(copy);
            match self.restore_from_copy(&dir, reader, out) {
                Ok(done) => return self.put_in_place(done, passed_over, &dir, started),
                Err(Attempt::Failed(e)) => return Err(e),
                Err(Attempt::Damaged { err, .. }) if candidates.len() == 1 => return Err(err),
                Err(Attempt::Damaged { reason, .. }) => {
                    if i + 1 < candidates.len() {
                        out.warn(&format!(
                            "copy `{}` of backup {} {reason}; reading the next copy",
                            copy.path.display(),
                            self.backup_id
                        ));
                    }
                    passed_over.push(PassedCopy { path: copy.path.clone(), reason });
                }
            }
        }
        let each: Vec<String> = passed_over.iter().map(|p| format!("`{}` {}", p.path.display(), p.reason)).collect();
        Err(bad_input(format!("no copy of backup {} verifies: {}", self.backup_id, each.join("; ")))
            .hint("run `lastgood verify` on it, or restore from another backup")
            .into())
    }

    /// Restores from the current copy into a new temporary file in `dir`, proven twice before it
    /// may be renamed into place: the bytes restored from hash to the copy's catalogued checksums
    /// — its main file's and its `-wal`'s — (so a copy damaged since it was catalogued is caught,
    /// even when its size and mtime did not change), and `PRAGMA quick_check` passes on the
    /// result. The hash, the quick_check and the fsync run side by side.
    fn restore_from_copy(
        &self,
        dir: &Path,
        reader: &dyn CopyReader,
        out: &Output,
    ) -> std::result::Result<Restored, Attempt> {
        let (pending, tmp) = crate::interrupt::Pending::create(
            || tempfile::Builder::new().prefix(TEMP_PREFIX).suffix(".db").tempfile_in(dir),
            |t| t.path(),
        )
        .map_err(|e| {
            Attempt::Failed(environment(format!("cannot create a file in `{}`: {e}", dir.display())).into())
        })?;
        let tmp_path = tmp.path().to_path_buf();
        let hashed = match &self.tables {
            None => self.copy_whole(tmp.as_file(), &tmp_path, reader, out),
            Some(tables) => self.copy_tables(&tmp_path, tables, reader, out).map(Some),
        };
        let hashed = hashed.map_err(|e| self.attempt_failed(e))?;
        let (sha256, checked, synced) = std::thread::scope(|s| {
            let hash = s.spawn(|| match hashed {
                Some(h) => Ok(h),
                None => sha256_file(&tmp_path).map(|h| (h, None)),
            });
            let sync = s.spawn(|| tmp.as_file().sync_all());
            let checked = check_result(&tmp_path);
            (join(hash), checked, join(sync))
        });
        if let Some(what) = self.mismatch(&sha256.map_err(Attempt::Failed)?) {
            return Err(Attempt::Damaged {
                err: self.changed(&what),
                reason: format!("changed since it was catalogued: {what}"),
            });
        }
        let (quick_check, tables_restored, skipped_tables) = checked.map_err(Attempt::Failed)?;
        if quick_check != "ok" {
            return Err(Attempt::Failed(
                bad_input(format!(
                    "restored copy of backup {} (`{}`) fails quick_check: {quick_check}",
                    self.backup_id,
                    self.backup_path.display()
                ))
                .hint("run `lastgood verify` on it, or restore from another backup")
                .into(),
            ));
        }
        synced.with_context(|| format!("syncing `{}`", tmp_path.display())).map_err(Attempt::Failed)?;
        Ok(Restored { tmp, quick_check, tables_restored, skipped_tables, _pending: pending })
    }

    /// Renames a proven restore into place and reports it.
    fn put_in_place(
        self,
        done: Restored,
        passed_over_copies: Vec<PassedCopy>,
        dir: &Path,
        started: Instant,
    ) -> Result<RestoreReport> {
        set_default_file_mode(done.tmp.as_file())?;
        // The old target's WAL or journal would be replayed or rolled back onto the new file.
        // `check_target` refused them without `force`.
        remove_side_files(&self.target)?;
        let persisted = if self.replace_existing {
            done.tmp.persist(&self.target)
        } else {
            done.tmp.persist_noclobber(&self.target)
        };
        persisted.map_err(|e| {
            refused(format!("cannot put the restore at `{}`: {}", self.target.display(), e.error))
                .hint("pass --force to replace an existing file")
        })?;
        sync_dir(dir);
        Ok(RestoreReport {
            plan: self,
            tables_restored: done.tables_restored,
            skipped_tables: done.skipped_tables,
            quick_check: done.quick_check,
            passed_over_copies,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// What differs between the stored bytes read — the main file's and the `-wal`'s — and the
    /// checksums the catalog recorded for the copy, in words; `None` when they are the same.
    fn mismatch(&self, (sha256, wal_sha256): &Hashed) -> Option<String> {
        let short = |s: &str| s[..12.min(s.len())].to_string();
        let recorded_wal = self.copy.wal.as_ref().map(|w| w.sha256.as_str());
        if !sha256.eq_ignore_ascii_case(&self.copy.sha256) {
            return Some(format!(
                "its sha256 is now {}…, the catalog recorded {}…",
                short(sha256),
                short(&self.copy.sha256)
            ));
        }
        match (recorded_wal, wal_sha256.as_deref()) {
            (a, b) if a == b => None,
            (None, Some(_)) => Some("a -wal appeared beside it".to_string()),
            (Some(_), None) => Some("its -wal is gone".to_string()),
            (Some(a), Some(b)) => {
                Some(format!("its -wal's sha256 is now {}…, the catalog recorded {}…", short(b), short(a)))
            }
            (None, None) => None,
        }
    }

    /// The error for a copy that changed since it was catalogued (`what`: `mismatch`).
    fn changed(&self, what: &str) -> anyhow::Error {
        bad_input(format!(
            "backup {} (`{}`) changed since it was catalogued: {what}",
            self.backup_id,
            self.backup_path.display()
        ))
        .hint("run `lastgood verify` on it, or restore from another backup")
        .into()
    }

    /// Classifies a failure while reading the current copy: `Damaged` when its stored bytes no
    /// longer hash to the catalogued checksums (hashed again here, only after a failure), or
    /// cannot be read at all; else `Failed` (the same content is in every copy).
    fn attempt_failed(&self, err: anyhow::Error) -> Attempt {
        let main = sha256_file(&self.backup_path);
        let wal_path = match &self.copy.wal {
            Some(w) => Some(w.real.clone()),
            None => Some(super::file::side_file(&self.backup_path, "-wal")).filter(|p| p.exists()),
        };
        let wal = wal_path.map(|p| sha256_file(&p)).transpose();
        let what = match (main, wal) {
            (Ok(main), Ok(wal)) => self.mismatch(&(main, wal)),
            (Err(e), _) | (_, Err(e)) => Some(format!("cannot be read ({e:#})")),
        };
        match what {
            Some(what) => Attempt::Damaged {
                reason: format!("changed since it was catalogued: {what} ({err:#})"),
                err: err.context(format!(
                    "backup {} (`{}`) changed since it was catalogued ({what})",
                    self.backup_id,
                    self.backup_path.display()
                )),
            },
            None => Attempt::Failed(err),
        }
    }

    /// Whether the backup must be read with a `-wal`: the catalog found one, or one appeared since
    /// (then the checksums tell the backup changed).
    fn has_wal(&self) -> bool {
        self.copy.wal.is_some() || wal_beside(&self.backup_path)
    }

    /// Copies the whole backup into `dst`, decompressing as needed. Returns the checksums of the
    /// stored bytes when they were computed on the way (compressed backups, or with a `-wal`), else
    /// `None`.
    fn copy_whole(&self, dst: &File, dst_path: &Path, reader: &dyn CopyReader, out: &Output) -> Result<Option<Hashed>> {
        let size = fs::metadata(&self.backup_path).map(|m| m.len()).unwrap_or(0);
        let bar = out.bytes_bar(size, &format!("restoring {}", self.backup_id));
        let mut dst = dst;
        let hashed = if self.has_wal() {
            Some(self.copy_whole_with_wal(dst_path, reader)?)
        } else if self.copy.compression == Compression::None {
            let mut src = File::open(&self.backup_path)
                .map_err(|e| environment(format!("cannot read `{}`: {e}", self.backup_path.display())))?;
            // Chunks of 64 MiB keep the kernel's copy_file_range fast path and let the bar move.
            loop {
                let n = std::io::copy(&mut (&mut src).take(64 << 20), &mut dst).map_err(|e| {
                    environment(format!("copying `{}` to `{}`: {e}", self.backup_path.display(), self.target.display()))
                })?;
                if n == 0 {
                    break;
                }
                bar.inc(n);
            }
            None
        } else {
            let b = bar.clone();
            let compression = self.copy.compression;
            Some((decompress_into(&self.backup_path, compression, &mut dst, move |n| b.inc(n))?, None))
        };
        bar.finish_and_clear();
        Ok(hashed)
    }

    /// A backup with a `-wal` beside it: a byte copy of the main file would lose the WAL's
    /// committed pages, so SQLite's backup API copies the database as SQLite reads it (from the
    /// private copy the reader makes). Returns the checksums of the stored files.
    fn copy_whole_with_wal(&self, dst_path: &Path, reader: &dyn CopyReader) -> Result<Hashed> {
        let opened = reader.local(&self.copy, Box::new(|_| {}))?;
        let src = Connection::open_with_flags(local_uri(&opened), super::file::backup_flags())
            .map_err(|e| classify(e, &self.backup_path))?;
        let mut to = Connection::open(dst_path).map_err(|e| classify(e, dst_path))?;
        // One step copies every page; the source is a private temporary copy, so nothing contends.
        let step = rusqlite::backup::Backup::new(&src, &mut to)
            .and_then(|b| b.step(-1))
            .map_err(|e| classify(e, &self.backup_path))?;
        if step != rusqlite::backup::StepResult::Done {
            return Err(environment(format!(
                "copying `{}`: SQLite backup ended with {step:?}",
                self.backup_path.display()
            ))
            .into());
        }
        Ok((opened.sha256, opened.wal_sha256))
    }

    /// Copies `tables` into the SQLite file `tmp_path`; returns the checksums of the stored backup,
    /// computed beside the copy (plain file, read in place) or while copying it to a private
    /// folder (compressed, or with a `-wal`).
    fn copy_tables(&self, tmp_path: &Path, tables: &[String], reader: &dyn CopyReader, out: &Output) -> Result<Hashed> {
        if self.copy.compression != Compression::None || self.has_wal() {
            let bar = out.bytes_bar(fs::metadata(&self.backup_path).map(|m| m.len()).unwrap_or(0), "decompressing");
            let b = bar.clone();
            let opened = reader.local(&self.copy, Box::new(move |n| b.inc(n)))?;
            bar.finish_and_clear();
            self.copy_tables_from(&local_uri(&opened), &opened.path, tmp_path, tables, out)?;
            return Ok((opened.sha256, opened.wal_sha256));
        }
        super::file::check_header(&self.backup_path)?;
        // In place: `immutable=1`, whatever appears beside the backup meanwhile.
        let uri = super::file::backup_uri_with(&self.backup_path, false);
        std::thread::scope(|s| {
            let hash = s.spawn(|| sha256_file(&self.backup_path));
            let copied = self.copy_tables_from(&uri, &self.backup_path, tmp_path, tables, out);
            let hash = join(hash);
            copied?;
            hash.map(|h| (h, None))
        })
    }

    /// The bar counts rows (the catalog's counts), moved while SQLite copies (see `copy_rows`).
    fn copy_tables_from(&self, uri: &str, src: &Path, tmp_path: &Path, tables: &[String], out: &Output) -> Result<()> {
        let with_rows: Vec<(String, u64)> =
            tables.iter().cloned().zip(self.table_rows.iter().copied().chain(std::iter::repeat(0))).collect();
        let bar = out.rows_bar(with_rows.iter().map(|t| t.1).sum(), "copying tables");
        copy_tables(uri, src, tmp_path, &with_rows, &bar)
            .with_context(|| format!("restoring from backup {} (`{}`)", self.backup_id, self.backup_path.display()))?;
        bar.finish_and_clear();
        Ok(())
    }
}

/// The stored checksums a restore read: the main file's, and the `-wal`'s when one was read.
type Hashed = (String, Option<String>);

/// The URI that opens a local copy read-only: `immutable=1` in place (whatever appears beside
/// the backup meanwhile), `mode=ro` on a private copy with its `-wal`.
fn local_uri(local: &crate::engine::LocalCopy) -> String {
    super::file::backup_uri_with(&local.path, local.with_wal)
}

/// Waits for a scoped thread; a panic in it continues as a panic here.
fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Copies `tables` (each with its expected row count, 0 when unknown) from the SQLite file `src`
/// (opened through `src_uri`, read-only) into the empty database `dst`: each table's CREATE
/// statement, then its indexes (before the rows, so SQLite's transfer optimisation copies pages
/// rather than re-inserting rows), the rows, then its triggers and AUTOINCREMENT counter. `bar`
/// counts rows.
pub fn copy_tables(src_uri: &str, src: &Path, dst: &Path, tables: &[(String, u64)], bar: &ProgressBar) -> Result<()> {
    let mut conn = Connection::open(dst).map_err(|e| classify(e, dst))?;
    let page_size: i64 = Connection::open_with_flags(src_uri, super::file::backup_flags())
        .and_then(|c| c.query_row("PRAGMA page_size", [], |r| r.get(0)))
        .map_err(|e| classify(e, src))?;
    // Foreign keys off: the restored tables may reference tables left out of the restore, and the
    // bundled SQLite turns enforcement on by default (SQLITE_DEFAULT_FOREIGN_KEYS=1), which would
    // also disable the transfer optimisation.
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = OFF; PRAGMA page_size = {page_size}; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
    ))
    .map_err(|e| classify(e, dst))?;
    conn.execute("ATTACH DATABASE ?1 AS lastgood_src", [src_uri]).map_err(|e| classify(e, src))?;
    // Reading the backup through a memory map saves a copy per page (measured: ~10% of the time).
    conn.execute_batch(&format!("PRAGMA lastgood_src.mmap_size = {MMAP_SIZE}")).map_err(|e| classify(e, src))?;
    conn.execute_batch("BEGIN").map_err(|e| classify(e, dst))?;
    let mut copied = 0;
    for (table, rows) in tables {
        bar.set_message(format!("copying `{table}`"));
        let progress = RowProgress { bar: bar.clone(), before: copied, rows: *rows };
        copy_one_table(&mut conn, table, progress)
            .map_err(|e| classify(e, src))
            .with_context(|| format!("copying table `{table}`"))?;
        copied += rows;
        bar.set_position(copied);
    }
    conn.execute_batch("COMMIT").map_err(|e| classify(e, dst))?;
    conn.execute_batch("DETACH DATABASE lastgood_src").map_err(|e| classify(e, dst))?;
    Ok(())
}

fn copy_one_table(conn: &mut Connection, table: &str, progress: RowProgress) -> rusqlite::Result<()> {
    let objects = source_objects(conn, table)?;
    create_table_and_indexes(conn, &objects)?;
    copy_rows(conn, table, progress)?;
    for o in objects.iter().filter(|o| o.kind == "trigger") {
        conn.execute_batch(&o.sql)?;
    }
    let has_seq: i64 =
        conn.query_row("SELECT count(*) FROM lastgood_src.sqlite_schema WHERE name = 'sqlite_sequence'", [], |r| {
            r.get(0)
        })?;
    let has_main_seq: i64 =
        conn.query_row("SELECT count(*) FROM main.sqlite_schema WHERE name = 'sqlite_sequence'", [], |r| r.get(0))?;
    if has_seq > 0 && has_main_seq > 0 {
        // The INSERT above already wrote a row for `table` (its largest id); the backup's counter
        // may be higher (rows deleted since), so it replaces that row rather than joining it.
        conn.execute("DELETE FROM main.sqlite_sequence WHERE name = ?1", [table])?;
        conn.execute("INSERT INTO main.sqlite_sequence(name, seq) SELECT name, seq FROM lastgood_src.sqlite_sequence WHERE name = ?1", [table])?;
    }
    Ok(())
}

/// A schema object of the attached backup: `table`, `index`, `trigger` or `view`.
struct SourceObject {
    kind: String,
    sql: String,
}

/// The objects of `table` in the backup attached as `lastgood_src`, in creation order.
fn source_objects(conn: &Connection, table: &str) -> rusqlite::Result<Vec<SourceObject>> {
    let mut st = conn.prepare(
        "SELECT type, sql FROM lastgood_src.sqlite_schema WHERE tbl_name = ?1 AND sql IS NOT NULL ORDER BY rowid",
    )?;
    st.query_map([table], |r| Ok(SourceObject { kind: r.get(0)?, sql: r.get(1)? }))?.collect()
}

/// The table, then its indexes, as the backup has them: indexes exist before the rows arrive so
/// that SQLite's transfer optimisation can copy them too (TECH-NOTES §1); triggers come after.
fn create_table_and_indexes(conn: &Connection, objects: &[SourceObject]) -> rusqlite::Result<()> {
    let of_kind = |k: &'static str| objects.iter().filter(move |o| o.kind == k);
    for o in of_kind("table").chain(of_kind("index")) {
        conn.execute_batch(&o.sql)?;
    }
    Ok(())
}

/// Copies the rows of `table` from the backup into the same table in main: by SQLite's transfer
/// optimisation (pages of records, rowids kept) when it applies, else row by row with an explicit
/// column list. The transfer does not apply, for instance, to a table with CHECK constraints: SQLite
/// does not load them for a read-only database (the backup), so the two tables look different.
///
/// The copy is one statement (the transfer only applies to the whole table), so its progress is
/// estimated from SQLite's progress handler: the program runs each of its loops once per row, so
/// after `n` instructions about `n / ops_per_row` rows are copied.
fn copy_rows(conn: &mut Connection, table: &str, progress: RowProgress) -> rusqlite::Result<()> {
    let fast = insert_sql(table);
    let sql = if uses_transfer(conn, &fast) { fast } else { insert_by_columns_sql(conn, table)? };
    let per_row = ops_per_row(conn, &sql).max(1);
    let mut ops = 0u64;
    conn.progress_handler(
        PROGRESS_OPS,
        Some(move || {
            ops += PROGRESS_OPS as u64;
            progress.bar.set_position(progress.before + (ops / per_row).min(progress.rows));
            false
        }),
    )?;
    let copied = conn.execute(&sql, []);
    conn.progress_handler(0, None::<fn() -> bool>)?;
    copied.map(|_| ())
}

/// SQLite instructions between two calls of the progress handler while a table is copied.
const PROGRESS_OPS: i32 = 4096;

/// Where a table's copy stands on the rows bar: `before` rows of earlier tables, `rows` expected.
struct RowProgress {
    bar: ProgressBar,
    before: u64,
    rows: u64,
}

/// Instructions `sql`'s program runs per row: the length of each of its loops (a `Next` or
/// `Prev` jumping back, from its target to itself), added up. An estimate: branches inside a
/// loop may skip some of it.
fn ops_per_row(conn: &Connection, sql: &str) -> u64 {
    let Ok(mut st) = conn.prepare(&format!("EXPLAIN {sql}")) else { return 1 };
    let Ok(ops) = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(3)?))) else {
        return 1;
    };
    ops.flatten()
        .filter(|(addr, op, target)| matches!(op.as_str(), "Next" | "Prev") && target <= addr)
        .map(|(addr, _, target)| (addr - target + 1) as u64)
        .sum()
}

/// The one statement form SQLite's transfer optimisation accepts: no column list, no WHERE.
fn insert_sql(table: &str) -> String {
    let q = quote_ident(table);
    format!("INSERT INTO main.{q} SELECT * FROM lastgood_src.{q}")
}

/// Whether SQLite compiles `sql` to a transfer: its program reads whole records (RowData or
/// RowCell) instead of columns. A statement that does not even compile (a generated column makes
/// `SELECT *` wider than the insert) is no transfer either.
fn uses_transfer(conn: &Connection, sql: &str) -> bool {
    let Ok(mut st) = conn.prepare(&format!("EXPLAIN {sql}")) else { return false };
    let Ok(ops) = st.query_map([], |r| r.get::<_, String>(1)) else { return false };
    ops.flatten().any(|op| op == "RowData" || op == "RowCell")
}

/// `INSERT … (cols) SELECT cols …` over the stored (non-generated) columns, with the rowid too
/// when the table has one that no column carries, so that rowids survive as in a transfer.
fn insert_by_columns_sql(conn: &Connection, table: &str) -> rusqlite::Result<String> {
    let mut st = conn
        .prepare("SELECT name, type, pk FROM pragma_table_xinfo(?1, 'lastgood_src') WHERE hidden = 0 ORDER BY cid")?;
    let cols: Vec<(String, String, i64)> =
        st.query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?;
    let without_rowid: bool =
        conn.query_row("SELECT wr FROM pragma_table_list WHERE schema = 'lastgood_src' AND name = ?1", [table], |r| {
            r.get(0)
        })?;
    let pk: Vec<&(String, String, i64)> = cols.iter().filter(|c| c.2 > 0).collect();
    let integer_pk = pk.len() == 1 && pk[0].1.eq_ignore_ascii_case("INTEGER");
    let named_rowid = cols.iter().any(|c| ["rowid", "_rowid_", "oid"].iter().any(|r| c.0.eq_ignore_ascii_case(r)));
    let mut names: Vec<String> = cols.iter().map(|c| quote_ident(&c.0)).collect();
    if !without_rowid && !integer_pk && !named_rowid {
        names.insert(0, "rowid".to_string());
    }
    let list = names.join(", ");
    let q = quote_ident(table);
    Ok(format!("INSERT INTO main.{q} ({list}) SELECT {list} FROM lastgood_src.{q}"))
}

/// `PRAGMA quick_check`, per-table row counts of a restored file, and its skipped tables (never
/// counted: see `engine::SkippedTable`).
///
/// The file is opened like a backup (`immutable=1`), so that a WAL-mode result leaves no `-wal` or
/// `-shm` file beside its temporary name.
fn check_result(path: &Path) -> Result<(String, Vec<TableFacts>, Vec<crate::engine::SkippedTable>)> {
    let mut db = super::SqliteDb::open_backup(path)?;
    db.connection().execute_batch(&format!("PRAGMA mmap_size = {MMAP_SIZE}")).map_err(|e| classify(e, path))?;
    let problems = crate::engine::Database::integrity_problems(&mut db, true)?;
    let quick = if problems.is_empty() { "ok".to_string() } else { problems.join("; ") };
    let names = crate::engine::Database::tables(&mut db)?;
    let mut tables = Vec::new();
    for name in names {
        tables.push(TableFacts { rows: Some(crate::engine::Database::row_count(&mut db, &name)?), name });
    }
    Ok((quick, tables, crate::engine::Database::skipped_tables(&mut db)?))
}

/// The backup is usable and has every table asked for. Errors: `BadInput`.
fn check_backup(backup: &BackupRef, tables: Option<&[String]>) -> Result<()> {
    if let Some(problem) = &backup.problem {
        return Err(bad_input(format!(
            "backup {} (`{}`) cannot be restored: {problem}",
            backup.id,
            backup.primary().path.display()
        ))
        .hint("pick another backup with --backup or an earlier --at; `lastgood verify --all` lists healthy ones")
        .into());
    }
    if let Some(tables) = tables {
        backup.refuse_skipped(tables, "restore --tables copies")?;
        for t in tables {
            if backup.table(t).is_none() {
                let have: Vec<&str> = backup.tables.iter().map(|t| t.name.as_str()).collect();
                return Err(bad_input(format!(
                    "backup {} (`{}`) has no table `{t}` (it has: {})",
                    backup.id,
                    backup.primary().path.display(),
                    have.join(", ")
                ))
                .hint("check the names given to --tables")
                .into());
            }
        }
    }
    Ok(())
}

/// The target's folder exists. Errors: `Usage`.
fn check_folder(target: &Path) -> Result<()> {
    let dir = parent_dir(target);
    if !dir.is_dir() {
        return Err(usage(format!(
            "cannot restore into `{}`: folder `{}` does not exist",
            target.display(),
            dir.display()
        ))
        .hint("create the folder first, or pick another --into")
        .into());
    }
    Ok(())
}

/// The target may be written: not a directory, a backup, a live database or a file open in
/// another process; an existing file or side file only with `force`. Errors: `Usage`, `Refused`.
fn check_target(catalogued: &Catalogued, target: &Path, force: bool) -> Result<()> {
    if target.is_dir() {
        return Err(usage(format!("`{}` is a directory; --into takes a file path", target.display())).into());
    }
    let is_backup = catalogued.copies.iter().any(|c| crate::engine::same_file(c, target));
    if is_backup {
        return Err(refused(format!(
            "`{}` is a catalogued backup; lastgood never restores over a backup",
            target.display()
        ))
        .into());
    }
    let is_live = catalogued
        .sources
        .iter()
        .filter_map(|b| b.source.as_deref())
        .any(|s| crate::engine::same_file(Path::new(s), target));
    if is_live {
        return Err(refused(format!(
            "`{}` is a live database (named as a backup source); lastgood restores only into scratch",
            target.display()
        ))
        .hint("restore into scratch, then use `lastgood merge` or `lastgood promote`")
        .into());
    }
    if target.exists() && !force {
        return Err(refused(format!("`{}` already exists", target.display()))
            .hint("pass --force to replace it, or pick another --into")
            .into());
    }
    let side = side_files_present(target);
    if !side.is_empty() && !force {
        let names: Vec<String> = side.iter().map(|p| format!("`{}`", p.display())).collect();
        return Err(refused(format!(
            "{} beside `{}` would be combined with the restored file",
            names.join(", "),
            target.display()
        ))
        .hint("pass --force to remove them, or pick another --into")
        .into());
    }
    let users = other_processes_using(target);
    if !users.is_empty() {
        let who: Vec<String> = users.iter().map(|p| format!("pid {} ({})", p.pid, p.program)).collect();
        return Err(refused(format!(
            "`{}` is open in another process ({}); replacing it would pull it from under that process",
            target.display(),
            who.join(", ")
        ))
        .hint("stop that process first, or pick another --into")
        .into());
    }
    Ok(())
}

/// `Engine::plan_restore`: into `--into`, else a new file named after the backup and the time
/// in the scratch folder (created by `execute` when needed).
pub fn plan(req: RestoreRequest) -> Result<Box<dyn RestoreJob>> {
    let RestoreRequest { backup, why, tables, only_copy, target, force, now, catalogued, reader, .. } = req;
    let mut plan = match &target.into {
        Some(p) => RestorePlan::new(&catalogued, &backup, why, tables, p.clone(), force)?,
        None => {
            let dir = scratch_dir_path(target.scratch_dir.as_deref());
            let name = format!("{}-{}.db", backup.id, now.format("%Y%m%dT%H%M%S"));
            RestorePlan::new_in_scratch(&catalogued, &backup, why, tables, &dir, &name, force)?
        }
    };
    if let Some(copy) = only_copy.as_deref().and_then(|p| backup.copy_at(p)) {
        plan = plan.only_from(copy);
    }
    Ok(Box::new(Job { plan, reader }))
}

/// A checked SQLite restore and the reader of its copies.
struct Job {
    plan: RestorePlan,
    reader: std::sync::Arc<dyn CopyReader>,
}

impl RestoreJob for Job {
    fn why(&self) -> &str {
        &self.plan.why
    }

    fn plan(&self) -> &dyn Printable {
        &self.plan
    }

    fn execute(self: Box<Self>, out: &Output) -> Result<Box<dyn RestoreDone>> {
        Ok(Box::new(self.plan.execute(self.reader.as_ref(), out)?))
    }
}

impl Printable for RestorePlan {
    fn json(&self) -> Result<String> {
        pretty_json(self)
    }

    fn text(&self) -> String {
        let from = from_copies(&self.backup_path, &self.other_copies);
        format!("{}\nwould restore {} {from}into {}\n", self.why, self.what(), self.target.display())
    }
}

impl RestorePlan {
    /// What is restored, in words.
    fn what(&self) -> String {
        match &self.tables {
            None => format!("the whole backup {}", self.backup_id),
            Some(t) => format!("table(s) {} of backup {}", t.join(", "), self.backup_id),
        }
    }
}

impl Printable for RestoreReport {
    fn json(&self) -> Result<String> {
        pretty_json(self)
    }

    fn text(&self) -> String {
        let mut s = copies_read(&self.passed_over_copies, &self.plan.backup_path);
        s.push_str(&format!("restored {} into {}\n", self.plan.what(), self.plan.target.display()));
        s.push_str(&format!("quick_check: {}   time: {:.2}s\n", self.quick_check, self.seconds));
        for t in &self.tables_restored {
            s.push_str(&format!("  {:<30} {:>12} rows\n", t.name, t.rows_text()));
        }
        if !self.skipped_tables.is_empty() {
            s.push_str(&format!(
                "copied with the file, not counted: {}\n",
                crate::engine::skipped_list(&self.skipped_tables)
            ));
        }
        s
    }
}

impl RestoreDone for RestoreReport {
    fn backup_path(&self) -> &Path {
        &self.plan.backup_path
    }

    fn passed_over_copies(&self) -> &[PassedCopy] {
        &self.passed_over_copies
    }

    fn check(&self) -> Option<&str> {
        Some(&self.quick_check)
    }

    fn seconds(&self) -> f64 {
        self.seconds
    }
}

/// The scratch folder's path (`--scratch-dir`, `LASTGOOD_SCRATCH_DIR`, else `./lastgood-scratch`),
/// without creating it.
pub fn scratch_dir_path(explicit: Option<&Path>) -> PathBuf {
    explicit.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("lastgood-scratch"))
}

/// The scratch folder (see `scratch_dir_path`), created with the marker that keeps the catalog
/// out of it.
pub fn scratch_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    let dir = scratch_dir_path(explicit);
    fs::create_dir_all(&dir)
        .map_err(|e| environment(format!("cannot create scratch folder `{}`: {e}", dir.display())))?;
    let marker = dir.join(SKIP_MARKER);
    if !marker.exists() {
        fs::write(&marker, "This folder holds lastgood scratch databases; `lastgood catalog` skips it.\n")
            .map_err(|e| environment(format!("cannot write in scratch folder `{}`: {e}", dir.display())))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sqlite::file::backup_uri;

    fn backup_with(sql: &str) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.db");
        Connection::open(&src).unwrap().execute_batch(sql).unwrap();
        let conn = Connection::open(dir.path().join("dst.db")).unwrap();
        conn.execute("ATTACH DATABASE ?1 AS lastgood_src", [backup_uri(&src)]).unwrap();
        (dir, conn)
    }

    /// Pitfall 1 of TECH-NOTES: one schema difference or an early trigger silently turns the page
    /// copy into a row-by-row insert, 6× slower. The transfer shows in EXPLAIN as RowData/RowCell.
    #[test]
    fn table_copy_uses_the_transfer_optimisation_for_common_table_shapes() {
        let (_dir, conn) = backup_with(
            "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL,
                                 item TEXT COLLATE NOCASE, amount REAL DEFAULT 0);
             CREATE INDEX orders_customer ON orders(customer_id DESC);
             CREATE INDEX orders_paid ON orders(item) WHERE amount > 0;
             CREATE TRIGGER orders_audit AFTER UPDATE ON orders BEGIN SELECT 1; END;
             CREATE TABLE kv(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
             CREATE TABLE counters(id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL,
                                   twice INTEGER GENERATED ALWAYS AS (n * 2)) STRICT;
             CREATE TABLE plain(a, b UNIQUE);
             CREATE INDEX plain_a ON plain(a);",
        );
        for table in ["orders", "kv", "counters", "plain"] {
            create_table_and_indexes(&conn, &source_objects(&conn, table).unwrap()).unwrap();
            assert!(uses_transfer(&conn, &insert_sql(table)), "{table}: copied row by row");
        }
    }

    /// Where the transfer cannot apply (CHECK constraints), rows, rowids and generated columns
    /// still come across exactly.
    #[test]
    fn tables_the_transfer_cannot_copy_are_copied_row_by_row_keeping_rowids() {
        let (_dir, mut conn) = backup_with(
            "CREATE TABLE checked(a INTEGER CHECK (a >= 0), b TEXT, g INTEGER AS (a + 1));
             INSERT INTO checked(rowid, a, b) VALUES (7, 1, 'x'), (3, 2, NULL), (100, 3, 'z');
             CREATE TABLE checked_pk(id INTEGER PRIMARY KEY, a INTEGER CHECK (a > 0));
             INSERT INTO checked_pk VALUES (5, 1), (9, 2);",
        );
        for table in ["checked", "checked_pk"] {
            create_table_and_indexes(&conn, &source_objects(&conn, table).unwrap()).unwrap();
            assert!(!uses_transfer(&conn, &insert_sql(table)), "{table}");
            let progress = RowProgress { bar: ProgressBar::hidden(), before: 0, rows: 3 };
            copy_rows(&mut conn, table, progress).unwrap();
            let dump = |schema: &str| -> Vec<String> {
                let sql = format!("SELECT rowid, * FROM {schema}.{table} ORDER BY rowid");
                let mut st = conn.prepare(&sql).unwrap();
                let n = st.column_count();
                st.query_map([], |r| {
                    Ok((0..n).map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap())).collect())
                })
                .unwrap()
                .map(Result::unwrap)
                .collect()
            };
            assert_eq!(dump("main"), dump("lastgood_src"), "{table}");
        }
    }
}
