//! SQLite's entry in the engine registry (`engine::registry`): what the core may ask of it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::engine::{
    Access, BackupDetails, BackupRef, CopyReader, Database, Engine, EngineKind, Format, Location, PromoteJob,
    PromoteRequest, RestoreJob, RestoreRequest, TakenBackup,
};
use crate::output::Output;
use crate::util::compress::Compression;

/// The SQLite engine.
pub struct Sqlite;

impl Engine for Sqlite {
    fn kind(&self) -> EngineKind {
        EngineKind::Sqlite
    }

    fn name(&self) -> &'static str {
        "SQLite"
    }

    fn claims(&self, loc: &Location) -> bool {
        matches!(loc, Location::Sqlite(_))
    }

    fn formats(&self) -> &'static [Format] {
        &[Format::Sqlite]
    }

    fn open(&self, loc: &Location, access: Access) -> Result<Box<dyn Database>> {
        let Location::Sqlite(p) = loc else { unreachable!("the registry asks the engine that claims it") };
        Ok(Box::new(super::SqliteDb::open(p, access)?))
    }

    // restore, promote, backup, snapshots (write side)

    fn plan_restore(&self, req: RestoreRequest) -> Result<Box<dyn RestoreJob>> {
        super::restore::plan(req)
    }

    fn plan_promote(&self, req: &PromoteRequest) -> Result<Box<dyn PromoteJob>> {
        super::promote::plan(req)
    }

    fn lock_file(&self, live: &Location) -> Option<PathBuf> {
        Some(path_of(live).to_path_buf())
    }

    fn safety_snapshot_path(&self, live: &Location, now: DateTime<Utc>) -> Result<PathBuf> {
        Ok(super::snapshot::snapshot_path(path_of(live), now))
    }

    fn undo_command(&self, live: &Location, snapshot: &Path, _tables: &[String]) -> Result<String> {
        // The snapshot is the whole file: promoting it back restores every table.
        Ok(super::snapshot::undo_command(snapshot, &live.describe()))
    }

    fn take_backup(&self, live: &Location, compression: Compression, dir: &Path, out: &Output) -> Result<TakenBackup> {
        super::backup::take(path_of(live), compression, dir, out)
    }

    fn backup_details(&self, backup: &BackupRef, reader: &dyn CopyReader) -> Result<BackupDetails> {
        let copy = backup.primary();
        let local = reader.local(copy, Box::new(|_| {}))?;
        let uri = super::file::backup_uri_with(&local.path, local.with_wal);
        let schema = super::SqliteDb::open_backup_uri(&uri, &local.path, &copy.path)?.schema_objects()?;
        Ok(BackupDetails { tables: backup.tables.clone(), schema })
    }
}

/// The file of a location the registry handed to this engine.
fn path_of(loc: &Location) -> &Path {
    let Location::Sqlite(p) = loc else { unreachable!("the registry asks the engine that claims it") };
    p
}
