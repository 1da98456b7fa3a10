//! Revert: a three-way repair. Base (the state just before the incident) and damaged (just
//! after it) tell exactly which cells, and which whole rows, the incident wrote; live gets those
//! back where it still holds what the incident left, and every other write stays.
//!
//! Per key of a table (three key-ordered streams, base, damaged and live, merge-joined: memory
//! does not grow with the table), with `Value`'s exact equality (storage class, bytes, REAL bit
//! for bit — never SQL `=`, which calls `1` and `1.0`, `'a'` and `'A'` under NOCASE, or
//! PostgreSQL's `-0` and `0` equal):
//! - a row in base and damaged whose cells differ was **updated** by the incident. For each such
//!   cell in scope (`--columns`, or every column with `--all-columns`): live holds damaged's value
//!   → write base's; live holds base's → already reverted; anything else → a cell **conflict**
//!   (live changed it after the incident), kept (`keep-live`) or given base's value
//!   (`take-base`). A row live deleted since is a row conflict, kept.
//! - a row in base only was **deleted** by the incident: re-inserted where live lacks the key;
//!   a live row under that key is a row conflict (kept), unless it equals base's (already back).
//! - a row in damaged only was **inserted** by the incident: removed where live's row still
//!   equals damaged's; gone from live → already reverted; changed → a row conflict (kept).
//! - every other row (equal in base and damaged) was not the incident's: never written, whatever
//!   live did to it since (counted as `untouched` where live changed it).
//!
//! Invariants: a cell the incident did not change is never written, even in a row it changed; a
//! cell live changed after the incident is never written unless `take-base` says so (design
//! invariant 7); rows inserted in live after the incident are never touched. `--where` is
//! evaluated on base's row for updated and deleted rows, on damaged's for inserted ones.
//!
//! The writes go through merge's machinery unchanged (`merge::Planner`, `merge::apply_with`):
//! each planned write is a merge `Change` whose `live_row` is live's row as the plan read it
//! and whose `scratch_row` is that row with base's values in the reverted cells, on a
//! `TableSpec` that compares every column but generated ones. So the write transaction is
//! merge's — writer lock, safety snapshot, one transaction, trigger policy, foreign-key write
//! order, PostgreSQL sequences moved past re-inserted keys, printed undo — and its
//! compare-and-set checks, inside the transaction, that live's row is still exactly as planned
//! (so a reverted cell still holds damaged's value) before writing, and reads the row back.
//! After the commit the three-way comparison runs again (`apply`): writes still outstanding
//! beyond the rows compare-and-set skipped mean live changed meanwhile.
//!
//! Files: `prepare` decides per table what is read and what may be reverted; `join` is the pure
//! three-way merge-join and the per-key decision; `plan` streams the tables, plans the writes
//! through merge and applies them; `span` finds when base and damaged were taken; `window`
//! restores both sides from a recovery window.

mod join;
mod keep;
mod plan;
mod prepare;
mod span;
pub mod window;

use serde::Serialize;

use crate::core::diff::{Change, Drift, Kinds, TableSpec};
use crate::core::merge::{MergePlan, MergeReport};
use crate::core::triggers::TriggerPolicy;
use crate::engine::{Location, SkippedTable};
use crate::value::{Row, Value};

pub use plan::{apply, plan};
pub use prepare::{Prepared, RevertSelection, prepare};
pub use span::{Span, TakenAt, span};

/// What the incident did to a row, between base and damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Incident {
    /// In both, with cells that differ.
    Updated,
    /// In base only.
    Deleted,
    /// In damaged only.
    Inserted,
}

impl Incident {
    pub fn name(self) -> &'static str {
        match self {
            Incident::Updated => "updated",
            Incident::Deleted => "deleted",
            Incident::Inserted => "inserted",
        }
    }
}

/// What to do with a cell live changed after the incident (`--conflicts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictPolicy {
    /// Leave live's value, and list the cell.
    #[default]
    KeepLive,
    /// Write base's value over live's (cells only; row conflicts are always kept).
    TakeBase,
}

/// What to revert besides the tables and columns (those are in `Prepared`).
#[derive(Debug, Clone, Serialize)]
pub struct RevertRequest {
    pub kinds: Kinds,
    /// An SQL condition choosing rows: on base's row (updated, deleted), damaged's (inserted).
    pub filter: Option<String>,
    pub conflicts: ConflictPolicy,
    /// Refuse (exit 5, nothing written) when anything is in conflict.
    pub strict: bool,
    pub trigger_policy: TriggerPolicy,
    /// How many statements the plan keeps for display.
    #[serde(skip)]
    pub show: usize,
}

/// One table of a revert, as `prepare` decided it.
#[derive(Debug, Clone, Serialize)]
pub struct RevertTable {
    /// What is read on all three sides (the key, then every column the three have in common)
    /// and how live is written (`compared`: every non-key column live does not generate, which
    /// compare-and-set checks and the read-back verifies).
    pub spec: TableSpec,
    /// The columns that may be reverted (indexes into `spec.columns`).
    #[serde(skip)]
    pub scope: Vec<usize>,
    /// Schema drift from base to live, and from damaged to live.
    pub drift_base: Drift,
    pub drift_damaged: Drift,
}

impl RevertTable {
    /// The names of the columns in scope.
    pub fn scope_names(&self) -> Vec<String> {
        self.scope.iter().map(|&i| self.spec.columns[i].clone()).collect()
    }
}

/// Rows per kind of incident change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    pub updated: u64,
    pub deleted: u64,
    pub inserted: u64,
}

impl KindCounts {
    pub fn total(&self) -> u64 {
        self.updated + self.deleted + self.inserted
    }

    fn add(&mut self, kind: Incident) {
        match kind {
            Incident::Updated => self.updated += 1,
            Incident::Deleted => self.deleted += 1,
            Incident::Inserted => self.inserted += 1,
        }
    }
}

/// Cells of one column the incident changed (base → damaged), in rows `--where` selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnCells {
    pub column: String,
    pub changed: u64,
    /// Whether the column may be reverted (`--columns`).
    pub in_scope: bool,
}

/// What the three-way comparison found in one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableCounts {
    pub table: String,
    pub base_rows: u64,
    pub damaged_rows: u64,
    pub live_rows: u64,
    /// Per non-key column, the cells the incident changed.
    pub cells: Vec<ColumnCells>,
    /// Rows the incident changed (within `--where`), per kind.
    pub incident: KindCounts,
    /// Of those, the rows in scope: a kind of `--kinds`, and for updated rows a changed cell in
    /// a column of `--columns`.
    pub in_scope: KindCounts,
    /// Rows the incident changed that `--where` leaves out.
    pub outside_where: u64,
    /// Cells to write back (live holds damaged's value).
    pub cells_to_revert: u64,
    /// Cells live already holds base's value in.
    pub cells_already_reverted: u64,
    /// Cells live changed after the incident; `cells_taking_base` of them get base's value.
    pub cell_conflicts: u64,
    pub cells_taking_base: u64,
    pub rows_to_reinsert: u64,
    pub rows_to_remove: u64,
    /// Deleted rows live holds exactly again, inserted rows live no longer holds.
    pub rows_already_reverted: u64,
    /// Row conflicts, by the incident's kind: an updated row live deleted since, a deleted row
    /// whose key live holds another row under, an inserted row live changed since.
    pub row_conflicts: KindCounts,
    /// Rows the incident did not touch that live wrote after it (inserted, updated, deleted):
    /// never written.
    pub untouched: u64,
    /// Rows to write: updated rows with a cell to write, re-inserts, removals.
    pub writes: u64,
}

impl TableCounts {
    pub fn conflicts(&self) -> u64 {
        self.cell_conflicts + self.row_conflicts.total()
    }
}

/// Why a conflict is one, and what the revert does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// Left as live has it.
    Kept,
    /// Base's value written over live's (`--conflicts take-base`, cells only).
    TakeBase,
}

/// The values a conflict is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// One cell (`column`: an index into `spec.columns`).
    Cell { column: usize, base: Value, damaged: Value, live: Value },
    /// Whole rows (absent where that side has no row under the key).
    Row { base: Option<Row>, damaged: Option<Row>, live: Option<Row> },
}

/// Something live changed after the incident, where the incident had written too.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub kind: Incident,
    pub key: Row,
    pub seen: Seen,
    pub resolution: Resolution,
    /// What live did, in words.
    pub reason: &'static str,
}

/// What `plan` reports as it streams, for `--rows`, `--json` and `--sql`.
pub enum Event<'a> {
    /// A table starts.
    Table(&'a RevertTable),
    /// A planned write in merge's form (`scratch_row`: live's row as the write leaves it;
    /// `live_row`: as the plan read it), with the incident's kind and damaged's row.
    Write {
        table: &'a RevertTable,
        kind: Incident,
        change: &'a Change,
        damaged: Option<&'a Row>,
    },
    Conflict {
        table: &'a RevertTable,
        conflict: &'a Conflict,
    },
    /// A table is done.
    Summary {
        table: &'a RevertTable,
        counts: &'a TableCounts,
    },
}

/// The three databases of a revert.
#[derive(Debug, Clone)]
pub struct Sides {
    pub base: Location,
    pub damaged: Location,
    pub live: Location,
}

/// A revert, planned and printable; `apply` carries it out.
#[derive(Debug, Serialize)]
pub struct RevertPlan {
    pub base: String,
    pub damaged: String,
    pub live: String,
    pub span: Span,
    #[serde(flatten)]
    pub request: RevertRequest,
    pub tables: Vec<TableCounts>,
    /// Rows to write, over all tables.
    pub writes: u64,
    /// Cell and row conflicts, over all tables.
    pub conflicts: u64,
    /// Virtual, shadow and foreign tables left out (see `engine::SkippedTable`).
    pub skipped_tables: Vec<SkippedTable>,
    /// The writes, planned through merge (statements, triggers, spool).
    #[serde(skip)]
    pub merge: Option<MergePlan>,
    #[serde(skip)]
    sides: Sides,
    #[serde(skip)]
    prepared: Vec<RevertTable>,
    /// Per table, base's and damaged's incident rows (planned for `apply`), which the re-check
    /// after the commit reads instead of base and damaged.
    #[serde(skip)]
    kept: Vec<[keep::KeptSide; 2]>,
}

/// What `apply` did: the plan, and merge's report of the write transaction, whose `residual`
/// is the writes the three-way comparison still finds after the commit.
#[derive(Debug, Serialize)]
pub struct RevertReport {
    #[serde(flatten)]
    pub plan: RevertPlan,
    #[serde(skip)]
    pub merge: MergeReport,
}
