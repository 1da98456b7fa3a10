//! Which tables a revert reads and which columns it may write back: the tables all three sides
//! hold (or those named, each checked on every side), each with a primary key, read on the
//! columns the three have in common; schema drift between them reported as `diff` does.

use anyhow::Result;

use super::RevertTable;
use crate::core::diff::{self, KeyMode, Selection, TableSpec};
use crate::engine::{self, Database, Fill, SkippedTable};
use crate::error::bad_input;

/// Which tables and columns (`--tables`, `--columns` or `--all-columns`).
#[derive(Debug, Clone, Default)]
pub struct RevertSelection {
    pub tables: Option<Vec<String>>,
    /// The columns that may be reverted; `None` for every column (`--all-columns`).
    pub columns: Option<Vec<String>>,
}

/// The tables to revert, plus what was left out and why.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub tables: Vec<RevertTable>,
    /// Virtual, shadow and foreign tables of any side, left out.
    pub skipped: Vec<SkippedTable>,
    pub warnings: Vec<String>,
}

/// Decides what to compare and what may be written. Errors (`BadInput`): a `--tables` name
/// missing on a side, or a skipped table; no table all three sides hold; a `--columns` name
/// missing on a side, or a column live generates; a named table without a primary key (others
/// are left out with a warning); a primary key that differs between the sides.
pub fn prepare(
    base: &mut dyn Database,
    damaged: &mut dyn Database,
    live: &mut dyn Database,
    sel: &RevertSelection,
) -> Result<Prepared> {
    let mut sides: [(&str, &mut dyn Database); 3] = [("base", base), ("damaged", damaged), ("live", live)];
    let mut listed = Vec::new();
    let mut skipped = Vec::new();
    for (_, db) in sides.iter_mut() {
        listed.push(db.tables()?);
        skipped = engine::union_skipped(skipped, db.skipped_tables()?);
    }
    let names = table_names(&sides, &listed, &skipped, sel)?;
    if let Some(cols) = &sel.columns {
        for t in &names {
            check_columns(&mut sides, t, cols)?;
        }
    }
    let whole = Selection { tables: Some(names.clone()), columns: None, rowid: false, read_all_columns: true };
    let [(_, base), (_, damaged), (_, live)] = sides;
    let bl = diff::prepare(base, live, &whole)?;
    let dl = diff::prepare(damaged, live, &whole)?;
    let mut out = Prepared {
        tables: Vec::new(),
        skipped: if sel.tables.is_some() { Vec::new() } else { skipped },
        warnings: Vec::new(),
    };
    for (b, d) in bl.tables.into_iter().zip(dl.tables) {
        if b.mode != KeyMode::PrimaryKey || d.mode != KeyMode::PrimaryKey {
            let why = format!(
                "table `{}` has no usable primary key (none, or NULL in it): revert matches rows by key",
                b.table
            );
            if sel.tables.is_some() {
                return Err(bad_input(why).hint("leave it out with --tables").into());
            }
            out.warnings.push(format!("{why}; left out"));
            continue;
        }
        if !b.drift.is_empty() || !d.drift.is_empty() {
            out.warnings.push(format!(
                "table `{}`: schema differs between base, damaged and live; rows are compared on the columns all three have",
                b.table
            ));
        }
        out.tables.push(revert_table(b, d, sel.columns.as_deref()));
    }
    if out.tables.is_empty() {
        return Err(bad_input("no table with a primary key to revert").hint("revert matches rows by key").into());
    }
    Ok(out)
}

/// The tables to revert: those named (each on every side, none skipped), else every table all
/// three sides hold.
fn table_names(
    sides: &[(&str, &mut dyn Database); 3],
    listed: &[Vec<String>],
    skipped: &[SkippedTable],
    sel: &RevertSelection,
) -> Result<Vec<String>> {
    if let Some(wanted) = &sel.tables {
        engine::refuse_skipped(wanted, skipped, "revert compares")?;
        for t in wanted {
            for ((side, db), have) in sides.iter().zip(listed) {
                if !have.contains(t) {
                    return Err(bad_input(format!("table `{t}` is not in {side} `{}`", db.describe()))
                        .hint(format!("tables there: {}", have.join(", ")))
                        .into());
                }
            }
        }
        return Ok(wanted.clone());
    }
    let names: Vec<String> =
        listed[0].iter().filter(|t| listed[1].contains(t) && listed[2].contains(t)).cloned().collect();
    if names.is_empty() {
        return Err(bad_input(format!(
            "base `{}`, damaged `{}` and live `{}` have no table in common",
            sides[0].1.describe(),
            sides[1].1.describe(),
            sides[2].1.describe()
        ))
        .hint("are --base and --damaged restores of this live database?")
        .into());
    }
    Ok(names)
}

/// Checks `--columns` on every side: each column exists, and live does not generate it.
fn check_columns(sides: &mut [(&str, &mut dyn Database); 3], table: &str, cols: &[String]) -> Result<()> {
    for (side, db) in sides.iter_mut() {
        let schema = db.table_schema(table)?;
        for c in cols {
            match schema.column(c) {
                None => {
                    let have: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
                    return Err(bad_input(format!("column `{c}` is not in table `{table}` in {side}"))
                        .hint(format!("columns there: {}; pick tables with --tables", have.join(", ")))
                        .into());
                }
                Some(col) if *side == "live" && col.fill == Fill::Generated => {
                    return Err(bad_input(format!(
                        "column `{c}` of `{table}` is generated by live: the database computes it, no statement writes it"
                    ))
                    .hint("name the columns it is computed from")
                    .into());
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// One table: `b` (base against live) read on the columns `d` (damaged against live) also has;
/// every non-key column live does not generate compared; `columns` (or all of those) in scope.
fn revert_table(b: TableSpec, d: TableSpec, columns: Option<&[String]>) -> RevertTable {
    let keep: Vec<usize> =
        (0..b.columns.len()).filter(|&i| i < b.key_len || d.columns.contains(&b.columns[i])).collect();
    let mut spec = TableSpec {
        columns: keep.iter().map(|&i| b.columns[i].clone()).collect(),
        live_columns: keep.iter().map(|&i| b.live_columns[i].clone()).collect(),
        compared: Vec::new(),
        ..b
    };
    spec.compared =
        (spec.key_len..spec.columns.len()).filter(|&i| spec.live_columns[i].fill != Fill::Generated).collect();
    let scope =
        spec.compared.iter().copied().filter(|&i| columns.is_none_or(|cols| cols.contains(&spec.columns[i]))).collect();
    RevertTable { drift_base: spec.drift.clone(), drift_damaged: d.drift, spec, scope }
}
