//! Taking a backup of a live database into one or more repositories, with a manifest.
//!
//! SQLite: `VACUUM INTO` a temporary file — one read transaction, so the snapshot is consistent
//! even while the application writes (TECH-NOTES §2: the online backup API restarts under steady
//! writes; VACUUM INTO does not), and its output is a compact rollback-mode file that opens
//! read-only anywhere.
//!
//! PostgreSQL: `pg_dump -Fc` into a temporary file (one snapshot, consistent while the
//! application writes); the archive is then stored and described exactly like a SQLite snapshot.
//!
//! Invariants: a copy appears under its final name only complete, fsynced and checksummed (written
//! under a temporary name in the repository, re-read and hashed, then renamed); the manifest is
//! written the same way after the copy; a repository that fails does not stop the others, and the
//! command then fails naming it; the manifest's `source` never holds a password.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::core::catalog::TableFacts;
use crate::core::catalog::manifest::{self, Manifest, ManifestTable};
use crate::engine::postgres::conn::PgConn;
use crate::engine::postgres::{archive, restore, tools};
use crate::engine::sqlite::file::check_header;
use crate::engine::sqlite::{SqliteDb, classify};
use crate::engine::{Database, Location};
use crate::error::{environment, usage};
use crate::output::Output;
use crate::util::compress::Compression;
use crate::util::fs::{TEMP_PREFIX, sync_dir};
use crate::util::hash::sha256_file;

/// The outcome for one repository.
#[derive(Debug, Clone, Serialize)]
pub struct CopyOutcome {
    pub repository: PathBuf,
    pub path: Option<PathBuf>,
    pub error: Option<String>,
}

/// What `backup` did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub taken_at: DateTime<Utc>,
    pub source: String,
    pub file: String,
    pub compression: Compression,
    pub size: u64,
    pub sha256: String,
    pub tables: Vec<TableFacts>,
    pub copies: Vec<CopyOutcome>,
    pub seconds: f64,
}

impl BackupReport {
    pub fn failed(&self) -> Vec<&CopyOutcome> {
        self.copies.iter().filter(|c| c.error.is_some()).collect()
    }
}

/// A snapshot taken and ready to store.
struct Snapshot {
    taken_at: DateTime<Utc>,
    /// The file to copy into the repositories (compressed when asked).
    stored: PathBuf,
    /// `stored` decompressed: what the manifest's `content_sha256` describes.
    content: PathBuf,
    file: String,
    engine: &'static str,
    tables: Vec<TableFacts>,
}

/// Takes one backup of `live` and stores a copy in every repository. Errors (before any copy):
/// `Usage` without repositories, `BadInput`/`Environment` when live cannot be read. Per-repository
/// failures are reported in `copies`, not as an error.
pub fn take(live: &Location, repos: &[PathBuf], compression: Compression, out: &Output) -> Result<BackupReport> {
    if repos.is_empty() {
        return Err(usage("no repository to write the backup to").hint("pass --repo DIR (repeatable)").into());
    }
    let started = std::time::Instant::now();
    let work = tempfile::Builder::new()
        .prefix("lastgood-backup-")
        .tempdir()
        .map_err(|e| environment(format!("cannot create a temporary folder: {e}")))?;
    // Ctrl-C removes the snapshot folder too (pg_dump output can be large).
    crate::interrupt::track(work.path());
    let _untrack_work = Untrack(work.path().to_path_buf());
    let (snap, source) = match live {
        Location::Sqlite(path) => (
            sqlite_snapshot(path, compression, repos, work.path(), out)?,
            std::path::absolute(path)?.display().to_string(),
        ),
        Location::Postgres(spec) => (pg_snapshot(spec, compression, repos, work.path(), out)?, spec.clone()),
    };
    let sha256 = sha256_file(&snap.stored)?;
    let content_sha256 = if snap.content == snap.stored { sha256.clone() } else { sha256_file(&snap.content)? };
    let size = std::fs::metadata(&snap.stored)?.len();
    let manifest = Manifest {
        manifest_version: 1,
        taken_at: snap.taken_at,
        engine: Some(snap.engine.into()),
        source: Some(crate::redact::connection_string(&source)),
        file: Some(snap.file.clone()),
        compression: (compression != Compression::None).then(|| format!("{compression:?}").to_lowercase()),
        size: Some(size),
        sha256: Some(sha256.clone()),
        content_sha256: Some(content_sha256),
        tables: snap.tables.iter().map(|t| ManifestTable { name: t.name.clone(), rows: t.rows.unwrap_or(0) }).collect(),
        lastgood_version: Some(env!("CARGO_PKG_VERSION").into()),
    };
    let copies = repos
        .iter()
        .map(|repo| match store_copy(&snap.stored, repo, &snap.file, &sha256, &manifest) {
            Ok(path) => CopyOutcome { repository: repo.clone(), path: Some(path), error: None },
            Err(e) => CopyOutcome { repository: repo.clone(), path: None, error: Some(format!("{e:#}")) },
        })
        .collect();
    Ok(BackupReport {
        taken_at: snap.taken_at,
        source: manifest.source.clone().unwrap_or_default(),
        file: snap.file,
        compression,
        size,
        sha256,
        tables: snap.tables,
        copies,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn sqlite_snapshot(
    live_path: &Path,
    compression: Compression,
    repos: &[PathBuf],
    dir: &Path,
    out: &Output,
) -> Result<Snapshot> {
    let spinner = out.spinner(&format!("snapshotting {}", live_path.display()));
    let (taken_at, snapshot) = snapshot_sqlite(live_path, dir)?;
    let tables = count_tables(&snapshot)?;
    spinner.set_message("compressing");
    let stored = compress(&snapshot, compression, dir)?;
    spinner.finish_and_clear();
    let stem = live_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "backup".into());
    let file = free_file_name(&stem, taken_at, &format!(".db{}", compression.suffix()), repos);
    Ok(Snapshot { taken_at, stored, content: snapshot, file, engine: "sqlite", tables })
}

/// PostgreSQL: `pg_dump -Fc` (one consistent snapshot of the database; the password reaches it
/// only through the environment). Taken-at is the dump's start as the archive header records it
/// (the catalog reads the same field), tables come from the archive's TOC and their row counts
/// from streaming its data.
fn pg_snapshot(spec: &str, compression: Compression, repos: &[PathBuf], dir: &Path, out: &Output) -> Result<Snapshot> {
    if compression != Compression::None {
        return Err(usage("pg_dump custom archives are compressed already; --compress applies to SQLite backups")
            .hint("drop --compress")
            .into());
    }
    let conn = PgConn::resolve(spec)?;
    // A wrong database name or password fails here, with the engine's clear message.
    drop(conn.connect()?);
    let dst = dir.join("snapshot.dump");
    let spinner = out.spinner(&format!("pg_dump of {}", conn.describe()));
    let started = Utc::now();
    let mut cmd = tools::command("pg_dump", Some(&conn))?;
    cmd.args(["-Fc", "--no-password", "-f"]).arg(&dst);
    let done = tools::output(&mut cmd)?;
    if !done.status.success() {
        return Err(environment(format!(
            "pg_dump of `{}` failed: {}",
            conn.describe(),
            tools::stderr_tail(&done, Some(&conn), 3)
        ))
        .into());
    }
    spinner.set_message("counting rows");
    let toc = archive::read_custom(&dst)?;
    let tables = restore::count_rows(&dst, &toc.tables())?;
    spinner.finish_and_clear();
    let taken_at = toc.created.unwrap_or(started);
    let file = free_file_name(&file_safe(&conn.dbname), taken_at, ".dump", repos);
    Ok(Snapshot { taken_at, stored: dst.clone(), content: dst, file, engine: "postgres", tables })
}

/// A database name as a file-name stem: anything but letters, digits, `-`, `_` becomes `_`.
fn file_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// A consistent snapshot of a live SQLite database via `VACUUM INTO`; returns when it was taken
/// (the start of its read transaction) and the snapshot's path.
fn snapshot_sqlite(live: &Path, dir: &Path) -> Result<(DateTime<Utc>, PathBuf)> {
    check_header(live)?;
    let conn = Connection::open_with_flags(live, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| classify(e, live))?;
    conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| classify(e, live))?;
    let dst = dir.join("snapshot.db");
    // Milliseconds, as the file name carries them, so the manifest and the name agree.
    let taken_at = Utc::now().trunc_subsecs(3);
    conn.execute("VACUUM INTO ?1", [dst.to_string_lossy()]).map_err(|e| classify(e, live))?;
    Ok((taken_at, dst))
}

/// `<stem>-2026-11-24T06-00-00.123Z.db[.gz]`: millisecond resolution, so backups taken in the same
/// second get distinct names; should a name still be taken in one of `repos`, `-1`, `-2`, … is
/// appended after the stamp (the catalog reads the stamp back either way).
fn free_file_name(stem: &str, taken_at: DateTime<Utc>, ext: &str, repos: &[PathBuf]) -> String {
    let base = format!("{stem}-{}", taken_at.format("%Y-%m-%dT%H-%M-%S%.3fZ"));
    // A dangling link is a name taken too (`exists` follows links).
    let taken = |name: &str| repos.iter().any(|r| std::fs::symlink_metadata(r.join(name)).is_ok());
    let mut file = format!("{base}{ext}");
    let mut n = 1;
    while taken(&file) {
        file = format!("{base}-{n}{ext}");
        n += 1;
    }
    file
}

fn count_tables(snapshot: &Path) -> Result<Vec<TableFacts>> {
    let mut db = SqliteDb::open_backup(snapshot)?;
    let names = db.tables()?;
    names.into_iter().map(|name| Ok(TableFacts { rows: Some(db.row_count(&name)?), name })).collect()
}

fn compress(snapshot: &Path, compression: Compression, dir: &Path) -> Result<PathBuf> {
    if compression == Compression::None {
        return Ok(snapshot.to_path_buf());
    }
    let dst = dir.join(format!("snapshot.db{}", compression.suffix()));
    let mut src = File::open(snapshot)?;
    let file = BufWriter::with_capacity(1 << 20, File::create(&dst)?);
    match compression {
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::default());
            std::io::copy(&mut src, &mut enc)?;
            enc.finish()?.flush()?;
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(file, 3)?;
            std::io::copy(&mut src, &mut enc)?;
            enc.finish()?.flush()?;
        }
        Compression::None => unreachable!("handled above"),
    }
    Ok(dst)
}

/// Stops tracking a temporary file for Ctrl-C cleanup when dropped.
struct Untrack(PathBuf);

impl Drop for Untrack {
    fn drop(&mut self) {
        crate::interrupt::untrack(&self.0);
    }
}

/// Writes one copy into `repo` under a temporary name, fsyncs it, re-reads it to check the
/// checksum, renames it to `file`, then writes the manifest beside it the same way.
fn store_copy(stored: &Path, repo: &Path, file: &str, sha256: &str, manifest: &Manifest) -> Result<PathBuf> {
    if !repo.is_dir() {
        return Err(environment(format!("repository `{}` is not a reachable folder", repo.display())).into());
    }
    // Written below the canonical root, so that no write goes through a link; a link already at the
    // final name makes the no-clobber rename fail rather than write through it.
    let shown = repo.join(file);
    let repo = &repo
        .canonicalize()
        .map_err(|e| environment(format!("cannot resolve repository `{}`: {e}", repo.display())))?;
    let target = repo.join(file);
    let mut tmp = crate::interrupt::create_tracked(
        || tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(repo),
        |t| vec![t.path().to_path_buf()],
    )
    .map_err(|e| environment(format!("cannot write in repository `{}`: {e}", repo.display())))?;
    let _untrack = Untrack(tmp.path().to_path_buf());
    let mut src = File::open(stored)?;
    std::io::copy(&mut src, tmp.as_file_mut())
        .map_err(|e| environment(format!("writing to `{}`: {e}", repo.display())))?;
    tmp.as_file().sync_all().map_err(|e| environment(format!("syncing a copy in `{}`: {e}", repo.display())))?;
    let copied = sha256_file(tmp.path())?;
    if copied != sha256 {
        return Err(
            environment(format!("the copy in `{}` does not match the snapshot's checksum", repo.display())).into()
        );
    }
    tmp.persist_noclobber(&target)
        .map_err(|e| environment(format!("cannot name the copy `{}`: {}", target.display(), e.error)))?;
    let json = serde_json::to_string_pretty(manifest)?;
    let mut mtmp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(repo)?;
    mtmp.write_all(json.as_bytes())?;
    mtmp.as_file().sync_all()?;
    mtmp.persist(manifest::path_for(&target)).context("naming the manifest")?;
    sync_dir(repo);
    Ok(shown)
}
