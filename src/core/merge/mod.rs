//! Merge: put a chosen subset of the diff (kinds, columns, `--where`) back into live.
//!
//! Two steps, like every write lastgood makes. `plan` streams the diff once and counts what would
//! be written, keeping the first statements for display; when the plan is to be applied, every
//! selected change is also written to a spool (an unnamed temporary file, deleted by the OS even
//! if we are killed), so memory stays bounded whatever the size of the diff. `apply` then, inside
//! ONE write transaction on live (BEGIN IMMEDIATE: no other writer can slip in):
//! 1. takes the safety snapshot (a whole-file copy through the engine, before the first write);
//! 2. replays the spool in the write order of `order::steps` (children lose rows before their
//!    parents, parents get rows back first; within a table removals, then updates, then re-inserts:
//!    see `apply::replay`) with compare-and-set: before each write it reads the row from live and
//!    checks it still holds the values the plan saw (a keyed row: the compared columns; a row of a
//!    table without a key: its number of copies). A row that changed since the plan is skipped and
//!    reported; with `strict`, the transaction is rolled back and nothing is written; Each write
//!    must change exactly its one row (anything else rolls back), and a removal or referenced-key
//!    update that a cascading foreign key would carry into other rows is refused
//!    (`cascade::Cascades`, also checked while planning);
//! 3. reads each written row back and checks it now equals scratch (the re-diff of the merged
//!    subset, inside the transaction: a mismatch, e.g. from a trigger, rolls everything back);
//!    Rows are written as live declares its columns (`sqlgen::TableSql`): generated columns are
//!    never written, identity ALWAYS columns are re-inserted with `OVERRIDING SYSTEM VALUE`, and
//!    a planned update of an identity ALWAYS column is refused in the plan. Last, each sequence
//!    of a re-inserted serial or identity key is moved past the largest key re-inserted, never
//!    backward (`apply::advance_sequences`);
//! 4. commits. After the commit the selection is diffed again as a whole (`apply::residual`):
//!    anything beyond the skipped rows means live changed after the commit (another writer: the
//!    writer lock only keeps out other lastgood commands) or a trigger changed a row merged earlier
//!    in the transaction; the command reports it and exits 1.
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
//!
//! Revert (`core/revert/`) writes through the same machinery: it plans its own changes through
//! `Planner` (the per-change checks, counts and spool that `plan` uses for the diff's) and
//! applies them with `apply_with`, giving its own re-check after the commit.
//!
//! Files: this one holds the request, the plan and the report, and what the others share;
//! `plan` plans (the diff streamed once, each change through a `Planner`: counted, spooled);
//! `apply` is the transaction (snapshot,
//! trigger guard, replay in write order, commit, residual); `row` writes one change with
//! compare-and-set and tallies outcomes; `batch` writes same-shaped changes in a few statements
//! (falling back to `row`); `cascade` refuses writes a cascading foreign key would carry further;
//! `spool` keeps the selected changes on disk; `order` is the write order.

mod apply;
mod batch;
mod cascade;
pub mod order;
mod plan;
mod row;
mod spool;

use std::path::PathBuf;

use serde::Serialize;

use crate::core::diff::{Change, KeyMode, Kinds, TableSpec};
use crate::core::sqlgen::{Dialect, TableSql};
use crate::core::triggers::{SideEffects, TableWrites, TriggerPolicy, TriggerWrites};
use crate::engine::{self, Location};
use crate::value::Value;
pub use apply::{apply, apply_with};
pub use plan::{Planner, check_filter, check_filter_on, plan};
use spool::Spool;

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

impl MergePlan {
    /// The tables the merge writes rows into.
    pub fn written_tables(&self) -> Vec<String> {
        self.writes().into_iter().map(|w| w.table).collect()
    }

    fn writes(&self) -> Vec<TableWrites> {
        self.tables.iter().filter_map(TablePlan::writes).collect()
    }
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
