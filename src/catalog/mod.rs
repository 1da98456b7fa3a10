//! The catalog: every backup in every repository, with its facts and its copies.
//!
//! A repository is a folder scanned recursively. Files are recognised by content (`format.rs`);
//! facts (checksum, taken-at and where it came from, tables and row counts, any problem) come from
//! the file itself, its manifest (`manifest.rs`) and its name, and are cached per repository
//! (`cache.rs`). Files with the same sha256 are one backup with several copies.
//!
//! A file whose content is not recognised is still a backup, listed with its `problem`, when a
//! manifest beside it declares it, when it is a gzip/zstd stream (named like a backup) that fails
//! to decode, or when it is named `.gz`/`.zst` without that stream's header; other files named like
//! backups are listed as `ignored`.
//!
//! Invariants: scanning never writes into a repository except its `.lastgood/` cache; a damaged
//! backup is listed with its `problem`, never dropped silently; backups are sorted by taken-at
//! (then id), oldest first.

pub mod cache;
pub mod format;
pub mod manifest;
pub mod pgdump;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::sqlite::SqliteDb;
use crate::engine::{Database, SkippedTable};
use crate::error::{bad_input, environment, usage};
use crate::output::Output;
use format::{Compression, Format, Sniff};

/// Marker file that makes the catalog skip a folder (lastgood's own scratch folders carry it).
pub const SKIP_MARKER: &str = ".lastgood-scratch";

/// Where a backup's taken-at time came from, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TakenAtSource {
    /// The creation time a pg_dump archive records in its own header (or a plain dump's
    /// "Started on" comment).
    Archive,
    Manifest,
    FileName,
    Mtime,
}

impl TakenAtSource {
    pub fn label(self) -> &'static str {
        match self {
            TakenAtSource::Archive => "archive",
            TakenAtSource::Manifest => "manifest",
            TakenAtSource::FileName => "file name",
            TakenAtSource::Mtime => "mtime",
        }
    }
}

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

/// What lastgood learned from one file; cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileFacts {
    pub format: Format,
    pub compression: Compression,
    pub sha256: String,
    pub taken_at: DateTime<Utc>,
    pub taken_at_source: TakenAtSource,
    pub tables: Vec<TableFacts>,
    /// Virtual, shadow and foreign tables: not counted, not restorable one by one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_tables: Vec<SkippedTable>,
    /// Why this file cannot be used as a backup, if it cannot.
    pub problem: Option<String>,
    /// The live database it was taken from, per its manifest (password-free).
    pub source: Option<String>,
    /// pg_dump archives: database name, versions, compression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<pgdump::ArchiveInfo>,
}

/// One place where a backup's bytes are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copy {
    pub repository: PathBuf,
    pub path: PathBuf,
    pub size: u64,
}

/// One backup: distinct content, possibly stored in several repositories.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backup {
    /// Short stable id: the first 10 hex digits of the sha256.
    pub id: String,
    pub sha256: String,
    pub format: Format,
    pub compression: Compression,
    pub taken_at: DateTime<Utc>,
    pub taken_at_source: TakenAtSource,
    pub size: u64,
    pub tables: Vec<TableFacts>,
    /// Virtual, shadow and foreign tables (see `engine::SkippedTable`): listed, never counted.
    pub skipped_tables: Vec<SkippedTable>,
    pub copies: Vec<Copy>,
    pub problem: Option<String>,
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<pgdump::ArchiveInfo>,
    /// Files with the same name as one of this backup's copies, in another repository, whose
    /// content differs: a copy was damaged or replaced.
    pub differing_copies: Vec<PathBuf>,
}

impl Backup {
    /// The first copy, which restores read from.
    pub fn primary(&self) -> &Copy {
        &self.copies[0]
    }

    /// The table named `name`; in a pg_dump archive a bare name means `public.name`.
    pub fn table(&self, name: &str) -> Option<&TableFacts> {
        let in_public = format!("public.{name}");
        self.tables
            .iter()
            .find(|t| t.name == name)
            .or_else(|| if self.format.is_postgres() { self.tables.iter().find(|t| t.name == in_public) } else { None })
    }

    /// Refuses (`BadInput`) the first of `names` that is one of this backup's skipped tables;
    /// `what` says what was asked (see `SkippedTable::refusal`).
    pub fn refuse_skipped(&self, names: &[String], what: &str) -> Result<()> {
        match names.iter().find_map(|n| self.skipped_table(n)) {
            Some(t) => Err(t.refusal(what)),
            None => Ok(()),
        }
    }

    /// The skipped table named `name` (see `table` for bare names in pg_dump archives).
    pub fn skipped_table(&self, name: &str) -> Option<&SkippedTable> {
        let in_public = format!("public.{name}");
        let pg = self.format.is_postgres();
        self.skipped_tables.iter().find(|t| t.name == name || (pg && t.name == in_public))
    }
}

/// All backups found, oldest first, and what was passed over.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    pub repositories: Vec<PathBuf>,
    pub backups: Vec<Backup>,
    /// Files that look like backups by name but are not (empty, wrong content).
    pub ignored: Vec<Ignored>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ignored {
    pub path: PathBuf,
    pub reason: String,
}

/// Names that suggest a backup; such files are reported when their content is not one.
const BACKUP_LIKE: [&str; 12] =
    ["db", "sqlite", "sqlite3", "db3", "gz", "zst", "bak", "backup", "dump", "sql", "tar", "pgdump"];

impl Catalog {
    /// Scans `repos`. Errors: `Environment` if a repository cannot be read, `Usage` if none is
    /// given.
    pub fn scan(repos: &[PathBuf], out: &Output) -> Result<Catalog> {
        if repos.is_empty() {
            return Err(usage("no repository given")
                .hint("pass --repo DIR (repeatable) or set LASTGOOD_REPO=dir1:dir2")
                .into());
        }
        let mut by_sha: BTreeMap<String, Backup> = BTreeMap::new();
        let mut ignored = Vec::new();
        let mut scanned: Vec<PathBuf> = Vec::new();
        for repo in repos {
            // The same folder given twice (or by two spellings) is scanned once: its files are not
            // copies of themselves.
            let canonical = repo.canonicalize().unwrap_or_else(|_| repo.clone());
            if scanned.contains(&canonical) {
                continue;
            }
            scanned.push(canonical);
            let files = list_files(repo)?;
            let mut cache = cache::Cache::open(repo);
            let bar = out.count_bar(files.len() as u64, &format!("scanning {}", repo.display()));
            for (path, meta) in files {
                bar.inc(1);
                if let Some(backup) = scan_file(repo, &path, &meta, &mut cache, &mut ignored)? {
                    merge_copy(&mut by_sha, backup);
                }
            }
            bar.finish_and_clear();
            cache.save();
        }
        let mut backups: Vec<Backup> = by_sha.into_values().collect();
        flag_differing_copies(&mut backups);
        backups.sort_by(|a, b| a.taken_at.cmp(&b.taken_at).then(a.id.cmp(&b.id)));
        Ok(Catalog { repositories: repos.to_vec(), backups, ignored })
    }

    /// Finds a backup by selector: an id prefix, `latest`, `latest~N`, or the path of one of its
    /// copies. Errors: `BadInput` when nothing or more than one backup matches.
    pub fn select(&self, selector: &str) -> Result<&Backup> {
        if let Some(n) = selector.strip_prefix("latest") {
            let back: usize = match n.strip_prefix('~') {
                Some(k) => k.parse().map_err(|_| {
                    usage(format!("bad backup selector `{selector}`"))
                        .hint("use latest, latest~N, an id prefix or a path")
                })?,
                None if n.is_empty() => 0,
                None => {
                    return Err(usage(format!("bad backup selector `{selector}`"))
                        .hint("use latest, latest~N, an id prefix or a path")
                        .into());
                }
            };
            let len = self.backups.len();
            return self
                .backups
                .get(len.wrapping_sub(1 + back))
                .ok_or_else(|| bad_input(format!("no backup `{selector}`: the catalog holds {len} backup(s)")).into());
        }
        let as_path = Path::new(selector);
        if as_path.exists()
            && let Some(b) =
                self.backups.iter().find(|b| b.copies.iter().any(|c| crate::engine::same_file(&c.path, as_path)))
        {
            return Ok(b);
        }
        if as_path.is_file() {
            return Err(self.not_a_catalogued_path(as_path).into());
        }
        let lower = selector.to_ascii_lowercase();
        let matches: Vec<&Backup> = self.backups.iter().filter(|b| b.sha256.starts_with(&lower)).collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] => {
                Err(bad_input(format!("no backup matches `{selector}` in {} repository(ies)", self.repositories.len()))
                    .hint("run `lastgood catalog` to list backup ids")
                    .into())
            }
            many => Err(bad_input(format!("`{selector}` matches {} backups", many.len()))
                .hint("give more digits of the id")
                .into()),
        }
    }

    /// Why an existing file given as a backup selector is not one of the catalog's backups.
    fn not_a_catalogued_path(&self, path: &Path) -> crate::error::Failure {
        match self.ignored.iter().find(|i| crate::engine::same_file(&i.path, path)) {
            Some(i) => bad_input(format!("`{}` is not a backup: {}", path.display(), i.reason)),
            None if let Ok(Sniff::Empty) = format::sniff(path) => {
                bad_input(format!("`{}` is not a backup: empty file (0 bytes)", path.display()))
            }
            None if let Ok(Sniff::NotABackup) = format::sniff(path) => bad_input(format!(
                "`{}` is not a backup: not a SQLite database (no `SQLite format 3` header)",
                path.display()
            )),
            None => bad_input(format!(
                "`{}` is not in any repository given ({})",
                path.display(),
                self.repositories.iter().map(|r| format!("`{}`", r.display())).collect::<Vec<_>>().join(", ")
            ))
            .hint("add its folder with --repo"),
        }
    }

    /// The newest usable backup taken at or before `at`, with the backups passed over because
    /// they have problems. Errors: `BadInput` when every backup is newer than `at`.
    pub fn newest_at_or_before(&self, at: DateTime<Utc>) -> Result<(&Backup, Vec<&Backup>)> {
        let mut skipped = Vec::new();
        for b in self.backups.iter().rev().filter(|b| b.taken_at <= at) {
            if b.problem.is_some() {
                skipped.push(b);
                continue;
            }
            return Ok((b, skipped));
        }
        let oldest = self.backups.first().map(|b| crate::time::show(b.taken_at));
        let msg = match (oldest, skipped.is_empty()) {
            (None, _) => "the catalog holds no backup".to_string(),
            (Some(_), false) => format!("every backup taken at or before {} is damaged", crate::time::show(at)),
            (Some(o), true) => {
                format!("no backup taken at or before {}: the oldest is from {o}", crate::time::show(at))
            }
        };
        Err(bad_input(msg).hint("pick a later --at, or list backups with `lastgood catalog`").into())
    }
}

/// Marks backups whose copies (same file name in several repositories) differ in content.
fn flag_differing_copies(backups: &mut [Backup]) {
    let mut by_name: BTreeMap<std::ffi::OsString, Vec<(usize, PathBuf)>> = BTreeMap::new();
    for (i, b) in backups.iter().enumerate() {
        for c in &b.copies {
            if let Some(name) = c.path.file_name() {
                by_name.entry(name.to_owned()).or_default().push((i, c.path.clone()));
            }
        }
    }
    for entries in by_name.values() {
        for (i, _) in entries {
            let others = entries.iter().filter(|(j, _)| j != i).map(|(_, p)| p.clone());
            backups[*i].differing_copies.extend(others);
        }
    }
}

fn merge_copy(by_sha: &mut BTreeMap<String, Backup>, new: Backup) {
    match by_sha.get_mut(&new.sha256) {
        None => {
            by_sha.insert(new.sha256.clone(), new);
        }
        Some(b) if b.problem.is_some() && new.problem.is_none() => {
            // Copies hold the same bytes, so their problems can differ only by their manifests
            // (checksum, taken-at): a healthy copy's facts win, and it becomes the primary copy.
            let mut new = new;
            new.copies.append(&mut b.copies);
            new.source = new.source.or(b.source.take());
            *b = new;
        }
        Some(b) => {
            // Best-sourced taken-at of a healthy copy wins (manifest > name > mtime); then the
            // earliest.
            if new.problem.is_none() && (new.taken_at_source, new.taken_at) < (b.taken_at_source, b.taken_at) {
                b.taken_at = new.taken_at;
                b.taken_at_source = new.taken_at_source;
            }
            b.source = b.source.take().or(new.source.clone());
            b.archive = b.archive.take().or(new.archive.clone());
            b.copies.extend(new.copies);
        }
    }
}

/// Every regular file under `repo`, skipping lastgood's own folders and SQLite side files.
fn list_files(repo: &Path) -> Result<Vec<(PathBuf, fs::Metadata)>> {
    let meta = fs::metadata(repo).map_err(|e| {
        environment(format!("cannot read repository `{}`: {e}", repo.display()))
            .hint("check the path given to --repo / LASTGOOD_REPO")
    })?;
    if !meta.is_dir() {
        return Err(environment(format!("repository `{}` is not a directory", repo.display())).into());
    }
    let mut out = Vec::new();
    let mut stack = vec![repo.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir)
            .map_err(|e| environment(format!("cannot read repository folder `{}`: {e}", dir.display())))?;
        if dir.join(SKIP_MARKER).exists() {
            continue;
        }
        for entry in entries {
            let entry = entry.with_context(|| format!("listing `{}`", dir.display()))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            let ft = entry.file_type()?;
            if ft.is_dir() {
                if path.join("toc.dat").is_file() {
                    // A pg_dump directory archive: one backup, not a folder to descend into.
                    out.push((path, entry.metadata()?));
                } else if name != cache::DIR {
                    stack.push(path);
                }
            } else if ft.is_file()
                && !is_side_file(&name)
                && !manifest::is_manifest(&path)
                && !name.starts_with(".lastgood-tmp")
            {
                out.push((path, entry.metadata()?));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn is_side_file(name: &str) -> bool {
    name.ends_with("-wal") || name.ends_with("-shm") || name.ends_with("-journal")
}

fn mtime_ns(meta: &fs::Metadata) -> i64 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

fn scan_file(
    repo: &Path,
    path: &Path,
    meta: &fs::Metadata,
    cache: &mut cache::Cache,
    ignored: &mut Vec<Ignored>,
) -> Result<Option<Backup>> {
    let rel = path.strip_prefix(repo).unwrap_or(path).to_string_lossy().into_owned();
    let manifest_mtime = fs::metadata(manifest::path_for(path)).map(|m| mtime_ns(&m)).unwrap_or(0);
    let (size, mtime) = if meta.is_dir() { dir_stamp(path)? } else { (meta.len(), mtime_ns(meta)) };
    let stamp = cache::Stamp { size, mtime_ns: mtime, manifest_mtime_ns: manifest_mtime };
    let facts = match cache.get(&rel, stamp) {
        Some(f) => f,
        None => match inspect(path, meta)? {
            Inspected::Backup(f) => {
                cache.put(&rel, stamp, (*f).clone());
                *f
            }
            Inspected::Ignored(reason) => {
                if looks_like_backup(path) {
                    ignored.push(Ignored { path: path.to_path_buf(), reason });
                }
                return Ok(None);
            }
        },
    };
    Ok(Some(Backup {
        id: facts.sha256[..10].to_string(),
        sha256: facts.sha256,
        format: facts.format,
        compression: facts.compression,
        taken_at: facts.taken_at,
        taken_at_source: facts.taken_at_source,
        size,
        tables: facts.tables,
        skipped_tables: facts.skipped_tables,
        copies: vec![Copy { repository: repo.to_path_buf(), path: path.to_path_buf(), size }],
        problem: facts.problem,
        source: facts.source,
        archive: facts.archive,
        differing_copies: Vec::new(),
    }))
}

/// Total size and newest mtime of the files in a directory archive (its cache key).
fn dir_stamp(dir: &Path) -> Result<(u64, i64)> {
    let (mut size, mut mtime) = (0, 0);
    for e in fs::read_dir(dir).map_err(|e| environment(format!("cannot read `{}`: {e}", dir.display())))? {
        let m = e?.metadata()?;
        if m.is_file() {
            size += m.len();
            mtime = mtime.max(mtime_ns(&m));
        }
    }
    Ok((size, mtime))
}

fn looks_like_backup(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| BACKUP_LIKE.contains(&e.to_ascii_lowercase().as_str()))
}

/// The result of reading one file.
pub enum Inspected {
    Backup(Box<FileFacts>),
    Ignored(String),
}

/// Reads one file's facts: format, checksum, taken-at, tables and row counts, problems.
///
/// A file whose content is not recognised is a damaged backup, not "not a backup", when a
/// manifest beside it declares it, or when it is a gzip/zstd stream that fails to decode and is
/// named like a backup; its format is then guessed from the manifest's engine and its name.
pub fn inspect(path: &Path, meta: &fs::Metadata) -> Result<Inspected> {
    let manifest = manifest::read_for(path);
    let (format, compression, undecodable) = if meta.is_dir() {
        (Format::PgDirectory, Compression::None, None)
    } else {
        let declared = !matches!(manifest, Ok(None));
        let engine = manifest.as_ref().ok().and_then(|m| m.as_ref()).and_then(|m| m.engine.clone());
        let guess = |c| guess_format(path, c, engine.as_deref());
        match format::sniff(path)? {
            Sniff::Backup(f, c) => (f, c, None),
            Sniff::Damaged(c, why) if declared || looks_like_backup(path) => (guess(c), c, Some(why)),
            Sniff::Damaged(_, why) => return Ok(Inspected::Ignored(why)),
            Sniff::Empty if declared => {
                (guess(Compression::None), Compression::None, Some(format!("`{}` is empty (0 bytes)", path.display())))
            }
            Sniff::Empty => return Ok(Inspected::Ignored("empty file (0 bytes)".into())),
            Sniff::NotABackup if declared => {
                let c = format::compression_of_file(path)?;
                let f = guess(c);
                (f, c, Some(not_this_format(path, f, c)))
            }
            Sniff::NotABackup
                if let Some(c) = named_compressed(path)
                    && format::compression_of_file(path)? == Compression::None =>
            {
                // Named `.gz`/`.zst` but not even the stream's magic bytes: a damaged backup.
                let kind = if c == Compression::Gzip { "gzip" } else { "zstd" };
                (guess(c), c, Some(format!("`{}` is not a {kind} stream (no {kind} header)", path.display())))
            }
            Sniff::NotABackup => {
                // Also not a pg_dump archive; the SQLite wording is what operators grep for.
                return Ok(Inspected::Ignored("not a SQLite database (no `SQLite format 3` header)".into()));
            }
        }
    };
    let read = match undecodable {
        Some(why) => ArchiveRead {
            sha256: format::sha256_file(path)?,
            problem: Some(why),
            tables: Vec::new(),
            skipped_tables: Vec::new(),
            archive: None,
            created: None,
        },
        None if format.is_postgres() => pg_facts(path, format, compression)?,
        None => sqlite_facts(path, compression)?,
    };
    let ArchiveRead { sha256, mut problem, tables, skipped_tables, archive, created } = read;
    let (mut taken_at, mut source_kind) = match created {
        Some(t) => (Some(t), TakenAtSource::Archive),
        None => (None, TakenAtSource::Mtime),
    };
    let mut source = None;
    match manifest {
        Ok(Some(m)) => {
            if let Some(expected) = &m.sha256
                && !expected.eq_ignore_ascii_case(&sha256)
            {
                let differs = format!(
                    "checksum differs from its manifest (manifest {}…, file {}…)",
                    &expected[..expected.len().min(12)],
                    &sha256[..12]
                );
                problem = Some(match problem {
                    Some(p) => format!("{p}; {differs}"),
                    None => differs,
                });
            }
            if taken_at.is_none() {
                taken_at = Some(m.taken_at);
                source_kind = TakenAtSource::Manifest;
            }
            source = m.source.map(|s| crate::redact::connection_string(&s));
        }
        Ok(None) => {}
        Err(e) => problem = problem.or(Some(format!("{e:#}"))),
    }
    if taken_at.is_none() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(t) = crate::time::timestamp_in_name(&name) {
            taken_at = Some(t);
            source_kind = TakenAtSource::FileName;
        }
    }
    let taken_at = taken_at.unwrap_or_else(|| DateTime::<Utc>::from(meta.modified().unwrap_or(UNIX_EPOCH)));
    Ok(Inspected::Backup(Box::new(FileFacts {
        format,
        compression,
        sha256,
        taken_at,
        taken_at_source: source_kind,
        tables,
        skipped_tables,
        problem,
        source,
        archive,
    })))
}

/// The format of a backup whose content cannot tell: the manifest's engine, then the name
/// (`.sql` plain dump, `.dump`/`.pgdump` custom, `.tar` tar archive; anything else SQLite).
fn guess_format(path: &Path, compression: Compression, engine: Option<&str>) -> Format {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let name = name.trim_end_matches(".gz").trim_end_matches(".zst");
    let by_name = if name.ends_with(".sql") {
        Some(Format::PgPlain)
    } else if compression != Compression::None {
        None // only SQLite files and plain dumps are found compressed
    } else if name.ends_with(".dump") || name.ends_with(".pgdump") {
        Some(Format::PgCustom)
    } else if name.ends_with(".tar") {
        Some(Format::PgTar)
    } else {
        None
    };
    match (engine, by_name) {
        (Some("sqlite"), _) => Format::Sqlite,
        (_, Some(f)) => f,
        (Some("postgres"), None) if compression != Compression::None => Format::PgPlain,
        (Some("postgres"), None) => Format::PgCustom,
        _ => Format::Sqlite,
    }
}

/// The compression a file's name promises (`.gz`, `.zst`), if any.
fn named_compressed(path: &Path) -> Option<Compression> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "gz" => Some(Compression::Gzip),
        "zst" => Some(Compression::Zstd),
        _ => None,
    }
}

/// Why a file declared a backup of `format` is not one, naming the file.
fn not_this_format(path: &Path, format: Format, compression: Compression) -> String {
    let p = path.display();
    match (format, compression) {
        (Format::Sqlite, Compression::None) => format!("`{p}` is not a SQLite database (no `SQLite format 3` header)"),
        (Format::Sqlite, _) => format!("`{p}` does not decompress to a SQLite database"),
        (Format::PgPlain, Compression::None) => {
            format!("`{p}` is not a pg_dump plain dump (no `-- PostgreSQL database dump` header)")
        }
        (Format::PgPlain, _) => format!("`{p}` does not decompress to a pg_dump plain dump"),
        (Format::PgTar, _) => format!("`{p}` is not a pg_dump tar archive (no `toc.dat` first member)"),
        _ => format!("`{p}` is not a pg_dump archive (no PGDMP header)"),
    }
}

/// What reading one backup's content yielded.
struct ArchiveRead {
    sha256: String,
    problem: Option<String>,
    tables: Vec<TableFacts>,
    skipped_tables: Vec<SkippedTable>,
    archive: Option<pgdump::ArchiveInfo>,
    created: Option<DateTime<Utc>>,
}

fn sqlite_facts(path: &Path, compression: Compression) -> Result<ArchiveRead> {
    let (sha256, problem, (tables, skipped_tables)) = match open_backup_file(path, compression) {
        Ok(opened) => {
            let tables = opened.open_db().and_then(|mut db| read_tables(&mut db));
            match tables {
                Ok(t) => (opened.sha256, None, t),
                Err(e) => (opened.sha256, Some(format!("{e:#}")), Default::default()),
            }
        }
        Err(e) => (format::sha256_file(path)?, Some(format!("{e:#}")), Default::default()),
    };
    Ok(ArchiveRead { sha256, problem, tables, skipped_tables, archive: None, created: None })
}

/// Reads a pg_dump archive's header and TOC (or a plain dump's text); a damaged archive is kept
/// with its problem.
fn pg_facts(path: &Path, format: Format, compression: Compression) -> Result<ArchiveRead> {
    let sha256 = if format == Format::PgDirectory { sha256_dir(path)? } else { format::sha256_file(path)? };
    let read = match format {
        Format::PgPlain => plain_facts(path, compression),
        Format::PgCustom => pgdump::read_custom(path).map(archive_facts),
        Format::PgTar => pgdump::read_tar(path).map(archive_facts),
        _ => pgdump::read_directory(path).map(archive_facts),
    };
    Ok(match read {
        Ok((tables, skipped_tables, archive, created)) => {
            ArchiveRead { sha256, problem: None, tables, skipped_tables, archive: Some(archive), created }
        }
        Err(e) => ArchiveRead {
            sha256,
            problem: Some(format!("{e:#}")),
            tables: Vec::new(),
            skipped_tables: Vec::new(),
            archive: None,
            created: None,
        },
    })
}

type PgFacts = (Vec<TableFacts>, Vec<SkippedTable>, pgdump::ArchiveInfo, Option<DateTime<Utc>>);

fn archive_facts(a: pgdump::Archive) -> PgFacts {
    let tables = a.tables().into_iter().map(|name| TableFacts { name, rows: None }).collect();
    (tables, a.foreign_tables(), a.info, a.created)
}

fn plain_facts(path: &Path, compression: Compression) -> Result<PgFacts> {
    let f = fs::File::open(path).map_err(|e| environment(format!("cannot read `{}`: {e}", path.display())))?;
    let p = pgdump::read_plain_dump(format::decoder(compression, f)?, path)?;
    let tables = p.tables.into_iter().map(|(name, rows)| TableFacts { name, rows: Some(rows) }).collect();
    let info = pgdump::ArchiveInfo {
        archive_version: "plain".to_string(),
        dbname: p.dbname,
        server_version: p.server_version,
        pg_dump_version: p.pg_dump_version,
        compression: format!("{compression:?}").to_lowercase(),
    };
    Ok((tables, Vec::new(), info, p.started))
}

/// sha256 over a directory archive: each file's name and bytes, in name order.
pub fn sha256_dir(dir: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| environment(format!("cannot read `{}`: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    let mut h = Sha256::new();
    for p in names {
        h.update(p.file_name().unwrap_or_default().as_encoded_bytes());
        h.update([0]);
        h.update(format::sha256_file(&p)?.as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

/// The ordinary tables with their row counts, and the skipped ones (never counted: counting a
/// virtual table runs its module).
fn read_tables(db: &mut SqliteDb) -> Result<(Vec<TableFacts>, Vec<SkippedTable>)> {
    let names = db.tables()?;
    let tables: Result<Vec<TableFacts>> =
        names.into_iter().map(|name| Ok(TableFacts { rows: Some(db.row_count(&name)?), name })).collect();
    Ok((tables?, db.skipped_tables()?))
}

/// A backup's bytes as a plain SQLite file: the file itself, or a decompressed temporary copy
/// that is deleted when this value is dropped.
pub struct OpenedBackup {
    path: PathBuf,
    /// The stored backup file, which messages name.
    source: PathBuf,
    _temp: Option<tempfile::TempPath>,
    _dir: Option<tempfile::TempDir>,
    _pending: Option<crate::interrupt::Pending>,
    /// sha256 of the stored file (compressed bytes when compressed).
    pub sha256: String,
}

impl OpenedBackup {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the readable file, read-only; errors name the stored backup, not a temporary copy.
    pub fn open_db(&self) -> Result<SqliteDb> {
        SqliteDb::open_backup_as(&self.path, &self.source)
    }
}

/// Makes a stored backup readable by SQLite, decompressing into a temporary file when needed.
/// Errors: `BadInput` for a file that is not SQLite or is shorter than its header says
/// (truncated), `Environment` when it cannot be read.
pub fn open_backup_file(path: &Path, compression: Compression) -> Result<OpenedBackup> {
    open_backup_file_with(path, compression, |_| {})
}

/// As `open_backup_file`, reporting each chunk of stored bytes read to `progress`.
pub fn open_backup_file_with(
    path: &Path,
    compression: Compression,
    progress: impl FnMut(u64) + 'static,
) -> Result<OpenedBackup> {
    if compression == Compression::None {
        crate::engine::sqlite::check_header(path)?;
        if crate::engine::sqlite::wal_beside(path) {
            return open_with_wal(path);
        }
        crate::engine::sqlite::check_complete(path, path)?;
        return Ok(OpenedBackup {
            path: path.to_path_buf(),
            source: path.to_path_buf(),
            _temp: None,
            _dir: None,
            _pending: None,
            sha256: format::sha256_file(path)?,
        });
    }
    let (pending, mut tmp) = crate::interrupt::Pending::create(
        || tempfile::Builder::new().prefix("lastgood-").suffix(".db").tempfile(),
        |t| t.path(),
    )
    .map_err(|e| environment(format!("cannot create a temporary file to decompress `{}`: {e}", path.display())))?;
    let sha256 = format::decompress_into(path, compression, tmp.as_file_mut(), progress)?;
    let temp = tmp.into_temp_path();
    crate::engine::sqlite::check_header(&temp)
        .map_err(|_| bad_input(format!("`{}` does not decompress to a SQLite database", path.display())))?;
    crate::engine::sqlite::check_complete(&temp, path)?;
    Ok(OpenedBackup {
        path: temp.to_path_buf(),
        source: path.to_path_buf(),
        _temp: Some(temp),
        _dir: None,
        _pending: Some(pending),
        sha256,
    })
}

/// A backup with a `-wal` file beside it (a live WAL database copied with its WAL). SQLite reads
/// the WAL's committed pages only through a `-shm` file, which it would create in the repository
/// (or fail to, on read-only media), so both files are copied into a temporary folder and read
/// there. The sha256 is that of the main file, as the catalog records it.
fn open_with_wal(path: &Path) -> Result<OpenedBackup> {
    let (pending, dir) =
        crate::interrupt::Pending::create(|| tempfile::Builder::new().prefix("lastgood-").tempdir(), |d| d.path())
            .map_err(|e| environment(format!("cannot create a temporary folder to read `{}`: {e}", path.display())))?;
    let main = dir.path().join("backup.db");
    let copy_err =
        |e: std::io::Error| environment(format!("cannot copy `{}` to a temporary folder: {e}", path.display()));
    let src = fs::File::open(path).map_err(copy_err)?;
    let mut hashing = format::HashingReader::new(src);
    std::io::copy(&mut hashing, &mut fs::File::create(&main).map_err(copy_err)?).map_err(copy_err)?;
    let sha256 = hashing.finish();
    use crate::engine::sqlite::side_file;
    fs::copy(side_file(path, "-wal"), side_file(&main, "-wal")).map_err(copy_err)?;
    Ok(OpenedBackup {
        path: main,
        source: path.to_path_buf(),
        _temp: None,
        _dir: Some(dir),
        _pending: Some(pending),
        sha256,
    })
}
