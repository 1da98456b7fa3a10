//! SQLite's probes (`Engine::open_probe`, see `engine::probe`): a backup queried in place,
//! read-only (`immutable=1`, see `file`), or from a private temporary copy when it is compressed
//! or read with its `-wal`; for a drill, restored whole into a temporary folder, `quick_check`ed,
//! and opened read-only there. The temporary copy or folder is removed when the probe drops.
//! Also SQLite's check of a `--check` query before any backup (`check_query`).

use anyhow::Result;
use rusqlite::Connection;

use super::SqliteDb;
use super::restore::RestorePlan;
use crate::engine::probe::{Probe, ProbeMode, ProbeRequest, copies_note};
use crate::engine::{Access, Database, LocalCopy};
use crate::error::{environment, usage};
use crate::output::Output;

/// A SQLite backup open for queries, and what keeps its bytes alive.
struct SqliteProbe {
    db: SqliteDb,
    restored: Option<String>,
    /// The temporary copy (`LocalCopy::keep`) or folder; removed on drop, after `db` closes.
    _keep: Box<dyn std::any::Any>,
}

impl Probe for SqliteProbe {
    fn db(&mut self) -> &mut dyn Database {
        &mut self.db
    }

    fn restored(&self) -> Option<&str> {
        self.restored.as_deref()
    }

    fn finish(self: Box<Self>) -> Result<Option<String>> {
        Ok(None)
    }
}

/// `Engine::open_probe`. Errors: `BadInput` for a file that is not SQLite, truncated or corrupt,
/// `Environment` when it cannot be read or a temporary folder cannot be made.
pub fn open(req: ProbeRequest<'_>, out: &Output) -> Result<Box<dyn Probe>> {
    match req.mode {
        ProbeMode::Query => in_place(req),
        ProbeMode::RestoreWhole => restored_whole(req, out),
    }
}

fn in_place(req: ProbeRequest<'_>) -> Result<Box<dyn Probe>> {
    let copy = req.backup.primary();
    let local: LocalCopy = req.reader.local(copy, Box::new(|_| {}))?;
    let uri = super::file::backup_uri_with(&local.path, local.with_wal);
    let db = SqliteDb::open_backup_uri(&uri, &local.path, &copy.path)?;
    Ok(Box::new(SqliteProbe { db, restored: None, _keep: local.keep }))
}

/// A restore drill: the whole backup into a new file in a temporary folder, as `restore` makes
/// it (first copy that verifies, `quick_check`), then opened read-only; messages name the backup.
fn restored_whole(req: ProbeRequest<'_>, out: &Output) -> Result<Box<dyn Probe>> {
    let folder = tempfile::Builder::new()
        .prefix("lastgood-drill-")
        .tempdir()
        .map_err(|e| environment(format!("cannot create a scratch folder: {e}")))?;
    let target = folder.path().join("drill.db");
    let plan = RestorePlan::new(&req.catalogued, &req.backup, req.why, None, target.clone(), false)?;
    let r = plan.execute(req.reader.as_ref(), out)?;
    let restored = format!(
        "restored whole in {:.2}s, quick_check {}{}",
        r.seconds,
        r.quick_check,
        copies_note(&r.passed_over_copies, &r.plan.backup_path)
    );
    let db = SqliteDb::open(&target, Access::ReadOnly)?.shown_as(&req.backup.primary().path);
    Ok(Box::new(SqliteProbe { db, restored: Some(restored), _keep: Box::new(folder) }))
}

/// `Engine::check_query`: SQLite's parser on an empty database. A query naming tables or columns
/// that only backups have parses as far as that and is accepted.
pub fn check_query(sql: &str) -> Result<()> {
    let conn = Connection::open_in_memory()?;
    match conn.prepare(sql) {
        Ok(st) if !st.readonly() => Err(usage(format!("the --check query `{sql}` writes; it must be a query"))
            .hint("write a SELECT that returns one number, e.g. SELECT count(*) = 0 FROM t WHERE …")
            .into()),
        Ok(st) if st.column_count() != 1 => {
            Err(usage(format!("the --check query `{sql}` returns {} columns; it must return one", st.column_count()))
                .into())
        }
        Ok(_) => Ok(()),
        Err(e) if names_missing_object(&e) => Ok(()),
        Err(e) => Err(usage(format!("the --check query is not valid SQL: {e}"))
            .hint("write one SELECT that returns one number (non-zero = good)")
            .into()),
    }
}

/// "no such table/column": the query may be fine on a backup that has them.
fn names_missing_object(e: &rusqlite::Error) -> bool {
    let m = e.to_string();
    m.contains("no such table") || m.contains("no such column")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_validated_before_any_backup() {
        let kind = |s: &str| crate::error::classify(&check_query(s).unwrap_err()).unwrap().kind;
        assert_eq!(kind("SELEC 1"), crate::error::Kind::Usage);
        assert_eq!(kind("SELECT 1; SELECT 2"), crate::error::Kind::Usage);
        assert_eq!(kind("SELECT 1, 2"), crate::error::Kind::Usage);
        assert_eq!(kind("CREATE TABLE t(x)"), crate::error::Kind::Usage);
        assert!(check_query("SELECT count(*) = 0 FROM downloads WHERE filename = 'x'").is_ok());
    }
}
