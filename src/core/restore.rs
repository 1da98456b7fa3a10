//! Restore, as the core asks for it: a catalogued backup (whole, or some tables) into a new
//! scratch database, by the engine of the backup's format (`Engine::plan_restore`: SQLite's
//! `engine/sqlite/restore.rs`, PostgreSQL's `engine/postgres/restore.rs`).
//!
//! Built in two steps, like every write lastgood makes: `plan` checks everything that can be
//! checked without writing (backup usable, tables present, target allowed) and can be printed
//! (a dry run); `RestoreJob::execute` carries it out. What the engine is told about the catalog
//! (the backup's copies and checksums, the copies and live sources it must never write over) is
//! built here (`core/request.rs`), so no engine reads the catalog.
//!
//! Invariants every engine's restore keeps: the copy read is the first whose bytes verify
//! against the catalog's checksums (or exactly the one `--backup PATH` names); a failed or
//! interrupted restore leaves nothing at the target; a backup or a live database is never a
//! target.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::core::catalog::{Backup, Catalog, RecoveryWindow, Target};
use crate::core::request::{CatalogReader, catalogued};
use crate::engine::{BackupRef, RecoveryRequest, RestoreJob, RestoreRequest, RestoreTarget, WindowRef, registry};
use crate::error::bad_input;

/// What to restore, where, as the command line says it.
#[derive(Debug, Clone)]
pub struct RestoreArgs {
    /// Why this backup was chosen, in words.
    pub why: String,
    pub tables: Option<Vec<String>>,
    /// The copy `--backup PATH` names, read alone.
    pub only_copy: Option<PathBuf>,
    pub target: RestoreTarget,
    pub force: bool,
    pub jobs: u32,
    pub now: DateTime<Utc>,
}

/// Plans the restore of `backup` (one of `catalog`'s) by its engine. Errors: as
/// `Engine::plan_restore`.
pub fn plan(catalog: &Catalog, backup: &Backup, args: RestoreArgs) -> Result<Box<dyn RestoreJob>> {
    let req = RestoreRequest {
        backup: BackupRef::from(backup),
        why: args.why,
        tables: args.tables,
        only_copy: args.only_copy,
        target: args.target,
        force: args.force,
        jobs: args.jobs,
        now: args.now,
        catalogued: catalogued(catalog),
        reader: CatalogReader::of(backup),
    };
    registry::for_format(backup.format).plan_restore(req)
}

/// Plans the restore of `window` (one of `catalog`'s) to the moment `to`, by the engine of its
/// backups' format (`Engine::plan_recovery`). `args.only_copy` is not used (a window reads its
/// base backups' first copies). Errors: `BadInput` when a base backup is no longer in the
/// catalog; as `Engine::plan_recovery`. `then`: a second, later moment restored too (into a
/// second scratch database).
pub fn plan_window(
    catalog: &Catalog,
    window: &RecoveryWindow,
    to: Target,
    then: Option<Target>,
    args: RestoreArgs,
) -> Result<Box<dyn RestoreJob>> {
    let bases = window
        .bases
        .iter()
        .map(|wb| {
            catalog.backups.iter().find(|b| b.id == wb.id).map(BackupRef::from).ok_or_else(|| {
                bad_input(format!("base backup {} of recovery window {} is not in the catalog", wb.id, window.id))
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let req = RecoveryRequest {
        window: WindowRef {
            id: window.id.clone(),
            system: window.system.clone(),
            timeline: window.timeline,
            window: window.window.clone(),
            log: window.log.clone(),
        },
        bases,
        to,
        then,
        why: args.why,
        tables: args.tables,
        target: args.target,
        force: args.force,
        jobs: args.jobs,
        now: args.now,
        catalogued: catalogued(catalog),
    };
    registry::for_format(window.format).plan_recovery(req)
}

/// The copy `path` names, when it is one of `backup`'s copies (`--backup PATH`).
pub fn named_copy(backup: &Backup, path: Option<&Path>) -> Option<PathBuf> {
    path.filter(|p| p.exists()).and_then(|p| backup.copy_at(p)).map(|c| c.path.clone())
}
