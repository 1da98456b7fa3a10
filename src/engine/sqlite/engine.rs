//! SQLite's entry in the engine registry (`engine::registry`): what the core may ask of it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::engine::{
    Access, BackupDetails, BackupRef, CopyReader, Database, Engine, EngineKind, Format, Location, Probe, ProbeRequest,
    PromoteJob, PromoteRequest, RestoreJob, RestoreRequest, TakenBackup,
};
use crate::error::Kind;
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

    // probes (bisect, history, drill)

    fn open_probe(&self, req: ProbeRequest<'_>, out: &Output) -> Result<Box<dyn Probe>> {
        super::probe::open(req, out)
    }

    fn check_query(&self, sql: &str) -> Result<()> {
        super::probe::check_query(sql)
    }

    fn integrity_words(&self) -> &'static str {
        " (PRAGMA integrity_check)"
    }

    fn verified_words(&self) -> &'static str {
        "checksum, readable, integrity_check ok"
    }

    fn same_database(&self, a: &Location, b: &Location) -> bool {
        crate::engine::same_file(path_of(a), path_of(b))
    }

    fn error_kind(&self, e: &(dyn std::error::Error + 'static)) -> Option<Kind> {
        use rusqlite::Error as E;
        match e.downcast_ref::<rusqlite::Error>()? {
            E::SqliteFailure(..) | E::SqlInputError { .. } | E::InvalidPath(_) => Some(Kind::Environment),
            E::FromSqlConversionFailure(..) | E::IntegralValueOutOfRange(..) | E::InvalidColumnType(..) => {
                Some(Kind::BadInput)
            }
            E::Utf8Error(..) | E::NulError(_) => Some(Kind::BadInput),
            _ => None,
        }
    }
}

/// The file of a location the registry handed to this engine.
fn path_of(loc: &Location) -> &Path {
    let Location::Sqlite(p) = loc else { unreachable!("the registry asks the engine that claims it") };
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::kind_with;

    #[test]
    fn sqlite_failures_are_environment_or_bad_input_and_the_rest_internal() {
        let kinds = |e: &(dyn std::error::Error + 'static)| Sqlite.error_kind(e);
        let cantopen = rusqlite::Connection::open("/nonexistent-folder/x.db").unwrap_err();
        assert_eq!(kind_with(&anyhow::Error::from(cantopen).context("opening live"), &kinds), Kind::Environment);
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let no_row = conn.query_row("SELECT 1 WHERE 0", [], |r| r.get::<_, i64>(0)).unwrap_err();
        assert_eq!(kind_with(&anyhow::Error::from(no_row), &kinds), Kind::Internal);
        let not_text = conn.query_row("SELECT x'ff'", [], |r| r.get::<_, String>(0)).unwrap_err();
        assert_eq!(kind_with(&anyhow::Error::from(not_text), &kinds), Kind::BadInput);
    }
}
