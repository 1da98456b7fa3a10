//! Planning and applying a revert: `plan` streams each table's three sides at once (one thread
//! and connection per side, diff's `RowStream`), decides every key (`join`), counts, reports
//! what it finds as `Event`s and hands each write to merge's `Planner` (which spools it when
//! applying); `apply` runs merge's write transaction and then the three-way comparison again.

use std::path::Path;

use anyhow::{Context, Result};

use super::join::{Found, revert_rows};
use super::keep::{Kept, KeptSide};
use super::{
    ColumnCells, Event, Prepared, RevertPlan, RevertReport, RevertRequest, RevertTable, Sides, Span, TableCounts,
};
use crate::core::diff::{BatchSource, RowStream};
use crate::core::merge::{self, MergeRequest, Planner};
use crate::error::refused;
use crate::output::Output;
use crate::rows::Batch;

/// Plans a revert of the prepared tables; with `spool`, for `apply`. Every write and conflict
/// is also handed to `events`, as found. Errors: an invalid `--where` (`BadInput`, checked on
/// base and damaged before anything is read); with `spool` and `strict`, `Refused` when anything
/// is in conflict; what merge's plan refuses (cascading foreign keys, identity ALWAYS columns,
/// firing triggers or rules when applying); whatever reading the tables raises.
pub fn plan(
    sides: &Sides,
    prepared: &Prepared,
    request: RevertRequest,
    span: Span,
    spool: bool,
    out: &Output,
    events: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<RevertPlan> {
    let specs: Vec<_> = prepared.tables.iter().map(|t| t.spec.clone()).collect();
    merge::check_filter_on(&[&sides.base, &sides.damaged], &specs, request.filter.as_deref())?;
    let writes = MergeRequest {
        kinds: request.kinds,
        filter: None,
        strict: request.strict,
        trigger_policy: request.trigger_policy,
        show: request.show,
    };
    let mut planner = Planner::new(&sides.base, &sides.live, &specs, prepared.skipped.clone(), writes, spool)?;
    let mut tables = Vec::with_capacity(prepared.tables.len());
    let mut kept = Vec::new();
    for (ti, t) in prepared.tables.iter().enumerate() {
        events(Event::Table(t))?;
        let bar = out.spinner(&format!("comparing `{}` in base, damaged and live", t.spec.table));
        let mut counts = new_counts(t);
        let width = t.spec.columns.len() + usize::from(request.filter.is_some());
        let mut keep = if spool { Some(Kept::new(width)?) } else { None };
        compare(sides, t, &request, &mut counts, keep.as_mut(), &mut |found| match found {
            Found::Write { kind, change, damaged } => {
                planner.add(ti, &change)?;
                events(Event::Write { table: t, kind, change: &change, damaged: damaged.as_ref() })
            }
            Found::Conflict(conflict) => events(Event::Conflict { table: t, conflict: &conflict }),
        })?;
        bar.finish_and_clear();
        if let Some(k) = keep {
            kept.push(k.finish()?);
        }
        events(Event::Summary { table: t, counts: &counts })?;
        tables.push(counts);
    }
    let conflicts: u64 = tables.iter().map(TableCounts::conflicts).sum();
    if spool && request.strict && conflicts > 0 {
        return Err(refused(format!(
            "--strict: {conflicts} conflict(s): live changed rows or cells the incident wrote after it; nothing was written"
        ))
        .hint("the dry run lists them; drop --strict to keep live's values (or --conflicts take-base for cells)")
        .into());
    }
    let merge = planner.finish()?;
    Ok(RevertPlan {
        base: sides.base.describe(),
        damaged: sides.damaged.describe(),
        live: sides.live.describe(),
        span,
        request,
        writes: tables.iter().map(|t| t.writes).sum(),
        conflicts,
        tables,
        skipped_tables: prepared.skipped.clone(),
        merge: Some(merge),
        sides: sides.clone(),
        prepared: prepared.tables.clone(),
        kept,
    })
}

/// Counts with one entry per non-key column, in the table's order.
fn new_counts(t: &RevertTable) -> TableCounts {
    let spec = &t.spec;
    let cells = (spec.key_len..spec.columns.len())
        .map(|i| ColumnCells { column: spec.columns[i].clone(), changed: 0, in_scope: t.scope.contains(&i) })
        .collect();
    TableCounts { table: spec.table.clone(), cells, ..Default::default() }
}

/// The three-way comparison of one table: base and damaged scanned with `--where`, live
/// without, all three at once.
fn compare(
    sides: &Sides,
    t: &RevertTable,
    request: &RevertRequest,
    counts: &mut TableCounts,
    keep: Option<&mut Kept>,
    on: &mut dyn FnMut(Found) -> Result<()>,
) -> Result<()> {
    let filter = request.filter.as_deref();
    let streams = [
        Side::Stream(RowStream::start(&sides.base, t.spec.scan(filter))),
        Side::Stream(RowStream::start(&sides.damaged, t.spec.scan(filter))),
        Side::Stream(RowStream::start(&sides.live, t.spec.scan(None))),
    ];
    revert_rows(t, request, streams, filter.is_some(), counts, keep, on)
        .map_err(|e| e.context(format!("comparing table `{}`", t.spec.table)))
}

/// The re-check's comparison of one table: live scanned again, against the incident's rows of
/// base and damaged kept by the plan (`keep`).
fn recheck(sides: &Sides, t: &RevertTable, request: &RevertRequest, kept: [KeptSide; 2]) -> Result<u64> {
    let mut counts = new_counts(t);
    let [b, d] = kept;
    let streams = [Side::Kept(b), Side::Kept(d), Side::Stream(RowStream::start(&sides.live, t.spec.scan(None)))];
    revert_rows(t, request, streams, request.filter.is_some(), &mut counts, None, &mut |_| Ok(()))
        .map_err(|e| e.context(format!("re-checking table `{}`", t.spec.table)))?;
    Ok(counts.writes)
}

/// A side of the comparison: a scan, or rows the plan kept.
enum Side {
    Stream(RowStream),
    Kept(KeptSide),
}

impl BatchSource for Side {
    fn next_batch(&mut self, spent: Batch) -> Result<Option<Batch>> {
        match self {
            Side::Stream(s) => s.next_batch(spent),
            Side::Kept(k) => k.next_batch(spent),
        }
    }
}

/// Applies a plan made with a spool: merge's one write transaction on live after a safety
/// snapshot written to `snapshot` (see `merge::apply`), then the three-way comparison again,
/// whose writes still to do are the report's `residual`. Errors: as `merge::apply`; on any error
/// live is unchanged.
pub fn apply(mut plan: RevertPlan, snapshot: &Path, out: &Output) -> Result<RevertReport> {
    let writes = plan.merge.take().context("the revert was planned twice")?;
    let mut kept = std::mem::take(&mut plan.kept);
    let (sides, tables, request) = (&plan.sides, &plan.prepared, &plan.request);
    let merge = merge::apply_with(writes, &sides.live, snapshot, out, &mut |_| {
        let mut outstanding = 0;
        if kept.len() == tables.len() {
            for (t, k) in tables.iter().zip(std::mem::take(&mut kept)) {
                outstanding += recheck(sides, t, request, k)?;
            }
            return Ok(outstanding);
        }
        for t in tables {
            let mut counts = new_counts(t);
            compare(sides, t, request, &mut counts, None, &mut |_| Ok(()))?;
            outstanding += counts.writes;
        }
        Ok(outstanding)
    })?;
    Ok(RevertReport { plan, merge })
}
