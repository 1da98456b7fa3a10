//! Planning a merge: `check_filter` tries `--where` on every table of both sides first; `plan`
//! streams the diff of each table once, counts what would be written (refusing in the plan what
//! the write would refuse: identity ALWAYS updates, cascading foreign keys), keeps the first
//! statements for display and, when the plan is to be applied, spools every selected change.

use anyhow::Result;

use super::cascade::Cascades;
use super::order;
use super::spool::Spool;
use super::{MergePlan, MergeRequest, TablePlan, column_indexes, table_sql};
use crate::core::diff::{self, ChangeKind, KeyMode, Prepared};
use crate::core::sqlgen::{Dialect, undo_statement};
use crate::core::triggers::SideEffects;
use crate::engine::{self, Access, Location};
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
