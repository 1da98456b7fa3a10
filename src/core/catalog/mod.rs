//! The catalog: every backup in every repository, with its facts and its copies.
//!
//! A repository is a `repo::Repository`; a copy of a backup is (repository, key). Local folders
//! are walked together (`repo/local.rs`: canonical roots, links, one entry per real file, across
//! repositories), and each entry is read through its repository (`fetch`). Which entries make one
//! backup, and what is read from it, is asked of the sources (`engine::registry::sources`): files
//! are recognised by content (`sniff.rs`); facts (checksums, taken-at and where it came from,
//! tables and row counts, any problem or warning) come from the file itself, the file read with it
//! (a `-wal`), its manifest (`manifest.rs`) and its name, and are cached per repository
//! (`cache.rs`).
//!
//! What can be restored: each backup is a recovery point. A repository's log (its `wal/` folder,
//! `core::walarchive::WAL_DIR`) read with the base backups found in that repository opens
//! recovery windows (`Source::windows`: per cluster and timeline, from the end of the oldest
//! usable base backup to the last commit archived, with its gaps), listed in `Catalog::windows`;
//! the base backups stay points too, taken at their end once the log says when that was. A folder
//! a source calls a tool repository (`Source::tool_repository`, as a repository's root or inside
//! it) is one entry of the walk, read whole by that source into points and windows; one its tool
//! cannot read now is listed in `ignored` (kind `repository`, with a hint), not a failure. What is
//! expensive to read from the log is kept in the cache (`cache.rs`, `Memo`). `Catalog::select`
//! says what a restore reads and why: for `--at T`, a window that covers T, else the newest point
//! taken at or before T (a T a window reaches but does not cover is refused, see `select.rs`).
//!
//! Identity: a backup is its content. `content_sha256` is the sha256 of the backup's bytes as
//! SQLite reads them: the main file decompressed (gzip/zstd undone), immediately followed by the
//! bytes of its `-wal` when one sits beside it (`NAME-wal` beside `NAME`; an empty `-wal` adds
//! nothing). pg_dump archives: the decompressed stream of a plain dump, else the stored bytes (a
//! directory archive: `sha256_dir`). A file that cannot be decoded is identified by its stored
//! bytes (and its `-wal`'s). Files with the same `content_sha256` are one backup with several
//! copies — a `.gz` and a plain copy of the same database among them — and the id is its first 10
//! hex digits. Each copy keeps its own stored checksums: `sha256` of the main file as stored
//! (compressed bytes when compressed; what a manifest's `sha256` describes) and, with a `-wal`, the
//! `-wal`'s sha256; readers check both. The backup's `sha256`, `compression` and `size` are those
//! of its primary copy (the first, which restores read from).
//!
//! A `-wal` is part of the backup beside it, never a backup of its own; `-shm` is ignored. Reading a
//! backup with a `-wal` always goes through a private temporary folder holding copies of both
//! (`open_copy`): opening it in the repository would checkpoint into the backup and delete its WAL
//! (read-write), or create a `-shm` there and fail on read-only media (`mode=ro`). A WAL-mode main
//! file (header bytes 18/19 = 2) without a `-wal` gets a warning: it holds the data as of its last
//! checkpoint.
//!
//! A file whose content is not recognised is still a backup, listed with its `problem`, when a
//! manifest beside it declares it, when it is a gzip/zstd stream (named like a backup) that fails
//! to decode, or when it is named `.gz`/`.zst` without that stream's header; other files named like
//! backups are listed as `ignored`, and so are links the walk does not follow.
//!
//! Invariants: scanning never writes into a repository except its `.lastgood/` cache (through no
//! link); a damaged backup is listed with its `problem`, never dropped silently; backups are sorted
//! by taken-at, oldest first, and backups sharing a taken-at by `TIE_RULE` (the preferred one
//! last, so that `latest`, `restore --at` and `drill` agree on it).

pub mod cache;
pub mod manifest;
pub mod open;
pub mod select;
pub mod sniff;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::engine::source::TableFacts;
use crate::engine::source::{ArchiveInfo, BaseFacts, Inspection, Source, Window};
use crate::engine::{Format, SkippedTable, registry};
use crate::error::{bad_input, environment, usage};
use crate::output::Output;
use crate::repo::{Repo, local};
use crate::util::compress::{self, Compression};
pub use select::{Restorable, Selection, Selector, Target};
use sniff::Sniff;

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
    /// A base backup's end, as its WAL archive records it (the `.backup` file's STOP TIME).
    Log,
    /// A backup's end as the tool that keeps its repository records it (`Source::scan_tool_repository`).
    Tool,
}

impl TakenAtSource {
    pub fn label(self) -> &'static str {
        match self {
            TakenAtSource::Archive => "archive",
            TakenAtSource::Manifest => "manifest",
            TakenAtSource::FileName => "file name",
            TakenAtSource::Mtime => "mtime",
            TakenAtSource::Log => "log",
            TakenAtSource::Tool => "tool",
        }
    }
}

/// What lastgood learned from one file (with its `-wal`); cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileFacts {
    pub format: Format,
    pub compression: Compression,
    /// sha256 of the main file as stored.
    pub sha256: String,
    /// The backup's identity (module docs).
    pub content_sha256: String,
    /// sha256 of the `-wal` read with it, if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_sha256: Option<String>,
    pub taken_at: DateTime<Utc>,
    pub taken_at_source: TakenAtSource,
    pub tables: Vec<TableFacts>,
    /// Virtual, shadow and foreign tables: not counted, not restorable one by one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_tables: Vec<SkippedTable>,
    /// Why this file cannot be used as a backup, if it cannot.
    pub problem: Option<String>,
    /// What the operator should know though the backup is usable (a WAL-mode file without its
    /// `-wal`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The live database it was taken from, per its manifest (password-free).
    pub source: Option<String>,
    /// pg_dump archives: database name, versions, compression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveInfo>,
    /// Set when it restores to a window rather than a point (`engine::source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// A base backup's place in its log (`engine::source::BaseFacts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseFacts>,
}

/// One place where a backup's bytes are stored: a key in a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copy {
    /// The repository as given.
    pub repository: PathBuf,
    /// The main file's key in the repository (`repo::Entry::key`).
    pub key: PathBuf,
    /// The repository holding it, which reads and removes it by `key`.
    #[serde(skip)]
    pub store: Repo,
    /// The main file, below the repository as given.
    pub path: PathBuf,
    /// Bytes of the main file as stored.
    pub size: u64,
    /// sha256 of the main file as stored.
    pub sha256: String,
    pub compression: Compression,
    /// The `-wal` beside the main file, which is part of this backup.
    pub wal: Option<WalFile>,
    /// Other names of this same file (hard links, links inside a repository): not copies.
    pub aliases: Vec<PathBuf>,
    /// The hard links among `aliases`, as (repository, key): names of this very file, which
    /// removing the backup removes too.
    #[serde(skip)]
    pub hard_links: Vec<(Repo, PathBuf)>,
    /// The main file's real path: below the repository's canonical root, through no link. Every
    /// write or removal uses it.
    #[serde(skip)]
    pub real: PathBuf,
    /// The repository's canonical root.
    #[serde(skip)]
    pub root: PathBuf,
    /// The filesystem (device) the main file is on.
    #[serde(skip)]
    pub device: u64,
}

/// A `-wal` sidecar of a copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalFile {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// Where it is read from (the link's target when it is a link inside a repository).
    #[serde(skip)]
    pub real: PathBuf,
}

/// One backup: distinct content, possibly stored in several repositories.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backup {
    /// Short stable id: the first 10 hex digits of `content_sha256`.
    pub id: String,
    /// The primary copy's stored sha256 (each copy lists its own).
    pub sha256: String,
    /// The backup's identity: main file decompressed, then its `-wal` (module docs).
    pub content_sha256: String,
    pub format: Format,
    /// The primary copy's.
    pub compression: Compression,
    pub taken_at: DateTime<Utc>,
    pub taken_at_source: TakenAtSource,
    /// The primary copy's stored size (main file).
    pub size: u64,
    pub tables: Vec<TableFacts>,
    /// Virtual, shadow and foreign tables (see `engine::SkippedTable`): listed, never counted.
    pub skipped_tables: Vec<SkippedTable>,
    pub copies: Vec<Copy>,
    pub problem: Option<String>,
    pub warnings: Vec<String>,
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveInfo>,
    /// Files with the same name as one of this backup's copies, in another repository, whose
    /// content differs: a copy was damaged or replaced.
    pub differing_copies: Vec<PathBuf>,
    /// A base backup's place in its log: it opens recovery windows (`Catalog::windows`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseFacts>,
}

impl Backup {
    /// The first copy, which restores read from.
    pub fn primary(&self) -> &Copy {
        &self.copies[0]
    }

    /// The copy stored at `path` (the same file, by any of its names), if `path` is one.
    pub fn copy_at(&self, path: &Path) -> Option<&Copy> {
        self.copies.iter().find(|c| crate::engine::same_file(&c.path, path))
    }

    /// The table named `name`, or the one its source says a bare name means (in a pg_dump
    /// archive, `public.name`).
    pub fn table(&self, name: &str) -> Option<&TableFacts> {
        let meant = registry::source_for(self.format).qualified_name(name);
        self.tables
            .iter()
            .find(|t| t.name == name)
            .or_else(|| self.tables.iter().find(|t| Some(&t.name) == meant.as_ref()))
    }

    /// Refuses (`BadInput`) the first of `names` that is one of this backup's skipped tables;
    /// `what` says what was asked (see `SkippedTable::refusal`).
    pub fn refuse_skipped(&self, names: &[String], what: &str) -> Result<()> {
        match names.iter().find_map(|n| self.skipped_table(n)) {
            Some(t) => Err(t.refusal(what)),
            None => Ok(()),
        }
    }

    /// The skipped table named `name` (see `table` for bare names).
    pub fn skipped_table(&self, name: &str) -> Option<&SkippedTable> {
        let meant = registry::source_for(self.format).qualified_name(name);
        self.skipped_tables.iter().find(|t| t.name == name || Some(&t.name) == meant.as_ref())
    }

    /// A mark (`lkg`, `verified`) recorded for this backup in any of its repositories' caches.
    pub fn mark(&self, name: &str) -> Option<String> {
        self.copies.iter().find_map(|c| cache::read_mark(&c.repository, &self.content_sha256, name))
    }

    /// Places holding a copy: the most copies that can be picked with no two in one repository or
    /// on one filesystem (device). Two files in one folder are one place; so are two repositories
    /// on one disk. `keep` says which copies count (e.g. those that passed verify).
    pub fn places(&self, keep: impl Fn(&Copy) -> bool) -> usize {
        let edges: Vec<(&Path, u64)> =
            self.copies.iter().filter(|c| keep(c)).map(|c| (c.root.as_path(), c.device)).collect();
        max_matching(&edges)
    }
}

/// The size of a maximum matching between repositories and devices, `edges` being the copies
/// (Kuhn's augmenting paths; a backup has a handful of copies).
fn max_matching(edges: &[(&Path, u64)]) -> usize {
    let mut roots: Vec<&Path> = edges.iter().map(|e| e.0).collect();
    roots.sort();
    roots.dedup();
    let mut device_of: BTreeMap<u64, usize> = BTreeMap::new(); // device -> matched root index
    fn augment(
        r: usize,
        roots: &[&Path],
        edges: &[(&Path, u64)],
        seen: &mut Vec<u64>,
        device_of: &mut BTreeMap<u64, usize>,
    ) -> bool {
        for &(_, d) in edges.iter().filter(|e| e.0 == roots[r]) {
            if seen.contains(&d) {
                continue;
            }
            seen.push(d);
            let free = match device_of.get(&d) {
                None => true,
                Some(&other) => augment(other, roots, edges, seen, device_of),
            };
            if free {
                device_of.insert(d, r);
                return true;
            }
        }
        false
    }
    (0..roots.len()).filter(|&r| augment(r, &roots, edges, &mut Vec::new(), &mut device_of)).count()
}

/// All backups found, oldest first, and what was passed over.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    pub repositories: Vec<PathBuf>,
    pub backups: Vec<Backup>,
    /// Recovery windows (module docs), oldest `from` first; none of today's sources yields one.
    pub windows: Vec<RecoveryWindow>,
    /// Files that look like backups by name but are not (empty, wrong content), and links not
    /// followed (pointing outside every repository, dangling, loops).
    pub ignored: Vec<Ignored>,
}

/// What restores to any moment of a span: a repository's log with the base backups it starts
/// from (or one backup that is a window by itself).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveryWindow {
    /// Short stable id: the first 10 hex digits of the sha256 of its cluster, timeline and log
    /// folder (of its backup's content, for a backup that is a window by itself).
    pub id: String,
    /// The format of the backups it starts from.
    pub format: Format,
    /// The cluster (PostgreSQL: system identifier) and timeline it follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<u32>,
    #[serde(flatten)]
    pub window: Window,
    pub repository: PathBuf,
    /// The log folder (a WAL archive; below the repository's canonical root), when the window is
    /// a log's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    /// The backups a restore starts from, oldest first (each also a recovery point).
    pub bases: Vec<WindowBase>,
    /// Files and bytes of the log the window reads.
    pub log_files: usize,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_log_file: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub source: Option<String>,
}

/// A backup a window starts from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowBase {
    /// Its id among `Catalog::backups`.
    pub id: String,
    pub path: PathBuf,
    /// When it ends: the first moment it restores to.
    pub taken_at: DateTime<Utc>,
}

impl RecoveryWindow {
    /// One line: `recovery window ID (system S, timeline N): FROM to TO; gaps…`.
    pub fn describe(&self) -> String {
        let of = match (&self.system, self.timeline) {
            (Some(s), Some(t)) => format!(" (system {s}, timeline {t})"),
            _ => String::new(),
        };
        format!("recovery window {}{of}: {}", self.id, self.window.describe())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Ignored {
    pub path: PathBuf,
    pub reason: String,
    /// What makes it readable (a repository whose tool is missing: how to install it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// `file` (named like a backup, content not one) or `link` (a link not followed).
    pub kind: IgnoredKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IgnoredKind {
    File,
    Link,
    /// A repository another tool keeps that cannot be read now (its tool is missing): its
    /// backups and windows are unknown.
    Repository,
}

/// How backups sharing one taken-at are ordered, the preferred last (module docs).
pub const TIE_RULE: &str = "healthy first, then verified OK, then more places, then more copies, then the higher id";

/// The rank of `b` among backups with its taken-at: higher is preferred.
fn tie_rank(b: &Backup) -> (bool, bool, usize, usize) {
    let verified = b.mark("verified").is_some_and(|v| v.starts_with("ok"));
    (b.problem.is_none(), verified, b.places(|_| true), b.copies.len())
}

/// What `newest_at_or_before` chose, and what it passed over on the way.
#[derive(Debug)]
pub struct AtChoice<'c> {
    pub backup: &'c Backup,
    /// Damaged backups newer than the one chosen (and not after `at`).
    pub skipped_damaged: Vec<&'c Backup>,
    /// Backups dated after now (clock skew?), which no `--at` can reach.
    pub future_dated: Vec<&'c Backup>,
    /// Other usable backups with the chosen one's taken-at, passed over by `TIE_RULE`.
    pub tied_with: Vec<&'c Backup>,
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
        let rules = local::Rules { skipped_name: never_a_backup, one_backup };
        let listing = local::list(repos, rules)?;
        let stores: Vec<Repo> = listing.roots.iter().cloned().map(Repo::new).collect();
        let mut by_content: BTreeMap<String, Backup> = BTreeMap::new();
        let mut windows: BTreeMap<String, RecoveryWindow> = BTreeMap::new();
        let mut ignored: Vec<Ignored> = listing
            .unfollowed
            .iter()
            .map(|u| Ignored { path: u.path.clone(), reason: u.reason.clone(), hint: None, kind: IgnoredKind::Link })
            .collect();
        for (i, root) in listing.roots.iter().enumerate() {
            // A repository another tool keeps is read whole by its source, as the root itself or
            // as a folder inside it (module docs).
            let mut tools: Vec<ToolPlace> = Vec::new();
            if let Some(source) = tool_source(&root.canonical) {
                tools.push(ToolPlace { source, shown: root.given.clone(), real: root.canonical.clone() });
            }
            let entries: Vec<&local::Entry> =
                listing.entries.iter().filter(|e| e.root == i && tools.is_empty()).collect();
            let mut cache = cache::Cache::open(&root.canonical);
            let bar = out.count_bar(entries.len() as u64, &format!("scanning {}", root.given.display()));
            let mut bases: Vec<(String, PathBuf, BaseFacts)> = Vec::new();
            for e in entries {
                bar.inc(1);
                if e.meta.is_dir()
                    && let Some(source) = tool_source(&listing.real(e))
                {
                    tools.push(ToolPlace { source, shown: listing.shown(e), real: listing.real(e) });
                    continue;
                }
                match scan_file(&listing, &stores, e, &mut cache, &mut ignored)? {
                    Some((backup, None)) => {
                        if let Some(base) = &backup.base {
                            bases.push((backup.content_sha256.clone(), backup.primary().path.clone(), base.clone()));
                        }
                        merge_copy(&mut by_content, backup)
                    }
                    Some((backup, Some(window))) => add_window(&mut windows, backup, window),
                    None => {}
                }
            }
            bar.finish_and_clear();
            let log =
                LogPlace { repository: &root.given, folder: root.canonical.join(crate::core::walarchive::WAL_DIR) };
            for w in log_windows(&log, &bases, &mut cache, &mut by_content)? {
                windows.insert(w.id.clone(), w);
            }
            for place in &tools {
                let (store, given) = (&stores[i], &root.given);
                let found = tool_repository(place, store, given, &root.canonical, &mut cache);
                match found {
                    Ok((found, w)) => {
                        found.into_iter().for_each(|b| merge_copy(&mut by_content, b));
                        w.into_iter().for_each(|w| {
                            windows.insert(w.id.clone(), w);
                        });
                    }
                    Err(unreadable) => ignored.push(unreadable),
                }
            }
            cache.save();
        }
        let mut backups: Vec<Backup> = by_content.into_values().collect();
        flag_differing_copies(&mut backups);
        backups.sort_by(|a, b| {
            a.taken_at.cmp(&b.taken_at).then_with(|| tie_rank(a).cmp(&tie_rank(b))).then(a.id.cmp(&b.id))
        });
        let mut windows: Vec<RecoveryWindow> = windows.into_values().collect();
        windows.sort_by(|a, b| a.window.from.cmp(&b.window.from).then(a.id.cmp(&b.id)));
        Ok(Catalog { repositories: repos.to_vec(), backups, windows, ignored })
    }

    /// `select(&str)` finds a backup (`find_backup`); `select(Selector)` says what a restore reads
    /// and why (`selection`).
    pub fn select<'c, S: select::Select<'c>>(&'c self, s: S) -> Result<S::Found> {
        s.find_in(self)
    }

    /// Finds a backup by selector: an id prefix, `latest`, `latest~N`, or the path of one of its
    /// copies. Errors: `BadInput` when nothing or more than one backup matches.
    pub fn find_backup(&self, selector: &str) -> Result<&Backup> {
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
        // Ids are prefixes of the content checksum; a copy's stored checksum (the id of a
        // compressed backup before content ids) is accepted too.
        let matches: Vec<&Backup> = self
            .backups
            .iter()
            .filter(|b| b.content_sha256.starts_with(&lower) || b.copies.iter().any(|c| c.sha256.starts_with(&lower)))
            .collect();
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
            None if let Ok(Sniff::Empty) = sniff::sniff(path) => {
                bad_input(format!("`{}` is not a backup: empty file (0 bytes)", path.display()))
            }
            None if let Ok(Sniff::NotABackup) = sniff::sniff(path) => {
                bad_input(format!("`{}` is not a backup: {}", path.display(), unrecognised()))
            }
            None => bad_input(format!(
                "`{}` is not in any repository given ({})",
                path.display(),
                self.repositories.iter().map(|r| format!("`{}`", r.display())).collect::<Vec<_>>().join(", ")
            ))
            .hint("add its folder with --repo"),
        }
    }

    /// The newest usable backup taken at or before `at`, with what was passed over on the way
    /// (damaged backups, backups dated after `now`, backups with the same taken-at). Errors:
    /// `BadInput` when no usable backup is taken at or before `at`.
    pub fn newest_at_or_before(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<AtChoice<'_>> {
        let future_dated: Vec<&Backup> = self.backups.iter().filter(|b| b.taken_at > now).collect();
        let mut skipped_damaged = Vec::new();
        for b in self.backups.iter().rev().filter(|b| b.taken_at <= at) {
            if b.problem.is_some() {
                skipped_damaged.push(b);
                continue;
            }
            let tied_with = self
                .backups
                .iter()
                .filter(|o| o.taken_at == b.taken_at && o.id != b.id && o.problem.is_none())
                .collect();
            return Ok(AtChoice { backup: b, skipped_damaged, future_dated, tied_with });
        }
        let oldest = self.backups.first().map(|b| crate::time::show(b.taken_at));
        let msg = match (oldest, skipped_damaged.is_empty()) {
            (None, _) => "the catalog holds no backup".to_string(),
            (Some(_), false) => format!("every backup taken at or before {} is damaged", crate::time::show(at)),
            (Some(_), true) if future_dated.len() == self.backups.len() => format!(
                "no backup taken at or before {}: every backup is dated in the future ({}; clock skew?)",
                crate::time::show(at),
                future_dated.iter().map(|b| future_note(b, now)).collect::<Vec<_>>().join(", ")
            ),
            (Some(o), true) => {
                format!("no backup taken at or before {}: the oldest is from {o}", crate::time::show(at))
            }
        };
        Err(bad_input(msg).hint("pick a later --at, or list backups with `lastgood catalog`").into())
    }
}

/// "ID taken at T, 3h00m in the future".
pub fn future_note(b: &Backup, now: DateTime<Utc>) -> String {
    format!(
        "{} taken at {}, {} in the future",
        b.id,
        crate::time::show(b.taken_at),
        crate::output::human_age(b.taken_at - now)
    )
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

fn merge_copy(by_content: &mut BTreeMap<String, Backup>, new: Backup) {
    match by_content.get_mut(&new.content_sha256) {
        None => {
            by_content.insert(new.content_sha256.clone(), new);
        }
        Some(b) if b.problem.is_some() && new.problem.is_none() => {
            // Copies hold the same content, so their problems can differ only by their manifests
            // (checksum, taken-at) and their stored bytes: a healthy copy's facts win, and it
            // becomes the primary copy.
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
            b.base = b.base.take().or(new.base.clone());
            for w in new.warnings {
                if !b.warnings.contains(&w) {
                    b.warnings.push(w);
                }
            }
            b.copies.extend(new.copies);
        }
    }
}

/// Files that belong beside another (a SQLite `-wal`), manifests, archived WAL files (`wal-archive`:
/// read with a base backup, never alone) and lastgood's temporary files: never backups of their
/// own.
fn never_a_backup(name: &str) -> bool {
    registry::sources().iter().any(|s| s.side_file(name))
        || manifest::is_manifest(Path::new(name))
        || crate::core::walarchive::is_wal_name(name)
        || crate::util::fs::is_temp_name(name)
}

/// Folders that are one entry of the walk: one backup (a pg_dump directory archive), or a
/// repository another tool keeps (read whole, `tool_repository`).
fn one_backup(dir: &Path) -> bool {
    registry::sources().iter().any(|s| s.one_backup(dir) || s.tool_repository(dir))
}

/// The source that reads the folder `dir` as a repository another tool keeps, if one does.
fn tool_source(dir: &Path) -> Option<&'static dyn Source> {
    registry::sources().iter().copied().find(|s| s.tool_repository(dir))
}

/// Whether `path` lies inside a repository another tool keeps, whose retention
/// that tool owns: `prune` never removes anything there.
pub fn in_tool_repository(path: &Path) -> bool {
    path.ancestors().any(|d| tool_source(d).is_some())
}

/// A repository another tool keeps: its source, and where it is as shown and as read.
struct ToolPlace {
    source: &'static dyn Source,
    shown: PathBuf,
    real: PathBuf,
}

/// The backups (each a recovery point) and windows of one tool repository, as the catalog lists
/// them; `Err` is the repository listed as unreadable (its tool is missing), never a failure of
/// the scan.
fn tool_repository(
    place: &ToolPlace,
    store: &Repo,
    repository: &Path,
    root: &Path,
    cache: &mut cache::Cache,
) -> std::result::Result<(Vec<Backup>, Vec<RecoveryWindow>), Ignored> {
    use std::os::unix::fs::MetadataExt;
    let scan = place.source.scan_tool_repository(&place.real, cache);
    if let Some((reason, hint)) = scan.unreadable.clone().filter(|_| scan.backups.is_empty()) {
        return Err(Ignored { path: place.shown.clone(), reason, hint: Some(hint), kind: IgnoredKind::Repository });
    }
    let device = fs::metadata(&place.real).map(|m| m.dev()).unwrap_or(0);
    let backups: Vec<Backup> = scan
        .backups
        .iter()
        .map(|tb| {
            let i = &tb.inspection;
            let inside = tb.path.strip_prefix(&place.real).unwrap_or(&tb.path);
            let copy = Copy {
                repository: repository.to_path_buf(),
                key: tb.path.strip_prefix(root).unwrap_or(&tb.path).to_path_buf(),
                store: store.clone(),
                path: place.shown.join(inside),
                size: tb.size,
                sha256: i.sha256.clone(),
                compression: Compression::None,
                wal: None,
                aliases: Vec::new(),
                hard_links: Vec::new(),
                real: tb.path.clone(),
                root: root.to_path_buf(),
                device,
            };
            Backup {
                id: i.content_sha256[..10].to_string(),
                sha256: i.sha256.clone(),
                content_sha256: i.content_sha256.clone(),
                format: tb.format,
                compression: Compression::None,
                taken_at: tb.taken_at,
                taken_at_source: TakenAtSource::Tool,
                size: tb.size,
                tables: i.tables.clone(),
                skipped_tables: i.skipped_tables.clone(),
                copies: vec![copy],
                problem: i.problem.clone(),
                warnings: i.warnings.clone(),
                source: None,
                archive: i.archive.clone(),
                differing_copies: Vec::new(),
                base: i.base.clone(),
            }
        })
        .collect();
    let windows = scan
        .windows
        .into_iter()
        .filter_map(|w| {
            let key = format!("{}:{}:{}", w.system, w.timeline, place.real.display());
            let id = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()))[..10].to_string();
            let based: Vec<&Backup> = w.bases.iter().filter_map(|&k| backups.get(k)).collect();
            let first = based.first()?;
            Some(RecoveryWindow {
                id,
                format: first.format,
                system: Some(w.system),
                timeline: Some(w.timeline),
                window: w.window,
                repository: repository.to_path_buf(),
                log: Some(place.real.clone()),
                bases: based
                    .iter()
                    .map(|b| WindowBase { id: b.id.clone(), path: b.primary().path.clone(), taken_at: b.taken_at })
                    .collect(),
                log_files: w.files,
                size: w.size,
                newest_log_file: Some(w.newest),
                warnings: w.warnings,
                source: None,
            })
        })
        .collect();
    Ok((backups, windows))
}

/// The file a source reads together with the main file `main` (a SQLite `-wal`), whether or not
/// it exists.
pub fn read_with(main: &Path) -> Option<PathBuf> {
    registry::sources().iter().find_map(|s| s.read_with(main))
}

fn mtime_ns(meta: &fs::Metadata) -> i64 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// What sits beside a main file as the file read with it (a `-wal`).
pub enum Sidecar {
    None,
    /// A `-wal` to read with the main file: where to read it (the target of a link inside a
    /// repository) and its metadata.
    Wal(PathBuf, fs::Metadata),
    /// A `-wal` that cannot be part of the backup (a link outside every repository, a folder).
    Bad(String, fs::Metadata),
}

/// The `-wal` beside `real` (a main file's real path).
fn sidecar(listing: &local::Listing, real: &Path) -> Sidecar {
    let Some(wal) = read_with(real) else { return Sidecar::None };
    let Ok(meta) = fs::symlink_metadata(&wal) else { return Sidecar::None };
    let shown = wal.display();
    if meta.is_file() {
        return Sidecar::Wal(wal, meta);
    }
    if !meta.file_type().is_symlink() {
        return Sidecar::Bad(format!("its `-wal` `{shown}` is not a file"), meta);
    }
    match wal.canonicalize() {
        Ok(t) if listing.root_of(&t).is_none() => Sidecar::Bad(
            format!("its `-wal` `{shown}` is a link pointing outside every repository: `{}`", t.display()),
            meta,
        ),
        Ok(t) => match fs::metadata(&t) {
            Ok(m) if m.is_file() => Sidecar::Wal(t, m),
            _ => Sidecar::Bad(format!("its `-wal` `{shown}` links to `{}`, not a file", t.display()), meta),
        },
        Err(e) => Sidecar::Bad(format!("its `-wal` `{shown}` is a link that cannot be resolved: {e}"), meta),
    }
}

/// Reads entry `e` (from the cache when unchanged) through its repository: the one-copy backup
/// it is, with its window when it restores to one; `None` when it is not a backup.
fn scan_file(
    listing: &local::Listing,
    stores: &[Repo],
    e: &local::Entry,
    cache: &mut cache::Cache,
    ignored: &mut Vec<Ignored>,
) -> Result<Option<(Backup, Option<Window>)>> {
    let real = listing.real(e);
    let fetched = stores[e.root].fetch(&e.rel)?;
    let shown = fetched.path();
    let rel = e.rel.to_string_lossy().into_owned();
    let side = if e.meta.is_dir() { Sidecar::None } else { sidecar(listing, &real) };
    let stamp = stamp_of(e, &real, &side)?;
    let mut facts = match cache.get(&rel, stamp) {
        Some(f) => f,
        None => match inspect(shown, &e.meta, &side)? {
            Inspected::Backup(f) => {
                cache.put(&rel, stamp, (*f).clone());
                *f
            }
            Inspected::Ignored(reason) => {
                if looks_like_backup(shown) {
                    ignored.push(Ignored { path: shown.to_path_buf(), reason, hint: None, kind: IgnoredKind::File });
                }
                return Ok(None);
            }
        },
    };
    let window = facts.window.take();
    Ok(Some((backup_of(listing, stores, e, facts, &side, stamp.size), window)))
}

/// The cache key of entry `e` (real path `real`): its size and mtime (a directory archive: its
/// files'), its `-wal`'s and its manifest's mtime.
fn stamp_of(e: &local::Entry, real: &Path, side: &Sidecar) -> Result<cache::Stamp> {
    let manifest_mtime_ns = fs::metadata(manifest::path_for(real)).map(|m| mtime_ns(&m)).unwrap_or(0);
    let (size, mtime_ns) = if e.meta.is_dir() { dir_stamp(real)? } else { (e.meta.len(), self::mtime_ns(&e.meta)) };
    let (wal_size, wal_mtime_ns) = match side {
        Sidecar::None => (-1, 0),
        Sidecar::Wal(_, m) => (m.len() as i64, self::mtime_ns(m)),
        Sidecar::Bad(_, m) => (-2, self::mtime_ns(m)),
    };
    Ok(cache::Stamp { size, mtime_ns, manifest_mtime_ns, wal_size, wal_mtime_ns })
}

/// The one-copy backup that entry `e` with `facts` is.
fn backup_of(
    listing: &local::Listing,
    stores: &[Repo],
    e: &local::Entry,
    facts: FileFacts,
    side: &Sidecar,
    size: u64,
) -> Backup {
    use std::os::unix::fs::MetadataExt;
    let shown = listing.shown(e);
    let wal = match (side, &facts.wal_sha256) {
        (Sidecar::Wal(at, m), Some(sha)) => Some(WalFile {
            path: read_with(&shown).unwrap_or_default(),
            size: m.len(),
            sha256: sha.clone(),
            real: at.clone(),
        }),
        _ => None,
    };
    // A plain base backup's size is its files', not its folder's top level (the cache stamp).
    let size = facts.base.as_ref().filter(|b| b.layout == "plain").map_or(size, |b| b.bytes.max(size));
    let copy = Copy {
        repository: listing.roots[e.root].given.clone(),
        key: e.rel.clone(),
        store: stores[e.root].clone(),
        path: shown,
        size,
        sha256: facts.sha256.clone(),
        compression: facts.compression,
        wal,
        aliases: e.aliases.iter().map(|a| a.shown.clone()).collect(),
        hard_links: e
            .aliases
            .iter()
            .filter_map(|a| a.hard_link.as_ref().map(|(root, key)| (stores[*root].clone(), key.clone())))
            .collect(),
        real: listing.real(e),
        root: listing.roots[e.root].canonical.clone(),
        device: e.meta.dev(),
    };
    Backup {
        id: facts.content_sha256[..10].to_string(),
        sha256: facts.sha256,
        content_sha256: facts.content_sha256,
        format: facts.format,
        compression: facts.compression,
        taken_at: facts.taken_at,
        taken_at_source: facts.taken_at_source,
        size,
        tables: facts.tables,
        skipped_tables: facts.skipped_tables,
        copies: vec![copy],
        problem: facts.problem,
        warnings: facts.warnings,
        source: facts.source,
        archive: facts.archive,
        differing_copies: Vec::new(),
        base: facts.base,
    }
}

/// Adds the one-copy backup `b`, which restores to `window` by itself, to the windows (one per
/// content).
fn add_window(windows: &mut BTreeMap<String, RecoveryWindow>, b: Backup, window: Window) {
    if windows.contains_key(&b.content_sha256) {
        return; // another copy of the same content: the first found is read
    }
    let base = WindowBase { id: b.id.clone(), path: b.primary().path.clone(), taken_at: b.taken_at };
    let w = RecoveryWindow {
        id: b.id,
        format: b.format,
        system: None,
        timeline: None,
        window,
        repository: b.copies[0].repository.clone(),
        log: None,
        bases: vec![base],
        log_files: 0,
        size: b.size,
        newest_log_file: None,
        warnings: Vec::new(),
        source: b.source,
    };
    windows.insert(b.content_sha256, w);
}

/// A repository's log folder, as given (`repository`) and as read (`folder`).
struct LogPlace<'a> {
    repository: &'a Path,
    folder: PathBuf,
}

/// The windows the log of one repository opens with the base backups found in it (`bases`:
/// content checksum, path, facts), asking each source; the bases' end times the log records are
/// set on their backups in `by_content`.
fn log_windows(
    log: &LogPlace,
    bases: &[(String, PathBuf, BaseFacts)],
    cache: &mut cache::Cache,
    by_content: &mut BTreeMap<String, Backup>,
) -> Result<Vec<RecoveryWindow>> {
    if bases.is_empty() || !log.folder.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for source in registry::sources() {
        let mine: Vec<usize> = (0..bases.len())
            .filter(|&i| by_content.get(&bases[i].0).is_some_and(|b| source.formats().contains(&b.format)))
            .collect();
        let args: Vec<(&Path, &BaseFacts)> = mine.iter().map(|&i| (bases[i].1.as_path(), &bases[i].2)).collect();
        if args.is_empty() {
            continue;
        }
        let scan = source.windows(&log.folder, &args, cache)?;
        for &(k, stopped) in &scan.stopped {
            if let Some(b) = by_content.get_mut(&bases[mine[k]].0) {
                b.taken_at = stopped;
                b.taken_at_source = TakenAtSource::Log;
                if let Some(f) = b.base.as_mut() {
                    f.stopped = Some(stopped);
                }
            }
        }
        for w in scan.windows {
            let key = format!("{}:{}:{}", w.system, w.timeline, log.folder.display());
            let id = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()))[..10].to_string();
            let based: Vec<&Backup> = w.bases.iter().filter_map(|&k| by_content.get(&bases[mine[k]].0)).collect();
            let Some(first) = based.first() else { continue };
            out.push(RecoveryWindow {
                id,
                format: first.format,
                system: Some(w.system),
                timeline: Some(w.timeline),
                window: w.window,
                repository: log.repository.to_path_buf(),
                log: Some(log.folder.clone()),
                bases: based
                    .iter()
                    .map(|b| WindowBase { id: b.id.clone(), path: b.primary().path.clone(), taken_at: b.taken_at })
                    .collect(),
                log_files: w.files,
                size: w.size,
                newest_log_file: Some(w.newest),
                warnings: w.warnings,
                source: first.source.clone(),
            });
        }
    }
    Ok(out)
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

/// Reads one file's facts: format, checksums, taken-at, tables and row counts, problems. `side` is
/// its `-wal` (read with it) or why the `-wal` cannot be part of it. The format's source reads
/// the content.
///
/// A file whose content is not recognised is a damaged backup, not "not a backup", when a
/// manifest beside it declares it, or when it is a gzip/zstd stream that fails to decode and is
/// named like a backup; its format is then guessed from the manifest's engine and its name.
pub fn inspect(path: &Path, meta: &fs::Metadata, side: &Sidecar) -> Result<Inspected> {
    let manifest = manifest::read_for(path);
    let (format, compression, undecodable) = if meta.is_dir() {
        match registry::sources().iter().find(|s| s.one_backup(path)).and_then(|s| s.folder_format()) {
            Some(f) => (f, Compression::None, None),
            None => return Ok(Inspected::Ignored("a folder, not a backup".into())),
        }
    } else {
        match recognise(path, &manifest)? {
            Ok(r) => r,
            Err(why) => return Ok(Inspected::Ignored(why)),
        }
    };
    let wal = match side {
        Sidecar::Wal(p, _) => Some(p.as_path()),
        _ => None,
    };
    let mut read = match undecodable {
        Some(why) => Inspection::undecodable(path, wal, why)?,
        None => registry::source_for(format).inspect(path, format, compression, wal)?,
    };
    if let Sidecar::Bad(why, _) = side {
        read.problem = Some(join_problems(read.problem.take(), why.clone()));
    }
    // Taken-at: the archive's own, else the manifest's (`apply_manifest`), else the name's or the
    // mtime (`name_or_mtime`); `Mtime` stands for "none yet" until then.
    let mut facts = FileFacts {
        format,
        compression,
        sha256: read.sha256,
        content_sha256: read.content_sha256,
        wal_sha256: read.wal_sha256,
        taken_at: read.created.unwrap_or(DateTime::<Utc>::MIN_UTC),
        taken_at_source: if read.created.is_some() { TakenAtSource::Archive } else { TakenAtSource::Mtime },
        tables: read.tables,
        skipped_tables: read.skipped_tables,
        problem: read.problem,
        warnings: read.warnings,
        source: None,
        archive: read.archive,
        window: read.window,
        base: read.base,
    };
    apply_manifest(&mut facts, manifest);
    if facts.taken_at_source == TakenAtSource::Mtime {
        facts.taken_at = name_or_mtime(path, meta, side, &mut facts.taken_at_source);
    }
    Ok(Inspected::Backup(Box::new(facts)))
}

/// The format and compression of `path` by content, and why it cannot be decoded when it is a
/// damaged backup; `Err(why)` when it is not a backup at all.
type Recognised = std::result::Result<(Format, Compression, Option<String>), String>;

fn recognise(path: &Path, manifest: &Result<Option<manifest::Manifest>>) -> Result<Recognised> {
    let declared = !matches!(manifest, Ok(None));
    let engine = manifest.as_ref().ok().and_then(|m| m.as_ref()).and_then(|m| m.engine.clone());
    let guess = |c| guess_format(path, c, engine.as_deref());
    Ok(match sniff::sniff(path)? {
        Sniff::Backup(f, c) => Ok((f, c, None)),
        Sniff::Damaged(c, why) if declared || looks_like_backup(path) => Ok((guess(c), c, Some(why))),
        Sniff::Damaged(_, why) => Err(why),
        Sniff::Empty if declared => {
            Ok((guess(Compression::None), Compression::None, Some(format!("`{}` is empty (0 bytes)", path.display()))))
        }
        Sniff::Empty => Err("empty file (0 bytes)".into()),
        Sniff::NotABackup if declared => {
            let c = compress::compression_of_file(path)?;
            let f = guess(c);
            Ok((f, c, Some(registry::source_for(f).not_this_format(path, f, c))))
        }
        Sniff::NotABackup
            if let Some(c) = named_compressed(path)
                && compress::compression_of_file(path)? == Compression::None =>
        {
            // Named `.gz`/`.zst` but not even the stream's magic bytes: a damaged backup.
            let kind = if c == Compression::Gzip { "gzip" } else { "zstd" };
            Ok((guess(c), c, Some(format!("`{}` is not a {kind} stream (no {kind} header)", path.display()))))
        }
        Sniff::NotABackup => Err(unrecognised()),
    })
}

/// Why a file no source recognises is not a backup, in the default source's words (SQLite's:
/// what operators grep for).
pub fn unrecognised() -> String {
    registry::default_source().unrecognised()
}

fn join_problems(a: Option<String>, b: String) -> String {
    match a {
        Some(a) => format!("{a}; {b}"),
        None => b,
    }
}

/// Checks the manifest's checksums and takes its taken-at (unless the archive has one) and source.
fn apply_manifest(facts: &mut FileFacts, manifest: Result<Option<manifest::Manifest>>) {
    let m = match manifest {
        Ok(Some(m)) => m,
        Ok(None) => return,
        Err(e) => {
            facts.problem = facts.problem.take().or(Some(format!("{e:#}")));
            return;
        }
    };
    let checks =
        [("checksum", &m.sha256, &facts.sha256), ("content checksum", &m.content_sha256, &facts.content_sha256)];
    for (what, expected, actual) in checks {
        if let Some(expected) = expected
            && !expected.eq_ignore_ascii_case(actual)
        {
            let differs = format!(
                "{what} differs from its manifest (manifest {}…, file {}…)",
                &expected[..expected.len().min(12)],
                &actual[..12]
            );
            facts.problem = Some(join_problems(facts.problem.take(), differs));
        }
    }
    if facts.taken_at_source != TakenAtSource::Archive {
        facts.taken_at = m.taken_at;
        facts.taken_at_source = TakenAtSource::Manifest;
    }
    facts.source = m.source.map(|s| crate::redact::connection_string(&s));
}

/// Taken-at from a timestamp in the file name, else the newest mtime of the file and its `-wal`
/// (a copy with `cp -p` keeps the main file's last checkpoint time; the WAL's is later).
fn name_or_mtime(path: &Path, meta: &fs::Metadata, side: &Sidecar, source: &mut TakenAtSource) -> DateTime<Utc> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if let Some(t) = crate::time::timestamp_in_name(&name) {
        *source = TakenAtSource::FileName;
        return t;
    }
    *source = TakenAtSource::Mtime;
    let mut t = meta.modified().unwrap_or(UNIX_EPOCH);
    if let Sidecar::Wal(_, m) = side {
        t = t.max(m.modified().unwrap_or(UNIX_EPOCH));
    }
    DateTime::<Utc>::from(t)
}

/// The format of a backup whose content cannot tell: the source the manifest's engine names
/// (by the name, else its default), else the first source the name suggests (`.sql`, `.dump`,
/// `.tar` …), else the default source's.
fn guess_format(path: &Path, compression: Compression, engine: Option<&str>) -> Format {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let name = name.trim_end_matches(".gz").trim_end_matches(".zst");
    let sources = registry::sources();
    let by_name = |s: &&dyn Source| s.format_by_name(name, compression);
    if let Some(s) = sources.iter().find(|s| Some(s.manifest_engine()) == engine) {
        return by_name(s).unwrap_or_else(|| s.default_format(compression));
    }
    sources.iter().find_map(by_name).unwrap_or_else(|| registry::default_source().default_format(compression))
}

/// The compression a file's name promises (`.gz`, `.zst`), if any.
fn named_compressed(path: &Path) -> Option<Compression> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "gz" => Some(Compression::Gzip),
        "zst" => Some(Compression::Zstd),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Places are a matching of repositories to filesystems: repository B and C hold copies only
    /// on filesystem 1, so A's copies on 2 and 3 add one place, not two.
    #[test]
    fn places_pair_repositories_with_filesystems() {
        let (a, b, c) = (Path::new("/a"), Path::new("/b"), Path::new("/c"));
        assert_eq!(max_matching(&[]), 0);
        assert_eq!(max_matching(&[(a, 1), (a, 1), (a, 2)]), 1, "one repository is one place");
        assert_eq!(max_matching(&[(a, 1), (b, 1)]), 1, "one filesystem is one place");
        assert_eq!(max_matching(&[(a, 1), (b, 2)]), 2);
        assert_eq!(max_matching(&[(a, 1), (a, 2), (b, 1)]), 2, "A moves to 2 so that B can have 1");
        assert_eq!(max_matching(&[(a, 1), (a, 2), (a, 3), (b, 1), (c, 1)]), 2);
    }
}
