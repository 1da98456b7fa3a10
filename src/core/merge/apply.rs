//! Applying a plan: ONE write transaction on live — the safety snapshot, the trigger guard, the
//! spool replayed in the write order of `order::steps` (row by row through `row`, or batched
//! through `batch`), the sequences of re-inserted keys moved on, the commit — then the re-diff of
//! the selection after the commit (`residual`) and the undo command. On any error before the
//! commit live is unchanged and the snapshot is removed.

use std::path::Path;

use anyhow::{Context, Result};

use super::batch::{BatchedTable, apply_batch, batch_rows, same_shape};
use super::cascade::Cascades;
use super::order;
use super::row::{CONSTRAINT_HINT, Tally, apply_change, broke_constraint, constraint_words};
use super::spool::Spool;
use super::{MergePlan, MergeReport, SequenceAdvance, SkippedRow, table_sql};
use crate::core::diff::{self, Change, KeyMode, TableSpec};
use crate::core::sqlgen::TableSql;
use crate::core::triggers::{Guard, SideEffects, TriggerPolicy};
use crate::engine::{self, Access, Location, WriteTxn};
use crate::error::bad_input;
use crate::output::Output;

/// Applies a plan made with a spool, in one transaction on `live` after a safety snapshot written
/// to `snapshot`. Errors: `Refused` when `strict` and a planned row changed in live since the plan
/// (nothing written, the snapshot removed); `Environment` for a read-only live or a full disk;
/// `BadInput` when a write breaks a constraint (UNIQUE, NOT NULL, CHECK: naming the table, the
/// row and the constraint; FOREIGN KEY, checked at the commit: naming the orphan rows) or a written
/// row does not read back as scratch's. On any error live is unchanged.
pub fn apply(plan: MergePlan, live: &Location, snapshot: &Path, out: &Output) -> Result<MergeReport> {
    apply_with(plan, live, snapshot, out, &mut |plan| residual(plan, live))
}

/// `apply`, with the re-check after the commit given by the caller: `recheck` returns how many
/// changes of the selection live still lacks (merge: the re-diff of scratch and live; revert:
/// its three-way comparison again), which the report holds as `residual`. Errors: as `apply`.
pub fn apply_with(
    mut plan: MergePlan,
    live: &Location,
    snapshot: &Path,
    out: &Output,
    recheck: &mut dyn FnMut(&MergePlan) -> Result<u64>,
) -> Result<MergeReport> {
    let started = std::time::Instant::now();
    if plan.total == 0 {
        // Nothing to write: no snapshot, no transaction.
        return Ok(MergeReport::nothing(plan));
    }
    let mut spool = plan.spool.take().context("the plan was made without a spool")?;
    let mut db = engine::open(live, Access::ReadWrite)?;
    let mut tx = db.begin_write().context("starting the merge transaction on live")?;
    let tables: Vec<String> = plan.tables.iter().map(|t| t.table.clone()).collect();
    let written = plan.written_tables();
    let policy = plan.request.trigger_policy;
    // Live as it is now, inside the transaction: a trigger may have come or gone since the plan.
    plan.triggers = SideEffects::list(tx.triggers(&written)?, &plan.writes());
    plan.triggers.check(policy)?;
    // What a trigger function writes cannot be known beforehand: with `fire`, all of live.
    let scope: &[String] = if policy == TriggerPolicy::Fire { &[] } else { &tables };
    tx.safety_snapshot(snapshot, scope).context("taking the safety snapshot of live")?;
    let result = Guard::start(tx.as_mut(), policy, &plan.triggers, &written).and_then(|mut guard| {
        let replayed = replay(&plan, &mut spool, tx.as_mut(), &mut guard, out)?;
        let own: Vec<(String, u64)> = replayed.by_table.iter().map(|(t, n)| (t.clone(), *n)).collect();
        let writes = guard.finish(tx.as_mut(), &own).map_err(|e| match constraint_words(&e) {
            Some(words) => {
                bad_input(format!("{words}; live was rolled back, nothing was written")).hint(CONSTRAINT_HINT).into()
            }
            None => e,
        })?;
        Ok((replayed, writes))
    });
    let committed = result.and_then(|r| {
        tx.commit().map(|_| r).map_err(|e| match constraint_words(&e) {
            Some(words) => {
                bad_input(format!("{words}; live was rolled back, nothing was written")).hint(CONSTRAINT_HINT).into()
            }
            None => e,
        })
    });
    let (Replayed { applied, skipped, skipped_rows, sequences, .. }, trigger_writes) = match committed {
        Ok(r) => r,
        Err(e) => {
            // Live is unchanged (the transaction rolled back), so the snapshot is not needed.
            let _ = std::fs::remove_file(snapshot);
            return Err(e);
        }
    };
    drop(db);
    let (residual, residual_error) = match recheck(&plan) {
        Ok(n) => (Some(n), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    // An engine whose snapshot holds only the merged tables (PostgreSQL's pg_dump archive of
    // them as the merge found them; of the whole database with `fire`) puts back those and the
    // tables triggers wrote.
    let mut undo_tables = tables.clone();
    for t in trigger_writes.iter().flat_map(|w| &w.tables) {
        if !undo_tables.contains(&t.table) {
            undo_tables.push(t.table.clone());
        }
    }
    let undo = crate::core::snapshot::undo_command(live, snapshot, &undo_tables)?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(MergeReport {
        plan,
        snapshot: Some(snapshot.to_path_buf()),
        applied,
        skipped,
        skipped_rows,
        sequences,
        residual,
        residual_error,
        trigger_writes,
        undo: Some(undo),
        seconds,
    })
}

/// Replays the spool inside the transaction; returns what it did. The changes go in the write
/// order of `order::steps` (see there why): children lose rows before their parents and parents
/// get them back first, and within a table the rows to remove go first, the diff telling keys
/// apart that the table's uniqueness calls equal (SQLite's INTEGER `1` and REAL `1.0`, `'a'` and
/// `'A'` under NOCASE; PostgreSQL numerics written `1` and `1.0`), so a row to re-insert may
/// collide with a row the merge removes. Compare-and-set is unaffected: each change checks only
/// its own row. Where the engine batches (`WriteTxn::batch_types`), consecutive changes of the
/// same table and shape go through `apply_batch`; everything else row by row through
/// `apply_change`. Last, the sequences of re-inserted keys are moved past them
/// (`advance_sequences`).
fn replay(
    plan: &MergePlan,
    spool: &mut Spool,
    tx: &mut dyn WriteTxn,
    guard: &mut Guard,
    out: &Output,
) -> Result<Replayed> {
    let sqls: Vec<TableSql> = plan.specs.iter().map(|s| table_sql(plan.dialect, s)).collect();
    // Checked again here, inside the transaction: live may have changed since the plan.
    let fks = order::foreign_keys(&mut |q, p, sink| tx.query(q, p, sink), plan.dialect)?;
    let cascades = Cascades::new(&fks, plan.dialect, &plan.specs);
    let mut types = Vec::with_capacity(plan.specs.len());
    let mut sequences = Vec::with_capacity(plan.specs.len());
    for (ti, spec) in plan.specs.iter().enumerate() {
        // A table whose rows others depend on through cascading foreign keys goes row by row,
        // each row checked right before its write.
        let batched = spec.mode == KeyMode::PrimaryKey && spec.key_len > 0 && cascades.by_table[ti].is_empty();
        types.push(if batched { tx.batch_types(&spec.table, &spec.columns)? } else { None });
        let planned = &plan.tables[ti];
        sequences.push(if planned.deleted > 0 { sequence_columns(tx, spec)? } else { Vec::new() });
    }
    let bar = out.count_bar(plan.total, "merging");
    let mut tally = Tally {
        strict: plan.request.strict,
        applied: 0,
        skipped: 0,
        rows: Vec::new(),
        by_table: Default::default(),
        sequences,
    };
    let mut pending: Vec<Change> = Vec::new();
    let mut pending_table = 0;
    for step in order::steps(&plan.specs, &fks, plan.dialect) {
        let ti = step.table;
        let spec = &plan.specs[ti];
        let mut reader = spool.reader(step)?;
        while let Some(change) = reader.next(spec)? {
            let fits = pending.first().is_none_or(|p| pending_table == ti && same_shape(p, &change));
            if !pending.is_empty() && (!fits || pending.len() >= batch_rows(spec)) {
                let pt = pending_table;
                let ty = types[pt].as_deref().expect("batched table");
                let table = BatchedTable { ti: pt, spec: &plan.specs[pt], sql: &sqls[pt], types: ty };
                apply_batch(tx, guard, table, &pending, &mut tally)?;
                bar.inc(pending.len() as u64);
                pending.clear();
            }
            if types[ti].is_some() {
                pending_table = ti;
                pending.push(change);
                continue;
            }
            let outcome = apply_change(tx, spec, &sqls[ti], &change, &cascades, ti)
                .map_err(|e| broke_constraint(e, spec, &change))?;
            tally.record(ti, spec, &change, outcome)?;
            bar.inc(change.copies());
        }
    }
    if !pending.is_empty() {
        let pt = pending_table;
        let ty = types[pt].as_deref().expect("batched table");
        let table = BatchedTable { ti: pt, spec: &plan.specs[pt], sql: &sqls[pt], types: ty };
        apply_batch(tx, guard, table, &pending, &mut tally)?;
        bar.inc(pending.len() as u64);
    }
    bar.finish_and_clear();
    let advanced = advance_sequences(tx, plan, &tally)?;
    Ok(Replayed {
        applied: tally.applied,
        skipped: tally.skipped,
        skipped_rows: tally.rows,
        by_table: tally.by_table,
        sequences: advanced,
    })
}

/// What `replay` did.
struct Replayed {
    applied: u64,
    skipped: u64,
    skipped_rows: Vec<SkippedRow>,
    /// Rows written per table (each applied change writes its copies, one row each).
    by_table: std::collections::BTreeMap<String, u64>,
    sequences: Vec<SequenceAdvance>,
}

/// The columns of `spec` a sequence fills in live (PostgreSQL serial and identity columns), by
/// index, with their sequences.
fn sequence_columns(tx: &mut dyn WriteTxn, spec: &TableSpec) -> Result<Vec<(usize, String, Option<i64>)>> {
    let found = tx.sequences(&spec.table)?;
    Ok(found
        .into_iter()
        .filter_map(|(column, seq)| Some((spec.columns.iter().position(|c| *c == column)?, seq, None)))
        .collect())
}

/// Moves each sequence of a re-inserted key column forward past the largest key the merge
/// re-inserted there, never backward (`WriteTxn::advance_sequence`). PostgreSQL's `setval` is
/// not transactional: should the commit still fail, the sequence stays moved on, which leaves
/// a gap in its numbers and harms nothing.
fn advance_sequences(tx: &mut dyn WriteTxn, plan: &MergePlan, tally: &Tally) -> Result<Vec<SequenceAdvance>> {
    let mut out = Vec::new();
    for (ti, columns) in tally.sequences.iter().enumerate() {
        for (ci, sequence, top) in columns {
            let Some(top) = top else { continue };
            if let Some(last_value) = tx.advance_sequence(sequence, *top)? {
                let spec = &plan.specs[ti];
                out.push(SequenceAdvance {
                    table: spec.table.clone(),
                    column: spec.columns[*ci].clone(),
                    sequence: sequence.clone(),
                    last_value,
                });
            }
        }
    }
    Ok(out)
}

/// After the commit: how many changes of the merged selection the diff still finds.
fn residual(plan: &MergePlan, live: &Location) -> Result<u64> {
    let scratch = &plan.scratch_loc;
    let mut n = 0;
    for spec in &plan.specs {
        diff::diff_table(scratch, live, spec, plan.request.filter.as_deref(), &mut |c| {
            if c.selected && plan.request.kinds.wants(&c.kind) {
                n += c.copies();
            }
            Ok(())
        })?;
    }
    Ok(n)
}
