//! Safety snapshots of a PostgreSQL live, as merge names them (a pg_dump custom archive of the
//! merged tables, `WriteTxn::safety_snapshot`), and the commands that undo a merge from one.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::conn::PgConn;
use crate::error::environment;
use crate::util::fs::parent_dir;
use crate::util::shell::shell_quote;

/// Where the safety snapshot of a merge into `live` goes: the folder `lastgood-snapshots` of the
/// current folder (created here), named after the database and the time.
pub fn snapshot_path(live: &str, now: DateTime<Utc>) -> Result<PathBuf> {
    let conn = PgConn::resolve(live)?;
    // A folder of their own: the undo command catalogs it as a repository.
    let dir = PathBuf::from("lastgood-snapshots");
    std::fs::create_dir_all(&dir)
        .map_err(|e| environment(format!("cannot create the snapshot folder `{}`: {e}", dir.display())))?;
    Ok(dir.join(format!("{}.lastgood-snapshot-{}Z.dump", conn.dbname, now.format("%Y%m%dT%H%M%S%.3f"))))
}

/// The commands that put back the merged tables of a PostgreSQL live from a per-table safety
/// snapshot (a pg_dump archive): restore those tables into a scratch database, then merge every
/// kind of change back, with live's triggers skipped: the snapshot already holds whatever they had
/// written, so running them again would change rows a second time. Other tables, and writes to
/// them since, are untouched. Connection strings are printed without password (libpq finds it
/// in PGPASSWORD or ~/.pgpass).
pub fn undo_command(snapshot: &Path, live: &str, tables: &[String]) -> Result<String> {
    let conn = PgConn::resolve(live)?;
    let name = snapshot.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stamp: String = name.chars().filter(char::is_ascii_digit).collect();
    let undo_db = format!("lastgood_undo_{}", &stamp[stamp.len().saturating_sub(17)..]);
    let kv = |db: &str| shell_quote(&format!("host={} port={} user={} dbname={db}", conn.host, conn.port, conn.user));
    let repo = parent_dir(snapshot);
    let list = shell_quote(&tables.join(","));
    Ok(format!(
        "lastgood restore --repo {} --backup {} --live {} --tables {list} --into {undo_db} && lastgood merge --scratch {} --live {} --tables {list} --restore updated,deleted,inserted --triggers skip --apply",
        shell_quote(&repo.display().to_string()),
        shell_quote(&snapshot.display().to_string()),
        kv(&conn.dbname),
        kv(&undo_db),
        kv(&conn.dbname),
    ))
}
