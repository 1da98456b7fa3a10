//! One change written with compare-and-set: the row read from live must still hold the values
//! the plan saw (a keyed row: the compared columns; a row of a table without a key: its number
//! of copies), the write must change exactly that row, and the row must read back as scratch's.
//! `Tally` counts the outcomes and applies `--strict`.

use anyhow::Result;

use super::cascade::Cascades;
use super::{SkippedRow, column_indexes, key_text, pick};
use crate::core::diff::{Change, ChangeKind, KeyMode, TableSpec};
use crate::core::sqlgen::TableSql;
use crate::engine::WriteTxn;
use crate::error::{bad_input, refused};
use crate::value::{Row, Value};

/// Counts of the replay so far, and the `--strict` rule.
pub(super) struct Tally {
    pub(super) strict: bool,
    pub(super) applied: u64,
    pub(super) skipped: u64,
    pub(super) rows: Vec<SkippedRow>,
    /// Rows written per table (each applied change writes its copies, one row each).
    pub(super) by_table: std::collections::BTreeMap<String, u64>,
    /// Per table, the columns a sequence fills (index, sequence) and the largest integer the
    /// merge re-inserted there so far.
    pub(super) sequences: Vec<Vec<(usize, String, Option<i64>)>>,
}

impl Tally {
    /// Records the outcome of one change of table `ti` (`Some(reason)`: skipped). Errors:
    /// `Refused` for a skipped row under `--strict`.
    pub(super) fn record(
        &mut self,
        ti: usize,
        spec: &TableSpec,
        change: &Change,
        outcome: Option<String>,
    ) -> Result<()> {
        let Some(reason) = outcome else {
            self.applied += change.copies();
            *self.by_table.entry(spec.table.clone()).or_default() += change.copies();
            if let (ChangeKind::Deleted, Some(row)) = (&change.kind, change.scratch_row.as_ref()) {
                for (ci, _, top) in &mut self.sequences[ti] {
                    if let Value::Integer(v) = row[*ci] {
                        *top = Some(top.map_or(v, |t| t.max(v)));
                    }
                }
            }
            return Ok(());
        };
        if self.strict {
            return Err(refused(format!(
                "--strict: a planned {} row of `{}` ({}) could not be written as planned: {reason}; nothing was written",
                change.kind.name(),
                spec.table,
                key_text(spec, change)
            ))
            .hint("re-run the merge to plan against live as it is now, or drop --strict to skip such rows")
            .into());
        }
        self.skipped += change.copies();
        if self.rows.len() < 100 {
            self.rows.push(SkippedRow {
                table: spec.table.clone(),
                kind: change.kind.name(),
                key: spec.columns.iter().cloned().zip(change.key.iter().cloned()).collect(),
                reason,
            });
        }
        Ok(())
    }
}

/// The words of a constraint error, which the engines raise as `BadInput`: SQLite's
/// (`UNIQUE constraint failed: t.v`) and PostgreSQL's (`… violates unique constraint "t_v"`).
pub(super) fn constraint_words(e: &anyhow::Error) -> Option<&str> {
    crate::error::classify(e)
        .filter(|f| {
            f.kind == crate::error::Kind::BadInput
                && (f.message.contains("constraint failed") || f.message.contains("violates"))
        })
        .map(|f| f.message.as_str())
}

pub(super) const CONSTRAINT_HINT: &str = "narrow the merge with --tables/--where, or restore what the rows depend on too (e.g. the parent table's deleted rows, with --tables parent,child --restore deleted)";

/// A write that broke a constraint, named by table, row and constraint (live rolls back).
pub(super) fn broke_constraint(e: anyhow::Error, spec: &TableSpec, c: &Change) -> anyhow::Error {
    let Some(words) = constraint_words(&e) else { return e };
    bad_input(format!(
        "merging the {} row of `{}` ({}) breaks a constraint: {words}; live was rolled back, nothing was written",
        c.kind.name(),
        spec.table,
        key_text(spec, c)
    ))
    .hint(CONSTRAINT_HINT)
    .into()
}

/// Rows of a query, collected (point queries by key: at most one row each).
fn query_rows(tx: &mut dyn WriteTxn, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    tx.query(sql, params, &mut |r| {
        rows.push(r);
        Ok(())
    })?;
    Ok(rows)
}

/// Writes one change with compare-and-set and reads it back. Returns `Some(reason)` when it was
/// skipped because live changed since the plan. Before writing, `cascades` (for table `ti`)
/// checks that no other row would change with it.
pub(super) fn apply_change(
    tx: &mut dyn WriteTxn,
    spec: &TableSpec,
    sql: &TableSql,
    c: &Change,
    cascades: &Cascades,
    ti: usize,
) -> Result<Option<String>> {
    if spec.mode == KeyMode::Multiset {
        return apply_copies(tx, spec, sql, c, cascades, ti);
    }
    let key = c.key.clone();
    // The key and the compared columns: what compare-and-set checks and the read-back verifies.
    let compared: &Vec<usize> = &(0..spec.key_len).chain(spec.compared.iter().copied()).collect();
    match &c.kind {
        ChangeKind::Updated { columns } => {
            let now = query_rows(tx, &sql.select_by_key(compared), &key)?;
            let planned = pick(c.live_row.as_ref().expect("live row"), compared);
            if now.len() != 1 || now[0] != planned {
                return Ok(Some(if now.is_empty() { "deleted since" } else { "updated since" }.to_string()));
            }
            cascades.check(&mut |q, p, sink| tx.query(q, p, sink), ti, spec, c)?;
            let scratch = c.scratch_row.as_ref().expect("scratch row");
            let set = sql.update_set(&column_indexes(spec, columns))?;
            if set.is_empty() {
                let why = "only columns the database generates differ; live computes them otherwise, and no statement can write them";
                return Ok(Some(why.to_string()));
            }
            let mut params = pick(scratch, &set);
            params.extend(key.iter().cloned());
            write_one(tx, &sql.update(&set), &params, spec, c)?;
            verify(query_rows(tx, &sql.select_by_key(compared), &key)?, vec![pick(scratch, compared)], spec, c)?;
        }
        ChangeKind::Deleted => {
            let key_cols: Vec<usize> = (0..spec.key_len).collect();
            if let Some(found) = query_rows(tx, &sql.select_by_key(&key_cols), &key)?.first() {
                return Ok(Some(insert_conflict(spec, c, found)));
            }
            let scratch = c.scratch_row.as_ref().expect("scratch row");
            write_one(tx, &sql.insert(), &sql.insert_values(scratch), spec, c)?;
            let all: Vec<usize> = (0..spec.columns.len()).collect();
            verify(query_rows(tx, &sql.select_by_key(&all), &key)?, vec![scratch.clone()], spec, c)?;
        }
        ChangeKind::Inserted => {
            let now = query_rows(tx, &sql.select_by_key(compared), &key)?;
            let planned = pick(c.live_row.as_ref().expect("live row"), compared);
            if now.len() != 1 || now[0] != planned {
                return Ok(Some(if now.is_empty() { "deleted since" } else { "updated since" }.to_string()));
            }
            cascades.check(&mut |q, p, sink| tx.query(q, p, sink), ti, spec, c)?;
            write_one(tx, &sql.delete(), &key, spec, c)?;
            verify(query_rows(tx, &sql.select_by_key(&[]), &key)?, Vec::new(), spec, c)?;
        }
    }
    Ok(None)
}

/// A table without a key: checks live still has the planned number of copies, then adds or
/// removes copies until it has scratch's number. Copies are counted by exact comparison here,
/// not in SQL (where `-0.0` equals `0.0`), and removed by row address.
fn apply_copies(
    tx: &mut dyn WriteTxn,
    spec: &TableSpec,
    sql: &TableSql,
    c: &Change,
    cascades: &Cascades,
    ti: usize,
) -> Result<Option<String>> {
    let row = &c.key;
    let surplus = c.live_copies.saturating_sub(c.scratch_copies) as usize;
    let (have, doomed) = exact_copies(tx, sql, row, surplus)?;
    if have != c.live_copies {
        return Ok(Some(format!("live has {have} copies of the row, the plan saw {}", c.live_copies)));
    }
    if !doomed.is_empty() {
        cascades.check(&mut |q, p, sink| tx.query(q, p, sink), ti, spec, c)?;
    }
    for _ in c.live_copies..c.scratch_copies {
        tx.execute(&sql.insert(), &sql.insert_values(row))?;
    }
    // Each address must name exactly one row: a statement that removes more (a column shadowing
    // the rowid's name, say) is an error, and the transaction rolls back.
    for address in &doomed {
        let n = tx.execute(&sql.delete_at()?, std::slice::from_ref(address))?;
        if n != 1 {
            return Err(refused(format!(
                "merge check failed in `{}`: removing one copy of a row removed {n} rows; nothing was written",
                sql.table
            ))
            .into());
        }
    }
    let (now, _) = exact_copies(tx, sql, row, 0)?;
    if now != c.scratch_copies {
        return Err(refused(format!(
            "merge check failed in `{}`: live has {now} copies of a row after the write, scratch has {}; nothing was written",
            sql.table,
            c.scratch_copies
        )).into());
    }
    Ok(None)
}

/// How many exact copies of `row` live holds, and the addresses of the first `keep` of them
/// (streamed: memory does not grow with the number of copies).
fn exact_copies(tx: &mut dyn WriteTxn, sql: &TableSql, row: &[Value], keep: usize) -> Result<(u64, Vec<Value>)> {
    let (mut n, mut addresses) = (0u64, Vec::new());
    tx.query(&sql.select_copies(row)?, &TableSql::exact_params(row), &mut |r| {
        if r[1..] == *row {
            n += 1;
            if addresses.len() < keep {
                addresses.push(r[0].clone());
            }
        }
        Ok(())
    })?;
    Ok((n, addresses))
}

/// Why a row to re-insert was skipped: live holds a row under its key. Either that row's key is
/// exactly the planned one (a row inserted since the plan), or it is a key the diff tells apart
/// but the table's uniqueness calls equal (INTEGER `1` and REAL `1.0`): a row the plan saw as a
/// different one, which only restoring the inserted rows too replaces.
pub(super) fn insert_conflict(spec: &TableSpec, c: &Change, found_key: &[Value]) -> String {
    if found_key == c.key.as_slice() {
        return "a row with this key was inserted since".to_string();
    }
    let found: Vec<String> = spec.columns.iter().zip(found_key).map(|(n, v)| format!("{n}={}", v.display())).collect();
    format!(
        "live holds a row keyed {}, which the table's uniqueness calls equal to this key although the values differ; add `inserted` to --restore to replace it",
        found.join(", ")
    )
}

/// Runs the write of one keyed row, which must change exactly that row: a statement that
/// changes more (or none) rolls everything back, whatever the read-back of the row itself says.
fn write_one(tx: &mut dyn WriteTxn, statement: &str, params: &[Value], spec: &TableSpec, c: &Change) -> Result<()> {
    let n = tx.execute(statement, params)?;
    if n != 1 {
        return Err(refused(format!(
            "merge check failed in `{}` ({}): writing the row changed {n} rows; nothing was written",
            spec.table,
            key_text(spec, c)
        ))
        .into());
    }
    Ok(())
}

/// The re-diff of one merged row: live must now read back as scratch.
fn verify(now: Vec<Row>, want: Vec<Row>, spec: &TableSpec, c: &Change) -> Result<()> {
    if now != want {
        return Err(bad_input(format!(
            "merge check failed in `{}` ({}): after the write live does not hold scratch's values (a trigger or a constraint changed them?); nothing was written",
            spec.table,
            key_text(spec, c)
        ))
        .into());
    }
    Ok(())
}
