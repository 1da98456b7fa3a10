//! Taking a backup of a live database into one or more repositories, with a manifest.
//!
//! The snapshot is the engine's (`Engine::take_backup`: SQLite `VACUUM INTO`, PostgreSQL
//! `pg_dump -Fc`, both consistent while the application writes); storing and describing it is
//! the same for every engine, and is this module's.
//!
//! Invariants: a copy appears under its final name only complete, fsynced and checksummed (written
//! under a temporary name in the repository, re-read and hashed, then renamed); the manifest is
//! written the same way after the copy; a repository that fails does not stop the others, and the
//! command then fails naming it; the manifest's `source` never holds a password.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::catalog::manifest::{self, Manifest, ManifestTable};
use crate::engine::{Location, TableFacts, TakenBackup, registry};
use crate::error::{environment, usage};
use crate::output::Output;
use crate::util::compress::Compression;
use crate::util::fs::{TEMP_PREFIX, sync_dir};
use crate::util::hash::{sha256_dir, sha256_file};

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

impl CopyOutcome {
    /// The outcome of storing one copy in `repo`.
    fn of(repo: &Path, stored: Result<PathBuf>) -> CopyOutcome {
        match stored {
            Ok(path) => CopyOutcome { repository: repo.to_path_buf(), path: Some(path), error: None },
            Err(e) => CopyOutcome { repository: repo.to_path_buf(), path: None, error: Some(format!("{e:#}")) },
        }
    }
}

impl BackupReport {
    pub fn failed(&self) -> Vec<&CopyOutcome> {
        self.copies.iter().filter(|c| c.error.is_some()).collect()
    }
}

/// Takes one backup of `live` and stores a copy in every repository. Errors (before any copy):
/// `Usage` without repositories, `BadInput`/`Environment` when live cannot be read. Per-repository
/// failures are reported in `copies`, not as an error.
pub fn take(
    live: &Location,
    repos: &[PathBuf],
    compression: Compression,
    base: bool,
    out: &Output,
) -> Result<BackupReport> {
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
    let engine = registry::for_location(live);
    if base {
        let snap = engine.take_base_backup(live, compression, work.path(), out)?;
        return store_base(snap, repos, compression, started);
    }
    let snap = engine.take_backup(live, compression, work.path(), out)?;
    let file = free_file_name(&snap.stem, snap.taken_at, &snap.ext, repos);
    let sha256 = sha256_file(&snap.stored)?;
    let content_sha256 = if snap.content == snap.stored { sha256.clone() } else { sha256_file(&snap.content)? };
    let size = std::fs::metadata(&snap.stored)?.len();
    let manifest = Manifest {
        manifest_version: 1,
        taken_at: snap.taken_at,
        engine: Some(snap.engine.into()),
        source: Some(crate::redact::connection_string(&snap.source)),
        file: Some(file.clone()),
        compression: (compression != Compression::None).then(|| format!("{compression:?}").to_lowercase()),
        size: Some(size),
        sha256: Some(sha256.clone()),
        content_sha256: Some(content_sha256),
        tables: snap.tables.iter().map(|t| ManifestTable { name: t.name.clone(), rows: t.rows.unwrap_or(0) }).collect(),
        lastgood_version: Some(env!("CARGO_PKG_VERSION").into()),
    };
    let copies = repos
        .iter()
        .map(|repo| CopyOutcome::of(repo, store_copy(&snap.stored, repo, &file, &sha256, &manifest)))
        .collect();
    Ok(BackupReport {
        taken_at: snap.taken_at,
        source: manifest.source.clone().unwrap_or_default(),
        file,
        compression,
        size,
        sha256,
        tables: snap.tables,
        copies,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Stores a base backup (a flat folder: `Engine::take_base_backup`) in every repository as
/// `base/<stem>-<taken at>/`. Its own manifest (`backup_manifest`, checked by the engine's verify)
/// stands in for lastgood's; `sha256` is `sha256_dir` of the folder.
fn store_base(
    snap: TakenBackup,
    repos: &[PathBuf],
    compression: Compression,
    started: std::time::Instant,
) -> Result<BackupReport> {
    let sub: Vec<PathBuf> = repos.iter().map(|r| r.join(BASE_FOLDER)).collect();
    let name = free_file_name(&snap.stem, snap.taken_at, &snap.ext, &sub);
    let sha256 = sha256_dir(&snap.stored)?;
    let size = files_of(&snap.stored)?.iter().map(|f| f.metadata().map(|m| m.len()).unwrap_or(0)).sum();
    let copies =
        repos.iter().map(|repo| CopyOutcome::of(repo, store_tree(&snap.stored, repo, &name, &sha256))).collect();
    Ok(BackupReport {
        taken_at: snap.taken_at,
        source: crate::redact::connection_string(&snap.source),
        file: format!("{BASE_FOLDER}/{name}"),
        compression,
        size,
        sha256,
        tables: snap.tables,
        copies,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The folder of a repository that holds base backups.
pub const BASE_FOLDER: &str = "base";

/// The files of a flat folder, sorted.
fn files_of(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| environment(format!("cannot read `{}`: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    Ok(files)
}

/// Copies the flat folder `src` into `repo/base/` under a temporary name, fsyncs every file and
/// the folder, checks the copy's `sha256_dir` against `sha256`, then names it `name` (never over
/// an existing folder) and fsyncs `base/`.
fn store_tree(src: &Path, repo: &Path, name: &str, sha256: &str) -> Result<PathBuf> {
    let shown = repo.join(BASE_FOLDER).join(name);
    let repo = &canonical_repo(repo)?;
    let parent = repo.join(BASE_FOLDER);
    std::fs::create_dir_all(&parent).map_err(|e| environment(format!("cannot create `{}`: {e}", parent.display())))?;
    sync_dir(repo);
    let tmp = crate::interrupt::create_tracked(
        || tempfile::Builder::new().prefix(TEMP_PREFIX).tempdir_in(&parent),
        |t| vec![t.path().to_path_buf()],
    )
    .map_err(|e| environment(format!("cannot write in repository `{}`: {e}", repo.display())))?;
    let _untrack = Untrack(tmp.path().to_path_buf());
    for f in files_of(src)? {
        let to = tmp.path().join(f.file_name().unwrap_or_default());
        std::fs::copy(&f, &to).map_err(|e| environment(format!("writing to `{}`: {e}", parent.display())))?;
        File::open(&to)
            .and_then(|c| c.sync_all())
            .map_err(|e| environment(format!("syncing a copy in `{}`: {e}", parent.display())))?;
    }
    sync_dir(tmp.path());
    if sha256_dir(tmp.path())? != sha256 {
        return Err(environment(format!(
            "the copy in `{}` does not match the base backup's checksum",
            parent.display()
        ))
        .into());
    }
    let target = parent.join(name);
    if std::fs::symlink_metadata(&target).is_ok() {
        return Err(environment(format!("`{}` appeared while the copy was written", target.display())).into());
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, &target).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        environment(format!("cannot name the copy `{}`: {e}", target.display()))
    })?;
    sync_dir(&parent);
    Ok(shown)
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

/// Stops tracking a temporary file for Ctrl-C cleanup when dropped.
struct Untrack(PathBuf);

impl Drop for Untrack {
    fn drop(&mut self) {
        crate::interrupt::untrack(&self.0);
    }
}

/// The repository's canonical path, where copies are written (no write goes through a link).
/// Errors: `Environment` for a repository that is not a reachable folder.
fn canonical_repo(repo: &Path) -> Result<PathBuf> {
    if !repo.is_dir() {
        return Err(environment(format!("repository `{}` is not a reachable folder", repo.display())).into());
    }
    repo.canonicalize().map_err(|e| environment(format!("cannot resolve repository `{}`: {e}", repo.display())).into())
}

/// Writes one copy into `repo` under a temporary name, fsyncs it, re-reads it to check the
/// checksum, renames it to `file`, then writes the manifest beside it the same way.
fn store_copy(stored: &Path, repo: &Path, file: &str, sha256: &str, manifest: &Manifest) -> Result<PathBuf> {
    // Written below the canonical root, so that no write goes through a link; a link already at the
    // final name makes the no-clobber rename fail rather than write through it.
    let shown = repo.join(file);
    let repo = &canonical_repo(repo)?;
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
