//! PostgreSQL's entry in the engine registry (`engine::registry`): what the core may ask of it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::conn::PgConn;
use super::scratch::{Admin, scratch_drop};
use crate::engine::{
    Access, BackupDetails, BackupRef, BackupSource, CopyReader, Database, Engine, EngineKind, Format, KeptDb, Location,
    Probe, ProbeRequest, PromoteJob, PromoteRequest, RecoveryRequest, RestoreJob, RestoreRequest, ScratchDb,
    ScratchList, TakenBackup, TxnTouch, WalScan, WalScanRequest,
};
use crate::error::Kind;
use crate::output::Output;
use crate::util::compress::Compression;

/// The PostgreSQL engine.
pub struct Postgres;

impl Engine for Postgres {
    fn kind(&self) -> EngineKind {
        EngineKind::Postgres
    }

    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn claims(&self, loc: &Location) -> bool {
        matches!(loc, Location::Postgres(_))
    }

    fn formats(&self) -> &'static [Format] {
        &[Format::PgCustom, Format::PgDirectory, Format::PgTar, Format::PgPlain, Format::PgBase, Format::PgBackRest]
    }

    fn open(&self, loc: &Location, access: Access) -> Result<Box<dyn Database>> {
        let Location::Postgres(spec) = loc else { unreachable!("the registry asks the engine that claims it") };
        Ok(Box::new(super::PgDb::open_with(spec, access)?))
    }

    // restore, promote, backup, snapshots (write side)

    fn plan_restore(&self, req: RestoreRequest) -> Result<Box<dyn RestoreJob>> {
        super::restore::plan(req)
    }

    fn plan_recovery(&self, req: RecoveryRequest) -> Result<Box<dyn RestoreJob>> {
        super::pitr::plan(req)
    }

    fn plan_promote(&self, req: &PromoteRequest) -> Result<Box<dyn PromoteJob>> {
        super::promote::plan(req)
    }

    fn lock_file(&self, _live: &Location) -> Option<PathBuf> {
        // The write transaction takes lastgood's advisory lock itself.
        None
    }

    fn safety_snapshot_path(&self, live: &Location, now: DateTime<Utc>) -> Result<PathBuf> {
        super::snapshot::snapshot_path(spec_of(live), now)
    }

    fn undo_command(&self, live: &Location, snapshot: &Path, tables: &[String]) -> Result<String> {
        super::snapshot::undo_command(snapshot, spec_of(live), tables)
    }

    fn take_backup(&self, live: &Location, compression: Compression, dir: &Path, out: &Output) -> Result<TakenBackup> {
        super::backup::take(spec_of(live), compression, dir, out)
    }

    fn take_base_backup(
        &self,
        live: &Location,
        compression: Compression,
        dir: &Path,
        out: &Output,
    ) -> Result<TakenBackup> {
        super::base_take::take(spec_of(live), compression, dir, out)
    }

    fn reads_wal(&self) -> bool {
        true
    }

    fn scan_wal(&self, req: &WalScanRequest<'_>, out: &Output, sink: &mut dyn FnMut(TxnTouch)) -> Result<WalScan> {
        super::walscan::scan(req, out, sink)
    }

    fn backup_details(&self, backup: &BackupRef, _reader: &dyn CopyReader) -> Result<BackupDetails> {
        if backup.format.is_base_backup() {
            return Err(crate::error::bad_input(format!(
                "backup {} is a base backup: its tables are known only once it is recovered to a moment",
                backup.id
            ))
            .hint(
                "`lastgood catalog` shows its recovery window; `lastgood restore --at … --live …` recovers its tables",
            )
            .into());
        }
        // Row counts of binary pg_dump archives are not in the catalog: read them now.
        let (tables, schema) = super::restore::archive_details(backup)?;
        Ok(BackupDetails { tables, schema })
    }

    fn scratch_list(&self, server: &Location) -> Result<ScratchList> {
        let server = PgConn::resolve(spec_of(server))?;
        let databases = Admin::connect(&server)?.scratch_list()?;
        Ok(ScratchList { server: server.describe_server(), databases })
    }

    fn scratch_drop(
        &self,
        server: &Location,
        which: Option<&str>,
        catalogued: &[BackupSource],
    ) -> Result<(Vec<ScratchDb>, Vec<KeptDb>)> {
        let server = PgConn::resolve(spec_of(server))?;
        scratch_drop(&server, which, &super::restore::live_sources(catalogued))
    }

    fn scratch_folders(&self, dir: &std::path::Path) -> Vec<crate::engine::ScratchFolder> {
        super::instance::leftovers(dir)
    }

    fn remove_scratch_folders(&self, dir: &std::path::Path, which: Option<&str>) -> Vec<String> {
        super::instance::clean_leftovers_named(dir, which)
    }

    // probes (bisect, history, drill)

    fn open_probe(&self, req: ProbeRequest<'_>, out: &Output) -> Result<Box<dyn Probe>> {
        super::probe::open(req, out)
    }

    fn probe_needs_server(&self) -> bool {
        true
    }

    fn check_server(&self, spec: &str) -> Result<()> {
        PgConn::resolve(spec).map(|_| ())
    }

    fn integrity_words(&self) -> &'static str {
        ": pg_restore succeeded and every row of every table was read"
    }

    fn verified_words(&self) -> &'static str {
        "checksum and archive structure ok"
    }

    fn same_database(&self, a: &Location, b: &Location) -> bool {
        // Two spellings (URL, key=value, environment) of one server and database are the same.
        match (PgConn::resolve(spec_of(a)), PgConn::resolve(spec_of(b))) {
            (Ok(x), Ok(y)) => (&x.host, x.port, &x.dbname) == (&y.host, y.port, &y.dbname),
            _ => a == b,
        }
    }

    fn error_kind(&self, e: &(dyn std::error::Error + 'static)) -> Option<Kind> {
        e.is::<postgres::Error>().then_some(Kind::Environment)
    }
}

/// The connection string of a location the registry handed to this engine.
fn spec_of(loc: &Location) -> &str {
    let Location::Postgres(spec) = loc else { unreachable!("the registry asks the engine that claims it") };
    spec
}
