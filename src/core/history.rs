//! History: per backup, a table's row count and content checksum (and one column's), and whether
//! they changed from the previous backup — the timeline in which damage shows up.
//!
//! A table's digest is the sha256 of its rows streamed in key order (primary key; all columns for
//! a table without one) through the engine's `scan`, so memory stays bounded whatever the table's
//! size. Each value is encoded with its storage class (a tag byte, then the integer or the REAL's
//! bits little-endian, or the length-prefixed bytes of TEXT/BLOB), so integer 1, real 1.0 and text
//! '1' differ, as in `Value`'s equality. The column digest covers (key, column value) pairs, so a
//! value that moved to another row counts as a change. A pg_dump archive is read by restoring
//! only that table into a scratch database (on `--scratch-url`), dropped after the digest;
//! PostgreSQL values map to `Value`s as in `engine::postgres`, so digests compare across backups
//! of one engine. Digests are cached in the repository cache
//! per (backup content_sha256, table, column): a backup's content never changes under its checksum.
//! A backup whose table cannot be read (a plain dump, which restores only whole; a damaged
//! archive) gets a `cannot tell` note and the history goes on over the others.

use std::time::Instant;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::core::catalog::cache::{self, TableDigest};
use crate::core::catalog::{Backup, Catalog};
use crate::core::probe::{self, ProbeWith, is_environment};
use crate::engine::{Database, ProbeMode, Scan};
use crate::error::bad_input;
use crate::output::Output;
use crate::value::Value;

/// One backup's line in the history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub backup_id: String,
    pub sha256: String,
    pub taken_at: DateTime<Utc>,
    /// The table is in this backup (and the backup is usable).
    pub present: bool,
    pub rows: Option<u64>,
    pub table_digest: Option<String>,
    pub column_digest: Option<String>,
    /// The table's rows differ from the previous backup that has the table.
    pub changed: Option<bool>,
    /// The column's values differ from the previous backup that has them.
    pub column_changed: Option<bool>,
    /// The digest came from the cache.
    pub cached: bool,
    /// Why there is no digest (damaged backup, no such table or column), or `cannot tell: …`
    /// when this backup's table could not be read (a plain dump, which restores only whole; an
    /// archive pg_restore fails on): the other backups are digested all the same.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    pub table: String,
    pub column: Option<String>,
    pub entries: Vec<HistoryEntry>,
    /// Backups whose table (or, with a column, whose column) changed from the previous one.
    pub changes: usize,
    pub seconds: f64,
}

/// Builds the history of `table` (and `column`) over the catalog, oldest first. Errors:
/// `BadInput` when no usable backup has the table, or none of those has the column.
pub fn history(
    catalog: &Catalog,
    table: &str,
    column: Option<&str>,
    scratch: Option<&str>,
    out: &Output,
) -> Result<HistoryReport> {
    let started = Instant::now();
    for b in catalog.backups.iter().filter(|b| b.problem.is_none()) {
        b.refuse_skipped(&[table.to_string()], "history follows")?;
    }
    let with_table: Vec<&Backup> =
        catalog.backups.iter().filter(|b| b.problem.is_none() && b.table(table).is_some()).collect();
    if with_table.is_empty() {
        return Err(bad_input(format!("no usable backup has a table `{table}`"))
            .hint("list tables with `lastgood catalog`")
            .into());
    }
    let bar = out.count_bar(catalog.backups.len() as u64, &format!("digesting `{table}`"));
    let mut entries = Vec::new();
    for b in &catalog.backups {
        entries.push(entry_for(catalog, b, table, column, scratch, out)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(c) = column
        && entries.iter().any(|e| e.table_digest.is_some())
        && entries.iter().all(|e| e.column_digest.is_none())
    {
        return Err(bad_input(format!("no backup has a column `{c}` in table `{table}`"))
            .hint("check the name given to --column")
            .into());
    }
    mark_changes(&mut entries);
    let changes = entries
        .iter()
        .filter(|e| if column.is_some() { e.column_changed == Some(true) } else { e.changed == Some(true) })
        .count();
    Ok(HistoryReport {
        table: table.to_string(),
        column: column.map(str::to_string),
        entries,
        changes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn entry_for(
    catalog: &Catalog,
    b: &Backup,
    table: &str,
    column: Option<&str>,
    scratch: Option<&str>,
    out: &Output,
) -> Result<HistoryEntry> {
    let mut e = HistoryEntry {
        backup_id: b.id.clone(),
        sha256: b.sha256.clone(),
        taken_at: b.taken_at,
        present: false,
        rows: None,
        table_digest: None,
        column_digest: None,
        changed: None,
        column_changed: None,
        cached: false,
        note: None,
    };
    if let Some(p) = &b.problem {
        e.note = Some(format!("damaged: {p}"));
        return Ok(e);
    }
    if b.table(table).is_none() {
        e.note = Some(format!("no table `{table}`"));
        return Ok(e);
    }
    let col_key = column.unwrap_or("");
    let cached = b.copies.iter().find_map(|c| cache::read_history(&c.repository, &b.content_sha256, table, col_key));
    let digest = match cached {
        Some(d) => {
            e.cached = true;
            d
        }
        None => {
            e.present = true;
            let d = match digest_backup(catalog, b, table, column, scratch, out)? {
                Ok(d) => d,
                Err(reason) => {
                    e.note = Some(format!("cannot tell: {reason}"));
                    return Ok(e);
                }
            };
            // Best effort, like every cache write.
            let _ = cache::write_history(&b.primary().repository, &b.content_sha256, table, col_key, &d);
            d
        }
    };
    e.present = true;
    e.rows = Some(digest.rows);
    e.table_digest = Some(digest.table_digest);
    if let Some(c) = column {
        if digest.column_digest.is_none() {
            e.note = Some(format!("no column `{c}`"));
        }
        e.column_digest = digest.column_digest;
    }
    Ok(e)
}

/// Digests `table` of one backup through its engine's probe (a SQLite backup in place; a pg_dump
/// archive by restoring only that table into a scratch database on `scratch`, dropped again
/// afterwards whatever happens). `Ok(Err(reason))` when this backup cannot be read or restored (a
/// plain dump restores only whole, a damaged archive, a file damaged since it was catalogued): it
/// cannot tell, and the other backups still can. Errors: what no backup could get past (no
/// `--scratch-url`: `Usage`; the machine or the server failing: `Environment`), and failures
/// while digesting.
fn digest_backup(
    catalog: &Catalog,
    b: &Backup,
    table: &str,
    column: Option<&str>,
    scratch: Option<&str>,
    out: &Output,
) -> Result<std::result::Result<TableDigest, String>> {
    if scratch.is_none() && probe::needs_server(b) {
        return Err(probe::no_server(b));
    }
    let why = format!("history of `{table}` in backup {}", b.id);
    let with = ProbeWith { server: scratch, mode: ProbeMode::Query };
    let mut p = match probe::open(catalog, b, Some(vec![table.to_string()]), with, why, out) {
        Ok(p) => p,
        Err(err) if is_environment(&err) => return Err(err),
        Err(err) if probe::needs_server(b) => return Ok(Err(format!("cannot restore `{table}` from it: {err:#}"))),
        Err(err) => return Ok(Err(format!("cannot read it: {err:#}"))),
    };
    let d = digest_table(p.db(), table, column)?;
    p.finish()?;
    Ok(Ok(d))
}

/// Sets `changed` / `column_changed` against the previous entry that has a digest.
fn mark_changes(entries: &mut [HistoryEntry]) {
    let (mut prev_table, mut prev_col): (Option<(u64, String)>, Option<String>) = (None, None);
    for e in entries.iter_mut() {
        if let (Some(rows), Some(d)) = (e.rows, &e.table_digest) {
            let now = (rows, d.clone());
            e.changed = prev_table.as_ref().map(|p| *p != now);
            prev_table = Some(now);
        }
        if let Some(c) = &e.column_digest {
            e.column_changed = prev_col.as_ref().map(|p| p != c);
            prev_col = Some(c.clone());
        }
    }
}

/// Streams `table` in key order and digests it (and `column`, when the table has it).
pub fn digest_table(db: &mut dyn Database, table: &str, column: Option<&str>) -> Result<TableDigest> {
    let schema = db.table_schema(table)?;
    let columns: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
    let key: Vec<String> = if schema.primary_key.is_empty() { columns.clone() } else { schema.primary_key.clone() };
    let key_idx: Vec<usize> = key.iter().filter_map(|k| columns.iter().position(|c| c == k)).collect();
    let col_idx = column.and_then(|c| columns.iter().position(|n| n == c));
    let (mut table_hash, mut col_hash) = (Sha256::new(), Sha256::new());
    let mut rows = 0u64;
    let scan = Scan { table: table.to_string(), columns: columns.clone(), order_by: key, filter: None };
    db.scan(&scan, &mut |row| {
        rows += 1;
        for v in &row {
            encode(&mut table_hash, v);
        }
        if let Some(ci) = col_idx {
            for &k in &key_idx {
                encode(&mut col_hash, &row[k]);
            }
            encode(&mut col_hash, &row[ci]);
        }
        Ok(())
    })?;
    Ok(TableDigest {
        rows,
        table_digest: hex::encode(table_hash.finalize()),
        column_digest: col_idx.map(|_| hex::encode(col_hash.finalize())),
    })
}

fn encode(h: &mut Sha256, v: &Value) {
    match v {
        Value::Null => h.update([0u8]),
        Value::Integer(i) => {
            h.update([1u8]);
            h.update(i.to_le_bytes());
        }
        Value::Real(f) => {
            h.update([2u8]);
            h.update(f.to_bits().to_le_bytes());
        }
        Value::Text(s) => {
            h.update([3u8]);
            h.update((s.len() as u64).to_le_bytes());
            h.update(s);
        }
        Value::Blob(b) => {
            h.update([4u8]);
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(setup: &str, column: Option<&str>) -> TableDigest {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.db");
        // Made by the real sqlite3 tool, read through the engine registry.
        let made = std::process::Command::new("sqlite3").arg(&p).arg(setup).status().expect("sqlite3 on PATH");
        assert!(made.success());
        let loc = crate::engine::Location::parse(p.to_str().unwrap());
        let mut db = crate::engine::open(&loc, crate::engine::Access::ReadOnly).unwrap();
        digest_table(db.as_mut(), "t", column).unwrap()
    }

    #[test]
    fn digest_ignores_insertion_order_but_sees_storage_classes() {
        let a =
            digest_of("CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, 1), (2, 'x');", Some("v"));
        let b =
            digest_of("CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (2, 'x'), (1, 1);", Some("v"));
        let c =
            digest_of("CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, 1.0), (2, 'x');", Some("v"));
        let d =
            digest_of("CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, '1'), (2, 'x');", Some("v"));
        assert_eq!(a, b);
        assert_eq!(a.rows, 2);
        assert_ne!(a.column_digest, c.column_digest);
        assert_ne!(a.column_digest, d.column_digest);
        assert_ne!(c.table_digest, d.table_digest);
    }

    #[test]
    fn tables_without_a_key_are_digested_as_multisets() {
        let a = digest_of("CREATE TABLE t(a, b); INSERT INTO t VALUES (1, 'x'), (2, 'y'), (1, 'x');", None);
        let b = digest_of("CREATE TABLE t(a, b); INSERT INTO t VALUES (1, 'x'), (1, 'x'), (2, 'y');", None);
        let c = digest_of("CREATE TABLE t(a, b); INSERT INTO t VALUES (1, 'x'), (2, 'y');", None);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.column_digest, None);
    }
}
