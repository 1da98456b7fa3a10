//! Safety snapshots of live, as every command that writes to live names them, and the undo
//! command that promotes one back.
//!
//! Invariant: a snapshot is `<live>.lastgood-snapshot-<UTC stamp>Z.db` beside live (the README's
//! name, which the catalog reads the time back from), never an existing file: a clash gets `-1`,
//! `-2`, … appended. Merge and promote use these.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::engine::postgres::conn::PgConn;
use crate::util::fs::parent_dir;
use crate::util::shell::shell_quote;

/// `<live>.lastgood-snapshot-20261124T060000Z.db`, beside live, not yet existing.
pub fn snapshot_path(live: &Path, now: DateTime<Utc>) -> PathBuf {
    let name = live.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "live".into());
    let base = format!("{name}.lastgood-snapshot-{}", now.format("%Y%m%dT%H%M%SZ"));
    let dir = parent_dir(live);
    let mut candidate = dir.join(format!("{base}.db"));
    let mut n = 1;
    while candidate.exists() {
        candidate = dir.join(format!("{base}-{n}.db"));
        n += 1;
    }
    candidate
}

/// The command that puts live back as the snapshot holds it.
pub fn undo_command(snapshot: &Path, live: &str) -> String {
    format!(
        "lastgood promote --scratch {} --live {} --yes",
        shell_quote(&snapshot.display().to_string()),
        shell_quote(live)
    )
}

/// The commands that put back the merged tables of a PostgreSQL live from a per-table safety
/// snapshot (a pg_dump archive): restore those tables into a scratch database, then merge every
/// kind of change back, with live's triggers skipped: the snapshot already holds whatever they had
/// written, so running them again would change rows a second time. Other tables, and writes to
/// them since, are untouched. Connection strings are printed without password (libpq finds it
/// in PGPASSWORD or ~/.pgpass).
pub fn pg_undo_command(snapshot: &Path, live: &str, tables: &[String]) -> anyhow::Result<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_carry_a_utc_stamp_the_catalog_reads_back() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T06:00:00Z").unwrap().with_timezone(&Utc);
        let p = snapshot_path(Path::new("/nonexistent/shop.db"), now);
        assert_eq!(p, Path::new("/nonexistent/shop.db.lastgood-snapshot-20261124T060000Z.db"));
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(crate::time::timestamp_in_name(&name), Some(now));
    }
}
