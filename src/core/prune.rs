//! Pruning old backups by retention rules, as a plan that can be printed before it is carried out.
//!
//! Rules (newest first, over the whole catalog): `keep_last` newest backups; the newest backup of
//! each of the `keep_hourly` most recent hours that have one; likewise per local calendar day for
//! `keep_daily`. A backup kept by any rule is kept.
//!
//! Invariant: a backup shown healthy *now* is always kept, whatever the rules say. Candidates are
//! tried newest first — those verified before, then the others the catalog found no problem with —
//! and the first that passes `healthy` (the cmd runs `verify` on its copies) is protected. When
//! none passes, nothing is removed: the plan is refused.
//!
//! Removing a backup removes, for each copy, its entries through its repository
//! (`Repository::remove`, by key): the main file and its other hard-linked names, the files its
//! source removes with it (a SQLite `-wal` and `-shm`), and its manifest. Nothing is removed
//! through a link or outside a repository: a symbolic link is never removed nor followed (a link
//! to a removed backup is left dangling, and named in the plan as `links_left`), and a path whose
//! folder resolves elsewhere than where the catalog found it is refused.
//!
//! Invariant: a base backup a recovery window starts from is kept (reason `recovery window`),
//! whatever the rules say, and a window's log (the WAL archive) is never a backup, so nothing of
//! it is ever removed: retention of a WAL archive is the operator's (or pgBackRest's), since
//! removing its oldest part would silently shorten every window. A backup inside a repository
//! another tool keeps (`catalog::in_tool_repository`) is kept too (reason `kept by
//! its tool`): that tool owns its retention, so nothing there is ever removed.
//!
//! Invariant: the backup `bisect` recorded as the last known good (a mark in the cache of any
//! repository of the catalog) is kept, every copy of it, whatever the rules say and whether or not
//! it is healthy: it is the backup an incident is repaired from.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Result;
use chrono::Local;
use serde::Serialize;

use crate::core::catalog::{self, Backup, Catalog, manifest};
use crate::engine::registry;
use crate::error::{refused, usage};
use crate::repo::Repo;

#[derive(Debug, Clone, Copy, Default)]
pub struct Rules {
    pub keep_last: usize,
    pub keep_hourly: usize,
    pub keep_daily: usize,
}

#[derive(Debug, Serialize)]
pub struct Decision {
    pub backup_id: String,
    pub taken_at: chrono::DateTime<chrono::Utc>,
    pub keep: bool,
    /// Why kept (`last`, `hourly`, `daily`, `newest healthy`, `last known good`, `recovery
    /// window`, `kept by its tool`), empty when removed.
    pub reasons: Vec<&'static str>,
    pub paths: Vec<std::path::PathBuf>,
    /// Links (inside a repository) to a removed backup, left in place: they dangle afterwards.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links_left: Vec<std::path::PathBuf>,
    /// The entries removing the backup removes, as (repository, key) (see module docs).
    #[serde(skip)]
    files: Vec<(Repo, PathBuf)>,
}

#[derive(Debug, Serialize)]
pub struct PrunePlan {
    pub decisions: Vec<Decision>,
}

/// The newest backup that passes `healthy` now: first among those verified before, then among
/// the rest without a catalogued problem. Errors: `Refused` when there is none.
fn protected_backup<'c>(
    newest_first: &[&'c Backup],
    verified: impl Fn(&Backup) -> bool,
    mut healthy: impl FnMut(&Backup) -> bool,
) -> Result<&'c Backup> {
    let candidates = newest_first
        .iter()
        .filter(|b| verified(b))
        .chain(newest_first.iter().filter(|b| !verified(b) && b.problem.is_none()));
    let mut tried = 0;
    for b in candidates {
        tried += 1;
        if healthy(b) {
            return Ok(b);
        }
    }
    Err(refused(format!(
        "no backup can be shown healthy ({tried} of {} checked, none passed verify); prune removes nothing",
        newest_first.len()
    ))
    .hint("run `lastgood verify --all` to see what is wrong, and take a new backup before pruning")
    .into())
}

impl PrunePlan {
    /// Decides what to keep. `verified` says whether a backup was verified before (it is tried
    /// first); `healthy` checks one now; `last_known_good` says whether bisect marked it.
    /// Errors: `Usage` when no rule is given (that would remove everything); `Refused` when no
    /// backup passes `healthy`.
    pub fn new(
        catalog: &Catalog,
        rules: Rules,
        verified: impl Fn(&Backup) -> bool,
        healthy: impl FnMut(&Backup) -> bool,
        last_known_good: impl Fn(&Backup) -> bool,
    ) -> Result<PrunePlan> {
        if rules.keep_last + rules.keep_hourly + rules.keep_daily == 0 {
            return Err(usage("no retention rule given: pruning would remove every backup")
                .hint("pass --keep-last N, --keep-hourly N and/or --keep-daily N")
                .into());
        }
        let newest_first: Vec<&Backup> = catalog.backups.iter().rev().collect();
        let protected = Some(protected_backup(&newest_first, verified, healthy)?.content_sha256.clone());
        let in_windows: BTreeSet<&str> =
            catalog.windows.iter().flat_map(|w| w.bases.iter().map(|b| b.id.as_str())).collect();
        let mut hours = BTreeSet::new();
        let mut days = BTreeSet::new();
        let decisions = newest_first
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let local = b.taken_at.with_timezone(&Local);
                let mut reasons = Vec::new();
                if i < rules.keep_last {
                    reasons.push("last");
                }
                let hour = local.format("%Y-%m-%d %H").to_string();
                if hours.len() < rules.keep_hourly && hours.insert(hour) {
                    reasons.push("hourly");
                }
                let day = local.date_naive();
                if days.len() < rules.keep_daily && days.insert(day) {
                    reasons.push("daily");
                }
                if protected.as_deref() == Some(b.content_sha256.as_str()) {
                    reasons.push("newest healthy");
                }
                if last_known_good(b) {
                    reasons.push("last known good");
                }
                if in_windows.contains(b.id.as_str()) {
                    reasons.push("recovery window");
                }
                if b.copies.iter().any(|c| catalog::in_tool_repository(&c.real)) {
                    reasons.push("kept by its tool");
                }
                Decision {
                    backup_id: b.id.clone(),
                    taken_at: b.taken_at,
                    keep: !reasons.is_empty(),
                    reasons,
                    paths: b.copies.iter().map(|c| c.path.clone()).collect(),
                    links_left: links_to(b),
                    files: real_files(b),
                }
            })
            .collect();
        Ok(PrunePlan { decisions })
    }

    /// Removes the entries of every backup not kept (module docs). Returns where the removed
    /// ones were (real paths of local files). Errors: `Environment` when one cannot be removed,
    /// `Refused` for a path that now goes through a link.
    pub fn execute(&self) -> Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for d in self.decisions.iter().filter(|d| !d.keep) {
            for (store, key) in &d.files {
                if store.remove(key)? {
                    removed.push(store.locate(key));
                }
            }
        }
        Ok(removed)
    }
}

/// The entries of every copy of `b`: main file and hard links, then for each the files removed
/// with it (`-wal`, `-shm`) and its manifest.
fn real_files(b: &Backup) -> Vec<(Repo, PathBuf)> {
    let mut files = Vec::new();
    for c in &b.copies {
        let names: Vec<(Repo, PathBuf)> =
            std::iter::once((c.store.clone(), c.key.clone())).chain(c.hard_links.iter().cloned()).collect();
        files.extend(names.iter().cloned());
        for (store, main) in names {
            for s in registry::sources() {
                files.extend(s.companions(&main).into_iter().map(|k| (store.clone(), k)));
            }
            files.push((store, manifest::path_for(&main)));
        }
    }
    files
}

/// The symbolic links among the names of `b`'s copies.
fn links_to(b: &Backup) -> Vec<PathBuf> {
    b.copies
        .iter()
        .flat_map(|c| c.aliases.iter())
        .filter(|a| std::fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink()))
        .cloned()
        .collect()
}
