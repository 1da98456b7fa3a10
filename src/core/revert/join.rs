//! The three-way merge-join: base, damaged and live of one table, each a key-ordered stream of
//! rows (diff's `Cursor`, which checks the order), walked together key by key; `decide` says
//! what each key calls for (see the module docs of `revert`). Rows equal in base and damaged,
//! the common case, are compared on their encoded bytes and never decoded. Pure: no database,
//! so the tests below feed rows from memory.

use std::cmp::Ordering;

use anyhow::Result;

use super::keep::Kept;
use super::{Conflict, Incident, Resolution, RevertRequest, RevertTable, Seen, TableCounts};
use crate::core::diff::{BatchSource, Change, ChangeKind, Cursor, Side};
use crate::rows::cmp_rows;
use crate::value::{Row, Value};

use super::ConflictPolicy;

/// What one key calls for, beyond counting.
pub(super) enum Found {
    /// A write, in merge's form, with the incident's kind and damaged's row.
    Write {
        kind: Incident,
        change: Change,
        damaged: Option<Row>,
    },
    Conflict(Conflict),
}

/// Walks the three streams of `t` (`[base, damaged, live]`; base and damaged carry the
/// `--where` flag last when `filtered`), counting into `counts` and handing every write and
/// conflict to `on`. Errors: rows out of key order on any side, or whatever the sources or
/// `on` return.
pub(super) fn revert_rows<S: BatchSource>(
    t: &RevertTable,
    req: &RevertRequest,
    [base, damaged, live]: [S; 3],
    filtered: bool,
    counts: &mut TableCounts,
    mut keep: Option<&mut Kept>,
    on: &mut dyn FnMut(Found) -> Result<()>,
) -> Result<()> {
    let spec = &t.spec;
    let ncols = spec.columns.len();
    let flagged = ncols + usize::from(filtered);
    let mut cs = [
        Cursor::new(base, Side::Base, spec, flagged)?,
        Cursor::new(damaged, Side::Damaged, spec, flagged)?,
        Cursor::new(live, Side::Live, spec, ncols)?,
    ];
    let widths = [flagged, flagged, ncols];
    let n = spec.key_len;
    while cs.iter().any(|c| c.has) {
        // The common case first: the three rows equal byte for byte (so their keys are equal,
        // and neither the incident nor live changed the row).
        if cs.iter().all(|c| c.has) && same_rows(&cs[0], &cs[1], ncols) && same_rows(&cs[2], &cs[1], ncols) {
            for c in cs.iter_mut() {
                c.advance()?;
            }
            continue;
        }
        let at = smallest(&cs, n);
        let [b, d, l] = [&cs[0], &cs[1], &cs[2]];
        if at[0] && at[1] && same_rows(b, d, ncols) {
            // Not the incident's row: live's since is its own business.
            let same = at[2] && same_rows(l, d, ncols);
            counts.untouched += u64::from(!same);
        } else if !at[0] && !at[1] {
            counts.untouched += 1; // inserted in live after the incident
        } else {
            if let Some(k) = keep.as_deref_mut() {
                for i in 0..2 {
                    if at[i] {
                        k.push(i, &cs[i].batch, cs[i].row)?;
                    }
                }
            }
            let row = |i: usize| at[i].then(|| cs[i].batch.row(cs[i].row, widths[i]));
            decide(t, req, [row(0), row(1), row(2)], filtered, counts, on)?;
        }
        for (c, here) in cs.iter_mut().zip(at) {
            if here {
                c.advance()?;
            }
        }
    }
    counts.base_rows = cs[0].count;
    counts.damaged_rows = cs[1].count;
    counts.live_rows = cs[2].count;
    Ok(())
}

/// Whether the current rows of `a` and `b` hold the same first `ncols` values, exactly.
#[inline]
fn same_rows<S: BatchSource>(a: &Cursor<S>, b: &Cursor<S>, ncols: usize) -> bool {
    a.batch.raw_prefix(a.row, ncols) == b.batch.raw_prefix(b.row, ncols)
}

/// Which cursors hold the smallest key (equal encodings are equal keys: one memcmp in the
/// common case).
fn smallest<S: BatchSource>(cs: &[Cursor<S>; 3], n: usize) -> [bool; 3] {
    let mut at = [false; 3];
    let mut lead: Option<usize> = None;
    for i in 0..3 {
        if !cs[i].has {
            continue;
        }
        let Some(j) = lead else {
            (lead, at[i]) = (Some(i), true);
            continue;
        };
        let (a, b) = (&cs[i], &cs[j]);
        let order = if a.batch.raw_prefix(a.row, n) == b.batch.raw_prefix(b.row, n) {
            Ordering::Equal
        } else {
            cmp_rows(&a.batch, a.row, &b.batch, b.row, n)
        };
        match order {
            Ordering::Less => {
                at = [false; 3];
                (lead, at[i]) = (Some(i), true);
            }
            Ordering::Equal => at[i] = true,
            Ordering::Greater => {}
        }
    }
    at
}

/// Splits the `--where` flag off a row of base or damaged.
fn split(row: Option<Row>, filtered: bool) -> (Option<Row>, bool) {
    match row {
        Some(mut r) if filtered => {
            let flag = r.pop();
            (Some(r), matches!(flag, Some(Value::Integer(1))))
        }
        other => (other, true),
    }
}

/// Decides one key whose base and damaged rows are not the same bytes (or not both there).
fn decide(
    t: &RevertTable,
    req: &RevertRequest,
    [b, d, l]: [Option<Row>; 3],
    filtered: bool,
    counts: &mut TableCounts,
    on: &mut dyn FnMut(Found) -> Result<()>,
) -> Result<()> {
    let (b, b_sel) = split(b, filtered);
    let (d, d_sel) = split(d, filtered);
    let kind = match (&b, &d) {
        (Some(x), Some(y)) if x == y => {
            counts.untouched += u64::from(l.as_ref() != Some(y));
            return Ok(());
        }
        (Some(_), Some(_)) => Incident::Updated,
        (Some(_), None) => Incident::Deleted,
        (None, Some(_)) => Incident::Inserted,
        (None, None) => {
            counts.untouched += 1; // inserted in live after the incident
            return Ok(());
        }
    };
    if !(if kind == Incident::Inserted { d_sel } else { b_sel }) {
        counts.outside_where += 1;
        return Ok(());
    }
    counts.incident.add(kind);
    let key_len = t.spec.key_len;
    let present = [&b, &d, &l];
    let keys: Vec<&[Value]> = present.iter().filter_map(|r| r.as_deref()).map(|r| &r[..key_len]).collect();
    if keys.windows(2).any(|w| w[0] != w[1]) {
        // Keys the engine's order calls equal but that differ exactly (REAL -0.0 and 0.0).
        counts.row_conflicts.add(kind);
        let reason = "the keys sort as equal but are not the same value on every side";
        return row_conflict(kind, [b, d, l], reason, key_len, on);
    }
    match kind {
        Incident::Updated => updated(t, req, [b.expect("row"), d.expect("row")], l, counts, on),
        Incident::Deleted => deleted(req, key_len, b.expect("row"), l, counts, on),
        Incident::Inserted => inserted(req, key_len, d.expect("row"), l, counts, on),
    }
}

fn row_conflict(
    kind: Incident,
    [b, d, l]: [Option<Row>; 3],
    reason: &'static str,
    key_len: usize,
    on: &mut dyn FnMut(Found) -> Result<()>,
) -> Result<()> {
    let key = b.as_ref().or(d.as_ref()).or(l.as_ref()).expect("a row")[..key_len].to_vec();
    on(Found::Conflict(Conflict {
        kind,
        key,
        seen: Seen::Row { base: b, damaged: d, live: l },
        resolution: Resolution::Kept,
        reason,
    }))
}

/// A row the incident updated: each changed cell in scope is reverted, already reverted, or a
/// conflict; the cells to write go in one update of the row.
fn updated(
    t: &RevertTable,
    req: &RevertRequest,
    [b, d]: [Row; 2],
    l: Option<Row>,
    counts: &mut TableCounts,
    on: &mut dyn FnMut(Found) -> Result<()>,
) -> Result<()> {
    let spec = &t.spec;
    let mut in_scope = Vec::new();
    for (i, cells) in (spec.key_len..spec.columns.len()).zip(counts.cells.iter_mut()) {
        if b[i] != d[i] {
            cells.changed += 1;
            if t.scope.contains(&i) {
                in_scope.push(i);
            }
        }
    }
    if in_scope.is_empty() || !req.kinds.updated {
        return Ok(());
    }
    counts.in_scope.updated += 1;
    let Some(l) = l else {
        counts.row_conflicts.updated += 1;
        let reason = "live deleted the row after the incident";
        return row_conflict(Incident::Updated, [Some(b), Some(d), None], reason, spec.key_len, on);
    };
    let mut written = Vec::new();
    for &i in &in_scope {
        if l[i] == d[i] {
            counts.cells_to_revert += 1;
            written.push(i);
        } else if l[i] == b[i] {
            counts.cells_already_reverted += 1;
        } else {
            counts.cell_conflicts += 1;
            let resolution = match req.conflicts {
                ConflictPolicy::KeepLive => Resolution::Kept,
                ConflictPolicy::TakeBase => {
                    counts.cells_taking_base += 1;
                    written.push(i);
                    Resolution::TakeBase
                }
            };
            on(Found::Conflict(Conflict {
                kind: Incident::Updated,
                key: b[..spec.key_len].to_vec(),
                seen: Seen::Cell { column: i, base: b[i].clone(), damaged: d[i].clone(), live: l[i].clone() },
                resolution,
                reason: "live changed the cell after the incident",
            }))?;
        }
    }
    if written.is_empty() {
        return Ok(());
    }
    counts.writes += 1;
    let mut after = l.clone();
    for &i in &written {
        after[i] = b[i].clone();
    }
    let change = Change {
        kind: ChangeKind::Updated { columns: written.iter().map(|&i| spec.columns[i].clone()).collect() },
        key: b[..spec.key_len].to_vec(),
        scratch_row: Some(after),
        live_row: Some(l),
        scratch_copies: 1,
        live_copies: 1,
        selected: true,
    };
    on(Found::Write { kind: Incident::Updated, change, damaged: Some(d) })
}

/// A row the incident deleted: re-inserted where live lacks the key.
fn deleted(
    req: &RevertRequest,
    key_len: usize,
    b: Row,
    l: Option<Row>,
    counts: &mut TableCounts,
    on: &mut dyn FnMut(Found) -> Result<()>,
) -> Result<()> {
    if !req.kinds.deleted {
        return Ok(());
    }
    counts.in_scope.deleted += 1;
    match l {
        Some(l) if l == b => counts.rows_already_reverted += 1,
        Some(l) => {
            counts.row_conflicts.deleted += 1;
            let reason = "live holds a row under this key again, not base's";
            return row_conflict(Incident::Deleted, [Some(b), None, Some(l)], reason, key_len, on);
        }
        None => {
            counts.rows_to_reinsert += 1;
            counts.writes += 1;
            let change = Change {
                kind: ChangeKind::Deleted,
                key: b[..key_len].to_vec(),
                scratch_row: Some(b),
                live_row: None,
                scratch_copies: 1,
                live_copies: 0,
                selected: true,
            };
            return on(Found::Write { kind: Incident::Deleted, change, damaged: None });
        }
    }
    Ok(())
}

/// A row the incident inserted: removed where live's row is still exactly damaged's.
fn inserted(
    req: &RevertRequest,
    key_len: usize,
    d: Row,
    l: Option<Row>,
    counts: &mut TableCounts,
    on: &mut dyn FnMut(Found) -> Result<()>,
) -> Result<()> {
    if !req.kinds.inserted {
        return Ok(());
    }
    counts.in_scope.inserted += 1;
    match l {
        None => counts.rows_already_reverted += 1,
        Some(l) if l == d => {
            counts.rows_to_remove += 1;
            counts.writes += 1;
            let change = Change {
                kind: ChangeKind::Inserted,
                key: d[..key_len].to_vec(),
                scratch_row: None,
                live_row: Some(l),
                scratch_copies: 0,
                live_copies: 1,
                selected: true,
            };
            return on(Found::Write { kind: Incident::Inserted, change, damaged: Some(d) });
        }
        Some(l) => {
            counts.row_conflicts.inserted += 1;
            let reason = "live changed the row the incident inserted";
            return row_conflict(Incident::Inserted, [None, Some(d), Some(l)], reason, key_len, on);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{ColumnCells, KindCounts};
    use super::*;
    use crate::core::diff::{Drift, KeyMode, Kinds, RowsSource, TableSpec};
    use crate::core::triggers::TriggerPolicy;
    use crate::engine::Column;
    use Value::*;

    fn table() -> RevertTable {
        let cols = ["id", "price", "composer", "name"];
        let spec = TableSpec {
            table: "tracks".into(),
            mode: KeyMode::PrimaryKey,
            columns: cols.iter().map(|c| c.to_string()).collect(),
            key_len: 1,
            compared: vec![1, 2, 3],
            drift: Drift::default(),
            rowid: Some("rowid".into()),
            live_columns: cols.iter().map(|c| Column::plain(c, "")).collect(),
            partitioned: false,
        };
        RevertTable { spec, scope: vec![1, 2], drift_base: Drift::default(), drift_damaged: Drift::default() }
    }

    fn request(kinds: Kinds, conflicts: ConflictPolicy) -> RevertRequest {
        RevertRequest { kinds, filter: None, conflicts, strict: false, trigger_policy: TriggerPolicy::Refuse, show: 0 }
    }

    fn row(id: i64, price: Value, composer: &str, name: &str) -> Row {
        vec![Integer(id), price, Value::text(composer), Value::text(name)]
    }

    fn run(req: &RevertRequest, b: Vec<Row>, d: Vec<Row>, l: Vec<Row>) -> (TableCounts, Vec<Found>) {
        let t = table();
        let mut counts = TableCounts {
            cells: ["price", "composer", "name"]
                .iter()
                .map(|c| ColumnCells { column: c.to_string(), changed: 0, in_scope: *c != "name" })
                .collect(),
            ..Default::default()
        };
        let mut found = Vec::new();
        let src = |rows: &[Row]| RowsSource::new(4, rows, 2);
        revert_rows(&t, req, [src(&b), src(&d), src(&l)], false, &mut counts, None, &mut |f| {
            found.push(f);
            Ok(())
        })
        .unwrap();
        (counts, found)
    }

    /// The music shop: an incident sets price 0 and composer 'Unknown' everywhere; afterwards a
    /// clerk re-prices track 2, someone renames track 3, track 4 is deleted, track 9 is new.
    #[test]
    fn only_the_incidents_cells_are_written_and_later_writes_are_kept() {
        let base = vec![
            row(1, Real(0.99), "Bach", "a"),
            row(2, Real(0.99), "Bach", "b"),
            row(3, Real(1.99), "Bach", "c"),
            row(4, Real(0.99), "Bach", "d"),
            row(5, Real(0.99), "Unknown", "e"),
        ];
        let damaged: Vec<Row> =
            base.iter().map(|r| vec![r[0].clone(), Real(0.0), Value::text("Unknown"), r[3].clone()]).collect();
        let mut live = damaged.clone();
        live[1][1] = Real(1.29); // the clerk's price
        live[2][3] = Value::text("c (remastered)"); // another column of a damaged row
        live.remove(3); // track 4 deleted
        live.push(row(9, Real(2.0), "New", "z")); // a new track
        let (counts, found) = run(&request(Kinds::ALL, ConflictPolicy::KeepLive), base, damaged, live);
        assert_eq!(counts.incident, KindCounts { updated: 5, deleted: 0, inserted: 0 });
        assert_eq!(counts.cells.iter().map(|c| c.changed).collect::<Vec<_>>(), [5, 4, 0]);
        assert_eq!((counts.cells_to_revert, counts.cell_conflicts, counts.row_conflicts.updated), (6, 1, 1));
        assert_eq!((counts.writes, counts.untouched), (4, 1));
        let writes: Vec<(i64, Vec<String>, Row)> = found
            .iter()
            .filter_map(|f| match f {
                Found::Write { change, .. } => match (&change.kind, &change.key[0]) {
                    (ChangeKind::Updated { columns }, Integer(id)) => {
                        Some((*id, columns.clone(), change.scratch_row.clone().unwrap()))
                    }
                    _ => None,
                },
                Found::Conflict(_) => None,
            })
            .collect();
        assert_eq!(writes[0], (1, vec!["price".to_string(), "composer".to_string()], row(1, Real(0.99), "Bach", "a")));
        // Track 2: the clerk's price stays, the composer is reverted.
        assert_eq!(writes[1], (2, vec!["composer".to_string()], row(2, Real(1.29), "Bach", "b")));
        // Track 3: the rename stays, both damaged cells are reverted.
        assert_eq!(writes[2].2, row(3, Real(1.99), "Bach", "c (remastered)"));
        // Track 5: its composer was 'Unknown' before, so only the price is written.
        assert_eq!(writes[3], (5, vec!["price".to_string()], row(5, Real(0.99), "Unknown", "e")));
        // Take-base writes base's price over the clerk's.
        let (counts, _) = run(
            &request(Kinds::ALL, ConflictPolicy::TakeBase),
            vec![row(2, Real(0.99), "Bach", "b")],
            vec![row(2, Real(0.0), "Unknown", "b")],
            vec![row(2, Real(1.29), "Unknown", "b")],
        );
        assert_eq!((counts.cells_to_revert, counts.cells_taking_base, counts.writes), (1, 1, 1));
    }

    #[test]
    fn equality_is_exact_not_sql() {
        // Live's 0 (INTEGER) is not damaged's 0.0 (REAL), nor base's 'a' its 'A'.
        let (counts, found) = run(
            &request(Kinds::ALL, ConflictPolicy::KeepLive),
            vec![row(1, Real(0.99), "a", "x"), row(2, Real(-0.0), "b", "y")],
            vec![row(1, Real(0.0), "Unknown", "x"), row(2, Real(0.0), "b", "y")],
            vec![row(1, Integer(0), "A", "x"), row(2, Real(-0.0), "b", "y")],
        );
        assert_eq!((counts.cell_conflicts, counts.cells_to_revert, counts.cells_already_reverted), (2, 0, 1));
        assert!(found.iter().all(|f| matches!(f, Found::Conflict(_))));
    }

    #[test]
    fn deleted_and_inserted_rows_by_kind_and_by_what_live_holds() {
        let base = vec![row(1, Real(1.0), "a", "x"), row(2, Real(1.0), "a", "x"), row(3, Real(1.0), "a", "x")];
        let damaged = vec![row(4, Real(1.0), "a", "x"), row(5, Real(1.0), "a", "x"), row(6, Real(1.0), "a", "x")];
        // 1 still gone, 2 back as base had it, 3 back with other values; 4 as inserted, 5 gone, 6 changed.
        let live = vec![
            row(2, Real(1.0), "a", "x"),
            row(3, Real(2.0), "a", "x"),
            row(4, Real(1.0), "a", "x"),
            row(6, Real(1.0), "b", "x"),
        ];
        let (counts, found) = run(
            &request(Kinds { updated: true, deleted: true, inserted: false }, ConflictPolicy::KeepLive),
            base.clone(),
            damaged.clone(),
            live.clone(),
        );
        assert_eq!((counts.rows_to_reinsert, counts.rows_already_reverted, counts.row_conflicts.deleted), (1, 1, 1));
        assert_eq!((counts.rows_to_remove, counts.incident.inserted, counts.in_scope.inserted), (0, 3, 0));
        assert_eq!(found.len(), 2);
        let (counts, _) = run(&request(Kinds::ALL, ConflictPolicy::KeepLive), base, damaged, live);
        assert_eq!((counts.rows_to_remove, counts.rows_already_reverted, counts.row_conflicts.inserted), (1, 2, 1));
    }

    #[test]
    fn cells_that_run_together_byte_for_byte_are_still_the_incidents() {
        // ('a\x03', 'c') → ('a', '\x03c'): the concatenated bytes are alike, the cells are not.
        let (counts, found) = run(
            &request(Kinds::ALL, ConflictPolicy::KeepLive),
            vec![row(1, Real(1.0), "a\u{3}", "c")],
            vec![row(1, Real(1.0), "a", "\u{3}c")],
            vec![row(1, Real(1.0), "a", "\u{3}c")],
        );
        assert_eq!(counts.cells.iter().map(|c| c.changed).collect::<Vec<_>>(), [0, 1, 1]);
        assert_eq!((counts.incident.updated, counts.cells_to_revert, counts.writes), (1, 1, 1));
        assert_eq!(found.len(), 1);
    }
}
