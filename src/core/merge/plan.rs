//! Planning a merge: `check_filter` tries `--where` on every table of both sides first; `plan`
//! streams the diff of each table once and hands every selected change to a `Planner`, which
//! counts what would be written (refusing in the plan what the write would refuse: identity ALWAYS
//! updates, cascading foreign keys), keeps the first statements for display and, when the plan is
//! to be applied, spools every change. Revert plans through the same `Planner`, with the changes
//! its three-way comparison chooses.

use anyhow::Result;

use super::cascade::Cascades;
use super::order;
use super::spool::Spool;
use super::{MergePlan, MergeRequest, TablePlan, column_indexes, table_sql};
use crate::core::diff::{self, Change, ChangeKind, KeyMode, Prepared, TableSpec};
use crate::core::sqlgen::{Dialect, TableSql, undo_statement};
use crate::core::triggers::SideEffects;
use crate::engine::{self, Access, Database, Location, SkippedTable};
use crate::output::Output;

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
    check_filter(scratch, live, prepared, request.filter.as_deref())?;
    let (kinds, filter) = (request.kinds, request.filter.clone());
    let mut planner = Planner::new(scratch, live, &prepared.tables, prepared.skipped.clone(), request, spool)?;
    for (ti, spec) in prepared.tables.iter().enumerate() {
        let bar = out.spinner(&format!("planning `{}`", spec.table));
        diff::diff_table(scratch, live, spec, filter.as_deref(), &mut |c| {
            if !c.selected || !kinds.wants(&c.kind) {
                return Ok(());
            }
            planner.add(ti, &c)
        })?;
        bar.finish_and_clear();
    }
    planner.finish()
}

/// A plan built change by change, for `apply`: `add` takes each change of a table (the tables'
/// changes one table after another, as a diff yields them), `finish` lists the triggers the
/// writes would set off. Invariant: every change added is checked as the write will check it
/// (cascading foreign keys, columns no statement can set), counted, and spooled when applying.
pub struct Planner {
    plan: MergePlan,
    live: Box<dyn Database>,
    cascades: Cascades,
    sqls: Vec<TableSql>,
    spool: Option<Spool>,
}

impl Planner {
    /// A plan with nothing in it yet, of the tables `specs` of `live`; `scratch` is where the
    /// written values come from (for messages, and merge's re-diff after the commit). With
    /// `spool`, changes are kept on disk for `apply`. Errors: whatever opening live raises.
    pub fn new(
        scratch: &Location,
        live: &Location,
        specs: &[TableSpec],
        skipped: Vec<SkippedTable>,
        request: MergeRequest,
        spool: bool,
    ) -> Result<Planner> {
        let mut ldb = engine::open(live, Access::ReadOnly)?;
        let dialect = Dialect::of(ldb.engine());
        let fks = order::foreign_keys(&mut |q, p, sink| ldb.query(q, p, sink), dialect)?;
        let cascades = Cascades::new(&fks, dialect, specs);
        let tables = specs
            .iter()
            .map(|spec| TablePlan {
                table: spec.table.clone(),
                mode: spec.mode,
                updated: 0,
                deleted: 0,
                inserted: 0,
                set_columns: Vec::new(),
            })
            .collect();
        let plan = MergePlan {
            scratch: scratch.describe(),
            live: live.describe(),
            request,
            tables,
            total: 0,
            first_statements: Vec::new(),
            skipped_tables: skipped,
            triggers: SideEffects::default(),
            specs: specs.to_vec(),
            spool: None,
            dialect,
            scratch_loc: scratch.clone(),
        };
        let sqls = specs.iter().map(|s| table_sql(dialect, s)).collect();
        Ok(Planner { plan, live: ldb, cascades, sqls, spool: if spool { Some(Spool::new()?) } else { None } })
    }

    /// The dialect of live.
    pub fn dialect(&self) -> Dialect {
        self.plan.dialect
    }

    /// Adds change `c` of table `ti` (an index into the specs). Errors (`Refused`, `BadInput`):
    /// what the write would refuse — a removal or key update a cascading foreign key would carry
    /// into other rows, an update of an identity ALWAYS column, removing one copy of a row SQLite
    /// cannot address — and whatever reading live or spooling raises.
    pub fn add(&mut self, ti: usize, c: &Change) -> Result<()> {
        let (spec, sql) = (&self.plan.specs[ti], &self.sqls[ti]);
        let ldb = &mut self.live;
        self.cascades.check(&mut |q, p, sink| ldb.query(q, p, sink), ti, spec, c)?;
        if let ChangeKind::Updated { columns } = &c.kind {
            // A column PostgreSQL cannot set (identity ALWAYS) is refused here, in the plan.
            sql.update_set(&column_indexes(spec, columns))?;
        }
        if spec.mode == KeyMode::Multiset && c.kind == ChangeKind::Inserted && self.plan.dialect == Dialect::Sqlite {
            spec.rowid_name("copies of its rows cannot be removed one by one; nothing was written")?;
        }
        let n = c.copies();
        let tp = &mut self.plan.tables[ti];
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
        self.plan.total += n;
        if self.plan.first_statements.len() < self.plan.request.show {
            self.plan.first_statements.push(undo_statement(sql, spec, c)?);
        }
        if let Some(sp) = self.spool.as_mut() {
            sp.write(ti, spec, c)?;
        }
        Ok(())
    }

    /// The plan, with the triggers and rules on the tables it writes. Errors: when applying
    /// (spooled), `Refused` for a rule, or a trigger under `--triggers refuse`, that would fire
    /// (checked again inside the write transaction).
    pub fn finish(mut self) -> Result<MergePlan> {
        let mut plan = self.plan;
        plan.triggers = SideEffects::list(self.live.triggers(&plan.written_tables())?, &plan.writes());
        if self.spool.is_some() {
            // About to apply: refuse before opening the write transaction (and again inside it).
            plan.triggers.check(plan.request.trigger_policy)?;
        }
        plan.spool = self.spool.take();
        Ok(plan)
    }
}

/// Checks `filter` against every table on both sides before anything else happens, by preparing
/// the very scans the diff runs; returns the dialect of live. Errors: `BadInput` for a condition
/// that is not one self-contained expression (see `sqlgen::check_self_contained`) or not valid SQL
/// there.
pub fn check_filter(scratch: &Location, live: &Location, prepared: &Prepared, filter: Option<&str>) -> Result<Dialect> {
    check_filter_on(&[scratch, live], &prepared.tables, filter)
}

/// Checks `filter` on the tables `specs` of every database in `sides`, in that order (see
/// `check_filter`); returns the dialect of the last one.
pub fn check_filter_on(sides: &[&Location], specs: &[TableSpec], filter: Option<&str>) -> Result<Dialect> {
    let mut dbs = Vec::with_capacity(sides.len());
    for loc in sides {
        dbs.push(engine::open(loc, Access::ReadOnly)?);
    }
    if let Some(f) = filter {
        crate::core::sqlgen::check_self_contained(f)?;
        for spec in specs {
            for db in &mut dbs {
                db.check_expression(&spec.scan(Some(f)))?;
            }
        }
    }
    let last = dbs.last().ok_or_else(|| anyhow::anyhow!("no database to check the condition on"))?;
    Ok(Dialect::of(last.engine()))
}
