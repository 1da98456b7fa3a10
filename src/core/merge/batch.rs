//! Batched writes, where the engine offers them (`WriteTxn::batch_types`): consecutive changes
//! of one keyed table and one shape, up to 1000 at a time under a savepoint, with one locking
//! read for compare-and-set, one write statement and one read-back. Any error or surprise rolls
//! back to the savepoint and replays the batch row by row (`row::apply_change`), so outcomes,
//! skipped rows and errors are exactly those of the row path.

use anyhow::{Context, Result};

use super::cascade::Cascades;
use super::row::{Tally, apply_change, broke_constraint, insert_conflict};
use super::{column_indexes, pick};
use crate::core::diff::{Change, ChangeKind, TableSpec};
use crate::core::sqlgen::TableSql;
use crate::core::triggers::Guard;
use crate::engine::WriteTxn;
use crate::value::{Row, Value};

/// Rows per batched statement: at most 1000, and within PostgreSQL's 65 535 parameters.
pub(super) fn batch_rows(spec: &TableSpec) -> usize {
    (60_000 / spec.columns.len().max(1)).clamp(1, 1000)
}

/// Whether two changes can share a batched statement: the same kind, and for updates the same
/// columns.
pub(super) fn same_shape(a: &Change, b: &Change) -> bool {
    match (&a.kind, &b.kind) {
        (ChangeKind::Updated { columns: x }, ChangeKind::Updated { columns: y }) => x == y,
        (ChangeKind::Deleted, ChangeKind::Deleted) | (ChangeKind::Inserted, ChangeKind::Inserted) => true,
        _ => false,
    }
}

/// The table a batch writes: its index in the plan, spec, statements and the engine's column types.
#[derive(Clone, Copy)]
pub(super) struct BatchedTable<'a> {
    pub(super) ti: usize,
    pub(super) spec: &'a TableSpec,
    pub(super) sql: &'a TableSql,
    pub(super) types: &'a [String],
}

/// Writes a batch of same-shaped changes of a keyed table in a few statements, under a
/// savepoint: reads and locks the rows (compare-and-set, compared exactly as `apply_change`
/// does), writes the rows that still hold the planned values in one statement, reads them back.
/// On any error or surprise (a constraint, a row that does not read back as scratch's, e.g. a
/// trigger touching another row of the batch) it rolls back to the savepoint and replays the
/// batch row by row, so outcomes, skipped rows and errors are exactly those of `apply_change`.
pub(super) fn apply_batch(
    tx: &mut dyn WriteTxn,
    guard: &mut Guard,
    table: BatchedTable<'_>,
    changes: &[Change],
    tally: &mut Tally,
) -> Result<()> {
    let BatchedTable { ti, spec, sql, types } = table;
    // Rows written and then rolled back to the savepoint are not the triggers' either.
    let mark = guard.mark(tx)?;
    tx.execute("SAVEPOINT lastgood_batch", &[])?;
    match try_batch(tx, spec, sql, types, changes) {
        Ok(Some(outcomes)) => {
            tx.execute("RELEASE SAVEPOINT lastgood_batch", &[])?;
            for (c, o) in changes.iter().zip(outcomes) {
                tally.record(ti, spec, c, o)?;
            }
            return Ok(());
        }
        Ok(None) => tx.execute("ROLLBACK TO SAVEPOINT lastgood_batch", &[]).map(|_| ())?,
        // The row-by-row replay below raises the error again, naming the row; if even the
        // rollback fails (connection lost), the batch's own error is the one to report.
        Err(e) => tx.execute("ROLLBACK TO SAVEPOINT lastgood_batch", &[]).map(|_| ()).map_err(|_| e)?,
    }
    tx.execute("RELEASE SAVEPOINT lastgood_batch", &[])?;
    guard.discard(tx, mark)?;
    for c in changes {
        // Batched tables have no cascading foreign keys (see `replay`).
        let outcome = apply_change(tx, spec, sql, c, &Cascades::none(), 0).map_err(|e| broke_constraint(e, spec, c))?;
        tally.record(ti, spec, c, outcome)?;
    }
    Ok(())
}

/// The batched path of `apply_batch`: each change's outcome (`Some(reason)`: skipped), or
/// `None` when something did not go as planned and the batch must be replayed row by row.
fn try_batch(
    tx: &mut dyn WriteTxn,
    spec: &TableSpec,
    sql: &TableSql,
    types: &[String],
    changes: &[Change],
) -> Result<Option<Vec<Option<String>>>> {
    let compared: Vec<usize> = (0..spec.key_len).chain(spec.compared.iter().copied()).collect();
    let all: Vec<usize> = (0..spec.columns.len()).collect();
    let first = &changes[0];
    // What compare-and-set reads (and the read-back checks): an insert reads every column.
    let read: &[usize] = if matches!(first.kind, ChangeKind::Deleted) { &all } else { &compared };
    let before = read_batch(tx, sql, types, changes, read)?;
    let outcomes: Vec<Option<String>> = changes
        .iter()
        .zip(&before)
        .map(|(c, now)| match &c.kind {
            ChangeKind::Deleted => now.first().map(|found| insert_conflict(spec, c, &found[..spec.key_len])),
            _ => {
                let planned = pick(c.live_row.as_ref().expect("live row"), &compared);
                (now.len() != 1 || now[0] != planned)
                    .then(|| if now.is_empty() { "deleted since" } else { "updated since" }.to_string())
            }
        })
        .collect();
    let go: Vec<&Change> = changes.iter().zip(&outcomes).filter(|(_, o)| o.is_none()).map(|(c, _)| c).collect();
    if go.is_empty() {
        return Ok(Some(outcomes));
    }
    let mut params = Vec::new();
    let (statement, expected) = match &first.kind {
        ChangeKind::Updated { columns } => {
            let set = sql.update_set(&column_indexes(spec, columns))?;
            if set.is_empty() {
                return Ok(None); // only generated columns differ: the row path says why
            }
            for c in &go {
                params.extend(c.key.iter().cloned());
                params.extend(pick(c.scratch_row.as_ref().expect("scratch row"), &set));
            }
            (sql.update_batch(&set, types, go.len()), go.len() as u64)
        }
        ChangeKind::Deleted => {
            for c in &go {
                params.extend(sql.insert_values(c.scratch_row.as_ref().expect("scratch row")));
            }
            (sql.insert_batch(go.len()), go.len() as u64)
        }
        ChangeKind::Inserted => {
            for c in &go {
                params.extend(c.key.iter().cloned());
            }
            (sql.delete_batch(types, go.len()), go.len() as u64)
        }
    };
    if tx.execute(&statement, &params)? != expected {
        return Ok(None);
    }
    let go: Vec<Change> = go.into_iter().cloned().collect();
    let after = read_batch(tx, sql, types, &go, read)?;
    if go.iter().zip(&after).any(|(c, now)| *now != written(c, &compared)) {
        return Ok(None);
    }
    Ok(Some(outcomes))
}

/// What a written change reads back as (columns as `try_batch` reads them): scratch's row.
fn written(c: &Change, compared: &[usize]) -> Vec<Row> {
    match c.kind {
        ChangeKind::Updated { .. } => vec![pick(c.scratch_row.as_ref().expect("scratch row"), compared)],
        ChangeKind::Deleted => vec![c.scratch_row.clone().expect("scratch row")],
        ChangeKind::Inserted => Vec::new(),
    }
}

/// The rows of `changes`' keys in live (columns `cols`), locked, one list per change in order.
fn read_batch(
    tx: &mut dyn WriteTxn,
    sql: &TableSql,
    types: &[String],
    changes: &[Change],
    cols: &[usize],
) -> Result<Vec<Vec<Row>>> {
    let params: Vec<Value> = changes.iter().flat_map(|c| c.key.iter().cloned()).collect();
    let mut found: Vec<Vec<Row>> = vec![Vec::new(); changes.len()];
    tx.query(&sql.select_batch(cols, types, changes.len()), &params, &mut |mut r| {
        let Value::Integer(i) = r.remove(0) else { anyhow::bail!("a batched read lost its row numbers") };
        found.get_mut(i as usize).context("a batched read numbered a row out of range")?.push(r);
        Ok(())
    })?;
    Ok(found)
}
