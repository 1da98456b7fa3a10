//! PostgreSQL's probes (`Engine::open_probe`, see `engine::probe`): a pg_dump archive restored
//! (its `tables`, or all of it) into a new marked scratch database on the scratch server, named
//! after the backup, this process and the time so concurrent probes never collide, queried, and
//! dropped again — by `finish`, when the probe drops (also after an error or a panic), or on
//! Ctrl-C.

use anyhow::Result;
use chrono::Utc;

use super::PgDb;
use super::conn::PgConn;
use super::restore::{PgRestorePlan, PgRestoreReport};
use super::scratch::{Admin, PREFIX};
use crate::engine::probe::{Probe, ProbeRequest, copies_note};
use crate::engine::{BackupRef, Database};
use crate::error::usage;
use crate::output::Output;

/// A scratch database restored for one probe (drill, bisect, history) and dropped again.
pub struct ProbeScratch {
    pub report: PgRestoreReport,
    restored: String,
    db: Option<PgDb>,
    /// The database to drop; `None` once dropped.
    name: Option<String>,
    server: PgConn,
    cleanup: u64,
}

/// `Engine::open_probe`. Errors: `Usage` without a server; as `PgRestorePlan` (`BadInput` for an
/// archive that cannot be restored, `Environment` for a server that fails).
pub fn open(req: ProbeRequest<'_>, out: &Output) -> Result<Box<dyn Probe>> {
    let Some(spec) = req.server else {
        return Err(usage(format!(
            "backup {} is a {} archive: checking it needs a PostgreSQL server for scratch databases",
            req.backup.id,
            req.backup.format.label()
        ))
        .hint("pass --scratch-url postgres://user@host/postgres (or `server = …` in a drill config): a scratch database is created there and dropped")
        .into());
    };
    let server = PgConn::resolve(spec)?;
    Ok(Box::new(ProbeScratch::restore(&req.backup, req.tables, &server, req.why, out)?))
}

impl ProbeScratch {
    /// Restores `tables` (`None`: the whole archive) of `backup` into a new marked database on
    /// `server`.
    pub fn restore(
        backup: &BackupRef,
        tables: Option<Vec<String>>,
        server: &PgConn,
        why: String,
        out: &Output,
    ) -> Result<ProbeScratch> {
        let now = Utc::now();
        let id: String = backup.id.chars().take(16).collect();
        let name = format!("{PREFIX}{id}_{}_{}", std::process::id(), now.format("%H%M%S%3f"));
        let plan = PgRestorePlan::new(backup, why, tables, server, false, Some(&name), None, &[], false, 2, now)?;
        let report = plan.execute(out)?;
        let cleanup = {
            let (conn, name) = (server.clone(), name.clone());
            crate::interrupt::cleanup_on_interrupt(move || {
                if let Ok(mut admin) = Admin::connect(&conn) {
                    let _ = admin.drop(&name);
                }
            })
        };
        let restored = format!(
            "restored whole into scratch database `{}` in {:.2}s ({} tables, {} indexes, {} constraints){}",
            report.plan.target_database,
            report.seconds,
            report.tables_restored.len(),
            report.indexes,
            report.constraints,
            copies_note(&report.passed_over_copies, &report.plan.backup_path)
        );
        let mut probe = ProbeScratch { db: None, name: Some(name), server: server.clone(), cleanup, report, restored };
        probe.db = Some(PgDb::connect(probe.report.plan.conn())?);
        Ok(probe)
    }

    fn drop_database(&mut self) -> Result<()> {
        self.db = None;
        let Some(name) = self.name.take() else { return Ok(()) };
        crate::interrupt::forget_cleanup(self.cleanup);
        Admin::connect(&self.server)?.drop(&name)
    }
}

impl Probe for ProbeScratch {
    fn db(&mut self) -> &mut dyn Database {
        self.db.as_mut().expect("open until finished")
    }

    fn restored(&self) -> Option<&str> {
        Some(&self.restored)
    }

    fn finish(mut self: Box<Self>) -> Result<Option<String>> {
        let name = self.report.plan.target_database.clone();
        self.drop_database()?;
        Ok(Some(format!("scratch database `{name}` dropped")))
    }
}

impl Drop for ProbeScratch {
    fn drop(&mut self) {
        let _ = self.drop_database();
    }
}
