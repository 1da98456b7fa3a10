//! Merge: put a chosen subset of the diff (kinds, columns, `--where`) back into live.
//!
//! Two steps, like every write lastgood makes. `plan` streams the diff once and counts what would
//! be written, keeping the first statements for display; when the plan is to be applied, every
//! selected change is also written to a spool (an unnamed temporary file, deleted by the OS even
//! if we are killed), so memory stays bounded whatever the size of the diff. `apply` then, inside
//! ONE write transaction on live (BEGIN IMMEDIATE: no other writer can slip in):
//! 1. takes the safety snapshot (a whole-file copy through the engine, before the first write);
//! 2. replays the spool in the write order of `order::steps` (children lose rows before their
//!    parents, parents get rows back first; within a table removals, then updates, then
//!    re-inserts: see `replay`) with compare-and-set: before each write it reads the row from
//!    live and
//!    checks it still holds the values the plan saw (a keyed row: the compared columns; a row of a
//!    table without a key: its number of copies). A row that changed since the plan is skipped
//!    and reported; with `strict`, the transaction is rolled back and nothing is written;
//!    Each write must change exactly its one row (anything else rolls back), and a removal or
//!    referenced-key update that a cascading foreign key would carry into other rows is refused
//!    (`Cascades`, also checked while planning);
//! 3. reads each written row back and checks it now equals scratch (the re-diff of the merged
//!    subset, inside the transaction: a mismatch, e.g. from a trigger, rolls everything back);
//!    Rows are written as live declares its columns (`sqlgen::TableSql`): generated columns are
//!    never written, identity ALWAYS columns are re-inserted with `OVERRIDING SYSTEM VALUE`, and
//!    a planned update of an identity ALWAYS column is refused in the plan. Last, each sequence
//!    of a re-inserted serial or identity key is moved past the largest key re-inserted, never
//!    backward (`advance_sequences`);
//! 4. commits. After the commit the selection is diffed again as a whole (`residual`): anything
//!    beyond the skipped rows means live changed after the commit (another writer: the writer
//!    lock only keeps out other lastgood commands) or a trigger changed a row merged earlier in
//!    the transaction; the command reports it and exits 1.
//!
//! A plan with nothing to write takes no snapshot and opens no transaction.
//!
//! Batches: where the engine offers it (`WriteTxn::batch_types`: PostgreSQL, where each statement
//! is a round trip; not SQLite, where it is a function call), consecutive changes of one keyed
//! table and one shape go up to 1000 at a time under a savepoint: one locking read for
//! compare-and-set (compared in Rust, exactly as above), one write statement for the rows still
//! as planned, one read-back. Any error or surprise rolls back to the savepoint and replays that
//! batch row by row, so skipped rows, `strict` and errors are exactly those of the row path.
//!
//! `--where` is evaluated on scratch's row for `updated` and `deleted` changes (the values the
//! backup holds: after a bad UPDATE live's values are the damage) and on live's row for
//! `inserted` changes (scratch has no such row).

pub mod order;

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::core::diff::{self, Change, ChangeKind, KeyMode, Kinds, Prepared, TableSpec};
use crate::core::spool::{Segment, TableSpool};
use crate::core::sqlgen::{Dialect, TableSql, undo_statement};
use crate::core::triggers::{Guard, SideEffects, TableWrites, TriggerPolicy, TriggerWrites};
use crate::engine::{self, Access, ForeignKey, Location, WriteTxn};
use crate::error::{bad_input, refused};
use crate::output::Output;
use crate::value::{Row, Value};
use order::{Part, QueryFn, Step};

/// What to merge besides the tables and columns (those are in `Prepared`).
#[derive(Debug, Clone, Serialize)]
pub struct MergeRequest {
    pub kinds: Kinds,
    /// An SQL condition choosing rows (see the module docs for which side it is evaluated on).
    pub filter: Option<String>,
    pub strict: bool,
    /// What to do with triggers the writes would fire (see `triggers`).
    pub trigger_policy: TriggerPolicy,
    /// How many statements the plan keeps for display.
    #[serde(skip)]
    pub show: usize,
}

/// Counts of one table's planned changes (copies, for a table without a key).
#[derive(Debug, Clone, Serialize)]
pub struct TablePlan {
    pub table: String,
    pub mode: KeyMode,
    pub updated: u64,
    pub deleted: u64,
    pub inserted: u64,
    /// The columns its updates set (what `UPDATE OF` triggers answer to).
    #[serde(skip)]
    pub set_columns: Vec<String>,
}

impl TablePlan {
    /// The events the merge's writes make on this table (`None` when it writes nothing): a
    /// deleted row comes back by INSERT, an inserted one goes by DELETE.
    fn writes(&self) -> Option<TableWrites> {
        (self.updated + self.deleted + self.inserted > 0).then(|| TableWrites {
            table: self.table.clone(),
            inserts: self.deleted > 0,
            deletes: self.inserted > 0,
            updates: (self.updated > 0).then(|| self.set_columns.clone()),
        })
    }
}

/// A merge, planned and printable; `apply` carries it out.
#[derive(Debug, Serialize)]
pub struct MergePlan {
    pub scratch: String,
    pub live: String,
    #[serde(flatten)]
    pub request: MergeRequest,
    pub tables: Vec<TablePlan>,
    /// Rows to write (statements, counting a row without a key once per copy).
    pub total: u64,
    pub first_statements: Vec<String>,
    /// Virtual, shadow and foreign tables left out (see `engine::SkippedTable`).
    pub skipped_tables: Vec<engine::SkippedTable>,
    /// The triggers and rules on the tables it writes, each with whether it would fire.
    pub triggers: SideEffects,
    #[serde(skip)]
    specs: Vec<TableSpec>,
    #[serde(skip)]
    spool: Option<Spool>,
    #[serde(skip)]
    dialect: Dialect,
    #[serde(skip)]
    scratch_loc: Location,
}

/// Plans a merge by streaming the diff of every prepared table. With `spool`, the selected
/// changes are also kept on disk for `apply`. Errors: an invalid `--where` (`BadInput`), and
/// whatever reading the tables raises.
pub fn plan(
    scratch: &Location,
    live: &Location,
    prepared: &Prepared,
    request: MergeRequest,
    spool: bool,
    out: &Output,
) -> Result<MergePlan> {
    let dialect = check_filter(scratch, live, prepared, request.filter.as_deref())?;
    let mut ldb = engine::open(live, Access::ReadOnly)?;
    let fks = order::foreign_keys(&mut |q, p, sink| ldb.query(q, p, sink), dialect)?;
    let cascades = Cascades::new(&fks, dialect, &prepared.tables);
    let mut spool = if spool { Some(Spool::new()?) } else { None };
    let mut plan = MergePlan {
        scratch: scratch.describe(),
        live: live.describe(),
        request,
        tables: Vec::new(),
        total: 0,
        first_statements: Vec::new(),
        skipped_tables: prepared.skipped.clone(),
        triggers: SideEffects::default(),
        specs: prepared.tables.clone(),
        spool: None,
        dialect,
        scratch_loc: scratch.clone(),
    };
    for (ti, spec) in prepared.tables.iter().enumerate() {
        let sql = table_sql(dialect, spec);
        let mut tp = TablePlan {
            table: spec.table.clone(),
            mode: spec.mode,
            updated: 0,
            deleted: 0,
            inserted: 0,
            set_columns: Vec::new(),
        };
        let (kinds, show) = (plan.request.kinds, plan.request.show);
        let first = &mut plan.first_statements;
        let bar = out.spinner(&format!("planning `{}`", spec.table));
        diff::diff_table(scratch, live, spec, plan.request.filter.as_deref(), &mut |c| {
            if !c.selected || !kinds.wants(&c.kind) {
                return Ok(());
            }
            cascades.check(&mut |q, p, sink| ldb.query(q, p, sink), ti, spec, &c)?;
            if let ChangeKind::Updated { columns } = &c.kind {
                // A column PostgreSQL cannot set (identity ALWAYS) is refused here, in the plan.
                sql.update_set(&column_indexes(spec, columns))?;
            }
            if spec.mode == KeyMode::Multiset && c.kind == ChangeKind::Inserted && dialect == Dialect::Sqlite {
                spec.rowid_name("copies of its rows cannot be removed one by one; nothing was written")?;
            }
            let n = c.copies();
            match &c.kind {
                ChangeKind::Updated { columns } => {
                    tp.updated += n;
                    for col in columns {
                        if !tp.set_columns.contains(col) {
                            tp.set_columns.push(col.clone());
                        }
                    }
                }
                ChangeKind::Deleted => tp.deleted += n,
                ChangeKind::Inserted => tp.inserted += n,
            }
            if first.len() < show {
                first.push(undo_statement(&sql, spec, &c)?);
            }
            if let Some(sp) = spool.as_mut() {
                sp.write(ti, spec, &c)?;
            }
            Ok(())
        })?;
        bar.finish_and_clear();
        plan.total += tp.updated + tp.deleted + tp.inserted;
        plan.tables.push(tp);
    }
    plan.triggers = SideEffects::list(ldb.triggers(&plan.written_tables())?, &plan.writes());
    if spool.is_some() {
        // About to apply: refuse before opening the write transaction (and again inside it).
        plan.triggers.check(plan.request.trigger_policy)?;
    }
    plan.spool = spool;
    Ok(plan)
}

impl MergePlan {
    /// The tables the merge writes rows into.
    pub fn written_tables(&self) -> Vec<String> {
        self.writes().into_iter().map(|w| w.table).collect()
    }

    fn writes(&self) -> Vec<TableWrites> {
        self.tables.iter().filter_map(TablePlan::writes).collect()
    }
}

/// Checks `filter` against every table on both sides before anything else happens, by preparing
/// the very scans the diff runs; returns the dialect of live. Errors: `BadInput` for a condition
/// that is not one self-contained expression (see `sqlgen::check_self_contained`) or not valid SQL
/// there.
pub fn check_filter(scratch: &Location, live: &Location, prepared: &Prepared, filter: Option<&str>) -> Result<Dialect> {
    let mut s = engine::open(scratch, Access::ReadOnly)?;
    let mut l = engine::open(live, Access::ReadOnly)?;
    if let Some(f) = filter {
        crate::core::sqlgen::check_self_contained(f)?;
        for spec in &prepared.tables {
            s.check_expression(&spec.scan(Some(f)))?;
            l.check_expression(&spec.scan(Some(f)))?;
        }
    }
    Ok(Dialect::of(l.engine()))
}

fn table_sql(dialect: Dialect, spec: &TableSpec) -> TableSql {
    TableSql::for_spec(dialect, spec)
}

/// A planned row that was not written because live changed it since the plan.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedRow {
    pub table: String,
    pub kind: &'static str,
    pub key: Vec<(String, Value)>,
    pub reason: String,
}

/// What `apply` did.
#[derive(Debug, Serialize)]
pub struct MergeReport {
    #[serde(flatten)]
    pub plan: MergePlan,
    /// The safety snapshot; `None` when nothing was planned, so nothing was written.
    pub snapshot: Option<PathBuf>,
    /// Rows written (copies, for a table without a key).
    pub applied: u64,
    pub skipped: u64,
    /// The first skipped rows (at most 100).
    pub skipped_rows: Vec<SkippedRow>,
    /// Sequences moved forward past re-inserted keys (PostgreSQL serial and identity columns).
    pub sequences: Vec<SequenceAdvance>,
    /// Changes of the merged selection still found by the diff after the commit: the skipped rows,
    /// plus anything another writer changed meanwhile (`None` if that re-diff failed).
    pub residual: Option<u64>,
    /// Why the re-diff after the commit failed (the merge itself is committed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residual_error: Option<String>,
    /// Rows triggers changed inside the merge's transaction, per table (only `--triggers fire`
    /// lets any; `None` when the engine could not count them).
    pub trigger_writes: Option<TriggerWrites>,
    /// The command that undoes the merge (`None` when nothing was written).
    pub undo: Option<String>,
    pub seconds: f64,
}

impl MergeReport {
    /// The report of a plan with nothing to write.
    fn nothing(plan: MergePlan) -> MergeReport {
        MergeReport {
            plan,
            snapshot: None,
            applied: 0,
            skipped: 0,
            skipped_rows: Vec::new(),
            sequences: Vec::new(),
            residual: Some(0),
            residual_error: None,
            trigger_writes: Some(TriggerWrites::default()),
            undo: None,
            seconds: 0.0,
        }
    }

    /// Changes of the selection the re-diff found beyond the skipped rows: another writer changed
    /// live after the commit (or a trigger changed an already merged row). `None` when nothing is
    /// left over, or when the re-diff failed (see `residual_error`).
    pub fn unexpected_residual(&self) -> Option<u64> {
        self.residual.filter(|&n| n > self.skipped).map(|n| n - self.skipped)
    }

    /// Whether the merge is confirmed: the re-diff ran and found only the skipped rows.
    pub fn confirmed(&self) -> bool {
        self.residual.is_some() && self.unexpected_residual().is_none()
    }
}

/// Applies a plan made with a spool, in one transaction on `live` after a safety snapshot written
/// to `snapshot`. Errors: `Refused` when `strict` and a planned row changed in live since the plan
/// (nothing written, the snapshot removed); `Environment` for a read-only live or a full disk;
/// `BadInput` when a write breaks a constraint (UNIQUE, NOT NULL, CHECK: naming the table, the
/// row and the constraint; FOREIGN KEY, checked at the commit: naming the orphan rows) or a written
/// row does not read back as scratch's. On any error live is unchanged.
pub fn apply(mut plan: MergePlan, live: &Location, snapshot: &Path, out: &Output) -> Result<MergeReport> {
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
    let (residual, residual_error) = match residual(&plan, live) {
        Ok(n) => (Some(n), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let undo = match live {
        // The snapshot is a pg_dump archive of the merged tables as the merge found them (of the
        // whole database with `fire`): the undo puts back those and the tables triggers wrote.
        Location::Postgres(spec) => {
            let mut undo_tables = tables.clone();
            for t in trigger_writes.iter().flat_map(|w| &w.tables) {
                if !undo_tables.contains(&t.table) {
                    undo_tables.push(t.table.clone());
                }
            }
            crate::core::snapshot::pg_undo_command(snapshot, spec, &undo_tables)?
        }
        Location::Sqlite(_) => crate::core::snapshot::undo_command(snapshot, &plan.live),
    };
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

/// A sequence `merge` moved forward, so that the application's next insert does not collide
/// with a key the merge re-inserted.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceAdvance {
    pub table: String,
    pub column: String,
    pub sequence: String,
    /// The sequence's last value now (its next value follows it).
    pub last_value: i64,
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

/// Rows per batched statement: at most 1000, and within PostgreSQL's 65 535 parameters.
fn batch_rows(spec: &TableSpec) -> usize {
    (60_000 / spec.columns.len().max(1)).clamp(1, 1000)
}

/// Whether two changes can share a batched statement: the same kind, and for updates the same
/// columns.
fn same_shape(a: &Change, b: &Change) -> bool {
    match (&a.kind, &b.kind) {
        (ChangeKind::Updated { columns: x }, ChangeKind::Updated { columns: y }) => x == y,
        (ChangeKind::Deleted, ChangeKind::Deleted) | (ChangeKind::Inserted, ChangeKind::Inserted) => true,
        _ => false,
    }
}

/// Counts of the replay so far, and the `--strict` rule.
struct Tally {
    strict: bool,
    applied: u64,
    skipped: u64,
    rows: Vec<SkippedRow>,
    /// Rows written per table (each applied change writes its copies, one row each).
    by_table: std::collections::BTreeMap<String, u64>,
    /// Per table, the columns a sequence fills (index, sequence) and the largest integer the
    /// merge re-inserted there so far.
    sequences: Vec<Vec<(usize, String, Option<i64>)>>,
}

impl Tally {
    /// Records the outcome of one change of table `ti` (`Some(reason)`: skipped). Errors:
    /// `Refused` for a skipped row under `--strict`.
    fn record(&mut self, ti: usize, spec: &TableSpec, change: &Change, outcome: Option<String>) -> Result<()> {
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

/// The table a batch writes: its index in the plan, spec, statements and the engine's column types.
#[derive(Clone, Copy)]
struct BatchedTable<'a> {
    ti: usize,
    spec: &'a TableSpec,
    sql: &'a TableSql,
    types: &'a [String],
}

/// Writes a batch of same-shaped changes of a keyed table in a few statements, under a
/// savepoint: reads and locks the rows (compare-and-set, compared exactly as `apply_change`
/// does), writes the rows that still hold the planned values in one statement, reads them back.
/// On any error or surprise (a constraint, a row that does not read back as scratch's, e.g. a
/// trigger touching another row of the batch) it rolls back to the savepoint and replays the
/// batch row by row, so outcomes, skipped rows and errors are exactly those of `apply_change`.
fn apply_batch(
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

/// The words of a constraint error, which the engines raise as `BadInput`: SQLite's
/// (`UNIQUE constraint failed: t.v`) and PostgreSQL's (`… violates unique constraint "t_v"`).
fn constraint_words(e: &anyhow::Error) -> Option<&str> {
    crate::error::classify(e)
        .filter(|f| {
            f.kind == crate::error::Kind::BadInput
                && (f.message.contains("constraint failed") || f.message.contains("violates"))
        })
        .map(|f| f.message.as_str())
}

const CONSTRAINT_HINT: &str = "narrow the merge with --tables/--where, or restore what the rows depend on too (e.g. the parent table's deleted rows, with --tables parent,child --restore deleted)";

/// A write that broke a constraint, named by table, row and constraint (live rolls back).
fn broke_constraint(e: anyhow::Error, spec: &TableSpec, c: &Change) -> anyhow::Error {
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

fn key_text(spec: &TableSpec, c: &Change) -> String {
    spec.columns.iter().zip(&c.key).map(|(n, v)| format!("{n}={}", v.display())).collect::<Vec<_>>().join(", ")
}

/// The indexes in `spec.columns` of the columns named.
fn column_indexes(spec: &TableSpec, names: &[String]) -> Vec<usize> {
    names.iter().map(|n| spec.columns.iter().position(|x| x == n).expect("column")).collect()
}

/// Values of `row` at `idx`.
fn pick(row: &[Value], idx: &[usize]) -> Vec<Value> {
    idx.iter().map(|&i| row[i].clone()).collect()
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
fn apply_change(
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
fn insert_conflict(spec: &TableSpec, c: &Change, found_key: &[Value]) -> String {
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

/// The foreign keys in live through which removing or updating rows of a merged table would
/// change rows elsewhere (ON DELETE / ON UPDATE CASCADE, SET NULL, SET DEFAULT), per table of the
/// merge. A merge changes only the rows it was asked to change: a planned write that would set
/// off such an action on rows live holds is refused, in the plan (so the dry run says so) and
/// again in the write transaction right before the write. (Actions that refuse instead,
/// RESTRICT and NO ACTION, are left to the database, which fails the commit naming the orphans.)
struct Cascades {
    dialect: Dialect,
    by_table: Vec<Vec<ForeignKey>>,
}

impl Cascades {
    fn none() -> Cascades {
        Cascades { dialect: Dialect::Sqlite, by_table: Vec::new() }
    }

    fn new(fks: &[ForeignKey], dialect: Dialect, specs: &[TableSpec]) -> Cascades {
        let refers_to = |fk: &ForeignKey, table: &str| match dialect {
            // SQLite names are case-insensitive, also in REFERENCES.
            Dialect::Sqlite => fk.parent.eq_ignore_ascii_case(table),
            Dialect::Postgres => fk.parent == table,
        };
        let by_table = specs
            .iter()
            .map(|spec| {
                fks.iter()
                    .filter(|fk| refers_to(fk, &spec.table))
                    .filter(|fk| ForeignKey::changes_rows(&fk.on_delete) || ForeignKey::changes_rows(&fk.on_update))
                    .cloned()
                    .collect()
            })
            .collect();
        Cascades { dialect, by_table }
    }

    /// Errors: `Refused` when writing `c` (a row of table `ti` to remove, or an update of columns
    /// a foreign key refers to) would make a cascading action change rows live holds now.
    fn check(&self, query: &mut QueryFn, ti: usize, spec: &TableSpec, c: &Change) -> Result<()> {
        let Some(fks) = self.by_table.get(ti).filter(|f| !f.is_empty()) else { return Ok(()) };
        for fk in fks {
            let (what, action, clause) = match &c.kind {
                ChangeKind::Inserted => ("remove", &fk.on_delete, "ON DELETE"),
                ChangeKind::Updated { columns } if fk.parent_columns.iter().any(|p| columns.contains(p)) => {
                    ("change the referenced column(s) of", &fk.on_update, "ON UPDATE")
                }
                _ => continue,
            };
            if !ForeignKey::changes_rows(action) {
                continue;
            }
            let row = c.live_row.as_ref().context("a planned change without live's row")?;
            let mut values = Vec::new();
            for p in &fk.parent_columns {
                let Some(i) = spec.columns.iter().position(|x| x.eq_ignore_ascii_case(p)) else {
                    return Err(refused(format!(
                        "`{}` refers to column `{p}` of `{}` ({clause} {action}), which is not in both scratch and live, so the merge cannot tell which rows depend on the merged ones; nothing was written",
                        fk.child, spec.table
                    ))
                    .hint(format!("leave `{}` out of the merge with --tables", spec.table))
                    .into());
                };
                values.push(row[i].clone());
            }
            if values.iter().any(|v| matches!(v, Value::Null)) {
                continue; // a NULL refers to no row
            }
            let mut n = 0i64;
            query(&self.dialect.count_referencing(&fk.child, &fk.child_columns), &values, &mut |r| {
                if let Some(Value::Integer(k)) = r.first() {
                    n = *k;
                }
                Ok(())
            })?;
            if n > 0 {
                return Err(refused(format!(
                    "merging would {what} the row of `{}` ({}), and {n} row(s) of `{}` refer to it ({} → {}, {clause} {action}): they would change too, which the merge was not asked to do; nothing was written",
                    spec.table,
                    key_text(spec, c),
                    fk.child,
                    fk.child_columns.join(", "),
                    fk.parent_columns.join(", "),
                ))
                .hint(format!(
                    "leave `{}` out of --restore or narrow the merge with --where; or deal with those rows of `{}` first",
                    c.kind.name(),
                    fk.child
                ))
                .into());
            }
        }
        Ok(())
    }
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

/// The selected changes of a plan, on disk (`spool::TableSpool`: unnamed temporary files, gone
/// when closed, even after SIGKILL), in a small binary form: one spool per part (removals,
/// updates, re-inserts), each table's records in one segment, so `replay` reads them back in the
/// write order (`order::steps`), whatever order the diff found them in.
#[derive(Debug)]
struct Spool {
    parts: [TableSpool; 3],
}

impl Spool {
    fn new() -> Result<Spool> {
        Ok(Spool { parts: [TableSpool::new()?, TableSpool::new()?, TableSpool::new()?] })
    }

    fn write(&mut self, table: usize, spec: &TableSpec, c: &Change) -> Result<()> {
        let mut w = Vec::with_capacity(256);
        let (tag, cols): (u8, Vec<u16>) = match &c.kind {
            ChangeKind::Updated { columns } => {
                (0, columns.iter().map(|n| spec.columns.iter().position(|x| x == n).expect("column") as u16).collect())
            }
            ChangeKind::Deleted => (1, Vec::new()),
            ChangeKind::Inserted => (2, Vec::new()),
        };
        w.push(tag);
        w.extend_from_slice(&(cols.len() as u16).to_le_bytes());
        for i in cols {
            w.extend_from_slice(&i.to_le_bytes());
        }
        w.extend_from_slice(&c.scratch_copies.to_le_bytes());
        w.extend_from_slice(&c.live_copies.to_le_bytes());
        write_opt_row(&mut w, c.scratch_row.as_deref())?;
        write_opt_row(&mut w, c.live_row.as_deref())?;
        self.parts[Part::of(&c.kind).index()].write(table, &w)
    }

    /// The changes of one step (a part of one table), in the order the diff found them.
    fn reader(&mut self, step: Step) -> Result<SpoolReader> {
        Ok(SpoolReader { r: self.parts[step.part.index()].segment(step.table)? })
    }
}

struct SpoolReader {
    r: BufReader<Segment>,
}

impl SpoolReader {
    fn next(&mut self, spec: &TableSpec) -> Result<Option<Change>> {
        let tag = match read_u8(&mut self.r) {
            Ok(t) => t,
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::UnexpectedEof) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let ncols = read_u16(&mut self.r)?;
        let mut cols = Vec::with_capacity(ncols as usize);
        for _ in 0..ncols {
            cols.push(spec.columns[read_u16(&mut self.r)? as usize].clone());
        }
        let scratch_copies = read_u64(&mut self.r)?;
        let live_copies = read_u64(&mut self.r)?;
        let scratch_row = read_opt_row(&mut self.r)?;
        let live_row = read_opt_row(&mut self.r)?;
        let kind = match tag {
            0 => ChangeKind::Updated { columns: cols },
            1 => ChangeKind::Deleted,
            _ => ChangeKind::Inserted,
        };
        let row = scratch_row.as_ref().or(live_row.as_ref()).context("spool record without a row")?;
        let key = row[..spec.order_len()].to_vec();
        Ok(Some(Change { kind, key, scratch_row, live_row, scratch_copies, live_copies, selected: true }))
    }
}

fn write_opt_row(w: &mut impl Write, row: Option<&[Value]>) -> Result<()> {
    let Some(row) = row else {
        w.write_all(&[0])?;
        return Ok(());
    };
    w.write_all(&[1])?;
    w.write_all(&(row.len() as u32).to_le_bytes())?;
    for v in row {
        match v {
            Value::Null => w.write_all(&[0])?,
            Value::Integer(i) => {
                w.write_all(&[1])?;
                w.write_all(&i.to_le_bytes())?;
            }
            Value::Real(f) => {
                w.write_all(&[2])?;
                w.write_all(&f.to_bits().to_le_bytes())?;
            }
            Value::Text(s) => {
                w.write_all(&[3])?;
                w.write_all(&(s.len() as u64).to_le_bytes())?;
                w.write_all(s)?;
            }
            Value::Blob(b) => {
                w.write_all(&[4])?;
                w.write_all(&(b.len() as u64).to_le_bytes())?;
                w.write_all(b)?;
            }
        }
    }
    Ok(())
}

fn read_opt_row(r: &mut impl Read) -> Result<Option<Row>> {
    if read_u8(r)? == 0 {
        return Ok(None);
    }
    let mut b4 = [0u8; 4];
    r.read_exact(&mut b4)?;
    let n = u32::from_le_bytes(b4) as usize;
    let mut row = Vec::with_capacity(n);
    for _ in 0..n {
        let v = match read_u8(r)? {
            0 => Value::Null,
            1 => Value::Integer(read_u64(r)? as i64),
            2 => Value::Real(f64::from_bits(read_u64(r)?)),
            3 => Value::Text(read_bytes(r)?),
            _ => Value::Blob(read_bytes(r)?),
        };
        row.push(v);
    }
    Ok(Some(row))
}

fn read_u8(r: &mut impl Read) -> Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn read_u16(r: &mut impl Read) -> Result<u16> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b)?;
    Ok(u16::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn read_bytes(r: &mut impl Read) -> Result<Vec<u8>> {
    let n = read_u64(r)? as usize;
    let mut b = vec![0u8; n];
    r.read_exact(&mut b)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_round_trips_changes_exactly() {
        let spec = TableSpec {
            table: "t".into(),
            mode: KeyMode::PrimaryKey,
            columns: vec!["id".into(), "v".into()],
            key_len: 1,
            compared: vec![1],
            drift: Default::default(),
            rowid: Some("rowid".into()),
            live_columns: Vec::new(),
            partitioned: false,
        };
        let c = Change {
            kind: ChangeKind::Updated { columns: vec!["v".into()] },
            key: vec![Value::Integer(-3)],
            scratch_row: Some(vec![Value::Integer(-3), Value::Real(-0.0)]),
            live_row: Some(vec![Value::Integer(-3), Value::Blob(vec![0, 1])]),
            scratch_copies: 1,
            live_copies: 1,
            selected: true,
        };
        let d = Change {
            kind: ChangeKind::Deleted,
            live_row: None,
            scratch_row: Some(vec![Value::Integer(9), Value::Text(vec![0x41, 0xff, 0x42])]),
            key: vec![Value::Integer(9)],
            ..c.clone()
        };
        let mut sp = Spool::new().unwrap();
        sp.write(0, &spec, &c).unwrap();
        sp.write(0, &spec, &d).unwrap();
        let mut updates = sp.reader(Step { table: 0, part: Part::Updates }).unwrap();
        assert_eq!(updates.next(&spec).unwrap().unwrap(), c);
        assert!(updates.next(&spec).unwrap().is_none());
        let mut inserts = sp.reader(Step { table: 0, part: Part::Inserts }).unwrap();
        assert_eq!(inserts.next(&spec).unwrap().unwrap(), d);
        assert!(inserts.next(&spec).unwrap().is_none());
        assert!(sp.reader(Step { table: 0, part: Part::Removals }).unwrap().next(&spec).unwrap().is_none());
    }
}
